#!/usr/bin/env python3
"""Differential fuzz of two mmusim builds: random systems and workloads, results compared.

    python3 scripts/difffuzz.py OLD NEW OUT SEED N [START]     (FAST=0.5: see below)

Draws N seeded combinations (combination i of seed S is the same on every machine):
a preset, a shipped or generated workload (generators, munmap/mprotect/migrate/madvise/
mmap/fork events), and --set overrides of TLB, cache and walk-cache geometry and
policy (ways 1-17, 24, 32, fully associative), huge pages, paging, cores, processes,
shootdowns, predictors, prefetchers, Victima, POM-TLB, warm-up and timeline windows.
Runs both binaries on each (two processes at a time) and compares exit codes, stderr
(binary names masked), result.json, result.csv and timeline.csv byte for byte; a
difference is logged with the first differing key path. Use it when a change must not
move any result (a fast path, a layout, a specialised engine): OLD is the trusted build.
FAST (0 to 1) steers that share of draws to all-LRU hierarchies of at most 16 ways, the
shape the fast paths take. Logs: OUT/log-SEED.jsonl (one line per combination, "diffs"
empty when identical); outputs of differing or failed runs stay under OUT/out/.
Run from anywhere; runs happen in the repository root (relative trace paths).

Session 4 (issue 21): 4,308 combinations of the fast TLB path, lean cache sets and
walk-cache memo against the build before them, none different.
"""
import json, os, random, subprocess, sys, shutil, time

if len(sys.argv) < 6:
    sys.exit(__doc__)
OLD, NEW = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
ROOT = os.path.abspath(sys.argv[3])
CWD = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRESETS = [p[:-5] for p in sorted(os.listdir(CWD + "/configs")) if p.endswith(".toml")]
SHIPPED = [w[:-5] for w in sorted(os.listdir(CWD + "/workloads")) if w.endswith(".toml")]

def pow2_sets(ways, lo, hi, r):
    return ways * 64 * (1 << r.randint(lo, hi))

def gen_workload(r, idx):
    kind = r.choice(["sequential", "strided", "uniform", "zipf", "hot_cold", "pointer_chase"])
    fp_mb = r.choice([1, 4, 16, 64, 256, 1024, 2048])
    lines = [f'name = "fz{idx}"', f"accesses = {r.choice([1000, 20000, 60000, 150000, 200000])}",
             f"write_fraction = {r.choice([0.0, 0.1, 0.3, 0.7])}",
             f"instrs_per_access = {r.choice([1, 3])}", f"seed = {r.randint(0, 999)}", "", "[generator]",
             f'kind = "{kind}"', f'footprint = "{fp_mb}MiB"']
    if kind == "sequential":
        lines.append(f"stride = {r.choice([64, 4096, 8192])}")
    elif kind == "strided":
        lines.append(f"stride = {r.choice([4096, 12288, 2097152])}")
    elif kind == "zipf":
        lines.append(f"exponent = {r.choice([0.6, 0.99, 1.2])}")
    elif kind == "hot_cold":
        lines += ["hot_fraction = 0.1", "hot_access_fraction = 0.9"]
    elif kind == "pointer_chase":
        lines.append(f"node_size = {r.choice([64, 4096])}")
    fp = fp_mb << 20
    evs = []
    for _ in range(r.choice([0, 0, 1, 2, 3, 4])):
        ek = r.choice(["munmap", "mprotect", "migrate", "madvise", "mmap", "munmap", "mprotect"])
        off = r.randrange(0, max(1, fp // 4096)) * 4096
        ln = min(fp - off, r.choice([4096, 65536, 1 << 20, 4 << 20])) or 4096
        e = [f"at = {r.choice([0, 100, 5000, 30000])}", f'kind = "{ek}"', f"offset = {off}", f"len = {ln}"]
        if ek == "mprotect":
            e.append(f'prot = "{r.choice(["none", "r", "rw"])}"')
        if ek == "mmap" and r.random() < 0.5:
            e.append("populate = true")
        if r.random() < 0.4:
            e.append(f"every = {r.choice([2000, 10000, 50000])}")
        evs.append(e)
    if r.random() < 0.08:
        evs.append([f"at = {r.choice([100, 5000])}", 'kind = "fork"', f"child_accesses = {r.choice([0, 1000, 20000])}"])
    for e in evs:
        lines += ["", "[[event]]"] + e
    path = f"{ROOT}/wl/fz{idx}.toml"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path

def TLB_GEOM(r, big):
    if big:
        return r.choice([(1536, 12), (1024, 16), (2048, 16), (1024, 32), (768, 24), (512, 512), (64, 64),
                         (256, 1), (1024, 8), (2048, 17), (3072, 24), (128, 128), (1088, 17), (4096, 2)])
    return r.choice([(64, 4), (64, 64), (16, 16), (32, 32), (48, 24), (64, 1), (128, 8), (32, 2), (72, 72),
                     (96, 24), (64, 16), (68, 17), (8, 8), (256, 32)])

def draw(r, idx):
    preset = r.choice(PRESETS + ["skylake"] * 6 + ["zen4", "icelake", "skylake-victima", "skylake-pom"] * 2)
    sets = []
    if r.random() < 0.45:
        wl = gen_workload(r, idx)
    else:
        wl = f"workloads/{r.choice(SHIPPED)}.toml"
    acc = r.choice([0, 500, 5000, 50000, 120000, 200000, 200000])
    if "belady" in wl or "exam" in wl:
        acc = 0
    if acc or "trace" in wl or "default" in wl or "uniform" in wl or "sequential" in wl:
        sets.append(f"workload.accesses={acc or r.choice([10000, 100000, 200000])}")
    def maybe(p, f):
        if r.random() < p:
            f()
    # TLBs
    fastb = r.random() < FAST
    pol = (lambda: "lru") if fastb else (lambda: r.choice(["lru", "lru", "plru", "fifo", "random"]))
    if fastb:
        preset = r.choice(["skylake", "skylake", "icelake", "skylake-asap", "skylake-inverted", "skylake-clustered",
                           "skylake-htab", "skylake-cuckoo", "skylake-flattened", "skylake-vm", "skylake-ds", "skylake-victima", "skylake-pom", "icelake-vm", "skylake-rmm", "skylake-spectlb", "skylake-utopia", "skylake-colt", "zen4"])
        tlb_geom = lambda r, big: (lambda w: (w * (1 << r.randint(0 if not big else 3, 3 if not big else 8)), w))(r.choice([1, 2, 4, 8, 12, 15, 16, 16]))
    else:
        tlb_geom = TLB_GEOM
    def stlb():
        e, w = tlb_geom(r, True); sets.extend([f"tlb.stlb.entries={e}", f"tlb.stlb.ways={w}"])
    def l1d():
        e, w = tlb_geom(r, False); sets.extend([f"tlb.l1d.entries={e}", f"tlb.l1d.ways={w}"])
    maybe(0.5, stlb); maybe(0.5, l1d)
    for role in ["stlb", "l1d"]:
        maybe(0.35, lambda: sets.append(f'tlb.{role}.replacement="{pol()}"'))
    def l1i():
        e, w = tlb_geom(r, False); sets.extend([f"tlb.l1i.entries={e}", f"tlb.l1i.ways={w}"])
    maybe(0.2, l1i)
    maybe(0.0 if fastb else 0.1, lambda: sets.append(f'tlb[{r.randint(0, 4)}].replacement="{r.choice(["plru", "fifo", "random"])}"'))
    maybe(0.01 if fastb else 0.06, lambda: sets.append('tlb.stlb.fill="victim"'))
    maybe(0.01 if fastb else 0.06, lambda: sets.append('tlb.stlb.organisation="coalesced"'))
    # caches
    for c in ["l1d", "l2", "l3"]:
        def cache(c=c):
            w = r.choice([1, 2, 3, 4, 8, 12, 15, 16, 16] if fastb else [1, 2, 4, 8, 12, 15, 16, 16, 17, 20, 24, 32])
            lo, hi = {"l1d": (3, 7), "l2": (6, 10), "l3": (9, 13)}[c]
            sets.extend([f"memory.cache.{c}.ways={w}", f"memory.cache.{c}.size={pow2_sets(w, lo, hi, r)}"])
        maybe(0.3, cache)
        maybe(0.25, lambda c=c: sets.append(f'memory.cache.{c}.replacement="{pol()}"'))
    maybe(0.08, lambda: sets.append("memory.data_through_caches=false"))
    # walk caches
    def psc():
        e, w = r.choice([(32, 4), (1, 1), (2, 2), (16, 16), (32, 32), (64, 8), (24, 24), (48, 24), (128, 128), (8, 1)])
        sets.extend([f"walker.psc.pd.entries={e}", f"walker.psc.pd.ways={w}"])
    maybe(0.35, psc)
    maybe(0.15, lambda: sets.append(f'walker.psc.pd.replacement="{r.choice(["plru", "fifo", "random"])}"'))
    maybe(0.15, lambda: sets.append(f'walker.psc.pdpt.replacement="{r.choice(["lru", "fifo", "random"])}"'))
    maybe(0.1, lambda: sets.extend(["walker.psc.pml4.entries=1", "walker.psc.pml4.ways=1"]))
    maybe(0.06, lambda: sets.append("walker.psc=[]"))
    maybe(0.1 if "vm" in preset else 0, lambda: sets.extend([f"virt.host_psc.epde.entries={r.choice([1, 8, 64])}", "virt.host_psc.epde.ways=1"]))
    maybe(0.15, lambda: sets.append(f"walker.max_concurrent_walks={r.choice([1, 4])}"))
    # OS
    maybe(0.3, lambda: sets.append(f'os.huge_pages.policy="{r.choice(["always", "madvise", "promote", "reserve"])}"'))
    maybe(0.03, lambda: sets.append('os.page_size="2M"'))
    maybe(0.1, lambda: sets.append(f"os.fragmentation={r.choice([0.3, 0.9])}"))
    maybe(0.04, lambda: sets.extend([f'os.paging.replacement="{r.choice(["fifo", "lru", "clock", "random"])}"',
                                      f"os.paging.resident_pages={r.choice([64, 1024])}"]))
    # cores/sched
    def cores():
        n = r.choice([2, 2, 3, 4])
        sets.append(f"sim.cores={n}")
        if r.random() < 0.6:
            sets.append(f"os.sched.threads={n}")
    maybe(0.45 if fastb else 0.3, cores)
    def sched():
        sets.append(f"os.sched.processes={r.choice([2, 3, 4])}")
        sets.append(f"os.sched.quantum_cycles={r.choice([50000, 400000])}")
        sets.append(f"os.sched.asids_per_core={r.choice([0, 1, 2, 6])}")
        sets.append('os.phys_mem="64GiB"')
    maybe(0.25 if fastb else 0.15, sched)
    maybe(0.1, lambda: sets.append(f'shootdown.delivery="{r.choice(["broadcast", "unicast"])}"'))
    maybe(0.05, lambda: sets.append("shootdown.flush_ceiling=1"))
    # features
    maybe(0.12, lambda: sets.append("size_prediction.enable=true"))
    maybe(0.1, lambda: sets.append(f'prefetch.kind="{r.choice(["sequential", "asp", "dp", "recency", "atp"])}"'))
    maybe(0.05, lambda: sets.append('prefetch.free="all"'))
    maybe(0.08, lambda: sets.append("victima.enable=true"))
    maybe(0.05, lambda: sets.append("pom_tlb.entries=4096"))
    maybe(0.03, lambda: sets.append("os.rmm.range_tlb_entries=32"))
    maybe(0.02, lambda: sets.append("os.utopia.ways=16"))
    # sim
    maybe(0.3, lambda: sets.append("sim.warmup_accesses=" + r.choice(["0", "1000", '"auto"', "100"])))
    maybe(0.15, lambda: sets.append(f"sim.overlap_window={r.choice([0, 8, 64])}"))
    maybe(0.1, lambda: sets.append("sim.l1_tlb_overlapped=false"))
    maybe(0.15, lambda: sets.append(f"sim.seed={r.randint(2, 99)}"))
    if "trace-2core" in wl:
        sets = [x for x in sets if not x.startswith(("sim.cores", "os.sched.threads", "os.sched.processes"))] + ["sim.cores=2"]
    if "vm" in preset and 'os.phys_mem="64GiB"' in sets:
        sets.append('virt.host.phys_mem="128GiB"')
    timeline = r.choice([None, None, 1000, 10000, 50000])
    return preset, wl, sets, timeline

def run(bin_, preset, wl, sets, tl, out):
    shutil.rmtree(out, ignore_errors=True)
    cmd = [bin_, "run", "-q", "-c", preset, "-w", wl] + sum([["--set", s] for s in sets], []) + ["--out", out]
    if tl:
        cmd += ["--timeline", str(tl)]
    return cmd, subprocess.Popen(cmd, cwd=CWD, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

def first_diff(a, b, path=""):
    if type(a) != type(b):
        return path, a, b
    if isinstance(a, dict):
        for k in list(a.keys()) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}.{k}", a.get(k, "<absent>"), b.get(k, "<absent>")
            d = first_diff(a[k], b[k], f"{path}.{k}")
            if d: return d
        if list(a.keys()) != list(b.keys()):
            return path + " (key order)", list(a.keys()), list(b.keys())
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, f"{path}[{i}]")
            if d: return d
        if len(a) != len(b):
            return path + " (len)", len(a), len(b)
        return None
    return None if a == b else (path, a, b)

def read(p):
    try:
        with open(p, "rb") as f: return f.read()
    except FileNotFoundError:
        return None

FAST = float(os.environ.get("FAST", "0"))
def main():
    seed, n, start = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]) if len(sys.argv) > 6 else 0
    os.makedirs(ROOT + "/wl", exist_ok=True)
    log = open(f"{ROOT}/log-{seed}.jsonl", "a")
    for i in range(start, start + n):
        r = random.Random(seed * 100003 + i)
        preset, wl, sets, tl = draw(r, f"{seed}_{i}")
        oa, ob = f"{ROOT}/out/old/{seed}_{i}", f"{ROOT}/out/new/{seed}_{i}"
        t0 = time.time()
        ca, pa = run(OLD, preset, wl, sets, tl, oa)
        cb, pb = run(NEW, preset, wl, sets, tl, ob)
        sa, ea = pa.communicate(timeout=900); sb, eb = pb.communicate(timeout=900)
        rec = {"i": i, "seed": seed, "preset": preset, "wl": wl, "sets": sets, "timeline": tl,
               "rc": [pa.returncode, pb.returncode], "secs": round(time.time() - t0, 2)}
        diffs = []
        if pa.returncode != pb.returncode: diffs.append(["rc", pa.returncode, pb.returncode])
        if ea.replace(OLD.encode(), b"BIN") != eb.replace(NEW.encode(), b"BIN"):
            diffs.append(["stderr", ea.decode()[-400:], eb.decode()[-400:]])
        for fn in ["result.json", "result.csv", "timeline.csv"]:
            a, b = read(f"{oa}/{fn}"), read(f"{ob}/{fn}")
            if a != b:
                d = [fn]
                if fn == "result.json" and a and b:
                    d += list(first_diff(json.loads(a), json.loads(b)) or ["(bytes only)"])
                elif a and b:
                    la, lb = a.decode().splitlines(), b.decode().splitlines()
                    k = next((j for j in range(min(len(la), len(lb))) if la[j] != lb[j]), min(len(la), len(lb)))
                    d += [k, la[k] if k < len(la) else None, lb[k] if k < len(lb) else None]
                else:
                    d += [a is not None, b is not None]
                diffs.append(d)
        rec["diffs"] = diffs
        if not diffs and pa.returncode == 0:
            shutil.rmtree(oa, ignore_errors=True); shutil.rmtree(ob, ignore_errors=True)
        if pa.returncode != 0:
            rec["err"] = ea.decode()[:300]
        log.write(json.dumps(rec, default=str) + "\n"); log.flush()
        print(i, preset, rec["rc"], rec["secs"], "DIFF" if diffs else "ok", flush=True)

if __name__ == "__main__": main()
