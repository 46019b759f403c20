#!/usr/bin/env bash
# Install what is needed and run the whole test suite: unit tests, integration
# tests against the real daemon, and the shipped rule tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo test --locked "$@"
