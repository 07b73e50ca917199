#!/usr/bin/env bash
# Training benchmark: epoch time of the Fashion-MNIST MLP 784-512-256-10
# (batch 64, Adam lr 1e-3) in Kiln (`kiln train`) and in PyTorch eager, on the
# same machine, with the same thread count, in the same run. See bench/README.md.
#
#   bench/train_mlp.sh [--threads "1 2"] [--epochs 3] [--generic-blas] [--no-openblas]
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS="1 2"
EPOCHS=3
GENERIC_BLAS=0  # also time Debian's torch on the reference BLAS it links by default (slow: ~100 s/epoch)
OPENBLAS=1      # time torch on OpenBLAS (fetched into bench/.deps with apt-get download)
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --epochs) EPOCHS="$2"; shift 2 ;;
    --generic-blas) GENERIC_BLAS=1; shift ;;
    --no-openblas) OPENBLAS=0; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "train_mlp.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ "$EPOCHS" -lt 2 ]; then echo "train_mlp.sh: --epochs must be >= 2 (the first epoch is excluded)" >&2; exit 2; fi

PYTHON="${PYTHON:-/usr/bin/python3}"  # Debian's python3-torch
BUILD_DIR="${BUILD_DIR:-build}"
DATA="${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
MODEL=bench/models/fmnist_mlp_512.kiln.txt
# OMP_WAIT_POLICY stays as the caller has it: unset, each side runs with its default
# (Kiln's programs spin briefly, then sleep: runtime/threading.h), as users run them.
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# Kiln: build (incremental) if needed.
if [ -f "$BUILD_DIR/build.ninja" ]; then
  ninja -C "$BUILD_DIR" -j "${KILN_JOBS:-2}" kiln >/dev/null
else
  BUILD_DIR="$BUILD_DIR" scripts/build.sh kiln >/dev/null
fi
KILN="$BUILD_DIR/kiln"

# PyTorch's Linear runs on whatever libblas.so.3 resolves to; on Debian without
# OpenBLAS that is the reference (netlib) BLAS, ~10x slower than a tuned one.
# For a fair comparison torch also runs on OpenBLAS (its OpenMP build), loaded
# for the torch process only through LD_LIBRARY_PATH.
OPENBLAS_DIR=""
if [ "$OPENBLAS" = 1 ]; then
  dir=bench/.deps/usr/lib/x86_64-linux-gnu/openblas-openmp
  if [ ! -f "$dir/libblas.so.3" ]; then
    mkdir -p bench/.deps
    deb_dir="$(mktemp -d)"
    if (cd "$deb_dir" && apt-get download libopenblas0-openmp >/dev/null 2>&1); then
      dpkg-deb -x "$deb_dir"/libopenblas0-openmp_*.deb bench/.deps
    fi
    rm -rf "$deb_dir"
  fi
  if [ -f "$dir/libblas.so.3" ]; then
    OPENBLAS_DIR="$(cd "$dir" && pwd)"
  else
    echo "train_mlp.sh: could not fetch libopenblas0-openmp; timing torch on the system BLAS only" >&2
    GENERIC_BLAS=1
  fi
fi
SYSTEM_BLAS="$(readlink -f "$(ldconfig -p | awk '/libblas.so.3 .*x86-64/ {print $NF; exit}')" 2>/dev/null || echo unknown)"

echo "Fashion-MNIST MLP 784-512-256-10, batch 64, Adam lr 1e-3, $EPOCHS epochs per run (first excluded)"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset}"
for T in $THREADS; do
  echo "threads $T: kiln ..." >&2
  "$KILN" train "$MODEL" --data "fashion-mnist:$DATA" --preprocess scale --epochs "$EPOCHS" --threads "$T" \
    --quiet --report-json "$OUT/kiln_$T.json" >/dev/null
  if [ -n "$OPENBLAS_DIR" ]; then
    echo "threads $T: torch (OpenBLAS) ..." >&2
    LD_LIBRARY_PATH="$OPENBLAS_DIR${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" OMP_NUM_THREADS="$T" \
      "$PYTHON" bench/torch_mlp.py --data "$DATA" --threads "$T" --epochs "$EPOCHS" >"$OUT/torch_openblas_$T.json"
  fi
  if [ "$GENERIC_BLAS" = 1 ]; then
    echo "threads $T: torch (system BLAS) ..." >&2
    OMP_NUM_THREADS="$T" "$PYTHON" bench/torch_mlp.py --data "$DATA" --threads "$T" --epochs "$EPOCHS" \
      >"$OUT/torch_system_$T.json"
  fi
done

"$PYTHON" - "$OUT" "$THREADS" "$SYSTEM_BLAS" <<'EOF'
import json, os, statistics, sys
out, threads, system_blas = sys.argv[1], sys.argv[2].split(), sys.argv[3]

def epoch_time(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None, None
    with open(path) as f:
        r = json.load(f)
    secs = [e["seconds"] for e in r["epochs"]]
    return statistics.median(secs[1:] if len(secs) > 1 else secs), r["epochs"][-1].get("accuracy")

cols = [("torch_openblas", "torch+OpenBLAS"), ("torch_system", "torch (system BLAS)")]
header = f"{'threads':>7} | {'Kiln s/epoch':>12} |"
present = [(k, label) for k, label in cols if any(os.path.exists(os.path.join(out, f"{k}_{t}.json")) for t in threads)]
for _, label in present:
    header += f" {label + ' s/epoch':>28} | {'ratio':>6} |"
print(header)
print("-" * len(header))
for t in threads:
    kiln, kacc = epoch_time(f"kiln_{t}.json")
    row = f"{t:>7} | {kiln:>12.2f} |"
    for k, _ in present:
        torch, _ = epoch_time(f"{k}_{t}.json")
        row += f" {torch:>28.2f} | {kiln / torch:>6.2f} |" if torch else f" {'-':>28} | {'-':>6} |"
    print(row)
print(f"ratio = Kiln / PyTorch epoch time (goal <= 0.5); median of epochs 2..N; system BLAS: {system_blas}")
EOF
