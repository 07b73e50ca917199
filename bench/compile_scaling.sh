#!/usr/bin/env bash
# Compile time and peak RSS vs graph size (issue 10, item 4): for each graph shape of
# bench/gen_chain.py and each N, `kiln bench` (load + passes + lowering + JIT session,
# one run) and `kiln dump` (load + passes + printing), each in its own process.
# Usage: bench/compile_scaling.sh [N...]   (default 1000 10000 100000 1000000)
#        SHAPES="relu mixed" bench/compile_scaling.sh 1000 8000
set -euo pipefail
cd "$(dirname "$0")/.."
KILN=${KILN:-${BUILD_DIR:-build}/kiln}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000 1000000)
SHAPES=${SHAPES:-relu mixed matmul fanout}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
# Wall seconds, and CPU seconds (user + sys: what a loaded machine does not inflate).
printf '%-7s %9s %10s %9s %12s %8s %8s %12s\n' shape nodes compile_s cpu_s peak_rss_MiB dump_s cpu_s dump_rss_MiB
for shape in $SHAPES; do
  for n in "${SIZES[@]}"; do
    model="$tmp/${shape}_$n.kiln.txt"
    python3 bench/gen_chain.py "$shape" "$n" "$model"
    json=$(/usr/bin/time -f '%U %S' -o "$tmp/btime" "$KILN" bench "$model" --warmup 0 --iters 1 --json)
    read -r bu bs <"$tmp/btime"
    compile=$(python3 -c 'import json,sys; print("%.2f" % json.loads(sys.argv[1])["compile_seconds"])' "$json")
    rss=$(python3 -c 'import json,sys; print("%.0f" % (json.loads(sys.argv[1])["peak_rss_bytes"] / 2**20))' "$json")
    /usr/bin/time -f '%e %U %S %M' -o "$tmp/time" "$KILN" dump "$model" >/dev/null
    read -r dump_s du ds dump_kb <"$tmp/time"
    printf '%-7s %9d %10s %9.2f %12s %8s %8.2f %12d\n' "$shape" "$n" "$compile" "$(echo "$bu + $bs" | bc)" "$rss" \
      "$dump_s" "$(echo "$du + $ds" | bc)" $((dump_kb / 1024))
    rm -f "$model"
  done
done
