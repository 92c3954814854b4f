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

const SYSTEM: &str = r#"
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

/// `stats.total` of a run of the workload on `SYSTEM` plus `extra` config text.
fn run(extra: &str) -> serde_json::Value {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("sys.toml"), format!("{SYSTEM}{extra}")).unwrap();
    std::fs::write(d.path().join("w.toml"), WORKLOAD).unwrap();
    let (code, _, err) = mmusim_bounded(
        Some(d.path()),
        &[
            "run",
            "-q",
            "--config",
            "sys.toml",
            "--workload",
            "w.toml",
            "--out",
            "out",
        ],
        b"",
        Duration::from_secs(60),
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(d.path().join("out/result.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["stats"]["total"].clone()
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

/// No cache of either dimension. Access 1 (page 0), walk by walk ("h" a host read, "g" a
/// guest entry read; a host walk of a backed gPA reads 4, of an unbacked one in the
/// built region 4 as well, ending at the not-present level-1 entry):
///   1. host walk of the root's gPA: the host root's entry is not present: 1 read, EPT
///      violation (the host builds the region's tables and backs the root's page);
///   2. 4h + g(root entry: not present): 5, guest fault (L3, L2, L1 tables and the data);
///   3. 4h + g + 4h (L3 table unbacked): 9, EPT violation;
///   4. 4h + g + 4h + g + 4h (L2 table): 14, EPT violation;
///   5. ... + g + 4h (L1 table): 19, EPT violation;
///   6. ... + g + 4h (the data page): 24, EPT violation;
///   7. the cold walk of a warm machine: (4 + 1)(4 + 1) - 1 = 24, done.
///
/// 7 walks, 96 references, 5 exits, 1 guest fault. Access 2: a TLB hit. Access 3 (page
/// 1, same guest tables): 4 x (4h + g) = 20 ending at the not-present guest leaf entry
/// (guest fault), 24 ending at the new data page's host entry (EPT violation), 24 done: 3
/// walks, 68 references. In all: 10 walks, 164 references, 6 exits, 2 guest faults.
#[test]
fn a_cold_vm_walks_faults_and_exits_exactly_as_derived_by_hand() {
    let t = run("");
    assert_eq!(u(&t, "/virt/nested_walks"), 10);
    assert_eq!(u(&t, "/walks/walks"), 10);
    assert_eq!(u(&t, "/walks/pte_reads"), 164);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 6);
    assert_eq!(u(&t, "/minor_faults"), 2);
    assert_eq!(u(&t, "/virt/nested_fills"), 2);
    assert_eq!(u(&t, "/virt/splintered_fills"), 0);
    // Every reference is its own dependent read at DRAM latency.
    assert_eq!(u(&t, "/translation_cycles/pte"), 164 * DRAM);
    assert_eq!(u(&t, "/virt/exit_cycles"), 6 * X);
    assert_eq!(u(&t, "/virt/host_fault_cycles"), 6 * F);
    assert_eq!(u(&t, "/translation_cycles/fault"), 6 * (X + F) + 2 * G);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 0);
    assert_eq!(u(&t, "/translation_cycles/tlb"), 3);
    assert_eq!(
        u(&t, "/translation_cycles/total"),
        3 + 164 * DRAM + 6 * (X + F) + 2 * G
    );
    // By dimension: guest entry reads are 0+1+1+2+3+4+4 (access 1) + 4+4+4 (access 3) =
    // 27; host reads for the data's gPA: 4 in walks 6 and 7 and in the last two walks of
    // access 3 = 16; the rest are host reads for guest entries: 164 - 27 - 16 = 121.
    assert_eq!(u(&t, "/virt/guest_entry_refs"), 27);
    assert_eq!(u(&t, "/virt/host_refs_for_data"), 16);
    assert_eq!(u(&t, "/virt/host_refs_for_guest_entries"), 121);
}

/// A nested TLB (16 entries, latency 2): a host walk of a gPA page it holds makes no
/// reads; an EPT violation fills nothing. Access 1 ("n" an NTLB hit):
///   1. 1h (EV); 2. 4h + g (fills the root's page; GF): 5;
///   3. n + g + 4h (L3 table: EV): 5; 4. n + g + 4h (fill) + g + 4h (L2: EV): 10;
///   5. n + g + n + g + 4h + g + 4h (L1: EV): 11; 6. n g n g n g 4h g 4h (data: EV): 12;
///   7. n g n g n g n g 4h (fill): 8.
/// 52 references; host lookups 1+1+2+3+4+5+5 = 21, hits 0+0+1+1+2+3+4 = 11. Access 3:
/// n g n g n g n g (GF): 4; then 4 g + 4h (data page: EV): 8; then 4 g + 4h: 8. 20
/// references; lookups 4 + 5 + 5 = 14, hits 4 + 4 + 4 = 12. In all 72 references, 35
/// lookups (each costs the NTLB's 2 cycles), 23 hits; faults as without it.
#[test]
fn a_nested_tlb_removes_exactly_the_host_walks_of_pages_it_holds() {
    let t = run("[virt.ntlb]\nentries = 16\nlatency = 2\n");
    assert_eq!(u(&t, "/walks/walks"), 10);
    assert_eq!(u(&t, "/walks/pte_reads"), 72);
    assert_eq!(u(&t, "/virt/host_lookups"), 35);
    assert_eq!(u(&t, "/virt/ntlb_hits"), 23);
    assert_eq!(u(&t, "/virt/exits/ept_violation"), 6);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 35 * 2);
    assert_eq!(u(&t, "/translation_cycles/pte"), 72 * DRAM);
    assert_eq!(
        u(&t, "/translation_cycles/total"),
        3 + 35 * 2 + 72 * DRAM + 6 * (X + F) + 2 * G
    );
}

/// A host PDE cache (level 2, latency 2): every gPA here is in the first 2 MiB region, so
/// once a host walk has found that region's level-1 table, each host walk reads only its
/// level-1 entry. Access 1: 1. 1h (nothing found to cache; EV); 2. 4h (fills) + g: 5;
/// 3. 1h + g + 1h (EV): 3; 4. 1h g 1h g 1h: 5; 5. 7; 6. 9; 7. 1h g 1h g 1h g 1h g 1h: 9.
/// 39 references; lookups 21, hits 0+0+2+3+4+5+5 = 19. Access 3: 4 x (1h + g) = 8 (GF),
/// 8 + 1h (EV) = 9, 9: 26 references, 14 lookups, all hits. In all 65 references, 35
/// lookups, 33 hits.
#[test]
fn a_host_walk_cache_starts_host_walks_below_the_level_it_holds() {
    let extra =
        "[[virt.host_psc]]\nname = \"epde\"\nlevel = 2\nentries = 4\nways = 4\nlatency = 2\n";
    let t = run(extra);
    assert_eq!(u(&t, "/walks/pte_reads"), 65);
    assert_eq!(u(&t, "/virt/host_lookups"), 35);
    assert_eq!(u(&t, "/virt/host_walk_caches/0/lookups"), 35);
    assert_eq!(u(&t, "/virt/host_walk_caches/0/hits"), 33);
    assert_eq!(u(&t, "/translation_cycles/walk_cache"), 35 * 2);
    assert_eq!(u(&t, "/translation_cycles/pte"), 65 * DRAM);
}
