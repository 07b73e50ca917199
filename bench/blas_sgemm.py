"""numpy's SGEMM (OpenBLAS in the PyPI wheel) at 1024^3 and 2048^3: the check that
bench/peak_flops.cc's peak is at least what a BLAS library reaches on this machine.
Prints one JSON line: the library and the best GFLOP/s of each size.

  python bench/blas_sgemm.py [--threads T] [--seconds S]
"""
import argparse
import json
import os
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0, help="time per size")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # read when numpy loads its BLAS
    import numpy as np

    blas = "numpy %s" % np.__version__
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        blas += ", %s %s" % (info.get("name", "?"), info.get("version", "?"))
    except Exception:  # older numpy: no dicts mode
        pass
    out = {"threads": args.threads, "blas": blas}
    rng = np.random.default_rng(0)
    for n in (1024, 2048):
        a = rng.standard_normal((n, n), dtype=np.float32)
        b = rng.standard_normal((n, n), dtype=np.float32)
        c = np.empty((n, n), dtype=np.float32)
        np.matmul(a, b, out=c)  # warm-up: threads started, pages touched
        best, start = float("inf"), time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            t = time.perf_counter()
            np.matmul(a, b, out=c)
            best = min(best, time.perf_counter() - t)
        out["sgemm_%d_gflops" % n] = round(2.0 * n**3 / best / 1e9, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
