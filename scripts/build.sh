#!/usr/bin/env bash
# Installs missing dependencies (scripts/setup.sh), configures build/ once
# (Release, Ninja, ccache when present) and builds. Re-running is cheap: setup
# skips installed packages, configure is skipped when build/ is already set up,
# and ninja rebuilds only what changed.
#
#   BUILD_DIR=build-asan CMAKE_ARGS=-DKILN_SANITIZE=ON scripts/build.sh [ninja targets...]
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${BUILD_DIR:-build}"
BUILD_TYPE="${BUILD_TYPE:-Release}"
JOBS="${KILN_JOBS:-$(nproc 2>/dev/null || echo 2)}"

./scripts/setup.sh

# A cache from another generator (or a half-finished configure) cannot be reused.
if [ -f "$BUILD_DIR/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$BUILD_DIR/CMakeCache.txt"; then
  echo "build: $BUILD_DIR was configured with another generator; reconfiguring"
  rm -rf "$BUILD_DIR/CMakeCache.txt" "$BUILD_DIR/CMakeFiles"
fi
# Configured again whenever CMAKE_ARGS are given, so that an existing tree takes them too.
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ -n "${CMAKE_ARGS:-}" ]; then
  # shellcheck disable=SC2086  # CMAKE_ARGS is a list of flags
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${CMAKE_ARGS:-}
fi
ninja -C "$BUILD_DIR" -j "$JOBS" "$@"
