//! Solvers for a closed single-class product-form network: K queueing (load-independent,
//! FCFS or processor-sharing) stations given by their service demands D_k = V_k S_k, and
//! one delay station (terminals) with think time Z.
//!
//! In: the demands, Z and the population N. Out: an [`MvaSolution`] (throughput,
//! response time excluding think time, per-station residence time, utilisation and
//! mean queue length).
//!
//! * [`exact`]: exact Mean Value Analysis (Reiser and Lavenberg, 1980), the recursion
//!   over n = 1..N built on the arrival theorem: an arriving job sees the network in
//!   equilibrium with one job fewer, so R_k(n) = D_k (1 + Q_k(n-1)).
//! * [`schweitzer`]: the approximate iterative MVA of Schweitzer (1979) and Bard (1979):
//!   Q_k(N-1) is estimated as Q_k(N) (N-1)/N, so one population is solved on its own
//!   by a fixed-point iteration instead of the recursion.

use std::fmt;

/// The solution of a network at one population.
#[derive(Clone, Debug, PartialEq)]
pub struct MvaSolution {
    /// Population N.
    pub n: u32,
    /// System throughput X(N), jobs per second.
    pub throughput: f64,
    /// Response time R(N) = N / X(N) - Z, seconds (think time excluded).
    pub response: f64,
    /// Residence time per station, R_k(N) (seconds per job, all visits together).
    pub residence: Vec<f64>,
    /// Utilisation per station, U_k = X D_k.
    pub utilisation: Vec<f64>,
    /// Mean number of jobs per station (queued and in service), Q_k = X R_k.
    pub queue: Vec<f64>,
}

/// The Schweitzer iteration did not settle.
#[derive(Clone, Debug, PartialEq)]
pub struct NoConvergence {
    pub n: u32,
    pub iterations: u32,
    /// The last change in throughput, relative.
    pub last_change: f64,
}

impl fmt::Display for NoConvergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Schweitzer MVA did not converge for N = {} within {} iterations \
             (last relative change {:.3e}); raise schweitzer.max_iterations or the tolerance",
            self.n, self.iterations, self.last_change
        )
    }
}

impl std::error::Error for NoConvergence {}

fn solution(n: u32, z: f64, demands: &[f64], residence: Vec<f64>) -> MvaSolution {
    let total: f64 = residence.iter().sum();
    let x = f64::from(n) / (z + total);
    MvaSolution {
        n,
        throughput: x,
        response: total,
        utilisation: demands.iter().map(|d| x * d).collect(),
        queue: residence.iter().map(|r| x * r).collect(),
        residence,
    }
}

/// Exact MVA for populations 1..=`n`, all with the same `demands`: the whole recursion,
/// one solution per population (element n-1 is population n). `n` = 0 gives nothing.
///
/// `z + sum(demands)` must be positive (otherwise the throughput is infinite).
pub fn exact_all(demands: &[f64], z: f64, n: u32) -> Vec<MvaSolution> {
    let mut out = Vec::with_capacity(n as usize);
    let mut q = vec![0.0; demands.len()];
    for pop in 1..=n {
        let residence: Vec<f64> = demands
            .iter()
            .zip(&q)
            .map(|(d, q_prev)| d * (1.0 + q_prev))
            .collect();
        let s = solution(pop, z, demands, residence);
        q.copy_from_slice(&s.queue);
        out.push(s);
    }
    out
}

/// Exact MVA at population `n` (>= 1): the recursion n' = 1..n with these demands, the
/// n' = n result.
pub fn exact(demands: &[f64], z: f64, n: u32) -> MvaSolution {
    assert!(n >= 1, "population must be at least 1");
    // Only the last queue lengths are needed; keep two vectors instead of n solutions.
    let mut q = vec![0.0; demands.len()];
    let mut r = vec![0.0; demands.len()];
    for pop in 1..=n {
        let mut total = 0.0;
        for ((rk, d), qk) in r.iter_mut().zip(demands).zip(&q) {
            *rk = d * (1.0 + qk);
            total += *rk;
        }
        let x = f64::from(pop) / (z + total);
        for (qk, rk) in q.iter_mut().zip(&r) {
            *qk = x * rk;
        }
    }
    solution(n, z, demands, r)
}

/// Settings of the Schweitzer fixed-point iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Iteration {
    /// Stop when the throughput and every queue length (relative to N) change by less
    /// than this between two sweeps.
    pub tolerance: f64,
    /// Give up (an error) after this many sweeps.
    pub max_iterations: u32,
}

impl Default for Iteration {
    fn default() -> Self {
        Iteration {
            tolerance: 1e-12,
            max_iterations: 100_000,
        }
    }
}

/// Schweitzer / Bard approximate MVA at population `n` (>= 1), with the number of sweeps
/// it took.
///
/// Equations, iterated from Q_k = N / K (the jobs spread evenly over the queueing
/// stations) until they settle:
/// R_k = D_k (1 + Q_k (N-1)/N),  X = N / (Z + sum_k R_k),  Q_k = X R_k.
/// At N = 1 the correction term vanishes and the first sweep is already exact.
pub fn schweitzer(
    demands: &[f64],
    z: f64,
    n: u32,
    it: Iteration,
) -> Result<(MvaSolution, u32), NoConvergence> {
    assert!(n >= 1, "population must be at least 1");
    let nf = f64::from(n);
    let k = demands.len().max(1) as f64;
    let mut q = vec![nf / k; demands.len()];
    let mut r = vec![0.0; demands.len()];
    let mut x_prev = f64::NAN;
    let mut change = f64::INFINITY;
    for sweep in 1..=it.max_iterations {
        let mut total = 0.0;
        for ((rk, d), qk) in r.iter_mut().zip(demands).zip(&q) {
            *rk = d * (1.0 + qk * (nf - 1.0) / nf);
            total += *rk;
        }
        let x = nf / (z + total);
        let mut dq: f64 = 0.0;
        for (qk, rk) in q.iter_mut().zip(&r) {
            let new = x * rk;
            dq = dq.max((new - *qk).abs() / nf);
            *qk = new;
        }
        change = ((x - x_prev) / x).abs().max(dq);
        if change < it.tolerance {
            return Ok((solution(n, z, demands, r), sweep));
        }
        x_prev = x;
    }
    Err(NoConvergence {
        n,
        iterations: it.max_iterations,
        last_change: change,
    })
}

#[cfg(test)]
/// Buzen's convolution algorithm (Buzen, 1973), an exact method independent of MVA:
/// the product-form stationary probability of (n_0 at the delay station, n_1..n_K)
/// is proportional to Z^n_0 / n_0! * prod_k D_k^n_k, so the normalisation constant
/// G(n) = sum over all splits of n jobs. Built station by station:
/// g(n) <- sum_j g(n - j) Z^j / j! for the delay station, then
/// g(n) <- g(n) + D_k g(n-1) (in place, increasing n) for each queueing station.
/// X(N) = G(N-1) / G(N). A test reference only (the tool uses MVA).
pub(crate) fn convolution_throughput(demands: &[f64], z: f64, n: usize) -> f64 {
    let mut g = vec![0.0; n + 1];
    // Delay station alone: g(j) = Z^j / j!.
    let mut term = 1.0;
    for (j, gj) in g.iter_mut().enumerate() {
        if j > 0 {
            term *= z / j as f64;
        }
        *gj = term;
    }
    for &d in demands {
        for i in 1..=n {
            g[i] += d * g[i - 1];
        }
    }
    g[n - 1] / g[n]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    /// Brute force over every state (n_0, n_1, .., n_K) summing to N: G(N) and G(N-1)
    /// straight from the product form, no recursion at all (small networks only).
    fn enumerate_g(demands: &[f64], z: f64, n: usize) -> f64 {
        fn rec(demands: &[f64], left: usize, weight: f64, z: f64, acc: &mut f64) {
            match demands.split_first() {
                None => {
                    let fact: f64 = (1..=left).map(|i| i as f64).product();
                    *acc += weight * z.powi(left as i32) / fact;
                }
                Some((d, rest)) => {
                    for j in 0..=left {
                        rec(rest, left - j, weight * d.powi(j as i32), z, acc);
                    }
                }
            }
        }
        let mut acc = 0.0;
        rec(demands, n, 1.0, z, &mut acc);
        acc
    }

    /// A small deterministic generator for test networks (splitmix64).
    fn next(state: &mut u64) -> f64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut x = *state;
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn exact_mva_equals_convolution_on_small_networks() {
        let mut nets: Vec<(Vec<f64>, f64)> = vec![
            (vec![1.0], 0.0),
            (vec![1.0, 2.0], 0.0),
            (vec![0.5, 0.5, 0.5], 3.0),
            (vec![5.0, 0.2, 0.1], 30.0),
            (vec![0.01, 3.0, 0.7, 0.7], 1.5),
        ];
        let mut s = 7u64;
        for _ in 0..20 {
            let k = 1 + (next(&mut s) * 4.0) as usize;
            let d: Vec<f64> = (0..k).map(|_| 0.05 + 2.0 * next(&mut s)).collect();
            let z = if next(&mut s) < 0.3 {
                0.0
            } else {
                10.0 * next(&mut s)
            };
            nets.push((d, z));
        }
        for (d, z) in &nets {
            let all = exact_all(d, *z, 12);
            for (i, sol) in all.iter().enumerate() {
                let n = i + 1;
                let conv = convolution_throughput(d, *z, n);
                assert!(
                    rel(sol.throughput, conv) < 1e-9,
                    "{d:?} Z={z} N={n}: MVA {} convolution {conv}",
                    sol.throughput
                );
                // The single-population entry point runs the same recursion.
                assert_eq!(exact(d, *z, n as u32), *sol);
                // Little's law over the whole network: N = X (R + Z).
                assert!(rel(sol.throughput * (sol.response + z), n as f64) < 1e-12);
            }
            // The convolution itself checked against brute-force enumeration.
            for n in 1..=6 {
                let brute = enumerate_g(d, *z, n - 1) / enumerate_g(d, *z, n);
                assert!(rel(convolution_throughput(d, *z, n), brute) < 1e-12);
            }
        }
    }

    #[test]
    fn closed_forms() {
        // One queueing station, no think time: the station always holds all N jobs, so
        // it is busy all the time: X = 1/D, and R = N / X = N D.
        for n in 1..=20 {
            let s = exact(&[0.25], 0.0, n);
            assert!(rel(s.throughput, 4.0) < 1e-15);
            assert!(rel(s.response, 0.25 * f64::from(n)) < 1e-14);
            assert!(rel(s.queue[0], f64::from(n)) < 1e-14);
        }
        // One station with think time, N = 1: the job alternates Z and D, X = 1/(D+Z).
        let s = exact(&[2.0], 3.0, 1);
        assert!(rel(s.throughput, 1.0 / 5.0) < 1e-15);
        assert!(rel(s.response, 2.0) < 1e-15);
        // Two stations D1 = 1, D2 = 2, N = 2, no think time. States (n1, n2):
        // (2,0), (1,1), (0,2) with weights D1^2, D1 D2, D2^2, so
        // G(2) = 1 + 2 + 4 = 7, G(1) = D1 + D2 = 3 and X(2) = G(1)/G(2) = 3/7.
        // U1 = X D1 = 3/7 = P(n1 >= 1) = (1 + 2)/7 (check); Q2 = (1*2 + 2*4)/7 = 10/7.
        let s = exact(&[1.0, 2.0], 0.0, 2);
        assert!(rel(s.throughput, 3.0 / 7.0) < 1e-15);
        assert!(rel(s.utilisation[0], 3.0 / 7.0) < 1e-15);
        assert!(rel(s.queue[1], 10.0 / 7.0) < 1e-14);
        assert!(rel(s.queue[0], 4.0 / 7.0) < 1e-14);
        assert!(rel(s.response, 2.0 / (3.0 / 7.0)) < 1e-14);
    }

    #[test]
    fn schweitzer_is_exact_at_one_job_and_close_elsewhere() {
        let mut s = 11u64;
        for _ in 0..30 {
            let k = 1 + (next(&mut s) * 4.0) as usize;
            let d: Vec<f64> = (0..k).map(|_| 0.05 + 2.0 * next(&mut s)).collect();
            let z = 10.0 * next(&mut s);
            let (a, sweeps) = schweitzer(&d, z, 1, Iteration::default()).unwrap();
            // One job never queues: R_k = D_k, X = 1/(Z + D).
            let want = 1.0 / (z + d.iter().sum::<f64>());
            assert!(rel(a.throughput, want) < 1e-15, "{d:?}");
            assert!(sweeps <= 2);
            assert_eq!(a.throughput, exact(&d, z, 1).throughput);
        }
        // One station, no think time: Schweitzer's fixed point is also exact
        // (Q = N is the only solution of Q = N).
        let (a, _) = schweitzer(&[0.3], 0.0, 7, Iteration::default()).unwrap();
        assert!(rel(a.throughput, 1.0 / 0.3) < 1e-12);
    }

    #[test]
    fn schweitzer_reports_non_convergence() {
        let e = schweitzer(
            &[1.0, 2.0, 3.0],
            1.0,
            10,
            Iteration {
                tolerance: 1e-15,
                max_iterations: 3,
            },
        )
        .unwrap_err();
        assert_eq!((e.n, e.iterations), (10, 3));
        assert!(e.to_string().contains("did not converge for N = 10"));
    }

    #[test]
    fn throughput_never_exceeds_the_asymptotic_bounds() {
        let mut s = 5u64;
        for _ in 0..30 {
            let k = 1 + (next(&mut s) * 4.0) as usize;
            let d: Vec<f64> = (0..k).map(|_| 0.05 + 2.0 * next(&mut s)).collect();
            let z = 10.0 * next(&mut s);
            let dmax = d.iter().copied().fold(0.0, f64::max);
            let dsum: f64 = d.iter().sum();
            for sol in exact_all(&d, z, 40) {
                let n = f64::from(sol.n);
                let bound = (1.0 / dmax).min(n / (dsum + z));
                assert!(sol.throughput <= bound * (1.0 + 1e-12));
                // And the lower bound of asymptotic bound analysis (Denning and Buzen
                // 1978): X >= N / (N D + Z).
                assert!(sol.throughput >= n / (n * dsum + z) * (1.0 - 1e-12));
                let (a, _) = schweitzer(&d, z, sol.n, Iteration::default()).unwrap();
                assert!(a.throughput <= bound * (1.0 + 1e-12));
            }
        }
    }
}
