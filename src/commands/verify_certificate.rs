//! `pasarela verify-certificate FILE.pdf`: is a certificate genuine and
//! unchanged according to the store? The verdict is printed in Spanish.

use std::path::Path;

use super::config_and_store;
use crate::exit::Exit;

/// `pasarela verify-certificate FILE.pdf`: 0 genuine, 65 altered/unknown/unreadable.
pub async fn verify_certificate(config_path: &Path, file: &Path) -> Exit {
    let bytes = match tokio::fs::read(file).await {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", file.display());
            return Exit::NoInput;
        }
    };
    let (_, store) = match config_and_store(config_path).await {
        Ok(x) => x,
        Err(code) => return code,
    };
    let record = match crate::certificate::extract(&bytes) {
        Ok((data, _)) => match store.certificate_by_number(&data.number).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Unavailable;
            }
        },
        Err(_) => None,
    };
    let (genuine, message) = crate::certificate::judge(&bytes, record.as_ref());
    println!("{message}");
    if genuine { Exit::Ok } else { Exit::DataErr }
}
