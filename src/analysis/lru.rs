//! LRU stack analysis (Mattson, Gecsei, Slutz and Traiger 1970): the stack distance of
//! every reference and from its histogram the LRU fault function F(m) for every memory
//! size m at once, since LRU is a stack algorithm (memory of m pages always holds the m
//! most recently used).
//!
//! In: dense page ids ([`super::PageStream`]). Out: [`LruAnalysis`]; per-reference
//! distances only through a callback ([`lru_with`]), so 10^8 references need no
//! per-reference storage.
//!
//! Method (after Bennett and Kruskal 1975, who counted distinct pages between uses with a
//! tree): every page marks the time of its last use; the distance of a re-reference is
//! the number of marks from the page's previous use up to now, i.e. the pages used
//! since, plus itself. Marks are bits, counted by a Fenwick tree (Fenwick 1994) over
//! 64-bit words plus a popcount: O(log) per reference.
//!
//! The tree is indexed by *slots*, not raw times: only `distinct` marks are live at any
//! moment, so when the slots run out the live marks are renumbered 0.. in time order
//! (order is all a count needs) and the tree rebuilt. With 2 x distinct slots (rounded
//! up to a power of two) that costs O(1) amortised per reference, and the marks stay
//! small enough to sit in cache: a million distinct pages take 512 KiB of bits and a
//! 128 KiB tree, where one counter per reference time would take 400 MB for 10^8
//! references.

use super::PageStream;
use serde::Serialize;

/// Sentinel for "not referenced yet".
const NONE: u32 = u32::MAX;

/// The result of one LRU pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LruAnalysis {
    /// References K.
    pub refs: u64,
    /// `histogram[d]` = references at stack distance d (1 = re-reference of the most
    /// recently used page); index 0 is unused. Length distinct + 1.
    pub histogram: Vec<u64>,
    /// First references (infinite distance) = distinct pages.
    pub first_refs: u64,
}

impl LruAnalysis {
    /// Distinct pages.
    pub fn distinct(&self) -> usize {
        self.first_refs as usize
    }

    /// F(m) for m = 1..=distinct (index m - 1): first references plus references at
    /// distance > m.
    pub fn faults(&self) -> Vec<u64> {
        faults_from_histogram(&self.histogram, self.first_refs)
    }
}

/// F(m) for m = 1..=len-1 from a distance histogram (index 0 unused) and the count of
/// infinite distances: a suffix sum.
pub fn faults_from_histogram(histogram: &[u64], infinite: u64) -> Vec<u64> {
    let n = histogram.len().saturating_sub(1);
    let mut f = vec![0u64; n];
    let mut acc = infinite;
    for m in (1..=n).rev() {
        f[m - 1] = acc;
        acc += histogram[m];
    }
    f
}

/// LRU analysis of a stream.
pub fn lru(stream: &PageStream) -> LruAnalysis {
    lru_with(&stream.ids, stream.distinct(), |_, _| {})
}

/// [`lru`], or `None` once a stop was asked for ([`crate::progress::stop_requested`],
/// looked at every 65,536 references): what the Python package's `analyze` runs, so
/// that Ctrl-C ends it.
pub fn lru_stoppable(stream: &PageStream) -> Option<LruAnalysis> {
    let stop = || crate::progress::stop_requested();
    let a = lru_until(&stream.ids, stream.distinct(), |_, _| {}, stop);
    (!stop()).then_some(a)
}

/// Stack distance of every reference (0 for a first reference); one `u32` per reference.
pub fn stack_distances(stream: &PageStream) -> Vec<u32> {
    let mut d = Vec::with_capacity(stream.len());
    lru_with(&stream.ids, stream.distinct(), |_, x| d.push(x));
    d
}

/// Fenwick tree (Fenwick 1994) of per-block mark counts.
struct Fenwick {
    t: Vec<u32>,
}

impl Fenwick {
    /// Built in O(n) from per-block counts: each node passes its sum to its parent.
    fn from_counts(counts: &[u32]) -> Fenwick {
        let n = counts.len();
        let mut t = vec![0u32; n + 1];
        t[1..].copy_from_slice(counts);
        for i in 1..=n {
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                t[parent] += t[i];
            }
        }
        Fenwick { t }
    }

    /// Sum over blocks `0..i`.
    #[inline]
    fn prefix(&self, mut i: usize) -> u32 {
        let mut s = 0;
        while i > 0 {
            s += self.t[i];
            i &= i - 1;
        }
        s
    }

    #[inline]
    fn add(&mut self, block: usize, v: u32) {
        let mut i = block + 1;
        while i < self.t.len() {
            self.t[i] = self.t[i].wrapping_add(v);
            i += i & i.wrapping_neg();
        }
    }
}

/// The last-use marks: one bit per slot, and a Fenwick tree over 64-slot blocks. The
/// tree is 64 times smaller than one over slots (16 KiB for 100,000 pages: it stays in
/// the first-level cache), and the block holding the cursor is left out of it until the
/// cursor moves on, so marking the current slot costs one bit operation.
struct Marks {
    bits: Vec<u64>,
    tree: Fenwick,
    /// Block of the next free slot; its count is not in `tree` yet.
    open: usize,
}

impl Marks {
    fn new(slots: usize) -> Marks {
        Marks {
            bits: vec![0; slots / 64],
            tree: Fenwick::from_counts(&vec![0; slots / 64]),
            open: 0,
        }
    }

    /// Marks in slots `0..slot`.
    #[inline]
    fn before(&self, slot: usize) -> u32 {
        let b = slot / 64;
        let below = self.bits[b] & ((1u64 << (slot % 64)) - 1);
        self.tree.prefix(b) + below.count_ones()
    }

    #[inline]
    fn clear(&mut self, slot: usize) {
        let b = slot / 64;
        self.bits[b] &= !(1u64 << (slot % 64));
        if b < self.open {
            self.tree.add(b, u32::MAX); // -1
        }
    }

    /// Marks `slot`, which is the cursor: at or after every other mark.
    #[inline]
    fn set_cursor(&mut self, slot: usize) {
        let b = slot / 64;
        if b != self.open {
            // The cursor entered a new block: the finished one joins the tree.
            self.tree.add(self.open, self.bits[self.open].count_ones());
            self.open = b;
        }
        self.bits[b] |= 1u64 << (slot % 64);
    }

    /// After renumbering: exactly slots `0..k` marked, the cursor at `k`.
    fn reset_to(&mut self, k: usize) {
        self.bits.fill(0);
        for (i, w) in self.bits.iter_mut().enumerate() {
            let lo = i * 64;
            if lo + 64 <= k {
                *w = u64::MAX;
            } else if lo < k {
                *w = (1u64 << (k - lo)) - 1;
            }
        }
        self.open = k / 64;
        let counts: Vec<u32> = (0..self.bits.len())
            .map(|i| if i < self.open { 64 } else { 0 })
            .collect();
        self.tree = Fenwick::from_counts(&counts);
    }
}

/// The LRU pass over ids `0..distinct`; `on_ref(t, d)` sees every reference's stack
/// distance (0 = first reference) in time order.
pub fn lru_with(ids: &[u32], distinct: usize, on_ref: impl FnMut(usize, u32)) -> LruAnalysis {
    lru_until(ids, distinct, on_ref, || false)
}

/// [`lru_with`], ending early (its counts then partial) once `stop()`, which is looked
/// at every 65,536 references.
fn lru_until(
    ids: &[u32],
    distinct: usize,
    mut on_ref: impl FnMut(usize, u32),
    stop: impl Fn() -> bool,
) -> LruAnalysis {
    let slots = (2 * distinct).max(1024).next_power_of_two();
    let mut marks = Marks::new(slots);
    // last[id]: slot of the page's last use; owner[slot]: the page that used it.
    let mut last = vec![NONE; distinct];
    let mut owner = vec![NONE; slots];
    let mut hist = vec![0u64; distinct + 1];
    let mut live = 0u32; // pages seen so far = marks
    let mut cursor = 0usize; // next free slot
    let mut first = 0u64;
    for (t, &id) in ids.iter().enumerate() {
        if t & 0xFFFF == 0 && t > 0 && stop() {
            break;
        }
        if cursor == slots {
            // Renumber the live marks (the set bits) in time order; at most `distinct`
            // survive, so at least half the slots come free.
            let mut k = 0usize;
            for b in 0..marks.bits.len() {
                let mut w = marks.bits[b];
                while w != 0 {
                    let s = b * 64 + w.trailing_zeros() as usize;
                    w &= w - 1;
                    let p = owner[s];
                    last[p as usize] = k as u32;
                    owner[k] = p;
                    k += 1;
                }
            }
            marks.reset_to(k);
            cursor = k;
        }
        let id = id as usize;
        let prev = last[id];
        let d = if prev == NONE {
            live += 1;
            first += 1;
            0
        } else {
            // Marks at slots >= prev: this page and every page used since.
            let d = live - marks.before(prev as usize);
            marks.clear(prev as usize);
            hist[d as usize] += 1;
            d
        };
        on_ref(t, d);
        marks.set_cursor(cursor);
        last[id] = cursor as u32;
        owner[cursor] = id as u32;
        cursor += 1;
    }
    LruAnalysis {
        refs: ids.len() as u64,
        histogram: hist,
        first_refs: first,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::string;
    use super::*;

    /// LRU with `m` frames simulated directly: a recency list, most recent first.
    fn brute_lru_faults(refs: &[u64], m: usize) -> u64 {
        let mut mem: Vec<u64> = Vec::new();
        let mut faults = 0;
        for &p in refs {
            match mem.iter().position(|&x| x == p) {
                Some(i) => {
                    mem.remove(i);
                }
                None => {
                    faults += 1;
                    if mem.len() == m {
                        mem.pop();
                    }
                }
            }
            mem.insert(0, p);
        }
        faults
    }

    /// Distances by scanning back for distinct pages since the previous use.
    fn brute_distances(refs: &[u64]) -> Vec<u32> {
        (0..refs.len())
            .map(|t| match refs[..t].iter().rposition(|&x| x == refs[t]) {
                None => 0,
                Some(s) => {
                    let mut seen: Vec<u64> = refs[s..t].to_vec();
                    seen.sort_unstable();
                    seen.dedup();
                    seen.len() as u32
                }
            })
            .collect()
    }

    #[test]
    fn fault_function_equals_brute_force_lru_for_every_m() {
        let mut case = 0u64;
        for &(n, pages) in &[(1usize, 1u64), (30, 3), (200, 8), (500, 40), (1500, 120)] {
            for &loc in &[0.0, 0.5, 0.9] {
                for _ in 0..8 {
                    case += 1;
                    let refs = string(case, n, pages, loc);
                    let s = PageStream::from_pages(&refs);
                    let a = lru(&s);
                    let f = a.faults();
                    assert_eq!(f.len(), s.distinct());
                    for m in 1..=s.distinct() {
                        assert_eq!(f[m - 1], brute_lru_faults(&refs, m), "case {case}, m {m}");
                    }
                    assert!(f.windows(2).all(|w| w[0] >= w[1]));
                    assert_eq!(*f.last().unwrap(), s.distinct() as u64);
                    assert_eq!(a.refs, n as u64);
                }
            }
        }
        assert_eq!(case, 120);
    }

    #[test]
    fn distances_survive_slot_renumbering() {
        // 1024 slots minimum: 20 000 references over 300 pages renumber many times.
        for seed in 0..4 {
            let refs = string(1000 + seed, 20_000, 300, 0.3);
            let s = PageStream::from_pages(&refs);
            assert_eq!(stack_distances(&s), brute_distances(&refs), "seed {seed}");
        }
    }

    #[test]
    fn cyclic_string_has_distance_equal_to_cycle_length() {
        let refs: Vec<u64> = (0..100).map(|i| i % 7).collect();
        let a = lru(&PageStream::from_pages(&refs));
        assert_eq!(a.first_refs, 7);
        assert_eq!(a.histogram[7], 93);
        assert_eq!(a.histogram.iter().sum::<u64>(), 93);
    }
}
