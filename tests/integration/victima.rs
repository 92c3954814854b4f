//! Victima (Kanellopoulos et al., MICRO 2023; `[victima]`): TLB blocks in the L2 cache
//! answer STLB misses without a walk; a block covers exactly the 8 pages of its PTE
//! line; an unmap drops it; the accounting invariant holds; bad configs are refused with
//! the key path. Counts are derived by hand in each test's comment.
//!
//! Common setting: `skylake-victima` (L2 2 MiB, 16-way, 2048 sets, 16 cycles), data
//! accesses kept out of the caches (only PTE lines and blocks compete for the L2), the
//! predictor `always`, no insertion on eviction unless a test says so. Pages are
//! numbered from the workloads' base 0x10_0000_0000 (VPN 0x100_0000, a multiple of
//! 2048 x 8): page p's block is group p / 8, in L2 set p / 8; its STLB set (128 sets)
//! is p mod 128 and its L1 TLB set (16 sets) p mod 16.

use super::runs::inputs;
use mmusim::report::RunReport;
use mmusim::run::simulate;

const COMMON: &[&str] = &[
    "memory.data_through_caches=false",
    "victima.predictor=\"always\"",
    "victima.insert_on_eviction=false",
];

fn run_with(preset: &str, refs: &[u64], events: &str, sets: &[&str]) -> RunReport {
    crate::run_refs(preset, (refs, events), COMMON, sets)
}

fn run(refs: &[u64], sets: &[&str]) -> RunReport {
    run_with("skylake-victima", refs, "", sets)
}

/// The L2's block counters (the only level holding blocks).
fn l2_blocks(r: &RunReport) -> mmusim::memory::BlockStats {
    let l2 = r.stats.caches.iter().find(|c| c.name == "l2").unwrap();
    l2.tlb_blocks.clone().expect("the l2 holds blocks")
}

/// N = 4096 pages touched in order, twice. Pass 1: every page faults (walk, fault,
/// walk: 2 walks). Page 8k finds no block (its group's first touch); its block is made
/// after the fault with page 8k present; pages 8k+1..8k+7 find the block without their
/// page (not present when it was made), walk and fault, and each walk refreshes the
/// block with its page. So pass 1: 2N walks, N faults, N/8 = 512 blocks inserted,
/// 7N/8 = 3584 probes finding the block without the page, no block hit. The 512 blocks
/// sit one per L2 set 0..511 (asserted: none evicted). Pass 2: the STLB (128 sets x 12)
/// holds pages 2560..4095 after pass 1; in pass 2 page p < 2560 misses, and page
/// p >= 2560 has had p / 128 >= 20 > 12 fills into its set first: every page misses the
/// STLB (and the 64-entry L1), and every block holds its 8 pages: N block hits, no
/// walk. Totals: walks 2N = 8192, probes 2N, hits N. Without Victima (the same preset,
/// `victima.enable=false`) pass 2 walks once a page: 3N = 12288 walks.
#[test]
fn second_pass_hits_blocks_and_walks_nothing() {
    const N: u64 = 4096;
    let refs: Vec<u64> = (0..N).chain(0..N).collect();
    let on = run(&refs, &[]);
    let off = run(&refs, &["victima.enable=false"]);
    let b = l2_blocks(&on);
    assert_eq!((b.evicted_blocks, b.invalidated), (0, 0), "precondition");
    let t = &on.stats.total;
    let v = t.victima.as_ref().expect("reported when on");
    assert_eq!(t.minor_faults, N);
    assert_eq!(t.walks.walks, 2 * N);
    assert_eq!(v.counters.probes, 2 * N);
    assert_eq!(v.counters.block_hits, N);
    assert_eq!(v.counters.not_present_in_block, 7 * N / 8);
    assert_eq!(v.counters.inserted_on_miss, N / 8);
    assert_eq!(b.inserted, N / 8);
    assert_eq!(v.hit_rate, 0.5);
    // Each hit costs the L2's 16 cycles, as PTE time.
    assert_eq!(v.counters.block_hit_cycles, 16 * N);
    // Held at the end: all 512 blocks, reach 512 x 8 x 4 KiB = 16 MiB.
    assert_eq!(v.blocks_held_4k, N / 8);
    assert_eq!(v.reach_bytes, 16 << 20);
    assert_eq!(b.held, N / 8);
    let o = &off.stats.total;
    assert!(o.victima.is_none(), "absent when off");
    assert_eq!(o.walks.walks, 3 * N);
    assert_eq!(o.minor_faults, N);
    assert!(off.stats.caches.iter().all(|c| c.tlb_blocks.is_none()));
}

/// STLB and L1 TLB entries of pages 0..15 are pushed out by 12 far pages per STLB set
/// 0..15 (pages 128i + s, i = 1..12, s = 0..15: L1 set s and STLB set s each take 12
/// fills), whose blocks (groups 16i + s/8, L2 sets 16..193) never share a set with
/// groups 0 and 1. Then pages 7, 8, 15, 16: 7 is in group 0's block (pages 0..7), 8 and
/// 15 in group 1's (8..15): three hits; 16 is in group 2, whose block was never made
/// (no page of 16..23 was touched): probe miss, walk, fault, walk. Walks: 16 pages + 192
/// far pages, 2 each (first touch), + 2 for page 16 = 418; block hits 3. Without
/// Victima 7, 8, 15 walk once each: 421.
#[test]
fn a_block_covers_exactly_the_8_pages_of_its_pte_line() {
    let mut refs: Vec<u64> = (0..16).collect();
    for i in 1..=12 {
        refs.extend((0..16).map(|s| 128 * i + s));
    }
    refs.extend([7, 8, 15, 16]);
    let on = run(&refs, &[]);
    let off = run(&refs, &["victima.enable=false"]);
    assert_eq!(l2_blocks(&on).evicted_blocks, 0, "precondition");
    let t = &on.stats.total;
    let v = t.victima.as_ref().unwrap();
    assert_eq!(v.counters.block_hits, 3);
    assert_eq!(t.walks.walks, 418);
    assert_eq!(t.minor_faults, 16 + 192 + 1);
    assert_eq!(off.stats.total.walks.walks, 421);
    // Blocks: groups 0, 1 (pages 0..15), 2 (page 16), and the far pages' 2 per i.
    assert_eq!(v.counters.inserted_on_miss, 3 + 2 * 12);
}

/// Pages 0..7 (group 0's block, made and completed), far pages 128i + s for i = 1..12,
/// s = 0..7 (96 pages; their STLB and L1 sets 0..7 take 12 fills each, pushing pages
/// 0..7 out; their blocks are groups 16i, never group 0's set), then
/// `munmap` of page 3 (its translation leaves the TLBs, and the block with it), then
/// pages 5 and 3. Page 5: its block is gone: probe miss, one walk (mapped), and a new
/// block is made; page 3: the new block has 3 not present (unmapped): walk, fault,
/// walk. Walks: 8 x 2 + 96 x 2 + 1 + 2 = 211, block hits 0, blocks invalidated 1.
/// Without the munmap, page 5 and page 3 both hit group 0's block: 208 walks, 2 hits.
#[test]
fn munmap_drops_the_block_and_the_next_access_walks() {
    let mut refs: Vec<u64> = (0..8).collect();
    for i in 1..=12 {
        refs.extend((0..8).map(|s| 128 * i + s));
    }
    let at = refs.len();
    refs.extend([5, 3]);
    let munmap =
        format!("[[event]]\nat = {at}\nkind = \"munmap\"\noffset = \"12KiB\"\nlen = \"4KiB\"\n");
    let with = run_with("skylake-victima", &refs, &munmap, &[]);
    let without = run(&refs, &[]);
    let (a, b) = (&with.stats.total, &without.stats.total);
    let (va, vb) = (a.victima.as_ref().unwrap(), b.victima.as_ref().unwrap());
    assert_eq!(a.walks.walks, 211);
    assert_eq!(va.counters.block_hits, 0);
    assert_eq!(l2_blocks(&with).invalidated, 1);
    assert_eq!(b.walks.walks, 208);
    assert_eq!(vb.counters.block_hits, 2);
    assert_eq!(l2_blocks(&without).invalidated, 0);
}

/// Insertion on STLB eviction: with insertion on a miss off, only evictions make blocks.
/// Pages 0..15, then 12 far pages per STLB set 0..15 (as above): sets 0..15 take 13
/// fills each (page s, then 12 far pages), and the 13th, far page 128 x 12 + s, evicts
/// page s (the oldest): 16 evictions, of pages 0..15, all at the last far round: groups
/// 0 and 1, 2 background walks (the other 14 evictions find their block already made).
/// Then pages 7, 8: both hit (groups 0 and 1), and their fills into the full STLB sets
/// 7 and 8 evict far pages 135 and 136 (the oldest there), of groups 16 and 17, never
/// made: 2 more insertions, 4 in all, 4 background walks. Walks (the core's, not the
/// background ones): 2 x (16 + 192) = 416.
#[test]
fn eviction_inserts_with_a_background_walk() {
    let mut refs: Vec<u64> = (0..16).collect();
    for i in 1..=12 {
        refs.extend((0..16).map(|s| 128 * i + s));
    }
    refs.extend([7, 8]);
    let r = run(
        &refs,
        &[
            "victima.insert_on_eviction=true",
            "victima.insert_on_miss=false",
        ],
    );
    let t = &r.stats.total;
    let v = t.victima.as_ref().unwrap();
    assert_eq!(v.counters.inserted_on_miss, 0);
    assert_eq!(v.counters.inserted_on_eviction, 4);
    assert_eq!(v.counters.background_walks, 4);
    // A background walk from the root reads 4 PTEs (4-level radix).
    assert_eq!(v.counters.background_reads, 16);
    assert_eq!(v.counters.block_hits, 2);
    assert_eq!(t.walks.walks, 416);
}

/// Every OS event that changes translations (migration, munmap, mprotect, copy-on-write
/// after a fork) on two cores with a small STLB, so that most misses are answered by
/// blocks: the debug build checks every block hit against the page table (a block kept
/// past a change of one of its pages fails it), every TLB hit, and the accounting
/// invariant at every access; insertion on eviction and the PTW-cost predictor on.
#[test]
fn os_events_keep_every_block_hit_exact() {
    // The child runs (on a core beside its parent's address space).
    let text = crate::os_event_stress("kind = \"fork\"\nchild_accesses = 20000");
    let sets = [
        "sim.cores=2",
        "tlb.stlb.entries=64",
        "tlb.stlb.ways=4",
        "victima.predictor=\"ptw-cp\"",
        "victima.insert_on_eviction=true",
    ];
    let r = simulate(
        &inputs(Some("skylake-victima"), Some(&text), &sets),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    t.check_accounting().unwrap();
    let e = &t.os_events;
    assert!(e.migrated_pages > 0 && e.unmapped_pages > 0 && e.cow_faults > 0);
    let v = t.victima.as_ref().unwrap();
    assert!(v.counters.block_hits > 10_000, "{v:?}");
    assert!(v.counters.inserted_on_eviction > 0 && v.counters.predicted_cheap > 0);
    assert!(l2_blocks(&r).invalidated > 0);
}

/// Huge pages (THP `always`: 2 MiB blocks of 8 huge pages, 16 MiB each), three
/// processes sharing one core with one address-space id (every switch flushes the
/// TLBs, and the blocks of the id with them), and the same three with an id each (their
/// entries stay across switches, so the STLB evicts other spaces' entries: no block is
/// made from the running table for them): checked as above.
#[test]
fn huge_pages_and_context_switches_keep_every_block_hit_exact() {
    let text = "name = \"z\"\naccesses = 60000\nseed = 5\n[generator]\nkind = \"zipf\"\n\
                footprint = \"256MiB\"\nexponent = 0.6\n";
    // Each switch drops every block of the address space switched to, so few survive
    // to be hit there.
    for (sets, min_hits) in [
        (&["os.huge_pages.policy=\"always\""][..], 1000),
        (
            &[
                "os.sched.processes=3",
                "os.sched.asids_per_core=1",
                "os.sched.quantum_cycles=200000",
            ],
            100,
        ),
        (
            &[
                "os.sched.processes=3",
                "os.sched.asids_per_core=3",
                "os.sched.quantum_cycles=200000",
                "victima.insert_on_eviction=true",
            ],
            101,
        ),
    ] {
        let mut all = vec!["tlb.stlb.entries=64", "tlb.stlb.ways=4"];
        all.extend_from_slice(sets);
        let r = simulate(
            &inputs(Some("skylake-victima"), Some(text), &all),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"));
        let t = &r.stats.total;
        t.check_accounting().unwrap();
        let v = t.victima.as_ref().unwrap();
        assert!(v.counters.block_hits > min_hits, "{sets:?}: {v:?}");
        if min_hits == 101 {
            assert!(v.counters.evicted_other_space > 0, "{v:?}");
        }
        if min_hits == 1000 {
            // 256 MiB in 2 MiB pages: 128 pages, 16 blocks of 2M pages.
            assert!(v.blocks_held_2m > 0, "{v:?}");
        }
    }
}

/// `explain` shows the probe. A 12-entry fully associative STLB and a 4-entry L1:
/// pages 0..7 (group 0's block made, then completed by each page's walk), then 16
/// pages of other groups (64..79) push pages 0..7 out of both TLBs (28 > 12 fills).
/// Page 1 then misses both, and its block answers in the L2's 16 cycles: TLB 1 + 9,
/// PTE 16, total 26, no walk.
#[test]
fn explain_shows_the_block_hit() {
    let page = |p: u64| format!("{:#x}", 0x10_0000_0000u64 + p * 4096);
    let warm: Vec<String> = (0..8).chain(64..80).map(page).collect();
    let warm = warm.join(",");
    let (code, out, err) = super::analysis::mmusim(&[
        "explain",
        "-c",
        "skylake-victima",
        "--set",
        "victima.predictor=\"always\"",
        "--set",
        "tlb.stlb.entries=12",
        "--set",
        "tlb.stlb.ways=12",
        "--set",
        "tlb.l1d_4k.entries=4",
        "--set",
        "tlb.l1d_4k.ways=4",
        "--warm",
        &warm,
        &page(1),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Victima: the L2 holds the page's TLB block: translation read in 16 cycle(s), the walk aborted"),
        "{out}"
    );
    assert!(
        out.contains("TLB 10 + walk caches 0 + PTE reads 16 + wait 0 + fault 0 = 26"),
        "{out}"
    );
    assert!(out.contains("walks 0, PTE reads 0, page faults 0"), "{out}");
}

/// A forked child that runs beside its parent on two cores: the STLB evicts entries of
/// the other address space, and no block may be made for them from the running one's
/// table (the debug build's check of every block hit fails on such a block). The
/// reviewer's case: uniform over 64 MiB, a fork at 50,000 whose child runs 20,000.
#[test]
fn a_running_childs_evictions_make_no_block_from_the_wrong_table() {
    let text = "name = \"churn\"\naccesses = 60000\nwrite_fraction = 0.3\nseed = 7\n\
                [generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n\
                [[event]]\nat = 50000\nkind = \"fork\"\nchild_accesses = 20000\n";
    let r = simulate(
        &inputs(Some("skylake-victima"), Some(text), &["sim.cores=2"]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    t.check_accounting().unwrap();
    let v = t.victima.as_ref().unwrap();
    assert!(v.counters.evicted_other_space > 0, "{v:?}");
}
