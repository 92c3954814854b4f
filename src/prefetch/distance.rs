//! Distance prefetching (DP): Kandiraju and Sivasubramaniam, "Going the Distance for TLB
//! Prefetching", ISCA 2002. The distance of a miss is its page minus the previous
//! miss's page. A table indexed by distance keeps, per distance d, the distances that
//! followed d (up to `slots`, most recent first); a miss at page p with distance d
//! prefetches p + each distance of d's row, then records d in the row of the previous
//! distance. A stream whose distances repeat in any pattern (+1, +5, +1, +5, …) is
//! covered in the space of its distinct distances, not its pages (the paper's claim:
//! "a smaller space than earlier proposals", facts file §1).
//!
//! Owns the table (preallocated: nothing is allocated per miss) and the last miss's page
//! and distance. In: the trigger level's misses; out: candidates.
//!
//! Sizes are Virtuoso's (CMU-SAFARI/Virtuoso@8188baf, `config/mmu_configs/
//! mmu_distance.cfg`: 256 rows, 8 slots, 4-way), its rows indexed by the signed
//! distance folded to 32 bits (upper XOR lower, `DistanceTLBPrefetcher.cc`), LRU among
//! a set's rows and among a row's slots. The paper's sizes are not available here
//! (UNVERIFIED: commonly quoted as 2 slots): assumed to be Virtuoso's.
//!
//! Misses of another address space restart the history (a distance between two
//! address spaces' pages predicts nothing). Buffer hits train and trigger like any
//! miss (they are TLB misses; Virtuoso's DP observes the TLB miss stream, in which its
//! PQ hits are misses of the TLB).

use super::{Candidates, Miss, Prefetcher, MAX_CANDIDATES};
use serde::{Deserialize, Serialize};

/// `[prefetch.dp]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DpConfig {
    /// Rows (distances remembered), in `ways`-way sets.
    #[serde(default = "rows")]
    pub rows: u32,
    #[serde(default = "ways")]
    pub ways: u32,
    /// Successor distances per row: pages fetched per miss, at most.
    #[serde(default = "slots")]
    pub slots: u32,
}

fn rows() -> u32 {
    256
}
fn ways() -> u32 {
    4
}
fn slots() -> u32 {
    8
}

impl Default for DpConfig {
    fn default() -> Self {
        DpConfig {
            rows: rows(),
            ways: ways(),
            slots: slots(),
        }
    }
}

impl DpConfig {
    /// Problems of the table at key `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let (n, w) = (self.rows, self.ways);
        if n == 0 || w == 0 || n % w != 0 || n > 1 << 16 {
            e.push((
                format!("{path}.rows"),
                format!("{n} rows in {w} ways: equal sets of at least one way, at most 65536 rows"),
            ));
        }
        if self.slots == 0 || self.slots as usize > MAX_CANDIDATES {
            e.push((
                format!("{path}.slots"),
                format!("{}: 1 to {MAX_CANDIDATES} distances per row", self.slots),
            ));
        }
        e
    }
}

/// One row's identity; its slots are in `Dp::slots` at the same index.
#[derive(Clone, Copy, Default)]
struct Row {
    valid: bool,
    distance: i64,
    /// Slots in use (the first `len` of the row's, most recent first).
    len: u8,
    used: u64,
}

pub struct Dp {
    ways: usize,
    sets: u64,
    nslots: usize,
    rows: Vec<Row>,
    /// `rows.len()` x `nslots` successor distances.
    slots: Vec<i64>,
    /// The last miss: its address space and page; and its distance (0: none).
    last: Option<(u16, u64)>,
    last_distance: i64,
    clock: u64,
    row_hits: u64,
    row_misses: u64,
}

impl Dp {
    pub fn new(c: &DpConfig) -> Dp {
        Dp {
            ways: c.ways as usize,
            sets: (c.rows / c.ways) as u64,
            nslots: c.slots as usize,
            rows: vec![Row::default(); c.rows as usize],
            slots: vec![0; (c.rows * c.slots) as usize],
            last: None,
            last_distance: 0,
            clock: 0,
            row_hits: 0,
            row_misses: 0,
        }
    }

    fn set_base(&self, d: i64) -> usize {
        let h = (d as u64 ^ (d as u64 >> 32)) & 0xffff_ffff;
        (h % self.sets) as usize * self.ways
    }

    /// The index of distance `d`'s row, if the table has one (touched for LRU).
    fn find(&mut self, d: i64) -> Option<usize> {
        let base = self.set_base(d);
        let i =
            (base..base + self.ways).find(|&i| self.rows[i].valid && self.rows[i].distance == d)?;
        self.rows[i].used = self.clock;
        Some(i)
    }

    /// Record that distance `next` followed distance `d`: `next` becomes the most
    /// recent slot of `d`'s row (allocated over the set's free or LRU row if absent;
    /// the row's LRU slot goes if full).
    fn learn(&mut self, d: i64, next: i64) {
        let i = match self.find(d) {
            Some(i) => i,
            None => {
                let base = self.set_base(d);
                let rows = &self.rows;
                let i = (base..base + self.ways)
                    .min_by_key(|&i| (rows[i].valid, rows[i].used))
                    .unwrap_or(base);
                self.rows[i] = Row {
                    valid: true,
                    distance: d,
                    len: 0,
                    used: self.clock,
                };
                i
            }
        };
        let s = &mut self.slots[i * self.nslots..(i + 1) * self.nslots];
        let len = self.rows[i].len as usize;
        // Where `next` is, or the last slot (the LRU one, or the next free one).
        let at = s[..len]
            .iter()
            .position(|&x| x == next)
            .unwrap_or(len.min(self.nslots - 1));
        s.copy_within(0..at, 1);
        s[0] = next;
        self.rows[i].len = (len.max(at + 1)) as u8;
    }
}

impl Prefetcher for Dp {
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, _mapped: &M, out: &mut Candidates) {
        self.clock += 1;
        let prev = self.last.replace((m.asid, m.vpn));
        let Some((_, pv)) = prev.filter(|&(a, _)| a == m.asid) else {
            self.last_distance = 0;
            return;
        };
        let d = m.vpn.wrapping_sub(pv) as i64;
        if d == 0 {
            return;
        }
        match self.find(d) {
            Some(i) => {
                self.row_hits += 1;
                let len = self.rows[i].len as usize;
                for &s in &self.slots[i * self.nslots..i * self.nslots + len] {
                    out.push(m.vpn.wrapping_add(s as u64));
                }
            }
            None => self.row_misses += 1,
        }
        if self.last_distance != 0 {
            self.learn(self.last_distance, d);
        }
        self.last_distance = d;
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "dp_rows": self.rows.len(),
            "dp_row_hits": self.row_hits,
            "dp_row_misses": self.row_misses,
        })
    }

    fn reset_stats(&mut self) {
        self.row_hits = 0;
        self.row_misses = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(c: &DpConfig, misses: &[u64]) -> Vec<Vec<u64>> {
        let mut p = Dp::new(c);
        misses
            .iter()
            .map(|&vpn| crate::prefetch::ask(&mut p, (vpn, 0), &|_| true))
            .collect()
    }

    /// Distances +1, +5, +1, +5 (pages 0, 1, 6, 7, 12, 13): 0 has no distance; 1
    /// (d=1) finds no row; 6 (d=5) finds none and teaches row 1 → [5]; 7 (d=1): row 1
    /// says 5 → 12, and row 5 learns 1; 12 (d=5): row 5 says 1 → 13; 13 → 18.
    #[test]
    fn dp_learns_an_alternating_pattern() {
        let got = run(&DpConfig::default(), &[0, 1, 6, 7, 12, 13]);
        let want: [&[u64]; 6] = [&[], &[], &[], &[12], &[13], &[18]];
        assert_eq!(got, want);
    }

    /// A row keeps several successors, most recent first: distances 1,2, 1,3, 1 (pages
    /// 0, 1, 3, 4, 7, 8): row 1 learns 2 then 3, so the last miss (8, d=1) predicts
    /// 8+3 and 8+2. With 1 slot only the most recent (3) stays: 11.
    #[test]
    fn dp_rows_keep_recent_successors() {
        let pages = [0, 1, 3, 4, 7, 8];
        let got = run(&DpConfig::default(), &pages);
        assert_eq!(got[5], [11, 10]);
        let one = DpConfig {
            slots: 1,
            ..DpConfig::default()
        };
        assert_eq!(run(&one, &pages)[5], [11]);
        // Negative distances: 100, 98, 96 → row -2 learns -2 at 96; 94 predicts 92.
        assert_eq!(run(&DpConfig::default(), &[100, 98, 96, 94])[3], [92]);
    }

    /// One row in all (1 way, 1 set): learning distance 5's successor evicts distance
    /// 1's row. Pages 0, 1, 2 (row 1 → [1]); 3 predicts 4; then 8 (d=5: no row; row 1
    /// learns 5 → [5, 1]); 9 (d=1: row 1 → 14, 10; row 5 allocated over row 1 → [1]);
    /// 10 (d=1: row 1 gone, nothing).
    #[test]
    fn dp_rows_are_replaced() {
        let c = DpConfig {
            rows: 1,
            ways: 1,
            slots: 2,
        };
        let got = run(&c, &[0, 1, 2, 3, 8, 9, 10]);
        let want: [&[u64]; 7] = [&[], &[], &[], &[4], &[], &[14, 10], &[]];
        assert_eq!(got, want);
    }

    #[test]
    fn dp_problems() {
        assert!(DpConfig::default().problems("p").is_empty());
        let bad = DpConfig {
            rows: 10,
            ways: 4,
            slots: 0,
        };
        let keys: Vec<String> = bad.problems("p").into_iter().map(|e| e.0).collect();
        assert_eq!(keys, ["p.rows", "p.slots"]);
    }
}
