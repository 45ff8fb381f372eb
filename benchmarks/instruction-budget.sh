#!/bin/sh
# Instructions per call on the hot path (64-byte echo, one client), counted by valgrind's
# callgrind for each side: `ipcscope-bench --instructions`, in the debug build (what `swift test`
# holds to benchmarks/instruction-budget.json, InstructionBudgetTests) and in the release build
# (what users run; printed here, held by `swift test -c release`). Then the committed budget, to
# compare or to update. See docs/performance.md, "Instruction budget".
#
#   benchmarks/instruction-budget.sh [debug|release|both]     (default both)
#
# Needs valgrind and objcopy (apt-get install valgrind binutils). A count does not depend on the
# host's load: no need for a quiet machine.
set -eu
cd "$(dirname "$0")/.."
which="${1:-both}"
calls="${CALLS:-2000}"
if [ "$which" = debug ] || [ "$which" = both ]; then
  swift build --product ipcscope-bench
  echo "== debug =="
  .build/debug/ipcscope-bench --instructions --calls "$calls"
fi
if [ "$which" = release ] || [ "$which" = both ]; then
  scratch="${SCRATCH:-.build-release}"
  swift build -c release --scratch-path "$scratch" --product ipcscope-bench
  echo "== release =="
  "$scratch/release/ipcscope-bench" --instructions --calls "$calls"
fi
echo
echo "== the budget (benchmarks/instruction-budget.json) =="
cat benchmarks/instruction-budget.json
