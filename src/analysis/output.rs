//! How a [`Report`] is written out: the terminal table, `analysis.json`, one CSV per
//! fault curve, `tlb.csv`, `replacement.csv` and the SVG charts.
//!
//! In: a [`Report`] from [`analyze`](super::report::analyze) (read only; nothing here
//! computes a curve). Out: strings, and [`Report::write`] puts them into files in a folder.

use super::lifetime::{lifetime, lifetime_svg};
use super::replace::{self, Policy};
use super::report::{CurvePoint, FaultCurve, Report};
use crate::report::write_atomic;
use crate::svg::{LineChart, Series};
use std::fmt::Write as _;
use std::path::Path;

/// Rows of a long table: 1..=8, then about four per doubling, then the last.
fn table_rows(n: usize) -> Vec<usize> {
    if n <= 32 {
        return (1..=n).collect();
    }
    let mut rows: Vec<usize> = (1..=8).collect();
    let mut p = 8usize;
    while p < n {
        for q in [p + p / 4, p + p / 2, p + 3 * p / 4, 2 * p] {
            if q < n {
                rows.push(q);
            }
        }
        p *= 2;
    }
    rows.push(n);
    rows
}

/// A number as CSV/table text: integers without a fraction, else shortest round-trip.
fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

impl Report {
    /// The table printed by `mmusim analyze`.
    pub fn to_table(&self) -> String {
        let mut o = String::new();
        self.write_histogram(&mut o);
        self.write_fault_tables(&mut o);
        self.write_knees(&mut o);
        self.write_replacement(&mut o);
        self.write_tlb(&mut o);
        o
    }

    /// The heading and the LRU stack-distance histogram (by powers of two when long).
    fn write_histogram(&self, o: &mut String) {
        let _ = writeln!(o, "{} ({} pages)", self.source, self.page_size);
        let _ = writeln!(o, "references K     {}", self.refs);
        let _ = writeln!(o, "distinct pages   {}", self.distinct);
        let _ = writeln!(o);
        let _ = writeln!(
            o,
            "LRU stack distances ({} first references, infinite distance)",
            self.first_refs
        );
        let h = &self.lru_histogram;
        if h.len() <= 32 {
            let _ = writeln!(o, "{:>12} {:>12}", "distance", "count");
            for (d, c) in h {
                let _ = writeln!(o, "{d:>12} {c:>12}");
            }
        } else {
            // Too many to list: group by powers of two.
            let _ = writeln!(o, "{:>12} {:>12}", "distances", "count");
            let mut lo = 1u64;
            while lo <= self.distinct {
                let hi = (2 * lo - 1).min(self.distinct);
                let c: u64 = h
                    .iter()
                    .filter(|(d, _)| (lo..=hi).contains(d))
                    .map(|x| x.1)
                    .sum();
                let range = if lo == hi {
                    lo.to_string()
                } else {
                    format!("{lo}-{hi}")
                };
                let _ = writeln!(o, "{range:>12} {c:>12}");
                lo *= 2;
            }
        }
    }

    /// F(m) and L(m) of the fixed-space curves, then the window table of the variable-space
    /// ones.
    fn write_fault_tables(&self, o: &mut String) {
        let fixed: Vec<&FaultCurve> = self.curves.iter().filter(|c| c.fixed_space).collect();
        let rows = if fixed.is_empty() {
            Vec::new()
        } else {
            table_rows(self.max_m)
        };
        if !fixed.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Fault functions F(m) (faults with m frames) and lifetimes L(m) = K / F(m)"
            );
        }
        if !fixed.is_empty() {
            let _ = write!(o, "{:>8}", "m");
            for c in &fixed {
                let _ = write!(o, " {:>10}", format!("{} F", c.name));
            }
            for c in &fixed {
                let _ = write!(o, " {:>10}", format!("{} L", c.name));
            }
            let _ = writeln!(o);
        }
        for m in rows {
            let _ = write!(o, "{m:>8}");
            for c in &fixed {
                let _ = write!(o, " {:>10}", c.points[m - 1].faults);
            }
            for c in &fixed {
                let _ = write!(o, " {:>10.2}", self.lifetime(c.points[m - 1].faults));
            }
            let _ = writeln!(o);
        }
        let var: Vec<&FaultCurve> = self.curves.iter().filter(|c| !c.fixed_space).collect();
        if let Some(first) = var.first() {
            let _ = writeln!(o);
            let names: Vec<&str> = var.iter().map(|c| c.name.as_str()).collect();
            let _ = writeln!(
                o,
                "Window T: faults F(T) (the same for {}), lifetime L = K / F, mean memory m(T)",
                names.join(" and ")
            );
            let _ = write!(o, "{:>10} {:>10} {:>10}", "T", "F(T)", "L(T)");
            for c in &var {
                let _ = write!(o, " {:>10}", format!("{} m", c.name));
            }
            let _ = writeln!(o);
            let rows: Vec<usize> = if first.points.len() <= 40 {
                (0..first.points.len()).collect()
            } else {
                table_rows(first.points.len())
                    .into_iter()
                    .map(|r| r - 1)
                    .collect()
            };
            for i in rows {
                let p = &first.points[i];
                let _ = write!(
                    o,
                    "{:>10} {:>10} {:>10.2}",
                    p.t.unwrap_or(0),
                    p.faults,
                    self.lifetime(p.faults)
                );
                for c in &var {
                    let _ = write!(o, " {:>10.3}", c.points[i].m);
                }
                let _ = writeln!(o);
            }
        }
    }

    /// Each curve's lifetime knee.
    fn write_knees(&self, o: &mut String) {
        let _ = writeln!(o);
        let _ = writeln!(o, "Lifetime knees (maximum L(m)/m)");
        for c in &self.curves {
            match c.knee {
                Some((m, l)) => {
                    let _ = writeln!(o, "{:>10}  m = {}, L = {:.2}", c.name, num3(m), l);
                }
                None => {
                    let _ = writeln!(o, "{:>10}  none (no faults)", c.name);
                }
            }
        }
    }

    /// Faults of each fixed-memory replacement policy, if they were simulated.
    fn write_replacement(&self, o: &mut String) {
        if let Some(r) = &self.replacement {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Fixed-memory replacement: faults with each number of frames (random seed {})",
                r.seed
            );
            let _ = write!(o, "{:>8}", "frames");
            for p in &r.policies {
                let _ = write!(o, " {:>8}", p);
            }
            let _ = writeln!(o);
            for (i, f) in r.frames.iter().enumerate() {
                let _ = write!(o, "{f:>8}");
                for row in &r.faults {
                    let _ = write!(o, " {:>8}", row[i]);
                }
                let _ = writeln!(o);
            }
        }
    }

    /// Misses of fully-associative LRU TLBs, per page size.
    fn write_tlb(&self, o: &mut String) {
        if !self.tlb.is_empty() {
            let _ = writeln!(o);
            let _ = writeln!(
                o,
                "Fully-associative LRU TLB misses (from the stack distances of each page size)"
            );
            let _ = write!(o, "{:>8}", "entries");
            for t in &self.tlb {
                let _ = write!(o, " {:>12} {:>8}", format!("{} misses", t.page_size), "%");
            }
            let _ = writeln!(o);
            let longest = self.tlb.iter().map(|t| t.misses.len()).max().unwrap_or(0);
            let mut n = 1usize;
            loop {
                let n_eff = n.min(longest);
                let _ = write!(o, "{n_eff:>8}");
                for t in &self.tlb {
                    // Beyond its distinct pages a TLB misses only on first touches.
                    let miss = t
                        .misses
                        .get(n_eff - 1)
                        .copied()
                        .unwrap_or_else(|| t.misses.last().copied().unwrap_or(0));
                    let _ = write!(
                        o,
                        " {:>12} {:>8.3}",
                        miss,
                        100.0 * miss as f64 / self.refs as f64
                    );
                }
                let _ = writeln!(o);
                if n >= longest {
                    break;
                }
                n *= 2;
            }
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("report serialises");
        s.push('\n');
        s
    }

    /// One curve as CSV: `m,faults,lifetime`, with a leading `T` column for a
    /// variable-space curve (the MVA command reads `m` and `lifetime` by name).
    pub fn curve_csv(&self, c: &FaultCurve) -> String {
        let mut o = String::from(if c.fixed_space {
            "m,faults,lifetime\n"
        } else {
            "T,m,faults,lifetime\n"
        });
        for p in &c.points {
            if let Some(t) = p.t {
                let _ = write!(o, "{t},");
            }
            let _ = writeln!(o, "{},{},{}", num(p.m), p.faults, self.lifetime(p.faults));
        }
        o
    }

    /// `frames,<policy>...` with the faults of each policy.
    pub fn replacement_csv(&self) -> Option<String> {
        let r = self.replacement.as_ref()?;
        let mut o = format!("frames,{}\n", r.policies.join(","));
        for (i, f) in r.frames.iter().enumerate() {
            let _ = write!(o, "{f}");
            for row in &r.faults {
                let _ = write!(o, ",{}", row[i]);
            }
            o.push('\n');
        }
        Some(o)
    }

    /// Every curve's lifetime L = K / F against memory, knees marked.
    pub fn lifetime_svg(&self) -> String {
        let curves: Vec<super::lifetime::NamedCurve> = self
            .curves
            .iter()
            .map(|c| {
                let pts: Vec<(f64, u64)> = c.points.iter().map(|p| (p.m, p.faults)).collect();
                (
                    c.name.as_str(),
                    thin(lifetime(self.refs, &pts)),
                    c.fixed_space,
                )
            })
            .collect();
        lifetime_svg(
            &format!(
                "Lifetime curves: {} ({} references)",
                self.source, self.refs
            ),
            &curves,
            true,
        )
    }

    /// `page_size,entries,misses` for every size of every page size.
    pub fn tlb_csv(&self) -> String {
        let mut o = String::from("page_size,entries,misses\n");
        for t in &self.tlb {
            for (i, m) in t.misses.iter().enumerate() {
                let _ = writeln!(o, "{},{},{}", t.page_size, i + 1, m);
            }
        }
        o
    }

    /// Every fault curve against memory on one chart: fixed-space ones (LRU, MIN) as
    /// staircases over whole frames, variable-space ones (WS, VMIN) as points at the
    /// mean memory of each window (no window gives the sizes between). Curves that
    /// coincide stay visible (see `svg`: later lines thinner and dashed).
    pub fn fault_svg(&self) -> String {
        let series = self
            .curves
            .iter()
            .map(|c| Series {
                name: c.name.clone(),
                points: chart_points(&c.points, c.fixed_space),
                step: c.fixed_space,
                points_only: !c.fixed_space,
                ..Default::default()
            })
            .collect();
        LineChart {
            title: format!(
                "Fault curves: {} ({} references, {} pages)",
                self.source, self.refs, self.distinct
            ),
            x_label: "memory m (pages)".into(),
            y_label: "faults F(m)".into(),
            series,
            ..Default::default()
        }
        .to_svg()
    }

    /// Writes `analysis.json`, the curves' CSV files, `tlb.csv` and `fault-curves.svg`
    /// into `dir`; returns the paths written.
    pub fn write(&self, dir: &Path) -> Result<Vec<std::path::PathBuf>, String> {
        let mut files: Vec<(String, String)> = vec![("analysis.json".into(), self.to_json())];
        for c in &self.curves {
            files.push((c.file.clone(), self.curve_csv(c)));
        }
        files.push(("tlb.csv".into(), self.tlb_csv()));
        files.push(("fault-curves.svg".into(), self.fault_svg()));
        files.push(("lifetime.svg".into(), self.lifetime_svg()));
        if let (Some(csv), Some(r)) = (self.replacement_csv(), &self.replacement) {
            files.push(("replacement.csv".into(), csv));
            let policies: Vec<Policy> = r
                .policies
                .iter()
                .map(|p| p.parse().expect("names come from Policy::name"))
                .collect();
            files.push((
                "replacement.svg".into(),
                replace::fault_svg(
                    &format!("Faults against frames: {}", self.source),
                    &r.frames,
                    &policies,
                    &r.faults,
                ),
            ));
        }
        let mut out = Vec::new();
        for (name, body) in files {
            let p = dir.join(name);
            write_atomic(&p, body.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))?;
            out.push(p);
        }
        Ok(out)
    }
}

/// A number with at most three decimals, trailing zeros dropped.
fn num3(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// At most about 2000 points of a curve, ends kept (chart files stay small).
fn thin(v: Vec<(f64, f64)>) -> Vec<(f64, f64)> {
    let keep = v.len().div_ceil(2000).max(1);
    if keep == 1 {
        return v;
    }
    let last = *v.last().expect("non-empty");
    let mut out: Vec<(f64, f64)> = v.into_iter().step_by(keep).collect();
    if out.last() != Some(&last) {
        out.push(last);
    }
    out
}

/// Points for the chart: a step curve needs only the points where it changes (and its
/// ends); at most about 2000 are kept so huge curves stay small files.
fn chart_points(points: &[CurvePoint], step: bool) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let changes = i == 0 || i + 1 == points.len() || points[i - 1].faults != p.faults;
        if !step || changes {
            v.push((p.m, p.faults as f64));
        }
    }
    let keep = v.len().div_ceil(2000).max(1);
    if keep > 1 {
        let last = *v.last().expect("non-empty");
        v = v.into_iter().step_by(keep).collect();
        if v.last() != Some(&last) {
            v.push(last);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_increasing_and_end_at_n() {
        for n in [1, 5, 32, 33, 100, 1000, 1 << 20] {
            let r = table_rows(n);
            assert!(r.windows(2).all(|w| w[0] < w[1]), "{n}");
            assert_eq!((r[0], *r.last().unwrap()), (1, n));
            assert!(r.len() <= 90, "{n}: {} rows", r.len());
        }
    }
}
