#!/usr/bin/env bash
# Lesson 3: a client dies holding the mutex.
#
# The mutex is a robust, process-shared pthread mutex: when its owner dies, the kernel
# marks it (FUTEX_OWNER_DIED) instead of leaving everyone blocked forever. The next client
# to lock it gets EOWNERDEAD, repairs the section, counts it in recovered_count, and carries
# on. The server and its data never notice: nothing is lost.
#
#   demo/lesson3-client-dies.sh           tmux: server, inspector, a client that grabs the
#                                         mutex (kill it), and the next client
#   demo/lesson3-client-dies.sh --check   unattended, checks owner died, recovery, data kept
source "$(dirname "$0")/lib.sh"

narrate "Lesson 3: a client dies holding the mutex. '$NAME' runs the demo service (a small \
key-value store whose put and get take C structs). We store answer=42, then a misbehaving client locks the mutex and is \
killed with SIGKILL before it unlocks. Watch the mutex box: the kernel's word says 'owner \
died', while the owner record still names the dead pid. The next client gets EOWNERDEAD, \
repairs the mutex (recovered 1) and reads answer back: 42, nothing lost."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME --schema $DEMO_SCHEMA" \
    "server (demo functions)|$IPCSCOPE demo --server-only --name $NAME" \
    "1: store a value|type:$IPCSCOPE call $NAME put --schema $DEMO_SCHEMA --field key=answer --field value=42" \
    "2: grab the mutex, then Ctrl-C it (it dies holding it)|type:$HELPER hold-mutex $NAME 600" \
    "3: the next client|type:$IPCSCOPE call $NAME get --schema $DEMO_SCHEMA --field key=answer"
  exit 0
fi

# ---------------------------------------------------------------- --check
start server "$IPCSCOPE" demo --server-only --name "$NAME"
wait_output server "serving the demo functions on '$NAME'"

step "1. store a value"
"$IPCSCOPE" call "$NAME" put --schema "$DEMO_SCHEMA" --field key=answer --field value=42 </dev/null >"$WORK/put.out"
check "put answer=42 answered status 0" grep -q "^status 0" "$WORK/put.out"
check "and created the key" grep -qE '^  result +created' "$WORK/put.out"

step "2. a client locks the mutex and dies"
start holder "$HELPER" hold-mutex "$NAME" 600
HOLDER=$LAST_PID
wait_output holder "held pid=$HOLDER"
expect "the holder owns the mutex" "$(field owner.pid)" "$HOLDER"
kill -KILL "$HOLDER"
wait_exit "$HOLDER" 5 || true
check "the kernel marks the owner dead (FUTEX_OWNER_DIED in the mutex word)" wait_field owner_died true 5
expect "the owner record still names the dead pid" "$(field owner.pid)" "$HOLDER"
expect "owner record and kernel word disagree" "$(field owner_mismatch)" true
expect "the server is alive and never noticed" "$(field alive)" true
expect "nothing recovered yet" "$(field recovered_count)" 0

step "3. the next client recovers"
"$IPCSCOPE" call "$NAME" get --schema "$DEMO_SCHEMA" --field key=answer --timeout 10 </dev/null >"$WORK/get.out"
check "get answer returns 42: nothing was lost" grep -qE '^  value +42$' "$WORK/get.out"
expect "the next lock got EOWNERDEAD and repaired the mutex: recovered_count" "$(field recovered_count)" 1
expect "the kernel's word is clean again" "$(field owner_died)" false
expect "the mutex is free" "$(field owner.pid)" 0
check "the trace marks the first call after the recovery" \
  bash -c "'$IPCSCOPE' status '$NAME' --json --trace 1 | grep -q '\"after_recovery\":true'"
"$IPCSCOPE" call "$NAME" --function 0 --text again </dev/null >"$WORK/again.out"
check "calls go on as usual" grep -q "^status 0" "$WORK/again.out"
finish
