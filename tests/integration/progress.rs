//! Progress off a terminal, `-q`, and Ctrl-C: the command-line binary as a child
//! process (its standard error is a pipe here, so it prints plain progress lines).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn mmusim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mmusim"))
}

/// A child that is killed if the test fails before it ends (a long run must not outlive
/// a failed test).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl std::ops::Deref for Reaped {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// Sends SIGINT to `child` (as Ctrl-C in its terminal would).
fn interrupt(child: &Child) {
    let ok = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(ok.success(), "kill -INT failed");
}

/// Waits for `child` at most `secs`, killing it if it overruns (then fails).
fn wait_for(child: &mut Child, secs: u64) -> i32 {
    let t0 = Instant::now();
    loop {
        if let Some(st) = child.try_wait().expect("wait") {
            return st.code().unwrap_or(-1);
        }
        if t0.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            panic!("mmusim did not stop within {secs} s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGINT to `child`, then its exit code (within 60 s) and the rest of its stderr.
fn stop(child: &mut Child, lines: &mpsc::Receiver<String>) -> (i32, Vec<String>) {
    interrupt(child);
    let code = wait_for(child, 60);
    (code, lines.iter().collect())
}

/// Standard error's lines, as they come, on a channel (the pipe is drained so the child
/// never blocks on it).
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let err = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts `cmd` with both outputs piped (killed if the test fails first) and returns it
/// with its standard error as lines.
fn start(cmd: &mut Command) -> (Reaped, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map(Reaped)
        .expect("start mmusim");
    let lines = stderr_lines(&mut child);
    (child, lines)
}

#[test]
fn sigint_stops_a_run_at_a_batch_and_writes_a_partial_result() {
    let dir = tempfile::tempdir().unwrap();
    const PLANNED: u64 = 200_000_000;
    let (mut child, lines) = start(
        mmusim()
            .args(["run", "--out"])
            .arg(dir.path())
            .args(["--set", &format!("workload.accesses={PLANNED}")])
            // No warm-up: its end resets the counters mid-batch.
            .args(["--set", "sim.warmup_accesses=0"])
            .env("MMUSIM_PROGRESS_SECS", "0.1"),
    );
    // Started: a progress line says accesses have been simulated.
    let first = lines
        .recv_timeout(Duration::from_secs(120))
        .expect("a progress line on stderr");
    assert!(first.starts_with("progress: "), "{first}");
    let (code, rest) = stop(&mut child, &lines);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert_eq!(code, 130, "stdout: {stdout}\nstderr: {rest:?}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
            .unwrap();
    assert_eq!(json["partial"], serde_json::Value::Bool(true));
    let acc = json["stats"]["total"]["accesses"].as_u64().unwrap();
    assert!(acc > 0 && acc < PLANNED, "{acc} accesses simulated");
    // Stopped at a batch boundary: a whole number of 4096-access batches of the one
    // core's stream.
    assert_eq!(acc % 4096, 0, "{acc}");
    // The CSV says so too, in its `partial` column.
    let csv = std::fs::read_to_string(dir.path().join("result.csv")).unwrap();
    let mut rows = csv.lines();
    let (head, row) = (rows.next().unwrap(), rows.next().unwrap());
    let col = head.split(',').position(|c| c == "partial").unwrap();
    assert_eq!(row.split(',').nth(col), Some("true"));
    assert!(stdout.contains("PARTIAL"), "{stdout}");
    assert!(
        rest.last().is_some_and(|l| l.ends_with(", interrupted")),
        "{rest:?}"
    );
}

#[test]
fn a_complete_run_has_no_partial_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = mmusim()
        .args(["run", "-q", "--out"])
        .arg(dir.path())
        .args(["--set", "workload.accesses=5000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("result.json")).unwrap())
            .unwrap();
    assert!(json.get("partial").is_none());
    let csv = std::fs::read_to_string(dir.path().join("result.csv")).unwrap();
    let mut rows = csv.lines();
    let (head, row) = (rows.next().unwrap(), rows.next().unwrap());
    let col = head.split(',').position(|c| c == "partial").unwrap();
    assert_eq!(row.split(',').nth(col), Some("false"));
}

#[test]
fn off_a_terminal_progress_is_plain_lines_and_q_silences_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = |quiet: bool| {
        let mut c = mmusim();
        c.args(["run", "--out"])
            .arg(dir.path())
            .args(["--set", "workload.accesses=300000"])
            .env("MMUSIM_PROGRESS_SECS", "0.02");
        if quiet {
            c.arg("-q");
        }
        c.output().unwrap()
    };
    let out = run(false);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<&str> = err.lines().collect();
    // Every line is a progress line, no bar's escape codes or carriage returns.
    assert!(!err.contains('\r') && !err.contains('\x1b'), "{err:?}");
    assert!(lines.len() >= 2, "{err}");
    assert!(lines.iter().all(|l| l.starts_with("progress: ")), "{err}");
    // Each line counts up to the planned total with its share; the last one is the end.
    let done = |l: &str| -> u64 {
        let n = l["progress: ".len()..].split('/').next().unwrap();
        n.replace(',', "").parse().unwrap()
    };
    assert!(lines.windows(2).all(|w| done(w[0]) <= done(w[1])), "{err}");
    let last = lines.last().unwrap();
    assert!(
        last.starts_with("progress: 300,000/300,000 accesses (100.0%), "),
        "{last}"
    );
    assert!(
        last.contains(" elapsed, ") && last.ends_with(" left"),
        "{last}"
    );
    assert!(last.contains(" accesses/s, "), "{last}");

    let out = run(true);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "");
}

#[test]
fn a_bad_progress_interval_is_refused() {
    let out = mmusim()
        .args(["run", "--set", "workload.accesses=5000"])
        .env("MMUSIM_PROGRESS_SECS", "often")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("MMUSIM_PROGRESS_SECS=often"), "{err}");
}

#[test]
fn sigint_stops_a_sweep_whose_finished_runs_resume() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("long.toml");
    // Two points, one long run each, on one thread: the first is stopped mid-run.
    std::fs::write(
        &spec,
        format!(
            r#"name = "long"
system = "skylake"

[[axis]]
key = "os.huge_pages.policy"
values = ["never", "always"]

[[workload]]
name = "long"
file = "{wl}"
set = ["accesses=200000000"]
"#,
            wl = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/default.toml")
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (mut child, lines) = start(
        mmusim()
            .args(["sweep", "run", "--threads", "1", "--out"])
            .arg(&out)
            .arg(&spec),
    );
    // The sweep has started once its store exists.
    let t0 = Instant::now();
    while !out.join("results.jsonl").exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "no store");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let (code, err) = stop(&mut child, &lines);
    assert_eq!(code, 130, "{err:?}");
    let err = err.join("\n");
    assert!(
        err.contains("interrupted") && err.contains("resumes"),
        "{err}"
    );
    // The run under way was abandoned, not stored as a result.
    let store = std::fs::read_to_string(out.join("results.jsonl")).unwrap();
    assert_eq!(store, "", "{store}");
}

#[test]
fn sigint_stops_a_study_and_keeps_the_finished_rows_apart() {
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("long.toml");
    std::fs::write(
        &spec,
        format!(
            r#"name = "long"
metrics = ["walks"]

[[system]]
name = "skylake"
file = "skylake"

[[workload]]
name = "long"
file = "{wl}"
set = ["accesses=200000000"]

[[workload]]
name = "short"
file = "{wl}"
set = ["accesses=2000", "event=[]"]
"#,
            wl = concat!(env!("CARGO_MANIFEST_DIR"), "/workloads/default.toml")
        ),
    )
    .unwrap();
    let (mut child, lines) = start(
        mmusim()
            .args(["study"])
            .arg(&spec)
            .env("MMUSIM_PROGRESS_SECS", "0.1"),
    );
    // The ticking display says the study is under way; the short run finishes first.
    let t0 = std::time::Instant::now();
    loop {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the short run never finished"
        );
        let l = lines
            .recv_timeout(Duration::from_secs(120))
            .expect("a progress line on stderr");
        assert!(l.starts_with("progress: "), "{l}");
        if l.starts_with("progress: 1/2 runs") {
            break;
        }
    }
    let (code, err) = stop(&mut child, &lines);
    assert_eq!(code, 130, "{err:?}");
    let err = err.join("\n");
    assert!(
        err.contains("interrupted: 1 of 2 runs had finished")
            && err.contains("results.partial.csv"),
        "{err}"
    );
    assert!(!dir.path().join("results.csv").exists());
    // The finished run's row, in a file whose name says it is partial.
    let partial = std::fs::read_to_string(dir.path().join("results.partial.csv")).unwrap();
    let rows: Vec<&str> = partial.lines().collect();
    assert_eq!(rows[0], "system,workload,walks");
    assert_eq!(rows.len(), 2, "{partial}");
    assert!(rows[1].starts_with("skylake,short,"), "{partial}");
}

#[test]
fn the_stop_flag_ends_a_run_at_the_next_batch_boundary() {
    use mmusim::run::{load_inputs, simulate_opts, RunOptions};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let inputs = load_inputs(
        None,
        None,
        &[
            "workload.accesses=100000".to_string(),
            "sim.warmup_accesses=0".to_string(),
        ],
    )
    .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        timeline: None,
        stop: Some(flag.clone()),
    };
    // Progress is reported as each batch of 4096 starts (0, 4096, 8192, ...): the flag
    // set as the third starts lets that batch finish and no other start.
    let (r, _) = simulate_opts(&inputs, &opts, &mut |done, _| {
        if done == 2 * 4096 {
            flag.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(r.partial);
    assert_eq!(r.stats.total.accesses, 3 * 4096);
    // Without the flag set the same run goes to its end, not partial.
    let (r, _) = simulate_opts(&inputs, &opts_unset(), &mut |_, _| {}).unwrap();
    assert!(!r.partial);
    assert_eq!(r.stats.total.accesses, 100_000);

    fn opts_unset() -> RunOptions {
        RunOptions {
            timeline: None,
            stop: Some(Arc::new(AtomicBool::new(false))),
        }
    }
}

/// `compare` shows the same progress and stops on Ctrl-C like a study: exit 130, the
/// runs under way abandoned, nothing printed as a table or written.
#[test]
fn sigint_stops_a_compare_and_keeps_the_finished_runs_apart() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let (mut child, lines) = start(
        mmusim()
            .args([
                "compare",
                "-c",
                "skylake,skylake-htab",
                "-w",
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/workloads/default.toml+accesses=200000000"
                ),
                "--out",
            ])
            .arg(&out)
            .env("MMUSIM_PROGRESS_SECS", "0.1"),
    );
    let first = lines
        .recv_timeout(Duration::from_secs(120))
        .expect("a progress line on stderr");
    assert!(first.starts_with("progress: 0/2 runs"), "{first}");
    let (code, err) = stop(&mut child, &lines);
    assert_eq!(code, 130, "{err:?}");
    let err = err.join("\n");
    assert!(
        err.contains("interrupted: 0 of 2 runs had finished") && err.contains("runs.partial.csv"),
        "{err}"
    );
    assert!(!out.join("compare.csv").exists());
    // No run had finished: the partial file holds result.csv's header alone.
    let partial = std::fs::read_to_string(out.join("runs.partial.csv")).unwrap();
    assert_eq!(partial.lines().count(), 1, "{partial}");
    assert!(
        partial.starts_with("config,config_file,design,"),
        "{partial}"
    );
}

/// Ctrl-C on a run of a compressed trace whose count (for the automatic warm-up, half
/// the trace) is still being decoded: the run stops at its batch and writes its partial
/// result at once, the count stopped where it got, instead of waiting for the rest of
/// the trace's decode. The trace is one zstd frame of 2 MiB of text repeated 20,000
/// times (concatenated frames are one stream): 40 GiB of text in a file of a few
/// hundred kilobytes, whose decode and count take minutes. Would catch a stopped run
/// that waits for the count (it then overruns the 15 s given), or a report that claims
/// a warm-up the count never reached.
#[test]
fn sigint_does_not_wait_for_the_count_of_a_long_compressed_trace() {
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..2 * 1024 * 1024 / 16)
        .map(|i| format!("R {:#013x}\n", 0x10_0000 + (i % 4096) * 4096))
        .collect();
    assert_eq!(lines.len(), 2 << 20);
    let frame = zstd::stream::encode_all(lines.as_bytes(), 3).unwrap();
    let trace = dir.path().join("long.txt.zst");
    let mut bytes = Vec::with_capacity(frame.len() * 20_000);
    for _ in 0..20_000 {
        bytes.extend_from_slice(&frame);
    }
    std::fs::write(&trace, bytes).unwrap();
    let out = dir.path().join("o");
    let (mut child, lines) = start(
        mmusim()
            .args(["run", "--trace"])
            .arg(&trace)
            .arg("--out")
            .arg(&out)
            .env("MMUSIM_PROGRESS_SECS", "0.1"),
    );
    let first = lines
        .recv_timeout(Duration::from_secs(120))
        .expect("a progress line on stderr");
    assert!(first.starts_with("progress: "), "{first}");
    interrupt(&child);
    let code = wait_for(&mut child, 15);
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(code, 130, "{rest:?}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert_eq!(json["partial"], true);
    let w = &json["warmup"];
    assert_eq!(w["reached"], false, "{w}");
    let rule = w["rule"].as_str().unwrap();
    assert!(
        rule.contains("Ctrl-C stopped the run before the trace was counted"),
        "{rule}"
    );
    // The least warm-up the count allows: half of what it counted, which is at least
    // what the run read.
    let least = w["accesses_per_core"].as_u64().unwrap();
    let read = json["stats"]["total"]["accesses"].as_u64().unwrap();
    assert!(
        read > 0 && 2 * least >= read,
        "warm-up {least}, read {read}"
    );
}
