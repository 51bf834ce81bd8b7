#!/usr/bin/env bash
# Model-checks a Promela model with spin (ctest label `model`, see CMakeLists.txt).
#
# Usage: check_model.sh <holds|rejected> <safety|liveness> <model.pml> [-DNAME[=value]...]
#   safety    assertions and invalid end states (pan -DSAFETY, exhaustive, compressed)
#   liveness  the model's ltl claim, acceptance cycles under weak fairness (pan -a -f)
#   holds     succeeds only if the search completed and found no error
#   rejected  succeeds only if spin found an error (a deliberately broken variant)
# The -D options go to spin's preprocessor (model variants and sizes).
set -euo pipefail

expect=$1 kind=$2 model=$3
shift 3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$model" "$work/model.pml"
cd "$work"

defines=("$@")
# A broken variant fails within a few hundred states: compile it quickly, unoptimised.
cflags=(-O2 -DCOLLAPSE)
[[ $expect == rejected ]] && cflags=(-O0 -DCOLLAPSE)
run=(./pan -m400000)
if [[ $kind == liveness ]]; then
  defines+=(-DFAIR_LOCKS -DLIVENESS_ONLY)
  cflags+=(-DNFAIR=3)
  run+=(-a -f)
else
  cflags+=(-DSAFETY -DNOCLAIM)
fi
spin -a "${defines[@]}" model.pml > spin.log 2>&1 || { cat spin.log; exit 1; }
${CC:-cc} "${cflags[@]}" -o pan pan.c
"${run[@]}" > pan.log 2>&1 || true
grep -E "errors:|states, stored|transitions|total actual memory|elapsed|pan:1:|max search depth" pan.log || true

errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.log)
if [[ -z $errors ]]; then
  echo "check_model: no result from pan"
  cat pan.log
  exit 1
fi
if grep -q "max search depth too small" pan.log; then
  echo "check_model: search incomplete (depth limit)"
  exit 1
fi
if [[ $expect == holds ]]; then
  [[ $errors -eq 0 ]] || { echo "check_model: the model has an error (${defines[*]})"; exit 1; }
  echo "check_model: $kind holds (${defines[*]})"
else
  [[ $errors -gt 0 ]] || { echo "check_model: the broken variant was NOT rejected (${defines[*]})"; exit 1; }
  echo "check_model: broken variant rejected as expected (${defines[*]})"
fi
