//! SpecTLB (Barr, Cox and Rixner, "SpecTLB: A Mechanism for Speculative Address
//! Translation", ISCA 2011; `[spectlb]`): speculative translation inside the 2 MiB
//! reservations of the `reserve` huge-page policy.
//!
//! Owns the SpecTLB of one core (a small set-associative table of reservations:
//! (address space, 2 MiB region) -> reserved 2M frame) and what happens to a last-level
//! TLB miss beside its walk. The paper exploits reservation-based allocators to
//! "interpolate" a small page's translation and confirms it in parallel with the
//! speculative execution (its abstract); here the prediction is the reservation's base
//! plus the page's offset in the region (Virtuoso computes the same, `PPN*4K + (VA mod
//! 2MB)`, `spec_engine_designs/spectlb.cc`).
//!
//! In: after the walk of a last-level miss, the translation the walk found, whether it
//! faulted, its walker wait, walk-cache and PTE cycles, and the OS's reservation of the
//! region. Out: the cycles the core waits for (what goes into `translation_cycles`) and
//! the [`SpecCounters`]. Called only when `[spectlb]` is on (a per-run flag in
//! `Timing`); native machines with blocking walks only (the config refuses the rest).
//!
//! Timing. The SpecTLB is probed when the last TLB level misses, beside the walk, and
//! answers after `spectlb.latency` cycles. With `w` the walk's cycles from the miss
//! (walker wait + walk-cache probe + PTE reads):
//! * no entry for the region: an ordinary miss, nothing added;
//! * the walk faulted (the page was not present): a fault is precise and squashes what
//!   followed anyway, so no speculation is counted and nothing is added (`faulted`);
//! * `w <= latency`: the walk answered first, the prediction was not used (`walk_first`);
//! * the walk's physical page equals the prediction: the core went on after `latency`
//!   cycles, charged as TLB time (`translation_cycles.tlb`); the walk still ran on its
//!   walker (busy as usual) and its cycles are counted apart (`hidden_*`, not in
//!   `translation_cycles`), as RMM's range walks are;
//! * otherwise (the page is mapped elsewhere, or the reservation was broken): a
//!   misprediction: the core waits for the whole walk plus `spectlb.squash_cycles`
//!   (TLB time too).
//!
//! Entries are filled after a walk of a 4K page inside a live reservation. The OS's
//! invalidations do not reach them: a stale one mispredicts once, which the walk
//! catches, and then goes (or is corrected, if a live reservation covers the region).

use super::core::Core;
use super::record::{Event, Recorder};
use super::Shared;
use crate::addr::{PageSize, VirtAddr};
use crate::assoc::{Replacement, SetAssoc};
use crate::config::SpecTlbConfig;
use crate::pagetable::Translation;
use serde::Serialize;

/// A core's SpecTLB counters (reset with the core's at the end of warm-up). Every
/// prediction ends as exactly one of `correct`, `mispredicted`, `faulted`, `walk_first`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SpecCounters {
    /// Last-level TLB misses that walked and probed the SpecTLB.
    pub probes: u64,
    /// Probes that found the region's reservation: frames predicted.
    pub predictions: u64,
    pub correct: u64,
    pub mispredicted: u64,
    pub faulted: u64,
    pub walk_first: u64,
    /// Reservations entered (or corrected) after walks.
    pub fills: u64,
    /// The correct speculations' walks, run in the background: walker wait, walk-cache
    /// and PTE cycles (not in `translation_cycles`).
    pub hidden_wait_cycles: u64,
    pub hidden_walk_cache_cycles: u64,
    pub hidden_pte_cycles: u64,
    /// TLB time this design added: `latency` per correct speculation and
    /// `squash_cycles` per misprediction (in `translation_cycles.tlb`).
    pub cycles: u64,
}

impl SpecCounters {
    pub fn merge(&mut self, o: &SpecCounters) {
        self.probes += o.probes;
        self.predictions += o.predictions;
        self.correct += o.correct;
        self.mispredicted += o.mispredicted;
        self.faulted += o.faulted;
        self.walk_first += o.walk_first;
        self.fills += o.fills;
        self.hidden_wait_cycles += o.hidden_wait_cycles;
        self.hidden_walk_cache_cycles += o.hidden_walk_cache_cycles;
        self.hidden_pte_cycles += o.hidden_pte_cycles;
        self.cycles += o.cycles;
    }

    /// The walks' cycles a correct speculation kept off the core.
    pub fn hidden_cycles(&self) -> u64 {
        self.hidden_wait_cycles + self.hidden_walk_cache_cycles + self.hidden_pte_cycles
    }
}

/// One core's SpecTLB.
pub(super) struct SpecTlb {
    table: SetAssoc,
    latency: u64,
    squash: u64,
}

impl SpecTlb {
    pub(super) fn new(cfg: &SpecTlbConfig, seed: u64) -> SpecTlb {
        let sets = (cfg.entries / cfg.ways) as usize;
        SpecTlb {
            table: SetAssoc::new(sets, cfg.ways as usize, Replacement::Lru, seed),
            latency: cfg.latency as u64,
            squash: cfg.squash_cycles as u64,
        }
    }
}

/// The walk's parts the core waits for: walker wait, walk-cache and PTE cycles.
pub(super) type WalkParts = (u64, u64, u64);

/// After the walk of last-level miss `va` (translation `tr`, `faulted` if it met a
/// not-present entry, `walk` its parts): the SpecTLB's prediction settled against it
/// and the region's reservation entered. Returns the walk parts the core still waits
/// for (none after a correct speculation) and the TLB cycles SpecTLB adds.
#[inline(never)]
pub(super) fn settle<R: Recorder>(
    core: &mut Core,
    sh: &Shared,
    va: VirtAddr,
    tr: Translation,
    faulted: bool,
    walk: WalkParts,
    rec: &mut R,
) -> (WalkParts, u64) {
    let (out, outcome, frame) = settle_counted(core, sh, va, tr, faulted, walk);
    if R::ON {
        rec.event(Event::SpecTlb {
            outcome,
            frame,
            cycles: out.1,
        });
    }
    out
}

/// [`settle`] without the recording: the result, the outcome's name and the prediction.
#[inline(always)]
fn settle_counted(
    core: &mut Core,
    sh: &Shared,
    va: VirtAddr,
    tr: Translation,
    faulted: bool,
    walk: WalkParts,
) -> ((WalkParts, u64), &'static str, Option<u64>) {
    let Some(s) = core.spec.as_deref_mut() else {
        return ((walk, 0), "no entry", None);
    };
    let key = crate::tlb::page_key(core.asid, va, PageSize::Size2M);
    let set = ((va.0 >> 21) & s.table.set_mask()) as usize;
    let stored = s.table.lookup(set, key);
    let predicted = stored.map(|base| base + (va.0 & 0x1f_f000));
    let base = sh.os[super::vm_index(core.vm)].reservation_of(core.asid, va.0);
    // The walk found a 4K page where the live reservation puts it: the region's entry
    // (entered, or corrected, unless the probe just found it).
    let fits = |b: u64| tr.size == PageSize::Size4K && tr.frame.0 == b + (va.0 & 0x1f_f000);
    let refilled = base.filter(|&b| stored != Some(b) && fits(b));
    if let Some(b) = refilled {
        s.table.insert(set, key, b);
        core.counters.spectlb.fills += 1;
    }
    let (lat, squash) = (s.latency, s.squash);
    let c = &mut core.counters.spectlb;
    c.probes += 1;
    let Some(p) = predicted else {
        return ((walk, 0), "no entry", None);
    };
    c.predictions += 1;
    let (wait, psc, pte) = walk;
    // The physical page the access uses (a region promoted since is one 2M page).
    let actual = tr.frame.0 + (va.0 & (tr.size.bytes() - 1) & !0xfff);
    if faulted {
        c.faulted += 1;
        ((walk, 0), "faulted", Some(p))
    } else if wait + psc + pte <= lat {
        c.walk_first += 1;
        ((walk, 0), "walk_first", Some(p))
    } else if actual == p {
        c.correct += 1;
        c.hidden_wait_cycles += wait;
        c.hidden_walk_cache_cycles += psc;
        c.hidden_pte_cycles += pte;
        c.cycles += lat;
        (((0, 0, 0), lat), "correct", Some(p))
    } else {
        c.mispredicted += 1;
        c.cycles += squash;
        if refilled.is_none() {
            // The region no longer maps as its reservation did (broken, copied, migrated)
            // and no live reservation replaces the entry: it goes, so it cannot
            // mispredict again.
            s.table.invalidate(set, key);
        }
        ((walk, squash), "mispredicted", Some(p))
    }
}
