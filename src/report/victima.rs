//! Victima's part of a run's report (`[victima]`): a core's probes of the L2 for TLB
//! blocks, the walks they avoided, the insertions, and the blocks held at the end with
//! their reach. Absent from runs without Victima, so their files are unchanged.
//!
//! In: a core's [`VictimaCounters`] and the blocks its L2 holds by page size. Out:
//! [`VictimaReport`] under `stats.cores[i].victima` and `stats.total.victima`; the L2's
//! own block counts are in `stats.caches[i].tlb_blocks`.

use super::ratio;
use crate::addr::PageSize;
use crate::sim::victima::{VictimaCounters, BLOCK_PAGES};
use serde::Serialize;

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
