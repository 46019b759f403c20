#!/usr/bin/env bash
# Build the cargo-fuzz targets and run each for a short while (default 30 s).
#   scripts/fuzz-smoke.sh            # every target, 30 s each
#   SECONDS_EACH=600 scripts/fuzz-smoke.sh dian_validate
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); nightly features come
# from RUSTC_BOOTSTRAP=1 on the stable toolchain. Corpora live in fuzz/corpus/.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_EACH=${SECONDS_EACH:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cd "$REPO/fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  echo "== $t (${SECONDS_EACH}s)" >&2
  seeds=(); [ -d "seeds/$t" ] && seeds=("seeds/$t")
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "corpus/$t" "${seeds[@]}" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10
done
