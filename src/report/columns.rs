//! The statistics columns of every CSV a run feeds (`result.csv`, a sweep's
//! `report.csv`, a comparison's table): one definition, so the files agree, and a
//! header that does not depend on the preset, so CSVs of skylake, zen4 and the hashed
//! presets concatenate.
//!
//! In: a run's `stats.total` as JSON and its page tables' own counters ([`StatsView`]),
//! which is what both a [`super::RunReport`] and a sweep's store hold. Out: a header
//! ([`Layout::header`]) and a row of [`Cell`]s per run ([`Layout::row`]).
//!
//! The columns, in order:
//!
//! - **Headline** ([`HEADLINE`]): machine totals (every core summed) of accesses,
//!   instructions, cycles, translation stall and its parts, walks, PTE reads, walk
//!   latency (mean and percentiles, cycles), faults of each kind, huge pages, paging.
//!   Adding a statistic of `stats.total` to every CSV is one line there.
//! - **TLB levels**, for each level 1..=[`TLB_LEVELS`] (and deeper levels a config has):
//!   `l<n>_tlb_misses`, `l<n>_tlb_miss_rate` (misses / lookups of the level, both sides)
//!   and `l<n>_tlb_mpki` (misses per 1000 instructions). `stlb_misses`,
//!   `stlb_miss_rate` and `stlb_mpki` are the same for the last level of the run's
//!   config, whichever number it has: the misses that walk.
//! - **TLB structures**, for each name of [`PRESET_TLBS`] and then each other name a
//!   config has (in its order): `tlb_<name>_hits`, `_misses`, `_miss_rate` (misses /
//!   lookups) and `_mpki`. A miss is charged to the structure that would hold the
//!   page's size.
//! - **Walk caches**, for each of [`WALK_CACHES`] and then other names:
//!   `psc_<name>_hit_rate` (hits / lookups).
//! - **Page-table design** ([`DESIGN_COUNTERS`]): `pt_<key>`, the numeric counters of
//!   the design's stats tree (`stats.page_tables`), nested keys joined by `_`
//!   (`walk_cache_hit_rate`), per-page-size tables by size (`tables_4k_occupancy`);
//!   histograms and strings are left to the JSON. With several tables (one per address
//!   space) integers are summed and ratios averaged. Unlike every other column they
//!   cover the whole run, warm-up included: the tables keep their own counters.
//! - **Shootdowns** ([`SHOOTDOWN`]): shootdowns started, IPIs sent, cycles the
//!   initiators waited and the targets spent, their share of all cycles, stale hits.
//! - **Virtualization** ([`VIRT`]), last, and only in a file holding at least one
//!   virtualized run (`[virt]`; `stats.total.virt` in its JSON): nested walks, their
//!   references by dimension and per walk, host translations and nested-TLB hits, VM
//!   exits (all, then by cause), their cycles and the host's fault cycles, TLB fills
//!   after nested walks and the splintered ones. A native run's cells there are empty.
//!   Why only then: a native file keeps exactly the header it had before
//!   virtualization existed, so native results (and the committed studies and sweeps)
//!   stay byte-identical; the columns come after every other one, so a file that has
//!   them has every other column at the same position as a native file of the same
//!   structures.
//!
//! A structure the run does not have is an **empty** cell, never 0; so is a rate with
//! nothing under it (a TLB or walk cache with no lookups, walk caches a hashed design
//! bypasses) and anything a record does not hold (a one-pass sweep record holds one
//! TLB's counters). Integers are written as integers and other numbers in Rust's
//! shortest round-trip form: full precision, nothing rounded.

use serde_json::Value;
use std::fmt;

/// The TLB structures of the built-in presets (`configs/`), the union in a fixed order:
/// skylake's (icelake's are the same), then zen4's. A test holds it to the presets.
/// skylake-pom's POM-TLB partitions (`pom_4k`, `pom_2m`) are left out: in it they would
/// widen every file's header; a file with a POM-TLB run adds them after these.
pub const PRESET_TLBS: &[&str] = &[
    "l1d_4k", "l1d_2m", "l1d_1g", "l1i_4k", "l1i_2m", "stlb", "stlb_1g", "l1d", "l1i", "l2d", "l2i",
];

/// The walk caches (paging-structure caches) of x86-64's non-leaf levels.
pub const WALK_CACHES: &[&str] = &["pml5", "pml4", "pdpt", "pd"];

/// The TLB levels every header has (the presets' deepest).
pub const TLB_LEVELS: u32 = 2;

/// Headline columns: (column, JSON pointer into `stats.total`). Cycles are core cycles
/// summed over the cores; "translation" is the latency of address translation.
pub const HEADLINE: &[(&str, &str)] = &[
    ("accesses", "/accesses"),
    ("instructions", "/instructions"),
    // Everything the cores spent: base + stall + context switches, events, shootdowns.
    ("cycles", "/cycles"),
    // Instructions x base CPI.
    ("base_cycles", "/base_cycles"),
    // Cycles the cores stalled for translation, and their share of `cycles`.
    ("stall_cycles", "/stall_cycles"),
    ("translation_share", "/translation_share"),
    // Translation latency and its parts (they sum to it): TLB probes, walk-cache
    // probes, PTE reads, waits for a walker, page faults.
    ("translation_cycles", "/translation_cycles/total"),
    ("tlb_cycles", "/translation_cycles/tlb"),
    ("walk_cache_cycles", "/translation_cycles/walk_cache"),
    ("pte_cycles", "/translation_cycles/pte"),
    ("wait_cycles", "/translation_cycles/wait"),
    ("fault_cycles", "/translation_cycles/fault"),
    (
        "translation_cycles_per_access",
        "/translation_cycles_per_access",
    ),
    // Translation latency without fault handling (what the MMU structures cost), per
    // access, and the faults' share of the latency (above 0.5: a cold start dominates).
    (
        "translation_cycles_excl_faults",
        "/translation_cycles_excl_faults",
    ),
    (
        "translation_cycles_excl_faults_per_access",
        "/translation_cycles_excl_faults_per_access",
    ),
    ("fault_share", "/fault_share"),
    // TLB misses of translations the core had never used, and their latency.
    ("compulsory_misses", "/compulsory_misses"),
    ("compulsory_cycles", "/compulsory_cycles"),
    // Page walks (a faulting access walks twice), their cache-line reads of the page
    // table, those DRAM served, and the walk latency (walk caches + PTE reads) in cycles.
    ("walks", "/walks/walks"),
    ("pte_reads", "/walks/pte_reads"),
    ("pte_reads_per_walk", "/walks/pte_reads_per_walk"),
    ("dram_pte_reads", "/walks/dram_pte_reads"),
    ("walk_latency_mean", "/walks/latency/mean"),
    ("walk_latency_p50", "/walks/latency/p50"),
    ("walk_latency_p90", "/walks/latency/p90"),
    ("walk_latency_p99", "/walks/latency/p99"),
    ("walk_latency_max", "/walks/latency/max"),
    // Faults by kind: first touches (huge ones included), from swap, translations the
    // page table had evicted put back, copy-on-write, mprotect traps; the OS's cycles.
    ("minor_faults", "/minor_faults"),
    ("major_faults", "/paging/major_faults"),
    ("restore_faults", "/restore_faults"),
    ("cow_faults", "/os_events/cow_faults"),
    ("protection_faults", "/os_events/protection_faults"),
    ("os_fault_cycles", "/os_fault_cycles"),
    // Huge pages mapped at fault, fallbacks to 4K, bytes mapped by faults, promotions.
    ("huge_faults_2m", "/huge_pages/faults_2m"),
    ("huge_faults_1g", "/huge_pages/faults_1g"),
    ("huge_fallbacks", "/huge_pages/fallbacks"),
    ("mapped_bytes", "/huge_pages/mapped_bytes"),
    ("promotions", "/huge_pages/promotions"),
    // Translations a hashed table evicted; pages evicted to swap, written back.
    ("page_table_evictions", "/page_table_evictions"),
    ("page_evictions", "/paging/evictions"),
    ("writebacks", "/paging/writebacks"),
    ("context_switches", "/sched/context_switches"),
];

/// Shootdown columns: (column, JSON pointer into `stats.total`).
pub const SHOOTDOWN: &[(&str, &str)] = &[
    ("shootdowns", "/shootdown/shootdowns"),
    ("shootdown_ipis", "/shootdown/ipis_sent"),
    ("shootdown_initiator_cycles", "/shootdown/initiator_cycles"),
    ("shootdown_remote_cycles", "/shootdown/remote_cycles"),
    ("shootdown_share", "/shootdown/share_of_cycles"),
    ("stale_hits", "/shootdown/stale_hits"),
];

/// Virtualization columns: (column, JSON pointer into `stats.total`); `virt_exits`
/// (the `virt_exits_*` columns summed: every cause) and `virt_ntlb_hit_rate` (hits /
/// host translations, empty with none) are computed. A new exit cause is one line
/// here, named `virt_exits_<cause>`.
pub const VIRT: &[(&str, &str)] = &[
    ("virt_nested_walks", "/virt/nested_walks"),
    ("virt_refs_per_walk", "/virt/refs_per_walk"),
    ("virt_guest_entry_refs", "/virt/guest_entry_refs"),
    (
        "virt_host_refs_for_guest_entries",
        "/virt/host_refs_for_guest_entries",
    ),
    ("virt_host_refs_for_data", "/virt/host_refs_for_data"),
    ("virt_host_lookups", "/virt/host_lookups"),
    ("virt_ntlb_hits", "/virt/ntlb_hits"),
    ("virt_ntlb_hit_rate", ""),
    ("virt_exits", ""),
    ("virt_exits_ept_violation", "/virt/exits/ept_violation"),
    (
        "virt_exits_event_ept_violation",
        "/virt/event_ept_violations",
    ),
    ("virt_exits_ipi_send", "/virt/vipi_send_exits"),
    ("virt_exits_hypercall", "/virt/vipi_hypercall_exits"),
    ("virt_exits_kick", "/virt/vipi_kicks"),
    ("virt_exits_host_kick", "/virt/host_kicks"),
    // Shadow paging's exits (`virt.mode = "shadow"`).
    ("virt_exits_pf_intercept", "/virt/shadow/exits/pf_intercept"),
    ("virt_exits_pt_write", "/virt/shadow/exits/pt_write"),
    ("virt_exits_cr3_write", "/virt/shadow/exits/cr3_write"),
    // Several VMs: switches of a core between VMs' vCPUs (an exit each), their cycles.
    ("virt_exits_vm_switch", "/virt/vm_switches"),
    ("virt_vm_switch_cycles", "/virt/vm_switch_cycles"),
    // Among the EPT violations: those through host caches a host change had made
    // stale; and host-initiated flushes (a host THP collapse) started.
    (
        "virt_spurious_ept_violations",
        "/virt/spurious_ept_violations",
    ),
    ("virt_host_flushes", "/virt/host_flushes"),
    ("virt_host_flush_cycles", "/virt/host_flush_cycles"),
    ("virt_host_flushes_taken", "/virt/host_flushes_taken"),
    (
        "virt_host_flush_remote_cycles",
        "/virt/host_flush_remote_cycles",
    ),
    // Flushes of a vCPU's TLB entries and guest walk caches for want of a VPID.
    ("virt_vpid_flushes", "/virt/vpid_flushes"),
    ("virt_exit_cycles", "/virt/exit_cycles"),
    ("virt_host_fault_cycles", "/virt/host_fault_cycles"),
    ("virt_event_cycles", "/virt/event_cycles"),
    ("virt_preemptions", "/virt/preemptions"),
    ("virt_preempted_cycles", "/virt/preempted_cycles"),
    ("virt_shootdowns", "/virt/vipi_shootdowns"),
    ("virt_entry_flushes", "/virt/vipi_entry_flushes"),
    // Shadow paging's work: hidden faults filled, trapped writes applied, host faults
    // under them, the hypervisor's cycles on the translation path, at events, at CR3
    // writes.
    ("virt_shadow_fills", "/virt/shadow/fills"),
    ("virt_shadow_updates", "/virt/shadow/updates"),
    ("virt_shadow_host_faults", "/virt/shadow/host_faults"),
    ("virt_shadow_work_cycles", "/virt/shadow/work_cycles"),
    (
        "virt_shadow_event_pt_writes",
        "/virt/shadow/event_pt_writes",
    ),
    ("virt_shadow_event_cycles", "/virt/shadow/event_cycles"),
    ("virt_shadow_cr3_cycles", "/virt/shadow/cr3_cycles"),
    ("virt_nested_fills", "/virt/nested_fills"),
    ("virt_splintered_fills", "/virt/splintered_fills"),
];

/// TLB prefetching's columns (`[prefetch]`): (column, JSON pointer into
/// `stats.total`), after the shootdown ones and before any `virt_*`, only in files
/// with a run that prefetches.
pub const PREFETCH: &[(&str, &str)] = &[
    ("prefetch_hits", "/prefetch/hits"),
    ("prefetch_coverage", "/prefetch/coverage"),
    ("prefetch_accuracy", "/prefetch/accuracy"),
    ("prefetch_late_share", "/prefetch/late_share"),
    ("prefetch_walks", "/prefetch/walks"),
    ("prefetch_walk_reads", "/prefetch/walk_reads"),
    ("prefetch_lines_brought_in", "/prefetch/lines_brought_in"),
    ("prefetch_unmapped", "/prefetch/unmapped"),
    (
        "prefetch_dropped_queue_full",
        "/prefetch/dropped_queue_full",
    ),
    ("prefetch_free_inserted", "/prefetch/free_inserted"),
    ("prefetch_evicted_unused", "/prefetch/evicted_unused"),
];

/// SpecTLB's and the page-size predictor's columns (`[spectlb]`, `[size_prediction]`),
/// after the prefetching ones, only in files with a run that has either.
pub const SPECULATION: &[(&str, &str)] = &[
    ("spectlb_predictions", "/spectlb/predictions"),
    ("spectlb_correct", "/spectlb/correct"),
    ("spectlb_mispredicted", "/spectlb/mispredicted"),
    (
        "spectlb_overlapped_walk_share",
        "/spectlb/overlapped_walk_share",
    ),
    ("spectlb_misprediction_rate", "/spectlb/misprediction_rate"),
    ("size_prediction_accuracy", "/size_prediction/accuracy"),
    (
        "size_prediction_probes_per_lookup",
        "/size_prediction/probes_per_lookup",
    ),
];

/// The cells of [`VIRT`] for a run's `stats.total` (empty for a native run).
fn virt_cells(total: &Value) -> Vec<Cell> {
    let Some(v) = total.get("virt").filter(|v| v.is_object()) else {
        return vec![Cell::Empty; VIRT.len()];
    };
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    VIRT.iter()
        .map(|&(col, ptr)| match col {
            "virt_ntlb_hit_rate" => Cell::ratio(n("ntlb_hits"), n("host_lookups")),
            // Checked: a damaged store's counters may sum past 64 bits (empty, as
            // elsewhere, rather than wrapped).
            "virt_exits" => (VIRT.iter())
                .filter(|c| c.0.starts_with("virt_exits_"))
                // A cause a record does not hold (written before the cause existed)
                // adds nothing.
                .try_fold(0u64, |a, c| {
                    a.checked_add(total.pointer(c.1).map_or(Some(0), Value::as_u64)?)
                })
                .map_or(Cell::Empty, Cell::Int),
            _ => Cell::of(total.pointer(ptr)),
        })
        .collect()
}

const RADIX: &[&str] = &["radix", "flattened"];
const ALL: &[&str] = &[
    "radix",
    "flattened",
    "htab",
    "inverted",
    "clustered",
    "cuckoo",
];

/// The design counters (`pt_<key>`) and the designs that may report each: every
/// numeric key of every design's stats tree, flattened (a test runs every design and
/// holds this list to what they report, both ways). A design's new counter is one line.
pub const DESIGN_COUNTERS: &[(&str, &[&str])] = &[
    ("bytes", ALL),
    ("levels", RADIX),
    ("tables", RADIX),
    ("merged_nodes", &["flattened"]),
    ("fallbacks", &["flattened"]),
    ("entries", &["htab", "clustered"]),
    ("entries_4k", &["htab"]),
    ("entries_2m", &["htab"]),
    ("entries_1g", &["htab"]),
    ("entries_used", &["inverted", "clustered"]),
    ("load_factor", &["htab", "inverted", "clustered"]),
    ("groups", &["htab"]),
    ("inserts", &["htab"]),
    ("secondary_inserts", &["htab"]),
    ("in_secondary", &["htab"]),
    ("evictions", &["htab"]),
    ("evicted_outstanding", &["htab"]),
    ("restores", &["htab"]),
    ("frames", &["inverted"]),
    ("anchors", &["inverted"]),
    ("anchor_ratio", &["inverted"]),
    ("anchor_bytes", &["inverted"]),
    ("entry_bytes", &["inverted", "clustered"]),
    ("mapped_4k", &["inverted"]),
    ("mapped_2m", &["inverted"]),
    ("mapped_1g", &["inverted"]),
    ("collisions", &["inverted"]),
    ("mean_successful_search", &["inverted"]),
    ("uniform_successful_search", &["inverted"]),
    ("failed_walks", &["inverted", "clustered"]),
    ("cluster", &["clustered"]),
    ("entries_per_line", &["clustered"]),
    ("lines", &["clustered"]),
    ("max_load", &["clustered"]),
    ("entries_by_size_4k", &["clustered"]),
    ("entries_by_size_2m", &["clustered"]),
    ("entries_by_size_1g", &["clustered"]),
    ("pages_mapped_4k", &["clustered"]),
    ("pages_mapped_2m", &["clustered"]),
    ("pages_mapped_1g", &["clustered"]),
    ("pages_per_entry", &["clustered"]),
    ("mean_probe_length", &["clustered"]),
    ("ways", &["cuckoo"]),
    ("walks", &["cuckoo"]),
    ("probe_reads_per_walk", &["cuckoo"]),
    ("resizes", &["cuckoo"]),
    ("entries_moved", &["cuckoo"]),
    ("slots_scanned", &["cuckoo"]),
    ("insert_failures", &["cuckoo"]),
    ("retired_bytes", &["cuckoo"]),
    ("tables_4k_entries", &["cuckoo"]),
    ("tables_4k_entries_per_way", &["cuckoo"]),
    ("tables_4k_pages", &["cuckoo"]),
    ("tables_4k_occupancy", &["cuckoo"]),
    ("tables_4k_old_entries_per_way", &["cuckoo"]),
    ("tables_2m_entries", &["cuckoo"]),
    ("tables_2m_entries_per_way", &["cuckoo"]),
    ("tables_2m_pages", &["cuckoo"]),
    ("tables_2m_occupancy", &["cuckoo"]),
    ("tables_2m_old_entries_per_way", &["cuckoo"]),
    ("tables_1g_entries", &["cuckoo"]),
    ("tables_1g_entries_per_way", &["cuckoo"]),
    ("tables_1g_pages", &["cuckoo"]),
    ("tables_1g_occupancy", &["cuckoo"]),
    ("tables_1g_old_entries_per_way", &["cuckoo"]),
    ("walk_cache_entries", &["cuckoo"]),
    ("walk_cache_ways", &["cuckoo"]),
    ("walk_cache_latency", &["cuckoo"]),
    ("walk_cache_lookups", &["cuckoo"]),
    ("walk_cache_hits", &["cuckoo"]),
    ("walk_cache_absent_hits", &["cuckoo"]),
    ("walk_cache_hit_rate", &["cuckoo"]),
    ("walk_cache_invalidations", &["cuckoo"]),
];

/// One cell of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    /// Absent: the run has no such structure, or the figure is undefined.
    Empty,
    Int(u64),
    Float(f64),
    Text(String),
}

impl Cell {
    /// A JSON leaf as a cell: integers stay integers; a missing value is empty.
    pub fn of(v: Option<&Value>) -> Cell {
        match v {
            Some(Value::Number(n)) => match n.as_u64() {
                Some(u) => Cell::Int(u),
                None => n.as_f64().map_or(Cell::Empty, Cell::Float),
            },
            Some(Value::String(s)) => Cell::Text(s.clone()),
            _ => Cell::Empty,
        }
    }

    /// The value as a number, if it is one (for plots and ratios).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Cell::Int(u) => Some(*u as f64),
            Cell::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// `a / b`, empty when `b` is 0 (a rate with nothing under it is undefined).
    pub fn ratio(a: u64, b: u64) -> Cell {
        if b == 0 {
            Cell::Empty
        } else {
            Cell::Float(a as f64 / b as f64)
        }
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Empty => Ok(()),
            Cell::Int(u) => write!(f, "{u}"),
            // Display of f64 is the shortest string that reads back as the same value.
            Cell::Float(x) if x.is_finite() => write!(f, "{x}"),
            Cell::Float(_) => Ok(()),
            Cell::Text(s) => f.write_str(s),
        }
    }
}

/// What a row is made from: a run's `stats.total` and its page tables' counters.
#[derive(Clone, Copy)]
pub struct StatsView<'a> {
    pub total: &'a Value,
    pub page_tables: &'a [Value],
}

impl StatsView<'_> {
    /// The design's name as its stats say (`radix`, `htab`, ...), if it has tables.
    pub fn design(&self) -> Option<&str> {
        self.page_tables.iter().find_map(|t| t["design"].as_str())
    }

    fn tlb(&self, name: &str) -> Option<&Value> {
        self.total["tlb"]
            .as_array()?
            .iter()
            .find(|t| t["name"] == name)
    }

    fn level(&self, level: u64) -> Option<&Value> {
        self.total["tlb_levels"]
            .as_array()?
            .iter()
            .find(|t| t["level"] == level)
    }

    fn last_level(&self) -> Option<u64> {
        (self.total["tlb_levels"].as_array()?.iter())
            .filter_map(|l| l["level"].as_u64())
            .max()
    }

    fn walk_cache(&self, name: &str) -> Option<&Value> {
        self.total
            .pointer("/walks/walk_caches")?
            .as_array()?
            .iter()
            .find(|p| p["name"] == name)
    }

    /// The design counters, flattened and combined over the tables.
    pub fn design_counters(&self) -> Vec<(String, Cell)> {
        let mut out: Vec<(String, Cell, usize)> = Vec::new();
        for t in self.page_tables {
            let mut leaves = Vec::new();
            flatten(t, "", &mut leaves);
            for (k, c) in leaves {
                match out.iter_mut().find(|o| o.0 == k) {
                    None => out.push((k, c, 1)),
                    Some(o) => {
                        o.1 = match (&o.1, c) {
                            // A sum past 64 bits (only a damaged store holds such
                            // counters) is no number at all rather than a wrapped one.
                            (Cell::Int(a), Cell::Int(b)) => {
                                a.checked_add(b).map_or(Cell::Empty, Cell::Int)
                            }
                            (a, b) => {
                                Cell::Float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0))
                            }
                        };
                        o.2 += 1;
                    }
                }
            }
        }
        (out.into_iter())
            .map(|(k, c, n)| match c {
                // Ratios are averaged over the tables, counts summed.
                Cell::Float(x) => (k, Cell::Float(x / n as f64)),
                c => (k, c),
            })
            .collect()
    }
}

/// The numeric leaves of a design's stats tree as (`a_b_c`, value): objects recurse,
/// arrays of per-page-size objects recurse by size, other arrays (histograms), strings
/// and the hash seed are left out.
fn flatten(v: &Value, prefix: &str, out: &mut Vec<(String, Cell)>) {
    let join = |prefix: &str, k: &str| {
        let k = k.to_ascii_lowercase();
        if prefix.is_empty() {
            k
        } else {
            format!("{prefix}_{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k != "seed" {
                    flatten(x, &join(prefix, k), out);
                }
            }
        }
        Value::Array(a) => {
            fn by_size(x: &Value) -> Option<&str> {
                x.get("page_size").and_then(Value::as_str)
            }
            if !a.is_empty() && a.iter().all(|x| by_size(x).is_some()) {
                for x in a {
                    flatten(x, &join(prefix, by_size(x).unwrap_or_default()), out);
                }
            }
        }
        Value::Number(_) => out.push((prefix.to_string(), Cell::of(Some(v)))),
        _ => {}
    }
}

/// The structures a header has columns for: the canonical ones, then the others the
/// runs or configs have, in the order first met.
#[derive(Clone, Debug)]
pub struct Layout {
    tlbs: Vec<String>,
    levels: u64,
    walk_caches: Vec<String>,
    /// Some run is virtualized: the [`VIRT`] columns are added.
    virt: bool,
    /// Some run prefetches: the [`PREFETCH`] columns are added.
    prefetch: bool,
    /// Some run speculates (SpecTLB or size prediction): the [`SPECULATION`] columns.
    speculation: bool,
}

impl Default for Layout {
    fn default() -> Layout {
        Layout {
            tlbs: PRESET_TLBS.iter().map(|s| s.to_string()).collect(),
            levels: TLB_LEVELS as u64,
            walk_caches: WALK_CACHES.iter().map(|s| s.to_string()).collect(),
            virt: false,
            prefetch: false,
            speculation: false,
        }
    }
}

impl Layout {
    /// No structure at all (no TLB level either): to list only the structures some
    /// configs have, as `sweep plan` does.
    pub fn bare() -> Layout {
        Layout {
            tlbs: Vec::new(),
            levels: 0,
            walk_caches: Vec::new(),
            virt: false,
            prefetch: false,
            speculation: false,
        }
    }

    /// The canonical columns plus the structures of `views`.
    pub fn of(views: &[StatsView]) -> Layout {
        let mut l = Layout::default();
        for v in views {
            l.add(v);
        }
        l
    }

    /// Adds the structures a run has (a custom config's extra TLBs and walk caches).
    pub fn add(&mut self, v: &StatsView) {
        let names = |ptr: &str| -> Vec<String> {
            (v.total.pointer(ptr).and_then(Value::as_array))
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t["name"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        for n in names("/tlb") {
            self.add_tlb(&n);
        }
        for n in names("/walks/walk_caches") {
            self.add_walk_cache(&n);
        }
        if let Some(l) = v.last_level() {
            self.levels = self.levels.max(l);
        }
        if v.total.get("virt").is_some_and(Value::is_object) {
            self.virt = true;
        }
        if v.total.get("prefetch").is_some_and(Value::is_object) {
            self.prefetch = true;
        }
        if ["spectlb", "size_prediction"]
            .iter()
            .any(|k| v.total.get(*k).is_some_and(Value::is_object))
        {
            self.speculation = true;
        }
    }

    /// Adds the virtualization columns (a config with `[virt]`, before it has run).
    pub fn add_virt(&mut self) {
        self.virt = true;
    }

    /// Adds the prefetching columns (a config with `[prefetch]`, before it has run).
    pub fn add_prefetch(&mut self) {
        self.prefetch = true;
    }

    /// Adds the speculation columns (a config with `[spectlb]` or `[size_prediction]`).
    pub fn add_speculation(&mut self) {
        self.speculation = true;
    }

    pub fn add_tlb(&mut self, name: &str) {
        if !self.tlbs.iter().any(|t| t == name) {
            self.tlbs.push(name.to_string());
        }
    }

    pub fn add_walk_cache(&mut self, name: &str) {
        if !self.walk_caches.iter().any(|t| t == name) {
            self.walk_caches.push(name.to_string());
        }
    }

    pub fn add_level(&mut self, level: u32) {
        self.levels = self.levels.max(level as u64);
    }

    /// The column names, in order.
    pub fn header(&self) -> Vec<String> {
        let mut h: Vec<String> = HEADLINE.iter().map(|c| c.0.to_string()).collect();
        for l in 1..=self.levels {
            for f in ["misses", "miss_rate", "mpki"] {
                h.push(format!("l{l}_tlb_{f}"));
            }
        }
        h.extend(["stlb_misses", "stlb_miss_rate", "stlb_mpki"].map(String::from));
        for t in &self.tlbs {
            for f in ["hits", "misses", "miss_rate", "mpki"] {
                h.push(format!("tlb_{t}_{f}"));
            }
        }
        for p in &self.walk_caches {
            h.push(format!("psc_{p}_hit_rate"));
        }
        h.extend(DESIGN_COUNTERS.iter().map(|d| format!("pt_{}", d.0)));
        h.extend(SHOOTDOWN.iter().map(|c| c.0.to_string()));
        if self.prefetch {
            h.extend(PREFETCH.iter().map(|c| c.0.to_string()));
        }
        if self.speculation {
            h.extend(SPECULATION.iter().map(|c| c.0.to_string()));
        }
        if self.virt {
            h.extend(VIRT.iter().map(|c| c.0.to_string()));
        }
        h
    }

    /// A run's cells, one per column of [`Layout::header`].
    pub fn row(&self, v: &StatsView) -> Vec<Cell> {
        let at = |ptr: &str| Cell::of(v.total.pointer(ptr));
        let mut r: Vec<Cell> = HEADLINE.iter().map(|c| at(c.1)).collect();
        let level = |l: Option<&Value>| -> [Cell; 3] {
            let Some(l) = l else {
                return [Cell::Empty, Cell::Empty, Cell::Empty];
            };
            let n = |k: &str| l[k].as_u64().unwrap_or(0);
            // Checked: counters read back from a damaged store may sum past 64 bits;
            // such a cell is empty, never a wrapped number.
            let misses = n("instruction_misses").checked_add(n("data_misses"));
            let lookups = misses
                .and_then(|m| m.checked_add(n("instruction_hits")))
                .and_then(|m| m.checked_add(n("data_hits")));
            [
                misses.map_or(Cell::Empty, Cell::Int),
                match (misses, lookups) {
                    (Some(m), Some(t)) => Cell::ratio(m, t),
                    _ => Cell::Empty,
                },
                Cell::of(l.get("mpki")),
            ]
        };
        for l in 1..=self.levels {
            r.extend(level(v.level(l)));
        }
        r.extend(level(v.last_level().and_then(|l| v.level(l))));
        for t in &self.tlbs {
            match v.tlb(t) {
                Some(s) => {
                    let n = |k: &str| s[k].as_u64().unwrap_or(0);
                    let lookups = n("hits").checked_add(n("misses"));
                    r.extend([
                        Cell::Int(n("hits")),
                        Cell::Int(n("misses")),
                        lookups.map_or(Cell::Empty, |t| Cell::ratio(n("misses"), t)),
                        Cell::of(s.get("mpki")),
                    ]);
                }
                None => r.extend([Cell::Empty, Cell::Empty, Cell::Empty, Cell::Empty]),
            }
        }
        for p in &self.walk_caches {
            r.push(match v.walk_cache(p) {
                Some(p) => Cell::ratio(
                    p["hits"].as_u64().unwrap_or(0),
                    p["lookups"].as_u64().unwrap_or(0),
                ),
                None => Cell::Empty,
            });
        }
        let counters = v.design_counters();
        for (k, _) in DESIGN_COUNTERS {
            r.push(
                (counters.iter())
                    .find(|c| c.0 == *k)
                    .map_or(Cell::Empty, |c| c.1.clone()),
            );
        }
        r.extend(SHOOTDOWN.iter().map(|c| at(c.1)));
        if self.prefetch {
            r.extend(PREFETCH.iter().map(|c| at(c.1)));
        }
        if self.speculation {
            r.extend(SPECULATION.iter().map(|c| at(c.1)));
        }
        if self.virt {
            r.extend(virt_cells(v.total));
        }
        r
    }

    /// The columns that can hold a value for runs of these designs (what a plot may
    /// name): every column but the design counters other designs report.
    pub fn columns_for_designs(&self, designs: &[&str]) -> Vec<String> {
        let skip: Vec<String> = (DESIGN_COUNTERS.iter())
            .filter(|d| !d.1.iter().any(|x| designs.contains(x)))
            .map(|d| format!("pt_{}", d.0))
            .collect();
        (self.header().into_iter())
            .filter(|h| !skip.contains(h))
            .collect()
    }
}

/// A CSV document (header and rows) as text, quoted as RFC 4180 says where needed.
pub fn write_csv(header: &[String], rows: &[Vec<String>]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec fails only if a row's length differs from the header's, which
    // the callers build alike; the error would name it.
    let mut put = |r: &[String]| w.write_record(r).expect("rows as long as the header");
    put(header);
    for r in rows {
        put(r);
    }
    let bytes = w.into_inner().expect("a Vec takes every write");
    String::from_utf8(bytes).expect("the cells are UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn total() -> Value {
        json!({
            "accesses": 1000, "instructions": 4000, "translation_share": 0.1,
            "tlb": [
                {"name": "l1d_4k", "level": 1, "hits": 900, "misses": 100, "mpki": 25.0},
                {"name": "l1d_2m", "level": 1, "hits": 0, "misses": 0, "mpki": 0.0},
                {"name": "mine", "level": 3, "hits": 1, "misses": 3, "mpki": 0.75}
            ],
            "tlb_levels": [
                {"level": 1, "instruction_hits": 0, "instruction_misses": 0, "data_hits": 900, "data_misses": 100, "mpki": 25.0},
                {"level": 3, "instruction_hits": 0, "instruction_misses": 0, "data_hits": 1, "data_misses": 3, "mpki": 0.75}
            ],
            "walks": {"walks": 3, "walk_caches": [
                {"name": "pd", "level": 2, "lookups": 3, "hits": 1},
                {"name": "pml4", "level": 4, "lookups": 0, "hits": 0}
            ]},
            "shootdown": {"shootdowns": 0, "share_of_cycles": 0.0}
        })
    }

    fn cell<'a>(h: &[String], r: &'a [Cell], name: &str) -> &'a Cell {
        &r[h.iter()
            .position(|x| x == name)
            .unwrap_or_else(|| panic!("{name}"))]
    }

    #[test]
    fn counters_summing_past_64_bits_give_empty_cells_not_a_panic() {
        // A damaged sweep store can hold any counters (found by the randomized test):
        // hits + misses past u64::MAX is no number, not a wrapped one or a panic.
        let mut t = total();
        t["tlb"][0]["hits"] = json!(u64::MAX);
        t["tlb_levels"][0]["data_hits"] = json!(u64::MAX);
        let v = StatsView {
            total: &t,
            page_tables: &[],
        };
        let l = Layout::of(&[v]);
        let (h, r) = (l.header(), l.row(&v));
        assert_eq!(*cell(&h, &r, "tlb_l1d_4k_hits"), Cell::Int(u64::MAX));
        assert_eq!(*cell(&h, &r, "tlb_l1d_4k_miss_rate"), Cell::Empty);
        assert_eq!(*cell(&h, &r, "l1_tlb_misses"), Cell::Int(100));
        assert_eq!(*cell(&h, &r, "l1_tlb_miss_rate"), Cell::Empty);
    }

    #[test]
    fn absent_structures_and_undefined_rates_are_empty_cells() {
        let t = total();
        let v = StatsView {
            total: &t,
            page_tables: &[],
        };
        let l = Layout::of(&[v]);
        let (h, r) = (l.header(), l.row(&v));
        assert_eq!(h.len(), r.len());
        // Present: counts and exact ratios (100 of 1000 lookups; 1 of 3).
        assert_eq!(*cell(&h, &r, "tlb_l1d_4k_misses"), Cell::Int(100));
        assert_eq!(*cell(&h, &r, "tlb_l1d_4k_miss_rate"), Cell::Float(0.1));
        assert_eq!(*cell(&h, &r, "psc_pd_hit_rate"), Cell::Float(1.0 / 3.0));
        // Present with no lookups: counts 0, rate empty.
        assert_eq!(*cell(&h, &r, "tlb_l1d_2m_hits"), Cell::Int(0));
        assert_eq!(*cell(&h, &r, "tlb_l1d_2m_miss_rate"), Cell::Empty);
        assert_eq!(*cell(&h, &r, "psc_pml4_hit_rate"), Cell::Empty);
        // Absent: empty, never 0.
        for c in [
            "tlb_stlb_hits",
            "tlb_l2d_mpki",
            "psc_pml5_hit_rate",
            "l2_tlb_mpki",
        ] {
            assert_eq!(*cell(&h, &r, c), Cell::Empty, "{c}");
        }
        assert_eq!(*cell(&h, &r, "pt_load_factor"), Cell::Empty);
        // The custom structure comes after the canonical ones; its level 3 is the last.
        let mine = h.iter().position(|x| x == "tlb_mine_hits").unwrap();
        let l2i = h.iter().position(|x| x == "tlb_l2i_mpki").unwrap();
        assert_eq!(mine, l2i + 1);
        assert_eq!(*cell(&h, &r, "l3_tlb_misses"), Cell::Int(3));
        assert_eq!(*cell(&h, &r, "stlb_mpki"), Cell::Float(0.75));
        assert_eq!(*cell(&h, &r, "stlb_miss_rate"), Cell::Float(0.75));
    }

    #[test]
    fn the_header_is_the_same_for_every_run_of_canonical_structures() {
        let t = total();
        let empty = json!({});
        let a = Layout::of(&[StatsView {
            total: &empty,
            page_tables: &[],
        }]);
        assert_eq!(a.header(), Layout::default().header());
        let b = Layout::of(&[StatsView {
            total: &t,
            page_tables: &[],
        }]);
        // Only the custom TLB (4 columns) and its level 3 (3 columns) are added.
        assert_eq!(b.header().len(), a.header().len() + 7);
    }

    #[test]
    fn virt_columns_come_last_and_only_with_a_virtualized_run() {
        let native = total();
        let mut vm = total();
        // Figures as a report would hold them: 4 + 80 + 16 = 100 references over 4
        // nested walks, 25 per walk.
        vm["virt"] = json!({
            "nested_walks": 4, "guest_entry_refs": 4, "host_refs_for_guest_entries": 80,
            "host_refs_for_data": 16, "refs_per_walk": 25.0, "host_lookups": 20,
            "ntlb_hits": 5, "ntlb_hit_rate": 0.25,
            "exits": {"ept_violation": 3}, "event_ept_violations": 2,
            "vipi_send_exits": 4, "vipi_hypercall_exits": 0, "vipi_kicks": 1,
            "exit_cycles": 7000, "host_fault_cycles": 12000, "event_cycles": 0,
            "preemptions": 0, "preempted_cycles": 0, "vipi_shootdowns": 1,
            "vipi_entry_flushes": 0,
            "nested_fills": 4, "splintered_fills": 1
        });
        fn view(t: &Value) -> StatsView<'_> {
            StatsView {
                total: t,
                page_tables: &[],
            }
        }
        let alone = Layout::of(&[view(&native)]).header();
        let l = Layout::of(&[view(&native), view(&vm)]);
        let h = l.header();
        // The native header is a prefix: every native column keeps its position.
        assert_eq!(h[..alone.len()], alone[..]);
        let tail: Vec<&str> = h[alone.len()..].iter().map(String::as_str).collect();
        assert_eq!(tail, VIRT.iter().map(|c| c.0).collect::<Vec<_>>());
        assert!(!alone.iter().any(|c| c.starts_with("virt_")));
        // The native run's virt cells are empty; the virtualized run's are its figures.
        let (rn, rv) = (l.row(&view(&native)), l.row(&view(&vm)));
        assert_eq!((rn.len(), rv.len()), (h.len(), h.len()));
        for c in VIRT {
            assert_eq!(*cell(&h, &rn, c.0), Cell::Empty, "{}", c.0);
        }
        assert_eq!(*cell(&h, &rv, "virt_refs_per_walk"), Cell::Float(25.0));
        assert_eq!(*cell(&h, &rv, "virt_host_refs_for_data"), Cell::Int(16));
        // 5 hits of 20 host translations; 3 + 2 + 4 + 0 + 1 = 10 exits of five causes.
        assert_eq!(*cell(&h, &rv, "virt_ntlb_hit_rate"), Cell::Float(0.25));
        assert_eq!(*cell(&h, &rv, "virt_exits"), Cell::Int(10));
        assert_eq!(*cell(&h, &rv, "virt_exits_ipi_send"), Cell::Int(4));
        assert_eq!(*cell(&h, &rv, "virt_exits_ept_violation"), Cell::Int(3));
        assert_eq!(*cell(&h, &rv, "virt_splintered_fills"), Cell::Int(1));
        // No host translations: the hit rate is undefined, not 0.
        vm["virt"]["host_lookups"] = json!(0);
        vm["virt"]["ntlb_hits"] = json!(0);
        let rv = l.row(&view(&vm));
        assert_eq!(*cell(&h, &rv, "virt_ntlb_hit_rate"), Cell::Empty);
    }

    #[test]
    fn design_counters_flatten_and_combine_over_tables() {
        let t = json!({});
        let tables = [
            json!({"design": "x", "bytes": 4096, "load_factor": 0.5, "seed": 7,
                   "hist": [1, 2], "mapped": {"4K": 3},
                   "tables": [{"page_size": "2M", "occupancy": 0.25}]}),
            json!({"design": "x", "bytes": 8192, "load_factor": 0.25, "mapped": {"4K": 1}}),
        ];
        let v = StatsView {
            total: &t,
            page_tables: &tables,
        };
        assert_eq!(v.design(), Some("x"));
        let c = v.design_counters();
        let get = |k: &str| c.iter().find(|x| x.0 == k).map(|x| x.1.clone());
        assert_eq!(get("bytes"), Some(Cell::Int(12288)));
        assert_eq!(get("load_factor"), Some(Cell::Float(0.375)));
        assert_eq!(get("mapped_4k"), Some(Cell::Int(4)));
        assert_eq!(get("tables_2m_occupancy"), Some(Cell::Float(0.25)));
        assert_eq!(get("seed"), None);
        assert_eq!(get("hist"), None);
    }

    #[test]
    fn floats_keep_full_precision() {
        assert_eq!(Cell::Float(1.0 / 3.0).to_string(), "0.3333333333333333");
        assert_eq!(Cell::Float(0.1).to_string(), "0.1");
        assert_eq!(Cell::Float(1e-7).to_string(), "0.0000001");
        assert_eq!(Cell::Int(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(Cell::Float(f64::NAN).to_string(), "");
        let x = 0.1 + 0.2;
        assert_eq!(Cell::Float(x).to_string().parse::<f64>().unwrap(), x);
    }

    #[test]
    fn csv_quotes_a_field_with_a_comma() {
        let s = write_csv(
            &["a".into(), "b".into()],
            &[vec!["zipf, 300k".into(), "say \"hi\"".into()]],
        );
        assert_eq!(s, "a,b\n\"zipf, 300k\",\"say \"\"hi\"\"\"\n");
    }
}
