//! Speculative translation (issue 20 items 4 and 5): SpecTLB (Barr et al., ISCA 2011;
//! `[spectlb]`, `skylake-spectlb`) and level-1 page-size prediction (Papadopoulou et
//! al., HPCA 2015; `[size_prediction]`). Counts and cycles are derived by hand in each
//! test's comment.
//!
//! SpecTLB setting: `skylake-spectlb` (policy `reserve`), no warm-up, data kept out of
//! the caches (only PTE lines in them), TLBs shrunk so that a second pass misses every
//! level: the L1 4K TLB to 4 entries (one set), the STLB to 12 entries (one set of 12,
//! LRU). Pages are numbered from the workloads' base 0x10_0000_0000, which is 2 MiB
//! aligned: pages 0..511 are region 0. Every walk of region 0 after its first hits
//! the pml4, pdpt and pd walk caches (one probe, 1 cycle) and reads one leaf PTE line,
//! from the L1D after the first pass (4 cycles): 5 cycles, no walker wait (two walkers,
//! and the next miss comes at least the STLB's 9 cycles later).

use mmusim::report::RunReport;

const SHRINK: &[&str] = &[
    "memory.data_through_caches=false",
    "tlb.l1d_4k.entries=4",
    "tlb.stlb.entries=12",
];

fn run(preset: &str, refs: &[u64], events: &str, sets: &[&str]) -> RunReport {
    crate::run_refs(preset, (refs, events), SHRINK, sets)
}

fn spec(r: &RunReport) -> mmusim::sim::spec::SpecCounters {
    let s = r.stats.total.spectlb.as_ref().expect("reported when on");
    let c = s.counters.clone();
    // Every prediction ends one way.
    assert_eq!(
        c.predictions,
        c.correct + c.mispredicted + c.faulted + c.walk_first,
        "{c:?}"
    );
    c
}

/// Pages 0..63 of region 0, twice. Pass 1: each page misses and faults (64 probes).
/// Page 0: no entry; its fault reserves the region and the walk after it enters the
/// reservation (1 fill). Pages 1..63: the entry predicts, the walk meets a not-present
/// PTE: 63 `faulted`. Pass 2: cyclic over 64 pages, every access misses the 4-entry L1
/// and the 12-entry STLB: 64 probes, 64 predictions, each the page's frame (base +
/// 4 KiB x p). With `spectlb.latency = 2` each 5-cycle walk is longer: 64 correct,
/// hidden 64 x 1 walk-cache and 64 x 4 PTE cycles, SpecTLB cycles 64 x 2; the core's
/// translation latency is 64 x (5 - 2) = 192 cycles shorter than without SpecTLB
/// (`spectlb.enable = false`, the same policy: the same walks and faults). With the
/// default 12 cycles every walk answers first: 64 `walk_first`, nothing saved.
#[test]
fn a_second_pass_in_a_reservation_speculates_correctly() {
    let refs: Vec<u64> = (0..64).chain(0..64).collect();
    let fast = run("skylake-spectlb", &refs, "", &["spectlb.latency=2"]);
    let default = run("skylake-spectlb", &refs, "", &[]);
    let off = run("skylake-spectlb", &refs, "", &["spectlb.enable=false"]);
    let c = spec(&fast);
    assert_eq!((c.probes, c.predictions, c.fills), (128, 127, 1));
    assert_eq!(
        (c.faulted, c.correct, c.mispredicted, c.walk_first),
        (63, 64, 0, 0)
    );
    assert_eq!(
        (
            c.hidden_wait_cycles,
            c.hidden_walk_cache_cycles,
            c.hidden_pte_cycles
        ),
        (0, 64, 64 * 4)
    );
    assert_eq!(c.cycles, 64 * 2);
    let (t_on, t_off) = (&fast.stats.total, &off.stats.total);
    assert_eq!(t_on.walks.walks, t_off.walks.walks, "the walks still run");
    assert_eq!(t_on.walks.walks, 64 * 2 + 64);
    let saved = t_off.translation_cycles.total - t_on.translation_cycles.total;
    assert_eq!(saved, 64 * (5 - 2));
    let s = fast.stats.total.spectlb.as_ref().unwrap();
    assert_eq!(s.overlapped_walk_share, 64.0 / 128.0);
    assert_eq!(s.misprediction_rate, 0.0);
    let d = spec(&default);
    assert_eq!((d.correct, d.walk_first, d.faulted), (0, 64, 63));
    assert_eq!(
        default.stats.total.translation_cycles,
        off.stats.total.translation_cycles
    );
    assert!(off.stats.total.spectlb.is_none(), "absent when off");
}

/// Pages 0..14 and 15 of region 0 (15 is unmapped at position 16, which breaks the
/// reservation: the pages mapped stay where they are, later ones go anywhere), then
/// pages 20..39 first touched (their frames come from the allocator, not base + 4 KiB x
/// p), then a second pass over 0..14 and 20..39. Pass 1: 36 probes; page 0 fills;
/// pages 1..15 and 20..39 fault (35; the stale entry predicts, nothing is filled after
/// the break). Pass 2: 35 misses (12-entry STLB, 35 pages cyclic): pages 0..14
/// correct (15); page 20 mispredicted (1), waiting its whole walk plus the 20-cycle
/// squash, and the stale entry leaves (no live reservation replaces it); pages 21..39
/// then find no entry (probes without a prediction). Predictions 35 + 15 + 1 = 51.
/// SpecTLB cycles: 15 x 2 + 1 x 20 = 50. Against SpecTLB off: 15 x (5 - 2) saved, 20
/// lost.
#[test]
fn a_page_mapped_outside_the_reservation_mispredicts() {
    let refs: Vec<u64> = (0..16).chain(20..40).chain(0..15).chain(20..40).collect();
    let ev = "[[event]]\nat = 16\nkind = \"munmap\"\noffset = \"60KiB\"\nlen = \"4KiB\"\n";
    let on = run("skylake-spectlb", &refs, ev, &["spectlb.latency=2"]);
    let off = run("skylake-spectlb", &refs, ev, &["spectlb.enable=false"]);
    assert_eq!(on.stats.physical.reservations_broken, 1, "precondition");
    let c = spec(&on);
    assert_eq!((c.probes, c.predictions, c.fills), (71, 51, 1));
    assert_eq!(
        (c.faulted, c.correct, c.mispredicted, c.walk_first),
        (35, 15, 1, 0)
    );
    assert_eq!(c.cycles, 15 * 2 + 20);
    let (t_on, t_off) = (&on.stats.total, &off.stats.total);
    assert_eq!(
        t_on.translation_cycles.total + 15 * (5 - 2),
        t_off.translation_cycles.total + 20
    );
    let s = t_on.spectlb.as_ref().unwrap();
    assert_eq!(s.misprediction_rate, 1.0 / 71.0);
}

/// Off is off: the preset with `spectlb.enable = false` and skylake with the same
/// policy count the same statistics (only the config differs).
#[test]
fn spectlb_off_counts_what_the_policy_alone_counts() {
    let refs: Vec<u64> = (0..64).chain(0..64).collect();
    let off = run("skylake-spectlb", &refs, "", &["spectlb.enable=false"]);
    let plain = run("skylake", &refs, "", &["os.huge_pages.policy=\"reserve\""]);
    let j = |r: &RunReport| serde_json::to_string(&r.stats).unwrap();
    assert_eq!(j(&off), j(&plain));
}

/// Bad configs are refused with the key path (exit 2).
#[test]
fn spectlb_and_size_prediction_refuse_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let w = crate::refs_workload(&[0, 1], "");
    for (preset, set, key) in [
        ("skylake", "spectlb.enable=true", "spectlb"),
        ("skylake-spectlb", "spectlb.ways=3", "spectlb.ways"),
        ("skylake-spectlb", "spectlb.entries=48", "spectlb.entries"),
        ("skylake-spectlb", "sim.overlap_window=8", "spectlb"),
        ("skylake-spectlb", "victima.enable=true", "spectlb"),
        ("skylake-vm", "spectlb.enable=true", "spectlb"),
        ("skylake-spectlb", "prefetch.kind=\"sequential\"", "spectlb"),
        (
            "skylake",
            "size_prediction.entries=100",
            "size_prediction.entries",
        ),
    ] {
        let (code, err, _) = crate::run_cli(dir.path(), "bad", preset, &w, &[set]);
        assert_eq!(code, 2, "{preset} {set}: {err}");
        assert!(err.contains(&format!("{key}:")), "{preset} {set}: {err}");
    }
}

/// Size prediction, one counter for every region (`size_prediction.entries = 1`), L1
/// latencies made distinct: 4K 2 cycles, 2M 3, 1G 1 (a parallel lookup costs 3).
/// Policy `madvise` with region 0 advised: page 0..511 are one 2M page (A), region 1
/// (pages 512..) 4K pages (B). Stream A0, A1, B0 (page 512), B1 (513), A1; the counter
/// starts at 1 (4K first; order 4K, 2M, 1G; superpage: 2M, 1G, 4K):
/// - A0: 4K first, all three miss (6 cycles); a 2M page: wrong; counter 2.
/// - A1: 2M first, hit (3); right; counter 3.
/// - B0: 2M, 1G, 4K all miss (6); a 4K page: wrong; counter 2.
/// - B1: the same (6); wrong; counter 1.
/// - A1: 4K first (2) then the 2M hit (3): the misprediction costs the two probes, 5.
///
/// Predictions 5, right 1, probes 3+1+3+3+2 = 12 (extra 7), cycles 6+3+6+6+5 = 26 against
/// 5 x 3 = 15 in parallel; the level-1 cycles are those 26.
#[test]
fn size_prediction_probes_in_the_predicted_order() {
    let ev = "[[event]]\nat = 0\nkind = \"madvise\"\noffset = 0\nlen = \"2MiB\"\n";
    let refs = [0, 1, 512, 513, 1];
    let sets = [
        "os.huge_pages.policy=\"madvise\"",
        "size_prediction.entries=1",
        "tlb.l1d_4k.latency=2",
        "tlb.l1d_2m.latency=3",
    ];
    let r = run("skylake", &refs, ev, &sets);
    let t = &r.stats.total;
    assert_eq!(t.huge_pages.faults_2m, 1, "precondition");
    let p = &t.size_prediction.as_ref().expect("reported when on").stats;
    assert_eq!((p.predictions, p.correct), (5, 1));
    assert_eq!((p.probes, p.extra_probes), (12, 7));
    assert_eq!((p.cycles, p.parallel_cycles), (26, 15));
    assert_eq!(t.tlb_levels[0].counts.cycles, 26);
    let off = run("skylake", &refs, ev, &sets[..1]);
    assert!(off.stats.total.size_prediction.is_none());
    assert_eq!(off.stats.total.tlb_levels[0].counts.cycles, 5);
}

/// A region of 2M pages trains its counter (128 counters, one per region here): 8
/// regions of 2M pages (policy `always`), each touched at 4 pages: the first access of
/// a region predicts 4K (counter 1) and probes 4K, 2M, 1G (3 probes, wrong, counter 2);
/// the next three predict 2M and hit it at once (right, counter 3). Predictions 32,
/// right 24, probes 8 x 3 + 24 = 48, extra 16; all latencies 1: cycles 48, parallel 32.
/// Translations, hits and misses are those of the run without the predictor.
#[test]
fn size_prediction_learns_a_region_of_huge_pages() {
    let refs: Vec<u64> = (0..8)
        .flat_map(|r| (0..4).map(move |i| r * 512 + i))
        .collect();
    let sets = [
        "os.huge_pages.policy=\"always\"",
        "size_prediction.enable=true",
    ];
    let r = run("skylake", &refs, "", &sets);
    let p = &r.stats.total.size_prediction.as_ref().unwrap().stats;
    assert_eq!((p.predictions, p.correct), (32, 24));
    assert_eq!((p.probes, p.extra_probes), (48, 16));
    assert_eq!((p.cycles, p.parallel_cycles), (48, 32));
    let off = run("skylake", &refs, "", &sets[..1]);
    let hits = |r: &RunReport| {
        (r.stats.total.tlb_levels.iter())
            .map(|l| (l.counts.data_hits, l.counts.data_misses))
            .collect::<Vec<_>>()
    };
    assert_eq!(hits(&r), hits(&off));
    assert_eq!(r.stats.total.walks.walks, off.stats.total.walks.walks);
}
