//! LRU sets kept in recency order: the layout of every LRU array.
//!
//! A set's ways hold their keys most recent first, empty ways (`INVALID`) last. LRU
//! then needs no replacement state: a hit moves its way to the front, a fill pushes
//! every way back by one and writes the front, and the victim is always the last way
//! (an empty one while the set has one). Against per-way stamps or packed ranks this
//! saves the policy's reads and writes, in another host cache line, on every access:
//! a set of eight ways is one host line and nothing else.
//!
//! It is the same LRU: the valid keys of a set, in recency order, and so every hit,
//! miss and eviction, are those of [`super::Lru`] and [`super::RankLru`] (the tests
//! drive both layouts against a reference list). Only the way a key sits in differs,
//! which nothing outside the array sees but the order of [`super::SetAssoc::iter`]
//! within a set.
//!
//! In: one set's keys (and values, for arrays that keep them) as slices. Out: the
//! slices reordered; the evicted entry where a fill displaces one.

use super::INVALID;

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
