#!/usr/bin/env python3
"""Whole models on one GPU: Kiln (`kiln bench --device cuda`) vs PyTorch eager, torch.compile and
jax.jit, FP32 with TF32 off for every runner, the same architectures with random weights
(timing only; correctness is checked elsewhere by scripts/check_cuda.sh).

  cuda_bench_models.py write-models DIR          # the Kiln model files (no dependencies)
  cuda_bench_models.py bench --kiln KILN --models DIR [--device cuda] [--reps N] [--budget-s S]

Rows (issue 15's goals): the MLP 784-512-256-10 and LeNet-5 at batch 1 (latency; Kiln replays
a CUDA graph), ResNet-50 (no batch norm: convolutions with a bias, as Kiln's compiler leaves a
folded BN) at batch 64. Each runner's figure is the median of --reps timed runs after warm-up;
torch and jax time a forward with the input already on the device, synchronized, as
`kiln bench` times a run. `--device cpu` runs the same code on the CPU (to test the script on
a machine without a GPU). Part of the CUDA bundle (scripts/make_cuda_bundle.sh).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# ResNet-50's stages: (bottleneck width, blocks, first stride).
STAGES = [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]

MLP = """graph {
  name: "mlp"
  input { name: "image" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 784 } }
  layer { name: "fc1" dense { units: 512 activation: "relu" } }
  layer { name: "fc2" dense { units: 256 activation: "relu" } }
  layer { name: "fc3" dense { units: 10 } }
}
"""

LENET5 = """graph {
  name: "lenet5"
  input { name: "image" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 1 } dims { size: 28 } dims { size: 28 } }
  layer { name: "conv1" conv2d { filters: 6 kernel_size: 5 padding: "same" activation: "relu" } }
  layer { name: "pool1" max_pool2d {} }
  layer { name: "conv2" conv2d { filters: 16 kernel_size: 5 activation: "relu" } }
  layer { name: "pool2" max_pool2d {} }
  layer { name: "flatten" flatten {} }
  layer { name: "fc1" dense { units: 120 activation: "relu" } }
  layer { name: "fc2" dense { units: 84 activation: "relu" } }
  layer { name: "fc3" dense { units: 10 } }
}
"""


def resnet50_kiln():
    """ResNet-50 as Kiln nodes with `parameter`s (he_normal weights drawn when the file loads)."""
    lines = ['graph {', '  name: "resnet50"',
             '  input { name: "image" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 3 } '
             'dims { size: 224 } dims { size: 224 } }']

    def ints(name, values):
        return 'attribute { name: "%s" ints { values: [%s] } }' % (name, ", ".join(str(v) for v in values))

    def conv(name, x, cin, cout, k, stride, relu):
        pad = k // 2
        lines.append('  parameter { name: "%s/w" dims: [%d, %d, %d, %d] init { kind: "he_normal" } }'
                     % (name, cout, cin, k, k))
        lines.append('  parameter { name: "%s/b" dims: [%d] init { kind: "zeros" } }' % (name, cout))
        y = name + ("/pre" if relu else "/out")
        lines.append('  node { name: "%s" op_type: "Conv" input: "%s" input: "%s/w" input: "%s/b" output: "%s" %s %s %s }'
                     % (name, x, name, name, y, ints("kernel_shape", [k, k]), ints("strides", [stride, stride]),
                        ints("pads", [pad] * 4)))
        if relu:
            lines.append('  node { name: "%s/relu" op_type: "Relu" input: "%s" output: "%s/out" }' % (name, y, name))
        return name + "/out"

    x = conv("stem", "image", 3, 64, 7, 2, True)
    lines.append('  node { name: "pool" op_type: "MaxPool" input: "%s" output: "pool/out" %s %s %s }'
                 % (x, ints("kernel_shape", [3, 3]), ints("strides", [2, 2]), ints("pads", [1, 1, 1, 1])))
    x, cin = "pool/out", 64
    for s, (width, blocks, stride) in enumerate(STAGES):
        for b in range(blocks):
            name = "s%d/b%d" % (s + 1, b)
            st = stride if b == 0 else 1
            h = conv(name + "/c1", x, cin, width, 1, 1, True)
            h = conv(name + "/c2", h, width, width, 3, st, True)
            h = conv(name + "/c3", h, width, width * 4, 1, 1, False)
            short = conv(name + "/down", x, cin, width * 4, 1, st, False) if b == 0 else x
            lines.append('  node { name: "%s/add" op_type: "Add" input: "%s" input: "%s" output: "%s/sum" }'
                         % (name, h, short, name))
            lines.append('  node { name: "%s/relu" op_type: "Relu" input: "%s/sum" output: "%s/out" }'
                         % (name, name, name))
            x, cin = name + "/out", width * 4
    lines.append('  node { name: "gap" op_type: "GlobalAveragePool" input: "%s" output: "gap/out" }' % x)
    lines.append('  node { name: "flat" op_type: "Flatten" input: "gap/out" output: "flat/out" }')
    lines.append('  parameter { name: "fc/w" dims: [2048, 1000] init { kind: "glorot_uniform" } }')
    lines.append('  parameter { name: "fc/b" dims: [1000] init { kind: "zeros" } }')
    lines.append('  node { name: "fc" op_type: "MatMul" input: "flat/out" input: "fc/w" output: "fc/mm" }')
    lines.append('  node { name: "fc/bias" op_type: "Add" input: "fc/mm" input: "fc/b" output: "logits" }')
    lines.append('  output { name: "logits" }')
    lines.append('}')
    return "\n".join(lines) + "\n"


def write_models(directory):
    os.makedirs(directory, exist_ok=True)
    for name, text in (("mlp", MLP), ("lenet5", LENET5), ("resnet50", resnet50_kiln())):
        with open(os.path.join(directory, name + ".kiln.txt"), "w") as f:
            f.write(text)


# (model, batch, input shape without the batch)
ROWS = [("mlp", 1, (784,)), ("lenet5", 1, (1, 28, 28)), ("mlp", 64, (784,)), ("resnet50", 64, (3, 224, 224))]


def torch_model(name):
    import torch.nn.functional as F
    from torch import nn

    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))

    class Bottleneck(nn.Module):
        def __init__(self, cin, width, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, width, 1)
            self.c2 = nn.Conv2d(width, width, 3, stride, 1)
            self.c3 = nn.Conv2d(width, width * 4, 1)
            self.down = nn.Conv2d(cin, width * 4, 1, stride) if stride != 1 or cin != width * 4 else None

        def forward(self, x):
            h = self.c3(F.relu(self.c2(F.relu(self.c1(x)))))
            return F.relu(h + (self.down(x) if self.down is not None else x))

    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for width, blocks, stride in STAGES:
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, stride if b == 0 else 1))
            cin = width * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
    return nn.Sequential(*layers)


def median_ms(run, sync, reps, budget_s):
    for _ in range(3):
        run()
    sync()
    times, start = [], time.perf_counter()
    for _ in range(reps):
        t0 = time.perf_counter()
        run()
        sync()
        times.append(1000 * (time.perf_counter() - t0))
        if time.perf_counter() - start > budget_s:
            break
    return statistics.median(times)


def bench_torch(device, reps, budget_s, compiled):
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    out = {}
    for name, batch, shape in ROWS:
        try:
            model = torch_model(name).to(dev).eval()
            fn = torch.compile(model) if compiled else model
            x = torch.randn((batch,) + shape, device=dev)
            with torch.inference_mode():
                out[(name, batch)] = median_ms(lambda: fn(x), sync, reps, budget_s)
        except Exception as e:  # one row's failure is reported, not fatal
            out[(name, batch)] = "error: %s" % str(e).splitlines()[0][:80]
    return out, torch.__version__


def bench_jax(reps, budget_s):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_default_matmul_precision", "highest")  # FP32, no TF32
    key = jax.random.PRNGKey(0)

    def dense(k, i, o):
        return (jax.random.normal(k, (i, o)) * (2.0 / i) ** 0.5, jnp.zeros((o,)))

    def conv_p(k, cin, cout, ks):
        return (jax.random.normal(k, (cout, cin, ks, ks)) * (2.0 / (cin * ks * ks)) ** 0.5, jnp.zeros((cout,)))

    def conv(x, p, stride=1, pad=None):
        w, b = p
        k = w.shape[2]
        pad = k // 2 if pad is None else pad
        y = jax.lax.conv_general_dilated(x, w, (stride, stride), [(pad, pad)] * 2,
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    def maxpool(x, k, s, pad):
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, k, k), (1, 1, s, s),
                                     [(0, 0), (0, 0), (pad, pad), (pad, pad)])

    keys = iter(jax.random.split(key, 200))
    models = {}
    mlp_p = [dense(next(keys), 784, 512), dense(next(keys), 512, 256), dense(next(keys), 256, 10)]

    def mlp(x):
        for i, (w, b) in enumerate(mlp_p):
            x = x @ w + b
            x = jax.nn.relu(x) if i < 2 else x
        return x

    models["mlp"] = mlp
    le = [conv_p(next(keys), 1, 6, 5), conv_p(next(keys), 6, 16, 5), dense(next(keys), 400, 120),
          dense(next(keys), 120, 84), dense(next(keys), 84, 10)]

    def lenet5(x):
        x = maxpool(jax.nn.relu(conv(x, le[0], pad=2)), 2, 2, 0)
        x = maxpool(jax.nn.relu(conv(x, le[1], pad=0)), 2, 2, 0).reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ le[2][0] + le[2][1])
        x = jax.nn.relu(x @ le[3][0] + le[3][1])
        return x @ le[4][0] + le[4][1]

    models["lenet5"] = lenet5
    stem = conv_p(next(keys), 3, 64, 7)
    blocks, cin = [], 64
    for width, n, stride in STAGES:
        for b in range(n):
            st = stride if b == 0 else 1
            p = {"c1": conv_p(next(keys), cin, width, 1), "c2": conv_p(next(keys), width, width, 3),
                 "c3": conv_p(next(keys), width, width * 4, 1), "stride": st}
            if b == 0:
                p["down"] = conv_p(next(keys), cin, width * 4, 1)
            blocks.append(p)
            cin = width * 4
    fc = dense(next(keys), 2048, 1000)

    def resnet50(x):
        x = maxpool(jax.nn.relu(conv(x, stem, 2, 3)), 3, 2, 1)
        for p in blocks:
            h = jax.nn.relu(conv(x, p["c1"]))
            h = jax.nn.relu(conv(h, p["c2"], p["stride"]))
            h = conv(h, p["c3"])
            x = jax.nn.relu(h + (conv(x, p["down"], p["stride"]) if "down" in p else x))
        return jnp.mean(x, axis=(2, 3)) @ fc[0] + fc[1]

    models["resnet50"] = resnet50
    out = {}
    for name, batch, shape in ROWS:
        try:
            fn = jax.jit(models[name])
            x = jax.random.normal(next(keys), (batch,) + shape)
            holder = {}

            def run():
                holder["y"] = fn(x)

            out[(name, batch)] = median_ms(run, lambda: holder["y"].block_until_ready(), reps, budget_s)
        except Exception as e:
            out[(name, batch)] = "error: %s" % str(e).splitlines()[0][:80]
    return out, jax.__version__


def bench_kiln(kiln, models, device, reps):
    out = {}
    for name, batch, _ in ROWS:
        cmd = [kiln, "bench", os.path.join(models, name + ".kiln.txt"), "--batch", str(batch), "--json",
               "--iters", str(reps)]
        if device == "cuda":
            cmd += ["--device", "cuda"]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
            if r.returncode != 0:
                out[(name, batch)] = "error: " + (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1][:80]
                continue
            report = json.loads(r.stdout)
            out[(name, batch)] = float(report.get("median_ms", report.get("medianMs")))
        except Exception as e:
            out[(name, batch)] = "error: %s" % str(e)[:80]
    return out


def fmt(v):
    return "%.3f" % v if isinstance(v, float) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["write-models", "bench"])
    ap.add_argument("dir", nargs="?", help="write-models: where the Kiln model files go")
    ap.add_argument("--kiln", help="the kiln binary (or the bundle's wrapper)")
    ap.add_argument("--models", help="the folder write-models wrote")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--budget-s", type=float, default=20.0, help="at most this long timing one row of one runner")
    ap.add_argument("--runners", default="kiln,torch,torch.compile,jax")
    args = ap.parse_args()
    if args.command == "write-models":
        if not args.dir:
            ap.error("write-models needs DIR")
        write_models(args.dir)
        return 0
    if not args.kiln or not args.models:
        ap.error("bench needs --kiln and --models")
    runners = args.runners.split(",")
    results, versions = {}, {}

    def table(final=False):
        # Also after every runner, indented: a step cut off by its time limit keeps what it had.
        indent = "" if final else "  "
        names = [r for r in ("kiln", "torch", "torch.compile", "jax") if r in results]
        print("%sMODELS device=%s %s" % (indent, args.device, " ".join("%s=%s" % kv for kv in versions.items())))
        print(indent + "| model | batch | " + " | ".join(n + " ms" for n in names) + " | kiln/torch | kiln/torch.compile |")
        print(indent + "|---|---|" + "---|" * (len(names) + 2))
        for name, batch, _ in ROWS:
            cells = [fmt(results[n].get((name, batch), "-")) for n in names]
            ratios = []
            for peer in ("torch", "torch.compile"):
                k, p = results.get("kiln", {}).get((name, batch)), results.get(peer, {}).get((name, batch))
                ratios.append("%.2f" % (k / p) if isinstance(k, float) and isinstance(p, float) and p > 0 else "-")
            print("%s| %s | %d | %s | %s |" % (indent, name, batch, " | ".join(cells), " | ".join(ratios)))
        sys.stdout.flush()

    if "kiln" in runners:
        results["kiln"] = bench_kiln(args.kiln, args.models, args.device, args.reps)
        table()
    # torch.compile last: its first calls compile for a minute or more.
    for runner in ("torch", "jax", "torch.compile"):
        if runner not in runners:
            continue
        try:
            if runner == "jax":
                results[runner], versions[runner] = bench_jax(args.reps, args.budget_s)
            else:
                results[runner], versions[runner] = bench_torch(args.device, args.reps, args.budget_s,
                                                                runner == "torch.compile")
        except ImportError as e:
            print("%s: not available (%s)" % (runner, e))
            continue
        table()
    table(final=True)
    # A row Kiln could not run is a failure (a peer's is reported in its cell only).
    kiln_failed = [k for k, v in results.get("kiln", {}).items() if not isinstance(v, float)]
    return 1 if kiln_failed else 0


if __name__ == "__main__":
    sys.exit(main())
