//! TLB prefetching's part of a run's report (issue 20), absent from runs without
//! `[prefetch]`, so their files are unchanged: what the prefetcher asked for, the walks
//! and reads it cost, what the buffer served, and the ratios papers report.
//!
//! In: a core's (or the total's) [`PrefetchCounters`], its demand walks and the
//! prefetcher's own counters. Out: [`PrefetchReport`] under `stats.cores[i].prefetch`
//! and `stats.total.prefetch`.

use super::ratio;
use crate::sim::prefetch::PrefetchCounters;
use crate::sim::CoreCounters;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct PrefetchReport {
    #[serde(flatten)]
    pub counters: PrefetchCounters,
    /// Coverage: buffer hits / (buffer hits + demand walks): the share of last-level
    /// misses that needed no walk (a faulting access's two walks count as two).
    pub coverage: f64,
    /// Accuracy: buffer hits on translations inserted since the statistics restarted /
    /// translations inserted (prefetch walks and free PTEs) since then.
    pub accuracy: f64,
    /// Timeliness: of the buffer hits, the share still in flight (late).
    pub late_share: f64,
    /// Prefetch walks per demand walk (the extra walks).
    pub walks_per_demand_walk: f64,
    /// Prefetch-walk reads served below the first cache level: lines they brought into
    /// the caches (the pollution they may cause).
    pub lines_brought_in: u64,
    /// The prefetcher's own counters and tables (absent when it has none).
    #[serde(skip_serializing_if = "is_empty")]
    pub prefetcher: serde_json::Value,
}

fn is_empty(v: &serde_json::Value) -> bool {
    v.as_object().is_none_or(|o| o.is_empty())
}

impl PrefetchReport {
    pub fn new(k: &CoreCounters, demand_walks: u64, own: &serde_json::Value) -> PrefetchReport {
        let p = k.prefetch;
        PrefetchReport {
            counters: p,
            coverage: ratio(p.hits, p.hits + demand_walks),
            accuracy: ratio(p.hits - p.hits_on_earlier, p.inserted),
            late_share: ratio(p.late, p.hits),
            walks_per_demand_walk: ratio(p.walks, demand_walks),
            lines_brought_in: p.reads_by_level[1..].iter().sum(),
            prefetcher: own.clone(),
        }
    }
}

/// The summary's prefetching lines (none without `[prefetch]`).
pub(super) fn summary(o: &mut String, p: Option<&PrefetchReport>) {
    use std::fmt::Write;
    let Some(p) = p else {
        return;
    };
    let c = &p.counters;
    let _ = writeln!(
        o,
        "  prefetch: {} last-level misses served by the buffer (coverage {:.1}%, {} late), accuracy {:.1}% of {} inserted ({} free PTEs), {} displaced unused",
        c.hits,
        p.coverage * 100.0,
        c.late,
        p.accuracy * 100.0,
        c.inserted,
        c.free_inserted,
        c.evicted_unused
    );
    let _ = writeln!(
        o,
        "    prefetch walks {} ({:.2} per demand walk; {} PTE reads, {} lines brought into the caches), {} found no page, {} dropped (queue full), {} already held",
        c.walks,
        p.walks_per_demand_walk,
        c.walk_reads,
        p.lines_brought_in,
        c.unmapped,
        c.dropped_queue_full,
        c.already_held
    );
}
