//! Server-side SVG charts for the dashboard: plain bars from numbers, with
//! escaped labels, so a page needs no script to show them.

use std::fmt::Write as _;

/// Escape text for SVG/XML content and attributes.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Horizontal bars, one per (label, value), scaled to the largest value.
pub fn hbars(items: &[(String, i64)], id: &str) -> String {
    let (w, row, label_w) = (520.0_f64, 22.0_f64, 250.0_f64);
    let h = (items.len().max(1) as f64) * row + 4.0;
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1) as f64;
    let mut s = format!(
        r#"<svg id="{}" class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">"#,
        esc(id)
    );
    if items.is_empty() {
        let _ = write!(s, r#"<text x="4" y="16" class="muted">sin datos</text>"#);
    }
    for (i, (label, v)) in items.iter().enumerate() {
        let y = i as f64 * row + 2.0;
        let bw = ((w - label_w - 60.0) * (*v as f64) / max).max(1.0);
        let _ = write!(
            s,
            r#"<text x="{x}" y="{ty}" text-anchor="end">{l}</text><rect class="bar bar-{c}" x="{bx}" y="{y}" width="{bw:.1}" height="{bh}"><title>{l}: {v}</title></rect><text x="{vx:.1}" y="{ty}">{v}</text>"#,
            x = label_w - 6.0,
            ty = y + 15.0,
            l = esc(label),
            c = esc(&label.replace(' ', "-")),
            bx = label_w,
            bh = row - 6.0,
            vx = label_w + bw + 4.0,
        );
    }
    s.push_str("</svg>");
    s
}

/// Vertical bars over time, oldest first; every third bar is labelled with
/// `label(i)`.
pub fn columns(values: &[i64], id: &str, label: impl Fn(usize) -> String) -> String {
    let (w, h, base) = (560.0_f64, 160.0_f64, 20.0_f64);
    let n = values.len().max(1) as f64;
    let cw = w / n;
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let mut s = format!(
        r#"<svg id="{}" class="chart" role="img" viewBox="0 0 {w} {h}" width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg"><text x="2" y="12" class="muted">máx. {}</text>"#,
        esc(id),
        max as i64
    );
    for (i, v) in values.iter().enumerate() {
        let bh = ((h - base - 16.0) * (*v as f64) / max).max(if *v > 0 { 1.0 } else { 0.0 });
        let x = i as f64 * cw;
        let _ = write!(
            s,
            r#"<rect class="bar" x="{x:.1}" y="{y:.1}" width="{bw:.1}" height="{bh:.1}"><title>{t}: {v}</title></rect>"#,
            y = h - base - bh,
            bw = (cw - 2.0).max(1.0),
            t = esc(&label(i)),
        );
        if i % 3 == 0 {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{ty}" class="tick">{t}</text>"#,
                ty = h - 6.0,
                t = esc(&label(i)),
            );
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_bars_scale() {
        let svg = hbars(&[("<b>".into(), 10), ("ok".into(), 5)], "c");
        assert!(svg.contains("&lt;b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        let cols = columns(&[0, 4, 8], "h", |i| format!("{i}h"));
        assert_eq!(cols.matches("<rect").count(), 3);
        assert!(cols.contains("máx. 8"));
    }
}
