#!/usr/bin/env bash
# spec/check.sh: model-checks the section protocol (spec/section.pml) with SPIN.
#
# Every check builds a verifier (spin -a, then cc -O2 pan.c) for one scenario and one variant of
# the model and runs one named property:
#   pass     the model as the code is must satisfy it ("errors: 0", search complete);
#   mutant   a deliberately broken model must violate it, with a trail that replays;
#   finding  the model as the code is violates it: a real issue, described in spec/README.md
#            ("Findings"), with a trail that replays (none is open: the findings so far are
#            fixed, and the code as it was before each fix is a mutant).
# Liveness is checked with pan -a: without fairness where the property must hold (stronger),
# with weak fairness (-f) where a counterexample is expected (so it is a fair run).
# One line per check: states stored, search depth, memory (MB), seconds of search. Exits 1 on
# any surprise (a pass that fails, a mutant or finding that holds, an incomplete search).
#
# Bounds: every search of the default set is exhaustive (no bitstate) within -m10000 (search
# depth; the deepest reaches about 500), with a hash table of 2^23 slots, MEMLIM=1024 MB and a
# timeout of 120 s. Verifiers are built and searched two at a time (-j). The default set costs
# about 60 s of CPU (two thirds of it cc): about a minute of wall time on a 2-core machine,
# more when others' builds share the cores.
#
# Usage: spec/check.sh [-j N] [--deep] [--only TEXT] [--keep DIR] [--list]
#   -j N         builds and searches at once (default 2)
#   --deep       also check the larger configurations (every kind of event at once, two calls
#                per client, three clients: exhaustive with -DCOLLAPSE, or bitstate) and the
#                deadlines with no takeover; about 10 minutes, and up to 2 GB per search (4 GB
#                with -j 2; -j 1 halves it)
#   --only TEXT  run only the checks whose name contains TEXT
#   --keep DIR   copy the counterexample trails (and their replays) to DIR
#   --list       print the checks and exit
# Needs spin (Debian: apt-get install -y spin) and cc. Works in a temporary directory that is
# removed at exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
model="$here/section.pml"
deep=0 only="" keep="" list=0 jobs=2
while [ $# -gt 0 ]; do
  case "$1" in
    -j) jobs="${2:?-j needs a number}"; shift ;;
    --deep) deep=1 ;;
    --only) only="${2:?--only needs a text}"; shift ;;
    --keep) keep="${2:?--keep needs a directory}"; shift ;;
    --list) list=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
command -v spin >/dev/null || { echo "check.sh: spin is not installed: apt-get install -y spin" >&2; exit 2; }
command -v cc >/dev/null || { echo "check.sh: cc is not installed: apt-get install -y gcc" >&2; exit 2; }
[ -r "$model" ] || { echo "check.sh: cannot read $model" >&2; exit 2; }
if [ -n "$keep" ]; then mkdir -p "$keep" && keep="$(cd "$keep" && pwd)"; fi

work="$(mktemp -d /tmp/ipcscope-spin.XXXXXX)"
trap 'rm -rf "$work"' EXIT
kill_tree() {  # SIGTERM to a process and everything under it, by pid
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do kill_tree "$c"; done
  kill -TERM "$1" 2>/dev/null || true
}
on_signal() { trap - TERM INT; for j in $(jobs -p); do kill_tree "$j"; done; wait; rm -rf "$work"; exit 143; }
trap on_signal TERM INT

# MARK: - scenarios (the model's switches; README "Scenarios")

sw() {  # sw CLIENT_DEATHS SERVER_DEATHS GIVE_UPS CLIENT_SLICES SERVER_SLICES
  echo "-DCLIENT_DEATHS=$1 -DSERVER_DEATHS=$2 -DGIVE_UPS=$3 -DCLIENT_SLICES=$4 -DSERVER_SLICES=$5"
}
QUIET="$(sw 0 0 0 0 0)"           # no deaths, no give-ups, no slices: every wake-up must come from a wake
GIVEUPS="$(sw 0 0 1 0 0)"         # a deadline passes or a call is cancelled, anywhere
CDEATH="$(sw 1 0 0 0 1)"          # a client is killed at any step (the server's 1 s slice is there)
CDEATH_STRICT="$(sw 1 0 0 0 0)"   # ... and nobody relies on the server's slice
SDEATH="$(sw 0 1 0 1 0)"          # the server is killed at any step; a takeover may follow
SDEATH_GIVEUPS="$(sw 0 1 1 0 0)"  # ... and calls give up (no client slices: only deadlines end waits)
# Every safety search also reports a deadlock (an invalid end state), except for mutant c (-E),
# which wedges calls by design.

# MARK: - the checks: name | expect | spin -D flags | pan flags [| model, default section.pml]

SAFE="safety (seq_rule own_answer untorn_request mutex_repaired waiting_exact takeover_clean)"
checks=(
  "server_wakes|pass|$QUIET|-a -N server_wakes"
  "client_wakes|pass|$QUIET|-a -N client_wakes"
  "giveups/$SAFE|pass|$GIVEUPS|-N safety"
  "giveups/deadline_honoured|pass|$GIVEUPS|-a -N deadline_honoured"
  "client-death/$SAFE|pass|$CDEATH|-N safety"
  "client-death/owner_death_recovered|pass|$CDEATH|-a -N owner_death_recovered"
  "client-death/calls_return|pass|$CDEATH|-a -N calls_return"
  "client-death-strict/calls_return|pass|$CDEATH_STRICT|-a -N calls_return"
  "server-death/$SAFE|pass|$SDEATH|-N safety"
  "server-death/calls_return|pass|$SDEATH|-a -N calls_return"
  "server-death/step3_takeover_answered|pass|$SDEATH|-a -N step3_takeover_answered"
  "server-death-no-takeover/calls_return|pass|$SDEATH -DTAKEOVER=0|-a -N calls_return"
  "mutant-a no server re-check: server_wakes|mutant|$QUIET -DMUT_NO_SERVER_RECHECK|-a -f -N server_wakes"
  "mutant-b no seq check: giveups/seq_rule (holds: the seq check is redundant)|pass|$GIVEUPS -DMUT_NO_SEQ_CHECK|-N seq_rule"
  "mutant-b+e no seq check, no step 3: giveups/seq_rule|mutant|$GIVEUPS -DMUT_NO_SEQ_CHECK -DMUT_NO_STEP3|-N seq_rule"
  "mutant-c takeover keeps state: server-death/takeover_clean|mutant|$SDEATH -DMUT_TAKEOVER_KEEPS_STATE|-E -N takeover_clean"
  "mutant-d no client re-check: client_wakes|mutant|$QUIET -DMUT_NO_CLIENT_RECHECK|-a -f -N client_wakes"
  "mutant-e no step 3: giveups/untorn_request|mutant|$GIVEUPS -DMUT_NO_STEP3|-N untorn_request"
  "mutant-e no step 3: giveups/seq_rule (holds: the seq check catches it)|pass|$GIVEUPS -DMUT_NO_STEP3|-N seq_rule"
  "mutant-f no pthread_mutex_consistent: client-death/mutex_repaired|mutant|$CDEATH -DMUT_NO_CONSISTENT|-N mutex_repaired"
  "mutant-g epoch before IDLE at a takeover: server-death/calls_return|mutant|$SDEATH -DMUT_EPOCH_BEFORE_IDLE|-a -f -N calls_return"
  "mutant-h step-3 waiter keeps the old epoch: server-death/step3_takeover_answered|mutant|$SDEATH -DMUT_STEP3_OLD_EPOCH|-a -f -N step3_takeover_answered"
  "mutant-i no wake after recovering a dead owner: client-death-strict/calls_return|mutant|$CDEATH_STRICT -DMUT_NO_RECOVERY_WAKE|-a -f -N calls_return"
  "mutant-j no client_waiting reset: client-death/waiting_exact|mutant|$CDEATH -DMUT_NO_WAITING_RESET|-N waiting_exact"
  # spec/shutdown_now.pml: Swift's shutdownNow() against its serving thread and a successor.
  "shutdownNow/clients_return|pass|||shutdown_now.pml"
  "mutant-k plain PROCESSING store: shutdownNow/clients_return|mutant|-DMUT_PLAIN_STORE||shutdown_now.pml"
  "mutant-l no hand-back after shutdownNow: shutdownNow/clients_return|mutant|-DMUT_NO_HANDBACK||shutdown_now.pml"
)
if [ "$deep" = 1 ]; then
  # @collapse: exhaustive with state compression (-DCOLLAPSE), up to 3 GB and 30 minutes;
  # @bitstate: a bitstate (supertrace) search, 2^31 bits, 3 hash functions: it may miss states.
  ALL="$(sw 1 1 1 1 1)"
  checks+=(
    "server-death-no-takeover/deadline_honoured|pass|$SDEATH_GIVEUPS -DTAKEOVER=0|-a -N deadline_honoured"
    "everything at once/$SAFE|pass|$ALL|-N safety @collapse"
    "two calls each: giveups/$SAFE|pass|$GIVEUPS -DCALLS=2|-N safety @collapse"
    "three clients: giveups/$SAFE|pass|$GIVEUPS -DNCLIENTS=3|-N safety @collapse"
    "three clients: client-death/$SAFE|pass|$CDEATH -DNCLIENTS=3|-N safety @collapse"
    "three clients: client-death/calls_return (bitstate)|pass|$CDEATH -DNCLIENTS=3|-a -N calls_return @bitstate"
    "three clients: server-death/$SAFE (bitstate)|pass|$SDEATH -DNCLIENTS=3|-N safety @bitstate"
  )
fi

if [ "$list" = 1 ]; then
  for c in "${checks[@]}"; do IFS='|' read -r name expect _ _ _ <<<"$c"; printf '%-8s %s\n' "$expect" "$name"; done
  exit 0
fi

# MARK: - building and running

# The checks to run, and for each verifier (a set of -D flags and a search mode) the formulas it
# needs: only those are compiled in (-DSELECT_CLAIMS -DWANT_name).
sel=()
for c in "${checks[@]}"; do
  IFS='|' read -r name _ _ _ _ <<<"$c"
  if [ -z "$only" ] || [[ "$name" == *"$only"* ]]; then sel+=("$c"); fi
done
[ ${#sel[@]} -gt 0 ] || { echo "check.sh: no check matches '$only' (see --list)" >&2; exit 2; }

declare -A claims=() liveness=()
key_of() { printf '%s|%s|%s' "$1" "$2" "$3" | cksum | cut -d' ' -f1; }
mode_of() { case "$1" in *@collapse*) echo collapse ;; *@bitstate*) echo bitstate ;; *) echo plain ;; esac; }
for c in "${sel[@]}"; do
  IFS='|' read -r _ _ flags panflags file <<<"$c"
  mode="$(mode_of "$panflags")"
  claim="$(sed -n 's/.*-N \([A-Za-z0-9_]*\).*/\1/p' <<<"$panflags")"
  k="$(key_of "$flags" "$mode" "$file")"
  [ -z "$claim" ] || claims[$k]="${claims[$k]:-} -DWANT_$claim"
  claims[$k]="${claims[$k]:-}"
  [[ " $panflags " == *" -a "* ]] && liveness[$k]=1
  echo "$flags|$mode|${file:-section.pml}" >"$work/flags.$k"
done

build() {  # build KEY: spin -a and cc into $work/bKEY; writes bKEY/failed on failure
  local k="$1" flags mode file dir cflags
  IFS='|' read -r flags mode file <"$work/flags.$k"
  dir="$work/b$k"
  mkdir -p "$dir"
  cp "$here/$file" "$dir/section.pml"  # under one name: the trail and its replay do not care
  # shellcheck disable=SC2086
  if ! (cd "$dir" && timeout 120 spin $flags -DSELECT_CLAIMS ${claims[$k]} -a section.pml >spin.out 2>&1); then
    cp "$dir/spin.out" "$dir/failed"; return
  fi
  cflags="-O2 -DNFAIR=3"
  [ -n "${liveness[$k]:-}" ] || cflags="$cflags -DSAFETY"  # no acceptance cycles to look for
  case "$mode" in
    plain) cflags="$cflags -DMEMLIM=1024" ;;
    collapse) cflags="$cflags -DMEMLIM=3072 -DCOLLAPSE" ;;
    bitstate) cflags="$cflags -DMEMLIM=1024 -DBITSTATE" ;;
  esac
  # shellcheck disable=SC2086
  (cd "$dir" && timeout 300 cc $cflags -o pan pan.c >cc.out 2>&1) || cp "$dir/cc.out" "$dir/failed"
}

# Runs check number I and writes its result line to $work/result.I (and details to detail.I).
run_check() {
  local i="$1" c="${sel[$1]}" name expect flags panflags file mode k dir src out errors states depth
  local mem secs result problem trail replay base verdict wflag limit
  IFS='|' read -r name expect flags panflags file <<<"$c"
  mode="$(mode_of "$panflags")"
  panflags="${panflags/@collapse/}"; panflags="${panflags/@bitstate/}"
  k="$(key_of "$flags" "$mode" "$file")"
  src="$work/b$k"
  if [ -e "$src/failed" ]; then
    printf 'SURPRISE %s: the verifier did not build\n' "$name" >"$work/result.$i"
    cat "$src/failed" >"$work/detail.$i"
    return
  fi
  dir="$work/r$i"  # its own directory: the trail and the claim file are per search
  mkdir -p "$dir"
  ln -s "$src/pan" "$dir/pan"
  cp "$src/section.pml" "$dir/section.pml"
  case "$mode" in
    plain) wflag="-w23" limit=120 ;;
    collapse) wflag="-w26" limit=1800 ;;
    bitstate) wflag="-w31 -k3" limit=1800 ;;
  esac
  # shellcheck disable=SC2086
  out="$(cd "$dir" && timeout $limit ./pan -m10000 $wflag $panflags 2>&1)" || true
  errors="$(sed -n 's/.*errors: \([0-9][0-9]*\).*/\1/p' <<<"$out" | tail -1)"
  states="$(sed -n 's/^ *\([0-9.e+]*\) states, stored.*/\1/p' <<<"$out" | tail -1)"
  depth="$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' <<<"$out" | tail -1)"
  mem="$(sed -n 's/^ *\([0-9.]*\)[[:space:]]*total actual memory usage.*/\1/p' <<<"$out" | tail -1)"
  secs="$(sed -n 's/^pan: elapsed time \([0-9.e+-]*\) seconds.*/\1/p' <<<"$out" | tail -1)"
  result="?" problem=""
  if [ -z "$errors" ]; then
    problem="the search did not finish (timeout or crash)"
  elif [ "$errors" = 0 ] && grep -qE "max search depth too small|reached -DMEMLIM|hash table is full|Search not completed" <<<"$out"; then
    problem="incomplete search ($(grep -oE 'max search depth too small|reached -DMEMLIM|hash table is full|Search not completed' <<<"$out" | head -1))"
  elif [ "$errors" = 0 ]; then
    result="holds"
  else
    result="violated"
    trail="$(ls "$dir"/*.trail 2>/dev/null | head -1)"
    if [ -z "$trail" ]; then
      problem="violated, but no trail was written"
    else
      # shellcheck disable=SC2086
      replay="$(cd "$dir" && timeout 120 spin $flags -DSELECT_CLAIMS ${claims[$k]} -t -p -g -l section.pml 2>&1)" || true
      if ! grep -qE "assertion violated|START OF CYCLE|invalid end state" <<<"$replay"; then
        problem="the trail does not replay to the violation"
      elif [ -n "$keep" ]; then
        base="$(printf '%s' "$name" | tr -c 'A-Za-z0-9_.-' '_' | sed 's/__*/_/g; s/_$//')"
        cp "$trail" "$keep/$base.trail"
        printf 'spin %s -DSELECT_CLAIMS%s -t -p -g -l section.pml\n\n%s\n' "$flags" "${claims[$k]}" "$replay" >"$keep/$base.replay.txt"
        cp "$here/${file:-section.pml}" "$keep/${file:-section.pml}"
      fi
    fi
  fi
  verdict="ok"
  if [ -n "$problem" ]; then verdict="SURPRISE: $problem"
  elif [ "$expect" = pass ] && [ "$result" != holds ]; then verdict="SURPRISE: expected to hold"
  elif [ "$expect" != pass ] && [ "$result" != violated ]; then verdict="SURPRISE: expected a counterexample"
  fi
  printf '%-8s %-9s %10s %6s %8s %6s  %s%s\n' "$expect" "$result" "${states:--}" "${depth:--}" "${mem:--}" \
    "${secs:--}" "$name" "$([ "$verdict" = ok ] || echo "  <-- $verdict")" >"$work/result.$i"
  [ "$verdict" = ok ] || printf '%s\n' "$out" | grep -vE '^\s*$' | tail -25 | sed 's/^/    | /' >"$work/detail.$i"
  rm -rf "$dir"
}

throttle() { while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done; }

start_all=$(date +%s)
for k in "${!claims[@]}"; do throttle; build "$k" & done
wait
built=$(date +%s)
for i in "${!sel[@]}"; do throttle; run_check "$i" & done
wait

printf '%-8s %-9s %10s %6s %8s %6s  %s\n' "expect" "result" "states" "depth" "MB" "s" "check"
surprises=0
for i in "${!sel[@]}"; do
  if [ -s "$work/result.$i" ]; then cat "$work/result.$i"; else echo "SURPRISE ${sel[$i]%%|*}: no result"; fi
  if [ -e "$work/detail.$i" ] || ! [ -s "$work/result.$i" ]; then
    surprises=$((surprises + 1))
    [ -e "$work/detail.$i" ] && cat "$work/detail.$i" >&2
  fi
done
end=$(date +%s)
echo "${#sel[@]} checks, ${#claims[@]} verifiers, $surprises surprises; $((end - start_all)) s in all ($((built - start_all)) s building), spin $(spin -V | sed -n 's/Spin Version \([^ ]*\).*/\1/p')"
[ "$surprises" = 0 ]
