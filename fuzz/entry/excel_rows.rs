//! The Excel reader's row mapping on arbitrary sheets: header detection
//! against the shipped broker layouts, cell conversion (Excel serials,
//! DD/MM/YYYY, money, IVA %), control totals, totals rows (never read as
//! invoices), homologation entries and the Spanish row errors.
//! The sheets are built from the input directly (calamine's own file parsing
//! is not what is tested here), with header names drawn from the layouts so
//! the fuzzer reaches the rows. Any panic is a bug.

use std::sync::OnceLock;

use calamine::{Data, Range};
use pasarela::formats::excel::{self, Layout, Workbook};

fn layouts() -> &'static (Vec<Layout>, Vec<String>) {
    static L: OnceLock<(Vec<Layout>, Vec<String>)> = OnceLock::new();
    L.get_or_init(|| {
        let layouts = excel::builtin_layouts().expect("shipped layouts");
        let mut words: Vec<String> = layouts
            .iter()
            .flat_map(|l| l.columns.iter().flat_map(|(_, aliases, _)| aliases.clone()))
            .collect();
        words.extend(layouts.iter().flat_map(|l| l.sheets.clone()));
        words.extend(
            [
                "TOTAL",
                "TOTALES",
                "SUBTOTAL",
                "TOTAL GENERAL",
                "COMPRA",
                "VENTA",
                "KG",
                "19",
                "5",
                "01/02/2024",
                "45000",
            ]
            .map(String::from),
        );
        (layouts, words)
    })
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn cell(&mut self, words: &[String]) -> Option<Data> {
        Some(match self.byte()? % 9 {
            0 => Data::Empty,
            1 | 2 => Data::String(words[self.byte()? as usize % words.len()].clone()),
            3 => {
                let n = self.byte()? as usize % 24;
                Data::String(String::from_utf8_lossy(self.take(n)).into_owned())
            }
            4 => {
                let b = self.take(8);
                let mut a = [0u8; 8];
                a[..b.len()].copy_from_slice(b);
                Data::Float(f64::from_le_bytes(a))
            }
            5 => Data::Int(i64::from(self.byte()?) * 1000 - 3000),
            6 => Data::Float(45000.0 + f64::from(self.byte()?)),
            7 => Data::Bool(self.byte()? & 1 == 1),
            _ => Data::Error(calamine::CellErrorType::Value),
        })
    }
}

/// One input, as the fuzzer and the replay test (tests/it/fuzz_replay.rs) give it.
pub fn run(data: &[u8]) {
    let (layouts, words) = layouts();
    let mut input = Input(data);
    let Some(shape) = input.byte() else { return };
    let cols = (shape % 16) as u32 + 1;
    let first_row = u32::from(shape >> 6);
    let Some(sheet) = input.byte() else { return };
    let sheet = words[sheet as usize % words.len()].clone();
    // A header row of layout words (one byte each picks the word), so the
    // fuzzer reaches the rows instead of stopping at "no known header".
    let mut cells = Vec::new();
    for _ in 0..cols {
        let Some(b) = input.byte() else { return };
        cells.push(Data::String(words[b as usize % words.len()].clone()));
    }
    while let Some(d) = input.cell(words) {
        cells.push(d);
        if cells.len() >= 16 * 200 {
            break;
        }
    }
    if cells.is_empty() {
        return;
    }
    let rows = (cells.len() as u32).div_ceil(cols);
    let mut range = Range::new((first_row, 0), (first_row + rows - 1, cols - 1));
    for (i, d) in cells.into_iter().enumerate() {
        let i = i as u32;
        range.set_value((first_row + i / cols, i % cols), d);
    }
    // What the decoder does before the mapping: merged regions filled (two
    // drawn from the shape byte), blank cells and the zero-only tail cut.
    let merge = |a: u8| calamine::Dimensions {
        start: (u32::from(a >> 4), u32::from(a & 3)),
        end: (
            u32::from(a >> 4) + u32::from(a & 12) / 4,
            u32::from(a & 3) + 1,
        ),
    };
    excel::fill_merged(&mut range, &[merge(shape), merge(shape.rotate_left(3))]);
    let range = excel::tidy(range);
    let mut wb = Workbook::default();
    excel::map_ranges(&[(sheet, range)], layouts, &mut wb);
    if wb.sheets.is_empty() {
        assert!(!wb.findings.is_empty(), "no sheet and no finding");
    }
    for s in &wb.sheets {
        // A totals row is never an invoice row, and a row is read once.
        for l in &s.lines {
            assert!(
                !s.totals_rows.contains(&l.row),
                "totals row {} read as a line",
                l.row
            );
            assert!(!s.rejected_rows.contains(&l.row));
            assert!(l.row > s.header_row);
        }
    }
    for e in &wb.homologation {
        assert!(!e.product.is_empty() && !e.code.is_empty(), "{e:?}");
    }
}
