//! A core's TLB miss: a walker slot, the walk (native, nested or shadow), on a
//! not-present entry the OS's fault and a second walk, and the miss's cycles and
//! counters.
//!
//! In: the [`Miss`] that [`super::core::step`]'s TLB lookup left, the address space's
//! table, the shared machine. Out: the translation and the clock at which it is ready;
//! the core's stall, walker slots and translation counters. Kept apart from `core.rs`
//! (the access path up to the TLBs) so that each stays within its size; the miss path
//! is out of line, the hit path never enters it.

use super::core::{Core, Slot, Timing};
use super::record::{Event, Recorder};
use super::shootdown::apply_fault;
use super::Shared;
use crate::addr::VirtAddr;
use crate::pagetable::{PageTable, Translation};
use crate::SimError;

/// A TLB miss as the lookup left it.
#[derive(Clone, Copy)]
pub(super) struct Miss {
    pub(super) va: VirtAddr,
    /// The core's clock when the lookup began.
    pub(super) now: u64,
    pub(super) tlb_cycles: u64,
    pub(super) l1_hidden: u64,
}

/// The TLB-miss path: wait for a walker, walk, fault and walk again if needed. Kept out
/// of line so that the hit path stays small. Returns the translation and the clock at
/// which it is ready.
#[inline(never)]
pub(super) fn translate_miss<PT: PageTable, R: Recorder, const PLAIN: bool>(
    core: &mut Core,
    m: Miss,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
) -> Result<(Translation, u64), SimError> {
    // The designs' switches, constants (off) in the `PLAIN` copy, as `Timing::plain`
    // makes them without copying the whole struct (a `PLAIN` run's `t` is plain).
    let (prefetch, victima, spectlb) = (
        !PLAIN && t.prefetch,
        !PLAIN && t.victima,
        !PLAIN && t.spectlb,
    );
    let va = m.va;
    if va.0 >= t.va_limit {
        // Only a miss can get here first: TLB entries exist only for mapped addresses.
        return Err(SimError(format!(
            "core {}: address {va:#x} is beyond the page table's reach ({:#x}); use more levels or lower addresses",
            core.id, t.va_limit
        )));
    }
    let ready = m.now + m.tlb_cycles;
    // TLB prefetching: the buffer beside the last level; a hit needs no walk, and one
    // still in flight is waited for (`prefetch.rs`).
    let buffered = match prefetch {
        true => super::prefetch::take(core, pt, sh, va, ready),
        false => None,
    };
    if R::ON && prefetch {
        let late = buffered.map(|b| b.1);
        rec.event(Event::PrefetchBuffer { late });
    }
    // Victima: the L2's TLB block, probed beside the walk, aborts it on a hit; no
    // walker is held and nothing waits (`victima.rs` says what is charged).
    let block = match (victima, buffered) {
        (true, None) => super::victima::probe(core, va, pt, sh),
        (_, Some((tr, late))) => Some((tr, late)),
        _ => None,
    };
    if R::ON && victima {
        let hit_cycles = block.map(|b| b.1);
        rec.event(Event::VictimaProbe { hit_cycles });
    }
    let walks = core.walker.stats.walks;
    let (si, wait, (tr, psc, pte, fault)) = match block {
        // A late prefetch's rest is walker wait; a TLB block's read is a PTE read.
        Some((tr, late)) if buffered.is_some() => (None, late, (tr, 0, 0, 0)),
        Some((tr, cycles)) => (None, 0, (tr, 0, cycles, 0)),
        None => {
            let (si, wait) = take_walker(core, ready, rec);
            let dram = match victima {
                true => sh.mem.dram_pte_reads(core.id),
                false => 0,
            };
            let w = match sh.virt.as_deref().map(|hv| hv.shadow_mode()) {
                None => walk_native(core, va, pt, sh, t, rec)?,
                Some(false) => super::nested::walk_virt(core, va, pt, sh, t, rec)?,
                Some(true) => super::shadow::walk_shadow(core, va, pt, sh, t)?,
            };
            if victima {
                let dram = sh.mem.dram_pte_reads(core.id) - dram;
                super::victima::after_walk(core, va, w.0, pt, sh, dram);
            }
            (Some(si), wait, w)
        }
    };
    if !core.flushed.is_empty()
        && (core.flushed).remove(&crate::tlb::page_key(core.asid, va, tr.size))
    {
        core.os_stats.shootdown.flush_misses += 1;
    }
    // The walker is busy until the walk ends; the core may go on before (SpecTLB).
    let busy = ready + wait + psc + pte + fault;
    // Two walks: the first met a not-present entry (a fault).
    let (faulted, parts) = (core.walker.stats.walks > walks + 1, (wait, psc, pte));
    let ((wait, psc, pte), spec) = match spectlb && si.is_some() {
        true => super::spec::settle(core, sh, va, tr, faulted, parts, rec),
        false => (parts, 0),
    };
    let end = ready + wait + psc + pte + fault + spec;
    if prefetch && si.is_some() {
        super::prefetch::walked(core, busy);
    }
    // Keyed by address space: threads of a process share their translations.
    if (core.seen).first_use(core.asid as usize, tr.size as u8, va.0 >> tr.size.shift()) {
        core.counters.compulsory_misses += 1;
        core.counters.compulsory_cycles += end - m.now;
    }
    let tc = &mut core.counters.translation;
    tc.tlb += spec;
    tc.walk_cache += psc;
    tc.pte += pte;
    tc.wait += wait;
    tc.fault += fault;
    match si {
        Some(si) if t.window > 0 && fault == 0 => {
            // The walk proceeds in the background; the core stalls later if it must.
            core.stall(m.tlb_cycles - m.l1_hidden + wait);
            core.slots[si] = Slot {
                busy_until: busy,
                icount: core.instr_total,
                pending: true,
            };
            core.pending += 1;
        }
        // A late prefetch runs on behind the core as the walk it replaces would have.
        None if t.window > 0 && super::prefetch::late_behind(core, buffered, end) => {
            core.stall(m.tlb_cycles - m.l1_hidden);
        }
        _ => {
            // Blocking (or a fault, which traps, or a TLB block's short read): the core
            // waits for the whole translation.
            core.stall(end - m.now - m.l1_hidden);
            if let Some(si) = si {
                core.slots[si].busy_until = busy;
            }
        }
    }
    Ok((tr, end))
}

/// The walker that frees first takes the walk: its index, and the cycles the walk
/// waits for it from `ready`.
#[inline(always)]
pub(super) fn take_walker<R: Recorder>(core: &mut Core, ready: u64, rec: &mut R) -> (usize, u64) {
    let si = first_free(&core.slots);
    let slot = core.slots[si];
    let wait = slot.busy_until.saturating_sub(ready);
    if slot.pending {
        // Its previous walk could only end before this one starts: the core has
        // waited for it already.
        core.slots[si].pending = false;
        core.pending -= 1;
    }
    if R::ON {
        rec.event(Event::Wait { cycles: wait });
    }
    (si, wait)
}

/// The walker that frees first, the first of them on a tie (as `min_by_key` picks):
/// one or two walkers (every preset) by one compare, without the general search.
#[inline(always)]
fn first_free(slots: &[Slot]) -> usize {
    match slots {
        [_] => 0,
        [a, b] => (b.busy_until < a.busy_until) as usize,
        s => {
            (s.iter().enumerate())
                .min_by_key(|(_, s)| s.busy_until)
                .expect("at least one walker")
                .0
        }
    }
}

/// A native TLB miss's walk, and on a not-present entry the OS's fault and a second
/// walk ([`fault_and_walk`]). Returns the translation and its walk-cache, read and
/// fault cycles.
#[inline(always)]
fn walk_native<PT: PageTable, R: Recorder>(
    core: &mut Core,
    va: VirtAddr,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
) -> Result<(Translation, u64, u64, u64), SimError> {
    let r = (core.walker).walk_recorded(core.id, core.asid, va, pt, &mut sh.mem, rec);
    match r.translation {
        Some(tr) => Ok((tr, r.psc_cycles, r.pte_cycles, 0)),
        None => fault_and_walk(core, va, pt, sh, t, rec, (r.psc_cycles, r.pte_cycles)),
    }
}

/// The rest of a native walk that met a not-present entry: the OS maps the page, the
/// access replays and walks again. `cycles`: the first walk's walk-cache and read
/// cycles. Out of line: a second copy of the walk inlined into the miss path cost
/// that path registers on every walk, for one walk in a few hundred.
#[cold]
#[inline(never)]
pub(super) fn fault_and_walk<PT: PageTable, R: Recorder>(
    core: &mut Core,
    va: VirtAddr,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
    cycles: (u64, u64),
) -> Result<(Translation, u64, u64, u64), SimError> {
    let (os_stats, fx) = (&mut core.os_stats, &mut sh.fx);
    let os = &mut sh.os[super::vm_index(core.vm)];
    let evicted = os.handle_fault(pt, core.asid, va, os_stats, fx)?;
    if R::ON {
        let cycles = sh.fx.cycles;
        rec.event(Event::Fault { cycles, evicted });
    }
    // Translations the fault removed (one the design evicted, small pages a collapse
    // replaced) leave the TLBs before the walk again.
    let fault = apply_fault(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut());
    super::overflow::check(core, t, fault)?;
    let r = (core.walker).walk_recorded(core.id, core.asid, va, pt, &mut sh.mem, rec);
    let tr = r
        .translation
        .ok_or_else(|| SimError(format!("{va:#x}: still not mapped after its page fault")))?;
    Ok((tr, cycles.0 + r.psc_cycles, cycles.1 + r.pte_cycles, fault))
}

#[cfg(test)]
mod tests {
    use super::{first_free, Slot};

    /// The walker chosen for 1 to 5 walkers with busy times drawn from a few values
    /// (ties often): the lowest index among those with the earliest free time, found by
    /// a plain scan.
    #[test]
    fn first_free_is_the_first_earliest_walker() {
        let mut x: u64 = 99;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let n = (x >> 60) as usize % 5 + 1;
            let slots: Vec<Slot> = (0..n)
                .map(|i| Slot {
                    busy_until: (x >> (4 * i + 8)) % 4,
                    ..Slot::default()
                })
                .collect();
            let earliest = slots.iter().map(|s| s.busy_until).min().unwrap();
            let want = (0..n).find(|&i| slots[i].busy_until == earliest).unwrap();
            let busy: Vec<u64> = slots.iter().map(|s| s.busy_until).collect();
            assert_eq!(first_free(&slots), want, "{busy:?}");
        }
    }
}
