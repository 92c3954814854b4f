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
            "point 1 x workload `seq`",
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
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 12 + 6);
    let last = |r: &Vec<&str>| r.last().unwrap().parse::<f64>().unwrap();
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
    let other = sweep_dir("product", &AXES.replace("[1, 2]", "[1, 3]"));
    let (code, err) = run(&other.path().join("s.toml"), &out, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("another sweep"), "{err}");
}
