#!/usr/bin/env bash
# The Python package's tests (python/tests, docs/python.md): a fresh virtualenv, numpy,
# pytest and tensorboard from the package index, `pip install .` (scikit-build-core + nanobind; the build in
# build-py/ compiles through ccache, so it reuses the objects of build/), then pytest, which
# compares results with the kiln command of the build directory. Any failure or skipped test
# fails the script.
#
#   scripts/test_python.sh [BUILD_DIR]     # default build; PYTHON picks the interpreter
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR="${1:-build}"
PYTHON="${PYTHON:-python3}"
VENV="$BUILD_DIR/python-venv"

if [ ! -x "$BUILD_DIR/kiln" ]; then
  echo "test_python: $BUILD_DIR/kiln is missing (run scripts/build.sh first)" >&2
  exit 1
fi
start=$(date +%s)
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# (tensorboard: its event reader checks kiln.TensorBoard's files; tests only)
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check numpy pytest tensorboard
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check .
installed=$(date +%s)
echo "test_python: pip install . took $((installed - start))s (virtualenv, numpy and pytest included)"
# From outside the checkout, so `import kiln` is the installed package, not python/kiln.
(cd "$VENV" && bin/python -c "import kiln; print('test_python: kiln', kiln.__version__, 'from', kiln.__file__)")
KILN_CLI="$PWD/$BUILD_DIR/kiln" "$VENV/bin/python" -m pytest -q -p no:cacheprovider python/tests
echo "test_python: passed in $(($(date +%s) - start))s"
