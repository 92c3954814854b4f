//! Sweeps: the plan, parallel runs into a store that a kill cannot corrupt, resuming,
//! shards.

use super::analysis::mmusim;
use std::collections::BTreeMap;
use std::path::Path;

const WORKLOADS: [(&str, &str); 2] = [
    (
        "seq.toml",
        "name = \"seq\"\naccesses = 20000\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"8MiB\"\nstride = 4096\n",
    ),
    (
        "uni.toml",
        "name = \"uni\"\naccesses = 20000\nseed = 2\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n",
    ),
];

/// A spec in a fresh folder: the L1 DTLB's entries x the walkers, on two workloads.
fn sweep_dir(mode: &str, axes: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (f, t) in WORKLOADS {
        std::fs::write(dir.path().join(f), t).unwrap();
    }
    std::fs::write(
        dir.path().join("s.toml"),
        format!(
            "name = \"t\"\nsystem = \"skylake\"\nmode = \"{mode}\"\n[[workload]]\nname = \"seq\"\nfile = \"seq.toml\"\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n{axes}"
        ),
    )
    .unwrap();
    dir
}

const AXES: &str = "[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [16, 32, 64]\n[[axis]]\nkey = \"walker.max_concurrent_walks\"\nvalues = [1, 2]\n";

/// The store as id -> the record's statistics (each id must appear once).
fn store(dir: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        assert!(v["error"].is_null(), "{line}");
        let prev = m.insert(id.clone(), v["total"].to_string());
        assert!(prev.is_none(), "{id} twice");
    }
    m
}

fn run(spec: &Path, out: &Path, extra: &[&str]) -> (i32, String) {
    let mut args = vec![
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let (code, _, err) = mmusim(&args);
    (code, err)
}

/// The plan: 3 x 2 points on 2 workloads (product) or 3 points (zip), numbered, ids
/// stable and distinct; a bad value is named, with its point, before anything runs.
#[test]
fn the_plan_lists_every_point_with_a_stable_id() {
    let dir = sweep_dir("product", AXES);
    let spec = dir.path().join("s.toml");
    let plan = |s: &Path| {
        let (code, out, err) = mmusim(&["sweep", "plan", s.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        out.lines().skip(1).map(str::to_string).collect::<Vec<_>>()
    };
    let p = plan(&spec);
    assert_eq!(p.len(), 12);
    assert_eq!(p, plan(&spec), "stable");
    let ids: std::collections::HashSet<&str> =
        p.iter().map(|l| l.split('\t').nth(1).unwrap()).collect();
    assert_eq!(ids.len(), 12);
    assert!(
        p[0].ends_with("tlb[0].entries=16 walker.max_concurrent_walks=1"),
        "{}",
        p[0]
    );
    let zip = sweep_dir(
        "zip",
        "[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [16, 32, 64]\n[[axis]]\nkey = \"sim.base_cpi\"\nvalues = [1.0, 1.5, 2.0]\n",
    );
    assert_eq!(plan(&zip.path().join("s.toml")).len(), 6);
    for (mode, axes, msg) in [
        (
            "zip",
            "[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [16, 32]\n[[axis]]\nkey = \"sim.base_cpi\"\nvalues = [1.0]\n",
            "has 1 values",
        ),
        (
            "product",
            "[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [16, 0]\n",
            "point 1 x every workload",
        ),
        (
            "product",
            "[[axis]]\nkey = \"tlb[0].bogus\"\nvalues = [1]\n",
            "bogus",
        ),
    ] {
        let d = sweep_dir(mode, axes);
        let (code, _, err) = mmusim(&["sweep", "plan", d.path().join("s.toml").to_str().unwrap()]);
        assert_eq!(code, 2, "{axes}: {err}");
        assert!(err.contains(msg), "{axes}: {err}");
        let out = d.path().join("o");
        let (code, _) = run(&d.path().join("s.toml"), &out, &[]);
        assert_eq!(code, 2);
        assert!(!out.join("results.jsonl").exists(), "nothing ran");
    }
}

/// Every run lands in the store once; a second run skips them all; 1 and 2 threads
/// give the same records; shards 0/2 and 1/2 together give them too.
#[test]
fn runs_resume_and_shard_and_do_not_depend_on_threads() {
    let dir = sweep_dir("product", AXES);
    let spec = dir.path().join("s.toml");
    let one = dir.path().join("one");
    let (code, err) = run(&spec, &one, &["--threads", "1"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("12 ran"), "{err}");
    let a = store(&one);
    assert_eq!(a.len(), 12);
    let (code, err) = run(&spec, &one, &["--threads", "1"]);
    assert_eq!(code, 0);
    assert!(err.contains("0 ran") && err.contains("12 already"), "{err}");
    assert_eq!(store(&one), a);
    let two = dir.path().join("two");
    run(&spec, &two, &["--threads", "2"]);
    assert_eq!(store(&two), a, "thread count changes nothing");
    let sh = dir.path().join("sh");
    for s in ["0/2", "1/2"] {
        let (code, err) = run(&spec, &sh, &["--shard", s]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("6 ran"), "{err}");
    }
    assert_eq!(store(&sh), a, "shards cover the sweep once");
    let (code, err) = run(&spec, &sh, &["--shard", "2/2"]);
    assert_eq!(code, 2, "{err}");
    // One run per task (--index K), as a scheduler without arrays would do it.
    let ix = dir.path().join("ix");
    for k in 0..12 {
        let (code, err) = run(&spec, &ix, &["--index", &k.to_string()]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("1 ran"), "{err}");
    }
    assert_eq!(store(&ix), a, "single runs cover the sweep once");
    let (code, err) = run(&spec, &ix, &["--index", "12"]);
    assert_eq!(code, 2);
    assert!(err.contains("--index 12: the sweep has 12 runs"), "{err}");
}

/// A sweep killed (SIGKILL) while it runs, then restarted: every run is in the store
/// exactly once, with the values of an uninterrupted sweep.
#[test]
fn a_killed_sweep_restarted_loses_nothing() {
    let dir = sweep_dir("product", AXES);
    let spec = dir.path().join("s.toml");
    let whole = dir.path().join("whole");
    run(&spec, &whole, &[]);
    let want = store(&whole);
    let out = dir.path().join("k");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args([
            "sweep",
            "run",
            spec.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            "1",
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some, not all, runs are in.
    let t0 = std::time::Instant::now();
    loop {
        let n = std::fs::read_to_string(out.join("results.jsonl")).map_or(0, |t| t.lines().count());
        if n >= 3 || t0.elapsed().as_secs() > 120 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let before = partial.lines().count();
    assert!(before < 12, "killed before the end ({before} lines)");
    let (code, err) = run(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(store(&out), want);
}

/// Shards in folders of their own merge into the whole sweep; a store of another
/// sweep (one axis value changed) is refused. The report: a row per run, the baseline
/// point at exactly 1, each point's geometric mean of its workloads' ratios.
#[test]
fn shards_merge_and_the_report_normalises_to_a_baseline() {
    let dir = sweep_dir("product", AXES);
    let spec = dir.path().join("s.toml");
    let whole = dir.path().join("whole");
    run(&spec, &whole, &[]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run(&spec, &a, &["--shard", "0/2"]);
    run(&spec, &b, &["--shard", "1/2"]);
    let m = dir.path().join("m");
    let (code, _, err) = mmusim(&[
        "sweep",
        "merge",
        m.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(store(&m), store(&whole));
    // Another sweep: the L1 entries 16 -> 8 changes the points' configs.
    let other = sweep_dir("product", &AXES.replace("[16, 32, 64]", "[8, 32, 64]"));
    let o = dir.path().join("o");
    run(&other.path().join("s.toml"), &o, &["--shard", "1/2"]);
    let (code, _, err) = mmusim(&[
        "sweep",
        "merge",
        dir.path().join("m2").to_str().unwrap(),
        a.to_str().unwrap(),
        o.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not shards of one sweep"), "{err}");

    let (code, csv, err) = mmusim(&[
        "sweep",
        "report",
        whole.to_str().unwrap(),
        "--baseline",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let norm = head
        .iter()
        .position(|h| *h == "cycles_vs_baseline")
        .unwrap();
    assert_eq!(head.last(), Some(&"method"));
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 12 + 6);
    assert!(rows.iter().all(|r| r.len() == head.len()));
    let last = |r: &Vec<&str>| r[norm].parse::<f64>().unwrap();
    for p in 0..6 {
        let of: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == p.to_string()).collect();
        assert_eq!(of.len(), 3);
        let (runs, g): (Vec<_>, Vec<_>) = of.into_iter().partition(|r| r[1] != "geomean");
        if p == 1 {
            assert!(runs.iter().all(|r| last(r) == 1.0));
        }
        let want = (runs.iter().map(|r| last(r).ln()).sum::<f64>() / 2.0).exp();
        assert!((last(g[0]) - want).abs() < 1e-12, "point {p}");
    }
    assert!(whole.join("cycles_normalised.svg").exists());
}

/// A store of another sweep in the output folder is refused, not mixed in.
#[test]
fn a_store_of_another_sweep_is_not_resumed() {
    let dir = sweep_dir("product", AXES);
    let out = dir.path().join("o");
    run(&dir.path().join("s.toml"), &out, &["--shard", "0/4"]);
    let spec = std::fs::read(out.join("spec.toml")).unwrap();
    let other = sweep_dir("product", &AXES.replace("[1, 2]", "[1, 3]"));
    let (code, err) = run(&other.path().join("s.toml"), &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another sweep"), "{err}");
    // Its spec copy stays: the report of the folder reads it.
    assert_eq!(std::fs::read(out.join("spec.toml")).unwrap(), spec);
}

/// A fully-associative L1 DTLB swept over its size (entries = ways, zipped), with a
/// warm-up, on a synthetic and a text-trace workload.
fn fa_dir(one_pass: bool, trace: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zipf.toml"),
        "name = \"zipf\"\naccesses = 6000\nseed = 3\ninstrs_per_access = 2\nwrite_fraction = 0.3\n[generator]\nkind = \"zipf\"\nfootprint = \"8MiB\"\nexponent = 0.9\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("t.txt"), trace).unwrap();
    std::fs::write(
        dir.path().join("t.toml"),
        "name = \"t\"\n[generator]\nkind = \"trace\"\npath = \"t.txt\"\n",
    )
    .unwrap();
    let sizes = "[1, 2, 3, 5, 8, 16, 64, 200, 1000]";
    std::fs::write(
        dir.path().join("s.toml"),
        format!(
            "name = \"fa\"\nsystem = \"skylake\"\none_pass = {one_pass}\nmode = \"zip\"\nset = [\"tlb=[{{name=\\\"fa\\\", level=1, kind=\\\"data\\\", entries=4, ways=4, page_sizes=[\\\"4K\\\"], latency=1}}, {{name=\\\"l2\\\", level=2, kind=\\\"unified\\\", entries=64, ways=4, page_sizes=[\\\"4K\\\"], latency=7}}]\", \"sim.warmup_accesses=500\"]\n[[workload]]\nname = \"zipf\"\nfile = \"zipf.toml\"\n[[workload]]\nname = \"trace\"\nfile = \"t.toml\"\n[[axis]]\nkey = \"tlb[0].entries\"\nvalues = {sizes}\n[[axis]]\nkey = \"tlb[0].ways\"\nvalues = {sizes}\n"
        ),
    )
    .unwrap();
    dir
}

/// A trace of loops over a few pages, with re-references at many distances.
fn loops(extra: &str) -> String {
    let mut t = String::new();
    for i in 0..3000u64 {
        let page = (i * 7 + i / 13) % (40 + i / 100);
        t.push_str(&format!(
            "R {:#x}\n",
            0x10_0000_0000u64 + page * 4096 + (i % 64) * 8
        ));
        if i == 1500 {
            t.push_str(extra);
        }
    }
    t
}

/// The records of a store by (point, workload).
fn by_point(dir: &Path) -> BTreeMap<(u64, String), serde_json::Value> {
    std::fs::read_to_string(dir.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                (
                    v["point"].as_u64().unwrap(),
                    v["workload"].as_str().unwrap().to_string(),
                ),
                v,
            )
        })
        .collect()
}

/// The one-pass answer equals the simulation of every size, counter for counter
/// (hits, misses, fills, evictions, lookups, rates), warm-up included; it says so,
/// marks its records, and the report says which rows the pass answered.
#[test]
fn one_pass_answers_every_fully_associative_size_as_simulation_does() {
    let fast = fa_dir(true, &loops(""));
    let full = fa_dir(false, &loops(""));
    let (a, b) = (fast.path().join("out"), full.path().join("out"));
    let (code, err) = run(&fast.path().join("s.toml"), &a, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("one pass: every geometry of `fa`"), "{err}");
    let (code, err) = run(&full.path().join("s.toml"), &b, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("one pass"), "{err}");
    let (fa, fb) = (by_point(&a), by_point(&b));
    assert_eq!(fa.len(), 18);
    let mut stack = 0;
    for (k, ra) in &fa {
        let rb = &fb[k];
        let (ta, tb) = (&ra["total"]["tlb"][0], &rb["total"]["tlb"][0]);
        assert_eq!(tb["name"], "fa");
        for f in [
            "hits",
            "misses",
            "fills",
            "evictions",
            "lookups",
            "miss_rate",
            "mpki",
        ] {
            assert_eq!(ta[f], tb[f], "{k:?} {f}");
        }
        assert!(tb["misses"].as_u64().unwrap() > 0);
        if k.0 == 0 {
            assert!(ra["method"].is_null(), "point 0 is simulated: {ra}");
            assert_eq!(ra["total"], rb["total"]);
        } else {
            assert_eq!(ra["method"], "stack", "{k:?}");
            stack += 1;
        }
    }
    assert_eq!(stack, 16);
    // Different sizes, different answers: the pass is not one size's counts repeated.
    let misses: std::collections::BTreeSet<u64> = (fa.values())
        .filter(|r| r["workload"] == "zipf")
        .map(|r| r["total"]["tlb"][0]["misses"].as_u64().unwrap())
        .collect();
    assert_eq!(misses.len(), 9, "{misses:?}");
    // Restarted, nothing runs again.
    let (code, err) = run(&fast.path().join("s.toml"), &a, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("0 ran") && err.contains("18 already"), "{err}");
    // Shards: the pass in each, the same records together.
    let sh = fast.path().join("sh");
    for s in ["0/3", "1/3", "2/3"] {
        let (code, err) = run(&fast.path().join("s.toml"), &sh, &["--shard", s]);
        assert_eq!(code, 0, "{err}");
    }
    let strip = |m: BTreeMap<(u64, String), serde_json::Value>| {
        m.into_iter()
            .map(|(k, v)| (k, (v["method"].clone(), v["total"].clone())))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(strip(by_point(&sh)), strip(by_point(&a)));
    // The report: a method column, the TLB's misses, normalised to point 0's misses.
    let (code, csv, err) = mmusim(&["sweep", "report", a.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let head: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("{n} in {head:?}"))
    };
    let (m, misses_col, norm) = (
        col("method"),
        col("tlb_fa_misses"),
        col("misses_vs_baseline"),
    );
    for line in csv.lines().skip(1).filter(|l| !l.contains("geomean")) {
        let f: Vec<&str> = line.split(',').collect();
        let k = (f[0].parse::<u64>().unwrap(), f[1].to_string());
        let want = if k.0 == 0 { "simulated" } else { "stack" };
        assert_eq!(f[m], want, "{line}");
        let mine = fa[&k]["total"]["tlb"][0]["misses"].as_u64().unwrap();
        assert_eq!(f[misses_col], mine.to_string());
        let base = fa[&(0, k.1.clone())]["total"]["tlb"][0]["misses"]
            .as_f64()
            .unwrap();
        let r: f64 = f[norm].parse().unwrap();
        assert!((r - mine as f64 / base).abs() < 1e-12, "{line}");
    }
    assert!(err.contains("LRU stack analysis"), "{err}");
}

/// Where one pass cannot answer, every point is simulated, and the reason is given:
/// a FIFO TLB (the plan says why), or a trace with OS events (the run says
/// why).
#[test]
fn one_pass_steps_aside_where_it_would_be_wrong() {
    let dir = fa_dir(true, &loops(""));
    let s = dir.path().join("s.toml");
    let text = std::fs::read_to_string(&s).unwrap();
    // Keep 4 ways while the entries grow: set-associative beyond the first point.
    let sa = text.replace("values = [1, 2, 3, 5, 8, 16, 64, 200, 1000]\n[[axis]]\nkey = \"tlb[0].ways\"\nvalues = [1, 2, 3, 5, 8, 16, 64, 200, 1000]", "values = [4, 8, 16]");
    assert_ne!(sa, text);
    // Set-associative geometries are answered too (tests/integration/onepass_geometry.rs);
    // FIFO replacement is not a stack algorithm: refused.
    let fifo = sa.replace("latency=1}, {", "latency=1, replacement=\\\"fifo\\\"}, {");
    assert_ne!(fifo, sa);
    std::fs::write(&s, fifo.replace("mode = \"zip\"\n", "")).unwrap();
    let (code, _, err) = mmusim(&["sweep", "plan", s.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("every point simulated: tlb[0] `fa` does not replace LRU"),
        "{err}"
    );
    let out = dir.path().join("o");
    let (code, err) = run(&s, &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("one pass"), "{err}");
    assert!(by_point(&out).values().all(|r| r["method"].is_null()));

    // Page replacement takes TLB entries away in a size-dependent order: refused.
    let pg = fa_dir(true, &loops(""));
    let s = pg.path().join("s.toml");
    let text = std::fs::read_to_string(&s).unwrap();
    let paged = text.replace(
        "\"sim.warmup_accesses=500\"]",
        "\"sim.warmup_accesses=500\", \"os.paging.replacement=\\\"lru\\\"\", \"os.paging.resident_pages=64\"]",
    );
    assert_ne!(paged, text);
    std::fs::write(&s, paged).unwrap();
    let (code, _, err) = mmusim(&["sweep", "plan", s.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("every point simulated: os.paging replaces pages"),
        "{err}"
    );

    // Victima answers misses from blocks of what each size's TLB evicted: refused.
    let vic = fa_dir(true, &loops(""));
    let s = vic.path().join("s.toml");
    let text = std::fs::read_to_string(&s).unwrap();
    let with = text.replace(
        "\"sim.warmup_accesses=500\"]",
        "\"sim.warmup_accesses=500\", \"victima.enable=true\"]",
    );
    assert_ne!(with, text);
    std::fs::write(&s, with).unwrap();
    let (code, _, err) = mmusim(&["sweep", "plan", s.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("every point simulated: Victima ([victima])"),
        "{err}"
    );

    let ev = fa_dir(true, &loops("munmap 0x1000000000 0x10000\n"));
    let out = ev.path().join("o");
    let (code, err) = run(&ev.path().join("s.toml"), &out, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains(
            "except where the check failed and every point was simulated: workload `trace`"
        ),
        "{err}"
    );
    let recs = by_point(&out);
    for (k, r) in &recs {
        let want = if k.1 == "trace" || k.0 == 0 {
            serde_json::Value::Null
        } else {
            "stack".into()
        };
        assert_eq!(r["method"], want, "{k:?}");
        assert!(r["error"].is_null());
    }
    assert_eq!(
        recs[&(1, "trace".to_string())]["total"]["os_events"]["munmap_calls"],
        1
    );
}

/// The plots: by default a heatmap and a line chart for two axes; the spec's
/// `[[plot]]`s otherwise, checked against the axes before anything runs.
#[test]
fn the_report_draws_the_plots_the_spec_asks_for() {
    let dir = sweep_dir("product", AXES);
    let spec = dir.path().join("s.toml");
    let out = dir.path().join("o");
    let (code, err) = run(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, csv, err) = mmusim(&["sweep", "report", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("plot-0.svg, plot-1.svg"), "{err}");
    // The heatmap: walkers (2) x L1 entries (3) cells, holding the geomeans.
    let heat = std::fs::read_to_string(out.join("plot-0.svg")).unwrap();
    assert_eq!(
        heat.lines().filter(|l| l.starts_with("<rect x=")).count(),
        6
    );
    assert!(heat.contains(">1</text>"), "the baseline's own cell is 1");
    let geo: Vec<f64> = (csv.lines())
        .filter(|l| l.contains(",geomean,"))
        .map(|l| l.split(',').rev().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(geo.len(), 6);
    assert!(geo.iter().any(|&g| g != 1.0), "{geo:?}");
    // The line chart: a line per walker count.
    let line = std::fs::read_to_string(out.join("plot-1.svg")).unwrap();
    assert_eq!(line.matches("<path").count(), 2);
    assert!(line.contains(">concurrent walks: 1<") && line.contains(">concurrent walks: 2<"));

    // Asked for: walks of `seq` along the entries, a line per walker count, named.
    let text = std::fs::read_to_string(&spec).unwrap();
    let asked = format!("{text}[[plot]]\nkind = \"line\"\nx = \"tlb[0].entries\"\nseries = \"walker.max_concurrent_walks\"\nmetric = \"walks\"\nworkload = \"seq\"\nfile = \"walks.svg\"\n[[plot]]\nkind = \"line\"\nx = \"tlb[0].entries\"\nwhere = [\"walker.max_concurrent_walks=2\"]\nfile = \"per-workload.svg\"\n");
    std::fs::write(&spec, &asked).unwrap();
    let out2 = dir.path().join("o2");
    let (code, err) = run(&spec, &out2, &[]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = mmusim(&["sweep", "report", out2.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(!out2.join("plot-0.svg").exists());
    let w = std::fs::read_to_string(out2.join("walks.svg")).unwrap();
    assert_eq!(w.matches("<path").count(), 2);
    // A line per workload and one for the geometric mean.
    let p = std::fs::read_to_string(out2.join("per-workload.svg")).unwrap();
    assert_eq!(p.matches("<path").count(), 3);
    assert!(p.contains(">geomean<") && p.contains(">seq<") && p.contains(">uni<"));

    // Wrong plots are refused up front, by name.
    for (bad, msg) in [
        (
            "[[plot]]\nkind = \"line\"\nx = \"tlb[9].entries\"\n",
            "plot[0].x: `tlb[9].entries` is not an axis of the sweep",
        ),
        (
            "[[plot]]\nkind = \"heatmap\"\nx = \"tlb[0].entries\"\n",
            "plot[0]: a heatmap needs `y`",
        ),
        (
            "[[plot]]\nkind = \"pie\"\nx = \"tlb[0].entries\"\n",
            "unknown variant `pie`",
        ),
    ] {
        std::fs::write(&spec, format!("{text}{bad}")).unwrap();
        let (code, _, err) = mmusim(&["sweep", "plan", spec.to_str().unwrap()]);
        assert_eq!(code, 2, "{bad}");
        assert!(err.contains(msg), "{err}");
    }
    // An axis the plot neither shows nor pins is named at report time.
    std::fs::write(
        &spec,
        format!("{text}[[plot]]\nkind = \"line\"\nx = \"tlb[0].entries\"\n"),
    )
    .unwrap();
    let out3 = dir.path().join("o3");
    run(&spec, &out3, &[]);
    let (code, _, err) = mmusim(&["sweep", "report", out3.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("plot[0]: axis `walker.max_concurrent_walks` takes several values in the rows plotted: pin one with where"), "{err}");
}

/// An axis keyed `system` picks each point's base config: the points run different
/// page tables (hashed walks read no radix levels), a bad name is refused up front with
/// its point, and `--report` sorts the finished store and writes the report.
#[test]
fn a_system_axis_switches_the_base_config() {
    let dir = sweep_dir(
        "product",
        "[[axis]]\nkey = \"system\"\nvalues = [\"skylake\", \"skylake-htab\"]\n",
    );
    let spec = dir.path().join("s.toml");
    let out = dir.path().join("o");
    let (code, err) = run(&spec, &out, &["--report"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("wrote report.csv"), "{err}");
    let recs = by_point(&out);
    assert_eq!(recs.len(), 4);
    let order: Vec<(u64, String)> = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["point"].as_u64().unwrap(),
                v["workload"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        order,
        recs.keys().cloned().collect::<Vec<_>>(),
        "sorted by --report"
    );
    for w in ["seq", "uni"] {
        let (r, h) = (&recs[&(0, w.to_string())], &recs[&(1, w.to_string())]);
        assert_eq!(r["axes"][0][1], "\"skylake\"");
        assert_ne!(r["id"], h["id"]);
        // Radix walks start below the walk caches; a hashed walk reads its buckets.
        assert_ne!(
            r["total"]["walks"]["pte_reads"], h["total"]["walks"]["pte_reads"],
            "{w}"
        );
        assert!(r["total"]["walks"]["walks"].as_u64().unwrap() > 0);
    }
    let text = std::fs::read_to_string(&spec).unwrap();
    std::fs::write(&spec, text.replace("\"skylake-htab\"", "\"skylake-nope\"")).unwrap();
    let (code, _, err) = mmusim(&["sweep", "plan", spec.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("point 1 x every workload") && err.contains("skylake-nope"),
        "{err}"
    );
}

/// Issue 19 item 7: a sweep whose `system` axis names the reach designs' presets runs
/// every point, and each point's walks and translation cycles equal a single
/// `mmusim run` of that preset on the same workload (the sweep adds nothing of its own).
#[test]
fn a_sweep_over_the_reach_presets_equals_single_runs() {
    let presets = [
        "skylake-colt",
        "skylake-ds",
        "skylake-pom",
        "skylake-victima",
        "skylake-rmm",
    ];
    let list: Vec<String> = presets.iter().map(|p| format!("\"{p}\"")).collect();
    let axes = format!(
        "[[axis]]\nkey = \"system\"\nvalues = [{}]\n",
        list.join(", ")
    );
    let dir = sweep_dir("product", &axes);
    let (spec, out) = (dir.path().join("s.toml"), dir.path().join("out"));
    let (code, err) = run(&spec, &out, &[]);
    assert_eq!(code, 0, "{err}");
    let points = by_point(&out);
    assert_eq!(points.len(), presets.len() * 2);
    for (i, p) in presets.iter().enumerate() {
        for w in ["seq", "uni"] {
            let single = dir.path().join(format!("{p}-{w}"));
            let wl = dir.path().join(format!("{w}.toml"));
            let (code, _, err) = mmusim(&[
                "run",
                "-q",
                "-c",
                p,
                "-w",
                wl.to_str().unwrap(),
                "--out",
                single.to_str().unwrap(),
            ]);
            assert_eq!(code, 0, "{p} {w}: {err}");
            let json: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(single.join("result.json")).unwrap())
                    .unwrap();
            let t = &json["stats"]["total"];
            let v = &points[&(i as u64, w.to_string())]["total"];
            assert!(v["error"].is_null());
            assert_eq!(v["walks"]["walks"], t["walks"]["walks"], "{p} {w}");
            assert_eq!(v["translation_cycles"], t["translation_cycles"], "{p} {w}");
        }
    }
}
