//! `mmusim compare` (issue 16, point 1): the side-by-side table (snapshot), its columns
//! equal to `mmusim run` of the same system and workload, the `+key=value` syntax,
//! compare.csv and the SVGs, and input refused before anything runs.

use super::analysis::mmusim;
use std::collections::HashMap;
use std::path::Path;

/// A small comparison on the shipped workloads (tests run in the package root).
#[test]
fn compare_table_snapshot() {
    let (code, out, err) = mmusim(&[
        "compare",
        "-c",
        "skylake,skylake-htab",
        "-c",
        "skylake+os.huge_pages.policy=always",
        "-w",
        "workloads/sequential-hits.toml,workloads/default.toml+accesses=4000",
        "--set",
        "workload.accesses=3000",
    ]);
    assert_eq!(code, 0, "{err}");
    insta::assert_snapshot!("compare_table", out);
}

/// compare.csv as a map per (system, workload) of column -> field.
fn csv_rows(dir: &Path) -> HashMap<(String, String), HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("compare.csv")).unwrap();
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    let mut out = HashMap::new();
    for rec in r.records() {
        let rec = rec.unwrap();
        let row: HashMap<String, String> = header
            .iter()
            .cloned()
            .zip(rec.iter().map(String::from))
            .collect();
        out.insert((row["system"].clone(), row["workload"].clone()), row);
    }
    out
}

/// The cells after `label` on the table line that starts with it.
fn row(table: &str, label: &str) -> Vec<String> {
    let l = (table.lines())
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` in\n{table}"));
    l[label.len()..]
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn run_json(args: &[&str], dir: &Path) -> serde_json::Value {
    let mut a = vec!["run", "-q", "--out", dir.to_str().unwrap()];
    a.extend(args);
    let (code, _, err) = mmusim(&a);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap()
}

/// Each column holds the numbers `mmusim run` writes for that system and workload,
/// the `+` overrides of a system and of a workload meaning what `--set` means.
#[test]
fn compare_columns_equal_run() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let (code, _, err) = mmusim(&[
        "compare",
        "-c",
        "skylake-htab,zen4+tlb.stlb.entries=6144+os.huge_pages.policy=always",
        "-w",
        "workloads/default.toml+accesses=5000",
        "--baseline",
        "zen4+tlb.stlb.entries=6144+os.huge_pages.policy=always",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows = csv_rows(&out);
    let wl = "workloads/default.toml+accesses=5000";
    let runs = [
        ("skylake-htab", vec!["-c", "skylake-htab"], "htab"),
        (
            "zen4+tlb.stlb.entries=6144+os.huge_pages.policy=always",
            vec![
                "-c",
                "zen4",
                "--set",
                "tlb[2].entries=6144",
                "--set",
                "os.huge_pages.policy=always",
            ],
            "radix",
        ),
    ];
    let mut cycles = Vec::new();
    for (i, (sys, args, design)) in runs.iter().enumerate() {
        let mut a = args.clone();
        a.extend([
            "-w",
            "workloads/default.toml",
            "--set",
            "workload.accesses=5000",
        ]);
        let j = run_json(&a, &tmp.path().join(format!("run{i}")));
        let t = &j["stats"]["total"];
        let row = &rows[&(sys.to_string(), wl.to_string())];
        let num = |k: &str| {
            row[k]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{k}: {}", row[k]))
        };
        assert_eq!(row["design"], *design);
        assert_eq!(row["config"], j["config"]["name"].as_str().unwrap());
        assert_eq!(row["workload_name"], "zipf-4g");
        assert_eq!(row["seed"], j["seed"].to_string());
        assert_eq!(num("cycles"), t["cycles"].as_f64().unwrap());
        assert_eq!(
            num("translation_cycles"),
            t["translation_cycles"]["total"].as_f64().unwrap()
        );
        assert_eq!(
            num("translation_cycles_excl_faults"),
            (t["translation_cycles"]["total"].as_u64().unwrap()
                - t["translation_cycles"]["fault"].as_u64().unwrap()) as f64
        );
        assert_eq!(
            num("translation_share"),
            t["translation_share"].as_f64().unwrap()
        );
        assert_eq!(num("walks"), t["walks"]["walks"].as_f64().unwrap());
        // result.csv's columns follow: every TLB structure by name, every walk cache.
        for tlb in t["tlb"].as_array().unwrap() {
            let name = tlb["name"].as_str().unwrap();
            assert_eq!(
                num(&format!("tlb_{name}_misses")),
                tlb["misses"].as_f64().unwrap()
            );
        }
        for p in t["walks"]["walk_caches"].as_array().unwrap() {
            let k = format!("psc_{}_hit_rate", p["name"].as_str().unwrap());
            if *design == "htab" {
                assert_eq!(row[&k], "", "a hashed design bypasses {k}");
            } else {
                assert_eq!(num(&k), p["hit_rate"].as_f64().unwrap());
            }
        }
        assert_eq!(
            num("pte_reads_per_walk"),
            t["walks"]["pte_reads_per_walk"].as_f64().unwrap()
        );
        let levels = t["tlb_levels"].as_array().unwrap();
        assert_eq!(
            num("stlb_mpki"),
            levels.last().unwrap()["mpki"].as_f64().unwrap()
        );
        assert_eq!(
            num("walk_latency_mean"),
            t["walks"]["latency"]["mean"].as_f64().unwrap()
        );
        assert_eq!(num("minor_faults"), t["minor_faults"].as_f64().unwrap());
        assert_eq!(
            num("page_table_bytes"),
            j["stats"]["page_table_bytes"].as_f64().unwrap()
        );
        if *design == "htab" {
            let pt = &j["stats"]["page_tables"][0];
            assert_eq!(num("page_table.inserts"), pt["inserts"].as_f64().unwrap());
            assert_eq!(
                num("page_table.load_factor"),
                pt["load_factor"].as_f64().unwrap()
            );
        } else {
            assert_eq!(row["page_table.inserts"], "", "absent counters are empty");
            // The override took: huge pages were mapped, and the STLB is the bigger one.
            assert_eq!(j["config"]["os"]["huge_pages"]["policy"], "always");
            assert_eq!(j["config"]["tlb"][2]["entries"], 6144);
        }
        cycles.push(t["cycles"].as_f64().unwrap());
    }
    // Ratios are to the baseline given (the second system).
    let row = &rows[&(runs[0].0.to_string(), wl.to_string())];
    assert_eq!(
        row["cycles_ratio"].parse::<f64>().unwrap(),
        cycles[0] / cycles[1]
    );
    let row = &rows[&(runs[1].0.to_string(), wl.to_string())];
    assert_eq!(row["cycles_ratio"], "1");
    // One SVG per metric, bars normalised to the baseline.
    let svg = std::fs::read_to_string(out.join("cycles.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("relative to S2"),
        "{svg}"
    );
}

/// A trace file is a workload too (by its extension), and a name the table shows.
#[test]
fn compare_takes_a_trace() {
    let (code, out, err) = mmusim(&[
        "compare",
        "-c",
        "skylake,skylake-cuckoo",
        "-w",
        "workloads/traces/ls.mmt.xz+accesses=3000",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("workload `workloads/traces/ls.mmt.xz+accesses=3000` (ls.mmt.xz)"),
        "{out}"
    );
    assert!(
        out.contains("cuckoo (whole run): probe_reads_per_walk"),
        "{out}"
    );
}

/// Bad systems, workloads, overrides and baselines are refused before anything runs,
/// each problem once, naming whose it is; exit 2.
#[test]
fn compare_refuses_bad_input_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("never");
    let (code, stdout, err) = mmusim(&[
        "compare",
        "-c",
        "skylake,skylak,zen4+tlb.stlb.ways=7",
        "-w",
        "workloads/default.toml,workloads/sequential-hits.toml+acesses=10",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(!out.exists(), "nothing ran, nothing written");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("error: system `skylak`: skylak: cannot read")
            && lines[0].ends_with("did you mean preset `skylake`?"),
        "{err}"
    );
    assert!(
        lines[1].starts_with("error: system `zen4+tlb.stlb.ways=7`: --set tlb.stlb.ways=7: tlb.stlb.ways: entries (3072) are not divisible by ways (7)"),
        "{err}"
    );
    assert!(
        lines[2].starts_with("error: workload `workloads/sequential-hits.toml+acesses=10`: --set workload.acesses=10: workload.acesses: unknown field `acesses`")
            && lines[2].ends_with("did you mean `accesses`?"),
        "{err}"
    );
    let (code, _, err) = mmusim(&["compare", "-c", "skylake,zen4", "--baseline", "zen5"]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "--baseline zen5: not one of the systems (skylake, zen4); did you mean `zen4`?"
        ),
        "{err}"
    );
    let (code, _, err) = mmusim(&["compare", "-c", "zen4,zen4"]);
    assert_eq!(code, 2);
    assert!(err.contains("system `zen4` is given twice"), "{err}");
}

/// Shootdown rows appear when a run has shootdowns; a design's counters of several
/// address spaces are summed and say so; config values echoed in the stats (radix
/// `levels`) are not counters.
#[test]
fn compare_shows_shootdowns_and_summed_design_counters() {
    let dir = tempfile::tempdir().unwrap();
    let wl = dir.path().join("two.toml");
    // Two processes of two threads; process 0 unmaps one page while its other thread
    // holds it: one shootdown. Each process touches 4 pages of one 2M region: one
    // table per radix level, 4 tables per process.
    std::fs::write(&wl, "name = \"two\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3\"\n[[event]]\nat = 1000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"4KiB\"\n").unwrap();
    let (code, out, err) = mmusim(&[
        "compare",
        "-c",
        "skylake,skylake-cuckoo",
        "-w",
        wl.to_str().unwrap(),
        "--set",
        "sim.cores=4",
        "--set",
        "os.sched.processes=2",
        "--set",
        "os.sched.threads=2",
    ]);
    assert_eq!(code, 0, "{err}");
    let row = |label: &str| row(&out, label);
    assert_eq!(row("TLB shootdowns"), ["1", "1", "(1.000x)"]);
    assert_eq!(
        row("radix (whole run): tables (sum of 2 tables)"),
        ["8", "-"]
    );
    assert!(!out.contains("radix (whole run): levels"), "{out}");
    assert!(!out.contains("cuckoo (whole run): ways"), "{out}");
}

/// The reach-extending designs' rows (issue 19): the direct segment's share of accesses
/// and a coalescing STLB's pages per fill and reach appear for the runs that have them
/// (a dash for the others) and equal what `mmusim run` of the same system writes.
#[test]
fn compare_shows_the_reach_designs_figures() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = mmusim(&[
        "compare",
        "-c",
        "skylake,skylake-colt,skylake-ds",
        "--set",
        "workload.accesses=20000",
    ]);
    assert_eq!(code, 0, "{err}");
    let row = |label: &str| row(&out, label);
    let colt = run_json(
        &["-c", "skylake-colt", "--set", "workload.accesses=20000"],
        dir.path(),
    );
    let stlb = (colt["stats"]["total"]["tlb"].as_array().unwrap().iter())
        .find(|t| t["name"] == "stlb")
        .unwrap()
        .clone();
    let held = stlb["coalesced"]["pages_held"].as_u64().unwrap();
    let r = row("stlb (coalesced): pages its entries cover at the end");
    assert_eq!(r[0], "-");
    assert_eq!(r[1].replace(',', ""), held.to_string());
    assert_eq!(r[2], "-");
    let r = row("accesses served by the direct segment");
    assert_eq!((r[0].as_str(), r[1].as_str()), ("-", "-"));
    // The preset's segment covers the default heap: every access.
    assert!(r[2].starts_with('1'), "{r:?}");
}
