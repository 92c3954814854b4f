//! The walker in the fused path's shape (`sim/fused.rs`): a native demand walk of a
//! plain radix table with at most [`FUSED_PSCS`] walk caches, each a ranked LRU array,
//! held as raw views ([`WalkView`]), kept across accesses while they hold.
//!
//! In: a virtual address that missed every TLB level, and the read of a PTE (its
//! latency; the fused engine reads through its lean port). Out: the same
//! [`WalkResult`], walker counters, walk-cache contents and memory reads as the
//! straight walk (`straight.rs`) gives: the walk caches probed and counted once each,
//! the deepest hit starting the walk, each table entry read filling its level's walk
//! cache. What differs is how: the caches' sets, the table's arena and its per-level
//! shifts come from the views, and a walk cache the walk fills hands the set its probe
//! searched to the fill (the key is known absent: its probe missed in this walk, and
//! nothing else fills it meanwhile), so the set is searched once.

use super::{psc_key, Psc, PscStats, WalkResult, Walker, NO_MEMO, NO_PSC};
use crate::addr::{PhysAddr, VirtAddr};
use crate::assoc::ranked::{fingerprint, lanes, RankedView};
use crate::pagetable::radix::RadixView;
use crate::pagetable::Radix;
use std::mem::MaybeUninit;

/// The most walk caches a fused walk holds (the presets have three).
pub const FUSED_PSCS: usize = 4;

/// One walk cache: its sets, its remembered hit, its counters, and the radix level it
/// serves with that level's shift.
#[derive(Clone, Copy)]
struct PscView {
    sets: RankedView,
    psc: *mut Psc,
    stats: *mut PscStats,
    /// The level a hit starts the walk at: the one below the walk cache's.
    below: usize,
    shift: u32,
}

/// The walker and the table as the fused walk reads them ([`Walker::fused_view`]).
/// Valid while the walker and the table are neither moved nor reshaped (the table's
/// arena not grown: a fault may grow it, after which the engine makes the view
/// again; the walk caches' counters are restarted in place, `Walker::reset_stats`),
/// and only used while nothing else borrows them.
#[derive(Clone, Copy)]
pub struct WalkView {
    /// The walk caches in the walker's order (deepest level first); the first `n`.
    pscs: [PscView; FUSED_PSCS],
    n: usize,
    /// Per radix level, the index in `pscs` of the walk cache its entries fill.
    at: [usize; 8],
    psc_cycles: u64,
    radix: RadixView,
}

impl Walker {
    /// The walker and `pt` as a [`WalkView`], if the walker is native, without ASAP,
    /// and has from one to [`FUSED_PSCS`] walk caches, each a ranked LRU array.
    pub fn fused_view(&mut self, pt: &Radix) -> Option<WalkView> {
        let n = self.pscs.len();
        if self.nested.is_some() || self.stats.asap.is_some() || n == 0 || n > FUSED_PSCS {
            return None;
        }
        let mut views = [None; FUSED_PSCS];
        let radix = pt.view();
        for (i, (p, st)) in self.pscs.iter_mut().zip(&mut self.stats.psc).enumerate() {
            let shift = radix.level_shift(p.level);
            views[i] = Some(PscView {
                sets: p.array.ranked_view()?,
                below: p.level - 1,
                psc: p,
                stats: st,
                shift,
            });
        }
        let first = views[0]?;
        Some(WalkView {
            pscs: views.map(|v| v.unwrap_or(first)),
            n,
            at: self.psc_at,
            psc_cycles: self.probe_latency,
            radix,
        })
    }
}

impl WalkView {
    /// Whether the view's table is still `pt`'s arena as it is now.
    #[inline(always)]
    pub fn holds(&self, pt: &Radix) -> bool {
        self.radix.holds(pt)
    }

    /// The table's view.
    #[inline(always)]
    pub(crate) fn radix(&self) -> &RadixView {
        &self.radix
    }
}

/// The walk caches whose probe missed in a walk, for their fills: bit `i` for walk
/// cache `i`, with the set it searched, its key and the key's fingerprint (entries of
/// the other walk caches are never read, nor written: a walk costs no stores to
/// clear them).
struct Missed {
    which: u32,
    set: [MaybeUninit<usize>; FUSED_PSCS],
    key: [MaybeUninit<u64>; FUSED_PSCS],
    fp: [MaybeUninit<u8>; FUSED_PSCS],
}

impl WalkView {
    /// The straight walk (`straight.rs`) of `vaddr` of address space `asid`, but for
    /// the walker's counters of the walk, which the caller adds with
    /// `WalkerStats::count_walk`.
    ///
    /// # Safety
    /// The view is valid (see [`WalkView`]).
    #[inline(always)]
    pub unsafe fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        read: impl FnMut(PhysAddr) -> u32,
    ) -> WalkResult {
        let va = vaddr.0;
        let mut start = (self.radix.levels, 0usize);
        let mut missed = Missed {
            which: 0,
            set: [MaybeUninit::uninit(); FUSED_PSCS],
            key: [MaybeUninit::uninit(); FUSED_PSCS],
            fp: [MaybeUninit::uninit(); FUSED_PSCS],
        };
        // Each walk cache probed and counted once, the shallowest first: each is an
        // array of its own, so the order changes nothing, and the last hit written is
        // the deepest, the one the walk starts from.
        let pscs = &self.pscs[..self.n.min(FUSED_PSCS)];
        for (i, p) in pscs.iter().enumerate().rev() {
            let prefix = va >> p.shift;
            let key = psc_key(prefix, asid);
            // SAFETY: the caller's: the walk cache, its counters and its sets are alive
            // and borrowed by nothing else.
            unsafe {
                let psc = &mut *p.psc;
                (*p.stats).lookups += 1;
                // A repeat of the last hit changes nothing (`Psc::lookup`).
                let node = if psc.memo == key {
                    Some(psc.memo_val)
                } else {
                    let fp = fingerprint(key);
                    let found = p.sets.probe(prefix, key, lanes::lanes_of(fp));
                    psc.memo = if found.is_ok() { key } else { NO_MEMO };
                    psc.memo_val = *found.as_ref().unwrap_or(&0);
                    if let Err(set) = found {
                        let i = i & (FUSED_PSCS - 1);
                        missed.which |= 1 << i;
                        missed.set[i].write(set);
                        missed.key[i].write(key);
                        missed.fp[i].write(fp);
                    }
                    found.ok()
                };
                if let Some(node) = node {
                    (*p.stats).hits += 1;
                    start = (p.below, node as usize);
                }
            }
        }
        let (translation, pte_cycles, reads) = super::straight::descend(
            start,
            // SAFETY: the caller's (the table is the view's, unchanged).
            |node, level| unsafe { self.radix.read_raw(node, level, va) },
            |e, level| self.radix.raw_leaf(e, level),
            read,
            |level, child| {
                let pi = self.at[level & 7];
                if pi != NO_PSC {
                    // SAFETY: as above; `pi` is a walk cache of the view (`psc_at`).
                    unsafe { self.fill(pi, &missed, va, asid, child) };
                }
            },
        );
        // The walker's counters are the caller's to add (`WalkerStats::count_walk`):
        // they sit in the core the caller holds, not behind the view.
        WalkResult {
            psc_cycles: self.psc_cycles,
            pte_cycles,
            reads,
            translation,
        }
    }

    /// Walk cache `pi` learns that `va`'s entry at its level points to table `child`
    /// (`Psc::insert`): into the set its probe searched when it missed in this walk,
    /// as the general insert otherwise.
    ///
    /// # Safety
    /// As [`WalkView::walk`]; `pi` is below `n`.
    #[inline(always)]
    unsafe fn fill(&self, pi: usize, missed: &Missed, va: u64, asid: u16, child: u32) {
        let pi = pi & (FUSED_PSCS - 1);
        let p = &self.pscs[pi];
        // SAFETY: the caller's.
        unsafe {
            let psc = &mut *p.psc;
            psc.memo = NO_MEMO;
            if missed.which & 1 << pi != 0 {
                // The probe missed: the key is absent from that set. (Its bit is set
                // with its entries written.)
                let (set, key, fp) = (
                    missed.set[pi].assume_init(),
                    missed.key[pi].assume_init(),
                    missed.fp[pi].assume_init(),
                );
                p.sets.fill(set, key, fp, child as u64);
            } else {
                // Not probed or not missed in this walk (no shape reaches this: a walk
                // reads a level only past every hit): the general insert.
                let prefix = va >> p.shift;
                psc.insert(prefix, psc_key(prefix, asid), child as u64);
            }
        }
    }
}
