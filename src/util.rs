//! Small shared helpers: a seeded bijection over `[0, n)` and seed mixing.
//!
//! The bijection lets the simulator shuffle huge index spaces (every frame of 64 GiB of
//! physical memory) with no table: a seeded mix of invertible steps over the next power
//! of two, applied again while the result falls outside `[0, n)` ("cycle walking"). Each
//! step is a bijection on k-bit words, so the whole is a permutation of `[0, n)`.

/// splitmix64 finaliser: a well-mixed 64-bit hash of `x` (used to derive seeds).
#[inline(always)]
pub fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A seeded permutation of `[0, n)`.
#[derive(Clone, Debug)]
pub struct Permutation {
    n: u64,
    bits: u32,
    mask: u64,
    mul: [u64; 3],
    add: [u64; 3],
}

impl Permutation {
    pub fn new(n: u64, seed: u64) -> Permutation {
        assert!(n > 0);
        let bits = 64 - (n - 1).leading_zeros().min(63);
        let mask = if bits >= 64 {
            u64::MAX
        } else {
            (1u64 << bits) - 1
        };
        let mut s = seed;
        let mut next = || {
            s = mix64(s);
            s
        };
        Permutation {
            n,
            bits,
            mask,
            mul: [next() | 1, next() | 1, next() | 1],
            add: [next(), next(), next()],
        }
    }

    #[inline(always)]
    fn round(&self, mut x: u64) -> u64 {
        let half = self.bits.div_ceil(2).max(1);
        for r in 0..3 {
            // Multiplication by an odd number and addition are bijections mod 2^bits;
            // x ^= x >> half is one too (its top half is unchanged, so it inverts).
            x = x.wrapping_mul(self.mul[r]).wrapping_add(self.add[r]) & self.mask;
            x ^= x >> half;
        }
        x
    }

    /// The image of `i` (which must be below `n`).
    #[inline(always)]
    pub fn apply(&self, i: u64) -> u64 {
        debug_assert!(i < self.n);
        let mut x = self.round(i);
        while x >= self.n {
            x = self.round(x);
        }
        x
    }

    pub fn len(&self) -> u64 {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 7, 64, 1000, 4097] {
            for seed in 0..3 {
                let p = Permutation::new(n, seed);
                let mut seen = vec![false; n as usize];
                for i in 0..n {
                    let j = p.apply(i) as usize;
                    assert!(!seen[j], "n {n} seed {seed}: {j} twice");
                    seen[j] = true;
                }
            }
        }
        // It actually shuffles.
        let p = Permutation::new(1000, 1);
        assert!((0..1000).filter(|&i| p.apply(i) == i).count() < 20);
    }
}
