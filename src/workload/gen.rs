//! The address generators behind [`super::WorkloadSpec::source`] and the small
//! numeric tools they share: seed mixing, bounded integers, a keyed bijection on
//! `[0, n)` and a constant-memory Zipf sampler.
//!
//! Every generator is a plain struct implementing the private [`AddrGen`] trait;
//! the batch loop in `mod.rs` is generic over it, so the per-access call is
//! monomorphised and inlined rather than dispatched through a vtable.

use crate::util::Bijection;
use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;
use std::sync::Arc;

/// A uniform float in `[0, 1)` from the top 53 bits of `x` (every value is an
/// exact multiple of 2^-53).
#[inline(always)]
pub(crate) fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform integer in `[0, n)` by Lemire's multiply-shift, without the
/// rejection step. The bias is at most `n / 2^64` per value; for the largest `n`
/// we use (2^54 eight-byte words in a 2^57 address space) that is below 0.1 %,
/// and for realistic footprints (< 2^40 words) below 10^-7: far under anything
/// a TLB experiment can resolve, and it keeps the hot path branch-free.
#[inline(always)]
pub(crate) fn below(x: u64, n: u64) -> u64 {
    ((x as u128 * n as u128) >> 64) as u64
}

/// Threshold `t` such that `(x >> 11) < t` happens with probability `p` (to
/// within 2^-53) for uniform `x`. Integer compare instead of a float per access;
/// `p <= 0` (or NaN) never fires, `p >= 1` always does.
pub(crate) fn threshold53(p: f64) -> u64 {
    if p.is_nan() || p <= 0.0 {
        0
    } else if p >= 1.0 {
        1u64 << 53
    } else {
        (p * (1u64 << 53) as f64) as u64
    }
}

/// Produces one virtual address per call. Implementors are small state machines;
/// `next_addr` must not allocate.
pub(crate) trait AddrGen: Send {
    fn next_addr(&mut self) -> u64;
}

/// Zipf sampler over ranks `1..=n` with `P(r) ∝ r^-s`, by Hörmann and
/// Derflinger's rejection-inversion ("Rejection-inversion to generate variates
/// from monotone discrete distributions", ACM TOMACS 1996).
///
/// The idea: the continuous hat `h(x) = x^-s` is integrated in closed form
/// (`H`), a uniform point is inverted through `H` and rounded to an integer
/// rank, and a cheap test accepts it with the right probability. It needs O(1)
/// memory and O(1) expected time for any `n`, which matters because a 64 GiB
/// footprint of 4 KiB granules has 16 M ranks and a CDF table would be bigger
/// than the TLB model itself. `H` and its inverse are written through
/// `ln_1p`/`exp_m1`-based helpers so that `s == 1` (where `H` is `ln x`) and `s`
/// near 1 are computed exactly rather than as 0/0.
#[derive(Clone, Debug)]
pub struct ZipfSampler {
    n: u64,
    s: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    squeeze: f64,
}

/// `ln(1+x)/x`, continuous at 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// `(e^x - 1)/x`, continuous at 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x / 3.0 * (1.0 + 0.25 * x))
    }
}

impl ZipfSampler {
    /// `n >= 1` ranks, exponent `s > 0` (finite). Out-of-range arguments are
    /// clamped (n to 1, s to 1.0) so that an unvalidated spec cannot hang the
    /// sampler; validation reports them to the user.
    pub fn new(n: u64, s: f64) -> ZipfSampler {
        let n = n.max(1);
        let s = if s.is_finite() && s > 0.0 { s } else { 1.0 };
        let mut z = ZipfSampler {
            n,
            s,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            squeeze: 0.0,
        };
        z.h_integral_x1 = z.h_integral(1.5) - 1.0;
        z.h_integral_n = z.h_integral(n as f64 + 0.5);
        z.squeeze = 2.0 - z.h_integral_inv(z.h_integral(2.5) - z.h(2.0));
        z
    }

    /// The hat function `x^-s`.
    #[inline]
    fn h(&self, x: f64) -> f64 {
        (-self.s * x.ln()).exp()
    }

    /// `∫_1^x t^-s dt = (x^(1-s) - 1)/(1-s)`, or `ln x` when `s == 1`.
    #[inline]
    fn h_integral(&self, x: f64) -> f64 {
        let lx = x.ln();
        helper2((1.0 - self.s) * lx) * lx
    }

    /// Inverse of [`Self::h_integral`].
    #[inline]
    fn h_integral_inv(&self, x: f64) -> f64 {
        // Rounding can push t a hair below -1, where ln_1p is undefined.
        let t = (x * (1.0 - self.s)).max(-1.0);
        (helper1(t) * x).exp()
    }

    /// One rank in `1..=n`.
    #[inline]
    pub fn sample(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        let mut k = 1;
        // Acceptance is > 90 % for every s (and ~100 % for large n), so the
        // iteration cap is only a guard against pathological float parameters
        // (e.g. s = 1e300); it never binds for a sane exponent.
        for _ in 0..1000 {
            let u = self.h_integral_n
                + unit_f64(rng.next_u64()) * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inv(u);
            // `as` saturates (and maps NaN to 0), so the clamp keeps k in range.
            k = ((x + 0.5) as u64).clamp(1, self.n);
            let kf = k as f64;
            if kf - x <= self.squeeze || u >= self.h_integral(kf + 0.5) - self.h(kf) {
                return k;
            }
        }
        k
    }
}

/// `base, base+stride, …`; restarts at `base` once the offset would reach the
/// footprint, so every lap touches exactly the same addresses.
pub(crate) struct Sequential {
    pub base: u64,
    pub off: u64,
    pub stride: u64,
    pub footprint: u64,
}

impl AddrGen for Sequential {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        let a = self.base.wrapping_add(self.off);
        // saturating: an unvalidated huge stride must wrap, not overflow.
        self.off = self.off.saturating_add(self.stride);
        if self.off >= self.footprint {
            self.off = 0;
        }
        a
    }
}

/// Uniform 8-byte-aligned addresses over `words` eight-byte words.
pub(crate) struct Uniform {
    pub base: u64,
    pub words: u64,
    pub rng: Xoshiro256PlusPlus,
}

impl AddrGen for Uniform {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        self.base
            .wrapping_add(below(self.rng.next_u64(), self.words) << 3)
    }
}

/// Two uniform regions: `[0, hot_words)` chosen with probability
/// `hot_thresh / 2^53`, the rest of the footprint otherwise.
pub(crate) struct HotCold {
    pub base: u64,
    pub hot_words: u64,
    pub cold_words: u64,
    pub hot_thresh: u64,
    pub rng: Xoshiro256PlusPlus,
}

impl AddrGen for HotCold {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        let hot = (self.rng.next_u64() >> 11) < self.hot_thresh;
        let r = self.rng.next_u64();
        let word = if hot {
            below(r, self.hot_words)
        } else {
            self.hot_words + below(r, self.cold_words)
        };
        self.base.wrapping_add(word << 3)
    }
}

/// Zipf-ranked granules scattered over the footprint by a bijection, with a
/// uniform 8-byte-aligned offset inside the granule.
pub(crate) struct Zipf {
    pub base: u64,
    pub granule: u64,
    pub granule_words: u64,
    pub sampler: ZipfSampler,
    pub perm: Bijection,
    pub rng: Xoshiro256PlusPlus,
}

impl AddrGen for Zipf {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        let rank = self.sampler.sample(&mut self.rng);
        let pos = self.perm.permute(rank - 1);
        let off = below(self.rng.next_u64(), self.granule_words) << 3;
        self.base
            .wrapping_add(pos.wrapping_mul(self.granule))
            .wrapping_add(off)
    }
}

/// Visits node `perm(i)` for `i = start, start+1, … (mod n)`: the "next pointer"
/// of node `perm(i)` is `perm(i+1)`, a single cycle through all `n` nodes.
pub(crate) struct PointerChase {
    pub base: u64,
    pub node_size: u64,
    pub n: u64,
    pub i: u64,
    pub perm: Bijection,
}

impl AddrGen for PointerChase {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        let node = self.perm.permute(self.i);
        self.i += 1;
        if self.i >= self.n {
            self.i = 0;
        }
        self.base.wrapping_add(node.wrapping_mul(self.node_size))
    }
}

/// Replays an explicit page reference string, cyclically.
pub(crate) struct Refs {
    pub base: u64,
    pub shift: u32,
    pub refs: Arc<[u64]>,
    pub i: usize,
}

impl AddrGen for Refs {
    #[inline(always)]
    fn next_addr(&mut self) -> u64 {
        // The caller never asks for an access from an empty list (its count is
        // forced to 0), so indexing cannot fail.
        let p = self.refs[self.i];
        self.i += 1;
        if self.i >= self.refs.len() {
            self.i = 0;
        }
        self.base.wrapping_add(p.wrapping_shl(self.shift))
    }
}
