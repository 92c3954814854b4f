//! LRU sets kept in recency order: the layout of LRU arrays of more than 16 ways
//! (smaller ones keep ranks, `ranked.rs`).
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

use super::{find_in, ReplacementPolicy, SetAssoc, INVALID};

impl<P: ReplacementPolicy> SetAssoc<P> {
    /// [`SetAssoc::lookup`] of an LRU array in recency order.
    #[inline(always)]
    pub(super) fn lookup_ordered(&mut self, set: usize, key: u64) -> Option<u64> {
        let base = set * self.ways;
        let keys = &mut self.keys[base..base + self.ways];
        let Some(w) = find_in(keys, key) else {
            self.absent = (set, key);
            return None;
        };
        to_front(keys, w);
        let vals = &mut self.vals[base..base + self.ways];
        to_front(vals, w);
        Some(vals[0])
    }

    /// [`SetAssoc::access`] of an LRU array in recency order (values untouched: an
    /// array filled through `access` keeps none).
    #[inline(always)]
    pub(super) fn access_ordered(&mut self, set: usize, key: u64) -> bool {
        let base = set * self.ways;
        let keys = &mut self.keys[base..base + self.ways];
        if let Some(w) = find_in(keys, key) {
            to_front(keys, w);
            return true;
        }
        self.valid += (push_front(keys, key) == INVALID) as usize;
        self.absent.1 = INVALID;
        false
    }

    /// [`SetAssoc::insert`] of an LRU array in recency order.
    #[inline(always)]
    pub(super) fn insert_ordered(&mut self, set: usize, key: u64, val: u64) -> Option<(u64, u64)> {
        let base = set * self.ways;
        // A key the last lookup missed is known to be absent.
        let hit = match self.absent == (set, key) {
            true => None,
            false => find_in(&self.keys[base..base + self.ways], key),
        };
        let (keys, vals) = (
            &mut self.keys[base..base + self.ways],
            &mut self.vals[base..base + self.ways],
        );
        if let Some(w) = hit {
            to_front(keys, w);
            to_front(vals, w);
            vals[0] = val;
            return None;
        }
        let k = push_front(keys, key);
        let v = push_front(vals, val);
        self.absent.1 = INVALID;
        if k == INVALID {
            self.valid += 1;
            return None;
        }
        Some((k, v))
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
