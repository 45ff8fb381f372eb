#!/usr/bin/env bash
# Captures the inspector's screen at the moments the lessons talk about, as text
# (tmux capture-pane), for docs/teaching.md. Needs tmux.
#
#   demo/capture-screens.sh [OUTDIR]     (default /tmp/ipcscope-captures)
OUT=${1:-/tmp/ipcscope-captures}
set -- # lib.sh parses the arguments: none here
source "$(dirname "$0")/lib.sh"
mkdir -p "$OUT"
SOCK="ipcscope-capture-$$-0"
SOCKS=("$SOCK")
cleanup_tmux() { local s; for s in "${SOCKS[@]}"; do tmux -L "$s" kill-server 2>/dev/null || true; done; cleanup; }
trap cleanup_tmux EXIT

# inspect NAME [ARGS]: opens the inspector on NAME (with ARGS) in a 120x40 tmux window.
inspect() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  SOCK="ipcscope-capture-$$-${#SOCKS[@]}"   # a fresh tmux server each time
  SOCKS+=("$SOCK")
  tmux -L "$SOCK" new-session -d -x 120 -y 40 "$IPCSCOPE attach $*"
  sleep 1.5
}
# shot FILE [LINES]: saves the screen (its first LINES lines) to $OUT/FILE.txt.
shot() {
  sleep 0.6
  tmux -L "$SOCK" capture-pane -p | sed -e 's/[[:space:]]*$//' | head -n "${2:-40}" >"$OUT/$1.txt"
  echo "captured $OUT/$1.txt"
}

# ---- the demo itself
tmux -L "$SOCK" new-session -d -x 120 -y 40 "$IPCSCOPE demo --name demo-capture"
sleep 4
shot demo
tmux -L "$SOCK" send-keys q
sleep 2
"$IPCSCOPE" demo --no-tui --seconds 3 --name demo-capture >"$OUT/demo-no-tui.txt"
echo "captured $OUT/demo-no-tui.txt"

# ---- lesson 1: one call, step by step
N=$NAME-1; NAMES+=("$N")
mkfifo "$WORK/s1.in"; exec 3<>"$WORK/s1.in"
"$IPCSCOPE" serve "$N" --echo --step <"$WORK/s1.in" >"$WORK/s1.out" 2>&1 & S=$!; PIDS+=("$S")
wait_output s1 serving
inspect "$N"
shot lesson1-idle 12
kill -STOP "$S"
"$IPCSCOPE" call "$N" --text 'hello, class' --timeout 60 </dev/null >/dev/null 2>&1 & C=$!; PIDS+=("$C")
wait_field state REQUEST_READY 10 "$N"
shot lesson1-request-ready 12
kill -CONT "$S"; wait_output s1 "step:"
shot lesson1-processing 12
kill -STOP "$C"; echo >&3
wait_field state RESPONSE_READY 10 "$N"
shot lesson1-response-ready 12
kill -CONT "$C"; wait "$C" || true
shot lesson1-idle-after 40

# ---- lesson 2: contention
N=$NAME-2; NAMES+=("$N")
"$IPCSCOPE" serve "$N" --script "$DEMO_DIR/scripts/slow-service.yaml" >/dev/null 2>&1 & PIDS+=("$!")
wait_field state IDLE 10 "$N"
inspect "$N"
"$IPCSCOPE" call "$N" -f 3 --text 'A: slow' --timeout 30 </dev/null >/dev/null 2>&1 & PIDS+=("$!")
wait_field state PROCESSING 10 "$N"
"$IPCSCOPE" call "$N" --text B --timeout 30 </dev/null >/dev/null 2>&1 & PIDS+=("$!")
"$IPCSCOPE" call "$N" --text C --timeout 30 </dev/null >/dev/null 2>&1 & PIDS+=("$!")
wait_field waiters true 10 "$N"
shot lesson2-waiters 12
sleep 3.5
shot lesson2-after 40

# ---- lesson 3: a client dies holding the mutex
N=$NAME-3; NAMES+=("$N")
"$IPCSCOPE" demo --server-only --name "$N" >/dev/null 2>&1 & PIDS+=("$!")
wait_field state IDLE 10 "$N"
"$IPCSCOPE" call "$N" put --schema "$DEMO_SCHEMA" --field key=answer --field value=42 </dev/null >/dev/null
inspect "$N" --schema "$DEMO_SCHEMA"
"$HELPER" hold-mutex "$N" 600 >"$WORK/h.out" & H=$!; PIDS+=("$H")
wait_output h held
shot lesson3-held 12
kill -KILL "$H"; wait "$H" 2>/dev/null || true
wait_field owner_died true 5 "$N"
shot lesson3-owner-died 12
"$IPCSCOPE" call "$N" get --schema "$DEMO_SCHEMA" --field key=answer </dev/null >"$OUT/lesson3-get.txt"
shot lesson3-recovered 40

# ---- lesson 4: the server dies mid-call
N=$NAME-4; NAMES+=("$N")
"$IPCSCOPE" serve "$N" --script "$DEMO_DIR/scripts/slow-service.yaml" >/dev/null 2>&1 & S=$!; PIDS+=("$S")
wait_field state IDLE 10 "$N"
inspect "$N"
"$IPCSCOPE" call "$N" -f 3 --text slow --timeout 30 </dev/null >"$OUT/lesson4-client.txt" 2>&1 & C=$!; PIDS+=("$C")
wait_field state PROCESSING 10 "$N"
kill -KILL "$S"; wait "$C" || true
shot lesson4-stale 12
"$IPCSCOPE" serve "$N" --echo >"$OUT/lesson4-server2.txt" 2>&1 & PIDS+=("$!")
wait_field alive true 10 "$N"
shot lesson4-takeover 12

# ---- lesson 6: the C client in the history
N=$NAME-6; NAMES+=("$N")
cc -O2 -I "$REPO/Sources/CIPCScope/include" -o "$WORK/hello_client" "$DEMO_DIR/c/hello_client.c"
"$IPCSCOPE" demo --server-only --name "$N" >/dev/null 2>&1 & PIDS+=("$!")
wait_field state IDLE 10 "$N"
inspect "$N" --schema "$DEMO_SCHEMA"
"$WORK/hello_client" "$N" >"$OUT/lesson6-c.txt"
shot lesson6-history 40

# ---- lesson 10: put's struct in the request slot
N=$NAME-10; NAMES+=("$N")
"$IPCSCOPE" demo --server-only --name "$N" >/dev/null 2>&1 & S=$!; PIDS+=("$S")
wait_field state IDLE 10 "$N"
inspect "$N" --schema "$DEMO_SCHEMA"
kill -STOP "$S"
"$IPCSCOPE" call "$N" put --schema "$DEMO_SCHEMA" --field key=apple --field flags=add --field value=42 --timeout 60 \
  </dev/null >"$OUT/lesson10-client.txt" 2>&1 & C=$!; PIDS+=("$C")
wait_field state REQUEST_READY 10 "$N"
"$IPCSCOPE" status "$N" --schema "$DEMO_SCHEMA" >"$OUT/lesson10-status.txt"
shot lesson10-fields 20
tmux -L "$SOCK" send-keys f
shot lesson10-bytes 20
tmux -L "$SOCK" send-keys f
kill -CONT "$S"; wait "$C" || true
shot lesson10-answer 20
