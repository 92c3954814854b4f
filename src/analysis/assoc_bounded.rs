//! Bounded per-set LRU passes: the misses and evictions of every associativity up to a
//! depth, for several power-of-two set counts in one scan of the stream. The one-pass
//! geometry sweep's pass (`sweep/onepass.rs`): a sweep asks a TLB's few ways (1 to 16),
//! which this answers in about a third of the host instructions of one Fenwick pass per
//! set count ([`SetCurve::of_classes`], which answers every associativity;
//! docs/PERFORMANCE.md has the figures).
//!
//! In: a reference stream (each reference's key and class, 0 or 1, by the caller's
//! function), the caller's set function `set_of(key, sets)` (bit selection: a key's set
//! at `sets` sets is the low bits of one index, so the sets at 2S sets refine those at
//! S; `tlb::set_of_key` for TLBs), the geometries asked (a set count, a power of two,
//! and its depth: the most ways asked of it), and the first counted reference (the
//! warm-up's references update the sets uncounted). Out: one [`SetCurve`] per
//! geometry, answering every associativity up to its depth.
//!
//! Method: each set keeps its `depth` most recently used keys, most recent first (an LRU
//! set of `depth` ways): a reference found at position p has per-set distance p + 1;
//! one not found is a first reference or deeper than `depth`, a miss at every
//! associativity the curve answers. No renaming of the keys, no hashing, no allocation
//! per reference: a scan and a move of at most `depth` keys per reference and set
//! count. The set counts are visited finest first, and Hill and Smith's inclusion
//! (IEEE Trans. Computers 38(12), 1989) shortens the scans: under bit selection a key's
//! set at S sets holds its set at 2S sets, so its per-set distance at S is at least
//! its distance at 2S. A key found at position p of the finer set is at p or deeper in
//! the coarser one; a key absent from a finer set holding l keys is at l or deeper (a
//! full set: its distance there exceeds l; a set not yet full: it was never referenced,
//! absent everywhere). The coarser scan starts there, and is skipped when the coarser
//! set holds no more keys than that.

use super::assoc::SetCurve;

/// The sets of one set count: set s's keys are `slots[s * depth..][..len[s]]`, most
/// recent first.
struct Level {
    sets: u64,
    depth: usize,
    slots: Vec<u64>,
    len: Vec<u32>,
    hist: [Vec<u64>; 2],
    beyond: [u64; 2],
}

/// The passes over `refs` for `geometries` (set count, depth >= 1; each set count a
/// distinct power of two), in their order: `key_class(r)` gives a reference's key and
/// class, `set_of(key, sets)` (< `sets`) its set, selected by bits (see the module
/// doc); references before `from` warm the sets up uncounted.
pub fn passes<R: Copy>(
    refs: &[R],
    key_class: impl Fn(R) -> (u64, usize),
    set_of: impl Fn(u64, u64) -> usize,
    geometries: &[(u64, usize)],
    from: usize,
) -> Vec<SetCurve> {
    // Finest first: each level's scan starts where the finer one found the key.
    let mut order: Vec<usize> = (0..geometries.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(geometries[g].0));
    let mut levels: Vec<Level> = (order.iter())
        .map(|&g| {
            let (sets, depth) = geometries[g];
            assert!(sets.is_power_of_two(), "{sets} sets: not a power of two");
            assert!(depth >= 1, "a set of no ways");
            Level {
                sets,
                depth,
                slots: vec![0; sets as usize * depth],
                len: vec![0; sets as usize],
                hist: [vec![0; depth + 1], vec![0; depth + 1]],
                beyond: [0; 2],
            }
        })
        .collect();
    assert!(
        (levels.windows(2)).all(|w| w[0].sets > w[1].sets),
        "a set count asked twice"
    );
    let from = from.min(refs.len());
    for &r in &refs[..from] {
        step(&mut levels, key_class(r).0, &set_of, |_, _| {});
    }
    let warm: Vec<Vec<u32>> = levels.iter().map(|l| l.len.clone()).collect();
    for &r in &refs[from..] {
        let (key, c) = key_class(r);
        step(&mut levels, key, &set_of, |l, found| match found {
            Some(p) => l.hist[c][p + 1] += 1,
            None => l.beyond[c] += 1,
        });
    }
    let counted = (refs.len() - from) as u64;
    let mut curves: Vec<Option<SetCurve>> = vec![None; geometries.len()];
    for ((l, warm), &g) in levels.into_iter().zip(warm).zip(&order) {
        let occupancy = warm.into_iter().zip(l.len).collect();
        curves[g] = Some(SetCurve {
            sets: l.sets,
            depth: l.depth as u64,
            hist: l.hist,
            beyond: l.beyond,
            counted,
            occupancy,
        });
    }
    curves.into_iter().flatten().collect()
}

/// One reference to `key` at every level, finest first; `seen(level, position)` gets
/// its position in its set before (None: absent).
#[inline(always)]
fn step(
    levels: &mut [Level],
    key: u64,
    set_of: &impl Fn(u64, u64) -> usize,
    mut seen: impl FnMut(&mut Level, Option<usize>),
) {
    // Where the key can first be in the next coarser set (see the module doc).
    let mut lower = 0;
    for l in levels.iter_mut() {
        let s = set_of(key, l.sets);
        assert!(
            (s as u64) < l.sets,
            "set {s} of key {key:#x} is beyond {} sets",
            l.sets
        );
        let row = &mut l.slots[s * l.depth..][..l.depth];
        let len = &mut l.len[s];
        let n = *len as usize;
        let found = match lower < n {
            true => (row[lower..n].iter().position(|&k| k == key)).map(|p| p + lower),
            false => None,
        };
        lower = found.unwrap_or(n);
        // The keys that move down one: those above the key's, or (absent) every one, the
        // last dropped when the set is full.
        let end = match found {
            Some(p) => p,
            None if n < l.depth => {
                *len += 1;
                n
            }
            None => n - 1,
        };
        // (A hit on the most recent key, common, and a set of one way move nothing.)
        if end > 0 {
            row.copy_within(..end, 1);
        }
        row[0] = key;
        seen(l, found);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::assoc::tests::{brute_classes, stream};
    use crate::analysis::assoc::Keys;

    /// Bit selection on the key itself (the low bits).
    fn low_bits(k: u64, sets: u64) -> usize {
        (k % sets) as usize
    }

    /// Against brute force at every associativity up to each depth, misses by class (the
    /// time's parity) and evictions, with and without warm-up, for families of set
    /// counts whose depths grow, shrink and repeat with the set count (the inclusion's
    /// shortcuts taken every way: found in a finer set, absent from a full one, absent
    /// from one not yet full), depth 1 (direct mapped) to deeper than any set's keys;
    /// and equal there to the unbounded Fenwick pass.
    #[test]
    fn every_geometry_equals_a_brute_force_lru_up_to_its_depth() {
        let families: [&[(u64, usize)]; 4] = [
            &[(1, 16), (2, 16), (4, 16), (8, 8), (16, 4), (32, 2), (64, 1)],
            &[(64, 12), (1, 1), (8, 3), (4, 40)],
            &[(16, 1), (2, 64)],
            &[(8, 4096)],
        ];
        for (seed, n, pages, from) in [
            (8, 3000, 64, 0),
            (9, 4000, 300, 500),
            (10, 1500, 1500, 1499),
        ] {
            let keys = stream(seed, n, pages);
            // The reference's time, for its class: the key stream zipped with it.
            let refs: Vec<(u64, usize)> = keys.iter().copied().zip(0..).collect();
            for family in families {
                let curves = passes(&refs, |(k, t)| (k, t % 2), low_bits, family, from);
                for (c, &(sets, depth)) in curves.iter().zip(family) {
                    assert_eq!((c.sets, c.counted), (sets, (n - from) as u64));
                    let full = SetCurve::of_classes(
                        &Keys::new(&keys),
                        sets,
                        |k| low_bits(k, sets),
                        |t| t % 2,
                        from,
                    );
                    for ways in 1..=depth.min(40) {
                        let (m, e) = brute_classes(&keys, sets, ways, from);
                        let w = ways as u64;
                        let at = format!("seed {seed} {family:?}: {sets} sets, {ways} ways");
                        assert_eq!([c.misses_of(0, w), c.misses_of(1, w)], m, "{at}");
                        assert_eq!(c.evictions(w), e, "{at}");
                        assert_eq!(
                            (c.misses(w), c.evictions(w)),
                            (full.misses(w), full.evictions(w)),
                            "{at}"
                        );
                    }
                }
            }
        }
    }

    /// Hand-worked, one set of depth 1: keys 0 2 0 0 (the set holds one key at a time):
    /// 0 misses, 2 evicts it and misses, 0 misses again (its distance 2 is beyond the
    /// depth: counted beyond, not as a distance), then hits at distance 1. Misses 3,
    /// evictions 2 (the first fill found the set empty). Two ways, deeper than the
    /// curve: refused, not guessed.
    #[test]
    fn a_hand_worked_stream_of_depth_1() {
        let c = &passes(&[0u64, 2, 0, 0], |k| (k, 0), |_, _| 0, &[(1, 1)], 0)[0];
        assert_eq!((c.beyond[0], c.hist[0][1]), (3, 1));
        assert_eq!((c.misses(1), c.evictions(1)), (3, 2));
        assert!(std::panic::catch_unwind(|| c.misses(2)).is_err());
    }

    /// The TLB's set function selects by bits, which the inclusion needs: a page's set at
    /// 2S sets falls in its set at S, whatever its page size and address space.
    #[test]
    fn the_tlbs_sets_at_twice_the_count_refine_the_coarser() {
        use crate::addr::{PageSize, VirtAddr};
        use crate::tlb::{page_key, set_of_key};
        for (asid, va, size) in [
            (0u16, 0x7f12_3456_7000u64, PageSize::Size4K),
            (3, 0x1234_5600_0000, PageSize::Size2M),
            (9, 0x4000_0000, PageSize::Size1G),
        ] {
            let k = page_key(asid, VirtAddr(va), size);
            for s in [1u64, 2, 32, 512, 4096] {
                assert_eq!(set_of_key(k, 2 * s) % s as usize, set_of_key(k, s));
            }
        }
    }
}
