//! `mmusim compare`: every system x workload pair, run in parallel, side by side.
//!
//! In: systems (`-c A,B,C`: a preset or config file, each optionally followed by
//! overrides written `+key=value`, as `--set` takes them: `skylake+os.huge_pages.policy=always`),
//! workloads (`-w X,Y`: a workload file if the name ends in `.toml`, otherwise a trace
//! file run as `run --trace` runs it; also with `+key=value` overrides of the workload;
//! none given: the default workload), `--set` overrides for every pair, and the
//! baseline system (default: the first). Every pair is loaded and validated before
//! anything runs; errors name the system and/or workload they belong to.
//!
//! Out: per workload, one table with a column per system and the ratio of each figure
//! to the baseline's ([`table`]); with `--out DIR`, `compare.csv` (a row per pair) and
//! one SVG per metric, bars normalised to the baseline, a group per workload. The
//! figures are read from the run's report (`stats.total`, `stats.page_tables`)
//! exactly as `mmusim run` writes them to `result.json`, so a column equals the run of
//! the same system and workload. Studies (`mmusim study`) are untouched.

mod cli;
mod table;

pub use cli::{cli, Args, Ended};
pub use table::{metrics, Metric};

use crate::loader::ConfigError;
use crate::report::{write_atomic, RunReport};
use crate::run::{Given, Inputs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What `mmusim compare` was asked.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Systems as written (one per entry; [`split_list`] splits `-c A,B`).
    pub systems: Vec<String>,
    /// Workloads as written; empty: the default workload.
    pub workloads: Vec<String>,
    /// The baseline system, as written (or its short label); default the first.
    pub baseline: Option<String>,
    /// `--set` overrides applied to every pair (before each system's own).
    pub sets: Vec<String>,
    /// Folder for compare.csv and the SVGs.
    pub out: Option<PathBuf>,
    /// Threads (default: all cores).
    pub threads: Option<usize>,
    /// Configs and workloads given as TOML text rather than files: (name, text). A
    /// system or workload whose base is one of these names is loaded from its text
    /// (relative paths in it start at the current folder), as `run` loads a
    /// [`crate::run::Given::Text`]; errors name it.
    pub given: Vec<(String, String)>,
}

/// A system or workload of the comparison: the text the user wrote, the file (or
/// preset) it starts from, its overrides, and its column or section label.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub text: String,
    pub base: String,
    pub sets: Vec<String>,
    pub label: String,
}

/// Labels longer than this become `S1`, `S2`... (systems) with a legend line.
const MAX_LABEL: usize = 24;

/// Splits `a,b+k=[1,2],c` at the commas outside brackets, braces and quotes.
pub fn split_list(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut quote, mut cur) = (0i32, None, String::new());
    for c in s.chars() {
        match (quote, c) {
            (Some(q), _) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => depth -= 1,
            (None, ',') if depth <= 0 => {
                out.push(std::mem::take(&mut cur).trim().to_string());
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_string());
    out.retain(|s| !s.is_empty());
    out
}

/// `base+k=v+k2=v2`: the base (everything before the first `+` part holding `=`, so
/// a file name may contain `+`) and the overrides (a `+` part without `=` continues
/// the previous value). A text naming an existing file is all base.
pub fn parse_item(text: &str) -> (String, Vec<String>) {
    if Path::new(text).exists() {
        return (text.to_string(), Vec::new());
    }
    let mut base: Vec<&str> = Vec::new();
    let mut sets: Vec<String> = Vec::new();
    for part in text.split('+') {
        match sets.last_mut() {
            None if !part.contains('=') => base.push(part),
            Some(last) if !part.contains('=') => {
                last.push('+');
                last.push_str(part);
            }
            _ => sets.push(part.trim().to_string()),
        }
    }
    (base.join("+").trim().to_string(), sets)
}

fn items(texts: &[String], prefix: &str) -> Vec<Item> {
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let (base, sets) = parse_item(t);
            let label = if t.chars().count() > MAX_LABEL {
                format!("{prefix}{}", i + 1)
            } else {
                t.clone()
            };
            Item {
                text: t.clone(),
                base,
                sets,
                label,
            }
        })
        .collect()
}

/// The finished comparison.
pub struct Comparison {
    pub systems: Vec<Item>,
    pub workloads: Vec<Item>,
    pub baseline: usize,
    /// `reports[w][s]`: the run of system `s` on workload `w`.
    pub reports: Vec<Vec<RunReport>>,
}

impl Comparison {
    /// The tables, one per workload.
    pub fn to_table(&self) -> String {
        table::render(self)
    }
    /// compare.csv: a row per pair.
    pub fn to_csv(&self) -> Result<String, String> {
        table::csv(self)
    }
    /// One SVG per metric: (file name, body).
    pub fn to_svgs(&self) -> Vec<(String, String)> {
        table::svgs(self)
    }
    /// Writes compare.csv and the SVGs into `dir`; returns the files written.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, String> {
        let mut files = vec![("compare.csv".to_string(), self.to_csv()?)];
        files.extend(self.to_svgs());
        let mut written = Vec::new();
        for (name, body) in files {
            let p = dir.join(name);
            write_atomic(&p, body.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))?;
            written.push(p);
        }
        Ok(written)
    }
}

/// The overrides of workload item `w` as `--set` takes them (`workload.` prefixed).
fn workload_sets(w: &Item) -> impl Iterator<Item = String> + '_ {
    w.sets.iter().map(|s| {
        let s = s.strip_prefix("workload.").unwrap_or(s);
        format!("workload.{s}")
    })
}

/// Loads every pair; `Err` lists every problem once, naming whose it is.
fn load_all<'a>(
    o: &'a Options,
    sys: &'a [Item],
    wls: &'a [Item],
) -> Result<Vec<Vec<Inputs>>, Failure> {
    let mut inputs = Vec::new();
    let mut failed: Vec<(ConfigError, usize, usize)> = Vec::new();
    for (wi, w) in wls.iter().enumerate() {
        let mut row = Vec::new();
        for (si, s) in sys.iter().enumerate() {
            let sets: Vec<String> = (o.sets.iter().cloned())
                .chain(s.sets.iter().cloned())
                .chain(workload_sets(w))
                .collect();
            let text = |base: &str| {
                let (name, text) = o.given.iter().find(|(n, _)| n == base)?;
                Some(Given::Text {
                    name,
                    text,
                    dir: Path::new(""),
                })
            };
            let (file, trace) = match w.base.as_str() {
                "" => (None, None),
                b if b.ends_with(".toml") || text(b).is_some() => (Some(b), None),
                b => (None, Some(b)),
            };
            let given = |b: &'a str| text(b).unwrap_or(Given::Path(b));
            // Paths load as `load_inputs_with` loads them.
            let config = Some(given(&s.base));
            match crate::run::load_given_ahead(config, file.map(given), trace, &sets) {
                Ok(i) => row.push(i),
                Err(es) => failed.extend(es.into_iter().map(|e| (e, si, wi))),
            }
        }
        inputs.push(row);
    }
    if failed.is_empty() {
        return Ok(inputs);
    }
    let mut out = Failure::default();
    for (e, s, w) in &failed {
        let of = whose(e, *s, *w, o, sys, wls, &failed);
        let line = format!("{of}: {e}");
        if !out.lines.contains(&line) {
            out.lines.push(line);
            out.config.push((of, e.clone()));
        }
    }
    Err(out)
}

/// A comparison that failed: the lines the command line prints, and the config errors
/// among them (each with whose it is: the line's prefix), in the same order.
#[derive(Debug, Default)]
pub struct Failure {
    pub lines: Vec<String>,
    pub config: Vec<(String, ConfigError)>,
}

impl From<Vec<String>> for Failure {
    fn from(lines: Vec<String>) -> Failure {
        Failure {
            lines,
            config: Vec::new(),
        }
    }
}

/// Whose error `e` (of system `s` on workload `w`) is, by where the offending text
/// came from: the workload's file or overrides (the workload's when it fails on every
/// system, else the pair's), a `--set` of every pair, or else the system (its file,
/// the file it extends, its `+` overrides).
fn whose(
    e: &ConfigError,
    s: usize,
    w: usize,
    o: &Options,
    sys: &[Item],
    wls: &[Item],
    failed: &[(ConfigError, usize, usize)],
) -> String {
    let set = e.file.strip_prefix("--set ");
    let wl = &wls[w];
    let wl_file = match wl.base.as_str() {
        "" => "<default workload>".to_string(),
        b if o.given.iter().any(|(n, _)| n == b) => b.to_string(),
        b if b.ends_with(".toml") => b.to_string(),
        b => format!("--trace {b}"),
    };
    // A workload's override is quoted as given to `run` (`--set workload.KEY=…`).
    let of_workload = e.file == wl_file || set.is_some_and(|a| workload_sets(wl).any(|x| x == a));
    let pair = format!("system `{}` x workload `{}`", sys[s].text, wl.text);
    if of_workload {
        // On every system that failed otherwise before reading it (a system file
        // that cannot be read stops a pair's loading first) or with it.
        let everywhere = (0..sys.len()).all(|t| {
            (failed.iter()).any(|(f, fs, fw)| {
                *fs == t
                    && *fw == w
                    && (f == e || f.line.is_none() && f.path.is_empty() && f.file == sys[t].base)
            })
        });
        if everywhere && sys.len() > 1 {
            format!("workload `{}`", wl.text)
        } else {
            pair
        }
    } else if set.is_some_and(|a| {
        o.sets
            .iter()
            .any(|x| x == a || x.strip_prefix("workload.") == Some(a))
    }) {
        "every pair".to_string()
    } else if wls.len() > 1 || sys.len() > 1 {
        format!("system `{}`", sys[s].text)
    } else {
        pair
    }
}

/// Checks everything, runs every pair on all cores, and returns the comparison.
/// The error of a run stopped by Ctrl-C.
pub const INTERRUPTED: &str = "interrupted";

/// `progress(done, total)` is called as runs finish.
pub fn compare(
    o: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Comparison, Vec<String>> {
    compare_failing(o, progress).map_err(|f| f.lines)
}

/// As [`compare`], the config errors of a failure also as [`ConfigError`]s.
pub fn compare_failing(
    o: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Comparison, Failure> {
    let texts: Vec<String> = o.systems.iter().flat_map(|s| split_list(s)).collect();
    if texts.is_empty() {
        return Err(vec!["-c: name at least one system (a preset or a config file)".into()].into());
    }
    let wtexts: Vec<String> = o.workloads.iter().flat_map(|s| split_list(s)).collect();
    let systems = items(&texts, "S");
    let mut workloads = items(&wtexts, "W");
    if workloads.is_empty() {
        workloads.push(Item {
            text: "default".into(),
            base: String::new(),
            sets: Vec::new(),
            label: "default".into(),
        });
    }
    for (what, list) in [("system", &systems), ("workload", &workloads)] {
        if let Some((i, t)) =
            (list.iter().enumerate()).find(|(i, t)| list[..*i].iter().any(|u| u.text == t.text))
        {
            return Err(vec![format!(
                "{what} `{}` is given twice (positions {} and {})",
                t.text,
                list.iter().position(|u| u.text == t.text).unwrap_or(0) + 1,
                i + 1
            )]
            .into());
        }
    }
    let baseline = match &o.baseline {
        None => 0,
        Some(b) => (systems.iter())
            .position(|s| s.text == *b || s.label == *b)
            .ok_or_else(|| {
                vec![format!(
                    "--baseline {b}: not one of the systems ({}){}",
                    systems
                        .iter()
                        .map(|s| s.text.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    crate::loader::hint(b, systems.iter().map(|s| s.text.as_str()))
                )]
            })?,
    };
    let inputs = load_all(o, &systems, &workloads)?;
    let pairs: Vec<(usize, usize)> = (0..workloads.len())
        .flat_map(|w| (0..systems.len()).map(move |s| (w, s)))
        .collect();
    let results: Vec<Mutex<Option<Result<RunReport, String>>>> =
        pairs.iter().map(|_| Mutex::new(None)).collect();
    let done = Mutex::new(0usize);
    let threads = o
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    crate::util::keep_freed_heap();
    crate::util::parallel_for(pairs.len(), threads, |i| {
        let (w, s) = pairs[i];
        // A panic in one run is that pair's failure, said with the others'.
        // Ctrl-C (the process-wide flag) stops a run at its next batch: a partial run
        // is not a figure to compare, so it counts as not done.
        let opts = crate::run::RunOptions::stoppable();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            crate::run::simulate_opts(&inputs[w][s], &opts, &mut |_, _| {})
        }))
        .unwrap_or_else(|_| Err(crate::SimError("the run panicked".into())))
        .map_err(|e| e.0)
        .and_then(|(r, _)| {
            if r.partial {
                Err(INTERRUPTED.into())
            } else {
                Ok(r)
            }
        });
        let stopped = matches!(&r, Err(e) if e == INTERRUPTED);
        *results[i].lock().expect("lock") = Some(r);
        if stopped {
            // Not finished: the count says how many runs were.
            return true;
        }
        let mut d = done.lock().expect("lock");
        *d += 1;
        progress(*d, pairs.len());
        true
    });
    let mut reports: Vec<Vec<RunReport>> = (0..workloads.len()).map(|_| Vec::new()).collect();
    let mut errors = Vec::new();
    for (i, &(w, s)) in pairs.iter().enumerate() {
        match results[i].lock().expect("lock").take() {
            Some(Ok(r)) => reports[w].push(r),
            Some(Err(e)) => errors.push(format!(
                "system `{}` x workload `{}`: {e}",
                systems[s].text, workloads[w].text
            )),
            None => errors.push(format!(
                "system `{}` x workload `{}`: did not run",
                systems[s].text, workloads[w].text
            )),
        }
    }
    if crate::progress::stop_requested() {
        // Ctrl-C: the finished runs go to runs.partial.csv (result.csv's columns, a row
        // per finished pair); the comparison itself needs every run.
        if let Some(dir) = &o.out {
            let done: Vec<RunReport> = reports.iter().flatten().cloned().collect();
            let p = dir.join("runs.partial.csv");
            crate::report::write_atomic(&p, crate::report::csv_of(&done).as_bytes())
                .map_err(|e| vec![format!("{}: {e}", p.display())])?;
        }
    }
    if !errors.is_empty() {
        return Err(errors.into());
    }
    Ok(Comparison {
        systems,
        workloads,
        baseline,
        reports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_split_outside_brackets_and_quotes() {
        assert_eq!(split_list("a, b+x=[1,2],c"), ["a", "b+x=[1,2]", "c"]);
        assert_eq!(split_list("a+k=\"x,y\",b"), ["a+k=\"x,y\"", "b"]);
        assert_eq!(split_list(" , a,"), ["a"]);
    }

    #[test]
    fn items_split_base_and_overrides() {
        assert_eq!(
            parse_item("skylake+os.huge_pages.policy=always+sim.cores=2"),
            (
                "skylake".to_string(),
                vec![
                    "os.huge_pages.policy=always".to_string(),
                    "sim.cores=2".to_string()
                ]
            )
        );
        // `+` inside a file name and inside a value.
        assert_eq!(
            parse_item("my+cfg.toml+name=a+b"),
            ("my+cfg.toml".to_string(), vec!["name=a+b".to_string()])
        );
        assert_eq!(parse_item("zen4"), ("zen4".to_string(), vec![]));
        let it = items(
            &[
                "skylake".into(),
                "skylake+os.huge_pages.policy=always".into(),
            ],
            "S",
        );
        assert_eq!(it[0].label, "skylake");
        assert_eq!(it[1].label, "S2");
    }
}
