//! The `mmusim compare` command line: its arguments and what it prints and writes.

use super::{compare, Options};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Arguments of `mmusim compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Systems, comma separated: a preset or config file, each optionally with
    /// overrides `+key=value` (as --set takes them), e.g.
    /// `skylake,skylake+os.huge_pages.policy=always,skylake-htab`. Repeatable.
    #[arg(long = "config", short = 'c', value_name = "A,B,...", required = true)]
    pub systems: Vec<String>,
    /// Workloads, comma separated: a name ending in `.toml` is a workload file,
    /// anything else a trace file (format detected, as `run --trace`); each
    /// optionally with `+key=value` overrides of the workload, e.g.
    /// `workloads/default.toml+accesses=100000`. Default: workloads/default.toml.
    #[arg(long = "workload", short = 'w', value_name = "X,Y,...")]
    pub workloads: Vec<String>,
    /// The system the ratios are to, as written in -c (default: the first).
    #[arg(long)]
    pub baseline: Option<String>,
    /// Override a key of every pair: `--set workload.accesses=100000`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Write compare.csv (a row per pair) and one SVG per metric here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs the comparison and prints its tables (a progress count on a terminal);
/// `Err` holds the error lines.
pub fn cli(args: Args) -> Result<(), Vec<String>> {
    let quiet = args.quiet;
    let opts = Options {
        systems: args.systems,
        workloads: args.workloads,
        baseline: args.baseline,
        sets: args.sets,
        out: args.out,
        threads: None,
    };
    let tty = !quiet && std::io::stderr().is_terminal();
    let progress = |d: usize, n: usize| {
        if tty {
            eprint!("\r{d}/{n} runs done ");
        }
    };
    let c = compare(&opts, &progress)?;
    if tty {
        eprint!("\r{}\r", " ".repeat(24));
    }
    if let Some(dir) = &opts.out {
        c.write(dir).map_err(|e| vec![e])?;
    }
    if !quiet {
        print!("{}", c.to_table());
        if let Some(dir) = &opts.out {
            println!("compare.csv and one SVG per metric in {}", dir.display());
        }
    }
    Ok(())
}
