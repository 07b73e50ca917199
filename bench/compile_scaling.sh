#!/usr/bin/env bash
# Compile time and peak memory against graph size: `kiln dump` (import, every
# inference pass with the verifier after each, lowering) and `kiln run` (the same
# plus the LLVM fused kernels) on generated graphs of 10k to 1M nodes.
# Goal (docs/reliability.md): 100k nodes under 5 s, 1M under 60 s, memory linear.
#
#   bench/compile_scaling.sh [SIZES...]     # default: 10000 100000 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh kiln >/dev/null
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 100000 1000000)
py=/usr/bin/python3  # Debian's python3-onnx (scripts/setup.sh)
work="$(mktemp -d /tmp/kiln_scaling.XXXXXX)"
trap 'rm -rf "$work"' EXIT

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
printf '| %-7s | %9s | %14s | %14s | %14s |\n' pattern nodes "dump s" "dump peak MiB" "run s (JIT)"
printf '|---------|-----------|----------------|----------------|----------------|\n'
for n in "${sizes[@]}"; do
  for pattern in relu mixed fanout; do
    model="$work/${pattern}_$n.onnx"
    $py bench/make_chain.py "$pattern" "$n" "$model"
    case $pattern in relu) shape="1,16" ;; mixed) shape="4,8" ;; fanout) shape="2,8" ;; esac
    $py -c "import numpy as np; np.save('$work/x.npy', np.ones(($shape), np.float32))"
    /usr/bin/time -f '%e %M' -o "$work/t" ./build/kiln dump "$model" -o "$work/dump.txt"
    read -r dump_s dump_kb <"$work/t"
    /usr/bin/time -f '%e %M' -o "$work/t" ./build/kiln run "$model" --input "$work/x.npy" >/dev/null
    read -r run_s _ <"$work/t"
    printf '| %-7s | %9d | %14s | %14d | %14s |\n' "$pattern" "$n" "$dump_s" $((dump_kb / 1024)) "$run_s"
    rm -f "$model"
  done
done
