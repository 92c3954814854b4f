//! Direct segments (Basu et al., ISCA 2013; `os.direct_segment`): an access inside the
//! segment makes no TLB lookup, no walk and no fill and reaches va + offset; accesses
//! outside are paged exactly as without a segment; the region's backing is the buddy
//! allocator's lowest free run; bad configs are refused with the key path. Counts are
//! derived by hand in each test's comment.

use super::analysis::mmusim;
use super::runs::inputs;
use mmusim::addr::{ByteSize, VirtAddr};
use mmusim::config::{DirectSegmentConfig, FrameAlloc, OsConfig};
use mmusim::os::Os;
use mmusim::pagetable::{Mappable, Radix};
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// The workloads' default base: page 0 of a `refs` list.
const BASE: u64 = 0x10_0000_0000;
/// A page 512 GiB above the base: another PML4 entry than the segment's, so no table
/// the segment's mapping made lies on its walks.
const FAR: u64 = 1 << 27;

fn run(refs: &[u64], sets: &[&str]) -> RunReport {
    // Data accesses bypass the caches: the walks' PTE reads see the same cold caches
    // with and without the segment's data traffic.
    let mut all = vec!["memory.data_through_caches=false"];
    all.extend_from_slice(sets);
    simulate(
        &inputs(Some("skylake"), Some(&crate::refs_workload(refs, "")), &all),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

const SEGMENT_4_PAGES: &[&str] = &[
    "os.direct_segment.start=0x1000000000",
    "os.direct_segment.len=\"16KiB\"",
];

/// Pages 0-3 are the segment; FAR and FAR + 1 are paged. Inside: 0, 1, 2, 3, 0 = 5
/// accesses, each a segment hit. Outside: FAR (miss: walk, fault, walk again), FAR
/// (L1 hit), FAR+1 (miss: two walks), FAR+1 (L1 hit): 4 L1 lookups (2 hits, 2 misses),
/// 2 STLB lookups (2 misses), 4 walks, 2 minor faults. The same four outside accesses
/// alone, without a segment, give the same TLB, walk, fault and stall figures; the
/// segment's 5 accesses add only 5 x the L1 TLB latency (1 cycle, hidden by the
/// pipeline: no stall) to the translation cycles.
#[test]
fn inside_no_tlb_lookup_no_walk_outside_as_without() {
    let (f, g) = (FAR, FAR + 1);
    let with = run(&[0, 1, f, 2, f, g, 3, 0, g], SEGMENT_4_PAGES);
    let without = run(&[f, f, g, g], &[]);
    let (a, b) = (&with.stats.total, &without.stats.total);
    let ds = a.direct_segment.as_ref().expect("reported when configured");
    assert_eq!(ds.hits, 5);
    assert_eq!(ds.tlb_lookups_avoided, 5);
    assert_eq!(ds.share_of_accesses, 5.0 / 9.0);
    assert!(b.direct_segment.is_none(), "absent without a segment");
    let l1 = a.tlb.iter().find(|t| t.counts.name == "l1d_4k").unwrap();
    assert_eq!((l1.counts.hits, l1.counts.misses), (2, 2));
    let stlb = a.tlb.iter().find(|t| t.counts.name == "stlb").unwrap();
    assert_eq!((stlb.counts.hits, stlb.counts.misses), (0, 2));
    assert_eq!(a.walks.walks, 4);
    assert_eq!(a.minor_faults, 2);
    // Outside: exactly as without the segment.
    for (x, y) in a.tlb.iter().zip(&b.tlb) {
        assert_eq!(x.counts, y.counts);
    }
    assert_eq!(a.walks.walks, b.walks.walks);
    assert_eq!(a.walks.pte_reads, b.walks.pte_reads);
    assert_eq!(a.minor_faults, b.minor_faults);
    assert_eq!(a.stall_cycles, b.stall_cycles);
    let (x, y) = (&a.translation_cycles, &b.translation_cycles);
    assert_eq!(
        (x.walk_cache, x.pte, x.wait, x.fault),
        (y.walk_cache, y.pte, y.wait, y.fault)
    );
    assert_eq!(x.tlb, y.tlb + 5);
    assert_eq!(x.total, y.total + 5);
    a.check_accounting().unwrap();
    b.check_accounting().unwrap();
}

/// Without `sim.l1_tlb_overlapped` the segment's check is as visible as an L1 TLB
/// hit: 1 cycle of stall per access inside (3 accesses here, all inside).
#[test]
fn a_segment_hit_costs_what_an_l1_probe_costs() {
    let r = run(
        &[0, 3, 1],
        &[
            SEGMENT_4_PAGES[0],
            SEGMENT_4_PAGES[1],
            "sim.l1_tlb_overlapped=false",
        ],
    );
    let t = &r.stats.total;
    assert_eq!(t.direct_segment.as_ref().unwrap().hits, 3);
    assert_eq!(t.stall_cycles, 3);
    assert_eq!(t.translation_cycles.total, 3);
    assert_eq!(t.walks.walks, 0);
    assert_eq!(t.minor_faults, 0);
    assert!(t.tlb.iter().all(|x| x.lookups == 0 && x.counts.fills == 0));
    t.check_accounting().unwrap();
}

/// The OS takes the segment's backing from the buddy allocator's lowest free run and
/// maps each page to va + offset. 64 MiB, sequential frames: the radix root takes frame
/// 0 (the lowest block, split down), so the lowest run of free blocks starts at frame 1
/// (blocks 1, 2-3, 4-7, ...): a 16 KiB segment is frames 1-4, at 0x1000; the offset is
/// 0x1000 - start. The tables its mapping needs come after it.
#[test]
fn the_segment_maps_va_plus_offset_from_the_lowest_free_run() {
    let mut cfg = OsConfig::with_memory(64 << 20);
    cfg.frame_alloc = FrameAlloc::Sequential;
    let mut os = Os::new(&cfg, 1);
    let mut pt = Radix::new(&[9; 4], &mut os.frames).unwrap();
    let ds = DirectSegmentConfig {
        start: BASE,
        len: ByteSize(16 << 10),
    };
    let seg = os.make_direct_segment(&mut pt, 1, &ds).unwrap();
    assert_eq!((seg.base, seg.limit), (BASE, BASE + 0x4000));
    assert_eq!(seg.offset, 0x1000u64.wrapping_sub(BASE));
    for va in [BASE, BASE + 0x1234, BASE + 0x3fff] {
        assert!(seg.contains(va));
        assert_eq!(seg.translate(va), va - BASE + 0x1000);
        let tr = pt.translate(1, VirtAddr(va)).unwrap();
        assert_eq!(tr.frame.0 + (va & 0xfff), seg.translate(va));
    }
    assert!(!seg.contains(BASE - 1) && !seg.contains(BASE + 0x4000));
    assert_eq!(os.direct_segment(1), Some(seg));
    assert_eq!(os.direct_segment(2), None);
}

/// The default workload on skylake-ds: its whole 4 GiB heap is the segment, so every
/// access is a segment hit (the mmap event inside it costs nothing: the memory is
/// there), and no TLB is probed.
#[test]
fn the_preset_serves_the_default_heap_from_the_segment() {
    let r = simulate(
        &inputs(Some("skylake-ds"), None, &["workload.accesses=20000"]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!(t.direct_segment.as_ref().unwrap().hits, 20000);
    assert_eq!(t.walks.walks, 0);
    assert_eq!(t.minor_faults, 0);
    assert_eq!(t.os_events.mmap_calls, 1);
    t.check_accounting().unwrap();
}

/// Each bad combination exits 2 naming the key path.
#[test]
fn bad_segments_are_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    for (sets, key) in [
        (vec!["os.direct_segment.len=\"0\""], "os.direct_segment.len"),
        (
            vec!["os.direct_segment.start=0x1000000800"],
            "os.direct_segment.start",
        ),
        (
            vec!["os.direct_segment.len=\"32GiB\""],
            "os.direct_segment.len",
        ),
        (
            vec!["os.direct_segment.len=\"256TiB\""],
            "os.direct_segment.len",
        ),
        (vec!["os.paging.replacement=\"lru\""], "os.direct_segment"),
        (vec!["os.page_size=\"2M\""], "os.page_size"),
        (
            vec![
                "os.huge_pages.policy=\"promote\"",
                "os.direct_segment.len=\"3MiB\"",
            ],
            "os.direct_segment.start",
        ),
        // Every 2 MiB block holds a pinned frame: no free run reaches 4 MiB (at most
        // 511 + 511 frames between two pins). Refused when the process starts.
        (
            vec!["os.fragmentation=1", "os.direct_segment.len=\"4MiB\""],
            "os.direct_segment.len: no 4MiB of physically contiguous free memory",
        ),
    ] {
        let mut args = vec!["run", "-q", "-c", "skylake-ds", "--out", out];
        let owned: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        for s in &owned {
            args.extend(["--set", s.as_str()]);
        }
        args.extend(["--set", "workload.accesses=100"]);
        let (code, _, err) = mmusim(&args);
        assert_eq!(code, 2, "{sets:?}: {err}");
        assert!(err.contains(key), "{sets:?}: {err}");
    }
    // A virtualized machine: the ISCA 2013 design is native.
    let (code, _, err) = mmusim(&[
        "run",
        "-q",
        "-c",
        "skylake-vm",
        "--out",
        out,
        "--set",
        "os.direct_segment.start=0x1000000000",
        "--set",
        "os.direct_segment.len=\"1GiB\"",
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("os.direct_segment") && err.contains("[virt]"),
        "{err}"
    );
}

/// A munmap inside the segment is refused at the event, naming the key.
#[test]
fn unmapping_the_primary_region_is_refused() {
    let wl = format!(
        "{}[[event]]\nat = 1\nkind = \"munmap\"\noffset = \"4KiB\"\nlen = \"4KiB\"\n",
        crate::refs_workload(&[0, 1, 2], "")
    );
    let inputs = inputs(Some("skylake"), Some(&wl), SEGMENT_4_PAGES);
    let Err(e) = simulate(&inputs, &mut |_, _| {}) else {
        panic!("a munmap inside the segment ran");
    };
    assert!(
        e.0.contains("os.direct_segment") && e.0.contains("munmap"),
        "{}",
        e.0
    );
}

/// `explain` shows the segment's translation, not a TLB probe or a walk.
#[test]
fn explain_shows_the_segment() {
    let (code, out, err) = mmusim(&["explain", "-c", "skylake-ds", "0x1000001234"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("Direct segment [0x1000000000, 0x1100000000)"),
        "{out}"
    );
    assert!(!out.contains("TLB level 1"), "{out}");
    assert!(out.contains("walks 0, PTE reads 0, page faults 0"), "{out}");
}

/// No allocation per access with a segment: uniform over 4,096 pages (16 MiB), the
/// first 2,048 (8 MiB) in the segment, so about half the accesses take the segment and
/// the rest miss the STLB often (2,048 paged pages against 1,536 + 64 entries) and
/// walk. The window is the 40,000 accesses after the first 100,000 (every paged page
/// is mapped by then, see `allocs.rs`); a per-access allocation would show thousands.
#[test]
fn segment_accesses_allocate_nothing() {
    use super::allocs::allocs;
    let dir = tempfile::tempdir().unwrap();
    let wl = dir.path().join("w.toml");
    let text = "name = \"uniform\"\naccesses = 140000\nseed = 7\n\
                [generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";
    std::fs::write(&wl, text).unwrap();
    let sets: Vec<String> = [
        "sim.warmup_accesses=0",
        "os.direct_segment.start=0x1000000000",
        "os.direct_segment.len=\"8MiB\"",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let inputs = mmusim::run::load_inputs(Some("skylake"), wl.to_str(), &sets).unwrap();
    let mut first: Option<(u64, u64)> = None;
    let mut last = (0, 0);
    let r = simulate(&inputs, &mut |done, _| {
        let now = (done, allocs());
        if done >= 100_000 && first.is_none() {
            first = Some(now);
        }
        last = now;
    })
    .unwrap();
    let first = first.expect("past 100,000 accesses");
    assert!(last.0 - first.0 >= 35_000, "window of {}", last.0 - first.0);
    assert_eq!(last.1 - first.1, 0, "allocations in the window");
    let t = &r.stats.total;
    let hits = t.direct_segment.as_ref().unwrap().hits;
    // Half of 140,000 in expectation; 8 standard deviations (187 each) either side.
    assert!((70_000 - 1_500..=70_000 + 1_500).contains(&hits), "{hits}");
    assert!(t.walks.walks > 10_000, "{} walks", t.walks.walks);
}

/// Threads share their process's segment; processes have one each, loaded at every
/// switch. Uniform over 16 MiB, all inside a 16 MiB segment, so every access of every
/// task is a segment hit. Physical memory in use is
/// one 16 MiB range per process plus page tables (the region's 4,096 PTEs need 8 leaf
/// tables, plus the upper levels: well under 1 MiB).
#[test]
fn threads_share_a_segment_processes_have_one_each() {
    let wl = "name = \"u\"\naccesses = 3000\nseed = 7\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";
    let seg = [
        "os.direct_segment.start=0x1000000000",
        "os.direct_segment.len=\"16MiB\"",
    ];
    for (sets, procs) in [
        (vec!["sim.cores=2", "os.sched.threads=2"], 1u64),
        (vec!["sim.cores=2"], 2),
        // Two processes time-sharing one core: the registers follow the switches.
        (
            vec!["os.sched.processes=2", "os.sched.quantum_cycles=2000"],
            2,
        ),
    ] {
        let mut all = seg.to_vec();
        all.extend_from_slice(&sets);
        let r = simulate(&inputs(Some("skylake"), Some(wl), &all), &mut |_, _| {}).unwrap();
        let t = &r.stats.total;
        let tasks = if sets.contains(&"os.sched.threads=2") {
            2
        } else {
            procs
        };
        assert_eq!(t.accesses, 3000 * tasks, "{sets:?}");
        assert_eq!(
            t.direct_segment.as_ref().unwrap().hits,
            3000 * tasks,
            "{sets:?}"
        );
        assert_eq!(t.walks.walks, 0, "{sets:?}");
        let used = r.stats.phys_bytes_in_use;
        assert!(
            used >= procs * (16 << 20) && used < procs * (17 << 20),
            "{sets:?}: {used} bytes in use"
        );
        t.check_accounting().unwrap();
    }
}

/// Without the key, neither the config nor the report says anything of segments (the
/// JSON is byte-identical to before the feature; `cmp` of presets' result.json checked
/// that by hand against the previous build).
#[test]
fn without_a_segment_nothing_is_serialized() {
    let r = run(&[0, 1, 2], &[]);
    let json = r.to_json();
    assert!(!json.contains("direct_segment"), "{json}");
}

/// An mmap over the segment and beyond maps only what lies outside: MAP_POPULATE of
/// pages 0-7 with the segment on pages 0-3 populates pages 4-7 (4 pages), then the refs
/// 0, 5, 2, 7 are 2 segment hits
/// and 2 paged accesses whose pages are mapped: 2 TLB misses, 2 walks, no fault.
#[test]
fn an_mmap_over_the_segment_maps_only_the_rest() {
    let wl = format!(
        "{}[[event]]\nat = 0\nkind = \"mmap\"\noffset = \"0\"\nlen = \"32KiB\"\npopulate = true\n",
        crate::refs_workload(&[0, 5, 2, 7], "")
    );
    let r = simulate(
        &inputs(Some("skylake"), Some(&wl), SEGMENT_4_PAGES),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!(t.os_events.mmap_calls, 1);
    assert_eq!(t.os_events.populated_pages, 4);
    assert_eq!(t.direct_segment.as_ref().unwrap().hits, 2);
    assert_eq!(t.walks.walks, 2);
    let l1 = t.tlb.iter().find(|x| x.counts.name == "l1d_4k").unwrap();
    assert_eq!((l1.counts.hits, l1.counts.misses), (0, 2));
    t.check_accounting().unwrap();
}

/// Every page-table design takes a segment: the region's pages are mapped through the
/// design's own `map` (test builds check on every segment access that the table, where
/// it still holds the page, agrees with the registers). Uniform over 64 MiB with the
/// first 32 MiB in the segment, two processes: about half the accesses are segment
/// hits, and every access is either a hit or went to the TLBs.
#[test]
fn every_design_takes_a_segment() {
    let wl = "name = \"u\"\naccesses = 6000\nseed = 7\nwrite_fraction = 0.3\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n";
    for preset in [
        "skylake-htab",
        "skylake-inverted",
        "skylake-cuckoo",
        "skylake-clustered",
        "skylake-flattened",
        "icelake",
    ] {
        let sets = [
            "sim.cores=2",
            "os.direct_segment.start=0x1000000000",
            "os.direct_segment.len=\"32MiB\"",
        ];
        let r = simulate(&inputs(Some(preset), Some(wl), &sets), &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{preset}: {}", e.0));
        let t = &r.stats.total;
        let hits = t.direct_segment.as_ref().unwrap().hits;
        // 12,000 accesses, each inside with probability 1/2: 6,000 +- 55 (1 sd).
        assert!((5_500..=6_500).contains(&hits), "{preset}: {hits}");
        let l1: u64 = (t.tlb_levels.iter())
            .filter(|l| l.counts.level == 1)
            .map(|l| l.counts.data_hits + l.counts.data_misses)
            .sum();
        assert_eq!(hits + l1, 12_000, "{preset}");
        t.check_accounting()
            .unwrap_or_else(|e| panic!("{preset}: {e}"));
    }
}

/// A fork of a process with a segment is refused naming the key (copy-on-write would
/// move pages the registers still map).
#[test]
fn forking_a_process_with_a_segment_is_refused() {
    let wl = format!(
        "{}[[event]]\nat = 1\nkind = \"fork\"\n",
        crate::refs_workload(&[0, 1, 2], "")
    );
    let inputs = inputs(Some("skylake"), Some(&wl), SEGMENT_4_PAGES);
    let Err(e) = simulate(&inputs, &mut |_, _| {}) else {
        panic!("a fork with a segment ran");
    };
    assert!(
        e.0.contains("os.direct_segment") && e.0.contains("fork"),
        "{}",
        e.0
    );
}
