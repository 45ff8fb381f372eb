#!/usr/bin/env bash
# Lesson 2: two clients contend for the mutex.
#
# One client makes a slow call (3 s): it holds the section's mutex from the start of its
# call to the end. Two more clients arrive meanwhile and must wait: the kernel's mutex word
# gets its FUTEX_WAITERS bit, the owner record names the slow client, and when it is done
# each waiter's lock counts in contended_count.
#
#   demo/lesson2-contention.sh           tmux: server, inspector, three clients
#   demo/lesson2-contention.sh --check   unattended, checks owner, waiters and counters
source "$(dirname "$0")/lib.sh"
SCRIPT="$DEMO_DIR/scripts/slow-service.yaml"

narrate "Lesson 2: contention. The server '$NAME' answers function 3 after 3 seconds and \
everything else at once. Client A calls function 3; while it waits, clients B and C call \
function 0. There is one request slot, so one call at a time: A holds the mutex, B and C \
sleep in the kernel until A releases it. Watch the mutex box: the owner (A's pid), the \
'waiters' bit of the kernel's word, and the contended counter going up by one per waiter."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME" \
    "server|$IPCSCOPE serve $NAME --script $SCRIPT" \
    "client A (slow): press Enter first|type:$IPCSCOPE call $NAME --function 3 --text 'A: slow' --timeout 30" \
    "client B: then Enter here|type:$IPCSCOPE call $NAME --function 0 --text 'B' --timeout 30" \
    "client C: and here|type:$IPCSCOPE call $NAME --function 0 --text 'C' --timeout 30"
  exit 0
fi

# ---------------------------------------------------------------- --check
start server "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
wait_output server "serving '$NAME'"

step "1. client A makes the slow call"
start clientA "$IPCSCOPE" call "$NAME" --function 3 --text 'A: slow' --timeout 30
A=$LAST_PID
check "the server is processing A's call" wait_field state PROCESSING 10
expect "A holds the mutex" "$(field owner.pid)" "$A"
expect "nobody waits yet (FUTEX_WAITERS clear)" "$(field waiters)" false

step "2. clients B and C arrive"
start clientB "$IPCSCOPE" call "$NAME" --function 0 --text 'B' --timeout 30
B=$LAST_PID
start clientC "$IPCSCOPE" call "$NAME" --function 0 --text 'C' --timeout 30
C=$LAST_PID
check "the kernel's mutex word shows waiters (FUTEX_WAITERS)" wait_field waiters true 10
expect "A still holds the mutex" "$(field owner.pid)" "$A"
expect "still one lock taken" "$(field lock_count)" 1
expect "no contended lock counted yet (B and C have not got it)" "$(field contended_count)" 0

step "3. A's answer comes; B and C get their turns"
check "A finishes" wait_exit "$A" 10
expect "A exits 0" "$EXIT_CODE" 0
check "B finishes" wait_exit "$B" 10
expect "B exits 0" "$EXIT_CODE" 0
check "C finishes" wait_exit "$C" 10
expect "C exits 0" "$EXIT_CODE" 0
check "A got the slow answer" grep -q "done, slowly" "$WORK/clientA.out"
expect "three locks in all" "$(field lock_count)" 3
expect "two of them had to wait: contended_count" "$(field contended_count)" 2
expect "the mutex is free again" "$(field owner.pid)/$(field waiters)" 0/false
expect "three calls served" "$(field calls_served)" 3
finish
