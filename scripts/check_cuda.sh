#!/usr/bin/env bash
# The CUDA backend's GPU check, run on the GPU machine (see docs/cuda.md):
#   bash scripts/check_cuda.sh [.cudabundle/kiln_cuda_bundle.tar.gz]
# or, from an unpacked bundle, bash kiln_cuda_bundle/check_cuda.sh. Unpacks the
# bundle (scripts/make_cuda_bundle.sh) into a temp dir, runs the real-execution
# checks (every case on the GPU vs the reference arithmetic, CUDA graph replay,
# NVRTC->PTX->ptxas), then benchmarks Kiln's kernels vs PyTorch eager and
# torch.compile. Prints PASS/FAIL lines; exit 0 only when every check passed.
# Under 8 minutes; safe to re-run (temp dirs only, removed at exit).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/kiln_cuda_check.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  tar -xzf "$1" -C "$work"
  bundle=$work/kiln_cuda_bundle
elif [ -x "$here/kiln_cuda_check" ]; then
  bundle=$here
elif [ -f "$here/../.cudabundle/kiln_cuda_bundle.tar.gz" ]; then
  tar -xzf "$here/../.cudabundle/kiln_cuda_bundle.tar.gz" -C "$work"
  bundle=$work/kiln_cuda_bundle
else
  echo "check_cuda: FAIL: no bundle (give the .tar.gz made by scripts/make_cuda_bundle.sh)"
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

# NVRTC and cuBLASLt: the toolkit's, else the pip wheels' (nvidia-cuda-nvrtc, nvidia-cublas)
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
libdirs=
for lib in "$KILN_NVRTC_LIBRARY" "$KILN_CUBLASLT_LIBRARY"; do
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
# For NVRTC's own libnvrtc-builtins (and cuBLASLt's neighbours); only for Kiln's binary
# (torch keeps its own libraries).
[ -n "$libdirs" ] && kenv=(env "LD_LIBRARY_PATH=$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
[ -n "${kenv+x}" ] || kenv=(env)
ptxas=$(command -v ptxas || true)
[ -z "$ptxas" ] && [ -x /usr/local/cuda/bin/ptxas ] && ptxas=/usr/local/cuda/bin/ptxas
export KILN_CUDA_CACHE_DIR=$work/cache  # a fresh kernel cache each run

failed=0
step() {  # step NAME TIMEOUT COMMAND...: runs it, prints its output and PASS/FAIL NAME
  local name=$1 limit=$2
  shift 2
  echo "== $name"
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

step gpu 90 "${kenv[@]}" "$bin" --gpu
step gpu-cached 30 "${kenv[@]}" "$bin" --gpu  # the same kernels again, from the disk cache
if [ -n "$ptxas" ]; then
  step ptx 100 "${kenv[@]}" KILN_PTXAS="$ptxas" "$bin" --ptx
else
  echo "== ptx"
  echo "SKIP ptx: no ptxas on this machine"
fi
step bench-kiln 40 "${kenv[@]}" "$bin" --bench 1048576,67108864 --reps 20
if [ -n "$py" ] && grep -q '^BENCH' "$work/bench-kiln.log"; then
  step bench-torch 110 "$py" "$bundle/cuda_bench_torch.py" "$work/bench-kiln.log" --reps 20 --compile-budget-s 70
else
  echo "FAIL bench-torch: no python3 or no Kiln results"
  failed=1
fi
# The generated kernel kinds (softmax, reductions, pooling, transposes, ...) at network sizes.
step bench-kinds 60 "${kenv[@]}" "$bin" --bench-kinds --reps 20

echo "== summary"
grep -h -E '^(PASS|FAIL)' "$work"/*.log | sed 's/^/  /' || true
if [ $failed -eq 0 ]; then echo "PASS check_cuda"; else echo "FAIL check_cuda"; fi
exit $failed
