//! Quantity conversion to kilograms or litres (pure), from the declared
//! `[units]` and `[[conversions]]` in `rules/catalog.toml`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Serialize;

use super::config::{CatalogConfig, Measure, UnitDef};
use super::model::Product;
use super::normalize::fold;

/// A converted quantity and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Converted {
    #[serde(with = "rust_decimal::serde::str")]
    pub quantity: Decimal,
    pub measure: Measure,
    /// e.g. "3 bulto × 50 kg = 150 kg".
    pub explanation: String,
}

/// The measure a catalog unit is registered in.
pub fn catalog_measure(unit: &str) -> Measure {
    match fold(unit).as_str() {
        "kilogramo" | "kilogramos" | "kg" | "libra" | "gramo" | "tonelada" | "arroba" | "bulto" => {
            Measure::Kg
        }
        "litro" | "litros" | "galon" | "mililitro" | "metro cubico" => Measure::L,
        _ => Measure::Unit,
    }
}

/// Net weight or volume of one unit as declared in the catalog packaging
/// ("POR 500 GR", "por 200 gramos", "EN FRASCO X 500 CC").
pub fn unit_content(cfg: &CatalogConfig, packaging: &str) -> Option<(Decimal, Measure, String)> {
    let f = fold(&packaging.replace(',', "."));
    let toks: Vec<&str> = f.split(' ').collect();
    // "60 - 80 UND X 454 GR" is a count range: only trust a "number unit" pair.
    for i in 0..toks.len() {
        let t = toks[i];
        let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            continue;
        }
        let (num, unit) = if digits < t.len() {
            (&t[..digits], &t[digits..])
        } else {
            (t, toks.get(i + 1).copied().unwrap_or(""))
        };
        let Ok(n) = Decimal::from_str(num) else {
            continue;
        };
        if let Some(def) = cfg.units.get(unit)
            && def.measure != Measure::Unit
        {
            let q = n * def.factor;
            return Some((
                q,
                def.measure,
                format!("{num} {unit} = {} {}", q.normalize(), def.measure.as_str()),
            ));
        }
    }
    None
}

fn unit_def<'a>(cfg: &'a CatalogConfig, unit: &str, product: &Product) -> Option<&'a UnitDef> {
    let u = fold(unit);
    let p = fold(&product.product);
    // "BULTOS" finds a conversion declared for "bulto".
    let spellings = [Some(u.as_str()), u.strip_suffix("es"), u.strip_suffix('s')];
    let spellings = spellings.iter().flatten().copied();
    for s in spellings.clone() {
        if let Some(c) = cfg
            .conversions
            .iter()
            .find(|c| c.unit == s && p.starts_with(c.product_prefix.as_str()))
        {
            return Some(&c.def);
        }
    }
    spellings.into_iter().find_map(|s| cfg.units.get(s))
}

/// Convert an invoice quantity in `unit` (a UBL unitCode such as KGM, or a
/// word such as "bulto") to kg or L for `product`. Errors are Spanish
/// messages for the submitter.
pub fn convert(
    cfg: &CatalogConfig,
    quantity: Decimal,
    unit: &str,
    product: &Product,
) -> Result<Converted, String> {
    if quantity < Decimal::ZERO {
        return Err(format!("la cantidad {quantity} es negativa"));
    }
    let def = unit_def(cfg, unit, product).ok_or_else(|| {
        format!("la unidad '{unit}' no está declarada en la tabla de conversiones; declárela en rules/catalog.toml [units]")
    })?;
    let target = catalog_measure(&product.unit);
    let base = quantity * def.factor;
    let first = format!(
        "{} {unit} × {} = {} {}",
        quantity.normalize(),
        def.factor.normalize(),
        base.normalize(),
        def.measure.as_str()
    );
    match (def.measure, target) {
        (Measure::Kg, Measure::L) | (Measure::L, Measure::Kg) => Err(format!(
            "el producto {} se registra en {} y la factura trae {}: no hay conversión declarada entre masa y volumen",
            product.code,
            target.as_str(),
            def.measure.as_str()
        )),
        (Measure::Kg | Measure::L, _) => Ok(Converted {
            quantity: base,
            measure: def.measure,
            explanation: first,
        }),
        (Measure::Unit, _) => match unit_content(cfg, &product.packaging) {
            Some((each, m, why)) if target != Measure::Unit || m != Measure::Unit => {
                if (target == Measure::Kg && m == Measure::L)
                    || (target == Measure::L && m == Measure::Kg)
                {
                    return Err(format!(
                        "el empaque '{}' no coincide con la unidad del catálogo",
                        product.packaging
                    ));
                }
                let q = base * each;
                Ok(Converted {
                    quantity: q,
                    measure: m,
                    explanation: format!(
                        "{first}; empaque '{}' ({why}) → {} × {} = {} {}",
                        product.packaging,
                        base.normalize(),
                        each.normalize(),
                        q.normalize(),
                        m.as_str()
                    ),
                })
            }
            _ if target == Measure::Unit => Ok(Converted {
                quantity: base,
                measure: Measure::Unit,
                explanation: format!("{first} (el catálogo registra este producto por unidad)"),
            }),
            _ => Err(format!(
                "el producto {} se registra en {} y la factura trae unidades sin peso declarado; declare la conversión en rules/catalog.toml [[conversions]]",
                product.code,
                target.as_str()
            )),
        },
    }
}
