"""Kiln's per-op profile next to ONNX Runtime's on one model (issue 16): the time per op type,
top N, both in ms per run, from `kiln bench --profile` and ORT's own profiler
(SessionOptions.enable_profiling, its "Node" events). Prints a markdown table.

  bench/.venv/bin/python bench/profile_side_by_side.py bench/.models/lenet5/b64.onnx --batch 64
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def kiln_profile(kiln, model, batch, threads, seconds):
    out = subprocess.run([kiln, "bench", model, "--batch", str(batch), "--threads", str(threads), "--seconds",
                          str(seconds), "--profile"], capture_output=True, text=True, check=True).stdout
    median = float(re.search(r"run median ([0-9.e+-]+) ms", out).group(1))
    by_op, in_table = {}, False
    for line in out.splitlines():
        if line.strip().startswith("op type [kernel]"):
            in_table = True
            continue
        if in_table:
            m = re.match(r"\s+(\S+) \[(\S+)\]\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)%", line)
            if not m:
                break
            by_op["%s [%s]" % (m.group(1), m.group(2))] = (int(m.group(3)), float(m.group(4)))
    return median, by_op


def ort_profile(model, batch, threads, seconds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    shape = [d if isinstance(d, int) else batch for d in inp.shape]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    import time
    for _ in range(5):
        sess.run(None, {inp.name: x})
    runs, times, start = 0, [], time.perf_counter()
    while runs < 3 or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        sess.run(None, {inp.name: x})
        times.append((time.perf_counter() - t) * 1e3)
        runs += 1
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    per_op = collections.defaultdict(lambda: [0, 0.0])
    nodes = collections.defaultdict(set)
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        op = e.get("args", {}).get("op_name", "?")
        per_op[op][1] += e["dur"] / 1e3
        nodes[op].add(e["name"])
    total_runs = runs + 5  # the profiler also saw the warm-up runs
    return float(np.median(times)), {op: (len(nodes[op]), ms / total_runs) for op, (_, ms) in per_op.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    args = ap.parse_args()
    k_median, k_ops = kiln_profile(args.kiln, args.model, args.batch, args.threads, args.seconds)
    o_median, o_ops = ort_profile(args.model, args.batch, args.threads, args.seconds)
    k_top = sorted(k_ops.items(), key=lambda kv: -kv[1][1])[:args.top]
    o_top = sorted(o_ops.items(), key=lambda kv: -kv[1][1])[:args.top]
    print("%s, batch %d, %d threads: Kiln median %.4g ms, ORT median %.4g ms (%.2fx)" % (
        os.path.relpath(args.model, ROOT), args.batch, args.threads, k_median, o_median, k_median / o_median))
    print()
    print("| # | Kiln op [kernel] | steps | ms/run | ORT op | nodes | ms/run |")
    print("|---|---|---|---|---|---|---|")
    for i in range(max(len(k_top), len(o_top))):
        k = k_top[i] if i < len(k_top) else ("", ("", None))
        o = o_top[i] if i < len(o_top) else ("", ("", None))
        print("| %d | %s | %s | %s | %s | %s | %s |" % (
            i + 1, k[0], k[1][0], "%.4f" % k[1][1] if k[1][1] is not None else "",
            o[0], o[1][0], "%.4f" % o[1][1] if o[1][1] is not None else ""))


if __name__ == "__main__":
    sys.exit(main())
