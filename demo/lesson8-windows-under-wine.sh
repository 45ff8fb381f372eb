#!/usr/bin/env bash
# Lesson 8: a Windows program, under Wine, watched live from Linux.
#
# Tests/NT/echo_server.c and call_client.c are the original design's programs, built for
# Windows with mingw-w64 against the NT backend of libmbvipc (ntdll.dll only: no Win32, no C
# runtime). Under Wine their section is backed by Z:\dev\shm\ipcscope.NAME, which is
# /dev/shm/ipcscope.NAME on Linux: the inspector reads the very same pages, while the
# mutex and the events are NT objects it cannot see.
#
#   demo/lesson8-windows-under-wine.sh           tmux: the inspector, the Windows server, the Windows client
#   demo/lesson8-windows-under-wine.sh --check   unattended, checks what Linux sees of the Windows programs
#
# Needs: apt-get install -y gcc-mingw-w64-x86-64 wine64. WINEPREFIX, when set, is used as
# is; otherwise a prefix is created in the lesson's folder (about 10 s) and removed after.
source "$(dirname "$0")/lib.sh"
WINE=/usr/lib/wine/wine64
for tool in "$WINE" x86_64-w64-mingw32-gcc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$LESSON needs $tool: apt-get install -y gcc-mingw-w64-x86-64 wine64" >&2; exit 1; }
done
export WINEPREFIX=${WINEPREFIX:-$WORK/prefix} WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" DISPLAY=
BUILD="$WORK/build"
# Every process of the prefix ends with the lesson (wineserver -k), then lib.sh cleans up.
trap '/usr/lib/wine/wineserver -k 2>/dev/null; cleanup' EXIT

narrate "Lesson 8: the same protocol on Windows NT. The original design ran on the native \
NT API: a Section for the bytes, a Mutant for the client mutex, two Events. The NT backend \
of libmbvipc keeps the section's bytes exactly as on Linux (header, slots, state, counters, \
trace) and puts the mutex and events beside it as named NT objects. Under Wine the section \
is backed by Z:\\dev\\shm, so the Linux inspector reads the Windows program's pages live."

step "building for Windows (ntdll.dll only)"
echo "make -C Sources/MBVIPC -f Makefile.nt O=$BUILD"
make -s -C "$REPO/Sources/MBVIPC" -f Makefile.nt O="$BUILD" >"$WORK/make.out" 2>&1 || { cat "$WORK/make.out"; exit 1; }
x86_64-w64-mingw32-objdump -p "$BUILD/nt-nocrt/echo_server.exe" | grep 'DLL Name'
SERVER="$WINE $BUILD/nt-nocrt/echo_server.exe $NAME"
CLIENT="$WINE $BUILD/nt-nocrt/call_client.exe $NAME"

step "starting Wine (the first start of a prefix takes a while)"
"$WINE" wineboot --init >/dev/null 2>&1 || true

if [ "$MODE" = interactive ]; then
  panes \
    "inspector (Linux)|sleep 2; $IPCSCOPE attach $NAME" \
    "Windows echo server (Wine)|$SERVER" \
    "Windows client: press Enter|type:$CLIENT hello" \
    "Linux: what status says|type:$IPCSCOPE status $NAME"
  exit 0
fi

# ---------------------------------------------------------------- --check
check "the no-C-runtime build imports ntdll.dll alone" \
  bash -c "[ \"\$(x86_64-w64-mingw32-objdump -p '$BUILD/nt-nocrt/echo_server.exe' | grep -c 'DLL Name')\" = 1 ]"
start server $SERVER
wait_output server "serving $NAME pid" 60
NT_PID=$(sed -n 's/^serving .* pid \([0-9]*\).*/\1/p' "$WORK/server.out")

step "the Windows client calls the Windows server"
$CLIENT hello >"$WORK/client.out" 2>&1 && RC=0 || RC=$?
cat "$WORK/client.out"
expect "the Windows client exits 0" "$RC" 0
check "it got its echo" grep -qF 'Reply: hello' "$WORK/client.out"

step "Linux reads the Windows program's section"
"$IPCSCOPE" status "$NAME" | sed -n '/^server/,/^state/p'
expect "the server pid is the NT pid the server printed" "$(field server.pid)" "$NT_PID"
expect "the section says: mutex and events are NT objects" "$(field nt_objects)" true
expect "one call served" "$(field calls_served)" 1
check "the trace ring holds the client's hello" bash -c "'$IPCSCOPE' status '$NAME' | grep -qF '\"hello.'"
check "a Linux client refuses it, naming NT objects" \
  bash -c "'$IPCSCOPE' call '$NAME' --function 1 --text x 2>&1 | grep -q 'NT objects'"

step "the Windows server is killed: Linux sees a stale section"
kill -KILL "$LAST_PID"
wait_exit "$LAST_PID" 10 || true
check "the liveness lock is gone (Wine dropped its POSIX lock)" bash -c "'$IPCSCOPE' status '$NAME' | grep -q 'dead (stale section'"
finish
