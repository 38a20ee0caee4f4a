#!/bin/bash
# One CPU-hour of libFuzzer per target (docs/reliability.md, "Recorded
# runs"), two targets at a time, at nice 19 so builds beside it go first.
# Each run stops with SIGINT (final stats printed) once its process has
# used 3,600 s of CPU, counted from /proc, not wall time.
#
#   tools/fuzz/long.sh OUT_DIR [TARGET...]     (default: every target)
#
# Run it from a clean clone: the instrumented build goes to fuzz/target.
# OUT_DIR gets each target's log, CPU ticks and the corpus it grew.
set -u
OUT=$(realpath -m "${1:?usage: tools/fuzz/long.sh OUT_DIR [TARGET...]}")
shift
FUZZ_DIR=$(cd "$(dirname "$0")/../../fuzz" && pwd)
CPU_TICKS=${CPU_TICKS:-360000}   # 3,600 s at 100 ticks/s
export RUSTC_BOOTSTRAP=1
mkdir -p "$OUT"
cd "$FUZZ_DIR"
command -v cargo-fuzz >/dev/null || nice -n 19 cargo install cargo-fuzz --locked --version 0.13.2
nice -n 19 cargo fuzz build -O > "$OUT/build.log" 2>&1 || { echo "build failed: $OUT/build.log"; exit 1; }
BIN="$FUZZ_DIR/target/x86_64-unknown-linux-gnu/release"
if [ $# -gt 0 ]; then targets=("$@"); else targets=($(ls fuzz_targets | sed 's/\.rs$//')); fi

run_one() {
  local t=$1
  mkdir -p "$OUT/corpus/$t"
  date -u +%FT%TZ > "$OUT/$t.start"
  nice -n 19 "$BIN/$t" "$OUT/corpus/$t" "$FUZZ_DIR/corpus/$t" -print_final_stats=1 \
    -max_total_time=1000000 -timeout=30 -rss_limit_mb=4096 > "$OUT/$t.log" 2>&1 &
  local pid=$! ticks
  while kill -0 $pid 2>/dev/null; do
    sleep 20
    ticks=$(awk '{print $14+$15}' /proc/$pid/stat 2>/dev/null || echo 0)
    echo "$ticks" > "$OUT/$t.ticks"
    [ "${ticks:-0}" -ge "$CPU_TICKS" ] && kill -INT $pid
  done
  wait $pid; echo "exit $?" >> "$OUT/$t.log"
  date -u +%FT%TZ > "$OUT/$t.end"
}

# Two at a time, in order.
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run_one "${targets[i]}" &
  [ $((i + 1)) -lt ${#targets[@]} ] && run_one "${targets[i + 1]}" &
  wait
done
echo "done: $OUT"
