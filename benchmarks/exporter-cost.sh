#!/bin/sh
# What `ipcscope exporter` costs (docs/observability.md, docs/performance.md):
#   1. its own CPU at rest: 10 live sections, scraped every second for 60 s (target < 1% of a core);
#   2. how much a busy echo server's throughput drops while the exporter scrapes it every second
#      (target < 3%), as benchmarks/attach-cost.sh measures it for `attach`: pairs of short
#      `ipcscope bench` runs without, then with, the exporter scraping; the median ratio;
#   3. with python3 and opentelemetry-proto (pip): the CPU at rest of an exporter that also
#      pushes OTLP every second to Tests/Scripts/otlp_receiver.py (1% of calls as spans).
# One scrape of 100 live sections is measured by `swift test --filter ExporterCostTests`.
# Usage: benchmarks/exporter-cost.sh [path/to/ipcscope] [rounds] [rest seconds]
#   SKIP_OTLP=1: not part 3. PIN=1: the measured server on CPU 0 and the bench client on CPU 1
#   (taskset), so that the scheduler putting both on one CPU (10x slower) does not decide a pair.
# Build first: swift build -c release --product ipcscope
set -eu
IPCSCOPE=${1:-.build/release/ipcscope}
ROUNDS=${2:-7}
REST=${3:-60}
TAG=expcost$$
HZ=$(getconf CLK_TCK)
PIDS=""

cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    [ -n "${SCRAPER:-}" ] && kill "$SCRAPER" 2>/dev/null || true
    [ -n "${EXPORTER:-}" ] && kill "$EXPORTER" 2>/dev/null || true
    [ -n "${PUSHER:-}" ] && kill "$PUSHER" 2>/dev/null || true
    [ -n "${RECEIVER:-}" ] && kill "$RECEIVER" 2>/dev/null || true
    rm -f "/tmp/$TAG.err" "/tmp/$TAG.push.err" "/tmp/$TAG.recv" "/tmp/$TAG.jsonl"
}
trap cleanup EXIT INT TERM

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

NAMES=""
i=0
while [ $i -lt 10 ]; do
    if [ $i -eq 0 ] && [ -n "${PIN:-}" ]; then
        taskset -c 0 "$IPCSCOPE" serve "$TAG-$i" --echo --quiet >/dev/null 2>&1 &
    else
        "$IPCSCOPE" serve "$TAG-$i" --echo --quiet >/dev/null 2>&1 &
    fi
    PIDS="$PIDS $!"
    NAMES="$NAMES $TAG-$i"
    i=$((i + 1))
done
sleep 1

"$IPCSCOPE" exporter --listen 127.0.0.1:0 --service $NAMES 2>"/tmp/$TAG.err" &
EXPORTER=$!
n=0
until grep -q /metrics "/tmp/$TAG.err" 2>/dev/null; do
    n=$((n + 1)); [ $n -lt 100 ] || { echo "exporter did not start: $(cat /tmp/$TAG.err)"; exit 1; }
    sleep 0.1
done
PORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "/tmp/$TAG.err")
URL=http://127.0.0.1:$PORT/metrics
live=$(curl -s "$URL" | sed -n 's/^ipcscope_exporter_sections{condition="live"} \([0-9]*\).*/\1/p')
echo "exporter pid $EXPORTER on $URL, $live live sections"

scrape_every_second() { while :; do curl -s -o /dev/null "$URL"; sleep 1; done; }

# 1. CPU at rest: scraped every second, nothing calling.
scrape_every_second &
SCRAPER=$!
sleep 2
t0=$(cpu_ticks "$EXPORTER"); sleep "$REST"; t1=$(cpu_ticks "$EXPORTER")
echo "rest: exporter used $((t1 - t0)) ticks in $REST s at HZ=$HZ = $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v s="$REST" 'BEGIN{printf "%.2f", 100*t/hz/s}')% of one core (10 live sections, a scrape a second)"
kill "$SCRAPER"; SCRAPER=""

# 2. Throughput: the first section's server, busy; pairs without then with the scraping.
NAME=$TAG-0
CLIENT=""
[ -z "${PIN:-}" ] || CLIENT="taskset -c 1"
bench() { $CLIENT "$IPCSCOPE" bench "$NAME" --duration "${SECONDS_PER_RUN:-3}" --size 64 --json | sed -n 's/.*"calls_per_second" *: *\([0-9.]*\).*/\1/p'; }
ratios=""
i=0
while [ $i -lt "$ROUNDS" ]; do
    a=$(bench)
    scrape_every_second &
    SCRAPER=$!
    b=$(bench)
    kill "$SCRAPER"; SCRAPER=""
    r=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.4f", b/a}')
    ratios="$ratios $r"
    echo "pair $i: without $a calls/s, scraped every second $b calls/s, ratio $r"
    i=$((i + 1))
done
echo "$ratios" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "median scraped/unscraped over %d pairs: %.4f (throughput %.2f%% lower)\n", NR, m, 100 * (1 - m)
}'

# 3. CPU at rest with the OTLP push too (every second), scraped every second as in 1.
[ -z "${SKIP_OTLP:-}" ] || exit 0
python3 -c 'import opentelemetry.proto.collector.trace.v1.trace_service_pb2' 2>/dev/null || { echo "otlp: skipped (pip install opentelemetry-proto)"; exit 0; }
python3 "$(dirname "$0")/../Tests/Scripts/otlp_receiver.py" --out "/tmp/$TAG.jsonl" >"/tmp/$TAG.recv" 2>&1 &
RECEIVER=$!
n=0
until grep -q listening "/tmp/$TAG.recv" 2>/dev/null; do n=$((n + 1)); [ $n -lt 100 ] || { echo "receiver did not start"; exit 1; }; sleep 0.1; done
RPORT=$(sed -n 's/listening //p' "/tmp/$TAG.recv")
kill "$EXPORTER"; EXPORTER=""
"$IPCSCOPE" exporter --listen 127.0.0.1:0 --service $NAMES --otlp-endpoint "http://127.0.0.1:$RPORT" --otlp-interval 1 2>"/tmp/$TAG.push.err" &
PUSHER=$!
n=0
until grep -q /metrics "/tmp/$TAG.push.err" 2>/dev/null; do n=$((n + 1)); [ $n -lt 100 ] || { echo "exporter did not start"; exit 1; }; sleep 0.1; done
URL=http://127.0.0.1:$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "/tmp/$TAG.push.err")/metrics
scrape_every_second &
SCRAPER=$!
sleep 2
t0=$(cpu_ticks "$PUSHER"); sleep "$REST"; t1=$(cpu_ticks "$PUSHER")
pushes=$(grep -c '"signal": "metrics"' "/tmp/$TAG.jsonl")
echo "rest with OTLP every second: exporter used $((t1 - t0)) ticks in $REST s = $(awk -v t=$((t1 - t0)) -v hz="$HZ" -v s="$REST" 'BEGIN{printf "%.2f", 100*t/hz/s}')% of one core ($pushes metrics pushes received, $(grep -c '"signal": "error"' "/tmp/$TAG.jsonl") refused)"
