//! The `mmusim mva` config file: TOML decoded with serde (unknown keys refused), then
//! checked; every problem is reported as `file:line: key.path: message` through
//! [`crate::loader::ConfigSource`], like the system configs.
//!
//! In: the file's path and text, `--set` overrides, an optional `--n-max`. Out: a
//! validated [`Model`]. A lifetime table named by the file is read here too (its path is
//! relative to the config's folder), and its own errors name the CSV file and line.
//!
//! ```toml
//! n_max = 30
//! think_time = 30.0            # Z, seconds
//! [cpu]
//! demand = 5.0                 # D1, seconds per job
//! [disk]                       # paging disk: service_time with [memory], or a fixed
//! service_time = 0.020         # demand (= ...) or service_time and visits
//! [io]
//! service_time = 0.010
//! visits = 10
//! [memory]
//! pages = 100                  # M; each user gets m = M / N
//! lifetime = "min(0.5, 0.005*m^2)"   # or table = "lru.csv" (+ seconds_per_reference)
//! [[station]]                  # any number of further queueing stations
//! name = "net"
//! demand = 0.05
//! [schweitzer]                 # optional
//! tolerance = 1e-12
//! max_iterations = 100000
//! ```

use super::lifetime::{Formula, Lifetime, Table};
use super::solve::Iteration;
use super::{Disk, Model, Station};
use crate::loader::{load, ConfigError, ConfigSource};
use serde::Deserialize;
use std::path::Path;

/// Largest population accepted (exact MVA for every N up to it costs O(N^2 K)).
pub const MAX_N: u32 = 10_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MvaConfig {
    /// Name for reports (default: the file name without extension).
    pub name: Option<String>,
    /// Populations 1..=n_max are solved.
    pub n_max: u32,
    /// Z, seconds (0: no terminals, a batch system).
    #[serde(default)]
    pub think_time: f64,
    pub cpu: CpuConfig,
    pub disk: Option<ServerConfig>,
    pub io: Option<ServerConfig>,
    pub memory: Option<MemoryConfig>,
    #[serde(default)]
    pub station: Vec<StationConfig>,
    pub schweitzer: Option<IterationConfig>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuConfig {
    /// D1, seconds of CPU per job.
    pub demand: f64,
}

/// A server given by its demand, or by service time and visits (D = V S).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub demand: Option<f64>,
    pub service_time: Option<f64>,
    pub visits: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// M, pages of main memory shared equally by the N users.
    pub pages: f64,
    /// L(m) in seconds as a formula over m.
    pub lifetime: Option<String>,
    /// L(m) as a CSV table (columns `m`, `lifetime` in references per fault).
    pub table: Option<String>,
    /// Seconds per reference, converting the table's lifetimes (default 1).
    pub seconds_per_reference: Option<f64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StationConfig {
    pub name: String,
    pub demand: f64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IterationConfig {
    pub tolerance: Option<f64>,
    pub max_iterations: Option<u32>,
}

/// Read, decode and check a model file. `n_max` replaces the file's `n_max`.
pub fn load_model(path: &Path, sets: &[String], n_max: Option<u32>) -> Result<Model, ConfigError> {
    let file = path.display().to_string();
    let text = crate::loader::read_input(path)?;
    let dir = path.parent().unwrap_or_else(|| Path::new(""));
    let default_name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mva".into());
    model_from_text(&file, &text, dir, &default_name, sets, n_max)
}

/// As [`load_model`], from text already read; `dir` resolves a relative table path.
pub fn model_from_text(
    file: &str,
    text: &str,
    dir: &Path,
    default_name: &str,
    sets: &[String],
    n_max: Option<u32>,
) -> Result<Model, ConfigError> {
    let (cfg, src): (MvaConfig, ConfigSource) = load(file, text, sets)?;
    let err = |path: &str, msg: String| src.error_at(path, msg);
    let n_max = match n_max {
        Some(n) if !(1..=MAX_N).contains(&n) => {
            return Err(ConfigError {
                file: "--n-max".into(),
                line: None,
                path: String::new(),
                msg: format!("{n}: must be 1..={MAX_N}"),
            })
        }
        Some(n) => n,
        None => cfg.n_max,
    };
    if !(1..=MAX_N).contains(&n_max) {
        return Err(err("n_max", format!("{n_max}: must be 1..={MAX_N}")));
    }
    let nonneg = |path: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(v)
        } else {
            Err(err(path, format!("{v}: must be a finite number >= 0")))
        }
    };
    let positive = |path: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(err(path, format!("{v}: must be a finite number > 0")))
        }
    };
    let think_time = nonneg("think_time", cfg.think_time)?;
    let cpu_demand = positive("cpu.demand", cfg.cpu.demand)?;

    // A fixed server: demand, or service_time x visits.
    let fixed = |name: &str, s: &ServerConfig| -> Result<Option<f64>, ConfigError> {
        match (s.demand, s.service_time, s.visits) {
            (Some(d), None, None) => Ok(Some(nonneg(&format!("{name}.demand"), d)?)),
            (None, Some(st), Some(v)) => Ok(Some(
                nonneg(&format!("{name}.service_time"), st)?
                    * nonneg(&format!("{name}.visits"), v)?,
            )),
            (Some(_), _, _) => Err(err(
                &format!("{name}.demand"),
                "give either demand, or service_time and visits, not both".into(),
            )),
            (None, Some(_), None) => Ok(None),
            (None, None, Some(_)) => Err(err(
                &format!("{name}.visits"),
                "visits needs service_time".into(),
            )),
            (None, None, None) => Err(err(name, "give demand, or service_time and visits".into())),
        }
    };

    let io_demand = match &cfg.io {
        None => None,
        Some(s) => match fixed("io", s)? {
            Some(d) => Some(d),
            None => {
                return Err(err(
                    "io.service_time",
                    "needs io.visits (I/O tasks per job)".into(),
                ))
            }
        },
    };

    let disk = match (&cfg.disk, &cfg.memory) {
        (None, None) => Disk::None,
        (None, Some(_)) => {
            return Err(err(
                "memory",
                "the memory model needs a paging disk: [disk] service_time = seconds per fault"
                    .into(),
            ))
        }
        (Some(s), mem) => match (fixed("disk", s)?, mem) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "memory",
                    "with [memory] the disk's visits come from the lifetime curve: \
                     give disk.service_time only"
                        .into(),
                ))
            }
            (Some(d), None) => Disk::Fixed(d),
            (None, None) => {
                return Err(err(
                    "disk.service_time",
                    "give disk.visits, disk.demand, or a [memory] section with a lifetime curve"
                        .into(),
                ))
            }
            (None, Some(m)) => {
                let service_time = nonneg("disk.service_time", s.service_time.unwrap_or_default())?;
                let pages = positive("memory.pages", m.pages)?;
                let lifetime = match (&m.lifetime, &m.table) {
                    (Some(f), None) => {
                        if m.seconds_per_reference.is_some() {
                            return Err(err(
                                "memory.seconds_per_reference",
                                "only applies to a table (a formula is in seconds)".into(),
                            ));
                        }
                        Lifetime::Formula(
                            Formula::parse(f).map_err(|e| err("memory.lifetime", e.to_string()))?,
                        )
                    }
                    (None, Some(t)) => {
                        let spr = positive(
                            "memory.seconds_per_reference",
                            m.seconds_per_reference.unwrap_or(1.0),
                        )?;
                        let p = dir.join(t);
                        let name = p.display().to_string();
                        // Bounded like the model file (a device or a huge file is refused).
                        let text = crate::loader::read_input(&p)
                            .map_err(|e| err("memory.table", e.to_string()))?;
                        Lifetime::Table(Table::parse_csv(&name, &text, spr).map_err(|e| {
                            ConfigError {
                                file: name.clone(),
                                line: e.line,
                                path: String::new(),
                                msg: e.msg,
                            }
                        })?)
                    }
                    (Some(_), Some(_)) => {
                        return Err(err(
                            "memory.table",
                            "give lifetime (a formula) or table (a CSV file), not both".into(),
                        ))
                    }
                    (None, None) => {
                        return Err(err(
                            "memory",
                            "give lifetime = \"formula in m\" or table = \"file.csv\"".into(),
                        ))
                    }
                };
                // F = D1 / L needs L > 0 wherever a partition can be: check every
                // partition size and a fine grid over (0, M].
                let key = if m.table.is_some() {
                    "memory.table"
                } else {
                    "memory.lifetime"
                };
                let grid = (1..=1000).map(|i| pages * f64::from(i) / 1000.0);
                let parts = (1..=n_max).map(|n| pages / f64::from(n));
                for x in parts.chain(grid) {
                    let l = lifetime.eval(x);
                    if !(l.is_finite() && l > 0.0) {
                        return Err(err(
                            key,
                            format!(
                                "L({}) = {l}: the lifetime must be finite and > 0 for every \
                                 partition size m in (0, M]",
                                super::num(x)
                            ),
                        ));
                    }
                }
                Disk::Paging {
                    service_time,
                    pages,
                    lifetime,
                }
            }
        },
    };

    let mut stations = Vec::new();
    for (i, s) in cfg.station.iter().enumerate() {
        let name = s.name.trim();
        let reserved = ["CPU", "DISK", "I/O"];
        if name.is_empty()
            || reserved.iter().any(|r| r.eq_ignore_ascii_case(name))
            || stations.iter().any(|x: &Station| x.name == name)
        {
            return Err(err(
                &format!("station[{i}].name"),
                format!("`{name}`: names must be non-empty, unique, and not CPU, DISK or I/O"),
            ));
        }
        stations.push(Station {
            name: name.to_owned(),
            demand: nonneg(&format!("station[{i}].demand"), s.demand)?,
        });
    }

    let mut iteration = Iteration::default();
    if let Some(it) = &cfg.schweitzer {
        if let Some(t) = it.tolerance {
            iteration.tolerance = positive("schweitzer.tolerance", t)?;
        }
        if let Some(n) = it.max_iterations {
            if n == 0 {
                return Err(err(
                    "schweitzer.max_iterations",
                    "must be at least 1".into(),
                ));
            }
            iteration.max_iterations = n;
        }
    }

    Ok(Model {
        name: cfg.name.unwrap_or_else(|| default_name.to_owned()),
        n_max,
        think_time,
        cpu_demand,
        disk,
        io_demand,
        stations,
        iteration,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
n_max = 30
think_time = 30.0
[cpu]
demand = 5.0
[disk]
service_time = 0.020
[io]
service_time = 0.010
visits = 10
[memory]
pages = 100
lifetime = \"min(0.5, 0.005*m^2)\"
";

    fn load_text(text: &str) -> Result<Model, ConfigError> {
        model_from_text("c.toml", text, Path::new(""), "c", &[], None)
    }

    #[test]
    fn the_exam_model_decodes() {
        let m = load_text(GOOD).unwrap();
        assert_eq!((m.n_max, m.think_time, m.cpu_demand), (30, 30.0, 5.0));
        assert!((m.io_demand.unwrap() - 0.1).abs() < 1e-15);
        match &m.disk {
            Disk::Paging {
                service_time,
                pages,
                lifetime,
            } => {
                assert_eq!((*service_time, *pages), (0.02, 100.0));
                assert_eq!(lifetime.eval(5.0), 0.125);
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(m.name, "c");
    }

    #[test]
    fn bad_models_name_line_and_key() {
        // (edit: from -> to, the error expected)
        let cases: &[(&str, &str, &str)] = &[
            (
                "n_max = 30",
                "n_max = 0",
                "c.toml:1: n_max: 0: must be 1..=10000",
            ),
            (
                "n_max = 30",
                "n_max = -1",
                "c.toml:1: n_max: -1 is out of range: n_max takes 0 to 4294967295",
            ),
            (
                "think_time = 30.0",
                "think = 30.0",
                "c.toml:2: think: unknown field `think`",
            ),
            (
                "think_time = 30.0",
                "think_time = -1.0",
                "c.toml:2: think_time: -1: must be",
            ),
            (
                "demand = 5.0",
                "demand = 0.0",
                "c.toml:4: cpu.demand: 0: must be a finite number > 0",
            ),
            (
                "demand = 5.0",
                "demand = \"5\"",
                "c.toml:4: cpu.demand: invalid type: string",
            ),
            (
                "lifetime = \"min(0.5, 0.005*m^2)\"",
                "lifetime = \"min(0.5, 0.005*m^2\"",
                "c.toml:12: memory.lifetime: column 19: expected `)` (min takes two arguments)",
            ),
            (
                "lifetime = \"min(0.5, 0.005*m^2)\"",
                "lifetime = \"0.005*m^2 - 0.1\"",
                "c.toml:12: memory.lifetime: L(",
            ),
            (
                "lifetime = \"min(0.5, 0.005*m^2)\"",
                "table = \"nope.csv\"",
                "c.toml:12: memory.table: nope.csv: cannot read",
            ),
            (
                "lifetime = \"min(0.5, 0.005*m^2)\"",
                "lifetime = \"1\"\nseconds_per_reference = 2.0",
                "c.toml:13: memory.seconds_per_reference: only applies to a table",
            ),
            (
                "pages = 100",
                "pages = 0",
                "c.toml:11: memory.pages: 0: must be",
            ),
            (
                "visits = 10\n",
                "",
                "c.toml:8: io.service_time: needs io.visits",
            ),
            (
                "visits = 10\n",
                "visits = 10\ndemand = 1.0\n",
                "c.toml:10: io.demand: give either",
            ),
            (
                "service_time = 0.020",
                "service_time = 0.020\nvisits = 3",
                "c.toml:11: memory: with [memory] the disk's visits come from the lifetime",
            ),
            (
                "[disk]\nservice_time = 0.020\n",
                "",
                "c.toml:8: memory: the memory model needs a paging disk",
            ),
            ("[cpu]\ndemand = 5.0\n", "", "c.toml: missing field `cpu`"),
        ];
        for &(from, to, want) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let got = load_text(&text).expect_err(want).to_string();
            assert!(got.starts_with(want), "\n got: {got}\nwant: {want}");
        }
        // A station with a reserved or repeated name.
        let text = format!("{GOOD}[[station]]\nname = \"net\"\ndemand = 1\n[[station]]\nname = \"net\"\ndemand = 1\n");
        let got = load_text(&text).unwrap_err().to_string();
        assert!(
            got.starts_with("c.toml:17: station[1].name: `net`"),
            "{got}"
        );
        // --n-max out of range names the argument.
        let e = model_from_text("c.toml", GOOD, Path::new(""), "c", &[], Some(0)).unwrap_err();
        assert_eq!(e.to_string(), "--n-max: 0: must be 1..=10000");
        // An override is blamed, not the file.
        let e = model_from_text(
            "c.toml",
            GOOD,
            Path::new(""),
            "c",
            &["cpu.demand=-2".into()],
            None,
        )
        .unwrap_err();
        assert!(e
            .to_string()
            .starts_with("--set cpu.demand=-2: cpu.demand: -2: must be"));
    }

    #[test]
    fn fixed_demands_without_a_memory_model() {
        let text = "n_max = 5\n[cpu]\ndemand = 1\n[disk]\ndemand = 2\n[io]\ndemand = 0.5\n";
        let m = load_text(text).unwrap();
        assert_eq!(m.disk, Disk::Fixed(2.0));
        assert_eq!(m.io_demand, Some(0.5));
        assert_eq!(m.think_time, 0.0);
        let text = "n_max = 5\n[cpu]\ndemand = 1\n[disk]\nservice_time = 0.5\nvisits = 3\n";
        assert_eq!(load_text(text).unwrap().disk, Disk::Fixed(1.5));
    }
}
