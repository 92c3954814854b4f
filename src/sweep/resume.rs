//! A sweep run's side of its store: opening it (the folder locked, the store checked
//! for another sweep's runs, the spec copied beside it, its last line ended, the
//! slice's failed runs dropped for `--retry-failed` or listed) and appending each
//! finished run's record (one write, or two when the kill matrix tears a line between
//! them), synced by a thread of its own that counts a run finished (the progress, the
//! runs and failures of the summary) only once the sync covering its record is done.

use super::{store, Job, Outcome, Record, Slice};
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

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
    // Records a killed sweep wrote but had not synced yet count as done below: synced
    // first, so every run counted done is durable.
    if !done.is_empty() {
        file.sync_data()
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
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

/// Appends the records of a run's jobs to the store, from any thread, and makes them
/// durable on a thread of its own ([`Appender::syncing`]).
///
/// A worker writes its record and goes on to its next run; the syncer syncs the store
/// and only then counts the records that sync covered as finished (the progress, the
/// summary, the failures listed). One sync covers every record written before it
/// started, however many workers wrote them. A sync (`fdatasync`) takes 0.2-3 ms on a
/// shared disk, a sixth to half of a 6 ms run: done by the worker, under the store's
/// lock, it idled one worker and serialised two (issue 21). A kill loses no finished
/// run: a record is counted only once synced, and one written but not yet synced is in
/// the store on the rerun (which syncs the store before it counts it: [`open_store`])
/// or, after a power cut, run again. A worker waits to write while as many records
/// as there are workers are unsynced, so the records a power cut could take back stay
/// few (about one per worker; the check and the count are not one step, so a little
/// more when workers finish together): a bound on what is re-run, not on correctness.
pub(super) struct Appender<'a> {
    path: &'a Path,
    sweep: &'a str,
    /// Held while a record is written, so lines do not interleave.
    file: Mutex<std::fs::File>,
    /// The same file, for the syncer: a sync needs no lock against the writes (it
    /// covers what was written before it started, whichever handle wrote it).
    sync: std::fs::File,
    books: Mutex<Books>,
    /// Wakes the syncer: records written, or the work over.
    wake: Condvar,
    /// Wakes the workers waiting to write: records synced.
    synced: Condvar,
    /// Records that may wait unsynced: one per worker.
    ahead: usize,
    progress: &'a (dyn Fn(usize, usize) + Sync),
    todo: usize,
}

/// The appender's counts, under one lock.
#[derive(Default)]
struct Books {
    /// Records written and not yet synced, in the order written: each one's failure
    /// (`None`: a finished run).
    written: Vec<Option<Failure>>,
    /// Records written and not yet counted (those in `written` and those being synced).
    unsynced: usize,
    /// Runs recorded (written and synced), and how many of them failed.
    ran: usize,
    failed: usize,
    failures: Vec<Failure>,
    io_error: Option<String>,
    /// The work is over: the syncer syncs what is written and ends.
    over: bool,
}

impl<'a> Appender<'a> {
    /// `failures` are those the store held; `todo` the runs to do, for the progress;
    /// `workers` the threads that append.
    pub fn new(
        path: &'a Path,
        file: std::fs::File,
        sweep: &'a str,
        failures: Vec<Failure>,
        progress: &'a (dyn Fn(usize, usize) + Sync),
        (todo, workers): (usize, usize),
    ) -> Result<Self, String> {
        let sync = file
            .try_clone()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Appender {
            path,
            sweep,
            file: Mutex::new(file),
            sync,
            books: Mutex::new(Books {
                failures,
                ..Default::default()
            }),
            wake: Condvar::new(),
            synced: Condvar::new(),
            ahead: workers.max(1),
            progress,
            todo,
        })
    }

    /// Runs `work` (which appends records from any thread) while a second thread
    /// syncs what it writes; returns once every record written is synced (or a sync
    /// failed: then [`Appender::finish`] says so).
    pub fn syncing<R>(&self, work: impl FnOnce() -> R) -> R {
        std::thread::scope(|s| {
            s.spawn(|| self.sync_loop());
            // The syncer ends even if `work` panics: the scope waits for it.
            struct Over<'b, 'a>(&'b Appender<'a>);
            impl Drop for Over<'_, '_> {
                fn drop(&mut self) {
                    self.0.books().over = true;
                    self.0.wake.notify_one();
                }
            }
            let _over = Over(self);
            work()
        })
    }

    /// The books, also after a panic of a thread that held them (each change to them is
    /// whole between statements; the syncer's guard then marks the store failed).
    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The syncer: waits for written records, syncs the store, counts those the sync
    /// covered; ends when the work is over and everything written is synced, or at the
    /// first error.
    fn sync_loop(&self) {
        // A panic here (in the progress display, say) must not leave the workers
        // waiting for a sync that will never come: it fails the store and wakes them.
        struct FailOnPanic<'b, 'a>(&'b Appender<'a>);
        impl Drop for FailOnPanic<'_, '_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let a = self.0;
                    let why = format!("{}: the thread syncing the store failed", a.path.display());
                    a.books().io_error.get_or_insert(why);
                    a.synced.notify_all();
                }
            }
        }
        let _fail = FailOnPanic(self);
        let mut b = self.books();
        loop {
            while b.written.is_empty() && !b.over && b.io_error.is_none() {
                b = self.wake.wait(b).unwrap_or_else(PoisonError::into_inner);
            }
            if b.written.is_empty() || b.io_error.is_some() {
                return;
            }
            // Every record taken here was written before the sync starts.
            let batch = std::mem::take(&mut b.written);
            drop(b);
            let synced = crate::killpoint::fail("sweep.sync").and_then(|()| self.sync.sync_data());
            b = self.books();
            if let Err(e) = synced {
                b.io_error = Some(format!("{}: {e}", self.path.display()));
                self.synced.notify_all();
                return;
            }
            b.unsynced -= batch.len();
            for failure in batch {
                crate::killpoint::at("sweep.record");
                b.ran += 1;
                if let Some(f) = failure {
                    b.failed += 1;
                    b.failures.push(f);
                }
            }
            (self.progress)(b.ran, self.todo);
            self.synced.notify_all();
        }
    }

    /// Waits until a worker may write a record: fewer records unsynced than workers.
    /// False if a write or sync failed.
    fn wait_turn(&self) -> bool {
        let mut b = self.books();
        while b.unsynced >= self.ahead && b.io_error.is_none() {
            b = self.synced.wait(b).unwrap_or_else(PoisonError::into_inner);
        }
        b.io_error.is_none()
    }

    /// Keeps a failed write's error for [`Appender::finish`] and wakes every waiter.
    fn failed_write(&self, e: std::io::Error) {
        self.books().io_error = Some(format!("{}: {e}", self.path.display()));
        self.wake.notify_one();
        self.synced.notify_all();
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

    /// `j`'s failure, if its run failed.
    fn failure(j: &Job, out: Outcome) -> Option<Failure> {
        Some(Failure {
            index: j.index,
            point: j.point,
            workload: j.workload.clone(),
            axes: j.axes.clone(),
            error: out.error?,
            stored: false,
        })
    }

    /// Appends `j`'s record (the syncer makes it durable, then counts it); false if the
    /// store could not be written or synced (the error is kept for
    /// [`Appender::finish`]).
    pub fn record(&self, j: &Job, out: Outcome, method: Option<String>) -> bool {
        let line = self.line(j, &out, method);
        if !self.wait_turn() {
            return false;
        }
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
                Ok(())
            });
            if let Err(e) = w {
                self.failed_write(e);
                return false;
            }
        }
        self.written(vec![Self::failure(j, out)])
    }

    /// Hands records just written to the syncer; false if a write or sync failed.
    fn written(&self, records: Vec<Option<Failure>>) -> bool {
        let mut b = self.books();
        b.unsynced += records.len();
        b.written.extend(records);
        let ok = b.io_error.is_none();
        drop(b);
        self.wake.notify_one();
        ok
    }

    /// Appends the records of `jobs` (answered without simulation: the one pass) in one
    /// write, which one sync covers: a sync costs about as much as answering a whole
    /// workload's points. A kill mid-write tears at most the last line, which the next
    /// run cuts and answers again. False if the store could not be written.
    pub fn record_all(&self, jobs: Vec<(&Job, Outcome, Option<String>)>) -> bool {
        if crate::killpoint::armed("sweep.record.half") {
            // The kill matrix tears a line at a given record: one write per record.
            return (jobs.into_iter()).all(|(j, out, method)| self.record(j, out, method));
        }
        let mut text = String::new();
        for (j, out, method) in &jobs {
            text.push_str(&self.line(j, out, method.clone()));
        }
        if !self.wait_turn() {
            return false;
        }
        let w = self.file.lock().expect("lock").write_all(text.as_bytes());
        if let Err(e) = w {
            self.failed_write(e);
            return false;
        }
        self.written(
            (jobs.into_iter())
                .map(|(j, out, _)| Self::failure(j, out))
                .collect(),
        )
    }

    /// The error that stopped the store's writes, if any (taken).
    pub fn io_error(&self) -> Option<String> {
        self.books().io_error.take()
    }

    /// Runs recorded, how many failed, and every failure of the slice in plan order
    /// (after [`Appender::syncing`]: every record written is then synced).
    pub fn finish(self) -> Result<(usize, usize, Vec<Failure>), String> {
        let b = self
            .books
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = b.io_error {
            return Err(e);
        }
        let mut failures = b.failures;
        failures.sort_by_key(|f| f.index);
        Ok((b.ran, b.failed, failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Complete lines (ending in a newline) in the store at `path`.
    fn lines_in(path: &Path) -> usize {
        let text = std::fs::read(path).unwrap();
        text.iter().filter(|&&b| b == b'\n').count()
    }

    /// Two workers append 120 records (every seventh a failure) through the syncer: every
    /// count the progress is told is of records already in the file, never more, and
    /// rises; when `syncing` returns every record is counted once, the failures listed
    /// in plan order. Would catch a record counted before its write, one counted twice
    /// or never (a syncer that ends with records still unsynced), or a lost wakeup
    /// (then this hangs).
    #[test]
    fn records_are_counted_only_once_in_the_store_and_all_of_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.jsonl");
        let file = (std::fs::OpenOptions::new().create(true).append(true))
            .open(&path)
            .unwrap();
        let inputs = crate::run::load_inputs(None, None, &[]).unwrap();
        let jobs: Vec<Job> = (0..120)
            .map(|i| Job {
                index: i,
                id: format!("run{i}"),
                point: i,
                workload: "w".into(),
                axes: vec![("k".into(), i.to_string())],
                inputs: inputs.clone(),
            })
            .collect();
        let seen: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());
        let progress = |done: usize, todo: usize| {
            let in_file = lines_in(&path);
            assert!(done <= in_file, "{done} counted, {in_file} in the store");
            seen.lock().unwrap().push((done, todo));
        };
        let a = Appender::new(&path, file, "s", Vec::new(), &progress, (jobs.len(), 2)).unwrap();
        a.syncing(|| {
            crate::util::parallel_for(jobs.len(), 2, |i| {
                let out = Outcome {
                    error: (i % 7 == 0).then(|| format!("failure {i}")),
                    ..Default::default()
                };
                a.record(&jobs[i], out, None)
            })
        });
        let (ran, failed, failures) = a.finish().unwrap();
        assert_eq!((ran, failed), (120, 18));
        let want: Vec<usize> = (0..120).filter(|i| i % 7 == 0).collect();
        assert_eq!(failures.iter().map(|f| f.index).collect::<Vec<_>>(), want);
        let seen = seen.into_inner().unwrap();
        assert!(seen.windows(2).all(|w| w[0].0 < w[1].0), "{seen:?}");
        assert_eq!(seen.last(), Some(&(120, 120)));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut ids: Vec<String> = (text.lines())
            .map(|l| serde_json::from_str::<Record>(l).unwrap().id)
            .collect();
        ids.sort();
        let mut want: Vec<String> = (0..120).map(|i| format!("run{i}")).collect();
        want.sort();
        assert_eq!(ids, want);
    }
}
