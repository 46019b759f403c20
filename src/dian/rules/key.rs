//! The document key: CUFE/CUDE form, scheme attributes, recomputation and the QR (FAD06–FAD08, PAS24, PAS25),
//! and the SoftwareSecurityCode (FAB27b).

use rust_decimal::Decimal;

use super::nit_of;
use crate::dian::cufe::{self, KeyInput};

use super::{Emitter, Facts};

/// Adds this family's findings.
pub(super) fn check(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts {
        doc,
        settings,
        uses_pin,
        key_name,
        env,
        dian,
        supplier_nit,
        prefix,
        range,
        ..
    } = *f;
    match &doc.uuid {
        None => em.emit(
            "FAD06",
            format!("Falta el {key_name} (cbc:UUID)."),
            Some("cbc:UUID"),
        ),
        Some(u) => {
            let expected_scheme = format!("{key_name}-SHA384");
            if u.scheme_name.as_deref() != Some(expected_scheme.as_str()) {
                em.emit(
                    "FAD07",
                    format!(
                        "cbc:UUID@schemeName debe ser \"{expected_scheme}\"; el documento indica \"{}\".",
                        u.scheme_name.as_deref().unwrap_or("")
                    ),
                    Some("cbc:UUID/@schemeName"),
                );
            }
            if env.is_some() && u.scheme_id.as_deref() != env {
                em.emit(
                    "FAD08",
                    format!(
                        "cbc:UUID@schemeID (\"{}\") debe ser igual a ProfileExecutionID (\"{}\").",
                        u.scheme_id.as_deref().unwrap_or(""),
                        env.unwrap_or("")
                    ),
                    Some("cbc:UUID/@schemeID"),
                );
            }
            if !cufe::is_sha384_hex(&u.value) {
                em.emit(
                    "FAD06",
                    format!("El {key_name} no tiene la forma de un SHA-384 (96 caracteres hexadecimales)."),
                    Some("cbc:UUID"),
                );
            } else {
                let secret = if uses_pin {
                    settings.pin_for(supplier_nit, dian.and_then(|d| d.software_id.as_deref()))
                } else {
                    range.map(|r| r.technical_key.as_str())
                };
                let totals = doc.totals.as_ref();
                let tax = |scheme: &str| {
                    doc.tax_totals
                        .iter()
                        .filter(|t| t.scheme_id() == Some(scheme))
                        .filter_map(|t| t.tax_amount)
                        .sum::<Decimal>()
                };
                let inputs = (
                    doc.id.as_deref(),
                    doc.issue_date.as_deref(),
                    doc.issue_time.as_deref(),
                    totals.and_then(|t| t.line_extension),
                    totals.and_then(|t| t.payable),
                    supplier_nit,
                    nit_of(doc.customer.as_ref()),
                    env,
                );
                match (secret, inputs) {
                    (None, _) => em.emit(
                        "PAS24",
                        match uses_pin {
                            false => format!(
                                "No se puede verificar el CUFE: no hay clave técnica configurada para el rango {} del emisor {} (rules/dian.toml). El CUFE no se da por válido.",
                                if prefix.is_empty() { "sin prefijo" } else { prefix },
                                supplier_nit.unwrap_or("?")
                            ),
                            true => format!(
                                "No se puede verificar el CUDE: no hay PIN de software configurado para el software {} (rules/dian.toml). El CUDE no se da por válido.",
                                dian.and_then(|d| d.software_id.as_deref()).unwrap_or("?")
                            ),
                        },
                        Some("cbc:UUID"),
                    ),
                    (
                        Some(secret),
                        (
                            Some(id),
                            Some(date),
                            Some(time),
                            Some(line_extension),
                            Some(payable),
                            Some(supplier),
                            Some(customer),
                            Some(env),
                        ),
                    ) => {
                        let input = KeyInput {
                            number: id,
                            issue_date: date,
                            issue_time: time,
                            line_extension,
                            iva: tax("01"),
                            inc: tax("04"),
                            ica: tax("03"),
                            payable,
                            supplier_nit: supplier,
                            customer_id: customer,
                            secret,
                            environment: env,
                        };
                        let expected = input.key();
                        if !expected.eq_ignore_ascii_case(&u.value) {
                            em.emit(
                                "FAD06",
                                format!(
                                    "El {key_name} no está calculado correctamente: el documento indica {} y el calculado es {expected}.",
                                    u.value
                                ),
                                Some("cbc:UUID"),
                            );
                        }
                    }
                    // Missing inputs are reported by the mandatory-field rules.
                    _ => {}
                }
            }
            if let Some(qr) = dian.and_then(|d| d.qr_code.as_deref())
                && cufe::is_sha384_hex(&u.value)
            {
                let other = hex_runs(qr).find(|run| !run.eq_ignore_ascii_case(&u.value));
                if let Some(other) = other {
                    em.emit(
                        "PAS25",
                        format!("El código QR contiene el {key_name} {other}, distinto del cbc:UUID {}.", u.value),
                        Some("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/sts:QRCode"),
                    );
                }
            }
        }
    }
}

/// FAB27b: SoftwareSecurityCode = SHA-384(SoftwareID + PIN + cbc:ID), checked
/// only when a PIN is configured for the document's software (and issuer);
/// without one, or without the inputs, the code cannot be verified and
/// nothing is reported.
pub(super) fn check_security_code(f: &Facts<'_>, em: &mut Emitter<'_>) {
    let Facts {
        doc,
        settings,
        dian,
        supplier_nit,
        ..
    } = *f;
    let Some(d) = dian else { return };
    let (Some(software_id), Some(code), Some(number)) = (
        d.software_id.as_deref(),
        d.software_security_code.as_deref(),
        doc.id.as_deref(),
    ) else {
        return;
    };
    let Some(pin) = settings.pin_for(supplier_nit, Some(software_id)) else {
        return;
    };
    let expected = cufe::software_security_code(software_id, pin, number);
    if !expected.eq_ignore_ascii_case(code.trim()) {
        em.emit(
            "FAB27b",
            format!(
                "El código de seguridad del software (SoftwareSecurityCode) no corresponde a SHA-384(SoftwareID + PIN + número) con el PIN configurado para el software {software_id}: el documento indica {code} y el calculado es {expected}."
            ),
            Some("ext:UBLExtensions/ext:UBLExtension/ext:ExtensionContent/sts:DianExtensions/sts:SoftwareSecurityCode"),
        );
    }
}

/// Maximal runs of exactly 96 lowercase hex characters in a text.
fn hex_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_hexdigit())
        .filter(|run| run.len() == 96)
}
