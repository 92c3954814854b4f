//! Committed studies: every (system, workload) pair of a spec, one CSV, one plot per metric.
//!
//! In: a study spec (TOML) naming systems (a config file or preset plus `--set`
//! overrides) and workloads (a workload file plus overrides), and the metrics to plot.
//! Out, in the spec's folder (or `--out`): `results.csv` with a row per pair and a column
//! per metric (written with the `csv` crate: a name with a comma is quoted), and
//! `<metric>.svg` bar charts (a panel per workload with its own axis, a bar per
//! system), all written atomically. Runs go out on all cores; the files do not depend on
//! how many. Parallel resumable sweeps over config axes are a later, larger tool.

use crate::report::{write_atomic, RunReport};
use crate::run::{load_inputs, simulate_opts, RunOptions};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudySpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub system: Vec<Variant>,
    pub workload: Vec<Variant>,
    /// Metrics (names from [`METRICS`]) to put in the CSV and plot.
    pub metrics: Vec<String>,
}

/// A system or a workload: a file (or preset, for systems) and overrides.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    pub name: String,
    /// Config file or preset (systems); workload file (workloads). Relative to the spec.
    pub file: String,
    #[serde(default)]
    pub set: Vec<String>,
    /// Workloads only: system overrides that go with this workload (a point of an axis
    /// such as the core count, which lives in the system config), after the system's.
    #[serde(default)]
    pub system_set: Vec<String>,
    /// Systems only: the key whose refusal is a result, not a mistake (a direct segment
    /// that finds no contiguous memory under fragmentation: `os.direct_segment.len`). A
    /// run this system refuses with an error naming that key first becomes a row with
    /// empty cells and the reason in a `refused` column, and draws no bar; any other
    /// error, and every config error, still stops the study.
    #[serde(default)]
    pub may_refuse: Option<String>,
}

/// Metric name, axis label, and where it lives in the run's JSON (`stats.total`).
pub const METRICS: &[(&str, &str, &str)] = &[
    ("walks", "page walks", "/walks/walks"),
    ("walks_pki", "page walks per 1000 instructions", ""),
    (
        "cpi",
        "cycles per instruction (base CPI, translation and fault stalls)",
        "",
    ),
    (
        "stlb_mpki",
        "level-2 TLB (STLB) misses per 1000 instructions",
        "/tlb_levels/1/mpki",
    ),
    (
        "reads_per_walk",
        "page-table cache-line reads per walk",
        "/walks/pte_reads_per_walk",
    ),
    (
        "dram_reads_per_walk",
        "page-table reads served by DRAM per walk",
        "",
    ),
    (
        "walk_latency_mean",
        "mean walk latency (cycles)",
        "/walks/latency/mean",
    ),
    (
        "walk_latency_p99",
        "99th-percentile walk latency (cycles)",
        "/walks/latency/p99",
    ),
    (
        "translation_share",
        "share of cycles stalled on translation",
        "/translation_share",
    ),
    (
        "translation_cycles_per_access",
        "translation cycles per access",
        "/translation_cycles_per_access",
    ),
    ("page_table_bytes", "page-table memory (bytes)", ""),
    ("minor_faults", "page faults", "/minor_faults"),
    (
        "huge_pages_2m",
        "2M pages mapped (at fault or by promotion)",
        "/huge_pages/faults_2m",
    ),
    (
        "reserved_mib",
        "memory reserved at boot (POM-TLB entries; Utopia's RestSeg and tag array), outside the OS's (MiB)",
        "",
    ),
    ("mapped_mib", "resident memory mapped by faults (MiB)", ""),
    (
        "prefetch_coverage",
        "TLB prefetching's coverage (last-level misses the buffer served)",
        "/prefetch/coverage",
    ),
    (
        "prefetch_accuracy",
        "TLB prefetching's accuracy (prefetched translations used)",
        "/prefetch/accuracy",
    ),
    (
        "prefetch_late_share",
        "late prefetches (share of buffer hits still in flight)",
        "/prefetch/late_share",
    ),
    (
        "spectlb_overlapped_share",
        "SpecTLB: share of last-level misses overlapped with correct speculation",
        "/spectlb/overlapped_walk_share",
    ),
    (
        "spectlb_misprediction_rate",
        "SpecTLB: mispredictions per last-level miss",
        "/spectlb/misprediction_rate",
    ),
    (
        "pte_reads_pki",
        "page-table reads per 1000 instructions (demand and prefetch walks)",
        "",
    ),
    (
        "phys_mib",
        "physical memory in use: pages, reservations, tables (MiB)",
        "",
    ),
    (
        "fault_cycles_per_access",
        "fault and promotion cycles per access",
        "",
    ),
    (
        "walk_cycles_per_access",
        "walk cycles per access (walk caches, PTE reads, waits)",
        "",
    ),
    (
        "page_table_evictions",
        "translations evicted by the page table",
        "/page_table_evictions",
    ),
    (
        "shootdown_initiator_cycles",
        "cycles the initiator waits per shootdown",
        "",
    ),
    (
        "shootdown_remote_cycles",
        "cycles all targets spend per shootdown",
        "",
    ),
    (
        "shootdown_share",
        "share of all cycles spent on shootdowns",
        "/shootdown/share_of_cycles",
    ),
    ("shootdowns", "TLB shootdowns", "/shootdown/shootdowns"),
    (
        "stale_hits",
        "hits on changed translations before the IPI came",
        "/shootdown/stale_hits",
    ),
    // Virtualization (`[virt]`, `stats.total.virt`). A native run has no `virt` object:
    // it makes no host references, takes no VM exits and is never preempted by a host,
    // so these are 0 there, and `refs_per_walk` is its walks' own reads.
    (
        "refs_per_walk",
        "memory references per page walk (both dimensions when nested)",
        "",
    ),
    (
        "host_refs_per_walk",
        "host-table (EPT) references per page walk",
        "",
    ),
    (
        "vm_exits",
        "VM exits (EPT violations, IPI sends, hypercalls, kicks)",
        "",
    ),
    (
        "exit_cycles_per_access",
        "VM-exit cycles per access (EPT violations while translating)",
        "",
    ),
    (
        "host_fault_cycles_per_access",
        "host fault cycles per access (backing guest memory)",
        "",
    ),
    (
        "splintered_fills",
        "TLB fills of a guest huge page splintered by 4K host pages",
        "",
    ),
    (
        "preempted_share",
        "share of vCPU cycles preempted by the host",
        "",
    ),
    (
        "vipi_exits_per_shootdown",
        "VM exits the initiator takes per guest shootdown",
        "",
    ),
    (
        "vm_switch_share",
        "share of cycles in VM switches (exit and host switch)",
        "",
    ),
    (
        "vpid_flushes",
        "flushes of a vCPU's TLB entries for want of a VPID",
        "",
    ),
];

/// A virtualization metric of `t` (`None`: not one of them).
fn virt_metric(t: &crate::report::CoreReport, name: &str) -> Option<f64> {
    let per = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let v = t.virt.as_ref();
    let h = v.map(|v| &v.hypervisor);
    let hv = |f: fn(&crate::virt::VirtStats) -> u64| h.map_or(0, f);
    Some(match name {
        // Natively and under shadow paging (no nested walk), the walk's own reads.
        "refs_per_walk" => match v {
            Some(v) if v.nested_walks > 0 => v.refs_per_walk,
            _ => t.walks.pte_reads_per_walk,
        },
        "host_refs_per_walk" => v.map_or(0.0, |v| {
            let host = v.host_refs_for_guest_entries + v.host_refs_for_data;
            per(host, v.nested_walks)
        }),
        "vm_exits" => {
            // Every cause `exits` and shadow paging's `shadow.exits` list (summed from
            // their fields, so a cause added there counts here too), the guest OS's own
            // at events, the shootdowns' and the host flushes' kicks.
            let sum = |e: Option<serde_json::Value>| -> u64 {
                (e.as_ref().and_then(|e| e.as_object()))
                    .map_or(0, |o| o.values().filter_map(|x| x.as_u64()).sum())
            };
            let causes = sum(h.and_then(|h| serde_json::to_value(&h.exits).ok()))
                + sum(h.and_then(|h| serde_json::to_value(&h.shadow.exits).ok()));
            (causes
                + hv(|h| h.event_ept_violations)
                + hv(|h| h.vipi_send_exits + h.vipi_hypercall_exits + h.vipi_kicks)
                + hv(|h| h.host_kicks + h.vm_switches)) as f64
        }
        "exit_cycles_per_access" => per(hv(|h| h.exit_cycles), t.accesses),
        "host_fault_cycles_per_access" => per(hv(|h| h.host_fault_cycles), t.accesses),
        "splintered_fills" => hv(|h| h.splintered_fills) as f64,
        "preempted_share" => per(hv(|h| h.preempted_cycles), t.cycles),
        "vm_switch_share" => per(hv(|h| h.vm_switch_cycles), t.cycles),
        "vpid_flushes" => hv(|h| h.vpid_flushes) as f64,
        "vipi_exits_per_shootdown" => per(
            hv(|h| h.vipi_send_exits + h.vipi_hypercall_exits),
            hv(|h| h.vipi_shootdowns),
        ),
        _ => return None,
    })
}

fn metric(r: &RunReport, name: &str) -> Result<f64, String> {
    let (_, _, ptr) = METRICS
        .iter()
        .find(|m| m.0 == name)
        .ok_or_else(|| format!("unknown metric `{name}`"))?;
    let t = &r.stats.total;
    if let Some(v) = virt_metric(t, name) {
        return Ok(v);
    }
    Ok(match name {
        "page_table_bytes" => r.stats.page_table_bytes as f64,
        "mapped_mib" => t.huge_pages.mapped_bytes as f64 / (1u64 << 20) as f64,
        "reserved_mib" => r.stats.physical.reserved_bytes as f64 / (1u64 << 20) as f64,
        "phys_mib" => r.stats.phys_bytes_in_use as f64 / (1u64 << 20) as f64,
        "fault_cycles_per_access" => t.translation_cycles.fault as f64 / t.accesses.max(1) as f64,
        "walk_cycles_per_access" => {
            let c = &t.translation_cycles;
            (c.walk_cache + c.pte + c.wait) as f64 / t.accesses.max(1) as f64
        }
        "shootdown_initiator_cycles" => {
            let s = &t.shootdown;
            s.initiator_cycles as f64 / s.shootdowns.max(1) as f64
        }
        "shootdown_remote_cycles" => {
            let s = &t.shootdown;
            s.remote_cycles as f64 / s.shootdowns.max(1) as f64
        }
        "cpi" => t.cycles as f64 / t.instructions.max(1) as f64,
        "walks_pki" => t.walks.walks as f64 * 1000.0 / t.instructions.max(1) as f64,
        "pte_reads_pki" => {
            let pf = (t.prefetch.as_ref()).map_or(0, |p| p.counters.walk_reads);
            (t.walks.pte_reads + pf) as f64 * 1000.0 / t.instructions.max(1) as f64
        }
        // A system without prefetching prefetches nothing: 0, not a missing figure.
        m if m.starts_with("prefetch_") && t.prefetch.is_none() => 0.0,
        m if m.starts_with("spectlb_") && t.spectlb.is_none() => 0.0,
        "dram_reads_per_walk" => {
            if t.walks.walks == 0 {
                0.0
            } else {
                t.walks.dram_pte_reads as f64 / t.walks.walks as f64
            }
        }
        _ => serde_json::to_value(t)
            .map_err(|e| e.to_string())?
            .pointer(ptr)
            .and_then(|v| v.as_f64())
            .ok_or_else(|| format!("metric `{name}` missing from the stats"))?,
    })
}

/// The metrics of system `s` on workload `w` from its run `r`; `Ok(Err(reason))` when
/// the run was refused at the key the system `may_refuse`; any other error stops the
/// study.
fn row(
    spec: &StudySpec,
    s: usize,
    w: usize,
    r: Result<RunReport, String>,
) -> Result<Result<Vec<f64>, String>, String> {
    match r {
        Err(e)
            if (spec.system[s].may_refuse.as_deref())
                .is_some_and(|k| e.starts_with(&format!("{k}:"))) =>
        {
            Ok(Err(e))
        }
        Err(e) => Err(format!(
            "system `{}` x workload `{}`: {e}",
            spec.system[s].name, spec.workload[w].name
        )),
        Ok(r) => Ok(Ok((spec.metrics.iter())
            .map(|m| metric(&r, m))
            .collect::<Result<_, _>>()?)),
    }
}

/// What the spec itself gets wrong: an unknown metric, a workload that `may_refuse`.
fn check_spec(spec: &StudySpec, spec_path: &Path) -> Result<(), String> {
    for m in &spec.metrics {
        if !METRICS.iter().any(|x| x.0 == m) {
            let known: Vec<&str> = METRICS.iter().map(|x| x.0).collect();
            return Err(format!(
                "{}: metrics: unknown `{m}` (known: {}){}",
                spec_path.display(),
                known.join(", "),
                crate::loader::hint(m, known.iter().copied())
            ));
        }
    }
    if let Some(w) = spec.workload.iter().position(|w| w.may_refuse.is_some()) {
        return Err(format!(
            "{}: workload[{w}].may_refuse: only a system may refuse its runs",
            spec_path.display()
        ));
    }
    Ok(())
}

/// A preset or absolute path as it is; a relative path against `dir` (the spec's).
pub(crate) fn resolve(dir: &Path, file: &str) -> String {
    if crate::run::PRESETS.iter().any(|(n, _)| *n == file) || Path::new(file).is_absolute() {
        file.to_string()
    } else {
        dir.join(file).to_string_lossy().into_owned()
    }
}

/// Run the study in `spec_path`, writing into `out` (default: the spec's folder).
/// `progress(done, total)` is called at the start and as pairs finish; Ctrl-C (the
/// process-wide stop flag) abandons the study. Returns the CSV text.
pub fn run_study(
    spec_path: &Path,
    out: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<String, String> {
    let text = crate::loader::read_input(spec_path).map_err(|e| e.to_string())?;
    let (spec, spec_src) =
        crate::loader::load::<StudySpec>(&spec_path.display().to_string(), &text, &[])
            .map_err(|e| e.to_string())?;
    check_spec(&spec, spec_path)?;
    let dir = spec_path.parent().unwrap_or(Path::new("")).to_path_buf();
    let out: PathBuf = out.map(Path::to_path_buf).unwrap_or_else(|| dir.clone());
    let pairs: Vec<(usize, usize)> = (0..spec.workload.len())
        .flat_map(|w| (0..spec.system.len()).map(move |s| (w, s)))
        .collect();
    // Every input is checked before anything runs.
    let mut inputs = Vec::with_capacity(pairs.len());
    let mut errors = Vec::new();
    for &(w, s) in &pairs {
        let (sys, wl) = (&spec.system[s], &spec.workload[w]);
        let sets: Vec<String> = (sys.set.iter())
            .chain(&wl.system_set)
            .cloned()
            .chain(wl.set.iter().map(|x| format!("workload.{x}")))
            .collect();
        match load_inputs(
            Some(&resolve(&dir, &sys.file)),
            Some(&resolve(&dir, &wl.file)),
            &sets,
        ) {
            Ok(i) => inputs.push(i),
            Err(e) => errors.extend(e.into_iter().map(|e| {
                // An override the spec wrote is blamed on its line there.
                let at = e.file.strip_prefix("--set ").and_then(|a| {
                    let find = |list: &[String], key: &str| {
                        (list.iter().position(|x| x == a)).map(|j| format!("{key}[{j}]"))
                    };
                    find(&sys.set, &format!("system[{s}].set"))
                        .or_else(|| find(&wl.system_set, &format!("workload[{w}].system_set")))
                        .or_else(|| find(&wl.set, &format!("workload[{w}].set")))
                });
                let e = match at {
                    Some(at) => crate::loader::ConfigError {
                        file: spec_src.file.clone(),
                        line: spec_src.line_of(&at),
                        ..e
                    },
                    None => e,
                };
                format!("system `{}` x workload `{}`: {e}", sys.name, wl.name)
            })),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    let results: Vec<Mutex<Option<Result<RunReport, String>>>> =
        pairs.iter().map(|_| Mutex::new(None)).collect();
    let done = Mutex::new(0usize);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Ctrl-C (the process-wide flag) stops the runs at their next batch.
    let opts = RunOptions::stoppable();
    progress(0, pairs.len());
    crate::util::keep_freed_heap();
    crate::util::parallel_for(pairs.len(), workers, |i| {
        if crate::progress::stop_requested() {
            return false;
        }
        let r = match simulate_opts(&inputs[i], &opts, &mut |_, _| {}) {
            Ok((r, _)) if r.partial => return false,
            r => r.map(|(r, _)| r).map_err(|e| e.0),
        };
        *results[i].lock().expect("lock") = Some(r);
        let mut d = done.lock().expect("lock");
        *d += 1;
        progress(*d, pairs.len());
        true
    });
    // Ctrl-C: the finished runs' rows go to results.partial.csv; results.csv and the
    // plots are written only when every run is done.
    let interrupted = crate::progress::stop_requested();
    let mut header = vec!["system".to_string(), "workload".to_string()];
    header.extend(spec.metrics.iter().cloned());
    let refusals = spec.system.iter().any(|s| s.may_refuse.is_some());
    if refusals {
        header.push("refused".into());
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    let mut table =
        vec![vec![f64::NAN; spec.system.len()]; spec.workload.len() * spec.metrics.len()];
    for (i, &(w, s)) in pairs.iter().enumerate() {
        let Some(r) = results[i].lock().expect("lock").take() else {
            assert!(interrupted, "every pair ran");
            continue;
        };
        let values = row(&spec, s, w, r)?;
        let mut line = vec![spec.system[s].name.clone(), spec.workload[w].name.clone()];
        match values {
            Ok(v) => {
                for (k, v) in v.into_iter().enumerate() {
                    // Display of f64: the shortest text that reads back as the same value.
                    line.push(format!("{v}"));
                    table[k * spec.workload.len() + w][s] = v;
                }
                if refusals {
                    line.push(String::new());
                }
            }
            Err(refusal) => {
                line.extend(spec.metrics.iter().map(|_| String::new()));
                line.push(refusal);
            }
        }
        lines.push(line);
    }
    // Names may hold commas ("zipf, 300k"): the csv crate quotes them.
    let csv = crate::report::columns::write_csv(&header, &lines);
    let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
    if interrupted {
        let p = out.join("results.partial.csv");
        write_atomic(&p, csv.as_bytes()).map_err(|e| io(&p, e))?;
        return Err(format!(
            "interrupted: {} of {} runs had finished; their rows are in {} (partial: results.csv and the plots are written when every run is done). Run it again to start over (a sweep, `mmusim sweep run`, keeps finished runs and resumes).",
            lines.len(),
            pairs.len(),
            p.display()
        ));
    }
    let csv_path = out.join("results.csv");
    write_atomic(&csv_path, csv.as_bytes()).map_err(|e| io(&csv_path, e))?;
    let groups: Vec<String> = spec.workload.iter().map(|w| w.name.clone()).collect();
    let series: Vec<String> = spec.system.iter().map(|s| s.name.clone()).collect();
    for (k, m) in spec.metrics.iter().enumerate() {
        let (_, label, _) = METRICS.iter().find(|x| x.0 == m).expect("checked");
        let rows = &table[k * groups.len()..(k + 1) * groups.len()];
        // A panel per workload: see `svg::bars` for why not one shared axis.
        let svg = crate::svg::bar_panels(
            &if spec.name == *label {
                format!("{label}, by workload")
            } else {
                format!("{}: {label}, by workload", spec.name)
            },
            label,
            &groups,
            &series,
            rows,
        );
        let p = out.join(format!("{m}.svg"));
        write_atomic(&p, svg.as_bytes()).map_err(|e| io(&p, e))?;
    }
    Ok(csv)
}

#[cfg(test)]
mod tests {
    use super::run_study;

    /// The cold VM of `tests/integration/virt.rs` (one core, one TLB, no walk caches, no
    /// data caches, 4-level guest and host radix tables, frames allocated in order), with
    /// a VM exit X = 10,000 cycles and a host fault F = 300,000; the native system is the
    /// same without `[virt]`.
    const SYSTEM: &str = "[sim]\ncores = 1\nbase_cpi = 1.0\nwarmup_accesses = 0\n\
        [[tlb]]\nname = \"l1\"\nlevel = 1\nkind = \"unified\"\nentries = 64\nways = 4\n\
        page_sizes = [\"4K\", \"2M\", \"1G\"]\nlatency = 1\n\
        [page_table]\nkind = \"radix\"\nlevels = 4\n[memory]\ndram_latency = 100\n\
        [os]\nphys_mem = \"1GiB\"\nframe_alloc = \"sequential\"\nminor_fault_cycles = 1000\n";
    const VIRT: &str = "[virt]\nexit_cycles = 10000\n[virt.host]\nphys_mem = \"2GiB\"\n\
        frame_alloc = \"sequential\"\nminor_fault_cycles = 300000\n\
        [virt.host_table]\nkind = \"radix\"\nlevels = 4\n";

    /// Pages 0, 0, 1 on both machines. By hand (the derivation in
    /// `tests/integration/virt.rs`, `a_cold_vm_walks_faults_and_exits_exactly_as_derived_by_hand`):
    /// nested, 4 walks make 73 references (18.25 a walk), 13 of them guest entries, so 60
    /// host references (15 a walk); 5 EPT violations, each an exit X and a host fault F,
    /// over 3 accesses: 5 X / 3 = 16,666.67 and 5 F / 3 = 500,000 cycles per access. Native: access 1 walks
    /// once to the root's empty entry (1 read), faults and walks 4; access 3 walks 4 to
    /// the empty leaf entry, faults and walks 4: 13 reads in 4 walks = 3.25. A native
    /// machine takes no exits and makes no host references: 0.
    #[test]
    fn virtualization_metrics_match_the_hand_derived_cold_vm_and_are_zero_natively() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::write(d.join("native.toml"), SYSTEM).unwrap();
        std::fs::write(d.join("vm.toml"), format!("{SYSTEM}{VIRT}")).unwrap();
        let w = "name = \"three\"\n[generator]\nkind = \"refs\"\nrefs = \"0 0 1\"\n";
        std::fs::write(d.join("w.toml"), w).unwrap();
        let spec = "name = \"v\"\nmetrics = [\"refs_per_walk\", \"host_refs_per_walk\", \
            \"vm_exits\", \"exit_cycles_per_access\", \"host_fault_cycles_per_access\", \
            \"splintered_fills\", \"preempted_share\", \"vipi_exits_per_shootdown\"]\n\
            [[system]]\nname = \"native\"\nfile = \"native.toml\"\n\
            [[system]]\nname = \"vm\"\nfile = \"vm.toml\"\n\
            [[workload]]\nname = \"w\"\nfile = \"w.toml\"\n";
        std::fs::write(d.join("spec.toml"), spec).unwrap();
        let csv = run_study(&d.join("spec.toml"), None, &|_, _| {}).unwrap();
        let rows: Vec<&str> = csv.lines().collect();
        assert_eq!(rows[1], "native,w,3.25,0,0,0,0,0,0,0");
        assert_eq!(rows[2], "vm,w,18.25,15,5,16666.666666666668,500000,0,0,0");
    }
}
