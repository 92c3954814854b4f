//! Several virtual machines (`virt.vms`, issue 18 items 1 and 5): each VM its own guest
//! OS over its own guest-physical memory and its own host table; a core whose processes
//! belong to different VMs switches VMs (an exit and the host's switch, not a guest
//! context switch) and keeps a VM's TLB entries across the switches only while it has a
//! VPID for it. Expected values derived by hand in each test's comment.

use super::virt::SYSTEM;
use std::time::Duration;

/// `stats` of `mmusim run` on `SYSTEM` + `extra` with `workload` and each of `sets`
/// (`key=value`); the run must succeed.
fn stats(extra: &str, workload: &str, sets: &[&str]) -> serde_json::Value {
    stats_of(&format!("{SYSTEM}{extra}"), workload, sets)
}

/// [`stats`] of the system `system` (whole).
fn stats_of(system: &str, workload: &str, sets: &[&str]) -> serde_json::Value {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("sys.toml"), system).unwrap();
    std::fs::write(d.path().join("w.toml"), workload).unwrap();
    let mut args = vec!["run", "-q", "--config", "sys.toml", "--workload", "w.toml"];
    args.extend(["--out", "out"]);
    for s in sets {
        args.extend(["--set", s]);
    }
    let (code, _, err) =
        super::mmusim_bounded(Some(d.path()), &args, b"", Duration::from_secs(120));
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(d.path().join("out/result.json")).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["stats"].clone()
}

fn u(v: &serde_json::Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(|x| x.as_u64())
        .unwrap_or_else(|| panic!("{path} in {v}"))
}

const X: u64 = 10_000;
/// The host's switch between two vCPUs, and the guest's context switch.
const HOST_SWITCH: u64 = 5_000;
const GUEST_SWITCH: u64 = 700;

/// `SYSTEM` (one core, sequential frames in both dimensions, 4 KiB pages, no data
/// caches) with two processes on its core, each running to its end (quantum 0).
fn two_processes() -> String {
    format!(
        "[os.sched]\nprocesses = 2\nquantum_cycles = 0\nswitch_cycles = {GUEST_SWITCH}\n\
         [virt.host_sched]\nswitch_cycles = {HOST_SWITCH}\n"
    )
}

/// Pages 0, 0, 1 in each process.
const THREE: &str = "name = \"three\"\n[generator]\nkind = \"refs\"\nrefs = \"0 0 1\"\n";

/// Two processes on one core, in one VM and in two. Each process alone walks, faults
/// and exits as the cold VM of `virt::a_cold_vm_walks_faults_and_exits_exactly_as_derived_by_hand`
/// (4 walks, 73 references, 5 EPT violations, 2 guest faults), so both runs total 8, 146,
/// 10 and 4; what the VMs change:
/// - Guest-physical memory. One VM: both processes' pages come from one guest memory:
///   2 roots + 2 x (L3, L2, L1 and 2 data pages) = 12 frames = 48 KiB. Two VMs: 6 frames
///   = 24 KiB in each VM's own memory (the same gPAs 0 to 0x5000 in both).
/// - Host tables. One VM: one host table over gPAs 0 to 0xb000, all under one host L1
///   table: root + L3 + L2 + L1 = 4 pages = 16 KiB. Two VMs: one such table each, 32 KiB.
///   Host memory backs 12 guest pages either way (48 KiB).
/// - The switch from process 1 to process 2 (when process 1's stream ends): a guest
///   context switch (700 cycles) in one VM; in two, a VM switch: an exit and the host's
///   switch, 10,000 + 5,000 cycles, no guest context switch.
#[test]
fn two_vms_have_their_own_guest_memory_and_host_tables_and_switch_by_exit() {
    let one = stats(&two_processes(), THREE, &[]);
    let two = stats(&two_processes(), THREE, &["virt.vms=2"]);
    for s in [&one, &two] {
        let t = &s["total"];
        assert_eq!(u(t, "/virt/nested_walks"), 8);
        assert_eq!(u(t, "/walks/pte_reads"), 146);
        assert_eq!(u(t, "/virt/exits/ept_violation"), 10);
        assert_eq!(u(t, "/minor_faults"), 4);
        assert_eq!(u(s, "/host/backed_bytes"), 12 * 4096);
    }
    assert_eq!(u(&one, "/host/host_table_bytes"), 4 * 4096);
    assert_eq!(u(&two, "/host/host_table_bytes"), 8 * 4096);
    assert_eq!(u(&one, "/phys_bytes_in_use"), 12 * 4096);
    assert_eq!(u(&two, "/phys_bytes_in_use"), 12 * 4096);
    // Both guest memories together: 2 x 1 GiB, of which the 12 frames are in use.
    let p = &two["physical"];
    assert_eq!(u(p, "/total_bytes"), 2 << 30);
    assert_eq!(u(p, "/total_bytes") - u(p, "/free_bytes"), 12 * 4096);
    assert!(one["host"].get("vms").is_none(), "one VM: no per-VM list");
    let vms = two["host"]["vms"].as_array().unwrap();
    assert_eq!(vms.len(), 2);
    for (i, vm) in vms.iter().enumerate() {
        assert_eq!(u(vm, "/vm"), i as u64 + 1);
        assert_eq!(vm["asids"], serde_json::json!([i + 1]));
        assert_eq!(u(vm, "/guest_phys_bytes_in_use"), 6 * 4096);
        // Root, L3, L2, L1 of the guest table: 4 pages.
        assert_eq!(u(vm, "/guest_page_table_bytes"), 4 * 4096);
        assert_eq!(u(vm, "/host_table_bytes"), 4 * 4096);
    }
    assert_eq!(u(&vms[1], "/vm_switches_in"), 1);
    assert_eq!(u(&vms[0], "/vm_switches_in"), 0);
    let (t1, t2) = (&one["total"], &two["total"]);
    assert_eq!(u(t1, "/sched/context_switches"), 1);
    assert_eq!(u(t1, "/sched/switch_cycles"), GUEST_SWITCH);
    assert!(t1["virt"].get("vm_switches").is_none());
    assert_eq!(u(t2, "/sched/context_switches"), 0);
    assert_eq!(u(t2, "/virt/vm_switches"), 1);
    assert_eq!(u(t2, "/virt/vm_switch_cycles"), X + HOST_SWITCH);
    // The run's cycles differ by exactly the switches' costs (everything else is equal).
    assert_eq!(
        u(t2, "/cycles") - u(t1, "/cycles"),
        X + HOST_SWITCH - GUEST_SWITCH
    );
}

/// Pages 0 and 1 in turn, 100,000 accesses per process.
const TWO_PAGES: &str = "name = \"two-pages\"\naccesses = 100_000\n\
    [generator]\nkind = \"sequential\"\nfootprint = \"8KiB\"\nstride = 4096\n";

/// Two VMs' processes alternate on one core every 30,000 cycles, with exits and host
/// faults made cheap (1,000 cycles each) so that even a first slice, with its cold
/// faults (~20,000 cycles), touches both pages: a slice starts with at most two misses
/// (nested walks of 24 DRAM reads, 2,400 cycles) and goes on with thousands of TLB hits.
/// - A VPID per VM: the entries survive every switch: 4 TLB misses in all (each
///   process's two cold pages), no VPID flush.
/// - One VPID: each VM switch hands it to the incoming VM, whose entries went when the
///   other VM took it: every switch flushes (`vpid_flushes` = VM switches) and every
///   slice misses both pages again: misses = 2 x slices = 2 x (VM switches + 1) (the
///   process left running when the other's stream ends goes on in its slice).
/// - No VPID: every exit flushes, the VM switches' and the EPT violations' (so
///   `vpid_flushes` = VM switches + EPT violations); the slices miss as with one VPID,
///   and in each VM's first slice page 1's cold walk, whose EPT violation flushes page
///   0's fresh entry, costs page 0 one more miss: 2 x (VM switches + 1) + 2.
#[test]
fn a_vm_keeps_its_tlb_entries_across_vm_switches_only_with_a_vpid() {
    let sys = two_processes().replace("quantum_cycles = 0", "quantum_cycles = 30000");
    let cheap = [
        "virt.vms=2",
        "virt.exit_cycles=1000",
        "virt.host.minor_fault_cycles=1000",
    ];
    let run = |vpids: &str| {
        let sets: Vec<&str> = cheap.iter().copied().chain([vpids]).collect();
        stats(&sys, TWO_PAGES, &sets)["total"].clone()
    };
    let misses = |t: &serde_json::Value| u(t, "/tlb/0/misses");
    let enough = run("virt.vpids=2");
    let switches = u(&enough, "/virt/vm_switches");
    assert!(
        switches >= 6,
        "{switches} VM switches: too few to show anything"
    );
    assert_eq!(misses(&enough), 4);
    assert_eq!(u(&enough, "/virt/vpid_flushes"), 0);
    let one = run("virt.vpids=1");
    let switches = u(&one, "/virt/vm_switches");
    assert!(switches >= 6, "{switches} VM switches");
    assert_eq!(misses(&one), 2 * (switches + 1));
    assert_eq!(u(&one, "/virt/vpid_flushes"), switches);
    let none = run("virt.vpids=0");
    let switches = u(&none, "/virt/vm_switches");
    assert_eq!(misses(&none), 2 * (switches + 1) + 2);
    let exits = switches + u(&none, "/virt/exits/ept_violation");
    assert_eq!(u(&none, "/virt/vpid_flushes"), exits);
}

/// A host collapse (host `promote`, a 2 MiB region collapsed when its second page is
/// backed) reaches the vCPUs of its own VM only. Two processes on two cores loop over
/// 8 MiB (2,048 pages) each; a process's guest memory holds its pages and 7 table pages
/// (root, L3, L2, four L1s): 2,055 frames.
/// - Two VMs, one per core: each VM's memory spans 5 regions (2,055 / 512, rounded
///   up), each collapsing once. The root's region collapses at the first fault (the
///   root was backed when the address space was made, the fault backs the second
///   page): 5 host flushes started per core, 9 EPT violations on the translation path
///   (the root region's one, then 2 for each of the other 4). The other core runs the
///   other VM: no kick, nothing taken.
/// - One VM: 4,110 frames in one guest memory, 9 regions; both roots (the first two
///   frames) were backed at the start, which collapsed the first region before the
///   run: 8 host flushes started, and the other core, running the same VM, is kicked
///   and takes those started while it still runs.
#[test]
fn a_host_collapse_flushes_only_its_own_vms_vcpus() {
    let w = "name = \"loop\"\naccesses = 20_000\nseed = 1\n[generator]\nkind = \"sequential\"\n\
             footprint = \"8MiB\"\nstride = 4096\n";
    let run = |vms: &str| {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("w.toml"), w).unwrap();
        let mut args = vec![
            "run",
            "-q",
            "-c",
            "skylake-vm",
            "-w",
            "w.toml",
            "--out",
            "out",
        ];
        for s in [
            "sim.warmup_accesses=0",
            "sim.cores=2",
            "os.sched.processes=2",
            "virt.host.huge_pages.policy=\"promote\"",
            "virt.host.huge_pages.promote_threshold=2",
            vms,
        ] {
            args.extend(["--set", s]);
        }
        let (code, _, err) =
            super::mmusim_bounded(Some(d.path()), &args, b"", Duration::from_secs(120));
        assert_eq!(code, 0, "{err}");
        let text = std::fs::read_to_string(d.path().join("out/result.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["stats"].clone()
    };
    let sum = |s: &serde_json::Value, p: &str| {
        let cores = s["cores"].as_array().unwrap();
        cores.iter().map(|c| u(c, p)).sum::<u64>()
    };
    let two = run("virt.vms=2");
    for vm in two["host"]["vms"].as_array().unwrap() {
        assert_eq!(u(vm, "/guest_phys_bytes_in_use"), 2055 * 4096);
    }
    for c in two["cores"].as_array().unwrap() {
        assert_eq!(u(c, "/virt/host_flushes"), 5, "{c}");
        assert_eq!(u(c, "/virt/exits/ept_violation"), 9);
        assert_eq!(u(c, "/virt/host_flushes_taken"), 0);
        assert_eq!(u(c, "/virt/host_kicks"), 0);
    }
    assert_eq!(u(&two, "/host/backed_2m_pages"), 10);
    let one = run("virt.vms=1");
    assert_eq!(u(&one, "/phys_bytes_in_use"), 2 * 2055 * 4096);
    assert_eq!(sum(&one, "/virt/host_flushes"), 8);
    let taken = sum(&one, "/virt/host_flushes_taken");
    assert!(taken > 0 && taken <= 8, "{taken}");
    assert_eq!(sum(&one, "/virt/host_kicks"), taken);
    assert_eq!(u(&one, "/host/backed_2m_pages"), 9);
}

/// A fork in the second VM: process 2 (VM 2) forks after its first two accesses (page 0
/// mapped), the child holding its pages. The child is VM 2's (its address space 3 is
/// listed there), its tables are VM 2's guest memory and are backed in VM 2's host
/// table at the fork: the child's root, L3, L2 and L1 tables, 4 frames and 4 EPT
/// violations at the event. VM 2's guest memory: the parent's root, L3, L2, L1 and
/// data page 0, the child's 4 tables, then the parent's page 1: 10 frames; VM 1's the
/// cold VM's 6. Host backing: 6 + 10 pages. EPT violations on the translation path: 5
/// per VM, as the cold VM's.
#[test]
fn a_fork_in_the_second_vm_stays_in_it() {
    let w = format!("{THREE}[[event]]\nat = 2\nkind = \"fork\"\nprocess = 1\n");
    let s = stats(&two_processes(), &w, &["virt.vms=2"]);
    let vms = s["host"]["vms"].as_array().unwrap();
    assert_eq!(vms[0]["asids"], serde_json::json!([1]));
    assert_eq!(vms[1]["asids"], serde_json::json!([2, 3]));
    assert_eq!(u(&vms[0], "/guest_phys_bytes_in_use"), 6 * 4096);
    assert_eq!(u(&vms[1], "/guest_phys_bytes_in_use"), 10 * 4096);
    assert_eq!(u(&vms[1], "/guest_page_table_bytes"), 8 * 4096);
    assert_eq!(u(&s, "/host/backed_bytes"), 16 * 4096);
    let t = &s["total"];
    assert_eq!(u(t, "/virt/event_ept_violations"), 4);
    assert_eq!(u(t, "/virt/exits/ept_violation"), 10);
}

/// A global guest design (an inverted table, made at the start over the guest's
/// memory) has one table per VM, each the size of the one a one-VM machine makes over
/// the same guest memory.
#[test]
fn a_global_guest_table_is_one_per_vm() {
    let radix = "[page_table]\nkind = \"radix\"\nlevels = 4\n";
    assert!(SYSTEM.contains(radix));
    let sys = format!("{SYSTEM}{}", two_processes()).replacen(
        radix,
        "[page_table]\nkind = \"inverted\"\n",
        1,
    );
    let one = stats_of(&sys, THREE, &[]);
    let two = stats_of(&sys, THREE, &["virt.vms=2"]);
    let tables = |s: &serde_json::Value| s["page_tables"].as_array().unwrap().clone();
    assert_eq!(tables(&one).len(), 1);
    assert_eq!(tables(&two).len(), 2);
    let bytes = u(&tables(&one)[0], "/bytes");
    assert!(bytes > 0);
    for t in tables(&two) {
        assert_eq!(u(&t, "/bytes"), bytes);
    }
    for vm in two["host"]["vms"].as_array().unwrap() {
        assert_eq!(u(vm, "/guest_page_table_bytes"), bytes);
    }
}

/// Three VMs' processes take turns on one core (quantum 30,000 cycles, as in
/// `a_vm_keeps_its_tlb_entries_across_vm_switches_only_with_a_vpid`) with 2 VPIDs:
/// round-robin, VM 1 takes VPID slot 0 at the start, VM 2 slot 1 (free), VM 3 slot 0
/// (VM 1's: a flush), VM 1 slot 1 (VM 2's), VM 2 slot 0 (VM 3's), ...: every switch but
/// the first flushes the VM that holds the slot, which in this cycle of three is always
/// the next VM to run, so every slice misses its two pages: VPID flushes = switches - 1,
/// TLB misses = 2 x (switches + 1).
#[test]
fn three_vms_on_two_vpids_take_them_round_robin() {
    let sys = two_processes()
        .replace("quantum_cycles = 0", "quantum_cycles = 30000")
        .replace("processes = 2", "processes = 3");
    let sets = [
        "virt.vms=3",
        "virt.vpids=2",
        "virt.exit_cycles=1000",
        "virt.host.minor_fault_cycles=1000",
        "virt.host.phys_mem=4GiB",
    ];
    let t = stats(&sys, TWO_PAGES, &sets)["total"].clone();
    let switches = u(&t, "/virt/vm_switches");
    assert!(switches >= 6, "{switches} VM switches");
    assert_eq!(u(&t, "/virt/vpid_flushes"), switches - 1);
    assert_eq!(u(&t, "/tlb/0/misses"), 2 * (switches + 1));
}
