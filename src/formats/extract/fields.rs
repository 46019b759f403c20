//! Reading the fields from text lines: the label patterns, the hits, and
//! the cross-checks (NIT check digit, totals) that set confidences.

use super::*;

pub(super) const DATE: &str = r"(\d{4}-\d{2}-\d{2}|\d{4}/\d{2}/\d{2}|\d{1,2}[/-]\d{1,2}[/-]\d{4}|\d{1,2}\s+de\s+[a-zA-ZáéíóúÁÉÍÓÚ]+\s+(?:de|del)\s+\d{4})";
pub(super) const MONEY: &str = r"\$?\s?([0-9](?:[0-9.,]*[0-9])?)";

pub(super) static RE_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i:factura)(?:\s+(?i:electr[oó0]nica))?(?:\s+(?i:de\s+venta))?\s*(?:(?i:no|n[°º]|nro|n[uú]mero)\.?|#)?\s*:?\s*([A-Z]{1,4})?\s?-?\s?([0-9]{1,12})\b",
    )
});
pub(super) static RE_ISSUE_DATE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)fecha(?:\s+y\s+hora)?(?:\s+de)?\s+(?:emisi[oó]n|expedici[oó]n|factura(?:ci[oó]n)?)\s*:?\s*{DATE}"
    ))
});
pub(super) static RE_DUE_DATE: LazyLock<Regex> =
    LazyLock::new(|| re(&format!(r"(?i)fecha\s+(?:de\s+)?vencimiento\s*:?\s*{DATE}")));
pub(super) static RE_TIME: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)hora(?:\s+de\s+(?:emisi[oó]n|expedici[oó]n))?\s*:?\s*(\d{2}:\d{2}(?::\d{2})?(?:\s?[-+]\d{2}:\d{2})?)",
    )
});
pub(super) static RE_NIT: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:NIT|N\.I\.T\.?)\s*(?:No\.?|n[°º])?\s*[:.;,]?\s*([0-9]{1,3}(?:[.,\s]?[0-9]{3}){1,4})\s?(?:-\s?([0-9]))?",
    )
});
pub(super) static RE_CC: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:\bC\.\s?C\.|\bCC\b|\bc[eé]dula(?:\s+de\s+ciudadan[ií]a)?)\s*(?:No\.?)?\s*[:.;,]?\s*([0-9]{1,3}(?:[.,\s]?[0-9]{3}){1,4})",
    )
});
pub(super) static RE_CUSTOMER: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^\s*(?:cliente|adquiri?ente|se[ñn]or(?:es)?|comprador|facturar\s+a|raz[oó]n\s+social\s+del\s+adquiri?ente)\b\s*:?\s*(.*)$",
    )
});
pub(super) static RE_SUPPLIER_LABEL: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)^\s*(?:raz[oó]n\s+social|emisor|proveedor|vendedor)\b\s*:?\s*(.*)$"));
pub(super) static RE_SUBTOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:sub\s?-?\s?total|total\s+bruto|valor\s+bruto|total\s+base\s+gravable)\b\s*:?\s*{MONEY}"
    ))
});
pub(super) static RE_IVA: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:total\s+)?iva\b(?:\s*\(?\s*\d{{1,2}}\s*%\s*\)?)?\s*:?\s*{MONEY}"
    ))
});
pub(super) static RE_OTHER_TAX: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(?:impuesto\s+(?:al\s+consumo|nacional\s+al\s+consumo)|INC|otros\s+impuestos)\b\s*:?\s*{MONEY}"
    ))
});
pub(super) static RE_TOTAL: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"(?i)\b(total\s+a\s+pagar|neto\s+a\s+pagar|valor\s+total|total\s+factura|total)\b\s*:?\s*{MONEY}"
    ))
});
pub(super) static RE_CUFE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)\bCUFE\b\s*:?\s*([0-9a-fA-F]*)"));
pub(super) static RE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    re(&format!(
        r"^\s*(\d{{1,3}})\s+(.+?)\s+([0-9][0-9.,]*)\s+([A-Za-z]{{1,8}}\.?)\s+{MONEY}\s+(\d{{1,2}})\s?%\s+{MONEY}\s*$"
    ))
});

/// A match: the captured string, its line index and its confidence.
pub(super) struct Hit {
    pub(super) text: String,
    pub(super) line: usize,
    pub(super) conf: f32,
}

pub(super) fn hits(lines: &[Line], texts: &[String], re: &Regex, group: usize) -> Vec<Hit> {
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for c in re.captures_iter(t) {
            if let Some(m) = c.get(group) {
                out.push(Hit {
                    text: m.as_str().to_string(),
                    line: i,
                    conf: lines[i].span_conf(m.start(), m.end()),
                });
            }
        }
    }
    out
}

/// Extract fields from text lines. `ocr` tells the source (`ocr` or `text`).
///
/// Long on purpose: one pass over the labelled fields in a fixed order
/// (number, dates, parties, totals, CUFE, lines), each block short and
/// independent of the others but sharing the line texts and hits; the
/// cross-checks that follow are separate functions.
pub fn from_lines(lines: &[Line], ocr: bool) -> Extraction {
    let src = if ocr { Source::Ocr } else { Source::Text };
    // A text layer can still be wrong (a bad ToUnicode map): not quite 1.0.
    let cap = |c: f32| if ocr { c } else { c.min(0.98) };
    let texts: Vec<String> = lines.iter().map(Line::text).collect();
    let mut x = Extraction::default();

    // Number and prefix: every occurrence; agreement raises confidence.
    let mut numbers: Vec<(String, String, f32)> = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        for c in RE_NUMBER.captures_iter(t) {
            let Some(digits) = c.get(2) else { continue };
            let Some(whole) = c.get(0) else { continue };
            // "Fecha factura: 10/03/2024" is a date, not a number.
            let before = t[..whole.start()].trim_end().to_lowercase();
            let after = &t[digits.end()..];
            if before.ends_with("fecha")
                || before.ends_with("fecha de")
                || after.starts_with('/')
                || (after.starts_with('-')
                    && after[1..].starts_with(|ch: char| ch.is_ascii_digit()))
            {
                continue;
            }
            let prefix = c.get(1).map(|m| m.as_str()).unwrap_or("");
            let start = c.get(1).map(|m| m.start()).unwrap_or(digits.start());
            let conf = lines[i].span_conf(start, digits.end());
            numbers.push((prefix.to_string(), digits.as_str().to_string(), cap(conf)));
        }
    }
    if let Some((p, d, conf)) = numbers.first().cloned() {
        let mut f = Field::new(format!("{p}{d}"), src, conf);
        let others: Vec<_> = numbers.iter().skip(1).collect();
        if others.iter().any(|(op, od, _)| *op == p && *od == d) {
            f.pass("repeat");
        } else if others
            .iter()
            .any(|(op, od, _)| format!("{op}{od}") != format!("{p}{d}") && !od.is_empty())
        {
            f.fail("repeat");
        }
        if !p.is_empty() {
            x.prefix = Some(Field::new(p, src, conf));
        }
        x.number = Some(f);
    }

    // Dates.
    let dates: Vec<(NaiveDate, f32)> = hits(lines, &texts, &RE_ISSUE_DATE, 1)
        .into_iter()
        .filter_map(|h| parse_date(&h.text).map(|d| (d, cap(h.conf))))
        .collect();
    if let Some((d, conf)) = dates.first().copied() {
        let mut f = Field::new(d.format("%Y-%m-%d").to_string(), src, conf);
        if dates.iter().skip(1).any(|(o, _)| *o == d) {
            f.pass("repeat");
        } else if dates.iter().skip(1).any(|(o, _)| *o != d) {
            f.fail("repeat");
        }
        x.issue_date = Some(f);
    }
    if let Some(h) = hits(lines, &texts, &RE_DUE_DATE, 1).into_iter().next()
        && let Some(d) = parse_date(&h.text)
    {
        x.due_date = Some(Field::new(
            d.format("%Y-%m-%d").to_string(),
            src,
            cap(h.conf),
        ));
    }
    if let Some(h) = hits(lines, &texts, &RE_TIME, 1).into_iter().next() {
        x.issue_time = Some(Field::new(h.text.replace(' ', ""), src, cap(h.conf)));
    }

    // Parties: the customer block starts at the first customer label.
    let customer_at = texts.iter().position(|t| RE_CUSTOMER.is_match(t));
    let split = customer_at.unwrap_or(texts.len());
    let nits = hits(lines, &texts, &RE_NIT, 1);
    let nit_dvs = hits(lines, &texts, &RE_NIT, 2);
    let dv_on = |line: usize| nit_dvs.iter().find(|h| h.line == line);
    if let Some(h) = nits
        .iter()
        .find(|h| h.line < split)
        .or(if customer_at.is_none() {
            nits.first()
        } else {
            None
        })
    {
        let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
        let mut f = Field::new(digits.clone(), src, cap(h.conf));
        if let Some(dv) = dv_on(h.line) {
            let mut dvf = Field::new(dv.text.clone(), src, cap(dv.conf));
            check_dv(&mut f, &mut dvf, &digits, &dv.text);
            x.supplier_dv = Some(dvf);
        }
        x.supplier_nit = Some(f);
    }
    x.supplier_name = supplier_name(lines, &texts, split, cap, src);
    if let Some(at) = customer_at {
        // The customer's name: the rest of the label line.
        if let Some(c) = RE_CUSTOMER.captures(&texts[at])
            && let Some(m) = c.get(1)
        {
            let name = cut_at_labels(m.as_str());
            if name.chars().filter(|c| c.is_alphabetic()).count() >= 3 {
                x.customer_name = Some(Field::new(
                    name,
                    src,
                    cap(lines[at].span_conf(m.start(), m.end())),
                ));
            }
        }
        // The first identification at or after the label, within a few lines.
        let window = at..(at + 6).min(texts.len());
        let nit = nits.iter().find(|h| window.contains(&h.line));
        let cc = hits(lines, &texts, &RE_CC, 1)
            .into_iter()
            .find(|h| window.contains(&h.line));
        let pick_nit = match (&nit, &cc) {
            (Some(n), Some(c)) => n.line <= c.line,
            (Some(_), None) => true,
            _ => false,
        };
        if pick_nit {
            if let Some(h) = nit {
                let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
                let mut f = Field::new(digits.clone(), src, cap(h.conf));
                if let Some(dv) = dv_on(h.line) {
                    let mut dvf = Field::new(dv.text.clone(), src, cap(dv.conf));
                    check_dv(&mut f, &mut dvf, &digits, &dv.text);
                    x.customer_dv = Some(dvf);
                }
                x.customer_id = Some(f);
                x.customer_id_type = Some(Field::new("nit", src, 1.0));
            }
        } else if let Some(h) = cc {
            let digits: String = h.text.chars().filter(char::is_ascii_digit).collect();
            x.customer_id = Some(Field::new(digits, src, cap(h.conf)));
            x.customer_id_type = Some(Field::new("cc", src, 1.0));
        }
    }

    // Totals: the last occurrence of each label (summaries come last).
    let money_field = |re: &Regex, group: usize| -> Option<Field> {
        let h = hits(lines, &texts, re, group)
            .into_iter()
            .rev()
            .find(|h| parse_money(&h.text).is_some())?;
        let v = parse_money(&h.text)?;
        Some(Field::new(money_str(v), src, cap(h.conf)))
    };
    x.subtotal = money_field(&RE_SUBTOTAL, 1);
    x.tax_iva = money_field(&RE_IVA, 1);
    x.tax_other = money_field(&RE_OTHER_TAX, 1);
    // Total: the most specific label wins.
    let mut best: Option<(usize, Field)> = None;
    for (i, t) in texts.iter().enumerate() {
        for c in RE_TOTAL.captures_iter(t) {
            let (Some(label), Some(m)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let Some(v) = parse_money(m.as_str()) else {
                continue;
            };
            let rank = match label
                .as_str()
                .to_lowercase()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .as_str()
            {
                "total a pagar" | "neto a pagar" => 3,
                "valor total" | "total factura" => 2,
                _ => 1,
            };
            if best.as_ref().is_none_or(|(r, _)| rank >= *r) {
                best = Some((
                    rank,
                    Field::new(
                        money_str(v),
                        src,
                        cap(lines[i].span_conf(m.start(), m.end())),
                    ),
                ));
            }
        }
    }
    x.total = best.map(|(_, f)| f);

    // CUFE: 96 hex characters after the label, possibly wrapped over lines.
    for (i, t) in texts.iter().enumerate() {
        let Some(c) = RE_CUFE.captures(t) else {
            continue;
        };
        let Some(m) = c.get(1) else { continue };
        let mut hex = m.as_str().to_string();
        let mut conf = lines[i].span_conf(m.start(), m.end());
        let mut j = i + 1;
        while hex.len() < 96 && j < texts.len() && j <= i + 3 {
            let next = texts[j].trim();
            let token = next.split_whitespace().next().unwrap_or("");
            if token.len() >= 8 && token.chars().all(|c| c.is_ascii_hexdigit()) {
                hex.push_str(token);
                conf = conf.min(lines[j].span_conf(0, token.len()));
                j += 1;
            } else {
                break;
            }
        }
        if hex.is_empty() {
            continue;
        }
        let mut f = Field::new(hex.to_ascii_lowercase(), src, cap(conf));
        if hex.len() == 96 {
            f.pass("shape");
        } else {
            f.fail("shape");
        }
        x.cufe = Some(f);
        break;
    }

    // Lines of the items table.
    for (i, t) in texts.iter().enumerate() {
        let Some(c) = RE_LINE.captures(t) else {
            continue;
        };
        let get = |k: usize| c.get(k).map(|m| m.as_str()).unwrap_or("");
        let (Some(q), Some(up), Some(tot)) = (
            parse_money(get(3)),
            parse_money(get(5)),
            parse_money(get(7)),
        ) else {
            continue;
        };
        let rate = Decimal::from_str(get(6)).ok();
        let mut conf = cap(lines[i].span_conf(0, t.len()));
        if (q * up - tot).abs() <= Decimal::ONE {
            conf = 1.0 - (1.0 - conf) * 0.2;
        } else {
            conf = conf.min(0.3);
        }
        x.lines.push(LineItem {
            description: get(2).to_string(),
            quantity: q,
            unit: Some(get(4).to_string()).filter(|s| !s.is_empty()),
            unit_price: up,
            tax_rate: rate,
            line_total: tot,
            confidence: conf,
        });
    }
    cross_check_totals(&mut x, Decimal::ONE);
    x
}

pub(super) fn cut_at_labels(s: &str) -> String {
    static RE_CUT: LazyLock<Regex> = LazyLock::new(|| {
        re(r"(?i)\s+(?:NIT|N\.I\.T|C\.\s?C\.|CC|c[eé]dula|direcci[oó]n|tel[eé]fono|tel\.)\b.*$")
    });
    RE_CUT
        .replace(s.trim(), "")
        .trim()
        .trim_end_matches([',', ';', ':'])
        .to_string()
}

pub(super) fn supplier_name(
    lines: &[Line],
    texts: &[String],
    split: usize,
    cap: impl Fn(f32) -> f32,
    src: Source,
) -> Option<Field> {
    // An explicit label first, else the first line of the page that reads
    // like a name (letters, not a label or a title).
    for (i, t) in texts.iter().enumerate().take(split) {
        if let Some(c) = RE_SUPPLIER_LABEL.captures(t)
            && let Some(m) = c.get(1)
        {
            let name = cut_at_labels(m.as_str());
            if name.len() >= 3 {
                return Some(Field::new(
                    name,
                    src,
                    cap(lines[i].span_conf(m.start(), m.end())),
                ));
            }
        }
    }
    static RE_NOT_NAME: LazyLock<Regex> = LazyLock::new(|| {
        re(
            r"(?i)factura|nit\b|fecha|direcci[oó]n|tel[eé]fono|p[aá]gina|representaci[oó]n|cufe|r[eé]gimen|responsable",
        )
    });
    for (i, t) in texts.iter().enumerate().take(split.min(6)) {
        let letters = t.chars().filter(|c| c.is_alphabetic()).count();
        if letters >= 6 && letters * 10 >= t.chars().count() * 6 && !RE_NOT_NAME.is_match(t) {
            let name = cut_at_labels(t);
            // A layout page may put the title at the right of the name.
            let name = name.split("   ").next().unwrap_or(&name).trim().to_string();
            return Some(Field::new(
                name,
                src,
                cap(lines[i].span_conf(0, t.len())) * 0.95,
            ));
        }
    }
    None
}

pub(super) fn check_dv(nit: &mut Field, dv: &mut Field, digits: &str, printed: &str) {
    if nit::printed_dv_matches(digits, printed).is_some() {
        nit.pass("dv");
        dv.pass("dv");
    } else {
        nit.fail("dv");
        dv.fail("dv");
    }
}

/// subtotal + taxes = total; Σ lines = subtotal; Σ line × rate = IVA.
pub(super) fn cross_check_totals(x: &mut Extraction, tol: Decimal) {
    let sub = x.subtotal.as_ref().and_then(Field::decimal);
    let iva = x.tax_iva.as_ref().and_then(Field::decimal);
    let other = x
        .tax_other
        .as_ref()
        .and_then(Field::decimal)
        .unwrap_or_default();
    let total = x.total.as_ref().and_then(Field::decimal);
    if let (Some(s), Some(t)) = (sub, total) {
        let taxes = iva.unwrap_or_default() + other;
        let ok = (s + taxes - t).abs() <= tol;
        for f in [&mut x.subtotal, &mut x.tax_iva, &mut x.total]
            .into_iter()
            .flatten()
        {
            if ok {
                f.pass("sum");
            } else {
                f.fail("sum");
            }
        }
    }
    if !x.lines.is_empty() {
        let sum: Decimal = x.lines.iter().map(|l| l.line_total).sum();
        if let Some(f) = x.subtotal.as_mut()
            && let Some(s) = sub
        {
            if (sum - s).abs() <= tol {
                f.pass("lines");
            } else {
                f.fail("lines");
            }
        }
        if x.lines.iter().all(|l| l.tax_rate.is_some()) {
            let tax: Decimal = x
                .lines
                .iter()
                .map(|l| {
                    (l.line_total * l.tax_rate.unwrap_or_default() / Decimal::ONE_HUNDRED)
                        .round_dp(2)
                })
                .sum();
            if let (Some(f), Some(i)) = (x.tax_iva.as_mut(), iva) {
                // Rounding per line vs on the total: allow one peso per line.
                let lt = tol * Decimal::from(x.lines.len() as u64);
                if (tax - i).abs() <= lt {
                    f.pass("rate");
                } else {
                    f.fail("rate");
                }
            }
        }
    }
}
