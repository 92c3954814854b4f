//! [`MemReads`]: the memory reads one TLB probe made, for the hierarchy's caller to
//! price (organisations whose entries live in the data caches or DRAM). In: the
//! organisation's reads, in order. Out: them, as a slice. Fixed capacity, no allocation.

/// The memory reads one lookup made, for the caller to price through the memory
/// hierarchy (organisations that keep entries in the data caches or DRAM). Fixed
/// capacity: the per-access path allocates nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemReads {
    n: u8,
    paddr: [u64; MemReads::CAPACITY],
}

impl MemReads {
    /// Reads one lookup may make (an organisation reads at most this many blocks).
    pub const CAPACITY: usize = 8;

    /// Record a read of physical address `paddr`.
    #[inline(always)]
    pub fn push(&mut self, paddr: u64) {
        debug_assert!(
            (self.n as usize) < Self::CAPACITY,
            "more reads than MemReads holds"
        );
        if (self.n as usize) < Self::CAPACITY {
            self.paddr[self.n as usize] = paddr;
            self.n += 1;
        }
    }

    pub fn as_slice(&self) -> &[u64] {
        &self.paddr[..self.n as usize]
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
}
