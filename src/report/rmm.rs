//! What Redundant Memory Mappings did in a run (`os.rmm`): the range TLB and range
//! walks per core ([`RangeTlbReport`]), and the summary lines for them and for the OS's
//! ranges and eager paging ([`crate::os::rmm::RmmReport`]).
//!
//! In: a core's counters, the run's report. Out: the JSON's `rmm` objects (absent
//! without `os.rmm`) and text lines.

use crate::os::rmm::RmmReport;
use crate::sim::CoreCounters;
use serde::Serialize;
use std::fmt::Write;

/// What the range TLB and the range walker did (Redundant Memory Mappings).
#[derive(Clone, Debug, Serialize)]
pub struct RangeTlbReport {
    /// Lookups the range TLB answered (no page walk followed).
    pub range_tlb_hits: u64,
    /// Range-table walks (one after each page walk), those that found a range, the
    /// node lines they read and those reads' cycles: in the background of the page
    /// walk, not part of `translation_cycles`.
    pub range_walks: u64,
    pub range_walk_hits: u64,
    pub range_walk_reads: u64,
    pub range_walk_cycles: u64,
}

impl RangeTlbReport {
    pub fn new(range_tlb_hits: u64, k: &CoreCounters) -> RangeTlbReport {
        RangeTlbReport {
            range_tlb_hits,
            range_walks: k.range_walks,
            range_walk_hits: k.range_walk_hits,
            range_walk_reads: k.range_walk_reads,
            range_walk_cycles: k.range_walk_cycles,
        }
    }
}

/// The summary's lines for RMM (nothing when both are absent).
pub fn summary(o: &mut String, tlb: Option<&RangeTlbReport>, os: Option<&RmmReport>) {
    if let Some(r) = tlb {
        let _ = writeln!(
            o,
            "  range TLB: {} hits; range walks {} ({} found a range), {} node lines read, {} cycles (background, not in translation cycles)",
            r.range_tlb_hits, r.range_walks, r.range_walk_hits, r.range_walk_reads, r.range_walk_cycles
        );
    }
    if let Some(r) = os {
        let _ = writeln!(
            o,
            "  ranges: {} (mean {:.1} pages, max {}), covering {:.1}% of mapped memory; range table {} nodes ({} KiB, {} levels)",
            r.ranges,
            r.mean_range_pages,
            r.max_range_pages,
            r.coverage * 100.0,
            r.table_nodes,
            r.table_bytes >> 10,
            r.table_height
        );
        let _ = writeln!(
            o,
            "  eager paging: {} faults mapped {} pages in {} blocks; {} pages ({:.1}%) never touched",
            r.eager_faults,
            r.eager_pages,
            r.eager_blocks,
            r.untouched_pages,
            if r.eager_pages == 0 { 0.0 } else { r.untouched_pages as f64 * 100.0 / r.eager_pages as f64 }
        );
    }
}
