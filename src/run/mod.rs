//! One simulation run from files to report: the library side of `mmusim run`.
//!
//! In: a system config (file or built-in preset name), a workload file, and `--set`
//! overrides (keys starting with `workload.` edit the workload, all others the system).
//! Out: a [`RunReport`], or every problem found as `file:line: key.path: message`.
//! Sweeps and tests call this the same way the command line does.

use crate::config::{SystemConfig, Warmup};
use crate::loader::{load_under, ConfigError};
use crate::os::frames::FrameAllocator;
use crate::pagetable::{with_design, DesignVisitor, PageTable};
use crate::report::RunReport;
use crate::sim::{Simulator, TimelinePoint};
use crate::timeline::Timeline;
use crate::workload::{Generator, WorkloadSpec};
use crate::SimError;
pub use given::{
    json_to_toml, load_given, load_given_ahead, preset_titles, with_trace_format, AddressTrace,
    Given,
};
use warmup::resolve_warmup;
pub use warmup::Counting;

mod given;
mod warmup;

/// Built-in system presets (the files of `configs/`, embedded in the binary).
pub const PRESETS: &[(&str, &str)] = &[
    ("skylake", include_str!("../../configs/skylake.toml")),
    ("icelake", include_str!("../../configs/icelake.toml")),
    ("zen4", include_str!("../../configs/zen4.toml")),
    (
        "skylake-inverted",
        include_str!("../../configs/skylake-inverted.toml"),
    ),
    (
        "skylake-htab",
        include_str!("../../configs/skylake-htab.toml"),
    ),
    (
        "skylake-clustered",
        include_str!("../../configs/skylake-clustered.toml"),
    ),
    (
        "skylake-cuckoo",
        include_str!("../../configs/skylake-cuckoo.toml"),
    ),
    (
        "skylake-flattened",
        include_str!("../../configs/skylake-flattened.toml"),
    ),
    ("skylake-vm", include_str!("../../configs/skylake-vm.toml")),
    (
        "skylake-vm-shadow",
        include_str!("../../configs/skylake-vm-shadow.toml"),
    ),
    ("icelake-vm", include_str!("../../configs/icelake-vm.toml")),
    (
        "skylake-vm-cuckoo",
        include_str!("../../configs/skylake-vm-cuckoo.toml"),
    ),
    ("skylake-ds", include_str!("../../configs/skylake-ds.toml")),
    (
        "skylake-colt",
        include_str!("../../configs/skylake-colt.toml"),
    ),
    (
        "skylake-pom",
        include_str!("../../configs/skylake-pom.toml"),
    ),
    (
        "skylake-victima",
        include_str!("../../configs/skylake-victima.toml"),
    ),
    (
        "skylake-rmm",
        include_str!("../../configs/skylake-rmm.toml"),
    ),
    (
        "skylake-utopia",
        include_str!("../../configs/skylake-utopia.toml"),
    ),
    (
        "skylake-spectlb",
        include_str!("../../configs/skylake-spectlb.toml"),
    ),
    (
        "skylake-asap",
        include_str!("../../configs/skylake-asap.toml"),
    ),
];

/// The workload used when none is given.
pub const DEFAULT_WORKLOAD: &str = include_str!("../../workloads/default.toml");

/// Decoded, validated inputs of a run.
#[derive(Clone, Debug)]
pub struct Inputs {
    pub system: SystemConfig,
    pub workload: WorkloadSpec,
    /// Folder of the workload file: relative trace paths start here.
    pub workload_dir: std::path::PathBuf,
    /// How `system.sim.warmup_accesses` (resolved here, `Auto` only while `counting`)
    /// was chosen.
    pub warmup_rule: String,
    /// An automatic warm-up still being counted ([`load_inputs_for_run`]): the run
    /// learns it as it goes, and its report gives it.
    pub counting: Option<Counting>,
    /// The system config as given: a preset's name or a file's path (for reports).
    pub system_file: String,
}

/// A workload file for `--trace FILE`: the whole trace, in `format` (`Auto`: detected).
pub fn trace_workload_text(trace: &str, format: crate::trace::TraceFormat) -> String {
    let stem = std::path::Path::new(trace)
        .file_name()
        .map_or("trace".into(), |n| n.to_string_lossy().into_owned());
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    format!(
        "name = {}\n[generator]\nkind = \"trace\"\npath = {}\nformat = \"{format}\"\n",
        q(&stem),
        q(trace)
    )
}

/// Load a system config. A file may start from another with `extends = "PRESET or
/// path"` (relative to the file that says it; see [`crate::loader::resolve_extends`])
/// and give only the keys it changes; overrides apply after the merge. Errors in keys
/// the file itself sets name its lines. Not validated: the caller runs
/// [`SystemConfig::validate`] (public for the fuzz targets and tests that feed config
/// text without a file).
pub fn load_system(
    file: &str,
    text: &str,
    sets: &[String],
) -> Result<(SystemConfig, crate::loader::ConfigSource), ConfigError> {
    let mut src = crate::loader::ConfigSource::parse(file, text)?;
    src.set_roles(crate::config::TLB_ROLES);
    crate::loader::resolve_extends(&mut src, PRESETS)?;
    for o in sets {
        src.apply_override(o)?;
    }
    // `[pom_tlb]` becomes its `[[tlb]]` structures.
    crate::config::pom_tlb::expand(src.tree_mut()).map_err(|(p, m)| src.error_at(&p, m))?;
    let value = src.decode()?;
    Ok((value, src))
}

/// Load, override, decode and validate both inputs. `config` and `workload` are paths
/// (or a preset name for `config`); `None` takes the defaults.
pub fn load_inputs(
    config: Option<&str>,
    workload: Option<&str>,
    sets: &[String],
) -> Result<Inputs, Vec<ConfigError>> {
    load_inputs_with(config, workload, None, sets)
}

/// [`Given::Path`] for each path given.
fn paths<'a>(config: Option<&'a str>, workload: Option<&'a str>) -> [Option<Given<'a>>; 2] {
    [config.map(Given::Path), workload.map(Given::Path)]
}

/// As [`load_inputs`], with `trace` (a trace file, `-` for standard input) in place of a
/// workload file.
pub fn load_inputs_with(
    config: Option<&str>,
    workload: Option<&str>,
    trace: Option<&str>,
    sets: &[String],
) -> Result<Inputs, Vec<ConfigError>> {
    let [config, workload] = paths(config, workload);
    load(config, workload, trace, sets, false)
}

/// [`load_inputs_with`] for one run of the inputs ([`simulate`]): an automatic warm-up
/// of a compressed trace is counted on the thread that decodes the trace once for the
/// count and the run (`counting`), instead of by a decode of its own before the run.
pub fn load_inputs_for_run(
    config: Option<&str>,
    workload: Option<&str>,
    trace: Option<&str>,
    sets: &[String],
) -> Result<Inputs, Vec<ConfigError>> {
    let [config, workload] = paths(config, workload);
    load(config, workload, trace, sets, true)
}

fn load(
    config: Option<Given>,
    workload: Option<Given>,
    trace: Option<&str>,
    sets: &[String],
    late: bool,
) -> Result<Inputs, Vec<ConfigError>> {
    let (sys_file, sys_text) = match config {
        Some(c) => c
            .read(PRESETS)
            .map(|(f, t, _)| (f, t))
            .map_err(|e| vec![e])?,
        None => ("<preset skylake>".to_string(), PRESETS[0].1.to_string()),
    };
    let mut workload_dir = std::path::PathBuf::new();
    let (wl_file, wl_text) = match (workload, trace) {
        (Some(_), Some(_)) => {
            return Err(vec![ConfigError {
                file: "--trace".into(),
                line: None,
                path: String::new(),
                msg: "give a workload file or a trace, not both".into(),
            }])
        }
        (Some(w), None) => {
            let (file, text, dir) = w.read(&[]).map_err(|e| vec![e])?;
            workload_dir = dir;
            (file, text)
        }
        (None, Some(t)) => (
            format!("--trace {t}"),
            trace_workload_text(t, crate::trace::TraceFormat::Auto),
        ),
        (None, None) => (
            "<default workload>".to_string(),
            DEFAULT_WORKLOAD.to_string(),
        ),
    };
    let (wl_sets, sys_sets): (Vec<String>, Vec<String>) = sets
        .iter()
        .cloned()
        .partition(|s| s.starts_with("workload."));
    let wl_sets: Vec<String> = wl_sets
        .iter()
        .map(|s| s["workload.".len()..].to_string())
        .collect();

    let mut errors = Vec::new();
    let sys = load_system(&sys_file, &sys_text, &sys_sets);
    let wl = load_under::<WorkloadSpec>("workload.", &wl_file, &wl_text, &wl_sets);
    let (system, workload) = match (sys, wl) {
        (Ok(s), Ok(w)) => (s, w),
        (s, w) => {
            errors.extend(s.err());
            errors.extend(w.err());
            return Err(errors);
        }
    };
    let (mut system, sys_src) = system;
    let (workload, wl_src) = workload;
    // A thousand bad structures are a thousand problems of one kind: shown up to a few.
    for (path, msg) in crate::loader::cap_problems(system.validate()) {
        errors.push(sys_src.error_at(&path, msg));
    }
    let wl_errors = crate::loader::cap_problems(workload.validate());
    for (path, msg) in &wl_errors {
        errors.push(wl_src.error_at(path, msg.clone()));
    }
    if errors.is_empty() {
        // Before the run, so the error names the workload file and line, not the trace
        // alone (`--trace FILE` has no workload file: the flag is named).
        for (key, msg) in missing_traces(&workload, &workload_dir) {
            errors.push(match trace {
                Some(t) => ConfigError {
                    file: format!("--trace {t}"),
                    line: None,
                    path: String::new(),
                    msg,
                },
                None => wl_src.error_at(&key, msg),
            });
        }
    }
    if errors.is_empty() {
        // Checks that need both files.
        let va_bits = system.page_table.va_bits();
        let reach = 1u64 << va_bits;
        let end = workload
            .generator
            .footprint()
            .and_then(|f| workload.base.checked_add(f));
        let is_trace = matches!(workload.generator, Generator::Trace { .. });
        match end {
            Some(end) if end <= reach => {}
            // A trace's addresses are checked as it is read.
            None if is_trace => {}
            _ => errors.push(wl_src.error_at(
                "base",
                format!(
                    "the workload's addresses reach {}, beyond the {}-bit virtual address space of the page table ({})",
                    end.map_or("past 2^64".to_string(), |e| format!("{e:#x}")),
                    va_bits,
                    sys_src.file
                ),
            )),
        }
        if let Generator::Trace { paths, .. } = &workload.generator {
            let procs = system.os.tasks(system.sim.cores);
            if !paths.is_empty() && paths.len() != procs as usize {
                errors.push(wl_src.error_at(
                    "generator.paths",
                    format!(
                        "lists {} traces for {procs} tasks (one per core unless os.sched.processes or threads say otherwise, in {})",
                        paths.len(),
                        sys_src.file
                    ),
                ));
            }
        }
        if let Some(e) = footprint_check(&system, &workload) {
            errors.push(wl_src.error_at(e.0, format!("{} (os.phys_mem in {})", e.1, sys_src.file)));
        }
        // A host's event needs a host whose table it can change.
        let nested =
            (system.virt.as_ref()).is_some_and(|v| v.mode == crate::config::VirtMode::Nested);
        if let Some(i) = (workload.events.iter())
            .position(|e| e.kind == crate::workload::EventKind::HostMigrate)
            .filter(|_| !nested)
        {
            errors.push(wl_src.error_at(
                &format!("event[{i}].kind"),
                format!(
                    "host_migrate moves host pages under a virtualized machine with nested paging, and {} is {}",
                    sys_src.file,
                    if system.virt.is_some() { "shadow paging (shadow entries over moved pages are not modelled)" } else { "native (no host)" }
                ),
            ));
        }
        // The warm-up counts a core's accesses: every task it runs (c, c + cores, ...).
        let (tasks, cores) = (system.os.tasks(system.sim.cores), system.sim.cores.max(1));
        let per_core = workload.accesses_per_core() * u64::from((tasks / cores).max(1));
        let set = system.sim.warmup_accesses.accesses();
        // A trace's length is known only once read (per_core is 0 then, unless capped).
        if system.sim.warmup_accesses != Warmup::Auto && set > 0 && per_core > 0 && set >= per_core
        {
            errors.push(sys_src.error_at(
                "sim.warmup_accesses",
                format!(
                    "{set} warm-up accesses leave nothing to measure: the workload has {per_core} per core"
                ),
            ));
        }
    }
    let mut warmup_rule = String::from("set");
    let set = system.sim.warmup_accesses.accesses();
    if errors.is_empty() && set > 0 && matches!(workload.generator, Generator::Trace { .. }) {
        // A warm-up set by hand against a trace: the trace is counted (as for "auto")
        // and a warm-up that leaves nothing to measure is refused, as for generators.
        let tasks_cores = (system.os.tasks(system.sim.cores), system.sim.cores);
        match resolve_warmup(&workload, &workload_dir, tasks_cores) {
            Ok((_, _, Some(shortest))) if set >= shortest => errors.push(sys_src.error_at(
                "sim.warmup_accesses",
                format!(
                    "{set} warm-up accesses leave nothing to measure: the trace gives {shortest} per core ({})",
                    wl_src.file
                ),
            )),
            Ok(_) => {}
            Err(e) => errors.push(wl_src.error_at("generator", e)),
        }
    }
    let tasks_cores = (system.os.tasks(system.sim.cores), system.sim.cores);
    let mut counting = None;
    if late && errors.is_empty() && system.sim.warmup_accesses == Warmup::Auto {
        let error = wl_src.error_at("generator", "");
        counting = warmup::counting(&workload, &workload_dir, tasks_cores, error);
        if counting.is_some() {
            warmup_rule = "auto: counted during the run".into();
        }
    }
    if errors.is_empty() && counting.is_none() && system.sim.warmup_accesses == Warmup::Auto {
        match resolve_warmup(&workload, &workload_dir, tasks_cores) {
            Ok((n, rule, _)) => {
                system.sim.warmup_accesses = Warmup::Accesses(n);
                warmup_rule = rule;
            }
            Err(e) => errors.push(wl_src.error_at("generator", e)),
        }
    }
    if errors.is_empty() {
        Ok(Inputs {
            system,
            workload,
            workload_dir,
            warmup_rule,
            counting,
            system_file: config.map_or(PRESETS[0].0, |c| c.name()).to_string(),
        })
    } else {
        Err(errors)
    }
}

/// The trace files `workload` names (relative to `dir`) that are not there, are folders,
/// or are not files (a named pipe, a device), as (key path, message). Only looked at,
/// not opened: a named pipe given as a trace would lose what its writer sent to a reader
/// that only checks. A pipe is refused because a trace file is opened more than once
/// (its format and length are looked at before the run reads it), which a pipe's bytes
/// do not survive: it waited for ever. Standard input (`-`) is the way to stream one.
fn missing_traces(workload: &WorkloadSpec, dir: &std::path::Path) -> Vec<(String, String)> {
    let Generator::Trace { path, paths, .. } = &workload.generator else {
        return Vec::new();
    };
    let named = (path.iter().map(|p| ("generator.path".to_string(), p)))
        .chain((paths.iter().enumerate()).map(|(i, p)| (format!("generator.paths[{i}]"), p)));
    named
        .filter(|(_, p)| p.as_str() != "-")
        .filter_map(|(key, p)| {
            let full = dir.join(p);
            let problem = match std::fs::metadata(&full) {
                Ok(m) if m.is_dir() => "a folder, not a file".to_string(),
                Ok(m) if !m.is_file() => format!(
                    "a pipe or device, not a file: mmusim opens a trace more than once (to look at its format and length, then to run it), which a pipe's bytes do not survive; stream it on standard input instead (`--trace - < {}`, or `path = \"-\"`)",
                    full.display()
                ),
                Ok(_) => return None,
                Err(e) => e.to_string(),
            };
            Some((
                key,
                format!("cannot read trace {}: {problem}", full.display()),
            ))
        })
        .collect()
}

/// A workload whose pages cannot all be resident at once, on a system that cannot evict
/// (no `os.paging.replacement`): refused before the run rather than failing when memory
/// runs out. The footprint is what a stream can touch: the generator's range, or one
/// 4 KiB page per access if fewer (a reference string's distinct pages; a trace's is
/// not known ahead), or the largest populated `mmap`, per address space.
fn footprint_check(
    system: &SystemConfig,
    workload: &WorkloadSpec,
) -> Option<(&'static str, String)> {
    if system.os.paging.replacement.is_some() {
        return None;
    }
    // Each access touches at most one new page, and at least a 4 KiB one (huge pages
    // may fall back or be demoted, so a run that fits in 4 KiB pages is let through);
    // the threads of a process touch its one address space.
    let threads = system.os.sched.threads.max(1) as u64;
    let touched = (workload.accesses_per_core())
        .saturating_mul(threads)
        .saturating_mul(4096);
    let range = match &workload.generator {
        Generator::Refs { refs, page_size } => {
            let distinct: std::collections::BTreeSet<u64> = refs.0.iter().copied().collect();
            (distinct.len() as u64).saturating_mul(page_size.bytes())
        }
        g => g.footprint().unwrap_or(0).min(touched),
    };
    // Populated ranges are mapped whole: their union (events of every stream apply to
    // the stream's own address space, so a union per space; one space's is the bound).
    let mut spans: Vec<(u64, u64)> = (workload.events.iter())
        .filter(|e| e.kind == crate::workload::EventKind::Mmap && e.populate == Some(true))
        .filter_map(|e| {
            let start = e
                .addr
                .or_else(|| e.offset.map(|o| workload.base.saturating_add(o.0)))?;
            Some((start, start.saturating_add(e.len?.0)))
        })
        .collect();
    spans.sort_unstable();
    let (mut populated, mut reach) = (0u64, 0u64);
    for (a, b) in spans {
        let a = a.max(reach);
        if b > a {
            populated += b - a;
            reach = b;
        }
    }
    // Page tables come from the same memory: at least 8 bytes of leaf entry per 4 KiB
    // page (radix; hashed designs' tables are allocated at start from it too).
    let data = range.max(populated);
    let per_space = data.saturating_add(data / 512);
    // Each VM's guest-physical memory holds its own processes' (the most any VM has:
    // VMs take consecutive blocks of processes, so ceil(processes / VMs)).
    let vms = system.virt.as_ref().map_or(1, |v| v.vms.max(1)) as u64;
    let spaces = (system.os.processes(system.sim.cores) as u64).div_ceil(vms);
    let need = per_space.saturating_mul(spaces);
    let have = system.os.phys_mem.0;
    (need > have).then(|| {
        let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
        let key = if populated > range { "event" } else { "generator.footprint" };
        (
            key,
            format!(
                "the workload can touch up to {:.2} GiB ({:.2} GiB with its page tables x {spaces} address space(s)) but physical memory is {:.2} GiB and page replacement is off: raise os.phys_mem, shrink the footprint or the accesses, or set os.paging.replacement",
                gib(need),
                gib(per_space),
                gib(have)
            ),
        )
    })
}

/// Accesses beyond which `run` warns before it starts (issue 17 item 15: 10^12 accesses
/// started without a word and would run for days).
pub const LONG_RUN_ACCESSES: u64 = 10_000_000_000;

/// A warning for a run of more than [`LONG_RUN_ACCESSES`] accesses (all streams), with
/// the time it will take at the rates runs reach (1 to 5 million accesses a second);
/// `None` for shorter runs and traces (whose length is not known ahead).
pub fn long_run_warning(inputs: &Inputs) -> Option<String> {
    let tasks = u64::from(inputs.system.os.tasks(inputs.system.sim.cores).max(1));
    let total = inputs.workload.accesses_per_core().saturating_mul(tasks);
    if total <= LONG_RUN_ACCESSES {
        return None;
    }
    let hours = |rate: f64| {
        let h = total as f64 / rate / 3600.0;
        if h >= 48.0 {
            format!("{:.0} days", h / 24.0)
        } else {
            format!("{h:.1} hours")
        }
    };
    Some(format!(
        "{} accesses will take about {} to {} (at 5 to 1 million accesses a second); progress is shown as the run goes, and Ctrl-C stops it with a partial result",
        crate::progress::group(total),
        hours(5e6),
        hours(1e6)
    ))
}

/// Run the simulation; `progress(done, total)` is called after every batch.
pub fn simulate(
    inputs: &Inputs,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<RunReport, SimError> {
    simulate_with(inputs, None, progress).map(|(r, _)| r)
}

/// [`simulate`], also recording a [`Timeline`] of `timeline` accesses per window (at
/// least 1) when asked. The report is the same either way.
pub fn simulate_with(
    inputs: &Inputs,
    timeline: Option<u64>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunReport, Option<Timeline>), SimError> {
    let opts = RunOptions {
        timeline,
        stop: None,
    };
    simulate_opts(inputs, &opts, progress)
}

/// How a run is run, beyond its inputs.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Record a [`Timeline`] of this many accesses per window (at least 1).
    pub timeline: Option<u64>,
    /// A stop flag (e.g. [`crate::progress::stop_flag`]): once set, the run ends at the
    /// next batch boundary and its report says `partial`.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl RunOptions {
    /// No timeline; stopped by Ctrl-C (the process-wide [`crate::progress::stop_flag`]).
    pub fn stoppable() -> RunOptions {
        RunOptions {
            timeline: None,
            stop: Some(crate::progress::stop_flag()),
        }
    }
}

/// [`simulate_with`], with a stop flag: a run stopped by it returns the report of what
/// it simulated, with `partial` set.
pub fn simulate_opts(
    inputs: &Inputs,
    opts: &RunOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunReport, Option<Timeline>), SimError> {
    simulate_recording(inputs, opts, None, progress).map(|r| (r.0, r.1))
}

/// [`simulate_opts`], recording with `record = Some(i)` the reference stream of TLB
/// structure `tlb[i]` (below level 1) of core 0 ([`crate::tlb::TlbRecord`]), which the
/// one-pass geometry sweep answers every geometry of that TLB from.
pub fn simulate_recording(
    inputs: &Inputs,
    opts: &RunOptions,
    record: Option<usize>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<(RunReport, Option<Timeline>, Option<crate::tlb::TlbRecord>), SimError> {
    let timeline = opts.timeline;
    if timeline == Some(0) {
        return Err(SimError(
            "--timeline 0: a window holds at least one access".into(),
        ));
    }
    let procs = inputs.system.os.tasks(inputs.system.sim.cores) as usize;
    // A warm-up counted during the run: the run reads the bytes its count decodes.
    let counted = inputs.counting.as_ref();
    let sources = (0..procs)
        .map(|c| {
            let decoded = counted.filter(|_| c == 0).and_then(|k| k.trace.reader());
            inputs.workload.open_with(c, &inputs.workload_dir, decoded)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SimError(e.msg));
    // Forked children's accesses are not known ahead: the bar counts the streams at start.
    let total = inputs.workload.accesses_per_core() * procs as u64;
    let run = Run {
        sys: &inputs.system,
        total,
        timeline,
        inputs,
        stop: opts.stop.clone(),
        record: record.map(|t| (t, Default::default())),
    };
    // The design is chosen here, once: everything below is monomorphic in it.
    let outcome = sources.and_then(|sources| {
        with_design(
            &inputs.system.page_table,
            &inputs.system.os,
            Design {
                run: &run,
                sources,
                progress,
            },
        )
    });
    // A warm-up counted during the run is known once the count is, which the run waits
    // for however it ended: a corrupt stream may reach the run before the count fails
    // on it (its checksum is checked at the end of a block), and then the count's
    // error, which names the file and the codec, is the run's (`trace::predecode`).
    // A run that Ctrl-C stopped does not wait for the rest of a long trace's decode.
    let mut resolved = None;
    if let Some(k) = counted {
        let stopped = matches!(&outcome, Ok((_, _, true)));
        let settled = if stopped {
            k.settle_stopped()
        } else {
            k.settle()
        };
        let (warmup, rule) = settled.map_err(SimError)?;
        let mut sys = inputs.system.clone();
        sys.sim.warmup_accesses = Warmup::Accesses(warmup);
        resolved = Some((sys, rule));
    }
    let (stats, points, partial) = outcome?;
    let (sys, rule) = match &resolved {
        Some((sys, rule)) => (sys, rule),
        None => (&inputs.system, &inputs.warmup_rule),
    };
    let has_l2 = sys.tlb.iter().any(|t| t.level == 2);
    let timeline = timeline.map(|asked| {
        let mut t = Timeline::from_points(points.0.max(asked), has_l2, &points.1);
        t.asked = asked;
        t
    });
    let mut report = RunReport::new(sys, &inputs.workload, sys.sim.seed, &stats);
    report.warmup.rule = rule.clone();
    report.config_file = inputs.system_file.clone();
    report.partial = partial;
    let recorded = run.record.and_then(|r| r.1.into_inner());
    Ok((report, timeline, recorded))
}

struct Run<'a> {
    sys: &'a SystemConfig,
    total: u64,
    timeline: Option<u64>,
    inputs: &'a Inputs,
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The TLB structure whose references to record, and where the recording goes.
    record: Option<(usize, std::cell::RefCell<Option<crate::tlb::TlbRecord>>)>,
}

/// A run's statistics, timeline window and points, and whether the stop flag ended it.
type Outcome = (crate::sim::RunStats, (u64, Vec<Vec<TimelinePoint>>), bool);

/// Every 4 KiB page number core `core`'s stream will access, read from a second copy
/// of its source (OPT replacement looks ahead over the whole stream).
fn read_ahead(inputs: &Inputs, core: usize) -> Result<Vec<u64>, SimError> {
    if let crate::workload::Generator::Trace { path, paths, .. } = &inputs.workload.generator {
        if path.as_deref() == Some("-") || paths.iter().any(|p| p == "-") {
            return Err(SimError(
                "os.paging.replacement = \"opt\" reads the workload twice (once ahead of the run), which standard input cannot be: give the trace as a file".into(),
            ));
        }
    }
    let mut src = inputs
        .workload
        .open(core, &inputs.workload_dir)
        .map_err(|e| SimError(e.msg))?;
    let mut vpns = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        src.fill(&mut buf, 4096).map_err(|e| SimError(e.msg))?;
        if buf.is_empty() {
            return Ok(vpns);
        }
        vpns.extend(buf.iter().map(|a| a.vaddr >> 12));
    }
}

/// A run of the configured design (see [`with_design`]).
struct Design<'a, 'p> {
    run: &'a Run<'a>,
    sources: Vec<Box<dyn crate::workload::AccessSource>>,
    progress: &'p mut dyn FnMut(u64, u64),
}

impl DesignVisitor for Design<'_, '_> {
    type Out = Result<Outcome, SimError>;
    fn visit<PT: PageTable>(
        self,
        make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> Self::Out {
        self.run.design(self.sources, self.progress, make)
    }
}

impl Run<'_> {
    fn design<PT: PageTable>(
        &self,
        sources: Vec<Box<dyn crate::workload::AccessSource>>,
        progress: &mut dyn FnMut(u64, u64),
        make: impl FnMut(&mut FrameAllocator) -> Result<PT, SimError>,
    ) -> Result<Outcome, SimError> {
        let mut sim = Simulator::build(self.sys, sources, make)?;
        let procs = self.sys.os.tasks(self.sys.sim.cores);
        if let Some((i, e)) = (self.inputs.workload.events.iter().enumerate())
            .find(|(_, e)| e.core.is_some_and(|c| c >= procs))
        {
            return Err(SimError(format!(
                "workload event[{i}].core = {}: the run has {procs} stream(s), one per task (sim.cores, os.sched.processes, os.sched.threads)",
                e.core.unwrap_or(0)
            )));
        }
        for p in 0..procs as usize {
            sim.set_events(p, self.inputs.workload.events_for(p));
        }
        let w = &self.inputs.workload;
        if let Some(end) = (w.generator.footprint()).and_then(|f| w.base.checked_add(f)) {
            // Eager paging's mapping for a generator without mmap events (os.rmm).
            sim.set_heap(w.base, end);
        }
        if sim.needs_future() {
            for p in 0..procs as usize {
                sim.set_future(p, &read_ahead(self.inputs, p)?)?;
            }
        }
        // A forked child runs stream `index` of the same generator, capped.
        let spec = self.inputs.workload.clone();
        sim.set_spawner(Box::new(move |index, accesses| {
            let mut child = spec.clone();
            child.accesses = accesses;
            child.events.clear();
            Ok(child.source(index))
        }));
        if let Some(k) = &self.inputs.counting {
            sim.set_late_warmup(std::sync::Arc::new(k.clone()));
        }
        if let Some(w) = self.timeline {
            sim.set_timeline(w);
        }
        if let Some(flag) = &self.stop {
            sim.set_stop(flag.clone());
        }
        if let Some((tlb, _)) = &self.record {
            sim.record_tlb(*tlb)?;
        }
        let total = self.total;
        sim.run(&mut |done| progress(done, total))?;
        if let Some((_, out)) = &self.record {
            *out.borrow_mut() = sim.take_tlb_record();
        }
        Ok((sim.stats(), sim.timeline(), sim.interrupted()))
    }
}
