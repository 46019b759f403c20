#!/usr/bin/env bash
# Install what is needed, build, validate the sample configuration and run the
# daemon on it (SQLite embedded, state under ./var/). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# git does not keep file modes, and ssh refuses a private key others can read.
chmod 600 fixtures/keys/demo_ed25519
cargo build --release --locked
CONFIG="${PASARELA_CONFIG:-config/pasarela.toml}"
./target/release/pasarela validate --config "$CONFIG"
exec ./target/release/pasarela run --config "$CONFIG" "$@"
