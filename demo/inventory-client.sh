#!/usr/bin/env bash
# inventory-client.sh NAME ITEM — the client under test in lesson 5.
#
# A shop asks the inventory service (function 2, "get ITEM") how many of an item are in
# stock, waiting at most 1 second, and turns every outcome into what the shop should do:
#   exit 0  "apple: 3 in stock" or "banana: not stocked"
#   exit 2  the service did not answer in time (hung or overloaded): try again later
#   exit 3  the service is unavailable (not running, crashed, stopped)
#   exit 4  anything else (a bug somewhere: report it)
set -uo pipefail
IPCSCOPE=${IPCSCOPE:-ipcscope}
name=$1 item=$2

json=$("$IPCSCOPE" call "$name" --function 2 --text "$item" --timeout 1 --json </dev/null 2>/dev/null)
status=$(printf '%s' "$json" | grep -o '"status":-\{0,1\}[0-9]*' | cut -d: -f2)
code=$(printf '%s' "$json" | grep -o '"code":"[A-Za-z]*"' | cut -d'"' -f4)
text=$(printf '%s' "$json" | grep -o '"text":"[^"]*"' | cut -d'"' -f4)

case "$status:$code" in
  0:)  echo "$item: $text in stock"; exit 0 ;;
  2:)  echo "$item: not stocked"; exit 0 ;;
  :timeout) echo "$item: the inventory service did not answer within 1 s; try again later"; exit 2 ;;
  :serverGone|:serverNotRunning|:noSuchService) echo "$item: the inventory service is unavailable"; exit 3 ;;
  *)   echo "$item: unexpected answer (status '$status', error '$code'): please report it"; exit 4 ;;
esac
