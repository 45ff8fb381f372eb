#!/usr/bin/env bash
# Lesson 4: the server dies mid-call.
#
# The server holds an open-file-description lock on the section for as long as it lives;
# the kernel drops it the instant the process dies. A client waiting for its answer checks
# that lock between its 100 ms futex waits, so it hears "server gone" at once instead of
# waiting for its timeout. A new server then takes the section over: epoch + 1.
#
#   demo/lesson4-server-dies.sh           tmux: server, inspector, a slow call, a new server
#   demo/lesson4-server-dies.sh --check   unattended, checks the prompt error and the takeover
source "$(dirname "$0")/lib.sh"
SCRIPT="$DEMO_DIR/scripts/slow-service.yaml"

narrate "Lesson 4: the server dies mid-call. The server of '$NAME' takes 3 seconds to answer \
function 3. A client calls it with a 30-second timeout; while the call is PROCESSING, the \
server is killed with SIGKILL (no clean-up code runs). Watch: the client reports 'server \
gone' within a fraction of a second; the inspector shows the section stale (no liveness \
lock); a new server takes it over, and the epoch goes from 1 to 2."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME" \
    "server 1|echo \$\$ > $WORK/server1.pid; exec $IPCSCOPE serve $NAME --script $SCRIPT|$IPCSCOPE serve $NAME --script $SCRIPT" \
    "client: a 3-second call, press Enter first|type:$IPCSCOPE call $NAME --function 3 --text slow --timeout 30" \
    "the crash: press Enter during the call|type:kill -9 \$(cat $WORK/server1.pid)|kill -9 PID   (PID: the pid in server 1's 'serving' line)" \
    "server 2: start it after the crash|type:$IPCSCOPE serve $NAME --echo"
  exit 0
fi

# ---------------------------------------------------------------- --check
start server1 "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
SERVER1=$LAST_PID
wait_output server1 "serving '$NAME'"
expect "the first server serves epoch 1" "$(field epoch)" 1

step "1. a slow call is in the server's hands"
start client "$IPCSCOPE" call "$NAME" --function 3 --text slow --timeout 30
CLIENT=$LAST_PID
check "state is PROCESSING" wait_field state PROCESSING 10

step "2. the server is killed"
T0=$(date +%s%N)
kill -KILL "$SERVER1"
check "the client gives up" wait_exit "$CLIENT" 10
T1=$(date +%s%N)
ELAPSED_MS=$(( (T1 - T0) / 1000000 ))
expect "the client exits 1 (the call failed)" "$EXIT_CODE" 1
check "it says the server is gone (died), not 'timed out'" grep -q "server of '$NAME' died" "$WORK/client.out"
check "it knew at once: ${ELAPSED_MS} ms after the kill, not 30 s" test "$ELAPSED_MS" -lt 2000
check "the section is still there (no one removed it)" test -e "/dev/shm/ipcscope.$NAME"
expect "but it is stale: no process holds the liveness lock" "$(field alive)" false
expect "the call was left PROCESSING" "$(field state)" PROCESSING

step "3. a new server takes over"
start server2 "$IPCSCOPE" serve "$NAME" --echo
wait_output server2 "took over '$NAME'"
check "the new server says it took over, epoch 2" grep -q "took over '$NAME'.*epoch 2" "$WORK/server2.out"
expect "epoch + 1" "$(field epoch)" 2
expect "alive again" "$(field alive)" true
expect "the slot was reset to IDLE" "$(field state)" IDLE
"$IPCSCOPE" call "$NAME" --function 0 --text 'hello again' </dev/null >"$WORK/again.out"
check "calls work again" grep -q "^status 0, 11 bytes" "$WORK/again.out"
finish
