//! Working set WS(T) (Denning 1968) and VMIN(T) (Prieve and Fabry 1976), exact for a
//! finite reference string, for every window T up to a bound or for a list of T.
//!
//! In: a reference string of dense page ids (`0..distinct`, as compaction produces them).
//! Out: [`Distances`] (the backward inter-reference distance histogram and the histogram
//! of the tails after each page's last reference) and, from it, a [`WsCurve`]: the fault
//! count F(T) and the mean memory of WS and VMIN for each T. One pass over the string
//! (O(K + distinct)) plus O(Tmax) for the whole curve; no window is ever counted.
//!
//! # Definitions
//!
//! References are numbered t = 1..K; r(t) is the page referenced at t.
//! W(t,T) is the set of distinct pages among r(max(1, t-T+1)) ..= r(t), the T references
//! ending at t (fewer at the start of the string). A page p referenced at
//! t_1 < t_2 < ... < t_n has backward distances b_i = t_i - t_(i-1) for i >= 2 and an
//! infinite one for its first reference; its tail is e = K - t_n + 1 (its last reference
//! and the references after it).
//!
//! # Faults
//!
//! The reference at t faults under WS(T) iff r(t) is not in W(t-1,T), i.e. iff no reference
//! to r(t) lies in [t-T, t-1], i.e. iff its backward distance exceeds T. So
//! F(T) = (first references) + sum over b > T of h(b), h the backward-distance histogram.
//!
//! # Mean working-set size (derivation)
//!
//! p is in W(t,T) iff some t_i lies in [t-T+1, t], i.e. t lies in [t_i, t_i+T-1] for some
//! i. The gaps [t_i, t_(i+1) - 1] (length b_(i+1)) and the tail [t_n, K] (length e)
//! partition [t_1, K], and p is absent before t_1. Inside a gap of length b the window
//! still reaches back to t_i during its first min(b, T) instants and not after; inside
//! the tail likewise for min(e, T) instants. Hence
//!
//! ```text
//! S(T) = sum over t of |W(t,T)| = sum over gaps min(b, T) + sum over pages min(e, T).
//! ```
//!
//! Writing c(x) for the number of intervals (gaps and tails) of length x,
//! sum_x c(x) min(x, T) = sum_(j=1..T) N(j), with N(j) the number of intervals of length
//! at least j. So
//!
//! ```text
//! S(0) = 0,   S(T) = S(T-1) + N(T),   N(T) = (F(T-1) - first references) + (tails >= T),
//! ```
//!
//! every T up to Tmax costs O(1) once the histograms are built, and m(T) = S(T) / K.
//! This is the recursion of Denning and Schwartz (1972), "the mean working-set size grows
//! by the miss rate", made exact at both ends of a finite string: the window is short at
//! the start (already in the gap sum, which begins at t_1) and the tail term accounts for
//! the end.
//!
//! # VMIN
//!
//! VMIN(T) (Prieve and Fabry 1976) looks forward instead of back: after the reference
//! at t_i, p stays resident until t_(i+1) if b_(i+1) <= T and leaves at once otherwise;
//! after its last reference it leaves at once. The referenced page counts during its own
//! reference. A gap of length b therefore costs b page-instants if b <= T and 1
//! otherwise, a tail costs 1, and
//!
//! ```text
//! V(T) = K + sum over b <= T of (b - 1) h(b),    mean VMIN memory = V(T) / K.
//! ```
//!
//! p is resident at t_(i+1) iff b_(i+1) <= T, which is exactly the WS hit condition, so
//! VMIN(T) and WS(T) fault on the same references. Gap by gap VMIN's cost (b or 1) is at
//! most WS's (min(b, T), as b <= T in the first case and min(b, T) >= 1 in the second),
//! and a tail costs 1 <= min(e, T): VMIN never needs more memory than WS for the same
//! faults. (Prieve and Fabry show it needs the least space-time of any policy.)
//!
//! T = 0 is allowed in the list variant: nothing is kept, F = K, S = 0 and V = K.

/// Sentinel "last reference" time of a page never referenced: `t - NEVER` wraps to a
/// value above any cap, so first references land in the overflow bucket without a branch.
const NEVER: u64 = 1 << 63;

/// The inter-reference distance histograms of a reference string, exact up to `cap`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Distances {
    /// K, the number of references.
    pub k: u64,
    /// First references (infinite backward distance) = distinct pages referenced.
    pub first: u64,
    /// `counts[d]` = references with backward distance d, for d in 1..=cap (`counts[0]`
    /// is always 0).
    pub counts: Vec<u64>,
    /// References with a finite backward distance greater than cap.
    pub beyond: u64,
    /// `tails[e]` = pages whose last reference is the e-th from the end (e = K - t_last
    /// + 1), for e in 1..=cap (`tails[0]` is always 0).
    pub tails: Vec<u64>,
    /// Pages whose tail is longer than cap.
    pub tails_beyond: u64,
}

/// Fault counts and mean memory of WS(T) and VMIN(T), one entry per T in `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct WsCurve {
    /// K, the number of references (the divisor of the means).
    pub k: u64,
    /// The window sizes T.
    pub t: Vec<u64>,
    /// F(T), the same for WS and VMIN.
    pub faults: Vec<u64>,
    /// sum over t of |W(t,T)| (working-set space-time, in page-references).
    pub ws_space_time: Vec<u64>,
    /// VMIN's resident page-time (every reference counts at least its own page).
    pub vmin_space_time: Vec<u64>,
    /// m(T) = ws_space_time / K (0 for an empty string).
    pub ws_mean: Vec<f64>,
    /// VMIN mean memory = vmin_space_time / K (0 for an empty string).
    pub vmin_mean: Vec<f64>,
}

impl WsCurve {
    /// (mean WS size, faults) for each T: the fault curve of WS against memory, ready for
    /// [`super::lifetime::lifetime`].
    pub fn ws_points(&self) -> Vec<(f64, u64)> {
        self.ws_mean
            .iter()
            .copied()
            .zip(self.faults.iter().copied())
            .collect()
    }

    /// (mean VMIN memory, faults) for each T.
    pub fn vmin_points(&self) -> Vec<(f64, u64)> {
        self.vmin_mean
            .iter()
            .copied()
            .zip(self.faults.iter().copied())
            .collect()
    }
}

/// Builds the backward-distance and tail histograms in one pass. `cap` is clamped to K
/// (no distance or tail exceeds K, so nothing beyond it is needed for any T).
///
/// # Panics
/// If an id is `>= distinct`.
pub fn distances(ids: &[u32], distinct: usize, cap: u64) -> Distances {
    let k = ids.len() as u64;
    let cap = cap.min(k);
    let over = cap + 1; // the overflow bucket
    let mut hist = vec![0u64; over as usize + 1];
    let mut last = vec![NEVER; distinct];
    for (i, &p) in ids.iter().enumerate() {
        let t = i as u64 + 1;
        let slot = &mut last[p as usize];
        let d = t.wrapping_sub(*slot);
        *slot = t;
        hist[d.min(over) as usize] += 1;
    }
    let mut tails = vec![0u64; over as usize + 1];
    let mut first = 0u64;
    for &l in &last {
        if l != NEVER {
            first += 1;
            tails[(k - l + 1).min(over) as usize] += 1;
        }
    }
    let beyond = hist.pop().unwrap_or(0) - first;
    let tails_beyond = tails.pop().unwrap_or(0);
    Distances {
        k,
        first,
        counts: hist,
        beyond,
        tails,
        tails_beyond,
    }
}

impl Distances {
    /// The largest distance kept in its own bucket.
    pub fn cap(&self) -> u64 {
        self.counts.len() as u64 - 1
    }

    /// F(T), S(T) and V(T) for T = 0..=hi (hi <= cap), by the recursions in the module
    /// docs.
    fn tables(&self, hi: u64) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        let n = hi as usize + 1;
        let (mut f, mut s, mut v) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut fc, mut sc, mut vc) = (self.k, 0u64, self.k);
        // Tails of length >= T (all of them for T = 1).
        let mut tails_ge = self.first;
        f.push(fc);
        s.push(sc);
        v.push(vc);
        for t in 1..n {
            // fc = F(T-1): the first references plus the gaps of length >= T.
            sc += fc - self.first + tails_ge;
            fc -= self.counts[t];
            vc += (t as u64 - 1) * self.counts[t];
            tails_ge -= self.tails[t];
            f.push(fc);
            s.push(sc);
            v.push(vc);
        }
        (f, s, v)
    }

    /// The curve at the given window sizes (any order, repeats allowed).
    ///
    /// # Panics
    /// If some T exceeds [`Distances::cap`] while cap < K (the histogram was cut too short
    /// to answer it).
    pub fn curve(&self, ts: &[u64]) -> WsCurve {
        let cap = self.cap();
        let exact_all = cap >= self.k;
        let hi = ts.iter().copied().max().unwrap_or(0).min(cap);
        assert!(
            exact_all || ts.iter().all(|&t| t <= cap),
            "window sizes up to {} need distances up to that cap (built with {cap})",
            ts.iter().max().unwrap_or(&0)
        );
        let (f, s, v) = self.tables(hi);
        let div = |x: u64| {
            if self.k == 0 {
                0.0
            } else {
                x as f64 / self.k as f64
            }
        };
        // Beyond K nothing changes (every gap and tail is at most K long).
        let idx = |t: u64| t.min(hi) as usize;
        WsCurve {
            k: self.k,
            t: ts.to_vec(),
            faults: ts.iter().map(|&t| f[idx(t)]).collect(),
            ws_space_time: ts.iter().map(|&t| s[idx(t)]).collect(),
            vmin_space_time: ts.iter().map(|&t| v[idx(t)]).collect(),
            ws_mean: ts.iter().map(|&t| div(s[idx(t)])).collect(),
            vmin_mean: ts.iter().map(|&t| div(v[idx(t)])).collect(),
        }
    }
}

/// WS and VMIN for every T in 1..=t_max.
///
/// # Panics
/// If an id is `>= distinct`.
pub fn ws_vmin_all(ids: &[u32], distinct: usize, t_max: u64) -> WsCurve {
    let ts: Vec<u64> = (1..=t_max).collect();
    distances(ids, distinct, t_max).curve(&ts)
}

/// WS and VMIN at the listed window sizes (any order; T = 0 allowed).
///
/// # Panics
/// If an id is `>= distinct`.
pub fn ws_vmin_at(ids: &[u32], distinct: usize, ts: &[u64]) -> WsCurve {
    let hi = ts.iter().copied().max().unwrap_or(0);
    distances(ids, distinct, hi).curve(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_string_has_no_faults_and_no_memory() {
        let c = ws_vmin_at(&[], 0, &[0, 1, 5]);
        assert_eq!(c.faults, vec![0, 0, 0]);
        assert_eq!(c.ws_mean, vec![0.0; 3]);
        assert_eq!(c.vmin_mean, vec![0.0; 3]);
    }

    #[test]
    fn alternating_pair_by_hand() {
        // a b a b a (K = 5). Backward distances: inf, inf, 2, 2, 2; tails: a 1, b 2.
        // T=1: F = 5; |W| = 1 each, S = 5; VMIN keeps nothing, V = 5.
        // T=2: F = 2; W sizes 1,2,2,2,2, S = 9; VMIN keeps every gap (b = 2), V = 5 + 3.
        let d = distances(&[0, 1, 0, 1, 0], 2, 10);
        assert_eq!((d.k, d.first, d.beyond, d.cap()), (5, 2, 0, 5));
        assert_eq!(d.counts, vec![0, 0, 3, 0, 0, 0]);
        assert_eq!(d.tails, vec![0, 1, 1, 0, 0, 0]);
        let c = d.curve(&[0, 1, 2, 9]);
        assert_eq!(c.faults, vec![5, 5, 2, 2]);
        assert_eq!(c.ws_space_time, vec![0, 5, 9, 9]);
        assert_eq!(c.vmin_space_time, vec![5, 5, 8, 8]);
        assert_eq!(c.vmin_mean[2], 1.6);
    }

    #[test]
    fn short_cap_puts_long_distances_in_the_overflow() {
        let d = distances(&[0, 1, 2, 0, 1, 2], 3, 2);
        assert_eq!((d.beyond, d.tails_beyond), (3, 1));
        assert_eq!(d.counts, vec![0, 0, 0]);
        assert_eq!(d.tails, vec![0, 1, 1]);
    }
}
