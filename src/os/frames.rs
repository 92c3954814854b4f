//! Physical frame allocation for data pages and page-table pages.
//!
//! Memory is viewed as 1 GiB regions taken in a fixed order (ascending, or a seeded
//! shuffle). 2 MiB blocks are taken from the regions at the front of that order, one
//! region at a time (in order, or shuffled inside the region); 4 KiB frames (data pages
//! and page-table nodes alike) are carved from the current block in order, so
//! page-table pages sit among data pages as they do in a real kernel. 1 GiB pages take
//! whole regions from the back of the order. When front and back meet, memory is
//! exhausted: an error, never a silent wrap. The buddy allocator of the OS model will
//! replace this.

use crate::addr::PageSize;
use crate::config::FrameAlloc;
use crate::util::Bijection;
use crate::SimError;

const BLOCK: u64 = 2 << 20;
const BLOCKS_PER_REGION: u64 = 512;

pub struct FrameAllocator {
    n_blocks: u64,
    seed: u64,
    regions: Option<Bijection>,
    /// Region-order positions [0, front) serve blocks; [back, n_regions) hold 1G pages.
    front: u64,
    back: u64,
    /// The region blocks are being taken from: (region, its block order, next block).
    cur_region: Option<(u64, Option<Bijection>, u64)>,
    cur_block: Option<u64>,
    cur_next: u64,
    /// Bytes handed out as frames (data and tables).
    pub bytes_in_use: u64,
}

impl FrameAllocator {
    pub fn new(phys_mem: u64, mode: FrameAlloc, seed: u64) -> FrameAllocator {
        let n_blocks = phys_mem / BLOCK;
        let n_regions = n_blocks.div_ceil(BLOCKS_PER_REGION);
        FrameAllocator {
            n_blocks,
            seed,
            regions: (mode == FrameAlloc::Shuffled).then(|| Bijection::new(n_regions, seed)),
            front: 0,
            back: n_regions,
            cur_region: None,
            cur_block: None,
            cur_next: 0,
            bytes_in_use: 0,
        }
    }

    fn oom(&self, what: &str) -> SimError {
        SimError(format!(
            "physical memory exhausted allocating a {what} frame ({} MiB of {} MiB in use); raise os.phys_mem",
            self.bytes_in_use >> 20,
            (self.n_blocks * BLOCK) >> 20
        ))
    }

    fn region_at(&self, pos: u64) -> u64 {
        self.regions.as_ref().map_or(pos, |p| p.permute(pos))
    }

    fn blocks_in(&self, region: u64) -> u64 {
        BLOCKS_PER_REGION.min(self.n_blocks - region * BLOCKS_PER_REGION)
    }

    fn take_block(&mut self) -> Result<u64, SimError> {
        loop {
            if let Some((r, order, next)) = &mut self.cur_region {
                let n = BLOCKS_PER_REGION.min(self.n_blocks - *r * BLOCKS_PER_REGION);
                if *next < n {
                    let k = order.as_ref().map_or(*next, |p| p.permute(*next));
                    *next += 1;
                    return Ok((*r * BLOCKS_PER_REGION + k) * BLOCK);
                }
            }
            if self.front >= self.back {
                return Err(self.oom("2M"));
            }
            let r = self.region_at(self.front);
            self.front += 1;
            let order = self
                .regions
                .is_some()
                .then(|| Bijection::new(self.blocks_in(r), self.seed ^ r.wrapping_mul(0x9e37)));
            self.cur_region = Some((r, order, 0));
        }
    }

    /// A frame of `size`, aligned to its size.
    pub fn alloc(&mut self, size: PageSize) -> Result<u64, SimError> {
        let pa = match size {
            PageSize::Size4K => {
                let base = match self.cur_block {
                    Some(b) if self.cur_next < BLOCK => b,
                    _ => {
                        let b = self.take_block()?;
                        self.cur_block = Some(b);
                        self.cur_next = 0;
                        b
                    }
                };
                let pa = base + self.cur_next;
                self.cur_next += 4096;
                pa
            }
            PageSize::Size2M => self.take_block()?,
            PageSize::Size1G => loop {
                if self.back <= self.front {
                    return Err(self.oom("1G"));
                }
                self.back -= 1;
                let r = self.region_at(self.back);
                // A partial region at the end of memory cannot hold a 1G page.
                if self.blocks_in(r) == BLOCKS_PER_REGION {
                    break r << 30;
                }
            },
        };
        self.bytes_in_use += size.bytes();
        Ok(pa)
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
        }
    }

    #[test]
    fn shuffled_frames_are_scattered_and_sequential_ones_are_not() {
        let mut seq = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 0);
        let a: Vec<u64> = (0..2)
            .map(|_| seq.alloc(PageSize::Size2M).unwrap())
            .collect();
        assert_eq!(a, vec![0, 2 << 20]);
        let mut sh = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 0);
        let b: Vec<u64> = (0..8)
            .map(|_| sh.alloc(PageSize::Size2M).unwrap())
            .collect();
        assert!(b.windows(2).any(|w| w[1] != w[0] + (2 << 20)));
    }

    #[test]
    fn exhaustion_is_an_error() {
        let mut f = FrameAllocator::new(4 << 20, FrameAlloc::Sequential, 0);
        let mut seen = HashSet::new();
        for _ in 0..1024 {
            assert!(seen.insert(f.alloc(PageSize::Size4K).unwrap()));
        }
        let e = f.alloc(PageSize::Size4K).unwrap_err();
        assert!(e.0.contains("os.phys_mem"), "{e}");
        assert!(f.alloc(PageSize::Size1G).is_err());
    }
}
