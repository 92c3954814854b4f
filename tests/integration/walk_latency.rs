//! Exact walk latencies: a cold walk reads one PTE per level down to the leaf, every
//! walk-cache hit removes exactly the levels it covers, and each read costs the latency
//! of the memory level that serves it (as ChampSim's walk-latency test checks depth 1-5).

use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::assoc::Replacement;
use mmusim::config::{CacheConfig, FrameAlloc, MemoryConfig, PscConfig};
use mmusim::memory::MemorySystem;
use mmusim::os::frames::FrameAllocator;
use mmusim::pagetable::{Mappable, Radix};
use mmusim::walker::Walker;

const DRAM: u64 = 100;
const PROBE: u64 = 3;

fn mem(caches: Vec<CacheConfig>) -> MemorySystem {
    MemorySystem::new(
        &MemoryConfig {
            dram_latency: DRAM as u32,
            data_through_caches: false,
            cache: caches,
        },
        1,
        0,
    )
}

fn psc(level: u32, latency: u32) -> PscConfig {
    PscConfig {
        name: format!("psc{level}"),
        level,
        entries: 16,
        ways: 4,
        latency,
        replacement: Replacement::Lru,
    }
}

fn table(levels: usize, f: &mut FrameAllocator) -> Radix {
    Radix::new(&vec![9; levels], f).unwrap()
}

#[test]
fn cold_walk_reads_one_pte_per_level_at_dram_latency() {
    for (levels, size, reads) in [
        (4, PageSize::Size4K, 4),
        (5, PageSize::Size4K, 5),
        (4, PageSize::Size2M, 3),
        (4, PageSize::Size1G, 2),
        (5, PageSize::Size2M, 4),
        (5, PageSize::Size1G, 3),
    ] {
        let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Shuffled, 1);
        let mut pt = table(levels, &mut f);
        let va = 0x3f_8765_4000u64 & !(size.bytes() - 1);
        let frame = f.alloc(size).unwrap();
        pt.map(1, VirtAddr(va), size, PhysAddr(frame), &mut f)
            .unwrap();
        let mut m = mem(vec![]);
        // No walk caches: no probe cost.
        let mut w = Walker::new(&[], 0);
        let r = w.walk(0, 1, VirtAddr(va + 0x123), &pt, &mut m);
        assert_eq!(r.reads, reads, "{levels}-level {size}");
        assert_eq!(r.psc_cycles, 0);
        assert_eq!(r.pte_cycles, reads as u64 * DRAM, "{levels}-level {size}");
        assert_eq!(r.translation.unwrap().frame.0, frame);
        assert_eq!(r.translation.unwrap().size, size);
    }
}

#[test]
fn each_walk_cache_hit_removes_exactly_the_levels_it_covers() {
    let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Sequential, 0);
    let mut pt = table(4, &mut f);
    let base = 0x7f00_0000_0000u64;
    let gib = 1u64 << 30;
    let pages = [
        base,               // cold
        base + 0x1000,      // same 2M region: PD-cache hit, reads the PTE only
        base + (4 << 20),   // same 1G region, other 2M: PDPT-cache hit, reads PD + PT
        base + 3 * gib,     // same 512G region, other 1G: PML4-cache hit, reads 3
        base - (512 * gib), // another 512G region: no hit, reads 4
    ];
    for &va in &pages {
        let fr = f.alloc(PageSize::Size4K).unwrap();
        pt.map(1, VirtAddr(va), PageSize::Size4K, PhysAddr(fr), &mut f)
            .unwrap();
    }
    let mut m = mem(vec![]);
    let mut w = Walker::new(&[psc(4, 1), psc(3, 2), psc(2, PROBE as u32)], 0);
    let expect_reads = [4, 1, 2, 3, 4];
    for (va, reads) in pages.iter().zip(expect_reads) {
        let r = w.walk(0, 1, VirtAddr(*va), &pt, &mut m);
        assert_eq!(r.reads, reads, "walk of {va:#x}");
        // Probed in parallel: the walk pays the slowest walk cache once.
        assert_eq!(r.psc_cycles, PROBE);
        assert_eq!(r.pte_cycles, reads as u64 * DRAM);
    }
    let hits: Vec<u64> = w.stats.psc.iter().map(|p| p.hits).collect();
    // Ordered by level (2, 3, 4): PD hit once; PDPT hit on walks 2 and 3; PML4 on 2, 3, 4.
    assert_eq!(hits, vec![1, 2, 3]);
    assert_eq!(w.stats.walks, 5);
    assert_eq!(w.stats.pte_reads, 14);
}

#[test]
fn a_walk_cache_covers_only_its_own_level() {
    // Only a PD cache: a walk in another 2M region of the same 1G region reads all 4.
    let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Sequential, 0);
    let mut pt = table(4, &mut f);
    for va in [0x4000_0000u64, 0x4000_1000, 0x4060_0000] {
        let fr = f.alloc(PageSize::Size4K).unwrap();
        pt.map(1, VirtAddr(va), PageSize::Size4K, PhysAddr(fr), &mut f)
            .unwrap();
    }
    let mut m = mem(vec![]);
    let mut w = Walker::new(&[psc(2, 1)], 0);
    let reads: Vec<u32> = [0x4000_0000u64, 0x4000_1000, 0x4060_0000]
        .iter()
        .map(|&va| w.walk(0, 1, VirtAddr(va), &pt, &mut m).reads)
        .collect();
    assert_eq!(reads, vec![4, 1, 4]);
    // Walk caches are tagged by address space: asid 2 gets no hit.
    assert_eq!(w.walk(0, 2, VirtAddr(0x4000_1000), &pt, &mut m).reads, 4);
}

#[test]
fn pte_reads_cost_the_latency_of_the_level_holding_their_line() {
    let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Sequential, 0);
    let mut pt = table(4, &mut f);
    let fr = f.alloc(PageSize::Size4K).unwrap();
    pt.map(1, VirtAddr(0x1000), PageSize::Size4K, PhysAddr(fr), &mut f)
        .unwrap();
    let l1 = CacheConfig {
        name: "l1".into(),
        size: mmusim::addr::ByteSize(32 << 10),
        ways: 8,
        line: 64,
        latency: 5,
        replacement: Replacement::Lru,
        shared: false,
    };
    let mut m = mem(vec![l1]);
    let mut w = Walker::new(&[], 0);
    assert_eq!(
        w.walk(0, 1, VirtAddr(0x1000), &pt, &mut m).pte_cycles,
        4 * DRAM
    );
    assert_eq!(
        w.walk(0, 1, VirtAddr(0x1000), &pt, &mut m).pte_cycles,
        4 * 5
    );
    // The neighbouring page's PTE shares the leaf line: 3 upper entries and the leaf line hit.
    let fr2 = f.alloc(PageSize::Size4K).unwrap();
    pt.map(1, VirtAddr(0x2000), PageSize::Size4K, PhysAddr(fr2), &mut f)
        .unwrap();
    assert_eq!(
        w.walk(0, 1, VirtAddr(0x2000), &pt, &mut m).pte_cycles,
        4 * 5
    );
    let l = w.stats.latency.summary();
    assert_eq!((l.count, l.max, l.total), (3, 4 * DRAM, 4 * DRAM + 40));
}
