//! The walker's straight walk of a plain radix table (no ASAP), taken when nobody
//! records the walk: the most common walk of all, made without the general walk's
//! list of steps.
//!
//! In: a virtual address that missed every TLB level, the radix table, the memory
//! system. Out: the same [`WalkResult`], walker counters, walk-cache contents and memory
//! state as the general walk ([`Walker::walk_recorded`] with a recorder) gives. The
//! general walk collects the steps of [`Walkable::walk`](crate::pagetable::Walkable::walk),
//! then reads each through the memory system, then goes over them again to fill the walk
//! caches (`nested::learn`); this one does all three per level as it reads the entry.
//! The order between the memory reads and the walk-cache fills differs, which nothing
//! can see: they are separate arrays, and each array takes its own operations in the
//! same order as before. A radix read is an issue group of its own, so the walk's PTE
//! cycles are the sum of its reads' latencies.

use super::{psc_key, WalkResult, Walker, NO_PSC};
use crate::addr::{PhysAddr, VirtAddr};
use crate::memory::MemorySystem;
use crate::pagetable::radix::raw_table;
use crate::pagetable::{Radix, Translation, Walkable};

/// The descent of a plain radix walk from `(level, node)`, the one rule of the straight
/// walk and the fused one (`fused.rs`): each entry read (`entry`: its address and
/// value) and its latency taken (`read`); a leaf (`leaf`) or an absent entry ends it
/// (the latter, and a table pointer at the leaf level, which `map` cannot build, as a
/// fault); each table pointer handed to `learn` (its level and the child table) before
/// the walk goes down to it. Returns the translation, the reads' cycles and their count.
#[inline(always)]
pub(super) fn descend(
    (mut level, mut node): (usize, usize),
    mut entry: impl FnMut(usize, usize) -> (PhysAddr, u64),
    leaf: impl Fn(u64, usize) -> Option<Translation>,
    mut read: impl FnMut(PhysAddr) -> u32,
    mut learn: impl FnMut(usize, u32),
) -> (Option<Translation>, u64, u32) {
    let (mut pte_cycles, mut reads) = (0u64, 0u32);
    let translation = loop {
        let (pte_addr, e) = entry(node, level);
        pte_cycles += read(pte_addr) as u64;
        reads += 1;
        // A leaf ends most walks; an absent entry (0) faults.
        if let Some(t) = leaf(e, level) {
            break Some(t);
        }
        if e == 0 {
            break None;
        }
        let child = raw_table(e);
        learn(level, child);
        if level == 1 {
            break None;
        }
        level -= 1;
        node = child as usize;
    };
    (translation, pte_cycles, reads)
}

impl Walker {
    /// A demand walk of `vaddr` of address space `asid` for `core` through the plain
    /// radix table `pt`, counted as [`Walker::walk`] counts it.
    #[inline(always)]
    pub(super) fn walk_straight(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &Radix,
        mem: &mut MemorySystem,
    ) -> WalkResult {
        let probe_latency = match self.pscs.is_empty() {
            true => 0,
            false => self.probe_latency,
        } + pt.walk_cache_cycles();
        let start = self.probe_straight(asid, vaddr, pt);
        let (translation, pte_cycles, reads) = descend(
            start,
            |node, level| pt.read_raw(node, level, vaddr.0),
            |e, level| pt.raw_leaf(e, level),
            |pte_addr| mem.read_from(core, pte_addr, true).0,
            |level, child| {
                // Remember the table this entry points to for the next walk (what
                // `nested::learn` does after the general walk).
                let pi = self.psc_at[level & 7];
                if pi != NO_PSC {
                    let p = &mut self.pscs[pi];
                    let prefix = vaddr.0 >> pt.level_shift(level);
                    p.insert(prefix, psc_key(prefix, asid), child as u64);
                }
            },
        );
        self.stats.count_walk(reads, probe_latency, pte_cycles);
        WalkResult {
            psc_cycles: probe_latency,
            pte_cycles,
            reads,
            translation,
        }
    }

    /// [`Walker::probe_pscs`] of a demand walk through a plain radix table, unrecorded:
    /// the (level, table) the walk starts from. Each walk cache is probed and counted
    /// once; the deepest hit (the first in `pscs`, deepest level first) is taken. They
    /// are probed from the last: each is an array of its own, so the order of their
    /// probes changes nothing, and the last hit written is then the one to take, with
    /// no test of whether one was found before.
    #[inline(always)]
    fn probe_straight(&mut self, asid: u16, vaddr: VirtAddr, pt: &Radix) -> (usize, usize) {
        let mut start = (pt.levels(), 0);
        let stats = &mut self.stats.psc[..self.pscs.len()];
        for (p, st) in self.pscs.iter_mut().zip(stats).rev() {
            let prefix = vaddr.0 >> pt.level_shift(p.level);
            st.lookups += 1;
            if let Some(node) = p.lookup(prefix, psc_key(prefix, asid)) {
                st.hits += 1;
                start = (p.level - 1, node as usize);
            }
        }
        start
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::{ByteSize, PageSize, PhysAddr};
    use crate::assoc::Replacement;
    use crate::config::{CacheConfig, FrameAlloc, MemoryConfig, PscConfig};
    use crate::os::frames::FrameAllocator;
    use crate::pagetable::{Mappable, Teachable, Translation};
    use crate::sim::record::Event;

    fn psc(name: &str, level: u32, entries: u32, ways: u32, latency: u32) -> PscConfig {
        PscConfig {
            name: name.into(),
            level,
            entries,
            ways,
            latency,
            replacement: Replacement::Lru,
        }
    }

    /// One private cache of `lines` lines and `ways` ways (latency 1) before DRAM (100).
    fn memory(lines: u64, ways: u32) -> MemorySystem {
        let cache = CacheConfig {
            name: "c".into(),
            size: ByteSize(lines * 64),
            ways,
            line: 64,
            latency: 1,
            replacement: Replacement::Lru,
            shared: false,
        };
        let cfg = MemoryConfig {
            dram_latency: 100,
            data_through_caches: false,
            cache: vec![cache],
        };
        MemorySystem::new(&cfg, 1, 7)
    }

    /// Index of `va` in a table of `level` of a 4-level, 9-bit-per-level table.
    fn idx(va: u64, level: u32) -> u64 {
        (va >> (12 + 9 * (level - 1))) & 511
    }

    /// Walks worked by hand: which entries a cold walk reads (their addresses from the
    /// tables' frames and the index bits of the address), and how a walk-cache hit at
    /// each level shortens the next walks. A wrong PTE address shows as a miss in a
    /// cache just big enough for the lines read; a walk cache that learned a wrong
    /// table as a wrong translation or read count.
    #[test]
    fn straight_walks_read_the_hand_worked_entries_and_learn_the_tables() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 3);
        let mut pt = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        // Index 0x23 at level 1 (not the last of its line: the next page's entry
        // shares the line), 0x1a2 at level 2 (ditto).
        let x = (0x5au64 << 39) | (0x0c << 30) | (0x1a2 << 21) | (0x23 << 12);
        let y = x + (1 << 21); // the next PD entry: a table of its own at level 1
        let frame = |f: &mut FrameAllocator| PhysAddr(f.alloc(PageSize::Size4K).unwrap());
        let (fx, fx1, fy) = (frame(&mut f), frame(&mut f), frame(&mut f));
        for (va, fr) in [(x, fx), (x + 0x1000, fx1), (y, fy)] {
            pt.map(1, VirtAddr(va), PageSize::Size4K, fr, &mut f)
                .unwrap();
        }
        // Tables are made top-down as `x` is mapped: root 0, then 1, 2, 3; `y`'s
        // level-1 table is 4.
        let node = |n: u32| pt.node_paddr(n).unwrap().0;
        let cold: Vec<u64> = (1..=4).rev().map(|l| node(4 - l) + idx(x, l) * 8).collect();
        assert_eq!(cold[3], pt.leaf_lines(1, VirtAddr(x)).unwrap().0 .0);
        let pscs = [
            psc("pml4", 4, 2, 2, 1),
            psc("pdpt", 3, 4, 4, 1),
            psc("pd", 2, 8, 2, 2),
        ];
        let mut w = Walker::new(&pscs, 5);
        // A fully associative cache of exactly four lines: the cold walk's four.
        let mut mem = memory(4, 4);
        let tr = |frame| {
            Some(Translation {
                frame,
                size: PageSize::Size4K,
            })
        };

        let r = w.walk(0, 1, VirtAddr(x + 0x18), &pt, &mut mem);
        assert_eq!((r.reads, r.psc_cycles, r.pte_cycles), (4, 2, 400));
        assert_eq!(r.translation, tr(fx));
        for &a in &cold {
            assert_eq!(mem.read(0, PhysAddr(a), true), 1, "entry {a:#x} was read");
        }

        // The PD cache knows x's level-1 table: one read, in the line just read.
        let r = w.walk(0, 1, VirtAddr(x + 0x1000), &pt, &mut mem);
        assert_eq!((r.reads, r.pte_cycles), (1, 1));
        assert_eq!(r.translation, tr(fx1));

        // The PDPT cache knows x's level-2 table: its entry for y (x's line), then y's
        // level-1 table from DRAM, the entry `leaf_lines` names.
        let r = w.walk(0, 1, VirtAddr(y), &pt, &mut mem);
        assert_eq!((r.reads, r.pte_cycles), (2, 101));
        assert_eq!(r.translation, tr(fy));
        let leaf_y = pt.leaf_lines(1, VirtAddr(y)).unwrap().0;
        assert_eq!(leaf_y.0, node(4) + idx(y, 1) * 8);
        assert_eq!(mem.read(0, leaf_y, true), 1);

        // An unmapped page beside x: the PD cache still starts the walk, which faults.
        let r = w.walk(0, 1, VirtAddr(x + 0x5000), &pt, &mut mem);
        assert_eq!((r.reads, r.translation), (1, None));

        let st = &w.stats;
        assert_eq!((st.walks, st.pte_reads, st.psc_cycles), (4, 8, 8));
        assert_eq!(st.pte_cycles, 400 + 1 + 101 + r.pte_cycles);
        // Deepest first: PD, PDPT, PML4; every walk probes all three.
        let hits: Vec<(u64, u64)> = st.psc.iter().map(|p| (p.lookups, p.hits)).collect();
        assert_eq!(hits, [(4, 2), (4, 3), (4, 3)]);
        assert_eq!(&st.reads_hist[..5], &[0, 2, 1, 0, 1]);
    }

    /// The straight walk against the general one (the walk with a recorder, which
    /// collects the steps and learns from them afterwards) on random walks over 4K and
    /// 2M pages with holes, walk caches and a cache small enough to evict: the same
    /// results, counters, walk-cache contents and memory state after every walk.
    #[test]
    fn straight_walks_equal_the_general_walk() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 11);
        let mut pt = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // 64 2M regions spread over two PML4 entries: half 2M pages, the rest 4K
        // pages mapped with holes (about one page in four left unmapped).
        let region = |i: u64| (i & 1) << 39 | (i >> 1) << 21 | (i % 5) << 30;
        for i in 0..64 {
            if i % 2 == 0 {
                let fr = PhysAddr(f.alloc(PageSize::Size2M).unwrap());
                pt.map(1, VirtAddr(region(i)), PageSize::Size2M, fr, &mut f)
                    .unwrap();
                continue;
            }
            for p in 0..512 {
                if next() % 4 != 0 {
                    let fr = PhysAddr(f.alloc(PageSize::Size4K).unwrap());
                    let va = VirtAddr(region(i) + p * 4096);
                    pt.map(1, va, PageSize::Size4K, fr, &mut f).unwrap();
                }
            }
        }
        let pscs = [
            psc("pml4", 4, 2, 2, 1),
            psc("pdpt", 3, 4, 4, 1),
            psc("pd", 2, 8, 2, 3),
        ];
        let (mut a, mut b) = (Walker::new(&pscs, 9), Walker::new(&pscs, 9));
        let (mut ma, mut mb) = (memory(32, 4), memory(32, 4));
        let mut events = Vec::new();
        let (mut faults, mut reads) = (0, 0);
        for i in 0..20_000 {
            let va = VirtAddr(region(next() % 64) + next() % (1 << 21));
            let ra = a.walk(0, 3, va, &pt, &mut ma);
            events.clear();
            let rb = b.walk_recorded(0, 3, va, &pt, &mut mb, &mut events);
            assert_eq!(ra, rb, "walk {i} of {va:#x}");
            assert_eq!(ra.translation, pt.translate(3, va));
            let pte_reads = events.iter().filter(|e| matches!(e, Event::PteRead { .. }));
            assert_eq!(pte_reads.count(), rb.reads as usize);
            for (pa, pb) in a.pscs.iter().zip(&b.pscs) {
                assert!(pa.array.iter().eq(pb.array.iter()), "walk {i}: walk caches");
            }
            assert_eq!(ma.stats(), mb.stats(), "walk {i}: caches");
            faults += ra.translation.is_none() as u32;
            reads += ra.reads;
        }
        assert_eq!(a.stats, b.stats);
        assert_eq!(ma.dram_pte_reads(0), mb.dram_pte_reads(0));
        // Both kinds of walk were met, and walk caches shortened many.
        assert!(
            faults > 1000 && reads < 20_000 * 3,
            "{faults} faults, {reads} reads"
        );
    }
    /// The walk caches' remembered hit (`Psc::memo`) against the search it skips: the
    /// same walks, prefetch walks and flushes on two walkers, one with the memo turned
    /// off, under LRU, PLRU and FIFO walk caches small enough to evict; the same
    /// results, counters and walk-cache contents (in replacement order) after each.
    #[test]
    fn remembered_walk_cache_hits_equal_the_search() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 5);
        let mut pt = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        // 4K pages in 48 2M regions under 6 PDPT entries of 2 PML4 entries.
        let region = |i: u64| (i & 1) << 39 | (i % 6) << 30 | (i / 6) << 21;
        for i in 0..48 {
            for p in (0..512).step_by(7) {
                let fr = PhysAddr(f.alloc(PageSize::Size4K).unwrap());
                let va = VirtAddr(region(i) + p * 4096);
                pt.map(1, va, PageSize::Size4K, fr, &mut f).unwrap();
            }
        }
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for repl in [Replacement::Lru, Replacement::Plru, Replacement::Fifo] {
            let mut pscs = [
                psc("pml4", 4, 2, 2, 1),
                psc("pdpt", 3, 4, 2, 1),
                psc("pd", 2, 8, 2, 2),
            ];
            for p in &mut pscs {
                p.replacement = repl;
            }
            let (mut a, mut b) = (Walker::new(&pscs, 3), Walker::new(&pscs, 3));
            let (mut ma, mut mb) = (memory(32, 4), memory(32, 4));
            let mut memos_held = 0;
            for i in 0..20_000 {
                let r = next();
                // Runs of walks in one region, so that upper entries repeat.
                let va = VirtAddr(region((r >> 8) % (1 + (i / 500) % 48)) + (r >> 20) % (1 << 21));
                let asid = 1 + (r % 16 == 0) as u16;
                let held = (a.pscs.iter())
                    .filter(|p| p.memo != crate::walker::NO_MEMO)
                    .count();
                let (ra, rb) = match r % 8 {
                    0 => (
                        a.prefetch_walk(0, asid, va, &pt, &mut ma, &mut |_| {}),
                        crate::walker::NO_PSC_MEMO.with(|m| {
                            m.set(true);
                            let rb = b.prefetch_walk(0, asid, va, &pt, &mut mb, &mut |_| {});
                            m.set(false);
                            rb
                        }),
                    ),
                    _ => (
                        a.walk(0, asid, va, &pt, &mut ma),
                        crate::walker::NO_PSC_MEMO.with(|m| {
                            m.set(true);
                            let rb = b.walk(0, asid, va, &pt, &mut mb);
                            m.set(false);
                            rb
                        }),
                    ),
                };
                memos_held += held;
                assert_eq!(ra, rb, "{repl:?} walk {i} of {va:#x}");
                if r % 997 == 0 {
                    a.flush_asid(2);
                    b.flush_asid(2);
                } else if r % 2003 == 0 {
                    a.flush();
                    b.flush();
                }
                for (pa, pb) in a.pscs.iter().zip(&b.pscs) {
                    assert!(pa.array.iter().eq(pb.array.iter()), "{repl:?} walk {i}");
                }
            }
            assert_eq!(a.stats, b.stats, "{repl:?}");
            assert_eq!(ma.stats(), mb.stats(), "{repl:?}");
            // A hit was remembered before most walks (in one walk cache or more).
            assert!(memos_held > 20_000, "{repl:?}: {memos_held}");
        }
    }
}
