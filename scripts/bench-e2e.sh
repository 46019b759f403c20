#!/usr/bin/env bash
# End-to-end benchmark (issue #9): N invoices over SFTP by C OpenSSH clients into
# the daemon with certificates and e-mail on. Prints a JSON report.
#
#   scripts/bench-e2e.sh                           # 10,000 invoices, 20 clients, SQLite
#   FILES=2000 CLIENTS=20 scripts/bench-e2e.sh
#   STORE_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench-e2e.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
bash "$REPO/scripts/install-deps.sh" >&2
(cd "$REPO" && cargo build --release --locked --bin pasarela >&2)
args=(--bin "$REPO/target/release/pasarela" --files "${FILES:-10000}" --clients "${CLIENTS:-20}"
      --workers "${WORKERS:-4}" --synchronous "${SYNCHRONOUS:-full}" --dir "${BENCH_DIR:-/tmp/pasarela-e2e}")
if [ -n "${STORE_URL:-}" ]; then args+=(--store-url "$STORE_URL"); fi
exec python3 "$REPO/scripts/bench_e2e.py" "${args[@]}"
