//! How an [`Analysis`] is written out: the terminal table and its summary lines, CSV,
//! JSON and the two SVG plots (throughput with its bounds, the lifetime curve), and the
//! number formatting they share.
//!
//! In: an [`Analysis`] and the [`Model`] it was computed from (read only; nothing here
//! computes a result). Out: strings, which [`super::run`] prints or writes to files.

use super::config;
use super::lifetime::Lifetime;
use super::solve::MvaSolution;
use super::{Analysis, Balance, Disk, Model, Row};
use crate::svg::{LineChart, Marker, Series};
use std::fmt::Write as _;

/// A number with up to 6 significant digits, trailing zeros dropped (`inf` for infinity).
pub fn num(x: f64) -> String {
    sig(x, 6)
}

/// A number with up to `digits` significant digits, trailing zeros dropped.
fn sig(x: f64, digits: i32) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "nan".into()
        } else {
            "inf".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    let mag = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - mag).clamp(0, 15) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn fixed(x: f64, w: usize, p: usize) -> String {
    if x.is_finite() {
        format!("{x:>w$.p$}")
    } else {
        format!("{:>w$}", if x.is_nan() { "-" } else { "inf" })
    }
}

fn column_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// The ratio a/b as a percentage.
fn pct(a: f64, b: f64) -> String {
    format!("{:.2}%", 100.0 * a / b)
}

impl Analysis {
    fn row(&self, n: u32) -> Option<&Row> {
        self.rows.get(n.checked_sub(1)? as usize)
    }

    fn has_memory(&self) -> bool {
        self.rows.first().is_some_and(|r| r.m.is_some())
    }

    /// The model in one paragraph.
    pub fn describe(model: &Model) -> String {
        let mut s = format!(
            "Z = {} s think time; CPU D1 = {} s",
            num(model.think_time),
            num(model.cpu_demand)
        );
        match &model.disk {
            Disk::None => {}
            Disk::Fixed(d) => {
                let _ = write!(s, "; DISK D2 = {} s", num(*d));
            }
            Disk::Paging {
                service_time,
                pages,
                lifetime,
            } => {
                let _ = write!(
                    s,
                    "; DISK S2 = {} s per fault, F(N) = D1 / L(M/N); M = {} pages, {}",
                    num(*service_time),
                    num(*pages),
                    lifetime.describe()
                );
            }
        }
        if let Some(d) = model.io_demand {
            let _ = write!(s, "; I/O D3 = {} s", num(d));
        }
        for st in &model.stations {
            let _ = write!(s, "; {} D = {} s", st.name, num(st.demand));
        }
        s
    }

    /// The terminal report: the table, then the summary.
    pub fn to_table(&self, model: &Model) -> String {
        let mut o = String::new();
        let _ = writeln!(
            o,
            "mva {}: N = 1..{}\n{}\n",
            model.name,
            model.n_max,
            Self::describe(model)
        );
        let mem = self.has_memory();
        let mut head = String::from("   N");
        if mem {
            head.push_str("        m     F(N)       D2");
        }
        head.push_str("   X exact   R exact    X Schw    R Schw");
        let bound_names: Vec<String> = self
            .names
            .iter()
            .map(|n| match n.as_str() {
                "CPU" => "1/D1".to_owned(),
                "DISK" => "1/D2".to_owned(),
                "I/O" => "1/D3".to_owned(),
                _ => format!("1/D_{}", n.chars().take(5).collect::<String>()),
            })
            .collect();
        for b in &bound_names {
            let _ = write!(head, " {b:>9}");
        }
        head.push_str("   N/(D+Z)     bound");
        let _ = writeln!(o, "{head}");
        for r in &self.rows {
            let _ = write!(o, "{:>4}", r.n);
            if mem {
                let _ = write!(
                    o,
                    " {} {} {}",
                    fixed(r.m.unwrap_or(f64::NAN), 8, 3),
                    fixed(r.faults.unwrap_or(f64::NAN), 8, 3),
                    fixed(r.demands[1], 8, 4)
                );
            }
            let _ = write!(
                o,
                " {} {} {} {}",
                fixed(r.exact.throughput, 9, 6),
                fixed(r.exact.response, 9, 3),
                fixed(r.schweitzer.throughput, 9, 6),
                fixed(r.schweitzer.response, 9, 3)
            );
            for b in &r.station_bounds {
                let _ = write!(o, " {}", fixed(*b, 9, 4));
            }
            let _ = writeln!(
                o,
                " {} {}",
                fixed(r.light_bound, 9, 6),
                fixed(r.bound, 9, 6)
            );
        }
        o.push('\n');
        o.push_str(&self.summary(model));
        o
    }

    /// The lines after the table: optimum, knee, balance point, I/O bound, Schweitzer.
    pub fn summary(&self, model: &Model) -> String {
        let mut o = String::new();
        let best = &self.rows[self.optimum];
        let xmax = best.exact.throughput;
        let ratio = xmax / best.bound;
        let _ = writeln!(
            o,
            "optimal N = {} (argmax of exact X): X = {} jobs/s, upper bound min(1/D_k, N/(D+Z)) = {} ({}): \
             X is {:.4}% of it (short by {:.2e} relative)",
            best.n,
            sig(xmax, 10),
            num(best.bound),
            best.binding,
            100.0 * ratio,
            1.0 - ratio
        );
        let sbest = self.schweitzer_optimum();
        let _ = writeln!(
            o,
            "Schweitzer (iterative MVA) optimum: N = {}, X = {} jobs/s",
            sbest.n,
            num(sbest.schweitzer.throughput)
        );
        let near: Vec<u32> = self
            .rows
            .iter()
            .filter(|r| r.exact.throughput >= 0.99 * xmax)
            .map(|r| r.n)
            .collect();
        let _ = writeln!(o, "X is within 1% of its maximum for N = {}", ranges(&near));
        if let Some(k) = &self.knee {
            let _ = write!(
                o,
                "knee of the lifetime curve (max L(m)/m): m = {} pages, L = {} s; \
                 N at the knee = M/m = {} -> N = {}",
                num(k.m),
                num(k.lifetime),
                num(k.n),
                k.n_int
            );
            match self.row(k.n_int) {
                Some(r) => {
                    let _ = writeln!(
                        o,
                        ": X = {} ({} of the optimum)",
                        num(r.exact.throughput),
                        pct(r.exact.throughput, xmax)
                    );
                }
                None => {
                    let _ = writeln!(o, " (beyond N max = {})", model.n_max);
                }
            }
        }
        match self.balance {
            Balance::NoMemoryModel => {}
            Balance::AtOne => {
                let _ = writeln!(
                    o,
                    "balance point D1 = D2(N): none, D2 >= D1 already at N = 1 (the disk is the bottleneck throughout)"
                );
            }
            Balance::NotFound(up_to) => {
                let _ = writeln!(
                    o,
                    "balance point D1 = D2(N): none, D2 < D1 for every N up to {}",
                    num(up_to)
                );
            }
            Balance::Found(n) => {
                let n_int = (n.round() as u32).max(1);
                let _ = write!(
                    o,
                    "balance point D1 = D2(N): N = {} (nearest integer {n_int}; m = {} pages)",
                    num(n),
                    num(model.partition(n).unwrap_or(f64::NAN))
                );
                match self.row(n_int) {
                    Some(r) => {
                        let _ = writeln!(
                            o,
                            ": X = {} ({} of the optimum)",
                            num(r.exact.throughput),
                            pct(r.exact.throughput, xmax)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            o,
                            ", beyond N max = {} (try --n-max {})",
                            model.n_max,
                            (n.ceil() as u64 * 2).min(u64::from(config::MAX_N))
                        );
                    }
                }
            }
        }
        if let Some(k) = self.names.iter().position(|n| n == "I/O") {
            let io = self.rows[0].station_bounds[k];
            if self.io_binds.is_empty() {
                let lowest_other = self.rows.iter().map(|r| r.bound).fold(0.0, f64::max);
                let _ = writeln!(
                    o,
                    "I/O bound 1/D3 = {} jobs/s never binds for N = 1..{}: the binding bound is at most {} jobs/s ({}x lower)",
                    num(io),
                    model.n_max,
                    num(lowest_other),
                    num(io / lowest_other)
                );
            } else {
                let _ = writeln!(
                    o,
                    "I/O bound 1/D3 = {} jobs/s binds at N = {}",
                    num(io),
                    ranges(&self.io_binds)
                );
            }
        }
        let (mut worst_n, mut worst) = (1, 0.0);
        for r in &self.rows {
            let e = ((r.schweitzer.throughput - r.exact.throughput) / r.exact.throughput).abs();
            if e > worst {
                (worst_n, worst) = (r.n, e);
            }
        }
        let _ = writeln!(
            o,
            "Schweitzer vs exact MVA: largest throughput difference {:.3}% (at N = {worst_n})",
            100.0 * worst
        );
        o
    }

    /// One CSV row per N.
    pub fn to_csv(&self) -> String {
        let keys: Vec<String> = self.names.iter().map(|n| column_key(n)).collect();
        let mut o = String::from("n,m,faults");
        for k in &keys {
            let _ = write!(o, ",d_{k}");
        }
        o.push_str(",x_exact,r_exact,x_schweitzer,r_schweitzer,schweitzer_sweeps");
        for k in &keys {
            let _ = write!(o, ",bound_{k}");
        }
        o.push_str(",bound_light_load,bound,binding");
        for k in &keys {
            let _ = write!(o, ",u_{k},q_{k}");
        }
        o.push('\n');
        let opt = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        for r in &self.rows {
            let _ = write!(o, "{},{},{}", r.n, opt(r.m), opt(r.faults));
            for d in &r.demands {
                let _ = write!(o, ",{d}");
            }
            let _ = write!(
                o,
                ",{},{},{},{},{}",
                r.exact.throughput,
                r.exact.response,
                r.schweitzer.throughput,
                r.schweitzer.response,
                r.sweeps
            );
            for b in &r.station_bounds {
                let _ = write!(o, ",{b}");
            }
            let _ = write!(o, ",{},{},{}", r.light_bound, r.bound, r.binding);
            for (u, q) in r.exact.utilisation.iter().zip(&r.exact.queue) {
                let _ = write!(o, ",{u},{q}");
            }
            o.push('\n');
        }
        o
    }

    /// Everything as JSON (infinite bounds become null).
    pub fn to_json(&self, model: &Model) -> String {
        use serde_json::{json, Map, Value};
        let per_station = |vals: &[f64]| -> Value {
            let mut m = Map::new();
            for (n, v) in self.names.iter().zip(vals) {
                m.insert(n.clone(), json!(v));
            }
            Value::Object(m)
        };
        let sol = |s: &MvaSolution| {
            json!({
                "throughput": s.throughput,
                "response": s.response,
                "residence": per_station(&s.residence),
                "utilisation": per_station(&s.utilisation),
                "queue": per_station(&s.queue),
            })
        };
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "n": r.n,
                    "m": r.m,
                    "faults": r.faults,
                    "demands": per_station(&r.demands),
                    "exact": sol(&r.exact),
                    "schweitzer": sol(&r.schweitzer),
                    "schweitzer_sweeps": r.sweeps,
                    "bounds": {
                        "stations": per_station(&r.station_bounds),
                        "light_load": r.light_bound,
                        "min": r.bound,
                        "binding": r.binding,
                    },
                })
            })
            .collect();
        let best = &self.rows[self.optimum];
        let sbest = self.schweitzer_optimum();
        let balance = match self.balance {
            Balance::NoMemoryModel => json!({ "kind": "no memory model" }),
            Balance::AtOne => json!({ "kind": "disk-bound at N = 1" }),
            Balance::NotFound(up_to) => json!({ "kind": "not found", "searched_up_to": up_to }),
            Balance::Found(n) => json!({
                "kind": "found",
                "n": n,
                "n_nearest": (n.round() as u32).max(1),
                "m": model.partition(n),
            }),
        };
        let disk = match &model.disk {
            Disk::None => Value::Null,
            Disk::Fixed(d) => json!({ "demand": d }),
            Disk::Paging {
                service_time,
                pages,
                lifetime,
            } => json!({
                "service_time": service_time,
                "pages": pages,
                "lifetime": lifetime.describe(),
            }),
        };
        let stations: Vec<Value> = model
            .stations
            .iter()
            .map(|s| json!({ "name": s.name, "demand": s.demand }))
            .collect();
        let doc = json!({
            "tool": format!("mmusim {}", env!("CARGO_PKG_VERSION")),
            "model": {
                "name": model.name,
                "n_max": model.n_max,
                "think_time": model.think_time,
                "cpu_demand": model.cpu_demand,
                "disk": disk,
                "io_demand": model.io_demand,
                "stations": stations,
                "schweitzer": {
                    "tolerance": model.iteration.tolerance,
                    "max_iterations": model.iteration.max_iterations,
                },
            },
            "stations": self.names,
            "rows": rows,
            "optimum": {
                "n": best.n,
                "throughput": best.exact.throughput,
                "bound": best.bound,
                "binding": best.binding,
                "fraction_of_bound": best.exact.throughput / best.bound,
            },
            "schweitzer_optimum": {
                "n": sbest.n,
                "throughput": sbest.schweitzer.throughput,
            },
            "knee": self.knee.map(|k| json!({
                "m": k.m, "lifetime": k.lifetime, "n": k.n, "n_nearest": k.n_int,
            })),
            "balance": balance,
            "io_binds_at": self.io_binds,
        });
        let mut s = serde_json::to_string_pretty(&doc).expect("JSON values serialise");
        s.push('\n');
        s
    }

    /// X(N) exact and Schweitzer with the asymptotic bounds (dashed). Bound points more
    /// than 50% above the largest binding station bound are left out (the exam's rule for
    /// the DISK bound, applied to every bound so the plot stays readable); a bound with no
    /// point left says so in its legend.
    pub fn throughput_svg(&self) -> String {
        let cap = 1.5
            * self
                .rows
                .iter()
                .map(|r| {
                    r.station_bounds
                        .iter()
                        .copied()
                        .fold(f64::INFINITY, f64::min)
                })
                .filter(|b| b.is_finite())
                .fold(0.0, f64::max);
        let xs = |f: &dyn Fn(&Row) -> f64| -> Vec<(f64, f64)> {
            self.rows.iter().map(|r| (f64::from(r.n), f(r))).collect()
        };
        let mut series = vec![
            Series {
                name: "X(N) exact MVA".into(),
                points: xs(&|r| r.exact.throughput),
                dots: true,
                ..Series::default()
            },
            Series {
                name: "X(N) Schweitzer".into(),
                points: xs(&|r| r.schweitzer.throughput),
                ..Series::default()
            },
        ];
        let mut bound = |name: String, f: &dyn Fn(&Row) -> f64| {
            let pts: Vec<(f64, f64)> = xs(f)
                .into_iter()
                .map(|(n, b)| (n, if cap > 0.0 && b > cap { f64::NAN } else { b }))
                .collect();
            let shown = pts.iter().filter(|(_, b)| b.is_finite()).count();
            let name = if shown == 0 {
                let all = xs(f);
                let lo = all.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
                let hi = all.iter().map(|p| p.1).fold(0.0, f64::max);
                let op = if lo == hi { "=" } else { ">=" };
                format!("{name} {op} {} (off scale)", num(lo))
            } else {
                name
            };
            series.push(Series {
                name,
                points: pts,
                dashed: true,
                ..Series::default()
            });
        };
        for (k, n) in self.names.iter().enumerate() {
            let label = match n.as_str() {
                "CPU" => "CPU bound 1/D1".to_owned(),
                "DISK" if self.has_memory() => "DISK bound 1/D2(N)".to_owned(),
                "DISK" => "DISK bound 1/D2".to_owned(),
                "I/O" => "I/O bound 1/D3".to_owned(),
                other => format!("{other} bound 1/D"),
            };
            bound(label, &|r: &Row| r.station_bounds[k]);
        }
        bound("light-load bound N/(D+Z)".into(), &|r: &Row| r.light_bound);
        let best = &self.rows[self.optimum];
        let mut markers = vec![Marker {
            x: f64::from(best.n),
            y: best.exact.throughput,
            label: format!("optimum N = {}", best.n),
        }];
        if let Some(k) = &self.knee {
            if let Some(r) = self.row(k.n_int) {
                if r.n != best.n {
                    markers.push(Marker {
                        x: f64::from(r.n),
                        y: r.exact.throughput,
                        label: format!("knee N = {}", r.n),
                    });
                }
            }
        }
        LineChart {
            title: "Throughput X(N) and its bounds".into(),
            x_label: "N (users)".into(),
            y_label: "throughput (jobs/s)".into(),
            series,
            markers,
            y_max: (cap > 0.0).then_some(cap),
            ..LineChart::default()
        }
        .to_svg()
    }

    /// The lifetime curve over (0, M] with its knee and the ray from the origin through it;
    /// `None` without the memory model.
    pub fn lifetime_svg(&self, model: &Model) -> Option<String> {
        let Disk::Paging {
            service_time,
            pages,
            lifetime,
        } = &model.disk
        else {
            return None;
        };
        let mut ms: Vec<f64> = match lifetime {
            Lifetime::Formula(_) => (0..=400).map(|i| pages * f64::from(i) / 400.0).collect(),
            Lifetime::Table(t) => {
                let inside: Vec<f64> = t
                    .points
                    .iter()
                    .map(|p| p.0)
                    .filter(|m| *m > 0.0 && m < pages)
                    .collect();
                // At most about 2000 points drawn; every point for smaller tables.
                let step = inside.len().div_ceil(2000).max(1);
                let mut v = vec![0.0];
                v.extend(inside.iter().step_by(step));
                v.push(*pages);
                v
            }
        };
        if let Some(k) = &self.knee {
            ms.push(k.m);
        }
        ms.sort_by(f64::total_cmp);
        ms.dedup();
        let curve: Vec<(f64, f64)> = ms
            .iter()
            .map(|&m| (m, lifetime.eval(m)))
            .filter(|(_, l)| l.is_finite())
            .collect();
        let lmax = curve.iter().map(|p| p.1).fold(0.0, f64::max);
        let mut series = vec![Series {
            name: lifetime.describe(),
            points: curve,
            ..Series::default()
        }];
        let mut markers = Vec::new();
        let y_cap = 1.2 * lmax;
        if let Some(k) = &self.knee {
            let slope = k.lifetime / k.m;
            let end = pages.min(y_cap / slope);
            series.push(Series {
                name: "ray through the knee".into(),
                points: vec![(0.0, 0.0), (end, slope * end)],
                dashed: true,
                ..Series::default()
            });
            markers.push(Marker {
                x: k.m,
                y: k.lifetime,
                label: format!("knee m = {} (N = {})", num(k.m), num(k.n)),
            });
        }
        if let Balance::Found(n) = self.balance {
            let m = pages / n;
            markers.push(Marker {
                x: m,
                y: lifetime.eval(m),
                label: format!(
                    "balance: L = S2 = {} s at m = {}",
                    num(*service_time),
                    num(m)
                ),
            });
        }
        Some(
            LineChart {
                title: format!("Lifetime curve L(m): {}", model.name),
                x_label: "m (pages per user)".into(),
                y_label: "L(m): CPU seconds between faults".into(),
                series,
                markers,
                y_max: (lmax > 0.0).then_some(y_cap),
                ..LineChart::default()
            }
            .to_svg(),
        )
    }
}

/// `1..3, 7, 9..10`.
fn ranges(ns: &[u32]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ns.len() {
        let mut j = i;
        while j + 1 < ns.len() && ns[j + 1] == ns[j] + 1 {
            j += 1;
        }
        parts.push(if j == i {
            ns[i].to_string()
        } else {
            format!("{}..{}", ns[i], ns[j])
        });
        i = j + 1;
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formatting() {
        assert_eq!(num(0.2), "0.2");
        assert_eq!(num(1.0 / 35.3), "0.0283286");
        assert_eq!(num(100.0 / 3.0), "33.3333");
        assert_eq!(num(50.000000000001), "50");
        assert_eq!(num(f64::INFINITY), "inf");
        assert_eq!(num(0.0), "0");
        assert_eq!(ranges(&[1, 2, 3, 7, 9, 10]), "1..3, 7, 9..10");
        assert_eq!(ranges(&[]), "");
    }
}
