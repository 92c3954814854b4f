//! A sweep run's side of its store: opening it (the folder locked, the store checked
//! for another sweep's runs, the spec copied beside it, its last line ended, the
//! slice's failed runs dropped for `--retry-failed` or listed) and appending each
//! finished run's record (flushed and synced; in two writes, so that the kill matrix
//! can tear a line between them), counting runs and failures for the summary.

use super::{store, Job, Outcome, Record, Slice};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The store of a sweep, opened for a run: locked, its torn last line cut, its failed
/// runs in the slice dropped for `--retry-failed` (or listed as failures).
pub(super) struct Opened {
    pub path: PathBuf,
    /// Held while the sweep runs: one sweep at a time writes to a store.
    pub _lock: store::Lock,
    pub file: std::fs::File,
    /// The runs in the store, and the totals of those simulated.
    pub done: HashSet<String>,
    pub done_totals: HashMap<String, serde_json::Value>,
    /// The failed runs of the slice the store holds (without `--retry-failed`).
    pub failures: Vec<Failure>,
}

/// `spec` is the text of the spec that was planned, copied beside the results.
pub(super) fn open_store(
    spec: &str,
    out: &Path,
    sweep_id: &str,
    jobs: &[Job],
    slice: Slice,
    retry_failed: bool,
) -> Result<Opened, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let lock = store::lock(out)?;
    store::remove_stale_temporaries(out);
    let path = store::path(out);
    let read = match path.exists() {
        true => Some(store::read(out)?),
        false => None,
    };
    if let Some(read) = &read {
        store::one_sweep(out, &read.records, Some(sweep_id))?;
    }
    // The spec beside its results (the text that was planned, not a second read that
    // could differ): the report reads its plots and baseline there.
    let copy = out.join("spec.toml");
    let text = spec.as_bytes();
    if std::fs::read(&copy).ok().as_deref() != Some(text) {
        crate::report::write_atomic(&copy, text).map_err(|e| format!("{}: {e}", copy.display()))?;
    }
    crate::killpoint::at("sweep.spec");
    let mut done_totals: HashMap<String, serde_json::Value> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut failures = Vec::new();
    if let Some(read) = read {
        // A torn last line (killed mid-write) or a last record without its newline
        // would glue onto the next record: the store is made to end a line.
        store::end_lines(out, &read)?;
        let recs = store::unique(read.records.into_iter().map(|r| r.1).collect());
        let job_of = |id: &str| jobs.iter().find(|j| j.id == id && slice.takes(j.index));
        let retry: Vec<&Record> = (recs.iter())
            .filter(|r| r.total.is_none() && job_of(&r.id).is_some())
            .collect();
        if retry_failed && !retry.is_empty() {
            let ids: HashSet<&str> = retry.iter().map(|r| r.id.as_str()).collect();
            store::drop_failed(out, &|id| ids.contains(id))?;
        }
        for r in &recs {
            match (job_of(&r.id), &r.total) {
                (Some(_), None) if retry_failed => continue,
                (Some(j), None) => failures.push(Failure {
                    index: j.index,
                    point: j.point,
                    workload: j.workload.clone(),
                    axes: j.axes.clone(),
                    error: r.error.clone().unwrap_or_default(),
                    stored: true,
                }),
                _ => {}
            }
            done.insert(r.id.clone());
            if let (Some(t), None) = (&r.total, &r.method) {
                done_totals.insert(r.id.clone(), t.clone());
            }
        }
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Opened {
        path,
        _lock: lock,
        file,
        done,
        done_totals,
        failures,
    })
}

/// A failed run: where it is in the plan and why it failed.
pub struct Failure {
    pub index: usize,
    pub point: usize,
    pub workload: String,
    pub axes: Vec<(String, String)>,
    pub error: String,
    /// Failed in an earlier invocation (its record was in the store).
    pub stored: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let axes: Vec<String> = (self.axes.iter())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        write!(
            f,
            "run {} (point {} x workload `{}`{}{}): {}",
            self.index,
            self.point,
            self.workload,
            if axes.is_empty() { "" } else { ", " },
            axes.join(" "),
            self.error
        )
    }
}

/// Appends the records of a run's jobs to the store, from any thread.
pub(super) struct Appender<'a> {
    path: &'a Path,
    sweep: &'a str,
    file: Mutex<std::fs::File>,
    /// Runs recorded, and how many of them failed.
    finished: Mutex<(usize, usize)>,
    io_error: Mutex<Option<String>>,
    failures: Mutex<Vec<Failure>>,
    progress: &'a (dyn Fn(usize, usize) + Sync),
    todo: usize,
}

impl<'a> Appender<'a> {
    /// `failures` are those the store held; `todo` the runs to do, for the progress.
    pub fn new(
        path: &'a Path,
        file: std::fs::File,
        sweep: &'a str,
        failures: Vec<Failure>,
        progress: &'a (dyn Fn(usize, usize) + Sync),
        todo: usize,
    ) -> Self {
        Appender {
            path,
            sweep,
            file: Mutex::new(file),
            finished: Mutex::new((0, 0)),
            io_error: Mutex::new(None),
            failures: Mutex::new(failures),
            progress,
            todo,
        }
    }

    /// `j`'s record as a line of the store.
    fn line(&self, j: &Job, out: &Outcome, method: Option<String>) -> String {
        let rec = Record {
            sweep: self.sweep.to_string(),
            id: j.id.clone(),
            point: j.point,
            workload: j.workload.clone(),
            axes: j.axes.clone(),
            method,
            total: out.total.clone(),
            page_tables: out.page_tables.clone(),
            error: out.error.clone(),
        };
        let mut line = serde_json::to_string(&rec).expect("a record serialises");
        line.push('\n');
        line
    }

    /// Appends `j`'s record; false if the store could not be written (the error is
    /// kept for [`Appender::finish`]).
    pub fn record(&self, j: &Job, out: Outcome, method: Option<String>) -> bool {
        let failed = out.error.is_some();
        let line = self.line(j, &out, method);
        {
            let mut f = self.file.lock().expect("lock");
            // One write (a reader never sees half a line from a live sweep), but two when
            // the kill matrix arms the step between the halves, to tear a line there.
            let half = if crate::killpoint::armed("sweep.record.half") {
                line.len() / 2
            } else {
                line.len()
            };
            let (a, b) = line.as_bytes().split_at(half);
            let w = f.write_all(a).and_then(|_| {
                crate::killpoint::at("sweep.record.half");
                if !b.is_empty() {
                    f.write_all(b)?;
                }
                f.sync_data()
            });
            if let Err(e) = w {
                *self.io_error.lock().expect("lock") =
                    Some(format!("{}: {e}", self.path.display()));
                return false;
            }
            crate::killpoint::at("sweep.record");
        }
        if let Some(error) = out.error {
            self.failures.lock().expect("lock").push(Failure {
                index: j.index,
                point: j.point,
                workload: j.workload.clone(),
                axes: j.axes.clone(),
                error,
                stored: false,
            });
        }
        let mut d = self.finished.lock().expect("lock");
        d.0 += 1;
        d.1 += failed as usize;
        (self.progress)(d.0, self.todo);
        true
    }

    /// Appends the records of `jobs` (answered without simulation: the one pass) in one
    /// write and one sync, where [`Appender::record`] syncs each: a sync costs about as
    /// much as answering a whole workload's points. A kill mid-write tears at most the
    /// last line, which the next run cuts and answers again. False if the store could
    /// not be written.
    pub fn record_all(&self, jobs: Vec<(&Job, Outcome, Option<String>)>) -> bool {
        if crate::killpoint::armed("sweep.record.half") {
            // The kill matrix tears a line at a given record: one write per record.
            return (jobs.into_iter()).all(|(j, out, method)| self.record(j, out, method));
        }
        let mut text = String::new();
        for (j, out, method) in &jobs {
            text.push_str(&self.line(j, out, method.clone()));
        }
        {
            let mut f = self.file.lock().expect("lock");
            if let Err(e) = f.write_all(text.as_bytes()).and_then(|_| f.sync_data()) {
                *self.io_error.lock().expect("lock") =
                    Some(format!("{}: {e}", self.path.display()));
                return false;
            }
        }
        let mut d = self.finished.lock().expect("lock");
        for (_, out, _) in &jobs {
            crate::killpoint::at("sweep.record");
            d.0 += 1;
            d.1 += out.error.is_some() as usize;
        }
        (self.progress)(d.0, self.todo);
        true
    }

    /// The error that stopped the store's writes, if any (taken).
    pub fn io_error(&self) -> Option<String> {
        self.io_error.lock().expect("lock").take()
    }

    /// Runs recorded, how many failed, and every failure of the slice in plan order.
    pub fn finish(self) -> Result<(usize, usize, Vec<Failure>), String> {
        if let Some(e) = self.io_error.into_inner().expect("lock") {
            return Err(e);
        }
        let (ran, failed) = self.finished.into_inner().expect("lock");
        let mut failures = self.failures.into_inner().expect("lock");
        failures.sort_by_key(|f| f.index);
        Ok((ran, failed, failures))
    }
}
