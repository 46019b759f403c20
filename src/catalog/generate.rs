//! Synthetic catalogs in the subyacentes layout, for benchmarks.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

const PRODUCTS: &[&str] = &[
    "ARROZ CASCARA",
    "ARROZ BLANCO",
    "MAIZ AMARILLO",
    "MAIZ BLANCO",
    "FRIJOL",
    "PAPA",
    "PLATANO",
    "YUCA",
    "CAFE PERGAMINO",
    "CACAO EN GRANO",
    "LECHE CRUDA",
    "QUESO CAMPESINO",
    "CARNE DE RES",
    "CARNE DE CERDO",
    "POLLO ENTERO",
    "HUEVO",
    "TOMATE",
    "CEBOLLA",
    "ZANAHORIA",
    "AGUACATE",
    "MANGO",
    "NARANJA",
    "LIMON",
    "BANANO",
    "AREPA",
    "PANELA",
    "AZUCAR",
    "ACEITE DE PALMA",
    "TRUCHA",
    "TILAPIA",
];
const VARIETIES: &[&str] = &[
    "CRIOLLO",
    "IMPORTADO",
    "TIPO EXPORTACION",
    "PRIMERA",
    "SEGUNDA",
    "ORGANICO",
    "INDUSTRIAL",
    "REGIONAL",
];
const UNITS: &[(&str, &[&str])] = &[
    (
        "KILOGRAMO",
        &["EN SACO", "A GRANEL", "SIN EMPAQUE", "EMPACADO(A)"],
    ),
    ("UNIDAD", &["EMPACADO(A)", "POR 500 GR", "POR 250 GR"]),
    ("LITRO", &["A GRANEL", "POR 1000 CC"]),
];

/// Write `rows` products with codes 1..=rows. Deterministic.
pub fn generate(out: &Path, rows: u64) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(out)?);
    w.write_all(b"A_codigo,B_descripcion,C,D,E,F\r\n")?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for code in 1..=rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = PRODUCTS[(x % PRODUCTS.len() as u64) as usize];
        let v = VARIETIES[((x >> 8) % VARIETIES.len() as u64) as usize];
        let (u, packs) = UNITS[((x >> 16) % UNITS.len() as u64) as usize];
        let pk = packs[((x >> 24) % packs.len() as u64) as usize];
        let state = if (x >> 32).is_multiple_of(2) {
            "NATURAL"
        } else {
            "PROCESADO"
        };
        writeln!(
            w,
            "{code},{p} - {v} {} - {u} - {pk} - {state},A,S,,\r",
            (x >> 40) % 1000
        )?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()
}
