//! Cores and the engine: where an access becomes translation cycles.
//!
//! Owns the cores (each with its TLBs, walker, walk slots, clock and counters), the
//! processes (each an address space with its own page table, or its part of one shared
//! table, and a workload stream), the shared memory system and the OS. In: one
//! [`AccessSource`] per process at start (process i runs on core i mod cores; forked
//! children get theirs from a spawner). Out: a [`RunStats`] tree (per core and total)
//! for the report.
//!
//! Scheduling: each core runs its processes round-robin, `os.sched.quantum_cycles` at a
//! time (0: each to its end), paying `switch_cycles` per switch. TLB and walk-cache
//! entries carry the address-space id; a core has `asids_per_core` ids to give (Linux's
//! 6 PCIDs) and a switch to a process holding none takes the next round-robin,
//! flushing its previous owner's entries; with 0 every switch flushes everything. The
//! running process's stream state lives in its [`Core`] (so the per-access path is the
//! same as with one process) and is exchanged with its [`Process`] at a switch.
//!
//! Engine: the core with the smallest clock runs next (ties go to the lower core id), and
//! keeps running until its clock passes the next core's, the end of its quantum or the
//! arrival of an IPI, so no core is more than one access ahead of another and cross-core
//! events see a global time order. Accesses arrive in batches; the per-access path
//! allocates nothing and is monomorphic in the page-table design `PT`.
//!
//! Shootdowns: tasks are threads (`os.sched.threads`); those of one process share its
//! address space and may run on several cores. A change of the running address space's
//! translations leaves the local TLB at once and, when the access that made it ends,
//! becomes IPIs to the other cores that have the address space loaded (see
//! `deliver_shootdowns`). Each target takes its IPI at its first access boundary at or
//! after arrival; hits on changed translations before that are counted as stale.
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
    pub processes: Vec<ProcessStats>,
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
    /// No process of this core is left to run.
    done: bool,
    /// The running process (index into `Simulator::procs`).
    proc: usize,
    /// The processes this core runs, in round-robin order.
    queue: Vec<usize>,
    /// Clock at which the running process's quantum ends (`u64::MAX`: it runs on).
    slice_end: u64,
    /// Address-space ids the TLBs hold entries of (0: not given yet), and which one
    /// the next process without one takes.
    asid_slots: Vec<u16>,
    next_slot: usize,
    /// The running process's stream has ended (or it exited).
    stream_ended: bool,
    /// The event at the front of `os_events` needs the engine (fork, exit).
    syscall: bool,
    /// Shootdown IPIs sent to this core, by arrival, and the first arrival (`u64::MAX`:
    /// none).
    ipis: std::collections::VecDeque<PendingIpi>,
    next_ipi: u64,
    /// TLB keys of unchanged pages that a shootdown's full flush took: a later miss on
    /// one is a miss the flush caused.
    flushed: std::collections::HashSet<u64>,
    /// While this core waits for its shootdown's acknowledgements (it has not run
    /// since): the clock the wait began at. It takes IPIs during the wait, as Linux's
    /// initiator does, spinning with interrupts on.
    waiting_since: Option<u64>,
    warm: bool,
    /// The access count (of `counters`) at which the engine has bookkeeping to do: the
    /// end of warm-up, or the end of a timeline window; `u64::MAX` for none. One
    /// compare per access covers both.
    event_at: u64,
    /// Cumulative counters at each timeline window boundary (empty when off).
    timeline: Vec<TimelinePoint>,
    /// OS events of this core's stream, as (stream position, event), in order.
    os_events: std::collections::VecDeque<(u64, crate::workload::OsEvent)>,
    /// Stream position of the running process = `stream_base + counters.accesses`
    /// (wrapping: a process switched in after a warm-up restart has a "negative" base).
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

/// A process: an address space and the stream it runs. While it runs, its stream
/// state (source, batch, events) is in its core and this holds placeholders.
struct Process {
    asid: u16,
    core: usize,
    parent: Option<usize>,
    source: Box<dyn AccessSource>,
    buf: Vec<Access>,
    pos: usize,
    os_events: std::collections::VecDeque<(u64, crate::workload::OsEvent)>,
    stream_ended: bool,
    /// Accesses of its stream done, as of its last switch out.
    position: u64,
    state: ProcState,
}

impl Process {
    fn new(
        asid: u16,
        core: usize,
        parent: Option<usize>,
        source: Box<dyn AccessSource>,
        state: ProcState,
    ) -> Process {
        Process {
            asid,
            core,
            parent,
            source,
            buf: Vec::new(),
            pos: 0,
            os_events: Default::default(),
            stream_ended: false,
            position: 0,
            state,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcState {
    /// Still has accesses to run.
    Ready,
    /// Its stream ended (its memory stays mapped).
    Done,
    /// It exited (an `exit` event): its memory and tables are gone.
    Exited,
}

/// One process at the end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessStats {
    /// Its address-space id (TLB tag); process i has id i + 1.
    pub asid: u16,
    pub core: usize,
    /// The process that forked it.
    pub parent: Option<usize>,
    /// Accesses of its stream it ran (warm-up included).
    pub accesses: u64,
    pub state: ProcState,
}

/// A stream that has ended: what a process not running holds in place of its state.
struct Ended;

impl AccessSource for Ended {
    fn fill(
        &mut self,
        _: &mut Vec<Access>,
        _: usize,
    ) -> Result<(), crate::workload::WorkloadError> {
        Ok(())
    }
}

/// Where removed translations go. Another address space's (a hashed table's
/// eviction) reach the other cores through their inboxes, drained before their next
/// access. The running address space's own become a shootdown (`outgoing`), which the
/// engine delivers to the cores that run it as soon as the access that made it ends.
struct Mail {
    inboxes: Vec<Vec<Evicted>>,
    /// Per core: the address space it has loaded (0: none yet), and whether it is idle
    /// (then lazily: its last address space stays loaded, as Linux's lazy TLB mode).
    loaded: Vec<u16>,
    idle: Vec<bool>,
    /// Per core: address spaces whose translations changed while it ran another
    /// process; their entries are flushed when it switches back (Linux's tlb_gen).
    deferred: Vec<Vec<u16>>,
    outgoing: Vec<Outgoing>,
    /// `outgoing` is not empty: the running core stops after its access.
    pending: bool,
    ceiling: usize,
    gather: bool,
}

/// A change of the running address space's translations, for the cores that run it.
struct Outgoing {
    asid: u16,
    pages: Vec<Evicted>,
    /// More pages than the flush ceiling: a flush of the address space instead.
    full: bool,
    trigger: crate::os::Trigger,
    /// Page tables were freed: lazy cores must be told too.
    tables_freed: bool,
}

/// A shootdown IPI on its way to (or waiting at) a target core.
struct PendingIpi {
    arrival: u64,
    asid: u16,
    pages: std::sync::Arc<Vec<Evicted>>,
    full: bool,
    /// Interrupt entry and exit plus the invalidations.
    cycles: u64,
}

/// A forked child's stream: (process index, accesses) -> source.
pub type Spawner = Box<dyn FnMut(usize, u64) -> Result<Box<dyn AccessSource>, SimError>>;

/// Scheduling parameters fixed for a run.
#[derive(Clone, Copy)]
struct Sched {
    quantum: u64,
    switch_cycles: u64,
    asids_per_core: usize,
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
    procs: Vec<Process>,
    /// One table per process, or one for all when the design is global.
    spaces: Vec<PT>,
    mem: MemorySystem,
    os: Os,
    timing: Timing,
    sched: Sched,
    accesses_done: u64,
    /// Cores past warm-up.
    warm_cores: usize,
    /// Removed translations on their way to the cores that may hold them.
    mail: Mail,
    /// Accesses per timeline window; 0 when no timeline is recorded.
    timeline_window: u64,
    /// Each core has switched its first process in.
    started: bool,
    spawn: Option<Spawner>,
    topology: crate::topology::Topology,
    shoot: crate::config::ShootdownConfig,
    /// The address-space id the next forked child takes.
    next_asid: u16,
    threads: usize,
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
    /// Build a machine; `make_pt` creates one address space's table; `sources[i]`
    /// feeds process i (one per core unless `os.sched.processes` says otherwise).
    pub fn build(
        cfg: &SystemConfig,
        sources: Vec<Box<dyn AccessSource>>,
        mut make_pt: impl FnMut(&mut crate::os::frames::FrameAllocator) -> Result<PT, SimError>,
    ) -> Result<Self, SimError> {
        let n = cfg.sim.cores as usize;
        let n_procs = cfg.os.processes(cfg.sim.cores) as usize;
        let threads = cfg.os.sched.threads.max(1) as usize;
        let n_tasks = n_procs * threads;
        if sources.len() != n_tasks {
            return Err(SimError(format!(
                "{} workload streams for {n_tasks} tasks ({n_procs} processes of {threads} threads)",
                sources.len()
            )));
        }
        let topology = crate::topology::Topology::new(&cfg.topology, n)
            .map_err(|(k, m)| SimError(format!("{k}: {m}")))?;
        let seed = cfg.sim.seed;
        let mut os = Os::new(&cfg.os, crate::util::splitmix64(seed ^ 0x05));
        let n_spaces = if PT::SHARED { 1 } else { n_procs };
        let mut spaces = Vec::with_capacity(n_spaces);
        for _ in 0..n_spaces {
            spaces.push(make_pt(&mut os.frames)?);
        }
        let procs: Vec<Process> = sources
            .into_iter()
            .enumerate()
            .map(|(i, source)| {
                let asid = (i / threads) as u16 + 1;
                Process::new(asid, i % n, None, source, ProcState::Ready)
            })
            .collect();
        let asids = cfg.os.sched.asids_per_core as usize;
        let cores = (0..n)
            .map(|i| {
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
                    source: Box::new(Ended),
                    buf: Vec::with_capacity(BATCH),
                    pos: 0,
                    done: false,
                    proc: i,
                    queue: (i..n_tasks).step_by(n).collect(),
                    slice_end: u64::MAX,
                    asid_slots: vec![0; asids],
                    next_slot: 0,
                    stream_ended: false,
                    syscall: false,
                    ipis: Default::default(),
                    next_ipi: u64::MAX,
                    flushed: Default::default(),
                    waiting_since: None,
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
            mail: Mail {
                inboxes: vec![Vec::new(); n],
                loaded: vec![0; n],
                idle: vec![false; n],
                deferred: vec![Vec::new(); n],
                outgoing: Vec::new(),
                pending: false,
                ceiling: cfg.shootdown.flush_ceiling as usize,
                gather: cfg.shootdown.gather,
            },
            procs,
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
            sched: Sched {
                quantum: cfg.os.sched.quantum_cycles,
                switch_cycles: cfg.os.sched.switch_cycles,
                asids_per_core: asids,
            },
            accesses_done: 0,
            warm_cores: 0,
            timeline_window: 0,
            started: false,
            spawn: None,
            topology,
            shoot: cfg.shootdown.clone(),
            next_asid: n_procs as u16 + 1,
            threads,
        })
    }

    /// Where forked children's streams come from (needed only by forks that give the
    /// child accesses to run).
    pub fn set_spawner(&mut self, spawn: Spawner) {
        self.spawn = Some(spawn);
    }

    /// Switches each core's first process in (once, before the first access).
    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for id in 0..self.cores.len() {
            let first = self.cores[id].queue[0];
            let core = &mut self.cores[id];
            switch_in(core, &mut self.procs[first], first);
            self.mail.loaded[id] = core.asid;
            if self.sched.asids_per_core > 0 {
                take_asid(core, &self.sched);
            }
            if core.queue.len() > 1 && self.sched.quantum > 0 {
                core.slice_end = core.clock(&self.timing) + self.sched.quantum;
            }
        }
    }

    /// Record each core's counters every `window` accesses (after warm-up) during
    /// [`Simulator::run`]; read them with [`Simulator::timeline`]. Call before `run`;
    /// `window` must be at least 1. Costs nothing per access: the window end shares the
    /// warm-up's compare.
    /// OPT page replacement: process `proc`'s whole stream of 4 KiB page numbers, read
    /// ahead of the run.
    pub fn set_future(&mut self, proc: usize, vpns: &[u64]) -> Result<(), SimError> {
        if self.threads > 1 {
            return Err(SimError(
                "os.paging.replacement = \"opt\" looks ahead over one stream per address space: it needs os.sched.threads = 1".into(),
            ));
        }
        self.os.set_future(self.procs[proc].asid, vpns)
    }

    /// Process `proc`'s OS events (stream position, event), in order; before the run.
    pub fn set_events(&mut self, proc: usize, events: Vec<(u64, crate::workload::OsEvent)>) {
        assert!(!self.started, "events are set before the run");
        if !events.is_empty() && !self.spaces.is_empty() && self.spaces[0].mappings(1).is_none() {
            // Forks, exits and long unmaps must know what is mapped; a design that
            // cannot list its mappings (hashed) has the OS keep a log of them.
            self.os.log_mappings();
        }
        self.procs[proc].os_events = events.into();
    }

    /// Number of processes (forked children included).
    pub fn processes(&self) -> usize {
        self.procs.len()
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
        self.start();
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
            let c = &self.cores[id];
            let limit = limit.min(c.slice_end).min(c.next_ipi);
            self.run_core(id, limit, progress)?;
            self.after_run(id)?;
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
        let pt = &mut self.spaces[if PT::SHARED {
            0
        } else {
            core.asid as usize - 1
        }];
        for e in self.mail.inboxes[id].drain(..) {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        take_ipis(core, &t);
        core.waiting_since = None;
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
                    if let Err(e) = apply_os_events(core, pt, &mut self.os, &mut self.mail) {
                        break Err(e);
                    }
                    if core.syscall || self.mail.pending {
                        // A fork or exit, or a shootdown: the engine runs it, then this
                        // core goes on.
                        break Ok(());
                    }
                }
                if pos == buf.len() {
                    if !core.stream_ended {
                        buf.clear();
                        pos = 0;
                        if let Err(e) = core.source.fill(&mut buf, BATCH) {
                            break Err(SimError(format!(
                                "core {id}, process {}: workload: {}",
                                core.proc, e.msg
                            )));
                        }
                        core.stream_ended = buf.is_empty();
                        // Event lines of a trace read in this batch join the queue; one at
                        // the current position applies before the batch's first access
                        // (or, at the end of the stream, before it ends).
                        let mut evs = Vec::new();
                        core.source.take_events(&mut evs);
                        if !evs.is_empty() {
                            core.os_events.extend(evs);
                            core.os_events.make_contiguous().sort_by_key(|e| e.0);
                            core.os_event_at = core.os_events[0].0.wrapping_sub(core.stream_base);
                            if core.counters.accesses == core.os_event_at {
                                if let Err(e) =
                                    apply_os_events(core, pt, &mut self.os, &mut self.mail)
                                {
                                    break Err(e);
                                }
                            }
                        }
                        if !buf.is_empty() {
                            // Prefetch page-table entries in batches that follow a
                            // walk-heavy one.
                            let walks = core.walker.stats.walks;
                            prefetching = walks.saturating_sub(walks_before) * 8 > BATCH as u64;
                            walks_before = walks;
                            progress(self.accesses_done);
                        }
                    }
                    if core.syscall || core.stream_ended || self.mail.pending {
                        break Ok(());
                    }
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
                &mut self.mail,
                &mut NoRecord,
            ) {
                break Err(e);
            }
            if (limit != u64::MAX && core.clock(&t) > limit) || self.mail.pending {
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

    /// IPI latency from core `a` to core `b` along the topology.
    fn ipi_latency(&self, a: usize, b: usize) -> u64 {
        let sd = &self.shoot;
        sd.ipi_base_cycles
            + self.topology.hops(a, b) as u64 * sd.hop_cycles
            + if self.topology.cross_socket(a, b) {
                sd.cross_socket_cycles
            } else {
                0
            }
    }

    /// Delivers the shootdowns core `id` started during its last access. The targets
    /// are the other cores running the address space (and idle ones that still have it
    /// loaded, when page tables were freed); cores holding its entries while running
    /// another process flush them when they switch back. The initiator flushed locally
    /// already; it sends one IPI per target (or one broadcast) and waits for every
    /// acknowledgement. A target takes the IPI at its first access boundary at or after
    /// arrival; the initiator's wait counts each from arrival (or the target's clock,
    /// if later), so it may be short by at most one of the target's accesses.
    fn deliver_shootdowns(&mut self, id: usize) {
        use crate::config::{Delivery, ShootdownScheme};
        self.mail.pending = false;
        let out = std::mem::take(&mut self.mail.outgoing);
        let t = self.timing;
        for og in out {
            let mut targets = Vec::new();
            for c in 0..self.cores.len() {
                if c == id {
                    continue;
                }
                let loaded = self.mail.loaded[c] == og.asid;
                if loaded && (!self.mail.idle[c] || og.tables_freed) {
                    targets.push(c);
                } else if !loaded
                    && self.cores[c].asid_slots.contains(&og.asid)
                    && !self.mail.deferred[c].contains(&og.asid)
                {
                    self.mail.deferred[c].push(og.asid);
                }
            }
            if targets.is_empty() {
                continue;
            }
            let sd = &self.shoot;
            let work = if og.full {
                sd.full_flush_cycles
            } else {
                og.pages.len() as u64 * sd.invlpg_cycles
            };
            let handler = sd.interrupt_cycles + work;
            let t0 = self.cores[id].clock(&t);
            let (send_start, ack_after) = match sd.scheme {
                ShootdownScheme::Sync => (t0 + work, handler),
                // Acknowledged on interrupt entry (half of entry and exit).
                ShootdownScheme::EarlyAck => (t0, sd.interrupt_cycles / 2),
            };
            let (delivery, send) = (sd.delivery, sd.send_cycles);
            let pages = std::sync::Arc::new(og.pages);
            let mut done = send_start;
            let mut last_send = send_start;
            for (k, &c) in targets.iter().enumerate() {
                let sent = match delivery {
                    Delivery::Unicast => send_start + (k as u64 + 1) * send,
                    Delivery::Broadcast => send_start + send,
                };
                last_send = last_send.max(sent);
                let arrival = sent + self.ipi_latency(id, c);
                let tc = &self.cores[c];
                // A target waiting for its own shootdown takes the IPI on arrival.
                let free_at = match tc.waiting_since {
                    Some(w) => w,
                    None => tc.clock(&t),
                };
                let begin = arrival.max(free_at);
                done = done.max(begin + ack_after + self.ipi_latency(c, id));
                let ipi = PendingIpi {
                    arrival,
                    asid: og.asid,
                    pages: pages.clone(),
                    full: og.full,
                    cycles: handler,
                };
                let tc = &mut self.cores[c];
                if tc.done {
                    // An idle core takes it at once (nothing runs there any more).
                    take_ipi(tc, &ipi);
                    continue;
                }
                let at = tc.ipis.partition_point(|i| i.arrival <= arrival);
                tc.ipis.insert(at, ipi);
                tc.next_ipi = tc.ipis[0].arrival;
            }
            done = done.max(last_send);
            if self.shoot.scheme == ShootdownScheme::EarlyAck {
                // The local flush runs while the IPIs travel.
                done = done.max(last_send + work);
            }
            let core = &mut self.cores[id];
            core.walker.flush_asid(og.asid);
            let wait = done - t0;
            core.stall_total += wait;
            core.waiting_since.get_or_insert(t0);
            let s = &mut core.os_stats.shootdown;
            s.by_trigger[og.trigger as usize] += 1;
            s.ipis_sent += targets.len() as u64;
            s.max_targets = s.max_targets.max(targets.len() as u64);
            s.initiator_cycles += wait;
            if og.full {
                s.full_flushes += 1;
            } else {
                s.page_invalidations += pages.len() as u64;
            }
        }
    }

    /// After core `id` stopped: run its system call, retire its process if the stream
    /// ended, switch at the end of a quantum.
    fn after_run(&mut self, id: usize) -> Result<(), SimError> {
        if self.mail.pending {
            self.deliver_shootdowns(id);
        }
        if self.cores[id].syscall {
            self.syscall(id)?;
            if self.mail.pending {
                self.deliver_shootdowns(id);
            }
        }
        let core = &self.cores[id];
        if core.stream_ended {
            let p = &mut self.procs[core.proc];
            if p.state == ProcState::Ready {
                p.state = ProcState::Done;
            }
            self.schedule(id);
        } else if core.clock(&self.timing) >= core.slice_end {
            self.schedule(id);
        }
        Ok(())
    }

    /// The next ready process of core `id` after the running one, round-robin, takes
    /// over (the running one goes on if it is the only one ready); none: the core is done.
    fn schedule(&mut self, id: usize) {
        let core = &self.cores[id];
        let cur = core.queue.iter().position(|&p| p == core.proc).unwrap_or(0);
        let len = core.queue.len();
        let next = (1..=len)
            .map(|k| core.queue[(cur + k) % len])
            .find(|&p| self.procs[p].state == ProcState::Ready);
        let ready = (core.queue.iter())
            .filter(|&&p| self.procs[p].state == ProcState::Ready)
            .count();
        let t = self.timing;
        let core = &mut self.cores[id];
        match next {
            None => {
                core.done = true;
                self.mail.idle[id] = true;
                // An idle core takes the IPIs still on their way as they come.
                while let Some(ipi) = core.ipis.pop_front() {
                    take_ipi(core, &ipi);
                }
                core.next_ipi = u64::MAX;
            }
            Some(n) if n == core.proc => {}
            Some(n) => {
                // Walks in flight finish before the kernel switches.
                let now = core.clock(&t);
                let tail = (core.slots.iter())
                    .filter(|s| s.pending)
                    .map(|s| s.busy_until.saturating_sub(now))
                    .max()
                    .unwrap_or(0);
                core.stall(tail);
                for s in core.slots.iter_mut() {
                    s.pending = false;
                }
                core.pending = 0;
                let (r, prev) = (core.proc, core.asid);
                switch_out(core, &mut self.procs[r]);
                switch_in(core, &mut self.procs[n], n);
                core.stall_total += self.sched.switch_cycles;
                core.os_stats.context_switches += 1;
                core.os_stats.switch_cycles += self.sched.switch_cycles;
                // Threads of one process share the loaded address space: no new id,
                // no flush (Linux does not switch the mm between them).
                if core.asid != prev {
                    take_asid(core, &self.sched);
                }
                self.mail.loaded[id] = core.asid;
                let d = &mut self.mail.deferred[id];
                if let Some(i) = d.iter().position(|&a| a == core.asid) {
                    // Its translations changed while this core ran another process.
                    d.swap_remove(i);
                    core.tlbs.flush_asid(core.asid);
                    core.walker.flush_asid(core.asid);
                    core.os_stats.shootdown.deferred_flushes += 1;
                }
            }
        }
        core.slice_end = if ready > 1 && self.sched.quantum > 0 {
            core.clock(&t) + self.sched.quantum
        } else {
            u64::MAX
        };
    }

    /// Runs the fork or exit at the front of core `id`'s events.
    fn syscall(&mut self, id: usize) -> Result<(), SimError> {
        use crate::workload::EventKind;
        let core = &mut self.cores[id];
        core.syscall = false;
        let Some((_, ev)) = core.os_events.pop_front() else {
            return Ok(());
        };
        let asid = core.asid;
        let space = if PT::SHARED { 0 } else { asid as usize - 1 };
        match ev.kind {
            EventKind::Fork => {
                let ci = self.procs.len();
                if self.next_asid as u32 > crate::config::MAX_PROCESSES {
                    return Err(SimError(format!(
                        "core {id}: a fork would make address space {}: at most {} fit the 14-bit address-space ids",
                        self.next_asid,
                        crate::config::MAX_PROCESSES
                    )));
                }
                let child = self.next_asid;
                self.next_asid += 1;
                if ev.child_accesses > 0 && !PT::ALIASES {
                    return Err(SimError(format!(
                        "core {id}: a forked child cannot run on this page table: it maps each frame once, so the child cannot share the parent's (use a radix or hashed design, or fork without child_accesses)"
                    )));
                }
                if PT::SHARED {
                    self.os
                        .fork(&mut self.spaces[0], None, asid, child, &mut core.os_stats)?;
                } else {
                    let mut c = self.spaces[space].new_space(&mut self.os.frames)?;
                    self.os.fork(
                        &mut self.spaces[space],
                        Some(&mut c),
                        asid,
                        child,
                        &mut core.os_stats,
                    )?;
                    self.spaces.push(c);
                }
                route_invalidations(core, &mut self.os, &mut self.mail);
                // Linux write-protects the parent's PTEs and flushes its mm, on every
                // core that runs one of its threads.
                core.tlbs.flush_asid(asid);
                core.walker.flush_asid(asid);
                if self.mail.loaded.len() > 1 {
                    self.mail.outgoing.push(Outgoing {
                        asid,
                        pages: Vec::new(),
                        full: true,
                        trigger: crate::os::Trigger::Fork,
                        tables_freed: false,
                    });
                    self.mail.pending = true;
                }
                let runs = ev.child_accesses > 0;
                let source: Box<dyn AccessSource> = if runs {
                    let spawn = self.spawn.as_mut().ok_or_else(|| {
                        SimError(
                            "internal: a fork gives its child accesses but the run has no spawner"
                                .into(),
                        )
                    })?;
                    spawn(ci, ev.child_accesses)?
                } else {
                    Box::new(Ended)
                };
                // A child without accesses only holds its pages.
                let state = if runs {
                    ProcState::Ready
                } else {
                    ProcState::Done
                };
                let parent = Some(core.proc);
                (self.procs).push(Process::new(child, id, parent, source, state));
                if runs {
                    core.queue.push(ci);
                    if self.sched.quantum > 0 && core.slice_end == u64::MAX {
                        core.slice_end = core.clock(&self.timing) + self.sched.quantum;
                    }
                }
            }
            EventKind::Exit => {
                // exit_group: every thread of the process ends here.
                self.os
                    .exit(&mut self.spaces[space], asid, &mut core.os_stats)?;
                if !PT::SHARED {
                    self.spaces[space].release_space(&mut self.os.frames)?;
                }
                for (i, p) in self.procs.iter_mut().enumerate() {
                    if p.asid != asid || p.state == ProcState::Exited {
                        continue;
                    }
                    p.state = ProcState::Exited;
                    let c = &mut self.cores[p.core];
                    if c.proc == i && self.started {
                        // Running: its core stops it at once.
                        c.stream_ended = true;
                        c.os_events.clear();
                        c.buf.clear();
                        c.pos = 0;
                        c.source = Box::new(Ended);
                    } else {
                        p.stream_ended = true;
                        p.os_events.clear();
                        p.buf.clear();
                        p.pos = 0;
                        p.source = Box::new(Ended);
                    }
                }
                // No thread is left to take an IPI: the entries go from every core
                // that may hold them (Linux's flush at exit_mmap reaches lazy cores).
                for c in &mut self.cores {
                    c.tlbs.flush_asid(asid);
                    c.walker.flush_asid(asid);
                }
                self.mail.outgoing.retain(|o| o.asid != asid);
                self.mail.pending = !self.mail.outgoing.is_empty();
            }
            _ => {
                return Err(SimError(format!(
                    "internal: {} is not a system call of the engine",
                    ev.kind.name()
                )))
            }
        }
        let core = &mut self.cores[id];
        core.os_event_at =
            (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
        Ok(())
    }

    /// Every process at this point: where it runs, how far its stream got, its state.
    pub fn process_stats(&self) -> Vec<ProcessStats> {
        (self.procs.iter().enumerate())
            .map(|(i, p)| {
                let c = &self.cores[p.core];
                let accesses = if self.started && c.proc == i {
                    c.stream_base.wrapping_add(c.counters.accesses)
                } else {
                    p.position
                };
                ProcessStats {
                    asid: p.asid,
                    core: p.core,
                    parent: p.parent,
                    accesses,
                    state: p.state,
                }
            })
            .collect()
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
            processes: self.process_stats(),
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
        self.start();
        let t = self.timing;
        let c = &mut self.cores[core];
        for e in self.mail.inboxes[core].drain(..) {
            c.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        let pt = &mut self.spaces[if PT::SHARED { 0 } else { c.asid as usize - 1 }];
        self.accesses_done += 1;
        step(
            c,
            a,
            pt,
            &mut self.mem,
            &mut self.os,
            &t,
            &mut self.mail,
            rec,
        )
    }

    /// Address-space id of the process core `core` runs (a page table's key for it).
    pub fn asid(&self, core: usize) -> u16 {
        if self.started {
            self.cores[core].asid
        } else {
            self.procs[self.cores[core].queue[0]].asid
        }
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

    /// The page table of the address space core `core` runs (for tests and tools).
    pub fn page_table(&self, core: usize) -> &PT {
        &self.spaces[if PT::SHARED {
            0
        } else {
            self.asid(core) as usize - 1
        }]
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
    mail: &mut Mail,
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
    if os.guard_active && (a.kind == AccessKind::Store || os.guard_loads) {
        // An access mprotect forbade, or a store to a copy-on-write page, traps before
        // it translates: the handler opens or copies the page, and the access then
        // finds the new translation.
        let store = a.kind == AccessKind::Store;
        if let Some(c) = os.guard_fault(pt, core.asid, va, store, &mut core.os_stats)? {
            route_invalidations(core, os, mail);
            if os.flush_walk_caches {
                core.walker.flush();
            }
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
        Some(h) if core.next_ipi != u64::MAX && pending_covers(core, va) => {
            // The table changed; the shootdown has not reached this core yet: the hit
            // uses the old translation, as hardware would in that window.
            let now = pt.translate(core.asid, va);
            if now
                != Some(crate::pagetable::Translation {
                    frame: h.frame,
                    size: h.size,
                })
            {
                core.os_stats.shootdown.stale_hits += 1;
            }
            core.stall(tlb_cycles - l1_hidden);
            (h.frame, h.size, h.level, tlb_cycles)
        }
        Some(h) => {
            // No TLB may hold a translation the page table no longer has (evictions,
            // unmaps): checked on every hit in test builds, outside a shootdown's window.
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
                core, va, pt, mem, os, t, now, tlb_cycles, l1_hidden, mail, rec,
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
        route_invalidations(core, os, mail);
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
    mail: &mut Mail,
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
            route_invalidations(core, os, mail);
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
    if !core.flushed.is_empty()
        && core
            .flushed
            .remove(&crate::tlb::page_key(core.asid, va, tr.size))
    {
        core.os_stats.shootdown.flush_misses += 1;
    }
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
        cycles: base_cycles(c.counters.instructions, t.cpi_milli)
            + c.counters.stall_cycles
            + c.os_stats.switch_cycles
            + c.os_stats.event_cycles
            + c.os_stats.shootdown.initiator_cycles
            + c.os_stats.shootdown.remote_cycles,
        faults: c.os_stats.minor_faults + c.os_stats.major_faults,
        resident_bytes: c.os_stats.mapped_bytes.max(0) as u64,
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
        core.stream_base = core.stream_base.wrapping_add(consumed);
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

/// Drops the translations the OS queued. The running address space's leave this
/// core's TLBs now (one by one, or its whole entries above the flush ceiling) and, on a
/// machine of several cores, become a shootdown the engine delivers once this access
/// ends. Another address space's (a hashed table's evictions) leave this core's TLBs
/// now and the other busy cores' before their next access.
fn route_invalidations(core: &mut Core, os: &mut Os, mail: &mut Mail) {
    if os.invalidations.is_empty() {
        return;
    }
    let mut own = Vec::new();
    for e in os.invalidations.drain(..) {
        if e.asid == core.asid {
            own.push(e);
            continue;
        }
        core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        for (c, inbox) in mail.inboxes.iter_mut().enumerate() {
            if c != core.id && !mail.idle[c] {
                inbox.push(e);
            }
        }
    }
    if own.is_empty() {
        return;
    }
    let full = mail.gather && own.len() > mail.ceiling;
    if full {
        core.tlbs.flush_asid_into(core.asid, &mut core.flushed);
        forget_changed(&mut core.flushed, &own);
        core.walker.flush_asid(core.asid);
    } else {
        for e in &own {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
    }
    if mail.loaded.len() > 1 {
        let (asid, trigger, tables_freed) = (core.asid, os.trigger, os.flush_walk_caches);
        let shootdown = |pages| Outgoing {
            asid,
            pages,
            full,
            trigger,
            tables_freed,
        };
        if mail.gather {
            mail.outgoing.push(shootdown(own));
        } else {
            mail.outgoing
                .extend(own.into_iter().map(|e| shootdown(vec![e])));
        }
        mail.pending = true;
    }
}

/// Takes the shootdown IPIs that have arrived by this core's clock: each stalls it for
/// interrupt entry and exit plus its invalidations (by page, or the address space's
/// entries above the ceiling; INVLPG also drops the address space's walk-cache entries,
/// Intel SDM vol. 3A, 4.10.4.1).
fn take_ipis(core: &mut Core, t: &Timing) {
    while let Some(ipi) = core.ipis.front() {
        if ipi.arrival > core.clock(t) {
            break;
        }
        let ipi = core.ipis.pop_front().expect("looked at");
        take_ipi(core, &ipi);
    }
    core.next_ipi = core.ipis.front().map_or(u64::MAX, |i| i.arrival);
}

fn take_ipi(core: &mut Core, ipi: &PendingIpi) {
    let s = &mut core.os_stats.shootdown;
    if ipi.full {
        s.entries_flushed += core.tlbs.flush_asid_into(ipi.asid, &mut core.flushed) as u64;
        s.full_flushes += 1;
        forget_changed(&mut core.flushed, &ipi.pages);
    } else {
        for e in ipi.pages.iter() {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        s.page_invalidations += ipi.pages.len() as u64;
    }
    core.walker.flush_asid(ipi.asid);
    s.remote_cycles += ipi.cycles;
    s.ipis_received += 1;
    core.stall_total += ipi.cycles;
}

/// The pages a shootdown changed are not the flush's to answer for.
fn forget_changed(flushed: &mut std::collections::HashSet<u64>, pages: &[Evicted]) {
    for e in pages {
        flushed.remove(&crate::tlb::page_key(e.asid, e.vaddr, e.size));
    }
}

/// Whether a shootdown on its way to this core names the page of `va` in the running
/// address space (a hit on it may be stale: the table changed, the IPI has not come).
fn pending_covers(core: &Core, va: u64) -> bool {
    core.ipis.iter().any(|i| {
        i.asid == core.asid
            && (i.full
                || i.pages
                    .iter()
                    .any(|e| e.vaddr == va & !(e.size.bytes() - 1)))
    })
}

/// Applies every OS event at the running process's current stream position and
/// schedules the next; stops at a fork or exit, which the engine runs (`syscall`).
/// Translations the events remove leave the TLBs of the core that runs their process
/// (shootdowns to other cores are not modelled yet).
fn apply_os_events<PT: PageTable>(
    core: &mut Core,
    pt: &mut PT,
    os: &mut Os,
    mail: &mut Mail,
) -> Result<(), SimError> {
    use crate::workload::EventKind;
    let here = core.stream_base.wrapping_add(core.counters.accesses);
    while let Some(&(at, ev)) = core.os_events.front() {
        if at > here {
            break;
        }
        if matches!(ev.kind, EventKind::Fork | EventKind::Exit) {
            core.syscall = true;
            break;
        }
        core.os_events.pop_front();
        let c = os.apply_event(pt, core.asid, ev, &mut core.os_stats)?;
        // Event work (populating a range) is the core's time, not translation.
        core.stall_total += c;
        route_invalidations(core, os, mail);
        if os.flush_walk_caches {
            core.walker.flush();
        }
    }
    core.os_event_at =
        (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
    Ok(())
}

/// Moves process `p`'s stream state into `core` (the core's goes to `p`: the
/// placeholders a running process holds) and makes it the running one.
fn switch_in(core: &mut Core, p: &mut Process, index: usize) {
    exchange(core, p);
    core.proc = index;
    core.asid = p.asid;
    core.stream_base = p.position.wrapping_sub(core.counters.accesses);
    core.os_event_at =
        (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
}

/// Gives the running process's stream state back to `p`.
fn switch_out(core: &mut Core, p: &mut Process) {
    p.position = core.stream_base.wrapping_add(core.counters.accesses);
    exchange(core, p);
}

fn exchange(core: &mut Core, p: &mut Process) {
    std::mem::swap(&mut core.source, &mut p.source);
    std::mem::swap(&mut core.buf, &mut p.buf);
    std::mem::swap(&mut core.pos, &mut p.pos);
    std::mem::swap(&mut core.os_events, &mut p.os_events);
    std::mem::swap(&mut core.stream_ended, &mut p.stream_ended);
}

/// The running process gets an address-space id on this core: the one it holds, or
/// the next round-robin, whose previous owner's TLB and walk-cache entries are flushed
/// (Linux's choose_new_asid, arch/x86/mm/tlb.c); without ids, everything is flushed.
fn take_asid(core: &mut Core, sched: &Sched) {
    let asid = core.asid;
    if sched.asids_per_core == 0 {
        core.tlbs.flush_all();
        core.walker.flush();
        core.os_stats.switch_flushes += 1;
        return;
    }
    if core.asid_slots.contains(&asid) {
        return;
    }
    let victim = core.asid_slots[core.next_slot];
    if victim != 0 {
        core.tlbs.flush_asid(victim);
        core.walker.flush_asid(victim);
        core.os_stats.asid_flushes += 1;
    }
    core.asid_slots[core.next_slot] = asid;
    core.next_slot = (core.next_slot + 1) % sched.asids_per_core;
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
