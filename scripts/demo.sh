#!/usr/bin/env bash
# The quick start: builds Kiln (installing dependencies first when missing), then
# trains the Fashion-MNIST MLP (examples/fashion_mnist_mlp.kiln.txt) on Debian's
# dataset-fashion-mnist, reports its test accuracy and a few predictions, and
# runs the trained model it wrote with `kiln run`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh kiln

model=examples/fashion_mnist_mlp.kiln.txt
trained=build/fashion_mnist_mlp.kiln

echo
echo "== kiln dump $model"
./build/kiln dump "$model" --batch 1 | tail -n 12
echo
echo "== kiln train $model -o $trained --predict 8"
./build/kiln train "$model" -o "$trained" --predict 8 | tee build/demo_train.log
if ! grep -q '^Test:.*accuracy 0\.8[7-9]\|^Test:.*accuracy 0\.9' build/demo_train.log; then
  echo "demo: the Fashion-MNIST MLP did not reach its 87% test accuracy" >&2
  exit 1
fi
echo
echo "== kiln run $trained --input examples/fashion_mnist_sample.npy   (the first test image: an ankle boot, class 9)"
./build/kiln run "$trained" --input examples/fashion_mnist_sample.npy
