#!/usr/bin/env bash
# Builds uepoll and runs its whole test suite in each CMake preset (CMakePresets.json):
#
#   default   RelWithDebInfo with the system compiler, warnings as errors
#   asan      AddressSanitizer + UndefinedBehaviorSanitizer (clang)
#   tsan      ThreadSanitizer (clang)
#
# Usage: scripts/test.sh [preset...]          (no argument: all three, in that order)
# Installs missing Debian packages first (scripts/deps.sh test) and fetches the Debian source
# packages tests/programs builds (tests/programs/fetch_sources.sh); UEPOLL_NO_INSTALL=1 skips both.
# Environment:
#   JOBS                   parallel build and test jobs (default 2)
#   UEPOLL_STRESS_SECONDS  active time of each stress test (default 1)
#   UEPOLL_TORTURE_SECONDS active time of the torture suite, per preset (default 20)
# Every preset is built and tested even if an earlier one fails; the exit status is
# non-zero if any failed. Build trees: build/<preset>.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/deps.sh test
# The sources tests/programs builds (Debian source packages, into build/sources).
if [[ "${UEPOLL_NO_INSTALL:-0}" != 1 ]] && ! bash tests/programs/fetch_sources.sh; then
  [[ -n "${CI:-}" ]] && exit 1
  echo "test.sh: could not fetch the sources of tests/programs; those tests are left out" >&2
fi

presets=("$@")
if [[ ${#presets[@]} -eq 0 ]]; then
  presets=(default asan tsan)
fi
jobs=${JOBS:-2}

failed=()
summary=()
total_start=$SECONDS
for preset in "${presets[@]}"; do
  start=$SECONDS
  echo "=== [$preset] configure"
  if ! cmake --preset "$preset"; then
    failed+=("$preset (configure)")
    continue
  fi
  echo "=== [$preset] build"
  if ! cmake --build --preset "$preset" -j "$jobs"; then
    failed+=("$preset (build)")
    continue
  fi
  build_time=$((SECONDS - start))
  echo "=== [$preset] test"
  test_start=$SECONDS
  runner=()
  # clang 14's ThreadSanitizer cannot map its shadow memory when the kernel randomises
  # mmap with more than 28 bits (newer hosts set vm.mmap_rnd_bits=32): run without ASLR.
  rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
  if [[ $preset == tsan && $rnd_bits -gt 28 ]]; then
    echo "vm.mmap_rnd_bits=$rnd_bits: running the ThreadSanitizer tests under setarch -R"
    runner=(setarch "$(uname -m)" -R)
  fi
  # The blocked-waiter tests spend nearly all their time asleep (one of them: 15 s, 0.9 s of
  # CPU), waiting for threads to go quiet: a second ctest runs them beside the others
  # instead of in their $jobs slots. It ends well before the main run, so the main run's
  # Testing/ logs (LastTestsFailed.log, cost data) are the ones kept; its output is shown
  # after.
  asleep='^BlockingWaiters\.'
  asleep_log=build/$preset/asleep-tests.log
  "${runner[@]}" ctest --preset "$preset" -j "$jobs" -R "$asleep" --output-on-failure \
    >"$asleep_log" 2>&1 &
  asleep_pid=$!
  if ! "${runner[@]}" ctest --preset "$preset" -j "$jobs" -E "$asleep" --output-on-failure; then
    failed+=("$preset (test)")
  fi
  asleep_status=0
  wait "$asleep_pid" || asleep_status=$?
  echo "=== [$preset] the tests run beside them ($asleep)"
  cat "$asleep_log"
  if [[ $asleep_status -ne 0 ]]; then
    failed+=("$preset (test: $asleep)")
  fi
  summary+=("$preset: build ${build_time}s, test $((SECONDS - test_start))s")
done

echo "=== summary (total $((SECONDS - total_start))s)"
for line in "${summary[@]}"; do
  echo "  $line"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all presets passed: ${presets[*]}"
