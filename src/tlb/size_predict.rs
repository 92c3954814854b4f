//! Page-size prediction for level-1 TLBs split by page size (Papadopoulou, Tong, Seznec
//! and Moshovos, "Prediction-based superpage-friendly TLB designs", HPCA 2015;
//! `[size_prediction]`).
//!
//! Owns the predictor of one core (a table of two-bit counters) and the level-1 lookup
//! it steers. Without it, every level-1 structure serving the access's side is probed in
//! parallel and the level costs its slowest (`mod.rs`). With it, the level's page sizes
//! are probed one after another, each probe costing its structure's latency: first the
//! predicted class (4K, or "superpage": 2M then 1G), then the others in ascending size
//! order. A hit stops the probes; a miss has probed every size. A correct prediction
//! costs one probe; a 4K page predicted superpage costs the 2M probe, then the 1G one if
//! the level has it, then its own.
//!
//! The paper's predictor is "a 32-byte prediction table indexed by base register
//! values" (its abstract); 128 two-bit counters is the reading of 32 bytes assumed here
//! (`size_prediction.entries`). Traces carry no register values, so the table is
//! indexed by the address's 2 MiB region number folded into the table (the stand-in of
//! this model: accesses through one base register mostly fall in one region). A counter
//! predicts superpage at 2 or 3; it counts up when the translation found is a 2M or 1G
//! page and down for a 4K page; counters start at 1 (weakly 4K, assumed).
//!
//! In: the level-1 lookup of [`Tlbs::lookup`] and, after a level-1 miss, the page size
//! [`Tlbs::complete`] learns. Out: the hit, the probe cycles (into the caller's and the
//! level's counters, as a parallel lookup's go) and [`SizePredictionStats`]. Off (no
//! predictor), the level-1 lookup is the parallel one, byte for byte.

use super::{Organisation, TlbHit, Tlbs, NONE};
use crate::addr::{PageSize, PhysAddr};
use serde::Serialize;

/// What the predictor did on one core.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SizePredictionStats {
    /// Level-1 lookups the predictor steered.
    pub predictions: u64,
    /// Of those, lookups whose page had the size probed first (known at a level-1 hit,
    /// or after the walk or lower-level hit of a level-1 miss).
    pub correct: u64,
    /// Probes made (each at its structure's latency), and those after the first.
    pub probes: u64,
    pub extra_probes: u64,
    /// Level-1 probe cycles of the steered lookups, and what the parallel lookup would
    /// have cost them (the level's latency each).
    pub cycles: u64,
    pub parallel_cycles: u64,
}

impl SizePredictionStats {
    pub fn merge(&mut self, o: &SizePredictionStats) {
        self.predictions += o.predictions;
        self.correct += o.correct;
        self.probes += o.probes;
        self.extra_probes += o.extra_probes;
        self.cycles += o.cycles;
        self.parallel_cycles += o.parallel_cycles;
    }
}

/// The predictor of one core.
pub(super) struct Predictor {
    counters: Vec<u8>,
    bits: u32,
    /// Probe cost of the level-1 structure holding each size, per side (probed in
    /// sequence, each costs its own).
    latency: [[u64; 3]; 2],
    /// The size index probed first by the last steered lookup that has not learnt its
    /// page's size yet (a level-1 miss, until [`Tlbs::complete`]).
    pending: Option<usize>,
    pub(super) stats: SizePredictionStats,
}

impl Predictor {
    pub(super) fn new(entries: usize) -> Predictor {
        Predictor {
            counters: vec![1; entries],
            bits: entries.trailing_zeros(),
            latency: [[0; 3]; 2],
            pending: None,
            stats: Default::default(),
        }
    }

    /// The counter of the region holding `vaddr`: the region number folded into the
    /// table's index bits.
    #[inline(always)]
    fn index(&self, vaddr: u64) -> usize {
        let r = vaddr >> 21;
        let folded =
            r ^ r.checked_shr(self.bits).unwrap_or(0) ^ r.checked_shr(2 * self.bits).unwrap_or(0);
        (folded as usize) & (self.counters.len() - 1)
    }

    /// The page at `vaddr` turned out to be of size index `size`: count the prediction
    /// (`first`: the size probed first) and train the counter.
    fn learn(&mut self, vaddr: u64, first: usize, size: usize) {
        self.stats.correct += (first == size) as u64;
        let i = self.index(vaddr);
        let c = &mut self.counters[i];
        *c = if size == 0 {
            c.saturating_sub(1)
        } else {
            (*c + 1).min(3)
        };
    }
}

/// Probe orders: 4K predicted, superpage predicted (size indices 0 = 4K, 1 = 2M, 2 = 1G).
const ORDER: [[usize; 3]; 2] = [[0, 1, 2], [1, 2, 0]];

impl<O: Organisation> Tlbs<O> {
    /// Steer level-1 lookups with a page-size predictor of `entries` two-bit counters (a
    /// power of two, validated); `cfgs` are the structures [`Tlbs`] was built from.
    pub fn predict_sizes(&mut self, entries: usize, cfgs: &[crate::config::TlbConfig]) {
        let mut p = Predictor::new(entries);
        if let Some(l) = self.levels.first() {
            for (side, slots) in l.slot.iter().enumerate() {
                for (size, &s) in slots.iter().enumerate() {
                    if s != NONE {
                        p.latency[side][size] = cfgs[s as usize].latency as u64;
                    }
                }
            }
        }
        self.predict = Some(Box::new(p));
        self.plain = false;
        self.fast = false;
    }

    /// Restart the predictor's counters (after warm-up); its table stays.
    pub(super) fn reset_prediction(&mut self) {
        if let Some(p) = self.predict.as_deref_mut() {
            p.stats = Default::default();
        }
    }

    /// `steered_lookup` when a predictor steers level 1 (a predicted branch
    /// otherwise): `None` also when level 1 missed, and the caller goes on at level 2.
    #[inline(always)]
    pub(super) fn lookup_predicted(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        if self.predict.is_none() || self.levels.is_empty() {
            return None;
        }
        self.steered_lookup(side, asid, vaddr, cycles)
    }

    /// The predictor's counters (`None` without one).
    pub fn size_prediction_stats(&self) -> Option<SizePredictionStats> {
        self.predict.as_ref().map(|p| p.stats.clone())
    }

    /// Level 1 probed in the predicted order (only with a predictor): probe cycles go to
    /// `cycles` and the level's counters; a hit is counted and learnt at once, a miss
    /// learns its size at [`Tlbs::complete`]. Never makes a memo: a repeat's cost depends
    /// on the counter, which every lookup trains.
    #[inline(never)]
    fn steered_lookup(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        let p = self.predict.as_deref_mut().expect("a predictor");
        let order = ORDER[(p.counters[p.index(vaddr)] >= 2) as usize];
        let lvl = &mut self.levels[0];
        let first = order.into_iter().find(|&s| lvl.slot[side][s] != NONE)?;
        p.stats.predictions += 1;
        p.stats.parallel_cycles += lvl.latency[side] as u64;
        let mut made = 0u64;
        for size in order {
            let s = lvl.slot[side][size];
            if s == NONE {
                continue;
            }
            let st = &mut self.structs[s as usize];
            let lat = p.latency[side][size];
            *cycles += lat;
            lvl.stats.cycles += lat;
            p.stats.cycles += lat;
            p.stats.probes += 1;
            p.stats.extra_probes += (made > 0) as u64;
            made += 1;
            if self.filled & (1 << size) == 0 {
                continue;
            }
            let ps = PageSize::from_index(size);
            if let Some(frame) = st.org.lookup(asid, vaddr, ps, &mut self.reads) {
                st.stats.hits += 1;
                lvl.stats.add_hits(side, 1);
                p.learn(vaddr, first, size);
                return Some(TlbHit {
                    level: 0,
                    frame: PhysAddr(frame),
                    size: ps,
                });
            }
        }
        p.pending = Some(first);
        None
    }

    /// After a level-1 miss of a steered lookup: the page at `vaddr` is of `size`.
    pub(super) fn learn_size(&mut self, vaddr: u64, size: PageSize) {
        if let Some(p) = self.predict.as_deref_mut() {
            if let Some(first) = p.pending.take() {
                p.learn(vaddr, first, size.index());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Predictor;

    /// 128 counters: consecutive 2 MiB regions take distinct counters (the fold changes
    /// the low 7 bits of region r by r >> 7 and r >> 14, equal for neighbours inside an
    /// aligned block of 128); a counter saturates at 3 and 0 and counts the first probed
    /// size right or wrong.
    #[test]
    fn counters_are_per_region_and_saturate() {
        let mut p = Predictor::new(128);
        let base = 0x10_0000_0000u64;
        let idx: Vec<usize> = (0..128).map(|r| p.index(base + (r << 21))).collect();
        let mut sorted = idx.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 128);
        let i = idx[0];
        for _ in 0..5 {
            p.learn(base, 0, 1);
        }
        assert_eq!(p.counters[i], 3);
        for _ in 0..5 {
            p.learn(base, 1, 0);
        }
        assert_eq!(p.counters[i], 0);
        assert_eq!((p.stats.correct, p.counters[idx[1]]), (0, 1));
        p.learn(base, 0, 0);
        assert_eq!(p.stats.correct, 1);
    }
}
