#!/usr/bin/env bash
# End-to-end benchmark (issues #9 and #21): N registrable invoices over SFTP by
# C OpenSSH clients into the daemon with certificates on, on each store and
# with the certificate e-mail on and off. Prints each run's JSON report, then
# one summary table: invoices/s, latency p50/p99, daemon CPU ms per invoice,
# PostgreSQL round trips per invoice, and the CPU of the harness beside it.
#
#   scripts/bench-e2e.sh                          # 3,000 invoices, 8 clients, SQLite and PostgreSQL, mail on and off
#   FILES=10000 CLIENTS=20 scripts/bench-e2e.sh
#   STORES=sqlite MAIL=on scripts/bench-e2e.sh    # one store, one mode
#   RATE=200 scripts/bench-e2e.sh                 # offered load (files/s) instead of as fast as possible
#   STORE_URL=postgres://... scripts/bench-e2e.sh # another PostgreSQL (default: 127.0.0.1:5432/test, schema `bench`)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${SKIP_SETUP:-}" ]; then
  bash "$REPO/scripts/install-deps.sh" >&2
  (cd "$REPO" && cargo build --release --locked --bin pasarela >&2)
fi
BIN=${BIN:-$REPO/target/release/pasarela}
PG_BASE=${STORE_URL:-postgres://postgres@127.0.0.1:5432/test}
OUT=$(mktemp -d /tmp/pasarela-e2e-reports.XXXXXX)
reports=()
for store in ${STORES:-sqlite postgres}; do
  for mail in ${MAIL:-on off}; do
    args=(--bin "$BIN" --files "${FILES:-3000}" --clients "${CLIENTS:-8}" --workers "${WORKERS:-16}"
          --synchronous "${SYNCHRONOUS:-full}" --dir "${BENCH_DIR:-/tmp/pasarela-e2e}"
          --mail "$mail" --sink "${SINK:-discard}" --json-out "$OUT/$store-$mail.json")
    if [ -n "${RATE:-}" ]; then args+=(--rate "$RATE"); fi
    if [ "$store" = postgres ]; then
      # A scratch schema, dropped and made again before each run.
      psql "$PG_BASE" -q -c "DROP SCHEMA IF EXISTS bench CASCADE" -c "CREATE SCHEMA bench" >&2
      sep='?'; case "$PG_BASE" in *\?*) sep='&';; esac
      args+=(--store-url "${PG_BASE}${sep}options=-c%20search_path%3Dbench")
    fi
    echo "== $store, mail $mail" >&2
    python3 "$REPO/scripts/bench_e2e.py" "${args[@]}"
    reports+=("$OUT/$store-$mail.json")
  done
done
python3 - "${reports[@]}" <<'EOF'
import json, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
print()
print("| store | mail | invoices | invoices/s | p50 ms | p99 ms | daemon CPU ms/invoice | PG round trips/invoice | PostgreSQL CPU ms/inv | SMTP sink ms/inv | sftp clients ms/inv | whole machine ms/inv | certificates / e-mails |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    c = r["cpu_ms_per_invoice"]
    store = "PostgreSQL" if r["store"] == "postgres" else "SQLite"
    print(f"| {store} | {r['mail']} | {r['files']} | {r['invoices_per_s_sustained']} | {r['latency_ms_p50']} | {r['latency_ms_p99']} "
          f"| {c['daemon']} | {r['store_round_trips_per_invoice'] if r['store_round_trips_per_invoice'] is not None else '—'} "
          f"| {c['postgres_server'] if c['postgres_server'] is not None else '—'} | {c['smtp_sink']} | {c['sftp_clients']} | {c['whole_machine']} "
          f"| {r['certificates']} / {r['emails']} |")
EOF
