#!/bin/sh
# Reproduces the tables of docs/performance.md: a release build (ipcscope-bench with the malloc
# interposer library it counts allocations with, and, beside them,
# the ipcscope binary whose `serve --echo` the bench measures), then the whole measurement RUNS
# times (default 3) without pinning and RUNS times with --pin. Extra arguments go to both runs
# (e.g. --json). Takes about 2 minutes per run.
set -eu
cd "$(dirname "$0")/.."
scratch="${SCRATCH:-.build-release}"
swift build -c release --scratch-path "$scratch" --product ipcscope
swift build -c release --scratch-path "$scratch" --product ipcscope-bench
bench="$scratch/release/ipcscope-bench"
echo "== unpinned (the scheduler places server and clients) =="
"$bench" --runs "${RUNS:-3}" "$@"
echo
echo "== --pin (server on CPU 0, clients on CPU 1) =="
"$bench" --runs "${RUNS:-3}" --pin "$@"
