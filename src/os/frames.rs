//! Physical frame allocation for data pages and page-table pages, on a binary buddy
//! allocator ([`super::buddy::Buddy`]).
//!
//! Owns the machine's physical memory. In: requests for a frame of a page size (4K, 2M,
//! 1G), from the OS model for data pages and from the page-table designs for their
//! nodes and arrays; frees; a fragmentation set-up. Out: frame addresses aligned to
//! their size, or an out-of-memory error naming `os.phys_mem`, and fragmentation
//! figures for the stats.
//!
//! Huge pages are possible exactly where the buddy allocator still has a free aligned
//! block of their size, so fragmentation (set up at start with `os.fragmentation`, or
//! made by the run itself) decides whether a huge-page policy gets its pages.
//! `frame_alloc = "shuffled"` takes the 1 GiB top-order blocks in a seeded random order
//! (memory as a long-running system leaves it: a workload's frames land in unrelated
//! gigabytes); `"sequential"` takes the lowest address first. Inside a top block, and
//! with either mode, page-table pages and data pages are carved from the same blocks,
//! as in a real kernel.

use super::buddy::{Buddy, Fragmentation};
use crate::addr::PageSize;
use crate::config::FrameAlloc;
use crate::SimError;
use std::collections::{BTreeMap, HashMap};

/// 1 GiB blocks: the largest page size.
const MAX_ORDER: u32 = 18;

pub struct FrameAllocator {
    buddy: Buddy,
    /// Frames pinned by the fragmentation set-up (never freed).
    pub pinned_frames: u64,
    /// Bytes handed out as frames (data and tables), pinned frames excluded.
    pub bytes_in_use: u64,
    /// 2 MiB reservations (the `reserve` huge-page policy): reclaimable memory. Any
    /// allocation that finds no free block breaks the oldest one first (as an
    /// allocator enters reclaim), so page tables can always take memory back from
    /// reservations. By age: sequence number -> (block, which 4K pages are in use).
    reservations: BTreeMap<u64, (u64, [u64; 8])>,
    reservation_of: HashMap<u64, u64>,
    next_seq: u64,
    /// Reservations broken so far.
    pub reservations_broken: u64,
}

fn order(size: PageSize) -> u32 {
    size.shift() - 12
}

impl FrameAllocator {
    pub fn new(phys_mem: u64, mode: FrameAlloc, seed: u64) -> FrameAllocator {
        let shuffle = (mode == FrameAlloc::Shuffled).then_some(seed);
        FrameAllocator {
            buddy: Buddy::new(phys_mem & !0xfff, MAX_ORDER, shuffle),
            pinned_frames: 0,
            bytes_in_use: 0,
            reservations: BTreeMap::new(),
            reservation_of: HashMap::new(),
            next_seq: 0,
            reservations_broken: 0,
        }
    }

    /// Pins one 4 KiB frame in a seeded random `fraction` of the 2 MiB blocks (see
    /// [`Buddy::fragment`]): those blocks can no longer hold a 2M or 1G page.
    pub fn fragment(&mut self, fraction: f64, seed: u64) -> u64 {
        let n = self.buddy.fragment(fraction, seed);
        self.pinned_frames += n;
        n
    }

    fn oom(&self, what: PageSize) -> SimError {
        SimError(format!(
            "physical memory exhausted allocating a {what} frame ({} MiB of {} MiB in use, {} MiB free in blocks too small); raise os.phys_mem",
            self.bytes_in_use >> 20,
            self.buddy.total_bytes() >> 20,
            self.buddy.free_bytes() >> 20
        ))
    }

    /// A frame of `size`, aligned to its size, or `None` when no free block that large
    /// is left even after breaking every reservation (a huge-page policy then falls
    /// back).
    pub fn try_alloc(&mut self, size: PageSize) -> Option<u64> {
        loop {
            if let Some(pa) = self.try_alloc_free(size) {
                return Some(pa);
            }
            if !self.break_oldest_reservation() {
                return None;
            }
        }
    }

    /// [`FrameAllocator::try_alloc`] from free memory only, reclaiming nothing.
    pub fn try_alloc_free(&mut self, size: PageSize) -> Option<u64> {
        let pa = self.buddy.alloc(order(size))?;
        self.bytes_in_use += size.bytes();
        Some(pa)
    }

    /// A new 2 MiB reservation from free memory (never by breaking another).
    pub fn reserve(&mut self) -> Option<u64> {
        let block = self.try_alloc_free(PageSize::Size2M)?;
        self.reservations.insert(self.next_seq, (block, [0; 8]));
        self.reservation_of.insert(block, self.next_seq);
        self.next_seq += 1;
        Some(block)
    }

    /// Whether `block` is still reserved (not broken, not promoted).
    pub fn is_reserved(&self, block: u64) -> bool {
        self.reservation_of.contains_key(&block)
    }

    /// Records that 4K page `page` (0..512) of reservation `block` is now in use.
    pub fn populate(&mut self, block: u64, page: u64) {
        if let Some(seq) = self.reservation_of.get(&block) {
            let r = self.reservations.get_mut(seq).expect("indexed");
            r.1[(page / 64) as usize] |= 1 << (page % 64);
        }
    }

    /// Ends reservation `block` as a whole 2M frame (promotion in place).
    pub fn unreserve(&mut self, block: u64) {
        if let Some(seq) = self.reservation_of.remove(&block) {
            self.reservations.remove(&seq);
        }
    }

    /// Breaks reservation `block` if it is live (the program unmaps part of it).
    pub fn break_reservation(&mut self, block: u64) {
        if let Some(seq) = self.reservation_of.remove(&block) {
            let (_, used) = self.reservations.remove(&seq).expect("indexed");
            self.split_reservation(block, used);
        }
    }

    /// Breaks the oldest reservation: the block becomes 512 frames, the unused ones
    /// free. Returns false when there is none.
    fn break_oldest_reservation(&mut self) -> bool {
        let Some((_, (block, used))) = self.reservations.pop_first() else {
            return false;
        };
        self.reservation_of.remove(&block);
        self.split_reservation(block, used);
        true
    }

    fn split_reservation(&mut self, block: u64, used: [u64; 8]) {
        self.buddy
            .split(block, order(PageSize::Size2M), 0)
            .expect("a reservation is an allocated 2M block");
        for i in 0..512u64 {
            if used[(i / 64) as usize] >> (i % 64) & 1 == 0 {
                self.buddy
                    .free(block + i * 4096, 0)
                    .expect("an unused piece of a split reservation");
                self.bytes_in_use -= 4096;
            }
        }
        self.reservations_broken += 1;
    }

    /// `bytes` (a multiple of 4 KiB) of physically contiguous memory, from free memory
    /// only (a direct segment's backing); `None` when no free run is that long.
    pub fn alloc_contiguous(&mut self, bytes: u64) -> Option<u64> {
        let pa = self.buddy.alloc_contiguous(bytes >> 12)?;
        self.bytes_in_use += bytes;
        Some(pa)
    }

    /// A free block of 2^`order` frames, from free memory only, made into allocated
    /// 4 KiB frames (so each can be freed on its own): eager paging's blocks. `None`
    /// when no free block that large exists.
    pub fn alloc_block(&mut self, order: u32) -> Option<u64> {
        let pa = self.buddy.alloc(order)?;
        self.buddy
            .split(pa, order, 0)
            .expect("a block just allocated");
        self.bytes_in_use += 4096 << order;
        Some(pa)
    }

    /// A frame of `size`, aligned to its size; running out is an error.
    pub fn alloc(&mut self, size: PageSize) -> Result<u64, SimError> {
        self.try_alloc(size).ok_or_else(|| self.oom(size))
    }

    /// Gives back a frame returned by [`FrameAllocator::alloc`] with the same size.
    pub fn free(&mut self, pa: u64, size: PageSize) -> Result<(), SimError> {
        self.buddy
            .free(pa, order(size))
            .map_err(|e| SimError(format!("internal: freeing a {size} frame: {e}")))?;
        self.bytes_in_use -= size.bytes();
        Ok(())
    }

    /// Makes the allocated frame `pa` of `size` into allocated 4 KiB frames (a huge
    /// page demoted: each piece can then be freed on its own).
    pub fn split(&mut self, pa: u64, size: PageSize) -> Result<(), SimError> {
        self.buddy
            .split(pa, order(size), 0)
            .map_err(|e| SimError(format!("internal: splitting a {size} frame: {e}")))
    }

    /// Whether a free block of `size` (or larger) exists.
    pub fn can_alloc(&self, size: PageSize) -> bool {
        self.buddy.has_free(order(size))
    }

    pub fn total_bytes(&self) -> u64 {
        self.buddy.total_bytes()
    }

    pub fn free_bytes(&self) -> u64 {
        self.buddy.free_bytes()
    }

    /// Free blocks per order and the unusable-free-space index.
    pub fn fragmentation(&self) -> Fragmentation {
        self.buddy.fragmentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn frames_never_overlap_and_are_aligned() {
        for mode in [FrameAlloc::Sequential, FrameAlloc::Shuffled] {
            let mut f = FrameAllocator::new((8 << 30) + (6 << 20), mode, 7);
            let mut taken: Vec<(u64, u64)> = Vec::new();
            for i in 0..3000 {
                let size = match i % 500 {
                    0 => PageSize::Size1G,
                    1..=50 => PageSize::Size2M,
                    _ => PageSize::Size4K,
                };
                let pa = f.alloc(size).unwrap();
                assert_eq!(pa % size.bytes(), 0);
                assert!(pa + size.bytes() <= (8 << 30) + (6 << 20));
                taken.push((pa, pa + size.bytes()));
            }
            taken.sort();
            for w in taken.windows(2) {
                assert!(
                    w[0].1 <= w[1].0,
                    "{mode:?}: {:x?} overlaps {:x?}",
                    w[0],
                    w[1]
                );
            }
            let used: u64 = taken.iter().map(|(a, b)| b - a).sum();
            assert_eq!(f.bytes_in_use, used);
            assert_eq!(f.free_bytes() + used, f.total_bytes());
        }
    }

    #[test]
    fn shuffled_frames_are_scattered_and_sequential_ones_are_not() {
        let mut seq = FrameAllocator::new(8 << 30, FrameAlloc::Sequential, 0);
        let a: Vec<u64> = (0..2)
            .map(|_| seq.alloc(PageSize::Size1G).unwrap())
            .collect();
        assert_eq!(a, vec![0, 1 << 30]);
        let mut sh = FrameAllocator::new(8 << 30, FrameAlloc::Shuffled, 0);
        let b: Vec<u64> = (0..8)
            .map(|_| sh.alloc(PageSize::Size1G).unwrap())
            .collect();
        assert!(b.windows(2).any(|w| w[1] != w[0] + (1 << 30)));
        let mut sorted = b.clone();
        sorted.sort();
        assert_eq!(sorted, (0..8).map(|i| i << 30).collect::<Vec<_>>());
    }

    #[test]
    fn exhaustion_is_an_error_and_freeing_makes_room() {
        let mut f = FrameAllocator::new(4 << 20, FrameAlloc::Sequential, 0);
        let mut seen = HashSet::new();
        for _ in 0..1024 {
            assert!(seen.insert(f.alloc(PageSize::Size4K).unwrap()));
        }
        let e = f.alloc(PageSize::Size4K).unwrap_err();
        assert!(e.0.contains("os.phys_mem"), "{e}");
        assert!(f.alloc(PageSize::Size1G).is_err());
        assert!(f.try_alloc(PageSize::Size2M).is_none());
        // Free one 2 MiB half frame by frame: the buddies merge back into a 2M block.
        for pa in seen.iter().copied().filter(|&pa| pa < 2 << 20) {
            f.free(pa, PageSize::Size4K).unwrap();
        }
        assert!(f.can_alloc(PageSize::Size2M));
        assert_eq!(f.try_alloc(PageSize::Size2M), Some(0));
        assert!(
            f.free(0x1000, PageSize::Size4K).is_err(),
            "not allocated as 4K"
        );
    }

    #[test]
    fn full_fragmentation_leaves_no_huge_block() {
        let mut f = FrameAllocator::new(64 << 20, FrameAlloc::Sequential, 0);
        assert_eq!(f.fragment(1.0, 3), 32);
        assert!(!f.can_alloc(PageSize::Size2M));
        assert!(f.try_alloc(PageSize::Size2M).is_none());
        assert!(f.try_alloc(PageSize::Size4K).is_some());
        assert_eq!(
            f.bytes_in_use, 4096,
            "pinned frames are not counted as in use"
        );
    }
}
