#!/usr/bin/env bash
# The S3 path beside the SFTP path (issue 20): N invoices through each, one
# daemon (release, `--features aws`), moto standing in for S3 + SQS. Prints a
# JSON report (docs/BENCHMARKS.md).
#
#   scripts/bench-s3.sh                     # 2,000 invoices each way, 8 uploaders
#   FILES=500 CLIENTS=4 scripts/bench-s3.sh
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
bash "$REPO/scripts/install-deps.sh" >&2
(cd "$REPO" && cargo build --release --locked --features aws --bin pasarela >&2)
exec python3 "$REPO/scripts/bench_s3.py" --bin "$REPO/target/release/pasarela" \
  --files "${FILES:-2000}" --clients "${CLIENTS:-8}" --workers "${WORKERS:-4}" \
  --dir "${BENCH_DIR:-/tmp/pasarela-s3}"
