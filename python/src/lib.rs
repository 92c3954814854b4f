//! `mmusim._native`: the simulator's library functions as Python sees them, under the
//! thin Python layer of `mmusim/__init__.py`.
//!
//! Owns the crossing only: each function takes what the command line's flags take
//! (paths, preset names, TOML text, `key=value` overrides; arrays as little-endian bytes),
//! calls the same library entry points the command line calls, and hands back the same
//! texts the command line writes (`result.json`, `result.csv`, `timeline.csv`,
//! `compare.csv`, `analysis.json`, `mva.json`, ...), which the Python layer turns into
//! dicts, DataFrames and arrays. So a result from Python is the command line's, byte for
//! byte.
//!
//! Errors become `mmusim.MmusimError` (a `ValueError`) whose message is the command
//! line's lines (`file:line: key.path: message`), with the parts in `.errors`. The GIL is
//! released while a simulation or analysis runs. `run`, `compare`, `sweep`, `analyze`,
//! `mva` and `explain` work on a thread of their own while the calling thread looks at
//! Python's signals every 100 ms (Ctrl-C stops the work: `KeyboardInterrupt`) and calls
//! an optional progress callback as often ([`detached`]); `analyze`, `mva` and
//! `explain` stop at the process-wide flag their library loops look at.

use mmusim::loader::ConfigError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod more;

pyo3::create_exception!(
    mmusim,
    MmusimError,
    PyValueError,
    "Bad input or a failed simulation: the message is what the command line prints; `.errors` lists each problem as a dict (file, line, key, message)."
);

/// An error for Python: the lines the command line prints, each problem also as a dict.
/// A dict's lines are those of the TOML made of it, not the user's: left out.
fn config_errors(py: Python<'_>, errors: &[ConfigError]) -> PyErr {
    let parts: Vec<(&str, ConfigError)> = (errors.iter())
        .map(|e| {
            let mut e = e.clone();
            if e.file.ends_with(" dict>") {
                e.line = None;
            }
            ("", e)
        })
        .collect();
    owned_errors(py, &parts)
}

/// As [`config_errors`], each line after its owner's prefix (`system `x`: `) when it has
/// one; the dicts then hold that owner as `"of"`.
fn owned_errors(py: Python<'_>, errors: &[(&str, ConfigError)]) -> PyErr {
    let msg = errors
        .iter()
        .map(|(of, e)| match *of {
            "" => e.to_string(),
            of => format!("{of}: {e}"),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let parts = PyList::empty(py);
    for (of, e) in errors {
        let d = PyDict::new(py);
        let filled = (|| -> PyResult<()> {
            d.set_item("file", &e.file)?;
            d.set_item("line", e.line)?;
            d.set_item("key", &e.path)?;
            d.set_item("message", &e.msg)?;
            if !of.is_empty() {
                d.set_item("of", of)?;
            }
            parts.append(d)
        })();
        if let Err(e) = filled {
            return e;
        }
    }
    with_errors(py, MmusimError::new_err(msg), parts)
}

/// An error whose lines are `lines`, with `.errors` a dict per `(file, line, key,
/// message)`: a sweep spec's (a dict's lines left out), or an argument's (`file` None).
fn part_errors(
    py: Python<'_>,
    lines: &[String],
    parts: &[(Option<&str>, Option<usize>, &str, &str)],
) -> PyErr {
    let list = PyList::empty(py);
    for &(file, line, key, msg) in parts {
        let d = PyDict::new(py);
        let dict_line = file.is_some_and(|f| f.ends_with(" dict>"));
        let filled = (|| -> PyResult<()> {
            d.set_item("file", file)?;
            d.set_item("line", if dict_line { None } else { line })?;
            d.set_item("key", key)?;
            d.set_item("message", msg)?;
            list.append(d)
        })();
        if let Err(e) = filled {
            return e;
        }
    }
    with_errors(py, MmusimError::new_err(lines.join("\n")), list)
}

/// `err` with `.errors` set to `parts`.
fn with_errors(py: Python<'_>, err: PyErr, parts: Bound<'_, PyList>) -> PyErr {
    if let Err(e) = err.value(py).setattr("errors", parts) {
        return e;
    }
    err
}

/// An error without a file position (a failed simulation, a bad argument): `.errors`
/// is an empty list.
fn message(msg: impl Into<String>) -> PyErr {
    let err = MmusimError::new_err(msg.into());
    Python::attach(|py| with_errors(py, err, PyList::empty(py)))
}

/// A config or workload as the Python layer hands it over: `("path", path or preset)`,
/// `("toml", text)` or `("json", a dict as JSON)`; TOML is made of JSON here.
struct Input {
    kind: String,
    value: String,
    /// The name that stands for a file in errors: `<config>` or `<workload>`.
    name: String,
}

impl Input {
    fn new(arg: Option<(String, String)>, what: &str) -> PyResult<Option<Input>> {
        let Some((kind, value)) = arg else {
            return Ok(None);
        };
        let name = match kind.as_str() {
            "path" => String::new(),
            "toml" => format!("<{what} TOML>"),
            "json" => format!("<{what} dict>"),
            k => return Err(message(format!("{what}: unknown input kind {k:?}"))),
        };
        Ok(Some(Input { kind, value, name }))
    }

    /// TOML text for a dict; `None` when none is needed.
    fn toml(&self) -> Result<Option<String>, ConfigError> {
        match self.kind.as_str() {
            "json" => mmusim::run::json_to_toml(&self.name, &self.value).map(Some),
            _ => Ok(None),
        }
    }

    fn given<'a>(&'a self, toml: &'a Option<String>) -> mmusim::run::Given<'a> {
        match (self.kind.as_str(), toml) {
            ("path", _) => mmusim::run::Given::Path(&self.value),
            (_, text) => mmusim::run::Given::Text {
                name: &self.name,
                text: text.as_deref().unwrap_or(&self.value),
                dir: Path::new(""),
            },
        }
    }
}

/// Runs `work` on a thread of its own while the calling thread, the GIL released,
/// waits for it; `work` reports its counts through the `tick(done, total)` it is
/// handed. At the first count, then every 100 ms, and at the end, the calling thread
/// takes the GIL back to look at Python's signals (they are handled on the thread that
/// called, which is why the work is not run there) and to call `progress(done, total)`
/// with the latest count. An exception from either sets `stop`, which `work` was given
/// (a run's own flag, or the process-wide one that compares and sweeps stop at:
/// [`global_stop`]), and is raised once `work` has ended. A panic in `work` is raised
/// as `PanicException`.
fn detached<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    stop: Arc<AtomicBool>,
    work: impl FnOnce(Arc<AtomicBool>, &mut (dyn FnMut(u64, u64) + Send)) -> T + Send,
) -> PyResult<T> {
    let (tx, mut rx) = std::sync::mpsc::channel::<(u64, u64)>();
    let mut raised: Option<PyErr> = None;
    let mut latest: Option<(u64, u64)> = None;
    let mut shown: Option<(u64, u64)> = None;
    let joined = std::thread::scope(|s| {
        let flag = stop.clone();
        // The main thread's stack size, which the command line runs with.
        let worker = std::thread::Builder::new()
            .name("mmusim".into())
            .stack_size(8 << 20)
            .spawn_scoped(s, move || {
                let mut tick = |done: u64, total: u64| {
                    let _ = tx.send((done, total));
                };
                work(flag, &mut tick)
            });
        let worker = match worker {
            Ok(w) => w,
            Err(e) => return Err(message(format!("cannot start a thread: {e}"))),
        };
        loop {
            // Up to 100 ms for counts (the first one ends the wait), GIL released.
            let (counts, newest, first) = (&mut rx, &mut latest, shown.is_none());
            let ended = py.detach(move || {
                let until = Instant::now() + Duration::from_millis(100);
                loop {
                    let left = until.saturating_duration_since(Instant::now());
                    match counts.recv_timeout(left) {
                        Ok(c) => {
                            *newest = Some(c);
                            if first {
                                return false;
                            }
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
                    }
                }
            });
            if raised.is_none() {
                let fresh = latest.filter(|&c| shown != Some(c));
                if fresh.is_some() {
                    shown = fresh;
                }
                let looked = py.check_signals().and_then(|()| match (&progress, fresh) {
                    (Some(p), Some(c)) => p.call1(py, c).map(drop),
                    _ => Ok(()),
                });
                if let Err(e) = looked {
                    raised = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
            }
            if ended {
                return Ok(py.detach(|| worker.join()));
            }
        }
    })?;
    if let Some(e) = raised {
        return Err(e);
    }
    joined.map_err(|panic| {
        let what = (panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        pyo3::panic::PanicException::new_err(format!("mmusim failed: {what}"))
    })
}

/// Runs `work` as [`detached`] does with the process-wide stop flag, which the runs of
/// `compare` and `sweep` (and analyze's passes, mva's populations, explain's warm-up
/// accesses) look at (the command line's Ctrl-C flag; nothing else sets it
/// in a Python process): cleared before and after, so a stopped call leaves none behind.
/// Two such calls at once in two threads stop together.
fn global_stop<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(&mut (dyn FnMut(u64, u64) + Send)) -> T + Send,
) -> PyResult<T> {
    let flag = mmusim::progress::stop_flag();
    flag.store(false, Ordering::Relaxed);
    let out = detached(py, progress, flag.clone(), |_, tick| work(tick));
    flag.store(false, Ordering::Relaxed);
    out
}

/// One run: `(result.json, result.csv, timeline.csv or None)`, as `mmusim run` writes
/// them for the same inputs. `addresses`: little-endian u64 virtual addresses, run as a
/// trace in place of a workload: loads, or of the `kinds` given (a byte per address: 0
/// load, 1 store, 2 fetch), each one instruction or the `instrs` given (little-endian
/// u32 per address).
#[pyfunction]
#[pyo3(signature = (config=None, workload=None, trace=None, format=None, sets=Vec::new(), addresses=None, timeline=None, progress=None, kinds=None, instrs=None))]
#[allow(clippy::too_many_arguments)]
fn run(
    py: Python<'_>,
    config: Option<(String, String)>,
    workload: Option<(String, String)>,
    trace: Option<String>,
    format: Option<String>,
    mut sets: Vec<String>,
    addresses: Option<Vec<u8>>,
    timeline: Option<u64>,
    progress: Option<Py<PyAny>>,
    kinds: Option<Vec<u8>>,
    instrs: Option<Vec<u8>>,
) -> PyResult<(String, String, Option<String>)> {
    if timeline == Some(0) {
        return Err(message("timeline: a window holds at least one access"));
    }
    if addresses.is_some() && (workload.is_some() || trace.is_some()) {
        return Err(message(
            "give addresses, a workload or a trace: one stream to run",
        ));
    }
    let config = Input::new(config, "config")?;
    let workload = Input::new(workload, "workload")?;
    if let Some(f) = &format {
        if trace.is_none() {
            return Err(message(
                "format: says how to read a trace, and none is given",
            ));
        }
        mmusim::run::with_trace_format(&mut sets, f);
    }
    let texts = [&config, &workload].map(|i| i.as_ref().map(Input::toml).transpose());
    let [config_toml, workload_toml] = match texts {
        [Ok(c), Ok(w)] => [c.flatten(), w.flatten()],
        [c, w] => {
            let errs: Vec<ConfigError> = [c.err(), w.err()].into_iter().flatten().collect();
            return Err(config_errors(py, &errs));
        }
    };
    let stream = match addresses {
        Some(bytes) => {
            if bytes.len() % 8 != 0 {
                return Err(message("addresses: not a whole number of 64-bit values"));
            }
            let addrs: Vec<u64> = bytes
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect();
            let t = py
                .detach(|| address_trace(&addrs, kinds.as_deref(), instrs.as_deref()))
                .map_err(message)?;
            Some(t)
        }
        None => None,
    };
    let stream_text = stream.as_ref().map(|t| t.workload_text("addresses"));
    let workload_given = match (&stream, &stream_text) {
        (Some(t), Some(text)) => Some(mmusim::run::Given::Text {
            name: "<addresses>",
            text,
            dir: t.dir(),
        }),
        _ => workload.as_ref().map(|w| w.given(&workload_toml)),
    };
    let config_given = config.as_ref().map(|c| c.given(&config_toml));
    let inputs = py
        .detach(|| mmusim::run::load_given(config_given, workload_given, trace.as_deref(), &sets))
        .map_err(|e| config_errors(py, &e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let outcome = detached(py, progress, stop, |stop, tick| {
        let opts = mmusim::run::RunOptions {
            timeline,
            stop: Some(stop),
        };
        mmusim::run::simulate_opts(&inputs, &opts, tick)
    })?;
    drop(stream);
    let (report, timeline) = outcome.map_err(|e| message(e.0))?;
    Ok((
        report.to_json(),
        report.to_csv(),
        timeline.map(|t| t.to_csv()),
    ))
}

/// The trace file of `addrs`: loads or of the `kinds` given (as many, each below 3),
/// of one instruction each or of the `instrs` given (u32 bytes, as many).
fn address_trace(
    addrs: &[u64],
    kinds: Option<&[u8]>,
    instrs: Option<&[u8]>,
) -> Result<mmusim::run::AddressTrace, String> {
    use mmusim::addr::AccessKind;
    if kinds.is_none() && instrs.is_none() {
        return mmusim::run::AddressTrace::write(addrs);
    }
    let loads = vec![0u8; if kinds.is_none() { addrs.len() } else { 0 }];
    let kinds = kinds.unwrap_or(&loads);
    if kinds.len() != addrs.len() {
        return Err(format!(
            "kinds: {} kinds for {} addresses (one each)",
            kinds.len(),
            addrs.len()
        ));
    }
    let counts: Vec<u32> = match instrs {
        None => vec![1; addrs.len()],
        Some(b) if b.len() == 4 * addrs.len() => (b.chunks_exact(4))
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        Some(b) => {
            return Err(format!(
                "instrs: {} counts for {} addresses (one each)",
                b.len() / 4,
                addrs.len()
            ))
        }
    };
    if let Some(i) = kinds.iter().position(|&k| k > 2) {
        return Err(format!(
            "kinds[{i}]: {} is not a kind (0 load, 1 store, 2 fetch)",
            kinds[i]
        ));
    }
    let kind = |k: u8| match k {
        0 => AccessKind::Load,
        1 => AccessKind::Store,
        _ => AccessKind::Fetch,
    };
    let accesses = (addrs.iter().zip(kinds).zip(counts)).map(|((&vaddr, &k), instrs)| {
        mmusim::workload::Access {
            vaddr,
            kind: kind(k),
            instrs,
        }
    });
    mmusim::run::AddressTrace::write_accesses(accesses)
}

/// The built-in system presets: (name, what it models).
#[pyfunction]
fn presets() -> Vec<(&'static str, &'static str)> {
    mmusim::run::preset_titles()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("MmusimError", m.py().get_type::<MmusimError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    more::add(m)?;
    Ok(())
}
