//! The bounded randomized test of every input parser (issue 17's standing guard): for
//! each parser, `MMUSIM_FUZZ_INPUTS` generated inputs (default 100,000), mutations of the
//! valid inputs the project ships (configs, workloads, traces, sweep specs and stores)
//! and purely random ones, fed to the library's parse function in-process. Each input
//! must not panic (caught per input), must take under [`CPU_LIMIT`] of the thread's CPU
//! time (a watchdog aborts the run, printing the input, if one hangs), and, when refused,
//! must give a message naming the file and the line (or key path, byte offset, position)
//! as that parser's contract says. The seed is fixed (`MMUSIM_FUZZ_SEED` changes it), so
//! a run is reproducible; failures print the input as a byte-string literal.
//!
//! Longer local campaigns: `MMUSIM_FUZZ_INPUTS=1000000 cargo test --release --test
//! integration randomized -- --nocapture` (each parser prints its counts and timings).

mod gen;
mod seeds;
mod targets;

use gen::{escape, Gen, Shape};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// CPU time one input may take (debug build): far above the typical 0.1 to 0.5 ms, so
/// that only work out of proportion to the input fails it. Linear work on the longest
/// inputs (32 KiB) stays below it: a 5 KB name after `extends` costs ~130 ms in
/// suggestion distances in a debug build.
pub const CPU_LIMIT: Duration = Duration::from_millis(250);
/// Wall time after which an input counts as hung: the watchdog prints it and aborts (a
/// hang cannot be interrupted in-process). Generous: CI's two cores are shared.
const HANG_LIMIT: Duration = Duration::from_secs(60);

/// One parser under test.
pub struct Target {
    pub name: &'static str,
    pub shape: Shape,
    pub seeds: Vec<Vec<u8>>,
    /// Values that replace values (TOML) or fields (lines).
    pub values: Vec<Vec<u8>>,
    /// Tokens inserted anywhere.
    pub tokens: Vec<Vec<u8>>,
    /// Characters of purely random inputs.
    pub alphabet: Vec<u8>,
    /// Inputs of classes that another change fixes: not generated (see each target).
    pub avoid: fn(&[u8]) -> bool,
    /// CPU time one input may take.
    pub cpu_limit: Duration,
    /// Parses one input. `Err` is a contract violation (a refusal whose message does not
    /// name what it must, an impossible result), not a refusal.
    pub check: Check,
}

/// Parses one input: `Ok` with what the parser did, or a contract violation.
pub type Check = Box<dyn FnMut(&[u8]) -> Result<Outcome, String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Refused,
}

fn never(_: &[u8]) -> bool {
    false
}

/// The thread's CPU time: unaffected by other processes on a loaded machine.
pub fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn inputs_per_parser() -> usize {
    std::env::var("MMUSIM_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(100_000)
}

fn base_seed() -> u64 {
    std::env::var("MMUSIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6d6d_7573_696d_3137) // "mmusim17"
}

/// Aborts the process when the input being parsed has run past [`HANG_LIMIT`].
struct Watchdog {
    stop: Arc<AtomicBool>,
    started_ms: Arc<AtomicU64>,
    input: Arc<Mutex<(usize, Vec<u8>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn new(name: &'static str) -> Watchdog {
        let stop = Arc::new(AtomicBool::new(false));
        let started_ms = Arc::new(AtomicU64::new(0));
        let input = Arc::new(Mutex::new((0, Vec::new())));
        let epoch = Instant::now();
        let (s, t, i) = (stop.clone(), started_ms.clone(), input.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let at = t.load(Ordering::Relaxed);
                let now = epoch.elapsed().as_millis() as u64;
                if at > 0 && now.saturating_sub(at) > HANG_LIMIT.as_millis() as u64 {
                    let (k, input) = &*i.lock().unwrap_or_else(|e| e.into_inner());
                    eprintln!(
                        "randomized {name}: input #{k} runs for more than {HANG_LIMIT:?} (a hang): {}",
                        escape(input, 2000)
                    );
                    std::process::abort();
                }
            }
        });
        Watchdog {
            stop,
            started_ms,
            input,
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Feeds `t` its inputs; panics listing the first failures.
pub fn run(mut t: Target) {
    let n = inputs_per_parser();
    let seed = base_seed() ^ crate_hash(t.name);
    let mut g = Gen::new(seed);
    let dog = Watchdog::new(t.name);
    let epoch = Instant::now();
    let (mut accepted, mut avoided, mut slowest) = (0usize, 0usize, (Duration::ZERO, 0usize));
    let mut failures: Vec<String> = Vec::new();
    let cpu0 = cpu_time();
    let mut k = 0;
    while k < n {
        let input = if k % 10 == 9 {
            g.random(&t.alphabet, &t.tokens)
        } else {
            g.mutate(&t.seeds, t.shape, &t.values, &t.tokens)
        };
        if (t.avoid)(&input) {
            avoided += 1;
            // An `avoid` that matched nearly everything would loop for ever.
            assert!(
                avoided <= n.max(1000),
                "randomized {}: {avoided} inputs avoided for {k} tested",
                t.name
            );
            continue;
        }
        {
            let mut slot = dog.input.lock().unwrap_or_else(|e| e.into_inner());
            slot.0 = k;
            slot.1.clone_from(&input);
        }
        dog.started_ms
            .store(epoch.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
        let c0 = cpu_time();
        let result = catch_unwind(AssertUnwindSafe(|| (t.check)(&input)));
        let spent = cpu_time() - c0;
        dog.started_ms.store(0, Ordering::Relaxed);
        if spent > slowest.0 {
            slowest = (spent, k);
        }
        let problem = match result {
            Ok(Ok(Outcome::Accepted)) => {
                accepted += 1;
                None
            }
            Ok(Ok(Outcome::Refused)) => None,
            Ok(Err(v)) => Some(v),
            Err(p) => Some(format!(
                "PANIC: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        };
        let problem = problem.or_else(|| {
            (spent > t.cpu_limit)
                .then(|| format!("took {spent:?} of CPU (limit {:?})", t.cpu_limit))
        });
        if let Some(p) = problem {
            if failures.len() < 5 {
                failures.push(format!(
                    "input #{k}: {p}\n    input: {}",
                    escape(&input, 600)
                ));
            }
        }
        k += 1;
    }
    let cpu = cpu_time() - cpu0;
    eprintln!(
        "randomized {}: {n} inputs ({accepted} accepted, {} refused; {avoided} of avoided classes skipped), {:.1} s CPU, {:.1} us mean, slowest #{} {:?}",
        t.name,
        n - accepted,
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / n.max(1) as f64,
        slowest.1,
        slowest.0
    );
    assert!(
        failures.is_empty(),
        "randomized {} (seed {seed:#x}): {} failures, the first:\n{}",
        t.name,
        failures.len(),
        failures.join("\n")
    );
}

/// A stable per-parser seed offset (FNV-1a of the name).
fn crate_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

#[test]
fn system_config() {
    run(targets::system_config());
}

#[test]
fn workload() {
    run(targets::workload());
}

#[test]
fn set_assignments() {
    run(targets::set_assignments());
}

#[test]
fn reference_strings() {
    run(targets::refs());
}

#[test]
fn lackey_traces() {
    run(targets::lackey());
}

#[test]
fn champsim_traces() {
    run(targets::champsim());
}

#[test]
fn text_traces() {
    run(targets::text());
}

#[test]
fn mmt_traces() {
    run(targets::mmt());
}

#[test]
fn sweep_specs() {
    run(targets::sweep_spec());
}

#[test]
fn sweep_stores() {
    run(targets::sweep_store());
}
