//! The coalesced TLB (CoLT, issue 19 item 1) end to end: exact walk counts of a
//! sequential workload with and without coalescing, fragmentation shrinking the runs,
//! the key beside another preset, bad `coalesce` values refused at their key path.
//! The binary under test is the debug build: every TLB hit is checked against the page
//! table (no stale run) and every access against the accounting invariant.

use serde_json::Value;
use std::path::Path;

/// 8192 pages (32 MiB) touched in order, four passes: one access per page.
const PAGES: u64 = 8192;
const PASSES: u64 = 4;
const WORKLOAD: &str = "name = \"seq-32m\"\naccesses = 32768\ninstrs_per_access = 1\n\
seed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"32MiB\"\nstride = 4096\n";

/// `stats.total` of a run of `preset` on the workload with `sets` (no warm-up: every
/// access counted).
fn total(dir: &Path, name: &str, preset: &str, sets: &[&str]) -> Value {
    total_of(dir, name, preset, WORKLOAD, sets)
}

/// [`total`] of `workload`.
fn total_of(dir: &Path, name: &str, preset: &str, workload: &str, sets: &[&str]) -> Value {
    let (code, err, _) = crate::run_cli(dir, name, preset, workload, sets);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(dir.join(name).join("result.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v["stats"]["total"].clone()
}

fn walks(t: &Value) -> u64 {
    t["walks"]["walks"].as_u64().unwrap()
}

fn stlb(t: &Value) -> &Value {
    (t["tlb"].as_array().unwrap().iter())
        .find(|s| s["name"] == "stlb")
        .unwrap()
}

/// The accounting invariant in the report: translation cycles are the sum of parts.
fn accounted(t: &Value) {
    crate::assert_parts_sum(t);
}

/// Groups of 4 split in two by a page-table page: the fault of the first page of each
/// 2 MiB region takes its data frame first and then the frame of the region's new leaf
/// table (`Os::fault`: `choose_frame`, then `map`), so page 512m and page 512m + 1 are
/// not physically adjacent. 32 MiB: 16 such groups (group index 128m, all in set 0 of
/// the 128-set STLB).
const SPLIT: u64 = 16;

/// Hand-worked, unfragmented memory: the buddy allocator hands out ascending frames, so
/// the 32 MiB get consecutive frames but for the page-table pages (see [`SPLIT`]).
/// Pass 1 faults every page: 2 walks per page (the walk that faults and the one after),
/// whatever the TLB. Passes 2 to 4: the 12-way STLB sees, per set, a cycle longer than
/// its ways (skylake: 8192 pages / 128 sets = 64 per set; skylake-colt: 16 groups per
/// set, set 0 32 runs), so under LRU nothing survives a pass. Without coalescing every
/// page walks once per pass; with CoLT-SA (4) the walk of a group's first page fills
/// the run of 4 and its 3 other pages hit the STLB: P/4 walks per pass, and one more
/// for each split group (its second run).
#[test]
fn a_sequential_scan_walks_once_per_group_of_four() {
    let dir = tempfile::tempdir().unwrap();
    let base = total(dir.path(), "base", "skylake", &[]);
    let colt = total(dir.path(), "colt", "skylake-colt", &[]);
    let later = PASSES - 1;
    assert_eq!(walks(&base), 2 * PAGES + later * PAGES);
    assert_eq!(walks(&colt), 2 * PAGES + later * (PAGES / 4 + SPLIT));
    // The STLB's hits: 3 of each group of 4 in passes 2 to 4, 2 of a split group.
    assert_eq!(stlb(&colt)["hits"], later * (PAGES / 4 * 3 - SPLIT));
    let c = &stlb(&colt)["coalesced"];
    // Pass 1 installs, per group, the runs its pages' walks after their faults find
    // (the later pages not mapped yet): 1, 2, 3, 4 pages; 1, 1, 2, 3 in a split group.
    // Passes 2 to 4: one run of 4 per group, two (1 and 3 pages) per split group.
    let installs = PAGES + later * (PAGES / 4 + SPLIT);
    assert_eq!(c["installs"], installs);
    let multi = (3 * PAGES / 4 - SPLIT) + later * PAGES / 4;
    assert_eq!(c["coalesced_fills"], multi);
    let pages = (10 * PAGES / 4 - 3 * SPLIT) + later * PAGES;
    assert_eq!(c["installed_pages"], pages);
    // Full at the end: 127 sets of 12 whole groups; set 0 holds the last 12 runs of its
    // cycle, the two runs of each of the last 6 split groups: 24 pages.
    assert_eq!(c["entries_held"], 1536);
    assert_eq!(c["pages_held"], 127 * 12 * 4 + 24);
    assert!(stlb(&base).get("coalesced").is_none());
    accounted(&base);
    accounted(&colt);
}

/// Fragmentation shrinks the runs as the buddy allocator predicts. `os.fragmentation = f`
/// pins one random frame in a fraction f of the 8192 2 MiB blocks of the 16 GiB; the
/// claim leaves each pinned block one free block of each order 0 to 8, and 4 KiB
/// requests take the smallest free block first: the ~f x 8192 single frames (each in
/// its own 2 MiB block, so no two consecutive allocations adjacent but by chance) go
/// first, then the pairs. Prediction: f = 0.5 serves about the first 4096 pages singly
/// and the rest in pairs (runs of at most 2); f = 0.9 about the first 7373 singly. So
/// walks rise with f and stay within the uncoalesced count, and the mean pages per
/// install falls.
#[test]
fn fragmentation_shrinks_coalescing() {
    let dir = tempfile::tempdir().unwrap();
    let runs: Vec<Value> = ["0", "0.5", "0.9"]
        .iter()
        .map(|f| {
            let set = format!("os.fragmentation={f}");
            total(dir.path(), f, "skylake-colt", &[&set])
        })
        .collect();
    let w: Vec<u64> = runs.iter().map(walks).collect();
    let mean: Vec<f64> = (runs.iter())
        .map(|t| {
            stlb(t)["coalesced"]["mean_pages_per_fill"]
                .as_f64()
                .unwrap()
        })
        .collect();
    let uncoalesced = 2 * PAGES + (PASSES - 1) * PAGES;
    assert_eq!(w[0], 2 * PAGES + (PASSES - 1) * (PAGES / 4 + SPLIT));
    assert!(w[0] < w[1] && w[1] < w[2] && w[2] <= uncoalesced, "{w:?}");
    assert!(mean[0] > mean[1] && mean[1] > mean[2], "{mean:?}");
    // f = 0.5, passes 2 to 4: ~4096 pages alone and ~4096 in pairs at best, so at
    // least ~4096 + 2048 walks per pass (pairs may straddle groups: more, never fewer).
    let later = |t: u64| (t - 2 * PAGES) / (PASSES - 1);
    assert!(later(w[1]) > 5800, "{w:?}");
    // f = 0.9: ~7373 pages alone.
    assert!(later(w[2]) > 7000, "{w:?}");
    runs.iter().for_each(accounted);
}

/// The organisation key beside another preset: the STLB of skylake made coalesced by
/// two keys is skylake-colt, counter for counter.
#[test]
fn the_key_on_skylake_is_the_preset() {
    let dir = tempfile::tempdir().unwrap();
    let keyed = total(
        dir.path(),
        "keyed",
        "skylake",
        &["tlb.stlb.organisation=\"coalesced\"", "tlb.stlb.coalesce=4"],
    );
    let preset = total(dir.path(), "preset", "skylake-colt", &[]);
    assert_eq!(keyed, preset);
    let eight = total(
        dir.path(),
        "eight",
        "skylake",
        &["tlb.stlb.organisation=\"coalesced\"", "tlb.stlb.coalesce=8"],
    );
    // 32 MiB in groups of 8: 1024 groups over 128 sets, 8 per set of 12 ways, so after
    // pass 1 (each group's last fault installs the whole group over its partial runs)
    // they all stay, but for the split groups (group index 64m: 8 in set 0, 8 in set
    // 64, two runs each, 16 runs cycling through 12 ways): those two sets walk all 16
    // runs in each of passes 2 to 4.
    assert_eq!(walks(&eight), 2 * PAGES + (PASSES - 1) * 2 * 16);
    accounted(&eight);
}

/// Bad `coalesce` values and the key on a set-associative TLB are refused at the key
/// path with exit 2.
#[test]
fn bad_coalesce_is_refused_at_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str, &[&str], &str)] = &[
        (
            "three",
            "skylake-colt",
            &["tlb.stlb.coalesce=3"],
            "tlb.stlb.coalesce: must be a power of two",
        ),
        (
            "sixteen",
            "skylake-colt",
            &["tlb.stlb.coalesce=16"],
            "from 2 to 8",
        ),
        ("one", "skylake-colt", &["tlb.stlb.coalesce=1"], "not 1"),
        (
            "sa",
            "skylake",
            &["tlb.stlb.coalesce=4"],
            "tlb.stlb.coalesce: only a coalesced TLB",
        ),
    ];
    for (name, preset, sets, want) in cases {
        let (code, err, _) = crate::run_cli(dir.path(), name, preset, WORKLOAD, sets);
        assert_eq!(code, 2, "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
}

#[test]
fn unmapped_and_protected_pages_leave_their_runs() {
    let dir = tempfile::tempdir().unwrap();
    let events = "[[event]]\nat = 8192\nkind = \"munmap\"\noffset = \"8KiB\"\nlen = \"4KiB\"\n\
        [[event]]\nat = 16384\nkind = \"mprotect\"\noffset = \"40KiB\"\nlen = \"4KiB\"\nprot = \"r\"\n";
    let w = WORKLOAD.replace("accesses = 32768", "accesses = 24576\nwrite_fraction = 0.0");
    let a = total_of(dir.path(), "plain", "skylake-colt", &w, &[]);
    let b = total_of(
        dir.path(),
        "events",
        "skylake-colt",
        &format!("{w}{events}"),
        &[],
    );
    assert_eq!(walks(&a), 2 * PAGES + 2 * (PAGES / 4 + SPLIT));
    assert_eq!(walks(&b), walks(&a) + 4);
    accounted(&b);
}

/// Every OS event that changes translations (copy-on-write after a fork, migration,
/// munmap, mprotect) on two cores with a small coalesced STLB of runs of 8: the debug
/// build checks every TLB hit against the table (a run kept past a change of one of its
/// pages would fail it) and the accounting invariant at every access.
#[test]
fn os_events_keep_every_coalesced_hit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::os_event_stress("kind = \"fork\"");
    let sets = [
        "sim.cores=2",
        "tlb.stlb.coalesce=8",
        "tlb.stlb.entries=64",
        "tlb.stlb.ways=4",
    ];
    let t = &total_of(dir.path(), "out", "skylake-colt", &text, &sets);
    let ev = &t["os_events"];
    for k in [
        "migrated_pages",
        "unmapped_pages",
        "cow_faults",
        "protection_faults",
    ] {
        assert!(ev[k].as_u64().unwrap() > 0, "{k}: {ev}");
    }
    // The populated 8 MiB are contiguous: runs of several pages were installed.
    assert!(stlb(t)["coalesced"]["coalesced_fills"].as_u64().unwrap() > 1000);
    accounted(t);
}
