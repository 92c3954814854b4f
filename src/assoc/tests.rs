//! The replacement policies and the two set layouts against reference models.

use super::*;
use rand_core::Rng;

/// The array's count of valid ways is right, where it keeps one (not ranked arrays).
#[track_caller]
fn assert_valid(a: &SetAssoc, what: impl std::fmt::Display) {
    if !a.ranked {
        assert_eq!(a.valid, a.occupancy(), "{what}");
    }
}

fn stream(seed: u64, n: usize, range: u64) -> Vec<u64> {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
    (0..n).map(|_| r.next_u64() % range).collect()
}

/// Simulate an access stream; returns the hit/miss sequence.
fn run(a: &mut SetAssoc, keys: &[u64]) -> Vec<bool> {
    let mask = a.set_mask();
    keys.iter()
        .map(|&k| {
            let set = (k & mask) as usize;
            let hit = a.lookup(set, k).is_some();
            if !hit {
                a.insert(set, k, k * 2);
            }
            hit
        })
        .collect()
}

#[test]
fn plru_and_lru_agree_on_two_ways() {
    for seed in 0..20 {
        let keys = stream(seed, 5000, 40);
        let mut lru = SetAssoc::new(8, 2, Replacement::Lru, 0);
        let mut plru = SetAssoc::new(8, 2, Replacement::Plru, 0);
        assert_eq!(run(&mut lru, &keys), run(&mut plru, &keys), "seed {seed}");
    }
}

#[test]
fn plru_differs_from_lru_on_four_ways() {
    // Not an invariant but a guard that PLRU is not secretly LRU: on a long random
    // stream over a 4-way set the two must disagree somewhere.
    let keys = stream(7, 20000, 12);
    let mut lru = SetAssoc::new(1, 4, Replacement::Lru, 0);
    let mut plru = SetAssoc::new(1, 4, Replacement::Plru, 0);
    assert_ne!(run(&mut lru, &keys), run(&mut plru, &keys));
}

#[test]
fn plru_victim_is_never_the_most_recent_way() {
    let mut p = TreePlru::new(1, 8);
    let mut r = Xoshiro256PlusPlus::seed_from_u64(3);
    for _ in 0..10000 {
        let w = (r.next_u64() % 8) as usize;
        p.on_hit(0, w);
        assert_ne!(p.victim(0), w);
    }
}

/// Reference LRU for one fully-associative set: a vector, most recent last; the array
/// keeps the set in recency order, with fixed-size operations for 1, 2, 4, 8, 12 and 16
/// ways and slice operations for the others.
#[test]
fn lru_matches_a_reference_list() {
    for ways in [1, 3, 4, 5, 8, 12, 16, 17, 40, 70] {
        let keys = stream(ways as u64, 4000, 2 * ways as u64 + 3);
        let mut a = SetAssoc::new(1, ways, Replacement::Lru, 0);
        let got = run(&mut a, &keys);
        let mut list: Vec<u64> = Vec::new();
        for (i, &k) in keys.iter().enumerate() {
            let hit = if let Some(p) = list.iter().position(|&x| x == k) {
                list.remove(p);
                true
            } else {
                if list.len() == ways {
                    list.remove(0);
                }
                false
            };
            list.push(k);
            assert_eq!(got[i], hit, "ways {ways} ref {i}");
        }
    }
}

#[test]
fn fifo_matches_a_reference_queue() {
    for ways in [4, 12] {
        let keys = stream(11, 4000, 3 * ways as u64);
        let mut a = SetAssoc::new(1, ways, Replacement::Fifo, 0);
        let got = run(&mut a, &keys);
        let mut q: std::collections::VecDeque<u64> = Default::default();
        for (i, &k) in keys.iter().enumerate() {
            let hit = q.contains(&k);
            if !hit {
                if q.len() == ways {
                    q.pop_front();
                }
                q.push_back(k);
            }
            assert_eq!(got[i], hit, "ways {ways} ref {i}");
        }
    }
}

/// LRU with invalidations, through `access` (the cache path), against a reference list:
/// an invalidated key leaves the list, and the emptied way is filled before any valid
/// one is evicted.
#[test]
fn lru_access_with_invalidations_matches_a_reference_list() {
    // Every way count of the fixed-size compares (4, 8, 12, 16) and others; the
    // invalidations keep sets going from full to not full and back, which the
    // array's count of valid ways must follow.
    for ways in [1, 2, 3, 4, 7, 8, 9, 12, 16, 20, 65] {
        let mut a = SetAssoc::new(2, ways, Replacement::Lru, 0);
        let mut lists: [Vec<u64>; 2] = Default::default();
        let mut r = Xoshiro256PlusPlus::seed_from_u64(ways as u64);
        for i in 0..20000 {
            assert_valid(&a, format!("ways {ways} op {i}"));
            if i % 997 == 996 {
                let gone = a.invalidate_where(|k| k % 3 == 0);
                let before: usize = lists.iter().map(|l| l.len()).sum();
                lists.iter_mut().for_each(|l| l.retain(|k| k % 3 != 0));
                let after: usize = lists.iter().map(|l| l.len()).sum();
                assert_eq!(gone, before - after, "ways {ways} op {i}");
            }
            if i % 5003 == 5002 {
                a.flush();
                lists.iter_mut().for_each(|l| l.clear());
            }
            let x = r.next_u64();
            let k = (x >> 8) % (3 * ways as u64);
            let set = (k & 1) as usize;
            let list = &mut lists[set];
            let pos = list.iter().position(|&y| y == k);
            if x % 11 == 0 {
                assert_eq!(a.invalidate(set, k), pos.is_some(), "ways {ways} op {i}");
                if let Some(p) = pos {
                    list.remove(p);
                }
                continue;
            }
            assert_eq!(a.access(set, k), pos.is_some(), "ways {ways} op {i}");
            touch(list, pos, ways, k);
        }
    }
}

/// The TLB's pattern, a lookup that misses and later the insert of the same key,
/// with other keys filled or removed in between (which the remembered miss must
/// survive or forget correctly), against a reference LRU list per set.
#[test]
fn inserts_after_missed_lookups_match_a_reference_list() {
    for ways in [2, 4, 5, 12, 16, 33] {
        let mut a = SetAssoc::new(4, ways, Replacement::Lru, 0);
        let mut lists: [Vec<u64>; 4] = Default::default();
        let mut r = Xoshiro256PlusPlus::seed_from_u64(100 + ways as u64);
        // Reference: insert `k` (refresh if present); the evicted key, if any.
        let put = |list: &mut Vec<u64>, k: u64| -> Option<u64> {
            let out = match list.iter().position(|&y| y == k) {
                Some(p) => {
                    list.remove(p);
                    None
                }
                None if list.len() == ways => Some(list.remove(0)),
                None => None,
            };
            list.push(k);
            out
        };
        for i in 0..30000 {
            let x = r.next_u64();
            let k = (x >> 8) % (6 * ways as u64);
            let set = (k & 3) as usize;
            let pos = lists[set].iter().position(|&y| y == k);
            let got = a.lookup(set, k);
            assert_eq!(got.is_some(), pos.is_some(), "ways {ways} op {i}");
            if let Some(p) = pos {
                let y = lists[set].remove(p);
                lists[set].push(y);
                continue;
            }
            // Between the miss and its fill: another key of the same set filled or
            // removed, or the missed key itself filled (then refreshed), or nothing.
            let other = (k + 4 * (1 + (x >> 40) % 3)) % (6 * ways as u64);
            match x % 5 {
                0 => {
                    let ev = a.insert(set, other, other).map(|e| e.0);
                    assert_eq!(ev, put(&mut lists[set], other), "ways {ways} op {i}");
                }
                1 => {
                    let had = lists[set].iter().position(|&y| y == other);
                    assert_eq!(a.invalidate(set, other), had.is_some());
                    if let Some(p) = had {
                        lists[set].remove(p);
                    }
                }
                2 => {
                    assert_eq!(a.insert(set, k, k).map(|e| e.0), put(&mut lists[set], k));
                }
                _ => {}
            }
            let ev = a.insert(set, k, k).map(|e| e.0);
            assert_eq!(ev, put(&mut lists[set], k), "ways {ways} op {i}");
            assert_valid(&a, format!("ways {ways} op {i}"));
        }
    }
}

#[test]
fn random_is_reproducible_for_a_seed() {
    let keys = stream(5, 3000, 30);
    let mut a = SetAssoc::new(2, 4, Replacement::Random, 99);
    let mut b = SetAssoc::new(2, 4, Replacement::Random, 99);
    assert_eq!(run(&mut a, &keys), run(&mut b, &keys));
}

#[test]
fn insert_reports_evictions_and_invalidate_removes() {
    let mut a = SetAssoc::new(1, 2, Replacement::Lru, 0);
    assert_eq!(a.insert(0, 1, 10), None);
    assert_eq!(a.insert(0, 2, 20), None);
    assert_eq!(a.lookup(0, 1), Some(10));
    assert_eq!(a.insert(0, 3, 30), Some((2, 20)));
    assert!(a.invalidate(0, 1));
    assert!(!a.invalidate(0, 1));
    assert_eq!(a.occupancy(), 1);
    assert_eq!(a.invalidate_where(|k| k == 3), 1);
    assert_eq!(a.occupancy(), 0);
}

/// The recency-ordered layout of LRU arrays against LRU kept as per-way timestamps
/// ([`Lru`], built through `with_policy`): every operation, the hits,
/// the values, the evictions and the contents agree, through fills, refreshes,
/// invalidations, spared victims and flushes.
#[test]
fn ordered_lru_equals_lru_by_replacement_state() {
    for ways in [1, 2, 3, 4, 5, 8, 12, 16, 17, 40] {
        let sets = 4;
        let mut o = SetAssoc::new(sets, ways, Replacement::Lru, 0);
        let mut p = SetAssoc::with_policy(sets, ways, Policy::new(Replacement::Lru, sets, ways, 0));
        assert!((o.ordered || o.ranked) && !p.ordered && !p.ranked);
        let mut r = Xoshiro256PlusPlus::seed_from_u64(7 + ways as u64);
        for i in 0..40_000u64 {
            let x = r.next_u64();
            let k = (x >> 16) % (3 * (ways * sets) as u64);
            let set = (k % sets as u64) as usize;
            let v = x >> 40;
            let what = format!("ways {ways} op {i} ({})", x % 16);
            match x % 16 {
                0..=4 => assert_eq!(o.lookup(set, k), p.lookup(set, k), "{what}"),
                5..=8 => assert_eq!(o.insert(set, k, v), p.insert(set, k, v), "{what}"),
                9 => assert_eq!(o.invalidate(set, k), p.invalidate(set, k), "{what}"),
                10 => assert_eq!(o.probe(set, k), p.probe(set, k), "{what}"),
                11 | 12 => {
                    // Spare a victim whose value is even, once (its value made odd).
                    let spare = |val: u64| (val % 2 == 0).then_some(val | 1);
                    assert_eq!(
                        o.fill_skipping(set, k, v, spare),
                        p.fill_skipping(set, k, v, spare),
                        "{what}"
                    );
                }
                13 if i % 50 == 0 => {
                    let m = x >> 50;
                    let gone = |key: u64| key % 7 == m % 7;
                    assert_eq!(o.invalidate_where(gone), p.invalidate_where(gone), "{what}");
                }
                _ => {}
            }
            if i % 3000 == 2999 {
                o.flush();
                p.flush();
            }
            assert_valid(&o, &what);
        }
        let mut a: Vec<_> = o.iter().collect();
        let mut b: Vec<_> = p.iter().collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b, "ways {ways}: contents");
    }
}

/// The four-at-a-time compare against comparing way by way: keys that differ from the
/// one sought in only their low or only their high 32 bits, INVALID, and the key at
/// every way, for every way count it serves.
#[test]
fn the_vector_compare_matches_way_by_way() {
    fn check<const N: usize>(r: &mut Xoshiro256PlusPlus) {
        for _ in 0..2000 {
            let key = r.next_u64() >> (r.next_u64() % 64);
            let near = [
                key ^ 1,
                key ^ (1 << 32),
                key ^ (1 << 63),
                INVALID,
                key.rotate_left(32),
                key,
                r.next_u64(),
            ];
            let s: [u64; N] = std::array::from_fn(|_| near[(r.next_u64() % 7) as usize]);
            let want =
                (s.iter().enumerate()).fold(0u64, |m, (w, &k)| m | (((k == key) as u64) << w));
            assert_eq!(matching::<N>(&s, key), want, "{s:x?} {key:x}");
        }
    }
    let mut r = Xoshiro256PlusPlus::seed_from_u64(21);
    check::<4>(&mut r);
    check::<8>(&mut r);
    check::<12>(&mut r);
    check::<16>(&mut r);
    check::<32>(&mut r);
}

/// `fingerprint_lanes` (the byte spread by shuffles) against `fingerprint` and
/// `lanes_of` (spread by a multiply), compared lane by lane through `eq_lanes`: on
/// random keys and on hashes whose top byte is each of the 256 values (a shuffle
/// reading the wrong byte of the hash would disagree on most).
#[test]
fn fingerprint_lanes_agree_with_fingerprint_and_lanes_of() {
    let mut r = Xoshiro256PlusPlus::seed_from_u64(21);
    // The multiplier is odd, so its inverse mod 2^64 turns a wanted hash into a key.
    let inv = (0..6).fold(1u64, |x: u64, _| {
        x.wrapping_mul(2u64.wrapping_sub(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(x)))
    });
    assert_eq!(inv.wrapping_mul(0x9e37_79b9_7f4a_7c15), 1);
    let keys = (0..256u64).map(|b| (b << 56 | 0x00a5_5a00_ff01_7e80).wrapping_mul(inv));
    for key in keys.chain((0..10_000).map(|_| r.next_u64())) {
        let (fp, lanes) = ranked::fingerprint_lanes(key);
        assert_eq!(fp, ranked::fingerprint(key), "key {key:#x}");
        let want = ranked::lanes::lanes_of(fp);
        // Every lane of `lanes` holds `fp`, and a lane of another byte matches neither.
        for probe in [[fp; 16], std::array::from_fn(|i| fp ^ (1 << (i % 8)))] {
            assert_eq!(
                ranked::lanes::eq_lanes(&probe, lanes),
                ranked::lanes::eq_lanes(&probe, want),
                "key {key:#x}"
            );
        }
        assert_eq!(ranked::lanes::eq_lanes(&[fp; 16], lanes), 0xffff);
    }
}

/// The ranked layout (LRU sets of at most 16 ways) against the recency-ordered one
/// and a reference list per set, on keys that mostly share their fingerprint (so the
/// search must check every candidate way, not just the first): every operation's
/// answer agrees, and so does the order of `iter` (most recent first in each set),
/// which a wrong rank update would break even where hits and misses agreed.
#[test]
fn ranked_lru_equals_ordered_lru_and_a_reference_list() {
    // Keys of two fingerprints only.
    let pool: Vec<u64> = (1..200_000u64)
        .filter(|&k| ranked::fingerprint(k) < 2)
        .take(160)
        .collect();
    assert_eq!(pool.len(), 160);
    // `cache`: filled through `access` (the data caches), whose values are not kept;
    // otherwise through `insert` (TLBs, walk caches), values compared too.
    for (ways, cache) in [1, 2, 3, 4, 5, 7, 8, 12, 15, 16]
        .iter()
        .flat_map(|&w| [(w, false), (w, true)])
    {
        let sets = 2;
        let mut a = SetAssoc::new(sets, ways, Replacement::Lru, 0);
        let mut o = SetAssoc::with_policy(sets, ways, Policy::new(Replacement::Lru, 0, ways, 0));
        o.ordered = true;
        assert!(a.ranked);
        let mut lists: Vec<Vec<u64>> = vec![Vec::new(); sets];
        let n = (3 * ways * sets).min(pool.len());
        let mut r = Xoshiro256PlusPlus::seed_from_u64(40 + ways as u64);
        for i in 0..30_000u64 {
            let x = r.next_u64();
            let k = pool[(x >> 20) as usize % n];
            let set = (k % sets as u64) as usize;
            let v = x >> 44;
            let what = format!("ways {ways} cache {cache} op {i} ({})", x % 8);
            let list = &mut lists[set];
            let pos = list.iter().position(|&y| y == k);
            match x % 8 {
                0 | 1 => {
                    let (got, want) = (a.lookup(set, k), o.lookup(set, k));
                    assert_eq!(got.is_some(), want.is_some(), "{what}");
                    assert!(cache || got == want, "{what}");
                    assert_eq!(got.is_some(), pos.is_some(), "{what}");
                    if let Some(p) = pos {
                        let y = list.remove(p);
                        list.push(y);
                    }
                }
                2 | 3 if !cache => {
                    let got = a.insert(set, k, v);
                    assert_eq!(got, o.insert(set, k, v), "{what}");
                    let want = match pos {
                        Some(p) => {
                            list.remove(p);
                            None
                        }
                        None if list.len() == ways => Some(list.remove(0)),
                        None => None,
                    };
                    assert_eq!(got.map(|e| e.0), want, "{what}");
                    list.push(k);
                }
                2..=4 if cache => {
                    assert_eq!(a.access(set, k), o.access(set, k), "{what}");
                    touch(list, pos, ways, k);
                }
                5 => {
                    let gone = a.invalidate(set, k);
                    assert_eq!(gone, o.invalidate(set, k), "{what}");
                    assert_eq!(gone, pos.is_some(), "{what}");
                    if let Some(p) = pos {
                        list.remove(p);
                    }
                }
                6 => {
                    let (got, want) = (a.probe(set, k), o.probe(set, k));
                    assert_eq!(got.is_some(), want.is_some(), "{what}");
                    assert!(cache || got == want, "{what}");
                }
                _ if i % 40 == 7 => {
                    let m = x >> 50;
                    let gone = |key: u64| key % 5 == m % 5;
                    let mut seen_a = Vec::new();
                    let mut seen_o = Vec::new();
                    let na = a.invalidate_where(|key| {
                        seen_a.push(key);
                        gone(key)
                    });
                    let no = o.invalidate_where(|key| {
                        seen_o.push(key);
                        gone(key)
                    });
                    assert_eq!((na, &seen_a), (no, &seen_o), "{what}");
                    lists.iter_mut().for_each(|l| l.retain(|&key| !gone(key)));
                }
                _ if !cache => {
                    // Spare a victim whose value is even, once; the reference lists
                    // then follow the ordered layout (values are not in them).
                    let spare = |val: u64| (val % 2 == 0).then_some(val | 1);
                    let got = a.fill_skipping(set, k, v, spare);
                    assert_eq!(got, o.fill_skipping(set, k, v, spare), "{what}");
                    for (s, l) in lists.iter_mut().enumerate() {
                        *l = (o.iter().map(|e| e.0))
                            .filter(|&key| (key % sets as u64) as usize == s)
                            .collect();
                        l.reverse();
                    }
                }
                _ => {}
            }
            assert_valid(&a, &what);
            let (ia, io): (Vec<_>, Vec<_>) = (a.iter().collect(), o.iter().collect());
            let keys: Vec<u64> = ia.iter().map(|e| e.0).collect();
            match cache {
                true => assert_eq!(keys, io.iter().map(|e| e.0).collect::<Vec<_>>(), "{what}"),
                false => assert_eq!(ia, io, "{what}: contents in recency order"),
            }
            let want: Vec<u64> = (lists.iter())
                .flat_map(|l| l.iter().rev().copied())
                .collect();
            assert_eq!(keys, want, "{what}: the reference lists");
        }
    }
}

/// The reference LRU list of a set after an access to `k` (at `pos` in it, if there):
/// `k` becomes the most recent (last), the least recent (first) leaving a full set.
fn touch(list: &mut Vec<u64>, pos: Option<usize>, ways: usize, k: u64) {
    match pos {
        Some(p) => {
            list.remove(p);
        }
        None if list.len() == ways => {
            list.remove(0);
        }
        None => {}
    }
    list.push(k);
}
