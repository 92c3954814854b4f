#!/usr/bin/env bash
# mmusim's walk path against the plain reference model of issue 21
# (benches/refmodel/model.rs) and the same model written for speed (tuned.rs, the floor:
# `refmodel check` proves both count the same), measured in one run so that each figure
# is a ratio:
#
#   scripts/walk_speed.sh [BIN] [--no-callgrind] [--no-time]   (BIN: target/release/mmusim)
#   RUNS=5 (timed rounds)
#
# walk-heavy: uniform 8-byte reads over 1 GiB, data through the caches, every page
#             mapped (mmusim: workloads/uniform-64g.toml at footprint 1 GiB; by 1.5 M
#             accesses all but 0.3% of its pages are mapped; the model maps all first).
# hit-heavy:  sequential, stride 64, over 64 KiB, translation only (mmusim:
#             workloads/sequential-hits.toml, memory.data_through_caches=false; the model:
#             a bare L1 DTLB + STLB replay).
#
# (a) host instructions per access (callgrind), the difference of two run lengths:
#     walk (I(2.5 M) - I(1.5 M)) / 1 M, hits (I(3 M) - I(1 M)) / 2 M (scripts/callgrind.sh's).
# (b) accesses/s: per round, each program at two lengths back to back, interleaved;
#     (N2 - N1) / (t(N2) - t(N1)) so start-up and page-table construction cancel;
#     medians over the rounds. The ratio is mmusim / reference in both; the line below
#     each gives the tuned model's figure and mmusim / tuned, reference / tuned.
# (c) the STLB hit fraction of both on the 1 GiB steady state, beside its derivation.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/mmusim
do_cg=1 do_time=1
for a in "$@"; do
    case $a in
        --no-callgrind) do_cg=0 ;;
        --no-time) do_time=0 ;;
        *) bin=$a ;;
    esac
done
runs=${RUNS:-5}
[ -x "$bin" ] || { echo "walk_speed: no mmusim binary at $bin" >&2; exit 2; }
ref=$(cargo build --release --bench refmodel --message-format=json 2>/dev/null |
    sed -n 's/.*"executable":"\([^"]*refmodel[^"]*\)".*/\1/p' | tail -1)
[ -x "$ref" ] || { echo "walk_speed: could not build benches/refmodel" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The two steady states, as commands: KIND N.
mm() { # walk|hits N
    local w=(-w workloads/uniform-64g.toml --set 'workload.generator.footprint="1GiB"')
    [ "$1" = hits ] && w=(-w workloads/sequential-hits.toml --set memory.data_through_caches=false)
    "${PREFIX[@]}" "$bin" run -q --out "$tmp/o" "${w[@]}" --set "workload.accesses=$2"
}
rf() { "${PREFIX[@]}" "$ref" "$1" "$2"; }
rt() { "${PREFIX[@]}" "$ref" "$1-tuned" "$2"; }

echo "mmusim: $bin ($(git rev-parse --short HEAD 2>/dev/null || echo ?)); reference: $ref"

if [ $do_cg = 1 ]; then
    instructions() { # PROGRAM KIND N -> total instructions of one run
        PREFIX=(valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out")
        "$1" "$2" "$3" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
        grep -m1 '^summary:' "$tmp/cg.out" | awk '{print $2}'
    }
    per() { # PROGRAM KIND N1 N2 -> instructions per access of the difference
        local a b
        a=$(instructions "$1" "$2" "$3") b=$(instructions "$1" "$2" "$4")
        awk -v a="$a" -v b="$b" -v n="$(($4 - $3))" 'BEGIN { printf "%.1f", (b - a) / n }'
    }
    for kind in walk hits; do
        if [ $kind = walk ]; then n1=1500000 n2=2500000; else n1=1000000 n2=3000000; fi
        m=$(per mm $kind $n1 $n2) r=$(per rf $kind $n1 $n2) t=$(per rt $kind $n1 $n2)
        awk -v m="$m" -v r="$r" -v t="$t" -v k="${kind%s}" 'BEGIN {
            printf "%s-heavy instructions/access: mmusim %.1f, reference %.1f, ratio %.2f\n", k, m, r, m / r
            printf "    tuned reference %.1f: mmusim / tuned %.2f, reference / tuned %.2f\n", t, m / t, r / t }'
    done
fi

if [ $do_time = 1 ]; then
    PREFIX=()
    secs() { # COMMAND... -> wall-clock seconds
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        echo $(((t1 - t0) / 1000))e-6
    }
    median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
    for kind in walk hits; do
        if [ $kind = walk ]; then n1=2000000 n2=8000000; else n1=10000000 n2=50000000; fi
        : >"$tmp/m" && : >"$tmp/r" && : >"$tmp/t"
        for _ in $(seq "$runs"); do
            a=$(secs mm $kind $n1) c=$(secs rf $kind $n1) e=$(secs rt $kind $n1)
            b=$(secs mm $kind $n2) d=$(secs rf $kind $n2) f=$(secs rt $kind $n2)
            awk -v a="$a" -v b="$b" -v n="$((n2 - n1))" 'BEGIN { print n / (b - a) / 1e6 }' >>"$tmp/m"
            awk -v a="$c" -v b="$d" -v n="$((n2 - n1))" 'BEGIN { print n / (b - a) / 1e6 }' >>"$tmp/r"
            awk -v a="$e" -v b="$f" -v n="$((n2 - n1))" 'BEGIN { print n / (b - a) / 1e6 }' >>"$tmp/t"
        done
        m=$(median <"$tmp/m") r=$(median <"$tmp/r") t=$(median <"$tmp/t")
        awk -v m="$m" -v r="$r" -v k="${kind%s}" -v runs="$runs" -v ms="$(sort -g "$tmp/m" | tr '\n' ' ')" \
            -v rs="$(sort -g "$tmp/r" | tr '\n' ' ')" 'BEGIN {
            printf "%s-heavy M accesses/s (median of %d): mmusim %.2f, reference %.2f, ratio %.2f\n", k, runs, m, r, m / r
            printf "    mmusim: %s\n    reference: %s\n", ms, rs }'
        awk -v m="$m" -v r="$r" -v t="$t" -v ts="$(sort -g "$tmp/t" | tr '\n' ' ')" 'BEGIN {
            printf "    tuned reference %.2f: mmusim / tuned %.2f, reference / tuned %.2f\n    tuned: %s\n", t, m / t, r / t, ts }'
    done
fi

# (c) STLB hits on the 1 GiB steady state: mmusim's measured half of 2 M accesses.
PREFIX=()
mm walk 2000000 >/dev/null
python3 - "$tmp/o/result.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))["stats"]["total"]
stlb = next(l for l in t["tlb_levels"] if l["level"] == 2)
print("mmusim STLB hit fraction: %.5f (an L1 DTLB or STLB hit, of %d accesses), derived %.5f (1536/262144)"
      % (1 - stlb["misses"] / t["accesses"], t["accesses"], 1536 / 262144))
EOF
"$ref" check | sed -n 's/^  STLB hit fraction/reference STLB hit fraction/p'
