#!/usr/bin/env bash
# Lesson 7: the original C API: a C++ echo server and a C client, watched by the inspector.
#
# demo/c++/echo_server.cpp and demo/c++/client.c are the original design's two examples
# (a capture-free lambda as the handler, a zero-initialised connection, wide names), built
# with make, c++ and cc against libmbvipc (Sources/MBVIPC). Nothing from Swift is linked.
#
#   demo/lesson7-cpp-server.sh           tmux: the inspector, the C++ server, the C client
#   demo/lesson7-cpp-server.sh --check   unattended, checks the calls and what the section shows
source "$(dirname "$0")/lib.sh"
LIB="$WORK/lib"
SERVER="$WORK/echo_server"
CLIENT="$WORK/client"
INCLUDES=(-I "$REPO/Sources/MBVIPC/include" -I "$REPO/Sources/CIPCScope/include")

narrate "Lesson 7: the C API this project grew from. A C++ program serves with \
MBV_IPCInitServer and a lambda, a C program calls it with MBV_IPCConnect and MBV_IPCCall. \
The library speaks the same section format as the Swift framework, so the inspector \
watches the C++ server like any other, and a Swift client can call it."

step "building the library and the two programs"
echo "make -C Sources/MBVIPC"
echo "c++ -std=c++11 -Wall -I Sources/MBVIPC/include -I Sources/CIPCScope/include -o echo_server demo/c++/echo_server.cpp Sources/MBVIPC/build/libmbvipc.a -lpthread"
echo "cc -std=c99 -Wall -I Sources/MBVIPC/include -I Sources/CIPCScope/include -o client demo/c++/client.c Sources/MBVIPC/build/libmbvipc.a -lpthread"
{
  make -s -C "$REPO/Sources/MBVIPC" O="$LIB" &&
  c++ -std=c++11 -Wall "${INCLUDES[@]}" -o "$SERVER" "$DEMO_DIR/c++/echo_server.cpp" "$LIB/libmbvipc.a" -lpthread &&
  cc -std=c99 -Wall "${INCLUDES[@]}" -o "$CLIENT" "$DEMO_DIR/c++/client.c" "$LIB/libmbvipc.a" -lpthread
} 2>"$WORK/build.out" || { cat "$WORK/build.out"; exit 1; }

if [ "$MODE" = interactive ]; then
  panes \
    "inspector|sleep 1; $IPCSCOPE attach $NAME" \
    "C++ server (Ctrl-C stops it)|$SERVER $NAME" \
    "C client: press Enter|type:$CLIENT $NAME 'hello from C'" \
    "Swift client|type:$IPCSCOPE call $NAME --function 2 --text 'hello from Swift' --as-text"
  exit 0
fi

# ---------------------------------------------------------------- --check
check "make, c++ and cc built it without a warning" test ! -s "$WORK/build.out"
start server "$SERVER" "$NAME"
SERVER_PID=$LAST_PID
wait_output server "serving '$NAME'"

step "the C client calls the C++ server"
"$CLIENT" "$NAME" "hello from C" >"$WORK/c.out" 2>&1 && RC=0 || RC=$?
cat "$WORK/c.out"
expect "the C client exits 0" "$RC" 0
check "the reply is the request" grep -qF 'Reply: hello from C' "$WORK/c.out"
expect "ipcscope status names the C++ server's pid" "$(field server.pid)" "$SERVER_PID"
expect "and its command line" "$(field command)" "echo_server $NAME"
check "the trace ring shows function 1 and 13 bytes (the text and its terminating zero)" \
  bash -c "'$IPCSCOPE' status '$NAME' --json --trace 1 | grep -q '\"function\":1,\"status\":0,\"request_size\":13,\"response_size\":13'"

step "a Swift client calls the same C++ server"
"$IPCSCOPE" call "$NAME" --function 2 --text "hello from Swift" --as-text </dev/null >"$WORK/swift.out"
expect "ipcscope call (Swift) gets its text back" "$(tail -1 "$WORK/swift.out")" "hello from Swift"
expect "two calls served" "$(field calls_served)" 2
expect "the mutex is free and the state IDLE" "$(field owner.pid)/$(field state)" 0/IDLE

step "Ctrl-C: MBV_IPCStopServer from the signal handler"
kill -INT "$SERVER_PID"
wait_exit "$SERVER_PID" 5 || true
expect "the server exits 0" "$EXIT_CODE" 0
check "it says it stopped" grep -qF 'echo_server: stopped' "$WORK/server.out"
check "and its section is gone" test ! -e "/dev/shm/ipcscope.$NAME"
finish
