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
//! D1 = D2(N). Rendered as a table, CSV, JSON and two SVG plots (`output`).

pub mod config;
pub mod lifetime;
mod output;
pub mod solve;

use crate::report::write_atomic;
use lifetime::Lifetime;
pub use output::num;
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
        // Ctrl-C in the Python package (the command line sets no stop here).
        if crate::progress::stop_requested() {
            return Err("interrupted".into());
        }
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

impl Analysis {
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
}

/// Load the model file `config` with its overrides and analyse it (what [`run`] and
/// the Python package's `mva` report).
pub fn solve(
    config: &Path,
    sets: &[String],
    n_max: Option<u32>,
) -> Result<(Model, Analysis), String> {
    let model = config::load_model(config, sets, n_max).map_err(|e| e.to_string())?;
    let a = analyse(&model)?;
    Ok((model, a))
}

/// The library side of `mmusim mva`: load, analyse, write the files to `out` (if given),
/// and return the text to print.
pub fn run(
    config: &Path,
    sets: &[String],
    n_max: Option<u32>,
    out: Option<&Path>,
) -> Result<String, String> {
    let (model, a) = solve(config, sets, n_max)?;
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
}
