//! TLB prefetching (issue 20) end to end: the prefetch buffer serves the misses a
//! prefetcher foresaw, a prefetch into an unmapped page never faults, free prefetching
//! keeps a walked leaf line's neighbours, prefetch walks hold walkers a demand walk
//! then waits for, and the accounting invariant holds. Counts are derived by hand in
//! each test's comment. The binary under test is the debug build: every buffer hit is
//! checked against the page table and every access against the accounting invariant.

use serde_json::Value;
use std::path::Path;

fn total(dir: &Path, name: &str, workload: &str, sets: &[&str]) -> Value {
    let (code, err, stats) = crate::run_cli(dir, name, "skylake", workload, sets);
    assert_eq!(code, 0, "{err}");
    let t = stats["total"].clone();
    crate::assert_parts_sum(&t);
    t
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
    assert!(n(p, "late") <= n(p, "hits"));
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
