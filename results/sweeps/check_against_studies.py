#!/usr/bin/env python3
"""Checks the huge-pages and radix-vs-hashed sweeps against the studies that ran the
same configs and workloads (results/huge-pages/, results/radix-vs-hashed/): every
shared statistic must agree. Run from the repository root after both have run:

    python3 results/sweeps/check_against_studies.py
"""
import csv
import sys


def rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def compare(study, sweep, name_of, stats, rel):
    by = {(r["system"], r["workload"]): r for r in rows(study)}
    n = bad = 0
    for r in rows(sweep):
        if r["workload"] == "geomean":
            continue
        s = by[(name_of(r), r["workload"])]
        for k in stats:
            n += 1
            a, b = float(s[k]), float(r[k])
            if abs(a - b) > rel * max(1.0, abs(a)):
                bad += 1
                print(f"{sweep}: {name_of(r)} {r['workload']} {k}: study {a}, sweep {b}")
    print(f"{sweep}: {n} values compared with {study}, {bad} differ")
    return bad


designs = {
    "skylake": "radix+PSC",
    "skylake-inverted": "inverted",
    "skylake-htab": "htab",
    "skylake-clustered": "clustered",
    "skylake-cuckoo": "cuckoo",
}
# The studies print 6 significant digits for some columns: compare to that.
bad = compare(
    "results/huge-pages/results.csv",
    "results/sweeps/huge-pages/report.csv",
    lambda r: r["os.huge_pages.policy"].strip('"'),
    ["walks", "minor_faults", "translation_cycles_per_access"],
    1e-9,
)
bad += compare(
    "results/radix-vs-hashed/results.csv",
    "results/sweeps/radix-vs-hashed/report.csv",
    lambda r: designs[r["system"].strip('"')],
    ["walks", "walk_latency_mean", "translation_cycles_per_access"],
    1e-5,
)
sys.exit(1 if bad else 0)
