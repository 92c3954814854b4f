//! ASAP (Margaritov et al., MICRO 2019; `page_table.asap`, the `skylake-asap` preset):
//! exact walk latencies with the PL2 and PL1 reads prefetched at the walk's start, the
//! fallback in fragmented memory, whole runs (accounting, and a run where every window
//! fell back equal to a run without ASAP), and the configs it refuses.

use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
use mmusim::config::FrameAlloc;
use mmusim::memory::MemorySystem;
use mmusim::os::frames::FrameAllocator;
use mmusim::pagetable::{Mappable, Radix};
use mmusim::run::load_inputs;
use mmusim::walker::{AsapStats, Walker};

/// The skylake-asap preset's memory system and walker (one core), as a run builds them.
fn machine(asap: bool) -> (MemorySystem, Walker) {
    let sys = load_inputs(Some("skylake-asap"), None, &[]).unwrap().system;
    let mem = MemorySystem::new(&sys.memory, 1, 0);
    let mut w = Walker::new(&sys.walker.psc, 0);
    if asap {
        w.enable_asap();
    }
    (mem, w)
}

/// Pages mapped in one table; returns it.
fn table(asap: bool, f: &mut FrameAllocator, pages: &[u64]) -> Radix {
    let mut t = Radix::with_asap(&[9, 9, 9, 9], asap, f).unwrap();
    for &va in pages {
        let frame = f.alloc(PageSize::Size4K).unwrap();
        t.map(1, VirtAddr(va), PageSize::Size4K, PhysAddr(frame), f)
            .unwrap();
    }
    t
}

const GIB: u64 = 1 << 30;
const MIB2: u64 = 2 << 20;
/// Three pages of one 1 GiB window: `A` in 2 MiB region 5; `B` in region 6, whose PD
/// entry (index 6) shares `A`'s PD line (entries 0-7 of a 64-byte line); `C` in region
/// 300, whose PD entry is on another line.
const A: u64 = 7 * GIB + 5 * MIB2 + 0x3000;
const B: u64 = 7 * GIB + 6 * MIB2;
const C: u64 = 7 * GIB + 300 * MIB2;

/// The latencies of skylake.toml: DRAM 250 cycles, L1D 4 (a line found at a level costs
/// that level's latency; a line in no cache costs the DRAM latency alone, as
/// `memory::read_line` charges it); walk caches probed in parallel, 1 cycle.
/// Fresh machine, cold walk of A: no walk-cache hit, every line in DRAM, 4 reads.
///   serial: 250 + 250 + 250 + 250 = 1000.
///   ASAP: root done at 250, PDPT at 500; PD (predicted) max(500, 250) = 500; PT
///   (predicted) max(500, 250) = 500. Saved 1000 - 500 = 500, 2 predicted reads.
/// Then B: the PDPT cache hits (level 3, the walk starts at PL2), the PD cache misses
/// (it holds region 5 only); PD line in L1D (4, read by A's walk), B's PT node cold
/// (250). Serial 4 + 250 = 254; ASAP max(4, 250) = 250; saved 4.
/// Then C: PDPT hit again; PD line and PT node both cold: serial 250 + 250 = 500, ASAP
/// max(250, 250) = 250; saved 250.
#[test]
fn a_cold_walk_is_shortened_by_the_computed_amount() {
    let mut serial = vec![];
    let mut with_asap = vec![];
    for (asap, out) in [(false, &mut serial), (true, &mut with_asap)] {
        let mut f = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 1);
        let t = table(asap, &mut f, &[A, B, C]);
        let (mut mem, mut w) = machine(asap);
        for va in [A, B, C] {
            let r = w.walk(0, 1, VirtAddr(va), &t, &mut mem);
            assert_eq!(r.psc_cycles, 1);
            out.push((r.reads, r.pte_cycles));
        }
        if asap {
            assert_eq!(
                w.stats.asap,
                Some(AsapStats {
                    predicted_reads: 2 + 2 + 2,
                    cycles_saved: 500 + 4 + 250,
                })
            );
            // The walk-latency histogram holds the shortened walks (probe + PTE reads).
            assert_eq!(w.stats.latency.summary().total, 3 + 500 + 250 + 250);
        } else {
            assert_eq!(w.stats.asap, None);
        }
    }
    assert_eq!(serial, [(4, 1000), (2, 254), (2, 500)]);
    assert_eq!(with_asap, [(4, 500), (2, 250), (2, 250)]);
}

/// A PD walk-cache hit leaves the PT read alone: predicted, it costs what it costs
/// (max(0, lat) = lat), nothing saved. A's second walk after a fresh D in region 5:
/// D = A + 0x40_000 (PT entry 67, another line of A's PT node, cold): 250 either way.
#[test]
fn a_walk_left_with_the_leaf_read_alone_gains_nothing() {
    let d = A + 0x4_0000;
    let mut f = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 1);
    let t = table(true, &mut f, &[A, d]);
    let (mut mem, mut w) = machine(true);
    w.walk(0, 1, VirtAddr(A), &t, &mut mem);
    let r = w.walk(0, 1, VirtAddr(d), &t, &mut mem);
    assert_eq!((r.reads, r.pte_cycles), (1, 250));
    let a = w.stats.asap.unwrap();
    assert_eq!((a.predicted_reads, a.cycles_saved), (2 + 1, 500));
}

/// Fragmented memory: no 2 MiB block is free, every window falls back, the walk is the
/// serial one (1000 cycles cold, as without ASAP) and the fallback is counted.
#[test]
fn fallback_nodes_are_counted_and_walks_not_shortened() {
    let mut f = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, 1);
    f.fragment(1.0, 9);
    let t = table(true, &mut f, &[A, C]);
    let (mut mem, mut w) = machine(true);
    let r = w.walk(0, 1, VirtAddr(A), &t, &mut mem);
    assert_eq!((r.reads, r.pte_cycles), (4, 1000));
    assert_eq!(w.stats.asap, Some(AsapStats::default()));
    // A and C share the PD; each has its own PT: 1 + 2 nodes fell back.
    let s = t.stats();
    assert_eq!(s["asap"]["fallback_nodes"], 3);
    assert_eq!(s["asap"]["region_bytes"], 0);
}

/// `walks.asap` and `page_tables[0].asap` of a whole run, with `sets`.
fn run(dir: &std::path::Path, name: &str, sets: &[&str]) -> serde_json::Value {
    let wl = crate::refs_workload(
        &(0..3000u64)
            .map(|i| (i * 7919) % 4096 + (i % 3) * 262_144)
            .collect::<Vec<_>>(),
        "",
    );
    let (code, err, stats) = crate::run_cli(dir, name, "skylake", &wl, sets);
    assert_eq!(code, 0, "{err}");
    stats
}

#[test]
fn whole_runs_keep_the_accounting_and_a_full_fallback_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plain = run(dir.path(), "plain", &[]);
    let asap = run(dir.path(), "asap", &["page_table.asap=true"]);
    for s in [&plain, &asap] {
        crate::assert_parts_sum(&s["total"]);
    }
    let (pw, aw) = (&plain["total"]["walks"], &asap["total"]["walks"]);
    // Same TLBs and walk caches: the same walks and reads; only their timing and the
    // tables' addresses (so which caches hold their lines) differ.
    assert_eq!(pw["walks"], aw["walks"]);
    assert_eq!(pw["pte_reads"], aw["pte_reads"]);
    assert!(pw.get("asap").is_none());
    let a = &aw["asap"];
    assert!(a["predicted_reads"].as_u64().unwrap() > 0, "{a}");
    assert!(a["cycles_saved"].as_u64().unwrap() > 0, "{a}");
    // Every read ASAP predicts is a PD or PT read: at most two per walk.
    assert!(a["predicted_reads"].as_u64() <= Some(2 * aw["walks"].as_u64().unwrap()));
    // Three 1 GiB windows touched (pages 0-4095 + 0, 1 and 2 x 262144: 0, 1 and 2 GiB):
    // three PL1 regions and one PL2 region, no fallback.
    let pa = &asap["page_tables"][0]["asap"];
    assert_eq!(
        (pa["pl1_regions"].as_u64(), pa["pl2_regions"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(pa["fallback_nodes"], 0);

    // Every 2 MiB block pinned: every window falls back, and the run is the run without
    // ASAP in every figure (the same frames are taken in the same order) but the ASAP
    // counters, all zero.
    let frag = ["os.fragmentation=1.0"];
    let plain = run(dir.path(), "plain-frag", &frag);
    let mut asap = run(dir.path(), "asap-frag", &[frag[0], "page_table.asap=true"]);
    let walks = asap["total"]["walks"].as_object_mut().unwrap();
    assert_eq!(
        walks.remove("asap").unwrap(),
        serde_json::json!({"predicted_reads": 0, "cycles_saved": 0})
    );
    asap["cores"][0]["walks"]
        .as_object_mut()
        .unwrap()
        .remove("asap");
    let pa = asap["page_tables"][0]
        .as_object_mut()
        .unwrap()
        .remove("asap");
    let pa = pa.unwrap();
    assert_eq!(pa["region_bytes"], 0);
    // The PD of the one 512 GiB window and the PTs of 3 x 2 MiB regions... every PD and
    // PT the run built: all tables but the root and the PDPT.
    let tables = plain["page_tables"][0]["tables"].as_u64().unwrap();
    assert_eq!(pa["fallback_nodes"].as_u64(), Some(tables - 2));
    assert_eq!(plain, asap);
}

#[test]
fn asap_off_leaves_the_skylake_preset_as_it_was() {
    // The preset is skylake plus the key: the same machine otherwise.
    let a = load_inputs(Some("skylake-asap"), None, &[]).unwrap().system;
    let mut b = load_inputs(Some("skylake"), None, &["page_table.asap=true".into()])
        .unwrap()
        .system;
    assert!(a.page_table.asap());
    b.name = a.name.clone();
    assert_eq!(a, b);
}

/// Fork, migration, munmap, mprotect and huge-page promotion (collapse releases a PT
/// held in its region slot) on two cores, each process forking: each address space
/// takes its own regions and the accounting holds.
#[test]
fn os_events_and_a_forked_child_keep_their_own_regions() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::os_event_stress("kind = \"fork\"");
    let sets = [
        "sim.cores=2",
        "os.huge_pages.policy=\"promote\"",
        "os.huge_pages.sizes=[\"2M\"]",
    ];
    let (code, err, stats) = crate::run_cli(dir.path(), "ev", "skylake-asap", &text, &sets);
    assert_eq!(code, 0, "{err}");
    crate::assert_parts_sum(&stats["total"]);
    let tables = stats["page_tables"].as_array().unwrap();
    // Each core's process forks: four address spaces, the parents first.
    assert_eq!(tables.len(), 4);
    for (i, t) in tables.iter().enumerate() {
        // The 8 MiB heap lies in one 1 GiB window: one PL2 and one PL1 region each.
        let a = &t["asap"];
        assert_eq!(a["region_bytes"], 2 * (2 << 20), "{a}");
        assert_eq!(a["fallback_nodes"], 0, "{a}");
        if i < 2 {
            // Promotion collapsed PTs into 2M pages: their slots were released (the
            // region keeps them), so fewer tables live in the regions than were placed.
            let live = (2 * (2 << 20) - a["unused_region_bytes"].as_u64().unwrap()) / 4096;
            assert!(live < a["placed_nodes"].as_u64().unwrap(), "{a}");
        }
    }
    assert!(stats["total"]["walks"]["asap"]["predicted_reads"].as_u64() > Some(0));
}
