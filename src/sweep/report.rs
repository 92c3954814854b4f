//! A sweep's report: the table and the plots of a finished (or partly finished) store.
//!
//! In: the output folder of a sweep (`results.jsonl`, and `spec.toml`, the spec copy
//! `sweep run` leaves there, for its `[[plot]]`s and `baseline`; the report says which it
//! used). Out: `report.csv` (written with the csv crate), a row per (point, workload)
//! with a column per axis (a TOML string's text without quotes), the design and the
//! statistics columns of `result.csv` ([`crate::report::columns`]: every TLB, the last
//! level as `stlb_*`, walk caches, design and shootdown counters, absent ones empty),
//! the metric normalised to the baseline point on the same workload, and a `geomean` row
//! per point (the geometric mean of the normalised metric over the workloads, as
//! architecture papers summarise); a grouped bar chart of the normalised metric; and
//! the plots the spec asks for (`line`: a line per workload or per value of an axis;
//! `heatmap`: two axes; `bars`: a group per workload, a bar per value of an axis), or by
//! default a line chart for one numeric axis and a heatmap
//! plus a line chart for two.
//!
//! The normalised metric is cycles; when the sweep was answered by one stack pass (see
//! [`super::onepass`]), whose records hold only the TLB's counters, it is that TLB's
//! misses, and the report says so.

use super::{store, Record};
use crate::report::columns::{Cell, Layout, StatsView};
use crate::svg::labels;
use crate::svg::{LineChart, Series};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;

/// What a plot of the report shows (`[[plot]]` in a sweep spec).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotSpec {
    pub kind: PlotKind,
    /// The axis along x (a key of one of the sweep's axes).
    pub x: String,
    /// `heatmap`: the axis along y.
    #[serde(default)]
    pub y: Option<String>,
    /// `line`: a line per `workload` (the default) or per value of this axis.
    #[serde(default)]
    pub series: Option<String>,
    /// The column plotted (default: the normalised metric).
    #[serde(default)]
    pub metric: Option<String>,
    /// Whose rows (default `geomean`, or every workload for `series = "workload"`).
    #[serde(default)]
    pub workload: Option<String>,
    /// `key=value` pins for the other axes.
    #[serde(default, rename = "where")]
    pub pins: Vec<String>,
    #[serde(default)]
    pub log_x: bool,
    /// File name (default `plot-<n>.svg`).
    #[serde(default)]
    pub file: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlotKind {
    Line,
    Heatmap,
    /// A group per workload, a bar per value of `x`.
    Bars,
}

/// The part of a spec the report reads.
#[derive(Default, Deserialize)]
struct ReportSpec {
    /// The sweep's name, for plot titles.
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    baseline: Option<usize>,
    #[serde(default, rename = "plot")]
    plots: Vec<PlotSpec>,
}

/// One row of the table.
struct Row {
    point: usize,
    workload: String,
    axes: Vec<String>,
    /// Every numeric column by name (for plots and the normalisation).
    values: HashMap<String, f64>,
    /// The statistics columns as written.
    cells: Vec<String>,
}

/// What `report` made.
pub struct Report {
    pub csv: String,
    /// The files written, by name.
    pub files: Vec<String>,
    /// What a reader should know (the one-pass answer).
    pub notes: Vec<String>,
    /// Which spec file the plots and baseline came from.
    pub spec: String,
}

/// Checks a spec's plots against its axes (at plan time, before anything runs).
pub fn check_plots(plots: &[PlotSpec], keys: &[String]) -> Result<(), String> {
    for (i, p) in plots.iter().enumerate() {
        let axis = |what: &str, k: &str| {
            if keys.iter().any(|a| a == k) {
                Ok(())
            } else {
                Err(format!(
                    "plot[{i}].{what}: `{k}` is not an axis of the sweep (axes: {})",
                    keys.join(", ")
                ))
            }
        };
        axis("x", &p.x)?;
        match p.kind {
            PlotKind::Heatmap => {
                let y =
                    p.y.as_deref()
                        .ok_or(format!("plot[{i}]: a heatmap needs `y`, a second axis"))?;
                axis("y", y)?;
                if y == p.x {
                    return Err(format!("plot[{i}]: x and y are the same axis"));
                }
                if p.series.is_some() {
                    return Err(format!("plot[{i}].series: a heatmap has no series"));
                }
            }
            PlotKind::Line | PlotKind::Bars => {
                if p.y.is_some() {
                    return Err(format!("plot[{i}].y: a line plot's y is its `metric`"));
                }
                if let Some(s) = p.series.as_deref().filter(|s| *s != "workload") {
                    axis("series", s)?;
                }
            }
        }
        for pin in &p.pins {
            let (k, _) = pin
                .split_once('=')
                .ok_or(format!("plot[{i}].where: `{pin}` is not key=value"))?;
            axis("where", k.trim())?;
        }
    }
    Ok(())
}

/// An axis value for the CSV: a TOML string's text without its quotes (the csv crate
/// quotes what needs it), anything else as written.
fn unquoted(v: &str) -> String {
    toml::from_str::<toml::Table>(&format!("v = {v}"))
        .ok()
        .and_then(|t| t.get("v")?.as_str().map(String::from))
        .unwrap_or_else(|| v.to_string())
}

/// The metric the report normalises and its column: a one-pass sweep's misses of the
/// TLB it answered for, otherwise cycles.
pub fn norm_columns(stack_tlb: Option<&str>) -> (String, String) {
    match stack_tlb {
        Some(n) => (format!("tlb_{n}_misses"), "misses_vs_baseline".to_string()),
        None => ("cycles".to_string(), "cycles_vs_baseline".to_string()),
    }
}

/// The text of the spec copy `sweep run` left in `dir` (`spec.toml`), read as any
/// input (a regular file of at most 1 MiB of UTF-8); `None` only when there is none.
pub fn spec_copy(dir: &Path) -> Result<Option<String>, String> {
    let p = dir.join("spec.toml");
    match std::fs::symlink_metadata(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        _ => crate::loader::read_input(&p)
            .map(Some)
            .map_err(|e| e.to_string()),
    }
}

/// Writes `dir/report.csv`, the normalised bar chart and the plots; `baseline`
/// overrides the spec's baseline point (default 0). Every error names the sweep's
/// folder (or a file in it).
pub fn report(dir: &Path, baseline: Option<usize>) -> Result<Report, String> {
    let shown = dir.display().to_string();
    write_report(dir, baseline).map_err(|e| {
        if e.contains(&shown) {
            e
        } else {
            format!("{shown}: {e}")
        }
    })
}

fn write_report(dir: &Path, baseline: Option<usize>) -> Result<Report, String> {
    let spec_path = dir.join("spec.toml");
    let copy = spec_copy(dir)?;
    let spec: ReportSpec = match &copy {
        Some(text) => {
            // The run checked the spec in full; only the report's part is read here.
            let v: toml::Value =
                toml::from_str(text).map_err(|e| format!("{}: {e}", spec_path.display()))?;
            let t = v.as_table().cloned().unwrap_or_default();
            let mut part = toml::Table::new();
            for k in ["name", "baseline", "plot"] {
                if let Some(x) = t.get(k) {
                    part.insert(k.into(), x.clone());
                }
            }
            toml::Value::Table(part)
                .try_into()
                .map_err(|e| format!("{}: {e}", spec_path.display()))?
        }
        None => ReportSpec::default(),
    };
    // Say which spec the plots and baseline come from: the copy, not the original.
    let spec_used = if copy.is_some() {
        format!(
            "spec: {} (the copy `sweep run` left beside the results)",
            spec_path.display()
        )
    } else {
        format!(
            "spec: none ({} is missing): baseline point 0 and the default plots",
            spec_path.display()
        )
    };
    let baseline = baseline.or(spec.baseline).unwrap_or(0);
    // Each run once (a retried run's finished record, not its failure), of one sweep.
    let read = store::read(dir)?;
    store::one_sweep(dir, &read.records, None)?;
    let (mut recs, failed): (Vec<Record>, Vec<Record>) =
        store::unique(read.records.into_iter().map(|r| r.1).collect())
            .into_iter()
            .partition(|r| r.total.is_some());
    let retry = "`sweep run --retry-failed` runs them again";
    if recs.is_empty() {
        return Err(format!(
            "{}: no finished runs{}",
            dir.display(),
            match failed.len() {
                0 => String::new(),
                n => format!(" ({n} failed: their errors are in the store; {retry})"),
            }
        ));
    }
    recs.sort_by(|a, b| (a.point, &a.workload).cmp(&(b.point, &b.workload)));
    let keys: Vec<String> = recs[0].axes.iter().map(|a| a.0.clone()).collect();
    check_plots(&spec.plots, &keys).map_err(|e| format!("{}: {e}", spec_path.display()))?;
    // One pass: its records name the TLB they answer for (`one_pass_tlb`; a record of
    // a first-level TLB holds that TLB alone).
    let stack_tlb: Option<String> = (recs.iter())
        .find(|r| r.method.as_deref() == Some("stack"))
        .and_then(|r| {
            let t = r.total.as_ref()?;
            (t.get("one_pass_tlb").or(t.pointer("/tlb/0/name")))?
                .as_str()
                .map(String::from)
        });
    let (metric, norm_col) = norm_columns(stack_tlb.as_deref());
    let views: Vec<StatsView> = (recs.iter())
        .filter_map(|r| {
            Some(StatsView {
                total: r.total.as_ref()?,
                page_tables: r.page_tables.as_deref().unwrap_or(&[]),
            })
        })
        .collect();
    let layout = Layout::of(&views);
    let mut columns = vec!["design".to_string()];
    columns.extend(layout.header());
    let mut rows: Vec<Row> = (recs.iter().zip(&views))
        .map(|(r, v)| {
            let mut cells = vec![v.design().map_or(Cell::Empty, |d| Cell::Text(d.into()))];
            cells.extend(layout.row(v));
            let values: HashMap<String, f64> = (columns.iter().zip(&cells))
                .filter_map(|(c, x)| Some((c.clone(), x.as_f64()?)))
                .collect();
            Row {
                point: r.point,
                workload: r.workload.clone(),
                axes: r.axes.iter().map(|a| a.1.clone()).collect(),
                values,
                cells: cells.iter().map(|c| c.to_string()).collect(),
            }
        })
        .collect();
    let of = |r: &Row, k: &str| r.values.get(k).copied().unwrap_or(f64::NAN);
    let base: HashMap<String, f64> = (rows.iter())
        .filter(|r| r.point == baseline)
        .map(|r| (r.workload.clone(), of(r, &metric)))
        .collect();
    if base.is_empty() {
        return Err(format!("baseline point {baseline} has no finished runs"));
    }
    if let Some(w) = base.iter().find(|(_, b)| **b == 0.0).map(|w| w.0) {
        return Err(format!(
            "baseline point {baseline} has no {metric} on workload `{w}`: nothing to normalise to (give another --baseline)"
        ));
    }
    for r in &mut rows {
        let n = base
            .get(&r.workload)
            .map_or(f64::NAN, |b| of(r, &metric) / b);
        r.values.insert(norm_col.clone(), n);
    }
    let method = |r: &Row| {
        let rec = recs
            .iter()
            .find(|x| x.point == r.point && x.workload == r.workload);
        match rec.and_then(|x| x.method.as_deref()) {
            Some(m) => m.to_string(),
            None => "simulated".to_string(),
        }
    };
    let mut header = vec!["point".to_string(), "workload".to_string()];
    header.extend(keys.iter().cloned());
    header.extend(columns.iter().cloned());
    header.extend([norm_col.clone(), "method".to_string()]);
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut points: Vec<usize> = rows.iter().map(|r| r.point).collect();
    points.dedup();
    let mut workloads: Vec<String> = rows.iter().map(|r| r.workload.clone()).collect();
    workloads.sort();
    workloads.dedup();
    let mut bars = vec![vec![f64::NAN; points.len()]; workloads.len() + 1];
    let mut labels = Vec::new();
    let mut base_label = format!("point {baseline}");
    let mut geomeans = Vec::new();
    for (pi, &p) in points.iter().enumerate() {
        let mut logs = Vec::new();
        let mut axes = Vec::new();
        for r in rows.iter().filter(|r| r.point == p) {
            axes = r.axes.clone();
            let n = r.values[&norm_col];
            let mut line = vec![r.point.to_string(), r.workload.clone()];
            line.extend(r.axes.iter().map(|a| unquoted(a)));
            line.extend(r.cells.iter().cloned());
            line.extend([Cell::Float(n).to_string(), method(r)]);
            lines.push(line);
            logs.push(n.ln());
            if let Some(wi) = workloads.iter().position(|w| *w == r.workload) {
                bars[wi][pi] = n;
            }
        }
        // Geometric mean across workloads, as architecture papers summarise; a zero
        // (a point with no misses) makes it zero, a missing value leaves it out.
        let logs: Vec<f64> = logs.into_iter().filter(|l| !l.is_nan()).collect();
        let g = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
        let mut line = vec![p.to_string(), "geomean".to_string()];
        line.extend(axes.iter().map(|a| unquoted(a)));
        line.extend(columns.iter().map(|_| String::new()));
        line.extend([Cell::Float(g).to_string(), String::new()]);
        lines.push(line);
        bars[workloads.len()][pi] = g;
        let settings: Vec<String> = (keys.iter().zip(&axes))
            .map(|(k, v)| labels::setting(k, v))
            .collect();
        labels.push(format!("{p}: {}", settings.join(", ")));
        if p == baseline {
            base_label = format!("point {p} ({})", settings.join(", "));
        }
        geomeans.push(Row {
            point: p,
            workload: "geomean".into(),
            axes,
            values: HashMap::from([(norm_col.clone(), g)]),
            cells: Vec::new(),
        });
    }
    let csv = crate::report::columns::write_csv(&header, &lines);
    rows.extend(geomeans);
    let mut groups = workloads.clone();
    groups.push("geomean".into());
    let what = match &stack_tlb {
        Some(n) => format!("{} misses (one-pass LRU stack analysis)", n.to_uppercase()),
        None => "cycles".to_string(),
    };
    // Plot titles name the sweep, the metric and the baseline point in words.
    let what = match &spec.name {
        Some(name) => format!("{name}: {what}"),
        None => what,
    };

    let mut files: Vec<(String, String)> = vec![(
        format!(
            "{}_normalised.svg",
            if stack_tlb.is_some() {
                "misses"
            } else {
                "cycles"
            }
        ),
        crate::svg::grouped_bars(
            &format!("{what} relative to {base_label}"),
            &labels::metric(&norm_col).axis_label(),
            &groups,
            &labels,
            &bars,
        ),
    )];
    let plots = if spec.plots.is_empty() {
        default_plots(&keys, &rows)
    } else {
        spec.plots.clone()
    };
    for (i, p) in plots.iter().enumerate() {
        let svg = plot(p, &keys, &rows, &norm_col, &what, &base_label)
            .map_err(|e| format!("plot[{i}]: {e}"))?;
        files.push((
            p.file.clone().unwrap_or_else(|| format!("plot-{i}.svg")),
            svg,
        ));
    }
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    let p = dir.join("report.csv");
    crate::report::write_atomic(&p, csv.as_bytes()).map_err(|e| io(&p, e))?;
    crate::killpoint::at("sweep.report");
    for (name, svg) in &files {
        let p = dir.join(name);
        crate::report::write_atomic(&p, svg.as_bytes()).map_err(|e| io(&p, e))?;
        crate::killpoint::at("sweep.report");
    }
    let mut notes = Vec::new();
    if !failed.is_empty() {
        notes.push(format!(
            "{} runs failed and are not in the report (their errors are in the store; {retry})",
            failed.len()
        ));
    }
    if let Some(n) = &stack_tlb {
        let stack = recs
            .iter()
            .filter(|r| r.method.as_deref() == Some("stack"))
            .count();
        notes.push(format!(
            "{stack} of {} runs were answered by one-pass LRU stack analysis (Mattson et al. 1970) for `{n}`, not simulated: they have the counters the pass determines only (rows with method = stack; cycles and walk latencies empty); the normalised figure is its misses",
            recs.len()
        ));
    }
    Ok(Report {
        csv,
        files: std::iter::once("report.csv".to_string())
            .chain(files.into_iter().map(|f| f.0))
            .collect(),
        notes,
        spec: spec_used,
    })
}

/// With no `[[plot]]`: a line chart over a single numeric axis; for two axes, a heatmap
/// of the geometric means and a line per value of the second axis (when the first is
/// numeric).
fn default_plots(keys: &[String], rows: &[Row]) -> Vec<PlotSpec> {
    let numeric = |i: usize| rows.iter().all(|r| r.axes[i].parse::<f64>().is_ok());
    let base = |x: &str| PlotSpec {
        kind: PlotKind::Line,
        x: x.to_string(),
        y: None,
        series: None,
        metric: None,
        workload: None,
        pins: Vec::new(),
        log_x: false,
        file: None,
    };
    // Zipped axes move together: the second adds nothing to plot against the first.
    let follows = |a: usize, b: usize| {
        let mut m: HashMap<&str, &str> = HashMap::new();
        rows.iter()
            .all(|r| *m.entry(r.axes[a].as_str()).or_insert(r.axes[b].as_str()) == r.axes[b])
    };
    let mut out = Vec::new();
    match keys.len() {
        1 if numeric(0) => out.push(base(&keys[0])),
        2 if follows(0, 1) && numeric(0) => out.push(base(&keys[0])),
        2 if follows(0, 1) => {}
        2 => {
            out.push(PlotSpec {
                kind: PlotKind::Heatmap,
                y: Some(keys[0].clone()),
                ..base(&keys[1])
            });
            if numeric(0) {
                out.push(PlotSpec {
                    series: Some(keys[1].clone()),
                    ..base(&keys[0])
                });
            }
        }
        _ => {}
    }
    out
}

/// The rows `p` draws from: its workload's, with the pins applied, and a check that the
/// axes it does not show hold one value.
fn select<'a>(
    p: &PlotSpec,
    keys: &[String],
    rows: &'a [Row],
    shown: &[&str],
    all_workloads: bool,
) -> Result<Vec<&'a Row>, String> {
    let ix = |k: &str| keys.iter().position(|a| a == k).expect("checked axis");
    let pins: Vec<(usize, &str)> = (p.pins.iter())
        .filter_map(|s| s.split_once('='))
        .map(|(k, v)| (ix(k.trim()), v.trim()))
        .collect();
    let want = p.workload.as_deref().unwrap_or("geomean");
    let sel: Vec<&Row> = (rows.iter())
        .filter(|r| all_workloads || r.workload == want)
        .filter(|r| {
            pins.iter()
                .all(|(i, v)| r.axes[*i].trim_matches('"') == v.trim_matches('"'))
        })
        .collect();
    if sel.is_empty() {
        return Err(format!("no rows of workload `{want}` match its pins"));
    }
    // Each place on the plot (workload and the shown axes' values) must be one row:
    // an axis not shown may only move with the shown ones (as zipped axes do).
    let shown_ix: Vec<usize> = shown.iter().map(|k| ix(k)).collect();
    let mut at: HashMap<(String, Vec<&str>), &Row> = HashMap::new();
    for r in &sel {
        let place = (
            r.workload.clone(),
            shown_ix.iter().map(|&i| r.axes[i].as_str()).collect(),
        );
        if let Some(other) = at.insert(place, r) {
            let i = (0..keys.len())
                .find(|&i| !shown_ix.contains(&i) && other.axes[i] != r.axes[i])
                .unwrap_or(0);
            return Err(format!(
                "axis `{}` takes several values in the rows plotted: pin one with where = [\"{}={}\"]",
                keys[i], keys[i], other.axes[i]
            ));
        }
    }
    Ok(sel)
}

fn plot(
    p: &PlotSpec,
    keys: &[String],
    rows: &[Row],
    norm_col: &str,
    what: &str,
    base_label: &str,
) -> Result<String, String> {
    let metric = p.metric.clone().unwrap_or_else(|| norm_col.to_string());
    if !rows.iter().any(|r| r.values.contains_key(&metric)) {
        let mut known: Vec<&String> = rows.iter().flat_map(|r| r.values.keys()).collect();
        known.sort();
        known.dedup();
        return Err(format!(
            "metric `{metric}` is not a column of the report (columns: {}){}",
            known
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            crate::loader::hint(&metric, known.iter().map(|s| s.as_str()))
        ));
    }
    let ix = |k: &str| keys.iter().position(|a| a == k).expect("checked axis");
    let value = |r: &Row| -> Result<f64, String> {
        r.values.get(&metric).copied().ok_or_else(|| {
            format!(
                "workload `{}` has no `{metric}` (geomean rows hold only the normalised figure: name a workload)",
                r.workload
            )
        })
    };
    let named = labels::metric(&metric);
    let who = match (&p.workload, p.kind) {
        (Some(w), _) => w.clone(),
        (None, PlotKind::Line) if p.series.as_deref().is_none_or(|s| s == "workload") => {
            "each workload".to_string()
        }
        (None, PlotKind::Bars) => "each workload".to_string(),
        (None, _) => "geometric mean over the workloads".to_string(),
    };
    let title = if metric == norm_col {
        format!("{what} relative to {base_label}, {who}")
    } else {
        format!("{}, {who}", named.axis_label())
    };
    let x = ix(&p.x);
    match p.kind {
        PlotKind::Line => {
            let by_workload = p.series.as_deref().is_none_or(|s| s == "workload");
            let series_key = p.series.as_deref().filter(|_| !by_workload);
            let mut shown = vec![p.x.as_str()];
            shown.extend(series_key);
            let sel = select(p, keys, rows, &shown, by_workload && p.workload.is_none())?;
            let mut chart = LineChart {
                title,
                x_label: labels::key(&p.x),
                y_label: named.axis_label(),
                log_x: p.log_x,
                ..Default::default()
            };
            let mut names: Vec<String> = Vec::new();
            for r in &sel {
                if by_workload && p.workload.is_none() && !r.values.contains_key(&metric) {
                    continue;
                }
                let name = match series_key {
                    Some(k) => labels::setting(k, &r.axes[ix(k)]),
                    None => r.workload.clone(),
                };
                let xv: f64 = r.axes[x].parse().map_err(|_| {
                    format!("x axis `{}` has the value {}, not a number: use a heatmap or the bar chart", p.x, r.axes[x])
                })?;
                let v = value(r)?;
                let i = match names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        names.push(name.clone());
                        chart.series.push(Series {
                            name,
                            dots: true,
                            ..Default::default()
                        });
                        names.len() - 1
                    }
                };
                chart.series[i].points.push((xv, v));
            }
            for s in &mut chart.series {
                s.points.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            if metric == norm_col {
                // Normalised figures sit near 1: the axis starts near the data.
                let lo = (chart.series.iter())
                    .flat_map(|s| s.points.iter().map(|p| p.1))
                    .filter(|v| v.is_finite())
                    .fold(f64::INFINITY, f64::min);
                chart.y_min = lo.is_finite().then(|| (lo * 10.0).floor() / 10.0);
            }
            Ok(chart.to_svg())
        }
        PlotKind::Bars => {
            let sel = select(p, keys, rows, &[p.x.as_str()], p.workload.is_none())?;
            let mut groups: Vec<String> = Vec::new();
            let mut bars: Vec<String> = Vec::new();
            for r in &sel {
                if r.values.contains_key(&metric) && !groups.contains(&r.workload) {
                    groups.push(r.workload.clone());
                }
                if !bars.contains(&r.axes[x]) {
                    bars.push(r.axes[x].clone());
                }
            }
            let mut v = vec![vec![f64::NAN; bars.len()]; groups.len()];
            for r in &sel {
                if let Some(g) = groups.iter().position(|g| *g == r.workload) {
                    let b = bars.iter().position(|b| *b == r.axes[x]).expect("listed");
                    v[g][b] = value(r)?;
                }
            }
            // The legend names the settings.
            let bars: Vec<String> = bars.iter().map(|b| labels::setting(&p.x, b)).collect();
            // Normalised figures share one scale; absolute ones get a panel per workload
            // (see `svg::bars`).
            let draw = if metric == norm_col {
                crate::svg::grouped_bars
            } else {
                crate::svg::bar_panels
            };
            Ok(draw(
                &format!("{title}, by {}", labels::key(&p.x)),
                &named.axis_label(),
                &groups,
                &bars,
                &v,
            ))
        }
        PlotKind::Heatmap => {
            let yk = p.y.as_deref().expect("checked");
            let y = ix(yk);
            let sel = select(p, keys, rows, &[p.x.as_str(), yk], false)?;
            let mut cols: Vec<String> = Vec::new();
            let mut rws: Vec<String> = Vec::new();
            for r in &sel {
                if !cols.contains(&r.axes[x]) {
                    cols.push(r.axes[x].clone());
                }
                if !rws.contains(&r.axes[y]) {
                    rws.push(r.axes[y].clone());
                }
            }
            let mut cells = vec![vec![f64::NAN; cols.len()]; rws.len()];
            for r in &sel {
                let c = cols.iter().position(|v| *v == r.axes[x]).expect("listed");
                let w = rws.iter().position(|v| *v == r.axes[y]).expect("listed");
                cells[w][c] = value(r)?;
            }
            let cols: Vec<String> = cols.iter().map(|c| labels::value(c)).collect();
            let rws: Vec<String> = rws.iter().map(|r| labels::value(r)).collect();
            Ok(crate::svg::heatmap(
                &title,
                &labels::key(&p.x),
                &labels::key(yk),
                &cols,
                &rws,
                &cells,
            ))
        }
    }
}
