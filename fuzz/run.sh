#!/usr/bin/env bash
# Coverage-guided fuzzing of the C library (Sources/MBVIPC) with libFuzzer.
#
#   fuzz/run.sh [TARGET...]                 build each target, fuzz it for FUZZ_SECONDS (60), one after another
#   fuzz/run.sh --update-corpus [TARGET...] the same, then merge what the run found into fuzz/corpus/TARGET
#   fuzz/run.sh --replay [TARGET...]        run every input of fuzz/corpus/TARGET and fuzz/crashes/TARGET once;
#                                           exit 1 when one crashes or draws a sanitizer report
#   fuzz/run.sh --build-only [TARGET...]    build only; prints the binaries' paths
#   fuzz/run.sh --seeds                     remake the seed images of fuzz/corpus with the real library
#
# Targets: client_connect, server_takeover, nt_helpers, agent_frames (default: all). `make fuzz` runs the first form.
#
# Environment: FUZZ_SECONDS (60), FUZZ_OUT (.build/cfuzz: binaries, the scratch corpus, logs),
# CLANG (the clang beside swift, else clang on PATH), FUZZ_FLAGS (more libFuzzer flags),
# FUZZ_KEEP_GOING=1 (libFuzzer's fork mode: keep fuzzing after a crash, keeping each one),
# FUZZ_NO_LIBFUZZER=1 (build with fuzz/replay_main.c instead of libFuzzer's main; only --replay works;
# --replay does this by itself when clang cannot link -fsanitize=fuzzer).
#
# The committed corpus fuzz/corpus/TARGET is read, never written (unless --update-corpus): new
# inputs go to the scratch corpus FUZZ_OUT/corpus/TARGET, which persists between runs. Crashes,
# leaks and timeouts are kept in fuzz/crashes/TARGET/ (commit them with the fix: the test suite
# replays them, see Tests/IPCScopeTests/CoverageFuzzTests.swift).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
lib="$root/Sources/MBVIPC"
layout="$root/Sources/CIPCScope/include"
out="${FUZZ_OUT:-$root/.build/cfuzz}"
seconds="${FUZZ_SECONDS:-60}"
all_targets=(client_connect server_takeover nt_helpers agent_frames)

# The Swift toolchain's clang (beside swift; it ships libFuzzer's runtime), else clang on PATH.
if [ -z "${CLANG:-}" ]; then
  swift_bin="$(dirname "$(readlink -f "$(command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)")")"
  if [ -x "$swift_bin/clang" ]; then CLANG="$swift_bin/clang"
  elif [ -x /opt/swift/usr/bin/clang ]; then CLANG=/opt/swift/usr/bin/clang
  else CLANG=clang; fi
fi
command -v "$CLANG" >/dev/null || { echo "fuzz/run.sh: no clang ($CLANG): set CLANG, or put the Swift toolchain on PATH" >&2; exit 69; }
# Symbolised reports: the llvm-symbolizer beside clang, when there is one.
symbolizer="$(dirname "$(command -v "$CLANG")")/llvm-symbolizer"
[ -x "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH="$symbolizer" UBSAN_SYMBOLIZER_PATH="$symbolizer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

mode=fuzz update=0 targets=()
for a in "$@"; do
  case "$a" in
    --replay) mode=replay ;;
    --build-only) mode=build ;;
    --seeds) mode=seeds ;;
    --update-corpus) update=1 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    -*) echo "fuzz/run.sh: unknown option $a (see --help)" >&2; exit 64 ;;
    *)
      case " ${all_targets[*]} " in
        *" $a "*) targets+=("$a") ;;
        *) echo "fuzz/run.sh: no target '$a'; the targets are: ${all_targets[*]}" >&2; exit 64 ;;
      esac ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
mkdir -p "$out"

# MARK: - building

# Whether this clang links libFuzzer's runtime (libclang_rt.fuzzer; Debian's clang has it in
# libclang-rt-NN-dev). Without it --replay builds with replay_main.c; fuzzing cannot run.
has_libfuzzer() {
  local probe="$out/probe"
  mkdir -p "$probe"
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return (int)(d && n) * 0; }\n' \
    >"$probe/probe.c"
  "$CLANG" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe" >"$probe/log" 2>&1
}
if [ "${FUZZ_NO_LIBFUZZER:-0}" != 1 ] && [ "$mode" != seeds ] && ! has_libfuzzer; then
  if [ "$mode" = fuzz ]; then
    echo "fuzz/run.sh: $CLANG cannot link -fsanitize=fuzzer (no libFuzzer runtime: $(tail -n 1 "$out/probe/log"))." >&2
    major="$("$CLANG" -dumpversion 2>/dev/null | cut -d. -f1)"
    echo "  For Debian's clang-$major: apt-get install libclang-rt-$major-dev; or set CLANG to a clang that has it" >&2
    echo "  (the Swift toolchain's /opt/swift/usr/bin/clang does). fuzz/run.sh --replay works without it." >&2
    exit 69
  fi
  echo "fuzz/run.sh: $CLANG has no libFuzzer runtime: building with fuzz/replay_main.c instead"
  FUZZ_NO_LIBFUZZER=1
fi

# The sanitizers, and libFuzzer unless FUZZ_NO_LIBFUZZER=1 (then replay_main.c is the main).
san="-fsanitize=address,undefined"
if [ "${FUZZ_NO_LIBFUZZER:-0}" = 1 ]; then main_src="$here/replay_main.c" link_san="$san"
else main_src="" link_san="-fsanitize=fuzzer,address,undefined" san="-fsanitize=fuzzer,address,undefined"; fi
cflags=(-g -O1 $san -fno-sanitize-recover=all -fno-omit-frame-pointer -std=c99 -D_GNU_SOURCE
        -Wall -Wextra -I"$lib/include" -I"$lib" -I"$layout" -I"$here")
# The NT backend compiled for Linux: its files are inside #if defined(_WIN32); nt.h declares
# ntdll by hand with __stdcall and __declspec(dllimport), which mean nothing on x86_64 ELF.
nt_flags=(-D_WIN32 -D__stdcall= '-D__declspec(x)=' -Wno-unused-parameter)
# nt_start.c as built for programs without a C runtime, its memcpy & co. renamed so that
# they sit beside libc's (and can be compared with them).
nocrt_flags=(-DMBVIPC_NO_CRT -ffreestanding -Dmemcpy=ntcrt_memcpy -Dmemmove=ntcrt_memmove
             -Dmemset=ntcrt_memset -Dmemcmp=ntcrt_memcmp -Dstrlen=ntcrt_strlen -Dstrcmp=ntcrt_strcmp)
core=("$lib/ipc_core.c" "$lib/ipc_core_client.c" "$lib/ipc_core_server.c")

# compile OUT.o SOURCE [FLAGS...]
compile() {
  local obj="$1" src="$2"
  shift 2
  "$CLANG" "${cflags[@]}" "$@" -c "$src" -o "$obj"
}

# build TARGET: prints nothing, leaves $out/bin/TARGET
build() {
  local t="$1" objs=() d="$out/obj/$1"
  rm -rf "$d" && mkdir -p "$d" "$out/bin"
  case "$t" in
    client_connect|server_takeover)
      for s in "$here/$t.c" "${core[@]}" "$lib/ipc_posix.c"; do
        compile "$d/$(basename "$s" .c).o" "$s"
        objs+=("$d/$(basename "$s" .c).o")
      done ;;
    agent_frames)
      for s in "$here/$t.c" "$lib/agent/agent_core.c" "${core[@]}" "$lib/ipc_posix.c"; do
        compile "$d/$(basename "$s" .c).o" "$s" -I"$lib/agent"
        objs+=("$d/$(basename "$s" .c).o")
      done ;;
    nt_helpers)
      compile "$d/nt_helpers.o" "$here/nt_helpers.c" "${nt_flags[@]}"
      compile "$d/nt_fake.o" "$here/nt_fake.c" "${nt_flags[@]}"
      compile "$d/nt_seam.o" "$here/nt_seam.c" "${nt_flags[@]}" "${nocrt_flags[@]}"
      for s in "${core[@]}" "$lib/ipc_nt.c" "$lib/ipc_nt_sync.c"; do
        compile "$d/nt-$(basename "$s" .c).o" "$s" "${nt_flags[@]}"
      done
      objs+=("$d"/*.o) ;;
  esac
  if [ -n "$main_src" ]; then
    compile "$d/replay_main.o" "$main_src"
    objs+=("$d/replay_main.o")
  fi
  "$CLANG" $link_san -fuse-ld=lld "${objs[@]}" -lpthread -o "$out/bin/$t" 2>"$d/link.log" ||
    "$CLANG" $link_san "${objs[@]}" -lpthread -o "$out/bin/$t"
}

# Removes the /dev/shm objects a crashed run of ours left (their process is gone).
remove_leftovers() {
  local f pid
  for f in /dev/shm/ipcscope.cfuzz-*; do
    [ -e "$f" ] || continue
    pid="${f##*-}"
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
}

# MARK: - seeds

if [ "$mode" = seeds ]; then
  gen="$out/make_seeds"
  cc -std=c99 -D_GNU_SOURCE -Wall -Wextra -O1 -I"$lib/include" -I"$lib" -I"$layout" \
    "$here/make_seeds.c" "${core[@]}" "$lib/ipc_posix.c" -lpthread -o "$gen"
  "$gen" "$here/corpus"
  du -sh "$here"/corpus/*
  exit 0
fi

for t in "${targets[@]}"; do
  echo "building $t"
  build "$t"
done
if [ "$mode" = build ]; then
  for t in "${targets[@]}"; do echo "$out/bin/$t"; done
  exit 0
fi

# MARK: - replay

if [ "$mode" = replay ]; then
  failed=()
  for t in "${targets[@]}"; do
    dirs=("$here/corpus/$t")
    [ -d "$here/crashes/$t" ] && dirs+=("$here/crashes/$t")
    mkdir -p "$out/replay-artifacts"
    if "$out/bin/$t" -runs=0 -artifact_prefix="$out/replay-artifacts/" "${dirs[@]}" >"$out/$t.replay.log" 2>&1; then
      echo "$t: $(find "${dirs[@]}" -type f | wc -l) inputs replayed, no crash"
    else
      failed+=("$t")
      echo "$t: CRASH (log: $out/$t.replay.log)"
      tail -n 30 "$out/$t.replay.log"
    fi
  done
  remove_leftovers
  [ ${#failed[@]} -eq 0 ] || exit 1
  exit 0
fi

# MARK: - fuzzing

summary=()
for t in "${targets[@]}"; do
  scratch="$out/corpus/$t" crashes="$here/crashes/$t" log="$out/$t.log"
  mkdir -p "$scratch" "$crashes"
  before="$(ls "$crashes" | wc -l)"
  echo "fuzzing $t for ${seconds}s (scratch corpus $scratch, crashes $crashes/)"
  flags=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
         -artifact_prefix="$crashes/" -use_value_profile=1)
  [ "${FUZZ_KEEP_GOING:-0}" = 1 ] && flags+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  set +e
  # shellcheck disable=SC2086
  "$out/bin/$t" "${flags[@]}" ${FUZZ_FLAGS:-} "$scratch" "$here/corpus/$t" >"$log" 2>&1
  status=$?
  set -e
  remove_leftovers
  found=$(( $(ls "$crashes" | wc -l) - before ))
  # The last status line: "#N DONE cov: C ft: F corp: ..." (or the last "#N ..." before a crash;
  # fork mode prints "#N: cov: C ft: F corp: ... exec/s: E").
  last="$(grep -E '^#[0-9]+:?[[:space:]]' "$log" | tail -n 1 || true)"
  cov="$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")"
  ft="$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")"
  execs="$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  rate="$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)"
  [ -n "$rate" ] || rate="$(sed -nE 's/.* exec\/s: ([0-9]+).*/\1/p' <<<"$last")"
  corpus="$(ls "$scratch" | wc -l) inputs, $(du -sk "$scratch" | cut -f1) KB"
  line="$t: ${execs:-?} runs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, scratch corpus $corpus, crashes found: $found"
  [ "$status" -ne 0 ] && line+=" (libFuzzer exit $status; log $log)"
  summary+=("$line")
  echo "$line"
  if [ "$found" -gt 0 ]; then
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|.*Assertion|artifact_prefix|Test unit written)' "$log" | head -n 8 || true
  fi
  if [ "$update" = 1 ]; then
    "$out/bin/$t" -merge=1 "$here/corpus/$t" "$scratch" >"$out/$t.merge.log" 2>&1
    echo "$t: committed corpus now $(ls "$here/corpus/$t" | wc -l) inputs, $(du -sk "$here/corpus/$t" | cut -f1) KB"
  fi
done

echo
echo "summary (${seconds}s a target):"
printf '  %s\n' "${summary[@]}"
