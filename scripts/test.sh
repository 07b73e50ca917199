#!/usr/bin/env bash
# Builds everything (installing dependencies first when missing) and runs the
# whole test suite, the embedding check (install + examples/embed), the Python
# package's tests (scripts/test_python.sh), then the fuzz smoke test when the
# project has one.
#
#   scripts/test.sh              # the suite on the Release build (build/)
#   scripts/test.sh --sanitize   # the whole suite again, built with ASan + UBSan (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sanitize" ]; then
  # Every library, tool and test binary instrumented; any report fails its test.
  # Leaks are checked too (LeakSanitizer), except those of the JIT/oneDNN singletons
  # that live until exit, listed in scripts/lsan.supp.
  export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$PWD/scripts/lsan.supp:print_suppressions=0}"
  # KILN_WIDE_ON_AVX2: the kernels' 16-lane (AVX-512) loops are built for AVX2 here, so this
  # suite runs their logic under the sanitizers on any CPU; build/ runs the real ISA.
  BUILD_DIR=build-asan CMAKE_ARGS="-DKILN_SANITIZE=ON -DKILN_WIDE_ON_AVX2=ON ${CMAKE_ARGS:-}" ./scripts/build.sh
  ctest --test-dir build-asan -j2 --output-on-failure
  exit 0
fi

./scripts/build.sh
ctest --test-dir build -j2 --output-on-failure
# Install into a temporary prefix and build examples/embed against it (kiln compile --emit lib/plan).
bash scripts/check_embed.sh build
# The Python package in a fresh virtualenv: pip install . and its pytest suite.
bash scripts/test_python.sh build
if [ -f scripts/fuzz_smoke.sh ]; then
  bash scripts/fuzz_smoke.sh
fi
