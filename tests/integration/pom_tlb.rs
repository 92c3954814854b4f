//! The POM-TLB (issue 19 item 4) end to end: a hit in it needs no walk, its probes read
//! lines that the caches then hold (the second probe of a set costs the cache's
//! latency), the reserved memory, the accounting invariant, the one key beside another
//! preset, and the refused configs at their key paths. Counts are derived by hand in
//! each test's comment. The binary under test is the debug build: every TLB hit is
//! checked against the page table and every access against the accounting invariant.

use super::analysis::mmusim;
use serde_json::Value;
use std::path::Path;

/// 8192 pages (32 MiB) touched in order, one access per page; `passes` passes.
fn sequential(passes: u64) -> String {
    format!(
        "name = \"seq-32m\"\naccesses = {}\ninstrs_per_access = 1\nseed = 1\n\
         [generator]\nkind = \"sequential\"\nfootprint = \"32MiB\"\nstride = 4096\n",
        8192 * passes
    )
}

fn total(dir: &Path, name: &str, preset: &str, workload: &str, sets: &[&str]) -> Value {
    let (code, err, stats) = crate::run_cli(dir, name, preset, workload, sets);
    assert_eq!(code, 0, "{err}");
    stats["total"].clone()
}

fn tlb<'a>(t: &'a Value, name: &str) -> &'a Value {
    (t["tlb"].as_array().unwrap().iter())
        .find(|s| s["name"] == name)
        .unwrap()
}

fn walks(t: &Value) -> u64 {
    t["walks"]["walks"].as_u64().unwrap()
}

/// Reads served by each memory level, nearest first, DRAM last.
fn served(t: &Value) -> Vec<(String, u64)> {
    (t["tlb_memory"]["served_by"].as_array().unwrap().iter())
        .map(|s| {
            (
                s["level"].as_str().unwrap().to_owned(),
                s["reads"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The accounting invariant in the report: translation cycles are the sum of their
/// parts, and the TLB part is the levels' probes plus the POM-TLB's reads.
fn accounted(t: &Value) {
    crate::assert_parts_sum(t);
    let c = &t["translation_cycles"];
    let levels: u64 = (t["tlb_levels"].as_array().unwrap().iter())
        .map(|l| l["cycles"].as_u64().unwrap())
        .sum();
    let reads = t["tlb_memory"]["cycles"].as_u64().unwrap_or(0);
    assert_eq!(c["tlb"].as_u64().unwrap(), levels + reads, "{c}");
}

/// Two passes over 8192 pages. Pass 1 faults every page: 2 walks each (the walk that
/// faults and the one after), 16,384, with or without a POM-TLB. Pass 2: the L1 DTLB
/// (16 sets, 512 pages a set) and the STLB (128 sets of 12 ways, 64 pages a set, LRU)
/// keep none of a cycle longer than their ways, so every access reaches level 3.
/// skylake walks again, 8192 more: 24,576. skylake-pom's 4K partition has 16,384 sets
/// of 4 ways: 8192 consecutive page numbers take 8192 distinct sets, one entry each,
/// so pass 2 hits every page there (8192 hits, 0 walks) after pass 1's 8192 misses.
#[test]
fn a_pom_tlb_hit_needs_no_walk() {
    let dir = tempfile::tempdir().unwrap();
    let w = sequential(2);
    let base = total(dir.path(), "base", "skylake", &w, &[]);
    let pom = total(dir.path(), "pom", "skylake-pom", &w, &[]);
    assert_eq!(walks(&base), 24576);
    assert_eq!(walks(&pom), 16384);
    let p = tlb(&pom, "pom_4k");
    assert_eq!(
        (p["hits"].as_u64(), p["misses"].as_u64()),
        (Some(8192), Some(8192))
    );
    assert_eq!(tlb(&pom, "stlb")["hits"], 0);
    // Nothing reaches the 2M partition's entries (no 2M page), but every miss probed
    // it: 16,384 lookups read memory, 2 lines each on a miss, 1 on a 4K hit (the
    // hierarchy stops at the size that hits): 2 x 8192 + 8192 = 24,576 reads.
    assert_eq!(tlb(&pom, "pom_2m")["hits"], 0);
    let m = &pom["tlb_memory"];
    assert_eq!(
        (m["lookups"].as_u64(), m["reads"].as_u64()),
        (Some(16384), Some(24576))
    );
    assert!(base.get("tlb_memory").is_none(), "{base}");
    accounted(&pom);
    accounted(&base);
}

/// One pass (8192 lookups, all misses): each reads its page's 4K-partition line (page
/// v's set v mod 16,384: one new line per page, never read before, so DRAM) and its 2
/// MiB region's 2M-partition line (16 regions: the first read of each from DRAM, the
/// 511 others from the L1D, where the line read by the previous access still is: a
/// 8-way set cannot lose it to the 4 or 5 lines an access reads). So DRAM serves
/// 8192 + 16, the L1D 8192 - 16, and each lookup waits for its slower read, the 4K
/// line from DRAM: 8192 x 250 cycles. The reserved memory: 2 x 65,536 entries x 16
/// bytes = 2 MiB off the top of skylake's 16 GiB.
#[test]
fn a_cold_probe_reads_dram_and_the_reserve_is_off_the_os() {
    let dir = tempfile::tempdir().unwrap();
    let (code, err, stats) = crate::run_cli(dir.path(), "one", "skylake-pom", &sequential(1), &[]);
    assert_eq!(code, 0, "{err}");
    let t = &stats["total"];
    let want = vec![
        ("l1d".to_owned(), 8192 - 16),
        ("l2".to_owned(), 0),
        ("l3".to_owned(), 0),
        ("DRAM".to_owned(), 8192 + 16),
    ];
    assert_eq!(served(t), want);
    assert_eq!(t["tlb_memory"]["cycles"], 8192 * 250);
    let ph = &stats["physical"];
    assert_eq!(ph["reserved_bytes"], 2 << 20);
    assert_eq!(ph["total_bytes"], (16u64 << 30) - (2 << 20));
    accounted(t);
}

/// Pages 1, 2, 1 with a 1-entry L1 DTLB and STLB, so every access reaches level 3 and
/// the data does not go through the caches. Access 1: page 1's 4K line (set 1, base +
/// 64) and region 0's 2M line, both cold: DRAM, 250 cycles; two walks (a fault).
/// Access 2: page 2's 4K line (set 2), cold: DRAM; the 2M line, read by access 1: L1D,
/// 4; the probe waits 250; two walks. Access 3: page 1 hits the 4K partition (filled
/// after access 1's walk), whose line access 1 left in the L1D: 4 cycles, no walk, and
/// no 2M read (the hit stops the probe). 5 reads, DRAM 3, L1D 2, 504 cycles, 4 walks.
#[test]
fn a_second_probe_of_a_set_costs_the_caches_latency() {
    let dir = tempfile::tempdir().unwrap();
    let w = "name = \"121\"\nseed = 0\n[generator]\nkind = \"refs\"\nrefs = \"1 2 1\"\n";
    let sets = [
        "tlb.l1d_4k.entries=1",
        "tlb.l1d_4k.ways=1",
        "tlb.stlb.entries=1",
        "tlb.stlb.ways=1",
        "memory.data_through_caches=false",
    ];
    let t = total(dir.path(), "refs", "skylake-pom", w, &sets);
    assert_eq!(walks(&t), 4);
    let p = tlb(&t, "pom_4k");
    assert_eq!(
        (p["hits"].as_u64(), p["misses"].as_u64()),
        (Some(1), Some(2))
    );
    let m = &t["tlb_memory"];
    assert_eq!(
        (m["lookups"].as_u64(), m["reads"].as_u64()),
        (Some(3), Some(5))
    );
    assert_eq!(m["cycles"], 250 + 250 + 4);
    let got: Vec<u64> = served(&t).iter().map(|s| s.1).collect();
    assert_eq!(got, [2, 0, 0, 3]);
    accounted(&t);
}

/// `explain` shows the lines a cold probe reads: skylake-pom's 16 GiB less the 2 MiB
/// reserve puts the 4K partition at 0x3_ffe0_0000 and the 2M one 1 MiB above, at
/// 0x3_fff0_0000. Address 0x1234_5000 is 4K page 0x12345, set 0x12345 mod 16,384 =
/// 0x2345, line 0x3_ffe0_0000 + 0x2345 x 64 = 0x3_ffe8_d140; 2M page 0x91, set 0x91,
/// line 0x3_fff0_0000 + 0x91 x 64 = 0x3_fff0_2440. Both cold: DRAM, 250 cycles; the
/// TLB time is L1 1 + STLB 9 + the slower read 250 = 260.
#[test]
fn explain_shows_the_set_lines_a_probe_reads() {
    let (code, out, err) = mmusim(&["explain", "-c", "skylake-pom", "0x12345000"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "POM-TLB set line read at 0x3ffe8d140: DRAM 250 cycles",
        "POM-TLB set line read at 0x3fff02440: DRAM 250 cycles",
        "Translation cycles: TLB 260 ",
    ] {
        assert!(out.contains(want), "`{want}` not in {out}");
    }
}

/// Two cores: 2 x 2 MiB reserved, from 16 GiB - 4 MiB = 0x3_ffc0_0000; core 0's
/// partitions there (its 4K line for page 0x12345 at + 0x8_d140, its 2M line at 1 MiB
/// + 0x2440), core 1's 2 MiB above, where one core's were.
#[test]
fn each_core_has_its_own_region() {
    for (core, lines) in [
        ("0", ["0x3ffc8d140", "0x3ffd02440"]),
        ("1", ["0x3ffe8d140", "0x3fff02440"]),
    ] {
        let args = ["explain", "-c", "skylake-pom", "--set", "sim.cores=2"];
        let mut args = args.to_vec();
        args.extend(["--core", core, "0x12345000"]);
        let (code, out, err) = mmusim(&args);
        assert_eq!(code, 0, "{err}");
        for l in lines {
            let want = format!("POM-TLB set line read at {l}: DRAM 250 cycles");
            assert!(out.contains(&want), "core {core}: `{want}` not in {out}");
        }
    }
}

/// `pom_tlb.entries` on zen4 adds the two partitions at level 3 (zen4 has two levels),
/// as skylake-pom lists them on skylake: the same counters on the same workload as the
/// preset when given on skylake.
#[test]
fn the_key_adds_a_pom_tlb_beside_any_preset() {
    let dir = tempfile::tempdir().unwrap();
    let w = sequential(2);
    let preset = total(dir.path(), "preset", "skylake-pom", &w, &[]);
    let key = total(dir.path(), "key", "skylake", &w, &["pom_tlb.entries=65536"]);
    assert_eq!(preset["tlb"], key["tlb"]);
    assert_eq!(preset["tlb_memory"], key["tlb_memory"]);
    assert_eq!(preset["translation_cycles"], key["translation_cycles"]);
    let zen = total(dir.path(), "zen", "zen4", &w, &["pom_tlb.entries=4096"]);
    assert_eq!(tlb(&zen, "pom_4k")["level"], 3);
    assert_eq!(tlb(&zen, "pom_2m")["level"], 3);
    accounted(&zen);
}

/// Refused, exit 2, naming the key: a POM-TLB at level 1, ways that spill a set over
/// a 64-byte line, one larger than half of physical memory (16M entries x 16 B = 256
/// MiB of 256 MiB), on a virtualized machine, an unknown `pom_tlb` key.
#[test]
fn bad_pom_tlbs_are_refused_at_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let w = sequential(1);
    let rows: &[(&str, &[&str], &[&str])] = &[
        (
            "skylake-pom",
            &["tlb.pom_4k.level=1"],
            &["tlb.pom_4k.organisation", "cannot be level 1"],
        ),
        (
            "skylake-pom",
            &["tlb.pom_2m.ways=8"],
            &["tlb.pom_2m.ways", "one 64-byte line"],
        ),
        (
            "skylake-pom",
            &["tlb.pom_4k.entries=16777216", "os.phys_mem=\"256MiB\""],
            &["tlb.pom_4k.entries", "more than half of os.phys_mem"],
        ),
        (
            "skylake-vm",
            &["pom_tlb.entries=1024"],
            &["virt", "not supported on a virtualized machine"],
        ),
        (
            "skylake",
            &["pom_tlb.size=1024"],
            &["pom_tlb.size", "unknown key"],
        ),
    ];
    for (i, (preset, sets, want)) in rows.iter().enumerate() {
        let (code, err, _) = crate::run_cli(dir.path(), &format!("bad{i}"), preset, &w, sets);
        assert_eq!(code, 2, "{sets:?}: {err}");
        for s in *want {
            assert!(err.contains(s), "{sets:?}: `{s}` not in {err}");
        }
    }
}

/// Every OS event that changes translations (migration, munmap, mprotect, copy-on-write
/// after a fork) on two cores, with a small STLB so the POM-TLB serves many lookups:
/// the debug build checks every TLB hit, the POM-TLB's included, against the page table
/// (an entry kept past a change fails it) and the accounting invariant at every access.
#[test]
fn os_events_keep_every_pom_tlb_hit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let text = crate::os_event_stress("kind = \"fork\"");
    let sets = ["sim.cores=2", "tlb.stlb.entries=64", "tlb.stlb.ways=4"];
    let t = total(dir.path(), "out", "skylake-pom", &text, &sets);
    let ev = &t["os_events"];
    for k in [
        "migrated_pages",
        "unmapped_pages",
        "cow_faults",
        "protection_faults",
    ] {
        assert!(ev[k].as_u64().unwrap() > 0, "{k}: {ev}");
    }
    // 2,048 pages, 64 + 64 in the SRAM TLBs: most lookups reach the POM-TLB and hit.
    assert!(tlb(&t, "pom_4k")["hits"].as_u64().unwrap() > 30000, "{t}");
    accounted(&t);
}
