//! The set-associative array shared by TLBs, paging-structure caches and data caches.
//!
//! Owns storage (a 64-bit key and a 64-bit value per way) and the replacement policies
//! (LRU, tree-PLRU, FIFO, seeded random). Callers compute the set index and the key;
//! this module decides hits, victims and evictions. Keeping indexing outside and
//! replacement inside lets one mechanism serve every cache-like structure (as gem5
//! separates indexing and replacement policies).
//!
//! Flow: `lookup(set, key)` → hit way (replacement state updated) or `None`;
//! `insert(set, key, value)` → the evicted `(key, value)` if a valid entry was displaced.
//!
//! Replacement policies implement [`ReplacementPolicy`]; [`Policy`] wraps the built-in
//! ones in an enum. The policy of an array never changes during a run, so the match in
//! `Policy` is a perfectly predicted branch, not a dynamic dispatch through a vtable.

mod ordered;
pub(crate) mod ranked;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};

/// Prefetch every host cache line of a small slice (at most 4 lines).
#[inline(always)]
fn prefetch_slice(s: &[u64]) {
    for chunk in s.chunks(8).take(4) {
        crate::pagetable::prefetch_host(chunk.as_ptr());
    }
}

/// Sets up to this many ways are searched without early exits.
const BRANCHLESS_WAYS: usize = 32;

/// Bit `w` set where way `w` of the `N` ways of `s` holds `key` (`N <= 64`). As a
/// fixed-size array, the compiler unrolls it into a compare and a flag per way with no
/// loop; a loop over a slice of unknown length cost about twice as many host
/// instructions per way.
#[inline(always)]
fn matching<const N: usize>(s: &[u64], key: u64) -> u64 {
    let s: &[u64; N] = s.try_into().expect("a set of N ways");
    #[cfg(target_arch = "x86_64")]
    if N % 4 == 0 {
        return simd::matching(s, key);
    }
    let mut m = 0;
    for (w, &k) in s.iter().enumerate() {
        m |= ((k == key) as u64) << w;
    }
    m
}

/// Four ways compared at once with SSE2 (every x86-64 has it). SSE2 has no 64-bit
/// compare, so the keys are compared as 32-bit halves and a way matches where both of
/// its halves do: two vectors of two keys each are compared, their low halves and their
/// high halves gathered into one vector each (`shufps`), and the two ANDed, one lane per
/// key. About 2.5 host instructions per way against 4 to 5 compared one by one
/// (`scripts/callgrind.sh`); the same ways match.
#[cfg(target_arch = "x86_64")]
mod simd {
    use std::arch::x86_64::*;

    #[inline(always)]
    pub(super) fn matching<const N: usize>(s: &[u64; N], key: u64) -> u64 {
        // SAFETY: SSE2 is part of every x86-64 target (these intrinsics need nothing
        // else); the loads read the 32 bytes of a 4-way chunk of `s`, unaligned.
        unsafe {
            let k = _mm_set1_epi64x(key as i64);
            let mut m = 0;
            for (i, q) in s.chunks_exact(4).enumerate() {
                let a = _mm_loadu_si128(q.as_ptr() as *const __m128i);
                let b = _mm_loadu_si128(q.as_ptr().add(2) as *const __m128i);
                let ea = _mm_castsi128_ps(_mm_cmpeq_epi32(a, k));
                let eb = _mm_castsi128_ps(_mm_cmpeq_epi32(b, k));
                // Lanes (a0.lo, a1.lo, b0.lo, b1.lo) and (a0.hi, a1.hi, b0.hi, b1.hi).
                let lo = _mm_shuffle_ps::<0b10_00_10_00>(ea, eb);
                let hi = _mm_shuffle_ps::<0b11_01_11_01>(ea, eb);
                m |= (_mm_movemask_ps(_mm_and_ps(lo, hi)) as u64) << (4 * i);
            }
            m
        }
    }
}

/// [`matching`] for a set of any number of ways up to 64 (the way counts of
/// `ordered.rs`'s fixed-size operations compared as arrays).
#[inline(always)]
fn ways_matching(s: &[u64], key: u64) -> u64 {
    match s.len() {
        1 => matching::<1>(s, key),
        2 => matching::<2>(s, key),
        4 => matching::<4>(s, key),
        8 => matching::<8>(s, key),
        12 => matching::<12>(s, key),
        16 => matching::<16>(s, key),
        _ => {
            let mut m = 0;
            for (w, &k) in s.iter().enumerate() {
                m |= ((k == key) as u64) << w;
            }
            m
        }
    }
}

/// The lowest set bit's index, if any.
#[inline(always)]
fn lowest(m: u64) -> Option<usize> {
    (m != 0).then_some(m.trailing_zeros() as usize)
}

/// The way of set `s` holding `key`. Small sets are scanned whole (a mask of the ways
/// that match) instead of with an early exit, whose branch mispredicts on random hit
/// positions; keys are unique in a set, so both find the same way.
#[inline(always)]
fn find_in(s: &[u64], key: u64) -> Option<usize> {
    if s.len() <= BRANCHLESS_WAYS {
        lowest(ways_matching(s, key))
    } else {
        s.iter().position(|&k| k == key)
    }
}

/// Marks an empty way. No real key can take this value: TLB and cache keys leave their
/// top bits clear.
pub const INVALID: u64 = u64::MAX;

/// Which replacement policy a structure uses (config value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Replacement {
    #[default]
    Lru,
    /// Tree pseudo-LRU; needs a power-of-two number of ways.
    Plru,
    Fifo,
    /// Uniformly random victim from a seeded xoshiro256++ stream.
    Random,
}

/// A replacement policy over `sets` x `ways`. The array fills empty ways itself, so
/// `victim` is only asked when every way of the set is valid.
pub trait ReplacementPolicy {
    /// A valid way was hit.
    fn on_hit(&mut self, set: usize, way: usize);
    /// A way was (re)filled.
    fn on_fill(&mut self, set: usize, way: usize);
    /// The way to evict from a full set.
    fn victim(&mut self, set: usize) -> usize;
    /// Hint that `set` will be used soon (host prefetch of its state; no effect on results).
    #[inline(always)]
    fn prefetch(&self, _set: usize) {}
}

/// Exact LRU by per-way timestamps (a counter per array; never wraps in practice). LRU
/// arrays built by [`SetAssoc::new`] keep their sets in recency order instead
/// (`ordered.rs`); this is FIFO's clock and the tests' reference for that order.
pub struct Lru {
    ways: usize,
    stamps: Vec<u64>,
    clock: u64,
}

impl Lru {
    fn new(sets: usize, ways: usize) -> Self {
        Lru {
            ways,
            stamps: vec![0; sets * ways],
            clock: 0,
        }
    }
    #[inline(always)]
    fn stamp(&mut self, set: usize, way: usize) {
        self.clock += 1;
        self.stamps[set * self.ways + way] = self.clock;
    }
    #[inline(always)]
    fn oldest(&self, set: usize) -> usize {
        let s = &self.stamps[set * self.ways..(set + 1) * self.ways];
        // Written as selects so it compiles to conditional moves: the stamps are in
        // random order, and a branch per way would mispredict about half the time.
        let (mut best, mut oldest) = (0, s[0]);
        for (w, &v) in s.iter().enumerate().skip(1) {
            let older = v < oldest;
            best = if older { w } else { best };
            oldest = if older { v } else { oldest };
        }
        best
    }
}

impl ReplacementPolicy for Lru {
    #[inline(always)]
    fn prefetch(&self, set: usize) {
        prefetch_slice(&self.stamps[set * self.ways..(set + 1) * self.ways]);
    }
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        self.stamp(set, way)
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.stamp(set, way)
    }
    #[inline(always)]
    fn victim(&mut self, set: usize) -> usize {
        self.oldest(set)
    }
}

/// FIFO: the stamp is set at fill and never on a hit.
pub struct Fifo(Lru);

impl ReplacementPolicy for Fifo {
    #[inline(always)]
    fn on_hit(&mut self, _set: usize, _way: usize) {}
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.0.stamp(set, way)
    }
    #[inline(always)]
    fn victim(&mut self, set: usize) -> usize {
        self.0.oldest(set)
    }
}

/// Tree pseudo-LRU: `ways - 1` bits per set in heap order (node 1 is the root). A bit
/// points to the half that holds the pseudo-least-recently used way.
pub struct TreePlru {
    depth: u32,
    bits: Vec<u64>,
}

impl TreePlru {
    fn new(sets: usize, ways: usize) -> Self {
        assert!(ways.is_power_of_two() && ways <= 64, "validated by config");
        TreePlru {
            depth: ways.trailing_zeros(),
            bits: vec![0; sets],
        }
    }
    #[inline(always)]
    fn touch(&mut self, set: usize, way: usize) {
        let mut b = self.bits[set];
        let mut node = 1usize;
        for d in (0..self.depth).rev() {
            let dir = (way >> d) & 1;
            // Point the node away from the way just used.
            if dir == 0 {
                b |= 1 << node;
            } else {
                b &= !(1 << node);
            }
            node = 2 * node + dir;
        }
        self.bits[set] = b;
    }
}

impl ReplacementPolicy for TreePlru {
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        self.touch(set, way)
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        self.touch(set, way)
    }
    #[inline(always)]
    fn victim(&mut self, set: usize) -> usize {
        let b = self.bits[set];
        let mut node = 1usize;
        for _ in 0..self.depth {
            node = 2 * node + ((b >> node) & 1) as usize;
        }
        node - (1 << self.depth)
    }
}

/// Random victim from a seeded stream, so runs stay reproducible.
pub struct RandomRepl {
    ways: u64,
    rng: Xoshiro256PlusPlus,
}

impl ReplacementPolicy for RandomRepl {
    #[inline(always)]
    fn on_hit(&mut self, _set: usize, _way: usize) {}
    #[inline(always)]
    fn on_fill(&mut self, _set: usize, _way: usize) {}
    #[inline(always)]
    fn victim(&mut self, _set: usize) -> usize {
        // Multiply-shift maps 64 random bits onto [0, ways) with bias below 2^-58.
        ((self.rng.next_u64() as u128 * self.ways as u128) >> 64) as usize
    }
}

/// The built-in policies, chosen once when the structure is built.
pub enum Policy {
    Lru(Lru),
    Plru(TreePlru),
    Fifo(Fifo),
    Random(RandomRepl),
}

impl Policy {
    pub fn new(kind: Replacement, sets: usize, ways: usize, seed: u64) -> Policy {
        match kind {
            Replacement::Lru => Policy::Lru(Lru::new(sets, ways)),
            Replacement::Plru => Policy::Plru(TreePlru::new(sets, ways)),
            Replacement::Fifo => Policy::Fifo(Fifo(Lru::new(sets, ways))),
            Replacement::Random => Policy::Random(RandomRepl {
                ways: ways as u64,
                rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            }),
        }
    }
}

impl ReplacementPolicy for Policy {
    #[inline(always)]
    fn prefetch(&self, set: usize) {
        if let Policy::Lru(p) = self {
            p.prefetch(set);
        }
    }
    #[inline(always)]
    fn on_hit(&mut self, set: usize, way: usize) {
        match self {
            Policy::Lru(p) => p.on_hit(set, way),
            Policy::Plru(p) => p.on_hit(set, way),
            Policy::Fifo(p) => p.on_hit(set, way),
            Policy::Random(p) => p.on_hit(set, way),
        }
    }
    #[inline(always)]
    fn on_fill(&mut self, set: usize, way: usize) {
        match self {
            Policy::Lru(p) => p.on_fill(set, way),
            Policy::Plru(p) => p.on_fill(set, way),
            Policy::Fifo(p) => p.on_fill(set, way),
            Policy::Random(p) => p.on_fill(set, way),
        }
    }
    #[inline(always)]
    fn victim(&mut self, set: usize) -> usize {
        match self {
            Policy::Lru(p) => p.victim(set),
            Policy::Plru(p) => p.victim(set),
            Policy::Fifo(p) => p.victim(set),
            Policy::Random(p) => p.victim(set),
        }
    }
}

/// A `sets` x `ways` array of (key, value) with a replacement policy.
pub struct SetAssoc<P: ReplacementPolicy = Policy> {
    sets: usize,
    /// `sets - 1`, kept rather than computed: every lookup's caller asks for it.
    mask: u64,
    ways: usize,
    keys: Vec<u64>,
    vals: Vec<u64>,
    /// Valid ways in the whole array. Once every way is valid (a warm cache or TLB),
    /// no set has an empty way to look for, and a lookup-and-fill compares keys only.
    /// Not kept by ranked arrays (`ranked.rs`), which never look for an empty way.
    valid: usize,
    /// The (set, key) of the last lookup that missed, while no key of the array has
    /// changed since: the key is then known to be absent, and inserting it (what a TLB
    /// or walk cache does after the miss's walk) needs no second search of the set.
    absent: (usize, u64),
    /// LRU kept as the order of each set's ways (`ordered.rs`, sets of more than 16
    /// ways); `policy` is then unused.
    ordered: bool,
    /// LRU kept as ranks and fingerprints per set in `meta` (`ranked.rs`, sets of at
    /// most 16 ways); `policy` is then unused.
    ranked: bool,
    /// `ranked`: per set, each way's key fingerprint and recency rank.
    meta: Vec<ranked::Meta>,
    /// Bit `w` set for each way `w` of a set (the lanes of `meta` in use).
    way_mask: u32,
    /// `ways - 1`, the last rank, in every byte (ranked arrays; a fill's compare, one
    /// load).
    last: [u8; 16],
    policy: P,
}

impl SetAssoc<Policy> {
    /// `sets` must be a power of two (callers index with a mask); validated by config.
    /// LRU arrays keep ranks (`ranked.rs`, at most 16 ways) or their sets in recency
    /// order (`ordered.rs`), the others a policy.
    pub fn new(sets: usize, ways: usize, kind: Replacement, seed: u64) -> Self {
        if kind == Replacement::Lru {
            // The ranks or the order are the state: the policy keeps none (no sets).
            let mut a = SetAssoc::with_policy(sets, ways, Policy::new(kind, 0, ways, seed));
            if ways <= ranked::RANKED_WAYS {
                a.ranked = true;
                a.meta = vec![ranked::Meta::empty(); sets];
            } else {
                a.ordered = true;
            }
            return a;
        }
        SetAssoc::with_policy(sets, ways, Policy::new(kind, sets, ways, seed))
    }
}

impl<P: ReplacementPolicy> SetAssoc<P> {
    pub fn with_policy(sets: usize, ways: usize, policy: P) -> Self {
        // The ranked sets index their metadata by `x & (sets - 1)` unchecked, which is
        // below `sets` for every count but 0.
        assert!(sets > 0, "a set-associative array needs at least one set");
        SetAssoc {
            sets,
            mask: sets as u64 - 1,
            ways,
            keys: vec![INVALID; sets * ways],
            vals: vec![0; sets * ways],
            valid: 0,
            absent: (0, INVALID),
            ordered: false,
            ranked: false,
            meta: Vec::new(),
            way_mask: ((1u64 << ways.min(32)) - 1) as u32,
            last: [ways.wrapping_sub(1) as u8; 16],
            policy,
        }
    }

    pub fn sets(&self) -> usize {
        self.sets
    }
    pub fn ways(&self) -> usize {
        self.ways
    }
    /// Whether LRU is kept as ranks per set (`ranked.rs`: LRU, at most 16 ways): the
    /// array then serves [`SetAssoc::lookup_ranks`] and [`SetAssoc::insert_ranks`].
    pub fn is_ranked(&self) -> bool {
        self.ranked
    }

    /// Mask that turns a hash or page number into a set index.
    #[inline(always)]
    pub fn set_mask(&self) -> u64 {
        self.mask
    }

    /// Way holding `key`.
    #[inline(always)]
    fn find(&self, set: usize, key: u64) -> Option<usize> {
        let base = set * self.ways;
        find_in(&self.keys[base..base + self.ways], key)
    }

    /// One pass over a set: the way holding `key` and the first empty way (none looked
    /// for once every way of the array is valid).
    #[inline(always)]
    fn find_or_free(&self, set: usize, key: u64) -> (Option<usize>, Option<usize>) {
        let full = self.valid == self.keys.len();
        if full && self.absent == (set, key) {
            return (None, None);
        }
        if full {
            return (self.find(set, key), None);
        }
        let base = set * self.ways;
        let s = &self.keys[base..base + self.ways];
        if s.len() <= BRANCHLESS_WAYS {
            (
                lowest(ways_matching(s, key)),
                lowest(ways_matching(s, INVALID)),
            )
        } else {
            (
                s.iter().position(|&k| k == key),
                s.iter().position(|&k| k == INVALID),
            )
        }
    }

    /// Look `key` up in `set`; on a hit, update replacement state and return the value.
    #[inline(always)]
    pub fn lookup(&mut self, set: usize, key: u64) -> Option<u64> {
        if self.ranked {
            return self.lookup_ranked(set, key);
        }
        if self.ordered {
            return self.lookup_ordered(set, key);
        }
        let Some(way) = self.find(set, key) else {
            self.absent = (set, key);
            return None;
        };
        self.policy.on_hit(set, way);
        Some(self.vals[set * self.ways + way])
    }

    /// Look `key` up and, on a miss, install it at once: one pass over the set instead of
    /// a lookup and an insert. Returns whether it hit. What a cache level does on every
    /// read. The way's value is not written (0 unless `insert` set one there): arrays
    /// used as caches keep values nobody reads. Do not mix it with the calls that keep
    /// values on one array: an LRU array's values would not follow their keys.
    #[inline(always)]
    pub fn access(&mut self, set: usize, key: u64) -> bool {
        if self.ranked {
            return self.access_ranked(set, key);
        }
        if self.ordered {
            return self.access_ordered(set, key);
        }
        let (hit, free) = self.find_or_free(set, key);
        if let Some(w) = hit {
            self.policy.on_hit(set, w);
            return true;
        }
        let way = match free {
            Some(w) => {
                self.valid += 1;
                w
            }
            None => self.policy.victim(set),
        };
        // The value is left as it is: structures filled only through `access` (caches)
        // never write one, so theirs stay 0, and their value array is never touched.
        self.keys[set * self.ways + way] = key;
        self.absent.1 = INVALID;
        self.policy.on_fill(set, way);
        false
    }

    /// [`SetAssoc::access`] for a set whose ways carry a kind in their value (a cache
    /// level holding Victima's TLB blocks beside data and PTE lines): a hit refreshes
    /// recency and keeps the way's value; a miss fills `key` with `val`. A victim for
    /// which `spare(value)` gives a new value is spared: its value replaced, promoted as
    /// if just filled (the policy's insertion position, LRU's MRU), and the policy asked
    /// again, whose answer is evicted whatever it holds. Returns whether it hit and the
    /// valid entry evicted.
    #[inline]
    pub fn fill_skipping(
        &mut self,
        set: usize,
        key: u64,
        val: u64,
        spare: impl Fn(u64) -> Option<u64>,
    ) -> (bool, Option<(u64, u64)>) {
        if self.ranked {
            return self.fill_skipping_ranked(set, key, val, spare);
        }
        let base = set * self.ways;
        if self.ordered {
            return self.fill_skipping_ordered(base, key, val, spare);
        }
        let (hit, free) = self.find_or_free(set, key);
        if let Some(w) = hit {
            self.policy.on_hit(set, w);
            return (true, None);
        }
        let (way, evicted) = match free {
            Some(w) => {
                self.valid += 1;
                (w, None)
            }
            None => {
                let mut w = self.policy.victim(set);
                if let Some(v) = spare(self.vals[base + w]) {
                    self.vals[base + w] = v;
                    self.policy.on_fill(set, w);
                    w = self.policy.victim(set);
                }
                (w, Some((self.keys[base + w], self.vals[base + w])))
            }
        };
        self.keys[base + way] = key;
        self.absent.1 = INVALID;
        self.vals[base + way] = val;
        self.policy.on_fill(set, way);
        (false, evicted)
    }

    /// The valid keys for which `pred(key, value)` holds (end-of-run counts).
    pub fn count_where(&self, mut pred: impl FnMut(u64, u64) -> bool) -> usize {
        (self.keys.iter().zip(&self.vals))
            .filter(|&(&k, &v)| k != INVALID && pred(k, v))
            .count()
    }

    /// Look up without touching replacement state.
    #[inline(always)]
    pub fn probe(&self, set: usize, key: u64) -> Option<u64> {
        if self.ranked {
            return self.probe_ranked(set, key);
        }
        self.find(set, key).map(|w| self.vals[set * self.ways + w])
    }

    /// Insert (or refresh) `key`. Returns the valid entry it displaced, if any.
    #[inline(always)]
    pub fn insert(&mut self, set: usize, key: u64, val: u64) -> Option<(u64, u64)> {
        if self.ranked {
            return self.insert_ranked(set, key, val);
        }
        if self.ordered {
            return self.insert_ordered(set, key, val);
        }
        let base = set * self.ways;
        let (hit, free) = self.find_or_free(set, key);
        if let Some(w) = hit {
            self.vals[base + w] = val;
            self.policy.on_fill(set, w);
            return None;
        }
        let (way, evicted) = match free {
            Some(w) => {
                self.valid += 1;
                (w, None)
            }
            None => {
                let w = self.policy.victim(set);
                (w, Some((self.keys[base + w], self.vals[base + w])))
            }
        };
        self.keys[base + way] = key;
        self.absent.1 = INVALID;
        self.vals[base + way] = val;
        self.policy.on_fill(set, way);
        evicted
    }

    /// Hint that `set` will be probed soon: prefetch its keys and replacement state on
    /// the host. Changes nothing the simulation can see.
    #[inline(always)]
    pub fn prefetch(&self, set: usize) {
        if self.ranked {
            // The fingerprints and ranks, and the first line of keys (the key a search
            // reads is there in sets of up to 8 ways). The pointers are only hints: no
            // access, so no bounds check is needed to stay sound.
            let m = self.meta.as_ptr().wrapping_add(set);
            crate::pagetable::prefetch_host(m);
            crate::pagetable::prefetch_host(self.keys.as_ptr().wrapping_add(set * self.ways));
            return;
        }
        prefetch_slice(&self.keys[set * self.ways..(set + 1) * self.ways]);
        if !self.ordered {
            self.policy.prefetch(set);
        }
    }

    /// Remove `key` from `set`; true if it was there.
    pub fn invalidate(&mut self, set: usize, key: u64) -> bool {
        if self.ranked {
            return self.invalidate_ranked(set, key);
        }
        match self.find(set, key) {
            Some(w) if self.ordered => {
                // The later ways move up: the empty one goes last, behind the LRU.
                let base = set * self.ways;
                ordered::remove(&mut self.keys[base..base + self.ways], w, INVALID);
                ordered::remove(&mut self.vals[base..base + self.ways], w, 0);
                self.valid -= 1;
                true
            }
            Some(w) => {
                self.keys[set * self.ways + w] = INVALID;
                self.valid -= 1;
                true
            }
            None => false,
        }
    }

    /// Remove every entry for which `pred(key)` holds; returns how many.
    pub fn invalidate_where(&mut self, mut pred: impl FnMut(u64) -> bool) -> usize {
        if self.ranked {
            return self.invalidate_where_ranked(pred);
        }
        if self.ordered {
            let w = self.ways;
            let n: usize = (self.keys.chunks_mut(w))
                .zip(self.vals.chunks_mut(w))
                .map(|(k, v)| ordered::retain(k, v, &mut pred))
                .sum();
            self.valid -= n;
            return n;
        }
        let mut n = 0;
        for k in self.keys.iter_mut() {
            if *k != INVALID && pred(*k) {
                *k = INVALID;
                n += 1;
            }
        }
        self.valid -= n;
        n
    }

    /// Remove every entry.
    pub fn flush(&mut self) {
        self.keys.fill(INVALID);
        self.valid = 0;
    }

    /// The valid entries as (key, value), set by set; an LRU array's most recent first
    /// in each set.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..self.sets)
            .flat_map(move |set| {
                (0..self.ways).map(move |i| {
                    let w = match self.ranked {
                        true => self.way_of_rank(set, i),
                        false => i,
                    };
                    let at = set * self.ways + w;
                    (self.keys[at], self.vals[at])
                })
            })
            .filter(|&(k, _)| k != INVALID)
    }

    /// Number of valid entries (for tests and occupancy stats).
    pub fn occupancy(&self) -> usize {
        self.keys.iter().filter(|&&k| k != INVALID).count()
    }
}

#[cfg(test)]
mod tests;
