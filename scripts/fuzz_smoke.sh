#!/usr/bin/env bash
# Builds the model-loader fuzzer with clang-14 (libFuzzer + ASan) in build-fuzz and
# runs it for a short while over a seed corpus of real models and tensors.
# Usage: scripts/fuzz_smoke.sh [SECONDS]   (default 30; env BUILD_DIR overrides build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
build="${BUILD_DIR:-build-fuzz}"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DKILN_FUZZ=ON -DKILN_BUILD_TESTS=OFF >/dev/null
ninja -C "$build" fuzz_model_loaders

# Seeds: a few conformance models (when the suite is beside the checkout), the
# example text model and tensors. The corpus grows in a scratch copy only.
corpus="$(mktemp -d /tmp/kiln_fuzz_corpus.XXXXXX)"
trap 'rm -rf "$corpus"' EXIT
suite=""
for dir in ../shared/conformance/onnx-backend ../../shared/conformance/onnx-backend; do
  [ -d "$dir" ] && suite="$dir" && break
done
if [ -n "$suite" ]; then
  n=0
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

mkdir -p "$build/fuzz-artifacts"
"$build/tests/fuzz/fuzz_model_loaders" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
  -max_len=65536 -artifact_prefix="$build/fuzz-artifacts/" -print_final_stats=1 "$corpus"
