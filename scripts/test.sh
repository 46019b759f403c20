#!/usr/bin/env bash
# Install what is needed and run the whole test suite: unit tests, integration
# tests against the real daemon, and the shipped rule tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# git does not keep file modes, and ssh refuses a private key others can read.
chmod 600 fixtures/keys/demo_ed25519
cargo test --locked "$@"
