#!/usr/bin/env bash
# The main job: build uepoll and run its side-by-side demonstration against the kernel.
#
#   scripts/demo.sh            install what is missing (Debian/Ubuntu), build, run `uepoll demo`
#   scripts/demo.sh --help     any arguments are passed to build/default/tools/uepoll
#
# Build directory: build/default (the "default" CMake preset when CMakePresets.json has one,
# otherwise an optimised Ninja build there). Packages: scripts/deps.sh (UEPOLL_NO_INSTALL=1 skips).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build/default"

configure() {
  if [[ -f CMakePresets.json ]] && grep -q '"name": *"default"' CMakePresets.json; then
    cmake --preset default
  elif [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
}

bash "$root/scripts/deps.sh" build
configure
jobs="$(nproc 2>/dev/null || echo 2)"
cmake --build "$build" --target uepoll-cli -j "$jobs"
exe="$build/tools/uepoll"
[[ -x "$exe" ]] || exe="$build/uepoll"  # before the binary moved to tools/
if [[ $# -eq 0 ]]; then
  set -- demo
fi
exec "$exe" "$@"
