//! TLB prefetching (issue 20) end to end: the prefetch buffer serves the misses a
//! prefetcher foresaw, a prefetch into an unmapped page never faults, free prefetching
//! keeps a walked leaf line's neighbours, prefetch walks hold walkers a demand walk
//! then waits for, and the accounting invariant holds. Counts are derived by hand in
//! each test's comment. The binary under test is the debug build: every buffer hit is
//! checked against the page table and every access against the accounting invariant.

use serde_json::Value;
use std::path::Path;

fn total(dir: &Path, name: &str, workload: &str, sets: &[&str]) -> Value {
    stats(dir, name, workload, sets)["total"].clone()
}

/// The run's `stats` (the total checked against the accounting invariant).
fn stats(dir: &Path, name: &str, workload: &str, sets: &[&str]) -> Value {
    let (code, err, stats) = crate::run_cli(dir, name, "skylake", workload, sets);
    assert_eq!(code, 0, "{err}");
    crate::assert_parts_sum(&stats["total"]);
    stats
}

fn n(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{key} in {v}"))
}

/// `pages` populated 4K pages, each referenced once in the order `refs`.
fn refs(pages: u64, refs: &[u64]) -> String {
    let populate = format!(
        "[[event]]\nat = 0\nkind = \"mmap\"\noffset = \"0\"\nlen = \"{}KiB\"\npopulate = true\n",
        pages * 4
    );
    crate::refs_workload(refs, &populate)
}

/// 4096 pages, populated, touched once each in order, with the next-page prefetcher
/// (degree 1, forward). The miss on page 0 walks and asks for page 1; every later
/// access misses both TLB levels (a page never seen) and finds its page in the buffer,
/// which triggers the prefetch of the next one. So: 1 demand walk; 4095 buffer hits;
/// 4096 prefetch walks (pages 1..=4096), of which the last finds page 4096 unmapped
/// (beyond the mapping: dropped, no fault), 4095 inserted, all used (accuracy 1).
/// Without prefetching, 4096 walks.
#[test]
fn next_page_prefetching_covers_a_page_stream() {
    let dir = tempfile::tempdir().unwrap();
    let w = refs(4096, &(0..4096).collect::<Vec<_>>());
    let off = total(dir.path(), "off", &w, &[]);
    assert_eq!(n(&off["walks"], "walks"), 4096);
    assert!(off.get("prefetch").is_none_or(Value::is_null));
    let sets = [
        "prefetch.kind=sequential",
        "prefetch.sequential.degree=1",
        "prefetch.sequential.backward=false",
    ];
    let on = total(dir.path(), "on", &w, &sets);
    let p = &on["prefetch"];
    assert_eq!(n(&on["walks"], "walks"), 1, "{p}");
    assert_eq!(n(p, "hits"), 4095);
    assert_eq!(n(p, "walks"), 4096);
    assert_eq!(n(p, "unmapped"), 1);
    assert_eq!(n(p, "inserted"), 4095);
    assert_eq!(p["accuracy"].as_f64(), Some(1.0));
    // The populating event's faults only: a prefetch never faults.
    assert_eq!(n(&on, "minor_faults"), n(&off, "minor_faults"));
    // Late hits waited for the rest of their walk, as walker wait.
    assert_eq!(n(p, "late_cycles"), n(&on["translation_cycles"], "wait"));

    // Warm-up of 1000 accesses: the measured accesses are pages 1000..=4095, 3096 buffer
    // hits, the first on page 1000's entry, inserted during the warm-up (at page 999's
    // miss); the 3096 prefetch walks since (pages 1001..=4096) insert 3095. Accuracy
    // counts the hits on entries inserted since: 3095 / 3095, not 3096 / 3095.
    let mut warm = sets.to_vec();
    warm.push("sim.warmup_accesses=1000");
    let w1 = total(dir.path(), "warm", &w, &warm);
    let p = &w1["prefetch"];
    assert_eq!((n(p, "hits"), n(p, "hits_on_earlier")), (3096, 1), "{p}");
    assert_eq!((n(p, "walks"), n(p, "inserted")), (3096, 3095));
    assert_eq!(p["accuracy"].as_f64(), Some(1.0));
}

/// 64 leaf lines (512 pages, populated), first page 8i of each line, then page 8i+1.
/// With free prefetching of every neighbour (`free = "all"`, no prefetcher), each walk
/// of pass 1 (64) finds its line's other 7 PTEs mapped and not held: 448 free
/// candidates, all inserted (the 1024-entry 2-way buffer indexes 512 sets by the page
/// number, 512 consecutive pages: no conflict). Pass 2 then hits the buffer on every
/// access: 64 free hits, no walk, none late (the walks ended long before).
#[test]
fn free_prefetching_keeps_the_leaf_lines_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let r: Vec<u64> = (0..64)
        .map(|i| 8 * i)
        .chain((0..64).map(|i| 8 * i + 1))
        .collect();
    let t = total(
        dir.path(),
        "free",
        &refs(512, &r),
        &["prefetch.kind=none", "prefetch.free=all"],
    );
    let p = &t["prefetch"];
    assert_eq!(n(&t["walks"], "walks"), 64, "{p}");
    assert_eq!(n(p, "free_candidates"), 448);
    assert_eq!(n(p, "free_inserted"), 448);
    assert_eq!((n(p, "hits"), n(p, "free_hits"), n(p, "late")), (64, 64, 0));
    assert_eq!(n(p, "walks"), 0, "no prefetcher, no prefetch walk");
}

/// One walker (`walker.max_concurrent_walks = 1`) and the sequential prefetcher
/// fetching 4 pages ahead, on pages 0, 1000, 2000, … (never a neighbour of the last):
/// every access misses, walks, and queues 4 prefetch walks on the one walker, so the
/// next access's demand walk waits for them (walker wait > 0), where without
/// prefetching it never waits (each walk ends before the next access starts).
#[test]
fn prefetch_walks_hold_the_walker_a_demand_walk_waits_for() {
    let dir = tempfile::tempdir().unwrap();
    let w = refs(65536, &(0..64).map(|i| 1000 * i).collect::<Vec<_>>());
    let one = "walker.max_concurrent_walks=1";
    let off = total(dir.path(), "off", &w, &[one]);
    assert_eq!(n(&off["translation_cycles"], "wait"), 0);
    let sets = [
        one,
        "prefetch.kind=sequential",
        "prefetch.sequential.degree=4",
        "prefetch.sequential.backward=false",
    ];
    let on = total(dir.path(), "on", &w, &sets);
    let p = &on["prefetch"];
    assert_eq!(n(&on["walks"], "walks"), 64, "{p}");
    assert_eq!(n(p, "hits"), 0);
    assert!(
        n(&on["translation_cycles"], "wait") > 0,
        "{}",
        on["translation_cycles"]
    );
    assert!(n(p, "walker_wait_cycles") > 0);
    assert_eq!(n(p, "walks") + n(p, "dropped_queue_full"), 64 * 4);
}

/// SBFP (`free = "sbfp"`, no prefetcher) keeps exactly the neighbours whose FDT counter
/// exceeds the threshold (100) at fill time. 1024 pages populated. Training: pages
/// 8i+6 then 8i+7 of line i, for i < T. The walk of 8i+6 (slot 6) finds 7 mapped
/// neighbours not held (distances -6..-1, +1): while FDT[+1] <= 100 all 7 are sampled;
/// the access to 8i+7 then misses the buffer, probes the Sampler and finds (8i+7, +1):
/// FDT[+1] += 1; its walk (slot 7: only distances -7..-1, 8i+6 held by the TLBs) samples
/// 6 more. So FDT[+1] = i before pair i, no other distance is ever credited (pages
/// 8i..8i+5 are never demanded), and nothing is inserted during training (+1 is
/// admitted only when FDT[+1] > 100, i.e. from pair 101, which T = 101 never reaches).
/// Then page 8T (slot 0): its neighbours are at +1..+7.
/// - T = 101: FDT[+1] = 101 > 100: 8T+1 is inserted, 8T+2..8T+7 sampled (FDT = 0):
///   free_inserted = 1; the access to 8T+1 then hits the buffer (a free hit, no walk),
///   which credits +1 again: FDT[+1] = 102. Walks 2T + 1 = 203, sampled 13T + 6 = 1319,
///   sampler hits T = 101.
/// - T = 100: FDT[+1] = 100, not > 100: nothing inserted, 7 sampled (1307 in all).
#[test]
fn sbfp_keeps_exactly_the_neighbours_above_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let sets = ["prefetch.kind=none", "prefetch.free=sbfp"];
    let train = |t: u64| (0..t).flat_map(|i| [8 * i + 6, 8 * i + 7]);
    let r: Vec<u64> = train(101).chain([808, 809]).collect();
    let s = stats(dir.path(), "t101", &refs(1024, &r), &sets);
    let (t, p) = (&s["total"], &s["total"]["prefetch"]);
    assert_eq!(n(&t["walks"], "walks"), 203, "{p}");
    assert_eq!(n(p, "free_inserted"), 1);
    assert_eq!((n(p, "hits"), n(p, "free_hits")), (1, 1));
    let sb = &s["cores"][0]["prefetch"]["prefetcher"]["sbfp"];
    assert_eq!(
        (n(sb, "sampled"), n(sb, "sampler_hits")),
        (1319, 101),
        "{sb}"
    );
    let mut fdt = [0u64; 14];
    fdt[7] = 102; // distance +1
    assert_eq!(sb["fdt"], serde_json::json!(fdt));

    let r: Vec<u64> = train(100).chain([800]).collect();
    let s = stats(dir.path(), "t100", &refs(1024, &r), &sets);
    let p = &s["total"]["prefetch"];
    assert_eq!(n(p, "free_inserted"), 0, "{p}");
    let sb = &s["cores"][0]["prefetch"]["prefetcher"]["sbfp"];
    assert_eq!(
        (n(sb, "sampled"), n(sb, "sampler_hits")),
        (1307, 100),
        "{sb}"
    );
    assert_eq!(sb["fdt"][7], 100);
}

/// ATP on the page stream 0..1024 (populated, touched once each, one program counter:
/// the stream has no instruction fetches). Its counters start at 0, so it prefetches
/// nothing until C0 (8 bits) reaches 128: miss 0 finds every fake queue empty, miss 1
/// only STP's (MMH: C0 1, C2 1), miss 2 MASP's and STP's (MHH), from miss 3 all three
/// (HHH): C0 = k after miss k, so misses 0..=127 choose none (128 demand walks) and
/// miss 128 (the 129th demand walk) enables it, choosing MASP (C1 = 0, C2 = 1: both
/// MSBs clear), which asks for page k + 1. Every later access misses the TLBs, finds its
/// page in the buffer (a buffer-served miss trains ATP too) and asks for the next. So:
/// 129 walks; prefetch walks for pages 129..=1024 (896), the last unmapped (dropped, no
/// fault); 895 inserted, 895 hits. Fake-queue hits: STP on misses 1..=1023, MASP on
/// 2..=1023, H2P on 3..=1023; C0 saturates at 255.
#[test]
fn atp_covers_a_page_stream_after_its_warm_up() {
    let dir = tempfile::tempdir().unwrap();
    let w = refs(1024, &(0..1024).collect::<Vec<_>>());
    let s = stats(dir.path(), "atp", &w, &["prefetch.kind=atp"]);
    let (t, p) = (&s["total"], &s["total"]["prefetch"]);
    assert_eq!(n(&t["walks"], "walks"), 129, "{p}");
    assert_eq!((n(p, "walks"), n(p, "unmapped")), (896, 1));
    assert_eq!((n(p, "inserted"), n(p, "hits")), (895, 895));
    let a = &s["cores"][0]["prefetch"]["prefetcher"];
    let chosen = &a["chosen"];
    assert_eq!((n(chosen, "none"), n(chosen, "masp")), (128, 896), "{a}");
    assert_eq!((n(chosen, "h2p"), n(chosen, "stp")), (0, 0));
    let h = &a["fpq_hits"];
    assert_eq!((n(h, "stp"), n(h, "masp"), n(h, "h2p")), (1023, 1022, 1021));
    assert_eq!((n(a, "c0"), n(a, "c1"), n(a, "c2")), (255, 0, 1));

    // With a warm-up of 200 accesses ATP's own counts restart with the others (its
    // tables stay warm): the 824 later accesses are 824 triggers, all choosing MASP
    // (enabled since miss 128); the walks are those of the warm-up's end: none.
    let s = stats(
        dir.path(),
        "warm",
        &w,
        &["prefetch.kind=atp", "sim.warmup_accesses=200"],
    );
    let p = &s["total"]["prefetch"];
    let a = &s["cores"][0]["prefetch"]["prefetcher"];
    assert_eq!((n(p, "triggers"), n(a, "misses")), (824, 824), "{a}");
    assert_eq!((n(&a["chosen"], "none"), n(&a["chosen"], "masp")), (0, 824));
    assert_eq!(n(&s["total"]["walks"], "walks"), 0);
}

/// `m` references to every third page (0, 3, 6, …; 3m pages populated), no
/// instruction fetches (one program counter, 0), with ASP of threshold `t`. The
/// instruction's k-th miss has confidence k-2 (the 1st allocates, the 2nd learns stride
/// 3), so misses 1 … t+2 fetch nothing and miss t+3 is the first to fetch the next
/// page; from then on every miss finds its page in the buffer and (a buffer hit trains
/// as a miss) fetches the next. So: t+3 demand walks, m-t-3 buffer hits; prefetch walks
/// from miss t+3 to miss m, m-t-2, the last (page 3m) unmapped: dropped, no fault;
/// m-t-3 inserted, all used.
#[test]
fn asp_covers_a_strided_stream_after_its_training() {
    let dir = tempfile::tempdir().unwrap();
    let m = 1000u64;
    let w = refs(3 * m, &(0..m).map(|i| 3 * i).collect::<Vec<_>>());
    let off = total(dir.path(), "off", &w, &[]);
    assert_eq!(n(&off["walks"], "walks"), m);
    for t in [0u64, 2] {
        let th = format!("prefetch.asp.threshold={t}");
        let on = total(
            dir.path(),
            &format!("t{t}"),
            &w,
            &["prefetch.kind=asp", &th],
        );
        let p = &on["prefetch"];
        assert_eq!(n(&on["walks"], "walks"), t + 3, "{p}");
        assert_eq!(n(p, "hits"), m - t - 3);
        assert_eq!(n(p, "walks"), m - t - 2);
        assert_eq!(n(p, "unmapped"), 1);
        assert_eq!(n(p, "inserted"), m - t - 3);
        assert_eq!(n(p, "triggers"), m);
        assert_eq!(n(&on, "minor_faults"), n(&off, "minor_faults"));
    }
}

/// Distances +1, +5, +1, +5, … (pages 0, 1, 6, 7, 12, 13, …; `m` references, pages up
/// to the last populated), DP with its defaults. Miss 1 has no distance; miss 2 (d=1)
/// and miss 3 (d=5) find no row (miss 3 teaches row 1 → [5]); miss 4 (d=1) finds row
/// 1 and fetches page 12, and from then on each miss's row names the next distance (row
/// 5 → [1], row 1 → [5]): 4 demand walks, m-4 buffer hits, prefetch walks from miss 4
/// to miss m (m-3), the last for page 6 x m/2 = 3m, beyond the mapping (unmapped).
#[test]
fn dp_covers_a_repeating_distance_pattern() {
    let dir = tempfile::tempdir().unwrap();
    let m = 1000u64;
    let pages: Vec<u64> = (0..m).map(|k| 6 * (k / 2) + k % 2).collect();
    let w = refs(pages[m as usize - 1] + 1, &pages);
    let all = stats(dir.path(), "dp", &w, &["prefetch.kind=dp"]);
    let (on, p) = (&all["total"], &all["total"]["prefetch"]);
    assert_eq!(n(&on["walks"], "walks"), 4, "{p}");
    assert_eq!(n(p, "hits"), m - 4);
    assert_eq!(n(p, "walks"), m - 3);
    assert_eq!(n(p, "unmapped"), 1);
    assert_eq!(p["accuracy"].as_f64(), Some(1.0));
    // Its own counters are per core: rows found from miss 4 on.
    let own = &all["cores"][0]["prefetch"]["prefetcher"];
    assert_eq!(own["dp_row_hits"].as_u64(), Some(m - 3), "{own}");
}

/// Recency on a cyclic stream of N = 2048 pages, 3 passes, larger than the STLB (1536
/// entries, 128 sets of 12 ways, LRU, indexed by the page's low 7 bits): every access
/// misses, and from access 1536 on each fill evicts page p-1536 (mod 2048), the LRU
/// of p's set. Pass 0: nothing is stacked when missed: 2048 walks, no prediction; it
/// leaves the stack [511, …, 0] (top first). Pass 1, access p: the pages evicted so
/// far and not touched again stack above p, p is the bottom and p+1, p+2 (mod 2048)
/// are the two just above it (derived for p < 512, 512 ≤ p < 1536 and p ≥ 1536), so
/// `after` = p+1 and `after2` = p+2, no `before`. Access 0 walks and fetches 1 and 2;
/// each later access finds its page in the buffer, p+1 already there (held) and
/// fetches p+2. Pass 1 ends with the stack [511, …, 0] again, and page 0 and 1 were
/// fetched at accesses 2046 and 2047, so pass 2 repeats pass 1 with no walk.
/// Demand walks 2048 + 1; hits 2047 + 2048; prefetch walks 2 + 2047 + 2048, all
/// mapped, inserted; the last two (pages 0 and 1 for a pass 3) never used.
#[test]
fn recency_predicts_every_miss_of_a_cyclic_stream_after_one_pass() {
    let dir = tempfile::tempdir().unwrap();
    let cyc: Vec<u64> = (0..3).flat_map(|_| 0..2048).collect();
    let w = refs(2048, &cyc);
    let all = stats(dir.path(), "rec", &w, &["prefetch.kind=recency"]);
    let (on, p) = (&all["total"], &all["total"]["prefetch"]);
    assert_eq!(n(&on["walks"], "walks"), 2049, "{p}");
    assert_eq!(n(p, "hits"), 2047 + 2048);
    assert_eq!(n(p, "walks"), 2 + 2047 + 2048);
    assert_eq!(n(p, "inserted"), 2 + 2047 + 2048);
    assert_eq!(n(p, "already_held"), 2047 + 2048);
    assert_eq!(n(p, "unmapped"), 0);
    // Pushes: one per eviction, 512 in pass 0 and 2048 in each later pass.
    let own = &all["cores"][0]["prefetch"]["prefetcher"];
    assert_eq!(
        own["recency_pushes"].as_u64(),
        Some(512 + 2 * 2048),
        "{own}"
    );
}

/// Prefetching under OS events on two cores (`os_event_stress`: a migration, an
/// munmap, an mprotect and a fork, each a shootdown to the other core) with threads,
/// for each prefetcher and free prefetching: the debug build checks every buffer hit
/// against the page table (inside a shootdown's window a changed one is a stale hit,
/// as a TLB's) and every access against the accounting invariant; the report's parts
/// sum, and the buffer served misses. ASAP beside prefetching keeps its counters the
/// demand walks' (at most 2 predicted reads a walk).
#[test]
fn prefetching_follows_os_events_and_shootdowns() {
    let text = crate::os_event_stress("kind = \"fork\"\nchild_accesses = 5000");
    let kinds: [&[&str]; 5] = [
        &[
            "prefetch.kind=\"sequential\"",
            "prefetch.free=\"all\"",
            "prefetch.trigger_level=1",
        ],
        &["prefetch.kind=\"asp\""],
        &[
            "prefetch.kind=\"dp\"",
            "prefetch.buffer_replacement=\"random\"",
        ],
        &[
            "prefetch.kind=\"recency\"",
            "tlb.stlb.entries=64",
            "tlb.stlb.ways=4",
        ],
        &[
            "prefetch.kind=\"atp\"",
            "prefetch.free=\"sbfp\"",
            "sim.overlap_window=64",
        ],
    ];
    for (i, k) in kinds.iter().enumerate() {
        let mut sets = vec!["sim.cores=2", "os.sched.threads=2"];
        sets.extend_from_slice(k);
        let preset = if i == 0 { "skylake-asap" } else { "skylake" };
        let r = mmusim::run::simulate(
            &super::runs::inputs(Some(preset), Some(&text), &sets),
            &mut |_, _| {},
        )
        .unwrap_or_else(|e| panic!("{k:?}: {}", e.0));
        let t = &r.stats.total;
        t.check_accounting()
            .unwrap_or_else(|e| panic!("{k:?}: {e}"));
        let e = &t.os_events;
        assert!(e.migrated_pages > 0 && e.unmapped_pages > 0 && e.cow_faults > 0);
        let p = t.prefetch.as_ref().unwrap();
        assert!(p.counters.hits > 0, "{k:?}: {p:?}");
        if let Some(a) = &t.walks.asap {
            assert!(a.predicted_reads <= 2 * t.walks.walks, "{a:?}");
        }
    }
}

/// `[prefetch]` with no prefetcher and no free prefetching changes nothing but adds
/// its (zero) counters: every other figure of the report equals the run without the
/// section; and `result.csv` gains the `prefetch_*` columns only with the section.
#[test]
fn prefetching_that_fetches_nothing_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let w = crate::os_event_stress("kind = \"fork\"\nchild_accesses = 5000");
    let (_, _, off) = crate::run_cli(dir.path(), "off", "skylake", &w, &[]);
    let (_, _, mut on) = crate::run_cli(dir.path(), "on", "skylake", &w, &["prefetch.kind=none"]);
    let p = on["total"]
        .as_object_mut()
        .unwrap()
        .remove("prefetch")
        .unwrap();
    assert_eq!(
        (n(&p, "walks"), n(&p, "hits"), n(&p, "inserted")),
        (0, 0, 0)
    );
    for c in on["cores"].as_array_mut().unwrap() {
        c.as_object_mut().unwrap().remove("prefetch");
    }
    assert_eq!(off["total"], on["total"]);
    assert_eq!(off["cores"], on["cores"]);
    let header = |name: &str| {
        let csv = std::fs::read_to_string(dir.path().join(name).join("result.csv")).unwrap();
        csv.lines().next().unwrap().to_string()
    };
    assert!(!header("off").contains("prefetch_"));
    assert!(header("on").contains(",prefetch_hits,prefetch_coverage,"));
}

/// With an overlap window (`sim.overlap_window = 200`, 50 instructions an access) the
/// demand walks of a page stream run behind the core; a late prefetch must too (its
/// rest waited for 200 instructions later, not at once), so a stream the next-page
/// prefetcher covers entirely (1 demand walk, 4095 buffer hits, some late) takes fewer
/// cycles than without prefetching: each access's STLB-miss probe is the same, and
/// what remains of a walk is hidden as well or better.
#[test]
fn late_prefetches_run_behind_the_core_with_a_window() {
    let dir = tempfile::tempdir().unwrap();
    let w = refs(4096, &(0..4096).collect::<Vec<_>>());
    let win = ["sim.overlap_window=200", "workload.instrs_per_access=50"];
    let off = total(dir.path(), "off", &w, &win);
    let mut sets = win.to_vec();
    sets.extend([
        "prefetch.kind=sequential",
        "prefetch.sequential.degree=1",
        "prefetch.sequential.backward=false",
    ]);
    let on = total(dir.path(), "on", &w, &sets);
    let p = &on["prefetch"];
    assert_eq!((n(&on["walks"], "walks"), n(p, "hits")), (1, 4095), "{p}");
    assert!(n(p, "late") > 0, "{p}");
    assert!(
        n(&on, "cycles") < n(&off, "cycles"),
        "{} vs {}",
        on["cycles"],
        off["cycles"]
    );
}
