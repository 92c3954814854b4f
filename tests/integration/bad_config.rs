//! Every bad config exits non-zero with an error naming the file, line and key path, and
//! never panics (a panic exits with 101).

use std::process::Command;

const SKYLAKE: &str = include_str!("../../configs/skylake.toml");

fn tmpdir() -> tempfile::TempDir {
    // A fresh folder per call (tempfile): a name from the pid alone is shared by the
    // tests of one process and by a later process with the same pid (issue 17 item 16).
    tempfile::Builder::new()
        .prefix("mmusim-bad-")
        .tempdir()
        .unwrap()
}

/// Replace the `nth` (0-based) occurrence of `from` with `to`; returns text and the line.
fn edit(text: &str, from: &str, nth: usize, to: &str) -> (String, usize) {
    let at = text
        .match_indices(from)
        .nth(nth)
        .unwrap_or_else(|| panic!("`{from}` #{nth} not in text"))
        .0;
    let line = text[..at].matches('\n').count() + 1;
    (
        format!("{}{}{}", &text[..at], to, &text[at + from.len()..]),
        line,
    )
}

fn run(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configs_name_file_line_and_key() {
    let tmp = tmpdir();
    let dir = tmp.path();
    // (case, config text, expected "line: key.path" fragment after the file name)
    let mut cases: Vec<(&str, String, String)> = Vec::new();
    let mut add = |name: &'static str, from: &str, nth: usize, to: &str, path: &str| {
        let (text, line) = edit(SKYLAKE, from, nth, to);
        cases.push((name, text, format!("{line}: {path}:")));
    };
    add(
        "unknown key",
        "base_cpi = 1.0",
        0,
        "bogus = 3\nbase_cpi = 1.0",
        "sim.bogus",
    );
    add("zero ways", "ways = 4", 0, "ways = 0", "tlb[0].ways");
    add(
        "entries not divisible",
        "ways = 4",
        0,
        "ways = 3",
        "tlb[0].ways",
    );
    add(
        "sets not a power of two",
        "ways = 12",
        0,
        "ways = 16",
        "tlb[5].ways",
    );
    add(
        "unknown page size",
        "page_sizes = [\"2M\"]",
        0,
        "page_sizes = [\"3M\"]",
        "tlb[1].page_sizes[0]",
    );
    add(
        "negative latency",
        "latency = 9",
        0,
        "latency = -9",
        "tlb[5].latency",
    );
    add(
        "unknown replacement",
        "replacement = \"lru\"",
        0,
        "replacement = \"mru\"",
        "tlb[0].replacement",
    );
    add(
        "unknown TLB organisation",
        "replacement = \"lru\"",
        0,
        "organisation = \"range\"\nreplacement = \"lru\"",
        "tlb[0].organisation",
    );
    add(
        "psc level out of range",
        "level = 4\nentries = 2",
        0,
        "level = 7\nentries = 2",
        "walker.psc[0].level",
    );
    add(
        "plru on 12 ways",
        "ways = 12",
        0,
        "replacement = \"plru\"\nways = 12",
        "tlb[5].replacement",
    );
    add(
        "zero cache ways",
        "ways = 16\nlatency = 44",
        0,
        "ways = 0\nlatency = 44",
        "memory.cache[2].ways",
    );
    add(
        "bad byte size",
        "size = \"8MiB\"",
        0,
        "size = \"8 parsecs\"",
        "memory.cache[2].size",
    );
    add(
        "unknown page-table kind",
        "kind = \"radix\"",
        0,
        "kind = \"radish\"",
        "page_table.kind",
    );
    for (name, text, want) in cases {
        let f = dir.join("bad.toml");
        std::fs::write(&f, &text).unwrap();
        let (code, err) = run(&["run", "-q", "--config", f.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: exit code {code}, stderr: {err}");
        let want = format!("{}:{want}", f.display());
        assert!(err.contains(&want), "{name}: wanted `{want}` in: {err}");
    }
}

#[test]
fn malformed_toml_missing_file_and_bad_overrides() {
    let tmp = tmpdir();
    let dir = tmp.path();
    let f = dir.join("broken.toml");
    let (text, line) = edit(SKYLAKE, "entries = 64", 0, "entries = = 64");
    std::fs::write(&f, text).unwrap();
    let (code, err) = run(&["run", "-q", "--config", f.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{}:{line}:", f.display())), "{err}");

    let (code, err) = run(&["run", "-q", "--config", "/nonexistent/x.toml"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/x.toml"), "{err}");

    let (code, err) = run(&["run", "-q", "--set", "tlb[0].wayz=4"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--set tlb[0].wayz=4") && err.contains("tlb[0].wayz"),
        "{err}"
    );

    let (code, err) = run(&["run", "-q", "--set", "tlb[99].ways=4"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("tlb[99]"), "{err}");

    // A validation error in a key set from the command line names the override.
    let (code, err) = run(&["run", "-q", "--set", "tlb[0].ways=3"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("tlb[0].ways") && err.contains("not divisible"),
        "{err}"
    );

    // Workload errors carry the workload file's name and line.
    let w = dir.join("w.toml");
    std::fs::write(
        &w,
        "name = \"x\"\naccesses = 10\n[generator]\nkind = \"uniform\"\nfootprint = 100\n",
    )
    .unwrap();
    let (code, err) = run(&["run", "-q", "--workload", w.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains(&format!("{}:5: generator.footprint", w.display())),
        "{err}"
    );
}

#[test]
fn impossible_combinations_are_errors_not_panics_or_wrong_numbers() {
    for (sets, want) in [
        (vec!["tlb=[]"], "tlb: at least one TLB structure"),
        (
            vec!["workload.instrs_per_access=4000000000"],
            "instrs_per_access",
        ),
        (vec!["sim.base_cpi=0.0001"], "sim.base_cpi"),
        // 2 levels map 30 bits: the default workload's 4 GiB at 64 GiB would alias.
        (
            vec!["page_table.levels=2", "walker.psc=[]"],
            "base: the workload's addresses reach",
        ),
        (vec!["sim.warmup_accesses=5000000"], "sim.warmup_accesses"),
        (
            vec!["sim.cores=64", "memory.cache[1].size=\"1GiB\""],
            "sim.cores",
        ),
        (
            vec!["os.minor_fault_cycles=100000000000000"],
            "os.minor_fault_cycles",
        ),
    ] {
        let mut args = vec!["run", "-q"];
        for s in &sets {
            args.push("--set");
            args.push(s);
        }
        let (code, err) = run(&args);
        assert_eq!(code, 2, "{sets:?}: {err}");
        assert!(err.contains(want), "{sets:?}: wanted `{want}` in {err}");
    }
}

#[test]
fn running_out_of_physical_memory_is_an_error_not_a_panic() {
    let (code, err) = run(&[
        "run",
        "-q",
        "--set",
        "os.phys_mem=\"4MiB\"",
        "--set",
        "workload.accesses=20000",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("os.phys_mem"), "{err}");
}

#[test]
fn presets_list_and_show() {
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .arg("presets")
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    for p in ["skylake", "icelake", "zen4"] {
        assert!(s.contains(p), "{s}");
    }
    // `show` prints the resolved config, overrides applied, and it decodes again.
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args([
            "show",
            "--config",
            "icelake",
            "--set",
            "tlb[5].entries=4096",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let cfg: mmusim::config::SystemConfig = toml::from_str(&text).unwrap();
    assert_eq!(cfg.tlb[5].entries, 4096);
    assert_eq!(cfg.name, "icelake");
    assert!(cfg.validate().is_empty());
}
