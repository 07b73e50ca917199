#!/usr/bin/env bash
# Builds and runs the whole test suite as on a machine without the CUDA toolkit: in a
# private mount namespace (root; `unshare -m`) an empty folder hides /usr/local/cuda, so
# CMake configures the CUDA parts off (no nvrtc.h) and nothing can open NVRTC, cuBLASLt or
# cuDNN. The build folder is its own (default build-nocuda) so build/ keeps its toolkit.
#   scripts/check_without_cuda.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-nocuda}
toolkit=$(readlink -f /usr/local/cuda 2>/dev/null || true)
if [ -z "$toolkit" ] || [ ! -d "$toolkit" ]; then
  echo "check_without_cuda: no CUDA toolkit here: the plain test command already checks this case"
  BUILD_DIR=$build_dir ./scripts/build.sh
  exec ctest --test-dir "$build_dir" -j2 --output-on-failure
fi
empty=$(mktemp -d /tmp/kiln_no_cuda.XXXXXX)
trap 'rmdir "$empty"' EXIT
unshare -m --propagation private bash -c "
  set -euo pipefail
  mount --bind '$empty' '$toolkit'
  [ -z \"\$(ls -A /usr/local/cuda/)\" ] || { echo 'check_without_cuda: the toolkit is still visible' >&2; exit 1; }
  # (Re)configure here: the toolkit check runs at configure time.
  if [ -f '$build_dir/CMakeCache.txt' ]; then cmake -S . -B '$build_dir' | grep 'CUDA toolkit'; fi
  BUILD_DIR='$build_dir' ./scripts/build.sh
  ctest --test-dir '$build_dir' -j2 --output-on-failure
"
