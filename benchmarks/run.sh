#!/bin/sh
# Reproduces the tables of docs/performance.md: a release build of ipcscope-bench, then the
# whole measurement RUNS times (default 3) without pinning and RUNS times with --pin.
# Extra arguments go to both runs (e.g. --json). Takes about 80 s per run.
set -eu
cd "$(dirname "$0")/.."
swift build -c release --scratch-path .build-bench --product ipcscope-bench
bench=.build-bench/release/ipcscope-bench
echo "== unpinned (the scheduler places server and clients) =="
"$bench" --runs "${RUNS:-3}" "$@"
echo
echo "== --pin (server on CPU 0, clients on CPU 1) =="
"$bench" --runs "${RUNS:-3}" --pin "$@"
