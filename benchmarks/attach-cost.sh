#!/bin/sh
# What an attached `ipcscope attach` costs (issue 4):
#   1. its own CPU while the service is idle, at the default 50 ms interval (target < 2% of a core);
#   2. how much it lowers a busy echo server's throughput (target < 3%).
# Usage: benchmarks/attach-cost.sh [path/to/ipcscope] [rounds]
# Build first: swift build -c release --product ipcscope
set -eu
IPCSCOPE=${1:-.build/release/ipcscope}
ROUNDS=${2:-5}
NAME=attachcost$$
SOCK=attachcost$$
HZ=$(getconf CLK_TCK)

cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true
}
trap cleanup EXIT

"$IPCSCOPE" serve "$NAME" --echo --quiet >/dev/null 2>&1 &
SERVER=$!
sleep 0.5

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_attach() {
    tmux -L "$SOCK" -f /dev/null new-session -d -x 120 -y 40 "LANG=C.UTF-8 $IPCSCOPE attach $NAME"
    sleep 1
    ATTACH=$(pgrep -n -f "ipcscope attach $NAME")
}

# 1. Idle CPU over 10 s.
start_attach
t0=$(cpu_ticks "$ATTACH"); sleep 10; t1=$(cpu_ticks "$ATTACH")
echo "idle: attach used $((t1 - t0)) ticks in 10 s at HZ=$HZ = $(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN{printf "%.2f", 100*t/hz/10}')% of one core"
tmux -L "$SOCK" kill-server; sleep 0.3

# 2. Throughput, alternating without / with an inspector attached.
bench() { "$IPCSCOPE" bench "$NAME" --duration 5 --size 64 --json | sed -n 's/.*"calls_per_second" *: *\([0-9.]*\).*/\1/p'; }
without=""; with=""; busy=""
i=0
while [ $i -lt "$ROUNDS" ]; do
    a=$(bench); without="$without $a"
    start_attach
    t0=$(cpu_ticks "$ATTACH")
    b=$(bench); with="$with $b"
    t1=$(cpu_ticks "$ATTACH"); busy="$busy $((t1 - t0))"
    tmux -L "$SOCK" kill-server; sleep 0.3
    echo "round $i: without $a calls/s, with $b calls/s (attach used $((t1 - t0)) ticks in 5 s)"
    i=$((i + 1))
done
echo "$without" "|" "$with" | awk '{
    n = 0; m = 0; s1 = 0; s2 = 0; side = 1
    for (k = 1; k <= NF; k++) { if ($k == "|") { side = 2; continue } if (side == 1) { s1 += $k; n++ } else { s2 += $k; m++ } }
    printf "mean without %.0f calls/s, with attach %.0f calls/s: %.2f%% lower\n", s1/n, s2/m, 100*(s1/n - s2/m)/(s1/n)
}'
