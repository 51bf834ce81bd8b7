#!/usr/bin/env bash
# What uepoll's trace points cost while tracing is off (issue 7): builds the benchmark twice,
# Release, with the trace points compiled in (the normal build) and compiled out
# (-DUEPOLL_TRACE_POINTS=OFF), then runs the fast-path rows of bench/epoll_bench on each,
# alternating, and prints the uepoll medians and their ratio (in / out; 1.00 = no cost).
#
#   scripts/trace_overhead.sh [rounds]     (default 3 alternations; about a minute each)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${1:-3}
filter='(EventfdWriteWaitRead|PipeWriteWaitRead|WaitNothingReady|Ctl)/uepoll'

for variant in in out; do
  flag=ON
  [[ $variant == out ]] && flag=OFF
  cmake -S . -B "build/trace-$variant" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DUEPOLL_BUILD_TESTS=OFF -DUEPOLL_BUILD_EXAMPLES=OFF -DUEPOLL_BUILD_TOOLS=OFF \
    -DUEPOLL_TRACE_POINTS=$flag >/dev/null
  cmake --build "build/trace-$variant" --target epoll_bench -j "$(nproc)" >/dev/null
done

results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
for ((r = 0; r < rounds; ++r)); do
  for variant in in out; do
    "build/trace-$variant/bench/epoll_bench" --benchmark_filter="$filter" \
      --benchmark_min_time=0.2 --benchmark_format=csv 2>/dev/null |
      grep '^"' >>"$results/$variant"
  done
done

python3 - "$results/in" "$results/out" <<'PY'
import csv, statistics, sys
def load(path):  # name, iterations, real_time, cpu_time, ...: the real time in ns
    rows = {}
    for rec in csv.reader(open(path)):
        rows.setdefault(rec[0], []).append(float(rec[2]))
    return rows
tin, tout = load(sys.argv[1]), load(sys.argv[2])
print(f"{'uepoll row':50} {'points in':>10} {'out':>10} {'in/out':>7}")
for name in tin:
    a, b = statistics.median(tin[name]), statistics.median(tout[name])
    print(f"{name:50} {a:9.1f}ns {b:9.1f}ns {a / b:7.3f}")
PY
