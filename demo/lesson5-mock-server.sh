#!/usr/bin/env bash
# Lesson 5: a mock server from a script stands in for a real one while a client is tested.
#
# demo/inventory-client.sh is the client under test: it asks the inventory service for an
# item's stock and must do the right thing whatever happens. The real service rarely hangs
# or crashes on demand; a mock that answers from a YAML script (demo/scripts/inventory-mock.yaml)
# does, so every branch of the client can be tested: a known item, an unknown one, a timeout
# (fault: never_answer) and a crash mid-call (fault: exit).
#
#   demo/lesson5-mock-server.sh           tmux: the mock (its log shows which rule answered),
#                                         the inspector, and a shell to run the client in
#   demo/lesson5-mock-server.sh --check   unattended, checks the client's answer for each case
source "$(dirname "$0")/lib.sh"
SCRIPT="$DEMO_DIR/scripts/inventory-mock.yaml"
CLIENT="$DEMO_DIR/inventory-client.sh"
export IPCSCOPE

narrate "Lesson 5: testing a client against a mock server. 'ipcscope serve $NAME --script \
inventory-mock.yaml' answers like the inventory service would: apple is in stock (3), \
banana is unknown (status 2), asking for cherry makes the mock hang (never_answer), and \
asking for durian makes it crash mid-call (exit 3). The mock logs which rule answered each \
call. The client must turn each case into the right message and exit code."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME" \
    "mock server (log: which rule answered)|$IPCSCOPE serve $NAME --script $SCRIPT" \
    "client under test: try apple, banana, cherry, durian|type:IPCSCOPE=$IPCSCOPE $CLIENT $NAME apple"
  exit 0
fi

# ---------------------------------------------------------------- --check
"$IPCSCOPE" serve --script "$SCRIPT" --check >"$WORK/scriptcheck.out"
check "the mock's script is valid" grep -q "ok, 4 rules" "$WORK/scriptcheck.out"
start mock "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
MOCK=$LAST_PID
wait_output mock "serving '$NAME'"

# client ITEM: runs the client under test; its output in $OUT, its exit code in $RC.
client() { RC=0; OUT=$("$CLIENT" "$NAME" "$1") || RC=$?; }

step "1. the ordinary answers"
client apple
expect "apple: the client reports the stock" "$OUT" "apple: 3 in stock"
expect "and exits 0" "$RC" 0
client banana
expect "banana: the client reports it is not stocked" "$OUT" "banana: not stocked"
check "the mock says which rule answered banana" wait_output mock 'rule=2@line9 status=2' 2

step "2. a timeout: the mock never answers cherry"
T0=$(date +%s%N)
client cherry
ELAPSED_MS=$(( ($(date +%s%N) - T0) / 1000000 ))
expect "cherry: the client gives up and says so" "$OUT" "cherry: the inventory service did not answer within 1 s; try again later"
expect "exit 2 (try again later)" "$RC" 2
check "after about its 1 s deadline (${ELAPSED_MS} ms)" test "$ELAPSED_MS" -ge 900 -a "$ELAPSED_MS" -lt 5000
check "the mock logged the fault" grep -q "fault=never_answer" "$WORK/mock.out"
expect "the hung call still holds the slot: state" "$(field state)" PROCESSING
client apple
expect "while the server hangs, every client times out, even for apple" "$RC" 2

narrate "A hung server blocks every client: its one slot is taken. Restart the mock (SIGTERM: \
a clean stop that removes the section) and go on."
kill -TERM "$MOCK"
check "the mock stops cleanly" wait_exit "$MOCK" 5
expect "exit 0" "$EXIT_CODE" 0
client apple
expect "with no server at all, the client says the service is unavailable" "$RC" 3
start mock2 "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
MOCK=$LAST_PID
wait_output mock2 "serving '$NAME'"

step "3. a crash: the mock exits in the middle of the durian call"
client durian
expect "durian: the client reports the service unavailable" "$OUT" "durian: the inventory service is unavailable"
expect "exit 3" "$RC" 3
check "the mock process ended" wait_exit "$MOCK" 5
expect "with the script's exit code 3" "$EXIT_CODE" 3
expect "the section is left stale, as after a real crash" "$(field alive)" false

step "4. a new mock takes over and the client is fine again"
start mock3 "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
wait_output mock3 "took over '$NAME'"
client apple
expect "apple again" "$OUT" "apple: 3 in stock"
finish
