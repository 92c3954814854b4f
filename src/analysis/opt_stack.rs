//! The reference MIN pass: the OPT priority stack of Mattson, Gecsei, Slutz and Traiger
//! (1970), kept as the oracle that [`super::opt`]'s faster pass is tested against and
//! measured with (`benches/analysis.rs`).
//!
//! In: dense page ids. Out: the same [`OptAnalysis`] as [`super::opt::opt`].
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
//! A reference thus costs O((1 + r) log D) for r prefix maxima. r is far smaller than d
//! but not small: a first reference walks the prefix maxima of the whole stack, so on
//! 10^6 uniform references over 2^20 pages (mostly first references) this pass takes
//! about 23 s (docs/PERFORMANCE.md).
//!
//! Pages never referenced again all have priority "infinity"; which of them MIN evicts
//! does not change any fault count (none of them is referenced again), and the tests
//! check that two opposite tie orders give the same result.

use super::opt::OptAnalysis;
use super::PageStream;

/// Next-use time of a page never referenced again.
const NEVER: u32 = u32::MAX;

/// The priority-stack MIN pass of a stream. Fails only beyond 2^32 - 1 references
/// (times are `u32`).
pub fn opt_priority_stack(stream: &PageStream) -> Result<OptAnalysis, String> {
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
pub(crate) fn opt_with(
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
    use super::*;

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
