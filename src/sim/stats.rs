//! What a run counted, gathered from the components: per core (counters, TLBs, walker,
//! OS), the caches, the page tables, physical memory, the processes; and the timeline's
//! cumulative points.
//!
//! In: the simulator's components at the end of a run (or at a timeline window's end).
//! Out: [`RunStats`] and [`TimelinePoint`], plain values the report formats.

use super::core::{base_cycles, Core, CoreCounters, Timing};
use super::{ProcessStats, Simulator};
use crate::memory::CacheStats;
use crate::os::{OsStats, PhysReport};
use crate::pagetable::PageTable;
use crate::stats::Histogram;
use crate::tlb::{LevelStats, TlbStats};
use crate::walker::PscStats;

/// Everything a finished run counted.
pub struct RunStats {
    pub cores: Vec<CoreStats>,
    pub caches: Vec<CacheStats>,
    /// Each table's design-specific counters (one per address space, or one shared).
    pub page_tables: Vec<serde_json::Value>,
    pub page_table_bytes: u64,
    pub phys_bytes_in_use: u64,
    pub physical: PhysReport,
    pub processes: Vec<ProcessStats>,
    /// The host side of a virtualized machine.
    pub host: Option<crate::report::virt::HostReport>,
    /// Redundant Memory Mappings' ranges and eager paging (`None` without `os.rmm`).
    pub rmm: Option<crate::os::rmm::RmmReport>,
}

/// One core's counters gathered from its components.
pub struct CoreStats {
    pub counters: CoreCounters,
    pub base_cycles: u64,
    pub tlb: Vec<TlbStats>,
    pub tlb_levels: Vec<LevelStats>,
    pub walks: u64,
    pub pte_reads: u64,
    /// Walk-cache probe and PTE-read cycles as the walker counted them.
    pub walker_psc_cycles: u64,
    pub walker_pte_cycles: u64,
    pub psc: Vec<PscStats>,
    pub walk_latency: Histogram,
    pub reads_hist: Vec<u64>,
    pub os: OsStats,
    pub dram_pte_reads: u64,
    /// Whether the core got past its warm-up (always, with none): if not, its counters
    /// were never restarted and count the cold start.
    pub warm: bool,
    /// A virtualized machine's nested walks and hypervisor work (`None` natively).
    pub virt: Option<(crate::walker::NestedStats, crate::virt::VirtStats)>,
    /// Processes have direct segments (`os.direct_segment`): the report shows
    /// `counters.direct_segment_hits`.
    pub direct_segment: bool,
    /// Hits of the range TLB, when some structure holds ranges (RMM); the report then
    /// shows the range walks of `counters`.
    pub range_tlb_hits: Option<u64>,
    /// Some TLB probe reads memory (a POM-TLB): the names of the core's memory levels,
    /// nearest first, then DRAM, for `counters.tlb_memory_reads`.
    pub tlb_memory: Option<Vec<String>>,
    /// Victima is on: the blocks the core's L2 holds, by page size (4K, 2M, 1G).
    pub victima: Option<[u64; 3]>,
    /// A Utopia RestSeg (`os.utopia`): the core's memory level names (as `tlb_memory`)
    /// and the RestSeg's occupancy at the end.
    pub utopia: Option<(Vec<String>, crate::report::utopia::Occupancy)>,
    /// SpecTLB is on: the report shows `counters.spectlb`.
    pub spectlb: bool,
    /// The level-1 page-size predictor's counters (`None` without one).
    pub size_prediction: Option<crate::tlb::size_predict::SizePredictionStats>,
    /// TLB prefetching is on: the prefetcher's own counters and tables (`{}` in the
    /// machine totals).
    pub prefetch: Option<serde_json::Value>,
    /// ASAP's walker counters (`page_table.asap`).
    pub asap: Option<crate::walker::AsapStats>,
}

/// A core's cumulative counters at the end of a timeline window (`run --timeline`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimelinePoint {
    pub accesses: u64,
    /// Hits at TLB level 1, level 2 (0 when there is none) and at any level.
    pub l1_hits: u64,
    pub l2_hits: u64,
    pub tlb_hits: u64,
    pub walks: u64,
    /// Translation latency (the core's `translation_cycles.total`).
    pub translation_cycles: u64,
    /// instructions x base CPI + stall cycles, as the report counts a core's cycles.
    pub cycles: u64,
    /// Page faults (minor and major) so far.
    pub faults: u64,
    /// The address space's resident bytes now (a level, not a count).
    pub resident_bytes: u64,
}

/// A core's cumulative timeline counters now.
pub(super) fn timeline_point(c: &Core, t: &Timing) -> TimelinePoint {
    let hits = |l: usize| {
        if l < c.tlbs.num_levels() {
            c.tlbs.level_hits(l)
        } else {
            0
        }
    };
    TimelinePoint {
        accesses: c.counters.accesses,
        l1_hits: hits(0),
        l2_hits: hits(1),
        tlb_hits: (0..c.tlbs.num_levels()).map(hits).sum(),
        walks: c.walker.stats.walks,
        translation_cycles: c.counters.translation.total,
        cycles: base_cycles(c.counters.instructions, t.cpi_milli)
            + c.counters.stall_cycles
            + c.os_stats.switch_cycles
            + c.os_stats.event_cycles
            + c.os_stats.shootdown.initiator_cycles
            + c.os_stats.shootdown.remote_cycles
            + c.virt.preempted_cycles
            + c.virt.host_flush_cycles
            + c.virt.host_flush_remote_cycles
            + c.virt.vm_switch_cycles,
        faults: c.os_stats.minor_faults + c.os_stats.major_faults,
        resident_bytes: c.os_stats.mapped_bytes.max(0) as u64,
    }
}

impl<PT: PageTable> Simulator<PT> {
    /// Gather every component's counters.
    pub fn stats(&self) -> RunStats {
        let mem = &self.sh.mem;
        RunStats {
            cores: (self.cores.iter())
                .map(|c| CoreStats {
                    base_cycles: base_cycles(c.counters.instructions, self.timing.cpi_milli),
                    counters: c.counters.clone(),
                    tlb: c.tlbs.stats(),
                    tlb_levels: c.tlbs.level_stats(),
                    walks: c.walker.stats.walks,
                    pte_reads: c.walker.stats.pte_reads,
                    walker_psc_cycles: c.walker.stats.psc_cycles,
                    walker_pte_cycles: c.walker.stats.pte_cycles,
                    psc: c.walker.stats.psc.clone(),
                    walk_latency: c.walker.stats.latency.clone(),
                    reads_hist: c.walker.stats.reads_hist.clone(),
                    os: c.os_stats.clone(),
                    dram_pte_reads: mem.dram_pte_reads(c.id),
                    warm: c.warm,
                    virt: self.sh.virt.is_some().then(|| {
                        let mut n = c.walker.stats.nested.clone();
                        n.host_psc = c.walker.host_psc_stats();
                        (n, c.virt.clone())
                    }),
                    direct_segment: self.timing.direct_segment,
                    spectlb: self.timing.spectlb,
                    size_prediction: c.tlbs.size_prediction_stats(),
                    range_tlb_hits: c.tlbs.has_ranges().then(|| c.tlbs.range_hits()),
                    tlb_memory: (self.timing.tlb_reads_memory)
                        .then(|| (mem.level_names(c.id).into_iter()).map(|l| l.0).collect()),
                    victima: (self.timing.victima)
                        .then(|| super::victima::blocks_held(&self.sh, c.id)),
                    prefetch: (c.prefetch.as_deref()).map(|p| p.own_stats()),
                    utopia: self.sh.os[0].restseg().map(|r| {
                        let names = (mem.level_names(c.id).into_iter()).map(|l| l.0).collect();
                        let o = crate::report::utopia::Occupancy {
                            ways: r.capacity(),
                            occupied: r.occupied,
                            peak: r.peak,
                        };
                        (names, o)
                    }),
                    asap: c.walker.stats.asap,
                })
                .collect(),
            caches: mem.stats(),
            page_tables: self.spaces.iter().map(|s| s.stats()).collect(),
            processes: self.process_stats(),
            page_table_bytes: self.spaces.iter().map(|s| s.table_bytes()).sum(),
            // Every VM's guest-physical memory together (the one OS's natively; each
            // VM's apart in `host.vms`).
            phys_bytes_in_use: self.sh.os.iter().map(|o| o.frames.bytes_in_use).sum(),
            physical: match self.sh.os.as_slice() {
                [os] => os.phys_report(),
                all => {
                    let each: Vec<_> = all.iter().map(|o| o.phys_report()).collect();
                    crate::os::PhysReport::sum(&each)
                }
            },
            rmm: self.sh.os[0].rmm_report().map(|mut r| {
                // Coverage: the share of the memory mapped now that ranges cover.
                let mapped: i64 = self.cores.iter().map(|c| c.os_stats.mapped_bytes).sum();
                r.coverage = if mapped > 0 {
                    (r.range_pages << 12) as f64 / mapped as f64
                } else {
                    0.0
                };
                r
            }),
            host: self
                .sh
                .virt
                .as_deref()
                .map(|hv| crate::report::virt::HostReport {
                    host_table_bytes: hv.table_bytes(),
                    host_tables: hv.table_stats(),
                    physical: hv.os.phys_report(),
                    backed_bytes: hv.host_stats.mapped_bytes.max(0) as u64,
                    backed_2m_pages: hv.host_stats.huge_faults_2m,
                    backed_1g_pages: hv.host_stats.huge_faults_1g,
                    shadow_table_bytes: hv.shadow_table_bytes(),
                    vms: self.vm_reports(hv),
                }),
        }
    }

    /// Each VM's share of the machine, on a machine of several (empty with one).
    fn vm_reports(&self, hv: &crate::virt::Hypervisor) -> Vec<crate::report::virt::VmReport> {
        if hv.vms() < 2 {
            return Vec::new();
        }
        (self.sh.os.iter().enumerate())
            .map(|(i, os)| {
                let vm = i as u16 + 1;
                let procs = self.procs.iter().filter(|p| p.vm == vm);
                let mut asids: Vec<u16> = procs.map(|p| p.asid).collect();
                asids.dedup();
                let page_table_bytes = match PT::SHARED {
                    true => self.spaces[i].table_bytes(),
                    false => (asids.iter())
                        .map(|&a| self.spaces[a as usize - 1].table_bytes())
                        .sum(),
                };
                let table = hv.table(vm);
                crate::report::virt::VmReport {
                    vm,
                    asids,
                    guest_phys_bytes_in_use: os.frames.bytes_in_use,
                    guest_physical: os.phys_report(),
                    guest_page_table_bytes: page_table_bytes,
                    host_table_bytes: crate::pagetable::Mappable::table_bytes(table),
                    vm_switches_in: (self.cores.iter()).map(|c| c.vm_switches_in[i]).sum(),
                }
            })
            .collect()
    }

    /// The timeline's window (accesses) and, per core, the cumulative counters at the
    /// end of every window (the last one at the end of the run, possibly a partial
    /// window). A core whose windows were widened (more than
    /// [`crate::timeline::MAX_WINDOWS`]) widens the others' to its own: widths are the
    /// asked one times powers of two, so each core keeps the points at multiples of
    /// the widest. Empty without a timeline.
    pub fn timeline(&self) -> (u64, Vec<Vec<TimelinePoint>>) {
        let w = (self.cores.iter())
            .map(|c| c.timeline_window)
            .max()
            .unwrap_or(0);
        let points = (self.cores.iter())
            .map(|c| {
                let last = c.timeline.len().saturating_sub(1);
                (c.timeline.iter().enumerate())
                    .filter(|&(i, p)| w > 0 && (p.accesses % w == 0 || i == last))
                    .map(|(_, p)| *p)
                    .collect()
            })
            .collect();
        (w, points)
    }
}
