//! Virtualized runs end to end (`[virt]`, issue 18): the exact references, walks, faults,
//! VM exits and cycles of the first accesses of a cold VM, derived by hand below, with and
//! without each cache of the host dimension; and the accounting invariant.
//!
//! The machine of every test: one core, one L1 TLB (latency 1, holding every size), no
//! data caches (every read costs DRAM = 100 cycles), a 4-level guest radix table and a
//! 4-level host radix table, both allocating frames sequentially from 0, 4K pages in both
//! dimensions. Costs chosen apart so that each count shows in the total: a guest fault
//! G = 1,000 cycles, a VM exit X = 10,000, a host fault F = 300,000.
//!
//! Where the frames go: the guest's root table is its first frame (gPA 0); the guest's
//! first fault allocates its level-3, level-2 and level-1 tables and the data page, the
//! next frames; the second fault (page 1) one more data frame. All of them lie in the
//! first 2 MiB of guest-physical memory, so after the host's first fault (which builds its
//! level-3, 2 and 1 tables for that region) every later host walk of those gPAs reads 4
//! entries and finds either the page (backed) or a not-present level-1 entry.
//!
//! The workload: pages 0, 0, 1 (the second access hits the TLB).

use super::mmusim_bounded;
use std::time::Duration;

pub(crate) const SYSTEM: &str = r#"
name = "vm-cold"
[sim]
cores = 1
base_cpi = 1.0
warmup_accesses = 0
[[tlb]]
name = "l1"
level = 1
kind = "unified"
entries = 64
ways = 4
page_sizes = ["4K", "2M", "1G"]
latency = 1
[page_table]
kind = "radix"
levels = 4
[memory]
dram_latency = 100
[os]
phys_mem = "1GiB"
frame_alloc = "sequential"
minor_fault_cycles = 1000
[virt]
exit_cycles = 10000
[virt.host]
phys_mem = "2GiB"
frame_alloc = "sequential"
minor_fault_cycles = 300000
[virt.host_table]
kind = "radix"
levels = 4
"#;

const WORKLOAD: &str = "name = \"three\"\n[generator]\nkind = \"refs\"\nrefs = \"0 0 1\"\n";

/// The `result.json` text of `mmusim` run with `args` and `--out out`, in a fresh folder
/// holding `files` (name, text); the run must succeed.
fn result_text(files: &[(&str, &str)], args: &[&str]) -> String {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let args: Vec<&str> = args.iter().copied().chain(["--out", "out"]).collect();
    let (code, _, err) = mmusim_bounded(Some(d.path()), &args, b"", Duration::from_secs(60));
    assert_eq!(code, 0, "{args:?}: {err}");
    std::fs::read_to_string(d.path().join("out/result.json")).unwrap()
}

/// [`result_text`], parsed.
fn result(files: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&result_text(files, args)).unwrap()
}

/// The arguments that run `sys.toml` on `w.toml`.
const RUN_FILES: [&str; 6] = ["run", "-q", "--config", "sys.toml", "--workload", "w.toml"];

/// The result of `workload` on `preset` with each of `sets` (`key=value`).
fn on_preset(preset: &str, workload: &str, sets: &[impl AsRef<str>]) -> serde_json::Value {
    let mut args = vec!["run", "-q", "-c", preset, "-w", "w.toml"];
    for s in sets {
        args.extend(["--set", s.as_ref()]);
    }
    result(&[("w.toml", workload)], &args)
}

/// Thread 0 unmaps one page at its accesses 6,000, 12,000 and 18,000 of 20,000, every
/// thread loops over the same 2 MiB.
const UNMAPPER: &str = "name = \"unmapper\"\naccesses = 20_000\nseed = 1\nwrite_fraction = 0.2\n\
     [generator]\nkind = \"sequential\"\nfootprint = \"2MiB\"\nstride = 4096\n\
     [[event]]\nat = 6000\nevery = 6000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"4KiB\"\n";

/// `stats.total` of a run of the workload on `SYSTEM` plus `extra` config text.
fn run(extra: &str) -> serde_json::Value {
    let system = format!("{SYSTEM}{extra}");
    result(&[("sys.toml", &system), ("w.toml", WORKLOAD)], &RUN_FILES)["stats"]["total"].clone()
}

fn u(v: &serde_json::Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(|x| x.as_u64())
        .unwrap_or_else(|| panic!("{path} in {v}"))
}

const DRAM: u64 = 100;
const G: u64 = 1_000;
const X: u64 = 10_000;
const F: u64 = 300_000;

/// No cache of either dimension. The guest's root table was zeroed when the address
/// space was made, so the host backed it then. Access 1 (page 0), walk by walk ("h" a
/// host read, "g" a guest entry read; every gPA here is in the host region whose tables
/// the root's backing built, so a host walk reads 4):
///   1. 4h (the root's gPA) + g (root entry: not present): 5, a guest fault. The handler
///      makes the L3, L2 and L1 tables and the data page and writes their entries: the
///      host backs those 4 pages inside the fault, 4 EPT violations;
///   2. the cold walk of a warm machine: (4 + 1)(4 + 1) - 1 = 24, done.
///
/// 2 walks, 29 references, 4 exits, 1 guest fault. Access 2: a TLB hit. Access 3 (page
/// 1, same guest tables): 4 x (4h + g) = 20 ending at the not-present guest leaf entry
/// (a guest fault, whose new data page is backed inside it: 1 EPT violation), then 24,
/// done: 2 walks, 44 references. In all: 4 walks, 73 references, 5 exits, 2 guest faults.
#[test]
fn a_cold_vm_walks_faults_and_exits_exactly_as_derived_by_hand() {
    let t = run("");
    assert_eq!(u(&t, "/virt/nested_walks"), 4);
    assert_eq!(u(&t, "/walks/walks"), 4);
    assert_eq!(u(&t, "/walks/pte_reads"), 73);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 5);
    assert_eq!(u(&t, "/minor_faults"), 2);
    assert_eq!(u(&t, "/virt/nested_fills"), 2);
    assert_eq!(u(&t, "/virt/splintered_fills"), 0);
    // Every reference is its own dependent read at DRAM latency.
    assert_eq!(u(&t, "/translation_cycles/pte"), 73 * DRAM);
    assert_eq!(u(&t, "/virt/exit_cycles"), 5 * X);
    assert_eq!(u(&t, "/virt/host_fault_cycles"), 5 * F);
    assert_eq!(u(&t, "/translation_cycles/fault"), 5 * (X + F) + 2 * G);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 0);
    assert_eq!(u(&t, "/translation_cycles/tlb"), 3);
    assert_eq!(
        u(&t, "/translation_cycles/total"),
        3 + 73 * DRAM + 5 * (X + F) + 2 * G
    );
    // By dimension: guest entry reads are 1 + 4 (access 1) + 4 + 4 (access 3) = 13; host
    // reads for the data's gPA: 4 in each completing walk = 8; the rest are host reads for
    // guest entries: 4 + 16 + 16 + 16 = 52 = 73 - 13 - 8.
    assert_eq!(u(&t, "/virt/guest_entry_refs"), 13);
    assert_eq!(u(&t, "/virt/host_refs_for_data"), 8);
    assert_eq!(u(&t, "/virt/host_refs_for_guest_entries"), 52);
}

/// A nested TLB (16 entries, latency 2): a host walk of a gPA page it holds makes no
/// reads (the backing inside a fault goes by the hypervisor, not the NTLB). Access 1
/// ("n" an NTLB hit): 1. 4h (fills the root's page) + g (GF): 5; 2. n g, then the L3,
/// L2 and L1 tables and the data each 4h (fill) with their g between: 0+1+4+1+4+1+4+1+4
/// = 20. Host lookups 1 + 5 = 6, hits 0 + 1 = 1. Access 3: n g n g n g n g (GF): 4; then
/// 4 g + 4h (the new data page): 8. Lookups 4 + 5 = 9, hits 4 + 4 = 8. In all 37
/// references, 15 lookups (each costs the NTLB's 2 cycles), 9 hits; faults as without it.
#[test]
fn a_nested_tlb_removes_exactly_the_host_walks_of_pages_it_holds() {
    let t = run("[virt.ntlb]\nentries = 16\nlatency = 2\n");
    assert_eq!(u(&t, "/walks/walks"), 4);
    assert_eq!(u(&t, "/walks/pte_reads"), 37);
    assert_eq!(u(&t, "/virt/host_lookups"), 15);
    assert_eq!(u(&t, "/virt/ntlb_hits"), 9);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 5);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 15 * 2);
    assert_eq!(u(&t, "/translation_cycles/pte"), 37 * DRAM);
    assert_eq!(
        u(&t, "/translation_cycles/total"),
        3 + 15 * 2 + 37 * DRAM + 5 * (X + F) + 2 * G
    );
}

/// A host PDE cache (level 2, latency 2): every gPA here is in the first 2 MiB region, so
/// once a host walk has found that region's level-1 table, each host walk reads only its
/// level-1 entry. Access 1: 4h (fills) + g (GF): 5; then 5 host walks of 1h with the 4 g
/// between: 9. Lookups 1 + 5 = 6, hits 0 + 5. Access 3: 4 x (1h + g) = 8 (GF), then
/// 8 + 1h = 9: lookups 4 + 5, all hits. In all 31 references, 15 lookups, 14 hits.
#[test]
fn a_host_walk_cache_starts_host_walks_below_the_level_it_holds() {
    let extra =
        "[[virt.host_psc]]\nname = \"epde\"\nlevel = 2\nentries = 4\nways = 4\nlatency = 2\n";
    let t = run(extra);
    assert_eq!(u(&t, "/walks/pte_reads"), 31);
    assert_eq!(u(&t, "/virt/host_lookups"), 15);
    assert_eq!(u(&t, "/virt/host_walk_caches/0/lookups"), 15);
    assert_eq!(u(&t, "/virt/host_walk_caches/0/hits"), 14);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 15 * 2);
    assert_eq!(u(&t, "/translation_cycles/pte"), 31 * DRAM);
}

/// `stats.total` of `refs` (4K page numbers from the workload base) after an `mmap` that
/// populates 4 MiB from the base (guest pages mapped and zeroed, so the host backs them
/// at the event), on `SYSTEM` with the first access as warm-up and `extra` config.
fn run_populated(extra: &str, refs: &str) -> serde_json::Value {
    let system = SYSTEM.replace("warmup_accesses = 0", "warmup_accesses = 1") + extra;
    let w = format!(
        "name = \"populated\"\n[generator]\nkind = \"refs\"\nrefs = \"{refs}\"\n\
         [[event]]\nat = 0\nkind = \"mmap\"\noffset = \"0\"\nlen = \"4MiB\"\npopulate = true\n"
    );
    result(&[("sys.toml", &system), ("w.toml", &w)], &RUN_FILES)["stats"]["total"].clone()
}

/// Huge pages in both dimensions, chosen independently. After the warm-up access (page
/// 0, which also backs the guest's page-table pages), page 1 (same 2M region as page 0)
/// and page 512 (the next 2M region), everything mapped and backed (no fault, no exit).
/// A nested walk of a guest page of g levels' reads over host pages of h reads makes
/// (g + 1)(h + 1) - 1 references (4K: 4 reads, 2M: 3, 1G: 2, in 4-level tables). The
/// TLB entry is the smaller of the two pages, so:
/// - guest 2M, host 4K: page 0's entry is 4K (splintered), page 1 misses: (3+1)(4+1)-1
///   = 19; page 512 misses: 19. 2 walks, 38 references, 2 splintered fills;
/// - guest 4K, host 2M: both miss, (4+1)(3+1)-1 = 19 each: 38, none splintered;
/// - both 2M: page 1 hits page 0's 2M entry; page 512: (3+1)(3+1)-1 = 15: 1 walk;
/// - guest 4K, host 1G: (4+1)(2+1)-1 = 14 each: 28;
/// - guest 2M, host 1G: the guest's 2M page is the entry: page 1 hits; (3+1)(2+1)-1 =
///   11 for page 512.
#[test]
fn huge_pages_in_either_dimension_shorten_the_walk_and_the_smaller_page_fills_the_tlb() {
    let guest_2m = "[os.huge_pages]\npolicy = \"always\"\n";
    let host =
        |size: &str| format!("[virt.host.huge_pages]\npolicy = \"always\"\nsizes = [\"{size}\"]\n");
    let cases = [
        ("guest 2M, host 4K", guest_2m.to_string(), 2, 38, 2),
        ("guest 4K, host 2M", host("2M"), 2, 38, 0),
        ("both 2M", format!("{guest_2m}{}", host("2M")), 1, 15, 0),
        ("guest 4K, host 1G", host("1G"), 2, 28, 0),
        (
            "guest 2M, host 1G",
            format!("{guest_2m}{}", host("1G")),
            1,
            11,
            0,
        ),
    ];
    for (what, extra, walks, refs, splintered) in cases {
        let t = run_populated(&extra, "0 1 512");
        assert_eq!(u(&t, "/walks/walks"), walks, "{what}");
        assert_eq!(u(&t, "/walks/pte_reads"), refs, "{what}");
        assert_eq!(u(&t, "/virt/splintered_fills"), splintered, "{what}");
        assert_eq!(u(&t, "/virt/exits/ept_violation"), 0, "{what}");
        assert_eq!(u(&t, "/minor_faults"), 0, "{what}");
        assert_eq!(u(&t, "/translation_cycles/pte"), refs * DRAM, "{what}");
    }
}

/// A populating `mmap` writes guest page-table pages outside any guest fault: the host
/// backs them at the event, where the guest kernel writes them, as it backs the pages
/// the event zeroes. `SYSTEM`, an `mmap` of pages 0 and 1 with `populate` at the start,
/// then pages 0 and 1. At the event: page 0's walk names the root (backed when the
/// address space was made), and the level-3, -2 and -1 tables the guest just built (3
/// EPT violations), then its data page (1); page 1: the same tables (backed), its data
/// page (1). So 5 EPT violations at the event, 5 (X + F) cycles, the event's (the core's
/// time, in `os_events.event_cycles` beside the guest's own populating work, which a
/// native run of the same machine measures). Then both accesses walk a warm machine:
/// (4 + 1)(4 + 1) - 1 = 24 references each, no exit, no fault on an access (the event
/// mapped both pages as first touches do: 2 minor faults, at the event, as Linux counts
/// `MAP_POPULATE`'s). (Backed at their first walk instead, the tables cost 3 exits on
/// page 0's walks: 5 walks, 2 EPT violations at the event.)
#[test]
fn a_populating_mmap_backs_the_guest_tables_it_writes_at_the_event() {
    let w = "name = \"pop\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1\"\n\
             [[event]]\nat = 0\nkind = \"mmap\"\noffset = \"0\"\nlen = \"8KiB\"\npopulate = true\n";
    let run = |system: &str| {
        result(&[("sys.toml", system), ("w.toml", w)], &RUN_FILES)["stats"]["total"].clone()
    };
    let t = run(SYSTEM);
    assert_eq!(u(&t, "/virt/event_ept_violations"), 5);
    assert_eq!(u(&t, "/virt/event_cycles"), 5 * (X + F));
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 0);
    assert_eq!(u(&t, "/translation_cycles/fault"), 0);
    assert_eq!(u(&t, "/minor_faults"), 2);
    assert_eq!(u(&t, "/walks/walks"), 2);
    assert_eq!(u(&t, "/walks/pte_reads"), 2 * 24);
    let native = run(SYSTEM.split("[virt]").next().unwrap());
    assert!(native.get("virt").is_none());
    assert_eq!(
        u(&t, "/os_events/event_cycles"),
        u(&native, "/os_events/event_cycles") + 5 * (X + F)
    );
}

/// A fork writes the child's tables (its own root and, for every page it shares with
/// its parent, the tables on the way): the host backs them at the fork. `SYSTEM`,
/// reads of pages 0 1 0 1, a fork after the first two accesses whose child reads 0 1
/// on the same core. Before the fork, as in the first test: page 0 (2 walks, 29
/// references, 4 EPT violations inside its fault), page 1 (2 walks, 44 references, 1).
/// The fork makes the child's root and its level-3, -2 and -1 tables (4 new guest
/// frames): the child's walk of address 0 names its root (1 EPT violation), its walk of
/// page 0 the other three (3), page 1 nothing new: 4 EPT violations at the fork,
/// 4 (X + F) cycles. After it the parent's entries are flushed (the fork write-protects
/// its pages): pages 0 and 1 walk again, 24 references each; the child's two reads walk
/// too (a new address space), 24 each, with no exit (backed at their first walk
/// instead, the child's tables would cost 4 exits there). In all: 8 walks, 29 + 44 +
/// 4 x 24 = 169 references, 5 exits on the translation path, 2 guest faults.
#[test]
fn a_fork_backs_the_childs_tables_at_the_fork() {
    let w = "name = \"fork\"\nwrite_fraction = 0.0\n[generator]\nkind = \"refs\"\n\
             refs = \"0 1 0 1\"\n[[event]]\nat = 2\nkind = \"fork\"\nchild_accesses = 2\n";
    let v = result(&[("sys.toml", SYSTEM), ("w.toml", w)], &RUN_FILES);
    let t = &v["stats"]["total"];
    assert_eq!(u(t, "/os_events/fork_calls"), 1);
    assert_eq!(u(t, "/virt/event_ept_violations"), 4);
    assert_eq!(u(t, "/virt/event_cycles"), 4 * (X + F));
    assert_eq!(u(t, "/virt/exits/ept_violation"), 5);
    assert_eq!(u(t, "/minor_faults"), 2);
    assert_eq!(u(t, "/walks/walks"), 8);
    assert_eq!(u(t, "/walks/pte_reads"), 169);
}

/// Per core of a two-vCPU run of `skylake-vm` (its `[shootdown]` costs: INVLPG 400) where
/// thread 0 unmaps one page at its accesses 6,000, 12,000 and 18,000 of 20,000, thread 1
/// runs the same loop over the same 2 MiB, under `scheme` with `threads` host threads per
/// core and a host quantum of 10^9 cycles.
fn two_vcpus(scheme: &str, threads: u32) -> Vec<serde_json::Value> {
    let sets = [
        "sim.cores=2".to_string(),
        "os.sched.threads=2".into(),
        "sim.warmup_accesses=0".into(),
        format!("virt.shootdown.scheme=\"{scheme}\""),
        format!("virt.host_sched.threads_per_core={threads}"),
        "virt.host_sched.quantum_cycles=1000000000".into(),
    ];
    let v = on_preset("skylake-vm", UNMAPPER, &sets);
    v["stats"]["cores"].as_array().unwrap().clone()
}

/// The two-vCPU virtual-IPI stall, end to end. With 2 host threads per core, vCPU 1 sits
/// at position 1 of its core's runqueue: preempted from the start until its first slice,
/// Q + s = 10^9 + 8,000 cycles, while vCPU 0 (position 0) runs its whole stream inside
/// its first slice. So each of vCPU 0's three shootdowns finds vCPU 1 preempted
/// (`virt::vipi`'s model, its defaults: pv check 30, exit 700, entry 700, hypercall
/// 1,100, per vCPU 300, flush at entry 800):
/// - `pv_flush`: no IPI; the initiator flushes locally (400) and checks the flag (30):
///   3 x 430 = 1,290 cycles; vCPU 1 takes 3 flushes at its entry, 3 x 800;
/// - `broadcast`: 400 + one hypercall exit + decode + one vCPU + entry (700 + 1,100 +
///   300 + 700 = 2,800): 3 x 3,200 = 9,600; the same 3 flushes at entry;
/// - `exit`: the initiator waits for vCPU 1's acknowledgement, after it resumes near 10^9:
///   more than 9 x 10^8 cycles.
///
/// With a core each (1 thread per core) nobody is preempted and nothing is deferred.
#[test]
fn a_preempted_vcpu_stalls_ipi_shootdowns_but_not_paravirtual_flushes() {
    let q_s = 1_000_008_000;
    for (scheme, initiator, exits, hypercalls) in
        [("pv_flush", 3 * 430, 0, 0), ("broadcast", 3 * 3_200, 0, 3)]
    {
        let c = two_vcpus(scheme, 2);
        assert_eq!(
            u(&c[0], "/shootdown/initiator_cycles"),
            initiator,
            "{scheme}"
        );
        assert_eq!(u(&c[0], "/virt/vipi_shootdowns"), 3, "{scheme}");
        assert_eq!(u(&c[0], "/virt/vipi_send_exits"), exits, "{scheme}");
        assert_eq!(
            u(&c[0], "/virt/vipi_hypercall_exits"),
            hypercalls,
            "{scheme}"
        );
        assert_eq!(u(&c[0], "/virt/preemptions"), 0, "{scheme}");
        assert_eq!(u(&c[1], "/virt/preemptions"), 1, "{scheme}");
        assert_eq!(u(&c[1], "/virt/preempted_cycles"), q_s, "{scheme}");
        assert_eq!(u(&c[1], "/virt/vipi_entry_flushes"), 3, "{scheme}");
        assert_eq!(u(&c[1], "/shootdown/remote_cycles"), 3 * 800, "{scheme}");
        assert_eq!(u(&c[1], "/virt/vipi_kicks"), 0, "{scheme}");
    }
    let c = two_vcpus("exit", 2);
    assert!(u(&c[0], "/shootdown/initiator_cycles") > 900_000_000);
    assert_eq!(u(&c[1], "/virt/vipi_entry_flushes"), 0);
    for scheme in ["exit", "pv_flush", "broadcast"] {
        let c = two_vcpus(scheme, 1);
        for core in &c {
            assert_eq!(u(core, "/virt/preemptions"), 0, "{scheme}");
            assert_eq!(u(core, "/virt/vipi_entry_flushes"), 0, "{scheme}");
        }
        assert_eq!(u(&c[0], "/virt/vipi_shootdowns"), 3, "{scheme}");
    }
}

/// The guest OS runs inside the VM as it runs natively: a fork, the copy-on-write faults
/// that follow, an mprotect and its protection faults count exactly as on the native
/// machine (the reference here: the same workload on `skylake`); only translation
/// changes. The test build checks every TLB hit against the guest's translation composed
/// with the host's, so a stale gVA → hPA entry after a COW copy or a protection change
/// would fail the run.
#[test]
fn fork_copy_on_write_and_mprotect_work_inside_the_vm_as_natively() {
    let w = "name = \"f\"\nseed = 1\nwrite_fraction = 1.0\n[generator]\nkind = \"refs\"\n\
             refs = \"(0 1 2 3 4 5 6 7)x16 (0 1 2 3)x4\"\n\
             [[event]]\nat = 64\nkind = \"fork\"\nchild_accesses = 64\n\
             [[event]]\nat = 100\nkind = \"mprotect\"\noffset = 0\nlen = \"16KiB\"\nprot = \"r\"\n";
    let sets = ["sim.warmup_accesses=0".to_string()];
    let run = |preset: &str| on_preset(preset, w, &sets)["stats"]["total"].clone();
    let (native, vm) = (run("skylake"), run("skylake-vm"));
    for key in [
        "/minor_faults",
        "/os_events/fork_calls",
        "/os_events/cow_faults",
        "/os_events/cow_reuses",
        "/os_events/protection_faults",
        "/accesses",
    ] {
        assert_eq!(u(&vm, key), u(&native, key), "{key}");
    }
    assert!(u(&vm, "/os_events/cow_faults") > 0 && u(&vm, "/os_events/protection_faults") > 0);
    assert!(u(&vm, "/virt/exits/ept_violation") > 0);
    assert!(native.get("virt").is_none(), "no virt section natively");
}

/// `mmusim explain` shows the nested walk the simulator makes: on the cold machine of
/// the first test (no caches), the address's two walks (as derived there: a guest fault,
/// inside which the host backs the three new tables and the data page, four EPT
/// violations; then the walk that completes), the last with its 24 references: 16 host
/// reads for the guest entries, 4 guest entry reads, 4 host reads for the data's gPA;
/// and the guest- and host-physical addresses.
#[test]
fn explain_shows_each_reference_of_the_nested_walks() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("sys.toml"), SYSTEM).unwrap();
    let (code, out, err) = mmusim_bounded(
        Some(d.path()),
        &[
            "explain",
            "-c",
            "sys.toml",
            // explain checks the default workload (4 GiB) fits: more memory, same layout.
            "--set",
            "os.phys_mem=\"8GiB\"",
            "--set",
            "virt.host.phys_mem=\"16GiB\"",
            "0x1000000678",
        ],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.matches("EPT violation: a VM exit").count(), 4, "{out}");
    assert_eq!(out.matches("Page fault: the OS maps").count(), 1, "{out}");
    assert!(!out.contains("Walk 3:"), "{out}");
    let last = out.split("Walk 2:").nth(1).expect("a second walk");
    let last = last.split("Nested walk 2 ends").next().unwrap();
    let reads: Vec<&str> = last
        .lines()
        .filter(|l| l.trim_start().starts_with("read "))
        .collect();
    assert_eq!(reads.len(), 24, "{last}");
    assert_eq!(
        reads.iter().filter(|l| l.contains("for the guest")).count(),
        16
    );
    assert_eq!(
        reads
            .iter()
            .filter(|l| l.contains("guest") && l.contains(" entry "))
            .count(),
        4
    );
    assert_eq!(
        reads
            .iter()
            .filter(|l| l.contains("for the data's gPA"))
            .count(),
        4
    );
    assert!(out.contains("Guest-physical address 0x"), "{out}");
    assert!(out.contains("Host-physical address 0x"), "{out}");
}

/// Host-initiated flushes, counted exactly. `SYSTEM` with two vCPUs (two threads of one
/// process, one per core, no other host thread: a vCPU is always running), guest pages of
/// 2M (`always`) and the host's `promote` policy with a threshold of 2 (a 2 MiB region of
/// guest-physical memory collapses into one 2M host page when its second 4K page is
/// backed; collapse, copy and zero costs 0 here). Both threads run pages 0, 512, 1024
/// (three 2 MiB guest regions), twice.
///
/// Guest-physical layout (frames from 0, lowest first): the root at 0 (backed when the
/// address space was made: host region 0 holds 1 page); the first guest fault takes the
/// lowest free 2M block for its data (2 MiB) and two 4K tables next to the root (level 3
/// and level 2: a 2M page has no level-1 table); the next faults take the data blocks at
/// 4 and 6 MiB. Inside each guest fault the host backs what the handler touched:
/// - page 0's fault: level 3 (region 0's second page: collapse), level 2 (inside the
///   new 2M host page: nothing), the data at 2 MiB (region 1's first page, then its second:
///   collapse; the rest is inside the 2M page): 3 EPT violations, 2 collapses, and one
///   host flush (one per access, however many collapses);
/// - pages 512 and 1024: their data blocks' first two host pages, the second collapsing:
///   2 EPT violations, 1 collapse and 1 host flush each.
///
/// Who faults: core 0 goes first (equal clocks: the lower id) and faults page 0, its clock
/// jumping past 3 (X + F) = 930,000 cycles. Core 1 runs meanwhile: page 0 walks (mapped),
/// page 512 faults (2 (X + F): its clock near 624,000, still behind core 0's; its flush stops
/// it and is delivered), then page 1024 faults and its clock passes core 0's. After that
/// everything is mapped and collapsed. Each flush goes to the other vCPU, which is alive
/// and running: a kick (a VM exit) and a flush of its whole guest context, taken at its
/// next access boundary, costing it exit + flush at entry + entry = 700 + 800 + 700 =
/// 2,200 cycles (`[virt.shootdown]` defaults). So:
/// - core 0: 3 EPT violations, 1 host flush sent, 2 taken, 2 kicks;
/// - core 1: 4 EPT violations, 2 sent, 1 taken, 1 kick;
/// - 4 collapses (host 2M pages: the host backs no 2M page otherwise); host fault cycles
///   7 F; no spurious EPT violation (no host walk cache or nested TLB here: every host
///   walk reads the current host table, so none can go through a replaced one).
///
/// Without the flush path no flush is sent, taken or kicked; delivered twice, each
/// kick and its wait come twice and the first fault's clock moves (checked: the counts
/// above fail either way). The test build
/// also checks every TLB hit against the composed translation: a gVA → hPA entry kept
/// past a collapse (its 4K host frame freed) would fail the run.
#[test]
fn a_host_collapse_flushes_the_vm_on_every_vcpu() {
    let w = "name = \"regions\"\n[generator]\nkind = \"refs\"\nrefs = \"0 512 1024 0 512 1024\"\n";
    let v = result(
        &[("sys.toml", SYSTEM), ("w.toml", w)],
        &[
            "run",
            "-q",
            "--config",
            "sys.toml",
            "--workload",
            "w.toml",
            "--set",
            "sim.cores=2",
            "--set",
            "os.sched.threads=2",
            "--set",
            "os.huge_pages.policy=\"always\"",
            "--set",
            "virt.host.huge_pages.policy=\"promote\"",
            "--set",
            "virt.host.huge_pages.promote_threshold=2",
        ],
    );
    let cores = v["stats"]["cores"].as_array().unwrap();
    // (EPT violations, guest faults, flushes sent, flushes taken = kicks) per core.
    for (c, (ept, faults, sent, taken)) in cores.iter().zip([(3, 1, 1, 2), (4, 2, 2, 1)]) {
        assert_eq!(u(c, "/virt/exits/ept_violation"), ept);
        assert_eq!(u(c, "/minor_faults"), faults);
        assert_eq!(u(c, "/huge_pages/faults_2m"), faults);
        assert_eq!(u(c, "/virt/host_flushes"), sent);
        assert_eq!(u(c, "/virt/host_flushes_taken"), taken);
        assert_eq!(u(c, "/virt/host_kicks"), taken);
        assert_eq!(u(c, "/virt/host_flush_remote_cycles"), taken * 2_200);
        assert_eq!(u(c, "/virt/spurious_ept_violations"), 0);
        assert_eq!(u(c, "/virt/exit_cycles"), ept * X);
        assert_eq!(u(c, "/virt/host_fault_cycles"), ept * F);
        // Host flushes are the hypervisor's, not guest shootdowns.
        assert_eq!(u(c, "/shootdown/full_flushes"), 0);
        assert_eq!(u(c, "/shootdown/shootdowns"), 0);
    }
    assert_eq!(u(&v["stats"]["host"], "/backed_2m_pages"), 4);
}

/// VPIDs (`virt.vpids`): two host threads share each core (quantum 10^5 cycles), the
/// unmapper of `two_vcpus` on both vCPUs. With 2 VPIDs per core a preempted vCPU finds
/// its entries on return (no flush); with 1, another thread took its VPID, so every
/// resume flushes: flushes = preemptions; with none, every VM exit flushes too: the
/// resumes, the EPT violations and the initiator's shootdowns (each exits to send).
#[test]
fn vcpus_keep_their_tlb_entries_only_with_enough_vpids() {
    let run = |vpids: u32| {
        let sets = [
            "sim.warmup_accesses=0",
            "sim.cores=2",
            "os.sched.threads=2",
            "virt.host_sched.threads_per_core=2",
            "virt.host_sched.quantum_cycles=100000",
            &format!("virt.vpids={vpids}"),
        ];
        let v = on_preset("skylake-vm", UNMAPPER, &sets);
        v["stats"]["cores"].as_array().unwrap().clone()
    };
    for c in run(2) {
        assert!(u(&c, "/virt/preemptions") > 0);
        assert_eq!(u(&c, "/virt/vpid_flushes"), 0);
    }
    for c in run(1) {
        assert_eq!(u(&c, "/virt/vpid_flushes"), u(&c, "/virt/preemptions"));
    }
    for c in run(0) {
        let exits = u(&c, "/virt/exits/ept_violation") + u(&c, "/virt/vipi_shootdowns");
        assert_eq!(
            u(&c, "/virt/vpid_flushes"),
            u(&c, "/virt/preemptions") + exits
        );
    }
}

/// A hashed host table (elastic cuckoo, nested elastic cuckoo paging): each host walk
/// that reads the table also probes the table's own walk cache (latency 50 here), as a
/// native walk does, so with no other cache the walk-cache cycles are exactly the host
/// walks times 50; and references are filed by the dimension they serve, not by level
/// (a hashed table has none): host reads and guest entry reads add up to every read.
#[test]
fn a_cuckoo_host_charges_its_walk_cache_and_files_references_by_dimension() {
    let system = SYSTEM.replace(
        "[virt.host_table]\nkind = \"radix\"\nlevels = 4\n",
        "[virt.host_table]\nkind = \"cuckoo\"\nwalk_cache_entries = 64\nwalk_cache_ways = 4\nwalk_cache_latency = 50\n",
    );
    assert_ne!(system, SYSTEM, "the host table was replaced");
    let v = result(&[("sys.toml", &system), ("w.toml", WORKLOAD)], &RUN_FILES);
    let t = &v["stats"]["total"];
    let host_walks = u(t, "/virt/host_lookups") - u(t, "/virt/ntlb_hits");
    assert!(host_walks > 0);
    assert_eq!(u(t, "/translation_cycles/walk_cache"), host_walks * 50);
    let host_refs = u(t, "/virt/host_refs_for_guest_entries") + u(t, "/virt/host_refs_for_data");
    assert!(u(t, "/virt/host_refs_for_data") > 0);
    assert_eq!(
        host_refs + u(t, "/virt/guest_entry_refs"),
        u(t, "/walks/pte_reads")
    );
    // The guest is radix: its entry reads are the 13 of the first test (the same guest
    // walks; only the host's side differs).
    assert_eq!(u(t, "/virt/guest_entry_refs"), 13);
}

/// Determinism: a virtualized run with everything that could depend on order (four
/// vCPUs sharing cores with host threads, virtual-IPI shootdowns, host THP collapses and
/// their flushes, an NTLB) gives the same bytes twice.
#[test]
fn virtualized_runs_are_deterministic() {
    let w = "name = \"unmapper\"\naccesses = 8_000\nseed = 1\nwrite_fraction = 0.2\n\
             [generator]\nkind = \"sequential\"\nfootprint = \"8MiB\"\nstride = 4096\n\
             [[event]]\nat = 2000\nevery = 2000\nkind = \"munmap\"\nprocess = 0\noffset = 0\nlen = \"16KiB\"\n";
    let mut args = vec!["run", "-q", "-c", "skylake-vm", "-w", "w.toml"];
    for s in [
        "sim.cores=4",
        "os.sched.threads=4",
        "virt.host_sched.threads_per_core=2",
        "virt.host_sched.quantum_cycles=50000",
        "virt.shootdown.scheme=\"pv_flush\"",
        "virt.host.huge_pages.policy=\"promote\"",
        "virt.host.huge_pages.promote_threshold=8",
        "virt.ntlb={entries=16, latency=1}",
    ] {
        args.extend(["--set", s]);
    }
    let run = || result_text(&[("w.toml", w)], &args);
    let (a, b) = (run(), run());
    assert!(!a.is_empty());
    assert!(a == b, "two runs of the same config differ");
}

/// Spurious EPT violations: with host `promote` (a region collapses once 2 of its pages
/// are backed) two vCPUs over 64 MiB keep collapsing regions the other has cached in its
/// EPT walk caches; until the hypervisor's kick reaches it, the other vCPU's host walk
/// can start in a table the collapse replaced and find nothing: an EPT violation on a
/// gPA the host maps. The hypervisor only pays the exit (the host table has the page),
/// the vCPU drops its stale host caches and walks again. Before that path existed the
/// host faulted the page a second time and the run failed ("already inside a 2M page").
/// Every exit, spurious or not, costs `virt.exit_cycles` (1,400 in `skylake-vm`), and the
/// translation cycles are still the sum of their parts.
#[test]
fn a_walk_through_stale_host_caches_is_a_spurious_ept_violation() {
    let w = "name = \"u\"\naccesses = 20_000\nseed = 3\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n";
    let sets = [
        "sim.warmup_accesses=0",
        "sim.cores=2",
        "os.sched.threads=2",
        "virt.host.huge_pages.policy=\"promote\"",
        "virt.host.huge_pages.promote_threshold=2",
    ];
    let v = on_preset("skylake-vm", w, &sets);
    let t = &v["stats"]["total"];
    let spurious = u(t, "/virt/spurious_ept_violations");
    assert!(spurious > 0, "no spurious violation: {}", t["virt"]);
    assert!(u(t, "/virt/host_flushes") > 0);
    assert_eq!(
        u(t, "/virt/exit_cycles"),
        u(t, "/virt/exits/ept_violation") * 1_400
    );
    crate::assert_parts_sum(t);
}

/// Host page migration (`host_migrate`: host NUMA balancing or compaction of guest
/// memory). One vCPU, pages 0 1 0 1, the host migrating page 0's host page after the
/// second access. Accesses 1 and 2 are the cold VM's (4 walks, 73 references, 5 EPT
/// violations, 2 guest faults). The event: an exit (X) and the host's copy of one 4 KiB
/// page (C = `cow_copy_4k_cycles`), the event's time; the host entry changed, so the
/// VM's cached translations go (TLB, walk caches, host caches). Accesses 3 and 4 miss
/// the TLB and walk again, 24 references each (every table and page backed), no fault:
/// 6 walks, 121 references, still 5 EPT violations.
///
/// Two vCPUs (threads of one process over pages 0 and 1, the second running long enough
/// to be running at the event, cheap host faults so the cold start is short): the flush
/// reaches the other vCPU by a kick, and each vCPU walks its two pages once more than
/// without the event, 24 references each.
#[test]
fn a_host_migration_moves_the_page_and_flushes_the_vm_on_every_vcpu() {
    const C: u64 = 2_000;
    // The copy cost goes before the host section's first key.
    let sys = SYSTEM.replacen(
        "[virt.host]\nphys_mem",
        &format!("[virt.host]\ncow_copy_4k_cycles = {C}\nphys_mem"),
        1,
    );
    assert!(sys.contains("cow_copy_4k_cycles"));
    let event =
        "[[event]]\nat = 2\nkind = \"host_migrate\"\nprocess = 0\noffset = 0\nlen = \"4KiB\"\n";
    let refs = "name = \"hm\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0 1\"\n";
    let w = format!("{refs}{event}");
    let t = result(&[("sys.toml", &sys), ("w.toml", &w)], &RUN_FILES)["stats"]["total"].clone();
    assert_eq!(u(&t, "/walks/walks"), 6);
    assert_eq!(u(&t, "/walks/pte_reads"), 121);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 5);
    assert_eq!(u(&t, "/minor_faults"), 2);
    assert_eq!(u(&t, "/virt/host_migrations"), 1);
    assert_eq!(u(&t, "/virt/event_cycles"), X + C);
    assert_eq!(u(&t, "/os_events/event_cycles"), X + C);
    assert_eq!(u(&t, "/virt/host_flushes"), 1);

    let long = "name = \"hm2\"\naccesses = 200000\n[generator]\nkind = \"sequential\"\n\
                footprint = \"8KiB\"\nstride = 4096\n";
    let two = |w: &str| {
        let args: Vec<&str> = RUN_FILES
            .iter()
            .copied()
            .chain(["--set", "sim.cores=2", "--set", "os.sched.threads=2"])
            .chain(["--set", "virt.host.minor_fault_cycles=1000"])
            .collect();
        let v = result(&[("sys.toml", &sys), ("w.toml", w)], &args);
        v["stats"]["cores"].as_array().unwrap().clone()
    };
    let without = two(long);
    let with = two(&format!("{long}{}", event.replace("at = 2", "at = 100")));
    for (a, b) in without.iter().zip(&with) {
        assert_eq!(u(b, "/walks/walks"), u(a, "/walks/walks") + 2);
        assert_eq!(u(b, "/walks/pte_reads"), u(a, "/walks/pte_reads") + 48);
    }
    assert_eq!(u(&with[0], "/virt/host_flushes"), 1);
    assert_eq!(u(&with[1], "/virt/host_flushes_taken"), 1);
    assert_eq!(u(&with[1], "/virt/host_kicks"), 1);
}

/// A hashed guest (elastic cuckoo, 3 ways) over the 4-level host: one access to a page
/// a populating mmap mapped (its table lines and data page backed then: no exit). The
/// guest probe reads the 3 ways' lines together, and each way's line is at a gPA that
/// needs its own host walk first (4 reads): 3 chains of 4 + 1 reads side by side, then
/// the final gPA's host walk (4): 19 references, in 5 + 4 = 9 dependent DRAM reads
/// (900 cycles; a walk that made the ways wait for one another would take 19).
#[test]
fn a_hashed_guests_ways_walk_their_host_dimension_side_by_side() {
    let radix = "[page_table]\nkind = \"radix\"\nlevels = 4\n";
    assert!(SYSTEM.contains(radix));
    let sys = SYSTEM.replacen(radix, "[page_table]\nkind = \"cuckoo\"\n", 1);
    let w = "name = \"ck\"\n[generator]\nkind = \"refs\"\nrefs = \"0\"\n\
             [[event]]\nat = 0\nkind = \"mmap\"\noffset = 0\nlen = \"4KiB\"\npopulate = true\n";
    let t = result(&[("sys.toml", &sys), ("w.toml", w)], &RUN_FILES)["stats"]["total"].clone();
    assert_eq!(u(&t, "/walks/walks"), 1);
    assert_eq!(u(&t, "/walks/pte_reads"), 19);
    assert_eq!(u(&t, "/virt/guest_entry_refs"), 3);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 0);
    assert_eq!(u(&t, "/translation_cycles/pte"), 9 * DRAM);
}
