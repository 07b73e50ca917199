"""Times one peer's inference on one model and batch size, as `kiln bench` does for
Kiln: a first call (its time is the peer's "compile" figure), warm-up calls, then
timed calls until --seconds have passed (at least --min-iters). Prints one JSON
object: median/p10/p90/mean ms, iterations, compile_seconds, peak_rss_bytes, the
largest difference from PyTorch's reference output, the peer's version; or
{"error": reason} (exit 0) when the peer cannot run the model.

Runners (T threads for the operators, 1 for inter-op parallelism):
  ort            ONNX Runtime on bNN.onnx, all graph optimizations, sequential
                 execution, inputs and outputs pre-bound (IOBinding + OrtValues),
                 so a call is run_with_iobinding alone
  torch          PyTorch eager, torch.inference_mode()
  torch_compile  torch.compile(model) (default backend, inductor), inference_mode
  jax            jax.jit of bench/jax_models.py on the same weights, block_until_ready
  openvino       OpenVINO's CPU plugin on bNN.onnx (compile_model with INFERENCE_NUM_THREADS=T,
                 the LATENCY hint, f32 precision), one infer request reused, input shared with numpy

  python bench/peer_infer.py --runner ort --model mlp --batch 1 --threads 2
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def percentile(sorted_values, p):
    """Linear interpolation between closest ranks (as kiln bench)."""
    rank = p / 100 * (len(sorted_values) - 1)
    lo = int(rank)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (rank - lo)


def measure(call, warmup, seconds, min_iters):
    for _ in range(warmup):
        call()
    times = []
    start = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - start < seconds:
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"iterations": len(times), "median_ms": statistics.median(times), "p10_ms": percentile(times, 10),
            "p90_ms": percentile(times, 90), "mean_ms": statistics.fmean(times), "min_ms": times[0]}


def setup_ort(args, x):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":
        # The same waiting policy as the OpenMP-based runners: no spinning workers.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(os.path.join(args.dir, "b%d.onnx" % args.batch), so,
                                providers=["CPUExecutionProvider"])
    out_meta = sess.get_outputs()[0]
    x_value = ort.OrtValue.ortvalue_from_numpy(x)
    y = np.empty([d if isinstance(d, int) else args.batch for d in out_meta.shape], np.float32)
    y_value = ort.OrtValue.ortvalue_from_numpy(y)
    binding = sess.io_binding()
    binding.bind_ortvalue_input(sess.get_inputs()[0].name, x_value)
    binding.bind_ortvalue_output(out_meta.name, y_value)

    def call():
        sess.run_with_iobinding(binding)

    return call, lambda: y, ort.__version__


def setup_torch(args, x, compiled):
    import torch

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    sys.path.insert(0, HERE)
    import torch_models

    model = torch_models.load(args.model, os.path.join(args.dir, "weights.npz"))
    if compiled:
        model = torch.compile(model)
    xt = torch.from_numpy(x)
    out = {}

    def call():
        with torch.inference_mode():
            out["y"] = model(xt)

    return call, lambda: out["y"].numpy(), torch.__version__


def setup_jax(args, x):
    import jax

    sys.path.insert(0, HERE)
    import jax_models

    forward, params = jax_models.load(args.model, os.path.join(args.dir, "weights.npz"))
    fn = jax.jit(forward)
    xj = jax.device_put(x)
    out = {}

    def call():
        out["y"] = fn(params, xj).block_until_ready()

    return call, lambda: np.asarray(out["y"]), jax.__version__


def setup_openvino(args, x):
    import openvino as ov

    core = ov.Core()
    model = core.read_model(os.path.join(args.dir, "b%d.onnx" % args.batch))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": args.threads,
                                                 "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1,
                                                 # FP32 like every runner (its default on AVX512_BF16
                                                 # CPUs is bf16: 1e-3 off PyTorch's outputs)
                                                 "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(x, shared_memory=True))

    def call():
        request.infer()

    return call, lambda: np.array(request.get_output_tensor(0).data), ov.__version__


def limit_jax_threads(threads):
    """XLA's CPU client sizes its thread pool by the CPUs the process may run on: pin
    the process to `threads` CPUs (before jax is imported); one thread: no Eigen pool."""
    cpus = sorted(os.sched_getaffinity(0))
    if threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
    if threads == 1:
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flags).strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runner", required=True, choices=["ort", "torch", "torch_compile", "jax", "openvino"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--min-iters", type=int, default=3)
    ap.add_argument("--models-dir", default=os.path.join(HERE, ".models"))
    args = ap.parse_args()
    args.dir = os.path.join(args.models_dir, args.model)
    x = np.load(os.path.join(args.dir, "input_b%d.npy" % args.batch))
    reference = np.load(os.path.join(args.dir, "output_b%d.npy" % args.batch))

    result = {"runner": args.runner, "model": args.model, "batch": args.batch, "threads": args.threads}
    if args.runner == "jax":
        limit_jax_threads(args.threads)
    try:
        start = time.perf_counter()
        if args.runner == "ort":
            call, output, version = setup_ort(args, x)
        elif args.runner == "jax":
            call, output, version = setup_jax(args, x)
        elif args.runner == "openvino":
            call, output, version = setup_openvino(args, x)
        else:
            call, output, version = setup_torch(args, x, compiled=args.runner == "torch_compile")
        setup = time.perf_counter() - start  # ORT: session creation (load + graph optimizations)
        start = time.perf_counter()
        call()  # ORT: first run; torch.compile and jax.jit: tracing and compilation
        first = time.perf_counter() - start
        y = output()
        result.update(measure(call, args.warmup, args.seconds, args.min_iters))
    except Exception as e:  # a peer that cannot run the model is reported, not fatal
        msg = str(e).strip().splitlines()
        print(json.dumps({**result, "error": "%s: %s" % (type(e).__name__, msg[0][:200] if msg else "")}))
        return
    result.update({
        "version": version,
        "setup_seconds": setup,
        "first_call_seconds": first,
        "max_abs_diff": float(np.max(np.abs(y - reference))),
        "max_abs_reference": float(np.max(np.abs(reference))),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    })
    print(json.dumps(result))


if __name__ == "__main__":
    main()
