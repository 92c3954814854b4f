//! Sampling-Based Free Prefetching (SBFP; Vavouliotis, Alvarez, Karakostas, Nikas,
//! Koziris, Jiménez, Casas, "Exploiting Page Table Locality for Agile TLB Prefetching",
//! ISCA 2021): which of a walked 4K leaf line's other PTEs (the "free" ones, at distance
//! d = -7..=7 from the walked slot) go into the prefetch buffer.
//!
//! Owns the Free Distance Table (FDT: one saturating counter per distance, 14 of them)
//! and the Sampler (a FIFO of rejected free PTEs, (asid, vpn, d)). In: each free PTE of
//! a walk, demand or prefetch ([`Sbfp::admit`]: kept iff FDT[d] > threshold now, else
//! sampled); each last-level miss that missed the buffer ([`Sbfp::probe`]: a sampled
//! page demanded credits its distance); each buffer hit on a free entry
//! ([`Sbfp::credit`]). Out: the keep/sample decision and the counters of
//! [`Sbfp::stats`]. The simulator (`crate::sim::prefetch`) calls it; nothing here
//! allocates after [`Sbfp::new`].
//!
//! Parameters: the paper's own FDT width, threshold and Sampler size are not verified
//! here (no copy of its text was available); the defaults are Virtuoso's
//! (CMU-SAFARI/Virtuoso@8188baf, `config/mmu_configs/mmu_atp.cfg`: `sampler_size = 64`,
//! `fdt_counter_bits = 10`, `fdt_threshold = 100`; `tlb_prefetching/AgileTLBPrefetcher.cc`:
//! strict `>`, the decay), whose comment says they match the paper's configuration:
//! assumed, not cited as the paper's.

use serde::{Deserialize, Serialize};

/// Free distances: -7..=-1 and 1..=7 (a 64-byte line of 8-byte PTEs).
pub const DISTANCES: usize = 14;

/// `[prefetch.sbfp]`, read when `prefetch.free = "sbfp"`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbfpConfig {
    /// Width of each FDT counter (saturates at 2^bits - 1).
    #[serde(default = "ten")]
    pub fdt_bits: u32,
    /// A free PTE at distance d is kept iff FDT[d] > threshold (strict).
    #[serde(default = "hundred")]
    pub threshold: u32,
    /// Sampler entries (FIFO).
    #[serde(default = "sixty_four")]
    pub sampler_entries: u32,
}

fn ten() -> u32 {
    10
}
fn hundred() -> u32 {
    100
}
fn sixty_four() -> u32 {
    64
}

impl Default for SbfpConfig {
    fn default() -> Self {
        SbfpConfig {
            fdt_bits: ten(),
            threshold: hundred(),
            sampler_entries: sixty_four(),
        }
    }
}

impl SbfpConfig {
    /// Problems of the table at key `path`.
    pub fn problems(&self, path: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(1..=16).contains(&self.fdt_bits) {
            e.push((
                format!("{path}.fdt_bits"),
                format!("{}: 1 to 16 bits", self.fdt_bits),
            ));
        } else if self.threshold >= (1 << self.fdt_bits) - 1 {
            // A counter never exceeds its maximum: nothing would ever be kept.
            e.push((
                format!("{path}.threshold"),
                format!(
                    "{}: below the counters' maximum, {}",
                    self.threshold,
                    (1u32 << self.fdt_bits) - 1
                ),
            ));
        }
        if !(1..=4096).contains(&self.sampler_entries) {
            e.push((
                format!("{path}.sampler_entries"),
                format!("{}: 1 to 4096 entries", self.sampler_entries),
            ));
        }
        e
    }
}

/// The FDT's slot of distance `d` (-7..=-1 → 0..=6, 1..=7 → 7..=13).
#[inline(always)]
fn slot(d: i8) -> usize {
    debug_assert!(d != 0 && (-7..=7).contains(&d));
    if d < 0 {
        (d + 7) as usize
    } else {
        (d + 6) as usize
    }
}

/// A rejected free PTE, kept to see whether it is demanded.
#[derive(Clone, Copy, Default)]
struct Sampled {
    valid: bool,
    asid: u16,
    vpn: u64,
    d: i8,
}

/// One core's SBFP state.
pub struct Sbfp {
    fdt: [u32; DISTANCES],
    max: u32,
    threshold: u32,
    sampler: Vec<Sampled>,
    /// The FIFO's next victim.
    next: usize,
    /// Free PTEs sampled (rejected), Sampler probes that hit, FDT increments from those
    /// hits and from buffer hits on free entries, and decays (all counters halved).
    sampled: u64,
    sampler_hits: u64,
    buffer_credits: u64,
    decays: u64,
}

impl Sbfp {
    pub fn new(c: &SbfpConfig) -> Sbfp {
        Sbfp {
            fdt: [0; DISTANCES],
            max: (1 << c.fdt_bits) - 1,
            threshold: c.threshold,
            sampler: vec![Sampled::default(); c.sampler_entries as usize],
            next: 0,
            sampled: 0,
            sampler_hits: 0,
            buffer_credits: 0,
            decays: 0,
        }
    }

    /// Free PTE `vpn` of `asid` at distance `d` from a walked one: whether it goes into
    /// the buffer (FDT[d] > threshold now); if not, it is sampled.
    pub fn admit(&mut self, asid: u16, vpn: u64, d: i8) -> bool {
        if self.fdt[slot(d)] > self.threshold {
            return true;
        }
        self.sampler[self.next] = Sampled {
            valid: true,
            asid,
            vpn,
            d,
        };
        self.next = (self.next + 1) % self.sampler.len();
        self.sampled += 1;
        false
    }

    /// A last-level miss of `vpn` (4K page number) that the buffer did not serve: a
    /// sampled entry for it credits its distance and leaves the Sampler (one demand,
    /// one credit: the first match in FIFO slot order, as Virtuoso's linear search).
    pub fn probe(&mut self, asid: u16, vpn: u64) {
        let hit = (self.sampler.iter_mut()).find(|s| s.valid && s.vpn == vpn && s.asid == asid);
        if let Some(s) = hit {
            s.valid = false;
            let d = s.d;
            self.sampler_hits += 1;
            self.increment(d);
        }
    }

    /// A buffer hit on a free entry fetched at distance `d`.
    pub fn credit(&mut self, d: i8) {
        self.buffer_credits += 1;
        self.increment(d);
    }

    /// FDT[d] += 1 (saturating); when a counter reaches its maximum, every counter is
    /// halved (Virtuoso's decay, `AgileTLBPrefetcher.cc` `decayFDTIfNeeded`), so old
    /// evidence fades with phase changes.
    fn increment(&mut self, d: i8) {
        let c = &mut self.fdt[slot(d)];
        *c = (*c + 1).min(self.max);
        if *c >= self.max {
            self.decays += 1;
            for c in self.fdt.iter_mut() {
                *c >>= 1;
            }
        }
    }

    /// The warm-up ended: the counters restart (the FDT and the Sampler stay).
    pub fn reset_stats(&mut self) {
        self.sampled = 0;
        self.sampler_hits = 0;
        self.buffer_credits = 0;
        self.decays = 0;
    }

    /// FDT[d] now.
    pub fn counter(&self, d: i8) -> u32 {
        self.fdt[slot(d)]
    }

    /// Counters and the FDT at the end (`fdt`: distances -7..=-1 then 1..=7).
    pub fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "sampled": self.sampled,
            "sampler_hits": self.sampler_hits,
            "buffer_credits": self.buffer_credits,
            "decays": self.decays,
            "fdt": self.fdt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance d's counter raised to `n` by sampler hits (sample, then demand).
    fn train(s: &mut Sbfp, d: i8, n: u32) {
        for i in 0..n as u64 {
            assert!(!s.admit(1, 1000 + i, d), "at most 100 before");
            s.probe(1, 1000 + i);
        }
    }

    /// Admission is strict: at FDT = threshold (100) a free PTE is sampled, at 101 it
    /// is kept; other distances are untouched by +1's training.
    #[test]
    fn sbfp_admits_exactly_above_the_threshold() {
        let mut s = Sbfp::new(&SbfpConfig::default());
        train(&mut s, 1, 100);
        assert_eq!(s.counter(1), 100);
        assert!(!s.admit(1, 5000, 1), "100 is not > 100");
        s.probe(1, 5000);
        assert_eq!(s.counter(1), 101);
        assert!(s.admit(1, 6000, 1));
        assert!(!s.admit(1, 6001, 2));
        assert_eq!((s.counter(2), s.counter(-1)), (0, 0));
        assert_eq!((s.sampled, s.sampler_hits), (102, 101));
    }

    /// A 4-entry FIFO: the 5th sample evicts the 1st (its later demand credits
    /// nothing), the 2nd still credits; an entry credits once; another address
    /// space's page does not match.
    #[test]
    fn sbfp_sampler_is_a_fifo() {
        let c = SbfpConfig {
            sampler_entries: 4,
            ..SbfpConfig::default()
        };
        let mut s = Sbfp::new(&c);
        for (vpn, d) in [(10, 1), (11, 2), (12, 3), (13, 4), (14, 5)] {
            assert!(!s.admit(1, vpn, d));
        }
        s.probe(1, 10);
        assert_eq!(s.counter(1), 0, "evicted by the 5th");
        s.probe(1, 11);
        s.probe(1, 11);
        assert_eq!(s.counter(2), 1, "credited once");
        s.probe(2, 12);
        assert_eq!(s.counter(3), 0, "other asid");
        s.probe(1, 14);
        assert_eq!((s.counter(5), s.sampler_hits), (1, 2));
    }

    /// 10-bit counters saturate at 1023: the increment that reaches 1023 halves every
    /// counter (1023 >> 1 = 511, 7 >> 1 = 3), then counting resumes from there.
    #[test]
    fn sbfp_decays_when_a_counter_saturates() {
        let mut s = Sbfp::new(&SbfpConfig::default());
        for _ in 0..7 {
            s.credit(-3);
        }
        for _ in 0..1022 {
            s.credit(7);
        }
        assert_eq!((s.counter(7), s.decays), (1022, 0));
        s.credit(7);
        assert_eq!((s.counter(7), s.counter(-3), s.decays), (511, 3, 1));
        s.credit(7);
        assert_eq!(s.counter(7), 512);
        // The FDT slots: -7 first, +7 last.
        assert_eq!((slot(-7), slot(-1), slot(1), slot(7)), (0, 6, 7, 13));
    }

    #[test]
    fn sbfp_config_problems() {
        assert!(SbfpConfig::default().problems("p").is_empty());
        let c = SbfpConfig {
            fdt_bits: 4,
            threshold: 15,
            sampler_entries: 0,
        };
        let keys: Vec<String> = c.problems("p").into_iter().map(|e| e.0).collect();
        assert_eq!(keys, ["p.threshold", "p.sampler_entries"]);
    }
}
