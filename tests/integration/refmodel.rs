//! The reference model of the walk path (`benches/refmodel/model.rs`, issue 21) on cases
//! worked by hand, so that speed ratios against it are against a model that does the
//! work it claims. Small footprints: these run unoptimised.

#[allow(dead_code)]
#[path = "../../benches/refmodel/model.rs"]
mod model;

use model::{Lru, Model, PageTable};
use std::collections::HashSet;

const BASE: u64 = 0x10_0000_0000;

#[test]
fn refmodel_lru_evicts_the_least_recently_used_way() {
    // One set of 2 ways: a, b, touch a, insert c -> b (least recent) goes.
    let mut l = Lru::<()>::new(2, 2);
    assert!(!l.access(1));
    assert!(!l.access(2));
    assert!(l.access(1));
    assert!(!l.access(3));
    assert!(l.access(1));
    assert!(l.access(3));
    assert!(!l.access(2));
    // Keys of different sets do not evict each other: 4 sets of 1 way.
    let mut l = Lru::<()>::new(4, 1);
    for k in 0..4 {
        assert!(!l.access(k));
    }
    for k in 0..4 {
        assert!(l.access(k));
    }
}

#[test]
fn refmodel_maps_every_page_at_distinct_frames() {
    // 4 MiB at 64 GiB: 1024 data pages under PML4 entry 0, PDPT entry 64, PD entries 0
    // and 1, so 5 tables: root, PDPT, PD and 2 PTs.
    let pt = PageTable::map(BASE, 4 << 20, 3);
    assert_eq!(pt.table_frames().len(), 5);
    let mut frames: HashSet<u64> = pt.table_frames().iter().copied().collect();
    for p in 0..1024u64 {
        let f = pt.translate(BASE + p * 4096).expect("mapped");
        assert!(f < 16 << 18, "frame {f} outside 16 GiB");
        assert!(frames.insert(f), "frame {f} given twice");
    }
    assert_eq!(pt.translate(BASE + (4 << 20)), None);
    assert_eq!(pt.translate(BASE - 4096), None);
    // Shuffled: not in allocation order (sorted frames would be 1 in 1029! of orders).
    let order: Vec<u64> = (0..1024u64)
        .map(|p| pt.translate(BASE + p * 4096).unwrap())
        .collect();
    assert!(order.windows(2).any(|w| w[0] > w[1]));
    // Every page walks once from the cold TLBs (1024 distinct pages < 1536 STLB
    // entries, but each is touched once) and the walk finds the page's frame.
    let mut m = Model::new(pt, false);
    for p in 0..1024u64 {
        let offset = 8 * p % 4096;
        assert_eq!(
            m.access(BASE + p * 4096 + offset),
            order[p as usize] << 12 | offset
        );
    }
    assert_eq!(m.stats.walks, 1024);
}

#[test]
fn refmodel_cold_walk_then_hits_cost_what_the_preset_says() {
    let mut m = Model::new(PageTable::map(BASE, 1 << 20, 1), true);
    m.access(BASE + 8);
    let s = m.stats.clone();
    // Cold: L1 DTLB and STLB miss, walk caches empty, 4 PTE reads and the data read all
    // from DRAM. Cycles: 3 base + 9 STLB + 1 walk caches + 4 x 250.
    assert_eq!((s.l1_misses, s.walks, s.pte_reads), (1, 1, [1, 1, 1, 1]));
    assert_eq!(s.served, [0, 0, 0, 5]);
    assert_eq!(s.cycles, 3 + 9 + 1 + 1000);
    assert_eq!(s.data_cycles, 250);
    // The same line again: L1 DTLB hit (its probe hidden) and L1D hit (4 cycles).
    m.access(BASE + 16);
    assert_eq!(m.stats.cycles, s.cycles + 3);
    assert_eq!(m.stats.data_cycles, 250 + 4);
    // The next page: its PD entry is cached, one PTE read; the PT's line is another one
    // (entries 0 and 1 share a line): an L1D hit.
    m.access(BASE + 4096);
    assert_eq!(m.stats.pte_reads, [2, 1, 1, 1]);
    assert_eq!(m.stats.psc_hits, [1, 1, 1]);
    assert_eq!(m.stats.cycles, s.cycles + 3 + 3 + 9 + 1 + 4);
}

#[test]
fn refmodel_steady_state_counts_match_their_derivations() {
    // 64 MiB = 16,384 pages, 128 per STLB set (128 sets x 12 ways); uniform accesses hit
    // the STLB or L1 DTLB with probability between 1536/16384 (the STLB's pages) and
    // 1600/16384 (plus the L1's 64, if the STLB had lost them all). Standard deviation
    // over 100,000 accesses: 0.09%.
    let pages = 16384u64;
    let mut m = Model::new(PageTable::map(BASE, pages * 4096, 5), true);
    let mut x = 1u64;
    let mut next = || {
        // splitmix64: an independent stream from the model's own generator.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        BASE + (model::below(z ^ (z >> 31), pages * 512) << 3)
    };
    for _ in 0..100_000 {
        m.access(next());
    }
    m.stats = Default::default();
    let pt = PageTable::map(BASE, pages * 4096, 5);
    for _ in 0..100_000 {
        // Whether from a TLB or a walk, the translation is the page's frame.
        let va = next();
        assert_eq!(m.access(va) >> 12, pt.translate(va).unwrap());
    }
    let s = &m.stats;
    let hit = 1.0 - s.walks as f64 / 100_000.0;
    assert!(
        (1536.0 / 16384.0 - 0.004..=1600.0 / 16384.0 + 0.004).contains(&hit),
        "{hit}"
    );
    // 32 PD entries = the PD cache's 8 sets x 4 ways exactly: every walk after warm-up
    // starts at the PT and reads one PTE.
    assert_eq!(s.psc_hits[0], s.walks);
    assert_eq!(s.pte_reads, [s.walks, 0, 0, 0]);
}
