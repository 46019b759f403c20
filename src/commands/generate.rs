//! `pasarela generate`: valid UBL 2.1 documents (correct CUFE/CUDE) for tests
//! and benchmarks.

use std::path::Path;

use chrono::{DateTime, FixedOffset};

use crate::cli::GenKind;
use crate::dian::{DocKind, generator};
use crate::exit::Exit;

/// Write `count` documents, seeds `seed..seed+count`, into `out`.
pub fn generate(
    kind: GenKind,
    count: u64,
    seed: u64,
    issued_at: Option<DateTime<FixedOffset>>,
    registrable: bool,
    out: &Path,
) -> Exit {
    let kind = match kind {
        GenKind::Invoice => DocKind::Invoice,
        GenKind::CreditNote => DocKind::CreditNote,
        GenKind::DebitNote => DocKind::DebitNote,
    };
    let mut opts = generator::GenOptions {
        registrable,
        ..generator::GenOptions::default()
    };
    if let Some(t) = issued_at {
        opts.issued_at = t;
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("error: cannot create {}: {e}", out.display());
        return Exit::CantCreat;
    }
    for i in 0..count {
        let doc = generator::generate(seed.wrapping_add(i), kind, &opts);
        let path = out.join(format!("{}.xml", doc.number));
        if let Err(e) = crate::fsutil::write_atomic(&path, doc.xml.as_bytes()) {
            eprintln!("error: writing {}: {e}", path.display());
            return Exit::IoErr;
        }
    }
    eprintln!("{count} document(s) written to {}", out.display());
    Exit::Ok
}
