//! Results: the stats tree as JSON, one CSV row, and a table for the terminal.
//!
//! In: a finished run's [`RunStats`] plus the configs that produced it. Out: a
//! [`RunReport`] (serialisable; byte-identical for the same config and seed, so it holds
//! no timestamps or host facts), rendered as JSON, CSV (its columns, shared with the
//! sweep report, in [`columns`]) or text (the summary, in `table.rs`), and files
//! written atomically (temporary file in the same folder, then rename; a run's whole
//! set of files as one, in `result_set.rs`).

pub mod columns;
pub mod prefetch;
pub mod reach;
pub mod result_set;
pub mod rmm;
pub mod spec;
mod table;
pub mod tlb_memory;
mod total;
pub mod utopia;
pub mod virt;

use crate::sim::{CoreStats, RunStats, TranslationCycles};
use crate::stats::Summary;
use crate::tlb::{LevelStats, TlbStats};
use crate::walker::PscStats;
use serde::Serialize;
use std::path::Path;

/// A TLB structure's counters with derived rates.
#[derive(Clone, Debug, Serialize)]
pub struct TlbReport {
    #[serde(flatten)]
    pub counts: TlbStats,
    pub lookups: u64,
    pub miss_rate: f64,
    pub mpki: f64,
}

impl TlbReport {
    /// The counters with their rates (`instrs`: instructions, for MPKI).
    pub fn from_counts(t: TlbStats, instrs: u64) -> TlbReport {
        TlbReport {
            lookups: t.hits + t.misses,
            miss_rate: ratio(t.misses, t.hits + t.misses),
            mpki: per_kilo(t.misses, instrs),
            counts: t,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LevelReport {
    #[serde(flatten)]
    pub counts: LevelStats,
    pub misses: u64,
    pub mpki: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PscReport {
    #[serde(flatten)]
    pub counts: PscStats,
    pub hit_rate: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct WalkReport {
    pub walks: u64,
    pub pte_reads: u64,
    pub pte_reads_per_walk: f64,
    /// PTE reads that went to DRAM.
    pub dram_pte_reads: u64,
    /// Cycles the walker counted probing walk caches and reading PTEs.
    pub walk_cache_cycles: u64,
    pub pte_cycles: u64,
    pub walk_caches: Vec<PscReport>,
    /// Cycles per walk: walk-cache probe + PTE reads.
    pub latency: Summary,
    /// Walks by page-table reads made (index = reads; the last index means that many
    /// or more): chain and probe lengths of hashed designs.
    pub reads_per_walk_histogram: Vec<u64>,
    /// ASAP's prefetched reads and the cycles they saved (`page_table.asap` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asap: Option<crate::walker::AsapStats>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CoreReport {
    pub accesses: u64,
    pub instructions: u64,
    pub loads: u64,
    pub stores: u64,
    pub fetches: u64,
    /// instructions x base CPI + stall cycles + OS cycles outside translation
    /// (context switches, populating mapped ranges).
    pub cycles: u64,
    pub base_cycles: u64,
    /// Cycles the core stalled for address translation.
    pub stall_cycles: u64,
    /// stall_cycles / cycles.
    pub translation_share: f64,
    /// Translation latency by component (sums to `total`).
    pub translation_cycles: TranslationCycles,
    pub translation_cycles_per_access: f64,
    /// Translation latency without OS fault handling (`translation_cycles.total` minus
    /// `translation_cycles.fault`): what the TLBs, walk caches, walks and walker queue
    /// cost, the figure that separates hardware designs.
    pub translation_cycles_excl_faults: u64,
    pub translation_cycles_excl_faults_per_access: f64,
    /// `translation_cycles.fault / translation_cycles.total`: above one half, faults
    /// (first touches, a cold start) decide the result rather than the MMU.
    pub fault_share: f64,
    /// TLB misses of translations the core had never used (compulsory: no TLB could have
    /// held them) and their translation latency, walk and any fault included; the rest
    /// of the misses are capacity and conflict misses.
    pub compulsory_misses: u64,
    pub compulsory_cycles: u64,
    pub tlb: Vec<TlbReport>,
    pub tlb_levels: Vec<LevelReport>,
    pub walks: WalkReport,
    pub minor_faults: u64,
    /// Faults that put back a translation the page table had evicted.
    pub restore_faults: u64,
    /// Of `minor_faults`, those at addresses the table mapped: walks through walk caches
    /// another core's change made stale, before its shootdown arrived (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub spurious_faults: u64,
    /// Translations the page table evicted (hashed designs that evict).
    pub page_table_evictions: u64,
    /// Fault cycles as the OS counted them.
    pub os_fault_cycles: u64,
    /// Huge pages mapped at fault, fallbacks and resident bytes.
    pub huge_pages: HugePageReport,
    /// Page replacement: major faults, evictions, write-backs.
    pub paging: PagingReport,
    /// Workload OS events applied.
    pub os_events: EventReport,
    /// Context switches and what they flushed.
    pub sched: SchedReport,
    /// TLB shootdowns this core started and took.
    pub shootdown: ShootdownReport,
    /// A virtualized machine's nested walks and VM exits (absent natively).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virt: Option<virt::VirtReport>,
    /// Accesses a direct segment translated (absent without `os.direct_segment`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direct_segment: Option<reach::DirectSegmentReport>,
    /// Memory reads of TLB probes (absent without a POM-TLB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlb_memory: Option<tlb_memory::TlbMemoryReport>,
    /// Victima's TLB blocks in the L2 (absent without `[victima]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub victima: Option<reach::VictimaReport>,
    /// The range TLB and range walks (absent without a range TLB, `os.rmm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmm: Option<rmm::RangeTlbReport>,
    /// Utopia's RestSeg (absent without `os.utopia`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub utopia: Option<utopia::UtopiaReport>,
    /// SpecTLB's predictions (absent without `[spectlb]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spectlb: Option<spec::SpecTlbReport>,
    /// The level-1 page-size predictor (absent without `[size_prediction]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_prediction: Option<spec::SizePredictionReport>,
    /// TLB prefetching (absent without `[prefetch]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<prefetch::PrefetchReport>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ShootdownReport {
    pub shootdowns: u64,
    /// Shootdowns started, by what changed the translations.
    pub by_trigger: std::collections::BTreeMap<String, u64>,
    pub ipis_sent: u64,
    /// IPIs per shootdown, and the most of one.
    pub targets_per_shootdown: f64,
    pub max_targets: u64,
    /// Cycles the initiator waited, and cycles targets spent on IPIs (in `cycles`).
    pub initiator_cycles: u64,
    pub remote_cycles: u64,
    pub ipis_received: u64,
    pub page_invalidations: u64,
    pub full_flushes: u64,
    /// TLB entries the full flushes removed, and later misses on pages they took that
    /// had not changed.
    pub entries_flushed: u64,
    pub misses_after_flushes: u64,
    /// Hits on translations already changed, before the IPI arrived.
    pub stale_hits: u64,
    /// Flushes at a switch back to an address space changed meanwhile.
    pub deferred_flushes: u64,
    /// (initiator + remote cycles) / cycles.
    pub share_of_cycles: f64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SchedReport {
    pub context_switches: u64,
    /// Cycles of the switches (in `cycles`, not in translation).
    pub switch_cycles: u64,
    /// Switches that took an address-space id from another process, flushing its
    /// entries; switches that flushed everything (no ids, `asids_per_core = 0`).
    pub asid_flushes: u64,
    pub full_flushes: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EventReport {
    pub munmap_calls: u64,
    pub madvise_calls: u64,
    /// Pages (of any size) removed by unmaps.
    pub unmapped_pages: u64,
    pub fork_calls: u64,
    /// Copy-on-write faults (each copies one page) and the bytes copied.
    pub cow_faults: u64,
    pub cow_copied_bytes: u64,
    /// Stores to copy-on-write pages no other process held any more: made writable
    /// in place, nothing copied.
    pub cow_reuses: u64,
    pub mmap_calls: u64,
    /// Pages `mmap` with `populate` mapped at once.
    pub populated_pages: u64,
    /// Cycles of event work outside any access's translation: populating, and
    /// splitting huge pages a range cuts (in `cycles`).
    pub event_cycles: u64,
    pub mprotect_calls: u64,
    /// Accesses an `mprotect` forbade: each trapped once (in the fault cycles).
    pub protection_faults: u64,
    pub exits: u64,
    pub migrate_calls: u64,
    pub migrated_pages: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PagingReport {
    pub major_faults: u64,
    pub evictions: u64,
    pub writebacks: u64,
}

/// What the huge-page policy did (per core, and summed).
#[derive(Clone, Debug, Default, Serialize)]
pub struct HugePageReport {
    pub faults_2m: u64,
    pub faults_1g: u64,
    pub alloc_failures: u64,
    pub fallbacks: u64,
    /// Bytes mapped by faults: the resident memory, huge pages counted whole.
    pub mapped_bytes: u64,
    /// `promote` / `reserve`: regions turned into 2M pages, collapses that found no
    /// block, small pages copied, and the cycles of it all (inside the fault cycles).
    pub promotions: u64,
    pub collapse_failures: u64,
    pub copied_4k: u64,
    pub promotion_cycles: u64,
    /// `reserve`: reservations made (`stats.physical` counts those broken).
    pub reservations: u64,
    /// 2M pages split into 4K pages (partial unmaps, demotions), demotions under
    /// memory pressure, and the never-written 4 KiB pieces they freed.
    pub splits: u64,
    pub demotions: u64,
    pub demoted_freed_4k: u64,
}

pub use crate::os::PhysReport;

#[derive(Clone, Debug, Serialize)]
pub struct StatsReport {
    pub total: CoreReport,
    pub cores: Vec<CoreReport>,
    pub caches: Vec<crate::memory::CacheStats>,
    /// The page-table design's own counters (per address space, or one shared table).
    pub page_tables: Vec<serde_json::Value>,
    pub page_table_bytes: u64,
    pub phys_bytes_in_use: u64,
    pub physical: PhysReport,
    /// Every process: its id, core, parent, accesses run and state at the end.
    pub processes: Vec<crate::sim::ProcessStats>,
    /// The host of a virtualized machine (absent natively).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<virt::HostReport>,
    /// Ranges and eager paging (absent without `os.rmm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmm: Option<crate::os::rmm::RmmReport>,
}

/// Everything a run writes.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub mmusim_version: &'static str,
    /// FNV-1a of the JSON of `config` and `workload`: equal hashes, equal inputs.
    pub config_hash: String,
    pub seed: u64,
    /// The run was stopped (Ctrl-C) before its streams ended: `stats` cover the
    /// accesses simulated until then. Left out of complete runs' JSON.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub config: serde_json::Value,
    pub workload: serde_json::Value,
    /// The warm-up that preceded the statistics, and the rule that chose it.
    pub warmup: WarmupReport,
    /// Fault handling is more than half of the translation cycles
    /// (`stats.total.fault_share > 0.5`): the run measures a cold start (first touches)
    /// more than the MMU; a longer warm-up or a populated footprint measures the MMU.
    pub fault_dominated: bool,
    pub stats: StatsReport,
    /// The system config as the user named it (a preset or a file's path), for the
    /// CSV; not in the JSON, which stays the same wherever the file lies.
    #[serde(skip)]
    pub config_file: String,
}

/// The warm-up of a run (`sim.warmup_accesses`, resolved).
#[derive(Clone, Debug, Default, Serialize)]
pub struct WarmupReport {
    /// Accesses per core simulated before the statistics restart.
    pub accesses_per_core: u64,
    /// How that number was chosen (`"auto: ..."` or `"set"`).
    pub rule: String,
    /// Every core got past it. If not (a trace shorter than the warm-up set, a run
    /// stopped by Ctrl-C inside it), nothing was restarted and every figure counts the
    /// cold start from the first access.
    pub reached: bool,
}

/// A counter left out of the report while zero (one that only some runs can have).
fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

pub(crate) fn per_kilo(a: u64, instrs: u64) -> f64 {
    ratio(a * 1000, instrs)
}

fn core_report(c: &CoreStats) -> CoreReport {
    let k = &c.counters;
    let instrs = k.instructions;
    let sd = &c.os.shootdown;
    let cycles = c.base_cycles
        + k.stall_cycles
        + c.os.switch_cycles
        + c.os.event_cycles
        + sd.initiator_cycles
        + sd.remote_cycles
        + c.virt.as_ref().map_or(0, |(_, v)| {
            v.preempted_cycles
                + v.host_flush_cycles
                + v.host_flush_remote_cycles
                + v.vm_switch_cycles
        });
    CoreReport {
        accesses: k.accesses,
        instructions: instrs,
        loads: k.loads,
        stores: k.stores,
        fetches: k.fetches,
        cycles,
        base_cycles: c.base_cycles,
        stall_cycles: k.stall_cycles,
        translation_share: ratio(k.stall_cycles, cycles),
        translation_cycles: k.translation.clone(),
        translation_cycles_per_access: ratio(k.translation.total, k.accesses),
        translation_cycles_excl_faults: k.translation.total - k.translation.fault,
        translation_cycles_excl_faults_per_access: ratio(
            k.translation.total - k.translation.fault,
            k.accesses,
        ),
        fault_share: ratio(k.translation.fault, k.translation.total),
        compulsory_misses: k.compulsory_misses,
        compulsory_cycles: k.compulsory_cycles,
        tlb: c
            .tlb
            .iter()
            .map(|t| TlbReport::from_counts(t.clone(), instrs))
            .collect(),
        tlb_levels: c
            .tlb_levels
            .iter()
            .map(|l| {
                let misses = l.instruction_misses + l.data_misses;
                LevelReport {
                    misses,
                    mpki: per_kilo(misses, instrs),
                    counts: l.clone(),
                }
            })
            .collect(),
        walks: WalkReport {
            walks: c.walks,
            pte_reads: c.pte_reads,
            pte_reads_per_walk: ratio(c.pte_reads, c.walks),
            dram_pte_reads: c.dram_pte_reads,
            walk_cache_cycles: c.walker_psc_cycles,
            pte_cycles: c.walker_pte_cycles,
            walk_caches: c
                .psc
                .iter()
                .map(|p| PscReport {
                    hit_rate: ratio(p.hits, p.lookups),
                    counts: p.clone(),
                })
                .collect(),
            latency: c.walk_latency.summary(),
            reads_per_walk_histogram: {
                let mut h = c.reads_hist.clone();
                while h.last() == Some(&0) {
                    h.pop();
                }
                h
            },
            asap: c.asap,
        },
        minor_faults: c.os.minor_faults,
        restore_faults: c.os.restore_faults,
        spurious_faults: c.os.spurious_faults,
        page_table_evictions: c.os.evictions,
        os_fault_cycles: c.os.fault_cycles,
        huge_pages: HugePageReport {
            faults_2m: c.os.huge_faults_2m,
            faults_1g: c.os.huge_faults_1g,
            alloc_failures: c.os.huge_alloc_failures,
            fallbacks: c.os.huge_fallbacks,
            // Per core it may go below 0 with threads (see OsStats); the total is exact.
            mapped_bytes: c.os.mapped_bytes.max(0) as u64,
            promotions: c.os.promotions,
            collapse_failures: c.os.collapse_failures,
            copied_4k: c.os.copied_4k,
            promotion_cycles: c.os.promotion_cycles,
            reservations: c.os.reservations,
            splits: c.os.splits,
            demotions: c.os.demotions,
            demoted_freed_4k: c.os.demoted_freed_4k,
        },
        paging: PagingReport {
            major_faults: c.os.major_faults,
            evictions: c.os.page_evictions,
            writebacks: c.os.writebacks,
        },
        os_events: EventReport {
            munmap_calls: c.os.munmap_calls,
            madvise_calls: c.os.madvise_calls,
            unmapped_pages: c.os.unmapped_pages,
            fork_calls: c.os.fork_calls,
            cow_faults: c.os.cow_faults,
            cow_copied_bytes: c.os.cow_copied_bytes,
            cow_reuses: c.os.cow_reuses,
            mmap_calls: c.os.mmap_calls,
            populated_pages: c.os.populated_pages,
            event_cycles: c.os.event_cycles,
            mprotect_calls: c.os.mprotect_calls,
            protection_faults: c.os.protection_faults,
            exits: c.os.exits,
            migrate_calls: c.os.migrate_calls,
            migrated_pages: c.os.migrated_pages,
        },
        shootdown: ShootdownReport {
            shootdowns: sd.shootdowns(),
            by_trigger: (crate::os::Trigger::ALL.iter().zip(sd.by_trigger))
                .filter(|(_, n)| *n > 0)
                .map(|(t, n)| {
                    let name = serde_json::to_value(t)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    (name, n)
                })
                .collect(),
            ipis_sent: sd.ipis_sent,
            targets_per_shootdown: ratio(sd.ipis_sent, sd.shootdowns()),
            max_targets: sd.max_targets,
            initiator_cycles: sd.initiator_cycles,
            remote_cycles: sd.remote_cycles,
            ipis_received: sd.ipis_received,
            page_invalidations: sd.page_invalidations,
            full_flushes: sd.full_flushes,
            entries_flushed: sd.entries_flushed,
            misses_after_flushes: sd.flush_misses,
            stale_hits: sd.stale_hits,
            deferred_flushes: sd.deferred_flushes,
            share_of_cycles: ratio(sd.initiator_cycles + sd.remote_cycles, cycles),
        },
        sched: SchedReport {
            context_switches: c.os.context_switches,
            switch_cycles: c.os.switch_cycles,
            asid_flushes: c.os.asid_flushes,
            full_flushes: c.os.switch_flushes,
        },
        virt: (c.virt.as_ref()).map(|(n, v)| virt::VirtReport::new(n, v)),
        direct_segment: (c.direct_segment).then(|| reach::DirectSegmentReport::new(k)),
        tlb_memory: (c.tlb_memory.as_ref()).map(|l| tlb_memory::TlbMemoryReport::new(k, l)),
        victima: (c.victima).map(|held| reach::VictimaReport::new(&k.victima, held)),
        rmm: c
            .range_tlb_hits
            .map(|hits| rmm::RangeTlbReport::new(hits, k)),
        utopia: (c.utopia.as_ref()).map(|(l, o)| utopia::UtopiaReport::new(k, &c.os, l, *o)),
        spectlb: c.spectlb.then(|| spec::SpecTlbReport::new(&k.spectlb)),
        size_prediction: (c.size_prediction.as_ref()).map(spec::SizePredictionReport::new),
        prefetch: (c.prefetch.as_ref()).map(|p| prefetch::PrefetchReport::new(k, c.walks, p)),
    }
}

impl CoreReport {
    /// The accounting invariant: the translation latency the core measured from
    /// timestamps equals the sum of its parts, and each part equals what the component
    /// that spent it counted (TLB levels, walker, walk-latency histogram, OS).
    pub fn check_accounting(&self) -> Result<(), String> {
        let t = &self.translation_cycles;
        let level_cycles: u64 = self.tlb_levels.iter().map(|l| l.counts.cycles).sum();
        // A direct segment's checks run beside the L1 TLB and are TLB time it counts.
        let segment_cycles = (self.direct_segment.as_ref()).map_or(0, |d| d.cycles);
        // A POM-TLB's reads and a RestSeg walk's tag reads are TLB time: the probes wait.
        let read_cycles = (self.tlb_memory.as_ref()).map_or(0, |m| m.cycles) + utopia::cycles(self);
        // SpecTLB's answers and squashes are TLB time; the walks it hid are the
        // walker's but in no access's translation.
        let spec = (self.spectlb.as_ref()).map(|s| &s.counters);
        let spec_cycles = spec.map_or(0, |s| s.cycles);
        let hidden_psc = spec.map_or(0, |s| s.hidden_walk_cache_cycles);
        let hidden_pte = spec.map_or(0, |s| s.hidden_pte_cycles);
        let checks = [
            ("total vs sum of parts", t.total, t.parts()),
            (
                "TLB cycles vs TLB levels, direct segment, TLB memory, RestSeg tag reads and SpecTLB",
                t.tlb,
                level_cycles + segment_cycles + read_cycles + spec_cycles,
            ),
            (
                "walk-cache cycles vs walker",
                t.walk_cache + hidden_psc,
                self.walks.walk_cache_cycles,
            ),
            (
                "PTE cycles vs walker and Victima's block reads",
                t.pte + hidden_pte,
                self.walks.pte_cycles
                    + (self.victima.as_ref()).map_or(0, |v| v.counters.block_hit_cycles),
            ),
            (
                "walk latency histogram vs walker",
                self.walks.latency.total,
                self.walks.walk_cache_cycles + self.walks.pte_cycles,
            ),
            (
                "fault cycles vs OS and hypervisor",
                t.fault,
                self.os_fault_cycles
                    + (self.virt.as_ref()).map_or(0, |v| {
                        let h = &v.hypervisor;
                        h.exit_cycles + h.host_fault_cycles + h.shadow.work_cycles
                    }),
            ),
        ];
        for (what, a, b) in checks {
            if a != b {
                return Err(format!("accounting: {what}: {a} != {b}"));
            }
        }
        Ok(())
    }
}

/// 64-bit FNV-1a, printed as 16 hex digits.
pub fn fnv1a(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl RunReport {
    pub fn new<C: Serialize, W: Serialize>(
        config: &C,
        workload: &W,
        seed: u64,
        stats: &RunStats,
    ) -> RunReport {
        let config = serde_json::to_value(config).expect("config serialises");
        let workload = serde_json::to_value(workload).expect("workload serialises");
        let hash_input = serde_json::to_string(&(&config, &workload)).expect("serialises");
        let total = core_report(&total::total(&stats.cores));
        let warmup = config
            .pointer("/sim/warmup_accesses")
            .and_then(|w| w.as_u64())
            .unwrap_or(0);
        RunReport {
            mmusim_version: env!("CARGO_PKG_VERSION"),
            config_hash: fnv1a(hash_input.as_bytes()),
            seed,
            partial: false,
            config,
            workload,
            warmup: WarmupReport {
                accesses_per_core: warmup,
                rule: "set".into(),
                reached: stats.cores.iter().all(|c| c.warm),
            },
            fault_dominated: total.fault_share > 0.5,
            stats: StatsReport {
                total,
                cores: stats.cores.iter().map(core_report).collect(),
                caches: stats.caches.clone(),
                page_tables: stats.page_tables.clone(),
                page_table_bytes: stats.page_table_bytes,
                phys_bytes_in_use: stats.phys_bytes_in_use,
                physical: stats.physical.clone(),
                processes: stats.processes.clone(),
                host: stats.host.clone(),
                rmm: stats.rmm.clone(),
            },
            config_file: String::new(),
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("report serialises");
        s.push('\n');
        s
    }

    /// Header and one row: the run's identity (config name, the config file or preset
    /// it came from, page-table design, workload, seed, config hash), then the stable
    /// statistics columns of [`columns`]. The same header for every preset.
    pub fn to_csv(&self) -> String {
        csv_of(std::slice::from_ref(self))
    }
}

/// The identity columns of a run's CSV row, before the statistics.
pub const IDENTITY: [&str; 9] = [
    "config",
    "config_file",
    "design",
    "workload",
    "seed",
    "partial",
    "config_hash",
    "warmup_accesses",
    "warmup_reached",
];

/// One CSV of several runs (a row each, in order): the identity columns and the
/// statistics columns of [`columns`], the structures of every run in one header.
pub fn csv_of(reports: &[RunReport]) -> String {
    let totals: Vec<serde_json::Value> = (reports.iter())
        .map(|r| serde_json::to_value(&r.stats.total).expect("stats serialise"))
        .collect();
    let views: Vec<columns::StatsView> = (reports.iter().zip(&totals))
        .map(|(r, t)| columns::StatsView {
            total: t,
            page_tables: &r.stats.page_tables,
        })
        .collect();
    let layout = columns::Layout::of(&views);
    let mut header: Vec<String> = IDENTITY.iter().map(|s| s.to_string()).collect();
    header.extend(layout.header());
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let rows: Vec<Vec<String>> = (reports.iter().zip(&views))
        .map(|(r, v)| {
            let mut row = vec![
                text(&r.config["name"]),
                r.config_file.clone(),
                text(&r.config["page_table"]["kind"]),
                text(&r.workload["name"]),
                r.seed.to_string(),
                r.partial.to_string(),
                r.config_hash.clone(),
                r.warmup.accesses_per_core.to_string(),
                r.warmup.reached.to_string(),
            ];
            row.extend(layout.row(v).iter().map(|c| c.to_string()));
            row
        })
        .collect();
    columns::write_csv(&header, &rows)
}

impl RunReport {
    /// The warning a fault-dominated run prints (see [`RunReport::fault_dominated`]).
    pub fn fault_warning(&self) -> Option<String> {
        self.fault_dominated.then(|| {
            format!(
                "WARNING: page faults are {:.1}% of the translation cycles: this run measures a cold start\n\
                 (first touches) more than the MMU. Compare `translation without faults`, warm up longer\n\
                 (sim.warmup_accesses), or populate the footprint (an mmap event with populate = true).",
                100.0 * self.stats.total.fault_share
            )
        })
    }
}

/// Write `contents` to `path` atomically: a temporary file in the same folder, flushed
/// and synced, then renamed over the target, so a crash never leaves half a result.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
