//! The Agile TLB Prefetcher (ATP; Vavouliotis, Alvarez, Karakostas, Nikas, Koziris,
//! Jiménez, Casas, "Exploiting Page Table Locality for Agile TLB Prefetching", ISCA
//! 2021): three child prefetchers, each scored on a fake prefetch queue, and saturating
//! counters that pick one of them, or none, on each miss.
//!
//! Owns the children's state (H2P's last two misses, MASP's PC-indexed stride table),
//! one fake prefetch queue (FPQ) per child (a FIFO of the pages that child would have
//! prefetched, mapped ones only: the `mapped` look is untimed) and the counters C0
//! (enable), C1 and C2 (select). In: the misses of the trigger level ([`Miss`]: page,
//! program counter, whether the buffer served it). Out: the chosen child's predictions
//! as candidates (real prefetch walks, by the simulator). Nothing allocates per miss.
//!
//! On each miss: probe the three FPQs for the missing page (the hit pattern), update
//! the counters by the truth table, choose a child by the counters' most significant
//! bits, ask for the chosen child's predictions, put every child's (mapped)
//! predictions into its FPQ, then train H2P and MASP.
//!
//! Source of the mechanism and the defaults: the paper's text was not available here,
//! so everything below follows Virtuoso's implementation (CMU-SAFARI/Virtuoso@8188baf,
//! `tlb_prefetching/AgileTLBPrefetcher.cc`, `config/mmu_configs/mmu_atp.cfg`: FPQs of
//! 16, C0/C1/C2 of 8/6/2 bits starting at 0, MASP 64 entries 4-way), whose comments say
//! they are the paper's (its "Figure 7" truth table): assumed, not verified against the
//! paper. In particular the child-to-counter mapping (P0 = H2P, P1 = MASP, P2 = STP; C1
//! high selects H2P, else C2 high selects STP, else MASP) is Virtuoso's and assumed; an
//! independent port orders the children differently.
//!
//! Differences from Virtuoso: SBFP's admitted free neighbours of the fake predictions
//! are not put into the FPQs (Virtuoso adds them); with `on_buffer_hits` (the default)
//! a last-level miss that the prefetch buffer served also trains and triggers ATP, as it
//! does every mmusim prefetcher, where Virtuoso treats it as a hit and skips ATP
//! (`on_buffer_hits = false` does that).

use super::{Candidates, Miss, Prefetcher};
use serde::{Deserialize, Serialize};

/// `[prefetch.atp]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AtpConfig {
    /// Entries of each child's fake prefetch queue.
    #[serde(default = "sixteen")]
    pub fpq_entries: u32,
    /// Widths of C0 (enable), C1 and C2 (select).
    #[serde(default = "eight")]
    pub c0_bits: u32,
    #[serde(default = "six")]
    pub c1_bits: u32,
    #[serde(default = "two")]
    pub c2_bits: u32,
    /// MASP's PC-indexed stride table.
    #[serde(default = "sixty_four")]
    pub masp_entries: u32,
    #[serde(default = "four")]
    pub masp_ways: u32,
    /// A miss the prefetch buffer served trains and triggers ATP too.
    #[serde(default = "yes")]
    pub on_buffer_hits: bool,
}

fn sixteen() -> u32 {
    16
}
fn eight() -> u32 {
    8
}
fn six() -> u32 {
    6
}
fn two() -> u32 {
    2
}
fn sixty_four() -> u32 {
    64
}
fn four() -> u32 {
    4
}
fn yes() -> bool {
    true
}

impl Default for AtpConfig {
    fn default() -> Self {
        AtpConfig {
            fpq_entries: sixteen(),
            c0_bits: eight(),
            c1_bits: six(),
            c2_bits: two(),
            masp_entries: sixty_four(),
            masp_ways: four(),
            on_buffer_hits: yes(),
        }
    }
}

impl AtpConfig {
    /// Problems of the table at key `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(1..=1024).contains(&self.fpq_entries) {
            e.push((
                format!("{path}.fpq_entries"),
                format!("{}: 1 to 1024 entries", self.fpq_entries),
            ));
        }
        for (k, b) in [
            ("c0_bits", self.c0_bits),
            ("c1_bits", self.c1_bits),
            ("c2_bits", self.c2_bits),
        ] {
            if !(1..=16).contains(&b) {
                e.push((format!("{path}.{k}"), format!("{b}: 1 to 16 bits")));
            }
        }
        let (n, w) = (self.masp_entries, self.masp_ways);
        if w == 0 || w > 64 || n == 0 || n > 1 << 16 || n % w != 0 {
            e.push((
                format!("{path}.masp_entries"),
                format!("{n} entries in {w} ways: 1 to 64 ways, a whole number of sets, at most 65536 entries"),
            ));
        }
        e
    }
}

/// At most 4 predictions per child (STP's ±1, ±2), without repeats.
#[derive(Clone, Copy, Default)]
struct Preds {
    v: [u64; 4],
    n: usize,
}

impl Preds {
    /// Add page `base + d` if it exists (not below 0) and is not there already.
    fn add(&mut self, base: u64, d: i64) {
        let Some(p) = base.checked_add_signed(d) else {
            return;
        };
        if self.n < 4 && !self.v[..self.n].contains(&p) {
            self.v[self.n] = p;
            self.n += 1;
        }
    }
    fn as_slice(&self) -> &[u64] {
        &self.v[..self.n]
    }
}

/// A saturating counter of `bits` bits.
#[derive(Clone, Copy)]
struct Counter {
    v: u32,
    bits: u32,
}

impl Counter {
    fn inc(&mut self) {
        self.v = (self.v + 1).min((1 << self.bits) - 1);
    }
    fn dec(&mut self) {
        self.v = self.v.saturating_sub(1);
    }
    fn msb(&self) -> bool {
        self.v >> (self.bits - 1) & 1 == 1
    }
}

/// A fake prefetch queue: a FIFO of page numbers.
struct Fpq {
    vpns: Vec<u64>,
    valid: Vec<bool>,
    next: usize,
}

impl Fpq {
    fn new(n: usize) -> Fpq {
        Fpq {
            vpns: vec![0; n],
            valid: vec![false; n],
            next: 0,
        }
    }
    fn holds(&self, vpn: u64) -> bool {
        (self.vpns.iter().zip(&self.valid)).any(|(&v, &ok)| ok && v == vpn)
    }
    fn install(&mut self, vpn: u64) {
        self.vpns[self.next] = vpn;
        self.valid[self.next] = true;
        self.next = (self.next + 1) % self.vpns.len();
    }
}

/// A MASP entry: the last miss page of a program counter and the stride before it.
#[derive(Clone, Copy, Default)]
struct MaspEntry {
    valid: bool,
    pc: u64,
    last: u64,
    /// `None` until the PC's second miss.
    stride: Option<i64>,
}

/// The children, in the truth table's order (P0, P1, P2; assumed, see the module doc).
pub const H2P: usize = 0;
pub const MASP: usize = 1;
pub const STP: usize = 2;

pub struct Atp {
    c0: Counter,
    c1: Counter,
    c2: Counter,
    fpq: [Fpq; 3],
    on_buffer_hits: bool,
    /// H2P's last two miss pages (B: the last, A: the one before).
    h2p_b: Option<u64>,
    h2p_a: Option<u64>,
    masp: Vec<MaspEntry>,
    /// Round-robin victim of each MASP set once it is full.
    masp_rr: Vec<u8>,
    masp_ways: usize,
    /// Misses seen, FPQ hits by child, choices (none, H2P, MASP, STP).
    misses: u64,
    fpq_hits: [u64; 3],
    choices: [u64; 4],
}

impl Atp {
    pub fn new(c: &AtpConfig) -> Atp {
        let counter = |bits| Counter { v: 0, bits };
        let n = c.fpq_entries as usize;
        let sets = (c.masp_entries / c.masp_ways) as usize;
        Atp {
            c0: counter(c.c0_bits),
            c1: counter(c.c1_bits),
            c2: counter(c.c2_bits),
            fpq: [Fpq::new(n), Fpq::new(n), Fpq::new(n)],
            on_buffer_hits: c.on_buffer_hits,
            h2p_b: None,
            h2p_a: None,
            masp: vec![MaspEntry::default(); c.masp_entries as usize],
            masp_rr: vec![0; sets],
            masp_ways: c.masp_ways as usize,
            misses: 0,
            fpq_hits: [0; 3],
            choices: [0; 4],
        }
    }

    /// The truth table on FPQ hits `h` = (P0, P1, P2): no hit lowers C0, any hit
    /// raises it; then MMH: C1-, C2+; MHM: C1-, C2-; MHH: C1-; HMM: C1+; HMH: C2+;
    /// HHM: C2-; HHH: nothing more (Virtuoso's `updateATPCounters`; assumed).
    fn update(&mut self, h: [bool; 3]) {
        if h == [false; 3] {
            self.c0.dec();
            return;
        }
        self.c0.inc();
        match h {
            [false, false, true] => {
                self.c1.dec();
                self.c2.inc();
            }
            [false, true, false] => {
                self.c1.dec();
                self.c2.dec();
            }
            [false, true, true] => self.c1.dec(),
            [true, false, false] => self.c1.inc(),
            [true, false, true] => self.c2.inc(),
            [true, true, false] => self.c2.dec(),
            _ => {}
        }
    }

    /// The child to prefetch with: none while C0's MSB is clear; else H2P if C1's MSB
    /// is set, else STP if C2's is, else MASP.
    fn choose(&self) -> Option<usize> {
        if !self.c0.msb() {
            None
        } else if self.c1.msb() {
            Some(H2P)
        } else if self.c2.msb() {
            Some(STP)
        } else {
            Some(MASP)
        }
    }

    /// H2P on a miss of E with history A, B: E + (E - B) and E + (B - A).
    fn h2p(&self, e: u64) -> Preds {
        let mut p = Preds::default();
        if let (Some(a), Some(b)) = (self.h2p_a, self.h2p_b) {
            p.add(e, e as i64 - b as i64);
            p.add(e, b as i64 - a as i64);
        }
        p
    }

    fn masp_way(&self, pc: u64) -> (usize, Option<usize>) {
        let set = (pc % self.masp_rr.len() as u64) as usize;
        let base = set * self.masp_ways;
        let w = (0..self.masp_ways).find(|&w| {
            let e = &self.masp[base + w];
            e.valid && e.pc == pc
        });
        (set, w.map(|w| base + w))
    }

    /// MASP on a miss of A by `pc` whose entry holds E and stride S: A + S (once a
    /// stride is known, not 0) and A + (A - E) (not 0); nothing for an unknown PC.
    fn masp(&self, a: u64, pc: u64) -> Preds {
        let mut p = Preds::default();
        if let (_, Some(i)) = self.masp_way(pc) {
            let e = self.masp[i];
            if let Some(s) = e.stride.filter(|&s| s != 0) {
                p.add(a, s);
            }
            let d = a as i64 - e.last as i64;
            if d != 0 {
                p.add(a, d);
            }
        }
        p
    }

    fn train_masp(&mut self, a: u64, pc: u64) {
        let (set, i) = self.masp_way(pc);
        if let Some(i) = i {
            let e = &mut self.masp[i];
            e.stride = Some(a as i64 - e.last as i64);
            e.last = a;
            return;
        }
        let base = set * self.masp_ways;
        let w = (0..self.masp_ways)
            .find(|&w| !self.masp[base + w].valid)
            .unwrap_or_else(|| {
                let w = self.masp_rr[set] as usize;
                self.masp_rr[set] = ((w + 1) % self.masp_ways) as u8;
                w
            });
        self.masp[base + w] = MaspEntry {
            valid: true,
            pc,
            last: a,
            stride: None,
        };
    }
}

/// STP on a miss of A: A - 2, A - 1, A + 1, A + 2.
fn stp(a: u64) -> Preds {
    let mut p = Preds::default();
    for d in [-2, -1, 1, 2] {
        p.add(a, d);
    }
    p
}

impl Prefetcher for Atp {
    fn on_miss<M: Fn(u64) -> bool>(&mut self, m: &Miss, mapped: &M, out: &mut Candidates) {
        if m.buffer_hit && !self.on_buffer_hits {
            return;
        }
        self.misses += 1;
        let vpn = m.vpn;
        let h = [0, 1, 2].map(|i| self.fpq[i].holds(vpn));
        for (n, hit) in self.fpq_hits.iter_mut().zip(h) {
            *n += hit as u64;
        }
        self.update(h);
        let choice = self.choose();
        self.choices[choice.map_or(0, |c| c + 1)] += 1;
        let preds = [self.h2p(vpn), self.masp(vpn, m.pc), stp(vpn)];
        if let Some(c) = choice {
            // Real walks: an unmapped page is dropped by the walk, as any prefetch.
            for &p in preds[c].as_slice() {
                out.push(p);
            }
        }
        for (q, p) in self.fpq.iter_mut().zip(&preds) {
            for &v in p.as_slice() {
                if mapped(v) {
                    q.install(v);
                }
            }
        }
        self.h2p_a = self.h2p_b;
        self.h2p_b = Some(vpn);
        self.train_masp(vpn, m.pc);
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "misses": self.misses,
            "fpq_hits": {"h2p": self.fpq_hits[H2P], "masp": self.fpq_hits[MASP], "stp": self.fpq_hits[STP]},
            "chosen": {
                "none": self.choices[0],
                "h2p": self.choices[1 + H2P],
                "masp": self.choices[1 + MASP],
                "stp": self.choices[1 + STP],
            },
            "c0": self.c0.v,
            "c1": self.c1.v,
            "c2": self.c2.v,
        })
    }

    fn reset_stats(&mut self) {
        self.misses = 0;
        self.fpq_hits = [0; 3];
        self.choices = [0; 4];
    }
}

#[cfg(test)]
mod tests;
