//! The system configuration: every component of the simulated machine is chosen and
//! sized here, and each section of the config checks its own keys.
//!
//! In: a TOML table, decoded into a [`SystemConfig`] by the generic loader
//! ([`crate::loader::load`], shared with workloads, sweeps, studies, `mva` and
//! `analysis`: it refuses unknown keys and applies `--set` overrides first). Out: the
//! typed config the simulator is built from, and [`SystemConfig::validate`], which
//! returns every geometric or semantic problem as `(key.path, message)` with the full
//! key path; the caller turns each into `file:line: key.path: message`
//! ([`crate::loader::ConfigSource::error_at`]).
//!
//! One file per section, each holding the section's types and their `validate`:
//!
//! * `machine.rs`: `[sim]` ([`SimConfig`]), `[topology]` ([`TopologyConfig`]) and
//!   `[shootdown]` ([`ShootdownConfig`]);
//! * `tlb.rs`: `[[tlb]]` ([`TlbConfig`], [`TlbOrganisation`], [`validate_tlbs`]);
//! * `walker.rs`: `[walker]` and its walk caches ([`WalkerConfig`], [`PscConfig`]);
//! * `memory.rs`: `[memory]`, DRAM and the caches ([`MemoryConfig`], [`CacheConfig`]);
//! * `os.rs`: `[os]` with its huge pages, paging and scheduling ([`OsConfig`]);
//!   `direct_segment.rs`: `[os.direct_segment]` ([`DirectSegmentConfig`]); `rmm.rs`:
//!   `[os.rmm]` ([`RmmConfig`]); `utopia.rs`: `[os.utopia]`, a Utopia RestSeg
//!   ([`UtopiaConfig`]);
//! * `pom_tlb.rs`: `[pom_tlb]`, rewritten into `[[tlb]]` structures before decoding;
//! * `virt.rs`: `[virt]`, the hypervisor and host table of a virtualized machine
//!   ([`VirtConfig`]);
//! * `victima.rs`: `[victima]`, TLB blocks in the L2 cache ([`VictimaConfig`]);
//! * `spec.rs`: `[spectlb]` and `[size_prediction]`, speculative translation and L1
//!   page-size prediction ([`SpecTlbConfig`], [`SizePredictionConfig`]);
//! * `prefetch.rs`: `[prefetch]`, TLB prefetching ([`PrefetchConfig`]; the
//!   prefetchers' own parameters live with them in `crate::prefetch`);
//! * `[page_table]` belongs to the page-table designs: [`PageTableConfig`] lives in
//!   `crate::pagetable::design` and validates itself.
//!
//! This file owns the machine as a whole: [`SystemConfig`], the checks that span
//! sections, and the set-associative geometry check the TLB, walker and memory sections
//! share. Every type is re-exported here, so `crate::config::X` names it wherever it
//! lives.
//!
//! The component tree mirrors this config tree: `tlb[i]` is one TLB structure,
//! `walker.psc[i]` one paging-structure cache, `memory.cache[i]` one cache level, and the
//! stats tree uses the same names.

mod direct_segment;
mod machine;
mod memory;
mod os;
pub mod pom_tlb;
mod prefetch;
mod rmm;
mod spec;
mod tlb;
mod utopia;
mod victima;
mod virt;
mod walker;

pub use direct_segment::DirectSegmentConfig;
pub use machine::*;
pub use memory::*;
pub use os::*;
pub use prefetch::{FreePrefetch, PrefetchConfig, PrefetcherKind};
pub use rmm::{RmmConfig, DEFAULT_RANGE_TLB_ENTRIES, RANGE_TLB_NAME};
pub use spec::{SizePredictionConfig, SpecTlbConfig};
pub use tlb::*;
pub use utopia::{UtopiaConfig, TAG_LINE as UTOPIA_TAG_LINE};
pub use victima::{VictimaConfig, VictimaPredictor};
pub use virt::*;
pub use walker::*;

use crate::assoc::Replacement;
use serde::{Deserialize, Serialize};

/// The whole machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// A label for reports.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sim: SimConfig,
    /// TLB structures; `level` groups them (1 = L1, 2 = L2 STLB, ...).
    #[serde(default)]
    pub tlb: Vec<TlbConfig>,
    #[serde(default)]
    pub walker: WalkerConfig,
    pub page_table: PageTableConfig,
    pub memory: MemoryConfig,
    pub os: OsConfig,
    #[serde(default)]
    pub topology: TopologyConfig,
    #[serde(default)]
    pub shootdown: ShootdownConfig,
    /// Virtualization: absent = native (and left out of the config's serialization, so
    /// native configs and their hashes are unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virt: Option<VirtConfig>,
    /// Victima's TLB blocks in the L2 cache (`victima.rs`): absent = off, and left out
    /// of the serialization as `virt` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub victima: Option<VictimaConfig>,
    /// SpecTLB (`spec.rs`): absent = off, left out of the serialization as `virt` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spectlb: Option<SpecTlbConfig>,
    /// Level-1 page-size prediction (`spec.rs`): absent = off, left out likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_prediction: Option<SizePredictionConfig>,
    /// TLB prefetching (`prefetch.rs`): absent = off, and left out of the serialization
    /// as `virt` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefetch: Option<PrefetchConfig>,
}

/// The page-table design: one variant per design, each with its own config type, all
/// in `pagetable::design` (the one place that knows the designs).
pub use crate::pagetable::PageTableConfig;
/// Default of every count that starts at one (cores, walks in flight, threads, ...).
fn one() -> u32 {
    1
}

/// Most entries, ways or cores anything may be configured with; larger numbers are
/// surely typos and would make the simulator allocate gigabytes.
const MAX_ENTRIES: u32 = 1 << 24;

/// Host memory the simulated structures may take (the machines this runs on have 24 GiB).
const HOST_MEMORY_LIMIT: u64 = 8 << 30;

/// Most ways a set may have (TLBs, walk caches, caches): a lookup searches every way of
/// its set, so a fully associative TLB of 2^24 entries made each access scan 2^24
/// entries (20,000 accesses took over a minute; issue 17 item 15). 8192 covers the
/// fully associative sizes the committed sweeps (`results/sweeps/fa-tlb-sizes`, up to
/// 4096) and the tests (the analysis test's 8192) simulate; larger fully associative
/// LRU TLBs are answered exactly by `mmusim analyze` (its TLB miss curve).
pub const MAX_WAYS: u32 = 8192;

/// How a structure's capacity is written: a number of `entries` (TLBs, walk caches), or
/// a cache's `size` in bytes of `line`-byte lines. Problems of the capacity are blamed
/// on the key the user wrote.
#[derive(Clone, Copy)]
enum Capacity {
    Entries(u64),
    Lines {
        size: crate::addr::ByteSize,
        line: u32,
    },
}

/// Check a set-associative geometry; returns problems keyed by the field at fault.
fn check_geometry(
    errs: &mut Vec<(String, String)>,
    path: &str,
    capacity: Capacity,
    ways: u32,
    repl: Replacement,
) {
    let (entries, key) = match capacity {
        Capacity::Entries(n) => (n, "entries"),
        Capacity::Lines { size, line } => (size.0 / u64::from(line.max(1)), "size"),
    };
    // "entries (N)" or "N lines (S / L bytes)", as the user wrote the capacity.
    let count = match capacity {
        Capacity::Entries(n) => format!("entries ({n})"),
        Capacity::Lines { size, line } => format!("{entries} lines ({size} / {line} bytes)"),
    };
    if entries == 0 {
        let msg = match capacity {
            Capacity::Entries(_) => "must be at least 1".to_string(),
            Capacity::Lines { size, line } => format!("{} bytes hold no {line}-byte line", size.0),
        };
        errs.push((format!("{path}.{key}"), msg));
        return;
    }
    if entries > MAX_ENTRIES as u64 {
        let what = match capacity {
            Capacity::Entries(_) => entries.to_string(),
            Capacity::Lines { .. } => count,
        };
        errs.push((
            format!("{path}.{key}"),
            format!("{what} is more than the supported {MAX_ENTRIES}"),
        ));
        return;
    }
    if ways == 0 {
        errs.push((format!("{path}.ways"), "must be at least 1".into()));
        return;
    }
    if ways > MAX_WAYS {
        errs.push((
            format!("{path}.ways"),
            format!(
                "{ways} ways is more than the supported {MAX_WAYS}: every lookup searches all the ways of a set (for the miss curve of a larger fully associative LRU TLB, see `mmusim analyze`)"
            ),
        ));
        return;
    }
    if entries % ways as u64 != 0 {
        let msg = match capacity {
            Capacity::Entries(_) => format!("{count} are not divisible by ways ({ways})"),
            Capacity::Lines { .. } => format!("{count} are not divisible by {ways} ways"),
        };
        errs.push((format!("{path}.ways"), msg));
        return;
    }
    let sets = entries / ways as u64;
    if !sets.is_power_of_two() {
        let what = match capacity {
            Capacity::Entries(_) => "entries / ways".to_string(),
            Capacity::Lines { .. } => format!("{entries} lines / {ways} ways"),
        };
        errs.push((
            format!("{path}.ways"),
            format!("{what} = {sets} sets, which is not a power of two"),
        ));
    }
    if repl == Replacement::Plru && (!ways.is_power_of_two() || ways > 64) {
        errs.push((
            format!("{path}.replacement"),
            format!("tree PLRU needs a power-of-two number of ways up to 64, not {ways}"),
        ));
    }
}

impl SystemConfig {
    /// Every semantic problem, as `(key.path, message)`; empty when the config is usable.
    ///
    /// Each section checks its own keys; what spans sections is said where it is
    /// checked. The calls come in the order problems have always been reported in
    /// (users and tests see it), which is why the TLB list and the OS section are
    /// checked in parts ([`validate_tlbs`] and [`OsConfig::validate`] give each whole).
    pub fn validate(&self) -> Vec<(String, String)> {
        let cores = self.sim.cores;
        let mut e = self.sim.validate();
        e.extend(tlb::missing(&self.tlb));
        e.extend(self.os.first_problems());
        e.extend(tlb::structure_problems(&self.tlb));
        // Spans sections: the page-table design checks its own keys and whether it can
        // map the base page size `os.page_size`.
        e.extend(self.page_table.validate(&self.os));
        // Spans sections: which levels a walk cache may hold is the design's.
        e.extend(
            self.walker
                .validate(self.page_table.design().walk_cache_levels()),
        );
        e.extend(self.memory.validate());
        // Spans sections: every core's TLBs, walk caches and private caches together.
        e.extend(self.host_memory_problem());
        // Spans sections: processes x threads must fill `sim.cores`, and huge page sizes
        // must be ones the page-table design maps.
        e.extend(self.os.main_problems(cores, &self.page_table));
        e.extend(self.shootdown.validate());
        // Spans sections: the topology links `sim.cores` cores.
        e.extend(self.topology.validate(cores));
        e.extend(self.os.last_problems());
        // Spans sections: the host must hold and address the guest's memory (`os`).
        if let Some(v) = &self.virt {
            e.extend(v.validate(&self.os, cores));
            // Spans sections: ASAP's prefetches are modelled for a native walk only.
            if self.page_table.asap() {
                e.push((
                    "page_table.asap".into(),
                    "ASAP is modelled for native radix walks only, not with [virt] (the nested walk's prefetches are not modelled)".into(),
                ));
            }
        }
        // Spans sections: a direct segment against memory, processes, the page table's
        // reach, `[virt]` and page replacement (empty when there is none).
        e.extend(direct_segment::problems(self));
        // Spans sections: eager paging and range TLBs (empty without either).
        e.extend(rmm::problems(self));
        // Spans sections: a RestSeg against memory, paging, the page table, `[virt]`.
        e.extend(utopia::problems(self));
        // Spans sections: a POM-TLB's memory against `os.phys_mem`, `[virt]`.
        let virt = self.virt.is_some();
        e.extend(tlb::memory_problems(
            &self.tlb,
            self.os.phys_mem.0,
            self.sim.cores,
            virt,
        ));
        // Spans sections: the cache level holding the blocks, and `[virt]`.
        e.extend(victima::problems(self));
        // Spans sections: SpecTLB against the huge-page policy and the other designs.
        e.extend(spec::problems(self));
        // Spans sections: the trigger level, the page-table design, `[virt]`, the reach
        // designs.
        e.extend(prefetch::problems(self));
        e
    }

    /// The TLB structures each core builds: `[[tlb]]`, and the range TLB `[os.rmm]`
    /// adds after them (`os.rmm.range_tlb_entries`).
    pub fn tlb_structures(&self) -> Vec<TlbConfig> {
        let mut v = self.tlb.clone();
        if let Some(t) = self.os.rmm.as_ref().and_then(|r| r.range_tlb(&self.tlb)) {
            v.push(t);
        }
        v
    }

    /// The structures private to a core are built once per core: too many cores of too
    /// large structures would not fit in the host's memory (reported at `sim.cores`).
    fn host_memory_problem(&self) -> Option<(String, String)> {
        let cores = self.sim.cores.clamp(1, 1024) as u64;
        let tlb_entries: u64 = self.tlb.iter().map(|t| t.entries as u64).sum();
        let psc_entries: u64 = self.walker.psc.iter().map(|p| p.entries as u64).sum();
        let (mut private_lines, mut shared_lines) = (0u64, 0u64);
        for c in &self.memory.cache {
            let lines = c.size.0 / c.line.max(1) as u64;
            // Sizes up to 2^64 bytes are valid TOML: saturate rather than wrap.
            if c.shared {
                shared_lines = shared_lines.saturating_add(lines);
            } else {
                private_lines = private_lines.saturating_add(lines);
            }
        }
        // Key, value and replacement state: 24 bytes per entry.
        let per_core = tlb_entries + psc_entries.saturating_add(private_lines);
        let bytes = (per_core.saturating_mul(cores))
            .saturating_add(shared_lines)
            .saturating_mul(24);
        (bytes > HOST_MEMORY_LIMIT).then(|| {
            (
                "sim.cores".into(),
                format!(
                    "{cores} cores of these TLBs, walk caches and caches need {} GiB of host memory to simulate; the limit is {} GiB",
                    bytes >> 30,
                    HOST_MEMORY_LIMIT >> 30
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests;
