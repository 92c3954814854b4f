//! Traces through whole runs: the committed samples, one trace per core, recording a real
//! program and running its trace from a pipe, and bad traces failing cleanly.

use mmusim::run::{load_inputs, load_inputs_with, simulate};
use mmusim::trace::{self, TraceOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmusim"))
}

fn tmpdir(tag: &str) -> tempfile::TempDir {
    // A fresh folder per call (tempfile): a name from the pid alone is shared by the
    // tests of one process and by a later process with the same pid (issue 17 item 16).
    tempfile::Builder::new()
        .prefix(&format!("mmusim-tr-{tag}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn sample_traces_run_whole_and_agree_with_trace_stats() {
    for name in ["sort", "gzip"] {
        let wl = format!("workloads/trace-{name}.toml");
        // The whole trace, as trace stats reads it.
        let whole = ["sim.warmup_accesses=0".to_string()];
        let inputs =
            load_inputs(Some("skylake"), Some(&wl), &whole).unwrap_or_else(|e| panic!("{e:?}"));
        let r = simulate(&inputs, &mut |_, _| {}).unwrap();
        let s = trace::stats(
            Path::new(&format!("workloads/traces/{name}.mmt.xz")),
            &TraceOptions::default(),
        )
        .unwrap();
        let t = &r.stats.total;
        // The run's accesses are the trace's translations (page-granular accesses).
        assert_eq!(t.accesses, s.translations, "{name}");
        assert_eq!(
            (t.loads, t.stores, t.fetches),
            (s.loads, s.stores, s.fetches),
            "{name}"
        );
        assert_eq!(t.instructions, s.instructions, "{name}");
        // Fetches go through the instruction-side TLBs; first touches equal distinct pages.
        let itlb: u64 = t
            .tlb
            .iter()
            .filter(|x| x.counts.name.starts_with("l1i"))
            .map(|x| x.counts.hits + x.counts.misses)
            .sum();
        assert_eq!(itlb, s.fetches, "{name}");
        assert_eq!(t.minor_faults, s.pages_4k, "{name}");
        t.check_accounting().unwrap();
    }
}

#[test]
fn one_trace_per_core_and_a_cap_on_accesses() {
    let inputs = load_inputs(
        Some("skylake"),
        Some("workloads/trace-2core.toml"),
        &[
            "sim.cores=2".into(),
            "workload.accesses=100000".into(),
            "sim.warmup_accesses=0".into(),
        ],
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let r = simulate(&inputs, &mut |_, _| {}).unwrap();
    assert_eq!(r.stats.cores.len(), 2);
    for c in &r.stats.cores {
        assert_eq!(c.accesses, 100_000);
        c.check_accounting().unwrap();
    }
    // The two cores ran different programs.
    assert_ne!(r.stats.cores[0].minor_faults, r.stats.cores[1].minor_faults);
    // Two traces for one core is a mistake named in the workload file.
    let e = load_inputs(Some("skylake"), Some("workloads/trace-2core.toml"), &[]).unwrap_err();
    let msg = format!("{}", e[0]);
    assert!(
        msg.contains("trace-2core.toml:") && msg.contains("generator.paths"),
        "{msg}"
    );
}

#[test]
fn text_traces_run_and_addresses_beyond_the_table_fail() {
    let tmp = tmpdir("text");
    let dir = tmp.path();
    let f = dir.join("t.txt");
    std::fs::write(
        &f,
        "# a hand-made trace\nR 0x1000\nW 0x1008\nF 0x400000\nR 4096\n",
    )
    .unwrap();
    let whole = ["sim.warmup_accesses=0".to_string()];
    let inputs =
        load_inputs_with(Some("skylake"), None, Some(f.to_str().unwrap()), &whole).unwrap();
    let r = simulate(&inputs, &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    assert_eq!(
        (t.accesses, t.loads, t.stores, t.fetches, t.minor_faults),
        (4, 2, 1, 1, 2)
    );

    // 2^50 needs more than 4 levels of 9 bits: an error, not an aliased translation.
    std::fs::write(&f, "R 0x1000\nR 0x4000000000000\n").unwrap();
    let out = bin()
        .args(["run", "-q", "--trace"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("beyond the page table's reach"), "{err}");
    // With 5 levels it runs.
    let out = bin()
        .args(["run", "-q", "--config", "icelake", "--out"])
        .arg(dir.join("o"))
        .arg("--trace")
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_traces_exit_2_naming_file_and_line() {
    let tmp = tmpdir("bad");
    let dir = tmp.path();
    let f = dir.join("bad.lackey");
    std::fs::write(&f, "==1== Lackey\nI  04000000,3\n L 0400zz00,8\n").unwrap();
    let out = bin()
        .args(["run", "-q", "--trace"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:", f.display())), "{err}");
    let out = bin()
        .args(["run", "-q", "--trace", "/nonexistent/t.mmt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/t.mmt"));
}

#[test]
fn record_a_real_program_and_run_its_trace_from_a_pipe() {
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("skipped: valgrind not found (CI installs it)");
        return;
    }
    let tmp = tmpdir("rec");
    let dir = tmp.path();
    let out = dir.join("true.mmt.gz");
    let rec = bin()
        .args(["trace", "record", "--out"])
        .arg(&out)
        .args(["--", "/bin/true"])
        .output()
        .unwrap();
    assert!(
        rec.status.success(),
        "{}",
        String::from_utf8_lossy(&rec.stderr)
    );
    let s = trace::stats(&out, &TraceOptions::default()).unwrap();
    assert!(
        s.accesses > 1000 && s.fetches > 0 && s.loads > 0 && s.stores > 0,
        "{s:?}"
    );

    // The same file through standard input gives the same run.
    let bytes = {
        let mut v = Vec::new();
        let mut src = trace::open(&out, &TraceOptions::default()).unwrap();
        let mut w = trace::BinaryWriter::new(&mut v, 4096).unwrap();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            src.fill(&mut buf, 4096).unwrap();
            if buf.is_empty() {
                break;
            }
            w.write_all_accesses(&buf).unwrap();
        }
        w.finish().unwrap();
        v
    };
    let mut child = bin()
        .args(["run", "--trace", "-", "--out"])
        .arg(dir.join("o"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let res = child.wait_with_output().unwrap();
    assert!(res.status.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("o/result.json")).unwrap()).unwrap();
    assert_eq!(json["stats"]["total"]["accesses"], s.accesses);

    // Recording a program that does not exist fails cleanly.
    let bad = bin()
        .args(["trace", "record", "--out"])
        .arg(dir.join("x.mmt"))
        .args(["--", "/nonexistent/prog"])
        .output()
        .unwrap();
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert!(!dir.join("x.mmt").exists());
}
