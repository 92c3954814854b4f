//! Demand paging under memory pressure: one address space's resident set and the
//! replacement policy that picks its victims.
//!
//! Owns, per address space, which 4 KiB pages are resident (in a table of frames that
//! policies index as the textbook's "frames"), their use and dirty bits, and the
//! policy's state (FIFO/Clock hand, LRU order, Random generator). In: first touches
//! (`insert`), accesses (`touch`: recency for LRU, dirty on stores, use bits on walks)
//! and requests for a victim when the limit or physical memory is reached. Out: the
//! victim page, its frame and whether it was dirty (the OS unmaps it, frees the frame,
//! writes it back if dirty and invalidates its translation).
//!
//! The policies follow the fixed-memory simulations of `analysis::replace` so that the
//! two can be checked against each other: a ring for FIFO; Clock with a hand that sweeps
//! from where it stopped, clearing use bits, and stops after the page it loads; Random
//! replacing a uniformly chosen slot (multiply-shift of a xoshiro256++ draw); exact LRU;
//! OPT keyed by each page's next use (the OS is handed the future); WS removing, after
//! every access, the pages last used `window` or more accesses ago (`expired`).
//! The one deliberate difference is where Clock's use bit comes from: the page walker
//! sets it when it loads a translation, as x86's accessed bit is set, so a page that
//! stays in the TLB is not seen as used again (Linux clears accessed bits without a TLB
//! flush and lives with the same blindness).

use crate::config::ReplacementPolicy;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::{BTreeSet, HashMap};

pub struct ResidentSet {
    policy: ReplacementPolicy,
    slot_of: HashMap<u64, u32>,
    /// Per slot: virtual page number and frame.
    pages: Vec<(u64, u64)>,
    used: Vec<bool>,
    dirty: Vec<bool>,
    /// FIFO and Clock: the next slot to consider.
    hand: usize,
    /// LRU: last-use stamp per slot, and (stamp, slot) in order.
    stamp: Vec<u64>,
    order: BTreeSet<(u64, u32)>,
    clock: u64,
    rng: Xoshiro256PlusPlus,
    /// Slots victims left empty, refilled by the next inserts (most recent first).
    free_slots: Vec<u32>,
    occupied: Vec<bool>,
}

/// A page chosen for eviction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Victim {
    pub vpn: u64,
    pub frame: u64,
    pub dirty: bool,
}

impl ResidentSet {
    pub fn new(policy: ReplacementPolicy, seed: u64) -> ResidentSet {
        ResidentSet {
            policy,
            slot_of: HashMap::new(),
            pages: Vec::new(),
            used: Vec::new(),
            dirty: Vec::new(),
            hand: 0,
            stamp: Vec::new(),
            order: BTreeSet::new(),
            clock: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            free_slots: Vec::new(),
            occupied: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    /// An access to `vpn` (if resident): LRU and WS recency, OPT's next use (`next`:
    /// when the page is referenced again), the dirty bit on a store, and Clock's use
    /// bit when the access walked.
    #[inline]
    pub fn touch(&mut self, vpn: u64, store: bool, walked: bool, next: u64) {
        self.clock += 1;
        let Some(&s) = self.slot_of.get(&vpn) else {
            return;
        };
        let s = s as usize;
        self.dirty[s] |= store;
        match self.policy {
            ReplacementPolicy::Lru | ReplacementPolicy::Ws => self.rekey(s, self.clock),
            ReplacementPolicy::Opt => self.rekey(s, next),
            ReplacementPolicy::Clock => self.used[s] |= walked,
            _ => {}
        }
    }

    fn rekey(&mut self, s: usize, key: u64) {
        self.order.remove(&(self.stamp[s], s as u32));
        self.stamp[s] = key;
        self.order.insert((key, s as u32));
    }

    /// WS: the resident page whose last access is `window` or more accesses ago, if
    /// any (removed, like a victim).
    pub fn expired(&mut self, window: u64) -> Option<Victim> {
        let &(st, s) = self.order.iter().next()?;
        if st + window > self.clock {
            return None;
        }
        self.order.remove(&(st, s));
        Some(self.remove_slot(s as usize))
    }

    fn remove_slot(&mut self, s: usize) -> Victim {
        let (vpn, frame) = self.pages[s];
        self.slot_of.remove(&vpn);
        self.occupied[s] = false;
        self.free_slots.push(s as u32);
        Victim {
            vpn,
            frame,
            dirty: self.dirty[s],
        }
    }

    /// Makes `vpn` resident in `frame` (clean, used): in the slot the last victim left,
    /// or a new one while the set grows.
    pub fn insert(&mut self, vpn: u64, frame: u64) {
        let s = match self.free_slots.pop() {
            Some(s) => s as usize,
            None => {
                self.pages.push((0, 0));
                self.used.push(false);
                self.dirty.push(false);
                self.stamp.push(0);
                self.occupied.push(false);
                // While the set grows the hand stays after the newest slot (wrapping
                // to the first one once a victim is needed), as `analysis::replace`.
                self.hand = self.pages.len();
                self.pages.len() - 1
            }
        };
        self.pages[s] = (vpn, frame);
        self.occupied[s] = true;
        self.used[s] = true;
        self.dirty[s] = false;
        self.slot_of.insert(vpn, s as u32);
        match self.policy {
            // The access that loads the page touches it right after: the key set
            // here (now, or "never again" for OPT) is overwritten then.
            ReplacementPolicy::Lru | ReplacementPolicy::Ws => {
                self.stamp[s] = self.clock;
                self.order.insert((self.clock, s as u32));
            }
            ReplacementPolicy::Opt => {
                self.stamp[s] = u64::MAX;
                self.order.insert((u64::MAX, s as u32));
            }
            _ => {}
        }
    }

    /// Drops `vpn` from the set (unmapped by the program), if resident.
    pub fn remove(&mut self, vpn: u64) {
        if let Some(&s) = self.slot_of.get(&vpn) {
            let s = s as usize;
            self.order.remove(&(self.stamp[s], s as u32));
            self.remove_slot(s);
        }
    }

    /// Chooses and removes a victim; its slot is taken by the next insert. `None` when
    /// nothing is resident.
    pub fn evict(&mut self) -> Option<Victim> {
        if self.is_empty() {
            return None;
        }
        let n = self.pages.len();
        // Empty slots (left by victims not yet replaced) are skipped by every policy.
        let s = match self.policy {
            ReplacementPolicy::Fifo => {
                let mut h = self.hand % n;
                while !self.occupied[h] {
                    h = (h + 1) % n;
                }
                self.hand = h + 1;
                h
            }
            ReplacementPolicy::Clock => {
                let mut h = self.hand % n;
                // Each step clears a bit some walk set: O(1) amortised.
                while !self.occupied[h] || self.used[h] {
                    self.used[h] = false;
                    h = (h + 1) % n;
                }
                self.hand = h + 1;
                h
            }
            ReplacementPolicy::Random => loop {
                let s = ((self.rng.next_u64() as u128 * n as u128) >> 64) as usize;
                if self.occupied[s] {
                    break s;
                }
            },
            // WS under a limit or memory pressure falls back to LRU order.
            ReplacementPolicy::Lru | ReplacementPolicy::Ws => {
                let (st, s) = *self.order.iter().next().expect("non-empty");
                self.order.remove(&(st, s));
                s as usize
            }
            // The farthest next use; pages never used again (u64::MAX) first, the
            // highest slot among them (any choice gives the same fault count).
            ReplacementPolicy::Opt => {
                let (st, s) = *self.order.iter().next_back().expect("non-empty");
                self.order.remove(&(st, s));
                s as usize
            }
        };
        Some(self.remove_slot(s))
    }
}
