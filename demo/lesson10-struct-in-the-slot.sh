#!/usr/bin/env bash
# Lesson 10: the demo's put request, a C struct, in the request slot: its bytes, the same
# bytes as fields, and the 7 bytes of padding C puts between them.
#
# The demo service's put takes `struct demo_put_req { char key[16]; uint8_t flags;
# int64_t value; }`: 32 bytes, because value must start on an 8-byte boundary (offset 24),
# so 7 bytes after flags hold nothing. demo/schemas/demo.yaml says so; with it ipcscope builds
# the call from fields and shows the slot both as bytes and as fields.
#
#   demo/lesson10-struct-in-the-slot.sh           tmux: the demo server, the inspector
#                                                 (f: fields / bytes), a client, status
#   demo/lesson10-struct-in-the-slot.sh --check   unattended; freezes the server so the
#                                                 struct can be read in the slot
source "$(dirname "$0")/lib.sh"
SCHEMA=$DEMO_SCHEMA

narrate "Lesson 10: a struct travels through the section. put's request is a C struct: key \
(char[16]) at 0, flags (uint8_t) at 16, then 7 bytes of padding, so that value (int64_t) \
sits at 24, an 8-byte boundary: 32 bytes. The answer, {int64_t previous; uint32_t version; \
uint8_t result;}, is 13 bytes of fields in 16: C rounds a struct's size up to its alignment. \
The client copies the struct's bytes into the request slot; the server reads them there. \
'ipcscope status' shows the slot twice: the bytes, and the same bytes as fields."

if [ "$MODE" = interactive ]; then
  panes \
    "inspector (f: fields / bytes)|sleep 1; $IPCSCOPE attach $NAME --schema $SCHEMA" \
    "server (demo functions)|$IPCSCOPE demo --server-only --name $NAME" \
    "client: a put built from fields|type:$IPCSCOPE call $NAME put --schema $SCHEMA --field key=apple --field flags=add --field value=42" \
    "the slots, as bytes and as fields|type:$IPCSCOPE status $NAME --schema $SCHEMA"
  exit 0
fi

# ---------------------------------------------------------------- --check
# request_slot: what 'ipcscope status' says of the request slot, as bytes and as fields.
request_slot() {
  "$IPCSCOPE" status "$NAME" --schema "$SCHEMA" |
    awk '/^request slot/ || /^decoded/ { p = 1 } /^response slot/ || /^  response slot/ { p = 0 } p'
}

step "0. the layout, as the compiler lays it out"
"$IPCSCOPE" schema "$SCHEMA" | sed -n '/^put/,/^$/p' | tee "$WORK/layout.out"
check "put's request is 32 bytes" grep -q "request: 32 bytes, align 8" "$WORK/layout.out"
check "7 bytes of padding after flags (offset 17)" grep -qE '^ +17 +\(7 bytes padding\)' "$WORK/layout.out"
check "value at offset 24" grep -qE '^ +24 +value +i64' "$WORK/layout.out"
check "the answer ends in 3 bytes of padding" grep -qE '^ +13 +\(3 bytes padding at the end\)' "$WORK/layout.out"

start server "$IPCSCOPE" demo --server-only --name "$NAME"
SERVER=$LAST_PID
wait_output server "serving the demo functions on '$NAME'"

narrate "We freeze the server (SIGSTOP): the client's struct will wait in the request slot, \
REQUEST_READY, for as long as we look at it."
kill -STOP "$SERVER"
start client "$IPCSCOPE" call "$NAME" put --schema "$SCHEMA" --field key=apple --field flags=add --field value=42 --timeout 60
CLIENT=$LAST_PID

step "1. the struct in the request slot (server frozen)"
check "state reaches REQUEST_READY" wait_field state REQUEST_READY 10
request_slot | tee "$WORK/slot.out"
check "32 bytes, function 1" grep -q "function 1, 32 bytes" "$WORK/slot.out"
check "bytes 0-15: the key, NUL-padded" \
  grep -qF '00000000  61 70 70 6c 65 00 00 00  00 00 00 00 00 00 00 00  |apple...........|' "$WORK/slot.out"
check "byte 16: flags 0x02 (add); 17-23: padding; 24-31: 42 little-endian" \
  grep -qF '00000010  02 00 00 00 00 00 00 00  2a 00 00 00 00 00 00 00' "$WORK/slot.out"
check "the same bytes as fields: key" grep -qE '^ +key +"apple"$' "$WORK/slot.out"
check "flags" grep -qE '^ +flags +add \(0x2\)$' "$WORK/slot.out"
check "value" grep -qE '^ +value +42$' "$WORK/slot.out"
expect "status --json carries both: the bytes" \
  "$(status_json | grep -o '"request":{[^}]*}' | grep -o '"data_hex":"[0-9a-f]*"')" \
  '"data_hex":"6170706c65000000000000000000000002000000000000002a00000000000000"'

narrate "The server runs again: it reads the struct from the slot and answers another one."
kill -CONT "$SERVER"
check "the client finishes" wait_exit "$CLIENT" 10
expect "the client exits 0" "$EXIT_CODE" 0

step "2. the answer: 13 bytes of fields in 16"
cat "$WORK/client.out"
check "status 0, 16 bytes" grep -q "^status 0 (ok), 16 bytes" "$WORK/client.out"
check "result: created (a new key)" grep -qE '^ +result +created \(0\)$' "$WORK/client.out"
check "its bytes: previous 0, version 1, result 0, then 3 bytes of padding" \
  grep -qF '00000000  00 00 00 00 00 00 00 00  01 00 00 00 00 00 00 00' "$WORK/client.out"

step "3. padding is not data"
narrate "A C program that does not zero its struct sends whatever was on its stack in the \
padding. Here bytes 17-23 are ee: the server reads key, flags and value at their offsets and \
never looks at the padding: it answers as it would for zeros."
HEX="6170706c650000000000000000000000 02 eeeeeeeeeeeeee 0800000000000000"
"$IPCSCOPE" call "$NAME" put --schema "$SCHEMA" --hex "$HEX" </dev/null >"$WORK/garbage.out"
cat "$WORK/garbage.out"
check "add 8: previous 42, version 2, result added" \
  bash -c "grep -qE '^ +previous +42$' '$WORK/garbage.out' && grep -qE '^ +version +2$' '$WORK/garbage.out' && grep -qE '^ +result +added \(2\)$' '$WORK/garbage.out'"
request_slot >"$WORK/slot2.out"
check "the slot holds the ee bytes" grep -qF '00000010  02 ee ee ee ee ee ee ee  08 00 00 00 00 00 00 00' "$WORK/slot2.out"
check "and the fields do not show them" grep -qE '^ +value +8$' "$WORK/slot2.out"

step "4. get reads it back; a text put is the wrong size"
"$IPCSCOPE" call "$NAME" get --schema "$SCHEMA" --field key=apple </dev/null >"$WORK/get.out"
cat "$WORK/get.out"
check "get apple: value 50 (42 + 8), version 2, last added" \
  bash -c "grep -qE '^ +value +50$' '$WORK/get.out' && grep -qE '^ +version +2$' '$WORK/get.out' && grep -qE '^ +last +added \(2\)$' '$WORK/get.out'"
"$IPCSCOPE" call "$NAME" put --schema "$SCHEMA" --text 'apple=3' </dev/null >"$WORK/text.out"
check "'apple=3' (7 bytes, not 32): status 1, named by the schema" grep -q "^status 1 (malformed: not 32 bytes" "$WORK/text.out"
finish
