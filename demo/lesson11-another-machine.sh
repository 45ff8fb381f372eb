#!/usr/bin/env bash
# Lesson 11: a service on another machine, debugged from this one.
#
# ipcscope reads /dev/shm of the machine it runs on. For a service elsewhere, a tiny agent
# (mbvipc-agent: C, libc only, static) runs on the target and hands the section's bytes and
# what the target knows of its processes over a plain byte stream; `ssh -T` carries it. The
# full tool stays on the developer's side, like gdb with gdbserver.
#
# "Another machine" here is an sshd of the lesson's own on 127.0.0.1 (own host key, config
# and client key in the lesson's folder; no system service is touched): the same steps work
# against any host you can `ssh` to.
#
#   demo/lesson11-another-machine.sh           tmux: the remote server, a client, attach --host
#   demo/lesson11-another-machine.sh --check   unattended, checks what --host sees
#
# Needs: apt-get install -y openssh-server openssh-client.
source "$(dirname "$0")/lib.sh"
SSHD=/usr/sbin/sshd
for tool in "$SSHD" ssh ssh-keygen make cc; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$LESSON needs $tool: apt-get install -y openssh-server openssh-client make gcc" >&2; exit 1; }
done

narrate "Lesson 11: a service on another machine. The server of '$NAME' runs on the \
target; on the target there is no Swift and no ipcscope, only the static agent \
mbvipc-agent. 'ipcscope status --host HOST NAME' starts 'ssh -T HOST mbvipc-agent' and asks \
it for snapshots: the same bytes a local reader would pread, plus the liveness lock and, for \
each pid, its command line on the target. list, status, watch, record, attach and call \
all take --host. The agent only reads: it cannot call unless started with --allow-calls."

step "building the agent (static, libc only)"
make -s -C "$REPO/Sources/MBVIPC" agent O="$WORK/agent" >"$WORK/make.out" 2>&1 || { cat "$WORK/make.out"; exit 1; }
AGENT="$WORK/agent/mbvipc-agent"
echo "$AGENT: $(du -k "$AGENT" | cut -f1) KB, $(file -b "$AGENT" 2>/dev/null | cut -d, -f1-2 || true)"

step "starting the 'other machine': an sshd on 127.0.0.1 with its own keys"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/hostkey"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/clientkey"
cp "$WORK/clientkey.pub" "$WORK/authorized_keys"
USER_NAME=$(id -un)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p /run/sshd 2>/dev/null || true   # sshd's privilege-separation directory
cat >"$WORK/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/hostkey
PidFile $WORK/sshd.pid
UsePAM no
StrictModes no
AuthorizedKeysFile $WORK/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowUsers $USER_NAME
EOF
cat >"$WORK/ssh_config" <<EOF
Host *
  User $USER_NAME
  IdentityFile $WORK/clientkey
  IdentitiesOnly yes
  UserKnownHostsFile $WORK/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
EOF
start sshd "$SSHD" -f "$WORK/sshd_config" -D -e
wait_output sshd "Server listening" 10 || { output sshd; exit 1; }
TARGET="127.0.0.1:$PORT"
# What a user types is just '--host HOST'; the lesson adds its own ssh config and agent path.
HOST=(--host "$TARGET" --ssh-config "$WORK/ssh_config" --agent-command "$AGENT")
echo "ssh -F $WORK/ssh_config -p $PORT 127.0.0.1   # reaches the 'other machine'"

if [ "$MODE" = interactive ]; then
  panes \
    "on the target: the server|$IPCSCOPE serve $NAME --echo" \
    "here: attach --host (q quits)|sleep 1; $IPCSCOPE attach $NAME ${HOST[*]}" \
    "on the target: a client, press Enter|type:$IPCSCOPE call $NAME --function 7 --text 'hello from over there'"
  exit 0
fi

# ---------------------------------------------------------------- --check
start server "$IPCSCOPE" serve "$NAME" --echo
SERVER=$LAST_PID
wait_output server "serving '$NAME'"
"$IPCSCOPE" call "$NAME" --function 7 --text 'hello from over there' </dev/null >"$WORK/call.out"
check "a call on the target is answered" grep -q "^status 0" "$WORK/call.out"

step "1. list --host: the target's sections"
"$IPCSCOPE" list "${HOST[@]}" >"$WORK/list.out" 2>&1
check "the target's list names '$NAME'" grep -q "$NAME" "$WORK/list.out"

step "2. status --host: the section, read on the target"
"$IPCSCOPE" status "$NAME" "${HOST[@]}" >"$WORK/status.out" 2>&1
cat "$WORK/status.out" | head -12
check "it says where: on 127.0.0.1, the target" grep -q "^service $NAME on 127.0.0.1" "$WORK/status.out"
check "the server by its pid and command line on the target" grep -q "$SERVER (ipcscope serve $NAME --echo)" "$WORK/status.out"
check "the request slot's bytes: 'hello from over there'" grep -q "68 65 6c 6c 6f 20 66 72  6f 6d 20 6f 76 65 72 20" "$WORK/status.out"
"$IPCSCOPE" status "$NAME" "${HOST[@]}" --json >"$WORK/status.json" 2>&1
check "--json: the same fields a local status gives (calls served 1)" grep -q '"calls_served":1' "$WORK/status.json"

step "3. watch --host: calls on the target, as they happen"
start watch "$IPCSCOPE" watch "$NAME" "${HOST[@]}" --json --limit 1 --timeout 30
WATCH=$LAST_PID
wait_output watch "watching '$NAME' on 127.0.0.1" 20 || exit 1
"$IPCSCOPE" call "$NAME" --function 8 --text 'seen from here' </dev/null >/dev/null
wait_exit "$WATCH" 30 || true
output watch | grep '"event":"call"' | head -1
check "watch --host exits 0 after its one call" test "$EXIT_CODE" = 0
check "the call, whole: function 8 and its request bytes" grep -q '"function":8.*"request_hex":"7365656e2066726f6d2068657265"' "$WORK/watch.out"

step "4. call --host: only an agent started with --allow-calls makes calls"
"$IPCSCOPE" call "$NAME" "${HOST[@]}" --function 9 --text 'from here' </dev/null >"$WORK/refused.out" 2>&1 && REFUSED=0 || REFUSED=$?
head -2 "$WORK/refused.out"
check "refused (exit 1), saying how to allow it" sh -c "[ $REFUSED = 1 ] && grep -q -- '--allow-calls' '$WORK/refused.out'"
"$IPCSCOPE" call "$NAME" --host "$TARGET" --ssh-config "$WORK/ssh_config" --agent-command "$AGENT --allow-calls" \
  --function 9 --text 'from here' </dev/null >"$WORK/allowed.out" 2>&1
head -2 "$WORK/allowed.out"
check "with --allow-calls the target's server answers" grep -q "^status 0" "$WORK/allowed.out"

finish
