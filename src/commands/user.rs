//! `pasarela user hash-password`: an argon2id hash for
//! `[accounts.NAME.sftp] password_hash`.

use crate::exit::Exit;

/// Print an argon2id hash of a password read from standard input (never from
/// the command line). `_stdin_flag` is accepted for scripts.
pub fn hash_password(_stdin_flag: bool) -> Exit {
    let mut line = String::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password: ");
    }
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: reading the password: {e}");
        return Exit::NoInput;
    }
    let password = line.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        eprintln!("error: empty password");
        return Exit::DataErr;
    }
    match crate::sftp::auth::hash_password(password) {
        Ok(h) => {
            println!("{h}");
            Exit::Ok
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Software
        }
    }
}
