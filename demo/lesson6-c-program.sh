#!/usr/bin/env bash
# Lesson 6: a C program talks to the Swift server: the format belongs to no language.
#
# demo/c/hello_client.c uses only libc and the format's C header
# (Sources/CIPCScope/include/ipcscope_section.h). The lesson compiles it with cc, runs it
# against the demo service (Swift): put and get take C structs, which the program declares
# itself, and the Swift client reads back what C stored, decoded through the demo's schema.
#
#   demo/lesson6-c-program.sh           tmux: the Swift server, the inspector, the C program
#   demo/lesson6-c-program.sh --check   unattended, checks the C calls and the Swift read-back
source "$(dirname "$0")/lib.sh"
SOURCE="$DEMO_DIR/c/hello_client.c"
PROGRAM="$WORK/hello_client"

narrate "Lesson 6: a C program and a Swift server. The bytes of the section are the \
protocol: a header (state, events, mutex), a request slot and a response slot at fixed \
offsets. Any language that can map shared memory, use a pthread mutex and a futex can \
speak it. We compile demo/c/hello_client.c with cc from the C header alone and let it \
call the Swift demo service: put {key \"year\", value 1972} (a C struct: char key[16], \
uint8_t flags, int64_t value), get {key \"year\"}, echo."

step "compiling"
echo "cc -O2 -Wall -I Sources/CIPCScope/include -o hello_client demo/c/hello_client.c"
cc -O2 -Wall -I "$REPO/Sources/CIPCScope/include" -o "$PROGRAM" "$SOURCE" 2>"$WORK/cc.out" || { cat "$WORK/cc.out"; exit 1; }

if [ "$MODE" = interactive ]; then
  panes \
    "inspector (f: fields / bytes)|sleep 1; $IPCSCOPE attach $NAME --schema $DEMO_SCHEMA" \
    "Swift server (demo functions)|$IPCSCOPE demo --server-only --name $NAME" \
    "C client: press Enter|type:$PROGRAM $NAME" \
    "Swift client reads what C stored|type:$IPCSCOPE call $NAME get --schema $DEMO_SCHEMA --field key=year"
  exit 0
fi

# ---------------------------------------------------------------- --check
check "cc compiled it without a warning" test ! -s "$WORK/cc.out"
start server "$IPCSCOPE" demo --server-only --name "$NAME"
wait_output server "serving the demo functions on '$NAME'"

step "the C program calls the Swift server"
"$PROGRAM" "$NAME" >"$WORK/c.out" 2>&1 && RC=0 || RC=$?
cat "$WORK/c.out"
expect "the C program exits 0" "$RC" 0
check "put year=1972 created the key" \
  grep -qF 'put {key "year", value 1972} -> status 0, 16 bytes: previous 0, version 1, result created' "$WORK/c.out"
check "get year answered 1972" grep -qF 'get {key "year"} -> status 0, 16 bytes: value 1972, version 1' "$WORK/c.out"
check "echo answered its own bytes" grep -qF 'echo "hello from C" -> status 0, "hello from C"' "$WORK/c.out"
C_PID=$(sed -n 's/.*(C, pid \([0-9]*\)).*/\1/p' "$WORK/c.out")
check "the trace ring shows the C program's pid as the caller" \
  bash -c "'$IPCSCOPE' status '$NAME' --json --trace 3 | grep -q '\"client_pid\":$C_PID'"

step "the Swift client reads what C stored"
"$IPCSCOPE" call "$NAME" get --schema "$DEMO_SCHEMA" --field key=year </dev/null >"$WORK/swift.out"
cat "$WORK/swift.out"
check "ipcscope call (Swift) gets year = 1972, decoded from the C struct's bytes" grep -qE '^  value +1972$' "$WORK/swift.out"
check "the version the C put made" grep -qE '^  version +1$' "$WORK/swift.out"
expect "four calls served, three from C and one from Swift" "$(field calls_served)" 4
expect "the mutex is free and the state IDLE" "$(field owner.pid)/$(field state)" 0/IDLE
finish
