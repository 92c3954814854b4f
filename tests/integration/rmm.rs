//! Redundant Memory Mappings (Karakostas et al., ISCA 2015; `os.rmm`, preset
//! `skylake-rmm`): eager paging makes the ranges the buddy allocator predicts, a range
//! TLB hit needs no walk, the range walker reads the table's nodes, fragmentation
//! shrinks the ranges and raises the walks, refused events and configs name the key,
//! and `[os.rmm]` without effect changes nothing. Counts are derived by hand in each
//! test's comment; the runs are the debug build's, so every TLB hit (a range TLB's
//! included) is checked against the page table and every access against the
//! accounting invariant.

use super::runs::inputs;
use mmusim::addr::VirtAddr;
use mmusim::config::{FrameAlloc, OsConfig, RmmConfig};
use mmusim::os::{Effects, Os, OsStats};
use mmusim::pagetable::{Mappable, Radix};
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// The workloads' default base.
const BASE: u64 = 0x10_0000_0000;

/// `passes` sequential passes over `pages` pages, one access per page.
fn seq(pages: u64, passes: u64) -> String {
    format!(
        "name = \"seq\"\naccesses = {}\ninstrs_per_access = 1\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"{}KiB\"\nstride = 4096\n",
        pages * passes,
        pages * 4
    )
}

fn run(preset: &str, wl: &str, sets: &[&str]) -> RunReport {
    let mut all = vec!["sim.warmup_accesses=0"];
    all.extend_from_slice(sets);
    let r = simulate(&inputs(Some(preset), Some(wl), &all), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{preset} {sets:?}: {e}"));
    r.stats.total.check_accounting().unwrap();
    for c in &r.stats.cores {
        c.check_accounting().unwrap();
    }
    r
}

fn hits(r: &RunReport, name: &str) -> u64 {
    let t = r.stats.total.tlb.iter().find(|t| t.counts.name == name);
    t.unwrap().counts.hits
}

/// 1000 pages at fragmentation 0, 64 MiB of sequential frames (one order-14 block at
/// frame 0). The radix root takes frame 0, leaving free blocks 1 (order 0), 2 (1), 4
/// (2), 8 (3), ..., 8192 (13). Largest blocks first: 1000 = 512 + 256 + 128 + 64 + 32 +
/// 8, taken as frames 512, 256, 128, 64, 32 and 8 (the smallest free block of each
/// order); the tables the maps need are order-0 frames (1, 2, 3, then 4 for the second
/// leaf table) and leave those blocks alone. Each block lies below the one before it,
/// so no two touch in the right order: six ranges, virtual page 0 -> frame 512, 512 ->
/// 256, 768 -> 128, 896 -> 64, 960 -> 32, 992 -> 8. The B-tree is one node (6 <= 128
/// slots), in the next free order-0 frame, 5.
#[test]
fn eager_paging_makes_the_ranges_the_buddy_allocator_predicts() {
    let mut cfg = OsConfig::with_memory(64 << 20);
    cfg.frame_alloc = FrameAlloc::Sequential;
    cfg.rmm = Some(RmmConfig {
        eager_paging: true,
        range_tlb_entries: 32,
    });
    let mut os = Os::new(&cfg, 1);
    let mut pt = Radix::new(&[9; 4], &mut os.frames).unwrap();
    os.rmm_heap(1, BASE, BASE + 1000 * 4096);
    let (mut stats, mut fx) = (OsStats::default(), Effects::default());
    os.handle_fault(&mut pt, 1, VirtAddr(BASE + 700 * 4096), &mut stats, &mut fx)
        .unwrap();
    let t = os.range_table(1).unwrap();
    let got: Vec<(u64, u64, u64)> = (t.ranges().iter())
        .map(|r| {
            (
                (r.base - BASE) >> 12,
                r.pages(),
                r.base.wrapping_add(r.offset) >> 12,
            )
        })
        .collect();
    let want = [
        (0, 512, 512),
        (512, 256, 256),
        (768, 128, 128),
        (896, 64, 64),
        (960, 32, 32),
        (992, 8, 8),
    ];
    assert_eq!(got, want);
    // Every page mapped, at va + offset of its range.
    for (first, n, frame) in want {
        for p in [first, first + n - 1] {
            let tr = pt.translate(1, VirtAddr(BASE + p * 4096)).unwrap();
            assert_eq!(tr.frame.0 >> 12, frame + p - first, "page {p}");
        }
    }
    assert_eq!((t.height(), t.nodes()), (1, 1));
    let mut lines = Vec::new();
    let r = t.walk(BASE + 999 * 4096, |pa| lines.push(pa));
    assert_eq!(r.map(|r| r.pages()), Some(8));
    // Six keys in slots 0-5 (lines 0, 0, 1, 1, 2, 2); slot 5: mids 3 (line 1) and 5
    // (line 2), both keys <= va.
    assert_eq!(lines, vec![5 * 4096 + 64, 5 * 4096 + 128]);
    // One fault, its cost: minor_fault_cycles + 999 x zero_4k_cycles (both 0 here).
    assert_eq!(stats.minor_faults, 1);
    assert_eq!(stats.mapped_bytes, 1000 * 4096);
    let rep = os.rmm_report().unwrap();
    assert_eq!(
        (rep.ranges, rep.max_range_pages, rep.eager_blocks),
        (6, 512, 6)
    );
    assert_eq!((rep.eager_pages, rep.untouched_pages), (1000, 1000));
}

/// The same 1000 pages on skylake-rmm, three sequential passes (3000 accesses). The
/// blocks are as above (skylake's shuffled top-order blocks change which gigabyte,
/// not the split), so six ranges. Pass 1: page 0 faults (the walk that faults and the
/// one after: 2 walks; the fault maps all 1000 pages and the range walk after it finds
/// range 0); pages 1-511 hit the range TLB; page 512 misses both and walks once (its
/// range walk fills range 1), and so do 768, 896, 960 and 992: 2 + 5 = 7 walks, 6
/// range walks, all finding a range. Passes 2 and 3 walk no more: the 6 ranges stay in
/// the 32-entry range TLB. The STLB holds only the 6 walked pages (a range hit fills
/// the L1 TLB, not the STLB beside which the range TLB sits), which the 64-entry L1
/// TLB has lost by the next pass: 12 STLB hits; range TLB hits 3000 - 6 - 12 = 2982.
/// Each range walk reads 2 lines of the one-node table (slot k of 6: mids 3 then 1 or
/// 5, then 0, 2 or 4 on a line read already; worked out in os/rmm.rs's tests): 12.
/// Without RMM, skylake walks each page twice in pass 1 and finds every page in its
/// 1536-entry STLB in passes 2 and 3 (1000 pages over 128 sets, at most 8 a set of 12
/// ways): 2000 walks.
#[test]
fn a_range_tlb_hit_needs_no_walk() {
    let wl = seq(1000, 3);
    let r = run("skylake-rmm", &wl, &[]);
    let t = &r.stats.total;
    assert_eq!(t.walks.walks, 7);
    let k = t.rmm.as_ref().unwrap();
    assert_eq!(
        (k.range_walks, k.range_walk_hits, k.range_walk_reads),
        (6, 6, 12)
    );
    assert_eq!(k.range_tlb_hits, 2982);
    assert_eq!(hits(&r, "range_tlb"), 2982);
    assert_eq!(hits(&r, "stlb"), 12);
    let o = r.stats.rmm.as_ref().unwrap();
    assert_eq!((o.ranges, o.max_range_pages, o.eager_pages), (6, 512, 1000));
    assert_eq!((o.untouched_pages, o.coverage), (0, 1.0));
    // The range walks' reads are not translation time.
    assert!(k.range_walk_cycles > 0);
    let base = run("skylake", &wl, &[]);
    assert_eq!(base.stats.total.walks.walks, 2000);
    assert!(base.stats.total.rmm.is_none() && base.stats.rmm.is_none());
}

/// Eager paging's overhead: a workload touching one page in four of its 4000-page heap
/// (stride 16 KiB, 1000 accesses) has the whole heap mapped at its first fault: 4000
/// pages, 3000 never touched.
#[test]
fn pages_never_touched_are_eager_pagings_overhead() {
    let wl = "name = \"s\"\naccesses = 1000\ninstrs_per_access = 1\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"16000KiB\"\nstride = 16384\n";
    let r = run("skylake-rmm", wl, &[]);
    let o = r.stats.rmm.as_ref().unwrap();
    assert_eq!(
        (o.eager_pages, o.untouched_pages, o.eager_faults),
        (4000, 3000, 1)
    );
}

/// Fragmentation pins one frame in a share of the 2 MiB blocks, so fewer large blocks
/// are free: the same 8192-page heap (32 MiB) takes smaller blocks, so more, smaller
/// ranges; once they outnumber the 32 range-TLB entries a pass over them walks again.
/// Prediction: at 0, one order-13 block, one range, 2 walks over two passes (the fault
/// alone); at 0.5 and 0.9, more ranges, a smaller largest range, more walks and fewer
/// range-TLB hits, each monotonically; coverage of mapped memory stays whole (every
/// eagerly mapped page is in a range).
#[test]
fn fragmentation_shrinks_ranges_and_raises_walks() {
    let wl = seq(8192, 2);
    let at = |f: &str| {
        let set = format!("os.fragmentation={f}");
        let r = run("skylake-rmm", &wl, &[&set]);
        let o = r.stats.rmm.clone().unwrap();
        (o, r.stats.total.walks.walks, hits(&r, "range_tlb"))
    };
    let (o0, w0, h0) = at("0");
    assert_eq!((o0.ranges, o0.max_range_pages, w0), (1, 8192, 2));
    // Every access but page 0's first (walked) and second (an STLB hit: the walk
    // filled the STLB, the range TLB's hits fill only the L1 TLB, which lost it).
    assert_eq!(h0, 2 * 8192 - 1 - 1);
    let (o5, w5, h5) = at("0.5");
    let (o9, w9, h9) = at("0.9");
    assert!(
        o0.ranges < o5.ranges && o5.ranges < o9.ranges,
        "{o5:?} {o9:?}"
    );
    assert!(o0.max_range_pages > o5.max_range_pages && o5.max_range_pages >= o9.max_range_pages);
    assert!(w0 < w5 && w5 < w9, "{w0} {w5} {w9}");
    assert!(h0 > h5 && h5 > h9, "{h0} {h5} {h9}");
    for o in [&o0, &o5, &o9] {
        assert_eq!((o.range_pages, o.coverage), (8192, 1.0));
    }
}

/// `[os.rmm]` with eager paging off and no range TLB changes no simulation figure:
/// the same stats as skylake's (the config differs, so only `stats` are compared).
#[test]
fn rmm_without_effect_changes_nothing() {
    let wl = seq(3000, 2);
    let a = run("skylake", &wl, &[]);
    let b = run(
        "skylake",
        &wl,
        &["os.rmm.eager_paging=false", "os.rmm.range_tlb_entries=0"],
    );
    let json = |r: &RunReport| serde_json::to_string(&r.stats).unwrap();
    assert_eq!(json(&a), json(&b));
}

/// An munmap in the middle of the one range of a 64-page mmap (pages 16-19, at access
/// `at`) splits it in two: the pages go, the range table drops them, and so does the
/// range TLB entry that covered them (the debug build checks every hit after it).
/// Three passes and 8 more accesses (200): pages 16-19 are reached again at accesses
/// 144-147. Unmapped at 190, nothing touches them again: one eager fault, ranges
/// [0, 16) and [20, 64), 60 pages. Unmapped at 100, access 144 faults in the heap
/// (the workload's range, which the munmap of the mmap'd range does not remove) and
/// eager paging maps the 4 unmapped pages with one order-2 block: the buddy allocator's
/// only free order-2 block is the one the unmap freed (its 4 frames merged; its buddy
/// is in use; the lower small blocks went to the tables and the range-table node), so
/// the pages return to their old frames, the new range has the old offset and joins
/// both neighbours: 2 eager faults, one range of 64 pages again. An mprotect over a
/// range is refused naming `os.rmm`.
#[test]
fn munmap_splits_a_range_and_mprotect_is_refused() {
    let ev = |kind: &str, at: u64, extra: &str| {
        format!(
            "name = \"e\"\naccesses = 200\ninstrs_per_access = 1\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"256KiB\"\nstride = 4096\n[[event]]\nat = 0\nkind = \"mmap\"\naddr = 0x1000000000\nlen = \"256KiB\"\n[[event]]\nat = {at}\nkind = \"{kind}\"\naddr = 0x1000010000\nlen = \"16KiB\"\n{extra}"
        )
    };
    let r = run("skylake-rmm", &ev("munmap", 190, ""), &[]);
    let o = r.stats.rmm.as_ref().unwrap();
    assert_eq!((o.eager_faults, o.ranges, o.range_pages), (1, 2, 60));
    let r = run("skylake-rmm", &ev("munmap", 100, ""), &[]);
    let o = r.stats.rmm.as_ref().unwrap();
    assert_eq!((o.eager_faults, o.ranges, o.range_pages), (2, 1, 64));
    let e = simulate(
        &inputs(
            Some("skylake-rmm"),
            Some(&ev("mprotect", 100, "prot = \"r\"\n")),
            &[],
        ),
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(e.0.contains("os.rmm") && e.0.contains("mprotect"), "{e}");
}

/// A coalesced STLB and a range TLB coexist (the range is handed over apart from
/// CoLT's run): on skylake-colt with `os.rmm.range_tlb_entries=32` the scan of
/// [`a_range_tlb_hit_needs_no_walk`] walks the same 7 times (the range TLB, not the
/// STLB, decides which pages walk: every page not in a walked range's first access is
/// a range-TLB or STLB hit), and the STLB's coalesced fills are the 6 walks' runs.
#[test]
fn a_coalesced_stlb_and_a_range_tlb_coexist() {
    let r = run(
        "skylake-colt",
        &seq(1000, 3),
        &["os.rmm.range_tlb_entries=32"],
    );
    assert_eq!(r.stats.total.walks.walks, 7);
    let stlb = (r.stats.total.tlb.iter())
        .find(|t| t.counts.name == "stlb")
        .unwrap();
    assert_eq!(stlb.counts.fills, 6);
    assert!(stlb.counts.coalesced.as_ref().unwrap().coalesced_fills > 0);
}
