//! A binary buddy allocator over simulated physical memory (Knowlton 1965; the scheme
//! Linux's zoned page allocator uses, Gorman 2004, ch. 6).
//!
//! Owns which 4 KiB frames are free. Memory is split into blocks of 2^order frames,
//! order 0 (4 KiB) up to `max_order` (18 = 1 GiB by default, so 1 GiB pages are
//! possible exactly where a whole aligned gigabyte is free). In: requests for a block
//! of an order, frees of blocks, and a fragmentation set-up. Out: block addresses and
//! fragmentation figures. It knows nothing of page tables or policies.
//!
//! Allocation takes the free block of the smallest sufficient order, splitting larger
//! blocks (the upper halves go back on the free lists). Within an order it takes the
//! lowest address, so runs are deterministic; at the top order the choice may instead
//! follow a seeded shuffle (`shuffled`), which spreads a workload's memory over the
//! machine the way a long-running kernel's free lists do. Freeing merges a block with
//! its buddy (address XOR block size) while the buddy is free at the same order.
//!
//! Representation: per order an ordered set of free blocks, so the free lists cost
//! memory by the number of free blocks, not by the size of physical memory (up to 64
//! TiB may be configured). Allocated blocks are recorded with their order (one byte per
//! frame, only for the gigabytes ever allocated from) so a wrong or double free is
//! caught as an error instead of corrupting the free lists.

use crate::util::splitmix64;
use std::collections::BTreeSet;

/// Frame size: the smallest block.
pub const FRAME_SHIFT: u32 = 12;

/// Gorman's unusable-free-space index (Gorman and Whitcroft 2006): the fraction of
/// free memory that cannot serve an allocation of a given order.
#[derive(Clone, Debug, PartialEq)]
pub struct Fragmentation {
    pub free_bytes: u64,
    /// Free blocks per order (index = order).
    pub free_blocks: Vec<u64>,
    /// Unusable free space index per order (0 = all free memory usable).
    pub unusable: Vec<f64>,
}

/// The order of every allocated block, by its first frame: one byte per frame (the
/// order plus one; 0 = no block starts here), in 1 GiB chunks made on first use. A hash map cost
/// about 40 bytes per allocated block, which for millions of 4 KiB pages outweighed the
/// simulated page tables; this costs 256 KiB per gigabyte of memory ever allocated.
struct Orders {
    chunks: Vec<Option<Box<[u8]>>>,
}

const CHUNK_SHIFT: u32 = 18; // frames per chunk: 2^18 = 1 GiB

impl Orders {
    fn new(frames: u64) -> Orders {
        Orders {
            chunks: vec![None; frames.div_ceil(1 << CHUNK_SHIFT) as usize],
        }
    }

    fn get(&self, frame: u64) -> Option<u32> {
        let c = self.chunks.get((frame >> CHUNK_SHIFT) as usize)?.as_ref()?;
        match c[(frame & ((1 << CHUNK_SHIFT) - 1)) as usize] {
            0 => None,
            o => Some(o as u32 - 1),
        }
    }

    fn set(&mut self, frame: u64, order: Option<u32>) {
        let c = self.chunks[(frame >> CHUNK_SHIFT) as usize]
            .get_or_insert_with(|| vec![0u8; 1 << CHUNK_SHIFT].into_boxed_slice());
        c[(frame & ((1 << CHUNK_SHIFT) - 1)) as usize] = order.map_or(0, |o| o as u8 + 1);
    }
}

pub struct Buddy {
    frames: u64,
    max_order: u32,
    /// Free blocks per order, as (sort key, first frame); the key is the frame itself,
    /// or at the top order a seeded hash of it when shuffled.
    free: Vec<BTreeSet<(u64, u64)>>,
    /// Allocated blocks: first frame -> order.
    allocated: Orders,
    shuffle_seed: Option<u64>,
    free_frames: u64,
}

impl Buddy {
    /// Memory of `bytes` (a multiple of 4 KiB) all free. Memory that is not a multiple
    /// of the top block size ends in smaller blocks.
    pub fn new(bytes: u64, max_order: u32, shuffle_seed: Option<u64>) -> Buddy {
        assert!(max_order < 40 && bytes % (1 << FRAME_SHIFT) == 0);
        let frames = bytes >> FRAME_SHIFT;
        let mut b = Buddy {
            frames,
            max_order,
            free: vec![BTreeSet::new(); max_order as usize + 1],
            allocated: Orders::new(frames),
            shuffle_seed,
            free_frames: 0,
        };
        // Carve [0, frames) greedily into the largest aligned blocks.
        let mut f = 0u64;
        while f < frames {
            let mut order = max_order;
            while (f & ((1 << order) - 1)) != 0 || f + (1 << order) > frames {
                order -= 1;
            }
            b.push_free(f, order);
            f += 1 << order;
        }
        b
    }

    fn key(&self, frame: u64, order: u32) -> (u64, u64) {
        match self.shuffle_seed {
            Some(s) if order == self.max_order => (splitmix64(frame ^ s), frame),
            _ => (frame, frame),
        }
    }

    fn push_free(&mut self, frame: u64, order: u32) {
        let k = self.key(frame, order);
        self.free[order as usize].insert(k);
        self.free_frames += 1 << order;
    }

    fn take_free(&mut self, frame: u64, order: u32) -> bool {
        let k = self.key(frame, order);
        let hit = self.free[order as usize].remove(&k);
        if hit {
            self.free_frames -= 1 << order;
        }
        hit
    }

    pub fn max_order(&self) -> u32 {
        self.max_order
    }

    pub fn total_bytes(&self) -> u64 {
        self.frames << FRAME_SHIFT
    }

    pub fn free_bytes(&self) -> u64 {
        self.free_frames << FRAME_SHIFT
    }

    /// Whether a free block of `order` or larger exists (an allocation would succeed).
    pub fn has_free(&self, order: u32) -> bool {
        (order..=self.max_order).any(|o| !self.free[o as usize].is_empty())
    }

    /// A block of 2^order frames, aligned to its size; its physical address, or `None`
    /// when no free block of that order or larger exists.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        if order > self.max_order {
            return None;
        }
        let from = (order..=self.max_order).find(|&o| !self.free[o as usize].is_empty())?;
        let &(k, frame) = self.free[from as usize].iter().next()?;
        self.free[from as usize].remove(&(k, frame));
        self.free_frames -= 1 << from;
        // Split down: keep the lower half, free the upper half at each step.
        for o in (order..from).rev() {
            self.push_free(frame + (1 << o), o);
        }
        self.allocated.set(frame, Some(order));
        Some(frame << FRAME_SHIFT)
    }

    /// Frees a block returned by [`Buddy::alloc`] (or made by [`Buddy::split`]),
    /// merging it with free buddies.
    pub fn free(&mut self, addr: u64, order: u32) -> Result<(), String> {
        let mut frame = addr >> FRAME_SHIFT;
        match self.allocated.get(frame) {
            Some(o) if o == order => {}
            Some(o) => {
                return Err(format!(
                    "frame {addr:#x} was allocated at order {o}, freed at order {order}"
                ))
            }
            None => return Err(format!("frame {addr:#x} is not an allocated block")),
        }
        self.allocated.set(frame, None);
        let mut order = order;
        while order < self.max_order {
            let buddy = frame ^ (1 << order);
            if buddy + (1 << order) > self.frames || !self.take_free(buddy, order) {
                break;
            }
            frame &= !(1 << order);
            order += 1;
        }
        self.push_free(frame, order);
        Ok(())
    }

    /// Splits an allocated block into allocated blocks of `to_order` (demoting a huge
    /// page: each piece can then be freed on its own).
    pub fn split(&mut self, addr: u64, order: u32, to_order: u32) -> Result<(), String> {
        let frame = addr >> FRAME_SHIFT;
        if self.allocated.get(frame) != Some(order) || to_order > order {
            return Err(format!(
                "cannot split {addr:#x}: not an allocated order-{order} block"
            ));
        }
        for i in 0..(1u64 << (order - to_order)) {
            self.allocated.set(frame + (i << to_order), Some(to_order));
        }
        Ok(())
    }

    /// Whether the block at `addr` of `order` is allocated as one block.
    pub fn is_allocated(&self, addr: u64, order: u32) -> bool {
        self.allocated.get(addr >> FRAME_SHIFT) == Some(order)
    }

    /// Pre-fragments memory, as a long-running system's would be: in a seeded random
    /// `fraction` of the 2 MiB blocks of memory, one 4 KiB frame (at a random place in
    /// the block) stays allocated, pinned for the whole run, so no 2 MiB (or larger)
    /// page can use those blocks. Returns the number of pinned frames.
    pub fn fragment(&mut self, fraction: f64, seed: u64) -> u64 {
        const SMALL: u64 = 9; // 2 MiB = 2^9 frames
        let blocks = self.frames >> SMALL;
        let mut pinned = 0;
        for blk in 0..blocks {
            let h = splitmix64(seed ^ splitmix64(blk));
            // Top 53 bits as a uniform number in [0, 1).
            if ((h >> 11) as f64) / ((1u64 << 53) as f64) >= fraction {
                continue;
            }
            let frame = (blk << SMALL) + (splitmix64(h) & ((1 << SMALL) - 1));
            if self.claim(frame) {
                pinned += 1;
            }
        }
        pinned
    }

    /// Allocates exactly frame `frame` (order 0) if it is free: the free block holding
    /// it is split around it.
    fn claim(&mut self, frame: u64) -> bool {
        let Some((mut start, mut order)) = (0..=self.max_order).find_map(|o| {
            let s = frame & !((1u64 << o) - 1);
            self.free[o as usize]
                .contains(&self.key(s, o))
                .then_some((s, o))
        }) else {
            return false;
        };
        self.take_free(start, order);
        while order > 0 {
            order -= 1;
            let half = 1u64 << order;
            if frame >= start + half {
                self.push_free(start, order);
                start += half;
            } else {
                self.push_free(start + half, order);
            }
        }
        self.allocated.set(frame, Some(0));
        true
    }

    /// `frames` physically contiguous frames at the lowest address where a run of
    /// adjacent free blocks holds them (a direct segment's backing, taken once at a
    /// process's start): each frame becomes an allocated order-0 block (so an exit can
    /// free them one by one), the run's tail beyond them goes back on the free lists.
    /// `None` when no run is long enough (fragmentation, or memory in use).
    pub fn alloc_contiguous(&mut self, frames: u64) -> Option<u64> {
        if frames == 0 {
            return None;
        }
        // Every free block by address; runs of blocks that touch are contiguous free
        // memory (not merged when they are not buddies). Off the hot path: once per
        // process.
        let mut blocks: Vec<(u64, u32)> = (0..=self.max_order)
            .flat_map(|o| self.free[o as usize].iter().map(move |&(_, f)| (f, o)))
            .collect();
        blocks.sort_unstable();
        let (mut first, mut run_start, mut run_len) = (0usize, 0u64, 0u64);
        let mut end = None;
        for (i, &(f, o)) in blocks.iter().enumerate() {
            if run_len == 0 || f != run_start + run_len {
                (first, run_start, run_len) = (i, f, 0);
            }
            run_len += 1 << o;
            if run_len >= frames {
                end = Some(i);
                break;
            }
        }
        let last = end?;
        for &(f, o) in &blocks[first..=last] {
            self.take_free(f, o);
        }
        for f in run_start..run_start + frames {
            self.allocated.set(f, Some(0));
        }
        // The last block's part beyond the range, in the largest aligned blocks.
        let (lf, lo) = blocks[last];
        let (mut f, stop) = (run_start + frames, lf + (1 << lo));
        while f < stop {
            let mut order = lo;
            while f & ((1 << order) - 1) != 0 || f + (1 << order) > stop {
                order -= 1;
            }
            self.push_free(f, order);
            f += 1 << order;
        }
        Some(run_start << FRAME_SHIFT)
    }

    /// Free blocks per order and the unusable free space index per order.
    pub fn fragmentation(&self) -> Fragmentation {
        let free_blocks: Vec<u64> = self.free.iter().map(|s| s.len() as u64).collect();
        let total = self.free_frames;
        let unusable = (0..=self.max_order as usize)
            .map(|j| {
                if total == 0 {
                    return 0.0;
                }
                let usable: u64 = (j..free_blocks.len()).map(|i| free_blocks[i] << i).sum();
                (total - usable) as f64 / total as f64
            })
            .collect();
        Fragmentation {
            free_bytes: total << FRAME_SHIFT,
            free_blocks,
            unusable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    const MIB: u64 = 1 << 20;

    #[test]
    fn a_contiguous_range_spans_touching_blocks_and_frees_its_tail() {
        // 64 KiB, max order 2 (16 KiB blocks): four free order-2 blocks at frames 0,
        // 4, 8, 12. Pin frame 5 (claim splits block 4 into [4] order 0, [5] pinned,
        // [6,7] order 1). Free runs by address: [0..4) then [6..16) (blocks 6/1, 8/2,
        // 12/2 touch). 7 frames: the first run holds 4 only, so the range starts at 6
        // and takes 6..13; block 12 (12..16) leaves 13 (order 0) and 14..16 (order 1).
        let mut b = Buddy::new(64 << 10, 2, None);
        assert!(b.claim(5));
        assert_eq!(b.alloc_contiguous(7), Some(6 << FRAME_SHIFT));
        // Free now: block 0 (order 2), frame 4 (order 0), 13 (order 0), 14 (order 1).
        assert_eq!(b.fragmentation().free_blocks, vec![2, 1, 1]);
        assert_eq!(b.free_bytes(), (4 + 1 + 1 + 2) << FRAME_SHIFT);
        // Each frame is an order-0 block: freeing them all merges memory back.
        for f in 6..13u64 {
            assert!(b.is_allocated(f << FRAME_SHIFT, 0));
            b.free(f << FRAME_SHIFT, 0).unwrap();
        }
        b.free(5 << FRAME_SHIFT, 0).unwrap();
        assert_eq!(b.fragmentation().free_blocks, vec![0, 0, 4]);
        // 17 frames never fit in 16.
        assert_eq!(b.alloc_contiguous(17), None);
    }

    #[test]
    fn splitting_and_merging_follow_the_buddy_rule() {
        // 16 KiB of memory, max order 2: one free order-2 block.
        let mut b = Buddy::new(16 << 10, 2, None);
        assert_eq!(b.fragmentation().free_blocks, vec![0, 0, 1]);
        // One frame: the block splits into [0] allocated, [1] free (order 0), [2,3]
        // free (order 1).
        assert_eq!(b.alloc(0), Some(0));
        assert_eq!(b.fragmentation().free_blocks, vec![1, 1, 0]);
        assert_eq!(b.alloc(0), Some(4096)); // the buddy of frame 0
        assert_eq!(b.alloc(1), Some(8192));
        assert_eq!(b.alloc(0), None);
        // Freeing frame 0 cannot merge (its buddy, frame 1, is in use) ...
        b.free(0, 0).unwrap();
        assert_eq!(b.fragmentation().free_blocks, vec![1, 0, 0]);
        // ... freeing frame 1 merges to order 1, and freeing the order-1 block at
        // frame 2 merges everything back into one order-2 block.
        b.free(4096, 0).unwrap();
        assert_eq!(b.fragmentation().free_blocks, vec![0, 1, 0]);
        b.free(8192, 1).unwrap();
        assert_eq!(b.fragmentation().free_blocks, vec![0, 0, 1]);
        assert!(b.free(8192, 1).is_err(), "double free is refused");
    }

    #[test]
    fn odd_sizes_end_in_smaller_blocks() {
        // 2 MiB + 12 KiB with max order 9: one 2 MiB block, then 8 KiB and 4 KiB.
        let b = Buddy::new(2 * MIB + (12 << 10), 9, None);
        let f = b.fragmentation();
        assert_eq!(f.free_blocks[9], 1);
        assert_eq!(f.free_blocks[1], 1);
        assert_eq!(f.free_blocks[0], 1);
        assert_eq!(f.free_bytes, 2 * MIB + (12 << 10));
    }

    /// Random allocations and frees against a frame-by-frame reference: blocks are
    /// aligned, never overlap, the free count matches, and freeing everything restores
    /// the initial free lists (every merge happened).
    #[test]
    fn random_traffic_keeps_blocks_disjoint_and_merges_fully() {
        for (seed, shuffle) in [(1u64, None), (2, Some(77u64)), (3, None)] {
            let bytes = 8 * MIB + (20 << 10);
            let mut b = Buddy::new(bytes, 10, shuffle);
            let initial = b.fragmentation();
            let frames = (bytes >> 12) as usize;
            let mut owner = vec![false; frames];
            let mut live: Vec<(u64, u32)> = Vec::new();
            let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
            for _ in 0..4000 {
                if live.is_empty() || r.next_u64() % 3 != 0 {
                    let order = (r.next_u64() % 11) as u32;
                    // Whether the reference thinks some aligned block of that order is
                    // free (the allocator must succeed exactly then, since the buddy
                    // scheme keeps every free aligned block findable).
                    let n = 1usize << order;
                    let fits = (0..frames / n * n)
                        .step_by(n)
                        .any(|s| s + n <= frames && owner[s..s + n].iter().all(|o| !o));
                    match b.alloc(order) {
                        Some(a) => {
                            let s = (a >> 12) as usize;
                            assert_eq!(s % n, 0, "aligned");
                            assert!(owner[s..s + n].iter().all(|o| !o), "overlap");
                            owner[s..s + n].iter_mut().for_each(|o| *o = true);
                            live.push((a, order));
                        }
                        None => assert!(!fits, "order {order} refused while a block was free"),
                    }
                } else {
                    let i = (r.next_u64() % live.len() as u64) as usize;
                    let (a, order) = live.swap_remove(i);
                    let s = (a >> 12) as usize;
                    owner[s..s + (1 << order)]
                        .iter_mut()
                        .for_each(|o| *o = false);
                    b.free(a, order).unwrap();
                }
                let used = owner.iter().filter(|&&o| o).count() as u64;
                assert_eq!(b.free_bytes(), bytes - (used << 12));
            }
            for (a, order) in live.drain(..) {
                b.free(a, order).unwrap();
            }
            assert_eq!(b.fragmentation(), initial);
        }
    }

    #[test]
    fn fragmenting_pins_one_frame_in_the_chosen_share_of_2m_blocks() {
        let mut b = Buddy::new(1 << 30, 18, None);
        let pinned = b.fragment(0.25, 9);
        // 512 blocks of 2 MiB; about a quarter pinned (binomial, sd ~ 10).
        assert!((90..=166).contains(&pinned), "{pinned}");
        // Exactly the unpinned 2 MiB blocks can still be allocated as 2 MiB pages.
        let mut huge = 0;
        while b.alloc(9).is_some() {
            huge += 1;
        }
        assert_eq!(huge, 512 - pinned);
        let f = b.fragmentation();
        // What is left is the pinned blocks' other 511 frames: all unusable for 2M.
        assert_eq!(f.free_bytes, pinned * 511 * 4096);
        assert_eq!(f.unusable[9], 1.0);
        assert_eq!(f.unusable[0], 0.0);
        // Same seed, same frames.
        let mut c = Buddy::new(1 << 30, 18, None);
        assert_eq!(c.fragment(0.25, 9), pinned);
    }

    #[test]
    fn split_blocks_free_piece_by_piece() {
        let mut b = Buddy::new(4 * MIB, 9, None);
        let a = b.alloc(9).unwrap();
        b.split(a, 9, 0).unwrap();
        assert!(b.is_allocated(a + 4096, 0));
        for i in 0..512 {
            b.free(a + i * 4096, 0).unwrap();
        }
        assert_eq!(b.free_bytes(), 4 * MIB);
        assert_eq!(b.fragmentation().free_blocks[9], 2);
    }

    #[test]
    fn shuffled_top_order_is_seeded_and_still_aligned() {
        let take = |seed| {
            let mut b = Buddy::new(64 * MIB, 9, Some(seed));
            (0..8).map(|_| b.alloc(9).unwrap()).collect::<Vec<_>>()
        };
        let a = take(5);
        assert_eq!(a, take(5));
        assert_ne!(a, take(6));
        assert!(a.iter().all(|x| x % (2 * MIB) == 0));
        assert_ne!(a, (0..8).map(|i| i * 2 * MIB).collect::<Vec<_>>());
    }
}
