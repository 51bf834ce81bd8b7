#!/usr/bin/env bash
# Runs the differential fuzzer (tests/fuzz, docs/testing.md) for a bounded time, starting
# from the committed corpus, and fails on any divergence, crash, leak or hang.
#
# Usage: scripts/fuzz.sh             fuzz for UEPOLL_FUZZ_SECONDS (default 120)
#        scripts/fuzz.sh --regen     regenerate tests/fuzz/corpus: fuzz from it for
#                                    UEPOLL_FUZZ_SECONDS, then minimise what it has plus what
#                                    was found into it (libFuzzer -merge=1, edges only)
# Environment:
#   UEPOLL_FUZZ_SECONDS  total fuzzing time (default 120)
#   JOBS                 parallel build jobs (default 2)
# Builds the `fuzz` preset (clang, libFuzzer, ASan+UBSan) in build/fuzz; the run's new
# inputs and any crashing input go to build/fuzz/fuzz-run/.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${UEPOLL_FUZZ_SECONDS:-120}
jobs=${JOBS:-2}
regen=0
if [[ ${1:-} == --regen ]]; then
  regen=1
elif [[ $# -gt 0 ]]; then
  echo "usage: $0 [--regen]" >&2
  exit 2
fi

cmake --preset fuzz
cmake --build --preset fuzz -j "$jobs" --target uepoll_fuzz
fuzzer=build/fuzz/tests/fuzz/uepoll_fuzz
corpus=tests/fuzz/corpus
work=build/fuzz/fuzz-run
rm -rf "$work"
mkdir -p "$work/new" "$work/artifacts"

# New inputs go to the first directory; the committed corpus is only read.
echo "=== fuzzing for ${seconds}s from $corpus"
status=0
"$fuzzer" "$work/new" "$corpus" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
  -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/fuzz.log" 2>&1 || status=$?
grep -E '^#[0-9]+ +DONE|^stat::' "$work/fuzz.log" || true
if [[ $status -ne 0 ]]; then
  # The divergence report (both sides' calls) and the sanitizer's, then the input.
  sed -n '/==== uepoll differential fuzzer/,$p;/ERROR:/,$p' "$work/fuzz.log" | head -200
  echo "FAILED: the fuzzer exited with $status; input(s): $(ls "$work/artifacts")"
  echo "replay: $fuzzer $work/artifacts/<file>   (or build/<preset>/tests/fuzz/uepoll_fuzz_replay)"
  exit 1
fi

if [[ $regen -eq 1 ]]; then
  echo "=== minimising $corpus + new inputs"
  mkdir -p "$work/merged"
  "$fuzzer" -merge=1 -use_counters=0 "$work/merged" "$corpus" "$work/new" >"$work/merge.log" 2>&1
  rm -f "$corpus"/*
  cp "$work/merged"/* "$corpus"/
  echo "$corpus: $(ls "$corpus" | wc -l) inputs"
fi
echo "fuzzing passed: no divergence in ${seconds}s"
