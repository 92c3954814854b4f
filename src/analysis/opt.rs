//! MIN/OPT stack analysis: the fault function of Belady's optimal replacement (evict the
//! page whose next reference is farthest away; Belady 1966) for every memory size m in
//! one pass, as a histogram of OPT stack distances (MIN is a stack algorithm, Mattson,
//! Gecsei, Slutz and Traiger 1970: with m frames it hits exactly the references at
//! distance <= m).
//!
//! In: dense page ids ([`super::PageStream`]). Out: [`OptAnalysis`], the histogram and
//! from it F(m). The textbook priority stack lives on in [`super::opt_stack`] as the
//! oracle this pass is tested against (and measured against in `benches/analysis.rs`).
//!
//! # Method: critical markers (Bilardi, Ekanadham and Pattnaik 2017)
//!
//! An OPT stack distance depends only on the references up to it, so the pass runs
//! forwards, like the LRU pass, and never looks at next uses (the priority stack's tie
//! among pages never used again does not arise). Bilardi, Ekanadham and Pattnaik
//! ("Optimal on-line computation of stack distances for MIN and OPT", CF 2017) prove
//! that their *critical marker* rule gives exactly the MIN stack distance. On the LRU
//! stack L (most recent first) it keeps one marker M(c) per memory size c = 1..V (V
//! pages seen), a depth in L, and β(i) = #{c : M(c) <= i} - i (>= 0) for every depth i.
//! A reference to the page at 0-based LRU depth D:
//!
//! * D = 0: distance 1, nothing changes;
//! * first reference: every marker moves one down, a new marker M(V + 1) = 1;
//! * otherwise z = the largest i < D with β(i) = 0, c* = the first size c (in size
//!   order) with M(c) > z, distance c* + 1; every marker with M(c) <= D moves one down
//!   (the page left from above them), and M(c*) = 1.
//!
//! Done literally that is O(V) a reference. Here every marker is a *time* μ(c) instead
//! of a depth, with M(c) = #{pages last used at or after μ(c)}; then "move one down"
//! needs no work at all (the referenced page's new time is after every μ, and its old
//! time p is before exactly the markers with M(c) <= D), and M(c*) = 1 is μ(c*) = t.
//! In times, with the page of LRU depth i last used at u, β(i) = #{markers after u} -
//! #{pages last used after u}, so z is the *oldest* page time u in (p, t) at which
//! that difference is 0 (t - 1 always is one), and M(c) > z reads μ(c) <= u. Two
//! segment trees answer both in O(log) a reference:
//!
//! * over time slots, w(s) = markers at s - pages last used at s; each node keeps its
//!   sum and the least, over its page times u, of the sum after u within the node: the
//!   oldest u >= p + 1 with nothing after it summing above 0 is one descent;
//! * over sizes, the minimum μ: the first size with μ <= u is one descent.
//!
//! Time slots are renumbered in order when they run out, as in the LRU pass (only the
//! V page times and V marker times are live), so memory stays O(V), not O(K).
//!
//! Exactness rests on the paper's theorem and the equivalence above (the state is the
//! paper's, in other coordinates); the tests check every histogram against the
//! priority stack under both orders of its never-again tie and F(m) against MIN
//! simulated per size.

use super::PageStream;
use serde::Serialize;

/// The result of one OPT pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OptAnalysis {
    /// References K.
    pub refs: u64,
    /// `histogram[d]` = references at OPT stack distance d; index 0 unused; length
    /// distinct + 1. MIN with m frames hits exactly the references with d <= m.
    pub histogram: Vec<u64>,
    /// First references (always faults).
    pub first_refs: u64,
}

impl OptAnalysis {
    /// MIN's F(m) for m = 1..=distinct (index m - 1).
    pub fn faults(&self) -> Vec<u64> {
        super::lru::faults_from_histogram(&self.histogram, self.first_refs)
    }
}

/// "No page time in this node": adding sums (each at most the 2V live markers and
/// pages in magnitude) never brings it to 0 or overflows while V < 2^28.
const NO_PAGE: i32 = 1 << 30;

/// The most distinct pages the pass takes (see `NO_PAGE`).
const MAX_PAGES: usize = 1 << 28;

/// Segment tree over time slots. Per node `[sum, best]`: the sum of w(s) = markers at s
/// minus pages last used at s, and the least over page times u in the node of the sum
/// of w after u within the node (`NO_PAGE` if none).
struct Times {
    n: usize,
    t: Vec<[i32; 2]>,
}

impl Times {
    fn new(slots: usize) -> Times {
        let n = slots.next_power_of_two();
        Times {
            n,
            t: vec![[0, NO_PAGE]; 2 * n],
        }
    }

    #[inline]
    fn pull(&mut self, i: usize) {
        let ([ls, lb], [rs, rb]) = (self.t[2 * i], self.t[2 * i + 1]);
        self.t[i] = [ls + rs, (lb + rs).min(rb)];
    }

    /// Adds `dw` to w(slot); `page`: whether a page is now last used there (`None`:
    /// unchanged).
    #[inline]
    fn update(&mut self, slot: usize, dw: i32, page: Option<bool>) {
        let mut i = slot + self.n;
        let [w, best] = self.t[i];
        let best = match page {
            Some(true) => 0,
            Some(false) => NO_PAGE,
            None => best,
        };
        self.t[i] = [w + dw, best];
        while i > 1 {
            i >>= 1;
            self.pull(i);
        }
    }

    /// The oldest page time u >= `lo` with the sum of w after u at most 0.
    fn oldest_balanced(&self, lo: usize) -> Option<usize> {
        self.descend(1, 0, self.n, 0, lo)
    }

    /// `after`: the sum of w right of node `i`, which covers slots `a..b`. Only nodes
    /// straddling `lo` can fail after passing the test, so this is O(log).
    fn descend(&self, i: usize, a: usize, b: usize, after: i32, lo: usize) -> Option<usize> {
        if b <= lo || self.t[i][1] + after > 0 {
            return None;
        }
        if i >= self.n {
            return Some(a);
        }
        let m = (a + b) / 2;
        let right = self.t[2 * i + 1][0];
        self.descend(2 * i, a, m, after + right, lo)
            .or_else(|| self.descend(2 * i + 1, m, b, after, lo))
    }

    /// Moves the leaves of the live slots (`new[s] != NONE`) to `new[s]`, in order.
    fn compact(&mut self, new: &[u32]) {
        let n = self.n;
        let mut k = 0;
        for (s, &to) in new.iter().enumerate() {
            if to != NONE {
                debug_assert_eq!(to as usize, k);
                self.t[n + k] = self.t[n + s]; // k <= s: not yet read
                k += 1;
            }
        }
        self.t[n + k..].fill([0, NO_PAGE]);
        for i in (1..n).rev() {
            self.pull(i);
        }
    }
}

/// Min segment tree over memory sizes (index c - 1) of the markers' time slots.
struct Sizes {
    n: usize,
    t: Vec<u32>,
}

impl Sizes {
    fn new(sizes: usize) -> Sizes {
        let n = sizes.max(1).next_power_of_two();
        Sizes {
            n,
            t: vec![u32::MAX; 2 * n],
        }
    }

    #[inline]
    fn set(&mut self, c: usize, slot: u32) {
        let mut i = c + self.n;
        self.t[i] = slot;
        while i > 1 {
            i >>= 1;
            self.t[i] = self.t[2 * i].min(self.t[2 * i + 1]);
        }
    }

    /// The first size whose marker is at or before `slot`.
    #[inline]
    fn first_at_or_before(&self, slot: u32) -> Option<usize> {
        if self.t[1] > slot {
            return None;
        }
        let mut i = 1;
        while i < self.n {
            i = if self.t[2 * i] <= slot {
                2 * i
            } else {
                2 * i + 1
            };
        }
        Some(i - self.n)
    }
}

/// Slot value of "none": no page used yet, or a dead slot when renumbering.
const NONE: u32 = u32::MAX;

/// OPT analysis of a stream. Fails only beyond 2^32 - 2 references or 2^28 distinct
/// pages.
pub fn opt(stream: &PageStream) -> Result<OptAnalysis, String> {
    let (ids, distinct) = (&stream.ids, stream.distinct());
    if distinct >= MAX_PAGES {
        return Err(format!(
            "{distinct} distinct pages: the MIN analysis supports fewer than {MAX_PAGES}"
        ));
    }
    if ids.len() >= NONE as usize - 1 {
        return Err(format!(
            "{} references: the MIN analysis supports fewer than {}",
            ids.len(),
            NONE - 1
        ));
    }
    // 2V live slots at most (page times, marker times), so 4V slots renumber at most
    // every 2V references; never more slots than references.
    let slots = (4 * distinct)
        .max(64)
        .min(ids.len() + 1)
        .next_power_of_two();
    let mut s = State {
        times: Times::new(slots),
        sizes: Sizes::new(distinct),
        last: vec![NONE; distinct],
        marker: Vec::with_capacity(distinct),
        new: Vec::new(),
    };
    let mut hist = vec![0u64; distinct + 1];
    let mut first = 0u64;
    let mut now = 0usize; // slot of the current reference
    let mut prev = NONE; // page of the previous reference
    for (i, &id) in ids.iter().enumerate() {
        // Ctrl-C in the Python package (the command line does not set the flag).
        if i & 0xFFFF == 0 && i > 0 && crate::progress::stop_requested() {
            return Err(super::report::INTERRUPTED.into());
        }
        if now == s.times.n {
            now = s.renumber();
        }
        let x = id as usize;
        let p = std::mem::replace(&mut s.last[x], now as u32);
        if p == NONE {
            // A new page and a new marker (size V + 1), both at `now`: w(now) = 0.
            first += 1;
            s.times.update(now, 0, Some(true));
            s.sizes.set(s.marker.len(), now as u32);
            s.marker.push(now as u32);
        } else if id == prev {
            // LRU depth 0: distance 1; the page's time moves, no marker does.
            hist[1] += 1;
            s.times.update(p as usize, 1, Some(false));
            s.times.update(now, -1, Some(true));
        } else {
            s.times.update(p as usize, 1, Some(false));
            // u exists: the previous reference's slot is a page time after p with
            // nothing after it. A marker at or before u exists: after u there are as
            // many markers as pages, and those pages exclude this one and u's, so at
            // most V - 2 of the V markers.
            let c = s
                .times
                .oldest_balanced(p as usize + 1)
                .and_then(|u| s.sizes.first_at_or_before(u as u32))
                .ok_or("MIN pass: no critical marker found (internal error)")?;
            hist[c + 2] += 1;
            let old = std::mem::replace(&mut s.marker[c], now as u32);
            s.times.update(old as usize, -1, None);
            s.sizes.set(c, now as u32);
            // The page (-1) and the marker (+1) at `now`.
            s.times.update(now, 0, Some(true));
        }
        prev = id;
        now += 1;
    }
    Ok(OptAnalysis {
        refs: ids.len() as u64,
        histogram: hist,
        first_refs: first,
    })
}

/// The pass's state: time slots and the two trees.
struct State {
    times: Times,
    sizes: Sizes,
    /// Slot of each page's last use (`NONE`: not used yet).
    last: Vec<u32>,
    /// Slot of each size's marker (index c - 1).
    marker: Vec<u32>,
    /// Renumbering map, kept between renumberings.
    new: Vec<u32>,
}

impl State {
    /// Renumbers the live slots 0.. in time order (order is all the trees need) and
    /// returns the first free slot. O(slots), at most once every 2V references.
    fn renumber(&mut self) -> usize {
        const LIVE: u32 = NONE - 1;
        self.new.clear();
        self.new.resize(self.times.n, NONE);
        for &slot in self.last.iter().chain(&self.marker) {
            if slot != NONE {
                self.new[slot as usize] = LIVE;
            }
        }
        let mut k = 0u32;
        for v in self.new.iter_mut().filter(|v| **v == LIVE) {
            *v = k;
            k += 1;
        }
        self.times.compact(&self.new);
        for slot in self.last.iter_mut().filter(|s| **s != NONE) {
            *slot = self.new[*slot as usize];
        }
        for (c, slot) in self.marker.iter_mut().enumerate() {
            *slot = self.new[*slot as usize];
            self.sizes.set(c, *slot);
        }
        k as usize
    }
}

#[cfg(test)]
mod tests {
    use super::super::lru::lru;
    use super::super::opt_stack::{opt_priority_stack, opt_with};
    use super::super::testutil::string;
    use super::*;

    /// Belady's MIN with `m` frames simulated directly: on a fault with full memory,
    /// evict the resident page whose next use is farthest, a page never used again
    /// first. `prefer_low` picks which never-again page goes first (lowest or highest
    /// page number), so two runs break those ties oppositely.
    fn brute_min_faults(refs: &[u64], m: usize, prefer_low: bool) -> u64 {
        let mut mem: Vec<u64> = Vec::new();
        let mut faults = 0;
        for t in 0..refs.len() {
            let p = refs[t];
            if mem.contains(&p) {
                continue;
            }
            faults += 1;
            if mem.len() == m {
                let key = |q: u64| match refs[t + 1..].iter().position(|&x| x == q) {
                    Some(k) => (0u8, k as u64),
                    None => (1u8, if prefer_low { u64::MAX - q } else { q }),
                };
                let (i, _) = mem
                    .iter()
                    .enumerate()
                    .max_by_key(|&(_, &q)| key(q))
                    .unwrap();
                mem.swap_remove(i);
            }
            mem.push(p);
        }
        faults
    }

    fn check(refs: &[u64], what: &str) {
        let s = PageStream::from_pages(refs);
        let a = opt(&s).unwrap();
        let f = a.faults();
        // The priority stack, with never-again pages ordered by id one way, then the
        // other: the same histogram as this pass.
        let n = s.distinct() as u32;
        let k = refs.len() as u32;
        assert_eq!(opt_priority_stack(&s).unwrap(), a, "{what}: priority stack");
        let up = opt_with(&s.ids, s.distinct(), |id| k + id).unwrap();
        let down = opt_with(&s.ids, s.distinct(), |id| k + n - id).unwrap();
        assert_eq!(up, a, "{what}: tie order changed the result");
        assert_eq!(down, a, "{what}: tie order changed the result");
        let l = lru(&s).faults();
        for m in 1..=s.distinct() {
            let b = brute_min_faults(refs, m, true);
            assert_eq!(f[m - 1], b, "{what}, m {m}");
            assert_eq!(brute_min_faults(refs, m, false), b, "{what}, m {m}");
            assert!(
                f[m - 1] <= l[m - 1],
                "{what}, m {m}: MIN faults more than LRU"
            );
        }
        assert!(f.windows(2).all(|w| w[0] >= w[1]), "{what}");
        assert_eq!(f.last().copied(), Some(s.distinct() as u64), "{what}");
    }

    #[test]
    fn fault_function_equals_brute_force_min_for_every_m() {
        // 400 references over 25 pages and 900 over 70 use 128 time slots: those cases
        // renumber the slots several times.
        let mut case = 0u64;
        for &(n, pages) in &[(1usize, 1u64), (25, 3), (120, 6), (400, 25), (900, 70)] {
            for &loc in &[0.0, 0.6, 0.95] {
                for _ in 0..8 {
                    case += 1;
                    check(&string(500 + case, n, pages, loc), &format!("case {case}"));
                }
            }
        }
        assert_eq!(case, 120);
    }

    #[test]
    fn textbook_strings() {
        // Belady, Nelson and Shedler (1969): MIN takes 7 faults with 3 frames on this.
        let s = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
        check(&s, "belady");
        let f = opt(&PageStream::from_pages(&s)).unwrap().faults();
        assert_eq!(f[2], 7);
        // A cycle over 5 pages with m = 4 frames: after the 5 cold misses MIN keeps
        // three pages and loses one every 4 references (hand-simulated: faults at
        // references 1-5, then every 4th: 9, 13, 17 of 20 -> 8).
        let c: Vec<u64> = (0..20).map(|i| i % 5).collect();
        check(&c, "cycle");
        assert_eq!(opt(&PageStream::from_pages(&c)).unwrap().faults()[3], 8);
    }

    #[test]
    fn distances_by_hand() {
        // a b c a b. With 2 frames MIN evicts b at c (b's next use is later than a's),
        // so the second a hits and the second b faults; with 3 frames everything
        // after the first references hits. The second a: distance 2 (1 frame holds
        // only the current page); the second b: distance 3.
        let s = PageStream::from_pages(&[0, 1, 2, 0, 1]);
        let a = opt(&s).unwrap();
        assert_eq!(a.histogram, vec![0, 0, 1, 1]);
        assert_eq!(a.first_refs, 3);
        // a a b b a: distance 1 twice (same page again); the last a with 2 frames
        // (b is the only other page) hits: distance 2.
        let s = PageStream::from_pages(&[0, 0, 1, 1, 0]);
        assert_eq!(opt(&s).unwrap().histogram, vec![0, 2, 1]);
    }

    #[test]
    fn time_tree_finds_the_oldest_balanced_page_time() {
        // w per slot and page flags; the answer by brute force: the first page slot
        // u >= lo with the sum of w over slots after u at most 0.
        let w = [1i32, -1, 0, 1, -1, -1, 1, 0, -1, 1, 0];
        let page = [
            false, true, true, false, true, true, false, true, true, false, true,
        ];
        let mut t = Times::new(w.len());
        for (i, (&w, &pg)) in w.iter().zip(&page).enumerate() {
            t.update(i, w, Some(pg));
        }
        for lo in 0..=w.len() + 2 {
            let want = (lo..w.len()).find(|&u| page[u] && w[u + 1..].iter().sum::<i32>() <= 0);
            assert_eq!(t.oldest_balanced(lo), want, "lo {lo}");
        }
        let mut z = Sizes::new(5);
        for (c, v) in [9u32, 4, 7, 2, 8].into_iter().enumerate() {
            z.set(c, v);
        }
        let firsts: Vec<_> = (0..11).map(|v| z.first_at_or_before(v)).collect();
        let want: Vec<_> = (0..11u32)
            .map(|v| [9u32, 4, 7, 2, 8].iter().position(|&m| m <= v))
            .collect();
        assert_eq!(firsts, want);
    }

    #[test]
    fn larger_random_streams_match_the_priority_stack() {
        // Beyond brute-force sizes: uniform, local and mixed streams, against the
        // textbook pass; 20,000 references over 300 pages renumber the slots often.
        for (seed, n, pages, loc) in [
            (1u64, 20_000usize, 3_000u64, 0.0),
            (2, 20_000, 300, 0.0),
            (3, 30_000, 5_000, 0.7),
            (4, 30_000, 40_000, 0.3),
            (5, 20_000, 40, 0.5),
        ] {
            let s = PageStream::from_pages(&string(seed, n, pages, loc));
            assert_eq!(
                opt(&s).unwrap(),
                opt_priority_stack(&s).unwrap(),
                "seed {seed}"
            );
        }
    }
}
