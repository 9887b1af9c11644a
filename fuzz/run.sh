#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 60) each, two at a time, and prints libFuzzer's
# final line per target. Works on the stable toolchain through RUSTC_BOOTSTRAP (see README.md).
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_EACH="${1:-60}"
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
TARGETS=(job_state stream_response worker_job rest_models api_error sse config_file)
cargo fuzz build -O
mkdir -p logs
run() {
  local t="$1" dict=() extra=()
  [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
  [ -d "regressions/$t" ] && extra=("regressions/$t")
  mkdir -p "corpus/$t"
  nice -n 19 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" "${extra[@]}" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 "${dict[@]}" >"logs/$t.log" 2>&1
}
status=0
for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
  pids=()
  for t in "${TARGETS[@]:i:2}"; do run "$t" & pids+=($!); done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
for t in "${TARGETS[@]}"; do
  printf '%-16s %s\n' "$t" "$(grep -E '^Done [0-9]+ runs' "logs/$t.log" || echo 'FAILED, see fuzz/logs/'"$t"'.log')"
  grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "logs/$t.log" | tr '\n' ' '; echo
done
exit "$status"
