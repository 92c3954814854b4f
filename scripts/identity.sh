#!/usr/bin/env bash
# The refactoring guard (issue 15): every preset x every shipped workload, every committed
# study and every committed sweep, run into one folder, so that two builds can be compared
# byte for byte.
#
#   scripts/identity.sh record DIR [BIN]   run everything with BIN (default target/release/mmusim) into DIR
#   scripts/identity.sh compare A B        diff two recorded folders; exit 1 on any difference
#
# A run that fails records its exit code and message instead of results, so an error that
# changes is a difference too. Studies and sweeps are regenerated into DIR (not over the
# committed copies); `compare` also checks each against the committed files under results/.
set -uo pipefail
cd "$(dirname "$0")/.."

record() {
    local out=$1 bin=${2:-target/release/mmusim}
    rm -rf "$out"
    mkdir -p "$out/runs" "$out/studies" "$out/sweeps"
    local presets
    presets=$(ls configs/*.toml | xargs -n1 basename | sed 's/\.toml$//')
    for p in $presets; do
        for w in workloads/*.toml; do
            local name d
            name=$(basename "$w" .toml)
            d="$out/runs/$p/$name"
            mkdir -p "$d"
            "$bin" run -q -c "$p" -w "$w" --out "$d" >"$d/stdout" 2>"$d/stderr"
            echo $? >"$d/rc"
            rm -f "$d/result.csv.tmp" "$d/result.json.tmp"
        done
    done
    for spec in results/*/spec.toml; do
        local s
        s=$(basename "$(dirname "$spec")")
        "$bin" study "$spec" --out "$out/studies/$s" >"$out/studies/$s.stdout" 2>&1
        echo $? >"$out/studies/$s.rc"
    done
    for spec in results/sweeps/*/spec.toml; do
        local s
        s=$(basename "$(dirname "$spec")")
        "$bin" sweep run "$spec" --out "$out/sweeps/$s" --report >/dev/null 2>"$out/sweeps/$s.stderr"
        echo $? >"$out/sweeps/$s.rc"
    done
    echo "recorded into $out"
}

compare() {
    local a=$1 b=$2 bad=0
    # Timing lines on stdout/stderr (elapsed seconds) differ from run to run: compare results only.
    if ! diff -r -q -x stdout -x '*.stdout' -x '*.stderr' "$a" "$b"; then bad=1; fi
    # Failing runs must fail with the same message.
    for f in "$a"/runs/*/*/stderr; do
        local g=${f/#$a/$b}
        cmp -s "$f" "$g" || { echo "stderr differs: $f $g"; bad=1; }
    done
    # The committed studies and sweeps regenerate byte-identical.
    for d in "$b"/studies/*/; do
        local s
        s=$(basename "$d")
        # `|| true`: under pipefail the pipeline would take diff's status, not grep's.
        { diff -r -q "$d" "results/$s" || true; } | grep -v "Only in results/$s" && bad=1
    done
    for d in "$b"/sweeps/*/; do
        local s
        s=$(basename "$d")
        # The store is appended in completion order (a run's record is safe as soon as it
        # ends), so its lines are compared as a set; every other file byte for byte.
        { diff -r -q -x results.jsonl "$d" "results/sweeps/$s" || true; } |
            grep -v "Only in results/sweeps/$s" && bad=1
        if ! cmp -s <(sort "$d/results.jsonl") <(sort "results/sweeps/$s/results.jsonl"); then
            echo "sweep store differs (sorted): $d"
            bad=1
        fi
    done
    if [ $bad = 0 ]; then echo "identical"; else echo "DIFFERENT"; fi
    return $bad
}

case "${1:-}" in
    record) shift; record "$@" ;;
    compare) shift; compare "$@" ;;
    *) sed -n '2,11p' "$0"; exit 2 ;;
esac
