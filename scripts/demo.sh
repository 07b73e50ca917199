#!/usr/bin/env bash
# The quick start: builds Kiln (installing dependencies first when missing) and
# shows it on the example model: the graph summary, then a run on a sample input.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh kiln

model=examples/iris_mlp.kiln.txt
input=examples/iris_sample.npy

echo
echo "== kiln dump $model"
./build/kiln dump "$model"
echo
echo "== kiln run $model --input $input"
./build/kiln run "$model" --input "$input"
