//! The one-pass geometry sweep (`sweep/onepass.rs`): every (entries, ways) point of a
//! set-associative LRU TLB, first level or second, answered from one pass per set
//! count, equal to a full simulation of each point; the refusals, each with its reason.

use mmusim::sweep::{self, onepass, Slice};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Two small workloads: zipf (hot and cold pages, loads and stores) and a uniform one
/// whose pages outnumber the larger geometries, so capacity and conflict both show.
const WORKLOADS: [(&str, &str); 2] = [
    (
        "zipf.toml",
        "name = \"zipf\"\naccesses = 12000\nseed = 5\ninstrs_per_access = 2\nwrite_fraction = 0.3\n[generator]\nkind = \"zipf\"\nfootprint = \"4MiB\"\nexponent = 0.8\n",
    ),
    (
        "uni.toml",
        "name = \"uni\"\naccesses = 8000\nseed = 6\n[generator]\nkind = \"uniform\"\nfootprint = \"320KiB\"\n",
    ),
];

/// A sweep of `tlb[5]` (the Skylake preset's STLB) or any TLB, with `set` and `axes`.
fn spec(dir: &Path, one_pass: bool, set: &str, axes: &str) -> std::path::PathBuf {
    for (f, t) in WORKLOADS {
        std::fs::write(dir.join(f), t).unwrap();
    }
    let p = dir.join(format!("s-{one_pass}.toml"));
    std::fs::write(
        &p,
        format!(
            "name = \"g\"\nsystem = \"skylake\"\none_pass = {one_pass}\nset = [{set}]\n[[workload]]\nname = \"zipf\"\nfile = \"zipf.toml\"\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n{axes}"
        ),
    )
    .unwrap();
    p
}

/// The STLB from direct mapped (16 x 1, 64 x 1) to fully associative (16 x 16).
const STLB_AXES: &str = "[[axis]]\nkey = \"tlb[5].entries\"\nvalues = [16, 64]\n[[axis]]\nkey = \"tlb[5].ways\"\nvalues = [1, 2, 4, 16]\n";

fn records(dir: &Path) -> BTreeMap<(usize, String), sweep::Record> {
    (sweep::read_store(dir).unwrap().into_iter())
        .map(|r| ((r.point, r.workload.clone()), r))
        .collect()
}

/// Every leaf of `mine` (a stack record's total) equals `full`'s at the same place.
fn leaves_equal(mine: &Value, full: &Value, at: &str, n: &mut usize) {
    match mine {
        Value::Object(m) => {
            for (k, v) in m {
                if k != "one_pass_tlb" {
                    leaves_equal(v, &full[k], &format!("{at}/{k}"), n);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                leaves_equal(v, &full[i], &format!("{at}/{i}"), n);
            }
        }
        _ => {
            assert_eq!(mine, full, "{at}");
            *n += 1;
        }
    }
}

/// Runs the sweep both ways and compares: the pass's records against full simulation
/// of the same points. Returns the records of the pass.
fn both_ways(set: &str, axes: &str) -> BTreeMap<(usize, String), sweep::Record> {
    let dir = tempfile::tempdir().unwrap();
    let (fast, full) = (dir.path().join("fast"), dir.path().join("full"));
    let s = sweep::run(
        &spec(dir.path(), true, set, axes),
        &fast,
        Slice::All,
        2,
        false,
        &|_, _| {},
    )
    .unwrap();
    assert!(
        s.note
            .as_deref()
            .unwrap_or("")
            .contains("one pass: every geometry"),
        "{:?}",
        s.note
    );
    sweep::run(
        &spec(dir.path(), false, set, axes),
        &full,
        Slice::All,
        2,
        false,
        &|_, _| {},
    )
    .unwrap();
    let (a, b) = (records(&fast), records(&full));
    assert_eq!(a.len(), b.len());
    let mut stack = 0;
    for (k, ra) in &a {
        let rb = &b[k];
        let (ta, tb) = (ra.total.as_ref().unwrap(), rb.total.as_ref().unwrap());
        if ra.method.is_none() {
            // The guard point: simulated, the same run.
            assert_eq!(k.0, 0, "{k:?}");
            assert_eq!(ta, tb, "{k:?}");
            continue;
        }
        assert_eq!(ra.method.as_deref(), Some("stack"));
        stack += 1;
        let mut n = 0;
        leaves_equal(ta, tb, "", &mut n);
        assert!(n >= 8, "{k:?}: only {n} values compared");
        // What the pass cannot know is absent, not invented.
        assert!(ta.get("cycles").is_none() && ta.pointer("/walks/pte_reads").is_none());
    }
    assert_eq!(stack, a.len() - 2);
    a
}

/// The STLB below the L1 TLBs: its stream (the L1 misses) recorded once per workload,
/// every geometry answered, each equal to simulating it (every TLB's counters, the
/// level counters, the walks), warm-up included.
#[test]
fn second_level_geometries_equal_full_simulation() {
    let a = both_ways(
        "\"sim.warmup_accesses=1000\", \"os.minor_fault_cycles=0\"",
        STLB_AXES,
    );
    // Geometries differ: direct mapped misses more than 4 ways of the same entries.
    let misses = |p: usize, w: &str| {
        a[&(p, w.to_string())].total.as_ref().unwrap()["tlb"][5]["misses"]
            .as_u64()
            .unwrap()
    };
    // Point order: entries x ways, so points 0..4 are 16 entries at 1, 2, 4, 16 ways.
    assert!(
        misses(0, "uni") > misses(2, "uni"),
        "{} {}",
        misses(0, "uni"),
        misses(2, "uni")
    );
    assert!(misses(4, "uni") < misses(0, "uni"));
    // The walks are answered: the STLB's misses plus the faults' replays.
    let t = a[&(5, "uni".to_string())].total.as_ref().unwrap();
    assert!(t["walks"]["walks"].as_u64().unwrap() >= t["tlb"][5]["misses"].as_u64().unwrap());
}

/// Huge pages at first touch (`always`): the STLB holds 2M pages too, each set picked
/// by its own page number; still equal to simulation.
#[test]
fn second_level_with_huge_pages_equals_full_simulation() {
    let a = both_ways(
        "\"sim.warmup_accesses=0\", \"os.huge_pages.policy=\\\"always\\\"\"",
        "[[axis]]\nkey = \"tlb[5].entries\"\nvalues = [2, 4]\n[[axis]]\nkey = \"tlb[5].ways\"\nvalues = [1, 2]\n",
    );
    let t = a[&(1, "zipf".to_string())].total.as_ref().unwrap();
    assert!(t["tlb"][5]["lookups"].as_u64().unwrap() > 0, "{t}");
}

/// Sets deeper than the bounded scan tracks (128 ways: the Fenwick pass, at 1 and 2
/// sets) beside sets within it (16 and 64 ways: the bounded scan, at 2 to 16 sets; 2
/// sets asked at both 64 and 128 ways takes the deeper pass) in one sweep, warm-up
/// included: every point equal to simulating it.
#[test]
fn deep_and_shallow_sets_in_one_sweep_equal_full_simulation() {
    both_ways(
        "\"sim.warmup_accesses=1000\", \"os.minor_fault_cycles=0\"",
        "[[axis]]\nkey = \"tlb[5].entries\"\nvalues = [128, 256]\n[[axis]]\nkey = \"tlb[5].ways\"\nvalues = [16, 64, 128]\n",
    );
}

/// A set-associative L1 DTLB (the only data TLB of 4K pages): answered from the
/// workload's own stream, equal to simulation.
#[test]
fn first_level_set_associative_geometries_equal_full_simulation() {
    let tlb = "\"tlb=[{name=\\\"d\\\", level=1, kind=\\\"data\\\", entries=8, ways=8, page_sizes=[\\\"4K\\\"], latency=1}]\", \"sim.warmup_accesses=700\"";
    let axes = "[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [8, 32]\n[[axis]]\nkey = \"tlb[0].ways\"\nvalues = [1, 4, 8]\n";
    both_ways(tlb, axes);
}

/// The plan's verdict for the STLB sweep with `set` added.
fn verdict(set: &str) -> Result<onepass::OnePass, String> {
    let dir = tempfile::tempdir().unwrap();
    let base = "\"os.minor_fault_cycles=0\"";
    let p = spec(dir.path(), true, &format!("{base}, {set}"), STLB_AXES);
    let (_, jobs) = sweep::plan(&p, 1).unwrap_or_else(|e| panic!("{e:?}"));
    onepass::eligible(&jobs)
}

/// Each thing that makes the STLB's stream or contents depend on its geometry, or
/// adds to them what the stack does not model, is refused with its reason.
#[test]
fn refusals_say_why() {
    let ok = verdict("\"sim.warmup_accesses=0\"").unwrap();
    assert_eq!((ok.tlb, ok.name.as_str(), ok.recorded), (5, "stlb", true));
    for (set, why) in [
        (
            "\"tlb[5].replacement=\\\"plru\\\"\"",
            "does not replace LRU",
        ),
        // Victim-filled (exclusive of the level above): its contents are the L1's
        // evictions, not its own misses.
        (
            "\"tlb[5].fill=\\\"victim\\\"\"",
            "is not filled on its misses",
        ),
        (
            "\"prefetch.kind=\\\"sequential\\\"\"",
            "TLB prefetching ([prefetch])",
        ),
        ("\"victima.enable=true\"", "Victima ([victima])"),
        (
            "\"os.huge_pages.policy=\\\"promote\\\"\"",
            "promotes or collapses pages",
        ),
        (
            "\"os.huge_pages.policy=\\\"always\\\"\", \"os.huge_pages.demote=true\"",
            "demote splits huge pages",
        ),
        ("\"sim.cores=2\"", "more than one core or task"),
        (
            "\"os.paging.replacement=\\\"lru\\\"\", \"os.paging.resident_pages=64\"",
            "os.paging replaces pages",
        ),
        (
            "\"tlb[6].level=3\"",
            "tlb[5] `stlb` is not the last TLB level (`stlb_1g` is at level 3)",
        ),
        (
            "\"tlb[5].organisation=\\\"coalesced\\\"\"",
            "coalesces pages",
        ),
    ] {
        match verdict(set) {
            Ok(_) => panic!("{set}: accepted"),
            Err(e) => assert!(e.contains(why), "{set}: {e}"),
        }
    }
}
