#!/usr/bin/env bash
# Runs scripts/check_examples.sh (every training example, each needing its promised
# accuracy plus a margin) once per x86-64 instruction set: oneDNN limited by
# ONEDNN_MAX_CPU_ISA and Kiln's LLVM kernels generated for the matching CPU level
# (KILN_CPU). Float results differ by ISA, so each example must hold on all of them.
# An ISA this CPU lacks is reported as not run (it cannot be emulated).
#
#   scripts/check_isa.sh [--quick] [ISA...]   # default ISAs: SSE41 AVX2 AVX512_CORE
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh kiln >/dev/null

quick=()
if [ "${1:-}" = "--quick" ]; then quick=(--quick); shift; fi
isas=("$@")
[ ${#isas[@]} -gt 0 ] || isas=(SSE41 AVX2 AVX512_CORE)

# oneDNN ISA -> the LLVM CPU level with the same vector extensions, and the
# /proc/cpuinfo flag the CPU needs for it.
llvm_cpu() { case $1 in SSE41) echo x86-64-v2 ;; AVX2) echo x86-64-v3 ;; AVX512_CORE) echo x86-64-v4 ;; *) return 1 ;; esac; }
cpu_flag() { case $1 in SSE41) echo sse4_1 ;; AVX2) echo avx2 ;; AVX512_CORE) echo avx512bw ;; esac; }

echo "check_isa: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
failed=()
not_run=()
for isa in "${isas[@]}"; do
  cpu=$(llvm_cpu "$isa") || { echo "check_isa: unknown ISA '$isa' (SSE41, AVX2, AVX512_CORE)" >&2; exit 2; }
  if ! grep -qw "$(cpu_flag "$isa")" /proc/cpuinfo; then
    echo "== $isa: NOT RUN (this CPU lacks $(cpu_flag "$isa"))"
    not_run+=("$isa")
    continue
  fi
  # What oneDNN reports it dispatches to under this limit (proof the limit took).
  seen=$(ONEDNN_MAX_CPU_ISA=$isa ONEDNN_VERBOSE=1 ./build/kiln run examples/iris_mlp.kiln.txt \
           --input examples/iris_sample.npy 2>/dev/null | sed -n 's/.*,isa://p' | head -1)
  echo "== $isa: oneDNN isa '$seen', LLVM kernels for $cpu"
  if ! ONEDNN_MAX_CPU_ISA=$isa KILN_CPU=$cpu ./scripts/check_examples.sh "${quick[@]}"; then
    failed+=("$isa")
  fi
done
echo "check_isa: ${#isas[@]} ISAs, failed: ${failed[*]:-none}, not run here: ${not_run[*]:-none}"
[ ${#failed[@]} -eq 0 ]
