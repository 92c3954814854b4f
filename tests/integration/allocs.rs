//! The per-access path allocates nothing (issue 15, point 8): a counting global allocator
//! (installed in `main.rs`) counts this thread's allocations while a run goes on, and the
//! steady state must show none, for every page-table design (walking on most accesses)
//! and every paging policy on every design (evicting and faulting back all along).
//!
//! The window is measured between two calls of the run's progress callback, which the
//! engine makes once per batch of accesses (after refilling the batch from the workload):
//! everything between the first call after the warm-up and the last is accesses, TLB
//! misses and walks, faults, evictions and batch refills. The count is per thread, so
//! tests running at the same time on other threads do not add to it.
//!
//! The resident set on its own is also checked, by `resident_set_allocates_nothing_once_full`.

use mmusim::run::{load_inputs, simulate};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting the allocations (and reallocations) of each thread.
pub struct Counting;

thread_local! {
    // `const` and no destructor: reading it allocates nothing and works at any time.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down still allocates, uncounted.
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

/// Allocations this thread has made so far.
pub fn allocs() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to `System`; counting touches only a
// thread-local `Cell`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// One run's steady state.
struct Window {
    accesses: u64,
    allocs: u64,
    walks: u64,
    major_faults: u64,
    huge_faults: u64,
}

impl Window {
    /// The window ran at least 35,000 accesses (its 40,000 less what batch boundaries
    /// take) and none of them allocated; `what` names the run in a failure.
    fn allocates_nothing(&self, what: &str) {
        assert!(
            self.accesses >= 35_000,
            "{what}: window of {}",
            self.accesses
        );
        assert_eq!(
            self.allocs, 0,
            "{what}: {} allocations in {} accesses",
            self.allocs, self.accesses
        );
    }
}

/// Runs `preset` on one core, uniform accesses over `pages` 4 KiB pages, `accesses` in
/// all (the first 2 MiB advised for huge pages when `advise`), with `sets` on top;
/// measures from the first batch at or after `warm` accesses.
fn window(
    preset: &str,
    (pages, advise): (u64, bool),
    warm: u64,
    accesses: u64,
    sets: &[&str],
) -> Window {
    let dir = tempfile::tempdir().unwrap();
    let wl = dir.path().join("w.toml");
    let mut text = format!(
        "name = \"uniform\"\naccesses = {accesses}\nseed = 7\n\
         [generator]\nkind = \"uniform\"\nfootprint = \"{}KiB\"\n",
        pages * 4
    );
    if advise {
        text.push_str("[[event]]\nat = 0\nkind = \"madvise\"\noffset = 0\nlen = \"2MiB\"\n");
    }
    std::fs::write(&wl, text).unwrap();
    // Whole-run counts (the walk and fault checks below count from the first access).
    let mut all = vec![
        "sim.cores=1".to_string(),
        "sim.warmup_accesses=0".to_string(),
    ];
    all.extend(sets.iter().map(|s| s.to_string()));
    let inputs = load_inputs(Some(preset), wl.to_str(), &all).unwrap_or_else(|e| panic!("{e:?}"));
    // (accesses, allocations) at the first progress call after the warm-up and at the
    // last; the callback itself allocates nothing.
    let mut first: Option<(u64, u64)> = None;
    let mut last = (0, 0);
    let report = simulate(&inputs, &mut |done, _| {
        let now = (done, allocs());
        if done >= warm && first.is_none() {
            first = Some(now);
        }
        last = now;
    })
    .unwrap_or_else(|e| panic!("{preset} {sets:?}: {}", e.0));
    let first = first.expect("the run passes the warm-up");
    let total = &report.stats.total;
    Window {
        accesses: last.0 - first.0,
        allocs: last.1 - first.1,
        walks: total.walks.walks,
        major_faults: total.paging.major_faults,
        huge_faults: total.huge_pages.faults_2m,
    }
}

/// Walks: 4,096 pages (16 MiB) are more than the STLB reaches (1,536 entries), so most
/// accesses walk. The pages are all mapped after about 4,096 x ln 4,096 = 34,000
/// accesses (coupon collector); that one is still untouched after 100,000 has
/// probability 4,096 x e^(-100000/4096), about 1e-7. The window is the next 40,000
/// accesses: a per-access allocation would show tens of thousands.
fn walks_allocate_nothing(preset: &str) {
    let w = window(preset, (4096, false), 100_000, 140_000, &[]);
    // Uniform over 4,096 pages with at most 1,536 + 64 of them in the TLBs: about 60%
    // of the accesses miss in the steady state, more while pages are first touched; the
    // report counts the whole run (no warm-up in the preset).
    assert!(w.walks > 140_000 / 2, "{preset}: {} walks", w.walks);
    assert_eq!(
        w.major_faults, 0,
        "{preset}: nothing is evicted without a policy"
    );
    w.allocates_nothing(preset);
}

/// Walks with two page sizes mapped: the first 2 MiB advised for a huge page, the other
/// 3,584 pages 4 KiB, so a hashed design probes both sizes on a walk (in parallel by
/// default). Warm-up as above.
fn mixed_walks_allocate_nothing(preset: &str) {
    let sets = ["os.huge_pages.policy=madvise"];
    let w = window(preset, (4096, true), 100_000, 140_000, &sets);
    // The huge page takes 1/8 of the accesses and stays in the TLB; of the other 7/8,
    // about 1 - 1,600/3,584 = 55% miss: 48% of all accesses walk in the steady state.
    assert!(w.walks > 140_000 * 2 / 5, "{preset}: {} walks", w.walks);
    assert_eq!(w.huge_faults, 1, "{preset}: one 2M page");
    w.allocates_nothing(preset);
}

const DESIGNS: [&str; 6] = [
    "skylake",
    "skylake-inverted",
    "skylake-htab",
    "skylake-clustered",
    "skylake-cuckoo",
    "skylake-flattened",
];

/// Paging: `policy` on every design with a limit of half the footprint (256 of 512
/// pages; all touched after about 3,200 accesses, and the set full soon after), so that
/// the steady state evicts and faults pages back all along. WS's window of 400 accesses
/// holds about 277 distinct pages of 512 on average, mostly above the limit, so both its
/// expiry and its LRU fallback run and its set stops growing at the limit.
fn paging_allocates_nothing(policy: &str) {
    let mut bad = Vec::new();
    for preset in DESIGNS {
        let repl = format!("os.paging.replacement={policy}");
        let mut sets = vec![
            repl.as_str(),
            "os.paging.resident_pages=256",
            "os.huge_pages.policy=never",
        ];
        if policy == "ws" {
            sets.push("os.paging.window=400");
        }
        let w = window(preset, (512, false), 10_000, 30_000, &sets);
        assert!(w.accesses >= 15_000, "{preset}: window of {}", w.accesses);
        // Half the footprint resident, uniform accesses: the policies other than OPT
        // fault on about one access in two once the set is full, OPT on fewer (about
        // one in five); either way evictions go on all along.
        assert!(
            w.major_faults > 30_000 / 10,
            "{preset} {policy}: {} major faults",
            w.major_faults
        );
        if w.allocs != 0 {
            bad.push(format!(
                "{preset}: {} allocations in {} accesses",
                w.allocs, w.accesses
            ));
        }
    }
    assert!(bad.is_empty(), "{policy}: {bad:#?}");
}

#[test]
fn radix_walks_allocate_nothing() {
    walks_allocate_nothing("skylake");
}

/// The coalesced STLB: the run around each walked page is read from the table (the
/// neighbours' translations) without allocating.
#[test]
fn coalescing_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-colt");
    mixed_walks_allocate_nothing("skylake-colt");
}

/// The POM-TLB: its probes' reads are priced from a fixed-capacity list. Partitions of
/// 1,024 entries, so both its hits and its misses (walks) run: uniform over 4,096 pages
/// with about 1,600 + 1,024 of them in the TLBs, a third of the accesses or more walk.
#[test]
fn pom_tlb_lookups_allocate_nothing() {
    let small = ["tlb.pom_4k.entries=1024", "tlb.pom_2m.entries=1024"];
    for (advise, more) in [(false, None), (true, Some("os.huge_pages.policy=madvise"))] {
        let sets: Vec<&str> = small.iter().copied().chain(more).collect();
        let w = window("skylake-pom", (4096, advise), 100_000, 140_000, &sets);
        assert!(w.walks > 140_000 / 4, "{} walks", w.walks);
        w.allocates_nothing(&format!("{sets:?}"));
    }
}

/// Victima: probes of the L2, block hits, insertions after walks, and (with insertion
/// on a miss off) insertions after STLB evictions with their background walks allocate
/// nothing. 4,096 pages make 512 blocks, which the 2 MiB L2 holds: after the warm-up
/// nearly every STLB miss is a block hit (so walks are not counted here).
#[test]
fn victima_allocates_nothing() {
    for sets in [
        &["victima.predictor=\"always\""][..],
        &[
            "victima.predictor=\"ptw-cp\"",
            "victima.insert_on_miss=false",
        ],
    ] {
        let w = window("skylake-victima", (4096, false), 100_000, 140_000, sets);
        w.allocates_nothing(&format!("{sets:?}"));
    }
}

/// TLB prefetching: the buffer's probes, the prefetcher's trigger, prefetch walks on
/// the walkers, free prefetching of the leaf line and each prefetcher's tables (ASP's,
/// DP's, the recency stack and its index) allocate nothing. Uniform over
/// 4,096 pages misses the STLB on most accesses, so prefetch walks run all along.
#[test]
fn prefetching_allocates_nothing() {
    for sets in [
        &["prefetch.kind=\"sequential\"", "prefetch.free=\"all\""][..],
        &["prefetch.kind=\"none\"", "prefetch.free=\"all\""][..],
        &["prefetch.kind=\"asp\""][..],
        &["prefetch.kind=\"dp\""][..],
        // A stack smaller than the evicted pages: pushes drop its bottom all along.
        &[
            "prefetch.kind=\"recency\"",
            "prefetch.recency.capacity=1000",
        ][..],
    ] {
        let w = window("skylake", (4096, false), 100_000, 140_000, sets);
        w.allocates_nothing(&format!("{sets:?}"));
    }
}

/// Utopia's RestSeg walk: an 8 MiB RestSeg (2,048 frames) holds about half of the 4,096
/// pages, so RestSeg walks both hit and miss (then a radix walk): uniform over 4,096
/// pages with about 1,600 in the TLBs, 60% of the accesses miss them and about half of
/// those walk, so more than a fifth of 140,000.
#[test]
fn restseg_walks_allocate_nothing() {
    let w = window(
        "skylake-utopia",
        (4096, false),
        100_000,
        140_000,
        &["os.utopia.size=\"8MiB\""],
    );
    assert!(w.walks > 140_000 / 5, "{} walks", w.walks);
    w.allocates_nothing("skylake-utopia");
}

/// SpecTLB's probes, fills and settled predictions, and the size predictor's steered
/// level-1 lookups, allocate nothing: uniform over 1 GiB (512 regions, each reserved at
/// its first touch within the warm-up; ~270 accesses a region in all, so none fills up
/// and is promoted), most accesses miss the TLBs and walk.
#[test]
fn speculation_allocates_nothing() {
    let w = window(
        "skylake-spectlb",
        (1 << 18, false),
        100_000,
        140_000,
        &["size_prediction.enable=true"],
    );
    assert!(w.walks > 140_000 / 2, "{} walks", w.walks);
    w.allocates_nothing("skylake-spectlb");
}

#[test]
fn inverted_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-inverted");
}

#[test]
fn htab_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-htab");
}

#[test]
fn clustered_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-clustered");
}

#[test]
fn cuckoo_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-cuckoo");
}

#[test]
fn radix_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake");
}

#[test]
fn inverted_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake-inverted");
}

#[test]
fn htab_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake-htab");
}

#[test]
fn clustered_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake-clustered");
}

#[test]
fn cuckoo_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake-cuckoo");
}

#[test]
fn flattened_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-flattened");
}

/// ASAP's walks look their PL2 and PL1 region up on every walk (no allocation either).
#[test]
fn asap_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-asap");
}

#[test]
fn flattened_mixed_size_walks_allocate_nothing() {
    mixed_walks_allocate_nothing("skylake-flattened");
}

#[test]
fn fifo_paging_allocates_nothing() {
    paging_allocates_nothing("fifo");
}

#[test]
fn lru_paging_allocates_nothing() {
    paging_allocates_nothing("lru");
}

#[test]
fn clock_paging_allocates_nothing() {
    paging_allocates_nothing("clock");
}

#[test]
fn random_paging_allocates_nothing() {
    paging_allocates_nothing("random");
}

#[test]
fn opt_paging_allocates_nothing() {
    paging_allocates_nothing("opt");
}

#[test]
fn ws_paging_allocates_nothing() {
    paging_allocates_nothing("ws");
}

/// The resident set alone, driven as the OS drives it (evict down to the limit, insert,
/// touch; WS trims after each touch), on uniform accesses over 512 pages with 256
/// resident: once the set is full, every policy's bookkeeping allocates nothing. This
/// holds today, while the whole-run paging tests above wait for the engine.
#[test]
fn resident_set_allocates_nothing_once_full() {
    use mmusim::config::ReplacementPolicy as P;
    use mmusim::os::paging::ResidentSet;
    use rand_core::{Rng, SeedableRng};
    for policy in [P::Fifo, P::Lru, P::Clock, P::Random, P::Opt, P::Ws] {
        let mut set = ResidentSet::new(policy, 3);
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(5);
        let (mut evictions, mut start) = (0, 0);
        let mut resident = [false; 512];
        for i in 0..100_000u64 {
            if i == 20_000 {
                start = allocs();
            }
            let vpn = r.next_u64() % 512;
            if !resident[vpn as usize] {
                while set.len() >= 256 {
                    resident[set.evict().expect("full").vpn as usize] = false;
                    evictions += 1;
                }
                set.insert(vpn, vpn << 12);
                resident[vpn as usize] = true;
            }
            let next = match r.next_u64() % 8 {
                0 => u64::MAX,
                n => i + n * 100,
            };
            set.touch(vpn, i % 3 == 0, i % 2 == 0, next);
            if policy == P::Ws {
                while let Some(v) = set.expired(400) {
                    resident[v.vpn as usize] = false;
                }
            }
        }
        assert!(evictions > 20_000, "{policy:?}: {evictions} evictions");
        assert_eq!(allocs() - start, 0, "{policy:?}");
    }
}

/// The counter sees this thread's allocations, and only them: the tests above could not
/// pass by counting nothing, nor fail by counting other tests' threads.
#[test]
fn the_counter_counts_this_threads_allocations() {
    let before = allocs();
    let v: Vec<u64> = Vec::with_capacity(std::hint::black_box(100));
    assert_eq!(allocs() - before, 1);
    let theirs = std::thread::spawn(|| {
        let b = allocs();
        for _ in 0..1000 {
            drop(std::hint::black_box(vec![1u8; 64]));
        }
        allocs() - b
    })
    .join()
    .unwrap();
    assert_eq!(theirs, 1000);
    // The spawn itself allocates here (the thread's handle and its bookkeeping), a few
    // times, not the other thread's thousand.
    assert!(allocs() - before < 100, "{}", allocs() - before);
    drop(v);
}

/// Nested walks (`[virt]`): the two-dimensional walk, the nested TLB and the host walk
/// caches, EPT violations while pages are first touched, allocate nothing per access.
#[test]
fn nested_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-vm");
}

#[test]
fn nested_walks_with_host_caches_and_huge_pages_allocate_nothing() {
    for sets in [
        &[
            "virt.ntlb={entries=16, latency=2}",
            "virt.host_psc=[{name=\"epde\", level=2, entries=32, ways=4, latency=1}]",
        ][..],
        &["virt.host.huge_pages.policy=always"][..],
    ] {
        let w = window("skylake-vm", (4096, true), 100_000, 140_000, sets);
        w.allocates_nothing(&format!("{sets:?}"));
    }
}

/// Shadow paging (`skylake-vm-shadow`): a TLB miss walks the shadow table with the
/// native walker; once every page's shadow entry is filled (the fills, exits and host
/// faults of first touches build tables and may allocate), misses allocate nothing.
#[test]
fn shadow_paging_walks_allocate_nothing() {
    walks_allocate_nothing("skylake-vm-shadow");
}
