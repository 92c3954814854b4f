//! Set-associative LRU stack analysis: the misses of an LRU cache (or TLB) of `sets`
//! sets for every associativity at once, and of every power-of-two set count too.
//!
//! LRU within a set is a stack algorithm (Mattson et al. 1970): a set of `w` ways holds
//! the `w` most recently used keys that map to it, so a reference misses exactly when its
//! *per-set* stack distance (distinct keys of its set used since its last use, plus
//! itself) exceeds `w`. One pass per set count therefore answers every associativity
//! of it ([`SetCurve::of`]; up to a depth, for several set counts in one scan:
//! [`super::assoc_bounded`]). Hill and Smith ("Evaluating associativity in CPU caches", IEEE
//! Trans. Computers 38(12), 1989) observed that under bit-selection indexing the sets of
//! 2^(k+1) sets refine those of 2^k, so one scan of a single recency stack gives the
//! per-set distance at every set count: a key above `x` in the stack is in `x`'s set at
//! 2^k sets exactly when their low k index bits agree ([`all_associativity`]).
//!
//! In: a sequence of keys, the set each falls in (the caller's indexing function, so
//! the analysis and the simulated structure agree: `tlb::set_of_key` for TLBs), and
//! the index of the first counted reference (a warm-up's references update the stacks
//! but are not counted). Out: distance histograms ([`SetCurve`]); misses and the
//! evictions of any geometry from them (of any associativity up to the curve's depth).
//!
//! Method: [`SetCurve::of`] splits the stream by set (stable, so each set's references
//! keep their order) and runs the Fenwick-tree LRU pass ([`super::lru::lru_with`],
//! O(log) per reference) over each set's references: O(n log n) per set count whatever
//! the associativity. [`all_associativity`] is Hill and Smith's single stack, O(stack
//! depth) per reference: the reference the per-set passes are checked against, and the
//! one pass for all set counts where the streams are short.

use super::lru::lru_with;
use std::collections::HashMap;

/// A stream of keys renamed to dense ids in first-reference order, once for all the set
/// counts a caller asks of it.
pub struct Keys {
    /// Per reference: its key's id.
    pub ids: Vec<u32>,
    /// Per id: the key.
    pub keys: Vec<u64>,
}

impl Keys {
    pub fn new(stream: &[u64]) -> Keys {
        let mut map: HashMap<u64, u32> = HashMap::new();
        let mut keys = Vec::new();
        let ids = (stream.iter())
            .map(|&k| {
                *map.entry(k).or_insert_with(|| {
                    keys.push(k);
                    keys.len() as u32 - 1
                })
            })
            .collect();
        Keys { ids, keys }
    }
}

/// Per-set stack distances of one stream at one set count, counted after warm-up, for
/// every associativity up to `depth`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetCurve {
    pub sets: u64,
    /// The largest associativity the curve answers ([`u64::MAX`]: any).
    pub depth: u64,
    /// `hist[c][d]`: counted re-references of class c at per-set distance d, d <=
    /// `depth` (index 0 unused). Classes (0 or 1) are the caller's: the access side,
    /// for a TLB.
    pub hist: [Vec<u64>; 2],
    /// Counted references of each class that miss at every associativity up to
    /// `depth`: first references, and (when `depth` is bounded) those deeper.
    pub beyond: [u64; 2],
    /// Counted references.
    pub counted: u64,
    /// Per set: distinct keys before the counted part, and in all, each at most `depth`
    /// (all an associativity up to `depth` needs of them).
    pub(super) occupancy: Vec<(u32, u32)>,
}

impl SetCurve {
    /// The pass over `keys` at `sets` sets, `set_of(key)` < `sets` naming each key's
    /// set; references before `from` warm the stacks up uncounted; all of class 0.
    pub fn of(keys: &[u64], sets: u64, set_of: impl Fn(u64) -> usize, from: usize) -> SetCurve {
        SetCurve::of_classes(&Keys::new(keys), sets, set_of, |_| 0, from)
    }

    /// [`SetCurve::of`] over keys compacted once ([`Keys`], shared by the set counts),
    /// with `class(t)` (0 or 1) the class of the reference at time t.
    pub fn of_classes(
        keys: &Keys,
        sets: u64,
        set_of: impl Fn(u64) -> usize,
        class: impl Fn(usize) -> usize,
        from: usize,
    ) -> SetCurve {
        let n = sets as usize;
        // Each key's set, once per key.
        let set_of_id: Vec<u32> = (keys.keys.iter())
            .map(|&k| {
                let s = set_of(k);
                assert!(s < n, "set {s} of key {k:#x} is beyond {n} sets");
                s as u32
            })
            .collect();
        let dense = &keys.ids;
        let mut count = vec![0usize; n + 1];
        for &id in dense {
            count[set_of_id[id as usize] as usize + 1] += 1;
        }
        // Stable counting sort by set: order[start[s]..start[s+1]] are set s's times.
        for s in 0..n {
            count[s + 1] += count[s];
        }
        let mut fill = count.clone();
        let mut order = vec![0u32; dense.len()];
        for (t, &id) in dense.iter().enumerate() {
            let s = set_of_id[id as usize] as usize;
            order[fill[s]] = t as u32;
            fill[s] += 1;
        }
        let mut local = vec![u32::MAX; keys.keys.len()];
        let mut hist = [vec![0u64; 2], vec![0u64; 2]];
        let (mut first, mut counted) = ([0u64; 2], 0u64);
        let mut occupancy = vec![(0u32, 0u32); n];
        let mut sub = Vec::new();
        for s in 0..n {
            let times = &order[count[s]..count[s + 1]];
            // Ids local to the set, dense in first-reference order.
            sub.clear();
            let mut distinct = 0u32;
            let mut warm = 0u32;
            for &t in times {
                let g = dense[t as usize] as usize;
                if local[g] == u32::MAX {
                    local[g] = distinct;
                    distinct += 1;
                    if (t as usize) < from {
                        warm += 1;
                    }
                }
                sub.push(local[g]);
            }
            occupancy[s] = (warm, distinct);
            for h in &mut hist {
                if h.len() <= distinct as usize {
                    h.resize(distinct as usize + 1, 0);
                }
            }
            lru_with(&sub, distinct as usize, |i, d| {
                let t = times[i] as usize;
                if t >= from {
                    counted += 1;
                    let c = class(t);
                    if d == 0 {
                        first[c] += 1;
                    } else {
                        hist[c][d as usize] += 1;
                    }
                }
            });
        }
        SetCurve {
            sets,
            depth: u64::MAX,
            hist,
            beyond: first,
            counted,
            occupancy,
        }
    }

    /// Counted misses at `ways` ways: first references and distances above `ways`.
    pub fn misses(&self, ways: u64) -> u64 {
        self.misses_of(0, ways) + self.misses_of(1, ways)
    }

    /// Counted misses of class `c` at `ways` ways (at most the curve's depth: deeper,
    /// the curve does not know).
    pub fn misses_of(&self, c: usize, ways: u64) -> u64 {
        assert!(
            ways <= self.depth,
            "{ways} ways asked of a pass of depth {}",
            self.depth
        );
        let h = &self.hist[c];
        let w = (ways as usize).min(h.len());
        self.beyond[c] + h[w..].iter().skip(1).sum::<u64>()
    }

    /// Counted evictions at `ways` ways (at most the curve's depth), nothing
    /// invalidated: every counted fill (miss) beyond the growth of the sets' occupancy
    /// (min(ways, distinct keys of the set)) over the counted part displaced an entry.
    pub fn evictions(&self, ways: u64) -> u64 {
        let w = ways.min(u32::MAX as u64) as u32;
        let grown: u64 = (self.occupancy.iter())
            .map(|&(warm, all)| u64::from(all.min(w) - warm.min(w)))
            .sum();
        self.misses(ways) - grown
    }
}

/// Hill and Smith's all-associativity pass: `out[k][d]` counts the counted references
/// at per-set distance `d` (index 0: first references) for 2^k sets, k = 0..=`max_log_sets`,
/// under bit selection on `index(key)` (the set at 2^k sets is `index(key) & (2^k - 1)`).
/// Distances above `max_ways` are counted at `max_ways + 1`.
pub fn all_associativity(
    keys: &[u64],
    index: impl Fn(u64) -> u64,
    max_log_sets: u32,
    max_ways: usize,
    from: usize,
) -> Vec<Vec<u64>> {
    let levels = max_log_sets as usize + 1;
    let mut out = vec![vec![0u64; max_ways + 2]; levels];
    // The recency stack of distinct keys, most recent first, with their index bits.
    let mut stack: Vec<(u64, u64)> = Vec::new();
    // above[k]: keys above the reference whose low k index bits match its own.
    let mut above = vec![0usize; levels];
    for (t, &k) in keys.iter().enumerate() {
        let x = index(k);
        above.iter_mut().for_each(|a| *a = 0);
        let mut found = None;
        for (pos, &(key, ix)) in stack.iter().enumerate() {
            if key == k {
                found = Some(pos);
                break;
            }
            // Matching low bits: the same set at every set count up to 2^m.
            let m = ((ix ^ x).trailing_zeros() as usize).min(levels - 1);
            above[m] += 1;
        }
        if t >= from {
            // Distance at 2^k sets: 1 + the keys above matching in at least k bits.
            let mut acc = 0usize;
            for lvl in (0..levels).rev() {
                acc += above[lvl];
                let d = match found {
                    None => 0,
                    Some(_) => (acc + 1).min(max_ways + 1),
                };
                out[lvl][d] += 1;
            }
        }
        match found {
            Some(pos) => {
                stack[..=pos].rotate_right(1);
            }
            None => stack.insert(0, (k, x)),
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Brute force: `sets` sets of `ways` ways, each a most-recent-first list; the misses
    /// and evictions counted from `from` on.
    pub(in crate::analysis) fn brute(
        keys: &[u64],
        sets: u64,
        ways: usize,
        from: usize,
    ) -> (u64, u64) {
        let (m, e) = brute_classes(keys, sets, ways, from);
        (m[0] + m[1], e)
    }

    /// [`brute`], the misses split by the class of the reference (its time's parity).
    pub(in crate::analysis) fn brute_classes(
        keys: &[u64],
        sets: u64,
        ways: usize,
        from: usize,
    ) -> ([u64; 2], u64) {
        let mut s: Vec<Vec<u64>> = vec![Vec::new(); sets as usize];
        let (mut misses, mut evictions) = ([0, 0], 0);
        for (t, &k) in keys.iter().enumerate() {
            let l = &mut s[(k % sets) as usize];
            let hit = l.iter().position(|&x| x == k);
            match hit {
                Some(p) => {
                    l.remove(p);
                }
                None => {
                    if t >= from {
                        misses[t % 2] += 1;
                    }
                    if l.len() == ways {
                        l.pop();
                        if t >= from {
                            evictions += 1;
                        }
                    }
                }
            }
            l.insert(0, k);
        }
        (misses, evictions)
    }

    /// Streams with reuse at several scales: a hot set, a loop, and uniform noise.
    pub(in crate::analysis) fn stream(seed: u64, n: usize, pages: u64) -> Vec<u64> {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|i| match r.next_u64() % 3 {
                0 => r.next_u64() % 8,
                1 => (i as u64 / 3) % (pages / 2).max(1),
                _ => r.next_u64() % pages,
            })
            .collect()
    }

    #[test]
    fn per_set_counts_equal_a_brute_force_lru_for_every_geometry() {
        for (seed, n, pages, from) in [(1, 3000, 64, 0), (2, 4000, 300, 500), (3, 2000, 2000, 1999)]
        {
            let keys = stream(seed, n, pages);
            for sets in [1u64, 2, 4, 16, 64] {
                let c = SetCurve::of(&keys, sets, |k| (k % sets) as usize, from);
                assert_eq!(c.counted, (n - from) as u64);
                // 1 way (direct mapped) to beyond the most any set needs (fully
                // associative when sets = 1).
                for ways in [1usize, 2, 3, 4, 8, 16, 64, 512, 4096] {
                    let (m, e) = brute(&keys, sets, ways, from);
                    assert_eq!(
                        c.misses(ways as u64),
                        m,
                        "seed {seed} sets {sets} ways {ways}"
                    );
                    assert_eq!(
                        c.evictions(ways as u64),
                        e,
                        "seed {seed} sets {sets} ways {ways}"
                    );
                }
            }
        }
    }

    /// Misses by class (a TLB's sides): each class's own, as brute force counts them.
    #[test]
    fn per_class_misses_equal_a_brute_force_lru() {
        let keys = stream(7, 3000, 200);
        let k = Keys::new(&keys);
        for sets in [1u64, 4, 32] {
            let c = SetCurve::of_classes(&k, sets, |x| (x % sets) as usize, |t| t % 2, 100);
            for ways in [1usize, 2, 8, 64] {
                let (m, _) = brute_classes(&keys, sets, ways, 100);
                let mine = [c.misses_of(0, ways as u64), c.misses_of(1, ways as u64)];
                assert_eq!(mine, m, "sets {sets} ways {ways}");
            }
        }
    }

    #[test]
    fn all_associativity_equals_the_per_set_passes_and_brute_force() {
        for (seed, n, pages, from) in [(4, 3000, 100, 0), (5, 2500, 700, 300)] {
            let keys = stream(seed, n, pages);
            let max_ways = 8;
            let all = all_associativity(&keys, |k| k, 5, max_ways, from);
            for (k, h) in all.iter().enumerate() {
                let sets = 1u64 << k;
                let c = SetCurve::of(&keys, sets, |x| (x & (sets - 1)) as usize, from);
                for ways in 1..=max_ways {
                    // Misses: first references plus distances above `ways`.
                    let m = h[0] + h[ways + 1..].iter().sum::<u64>();
                    assert_eq!(m, c.misses(ways as u64), "2^{k} sets, {ways} ways");
                    assert_eq!(
                        m,
                        brute(&keys, sets, ways, from).0,
                        "2^{k} sets, {ways} ways"
                    );
                }
            }
        }
    }

    /// Hand-worked: keys 0 2 1 0 3 2 at 2 sets: set 0 sees 0 2 0 2 (distances inf inf 2
    /// 2), set 1 sees 1 3 (inf inf). Direct mapped: every reference misses (6); 2 ways:
    /// the 4 first references; evictions at 1 way: 6 misses - 2 sets filled = 4.
    #[test]
    fn a_hand_worked_stream() {
        let keys = [0u64, 2, 1, 0, 3, 2];
        let c = SetCurve::of(&keys, 2, |k| (k % 2) as usize, 0);
        assert_eq!((c.beyond[0], c.hist[0][2]), (4, 2));
        assert_eq!((c.misses(1), c.misses(2)), (6, 4));
        assert_eq!((c.evictions(1), c.evictions(2)), (4, 0));
    }
}
