#!/usr/bin/env bash
# Coverage-guided fuzzing of the Swift parsers of untrusted bytes with libFuzzer (swiftc -sanitize=fuzzer,address).
#
#   fuzz/swift/run.sh [TARGET...]                 build (fuzz/swift/build.sh), fuzz each target FUZZ_SECONDS (60)
#   fuzz/swift/run.sh --update-corpus [TARGET...] the same, then merge what the run found into fuzz/corpus/swift-TARGET
#   fuzz/swift/run.sh --replay [TARGET...]        the plain build (no sanitizer): every input of fuzz/corpus/swift-TARGET
#                                                 and fuzz/crashes/swift-TARGET once; exit 1 when one crashes
#   fuzz/swift/run.sh --build-only                build only; prints the binary's path
#   fuzz/swift/run.sh --seeds                     remake fuzz/corpus/swift-*/ with the real code (a live server, the
#                                                 pcapng writer, the schema encoder)
#
# Targets (Sources/IPCScopeLibFuzz/Targets.swift): section, pcapng, schema, syntax, agent (default: all).
# `make fuzz` runs the first form after the C library's targets (fuzz/run.sh).
#
# Environment: FUZZ_SECONDS (60), FUZZ_OUT (.build/cfuzz: the scratch corpus, logs), FUZZ_SWIFT_SCRATCH
# (.build-fuzz: the instrumented build), FUZZ_FLAGS (more libFuzzer flags), FUZZ_KEEP_GOING=1 (fork mode:
# keep fuzzing after a crash, keeping each one).
#
# The committed corpus is read, never written (unless --update-corpus); new inputs go to the scratch corpus
# FUZZ_OUT/corpus/swift-TARGET. Crashes and timeouts are kept in fuzz/crashes/swift-TARGET/ (commit them with
# the fix: EndToEndTests' SwiftCoverageFuzzTests replays them).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fuzz="$(dirname "$here")"
root="$(dirname "$fuzz")"
out="${FUZZ_OUT:-$root/.build/cfuzz}"
seconds="${FUZZ_SECONDS:-60}"
all_targets=(section pcapng schema syntax agent)

mode=fuzz update=0 targets=()
for a in "$@"; do
  case "$a" in
    --replay) mode=replay ;;
    --build-only) mode=build ;;
    --seeds) mode=seeds ;;
    --update-corpus) update=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "fuzz/swift/run.sh: unknown option $a (see --help)" >&2; exit 64 ;;
    *)
      case " ${all_targets[*]} " in
        *" $a "*) targets+=("$a") ;;
        *) echo "fuzz/swift/run.sh: no target '$a'; the targets are: ${all_targets[*]}" >&2; exit 64 ;;
      esac ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
mkdir -p "$out"

# A Swift trap is reported by libFuzzer ("deadly signal") with AddressSanitizer's stack; the Swift
# backtracer would only slow every crash down.
export SWIFT_BACKTRACE="${SWIFT_BACKTRACE:-enable=no}"
symbolizer="$(dirname "$(readlink -f "$(command -v swift)")")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer"
# Leak checking is off: the Swift runtime's metadata caches and lazily made globals look like leaks.
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=0:allocator_may_return_null=1}"

# The /dev/shm objects (ipcscope.sfuzz-PID) a crashed run left; their process is gone.
remove_leftovers() {
  local f pid
  for f in /dev/shm/ipcscope.sfuzz-* /dev/shm/ipcscope.sfuzzseed-*; do
    [ -e "$f" ] || continue
    pid="${f#/dev/shm/ipcscope.sfuzz-}"; pid="${pid#/dev/shm/ipcscope.sfuzzseed-}"; pid="${pid%%-*}"
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
}

# The plain build (replay main, no sanitizer): what the test suite replays with.
plain_binary() {
  (cd "$root" && swift build --product ipcscope-libfuzz >&2)
  echo "$root/.build/debug/ipcscope-libfuzz"
}

if [ "$mode" = seeds ]; then
  bin="$(plain_binary)"
  "$bin" --seeds "$fuzz/corpus"
  du -sk "$fuzz"/corpus/swift-*
  exit 0
fi

if [ "$mode" = replay ]; then
  bin="$(plain_binary)" failed=()
  for t in "${targets[@]}"; do
    dirs=("$fuzz/corpus/swift-$t")
    [ -d "$fuzz/crashes/swift-$t" ] && dirs+=("$fuzz/crashes/swift-$t")
    if "$bin" "$t" "${dirs[@]}" >"$out/swift-$t.replay.log" 2>&1; then
      tail -n 1 "$out/swift-$t.replay.log"
    else
      failed+=("$t")
      echo "$t: CRASH (log: $out/swift-$t.replay.log)"
      tail -n 30 "$out/swift-$t.replay.log"
    fi
  done
  remove_leftovers
  [ ${#failed[@]} -eq 0 ] || exit 1
  exit 0
fi

echo "building ipcscope-libfuzz with -sanitize=fuzzer,address (fuzz/swift/build.sh)"
start=$(date +%s)
bin="$("$here/build.sh" 2>"$out/swift-build.log" | tail -n 1)" || { tail -n 30 "$out/swift-build.log"; exit 1; }
echo "built $bin in $(( $(date +%s) - start ))s"
[ "$mode" = build ] && exit 0

summary=()
for t in "${targets[@]}"; do
  scratch="$out/corpus/swift-$t" crashes="$fuzz/crashes/swift-$t" log="$out/swift-$t.log"
  mkdir -p "$scratch" "$crashes"
  before="$(ls "$crashes" | wc -l)"
  echo "fuzzing swift-$t for ${seconds}s (scratch corpus $scratch, crashes $crashes/)"
  flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix="$crashes/" -use_value_profile=1 -max_len=16384)
  [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  set +e
  # shellcheck disable=SC2086
  "$bin" "$t" "${flags[@]}" ${FUZZ_FLAGS:-} "$scratch" "$fuzz/corpus/swift-$t" >"$log" 2>&1
  status=$?
  set -e
  remove_leftovers
  found=$(( $(ls "$crashes" | wc -l) - before ))
  last="$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | tail -n 1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")"
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  [ -n "$rate" ] || rate="$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
  corpus="$(ls "$scratch" | wc -l) inputs, $(du -sk "$scratch" | cut -f1) KB"
  line="swift-$t: ${execs:-?} runs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, scratch corpus $corpus, crashes found: $found"
  [ "$status" -ne 0 ] && line+=" (libFuzzer exit $status; log $log)"
  summary+=("$line")
  echo "$line"
  if [ "$found" -gt 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*Fatal error|.*fatal error|artifact_prefix|Test unit written)' "$log" | head -n 8 || true
  fi
  if [ "$update" = 1 ]; then
    "$bin" "$t" -merge=1 "$fuzz/corpus/swift-$t" "$scratch" >"$out/swift-$t.merge.log" 2>&1
    echo "swift-$t: committed corpus now $(ls "$fuzz/corpus/swift-$t" | wc -l) inputs, $(du -sk "$fuzz/corpus/swift-$t" | cut -f1) KB"
  fi
done

echo
echo "summary (${seconds}s a target):"
printf '  %s\n' "${summary[@]}"
