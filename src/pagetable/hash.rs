//! Hash functions and options shared by the hashed page-table designs.
//!
//! In: an address-space id and a virtual page number. Out: a well-mixed (or, to study
//! collisions, a deliberately weak) hash. Pure functions.

use serde::{Deserialize, Serialize};

/// How a hashed design hashes (asid, vpn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    /// Fibonacci (multiplicative) hashing of the mixed key: spreads any key set evenly.
    #[default]
    Multiplicative,
    /// The low bits of the page number xor the asid, as early inverted tables did:
    /// strided or aligned address patterns collide, on purpose.
    Weak,
}

/// How a hashed design finds pages of several sizes: one table per page size, probed
/// together (latency of the slowest) or one after another (4K, then 2M, then 1G).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HugeProbe {
    #[default]
    Parallel,
    Sequential,
}

/// Hash of (asid, vpn) into `bits` bits (at most 63).
#[inline(always)]
pub fn hash(kind: HashKind, asid: u16, vpn: u64, bits: u32) -> u64 {
    debug_assert!(bits < 64);
    let mask = (1u64 << bits) - 1;
    match kind {
        HashKind::Multiplicative => {
            let key = vpn ^ ((asid as u64) << 48) ^ ((asid as u64).wrapping_mul(0x9e37_79b9));
            // Fibonacci hashing: the top bits of key x 2^64/phi.
            (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits.max(1))) & mask
        }
        HashKind::Weak => (vpn ^ asid as u64) & mask,
    }
}

/// A second, independent hash (cuckoo ways, HTAB's secondary group uses the complement).
#[inline(always)]
pub fn hash_with_seed(kind: HashKind, asid: u16, vpn: u64, bits: u32, seed: u64) -> u64 {
    match kind {
        HashKind::Multiplicative => hash(kind, asid, crate::util::splitmix64(vpn ^ seed), bits),
        HashKind::Weak => hash(kind, asid, vpn.rotate_right((seed % 61) as u32 + 1), bits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiplicative_spreads_strided_keys_weak_does_not() {
        // 4096 pages 512 apart (every 2 MiB): the weak hash puts them in few buckets.
        let buckets = |k: HashKind| {
            let mut seen = std::collections::HashSet::new();
            for i in 0..4096u64 {
                seen.insert(hash(k, 1, i * 512, 12));
            }
            seen.len()
        };
        assert!(buckets(HashKind::Multiplicative) > 2000);
        assert!(buckets(HashKind::Weak) <= 8);
    }
}
