//! MIN/OPT stack analysis: the fault function of Belady's optimal replacement (evict the
//! page whose next reference is farthest away; Belady 1966) for every memory size m in
//! one pass, by the OPT stack algorithm of Mattson, Gecsei, Slutz and Traiger (1970).
//!
//! In: dense page ids ([`super::PageStream`]). Out: [`OptAnalysis`], the histogram of
//! OPT stack distances and from it F(m).
//!
//! The priority stack: position j holds the page that MIN with j frames has in memory
//! and MIN with j - 1 frames does not. A page's priority is the time of its next
//! reference (sooner = higher), fixed between its references, computed for every
//! reference by one backward pass. On a reference to the page at position d, the page
//! goes to the top, and for every size j < d the page MIN evicts from the first j
//! positions (the largest next-use time among them) is carried down one level. The
//! carried page changes only at the *prefix maxima* of the next-use times along
//! positions 1..d-1, so every page other than those stays where it is, and
//!
//! * finding the next prefix maximum is a "first position after i with value > v"
//!   search in a max segment tree over positions, which costs O(log gap), and
//! * only the pages that move (the prefix maxima) update the tree and their positions.
//!
//! A reference thus costs O((1 + r) log D) for r prefix maxima, instead of the O(d)
//! scan of positions 1..d-1 in the textbook version. r is far smaller than d but not
//! small: on 10^6 uniform references over 10^5 pages the mean d is about 25,000 and the
//! mean r about 1,150 (a first reference walks the maxima of the whole stack), so MIN
//! runs at 0.4-0.7 M references/s against the LRU pass's 25-29 M on 10^7 references
//! over 10^5 pages (`benches/analysis.rs`). Bilardi, Ekanadham and Pattnaik (2017, "Optimal on-line
//! computation of stack distances for MIN and OPT") give an O(log D) per reference
//! algorithm (the "critical stack"); it is the way to go if MIN on 10^8-reference
//! traces matters, and is not implemented here: its bookkeeping is far more involved,
//! and this version is exact, simple to check against the textbook stack, and fast
//! enough for teaching-size strings and traces of a few million references.
//!
//! Pages never referenced again all have priority "infinity"; which of them MIN evicts
//! does not change any fault count (none of them is referenced again), and the tests
//! check that two opposite tie orders give the same result.

use super::PageStream;
use serde::Serialize;

/// Next-use time of a page never referenced again.
const NEVER: u32 = u32::MAX;

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

/// OPT analysis of a stream. Fails only beyond 2^32 - 1 references (times are `u32`).
pub fn opt(stream: &PageStream) -> Result<OptAnalysis, String> {
    opt_with(&stream.ids, stream.distinct(), |_| NEVER)
}

/// Time of the next reference to the same page for every reference; `never(id)` for
/// the last reference to page `id`.
fn next_uses(ids: &[u32], distinct: usize, never: impl Fn(u32) -> u32) -> Vec<u32> {
    let mut upcoming: Vec<u32> = (0..distinct as u32).map(&never).collect();
    let mut next = vec![0u32; ids.len()];
    for t in (0..ids.len()).rev() {
        let id = ids[t] as usize;
        next[t] = upcoming[id];
        upcoming[id] = t as u32;
    }
    next
}

/// A max segment tree over stack positions holding next-use times; empty positions 0.
struct MaxTree {
    n: usize,
    t: Vec<u32>,
}

impl MaxTree {
    fn new(positions: usize) -> MaxTree {
        let n = positions.max(1).next_power_of_two();
        MaxTree {
            n,
            t: vec![0; 2 * n],
        }
    }

    #[inline]
    fn set(&mut self, pos: usize, v: u32) {
        let mut i = pos + self.n;
        self.t[i] = v;
        while i > 1 {
            let p = i >> 1;
            let m = self.t[2 * p].max(self.t[2 * p + 1]);
            if self.t[p] == m {
                // Ancestors already hold the right maxima.
                break;
            }
            self.t[p] = m;
            i = p;
        }
    }

    /// The first position >= `lo` whose value exceeds `v`. Climbs only as far as the
    /// answer's distance requires, then descends.
    #[inline]
    fn first_greater(&self, lo: usize, v: u32) -> Option<usize> {
        if lo >= self.n {
            return None;
        }
        let mut i = lo + self.n;
        // Invariant: every position in [lo, start of node i) holds a value <= v.
        while self.t[i] <= v {
            // Step to the next node to the right at the lowest level possible.
            while i & 1 == 1 {
                i >>= 1;
                if i == 0 {
                    return None;
                }
            }
            i += 1;
        }
        while i < self.n {
            i *= 2;
            if self.t[i] <= v {
                i += 1;
            }
        }
        Some(i - self.n)
    }
}

/// The OPT pass with a chosen priority for pages never referenced again (`never(id)`,
/// which must exceed every reference time): the tests use it to break those ties in
/// different orders.
fn opt_with(
    ids: &[u32],
    distinct: usize,
    never: impl Fn(u32) -> u32,
) -> Result<OptAnalysis, String> {
    if ids.len() >= NEVER as usize - distinct {
        return Err(format!(
            "{} references: the MIN analysis supports fewer than {}",
            ids.len(),
            NEVER as usize - distinct
        ));
    }
    let next = next_uses(ids, distinct, never);
    let mut tree = MaxTree::new(distinct);
    // stack[j] = page at position j + 1 (0-based here); pos[id] = its position.
    let mut stack = vec![0u32; distinct];
    let mut pos = vec![u32::MAX; distinct];
    let mut depth = 0usize;
    let mut hist = vec![0u64; distinct + 1];
    let mut first = 0u64;
    for (t, &id) in ids.iter().enumerate() {
        let x = id as usize;
        let d = if pos[x] == u32::MAX {
            first += 1;
            depth += 1;
            depth - 1
        } else {
            let d = pos[x] as usize;
            hist[d + 1] += 1;
            d
        };
        if d > 0 {
            // Carry the top page down along the prefix maxima of next-use times in
            // positions 1..d-1; the last carried page fills the hole at d.
            let mut carry = stack[0];
            let mut carry_v = tree.t[tree.n];
            let mut i = 0usize;
            loop {
                match tree.first_greater(i + 1, carry_v).filter(|&j| j < d) {
                    Some(j) => {
                        let (p, v) = (stack[j], tree.t[tree.n + j]);
                        stack[j] = carry;
                        pos[carry as usize] = j as u32;
                        tree.set(j, carry_v);
                        carry = p;
                        carry_v = v;
                        i = j;
                    }
                    None => {
                        stack[d] = carry;
                        pos[carry as usize] = d as u32;
                        tree.set(d, carry_v);
                        break;
                    }
                }
            }
        }
        stack[0] = id;
        pos[x] = 0;
        tree.set(0, next[t]);
    }
    Ok(OptAnalysis {
        refs: ids.len() as u64,
        histogram: hist,
        first_refs: first,
    })
}

#[cfg(test)]
mod tests {
    use super::super::lru::lru;
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
        let n = s.distinct() as u32;
        let k = refs.len() as u32;
        // Never-again pages ordered by id one way, then the other.
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
    fn segment_tree_finds_first_greater() {
        let vals = [3u32, 0, 9, 4, 4, 12, 1, 7, 2];
        let mut t = MaxTree::new(vals.len());
        for (i, &v) in vals.iter().enumerate() {
            t.set(i, v);
        }
        for lo in 0..12 {
            for v in 0..14 {
                let want = (lo..vals.len()).find(|&j| vals[j] > v);
                assert_eq!(t.first_greater(lo, v), want, "lo {lo} v {v}");
            }
        }
    }
}
