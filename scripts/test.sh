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
#   UEPOLL_BUILD_AFTER     "preset [target]" to configure and build beside the last preset's
#                          tests, at nice 19 (.ci/run: "fuzz uepoll_fuzz", for scripts/fuzz.sh)
# Every preset is built and tested even if an earlier one fails; the exit status is
# non-zero if any failed. Build trees: build/<preset>. Each preset after the first is built
# beside the previous one's tests, at nice 19 (its output is shown when it is waited for).
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

# Sets the niceness of a process and its descendants (lowering it needs root: else kept).
renice_tree() {
  renice -n "$1" -p "$2" >/dev/null 2>&1 || true
  local child
  for child in $(pgrep -P "$2" || true); do
    renice_tree "$1" "$child"
  done
}

# Configures and builds one preset: status 1 if the configure failed, 2 if the build did.
build_preset() {
  echo "=== [$1] configure"
  cmake --preset "$1" || return 1
  echo "=== [$1] build"
  cmake --build --preset "$1" -j "$jobs" || return 2
}

failed=()
summary=()
total_start=$SECONDS
mkdir -p build
next_pid=
after=${UEPOLL_BUILD_AFTER:-}
after_pid=
for idx in "${!presets[@]}"; do
  preset=${presets[$idx]}
  start=$SECONDS
  status=0
  if [[ -z $next_pid ]]; then
    build_preset "$preset" || status=$?
  else
    # Nothing to give way to any more: back to normal priority for the rest of it.
    renice_tree 0 "$next_pid"
    wait "$next_pid" || status=$?
    cat "$next_log"
  fi
  build_time=$((SECONDS - start))
  # The next preset is configured and built while this one's tests run, at the lowest
  # priority (nice 19): the tests leave about half of the cores idle (they wait on
  # threads, timers and child processes), which the build takes without slowing them.
  next_pid=
  if [[ $((idx + 1)) -lt ${#presets[@]} ]]; then
    next=${presets[$((idx + 1))]}
    next_log=build/$next.build.log
    (renice -n 19 -p "$BASHPID" >/dev/null && build_preset "$next") >"$next_log" 2>&1 &
    next_pid=$!
  elif [[ -n $after ]]; then
    # UEPOLL_BUILD_AFTER: the same beside the last preset's tests (.ci/run: the fuzzer).
    read -r after_preset after_target <<<"$after"
    after_log=build/$after_preset.build.log
    (renice -n 19 -p "$BASHPID" >/dev/null && cmake --preset "$after_preset" &&
      cmake --build --preset "$after_preset" -j "$jobs" ${after_target:+--target "$after_target"}) \
      >"$after_log" 2>&1 &
    after_pid=$!
  fi
  if [[ $status -eq 1 ]]; then
    failed+=("$preset (configure)")
    continue
  elif [[ $status -ne 0 ]]; then
    failed+=("$preset (build)")
    continue
  fi
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
  build_note=
  [[ $idx -gt 0 ]] && build_note=" (after the previous tests: the rest beside them)"
  summary+=("$preset: build ${build_time}s$build_note, test $((SECONDS - test_start))s")
done

if [[ -n $after_pid ]]; then
  after_status=0
  renice_tree 0 "$after_pid"
  wait "$after_pid" || after_status=$?
  echo "=== [$after_preset] configure and build ${after_target}"
  cat "$after_log"
  [[ $after_status -eq 0 ]] || failed+=("$after_preset (build)")
fi

echo "=== summary (total $((SECONDS - total_start))s)"
for line in "${summary[@]}"; do
  echo "  $line"
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all presets passed: ${presets[*]}"
