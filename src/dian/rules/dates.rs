//! Issue date and time against reception, age, signature (PAS23, PAS20, FAD09c, FAD09e).

use chrono::DateTime;

use super::parse_date;
use crate::dian::model::DocKind;
use crate::dian::settings::ReceptionReference;

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts {
        doc,
        settings,
        now,
        kind,
        issue_date,
        issued_at,
        ..
    } = *f;
    if let Some(at) = issued_at
        && now
            .checked_add_signed(chrono::Duration::minutes(i64::from(
                settings.max_future_minutes,
            )))
            .is_some_and(|limit| at > limit)
    {
        em.emit(
            "PAS23",
            format!(
                "La fecha y hora de emisión ({}) es posterior al momento de recepción ({}).",
                at.to_rfc3339(),
                now.to_rfc3339()
            ),
            Some("cbc:IssueDate"),
        );
    }
    if let Some(d) = issue_date {
        let today = now.date_naive();
        let age = (today - d).num_days();
        if kind == DocKind::Invoice && age > i64::from(settings.max_age_days) {
            em.emit(
                "PAS20",
                format!(
                    "La factura fue emitida el {d}, hace {age} días; solo se registran facturas de hasta {} días.",
                    settings.max_age_days
                ),
                Some("cbc:IssueDate"),
            );
        }
        let reference = match settings.reception_reference {
            ReceptionReference::Now => Some((today, "la recepción")),
            ReceptionReference::Dian => doc
                .dian_response
                .as_ref()
                .and_then(|r| r.issue_date.as_deref())
                .and_then(parse_date)
                .map(|x| (x, "la validación de la DIAN"))
                .or_else(|| {
                    doc.signing_time
                        .as_deref()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| (t.date_naive(), "la firma"))
                }),
        };
        if let Some((r, what)) = reference {
            let days = (r - d).num_days();
            if days > i64::from(settings.reception_window_days) {
                em.emit(
                    "FAD09c",
                    format!(
                        "La fecha de emisión ({d}) es {days} días anterior a {what} ({r}); se admiten hasta {} días.",
                        settings.reception_window_days
                    ),
                    Some("cbc:IssueDate"),
                );
            }
        }
        if let Some(sig) = doc
            .signing_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            && sig.date_naive() != d
        {
            em.emit(
                "FAD09e",
                format!(
                    "La fecha de emisión ({d}) es distinta de la fecha de firma ({}).",
                    sig.date_naive()
                ),
                Some("cbc:IssueDate"),
            );
        }
    }
}
