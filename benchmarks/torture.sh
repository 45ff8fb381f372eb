#!/bin/sh
# The long reliability runs, with the figures docs/reliability.md quotes.
#   benchmarks/torture.sh [TORTURE_SECONDS] [FUZZ_CASES] [SEED] [LIVE_CASES]
# Builds release binaries, runs the torture driver, then the fuzzer over every target
# (the live targets, shm and duration, get LIVE_CASES: each duration case starts a process).
set -eu
seconds=${1:-600}
cases=${2:-1000000}
seed=${3:-20261126}
live=${4:-2000}
cd "$(dirname "$0")/.."
swift build -c release --product ipcscope
swift build -c release --product IPCScopeTestHelper
swift build -c release --product ipcscope-torture
swift build -c release --product ipcscope-fuzz
echo "== ipcscope-torture --seconds $seconds --clients 6 --seed $seed"
.build/release/ipcscope-torture --seconds "$seconds" --clients 6 --seed "$seed" || torture_failed=1
echo "== ipcscope-fuzz --target all --cases $cases --live-cases $live --seed $seed"
.build/release/ipcscope-fuzz --target all --cases "$cases" --live-cases "$live" --seed "$seed" || fuzz_found=1
[ -z "${torture_failed:-}" ] && [ -z "${fuzz_found:-}" ]
