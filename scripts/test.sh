#!/usr/bin/env bash
# Install what is needed and run the whole test suite: unit tests, integration
# tests against the real daemon, and the shipped rule tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# git does not keep file modes, and ssh refuses a private key others can read.
chmod 600 fixtures/keys/demo_ed25519
# The store's suite and the multi-daemon tests run on PostgreSQL too (a server
# on 127.0.0.1:5432, trust auth, database `test`; each test uses its own schema).
export PASARELA_TEST_POSTGRES_URL="${PASARELA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
cargo test --locked "$@"
# The optional AWS Transfer Family sync (cargo feature `aws`, docs/AWS.md):
# build it and run its test against moto, without rerunning everything else.
if [ $# -eq 0 ]; then
  cargo test --locked --features aws --test aws_sync
  # A short run of every fuzz target on top of its committed corpus (fuzz/README.md).
  SECONDS_EACH="${FUZZ_SECONDS:-15}" scripts/fuzz-smoke.sh
fi
