#!/usr/bin/env python3
"""Summarises an ONNX Runtime profile (SessionOptions.enableProfiling) of Graft's step program.

    python3 profile.py [--steps N] [--top K] PROFILE.json

Only the last N session runs count (the timed steps; earlier ones are warm-up). Kernel time is
summed per op type and per node; shares are of the summed kernel time of those runs. With 2
intra-op threads a kernel's time is wall time, so the sum is close to the runs' wall time.
"""

import argparse
import collections
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("profile")
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    events = json.load(open(a.profile))
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
        key=lambda e: e["ts"],
    )[-a.steps:]
    windows = [(r["ts"], r["ts"] + r["dur"]) for r in runs]
    wall = sum(r["dur"] for r in runs)
    by_op = collections.Counter()
    count = collections.Counter()
    by_node = collections.Counter()
    node_op = {}
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(lo <= e["ts"] <= hi for lo, hi in windows):
            continue
        op = e.get("args", {}).get("op_name", "?")
        by_op[op] += e["dur"]
        count[op] += 1
        node = e["name"][: -len("_kernel_time")]
        by_node[node] += e["dur"]
        shapes = e.get("args", {}).get("output_type_shape", [])
        shape = "x".join(str(d) for d in next(iter(shapes[0].values()), [])) if shapes else ""
        node_op[node] = (op, shape)
    kernels = sum(by_op.values())
    print(f"{a.profile}: {len(runs)} run(s), wall {wall / 1e3 / max(1, len(runs)):.0f} ms/run, "
          f"kernels {kernels / 1e3 / max(1, len(runs)):.0f} ms/run "
          f"({100 * kernels / max(1, wall):.0f}% of wall)")
    print(f"{'op type':28} {'share':>6} {'ms/run':>9} {'nodes/run':>9}")
    for op, us in by_op.most_common(a.top):
        print(f"{op:28} {100 * us / kernels:5.1f}% {us / 1e3 / len(runs):9.1f} "
              f"{count[op] // len(runs):9d}")
    print(f"top nodes:")
    for node, us in by_node.most_common(a.top):
        op, shape = node_op[node]
        print(f"  {node[:44]:44} {op:12} {shape:>16} {100 * us / kernels:5.1f}% "
              f"{us / 1e3 / len(runs):8.1f} ms")


if __name__ == "__main__":
    main()
