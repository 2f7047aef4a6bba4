#!/usr/bin/env bash
# End-to-end checks of the interactive shell of the distribution (./graft with no arguments), on a
# pseudo-terminal from util-linux's script(1): JLine gets a real terminal, Tab completes command
# names, method names and options, and Ctrl-D leaves with status 0; on a dumb terminal (TERM=dumb)
# the shell runs commands and 'exit 0' leaves with status 0; with stdin a pipe it runs commands
# and writes nothing to stderr. (Ctrl-C under a followed job: ShellCompletionTest, in the
# framework tests.) About 20 seconds.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v script >/dev/null 2>&1; then
  echo "interactive shell test: skipped (script from util-linux is missing)"
  exit 0
fi
./graft graft:methods >/dev/null || { echo "interactive shell test: ./graft does not run" >&2; exit 1; }

work="$(mktemp -d)"
export GRAFT_HOME="$work/home"
trap 'exec 3>&- 2>/dev/null; rm -rf "$work"' EXIT
failures=0
check() { # check <description> <command...>: runs the command, reports ok or FAIL
  local what="$1"
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what" >&2; failures=$((failures + 1)); fi
}
# The screen so far, without colours and cursor movements.
screen() { sed -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' -e 's/\x1b[=>]//g' "$work/screen"; }
# await <text>: waits up to 30 s for the text on the screen after the last mark.
await() {
  for _ in $(seq 1 300); do
    screen | tail -c +"$mark" | grep -qF -- "$1" && return 0
    sleep 0.1
  done
  echo "not on the screen: $1" >&2
  screen | tail -c +"$mark" >&2
  return 1
}
absent() { ! screen | tail -c +"$mark" | grep -qF -- "$1"; }
# keys <keys>: types them (printf format), after marking the end of the screen so far.
keys() {
  mark=$(($(screen | wc -c) + 1))
  # shellcheck disable=SC2059
  printf "$1" >&3
}

# start <TERM>: ./graft in script(1) on a 160x40 terminal of that type, keys from a FIFO.
start() {
  rm -f "$work/keys" "$work/screen"
  mkfifo "$work/keys"
  TERM="$1" script -qfec "stty cols 160 rows 40; ./graft; echo \"EXIT=\$?\"" /dev/null \
    <"$work/keys" >"$work/screen" 2>&1 &
  exec 3>"$work/keys"
  mark=1
}
finish() { # Ctrl-D, then waits for script(1) to end
  keys '\004'
  wait
  exec 3>&-
}

start xterm
check "the banner says how to list commands and leave" \
  await "Graft: 'graft:help' lists the commands, Tab completes them; Ctrl-D or 'exit 0' leaves."
check "no JLine warning" bash -c "! grep -q 'WARNING' '$work/screen'"
keys 'graft:met\t'
check "graft:met<Tab> offers graft:method and graft:methods with what they do" \
  await "list the installed fine-tuning methods"
keys '\025graft:method lo\t'
check "graft:method lo<Tab> offers the methods that start with lo" await "lora-plus"
check "... and not the others" absent "dora"
keys '\025graft:eval --ma\t'
check "graft:eval --ma<Tab> offers --max-length and --max-samples" await "--max-samples"
keys '\025'
finish
check "Ctrl-D leaves with status 0" grep -q "EXIT=0" "$work/screen"

start dumb
check "on a dumb terminal the shell starts" await "Ctrl-D or 'exit 0' leaves."
keys 'graft:methods\r'
check "on a dumb terminal graft:methods runs" await "dev.graft.method.lora"
keys 'exit 0\r'
wait
exec 3>&-
check "'exit 0' leaves with status 0" grep -q "EXIT=0" "$work/screen"

out=$(printf 'graft:backends\n' | ./graft 2>"$work/err")
check "with stdin a pipe the shell runs commands" grep -q "available" <<<"$out"
check "with stdin a pipe nothing goes to stderr" [ ! -s "$work/err" ]

echo "interactive shell test: $failures failed"
[ $failures -eq 0 ]
