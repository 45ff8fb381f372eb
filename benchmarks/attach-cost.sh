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

# 2. Throughput: pairs of short runs, without then with an inspector attached. The machine's
# noise (other processes, scheduler placement on 2 cores) is larger than the effect, so the
# figure is the median of the per-pair ratios.
bench() { "$IPCSCOPE" bench "$NAME" --duration "${SECONDS_PER_RUN:-3}" --size 64 --json | sed -n 's/.*"calls_per_second" *: *\([0-9.]*\).*/\1/p'; }
ratios=""
i=0
while [ $i -lt "$ROUNDS" ]; do
    a=$(bench)
    start_attach
    t0=$(cpu_ticks "$ATTACH")
    b=$(bench)
    t1=$(cpu_ticks "$ATTACH")
    tmux -L "$SOCK" kill-server; sleep 0.3
    r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f", b/a}')
    ratios="$ratios $r"
    echo "pair $i: without $a calls/s, with $b calls/s, ratio $r (attach used $((t1 - t0)) ticks)"
    i=$((i + 1))
done
echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median with/without over %d pairs: %.4f (throughput %.2f%% lower)\n", NR, m, 100 * (1 - m)
}'
