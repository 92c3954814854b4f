//! The fast hierarchy (`plain.rs`) in the shape the fused engine runs (`sim/fused.rs`):
//! only 4 KiB pages filled so far, and on each side at most [`FUSED_LEVELS`] levels
//! holding them, one structure each. Its structures' sets as raw parts
//! ([`RankedView`]), made once, so that a lookup loads no field of the hierarchy, and
//! a lookup that misses every level hands its sets to the fill after the walk (each
//! set searched once).
//!
//! In: a lookup past the repeated-hit shortcut; after its miss and walk, the frame.
//! Out: the same contents and counters as `probe_fast` and `fill_fast` leave; a lookup
//! that hits some level changes only what the general lookup changes again, with no
//! effect (the way it hit is already the most recent), so the caller hands that
//! access to the general path. (Tests: `sim::fused`'s, against the general engine.)

use super::{tag, Organisation, Tlbs, NONE};
use crate::assoc::ranked::{fingerprint, lanes, RankedView};

/// The most levels of a side the fused view holds.
pub const FUSED_LEVELS: usize = 2;

/// The 4 KiB structures of each side, level by level ([`Tlbs::fused_view`]). Valid
/// while the hierarchy is neither moved nor dropped, only 4 KiB pages were ever filled,
/// and only used while nothing else borrows the hierarchy.
#[derive(Clone, Copy)]
pub struct TlbView {
    /// Per side, the structure of each level holding its 4 KiB pages (the first
    /// `n[side]`; the rest repeat the first, never used).
    sets: [[RankedView; FUSED_LEVELS]; 2],
    /// Their `kept` counts (fills that displaced nothing).
    kept: [[*mut u64; FUSED_LEVELS]; 2],
    n: [usize; 2],
}

/// A lookup that missed every level: the sets it searched, for the fill.
#[derive(Clone, Copy)]
pub struct Missed {
    sets: [usize; FUSED_LEVELS],
    key: u64,
    fp: u8,
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
        let mut found: [Vec<(RankedView, *mut u64)>; 2] = Default::default();
        for side in 0..2 {
            for lvl in &self.levels {
                let s = lvl.slot[side][0];
                if s == NONE {
                    continue;
                }
                let st = &mut self.structs[s as usize];
                let view = st.org.pages()?.ranked_view()?;
                found[side].push((view, &mut st.kept));
            }
        }
        if found.iter().any(|f| f.is_empty() || f.len() > FUSED_LEVELS) {
            return None;
        }
        let pick = |side: usize, l: usize| found[side][l.min(found[side].len() - 1)];
        Some(TlbView {
            sets: std::array::from_fn(|side| std::array::from_fn(|l| pick(side, l).0)),
            kept: std::array::from_fn(|side| std::array::from_fn(|l| pick(side, l).1)),
            n: [found[0].len(), found[1].len()],
        })
    }

    /// The counts of a fused lookup of `side` that missed every level (as `probe_fast`
    /// counts them): returns the lookup's cycles.
    #[inline(always)]
    pub fn fused_missed(&mut self, side: usize) -> u64 {
        let side = side & 1;
        self.forget_memo();
        self.plan.misses[side] += 1;
        self.plan.miss_cycles[side]
    }

    /// The cycles of a fused lookup of `side` that misses every level.
    pub fn fused_miss_cycles(&self, side: usize) -> u64 {
        self.plan.miss_cycles[side & 1]
    }

    /// The count of a fused fill of `side` after a walk (as `fill_fast` counts it).
    #[inline(always)]
    pub fn fused_filled(&mut self, side: usize) {
        let n = self.levels.len();
        self.plan.fills[side & 1][0][n & 15] += 1;
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
        let side = side & 1;
        let vpn = vaddr >> 12;
        let key = tag(vpn, asid, 0);
        let fp = fingerprint(key);
        let lanes = lanes::lanes_of(fp);
        let mut sets = [0; FUSED_LEVELS];
        // A constant bound: the loop is unrolled, each level's view at a constant place.
        for l in 0..FUSED_LEVELS {
            if l == self.n[side] {
                break;
            }
            // SAFETY: the caller's.
            match unsafe { self.sets[side][l].probe(vpn, key, lanes) } {
                Ok(_) => return None,
                Err(s) => sets[l] = s,
            }
        }
        Some(Missed { sets, key, fp })
    }

    /// Fill every level of `side` with the page `m` missed, at `frame` (as `fill_fast`
    /// fills them after a walk; the caller counts it, [`Tlbs::fused_filled`]).
    ///
    /// # Safety
    /// The view is valid, and nothing has put the page in since the probe.
    #[inline(always)]
    pub unsafe fn fill(&self, side: usize, m: &Missed, frame: u64) {
        let side = side & 1;
        for l in 0..FUSED_LEVELS {
            if l == self.n[side] {
                break;
            }
            // SAFETY: the caller's; the set is the probe's.
            unsafe {
                if !self.sets[side][l].fill(m.sets[l], m.key, m.fp, frame) {
                    *self.kept[side][l] += 1;
                }
            }
        }
    }
}
