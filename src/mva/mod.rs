//! The queueing model of thrashing (`mmusim mva`): a closed central-server network with
//! terminals whose paging-disk load grows as more users share main memory.
//!
//! The network (Buzen's central-server model, 1971; Denning, 1980 for its use in the
//! study of thrashing): N users, each thinking Z seconds between jobs (a delay station);
//! a CPU with demand D1 per job; a paging DISK with service time S2 per fault; an I/O
//! server with demand D3 = V3 S3; and any further queueing stations given by demand.
//! Every user holds a fixed partition of m = M / N pages of the M-page memory. M / N is
//! used as a real number, not rounded: the lifetime curve is continuous, and a partition
//! of 3.33 pages stands for users holding 3 or 4 pages in proportion.
//!
//! Faults per job: the lifetime L(m) is the mean CPU time between faults, and a job
//! runs D1 seconds of CPU, so it faults F(N) = D1 / L(M / N) times. The disk's visit
//! ratio is V2 = F(N) and its demand D2(N) = S2 F(N): the one demand that depends on N.
//! A fixed D2 (no memory model) turns this into an ordinary network.
//!
//! In: a [`Model`] (from a TOML file, [`config`]). Out: an [`Analysis`] with, for every
//! N = 1..Nmax, exact MVA (Reiser and Lavenberg, 1980: because D2 changes with N, the
//! recursion n = 1..N is run afresh with N's demands and its n = N result taken) and
//! Schweitzer / Bard approximate MVA side by side ([`solve`]), the asymptotic bounds of
//! Denning and Buzen (1978) (1/D_k per station, N / (D + Z) for light load); the
//! optimal multiprogramming level (argmax X); the knee of the lifetime curve (max
//! L(m)/m, [`lifetime`]) and the N = M / m_knee it implies; the balance point where
//! D1 = D2(N). Rendered as a table, CSV, JSON and two SVG plots.

pub mod config;
pub mod lifetime;
pub mod solve;

use crate::report::write_atomic;
use crate::svg::{LineChart, Marker, Series};
use lifetime::Lifetime;
use solve::{Iteration, MvaSolution};
use std::fmt::Write as _;
use std::path::Path;

/// A further queueing station, given by its demand.
#[derive(Clone, Debug, PartialEq)]
pub struct Station {
    pub name: String,
    pub demand: f64,
}

/// The paging disk.
#[derive(Clone, Debug, PartialEq)]
pub enum Disk {
    /// No paging disk.
    None,
    /// A fixed demand D2 (seconds per job), the same for every N.
    Fixed(f64),
    /// D2(N) = S2 D1 / L(M / N).
    Paging {
        /// S2, seconds per fault.
        service_time: f64,
        /// M, pages of memory.
        pages: f64,
        /// L(m), seconds of CPU time between faults.
        lifetime: Lifetime,
    },
}

/// A validated thrashing model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub name: String,
    pub n_max: u32,
    /// Z, seconds.
    pub think_time: f64,
    /// D1, seconds.
    pub cpu_demand: f64,
    pub disk: Disk,
    /// D3, seconds; `None` without an I/O server.
    pub io_demand: Option<f64>,
    pub stations: Vec<Station>,
    pub iteration: Iteration,
}

impl Model {
    /// Station names in solver order: CPU, DISK, I/O (those present), then the others.
    pub fn station_names(&self) -> Vec<String> {
        let mut v = vec!["CPU".to_owned()];
        if self.disk != Disk::None {
            v.push("DISK".into());
        }
        if self.io_demand.is_some() {
            v.push("I/O".into());
        }
        v.extend(self.stations.iter().map(|s| s.name.clone()));
        v
    }

    /// The partition m = M / N of each user, with the memory model.
    pub fn partition(&self, n: f64) -> Option<f64> {
        match &self.disk {
            Disk::Paging { pages, .. } => Some(pages / n),
            _ => None,
        }
    }

    /// F(N) = D1 / L(M / N), faults per job, with the memory model. A lifetime that is not
    /// positive gives infinitely many faults.
    pub fn faults(&self, n: f64) -> Option<f64> {
        match &self.disk {
            Disk::Paging {
                pages, lifetime, ..
            } => {
                let l = lifetime.eval(pages / n);
                Some(if l > 0.0 {
                    self.cpu_demand / l
                } else {
                    f64::INFINITY
                })
            }
            _ => None,
        }
    }

    /// D2(N), seconds per job.
    pub fn disk_demand(&self, n: f64) -> Option<f64> {
        match &self.disk {
            Disk::None => None,
            Disk::Fixed(d) => Some(*d),
            Disk::Paging { service_time, .. } => self.faults(n).map(|f| service_time * f),
        }
    }

    /// Every station's demand at population `n`, in [`Model::station_names`] order.
    pub fn demands(&self, n: u32) -> Vec<f64> {
        let mut v = vec![self.cpu_demand];
        v.extend(self.disk_demand(f64::from(n)));
        v.extend(self.io_demand);
        v.extend(self.stations.iter().map(|s| s.demand));
        v
    }
}

/// One population's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub n: u32,
    /// m = M / N (memory model only).
    pub m: Option<f64>,
    /// F(N) faults per job (memory model only).
    pub faults: Option<f64>,
    /// Demand per station.
    pub demands: Vec<f64>,
    pub exact: MvaSolution,
    pub schweitzer: MvaSolution,
    /// Sweeps the Schweitzer iteration took.
    pub sweeps: u32,
    /// 1 / D_k per station (infinite for a zero demand).
    pub station_bounds: Vec<f64>,
    /// N / (D + Z).
    pub light_bound: f64,
    /// The smallest of them all.
    pub bound: f64,
    /// Which bound that is: a station's name, or `light load`.
    pub binding: String,
}

/// The knee of the lifetime curve and the population that puts every user there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KneePoint {
    pub m: f64,
    pub lifetime: f64,
    /// M / m_knee.
    pub n: f64,
    /// Nearest integer (at least 1).
    pub n_int: u32,
}

/// Where D1 = D2(N).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Balance {
    /// D2 does not depend on N.
    NoMemoryModel,
    /// D2(1) >= D1: the disk is the bottleneck from the first user on.
    AtOne,
    /// The crossing, on the continuous N.
    Found(f64),
    /// D2 stays below D1 up to this N.
    NotFound(f64),
}

/// Everything `mmusim mva` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    pub names: Vec<String>,
    pub rows: Vec<Row>,
    /// Index into `rows` of the largest exact X (the first of equals).
    pub optimum: usize,
    pub knee: Option<KneePoint>,
    pub balance: Balance,
    /// The populations at which the I/O bound is the smallest bound.
    pub io_binds: Vec<u32>,
}

/// Analyse `model` for N = 1..=n_max. Fails only when the Schweitzer iteration does not
/// converge, or the model has neither demand nor think time.
pub fn analyse(model: &Model) -> Result<Analysis, String> {
    let names = model.station_names();
    let z = model.think_time;
    let mut rows = Vec::with_capacity(model.n_max as usize);
    for n in 1..=model.n_max {
        let demands = model.demands(n);
        let total: f64 = demands.iter().sum();
        if total + z <= 0.0 || !total.is_finite() {
            return Err(format!(
                "N = {n}: the demands sum to {total} and Z = {z}: nothing to solve"
            ));
        }
        let exact = solve::exact(&demands, z, n);
        let (schweitzer, sweeps) =
            solve::schweitzer(&demands, z, n, model.iteration).map_err(|e| e.to_string())?;
        let station_bounds: Vec<f64> = demands.iter().map(|d| 1.0 / d).collect();
        let light_bound = f64::from(n) / (total + z);
        let (mut bound, mut binding) = (f64::INFINITY, String::new());
        for (b, name) in station_bounds.iter().zip(&names) {
            if *b < bound {
                (bound, binding) = (*b, name.clone());
            }
        }
        if light_bound < bound {
            (bound, binding) = (light_bound, "light load".into());
        }
        rows.push(Row {
            n,
            m: model.partition(f64::from(n)),
            faults: model.faults(f64::from(n)),
            demands,
            exact,
            schweitzer,
            sweeps,
            station_bounds,
            light_bound,
            bound,
            binding,
        });
    }
    let mut optimum = 0;
    for (i, r) in rows.iter().enumerate() {
        if r.exact.throughput > rows[optimum].exact.throughput {
            optimum = i;
        }
    }
    let knee = match &model.disk {
        Disk::Paging {
            pages, lifetime, ..
        } => lifetime.knee(*pages).map(|k| KneePoint {
            m: k.m,
            lifetime: k.lifetime,
            n: pages / k.m,
            n_int: ((pages / k.m).round() as u32).max(1),
        }),
        _ => None,
    };
    let io_binds = match names.iter().position(|n| n == "I/O") {
        Some(k) => rows
            .iter()
            .filter(|r| r.station_bounds[k] <= r.bound)
            .map(|r| r.n)
            .collect(),
        None => Vec::new(),
    };
    Ok(Analysis {
        names,
        balance: balance(model),
        rows,
        optimum,
        knee,
        io_binds,
    })
}

/// The balance point D2(N) = D1 on the continuous N: the first integer N in 1..Nmax with
/// D2(N) >= D1, else beyond Nmax by doubling N (up to 10^12), then bisection between the
/// last N below and the first at or above. D2 grows with N wherever L grows with m, so
/// for the usual lifetime curves this is the only crossing.
pub fn balance(model: &Model) -> Balance {
    let Disk::Paging { .. } = model.disk else {
        return Balance::NoMemoryModel;
    };
    let above = |n: f64| model.disk_demand(n).is_none_or(|d| d >= model.cpu_demand);
    if above(1.0) {
        return Balance::AtOne;
    }
    let mut lo = 1.0;
    let mut hi = None;
    for n in 2..=model.n_max {
        if above(f64::from(n)) {
            hi = Some(f64::from(n));
            break;
        }
        lo = f64::from(n);
    }
    while hi.is_none() && lo < 1e12 {
        let next = lo * 2.0;
        if above(next) {
            hi = Some(next);
        } else {
            lo = next;
        }
    }
    let Some(mut hi) = hi else {
        return Balance::NotFound(lo);
    };
    for _ in 0..200 {
        if hi - lo <= 1e-12 * hi {
            break;
        }
        let mid = 0.5 * (lo + hi);
        if above(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Balance::Found(0.5 * (lo + hi))
}

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

    /// The row with the largest Schweitzer throughput (the first of equals).
    pub fn schweitzer_optimum(&self) -> &Row {
        self.rows.iter().fold(&self.rows[0], |b, r| {
            if r.schweitzer.throughput > b.schweitzer.throughput {
                r
            } else {
                b
            }
        })
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
                title: "Lifetime curve L(m)".into(),
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

/// The library side of `mmusim mva`: load, analyse, write the files to `out` (if given),
/// and return the text to print.
pub fn run(
    config: &Path,
    sets: &[String],
    n_max: Option<u32>,
    out: Option<&Path>,
) -> Result<String, String> {
    let model = config::load_model(config, sets, n_max).map_err(|e| e.to_string())?;
    let a = analyse(&model)?;
    let mut text = a.to_table(&model);
    if let Some(dir) = out {
        let mut files = vec![
            ("mva.json", a.to_json(&model)),
            ("mva.csv", a.to_csv()),
            ("throughput.svg", a.throughput_svg()),
        ];
        if let Some(svg) = a.lifetime_svg(&model) {
            files.push(("lifetime.svg", svg));
        }
        for (name, body) in &files {
            let p = dir.join(name);
            write_atomic(&p, body.as_bytes()).map_err(|e| format!("{}: {e}", p.display()))?;
        }
        let names: Vec<&str> = files.iter().map(|f| f.0).collect();
        let _ = writeln!(text, "wrote {} to {}", names.join(", "), dir.display());
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::config::model_from_text;
    use super::*;

    const EXAM: &str = include_str!("../../configs/mva/exam-thrashing.toml");

    fn exam(n_max: u32) -> Model {
        model_from_text("exam.toml", EXAM, Path::new(""), "exam", &[], Some(n_max)).unwrap()
    }

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn exam_fault_counts_knee_and_balance_point() {
        let model = exam(80);
        let a = analyse(&model).unwrap();
        // By hand: m = 100/N. For m >= 10, L = 0.5 s and F = 5 / 0.5 = 10 faults; below,
        // L = 0.005 (100/N)^2 = 50 / N^2, so F = 5 N^2 / 50 = N^2 / 10. D2 = 0.02 F.
        for r in &a.rows {
            let n = f64::from(r.n);
            let f = if n <= 10.0 { 10.0 } else { n * n / 10.0 };
            assert!(rel(r.faults.unwrap(), f) < 1e-12, "N={n}");
            assert!(rel(r.demands[1], 0.02 * f) < 1e-12);
            assert_eq!(r.demands[0], 5.0);
            assert!(rel(r.demands[2], 0.1) < 1e-15);
        }
        // Knee: L/m = min(0.5/m, 0.005 m) peaks at m = 10, so N = 100/10 = 10.
        let k = a.knee.unwrap();
        assert!((k.m - 10.0).abs() < 1e-9 && (k.n - 10.0).abs() < 1e-8);
        assert_eq!(k.n_int, 10);
        // Balance: D2 = D1 <=> 0.02 * 5 / L = 5 <=> L(100/N) = 0.02 = 0.005 (100/N)^2
        // <=> 100/N = 2 <=> N = 50.
        match a.balance {
            Balance::Found(n) => assert!((n - 50.0).abs() < 1e-9, "{n}"),
            b => panic!("{b:?}"),
        }
        // Beyond the balance point the disk saturates: with D2 well above D1 (N >= 60,
        // D2 >= 7.2 s) X approaches the DISK bound 1/D2 from below.
        for r in a.rows.iter().filter(|r| r.n >= 60) {
            assert!(
                rel(r.exact.throughput, 1.0 / r.demands[1]) < 1e-3,
                "N={}",
                r.n
            );
        }
        // The optimum lies before the balance point, with X on the CPU bound.
        let best = &a.rows[a.optimum];
        assert!(best.n < 50 && best.binding == "CPU");
        assert!(rel(best.exact.throughput, 0.2) < 1e-6);
        assert!(a
            .rows
            .iter()
            .all(|r| r.exact.throughput <= best.exact.throughput));
        // The I/O bound (10 jobs/s) is 50 times the CPU bound: it never binds.
        assert!(a.io_binds.is_empty());
    }

    #[test]
    fn each_population_is_solved_with_its_own_demands() {
        // X(N) must equal the exact throughput of a network whose demands are those of
        // population N, here from the convolution algorithm: a recursion that carried
        // queue lengths over from populations with other D2 would differ.
        let model = exam(40);
        let a = analyse(&model).unwrap();
        for r in &a.rows {
            let conv = solve::convolution_throughput(&r.demands, 30.0, r.n as usize);
            assert!(rel(r.exact.throughput, conv) < 1e-9, "N={}", r.n);
        }
    }

    #[test]
    fn throughput_respects_every_bound_and_schweitzer_stays_close() {
        let a = analyse(&exam(80)).unwrap();
        for r in &a.rows {
            for x in [r.exact.throughput, r.schweitzer.throughput] {
                for b in r.station_bounds.iter().chain([&r.light_bound]) {
                    assert!(x <= b * (1.0 + 1e-12), "N={}: X {x} > bound {b}", r.n);
                }
            }
            // Utilisation law at the bottleneck: U = X D <= 1.
            assert!(r.exact.utilisation.iter().all(|u| *u <= 1.0 + 1e-12));
        }
        // N = 1: no queueing in either method, X = 1/(D + Z) = 1/35.3.
        let r1 = &a.rows[0];
        assert!(rel(r1.exact.throughput, 1.0 / 35.3) < 1e-14);
        assert_eq!(r1.exact.throughput, r1.schweitzer.throughput);
        // Schweitzer's estimate Q_k(N-1) = (N-1)/N Q_k(N) spreads the removed job over
        // the stations in proportion to their queues; with one dominant station (the CPU,
        // D1 = 5 s against 0.2 s and 0.1 s) it overstates the CPU queue an arriving job
        // meets while the CPU turns from idle to saturated, so it is worst around the
        // saturation point N* = (D + Z)/D1 = 7 to 10, where we observe 6.36% (at N = 10),
        // and small on either side. The bound asserted leaves some margin over that.
        let mut worst: f64 = 0.0;
        for r in &a.rows {
            worst = worst.max(rel(r.schweitzer.throughput, r.exact.throughput));
        }
        assert!(worst < 0.07, "{worst}");
        // Far from saturation on both sides the two agree within 1%.
        for n in [2, 40, 60, 80] {
            let r = &a.rows[n - 1];
            assert!(
                rel(r.schweitzer.throughput, r.exact.throughput) < 0.01,
                "N={n}"
            );
        }
    }

    #[test]
    fn balance_point_edge_cases() {
        // S2 = 10 s per fault: D2(1) = 10 * 10 faults = 100 s >= D1 from the start.
        let m = model_from_text(
            "e.toml",
            EXAM,
            Path::new(""),
            "e",
            &["disk.service_time=10.0".into()],
            None,
        )
        .unwrap();
        assert_eq!(balance(&m), Balance::AtOne);
        // S2 = 0: the disk costs nothing, D2 never reaches D1.
        let m = model_from_text(
            "e.toml",
            EXAM,
            Path::new(""),
            "e",
            &["disk.service_time=0.0".into()],
            None,
        )
        .unwrap();
        assert!(matches!(balance(&m), Balance::NotFound(n) if n >= 1e12));
        // Crossing inside 1..n_max, between integers: L(100/N) = S2 = 0.03 gives
        // 100/N = sqrt(6), N = 100/sqrt(6) = 40.82...
        let m = model_from_text(
            "e.toml",
            EXAM,
            Path::new(""),
            "e",
            &["disk.service_time=0.03".into()],
            Some(60),
        )
        .unwrap();
        match balance(&m) {
            Balance::Found(n) => assert!(rel(n, 100.0 / 6f64.sqrt()) < 1e-11, "{n}"),
            b => panic!("{b:?}"),
        }
        // Fixed disk demand: no balance point and no knee.
        let text = "n_max = 3\n[cpu]\ndemand = 1\n[disk]\ndemand = 2\n";
        let m = model_from_text("f.toml", text, Path::new(""), "f", &[], None).unwrap();
        let a = analyse(&m).unwrap();
        assert_eq!((a.balance, a.knee), (Balance::NoMemoryModel, None));
        assert!(a.lifetime_svg(&m).is_none());
    }

    #[test]
    fn textbook_network_bounds_and_binding() {
        // Two stations D = 1 and 2, Z = 0: the light-load bound N/3 binds at N = 1
        // (X = 1/3 exactly), the slower station's 1/2 from N = 2 on.
        let text = "n_max = 4\n[cpu]\ndemand = 1\n[[station]]\nname = \"disk2\"\ndemand = 2\n";
        let m = model_from_text("t.toml", text, Path::new(""), "t", &[], None).unwrap();
        let a = analyse(&m).unwrap();
        assert_eq!(a.names, ["CPU", "disk2"]);
        assert_eq!(a.rows[0].binding, "light load");
        assert!(rel(a.rows[0].exact.throughput, 1.0 / 3.0) < 1e-15);
        assert_eq!(a.rows[1].binding, "disk2");
        // X(2) = G(1)/G(2) = 3/7 (see solve::tests::closed_forms).
        assert!(rel(a.rows[1].exact.throughput, 3.0 / 7.0) < 1e-15);
        assert!(a.io_binds.is_empty());
        let csv = a.to_csv();
        assert!(csv.starts_with("n,m,faults,d_cpu,d_disk2,x_exact,"));
        assert_eq!(csv.lines().count(), 5);
    }

    #[test]
    fn throughput_plot_keeps_disk_points_within_half_again_the_cpu_bound() {
        // The exam's rule: leave out 1/D2(N) > 1.5 * 1/D1 = 0.3, i.e. keep
        // D2 = 0.002 N^2 >= 1/0.3, N >= sqrt(1666.7) = 40.8: N = 41..60, 20 points.
        let a = analyse(&exam(60)).unwrap();
        let svg = a.throughput_svg();
        let paths: Vec<&str> = svg
            .split("<path d=\"")
            .skip(1)
            .map(|p| p.split('"').next().unwrap())
            .collect();
        // exact, Schweitzer, CPU bound, DISK bound, light-load bound (I/O is off scale).
        assert_eq!(paths.len(), 5);
        let disk = paths[3];
        assert_eq!(
            (disk.matches('M').count(), disk.matches('L').count()),
            (1, 19)
        );
        assert!(svg.contains("I/O bound 1/D3 = 10 (off scale)"));
        // N = 1..30 has no DISK point left at all.
        let svg = analyse(&exam(30)).unwrap().throughput_svg();
        assert!(svg.contains("DISK bound 1/D2(N) &gt;= 0.555556 (off scale)"));
    }

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
