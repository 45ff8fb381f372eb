#!/usr/bin/env bash
# Lesson 9: a C struct travels through the section, and a schema says what its bytes mean.
#
# The thermostat service takes `struct set_target_req { uint32_t room; float celsius;
# char who[12]; }` and answers `struct set_target_rsp { bool ok; uint8_t mode; double
# previous; }`. demo/schemas/thermostat.yaml declares both; with it, ipcscope builds a call
# from fields, shows the slots as fields (with C's padding), and a mock server matches and
# answers on fields (demo/scripts/thermostat.yaml).
#
#   demo/lesson9-typed-payloads.sh           tmux: the mock, the inspector (fields view), a shell
#   demo/lesson9-typed-payloads.sh --check   unattended, checks the bytes and the fields
source "$(dirname "$0")/lib.sh"
SCHEMA="$DEMO_DIR/schemas/thermostat.yaml"
SCRIPT="$DEMO_DIR/scripts/thermostat.yaml"

narrate "Lesson 9: typed payloads. A request is a C struct: room (u32), celsius (f32), who \
(char[12]) = 20 bytes. The answer is ok (bool), mode (an enum in a u8), then 6 bytes of padding \
so that previous (f64) sits on an 8-byte boundary = 16 bytes. The schema says so once; 'ipcscope \
schema' prints the layout as the compiler lays it out."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector (f: fields / bytes)|sleep 1; $IPCSCOPE attach $NAME --schema $SCHEMA" \
    "mock thermostat (answers in fields)|$IPCSCOPE serve $NAME --script $SCRIPT" \
    "client: build a call from fields|type:$IPCSCOPE call $NAME set_target --schema $SCHEMA --field room=1 --field celsius=21.5 --field who=alice"
  exit 0
fi

# ---------------------------------------------------------------- --check
"$IPCSCOPE" schema "$SCHEMA" >"$WORK/layout.out"
check "the layout shows the response's padding" grep -q "padding" "$WORK/layout.out"
start mock "$IPCSCOPE" serve "$NAME" --script "$SCRIPT"
wait_output mock "serving '$NAME'"

step "1. a call built from fields, its answer decoded"
OUT=$("$IPCSCOPE" call "$NAME" set_target --schema "$SCHEMA" --field room=1 --field celsius=21.5 --field who=alice --json)
expect "room 1: the mock answers ok, heating, previous 19.5" "$(printf '%s' "$OUT" | grep -o '"fields":{[^}]*}')" \
  '"fields":{"ok":true,"mode":"heating","previous":19.5}'
expect "the answer is the 16-byte struct, padding included" "$(printf '%s' "$OUT" | grep -o '"data_hex":"[0-9a-f]*"')" \
  '"data_hex":"01010000000000000000000000803340"'
check "the mock says which rule matched on a field" wait_output mock 'rule=1@line4 status=0' 2

step "2. the request slot holds the struct: 20 bytes, the string NUL-padded"
"$IPCSCOPE" status "$NAME" --schema "$SCHEMA" >"$WORK/status.out"
check "status decodes the request slot's fields" grep -q 'who *"alice"' "$WORK/status.out"
check "celsius 21.5 is the float 0x41ac0000 (little-endian 00 00 ac 41)" grep -q '00 00 ac 41' "$WORK/status.out"

step "3. another room: the second rule, status 2"
OUT=$("$IPCSCOPE" call "$NAME" set_target --schema "$SCHEMA" --field room=7 --field celsius=18 --field who=bob --json)
expect "status 2, ok false" "$(printf '%s' "$OUT" | grep -o '"status":[0-9-]*,')" '"status":2,'

step "4. a field the struct cannot hold is refused before anything is sent"
RC=0; ERR=$("$IPCSCOPE" call "$NAME" set_target --schema "$SCHEMA" --field room=1 --field who=a-name-too-long-for-12 2>&1) || RC=$?
check "a 22-character name does not fit char[12] (exit $RC)" test "$RC" -ne 0
check "and the error says so" grep -q "who" <<<"$ERR"
finish
