//! The `pasarela` binary: everything lives in the library; see `cli.rs`.

fn main() {
    std::process::exit(pasarela::cli::main());
}
