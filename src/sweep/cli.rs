//! The `mmusim sweep` command line: its subcommands (plan, run, merge, report) and what
//! each prints, writes and exits with (2 for bad input or a store another sweep holds,
//! 1 when runs failed (each named, with its error), 130 when Ctrl-C stopped a run).

use crate::progress::{self, fail, long_command, Unit, EXIT_INTERRUPTED};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum SweepCmd {
    /// List the runs (point x workload), numbered, with their stable ids; check them all.
    Plan { spec: PathBuf },
    /// Run the points not yet in DIR/results.jsonl.
    Run {
        spec: PathBuf,
        /// Output folder (default: beside the spec, `<spec name>.out`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run only shard I of N (`I/N`, 0-based): the runs whose number is I mod N.
        #[arg(long, value_name = "I/N", conflicts_with = "index")]
        shard: Option<String>,
        /// Run only run K of the plan (its number in `sweep plan`).
        #[arg(long, value_name = "K")]
        index: Option<usize>,
        /// Threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// When every run is in the store: sort the store by point and workload and
        /// write the report (as `sweep report DIR`).
        #[arg(long)]
        report: bool,
        /// Run again the runs that failed (their failure records are replaced), e.g.
        /// once a bad trace is fixed.
        #[arg(long)]
        retry_failed: bool,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Combine shard folders into one store (OUT/results.jsonl), refusing stores of
    /// different sweeps.
    Merge {
        out: PathBuf,
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// DIR/report.csv (a row per run, a column per axis and per statistic of
    /// result.csv, cycles against a baseline point, geometric means), a bar chart of the normalised figure
    /// and the spec's plots (or a line chart or heatmap chosen by the axes).
    Report {
        dir: PathBuf,
        /// The point the others are normalised to (default: the spec's `baseline`, or 0).
        #[arg(long)]
        baseline: Option<usize>,
    },
}

/// The exit status of a sweep some of whose runs failed (bad input is 2).
const EXIT_RUNS_FAILED: u8 = 1;

/// Names the failed runs and why (the first 20), and how to run them again.
fn failed(failures: &[crate::sweep::Failure]) {
    const SHOWN: usize = 20;
    let (old, new) = (failures.iter()).partition::<Vec<_>, _>(|f| f.stored);
    for (list, what) in [(&new, "failed"), (&old, "failed earlier (in the store)")] {
        for f in list.iter().take(SHOWN) {
            eprintln!("{what}: {f}");
        }
        if list.len() > SHOWN {
            eprintln!("{what}: ... and {} more runs", list.len() - SHOWN);
        }
    }
    eprintln!(
        "{} runs failed; fix the cause and run the same command with --retry-failed to run them again (their records are replaced)",
        failures.len()
    );
}

/// Runs a `mmusim sweep` subcommand.
pub fn cli(cmd: SweepCmd) -> ExitCode {
    match cmd {
        SweepCmd::Plan { spec } => match crate::sweep::plan(
            &spec,
            std::thread::available_parallelism().map_or(1, |n| n.get()),
        ) {
            Ok((s, jobs)) => {
                match (s.one_pass, crate::sweep::onepass::eligible(&jobs)) {
                    (true, Ok(op)) => eprintln!(
                        "one pass: the geometries of `{}` are answered by per-set LRU stack analysis (each workload's first point is simulated and checked)",
                        op.name
                    ),
                    (false, Ok(_)) => {
                        eprintln!("every point simulated: the spec says one_pass = false")
                    }
                    (_, Err(why)) => eprintln!("every point simulated: {why}"),
                }
                println!("#\tid\tpoint\tworkload\taxes");
                for j in &jobs {
                    let axes: Vec<String> =
                        j.axes.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        j.index,
                        j.id,
                        j.point,
                        j.workload,
                        axes.join(" ")
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        SweepCmd::Run {
            spec,
            out,
            shard,
            index,
            threads,
            report,
            retry_failed,
            quiet,
        } => {
            let shard = match shard.as_deref().map(|s| {
                let (i, n) = s.split_once('/').ok_or(())?;
                let (i, n): (usize, usize) =
                    (i.parse().map_err(|_| ())?, n.parse().map_err(|_| ())?);
                if n == 0 || i >= n {
                    Err(())
                } else {
                    Ok((i, n))
                }
            }) {
                None => None,
                Some(Ok(s)) => Some(s),
                Some(Err(())) => {
                    return fail(&["--shard takes I/N with 0 <= I < N, e.g. 0/4"]);
                }
            };
            // A job array sets the shard index in the environment.
            let shard = shard.or_else(|| {
                let i = std::env::var("SLURM_ARRAY_TASK_ID").ok()?.parse().ok()?;
                let n = std::env::var("SLURM_ARRAY_TASK_COUNT").ok()?.parse().ok()?;
                (i < n).then_some((i, n))
            });
            let out = out.unwrap_or_else(|| default_out(&spec));
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let bar = match long_command(Unit::Runs, quiet) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let progress = |d: usize, n: usize| bar.runs(d, n);
            let slice = match (index, shard) {
                (Some(k), _) => crate::sweep::Slice::Index(k),
                (None, Some((i, n))) => crate::sweep::Slice::Shard(i, n),
                (None, None) => crate::sweep::Slice::All,
            };
            // Ticking: one run may take long, and a log still gets its line.
            let result = bar.ticking(|| {
                crate::sweep::run(&spec, &out, slice, threads, retry_failed, &progress)
            });
            if progress::stop_requested() {
                bar.interrupted();
            } else {
                bar.finish();
            }
            match result {
                Ok(s) if s.interrupted => {
                    eprintln!(
                        "interrupted: {} runs finished and are in {} ({} failed); the runs under way were abandoned. The same command resumes the sweep: finished runs are not repeated.",
                        s.ran,
                        out.join("results.jsonl").display(),
                        s.failed
                    );
                    ExitCode::from(EXIT_INTERRUPTED)
                }
                Ok(s) => {
                    if let Some(n) = &s.note {
                        eprintln!("{n}");
                    }
                    eprintln!(
                        "{} ran ({} failed), {} already in {}",
                        s.ran,
                        s.failed,
                        s.skipped,
                        out.join("results.jsonl").display()
                    );
                    if !s.failures.is_empty() {
                        failed(&s.failures);
                        return ExitCode::from(EXIT_RUNS_FAILED);
                    }
                    if report {
                        let (have, whole) = (s.in_store, s.runs);
                        if have < whole {
                            eprintln!(
                                "--report: {have} of {whole} runs are in the store; no report yet"
                            );
                            return ExitCode::SUCCESS;
                        }
                        return match report_in_place(&out) {
                            Ok(r) => {
                                show_report(&r, &out);
                                ExitCode::SUCCESS
                            }
                            Err(e) => fail(&[e]),
                        };
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&[e]),
            }
        }
        SweepCmd::Merge { out, dirs } => match crate::sweep::merge(&dirs, &out) {
            Ok(n) => {
                eprintln!("{n} runs in {}", out.join("results.jsonl").display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&[e]),
        },
        SweepCmd::Report { dir, baseline } => match crate::sweep::report::report(&dir, baseline) {
            Ok(r) => {
                show_report(&r, &dir);
                ExitCode::SUCCESS
            }
            Err(e) => fail(&[e]),
        },
    }
}

/// What `sweep report` (and `sweep run --report`) prints of a report written to `dir`.
fn show_report(r: &crate::sweep::report::Report, dir: &Path) {
    eprintln!("{}", r.spec);
    print!("{}", r.csv);
    for n in &r.notes {
        eprintln!("{n}");
    }
    eprintln!("wrote {} in {}", r.files.join(", "), dir.display());
}

/// The folder a sweep's results go to when none is given: `SPEC.out` beside the spec
/// (`sweeps/stlb.toml` → `sweeps/stlb.out`).
pub fn default_out(spec: &Path) -> PathBuf {
    let stem = spec
        .file_stem()
        .map_or("sweep".into(), |s| s.to_string_lossy());
    spec.with_file_name(format!("{stem}.out"))
}

/// The report of a finished sweep in `out`, written there: the store's lines first put
/// in a fixed order (whatever the threads did), then `report.csv` and the plots.
pub fn report_in_place(out: &Path) -> Result<crate::sweep::report::Report, String> {
    crate::sweep::merge(std::slice::from_ref(&out.to_path_buf()), out)?;
    crate::sweep::report::report(out, None)
}
