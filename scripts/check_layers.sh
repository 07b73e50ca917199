#!/usr/bin/env bash
# Fails when an #include crosses a forbidden edge between the folders (the layer map in
# docs/design-notes.md, "Folders and libraries"). Run by ctest as `check_layers`.
#
#   scripts/check_layers.sh [ROOT]     check the tree at ROOT (default: this checkout)
#   scripts/check_layers.sh --self-test
#
# A rule is: a folder (prefix of the including file) % an include pattern (ERE on the
# included path) % the reason. The including file's own folder is never forbidden.
set -euo pipefail

# The IR library: everything under ir/ but the core (ir/core/) and the model file schema
# (ir/kiln.pb.h, generated from ir/kiln.proto) -- graphs, gradient rules, verifier, printer,
# model files. The runtime (libkiln_runtime) and the core itself link only the core.
IR_LIBRARY='ir/([^/]+\.h|gradients/.*)'

RULES=(
  "runtime/%^(compiler|frontends|tools)/%the runtime never depends on the compiler, frontends or tools"
  "runtime/%^llvm/%the runtime never links LLVM"
  "runtime/%^${IR_LIBRARY}$%the runtime links only the IR core (ir/core/)"
  "ir/core/%^${IR_LIBRARY}$%the IR core has no graphs and no gradient rules (it is part of libkiln_runtime)"
  "runtime/%^runtime/(data|training)/%libkiln_runtime does not need the training library (runtime/data, runtime/training)"
  "runtime/%^png\\.h$%only the training library (runtime/data) decodes images"
  "include/%^(compiler|frontends|tools|ir)/%the public C API stands alone"
  "tools/kiln_main/%^(compiler|frontends|tools/kiln)/%compiled drivers link only the runtime (and tools/common)"
  "tools/common/%^(compiler|frontends|tools/kiln)/%tools/common is linked into compiled drivers too"
  "tools/kiln_main/%^llvm/%compiled drivers never link LLVM"
  "ir/%^(frontends|compiler|runtime|tools)/%the IR depends on nothing above it"
  "ir/%^llvm/%the IR never links LLVM"
  "frontends/%^(compiler|tools)/%frontends build graphs; they do not compile"
  "frontends/%^llvm/%frontends never link LLVM"
  "compiler/passes/%^compiler/(backends|codegen)/%passes ask compiler/target.h, never a specific backend"
  "compiler/%^llvm/%only compiler/codegen links LLVM"
  "compiler/%^runtime/kernels/%runtime/kernels is private to the runtime (use runtime/kernel.h)"
  "compiler/%^(frontends|tools)/%the compiler does not depend on frontends or tools"
)

check() {
  local root="$1" failures=0
  local rule folder pattern reason file line target
  for rule in "${RULES[@]}"; do
    IFS='%' read -r folder pattern reason <<<"$rule"
    [ -d "$root/$folder" ] || continue
    while IFS=: read -r file line target; do
      # Exceptions by folder: LLVM lives in compiler/codegen.
      [ "$target" = ir/kiln.pb.h ] && continue  # the schema is part of the core
      case "$folder|$file" in
        "compiler/|compiler/codegen/"*) [[ "$target" == llvm/* ]] && continue ;;
        "runtime/|runtime/data/"* | "runtime/|runtime/training/"*)
          [[ "$target" == runtime/data/* || "$target" == runtime/training/* || "$target" == png.h ]] && continue ;;
      esac
      echo "$file:$line: includes $target: $reason"
      failures=$((failures + 1))
    done < <(cd "$root" && { grep -rnoE --include='*.cc' --include='*.h' --include='*.c' \
               '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"][^">]+' "$folder" || true; } |
             sed -E 's/:[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]/:/' |
             awk -F: -v pat="$pattern" '$3 ~ pat')
  done
  if [ "$failures" -gt 0 ]; then
    echo "check_layers: $failures forbidden include(s); see docs/design-notes.md (Folders and libraries)" >&2
    return 1
  fi
  echo "check_layers: no forbidden includes"
}

if [ "${1:-}" = "--self-test" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/runtime" "$tmp/compiler/passes" "$tmp/compiler/codegen" "$tmp/ir"
  echo '#include "runtime/session.h"' >"$tmp/runtime/ok.cc"
  echo '#include "llvm/IR/Module.h"' >"$tmp/compiler/codegen/ok.cc"
  check "$tmp" >/dev/null || { echo "self-test: a clean tree failed" >&2; exit 1; }
  echo '  #include "compiler/passes/pass.h"' >"$tmp/runtime/bad.cc"
  echo '#include "compiler/backends/cpu/cpu_backend.h"' >"$tmp/compiler/passes/bad.cc"
  echo '#include <llvm/IR/Module.h>' >"$tmp/compiler/bad.h"
  echo '#include "frontends/onnx/onnx_import.h"' >"$tmp/ir/bad.cc"
  echo '#include "ir/graph.h"' >"$tmp/runtime/bad2.cc"
  mkdir -p "$tmp/ir/core" && echo '#include "ir/gradient.h"' >"$tmp/ir/core/bad.cc"
  printf '#include "ir/core/tensor.h"\n#include "ir/kiln.pb.h"\n' >"$tmp/ir/core/ok.cc"
  echo '#include <png.h>' >"$tmp/runtime/bad3.cc"
  mkdir -p "$tmp/runtime/data" && echo '#include <png.h>' >"$tmp/runtime/data/ok.cc"
  out=$(check "$tmp" 2>&1) && { echo "self-test: forbidden includes passed" >&2; exit 1; }
  for needle in runtime/bad.cc:1 compiler/passes/bad.cc:1 compiler/bad.h:1 ir/bad.cc:1 ir/core/bad.cc:1 runtime/bad2.cc:1 runtime/bad3.cc:1; do
    grep -q "^$needle:" <<<"$out" || { echo "self-test: $needle not reported" >&2; echo "$out" >&2; exit 1; }
  done
  if grep -q "/ok.cc" <<<"$out"; then echo "self-test: an allowed include was reported" >&2; echo "$out" >&2; exit 1; fi
  echo "check_layers self-test: ok"
  exit 0
fi

check "${1:-$(cd "$(dirname "$0")/.." && pwd)}"
