#!/usr/bin/env bash
# Installs Kiln's build and test dependencies from Debian packages. Idempotent:
# packages already present are skipped, so a second run does nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  protobuf-compiler libprotobuf-dev
  llvm-19-dev libzstd-dev
  libdnnl-dev ocl-icd-opencl-dev  # dnnl-config.cmake calls find_package(OpenCL) (a Recommends, not a Depends)
  libonnx-dev
  googletest libgtest-dev libgmock-dev
  libpng-dev zlib1g-dev
  clang-14 libclang-rt-14-dev
  graphviz chromium  # chromium: the HTML dump test (headless)
  valgrind  # the C API tests under Memcheck
  dataset-fashion-mnist
  fortunes  # English quotations: the word2vec examples' text (/usr/share/games/fortunes)
  python3-numpy python3-torch python3-onnx
  python3-dev python3-venv  # the Python package (pip install .; scripts/test_python.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: all dependencies present"
fi

if [ -x /usr/local/cuda/bin/nvcc ] || [ -f /usr/local/cuda/include/nvrtc.h ]; then
  echo "setup: CUDA toolkit found under /usr/local/cuda"
else
  echo "setup: no CUDA toolkit under /usr/local/cuda (CUDA backend will be disabled)"
fi
