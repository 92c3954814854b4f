//! `mmusim run --timeline W`: the windows sum to the run's totals, their number is
//! ceil(accesses / W) per core, result.json does not change, and a change of locality
//! shows in the window where it happens.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn dir(name: &str) -> tempfile::TempDir {
    // A fresh folder per call (tempfile): a name from the pid alone is shared by the
    // tests of one process and by a later process with the same pid (issue 17 item 16).
    tempfile::Builder::new()
        .prefix(&format!("mmusim-timeline-{name}-"))
        .tempdir()
        .unwrap()
}

fn run(out: &Path, args: &[&str]) {
    let o = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["run", "-q", "--out", out.to_str().unwrap()])
        .args(args)
        .output()
        .expect("runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// CSV rows as maps from column name to text.
fn rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            head.iter()
                .zip(l.split(','))
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

fn num(r: &std::collections::HashMap<String, String>, k: &str) -> u64 {
    r[k].parse().unwrap_or_else(|_| panic!("{k} = {}", r[k]))
}

#[test]
fn windows_sum_to_the_totals_and_result_json_is_unchanged() {
    let (tp, tw) = (dir("plain"), dir("with"));
    let (plain, with) = (tp.path(), tw.path());
    // Two cores, a warm-up, and a length that leaves a partial last window:
    // 10007 - 1000 = 9007 measured accesses per core, 10 windows of 1000.
    let args = [
        "--set",
        "sim.cores=2",
        "--set",
        "sim.warmup_accesses=1000",
        "--set",
        "workload.accesses=10007",
    ];
    run(plain, &args);
    let mut targs = args.to_vec();
    targs.extend(["--timeline", "1000"]);
    run(with, &targs);
    let a = std::fs::read(plain.join("result.json")).unwrap();
    let b = std::fs::read(with.join("result.json")).unwrap();
    assert!(a == b, "result.json differs with --timeline");
    assert!(!String::from_utf8_lossy(&b).contains("timeline"));
    assert!(!plain.join("timeline.csv").exists());
    let svg = std::fs::read_to_string(with.join("timeline.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("L1 TLB"));

    let json: Value = serde_json::from_slice(&b).unwrap();
    let rs = rows(&with.join("timeline.csv"));
    for (c, core) in json["stats"]["cores"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let mine: Vec<_> = rs.iter().filter(|r| num(r, "core") == c as u64).collect();
        let accesses = core["accesses"].as_u64().unwrap();
        assert_eq!(accesses, 9007);
        assert_eq!(mine.len() as u64, accesses.div_ceil(1000));
        for (i, r) in mine.iter().enumerate() {
            assert_eq!(num(r, "window"), i as u64);
            assert_eq!(num(r, "first_access"), 1000 * i as u64);
        }
        let sum = |k: &str| mine.iter().map(|r| num(r, k)).sum::<u64>();
        let level = |l: usize, k: &str| core["tlb_levels"][l][k].as_u64().unwrap();
        assert_eq!(sum("accesses"), accesses);
        assert_eq!(
            sum("l1_hits"),
            level(0, "data_hits") + level(0, "instruction_hits")
        );
        assert_eq!(
            sum("l2_hits"),
            level(1, "data_hits") + level(1, "instruction_hits")
        );
        assert_eq!(sum("walks"), core["walks"]["walks"].as_u64().unwrap());
        assert_eq!(
            sum("translation_cycles"),
            core["translation_cycles"]["total"].as_u64().unwrap()
        );
        assert_eq!(sum("cycles"), core["cycles"].as_u64().unwrap());
        assert_eq!(
            sum("faults"),
            core["minor_faults"].as_u64().unwrap()
                + core["paging"]["major_faults"].as_u64().unwrap()
        );
        // Resident memory is a level: the last window ends at the run's figure, and it
        // never falls without evictions.
        let resident: Vec<u64> = mine.iter().map(|r| num(r, "resident_bytes")).collect();
        assert_eq!(
            *resident.last().unwrap(),
            core["huge_pages"]["mapped_bytes"].as_u64().unwrap()
        );
        assert!(resident.windows(2).all(|w| w[0] <= w[1]));
        // Rates are the counts' ratios.
        for r in &mine {
            let rate: f64 = r["l1_hit_rate"].parse().unwrap();
            let exact = num(r, "l1_hits") as f64 / num(r, "accesses") as f64;
            assert!((rate - exact).abs() < 1e-6);
        }
    }
}

#[test]
fn a_change_of_locality_shows_in_its_window() {
    let td = dir("phase");
    let d = td.path();
    // 2000 references cycling over 4 pages (L1 hits after the first 4), then 50 rounds
    // of a cyclic loop over 80 pages. The L1 DTLB (64 entries, 4 ways, 16 sets, LRU)
    // gets 5 of the 80 pages per set in a cycle: LRU evicts each just before its reuse,
    // so the loop never hits in L1 (after the first round, where pages 1-4 still hit).
    // The 1536-entry STLB holds all 80: from the second round on, every access hits there.
    let refs = d.join("phase.refs");
    let loop80: Vec<String> = (1..=80).map(|p| p.to_string()).collect();
    std::fs::write(&refs, format!("(1 2 3 4)x500 ({})x50\n", loop80.join(" "))).unwrap();
    run(
        d,
        &["--trace", refs.to_str().unwrap(), "--timeline", "1000"],
    );
    let rs = rows(&d.join("timeline.csv"));
    assert_eq!(rs.len(), 6); // 2000 + 4000 accesses
    let rate = |i: usize, k: &str| -> f64 { rs[i][k].parse().unwrap() };
    // Windows 0 and 1: the 4-page loop. Only the 4 first touches miss.
    assert_eq!(num(&rs[0], "l1_hits"), 996);
    assert_eq!(num(&rs[1], "l1_hits"), 1000);
    // Window 2 holds the first 1000 references of the 80-page loop: the drop.
    assert!(rate(2, "l1_hit_rate") <= 0.004, "{:?}", rs[2]);
    for (i, r) in rs.iter().enumerate().skip(3) {
        assert_eq!(num(r, "l1_hits"), 0, "window {i}");
        assert_eq!(rate(i, "l2_hit_rate"), 1.0);
        assert_eq!(num(r, "walks"), 0);
    }
    // The first round's 76 new pages miss both levels in window 2 (each faults, so walks twice).
    assert_eq!(num(&rs[2], "walks"), 2 * 76);
}

#[test]
fn a_zero_window_is_an_error() {
    let o = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["run", "-q", "--timeline", "0"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--timeline") && err.contains("at least one access"),
        "{err}"
    );
}
