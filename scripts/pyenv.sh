#!/usr/bin/env bash
# The tests' Python virtualenv (test tools only, never a product dependency): creates or
# updates $KILN_PYENV (default .pyenv/ in the checkout) from tests/python-requirements.txt
# and prints the path of its python. Needs the package index the first time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
env=${KILN_PYENV:-$root/.pyenv}
req=$root/tests/python-requirements.txt
mkdir -p "$(dirname "$env")"
exec 9>"$env.lock"
flock 9  # tests that run in parallel wait for one installation
if [ ! -x "$env/bin/python" ] || ! cmp -s "$req" "$env/.kiln-requirements"; then
  echo "pyenv: installing the test packages into $env" >&2
  python3 -m venv "$env" >&2
  "$env/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  cp "$req" "$env/.kiln-requirements"
fi
echo "$env/bin/python"
