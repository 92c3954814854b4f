//! The fused access path: one core's accesses in the commonest shape of run, with the
//! structures they touch held as raw views for a stretch of accesses.
//!
//! The shape: none of the designs [`Timing::plain`] names, no overlap window (walks
//! block), a native plain radix table, nothing guarded and no page replacement, a fast
//! TLB hierarchy holding only 4 KiB pages so far ([`crate::tlb::TlbView`]) and a lean
//! memory route ([`crate::memory::LeanPort`]) — the `skylake` and `icelake` presets on
//! any synthetic or trace workload without huge pages. Made at each stop of the
//! engine's loop ([`Views::new`]), and again after any access this path hands back.
//!
//! In: an access of the running core. Out: exactly what [`super::core::step`] does to
//! the core, its TLBs, walker, counters and the memory system, with fewer operations:
//! the TLB sets and cache levels come from the views (no field of the hierarchy, the
//! port or a level loaded per access), a lookup that misses every TLB level hands its
//! sets to the fill, and the tests of designs that are off are gone. Whatever the shape
//! does not cover is handed back before anything changed ([`Fused::General`]): an IPI
//! on its way, an address past the table's reach, a TLB hit below the repeated-hit
//! shortcut (the lookup's only change, that way made the most recent, is one the
//! general lookup then makes again, with no effect). A fault or a huge page is handled
//! here by the general code ([`Fused::Changed`]): the TLBs' filled sizes may then have
//! left the shape. No access changes the shape of anything else the views hold (the
//! TLB and cache arrays are never remade; the table is not in the views); OS events,
//! system calls and IPIs, which may, come at the engine's stops, after which the
//! views are made again. Checked against the general engine by the
//! tests below and, byte for byte, by `scripts/difffuzz.py` and the 180-run identity.

use super::core::{check_hit, Core, Timing};
use super::miss::{fault_and_walk, take_walker};
use super::record::NoRecord;
use super::Shared;
use crate::addr::{AccessKind, PageSize, PhysAddr, VirtAddr};
use crate::memory::LeanPort;
use crate::pagetable::PageTable;
use crate::tlb::{TlbView, DATA, INSTR};
use crate::workload::Access;
use crate::SimError;

/// The raw views of one core's structures for the fused path.
#[derive(Clone, Copy)]
pub(super) struct Views {
    tlb: TlbView,
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
    /// Done by the general code in part (a fault, a huge page): the TLBs' filled
    /// sizes may have left the shape ([`crate::tlb::Tlbs::fused_shape`]).
    Changed,
    /// Not done, nothing changed: the general path takes it.
    General,
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
        let os = &sh.os[super::vm_index(core.vm)];
        let quiet = t.window == 0 && core.pending == 0 && !os.guarding() && !os.tracks_accesses();
        if !quiet || sh.virt.is_some() || pt.as_radix().is_none() {
            return None;
        }
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
            mem,
            miss_cycles,
            l1_hidden,
        })
    }
}

impl Views {
    /// The host prefetch of the memory sets a PTE read and a data read will visit
    /// ([`crate::memory::MemorySystem::prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch(&self, pte: PhysAddr, data: PhysAddr) {
        self.mem.prefetch(pte, data)
    }
}

/// One access on the fused path ([`Fused`] says what became of it).
///
/// # Safety
/// `v` was made by [`Views::new`] for this core, table and machine at the engine's
/// last stop, and the TLBs have kept the shape since ([`crate::tlb::Tlbs::fused_shape`]).
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
    let walk = {
        let radix = pt
            .as_radix()
            .expect("the fused shape has a plain radix table");
        // SAFETY: the caller's.
        (core.walker).walk_straight_via(core.asid, va, radix, |p| unsafe { v.mem.read(p.0, true) })
    };
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
    let stale = fault > 0 || tr.size != PageSize::Size4K;
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
    let tc = &mut core.counters.translation;
    tc.tlb += tlb_cycles;
    tc.total += latency;
    debug_assert_eq!(
        tc.total,
        tc.parts(),
        "accounting invariant broken at {va:#x}"
    );
}
