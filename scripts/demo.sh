#!/usr/bin/env bash
# The main job: build uepoll and run its side-by-side demonstration against the kernel.
#
#   scripts/demo.sh            install what is missing (Debian/Ubuntu), build, run `uepoll demo`
#   scripts/demo.sh --help     any arguments are passed to build/default/tools/uepoll
#
# Build directory: build/default (the "default" CMake preset when CMakePresets.json has one,
# otherwise an optimised Ninja build there). Set UEPOLL_NO_INSTALL=1 to skip the package step.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="$root/build/default"

# Debian packages the build needs; apt-get runs only when one of them is missing.
packages=(cmake ninja-build g++ libgtest-dev libgmock-dev libbenchmark-dev)

install_missing() {
  [[ "${UEPOLL_NO_INSTALL:-0}" == 1 ]] && return 0
  command -v dpkg-query >/dev/null 2>&1 || {
    echo "demo.sh: not a Debian-like system; install: ${packages[*]}" >&2
    return 0
  }
  local missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "demo.sh: installing ${missing[*]}" >&2
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "demo.sh: need root (or sudo) to install: ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y "${missing[@]}"
}

configure() {
  if [[ -f CMakePresets.json ]] && grep -q '"name": *"default"' CMakePresets.json; then
    cmake --preset default
  elif [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
}

install_missing
configure
jobs="$(nproc 2>/dev/null || echo 2)"
cmake --build "$build" --target uepoll-cli -j "$jobs"
exe="$build/tools/uepoll"
[[ -x "$exe" ]] || exe="$build/uepoll"  # before the binary moved to tools/
if [[ $# -eq 0 ]]; then
  set -- demo
fi
exec "$exe" "$@"
