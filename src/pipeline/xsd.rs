//! Optional XML Schema (XSD) validation of UBL documents, when
//! `[dian] xsd_dir` points at the UBL 2.1 schemas (`maindoc/`, `common/`).
//!
//! libxml2's validator (`xmllint`) reads the untrusted document, so it runs as
//! an isolated child under the formats worker's limits (no network, wall time,
//! memory, CPU), like every other C decoder here; a crash or hang becomes a
//! finding, never the daemon's problem. The schema is compiled per document
//! (≈ 70 ms for an invoice on this machine, see docs/DIAN.md): XSD checking is
//! an optional, deliberate cost, off by default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::formats::worker::{self, Limits, WorkerError};
use crate::result::Finding;

/// Most schema errors reported per document.
const MAX_FINDINGS: usize = 5;

/// The main schema for a UBL root element, if there is one.
pub fn schema_for(xsd_dir: &Path, root: &str) -> Option<PathBuf> {
    let name = match root {
        "Invoice" | "CreditNote" | "DebitNote" | "ApplicationResponse" | "AttachedDocument" => root,
        _ => return None,
    };
    Some(xsd_dir.join("maindoc").join(format!("UBL-{name}-2.1.xsd")))
}

/// Why the check itself could not run (the document is not judged).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct XsdUnavailable(pub String);

/// Validate `bytes` against the schema of `root`. Ok(findings): empty when
/// the document is valid (or has no UBL schema).
pub async fn check(
    xsd_dir: &Path,
    root: &str,
    bytes: &[u8],
) -> Result<Vec<Finding>, XsdUnavailable> {
    let Some(schema) = schema_for(xsd_dir, root) else {
        return Ok(Vec::new());
    };
    // The child runs in its scratch directory: give it absolute paths.
    let schema = std::fs::canonicalize(&schema).unwrap_or(schema);
    let xsd_dir = std::fs::canonicalize(xsd_dir).unwrap_or_else(|_| xsd_dir.to_path_buf());
    let schema = schema.to_string_lossy().into_owned();
    let limits = Limits {
        wall: Duration::from_secs(30),
        memory_bytes: 1 << 30,
        cpu_secs: 30,
        ..Limits::default()
    };
    let args = ["--noout", "--nonet", "--schema", schema.as_str(), "-"];
    let scratch = worker::Scratch::new().map_err(|e| XsdUnavailable(format!("scratch: {e}")))?;
    let read = [xsd_dir];
    match worker::run_in(&scratch, "xmllint", &args, Some(bytes), limits, &read).await {
        Ok(_) => Ok(Vec::new()),
        // 3: the document does not match the schema; 1: not well-formed for libxml2.
        Err(WorkerError::Failed {
            code: 1 | 3,
            stderr,
            ..
        }) => Ok(findings(&stderr)),
        Err(WorkerError::Spawn { reason, .. }) => Err(XsdUnavailable(format!(
            "xmllint (libxml2-utils) cannot be started for [dian] xsd_dir: {reason}"
        ))),
        Err(WorkerError::Failed { code, stderr, .. }) => Err(XsdUnavailable(format!(
            "xmllint could not check the schema (exit {code}): {stderr}"
        ))),
        Err(e @ (WorkerError::Timeout { .. } | WorkerError::Signal { .. })) => {
            Ok(vec![Finding::reject(
                "PAS37",
                format!(
                    "No fue posible validar el documento contra el esquema XSD de UBL 2.1: {e}."
                ),
            )])
        }
        Err(e) => Err(XsdUnavailable(e.to_string())),
    }
}

/// xmllint's `-:LINE: element X: Schemas validity error : MESSAGE` lines as findings.
fn findings(stderr: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Some(rest) = line.strip_prefix("-:") else {
            continue;
        };
        let (num, rest) = rest.split_once(':').unwrap_or(("?", rest));
        let detail = rest
            .split_once("error : ")
            .map(|(_, d)| d)
            .unwrap_or(rest)
            .trim();
        out.push(
            Finding::reject(
                "PAS37",
                format!("El documento no cumple el esquema XSD de UBL 2.1 (línea {num}): {detail}"),
            )
            .at(format!("línea {num}")),
        );
        if out.len() == MAX_FINDINGS {
            break;
        }
    }
    if out.is_empty() {
        out.push(Finding::reject(
            "PAS37",
            format!(
                "El documento no cumple el esquema XSD de UBL 2.1: {}",
                stderr.lines().next().unwrap_or("error sin detalle").trim()
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn xmllint_errors_become_findings_with_their_line() {
        let stderr = "-:12: element IssueDate: Schemas validity error : Element '{urn:x}IssueDate': '2024-13-45' is not a valid value of the atomic type 'xs:date'.\n- fails to validate\n";
        let f = super::findings(stderr);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].code, "PAS37");
        assert!(
            f[0].message.contains("línea 12") && f[0].message.contains("xs:date"),
            "{}",
            f[0].message
        );
        assert_eq!(super::findings("garbage")[0].code, "PAS37");
    }
}
