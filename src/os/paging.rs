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
//!
//! Nothing here allocates once the set has reached its largest size: LRU and WS keep
//! their order in a linked list threaded through the slots, OPT in a binary heap of
//! slots with each slot's position, both sized by the slots (the per-access path of
//! issue 15 allocates nothing). Both order slots by (key, slot), as a sorted set of
//! those pairs would, so ties (equal stamps, pages never used again) go the same way.

use crate::config::ReplacementPolicy;
use bitvec::vec::BitVec;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::HashMap;

/// No slot (end of a list, or not in it).
const NIL: u32 = u32::MAX;

pub struct ResidentSet {
    policy: ReplacementPolicy,
    slot_of: HashMap<u64, u32>,
    /// Per slot: virtual page number and frame.
    pages: Vec<(u64, u64)>,
    used: BitVec,
    dirty: BitVec,
    /// FIFO and Clock: the next slot to consider.
    hand: usize,
    /// Per slot, the key the order is by: LRU and WS the last use (`clock` then), OPT
    /// the next use.
    stamp: Vec<u64>,
    /// LRU and WS: occupied slots from least to most recently used.
    recency: Recency,
    /// OPT: occupied slots, the farthest next use on top.
    next_use: NextUse,
    clock: u64,
    rng: Xoshiro256PlusPlus,
    /// Slots victims left empty, refilled by the next inserts (most recent first).
    free_slots: Vec<u32>,
    occupied: BitVec,
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
            used: BitVec::new(),
            dirty: BitVec::new(),
            hand: 0,
            stamp: Vec::new(),
            recency: Recency::default(),
            next_use: NextUse::default(),
            clock: 0,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            free_slots: Vec::new(),
            occupied: BitVec::new(),
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
        if store {
            self.dirty.set(s as usize, true);
        }
        match self.policy {
            ReplacementPolicy::Lru | ReplacementPolicy::Ws => {
                self.recency.unlink(s);
                self.stamp[s as usize] = self.clock;
                self.recency.push(s, &self.stamp);
            }
            ReplacementPolicy::Opt => {
                self.stamp[s as usize] = next;
                self.next_use.rekey(s, &self.stamp);
            }
            ReplacementPolicy::Clock if walked => self.used.set(s as usize, true),
            _ => {}
        }
    }

    /// WS: the resident page whose last access is `window` or more accesses ago, if
    /// any (removed, like a victim).
    pub fn expired(&mut self, window: u64) -> Option<Victim> {
        let s = self.recency.first()?;
        if self.stamp[s as usize] + window > self.clock {
            return None;
        }
        self.recency.unlink(s);
        Some(self.remove_slot(s as usize))
    }

    fn remove_slot(&mut self, s: usize) -> Victim {
        let (vpn, frame) = self.pages[s];
        self.slot_of.remove(&vpn);
        self.occupied.set(s, false);
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
                self.recency.grow();
                self.next_use.grow();
                // Room for twice the largest set: a table of removes and inserts runs
                // out of empty buckets (removals leave tombstones) at a time that
                // depends on the hashes, and the standard HashMap then rehashes in
                // place, without allocating, only while it is at most half full; with
                // this headroom a set that stopped growing never allocates again.
                self.slot_of.reserve(self.pages.len() + 3);
                // While the set grows the hand stays after the newest slot (wrapping
                // to the first one once a victim is needed), as `analysis::replace`.
                self.hand = self.pages.len();
                self.pages.len() - 1
            }
        };
        self.pages[s] = (vpn, frame);
        self.occupied.set(s, true);
        self.used.set(s, true);
        self.dirty.set(s, false);
        self.slot_of.insert(vpn, s as u32);
        match self.policy {
            // The access that loads the page touches it right after: the key set
            // here (now, or "never again" for OPT) is overwritten then.
            ReplacementPolicy::Lru | ReplacementPolicy::Ws => {
                self.stamp[s] = self.clock;
                self.recency.push(s as u32, &self.stamp);
            }
            ReplacementPolicy::Opt => {
                self.stamp[s] = u64::MAX;
                self.next_use.push(s as u32, &self.stamp);
            }
            _ => {}
        }
    }

    /// Drops `vpn` from the set (unmapped by the program), if resident.
    pub fn remove(&mut self, vpn: u64) {
        if let Some(&s) = self.slot_of.get(&vpn) {
            match self.policy {
                ReplacementPolicy::Lru | ReplacementPolicy::Ws => self.recency.unlink(s),
                ReplacementPolicy::Opt => self.next_use.remove(s, &self.stamp),
                _ => {}
            }
            self.remove_slot(s as usize);
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
                    self.used.set(h, false);
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
                let s = self.recency.first().expect("non-empty");
                self.recency.unlink(s);
                s as usize
            }
            // The farthest next use; pages never used again (u64::MAX) first, the
            // highest slot among them (any choice gives the same fault count).
            ReplacementPolicy::Opt => {
                let s = self.next_use.top().expect("non-empty");
                self.next_use.remove(s, &self.stamp);
                s as usize
            }
        };
        Some(self.remove_slot(s))
    }
}

/// Whether slot `a` comes after slot `b` in (key, slot) order.
#[inline]
fn after(key: &[u64], a: u32, b: u32) -> bool {
    (key[a as usize], a) > (key[b as usize], b)
}

/// Slots in ascending (key, slot) order, as a doubly linked list through the slots. A
/// slot is pushed with a key no smaller than any listed (keys are the clock, which
/// only grows), so it goes at the tail, before only the listed slots of the same key
/// and a higher number: O(1), and no allocation once every slot has its links.
struct Recency {
    prev: Vec<u32>,
    next: Vec<u32>,
    head: u32,
    tail: u32,
}

impl Default for Recency {
    fn default() -> Recency {
        Recency {
            prev: Vec::new(),
            next: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }
}

impl Recency {
    fn grow(&mut self) {
        self.prev.push(NIL);
        self.next.push(NIL);
    }

    fn first(&self) -> Option<u32> {
        (self.head != NIL).then_some(self.head)
    }

    fn push(&mut self, s: u32, key: &[u64]) {
        // The slot to link `s` after: the tail, or before it the listed slots of the
        // same key and a higher number.
        let mut at = self.tail;
        while at != NIL && after(key, at, s) {
            debug_assert_eq!(key[at as usize], key[s as usize], "keys never go back");
            at = self.prev[at as usize];
        }
        let next = if at == NIL {
            std::mem::replace(&mut self.head, s)
        } else {
            std::mem::replace(&mut self.next[at as usize], s)
        };
        self.prev[s as usize] = at;
        self.next[s as usize] = next;
        if next == NIL {
            self.tail = s;
        } else {
            self.prev[next as usize] = s;
        }
    }

    fn unlink(&mut self, s: u32) {
        let (p, n) = (self.prev[s as usize], self.next[s as usize]);
        if p == NIL {
            self.head = n;
        } else {
            self.next[p as usize] = n;
        }
        if n == NIL {
            self.tail = p;
        } else {
            self.prev[n as usize] = p;
        }
        self.prev[s as usize] = NIL;
        self.next[s as usize] = NIL;
    }
}

/// Slots in a binary max-heap by (key, slot), with each slot's place in it so that a
/// slot's key can change in place: O(log n) per change, and no allocation once the
/// heap has held as many slots as there are.
#[derive(Default)]
struct NextUse {
    heap: Vec<u32>,
    /// Per slot, its index in `heap` (NIL when not in it).
    pos: Vec<u32>,
}

impl NextUse {
    fn grow(&mut self) {
        self.pos.push(NIL);
    }

    fn top(&self) -> Option<u32> {
        self.heap.first().copied()
    }

    fn push(&mut self, s: u32, key: &[u64]) {
        self.heap.push(s);
        self.pos[s as usize] = (self.heap.len() - 1) as u32;
        self.up(self.heap.len() - 1, key);
    }

    fn remove(&mut self, s: u32, key: &[u64]) {
        let i = self.pos[s as usize] as usize;
        self.pos[s as usize] = NIL;
        let last = self.heap.pop().expect("listed");
        if i < self.heap.len() {
            self.heap[i] = last;
            self.pos[last as usize] = i as u32;
            self.rekey(last, key);
        }
    }

    /// Restores the order after `s`'s key changed.
    fn rekey(&mut self, s: u32, key: &[u64]) {
        let i = self.pos[s as usize] as usize;
        if self.up(i, key) == i {
            self.down(i, key);
        }
    }

    /// Moves the slot at `i` up past every parent it comes after; returns where it
    /// ends.
    fn up(&mut self, mut i: usize, key: &[u64]) -> usize {
        let s = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / 2;
            let p = self.heap[parent];
            if !after(key, s, p) {
                break;
            }
            self.heap[i] = p;
            self.pos[p as usize] = i as u32;
            i = parent;
        }
        self.heap[i] = s;
        self.pos[s as usize] = i as u32;
        i
    }

    fn down(&mut self, mut i: usize, key: &[u64]) {
        let s = self.heap[i];
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let c = if r < n && after(key, self.heap[r], self.heap[l]) {
                r
            } else {
                l
            };
            let cs = self.heap[c];
            if !after(key, cs, s) {
                break;
            }
            self.heap[i] = cs;
            self.pos[cs as usize] = i as u32;
            i = c;
        }
        self.heap[i] = s;
        self.pos[s as usize] = i as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReplacementPolicy::{Lru, Opt, Ws};

    /// The orders as specified, by brute force: each slot's key, the victim the
    /// occupied slot with the smallest (LRU, WS) or largest (OPT) (key, slot), and
    /// slots refilled last-freed first.
    struct Model {
        policy: ReplacementPolicy,
        /// Per slot: (vpn, key) while occupied.
        slots: Vec<Option<(u64, u64)>>,
        free: Vec<usize>,
        clock: u64,
    }

    impl Model {
        fn find(&self, vpn: u64) -> Option<usize> {
            self.slots
                .iter()
                .position(|e| matches!(e, Some((v, _)) if *v == vpn))
        }
        fn insert(&mut self, vpn: u64) {
            let key = if self.policy == Opt {
                u64::MAX
            } else {
                self.clock
            };
            match self.free.pop() {
                Some(s) => self.slots[s] = Some((vpn, key)),
                None => self.slots.push(Some((vpn, key))),
            }
        }
        fn touch(&mut self, vpn: u64, next: u64) {
            self.clock += 1;
            let key = if self.policy == Opt { next } else { self.clock };
            if let Some(s) = self.find(vpn) {
                self.slots[s] = Some((vpn, key));
            }
        }
        fn take(&mut self, s: usize) -> u64 {
            self.free.push(s);
            self.slots[s].take().unwrap().0
        }
        /// The first (LRU, WS) or last (OPT) occupied slot in (key, slot) order.
        fn pick(&self) -> Option<usize> {
            let occupied = (0..self.slots.len()).filter_map(|s| Some((self.slots[s]?.1, s)));
            let best = if self.policy == Opt {
                occupied.max()
            } else {
                occupied.min()
            };
            best.map(|(_, s)| s)
        }
        fn evict(&mut self) -> Option<u64> {
            let s = self.pick()?;
            Some(self.take(s))
        }
        fn expired(&mut self, window: u64) -> Option<u64> {
            let s = self.pick()?;
            (self.slots[s]?.1 + window <= self.clock).then(|| self.take(s))
        }
        fn remove(&mut self, vpn: u64) {
            if let Some(s) = self.find(vpn) {
                self.take(s);
            }
        }
    }

    /// Random accesses, unmaps and WS trims (with ties: inserts left untouched, equal
    /// next uses, pages never used again) give the model's victims, in its order.
    #[test]
    fn victims_follow_key_then_slot_order_as_brute_force() {
        for policy in [Lru, Ws, Opt] {
            for seed in 0..40u64 {
                let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
                let limit = 1 + r.next_u64() % 12;
                let pages = limit + 2 + r.next_u64() % 20;
                let mut set = ResidentSet::new(policy, seed);
                let mut m = Model {
                    policy,
                    slots: Vec::new(),
                    free: Vec::new(),
                    clock: 0,
                };
                let mut victims = (Vec::new(), Vec::new());
                for _ in 0..3000 {
                    let vpn = r.next_u64() % pages;
                    let x = r.next_u64() % 100;
                    if x < 3 {
                        set.remove(vpn);
                        m.remove(vpn);
                        continue;
                    }
                    if m.find(vpn).is_none() {
                        while set.len() as u64 >= limit {
                            victims.0.push(set.evict().map(|v| v.vpn));
                            victims.1.push(m.evict());
                        }
                        set.insert(vpn, vpn << 12);
                        m.insert(vpn);
                        if x < 10 {
                            // Loaded but not touched: its key ties the last touch's.
                            continue;
                        }
                    }
                    let next = match r.next_u64() % 4 {
                        0 => u64::MAX,
                        _ => m.clock + 1 + r.next_u64() % 8,
                    };
                    set.touch(vpn, x < 50, false, next);
                    m.touch(vpn, next);
                    if policy == Ws {
                        let window = 1 + r.next_u64() % 10;
                        loop {
                            let (a, b) = (set.expired(window).map(|v| v.vpn), m.expired(window));
                            victims.0.push(a);
                            victims.1.push(b);
                            if a.is_none() {
                                break;
                            }
                        }
                    }
                    assert_eq!(set.len(), m.slots.iter().flatten().count());
                }
                assert!(victims.1.iter().flatten().count() > 50, "{policy:?} {seed}");
                assert_eq!(victims.0, victims.1, "{policy:?} seed {seed}");
            }
        }
    }

    /// Dirty bits: a store marks the page, the victim carries it, the slot's next page
    /// starts clean.
    #[test]
    fn victims_carry_their_dirty_bit() {
        let mut set = ResidentSet::new(Lru, 0);
        set.insert(1, 10);
        set.touch(1, true, false, 0);
        set.insert(2, 20);
        set.touch(2, false, false, 0);
        let v = set.evict().unwrap();
        assert_eq!((v.vpn, v.frame, v.dirty), (1, 10, true));
        set.insert(3, 30);
        set.touch(3, false, false, 0);
        assert_eq!(
            set.evict().unwrap(),
            Victim {
                vpn: 2,
                frame: 20,
                dirty: false
            }
        );
        assert_eq!(
            set.evict().unwrap(),
            Victim {
                vpn: 3,
                frame: 30,
                dirty: false
            }
        );
        assert_eq!(set.evict(), None);
    }
}
