#!/usr/bin/env bash
# Kiln against its peers (ONNX Runtime, PyTorch eager and torch.compile, jax.jit, OpenVINO),
# side by side in one run: inference latency, large matrix products against the
# measured FP32 peak, training epochs, compile times, memory. Prints one table and
# the issue's goals; writes bench/results/latest.{md,json}. See bench/README.md.
#
#   bench/run.sh [--quick] [--threads N] [--peers ort,torch,torch_compile,jax,openvino]
#                [--only inference,matmul,training,threading] [--models lstm,gru,...] [--no-install]
#
# --quick: a smoke run of a few minutes (short time budgets, no ResNet-50 at
# batch 64, training on a subset). The peers live in bench/.venv (created here,
# ignored by git); the models are generated once into bench/.models/.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=""
THREADS=2
PEERS="ort,torch,torch_compile,jax,openvino"
ONLY="inference,matmul,training,threading"
MODELS_ONLY=""
INSTALL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=--quick; shift ;;
    --threads) THREADS="$2"; shift 2 ;;
    --peers) PEERS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --models) MODELS_ONLY="$2"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed -e 's/^#//' -e 's/^ //'; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
BUILD_DIR="${BUILD_DIR:-build}"
VENV="${BENCH_VENV:-bench/.venv}"  # the peers' virtualenv
MODELS=bench/.models
BASE_PYTHON="${PYTHON:-python3}"
NOTES=()

# 1. Kiln (incremental build).
log "building kiln ($BUILD_DIR) ..."
if [ -f "$BUILD_DIR/build.ninja" ]; then
  ninja -C "$BUILD_DIR" -j "${KILN_JOBS:-2}" kiln >/dev/null
else
  BUILD_DIR="$BUILD_DIR" scripts/build.sh kiln >/dev/null
fi
KILN="$(pwd)/$BUILD_DIR/kiln"

# 2. The FMA peak microbenchmark.
mkdir -p "$MODELS"
PEAK="$MODELS/peak_flops"
if [ ! -x "$PEAK" ] || [ bench/peak_flops.cc -nt "$PEAK" ]; then
  log "compiling bench/peak_flops.cc ..."
  g++ -O3 -march=native -fopenmp bench/peak_flops.cc -o "$PEAK" || { NOTES+=("peak_flops.cc did not compile"); PEAK=""; }
fi

# 3. The peers, in a virtualenv (never a dependency of Kiln or its tests). CPU-only
# torch wheels when download.pytorch.org answers, PyPI's otherwise. Each package is
# installed on its own so that one failing leaves the others (its column says n/a).
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV ..."
  "$BASE_PYTHON" -m venv "$VENV" || { rm -rf "$VENV"; NOTES+=("could not create $VENV: every peer is n/a"); }
fi
PY="$VENV/bin/python"
pip_install() {  # pip_install IMPORT_NAME PACKAGE... (skipped when the module imports)
  local module="$1"; shift
  "$PY" -c "import $module" 2>/dev/null && return 0
  [ "$INSTALL" = 1 ] || return 1
  log "pip install $* ..."
  "$PY" -m pip install -q "$@" >&2
}
if [ -x "$PY" ]; then
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null && [ "$INSTALL" = 1 ]; then
    log "pip install torch torchvision (CPU wheels) ..."
    "$PY" -m pip install -q --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu \
      torch torchvision >/dev/null 2>&1 ||
      pip_install torchvision torch torchvision || NOTES+=("torch/torchvision did not install")
  fi
  pip_install numpy numpy || NOTES+=("numpy did not install")
  pip_install onnx onnx || NOTES+=("onnx did not install (no models can be exported)")
  pip_install onnxruntime onnxruntime || NOTES+=("onnxruntime did not install")
  pip_install jax "jax[cpu]" || NOTES+=("jax did not install")
  pip_install openvino openvino || NOTES+=("openvino did not install")
else
  PY="$BASE_PYTHON"
fi

# 4. The models and data (once; regenerated when their scripts change).
TRAIN_SAMPLES="60000"
[ -n "$QUICK" ] && TRAIN_SAMPLES="6400 1920"
log "generating models into $MODELS (once) ..."
"$PY" bench/make_models.py --out "$MODELS" --train-samples $TRAIN_SAMPLES ${MODELS_ONLY:+--models "$MODELS_ONLY"} >&2 ||
  NOTES+=("make_models.py failed: the models it did not write are n/a")

# 5. Measure and report.
ARGS=(--kiln "$KILN" --peak-flops "$PEAK" --python "$PY"
      --threads "$THREADS" --peers "$PEERS" --only "$ONLY")
[ -n "$QUICK" ] && ARGS+=("$QUICK")
[ -n "$MODELS_ONLY" ] && ARGS+=(--models "$MODELS_ONLY")
for n in "${NOTES[@]+"${NOTES[@]}"}"; do ARGS+=(--setup-note "$n"); done
exec "$PY" bench/bench.py "${ARGS[@]}"
