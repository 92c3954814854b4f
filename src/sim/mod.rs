//! Cores and the engine: where an access becomes translation cycles.
//!
//! Owns the cores (each with its TLBs, walker, walk slots, clock and counters), one address
//! space per core, the shared memory system and the OS. In: one [`AccessSource`] per
//! core. Out: a [`RunStats`] tree (per core and total) for the report.
//!
//! Engine: the core with the smallest clock runs next (ties go to the lower core id), and
//! keeps running until its clock passes the next core's, so cross-core events added later
//! (shootdowns) see a global time order. Accesses arrive in batches; the per-access path
//! allocates nothing and is monomorphic in the page-table design `PT`.
//!
//! Core timing: clock = instructions x base CPI + stall cycles. Translation latency of an
//! access = TLB probes + walk-cache probe + PTE reads + wait for a free walker + fault
//! handling; every part is counted where it happens (TLB levels, walker, OS) and the core
//! also measures the whole from timestamps, so the two can be checked against each other.
//! What the core stalls for: everything but the L1 TLB probe when the pipeline hides it
//! (`sim.l1_tlb_overlapped`, hits and misses alike);
//! with `sim.overlap_window = W > 0` a walk runs in the background until the core has
//! executed W more instructions, and walks beyond `walker.max_concurrent_walks` wait for a
//! free walker.

pub mod record;

use crate::addr::AccessKind;
use crate::config::SystemConfig;
use crate::memory::{CacheStats, MemorySystem};
use crate::os::{Os, OsStats};
use crate::pagetable::{Evicted, PageTable, Radix};
use crate::stats::Histogram;
use crate::tlb::{LevelStats, TlbStats, Tlbs, DATA, INSTR};
use crate::walker::{PscStats, Walker};
use crate::workload::{Access, AccessSource};
use crate::SimError;
use record::{Event, NoRecord, Recorder};
use serde::Serialize;

/// Accesses fetched from a source at a time.
pub const BATCH: usize = 4096;

/// How far ahead in a batch page-table entries are prefetched on the host.
const PREFETCH_DISTANCE: usize = 6;

/// Cycles of address translation by where they were spent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TranslationCycles {
    /// Probing TLB levels (hits and misses).
    pub tlb: u64,
    /// Probing paging-structure caches.
    pub walk_cache: u64,
    /// PTE reads at the latency of the memory level that served them.
    pub pte: u64,
    /// Waiting for a free walker.
    pub wait: u64,
    /// OS fault handling.
    pub fault: u64,
    /// Whole translation latency, measured by the core from timestamps.
    pub total: u64,
}

impl TranslationCycles {
    /// The sum of the parts (equals `total` by the accounting invariant).
    pub fn parts(&self) -> u64 {
        self.tlb + self.walk_cache + self.pte + self.wait + self.fault
    }
}

/// Raw counters of one core.
#[derive(Clone, Debug, Default)]
pub struct CoreCounters {
    pub accesses: u64,
    pub loads: u64,
    pub stores: u64,
    pub fetches: u64,
    pub instructions: u64,
    pub stall_cycles: u64,
    pub translation: TranslationCycles,
}

/// Everything a finished run counted.
pub struct RunStats {
    pub cores: Vec<CoreStats>,
    pub caches: Vec<CacheStats>,
    /// Each table's design-specific counters (one per address space, or one shared).
    pub page_tables: Vec<serde_json::Value>,
    pub page_table_bytes: u64,
    pub phys_bytes_in_use: u64,
    pub physical: crate::report::PhysReport,
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
}

#[derive(Clone, Copy, Default)]
struct Slot {
    busy_until: u64,
    icount: u64,
    pending: bool,
}

struct Core {
    id: usize,
    asid: u16,
    tlbs: Tlbs,
    walker: Walker,
    slots: Vec<Slot>,
    pending: usize,
    counters: CoreCounters,
    os_stats: OsStats,
    /// Instructions at the last statistics restart, for base cycles.
    instr_total: u64,
    stall_total: u64,
    source: Box<dyn AccessSource>,
    buf: Vec<Access>,
    pos: usize,
    done: bool,
    warm: bool,
    /// The access count (of `counters`) at which the engine has bookkeeping to do: the
    /// end of warm-up, or the end of a timeline window; `u64::MAX` for none. One
    /// compare per access covers both.
    event_at: u64,
    /// Cumulative counters at each timeline window boundary (empty when off).
    timeline: Vec<TimelinePoint>,
    /// OS events of this core's stream, as (stream position, event), in order.
    os_events: std::collections::VecDeque<(u64, crate::workload::OsEvent)>,
    /// Accesses of the stream before the last statistics restart (warm-up), so that
    /// stream position = `stream_base + counters.accesses`.
    stream_base: u64,
    /// `counters.accesses` at which the next OS event applies (`u64::MAX`: none).
    os_event_at: u64,
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

/// instructions x CPI, in 128 bits when 64 would overflow (a 128-bit division is a
/// library call; the product fits 64 bits in any run shorter than ~10^15 instructions).
#[inline(always)]
fn base_cycles(instructions: u64, cpi_milli: u64) -> u64 {
    match instructions.checked_mul(cpi_milli) {
        Some(p) => p / 1000,
        None => (instructions as u128 * cpi_milli as u128 / 1000) as u64,
    }
}

/// Timing parameters fixed for a run.
#[derive(Clone, Copy)]
struct Timing {
    /// Base CPI in thousandths of a cycle (integer arithmetic keeps clocks exact).
    cpi_milli: u64,
    l1_overlapped: bool,
    window: u64,
    /// First virtual address the page table cannot map (it would alias a lower one).
    va_limit: u64,
}

impl Core {
    #[inline(always)]
    fn clock(&self, t: &Timing) -> u64 {
        base_cycles(self.instr_total, t.cpi_milli) + self.stall_total
    }

    #[inline(always)]
    fn stall(&mut self, c: u64) {
        self.stall_total += c;
        self.counters.stall_cycles += c;
    }
}

/// A machine built from a config, generic over the page-table design.
pub struct Simulator<PT: PageTable = Radix> {
    cores: Vec<Core>,
    spaces: Vec<PT>,
    mem: MemorySystem,
    os: Os,
    timing: Timing,
    accesses_done: u64,
    /// Cores past warm-up.
    warm_cores: usize,
    /// Per core: evicted translations of its address space to drop when it next runs.
    inboxes: Vec<Vec<crate::pagetable::Evicted>>,
    /// Accesses per timeline window; 0 when no timeline is recorded.
    timeline_window: u64,
}

impl Simulator<Radix> {
    /// Build a machine with radix page tables; `sources[i]` feeds core i.
    pub fn new_radix(
        cfg: &SystemConfig,
        sources: Vec<Box<dyn AccessSource>>,
    ) -> Result<Self, SimError> {
        let bits = cfg.page_table.radix_bits();
        Simulator::build(cfg, sources, |frames| Radix::new(&bits, frames))
    }
}

impl<PT: PageTable> Simulator<PT> {
    /// Build a machine; `make_pt` creates one address space's table.
    pub fn build(
        cfg: &SystemConfig,
        sources: Vec<Box<dyn AccessSource>>,
        mut make_pt: impl FnMut(&mut crate::os::frames::FrameAllocator) -> Result<PT, SimError>,
    ) -> Result<Self, SimError> {
        let n = cfg.sim.cores as usize;
        if sources.len() != n {
            return Err(SimError(format!(
                "{} workload streams for {n} cores",
                sources.len()
            )));
        }
        let seed = cfg.sim.seed;
        let mut os = Os::new(&cfg.os, crate::util::splitmix64(seed ^ 0x05));
        // One table per address space, or one for all when the design is global.
        let n_spaces = if PT::SHARED { 1 } else { n };
        let mut spaces = Vec::with_capacity(n_spaces);
        for _ in 0..n_spaces {
            spaces.push(make_pt(&mut os.frames)?);
        }
        let cores = sources
            .into_iter()
            .enumerate()
            .map(|(i, source)| {
                let s = crate::util::splitmix64(seed.wrapping_add(i as u64));
                Core {
                    id: i,
                    asid: i as u16 + 1,
                    tlbs: Tlbs::new(&cfg.tlb, s),
                    walker: Walker::new(&cfg.walker.psc, s),
                    slots: vec![Slot::default(); cfg.walker.max_concurrent_walks as usize],
                    pending: 0,
                    counters: CoreCounters::default(),
                    os_stats: OsStats::default(),
                    instr_total: 0,
                    stall_total: 0,
                    source,
                    buf: Vec::with_capacity(BATCH),
                    pos: 0,
                    done: false,
                    warm: cfg.sim.warmup_accesses == 0,
                    event_at: if cfg.sim.warmup_accesses == 0 {
                        u64::MAX
                    } else {
                        cfg.sim.warmup_accesses
                    },
                    timeline: Vec::new(),
                    os_events: Default::default(),
                    stream_base: 0,
                    os_event_at: u64::MAX,
                }
            })
            .collect();
        Ok(Simulator {
            cores,
            spaces,
            mem: MemorySystem::new(&cfg.memory, n, crate::util::splitmix64(seed ^ 0x3e3)),
            os,
            timing: Timing {
                cpi_milli: (cfg.sim.base_cpi * 1000.0).round() as u64,
                l1_overlapped: cfg.sim.l1_tlb_overlapped,
                window: cfg.sim.overlap_window as u64,
                va_limit: 1u64
                    .checked_shl(cfg.page_table.va_bits())
                    .unwrap_or(u64::MAX),
            },
            accesses_done: 0,
            warm_cores: 0,
            inboxes: vec![Vec::new(); n],
            timeline_window: 0,
        })
    }

    /// Record each core's counters every `window` accesses (after warm-up) during
    /// [`Simulator::run`]; read them with [`Simulator::timeline`]. Call before `run`;
    /// `window` must be at least 1. Costs nothing per access: the window end shares the
    /// warm-up's compare.
    /// OPT page replacement: core `core`'s whole stream of 4 KiB page numbers, read
    /// ahead of the run.
    pub fn set_future(&mut self, core: usize, vpns: &[u64]) -> Result<(), SimError> {
        self.os.set_future(core as u16 + 1, vpns)
    }

    /// Core `core`'s OS events (stream position, event), in order; before the run.
    pub fn set_events(&mut self, core: usize, events: Vec<(u64, crate::workload::OsEvent)>) {
        if !events.is_empty() && !self.spaces.is_empty() && self.spaces[0].mappings(1).is_none() {
            // Forks and long unmaps must know what is mapped; a design that cannot
            // list its mappings (hashed) has the OS keep a log of them.
            self.os.log_mappings();
        }
        let c = &mut self.cores[core];
        c.os_events = events.into();
        c.os_event_at = c.os_events.front().map_or(u64::MAX, |e| e.0);
    }

    /// Whether the OS needs [`Simulator::set_future`] before the run.
    pub fn needs_future(&self) -> bool {
        self.os.needs_future()
    }

    pub fn set_timeline(&mut self, window: u64) {
        assert!(window > 0, "a timeline window holds at least one access");
        self.timeline_window = window;
        for c in &mut self.cores {
            if c.warm {
                c.event_at = c.counters.accesses + window;
            }
        }
    }

    /// Per core, the cumulative counters at the end of every timeline window (the last
    /// one at the end of the run, possibly a partial window). Empty without a timeline.
    pub fn timeline(&self) -> Vec<Vec<TimelinePoint>> {
        self.cores.iter().map(|c| c.timeline.clone()).collect()
    }

    /// Accesses simulated so far (all cores).
    pub fn accesses_done(&self) -> u64 {
        self.accesses_done
    }

    /// Run every stream to its end. `progress` is called after each batch with the
    /// accesses done so far.
    pub fn run(&mut self, progress: &mut dyn FnMut(u64)) -> Result<(), SimError> {
        loop {
            // The core with the smallest clock runs; the next-smallest clock bounds it.
            let mut best: Option<(u64, usize)> = None;
            let mut limit = u64::MAX;
            for c in &self.cores {
                if c.done {
                    continue;
                }
                let clk = c.clock(&self.timing);
                match best {
                    None => best = Some((clk, c.id)),
                    Some((b, _)) if clk < b => {
                        limit = b;
                        best = Some((clk, c.id));
                    }
                    Some(_) => limit = limit.min(clk),
                }
            }
            let Some((_, id)) = best else { break };
            self.run_core(id, limit, progress)?;
        }
        // Walks still in flight at the end stall their cores (they must complete).
        for c in &mut self.cores {
            let now = c.clock(&self.timing);
            let tail = c
                .slots
                .iter()
                .filter(|s| s.pending)
                .map(|s| s.busy_until.saturating_sub(now))
                .max()
                .unwrap_or(0);
            c.stall(tail);
            if self.timeline_window > 0 && c.counters.accesses > 0 {
                // The last window ends with the run (the tail stall included).
                let p = timeline_point(c, &self.timing);
                match c.timeline.last_mut() {
                    Some(last) if last.accesses == p.accesses => *last = p,
                    _ => c.timeline.push(p),
                }
            }
        }
        Ok(())
    }

    fn run_core(
        &mut self,
        id: usize,
        limit: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(), SimError> {
        let t = self.timing;
        let n_cores = self.cores.len();
        let core = &mut self.cores[id];
        let pt = &mut self.spaces[if PT::SHARED { 0 } else { id }];
        for e in self.inboxes[id].drain(..) {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        // The batch is taken out of the core while it runs, so the loop below keeps its
        // pointer and length in registers (the core is mutably borrowed by `step`).
        let mut buf = std::mem::take(&mut core.buf);
        let mut pos = core.pos;
        let mut prefetching = false;
        let mut walks_before = core.walker.stats.walks;
        // The loop stops at `stop`: the end of the batch or the access at which the
        // engine has bookkeeping to do (`event_at`: end of warm-up or of a timeline
        // window), whichever comes first. So the per-access loop tests one position,
        // as it would for the batch end alone.
        let mut stop = pos;
        let res = loop {
            if pos == stop {
                if core.counters.accesses == core.event_at {
                    core_event(
                        core,
                        &mut self.mem,
                        &mut self.warm_cores,
                        n_cores,
                        &t,
                        self.timeline_window,
                    );
                }
                if core.counters.accesses == core.os_event_at {
                    if let Err(e) = apply_os_events(core, pt, &mut self.os, &mut self.inboxes) {
                        break Err(e);
                    }
                }
                if pos == buf.len() {
                    buf.clear();
                    pos = 0;
                    if let Err(e) = core.source.fill(&mut buf, BATCH) {
                        break Err(SimError(format!("core {id}: workload: {}", e.msg)));
                    }
                    // Event lines of a trace read in this batch join the queue; one at
                    // the current position applies before the batch's first access (or,
                    // at the end of the stream, before it ends).
                    let mut evs = Vec::new();
                    core.source.take_events(&mut evs);
                    if !evs.is_empty() {
                        core.os_events.extend(evs);
                        core.os_events.make_contiguous().sort_by_key(|e| e.0);
                        core.os_event_at = core.os_events[0].0 - core.stream_base;
                        if core.counters.accesses == core.os_event_at {
                            if let Err(e) =
                                apply_os_events(core, pt, &mut self.os, &mut self.inboxes)
                            {
                                break Err(e);
                            }
                        }
                    }
                    if buf.is_empty() {
                        core.done = true;
                        break Ok(());
                    }
                    // Prefetch page-table entries in batches that follow a walk-heavy one.
                    let walks = core.walker.stats.walks;
                    prefetching = walks.saturating_sub(walks_before) * 8 > BATCH as u64;
                    walks_before = walks;
                    progress(self.accesses_done);
                }
                // Both are past the count here (the bookkeeping just moved them on).
                let until = core.event_at.min(core.os_event_at) - core.counters.accesses;
                stop = pos + (buf.len() - pos).min(until.min(usize::MAX as u64) as usize);
            }
            let a = buf[pos];
            if prefetching {
                // Two stages: far ahead, the page-table entries; nearer, the simulated
                // cache sets of the leaf PTE and data lines those entries lead to.
                if let Some(b) = buf.get(pos + 2 * PREFETCH_DISTANCE) {
                    pt.prefetch(core.asid, b.vaddr);
                }
                if let Some(b) = buf.get(pos + PREFETCH_DISTANCE) {
                    if let Some((pte, data)) = pt.leaf_lines(core.asid, b.vaddr) {
                        self.mem.prefetch(id, pte);
                        if self.mem.data_through_caches() {
                            self.mem.prefetch(id, data);
                        }
                    }
                }
            }
            pos += 1;
            self.accesses_done += 1;
            if let Err(e) = step(
                core,
                a,
                pt,
                &mut self.mem,
                &mut self.os,
                &t,
                &mut self.inboxes,
                &mut NoRecord,
            ) {
                break Err(e);
            }
            if limit != u64::MAX && core.clock(&t) > limit {
                break Ok(());
            }
        };
        // The last access may have reached `event_at` just before the loop stopped: do
        // the bookkeeping before any other core runs (shared statistics restart then).
        if res.is_ok() && core.counters.accesses == core.event_at {
            core_event(
                core,
                &mut self.mem,
                &mut self.warm_cores,
                n_cores,
                &t,
                self.timeline_window,
            );
        }
        core.buf = buf;
        core.pos = pos;
        res
    }

    /// Gather every component's counters.
    pub fn stats(&self) -> RunStats {
        RunStats {
            cores: self
                .cores
                .iter()
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
                    dram_pte_reads: self.mem.dram_pte_reads(c.id),
                })
                .collect(),
            caches: self.mem.stats(),
            page_tables: self.spaces.iter().map(|s| s.stats()).collect(),
            page_table_bytes: self.spaces.iter().map(|s| s.table_bytes()).sum(),
            phys_bytes_in_use: self.os.frames.bytes_in_use,
            physical: {
                let f = self.os.frames.fragmentation();
                // Pages of order `o` the free blocks could still provide.
                let at = |o: usize| {
                    f.free_blocks[o..]
                        .iter()
                        .enumerate()
                        .map(|(i, &n)| n << i)
                        .sum::<u64>()
                };
                crate::report::PhysReport {
                    total_bytes: self.os.frames.total_bytes(),
                    free_bytes: f.free_bytes,
                    pinned_frames: self.os.pinned_frames,
                    reservations_broken: self.os.frames.reservations_broken,
                    cow_shared_pages: self.os.sharing().0,
                    child_table_frames: self.os.sharing().1,
                    free_2m_blocks: at(9),
                    free_1g_blocks: at(18),
                    unusable_2m: f.unusable[9],
                    unusable_1g: f.unusable[18],
                }
            },
        }
    }

    /// Translate one access `a` on core `core` outside [`Simulator::run`], telling `rec`
    /// every step (the teaching view, `mmusim explain`). The same code as a run's
    /// accesses, with the same effects on every structure; warm-up and timeline
    /// bookkeeping are left out.
    pub fn access_recorded<R: Recorder>(
        &mut self,
        core: usize,
        a: Access,
        rec: &mut R,
    ) -> Result<(), SimError> {
        if core >= self.cores.len() {
            return Err(SimError(format!(
                "core {core}: the machine has {} cores",
                self.cores.len()
            )));
        }
        let t = self.timing;
        let c = &mut self.cores[core];
        for e in self.inboxes[core].drain(..) {
            c.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        let pt = &mut self.spaces[if PT::SHARED { 0 } else { core }];
        self.accesses_done += 1;
        step(
            c,
            a,
            pt,
            &mut self.mem,
            &mut self.os,
            &t,
            &mut self.inboxes,
            rec,
        )
    }

    /// Address-space id of core `core` (a page table's key for it).
    pub fn asid(&self, core: usize) -> u16 {
        self.cores[core].asid
    }

    /// Names of the TLB structures of 0-based level `level` that serve data accesses.
    pub fn tlb_names(&self, core: usize, level: usize) -> Vec<String> {
        self.cores[core].tlbs.structure_names(level, DATA)
    }

    /// Probe cycles of each TLB level for data accesses, level 1 first.
    pub fn tlb_latencies(&self, core: usize) -> Vec<u64> {
        let tl = &self.cores[core].tlbs;
        (0..tl.num_levels())
            .map(|l| tl.level_latency(l, DATA) as u64)
            .collect()
    }

    /// Name and level of each walk cache of `core`, as [`record::Event::WalkCache`]
    /// numbers them.
    pub fn walk_cache_names(&self, core: usize) -> Vec<(String, u32)> {
        self.cores[core].walker.psc_names()
    }

    /// Name and line size of each memory level of `core`, nearest first, DRAM last (as
    /// [`record::Event::PteRead`] numbers them).
    pub fn memory_levels(&self, core: usize) -> Vec<(String, u64)> {
        self.mem.level_names(core)
    }

    /// The page table of core `core`'s address space (for tests and tools).
    pub fn page_table(&self, core: usize) -> &PT {
        &self.spaces[if PT::SHARED { 0 } else { core }]
    }
}

/// Translate one access on `core`. The hot path: no allocation, no dynamic dispatch
/// (`rec` is [`NoRecord`] in runs, compiled away).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn step<PT: PageTable, R: Recorder>(
    core: &mut Core,
    a: Access,
    pt: &mut PT,
    mem: &mut MemorySystem,
    os: &mut Os,
    t: &Timing,
    inboxes: &mut [Vec<crate::pagetable::Evicted>],
    rec: &mut R,
) -> Result<(), SimError> {
    let c = &mut core.counters;
    c.accesses += 1;
    c.instructions += a.instrs as u64;
    core.instr_total += a.instrs as u64;
    let side = match a.kind {
        AccessKind::Load => {
            c.loads += 1;
            DATA
        }
        AccessKind::Store => {
            c.stores += 1;
            DATA
        }
        AccessKind::Fetch => {
            c.fetches += 1;
            INSTR
        }
    };

    // Walks running in the background stall the core once it has run W instructions past them.
    if core.pending > 0 {
        let now = core.clock(t);
        let mut stall = 0;
        for s in core.slots.iter_mut() {
            if s.pending && s.icount + t.window <= core.instr_total {
                s.pending = false;
                core.pending -= 1;
                stall = stall.max(s.busy_until.saturating_sub(now));
            }
        }
        core.stall(stall);
    }

    let va = a.vaddr;
    if os.cow_active && a.kind == AccessKind::Store {
        // A store to a copy-on-write page traps before it translates: the page is
        // copied and remapped, and the access then finds the new translation.
        if let Some(c) = os.cow_fault(pt, core.asid, va, &mut core.os_stats)? {
            route_invalidations(core, os, inboxes);
            core.stall(c);
            let tc = &mut core.counters.translation;
            tc.fault += c;
            tc.total += c;
        }
    }
    let mut tlb_cycles = 0u64;
    let hit = core.tlbs.lookup(side, core.asid, va, &mut tlb_cycles);
    let l1_hidden = if t.l1_overlapped {
        (core.tlbs.level_latency(0, side) as u64).min(tlb_cycles)
    } else {
        0
    };
    if R::ON {
        rec.event(Event::Tlb {
            hit_level: hit.map(|h| h.level),
            cycles: tlb_cycles,
            hidden: l1_hidden,
        });
    }
    let walked = hit.is_none();
    // `latency`: from the start of the lookup to the translation (timestamps on a miss).
    let (frame, size, hit_level, latency) = match hit {
        Some(h) => {
            // No TLB may hold a translation the page table no longer has (evictions,
            // unmaps): checked on every hit in test builds.
            debug_assert_eq!(
                pt.translate(core.asid, va),
                Some(crate::pagetable::Translation {
                    frame: h.frame,
                    size: h.size
                }),
                "stale TLB entry for {va:#x} on core {}",
                core.id
            );
            core.stall(tlb_cycles - l1_hidden);
            (h.frame, h.size, h.level, tlb_cycles)
        }
        None => {
            let now = core.clock(t);
            let (tr, end) = translate_miss(
                core, va, pt, mem, os, t, now, tlb_cycles, l1_hidden, inboxes, rec,
            )?;
            (tr.frame, tr.size, core.tlbs.num_levels(), end - now)
        }
    };
    core.tlbs
        .complete(side, core.asid, va, frame, size, hit_level);
    if os.track_accesses {
        // Page replacement needs recency, dirty and accessed bits (off by default).
        let store = a.kind == AccessKind::Store;
        os.on_access(pt, core.asid, va, store, walked, &mut core.os_stats)?;
        // Pages leaving the working set.
        route_invalidations(core, os, inboxes);
    }
    mem.data_access(core.id, frame + (va & (size.bytes() - 1)));

    let tc = &mut core.counters.translation;
    tc.tlb += tlb_cycles;
    tc.total += latency;
    debug_assert_eq!(
        tc.total,
        tc.parts(),
        "accounting invariant broken at {va:#x}"
    );

    Ok(())
}

/// The TLB-miss path: wait for a walker, walk, fault and walk again if needed. Kept out
/// of line so that the hit path stays small.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn translate_miss<PT: PageTable, R: Recorder>(
    core: &mut Core,
    va: u64,
    pt: &mut PT,
    mem: &mut MemorySystem,
    os: &mut Os,
    t: &Timing,
    now: u64,
    tlb_cycles: u64,
    l1_hidden: u64,
    inboxes: &mut [Vec<crate::pagetable::Evicted>],
    rec: &mut R,
) -> Result<(crate::pagetable::Translation, u64), SimError> {
    if va >= t.va_limit {
        // Only a miss can get here first: TLB entries exist only for mapped addresses.
        return Err(SimError(format!(
            "core {}: address {va:#x} is beyond the page table's reach ({:#x}); use more levels or lower addresses",
            core.id, t.va_limit
        )));
    }
    let ready = now + tlb_cycles;
    // The walker that frees first takes the walk.
    let (si, slot) = core
        .slots
        .iter()
        .enumerate()
        .min_by_key(|(_, s)| s.busy_until)
        .map(|(i, s)| (i, *s))
        .expect("at least one walker");
    let wait = slot.busy_until.saturating_sub(ready);
    if slot.pending {
        slot_retire(core, si);
    }
    if R::ON {
        rec.event(Event::Wait { cycles: wait });
    }
    let mut r = core
        .walker
        .walk_recorded(core.id, core.asid, va, pt, mem, rec);
    let mut psc = r.psc_cycles;
    let mut pte = r.pte_cycles;
    let mut fault = 0;
    let tr = match r.translation {
        Some(tr) => tr,
        None => {
            // Not present: the OS maps the page, the access replays and walks again.
            let (cycles, evicted) = os.handle_fault(pt, core.asid, va, &mut core.os_stats)?;
            fault = cycles;
            if R::ON {
                rec.event(Event::Fault { cycles, evicted });
            }
            // Translations the fault removed (one the design evicted, small pages a
            // collapse replaced) must not stay in a TLB. Another address space's run
            // on another core, which drops them before its next access (cross-core
            // shootdown costs are not modelled yet).
            os.invalidations.extend(evicted);
            route_invalidations(core, os, inboxes);
            if os.flush_walk_caches {
                core.walker.flush();
            }
            r = core
                .walker
                .walk_recorded(core.id, core.asid, va, pt, mem, rec);
            psc += r.psc_cycles;
            pte += r.pte_cycles;
            r.translation.ok_or_else(|| {
                SimError(format!("{va:#x}: still not mapped after its page fault"))
            })?
        }
    };
    let end = ready + wait + psc + pte + fault;
    let tc = &mut core.counters.translation;
    tc.walk_cache += psc;
    tc.pte += pte;
    tc.wait += wait;
    tc.fault += fault;
    if t.window == 0 || fault > 0 {
        // Blocking (or a fault, which traps): the core waits for the whole translation.
        core.stall(end - now - l1_hidden);
        core.slots[si].busy_until = end;
    } else {
        // The walk proceeds in the background; the core stalls later if it must.
        core.stall(tlb_cycles - l1_hidden + wait);
        core.slots[si] = Slot {
            busy_until: end,
            icount: core.instr_total,
            pending: true,
        };
        core.pending += 1;
    }
    Ok((tr, end))
}

/// A walker slot is reused while its previous walk is still counted as pending: the new
/// walk could only start after it ended, so the core has waited for it already.
#[inline(always)]
fn slot_retire(core: &mut Core, si: usize) {
    core.slots[si].pending = false;
    core.pending -= 1;
}

/// A core's cumulative timeline counters now.
fn timeline_point(c: &Core, t: &Timing) -> TimelinePoint {
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
        cycles: base_cycles(c.counters.instructions, t.cpi_milli) + c.counters.stall_cycles,
        faults: c.os_stats.minor_faults + c.os_stats.major_faults,
        resident_bytes: c.os_stats.mapped_bytes,
    }
}

/// The engine's bookkeeping when a core's access count reaches `event_at`: the end of
/// its warm-up (statistics restart; caches and TLBs stay warm), or the end of a timeline
/// window. Out of line: it runs once per warm-up or window, not per access.
#[cold]
#[inline(never)]
fn core_event(
    core: &mut Core,
    mem: &mut MemorySystem,
    warm_cores: &mut usize,
    n_cores: usize,
    t: &Timing,
    window: u64,
) {
    if !core.warm {
        core.warm = true;
        // Stream positions go on across the restart of the counts.
        let consumed = core.counters.accesses;
        core.stream_base += consumed;
        if core.os_event_at != u64::MAX {
            core.os_event_at -= consumed;
        }
        core.counters = CoreCounters::default();
        // Resident bytes are a level, not a count: they carry over.
        core.os_stats = OsStats {
            mapped_bytes: core.os_stats.mapped_bytes,
            ..OsStats::default()
        };
        core.tlbs.reset_stats();
        core.walker.reset_stats();
        // Shared caches restart when the last core is past warm-up.
        *warm_cores += 1;
        mem.reset_stats(core.id, false);
        if *warm_cores == n_cores {
            mem.reset_shared_stats();
        }
        core.event_at = if window > 0 { window } else { u64::MAX };
    } else {
        let p = timeline_point(core, t);
        core.timeline.push(p);
        core.event_at += window;
    }
}

/// Drops the translations the OS queued: this core's from its TLBs now, another
/// address space's through its core's inbox (core i runs address space i + 1), which
/// that core drains before its next access.
fn route_invalidations(core: &mut Core, os: &mut Os, inboxes: &mut [Vec<Evicted>]) {
    for e in os.invalidations.drain(..) {
        if e.asid == core.asid {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        } else if let Some(inbox) = inboxes.get_mut(e.asid as usize - 1) {
            inbox.push(e);
        }
    }
}

/// Applies every OS event at the core's current stream position and schedules the next.
/// Translations the events remove leave this core's TLBs (the address space runs on this
/// core only; shootdowns to other cores are not modelled yet).
fn apply_os_events<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    os: &mut Os,
    inboxes: &mut [Vec<Evicted>],
) -> Result<(), SimError> {
    let here = core.stream_base + core.counters.accesses;
    while let Some(&(at, ev)) = core.os_events.front() {
        if at > here {
            break;
        }
        core.os_events.pop_front();
        os.apply_event(pt, core.asid, ev, &mut core.os_stats)?;
        route_invalidations(core, os, inboxes);
        if os.flush_tlb {
            core.tlbs.flush_all();
            core.walker.flush();
        }
    }
    core.os_event_at = core
        .os_events
        .front()
        .map_or(u64::MAX, |e| e.0 - core.stream_base);
    Ok(())
}

#[cfg(test)]
mod base_cycles_tests {
    use super::base_cycles;

    /// The 64-bit fast path agrees with the exact 128-bit product on both sides of the
    /// point where the product stops fitting 64 bits.
    #[test]
    fn base_cycles_is_exact_around_the_64_bit_limit() {
        for cpi in [1u64, 999, 1000, 1500, 123_456] {
            let edge = u64::MAX / cpi;
            for n in [
                0,
                1,
                999,
                1_000_001,
                edge - 1,
                edge,
                edge.saturating_add(1),
                u64::MAX,
            ] {
                let exact = (n as u128 * cpi as u128 / 1000) as u64;
                assert_eq!(base_cycles(n, cpi), exact, "n {n} cpi {cpi}");
            }
        }
    }
}
