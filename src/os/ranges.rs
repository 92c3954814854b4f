//! Sets of virtual-address ranges with a value each: what `madvise`, `mmap` and
//! `mprotect` say about parts of an address space.
//!
//! Owns the interval bookkeeping only. In: ranges [start, end) set to a value or
//! removed. Out: the value at an address, and whether a range lies inside one stretch
//! of equal value. Ranges never overlap; touching ranges of equal value merge, so a
//! stretch of one value is always one entry (containment is one lookup).

use std::collections::BTreeMap;

/// Disjoint ranges, start -> (end, value).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeMap<V: Copy + Eq> {
    map: BTreeMap<u64, (u64, V)>,
}

impl<V: Copy + Eq> RangeMap<V> {
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of stretches (for tests).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Removes [start, end) from every range (cutting those that overlap it).
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        // Ranges that may overlap: the last starting before `start`, and all starting
        // inside [start, end).
        let mut hit: Vec<u64> = self.map.range(start..end).map(|(&s, _)| s).collect();
        if let Some((&s, &(e, _))) = self.map.range(..start).next_back() {
            if e > start {
                hit.push(s);
            }
        }
        for s in hit {
            let (e, v) = self.map.remove(&s).expect("listed above");
            if s < start {
                self.map.insert(s, (start, v));
            }
            if e > end {
                self.map.insert(end, (e, v));
            }
        }
    }

    /// Sets [start, end) to `v`, replacing what was there, merging with touching
    /// stretches of the same value.
    pub fn insert(&mut self, start: u64, end: u64, v: V) {
        if start >= end {
            return;
        }
        self.remove(start, end);
        let (mut s, mut e) = (start, end);
        if let Some((&ps, &(pe, pv))) = self.map.range(..s).next_back() {
            if pe == s && pv == v {
                self.map.remove(&ps);
                s = ps;
            }
        }
        if let Some(&(ne, nv)) = self.map.get(&e) {
            if nv == v {
                self.map.remove(&e);
                e = ne;
            }
        }
        self.map.insert(s, (e, v));
    }

    /// The value at `addr`, if a range holds it.
    pub fn get(&self, addr: u64) -> Option<V> {
        self.map
            .range(..=addr)
            .next_back()
            .filter(|(_, &(e, _))| e > addr)
            .map(|(_, &(_, v))| v)
    }

    /// The value of the stretch that holds all of [start, end), if one does.
    pub fn covering(&self, start: u64, end: u64) -> Option<V> {
        self.map
            .range(..=start)
            .next_back()
            .filter(|(_, &(e, _))| e >= end)
            .map(|(_, &(_, v))| v)
    }

    /// Every stretch as (start, end, value), in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u64, V)> + '_ {
        self.map.iter().map(|(&s, &(e, v))| (s, e, v))
    }
}

#[cfg(test)]
mod tests {
    use super::RangeMap;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// Random inserts and removes over 64 addresses agree with a value per address,
    /// and equal touching stretches are always merged.
    #[test]
    fn agrees_with_a_value_per_address() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        for _ in 0..200 {
            let mut m: RangeMap<u8> = RangeMap::default();
            let mut flat = [None::<u8>; 64];
            for _ in 0..30 {
                let a = rng.next_u64() % 65;
                let b = rng.next_u64() % 65;
                let (s, e) = (a.min(b), a.max(b));
                if rng.next_u64() % 3 == 0 {
                    m.remove(s, e);
                    flat[s as usize..e as usize].fill(None);
                } else {
                    let v = (rng.next_u64() % 3) as u8;
                    m.insert(s, e, v);
                    flat[s as usize..e as usize].fill(Some(v));
                }
                for (x, &f) in flat.iter().enumerate() {
                    assert_eq!(m.get(x as u64), f, "address {x}");
                }
                // One stretch per maximal run of equal values.
                let runs = (0..64)
                    .filter(|&x| flat[x].is_some() && (x == 0 || flat[x - 1] != flat[x]))
                    .count();
                assert_eq!(m.len(), runs);
                for s in 0..64u64 {
                    for e in s + 1..=64 {
                        let all = flat[s as usize..e as usize]
                            .iter()
                            .all(|&v| v.is_some() && v == flat[s as usize]);
                        let want = if all { flat[s as usize] } else { None };
                        assert_eq!(m.covering(s, e), want, "[{s}, {e})");
                    }
                }
            }
        }
    }
}
