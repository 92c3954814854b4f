//! Issue 17, sweeps: stores read line by line as bytes (a torn last line skipped, any
//! other bad line named by store and line), a store of two sweeps refused by the report,
//! failed runs named and retried, one sweep at a time per store (an advisory lock), and
//! the kill matrix: SIGKILL at every write step of a sweep, then a rerun, must give the
//! store and report of an uninterrupted sweep.

use super::analysis::mmusim;
use crate::files;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A text trace of `n` reads over 256 pages; with `bad_at`, that line is not an access.
fn trace(n: usize, bad_at: Option<usize>) -> String {
    let mut t = String::new();
    for i in 0..n {
        if Some(i) == bad_at {
            t.push_str("bogus line\n");
        } else {
            t.push_str(&format!("R {:#x}\n", 0x10_0000 + (i * 7 % 256) * 4096));
        }
    }
    t
}

/// A tiny sweep in a fresh folder: two L1 DTLB sizes on a generator workload named
/// `séq` (records then hold a two-byte UTF-8 character) and a text trace `tr`, with no
/// warm-up (so a trace is read only when it runs).
fn tiny() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(
        p.join("seq.toml"),
        "name = \"seq\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"4MiB\"\nstride = 4096\n",
    )
    .unwrap();
    std::fs::write(
        p.join("tr.toml"),
        "name = \"tr\"\n[generator]\nkind = \"trace\"\npath = \"t.txt\"\n",
    )
    .unwrap();
    std::fs::write(p.join("t.txt"), trace(3000, None)).unwrap();
    std::fs::write(
        p.join("s.toml"),
        "name = \"tiny\"\nsystem = \"skylake\"\nset = [\"sim.warmup_accesses=0\"]\n[[workload]]\nname = \"séq\"\nfile = \"seq.toml\"\n[[workload]]\nname = \"tr\"\nfile = \"tr.toml\"\n[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [16, 32]\n",
    )
    .unwrap();
    dir
}

fn sweep(args: &[&str]) -> (i32, String) {
    let mut a = vec!["sweep"];
    a.extend(args);
    let (code, _, err) = mmusim(&a);
    (code, err)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The store's records as (id, record), each line a record, each id once.
fn records(dir: &Path) -> BTreeMap<String, serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let mut m = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}: {line}", dir.display(), i + 1));
        let id = v["id"].as_str().unwrap().to_string();
        assert!(m.insert(id.clone(), v).is_none(), "{id} twice in the store");
    }
    m
}

/// An uninterrupted `sweep run --report` of the tiny sweep into `dir/whole`.
fn whole(dir: &Path) -> PathBuf {
    let out = dir.join("whole");
    let (code, err) = sweep(&["run", s(&dir.join("s.toml")), "--out", s(&out), "--report"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(records(&out).len(), 4);
    out
}

/// Item 3: a store torn inside a multi-byte character (the kill came mid-write) is
/// reported and resumed; a bad line elsewhere is named by store and line, exit 2.
#[test]
fn a_store_torn_inside_a_utf8_character_resumes_and_reports() {
    let dir = tiny();
    let want = whole(dir.path());
    let out = dir.path().join("torn");
    std::fs::create_dir(&out).unwrap();
    std::fs::copy(want.join("spec.toml"), out.join("spec.toml")).unwrap();
    // The store with its last record cut after the first byte of `é`.
    let full = std::fs::read(want.join("results.jsonl")).unwrap();
    // (The store is sorted by point and workload: `séq` is the third record.)
    let e = full.windows(2).rposition(|w| w == "é".as_bytes()).unwrap();
    std::fs::write(out.join("results.jsonl"), &full[..=e]).unwrap();
    assert!(std::str::from_utf8(&full[..=e]).is_err(), "torn inside é");
    assert_eq!(full[..e].iter().filter(|&&b| b == b'\n').count(), 2);
    let (code, err) = sweep(&["report", s(&out)]);
    assert_eq!(code, 0, "the torn line is skipped: {err}");
    let (code, err) = sweep(&["run", s(&dir.path().join("s.toml")), "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("2 ran") && err.contains("2 already in"),
        "{err}"
    );
    assert_eq!(records(&out), records(&want), "the torn run ran again");

    // A bad line that is not the last: named with its store and line number.
    for (bad, what) in [
        (&b"{\"sweep\": \xc3\x28}\n"[..], "invalid UTF-8"),
        (&b"not a record\n"[..], "not JSON"),
    ] {
        let mut text = full.clone();
        let second = full.iter().position(|&b| b == b'\n').unwrap() + 1;
        text.splice(second..second, bad.iter().copied());
        std::fs::write(out.join("results.jsonl"), &text).unwrap();
        let store = out.join("results.jsonl");
        let want_msg = format!("{}:2:", store.display());
        let (code, err) = sweep(&["report", s(&out)]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(&want_msg), "{what}: {err}");
        let (code, err) = sweep(&["run", s(&dir.path().join("s.toml")), "--out", s(&out)]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(&want_msg), "{what}: {err}");
    }
}

/// Item 4: `sweep report` on a store holding the records of two sweeps (here of one
/// and of two axes) refuses it, naming the store and both sweeps, instead of panicking.
#[test]
fn a_report_of_a_store_of_two_sweeps_is_refused() {
    let dir = tiny();
    let a = whole(dir.path());
    let spec = std::fs::read_to_string(dir.path().join("s.toml")).unwrap();
    std::fs::write(
        dir.path().join("s2.toml"),
        format!("{spec}[[axis]]\nkey = \"walker.max_concurrent_walks\"\nvalues = [1, 2]\n"),
    )
    .unwrap();
    let b = dir.path().join("b");
    let (code, err) = sweep(&["run", s(&dir.path().join("s2.toml")), "--out", s(&b)]);
    assert_eq!(code, 0, "{err}");
    let sweep_of = |d: &Path| records(d).values().next().unwrap()["sweep"].clone();
    let (ida, idb) = (sweep_of(&a), sweep_of(&b));
    assert_ne!(ida, idb);
    for (first, second) in [(&a, &b), (&b, &a)] {
        let mixed = dir.path().join("mixed");
        let _ = std::fs::remove_dir_all(&mixed);
        std::fs::create_dir(&mixed).unwrap();
        let mut text = std::fs::read(first.join("results.jsonl")).unwrap();
        text.extend(std::fs::read(second.join("results.jsonl")).unwrap());
        std::fs::write(mixed.join("results.jsonl"), text).unwrap();
        let (code, err) = sweep(&["report", s(&mixed)]);
        assert_eq!(code, 2, "{err}");
        let store = mixed.join("results.jsonl").display().to_string();
        for want in [&store, ida.as_str().unwrap(), idb.as_str().unwrap()] {
            assert!(err.contains(want), "names {want}: {err}");
        }
    }
}

/// Item 6: failed runs make `sweep run` exit non-zero naming each and its error; a
/// rerun says they are there and how to rerun them; `--retry-failed` reruns them once
/// the trace is fixed, superseding the failures, so the store and the report equal an
/// uninterrupted sweep's. A trace path taken from an axis is checked at plan time.
#[test]
fn failed_runs_are_named_and_retried() {
    let dir = tiny();
    let want = whole(dir.path());
    let spec = dir.path().join("s.toml");
    std::fs::write(dir.path().join("t.txt"), trace(3000, Some(2000))).unwrap();
    let out = dir.path().join("o");
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out)]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("4 ran (2 failed)"), "{err}");
    for p in ["point 0", "point 1"] {
        assert!(
            err.lines()
                .any(|l| l.contains(p) && l.contains("`tr`") && l.contains("t.txt:2001")),
            "names {p} and why: {err}"
        );
    }
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out)]);
    assert_ne!(code, 0, "failures still in the store: {err}");
    assert!(err.contains("--retry-failed"), "{err}");
    std::fs::write(dir.path().join("t.txt"), trace(3000, None)).unwrap();
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out), "--retry-failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 ran (0 failed), 2 already in"), "{err}");
    assert_eq!(
        records(&out),
        records(&want),
        "each run once, no failure left"
    );
    let (code, err) = sweep(&["report", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(out.join("report.csv")).unwrap(),
        std::fs::read(want.join("report.csv")).unwrap()
    );

    // A trace named by an axis value: checked before anything runs, naming the axis,
    // its value and the path.
    std::fs::write(
        dir.path().join("p.toml"),
        "name = \"p\"\nsystem = \"skylake\"\n[[workload]]\nname = \"tr\"\nfile = \"tr.toml\"\n[[axis]]\nkey = \"workload.generator.path\"\nvalues = [\"t.txt\", \"gone.txt\"]\n",
    )
    .unwrap();
    for cmd in ["plan", "run"] {
        let p = dir.path().join("p.toml");
        let po = dir.path().join("po");
        let args: Vec<&str> = match cmd {
            "plan" => vec!["plan", s(&p)],
            _ => vec!["run", s(&p), "--out", s(&po)],
        };
        let (code, err) = sweep(&args);
        assert_eq!(code, 2, "{cmd}: {err}");
        assert!(
            err.contains("point 1") && err.contains("workload.generator.path = \"gone.txt\""),
            "{cmd}: {err}"
        );
        assert!(
            err.contains(&dir.path().join("gone.txt").display().to_string()),
            "{err}"
        );
        assert!(!po.join("results.jsonl").exists(), "nothing ran");
    }
}

/// An advisory lock on `dir` (what a running sweep holds), held until the file drops.
fn hold(dir: &Path) -> std::fs::File {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(dir).unwrap();
    // SAFETY: flock on a descriptor this process owns.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    f
}

/// Item 9: a sweep into a store another sweep holds is refused (exit 2, naming the
/// store); two identical sweeps started at once leave each run once; `sweep report`
/// takes each run once from a store that holds it twice.
#[test]
fn one_sweep_at_a_time_per_store() {
    let dir = tiny();
    let want = whole(dir.path());
    let spec = dir.path().join("s.toml");
    let out = dir.path().join("held");
    std::fs::create_dir(&out).unwrap();
    {
        let _lock = hold(&out);
        let (code, err) = sweep(&["run", s(&spec), "--out", s(&out)]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains(&out.display().to_string()) && err.contains("another sweep"),
            "{err}"
        );
        assert!(!out.join("results.jsonl").exists(), "nothing ran");
        let (code, err) = sweep(&["merge", s(&out), s(&want)]);
        assert_eq!(code, 2, "merge into a held store: {err}");
    }
    // Two at once: one runs, the other is refused or finds everything done.
    let twice = dir.path().join("twice");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_mmusim"))
            .args(["sweep", "run", s(&spec), "--out", s(&twice), "-q"])
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|sc| {
        let a = sc.spawn(start);
        let b = sc.spawn(start);
        (a.join().unwrap(), b.join().unwrap())
    });
    for o in [&a, &b] {
        let code = o.status.code().unwrap();
        assert!(code == 0 || code == 2, "{o:?}");
    }
    assert_eq!(records(&twice), records(&want));
    // A store holding every run twice (written by two sweeps before the lock) reports
    // as the store holding each once.
    let dup = dir.path().join("dup");
    std::fs::create_dir(&dup).unwrap();
    std::fs::copy(want.join("spec.toml"), dup.join("spec.toml")).unwrap();
    let text = std::fs::read(want.join("results.jsonl")).unwrap();
    std::fs::write(dup.join("results.jsonl"), [&text[..], &text[..]].concat()).unwrap();
    let (code, err) = sweep(&["report", s(&dup)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(dup.join("report.csv")).unwrap(),
        std::fs::read(want.join("report.csv")).unwrap()
    );
}

/// Runs `sweep run --report` (and `--retry-failed`) of the tiny sweep into `out`, killed
/// by `MMUSIM_KILL_AT=kill` when given; returns whether the kill came.
fn step(dir: &Path, out: &Path, kill: Option<&str>) -> bool {
    step_on(dir, out, kill, 1)
}

/// [`step`] on `threads` threads.
fn step_on(dir: &Path, out: &Path, kill: Option<&str>, threads: usize) -> bool {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmusim"));
    let threads = threads.to_string();
    c.args(["sweep", "run", s(&dir.join("s.toml")), "--out", s(out)])
        .args(["--report", "--retry-failed", "--threads", &threads, "-q"]);
    c.env_remove("MMUSIM_KILL_AT");
    if let Some(k) = kill {
        c.env("MMUSIM_KILL_AT", k);
    }
    let o = c.output().unwrap();
    match o.status.signal() {
        Some(9) => true,
        _ => {
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.code().is_some(), "{kill:?}: {o:?}");
            assert!(kill.is_none() || o.status.code() != Some(101), "{err}");
            false
        }
    }
}

/// The kill matrix (sweep half): SIGKILL at each write step of `sweep run --report`
/// (the spec copy, half a record, a whole record, the sorted store, each report file;
/// the truncation of a torn line and the dropping of failed runs on the rerun that
/// does them), then a plain rerun: the folder holds exactly the files of an
/// uninterrupted sweep, byte for byte (store and report).
#[test]
fn every_kill_point_of_a_sweep_resumes_to_the_uninterrupted_result() {
    let dir = tiny();
    let want = files(&whole(dir.path()));
    // Each case: kills in order (each on its own run), then a clean rerun.
    let cases: &[&[&str]] = &[
        &["sweep.spec:1"],
        &["sweep.record.half:1"],
        &["sweep.record.half:3"],
        &["sweep.record:1"],
        &["sweep.record:4"],
        &["sweep.merge:1"],
        &["sweep.report:1"],
        &["sweep.report:2"],
        &["sweep.record.half:2", "sweep.truncate:1"],
        &["sweep.record:2", "sweep.record.half:1", "sweep.record:1"],
        &["failed", "sweep.retry:1"],
        &["failed", "sweep.record.half:1"],
    ];
    for (i, kills) in cases.iter().enumerate() {
        let out = dir.path().join(format!("k{i}"));
        // What a kill inside an atomic write leaves (no process has that id: Linux's
        // are below 2^22); the rerun removes it.
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join(".report.csv.999999999.tmp"), "torn").unwrap();
        for k in kills.iter() {
            if *k == "failed" {
                // A first run whose trace runs fail; the trace is fixed after it.
                std::fs::write(dir.path().join("t.txt"), trace(3000, Some(2000))).unwrap();
                assert!(!step(dir.path(), &out, None));
                std::fs::write(dir.path().join("t.txt"), trace(3000, None)).unwrap();
                let n = records(&out)
                    .values()
                    .filter(|r| !r["error"].is_null())
                    .count();
                assert_eq!(n, 2, "two failed runs recorded");
                continue;
            }
            assert!(
                step(dir.path(), &out, Some(k)),
                "{kills:?}: {k} was reached"
            );
        }
        assert!(!step(dir.path(), &out, None), "{kills:?}: the rerun ends");
        assert_eq!(records(&out).len(), 4, "{kills:?}");
        let got = files(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{kills:?}"
        );
        for (name, bytes) in &want {
            assert!(got[name] == *bytes, "{kills:?}: {name} differs");
        }
    }
}

/// The kill matrix on two threads, at the step where a record is counted finished (the
/// syncer, after the sync that covers it): killed as the k-th record is counted, the
/// store holds at least k whole records (a record is counted only once it is in the
/// store), and the rerun ends with the files of an uninterrupted sweep. Would catch a
/// count ahead of the writes, or a record written twice or lost by the two workers
/// and the syncer.
#[test]
fn a_sweep_on_two_threads_killed_as_a_record_is_counted_resumes() {
    let dir = tiny();
    let want = files(&whole(dir.path()));
    for k in 1..=4 {
        let out = dir.path().join(format!("t{k}"));
        let kill = format!("sweep.record:{k}");
        assert!(
            step_on(dir.path(), &out, Some(&kill), 2),
            "{kill} was reached"
        );
        let text = std::fs::read(out.join("results.jsonl")).unwrap();
        let whole_lines = (lines(&text).iter())
            .filter(|l| {
                l.ends_with(b"\n") && serde_json::from_slice::<serde_json::Value>(l).is_ok()
            })
            .count();
        assert!(
            whole_lines >= k,
            "{kill}: {whole_lines} records in the store"
        );
        assert!(
            !step_on(dir.path(), &out, None, 2),
            "{kill}: the rerun ends"
        );
        let got = files(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{kill}"
        );
        for (name, bytes) in &want {
            assert!(got[name] == *bytes, "{kill}: {name} differs");
        }
    }
}

/// The lines of `bytes`, each with its newline.
fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    (bytes.split_inclusive(|&b| b == b'\n'))
        .map(<[u8]>::to_vec)
        .collect()
}

/// Review: a store whose last record is complete but lacks its newline (a kill between
/// the record and its newline, or an edit) resumes: the rerun adds the missing run on
/// a line of its own, and the store and report equal an uninterrupted sweep's.
#[test]
fn a_store_whose_last_record_lacks_its_newline_resumes() {
    let dir = tiny();
    let want = whole(dir.path());
    let out = dir.path().join("open");
    std::fs::create_dir(&out).unwrap();
    let full = lines(&std::fs::read(want.join("results.jsonl")).unwrap());
    assert_eq!(full.len(), 4);
    let mut text = full[..3].concat();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(out.join("results.jsonl"), &text).unwrap();
    let spec = dir.path().join("s.toml");
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out), "--report"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("1 ran") && err.contains("3 already in"),
        "{err}"
    );
    assert_eq!(records(&out), records(&want), "three kept, one added");
    assert_eq!(
        std::fs::read(out.join("report.csv")).unwrap(),
        std::fs::read(want.join("report.csv")).unwrap()
    );
    // A second rerun finds everything there.
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("0 ran") && err.contains("4 already in"),
        "{err}"
    );
}

/// Review: with `--retry-failed`, a finished last record without its newline is kept
/// (it counts as done, so dropping it would lose it for good); only the failures go.
#[test]
fn a_finished_last_record_without_its_newline_survives_retry_failed() {
    let dir = tiny();
    let want = whole(dir.path());
    let spec = dir.path().join("s.toml");
    std::fs::write(dir.path().join("t.txt"), trace(3000, Some(2000))).unwrap();
    let out = dir.path().join("o");
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out)]);
    assert_eq!(code, 1, "{err}");
    // The failures first, then the finished runs, the last without its newline.
    let stored = lines(&std::fs::read(out.join("results.jsonl")).unwrap());
    let failed = |l: &Vec<u8>| String::from_utf8_lossy(l).contains("\"total\":null");
    let (mut bad, good): (Vec<_>, Vec<_>) = stored.into_iter().partition(failed);
    assert_eq!((bad.len(), good.len()), (2, 2));
    bad.extend(good);
    let mut text = bad.concat();
    assert_eq!(text.pop(), Some(b'\n'));
    std::fs::write(out.join("results.jsonl"), &text).unwrap();
    std::fs::write(dir.path().join("t.txt"), trace(3000, None)).unwrap();
    let (code, err) = sweep(&["run", s(&spec), "--out", s(&out), "--retry-failed"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("2 ran (0 failed), 2 already in"), "{err}");
    assert_eq!(records(&out), records(&want), "the finished runs kept");
    let (code, err) = sweep(&["report", s(&out)]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read(out.join("report.csv")).unwrap(),
        std::fs::read(want.join("report.csv")).unwrap()
    );
}

/// Review: a `spec.toml` beside the results that cannot be read as a spec (not UTF-8,
/// a folder) stops `sweep report` and `sweep merge` with exit 2 naming it, instead of
/// a report with the default baseline and plots.
#[test]
fn an_unreadable_spec_copy_is_named_not_replaced_by_defaults() {
    let dir = tiny();
    let want = whole(dir.path());
    let copy = want.join("spec.toml");
    let text = std::fs::read(&copy).unwrap();
    let name = copy.display().to_string();
    let mut bad = text.clone();
    bad.extend_from_slice(b"# caf\xe9\n");
    for (what, folder) in [("not UTF-8", false), ("a folder", true)] {
        let _ = std::fs::remove_file(&copy);
        if folder {
            std::fs::create_dir(&copy).unwrap();
        } else {
            std::fs::write(&copy, &bad).unwrap();
        }
        let (code, err) = sweep(&["report", s(&want)]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(&name), "{what}: names the copy: {err}");
        let merged = dir.path().join("merged");
        let (code, err) = sweep(&["merge", s(&merged), s(&want)]);
        assert_eq!(code, 2, "{what}: {err}");
        assert!(err.contains(&name), "{what}: names the copy: {err}");
        if folder {
            std::fs::remove_dir(&copy).unwrap();
        }
    }
    // Missing: the defaults, and the report says so.
    let (code, err) = sweep(&["report", s(&want)]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("spec: none"), "{err}");
}

/// A sync of the store that fails (`MMUSIM_FAIL_AT=sweep.sync:n`, a full or failing
/// disk): the sweep stops saying which store and why, writes no report, and a rerun ends with the files of an uninterrupted
/// sweep. Would catch a failed sync ignored (the sweep going on to its report as if its
/// records were on disk), a sweep that hangs on it (workers waiting for a sync that never comes), or a store
/// the rerun cannot resume.
#[test]
fn a_failing_sync_of_the_store_stops_the_sweep_and_a_rerun_resumes() {
    let dir = tiny();
    let want = files(&whole(dir.path()));
    for (threads, n) in [(1, 1), (1, 3), (2, 2)] {
        let out = dir.path().join(format!("f{threads}-{n}"));
        let o = Command::new(env!("CARGO_BIN_EXE_mmusim"))
            .args([
                "sweep",
                "run",
                s(&dir.path().join("s.toml")),
                "--out",
                s(&out),
                "--report",
                "-q",
            ])
            .args(["--threads", &threads.to_string()])
            .env_remove("MMUSIM_KILL_AT")
            .env("MMUSIM_FAIL_AT", format!("sweep.sync:{n}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            o.status.code().is_some_and(|c| c != 0 && c != 101),
            "{threads} threads, sync {n}: {o:?}"
        );
        let store = out.join("results.jsonl");
        assert!(
            err.contains(&format!("{}: ", store.display()))
                && err.contains("injected at sweep.sync"),
            "{threads} threads, sync {n}: {err}"
        );
        assert!(
            !out.join("report.csv").exists(),
            "no report from a failed store"
        );
        // The store holds whole records only (a record written before the failed sync
        // may be among them: the rerun keeps it, as after a kill).
        let _ = records(&out);
        assert!(!step_on(dir.path(), &out, None, threads), "the rerun ends");
        let got = files(&out);
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>()
        );
        for (name, bytes) in &want {
            assert!(
                got[name] == *bytes,
                "{threads} threads, sync {n}: {name} differs"
            );
        }
    }
}
