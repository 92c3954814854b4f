//! The `mmusim` command line.

use clap::{Parser, Subcommand};
use mmusim::progress::{self, fail, long_command, Mode, Progress, Unit, EXIT_INTERRUPTED};
use mmusim::report::result_set::write_set;
use mmusim::run::{load_inputs, load_inputs_for_run, long_run_warning, simulate_opts, RunOptions};
use mmusim::trace::{self, TraceFormat, TraceOptions};
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
        /// A trace file to run instead of a workload file (`-` reads standard input).
        #[arg(long, short)]
        trace: Option<String>,
        /// The trace's format (default: by name, then by content).
        #[arg(long, value_enum, requires = "trace")]
        format: Option<FormatArg>,
        /// Override a key: `--set tlb.stlb.entries=2048` (or by position, `tlb[5].entries`),
        /// `--set workload.accesses=1000`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for result.json and result.csv (default: results/runs/<config>-<workload>-<hash>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        /// Also write timeline.csv, timeline.svg and memory.svg: TLB hit rates, faults
        /// and resident memory per window of W
        /// accesses per core.
        #[arg(long, value_name = "W", value_parser = parse_window)]
        timeline: Option<u64>,
    },
    /// Show how a virtual address splits for the page table and the walk it causes,
    /// step by step (PTE addresses, walk-cache and cache hits, cycles).
    Explain {
        /// Virtual address, hex (0x...) or decimal.
        #[arg(allow_hyphen_values = true)]
        addr: String,
        /// System config file, or a preset name.
        #[arg(long, short)]
        config: Option<String>,
        /// Override a key: `--set walker.psc=[]`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Addresses to access first, in order (comma separated; repeatable).
        #[arg(long, value_name = "ADDR,ADDR,...")]
        warm: Vec<String>,
        /// The core that makes the accesses.
        #[arg(long, default_value_t = 0)]
        core: usize,
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
    /// Run every system x workload pair in parallel and print, per workload, one table
    /// with a column per system and ratios to the baseline (cycles, translation, walks,
    /// STLB MPKI, faults, shootdowns, the page-table design's counters).
    Compare(mmusim::compare::Args),
    /// Run a study spec: every (system, workload) pair; results.csv and one SVG per metric.
    Study {
        spec: PathBuf,
        /// Output folder (default: the spec's folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Thrashing model: exact and Schweitzer MVA of a central-server network with terminals whose
    /// paging-disk demand follows a lifetime curve; bounds, optimum N, knee and balance point.
    Mva {
        /// Model file (TOML), e.g. configs/mva/exam-thrashing.toml.
        #[arg(long, short)]
        config: PathBuf,
        /// Solve N = 1..N_MAX (default: the file's n_max).
        #[arg(long)]
        n_max: Option<u32>,
        /// Override a key: `--set think_time=10`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Folder for mva.json, mva.csv, throughput.svg and lifetime.svg.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Exact fault curves of a page reference stream: LRU and MIN for every memory size
    /// (stack analysis), WS and VMIN for every window, lifetime curves and knees, the
    /// fully-associative LRU TLB miss curve per page size, and optionally FIFO, LRU,
    /// Clock, Random and OPT simulated for a list of frame counts.
    #[command(group(clap::ArgGroup::new("input").required(true).args(["workload", "trace", "refs"])))]
    Analyze {
        /// Workload file (TOML): the stream of core `--core`.
        #[arg(long, short)]
        workload: Option<String>,
        /// A trace file (`-` reads standard input), read as `run --trace` reads it.
        #[arg(long, short)]
        trace: Option<String>,
        /// The trace's format (default: by name, then by content).
        #[arg(long, value_enum, requires = "trace")]
        format: Option<FormatArg>,
        /// Page numbers, taken as given: "1 2 3 1", "(1 2 3 4 5)x40 1x20".
        #[arg(long)]
        refs: Option<String>,
        /// Page size of the fault curves (for --refs: the size of the given pages).
        #[arg(long, default_value = "4K", value_parser = parse_page_size)]
        page_size: mmusim::addr::PageSize,
        /// Which core's stream of the workload or trace.
        #[arg(long, default_value_t = 0)]
        core: usize,
        /// Write analysis.json, one CSV per curve (lru, min, ws, vmin), tlb.csv,
        /// fault-curves.svg, lifetime.svg (and replacement.csv/.svg with --frames) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Curves and TLB sizes up to this many frames/entries (default: every size).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_m: Option<u64>,
        /// Working-set windows T, e.g. "1-8,110" (default: every T up to --ws-max).
        #[arg(long, value_name = "LIST")]
        ws_t: Option<String>,
        /// Every window T = 1..=WS_MAX (default: min(references, 10000); at most 10000000).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        ws_max: Option<u64>,
        /// Simulate FIFO, LRU, Clock, Random and OPT with these frame counts, e.g. "1-7".
        #[arg(long, value_name = "LIST")]
        frames: Option<String>,
        /// Only these policies (comma-separated: fifo,lru,clock,random,opt).
        #[arg(long, value_name = "LIST", requires = "frames")]
        policies: Option<String>,
        /// Seed of the Random policy.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Which curves: any of lru,min,ws (ws gives VMIN too). MIN costs a few times
        /// the LRU pass; `--curves lru,ws` leaves it out.
        #[arg(long, value_name = "LIST", default_value = "lru,min,ws")]
        curves: mmusim::analysis::report::Curves,
        /// No progress display.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Read, convert, inspect and record memory traces.
    Trace {
        #[command(subcommand)]
        cmd: TraceCmd,
    },
    /// Sweeps: a system, workloads and axes over config keys, run in parallel and
    /// resumably (a killed sweep restarted loses nothing and repeats nothing).
    Sweep {
        #[command(subcommand)]
        cmd: mmusim::sweep::SweepCmd,
    },
}

#[derive(Subcommand)]
enum TraceCmd {
    /// Convert a trace (lackey, ChampSim, text, refs, .mmt; .gz/.xz/.zst) to .mmt or .txt,
    /// optionally .gz/.xz/.zst: the output's name says what is written (`t.mmt` raw,
    /// `t.mmt.zst` zstd); a name without a suffix gets .mmt.zst.
    Convert {
        input: PathBuf,
        /// Output file: .mmt[.gz|.xz|.zst] or .txt[.gz|.xz|.zst]; no suffix: .mmt.zst.
        output: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Records, accesses and translations (page-crossing accesses count two), instructions, read/write mix, footprint in 4K/2M/1G pages, reuse.
    Stats {
        input: PathBuf,
        #[command(flatten)]
        read: ReadArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Run a program under valgrind lackey and write its trace (`--out -`: .mmt to stdout).
    /// Name the program binary itself: valgrind does not follow the exec of a wrapper script.
    Record {
        /// Output file: .mmt (raw), .mmt.zst, .mmt.xz or .mmt.gz (the suffix picks the compression; other suffixes are refused); a name without a suffix gets .mmt.zst; `-`: raw .mmt to stdout. Default: PROGRAM.mmt.zst.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Stop after this many accesses (the program is then killed).
        #[arg(long)]
        limit: Option<u64>,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true)]
        cmd: Vec<String>,
    },
}

#[derive(clap::Args)]
struct ReadArgs {
    /// Input format (default: by name, then by content).
    #[arg(long, value_enum, default_value = "auto")]
    format: FormatArg,
    /// Leave instruction fetches out (they are then only counted).
    #[arg(long)]
    no_fetches: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Auto,
    Lackey,
    Champsim,
    Text,
    Refs,
    Binary,
}

impl From<FormatArg> for TraceFormat {
    fn from(f: FormatArg) -> TraceFormat {
        match f {
            FormatArg::Auto => TraceFormat::Auto,
            FormatArg::Lackey => TraceFormat::Lackey,
            FormatArg::Champsim => TraceFormat::ChampSim,
            FormatArg::Text => TraceFormat::Text,
            FormatArg::Refs => TraceFormat::Refs,
            FormatArg::Binary => TraceFormat::Binary,
        }
    }
}

impl ReadArgs {
    fn options(&self) -> TraceOptions {
        TraceOptions {
            format: self.format.into(),
            fetches: !self.no_fetches,
            ..Default::default()
        }
    }
}

/// `--timeline W`: a positive number of accesses.
fn parse_window(s: &str) -> Result<u64, String> {
    match s.parse::<u64>() {
        Ok(0) => Err("a window holds at least one access".into()),
        Ok(w) => Ok(w),
        Err(e) => Err(format!("not a number of accesses ({e})")),
    }
}

fn parse_page_size(s: &str) -> Result<mmusim::addr::PageSize, String> {
    mmusim::addr::PageSize::parse_or_explain(s)
}

fn trace_cmd(cmd: TraceCmd) -> ExitCode {
    match cmd {
        TraceCmd::Convert {
            input,
            output,
            read,
        } => match trace::convert(&input, &read.options(), &output) {
            Ok(n) => {
                let written = trace::output_name(&output);
                eprintln!("{n} accesses written to {}", written.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(&[e]),
        },
        TraceCmd::Stats { input, read, json } => match trace::stats(&input, &read.options()) {
            Ok(s) if json => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&s).expect("stats serialise")
                );
                ExitCode::SUCCESS
            }
            Ok(s) => {
                print!("{s}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&[e]),
        },
        TraceCmd::Record { out, limit, cmd } => {
            let out = out.unwrap_or_else(|| {
                let prog = std::path::Path::new(&cmd[0])
                    .file_name()
                    .map_or("trace".into(), |n| n.to_string_lossy().into_owned());
                PathBuf::from(format!("{prog}{}", trace::DEFAULT_SUFFIX))
            });
            let out = trace::output_name(&out);
            match trace::record::record(&cmd, &out, limit) {
                Ok(r) => {
                    eprintln!(
                        "{} accesses recorded to {}{}",
                        r.accesses,
                        out.display(),
                        if r.truncated {
                            " (stopped at --limit)"
                        } else {
                            ""
                        }
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&[e]),
            }
        }
    }
}

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so printing to a closed pipe (`mmusim run | head -1`) would
    // panic; the default action ends the process quietly, as other Unix tools do.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Presets => {
            for (name, first) in mmusim::run::preset_titles() {
                println!("{name:<18} {first}");
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
        Cmd::Compare(args) => match mmusim::compare::cli(args) {
            Ok(mmusim::compare::Ended::Done) => ExitCode::SUCCESS,
            Ok(mmusim::compare::Ended::Interrupted(msg)) => {
                eprintln!("{msg}");
                ExitCode::from(EXIT_INTERRUPTED)
            }
            Err(e) => fail(&e),
        },
        Cmd::Trace { cmd } => trace_cmd(cmd),
        Cmd::Sweep { cmd } => mmusim::sweep::cli(cmd),
        Cmd::Mva {
            config,
            n_max,
            sets,
            out,
        } => match mmusim::mva::run(&config, &sets, n_max, out.as_deref()) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&[e]),
        },
        Cmd::Explain {
            addr,
            config,
            sets,
            warm,
            core,
        } => match mmusim::explain::explain(&mmusim::explain::Request {
            config: config.as_deref().map(mmusim::run::Given::Path),
            sets: &sets,
            addr: &addr,
            warm: &warm,
            core,
        }) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Cmd::Analyze {
            workload,
            trace,
            format,
            refs,
            page_size,
            core,
            out,
            max_m,
            ws_t,
            ws_max,
            frames,
            policies,
            seed,
            curves,
            quiet,
        } => {
            use mmusim::analysis::report::{analyze_with, Input, Options};
            let input = match (workload, trace, refs) {
                (Some(path), _, _) => Input::Workload { path, core },
                (_, Some(path), _) => Input::Trace {
                    path,
                    core,
                    format: format.map_or(TraceFormat::Auto, Into::into),
                },
                (_, _, Some(r)) => match mmusim::workload::RefList::parse(&r) {
                    Ok(l) => Input::Refs(l.0),
                    Err(e) => return fail(&[format!("--refs: {e}")]),
                },
                (None, None, None) => unreachable!("clap requires one input"),
            };
            let lists = mmusim::analysis::report::Lists {
                ws_t: ws_t.as_deref(),
                frames: frames.as_deref(),
                policies: policies.as_deref(),
            };
            let parsed = Options::from_args(page_size, max_m, ws_max, seed, curves, lists);
            let opts = match parsed {
                Ok(o) => o,
                Err(e) => return fail(&[e]),
            };
            // Ctrl-C is not caught: an analysis has no partial result to keep.
            let bar = match Mode::detect(quiet) {
                Ok(mode) => Progress::new(Unit::Stages, 0, mode),
                Err(e) => return fail(&[e]),
            };
            let result = bar.ticking(|| analyze_with(&input, &opts, &|s| bar.set_message(s)));
            bar.finish();
            let report = match result {
                Ok(r) => r,
                Err(e) => return fail(&[e]),
            };
            print!("{}", report.to_table());
            if let Some(dir) = out {
                match report.write(&dir) {
                    Ok(files) => {
                        println!("\nwrote {} files to {}", files.len(), dir.display())
                    }
                    Err(e) => return fail(&[e]),
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Study { spec, out, quiet } => {
            let bar = match long_command(Unit::Runs, quiet) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let progress = |d: usize, n: usize| bar.runs(d, n);
            let result = bar.ticking(|| mmusim::study::run_study(&spec, out.as_deref(), &progress));
            if progress::stop_requested() {
                bar.interrupted();
                let e = result.err().unwrap_or_else(|| "interrupted".into());
                eprintln!("{e}");
                return ExitCode::from(EXIT_INTERRUPTED);
            }
            bar.finish();
            match result {
                Ok(csv) => {
                    print!("{csv}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&[e]),
            }
        }
        Cmd::Run {
            config,
            workload,
            trace,
            format,
            mut sets,
            out,
            quiet,
            timeline,
        } => {
            // The workload `--trace` builds names its format; first, so a `--set` may
            // still change it.
            if let Some(f) = format {
                mmusim::run::with_trace_format(&mut sets, TraceFormat::from(f));
            }
            let inputs = match load_inputs_for_run(
                config.as_deref(),
                workload.as_deref(),
                trace.as_deref(),
                &sets,
            ) {
                Ok(i) => i,
                Err(e) => return fail(&e),
            };
            if let Some(w) = long_run_warning(&inputs).filter(|_| !quiet) {
                eprintln!("WARNING: {w}");
            }
            let bar = match long_command(Unit::Accesses, quiet) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let t0 = Instant::now();
            let opts = RunOptions {
                timeline,
                stop: Some(progress::stop_flag()),
            };
            let progress = &mut |d: u64, t: u64| {
                if bar.total() != t {
                    bar.set_total(t);
                }
                bar.set(d);
            };
            let (report, timeline) = match simulate_opts(&inputs, &opts, progress) {
                Ok(r) => r,
                Err(e) => {
                    bar.finish();
                    return fail(&[e]);
                }
            };
            if report.partial {
                bar.interrupted();
            } else {
                bar.finish();
            }
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
            let mut files = vec![
                ("result.json", report.to_json()),
                ("result.csv", report.to_csv()),
            ];
            if let Some(t) = &timeline {
                if t.window != t.asked && !quiet {
                    eprintln!(
                        "note: --timeline {}: more than {} windows per core, so windows of {} accesses (timeline.csv and the plots say so)",
                        t.asked,
                        progress::group(mmusim::timeline::MAX_WINDOWS as u64),
                        t.window
                    );
                }
                files.push(("timeline.csv", t.to_csv()));
                let title = format!(
                    "TLB hit rate, {} on {}, windows of {} accesses",
                    inputs.workload.name, inputs.system.name, t.window
                );
                files.push(("timeline.svg", t.to_svg(&title)));
                let title = format!(
                    "Resident memory, {} on {}",
                    inputs.workload.name, inputs.system.name
                );
                files.push(("memory.svg", t.memory_svg(&title)));
            }
            // One set: a reader of the folder never sees a new result.json beside an
            // old result.csv (issue 17 item 8).
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_bytes())).collect();
            if let Err(e) = write_set(&dir, &files) {
                // The simulation is done: its summary is kept on the terminal even when
                // the folder cannot take it (a full or failing disk); the folder keeps
                // whatever set it held before (`report::result_set`).
                print!("{}", report.to_table());
                return fail(&[format!(
                    "{}: {e}: the results above were not written (the folder keeps its earlier files, if any)",
                    dir.display()
                )]);
            }
            let acc = report.stats.total.accesses;
            if !quiet {
                print!("{}", report.to_table());
                println!(
                    "\nsimulated {acc} accesses in {secs:.2} s ({:.1} M accesses/s); results in {}",
                    acc as f64 / secs.max(1e-9) / 1e6,
                    dir.display()
                );
            }
            if report.partial {
                // Said even with -q: the files are not what the command was asked for.
                let planned = match bar.total() {
                    0 => String::new(),
                    t => format!(" of {}", progress::group(t)),
                };
                let msg = format!(
                    "PARTIAL: stopped by Ctrl-C after {}{planned} accesses; result.json says \"partial\": true",
                    progress::group(report.stats.total.accesses)
                );
                if quiet {
                    eprintln!("{msg}");
                } else {
                    println!("{msg}");
                }
                return ExitCode::from(EXIT_INTERRUPTED);
            }
            ExitCode::SUCCESS
        }
    }
}
