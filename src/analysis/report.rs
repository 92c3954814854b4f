//! `mmusim analyze`: one report from the analyses of a page reference stream, as a table,
//! JSON, CSV and SVG.
//!
//! In: an [`Input`] (workload file, trace file or explicit page list) and [`Options`].
//! Out: a [`Report`]; [`Report::to_table`] for the terminal, [`Report::write`] for
//! `analysis.json`, one `<curve>.csv` per fault curve (header `m,faults,lifetime`, read
//! back by the MVA command), `tlb.csv` and `fault-curves.svg`. This file computes the
//! report; `output.rs` beside it writes it out.
//!
//! Curves: LRU and MIN for every memory size, WS and VMIN for every window T up to a
//! bound (or a list of T), each with its lifetime curve and knee (`lifetime.svg`);
//! optionally the fixed-memory replacement policies for a list of frame counts
//! (`replacement.csv`, `replacement.svg`).
//!
//! Adding an analysis means pushing one more [`FaultCurve`] in [`analyze`]: the table,
//! the JSON, the CSV files and the charts all iterate over `Report::curves`. Fixed-space
//! curves (one value per integer memory size) share the table's `m` column;
//! variable-space ones (memory = a mean, one point per window T) get a table of their own.

use super::lifetime::{knee, lifetime};
use super::lru::{lru_stoppable, LruAnalysis};
use super::opt::opt;
use super::replace::{self, Policy};
use super::ws::distances;
use super::PageStream;
use crate::addr::PageSize;
use serde::Serialize;

/// The error of an analysis ended by a stop (the Python package's Ctrl-C).
pub const INTERRUPTED: &str = "interrupted";

/// Where the references come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// A workload file and the core whose stream is analysed.
    Workload { path: String, core: usize },
    /// A workload's TOML text, `name` standing for its file in errors; relative paths in
    /// it start at the current folder.
    WorkloadText {
        name: String,
        text: String,
        core: usize,
    },
    /// A trace file (`-`: standard input) in `format` (`Auto`: by name, then content).
    Trace {
        path: String,
        core: usize,
        format: crate::trace::TraceFormat,
    },
    /// Page numbers taken as given (pages of `Options::page_size`).
    Refs(Vec<u64>),
}

/// What to compute.
#[derive(Clone, Debug)]
pub struct Options {
    /// The page size of the LRU/MIN curves (for `Refs`: the size of the given pages).
    pub page_size: PageSize,
    /// Curves and TLB sizes go up to this many frames/entries (default: all distinct).
    pub max_m: Option<usize>,
    /// Working-set windows: these T (empty: every T up to `ws_max`).
    pub ws_t: Vec<u64>,
    /// Every T = 1..=ws_max when `ws_t` is empty (default: min(K, 10,000)).
    pub ws_max: Option<u64>,
    /// Frame counts for the fixed-memory replacement simulation (empty: none).
    pub frames: Vec<usize>,
    /// Which policies to simulate (empty: all).
    pub policies: Vec<Policy>,
    /// Seed of the Random policy.
    pub seed: u64,
    /// Which curves to compute (LRU's pass always runs: the TLB curves come from it).
    pub curves: Curves,
}

/// The curves `analyze` computes. MIN costs a few times the LRU pass (see `opt.rs`
/// and docs/PERFORMANCE.md), so a researcher can leave it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Curves {
    pub lru: bool,
    pub min: bool,
    /// WS and VMIN (one pass gives both).
    pub ws: bool,
}

impl Default for Curves {
    fn default() -> Curves {
        Curves {
            lru: true,
            min: true,
            ws: true,
        }
    }
}

impl std::str::FromStr for Curves {
    type Err = String;
    /// `"lru,min,ws"` (any subset; `vmin` is a synonym of `ws`, computed together).
    fn from_str(s: &str) -> Result<Curves, String> {
        let mut c = Curves {
            lru: false,
            min: false,
            ws: false,
        };
        for name in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "lru" => c.lru = true,
                "min" | "opt" => c.min = true,
                "ws" | "vmin" => c.ws = true,
                other => {
                    return Err(format!(
                        "unknown curve '{other}' (expected lru, min, ws or vmin)"
                    ))
                }
            }
        }
        if c == (Curves {
            lru: false,
            min: false,
            ws: false,
        }) {
            return Err(format!("no curve named in '{s}'"));
        }
        Ok(c)
    }
}

/// Default bound on the working-set window when neither a list nor a bound is given.
pub const WS_MAX_DEFAULT: u64 = 10_000;

impl Default for Options {
    fn default() -> Options {
        Options {
            page_size: PageSize::Size4K,
            max_m: None,
            ws_t: Vec::new(),
            ws_max: None,
            frames: Vec::new(),
            policies: Vec::new(),
            seed: 1,
            curves: Curves::default(),
        }
    }
}

/// The list arguments of `mmusim analyze` as written: `--ws-t 1-8,110`, `--frames 1-7`,
/// `--policies fifo,lru`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lists<'a> {
    pub ws_t: Option<&'a str>,
    pub frames: Option<&'a str>,
    pub policies: Option<&'a str>,
}

impl Options {
    /// The options of `mmusim analyze`'s arguments (the command line's and the Python
    /// package's); errors name the flag.
    pub fn from_args(
        page_size: PageSize,
        max_m: Option<u64>,
        ws_max: Option<u64>,
        seed: u64,
        curves: Curves,
        lists: Lists,
    ) -> Result<Options, String> {
        let list = |flag: &str, v: Option<&str>| -> Result<Vec<u64>, String> {
            v.map_or(Ok(Vec::new()), |s| {
                parse_list(s).map_err(|e| format!("{flag}: {e}"))
            })
        };
        let frames = list("--frames", lists.frames)?;
        let policies = match lists.policies {
            None => Vec::new(),
            Some(s) => s
                .split(',')
                .map(|p| p.trim().parse().map_err(|e| format!("--policies: {e}")))
                .collect::<Result<_, String>>()?,
        };
        // Every T up to --ws-max is a row of the WS table: the cap of a `--ws-t` range.
        if let Some(t) = ws_max.filter(|&t| t > LIST_RANGE_MAX) {
            return Err(format!(
                "--ws-max: {t} is above the limit of {LIST_RANGE_MAX} windows (use --ws-t for single large T)"
            ));
        }
        Ok(Options {
            page_size,
            max_m: max_m.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
            ws_t: list("--ws-t", lists.ws_t)?,
            ws_max,
            frames: (frames.into_iter())
                .map(|f| usize::try_from(f).unwrap_or(usize::MAX))
                .collect(),
            policies,
            seed,
            curves,
        })
    }
}

/// The longest range `parse_list` expands, and the largest `--ws-max`.
pub const LIST_RANGE_MAX: u64 = 10_000_000;

/// Parses a list of positive integers with ranges: `"1-8,110"` or `"1 2 4"`.
pub fn parse_list(s: &str) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    for item in s.split([',', ' ']).filter(|x| !x.is_empty()) {
        let num = |x: &str| {
            x.trim()
                .parse::<u64>()
                .map_err(|_| format!("'{x}' is not a whole number (in list '{s}')"))
        };
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range '{item}' runs backwards"));
                }
                if b - a > LIST_RANGE_MAX {
                    return Err(format!("range '{item}' is too long"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(item)?),
        }
    }
    if out.is_empty() {
        return Err(format!("empty list '{s}'"));
    }
    Ok(out)
}

/// One point of a fault curve.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// The window T of a variable-space policy (WS, VMIN).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t: Option<u64>,
    /// Memory: frames for a fixed-space policy, mean resident pages for a variable one.
    pub m: f64,
    pub faults: u64,
}

/// A fault curve F(m) of one policy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FaultCurve {
    /// Column and legend name ("LRU", "MIN").
    pub name: String,
    /// The CSV file it is written to ("lru.csv").
    pub file: String,
    /// One point per integer memory size m = 1, 2, ... (else m is a mean).
    pub fixed_space: bool,
    pub points: Vec<CurvePoint>,
    /// The point of maximum lifetime per page, L(m)/m (smallest m on ties), as
    /// (m, L); `None` when every point has zero faults.
    pub knee: Option<(f64, f64)>,
}

/// Faults of each fixed-memory replacement policy for each frame count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Replacement {
    pub frames: Vec<usize>,
    pub policies: Vec<String>,
    /// `faults[policy][i]` with `frames[i]` frames.
    pub faults: Vec<Vec<u64>>,
    pub seed: u64,
}

/// Misses of fully-associative LRU TLBs with 1..=N entries for one page size.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TlbCurve {
    pub page_size: PageSize,
    /// Distinct pages of this size (a TLB this large misses only on first touches).
    pub distinct: u64,
    /// `misses[n - 1]` = misses with n entries.
    pub misses: Vec<u64>,
}

/// Everything `mmusim analyze` computes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// What was analysed, for humans.
    pub source: String,
    pub page_size: PageSize,
    /// References K.
    pub refs: u64,
    pub distinct: u64,
    /// Curves cover m = 1..=max_m.
    pub max_m: usize,
    /// LRU stack-distance histogram: (distance, count) for every nonzero count.
    pub lru_histogram: Vec<(u64, u64)>,
    /// References with infinite stack distance (first references).
    pub first_refs: u64,
    /// MIN stack-distance histogram, the same way.
    pub min_histogram: Vec<(u64, u64)>,
    /// WS's backward (inter-reference) distance histogram, the same way, up to the
    /// largest window T analysed (empty without the WS curve): WS(T) faults on the
    /// first references, the distances above T and [`Report::ws_beyond`]. Not in
    /// `analysis.json`.
    #[serde(skip)]
    pub ws_histogram: Vec<(u64, u64)>,
    /// References whose backward distance is finite and above the largest window.
    #[serde(skip)]
    pub ws_beyond: u64,
    pub curves: Vec<FaultCurve>,
    /// Per page size, from the LRU pass over the same addresses in pages of that size.
    pub tlb: Vec<TlbCurve>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Replacement>,
}

fn nonzero(hist: &[u64]) -> Vec<(u64, u64)> {
    hist.iter()
        .enumerate()
        .skip(1)
        .filter(|(_, &c)| c > 0)
        .map(|(d, &c)| (d as u64, c))
        .collect()
}

fn with_knee(mut c: FaultCurve, k: u64) -> FaultCurve {
    let pts: Vec<(f64, u64)> = c.points.iter().map(|p| (p.m, p.faults)).collect();
    c.knee = knee(&lifetime(k, &pts));
    c
}

fn fixed_curve(name: &str, file: &str, faults: &[u64], max_m: usize, k: u64) -> FaultCurve {
    let c = FaultCurve {
        name: name.into(),
        file: file.into(),
        fixed_space: true,
        points: faults
            .iter()
            .take(max_m)
            .enumerate()
            .map(|(i, &f)| CurvePoint {
                t: None,
                m: (i + 1) as f64,
                faults: f,
            })
            .collect(),
        knee: None,
    };
    with_knee(c, k)
}

fn window_curve(
    name: &str,
    file: &str,
    ts: &[u64],
    mean: &[f64],
    faults: &[u64],
    k: u64,
) -> FaultCurve {
    let c = FaultCurve {
        name: name.into(),
        file: file.into(),
        fixed_space: false,
        points: ts
            .iter()
            .zip(mean)
            .zip(faults)
            .map(|((&t, &m), &f)| CurvePoint {
                t: Some(t),
                m,
                faults: f,
            })
            .collect(),
        knee: None,
    };
    with_knee(c, k)
}

impl PageStream {
    /// The same references in pages `2^shift` times larger (page >> shift). Ids stay in
    /// first-reference order: a large page is first referenced with the first of its
    /// small pages, and small ids are numbered in that order.
    pub fn coarsen(&self, shift: u32) -> PageStream {
        let mut map = vec![0u32; self.distinct()];
        let mut coarse = PageStream::from_pages(&[]);
        let mut seen = std::collections::HashMap::new();
        for (id, &p) in self.pages.iter().enumerate() {
            let big = p >> shift;
            map[id] = *seen.entry(big).or_insert_with(|| {
                coarse.pages.push(big);
                (coarse.pages.len() - 1) as u32
            });
        }
        coarse.ids = self.ids.iter().map(|&i| map[i as usize]).collect();
        coarse
    }
}

/// Reads the input and runs every analysis.
pub fn analyze(input: &Input, opts: &Options) -> Result<Report, String> {
    analyze_with(input, opts, &|_| {})
}

/// [`analyze`], telling `stage` what it starts (reading, each curve) for a progress
/// display.
pub fn analyze_with(input: &Input, opts: &Options, stage: &dyn Fn(&str)) -> Result<Report, String> {
    // Each stage starts only while no stop was asked for (the Python package's Ctrl-C;
    // the command line sets no stop here: an analysis has no partial result to keep).
    let stage = |s: &str| -> Result<(), String> {
        if crate::progress::stop_requested() {
            return Err(INTERRUPTED.into());
        }
        stage(s);
        Ok(())
    };
    let lru = |s: &PageStream| lru_stoppable(s).ok_or_else(|| INTERRUPTED.to_string());
    stage("reading the references")?;
    // Read once, in the finest pages needed; larger pages are derived by coarsening.
    let (source, base_size, base) = match input {
        Input::Workload { path, core } => {
            let (spec, dir) = super::load_workload(path)?;
            let s = PageStream::from_workload(&spec, &dir, *core, PageSize::Size4K, path)?;
            (format!("workload {path}, core {core}"), PageSize::Size4K, s)
        }
        Input::WorkloadText { name, text, core } => {
            let spec = super::decode_workload(name, text)?;
            let dir = std::path::Path::new("");
            let s = PageStream::from_workload(&spec, dir, *core, PageSize::Size4K, name)?;
            (format!("workload {name}, core {core}"), PageSize::Size4K, s)
        }
        Input::Trace { path, core, format } => {
            let s = PageStream::from_trace(path, *format, *core, PageSize::Size4K)?;
            (format!("trace {path}, core {core}"), PageSize::Size4K, s)
        }
        Input::Refs(pages) => (
            "--refs (page numbers as given)".to_string(),
            opts.page_size,
            PageStream::from_pages(pages),
        ),
    };
    if base.is_empty() {
        return Err(format!("{source}: no references to analyse"));
    }
    let stream_of = |size: PageSize| {
        if size == base_size {
            None
        } else {
            Some(base.coarsen(size.shift() - base_size.shift()))
        }
    };
    let main_owned = stream_of(opts.page_size);
    let main = main_owned.as_ref().unwrap_or(&base);
    let distinct = main.distinct();
    let max_m = opts.max_m.unwrap_or(distinct).clamp(1, distinct);
    let refs = crate::util::group(main.len() as u64);
    stage(&format!("LRU stack distances of {refs} references"))?;
    let l = lru(main)?;
    let o = if opts.curves.min {
        stage(&format!("MIN stack distances of {refs} references"))?;
        Some(opt(main)?)
    } else {
        None
    };
    let k = l.refs;
    let mut curves = Vec::new();
    let (mut ws_histogram, mut ws_beyond) = (Vec::new(), 0);
    if opts.curves.lru {
        curves.push(fixed_curve("LRU", "lru.csv", &l.faults(), max_m, k));
    }
    if let Some(o) = &o {
        curves.push(fixed_curve("MIN", "min.csv", &o.faults(), max_m, k));
    }
    if opts.curves.ws {
        stage(&format!("working sets (WS, VMIN) of {refs} references"))?;
        // As `ws_vmin_all` (every T up to t_max) or `ws_vmin_at`, the histogram kept.
        let ts: Vec<u64> = if opts.ws_t.is_empty() {
            let t_max = opts.ws_max.unwrap_or(WS_MAX_DEFAULT.min(k)).max(1);
            if t_max > LIST_RANGE_MAX {
                return Err(format!(
                    "ws_max: {t_max} is above the limit of {LIST_RANGE_MAX} windows"
                ));
            }
            (1..=t_max).collect()
        } else {
            let mut ts = opts.ws_t.clone();
            ts.sort_unstable();
            ts.dedup();
            ts
        };
        let d = distances(&main.ids, distinct, ts.iter().copied().max().unwrap_or(0));
        ws_histogram = nonzero(&d.counts);
        ws_beyond = d.beyond;
        let ws = d.curve(&ts);
        curves.push(window_curve(
            "WS",
            "ws.csv",
            &ws.t,
            &ws.ws_mean,
            &ws.faults,
            k,
        ));
        curves.push(window_curve(
            "VMIN",
            "vmin.csv",
            &ws.t,
            &ws.vmin_mean,
            &ws.faults,
            k,
        ));
    }
    if !opts.frames.is_empty() {
        stage("replacement policies")?;
    }
    let replacement = (!opts.frames.is_empty()).then(|| {
        let policies = if opts.policies.is_empty() {
            Policy::ALL.to_vec()
        } else {
            opts.policies.clone()
        };
        Replacement {
            frames: opts.frames.clone(),
            policies: policies.iter().map(|p| p.name().to_string()).collect(),
            faults: replace::fault_table(&main.ids, distinct, &opts.frames, &policies, opts.seed),
            seed: opts.seed,
        }
    });
    stage("TLB miss curves")?;
    let tlb = PageSize::ALL
        .iter()
        .filter(|&&s| s >= base_size)
        .map(|&size| {
            let a: LruAnalysis = if size == opts.page_size {
                l.clone()
            } else {
                match stream_of(size) {
                    Some(s) => lru(&s)?,
                    None => lru(&base)?,
                }
            };
            let cap = opts.max_m.unwrap_or(usize::MAX).max(1);
            Ok(TlbCurve {
                page_size: size,
                distinct: a.first_refs,
                misses: a.faults().into_iter().take(cap).collect(),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(Report {
        source,
        page_size: opts.page_size,
        refs: l.refs,
        distinct: distinct as u64,
        max_m,
        lru_histogram: nonzero(&l.histogram),
        first_refs: l.first_refs,
        min_histogram: o.as_ref().map_or_else(Vec::new, |o| nonzero(&o.histogram)),
        ws_histogram,
        ws_beyond,
        curves,
        tlb,
        replacement,
    })
}

impl Report {
    /// References per fault.
    pub fn lifetime(&self, faults: u64) -> f64 {
        self.refs as f64 / faults as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarsening_matches_compacting_the_shifted_pages() {
        let pages: Vec<u64> = super::super::testutil::string(9, 3000, 5000, 0.5)
            .into_iter()
            .map(|p| p * 37)
            .collect();
        let s = PageStream::from_pages(&pages);
        let shifted: Vec<u64> = pages.iter().map(|p| p >> 9).collect();
        assert_eq!(s.coarsen(9), PageStream::from_pages(&shifted));
    }

    #[test]
    fn csv_lifetime_is_references_per_fault() {
        let pages = [1u64, 2, 1, 3, 1, 2];
        let r = analyze(&Input::Refs(pages.to_vec()), &Options::default()).unwrap();
        // LRU m=1: all 6 fault; m=2: 1 2 1(hit) 3 1(hit) 2(fault) -> 4; m=3: 3.
        assert_eq!(
            r.curve_csv(&r.curves[0]),
            "m,faults,lifetime\n1,6,1\n2,4,1.5\n3,3,2\n"
        );
    }
}
