# demo/lib.sh — shared by the lessons in demo/. Source it; do not run it.
#
# A lesson runs in one of two modes:
#   (default)  interactive: tmux panes (server, client, inspector) when tmux is installed
#              and this is a terminal; otherwise it prints what to run in each terminal.
#   --check    unattended: sets the scene itself, asserts what the lesson teaches with
#              'ipcscope status NAME --json', prints PASS:/FAIL: lines, exits 1 on any failure.
#
# Everything a lesson starts is stopped, and its /dev/shm objects removed, when it exits
# (trap cleanup EXIT), however it exits.
set -euo pipefail

DEMO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$DEMO_DIR")
MODE=interactive
for arg in "$@"; do
  case "$arg" in
    --check) MODE=check ;;
    -h|--help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 64 ;;
  esac
done

# ---------------------------------------------------------------- the binaries

# IPCSCOPE_BIN (a directory) wins; else the package's bin path, built if needed.
find_bin() {
  if [ -n "${IPCSCOPE_BIN:-}" ]; then echo "$IPCSCOPE_BIN"; return; fi
  local bin
  bin=$(cd "$REPO" && swift build --show-bin-path 2>/dev/null)
  if [ ! -x "$bin/ipcscope" ] || [ ! -x "$bin/IPCScopeTestHelper" ]; then
    echo "building ipcscope (swift build), once…" >&2
    (cd "$REPO" && swift build >&2)
  fi
  echo "$bin"
}
BIN=$(find_bin)
IPCSCOPE="$BIN/ipcscope"
HELPER="$BIN/IPCScopeTestHelper"
# The schema of the demo service's put and get (C structs): lessons pass it to every verb.
DEMO_SCHEMA="$DEMO_DIR/schemas/demo.yaml"

# ---------------------------------------------------------------- names, files, cleanup

LESSON=$(basename "$0" .sh)
NAME="${LESSON%%-*}-$$"                 # e.g. lesson1-12345: unique per run
WORK=$(mktemp -d "/tmp/ipcscope-${LESSON}.XXXXXX")
PIDS=()
NAMES=("$NAME")
TMUX_SESSION=""
FAILS=0

cleanup() {
  trap '' INT TERM HUP            # finish cleaning up, whatever arrives meanwhile
  set +e                          # and whatever fails
  local pid
  if [ -n "$TMUX_SESSION" ]; then
    # What runs in the panes: SIGHUP from a closing pane does not stop everything
    # (serve --script reloads on SIGHUP), so ask each pane's processes to stop first.
    for pid in $(tmux list-panes -s -t "$TMUX_SESSION" -F '#{pane_pid}' 2>/dev/null); do
      PIDS+=($(pgrep -P "$pid" 2>/dev/null))                 # what the pane's shell runs
      case "$(ps -o comm= -p "$pid" 2>/dev/null)" in         # or the pane itself, when exec'd
        bash|sh|zsh|dash|fish|"") ;;
        *) PIDS+=("$pid") ;;
      esac
    done
  fi
  for pid in "${PIDS[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if [ -n "$TMUX_SESSION" ]; then tmux kill-session -t "$TMUX_SESSION" 2>/dev/null || true; fi
  local n
  for n in "${NAMES[@]}"; do rm -f "/dev/shm/ipcscope.$n"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- telling

# narrate "paragraph…": the lesson's words, wrapped to 78 columns.
narrate() {
  echo
  printf '%s\n' "$*" | fold -s -w 78
}

# step "title": a heading.
step() {
  echo
  echo "== $* =="
}

# ---------------------------------------------------------------- processes

# start LABEL CMD...: runs CMD in the background, output in $WORK/LABEL.out; sets $LAST_PID.
# Its stdin is $WORK/LABEL.in when that is a FIFO, else /dev/null.
start() {
  local label=$1; shift
  local in=/dev/null
  [ -p "$WORK/$label.in" ] && in="$WORK/$label.in"
  "$@" <"$in" >"$WORK/$label.out" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# output LABEL: what a started process printed so far.
output() { cat "$WORK/$1.out" 2>/dev/null || true; }

# wait_output LABEL TEXT [SECONDS]: waits until the process printed TEXT.
wait_output() {
  local label=$1 text=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    grep -qF -- "$text" "$WORK/$label.out" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "timed out after ${secs}s waiting for '$text' from $label; it printed:" >&2
  output "$label" | tail -5 >&2
  return 1
}

# wait_exit PID [SECONDS]: waits for a background process to end; its exit code is in $EXIT_CODE.
wait_exit() {
  local pid=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      EXIT_CODE=0
      wait "$pid" 2>/dev/null || EXIT_CODE=$?
      return 0
    fi
    sleep 0.05
  done
  EXIT_CODE=timeout
  return 1
}

# ---------------------------------------------------------------- reading the section

# status_json [NAME]: one snapshot, as ipcscope status --json prints it.
status_json() { "$IPCSCOPE" status "${1:-$NAME}" --json --trace 4 2>/dev/null || true; }

# field KEY [NAME]: the first "KEY":value in the snapshot (quotes removed). Keys used by the
# lessons are unique in the JSON; a few need context: state, server.pid, mutex.owner.pid.
field() {
  local key=$1 json
  json=$(status_json "${2:-$NAME}")
  # (grep finds nothing while the section does not exist yet: that is "", not an error)
  case "$key" in
    state) printf '%s' "$json" | grep -o '"state":{"value":[0-9]*,"name":"[A-Z_]*"' | sed 's/.*"name":"//; s/"$//' || true ;;
    server.pid) printf '%s' "$json" | grep -o '"server":{"pid":[0-9-]*' | sed 's/.*://' || true ;;
    owner.pid) printf '%s' "$json" | grep -o '"owner":{"pid":[0-9-]*' | sed 's/.*://' || true ;;
    *) printf '%s' "$json" | grep -o "\"$key\":[^,}]*" | head -1 | sed 's/^"[^"]*"://; s/"//g' || true ;;
  esac
}

# wait_field KEY VALUE [SECONDS] [NAME]: waits until field KEY reads VALUE.
wait_field() {
  local key=$1 want=$2 secs=${3:-10} name=${4:-$NAME} i got=""
  for ((i = 0; i < secs * 20; i++)); do
    got=$(field "$key" "$name")
    [ "$got" = "$want" ] && return 0
    sleep 0.05
  done
  echo "timed out after ${secs}s waiting for $key = $want (it is '$got')" >&2
  return 1
}

# ---------------------------------------------------------------- checking

# check "what the lesson says" COMMAND...: PASS when COMMAND succeeds.
check() {
  local what=$1; shift
  if "$@"; then echo "PASS: $what"; else echo "FAIL: $what"; FAILS=$((FAILS + 1)); fi
}

# expect "what" ACTUAL EXPECTED: PASS when they are equal.
expect() {
  if [ "$2" = "$3" ]; then echo "PASS: $1 ($2)"; else echo "FAIL: $1: expected '$3', got '$2'"; FAILS=$((FAILS + 1)); fi
}

# finish: the verdict of a --check run.
finish() {
  echo
  if [ "$FAILS" -eq 0 ]; then
    echo "$LESSON: every check passed"
  else
    echo "$LESSON: $FAILS check(s) FAILED"
    exit 1
  fi
}

# ---------------------------------------------------------------- interactive panes

# tmux, on the socket LESSON_TMUX_SOCKET when set (the tests use their own tmux server).
tmux() { command tmux ${LESSON_TMUX_SOCKET:+-L "$LESSON_TMUX_SOCKET"} "$@"; }

# have_tmux: tmux is installed and we are on a terminal.
have_tmux() { command -v tmux >/dev/null 2>&1 && [ -t 0 ] && [ -t 1 ]; }

# panes "TITLE|COMMAND[|AS TOLD]" ...: one tmux pane per argument, then attaches. The first pane (the
# inspector, in every lesson) takes the left of the window at full height; the others are
# stacked on the right. A COMMAND starting with "type:" is typed into a shell but not run
# (the teacher presses Enter). Without tmux (or without a terminal), prints what to run in
# each terminal instead (AS TOLD, when given, replaces COMMAND there).
panes() {
  if ! have_tmux; then
    narrate "No tmux here (or no terminal), so open one terminal per pane below and run, in each:"
    local i=1 spec shown
    for spec in "$@"; do
      shown=${spec#*|}
      shown=${shown##*|}            # a third field: how to say it to a person
      shown=${shown#type:}
      shown=${shown#sleep 1; }
      echo "  terminal $i (${spec%%|*}):"
      echo "    $shown"
      i=$((i + 1))
    done
    echo
    echo "When you are done, stop them with Ctrl-C (or q in the inspector) and press Enter here to clean up."
    read -r _ || true
    return 0
  fi
  TMUX_SESSION="$NAME"
  local cols lines spec ids=() id
  cols=$(tput cols 2>/dev/null || echo 160)
  lines=$(tput lines 2>/dev/null || echo 48)
  for spec in "$@"; do
    if [ ${#ids[@]} -eq 0 ]; then
      id=$(tmux new-session -d -P -F '#{pane_id}' -s "$TMUX_SESSION" -x "$cols" -y "$lines")
      tmux set-option -t "$TMUX_SESSION" pane-border-status top >/dev/null
    else
      id=$(tmux split-window -P -F '#{pane_id}' -t "$TMUX_SESSION")
      tmux select-layout -t "$TMUX_SESSION" tiled >/dev/null   # room for the next split
    fi
    tmux select-pane -t "$id" -T "${spec%%|*}"
    ids+=("$id")
  done
  # The inspector needs at least 80x24: give it the left, at full height.
  local main=$(( cols - 62 > 82 ? cols - 62 : 82 ))
  tmux set-window-option -t "$TMUX_SESSION" main-pane-width "$main" >/dev/null
  tmux select-layout -t "$TMUX_SESSION" main-vertical >/dev/null
  local i cmd
  for i in "${!ids[@]}"; do
    # Let the shell print its prompt before typing into it (at most 3 s).
    for _ in $(seq 30); do tmux capture-pane -p -t "${ids[$i]}" | grep -q . && break; sleep 0.1; done
    spec=${*:i+1:1}
    cmd=${spec#*|}
    cmd=${cmd%%|*}
    if [ "${cmd#type:}" != "$cmd" ]; then
      tmux send-keys -t "${ids[$i]}" "${cmd#type:}"
    else
      tmux send-keys -t "${ids[$i]}" "$cmd" Enter
    fi
  done
  tmux select-pane -t "${ids[${#ids[@]}-1]}"
  narrate "Opening tmux session '$TMUX_SESSION' (Ctrl-b d leaves it; everything is cleaned up then)."
  sleep 1
  if [ -n "${TMUX:-}" ]; then
    # Already inside tmux: switch this client over (or, without one, say how to get there).
    tmux switch-client -t "$TMUX_SESSION" 2>/dev/null || echo "Run 'tmux attach -t $TMUX_SESSION' to see the lesson."
    echo "Press Enter here when you are done, to stop everything and clean up."
    read -r _ || true
  else
    tmux attach -t "$TMUX_SESSION" || true
  fi
}
