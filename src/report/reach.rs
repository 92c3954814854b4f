//! The reach-extending designs' parts of a run's report (issue 19), each absent from
//! runs without its design, so their files are unchanged: what a direct segment served
//! (`os.direct_segment`), and Victima's (`[victima]`) probes of the L2 for TLB blocks,
//! the walks they avoided, the insertions, and the blocks held at the end with their
//! reach.
//!
//! In: a core's counters ([`CoreCounters`], [`VictimaCounters`]) and the blocks its L2
//! holds by page size. Out: [`DirectSegmentReport`] and [`VictimaReport`] under
//! `stats.cores[i]` and `stats.total`; the L2's own block counts are in
//! `stats.caches[i].tlb_blocks`.

use super::ratio;
use crate::addr::PageSize;
use crate::sim::victima::{VictimaCounters, BLOCK_PAGES};
use crate::sim::CoreCounters;
use serde::Serialize;

/// What the direct segment served (Basu et al., ISCA 2013).
#[derive(Clone, Debug, Serialize)]
pub struct DirectSegmentReport {
    /// Accesses inside the segment: translated by its registers.
    pub hits: u64,
    /// TLB lookups those accesses did not make (one each: with no TLB probe, no level
    /// below is probed either, and no walk or fill follows).
    pub tlb_lookups_avoided: u64,
    /// hits / accesses.
    pub share_of_accesses: f64,
    /// Cycles of the segment's checks (part of `translation_cycles.tlb`: each costs
    /// the L1 TLB probe it runs beside).
    pub cycles: u64,
}

impl DirectSegmentReport {
    pub fn new(k: &CoreCounters) -> DirectSegmentReport {
        DirectSegmentReport {
            hits: k.direct_segment_hits,
            tlb_lookups_avoided: k.direct_segment_hits,
            share_of_accesses: ratio(k.direct_segment_hits, k.accesses),
            cycles: k.direct_segment_cycles,
        }
    }
}

/// What Victima's TLB blocks did (Kanellopoulos et al., MICRO 2023).
#[derive(Clone, Debug, Serialize)]
pub struct VictimaReport {
    #[serde(flatten)]
    pub counters: VictimaCounters,
    /// Walks avoided: block_hits / probes.
    pub hit_rate: f64,
    /// Blocks the L2 holds at the end, by page size, and their reach: blocks x 8 pages
    /// x page size.
    pub blocks_held_4k: u64,
    pub blocks_held_2m: u64,
    pub blocks_held_1g: u64,
    pub reach_bytes: u64,
}

impl VictimaReport {
    /// From a core's (or the total's) counters and blocks held (4K, 2M, 1G).
    pub fn new(v: &VictimaCounters, held: [u64; 3]) -> VictimaReport {
        VictimaReport {
            counters: v.clone(),
            hit_rate: ratio(v.block_hits, v.probes),
            blocks_held_4k: held[0],
            blocks_held_2m: held[1],
            blocks_held_1g: held[2],
            reach_bytes: (PageSize::ALL.iter())
                .map(|s| held[s.index()] * BLOCK_PAGES * s.bytes())
                .sum(),
        }
    }
}

/// Add a core's blocks held (4K, 2M, 1G) to the total's.
pub(super) fn add_held(total: &mut Option<[u64; 3]>, core: &Option<[u64; 3]>) {
    if let (Some(x), Some(y)) = (total, core) {
        for (x, y) in x.iter_mut().zip(y) {
            *x += y;
        }
    }
}
