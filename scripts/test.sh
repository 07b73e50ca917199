#!/usr/bin/env bash
# Builds everything (installing dependencies first when missing) and runs the
# whole test suite, then the fuzz smoke test when the project has one.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
ctest --test-dir build -j2 --output-on-failure
if [ -f scripts/fuzz_smoke.sh ]; then
  bash scripts/fuzz_smoke.sh
fi
