#!/usr/bin/env python3
"""Kiln's generated CUDA kernels vs PyTorch eager and torch.compile, FP32, one GPU.

Reads the `BENCH kiln-<math> <chain> <n> <ms> <GB/s>` lines kiln_cuda_check --bench
printed (argv[1]), times the same chains op by op in PyTorch eager and under
torch.compile (median of --reps CUDA-event timings after warm-up), prints a table.
Part of the CUDA bundle (scripts/make_cuda_bundle.sh, scripts/check_cuda.sh).
"""
import argparse
import os
import statistics
import sys
import time


def gelu8(x):  # t0=Pow(i0,3) ... t7=Mul(t6,i0), op for op as Kiln's "gelu8"
    t0 = torch.pow(x, 3)
    t1 = t0 * 0.044715
    t2 = x + t1
    t3 = t2 * 0.7978846
    t4 = torch.tanh(t3)
    t5 = t4 + 1
    t6 = t5 * 0.5
    return t6 * x


def bwd(dy, x, s):  # t0=Tanh(x); t1=TanhGrad(dy,t0); t2=Mul(t1,s); t3=ReluGrad(t2,x); outputs t3, t1
    t0 = torch.tanh(x)
    t1 = dy * (1 - t0 * t0)
    t2 = t1 * s
    t3 = t2 * (x > 0)
    return t3, t1


CHAINS = {"gelu8": (gelu8, 1), "bwd": (bwd, 3)}


def time_ms(fn, args, reps):
    for _ in range(3):
        fn(*args)
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kiln_results")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--compile-budget-s", type=float, default=150.0)
    opts = parser.parse_args()

    kiln = {}
    with open(opts.kiln_results) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 6 and parts[0] == "BENCH":
                kiln[(parts[2], int(parts[3]), parts[1])] = float(parts[4])
    if not kiln:
        print("FAIL bench: no Kiln results in", opts.kiln_results)
        return 1

    global torch
    import torch

    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device {torch.cuda.get_device_name(0)}")
    began = time.time()
    compile_failed = False
    rows = []
    for chain, n in sorted({(c, n) for (c, n, _) in kiln}, key=lambda k: (k[0], k[1])):
        fn, arity = CHAINS[chain]
        gen = torch.Generator(device="cuda").manual_seed(7)
        args = [torch.rand(n, device="cuda", generator=gen, dtype=torch.float32) * 6 - 3 for _ in range(arity)]
        eager = time_ms(fn, args, opts.reps)
        compiled = "n/a"
        if opts.no_compile:
            compiled = "skipped"
        elif compile_failed:
            compiled = "skipped (failed before)"
        elif time.time() - began > opts.compile_budget_s:
            compiled = "skipped (time)"
        else:
            try:
                cfn = torch.compile(fn, dynamic=False)
                compiled = time_ms(cfn, args, opts.reps)
                # Same math: torch.compile's result agrees with eager.
                want, got = fn(*args), cfn(*args)
                want = want if isinstance(want, tuple) else (want,)
                got = got if isinstance(got, tuple) else (got,)
                for w, g in zip(want, got):
                    torch.testing.assert_close(g, w, rtol=1e-4, atol=1e-4)
            except Exception as e:  # noqa: BLE001 - report, keep benchmarking
                compile_failed = True
                compiled = f"error: {type(e).__name__}: {str(e).splitlines()[0][:80] if str(e) else ''}"
        del args
        torch.cuda.empty_cache()
        rows.append((chain, n, kiln.get((chain, n, "kiln-f32")), kiln.get((chain, n, "kiln-f64")), eager, compiled))

    def fmt(v):
        return f"{v:10.4f}" if isinstance(v, float) else f"{str(v):>10}"

    print()
    print("FP32 elementwise chains, median ms (CUDA events); speedup = eager / kiln-f32")
    print(f"{'chain':<7}{'elements':>10} {'kiln-f32':>10} {'kiln-f64':>10} {'eager':>10} {'compile':>10} "
          f"{'vs eager':>9} {'vs compile':>11}")
    for chain, n, k32, k64, eager, compiled in rows:
        vs_eager = f"{eager / k32:8.2f}x" if k32 else "n/a"
        vs_compile = f"{compiled / k32:10.2f}x" if k32 and isinstance(compiled, float) else "n/a"
        print(f"{chain:<7}{n:>10} {fmt(k32)} {fmt(k64)} {fmt(eager)} {fmt(compiled)} {vs_eager:>9} {vs_compile:>11}")
    print("PASS torch benchmark")
    return 0


if __name__ == "__main__":
    sys.exit(main())
