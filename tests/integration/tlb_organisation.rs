//! TLB organisations in the config: the default written out changes nothing (not in the
//! resolved config, the result and its hash, the sweep ids, the one-pass choice); an
//! unknown one is refused at its key.

use super::analysis::mmusim;
use std::path::Path;

/// `mmusim run` of skylake on a short sequential workload with `sets`; the result.json.
fn result(dir: &Path, name: &str, sets: &[&str]) -> String {
    let out = dir.join(name);
    let w = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/sequential-hits.toml"
    );
    let mut args = vec![
        "run",
        "-q",
        "-c",
        "skylake",
        "-w",
        w,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(["--set", "workload.accesses=20000"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    let (code, _, err) = mmusim(&args);
    assert_eq!(code, 0, "{err}");
    std::fs::read_to_string(out.join("result.json")).unwrap()
}

#[test]
fn the_default_organisation_written_out_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plain = result(dir.path(), "plain", &[]);
    let sets: Vec<String> = (0..7)
        .map(|i| format!("tlb[{i}].organisation=\"set_associative\""))
        .collect();
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let explicit = result(dir.path(), "explicit", &sets);
    // The result embeds the resolved config (every TLB) and its hash.
    assert!(plain.contains("\"config_hash\"") && plain.contains("\"l1d_4k\""));
    assert!(!plain.contains("organisation"), "{plain}");
    assert_eq!(plain, explicit, "config, hash and counters all equal");
}

#[test]
fn an_unknown_organisation_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let w = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/workloads/sequential-hits.toml"
    );
    let out = dir.path().join("o");
    let (code, _, err) = mmusim(&[
        "run",
        "-q",
        "-c",
        "skylake",
        "-w",
        w,
        "--out",
        out.to_str().unwrap(),
        "--set",
        "tlb[2].organisation=\"victima\"",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tlb[2].organisation: unknown variant `victima`, expected one of `set_associative`, `coalesced`, `pom`, `range`"),
        "{err}"
    );
    assert!(!out.join("result.json").exists());
}

/// A sweep over a fully-associative L1 DTLB's size: with the organisation written out,
/// the plan's point ids are the same and one pass still answers it.
#[test]
fn sweeps_see_the_same_points_and_the_same_one_pass() {
    let spec = |dir: &Path, org: &str| {
        std::fs::write(
            dir.join("w.toml"),
            "name = \"w\"\naccesses = 3000\nseed = 3\n[generator]\nkind = \"zipf\"\nfootprint = \"4MiB\"\nexponent = 0.9\n",
        )
        .unwrap();
        let s = dir.join("s.toml");
        std::fs::write(
            &s,
            format!(
                "name = \"fa\"\nsystem = \"skylake\"\none_pass = true\nmode = \"zip\"\nset = [\"tlb=[{{name=\\\"fa\\\", level=1, kind=\\\"data\\\", entries=4, ways=4, page_sizes=[\\\"4K\\\"], latency=1{org}}}, {{name=\\\"l2\\\", level=2, kind=\\\"unified\\\", entries=64, ways=4, page_sizes=[\\\"4K\\\"], latency=7}}]\"]\n[[workload]]\nname = \"w\"\nfile = \"w.toml\"\n[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [2, 8, 32]\n[[axis]]\nkey = \"tlb[0].ways\"\nvalues = [2, 8, 32]\n"
            ),
        )
        .unwrap();
        s
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let plain = spec(a.path(), "");
    let explicit = spec(b.path(), ", organisation=\\\"set_associative\\\"");
    let plan = |s: &Path| {
        let (code, out, err) = mmusim(&["sweep", "plan", s.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        out
    };
    let p = plan(&plain);
    assert_eq!(p.lines().count(), 4, "{p}");
    assert_eq!(p, plan(&explicit));
    let out = b.path().join("o");
    let (code, _, err) = mmusim(&[
        "sweep",
        "run",
        explicit.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("one pass: every geometry of `fa`"), "{err}");
}
