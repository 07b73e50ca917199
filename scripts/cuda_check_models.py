#!/usr/bin/env python3
"""The PyTorch-exported models on the GPU: `kiln run MODEL --device cuda` against PyTorch's own
outputs (tests/data/models/<name>/output_b<N>.npy), at batch 1 and 64, once per way of computing
the products and convolutions: Kiln's default (each step timed once, the faster kept), cuBLASLt
and cuDNN forced, the generated kernels forced, and without CUDA graphs. Prints one PASS/FAIL
line per run; exits 1 when any failed. Part of the CUDA bundle (scripts/check_cuda.sh).

  cuda_check_models.py --kiln KILN --models DIR [--device cuda] [--rtol 1e-4] [--atol 1e-4]
"""
import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np

MODES = [
    ("default", {}),
    ("libraries", {"KILN_CUDA_GEMM": "cublaslt", "KILN_CUDA_CONV": "cudnn"}),
    ("generated", {"KILN_CUDA_GEMM": "generated", "KILN_CUDA_CONV": "generated"}),
    ("no-graphs", {"KILN_CUDA_GRAPH": "0"}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--models", required=True, help="a folder of <name>/{model.onnx,input_bN.npy,output_bN.npy}")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--modes", default=",".join(m for m, _ in MODES))
    args = ap.parse_args()
    wanted = args.modes.split(",")
    failed = runs = 0
    for model_dir in sorted(glob.glob(os.path.join(args.models, "*", "model.onnx"))):
        name = os.path.basename(os.path.dirname(model_dir))
        for batch in (1, 64):
            x = os.path.join(os.path.dirname(model_dir), "input_b%d.npy" % batch)
            want_path = os.path.join(os.path.dirname(model_dir), "output_b%d.npy" % batch)
            if not (os.path.exists(x) and os.path.exists(want_path)):
                continue
            want = np.load(want_path)
            for mode, env in MODES:
                if mode not in wanted:
                    continue
                runs += 1
                label = "%s b%d %s" % (name, batch, mode)
                with tempfile.TemporaryDirectory() as out:
                    cmd = [args.kiln, "run", model_dir, "--input", x, "--output-dir", out]
                    if args.device == "cuda":
                        cmd += ["--device", "cuda"]
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                                       env=dict(os.environ, **env))
                    outputs = sorted(glob.glob(os.path.join(out, "*.npy")))
                    if r.returncode != 0 or len(outputs) != 1:
                        why = (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
                        print("FAIL %s: %s" % (label, why[:200]))
                        failed += 1
                        continue
                    got = np.load(outputs[0])
                if got.shape != want.shape:
                    print("FAIL %s: shape %s, PyTorch's %s" % (label, got.shape, want.shape))
                    failed += 1
                    continue
                err = np.abs(got.astype(np.float64) - want.astype(np.float64))
                bound = args.atol + args.rtol * np.abs(want.astype(np.float64))
                worst = float(np.max(err - bound)) if err.size else 0.0
                ok = worst <= 0 and np.all(np.isfinite(got))
                print("%s %s: max |error| %.3g" % ("PASS" if ok else "FAIL", label, float(err.max()) if err.size else 0))
                failed += 0 if ok else 1
    print("models: %d runs, %d failed" % (runs, failed))
    return 1 if failed or runs == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
