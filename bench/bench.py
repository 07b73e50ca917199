"""Kiln against its peers, side by side, in one run (bench/run.sh calls this; see
bench/README.md). Runs every benchmark in its own process -- `kiln bench`, `kiln
train`, bench/peer_infer.py and bench/peer_train.py -- collects their JSON, then
prints one table of medians and ratios and the issue's goals (met / not met), and
writes both as markdown and JSON to bench/results/latest.{md,json}.

Standard library only, so it runs (and reports every peer as n/a) even when the
peers' virtualenv could not be set up. Progress goes to stderr.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import threading_bench

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PEERS = ["ort", "torch", "torch_compile", "jax", "openvino"]
LABEL = {"kiln": "Kiln", "ort": "ORT", "torch": "torch", "torch_compile": "torch.compile", "jax": "jax.jit",
         "openvino": "OpenVINO"}
MODEL_LABEL = {"mlp": "MLP 784-512-256-10", "lenet5": "LeNet-5", "resnet8": "ResNet-8 (CIFAR, BN)",
               "resnet50": "ResNet-50 224x224", "matmul1024": "MatMul 1024^3", "matmul2048": "MatMul 2048^3",
               "lstm": "LSTM 128, seq 32, hidden 128", "gru": "GRU 128, seq 32, hidden 128"}
TRAIN_LABEL = {"mlp": "MLP 784-512-256-10", "cnn": "CNN 2xconv3x3-pool, 128", "lstm": "LSTM 28x28 rows, 128"}
KILN_TRAIN_MODEL = {"mlp": "bench/models/fmnist_mlp_512.kiln.txt", "cnn": "bench/models/fmnist_cnn.kiln.txt",
                    "lstm": "bench/models/fmnist_lstm.kiln.txt"}
NO_JAX_MODEL = ("lstm", "gru")
RATIO_PEERS = ("ort", "torch", "jax", "openvino")  # a Kiln/peer column each  # bench/jax_models.py has no recurrent layers


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


def run_json(cmd, timeout, env):
    """Runs `cmd`; returns the JSON object on its last stdout line, or {"error": why}."""
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %d s" % timeout}
    except OSError as e:
        return {"error": str(e)}
    lines = [line for line in p.stdout.splitlines() if line.strip()]
    if p.returncode == 0 and lines:
        try:
            return json.loads(lines[-1])
        except ValueError:
            pass
    err = [line for line in p.stderr.splitlines() if line.strip()]
    return {"error": "exit %d: %s" % (p.returncode, (err[-1] if err else "no output")[:200])}


def read_json_file(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        return {"error": str(e)}


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.rounds = args.rounds if args.rounds else (1 if args.quick else 2)
        self.threads = args.threads
        self.models_dir = os.path.join(HERE, ".models")
        self.env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        # OMP_WAIT_POLICY stays as the caller has it (unset: each runner's own default,
        # as users run it; Kiln's programs then spin briefly and sleep, runtime/threading.h).
        self.peers = [p for p in args.peers.split(",") if p] if args.peers else list(PEERS)
        self.python = args.python
        self.records = []  # every measurement, as the runners reported it (plus where/what)
        self.notes = []

    # ---- inference ----------------------------------------------------------
    def budget(self, model, batch):
        """(warm-up runs, seconds of timed runs) for one configuration; at least 3 timed runs."""
        if model == "resnet50":
            return (1, 2.0) if self.quick else ((3, 5.0) if batch == 1 else (1, 10.0))
        if model.startswith("matmul"):
            return (1, 0.5) if self.quick else (3, 3.0)
        return (5, 0.5) if self.quick else (20, 3.0)

    def inference(self, configs, runners):
        """Each runner on each config, in `self.rounds` rounds over the whole list (the VM's
        speed drifts by up to 1.5x over minutes, so one measurement per runner compares
        phases, not runners); a record keeps its fastest round's median and every round's
        ("round_medians", the spread), and the first round's compile time (a fresh cache)."""
        runs = [(m, bt, p) for m, bt in configs for p in runners
                if not (p == "jax" and m in NO_JAX_MODEL) and not (p == "openvino" and m.startswith("matmul"))]
        # (jax has no recurrent models; the matmul rows compare the GEMM libraries the frameworks call)
        total = len(runs) * self.rounds
        merged = {}
        n = 0
        for round_index in range(self.rounds):
            for model, batch, runner in runs:
                n += 1
                log("[%d/%d] %s batch %d: %s%s ..." % (n, total, model, batch, LABEL[runner],
                                                      " (round %d)" % (round_index + 1) if self.rounds > 1 else ""))
                r = self.measure_inference(model, batch, runner)
                prev = merged.get((model, batch, runner))
                medians = (prev or {}).get("round_medians", []) + ([r["median_ms"]] if "error" not in r else [])
                if prev is None or ("error" not in r and ("error" in prev or r["median_ms"] < prev["median_ms"])):
                    if prev is not None and "compile_seconds_total" in prev:
                        r["compile_seconds_total"] = prev["compile_seconds_total"]
                    merged[(model, batch, runner)] = r
                merged[(model, batch, runner)]["round_medians"] = medians
        for model, batch, runner in runs:
            self.records.append(merged[(model, batch, runner)])

    def measure_inference(self, model, batch, runner):
        path = os.path.join(self.models_dir, model, "b%d.onnx" % batch)
        warmup, seconds = self.budget(model, batch)
        timeout = 600 if self.quick else 1800
        if not os.path.exists(path):
            r = {"error": "model not generated (%s)" % os.path.relpath(path, ROOT)}
        elif runner == "kiln":
            r = run_json([self.args.kiln, "bench", path, "--batch", str(batch), "--threads", str(self.threads),
                          "--warmup", str(warmup), "--seconds", str(seconds), "--json"], timeout, self.env)
            if "error" not in r:
                r["compile_seconds_total"] = r["compile_seconds"]
        else:
            r = run_json([self.python, os.path.join(HERE, "peer_infer.py"), "--runner", runner, "--model",
                          model, "--batch", str(batch), "--threads", str(self.threads), "--warmup",
                          str(warmup), "--seconds", str(seconds)], timeout, self.env)
            if "error" not in r:
                # The peer's compile figure: ORT's session creation (load + graph
                # optimizations); torch.compile's and jax.jit's first call (trace + compile).
                r["compile_seconds_total"] = {"ort": r.get("setup_seconds"),
                                              "openvino": r.get("setup_seconds"),
                                              "torch_compile": r.get("first_call_seconds"),
                                              "jax": r.get("first_call_seconds")}.get(runner)
                ref = r.get("max_abs_reference") or 1.0
                note = "%s %s b%d: output differs from PyTorch's by %.3g (max |ref| %.3g)" % (
                    LABEL[runner], model, batch, r.get("max_abs_diff", 0), ref)
                if r.get("max_abs_diff", 0) > 1e-3 * max(1.0, ref) and note not in self.notes:
                    self.notes.append(note)
        r.update({"section": "inference", "model": model, "batch": batch, "runner": runner})
        if "error" in r:
            log("    n/a: %s" % r["error"])
        else:
            log("    median %.4g ms (%d runs)" % (r["median_ms"], r["iterations"]))
        return r

    # ---- peak FLOP/s --------------------------------------------------------
    def peak(self):
        """The FMA microbenchmark's best trial (and its L1-fed kernel's), then numpy's SGEMM
        as the check that the peak is at least what a BLAS library reaches; run before and
        after the matmuls, the higher of each counts."""
        log("FP32 peak: FMA microbenchmark on %d threads ..." % self.threads)
        if not self.args.peak_flops:
            r = {"error": "bench/peak_flops.cc was not built"}
        else:
            r = run_json([self.args.peak_flops, "--threads", str(self.threads), "--seconds",
                          "1" if self.quick else "3"], 60, self.env)
        if "error" not in r and self.python:
            blas = run_json([self.python, os.path.join(HERE, "blas_sgemm.py"), "--threads", str(self.threads),
                             "--seconds", "1" if self.quick else "3"], 120, self.env)
            r.update(blas if "error" not in blas else {"blas_error": blas["error"]})
        before = self.find("peak")
        if before is None:
            r["section"] = "peak"
            self.records.append(r)
        elif "error" not in r:
            before.pop("error", None)
            for key, v in r.items():
                if isinstance(v, (int, float)) and key.endswith("gflops"):
                    before[key] = max(before.get(key, 0), v)
                else:
                    before.setdefault(key, v)
            r = before
        log("    %s" % (r.get("error") or "%.1f GFLOP/s (L1-fed kernel %s, SGEMM %s / %s)" % (
            r["gflops"], r.get("l1_fed_gflops"), r.get("sgemm_1024_gflops"), r.get("sgemm_2048_gflops"))))

    # ---- training -----------------------------------------------------------
    def training(self):
        plan = [("mlp", 6400 if self.quick else 60000, 2 if self.quick else 3),
                ("cnn", 1920 if self.quick else 60000, 2),
                ("lstm", 1920 if self.quick else 60000, 2)]
        tmp = os.path.join(self.models_dir, "tmp")
        os.makedirs(tmp, exist_ok=True)
        if self.args.models:
            plan = [p for p in plan if p[0] in self.args.models.split(",")]
        for model, samples, epochs in plan:
            runners = ["kiln"] + [p for p in ("torch", "jax") if p in self.peers and
                                  not (p == "jax" and model in NO_JAX_MODEL)]
            x = os.path.join(self.models_dir, "data", "fmnist_%d_x.npy" % samples)
            y = os.path.join(self.models_dir, "data", "fmnist_%d_y.npy" % samples)
            timeout = 900 if self.quick else 7200
            for runner in runners:
                log("training %s (%d samples, %d epochs): %s ..." % (model, samples, epochs, LABEL[runner]))
                if not os.path.exists(x):
                    r = {"error": "training data not generated (%s)" % os.path.relpath(x, ROOT)}
                elif runner == "kiln":
                    report = os.path.join(tmp, "kiln_train_%s.json" % model)
                    if os.path.exists(report):
                        os.remove(report)
                    r = run_json_kiln_train(self.args.kiln, KILN_TRAIN_MODEL[model], x, y, epochs, self.threads,
                                            report, timeout, self.env)
                else:
                    r = run_json([self.python, os.path.join(HERE, "peer_train.py"), "--runner", runner, "--model",
                                  model, "--x", x, "--y", y, "--threads", str(self.threads), "--epochs",
                                  str(epochs)], timeout, self.env)
                if "error" not in r:
                    secs = [e["seconds"] for e in r["epochs"]]
                    r["epoch_seconds"] = statistics.median(secs[1:] if len(secs) > 1 else secs)
                    log("    %.3g s/epoch (%d steps)" % (r["epoch_seconds"], r["steps_per_epoch"]))
                else:
                    log("    n/a: %s" % r["error"])
                r.update({"section": "training", "model": model, "runner": runner, "samples": samples})
                self.records.append(r)

    # ---- lookup -------------------------------------------------------------
    def find(self, section, runner=None, **key):
        for r in self.records:
            if r.get("section") == section and (runner is None or r.get("runner") == runner) and all(
                    r.get(k) == v for k, v in key.items()):
                return r
        return None


def run_json_kiln_train(kiln, model, x, y, epochs, threads, report, timeout, env):
    cmd = [kiln, "train", model, "--data", "npy:%s,%s" % (x, y), "--preprocess", "scale", "--epochs", str(epochs),
           "--batch", "64", "--threads", str(threads), "--seed", "0", "--quiet", "--report-json", report]
    try:
        p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timed out after %d s" % timeout}
    if p.returncode != 0:
        err = [line for line in (p.stderr + p.stdout).splitlines() if line.strip()]
        return {"error": "exit %d: %s" % (p.returncode, (err[-1] if err else "")[:200])}
    return read_json_file(report)


# ---- the report ---------------------------------------------------------------

def fmt(v, digits=3):
    if v is None:
        return "n/a"
    if v >= 100:
        return "%.0f" % v
    return ("%%.%dg" % digits) % v


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt_ratio(r):
    return "n/a" if r is None else "%.2f" % r


def value(record, key):
    if record is None or "error" in record:
        return None
    return record.get(key)


def build_report(b):
    """The table rows, the goals and the notes, from the bench's records."""
    runners = ["kiln"] + b.peers
    cols = [LABEL[r] for r in runners] + ["Kiln/%s" % LABEL[p] for p in RATIO_PEERS]
    no_ratios = [""] * len(RATIO_PEERS)
    rows = []  # (label, [cells]) or (section title, None)
    errors = {}  # reason -> [where]

    def cell(record, text):
        if record is not None and "error" in record:
            where = ("%s %s" % (LABEL[record["runner"]], record.get("model", ""))).strip() \
                if record.get("runner") else record.get("section", "?")
            if where not in errors.setdefault(record["error"], []):
                errors[record["error"]].append(where)
        return text

    def spread(record):
        """" [lo-hi]": the rounds' medians, where there was more than one."""
        m = (record or {}).get("round_medians") or []
        return " [%s-%s]" % (fmt(min(m)), fmt(max(m))) if len(m) > 1 else ""

    def ratios(kiln_value, get, ran=None):
        """Kiln/peer for each of RATIO_PEERS: "-" where the peer did not run this benchmark."""
        return [fmt_ratio(ratio(kiln_value, get(p))) if p in runners and (ran is None or ran.get(p)) else "-"
                for p in RATIO_PEERS]

    # Inference latency.
    configs = [(r["model"], r["batch"]) for r in b.records if r.get("section") == "inference" and
               r["runner"] == "kiln" and not r["model"].startswith("matmul")]
    if configs:
        rows.append(("Inference latency, median ms (the fastest round's; [the rounds' range])", None))
    for model, batch in configs:
        rec = {p: b.find("inference", p, model=model, batch=batch) for p in runners}
        med = {p: value(rec[p], "median_ms") for p in runners}
        rows.append(("%s, batch %d" % (MODEL_LABEL[model], batch),
                     [cell(rec[p], fmt(med[p]) + spread(rec[p])) for p in runners] + ratios(med["kiln"], med.get)))

    # Large matrix products.
    peak = b.find("peak")
    peak_gflops = value(peak, "gflops")
    mm = [(r["model"], r["batch"]) for r in b.records if r.get("section") == "inference" and
          r["runner"] == "kiln" and r["model"].startswith("matmul")]
    if mm:
        rows.append(("Large MatMul, median ms (GFLOP/s, % of peak)", None))
        rows.append(("FP32 peak (FMA loop, %d threads), GFLOP/s" % b.threads,
                     [cell(peak, fmt(peak_gflops))] + ["" for _ in runners[1:]] + no_ratios))
        fed = value(peak, "l1_fed_gflops")
        if fed and peak_gflops:
            rows.append(("FMA kernel fed from L1 (%s, the GEMM inner-kernel ceiling), GFLOP/s (%% of peak)"
                         % peak.get("l1_fed_kernel", "?"),
                         ["%s (%.0f%%)" % (fmt(fed), 100 * fed / peak_gflops)] + ["" for _ in runners[1:]] + no_ratios))
        sgemm = [value(peak, "sgemm_%d_gflops" % n) for n in (1024, 2048)]
        if all(sgemm) and peak_gflops:
            rows.append(("%s SGEMM 1024^3 / 2048^3, GFLOP/s (%% of peak)" % peak.get("blas", "BLAS"),
                         [" / ".join("%s (%.0f%%)" % (fmt(g), 100 * g / peak_gflops) for g in sgemm)] +
                         ["" for _ in runners[1:]] + no_ratios))
    for model, n in mm:
        rec = {p: b.find("inference", p, model=model, batch=n) for p in runners}
        med = {p: value(rec[p], "median_ms") for p in runners}
        cells = []
        for p in runners:
            if med[p] is None:
                cells.append(cell(rec[p], "n/a" if rec[p] is not None else "-"))
                continue
            gflops = 2.0 * n**3 / (med[p] * 1e-3) / 1e9
            rec[p]["gflops"] = gflops
            pct = ", %.0f%%" % (100 * gflops / peak_gflops) if peak_gflops else ""
            rec[p]["percent_of_peak"] = 100 * gflops / peak_gflops if peak_gflops else None
            cells.append("%s (%.0f%s)%s" % (fmt(med[p]), gflops, pct, spread(rec[p])))
        rows.append((MODEL_LABEL[model], cells + ratios(med["kiln"], med.get)))

    # Training.
    trains = [r["model"] for r in b.records if r.get("section") == "training" and r["runner"] == "kiln"]
    if trains:
        rows.append(("Training, s/epoch (batch 64, Adam)", None))
    for model in trains:
        rec = {p: b.find("training", p, model=model) for p in runners}
        sec = {p: value(rec[p], "epoch_seconds") for p in runners}
        steps = value(rec["kiln"], "steps_per_epoch") or next(
            (value(r, "steps_per_epoch") for r in rec.values() if value(r, "steps_per_epoch")), None)
        label = "%s, %s steps/epoch" % (TRAIN_LABEL[model], steps or "?")
        rows.append((label, [cell(rec[p], fmt(sec[p])) if rec[p] is not None else "-" for p in runners] +
                     ratios(sec["kiln"], sec.get, rec)))

    # Compile time (and peers' equivalents), batch 1 (matmuls at their size).
    comp = [(m, bt) for m, bt in configs if bt == 1] + mm
    if comp:
        rows.append(("Compile time, s (ORT, OpenVINO: session creation / compile_model; torch.compile, jax.jit: "
                     "first call)", None))
    for model, batch in comp:
        rec = {p: b.find("inference", p, model=model, batch=batch) for p in runners}
        c = {p: value(rec[p], "compile_seconds_total") for p in runners}
        cells = [cell(rec[p], "-" if rec[p] is None or (p == "torch" and "error" not in rec[p]) else fmt(c[p]))
                 for p in runners]
        rows.append(("%s%s" % (MODEL_LABEL[model], ", batch %d" % batch if not model.startswith("matmul") else ""),
                     cells + ["" if p == "torch" else fmt_ratio(ratio(c["kiln"], c.get(p))) for p in RATIO_PEERS]))

    # Memory: peak RSS per process, Kiln's arena beside it; the largest batch of each model.
    largest = {}
    for model, batch in configs + mm:
        largest[model] = max(batch, largest.get(model, 0))
    if largest:
        rows.append(("Peak RSS, MiB (Kiln: and its arena)", None))
    for model, batch in largest.items():
        rec = {p: b.find("inference", p, model=model, batch=batch) for p in runners}
        cells = []
        for p in runners:
            rss = value(rec[p], "peak_rss_bytes")
            text = ("-" if rec[p] is None else "n/a") if rss is None else "%.0f" % (rss / 2**20)
            if p == "kiln" and rss is not None:
                text += " (arena %.1f)" % (rec[p]["arena_bytes"] / 2**20)
            cells.append(cell(rec[p], text))
        rows.append(("%s, batch %d" % (MODEL_LABEL[model], batch), cells + no_ratios))
    rows.extend(threading_bench.rows(b, MODEL_LABEL, len(cols)))
    # Issue 16: every inference row where a peer is faster than Kiln, named.
    for model, batch in configs:
        k = value(b.find("inference", "kiln", model=model, batch=batch), "median_ms")
        faster = ["%s %.3g ms" % (LABEL[p], value(b.find("inference", p, model=model, batch=batch), "median_ms"))
                  for p in runners[1:] if k is not None and
                  (value(b.find("inference", p, model=model, batch=batch), "median_ms") or float("inf")) < k]
        note = "faster than Kiln (%.3g ms) on %s batch %d: %s" % (k, MODEL_LABEL[model], batch, ", ".join(faster)) \
            if faster else None
        if note and note not in b.notes:
            b.notes.append(note)
    return cols, rows, goals(b, peak_gflops), errors


def goals(b, peak_gflops):
    """[(goal, status 'met'|'NOT met'|'n/a', detail)] for the issue's targets."""
    out = []

    def vs_ort(model, batch, limit):
        k = value(b.find("inference", "kiln", model=model, batch=batch), "median_ms")
        o = value(b.find("inference", "ort", model=model, batch=batch), "median_ms")
        goal = "%s batch %d: Kiln <= %.1fx ORT" % (MODEL_LABEL[model], batch, limit)
        if k is None or o is None:
            why = "not measured" if b.find("inference", "kiln", model=model, batch=batch) is None else "n/a"
            out.append((goal, "n/a", why))
        else:
            out.append((goal, "met" if k / o <= limit else "NOT met", "%.2fx" % (k / o)))

    vs_ort("mlp", 1, 0.7)
    vs_ort("lenet5", 1, 0.7)
    # Issue 16: every other inference row <= 1.0x.
    for model, batch in (("mlp", 64), ("lenet5", 64), ("resnet8", 1), ("resnet8", 64), ("resnet50", 1),
                         ("resnet50", 64)):
        vs_ort(model, batch, 1.0)
    for model in ("lstm", "gru"):  # issue 14
        for batch in (1, 64):
            vs_ort(model, batch, 1.0)
    for model, peer, limit in (("mlp", "torch", 0.5), ("mlp", "jax", 1.0), ("cnn", "torch", 0.5),
                               ("lstm", "torch", 0.5)):
        k = value(b.find("training", "kiln", model=model), "epoch_seconds")
        p = value(b.find("training", peer, model=model), "epoch_seconds")
        goal = "%s training epoch: Kiln <= %.1fx %s" % (
            TRAIN_LABEL[model], limit, "torch eager" if peer == "torch" else "jax.jit")
        out.append((goal, "n/a", "n/a") if k is None or p is None else
                   (goal, "met" if k / p <= limit else "NOT met", "%.2fx" % (k / p)))
    for model in ("matmul1024", "matmul2048"):
        r = b.find("inference", "kiln", model=model)
        g = value(r, "gflops")
        goal = "%s: Kiln >= 85%% of peak" % MODEL_LABEL[model]
        out.append((goal, "n/a", "n/a") if g is None or not peak_gflops else
                   (goal, "met" if g >= 0.85 * peak_gflops else "NOT met",
                    "%.0f%% (%.1f of %.1f GFLOP/s%s)" % (
                        100 * g / peak_gflops, g, peak_gflops,
                        "; the L1-fed kernel reaches %.0f%%" % (100 * value(b.find("peak"), "l1_fed_gflops") /
                                                               peak_gflops)
                        if value(b.find("peak"), "l1_fed_gflops") else "")))
    out.extend(threading_bench.goals(b, MODEL_LABEL))
    for model, limit in (("mlp", 0.5), ("lenet5", 0.5), ("resnet50", 3.0)):
        c = value(b.find("inference", "kiln", model=model, batch=1), "compile_seconds")
        goal = "%s compile time <= %.1f s" % (MODEL_LABEL[model], limit)
        out.append((goal, "n/a", "n/a") if c is None else (goal, "met" if c <= limit else "NOT met", "%.3f s" % c))
    return out


def render_table(cols, rows):
    header = ["benchmark"] + cols
    width = [len(h) for h in header]
    for label, cells in rows:
        if cells is not None:
            for i, c in enumerate([label] + cells):
                width[i] = max(width[i], len(c))
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, width)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in width) + "|"]
    for label, cells in rows:
        out.append(line(["**%s**" % label] + [""] * len(cols)) if cells is None else line([label] + cells))
    return "\n".join(out)


def machine_info(b):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {}
    for r in b.records:
        if r.get("version") and r.get("runner"):
            versions[LABEL[r["runner"]].replace(".compile", "").replace(".jit", "")] = r["version"]
    try:
        kiln_version = subprocess.run([b.args.kiln, "--version"], capture_output=True, text=True).stdout.strip()
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        kiln_version, commit = "kiln ?", "?"
    return {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "cpu": cpu, "cores": os.cpu_count(),
            "python": platform.python_version(), "kiln": "%s (%s)" % (kiln_version, commit),
            "peers": versions, "peers_run": b.peers, "threads": b.threads, "mode": "quick" if b.quick else "full",
            "omp_wait_policy": b.env.get("OMP_WAIT_POLICY", "unset")}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kiln", default=os.path.join(ROOT, "build", "kiln"))
    ap.add_argument("--peak-flops", default="")
    ap.add_argument("--python", default=sys.executable, help="the peers' python (bench/.venv)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0,
                    help="rounds over the inference and matmul rows, the fastest kept (default: 2, --quick 1)")
    ap.add_argument("--peers", default=",".join(PEERS), help="comma-separated subset of " + ",".join(PEERS))
    ap.add_argument("--only", default="inference,matmul,training,threading",
                    help="comma-separated sections to run")
    ap.add_argument("--models", default="", help="comma-separated models to run (default: all)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--setup-note", action="append", default=[], help="a note to print (e.g. a peer that failed)")
    ap.add_argument("--report-from", default="", help="re-render the table of a previous run's latest.json")
    args = ap.parse_args()
    b = Bench(args)
    b.notes.extend(args.setup_note)
    only = set(args.only.split(","))
    load_start = os.getloadavg()
    started = time.time()
    if args.report_from:
        with open(args.report_from) as f:
            previous = json.load(f)
        b.records, b.notes, only = previous["records"], previous["notes"], set()
        b.quick = previous["info"]["mode"] == "quick"
        b.peers = previous["info"].get("peers_run", b.peers)
        b.threads = previous["info"].get("threads", b.threads)

    if "inference" in only:
        configs = [(m, bt) for m in ("mlp", "lenet5", "resnet8", "resnet50", "lstm", "gru") for bt in (1, 64)]
        if b.quick:
            configs.remove(("resnet50", 64))
            b.notes.append("--quick: ResNet-50 batch 64 skipped; short time budgets; training on a subset")
        if args.models:
            configs = [(m, bt) for m, bt in configs if m in args.models.split(",")]
        b.inference(configs, ["kiln"] + b.peers)
    if "matmul" in only:
        b.peak()
        b.inference([("matmul1024", 1024), ("matmul2048", 2048)],
                    ["kiln"] + [p for p in b.peers if p != "torch_compile"])
        b.peak()
    if "training" in only:
        b.training()
    if "threading" in only:
        models = [m for m in ("mlp", "lenet5", "resnet8", "resnet50", "lstm", "gru")
                  if not args.models or m in args.models.split(",")]
        configs = [(m, bt) for m in models for bt in (1, 64) if not (b.quick and (m, bt) == ("resnet50", 64))]
        threading_bench.run(b, configs, run_json, log)

    cols, rows, goal_list, errors = build_report(b)
    info = machine_info(b)
    info["load_average"] = "%.2f at the start, %.2f at the end" % (load_start[0], os.getloadavg()[0])
    info["minutes"] = round((time.time() - started) / 60, 1)
    if args.report_from:
        info = previous["info"]
    table = render_table(cols, rows)
    header = ("Kiln vs peers, %s run, %d threads (intra-op %d, inter-op 1), OMP_WAIT_POLICY=%s\n"
              "%s; %s cores; load %s; %s; peers: %s" % (
                  info["mode"], b.threads, b.threads, info["omp_wait_policy"], info["cpu"], info["cores"],
                  info["load_average"], info["kiln"],
                  ", ".join("%s %s" % kv for kv in sorted(info["peers"].items())) or "none"))
    goal_lines = ["- %-9s %s: %s" % ("[%s]" % s, g, d) for g, s, d in goal_list]
    note_lines = ["- %s" % n for n in b.notes]
    note_lines += ["- n/a: %s (%s)" % (why, ", ".join(where)) for why, where in errors.items()]
    text = "\n".join([header, "", table, "", "Goals:"] + goal_lines +
                     (["", "Notes:"] + note_lines if note_lines else [])) + "\n"
    print(text)

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write("# Kiln vs peers (bench/run.sh)\n\n" + text.replace("\nGoals:\n", "\n## Goals\n\n")
                .replace("\nNotes:\n", "\n## Notes\n\n"))
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump({"info": info, "columns": ["benchmark"] + cols,
                   "rows": [{"label": label, "cells": cells} for label, cells in rows],
                   "goals": [{"goal": g, "status": s, "detail": d} for g, s, d in goal_list],
                   "notes": b.notes, "errors": errors, "records": b.records}, f, indent=1)
    log("wrote %s/latest.md and latest.json (%.1f min)" % (os.path.relpath(args.out, ROOT), info["minutes"]))


if __name__ == "__main__":
    main()
