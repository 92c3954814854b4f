//! Fixed-memory page replacement, simulated reference by reference: FIFO, LRU, Clock,
//! Random and OPT, for teaching (Belady's anomaly, policy comparisons) and as an
//! independent check of the stack analyses.
//!
//! In: a reference string of dense page ids (`0..distinct`), a number of frames, a policy
//! and a seed (used by Random only). Out: the fault count; a table of fault counts for
//! several frame counts and policies; an SVG of faults against frames.
//!
//! Every policy costs O(1) or O(log n) per reference, so a million references with
//! thousands of frames take milliseconds:
//! - FIFO: a ring of frames; the oldest arrival leaves.
//! - LRU: an intrusive doubly linked list over page ids, most recent at the head.
//! - Clock (second chance; Corbató 1968, as in Silberschatz, Galvin and Gagne,
//!   "Operating System Concepts"): each frame has a use bit, set whenever its page is
//!   referenced, including the reference that loads it (the textbook convention: the
//!   hardware sets the bit on every access). On a fault with memory full the hand sweeps
//!   from where it stopped, clearing set bits, and replaces the first page whose bit is
//!   clear; the hand then points at the frame after the new page. Free frames are filled
//!   in order and the hand is left after the last one filled, so the first sweep starts at
//!   frame 0. Equivalently: FIFO in which a page with its bit set goes to the back of the
//!   queue with the bit cleared instead of leaving.
//! - Random: the victim is a uniformly chosen frame (rand_xoshiro seeded with `seed`, so
//!   the same seed gives the same count).
//! - OPT (Belady 1966): the victim is the resident page whose next reference is farthest
//!   away, pages never referenced again first (which of those goes does not change the
//!   count). Next-use times come from one backward pass; resident pages sit in a max-heap
//!   keyed by next use, with stale entries dropped when popped (lazy deletion).
//!
//! With zero frames nothing can be kept and every reference faults.

use crate::svg::{LineChart, Series};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::BinaryHeap;
use std::fmt;
use std::str::FromStr;

/// A page replacement policy for a fixed number of frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    Fifo,
    Lru,
    Clock,
    Random,
    Opt,
}

impl Policy {
    /// Every policy, in the order tables and charts list them.
    pub const ALL: [Policy; 5] = [
        Policy::Fifo,
        Policy::Lru,
        Policy::Clock,
        Policy::Random,
        Policy::Opt,
    ];

    /// The lower-case name `FromStr` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Fifo => "fifo",
            Policy::Lru => "lru",
            Policy::Clock => "clock",
            Policy::Random => "random",
            Policy::Opt => "opt",
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Policy {
    type Err = String;

    fn from_str(s: &str) -> Result<Policy, String> {
        Policy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown replacement policy `{s}`, expected one of fifo, lru, clock, random, opt")
            })
    }
}

/// "No page / no frame" in the index arrays.
const NIL: u32 = u32::MAX;

/// Faults of `policy` with `frames` frames on the reference string.
///
/// # Panics
/// If an id is `>= distinct`.
pub fn faults(ids: &[u32], distinct: usize, frames: usize, policy: Policy, seed: u64) -> u64 {
    if frames == 0 {
        return ids.len() as u64;
    }
    match policy {
        Policy::Fifo => fifo(ids, distinct, frames),
        Policy::Lru => lru(ids, distinct, frames),
        Policy::Clock => clock(ids, distinct, frames),
        Policy::Random => random(ids, distinct, frames, seed),
        Policy::Opt => opt(ids, distinct, frames, &next_uses(ids, distinct)),
    }
}

/// Fault counts for every policy and frame count: `table[i][j]` is `policies[i]` with
/// `frames[j]` frames. OPT's next-use times are computed once for all frame counts.
///
/// # Panics
/// If an id is `>= distinct`.
pub fn fault_table(
    ids: &[u32],
    distinct: usize,
    frames: &[usize],
    policies: &[Policy],
    seed: u64,
) -> Vec<Vec<u64>> {
    let next = policies
        .contains(&Policy::Opt)
        .then(|| next_uses(ids, distinct));
    policies
        .iter()
        .map(|&p| {
            frames
                .iter()
                .map(|&n| match (p, &next) {
                    (Policy::Opt, Some(next)) if n > 0 => opt(ids, distinct, n, next),
                    _ => faults(ids, distinct, n, p, seed),
                })
                .collect()
        })
        .collect()
}

/// Faults against frames, one line with dots per policy (rows of `table` as
/// [`fault_table`] returns them).
pub fn fault_svg(title: &str, frames: &[usize], policies: &[Policy], table: &[Vec<u64>]) -> String {
    let series = policies
        .iter()
        .zip(table)
        .map(|(p, row)| Series {
            name: p.name().to_uppercase(),
            points: frames
                .iter()
                .zip(row)
                .map(|(&n, &f)| (n as f64, f as f64))
                .collect(),
            dots: true,
            ..Series::default()
        })
        .collect();
    LineChart {
        title: title.to_string(),
        x_label: "frames".into(),
        y_label: "faults".into(),
        series,
        ..LineChart::default()
    }
    .to_svg()
}

fn fifo(ids: &[u32], distinct: usize, frames: usize) -> u64 {
    let mut resident = vec![false; distinct];
    let mut ring: Vec<u32> = Vec::with_capacity(frames.min(distinct));
    let mut oldest = 0; // the ring slot that leaves next, once the ring is full
    let mut faults = 0;
    for &p in ids {
        if resident[p as usize] {
            continue;
        }
        faults += 1;
        resident[p as usize] = true;
        if ring.len() < frames {
            ring.push(p);
        } else {
            resident[ring[oldest] as usize] = false;
            ring[oldest] = p;
            oldest = if oldest + 1 == frames { 0 } else { oldest + 1 };
        }
    }
    faults
}

fn lru(ids: &[u32], distinct: usize, frames: usize) -> u64 {
    // prev/next link resident pages, head = most recently used, tail = least.
    let mut prev = vec![NIL; distinct];
    let mut next = vec![NIL; distinct];
    let mut resident = vec![false; distinct];
    let (mut head, mut tail) = (NIL, NIL);
    let mut used = 0;
    let mut faults = 0;
    for &p in ids {
        let pi = p as usize;
        if resident[pi] {
            if head == p {
                continue;
            }
            // Unlink (p is not the head, so it has a predecessor).
            let (a, b) = (prev[pi], next[pi]);
            next[a as usize] = b;
            if b == NIL {
                tail = a;
            } else {
                prev[b as usize] = a;
            }
        } else {
            faults += 1;
            resident[pi] = true;
            if used == frames {
                let victim = tail;
                resident[victim as usize] = false;
                tail = prev[victim as usize];
                if tail == NIL {
                    head = NIL;
                } else {
                    next[tail as usize] = NIL;
                }
            } else {
                used += 1;
            }
        }
        // Push p at the head.
        prev[pi] = NIL;
        next[pi] = head;
        if head == NIL {
            tail = p;
        } else {
            prev[head as usize] = p;
        }
        head = p;
    }
    faults
}

fn clock(ids: &[u32], distinct: usize, frames: usize) -> u64 {
    let mut slot_of = vec![NIL; distinct];
    let mut page: Vec<u32> = Vec::with_capacity(frames.min(distinct));
    let mut used: Vec<bool> = Vec::with_capacity(frames.min(distinct));
    let mut hand = 0;
    let mut faults = 0;
    for &p in ids {
        let s = slot_of[p as usize];
        if s != NIL {
            used[s as usize] = true;
            continue;
        }
        faults += 1;
        if page.len() < frames {
            slot_of[p as usize] = page.len() as u32;
            page.push(p);
            used.push(true);
            hand = if page.len() == frames { 0 } else { page.len() };
            continue;
        }
        // Each step clears a bit some reference set, so the sweeps cost O(1) amortised.
        while used[hand] {
            used[hand] = false;
            hand = if hand + 1 == frames { 0 } else { hand + 1 };
        }
        slot_of[page[hand] as usize] = NIL;
        slot_of[p as usize] = hand as u32;
        page[hand] = p;
        used[hand] = true;
        hand = if hand + 1 == frames { 0 } else { hand + 1 };
    }
    faults
}

fn random(ids: &[u32], distinct: usize, frames: usize, seed: u64) -> u64 {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut slot_of = vec![NIL; distinct];
    let mut page: Vec<u32> = Vec::with_capacity(frames.min(distinct));
    let mut faults = 0;
    for &p in ids {
        if slot_of[p as usize] != NIL {
            continue;
        }
        faults += 1;
        let s = if page.len() < frames {
            page.push(p);
            page.len() - 1
        } else {
            // Multiply-shift maps 64 random bits onto [0, frames) (bias < frames / 2^64).
            let s = ((rng.next_u64() as u128 * frames as u128) >> 64) as usize;
            slot_of[page[s] as usize] = NIL;
            page[s] = p;
            s
        };
        slot_of[p as usize] = s as u32;
    }
    faults
}

/// The time (index) of the next reference to the same page after each reference;
/// `u64::MAX` if there is none.
fn next_uses(ids: &[u32], distinct: usize) -> Vec<u64> {
    let mut seen = vec![u64::MAX; distinct];
    let mut next = vec![u64::MAX; ids.len()];
    for (i, &p) in ids.iter().enumerate().rev() {
        next[i] = seen[p as usize];
        seen[p as usize] = i as u64;
    }
    next
}

fn opt(ids: &[u32], distinct: usize, frames: usize, next: &[u64]) -> u64 {
    // cur[p]: next use of resident page p (u64::MAX: never again); NOT_RESIDENT otherwise.
    // Heap entries (next use, page) are stale unless they match cur.
    const NOT_RESIDENT: u64 = u64::MAX - 1;
    let mut cur = vec![NOT_RESIDENT; distinct];
    let mut resident: Vec<u32> = Vec::with_capacity(frames.min(distinct));
    let mut slot_of = vec![NIL; distinct];
    let mut heap: BinaryHeap<(u64, u32)> = BinaryHeap::with_capacity(2 * frames.min(distinct));
    let mut faults = 0;
    for (i, &p) in ids.iter().enumerate() {
        let pi = p as usize;
        let nu = next[i];
        if cur[pi] == NOT_RESIDENT {
            faults += 1;
            if resident.len() < frames {
                slot_of[pi] = resident.len() as u32;
                resident.push(p);
            } else {
                let victim = loop {
                    let (t, v) = heap.pop().expect("a full memory has a valid heap entry");
                    if cur[v as usize] == t {
                        break v;
                    }
                };
                let s = slot_of[victim as usize];
                cur[victim as usize] = NOT_RESIDENT;
                slot_of[victim as usize] = NIL;
                slot_of[pi] = s;
                resident[s as usize] = p;
            }
        }
        cur[pi] = nu;
        heap.push((nu, p));
        // Every hit leaves a stale entry; rebuild from the resident pages before the heap
        // outgrows them by much (amortised O(1) per reference).
        if heap.len() > 2 * resident.len() + 1024 {
            heap.clear();
            heap.extend(resident.iter().map(|&r| (cur[r as usize], r)));
        }
    }
    faults
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for p in Policy::ALL {
            assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
        }
        let e = "lfu".parse::<Policy>().unwrap_err();
        assert!(e.contains("`lfu`") && e.contains("clock"), "{e}");
    }

    #[test]
    fn zero_frames_fault_on_every_reference() {
        for p in Policy::ALL {
            assert_eq!(faults(&[0, 0, 1], 2, 0, p, 1), 3);
        }
    }

    #[test]
    fn clock_gives_a_second_chance_by_hand() {
        // 3 frames, a b c d a b c. a b c fill frames 0-2 with bits set, hand at 0.
        // d: the sweep clears a, b, c, wraps and replaces a (hand -> 1). a: b's bit is
        // clear, b goes (hand -> 2). b: c's bit is clear, c goes (hand -> 0). c: d, a, b
        // all have their bits set; the sweep clears them and d goes. 7 faults, as LRU.
        assert_eq!(faults(&[0, 1, 2, 3, 0, 1, 2], 4, 3, Policy::Clock, 0), 7);
        // The second chance: a b c d b e b. d's sweep clears every bit and replaces a
        // (hand -> frame 1, which holds b). The hit on b sets its bit again, so e's sweep
        // clears b and replaces c; the last b hits: 5 faults. FIFO evicts b for e and
        // faults on the last b: 6.
        let s = [0, 1, 2, 3, 1, 4, 1];
        assert_eq!(faults(&s, 5, 3, Policy::Clock, 0), 5);
        assert_eq!(faults(&s, 5, 3, Policy::Fifo, 0), 6);
    }
}
