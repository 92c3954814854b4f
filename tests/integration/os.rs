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

/// `mmusim run -q` on `body` written to a file `name` in a fresh folder (a `.toml` is
/// the workload, `-w`; anything else the trace, `--trace`), with `--set`s: the exit
/// code, standard error, and the result JSON when the run succeeded.
pub fn run_file(name: &str, body: &str, sets: &[&str]) -> (i32, String, Option<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join(name);
    std::fs::write(&f, body).unwrap();
    let out = dir.path().join("out");
    let flag = if name.ends_with(".toml") {
        "-w"
    } else {
        "--trace"
    };
    // Whole runs: the counts these tests derive include the first touches.
    let mut args = vec![
        "run",
        "-q",
        flag,
        f.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--set",
        "sim.warmup_accesses=0",
    ];
    for s in sets {
        args.push("--set");
        args.push(s);
    }
    let (code, _, err) = super::analysis::mmusim(&args);
    let json = std::fs::read_to_string(out.join("result.json"))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap());
    (code, err, json)
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
    // 1,200 accesses: the 688 after the first 512 revisit the same addresses.
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
    // Each promotion invalidates its 512 small pages, more than the flush ceiling (33):
    // the address space's entries are flushed, as Linux's collapse does, so the second
    // pass finds only the last region's 2M translation and walks once for each other.
    assert_eq!(two.stats.total.walks.walks, t.walks.walks + PAGES_2M - 1);
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
    assert!(r.stats.physical.reservations_broken > 0, "{h:?}");
    assert_eq!(h.reservations + h.fallbacks, 512);
    assert_eq!(h.promotions, 0);
    assert_eq!(t.minor_faults, 512);
    assert_eq!(h.mapped_bytes, 512 * 4096);
    let p = &r.stats.physical;
    assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
    t.check_accounting().unwrap();
}

/// `reserve` with four threads of one process (the case of issue 18's notes): uniform
/// over 16 MiB, thread 0 unmapping 64 KiB every 1,500 accesses. A region promoted in
/// place on one core frees its leaf table while other cores' walk caches still point at
/// it (the shootdown is on its way); a walk there read not-present and the fault mapped
/// a 4K page into the new 2M page: exit 2, "0x1000365000 is already inside a 2M page"
/// (with the default warm-up and without it). The fault is spurious now: it maps
/// nothing and the run completes. One thread has no other core's stale walk caches, so
/// it never takes one.
#[test]
fn reserve_with_threads_takes_stale_walks_as_spurious_faults() {
    let wl = "name = \"unmapper\"\naccesses = 6_000\nseed = 1\nwrite_fraction = 0.3\n\
              [generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n\
              [[event]]\nat = 1000\nevery = 1500\nkind = \"munmap\"\nprocess = 0\n\
              offset = 0\nlen = \"64KiB\"\n";
    for threads in [4, 1] {
        let (cores, th) = (
            format!("sim.cores={threads}"),
            format!("os.sched.threads={threads}"),
        );
        let sets = [
            "os.huge_pages.policy=\"reserve\"",
            cores.as_str(),
            th.as_str(),
        ];
        let (code, err, json) = run_file("w.toml", wl, &sets);
        assert_eq!(code, 0, "{threads} threads: {err}");
        let j = json.unwrap();
        let t = &j["stats"]["total"];
        let n = |k: &str| t[k].as_u64().unwrap_or_else(|| panic!("{k}: {t}"));
        assert_eq!(n("accesses"), 6000 * threads);
        // Four unmaps (at 1000, 2500, 4000, 5500) of thread 0's stream, once each.
        assert_eq!(t["os_events"]["munmap_calls"], 4);
        // skylake: 4000 cycles a minor fault; `reserve` maps only 4K pages at a fault
        // (no zeroing of a huge page), and a spurious fault is a minor fault's trap.
        let promo = t["huge_pages"]["promotion_cycles"].as_u64().unwrap();
        assert_eq!(n("os_fault_cycles"), n("minor_faults") * 4000 + promo);
        let spurious = t.get("spurious_faults").and_then(|v| v.as_u64());
        if threads == 1 {
            assert_eq!(spurious, None, "a lone thread read a stale walk cache");
        } else {
            // The walk that failed before reads a freed table once at least.
            assert!(spurious.is_some_and(|s| s >= 1), "{t}");
        }
        let p = &j["stats"]["physical"];
        let in_use = j["stats"]["phys_bytes_in_use"].as_u64().unwrap();
        assert_eq!(
            p["free_bytes"].as_u64().unwrap() + in_use,
            p["total_bytes"].as_u64().unwrap()
        );
    }
}

// ---- Page replacement under a resident limit -------------------------------------

use mmusim::analysis::replace::{faults as reference_faults, Policy};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// A reference string over `pages` pages with some locality: mostly a step from the
/// last page, sometimes a jump.
fn random_refs(seed: u64, n: usize, pages: u64) -> Vec<u64> {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut cur = 0u64;
    (0..n)
        .map(|_| {
            let x = r.next_u64();
            cur = if x % 5 == 0 {
                (x >> 8) % pages
            } else {
                (cur + (x >> 40) % 3) % pages
            };
            cur
        })
        .collect()
}

/// Dense ids in first-reference order, as `analysis` numbers pages.
fn dense(refs: &[u64]) -> (Vec<u32>, usize) {
    let mut ids = std::collections::HashMap::new();
    let v = refs
        .iter()
        .map(|p| {
            let n = ids.len() as u32;
            *ids.entry(*p).or_insert(n)
        })
        .collect();
    (v, ids.len())
}

fn refs_workload(refs: &[u64], write_fraction: f64) -> String {
    let s: Vec<String> = refs.iter().map(|p| p.to_string()).collect();
    format!(
        "name = \"r\"\nseed = 3\naccesses = {}\nwrite_fraction = {write_fraction}\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n",
        refs.len(),
        s.join(" ")
    )
}

/// Faults (minor + major) of the OS model with `frames` resident pages.
fn os_faults(config: &str, refs: &[u64], policy: &str, frames: usize, extra: &[&str]) -> RunReport {
    let p = format!("os.paging.replacement=\"{policy}\"");
    let f = format!("os.paging.resident_pages={frames}");
    let mut sets = vec![p.as_str(), f.as_str(), "os.paging.seed=77"];
    sets.extend_from_slice(extra);
    simulate(
        &inputs(Some(config), Some(&refs_workload(refs, 0.3)), &sets),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{policy} {frames}: {e}"))
}

fn total_faults(r: &RunReport) -> u64 {
    r.stats.total.minor_faults + r.stats.total.paging.major_faults
}

/// FIFO, exact LRU and Random depend only on the reference string, not on the TLBs:
/// on the full Skylake-like machine the OS model faults exactly as the fixed-memory
/// simulations of `analysis::replace` (each checked against a naive version there), on
/// many random strings and frame counts. Test builds also check on every TLB hit that
/// no evicted page is still translated.
#[test]
fn os_replacement_equals_the_reference_simulations() {
    let mut checked = 0;
    for seed in 0..24 {
        let refs = random_refs(seed, 600, 40);
        let (ids, distinct) = dense(&refs);
        for frames in [1usize, 3, 8, 17] {
            for (name, policy, rseed) in [
                ("fifo", Policy::Fifo, 0),
                ("lru", Policy::Lru, 0),
                // The OS seeds address space 1's generator with seed ^ 1.
                ("random", Policy::Random, 77 ^ 1),
            ] {
                let r = os_faults("skylake", &refs, name, frames, &[]);
                let want = reference_faults(&ids, distinct, frames, policy, rseed);
                assert_eq!(total_faults(&r), want, "{name} seed {seed} frames {frames}");
                let t = &r.stats.total;
                assert_eq!(t.minor_faults, distinct as u64);
                assert_eq!(t.paging.evictions, want - distinct.min(frames) as u64);
                t.check_accounting().unwrap();
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 24 * 4 * 3);
}

/// A one-entry TLB hides no reference from the accessed bit (a TLB hit means the page
/// was the last one touched and no fault has moved the hand since), so Clock with the
/// walker's accessed bits is exactly the textbook Clock.
#[test]
fn clock_with_walker_accessed_bits_is_textbook_clock_under_a_one_entry_tlb() {
    let one_entry = "[[tlb]]\nname = \"l1\"\nlevel = 1\nkind = \"data\"\nentries = 1\nways = 1\npage_sizes = [\"4K\"]\nlatency = 1\n[page_table]\nkind = \"radix\"\nlevels = 4\n[memory]\ndram_latency = 100\n[os]\nphys_mem = \"1GiB\"\n";
    for seed in 0..24 {
        let refs = random_refs(100 + seed, 600, 40);
        let (ids, distinct) = dense(&refs);
        for frames in [1usize, 3, 8, 17] {
            let r = os_faults(one_entry, &refs, "clock", frames, &[]);
            let want = reference_faults(&ids, distinct, frames, Policy::Clock, 0);
            assert_eq!(total_faults(&r), want, "seed {seed} frames {frames}");
        }
    }
    // With the Skylake TLBs the bit is blind to TLB hits: a hot page 1 between new
    // pages keeps its use bit in the textbook Clock and survives, but here its
    // re-references hit the TLB and set nothing, so Clock evicts it as FIFO does.
    let hot: Vec<u64> = [1u64, 2, 3]
        .into_iter()
        .chain((4..60u64).flat_map(|x| [1, x]))
        .collect();
    let (ids, distinct) = dense(&hot);
    let r = os_faults("skylake", &hot, "clock", 3, &[]);
    let textbook = reference_faults(&ids, distinct, 3, Policy::Clock, 0);
    let fifo = reference_faults(&ids, distinct, 3, Policy::Fifo, 0);
    assert!(textbook < fifo);
    assert_eq!(total_faults(&r), fifo);
}

/// OPT (from the reference simulation) never faults more than any OS policy.
#[test]
fn opt_bounds_every_os_policy() {
    for seed in 0..8 {
        let refs = random_refs(200 + seed, 500, 30);
        let (ids, distinct) = dense(&refs);
        for frames in [2usize, 6, 12] {
            let opt = reference_faults(&ids, distinct, frames, Policy::Opt, 0);
            for name in ["fifo", "lru", "clock", "random"] {
                let f = total_faults(&os_faults("skylake", &refs, name, frames, &[]));
                assert!(
                    opt <= f,
                    "{name} seed {seed} frames {frames}: OPT {opt} > {f}"
                );
            }
        }
    }
}

/// Belady's anomaly through the OS model: FIFO takes 9 faults with 3 resident pages
/// and 10 with 4 on 1 2 3 4 1 2 5 1 2 3 4 5.
#[test]
fn beladys_anomaly_in_the_os_model() {
    let refs = [1u64, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
    let f3 = os_faults("skylake", &refs, "fifo", 3, &[]);
    let f4 = os_faults("skylake", &refs, "fifo", 4, &[]);
    assert_eq!((total_faults(&f3), total_faults(&f4)), (9, 10));
    assert_eq!(f3.stats.total.paging.major_faults, 4);
}

/// Every eviction of a written page is a write-back, of a clean one none, and fault
/// cycles are minor x m + major x M + write-backs x W exactly.
#[test]
fn dirty_victims_are_written_back_and_every_cycle_is_counted() {
    let refs = random_refs(7, 800, 50);
    let costs = [
        "os.minor_fault_cycles=3000",
        "os.paging.major_fault_cycles=300000",
        "os.paging.writeback_cycles=250000",
    ];
    for wf in [0.0, 1.0, 0.3] {
        let mut sets = vec![
            "os.paging.replacement=\"lru\"",
            "os.paging.resident_pages=10",
        ];
        sets.extend(costs);
        let r = simulate(
            &inputs(Some("skylake"), Some(&refs_workload(&refs, wf)), &sets),
            &mut |_, _| {},
        )
        .unwrap();
        let t = &r.stats.total;
        let pg = &t.paging;
        assert!(pg.evictions > 100);
        match wf {
            0.0 => assert_eq!(pg.writebacks, 0),
            1.0 => assert_eq!(pg.writebacks, pg.evictions),
            _ => assert!(pg.writebacks > 0 && pg.writebacks < pg.evictions),
        }
        assert_eq!(
            t.translation_cycles.fault,
            t.minor_faults * 3000 + pg.major_faults * 300000 + pg.writebacks * 250000
        );
        t.check_accounting().unwrap();
    }
}

/// With no resident limit, running out of physical memory evicts instead of failing:
/// 8 MiB cannot hold 4,000 pages.
#[test]
fn physical_memory_pressure_evicts_instead_of_failing() {
    let wl = "name = \"u\"\naccesses = 20000\nseed = 2\n[generator]\nkind = \"uniform\"\nfootprint = \"16MiB\"\n";
    let base = ["os.phys_mem=\"8MiB\""];
    // 20,000 uniform accesses touch all 4,096 pages (16 MiB): refused before the run.
    // A fresh folder (issue 17 item 16: no name shared with another test or process).
    let tmp = tempfile::tempdir().unwrap();
    let wl_file = tmp.path().join("pressure.toml");
    std::fs::write(&wl_file, wl).unwrap();
    let sets = [base[0].to_string()];
    let Err(e) = mmusim::run::load_inputs(Some("skylake"), wl_file.to_str(), &sets) else {
        panic!("8 MiB cannot map 16 MiB without replacement");
    };
    let e = e.iter().map(|e| e.to_string()).collect::<String>();
    assert!(
        e.contains("os.phys_mem") && e.contains("generator.footprint"),
        "{e}"
    );
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(wl),
            &[base[0], "os.paging.replacement=\"clock\""],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert!(t.paging.evictions > 0 && t.paging.major_faults > 0);
    assert!(r.stats.phys_bytes_in_use <= 8 << 20);
    // Each distinct page faults once as a first touch, as in a run that fits.
    let roomy = simulate(&inputs(Some("skylake"), Some(wl), &[]), &mut |_, _| {}).unwrap();
    assert_eq!(t.minor_faults, roomy.stats.total.minor_faults);
    assert_eq!(roomy.stats.total.paging.evictions, 0);
    t.check_accounting().unwrap();
}

#[test]
fn bad_paging_keys_are_named() {
    for (sets, key) in [
        (
            vec!["os.paging.replacement=\"clock\"", ALWAYS],
            "os.paging.replacement",
        ),
        (
            vec!["os.paging.resident_pages=10"],
            "os.paging.resident_pages",
        ),
        (
            vec!["os.paging.replacement=\"lfu\""],
            "os.paging.replacement",
        ),
        (vec!["os.paging.replacement=\"ws\""], "os.paging.window"),
        (
            vec!["os.paging.replacement=\"lru\"", "os.paging.window=5"],
            "os.paging.window",
        ),
    ] {
        let mut args = vec!["run", "-q", "--out", "/nonexistent/never-written"];
        for s in &sets {
            args.push("--set");
            args.push(s);
        }
        let (code, _, err) = super::analysis::mmusim(&args);
        assert_eq!(code, 2, "{sets:?}: {err}");
        assert!(err.contains(key), "{sets:?}: {err}");
    }
}

/// A collapse on a small HTAB evicts other translations to place the 2M one: they leave
/// the TLBs (test builds check every TLB hit against the table) and are counted.
#[test]
fn collapses_on_a_crowded_hashed_table_leave_no_stale_translation() {
    let wl = "name = \"h\"\naccesses = 60000\nseed = 1\n[generator]\nkind = \"hot_cold\"\nfootprint = \"256MiB\"\nhot_fraction = 0.01\nhot_access_fraction = 0.9\n";
    let sets = ["os.huge_pages.policy=\"promote\"", "page_table.groups=4"];
    let r = simulate(
        &inputs(Some("skylake-htab"), Some(wl), &sets),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert!(t.huge_pages.promotions > 0 && t.page_table_evictions > 0);
    t.check_accounting().unwrap();
}

/// Page tables take memory back from reservations: a 2 MiB-stride sweep over 2 GiB
/// reserves a block per region in 1022 MiB and still finds frames for its tables.
#[test]
fn table_allocations_break_reservations_rather_than_fail() {
    let wl = "name = \"s\"\naccesses = 700\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"2GiB\"\nstride = 2097152\n";
    let mut broken = 0;
    for mem in [1016, 1020, 1022, 1024] {
        let m = format!("os.phys_mem=\"{mem}MiB\"");
        let sets = [m.as_str(), "os.huge_pages.policy=\"reserve\""];
        let r = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{mem} MiB: {e}"));
        let p = &r.stats.physical;
        broken += p.reservations_broken;
        assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
        assert_eq!(r.stats.total.minor_faults, 700);
    }
    assert!(broken > 0);
}

/// Belady's OPT in the OS model (it reads the workload ahead of the run) faults exactly
/// as the reference OPT simulation, and the working-set policy exactly as WS(T) of the
/// stack analysis: a page leaves when T accesses pass without a reference to it.
#[test]
fn opt_and_working_set_equal_the_analysis() {
    use mmusim::analysis::ws::ws_vmin_at;
    for seed in 0..12 {
        let refs = random_refs(300 + seed, 500, 40);
        let (ids, distinct) = dense(&refs);
        for frames in [1usize, 4, 9, 20] {
            let r = os_faults("skylake", &refs, "opt", frames, &[]);
            let want = reference_faults(&ids, distinct, frames, Policy::Opt, 0);
            assert_eq!(total_faults(&r), want, "opt seed {seed} frames {frames}");
        }
        let ts = [1u64, 2, 5, 12, 60];
        let curve = ws_vmin_at(&ids, distinct, &ts);
        for (i, &t) in ts.iter().enumerate() {
            let w = format!("os.paging.window={t}");
            let r = os_faults("skylake", &refs, "ws", 0, &[w.as_str()]);
            assert_eq!(total_faults(&r), curve.faults[i], "ws seed {seed} T {t}");
            r.stats.total.check_accounting().unwrap();
        }
    }
}

// ---- Workload events -----------------------------------------------------------

/// A loop over 16 pages (64 KiB), `n` accesses, with `events` appended.
fn loop_workload(n: u64, events: &str) -> String {
    format!("name = \"loop\"\naccesses = {n}\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"64KiB\"\nstride = 4096\n{events}")
}

/// munmap in the middle of a loop: every page of the second pass faults again, and
/// none is found in a TLB (test builds check every hit against the page table, and the
/// 16 pages are all still in the L1 DTLB when the unmap comes).
#[test]
fn munmap_removes_mappings_and_their_translations() {
    let ev = "[[event]]\nat = 32\nkind = \"munmap\"\noffset = 0\nlen = \"64KiB\"\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(64, ev)), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!(t.minor_faults, 32);
    assert_eq!(t.os_events.unmapped_pages, 16);
    assert_eq!(t.os_events.munmap_calls, 1);
    assert_eq!(t.huge_pages.mapped_bytes, 16 * 4096);
    t.check_accounting().unwrap();
    // Without the event the loop faults once per page.
    let plain = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(64, "")), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(plain.stats.total.minor_faults, 16);
    // The event's position counts stream accesses across the warm-up: with 20 warm-up
    // accesses the measured part sees exactly the 16 faults after the unmap.
    let w = simulate(
        &inputs(
            Some("skylake"),
            Some(&loop_workload(64, ev)),
            &["sim.warmup_accesses=20"],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(w.stats.total.minor_faults, 16);
    assert_eq!(w.stats.total.accesses, 44);
}

/// A 4 KiB unmap inside a 2M page splits it and takes that piece only; the piece
/// faults back as a 4K page (its region is not empty). An unmap of 4K pages, then
/// advice: the region faults in a 2M page, which replaces its emptied table.
#[test]
fn munmap_inside_a_huge_page_and_remapping_it() {
    let ev = "[[event]]\nat = 32\nkind = \"munmap\"\noffset = \"8KiB\"\nlen = \"4KiB\"\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(64, ev)), &[ALWAYS]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!((t.minor_faults, t.huge_pages.faults_2m), (2, 1));
    assert_eq!((t.os_events.unmapped_pages, t.huge_pages.splits), (1, 1));
    assert_eq!(t.huge_pages.mapped_bytes, 2 << 20);
    // 4K pages unmapped, then the region taken by a 2M page over the emptied table.
    let ev2 = "[[event]]\nat = 16\nkind = \"munmap\"\noffset = 0\nlen = \"64KiB\"\n\
               [[event]]\nat = 16\nkind = \"madvise\"\noffset = 0\nlen = \"2MiB\"\n";
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(&loop_workload(64, ev2)),
            &["os.huge_pages.policy=\"madvise\""],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    // 16 4K faults before the advice, then one 2M fault for the rest of the run.
    assert_eq!((t.minor_faults, t.huge_pages.faults_2m), (17, 1));
    assert!(
        r.stats.page_table_bytes < 4 * 4096,
        "the PTE page was freed"
    );
    t.check_accounting().unwrap();
}

/// THP `madvise`: only advised regions take huge pages. A sweep over 1 GiB with the
/// first 256 MiB advised maps 128 2M pages and 4K pages for the other 768 MiB.
#[test]
fn thp_madvise_maps_huge_pages_only_where_advised() {
    let ev = "[[event]]\nat = 0\nkind = \"madvise\"\noffset = 0\nlen = \"256MiB\"\n";
    let wl = format!("{SWEEP}{ev}");
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(&wl),
            &["os.huge_pages.policy=\"madvise\""],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!(t.huge_pages.faults_2m, 128);
    assert_eq!(t.minor_faults, 128 + (768 << 20) / 4096);
    assert_eq!(t.huge_pages.mapped_bytes, 1 << 30);
    // No advice: the policy maps nothing huge.
    let none = run(&["os.huge_pages.policy=\"madvise\""]);
    assert_eq!(none.stats.total.huge_pages.faults_2m, 0);
}

/// Unmapping swapped-out pages drops their swap copies: touching them again is a minor
/// fault, not a major one.
#[test]
fn munmap_discards_swapped_pages() {
    // 16 pages through 8 resident frames (FIFO): the first pass evicts pages 0-7;
    // unmapping everything then makes the second pass 16 minor faults.
    let ev = "[[event]]\nat = 16\nkind = \"munmap\"\noffset = 0\nlen = \"64KiB\"\n";
    let sets = [
        "os.paging.replacement=\"fifo\"",
        "os.paging.resident_pages=8",
    ];
    let r = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(32, ev)), &sets),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!((t.minor_faults, t.paging.major_faults), (32, 0));
    assert_eq!(
        t.os_events.unmapped_pages, 8,
        "only the 8 resident pages were mapped"
    );
    t.check_accounting().unwrap();
}

#[test]
fn bad_events_are_named() {
    for (ev, key) in [
        (
            "[[event]]\nat = 1\nkind = \"munmap\"\nlen = \"4KiB\"\n",
            "event[0]",
        ),
        (
            "[[event]]\nat = 1\nkind = \"munmap\"\naddr = 0\noffset = 0\nlen = \"4KiB\"\n",
            "event[0]",
        ),
        (
            "[[event]]\nat = 1\nkind = \"munmap\"\noffset = 0\nlen = 0\n",
            "event[0].len",
        ),
        (
            "[[event]]\nat = 1\nkind = \"exit\"\noffset = 0\nlen = 1\n",
            "exit takes no range",
        ),
        ("[[event]]\nat = 1\nkind = \"spawn\"\n", "event[0].kind"),
        (
            "[[event]]\nat = 1\nkind = \"mprotect\"\noffset = 0\nlen = 1\n",
            "event[0].prot",
        ),
        (
            "[[event]]\nat = 1\nkind = \"mprotect\"\noffset = 0\nlen = 1\nprot = \"x\"\n",
            "prot",
        ),
        (
            "[[event]]\nat = 1\nkind = \"munmap\"\noffset = 0\nlen = 1\nprot = \"r\"\n",
            "event[0].prot",
        ),
        (
            "[[event]]\nat = 1\nkind = \"fork\"\npopulate = true\n",
            "event[0].populate",
        ),
        (
            "[[event]]\nat = 1\nkind = \"mmap\"\noffset = 0\nlen = 1\nchild_accesses = 5\n",
            "event[0].child_accesses",
        ),
        (
            "[[event]]\nat = 1\nkind = \"fork\"\ncore = 0\nprocess = 0\n",
            "duplicate field",
        ),
        (
            "[[event]]\nat = 1\nkind = \"munmap\"\noffset = 0\nlen = 1\nbogus = 2\n",
            "bogus",
        ),
    ] {
        let (code, err, _) = run_file("w.toml", &loop_workload(10, ev), &[]);
        assert_eq!(code, 2, "{ev}: {err}");
        assert!(err.contains(key) && err.contains("w.toml"), "{ev}: {err}");
    }
}

/// Event lines in a text trace: a loop over 16 pages, `munmap` of all of them after
/// the first pass (at stream position 16 + 8192 so that it falls past the first 4096-
/// access batch), then the loop again: every page faults once per pass, and the warm-up
/// does not move the event.
#[test]
fn event_lines_in_a_text_trace_apply_between_their_neighbours() {
    let mut text = String::from("# two passes with an unmap between\n");
    let pass = |t: &mut String, n: usize| {
        for i in 0..n {
            t.push_str(&format!(
                "R {:#x}\n",
                0x10_0000_0000u64 + (i as u64 % 16) * 4096
            ));
        }
    };
    pass(&mut text, 16 + 8192);
    text.push_str("munmap 0x1000000000 0x10000\n");
    pass(&mut text, 16);
    text.push_str("madvise 0x1000200000 0x200000\n");
    text.push_str("R 0x1000200000\nR 0x1000300000\nR 0x1000400000\n");
    let go = |sets: &[&str]| {
        let (code, err, json) = run_file("ev.txt", &text, sets);
        assert_eq!(code, 0, "{err}");
        json.unwrap()["stats"]["total"].clone()
    };
    let t = go(&["os.huge_pages.policy=\"madvise\""]);
    // 16 + 16 4K faults around the unmap, one 2M fault for the advised region (its
    // second access, 1 MiB further, hits the same page), one 4K fault outside it.
    assert_eq!(t["minor_faults"], 16 + 16 + 2);
    assert_eq!(t["huge_pages"]["faults_2m"], 1);
    assert_eq!(t["os_events"]["unmapped_pages"], 16);
    assert_eq!(t["os_events"]["madvise_calls"], 1);
    let w = go(&[
        "os.huge_pages.policy=\"madvise\"",
        "sim.warmup_accesses=100",
    ]);
    assert_eq!(
        w["minor_faults"],
        16 + 2,
        "the first pass faulted during warm-up"
    );
}

#[test]
fn bad_event_lines_name_file_and_line() {
    for (line, msg) in [
        ("munmap 0x1000", "needs an address and a length"),
        ("munmap 0x1000 0", "at least 1"),
        ("madvise 0x1000 zz", "bad length"),
        ("munmap 0x1000 0x1000 extra", "unexpected"),
        ("mprotect 0x1000 0x1000", "needs the rights"),
        ("mprotect 0x1000 0x1000 rwx", "bad rights"),
        ("mprotect 0x1000 0x1000 r r", "unexpected"),
        ("mmap 0x1000 0x1000 now", "unexpected"),
        (
            "brk 0x1000",
            "expected R, W, F, munmap, madvise, mmap, mprotect, migrate, fork or exit",
        ),
        ("fork now", "unexpected"),
        ("exit 0", "unexpected"),
    ] {
        let (code, err, _) = run_file("bad.txt", &format!("R 0x1000\n{line}\n"), &[]);
        assert_eq!(code, 2, "{line}: {err}");
        assert!(
            err.contains("bad.txt:2") && err.contains(msg),
            "{line}: {err}"
        );
    }
}

/// fork, then stores to k distinct pages (each twice, and loads to others): exactly k
/// copy-on-write faults and k copied frames; the pages never written stay shared; the
/// memory grows by the k copies and the child's page-table copy, nothing else.
#[test]
fn fork_then_k_writes_take_k_cow_faults() {
    let wl = |k: u64, fork: bool, write_fraction: f64| {
        let mut refs: Vec<String> = (0..64).map(|p| p.to_string()).collect();
        for _ in 0..2 {
            refs.extend((0..k).map(|p| p.to_string()));
        }
        let ev = if fork {
            "[[event]]\nat = 64\nkind = \"fork\"\n"
        } else {
            ""
        };
        format!(
            "name = \"f\"\nseed = 1\nwrite_fraction = {write_fraction}\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n{ev}",
            refs.join(" ")
        )
    };
    let costs = ["os.minor_fault_cycles=3000", "os.cow_copy_4k_cycles=1000"];
    for k in [0u64, 1, 5, 40] {
        let r = simulate(
            &inputs(Some("skylake"), Some(&wl(k, true, 1.0)), &costs),
            &mut |_, _| {},
        )
        .unwrap();
        let base = simulate(
            &inputs(Some("skylake"), Some(&wl(k, false, 1.0)), &costs),
            &mut |_, _| {},
        )
        .unwrap();
        let t = &r.stats.total;
        let e = &t.os_events;
        assert_eq!((e.fork_calls, e.cow_faults), (1, k), "k = {k}");
        assert_eq!(e.cow_copied_bytes, k * 4096);
        assert_eq!(t.minor_faults, 64);
        let p = &r.stats.physical;
        assert_eq!(p.cow_shared_pages, 64 - k);
        assert_eq!(
            r.stats.phys_bytes_in_use,
            base.stats.phys_bytes_in_use + (k + p.child_table_frames) * 4096
        );
        assert_eq!(p.child_table_frames, base.stats.page_table_bytes / 4096);
        assert_eq!(t.translation_cycles.fault, 64 * 3000 + k * (3000 + 1000));
        t.check_accounting().unwrap();
    }
    // Loads after the fork copy nothing.
    let r = simulate(
        &inputs(Some("skylake"), Some(&wl(40, true, 0.0)), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.stats.total.os_events.cow_faults, 0);
    assert_eq!(r.stats.physical.cow_shared_pages, 64);
}

/// A shared 2M page is copied whole at the parent's first store.
#[test]
fn fork_with_huge_pages_copies_the_huge_page() {
    let wl = "name = \"f\"\nseed = 1\naccesses = 40\nwrite_fraction = 1.0\n[generator]\nkind = \"sequential\"\nfootprint = \"64KiB\"\nstride = 4096\n[[event]]\nat = 20\nkind = \"fork\"\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(wl), &[ALWAYS]),
        &mut |_, _| {},
    )
    .unwrap();
    let e = &r.stats.total.os_events;
    assert_eq!((e.cow_faults, e.cow_copied_bytes), (1, 2 << 20));
    assert_eq!(r.stats.physical.cow_shared_pages, 0);
    // Memory: the child keeps the old 2M frame, the parent has the copy, plus the
    // child's table copy.
    let plain = "name = \"f\"\nseed = 1\naccesses = 40\nwrite_fraction = 1.0\n[generator]\nkind = \"sequential\"\nfootprint = \"64KiB\"\nstride = 4096\n";
    let p = simulate(
        &inputs(Some("skylake"), Some(plain), &[ALWAYS]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        r.stats.phys_bytes_in_use,
        p.stats.phys_bytes_in_use + (2 << 20) + r.stats.physical.child_table_frames * 4096
    );
    // munmap after the fork gives the parent's pages back but not the child's.
    let wl2 = format!("{wl}[[event]]\nat = 30\nkind = \"munmap\"\noffset = 0\nlen = \"2MiB\"\n");
    let r2 = simulate(
        &inputs(Some("skylake"), Some(&wl2), &[ALWAYS]),
        &mut |_, _| {},
    )
    .unwrap();
    // The copy is freed and faulted again (a fresh 2M page): one more 2M fault; the
    // child's frame stays.
    assert_eq!(r2.stats.total.huge_pages.faults_2m, 2);
    assert_eq!(r2.stats.phys_bytes_in_use, r.stats.phys_bytes_in_use);
    r2.stats.total.check_accounting().unwrap();
}

/// A page read after the fork is in the TLB with its shared translation; the store
/// that follows must not use it (test builds check every TLB hit against the table).
#[test]
fn a_cow_copy_drops_the_shared_translation_from_the_tlb() {
    let mut t = String::new();
    for i in 0..8u64 {
        t.push_str(&format!("W {:#x}\n", 0x10_0000_0000u64 + i * 4096));
    }
    t.push_str("fork\n");
    for i in 0..8u64 {
        let a = 0x10_0000_0000u64 + i * 4096;
        t.push_str(&format!("R {a:#x}\nW {a:#x}\nR {a:#x}\n"));
    }
    let (code, err, json) = run_file("f.txt", &t, &[]);
    assert_eq!(code, 0, "{err}");
    let j = json.unwrap();
    assert_eq!(j["stats"]["total"]["os_events"]["cow_faults"], 8);
    assert_eq!(j["stats"]["physical"]["cow_shared_pages"], 0);
}

/// Review findings, each a run that went wrong before its fix.
#[test]
fn os_events_on_edge_cases() {
    // (1) Two cores on one shared HTAB: the parent's copy-on-write remap evicts core
    // 1's translations, which must leave core 1's TLB (checked on every hit).
    let fk = "name = \"fk\"\naccesses = 4000\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"sequential\"\nfootprint = \"256KiB\"\nstride = 4096\n[[event]]\nat = 64\nkind = \"fork\"\ncore = 0\n";
    let r = simulate(
        &inputs(
            Some("skylake-htab"),
            Some(fk),
            &["sim.cores=2", "page_table.groups=8"],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(r.stats.total.os_events.cow_faults > 0);
    assert_eq!(
        r.stats.physical.child_table_frames, 0,
        "a global table is not copied"
    );
    // (2) An event line after the last access, when the accesses fill whole batches.
    let mut t = String::new();
    for i in 0..4096u64 {
        t.push_str(&format!("R {:#x}\n", 0x10_0000_0000u64 + (i % 16) * 4096));
    }
    t.push_str("munmap 0x1000000000 0x10000\n");
    let (code, err, json) = run_file("end.txt", &t, &[]);
    assert_eq!(code, 0, "{err}");
    let j = json.unwrap();
    assert_eq!(j["stats"]["total"]["os_events"]["munmap_calls"], 1);
    assert_eq!(j["stats"]["total"]["huge_pages"]["mapped_bytes"], 0);
    // (3) A reservation cut by munmap is never promoted, so refilling its region breaks
    // no other reservation.
    let mut refs: Vec<String> = vec!["0".into(), "1".into()];
    refs.extend((1..=40).map(|r: u64| (r * 512).to_string()));
    let ev = "[[event]]\nat = 42\nkind = \"munmap\"\noffset = \"4KiB\"\nlen = \"4KiB\"\n";
    refs.extend((1..512).map(|p| p.to_string()));
    let wl = format!(
        "name = \"r\"\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n{ev}",
        refs.join(" ")
    );
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(&wl),
            &["os.phys_mem=\"64MiB\"", "os.huge_pages.policy=\"reserve\""],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(
        r.stats.physical.reservations_broken, 1,
        "only region 0's, by the unmap"
    );
    assert_eq!(r.stats.total.huge_pages.promotions, 0);
    // (4) An unmap of the whole 47-bit space visits what is mapped, not 2^35 pages.
    let huge = "[[event]]\nat = 32\nkind = \"munmap\"\naddr = 0\nlen = 0x800000000000\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(64, huge)), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.stats.total.os_events.unmapped_pages, 16);
    assert_eq!(r.stats.total.minor_faults, 32);
    // (5) An event for a core the machine does not have is refused.
    let bad = "[[event]]\nat = 1\nkind = \"fork\"\ncore = 3\n";
    let Err(e) = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(8, bad)), &[]),
        &mut |_, _| {},
    ) else {
        panic!("core 3 of 1 accepted");
    };
    assert!(e.to_string().contains("event[0].core"), "{e}");
}

/// `every` repeats an event to the end of the stream: unmapping the 16-page loop every
/// 16 accesses from 16 on makes each of the 4 passes fault on every page.
#[test]
fn periodic_events_repeat_to_the_end_of_the_stream() {
    let ev = "[[event]]\nat = 16\nevery = 16\nkind = \"munmap\"\noffset = 0\nlen = \"64KiB\"\n";
    let r = simulate(
        &inputs(Some("skylake"), Some(&loop_workload(64, ev)), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    assert_eq!((t.minor_faults, t.os_events.munmap_calls), (64, 3));
    // A zero period, and a repeat count beyond the cap, are refused with their key.
    for (every, n) in [(0u64, 64u64), (1, 2_000_000)] {
        let ev = format!(
            "[[event]]\nat = 1\nevery = {every}\nkind = \"munmap\"\noffset = 0\nlen = \"4KiB\"\n"
        );
        let (code, err, _) = run_file("w.toml", &loop_workload(n, &ev), &[]);
        assert_eq!(code, 2, "every = {every}: {err}");
        assert!(
            err.contains("w.toml:") && err.contains("event[0].every"),
            "{err}"
        );
    }
}

/// A long unmap on a hashed table (which cannot list its mappings): the OS's log of
/// mappings, kept because the workload has events, finds the resident pages and the
/// swapped ones, so the second pass takes minor faults only.
#[test]
fn long_unmap_on_a_hashed_table_with_replacement() {
    let ev = "[[event]]\nat = 16\nkind = \"munmap\"\naddr = 0\nlen = 0x800000000000\n";
    let sets = [
        "os.paging.replacement=\"fifo\"",
        "os.paging.resident_pages=8",
    ];
    for preset in ["skylake-htab", "skylake-inverted", "skylake"] {
        let r = simulate(
            &inputs(Some(preset), Some(&loop_workload(32, ev)), &sets),
            &mut |_, _| {},
        )
        .unwrap();
        let t = &r.stats.total;
        assert_eq!(t.os_events.unmapped_pages, 8, "{preset}");
        assert_eq!((t.minor_faults, t.paging.major_faults), (32, 0), "{preset}");
        t.check_accounting().unwrap();
    }
}
