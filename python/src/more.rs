//! The commands beside `run` for Python: `compare`, `sweep`, `analyze`, `mva` and
//! `explain`, each through the library function its command line calls, returning the
//! texts that command writes (CSV and JSON), which `mmusim/_more.py` turns into
//! DataFrames, arrays and dicts; and `read_trace`, a trace's accesses through the
//! library's trace reader (every format and compression `run --trace` reads).

use super::{global_stop, message, owned_errors, part_errors};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::{Path, PathBuf};

/// A failed comparison's lines; `.errors` holds its config errors (each with whose it
/// is as `"of"`), or is empty when it has none. `dicts`: the names of the systems and
/// workloads given as dicts, whose line numbers are left out.
fn lines(failure: mmusim::compare::Failure, dicts: &[String]) -> PyErr {
    if failure.config.len() != failure.lines.len() {
        return message(failure.lines.join("\n"));
    }
    Python::attach(|py| {
        let errors: Vec<(&str, mmusim::loader::ConfigError)> = (failure.config.iter())
            .map(|(of, e)| {
                let mut e = e.clone();
                if dicts.contains(&e.file) {
                    e.line = None;
                }
                (of.as_str(), e)
            })
            .collect();
        owned_errors(py, &errors)
    })
}

/// `mmusim compare`: `compare.csv`'s text (a row per system and workload, with the
/// ratios to the baseline). `given`: (name, `"toml"` or `"json"`, text) of the systems
/// and workloads handed over as TOML text or dicts, which `systems` and `workloads`
/// name.
#[pyfunction]
#[pyo3(signature = (systems, workloads, baseline=None, sets=Vec::new(), threads=None, progress=None, given=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn compare(
    py: Python<'_>,
    systems: Vec<String>,
    workloads: Vec<String>,
    baseline: Option<String>,
    sets: Vec<String>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    given: Vec<(String, String, String)>,
) -> PyResult<String> {
    let dicts: Vec<String> = (given.iter())
        .filter(|(_, kind, _)| kind == "json")
        .map(|(name, _, _)| name.clone())
        .collect();
    let given = (given.into_iter())
        .map(|(name, kind, text)| Ok((name.clone(), toml_of(&name, &kind, text)?)))
        .collect::<PyResult<Vec<_>>>()?;
    let opts = mmusim::compare::Options {
        systems,
        workloads,
        baseline,
        sets,
        out: None,
        threads,
        given,
    };
    let result = global_stop(py, progress, |tick| {
        let tick = std::sync::Mutex::new(tick);
        let progress = |d: usize, n: usize| {
            if let Ok(mut t) = tick.lock() {
                t(d as u64, n as u64);
            }
        };
        mmusim::compare::compare_failing(&opts, &progress)
    })?;
    let c = result.map_err(|f| lines(f, &dicts))?;
    c.to_csv().map_err(message)
}

/// `mmusim sweep run SPEC --out OUT --report [--retry-failed]`: `(report.csv, OUT, runs
/// in the plan, runs run now, runs already in the store, the one-pass note)`, as the
/// command line writes them (OUT by default `SPEC.out` beside the spec); runs already in
/// OUT's store are not run again (failed ones are, with `retry_failed`).
/// `spec_text`: the spec as `("toml", text)` or `("json", a dict as JSON)` (named
/// `<sweep TOML>` or `<sweep dict>` in errors; relative paths in it start at the current
/// folder) in place of the file `spec`; OUT must then be given.
#[pyfunction]
#[pyo3(signature = (spec, out=None, threads=None, progress=None, spec_text=None, retry_failed=false))]
fn sweep(
    py: Python<'_>,
    spec: PathBuf,
    out: Option<PathBuf>,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    spec_text: Option<(String, String)>,
    retry_failed: bool,
) -> PyResult<SweepOut> {
    let out = match (out, &spec_text) {
        (Some(o), _) => o,
        (None, None) => mmusim::sweep::default_out(&spec),
        (None, Some(_)) => return Err(message("sweep: a spec given as text needs `out`")),
    };
    let (name, spec_text) = match spec_text {
        None => (String::new(), None),
        Some((kind, text)) => {
            let name = if kind == "json" {
                "<sweep dict>"
            } else {
                "<sweep TOML>"
            };
            (name.to_string(), Some(toml_of(name, &kind, text)?))
        }
    };
    let given = match &spec_text {
        Some(text) => mmusim::sweep::Spec::Text {
            name: &name,
            text,
            dir: Path::new(""),
        },
        None => mmusim::sweep::Spec::File(&spec),
    };
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    type Failed = Result<String, Vec<mmusim::sweep::PlanError>>;
    let result = global_stop(py, progress, |tick| -> Result<_, Failed> {
        let tick = std::sync::Mutex::new(tick);
        let progress = |d: usize, n: usize| {
            if let Ok(mut t) = tick.lock() {
                t(d as u64, n as u64);
            }
        };
        // Planned first, so that the spec's errors come with their places.
        let (spec, jobs) = mmusim::sweep::plan_given(given, threads).map_err(Err)?;
        let s = mmusim::sweep::run_planned(
            &spec,
            &jobs,
            &out,
            mmusim::sweep::Slice::All,
            threads,
            retry_failed,
            &progress,
        )
        .map_err(Ok)?;
        if !s.failures.is_empty() {
            let first = &s.failures[0];
            return Err(Ok(format!(
                "{} of the sweep's runs failed (their errors are in {}); the first: {}",
                s.failures.len(),
                out.join("results.jsonl").display(),
                first
            )));
        }
        Ok((mmusim::sweep::report_in_place(&out).map_err(Ok)?, s))
    })?;
    let (report, s) = result.map_err(|e| match e {
        Ok(msg) => message(msg),
        Err(plan) => plan_errors(py, &plan),
    })?;
    let where_ = out.display().to_string();
    Ok((report.csv, where_, s.runs, s.ran, s.skipped, s.note))
}

/// A sweep's plan errors, each with its file, line and key.
fn plan_errors(py: Python<'_>, errors: &[mmusim::sweep::PlanError]) -> PyErr {
    let lines: Vec<String> = errors.iter().map(|e| e.text.clone()).collect();
    let parts: Vec<_> = (errors.iter())
        .map(|e| {
            let at = &e.at;
            (
                Some(at.file.as_str()),
                at.line,
                at.path.as_str(),
                at.msg.as_str(),
            )
        })
        .collect();
    part_errors(py, &lines, &parts)
}

/// report.csv, the folder, the plan's runs, those run now, those already stored, and
/// the one-pass note.
type SweepOut = (String, String, usize, usize, usize, Option<String>);

/// `mmusim analyze`: `(analysis.json, [(curve file, its CSV)], tlb.csv,
/// replacement.csv or None, (WS's backward-distance histogram, count beyond))`. The
/// references are a workload file, a trace file, the page numbers of `refs`
/// (little-endian u64 bytes), or a reference string `refs_text`.
#[pyfunction]
#[pyo3(signature = (workload=None, trace=None, format=None, refs=None, refs_text=None, page_size="4K", core=0, max_m=None, ws_t=None, ws_max=None, frames=None, policies=None, seed=1, curves="lru,min,ws"))]
#[allow(clippy::too_many_arguments)]
fn analyze(
    py: Python<'_>,
    workload: Option<(String, String)>,
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
    // A workload as `run` takes it: a file, TOML text or a dict.
    let workload = super::Input::new(workload, "workload")?;
    let input = match (workload, trace, refs, refs_text) {
        (Some(w), None, None, None) if w.kind == "path" => Input::Workload {
            path: w.value,
            core,
        },
        (Some(w), None, None, None) => {
            let toml = w.toml().map_err(|e| super::config_errors(py, &[e]))?;
            Input::WorkloadText {
                text: toml.unwrap_or(w.value),
                name: w.name,
                core,
            }
        }
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
    let opts = Options::from_args(page_size, max_m, ws_max, seed, curves, lists)
        .map_err(|e| message(python_names(&e)))?;
    // On a thread of its own, so that Ctrl-C stops it (at its next stage, or within
    // 65,536 references of the LRU and MIN passes).
    let report = global_stop(py, None, |_| analyze_with(&input, &opts, &|_| {}))?;
    let report = report.map_err(|e| message(python_names(&e)))?;
    let curves = (report.curves.iter())
        .map(|c| (c.file.clone(), report.curve_csv(c)))
        .collect();
    Ok((
        report.to_json(),
        curves,
        report.tlb_csv(),
        report.replacement_csv(),
        (report.ws_histogram, report.ws_beyond),
    ))
}

/// analysis.json, the curves' CSVs, tlb.csv, replacement.csv, and WS's backward-distance
/// histogram with its count beyond the largest window (not in analysis.json).
type AnalyzeOut = (
    String,
    Vec<(String, String)>,
    String,
    Option<String>,
    (Vec<(u64, u64)>, u64),
);

/// `mmusim mva`: `(mva.json, mva.csv)` of the model with its overrides: a model file,
/// or (as `run` takes a config) TOML text or a dict, whose relative table path starts at
/// the current folder.
#[pyfunction]
#[pyo3(signature = (config, sets=Vec::new(), n_max=None))]
fn mva(
    py: Python<'_>,
    config: (String, String),
    sets: Vec<String>,
    n_max: Option<u32>,
) -> PyResult<(String, String)> {
    let Some(input) = super::Input::new(Some(config), "config")? else {
        return Err(message("config: a model is needed"));
    };
    let (model, analysis) = if input.kind == "path" {
        // The model's errors with their file, line and key; then solved as `mva::solve`.
        let path = Path::new(&input.value);
        let model = py
            .detach(|| mmusim::mva::config::load_model(path, &sets, n_max))
            .map_err(|e| super::config_errors(py, &[n_max_named(e)]))?;
        let analysis = global_stop(py, None, |_| mmusim::mva::analyse(&model))?;
        (model, analysis.map_err(message)?)
    } else {
        let toml = input.toml().map_err(|e| super::config_errors(py, &[e]))?;
        let text = toml.as_deref().unwrap_or(&input.value);
        let model = mmusim::mva::config::model_from_text(
            &input.name,
            text,
            Path::new(""),
            "mva",
            &sets,
            n_max,
        )
        .map_err(|e| super::config_errors(py, &[n_max_named(e)]))?;
        let analysis = global_stop(py, None, |_| mmusim::mva::analyse(&model))?;
        (model, analysis.map_err(message)?)
    };
    Ok((analysis.to_json(&model), analysis.to_csv()))
}

/// `msg` with the command line's flags of `analyze` named as the Python parameters.
fn python_names(msg: &str) -> String {
    [
        ("--ws-max", "ws_max"),
        ("--ws-t", "ws_t"),
        ("--frames", "frames"),
        ("--policies", "policies"),
        ("--max-m", "max_m"),
        ("--page-size", "page_size"),
        ("--refs", "refs"),
    ]
    .iter()
    .fold(msg.to_string(), |m, (flag, name)| m.replace(flag, name))
}

/// mva's `--n-max` error as the parameter `n_max`'s.
fn n_max_named(mut e: mmusim::loader::ConfigError) -> mmusim::loader::ConfigError {
    if e.file == "--n-max" {
        e.file = "n_max".into();
    }
    e
}

/// `mmusim explain ADDR`: the steps of the report the command line prints, as JSON (a
/// list of objects: section, kind, text and the step's values).
#[pyfunction]
#[pyo3(signature = (addr, config=None, sets=Vec::new(), warm=Vec::new(), core=0))]
fn explain(
    py: Python<'_>,
    addr: String,
    config: Option<(String, String)>,
    sets: Vec<String>,
    warm: Vec<String>,
    core: usize,
) -> PyResult<String> {
    // As `run` takes it: a path or preset, TOML text or a dict (`Input`).
    let config = super::Input::new(config, "config")?;
    let toml = match config.as_ref().map(super::Input::toml).transpose() {
        Ok(t) => t.flatten(),
        Err(e) => return Err(super::config_errors(py, &[e])),
    };
    let given = config.as_ref().map(|c| c.given(&toml));
    // Config errors structured, as `run`'s (the same loading, done first).
    py.detach(|| mmusim::run::load_given_ahead(given, None, None, &sets))
        .map_err(|e| super::config_errors(py, &e))?;
    let steps = global_stop(py, None, |_| {
        mmusim::explain::explain_steps(&mmusim::explain::Request {
            config: given,
            sets: &sets,
            addr: &addr,
            warm: &warm,
            core,
        })
    })?;
    let steps = steps.map_err(|f| explain_errors(py, f))?;
    Ok(mmusim::explain::to_json(&steps))
}

/// explain's failure; a refused argument named as the Python parameter (`addr`,
/// `warm[i]`, `core`), with no file.
fn explain_errors(py: Python<'_>, f: mmusim::explain::Failure) -> PyErr {
    use mmusim::explain::{Arg, Failure};
    match f {
        Failure::Config(es) => super::config_errors(py, &es),
        Failure::Sim(e) => message(e),
        Failure::Args(es) => {
            let keys: Vec<String> = (es.iter())
                .map(|e| match e.arg {
                    Arg::Addr => "addr".to_string(),
                    Arg::Warm(i) => format!("warm[{i}]"),
                    Arg::Core => "core".to_string(),
                })
                .collect();
            let lines: Vec<String> = (keys.iter().zip(&es))
                .map(|(k, e)| format!("{k} {}", e.msg))
                .collect();
            let parts: Vec<_> = (keys.iter().zip(&es))
                .map(|(k, e)| (None, None, k.as_str(), e.msg.as_str()))
                .collect();
            part_errors(py, &lines, &parts)
        }
    }
}

/// A trace's accesses as `run --trace` reads them: `(addresses, kinds, instrs)` as
/// little-endian u64, u8 (0 load, 1 store, 2 fetch) and u32 bytes, the first `limit`
/// accesses (all by default). `format` as `--format` takes it; `fetches` false counts
/// instruction fetches into the next data access instead of listing them.
#[pyfunction]
#[pyo3(signature = (path, limit=None, format=None, fetches=true, page_size="4K"))]
fn read_trace<'py>(
    py: Python<'py>,
    path: PathBuf,
    limit: Option<u64>,
    format: Option<String>,
    fetches: bool,
    page_size: &str,
) -> PyResult<(
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
)> {
    let format = match format.as_deref() {
        None => mmusim::trace::TraceFormat::Auto,
        Some(f) => f
            .parse()
            .map_err(|e: String| message(format!("format: {e}")))?,
    };
    let page_size = mmusim::addr::PageSize::parse_or_explain(page_size)
        .map_err(|e| message(format!("page_size: {e}")))?;
    let opts = mmusim::trace::TraceOptions {
        format,
        fetches,
        page_size: page_size.bytes(),
    };
    let read = py.detach(|| -> Result<[Vec<u8>; 3], String> {
        let mut src = mmusim::trace::open(&path, &opts).map_err(|e| e.to_string())?;
        let (mut addrs, mut kinds, mut instrs) = (Vec::new(), Vec::new(), Vec::new());
        let mut buf = Vec::with_capacity(1 << 16);
        let mut left = limit.unwrap_or(u64::MAX);
        while left > 0 {
            buf.clear();
            let max = left.min(1 << 16) as usize;
            src.fill(&mut buf, max).map_err(|e| e.to_string())?;
            if buf.is_empty() {
                break;
            }
            for a in &buf {
                addrs.extend_from_slice(&a.vaddr.to_le_bytes());
                kinds.push(kind_code(a.kind));
                instrs.extend_from_slice(&a.instrs.to_le_bytes());
            }
            left -= buf.len() as u64;
        }
        Ok([addrs, kinds, instrs])
    });
    let [a, k, i] = read.map_err(message)?;
    Ok((
        PyBytes::new(py, &a),
        PyBytes::new(py, &k),
        PyBytes::new(py, &i),
    ))
}

/// TOML text of an input handed over as `("toml", text)` or `("json", a dict as JSON)`;
/// `name` stands for its file in errors.
fn toml_of(name: &str, kind: &str, text: String) -> PyResult<String> {
    match kind {
        "toml" => Ok(text),
        "json" => mmusim::run::json_to_toml(name, &text)
            .map_err(|e| Python::attach(|py| super::config_errors(py, &[e]))),
        k => Err(message(format!("{name}: unknown input kind {k:?}"))),
    }
}

/// An access kind's code in a `.mmt` record (0 load, 1 store, 2 fetch).
pub(crate) fn kind_code(k: mmusim::addr::AccessKind) -> u8 {
    match k {
        mmusim::addr::AccessKind::Load => 0,
        mmusim::addr::AccessKind::Store => 1,
        mmusim::addr::AccessKind::Fetch => 2,
    }
}

pub(crate) fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_function(wrap_pyfunction!(mva, m)?)?;
    m.add_function(wrap_pyfunction!(explain, m)?)?;
    m.add_function(wrap_pyfunction!(read_trace, m)?)?;
    Ok(())
}
