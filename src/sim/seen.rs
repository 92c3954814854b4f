//! Which translations a core has ever used: the test behind "compulsory" TLB misses.
//!
//! A miss is compulsory (the first C of the three Cs) when the core has never held the
//! translation before: no TLB of any size or associativity could have hit. The set is
//! per core, keyed by address space (threads of a process share it), page size and page
//! number, and is never cleared (not at
//! the end of warm-up either: a page met during warm-up is not new afterwards).
//!
//! In: (process, page size, virtual page) of each walk's translation. Out: whether it
//! is the first. Pages are bits in 32 Ki-page chunks, so a footprint of N pages costs
//! N/8 bytes plus one map entry per chunk (a multiplicative hash: one probe per walk).
//! Memory is allocated only when a new chunk is first met.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const CHUNK_BITS: u32 = 15;
const WORDS: usize = (1 << CHUNK_BITS) / 64;

/// A multiplicative hash of the one `u64` chunk key (SipHash would cost more than the
/// rest of the lookup; the keys are not adversarial).
#[derive(Default)]
struct ChunkHasher(u64);

impl Hasher for ChunkHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 ^= self.0 >> 32;
    }
}

/// Chunks remembered in front of the map, direct-mapped by chunk key: a footprint of up
/// to this many chunks (512 Ki pages, 2 GiB of 4K pages) finds its chunk with one
/// compare instead of a hash-map probe.
const RECENT: usize = 16;

/// The translations one core has used (see the module doc).
pub(super) struct SeenPages {
    /// Chunk key -> index in `chunks`.
    index: HashMap<u64, u32, BuildHasherDefault<ChunkHasher>>,
    chunks: Vec<Box<[u64; WORDS]>>,
    /// (chunk key, chunk) of recently used chunks: a pointer into the chunk's box,
    /// which never moves nor goes while `self` lives (chunks are only added), so a hit
    /// loads no index and checks no bound. `u64::MAX`: none (no key has all bits set:
    /// the address-space bits above 48 stay clear).
    recent: [(u64, *mut [u64; WORDS]); RECENT],
}

// SAFETY: the pointers in `recent` are into boxes `self` owns (`chunks`), which move
// with it; nothing else holds them.
unsafe impl Send for SeenPages {}

impl Default for SeenPages {
    fn default() -> Self {
        SeenPages {
            index: HashMap::default(),
            chunks: Vec::new(),
            recent: [(u64::MAX, std::ptr::null_mut()); RECENT],
        }
    }
}

impl SeenPages {
    /// Marks (address space, size code, page number) used; true the first time.
    /// Inlined into the walk path: the common case is one compare and one bit; a chunk
    /// not in `recent` takes the out-of-line [`SeenPages::chunk_of`].
    #[inline(always)]
    pub(super) fn first_use(&mut self, space: usize, size_code: u8, vpn: u64) -> bool {
        // 57-bit addresses leave 45 page-number bits: the chunk number fits 30 bits
        // beside 2 size bits and 32 address-space bits.
        let key = ((space as u64) << 32) ^ ((size_code as u64) << 30) ^ (vpn >> CHUNK_BITS);
        // `recent`'s empty slots (null) are keyed `u64::MAX`, which no key is.
        debug_assert!(key != u64::MAX);
        let bit = (vpn & ((1 << CHUNK_BITS) - 1)) as usize;
        let slot = self.recent[key as usize % RECENT];
        let chunk = if slot.0 == key {
            slot.1
        } else {
            self.chunk_of(key)
        };
        // SAFETY: a chunk of `self.chunks` (`recent`), borrowed mutably with `self`.
        let chunk = unsafe { &mut *chunk };
        let (w, m) = (bit / 64, 1u64 << (bit % 64));
        let new = chunk[w] & m == 0;
        chunk[w] |= m;
        new
    }

    /// The chunk of `key` through the map (made if new), remembered in `recent`.
    #[inline(never)]
    fn chunk_of(&mut self, key: u64) -> *mut [u64; WORDS] {
        let chunks = &mut self.chunks;
        let i = *self.index.entry(key).or_insert_with(|| {
            chunks.push(Box::new([0; WORDS]));
            (chunks.len() - 1) as u32
        });
        let chunk: *mut [u64; WORDS] = &mut *self.chunks[i as usize];
        self.recent[key as usize % RECENT] = (key, chunk);
        chunk
    }
}

#[cfg(test)]
mod tests {
    use super::SeenPages;

    /// Each (process, size, page) is new exactly once, against a brute-force set.
    #[test]
    fn first_use_once_per_translation() {
        let mut s = SeenPages::default();
        let mut brute = std::collections::HashSet::new();
        let mut x: u64 = 12345;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let proc = (x >> 60) as usize % 3;
            let size = (x >> 58) as u8 % 3;
            let vpn = (x >> 20) % 200_000 + if x & 1 == 0 { 1 << 44 } else { 0 };
            assert_eq!(
                s.first_use(proc, size, vpn),
                brute.insert((proc, size, vpn))
            );
        }
    }
}
