//! Rows: the column mapping and one CSV/Excel row → [`Product`].

use super::*;

/// Catalog units recognised when splitting a subyacentes description.
pub(super) const CATALOG_UNITS: &[&str] = &[
    "KILOGRAMO",
    "UNIDAD",
    "LITRO",
    "LOTE",
    "GALON",
    "METRO CUBICO",
    "METRO",
    "LIBRA",
    "MILILITRO",
    "GRAMO",
    "TONELADA",
    "ARROBA",
    "BULTO",
];

/// Split `PRODUCT - VARIETY - UNIT - PACKAGING - STATE`. The unit is the
/// rightmost part (before packaging) that is a known catalog unit, so products
/// and packagings that contain " - " themselves still split correctly.
pub fn parse_description(desc: &str) -> Result<(String, String, String, String, String), String> {
    let parts: Vec<&str> = desc.split(" - ").map(str::trim).collect();
    if parts.len() < 4 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "la descripción '{desc}' no tiene la forma PRODUCTO - VARIEDAD - UNIDAD - EMPAQUE - ESTADO"
        ));
    }
    let n = parts.len();
    let unit_at = (1..=n - 3)
        .rev()
        .find(|&i| {
            CATALOG_UNITS
                .iter()
                .any(|u| u.eq_ignore_ascii_case(parts[i]))
        })
        .unwrap_or(n - 3);
    Ok((
        parts[0].to_string(),
        parts[1..unit_at].join(" - "),
        parts[unit_at].to_string(),
        parts[unit_at + 1..n - 1].join(" - "),
        parts[n - 1].to_string(),
    ))
}

/// Column positions resolved from the header.
#[derive(Debug, Default)]
pub(super) struct Columns {
    pub(super) idx: [Option<usize>; 8],
}

pub(super) const CODE: usize = 0;
pub(super) const DESCRIPTION: usize = 1;
pub(super) const PRODUCT: usize = 2;
pub(super) const VARIETY: usize = 3;
pub(super) const UNIT: usize = 4;
pub(super) const PACKAGING: usize = 5;
pub(super) const STATE: usize = 6;
pub(super) const GROUP: usize = 7;

impl Columns {
    pub(super) fn resolve(layout: &Layout, header: &[Cow<'_, str>]) -> Result<Columns, String> {
        let mut c = Columns::default();
        for (i, f) in crate::catalog::config::FIELDS.iter().enumerate() {
            if let Some(name) = layout.columns.get(*f) {
                let pos = header
                    .iter()
                    .position(|h| h.trim().eq_ignore_ascii_case(name.trim()));
                match pos {
                    Some(p) => c.idx[i] = Some(p),
                    None => {
                        return Err(format!(
                            "the file has no column '{name}' (mapped to {f}); its header is: {}",
                            header
                                .iter()
                                .map(|h| h.as_ref())
                                .collect::<Vec<_>>()
                                .join(" | ")
                        ));
                    }
                }
            }
        }
        Ok(c)
    }
}

pub(super) fn decode<'a>(b: &'a [u8], latin1: bool) -> Result<Cow<'a, str>, String> {
    match std::str::from_utf8(b) {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) if latin1 => Ok(Cow::Owned(b.iter().map(|&c| c as char).collect())),
        Err(e) => Err(format!(
            "texto no válido en UTF-8 (byte {}); declare encoding = \"latin1\" si el archivo viene de Excel",
            e.valid_up_to()
        )),
    }
}

/// Map one row to a product (pure).
pub(super) fn map_row(
    fields: &[&[u8]],
    cols: &Columns,
    layout: &Layout,
) -> Result<Product, String> {
    let latin1 = layout.encoding == "latin1";
    let get = |i: usize| -> Result<Option<String>, String> {
        match cols.idx[i] {
            None => Ok(None),
            Some(p) => match fields.get(p) {
                None => Err(format!(
                    "faltan columnas: la fila tiene {} y se esperaba al menos {}",
                    fields.len(),
                    p + 1
                )),
                Some(b) => Ok(Some(decode(b, latin1)?.trim().to_string())),
            },
        }
    };
    let code = get(CODE)?.unwrap_or_default();
    if code.is_empty() {
        return Err("el código está vacío".into());
    }
    if code.len() > 64 || code.chars().any(|c| c.is_control()) {
        return Err(format!(
            "código no válido '{}'",
            code.chars().take(70).collect::<String>()
        ));
    }
    let (mut product, mut variety, mut unit, mut packaging, mut state) = Default::default();
    if let Some(desc) = get(DESCRIPTION)? {
        if layout.description_layout.as_deref() == Some("subyacentes") {
            (product, variety, unit, packaging, state) = parse_description(&desc)?;
        } else {
            product = desc;
        }
    }
    for (i, slot) in [
        (PRODUCT, &mut product),
        (VARIETY, &mut variety),
        (UNIT, &mut unit),
        (PACKAGING, &mut packaging),
        (STATE, &mut state),
    ] {
        if let Some(v) = get(i)? {
            *slot = v;
        }
    }
    if product.is_empty() {
        return Err("el producto está vacío".into());
    }
    if state.is_empty() {
        return Err("falta el estado (NATURAL o PROCESADO)".into());
    }
    // Only an explicit group column is stored; otherwise the group is derived
    // from `[groups]` when the product is used, so editing catalog.toml takes
    // effect without a re-import.
    let group = get(GROUP)?.map(|g| g.to_uppercase()).unwrap_or_default();
    let p = Product {
        code,
        product,
        variety,
        unit,
        packaging,
        state: ProcessingState::parse(&state),
        group,
    };
    Ok(p)
}
