//! `pasarela verify-certificate FILE.pdf`: is a certificate genuine and
//! unchanged according to the store? The verdict is printed in Spanish.

use std::path::Path;

use super::config_and_store;
use crate::certificate::Verification;
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
    let stored = record.as_ref().map(|r| r.digest.clone());
    let v = crate::certificate::verify(&bytes, |_| stored.clone());
    let file_sha = crate::fsutil::sha256_hex(&bytes);
    match v {
        Verification::Genuine { number, digest } => {
            let same_file = record.as_ref().is_some_and(|r| r.pdf_sha256 == file_sha);
            if same_file {
                println!("GENUINO: certificado {number} auténtico e inalterado (código {digest})");
                Exit::Ok
            } else {
                // The data is intact but other bytes of the file differ from
                // the issued PDF: the visible page may have been edited.
                println!(
                    "ALTERADO: los datos del certificado {number} son auténticos, pero el archivo no es el emitido (SHA-256 {file_sha})"
                );
                Exit::DataErr
            }
        }
        Verification::Altered {
            number,
            computed,
            stored,
        } => {
            println!(
                "ALTERADO: certificado {number}: los datos no coinciden con el registro (calculado {computed}, registrado {stored})"
            );
            Exit::DataErr
        }
        Verification::Unknown { number } => {
            println!("DESCONOCIDO: no hay un certificado {number} en el registro");
            Exit::DataErr
        }
        Verification::Unreadable(e) => {
            println!("ILEGIBLE: {e}");
            Exit::DataErr
        }
    }
}
