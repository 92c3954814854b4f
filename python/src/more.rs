//! The commands beside `run` for Python: `compare`, `sweep`, `analyze`, `mva` and
//! `explain`, each through the library function its command line calls, returning the
//! texts that command writes (CSV and JSON), which `mmusim/_more.py` turns into
//! DataFrames, arrays and dicts.

use super::{global_stop, message, MmusimError};
use pyo3::prelude::*;
use std::path::PathBuf;

/// Errors of a command that reports them as lines (`file:line: key: message`).
fn lines(errors: Vec<String>) -> PyErr {
    MmusimError::new_err(errors.join("\n"))
}

/// `mmusim compare`: `compare.csv`'s text (a row per system and workload, with the
/// ratios to the baseline).
#[pyfunction]
#[pyo3(signature = (systems, workloads, baseline=None, sets=Vec::new(), threads=None, progress=None))]
fn compare(
    py: Python<'_>,
    systems: Vec<String>,
    workloads: Vec<String>,
    baseline: Option<String>,
    sets: Vec<String>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let opts = mmusim::compare::Options {
        systems,
        workloads,
        baseline,
        sets,
        out: None,
        threads,
    };
    let result = global_stop(py, progress, |tick| {
        let tick = std::sync::Mutex::new(tick);
        let progress = |d: usize, n: usize| {
            if let Ok(mut t) = tick.lock() {
                t(d as u64, n as u64);
            }
        };
        mmusim::compare::compare(&opts, &progress)
    })?;
    let c = result.map_err(lines)?;
    c.to_csv().map_err(message)
}

/// `mmusim sweep run SPEC --out OUT --report`: `(report.csv, OUT)`, as the command line
/// writes them (OUT by default `SPEC.out` beside the spec); runs already in OUT's store
/// are not run again.
#[pyfunction]
#[pyo3(signature = (spec, out=None, threads=None, progress=None))]
fn sweep(
    py: Python<'_>,
    spec: PathBuf,
    out: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, String)> {
    let out = out.unwrap_or_else(|| mmusim::sweep::default_out(&spec));
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let result = global_stop(py, progress, |tick| {
        let tick = std::sync::Mutex::new(tick);
        let progress = |d: usize, n: usize| {
            if let Ok(mut t) = tick.lock() {
                t(d as u64, n as u64);
            }
        };
        let s = mmusim::sweep::run(
            &spec,
            &out,
            mmusim::sweep::Slice::All,
            threads,
            false,
            &progress,
        )?;
        if !s.failures.is_empty() {
            let first = &s.failures[0];
            return Err(format!(
                "{} of the sweep's runs failed (their errors are in {}); the first: {}",
                s.failures.len(),
                out.join("results.jsonl").display(),
                first
            ));
        }
        mmusim::sweep::report_in_place(&out)
    })?;
    let report = result.map_err(message)?;
    Ok((report.csv, out.display().to_string()))
}

/// `mmusim analyze`: `(analysis.json, [(curve file, its CSV)], tlb.csv,
/// replacement.csv or None)`. The references are a workload file, a trace file, the
/// page numbers of `refs` (little-endian u64 bytes), or a reference string `refs_text`.
#[pyfunction]
#[pyo3(signature = (workload=None, trace=None, format=None, refs=None, refs_text=None, page_size="4K", core=0, max_m=None, ws_t=None, ws_max=None, frames=None, policies=None, seed=1, curves="lru,min,ws"))]
#[allow(clippy::too_many_arguments)]
fn analyze(
    py: Python<'_>,
    workload: Option<String>,
    trace: Option<String>,
    format: Option<String>,
    refs: Option<Vec<u8>>,
    refs_text: Option<String>,
    page_size: &str,
    core: usize,
    max_m: Option<u64>,
    ws_t: Option<String>,
    ws_max: Option<u64>,
    frames: Option<String>,
    policies: Option<String>,
    seed: u64,
    curves: &str,
) -> PyResult<AnalyzeOut> {
    use mmusim::analysis::report::{analyze_with, Input, Options};
    let format = match format.as_deref() {
        None => mmusim::trace::TraceFormat::Auto,
        Some(f) => f
            .parse()
            .map_err(|e: String| message(format!("format: {e}")))?,
    };
    let input = match (workload, trace, refs, refs_text) {
        (Some(path), None, None, None) => Input::Workload { path, core },
        (None, Some(path), None, None) => Input::Trace { path, core, format },
        (None, None, Some(bytes), None) => {
            if bytes.len() % 8 != 0 {
                return Err(message("refs: not a whole number of 64-bit values"));
            }
            Input::Refs(
                (bytes.chunks_exact(8))
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            )
        }
        (None, None, None, Some(text)) => match mmusim::workload::RefList::parse(&text) {
            Ok(l) => Input::Refs(l.0),
            Err(e) => return Err(message(format!("refs: {e}"))),
        },
        _ => return Err(message("analyze: give one of refs, a trace or a workload")),
    };
    let page_size = mmusim::addr::PageSize::parse_or_explain(page_size)
        .map_err(|e| message(format!("page_size: {e}")))?;
    let curves = curves
        .parse()
        .map_err(|e: String| message(format!("curves: {e}")))?;
    let lists = mmusim::analysis::report::Lists {
        ws_t: ws_t.as_deref(),
        frames: frames.as_deref(),
        policies: policies.as_deref(),
    };
    let opts =
        Options::from_args(page_size, max_m, ws_max, seed, curves, lists).map_err(message)?;
    let report = py
        .detach(|| analyze_with(&input, &opts, &|_| {}))
        .map_err(message)?;
    let curves = (report.curves.iter())
        .map(|c| (c.file.clone(), report.curve_csv(c)))
        .collect();
    Ok((
        report.to_json(),
        curves,
        report.tlb_csv(),
        report.replacement_csv(),
    ))
}

type AnalyzeOut = (String, Vec<(String, String)>, String, Option<String>);

/// `mmusim mva`: `(mva.json, mva.csv)` of the model file with its overrides.
#[pyfunction]
#[pyo3(signature = (config, sets=Vec::new(), n_max=None))]
fn mva(
    py: Python<'_>,
    config: PathBuf,
    sets: Vec<String>,
    n_max: Option<u32>,
) -> PyResult<(String, String)> {
    let solved = py.detach(|| mmusim::mva::solve(&config, &sets, n_max));
    let (model, analysis) = solved.map_err(message)?;
    Ok((analysis.to_json(&model), analysis.to_csv()))
}

/// `mmusim explain ADDR`: the text the command line prints.
#[pyfunction]
#[pyo3(signature = (addr, config=None, sets=Vec::new(), warm=Vec::new(), core=0))]
fn explain(
    py: Python<'_>,
    addr: String,
    config: Option<String>,
    sets: Vec<String>,
    warm: Vec<String>,
    core: usize,
) -> PyResult<String> {
    let text = py.detach(|| {
        mmusim::explain::explain(&mmusim::explain::Request {
            config: config.as_deref(),
            sets: &sets,
            addr: &addr,
            warm: &warm,
            core,
        })
    });
    text.map_err(lines)
}

pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(mva, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    Ok(())
}
