//! `[os.rmm]`: Redundant Memory Mappings (Karakostas, Gandhi, Ayar, Cristal, Hill,
//! McKinley, Nemirovsky, Swift and Ünsal, ISCA 2015): eager paging, a range table per
//! process and a range TLB beside the last-level TLB.
//!
//! In: the decoded table and, for the checks spanning sections, the whole
//! [`super::SystemConfig`]. Out: [`RmmConfig`] for `crate::os::rmm` (eager paging, the
//! range tables) and for the TLB hierarchy (the range TLB structure it adds,
//! [`RmmConfig::range_tlb`]); problems as `(key.path, message)`.
//!
//! Absent (the default), nothing changes: the key is left out of serialized configs, so
//! existing configs keep their hash and results.

use super::{TlbConfig, TlbFill, TlbKind, TlbOrganisation};
use crate::addr::PageSize;
use serde::{Deserialize, Serialize};

/// Range-TLB entries when `range_tlb_entries` is absent: 32, fully associative (the
/// paper's range TLB, as the KAIST ISCA'17 slides summarise it, "Redundant Memory
/// Mappings (RMM) -> 32 Fully-associative TLB"; Virtuoso's `mmu_rmm.cfg` sets
/// `rlb/num_sets = 32` too). Checked against summaries, not the paper's text.
pub const DEFAULT_RANGE_TLB_ENTRIES: u32 = 32;

/// The name of the range TLB structure `[os.rmm]` adds.
pub const RANGE_TLB_NAME: &str = "range_tlb";

/// RMM's switches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmmConfig {
    /// The first fault in a mapping allocates and maps all of it, each buddy block a
    /// range in the process's range table (`os/rmm.rs`).
    #[serde(default = "yes")]
    pub eager_paging: bool,
    /// Entries of the range TLB added beside the last TLB level (0: none).
    #[serde(default = "entries")]
    pub range_tlb_entries: u32,
}

fn yes() -> bool {
    true
}

fn entries() -> u32 {
    DEFAULT_RANGE_TLB_ENTRIES
}

impl RmmConfig {
    /// The range TLB structure to add after the `[[tlb]]` list `tlbs` (none when
    /// `range_tlb_entries` is 0): fully associative, LRU, one level below the last, at
    /// latency 0 because it is probed in parallel with the last-level TLB (the paper's
    /// range TLB is "co-located with the last level TLB" and looked up with it after an
    /// L1 miss; from summaries of the paper). Its probe therefore adds no cycles; a hit
    /// fills the levels above the last one, not the last (`tlb::Tlbs`).
    pub fn range_tlb(&self, tlbs: &[TlbConfig]) -> Option<TlbConfig> {
        let n = self.range_tlb_entries;
        (n > 0).then(|| TlbConfig {
            name: RANGE_TLB_NAME.into(),
            level: tlbs.iter().map(|t| t.level).max().unwrap_or(0) + 1,
            kind: TlbKind::Unified,
            entries: n,
            ways: n,
            page_sizes: vec![PageSize::Size4K],
            latency: 0,
            replacement: Default::default(),
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::Range,
            coalesce: None,
        })
    }
}

/// Every problem of `os.rmm` and of range TLBs against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let eager = cfg.os.rmm.as_ref().is_some_and(|r| r.eager_paging);
    for (i, t) in cfg.tlb.iter().enumerate() {
        if t.organisation != TlbOrganisation::Range {
            continue;
        }
        if !eager {
            e.push((
                format!("tlb[{i}].organisation"),
                "a range TLB needs the range table eager paging fills: set os.rmm.eager_paging = true (or use os.rmm.range_tlb_entries)".into(),
            ));
        } else if cfg.os.rmm.as_ref().is_some_and(|r| r.range_tlb_entries > 0) {
            e.push((
                format!("tlb[{i}].organisation"),
                "os.rmm.range_tlb_entries adds a range TLB already: set it to 0 to give the range TLB here".into(),
            ));
        }
    }
    e.extend(pom_problem(cfg));
    e.extend(victima_problem(cfg));
    let Some(r) = &cfg.os.rmm else {
        return e;
    };
    if !r.eager_paging && r.range_tlb_entries > 0 {
        e.push((
            "os.rmm.eager_paging".into(),
            "a range TLB (os.rmm.range_tlb_entries > 0) needs eager paging: without it no range table is made".into(),
        ));
    }
    if r.range_tlb_entries > 4096 {
        e.push((
            "os.rmm.range_tlb_entries".into(),
            format!(
                "a fully associative range TLB of {} entries is searched linearly: at most 4096",
                r.range_tlb_entries
            ),
        ));
    }
    if cfg.os.page_size != PageSize::Size4K {
        e.push((
            "os.page_size".into(),
            format!(
                "eager paging (os.rmm) maps 4K pages: page_size must be 4K, not {}",
                cfg.os.page_size
            ),
        ));
    }
    if cfg.os.huge_pages.policy != super::HugePolicy::Never {
        e.push((
            "os.huge_pages.policy".into(),
            "eager paging (os.rmm) maps every page of a mapping as 4K pages at its first fault; huge pages beside it are not modelled: the policy must be \"never\"".into(),
        ));
    }
    if cfg.virt.is_some() {
        e.push((
            "os.rmm".into(),
            "Redundant Memory Mappings translate native virtual addresses (Karakostas et al., ISCA 2015); a virtualized machine ([virt]) is not supported".into(),
        ));
    }
    if cfg.os.paging.replacement.is_some() {
        e.push((
            "os.rmm".into(),
            "eager paging allocates whole mappings and ranges are never swapped: page replacement (os.paging.replacement) cannot be combined with os.rmm".into(),
        ));
    }
    if matches!(cfg.page_table, crate::pagetable::PageTableConfig::Htab(_)) {
        // A full HTAB group evicts a translation the range table still maps: the range
        // TLB would go on translating a page the table dropped (its restore path and
        // the ranges would have to agree; not modelled).
        e.push((
            "page_table.kind".into(),
            "the hashed page table (htab) evicts translations its ranges still cover: os.rmm is not supported with it".into(),
        ));
    }
    if cfg.os.direct_segment.is_some() {
        e.push((
            "os.rmm".into(),
            "a direct segment and eager paging would both back the heap: use one of os.direct_segment and os.rmm".into(),
        ));
    }
    e
}

/// A range TLB with a POM-TLB: the range TLB's level comes after the last one, the
/// POM-TLB's, so it would be probed after the POM-TLB's memory read, not beside the STLB
/// as the paper has it (Karakostas et al., ISCA 2015). Refused at the range TLB's key
/// rather than modelled out of order; putting it between the two would renumber levels.
fn pom_problem(cfg: &super::SystemConfig) -> Option<(String, String)> {
    let pom = cfg
        .tlb
        .iter()
        .position(|t| t.organisation == TlbOrganisation::Pom)?;
    Some((
        range_tlb_key(cfg)?,
        format!("a range TLB is probed beside the STLB, and a POM-TLB (tlb[{pom}]) comes after the SRAM TLBs: the two in one machine are not supported (set os.rmm.range_tlb_entries = 0 or remove the POM-TLB)"),
    ))
}

/// Victima probes the L2 after a miss of the last TLB level and takes that level's
/// evictions; a range TLB is a level of its own after the STLB, so the blocks would
/// follow the range TLB rather than the STLB the paper pairs them with. Refused at
/// `victima.enable` rather than modelled against the wrong level.
fn victima_problem(cfg: &super::SystemConfig) -> Option<(String, String)> {
    cfg.victima.as_ref().filter(|v| v.enable)?;
    range_tlb_key(cfg)?;
    Some((
        "victima.enable".into(),
        "Victima follows the last TLB level, which a range TLB (os.rmm) would be: the two in one machine are not supported".into(),
    ))
}

/// The key that puts a range TLB in the machine, if one is there.
fn range_tlb_key(cfg: &super::SystemConfig) -> Option<String> {
    match (cfg.tlb.iter()).position(|t| t.organisation == TlbOrganisation::Range) {
        Some(i) => Some(format!("tlb[{i}].organisation")),
        None if cfg.os.rmm.as_ref().is_some_and(|r| r.range_tlb_entries > 0) => {
            Some("os.rmm.range_tlb_entries".into())
        }
        None => None,
    }
}
