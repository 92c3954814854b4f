//! One core and one access's translation path: TLBs, then on a miss a walker slot, the
//! walk, and on a not-present entry the OS's fault and a second walk.
//!
//! Owns the core's state (TLBs, walker and walker slots, clock, counters, the running
//! process's stream) and [`step`], the per-access hot path: no allocation, no dynamic
//! call, monomorphic in the page-table design and the recorder. In: an access, the
//! address space's table, the shared machine. Out: the core's counters and clock; what
//! the OS changed goes through [`super::shootdown::apply`].

use super::miss::{translate_miss, Miss};
use super::record::{Event, Recorder};
use super::sched::Ended;
use super::shootdown::{apply, apply_fault, pending_covers, PendingIpi};
pub(super) use super::timing::{base_cycles, Timing};
use super::{Shared, TimelinePoint};
use crate::addr::{AccessKind, PageSize, PhysAddr, VirtAddr};
use crate::config::SystemConfig;
use crate::os::OsStats;
use crate::pagetable::{PageTable, Translation};
use crate::tlb::{Tlbs, DATA, INSTR};
use crate::walker::Walker;
use crate::workload::{Access, AccessSource, OsEvent};
use crate::SimError;
use serde::Serialize;
use std::collections::{HashSet, VecDeque};

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
    /// TLB misses whose translation this core had never used (see `seen.rs`), and their
    /// translation latency (walks, waits and faults).
    pub compulsory_misses: u64,
    pub compulsory_cycles: u64,
    /// Accesses the direct segment translated (`os.direct_segment`): no TLB lookup, no
    /// walk, no fill.
    pub direct_segment_hits: u64,
    /// Their translation cycles (in `translation.tlb`; the L1 TLB probe's latency each).
    pub direct_segment_cycles: u64,
    /// Memory reads of TLB probes (a POM-TLB's set lines) by where they were served:
    /// index i is the i-th level of the core's memory route (nearest first), the one
    /// after the last cache is DRAM (a route of more than 7 caches counts its deeper
    /// levels and DRAM in the last slot).
    pub tlb_memory_reads: [u64; TLB_READ_LEVELS],
    /// Their cycles: per lookup the slowest of its reads (a level's structures are
    /// probed in parallel), part of `translation.tlb`.
    pub tlb_memory_cycles: u64,
    /// Lookups that read memory (each probes every memory-held structure of its level).
    pub tlb_memory_lookups: u64,
    /// Victima's probes, block hits and insertions (`victima.rs`; zero when off).
    pub victima: super::victima::VictimaCounters,
    /// Range-table walks (RMM, `os.rmm`: one after each page walk when a range TLB
    /// exists), the node lines they read and those reads' latency. In the background
    /// of the page walk (Karakostas et al., ISCA 2015): not part of any access's
    /// translation cycles, and not stalled on.
    pub range_walks: u64,
    pub range_walk_reads: u64,
    pub range_walk_cycles: u64,
    /// Of `range_walks`, those that found a range (and filled the range TLB with it).
    pub range_walk_hits: u64,
    /// RestSeg walks (`os.utopia`, after every miss of the last TLB level), those that
    /// found the page in its set (no radix walk), their tag-line reads by where they
    /// were served (slots as `tlb_memory_reads`) and their cycles (in `translation.tlb`).
    pub restseg_walks: u64,
    pub restseg_hits: u64,
    pub restseg_reads: [u64; TLB_READ_LEVELS],
    pub restseg_cycles: u64,
    /// SpecTLB's predictions and the walks it hid (`spec.rs`; zero when off).
    pub spectlb: super::spec::SpecCounters,
    /// TLB prefetching (`prefetch.rs`; zero when off).
    pub prefetch: super::prefetch::PrefetchCounters,
}

/// Slots of [`CoreCounters::tlb_memory_reads`].
pub const TLB_READ_LEVELS: usize = 8;

/// A hardware walker: busy until a clock, and whether its walk still runs in the
/// background (the core has not waited for it yet).
#[derive(Clone, Copy, Default)]
pub(super) struct Slot {
    pub(super) busy_until: u64,
    pub(super) icount: u64,
    pub(super) pending: bool,
}

pub(super) struct Core {
    pub(super) id: usize,
    pub(super) asid: u16,
    /// The running process's VM (1 natively).
    pub(super) vm: u16,
    pub(super) tlbs: Tlbs,
    /// The running process's direct-segment registers (BASE, LIMIT, OFFSET).
    pub(super) segment: crate::os::direct_segment::Segment,
    /// Victima's predictor and buffers (`[victima]`; `None` when off).
    pub(super) victima: Option<Box<super::victima::State>>,
    /// The SpecTLB (`[spectlb]`; `None` when off).
    pub(super) spec: Option<Box<super::spec::SpecTlb>>,
    /// The prefetcher and its queue (`[prefetch]`; `None` when off).
    pub(super) prefetch: Option<Box<super::prefetch::State>>,
    pub(super) walker: Walker,
    pub(super) slots: Vec<Slot>,
    pub(super) pending: usize,
    pub(super) counters: CoreCounters,
    pub(super) os_stats: OsStats,
    /// The hypervisor's work for this core (a virtualized machine).
    pub(super) virt: crate::virt::VirtStats,
    /// The host runqueue this vCPU shares its core in, and its position (`None`: it has
    /// the core to itself), and the end of its current host slice (0: none begun yet;
    /// `u64::MAX`: never preempted).
    pub(super) host_rq: Option<(crate::virt::vipi::HostRunqueue, u32)>,
    pub(super) host_slice_end: u64,
    /// For want of VPIDs (`virt.vpids`): the guest's TLB entries and walk caches go at
    /// every VM exit (none at all), or when the vCPU resumes after a preemption (fewer
    /// than the host threads sharing its core).
    pub(super) flush_on_exit: bool,
    pub(super) flush_on_resume: bool,
    /// Instructions at the last statistics restart, for base cycles.
    pub(super) instr_total: u64,
    pub(super) stall_total: u64,
    pub(super) source: Box<dyn AccessSource>,
    pub(super) buf: Vec<Access>,
    pub(super) pos: usize,
    /// No process of this core is left to run.
    pub(super) done: bool,
    /// The running process (index into `Simulator::procs`).
    pub(super) proc: usize,
    /// The processes this core runs, in round-robin order.
    pub(super) queue: Vec<usize>,
    /// Clock at which the running process's quantum ends (`u64::MAX`: it runs on).
    pub(super) slice_end: u64,
    /// Address-space ids the TLBs hold entries of (0: not given yet), and which one
    /// the next process without one takes: `asids_per_core` per VM (each VM's guest
    /// kernel has its own on its vCPU), VM v's at `(v - 1) * asids_per_core`.
    pub(super) asid_slots: Vec<u16>,
    pub(super) next_slot: Vec<usize>,
    /// Several VMs: the VMs holding this core's VPIDs (0: not given yet; as many as
    /// `virt.vpids` allows up to the VM count) and which one the next VM without one
    /// takes; switches into each VM from another (by VM).
    pub(super) vpid_slots: Vec<u16>,
    pub(super) next_vpid: usize,
    pub(super) vm_switches_in: Vec<u64>,
    /// The running process's stream has ended (or it exited).
    pub(super) stream_ended: bool,
    /// The event at the front of `os_events` needs the engine (fork, exit).
    pub(super) syscall: bool,
    /// Shootdown IPIs sent to this core, by arrival, and the first arrival (`u64::MAX`:
    /// none).
    pub(super) ipis: VecDeque<PendingIpi>,
    pub(super) next_ipi: u64,
    /// TLB keys of unchanged pages that a shootdown's full flush took: a later miss on
    /// one is a miss the flush caused.
    pub(super) flushed: HashSet<u64>,
    /// Translations this core has used, for compulsory misses; kept across warm-up.
    pub(super) seen: super::seen::SeenPages,
    /// While this core waits for its shootdown's acknowledgements (it has not run
    /// since): the clock the wait began at. It takes IPIs during the wait, as Linux's
    /// initiator does, spinning with interrupts on.
    pub(super) waiting_since: Option<u64>,
    pub(super) warm: bool,
    /// The access count (of `counters`) at which the engine has bookkeeping to do: the
    /// end of warm-up, or the end of a timeline window; `u64::MAX` for none. One
    /// compare per access covers both.
    pub(super) event_at: u64,
    /// Cumulative counters at each timeline window boundary (empty when off).
    pub(super) timeline: Vec<TimelinePoint>,
    /// This core's timeline window: the one asked for, doubled each time the points
    /// reach [`crate::timeline::MAX_WINDOWS`] (0: no timeline).
    pub(super) timeline_window: u64,
    /// OS events of this core's stream, as (stream position, event), in order.
    pub(super) os_events: VecDeque<(u64, OsEvent)>,
    /// Stream position of the running process = `stream_base + counters.accesses`
    /// (wrapping: a process switched in after a warm-up restart has a "negative" base).
    pub(super) stream_base: u64,
    /// `counters.accesses` at which the next OS event applies (`u64::MAX`: none).
    pub(super) os_event_at: u64,
}

impl Core {
    /// Core `id` of a machine of `cfg` that runs `n_tasks` tasks round-robin over
    /// `n` cores; `seed` seeds its replacement policies.
    pub(super) fn new(
        cfg: &SystemConfig,
        id: usize,
        (n, n_tasks): (usize, usize),
        seed: u64,
    ) -> Core {
        let warmup = cfg.sim.warmup_accesses.accesses();
        let vms = cfg.virt.as_ref().map_or(1, |v| v.vms.max(1) as usize);
        let host_rq = super::vcpu::host_runqueue(cfg, id);
        let mut walker = Walker::new(&cfg.walker.psc, seed);
        if cfg.page_table.asap() {
            walker.enable_asap();
        }
        let mut tlbs = Tlbs::new(&cfg.tlb_structures(), seed);
        let victima = (cfg.victima.as_ref().filter(|v| v.enable)).map(|v| {
            // The blocks follow the TLBs' invalidations and take their evictions.
            tlbs.keep_dropped();
            Box::new(super::victima::State::new(v))
        });
        if let Some(p) = cfg.size_prediction.as_ref().filter(|p| p.enable) {
            tlbs.predict_sizes(p.entries as usize, &cfg.tlb_structures());
        }
        let spec = (cfg.spectlb.as_ref().filter(|s| s.enable))
            .map(|s| Box::new(super::spec::SpecTlb::new(s, seed ^ 0x5bec)));
        let prefetch = cfg.prefetch.as_ref().map(|p| {
            let b = &p;
            tlbs.set_prefetch_buffer(crate::tlb::PrefetchBuffer::new(
                b.buffer_entries,
                b.buffer_ways,
                b.buffer_replacement,
                seed ^ 0x9f3c_1d2b,
            ));
            Box::new(super::prefetch::State::new(p, &mut tlbs, seed))
        });
        if let Some(v) = &cfg.virt {
            let ntlb = v
                .ntlb
                .as_ref()
                .map(|n| (n.entries as usize, n.latency as u64));
            walker.enable_nested(ntlb, &v.host_psc, seed ^ 0x6e57);
            tlbs.set_splinters();
        }
        Core {
            id,
            asid: id as u16 + 1,
            vm: 1,
            tlbs,
            segment: crate::os::direct_segment::Segment::NONE,
            victima,
            spec,
            prefetch,
            walker,
            slots: vec![Slot::default(); cfg.walker.max_concurrent_walks as usize],
            pending: 0,
            counters: CoreCounters::default(),
            os_stats: OsStats::default(),
            virt: Default::default(),
            flush_on_exit: cfg.virt.as_ref().is_some_and(|v| v.vpids == 0),
            flush_on_resume: (cfg.virt.as_ref())
                .is_some_and(|v| v.vpids < v.host_sched.threads_per_core),
            host_rq,
            // u64::MAX: never preempted (the engine's limit ignores it).
            host_slice_end: if host_rq.is_some() { 0 } else { u64::MAX },
            instr_total: 0,
            stall_total: 0,
            source: Box::new(Ended),
            buf: Vec::with_capacity(super::BATCH),
            pos: 0,
            done: false,
            proc: id,
            queue: (id..n_tasks).step_by(n).collect(),
            slice_end: u64::MAX,
            asid_slots: vec![0; cfg.os.sched.asids_per_core as usize * vms],
            next_slot: vec![0; vms],
            vpid_slots: vec![0; cfg.virt.as_ref().map_or(0, |v| v.vpids as usize).min(vms)],
            next_vpid: 0,
            vm_switches_in: vec![0; vms],
            stream_ended: false,
            syscall: false,
            ipis: Default::default(),
            next_ipi: u64::MAX,
            flushed: Default::default(),
            seen: Default::default(),
            waiting_since: None,
            warm: warmup == 0,
            event_at: if warmup == 0 { u64::MAX } else { warmup },
            timeline: Vec::new(),
            timeline_window: 0,
            os_events: Default::default(),
            stream_base: 0,
            os_event_at: u64::MAX,
        }
    }

    #[inline(always)]
    pub(super) fn clock(&self, t: &Timing) -> u64 {
        base_cycles(self.instr_total, t.cpi_milli) + self.stall_total
    }

    #[inline(always)]
    pub(super) fn stall(&mut self, c: u64) {
        self.stall_total += c;
        self.counters.stall_cycles += c;
    }

    /// Guest translations leave this core's TLBs and guest walk caches: the address
    /// spaces `scope` lists (one VM's of several), or every entry (`None`).
    pub(super) fn flush_guest(&mut self, scope: Option<&[u16]>) {
        match scope {
            None => {
                self.tlbs.flush_all();
                self.walker.flush();
            }
            Some(asids) => {
                // `asids` is sorted (ids are given in increasing order): one pass over
                // each structure, however many address spaces the VM has.
                let which = |a: u16| asids.binary_search(&a).is_ok();
                self.tlbs.flush_spaces(&which);
                self.walker.flush_spaces(&which);
            }
        }
    }

    /// The guest's TLB entries and walk caches go for want of a VPID (`virt.vpids`).
    pub(super) fn vpid_flush(&mut self) {
        self.tlbs.flush_all();
        self.walker.flush();
        self.virt.vpid_flushes += 1;
    }

    /// Walks still in flight finish: the core stalls until the last one ends and no
    /// walk is pending any more.
    pub(super) fn drain_walks(&mut self, t: &Timing) {
        let now = self.clock(t);
        let tail = (self.slots.iter())
            .filter(|s| s.pending)
            .map(|s| s.busy_until.saturating_sub(now))
            .max()
            .unwrap_or(0);
        self.stall(tail);
        for s in self.slots.iter_mut() {
            s.pending = false;
        }
        self.pending = 0;
    }
}

/// Translate one access on `core`. The hot path: no allocation, no dynamic dispatch
/// (`rec` is [`super::record::NoRecord`] in runs, compiled away). `t` is
/// `timing.plain::<PLAIN>()`, made once per run of the caller's loop, not per access.
#[inline(always)]
pub(super) fn step<PT: PageTable, R: Recorder, const PLAIN: bool>(
    core: &mut Core,
    a: Access,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
) -> Result<(), SimError> {
    debug_assert!(*t == t.plain::<PLAIN>());
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

    if PLAIN && !R::ON && repeated_hit(core, a, side, pt, sh, t) {
        return Ok(());
    }
    if t.victima {
        // TLB blocks of translations the OS changed since this core's last access go.
        super::victima::drain(core, sh);
    }
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

    let va = VirtAddr(a.vaddr);
    let store = a.kind == AccessKind::Store;
    let os = &mut sh.os[super::vm_index(core.vm)];
    if os.guarding() && (store || os.guards_loads()) {
        // An access mprotect forbade, or a store to a copy-on-write page, traps before
        // it translates: the handler opens or copies the page, and the access then
        // finds the new translation.
        os.guard_fault(pt, core.asid, va, store, &mut core.os_stats, &mut sh.fx)?;
        let c = apply_fault(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut());
        super::overflow::check(core, t, c)?;
        core.stall(c);
        let tc = &mut core.counters.translation;
        tc.fault += c;
        tc.total += c;
    }
    if t.direct_segment && core.segment.contains(va.0) {
        super::reach::segment_access(core, va, side, pt, sh, t, rec);
        return Ok(());
    }
    let mut tlb_cycles = 0u64;
    let mut hit = core.tlbs.lookup(side, core.asid, va, &mut tlb_cycles);
    if t.tlb_reads_memory {
        tlb_cycles += super::reach::price_tlb_reads(core, &mut sh.mem, rec);
    }
    if t.utopia && hit.is_none() {
        hit = super::reach::restseg_walk(core, va, sh, &mut tlb_cycles, rec);
    }
    let l1_hidden = if t.l1_overlapped {
        (core.tlbs.level_latency(0, side) as u64).min(tlb_cycles)
    } else {
        0
    };
    if R::ON {
        rec.event(Event::Tlb {
            // A RestSeg walk's hit (level = the number of levels) shows as a miss.
            hit_level: (hit.map(|h| h.level)).filter(|&l| l < core.tlbs.num_levels()),
            cycles: tlb_cycles,
            hidden: l1_hidden,
        });
    }
    let walked = hit.is_none();
    // `latency`: from the start of the lookup to the translation (timestamps on a miss).
    let (frame, size, hit_level, latency) = match hit {
        Some(h) => {
            core.stall(tlb_cycles - l1_hidden);
            check_hit(core, pt, sh, va, h);
            (h.frame, h.size, h.level, tlb_cycles)
        }
        None => {
            let now = core.clock(t);
            let miss = Miss {
                va,
                now,
                tlb_cycles,
                l1_hidden,
            };
            let (tr, end) = translate_miss::<PT, R, PLAIN>(core, miss, pt, sh, t, rec)?;
            super::reach::after_walk(core, pt, sh, va, tr);
            (tr.frame, tr.size, core.tlbs.num_levels(), end - now)
        }
    };
    core.tlbs
        .complete(side, core.asid, va, frame, size, hit_level);
    if t.after_fill {
        super::reach::after_fill(core, pt, sh, t, (va, side, hit_level));
    }
    if sh.os[super::vm_index(core.vm)].tracks_accesses() {
        // Page replacement needs recency, dirty and accessed bits (off by default);
        // pages leaving the working set go.
        let (os_stats, fx) = (&mut core.os_stats, &mut sh.fx);
        let os = &mut sh.os[super::vm_index(core.vm)];
        os.on_access(pt, (core.asid, va), (store, walked), os_stats, fx)?;
        let os = sh.fx.cycles;
        // The OS's own cycles here are charged where it counts them; a shadow-paging
        // hypervisor's work on the evictions is the core's time.
        let hv = apply(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut()) - os;
        core.stall_total += hv;
    }
    finish(core, sh, (va, frame, size), tlb_cycles, latency);
    Ok(())
}

/// The end of every access: the data access at its physical address, and the
/// translation's TLB cycles and latency counted.
#[inline(always)]
fn finish(
    core: &mut Core,
    sh: &mut Shared,
    (va, frame, size): (VirtAddr, PhysAddr, PageSize),
    tlb_cycles: u64,
    latency: u64,
) {
    sh.mem.data_access_at(core.id, || frame + va.offset(size));
    count_translation(core, va, tlb_cycles, latency);
}

/// A translation's TLB cycles and latency counted (the end of every access, after its
/// data access; the fused path's too).
#[inline(always)]
pub(super) fn count_translation(core: &mut Core, va: VirtAddr, tlb_cycles: u64, latency: u64) {
    let tc = &mut core.counters.translation;
    tc.tlb += tlb_cycles;
    tc.total += latency;
    debug_assert_eq!(
        tc.total,
        tc.parts(),
        "accounting invariant broken at {va:#x}"
    );
}

/// An access to the page of the last level-1 hit, done if nothing else is pending on
/// this core: no walk in the background to settle, no guarded page, no page replacement
/// tracking accesses, no IPI on its way (and, in the `PLAIN` copy of [`step`] that calls
/// it, none of the designs [`Timing::plain`] names). The rest of [`step`] would then do
/// exactly this (the hit costs its probe, of which an overlapped L1 hides all, and the
/// data access follows); the most common access skips the tests for all the rest.
/// Returns whether it did the access.
#[inline(always)]
fn repeated_hit<PT: PageTable>(
    core: &mut Core,
    a: Access,
    side: usize,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
) -> bool {
    if core.pending > 0 || core.next_ipi != u64::MAX {
        return false;
    }
    let os = &sh.os[super::vm_index(core.vm)];
    if os.guarding() || os.tracks_accesses() {
        return false;
    }
    let va = VirtAddr(a.vaddr);
    let Some((h, lat)) = core.tlbs.repeat(side, core.asid, va) else {
        return false;
    };
    if !t.l1_overlapped {
        core.stall(lat);
    }
    check_hit(core, pt, sh, va, h);
    finish(core, sh, (va, h.frame, h.size), lat, lat);
    true
}

/// A TLB hit's checks: inside a shootdown's window (the table changed, the IPI has not
/// reached this core yet) the hit uses the old translation, as hardware would, and a
/// changed one counts as a stale hit; outside it, no TLB may hold a translation the
/// page table no longer has (evictions, unmaps), checked on every hit in test builds.
#[inline(always)]
pub(super) fn check_hit<PT: PageTable>(
    core: &mut Core,
    pt: &PT,
    sh: &Shared,
    va: VirtAddr,
    h: crate::tlb::TlbHit,
) {
    let held = Some(Translation {
        frame: h.frame,
        size: h.size,
    });
    if core.next_ipi != u64::MAX && pending_covers(core, va) {
        if full_translation(pt, sh, core.asid, va) != held {
            core.os_stats.shootdown.stale_hits += 1;
        }
    } else {
        debug_assert_eq!(
            full_translation(pt, sh, core.asid, va),
            held,
            "stale TLB entry for {va:#x} on core {}",
            core.id
        );
    }
}

/// What a TLB entry for `va` must hold now: the page table's translation, or on a
/// virtualized machine the guest's composed with the host's (the smaller page, at its
/// host-physical base). Off the hot path: stale-hit checks and test builds.
pub(super) fn full_translation<PT: PageTable>(
    pt: &PT,
    sh: &Shared,
    asid: u16,
    va: VirtAddr,
) -> Option<Translation> {
    let g = pt.translate(asid, va)?;
    let Some(hv) = sh.virt.as_deref() else {
        return Some(g);
    };
    let gpa = crate::addr::GuestPhysAddr(g.frame.0 + va.offset(g.size));
    let h = hv.translate(hv.vm_of(asid), gpa)?;
    let size = g.size.min(h.size);
    let hpa = h.frame.0 + gpa.offset(h.size);
    Some(Translation {
        frame: crate::addr::PhysAddr(hpa & !(size.bytes() - 1)),
        size,
    })
}
