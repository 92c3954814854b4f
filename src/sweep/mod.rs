//! Sweeps: one system config, a list of workloads, and axes over any config key, run as
//! many points in parallel, resumably.
//!
//! Owns the sweep spec (TOML: `system` and its `set`, `[[workload]]`s, `[[axis]]`es of
//! a dotted key, the path `--set` takes, and its values, combined as a full `product` or
//! `zip`ped; an axis keyed `system` picks each point's base config), the plan (every point x workload as a job, checked before anything runs (the
//! plots' metrics and the trace files in `checks.rs`), each with a stable id hashed from its resolved config and workload), and the result
//! store. In: a spec path. Out: `results.jsonl` in the sweep's output folder, one line
//! per finished job (its id, point, workload, axis values, and the run's total
//! statistics and page-table counters, or its error), appended as each job ends and
//! synced beside the runs (a run counts as finished once its record is synced), so that a
//! killed sweep restarted skips what is there and loses nothing. A torn last line (the
//! kill came mid-write) is cut and its job runs again; a sweep holds a lock on its
//! folder while it writes; failed runs are listed and, with `--retry-failed`, run
//! again (reading, locking and rewriting the store: `store.rs`; a run's opening of it and
//! its appends: `resume.rs`). `--shard I/N` runs the jobs
//! whose index is I mod N, for job arrays on a cluster; `--index K` runs run K alone.

use crate::loader::ConfigSource;
use crate::report::{fnv1a, RunReport};
use crate::run::{load_inputs, simulate_recording, Inputs, RunOptions};
use crate::study::{resolve, Variant};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

mod checks;
mod cli;
pub mod onepass;
mod plan_errors;
pub mod report;
mod resume;
pub mod store;
pub use cli::{cli, default_out, report_in_place, SweepCmd};
pub use plan_errors::PlanError;
pub use resume::Failure;
use resume::{open_store, Appender, Opened};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Config file or preset every point starts from, and overrides for all points.
    pub system: String,
    #[serde(default)]
    pub set: Vec<String>,
    pub workload: Vec<Variant>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default, rename = "axis")]
    pub axes: Vec<Axis>,
    /// Answer a sweep over the geometry of one set-associative LRU TLB by per-set stack
    /// passes per workload (see [`onepass`]); `false` simulates every point.
    #[serde(default = "yes")]
    pub one_pass: bool,
    /// The point the report normalises to (default 0).
    #[serde(default)]
    pub baseline: Option<usize>,
    /// The report's plots (see [`report::PlotSpec`]).
    #[serde(default, rename = "plot")]
    pub plots: Vec<report::PlotSpec>,
    /// The spec's text, as read and parsed (copied beside the results).
    #[serde(skip)]
    pub text: String,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every combination of the axes' values.
    #[default]
    Product,
    /// The i-th value of every axis together (all axes as long).
    Zip,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// A dotted config key, as `--set` takes it (`tlb[1].entries`).
    pub key: String,
    pub values: Vec<toml::Value>,
}

/// One run of a sweep: a point (a value per axis) on one workload.
pub struct Job {
    /// Position in the plan (shards split on it).
    pub index: usize,
    pub id: String,
    pub point: usize,
    pub workload: String,
    /// (axis key, value as written).
    pub axes: Vec<(String, String)>,
    pub(crate) inputs: Inputs,
}

/// One line of the result store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The sweep's id: a hash of all its runs' ids (shards of one sweep share it).
    #[serde(default)]
    pub sweep: String,
    pub id: String,
    pub point: usize,
    pub workload: String,
    pub axes: Vec<(String, String)>,
    /// How the numbers were had: absent for a simulation, `stack` for the one-pass
    /// answer (then `total` holds the accesses, instructions and that TLB only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The run's `stats.total`, or nothing when it failed.
    #[serde(default)]
    pub total: Option<serde_json::Value>,
    /// The run's `stats.page_tables`, the design's own counters (absent in stack
    /// records and in stores written before they were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_tables: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The points: for each, the (key, value) overrides of its axes.
fn points(spec: &SweepSpec) -> Result<Vec<Vec<(String, String)>>, String> {
    let axes: Vec<(String, Vec<String>)> = (spec.axes.iter())
        .map(|a| {
            (
                a.key.clone(),
                a.values.iter().map(|v| v.to_string()).collect(),
            )
        })
        .collect();
    if let Some(a) = axes.iter().find(|a| a.1.is_empty()) {
        return Err(format!("axis `{}`: no values", a.0));
    }
    Ok(match spec.mode {
        Mode::Zip => {
            let n = axes.first().map_or(1, |a| a.1.len());
            if let Some(a) = axes.iter().find(|a| a.1.len() != n) {
                return Err(format!(
                    "mode = \"zip\": axis `{}` has {} values, the first has {n}",
                    a.0,
                    a.1.len()
                ));
            }
            (0..n)
                .map(|i| axes.iter().map(|a| (a.0.clone(), a.1[i].clone())).collect())
                .collect()
        }
        Mode::Product => {
            let mut out: Vec<Vec<(String, String)>> = vec![Vec::new()];
            for (k, vals) in &axes {
                out = (out.iter())
                    .flat_map(|p| {
                        vals.iter().map(move |v| {
                            let mut q = p.clone();
                            q.push((k.clone(), v.clone()));
                            q
                        })
                    })
                    .collect();
            }
            out
        }
    })
}

/// A sweep spec's text decoded, with its points (each a list of axis key and value) and
/// its plots and baseline checked: what [`plan`] knows before it loads any run's inputs.
/// `file` names the spec in errors.
pub type Parsed = (SweepSpec, ConfigSource, Vec<Vec<(String, String)>>);

/// The first half of [`plan`], on text (public for the fuzz targets and tests).
pub fn parse_spec(file: &str, text: &str) -> Result<Parsed, Vec<String>> {
    parse_spec_at(file, text).map_err(|e| e.iter().map(|e| e.to_string()).collect())
}

/// [`parse_spec`] with each error's place.
fn parse_spec_at(file: &str, text: &str) -> Result<Parsed, Vec<PlanError>> {
    let (spec, spec_src) =
        crate::loader::load::<SweepSpec>(file, text, &[]).map_err(|e| vec![PlanError::at(e)])?;
    duplicate_axes(&spec, &spec_src)?;
    let of = |key: &str, e: String| vec![PlanError::of(file, Some((&spec_src, key)), e)];
    let pts = points(&spec).map_err(|e| of("axis", e))?;
    let keys: Vec<String> = spec.axes.iter().map(|a| a.key.clone()).collect();
    report::check_plots(&spec.plots, &keys).map_err(|e| of("plot", e))?;
    if let Some(b) = spec.baseline.filter(|&b| b >= pts.len()) {
        let msg = format!("baseline = {b}, but the sweep has {} points", pts.len());
        return Err(of("baseline", msg));
    }
    Ok((spec, spec_src, pts))
}

/// Two axes of one key (however spelt: `tlb.stlb.entries`, `tlb."stlb".entries`) would
/// set it twice per point, the last value winning: refused, naming both lines.
fn duplicate_axes(
    spec: &SweepSpec,
    src: &crate::loader::ConfigSource,
) -> Result<(), Vec<PlanError>> {
    let keys: Vec<String> = (spec.axes.iter())
        .map(|a| crate::loader::canonical_path(&a.key).unwrap_or_else(|| a.key.clone()))
        .collect();
    let errors: Vec<PlanError> = (0..keys.len())
        .filter_map(|i| {
            let first = keys[..i].iter().position(|k| *k == keys[i])?;
            let line = src
                .line_of(&format!("axis[{first}].key"))
                .map_or(String::new(), |l| format!(", line {l}"));
            let msg = format!("`{}` is already an axis (axis[{first}]{line})", keys[i]);
            Some(PlanError::at(src.error_at(&format!("axis[{i}].key"), msg)))
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Reads and checks a sweep: every job's inputs are loaded (on `threads` threads) and
/// validated before anything runs; the errors name the point, the workload and the key.
pub fn plan(spec_path: &Path, threads: usize) -> Result<(SweepSpec, Vec<Job>), Vec<String>> {
    plan_given(Spec::File(spec_path), threads)
        .map_err(|e| e.iter().map(|e| e.to_string()).collect())
}

/// Where a sweep's spec comes from: a file (relative paths in it start at its folder),
/// or TOML text (the Python package's `sweep(dict or TOML)`) named `name` in errors,
/// its relative paths starting at `dir`.
#[derive(Clone, Copy, Debug)]
pub enum Spec<'a> {
    File(&'a Path),
    Text {
        name: &'a str,
        text: &'a str,
        dir: &'a Path,
    },
}

/// [`plan`] of a spec given as a file or as text, each error with its place.
pub fn plan_given(given: Spec, threads: usize) -> Result<(SweepSpec, Vec<Job>), Vec<PlanError>> {
    let (name, text, dir) = match given {
        Spec::File(p) => {
            let text = crate::loader::read_input(p).map_err(|e| vec![PlanError::at(e)])?;
            let dir = p.parent().unwrap_or(Path::new("")).to_path_buf();
            (p.display().to_string(), text, dir)
        }
        Spec::Text { name, text, dir } => (name.to_string(), text.to_string(), dir.into()),
    };
    let (mut spec, spec_src, pts) = parse_spec_at(&name, &text)?;
    spec.text = text;
    // Loading a run's inputs (its config and workload parsed, checked and hashed) is
    // most of a plan's time: done on `threads` threads, taken in plan order.
    let pairs: Vec<(usize, usize)> = (0..pts.len())
        .flat_map(|pi| (0..spec.workload.len()).map(move |wi| (pi, wi)))
        .collect();
    let loaded: Vec<Mutex<Option<Loaded>>> = pairs.iter().map(|_| Mutex::new(None)).collect();
    crate::util::parallel_for(pairs.len(), threads, |i| {
        let (pi, wi) = pairs[i];
        *loaded[i].lock().expect("lock") = Some(load_job(&spec, &dir, &pts[pi], wi));
        true
    });
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    let mut refused = Vec::new();
    let mut seen = HashSet::new();
    for (&(pi, wi), l) in pairs.iter().zip(loaded) {
        let (p, w) = (&pts[pi], &spec.workload[wi]);
        match l.into_inner().expect("lock").expect("every run loaded") {
            Ok((inputs, id)) => {
                if !seen.insert(id.clone()) {
                    let msg = "the same run as an earlier point (its axes change nothing)";
                    let mut e = PlanError::of(&name, Some((&spec_src, "axis")), msg.into());
                    e.text = format!("point {pi} x workload `{}`: {msg}", w.name);
                    errors.push(e);
                }
                jobs.push(Job {
                    index: jobs.len(),
                    id,
                    point: pi,
                    workload: w.name.clone(),
                    axes: p.clone(),
                    inputs,
                });
            }
            Err(e) => refused.extend(e.into_iter().map(|error| plan_errors::Failure {
                point: pi,
                workload: w.name.clone(),
                error: plan_errors::in_spec(error, &spec_src, &spec, p, wi),
            })),
        }
    }
    // Each problem once, however many points it hits (a geometry key swept alone).
    let names: Vec<String> = spec.workload.iter().map(|w| w.name.clone()).collect();
    errors.extend(plan_errors::grouped(&refused, &pts, &names));
    if errors.is_empty() {
        errors = (checks::before_running(&spec, &jobs).into_iter())
            .map(|e| PlanError::of(&name, None, e))
            .collect();
    }
    if errors.is_empty() {
        Ok((spec, jobs))
    } else {
        Err(errors)
    }
}

/// A run's inputs and id, or why its config or workload was refused.
type Loaded = Result<(Inputs, String), Vec<crate::loader::ConfigError>>;

/// Loads the run of point `p` on workload `wi`: its inputs, and its id hashed from them.
fn load_job(spec: &SweepSpec, dir: &Path, p: &[(String, String)], wi: usize) -> Loaded {
    let w = &spec.workload[wi];
    // An axis named `system` picks the point's base config (a file or preset).
    let mut system = spec.system.clone();
    let mut sets: Vec<String> = spec.set.iter().chain(&w.system_set).cloned().collect();
    for (k, v) in p {
        if k == "system" {
            system = toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|t| t.get("v")?.as_str().map(String::from))
                .unwrap_or_else(|| v.clone());
        } else {
            sets.push(format!("{k}={v}"));
        }
    }
    sets.extend(w.set.iter().map(|x| format!("workload.{x}")));
    let inputs = load_inputs(
        Some(&resolve(dir, &system)),
        Some(&resolve(dir, &w.file)),
        &sets,
    )?;
    let id = fnv1a(
        format!(
            "{}\n{}",
            serde_json::to_string(&inputs.system).unwrap_or_default(),
            serde_json::to_string(&inputs.workload).unwrap_or_default()
        )
        .as_bytes(),
    );
    Ok((inputs, id))
}

/// Which of a sweep's runs one invocation takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slice {
    All,
    /// Shard I of N: the runs whose number is I mod N.
    Shard(usize, usize),
    /// Run K alone (for schedulers that give each task one run).
    Index(usize),
}

impl Slice {
    fn takes(self, index: usize) -> bool {
        match self {
            Slice::All => true,
            Slice::Shard(i, n) => index % n == i,
            Slice::Index(k) => index == k,
        }
    }
}

/// What a run of a sweep did.
pub struct Summary {
    pub ran: usize,
    pub skipped: usize,
    pub failed: usize,
    /// What the one-pass answer did, when it applied.
    pub note: Option<String>,
    /// Runs of the sweep (not only of this slice) in the store now, and in the plan.
    pub in_store: usize,
    pub runs: usize,
    /// Ctrl-C stopped the sweep: the runs under way were abandoned (not stored).
    pub interrupted: bool,
    /// The failed runs of the slice, this time's and those the store held, in plan
    /// order.
    pub failures: Vec<Failure>,
}

/// Runs the jobs of `spec_path` in `slice` not yet in `<out>/results.jsonl` on
/// `threads` threads, appending each as it ends, with the folder locked (a second
/// sweep into it is refused). With `retry_failed`, the slice's failed runs in the store
/// are dropped from it and run again. A sweep over the entries and ways of one
/// set-associative LRU TLB is answered by per-set stack passes per workload (see
/// [`onepass`]) unless the spec says `one_pass = false`.
pub fn run(
    spec_path: &Path,
    out: &Path,
    slice: Slice,
    threads: usize,
    retry_failed: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Summary, String> {
    let spec = Spec::File(spec_path);
    run_given(spec, out, slice, threads, retry_failed, progress)
}

/// [`run`] of a spec given as a file or as text.
pub fn run_given(
    given: Spec,
    out: &Path,
    slice: Slice,
    threads: usize,
    retry_failed: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Summary, String> {
    let (spec, jobs) = plan_given(given, threads).map_err(|e| {
        (e.iter().map(|e| e.to_string()))
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    run_planned(&spec, &jobs, out, slice, threads, retry_failed, progress)
}

/// [`run`] of a sweep [`plan_given`] planned.
pub fn run_planned(
    spec: &SweepSpec,
    jobs: &[Job],
    out: &Path,
    slice: Slice,
    threads: usize,
    retry_failed: bool,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Summary, String> {
    if let Slice::Index(k) = slice {
        if k >= jobs.len() {
            return Err(format!(
                "--index {k}: the sweep has {} runs (0..{})",
                jobs.len(),
                jobs.len().saturating_sub(1)
            ));
        }
    }
    let sweep_id = fnv1a(
        jobs.iter()
            .map(|j| j.id.as_str())
            .collect::<Vec<_>>()
            .join(",")
            .as_bytes(),
    );
    // `_lock` lives to the end: the folder is this sweep's while it runs.
    let Opened {
        path: store,
        _lock,
        file,
        done,
        done_totals,
        failures,
    } = open_store(&spec.text, out, &sweep_id, jobs, slice, retry_failed)?;
    let todo: Vec<&Job> = (jobs.iter())
        .filter(|j| slice.takes(j.index))
        .filter(|j| !done.contains(&j.id))
        .collect();
    let in_shard = jobs.iter().filter(|j| slice.takes(j.index)).count();
    let appender = Appender::new(
        &store,
        file,
        &sweep_id,
        failures,
        progress,
        (todo.len(), threads),
    )?;
    crate::util::keep_freed_heap();
    if !todo.is_empty() {
        progress(0, todo.len());
    }
    // The syncer makes the records durable beside the runs (see [`Appender`]).
    let note =
        appender.syncing(|| run_todo(spec, jobs, &todo, &done_totals, &appender, threads))?;
    let (ran, failed, failures) = appender.finish()?;
    Ok(Summary {
        failures,
        ran,
        skipped: in_shard - todo.len(),
        failed,
        note,
        in_store: done.len() + ran,
        runs: jobs.len(),
        interrupted: crate::progress::stop_requested(),
    })
}

/// Runs (or answers by the one pass) the jobs of `todo`, appending each as it ends;
/// the one pass's note.
fn run_todo(
    spec: &SweepSpec,
    jobs: &[Job],
    todo: &[&Job],
    done_totals: &HashMap<String, serde_json::Value>,
    appender: &Appender,
    threads: usize,
) -> Result<Option<String>, String> {
    let record_job = |j: &Job, out: Outcome, method| appender.record(j, out, method);
    // Ctrl-C (the process-wide flag) stops runs at their next batch; a stopped run is
    // abandoned (None), never stored, so the sweep resumes with it.
    let opts = RunOptions::stoppable();
    let simulate_one = |j: &Job, record: Option<usize>| simulate_one(j, &opts, record);
    let stopped = crate::progress::stop_requested;

    // One pass: per workload, the stack pass and a full simulation of its first point
    // to check it against; the workloads whose check passes need no more simulation.
    let one = if spec.one_pass {
        onepass::eligible(jobs)
    } else {
        Err("the spec says one_pass = false".into())
    };
    let mut curves: HashMap<String, onepass::Curve> = HashMap::new();
    let mut checked: HashSet<String> = HashSet::new();
    let mut note = None;
    let mut names: Vec<&str> = todo.iter().map(|j| j.workload.as_str()).collect();
    names.sort();
    names.dedup();
    if let (Ok(op), false) = (&one, names.is_empty()) {
        // Per workload: its pass (or why it failed), and whether its check run was
        // recorded.
        type Found = (String, Result<onepass::Curve, String>, bool);
        let found: Mutex<Vec<Found>> = Mutex::new(Vec::new());
        crate::util::parallel_for(names.len(), threads, |w| {
            if stopped() {
                return false;
            }
            let guard = (jobs.iter())
                .find(|j| j.workload == names[w])
                .expect("a workload has jobs");
            let t = &guard.inputs.system.tlb[op.tlb];
            let geometry = (t.entries, t.ways);
            let sets = onepass::set_counts(jobs.iter().filter(|j| j.workload == names[w]), op);
            let mut recorded = false;
            // The guard run's total, from the store or simulated (and stored), and what
            // it recorded when asked to.
            let mut guard_run = |record: Option<usize>| {
                if let (Some(t), None) = (done_totals.get(&guard.id), record) {
                    return Ok((t.clone(), None));
                }
                let Some((out, rec)) = simulate_one(guard, record) else {
                    return Err("interrupted".to_string());
                };
                let (total, error) = (out.total.clone(), out.error.clone());
                if todo.iter().any(|j| j.id == guard.id) {
                    recorded = true;
                    if !record_job(guard, out, None) {
                        return Err("the store could not be written".into());
                    }
                }
                let total = total.ok_or_else(|| {
                    format!("its check run failed: {}", error.unwrap_or_default())
                })?;
                Ok((total, rec))
            };
            let r = if op.recorded {
                guard_run(Some(op.tlb)).and_then(|(total, rec)| {
                    let rec = rec.ok_or("its check run recorded nothing")?;
                    let c = onepass::Curve::of_record(&rec, &total, op, &sets)?;
                    c.check(geometry, op.tlb, &total)?;
                    Ok(c)
                })
            } else {
                onepass::Curve::of_workload(guard, op, &sets).and_then(|c| {
                    let (total, _) = guard_run(None)?;
                    c.check(geometry, op.tlb, &total)?;
                    Ok(c)
                })
            };
            found
                .lock()
                .expect("lock")
                .push((names[w].to_string(), r, recorded));
            true
        });
        let mut failed = Vec::new();
        for (w, r, recorded) in found.into_inner().expect("lock") {
            if recorded {
                checked.insert(w.clone());
            }
            match r {
                Ok(c) => {
                    curves.insert(w, c);
                }
                Err(e) => failed.push(format!("workload `{w}`: {e}")),
            }
        }
        failed.sort();
        note = Some(if failed.is_empty() {
            format!(
                "one pass: every geometry of `{}` answered by per-set LRU stack analysis (per workload, one scan of its stream for every set count of up to 64 ways; each workload's first point simulated in full and checked against it)",
                op.name
            )
        } else {
            format!(
                "one pass: geometries of `{}` answered by per-set LRU stack analysis, except where the check failed and every point was simulated: {}",
                op.name,
                failed.join("; ")
            )
        });
    }
    if let Some(e) = appender.io_error() {
        return Err(e);
    }
    let rest: Vec<&Job> = (todo.iter().copied())
        .filter(|j| {
            !(checked.contains(&j.workload)
                && jobs
                    .iter()
                    .find(|k| k.workload == j.workload)
                    .map(|k| &k.id)
                    == Some(&j.id))
        })
        .collect();
    // The pass's answers first, in one write; then the simulations.
    let answered = |j: &Job| match (&one, curves.get(&j.workload)) {
        (Ok(op), Some(c)) => {
            let t = &j.inputs.system.tlb[op.tlb];
            Some(Outcome {
                total: Some(c.total(t.entries, t.ways, op.tlb)),
                ..Default::default()
            })
        }
        _ => None,
    };
    let stack: Vec<(&Job, Outcome, Option<String>)> = (rest.iter())
        .filter_map(|&j| Some((j, answered(j)?, Some("stack".to_string()))))
        .collect();
    if !stack.is_empty() && !stopped() {
        appender.record_all(stack);
    }
    let rest: Vec<&Job> = rest
        .into_iter()
        .filter(|&j| !curves.contains_key(&j.workload) || one.is_err())
        .collect();
    crate::util::parallel_for(rest.len(), threads, |i| {
        if stopped() {
            return false;
        }
        match simulate_one(rest[i], None) {
            Some((out, _)) => record_job(rest[i], out, None),
            None => false,
        }
    });
    Ok(note)
}

/// Runs one job: its outcome, or None when Ctrl-C stopped it (abandoned, not stored);
/// with `record`, also the reference stream of that TLB (see [`onepass`]).
fn simulate_one(
    j: &Job,
    opts: &RunOptions,
    record: Option<usize>,
) -> Option<(Outcome, Option<crate::tlb::TlbRecord>)> {
    // A panic in one run is that point's failure, not the sweep's.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        simulate_recording(&j.inputs, opts, record, &mut |_, _| {})
    }));
    let failed = |e: String| Outcome {
        error: Some(e),
        ..Default::default()
    };
    match r {
        Ok(Ok((rep, _, _))) if rep.partial => None,
        Ok(Ok((rep, _, rec))) => Some((
            Outcome {
                total: Some(total_json(&rep)),
                page_tables: Some(rep.stats.page_tables),
                error: None,
            },
            rec,
        )),
        Ok(Err(e)) => Some((failed(e.0), None)),
        Err(_) => Some((failed("the run panicked".to_string()), None)),
    }
}

/// What one run leaves in its record.
#[derive(Default)]
struct Outcome {
    total: Option<serde_json::Value>,
    page_tables: Option<Vec<serde_json::Value>>,
    error: Option<String>,
}

fn total_json(r: &RunReport) -> serde_json::Value {
    serde_json::to_value(&r.stats.total).unwrap_or(serde_json::Value::Null)
}

/// Every record of a store, in order (a torn last line is skipped; see [`store`]).
pub fn read_store(dir: &Path) -> Result<Vec<Record>, String> {
    Ok(store::read(dir)?.records.into_iter().map(|r| r.1).collect())
}

/// Combines the stores of `dirs` (shards of one sweep) into `out`/results.jsonl,
/// ordered by point and workload, each run once (a finished record supersedes a
/// failed one). Refuses two stores whose runs of the same point and workload have
/// different ids (their configs disagree: not the same sweep) or the same id with
/// different results, and an `out` another sweep holds (see [`store::lock`]).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<usize, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _lock = store::lock(out)?;
    let mut by_id: std::collections::BTreeMap<String, (Record, String)> = Default::default();
    let mut by_point: std::collections::HashMap<(usize, String), (String, String)> =
        Default::default();
    let mut sweep: Option<(String, String)> = None;
    for d in dirs {
        let from = d.display().to_string();
        for r in read_store(d)? {
            match &sweep {
                Some((s, other)) if *s != r.sweep => {
                    return Err(format!(
                        "{from} and {other} hold runs of different sweeps (ids {} and {s}): not shards of one sweep",
                        r.sweep
                    ))
                }
                Some(_) => {}
                None => sweep = Some((r.sweep.clone(), from.clone())),
            }
            let key = (r.point, r.workload.clone());
            if let Some((id, other)) = by_point.get(&key) {
                if *id != r.id {
                    return Err(format!(
                        "point {} x workload `{}`: {from} and {other} ran different configs (ids {} and {id}): not shards of one sweep",
                        r.point, r.workload, r.id
                    ));
                }
            }
            by_point.insert(key, (r.id.clone(), from.clone()));
            if let Some((prev, other)) = by_id.get(&r.id) {
                match (&prev.total, &r.total) {
                    // A retried run: the finished record stands.
                    (None, Some(_)) => {}
                    (Some(_), None) => continue,
                    _ if prev.total != r.total || prev.error != r.error => {
                        return Err(format!("run {} differs between {other} and {from}", r.id))
                    }
                    _ => continue,
                }
            }
            by_id.insert(r.id.clone(), (r, from.clone()));
        }
    }
    let mut recs: Vec<Record> = by_id.into_values().map(|v| v.0).collect();
    recs.sort_by(|a, b| (a.point, &a.workload).cmp(&(b.point, &b.workload)));
    let mut text = String::new();
    for r in &recs {
        text.push_str(&serde_json::to_string(r).expect("a record serialises"));
        text.push('\n');
    }
    let p = out.join("results.jsonl");
    crate::report::write_atomic(&p, text.as_bytes())
        .map_err(|e| format!("{}: {e}", p.display()))?;
    crate::killpoint::at("sweep.merge");
    // The spec copy goes along, for the report: the first shard's that has one.
    for d in dirs {
        if let Some(spec) = report::spec_copy(d)? {
            let p = out.join("spec.toml");
            crate::report::write_atomic(&p, spec.as_bytes())
                .map_err(|e| format!("{}: {e}", p.display()))?;
            break;
        }
    }
    Ok(recs.len())
}
