//! LRU sets kept in recency order: the layout of every LRU array.
//!
//! A set's ways hold their keys most recent first, empty ways (`INVALID`) last. LRU
//! then needs no replacement state: a hit moves its way to the front, a fill pushes
//! every way back by one and writes the front, and the victim is always the last way
//! (an empty one while the set has one). Against replacement state kept per way (stamps,
//! ranks) this saves the policy's reads and writes, in another host cache line, on every
//! access: a set of eight ways is one host line and nothing else.
//!
//! It is the same LRU: the valid keys of a set, in recency order, and so every hit,
//! miss and eviction, are those of LRU kept as per-way timestamps ([`super::Lru`]; the
//! tests drive both layouts, and reference lists). Only the way a key sits in differs,
//! which nothing outside the array sees but the order of [`super::SetAssoc::iter`]
//! within a set.
//!
//! In: one set's keys (and values, for arrays that keep them) as slices. Out: the
//! slices reordered; the evicted entry where a fill displaces one.

use super::{find_in, lowest, matching, ReplacementPolicy, SetAssoc, INVALID};

/// `self.$f::<N>(args)` with `N` the array's way count when it is a common one (1, 2, 4,
/// 8, 12 or 16: the compiler then unrolls the compares and moves the ways with a few
/// vector moves instead of a `memmove` call), and `N = 0` (any count) otherwise.
macro_rules! by_ways {
    ($self:ident, $f:ident($($arg:expr),*)) => {
        match $self.ways {
            1 => $self.$f::<1>($($arg),*),
            2 => $self.$f::<2>($($arg),*),
            4 => $self.$f::<4>($($arg),*),
            8 => $self.$f::<8>($($arg),*),
            12 => $self.$f::<12>($($arg),*),
            16 => $self.$f::<16>($($arg),*),
            _ => $self.$f::<0>($($arg),*),
        }
    };
}

impl<P: ReplacementPolicy> SetAssoc<P> {
    /// [`SetAssoc::lookup`] of an LRU array.
    #[inline(always)]
    pub(super) fn lookup_ordered(&mut self, set: usize, key: u64) -> Option<u64> {
        by_ways!(self, lookup_n(set, key))
    }

    /// [`SetAssoc::access`] of an LRU array.
    #[inline(always)]
    pub(super) fn access_ordered(&mut self, set: usize, key: u64) -> bool {
        by_ways!(self, access_n(set, key))
    }

    /// [`SetAssoc::insert`] of an LRU array.
    #[inline(always)]
    pub(super) fn insert_ordered(&mut self, set: usize, key: u64, val: u64) -> Option<(u64, u64)> {
        by_ways!(self, insert_n(set, key, val))
    }

    /// [`SetAssoc::fill_skipping`] of the set at `base` kept in recency order: the
    /// victim is the last way; a spared one moves to the front, and the new last goes.
    pub(super) fn fill_skipping_ordered(
        &mut self,
        base: usize,
        key: u64,
        val: u64,
        spare: impl Fn(u64) -> Option<u64>,
    ) -> (bool, Option<(u64, u64)>) {
        let (keys, vals) = (
            &mut self.keys[base..base + self.ways],
            &mut self.vals[base..base + self.ways],
        );
        if let Some(w) = find_in(keys, key) {
            to_front(keys, w);
            to_front(vals, w);
            return (true, None);
        }
        let last = self.ways - 1;
        if keys[last] != INVALID {
            if let Some(v) = spare(vals[last]) {
                vals[last] = v;
                to_front(keys, last);
                to_front(vals, last);
            }
        }
        let k = push_front(keys, key);
        let v = push_front(vals, val);
        self.absent.1 = INVALID;
        if k == INVALID {
            self.valid += 1;
            return (false, None);
        }
        (false, Some((k, v)))
    }

    /// The way count, as the constant `N` where there is one: slices of a set then have
    /// a length the compiler knows, and their fixed-size views need no check.
    #[inline(always)]
    fn ways_n<const N: usize>(&self) -> usize {
        if N == 0 {
            self.ways
        } else {
            N
        }
    }

    #[inline(always)]
    fn lookup_n<const N: usize>(&mut self, set: usize, key: u64) -> Option<u64> {
        let ways = self.ways_n::<N>();
        let base = set * ways;
        let keys = &mut self.keys[base..base + ways];
        let Some(w) = find_n::<N>(keys, key) else {
            self.absent = (set, key);
            return None;
        };
        to_front_n::<N>(keys, w);
        let vals = &mut self.vals[base..base + ways];
        to_front_n::<N>(vals, w);
        Some(vals[0])
    }

    #[inline(always)]
    fn access_n<const N: usize>(&mut self, set: usize, key: u64) -> bool {
        // Values untouched: an array filled through `access` keeps none.
        let ways = self.ways_n::<N>();
        let base = set * ways;
        let keys = &mut self.keys[base..base + ways];
        if let Some(w) = find_n::<N>(keys, key) {
            to_front_n::<N>(keys, w);
            return true;
        }
        self.valid += (push_front_n::<N>(keys, key) == INVALID) as usize;
        self.absent.1 = INVALID;
        false
    }

    #[inline(always)]
    fn insert_n<const N: usize>(&mut self, set: usize, key: u64, val: u64) -> Option<(u64, u64)> {
        let ways = self.ways_n::<N>();
        let base = set * ways;
        // A key the last lookup missed is known to be absent.
        let hit = match self.absent == (set, key) {
            true => None,
            false => find_n::<N>(&self.keys[base..base + ways], key),
        };
        let (keys, vals) = (
            &mut self.keys[base..base + ways],
            &mut self.vals[base..base + ways],
        );
        if let Some(w) = hit {
            to_front_n::<N>(keys, w);
            to_front_n::<N>(vals, w);
            vals[0] = val;
            return None;
        }
        let k = push_front_n::<N>(keys, key);
        let v = push_front_n::<N>(vals, val);
        self.absent.1 = INVALID;
        if k == INVALID {
            self.valid += 1;
            return None;
        }
        Some((k, v))
    }
}

/// The way of `s` holding `key`; `N` ways, or any number if `N` is 0.
#[inline(always)]
fn find_n<const N: usize>(s: &[u64], key: u64) -> Option<usize> {
    if N == 0 {
        return find_in(s, key);
    }
    lowest(matching::<N>(s, key))
}

/// [`to_front`] of `N` ways (any number if `N` is 0): every way a select, no loop.
#[inline(always)]
fn to_front_n<const N: usize>(s: &mut [u64], p: usize) {
    if N == 0 {
        return to_front(s, p);
    }
    // Hits on the most recent way are common (a line or page used again at once) and
    // need no move.
    if p == 0 {
        return;
    }
    let s: &mut [u64; N] = s.try_into().expect("a set of N ways");
    let old = *s;
    for i in 1..N {
        s[i] = if i <= p { old[i - 1] } else { old[i] };
    }
    s[0] = old[p];
}

/// [`push_front`] of `N` ways (any number if `N` is 0).
#[inline(always)]
fn push_front_n<const N: usize>(s: &mut [u64], x: u64) -> u64 {
    if N == 0 {
        return push_front(s, x);
    }
    let s: &mut [u64; N] = s.try_into().expect("a set of N ways");
    let old = *s;
    s[1..].copy_from_slice(&old[..N - 1]);
    s[0] = x;
    old[N - 1]
}

/// Way `p` becomes the first; ways `0..p` move back by one.
#[inline(always)]
pub(super) fn to_front(s: &mut [u64], p: usize) {
    if p > 0 {
        let x = s[p];
        s.copy_within(0..p, 1);
        s[0] = x;
    }
}

/// `x` becomes the first way; every other way moves back by one and the last falls
/// out (returned).
#[inline(always)]
pub(super) fn push_front(s: &mut [u64], x: u64) -> u64 {
    let n = s.len();
    let last = s[n - 1];
    s.copy_within(0..n - 1, 1);
    s[0] = x;
    last
}

/// Way `p` leaves; the ways after it move forward by one and the last becomes `empty`.
#[inline(always)]
pub(super) fn remove(s: &mut [u64], p: usize, empty: u64) {
    let n = s.len();
    s.copy_within(p + 1..n, p);
    s[n - 1] = empty;
}

/// Removes the valid keys for which `gone(key)` holds from one set, keeping the order
/// of the others (and their values); returns how many left.
pub(super) fn retain(
    keys: &mut [u64],
    vals: &mut [u64],
    mut gone: impl FnMut(u64) -> bool,
) -> usize {
    let (mut kept, mut removed) = (0, 0);
    for i in 0..keys.len() {
        let k = keys[i];
        if k == INVALID {
            continue;
        }
        if gone(k) {
            removed += 1;
        } else {
            keys[kept] = k;
            vals[kept] = vals[i];
            kept += 1;
        }
    }
    keys[kept..].fill(INVALID);
    removed
}
