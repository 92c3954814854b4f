//! The automatic warm-up (`sim.warmup_accesses = "auto"`): half of the accesses of the
//! core that makes fewest, and for a trace, its length.
//!
//! In: a workload, its folder, the tasks and cores that run it. Out: the warm-up, the
//! rule that gave it (for the report) and the shortest core's stream; or, for a `run`
//! from a compressed trace ([`counting`]), a [`Counting`] that the run learns the
//! warm-up from as it goes.
//!
//! A trace's length is known only by reading it: a raw `.mmt`'s from its size
//! ([`crate::trace::length`]); a compressed trace is counted by decoding it, before the
//! run (which then decodes it again), or, when the run asks, on the thread that decodes
//! it once for both ([`crate::trace::predecode`]). The warm-up's end is needed only at
//! half the trace, so the run starts at once and meets the count on the way
//! ([`crate::sim::LateWarmup`]); the result is the same either way.

use super::Generator;
use crate::loader::ConfigError;
use crate::sim::{LateWarmup, WarmupStop};
use crate::trace::predecode::{Counter, Predecoded};
use crate::trace::TraceFormat;
use crate::workload::{AccessSource, WorkloadSpec};
use std::path::Path;

/// Trace lengths counted so far, by (file, format, cap): see [`resolve_warmup`].
type TraceCounts =
    std::sync::Mutex<std::collections::HashMap<(std::path::PathBuf, String, u64), u64>>;
static TRACE_COUNTS: std::sync::OnceLock<TraceCounts> = std::sync::OnceLock::new();

/// The default warm-up (`sim.warmup_accesses = "auto"`) for `workload` run as `tasks`
/// streams on `cores` cores, and the rule that gave it: half of the accesses of the core
/// that makes fewest (a core runs tasks c, c + cores, ...), so that statistics
/// cover a second half whose TLBs, walk caches and caches the first half filled (the
/// split ChampSim-style studies make with their warm-up instructions); none for a
/// reference string, whose classic fault counts include the first references. A trace
/// of unknown length is counted first (one extra read of the file; see [`counting`] for
/// the one read a `run` shares with its count); standard input cannot be, and runs with
/// no warm-up.
pub(super) fn resolve_warmup(
    workload: &WorkloadSpec,
    dir: &std::path::Path,
    (tasks, cores): (u32, u32),
) -> Result<(u64, String, Option<u64>), String> {
    const NONE_REFS: &str =
        "auto: none for a reference string (its faults count from the first reference)";
    let per_task = workload.accesses_per_core();
    let tasks = tasks.max(1) as usize;
    // Each task's stream length; a trace's is counted (capped by `accesses`).
    let lengths: Vec<u64> = match &workload.generator {
        Generator::Refs { .. } => return Ok((0, NONE_REFS.into(), None)),
        Generator::Trace {
            path,
            paths,
            format,
            ..
        } => {
            if is_refs(workload, dir) {
                return Ok((0, NONE_REFS.into(), None));
            }
            if path.as_deref() == Some("-") || paths.iter().any(|p| p == "-") {
                return Ok((
                    0,
                    "auto: none (the length of standard input is not known ahead)".into(),
                    None,
                ));
            }
            // One count per distinct file: with `path`, every task reads it from its start.
            let streams = if paths.is_empty() { 1 } else { tasks };
            let cap = if per_task > 0 { per_task } else { u64::MAX };
            let mut counted = Vec::with_capacity(streams);
            for t in 0..streams {
                // Sweeps and compares load the same trace for many runs: count it once
                // per process (by file, format and cap).
                let file = if paths.is_empty() {
                    path.as_deref()
                } else {
                    paths.get(t).map(String::as_str)
                };
                let key = (dir.join(file.unwrap_or("")), format!("{format}"), cap);
                let counts = TRACE_COUNTS.get_or_init(Default::default);
                if let Some(&n) = counts.lock().expect("lock").get(&key) {
                    counted.push(n);
                    continue;
                }
                // A raw `.mmt`'s length from its size and header instead of reading it
                // once more than the run does (issue 21; compressed ones are read).
                if let Some(n) = crate::trace::length::mmt_length(&key.0, *format) {
                    counted.push(n.min(cap));
                    continue;
                }
                // A trace that cannot be read is reported where traces are opened (the
                // run, `sweep plan`), with their wording; here it only leaves no warm-up.
                let Ok(mut src) = workload.open(t, dir) else {
                    return Ok((0, "auto: none (the trace could not be read)".into(), None));
                };
                let n = count(&mut *src, cap, &|_| {})?;
                counted.push(n);
                counts.lock().expect("lock").insert(key, n);
            }
            (0..tasks).map(|t| counted[t % streams]).collect()
        }
        _ => vec![per_task; tasks],
    };
    let shortest = shortest(&lengths, cores);
    let what = if matches!(workload.generator, Generator::Trace { .. }) {
        "trace"
    } else {
        "generated"
    };
    Ok((shortest / 2, rule(what, shortest), Some(shortest)))
}

/// The fewest accesses a core makes, running `lengths[c]`, `lengths[c + cores]`, ...:
/// the warm-up counts a core's accesses, so it is half of this.
fn shortest(lengths: &[u64], cores: u32) -> u64 {
    let cores = (cores.max(1) as usize).min(lengths.len()).max(1);
    (0..cores)
        .map(|c| lengths.iter().skip(c).step_by(cores).sum::<u64>())
        .min()
        .unwrap_or(0)
}

fn rule(what: &str, shortest: u64) -> String {
    format!("auto: half of each core's {what} stream ({shortest} accesses)")
}

/// Whether `workload` is a reference string (a `.refs` file is one too), which has no
/// warm-up.
fn is_refs(workload: &WorkloadSpec, dir: &Path) -> bool {
    let Generator::Trace {
        path,
        paths,
        format,
        ..
    } = &workload.generator
    else {
        return matches!(workload.generator, Generator::Refs { .. });
    };
    let first = path.iter().chain(paths).next().map(String::as_str);
    match format {
        TraceFormat::Refs => true,
        TraceFormat::Auto => first.is_some_and(|p| {
            p != "-" && crate::trace::detect(&dir.join(p)).ok() == Some(TraceFormat::Refs)
        }),
        _ => false,
    }
}

/// The accesses of `src`, at most `cap`; `progress` hears the count so far.
fn count(src: &mut dyn AccessSource, cap: u64, progress: &dyn Fn(u64)) -> Result<u64, String> {
    const BATCH: usize = 1 << 14;
    let mut buf = Vec::with_capacity(BATCH);
    let mut n = 0u64;
    while n < cap {
        buf.clear();
        src.fill(&mut buf, BATCH).map_err(|e| e.msg)?;
        if buf.is_empty() {
            break;
        }
        n += buf.len() as u64;
        progress(n.min(cap));
    }
    Ok(n.min(cap))
}

/// The automatic warm-up of a run from one compressed trace, counted while the run
/// goes: the thread that decodes the trace once counts it and gives the run its bytes
/// ([`Predecoded`]).
#[derive(Clone, Debug)]
pub struct Counting {
    pub(super) trace: Predecoded,
    tasks: usize,
    cores: u32,
    /// What a failed count is reported as: the error the counting pass before the run
    /// gave (the workload's `generator` key), with the count's message.
    error: ConfigError,
}

/// A [`Counting`] for an automatic warm-up of `workload` (run as `tasks` streams on
/// `cores` cores), when its length is counted by decoding one compressed trace file
/// (`path`, not `paths`) that no earlier count in this process has counted; else
/// `None`, and [`resolve_warmup`] counts as before. `error`: see [`Counting`].
pub(super) fn counting(
    workload: &WorkloadSpec,
    dir: &Path,
    (tasks, cores): (u32, u32),
    error: ConfigError,
) -> Option<Counting> {
    let Generator::Trace {
        path: Some(p),
        paths,
        format,
        ..
    } = &workload.generator
    else {
        return None;
    };
    if !paths.is_empty() || p == "-" || is_refs(workload, dir) {
        return None;
    }
    let per_task = workload.accesses_per_core();
    let cap = if per_task > 0 { per_task } else { u64::MAX };
    let file = dir.join(p);
    let key = (file.clone(), format!("{format}"), cap);
    let counts = TRACE_COUNTS.get_or_init(Default::default);
    if counts.lock().expect("lock").contains_key(&key)
        || crate::trace::length::mmt_length(&file, *format).is_some()
    {
        return None;
    }
    let (spec, dir) = (workload.clone(), dir.to_path_buf());
    let whole_mmt = cap == u64::MAX
        && match format {
            TraceFormat::Auto => crate::trace::format_from_name(&file),
            f => Some(*f),
        } == Some(TraceFormat::Binary);
    let counter = if whole_mmt {
        // What the size cannot tell, the counting pass before the run tells (its error).
        Counter::Mmt(Box::new(move || match spec.open(0, &dir) {
            Ok(mut src) => count(&mut *src, cap, &|_| {}),
            Err(_) => Ok(0),
        }))
    } else {
        Counter::Reader(Box::new(move |bytes, progress| {
            // Bytes the reader cannot open (no format told, a bad header): the run opens
            // the same bytes and says why, as after the counting pass (no warm-up).
            let Ok(mut src) = spec.open_with(0, &dir, Some(bytes)) else {
                return Ok(0);
            };
            count(&mut *src, cap, progress)
        }))
    };
    let trace = Predecoded::start(&file, counter)?;
    Some(Counting {
        trace,
        tasks: tasks.max(1) as usize,
        cores,
        error,
    })
}

impl Counting {
    /// The shortest core's stream when the trace holds `n` accesses (capped: the
    /// count is): every task reads the trace from its start.
    fn shortest(&self, n: u64) -> u64 {
        shortest(&vec![n; self.tasks], self.cores)
    }

    /// The warm-up and its rule, waiting for the count; or the count's error, worded
    /// as the counting pass before the run worded it.
    pub(super) fn settle(&self) -> Result<(u64, String), String> {
        match self.trace.count() {
            Ok(n) => {
                let s = self.shortest(n);
                Ok((s / 2, rule("trace", s)))
            }
            Err(msg) => Err(ConfigError {
                msg,
                ..self.error.clone()
            }
            .to_string()),
        }
    }
}

impl Counting {
    /// [`Counting::settle`] for a run that Ctrl-C stopped: the count's outcome if it is
    /// known; else the count stops where it is, without waiting for the rest of the
    /// trace's decode, and the warm-up is the least the trace's length allows, its rule
    /// saying so (the run, stopped before the count was done, did not reach it:
    /// [`LateWarmup::after`] ends it only once the count is done).
    pub(super) fn settle_stopped(&self) -> Result<(u64, String), String> {
        match self.trace.count_or_cancel() {
            Ok(_) => self.settle(),
            Err(so_far) => {
                let s = self.shortest(so_far);
                Ok((
                    s / 2,
                    format!(
                        "auto: half of each core's trace stream, at least {} accesses (Ctrl-C stopped the run before the trace was counted past {s} accesses; the compressed stream was not checked to its end)",
                        s / 2
                    ),
                ))
            }
        }
    }
}

impl LateWarmup for Counting {
    /// The warm-up grows with the count: what is counted so far bounds it from below.
    fn after(&self, at: u64) -> WarmupStop {
        self.trace.wait_for(|(so_far, done)| match done {
            Some(Ok(n)) => {
                let w = self.shortest(*n) / 2;
                Some(if w <= at {
                    WarmupStop::Now
                } else {
                    WarmupStop::At(w)
                })
            }
            Some(Err(_)) => Some(WarmupStop::Never),
            None => {
                let w = self.shortest(so_far) / 2;
                (w > at).then_some(WarmupStop::At(w))
            }
        })
    }
}
