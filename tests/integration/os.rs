//! The OS model: buddy-backed physical memory, fragmentation, the huge-page policy and
//! fault costs, checked against counts derived by hand from the workload.

use super::runs::inputs;
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// A sweep over 1 GiB (1 GiB-aligned base), one access per 4 KiB page: 262,144 pages,
/// 512 regions of 2 MiB, one region of 1 GiB.
const SWEEP: &str = "name = \"seq\"\naccesses = 262144\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"1GiB\"\nstride = 4096\n";
const PAGES_4K: u64 = 1 << 18;
const PAGES_2M: u64 = 512;

fn run(sets: &[&str]) -> RunReport {
    simulate(&inputs(Some("skylake"), Some(SWEEP), sets), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

/// The largest number of PTE reads any walk made.
fn max_reads(r: &RunReport) -> usize {
    let h = &r.stats.total.walks.reads_per_walk_histogram;
    h.iter().rposition(|&n| n > 0).unwrap_or(0)
}

const ALWAYS: &str = "os.huge_pages.policy=\"always\"";

#[test]
fn thp_always_maps_2m_pages_and_cuts_walks_by_512() {
    for psc in [None, Some("walker.psc=[]")] {
        let extra: Vec<&str> = psc.into_iter().collect();
        let never = run(&extra);
        let mut with = extra.clone();
        with.push(ALWAYS);
        let always = run(&with);
        let (n, a) = (&never.stats.total, &always.stats.total);
        // Every first touch faults once; never maps each 4K page, always each 2M region.
        assert_eq!(n.minor_faults, PAGES_4K);
        assert_eq!(a.minor_faults, PAGES_2M);
        assert_eq!(a.huge_pages.faults_2m, PAGES_2M);
        assert_eq!(n.huge_pages.faults_2m, 0);
        assert_eq!(a.huge_pages.fallbacks, 0);
        assert_eq!(n.huge_pages.mapped_bytes, 1 << 30);
        assert_eq!(a.huge_pages.mapped_bytes, 1 << 30);
        // Each fault costs the same walks (the walk that finds nothing and the one
        // after the map), and nothing else walks in a single sweep: the walk count
        // falls by exactly the 512 pages a 2M page replaces.
        assert_eq!(n.walks.walks, 2 * PAGES_4K, "{psc:?}");
        assert_eq!(a.walks.walks * 512, n.walks.walks, "{psc:?}");
        // A 2M page ends its walk at the PD: at most 3 reads; 4 for 4K pages.
        assert!(max_reads(&always) <= 3, "{psc:?}");
        assert_eq!(max_reads(&never), 4, "{psc:?}");
        if psc.is_some() {
            // No walk cache: the walk after each map reads exactly PML4, PDPT, PD.
            let h = &always.stats.total.walks.reads_per_walk_histogram;
            assert!(h[3] >= PAGES_2M, "{h:?}");
        }
        for c in [&never, &always] {
            c.stats.total.check_accounting().unwrap();
        }
    }
}

#[test]
fn one_gib_pages_walk_two_levels_and_fault_cost_grows_with_the_page() {
    let costs = ["os.minor_fault_cycles=3000", "os.zero_4k_cycles=150"];
    let mut sets = vec![ALWAYS, "os.huge_pages.sizes=[\"1G\", \"2M\"]"];
    sets.extend(costs);
    let g = run(&sets);
    let t = &g.stats.total;
    assert_eq!((t.huge_pages.faults_1g, t.huge_pages.faults_2m), (1, 0));
    assert_eq!(t.minor_faults, 1);
    assert_eq!(t.walks.walks, 2);
    assert!(max_reads(&g) <= 2);
    // 3,000 cycles plus zeroing the other 262,143 4 KiB pieces at 150 each.
    assert_eq!(t.translation_cycles.fault, 3000 + (PAGES_4K - 1) * 150);
    t.check_accounting().unwrap();
    // 2M pages: 512 faults of 3000 + 511 x 150; 4K: 262,144 faults of 3000.
    let mut sets = vec![ALWAYS];
    sets.extend(costs);
    let m = run(&sets);
    assert_eq!(
        m.stats.total.translation_cycles.fault,
        PAGES_2M * (3000 + 511 * 150)
    );
    let k = run(&costs);
    assert_eq!(k.stats.total.translation_cycles.fault, PAGES_4K * 3000);
}

#[test]
fn fragmented_memory_makes_huge_pages_fall_back_as_configured() {
    // Every 2 MiB block holds a pinned frame: no huge page anywhere, every region falls
    // back once, and the run is the 4K run.
    let full = run(&[ALWAYS, "os.fragmentation=1.0"]);
    let t = &full.stats.total;
    assert_eq!(t.huge_pages.faults_2m, 0);
    assert_eq!(t.huge_pages.fallbacks, PAGES_2M);
    assert_eq!(t.huge_pages.alloc_failures, PAGES_2M);
    assert_eq!(t.minor_faults, PAGES_4K);
    assert_eq!(t.walks.walks, 2 * PAGES_4K);
    // 16 GiB of 2 MiB blocks, one frame pinned in each.
    assert_eq!(full.stats.physical.pinned_frames, 8192);
    assert_eq!(full.stats.physical.free_2m_blocks, 0);

    // 5% of the blocks pinned: no whole gigabyte is free (each has 512 blocks; the
    // chance one has no pin is 0.95^512 < 1e-11) but most 2 MiB blocks are.
    let sizes = "os.huge_pages.sizes=[\"1G\", \"2M\"]";
    let frag = "os.fragmentation=0.05";
    let smaller = run(&[ALWAYS, sizes, frag]);
    let s = &smaller.stats.total.huge_pages;
    assert_eq!(smaller.stats.physical.free_1g_blocks, 0);
    // `smaller`: the first fault tries 1G, fails, and takes 2M; the gigabyte is then
    // occupied, so every later region asks for 2M directly.
    assert_eq!((s.faults_1g, s.faults_2m), (0, PAGES_2M));
    assert_eq!((s.alloc_failures, s.fallbacks), (1, 1));
    assert_eq!(smaller.stats.total.minor_faults, PAGES_2M);
    // `base`: the first region falls straight back to 4K pages (512 faults), the other
    // 511 regions get 2M pages.
    let base = run(&[ALWAYS, sizes, frag, "os.huge_pages.fallback=\"base\""]);
    let b = &base.stats.total.huge_pages;
    assert_eq!((b.faults_1g, b.faults_2m), (0, PAGES_2M - 1));
    assert_eq!((b.alloc_failures, b.fallbacks), (1, 1));
    assert_eq!(base.stats.total.minor_faults, 512 + PAGES_2M - 1);
    for r in [&full, &smaller, &base] {
        r.stats.total.check_accounting().unwrap();
        assert_eq!(r.stats.total.huge_pages.mapped_bytes, 1 << 30);
    }
}

/// A first touch anywhere inside a 2 MiB region maps the whole aligned region: a stride
/// of 2 MiB + 4 KiB touches region k at offset 4k KiB, once per region, and the second
/// pass over the same addresses faults no more. (That a region holding a 4K page never
/// gets a huge one is the `base` fallback case above: region 0 keeps 4K pages.)
#[test]
fn a_huge_page_covers_its_aligned_region_wherever_the_fault_lands() {
    let wl = "name = \"s\"\naccesses = 1200\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"1GiB\"\nstride = 2101248\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(wl), &[ALWAYS]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    // Offsets k x stride below 1 GiB: k = 0 ..= 511, one per region.
    let touched = (1u64 << 30).div_ceil(2101248);
    assert_eq!(touched, PAGES_2M);
    assert_eq!(t.huge_pages.faults_2m, touched);
    assert_eq!(t.minor_faults, touched);
    t.check_accounting().unwrap();
}

#[test]
fn bad_os_keys_are_named() {
    let cases: [(&[&str], &str); 5] = [
        (&["os.fragmentation=1.5"], "os.fragmentation"),
        (
            &["os.huge_pages.policy=\"sometimes\""],
            "os.huge_pages.policy",
        ),
        (
            &[ALWAYS, "os.huge_pages.sizes=[\"4K\"]"],
            "os.huge_pages.sizes[0]",
        ),
        (
            &[ALWAYS, "os.huge_pages.sizes=[\"2M\", \"2M\"]"],
            "os.huge_pages.sizes[1]",
        ),
        (&[ALWAYS, "os.huge_pages.sizes=[]"], "os.huge_pages.sizes"),
    ];
    for (sets, key) in cases {
        let mut args = vec!["run", "-q", "--out", "/nonexistent/never-written"];
        for s in sets {
            args.push("--set");
            args.push(s);
        }
        let (code, _, err) = super::analysis::mmusim(&args);
        assert_eq!(code, 2, "{sets:?} was accepted: {err}");
        assert!(err.contains(key), "{sets:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

const COSTS: [&str; 4] = [
    "os.minor_fault_cycles=3000",
    "os.zero_4k_cycles=150",
    "os.huge_pages.copy_4k_cycles=400",
    "os.huge_pages.collapse_cycles=20000",
];

/// khugepaged-like promotion at the fault that maps the k-th small page of a region:
/// k faults per region, k pages copied, the rest of the 2M page zeroed, the small
/// frames and the PTE page given back.
#[test]
fn promote_collapses_each_region_at_its_threshold() {
    let always = run(&[ALWAYS]);
    for k in [1u64, 64, 512] {
        let thr = format!("os.huge_pages.promote_threshold={k}");
        let mut sets = vec!["os.huge_pages.policy=\"promote\"", thr.as_str()];
        sets.extend(COSTS);
        let r = run(&sets);
        let t = &r.stats.total;
        let h = &t.huge_pages;
        assert_eq!(t.minor_faults, k * PAGES_2M, "k = {k}");
        assert_eq!((h.promotions, h.faults_2m), (PAGES_2M, PAGES_2M));
        assert_eq!(h.copied_4k, k * PAGES_2M);
        assert_eq!(h.mapped_bytes, 1 << 30);
        assert_eq!(t.walks.walks, 2 * k * PAGES_2M);
        let collapse = 20000 + k * 400 + (512 - k) * 150;
        assert_eq!(h.promotion_cycles, PAGES_2M * collapse);
        assert_eq!(
            t.translation_cycles.fault,
            PAGES_2M * (k * 3000 + collapse),
            "k = {k}"
        );
        // Small frames and PTE pages freed: memory ends as THP always leaves it.
        assert_eq!(r.stats.phys_bytes_in_use, always.stats.phys_bytes_in_use);
        assert_eq!(r.stats.page_table_bytes, always.stats.page_table_bytes);
        t.check_accounting().unwrap();
    }
}

/// Reservation: every small page faults into its place in the reserved 2M frame, the
/// region is promoted without a copy when the 512th arrives, and a second pass over
/// the same gigabyte walks no more (the 2M translations fit the STLB), where 4K pages
/// walk again for every page.
#[test]
fn reserve_promotes_full_regions_in_place() {
    let two_passes = "workload.accesses=524288";
    let mut sets = vec![
        "os.huge_pages.policy=\"reserve\"",
        "os.huge_pages.promote_in_place_cycles=7000",
    ];
    // The collapse cost of `promote` must not apply to an in-place promotion.
    sets.extend(COSTS);
    let one = run(&sets);
    sets.push(two_passes);
    let two = run(&sets);
    let never2 = run(&[two_passes]);
    let t = &one.stats.total;
    let h = &t.huge_pages;
    assert_eq!(t.minor_faults, PAGES_4K);
    assert_eq!(
        (h.reservations, h.promotions, h.copied_4k),
        (PAGES_2M, PAGES_2M, 0)
    );
    assert_eq!(h.promotion_cycles, PAGES_2M * 7000);
    assert_eq!(
        t.translation_cycles.fault,
        PAGES_4K * 3000 + PAGES_2M * 7000
    );
    assert_eq!(t.walks.walks, 2 * PAGES_4K);
    assert_eq!(two.stats.total.walks.walks, t.walks.walks);
    assert_eq!(two.stats.total.minor_faults, PAGES_4K);
    assert_eq!(never2.stats.total.walks.walks, 3 * PAGES_4K);
    for r in [&one, &two, &never2] {
        r.stats.total.check_accounting().unwrap();
    }
}

/// Memory too small for a reservation per region: the policy falls back to small pages
/// when no 2M block is left and breaks the oldest reservations to free their unused
/// frames, instead of running out; every byte stays accounted for.
#[test]
fn reserve_breaks_reservations_when_memory_is_short() {
    let wl = "name = \"p\"\naccesses = 512\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"1GiB\"\nstride = 2097152\n";
    let sets = ["os.phys_mem=\"64MiB\"", "os.huge_pages.policy=\"reserve\""];
    let r = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    let h = &t.huge_pages;
    // 64 MiB holds 32 blocks of 2 MiB; 512 regions are touched once each.
    assert!(h.reservations < 32, "{h:?}");
    assert!(h.reservations_broken > 0, "{h:?}");
    assert_eq!(h.reservations + h.fallbacks, 512);
    assert_eq!(h.promotions, 0);
    assert_eq!(t.minor_faults, 512);
    assert_eq!(h.mapped_bytes, 512 * 4096);
    let p = &r.stats.physical;
    assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
    t.check_accounting().unwrap();
    // Without reservations the same run needs no breaking and maps the same bytes.
    let plain = simulate(
        &inputs(Some("skylake"), Some(wl), &sets[..1]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(plain.stats.total.huge_pages.mapped_bytes, h.mapped_bytes);
}
