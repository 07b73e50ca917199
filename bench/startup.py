#!/usr/bin/env python3
"""Time from process start to first result: a `kiln compile`d executable against ONNX
Runtime (session creation + first run, in-process, and the whole Python process).

    bench/.venv/bin/python bench/startup.py [--model tests/data/models/mlp/model.onnx]
                                            [--input tests/data/models/mlp/input_b1.npy] [--runs 20]

Compiles MODEL to an executable with the built `kiln` (build/kiln), then runs each
candidate RUNS times after one warm-up (files cached) and prints medians and minima.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

ORT_CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, onnxruntime as ort
t1 = time.perf_counter()
opts = ort.SessionOptions()
opts.intra_op_num_threads = int(sys.argv[3])
opts.inter_op_num_threads = 1
s = ort.InferenceSession(sys.argv[1], opts, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
y = s.run(None, {s.get_inputs()[0].name: x})
t2 = time.perf_counter()
print("%.6f %.6f" % (t1 - t0, t2 - t1))
"""


def timed(cmd):
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=os.path.join(ROOT, "tests/data/models/mlp/model.onnx"))
    p.add_argument("--input", default=os.path.join(ROOT, "tests/data/models/mlp/input_b1.npy"))
    p.add_argument("--kiln", default=os.path.join(ROOT, "build/kiln"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=20)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "model")
        subprocess.run([a.kiln, "compile", a.model, "-o", exe, "--emit", "exe", "--threads", str(a.threads)],
                       check=True, capture_output=True)
        rows = {}
        exe_cmd = [exe, "--input", a.input, "--threads", str(a.threads)]
        run_cmd = [a.kiln, "run", a.model, "--input", a.input, "--threads", str(a.threads)]
        ort_cmd = [sys.executable, "-c", ORT_CHILD, a.model, a.input, str(a.threads)]
        for name, cmd in [("kiln exe (whole process)", exe_cmd), ("kiln run (import + compile + JIT + run)", run_cmd),
                          ("ORT, Python process (whole)", ort_cmd)]:
            timed(cmd)  # warm the file cache
            walls, inner = [], []
            for _ in range(a.runs):
                wall, out = timed(cmd)
                walls.append(wall * 1e3)
                if cmd is ort_cmd:
                    imp, first = map(float, out.split())
                    inner.append(first * 1e3)
            rows[name] = (statistics.median(walls), min(walls))
            if inner:
                rows["ORT session creation + first run (in-process)"] = (statistics.median(inner), min(inner))
    print("| %s | median ms | min ms |\n|---|---|---|" % ("%s, %d thread(s), %d runs" % (os.path.relpath(a.model, ROOT), a.threads, a.runs)))
    for name, (med, lo) in rows.items():
        print("| %s | %.1f | %.1f |" % (name, med, lo))
    print(json.dumps({k: {"median_ms": v[0], "min_ms": v[1]} for k, v in rows.items()}), file=sys.stderr)


if __name__ == "__main__":
    main()
