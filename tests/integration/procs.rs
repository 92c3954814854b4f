//! Processes: several address spaces per core, context switches, address-space ids,
//! fork with a running child, exit, mmap and mprotect. Expected values are derived by
//! hand from the workload and from Linux's algorithms as the config describes them.

use super::os::run_file;
use super::runs::inputs;
use mmusim::report::RunReport;
use mmusim::run::simulate;
use std::collections::HashSet;

fn go(workload: &str, sets: &[&str]) -> RunReport {
    simulate(
        &inputs(Some("skylake"), Some(workload), sets),
        &mut |_, _| {},
    )
    .unwrap_or_else(|e| panic!("{sets:?}: {e}"))
}

/// Every process touches one page, over and over: a slice (a turn on the core) walks
/// only if the process's entry is gone.
fn one_page(accesses: u64) -> String {
    format!("name = \"one\"\naccesses = {accesses}\nseed = 1\n[generator]\nkind = \"refs\"\nrefs = \"0\"\n")
}

/// Linux's 6-PCID scheme, with other counts of ids: three processes take turns on one
/// core. With at least 3 ids nothing is flushed and each process walks only at its
/// first touch (a fault: 2 walks). With 2, each switch after the first takes the id of
/// the process that ran two turns ago, so every turn after the first three starts with
/// its entry gone: exactly one walk more per turn. With 1 id, or none (every switch
/// flushes), the same walks.
#[test]
fn address_space_ids_are_reused_round_robin_as_linux_does() {
    let wl = one_page(3000);
    let base = [
        "os.sched.processes=3",
        "os.sched.quantum_cycles=400",
        "os.sched.switch_cycles=1000",
    ];
    let run = |ids: u32| {
        let mut s = base.to_vec();
        let k = format!("os.sched.asids_per_core={ids}");
        s.push(&k);
        go(&wl, &s)
    };
    for ids in [0u32, 1, 2, 3, 6] {
        let r = run(ids);
        let t = &r.stats.total;
        let sw = t.sched.context_switches;
        let turns = sw + 1;
        assert!(sw >= 10, "{ids}: {sw} switches");
        assert_eq!(t.minor_faults, 3, "one page per process");
        let expect_walks = if ids >= 3 { 6 } else { 6 + (turns - 3) };
        assert_eq!(t.walks.walks, expect_walks, "{ids} ids");
        let (asid, full) = match ids {
            0 => (0, sw),
            1 => (sw, 0),
            2 => (sw - 1, 0),
            _ => (0, 0),
        };
        assert_eq!(
            (t.sched.asid_flushes, t.sched.full_flushes),
            (asid, full),
            "{ids} ids"
        );
        // Switch cycles are core time, not translation.
        assert_eq!(t.sched.switch_cycles, sw * 1000);
        assert_eq!(
            t.cycles,
            t.base_cycles + t.stall_cycles + t.sched.switch_cycles
        );
        for p in &r.stats.processes {
            assert_eq!((p.core, p.accesses), (0, 3000));
        }
        t.check_accounting().unwrap();
    }
    // Without a quantum each process runs to its end: 2 switches.
    let r = go(&wl, &["os.sched.processes=3"]);
    assert_eq!(r.stats.total.sched.context_switches, 2);
    assert_eq!(r.stats.total.walks.walks, 6);
}

/// Process i runs on core i mod cores, on stream i of the generator: each faults on
/// exactly the distinct pages of its own stream (derived from the workload's streams
/// directly), and every core runs the accesses of its processes.
#[test]
fn processes_are_placed_round_robin_and_run_their_own_streams() {
    let wl = "name = \"u\"\naccesses = 5000\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"2MiB\"\n";
    let sets = [
        "sim.cores=2",
        "os.sched.processes=5",
        "os.sched.quantum_cycles=20000",
    ];
    let r = go(wl, &sets);
    let spec = mmusim::workload::WorkloadSpec::from_toml(wl).unwrap();
    let mut faults = 0;
    for i in 0..5 {
        let mut src = spec.source(i);
        let mut buf = Vec::new();
        src.fill(&mut buf, 1 << 20).unwrap();
        faults += buf
            .iter()
            .map(|a| a.vaddr >> 12)
            .collect::<HashSet<_>>()
            .len() as u64;
    }
    assert_eq!(r.stats.total.minor_faults, faults);
    for (i, p) in r.stats.processes.iter().enumerate() {
        assert_eq!((p.core, p.asid as usize, p.accesses), (i % 2, i + 1, 5000));
    }
    assert_eq!(r.stats.cores[0].accesses, 3 * 5000);
    assert_eq!(r.stats.cores[1].accesses, 2 * 5000);
    // One table per process.
    assert_eq!(r.stats.page_tables.len(), 5);
    assert!(r.stats.total.sched.context_switches > 5);
    // Deterministic.
    assert_eq!(go(wl, &sets).to_json(), r.to_json());
    r.stats.total.check_accounting().unwrap();
}

/// Too few processes for the cores, too many ids, or more traces than processes.
#[test]
fn bad_process_settings_are_named() {
    let wl = one_page(10);
    for (sets, key) in [
        (
            vec!["sim.cores=2", "os.sched.processes=1"],
            "os.sched.processes",
        ),
        (
            vec!["os.sched.asids_per_core=5000"],
            "os.sched.asids_per_core",
        ),
        (
            vec!["os.sched.switch_cycles=10000000000000000"],
            "os.sched.switch_cycles",
        ),
    ] {
        let (code, err, _) = run_file("w.toml", &wl, &sets);
        assert_eq!(code, 2, "{sets:?}: {err}");
        assert!(err.contains(key), "{sets:?}: {err}");
    }
    let (code, err, _) = run_file(
        "w.toml",
        &format!("{wl}[[event]]\nat = 1\nkind = \"fork\"\nprocess = 3\n"),
        &["os.sched.processes=2"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("event[0].core = 3"), "{err}");
}

/// Stores to pages 0..63, a fork, then the parent stores to pages 0..k-1 and ends; the
/// child then stores to all 64. The parent copies its k pages (the child still holds
/// them); the child finds those k frames its own alone (made writable in place, Linux's
/// reuse) and copies the other 64 - k. So 64 copies in all, k reuses, nothing left
/// shared, and memory holds 128 data frames: the run without a fork's 64 more, plus the
/// child's table.
#[test]
fn a_forked_child_runs_and_copies_what_the_parent_still_shares() {
    let wl = |k: u64, fork: bool| {
        let mut refs: Vec<String> = (0..64).map(|p| p.to_string()).collect();
        refs.extend((0..k).map(|p| p.to_string()));
        let ev = if fork {
            "[[event]]\nat = 64\nkind = \"fork\"\nchild_accesses = 64\n"
        } else {
            ""
        };
        format!(
            "name = \"f\"\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n{ev}",
            refs.join(" ")
        )
    };
    let costs = ["os.minor_fault_cycles=3000", "os.cow_copy_4k_cycles=1000"];
    for k in [0u64, 7, 64] {
        let r = go(&wl(k, true), &costs);
        let plain = go(&wl(k, false), &costs);
        let t = &r.stats.total;
        let e = &t.os_events;
        assert_eq!((e.cow_faults, e.cow_reuses), (64, k), "k = {k}");
        assert_eq!(e.cow_copied_bytes, 64 * 4096);
        assert_eq!(r.stats.physical.cow_shared_pages, 0);
        let p = &r.stats.processes;
        assert_eq!(p.len(), 2);
        assert_eq!((p[0].accesses, p[1].accesses), (64 + k, 64));
        assert_eq!((p[1].parent, p[1].core), (Some(0), 0));
        assert_eq!(
            r.stats.phys_bytes_in_use,
            plain.stats.phys_bytes_in_use + (64 + r.stats.physical.child_table_frames) * 4096,
            "k = {k}"
        );
        // Faults: 64 first touches, 64 copies, k reuses (each a trap).
        assert_eq!(
            t.translation_cycles.fault,
            64 * 3000 + 64 * (3000 + 1000) + k * 3000
        );
        assert_eq!(t.accesses, 64 + k + 64);
        // One switch: from the parent (done) to the child.
        assert_eq!(t.sched.context_switches, 1);
        t.check_accounting().unwrap();
    }
}

/// A fork whose child only holds its pages, then the parent's exit: the parent's own
/// copies go, the frames the child holds stay. A lone process's exit gives back every
/// frame, its page table's included, on radix and on a global hashed table.
#[test]
fn exit_gives_back_what_no_other_process_holds() {
    let refs: Vec<String> = (0..64).chain(0..10).map(|p| p.to_string()).collect();
    let wl = format!(
        "name = \"e\"\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"refs\"\nrefs = \"{}\"\n[[event]]\nat = 64\nkind = \"fork\"\n[[event]]\nat = 74\nkind = \"exit\"\n",
        refs.join(" ")
    );
    let r = go(&wl, &[]);
    let p = &r.stats.physical;
    assert_eq!(r.stats.total.os_events.cow_faults, 10);
    assert_eq!(r.stats.total.os_events.exits, 1);
    // The child's 64 frames and its table.
    assert_eq!(
        r.stats.phys_bytes_in_use,
        (64 + p.child_table_frames) * 4096
    );
    assert_eq!(p.cow_shared_pages, 0, "the child is the last holder of all");
    let procs = &r.stats.processes;
    assert_eq!(procs[0].state, mmusim::sim::ProcState::Exited);
    assert_eq!(procs[1].state, mmusim::sim::ProcState::Done);

    // A lone process: an exit after 40 of 100 accesses ends its stream there.
    let ev = "[[event]]\nat = 40\nkind = \"exit\"\n";
    let lone = format!(
        "name = \"l\"\naccesses = 100\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"1MiB\"\nstride = 4096\n{ev}"
    );
    let r = go(&lone, &[]);
    assert_eq!(r.stats.processes[0].accesses, 40);
    assert_eq!(r.stats.total.accesses, 40);
    assert_eq!(r.stats.phys_bytes_in_use, 0);
    assert_eq!(r.stats.page_table_bytes, 0);
    r.stats.total.check_accounting().unwrap();
    let h = simulate(
        &inputs(Some("skylake-htab"), Some(&lone), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(h.stats.processes[0].accesses, 40);
    // Only the global table's own memory is left.
    assert_eq!(h.stats.phys_bytes_in_use, h.stats.page_table_bytes);
    // The same as trace lines: what follows `exit` is never run.
    let mut t = String::new();
    for i in 0..40u64 {
        t.push_str(&format!("R {:#x}\n", 0x10_0000_0000u64 + (i % 256) * 4096));
    }
    t.push_str("exit\nR 0x1000000000\nW 0x2000000000\n");
    let (code, err, json) = run_file("e.txt", &t, &[]);
    assert_eq!(code, 0, "{err}");
    let j = json.unwrap();
    assert_eq!(j["stats"]["total"]["accesses"], 40);
    assert_eq!(j["stats"]["phys_bytes_in_use"], 0);
    assert_eq!(j["stats"]["processes"][0]["state"], "exited");
}

/// With THP always, huge pages fit only inside one mapped range once `mmap` events
/// give any: mapping 3 MiB at a 2 MiB boundary and touching 4 MiB page by page takes
/// one 2M page (the first region lies inside the range) and 512 small ones (the second
/// region is cut by the range's end; its pages past the range fault as before).
#[test]
fn mmap_bounds_huge_pages_and_populate_maps_ahead() {
    let wl = |ev: &str| {
        format!("name = \"m\"\naccesses = 1024\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"4MiB\"\nstride = 4096\n{ev}")
    };
    let mm = "[[event]]\nat = 0\nkind = \"mmap\"\noffset = 0\nlen = \"3MiB\"\n";
    let r = go(&wl(mm), &["os.huge_pages.policy=\"always\""]);
    let t = &r.stats.total;
    assert_eq!(t.huge_pages.faults_2m, 1);
    assert_eq!(t.minor_faults, 1 + 512);
    assert_eq!(t.os_events.mmap_calls, 1);
    // Without it, two 2M pages.
    let r = go(&wl(""), &["os.huge_pages.policy=\"always\""]);
    assert_eq!(r.stats.total.huge_pages.faults_2m, 2);

    // populate: 256 pages faulted at the event, none by the accesses; the cycles are
    // the core's, not translation's.
    let pop = "[[event]]\nat = 0\nkind = \"mmap\"\noffset = 0\nlen = \"1MiB\"\npopulate = true\n";
    let r = go(&wl(pop), &["os.minor_fault_cycles=3000"]);
    let t = &r.stats.total;
    assert_eq!(t.os_events.populated_pages, 256);
    assert_eq!(t.os_events.event_cycles, 256 * 3000);
    // 256 populated + 768 at first touch past the range.
    assert_eq!(t.minor_faults, 256 + 768);
    assert_eq!(t.translation_cycles.fault, 768 * 3000);
    assert_eq!(
        t.cycles,
        t.base_cycles + t.stall_cycles + t.os_events.event_cycles
    );
    t.check_accounting().unwrap();
    // An mmap over mapped pages replaces them (MAP_FIXED): the second pass faults
    // again on the 256 pages it covers.
    let again = "[[event]]\nat = 1024\nkind = \"mmap\"\noffset = 0\nlen = \"1MiB\"\n";
    let r = go(
        &format!("name = \"m\"\naccesses = 2048\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"4MiB\"\nstride = 4096\n{again}"),
        &[],
    );
    assert_eq!(r.stats.total.minor_faults, 1024 + 256);
    assert_eq!(r.stats.total.os_events.unmapped_pages, 256);
}

/// Stores to 16 pages, `mprotect` of 8 of them read-only, stores to all 16 twice: the
/// 8 protected pages trap once each (then the handler opens them), and their
/// translations left the TLB at the mprotect, so exactly 8 more walks. PROT_NONE
/// traps loads too; raising rights back flushes nothing.
#[test]
fn mprotect_traps_forbidden_accesses_once_and_flushes_lowered_pages() {
    let pass = (0..16).map(|p| p.to_string()).collect::<Vec<_>>().join(" ");
    let wl = |wf: f64, prot: &str| {
        format!(
            "name = \"p\"\nseed = 1\nwrite_fraction = {wf}\n[generator]\nkind = \"refs\"\nrefs = \"{pass} {pass} {pass}\"\n[[event]]\nat = 16\nkind = \"mprotect\"\noffset = \"32KiB\"\nlen = \"32KiB\"\nprot = \"{prot}\"\n"
        )
    };
    let costs = [
        "os.minor_fault_cycles=3000",
        "os.protection_fault_cycles=7000",
    ];
    let plain = go(&wl(1.0, "rw"), &costs);
    let r = go(&wl(1.0, "r"), &costs);
    let t = &r.stats.total;
    assert_eq!(t.os_events.protection_faults, 8);
    assert_eq!(t.os_events.mprotect_calls, 1);
    assert_eq!(t.translation_cycles.fault, 16 * 3000 + 8 * 7000);
    // 16 first touches take 2 walks each; the 8 flushed pages walk once more.
    assert_eq!(plain.stats.total.walks.walks, 32);
    assert_eq!(t.walks.walks, 32 + 8);
    t.check_accounting().unwrap();
    // Read-only pages do not trap loads; PROT_NONE pages do.
    let r = go(&wl(0.0, "r"), &costs);
    assert_eq!(r.stats.total.os_events.protection_faults, 0);
    let r = go(&wl(0.0, "none"), &costs);
    assert_eq!(r.stats.total.os_events.protection_faults, 8);
    // The same events as trace lines.
    let mut t = String::new();
    for pass in 0..3 {
        for p in 0..16u64 {
            t.push_str(&format!("W {:#x}\n", 0x10_0000_0000u64 + p * 4096));
        }
        if pass == 0 {
            t.push_str("mprotect 0x1000008000 0x8000 r\n");
        }
    }
    let (code, err, json) = run_file("p.txt", &t, &costs);
    assert_eq!(code, 0, "{err}");
    let j = json.unwrap();
    assert_eq!(j["stats"]["total"]["os_events"]["protection_faults"], 8);
    assert_eq!(j["stats"]["total"]["walks"]["walks"], 40);
}

/// Each process's events apply at its own stream positions, whichever turn it is in
/// and across the core's warm-up restart: three processes on one core, each unmapping
/// its page halfway, fault twice each (6); with a warm-up of 100 accesses, which holds
/// the three first touches (a fault ends a turn: it costs more than the quantum), only
/// the 3 faults after the unmaps count.
#[test]
fn events_follow_their_process_through_switches_and_warm_up() {
    let wl = format!(
        "{}[[event]]\nat = 1500\nkind = \"munmap\"\noffset = 0\nlen = \"4KiB\"\n",
        one_page(3000)
    );
    let sets = ["os.sched.processes=3", "os.sched.quantum_cycles=400"];
    let r = go(&wl, &sets);
    let t = &r.stats.total;
    assert_eq!((t.minor_faults, t.os_events.munmap_calls), (6, 3));
    let mut w = sets.to_vec();
    w.push("sim.warmup_accesses=100");
    let r = go(&wl, &w);
    let t = &r.stats.total;
    assert_eq!((t.minor_faults, t.os_events.munmap_calls), (3, 3));
    for p in &r.stats.processes {
        assert_eq!(p.accesses, 3000);
    }
    // An event for one process only.
    let one = format!(
        "{}[[event]]\nat = 1500\nkind = \"munmap\"\nprocess = 1\noffset = 0\nlen = \"4KiB\"\n",
        one_page(3000)
    );
    let r = go(&one, &sets);
    assert_eq!(r.stats.total.minor_faults, 4);
}

/// A munmap that cuts a 2M page splits it (Linux splits the PMD): the pieces outside
/// stay mapped as 4K pages, those inside go. A sweep over 4 MiB with THP always (two 2M
/// pages), an unmap of 1 MiB inside the first, and the sweep again: one split, 256
/// pages unmapped and faulted back as 4K pages (their region is no longer empty). The
/// walks: 2 faults x 2 in the first sweep; in the second, the first region's 512 pages
/// walk once each (the 2M entry left the TLB) and the 256 unmapped ones once more for
/// their fault; the unmap of 256 pages is above the flush ceiling (33), so the
/// address space's entries are flushed and the second 2M page walks once more too.
#[test]
fn a_partial_unmap_splits_the_huge_page_it_cuts() {
    let wl = "name = \"s\"\naccesses = 2048\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"4MiB\"\nstride = 4096\n[[event]]\nat = 1024\nkind = \"munmap\"\noffset = \"512KiB\"\nlen = \"1MiB\"\n";
    let r = go(
        wl,
        &[
            "os.huge_pages.policy=\"always\"",
            "os.huge_pages.split_cycles=5000",
        ],
    );
    let t = &r.stats.total;
    assert_eq!(t.huge_pages.splits, 1);
    assert_eq!(t.os_events.unmapped_pages, 256);
    assert_eq!(t.huge_pages.faults_2m, 2);
    assert_eq!(t.minor_faults, 2 + 256);
    assert_eq!(t.huge_pages.mapped_bytes, 4 << 20);
    assert_eq!(t.walks.walks, 2 * 2 + 512 + 256 + 1);
    assert_eq!(t.os_events.event_cycles, 5000);
    let p = &r.stats.physical;
    assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
    t.check_accounting().unwrap();
}

/// THP always in 16 MiB of memory, one store in each of 400 2 MiB regions: after the
/// first huge pages and the small-page fallbacks, memory runs out. Without demotion the
/// run stops with the shortage named; with it, the OS splits its least-written huge
/// pages and frees their 511 never-written pieces each, and the run ends with every
/// region mapped: the resident bytes are exactly the huge pages left whole plus one
/// piece per region in 4K pages.
#[test]
fn demotion_frees_the_unwritten_pieces_of_huge_pages_when_memory_runs_out() {
    let wl = "name = \"d\"\naccesses = 400\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"strided\"\nfootprint = \"800MiB\"\nstride = 2097152\n";
    let sets = [
        "os.phys_mem=\"16MiB\"",
        "os.huge_pages.policy=\"always\"",
        "os.frame_alloc=\"sequential\"",
    ];
    let (code, err, _) = run_file("d.toml", wl, &sets);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("physical memory exhausted"), "{err}");
    let mut d = sets.to_vec();
    d.push("os.huge_pages.demote=true");
    let r = go(wl, &d);
    let t = &r.stats.total;
    let h = &t.huge_pages;
    assert!(h.demotions >= 1, "{h:?}");
    assert_eq!(h.demoted_freed_4k, 511 * h.demotions);
    assert_eq!(h.splits, h.demotions);
    assert_eq!(t.minor_faults, 400);
    assert_eq!(
        h.mapped_bytes,
        (h.faults_2m - h.demotions) * (2 << 20) + (400 - h.faults_2m + h.demotions) * 4096
    );
    let p = &r.stats.physical;
    assert_eq!(p.free_bytes + r.stats.phys_bytes_in_use, p.total_bytes);
    t.check_accounting().unwrap();
}

/// Review findings, each a run that went wrong before its fix.
#[test]
fn process_model_edge_cases() {
    // (1) mmap with populate over mapped pages: the MAP_FIXED unmap's invalidations
    // must survive the populating faults (test builds check every TLB hit).
    let wl = "name = \"pop\"\naccesses = 200\nwrite_fraction = 0.5\nseed = 1\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 100\nkind = \"mmap\"\noffset = 0\nlen = \"1MiB\"\npopulate = true\n";
    let r = go(wl, &[]);
    assert_eq!(r.stats.total.os_events.populated_pages, 256);
    r.stats.total.check_accounting().unwrap();
    // (2) An inverted table maps each frame once: a fork there still works (the child
    // holds the frames unmapped), and a child that would run is refused clearly.
    let fk = "name = \"inv\"\naccesses = 200\nwrite_fraction = 0.5\n[generator]\nkind = \"uniform\"\nfootprint = \"1MiB\"\n[[event]]\nat = 100\nkind = \"fork\"\n";
    let r = simulate(
        &inputs(Some("skylake-inverted"), Some(fk), &[]),
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.stats.total.os_events.fork_calls, 1);
    assert!(r.stats.total.os_events.cow_faults > 0);
    let e = simulate(
        &inputs(
            Some("skylake-inverted"),
            Some(&fk.replace("kind = \"fork\"", "kind = \"fork\"\nchild_accesses = 10")),
            &[],
        ),
        &mut |_, _| {},
    )
    .expect_err("refused");
    assert!(e.0.contains("maps each frame once"), "{e}");
    // (4) An exit with 2M pages mapped: the long unmap takes each page whole (it once
    // split them, left 511 pieces mapped and released a table still in use).
    let ex = "name = \"x\"\naccesses = 64\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"8MiB\"\nstride = 131072\n[[event]]\nat = 64\nkind = \"exit\"\n";
    let r = go(ex, &["os.huge_pages.policy=\"always\""]);
    assert_eq!(r.stats.total.huge_pages.faults_2m, 4);
    assert_eq!(r.stats.total.huge_pages.splits, 0);
    assert_eq!(r.stats.phys_bytes_in_use, 0);
    // (3) An exit line in a trace on a hashed table: a clear error, not a long unmap.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("x.txt");
    std::fs::write(&f, "R 0x1000\nexit\n").unwrap();
    let out = dir.path().join("out");
    let (code, _, err) = super::analysis::mmusim(&[
        "run",
        "-q",
        "-c",
        "skylake-htab",
        "--trace",
        f.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("exit line in a trace needs a radix"), "{err}");
}
