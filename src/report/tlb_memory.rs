//! `tlb_memory` of a core's report: the memory reads TLB probes made (a POM-TLB's set
//! lines, `tlb/pom.rs`), where the caches and DRAM served them, and their cycles.
//! Absent from the JSON of a run whose TLBs are all held in SRAM.
//!
//! In: a core's counters and the names of its memory levels. Out: [`TlbMemoryReport`].

use crate::sim::{CoreCounters, TLB_READ_LEVELS};
use serde::Serialize;

/// What the TLB probes that read memory cost one core (or the machine, summed).
#[derive(Clone, Debug, Serialize)]
pub struct TlbMemoryReport {
    /// Lookups that reached the level of the POM-TLB and read memory.
    pub lookups: u64,
    /// Memory reads they made (one line per probed POM-TLB structure).
    pub reads: u64,
    /// Reads by the level that served them, nearest first, DRAM last.
    pub served_by: Vec<ServedBy>,
    /// Cycles the lookups waited for them (each lookup the slowest of its reads); part
    /// of `translation_cycles.tlb`.
    pub cycles: u64,
    /// cycles / lookups.
    pub mean_cycles_per_lookup: f64,
}

/// Reads one memory level served.
#[derive(Clone, Debug, Serialize)]
pub struct ServedBy {
    pub level: String,
    pub reads: u64,
}

impl TlbMemoryReport {
    /// The report of counters `k` of a core whose memory route is `levels` (cache
    /// names nearest first, then `DRAM`).
    pub fn new(k: &CoreCounters, levels: &[String]) -> TlbMemoryReport {
        let n = levels.len().min(TLB_READ_LEVELS);
        let served_by: Vec<ServedBy> = (0..n)
            .map(|i| ServedBy {
                level: levels[i].clone(),
                reads: k.tlb_memory_reads[i],
            })
            .collect();
        let reads = k.tlb_memory_reads.iter().sum();
        TlbMemoryReport {
            lookups: k.tlb_memory_lookups,
            reads,
            served_by,
            cycles: k.tlb_memory_cycles,
            mean_cycles_per_lookup: super::ratio(k.tlb_memory_cycles, k.tlb_memory_lookups),
        }
    }
}
