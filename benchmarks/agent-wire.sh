#!/bin/sh
# What `ipcscope attach` through mbvipc-agent puts on the wire, at the default refresh for an
# agent (250 ms): bytes per second both ways for an idle section (target < 1 KB/s) and for a busy
# echo service with 4 KiB slots, every call 4 KiB each way (target < 200 KB/s), and the
# snapshot round trip the attach header shows. The transport is a pipe to the agent with a
# `tee` on each side counting the bytes, so the figures are the protocol's, without ssh's framing
# (ssh adds its own packet overhead and encryption on top).
# Usage: benchmarks/agent-wire.sh [path/to/ipcscope] [seconds per phase]
# Build first: swift build -c release --product ipcscope (the agent is built here by make).
set -eu
IPCSCOPE=${1:-.build/release/ipcscope}
SECONDS_PER_PHASE=${2:-10}
NAME=agentwire$$
SOCK=agentwire$$
DIR=$(mktemp -d /tmp/agentwire.XXXXXX)

cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    [ -n "${LOAD:-}" ] && kill "$LOAD" 2>/dev/null || true
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

make -s -C "$(dirname "$0")/../Sources/MBVIPC" agent O="$DIR/out" >/dev/null
AGENT=$DIR/out/mbvipc-agent
cat > "$DIR/agent" <<SCRIPT
#!/bin/sh
tee -a "$DIR/to-agent.bin" | "$AGENT" --allow-calls | tee -a "$DIR/from-agent.bin"
SCRIPT
chmod +x "$DIR/agent"
: > "$DIR/to-agent.bin"; : > "$DIR/from-agent.bin"

"$IPCSCOPE" serve "$NAME" --echo --quiet --request-capacity 4096 --response-capacity 4096 >/dev/null 2>&1 &
SERVER=$!
sleep 0.5
tmux -L "$SOCK" -f /dev/null new-session -d -x 160 -y 40 "LANG=C.UTF-8 $IPCSCOPE attach $NAME --via $DIR/agent"
sleep 2

bytes() { echo $(( $(stat -c %s "$DIR/to-agent.bin") + $(stat -c %s "$DIR/from-agent.bin") )); }
served() { "$IPCSCOPE" status "$NAME" --json | tr ',' '\n' | sed -n 's/.*"calls_served":\([0-9]*\).*/\1/p' | head -1; }
rtt() { tmux -L "$SOCK" capture-pane -p | head -1 | sed -n 's/.*rtt \([0-9.]* ms\).*/\1/p'; }

measure() {  # phase name
    b0=$(bytes); c0=$(served); t0=$(date +%s.%N)
    sleep "$SECONDS_PER_PHASE"
    b1=$(bytes); c1=$(served); t1=$(date +%s.%N)
    awk -v what="$1" -v b="$((b1 - b0))" -v c="$((c1 - c0))" -v t0="$t0" -v t1="$t1" -v rtt="$(rtt)" 'BEGIN {
        s = t1 - t0
        printf "%-34s %9.0f B/s  (%6.1f KB/s)  %8.0f calls/s  snapshot rtt %s\n", what, b / s, b / s / 1000, c / s, rtt }'
}

echo "attach --via mbvipc-agent, default refresh (250 ms), $SECONDS_PER_PHASE s per phase"
measure "idle section"
head -c 4096 /dev/urandom > "$DIR/4k.bin"
"$IPCSCOPE" call "$NAME" --file "$DIR/4k.bin" --repeat 100000000 --raw >/dev/null 2>&1 &
LOAD=$!
sleep 1
measure "busy echo, 4 KiB each way per call"
