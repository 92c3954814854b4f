//! TLB blocks in a cache level (Victima: Kanellopoulos, Nam, Bostanci, Bera,
//! Sadrosadati, Kumar, Bartolini and Mutlu, MICRO 2023).
//!
//! Owns the block side of a level that holds them: a way of the level may hold, instead
//! of a physical line, the eight translations of one PTE cache line (8 x 8-byte PTEs =
//! 8 contiguous virtual pages of one size). A block is tagged by (address space, page
//! size, VPN without its low 3 bits) in a tag space no physical line can reach (bit 62:
//! line numbers are physical addresses shifted right by the line size, far below), sits
//! in the set its VPN group indexes, and competes with data and PTE lines for the set's
//! ways. In: peeks, insertions and invalidations from the miss path
//! (`crate::sim::victima`). Out: whether a block is held (and which of its pages were
//! present when it was made), and the counters of [`BlockStats`].
//!
//! Replacement (TLB-aware), after the paper's Listing 5.1 (section 5; read through a
//! summary, not checked against the PDF): a block is inserted at the policy's insertion
//! position for reused lines (SRRIP's RRPV 0 there; here LRU's most recent), and a
//! block chosen as victim for the first time is skipped: marked, promoted, and the
//! policy asked again, whose answer goes whatever it holds; a marked block chosen again
//! goes. The Victima artifact's SRRIP (`CMU-SAFARI/Victima@bdcbda5:sniper/common/core/
//! memory_subsystem/cache/cache_set_srrip.cc` lines 32-137) also inserts blocks at RRPV
//! 0 but skips block victims while its query attempts last, not once per block. The
//! caches here are LRU, PLRU, FIFO or random, not SRRIP: RRPV 0 maps to the most recent
//! position, a skip to a promotion. Not modelled: the paper's gating of both on an L2
//! TLB MPKI above 5 (always on here) and its RRPV step of 3 on a block hit (a hit
//! makes the block most recent, as any hit does).

use super::{Cache, MemorySystem};
use serde::Serialize;

/// The tag bit of a TLB block's key: above every physical line number, below
/// [`crate::assoc::INVALID`]'s pattern (which has every bit set).
pub const TLB_BLOCK: u64 = 1 << 62;

/// Kinds of way values in a level holding blocks (the low byte); a block's value also
/// carries, in bits 8..16, which of its 8 pages were present when it was made, and in
/// bit 16 whether replacement has skipped it once.
const KIND_DATA: u64 = 0;
const KIND_PTE: u64 = 1;
const KIND_BLOCK: u64 = 2;
const SKIPPED: u64 = 1 << 16;

/// A victim's value if it is spared: a block not skipped before, now marked.
#[inline]
fn spare(v: u64) -> Option<u64> {
    (v & 0xff == KIND_BLOCK && v & SKIPPED == 0).then_some(v | SKIPPED)
}

/// The key of the TLB block holding the translation of page `vpn` (of page size
/// `size_index`, [`crate::addr::PageSize::index`]) in address space `asid`. The group
/// (vpn >> 3) takes the low bits, so a level's set mask picks the set it indexes.
#[inline]
pub fn tlb_block_key(asid: u16, size_index: usize, vpn: u64) -> u64 {
    TLB_BLOCK | (asid as u64) << 44 | (size_index as u64) << 42 | ((vpn >> 3) & ((1 << 42) - 1))
}

/// The address space of a block's key.
fn key_asid(key: u64) -> u16 {
    (key >> 44) as u16
}

/// Counters of one level instance that holds TLB blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BlockStats {
    /// Blocks made (not counting ones already present).
    pub inserted: u64,
    /// Peeks that found their block, and those that did not.
    pub hits: u64,
    pub misses: u64,
    /// Lines a block's insertion evicted (the pollution of the data and PTE lines).
    pub evicted_data_lines: u64,
    pub evicted_pte_lines: u64,
    /// Blocks evicted by a fill (of a line or another block).
    pub evicted_blocks: u64,
    /// Blocks dropped by TLB invalidations (unmaps, migrations, address-space flushes).
    pub invalidated: u64,
    /// Blocks held when the counters were read.
    pub held: u64,
}

impl Cache {
    /// A read of `line` in a level holding blocks: a hit keeps the way's kind; a miss
    /// fills the line with its kind (a block victim is skipped once).
    #[inline(never)]
    pub(super) fn access_beside_blocks(&mut self, line: u64, is_pte: bool) -> bool {
        let kind = if is_pte { KIND_PTE } else { KIND_DATA };
        let a = self.any();
        let set = (line & a.set_mask()) as usize;
        let (hit, evicted) = a.fill_skipping(set, line, kind, spare);
        if evicted.is_some_and(|(_, v)| v & 0xff == KIND_BLOCK) {
            self.block_stats().evicted_blocks += 1;
        }
        hit
    }

    /// Its counters, with `held` counted now for a level holding blocks.
    pub(super) fn stats_now(&self) -> super::CacheStats {
        let mut s = self.stats.clone();
        if let Some(b) = &mut s.tlb_blocks {
            b.held = self.any_ref().count_where(|_, v| v & 0xff == KIND_BLOCK) as u64;
        }
        s
    }

    fn block_stats(&mut self) -> &mut BlockStats {
        self.stats.tlb_blocks.get_or_insert_with(Default::default)
    }
}

impl MemorySystem {
    /// Let every instance of the cache level `name` hold TLB blocks. Returns the level's
    /// index in a core's route, or `None` if no level has that name.
    pub fn hold_tlb_blocks(&mut self, name: &str) -> Option<usize> {
        let depth = self
            .ports
            .first()?
            .route
            .iter()
            .position(|&ci| self.caches[ci].stats.name == name)?;
        for p in &self.ports {
            let c = &mut self.caches[p.route[depth]];
            // Made again as the shared array, whose ways carry a kind (at the start
            // of a run: the level is empty, so nothing is lost).
            c.array = super::Cache::array_of(c.made_of, true);
            c.blocks = true;
            c.stats.tlb_blocks = Some(BlockStats::default());
        }
        self.block_depth = Some(depth);
        // A level's array is the shared one now: reads take the general route.
        self.lean = false;
        Some(depth)
    }

    /// The instance of the block-holding level `core` uses.
    fn block_cache(&mut self, core: usize) -> &mut Cache {
        let depth = self.block_depth.expect("hold_tlb_blocks first");
        &mut self.caches[self.ports[core].route[depth]]
    }

    /// Load-to-use latency of the block-holding level.
    pub fn block_latency(&self, core: usize) -> u32 {
        let depth = self.block_depth.expect("hold_tlb_blocks first");
        self.caches[self.ports[core].route[depth]].latency
    }

    /// Look for the block `key` ([`tlb_block_key`]): a hit refreshes its recency and
    /// returns its present-pages mask; a miss changes nothing.
    pub fn peek_block(&mut self, core: usize, key: u64) -> Option<u8> {
        let c = self.block_cache(core);
        let a = c.any();
        let set = (key & a.set_mask()) as usize;
        match a.lookup(set, key) {
            Some(v) => {
                c.block_stats().hits += 1;
                Some((v >> 8) as u8)
            }
            None => {
                c.block_stats().misses += 1;
                None
            }
        }
    }

    /// Whether block `key` is held (no recency update, no count).
    pub fn holds_block(&mut self, core: usize, key: u64) -> bool {
        let a = self.block_cache(core).any();
        let set = (key & a.set_mask()) as usize;
        a.probe(set, key).is_some()
    }

    /// Insert block `key` with its present-pages mask into the block-holding level only
    /// (no other level is filled). Returns false if it was there already (its recency
    /// refreshed, its mask unchanged).
    pub fn insert_block(&mut self, core: usize, key: u64, present: u8) -> bool {
        let c = self.block_cache(core);
        let a = c.any();
        let set = (key & a.set_mask()) as usize;
        let val = KIND_BLOCK | (present as u64) << 8;
        let (hit, evicted) = a.fill_skipping(set, key, val, spare);
        if hit {
            return false;
        }
        let s = c.block_stats();
        s.inserted += 1;
        match evicted.map(|(_, v)| v & 0xff) {
            Some(KIND_DATA) => s.evicted_data_lines += 1,
            Some(KIND_PTE) => s.evicted_pte_lines += 1,
            Some(_) => s.evicted_blocks += 1,
            None => {}
        }
        true
    }

    /// If block `key` is held, set its present-pages mask (a walk just read the PTE
    /// line it mirrors: a page mapped since the block was made is present now) and
    /// refresh its recency; returns whether it was held.
    pub fn refresh_block(&mut self, core: usize, key: u64, present: u8) -> bool {
        let a = self.block_cache(core).any();
        let set = (key & a.set_mask()) as usize;
        let Some(old) = a.probe(set, key) else {
            return false;
        };
        let val = (old & SKIPPED) | KIND_BLOCK | (present as u64) << 8;
        a.insert(set, key, val);
        true
    }

    /// Drop block `key` if held; returns whether it was.
    pub fn drop_block(&mut self, core: usize, key: u64) -> bool {
        let c = self.block_cache(core);
        let a = c.any();
        let set = (key & a.set_mask()) as usize;
        let gone = a.invalidate(set, key);
        c.block_stats().invalidated += gone as u64;
        gone
    }

    /// Drop every block of the address spaces `which` accepts (`None`: every block).
    pub fn drop_blocks_of(&mut self, core: usize, which: Option<u16>) {
        let c = self.block_cache(core);
        let n = (c.any())
            .invalidate_where(|k| k & TLB_BLOCK != 0 && which.is_none_or(|a| key_asid(k) == a));
        c.block_stats().invalidated += n as u64;
    }

    /// Blocks the level instance of `core` holds now, by page-size index.
    pub fn blocks_held_by_size(&self, core: usize) -> [u64; 3] {
        let mut n = [0; 3];
        let Some(depth) = self.block_depth else {
            return n;
        };
        for (k, v) in self.caches[self.ports[core].route[depth]].any_ref().iter() {
            if v & 0xff == KIND_BLOCK {
                n[((k >> 42) & 3) as usize] += 1;
            }
        }
        n
    }

    /// Blocks the level instance of `core` holds now.
    pub fn blocks_held(&mut self, core: usize) -> u64 {
        let c = self.block_cache(core);
        c.any().count_where(|_, v| v & 0xff == KIND_BLOCK) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{ByteSize, PhysAddr};
    use crate::assoc::Replacement;
    use crate::config::{CacheConfig, MemoryConfig};

    /// One core: a 2-set, 4-way "l1" in front of a 4-set, 4-way "l2", DRAM at 100.
    fn mem() -> MemorySystem {
        let c = |name: &str, sets: u64, latency| CacheConfig {
            name: name.into(),
            size: ByteSize(sets * 4 * 64),
            ways: 4,
            line: 64,
            latency,
            replacement: Replacement::Lru,
            shared: false,
        };
        let cfg = MemoryConfig {
            dram_latency: 100,
            data_through_caches: true,
            cache: vec![c("l1", 2, 4), c("l2", 4, 12)],
        };
        let mut m = MemorySystem::new(&cfg, 1, 0);
        assert_eq!(m.hold_tlb_blocks("l2"), Some(1));
        m
    }

    /// A block is found after its insertion and lost once data lines of its set have
    /// pushed it out. l2 set 0, 4 ways, LRU (oldest first): B, then lines L1 L2 L3
    /// fill it (B L1 L2 L3). L4: victim B, never skipped: marked, promoted (L1 L2 L3 B),
    /// the policy's next answer L1 goes (L2 L3 B L4). L5 evicts L2, L6 evicts L3
    /// (B L4 L5 L6). L7: victim B, skipped before: it goes. So B survives 6 lines and
    /// the 7th (2 x ways - 1) evicts it.
    #[test]
    fn block_is_found_until_data_lines_push_it_out() {
        let mut m = mem();
        // Block of asid 1, 4K, VPN 0x40..0x47: group 8, l2 set 8 & 3 = 0.
        let key = tlb_block_key(1, 0, 0x40);
        assert_eq!(key & 3, 0);
        assert!(m.insert_block(0, key, 0xff));
        assert!(m.holds_block(0, key));
        assert!(!m.insert_block(0, key, 0xff), "present already");
        // Lines of l2 set 0: line numbers that are multiples of 4, all distinct.
        let line = |i: u64| PhysAddr(i * 4 * 64);
        for i in 1..=6 {
            m.read(0, line(i), false);
            assert!(m.holds_block(0, key), "after line {i}");
        }
        m.read(0, line(7), false);
        assert!(!m.holds_block(0, key));
        let s = m.stats()[1].tlb_blocks.clone().unwrap();
        assert_eq!(
            (s.inserted, s.evicted_blocks, s.evicted_data_lines),
            (1, 1, 0)
        );
    }

    /// Pollution: blocks inserted into a set full of lines evict lines (the oldest;
    /// blocks are newer), counted by kind; once the set is all blocks, a new block's
    /// first victim (the oldest, G0, unskipped) is spared and the next (G1) goes.
    #[test]
    fn blocks_evict_lines_and_count_them() {
        let mut m = mem();
        let line = |i: u64| PhysAddr(i * 4 * 64);
        // Set 0 of l2: two PTE lines then two data lines.
        m.read(0, line(1), true);
        m.read(0, line(2), true);
        m.read(0, line(3), false);
        m.read(0, line(4), false);
        let g = |i: u64| tlb_block_key(1, 0, (i * 4) << 3); // groups 0, 4, 8, ...: set 0
        for i in 0..3 {
            assert!(m.insert_block(0, g(i), 0xff));
        }
        let s = m.stats()[1].tlb_blocks.clone().unwrap();
        assert_eq!((s.evicted_pte_lines, s.evicted_data_lines), (2, 1));
        assert!(m.insert_block(0, g(3), 0xff));
        assert!(m.insert_block(0, g(4), 0xff));
        let s = m.stats()[1].tlb_blocks.clone().unwrap();
        assert_eq!((s.evicted_data_lines, s.evicted_blocks), (2, 1));
        assert!(m.holds_block(0, g(0)));
        assert!(!m.holds_block(0, g(1)));
        assert_eq!(m.stats()[1].tlb_blocks.as_ref().unwrap().held, 4);
        assert_eq!(m.blocks_held(0), 4);
    }

    /// Peeks count and refresh; invalidation by key and by address space.
    #[test]
    fn peek_and_drop() {
        let mut m = mem();
        let a = tlb_block_key(1, 0, 0x100);
        let b = tlb_block_key(2, 0, 0x100);
        assert_ne!(a, b, "the address space is part of the tag");
        assert_ne!(tlb_block_key(1, 1, 0x100), a, "so is the page size");
        assert_eq!(tlb_block_key(1, 0, 0x107), a, "8 pages per block");
        assert_ne!(tlb_block_key(1, 0, 0x108), a);
        m.insert_block(0, a, 0b1010_0000);
        m.insert_block(0, b, 1);
        assert_eq!(m.peek_block(0, a), Some(0b1010_0000));
        assert_eq!(m.peek_block(0, tlb_block_key(3, 0, 0x100)), None);
        assert!(m.drop_block(0, a));
        assert!(!m.drop_block(0, a));
        m.drop_blocks_of(0, Some(2));
        assert_eq!(m.blocks_held(0), 0);
        let s = m.stats()[1].tlb_blocks.clone().unwrap();
        assert_eq!((s.hits, s.misses, s.invalidated), (1, 1, 2));
    }
}
