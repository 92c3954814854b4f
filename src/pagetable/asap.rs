//! ASAP's OS side (Margaritov, Ustiugov, Bugnion and Grot, "Prefetched Address
//! Translation", MICRO 2019): the regions that hold a radix table's two deepest levels
//! in sorted, contiguous physical memory, so that the address of the PL1 (PTE) and PL2
//! (PMD) node of a virtual address is base + offset, computable by hardware from range
//! registers without the pointers of the upper levels (the paper's abstract: pages of
//! the page table ordered "to match the order of the virtual pages they map", a level
//! "indexed directly with base-plus-offset arithmetic").
//!
//! Owns, for one address space's table, the region of each aligned virtual window and
//! the counts of nodes placed in regions or outside them. In: a request for the node of
//! level 1 or 2 covering a window's slot (from [`super::Radix`]'s `map`), frames from the
//! buddy allocator. Out: the node's physical address (in the region) or `None` (the
//! window fell back to ordinary 4 KiB tables); the prediction the hardware makes
//! ([`AsapRegions::predict`]); the regions' memory and counters for the report.
//!
//! **Windows, our stand-in for VMAs.** The paper keeps a region per VMA per prefetched
//! level, with bases held in range registers (that detail is assumed here: the stored
//! abstract does not give it). mmusim's workloads have no VMA list at first touch, so
//! the regions are per aligned window of the address space: a PL1 region holds the 512
//! PL1 nodes of one 1 GiB-aligned window (the node of VA v at
//! `base + ((v >> 21) & 511) * 4096`) and a PL2 region the 512 PL2 nodes of one
//! 512 GiB-aligned window (`base + ((v >> 30) & 511) * 4096`); each is one 2 MiB block
//! (512 x 4 KiB) from the buddy allocator, taken when the window's first node of that
//! level is needed. A window's untouched nodes are reserved memory (reported as
//! `unused_region_bytes`).
//!
//! **Fallback.** With no free 2 MiB block (fragmented memory, `os.fragmentation`, or
//! nearly full memory) the window's nodes of that level are ordinary 4 KiB frames from
//! the buddy allocator, for as long as the table lives (`fallback_nodes` counts them):
//! hardware has no range register for the window and predicts none of them. Regions are
//! taken from free memory only; they break no huge-page reservation.
//!
//! A region node is never given back alone (the slot stays the node's, as the paper's
//! sorted layout needs); the whole region goes back with the address space.

use crate::addr::PageSize;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use std::collections::{HashMap, HashSet};

/// Bytes of one region: 512 nodes of 4 KiB, one 2 MiB buddy block.
pub const REGION_BYTES: u64 = 2 << 20;

/// The ASAP regions of one address space's radix table.
#[derive(Debug, Default)]
pub struct AsapRegions {
    /// (level, window) -> the region's base, or `None` if the window fell back.
    windows: HashMap<(u8, u64), Option<u64>>,
    /// Bases of the regions held (2 MiB aligned).
    blocks: HashSet<u64>,
    /// Nodes now in regions.
    live_nodes: u64,
    /// Nodes ever placed in a region.
    placed_nodes: u64,
    /// Nodes allocated outside any region because their window fell back.
    fallback_nodes: u64,
}

impl AsapRegions {
    /// The physical address of the level-`level` node at slot `idx` (below 512) of
    /// window `window`, taking the window's region if it has none yet; `None` when the
    /// window falls back (the caller allocates the node as usual).
    pub fn place(
        &mut self,
        level: u8,
        window: u64,
        idx: u64,
        frames: &mut FrameAllocator,
    ) -> Option<u64> {
        let region = *self
            .windows
            .entry((level, window))
            .or_insert_with(|| frames.try_alloc_free(PageSize::Size2M));
        match region {
            Some(base) => {
                self.blocks.insert(base);
                self.live_nodes += 1;
                self.placed_nodes += 1;
                Some(base + idx * 4096)
            }
            None => {
                self.fallback_nodes += 1;
                None
            }
        }
    }

    /// The address hardware computes for the level-`level` node at slot `idx` of
    /// `window`: region base + offset, if the window has a region (a range register).
    #[inline(always)]
    pub fn predict(&self, level: u8, window: u64, idx: u64) -> Option<u64> {
        self.windows
            .get(&(level, window))
            .copied()
            .flatten()
            .map(|base| base + idx * 4096)
    }

    /// Whether the node at `paddr` lies in a region (then it is not freed alone).
    pub fn owns(&self, paddr: u64) -> bool {
        self.blocks.contains(&(paddr & !(REGION_BYTES - 1)))
    }

    /// A region node's table was released (its slot stays reserved).
    pub fn node_released(&mut self) {
        self.live_nodes -= 1;
    }

    /// Give every region back (the address space is gone).
    pub fn release_all(&mut self, frames: &mut FrameAllocator) -> Result<(), SimError> {
        let mut blocks: Vec<u64> = self.blocks.drain().collect();
        blocks.sort_unstable();
        for b in blocks {
            frames.free(b, PageSize::Size2M)?;
        }
        self.windows.clear();
        self.live_nodes = 0;
        Ok(())
    }

    /// Bytes the regions hold.
    pub fn region_bytes(&self) -> u64 {
        self.blocks.len() as u64 * REGION_BYTES
    }

    /// Nodes ever allocated outside a region (their window fell back).
    pub fn fallback_nodes(&self) -> u64 {
        self.fallback_nodes
    }

    /// The counters under `stats.page_tables[i].asap`.
    pub fn stats(&self) -> serde_json::Value {
        let regions = |l: u8| {
            (self.windows.iter())
                .filter(|(k, v)| k.0 == l && v.is_some())
                .count()
        };
        serde_json::json!({
            "pl1_regions": regions(1),
            "pl2_regions": regions(2),
            "region_bytes": self.region_bytes(),
            "unused_region_bytes": self.region_bytes() - self.live_nodes * 4096,
            "placed_nodes": self.placed_nodes,
            "fallback_nodes": self.fallback_nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrameAlloc;

    #[test]
    fn a_window_takes_one_region_and_places_nodes_by_slot() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 0);
        let mut a = AsapRegions::default();
        let first = a.place(1, 7, 0, &mut f).unwrap();
        assert_eq!(first % REGION_BYTES, 0, "a region is a 2 MiB block");
        // Slot 511 of the same window: the region's last 4 KiB.
        assert_eq!(a.place(1, 7, 511, &mut f), Some(first + 511 * 4096));
        assert_eq!(a.predict(1, 7, 3), Some(first + 3 * 4096));
        // Another level or window: none until placed.
        assert_eq!(a.predict(2, 7, 0), None);
        assert_eq!(a.predict(1, 8, 0), None);
        assert_eq!(f.bytes_in_use, REGION_BYTES);
        assert!(a.owns(first + 5 * 4096));
        let s = a.stats();
        assert_eq!(s["region_bytes"], REGION_BYTES);
        // 2 MiB held, 2 nodes in use: 2 MiB - 8 KiB unused.
        assert_eq!(s["unused_region_bytes"], REGION_BYTES - 2 * 4096);
        a.release_all(&mut f).unwrap();
        assert_eq!(f.bytes_in_use, 0);
    }

    #[test]
    fn a_window_without_a_free_block_falls_back_for_good() {
        let mut f = FrameAllocator::new(64 << 20, FrameAlloc::Sequential, 0);
        // Every 2 MiB block holds a pinned frame: no region can be had.
        f.fragment(1.0, 1);
        let mut a = AsapRegions::default();
        assert_eq!(a.place(1, 0, 0, &mut f), None);
        assert_eq!(a.place(1, 0, 1, &mut f), None);
        assert_eq!(a.predict(1, 0, 1), None);
        assert_eq!((a.fallback_nodes(), a.region_bytes()), (2, 0));
    }
}
