//! The study runner: every (system, workload) pair, values equal to single runs, one SVG
//! per metric, bad specs refused before anything runs.

use mmusim::run::{load_inputs, simulate};
use mmusim::study::run_study;

const SPEC: &str = r#"
name = "tiny"
metrics = ["walks", "reads_per_walk", "page_table_bytes"]
[[system]]
name = "psc"
file = "skylake"
[[system]]
name = "nopsc"
file = "skylake"
set = ["walker.psc=[]"]
[[workload]]
name = "u"
file = "w.toml"
set = ["accesses=20000"]
[[workload]]
name = "z"
file = "w.toml"
set = ['generator={kind="zipf", footprint="64MiB", exponent=1.0}', "accesses=20000"]
"#;

#[test]
fn every_pair_runs_and_matches_a_single_run() {
    // A fresh folder (issue 17 item 16: no name shared with another test or process).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let wl = dir.join("w.toml");
    std::fs::write(&wl, "name = \"w\"\naccesses = 1\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"256MiB\"\n").unwrap();
    std::fs::write(dir.join("spec.toml"), SPEC).unwrap();
    let csv = run_study(&dir.join("spec.toml"), None, &|_, _| {}).unwrap();
    let rows: Vec<Vec<String>> = csv
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "system",
            "workload",
            "walks",
            "reads_per_walk",
            "page_table_bytes"
        ]
    );
    assert_eq!(rows.len(), 5);
    // The row for (nopsc, z) equals a single run of the same inputs.
    let single = simulate(
        &load_inputs(
            Some("skylake"),
            Some(wl.to_str().unwrap()),
            &[
                "walker.psc=[]".into(),
                "workload.generator={kind=\"zipf\", footprint=\"64MiB\", exponent=1.0}".into(),
                "workload.accesses=20000".into(),
            ],
        )
        .unwrap(),
        &mut |_, _| {},
    )
    .unwrap();
    let row = rows
        .iter()
        .find(|r| r[0] == "nopsc" && r[1] == "z")
        .unwrap();
    assert_eq!(row[2], single.stats.total.walks.walks.to_string());
    assert_eq!(
        row[3].parse::<f64>().unwrap(),
        single.stats.total.walks.pte_reads_per_walk
    );
    // Without walk caches every completed walk reads all 4 levels.
    let psc = rows.iter().find(|r| r[0] == "psc" && r[1] == "u").unwrap();
    let nopsc = rows
        .iter()
        .find(|r| r[0] == "nopsc" && r[1] == "u")
        .unwrap();
    assert!(psc[3].parse::<f64>().unwrap() < nopsc[3].parse::<f64>().unwrap());
    for m in ["walks", "reads_per_walk", "page_table_bytes"] {
        let svg = std::fs::read_to_string(dir.join(format!("{m}.svg"))).unwrap();
        assert_eq!(svg.matches("<title>").count(), 4, "{m}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("results.csv")).unwrap(),
        csv
    );

    // A bad metric or a bad workload key is refused before anything runs.
    std::fs::write(
        dir.join("bad.toml"),
        SPEC.replace("\"walks\",", "\"walkz\","),
    )
    .unwrap();
    let e = run_study(&dir.join("bad.toml"), Some(&dir.join("o")), &|_, _| {}).unwrap_err();
    assert!(e.contains("unknown `walkz`"), "{e}");
    std::fs::write(
        dir.join("bad2.toml"),
        SPEC.replace(
            "accesses=20000\"]\n[[workload]]",
            "acceses=20000\"]\n[[workload]]",
        ),
    )
    .unwrap();
    let e = run_study(&dir.join("bad2.toml"), Some(&dir.join("o")), &|_, _| {}).unwrap_err();
    assert!(e.contains("acceses"), "{e}");
    assert!(!dir.join("o").exists());
}

/// A system marked `may_refuse` whose run is refused at that key (a 4 GiB direct
/// segment with 90% of the 2 MiB blocks pinned: no contiguous run that long) becomes a
/// row with empty cells and the reason; the other rows keep their values and have an
/// empty reason. Without the mark, or with it naming another key, the same refusal
/// stops the study, and a workload may not carry the mark.
#[test]
fn a_system_that_may_refuse_gets_a_row_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("w.toml"), "name = \"w\"\naccesses = 2000\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n").unwrap();
    let spec = |mark: &str, wmark: &str| {
        format!(
            "name = \"r\"\nmetrics = [\"walks\"]\n\
             [[system]]\nname = \"base\"\nfile = \"skylake\"\n\
             [[system]]\nname = \"ds\"\nfile = \"skylake-ds\"\n{mark}\n\
             [[workload]]\nname = \"frag\"\nfile = \"w.toml\"\n{wmark}\
             system_set = ['os.fragmentation=0.9']\n"
        )
    };
    std::fs::write(
        dir.join("s.toml"),
        spec("may_refuse = \"os.direct_segment.len\"", ""),
    )
    .unwrap();
    let csv = run_study(&dir.join("s.toml"), Some(&dir.join("o")), &|_, _| {}).unwrap();
    let mut rd = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        ["system", "workload", "walks", "refused"]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][0], "base");
    assert!(rows[0][2].parse::<u64>().unwrap() > 0, "{:?}", rows[0]);
    assert_eq!(&rows[0][3], "");
    assert_eq!(&rows[1][0], "ds");
    assert_eq!(&rows[1][2], "");
    assert!(
        rows[1][3].contains("os.direct_segment.len"),
        "{:?}",
        rows[1]
    );
    assert!(dir.join("o/walks.svg").exists());

    std::fs::write(dir.join("s2.toml"), spec("", "")).unwrap();
    let e = run_study(&dir.join("s2.toml"), Some(&dir.join("o2")), &|_, _| {}).unwrap_err();
    assert!(
        e.contains("system `ds` x workload `frag`") && e.contains("os.direct_segment.len"),
        "{e}"
    );
    std::fs::write(
        dir.join("s4.toml"),
        spec("may_refuse = \"os.fragmentation\"", ""),
    )
    .unwrap();
    let e = run_study(&dir.join("s4.toml"), Some(&dir.join("o4")), &|_, _| {}).unwrap_err();
    assert!(e.contains("os.direct_segment.len"), "{e}");
    std::fs::write(
        dir.join("s3.toml"),
        spec("", "may_refuse = \"os.direct_segment.len\"\n"),
    )
    .unwrap();
    let e = run_study(&dir.join("s3.toml"), Some(&dir.join("o3")), &|_, _| {}).unwrap_err();
    assert!(e.contains("workload[0].may_refuse"), "{e}");
}
