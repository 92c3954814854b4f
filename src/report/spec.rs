//! What speculative translation did in a run (issue 20 items 4 and 5): SpecTLB's
//! predictions ([`SpecTlbReport`], `[spectlb]`) and the level-1 page-size predictor
//! ([`SizePredictionReport`], `[size_prediction]`), per core and in total.
//!
//! In: a core's counters ([`SpecCounters`], [`SizePredictionStats`]). Out: the JSON's
//! `spectlb` and `size_prediction` objects (absent when off), the summary's lines and
//! the accounting check's share of SpecTLB cycles.

use crate::sim::spec::SpecCounters;
use crate::tlb::size_predict::SizePredictionStats;
use serde::Serialize;
use std::fmt::Write;

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// SpecTLB (Barr, Cox and Rixner, ISCA 2011) on one core or in total.
#[derive(Clone, Debug, Serialize)]
pub struct SpecTlbReport {
    #[serde(flatten)]
    pub counters: SpecCounters,
    /// The paper's two figures: the share of walks (last-level misses that walked)
    /// overlapped with correct speculation (57% on average in its abstract), and
    /// mispredictions per last-level miss (under 1% in its abstract).
    pub overlapped_walk_share: f64,
    pub misprediction_rate: f64,
}

impl SpecTlbReport {
    pub fn new(c: &SpecCounters) -> SpecTlbReport {
        SpecTlbReport {
            overlapped_walk_share: ratio(c.correct, c.probes),
            misprediction_rate: ratio(c.mispredicted, c.probes),
            counters: c.clone(),
        }
    }
}

/// The level-1 page-size predictor (Papadopoulou et al., HPCA 2015).
#[derive(Clone, Debug, Serialize)]
pub struct SizePredictionReport {
    #[serde(flatten)]
    pub stats: SizePredictionStats,
    pub accuracy: f64,
    /// Probes per steered lookup (a parallel lookup probes every structure of the level).
    pub probes_per_lookup: f64,
}

impl SizePredictionReport {
    pub fn new(s: &SizePredictionStats) -> SizePredictionReport {
        SizePredictionReport {
            accuracy: ratio(s.correct, s.predictions),
            probes_per_lookup: ratio(s.probes, s.predictions),
            stats: s.clone(),
        }
    }
}

/// The summary's lines (nothing when both are off).
pub fn summary(o: &mut String, s: Option<&SpecTlbReport>, p: Option<&SizePredictionReport>) {
    if let Some(r) = s {
        let c = &r.counters;
        let _ = writeln!(
            o,
            "  SpecTLB: {} of {} walks overlapped with correct speculation ({:.1}%), {} mispredicted ({:.2}% of misses), {} over a fault, {} walks faster than the SpecTLB; {} walk cycles hidden, {} cycles added (in the TLB cycles)",
            c.correct,
            c.probes,
            r.overlapped_walk_share * 100.0,
            c.mispredicted,
            r.misprediction_rate * 100.0,
            c.faulted,
            c.walk_first,
            c.hidden_cycles(),
            c.cycles
        );
    }
    if let Some(r) = p {
        let s = &r.stats;
        let _ = writeln!(
            o,
            "  L1 page-size prediction: {} of {} lookups predicted right ({:.1}%), {} probes ({} extra), {} L1 cycles vs {} probed in parallel",
            s.correct,
            s.predictions,
            r.accuracy * 100.0,
            s.probes,
            s.extra_probes,
            s.cycles,
            s.parallel_cycles
        );
    }
}
