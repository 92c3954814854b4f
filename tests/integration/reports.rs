//! Reports: `result.csv` with the same columns for every preset, each figure following
//! from the run's counters; the study's and the sweep report's CSV quoted by the csv
//! crate; the sweep report's structure columns and plots; `sweep plan` refusing a bad
//! plot metric and a missing trace; the terminal summary showing what the run has.

use super::analysis::mmusim;
use super::runs::inputs;
use mmusim::report::RunReport;
use mmusim::run::simulate;
use std::collections::HashMap;
use std::path::Path;

const ZIPF: &str = "name = \"z\"\naccesses = 6000\nseed = 4\n[generator]\nkind = \"zipf\"\nfootprint = \"64MiB\"\nexponent = 0.9\n";

/// `config` on [`ZIPF`] with the default warm-up, as studies and sweeps run it.
fn run(config: &str, sets: &[&str]) -> RunReport {
    let sets: Vec<&str> = std::iter::once("sim.warmup_accesses=\"auto\"")
        .chain(sets.iter().copied())
        .collect();
    simulate(&inputs(Some(config), Some(ZIPF), &sets), &mut |_, _| {}).unwrap()
}

/// A CSV's header and rows (by the csv crate: quoted fields stay whole).
fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let head = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (head, rows)
}

/// A row as column -> cell.
fn by_name(head: &[String], row: &[String]) -> HashMap<String, String> {
    assert_eq!(head.len(), row.len());
    head.iter().cloned().zip(row.iter().cloned()).collect()
}

fn num(m: &HashMap<String, String>, k: &str) -> f64 {
    m.get(k)
        .unwrap_or_else(|| panic!("no column {k}"))
        .parse()
        .unwrap_or_else(|_| panic!("{k} = `{}` is not a number", m[k]))
}

/// The last-level MPKI and each structure's rates follow from the counts in the same
/// row; absent structures are empty; the headers of three presets are one header.
#[test]
fn result_csv_has_one_header_for_every_preset_and_its_figures_follow_from_counts() {
    let runs = [
        ("skylake", run("skylake", &[])),
        ("zen4", run("zen4", &[])),
        ("skylake-htab", run("skylake-htab", &[])),
    ];
    let parsed: Vec<_> = runs.iter().map(|(_, r)| parse(&r.to_csv())).collect();
    for (h, rows) in &parsed {
        assert_eq!(*h, parsed[0].0, "headers differ between presets");
        assert_eq!(rows.len(), 1);
    }
    let rows: Vec<HashMap<String, String>> =
        parsed.iter().map(|(h, r)| by_name(h, &r[0])).collect();
    let (sky, zen, htab) = (&rows[0], &rows[1], &rows[2]);
    // Identity.
    for ((preset, r), row) in runs.iter().zip(&rows) {
        assert_eq!(row["config"], *preset);
        assert_eq!(row["config_file"], *preset);
        assert_eq!(row["workload"], "z");
        assert_eq!(row["seed"], r.seed.to_string());
        assert_eq!(row["config_hash"], r.config_hash);
    }
    assert_eq!(
        (sky["design"].as_str(), htab["design"].as_str()),
        ("radix", "htab")
    );
    // The last level's MPKI: skylake's level 2 is stlb + stlb_1g, zen4's l2d + l2i.
    for (row, l2) in [(sky, ["stlb", "stlb_1g"]), (zen, ["l2d", "l2i"])] {
        let misses: f64 = l2
            .iter()
            .map(|t| num(row, &format!("tlb_{t}_misses")))
            .sum();
        let instrs = num(row, "instructions");
        assert!(misses > 0.0);
        assert_eq!(num(row, "stlb_misses"), misses);
        assert_eq!(num(row, "stlb_mpki"), misses * 1000.0 / instrs);
        assert_eq!(num(row, "l2_tlb_mpki"), num(row, "stlb_mpki"));
        for t in l2 {
            let (h, m) = (
                num(row, &format!("tlb_{t}_hits")),
                num(row, &format!("tlb_{t}_misses")),
            );
            if h + m > 0.0 {
                assert_eq!(num(row, &format!("tlb_{t}_miss_rate")), m / (h + m));
                assert_eq!(num(row, &format!("tlb_{t}_mpki")), m * 1000.0 / instrs);
            }
        }
    }
    // Absent structures: empty, never 0.
    for c in [
        "tlb_l2d_hits",
        "tlb_l1d_mpki",
        "psc_pml5_hit_rate",
        "pt_load_factor",
    ] {
        assert_eq!(sky[c], "", "{c}");
    }
    for c in ["tlb_stlb_hits", "tlb_l1d_4k_miss_rate"] {
        assert_eq!(zen[c], "", "{c}");
    }
    // HTAB bypasses the walk caches: no hit rate; radix has one, from its counters.
    assert_eq!(htab["psc_pd_hit_rate"], "");
    let pd = &runs[0].1.stats.total.walks.walk_caches;
    let pd = pd.iter().find(|p| p.counts.name == "pd").unwrap();
    assert_eq!(
        num(sky, "psc_pd_hit_rate"),
        pd.counts.hits as f64 / pd.counts.lookups as f64
    );
    // The design's counters, at full precision: the load factor is entries over
    // slots (8 a group), read back to the same f64.
    let slots = num(htab, "pt_groups") * 8.0;
    assert_eq!(num(htab, "pt_load_factor"), num(htab, "pt_entries") / slots);
    assert_eq!(
        num(htab, "pt_bytes"),
        runs[2].1.stats.page_table_bytes as f64
    );
    assert_eq!(sky["pt_levels"], "4");
    // Shootdown counters are there (0: one core).
    assert_eq!(sky["shootdowns"], "0");
}

/// A study whose workload name holds a comma: quoted, every row as long as the header.
#[test]
fn the_study_csv_quotes_a_name_with_a_comma() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), ZIPF).unwrap();
    std::fs::write(
        dir.path().join("spec.toml"),
        "name = \"q\"\nmetrics = [\"walks\", \"translation_share\"]\n[[system]]\nname = \"a, b\"\nfile = \"skylake\"\n[[workload]]\nname = \"zipf, 300k\"\nfile = \"w.toml\"\n",
    )
    .unwrap();
    let csv = mmusim::study::run_study(&dir.path().join("spec.toml"), None, &|_, _| {}).unwrap();
    assert_eq!(
        csv.lines()
            .nth(1)
            .unwrap()
            .split(',')
            .take(3)
            .collect::<Vec<_>>(),
        ["\"a", " b\"", "\"zipf"]
    );
    let (head, rows) = parse(&csv);
    assert_eq!(head, ["system", "workload", "walks", "translation_share"]);
    assert_eq!(rows[0][..2], ["a, b", "zipf, 300k"]);
    let r = run("skylake", &[]);
    assert_eq!(rows[0][2], r.stats.total.walks.walks.to_string());
    // Full precision: the share reads back as the same number.
    assert_eq!(
        rows[0][3].parse::<f64>().unwrap(),
        r.stats.total.translation_share
    );
}

/// A sweep of two designs on a workload named with a comma: the report's columns do
/// not shift, it has each TLB's and the last level's figures, the design's counters
/// for the hashed design only, and draws `stlb_mpki`.
#[test]
fn the_sweep_report_has_structure_columns_and_plots_stlb_mpki() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), ZIPF).unwrap();
    let spec = dir.path().join("s.toml");
    std::fs::write(
        &spec,
        "name = \"d\"\nsystem = \"skylake\"\n[[workload]]\nname = \"zipf, 300k\"\nfile = \"w.toml\"\n[[axis]]\nkey = \"system\"\nvalues = [\"skylake\", \"skylake-htab\"]\n[[plot]]\nkind = \"bars\"\nx = \"system\"\nmetric = \"stlb_mpki\"\nfile = \"mpki.svg\"\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = mmusim(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
    ]);
    assert_eq!(code, 0, "{err}");
    // It names the spec it used: the copy in the output folder.
    assert!(
        err.contains(&format!("spec: {}", out.join("spec.toml").display())),
        "{err}"
    );
    assert!(out.join("mpki.svg").exists());
    let (head, rows) = parse(&std::fs::read_to_string(out.join("report.csv")).unwrap());
    let rows: Vec<HashMap<String, String>> = rows.iter().map(|r| by_name(&head, r)).collect();
    assert_eq!(rows.len(), 4, "two runs and two geomean rows");
    let radix = &rows[0];
    let htab = &rows[2];
    for r in [radix, htab] {
        assert_eq!(r["workload"], "zipf, 300k");
        let misses = num(r, "tlb_stlb_misses") + num(r, "tlb_stlb_1g_misses");
        assert_eq!(
            num(r, "stlb_mpki"),
            misses * 1000.0 / num(r, "instructions")
        );
        assert_eq!(r["method"], "simulated");
    }
    assert_eq!(
        (radix["design"].as_str(), htab["design"].as_str()),
        ("radix", "htab")
    );
    assert_eq!(htab["psc_pd_hit_rate"], "");
    assert!(num(radix, "psc_pd_hit_rate") > 0.0);
    assert_eq!(radix["pt_load_factor"], "");
    assert_eq!(
        num(htab, "pt_load_factor"),
        num(htab, "pt_entries") / (num(htab, "pt_groups") * 8.0)
    );
    assert_eq!(num(radix, "cycles_vs_baseline"), 1.0);
    // The same run alone gives the same cycles.
    assert_eq!(
        num(htab, "cycles"),
        run("skylake-htab", &[]).stats.total.cycles as f64
    );
}

/// `sweep plan` refuses, before anything runs, a plot metric the report will not have
/// (naming the valid ones) and a trace that cannot be read (naming it).
#[test]
fn sweep_plan_refuses_a_bad_metric_and_a_missing_trace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("w.toml"), ZIPF).unwrap();
    std::fs::write(
        dir.path().join("t.toml"),
        "name = \"t\"\n[generator]\nkind = \"trace\"\npath = \"gone.mmt\"\n",
    )
    .unwrap();
    let spec = |workload: &str, metric: &str| {
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            format!("name = \"d\"\nsystem = \"skylake\"\n[[workload]]\nname = \"w\"\nfile = \"{workload}\"\n[[axis]]\nkey = \"tlb[5].entries\"\nvalues = [768, 1536]\n[[plot]]\nkind = \"line\"\nx = \"tlb[5].entries\"\nmetric = \"{metric}\"\n"),
        )
        .unwrap();
        p
    };
    let plan = |p: &Path| mmusim(&["sweep", "plan", p.to_str().unwrap()]);
    // Valid: the last level's MPKI, a structure's miss rate, a walk cache's hit rate.
    for m in [
        "stlb_mpki",
        "tlb_stlb_miss_rate",
        "psc_pd_hit_rate",
        "cycles_vs_baseline",
    ] {
        let (code, _, err) = plan(&spec("w.toml", m));
        assert_eq!(code, 0, "{m}: {err}");
    }
    // Unknown, and a hashed design's counter on a radix sweep, and a TLB zen4 has.
    for m in ["stlb_mpkx", "pt_load_factor", "tlb_l2d_mpki"] {
        let (code, _, err) = plan(&spec("w.toml", m));
        assert_eq!(code, 2, "{m}: {err}");
        assert!(err.contains(&format!("plot[0].metric: `{m}`")), "{err}");
        assert!(
            err.contains("stlb_mpki") && err.contains("tlb_stlb_miss_rate"),
            "{err}"
        );
    }
    // A missing trace: named, and `sweep run` writes nothing.
    let p = spec("t.toml", "walks");
    let (code, _, err) = plan(&p);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gone.mmt") && err.contains("cannot read"),
        "{err}"
    );
    let out = dir.path().join("out");
    let (code, _, err) = mmusim(&[
        "sweep",
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(!out.exists());
}

/// Threads of one process on two cores; one unmaps pages: shootdowns.
fn shootdown_run() -> RunReport {
    let list: Vec<String> = (0..16).map(|p| p.to_string()).collect();
    let wl = format!(
        "name = \"sd\"\naccesses = 4000\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n[[event]]\nat = 1000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"8KiB\"\n",
        list.join(" ")
    );
    simulate(
        &inputs(
            Some("skylake"),
            Some(&wl),
            &["sim.cores=2", "os.sched.threads=2"],
        ),
        &mut |_, _| {},
    )
    .unwrap()
}

/// The summary has sections for what the run has, and nothing for what it has not;
/// every line fits in 100 columns.
#[test]
fn the_summary_shows_what_the_run_has() {
    let radix = run("skylake", &[]).to_table();
    let htab = run("skylake-htab", &[]).to_table();
    let sd = shootdown_run();
    let sd_table = sd.to_table();
    for t in [&radix, &htab, &sd_table] {
        for l in t.lines() {
            assert!(l.len() <= 100, "{} columns: {l}", l.len());
        }
    }
    // Walk caches: listed for radix, not for the design that bypasses them.
    assert!(radix.contains("walk cache pd "), "{radix}");
    assert!(!htab.contains("walk cache pd"), "{htab}");
    assert!(htab.contains("walk caches: bypassed"), "{htab}");
    // The design's counters: the hashed table's load factor and evictions.
    assert!(
        htab.contains("page table htab (whole run):") && htab.contains("load_factor"),
        "{htab}"
    );
    assert!(htab.contains("evictions 0"), "{htab}");
    assert!(!radix.contains("load_factor"), "{radix}");
    // Shootdowns only when any happened, with the figures of the report.
    assert!(!radix.contains("shootdowns"), "{radix}");
    let s = &sd.stats.total.shootdown;
    assert!(s.shootdowns > 0);
    let want = format!("shootdowns {}  IPIs {}", s.shootdowns, s.ipis_sent);
    assert!(sd_table.contains(&want), "{want} in\n{sd_table}");
    assert!(sd_table.contains(&format!("initiator stall {} cycles", s.initiator_cycles)));
    // OS: faults and their share of translation cycles.
    let t = &sd.stats.total;
    let share = 100.0 * t.translation_cycles.fault as f64 / t.translation_cycles.total as f64;
    assert!(
        sd_table.contains(&format!("share of translation {share:.2}%")),
        "{sd_table}"
    );
    assert!(sd_table.contains("munmap 1"), "{sd_table}");
    // A level's aggregate only where the level has several structures: zen4's level 2
    // has two; a config with one L1 TLB has none.
    assert!(run("zen4", &[]).to_table().contains("(level 2)"));
    let one = run(
        "skylake",
        &["tlb=[{name=\"only\", level=1, kind=\"unified\", entries=64, ways=4, page_sizes=[\"4K\"], latency=1}]"],
    )
    .to_table();
    assert!(one.contains("only ") && !one.contains("(level"), "{one}");
}

#[test]
fn summary_snapshots() {
    insta::assert_snapshot!("summary_radix", run("skylake", &[]).to_table());
    insta::assert_snapshot!("summary_htab", run("skylake-htab", &[]).to_table());
    insta::assert_snapshot!("summary_shootdowns", shootdown_run().to_table());
}

/// The canonical TLB columns are the union of the presets' TLB names, in preset order,
/// but for the POM-TLB partitions of skylake-pom (columns only where a run has them).
#[test]
fn the_canonical_tlbs_are_the_presets() {
    use mmusim::config::TlbOrganisation;
    use mmusim::report::columns::PRESET_TLBS;
    let mut names: Vec<String> = Vec::new();
    for (p, _) in mmusim::run::PRESETS {
        let i = inputs(Some(p), Some(ZIPF), &[]);
        for t in &i.system.tlb {
            if t.organisation != TlbOrganisation::Pom && !names.contains(&t.name) {
                names.push(t.name.clone());
            }
        }
    }
    assert_eq!(names, PRESET_TLBS);
}

/// Every design's reported counters are columns listed for it, and every listed
/// column is reported by its design (cuckoo with its walk cache and huge pages).
#[test]
fn every_design_counter_is_a_column() {
    use mmusim::report::columns::{StatsView, DESIGN_COUNTERS};
    // With its walk cache, and small tables that are resizing when the run ends.
    let cuckoo = [
        "page_table.walk_cache_entries=64",
        "page_table.walk_cache_ways=4",
        "page_table.initial_entries=64",
        "page_table.rehash_per_insert=1",
    ];
    let huge = |size: &str| {
        [
            "os.huge_pages.policy=\"always\"".to_string(),
            format!("os.huge_pages.sizes=[\"{size}\"]"),
        ]
    };
    let (h2, h1) = (huge("2M"), huge("1G"));
    let h2: Vec<&str> = h2.iter().map(String::as_str).collect();
    let h1: Vec<&str> = h1.iter().map(String::as_str).collect();
    let runs: Vec<(&str, &[&str])> = vec![
        ("skylake", &[]),
        ("skylake-flattened", &[]),
        ("skylake-htab", &[]),
        ("skylake-inverted", &[]),
        ("skylake-clustered", &[]),
        ("skylake-cuckoo", &cuckoo),
        ("skylake-cuckoo", &h2),
        ("skylake-cuckoo", &h1),
    ];
    let mut seen: Vec<(String, String)> = Vec::new();
    for (p, sets) in runs {
        let r = run(p, sets);
        let empty = serde_json::Value::Null;
        let v = StatsView {
            total: &empty,
            page_tables: &r.stats.page_tables,
        };
        let design = v.design().unwrap().to_string();
        for (k, _) in v.design_counters() {
            assert!(
                DESIGN_COUNTERS
                    .iter()
                    .any(|(c, ds)| *c == k && ds.contains(&design.as_str())),
                "{design} reports `{k}`: add (\"{k}\", [..\"{design}\"]) to DESIGN_COUNTERS"
            );
            seen.push((k, design.clone()));
        }
    }
    let mut missing = Vec::new();
    for (c, ds) in DESIGN_COUNTERS {
        // A table's old size exists only while that size's table resizes: the 4K
        // table's stands for the others.
        let c = if c.ends_with("_old_entries_per_way") {
            "tables_4k_old_entries_per_way"
        } else {
            c
        };
        for d in *ds {
            if !seen.contains(&(c.to_string(), d.to_string())) {
                missing.push(format!("{c} ({d})"));
            }
        }
    }
    assert!(missing.is_empty(), "listed but never reported: {missing:?}");
}
