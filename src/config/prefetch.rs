//! `[prefetch]`: TLB prefetching (issue 20): which prefetcher watches the TLB misses, the
//! prefetch buffer its translations wait in beside the last TLB level, the walks that
//! fetch them, and free prefetching of the leaf line's other PTEs (SBFP).
//!
//! In: the decoded table and, for the checks spanning sections, the whole
//! [`super::SystemConfig`] (TLB levels, the page-table design, `[virt]`, the reach
//! designs). Out: [`PrefetchConfig`] for `crate::sim::prefetch` and its problems as
//! `(key.path, message)` under `prefetch`.
//!
//! Absent (the default), nothing changes: the section is left out of serialized
//! configs, so existing configs keep their hash and results.
//!
//! Defaults are Virtuoso's (CMU-SAFARI/Virtuoso@8188baf, `simulator/sniper/config/
//! mmu_configs/mmu_base_prefetch.cfg`): a 1024-entry 2-way prefetch buffer probed in 1
//! cycle beside the L2 TLB, the sequential prefetcher's 2 pages on each side.

use crate::assoc::Replacement;
use crate::prefetch::{
    AspConfig, AtpConfig, DpConfig, RecencyConfig, SbfpConfig, SequentialConfig,
};
use serde::{Deserialize, Serialize};

/// Which prefetcher watches the misses (`prefetch.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PrefetcherKind {
    /// None (the default): only free prefetching (`prefetch.free`), if set.
    #[default]
    None,
    /// The next and previous pages (`prefetch.sequential`).
    Sequential,
    /// The Agile TLB Prefetcher (`prefetch.atp`; Vavouliotis et al., ISCA 2021).
    Atp,
    /// Arbitrary stride, per program counter (`prefetch.asp`).
    Asp,
    /// Distance prefetching (`prefetch.dp`).
    Dp,
    /// Recency-based preloading (`prefetch.recency`).
    Recency,
}

/// What free prefetching keeps of a walked leaf line's other PTEs (`prefetch.free`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum FreePrefetch {
    /// Nothing: only the walked PTE is used.
    #[default]
    Off,
    /// Every mapped neighbour in the line (the unfiltered baseline).
    All,
    /// Those whose distance the SBFP sampler found useful (`prefetch.sbfp`;
    /// Vavouliotis et al., ISCA 2021).
    Sbfp,
}

/// `[prefetch]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefetchConfig {
    #[serde(default)]
    pub kind: PrefetcherKind,
    #[serde(default)]
    pub free: FreePrefetch,
    /// The TLB level whose misses train and trigger the prefetcher (1 = every L1 TLB
    /// miss; default: the last level).
    #[serde(default)]
    pub trigger_level: Option<u32>,
    /// The prefetch buffer (Virtuoso's "PQ", a TLB of its own at level 2).
    #[serde(default = "buffer_entries")]
    pub buffer_entries: u32,
    #[serde(default = "buffer_ways")]
    pub buffer_ways: u32,
    /// Its probe latency, in parallel with the last level's probe and no longer than it
    /// (so it adds nothing to a lookup).
    #[serde(default = "one")]
    pub buffer_latency: u32,
    #[serde(default)]
    pub buffer_replacement: Replacement,
    /// Prefetch walks that may wait for a walker at once; more are dropped. Virtuoso
    /// lets up to 1000 be in flight (`tlb.h`, `max_prefetch_count`) and gives them no
    /// walker; here they queue for the demand walks' walkers, so the bound is how much
    /// walker time prefetching may hold ahead: 16 assumed.
    #[serde(default = "queue")]
    pub queue: u32,
    /// Each prefetcher's own parameters (`[prefetch.<kind>]`, types beside the
    /// prefetcher in `crate::prefetch`), each with defaults; read only when `kind`
    /// names it.
    #[serde(default)]
    pub sequential: SequentialConfig,
    #[serde(default)]
    pub atp: AtpConfig,
    /// Read when `free = "sbfp"`.
    #[serde(default)]
    pub sbfp: SbfpConfig,
    #[serde(default)]
    pub asp: AspConfig,
    #[serde(default)]
    pub dp: DpConfig,
    #[serde(default)]
    pub recency: RecencyConfig,
}

fn buffer_entries() -> u32 {
    1024
}
fn buffer_ways() -> u32 {
    2
}
fn one() -> u32 {
    1
}
fn queue() -> u32 {
    16
}

impl Default for PrefetchConfig {
    fn default() -> Self {
        PrefetchConfig {
            kind: PrefetcherKind::default(),
            free: FreePrefetch::default(),
            trigger_level: None,
            buffer_entries: buffer_entries(),
            buffer_ways: buffer_ways(),
            buffer_latency: one(),
            buffer_replacement: Replacement::default(),
            queue: queue(),
            sequential: SequentialConfig::default(),
            atp: AtpConfig::default(),
            sbfp: SbfpConfig::default(),
            asp: AspConfig::default(),
            dp: DpConfig::default(),
            recency: RecencyConfig::default(),
        }
    }
}

impl PrefetchConfig {
    /// The TLB level (1-based) whose misses trigger the prefetcher, of `levels`.
    pub fn trigger(&self, levels: u32) -> u32 {
        self.trigger_level.unwrap_or(levels)
    }
}

/// Every problem of `prefetch` against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let Some(p) = cfg.prefetch.as_ref() else {
        return Vec::new();
    };
    let mut e = Vec::new();
    let levels = cfg.tlb.iter().map(|t| t.level).max().unwrap_or(0);
    if let Some(l) = p.trigger_level {
        if l == 0 || l > levels {
            e.push((
                "prefetch.trigger_level".into(),
                format!("{l}: the TLB levels are 1 to {levels}"),
            ));
        }
    }
    let (n, w) = (p.buffer_entries, p.buffer_ways);
    if n == 0 || w == 0 || n % w != 0 || !(n / w).is_power_of_two() || n > 1 << 20 {
        e.push((
            "prefetch.buffer_entries".into(),
            format!(
                "{n} entries in {w} ways: the buffer needs a power-of-two number of sets of equal ways, at most 2^20 entries"
            ),
        ));
    }
    if p.buffer_replacement == Replacement::Plru && !w.is_power_of_two() {
        e.push((
            "prefetch.buffer_replacement".into(),
            format!("plru needs a power-of-two number of ways, not {w}"),
        ));
    }
    // Probed beside the last level, in parallel: the level's latency covers it.
    let last = (cfg.tlb.iter().filter(|t| t.level == levels))
        .map(|t| t.latency)
        .min()
        .unwrap_or(0);
    if p.buffer_latency > last {
        e.push((
            "prefetch.buffer_latency".into(),
            format!(
                "{} cycles: the buffer is probed beside the last TLB level, whose fastest structure takes {last}; at most that",
                p.buffer_latency
            ),
        ));
    }
    if p.queue > 4096 {
        e.push((
            "prefetch.queue".into(),
            format!("{}: at most 4096 waiting prefetch walks", p.queue),
        ));
    }
    e.extend(p.sequential.problems("prefetch.sequential"));
    e.extend(p.atp.problems("prefetch.atp"));
    e.extend(p.sbfp.problems("prefetch.sbfp"));
    e.extend(p.asp.problems("prefetch.asp"));
    e.extend(p.dp.problems("prefetch.dp"));
    e.extend(p.recency.problems("prefetch.recency"));
    // The leaf line's 8 PTEs are one leaf table's only if it has 8 entries or more.
    let leaf_bits = cfg.page_table.design().radix_bits().last().copied();
    if p.free != FreePrefetch::Off && cfg.page_table.kind() == "radix" && leaf_bits < Some(3) {
        e.push((
            "prefetch.free".into(),
            format!(
                "the leaf tables have {} entries: free prefetching takes the 8 PTEs of a 64-byte line of one leaf table",
                1u64 << leaf_bits.unwrap_or(0)
            ),
        ));
    }
    if p.free != FreePrefetch::Off && cfg.page_table.kind() != "radix" {
        e.push((
            "prefetch.free".into(),
            format!(
                "free prefetching takes the other PTEs of a radix table's leaf line; the page table is {}",
                cfg.page_table.kind()
            ),
        ));
    }
    let others = [
        (cfg.virt.is_some(), "[virt]"),
        (cfg.victima.as_ref().is_some_and(|v| v.enable), "[victima]"),
        (cfg.os.rmm.is_some(), "os.rmm"),
        (cfg.os.utopia.is_some(), "os.utopia"),
        (cfg.os.direct_segment.is_some(), "os.direct_segment"),
        (
            cfg.tlb
                .iter()
                .any(|t| t.organisation == super::TlbOrganisation::Pom),
            "a POM-TLB",
        ),
    ];
    for (on, what) in others {
        if on {
            e.push((
                "prefetch".into(),
                format!(
                    "TLB prefetching is not modelled together with {what}: use one or the other"
                ),
            ));
        }
    }
    e
}
