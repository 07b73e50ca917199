#!/usr/bin/env bash
# Builds .cudabundle/kiln_cuda_bundle.tar.gz: what scripts/check_cuda.sh needs on a
# GPU machine that has a CUDA driver but not this build environment. The check
# binary is compiled here directly (not through CMake) from the few sources it
# needs, with protobuf, libstdc++ and libgcc linked statically, so it depends only
# on libc/libm/libgcc_s (glibc >= 2.34); CUDA (libcuda, libnvrtc) is opened with dlopen there.
#   scripts/make_cuda_bundle.sh [out.tar.gz]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-$root/.cudabundle/kiln_cuda_bundle.tar.gz}
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

mkdir -p "$(dirname "$out")"
tar -C "$work" -czf "$out.tmp" kiln_cuda_bundle
mv "$out.tmp" "$out"
echo "make_cuda_bundle: wrote $out ($(du -h "$out" | cut -f1))"
