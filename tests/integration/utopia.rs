//! Utopia's RestSeg (Kanellopoulos et al., MICRO 2023; `os.utopia`): a page placed in
//! its set's way translates after a last-level TLB miss with one tag-line read and no
//! radix walk; a full set sends the next page of that set to the FlexSeg; munmap frees
//! the way; the accounting invariant holds; the key equals the preset; bad configs and
//! events over RestSeg pages are refused with the key. Counts are derived by hand in
//! each test's comment. In process (the debug build): every TLB hit, the RestSeg
//! walk's included, is checked against the page table, every access against the
//! accounting invariant.

use super::analysis::mmusim;
use super::runs::inputs;
use mmusim::addr::{ByteSize, VirtAddr};
use mmusim::config::{OsConfig, UtopiaConfig};
use mmusim::os::{Effects, Os, OsStats};
use mmusim::pagetable::{Mappable, Radix};
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// The workloads' default base: page 0 of a `refs` list (VPN 0x100_0000, a multiple of
/// 8, so page p of the list is in set p mod 8 of an 8-set RestSeg).
const BASE: u64 = 0x10_0000_0000;
/// A page 512 GiB above the base (a multiple of 8 pages: page FAR + i is in set i mod 8).
const FAR: u64 = 1 << 27;

/// 8 sets of 2 ways: 64 KiB of frames, a 512-byte tag array (one 4 KiB frame).
const SMALL: &[&str] = &["os.utopia.size=\"64KiB\"", "os.utopia.ways=2"];

fn run(refs: &[u64], events: &str, sets: &[&str]) -> Result<RunReport, String> {
    let mut all = vec!["sim.warmup_accesses=0"];
    all.extend_from_slice(sets);
    simulate(
        &inputs(
            Some("skylake"),
            Some(&crate::refs_workload(refs, events)),
            &all,
        ),
        &mut |_, _| {},
    )
    .map_err(|e| e.0)
}

/// `first`, then 4,096 filler pages FAR.. (each a first touch), then `again`: the
/// filler pushes the first pages out of the 1,536-entry STLB (4,096 pages over its 128
/// sets: 32 to a 12-way set) and the 64-entry L1 TLB.
fn with_filler(first: &[u64], again: &[u64]) -> Vec<u64> {
    let mut r = first.to_vec();
    r.extend((0..4096).map(|i| FAR + i));
    r.extend_from_slice(again);
    r
}

/// Page 0 first (RestSeg set 0, way 0), the filler, then page 0 again. First touches:
/// 4,097, each a last-level miss, a RestSeg walk that misses (the page is not placed
/// yet), a walk, a fault and a walk again: 8,194 walks, no RestSeg hit. The RestSeg
/// takes the first two pages of each set: page 0 and filler pages 1-7 (way 0 of sets
/// 1-7), then filler pages 0 and 8-15 (way 1): 16 pages; the other 4,081 are FlexSeg.
/// Page 0 again: the last TLB level misses, the RestSeg walk reads set 0's tag line and
/// finds it: one hit, no radix walk (8,194 walks in all, not 8,195), 4,098 RestSeg walks.
#[test]
fn a_restseg_page_translates_without_a_radix_walk() {
    let r = run(&with_filler(&[0], &[0]), "", SMALL).unwrap();
    let t = &r.stats.total;
    let u = t.utopia.as_ref().expect("utopia report");
    assert_eq!(t.walks.walks, 8194);
    assert_eq!((u.restseg_walks, u.restseg_hits), (4098, 1));
    assert_eq!(
        (u.restseg_pages, u.flexseg_pages, u.restseg_freed),
        (16, 4081, 0)
    );
    assert_eq!((u.ways, u.occupied, u.peak_occupied), (16, 16, 16));
    let reads: u64 = u.tag_reads.iter().map(|s| s.reads).sum();
    assert_eq!(reads, 4098, "one tag line per RestSeg walk");
    for c in &r.stats.cores {
        c.check_accounting().unwrap();
    }
    r.stats.total.check_accounting().unwrap();
}

/// ways + 1 = 3 pages of set 0 (pages 0, 8, 16): 0 and 8 take its two ways, 16 goes to
/// the FlexSeg. Sets 1-7 take filler pages 1-7 and 9-15 (14), so 16 RestSeg pages and
/// 3 + 4,096 - 16 = 4,083 FlexSeg. Again 0, 8, 16: two RestSeg hits; 16's RestSeg walk
/// misses and one radix walk follows (no fault: it is mapped). Walks: 2 x 4,099 first
/// touches + 1 = 8,199; RestSeg walks 4,099 + 3 = 4,102.
#[test]
fn a_full_set_sends_the_next_page_to_the_flexseg() {
    let r = run(&with_filler(&[0, 8, 16], &[0, 8, 16]), "", SMALL).unwrap();
    let t = &r.stats.total;
    let u = t.utopia.as_ref().unwrap();
    assert_eq!((u.restseg_pages, u.flexseg_pages), (16, 4083));
    assert_eq!(t.walks.walks, 8199);
    assert_eq!((u.restseg_walks, u.restseg_hits), (4102, 2));
    r.stats.total.check_accounting().unwrap();
}

/// Pages 0 and 8 fill set 0, 16 goes to the FlexSeg; munmap of page 0 frees its way
/// (its tag cleared); page 24 (set 0) then takes it: 3 RestSeg pages, 1 FlexSeg, 1
/// freed, 2 ways in use at the end (8 and 24), 2 at most.
#[test]
fn munmap_frees_the_way() {
    let ev = "[[event]]\nat = 3\nkind = \"munmap\"\noffset = \"0\"\nlen = \"4KiB\"\n";
    let r = run(&[0, 8, 16, 24], ev, SMALL).unwrap();
    let u = r.stats.total.utopia.as_ref().unwrap();
    assert_eq!(
        (u.restseg_pages, u.flexseg_pages, u.restseg_freed),
        (3, 1, 1)
    );
    assert_eq!((u.occupied, u.peak_occupied), (2, 2));
}

/// The OS side by hand. skylake's 16 GiB: the tag array (one 4 KiB frame) and below it
/// the 64 KiB RestSeg are taken off the top, so the RestSeg starts at 16 GiB - 68 KiB =
/// 0x3_fffe_f000 and the tag array at 0x3_ffff_f000. VPNs 0x100_0000 and 0x100_0008
/// are in set 0: ways 0 and 1 are frames 0x3_fffe_f000 and 0x3_fffe_f000 + 4 KiB; both
/// look up tag line 0x3_ffff_f000. VPN 0x100_0010 (set 0 again) goes to the FlexSeg.
/// VPN 0x100_0003 is in set 3: way 0 of set 3 is frame base + 6 x 4 KiB, its tag line
/// 0x3_ffff_f000 + 3 x 64. munmap of the first page frees way 0 of set 0, which
/// VPN 0x100_0018 then takes (same frame).
#[test]
fn placement_frames_and_tag_lines_by_hand() {
    let mut cfg = OsConfig::with_memory(16 << 30);
    cfg.utopia = Some(UtopiaConfig {
        size: ByteSize(64 << 10),
        ways: 2,
    });
    let mut os = Os::new(&cfg, 1);
    let mut pt = Radix::new(&[9, 9, 9, 9], &mut os.frames).unwrap();
    let mut st = OsStats::default();
    let mut touch = |os: &mut Os, pt: &mut Radix, vpn: u64| {
        let mut fx = Effects::default();
        os.handle_fault(pt, 1, VirtAddr(vpn << 12), &mut st, &mut fx)
            .unwrap();
        fx.clear();
        pt.translate(1, VirtAddr(vpn << 12)).unwrap().frame.0
    };
    let (base, tags) = (0x3_fffe_f000u64, 0x3_ffff_f000u64);
    assert_eq!(touch(&mut os, &mut pt, 0x100_0000), base);
    assert_eq!(touch(&mut os, &mut pt, 0x100_0008), base + 4096);
    let flex = touch(&mut os, &mut pt, 0x100_0010);
    assert!(!(base..base + (64 << 10)).contains(&flex), "{flex:#x}");
    assert_eq!(touch(&mut os, &mut pt, 0x100_0003), base + 6 * 4096);
    let r = os.restseg().unwrap();
    assert_eq!(r.lookup(1, 0x100_0008), (tags, Some(base + 4096)));
    assert_eq!(r.lookup(1, 0x100_0010), (tags, None));
    assert_eq!(
        r.lookup(1, 0x100_0003),
        (tags + 3 * 64, Some(base + 6 * 4096))
    );
    assert_eq!(os.phys_report().reserved_bytes, (64 << 10) + 4096);
    let ev = mmusim::workload::OsEvent::new(mmusim::workload::EventKind::Munmap, BASE, BASE + 4096);
    let (mut st2, mut fx) = (OsStats::default(), Effects::default());
    os.apply_event(&mut pt, 1, ev, &mut st2, &mut fx).unwrap();
    fx.clear();
    assert_eq!(st2.restseg_freed, 1);
    assert_eq!(os.restseg().unwrap().lookup(1, 0x100_0000).1, None);
    assert_eq!(touch(&mut os, &mut pt, 0x100_0018), base);
}

/// A Zipf run over 64 MiB with a RestSeg of 8 MiB (2,048 frames for 16,384 pages):
/// under the debug build every hit (the RestSeg walk's included) matches the page
/// table and every access keeps the accounting invariant; the report's invariant
/// holds, RestSeg hits never exceed its walks and the occupancy never its ways.
#[test]
fn the_accounting_invariant_holds_on_a_zipf_run() {
    let wl = "name = \"z\"\naccesses = 20000\nseed = 5\nwrite_fraction = 0.2\n[generator]\nkind = \"zipf\"\nfootprint = \"64MiB\"\nexponent = 0.9\n";
    let all = [
        "sim.warmup_accesses=0",
        "os.utopia.size=\"8MiB\"",
        "sim.cores=2",
    ];
    let r = simulate(
        &inputs(Some("skylake-utopia"), Some(wl), &all),
        &mut |_, _| {},
    )
    .unwrap();
    for c in &r.stats.cores {
        c.check_accounting().unwrap();
    }
    let u = r.stats.total.utopia.as_ref().unwrap();
    assert!(u.restseg_hits > 0 && u.restseg_hits <= u.restseg_walks);
    assert_eq!(u.ways, 2048);
    assert!(u.occupied <= u.ways && u.occupied == u.restseg_pages - u.restseg_freed);
}

/// The key on skylake is the preset: the same figures.
#[test]
fn the_key_beside_skylake_equals_the_preset() {
    let wl = "name = \"u\"\naccesses = 5000\nseed = 7\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";
    let a = simulate(
        &inputs(Some("skylake-utopia"), Some(wl), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    let b = simulate(
        &inputs(Some("skylake"), Some(wl), &["os.utopia.ways=16"]),
        &mut |_, _| {},
    )
    .unwrap();
    let j = |r: &RunReport| serde_json::to_value(&r.stats.total).unwrap();
    assert_eq!(j(&a), j(&b));
    assert!(a.stats.total.utopia.as_ref().unwrap().restseg_hits > 0);
}

/// Bad RestSegs are refused with exit 2 at their key.
#[test]
fn bad_restsegs_are_refused_at_their_key() {
    for (preset, set, key) in [
        ("skylake", "os.utopia.ways=0", "os.utopia.ways"),
        ("skylake", "os.utopia.ways=32", "os.utopia.ways"),
        ("skylake", "os.utopia.size=\"3MiB\"", "os.utopia.size"),
        ("skylake", "os.utopia.size=\"64GiB\"", "os.utopia.size"),
        ("skylake-vm", "os.utopia.ways=16", "virt"),
        ("skylake-htab", "os.utopia.ways=16", "page_table"),
        ("skylake-ds", "os.utopia.ways=16", "os.direct_segment"),
        ("skylake-rmm", "os.utopia.ways=16", "os.rmm"),
        ("skylake-victima", "os.utopia.ways=16", "victima.enable"),
    ] {
        let (code, _, err) = mmusim(&["run", "-q", "-c", preset, "--set", set]);
        assert_eq!(code, 2, "{set}: {err}");
        assert!(err.contains(key) && err.contains("utopia"), "{set}: {err}");
    }
}

/// A migrate over a RestSeg page and a fork of a process with RestSeg pages are refused
/// at the event, naming the key; a migrate over FlexSeg pages only runs.
#[test]
fn migrate_and_fork_over_restseg_pages_are_refused() {
    let mig = |off: &str| {
        format!("[[event]]\nat = 3\nkind = \"migrate\"\noffset = \"{off}\"\nlen = \"4KiB\"\n")
    };
    let e = run(&[0, 8, 16, 0], &mig("0"), SMALL).unwrap_err();
    assert!(e.contains("os.utopia") && e.contains("migrate"), "{e}");
    // Page 16 is FlexSeg (set 0 full).
    run(&[0, 8, 16, 16], &mig("64KiB"), SMALL).unwrap();
    let e = run(&[0, 1], "[[event]]\nat = 1\nkind = \"fork\"\n", SMALL).unwrap_err();
    assert!(e.contains("os.utopia") && e.contains("fork"), "{e}");
}

/// `explain` shows the RestSeg walk's tag read, computed by hand: skylake's 16 GiB =
/// 0x4_0000_0000 less the tag array (16,384 sets x 64 bytes = 1 MiB) puts the tag array
/// at 0x3_fff0_0000; VPN 0x100_0003 is in set 0x100_0003 & 0x3fff = 3, whose line is at
/// 0x3_fff0_0000 + 3 x 64 = 0x3_fff0_00c0. Cold, no tag matches and the walk follows.
#[test]
fn explain_shows_the_tag_line_a_restseg_walk_reads() {
    let (code, out, err) = mmusim(&["explain", "-c", "skylake-utopia", "0x1000003000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("RestSeg walk (os.utopia): the set's tag line at 0x3fff000c0: DRAM 250 cycles; no tag matches"),
        "{out}"
    );
}

/// Beside a POM-TLB (skylake-pom, one core) the RestSeg sits right below the POM-TLB's
/// region, by hand: 16 GiB = 0x4_0000_0000; the POM-TLB takes the top 2 x 65,536 x 16
/// bytes = 2 MiB (from 0x3_ffe0_0000); an 8 MiB 16-way RestSeg has 128 sets, so a tag
/// array of 128 x 64 bytes = 8 KiB right below that, at 0x3_ffdf_e000, and the RestSeg
/// below it. VPN 0x100_0003 is in set 3: the tag line is at 0x3_ffdf_e000 + 3 x 64 =
/// 0x3_ffdf_e0c0, read after the POM-TLB's set line of the 4K partition (0x3_ffe0_0000
/// + 3 x 64: set 3 of 16,384). Reserved in all: 2 MiB + 8 MiB + 8 KiB.
#[test]
fn beside_a_pom_tlb_the_restseg_lies_below_its_region_and_follows_its_miss() {
    let size = "os.utopia.size=\"8MiB\"";
    let (code, out, err) = mmusim(&[
        "explain",
        "-c",
        "skylake-pom",
        "--set",
        size,
        "0x1000003000",
    ]);
    assert_eq!(code, 0, "{err}");
    let pom = out
        .find("POM-TLB set line read at 0x3ffe000c0")
        .expect(&out);
    let tag =
        (out.find("RestSeg walk (os.utopia): the set's tag line at 0x3ffdfe0c0")).expect(&out);
    assert!(pom < tag, "{out}");
    let wl = "name = \"u\"\naccesses = 20000\nseed = 7\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n";
    let r = simulate(
        &inputs(
            Some("skylake-pom"),
            Some(wl),
            &[size, "sim.warmup_accesses=0"],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        r.stats.physical.reserved_bytes,
        (2 << 20) + (8 << 20) + (8 << 10)
    );
}

/// Beside a POM-TLB (level 3; 1,024 entries a partition, so that it misses: skylake-pom's
/// 65,536 would hold all 16,384 pages) and beside a coalescing STLB (CoLT) the RestSeg
/// walk follows every miss of the last level and only those: its walks equal that
/// level's misses (a RestSeg hit fills the levels as a walk does, so it counts a miss
/// at every level); an 8 MiB RestSeg holds an eighth of 64 MiB of pages, so some walks
/// hit; the accounting invariant holds (in the debug build, every hit is checked
/// against the page table too: a coalesced entry takes a run only after a radix walk).
#[test]
fn beside_pom_and_colt_the_restseg_walk_follows_each_last_level_miss() {
    let wl = "name = \"u\"\naccesses = 30000\nseed = 9\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n";
    for (preset, design) in [
        ("skylake", "pom_tlb.entries=1024"),
        ("skylake-colt", "sim.cores=1"),
    ] {
        let sets = [design, "os.utopia.size=\"8MiB\"", "sim.warmup_accesses=0"];
        let r = simulate(&inputs(Some(preset), Some(wl), &sets), &mut |_, _| {}).unwrap();
        for c in &r.stats.cores {
            c.check_accounting().unwrap();
        }
        let t = &r.stats.total;
        // The POM-TLB is level 3; skylake-colt has two levels.
        let levels = if preset == "skylake" { 3 } else { 2 };
        assert_eq!(t.tlb_levels.len(), levels, "{preset}");
        let last = t.tlb_levels.last().unwrap();
        let u = t.utopia.as_ref().unwrap();
        let misses = last.counts.data_misses + last.counts.instruction_misses;
        assert_eq!(u.restseg_walks, misses, "{preset}");
        assert!(
            u.restseg_hits > 0 && u.restseg_hits < u.restseg_walks,
            "{preset}"
        );
    }
}
