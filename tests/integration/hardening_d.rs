//! Issue 17, lane D: a run's result set on disk under SIGKILL (the `run --out` half of
//! the kill matrix, through the `MMUSIM_KILL_AT` hook), counters that would wrap, and
//! resource limits (long runs, timelines, huge fully associative TLBs).

use crate::files;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitStatus};

/// A small run (a tenth of a second in a debug build): 3,000 uniform accesses.
const WL: &str = "name = \"k\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"uniform\"\nfootprint = \"8MiB\"\n";

fn run_into(wl: &Path, out: &Path, extra: &[&str], kill_at: Option<&str>) -> ExitStatus {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mmusim"));
    c.args(["run", "-q", "-w", wl.to_str().unwrap(), "--out"])
        .arg(out)
        .args(extra)
        .env_remove(mmusim::killpoint::VAR);
    if let Some(k) = kill_at {
        c.env(mmusim::killpoint::VAR, k);
    }
    c.status().expect("mmusim runs")
}

/// The entries of `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = (std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The old set: 2 files, seed 7. The new: 5 files (a timeline), seed 1. A mix of the
/// two or a half-written file differs from both.
const OLD: [&str; 2] = ["--set", "workload.seed=7"];
const NEW: [&str; 2] = ["--timeline", "500"];

#[test]
fn run_out_killed_at_every_write_step_leaves_the_old_or_the_new_set_whole() {
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    // Uninterrupted runs: what each set is, byte for byte.
    let reference = |args: &[&str], tag: &str| {
        let out = t.path().join(tag).join("out");
        assert!(run_into(&wl, &out, args, None).success());
        files(&out)
    };
    let (old, new) = (reference(&OLD, "ref-old"), reference(&NEW, "ref-new"));
    assert_eq!(old.len(), 2);
    assert_eq!(new.len(), 5);
    assert_ne!(old["result.json"], new["result.json"]);
    // Every write step of `run --out` (docs/OUTPUTS.md), each file of the set.
    let steps = [
        "run.tmp_created:1",
        "run.file_written:1",
        "run.file_written:2",
        "run.file_written:5",
        "run.tmp_synced:1",
        "run.swapped:1",
        "run.carried:1",
        "run.old_removed:1",
    ];
    for (i, step) in steps.iter().enumerate() {
        let case = t.path().join(format!("case{i}"));
        let out = case.join("out");
        assert!(run_into(&wl, &out, &OLD, None).success());
        // A file of the user's in the folder (as `>out/stdout` would make) and a
        // folder of theirs (with a file) survive.
        std::fs::write(out.join("stdout"), "mine").unwrap();
        std::fs::create_dir(out.join("notes")).unwrap();
        std::fs::write(out.join("notes/a"), "my notes").unwrap();
        let with_user = |set: &BTreeMap<String, Vec<u8>>, folder: bool| {
            let mut s = set.clone();
            s.insert("stdout".into(), b"mine".to_vec());
            if folder {
                s.insert("notes/a".into(), b"my notes".to_vec());
            }
            s
        };
        let status = run_into(&wl, &out, &NEW, Some(step));
        assert_eq!(status.signal(), Some(9), "{step}: not killed ({status})");
        let seen = files(&out);
        if *step == "run.swapped:1" {
            // Killed in the instant between the swap and the folder's move out of the
            // old set: the folder is in the old set, under the temporary name beside
            // DIR (module doc of `report::result_set`), until the next write.
            assert_eq!(seen, with_user(&new, false), "{step}");
            let tmp: Vec<String> = names(&case).into_iter().filter(|n| n != "out").collect();
            assert_eq!(tmp.len(), 1, "{step}: {tmp:?}");
            assert!(tmp[0].starts_with(".out.tmp-"), "{step}: {tmp:?}");
            assert_eq!(files(&case.join(&tmp[0]))["notes/a"], b"my notes", "{step}");
        } else {
            // Before the swap the folder was never moved; after it, it was moved in.
            assert!(
                seen == with_user(&old, true) || seen == with_user(&new, true),
                "{step}: a mixed or partial set, or the user's folder missing: {:?}",
                seen.keys().collect::<Vec<_>>()
            );
        }
        // The rerun leaves the new set, byte-identical to an uninterrupted run's, and
        // no temporary beside it.
        assert!(run_into(&wl, &out, &NEW, None).success(), "{step}");
        assert_eq!(files(&out), with_user(&new, true), "{step}");
        assert_eq!(names(&case), ["out"], "{step}");
    }
}

/// Review of issue 17 (D): two `run --out DIR` at once could delete the user's folder
/// in DIR: each carried it, and one removed it with its old set. Writers now take
/// turns (a lock on DIR's parent). Several writers at once, a few rounds: every one
/// succeeds, the set is whole, the folder and its file survive, nothing is left beside.
#[test]
fn concurrent_runs_into_one_folder_keep_the_users_folder() {
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let case = t.path().join("case");
    let out = case.join("out");
    assert!(run_into(&wl, &out, &OLD, None).success());
    std::fs::create_dir(out.join("notes")).unwrap();
    std::fs::write(out.join("notes/a"), "my notes").unwrap();
    for round in 0..3 {
        let children: Vec<_> = (0..6)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_mmusim"))
                    .args(["run", "-q", "-w", wl.to_str().unwrap(), "--out"])
                    .arg(&out)
                    .env_remove(mmusim::killpoint::VAR)
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut c in children {
            assert!(c.wait().unwrap().success(), "round {round}");
        }
        let seen = files(&out);
        assert_eq!(
            seen.get("notes/a").map(Vec::as_slice),
            Some(&b"my notes"[..]),
            "round {round}: {:?}",
            seen.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            names(&out),
            ["notes", "result.csv", "result.json"],
            "round {round}"
        );
        assert_eq!(names(&case), ["out"], "round {round}");
    }
    // Writers into a folder that does not exist yet: each would rename its set to DIR,
    // and all but the first failed (the name taken by a folder not empty).
    let fresh = case.join("fresh");
    let children: Vec<_> = (0..6)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_mmusim"))
                .args(["run", "-q", "-w", wl.to_str().unwrap(), "--out"])
                .arg(&fresh)
                .env_remove(mmusim::killpoint::VAR)
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success(), "a first write");
    }
    assert_eq!(names(&fresh), ["result.csv", "result.json"]);
    assert_eq!(names(&case), ["fresh", "out"]);
}

/// A run writing into a folder that does not exist yet, killed before the rename: no
/// folder, and the rerun leaves only the set.
#[test]
fn a_first_run_killed_before_its_rename_leaves_nothing_behind_after_a_rerun() {
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let out = t.path().join("out");
    let status = run_into(&wl, &out, &NEW, Some("run.tmp_synced:1"));
    assert_eq!(status.signal(), Some(9));
    assert!(!out.exists());
    assert!(run_into(&wl, &out, &NEW, None).success());
    assert_eq!(names(t.path()), ["out", "w.toml"]);
    assert_eq!(names(&out).len(), 5);
}

/// Issue 17 item 7: cycle counters wrapped in release builds (16.8 M major faults of
/// 2^40 cycles reported 2.5e16 cycles, exit 0) and overflowed with a panic in debug
/// ones. Config validation caps each cost at 2^40 (zeroing at 2^30), so reaching 2^64
/// through the command line takes millions of faults; here the costs are set on the
/// validated config, beyond the cap, to reach it in a few faults. The run must stop
/// with an error naming the costs, never return a wrapped or saturated number.
#[test]
fn cycle_counts_beyond_64_bits_stop_the_run_with_an_error() {
    let wl = "name = \"f\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"12000KiB\"\nstride = 4096\n";
    // One fault of 2^62 (over the limit at once); 3,000 faults of 2^53 (2^64.6 in
    // all: the stall, 128 x 2^53 = 2^60 plus the walks' latencies, passes the limit at
    // the 128th).
    for (cost, faults_before) in [(1u64 << 62, 0u64), (1 << 53, 127)] {
        let mut i = super::runs::inputs(Some("skylake"), Some(wl), &[]);
        i.system.os.minor_fault_cycles = cost;
        let e = match mmusim::run::simulate(&i, &mut |_, _| {}) {
            Ok(r) => panic!(
                "{cost}: ran, {} fault cycles",
                r.stats.total.translation_cycles.fault
            ),
            Err(e) => e.0,
        };
        assert!(
            e.contains("64-bit") && e.contains("os.minor_fault_cycles"),
            "{e}"
        );
        // The limit is 2^60 for one core: the first fault of 2^62, or the 128th of
        // 2^53 (127 x 2^53 and the latencies are still within it).
        assert!(
            e.contains(&format!("after {} accesses", faults_before + 1)),
            "{cost}: {e}"
        );
    }
}

/// Review of issue 17 (E): the bound compared the largest counter and the cost apart
/// (`max`), not their sum: two faults of 2^59 + 1 (each within the 2^60 limit, 2^60 +
/// 2 together) passed, and only the third fault stopped the run. The sum is what the
/// counter would hold: the second fault stops it.
#[test]
fn a_cost_that_takes_a_counter_past_the_limit_stops_the_run_at_that_cost() {
    let wl = "name = \"f\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"12000KiB\"\nstride = 4096\n";
    let mut i = super::runs::inputs(Some("skylake"), Some(wl), &[]);
    i.system.os.minor_fault_cycles = (1 << 59) + 1;
    let e = match mmusim::run::simulate(&i, &mut |_, _| {}) {
        Ok(_) => panic!("ran"),
        Err(e) => e.0,
    };
    assert!(e.contains("after 2 accesses"), "{e}");
    // The number reported is what the stall would have held: 2 x (2^59 + 1) and the
    // two accesses' latencies (a few thousand cycles at most).
    let reached: u64 = e
        .split("reached ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ((1 << 60) + 2..(1 << 60) + 10_000).contains(&reached),
        "{e}"
    );
}

/// Review of issue 17 (E): a context switch's cost was checked only at the core's next
/// batch boundary, and a Ctrl-C seen there ended the run before the check: a switch
/// of 2^62 cycles (set on the validated config, beyond its cap) just before the stop
/// gave a partial result of 2^62 switch cycles, past the 2^60 limit, exit 0. Two
/// processes share one core with a quantum far shorter than a batch; the stop flag is
/// raised as the first batch is read: the first process runs its quantum, the switch
/// is paid, and the second process's first batch boundary sees the flag.
#[test]
fn a_switch_cost_past_the_limit_stops_a_run_that_ctrl_c_ends_too() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let wl = "name = \"f\"\naccesses = 20000\nseed = 1\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n";
    let mut i = super::runs::inputs(
        Some("skylake"),
        Some(wl),
        &[
            "sim.cores=1",
            "os.sched.processes=2",
            "os.sched.quantum_cycles=1000",
        ],
    );
    i.system.os.sched.switch_cycles = 1 << 62;
    for stopped in [false, true] {
        let flag = Arc::new(AtomicBool::new(false));
        let opts = mmusim::run::RunOptions {
            timeline: None,
            stop: stopped.then(|| flag.clone()),
        };
        let r =
            mmusim::run::simulate_opts(&i, &opts, &mut |_, _| flag.store(true, Ordering::Relaxed));
        let e = match r {
            Ok((r, _)) => panic!("stopped {stopped}: ran, {} cycles", r.stats.total.cycles),
            Err(e) => e.0,
        };
        assert!(
            e.contains("64-bit") && e.contains("os.sched.switch_cycles"),
            "{e}"
        );
        assert!(e.contains("reached 46116860184"), "2^62 and a few: {e}");
    }
}

/// Issue 17 item 15: a fully associative TLB of 2^24 ways was accepted, and 20,000
/// accesses took over a minute (every lookup scans the set). At most 8192 ways, an
/// error naming the key path as the user wrote it (by name or by position), exit 2.
#[test]
fn a_set_of_more_than_8192_ways_is_refused_naming_the_key() {
    let big = 1u32 << 24;
    for (set, key) in [
        (
            format!("tlb.stlb.entries={big}"),
            format!("tlb.stlb.ways={big}"),
        ),
        (
            format!("tlb[0].entries={big}"),
            format!("tlb[0].ways={big}"),
        ),
    ] {
        let (code, _, err) = super::analysis::mmusim(&[
            "run",
            "-q",
            "--set",
            &set,
            "--set",
            &key,
            "--out",
            "/nonexistent/never",
        ]);
        assert_eq!(code, 2, "{err}");
        let path = key.split('=').next().unwrap();
        assert!(
            err.contains(&format!(
                "{path}: {big} ways is more than the supported 8192"
            )),
            "{err}"
        );
    }
    // 8192 ways (the largest the analysis test simulates) still runs.
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let fa = ["--set", "tlb[0].entries=8192", "--set", "tlb[0].ways=8192"];
    assert!(run_into(&wl, &t.path().join("out"), &fa, None).success());
}

/// Issue 17 item 15: `accesses = 10^12` started without a word. Off a terminal (a
/// pipe here) `run` warns how long it will take, then prints progress lines (every
/// `MMUSIM_PROGRESS_SECS`); the child is killed once both are seen.
#[test]
fn a_very_long_run_warns_and_shows_progress_off_a_terminal() {
    use std::io::{BufRead, BufReader};
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["run", "-w", wl.to_str().unwrap(), "--out"])
        .arg(t.path().join("out"))
        .args(["--set", "workload.accesses=1000000000000"])
        .env(mmusim::progress::INTERVAL_VAR, "0.2")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut lines = Vec::new();
    let seen = |lines: &Vec<String>| {
        lines.iter().any(|l| {
            l.starts_with("WARNING: 1,000,000,000,000 accesses will take about 2 days to 12 days")
        }) && lines.iter().any(|l| l.starts_with("progress: "))
    };
    while !seen(&lines) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(seen(&lines), "{lines:?}");
    // The warning comes before the run starts: first.
    assert!(lines[0].starts_with("WARNING: "), "{lines:?}");
}

/// Issue 17 item 15: `--timeline 1` on 2 M accesses took 535 MB and wrote 213 MB of
/// SVG. A core keeps at most 65,536 windows (then twice as wide, said on standard
/// error) and a plot at most 2,000 points per series. 200,000 accesses in windows of
/// 1: widened at 65,536 (to 2) and at 131,072 accesses (to 4), so 50,000 windows of 4.
#[test]
fn a_timeline_of_one_access_windows_is_widened_and_its_plots_decimated() {
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let out = t.path().join("out");
    let o = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["run", "-w", wl.to_str().unwrap(), "--out"])
        .arg(&out)
        .args(["--timeline", "1", "--set", "workload.accesses=200000"])
        .args(["--set", "sim.warmup_accesses=0"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("--timeline 1: more than 65,536 windows per core, so windows of 4 accesses"),
        "{err}"
    );
    let csv = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 50_000);
    for (i, r) in rows.iter().enumerate() {
        // window, first_access, accesses
        assert_eq!(
            r[1..4],
            [i.to_string(), (4 * i).to_string(), "4".into()],
            "row {i}"
        );
    }
    // The windows' walks sum to the run's.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    let walks: u64 = rows.iter().map(|r| r[6].parse::<u64>().unwrap()).sum();
    assert_eq!(json["stats"]["total"]["walks"]["walks"], walks);
    // 50,000 windows drawn as at most 2,000 merged ones (25 each): a point per window
    // and one more (the end of the last step; the origin of the memory line). A path
    // goes to a point with `L`, or `H` (then `V`) in a step line.
    for (f, most) in [("timeline.svg", 2000 + 1), ("memory.svg", 2000 + 1)] {
        let svg = std::fs::read_to_string(out.join(f)).unwrap();
        let longest = svg
            .split("<path d=\"")
            .skip(1)
            .map(|x| {
                let d = &x[..x.find('"').unwrap()];
                d.matches(['L', 'H']).count() + 1
            })
            .max()
            .unwrap();
        assert!(
            longest <= most && longest > most / 2,
            "{f}: {longest} points"
        );
        assert!(svg.len() < 400_000, "{f}: {} bytes", svg.len());
    }
    let svg = std::fs::read_to_string(out.join("timeline.svg")).unwrap();
    assert!(
        svg.contains("windows of 100"),
        "merged windows of 25 x 4 accesses"
    );
}

/// A sync that fails as the new set is written (`MMUSIM_FAIL_AT=run.sync:n`, what a
/// full or failing disk gives at `fsync`): the run says which folder and why (exit 2),
/// still shows its summary, and the folder keeps the old set byte for byte; the next
/// run clears the failed one's temporary folder and writes its set. Would catch a
/// failed write that swapped a half-synced set in, a result lost without a word, or a
/// temporary folder left for good.
#[test]
fn a_failing_sync_keeps_the_old_set_and_says_so() {
    let t = tempfile::tempdir().unwrap();
    let wl = t.path().join("w.toml");
    std::fs::write(&wl, WL).unwrap();
    let out = t.path().join("p").join("out");
    assert!(run_into(&wl, &out, &OLD, None).success());
    let old = files(&out);
    let reference = t.path().join("ref").join("out");
    assert!(run_into(&wl, &reference, &NEW, None).success());
    let new = files(&reference);
    for n in 1..=5 {
        let o = Command::new(env!("CARGO_BIN_EXE_mmusim"))
            .args(["run", "-w", wl.to_str().unwrap(), "--out"])
            .arg(&out)
            .args(NEW)
            .env_remove(mmusim::killpoint::VAR)
            .env(mmusim::killpoint::FAIL_VAR, format!("run.sync:{n}"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "sync {n}: {err}");
        assert!(
            err.contains(&format!("{}: ", out.display()))
                && err.contains("injected at run.sync")
                && err.contains("not written"),
            "sync {n}: {err}"
        );
        // The summary is still shown: its total accesses line, as a plain run's.
        let shown = String::from_utf8_lossy(&o.stdout);
        assert!(shown.contains("accesses"), "sync {n}: {shown}");
        assert_eq!(files(&out), old, "sync {n}: the old set changed");
    }
    // The failed runs' temporary folders (their processes gone) go with the next write.
    assert!(run_into(&wl, &out, &NEW, None).success());
    assert_eq!(files(&out), new);
    assert_eq!(names(out.parent().unwrap()), ["out"]);
}
