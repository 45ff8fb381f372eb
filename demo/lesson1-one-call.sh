#!/usr/bin/env bash
# Lesson 1: one call, step by step.
#
# A server in step mode holds every call until someone presses Enter, so the class can
# watch `state` go IDLE -> REQUEST_READY -> PROCESSING -> RESPONSE_READY -> IDLE, the
# mutex taken and released, and the two events counted.
#
#   demo/lesson1-one-call.sh           tmux: server (press Enter in it), client, inspector
#   demo/lesson1-one-call.sh --check   unattended; freezes processes with SIGSTOP so every
#                                      state can be read at leisure, and checks each one
source "$(dirname "$0")/lib.sh"

narrate "Lesson 1: one call, step by step. The server '$NAME' runs in step mode: it takes \
each call but waits for Enter before answering. Watch, in the inspector: the state box \
(IDLE -> REQUEST_READY -> PROCESSING -> RESPONSE_READY -> IDLE), the mutex box (the client \
holds the mutex for the whole call, and releases it at the end), and the events box \
(request_event +1 when the client signals the server, response_event +1 when the server \
answers)."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME" \
    "server: press Enter here to answer|$IPCSCOPE serve $NAME --echo --step" \
    "client: press Enter to call|type:$IPCSCOPE call $NAME --function 0 --text 'hello, class' --timeout 120"
  exit 0
fi

# ---------------------------------------------------------------- --check
mkfifo "$WORK/server.in"
exec 3<>"$WORK/server.in"               # keeps the server's stdin open; writing a line = Enter
start server "$IPCSCOPE" serve "$NAME" --echo --step
SERVER=$LAST_PID
wait_output server "serving '$NAME'"

step "0. before the call"
expect "state is IDLE" "$(field state)" IDLE
expect "the server is in step mode (server_flags bit 1)" "$(field step_mode)" true
expect "nobody holds the mutex" "$(field owner.pid)" 0
expect "request_event has never been signalled" "$(field request_event)" 0

narrate "To see the short-lived states, we freeze processes with SIGSTOP. First the server: \
the client's request will wait in the slot, REQUEST_READY, for as long as we like."
kill -STOP "$SERVER"
start client "$IPCSCOPE" call "$NAME" --function 0 --text 'hello, class' --timeout 60
CLIENT=$LAST_PID

step "1. the client wrote its request (server frozen)"
check "state reaches REQUEST_READY" wait_field state REQUEST_READY 10
expect "the client process holds the mutex" "$(field owner.pid)" "$CLIENT"
expect "request_event counted one signal" "$(field request_event)" 1
expect "one lock taken" "$(field lock_count)" 1
expect "sequence number 1 issued" "$(field next_seq)" 1

narrate "Now the server runs again: it takes the request (PROCESSING) and, in step mode, \
waits for Enter before answering."
kill -CONT "$SERVER"
wait_output server "step: call seq=1"

step "2. the server has the call (waiting for Enter)"
expect "state is PROCESSING" "$(field state)" PROCESSING
expect "the client still holds the mutex: a call holds it from start to end" "$(field owner.pid)" "$CLIENT"
expect "no answer yet: calls_served is still 0" "$(field calls_served)" 0

narrate "Freeze the client, then press Enter for the server: the answer waits in the \
response slot, RESPONSE_READY, until the client wakes up and copies it."
kill -STOP "$CLIENT"
RESPONSE_EVENT_BEFORE=$(field response_event)
echo >&3

step "3. the server answered (client frozen)"
check "state reaches RESPONSE_READY" wait_field state RESPONSE_READY 10
expect "response_event counted the answer" "$(field response_event)" $((RESPONSE_EVENT_BEFORE + 1))
expect "the server counted the call" "$(field calls_served)" 1
expect "the mutex is still the client's until it has copied the answer" "$(field owner.pid)" "$CLIENT"

kill -CONT "$CLIENT"
check "the client finishes" wait_exit "$CLIENT" 10
expect "the client exits 0" "$EXIT_CODE" 0

step "4. after the call"
check "the client printed the answer: status 0, the 12 bytes it sent" grep -q "status 0, 12 bytes" "$WORK/client.out"
expect "state is back to IDLE" "$(field state)" IDLE
expect "the mutex was released" "$(field owner.pid)" 0
expect "the kernel's mutex word is 0 (free)" "$(field word)" 0
expect "one lock in all, none contended" "$(field lock_count)/$(field contended_count)" 1/0
expect "the trace ring holds the call" "$(field head)" 1

exec 3>&-
finish
