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
//! released while a simulation or analysis runs; the run looks at Python's signals a few
//! times a second, so Ctrl-C stops it (`KeyboardInterrupt`), and calls an optional
//! progress callback as often.

use mmusim::loader::ConfigError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod more;

pyo3::create_exception!(
    mmusim,
    MmusimError,
    PyValueError,
    "Bad input or a failed simulation: the message is what the command line prints; `.errors` lists each problem as a dict (file, line, key, message)."
);

/// An error for Python: the lines the command line prints, each problem also as a dict.
fn config_errors(py: Python<'_>, errors: &[ConfigError]) -> PyErr {
    let msg = errors
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let err = MmusimError::new_err(msg);
    let parts = PyList::empty(py);
    for e in errors {
        let d = PyDict::new(py);
        let filled = (|| -> PyResult<()> {
            d.set_item("file", &e.file)?;
            d.set_item("line", e.line)?;
            d.set_item("key", &e.path)?;
            d.set_item("message", &e.msg)?;
            parts.append(d)
        })();
        if let Err(e) = filled {
            return e;
        }
    }
    if let Err(e) = err.value(py).setattr("errors", parts) {
        return e;
    }
    err
}

/// An error without a file position (a failed simulation, a bad argument).
fn message(msg: impl Into<String>) -> PyErr {
    MmusimError::new_err(msg.into())
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

/// Runs `work` with the GIL released, handing it a `tick` to call as it goes: at its
/// first call and then at most every 100 ms, `tick(done, total)` takes the GIL back to call `progress(done, total)`
/// and to look at Python's signals; an exception from either sets the stop flag that
/// `work` was given and is returned in place of its result. A count held back by the
/// 100 ms is given to `progress` at the end.
fn detached<T: Send>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: impl FnOnce(Arc<AtomicBool>, &mut (dyn FnMut(u64, u64) + Send)) -> T + Send,
) -> PyResult<T> {
    let stop = Arc::new(AtomicBool::new(false));
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    // The latest (done, total) given, and whether `progress` was shown it.
    let latest: Mutex<((u64, u64), bool)> = Mutex::new(((0, 0), true));
    let out = py.detach(|| {
        // The first call goes through at once (a bar shows from the start).
        let mut last: Option<Instant> = None;
        let mut tick = |done: u64, total: u64| {
            let soon = last.is_some_and(|t| t.elapsed() < Duration::from_millis(100));
            let mut l = latest.lock().unwrap_or_else(|p| p.into_inner());
            *l = ((done, total), !soon);
            drop(l);
            if soon || stop.load(Ordering::Relaxed) {
                return;
            }
            last = Some(Instant::now());
            let result = Python::attach(|py| -> PyResult<()> {
                py.check_signals()?;
                if let Some(p) = &progress {
                    p.call1(py, (done, total))?;
                }
                Ok(())
            });
            if let Err(e) = result {
                *raised.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                stop.store(true, Ordering::Relaxed);
            }
        };
        work(stop.clone(), &mut tick)
    });
    if let Some(e) = raised.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    // The last count, which the 100 ms between calls may have held back: a bar ends full.
    let ((done, total), shown) = latest.into_inner().unwrap_or_else(|p| p.into_inner());
    if let (Some(p), false) = (&progress, shown) {
        p.call1(py, (done, total))?;
    }
    Ok(out)
}

/// One run: `(result.json, result.csv, timeline.csv or None)`, as `mmusim run` writes
/// them for the same inputs. `addresses`: little-endian u64 virtual addresses, run as a
/// trace of loads in place of a workload.
#[pyfunction]
#[pyo3(signature = (config=None, workload=None, trace=None, format=None, sets=Vec::new(), addresses=None, timeline=None, progress=None))]
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
                .detach(|| mmusim::run::AddressTrace::write(&addrs))
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
    let outcome = detached(py, progress, |stop, tick| {
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
