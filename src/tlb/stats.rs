//! The counters of a core's TLBs: per structure ([`TlbStats`]) and per level
//! ([`LevelStats`]), read with the level-1 repeats the shortcut has not yet added
//! (`Memo` in `mod.rs`) and the totals the fast path keeps (`plain.rs`), and restarted
//! after warm-up.

use super::CoalescedStats;
use super::{Organisation, Tlbs, INSTR};
use serde::Serialize;

/// Counters of one TLB structure.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlbStats {
    pub name: String,
    pub level: u32,
    /// Lookups that found the translation here.
    pub hits: u64,
    /// Lookups for a page of a size this structure holds that did not find it here.
    pub misses: u64,
    pub fills: u64,
    pub evictions: u64,
    /// A coalesced structure's own counts (absent from the JSON of any other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coalesced: Option<CoalescedStats>,
}

/// Counters of one level (all its structures) for one side.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LevelStats {
    pub level: u32,
    pub instruction_hits: u64,
    pub instruction_misses: u64,
    pub data_hits: u64,
    pub data_misses: u64,
    /// Cycles spent probing this level.
    pub cycles: u64,
}

impl LevelStats {
    /// `n` hits of `side` (instruction or data).
    #[inline(always)]
    pub(super) fn add_hits(&mut self, side: usize, n: u64) {
        if side == INSTR {
            self.instruction_hits += n;
        } else {
            self.data_hits += n;
        }
    }

    /// `n` misses of `side` (instruction or data).
    #[inline(always)]
    pub(super) fn add_misses(&mut self, side: usize, n: u64) {
        if side == INSTR {
            self.instruction_misses += n;
        } else {
            self.data_misses += n;
        }
    }
}

impl<O: Organisation> Tlbs<O> {
    /// Valid entries of each structure, in config order.
    pub fn occupancy(&self) -> Vec<usize> {
        self.structs.iter().map(|s| s.org.occupancy()).collect()
    }

    pub fn stats(&self) -> Vec<TlbStats> {
        let mut v: Vec<TlbStats> = (self.structs.iter().enumerate())
            .map(|(i, s)| {
                let mut t = s.stats.clone();
                t.hits += self.pending(Some(i));
                s.org.stats(&mut t);
                t
            })
            .collect();
        self.add_fast_structure_counts(&mut v);
        v
    }

    pub fn level_stats(&self) -> Vec<LevelStats> {
        let mut v: Vec<LevelStats> = self.levels.iter().map(|l| l.stats.clone()).collect();
        let (m, r) = (&self.memo, self.pending(None));
        if let Some(l) = v.first_mut().filter(|_| r > 0) {
            l.cycles += r * m.lat;
            l.add_hits(m.side, r);
        }
        self.add_fast_level_counts(&mut v);
        v
    }

    /// Restart the counters (after warm-up); contents stay.
    pub fn reset_stats(&mut self) {
        self.memo.repeats = 0;
        self.plan.reset_counts();
        self.reset_prediction();
        if let Some(r) = self.record.as_deref_mut() {
            r.counted_from = r.refs.len();
        }
        for s in &mut self.structs {
            s.stats = TlbStats {
                name: std::mem::take(&mut s.stats.name),
                level: s.stats.level,
                ..Default::default()
            };
            s.org.reset_stats();
            s.kept = 0;
        }
        for l in &mut self.levels {
            l.stats = LevelStats {
                level: l.stats.level,
                ..Default::default()
            };
        }
    }
}
