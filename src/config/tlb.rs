//! The TLB structures, `[[tlb]]`: what each serves (`kind`), its geometry, page sizes,
//! level and fill policy, and how it is organised (`organisation`).
//!
//! In: the decoded list. Out: [`TlbConfig`]s for `crate::tlb`, which builds one
//! structure per entry (per core), and the list's problems as `(key.path, message)`
//! under `tlb` / `tlb[i].<key>`: each structure checks its own keys
//! ([`TlbConfig::validate`], its organisation through [`TlbOrganisation`]), the list
//! checks what involves several (names unique, levels without gaps, one home per
//! level, side and page size).

use crate::addr::PageSize;
use crate::assoc::Replacement;
use serde::{Deserialize, Serialize};

/// Which accesses a TLB structure serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlbKind {
    Instruction,
    Data,
    Unified,
}

impl TlbKind {
    pub fn serves_instructions(self) -> bool {
        !matches!(self, TlbKind::Data)
    }
    pub fn serves_data(self) -> bool {
        !matches!(self, TlbKind::Instruction)
    }
}

/// When a TLB level is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlbFill {
    /// Filled with every translation that missed in it (inclusive-style).
    #[default]
    Miss,
    /// Filled only with entries evicted from the level above; a hit moves the entry up
    /// (exclusive victim TLB).
    Victim,
}

/// One TLB structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlbConfig {
    pub name: String,
    pub level: u32,
    pub kind: TlbKind,
    pub entries: u32,
    /// Ways per set; `ways = entries` is fully associative.
    pub ways: u32,
    pub page_sizes: Vec<PageSize>,
    /// Hit latency in cycles (a miss costs the same: the lookup completes either way).
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
    #[serde(default)]
    pub fill: TlbFill,
    /// How the structure stores and finds its entries. Left out of the serialized config
    /// when it is the default, so configs written before the key existed keep their
    /// hash (results and sweep ids derive from it).
    #[serde(default, skip_serializing_if = "TlbOrganisation::is_default")]
    pub organisation: TlbOrganisation,
    /// A coalesced structure's most pages per entry (`organisation = "coalesced"` only;
    /// absent: [`DEFAULT_COALESCE`]). Left out when absent, for the hash as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce: Option<u32>,
}

/// Pages a coalesced entry covers at most when `coalesce` is absent: 4, CoLT-SA's choice
/// (Pham, Vaidyanathan, Jaleel and Bhattacharjee, "CoLT: Coalesced Large-Reach TLBs",
/// MICRO 2012, Section 4: the set index drops 2 low bits of the page number; more
/// coalescing per set-associative entry raised conflict misses).
pub const DEFAULT_COALESCE: u32 = 4;

/// The most `coalesce` may be: the PTEs of a 4K leaf table that share one 64-byte
/// cache line (8 bytes each), which the walk brings in and the coalescing logic reads.
pub const MAX_COALESCE: u32 = 8;

/// How a TLB structure is organised: the config side of `tlb::Organisation` (each
/// variant names the file of `src/tlb/` that implements it and carries that
/// organisation's own parameters, if it has any beyond the common `entries`, `ways`,
/// `replacement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TlbOrganisation {
    /// `entries / ways` sets of `ways` ways, one page per entry (`tlb/set_associative.rs`).
    #[default]
    SetAssociative,
    /// Set-associative storage of entries that each cover up to `coalesce` contiguous
    /// pages, indexed by the page number without its low log2(`coalesce`) bits (CoLT-SA,
    /// `tlb/coalesced.rs`).
    Coalesced,
    /// A part-of-memory TLB (POM-TLB, Ryoo et al., ISCA 2017, `tlb/pom.rs`): `entries /
    /// ways` sets of [`POM_ENTRY_BYTES`]-byte entries in physical memory reserved at
    /// boot, each probe reading its set's line through the data caches.
    Pom,
    /// Fully associative entries that each cover a range of contiguous pages mapped to
    /// contiguous frames, any length (Redundant Memory Mappings' range TLB,
    /// `tlb/range.rs`); filled only from the range table's walk.
    Range,
}

/// Bytes of one POM-TLB entry in memory: 16 (Ryoo, Gulur, Song and John, "Rethinking TLB
/// Designs in Virtualized Environments: A Very Large Part-of-Memory TLB", ISCA 2017:
/// VPN, PPN, valid and attribute bits, ASID and VM ID in 16 bytes; four of them, one
/// set, in a 64-byte burst; as read in a summary of the paper, see `docs/REACH.md`).
/// The Victima artifact's POM-TLB uses 16 bytes as well (`tlb.cc`, set address
/// `base + set x ways x 16`).
pub const POM_ENTRY_BYTES: u64 = 16;

/// The line a POM-TLB probe reads (the paper's 64-byte burst): a set's entries must fit
/// in one, so `ways x 16` divides 64.
pub const POM_LINE_BYTES: u64 = 64;

impl TlbOrganisation {
    pub fn is_default(&self) -> bool {
        *self == TlbOrganisation::default()
    }

    /// Problems with the organisation's parameters of structure `t` (at key `path`).
    fn validate(&self, t: &TlbConfig, path: &str, errs: &mut Vec<(String, String)>) {
        match self {
            TlbOrganisation::SetAssociative => {
                let entries = super::Capacity::Entries(t.entries.into());
                super::check_geometry(errs, path, entries, t.ways, t.replacement);
                if t.coalesce.is_some() {
                    errs.push((
                        format!("{path}.coalesce"),
                        "only a coalesced TLB coalesces pages (organisation = \"coalesced\")"
                            .into(),
                    ));
                }
            }
            TlbOrganisation::Pom => {
                let entries = super::Capacity::Entries(t.entries.into());
                super::check_geometry(errs, path, entries, t.ways, t.replacement);
                let set = t.ways as u64 * POM_ENTRY_BYTES;
                if t.ways > 0 && (set > POM_LINE_BYTES || POM_LINE_BYTES % set != 0) {
                    errs.push((
                        format!("{path}.ways"),
                        format!(
                            "a POM-TLB set ({} ways of {POM_ENTRY_BYTES} bytes) must fit in \
                             one {POM_LINE_BYTES}-byte line: 1, 2 or 4 ways",
                            t.ways
                        ),
                    ));
                }
                if t.level == 1 {
                    errs.push((
                        format!("{path}.organisation"),
                        "a POM-TLB is probed after the SRAM TLBs miss: it cannot be level 1".into(),
                    ));
                }
                if t.fill == TlbFill::Victim {
                    errs.push((
                        format!("{path}.fill"),
                        "a POM-TLB is filled after a walk (fill = \"miss\")".into(),
                    ));
                }
                if t.coalesce.is_some() {
                    errs.push((
                        format!("{path}.coalesce"),
                        "only a coalesced TLB coalesces pages (organisation = \"coalesced\")"
                            .into(),
                    ));
                }
            }
            TlbOrganisation::Range => {
                if t.ways != t.entries || t.entries == 0 {
                    errs.push((
                        format!("{path}.ways"),
                        format!("a range TLB is fully associative: ways must equal entries ({}), not {}", t.entries, t.ways),
                    ));
                }
                if t.page_sizes != [PageSize::Size4K] {
                    errs.push((
                        format!("{path}.page_sizes"),
                        "a range TLB's hits fill 4K page entries: page_sizes must be [\"4K\"]"
                            .into(),
                    ));
                }
                if t.level == 1 {
                    errs.push((
                        format!("{path}.level"),
                        "a range TLB is probed beside the last-level TLB after an L1 miss (Karakostas et al., ISCA 2015): not at level 1".into(),
                    ));
                }
                if t.coalesce.is_some() {
                    errs.push((
                        format!("{path}.coalesce"),
                        "only a coalesced TLB coalesces pages (organisation = \"coalesced\")"
                            .into(),
                    ));
                }
            }
            TlbOrganisation::Coalesced => {
                let entries = super::Capacity::Entries(t.entries.into());
                super::check_geometry(errs, path, entries, t.ways, t.replacement);
                let n = t.coalesce.unwrap_or(DEFAULT_COALESCE);
                if !(2..=MAX_COALESCE).contains(&n) || !n.is_power_of_two() {
                    errs.push((
                        format!("{path}.coalesce"),
                        format!(
                            "must be a power of two from 2 to {MAX_COALESCE} (the PTEs of one \
                             64-byte line of a 4K leaf table), not {n}"
                        ),
                    ));
                }
            }
        }
    }

    /// Most pages one entry of structure `t` covers (1: page entries).
    pub fn pages_per_entry(&self, t: &TlbConfig) -> u32 {
        match self {
            TlbOrganisation::SetAssociative | TlbOrganisation::Pom | TlbOrganisation::Range => 1,
            TlbOrganisation::Coalesced => t.coalesce.unwrap_or(DEFAULT_COALESCE),
        }
    }

    /// Bytes of simulated physical memory structure `t` keeps its entries in, per core
    /// (0: held in SRAM).
    pub fn memory_bytes(&self, t: &TlbConfig) -> u64 {
        match self {
            TlbOrganisation::Pom => t.entries as u64 * POM_ENTRY_BYTES,
            _ => 0,
        }
    }
}

/// Physical memory the TLB structures of `tlbs` keep their entries in, for `cores`
/// cores (each core has its own: the TLBs are per core), rounded up to whole 4 KiB
/// frames: reserved at the top of physical memory at boot, never given to the OS.
pub fn tlb_memory_bytes(tlbs: &[TlbConfig], cores: u32) -> u64 {
    let per_core: u64 = (tlbs.iter()).map(|t| t.organisation.memory_bytes(t)).sum();
    (per_core.saturating_mul(cores.max(1) as u64))
        .checked_next_multiple_of(4096)
        .unwrap_or(u64::MAX)
}

impl TlbConfig {
    /// Problems of this structure's own keys, found at key `path` (`tlb[i]`).
    pub fn validate(&self, path: &str) -> Vec<(String, String)> {
        let p = path;
        let mut e = Vec::new();
        if self.level == 0 || self.level > 8 {
            e.push((format!("{p}.level"), "must be 1 to 8".into()));
        }
        self.organisation.validate(self, p, &mut e);
        if self.page_sizes.is_empty() {
            e.push((
                format!("{p}.page_sizes"),
                "must name at least one page size".into(),
            ));
        }
        for (j, ps) in self.page_sizes.iter().enumerate() {
            if self.page_sizes[..j].contains(ps) {
                e.push((
                    format!("{p}.page_sizes[{j}]"),
                    format!("{ps} is listed twice"),
                ));
            }
        }
        if self.fill == TlbFill::Victim && self.level == 1 {
            e.push((
                format!("{p}.fill"),
                "a level-1 TLB has no level above to take victims from".into(),
            ));
        }
        e
    }
}

/// Every problem of the `[[tlb]]` list: the list is empty, or its structures' problems.
pub fn validate_tlbs(tlbs: &[TlbConfig]) -> Vec<(String, String)> {
    let mut e = missing(tlbs);
    e.extend(structure_problems(tlbs));
    e
}

/// The list is empty. A part of [`validate_tlbs`] of its own only because
/// [`super::SystemConfig::validate`] has always reported it before `os.minor_fault_cycles`
/// and the structures' problems after it.
pub(super) fn missing(tlbs: &[TlbConfig]) -> Vec<(String, String)> {
    if tlbs.is_empty() {
        vec![("tlb".into(), "at least one TLB structure is needed".into())]
    } else {
        Vec::new()
    }
}

/// The structures' problems, each structure's in turn, then the levels'.
pub(super) fn structure_problems(tlbs: &[TlbConfig]) -> Vec<(String, String)> {
    // Levels contiguous from 1, names unique, at most one structure per (level, side,
    // page size) so a translation has exactly one home per level.
    let mut e = Vec::new();
    let mut names = std::collections::HashSet::new();
    // The first structure holding each (level, serves data, page size): one lookup per
    // page size and side, so a thousand overlapping structures cost a thousand steps
    // (and one error each), not half a million pairs.
    let mut homes: std::collections::HashMap<(u32, bool, PageSize), usize> =
        std::collections::HashMap::new();
    // Levels above 8 are refused on their own (`tlb[i].level`); the gaps below are
    // looked for only up to there (`level = 4294967295` took minutes).
    let max_level = (tlbs.iter().map(|t| t.level).filter(|&l| l <= 8))
        .max()
        .unwrap_or(0);
    for (i, t) in tlbs.iter().enumerate() {
        let p = format!("tlb[{i}]");
        if !names.insert(t.name.as_str()) {
            e.push((format!("{p}.name"), format!("`{}` is used twice", t.name)));
        }
        e.extend(t.validate(&p));
        let sides = [
            (true, t.kind.serves_data()),
            (false, t.kind.serves_instructions()),
        ];
        let keys = || {
            (sides.iter().filter(|s| s.1))
                .flat_map(|&(data, _)| t.page_sizes.iter().map(move |&ps| (t.level, data, ps)))
        };
        // The earliest structure this one overlaps (the first home of one of its keys)
        // and the page size they share (the first of this one's, in order).
        let clash = keys()
            .filter_map(|key| Some((*homes.get(&key)?, key.2)))
            .reduce(|a, b| if b.0 < a.0 { b } else { a });
        if let Some((k, ps)) = clash {
            e.push((
                format!("{p}.page_sizes"),
                format!(
                    "{ps} pages of this level and side are already held by tlb[{k}] (`{}`)",
                    tlbs[k].name
                ),
            ));
        }
        for key in keys() {
            homes.entry(key).or_insert(i);
        }
    }
    // Only the levels a structure may have (1 to 8, checked per structure): a level of
    // 4294967295 must not make this loop count to it (a hang found by issue 17's
    // randomized test).
    for lvl in 1..=max_level.min(8) {
        if !tlbs.iter().any(|t| t.level == lvl) {
            e.push((
                "tlb".into(),
                format!(
                    "levels must be numbered 1, 2, ... without gaps; no structure has level {lvl}"
                ),
            ));
        }
    }
    e
}

/// Problems of structures that keep their entries in memory (POM-TLB), against the rest
/// of the machine: the memory they reserve must leave at least half of `phys_mem` to
/// the OS (blamed on the first such structure's `entries`); they sit at one level only
/// (the core prices that level's reads as one parallel group); not on a virtualized
/// machine (its entries would live in host memory, which is not modelled; blamed on
/// `virt`).
pub(super) fn memory_problems(
    tlbs: &[TlbConfig],
    phys_mem: u64,
    cores: u32,
    virt: bool,
) -> Vec<(String, String)> {
    let mut e = Vec::new();
    let mem: Vec<usize> = (0..tlbs.len())
        .filter(|&i| tlbs[i].organisation.memory_bytes(&tlbs[i]) > 0)
        .collect();
    let Some(&first) = mem.first() else {
        return e;
    };
    let reserved = tlb_memory_bytes(tlbs, cores);
    if reserved > phys_mem / 2 {
        e.push((
            format!("tlb[{first}].entries"),
            format!(
                "the POM-TLBs take {reserved} bytes of physical memory ({} core(s) x \
                 entries x {POM_ENTRY_BYTES} bytes), more than half of os.phys_mem ({phys_mem})",
                cores.max(1)
            ),
        ));
    }
    if let Some(&j) = mem.iter().find(|&&j| tlbs[j].level != tlbs[first].level) {
        e.push((
            format!("tlb[{j}].level"),
            format!(
                "every POM-TLB structure must be at one level (tlb[{first}] is at level {})",
                tlbs[first].level
            ),
        ));
    }
    if virt {
        e.push((
            "virt".into(),
            format!(
                "a POM-TLB (tlb[{first}]) is not supported on a virtualized machine: its \
                 entries would live in host memory"
            ),
        ));
    }
    e
}

/// The roles a TLB structure can be addressed by in a key path when no structure has
/// that name (see the loader's module doc): `tlb.stlb.entries` means skylake's `stlb`
/// and zen4's `l2d`, so one sweep or comparison can span presets that name their
/// structures differently.
pub const TLB_ROLES: crate::loader::Roles = crate::loader::Roles {
    names: &[("tlb", "stlb"), ("tlb", "l1d"), ("tlb", "l1i")],
    resolve: tlb_role,
};

/// The structures of the raw `[[tlb]]` list `elements` that role `name` means:
/// `stlb` the data-side or unified structures at the highest level holding 4K pages,
/// `l1d` / `l1i` the level-1 structures serving data / instructions that hold 4K
/// pages. Read from the undecoded tree (the role is resolved before decoding), so a
/// structure whose keys are malformed is simply not a candidate.
fn tlb_role(array: &str, elements: &[toml::Value], name: &str) -> Vec<usize> {
    if array != "tlb" {
        return Vec::new();
    }
    // (index, level, serves data, serves instructions) of the structures holding 4K.
    let with_4k: Vec<(usize, i64, bool, bool)> = (elements.iter().enumerate())
        .filter_map(|(i, e)| {
            let t = e.as_table()?;
            let holds_4k = t
                .get("page_sizes")?
                .as_array()?
                .iter()
                .any(|p| p.as_str().and_then(PageSize::parse) == Some(PageSize::Size4K));
            let kind = TlbKind::deserialize(t.get("kind")?.clone()).ok()?;
            let level = t.get("level")?.as_integer()?;
            holds_4k.then_some((i, level, kind.serves_data(), kind.serves_instructions()))
        })
        .collect();
    let pick = |level: i64, data: bool| -> Vec<usize> {
        (with_4k.iter())
            .filter(|&&(_, l, d, ins)| l == level && if data { d } else { ins })
            .map(|&(i, ..)| i)
            .collect()
    };
    match name {
        "stlb" => {
            let top = (with_4k.iter())
                .filter(|t| t.2)
                .map(|t| t.1)
                .max()
                .unwrap_or(0);
            pick(top, true)
        }
        "l1d" => pick(1, true),
        "l1i" => pick(1, false),
        _ => Vec::new(),
    }
}
