#!/usr/bin/env python3
"""Kiln against ONNX Runtime on popular models as users export them, beyond the bench's six.

    bench/.venv/bin/python bench/zoo.py [--models mobilenet_v2,bert_base_op14,...] [--threads 2]
                                        [--seconds 3] [--kiln build/kiln]

torchvision's MobileNetV2, EfficientNet-B0, SqueezeNet 1.1, ShuffleNetV2, ConvNeXt-T and
ViT-B/16 (224x224) and Hugging Face's BERT-base and DistilBERT (sequence 128, exported at
opsets 14 and 17), with random weights, batch 1, exported once into bench/.models/zoo/
(torch.onnx.export, TorchScript exporter). For each model: Kiln's output against ONNX
Runtime's (`kiln run`, max abs difference), then the median latency of `kiln bench` and of
ORT's Python API with the same thread count, the same inputs as `kiln bench` binds (random
floats, zero ids), alternating. Needs torch, torchvision and transformers in the venv (bench/run.sh
installs the first two; `pip install transformers` for the BERTs). Prints a Markdown table
and writes it to bench/results/zoo.md.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ZOO = os.path.join(HERE, ".models", "zoo")
VISION = ["mobilenet_v2", "efficientnet_b0", "squeezenet1_1", "shufflenet_v2_x1_0", "convnext_tiny", "vit_b_16"]
TEXT = ["bert_base_op14", "bert_base_op17", "distilbert_op14", "distilbert_op17"]
SEQ = 128


def export(name):
    """Exports `name` into ZOO (once); returns its path."""
    path = os.path.join(ZOO, name + ".onnx")
    if os.path.exists(path):
        return path
    import torch
    torch.manual_seed(0)
    os.makedirs(ZOO, exist_ok=True)
    tmp = path + ".tmp"
    if name in VISION:
        import torchvision
        model = getattr(torchvision.models, name)(weights=None).eval()
        torch.onnx.export(model, (torch.randn(1, 3, 224, 224),), tmp, opset_version=17, input_names=["input"],
                          output_names=["output"], dynamo=False)
    else:
        import transformers
        base, opset = name.rsplit("_op", 1)
        if base == "bert_base":
            inner = transformers.BertModel(transformers.BertConfig()).eval()
        else:
            inner = transformers.DistilBertModel(transformers.DistilBertConfig()).eval()

        class LastHidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, ids, mask):
                return self.m(input_ids=ids, attention_mask=mask).last_hidden_state

        ids = torch.randint(0, 30000, (1, SEQ))
        torch.onnx.export(LastHidden(inner).eval(), (ids, torch.ones(1, SEQ, dtype=torch.int64)), tmp,
                          opset_version=int(opset), input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], dynamo=False)
    os.replace(tmp, path)
    return path


def inputs_for(session, seed):
    """Random floats in [-1, 1) and zero integers, as `kiln bench` binds them (ids for the check)."""
    rng = np.random.RandomState(seed)
    feed = {}
    for i in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        if "int64" in i.type:
            feed[i.name] = np.zeros(shape, np.int64)
        else:
            feed[i.name] = rng.uniform(-1, 1, shape).astype(np.float32)
    return feed


def median_ms(fn, seconds):
    for _ in range(3):
        fn()
    times, end = [], time.time() + seconds
    while time.time() < end or len(times) < 3:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(VISION + TEXT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    args = ap.parse_args()
    import onnxruntime as ort

    rows = []
    for name in [m for m in args.models.split(",") if m]:
        if name not in VISION + TEXT:
            sys.exit("zoo.py: unknown model %s (known: %s)" % (name, ", ".join(VISION + TEXT)))
        print("[zoo] %s ..." % name, file=sys.stderr, flush=True)
        path = export(name)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feed = inputs_for(session, 0)
        if name in TEXT:  # real ids and an all-ones mask for the check
            feed = {"input_ids": np.random.RandomState(1).randint(0, 30000, (1, SEQ)).astype(np.int64),
                    "attention_mask": np.ones((1, SEQ), np.int64)}
        expected = session.run(None, feed)[0]
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [args.kiln, "run", path, "--threads", str(args.threads), "--output-dir", tmp]
            for k, v in feed.items():
                np.save(os.path.join(tmp, k + ".npy"), v)
                cmd += ["-i", "%s=%s" % (k, os.path.join(tmp, k + ".npy"))]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                rows.append((name, "kiln run failed: " + r.stderr.strip()[-200:], None, None))
                continue
            outs = [f for f in os.listdir(tmp) if f not in [k + ".npy" for k in feed]]
            diff = float(np.abs(np.load(os.path.join(tmp, outs[0])) - expected).max())
        bench_feed = inputs_for(session, 0)
        kiln_ms, ort_ms = [], []
        for _ in range(2):  # alternating
            r = subprocess.run([args.kiln, "bench", path, "--threads", str(args.threads), "--seconds",
                                str(args.seconds), "--json"], capture_output=True, text=True)
            kiln_ms.append(json.loads(r.stdout)["median_ms"] if r.returncode == 0 else float("nan"))
            ort_ms.append(median_ms(lambda: session.run(None, bench_feed), args.seconds))
        rows.append((name, "%.2g (ORT up to %.3g)" % (diff, float(np.abs(expected).max())), kiln_ms, ort_ms))

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    lines = ["Kiln vs ONNX Runtime %s, batch 1, %d threads, %s (`bench/zoo.py`)" % (ort.__version__, args.threads, cpu),
             "", "| model | Kiln ms | ORT ms | Kiln/ORT | output vs ORT |", "|---|---|---|---|---|"]
    for name, check, k, o in rows:
        if k is None:
            lines.append("| %s | - | - | - | %s |" % (name, check))
            continue
        lines.append("| %s | %.3g-%.3g | %.3g-%.3g | %.2f | %s |" %
                     (name, min(k), max(k), min(o), max(o), min(k) / min(o), check))
    text = "\n".join(lines) + "\n"
    print(text)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "zoo.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
