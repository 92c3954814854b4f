//! A sweep's plan-time errors, each reported once.
//!
//! In: every (point, workload) whose inputs were refused, with its error. Out: one line
//! per distinct problem (the same file, line and key path, whatever the values), naming
//! the points and workloads it hits and the axis values there. When the key at fault
//! is a sibling of an axis key (the axis sets `tlb.stlb.entries`, the STLB's 12 `ways`
//! no longer divide them), the line says to set that key with the axis. Sweeping a
//! geometry key over a range would otherwise print the same complaint once per run.

use super::SweepSpec;
use crate::loader::{ConfigError, ConfigSource};

/// A plan-time error: the line the command line prints, and where it points (`at`: the
/// file, line and key path of the spec, or of the config or workload a run was refused
/// for; no line and an empty path where the problem has no one place), for callers that
/// want the parts (the Python package's `MmusimError.errors`).
#[derive(Clone, Debug)]
pub struct PlanError {
    pub at: ConfigError,
    pub text: String,
}

impl PlanError {
    /// An error at a place of a file: printed as the error itself.
    pub(super) fn at(e: ConfigError) -> PlanError {
        PlanError {
            text: e.to_string(),
            at: e,
        }
    }

    /// A problem of file `file` as a whole (`file: msg`), or at key `path` of it (its line
    /// from `src` when the key has one, the printed line unchanged).
    pub(super) fn of(file: &str, src: Option<(&ConfigSource, &str)>, msg: String) -> PlanError {
        let (line, path) = match src {
            Some((s, p)) => (s.line_of(p), p.to_string()),
            None => (None, String::new()),
        };
        PlanError {
            text: format!("{file}: {msg}"),
            at: ConfigError {
                file: file.to_string(),
                line,
                path,
                msg,
            },
        }
    }
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// One run of the plan that was refused.
pub(super) struct Failure {
    pub point: usize,
    pub workload: String,
    pub error: ConfigError,
}

/// `e` (of a run of point `point` on workload `wi`) blamed on the line of the spec
/// that wrote the override at fault (an axis key, `set`, a workload's `set` or
/// `system_set`), rather than on the `--set` the sweep generated from it.
pub(super) fn in_spec(
    mut e: ConfigError,
    src: &ConfigSource,
    spec: &SweepSpec,
    point: &[(String, String)],
    wi: usize,
) -> ConfigError {
    let Some(a) = e.file.strip_prefix("--set ") else {
        return e;
    };
    let w = &spec.workload[wi];
    let axis = (spec.axes.iter()).position(|x| {
        (point.iter())
            .any(|(k, v)| *k == x.key && a.strip_prefix(k.as_str()) == Some(&format!("={v}")))
    });
    let at = if let Some(i) = axis {
        format!("axis[{i}].key")
    } else if let Some(j) = spec.set.iter().position(|s| s == a) {
        format!("set[{j}]")
    } else if let Some(j) = w.system_set.iter().position(|s| s == a) {
        format!("workload[{wi}].system_set[{j}]")
    } else if let Some(j) = (w.set.iter()).position(|s| a.strip_prefix("workload.") == Some(s)) {
        format!("workload[{wi}].set[{j}]")
    } else {
        return e;
    };
    e.file = src.file.clone();
    e.line = src.line_of(&at);
    e
}

/// The failures grouped by problem, in the order first met. `points[p]` holds point
/// p's (axis key, value) pairs; `workloads` the sweep's workload names.
pub(super) fn grouped(
    failures: &[Failure],
    points: &[Vec<(String, String)>],
    workloads: &[String],
) -> Vec<PlanError> {
    // An override's origin names its value (`--set k=512`): group by key, not text.
    let key = |e: &ConfigError| {
        let origin = if e.file.starts_with("--set ") {
            "--set"
        } else {
            e.file.as_str()
        };
        (origin.to_string(), e.line, e.path.clone())
    };
    let mut groups: Vec<(_, Vec<&Failure>)> = Vec::new();
    for f in failures {
        let k = key(&f.error);
        match groups.iter_mut().find(|g| g.0 == k) {
            Some(g) => g.1.push(f),
            None => groups.push((k, vec![f])),
        }
    }
    groups
        .iter()
        .map(|(_, fs)| PlanError {
            at: fs[0].error.clone(),
            text: describe(fs, points, workloads),
        })
        .collect()
}

fn describe(fs: &[&Failure], points: &[Vec<(String, String)>], workloads: &[String]) -> String {
    let first = fs[0];
    let mut pts: Vec<usize> = fs.iter().map(|f| f.point).collect();
    pts.dedup();
    let mut wls: Vec<&str> = Vec::new();
    for f in fs {
        if !wls.contains(&f.workload.as_str()) {
            wls.push(&f.workload);
        }
    }
    let where_pts = match pts[..] {
        [p] => format!("point {p}"),
        _ => format!("points {}", ranges(&pts)),
    };
    let where_wls = match wls[..] {
        [w] => format!("workload `{w}`"),
        _ if wls.len() == workloads.len() => "every workload".to_string(),
        _ => format!(
            "workloads {}",
            wls.iter()
                .map(|w| format!("`{w}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let e = &first.error;
    // The axes that write the table the bad key is in (or the key itself).
    let parent = e.path.rsplit_once('.').map_or("", |p| p.0);
    let axes: Vec<&str> = points
        .first()
        .map(|p| p.iter().map(|a| a.0.as_str()).collect())
        .unwrap_or_default();
    let related: Vec<&str> = (axes.iter().copied())
        .filter(|k| !parent.is_empty() && k.rsplit_once('.').map(|p| p.0) == Some(parent))
        .collect();
    let values = |k: &str| {
        let mut vs: Vec<&str> = Vec::new();
        for &p in &pts {
            if let Some((_, v)) = points[p].iter().find(|a| a.0 == k) {
                if !vs.contains(&v.as_str()) {
                    vs.push(v);
                }
            }
        }
        format!("{k} = {}", vs.join(", "))
    };
    let at = if related.is_empty() {
        String::new()
    } else {
        format!(
            " ({})",
            related
                .iter()
                .map(|k| values(k))
                .collect::<Vec<_>>()
                .join("; ")
        )
    };
    let shown_for = if fs.iter().all(|f| f.error.msg == e.msg) || fs.len() == 1 {
        String::new()
    } else {
        format!(" (as at point {}; likewise at the others)", first.point)
    };
    let hint = match related.iter().find(|k| **k != e.path) {
        Some(axis) if !related.contains(&e.path.as_str()) => format!(
            ": the axis `{axis}` changes `{parent}` but not `{p}`: set {p} as well, e.g. as a second axis (mode = \"zip\" to pair the values) or in `set`",
            p = e.path
        ),
        _ => String::new(),
    };
    format!("{where_pts} x {where_wls}{at}: {e}{shown_for}{hint}")
}

/// `0-3, 5, 7-8` for sorted numbers.
fn ranges(xs: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < xs.len() {
        let mut j = i;
        while j + 1 < xs.len() && xs[j + 1] == xs[j] + 1 {
            j += 1;
        }
        out.push(if j == i {
            xs[i].to_string()
        } else {
            format!("{}-{}", xs[i], xs[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(file: &str, line: Option<usize>, path: &str, msg: &str) -> ConfigError {
        ConfigError {
            file: file.into(),
            line,
            path: path.into(),
            msg: msg.into(),
        }
    }

    #[test]
    fn one_line_per_problem_with_the_key_to_set() {
        let points: Vec<Vec<(String, String)>> = ["512", "1536", "2048"]
            .iter()
            .map(|v| vec![("tlb.stlb.entries".to_string(), v.to_string())])
            .collect();
        let wl = vec!["a".to_string(), "b".to_string()];
        let mut fs = Vec::new();
        for p in [0, 2] {
            for w in &wl {
                fs.push(Failure {
                    point: p,
                    workload: w.clone(),
                    error: err(
                        "<preset skylake>",
                        Some(75),
                        "tlb.stlb.ways",
                        &format!(
                            "entries ({}) are not divisible by ways (12)",
                            points[p][0].1
                        ),
                    ),
                });
            }
        }
        fs.push(Failure {
            point: 1,
            workload: "b".into(),
            error: err("--set workload.accesses=x", None, "accesses", "bad"),
        });
        let g = grouped(&fs, &points, &wl);
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].text,
            "points 0, 2 x every workload (tlb.stlb.entries = 512, 2048): <preset skylake>:75: tlb.stlb.ways: entries (512) are not divisible by ways (12) (as at point 0; likewise at the others): the axis `tlb.stlb.entries` changes `tlb.stlb` but not `tlb.stlb.ways`: set tlb.stlb.ways as well, e.g. as a second axis (mode = \"zip\" to pair the values) or in `set`"
        );
        assert_eq!(
            g[1].text,
            "point 1 x workload `b`: --set workload.accesses=x: accesses: bad"
        );
        assert_eq!(ranges(&[0, 1, 2, 3, 5, 7, 8]), "0-3, 5, 7-8");
    }
}
