//! Tax scheme codes: the taxes of the document (PAS34, PAS35) and the
//! parties' tax scheme (PAS36, PAS35).
//!
//! The lists are DIAN's (Anexo técnico, tables "Tributos" 13.2.2 and
//! 13.2.6.2), as far as this project could confirm them: docs/DIAN.md,
//! "Where the codes come from", says which entries come from where.

use super::{Emitter, Facts};
use crate::dian::model::{Party, TaxTotal};

/// How many offending subtotals a message names before "y N más".
const NAMED: usize = 5;

/// DIAN's tax schemes (TaxScheme/ID) with the names DIAN gives them
/// (TaxScheme/Name). An empty name list means the name is not checked:
/// `ZZ` ("otros tributos") carries the tax's own name, and the names of the
/// taxes added by Anexo 1.9 (30–36) were not confirmed here.
pub(crate) const TAX_SCHEMES: &[(&str, &[&str])] = &[
    ("01", &["IVA"]),
    ("02", &["IC"]),
    ("03", &["ICA"]),
    ("04", &["INC"]),
    ("05", &["ReteIVA"]),
    ("06", &["ReteFuente"]),
    ("07", &["ReteICA"]),
    // ReteCREE: in DIAN's 2019 list although CREE ended in 2017.
    ("08", &["ReteCREE"]),
    ("20", &["FtoHorticultura"]),
    ("21", &["Timbre"]),
    ("22", &["Bolsas", "INC Bolsas"]),
    ("23", &["INCarbono"]),
    ("24", &["INCombustibles"]),
    ("25", &["Sobretasa Combustibles"]),
    ("26", &["Sordicom"]),
    // Anexo 1.9 (Resolución 000165 de 2023): consumption of data, liquor
    // (ICL), plastics (INPP), sugary drinks (IBUA), ultra-processed food
    // (ICUI), ad valorem.
    ("30", &[]),
    ("32", &[]),
    ("33", &[]),
    ("34", &[]),
    ("35", &[]),
    ("36", &[]),
    ("ZZ", &[]),
];

/// The parties' tax scheme (PartyTaxScheme/TaxScheme): which of IVA and
/// INC the party is responsible for (table 13.2.6.2).
pub(crate) const PARTY_TAX_SCHEMES: &[(&str, &[&str])] = &[
    ("01", &["IVA"]),
    ("04", &["INC"]),
    ("ZA", &["IVA e INC"]),
    ("ZZ", &["No aplica"]),
];

fn lookup(list: &'static [(&str, &[&str])], id: &str) -> Option<&'static [&'static str]> {
    list.iter().find(|(c, _)| *c == id).map(|(_, n)| *n)
}

/// Names compare without case or spaces ("Sobretasa combustibles" is
/// "Sobretasa Combustibles").
fn same_name(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

/// The name problem of (id, name) against a list, if any.
fn name_problem(list: &'static [(&str, &[&str])], id: &str, name: Option<&str>) -> Option<String> {
    let names = lookup(list, id)?;
    if names.is_empty() {
        return None;
    }
    match name {
        Some(n) if names.iter().any(|x| same_name(x, n)) => None,
        Some(n) => Some(format!(
            "el tributo {id} debe llamarse {} y se llama \"{n}\"",
            names[0]
        )),
        None => Some(format!(
            "el tributo {id} debe llamarse {} y no tiene nombre",
            names[0]
        )),
    }
}

fn report(em: &mut Emitter<'_>, code: &'static str, lead: &str, items: Vec<String>, path: &str) {
    if items.is_empty() {
        return;
    }
    let total = items.len();
    let mut named: Vec<String> = items.into_iter().take(NAMED).collect();
    if total > NAMED {
        named.push(format!("y {} más", total - NAMED));
    }
    em.emit(code, format!("{lead}: {}.", named.join("; ")), Some(path));
}

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts { doc, kind, .. } = *f;
    const SCHEME: &str = "cac:TaxSubtotal/cac:TaxCategory/cac:TaxScheme";
    let line_name = kind.line_element();
    // Every tax subtotal with where it is: (label, path of its TaxTotal, total).
    let mut groups: Vec<(String, String, &TaxTotal)> = Vec::new();
    for (i, l) in doc.lines.iter().enumerate() {
        let id = l.id.as_deref().unwrap_or("?");
        for t in &l.tax_totals {
            groups.push((
                format!("línea {id}"),
                format!("cac:{line_name}[{}]/cac:TaxTotal", i + 1),
                t,
            ));
        }
    }
    for t in &doc.tax_totals {
        groups.push(("encabezado".to_owned(), "cac:TaxTotal".to_owned(), t));
    }
    for t in &doc.withholding_tax_totals {
        groups.push((
            "retenciones".to_owned(),
            "cac:WithholdingTaxTotal".to_owned(),
            t,
        ));
    }

    let (mut unknown, mut unknown_at) = (Vec::new(), None);
    let (mut misnamed, mut misnamed_at) = (Vec::new(), None);
    for (label, path, t) in &groups {
        for s in &t.subtotals {
            match s.scheme_id.as_deref() {
                None => {
                    unknown.push(format!("{label}: sin identificador de tributo"));
                    unknown_at.get_or_insert(format!("{path}/{SCHEME}/cbc:ID"));
                }
                Some(id) if lookup(TAX_SCHEMES, id).is_none() => {
                    unknown.push(format!("{label}: \"{id}\""));
                    unknown_at.get_or_insert(format!("{path}/{SCHEME}/cbc:ID"));
                }
                Some(id) => {
                    if let Some(p) = name_problem(TAX_SCHEMES, id, s.scheme_name.as_deref()) {
                        misnamed.push(format!("{label}: {p}"));
                        misnamed_at.get_or_insert(format!("{path}/{SCHEME}/cbc:Name"));
                    }
                }
            }
        }
    }
    let codes: Vec<&str> = TAX_SCHEMES.iter().map(|(c, _)| *c).collect();
    report(
        em,
        "PAS34",
        &format!(
            "El identificador del tributo no está en la lista de tributos de la DIAN ({})",
            codes.join(", ")
        ),
        unknown,
        unknown_at.as_deref().unwrap_or_default(),
    );

    // The parties' tax scheme.
    let mut party_unknown = (Vec::new(), None);
    for (who, party, path) in [
        ("emisor", &doc.supplier, "cac:AccountingSupplierParty"),
        ("adquiriente", &doc.customer, "cac:AccountingCustomerParty"),
    ] {
        let Some(Party {
            tax_scheme_id: Some(id),
            tax_scheme_name: name,
            ..
        }) = party
        else {
            continue;
        };
        let at = format!("{path}/cac:Party/cac:PartyTaxScheme/cac:TaxScheme");
        if lookup(PARTY_TAX_SCHEMES, id).is_none() {
            party_unknown.0.push(format!("{who}: \"{id}\""));
            party_unknown.1.get_or_insert(format!("{at}/cbc:ID"));
        } else if let Some(p) = name_problem(PARTY_TAX_SCHEMES, id, name.as_deref()) {
            misnamed.push(format!("{who}: {p}"));
            misnamed_at.get_or_insert(format!("{at}/cbc:Name"));
        }
    }
    report(
        em,
        "PAS35",
        "El nombre del tributo no corresponde a su identificador",
        misnamed,
        misnamed_at.as_deref().unwrap_or_default(),
    );
    report(
        em,
        "PAS36",
        "El tributo de la parte (PartyTaxScheme/TaxScheme/ID) no es 01 (IVA), 04 (INC), ZA (IVA e INC) ni ZZ (No aplica)",
        party_unknown.0,
        party_unknown.1.as_deref().unwrap_or_default(),
    );
}
