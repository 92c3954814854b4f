//! TLB prefetching on the translation path (issue 20): the prefetch buffer's probe after
//! a last-level TLB miss, the prefetcher's trigger after each access whose lookup
//! missed the trigger level, the prefetch walks it asks for, and free prefetching of a
//! walked leaf line's other PTEs.
//!
//! In: the core (its TLBs and their prefetch buffer, walker and walker slots), the page
//! table, the memory system. Out: translations in the buffer, cycles a late prefetch
//! makes a demand miss wait, the core's [`PrefetchCounters`]. Runs only with
//! `[prefetch]` (a per-run flag in `step`); without it nothing here is reached.
//!
//! The model, where it differs from Virtuoso (CMU-SAFARI/Virtuoso@8188baf):
//! - Prefetch walks take the core's walkers as demand walks do: each takes the walker
//!   that frees first and starts when it frees (never before the trigger), so a later
//!   demand walk waits for a walker a prefetch holds. At most `prefetch.queue` prefetch
//!   walks wait for a walker at once; more are dropped. Walks do not preempt one another
//!   and queued prefetches have no lower priority (the queue bounds how long a demand
//!   walk can wait behind them). Virtuoso gives prefetch walks no walker at all
//!   (`tlb_prefetcher_base.cc`, `PTWTransparent`).
//! - Their PTE reads go through the core's caches from the L1D, as the demand walks'
//!   do, at the time of the trigger (the caches' state is not rewound to the walk's
//!   start), counted as translation reads (`pte_*`) but not in the demand walks'
//!   counters; Virtuoso sends them to the L2 as prefetches.
//! - A prefetched translation is usable from its walk's end (`ready_at`); a demand miss
//!   that finds it earlier waits for the rest (a late prefetch, charged as walker wait),
//!   where Virtuoso counts a miss and walks again.
//! - A prefetch walk that meets a page that is not mapped is dropped: no fault, no entry.
//! - Free prefetching (`prefetch.free`): after a walk (demand or prefetch) that ends at
//!   a 4K leaf of a radix table, the other mapped PTEs of the leaf's 64-byte line (8
//!   PTEs, so distances -7..=7 limited by the slot) are usable from that walk's end with
//!   no further read (Vavouliotis et al., ISCA 2021). With `free = "sbfp"` each is kept
//!   or sampled by [`crate::prefetch::Sbfp`], which the buffer probe trains: a miss of
//!   the buffer probes its Sampler, a buffer hit on a free entry credits its distance.
//!   Neighbours a TLB level holds already are neither kept nor sampled.

use super::core::{Core, Timing, TLB_READ_LEVELS};
use super::Shared;
use crate::addr::{PageSize, VirtAddr};
use crate::config::{FreePrefetch, PrefetchConfig};
use crate::pagetable::{PageTable, Translation};
use crate::prefetch::{AnyPrefetcher, Candidates, Miss, Prefetcher, Sbfp};
use crate::tlb::Prefetched;
use serde::Serialize;

/// One core's prefetching counters (all zero without `[prefetch]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrefetchCounters {
    /// Misses of the trigger level the prefetcher saw.
    pub triggers: u64,
    /// Pages it asked for.
    pub requested: u64,
    /// Of those, pages a TLB level or the buffer held already (not fetched).
    pub already_held: u64,
    /// Of those, pages beyond the page table's reach (not fetched).
    pub out_of_range: u64,
    /// Of those, dropped because `prefetch.queue` walks were waiting for a walker.
    pub dropped_queue_full: u64,
    /// Prefetch walks made, and of them those that found the page not mapped (dropped
    /// without a fault).
    pub walks: u64,
    pub unmapped: u64,
    /// The prefetch walks' PTE reads, their walk-cache and read cycles (a walk's
    /// latency, as a demand walk's: nobody stalls on it), and the cycles they waited
    /// for a walker.
    pub walk_reads: u64,
    pub walk_cycles: u64,
    pub walker_wait_cycles: u64,
    /// Their reads by the level that served them (slots as
    /// `CoreCounters::tlb_memory_reads`): a read served below the first cache brought
    /// its line into the levels above (cache pollution if never used by a walk).
    pub reads_by_level: [u64; TLB_READ_LEVELS],
    /// Translations put in the buffer by prefetch walks and by free prefetching.
    pub inserted: u64,
    pub free_inserted: u64,
    /// Free PTEs seen in walked leaf lines (mapped 4K neighbours not already held).
    pub free_candidates: u64,
    /// Buffer hits (last-level misses that needed no walk), those of free entries, and
    /// those that found the entry still in flight (late) with the cycles they waited.
    pub hits: u64,
    /// Of `hits`, those on entries inserted before the statistics restarted (the
    /// warm-up's end): not among `inserted`, so accuracy leaves them out.
    pub hits_on_earlier: u64,
    pub free_hits: u64,
    pub late: u64,
    pub late_cycles: u64,
    /// Buffer entries displaced before any use (wasted prefetches).
    pub evicted_unused: u64,
}

impl PrefetchCounters {
    pub fn merge(&mut self, o: &PrefetchCounters) {
        macro_rules! add {
            ($($f:ident),*) => { $(self.$f += o.$f;)* };
        }
        add!(
            triggers,
            requested,
            already_held,
            out_of_range,
            dropped_queue_full,
            walks,
            unmapped,
            walk_reads,
            walk_cycles,
            walker_wait_cycles,
            inserted,
            free_inserted,
            free_candidates,
            hits,
            hits_on_earlier,
            free_hits,
            late,
            late_cycles,
            evicted_unused
        );
        for (a, b) in self.reads_by_level.iter_mut().zip(o.reads_by_level) {
            *a += b;
        }
    }
}

/// What the miss path left for the trigger after the fill.
#[derive(Clone, Copy, Default)]
struct LastMiss {
    /// The buffer served the miss.
    buffer_hit: bool,
    /// A demand walk ended at a translation at this clock (`None`: no walk).
    walk_end: Option<u64>,
}

/// One core's prefetcher and what it keeps between calls.
pub(super) struct State {
    prefetcher: AnyPrefetcher,
    free: FreePrefetch,
    /// SBFP's table and sampler (`free = "sbfp"`).
    sbfp: Option<Sbfp>,
    /// The trigger level (1-based): lookups that hit below it (0-based hit level at
    /// least this) or missed every level train the prefetcher.
    trigger: usize,
    /// Start clocks of prefetch walks that waited for a walker (`queue` slots).
    waiting: Vec<u64>,
    cands: Candidates,
    last: Option<LastMiss>,
    /// The address of the last instruction fetch: the program counter of the
    /// accesses that follow it.
    pc: u64,
    /// The prefetcher follows last-level evictions (a recency stack): the TLBs keep
    /// the last one ([`crate::tlb::Tlbs::keep_evictions`]) and each access hands it on.
    evictions: bool,
}

impl State {
    /// The state of `cfg` for a core whose TLBs are `tlbs` (told to keep last-level
    /// evictions if the prefetcher wants them).
    pub(super) fn new(cfg: &PrefetchConfig, tlbs: &mut crate::tlb::Tlbs, seed: u64) -> State {
        let prefetcher = AnyPrefetcher::new(cfg, seed);
        let evictions = prefetcher.wants_evictions();
        if evictions {
            tlbs.keep_evictions();
        }
        let levels = tlbs.num_levels();
        State {
            prefetcher,
            evictions,
            free: cfg.free,
            sbfp: (cfg.free == FreePrefetch::Sbfp).then(|| Sbfp::new(&cfg.sbfp)),
            trigger: cfg.trigger(levels as u32) as usize,
            waiting: vec![0; cfg.queue as usize],
            cands: Candidates::default(),
            last: None,
            pc: 0,
        }
    }

    /// The warm-up ended: the prefetcher's and SBFP's counters restart.
    pub(super) fn reset_stats(&mut self) {
        self.prefetcher.reset_stats();
        if let Some(s) = self.sbfp.as_mut() {
            s.reset_stats();
        }
    }

    /// The prefetcher's own counters, with SBFP's under `sbfp` when it is on.
    pub(super) fn own_stats(&self) -> serde_json::Value {
        let mut v = self.prefetcher.stats();
        if let (Some(s), Some(o)) = (&self.sbfp, v.as_object_mut()) {
            o.insert("sbfp".into(), s.stats());
        }
        v
    }
}

/// After the last TLB level missed `va` at clock `at`: the buffer's translation, if it
/// holds one (it leaves the buffer), and the cycles the miss waits for it (its walk
/// still in flight: a late prefetch).
#[inline(never)]
pub(super) fn take<PT: PageTable>(
    core: &mut Core,
    pt: &PT,
    sh: &Shared,
    va: VirtAddr,
    at: u64,
) -> Option<(Translation, u64)> {
    let b = core.tlbs.prefetch_buffer()?;
    let e = b.take(core.asid, va.0);
    let st = core.prefetch.as_deref_mut()?;
    st.last = Some(LastMiss {
        buffer_hit: e.is_some(),
        walk_end: None,
    });
    // SBFP learns from both outcomes: a miss probes its Sampler (a rejected free PTE
    // demanded), a hit on a free entry credits its distance.
    if let Some(s) = st.sbfp.as_mut() {
        match e {
            None => s.probe(core.asid, va.0 >> 12),
            Some(p) if p.origin != 0 => s.credit(p.origin),
            Some(_) => {}
        }
    }
    let e = e?;
    let c = &mut core.counters.prefetch;
    c.hits += 1;
    c.hits_on_earlier += e.before_restart as u64;
    c.free_hits += (e.origin != 0) as u64;
    let late = e.ready_at.saturating_sub(at);
    c.late += (late > 0) as u64;
    c.late_cycles += late;
    let tr = Translation {
        frame: crate::addr::PhysAddr(e.frame),
        size: e.size,
    };
    // The buffer follows every invalidation, as the TLBs do: a hit is checked as a TLB
    // hit is (inside a shootdown's window a changed translation is a stale hit).
    let hit = crate::tlb::TlbHit {
        level: core.tlbs.num_levels(),
        frame: tr.frame,
        size: tr.size,
    };
    super::core::check_hit(core, pt, sh, va, hit);
    Some((tr, late))
}

/// With `sim.overlap_window`: a buffer hit (`buffered`) still in flight lets the core go
/// on, as a demand walk in the background does, if the walker that runs its prefetch
/// walk (the one busy until `end`, the walk's end) is found and not already waited on:
/// it becomes a pending walk the core stalls on W instructions later. Returns whether it
/// did (else the core waits for the rest now).
pub(super) fn late_behind(core: &mut Core, buffered: Option<(Translation, u64)>, end: u64) -> bool {
    if buffered.is_none_or(|b| b.1 == 0) {
        return false;
    }
    let Some(s) = (core.slots.iter_mut()).find(|s| s.busy_until == end && !s.pending) else {
        return false;
    };
    s.pending = true;
    s.icount = core.instr_total;
    core.pending += 1;
    true
}

/// A demand walk of the miss ended at `end` (free prefetching looks at its leaf line).
#[inline(always)]
pub(super) fn walked(core: &mut Core, end: u64) {
    if let Some(st) = core.prefetch.as_deref_mut() {
        if let Some(l) = st.last.as_mut() {
            l.walk_end = Some(end);
        }
    }
}

/// After the fill of access `va` (the lookup hit at 0-based `hit_level`; the number of
/// levels = a miss): remember a fetch's address as the program counter, run free
/// prefetching on a demand walk's leaf line, and train and trigger the prefetcher on a
/// miss of the trigger level, walking what it asks for.
#[inline(never)]
pub(super) fn after_access<PT: PageTable>(
    core: &mut Core,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
    (va, side, hit_level): (VirtAddr, usize, usize),
) {
    let Some(mut st) = core.prefetch.take() else {
        return;
    };
    let last = st.last.take().unwrap_or_default();
    if side == crate::tlb::INSTR {
        st.pc = va.0;
    }
    let pc = st.pc;
    if let Some(end) = last.walk_end {
        free_prefetch(core, &mut st, pt, va, end);
    }
    if hit_level >= st.trigger {
        let m = Miss {
            asid: core.asid,
            vpn: va.0 >> 12,
            pc,
            buffer_hit: last.buffer_hit,
        };
        core.counters.prefetch.triggers += 1;
        let asid = core.asid;
        let mapped = |vpn: u64| pt.translate(asid, VirtAddr(vpn << 12)).is_some();
        let mut cands = std::mem::take(&mut st.cands);
        cands.clear();
        st.prefetcher.on_miss(&m, &mapped, &mut cands);
        let now = core.clock(t);
        for &vpn in cands.as_slice() {
            prefetch_page(core, &mut st, pt, sh, t, vpn, now);
        }
        st.cands = cands;
    }
    // After the prediction: the entry this access's fill evicted from the last level
    // goes on the stack, where the next miss finds it (Virtuoso's order,
    // `prefetch/recency.rs`).
    if st.evictions {
        if let Some(e) = core.tlbs.take_evicted() {
            if e.size == PageSize::Size4K {
                st.prefetcher.on_evict(e.asid, e.vpn);
            }
        }
    }
    core.prefetch = Some(st);
}

/// Fetch 4K page `vpn` of the running address space into the buffer: a prefetch walk
/// on the walker that frees first, from `now` at the earliest.
fn prefetch_page<PT: PageTable>(
    core: &mut Core,
    st: &mut State,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
    vpn: u64,
    now: u64,
) {
    let c = &mut core.counters.prefetch;
    c.requested += 1;
    let va = VirtAddr(vpn.wrapping_shl(12));
    if vpn >= t.va_limit >> 12 {
        c.out_of_range += 1;
        return;
    }
    if core.tlbs.translates(core.asid, va.0) {
        c.already_held += 1;
        return;
    }
    // A walker the core may still stall on (a demand walk in the background) is not
    // taken: its end is the demand walk's.
    let Some(si) = (0..core.slots.len())
        .filter(|&i| !core.slots[i].pending)
        .min_by_key(|&i| core.slots[i].busy_until)
    else {
        c.dropped_queue_full += 1;
        return;
    };
    let start = core.slots[si].busy_until.max(now);
    if start > now {
        // It waits for a walker: a place in the queue, one whose walk has started.
        match st.waiting.iter().position(|&s| s <= now) {
            Some(q) => st.waiting[q] = start,
            None => {
                c.dropped_queue_full += 1;
                return;
            }
        }
    }
    let mut reads = [0u64; TLB_READ_LEVELS];
    let r = (core.walker).prefetch_walk(core.id, core.asid, va, pt, &mut sh.mem, &mut |d| {
        reads[d.min(TLB_READ_LEVELS - 1)] += 1
    });
    let latency = r.psc_cycles + r.pte_cycles;
    let ready_at = start + latency;
    core.slots[si].busy_until = ready_at;
    let c = &mut core.counters.prefetch;
    c.walks += 1;
    c.walk_reads += r.reads as u64;
    c.walk_cycles += latency;
    c.walker_wait_cycles += start - now;
    for (a, b) in c.reads_by_level.iter_mut().zip(reads) {
        *a += b;
    }
    let Some(tr) = r.translation else {
        c.unmapped += 1;
        return;
    };
    insert(core, va, tr, ready_at, 0);
    free_prefetch(core, st, pt, va, ready_at);
}

/// Put `tr` (the translation of `va`) in the buffer, usable from `ready_at`.
fn insert(core: &mut Core, va: VirtAddr, tr: Translation, ready_at: u64, origin: i8) {
    let e = Prefetched {
        asid: core.asid,
        size: tr.size,
        vpn: va.0 >> tr.size.shift(),
        frame: tr.frame.0,
        ready_at,
        origin,
        before_restart: false,
    };
    let Some(b) = core.tlbs.prefetch_buffer() else {
        return;
    };
    let displaced = b.insert(e);
    let c = &mut core.counters.prefetch;
    c.inserted += 1;
    c.free_inserted += (origin != 0) as u64;
    c.evicted_unused += displaced.is_some() as u64;
}

/// Free prefetching after a walk of `va` ended at `end`: the other PTEs of its 4K leaf
/// line that map a 4K page now and are not held already, each kept as `prefetch.free`
/// says, usable from `end`.
fn free_prefetch<PT: PageTable>(core: &mut Core, st: &mut State, pt: &PT, va: VirtAddr, end: u64) {
    if st.free == FreePrefetch::Off {
        return;
    }
    let asid = core.asid;
    let vpn = va.0 >> 12;
    if pt
        .translate(asid, va)
        .is_none_or(|t| t.size != PageSize::Size4K)
    {
        return;
    }
    let slot = (vpn & 7) as i64;
    for k in 0..8i64 {
        let d = k - slot;
        let nva = VirtAddr(((vpn & !7) + k as u64) << 12);
        if d == 0 || core.tlbs.translates(asid, nva.0) {
            continue;
        }
        let Some(tr) = pt
            .translate(asid, nva)
            .filter(|t| t.size == PageSize::Size4K)
        else {
            continue;
        };
        core.counters.prefetch.free_candidates += 1;
        let keep = match (st.free, st.sbfp.as_mut()) {
            (FreePrefetch::Off, _) => false,
            (FreePrefetch::All, _) => true,
            (FreePrefetch::Sbfp, Some(s)) => s.admit(asid, nva.0 >> 12, d as i8),
            (FreePrefetch::Sbfp, None) => unreachable!("SBFP state made with the config"),
        };
        if keep {
            insert(core, nva, tr, end, d as i8);
        }
    }
}
