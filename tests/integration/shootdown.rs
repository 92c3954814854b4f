//! TLB shootdowns through IPIs: hand-worked stalls on 2 and 4 cores, the flush
//! ceiling, who is told, cost against the topology, triggers. Every expected value is
//! derived here from the protocol as the config describes it.

use super::os::run_file;
use super::runs::inputs;
use mmusim::report::{CoreReport, RunReport};
use mmusim::run::simulate;

/// Hand-picked costs, so every stall is known: delivery 1000 + 40 a hop, 50 per send,
/// interrupt 2000, 100 per page, 700 a flush. Faults cost nothing, so the threads
/// (whichever touches a page first) keep the same pace and all still run when an IPI
/// comes.
const COSTS: [&str; 9] = [
    "os.minor_fault_cycles=0",
    "shootdown.ipi_base_cycles=1000",
    "shootdown.hop_cycles=40",
    "shootdown.cross_socket_cycles=0",
    "shootdown.send_cycles=50",
    "shootdown.interrupt_cycles=2000",
    "shootdown.invlpg_cycles=100",
    "shootdown.full_flush_cycles=700",
    "topology.kind=\"ring\"",
];

/// `threads` threads of one process, one per core, each looping over `pages` pages
/// (`accesses` each); thread 0 unmaps the first `unmap` pages after `at` accesses.
fn looped(
    cores: usize,
    pages: u64,
    accesses: u64,
    at: u64,
    unmap: u64,
    extra: &[&str],
) -> RunReport {
    let list: Vec<String> = (0..pages).map(|p| p.to_string()).collect();
    let wl = format!(
        "name = \"sd\"\naccesses = {accesses}\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n[[event]]\nat = {at}\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"{}KiB\"\n",
        list.join(" "),
        unmap * 4
    );
    let c = format!("sim.cores={cores}");
    let t = format!("os.sched.threads={cores}");
    let mut sets: Vec<&str> = vec![&c, &t];
    sets.extend(COSTS);
    sets.extend(extra);
    simulate(&inputs(Some("skylake"), Some(&wl), &sets), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

fn sd(c: &CoreReport) -> &mmusim::report::ShootdownReport {
    &c.shootdown
}

/// Two cores on a ring (one hop: 1040 cycles each way): the initiator invalidates 2
/// pages (200), sends one IPI (50), the target takes it on arrival and spends 2000 +
/// 200, and its acknowledgement comes back: 200 + 50 + 1040 + 2200 + 1040 = 4530.
/// Four cores: IPIs to cores 1, 2, 3 leave at 250, 300, 350; core 2 is two hops away
/// (1080), so its acknowledgement is the last: 300 + 1080 + 2200 + 1080 = 4660.
#[test]
fn hand_worked_stalls_on_two_and_four_cores() {
    for (cores, wait) in [(2usize, 4530u64), (4, 4660)] {
        let r = looped(cores, 8, 4000, 1000, 2, &[]);
        let c = &r.stats.cores;
        let s0 = sd(&c[0]);
        assert_eq!((s0.shootdowns, s0.ipis_sent), (1, cores as u64 - 1));
        assert_eq!(s0.initiator_cycles, wait, "{cores} cores");
        assert_eq!(s0.by_trigger.get("munmap"), Some(&1));
        for t in &c[1..] {
            let s = sd(t);
            assert_eq!((s.ipis_received, s.remote_cycles), (1, 2200));
            assert_eq!((s.page_invalidations, s.full_flushes), (2, 0));
        }
        // The stalls are core time, not translation.
        for x in c {
            assert_eq!(
                x.cycles,
                x.base_cycles + x.stall_cycles + sd(x).initiator_cycles + sd(x).remote_cycles
            );
            x.check_accounting().unwrap();
        }
        // 8 first touches and the 2 unmapped pages' second ones, whoever makes them.
        assert_eq!(r.stats.total.minor_faults, 10);
    }
}

/// At or below the ceiling only the named pages go; above it every entry of the
/// address space does. Each core walks every page once at first and the first to touch
/// it once more (its fault): 64 (n + 1). After the unmap of U pages each core walks
/// again each page it lost (U, or all 64 above the ceiling), and each unmapped page's
/// first toucher once more: n R + U.
#[test]
fn above_the_ceiling_a_full_flush_and_the_following_accesses_miss() {
    for cores in [2u64, 4] {
        for u in [33u64, 34] {
            let r = looped(cores as usize, 64, 20000, 2000, u, &[]);
            let lost = if u <= 33 { u } else { 64 };
            assert_eq!(
                r.stats.total.walks.walks,
                64 * (cores + 1) + cores * lost + u,
                "{cores} cores, {u} pages"
            );
            for t in &r.stats.cores[1..] {
                let s = sd(t);
                if u <= 33 {
                    assert_eq!((s.page_invalidations, s.full_flushes), (u, 0));
                    assert_eq!(s.remote_cycles, 2000 + u * 100);
                } else {
                    assert_eq!((s.page_invalidations, s.full_flushes), (0, 1));
                    assert_eq!(s.remote_cycles, 2000 + 700);
                    assert!(s.entries_flushed >= 64, "{}", s.entries_flushed);
                }
            }
            // The flush took the 30 pages that did not change; each misses once later,
            // on every core (the initiator flushed the same way).
            for c in &r.stats.cores {
                let want = if u <= 33 { 0 } else { 64 - u };
                assert_eq!(sd(c).misses_after_flushes, want, "{cores} cores, {u} pages");
            }
        }
    }
}

/// Two processes of two threads on four cores: process 0's threads run on cores 0
/// and 1, process 1's on 2 and 3. Process 0's unmap interrupts core 1 only.
#[test]
fn cores_outside_the_address_space_get_no_ipi() {
    let wl = "name = \"two\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3\"\n[[event]]\nat = 1000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"4KiB\"\n";
    let mut sets = vec!["sim.cores=4", "os.sched.processes=2", "os.sched.threads=2"];
    sets.extend(COSTS);
    let r = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {}).unwrap();
    let got: Vec<u64> = r.stats.cores.iter().map(|c| sd(c).ipis_received).collect();
    assert_eq!(got, [0, 1, 0, 0]);
    assert_eq!(sd(&r.stats.cores[0]).ipis_sent, 1);
}

/// A thread whose stream ended leaves its core idle with the address space still
/// loaded (lazy): an unmap sends it nothing, but a change that frees page tables (a
/// collapse into a huge page frees the PTE page) does.
#[test]
fn lazy_cores_are_told_only_when_tables_are_freed() {
    let dir = tempfile::tempdir().unwrap();
    let mut long = String::new();
    for i in 0..3000u64 {
        long.push_str(&format!("W {:#x}\n", 0x10_0000_0000u64 + (i % 16) * 4096));
    }
    long.push_str("munmap 0x1000000000 0x1000\n");
    // After the unmap: the whole 2 MiB region, which `promote` at 512 collapses.
    for i in 0..512u64 {
        long.push_str(&format!("W {:#x}\n", 0x10_0000_0000u64 + i * 4096));
    }
    std::fs::write(dir.path().join("t0.txt"), &long).unwrap();
    std::fs::write(
        dir.path().join("t1.txt"),
        "R 0x1000000000\nR 0x1000001000\n",
    )
    .unwrap();
    let wl = dir.path().join("w.toml");
    std::fs::write(
        &wl,
        "name = \"lazy\"\n[generator]\nkind = \"trace\"\npaths = [\"t0.txt\", \"t1.txt\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "-q",
            "-w",
            wl.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--set",
            "sim.cores=2",
            "--set",
            "os.sched.threads=2",
        ];
        for s in COSTS.iter().chain(extra) {
            args.push("--set");
            args.push(s);
        }
        let (code, _, err) = super::analysis::mmusim(&args);
        assert_eq!(code, 0, "{err}");
        let j: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap())
                .unwrap();
        j["stats"]["cores"][1]["shootdown"]["ipis_received"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(run(&[]), 0, "an unmap skips the lazy core");
    assert_eq!(
        run(&[
            "os.huge_pages.policy=\"promote\"",
            "os.huge_pages.promote_threshold=512"
        ]),
        1,
        "the collapse freed a table: the lazy core is told"
    );
}

/// On a ring of n cores, one page unmapped from core 0: the IPI to core k leaves at
/// 100 + 50 (k) and travels min(k, n - k) hops each way; the initiator waits for the
/// slowest. The cost grows with n.
#[test]
fn cost_grows_with_the_targets_on_a_ring() {
    let mut last = 0;
    for n in [2u64, 4, 8, 16] {
        let r = looped(n as usize, 4, 2000, 500, 1, &[]);
        let want = (1..n)
            .map(|k| {
                let lat = 1000 + 40 * k.min(n - k);
                100 + 50 * k + lat + 2000 + 100 + lat
            })
            .max()
            .unwrap();
        let got = sd(&r.stats.cores[0]).initiator_cycles;
        assert_eq!(got, want, "{n} cores");
        assert!(got > last);
        last = got;
        assert_eq!(sd(&r.stats.cores[0]).max_targets, n - 1);
    }
}

/// Broadcast sends once; early acknowledgement (with concurrent flushing) lets the
/// initiator go once each target has entered its handler (half of 2000).
#[test]
fn delivery_and_schemes_change_the_wait_as_derived() {
    // Broadcast, 4 cores: all leave at 200 + 50; core 2 is the farthest.
    let r = looped(4, 8, 4000, 1000, 2, &["shootdown.delivery=\"broadcast\""]);
    assert_eq!(
        sd(&r.stats.cores[0]).initiator_cycles,
        250 + 1080 + 2200 + 1080
    );
    // Early ack, 2 cores: the IPI leaves at 50, the ack at arrival + 1000.
    let r = looped(2, 8, 4000, 1000, 2, &["shootdown.scheme=\"early_ack\""]);
    assert_eq!(
        sd(&r.stats.cores[0]).initiator_cycles,
        50 + 1040 + 1000 + 1040
    );
    // The target still does all the work.
    assert_eq!(sd(&r.stats.cores[1]).remote_cycles, 2200);
    // Two sockets of one core each: the one link crosses sockets, 600 more each way.
    let r = looped(
        2,
        8,
        4000,
        1000,
        2,
        &[
            "topology.kind=\"two_socket\"",
            "shootdown.cross_socket_cycles=600",
        ],
    );
    assert_eq!(
        sd(&r.stats.cores[0]).initiator_cycles,
        250 + 1640 + 2200 + 1640
    );
    // Without gathering, each page is a shootdown of its own.
    let r = looped(2, 8, 4000, 1000, 2, &["shootdown.gather=false"]);
    assert_eq!(sd(&r.stats.cores[0]).shootdowns, 2);
    assert_eq!(sd(&r.stats.cores[1]).ipis_received, 2);
}

/// Shootdowns are attributed to what changed the translations: a copy-on-write break,
/// a migration, page replacement, an mprotect.
#[test]
fn triggers_are_attributed() {
    let base = "name = \"t\"\naccesses = 4000\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3 4 5 6 7\"\n";
    let go = |ev: &str, extra: &[&str]| {
        let wl = format!("{base}{ev}");
        let mut sets = vec!["sim.cores=2", "os.sched.threads=2"];
        sets.extend(COSTS);
        sets.extend(extra);
        simulate(&inputs(Some("skylake"), Some(&wl), &sets), &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{ev}: {e}"))
            .stats
            .total
            .shootdown
            .by_trigger
    };
    let t = go("[[event]]\nat = 100\nkind = \"fork\"\nprocess = 0\n", &[]);
    assert_eq!(t.get("fork"), Some(&1), "{t:?}");
    assert!(t.get("cow").is_some_and(|&n| n >= 1), "{t:?}");
    let t = go(
        "[[event]]\nat = 100\nkind = \"migrate\"\nprocess = 0\noffset = 0\nlen = \"16KiB\"\n",
        &[],
    );
    assert_eq!(t.get("migration"), Some(&1), "{t:?}");
    let t = go(
        "[[event]]\nat = 100\nkind = \"mprotect\"\nprocess = 0\noffset = 0\nlen = \"16KiB\"\nprot = \"r\"\n",
        &[],
    );
    assert_eq!(t.get("mprotect"), Some(&1), "{t:?}");
    let t = go(
        "",
        &[
            "os.paging.replacement=\"lru\"",
            "os.paging.resident_pages=6",
        ],
    );
    assert!(t.get("eviction").is_some_and(|&n| n > 10), "{t:?}");
}

/// Same config and seed, same result, with shootdowns in play.
#[test]
fn runs_with_shootdowns_are_deterministic() {
    let wl = "name = \"d\"\naccesses = 20000\nseed = 5\nwrite_fraction = 0.3\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 1000\nkind = \"munmap\"\noffset = 0\nlen = \"256KiB\"\nevery = 3000\n";
    let sets = [
        "sim.cores=4",
        "os.sched.threads=4",
        "topology.kind=\"mesh\"",
    ];
    let a = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {}).unwrap();
    let b = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {}).unwrap();
    assert_eq!(a.to_json(), b.to_json());
    assert!(a.stats.total.shootdown.shootdowns >= 4 * 6);
    a.stats.total.check_accounting().unwrap();
    let (code, err, _) = run_file(
        "d.toml",
        wl,
        &[
            "sim.cores=3",
            "os.sched.threads=3",
            "topology.kind=\"edges\"",
            "topology.edges=[[0,1]]",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("topology") && err.contains("cannot reach"),
        "{err}"
    );
}

/// Review findings, each a run that went wrong before its fix.
#[test]
fn shootdown_edge_cases() {
    // (1) Two cores unmapping at the same time: each takes the other's IPI while it
    // waits for its own acknowledgement (interrupts on, as Linux spins), so both wait
    // the one-shootdown time of the hand-worked case.
    let wl = "name = \"mut\"\naccesses = 4000\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3 4 5 6 7\"\n[[event]]\nat = 1000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"8KiB\"\n[[event]]\nat = 1000\nkind = \"munmap\"\nprocess = 1\noffset = \"16KiB\"\nlen = \"8KiB\"\n";
    let mut sets = vec!["sim.cores=2", "os.sched.threads=2"];
    sets.extend(COSTS);
    let r = simulate(&inputs(Some("skylake"), Some(wl), &sets), &mut |_, _| {}).unwrap();
    for c in &r.stats.cores {
        assert_eq!((sd(c).initiator_cycles, sd(c).remote_cycles), (4530, 2200));
    }
    // (2) Threads with page replacement: one core evicts or unmaps what another mapped;
    // the resident bytes in total stay exact (faults less evictions less unmaps).
    let pan = "name = \"pan\"\naccesses = 421\nwrite_fraction = 0.9\nseed = 55\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 0\nkind = \"munmap\"\nprocess = 0\noffset = \"364544B\"\nlen = \"163840B\"\nevery = 100\n";
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(pan),
            &[
                "sim.cores=2",
                "os.sched.threads=2",
                "os.paging.replacement=\"fifo\"",
                "os.paging.resident_pages=8",
            ],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    let t = &r.stats.total;
    let resident =
        t.minor_faults + t.paging.major_faults - t.paging.evictions - t.os_events.unmapped_pages;
    assert_eq!(t.huge_pages.mapped_bytes, resident * 4096);
    assert!(resident <= 8);
    // (3) Threads of one process taking turns on a core without address-space ids do
    // not flush: the address space stays loaded.
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(&one_stream(3000)),
            &[
                "os.sched.threads=2",
                "os.sched.quantum_cycles=500",
                "os.sched.asids_per_core=0",
            ],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(r.stats.total.sched.context_switches > 2);
    assert_eq!(r.stats.total.sched.full_flushes, 0);
    // (4) Migration of pages inside a live reservation breaks it first.
    let mig = "name = \"mig\"\naccesses = 500\nseed = 84\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 400\nkind = \"migrate\"\noffset = \"0B\"\nlen = \"1MiB\"\n";
    let r = simulate(
        &inputs(
            Some("skylake"),
            Some(mig),
            &["os.huge_pages.policy=\"reserve\""],
        ),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(r.stats.total.os_events.migrated_pages > 0);
    let p = &r.stats.physical;
    assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
}

fn one_stream(accesses: u64) -> String {
    format!("name = \"one\"\naccesses = {accesses}\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3\"\n")
}
