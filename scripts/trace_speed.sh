#!/usr/bin/env bash
# Compressed traces at raw speed (issue 21 item 3): the two figures of docs/PERFORMANCE.md,
# each a ratio against a reference measured in the same script run, interleaved, medians
# of RUNS runs (the machine is shared: only ratios of interleaved medians mean anything).
#
#   bash scripts/trace_speed.sh [BIN] [RUNS]          # both figures
#   ONLY=run bash scripts/trace_speed.sh ...          # (a) only;  ONLY=record: (b) only
#
# (a) `mmusim run -q --trace T.mmt.xz` against `mmusim run -q --trace T.mmt` (the same
#     trace decompressed), for the committed python trace and a bigger one: the first
#     BIG_LIMIT (20 M) accesses of `ls -lR /usr/share/doc`, recorded once into $WORK
#     (raw .mmt, then `mmusim trace convert` to .mmt.xz: one xz block, as mmusim writes).
# (b) `mmusim trace record --out T -- PROG` (default output: zstd) against valgrind's
#     lackey alone writing to /dev/null (`valgrind --tool=lackey --trace-mem=yes
#     --log-file=/dev/null PROG`), PROG = `ls -R /usr/share/doc` unless set.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-target/release/mmusim}
RUNS=${2:-5}
ONLY=${ONLY:-all}
WORK=${WORK:-/tmp/mmusim-trace-speed}
BIG_LIMIT=${BIG_LIMIT:-20000000}
read -r -a PROG <<<"${PROG:-ls -R /usr/share/doc}"
mkdir -p "$WORK"

# Wall seconds of one command (its output discarded).
secs() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

# Interleaved: A then B, RUNS times; prints both medians and B/A.
pair() {
    local label=$1 a=$2 b=$3 ta=() tb=()
    for _ in $(seq "$RUNS"); do
        ta+=("$(secs bash -c "$a")")
        tb+=("$(secs bash -c "$b")")
    done
    local ma mb
    ma=$(median "${ta[@]}")
    mb=$(median "${tb[@]}")
    printf '%-34s reference %.3f s  measured %.3f s  ratio %.2fx   (runs: %s | %s)\n' \
        "$label" "$ma" "$mb" "$(echo "$mb / $ma" | bc -l)" "${ta[*]}" "${tb[*]}"
}

if [[ $ONLY == all || $ONLY == run ]]; then
    xz -dc workloads/traces/python.mmt.xz >"$WORK/python.mmt"
    if [[ ! -s $WORK/big.mmt.xz ]]; then
        echo "recording the bigger trace ($BIG_LIMIT accesses of ls -lR /usr/share/doc) into $WORK"
        "$BIN" trace record --out "$WORK/big.mmt" --limit "$BIG_LIMIT" -- /bin/ls -lR /usr/share/doc >/dev/null
        "$BIN" trace convert "$WORK/big.mmt" "$WORK/big.mmt.xz"
    fi
    echo "== (a) run from .xz against the same trace raw ($BIN, $RUNS interleaved runs)"
    ls -l workloads/traces/python.mmt.xz "$WORK/python.mmt" "$WORK/big.mmt" "$WORK/big.mmt.xz"
    pair "python (3 M accesses)" "$BIN run -q --trace $WORK/python.mmt --out $WORK/out" \
        "$BIN run -q --trace workloads/traces/python.mmt.xz --out $WORK/out"
    pair "ls -lR ($BIG_LIMIT accesses)" "$BIN run -q --trace $WORK/big.mmt --out $WORK/out" \
        "$BIN run -q --trace $WORK/big.mmt.xz --out $WORK/out"
fi

if [[ $ONLY == all || $ONLY == record ]]; then
    echo "== (b) trace record (default output, zstd) against lackey to /dev/null: ${PROG[*]}"
    pair "record ${PROG[0]}" \
        "valgrind --tool=lackey --trace-mem=yes --log-file=/dev/null ${PROG[*]}" \
        "$BIN trace record --out $WORK/rec -- ${PROG[*]}"
    ls -l "$WORK/rec.mmt.zst"
fi
