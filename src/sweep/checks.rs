//! Checks of a sweep's plan that need its runs, made by `sweep plan` (and `sweep run`,
//! which plans first) before anything runs: every `[[plot]]`'s metric is a column the
//! report will fill for these configs, and every trace a workload names can be read.
//!
//! In: the spec and its jobs (each with its loaded, validated inputs). Out: the
//! problems, one message each; none when the plan may run.

use super::{onepass, report, Job, SweepSpec};
use crate::report::columns::Layout;
use crate::workload::Generator;
use std::path::{Path, PathBuf};

/// Every problem of the plots' metrics and the workloads' traces.
pub fn before_running(spec: &SweepSpec, jobs: &[Job]) -> Vec<String> {
    let mut errors = plot_metrics(spec, jobs);
    errors.extend(traces(jobs));
    errors
}

/// The columns of the report that can hold a value for these runs: the headline and
/// shootdown columns (and the virtualization ones when a config has `[virt]`), the TLB levels and structures and the walk caches the configs
/// have (walk caches only under designs that use them), the counters of the designs
/// they use, and the normalised figure.
pub fn metrics(spec: &SweepSpec, jobs: &[Job]) -> Vec<String> {
    let mut layout = Layout::bare();
    let mut designs: Vec<&str> = Vec::new();
    for j in jobs {
        let sys = &j.inputs.system;
        for t in &sys.tlb {
            layout.add_tlb(&t.name);
            layout.add_level(t.level);
        }
        let design = sys.page_table.design();
        if !design.radix_bits().is_empty() {
            for p in &sys.walker.psc {
                layout.add_walk_cache(&p.name);
            }
        }
        if !designs.contains(&design.kind()) {
            designs.push(design.kind());
        }
        if sys.virt.is_some() {
            layout.add_virt();
        }
        if sys.prefetch.is_some() {
            layout.add_prefetch();
        }
        if sys.spectlb.is_some() || sys.size_prediction.is_some() {
            layout.add_speculation();
        }
    }
    let mut out = layout.columns_for_designs(&designs);
    // A one-pass sweep normalises the TLB's misses where the pass answered, cycles
    // where its check failed and every point was simulated.
    if spec.one_pass {
        if let Ok(op) = onepass::eligible(jobs) {
            out.push(report::norm_columns(Some(&op.name)).1);
        }
    }
    out.push(report::norm_columns(None).1);
    out
}

fn plot_metrics(spec: &SweepSpec, jobs: &[Job]) -> Vec<String> {
    if spec.plots.iter().all(|p| p.metric.is_none()) {
        return Vec::new();
    }
    let valid = metrics(spec, jobs);
    (spec.plots.iter().enumerate())
        .filter_map(|(i, p)| {
            let m = p.metric.as_deref()?;
            (!valid.iter().any(|v| v == m)).then(|| {
                format!(
                    "plot[{i}].metric: `{m}` is not a column the report will have for this sweep (valid: {})",
                    valid.join(", ")
                )
            })
        })
        .collect()
}

/// Each workload's trace files, once each: they must exist and be readable (standard
/// input cannot feed several runs). A trace named by an axis value is reported with
/// the axis, its value and the points that take it.
fn traces(jobs: &[Job]) -> Vec<String> {
    // (workload, file, name as written), the points that read it, the axis naming it.
    type Seen = ((String, PathBuf, String), Vec<usize>, Option<String>);
    let mut seen: Vec<Seen> = Vec::new();
    for j in jobs {
        let Generator::Trace { path, paths, .. } = &j.inputs.workload.generator else {
            continue;
        };
        for name in path.iter().chain(paths) {
            let file = if Path::new(name).is_absolute() {
                PathBuf::from(name)
            } else {
                j.inputs.workload_dir.join(name)
            };
            let key = (j.workload.clone(), file, name.clone());
            match seen.iter_mut().find(|s| s.0 == key) {
                Some(s) => s.1.push(j.point),
                None => {
                    let axis = (j.axes.iter())
                        .find(|(_, v)| v.contains(name.as_str()))
                        .map(|(k, v)| format!("axis {k} = {v}: "));
                    seen.push((key, vec![j.point], axis));
                }
            }
        }
    }
    let mut errors = Vec::new();
    for ((workload, file, name), points, axis) in seen {
        let problem = if name == "-" {
            Some("standard input cannot feed the runs of a sweep".to_string())
        } else {
            std::fs::File::open(&file)
                .and_then(|f| {
                    if f.metadata()?.is_dir() {
                        Err(std::io::Error::other("a folder, not a file"))
                    } else {
                        Ok(())
                    }
                })
                .err()
                .map(|e| format!("cannot read {}: {e}", file.display()))
        };
        if let Some(p) = problem {
            let at = match &axis {
                Some(a) => {
                    let list: Vec<String> = points.iter().map(|p| p.to_string()).collect();
                    let s = if points.len() > 1 { "s" } else { "" };
                    format!("point{s} {} x workload `{workload}`: {a}", list.join(", "))
                }
                None => format!("workload `{workload}`: "),
            };
            errors.push(format!("{at}generator: trace `{name}`: {p}"));
        }
    }
    errors
}
