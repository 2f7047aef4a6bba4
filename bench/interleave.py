#!/usr/bin/env python3
"""Runs a Graft row and a PyTorch row step by step in turn (lock-step), so that both see the same
load from other jobs on a shared machine.

    interleave.py STEPS GAP -- GRAFT_COMMAND... ::: PYTORCH_COMMAND...

Both commands run with lockstep on: each sets up (Graft first, then PyTorch, never at the same
time), says READY, then runs one step per STEP line and answers DONE <seconds>. The driver sends
STEPS steps to each, alternating which side goes first, with GAP seconds of quiet before every
step (BLAS and OpenMP worker threads spin for a moment after their work). Each process stays
alone and keeps its own peak RSS; their RESULT lines are printed as they come.
"""

import subprocess
import sys
import time


def start(cmd):
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    expect(proc, "READY")
    return proc


def expect(proc, word):
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"interleave: {proc.args[:3]}... ended before {word}")
        if line.startswith(word):
            return line
        sys.stdout.write(line)


def main():
    steps, gap = int(sys.argv[1]), float(sys.argv[2])
    rest = sys.argv[4:] if sys.argv[3] == "--" else sys.argv[3:]
    cut = rest.index(":::")
    procs = []
    try:
        procs.append(start(rest[:cut]))
        procs.append(start(rest[cut + 1:]))
        for i in range(steps):
            for proc in procs if i % 2 == 0 else reversed(procs):
                time.sleep(gap)
                proc.stdin.write("STEP\n")
                proc.stdin.flush()
                expect(proc, "DONE")
        for proc in procs:
            proc.stdin.close()
            sys.stdout.write(proc.stdout.read())
            if proc.wait() != 0:
                raise SystemExit(f"interleave: {proc.args[:3]}... exited with {proc.returncode}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


if __name__ == "__main__":
    main()
