//! Results: the stats tree as JSON, one CSV row, and a table for the terminal.
//!
//! In: a finished run's [`RunStats`] plus the configs that produced it. Out: a
//! [`RunReport`] (serialisable; byte-identical for the same config and seed, so it holds
//! no timestamps or host facts), rendered as JSON, CSV or text, and files written
//! atomically (temporary file in the same folder, then rename).

use crate::sim::{CoreStats, RunStats, TranslationCycles};
use crate::stats::{Histogram, Summary};
use crate::tlb::{LevelStats, TlbStats};
use crate::walker::PscStats;
use serde::Serialize;
use std::fmt::Write as _;
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
    pub tlb: Vec<TlbReport>,
    pub tlb_levels: Vec<LevelReport>,
    pub walks: WalkReport,
    pub minor_faults: u64,
    /// Faults that put back a translation the page table had evicted.
    pub restore_faults: u64,
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
    pub stats: StatsReport,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn per_kilo(a: u64, instrs: u64) -> f64 {
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
        + sd.remote_cycles;
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
        },
        minor_faults: c.os.minor_faults,
        restore_faults: c.os.restore_faults,
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
    }
}

/// Sum per-core counters into machine totals.
fn total(cores: &[CoreStats]) -> CoreStats {
    let mut t = CoreStats {
        counters: Default::default(),
        base_cycles: 0,
        tlb: cores[0].tlb.clone(),
        tlb_levels: cores[0].tlb_levels.clone(),
        walks: 0,
        pte_reads: 0,
        walker_psc_cycles: 0,
        walker_pte_cycles: 0,
        psc: cores[0].psc.clone(),
        walk_latency: Histogram::default(),
        reads_hist: vec![0; cores[0].reads_hist.len()],
        os: Default::default(),
        dram_pte_reads: 0,
    };
    for x in t.tlb.iter_mut() {
        *x = TlbStats {
            name: x.name.clone(),
            level: x.level,
            ..Default::default()
        };
    }
    for x in t.tlb_levels.iter_mut() {
        *x = LevelStats {
            level: x.level,
            ..Default::default()
        };
    }
    for x in t.psc.iter_mut() {
        *x = PscStats {
            name: x.name.clone(),
            level: x.level,
            ..Default::default()
        };
    }
    for c in cores {
        let (a, b) = (&mut t.counters, &c.counters);
        a.accesses += b.accesses;
        a.loads += b.loads;
        a.stores += b.stores;
        a.fetches += b.fetches;
        a.instructions += b.instructions;
        a.stall_cycles += b.stall_cycles;
        let (x, y) = (&mut a.translation, &b.translation);
        x.tlb += y.tlb;
        x.walk_cache += y.walk_cache;
        x.pte += y.pte;
        x.wait += y.wait;
        x.fault += y.fault;
        x.total += y.total;
        t.base_cycles += c.base_cycles;
        for (x, y) in t.tlb.iter_mut().zip(&c.tlb) {
            x.hits += y.hits;
            x.misses += y.misses;
            x.fills += y.fills;
            x.evictions += y.evictions;
        }
        for (x, y) in t.tlb_levels.iter_mut().zip(&c.tlb_levels) {
            x.instruction_hits += y.instruction_hits;
            x.instruction_misses += y.instruction_misses;
            x.data_hits += y.data_hits;
            x.data_misses += y.data_misses;
            x.cycles += y.cycles;
        }
        for (x, y) in t.psc.iter_mut().zip(&c.psc) {
            x.lookups += y.lookups;
            x.hits += y.hits;
        }
        t.walks += c.walks;
        t.pte_reads += c.pte_reads;
        t.walker_psc_cycles += c.walker_psc_cycles;
        t.walker_pte_cycles += c.walker_pte_cycles;
        t.walk_latency.merge(&c.walk_latency);
        for (x, y) in t.reads_hist.iter_mut().zip(&c.reads_hist) {
            *x += y;
        }
        t.os.add(&c.os);
        t.dram_pte_reads += c.dram_pte_reads;
    }
    t
}

impl CoreReport {
    /// The accounting invariant: the translation latency the core measured from
    /// timestamps equals the sum of its parts, and each part equals what the component
    /// that spent it counted (TLB levels, walker, walk-latency histogram, OS).
    pub fn check_accounting(&self) -> Result<(), String> {
        let t = &self.translation_cycles;
        let level_cycles: u64 = self.tlb_levels.iter().map(|l| l.counts.cycles).sum();
        let checks = [
            ("total vs sum of parts", t.total, t.parts()),
            ("TLB cycles vs TLB levels", t.tlb, level_cycles),
            (
                "walk-cache cycles vs walker",
                t.walk_cache,
                self.walks.walk_cache_cycles,
            ),
            ("PTE cycles vs walker", t.pte, self.walks.pte_cycles),
            (
                "walk latency histogram vs walker",
                self.walks.latency.total,
                self.walks.walk_cache_cycles + self.walks.pte_cycles,
            ),
            ("fault cycles vs OS", t.fault, self.os_fault_cycles),
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
        RunReport {
            mmusim_version: env!("CARGO_PKG_VERSION"),
            config_hash: fnv1a(hash_input.as_bytes()),
            seed,
            partial: false,
            config,
            workload,
            stats: StatsReport {
                total: core_report(&total(&stats.cores)),
                cores: stats.cores.iter().map(core_report).collect(),
                caches: stats.caches.clone(),
                page_tables: stats.page_tables.clone(),
                page_table_bytes: stats.page_table_bytes,
                phys_bytes_in_use: stats.phys_bytes_in_use,
                physical: stats.physical.clone(),
                processes: stats.processes.clone(),
            },
        }
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("report serialises");
        s.push('\n');
        s
    }

    /// Header and one row of headline figures (machine totals).
    pub fn to_csv(&self) -> String {
        let t = &self.stats.total;
        let mut cols: Vec<(String, String)> = vec![
            ("config_hash".into(), self.config_hash.clone()),
            ("seed".into(), self.seed.to_string()),
            ("partial".into(), self.partial.to_string()),
            ("accesses".into(), t.accesses.to_string()),
            ("instructions".into(), t.instructions.to_string()),
            ("cycles".into(), t.cycles.to_string()),
            ("stall_cycles".into(), t.stall_cycles.to_string()),
            (
                "translation_share".into(),
                format!("{:.6}", t.translation_share),
            ),
            (
                "translation_cycles".into(),
                t.translation_cycles.total.to_string(),
            ),
            ("tlb_cycles".into(), t.translation_cycles.tlb.to_string()),
            (
                "walk_cache_cycles".into(),
                t.translation_cycles.walk_cache.to_string(),
            ),
            ("pte_cycles".into(), t.translation_cycles.pte.to_string()),
            ("wait_cycles".into(), t.translation_cycles.wait.to_string()),
            (
                "fault_cycles".into(),
                t.translation_cycles.fault.to_string(),
            ),
            ("walks".into(), t.walks.walks.to_string()),
            (
                "pte_reads_per_walk".into(),
                format!("{:.4}", t.walks.pte_reads_per_walk),
            ),
            (
                "walk_latency_mean".into(),
                format!("{:.2}", t.walks.latency.mean),
            ),
            ("walk_latency_p50".into(), t.walks.latency.p50.to_string()),
            ("walk_latency_p90".into(), t.walks.latency.p90.to_string()),
            ("walk_latency_p99".into(), t.walks.latency.p99.to_string()),
            ("minor_faults".into(), t.minor_faults.to_string()),
            ("huge_faults_2m".into(), t.huge_pages.faults_2m.to_string()),
            ("huge_faults_1g".into(), t.huge_pages.faults_1g.to_string()),
            ("huge_fallbacks".into(), t.huge_pages.fallbacks.to_string()),
            ("mapped_bytes".into(), t.huge_pages.mapped_bytes.to_string()),
            ("promotions".into(), t.huge_pages.promotions.to_string()),
            ("major_faults".into(), t.paging.major_faults.to_string()),
            ("page_evictions".into(), t.paging.evictions.to_string()),
        ];
        for l in &t.tlb_levels {
            cols.push((
                format!("l{}_tlb_mpki", l.counts.level),
                format!("{:.4}", l.mpki),
            ));
        }
        for s in &t.tlb {
            cols.push((format!("{}_mpki", s.counts.name), format!("{:.4}", s.mpki)));
        }
        for p in &t.walks.walk_caches {
            cols.push((
                format!("{}_hit_rate", p.counts.name),
                format!("{:.4}", p.hit_rate),
            ));
        }
        let esc = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let head: Vec<String> = cols.iter().map(|c| esc(&c.0)).collect();
        let row: Vec<String> = cols.iter().map(|c| esc(&c.1)).collect();
        format!("{}\n{}\n", head.join(","), row.join(","))
    }

    /// A readable summary for the terminal.
    pub fn to_table(&self) -> String {
        let t = &self.stats.total;
        let mut o = String::new();
        let cores = self.stats.cores.len();
        let _ = writeln!(
            o,
            "mmusim {}  config {}  seed {}  cores {}",
            self.mmusim_version, self.config_hash, self.seed, cores
        );
        let _ = writeln!(
            o,
            "accesses {}  instructions {}  cycles {}  translation stall {} ({:.2}% of cycles)",
            t.accesses,
            t.instructions,
            t.cycles,
            t.stall_cycles,
            100.0 * t.translation_share
        );
        let tc = &t.translation_cycles;
        let _ = writeln!(
            o,
            "translation latency {} cycles ({:.2}/access): TLB {}  walk caches {}  PTE reads {}  walker wait {}  faults {}",
            tc.total, t.translation_cycles_per_access, tc.tlb, tc.walk_cache, tc.pte, tc.wait, tc.fault
        );
        let _ = writeln!(
            o,
            "\n{:<14} {:>5} {:>12} {:>12} {:>9} {:>9}",
            "TLB", "level", "hits", "misses", "miss %", "MPKI"
        );
        for s in &t.tlb {
            let _ = writeln!(
                o,
                "{:<14} {:>5} {:>12} {:>12} {:>9.3} {:>9.3}",
                s.counts.name,
                s.counts.level,
                s.counts.hits,
                s.counts.misses,
                100.0 * s.miss_rate,
                s.mpki
            );
        }
        for l in &t.tlb_levels {
            let _ = writeln!(
                o,
                "{:<14} {:>5} {:>12} {:>12} {:>9} {:>9.3}",
                format!("(level {})", l.counts.level),
                l.counts.level,
                l.counts.instruction_hits + l.counts.data_hits,
                l.misses,
                "",
                l.mpki
            );
        }
        let w = &t.walks;
        let _ = writeln!(
            o,
            "\nwalks {}  PTE reads/walk {:.3}  PTE reads from DRAM {}  walk latency mean {:.1}  p50 {}  p90 {}  p99 {}  max {}",
            w.walks, w.pte_reads_per_walk, w.dram_pte_reads, w.latency.mean, w.latency.p50, w.latency.p90, w.latency.p99, w.latency.max
        );
        for p in &w.walk_caches {
            let _ = writeln!(
                o,
                "  walk cache {:<10} level {}  lookups {:>10}  hits {:>10}  hit rate {:.2}%",
                p.counts.name,
                p.counts.level,
                p.counts.lookups,
                p.counts.hits,
                100.0 * p.hit_rate
            );
        }
        let _ = writeln!(
            o,
            "minor faults {}  page tables {} KiB  physical memory in use {} MiB",
            t.minor_faults,
            self.stats.page_table_bytes >> 10,
            self.stats.phys_bytes_in_use >> 20
        );
        let h = &t.huge_pages;
        let pg = &t.paging;
        if pg.major_faults + pg.evictions > 0 {
            let _ = writeln!(
                o,
                "paging: major faults {}  evictions {}  write-backs {}",
                pg.major_faults, pg.evictions, pg.writebacks
            );
        }
        if h.promotions + h.reservations > 0 {
            let _ = writeln!(
                o,
                "promotions {}  collapse failures {}  pages copied {}  promotion cycles {}  reservations {} (broken {})",
                h.promotions,
                h.collapse_failures,
                h.copied_4k,
                h.promotion_cycles,
                h.reservations,
                self.stats.physical.reservations_broken
            );
        }
        if h.faults_2m + h.faults_1g + h.fallbacks + self.stats.physical.pinned_frames > 0 {
            let _ = writeln!(
                o,
                "huge pages: 2M {}  1G {}  fallbacks {}  mapped {} MiB  pinned frames {}  free 2M blocks {}",
                h.faults_2m,
                h.faults_1g,
                h.fallbacks,
                h.mapped_bytes >> 20,
                self.stats.physical.pinned_frames,
                self.stats.physical.free_2m_blocks
            );
        }
        o
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
