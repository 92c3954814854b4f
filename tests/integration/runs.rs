//! Whole runs: exact hand-worked cycle counts, the accounting invariant on every preset,
//! determinism, and a snapshot of the default run.

use mmusim::run::{load_inputs, simulate, Inputs, PRESETS};

/// `config` and `workload_text` (preset names or TOML text) with `sets`, counted from the
/// first access: these tests derive whole-run counts by hand, first touches included,
/// so they set `sim.warmup_accesses = 0` (a later set may give another).
pub fn inputs(config: Option<&str>, workload_text: Option<&str>, sets: &[&str]) -> Inputs {
    // A folder of its own per call: tests run in parallel threads, and a file shared
    // between calls (one folder per process, names from a weak hash) was rewritten by
    // one test while another read it (issue 17 item 16). The inputs hold no file open
    // once loaded (a text with a relative trace path would need the folder kept).
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, text) in [("config", config), ("workload", workload_text)] {
        paths.push(text.map(|t| {
            if PRESETS.iter().any(|(n, _)| *n == t) {
                return t.to_string();
            }
            let p = dir.path().join(format!("{name}.toml"));
            std::fs::write(&p, t).unwrap();
            p.to_str().unwrap().to_string()
        }));
    }
    let sets: Vec<String> = std::iter::once("sim.warmup_accesses=0")
        .chain(sets.iter().copied())
        .map(|s| s.to_string())
        .collect();
    load_inputs(paths[0].as_deref(), paths[1].as_deref(), &sets).unwrap_or_else(|e| {
        panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

const HAND: &str = r#"
[sim]
l1_tlb_overlapped = false
[[tlb]]
name = "l1"
level = 1
kind = "data"
entries = 8
ways = 8
page_sizes = ["4K"]
latency = 1
[[walker.psc]]
name = "pml4"
level = 4
entries = 2
ways = 2
latency = 2
[[walker.psc]]
name = "pdpt"
level = 3
entries = 4
ways = 4
latency = 2
[[walker.psc]]
name = "pd"
level = 2
entries = 4
ways = 4
latency = 2
[page_table]
kind = "radix"
levels = 4
[memory]
dram_latency = 100
[os]
phys_mem = "1GiB"
minor_fault_cycles = 1000
"#;

#[test]
fn hand_worked_cycles_of_three_accesses() {
    // Page 0, cold: TLB 1 + walk (probe 2 + root entry not present 100) + fault 1000 +
    // walk again (probe 2 + 4 reads x 100) = 1505.
    // Page 1, same leaf table: TLB 1 + walk (probe 2, PD-cache hit, leaf not present 100)
    // + fault 1000 + walk (probe 2 + 1 read) = 1205.
    // Page 0 again: TLB hit, 1.
    let wl = "name = \"hand\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0\"\n";
    let r = simulate(&inputs(Some(HAND), Some(wl), &[]), &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    let tc = &t.translation_cycles;
    assert_eq!(tc.total, 1505 + 1205 + 1);
    assert_eq!(
        (tc.tlb, tc.walk_cache, tc.pte, tc.fault, tc.wait),
        (3, 8, 700, 2000, 0)
    );
    assert_eq!(t.stall_cycles, 2711);
    assert_eq!(t.cycles, 2711 + 3);
    assert_eq!(
        (t.walks.walks, t.walks.pte_reads, t.minor_faults),
        (4, 7, 2)
    );
    assert_eq!((t.walks.latency.p50, t.walks.latency.max), (102, 402));
    assert_eq!((t.tlb[0].counts.hits, t.tlb[0].counts.misses), (1, 2));
    t.check_accounting().unwrap();

    // A hidden L1 TLB hit takes its cycle out of the stall, not out of the latency.
    let r = simulate(
        &inputs(Some(HAND), Some(wl), &["sim.l1_tlb_overlapped=true"]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.stats.total.translation_cycles.total, 2711);
    assert_eq!(r.stats.total.stall_cycles, 2708);
}

#[test]
fn hand_worked_overlap_window_and_walker_wait() {
    // One 1-entry TLB, one walker, 1 instruction per access, CPI 1, pages 0 1 0 1.
    // a1, a2 fault (faults block): 1505 and 1205 cycles of latency, all stalled.
    // Clock after a2: 2 + 2710 = 2712, and the walker is free from 2712.
    // a3 (page 0, mapped, evicted from the TLB): lookup 1, ready at 2714, walk with a
    // PD-cache hit: probe 2 + 1 read = 102, done at 2816; the core runs on (stall 1).
    let wl = "name = \"ov\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0 1\"\n";
    let sets = [
        "tlb[0].entries=1",
        "tlb[0].ways=1",
        "walker.max_concurrent_walks=1",
        "sim.overlap_window=10",
    ];
    let r = simulate(&inputs(Some(HAND), Some(wl), &sets), &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    // a4 (page 1) at clock 2715: lookup 1, ready 2716, but the walker is busy until
    // 2816: wait 100, walk 102, done at 2918; stall 1 + 100. At the end the core waits
    // for the walk still in flight: 2918 - 2816 = 102.
    assert_eq!(t.translation_cycles.wait, 100);
    assert_eq!(t.translation_cycles.total, 1505 + 1205 + 103 + 203);
    assert_eq!(t.stall_cycles, 1505 + 1205 + 1 + 101 + 102);
    assert_eq!(t.cycles, 4 + 2914);
    t.check_accounting().unwrap();

    // Window 1: a4 comes one instruction after a3, so the core first waits for a3's
    // walk (2816 - 2715 = 101); the walker is then free: no wait; a4's walk ends at
    // 2817 + 102 = 2919, waited for at the end (102).
    let sets = [sets[0], sets[1], sets[2], "sim.overlap_window=1"];
    let r = simulate(&inputs(Some(HAND), Some(wl), &sets), &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    assert_eq!(t.translation_cycles.wait, 0);
    assert_eq!(t.translation_cycles.total, 1505 + 1205 + 103 + 103);
    assert_eq!(t.stall_cycles, 1505 + 1205 + 1 + 101 + 1 + 102);
    assert_eq!(t.cycles, 4 + 2915);
}

#[test]
fn accounting_invariant_holds_on_every_preset_and_timing_model() {
    let wl = "name = \"mix\"\naccesses = 30000\nwrite_fraction = 0.3\ninstrs_per_access = 2\nseed = 5\n[generator]\nkind = \"hot_cold\"\nfootprint = \"512MiB\"\nhot_fraction = 0.01\nhot_access_fraction = 0.9\n";
    for (preset, _) in PRESETS {
        for extra in [
            vec![],
            vec!["sim.cores=3"],
            vec!["sim.overlap_window=64", "walker.max_concurrent_walks=1"],
            vec!["sim.overlap_window=16"],
            vec!["sim.warmup_accesses=10000", "os.minor_fault_cycles=3000"],
            vec!["os.page_size=\"2M\""],
            vec!["os.page_size=\"1G\"", "os.phys_mem=\"8GiB\""],
            vec![
                "os.huge_pages.policy=\"always\"",
                "os.minor_fault_cycles=3000",
                "os.zero_4k_cycles=150",
            ],
            vec![
                "os.huge_pages.policy=\"always\"",
                "os.huge_pages.sizes=[\"1G\", \"2M\"]",
                "os.fragmentation=0.3",
                "os.minor_fault_cycles=3000",
                "os.zero_4k_cycles=150",
            ],
            vec![
                "os.huge_pages.policy=\"promote\"",
                "os.huge_pages.promote_threshold=8",
                "os.huge_pages.copy_4k_cycles=400",
                "os.huge_pages.collapse_cycles=20000",
                "sim.cores=2",
            ],
            vec![
                "os.paging.replacement=\"clock\"",
                "os.paging.resident_pages=500",
                "sim.warmup_accesses=10000",
                "os.paging.major_fault_cycles=30000",
            ],
            vec![
                "os.huge_pages.policy=\"reserve\"",
                "os.huge_pages.promote_in_place_cycles=7000",
                "os.phys_mem=\"1GiB\"",
            ],
        ] {
            // skylake-ds refuses by design other base page sizes, page replacement, and
            // memory too small or too fragmented for its 4 GiB segment (its own tests
            // are in direct_segment.rs).
            let ds_refuses = |e: &&str| {
                [
                    "os.page_size",
                    "os.paging",
                    "os.fragmentation",
                    "os.phys_mem",
                ]
                .iter()
                .any(|k| e.starts_with(k))
            };
            if *preset == "skylake-ds" && extra.iter().any(ds_refuses) {
                continue;
            }
            // skylake-rmm refuses by design base pages other than 4K, huge-page
            // policies and page replacement (its own tests are in rmm.rs).
            let rmm_refuses = |e: &&str| {
                ["os.page_size", "os.paging", "os.huge_pages"]
                    .iter()
                    .any(|k| e.starts_with(k))
            };
            if *preset == "skylake-rmm" && extra.iter().any(rmm_refuses) {
                continue;
            }
            // skylake-utopia refuses by design other base page sizes, page replacement
            // and promotion or reservation (its own tests are in utopia.rs).
            let utopia_refuses = |e: &&str| {
                [
                    "os.page_size",
                    "os.paging",
                    "os.huge_pages.policy=\"promote\"",
                ]
                .iter()
                .chain(&["os.huge_pages.policy=\"reserve\""])
                .any(|k| e.starts_with(k))
            };
            if *preset == "skylake-utopia" && extra.iter().any(utopia_refuses) {
                continue;
            }
            // skylake-spectlb refuses by design a policy other than `reserve` (and the
            // settings `reserve` refuses) and the overlap window (its own tests are in
            // speculation.rs).
            let spec_refuses = |e: &&str| {
                [
                    "sim.overlap_window",
                    "os.page_size",
                    "os.paging",
                    "os.huge_pages.policy=\"always\"",
                    "os.huge_pages.policy=\"promote\"",
                ]
                .iter()
                .any(|k| e.starts_with(k))
            };
            if *preset == "skylake-spectlb" && extra.iter().any(spec_refuses) {
                continue;
            }
            let r = simulate(&inputs(Some(preset), Some(wl), &extra), &mut |_, _| {}).unwrap();
            let cores = r.stats.cores.len();
            for (i, c) in r.stats.cores.iter().enumerate() {
                c.check_accounting()
                    .unwrap_or_else(|e| panic!("{preset} {extra:?} core {i}: {e}"));
            }
            r.stats.total.check_accounting().unwrap();
            let t = &r.stats.total;
            let warm = extra.iter().any(|e| e.contains("warmup"));
            let expect = if warm { 20000 } else { 30000 } * cores as u64;
            assert_eq!(t.accesses, expect, "{preset} {extra:?}");
            assert_eq!(t.cycles, t.base_cycles + t.stall_cycles);
            assert!(t.stall_cycles <= t.translation_cycles.total + t.translation_cycles.wait);
        }
    }
}

#[test]
fn huge_pages_shorten_walks() {
    let wl = "name = \"u\"\naccesses = 20000\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"2GiB\"\n";
    let per_walk = |sets: &[&str]| {
        let r = simulate(&inputs(Some("skylake"), Some(wl), sets), &mut |_, _| {}).unwrap();
        let w = &r.stats.total.walks;
        (w.walks, w.pte_reads)
    };
    let psc_off = "walker.psc=[]";
    // Without walk caches: every walk reads 4 (4K), 3 (2M) or 2 (1G) entries, except the
    // first walk of a fault, which stops at the first not-present entry.
    let (w4, r4) = per_walk(&[psc_off]);
    let (w2, r2) = per_walk(&[psc_off, "os.page_size=\"2M\""]);
    let (w1, r1) = per_walk(&[psc_off, "os.page_size=\"1G\"", "os.phys_mem=\"8GiB\""]);
    assert!(r4 <= 4 * w4 && r4 > 3 * w4, "{r4} reads in {w4} walks");
    assert!(r2 <= 3 * w2 && r2 > 2 * w2, "{r2} reads in {w2} walks");
    assert!(r1 <= 2 * w1 && r1 > w1, "{r1} reads in {w1} walks");
    assert!(w2 < w4 && w1 < w2);
}

#[test]
fn same_config_and_seed_give_identical_json() {
    let wl = "name = \"z\"\naccesses = 20000\nseed = 9\nwrite_fraction = 0.2\n[generator]\nkind = \"zipf\"\nfootprint = \"256MiB\"\nexponent = 0.9\n";
    let a = simulate(
        &inputs(Some("zen4"), Some(wl), &["sim.cores=2"]),
        &mut |_, _| {},
    )
    .unwrap();
    let b = simulate(
        &inputs(Some("zen4"), Some(wl), &["sim.cores=2"]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert_eq!(a.to_csv(), b.to_csv());
    let c = simulate(
        &inputs(Some("zen4"), Some(wl), &["sim.cores=2", "sim.seed=2"]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_ne!(a.config_hash, c.config_hash);
}

/// A fork under a design that cannot list its mappings (cuckoo hashing) copies the
/// parent's from the OS's log, a hash map whose order changes with every map's random
/// seed; the child's entries, placed by insertion order (cuckoo's kicks), must not
/// depend on it. Two runs in one process (two maps, two seeds) give the same bytes.
#[test]
fn a_fork_under_cuckoo_hashing_is_deterministic() {
    let wl = "name = \"f\"\naccesses = 100000\nwrite_fraction = 0.3\nseed = 7\n\
              [generator]\nkind = \"zipf\"\nfootprint = \"128MiB\"\nexponent = 0.8\n\
              [[event]]\nat = 0\nkind = \"mmap\"\noffset = \"0\"\nlen = \"128MiB\"\npopulate = true\n\
              [[event]]\nat = 40000\nkind = \"fork\"\nchild_accesses = 20000\n";
    let run = || {
        simulate(
            &inputs(Some("skylake-cuckoo"), Some(wl), &[]),
            &mut |_, _| {},
        )
        .unwrap()
        .to_json()
    };
    let first = run();
    for _ in 0..3 {
        assert_eq!(run(), first);
    }
}

#[test]
fn default_run_snapshot() {
    // The real defaults (warm-up included), not the whole-run `inputs` of these tests.
    let r = simulate(&load_inputs(None, None, &[]).unwrap(), &mut |_, _| {}).unwrap();
    r.stats.total.check_accounting().unwrap();
    insta::assert_snapshot!("default_run_json", r.to_json());
    insta::assert_snapshot!("default_run_table", r.to_table());
}

#[test]
fn the_binary_writes_json_and_csv_atomically() {
    // A fresh folder (issue 17 item 16: no name shared with another test or process).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("out");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["run", "-q", "--set", "workload.accesses=10000", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("result.json")).unwrap()).unwrap();
    // The default warm-up: the first half of the stream.
    assert_eq!(json["warmup"]["accesses_per_core"], 5000);
    assert_eq!(json["stats"]["total"]["accesses"], 5000);
    let csv = std::fs::read_to_string(dir.join("result.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn config_files_can_extend_a_preset() {
    // A fresh folder (issue 17 item 16: no name shared with another test or process).
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let f = dir.join("two.toml");
    std::fs::write(
        &f,
        "extends = \"skylake\"\nname = \"two\"\n[sim]\ncores = 2\n",
    )
    .unwrap();
    let i = load_inputs(Some(f.to_str().unwrap()), None, &[]).unwrap();
    let base = load_inputs(Some("skylake"), None, &[]).unwrap();
    assert_eq!(i.system.sim.cores, 2);
    assert_eq!(i.system.tlb, base.system.tlb);
    assert_eq!(i.system.memory, base.system.memory);
    // A file extending a file (relative to it), and a page table of another kind
    // replacing the base's table whole.
    let g = dir.join("three.toml");
    std::fs::write(
        &g,
        "extends = \"two.toml\"\n[page_table]\nkind = \"radix\"\nlevels = 5\n",
    )
    .unwrap();
    let i = load_inputs(Some(g.to_str().unwrap()), None, &[]).unwrap();
    assert_eq!((i.system.sim.cores, i.system.page_table.va_bits()), (2, 57));
    // Mistakes in the derived file name its own line; a loop is refused.
    std::fs::write(&g, "extends = \"two.toml\"\n[sim]\ncorez = 5\n").unwrap();
    let e = load_inputs(Some(g.to_str().unwrap()), None, &[]).unwrap_err();
    assert!(
        e[0].to_string()
            .contains(&format!("{}:3: sim.corez", g.display())),
        "{}",
        e[0]
    );
    std::fs::write(&g, "extends = \"three.toml\"\n").unwrap();
    let e = load_inputs(Some(g.to_str().unwrap()), None, &[]).unwrap_err();
    assert!(e[0].to_string().contains("extends itself"), "{}", e[0]);
}

#[test]
fn a_small_shared_hashed_table_evicts_across_cores_without_stale_translations() {
    // Two cores share one small HTAB: inserts evict each other's translations, which
    // must leave the owner's TLB (every TLB hit is checked against the table in test
    // builds) and come back through restore faults.
    let wl = "name = \"u\"\naccesses = 40000\nseed = 2\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n";
    let sets = ["sim.cores=2", "page_table={kind=\"htab\", groups=512}"];
    let inp = inputs(Some("skylake"), Some(wl), &sets);
    let r = simulate(&inp, &mut |_, _| {}).unwrap();
    let t = &r.stats.total;
    assert!(t.page_table_evictions > 1000, "{}", t.page_table_evictions);
    assert!(t.restore_faults > 100, "{}", t.restore_faults);
    // Each distinct page got one frame (its first fault); evicted pages came back
    // through restore faults without a new one. Distinct pages counted from the streams.
    let mut distinct = 0;
    for core in 0..2 {
        let mut src = inp.workload.source(core);
        let mut pages = std::collections::HashSet::new();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            src.fill(&mut buf, 4096).unwrap();
            if buf.is_empty() {
                break;
            }
            pages.extend(buf.iter().map(|a| a.vaddr >> 12));
        }
        distinct += pages.len() as u64;
    }
    assert_eq!(t.minor_faults, distinct);
    t.check_accounting().unwrap();
}

/// Output into a closed pipe (`mmusim ... | head -1`) ends the process quietly by
/// SIGPIPE, never with a panic (issue 17): the reader is gone before the table is
/// printed.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let refs = format!(
        "({})x2",
        (1..=3000)
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .args(["analyze", "--curves", "lru", "--refs", &refs])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "{:?} {err}",
        out.status
    );
}

/// Issue 17 item 16: tests run in parallel threads of one process, and `inputs` used to
/// write every text to a file named by a weak sum of its bytes in one folder per
/// process, truncating and rewriting it while another thread read it. Two texts with
/// the same length and byte sum (1200 and 2100 accesses) then read each other's file,
/// or an empty one. Each call must load exactly its own text.
#[test]
fn parallel_inputs_each_load_their_own_text() {
    let text = |n: &str| {
        format!("name = \"p\"\naccesses = {n}\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"1MiB\"\n")
    };
    let (a, b) = (text("1200"), text("2100"));
    std::thread::scope(|s| {
        for t in 0..8 {
            let (mine, want) = if t % 2 == 0 { (&a, 1200) } else { (&b, 2100) };
            s.spawn(move || {
                for _ in 0..60 {
                    let i = inputs(None, Some(mine), &[]);
                    assert_eq!(i.workload.accesses, want);
                }
            });
        }
    });
}
