//! The flattened page table (`kind = "flattened"`): walk lengths derived by hand from
//! which level pairs are merged, walk-cache hits removing exactly the reads they cover,
//! fallbacks to 4 KiB tables counted by hand under fragmentation, and translation equal
//! to a radix table's on random map/unmap sequences.

use super::runs::inputs;
use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::assoc::Replacement;
use mmusim::config::{FrameAlloc, MemoryConfig, PscConfig};
use mmusim::memory::MemorySystem;
use mmusim::os::frames::FrameAllocator;
use mmusim::pagetable::flattened::{Flattened, FlattenedConfig};
use mmusim::pagetable::{Mappable, Radix, WalkStart, Walkable};
use mmusim::run::simulate;
use mmusim::walker::Walker;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

const DRAM: u64 = 100;
const PROBE: u64 = 3;
const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

/// No caches: every PTE read costs `DRAM`.
fn mem() -> MemorySystem {
    MemorySystem::new(
        &MemoryConfig {
            dram_latency: DRAM as u32,
            data_through_caches: false,
            cache: vec![],
        },
        1,
        0,
    )
}

/// The Skylake-like walk caches (PML4, PDPT, PD), each large enough never to evict here.
fn pscs() -> Vec<PscConfig> {
    [4, 3, 2]
        .into_iter()
        .map(|level| PscConfig {
            name: format!("psc{level}"),
            level,
            entries: 16,
            ways: 4,
            latency: PROBE as u32,
            replacement: Replacement::Lru,
        })
        .collect()
}

fn cfg(merge: &[&str]) -> FlattenedConfig {
    FlattenedConfig {
        levels: 4,
        merge: merge.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn cold_walks_read_one_entry_per_node_on_the_path() {
    // Reads = nodes from the root to the node holding the leaf's level; a merged pair is
    // one node. Leaf levels: 4K 1, 2M 2, 1G 3.
    //   merge           4K  2M  1G
    //   L4+L3, L2+L1     2   2   1   (root L4L3 | L2L1 holds 4K and 2M)
    //   L3+L2            3   2   2   (L4 | L3L2 holds 2M and 1G | L1)
    //   L4+L3            3   2   1   (L4L3 | L2 | L1)
    //   L2+L1            3   3   2   (L4 | L3 | L2L1)
    //   none             4   3   2   (radix)
    for (merge, reads) in [
        (&["L4+L3", "L2+L1"][..], [2, 2, 1]),
        (&["L3+L2"][..], [3, 2, 2]),
        (&["L4+L3"][..], [3, 2, 1]),
        (&["L2+L1"][..], [3, 3, 2]),
        (&[][..], [4, 3, 2]),
    ] {
        for (size, want) in PageSize::ALL.into_iter().zip(reads) {
            let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Shuffled, 1);
            let mut pt = Flattened::new(&cfg(merge), &mut f).unwrap();
            let va = 0x3f_8765_4000u64 & !(size.bytes() - 1);
            let frame = f.alloc(size).unwrap();
            pt.map(1, VirtAddr(va), size, PhysAddr(frame), &mut f)
                .unwrap();
            let mut m = mem();
            let mut w = Walker::new(&[], 0);
            let r = w.walk(0, 1, VirtAddr(va + 0x123), &pt, &mut m);
            assert_eq!(r.reads, want, "{merge:?} {size}");
            assert_eq!(r.psc_cycles, 0);
            assert_eq!(r.pte_cycles, want as u64 * DRAM, "{merge:?} {size}");
            let tr = r.translation.unwrap();
            assert_eq!((tr.frame.0, tr.size), (frame, size));
            // With walk caches, a cold walk reads as many and pays the probe.
            let mut w = Walker::new(&pscs(), 0);
            let r = w.walk(0, 1, VirtAddr(va + 0x123), &pt, &mut mem());
            assert_eq!((r.reads, r.psc_cycles), (want, PROBE), "{merge:?} {size}");
            assert_eq!(r.pte_cycles, want as u64 * DRAM);
        }
    }
}

#[test]
fn a_walk_cache_hit_removes_exactly_the_reads_it_covers() {
    let mut f = FrameAllocator::new(8 << 30, FrameAlloc::Sequential, 0);
    let mut pt = Flattened::new(&cfg(&["L4+L3", "L2+L1"]), &mut f).unwrap();
    let base = 0x7f00_0000_0000u64;
    let pages = [
        (base, 2, [0, 0, 0]),          // cold: L4L3 + L2L1 entries; fills the PDPT cache
        (base + 0x1000, 1, [0, 1, 0]), // same 1G: PDPT-cache hit skips the L4L3 read
        (base + (4 << 20), 1, [0, 2, 0]), // same 1G, other 2M: still one PDPT-cache hit
        (base + 3 * GIB, 2, [0, 2, 0]), // other 1G: misses; a radix PML4 hit has no twin here
        (base + 3 * GIB + MIB2, 1, [0, 3, 0]), // that 1G is cached now
    ];
    for (i, &(va, _, _)) in pages.iter().enumerate() {
        pt.map(
            1,
            VirtAddr(va),
            PageSize::Size4K,
            PhysAddr((i as u64 + 1) << 12),
            &mut f,
        )
        .unwrap();
    }
    let mut m = mem();
    let mut w = Walker::new(&pscs(), 0);
    for (i, &(va, reads, hits)) in pages.iter().enumerate() {
        let r = w.walk(0, 1, VirtAddr(va), &pt, &mut m);
        assert_eq!(r.reads, reads, "walk {i}");
        assert_eq!(r.psc_cycles, PROBE);
        assert_eq!(r.pte_cycles, reads as u64 * DRAM, "walk {i}");
        assert_eq!(r.translation.unwrap().frame.0, (i as u64 + 1) << 12);
        // Walker stats list the caches deepest first: PD (2), PDPT (3), PML4 (4).
        let got: Vec<u64> = w.stats.psc.iter().map(|p| p.hits).collect();
        assert_eq!(
            got,
            [hits[0], hits[1], hits[2]],
            "walk {i}: PD, PDPT, PML4 hits"
        );
    }
    // A walk started below a PDPT-cache hit reads exactly the cold walk's last entry.
    let mut cold = Vec::new();
    pt.walk(1, VirtAddr(base), None, &mut cold).unwrap();
    assert_eq!(cold.len(), 2);
    assert_eq!((cold[0].level, cold[1].level), (3, 1));
    let start = WalkStart {
        level: 2,
        node: cold[0].next,
    };
    let mut again = Vec::new();
    pt.walk(1, VirtAddr(base), Some(start), &mut again).unwrap();
    assert_eq!(again, cold[1..]);
}

/// An allocator of `mib` MiB in which exactly `k` 2 MiB blocks are free and every other
/// 2 MiB block has one frame pinned (plenty of 4 KiB frames, no other 2 MiB block).
fn with_free_blocks(mib: u64, k: usize) -> FrameAllocator {
    let mut f = FrameAllocator::new(mib << 20, FrameAlloc::Sequential, 0);
    let held: Vec<u64> = (0..k).map(|_| f.alloc(PageSize::Size2M).unwrap()).collect();
    f.fragment(1.0, 7);
    for b in held {
        f.free(b, PageSize::Size2M).unwrap();
    }
    f
}

#[test]
fn nodes_fall_back_to_4k_tables_where_no_2m_block_is_free() {
    // One 4K page in each of 5 different 1 GiB regions (one 512 GiB region): the root
    // wants a merged L4+L3 node and each region a merged L2+L1 node, 6 in all, in that
    // order. With k free 2 MiB blocks the first min(k, 6) get one.
    //   k   merged  fallbacks  table bytes                     reads per region
    //   0     0        6       root PML4+PDPT 2 x 4K + 5 x (PD+PT) 2 x 4K = 12 x 4K   4
    //   1     1        5       2M + 5 x 2 x 4K                                         3
    //   3     3        3       3 x 2M + 3 x 2 x 4K      2 (first two regions), then 3
    //   6     6        0       6 x 2M                                                   2
    let page = 4096u64;
    for (k, merged, fallbacks, bytes, reads) in [
        (0, 0, 6, 12 * page, [4, 4, 4, 4, 4]),
        (1, 1, 5, MIB2 + 10 * page, [3, 3, 3, 3, 3]),
        (3, 3, 3, 3 * MIB2 + 6 * page, [2, 2, 3, 3, 3]),
        (6, 6, 0, 6 * MIB2, [2, 2, 2, 2, 2]),
    ] {
        let mut f = with_free_blocks(64, k);
        let mut pt = Flattened::new(&cfg(&["L4+L3", "L2+L1"]), &mut f).unwrap();
        for r in 0..5u64 {
            pt.map(
                1,
                VirtAddr(r * GIB + 0x5000),
                PageSize::Size4K,
                PhysAddr((r + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        assert_eq!(pt.merge_counts(), (merged, fallbacks), "k = {k}");
        assert_eq!(pt.table_bytes(), bytes, "k = {k}");
        let stats = pt.stats();
        assert_eq!(stats["fallbacks"], fallbacks, "k = {k}");
        assert_eq!(stats["merged_nodes"], merged, "k = {k}");
        for (r, &want) in reads.iter().enumerate() {
            let mut steps = Vec::new();
            let tr = pt.walk(1, VirtAddr(r as u64 * GIB + 0x5000), None, &mut steps);
            assert_eq!(tr.unwrap().frame.0, (r as u64 + 1) << 12);
            assert_eq!(steps.len(), want, "k = {k}, region {r}");
        }
    }
}

#[test]
fn a_run_on_fragmented_memory_counts_every_fallback() {
    // 4,096 accesses over 16 MiB at a 1 GiB-aligned base: one 1 GiB region, so two nodes
    // want merging (the root and one L2+L1 node). Pre-fragmentation of every 2 MiB block
    // leaves no 2 MiB block: both fall back, and the tables are radix's 1 + 1 + 1 + 8 (one
    // PT per touched 2 MiB region: 16 MiB / 2 MiB).
    let wl = "name = \"u\"\naccesses = 4096\nseed = 3\nbase = 0x40000000\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";
    let run = |sets: &[&str]| {
        simulate(
            &inputs(Some("skylake-flattened"), Some(wl), sets),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"))
    };
    let r = run(&["os.fragmentation=1.0", "os.phys_mem=\"1GiB\""]);
    let pt = &r.stats.page_tables[0];
    assert_eq!(pt["fallbacks"], 2);
    assert_eq!(pt["merged_nodes"], 0);
    assert_eq!(pt["bytes"], 11 * 4096);
    let r = run(&["os.phys_mem=\"1GiB\""]);
    let pt = &r.stats.page_tables[0];
    assert_eq!(
        (pt["fallbacks"].as_u64(), pt["merged_nodes"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(pt["bytes"], 2 * MIB2);
    // Without walk caches every walk then reads two entries.
    let r = run(&["os.phys_mem=\"1GiB\"", "walker.psc=[]"]);
    let h = &r.stats.total.walks.reads_per_walk_histogram;
    assert!(
        h[2] > 0
            && h.iter()
                .enumerate()
                .all(|(n, &c)| n == 2 || n == 1 || c == 0)
    );
}

/// A random page-aligned mapping in a few GiB of two 512 GiB regions, so that pages of
/// every size collide.
fn random_op(r: &mut Xoshiro256PlusPlus) -> (u64, PageSize) {
    let x = r.next_u64();
    let size = match x % 20 {
        0 => PageSize::Size1G,
        1..=4 => PageSize::Size2M,
        _ => PageSize::Size4K,
    };
    let region = if x >> 60 & 1 == 0 { 0 } else { 0x80_0000_0000 };
    let off = (r.next_u64() % (4 * GIB)) & !(size.bytes() - 1);
    (region + off, size)
}

#[test]
fn translates_every_page_exactly_as_a_radix_table() {
    for (seed, free_blocks) in [(1u64, 64usize), (2, 3), (3, 0)] {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut fr = FrameAllocator::new(256 << 20, FrameAlloc::Sequential, 0);
        let mut ff = with_free_blocks(256, free_blocks);
        let mut radix = Radix::new(&[9, 9, 9, 9], &mut fr).unwrap();
        let mut flat = Flattened::new(&cfg(&["L4+L3", "L2+L1"]), &mut ff).unwrap();
        let (mut wr, mut wf) = (Walker::new(&pscs(), 1), Walker::new(&pscs(), 1));
        let (mut mr, mut mf) = (mem(), mem());
        let mut mapped = Vec::new();
        for i in 0..3000u64 {
            let (va, size) = random_op(&mut r);
            if r.next_u64() % 4 == 0 && !mapped.is_empty() {
                // Unmap a mapped page (any address inside it).
                let (va, size): (u64, PageSize) =
                    mapped.swap_remove((r.next_u64() % mapped.len() as u64) as usize);
                let inside = va + ((r.next_u64() % size.bytes()) & !0xfff);
                assert_eq!(
                    radix.unmap(1, VirtAddr(inside)),
                    flat.unmap(1, VirtAddr(inside)),
                    "op {i}"
                );
                continue;
            }
            let frame = (i + 1) << 30;
            let a = radix.map(1, VirtAddr(va), size, PhysAddr(frame), &mut fr);
            let b = flat.map(1, VirtAddr(va), size, PhysAddr(frame), &mut ff);
            assert_eq!(
                a.is_ok(),
                b.is_ok(),
                "op {i}: map {va:#x} {size}: {a:?} {b:?}"
            );
            if let (Ok(a), Ok(b)) = (a, b) {
                mapped.push((va, size));
                // As the OS does: a freed table must leave the walk caches.
                if a.freed_tables {
                    wr.flush();
                }
                if b.freed_tables {
                    wf.flush();
                }
            }
            // Probe a random address and one of a mapped page, by lookup and by walk.
            for probe in [random_op(&mut r).0 | 0xabc, va + 0x123] {
                let t = radix.translate(1, VirtAddr(probe));
                assert_eq!(t, flat.translate(1, VirtAddr(probe)), "op {i}: {probe:#x}");
                assert_eq!(
                    wr.walk(0, 1, VirtAddr(probe), &radix, &mut mr).translation,
                    t
                );
                assert_eq!(
                    wf.walk(0, 1, VirtAddr(probe), &flat, &mut mf).translation,
                    t
                );
            }
        }
        assert_eq!(radix.mappings(1), flat.mappings(1), "seed {seed}");
        assert!(mapped.len() > 100, "seed {seed}: {} mapped", mapped.len());
        let (merged, fallbacks) = flat.merge_counts();
        match free_blocks {
            64 => assert_eq!(fallbacks, 0),
            0 => assert_eq!(merged, 0),
            _ => assert!(merged == 3 && fallbacks > 0, "{merged} {fallbacks}"),
        }
    }
}

/// The PTE-read lines of `mmusim explain` output, as (node name, index).
fn reads(out: &str) -> Vec<(String, u64)> {
    out.lines()
        .filter_map(|l| l.trim().strip_prefix("PTE read"))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(w[1], "index", "{l}");
            let idx = u64::from_str_radix(w[2].trim_start_matches("0x"), 16).unwrap();
            (w[0].to_string(), idx)
        })
        .collect()
}

#[test]
fn explain_shows_the_merged_fields_and_reads() {
    let addr = 0x7f12_3456_7abcu64;
    let hi = (addr >> 30) & 0x3ffff; // bits [47:30]: the PML4+PDPT node's index
    let lo = (addr >> 12) & 0x3ffff; // bits [29:12]: the PD+PT node's index
    let run = |warm: &[&str]| {
        let mut args = vec!["explain", "-c", "skylake-flattened", "0x7f1234567abc"];
        for w in warm {
            args.extend(["--warm", w]);
        }
        let (code, out, err) = super::analysis::mmusim(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let cold = run(&[]);
    let field =
        |name: &str, bits: &str, v: u64| format!("{name:<9} index  bits [{bits}] = {v:#07x} ({v})");
    assert!(cold.contains(&field("PML4+PDPT", "47:30", hi)), "{cold}");
    assert!(cold.contains(&field("PD+PT", "29:12", lo)), "{cold}");
    // Cold: the root entry is not present (1 read), the OS maps the page, the walk
    // again reads the merged root entry and the merged PD+PT entry.
    let root = ("PML4+PDPT".to_string(), hi);
    let leaf = ("PD+PT".to_string(), lo);
    assert_eq!(reads(&cold), [root.clone(), root, leaf.clone()], "{cold}");
    assert!(
        cold.contains("walks 2, PTE reads 3, page faults 1"),
        "{cold}"
    );
    // A page of the same 1 GiB warmed first: the PDPT walk cache holds the merged root
    // entry, so both walks read only the PD+PT entry.
    let warm = run(&["0x7f1234000000"]);
    assert_eq!(reads(&warm), [leaf.clone(), leaf], "{warm}");
    assert!(warm.contains("pdpt (level 3) hit"), "{warm}");
    assert!(warm.contains("start at the PD+PT table"), "{warm}");
    assert!(
        warm.contains("walks 2, PTE reads 2, page faults 1"),
        "{warm}"
    );
}

#[test]
fn bad_merge_lists_are_refused_naming_the_key() {
    for (set, key) in [
        (
            r#"page_table.merge=["L4+L3","L3+L2"]"#,
            "page_table.merge[1]: `L3+L2` overlaps",
        ),
        (
            r#"page_table.merge=["L2L1"]"#,
            "page_table.merge[0]: `L2L1` is not a pair",
        ),
        (
            r#"page_table.merge=["L6+L5"]"#,
            "page_table.merge[0]: `L6+L5`: the table has 4 levels",
        ),
        ("page_table.levels=6", "page_table.levels: must be 4 or 5"),
    ] {
        let (code, _, err) =
            super::analysis::mmusim(&["run", "-q", "-c", "skylake-flattened", "--set", set]);
        assert_eq!(code, 2, "{set}: {err}");
        assert!(err.contains(key), "{set}: {err}");
    }
}
