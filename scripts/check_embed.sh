#!/usr/bin/env bash
# Installs the build tree into a temporary prefix, compiles the iris MLP with the
# installed kiln (--emit lib and --emit plan), builds examples/embed against the
# installed tree only (CMake find_package(Kiln), and pkg-config for the C program),
# runs them and checks their output against `kiln run`.
#
#   scripts/check_embed.sh [BUILD_DIR]      (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="$PWD"
BUILD_DIR="${1:-${BUILD_DIR:-build}}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/kiln-embed-XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
PREFIX="$WORK/prefix"
fail() { echo "check_embed: $*" >&2; exit 1; }

cmake --install "$BUILD_DIR" --prefix "$PREFIX" >/dev/null
KILN="$PREFIX/bin/kiln"
for f in include/kiln/runtime.h include/kiln/runtime.hpp lib/libkiln_runtime.a lib/libkiln_runtime.so \
         lib/libkiln_main.a lib/libkiln_train_main.a lib/cmake/Kiln/KilnConfig.cmake lib/pkgconfig/kiln.pc; do
  [ -e "$PREFIX/$f" ] || fail "the install lacks $f"
done

# The runtime libraries never link LLVM, nor libpng (image input is the training library's).
if ldd "$PREFIX/lib/libkiln_runtime.so" | grep -qi llvm || nm -C "$PREFIX/lib/libkiln_runtime.a" 2>/dev/null | grep -q 'llvm::'; then
  fail "libkiln_runtime links LLVM"
fi
if ldd "$PREFIX/lib/libkiln_runtime.so" | grep -qi libpng || nm "$PREFIX/lib/libkiln_runtime.a" 2>/dev/null | grep -q ' U png_'; then
  fail "libkiln_runtime links libpng"
fi

# Nothing below may see the build tree: the installed kiln finds <prefix>/lib itself.
unset KILN_RUNTIME_DIR
MODEL="$SRC/examples/iris_mlp.kiln.txt"
mkdir -p "$WORK/model"
(cd "$WORK/model" && "$KILN" compile "$MODEL" -o model --emit lib --threads 1 >/dev/null)
(cd "$WORK/model" && "$KILN" compile "$MODEL" -o model.plan --emit plan >/dev/null)
(cd "$WORK/model" && "$KILN" compile "$MODEL" -o iris >/dev/null)

# 1. CMake, find_package(Kiln) from the prefix.
cmake -S "$SRC/examples/embed" -B "$WORK/cmake-build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" -DKILN_MODEL_DIR="$WORK/model" >"$WORK/cmake.log" 2>&1 ||
  { cat "$WORK/cmake.log"; fail "configuring examples/embed failed"; }
cmake --build "$WORK/cmake-build" >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; fail "building examples/embed failed"; }

# 2. pkg-config for the C program.
export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
# shellcheck disable=SC2046  # pkg-config prints a list of flags
cc -std=c99 -Wall -Werror "$SRC/examples/embed/classify.c" -I"$WORK/model" "$WORK/model/libmodel.a" \
  $(pkg-config --cflags --libs kiln) -o "$WORK/classify-pc"

# Expected values: kiln run on the same three samples (as one batch of 3, row by row).
EXPECTED="$("$KILN" run "$MODEL" --input "$SRC/examples/iris_sample.npy")"
C_OUT="$("$WORK/cmake-build/classify")"
PC_OUT="$("$WORK/classify-pc")"
[ "$C_OUT" = "$PC_OUT" ] || fail "the CMake and pkg-config builds of classify disagree"
CPP_OUT="$("$WORK/cmake-build/run_plan" "$WORK/model/model.plan" 5.1 3.5 1.4 0.2)"
echo "$C_OUT"
echo "$CPP_OUT"

python3 - "$EXPECTED" "$C_OUT" "$CPP_OUT" <<'EOF'
import re, sys
expected, c_out, cpp_out = sys.argv[1:]
rows = [[float(v) for v in re.findall(r"-?\d+\.\d*(?:e-?\d+)?", line)] for line in expected.splitlines()[1:]]
c_rows = [[float(v) for v in re.search(r"\[(.*)\]", line).group(1).split()] for line in c_out.splitlines()
          if line.startswith("sample")]
cpp_row = [float(v) for v in cpp_out.split(":")[1].split()]
assert len(rows) == 3 and len(c_rows) == 3, (expected, c_out)
for got, want in zip(c_rows, rows):
    assert all(abs(a - b) < 1e-5 for a, b in zip(got, want)), (got, want)
assert all(abs(a - b) < 1e-5 for a, b in zip(cpp_row, rows[0])), (cpp_row, rows[0])
assert "input features: float32, 16 bytes" in c_out, c_out
assert "output probs: float32, 12 bytes" in c_out, c_out
EOF

# The executable from the installed tree runs too.
"$WORK/model/iris" --input "$SRC/examples/iris_sample.npy" >/dev/null 2>&1 && fail "batch mismatch not reported"
printf '\x9a\x99\xa3\x40\x00\x00\x60\x40\x33\x33\xb3\x3f\xcd\xcc\x4c\x3e' | "$WORK/model/iris" --input - | grep -q "top 3 classes" ||
  fail "the installed executable did not classify"
echo "check_embed: OK (installed to a temporary prefix; C via CMake and pkg-config, C++ via CMake)"
