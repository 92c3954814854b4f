#!/usr/bin/env bash
# Sweep speed-up on two threads (issue 21 item 6): a 200-run sweep (L1 DTLB entries x
# walkers x base CPI on two 50,000-access workloads, the Skylake preset) run with
# --threads 1 and --threads 2, interleaved, RUNS times each; prints the medians and the
# ratio, and checks that both thread counts store the same records (in any order).
#
#   scripts/sweep_speed.sh [BIN]     (default target/release/mmusim; RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/mmusim}
runs=${RUNS:-3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# (set KEEP=1 to keep the work folder)
[ -n "${KEEP:-}" ] && trap - EXIT
root=$(pwd)
cat >"$tmp/spec.toml" <<SPEC
name = "sweep-speed"
description = "200 runs: L1 DTLB entries x walkers x base CPI, two workloads"
system = "skylake"
set = ["sim.warmup_accesses=0"]

[[axis]]
key = "tlb[0].entries"
values = [16, 32, 64, 128]

[[axis]]
key = "walker.max_concurrent_walks"
values = [1, 2, 3, 4, 5]

[[axis]]
key = "sim.base_cpi"
values = [0.5, 1.0, 1.5, 2.0, 2.5]

[[workload]]
name = "seq-8M"
file = "$root/workloads/default.toml"
set = ["event=[]", 'generator={kind="sequential", footprint="8MiB", stride=64}', "accesses=50000"]

[[workload]]
name = "uniform-16M"
file = "$root/workloads/default.toml"
set = ["event=[]", 'generator={kind="uniform", footprint="16MiB"}', "accesses=50000"]
SPEC
one() { # THREADS -> seconds
    rm -rf "$tmp/out$1"
    local s e
    s=$(date +%s.%N)
    "$bin" sweep run "$tmp/spec.toml" --out "$tmp/out$1" --threads "$1" >/dev/null 2>&1
    e=$(date +%s.%N)
    awk -v a="$s" -v b="$e" 'BEGIN { print b - a }'
}
t1=() t2=()
for _ in $(seq "$runs"); do
    t1+=("$(one 1)")
    t2+=("$(one 2)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m1=$(median "${t1[@]}") m2=$(median "${t2[@]}")
# The store's lines come in the order runs end; the records themselves must be the same.
cmp -s <(sort "$tmp/out1/results.jsonl") <(sort "$tmp/out2/results.jsonl") ||
    { echo "the two thread counts stored different records" >&2; exit 1; }
awk -v a="$m1" -v b="$m2" -v n="$runs" 'BEGIN { printf "sweep of 200 runs: %.2f s on 1 thread, %.2f s on 2 (medians of %d): %.2fx\n", a, b, n, a / b }'
