//! Components by name (issue 16, point 3): `tlb.stlb.entries` and the like wherever an
//! index path works, across presets that order their TLBs differently; "did you mean"
//! on misspelt keys, presets and component names; a geometry error of a sweep reported
//! once with the key to set.

use super::analysis::mmusim;
use mmusim::run::load_inputs;
use std::collections::BTreeMap;
use std::path::Path;

const WORKLOAD: &str = "name = \"uni\"\naccesses = 20000\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"32MiB\"\n";

/// The positions come from configs/: skylake's sixth `[[tlb]]` is `stlb` (level 2,
/// unified, 4K and 2M); zen4's third is `l2d` (level 2, data, 4K and 2M), its first
/// `l1d` and second `l1i`; walk caches pml4, pdpt, pd; caches l1d, l2, l3.
#[test]
fn names_and_roles_address_the_same_structure_as_indices() {
    let sys = |preset: &str, set: &str| {
        load_inputs(Some(preset), None, &[set.to_string()])
            .unwrap_or_else(|e| panic!("{preset} {set}: {e:?}"))
            .system
    };
    assert_eq!(sys("skylake", "tlb.stlb.entries=3072").tlb[5].entries, 3072);
    assert_eq!(sys("zen4", "tlb.stlb.entries=6144").tlb[2].entries, 6144);
    assert_eq!(sys("zen4", "tlb.l2i.entries=1024").tlb[3].entries, 1024);
    assert_eq!(sys("skylake", "tlb.l1d.entries=128").tlb[0].entries, 128);
    assert_eq!(sys("skylake", "tlb.l1i.entries=256").tlb[3].entries, 256);
    assert_eq!(sys("zen4", "tlb.l1i.latency=2").tlb[1].latency, 2);
    assert_eq!(sys("icelake", "tlb.stlb.latency=11").tlb[5].latency, 11);
    assert_eq!(
        sys("skylake", "walker.psc.pd.entries=64").walker.psc[2].entries,
        64
    );
    let c = sys("zen4", "memory.cache.l2.size=2MiB");
    assert_eq!(c.memory.cache[1].size.0, 2 << 20);
    // A whole element by name; the preset-derived file (extends) resolves after the merge.
    let c = sys("skylake-htab", "tlb.stlb_1g.entries=32");
    assert_eq!(c.tlb[6].entries, 32);
    // The same config as the index path, byte for byte.
    assert_eq!(
        sys("zen4", "tlb.stlb.ways=12"),
        sys("zen4", "tlb[2].ways=12")
    );
}

/// `mmusim show` and `explain` take name paths like `run` does.
#[test]
fn show_and_explain_take_name_paths() {
    let (code, out, err) = mmusim(&["show", "-c", "zen4", "--set", "tlb.stlb.latency=11"]);
    assert_eq!(code, 0, "{err}");
    let v: toml::Table = toml::from_str(&out).unwrap();
    assert_eq!(v["tlb"][2]["name"].as_str(), Some("l2d"));
    assert_eq!(v["tlb"][2]["latency"].as_integer(), Some(11));
    let (code, _, err) = mmusim(&["explain", "0x1000", "--set", "walker.psc.pd.latency=3"]);
    assert_eq!(code, 0, "{err}");
}

fn write_sweep(dir: &Path, file: &str, system: &str, axes: &str) {
    std::fs::write(dir.join("uni.toml"), WORKLOAD).unwrap();
    std::fs::write(
        dir.join(file),
        format!(
            "name = \"n\"\nsystem = \"{system}\"\none_pass = false\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n{axes}"
        ),
    )
    .unwrap();
}

/// (system, entries) -> (id, total) of a finished sweep's store.
fn results(dir: &Path, spec: &str) -> BTreeMap<(String, String), (String, String)> {
    let out = dir.join(format!("{spec}-out"));
    let (code, _, err) = mmusim(&[
        "sweep",
        "run",
        dir.join(spec).to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(r["error"].is_null(), "{line}");
        let axes: BTreeMap<String, String> = (r["axes"].as_array().unwrap().iter())
            .map(|a| (a[0].as_str().unwrap().into(), a[1].as_str().unwrap().into()))
            .collect();
        let system = axes
            .get("system")
            .map_or(spec.to_string(), |s| s.replace('"', ""));
        let entries = (axes.iter())
            .find(|(k, _)| k.contains("entries"))
            .unwrap()
            .1
            .clone();
        m.insert(
            (system, entries),
            (
                r["id"].as_str().unwrap().to_string(),
                r["total"].to_string(),
            ),
        );
    }
    m
}

/// One sweep spanning skylake and zen4 with the axis `tlb.stlb.entries` gives the runs
/// (same ids, same statistics) of the index sweeps `tlb[5].entries` on skylake and
/// `tlb[2].entries` on zen4.
#[test]
fn one_sweep_spans_presets_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_sweep(
        d,
        "both.toml",
        "skylake",
        "[[axis]]\nkey = \"system\"\nvalues = [\"skylake\", \"zen4\"]\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [1536, 3072]\n[[plot]]\nkind = \"line\"\nx = \"tlb.stlb.entries\"\nseries = \"system\"\nmetric = \"walks\"\nworkload = \"uni\"\nfile = \"walks.svg\"\n",
    );
    write_sweep(
        d,
        "skylake",
        "skylake",
        "[[axis]]\nkey = \"tlb[5].entries\"\nvalues = [1536, 3072]\n",
    );
    write_sweep(
        d,
        "zen4",
        "zen4",
        "[[axis]]\nkey = \"tlb[2].entries\"\nvalues = [1536, 3072]\n",
    );
    let both = results(d, "both.toml");
    let mut by_index = results(d, "skylake");
    by_index.extend(results(d, "zen4"));
    assert_eq!(both.len(), 4);
    // The name path is a plot key too.
    let out = d.join("both.toml-out");
    let (code, _, err) = mmusim(&["sweep", "report", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let svg = std::fs::read_to_string(out.join("walks.svg")).unwrap();
    // Its label reads as the structure it names (src/svg/labels.rs: `STLB entries`).
    assert!(svg.contains(">STLB entries<"), "{svg}");
    assert_eq!(both, by_index);
    // The axis did something: the STLB of twice the size misses less on 8192 pages.
    let misses = |k: (&str, &str), i: usize| {
        let t: serde_json::Value =
            serde_json::from_str(&both[&(k.0.into(), k.1.into())].1).unwrap();
        t["tlb"][i]["misses"].as_u64().unwrap()
    };
    assert!(misses(("skylake", "3072"), 5) < misses(("skylake", "1536"), 5));
    assert!(misses(("zen4", "3072"), 2) < misses(("zen4", "1536"), 2));
}

/// Sweeping the STLB's entries alone over 512..4096 on skylake (12 ways): refused at
/// plan time, and by `sweep run` before anything runs, with the problem said once,
/// naming the axis and the key to set with it.
#[test]
fn a_geometry_error_is_reported_once_with_the_key_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_sweep(
        d,
        "s.toml",
        "skylake",
        "[[workload]]\nname = \"uni2\"\nfile = \"uni.toml\"\nset = [\"seed=4\"]\n[[axis]]\nkey = \"tlb.stlb.entries\"\nvalues = [512, 1024, 1536, 2048, 4096]\n",
    );
    let spec = d.join("s.toml");
    let (code, out, err) = mmusim(&["sweep", "plan", spec.to_str().unwrap()]);
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    for want in [
        "points 0-1, 3-4 x every workload",
        "tlb.stlb.entries = 512, 1024, 2048, 4096",
        "tlb.stlb.ways: entries (512) are not divisible by ways (12)",
        "set tlb.stlb.ways as well",
    ] {
        assert!(lines[0].contains(want), "{want}\n{err}");
    }
    let out_dir = d.join("out");
    let (code, _, err2) = mmusim(&[
        "sweep",
        "run",
        spec.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert_eq!(err2, err);
    assert!(!out_dir.join("results.jsonl").exists());

    // A misspelt component in an axis key: once, at the spec's line of that key.
    write_sweep(
        d,
        "t.toml",
        "zen4",
        "[[axis]]\nkey = \"tlb.stbl.entries\"\nvalues = [1536, 3072]\n",
    );
    let spec = d.join("t.toml");
    let (code, _, err) = mmusim(&["sweep", "plan", spec.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: points 0-1 x workload `uni`: {}:8: tlb.stbl: no element of `tlb` is named `stbl` (names: l1d, l1i, l2d, l2i; roles: stlb, l1d, l1i); did you mean `stlb`?\n",
            spec.display()
        )
    );
}

/// Misspelt keys, presets and component names get a suggestion; the exit code is 2.
#[test]
fn did_you_mean() {
    for (args, want) in [
        (
            &["show", "--set", "tlb.stlb.entires=64"][..],
            "error: --set tlb.stlb.entires=64: tlb.stlb.entires: unknown field `entires`",
        ),
        (&["show", "-c", "skylak"][..], "did you mean preset `skylake`?"),
        (
            &["show", "-c", "zen4", "--set", "tlb.stbl.entries=64"][..],
            "tlb.stbl: no element of `tlb` is named `stbl` (names: l1d, l1i, l2d, l2i; roles: stlb, l1d, l1i); did you mean `stlb`?",
        ),
        (
            &["show", "--set", "walker.psc.pdd.entries=64"][..],
            "no element of `walker.psc` is named `pdd` (names: pml4, pdpt, pd); did you mean `pd`?",
        ),
        (
            &["show", "--set", "sim.coers=2"][..],
            "did you mean `cores`?",
        ),
    ] {
        let (code, _, err) = mmusim(args);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(want), "{args:?}\n{err}");
    }
    let (_, _, err) = mmusim(&["show", "--set", "tlb.stlb.entires=64"]);
    assert!(err.trim_end().ends_with("did you mean `entries`?"), "{err}");
}

/// A study's `set` lists take name paths: the same results as the index paths.
#[test]
fn a_study_takes_name_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("uni.toml"), WORKLOAD).unwrap();
    let study = |file: &str, sky: &str, zen: &str| {
        std::fs::write(
            d.join(file),
            format!(
                "name = \"s\"\nmetrics = [\"walks\", \"walk_latency_mean\"]\n[[system]]\nname = \"sky\"\nfile = \"skylake\"\nset = [\"{sky}=3072\"]\n[[system]]\nname = \"zen\"\nfile = \"zen4\"\nset = [\"{zen}=6144\"]\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n"
            ),
        )
        .unwrap();
        let out = d.join(format!("{file}-out"));
        std::fs::create_dir_all(&out).unwrap();
        let (code, csv, err) = mmusim(&[
            "study",
            d.join(file).to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        csv
    };
    let by_name = study("a.toml", "tlb.stlb.entries", "tlb.stlb.entries");
    assert_eq!(by_name, study("b.toml", "tlb[5].entries", "tlb[2].entries"));
    // ... and not those of the defaults (the override reached the STLB).
    assert_ne!(by_name, study("c.toml", "tlb[5].entries", "tlb[2].latency"));
}

/// A study's misspelt component (blamed on the spec's line of the `set` entry) and
/// misspelt metric get a suggestion.
#[test]
fn a_study_suggests_components_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("uni.toml"), WORKLOAD).unwrap();
    let spec = d.join("s.toml");
    let write = |metric: &str, set: &str| {
        std::fs::write(
            &spec,
            format!(
                "name = \"s\"\nmetrics = [\"{metric}\"]\n[[system]]\nname = \"sky\"\nfile = \"skylake\"\nset = [\n  \"sim.seed=2\",\n  \"{set}\",\n]\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n"
            ),
        )
        .unwrap();
    };
    write("walks", "walker.psc.pdp.entries=8");
    let (code, _, err) = mmusim(&["study", spec.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert_eq!(
        err,
        format!(
            "error: system `sky` x workload `uni`: {}:8: walker.psc.pdp: no element of `walker.psc` is named `pdp` (names: pml4, pdpt, pd); did you mean `pdpt`?\n",
            spec.display()
        )
    );
    write("walkz", "walker.psc.pdpt.entries=8");
    let (code, _, err) = mmusim(&["study", spec.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.trim_end().ends_with("did you mean `walks`?"), "{err}");
}
