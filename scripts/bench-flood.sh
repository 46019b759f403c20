#!/usr/bin/env bash
# Hostile-client benchmark (issue 16): the upload→result latency (p50/p99) of
# one account uploading invoices at a fixed offered rate with OpenSSH `sftp`,
# first alone, then while a second account floods the SFTP server with
# sessions, handles and unread requests (tests/py/flood_client.py).
# Prints one JSON report per run; the p99 pair is what docs/BENCHMARKS.md records.
#
#   scripts/bench-flood.sh                       # 300 invoices, 4 clients, 10/s, release build
#   FILES=600 RATE=20 scripts/bench-flood.sh
#   PROFILE=debug scripts/bench-flood.sh         # reuse the debug build (slower daemon)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  (cd "$REPO" && cargo build --release --locked --bin pasarela >&2)
else
  (cd "$REPO" && cargo build --locked --bin pasarela >&2)
fi
BIN="${CARGO_TARGET_DIR:-$REPO/target}/$PROFILE/pasarela"
common=(--bin "$BIN" --files "${FILES:-300}" --clients "${CLIENTS:-4}" --rate "${RATE:-10}"
        --workers "${WORKERS:-2}" --synchronous "${SYNCHRONOUS:-normal}" --timeout "${TIMEOUT:-900}")
for mode in quiet flood; do
  extra=()
  if [ "$mode" = flood ]; then extra+=(--flood); fi
  echo "== $mode" >&2
  python3 "$REPO/scripts/bench_e2e.py" "${common[@]}" --dir "${BENCH_DIR:-/tmp/pasarela-flood}-$mode" "${extra[@]}" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"mode": sys.argv[1], **{k: r[k] for k in ("files","offered_rate_per_s","latency_ms_p50","latency_ms_p99","latency_ms_max","latency_samples","results_wall_s")}}))' "$mode"
done
