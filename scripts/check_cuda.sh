#!/usr/bin/env bash
# The CUDA backend's GPU check, run on the GPU machine (see docs/cuda.md):
#   bash scripts/check_cuda.sh [.cudabundle/kiln_cuda_bundle.tar.xz]
# or, from an unpacked bundle, bash kiln_cuda_bundle/check_cuda.sh. Unpacks the
# bundle (scripts/make_cuda_bundle.sh) into a temp dir, runs the real-execution
# checks (every generated kernel case on the GPU vs the reference arithmetic, CUDA
# graph replay), then Kiln itself: the PyTorch-exported models against PyTorch's
# outputs (each product/convolution path), training the Fashion-MNIST MLP on the GPU
# against the CPU's accuracy, the ONNX backend suite on --device cuda, and the model
# benchmark against PyTorch eager, torch.compile and jax.jit; then the kernel
# benchmarks and NVRTC->PTX->ptxas. Prints PASS/FAIL lines and the tables; exit 0
# only when every check passed. Under 9 minutes (KILN_CHECK_BUDGET_S, default 510 s:
# steps past it are skipped); safe to re-run (temp dirs only, removed at exit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kiln_cuda_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  tar -xf "$1" -C "$work"
  bundle=$work/kiln_cuda_bundle
elif [ -x "$here/kiln_cuda_check" ]; then
  bundle=$here
elif [ -f "$here/../.cudabundle/kiln_cuda_bundle.tar.xz" ]; then
  tar -xf "$here/../.cudabundle/kiln_cuda_bundle.tar.xz" -C "$work"
  bundle=$work/kiln_cuda_bundle
else
  echo "check_cuda: FAIL: no bundle (give the .tar.xz made by scripts/make_cuda_bundle.sh)"
  exit 1
fi
bin=$bundle/kiln_cuda_check
py=$(command -v python3 || true)

echo "== versions"
echo "bundle commit: $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)"
uname -srm
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: unavailable"
command -v nvcc > /dev/null && nvcc --version | tail -2 || echo "nvcc: not on PATH"
[ -n "$py" ] && "$py" --version || echo "python3: not found"

# NVRTC, cuBLASLt and cuDNN: the toolkit's, else the pip wheels' (nvidia-cuda-nvrtc, nvidia-cublas,
# nvidia-cudnn)
# under python3's site-packages. Prints the path, or nothing.
find_cuda_library() {  # NAME WHEEL_SUBDIRS...
  local name=$1 f
  shift
  for f in /usr/local/cuda/lib64/$name.so.13 /usr/local/cuda/lib64/$name.so.12 /usr/local/cuda/lib64/$name.so; do
    if [ -e "$f" ]; then echo "$f"; return; fi
  done
  [ -n "$py" ] || return 0
  "$py" - "$name" "$@" <<'PY' || true
import glob, os, site, sys
name, subs = sys.argv[1], sys.argv[2:]
dirs = list(site.getsitepackages()) + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("-packages")]
for d in dirs:
    for sub in subs:
        for f in sorted(glob.glob(os.path.join(d, sub, name + ".so*")), reverse=True):
            if "builtins" not in f and ".alt." not in f:
                print(f)
                sys.exit(0)
PY
}
[ -n "${KILN_NVRTC_LIBRARY:-}" ] || KILN_NVRTC_LIBRARY=$(find_cuda_library libnvrtc nvidia/cu13/lib nvidia/cuda_nvrtc/lib)
[ -n "${KILN_CUBLASLT_LIBRARY:-}" ] || KILN_CUBLASLT_LIBRARY=$(find_cuda_library libcublasLt nvidia/cu13/lib nvidia/cublas/lib)
[ -n "${KILN_CUDNN_LIBRARY:-}" ] || KILN_CUDNN_LIBRARY=$(find_cuda_library libcudnn nvidia/cudnn/lib nvidia/cu13/lib)
libdirs=
for lib in "$KILN_NVRTC_LIBRARY" "$KILN_CUBLASLT_LIBRARY" "$KILN_CUDNN_LIBRARY"; do
  [ -n "$lib" ] && libdirs=${libdirs:+$libdirs:}$(dirname "$lib")
done
if [ -n "${KILN_NVRTC_LIBRARY:-}" ]; then
  export KILN_NVRTC_LIBRARY
  echo "nvrtc: $KILN_NVRTC_LIBRARY"
else
  echo "nvrtc: not found by this script; kiln_cuda_check searches its default places"
fi
if [ -n "${KILN_CUBLASLT_LIBRARY:-}" ]; then
  export KILN_CUBLASLT_LIBRARY
  echo "cublaslt: $KILN_CUBLASLT_LIBRARY"
else
  echo "cublaslt: not found by this script; kiln_cuda_check searches its default places"
fi
if [ -n "${KILN_CUDNN_LIBRARY:-}" ]; then
  export KILN_CUDNN_LIBRARY
  echo "cudnn: $KILN_CUDNN_LIBRARY"
else
  echo "cudnn: not found by this script; kiln searches its default places"
fi
# For NVRTC's own libnvrtc-builtins (and cuBLASLt's neighbours); only for Kiln's binary
# (torch keeps its own libraries).
[ -n "$libdirs" ] && kenv=(env "LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
[ -n "${kenv+x}" ] || kenv=(env)
ptxas=$(command -v ptxas || true)
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
export KILN_CUDA_CACHE_DIR=$work/cache  # a fresh kernel cache each run

failed=0
budget=${KILN_CHECK_BUDGET_S:-510}  # the whole check stays under 9 minutes: later steps are skipped
step() {  # step NAME TIMEOUT COMMAND...: runs it, prints its output and PASS/FAIL NAME
  local name=$1 limit=$2
  shift 2
  echo "== $name"
  local left=$((budget - SECONDS))
  if [ $left -lt 20 ]; then
    echo "SKIP $name: the check's ${budget} s budget is spent (counted as a failure)" | tee "$work/$name.log"
    failed=1
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$SECONDS rc=0
  timeout "$limit" "$@" > "$work/$name.log" 2>&1 || rc=$?
  cat "$work/$name.log"
  if [ $rc -eq 0 ]; then
    echo "PASS $name ($((SECONDS - start)) s)"
  else
    echo "FAIL $name (exit $rc$([ $rc -eq 124 ] && echo ', timed out'), $((SECONDS - start)) s)"
    failed=1
  fi
}

# Most important first: the generated kernels on the GPU, then Kiln itself (the bundle's part 2).
step gpu 90 "${kenv[@]}" "$bin" --gpu
if [ -x "$bundle/kiln" ]; then
  kiln=$bundle/kiln
  export LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}  # the wrappers pass it on
  data=$bundle/data
  # The PyTorch-exported MLP, LeNet-5 and ResNet-8 against PyTorch's outputs, at batch 1 and 64,
  # with the products/convolutions as measured, cuBLASLt/cuDNN forced, generated forced, no graphs.
  if [ -n "$py" ] && "$py" -c 'import numpy' 2> /dev/null; then
    step models 150 "$py" "$bundle/cuda_check_models.py" --kiln "$kiln" --models "$data/models"
  else
    echo "FAIL models: no python3 with numpy"
    failed=1
  fi
  # Training the Fashion-MNIST MLP on the GPU (6,400 samples, 3 epochs, Adam, batch 64): the
  # validation accuracy (1,000 test images) must be the CPU's (recorded when the bundle was made)
  # within 2.5 points (the GPU sums in another order: not the same weights, the same learning).
  train_args=("$bundle/models/fmnist_mlp_512.kiln.txt" --device cuda
              --data "npy:$data/fmnist_train_x.npy,$data/fmnist_train_y.npy"
              --validation-data "npy:$data/fmnist_test_x.npy,$data/fmnist_test_y.npy" --preprocess scale
              --epochs 3 --batch 64 --seed 0 --quiet --report-json "$work/train.json")
  step train 120 "$kiln" train "${train_args[@]}"
  if [ -f "$work/train.json" ] && [ -n "$py" ]; then
    step train-accuracy 10 "$py" -c '
import json, sys
r = json.load(open(sys.argv[1])); cpu = float(open(sys.argv[2]).read())
gpu = r["epochs"][-1]["val_accuracy"]
per = sum(e["seconds"] for e in r["epochs"][1:]) / max(1, len(r["epochs"]) - 1)
print("TRAIN kiln-cuda val_accuracy %.4f (cpu %.4f), %.3f s/epoch after the first, %d steps/epoch"
      % (gpu, cpu, per, r["steps_per_epoch"]))
sys.exit(0 if abs(gpu - cpu) <= 0.025 else 1)' "$work/train.json" "$data/fmnist_cpu_val_accuracy"
  fi
  if [ -n "$py" ] && "$py" -c 'import torch' 2> /dev/null; then
    step train-torch 120 "$py" "$bundle/peer_train.py" --runner torch --device cuda --model mlp \
      --x "$data/fmnist_train_x.npy" --y "$data/fmnist_train_y.npy" --epochs 3
  fi
  # The ONNX backend suite on the GPU (what the backend cannot lower runs on the host).
  # It must pass what the bundled binaries passed on the CPU when the bundle was made.
  step conformance 150 "$bundle/kiln_conformance" "$data/onnx-backend" --min-pass "$(cat "$data/onnx_backend_cpu_passed")" \
    --device cuda --cpu-fallback
  # MLP / LeNet-5 at batch 1, MLP and ResNet-50 at batch 64: Kiln vs torch eager, torch.compile, jax.jit.
  if [ -n "$py" ]; then
    "$py" "$bundle/cuda_bench_models.py" write-models "$work/models"
    step bench-models 200 "$py" "$bundle/cuda_bench_models.py" bench --kiln "$kiln" --models "$work/models" \
      --reps 50 --budget-s 8
  fi
fi
step gpu-cached 30 "${kenv[@]}" "$bin" --gpu  # the same kernels again, from the disk cache
step bench-kiln 40 "${kenv[@]}" "$bin" --bench 1048576,67108864 --reps 20
if [ -n "$py" ] && grep -q '^BENCH' "$work/bench-kiln.log"; then
  step bench-torch 110 "$py" "$bundle/cuda_bench_torch.py" "$work/bench-kiln.log" --reps 20 --compile-budget-s 70
else
  echo "FAIL bench-torch: no python3 or no Kiln results"
  failed=1
fi
# The generated kernel kinds (softmax, reductions, pooling, transposes, ...) at network sizes.
step bench-kinds 60 "${kenv[@]}" "$bin" --bench-kinds --reps 20
if [ -n "$ptxas" ]; then
  step ptx 100 "${kenv[@]}" KILN_PTXAS="$ptxas" "$bin" --ptx
else
  echo "== ptx"
  echo "SKIP ptx: no ptxas on this machine"
fi

echo "== summary"
# The steps' verdicts (not the conformance runner's per-case lines) and the tables.
grep -h -E '^((PASS|FAIL|SKIP) [a-z-]+( \(|:)|TRAIN|MODELS|\|)' "$work"/*.log | sed 's/^/  /' || true
if [ $failed -eq 0 ]; then echo "PASS check_cuda"; else echo "FAIL check_cuda"; fi
exit $failed
