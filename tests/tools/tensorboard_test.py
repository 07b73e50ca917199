"""`kiln train --logdir/--plot`: the event files read back with TensorBoard's own reader
agree with --report-json, and the SVG plot holds every curve.

Usage: tensorboard_test.py KILN_BINARY SOURCE_DIR
"""
import json
import math
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from tensorboard.backend.event_processing import event_accumulator as ea

kiln, source = sys.argv[1], sys.argv[2]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def close(a, b):
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)  # events hold float32


with tempfile.TemporaryDirectory() as tmp:
    logdir, report, plot = f"{tmp}/runs/iris", f"{tmp}/report.json", f"{tmp}/curves.svg"
    epochs = 6
    cmd = [kiln, "train", f"{source}/examples/iris_mlp.kiln.txt", "--epochs", str(epochs), "--batch", "16",
           "--validation-split", "0.25", "--optimizer", "adam", "--lr", "0.01", "--seed", "3", "--quiet",
           "--logdir", logdir, "--report-json", report, "--plot", plot]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, cwd=source)  # the data path is relative
    with open(report) as f:
        run = json.load(f)
    history = run["epochs"]
    check(len(history) == epochs, f"report has {len(history)} epochs")

    def load(sub):
        acc = ea.EventAccumulator(os.path.join(logdir, sub), size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.TENSORS: 0})
        acc.Reload()
        return acc

    train, val = load("train"), load("validation")
    for acc, tag, key in [(train, "epoch_loss", "loss"), (train, "epoch_accuracy", "accuracy"),
                          (val, "epoch_loss", "val_loss"), (val, "epoch_accuracy", "val_accuracy")]:
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = [(h["epoch"], h[key]) for h in history]
        check(len(got) == len(want) and all(g[0] == w[0] and close(g[1], w[1]) for g, w in zip(got, want)),
              f"{tag} ({key}): {got} != {want}")
    lr = [e.value for e in train.Scalars("epoch_learning_rate")]
    check(len(lr) == epochs and all(close(v, 0.01) for v in lr), f"epoch_learning_rate {lr}")

    steps = run["steps_per_epoch"]
    batch_loss = train.Scalars("batch_loss")
    check([e.step for e in batch_loss] == list(range(1, steps * epochs + 1)), "batch_loss steps")
    for h in history:  # an epoch's loss is the mean of its steps' losses
        mean = sum(e.value for e in batch_loss[(h["epoch"] - 1) * steps:h["epoch"] * steps]) / steps
        check(math.isclose(mean, h["loss"], rel_tol=1e-5), f"epoch {h['epoch']}: mean batch_loss {mean} vs {h['loss']}")
    check(len(train.Scalars("batch_accuracy")) == steps * epochs, "batch_accuracy per step")

    hist_tags = train.Tags()["histograms"]
    params = ["dense1/kernel", "dense1/bias", "probs/kernel", "probs/bias"]
    for p in params:
        for kind in ("weights", "gradients"):
            tag = f"{kind}/{p}"
            check(tag in hist_tags, f"histogram {tag} missing ({hist_tags})")
            if tag in hist_tags:
                hs = train.Histograms(tag)
                check([h.step for h in hs] == list(range(1, epochs + 1)), f"{tag} steps")
                hv = hs[-1].histogram_value
                check(hv.num > 0 and sum(hv.bucket) == hv.num and hv.min <= hv.max, f"{tag} buckets")
    text = train.Tensors("command")[0].tensor_proto.string_val[0].decode()
    check("--logdir" in text and "iris_mlp.kiln.txt" in text, f"command text {text!r}")

    svg = ET.parse(plot).getroot()
    lines = {p.get("data-label"): p.get("points").split() for p in svg.iter("{http://www.w3.org/2000/svg}polyline")}
    for label in ("loss", "val_loss", "accuracy", "val_accuracy"):
        check(len(lines.get(label, [])) == epochs, f"plot curve {label}: {lines.get(label)}")

    # A log directory that cannot be created is a one-line error before training.
    blocker = f"{tmp}/file"
    open(blocker, "w").close()
    bad = subprocess.run([kiln, "train", f"{source}/examples/iris_mlp.kiln.txt", "--epochs", "1", "--quiet",
                          "--logdir", f"{blocker}/run"], capture_output=True, text=True, cwd=source)
    check(bad.returncode != 0 and "log directory" in bad.stderr and "Epoch" not in bad.stdout,
          f"--logdir under a file: rc {bad.returncode}, {bad.stderr!r}")

print("FAILED" if failures else "OK", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
