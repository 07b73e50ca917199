#!/usr/bin/env bash
# Builds every libFuzzer target (tests/fuzz/fuzz_<name>.cc) with clang-14 (libFuzzer +
# ASan) in build-fuzz and runs each for a short while over a scratch copy of its seed
# corpus (tests/fuzz/seeds/<name>/, plus generated seeds for the model loaders).
# Usage: scripts/fuzz_smoke.sh [SECONDS_PER_TARGET] [NAME...]
#   (default 30 s; default every target; env BUILD_DIR overrides build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
shift || true
build="${BUILD_DIR:-build-fuzz}"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" fuzz_all

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.cc; do
    n="$(basename "$src" .cc)"
    names+=("${n#fuzz_}")
  done
fi

# Extra seeds for the model loaders: a few conformance models (when the suite is
# beside the checkout), the example text models and tensors.
model_loader_seeds() {
  local corpus="$1" suite="" n=0
  for dir in ../shared/conformance/onnx-backend ../../shared/conformance/onnx-backend; do
    [ -d "$dir" ] && suite="$dir" && break
  done
  if [ -n "$suite" ]; then
    for c in pytorch-converted/test_Conv2d pytorch-converted/test_BatchNorm2d_eval pytorch-operator/test_operator_add_broadcast \
             pytorch-converted/test_GLU simple/test_expand_shape_model1 pytorch-operator/test_operator_chunk; do
      if [ -f "$suite/$c/model.onnx" ]; then
        cp "$suite/$c/model.onnx" "$corpus/model_$n.onnx"
        cp "$suite/$c/test_data_set_0/input_0.pb" "$corpus/input_$n.pb" 2>/dev/null || true
        n=$((n + 1))
      fi
    done
  fi
  cp examples/*.kiln.txt examples/*.npy "$corpus/" 2>/dev/null || true
}

mkdir -p "$build/fuzz-artifacts"
scratch="$(mktemp -d /tmp/kiln_fuzz_corpus.XXXXXX)"
trap 'rm -rf "$scratch"' EXIT
for name in "${names[@]}"; do
  corpus="$scratch/$name"
  mkdir -p "$corpus"
  if [ -d "tests/fuzz/seeds/$name" ]; then cp -r "tests/fuzz/seeds/$name/." "$corpus/"; fi
  if [ "$name" = model_loaders ]; then model_loader_seeds "$corpus"; fi
  echo "fuzz_smoke: fuzz_$name for ${seconds}s over $(ls "$corpus" | wc -l) seeds"
  "$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -max_len=65536 -artifact_prefix="$build/fuzz-artifacts/$name-" -print_final_stats=1 "$corpus"
done
