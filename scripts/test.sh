#!/usr/bin/env bash
# Install what is needed and run the whole test suite: unit tests, integration
# tests against the real daemon, the shipped rule tests and a replay of every
# committed fuzz input. Stands alone on a fresh machine: the SMTP relay
# (aiosmtpd) and the AWS stand-in (moto) are started by the tests themselves
# from the Python packages scripts/install-deps.sh installs, and where no
# PostgreSQL answers, a throwaway cluster is started (scripts/scratch-postgres.sh).
#   scripts/test.sh                      # everything, as CI runs it
#   scripts/test.sh --test it sftp_      # arguments go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# git does not keep file modes, and ssh refuses a private key others can read.
chmod 600 fixtures/keys/demo_ed25519
# The store's suite and the multi-daemon tests run on PostgreSQL too (trust
# auth, database `test`; each test uses its own schema): the server named by
# PASARELA_TEST_POSTGRES_URL (default 127.0.0.1:5432), or else our own.
source scripts/scratch-postgres.sh
export PASARELA_TEST_POSTGRES_URL="${PASARELA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_answers "$PASARELA_TEST_POSTGRES_URL"; then
  echo "no PostgreSQL answers at $PASARELA_TEST_POSTGRES_URL: starting a throwaway one" >&2
  start_scratch_postgres
fi
# `test-support`: the generators and scratch schemas the tests use, which a
# release build leaves out (Cargo.toml, ARCHITECTURE.md).
cargo test --locked --features test-support "$@"
# The optional AWS support (cargo feature `aws`, docs/AWS.md): build it and
# run its tests against moto (Transfer sync; the S3 path, whose two-daemon
# case needs `test-support`'s scratch schemas), without rerunning everything else.
# Fuzzing itself (scripts/fuzz-smoke.sh) is not part of the test run: the
# `it` binary's fuzz_replay module replays every committed fuzz input.
if [ $# -eq 0 ]; then
  cargo test --locked --features aws,test-support --test aws_sync --test aws_s3
fi
