#!/bin/sh
# Snapshot round trip through the agents, one snapshot after another on one pipe
# (benchmarks/agent-rtt.py speaks the protocol): the Linux agent on an `ipcscope serve --echo`
# section, and, when wine64 and mingw-w64 are installed, the NT agent (mbvipc-agent.exe under
# Wine, in a prefix of its own) on the NT echo server's paging-file section. Prints both and
# the ratio of their delta medians.
# Usage: benchmarks/agent-rtt.sh [path/to/ipcscope] [snapshots]   (SKIP_NT=1: the Linux agent only)
# Build first: swift build --product ipcscope (the agents are built here by make).
set -eu
IPCSCOPE=${1:-.build/debug/ipcscope}
COUNT=${2:-300}
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$HERE/../Sources/MBVIPC
NAME=agentrtt$$
DIR=$(mktemp -d /tmp/agentrtt.XXXXXX)
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver
export WINEPREFIX=$DIR/prefix WINEDEBUG=-all WINEDLLOVERRIDES='mscoree,mshtml=' DISPLAY=

cleanup() {
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
    [ -n "${NTSERVER:-}" ] && { "$WINESERVER" -k 2>/dev/null || true; }
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

wait_for() {  # FILE TEXT: up to 60 s
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 600 ] || { echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
}

median() { sed -n 's/.* median \([0-9.]*\) ms.*/\1/p'; }

make -s -C "$LIB" agent O="$DIR/out" >/dev/null
"$IPCSCOPE" serve "$NAME" --echo --quiet >"$DIR/serve.log" 2>&1 &
SERVER=$!
wait_for "$DIR/serve.log" serving
"$IPCSCOPE" call "$NAME" --function 1 --text hello >/dev/null
echo "Linux agent, /dev/shm/ipcscope.$NAME ($(stat -c %s "/dev/shm/ipcscope.$NAME") bytes):"
python3 "$HERE/agent-rtt.py" "$NAME" "$COUNT" "$DIR/out/mbvipc-agent" | tee "$DIR/linux.txt"

if [ -n "${SKIP_NT:-}" ] || [ ! -x "$WINE" ] || ! command -v x86_64-w64-mingw32-gcc >/dev/null; then
    echo "NT agent: skipped (apt-get install -y wine64 gcc-mingw-w64-x86-64)"
    exit 0
fi
make -s -C "$LIB" -f Makefile.nt all O="$DIR/nt" >/dev/null
"$WINE" wineboot --init >/dev/null 2>&1
MBVIPC_NT_BACKING=section "$WINE" "$DIR/nt/nt-nocrt/echo_server.exe" "$NAME" >"$DIR/nt.log" 2>&1 &
NTSERVER=$!
wait_for "$DIR/nt.log" serving
MBVIPC_NT_BACKING=section "$WINE" "$DIR/nt/nt-nocrt/call_client.exe" "$NAME" hello >/dev/null 2>&1 || true
echo "NT agent under Wine, the paging-file Section ipcscope.$NAME:"
python3 "$HERE/agent-rtt.py" "$NAME" "$COUNT" "$WINE" "$DIR/nt/nt-nocrt/mbvipc-agent.exe" | tee "$DIR/nt.txt"
linux=$(grep '^delta' "$DIR/linux.txt" | median)
nt=$(grep '^delta' "$DIR/nt.txt" | median)
echo "delta median: NT agent under Wine / Linux agent = $(python3 -c "print(f'{$nt / $linux:.1f}x')")"
