//! The fused access path: one core's accesses in the commonest shape of run, with the
//! structures they touch held as raw views across accesses.
//!
//! The shape: none of the designs [`Timing::plain`] names, no overlap window (walks
//! block), a native plain radix table with at most four ranked walk caches
//! ([`crate::walker::WalkView`]), nothing guarded and no page replacement, a fast TLB
//! hierarchy holding only 4 KiB pages so far ([`crate::tlb::TlbView`]) and a lean
//! memory route ([`crate::memory::LeanPort`]): the `skylake` and `icelake` presets on
//! any synthetic or trace workload without huge pages.
//!
//! In: an access of the running core. Out: exactly what [`super::core::step`] does to
//! the core, its TLBs, walker, counters and the memory system, with fewer operations:
//! the TLB sets, walk caches, table and cache levels come from the views (no field of
//! the hierarchy, the walker, the port or a level loaded per access), a lookup that
//! misses every TLB level hands its sets to the fill (and a walk cache that misses, to
//! its fill), and the tests of designs that are off are gone.
//!
//! Whatever the shape does not cover is handed back before anything changed
//! ([`Fused::General`]): an IPI on its way, an address past the table's reach, a TLB
//! hit below the repeated-hit shortcut (the lookup's only change, that way made the
//! most recent, is one the general lookup then makes again, with no effect). A fault or
//! a huge page is handled here by the general code ([`Fused::Changed`]).
//!
//! The views live in `Simulator::fused`, one per core, across the engine's turns;
//! [`renew`] keeps them at each stop and after each access handed back or changed if
//! they still hold (the run still quiet, the TLBs still in the shape, the table's arena
//! not grown or switched: [`Views::hold`]), else makes them again. Nothing else they
//! point into is ever remade (the TLB, walk-cache and cache arrays keep their storage;
//! counters restart in place). Checked against the general engine by
//! `engine::tests::the_fused_path_equals_the_plain_copy_and_the_full_path` and, byte for
//! byte, by `scripts/difffuzz.py` and the 180-run identity.

use super::core::{check_hit, count_translation, Core, Timing};
use super::miss::{fault_and_walk, take_walker};
use super::record::NoRecord;
use super::Shared;
use crate::addr::{AccessKind, PageSize, PhysAddr, VirtAddr};
use crate::memory::LeanPort;
use crate::pagetable::PageTable;
use crate::tlb::{TlbView, DATA, INSTR};
use crate::walker::WalkView;
use crate::workload::Access;
use crate::SimError;

/// The raw views of one core's structures for the fused path.
#[derive(Clone, Copy)]
pub(super) struct Views {
    tlb: TlbView,
    walk: WalkView,
    mem: LeanPort,
    /// Per side, the cycles of a lookup that misses every level, and the part of them
    /// an overlapped level 1 hides.
    miss_cycles: [u64; 2],
    l1_hidden: [u64; 2],
}

/// What the fused path did with an access.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Fused {
    /// Done; the views still hold.
    Done,
    /// Done by the general code in part (a fault, a huge page): the table may have
    /// grown and the TLBs' filled sizes left the shape; the views are made again.
    Changed,
    /// Not done, nothing changed: the general path takes it.
    General,
}

// SAFETY: every pointer of the views is into heap memory of the simulator that owns
// the core keeping them (its TLB, walker, table and cache arrays), which moves with it;
// they are used only by the thread running that simulator.
unsafe impl Send for Views {}

/// Whether `core`'s run has what the fused shape asks of it besides its structures.
#[inline(always)]
fn quiet(core: &Core, sh: &Shared, t: &Timing) -> bool {
    let os = &sh.os[super::vm_index(core.vm)];
    t.window == 0
        && core.pending == 0
        && !os.guarding()
        && !os.tracks_accesses()
        && sh.virt.is_none()
        && core.tlbs.fused_shape()
}

/// Keep `views` if they still hold for `core`'s run now, else make new ones
/// ([`Views::new`]): at each engine stop (a process switch, an OS event, another
/// core's fault may have changed what they are of), kept across the engine's turns in
/// `Simulator::fused`. Returns whether there are views.
pub(super) fn renew<PT: PageTable>(
    views: &mut Option<Views>,
    core: &mut Core,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
) -> bool {
    let holds = views
        .as_ref()
        .is_some_and(|v| quiet(core, sh, t) && v.hold(core, pt));
    if !holds {
        *views = Views::new(core, pt, sh, t);
    }
    views.is_some()
}

impl Views {
    /// The views of `core`'s structures, if its run has the fused shape now. `t` is
    /// the run's plain timing (the caller runs the `PLAIN` copy).
    pub(super) fn new<PT: PageTable>(
        core: &mut Core,
        pt: &PT,
        sh: &mut Shared,
        t: &Timing,
    ) -> Option<Views> {
        if !quiet(core, sh, t) {
            return None;
        }
        let walk = core.walker.fused_view(pt.as_radix()?)?;
        let tlb = core.tlbs.fused_view()?;
        let mem = sh.mem.lean_port(core.id)?;
        let mut miss_cycles = [0; 2];
        let mut l1_hidden = [0; 2];
        for side in [INSTR, DATA] {
            let c = core.tlbs.fused_miss_cycles(side);
            miss_cycles[side] = c;
            if t.l1_overlapped {
                l1_hidden[side] = (core.tlbs.level_latency(0, side) as u64).min(c);
            }
        }
        Some(Views {
            tlb,
            walk,
            mem,
            miss_cycles,
            l1_hidden,
        })
    }
}

impl Views {
    /// Whether the views still hold after a general step: the TLBs kept the shape and
    /// the table its arena (a step changes nothing else the views hold; OS events,
    /// system calls and IPIs come at the engine's stops).
    #[inline(always)]
    pub(super) fn hold<PT: PageTable>(&self, core: &Core, pt: &PT) -> bool {
        core.tlbs.fused_shape() && pt.as_radix().is_some_and(|r| self.walk.holds(r))
    }

    /// The host prefetch's first stage ([`crate::pagetable::Walkable::prefetch`]): the
    /// leaf entry of `va`; returns the hint for the second.
    #[inline(always)]
    pub(super) fn prefetch_leaf(&self, va: VirtAddr, upper: &mut (u64, u32)) -> u64 {
        self.walk.radix().prefetch_leaf(va.0, upper)
    }

    /// The host prefetch's second stage: the memory sets the leaf PTE read and the
    /// data read of `va` will visit, if the first stage found the leaf table (`hint`).
    #[inline(always)]
    pub(super) fn prefetch_lines(&self, va: VirtAddr, hint: u64) {
        if hint == 0 {
            return;
        }
        if let Some((pte, data)) = self.walk.radix().leaf_lines_hinted(va.0, hint) {
            self.mem.prefetch(pte, data);
        }
    }
}

/// One access on the fused path ([`Fused`] says what became of it).
///
/// # Safety
/// `v` was made by [`Views::new`] for this core, table and machine, and holds now: it
/// was checked ([`renew`]) at the engine's last stop and after every access since that
/// was handed back or ended [`Fused::Changed`] (a fault: the table may have grown).
#[inline(always)]
pub(super) unsafe fn step<PT: PageTable>(
    core: &mut Core,
    a: Access,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    v: &Views,
) -> Result<Fused, SimError> {
    let va = VirtAddr(a.vaddr);
    if core.next_ipi != u64::MAX || va.0 >= t.va_limit {
        return Ok(Fused::General);
    }
    let side = match a.kind {
        AccessKind::Fetch => INSTR,
        _ => DATA,
    };
    if let Some((h, lat)) = core.tlbs.repeat(side, core.asid, va) {
        count(core, a);
        if !t.l1_overlapped {
            core.stall(lat);
        }
        check_hit(core, pt, sh, va, h);
        // SAFETY: the caller's.
        unsafe { finish(core, &v.mem, (va, h.frame, h.size), lat, lat) };
        return Ok(Fused::Done);
    }
    // SAFETY: the caller's.
    let Some(missed) = (unsafe { v.tlb.probe(side, core.asid, va.0) }) else {
        return Ok(Fused::General);
    };
    count(core, a);
    let tlb_cycles = core.tlbs.fused_missed(side);
    debug_assert_eq!(tlb_cycles, v.miss_cycles[side & 1]);
    let l1_hidden = v.l1_hidden[side & 1];
    let now = core.clock(t);
    let ready = now + tlb_cycles;
    let (si, wait) = take_walker(core, ready, &mut NoRecord);
    // SAFETY: the caller's (the walker's and the table's views are the last stop's
    // or the last fault's).
    let walk = unsafe { v.walk.walk(core.asid, va, |p| v.mem.read(p.0, true)) };
    core.walker
        .stats
        .count_walk(walk.reads, walk.psc_cycles, walk.pte_cycles);
    // A fault may grow the table (even one that costs no cycles): the views are then
    // checked again (`Fused::Changed`).
    let faulted = walk.translation.is_none();
    let (tr, psc, pte, fault) = match walk.translation {
        Some(tr) => (tr, walk.psc_cycles, walk.pte_cycles, 0),
        None => {
            let cycles = (walk.psc_cycles, walk.pte_cycles);
            fault_and_walk(core, va, pt, sh, t, &mut NoRecord, cycles)?
        }
    };
    if !core.flushed.is_empty()
        && (core.flushed).remove(&crate::tlb::page_key(core.asid, va, tr.size))
    {
        core.os_stats.shootdown.flush_misses += 1;
    }
    let end = ready + wait + psc + pte + fault;
    if (core.seen).first_use(core.asid as usize, tr.size as u8, va.0 >> tr.size.shift()) {
        core.counters.compulsory_misses += 1;
        core.counters.compulsory_cycles += end - now;
    }
    let tc = &mut core.counters.translation;
    tc.walk_cache += psc;
    tc.pte += pte;
    tc.wait += wait;
    tc.fault += fault;
    // Blocking (no overlap window): the core waits for the whole translation.
    core.stall(end - now - l1_hidden);
    core.slots[si].busy_until = end;
    let stale = faulted || tr.size != PageSize::Size4K;
    match stale {
        false => {
            core.tlbs.fused_filled();
            // SAFETY: the caller's; nothing puts a page in the TLBs during a walk that
            // did not fault.
            unsafe { v.tlb.fill(&missed, tr.frame.0) };
        }
        true => {
            let levels = core.tlbs.num_levels();
            (core.tlbs).complete(side, core.asid, va, tr.frame, tr.size, levels);
        }
    }
    // SAFETY: the caller's (a fault changes no cache level's shape).
    unsafe { finish(core, &v.mem, (va, tr.frame, tr.size), tlb_cycles, end - now) };
    Ok(if stale { Fused::Changed } else { Fused::Done })
}

/// The access's own counts (as `step` makes them first).
#[inline(always)]
fn count(core: &mut Core, a: Access) {
    let c = &mut core.counters;
    c.accesses += 1;
    c.instructions += a.instrs as u64;
    core.instr_total += a.instrs as u64;
    match a.kind {
        AccessKind::Load => c.loads += 1,
        AccessKind::Store => c.stores += 1,
        AccessKind::Fetch => c.fetches += 1,
    }
}

/// `core.rs`'s `finish` through the lean port: the data access, the translation's TLB
/// cycles and latency counted.
///
/// # Safety
/// The port is valid (see [`LeanPort`]).
#[inline(always)]
unsafe fn finish(
    core: &mut Core,
    mem: &LeanPort,
    (va, frame, size): (VirtAddr, PhysAddr, PageSize),
    tlb_cycles: u64,
    latency: u64,
) {
    // SAFETY: the caller's.
    unsafe { mem.data_access(frame + va.offset(size)) };
    count_translation(core, va, tlb_cycles, latency);
}
