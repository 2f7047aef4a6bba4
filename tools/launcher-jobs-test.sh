#!/usr/bin/env bash
# End-to-end checks of how ./graft runs jobs (issue 12), on a real model and data:
#   a job that fails its own checks exits non-zero; --detach leaves the job running in a background
#   process with its log; other processes list, show and cancel it (with a checkpoint); Ctrl-C
#   (SIGINT to the process group, as a terminal sends it) stops a followed job after its current step
#   with a checkpoint and its adapter, and exits 130 with one line; graft:quantize writes a 4-bit
#   folder a qlora job trains on, and fails the command on a bad type.
# Needs stories260K and GSM8K in ../shared (GRAFT_SHARED); skips without them. About a minute.
set -uo pipefail
set -m # background commands get a process group of their own, as a terminal's jobs do
cd "$(dirname "$0")/.."
shared="${GRAFT_SHARED:-../shared}"
model="$shared/models/stories260K"
data="$shared/data/gsm8k/train.jsonl"
if [ ! -f "$model/config.json" ] || [ ! -f "$data" ]; then
  echo "launcher jobs test: skipped ($model or $data is missing)"
  exit 0
fi

GRAFT_HOME="$(mktemp -d)"
export GRAFT_HOME
cleanup() {
  # Stop the background jobs this test started, should a check have left one running.
  for record in "$GRAFT_HOME"/jobs/*/status.properties; do
    [ -f "$record" ] && grep -q '^state=running' "$record" &&
      kill "$(sed -n 's/^pid=//p' "$record")" 2>/dev/null
  done
  rm -rf "$GRAFT_HOME"
}
trap cleanup EXIT
job="$GRAFT_HOME/job.yaml"
cat >"$job" <<EOF
model: $(cd "$model" && pwd)
method: lora
data: $(cd "$(dirname "$data")" && pwd)/$(basename "$data")
data_columns: prompt=question,completion=answer
per_device_train_batch_size: 2
max_length: 64
max_steps: 20
EOF
failures=0
check() { # check <description> <command...>: runs the command, reports ok or FAIL
  local what="$1"
  shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what" >&2; failures=$((failures + 1)); fi
}
# The job folder's recorded state and step.
state() { sed -n 's/^state=//p' "$GRAFT_HOME/jobs/$1/status.properties" 2>/dev/null; }
step() { sed -n 's/^step=//p' "$GRAFT_HOME/jobs/$1/status.properties" 2>/dev/null; }
# await <id> <state> [<min step>]: waits up to 3 minutes for the job to reach the state
await() {
  for _ in $(seq 1 1800); do
    [ "$(state "$1")" = "$2" ] && [ "$(step "$1")" -ge "${3:-0}" ] 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
submitted() { sed -n 's/^Submitted job \([^ ]*\) .*/\1/p'; }

# A job that fails its own checks fails the command, with its sentence on stderr.
err=$(./graft graft:train "$job" per_device_train_batch_size=0 2>&1 >/dev/null)
rc=$?
check "a failing job exits non-zero" [ $rc -ne 0 ]
check "a failing job says why" grep -q "per_device_train_batch_size must be at least 1" <<<"$err"

# graft:quantize writes a 4-bit copy that a qlora job trains on; a bad type fails the command.
q4="$GRAFT_HOME/q4"
check "graft:quantize writes a 4-bit folder" \
  bash -c "./graft graft:quantize '$model' '$q4' | grep -q 'Quantised the linear weights'"
check "a qlora job trains on the 4-bit folder" \
  bash -c "./graft graft:train '$job' model='$q4' method=qlora max_steps=2 >/dev/null"
err=$(./graft graft:quantize --quant-type nf5 "$model" "$GRAFT_HOME/q5" 2>&1 >/dev/null)
rc=$?
check "graft:quantize with an unknown type exits non-zero" [ $rc -ne 0 ]
check "graft:quantize says which types there are" grep -q 'use nf4 or fp4' <<<"$err"

# --detach: the job runs on in a background process after ./graft returns, and logs to job.log.
id=$(./graft graft:train --detach "$job" | submitted)
check "--detach names the job" [ -n "$id" ]
check "another process lists the detached job" bash -c "./graft graft:jobs | grep -q '^$id '"
check "another process follows the detached job to its end" \
  bash -c "./graft graft:job '$id' --follow | grep -q 'completed after 20 of 20 steps'"
check "the detached job wrote its adapter" [ -f "$GRAFT_HOME/jobs/$id/adapter/adapter_config.json" ]
check "the detached job logged to job.log" grep -q "completed after 20 of 20 steps" \
  "$GRAFT_HOME/jobs/$id/job.log"

# graft:cancel from another process stops a running job after its step, with a checkpoint.
id=$(./graft graft:train --detach "$job" max_steps=100000 save_steps=100000 | submitted)
check "the long job runs" await "$id" running 2
check "graft:cancel from another process is accepted" bash -c "./graft graft:cancel '$id' >/dev/null"
check "the job stops, cancelled" await "$id" cancelled
check "the cancelled job wrote a checkpoint at its last step" \
  [ -d "$GRAFT_HOME/jobs/$id/checkpoint-$(step "$id")" ]
check "graft:job shows it cancelled" bash -c "./graft graft:job '$id' | grep -q 'cancelled after'"

# Ctrl-C: SIGINT to the process group stops the job after its step, with checkpoint and adapter.
./graft graft:train "$job" max_steps=100000 save_steps=100000 >"$GRAFT_HOME/out" 2>"$GRAFT_HOME/err" &
pid=$!
for _ in $(seq 1 1800); do
  id=$(ls "$GRAFT_HOME/jobs" | sort | tail -1)
  [ "$(state "$id")" = running ] && [ "$(step "$id")" -ge 2 ] && break
  sleep 0.1
done
kill -INT -- "-$pid"
wait $pid
rc=$?
check "Ctrl-C exits 130" [ $rc -eq 130 ]
check "Ctrl-C leaves the job cancelled" [ "$(state "$id")" = cancelled ]
check "Ctrl-C leaves a checkpoint at the last step done" \
  [ -d "$GRAFT_HOME/jobs/$id/checkpoint-$(step "$id")" ]
check "Ctrl-C leaves the adapter and the report" \
  [ -f "$GRAFT_HOME/jobs/$id/adapter/adapter_config.json" -a -f "$GRAFT_HOME/jobs/$id/report.html" ]
check "Ctrl-C says so in one line" \
  [ "$(grep -v '^graft: job ' "$GRAFT_HOME/err")" = "$(grep '^Interrupted: job ' "$GRAFT_HOME/err")" \
  -a "$(grep -c '^Interrupted: job ' "$GRAFT_HOME/err")" -eq 1 ]

echo "launcher jobs test: $failures failed"
[ $failures -eq 0 ]
