#!/usr/bin/env python3
"""The one-pass geometry sweep against full simulation (issue 21 item 4).

  scripts/onepass_geometry.py [--runs N] [--bin target/release/mmusim] [--spec DIR]
                              [--reference FOLDER]

1. Compares: the sweep in DIR (default results/sweeps/tlb-geometry) run with the pass
   into a temporary folder against the results.jsonl and report.csv of the reference
   folder (default results/sweeps/tlb-geometry-simulated: the same sweep, every point
   simulated; --reference FOLDER for another):
   every value a stack record holds (every leaf of its `total`, but its `one_pass_tlb`
   mark) must equal the simulated record's at the same place, every non-empty cell of
   a stack row of report.csv the simulated row's cell, and every simulated (guard)
   record must equal the committed one. Any difference: exit 1.
2. Times (with --runs N > 0): N interleaved pairs, the pass then the same spec with
   one_pass = false (every point simulated), each into a fresh temporary folder;
   prints each run's wall time and the medians and their ratio.
"""
import argparse, csv, json, os, shutil, statistics, subprocess, sys, tempfile, time

def records(d):
    with open(os.path.join(d, "results.jsonl")) as f:
        return {(r["point"], r["workload"]): r for r in map(json.loads, f)}

def leaves(v, at=""):
    if isinstance(v, dict):
        for k, x in v.items():
            if k != "one_pass_tlb":
                yield from leaves(x, f"{at}/{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from leaves(x, f"{at}/{i}")
    else:
        yield at, v

def at(v, path):
    for p in path.strip("/").split("/"):
        v = v[int(p)] if isinstance(v, list) else v.get(p) if isinstance(v, dict) else None
        if v is None:
            return None
    return v

def rows(d):
    with open(os.path.join(d, "report.csv")) as f:
        return {(r["point"], r["workload"]): r for r in csv.DictReader(f)}

def spec_copy(spec_dir, out_dir, one_pass):
    """The spec with its workload paths absolute, and one_pass = false if asked."""
    text = open(os.path.join(spec_dir, "spec.toml")).read()
    ws = os.path.abspath(os.path.join(spec_dir, "../../../workloads"))
    text = text.replace('"../../../workloads', '"' + ws)
    if not one_pass:
        text = "one_pass = false\n" + text
    p = os.path.join(out_dir, "spec.toml")
    open(p, "w").write(text)
    return p

def sweep(binary, spec, out, report):
    t = time.monotonic()
    args = [binary, "sweep", "run", spec, "--out", out] + (["--report"] if report else [])
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t

def compare(fast, ref):
    a, b = records(fast), records(ref)
    bad, n, stack = [], 0, 0
    if set(a) != set(b):
        bad.append(f"runs differ: {sorted(set(a) ^ set(b))}")
    for k in sorted(set(a) & set(b)):
        ra, rb = a[k], b[k]
        if ra.get("method") == "stack":
            stack += 1
            for path, v in leaves(ra["total"]):
                n += 1
                if at(rb["total"], path) != v:
                    bad.append(f"{k} {path}: pass {v}, simulation {at(rb['total'], path)}")
        elif ra["total"] != rb["total"]:
            bad.append(f"{k}: the simulated record differs from the reference")
    ca, cb = rows(fast), rows(ref)
    cells = 0
    for k, r in ca.items():
        if r.get("method") != "stack":
            continue
        for col, v in r.items():
            if col in ("method", "misses_vs_baseline") or v == "":
                continue
            cells += 1
            if cb[k].get(col) != v:
                bad.append(f"report.csv {k} {col}: pass {v}, simulation {cb[k].get(col)}")
    return bad, n, stack, cells

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/mmusim")
    ap.add_argument("--spec", default="results/sweeps/tlb-geometry")
    ap.add_argument("--reference", default="results/sweeps/tlb-geometry-simulated")
    ap.add_argument("--runs", type=int, default=0)
    o = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="onepass-geometry-")
    try:
        fast = os.path.join(tmp, "fast")
        os.makedirs(fast)
        sweep(o.bin, spec_copy(o.spec, tmp, True), fast, True)
        bad, n, stack, cells = compare(fast, o.reference)
        for b in bad[:20]:
            print("DIFFERENT:", b)
        print(f"{stack} stack records, {n} values and {cells} report cells compared: "
              f"{len(bad)} differences")
        times = {"pass": [], "simulated": []}
        for i in range(o.runs):
            for kind, one in (("pass", True), ("simulated", False)):
                d = os.path.join(tmp, f"{kind}-{i}")
                os.makedirs(d)
                times[kind].append(sweep(o.bin, spec_copy(o.spec, d, one), os.path.join(d, "out"), False))
                print(f"run {i} {kind}: {times[kind][-1]:.2f} s", flush=True)
        if o.runs:
            p, s = statistics.median(times["pass"]), statistics.median(times["simulated"])
            print(f"median: pass {p:.2f} s, every point simulated {s:.2f} s: {s / p:.1f}x")
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp)

if __name__ == "__main__":
    sys.exit(main())
