//! Finding a layout's header in a sheet, by content and with tolerance:
//! the header may start on any of the first `max_header_row` rows and span
//! one to three rows (texts joined per column, so a header split
//! differently across the rows still reads the same), words may be joined
//! or split ("VALORTOTAL", "VALOR  TOTAL"), in another order ("FACTURA No."
//! under a merged "FACTURA" for "No. FACTURA"), with accents, stray
//! punctuation, spacing and case of any kind.

use super::read::cell_text;
use super::*;

/// Most header rows spanned.
pub(super) const MAX_SPAN: u32 = 3;
/// Most non-empty cells of one row considered as header texts: real
/// headers have a few dozen columns (plantilla 51: 28); a hostile sheet may
/// have 16,384, and every candidate text is compared with every alias of
/// every layout, in the daemon.
pub(super) const MAX_HEADER_CELLS: usize = 64;
/// Most header candidate texts computed for one workbook (each is compared
/// with every alias of every layout): a real workbook needs a few thousand;
/// 64 sheets of 64 text columns need 500,000. Sheets after the budget is
/// spent are not searched.
pub(super) const HEADER_BUDGET: usize = 150_000;

/// Words that carry no meaning in a header ("FECHA DE FACTURA", "CANTIDAD
/// O KILOS", "COMIS. X PUNTA").
const STOPWORDS: &[&str] = &[
    "DE", "DEL", "LA", "EL", "LOS", "LAS", "Y", "O", "X", "POR", "EN", "A", "AL",
];

/// A header text in its comparable forms.
#[derive(Debug, Clone, Default)]
pub(super) struct HeaderText {
    /// [`norm`]: "NO FACTURA".
    pub norm: String,
    /// [`compact`]: "NOFACTURA".
    pub compact: String,
    /// Content words with synonyms folded, sorted: ["FACTURA", "NO"].
    pub words: Vec<String>,
}

impl HeaderText {
    pub fn new(s: &str) -> HeaderText {
        let norm = norm(s);
        let compact = norm.replace(' ', "");
        let mut words: Vec<String> = norm
            .split(' ')
            .filter(|w| !w.is_empty() && !STOPWORDS.contains(w))
            .map(|w| synonym(w).to_string())
            .collect();
        words.sort();
        HeaderText {
            norm,
            compact,
            words,
        }
    }
}

/// One spelling for words brokers abbreviate.
fn synonym(w: &str) -> &str {
    match w {
        "NRO" | "NUMERO" | "NUM" | "N" | "NO" | "NO." | "NUM." => "NO",
        "FACT" | "FRA" | "FACTURAS" => "FACTURA",
        "TEL" | "TELEFONO" | "TELEF" => "TEL",
        "VR" | "VLR" | "VALOR" => "VALOR",
        "CANT" => "CANTIDAD",
        "COD" | "CODIGO" => "CODIGO",
        "DESCRIP" | "DESCRIPCION" => "DESCRIPCION",
        other => other,
    }
}

/// How well a header text names a column with this alias; 0 = not at all.
/// 6 equal; 5 equal without spaces; 4 the same words in any order; 3 the
/// header continues after the alias ("NOMBRE USUARIO (CLIENTE DEL
/// CLIENTE)"); 2 the same, without spaces ("VALORUNITARIO*"); 1 every word
/// of a two-word-or-longer alias is in the header.
pub(super) fn quality(text: &HeaderText, alias: &HeaderText) -> u8 {
    if alias.norm.is_empty() || text.norm.is_empty() {
        return 0;
    }
    if text.norm == alias.norm {
        return 6;
    }
    if text.compact == alias.compact {
        return 5;
    }
    if !alias.words.is_empty() && text.words == alias.words {
        return 4;
    }
    if text.norm.len() > alias.norm.len()
        && text.norm.starts_with(&alias.norm)
        && text.norm.as_bytes()[alias.norm.len()] == b' '
    {
        return 3;
    }
    if alias.compact.len() >= 3 && text.compact.starts_with(&alias.compact) {
        return 2;
    }
    if alias.words.len() >= 2 && alias.words.iter().all(|w| text.words.contains(w)) {
        return 1;
    }
    0
}

/// A layout's columns with their aliases in comparable form.
pub(super) struct Fields<'a> {
    pub layout: &'a Layout,
    pub aliases: Vec<(&'a str, Vec<HeaderText>, bool)>,
}

impl<'a> Fields<'a> {
    pub fn new(layout: &'a Layout) -> Fields<'a> {
        Fields {
            layout,
            aliases: layout
                .columns
                .iter()
                .map(|(f, a, req)| {
                    (
                        f.as_str(),
                        a.iter().map(|x| HeaderText::new(x)).collect(),
                        *req,
                    )
                })
                .collect(),
        }
    }

    /// Best quality of `text` for `field`.
    pub fn quality_for(&self, field: &str, text: &HeaderText) -> u8 {
        self.aliases
            .iter()
            .find(|(f, _, _)| *f == field)
            .map(|(_, a, _)| a.iter().map(|x| quality(text, x)).max().unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Where a layout's header is in a sheet.
#[derive(Debug, Clone)]
pub(super) struct HeaderMatch {
    /// First header row (absolute, 0-based).
    pub row: u32,
    /// Rows the header spans: data starts at `row + depth`.
    pub depth: u32,
    /// field → column (absolute).
    pub cols: BTreeMap<String, u32>,
    /// Sum of the match qualities (ties between rows).
    pub quality: u32,
    /// Every required column found and at least `min_columns`.
    pub complete: bool,
}

impl HeaderMatch {
    fn better_than(&self, other: &HeaderMatch) -> bool {
        (self.complete, self.cols.len(), self.quality)
            > (other.complete, other.cols.len(), other.quality)
    }
}

/// The non-empty header texts of one row: column → raw text (numbers and
/// dates are not header texts).
fn row_texts(range: &Range<Data>, r: u32) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    let (Some((_, c0)), Some((_, c1))) = (range.start(), range.end()) else {
        return out;
    };
    for c in c0..=c1 {
        let Some(Data::String(s)) = range.get_value((r, c)) else {
            continue;
        };
        let t = s.trim();
        if t.is_empty() || norm(t).chars().all(|ch| ch.is_ascii_digit() || ch == ' ') {
            continue;
        }
        out.insert(c, t.to_string());
        if out.len() >= MAX_HEADER_CELLS {
            break;
        }
    }
    out
}

/// The candidate header texts of a sheet's first rows, computed once and
/// shared by every layout: for each possible first header row, each
/// column's text from that row alone, joined with the next, and with the
/// next two.
pub(super) struct HeaderCells {
    r0: u32,
    /// Per first row (from `r0`): its columns.
    starts: Vec<Vec<ColumnTexts>>,
}

/// One column's header texts from a first row: (column, [(span, text)]).
type ColumnTexts = (u32, Vec<(u32, HeaderText)>);

impl HeaderCells {
    /// Header candidates for first rows `r0..=r0 + max_header_row`, at
    /// most `*budget` texts (taken from it): `None` when the sheet is empty
    /// or the budget is spent.
    pub fn new(
        range: &Range<Data>,
        max_header_row: usize,
        budget: &mut usize,
    ) -> Option<HeaderCells> {
        if *budget == 0 {
            return None;
        }
        let (r0, _) = range.start()?;
        let (r1, _) = range.end()?;
        let last = r1.min(r0.saturating_add(max_header_row as u32));
        let rows: Vec<BTreeMap<u32, String>> = (r0..=last.saturating_add(MAX_SPAN - 1).min(r1))
            .map(|r| row_texts(range, r))
            .collect();
        let mut starts = Vec::new();
        for start in 0..=(last - r0) as usize {
            let mut cols = Vec::new();
            if !rows[start].is_empty() {
                let mut columns: Vec<u32> = Vec::new();
                for k in 0..MAX_SPAN as usize {
                    if let Some(row) = rows.get(start + k) {
                        columns.extend(row.keys());
                    }
                }
                columns.sort_unstable();
                columns.dedup();
                for c in columns {
                    let mut joined = String::new();
                    let mut texts: Vec<(u32, HeaderText)> = Vec::new();
                    for k in 0..MAX_SPAN as usize {
                        let Some(t) = rows.get(start + k).and_then(|row| row.get(&c)) else {
                            continue;
                        };
                        if !joined.is_empty() {
                            joined.push(' ');
                        }
                        joined.push_str(t);
                        texts.push((k as u32 + 1, HeaderText::new(&joined)));
                        *budget = budget.saturating_sub(1);
                    }
                    cols.push((c, texts));
                }
            }
            starts.push(cols);
        }
        Some(HeaderCells { r0, starts })
    }
}

/// The best header of `layout` among a sheet's header candidates, complete
/// or not (`None` when no column is recognised at all).
pub(super) fn find_header(fields: &Fields<'_>, cells: &HeaderCells) -> Option<HeaderMatch> {
    let layout = fields.layout;
    let mut best: Option<HeaderMatch> = None;
    for (start, columns) in cells
        .starts
        .iter()
        .enumerate()
        .take(layout.max_header_row + 1)
    {
        if columns.is_empty() {
            continue;
        }
        // (quality, span, field index, column)
        let mut pairs: Vec<(u8, u32, usize, u32)> = Vec::new();
        for (c, texts) in columns {
            let c = *c;
            for (fi, (_, aliases, _)) in fields.aliases.iter().enumerate() {
                let mut found: Option<(u8, u32)> = None;
                for (span, t) in texts.iter() {
                    let q = aliases.iter().map(|a| quality(t, a)).max().unwrap_or(0);
                    if q > 0 && found.is_none_or(|(bq, _)| q > bq) {
                        found = Some((q, *span));
                    }
                }
                if let Some((q, span)) = found {
                    pairs.push((q, span, fi, c));
                }
            }
        }
        // Best pairs first; each field and each column used once.
        pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
        let mut cols = BTreeMap::new();
        let mut used = Vec::new();
        let (mut depth, mut total) = (1, 0u32);
        for (q, span, fi, c) in pairs {
            let field = fields.aliases[fi].0;
            if cols.contains_key(field) || used.contains(&c) {
                continue;
            }
            cols.insert(field.to_string(), c);
            used.push(c);
            depth = depth.max(span);
            total += u32::from(q);
        }
        if cols.is_empty() {
            continue;
        }
        let complete = fields
            .aliases
            .iter()
            .filter(|a| a.2)
            .all(|a| cols.contains_key(a.0))
            && cols.len() >= layout.min_columns;
        let m = HeaderMatch {
            row: cells.r0 + start as u32,
            depth,
            cols,
            quality: total,
            complete,
        };
        if best.as_ref().is_none_or(|b| m.better_than(b)) {
            best = Some(m);
        }
    }
    best
}

/// The header text of a column as the sheet writes it (rows joined).
pub(super) fn header_label(range: &Range<Data>, row: u32, depth: u32, col: u32) -> String {
    let parts: Vec<String> = (row..row + depth)
        .filter_map(|r| range.get_value((r, col)))
        .map(|d| {
            cell_text(d)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|t| !t.is_empty())
        .collect();
    parts.join(" ")
}

/// At most `n` characters of `s`, with "…" when cut.
pub(super) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

/// The Spanish explanation of PAS601: which headers each layout expects
/// and what the closest sheet row has.
pub(super) fn no_layout_message(
    layouts: &[Layout],
    ranges: &[(String, Range<Data>)],
    closest: Option<(&Layout, &str, &Range<Data>, &HeaderMatch)>,
) -> String {
    let expected: Vec<String> = layouts
        .iter()
        .filter(|l| l.kind == LayoutKind::Lines)
        .map(|l| {
            let heads: Vec<String> = l
                .columns
                .iter()
                .filter(|c| c.2)
                .map(|c| c.1.first().cloned().unwrap_or_else(|| c.0.clone()))
                .collect();
            format!("{} ({})", l.name, heads.join(", "))
        })
        .collect();
    let mut msg = format!(
        "Ninguna hoja tiene los encabezados de un formato conocido. Se esperaban los encabezados de: {}.",
        expected.join("; ")
    );
    match closest {
        Some((layout, sheet, range, m)) => {
            let missing: Vec<String> = layout
                .columns
                .iter()
                .filter(|c| c.2 && !m.cols.contains_key(&c.0))
                .map(|c| c.1.first().cloned().unwrap_or_else(|| c.0.clone()))
                .collect();
            let found: Vec<String> = row_texts(range, m.row)
                .values()
                .take(24)
                .map(|t| {
                    format!(
                        "'{}'",
                        clip(&t.split_whitespace().collect::<Vec<_>>().join(" "), 40)
                    )
                })
                .collect();
            msg.push_str(&format!(
                " Lo más parecido es la hoja '{sheet}', fila {}, para el formato {}: se encontraron {}; faltan: {}.",
                m.row + 1,
                layout.name,
                found.join(", "),
                missing.join(", ")
            ));
        }
        None => {
            let first = ranges.iter().find_map(|(name, range)| {
                let (r0, _) = range.start()?;
                let (r1, _) = range.end()?;
                (r0..=r1.min(r0 + 40))
                    .map(|r| (r, row_texts(range, r)))
                    .find(|(_, t)| !t.is_empty())
                    .map(|(r, t)| (name, r, t))
            });
            match first {
                Some((name, r, texts)) => {
                    let found: Vec<String> = texts
                        .values()
                        .take(24)
                        .map(|t| {
                            format!(
                                "'{}'",
                                clip(&t.split_whitespace().collect::<Vec<_>>().join(" "), 40)
                            )
                        })
                        .collect();
                    msg.push_str(&format!(
                        " Se encontró en la hoja '{name}', fila {}: {}.",
                        r + 1,
                        found.join(", ")
                    ));
                }
                None => msg.push_str(" El archivo no tiene textos en sus primeras filas."),
            }
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(text: &str, alias: &str) -> u8 {
        quality(&HeaderText::new(text), &HeaderText::new(alias))
    }

    #[test]
    fn header_tolerance() {
        assert_eq!(q("Valor Total", "VALOR TOTAL"), 6);
        assert_eq!(q("VALORTOTAL", "VALOR TOTAL"), 5);
        assert_eq!(q("VALOR  TOTAL", "VALOR TOTAL"), 6);
        assert_eq!(q("Factura Nº", "FACT NRO"), 4);
        assert_eq!(q("N° FACTURA", "NO FACTURA"), 4);
        assert_eq!(q("Precio Unit ario", "PRECIO UNITARIO"), 5);
        assert_eq!(q("FACTURA No.", "NO FACTURA"), 4);
        assert_eq!(q("Nro. de factura", "NO FACTURA"), 4);
        assert_eq!(q("Fecha de la factura", "FECHA FACTURA"), 4);
        assert_eq!(q("NIT USUARIO (CLIENTE DEL CLIENTE)", "NIT USUARIO"), 3);
        assert_eq!(q("VALOR\nUNITARIO *", "VALOR UNITARIO"), 6);
        assert_eq!(q("VALORUNITARIO(SIN IVA)", "VALOR UNITARIO"), 2);
        assert_eq!(q("NOMBRE COMPLETO DEL CLIENTE", "NOMBRE CLIENTE"), 1);
        assert_eq!(q("Teléfono cliente", "TEL CLIENTE"), 4);
        assert_eq!(q("CANTIDAD", "PRECIO UNITARIO"), 0);
        assert_eq!(q("PRECIO TOTAL", "TOTAL"), 0);
        assert_eq!(q("", "TOTAL"), 0);
    }

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("ÁÉÍÓÚ", 3), "ÁÉÍ…");
        assert_eq!(clip("abc", 3), "abc");
    }
}
