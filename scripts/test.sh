#!/usr/bin/env bash
# Builds everything (installing dependencies first when missing) and runs the
# whole test suite, the embedding check (install + examples/embed), then the
# fuzz smoke test when the project has one.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build.sh
ctest --test-dir build -j2 --output-on-failure
# Install into a temporary prefix and build examples/embed against it (kiln compile --emit lib/plan).
bash scripts/check_embed.sh build
if [ -f scripts/fuzz_smoke.sh ]; then
  bash scripts/fuzz_smoke.sh
fi
