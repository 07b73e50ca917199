#!/usr/bin/env bash
# Builds .cudabundle/kiln_cuda_bundle.tar.xz: what scripts/check_cuda.sh needs on a
# GPU machine that has a CUDA driver but not this build environment. The check
# binary is compiled here directly (not through CMake) from the few sources it
# needs, with protobuf, libstdc++ and libgcc linked statically, so it depends only
# on libc/libm/libgcc_s (glibc >= 2.34); CUDA (libcuda, libnvrtc) is opened with dlopen there.
#   scripts/make_cuda_bundle.sh [out.tar.xz]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/.cudabundle/kiln_cuda_bundle.tar.xz}
cxx=${CXX:-c++}
work=$(mktemp -d /tmp/kiln_cuda_bundle.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "make_cuda_bundle: $($cxx --version | head -1); $(protoc --version)"

mkdir -p "$work/gen" "$work/obj" "$work/kiln_cuda_bundle"
protoc --proto_path="$root" --cpp_out="$work/gen" "$root/ir/kiln.proto"
srcs=(tools/kiln_cuda_check/main.cc tools/kiln_cuda_check/kinds.cc compiler/backends/cuda/cuda_codegen.cc
      compiler/backends/cuda/cuda_kinds.cc compiler/backends/cuda/cuda_reduce_kinds.cc
      compiler/backends/cuda/cuda_pool_kinds.cc compiler/backends/cuda/cuda_gemm_kinds.cc compiler/backends/cuda/nvrtc.cc
      compiler/backends/cuda/cuda_train_kinds.cc
      runtime/kernels/cuda/cuda_driver.cc runtime/kernels/cuda/cublaslt.cc
      ir/core/fused_program.cc ir/core/dtype.cc ir/core/file_io.cc ir/core/attrs.cc "$work/gen/ir/kiln.pb.cc")
pids=()
objs=()
for src in "${srcs[@]}"; do
  obj="$work/obj/$(echo "$src" | tr '/' '_').o"
  objs+=("$obj")
  # No reference kernels (the runtime library) in the bundle: the kinds' cases travel as a file.
  "$cxx" -std=c++17 -O2 -fPIC -w -DKILN_CUDA_CHECK_NO_REFERENCE -I"$root" -I"$work/gen" -c "$src" -o "$obj" &
  pids+=($!)
  if [ ${#pids[@]} -ge 2 ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
# The static libstdc++ (random.o, reached from protobuf) calls arc4random, new in glibc 2.36;
# this definition keeps the binary at glibc 2.34 (Ubuntu 22.04 and later). libgcc_s stays
# shared: the static unwinder would need glibc 2.35's _dl_find_object.
cat > "$work/compat.c" <<'C'
#include <stdint.h>
#include <sys/random.h>
uint32_t arc4random(void) {
  uint32_t v = 0;
  while (getrandom(&v, sizeof v, 0) != (long)sizeof v) {}
  return v;
}
C
cc -O2 -fPIC -c "$work/compat.c" -o "$work/obj/compat.o"
bin="$work/kiln_cuda_bundle/kiln_cuda_check"
"$cxx" -o "$bin" "${objs[@]}" "$work/obj/compat.o" -Wl,-Bstatic -lprotobuf -Wl,-Bdynamic -static-libstdc++ -ldl \
  -lpthread
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
echo "make_cuda_bundle: needs $glibc at most"
if [ "$glibc" != GLIBC_2.34 ] && [ "$(printf '%s\n' "$glibc" GLIBC_2.34 | sort -V | tail -1)" != GLIBC_2.34 ]; then
  echo "make_cuda_bundle: FAIL: the binary needs $glibc (> 2.34)" >&2
  exit 1
fi
strip "$bin"

# Only system libraries: libc, libm, libdl, libpthread (and the loader).
bad=$(ldd "$bin" | grep -v -E 'linux-vdso|ld-linux|libc\.so|libm\.so|libdl\.so|libpthread\.so|libgcc_s|libstdc\+\+' || true)
if [ -n "$bad" ]; then
  echo "make_cuda_bundle: FAIL: unexpected dependencies:" >&2
  echo "$bad" >&2
  exit 1
fi
cp scripts/cuda_bench_torch.py scripts/check_cuda.sh "$work/kiln_cuda_bundle/"
# The kernel kinds' cases with the reference kernels' outputs, written by the CMake-built
# binary (which links the reference kernels) for the bundle's binary to compare with.
"$root/scripts/build.sh" kiln_cuda_check > "$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
"$root/build/kiln_cuda_check" --write-kinds "$work/kiln_cuda_bundle/kiln_cuda_kinds.bin"
git -C "$root" rev-parse HEAD > "$work/kiln_cuda_bundle/COMMIT" 2>/dev/null || echo unknown > "$work/kiln_cuda_bundle/COMMIT"

# Smoke test here: it starts, and without a GPU says so cleanly.
set +e
"$bin" --gpu > "$work/gpu.log" 2>&1
rc=$?
set -e
if [ $rc -ne 77 ] && [ $rc -ne 0 ]; then
  echo "make_cuda_bundle: FAIL: kiln_cuda_check --gpu exited $rc:" >&2
  cat "$work/gpu.log" >&2
  exit 1
fi
echo "make_cuda_bundle: kiln_cuda_check --gpu here: $(head -1 "$work/gpu.log")"
# The bundle's binary reads the kinds file beside it and emulates them like the CMake-built one.
"$bin" --emulate > "$work/emulate.log" 2>&1 || { cat "$work/emulate.log" >&2; echo "make_cuda_bundle: FAIL: --emulate" >&2; exit 1; }
echo "make_cuda_bundle: $(grep 'kinds emulation' "$work/emulate.log")"

# ---- Part 2: Kiln itself on the GPU (check_cuda.sh's models, conformance, training and
# model benchmark steps). kiln and kiln_conformance travel with every shared library they
# load, the dynamic loader and libc included, so they start on any x86-64 Linux whatever its
# glibc: bin/ holds the binaries, lib/ the libraries, and the wrappers `kiln` and
# `kiln_conformance` start them through lib/ld-linux-x86-64.so.2 --library-path lib.
# They are relinked from the build's objects with the LLVM components Kiln uses linked
# statically (llvm-dev's archives, --as-needed): the shared libLLVM would bring 129 MB and
# the libraries it needs for features Kiln never calls (z3, ICU, libxml2, libedit, libffi).
b=$work/kiln_cuda_bundle
"$root/scripts/build.sh" kiln kiln_conformance > "$work/build2.log" 2>&1 || { cat "$work/build2.log" >&2; exit 1; }
mkdir -p "$b/bin" "$b/lib" "$b/data" "$b/models"
llvm_config=${LLVM_CONFIG:-llvm-config-19}
llvm_static="-L$($llvm_config --libdir) -Wl,--as-needed $($llvm_config --link-static --libs core orcjit native passes)"
llvm_static+=" $($llvm_config --link-static --system-libs)"
for exe in kiln kiln_conformance; do
  # The build's own link command (ninja), with the shared libLLVM swapped for the archives.
  link=$(ninja -C "$root/build" -t commands "$exe" | tail -1)
  case "$link" in
    *"-o $exe "*libLLVM.so*) ;;
    *) echo "make_cuda_bundle: FAIL: no libLLVM link command for $exe in build/build.ninja" >&2; exit 1 ;;
  esac
  link=$(echo "$link" | sed -e "s| -o $exe | -o $work/$exe |" -e 's|-Wl,-rpath,[^ ]*||' \
    -e "s|[^ ]*/libLLVM\.so[.0-9]*|$llvm_static|")
  (cd "$root/build" && bash -c "$link") > "$work/link_$exe.log" 2>&1 || { cat "$work/link_$exe.log" >&2; exit 1; }
  if ldd "$work/$exe" | grep -q -E 'libLLVM|libz3|libicu|libxml2'; then
    echo "make_cuda_bundle: FAIL: $exe still loads $(ldd "$work/$exe" | grep -o -E 'lib(LLVM|z3|icu|xml2)[^ ]*' | head -1)" >&2
    exit 1
  fi
  strip -o "$b/bin/$exe" "$work/$exe"
  # ldd: "libx.so => /path (0x...)" lines, and the loader as "/lib64/ld-linux-x86-64.so.2 (0x...)".
  ldd "$work/$exe" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'
  cat > "$b/$exe" <<WRAP
#!/bin/sh
# The bundled $exe with the bundle's own loader and libraries (scripts/make_cuda_bundle.sh).
here=\$(cd "\$(dirname "\$0")" && pwd)
KILN_NO_REEXEC=1 exec "\$here/lib/ld-linux-x86-64.so.2" --library-path "\$here/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" "\$here/bin/$exe" "\$@"
WRAP
  chmod +x "$b/$exe"
done | sort -u | while read -r lib; do cp -L "$lib" "$b/lib/$(basename "$lib")"; done
[ -f "$b/lib/ld-linux-x86-64.so.2" ] || { echo "make_cuda_bundle: FAIL: no dynamic loader copied" >&2; exit 1; }
# The PyTorch-exported models with their inputs and PyTorch's outputs, the ONNX backend suite,
# the training model, a Fashion-MNIST subset (uint8 .npy) and the check scripts.
for m in mlp lenet5 resnet; do cp -r "$root/tests/data/models/$m" "$b/data/models_$m"; done
mkdir -p "$b/data/models" && for m in mlp lenet5 resnet; do mv "$b/data/models_$m" "$b/data/models/$m"; done
suite=$root/../shared/conformance/onnx-backend
[ -d "$suite" ] || { echo "make_cuda_bundle: FAIL: no $suite (../shared beside the clone)" >&2; exit 1; }
cp -r "$suite" "$b/data/onnx-backend"
cp "$root/bench/models/fmnist_mlp_512.kiln.txt" "$b/models/"
cp scripts/cuda_check_models.py scripts/cuda_bench_models.py bench/peer_train.py bench/torch_models.py \
  bench/jax_models.py "$b/"
fmnist=${KILN_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
python3 - "$fmnist" "$b/data" <<'PY'
import gzip, os, sys
src, dst = sys.argv[1], sys.argv[2]
def save(path, raw, shape):  # .npy 1.0 of uint8, written without numpy
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': %s, }" % (tuple(shape),)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + raw)
for split, n in (("train", 6400), ("t10k", 1000)):
    images = gzip.open(os.path.join(src, split + "-images-idx3-ubyte.gz")).read()[16:16 + n * 784]
    labels = gzip.open(os.path.join(src, split + "-labels-idx1-ubyte.gz")).read()[8:8 + n]
    name = "train" if split == "train" else "test"
    save(os.path.join(dst, "fmnist_%s_x.npy" % name), images, (n, 1, 28, 28))
    save(os.path.join(dst, "fmnist_%s_y.npy" % name), labels, (n,))
PY
# The CPU's accuracy on that subset, for the GPU run to match (check_cuda.sh "train").
train_args=("$b/models/fmnist_mlp_512.kiln.txt" --data "npy:$b/data/fmnist_train_x.npy,$b/data/fmnist_train_y.npy"
            --validation-data "npy:$b/data/fmnist_test_x.npy,$b/data/fmnist_test_y.npy" --preprocess scale
            --epochs 3 --batch 64 --seed 0 --quiet)
"$b/kiln" train "${train_args[@]}" --report-json "$work/train_cpu.json" > "$work/train_cpu.log" 2>&1 ||
  { cat "$work/train_cpu.log" >&2; echo "make_cuda_bundle: FAIL: training on the CPU" >&2; exit 1; }
python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["epochs"][-1]["val_accuracy"])' \
  "$work/train_cpu.json" > "$b/data/fmnist_cpu_val_accuracy"
echo "make_cuda_bundle: CPU validation accuracy after 3 epochs: $(cat "$b/data/fmnist_cpu_val_accuracy")"
# Smoke test of part 2 in a clean environment: the wrappers start, the CPU runs a model, and
# --device cuda without a driver is the one-line error.
env -i PATH=/usr/bin:/bin "$b/kiln" --version > "$work/version.log" 2>&1 ||
  { cat "$work/version.log" >&2; echo "make_cuda_bundle: FAIL: the bundled kiln does not start" >&2; exit 1; }
# The backend suite on the CPU: its pass count is what the GPU run must reach (check_cuda.sh).
env -i PATH=/usr/bin:/bin "$b/kiln_conformance" "$b/data/onnx-backend" > "$work/conf.log" 2>&1 ||
  { tail -5 "$work/conf.log" >&2; echo "make_cuda_bundle: FAIL: the bundled kiln_conformance" >&2; exit 1; }
sed -n 's/^.*onnx-backend: \([0-9][0-9]*\) passed.*$/\1/p' "$work/conf.log" > "$b/data/onnx_backend_cpu_passed"
[ -s "$b/data/onnx_backend_cpu_passed" ] || { tail -3 "$work/conf.log" >&2; echo "make_cuda_bundle: FAIL: no pass count" >&2; exit 1; }
echo "make_cuda_bundle: ONNX backend suite on the CPU (bundled binaries): $(tail -1 "$work/conf.log")"
set +e
env -i PATH=/usr/bin:/bin "$b/kiln" run "$b/data/models/mlp/model.onnx" --input "$b/data/models/mlp/input_b1.npy" \
  --device cuda > "$work/nodev.log" 2>&1
rc=$?
set -e
if [ $rc -ne 0 ] && [ "$(wc -l < "$work/nodev.log")" != 1 ]; then
  cat "$work/nodev.log" >&2
  echo "make_cuda_bundle: FAIL: kiln --device cuda without a GPU is not one line" >&2
  exit 1
fi
echo "make_cuda_bundle: bundled $(head -1 "$work/version.log"); --device cuda here: $(head -1 "$work/nodev.log")"

mkdir -p "$(dirname "$out")"
# -9: a 64 MiB window, so kiln_conformance (the same objects as kiln) costs little more.
XZ_OPT=${XZ_OPT:--9 -T0} tar -C "$work" -cJf "$out.tmp" --sort=name kiln_cuda_bundle
mv "$out.tmp" "$out"
echo "make_cuda_bundle: wrote $out ($(du -h "$out" | cut -f1))"
