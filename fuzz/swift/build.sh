#!/usr/bin/env bash
# Builds ipcscope-libfuzz for fuzzing: every module it uses instrumented for libFuzzer's coverage and
# AddressSanitizer (swiftc -sanitize=fuzzer,address, linked by lld), with -D LIBFUZZER so its main
# hands over to libFuzzer's driver. A separate scratch path (FUZZ_SWIFT_SCRATCH, default
# .build-fuzz) keeps the normal .build untouched. Prints the binary's path on its last line.
#
#   fuzz/swift/build.sh            release build (-O: the speed libFuzzer wants)
#   FUZZ_SWIFT_CONFIG=debug ...    debug build (quicker to build, slower to run)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${FUZZ_SWIFT_SCRATCH:-$root/.build-fuzz}"
config="${FUZZ_SWIFT_CONFIG:-release}"
cd "$root"
swift build --scratch-path "$scratch" -c "$config" --product ipcscope-libfuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -D -Xswiftc LIBFUZZER -Xswiftc -use-ld=lld -Xcc -fsanitize=fuzzer-no-link,address >&2
echo "$scratch/$config/ipcscope-libfuzz"
