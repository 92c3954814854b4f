//! `mmusim explain`: the address split and the walk it prints, checked against indices
//! computed here from the address bits (x86-64: 9 bits per level above a 12-bit
//! offset), against the printed table addresses, and against the simulator's own counters.

use std::process::Command;

fn explain(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mmusim"))
        .arg("explain")
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, out, err) = explain(args);
    assert!(success, "explain {args:?} failed: {err}");
    out
}

fn hex(s: &str) -> u64 {
    let s = s.trim_end_matches([',', ';', ':', ')']);
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|_| panic!("hex {s}"))
}

/// The word after `key` in `line`.
fn after<'a>(line: &'a str, key: &str) -> &'a str {
    let mut w = line.split_whitespace();
    while let Some(x) = w.next() {
        if x == key {
            return w
                .next()
                .unwrap_or_else(|| panic!("nothing after {key} in {line}"));
        }
    }
    panic!("no `{key}` in: {line}")
}

/// One printed PTE read.
#[derive(Debug)]
struct Read {
    level: String,
    index: Option<u64>,
    addr: u64,
    cycles: u64,
    /// The table this entry points to (`-> table X`).
    next: Option<u64>,
}

/// One printed walk: its header line and reads.
#[derive(Debug, Default)]
struct Walk {
    header: String,
    reads: Vec<Read>,
    end: String,
}

fn walks(out: &str) -> Vec<Walk> {
    let mut v: Vec<Walk> = Vec::new();
    for l in out.lines() {
        let t = l.trim_start();
        if t.starts_with("Walk ") && !t.contains(" ends:") {
            v.push(Walk {
                header: t.to_string(),
                ..Default::default()
            });
        } else if t.starts_with("Walk ") {
            v.last_mut().unwrap().end = t.to_string();
        } else if t.starts_with("PTE read") {
            let w: Vec<&str> = t.split_whitespace().collect();
            let cycles_at = w.iter().position(|x| *x == "cycles").unwrap();
            v.last_mut().unwrap().reads.push(Read {
                level: w[2].to_string(),
                index: t.contains(" index ").then(|| hex(after(t, "index"))),
                addr: hex(after(t, "at")),
                cycles: w[cycles_at - 1].parse().unwrap(),
                next: t.contains("-> table").then(|| hex(after(t, "table"))),
            });
        }
    }
    v
}

/// (TLB, walk caches, PTE reads, wait, fault, total) from the "Translation cycles" line.
fn breakdown(out: &str) -> [u64; 6] {
    let l = out
        .lines()
        .find(|l| l.starts_with("Translation cycles:"))
        .expect("a breakdown");
    let nums: Vec<u64> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    nums.try_into().expect("six numbers")
}

/// (walks, PTE reads, page faults) from the simulator's counters line.
fn counters(out: &str) -> (u64, u64, u64) {
    let l = out
        .lines()
        .find(|l| l.starts_with("Simulator counters"))
        .expect("counters");
    (
        after(l, "walks").trim_end_matches(',').parse().unwrap(),
        after(l, "reads").trim_end_matches(',').parse().unwrap(),
        after(l, "faults").trim_end_matches(';').parse().unwrap(),
    )
}

/// Radix indices of `va`, top level first: 9 bits per level above the 12-bit offset.
fn indices(va: u64, levels: u32) -> Vec<u64> {
    (0..levels)
        .rev()
        .map(|l| (va >> (12 + 9 * l)) & 511)
        .collect()
}

/// Everything that must hold for a radix walk that found the page: one read per level
/// from `first_level` down, at the independently computed indices, each 8-byte aligned
/// and inside the table the previous entry (or the walk's start) names.
fn check_radix_walk(w: &Walk, va: u64, levels: u32, names: &[&str]) {
    let idx = indices(va, levels);
    let skip = idx.len() - w.reads.len();
    let start = hex(after(&w.header, "table"));
    let mut table = start;
    for (i, r) in w.reads.iter().enumerate() {
        assert_eq!(r.level, names[skip + i], "{w:?}");
        assert_eq!(r.index, Some(idx[skip + i]), "{w:?}");
        assert_eq!(r.addr % 8, 0);
        assert_eq!(r.addr, table + 8 * idx[skip + i], "read {i} of {w:?}");
        if i + 1 < w.reads.len() {
            table = r.next.expect("an upper entry points to a table");
            assert_eq!(table % 4096, 0);
        } else {
            assert_eq!(r.next, None);
        }
    }
}

const VA: u64 = 0x7f3a_9bcd_e123;

#[test]
fn a_cold_4k_access_on_skylake_reads_the_four_levels_at_the_address_indices() {
    let out = ok(&["0x7f3a9bcde123", "--config", "skylake"]);
    let idx = indices(VA, 4);
    // The split, as printed, against the bits.
    for (name, range, i) in [
        ("PML4", "[47:39]", idx[0]),
        ("PDPT", "[38:30]", idx[1]),
        ("PD", "[29:21]", idx[2]),
        ("PT", "[20:12]", idx[3]),
    ] {
        let l = out
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")) && l.contains(range))
            .unwrap_or_else(|| panic!("no {name} {range} line:\n{out}"));
        assert_eq!(hex(after(l, "=")), i, "{l}");
    }
    assert!(out.contains("offset bits [11:0] = 0x123"), "{out}");
    let ws = walks(&out);
    // Cold: the root entry is not present, the OS maps the page, the walk runs again.
    assert_eq!(ws.len(), 2, "{out}");
    assert_eq!(ws[0].reads.len(), 1);
    assert!(ws[0].end.contains("not present"));
    assert!(out.contains("Page fault"));
    assert_eq!(ws[1].reads.len(), 4, "{out}");
    check_radix_walk(&ws[1], VA, 4, &["PML4", "PDPT", "PD", "PT"]);
    // Both walks start at the same root table.
    assert_eq!(
        hex(after(&ws[0].header, "table")),
        hex(after(&ws[1].header, "table"))
    );
    // The physical address is the frame the walk found plus the 12-bit offset.
    let frame = hex(after(&ws[1].end, "frame"));
    let pa = out
        .lines()
        .find(|l| l.starts_with("Physical address"))
        .unwrap();
    assert_eq!(hex(after(pa, "address")), frame + (VA & 0xfff));
    // The accounting: parts sum to the total; the PTE part is the sum of the reads (each
    // radix read is its own group); the reads printed are the reads the walker counted.
    let b = breakdown(&out);
    assert_eq!(b[..5].iter().sum::<u64>(), b[5], "{out}");
    let read_cycles: u64 = ws.iter().flat_map(|w| &w.reads).map(|r| r.cycles).sum();
    assert_eq!(b[2], read_cycles);
    assert_eq!(counters(&out), (2, 5, 1));
    // TLB: both levels probed, L1 1 cycle + STLB 9 cycles (the preset's latencies).
    assert_eq!(b[0], 1 + 9);
}

#[test]
fn a_neighbouring_page_after_warm_up_hits_the_pde_walk_cache_and_reads_one_pte() {
    let cold = ok(&["0x7f3a9bcde123", "--config", "skylake"]);
    let pt_table = walks(&cold)[1].reads[3].addr & !0xfff;
    // The next page: same PD entry (its PT index is not the last of the table).
    let next = VA + 0x1000;
    assert_ne!(indices(VA, 4)[3], 511);
    let out = ok(&["0x7f3a9bcdf123", "--warm", "0x7f3a9bcde123"]);
    assert!(
        out.contains("0x7f3a9bcde123: TLB miss, 2 walk(s), 5 PTE read(s)"),
        "{out}"
    );
    let ws = walks(&out);
    assert!(!ws.is_empty());
    for w in &ws {
        assert!(w.header.contains("pd (level 2) hit"), "{}", w.header);
        assert!(w.header.contains("skips the PML4, PDPT, PD read(s)"));
        // One read: the PT entry, in the PT table the warm-up walk filled.
        assert_eq!(w.reads.len(), 1, "{out}");
        assert_eq!(hex(after(&w.header, "table")), pt_table);
        check_radix_walk(w, next, 4, &["PML4", "PDPT", "PD", "PT"]);
    }
    // The PT line was read by the warm-up walk: now a cache hit, not DRAM.
    assert!(!out
        .lines()
        .any(|l| l.contains("PTE read") && l.contains("DRAM")));
    let b = breakdown(&out);
    assert_eq!(b[..5].iter().sum::<u64>(), b[5]);
    let (walks_n, reads, _) = counters(&out);
    assert_eq!(walks_n as usize, ws.len());
    assert_eq!(
        reads as usize,
        ws.iter().map(|w| w.reads.len()).sum::<usize>()
    );
}

#[test]
fn five_level_paging_reads_five_indices() {
    // PML5 index 0x1ab: bits 56..48 set.
    let va: u64 = (0x1ab << 48) | VA;
    let out = ok(&[&format!("{va:#x}"), "--config", "icelake"]);
    assert!(out.contains("PML5  index  bits [56:48] = 0x1ab"), "{out}");
    let ws = walks(&out);
    let found = ws.last().unwrap();
    assert_eq!(found.reads.len(), 5, "{out}");
    check_radix_walk(found, va, 5, &["PML5", "PML4", "PDPT", "PD", "PT"]);
    let b = breakdown(&out);
    assert_eq!(b[..5].iter().sum::<u64>(), b[5]);
    // Beyond 57 bits is beyond even a 5-level table.
    let (success, _, err) = explain(&["0x200000000000000", "--config", "icelake"]);
    assert!(!success);
    assert!(err.contains("57-bit"), "{err}");
}

/// Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the top `bits` bits of key x 2^64/phi,
/// the key being the VPN mixed with the address-space id.
fn fibonacci(asid: u64, vpn: u64, bits: u32) -> u64 {
    let key = vpn ^ (asid << 48) ^ asid.wrapping_mul(0x9e37_79b9);
    key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)
}

#[test]
fn the_inverted_table_anchor_is_the_hash_of_the_page_number() {
    let out = ok(&["0x7f3a9bcde123", "--config", "skylake-inverted"]);
    // 16 GiB of 4 KiB frames, one anchor per frame: 2^22 anchors.
    let line = out
        .lines()
        .find(|l| l.contains("HAT anchor (4K pages) ="))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(hex(after(line, "=")), fibonacci(1, VA >> 12, 22), "{line}");
    assert!(line.contains("of 4194304"));
    // The walk's first read is the anchor, at the address the split gives.
    let anchor = hex(after(line, "at"));
    let ws = walks(&out);
    assert_eq!(ws[0].reads[0].addr, anchor);
    assert_eq!(ws[1].reads[0].addr, anchor);
}

#[test]
fn hashed_walks_print_every_read_the_walker_counted() {
    for preset in [
        "skylake-inverted",
        "skylake-htab",
        "skylake-clustered",
        "skylake-cuckoo",
    ] {
        let out = ok(&[
            "0x7f3a9bcde123",
            "--config",
            preset,
            "--warm",
            "0x7f3a9bcd0000,0x7f3a9bcde000",
            "--warm",
            "0x10000",
        ]);
        let ws = walks(&out);
        let (walks_n, reads, _) = counters(&out);
        assert_eq!(walks_n as usize, ws.len(), "{preset}");
        assert_eq!(
            reads as usize,
            ws.iter().map(|w| w.reads.len()).sum::<usize>(),
            "{preset}"
        );
        let b = breakdown(&out);
        assert_eq!(b[..5].iter().sum::<u64>(), b[5], "{preset}");
        assert_eq!(
            out.matches("\n  0x").count(),
            3,
            "three warm-up lines: {out}"
        );
    }
}

#[test]
fn a_tlb_hit_walks_nothing() {
    let out = ok(&["0x7f3a9bcde123", "--warm", "0x7f3a9bcde000"]);
    assert!(
        out.contains("TLB level 1 (l1d_4k, l1d_2m, l1d_1g): hit"),
        "{out}"
    );
    assert!(walks(&out).is_empty());
    assert_eq!(counters(&out), (0, 0, 0));
    // Only the L1 probe, which the pipeline hides.
    assert_eq!(breakdown(&out), [1, 0, 0, 0, 0, 1]);
}

#[test]
fn bad_addresses_are_errors() {
    for (args, msg) in [
        (vec!["0xzz"], "ADDR `0xzz`: not an address"),
        (vec!["-5"], "ADDR `-5`"),
        (
            vec!["0x1000000000000"],
            "beyond the 48-bit virtual address space",
        ),
        (vec!["1", "--warm", "0x1,oops"], "--warm `oops`"),
        (vec!["1", "--core", "1"], "--core 1"),
    ] {
        let (success, out, err) = explain(&args);
        assert!(!success, "{args:?} succeeded: {out}");
        assert!(err.contains(msg), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The largest 48-bit address is fine.
    ok(&["0xffffffffffff"]);
}

/// The recorded path is the run's path: feeding a workload access by access through
/// `access_recorded` gives the same report as `run`, and the events count what the
/// counters count.
#[test]
fn recorded_accesses_change_nothing_the_run_would_not() {
    use mmusim::report::RunReport;
    use mmusim::sim::record::Event;
    use mmusim::sim::Simulator;
    for preset in ["skylake", "skylake-htab"] {
        let inputs = mmusim::run::load_inputs(
            Some(preset),
            None,
            &[
                "workload.accesses=3000".to_string(),
                // Accesses only (the replay below feeds no OS events), every one counted.
                "workload.event=[]".to_string(),
                "sim.warmup_accesses=0".to_string(),
            ],
        )
        .unwrap();
        let sys = &inputs.system;
        let report = mmusim::run::simulate(&inputs, &mut |_, _| {}).unwrap();

        let mut src = inputs.workload.open(0, &inputs.workload_dir).unwrap();
        let mut accesses = Vec::new();
        src.fill(&mut accesses, 1 << 20).unwrap();
        assert_eq!(accesses.len(), 3000);
        let empty = inputs.workload.open(0, &inputs.workload_dir).unwrap();
        let (mut events, mut n_reads, mut n_walks) = (Vec::new(), 0u64, 0u64);
        let stats = if preset == "skylake" {
            let mut sim = Simulator::new_radix(sys, vec![empty]).unwrap();
            for a in &accesses {
                events.clear();
                sim.access_recorded(0, *a, &mut events).unwrap();
                n_reads += events
                    .iter()
                    .filter(|e| matches!(e, Event::PteRead { .. }))
                    .count() as u64;
                n_walks += events
                    .iter()
                    .filter(|e| matches!(e, Event::WalkStart { .. }))
                    .count() as u64;
            }
            sim.stats()
        } else {
            let mmusim::config::PageTableConfig::Htab(c) = &sys.page_table else {
                panic!("htab preset")
            };
            let mut sim = Simulator::build(sys, vec![empty], |f| {
                mmusim::pagetable::Htab::new(c, &sys.os, f)
            })
            .unwrap();
            for a in &accesses {
                events.clear();
                sim.access_recorded(0, *a, &mut events).unwrap();
                n_reads += events
                    .iter()
                    .filter(|e| matches!(e, Event::PteRead { .. }))
                    .count() as u64;
                n_walks += events
                    .iter()
                    .filter(|e| matches!(e, Event::WalkStart { .. }))
                    .count() as u64;
            }
            sim.stats()
        };
        let fed = RunReport::new(sys, &inputs.workload, sys.sim.seed, &stats);
        // Fed one by one, the stream never ends: the process is still ready.
        let fed = fed
            .to_json()
            .replace("\"state\": \"ready\"", "\"state\": \"done\"");
        assert!(fed.contains("\"state\": \"done\""), "{preset}");
        assert_eq!(fed, report.to_json(), "{preset}");
        assert_eq!(n_reads, stats.cores[0].pte_reads, "{preset}");
        assert_eq!(n_walks, stats.cores[0].walks, "{preset}");
    }
}
