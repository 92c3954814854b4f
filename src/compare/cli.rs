//! The `mmusim compare` command line: its arguments and what it prints and writes.

use super::{compare, Options};
use crate::progress::{Progress, Unit};
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

/// How `mmusim compare` ended.
pub enum Ended {
    Done,
    /// Ctrl-C: the runs under way were stopped; nothing was written.
    Interrupted(String),
}

/// Runs the comparison and prints its tables (progress as every long command shows it:
/// a bar on a terminal, plain lines otherwise); `Err` holds the error lines.
pub fn cli(args: Args) -> Result<Ended, Vec<String>> {
    let quiet = args.quiet;
    let opts = Options {
        systems: args.systems,
        workloads: args.workloads,
        baseline: args.baseline,
        sets: args.sets,
        out: args.out,
        threads: None,
        given: Vec::new(),
    };
    // Every system on every workload (the default workload when none is given).
    let count = |v: &[String]| v.iter().map(|s| super::split_list(s).len()).sum::<usize>();
    let pairs = count(&opts.systems) * count(&opts.workloads).max(1);
    let bar = Progress::for_command(Unit::Runs, pairs as u64, quiet).map_err(|e| vec![e])?;
    let progress = |d: usize, n: usize| bar.runs(d, n);
    let result = bar.ticking(|| compare(&opts, &progress));
    if crate::progress::stop_requested() {
        bar.interrupted();
        let done = bar.done();
        let kept = match &opts.out {
            Some(dir) => format!(
                "their result.csv rows are in {} (partial: the comparison needs every run)",
                dir.join("runs.partial.csv").display()
            ),
            None => "a comparison prints when every run is done (--out keeps finished runs)".into(),
        };
        return Ok(Ended::Interrupted(format!(
            "interrupted: {done} of {} runs had finished; {kept}",
            bar.total()
        )));
    }
    bar.finish();
    let c = result?;
    if let Some(dir) = &opts.out {
        c.write(dir).map_err(|e| vec![e])?;
    }
    if !quiet {
        print!("{}", c.to_table());
        if let Some(dir) = &opts.out {
            println!("compare.csv and one SVG per metric in {}", dir.display());
        }
    }
    Ok(Ended::Done)
}
