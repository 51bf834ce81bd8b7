#!/usr/bin/env bash
# Installs the Debian packages uepoll needs that are missing (apt-get runs only then).
#
#   scripts/deps.sh build   what building the library and `uepoll` needs (scripts/demo.sh)
#   scripts/deps.sh test    everything scripts/test.sh and CI use
#
# Needs root or sudo when something is missing. UEPOLL_NO_INSTALL=1 skips the step.
set -euo pipefail

build_packages=(
  cmake ninja-build g++      # the default preset
  libgtest-dev libgmock-dev  # Debian's GTest CMake package exports gmock too: both needed
  libbenchmark-dev           # bench/ and `uepoll bench` (one Google Benchmark registration)
  libcli11-dev               # the `uepoll` command's command line
  nlohmann-json3-dev         # `uepoll trace`: the JSON lines of trace records, both ways
  liburing-dev               # the kernel-readiness ring (optional: without it, syscall mode)
  libuv1-dev libboost-dev    # the producers -> loop table's peers (libuv, Boost.Asio; and
                             #   libevent-dev below): skipped with a message when absent
)
test_packages=(
  clang libclang-rt-14-dev   # the asan and tsan presets and their runtimes
  chromium                   # tests/unit/trace_test.cc renders `uepoll trace --html` headless
  groff-base man-db          # docs.check: every man page through groff -ww and man -l
  pkg-config                 # tests/packaging: the consumer built against uepoll.pc
  libevent-dev               # examples/libevent_loop.cc: libevent watching a uepoll instance
  python3 dpkg-dev           # tests/programs: its driver; apt-get source unpacks libevent
  manpages-dev               # tests/programs: the timerfd_create(2) and eventfd(2) examples
  libpython3.11-testsuite    # tests/programs: CPython's own epoll/selectors/asyncio tests
  nodejs nginx redis-server  # tests/programs: the real programs run unchanged through the
  memcached tmux             #   preload library (apps/apps.py); nginx for its master,
                             #   workers and reload, tmux for its forked server
  spin                       # tests/model: the wait/wake protocol model (src/core/waiter.pml)
)

case "${1:-test}" in
  build) packages=("${build_packages[@]}") ;;
  test) packages=("${build_packages[@]}" "${test_packages[@]}") ;;
  *)
    echo "usage: scripts/deps.sh [build|test]" >&2
    exit 2
    ;;
esac

[[ "${UEPOLL_NO_INSTALL:-0}" == 1 ]] && exit 0
if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "deps.sh: not a Debian-like system; install: ${packages[*]}" >&2
  exit 0
fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "deps.sh: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
