"""The threading and ISA rows of bench/run.sh (issue 16), in one section (`--only threading`):

- PASSIVE: every Kiln inference configuration with OMP_WAIT_POLICY=PASSIVE against the same
  configuration in the caller's environment, alternating (default, PASSIVE) PASSIVE_ROUNDS
  times; the ratio of the best medians. The runtime's threading must not depend on spinning (goal <= 1.5x).
- Busy neighbour: Kiln and ONNX Runtime, quiet and then with one other process spinning on
  one core (pinned to CPU 0); three rounds, each timing both runners quiet, then both busy;
  each runner's slowdown = best busy / best quiet (goal: Kiln's <= ORT's).
- ISA: Kiln with oneDNN's default ISA and with ONEDNN_MAX_CPU_ISA=AVX2, alternating three
  times (goal: the default is not slower; n/a on a CPU without AVX-512, where both run the
  same kernels).

Used by bench/bench.py; standard library only.
"""
import os
import subprocess
import sys

BUSY_CONFIGS = [("mlp", 1), ("lenet5", 1), ("lenet5", 64), ("resnet8", 1), ("resnet8", 64)]
ISA_CONFIGS = [("lenet5", 64), ("resnet8", 64)]
SPINNER = "while True: pass"
BUSY_ROUNDS = 3
# The VM's two vCPUs lose their parallel speed-up for seconds at a time (LSTM b1 on two
# threads: 0.107 or 0.17 ms, ResNet-8 b1 0.163 or 0.205 ms, in clusters of runs, whatever the
# wait policy): with two alternations both PASSIVE runs of a row once fell in such a spell
# (LSTM b1 1.57x; alternating by hand right after: 0.107 vs 0.108 ms best).
PASSIVE_ROUNDS = 3


def _median(b, runner, model, batch, env, run_json):
    """One measurement's median ms (None on error) and its record."""
    path = os.path.join(b.models_dir, model, "b%d.onnx" % batch)
    warmup, seconds = b.budget(model, batch)
    seconds = min(seconds, 2.0)
    if runner == "kiln":
        cmd = [b.args.kiln, "bench", path, "--batch", str(batch), "--threads", str(b.threads), "--warmup",
               str(warmup), "--seconds", str(seconds), "--json"]
    else:
        cmd = [b.python, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peer_infer.py"), "--runner",
               runner, "--model", model, "--batch", str(batch), "--threads", str(b.threads), "--warmup",
               str(warmup), "--seconds", str(seconds)]
    if not os.path.exists(path):
        return None, {"error": "model not generated"}
    r = run_json(cmd, 900, env)
    return (None if "error" in r else r["median_ms"]), r


def _best(values):
    values = [v for v in values if v is not None]
    return min(values) if values else None


def run(b, configs, run_json, log):
    """Measures the three kinds of rows; appends records with section "threading"."""
    passive_env = dict(b.env, OMP_WAIT_POLICY="PASSIVE")
    for model, batch in configs:
        runs = {"default": [], "passive": []}
        for _ in range(PASSIVE_ROUNDS):
            for kind, env in (("default", b.env), ("passive", passive_env)):
                runs[kind].append(_median(b, "kiln", model, batch, env, run_json)[0])
        default, passive = _best(runs["default"]), _best(runs["passive"])
        log("passive: %s b%d: default %s ms, PASSIVE %s ms" % (model, batch, default, passive))
        b.records.append({"section": "threading", "kind": "passive", "model": model, "batch": batch,
                          "runner": "kiln", "default_ms": default, "passive_ms": passive,
                          "runs": runs})

    runners = ["kiln"] + (["ort"] if "ort" in b.peers else [])
    for model, batch in [c for c in BUSY_CONFIGS if c in configs or not configs]:
        # Both runners in every round, quiet and busy back to back: the VM's speed drifts by
        # ~10% over minutes, and two slowdowns compared must have seen the same drift.
        runs = {runner: {"quiet": [], "busy": []} for runner in runners}
        for _ in range(BUSY_ROUNDS):
            for runner in runners:
                runs[runner]["quiet"].append(_median(b, runner, model, batch, b.env, run_json)[0])
            spinner = subprocess.Popen([sys.executable, "-c", SPINNER],
                                       preexec_fn=lambda: os.sched_setaffinity(0, {0}))
            try:
                for runner in runners:
                    runs[runner]["busy"].append(_median(b, runner, model, batch, b.env, run_json)[0])
            finally:
                spinner.kill()
                spinner.wait()
        for runner in runners:
            quiet, busy = _best(runs[runner]["quiet"]), _best(runs[runner]["busy"])
            log("busy neighbour: %s %s b%d: quiet %s ms, busy %s ms" % (runner, model, batch, quiet, busy))
            b.records.append({"section": "threading", "kind": "busy", "model": model, "batch": batch,
                              "runner": runner, "quiet_ms": quiet, "busy_ms": busy, "runs": runs[runner]})

    avx2_env = dict(b.env, ONEDNN_MAX_CPU_ISA="AVX2")
    for model, batch in ISA_CONFIGS:
        runs = {"default": [], "avx2": []}
        for _ in range(3):
            for kind, env in (("default", b.env), ("avx2", avx2_env)):
                runs[kind].append(_median(b, "kiln", model, batch, env, run_json)[0])
        default, avx2 = _best(runs["default"]), _best(runs["avx2"])
        log("isa: %s b%d: default %s ms, AVX2 %s ms" % (model, batch, default, avx2))
        b.records.append({"section": "threading", "kind": "isa", "model": model, "batch": batch, "runner": "kiln",
                          "default_ms": default, "avx2_ms": avx2, "runs": runs, "cpu_avx512": _cpu_has_avx512()})


def _spread(values):
    values = [v for v in values if v is not None]
    return "%.3g-%.3g" % (min(values), max(values)) if values else "n/a"


def rows(b, model_label, width):
    """(label, cells) rows for bench.py's table; cells padded to `width` columns."""
    out = []

    def row(label, cells):
        out.append((label, cells + [""] * (width - len(cells))))

    recs = [r for r in b.records if r.get("section") == "threading"]
    passive = [r for r in recs if r["kind"] == "passive"]
    if passive:
        out.append(("Kiln with OMP_WAIT_POLICY=PASSIVE: default ms, PASSIVE ms, ratio (best of %d; spreads)" % PASSIVE_ROUNDS, None))
    for r in passive:
        ratio = r["passive_ms"] / r["default_ms"] if r["passive_ms"] and r["default_ms"] else None
        row("%s, batch %d" % (model_label[r["model"]], r["batch"]),
            ["%.4g (%s)" % (r["default_ms"], _spread(r["runs"]["default"])) if r["default_ms"] else "n/a",
             "%.4g (%s)" % (r["passive_ms"], _spread(r["runs"]["passive"])) if r["passive_ms"] else "n/a",
             "%.2f" % ratio if ratio else "n/a"])
    busy = [r for r in recs if r["kind"] == "busy"]
    if busy:
        out.append(("Busy neighbour (one process spinning on CPU 0): quiet ms, busy ms, slowdown", None))
    for r in busy:
        slowdown = r["busy_ms"] / r["quiet_ms"] if r["busy_ms"] and r["quiet_ms"] else None
        row("%s, batch %d: %s" % (model_label[r["model"]], r["batch"], "Kiln" if r["runner"] == "kiln" else "ORT"),
            ["%.4g" % r["quiet_ms"] if r["quiet_ms"] else "n/a", "%.4g" % r["busy_ms"] if r["busy_ms"] else "n/a",
             "%.2fx" % slowdown if slowdown else "n/a"])
    isa = [r for r in recs if r["kind"] == "isa"]
    if isa:
        out.append(("Kiln, oneDNN ISA: default ms, ONEDNN_MAX_CPU_ISA=AVX2 ms, default/AVX2 (best of 3)", None))
    for r in isa:
        ratio = r["default_ms"] / r["avx2_ms"] if r["default_ms"] and r["avx2_ms"] else None
        row("%s, batch %d" % (model_label[r["model"]], r["batch"]),
            ["%.4g (%s)" % (r["default_ms"], _spread(r["runs"]["default"])) if r["default_ms"] else "n/a",
             "%.4g (%s)" % (r["avx2_ms"], _spread(r["runs"]["avx2"])) if r["avx2_ms"] else "n/a",
             "%.2f" % ratio if ratio else "n/a"])
    return out


def goals(b, model_label):
    """[(goal, status, detail)] for issue 16's threading and ISA lines."""
    recs = [r for r in b.records if r.get("section") == "threading"]
    out = []
    passive = [(r, r["passive_ms"] / r["default_ms"]) for r in recs
               if r["kind"] == "passive" and r["passive_ms"] and r["default_ms"]]
    if passive:
        worst, ratio = max(passive, key=lambda p: p[1])
        out.append(("every Kiln row with OMP_WAIT_POLICY=PASSIVE <= 1.5x its default time",
                    "met" if ratio <= 1.5 else "NOT met",
                    "worst %.2fx (%s batch %d)" % (ratio, model_label[worst["model"]], worst["batch"])))
    for r in [r for r in recs if r["kind"] == "busy" and r["runner"] == "kiln"]:
        ort = next((o for o in recs if o["kind"] == "busy" and o["runner"] == "ort" and o["model"] == r["model"]
                    and o["batch"] == r["batch"]), None)
        goal = "busy neighbour, %s batch %d: Kiln's slowdown <= ORT's" % (model_label[r["model"]], r["batch"])
        if not (ort and r["busy_ms"] and r["quiet_ms"] and ort["busy_ms"] and ort["quiet_ms"]):
            out.append((goal, "n/a", "n/a"))
            continue
        k, o = r["busy_ms"] / r["quiet_ms"], ort["busy_ms"] / ort["quiet_ms"]
        out.append((goal, "met" if k <= o else "NOT met", "Kiln %.2fx, ORT %.2fx" % (k, o)))
    for r in [r for r in recs if r["kind"] == "isa"]:
        goal = "%s batch %d: default ISA not slower than AVX2" % (model_label[r["model"]], r["batch"])
        # The measuring machine's flag (a run's record); this machine's for older records.
        wider = r["cpu_avx512"] if "cpu_avx512" in r else _cpu_has_avx512()
        if not (r["default_ms"] and r["avx2_ms"]):
            out.append((goal, "n/a", "n/a"))
        elif wider is False:
            # Without AVX-512 the default is AVX2: both settings run the same kernels, and the
            # ratio is the machine's drift between the alternating runs.
            out.append((goal, "n/a", "no AVX-512 on this CPU, the same kernels either way (%.2fx)" %
                        (r["default_ms"] / r["avx2_ms"])))
        else:
            ratio = r["default_ms"] / r["avx2_ms"]
            # Within 5%: repeated runs on one machine move by more than that.
            out.append((goal, "met" if ratio <= 1.05 else "NOT met", "%.2fx" % ratio))
    return out


def _cpu_has_avx512():
    """Whether the CPU has AVX-512 (avx512f in /proc/cpuinfo); None where that cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx512f" in line.split()
    except OSError:
        pass
    return None
