//! Shadow paging end to end (`virt.mode = "shadow"`, issue 18 item 6): the exact walks,
//! references, VM exits by cause, shadow fills and updates and cycles of a cold VM's
//! first accesses, derived by hand below; a munmap's trapped page-table write; hidden
//! faults after a populating mmap; CR3-write exits at context switches; and the
//! accounting invariant in each.
//!
//! The machine is `virt.rs`'s (one core, one L1 TLB of latency 1 holding every size, no
//! walk caches, no data caches so that every read costs DRAM = 100 cycles, 4-level
//! guest radix table, 4-level host table, sequential frames, 4K pages everywhere) with
//! `mode = "shadow"`. Costs chosen apart so that each count shows in a total: a guest
//! fault G = 1,000, a VM exit X = 10,000, a host fault F = 300,000, a shadow fill
//! S = 30,000, a shadow update U = 7,000.
//!
//! The shadow table of the address space is a 4-level radix table (the guest's levels)
//! whose root is built at the first TLB miss; a walk of it reads one entry per level
//! from the root down to the first not-present entry (1 read when the root's entry is
//! empty, 4 when only the leaf entry is missing), as a native walk does.

use super::runs::inputs;
use mmusim::report::RunReport;
use mmusim::run::simulate;

/// The cold machine of `virt.rs` (`super::virt::SYSTEM`), in shadow mode with its fill
/// and update costs.
fn system() -> String {
    let s = super::virt::SYSTEM.replace(
        "[virt]\nexit_cycles = 10000\n",
        "[virt]\nmode = \"shadow\"\nexit_cycles = 10000\nshadow_fill_cycles = 30000\nshadow_update_cycles = 7000\n",
    );
    assert!(s.contains("mode = \"shadow\""), "the [virt] line moved");
    s.replace("name = \"vm-cold\"", "name = \"vm-shadow-cold\"")
}

const DRAM: u64 = 100;
const G: u64 = 1_000;
const X: u64 = 10_000;
const F: u64 = 300_000;
const S: u64 = 30_000;
const U: u64 = 7_000;

/// The report of `workload` on `SYSTEM` (with `sets`), as JSON (`stats`), after checking
/// the accounting invariant on every core and in total.
fn run(workload: &str, sets: &[&str]) -> serde_json::Value {
    run_with("", workload, sets)
}

/// [`run`] on `SYSTEM` with `extra` config text appended.
fn run_with(extra: &str, workload: &str, sets: &[&str]) -> serde_json::Value {
    let system = format!("{}{extra}", system());
    let r: RunReport = simulate(&inputs(Some(&system), Some(workload), sets), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("{e}"));
    for c in &r.stats.cores {
        c.check_accounting().unwrap();
    }
    r.stats.total.check_accounting().unwrap();
    serde_json::to_value(&r).unwrap()["stats"].clone()
}

fn u(v: &serde_json::Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(|x| x.as_u64())
        .unwrap_or_else(|| panic!("{path} in {v}"))
}

/// Pages 0, 0, 1 (the second access hits the TLB). Access 1 (page 0):
///   1. the shadow root's entry is empty: 1 read, #PF intercept (X); the guest does not
///      map page 0, so the fault is injected: the guest OS maps it (G; its tables and
///      the data page); its write of the new entry traps (X) and the shadow update (U)
///      fills the shadow entry, backing the data page's gPA first (F), which builds the
///      shadow's level-3, 2 and 1 tables;
///   2. the walk again: 4 reads, done.
///
/// Access 3 (page 1, under the same guest and shadow leaf tables):
///   1. 4 reads to the not-present shadow leaf entry, intercept (X), injected guest
///      fault (G), trapped write (X) and update (U) with a host fault for the new data
///      page (F);
///   2. 4 reads, done.
///
/// In all: 4 walks, 1 + 4 + 4 + 4 = 13 references (a nested walk makes 24 per cold
/// walk: `virt.rs`), 2 intercepts, 2 trapped writes, 2 updates, no fill (no hidden
/// fault: the guest never maps before the hypervisor sees it), 2 host faults, 2 guest
/// faults, no EPT violation. Shadow tables: root, L3, L2, L1 = 4 tables of 512 8-byte
/// entries; the host backs the 2 data pages only (the guest's own table pages are
/// read by the hypervisor in software, never by a walk).
#[test]
fn a_cold_shadow_vm_walks_one_dimension_and_exits_exactly_as_derived_by_hand() {
    let st = run(
        "name = \"three\"\n[generator]\nkind = \"refs\"\nrefs = \"0 0 1\"\n",
        &[],
    );
    let t = &st["total"];
    assert_eq!(u(t, "/walks/walks"), 4);
    assert_eq!(u(t, "/walks/pte_reads"), 13);
    assert_eq!(u(t, "/virt/nested_walks"), 0);
    assert_eq!(u(t, "/virt/shadow/exits/pf_intercept"), 2);
    assert_eq!(u(t, "/virt/shadow/exits/pt_write"), 2);
    assert_eq!(u(t, "/virt/shadow/exits/cr3_write"), 0);
    assert_eq!(u(t, "/virt/exits/ept_violation"), 0);
    assert_eq!(u(t, "/virt/shadow/fills"), 0);
    assert_eq!(u(t, "/virt/shadow/updates"), 2);
    assert_eq!(u(t, "/virt/shadow/host_faults"), 2);
    assert_eq!(u(t, "/minor_faults"), 2);
    assert_eq!(u(t, "/translation_cycles/pte"), 13 * DRAM);
    assert_eq!(u(t, "/translation_cycles/walk_cache"), 0);
    assert_eq!(u(t, "/translation_cycles/tlb"), 3);
    assert_eq!(u(t, "/virt/exit_cycles"), 4 * X);
    assert_eq!(u(t, "/virt/host_fault_cycles"), 2 * F);
    assert_eq!(u(t, "/virt/shadow/work_cycles"), 2 * U);
    let fault = 2 * (X + G + X + U + F);
    assert_eq!(u(t, "/translation_cycles/fault"), fault);
    assert_eq!(u(t, "/translation_cycles/total"), 3 + 13 * DRAM + fault);
    assert_eq!(u(&st, "/host/shadow_table_bytes"), 4 * 512 * 8);
    assert_eq!(u(&st, "/host/backed_bytes"), 2 * 4096);
}

/// A populating mmap of pages 0 and 1 before the first access: the guest maps both at
/// the event without trapping (its new entries land in tables the hypervisor has not
/// shadowed), and zeroing them and writing the tables on the way backs those gPAs
/// (event work, not translation; a shadow machine backs no root when it is made). Then
/// pages 0, 1: each misses the shadow table (1 read, then 4 for page 1), the intercept
/// (X) finds the guest's translation: a hidden fault, filled (S) without a host fault;
/// the walk again reads 4. In all: 4 walks, 13 references, 2 intercepts, 2 fills, no
/// trapped write, no guest fault on the translation path.
#[test]
fn pages_the_guest_mapped_without_trapping_are_hidden_faults_filled_by_the_hypervisor() {
    let st = run(
        "name = \"populated\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1\"\n\
         [[event]]\nat = 0\nkind = \"mmap\"\noffset = 0\nlen = \"8KiB\"\npopulate = true\n",
        &[],
    );
    let t = &st["total"];
    assert_eq!(u(t, "/walks/walks"), 4);
    assert_eq!(u(t, "/walks/pte_reads"), 13);
    assert_eq!(u(t, "/virt/shadow/exits/pf_intercept"), 2);
    assert_eq!(u(t, "/virt/shadow/fills"), 2);
    assert_eq!(u(t, "/virt/shadow/exits/pt_write"), 0);
    assert_eq!(u(t, "/virt/shadow/host_faults"), 0);
    // The populating mmap backs the 2 pages it zeroed and the 4 guest tables it wrote
    // the entries of (root, level 3, 2 and 1): 6 EPT violations at the event.
    assert_eq!(u(t, "/virt/event_ept_violations"), 6);
    assert_eq!(u(t, "/virt/exit_cycles"), 2 * X);
    assert_eq!(u(t, "/virt/shadow/work_cycles"), 2 * S);
    assert_eq!(u(t, "/translation_cycles/fault"), 2 * (X + S));
    assert_eq!(
        u(t, "/translation_cycles/total"),
        2 + 13 * DRAM + 2 * (X + S)
    );
}

/// Pages 0, 1, then a munmap of page 0, then page 0 again. Accesses 1 and 2 are the
/// cold test's accesses 1 and 3 (5 and 8 references, each X + G + X + U + F). The
/// munmap removes one guest translation: one trapped page-table write at the event
/// (X + U, the core's time, not translation), and the shadow's entry for page 0 goes
/// (its tables stay). Access 3: the TLB entry went with the munmap; the shadow walk
/// reads 4 entries to the dropped leaf entry: intercept (X), injected guest fault (G:
/// the guest maps page 0 again, in the frame the munmap freed, the lowest free one,
/// whose gPA the host still backs: no host fault), trapped write (X) and update (U);
/// 4 reads, done. In all: 6 walks, 21 references, 3 intercepts, 4 trapped writes (1 at
/// the event), 4 updates, 2 host faults.
#[test]
fn a_munmap_is_a_trapped_page_table_write_and_drops_the_shadow_entry() {
    let st = run(
        "name = \"unmap\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0\"\n\
         [[event]]\nat = 2\nkind = \"munmap\"\noffset = 0\nlen = \"4KiB\"\n",
        &[],
    );
    let t = &st["total"];
    assert_eq!(u(t, "/walks/walks"), 6);
    assert_eq!(u(t, "/walks/pte_reads"), 21);
    assert_eq!(u(t, "/virt/shadow/exits/pf_intercept"), 3);
    assert_eq!(u(t, "/virt/shadow/exits/pt_write"), 4);
    assert_eq!(u(t, "/virt/shadow/event_pt_writes"), 1);
    assert_eq!(u(t, "/virt/shadow/updates"), 4);
    assert_eq!(u(t, "/virt/shadow/host_faults"), 2);
    assert_eq!(u(t, "/virt/shadow/event_cycles"), X + U);
    assert_eq!(u(t, "/minor_faults"), 3);
    assert_eq!(u(t, "/virt/exit_cycles"), 6 * X);
    assert_eq!(u(t, "/virt/shadow/work_cycles"), 3 * U);
    let fault = 3 * (2 * X + G + U) + 2 * F;
    assert_eq!(u(t, "/translation_cycles/fault"), fault);
    assert_eq!(u(t, "/translation_cycles/total"), 3 + 21 * DRAM + fault);
}

/// Two processes round-robin on the core: every switch between them writes CR3, which
/// traps: one exit each, charged to the switch (not translation), and each process
/// has its own shadow table (2 roots at least).
#[test]
fn every_guest_context_switch_is_a_cr3_write_exit() {
    let st = run(
        "name = \"two\"\naccesses = 200\n[generator]\nkind = \"refs\"\nrefs = \"0 1 2 3\"\n",
        &["os.sched.processes=2", "os.sched.quantum_cycles=50000"],
    );
    let t = &st["total"];
    let switches = u(t, "/sched/context_switches");
    assert!(switches >= 2, "{switches} switches");
    assert_eq!(u(t, "/virt/shadow/exits/cr3_write"), switches);
    assert_eq!(u(t, "/virt/shadow/cr3_cycles"), switches * X);
    // Each process's 4 pages: the cold test's derivation per process (2 + 2 + 2 + 2
    // walks, 1 + 4 + 4 + 4 + 4 x 4 = 29 references), the switches adding none.
    assert_eq!(u(t, "/walks/walks"), 2 * 8);
    assert_eq!(u(t, "/walks/pte_reads"), 2 * 29);
    assert_eq!(u(&st, "/host/shadow_table_bytes"), 2 * 4 * 512 * 8);
}

/// Pages 0, 1, then a fork (a child that only holds the pages), then page 0 again (a
/// load: copy-on-write does not trap it). Accesses 1 and 2 as in the munmap test. The
/// fork write-protects every parent page: a flush of the address space, which drops
/// every entry of the parent's shadow table: 2 entries, 2 trapped writes at the event
/// (2(X + U), the core's time), and the TLB flush. Access 3: the shadow walk reads 4
/// entries to the dropped leaf entry; the intercept (X) finds the guest still mapping
/// page 0 (read-only, shared with the child): a hidden fault, filled (S), no host fault
/// (the frame is backed); 4 reads. In all: 6 walks, 21 references, 3 intercepts, 1
/// fill, 4 trapped writes (2 at the event), 4 updates, 2 host faults, 2 guest faults.
#[test]
fn a_fork_drops_the_parents_shadow_entries_and_they_come_back_as_hidden_faults() {
    let st = run(
        "name = \"fork\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0\"\n\
         [[event]]\nat = 2\nkind = \"fork\"\n",
        &[],
    );
    let t = &st["total"];
    assert_eq!(u(t, "/walks/walks"), 6);
    assert_eq!(u(t, "/walks/pte_reads"), 21);
    assert_eq!(u(t, "/virt/shadow/exits/pf_intercept"), 3);
    assert_eq!(u(t, "/virt/shadow/fills"), 1);
    assert_eq!(u(t, "/virt/shadow/exits/pt_write"), 4);
    assert_eq!(u(t, "/virt/shadow/event_pt_writes"), 2);
    assert_eq!(u(t, "/virt/shadow/updates"), 4);
    assert_eq!(u(t, "/virt/shadow/event_cycles"), 2 * (X + U));
    assert_eq!(u(t, "/virt/shadow/host_faults"), 2);
    assert_eq!(u(t, "/minor_faults"), 2);
    let fault = 2 * (2 * X + G + U + F) + X + S;
    assert_eq!(u(t, "/translation_cycles/fault"), fault);
    assert_eq!(u(t, "/translation_cycles/total"), 3 + 21 * DRAM + fault);
}

/// A guest collapse under a huge host page: the shadow's 4K entries give way to one 2M
/// entry, whose mapping frees the emptied shadow leaf table, so the walk caches that
/// point at it are flushed. The guest collapses a 2 MiB region at the fault that maps
/// its second 4K page (`promote`, threshold 2, collapse C = 50,000 cycles, no copy
/// cost); the host backs guest memory with 2M pages; a PDE cache (level 2, latency 2)
/// is probed once per walk. Pages 0, 1, 0:
///   access 1: walk 1 (probe miss, 1 read: the root's entry is empty), intercept (X),
///   injected guest fault (G, page 0 as 4K), trapped write (X + U) with a host fault
///   for the gPA's 2M region (F), a 4K shadow entry; walk 2 (miss, 4 reads; the PDE
///   cache learns the shadow leaf table);
///   access 2: walk 1 (PDE hit, 1 read: page 1's leaf entry is empty), intercept (X);
///   the guest maps page 1 and collapses the region (G + C): 2 translations removed,
///   2 trapped writes (2(X + U)), page 0's shadow entry dropped; its write of the 2M
///   entry traps (X + U), the new 2M guest frame's region is backed (F), and the 2M
///   shadow entry replaces the emptied shadow leaf table (freed: walk caches and TLB
///   entries of the address space flushed); walk 2 (probe miss, 3 reads to the 2M
///   leaf);
///   access 3: a TLB hit on the 2M entry.
///
/// In all: 4 walks (4 probes), 9 references, 2 intercepts, 4 trapped writes, 4 updates,
/// 2 host faults.
#[test]
fn a_guest_collapse_under_huge_host_pages_frees_a_shadow_table_and_flushes_walk_caches() {
    let extra = "[[walker.psc]]\nname = \"pde\"\nlevel = 2\nentries = 4\nways = 4\nlatency = 2\n\
                 [os.huge_pages]\npolicy = \"promote\"\nsizes = [\"2M\"]\npromote_threshold = 2\n\
                 collapse_cycles = 50000\ncopy_4k_cycles = 0\n\
                 [virt.host.huge_pages]\npolicy = \"always\"\nsizes = [\"2M\"]\n";
    let st = run_with(
        extra,
        "name = \"collapse\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0\"\n",
        &[],
    );
    const C: u64 = 50_000;
    let t = &st["total"];
    assert_eq!(u(t, "/walks/walks"), 4);
    assert_eq!(u(t, "/walks/pte_reads"), 9);
    assert_eq!(u(t, "/walks/walk_caches/0/hits"), 1);
    assert_eq!(u(t, "/virt/shadow/exits/pf_intercept"), 2);
    assert_eq!(u(t, "/virt/shadow/exits/pt_write"), 4);
    assert_eq!(u(t, "/virt/shadow/updates"), 4);
    assert_eq!(u(t, "/virt/shadow/fills"), 0);
    assert_eq!(u(t, "/virt/shadow/host_faults"), 2);
    assert_eq!(u(t, "/tlb/0/hits"), 1);
    let fault = 6 * X + 4 * U + 2 * G + C + 2 * F;
    assert_eq!(u(t, "/translation_cycles/fault"), fault);
    assert_eq!(u(t, "/translation_cycles/walk_cache"), 4 * 2);
    assert_eq!(
        u(t, "/translation_cycles/total"),
        3 + 4 * 2 + 9 * DRAM + fault
    );
}

/// The shadow costs are range-checked under their key paths (at most 2^40 cycles, as
/// `virt.exit_cycles`), and 2^40 itself is accepted.
#[test]
fn shadow_costs_beyond_any_real_handler_are_refused_with_their_key_paths() {
    use mmusim::config::SystemConfig;
    use mmusim::loader::load;
    let problems = |fill: u64, update: u64| {
        let text = system()
            .replace(
                "shadow_fill_cycles = 30000",
                &format!("shadow_fill_cycles = {fill}"),
            )
            .replace(
                "shadow_update_cycles = 7000",
                &format!("shadow_update_cycles = {update}"),
            );
        let (cfg, _) = load::<SystemConfig>("<test>", &text, &[]).unwrap();
        cfg.validate()
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    };
    assert_eq!(problems(1 << 40, 1 << 40), Vec::<String>::new());
    assert_eq!(
        problems((1 << 40) + 1, (1 << 40) + 1),
        ["virt.shadow_fill_cycles", "virt.shadow_update_cycles"]
    );
}

/// A process that exits under shadow paging: its shadow table, holding entries for the
/// pages it had touched (0 and 1), goes back to the host whole. The exit failed the run
/// ("releasing a table that still maps a page") before the shadow entries were dropped
/// first. Afterwards no shadow table is left: 0 bytes.
#[test]
fn an_exit_releases_its_shadow_table_with_its_entries() {
    let st = run(
        "name = \"exits\"\n[generator]\nkind = \"refs\"\nrefs = \"0 1 0 1\"\n\
         [[event]]\nat = 3\nkind = \"exit\"\n",
        &[],
    );
    assert_eq!(u(&st, "/host/shadow_table_bytes"), 0);
    assert_eq!(u(&st["total"], "/virt/shadow/fills"), 0);
    assert_eq!(u(&st["total"], "/minor_faults"), 2);
}
