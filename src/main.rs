//! The `pasarela` binary: everything lives in the library; `commands::main`
//! parses the command line (`cli`) and runs one command.

fn main() {
    std::process::exit(pasarela::commands::main());
}
