//! Invoice numbering against the authorized range (FAB10b, FAD05b, FAD05c, FAD09a, FAD09b, FAB05c).

use super::parse_date;
use crate::dian::model::DocKind;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts {
        doc,
        kind,
        issue_date,
        dian,
        authorized_prefix,
        prefix,
        number,
        range,
        ..
    } = *f;
    if kind == DocKind::Invoice
        && let Some(id) = doc.id.as_deref()
    {
        if let Some(p) = authorized_prefix
            && !id.starts_with(p)
        {
            em.emit(
                "FAB10b",
                format!("El prefijo del número {id} no corresponde al prefijo de la autorización de numeración ({p})."),
                Some("cbc:ID"),
            );
        } else if let Some(r) = range
            && r.prefix != prefix
        {
            em.emit(
                "FAB10b",
                format!(
                    "El prefijo {prefix} no corresponde al prefijo de la autorización de numeración del rango configurado ({}).",
                    r.prefix
                ),
                Some("cbc:ID"),
            );
        }
        let num: Option<u64> = number.parse().ok();
        if num.is_none() && (authorized_prefix.is_none_or(|p| id.starts_with(p))) {
            em.emit(
                "FAB10b",
                format!("El número {id} no es el prefijo de la autorización de numeración seguido de un consecutivo numérico."),
                Some("cbc:ID"),
            );
        }
        let from = range.map(|r| r.from).or_else(|| {
            dian.and_then(|d| d.from.as_deref())
                .and_then(|v| v.parse().ok())
        });
        let to = range.map(|r| r.to).or_else(|| {
            dian.and_then(|d| d.to.as_deref())
                .and_then(|v| v.parse().ok())
        });
        if let Some(n) = num {
            if let Some(f) = from
                && n < f
            {
                em.emit(
                    "FAD05b",
                    format!(
                        "El número {n} es inferior al rango autorizado ({f}–{}).",
                        to.unwrap_or(f)
                    ),
                    Some("cbc:ID"),
                );
            }
            if let Some(t) = to
                && n > t
            {
                em.emit(
                    "FAD05c",
                    format!(
                        "El número {n} es superior al rango autorizado ({}–{t}).",
                        from.unwrap_or(0)
                    ),
                    Some("cbc:ID"),
                );
            }
        }
        let period_start = range.map(|r| r.valid_from).or_else(|| {
            dian.and_then(|d| d.authorization_start.as_deref())
                .and_then(parse_date)
        });
        let period_end = range.map(|r| r.valid_to).or_else(|| {
            dian.and_then(|d| d.authorization_end.as_deref())
                .and_then(parse_date)
        });
        if let Some(d) = issue_date {
            let period = format!(
                "{}–{}",
                period_start.map(|x| x.to_string()).unwrap_or_default(),
                period_end.map(|x| x.to_string()).unwrap_or_default()
            );
            if period_start.is_some_and(|s| d < s) {
                em.emit(
                    "FAD09a",
                    format!("La fecha de emisión {d} es anterior al inicio del periodo de autorización de la numeración ({period})."),
                    Some("cbc:IssueDate"),
                );
            } else if period_end.is_some_and(|e| d > e) {
                em.emit(
                    "FAD09b",
                    format!("La fecha de emisión {d} es posterior al fin del periodo de autorización de la numeración ({period})."),
                    Some("cbc:IssueDate"),
                );
            }
        }
        if let Some(r) = range
            && let Some(expected) = r.software_id.as_deref()
        {
            let got = dian.and_then(|d| d.software_id.as_deref());
            if got != Some(expected) {
                em.emit(
                    "FAB05c",
                    format!(
                        "El software {} no corresponde al software autorizado para el rango ({expected}).",
                        got.unwrap_or("(ninguno)")
                    ),
                    Some("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/sts:SoftwareProvider/sts:SoftwareID"),
                );
            }
        }
    }
}
