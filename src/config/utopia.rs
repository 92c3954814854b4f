//! `[os.utopia]`: a 4K restrictive segment (RestSeg) of Utopia (Kanellopoulos, Bera,
//! Stojiljkovic, Bostanci, Firtina, Ausavarungnirun, Kumar, Hajinazar, Sadrosadati,
//! Vijaykumar and Mutlu, "Utopia: Using Virtual Memory Nonuniformly to Reduce Address
//! Translation Overheads", MICRO 2023).
//!
//! In: the decoded table (`size`, `ways`) and, for the checks spanning sections, the
//! whole [`super::SystemConfig`]. Out: [`UtopiaConfig`] for `crate::os::utopia` (which
//! takes the RestSeg and its tag array at boot) and its problems as `(key.path,
//! message)` under `os.utopia`.
//!
//! Absent (the default), nothing changes: the key is left out of serialized configs.
//!
//! Defaults: the MICRO 2023 artifact's first RestSeg, the one for 4 KiB pages
//! (Victima repository, `sniper/config/isca2023_revision/utopia.cfg`,
//! `[perf_model/utopia/utr] size=1024 (MB), page_size=12, assoc=16, hash="mask"`): a
//! 1 GiB 16-way RestSeg, the set index the low bits of the VPN. The paper's own figure
//! (2 x 512 MB, 16-way, as a secondary summary reports it) was not verified against the
//! paper's text and is not used.

use crate::addr::ByteSize;
use serde::{Deserialize, Serialize};

/// Bytes of one tag-array line: the tags of one set (a way's tag fits 4 bytes: the
/// artifact's tag is 48 - 12 - log2(sets) + 3 bits, `utopia.cc`), so at most 16 ways.
pub const TAG_LINE: u64 = 64;

/// The 4K RestSeg: `size` bytes of physical memory in sets of `ways` page frames.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtopiaConfig {
    /// Bytes of the RestSeg (1 GiB: the artifact's `size=1024`).
    #[serde(default = "default_size")]
    pub size: ByteSize,
    /// Frames per set (16: the artifact's `assoc=16`).
    #[serde(default = "default_ways")]
    pub ways: u32,
}

fn default_size() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_ways() -> u32 {
    16
}

impl UtopiaConfig {
    /// Sets of the RestSeg: size / (ways x 4 KiB).
    pub fn sets(&self) -> u64 {
        self.size.0 / (self.ways.max(1) as u64 * 4096)
    }

    /// Bytes of the tag array (one line per set), whole frames.
    pub fn tag_bytes(&self) -> u64 {
        (self.sets() * TAG_LINE).next_multiple_of(4096)
    }

    /// Physical memory taken at boot: the RestSeg and its tag array.
    pub fn reserved_bytes(&self) -> u64 {
        self.size.0.saturating_add(self.tag_bytes())
    }
}

/// Every problem of `os.utopia` against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let Some(u) = &cfg.os.utopia else {
        return Vec::new();
    };
    let mut e = Vec::new();
    let key = |k: &str| format!("os.utopia.{k}");
    if u.ways == 0 || u.ways as u64 * 4 > TAG_LINE {
        e.push((
            key("ways"),
            format!(
                "must be 1 to 16 (a set's tags are one 64-byte line of 4-byte tags), not {}",
                u.ways
            ),
        ));
    } else if u.size.0 % (u.ways as u64 * 4096) != 0 || !u.sets().is_power_of_two() {
        e.push((
            key("size"),
            format!(
                "{} / ({} ways x 4 KiB) must be a power-of-two number of sets (the set index is the low bits of the VPN)",
                u.size.describe(),
                u.ways
            ),
        ));
    }
    let tlb_mem = super::tlb_memory_bytes(&cfg.tlb, cfg.sim.cores);
    if u.reserved_bytes().saturating_add(tlb_mem) > cfg.os.phys_mem.0 / 2 {
        e.push((
            key("size"),
            format!(
                "the RestSeg and its tag array ({} bytes) must fit in half of os.phys_mem = {} (the rest is the FlexSeg)",
                u.reserved_bytes(),
                cfg.os.phys_mem
            ),
        ));
    }
    if cfg.os.page_size != crate::addr::PageSize::Size4K {
        e.push((
            "os.page_size".into(),
            format!(
                "the RestSeg holds 4K pages: page_size must be 4K, not {}",
                cfg.os.page_size
            ),
        ));
    }
    let refuse = |e: &mut Vec<(String, String)>, k: &str, why: &str| {
        e.push((
            k.into(),
            format!("cannot be combined with os.utopia: {why}"),
        ));
    };
    if cfg.virt.is_some() {
        refuse(&mut e, "virt", "the RestSeg walk translates native virtual addresses here (Utopia under virtualization is not modelled)");
    }
    if cfg.os.paging.replacement.is_some() {
        refuse(
            &mut e,
            "os.paging.replacement",
            "a swapped-out RestSeg page would keep its way and tag",
        );
    }
    if matches!(
        cfg.os.huge_pages.policy,
        crate::config::HugePolicy::Promote | crate::config::HugePolicy::Reserve
    ) || cfg.os.huge_pages.demote
    {
        refuse(&mut e, "os.huge_pages", "promotion, reservation and demotion move 4K pages between frames, which a RestSeg page cannot leave");
    }
    if !matches!(cfg.page_table, crate::pagetable::PageTableConfig::Radix(_)) {
        refuse(&mut e, "page_table", "the FlexSeg is the radix table here (other designs may evict an entry the tag array still holds)");
    }
    if cfg.os.direct_segment.is_some() {
        refuse(
            &mut e,
            "os.direct_segment",
            "one reach design of the OS at a time",
        );
    }
    if cfg.os.rmm.is_some() {
        // Eager paging maps whole mappings from large buddy blocks as ranges; the RestSeg
        // would take 4K pages of them into its sets, splitting the ranges.
        refuse(&mut e, "os.rmm", "eager paging places every page of a mapping itself, in ranges the RestSeg's placement by set would split (one reach design of the OS at a time)");
    }
    if cfg.victima.as_ref().is_some_and(|v| v.enable) {
        // Both follow a miss of the last TLB level: which goes first (and whether the
        // L2's blocks hold RestSeg pages) neither paper says.
        refuse(&mut e, "victima.enable", "the RestSeg walk and Victima's L2 probe both follow a last-level TLB miss, in an order neither paper gives (not modelled)");
    }
    e
}
