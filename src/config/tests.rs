//! Each section's own check, called through [`SystemConfig::validate`]: the full key
//! path of a bad key of every section, the checks that span sections, and the order
//! problems are reported in. Expected messages are written out from each check's
//! format (and, for the host-memory check, worked by hand), not taken from the code.

use super::*;
use crate::addr::ByteSize;

fn skylake() -> SystemConfig {
    let cfg: SystemConfig = toml::from_str(include_str!("../../configs/skylake.toml")).unwrap();
    assert_eq!(cfg.validate(), Vec::<(String, String)>::new());
    cfg
}

fn problem(key: &str, msg: &str) -> Vec<(String, String)> {
    vec![(key.to_string(), msg.to_string())]
}

/// A section's own check on its own, as the section's `validate` gives it.
type SectionCheck = fn(&SystemConfig) -> Vec<(String, String)>;

/// (section, what breaks it, its own check, the key and message expected).
type Case = (
    &'static str,
    fn(&mut SystemConfig),
    SectionCheck,
    &'static str,
    &'static str,
);

#[test]
fn each_section_reports_its_own_bad_key_with_the_full_path() {
    let cases: Vec<Case> = vec![
        (
            "sim",
            |c| c.sim.base_cpi = 0.0,
            |c| c.sim.validate(),
            "sim.base_cpi",
            "must be from 0.001 to 1000, not 0",
        ),
        (
            "tlb",
            // The STLB's 1536 entries in 16 ways: 96 sets.
            |c| c.tlb[5].ways = 16,
            |c| validate_tlbs(&c.tlb),
            "tlb[5].ways",
            "entries / ways = 96 sets, which is not a power of two",
        ),
        (
            "walker",
            |c| c.walker.psc[2].ways = 3,
            |c| c.walker.validate(c.page_table.design().walk_cache_levels()),
            "walker.psc[2].ways",
            "entries (32) are not divisible by ways (3)",
        ),
        (
            "memory",
            |c| c.memory.cache[1].line = 48,
            |c| c.memory.validate(),
            "memory.cache[1].line",
            "must be a power of two from 8 to 4096 bytes, not 48",
        ),
        // The OS section is reported in three parts: one key of each.
        (
            "os (first part)",
            |c| c.os.minor_fault_cycles = 1 << 41,
            |c| c.os.validate(c.sim.cores, &c.page_table),
            "os.minor_fault_cycles",
            "2199023255552 cycles is beyond any real fault (at most 2^40)",
        ),
        (
            "os (main part)",
            |c| c.os.huge_pages.promote_threshold = 0,
            |c| c.os.validate(c.sim.cores, &c.page_table),
            "os.huge_pages.promote_threshold",
            "must be 1 to 512 (pages of a 2 MiB region), not 0",
        ),
        (
            "os (last part)",
            |c| c.os.sched.asids_per_core = 5000,
            |c| c.os.validate(c.sim.cores, &c.page_table),
            "os.sched.asids_per_core",
            "x86 PCIDs are 12 bits: at most 4096, not 5000",
        ),
        (
            "shootdown",
            |c| c.shootdown.hop_cycles = 1 << 33,
            |c| c.shootdown.validate(),
            "shootdown.hop_cycles",
            "8589934592 cycles is beyond any real machine (at most 2^32)",
        ),
        (
            "topology",
            |c| {
                c.topology.kind = TopologyKind::Edges;
                c.topology.edges = vec![[0, 5]];
            },
            |c| c.topology.validate(c.sim.cores),
            "topology.edges[0]",
            "links core 0 and core 5: the machine has 1 cores",
        ),
    ];
    for (section, break_it, section_check, key, msg) in cases {
        let mut cfg = skylake();
        break_it(&mut cfg);
        assert_eq!(
            section_check(&cfg),
            problem(key, msg),
            "{section}, on its own"
        );
        assert_eq!(
            cfg.validate(),
            problem(key, msg),
            "{section}, through the system"
        );
    }
}

#[test]
fn checks_spanning_sections_see_both() {
    // Two single-threaded processes cannot fill four cores: only `os.validate` given
    // the cores knows.
    let mut cfg = skylake();
    cfg.os.sched.processes = 2;
    assert_eq!(cfg.os.validate(1, &cfg.page_table), vec![]);
    cfg.sim.cores = 4;
    let want = problem(
        "os.sched.processes",
        "must be 0 (enough for every core) or up to 8191, with processes x threads (1) at least sim.cores (4), not 2",
    );
    assert_eq!(cfg.os.validate(4, &cfg.page_table), want);
    assert_eq!(cfg.validate(), want);

    // Host memory: 64 cores of Skylake's structures with a 1 GiB private L2. TLB
    // entries 64+32+4+128+8+1536+16 = 1788, walk-cache entries 2+4+32 = 38, private
    // lines 32 KiB/64 + 1 GiB/64 = 512 + 16777216, shared lines 8 MiB/64 = 131072:
    // 24 x ((1788+38+16777728) x 64 + 131072) = 25776540672 bytes, 24 GiB rounded down.
    let mut cfg = skylake();
    cfg.sim.cores = 64;
    cfg.memory.cache[1].size = ByteSize(1 << 30);
    assert_eq!(cfg.memory.validate(), vec![]);
    assert_eq!(cfg.sim.validate(), vec![]);
    assert_eq!(
        cfg.validate(),
        problem(
            "sim.cores",
            "64 cores of these TLBs, walk caches and caches need 24 GiB of host memory to simulate; the limit is 8 GiB"
        )
    );

    // A walk cache's level is bounded by the page table's levels.
    let mut cfg = skylake();
    cfg.walker.psc[0].level = 5;
    assert_eq!(cfg.walker.validate(5), vec![]);
    let want = problem(
        "walker.psc[0].level",
        "must be 2 to 4 (the non-leaf levels of the page table), not 5",
    );
    assert_eq!(cfg.walker.validate(4), want);
    assert_eq!(cfg.validate(), want);
}

#[test]
fn problems_of_several_sections_come_in_the_historical_order() {
    let mut cfg = skylake();
    cfg.os.sched.asids_per_core = 5000;
    cfg.topology.kind = TopologyKind::Edges;
    cfg.topology.edges = vec![[0, 5]];
    cfg.shootdown.hop_cycles = 1 << 33;
    cfg.os.huge_pages.promote_threshold = 0;
    cfg.memory.cache[1].line = 48;
    cfg.walker.psc[2].ways = 3;
    cfg.tlb[5].ways = 16;
    cfg.os.minor_fault_cycles = 1 << 41;
    cfg.sim.base_cpi = 0.0;
    let keys: Vec<String> = cfg.validate().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        [
            "sim.base_cpi",
            "os.minor_fault_cycles",
            "tlb[5].ways",
            "walker.psc[2].ways",
            "memory.cache[1].line",
            "os.huge_pages.promote_threshold",
            "shootdown.hop_cycles",
            "topology.edges[0]",
            "os.sched.asids_per_core",
        ]
    );
    // No TLB at all is reported before the minor-fault cost, as it always was.
    cfg.tlb.clear();
    let keys: Vec<String> = cfg.validate().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys[..3], ["sim.base_cpi", "tlb", "os.minor_fault_cycles"]);
}

/// Issue 17 (a hang found by the randomized test): `tlb.l1d_2m.level=4294967295` made
/// the check for gaps between levels count to the level, one error per missing level.
/// The level is refused as out of range, and the gaps are those of levels 1 to 8.
#[test]
fn a_huge_tlb_level_is_one_error_not_a_count_to_it() {
    let mut cfg = skylake();
    cfg.tlb[1].level = u32::MAX;
    let problems = cfg.validate();
    assert!(
        problems.contains(&("tlb[1].level".to_string(), "must be 1 to 8".to_string())),
        "{problems:?}"
    );
    assert!(problems.len() < 10, "{} problems", problems.len());
}
