//! The `mmusim` command line.

use clap::{Parser, Subcommand};
use mmusim::report::write_atomic;
use mmusim::run::{load_inputs, simulate, PRESETS};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "mmusim",
    version,
    about = "Cycle-approximate model of a processor's MMU: TLBs, walk caches, page walks"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulate a workload on a system (defaults: the Skylake-like preset, workloads/default.toml).
    Run {
        /// System config file, or a preset name (skylake, icelake, zen4).
        #[arg(long, short)]
        config: Option<String>,
        /// Workload file (TOML).
        #[arg(long, short)]
        workload: Option<String>,
        /// Override a key: `--set tlb[5].entries=2048`, `--set workload.accesses=1000`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for result.json and result.csv (default: results/runs/<config>-<workload>-<hash>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a resolved config (preset or file, with overrides) as TOML.
    Show {
        #[arg(long, short)]
        config: Option<String>,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// List the built-in system presets.
    Presets,
}

/// A progress bar on a terminal, nothing otherwise.
struct Progress {
    on: bool,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
            start: now,
            last: now,
        }
    }
    fn update(&mut self, done: u64, total: u64) {
        if !self.on || self.last.elapsed().as_millis() < 100 {
            return;
        }
        self.last = Instant::now();
        let frac = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).min(1.0)
        };
        let secs = self.start.elapsed().as_secs_f64();
        let rate = done as f64 / secs.max(1e-9);
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let width = 30;
        let fill = (frac * width as f64) as usize;
        eprint!(
            "\r[{}{}] {:5.1}%  {:.1} M accesses/s  {:.0} s left ",
            "=".repeat(fill),
            " ".repeat(width - fill),
            100.0 * frac,
            rate / 1e6,
            eta
        );
        let _ = std::io::stderr().flush();
    }
    fn finish(&self) {
        if self.on {
            eprint!("\r{}\r", " ".repeat(72));
        }
    }
}

fn fail(errors: &[impl std::fmt::Display]) -> ExitCode {
    for e in errors {
        eprintln!("error: {e}");
    }
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Presets => {
            for (name, text) in PRESETS {
                let first = text.lines().next().unwrap_or("").trim_start_matches("# ");
                println!("{name:<10} {first}");
            }
            ExitCode::SUCCESS
        }
        Cmd::Show { config, sets } => match load_inputs(config.as_deref(), None, &sets) {
            Ok(inp) => {
                print!(
                    "{}",
                    toml::to_string(&inp.system).expect("config serialises")
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Cmd::Run {
            config,
            workload,
            sets,
            out,
            quiet,
        } => {
            let inputs = match load_inputs(config.as_deref(), workload.as_deref(), &sets) {
                Ok(i) => i,
                Err(e) => return fail(&e),
            };
            let mut bar = Progress::new(quiet);
            let t0 = Instant::now();
            let report = match simulate(&inputs, &mut |d, t| bar.update(d, t)) {
                Ok(r) => r,
                Err(e) => {
                    bar.finish();
                    return fail(&[e]);
                }
            };
            bar.finish();
            let secs = t0.elapsed().as_secs_f64();
            let dir = out.unwrap_or_else(|| {
                let clean = |s: &str| -> String {
                    s.chars()
                        .map(|c| {
                            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                                c
                            } else {
                                '_'
                            }
                        })
                        .collect()
                };
                PathBuf::from("results/runs").join(format!(
                    "{}-{}-{}",
                    clean(&inputs.system.name),
                    clean(&inputs.workload.name),
                    &report.config_hash[..8]
                ))
            });
            for (name, body) in [
                ("result.json", report.to_json()),
                ("result.csv", report.to_csv()),
            ] {
                if let Err(e) = write_atomic(&dir.join(name), body.as_bytes()) {
                    return fail(&[format!("{}: {e}", dir.join(name).display())]);
                }
            }
            if !quiet {
                print!("{}", report.to_table());
                let acc = report.stats.total.accesses;
                println!(
                    "\nsimulated {acc} accesses in {secs:.2} s ({:.1} M accesses/s); results in {}",
                    acc as f64 / secs.max(1e-9) / 1e6,
                    dir.display()
                );
            }
            ExitCode::SUCCESS
        }
    }
}
