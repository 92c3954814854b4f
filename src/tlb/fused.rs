//! The fast hierarchy (`plain.rs`) in the shape the fused engine runs (`sim/fused.rs`):
//! only 4 KiB pages filled so far, and on each side exactly [`FUSED_LEVELS`] levels
//! holding them, one structure each. Its structures' sets as raw parts
//! ([`RankedView`]), kept while they hold, so that a lookup loads no field of the hierarchy, and
//! a lookup that misses every level hands its sets to the fill after the walk (each
//! set searched once).
//!
//! In: a lookup past the repeated-hit shortcut; after its miss and walk, the frame.
//! Out: the same contents and counters as `probe_fast` and `fill_fast` leave; a lookup
//! that hits some level changes only what the general lookup changes again, with no
//! effect (the way it hit is already the most recent), so the caller hands that
//! access to the general path. (Checked against the general engine by
//! `sim::engine::tests::the_fused_path_equals_the_plain_copy_and_the_full_path`.)

use super::{tag, Organisation, Tlbs, NONE};
use crate::assoc::ranked::{fingerprint_lanes, RankedView, Slot};

/// The most levels of a side the fused view holds.
pub const FUSED_LEVELS: usize = 2;

/// The 4 KiB structures of each side, level by level ([`Tlbs::fused_view`]). Valid
/// while the hierarchy is neither moved nor dropped, only 4 KiB pages were ever filled,
/// and only used while nothing else borrows the hierarchy.
#[derive(Clone, Copy)]
pub struct TlbView {
    sides: [SideView; 2],
}

/// One side's structures holding its 4 KiB pages, one per level, and the counts a
/// fused fill adds.
#[derive(Clone, Copy)]
struct SideView {
    sets: [RankedView; FUSED_LEVELS],
    /// The structures' `kept` counts (fills that displaced nothing).
    kept: [*mut u64; FUSED_LEVELS],
    /// The hierarchy's count of fast fills of this side's 4 KiB pages into every level
    /// (`Plan::fills`, as `fill_fast` counts a fill after a walk).
    fills: *mut u64,
}

/// A lookup that missed every level: its side's structures and the sets it searched,
/// for the fill.
#[derive(Clone, Copy)]
pub struct Missed {
    side: *const SideView,
    slots: [Slot; FUSED_LEVELS],
    key: u64,
    fp: u8,
}

/// `p`, which the optimiser can no longer see through. The side of an access is one of
/// two, so without this the compiler picks each field of the side's view between the
/// two sides' copies (three host instructions a field) instead of picking the side's
/// view once; the barrier costs no instruction.
#[inline(always)]
fn opaque<T>(p: *const T) -> *const T {
    #[allow(unused_mut)]
    let mut p = p;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: an empty template: the register is handed back unchanged. The pointer
    // is only passed through, never read or written (`nomem` holds).
    #[allow(clippy::pointers_in_nomem_asm_block)]
    unsafe {
        std::arch::asm!("/* {0} */", inout(reg) p, options(pure, nomem, nostack, preserves_flags));
    }
    p
}

impl<O: Organisation> Tlbs<O> {
    /// Whether the hierarchy is fast and filled with no page but 4 KiB ones so far
    /// (nothing filled yet counts: the first fill of the fused path is of 4 KiB).
    #[inline(always)]
    pub fn fused_shape(&self) -> bool {
        self.fast && self.filled & !1 == 0
    }

    /// The hierarchy as a [`TlbView`], if it has the fused shape now.
    pub fn fused_view(&mut self) -> Option<TlbView> {
        if !self.fused_shape() {
            return None;
        }
        if self.plan.filled != self.filled {
            self.make_plan();
        }
        // Exactly `FUSED_LEVELS` per side (every preset of the fused shape has): the
        // probe and fill then test no level count. Made without allocating: the
        // engine makes views again whenever they stop holding.
        let mut found = [[None; FUSED_LEVELS]; 2];
        for (side, f) in found.iter_mut().enumerate() {
            let mut k = 0;
            for lvl in &self.levels {
                let s = lvl.slot[side][0];
                if s == NONE {
                    continue;
                }
                let st = &mut self.structs[s as usize];
                let view = st.org.pages()?.ranked_view()?;
                *f.get_mut(k)? = Some((view, &mut st.kept as *mut u64));
                k += 1;
            }
            if k != FUSED_LEVELS {
                return None;
            }
        }
        let found = found.map(|f| f.map(|v| v.expect("every level found")));
        let n = self.levels.len() & 15;
        let fills = &mut self.plan.fills;
        Some(TlbView {
            sides: std::array::from_fn(|side| SideView {
                sets: std::array::from_fn(|l| found[side][l].0),
                kept: std::array::from_fn(|l| found[side][l].1),
                fills: &mut fills[side][0][n],
            }),
        })
    }

    /// The counts of a fused lookup of `side` that missed every level (as `probe_fast`
    /// counts them): returns the lookup's cycles.
    #[inline(always)]
    pub fn fused_missed(&mut self, side: usize) -> u64 {
        let side = side & 1;
        // `forget_memo`, its counting of repeats out of line (they end at a miss once
        // per run of them; the miss path then has no jump around that code).
        if self.memo.repeats > 0 {
            self.count_repeats();
        }
        self.memo.valid = false;
        self.plan.misses[side] += 1;
        self.plan.miss_cycles[side]
    }

    /// [`Tlbs::forget_memo`] of a memo with repeats to count.
    #[cold]
    #[inline(never)]
    fn count_repeats(&mut self) {
        self.forget_memo();
    }

    /// The cycles of a fused lookup of `side` that misses every level.
    pub fn fused_miss_cycles(&self, side: usize) -> u64 {
        self.plan.miss_cycles[side & 1]
    }

    /// What a fused fill after a walk changes in the hierarchy besides the view's
    /// structures and counts ([`TlbView::fill`]).
    #[inline(always)]
    pub fn fused_filled(&mut self) {
        // Some level took the page (every side has one: `fused_view`).
        self.filled |= 1;
    }
}

impl TlbView {
    /// Look the 4 KiB page of `vaddr` of `asid` up on `side`, level by level: `None` if
    /// some level holds it (that way is now its set's most recent, as the general
    /// lookup leaves it), else the sets searched.
    ///
    /// # Safety
    /// The view is valid (see [`TlbView`]).
    #[inline(always)]
    pub unsafe fn probe(&self, side: usize, asid: u16, vaddr: u64) -> Option<Missed> {
        let s = opaque(&self.sides[side & 1]);
        let vpn = vaddr >> 12;
        let key = tag(vpn, asid, 0);
        let (fp, lanes) = fingerprint_lanes(key);
        // Both levels, written out (`FUSED_LEVELS` is 2: the array below has that type).
        // SAFETY (both levels): the caller's; `s` is one of the view's sides.
        let l0 = match unsafe { (*s).sets[0].probe_slot(vpn, key, lanes) } {
            Ok(_) => return None,
            Err(slot) => slot,
        };
        let l1 = match unsafe { (*s).sets[1].probe_slot(vpn, key, lanes) } {
            Ok(_) => return None,
            Err(slot) => slot,
        };
        Some(Missed {
            side: s,
            slots: [l0, l1],
            key,
            fp,
        })
    }

    /// Fill every level of the side `m` missed on with its page, at `frame`, and count
    /// the fill (as `fill_fast` fills and counts them after a walk; the caller tells
    /// the hierarchy, [`Tlbs::fused_filled`]).
    ///
    /// # Safety
    /// The view is valid, `m` is its probe's, and nothing has put the page in since.
    #[inline(always)]
    pub unsafe fn fill(&self, m: &Missed, frame: u64) {
        // SAFETY: the caller's; `m.side` is one of the view's sides, and its sets the
        // probe's.
        unsafe {
            let s = &*m.side;
            *s.fills += 1;
            for l in 0..FUSED_LEVELS {
                if !s.sets[l].fill_slot(m.slots[l], m.key, m.fp, frame) {
                    *s.kept[l] += 1;
                }
            }
        }
    }
}
