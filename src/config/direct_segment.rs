//! `[os.direct_segment]`: one direct segment per process (Basu, Gandhi, Chang, Hill and
//! Swift, "Efficient Virtual Memory for Big Memory Servers", ISCA 2013).
//!
//! In: the decoded table (the primary region's virtual `start` and `len`) and, for the
//! checks spanning sections, the whole [`super::SystemConfig`] (physical memory, the
//! processes at start, the page table's reach, `[virt]`, page replacement). Out:
//! [`DirectSegmentConfig`] for `crate::os::direct_segment` (which allocates and maps the
//! region at each process's start) and its problems as `(key.path, message)` under
//! `os.direct_segment`.
//!
//! Absent (the default), nothing changes: the key is left out of serialized configs, so
//! existing configs keep their hash and results.

use crate::addr::ByteSize;
use serde::{Deserialize, Serialize};

/// The primary region of every process at start: [start, start + len) of its virtual
/// address space, backed by one physically contiguous range allocated when the process
/// starts and translated by the core's BASE/LIMIT/OFFSET registers instead of paging.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectSegmentConfig {
    /// Virtual address of the region's first byte (BASE). The default workload's heap
    /// starts at the workload's `base`, 0x10_0000_0000.
    pub start: u64,
    /// Bytes of the region (LIMIT - BASE).
    pub len: ByteSize,
}

impl DirectSegmentConfig {
    /// One past the region's last byte (LIMIT), saturating.
    pub fn limit(&self) -> u64 {
        self.start.saturating_add(self.len.0)
    }
}

/// Every problem of `os.direct_segment` against the rest of the machine.
pub(super) fn problems(cfg: &super::SystemConfig) -> Vec<(String, String)> {
    let Some(d) = &cfg.os.direct_segment else {
        return Vec::new();
    };
    let mut e = Vec::new();
    let key = |k: &str| format!("os.direct_segment.{k}");
    let page = cfg.os.page_size.bytes();
    if cfg.os.page_size != crate::addr::PageSize::Size4K {
        // The region is mapped in the page table (and freed at exit) in 4 KiB pages.
        e.push((
            "os.page_size".into(),
            format!(
                "a direct segment's region is mapped in 4K pages beside it: page_size must be 4K, not {}",
                cfg.os.page_size
            ),
        ));
    }
    let two_mib = 2u64 << 20;
    if matches!(
        cfg.os.huge_pages.policy,
        crate::config::HugePolicy::Promote | crate::config::HugePolicy::Reserve
    ) && (d.start % two_mib != 0 || d.len.0 % two_mib != 0)
    {
        // A collapse or reservation of a 2 MiB region the segment shares with other
        // memory would move the segment's pages.
        e.push((
            key("start"),
            format!(
                "with os.huge_pages.policy = \"{}\" the region must start and end on 2 MiB boundaries",
                policy_name(cfg.os.huge_pages.policy)
            ),
        ));
    }
    if d.start % page != 0 {
        e.push((
            key("start"),
            format!(
                "{:#x} is not aligned to the base page size os.page_size = {}: the region's pages are mapped in the page table too",
                d.start, cfg.os.page_size
            ),
        ));
    }
    if d.len.0 == 0 || d.len.0 % page != 0 {
        e.push((
            key("len"),
            format!(
                "must be a positive multiple of os.page_size = {}, not {}",
                cfg.os.page_size,
                d.len.describe()
            ),
        ));
    }
    let va_bits = cfg.page_table.va_bits();
    let reach = 1u64.checked_shl(va_bits).unwrap_or(u64::MAX);
    if d.start.checked_add(d.len.0).is_none_or(|end| end > reach) {
        e.push((
            key("len"),
            format!(
                "the region [{:#x}, {:#x} + {}) goes beyond the page table's {va_bits}-bit reach",
                d.start, d.start, d.len
            ),
        ));
    }
    let procs = cfg.os.processes(cfg.sim.cores) as u64;
    if d.len.0.saturating_mul(procs) > cfg.os.phys_mem.0 {
        e.push((
            key("len"),
            format!(
                "{procs} process(es) x {} is more than os.phys_mem = {}: each process's segment is its own contiguous physical range",
                d.len, cfg.os.phys_mem
            ),
        ));
    }
    if cfg.virt.is_some() {
        // Basu et al. (ISCA 2013) translate a native process's virtual addresses;
        // segments under virtualization are a later design (Gandhi et al., MICRO 2014),
        // not modelled.
        e.push((
            "os.direct_segment".into(),
            "direct segments translate native virtual addresses (Basu et al., ISCA 2013); a virtualized machine ([virt]) is not supported".into(),
        ));
    }
    if cfg.os.paging.replacement.is_some() {
        // The paper's workloads "are provisioned not to swap" (abstract) and its
        // primary region is not paged: the hardware translates it without the page
        // table, so an evicted page would still be reached.
        e.push((
            "os.direct_segment".into(),
            "the primary region is never swapped (Basu et al., ISCA 2013): page replacement (os.paging.replacement) cannot be combined with a direct segment".into(),
        ));
    }
    e
}

/// A huge-page policy as the config writes it.
fn policy_name(p: crate::config::HugePolicy) -> String {
    format!("{p:?}").to_lowercase()
}
