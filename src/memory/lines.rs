//! The sets of a data cache level kept lean: true LRU over lines, for levels of at most
//! 16 ways (every cache level of the shipped presets), with no values and no other
//! policy to dispatch on.
//!
//! A cache level only ever asks one thing of its array: "read this line" (hit, or fill
//! it in place of the least recent), which [`crate::assoc::SetAssoc::access`] answers
//! for every structure of the simulator behind tests for layouts and policies that a
//! cache level never uses (the recency-ordered layout, PLRU, FIFO, random, remembered
//! misses, values). Here that one operation is all there is: per set, one byte per way
//! of a hash of its line (the fingerprint) and one of its recency rank (0 the most
//! recent; empty ways rank after every valid one), beside the lines. A read compares the
//! 16 fingerprints at once, reads only the lines whose fingerprint matches, and on a hit
//! raises the ranks below the way's own; a miss takes the way of the last rank and
//! raises every other. The lanes past a set's ways hold what no read can match (a
//! fingerprint without its top bit, a rank above every rank), so no operation masks
//! them. It is exact LRU (hit, miss and eviction as any LRU list gives
//! them: the tests check it against one), the same replacement as the shared array's
//! ranked layout, so a run's results do not depend on which array a level uses.
//!
//! A level holding Victima's TLB blocks, another policy or more ways keeps the shared
//! array (`super::Array::Any`).
//!
//! In: a line number (a physical address shifted by the line size). Out: hit or miss.

// The byte-lane operations on a set's 16 fingerprints or ranks are the ranked sets'
// (`assoc::ranked`).
use crate::assoc::ranked::lanes;

/// The most ways a lean set holds: one byte per way in a 16-byte vector.
pub(super) const LEAN_WAYS: usize = 16;

/// Marks an empty way: no line number has every bit set (addresses are shifted right).
const EMPTY: u64 = u64::MAX;

/// The rank of the lanes past a set's ways: above every rank, so that neither a hit's
/// nor a miss's update moves it and no victim search finds it; below 128, so that the
/// signed byte compares of the updates order it as the unsigned ones.
const UNUSED_RANK: u8 = 127;

/// The fingerprint of the lanes past a set's ways: no line's ([`line_fingerprint`]).
const UNUSED_FP: u8 = 0;

/// A line's fingerprint, and the same in every lane: the top byte of a multiplicative
/// hash (which depends on every bit: the low bits of a set's lines are its index, the
/// same for all) with its top bit set, so that it is never [`UNUSED_FP`].
#[inline(always)]
pub(super) fn line_fingerprint(line: u64) -> (u8, lanes::Lanes) {
    let h = line.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 << 63;
    ((h >> 56) as u8, lanes::top_byte_lanes(h))
}

/// Host memory in 64-byte blocks (a host cache line), so that a set that fits one line
/// (four ways) takes exactly one.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct HostLine([u64; 8]);

/// u64 words before a set's lines: 16 fingerprint bytes, then 16 rank bytes.
const META_WORDS: usize = 4;

/// A level's sets, each one block of `META_WORDS + ways` words: its fingerprints and
/// ranks (the lanes past the way count hold `UNUSED_FP` and `UNUSED_RANK`), then its
/// lines. One block per set
/// keeps what a read touches together on the host: a 4-way set is one host cache line,
/// an 8-way set two (separate arrays of ranks and lines cost a host miss each).
pub(super) struct LineSets {
    words: Vec<HostLine>,
    /// `sets - 1` (sets are a power of two, validated by config).
    mask: u64,
    ways: usize,
    /// Words per set: `META_WORDS + ways`.
    stride: usize,
    /// `ways - 1`, the last rank, in every byte (a fill's compare, one vector load).
    last: [u8; 16],
}

impl LineSets {
    /// `sets` (a power of two) sets of `ways` (1 to [`LEAN_WAYS`]) empty ways.
    pub(super) fn new(sets: usize, ways: usize) -> LineSets {
        assert!(sets.is_power_of_two() && (1..=LEAN_WAYS).contains(&ways));
        let stride = META_WORDS + ways;
        let mut l = LineSets {
            words: vec![HostLine([0; 8]); (sets * stride).div_ceil(8)],
            mask: sets as u64 - 1,
            ways,
            stride,
            last: [ways as u8 - 1; 16],
        };
        for set in 0..sets {
            // Every way empty, ranked in way order; the lanes past the ways unused.
            let (meta, lines) = l.set_mut(set);
            for i in 0..LEAN_WAYS {
                (meta[i], meta[16 + i]) = match i < ways {
                    true => (0, i as u8),
                    false => (UNUSED_FP, UNUSED_RANK),
                };
            }
            lines.fill(EMPTY);
        }
        l
    }

    /// Set `set`'s fingerprints and ranks (bytes 0..16 and 16..32), and its lines.
    #[inline(always)]
    fn set_mut(&mut self, set: usize) -> (&mut [u8; 32], &mut [u64]) {
        let at = set * self.stride;
        assert!(at + self.stride <= self.words.len() * 8);
        // SAFETY: the words are `HostLine`s of eight u64s each, contiguous, and the
        // assertion keeps the block inside them; the meta bytes are the block's first
        // four words and the lines the rest, so the two borrows do not overlap.
        unsafe {
            let p = (self.words.as_mut_ptr() as *mut u64).add(at);
            (
                &mut *(p as *mut [u8; 32]),
                std::slice::from_raw_parts_mut(p.add(META_WORDS), self.ways),
            )
        }
    }

    /// Read `line`: true on a hit (it becomes the most recent of its set); on a miss it
    /// takes the least recent way (an empty one while the set has one).
    #[inline(always)]
    pub(super) fn access(&mut self, line: u64) -> bool {
        // SAFETY: the view is of these sets, borrowed mutably for the call.
        unsafe { self.view().access(line) }
    }

    /// Hint that `line` will be read soon (see [`LineView::prefetch`]).
    #[inline(always)]
    pub(super) fn prefetch(&self, line: u64) {
        // Only read through (a prefetch dereferences nothing).
        LineView::of(self, self.words.as_ptr() as *mut u64).prefetch(line)
    }

    /// These sets as a [`LineView`], valid while they are neither moved nor dropped.
    #[inline(always)]
    pub(super) fn view(&mut self) -> LineView {
        let words = self.words.as_mut_ptr() as *mut u64;
        LineView::of(self, words)
    }

    /// Host bytes the sets take.
    pub(super) fn host_bytes(&self) -> usize {
        self.words.len() * std::mem::size_of::<HostLine>()
    }

    /// The valid lines of each set, most recent first (tests).
    #[cfg(test)]
    pub(super) fn set_in_order(&mut self, set: usize) -> Vec<u64> {
        let (meta, lines) = self.set_mut(set);
        let mut v: Vec<(u8, u64)> = (0..lines.len())
            .map(|w| (meta[16 + w], lines[w]))
            .filter(|&(_, l)| l != EMPTY)
            .collect();
        v.sort();
        v.into_iter().map(|(_, l)| l).collect()
    }
}

/// The sets of a [`LineSets`] as raw parts: what a read needs, copied out once, so that
/// an engine holding them across many reads (`sim/fused.rs`, through
/// [`super::LeanPort`]) loads no field of the level per read. The one implementation
/// of a read: [`LineSets::access`] goes through it too.
#[derive(Clone, Copy)]
pub(super) struct LineView {
    words: *mut u64,
    mask: u64,
    stride: usize,
    last: [u8; 16],
    #[cfg(debug_assertions)]
    ways: usize,
}

impl LineView {
    #[inline(always)]
    fn of(l: &LineSets, words: *mut u64) -> LineView {
        LineView {
            words,
            mask: l.mask,
            stride: l.stride,
            last: l.last,
            #[cfg(debug_assertions)]
            ways: l.ways,
        }
    }

    /// [`LineSets::access`].
    ///
    /// # Safety
    /// The sets the view was made of are alive, not moved, and not borrowed elsewhere
    /// during the call; the view was made from a mutable borrow of them.
    #[inline(always)]
    pub(super) unsafe fn access(&self, line: u64) -> bool {
        let (fp, fp_lanes) = line_fingerprint(line);
        // SAFETY: the caller's.
        unsafe { self.access_fp(line, fp, fp_lanes) }
    }

    /// [`LineView::access`] of a line whose fingerprint the caller made
    /// ([`line_fingerprint`]: `fp`, and in every lane `fp_lanes`), once for every level
    /// a read visits.
    ///
    /// # Safety
    /// As [`LineView::access`], and `fp` is a line's fingerprint ([`line_fingerprint`]:
    /// its top bit set), else it could match an unused lane, whose line is past the
    /// set's ways.
    #[inline(always)]
    pub(super) unsafe fn access_fp(&self, line: u64, fp: u8, fp_lanes: lanes::Lanes) -> bool {
        debug_assert!(fp & 0x80 != 0, "not a line's fingerprint");
        let set = (line & self.mask) as usize;
        let at = set * self.stride;
        // SAFETY: `new` made `mask + 1` blocks of `stride` words and `set <= mask`, so
        // the block is inside the sets' words; its first 32 bytes are the fingerprints
        // and ranks, and every way index below is under `ways` (a lane whose
        // fingerprint is a line's, or the one lane that ranks last, which exists: the
        // ranks of the ways are a permutation; the unused lanes hold neither).
        unsafe {
            let p = self.words.add(at);
            let fps = &mut *(p as *mut [u8; 16]);
            let ranks = &mut *(p.add(2) as *mut [u8; 16]);
            let lines = p.add(META_WORDS);
            let mut cand = lanes::eq_lanes(fps, fp_lanes);
            while cand != 0 {
                let w = cand.trailing_zeros() as usize;
                if *lines.add(w) == line {
                    let r = *ranks.get_unchecked(w);
                    // A hit on the most recent way changes no rank.
                    if r != 0 {
                        lanes::promote(ranks, r);
                    }
                    return true;
                }
                cand &= cand - 1;
            }
            let last = lanes::age_below(ranks, &self.last);
            // SAFETY (of the unchecked count): exactly one way ranks last.
            let w = std::num::NonZeroU32::new_unchecked(last).trailing_zeros() as usize;
            #[cfg(debug_assertions)]
            debug_assert!(w < self.ways);
            *fps.get_unchecked_mut(w) = fp;
            *lines.add(w) = line;
        }
        false
    }

    /// Hint that `line` will be read soon: the host lines of its set's block (its
    /// first and last, and for more than 12 ways the one between) are prefetched on the
    /// host. Changes nothing the simulation can see.
    #[inline(always)]
    pub(super) fn prefetch(&self, line: u64) {
        let set = (line & self.mask) as usize;
        // Only hints: the pointers are never dereferenced, so no bounds check.
        let p = (self.words as *const u64).wrapping_add(set * self.stride);
        crate::pagetable::prefetch_host(p);
        crate::pagetable::prefetch_host(p.wrapping_add(self.stride - 1));
        if self.stride > 16 {
            crate::pagetable::prefetch_host(p.wrapping_add(8));
        }
    }
}

/// The reference the tests check sets against: a read of `line` in a set kept as an
/// LRU list of at most `ways` lines, most recent first; true on a hit.
#[cfg(test)]
pub(super) fn lru_read(list: &mut Vec<u64>, line: u64, ways: usize) -> bool {
    let hit = match list.iter().position(|&k| k == line) {
        Some(p) => {
            list.remove(p);
            true
        }
        None => {
            list.truncate(ways - 1);
            false
        }
    };
    list.insert(0, line);
    hit
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against an LRU list per set (most recent first), on lines chosen so that many
    /// share a fingerprint: hits, misses and each set's contents in recency order agree
    /// after every read, for every way count up to 16.
    #[test]
    fn lean_sets_are_exact_lru() {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for ways in 1..=LEAN_WAYS {
            let sets = 4;
            let mut a = LineSets::new(sets, ways);
            let mut lists: Vec<Vec<u64>> = vec![Vec::new(); sets];
            // Lines whose fingerprints collide: the same top hash byte for several.
            let same_fp: Vec<u64> = (0u64..1 << 20)
                .filter(|&l| line_fingerprint(l).0 == 0xda)
                .take(8)
                .collect();
            assert_eq!(same_fp.len(), 8);
            for i in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let line = match x % 4 {
                    0 => same_fp[(x >> 8) as usize % 8],
                    _ => (x >> 16) % (3 * (ways as u64) * sets as u64 + 1),
                };
                let set = (line % sets as u64) as usize;
                let l = &mut lists[set];
                let expect = lru_read(l, line, ways);
                assert_eq!(a.access(line), expect, "{ways} ways, read {i} of {line}");
                assert_eq!(&a.set_in_order(set), l, "{ways} ways, read {i}");
            }
        }
    }
}
