#!/usr/bin/env bash
# Host instructions per simulated access, counted exactly with callgrind (the README's
# two reference figures; the refactoring guard of issue 15 holds them within 2%).
#
#   scripts/callgrind.sh [BIN]    (default target/release/mmusim)
#
# hit-heavy:  workloads/sequential-hits.toml, translation only, (I(3 M) - I(1 M)) / 2 M
# hit-heavy with data caches: the same with each access's data read through L1D/L2/L3
# walk-heavy: uniform over 1 GiB, steady state (all but 0.3% of pages mapped),
#             (I(2.5 M) - I(1.5 M)) / 1 M
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/mmusim}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

instructions() { # ARGS... -> total instructions of one run
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" "$bin" run -q --out "$tmp/o" "$@" \
        >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
    grep -m1 '^summary:' "$tmp/cg.out" | awk '{print $2}'
}

hit() {
    instructions -w workloads/sequential-hits.toml --set memory.data_through_caches=false \
        --set "workload.accesses=$1"
}
hit_data() {
    instructions -w workloads/sequential-hits.toml --set "workload.accesses=$1"
}
walk() {
    instructions -w workloads/uniform-64g.toml --set 'workload.generator.footprint="1GiB"' \
        --set "workload.accesses=$1"
}

h1=$(hit 1000000) h3=$(hit 3000000)
d1=$(hit_data 1000000) d3=$(hit_data 3000000)
w1=$(walk 1500000) w2=$(walk 2500000)
awk -v a="$h1" -v b="$h3" 'BEGIN { printf "hit-heavy  %.1f instructions per access\n", (b - a) / 2e6 }'
awk -v a="$d1" -v b="$d3" 'BEGIN { printf "hit-heavy with data caches %.1f instructions per access\n", (b - a) / 2e6 }'
awk -v a="$w1" -v b="$w2" 'BEGIN { printf "walk-heavy %.1f instructions per access\n", (b - a) / 1e6 }'
