//! The set-associative TLB organisation: `entries / ways` sets of `ways` ways, one page
//! translation per entry, the set chosen by the low bits of the page number.
//!
//! Owns one [`SetAssoc`] array (storage and replacement live there, shared with the walk
//! caches and data caches). In: page probes `(asid, vaddr, size)` and page entries. Out:
//! the frame on a hit, the displaced entry on an insert. Every lookup is one SRAM probe:
//! it never issues memory reads, and a repeated hit leaves every replacement policy's
//! state as it is (LRU: already the most recent; PLRU: bits already point away; FIFO and
//! random ignore hits), so the hierarchy may skip repeats.

use super::{tag, untag, Entry, MemReads, Organisation};
use crate::addr::{PageSize, PageSizeSet};
use crate::assoc::ranked::lanes::Lanes;
use crate::assoc::ranked::RankedView;
use crate::assoc::SetAssoc;
use crate::config::{TlbConfig, TlbOrganisation};

/// The set a page number falls in under bit selection: its low bits (`set_mask` is the
/// number of sets, a power of two, less one). The one function the structure and the
/// one-pass geometry sweep (`sweep/onepass.rs`, through [`set_of_key`]) both index with.
#[inline(always)]
fn set_index(vpn: u64, set_mask: u64) -> usize {
    (vpn & set_mask) as usize
}

/// The set of `sets` (a power of two) a page key ([`super::page_key`]) falls in: the
/// set a set-associative structure of `sets` sets stores and finds that entry in,
/// whatever the page's size (each size is indexed by its own page number).
#[inline(always)]
pub fn set_of_key(key: u64, sets: u64) -> usize {
    set_index(untag(key).0, sets - 1)
}

/// A set-associative TLB structure.
pub struct SetAssociative {
    array: SetAssoc,
    /// Page sizes it holds, so a range invalidation probes only those.
    sizes: PageSizeSet,
}

impl SetAssociative {
    /// The array of `sets` x `ways`, holding pages of `sizes` (whatever `cfg`'s
    /// organisation: the POM-TLB keeps its entries in one, `pom.rs`).
    pub(super) fn new(cfg: &TlbConfig, seed: u64) -> SetAssociative {
        SetAssociative {
            array: SetAssoc::new(
                (cfg.entries / cfg.ways) as usize,
                cfg.ways as usize,
                cfg.replacement,
                seed,
            ),
            sizes: PageSizeSet::of(&cfg.page_sizes),
        }
    }

    #[inline(always)]
    pub(super) fn set_of(&self, vpn: u64) -> usize {
        set_index(vpn, self.array.set_mask())
    }

    /// [`Organisation::lookup`] without the memory reads (an SRAM probe makes none).
    #[inline(always)]
    pub(super) fn lookup_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> Option<u64> {
        let vpn = vaddr >> size.shift();
        let set = self.set_of(vpn);
        self.array.lookup(set, tag(vpn, asid, size.index()))
    }

    /// Whether the array keeps LRU as ranks (`assoc/ranked.rs`): the shape the
    /// hierarchy's fast path (`plain.rs`) serves with [`SetAssociative::lookup_ranks`]
    /// and [`SetAssociative::insert_ranks`].
    pub(super) fn is_ranked(&self) -> bool {
        self.array.is_ranked()
    }

    /// [`SetAssociative::lookup_page`] of the page `vpn` (in units of its size) whose
    /// [`tag`] is `key`, of fingerprint `fp` (in every lane): the caller made the three
    /// once for every level.
    ///
    /// # Safety
    /// The array keeps ranks ([`SetAssociative::is_ranked`]).
    #[inline(always)]
    pub(super) unsafe fn lookup_ranks(&mut self, vpn: u64, key: u64, fp: Lanes) -> Option<u64> {
        // The set is `set_index(vpn, set_mask)`, taken inside. SAFETY: the caller's.
        unsafe { self.array.lookup_ranks(vpn, key, fp) }
    }

    /// The array as a [`RankedView`] (`fused.rs`), if it keeps ranks.
    pub(super) fn ranked_view(&mut self) -> Option<RankedView> {
        self.array.ranked_view()
    }

    /// [`Organisation::insert_evicts`] of the page as [`SetAssociative::lookup_ranks`].
    ///
    /// # Safety
    /// As [`SetAssociative::lookup_ranks`].
    #[inline(always)]
    pub(super) unsafe fn insert_ranks(&mut self, vpn: u64, key: u64, fp: u8, frame: u64) -> bool {
        // SAFETY: the caller's.
        unsafe { self.array.insert_ranks(vpn, key, fp, frame) }
    }

    /// The entry a stored (key, frame) pair stands for.
    #[inline(always)]
    fn entry(key: u64, frame: u64) -> Entry {
        let (vpn, asid, si) = untag(key);
        Entry {
            asid,
            size: PageSize::from_index(si),
            vpn,
            frame,
            pages: 1,
        }
    }
}

impl super::sealed::Sealed for SetAssociative {}

impl Organisation for SetAssociative {
    fn build(cfg: &TlbConfig, seed: u64) -> Option<SetAssociative> {
        match cfg.organisation {
            TlbOrganisation::SetAssociative => Some(SetAssociative::new(cfg, seed)),
            _ => None,
        }
    }

    #[inline(always)]
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        _reads: &mut MemReads,
    ) -> Option<u64> {
        self.lookup_page(asid, vaddr, size)
    }

    #[inline(always)]
    fn pages(&mut self) -> Option<&mut SetAssociative> {
        Some(self)
    }

    fn holds(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        let vpn = vaddr >> size.shift();
        (self.array)
            .probe(self.set_of(vpn), tag(vpn, asid, size.index()))
            .is_some()
    }

    /// Keeps the entry's first page: a set-associative entry maps one page.
    #[inline(always)]
    fn insert(&mut self, e: Entry) -> Option<Entry> {
        let set = self.set_of(e.vpn);
        (self
            .array
            .insert(set, tag(e.vpn, e.asid, e.size.index()), e.frame))
        .map(|(k, f)| Self::entry(k, f))
    }

    #[inline(always)]
    fn insert_evicts(&mut self, e: Entry) -> bool {
        let set = self.set_of(e.vpn);
        (self.array)
            .insert(set, tag(e.vpn, e.asid, e.size.index()), e.frame)
            .is_some()
    }

    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        let vpn = vaddr >> size.shift();
        let set = self.set_of(vpn);
        self.array.invalidate(set, tag(vpn, asid, size.index()))
    }

    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        if end <= start {
            return 0;
        }
        let last = end - 1;
        // Probing page by page costs one set search per page; scanning costs the whole
        // array. Both remove the same entries; take the cheaper.
        let probes: u64 = (PageSize::ALL.iter())
            .filter(|s| self.sizes.contains(**s))
            .map(|s| (last >> s.shift()) - (start >> s.shift()) + 1)
            .sum();
        if probes > (self.array.sets() * self.array.ways()) as u64 {
            return self.array.invalidate_where(|k| {
                let (vpn, a, si) = untag(k);
                let shift = PageSize::from_index(si).shift();
                a == asid && vpn >= start >> shift && vpn <= last >> shift
            });
        }
        let mut n = 0;
        for s in PageSize::ALL {
            if self.sizes.contains(s) {
                for vpn in start >> s.shift()..=last >> s.shift() {
                    let set = self.set_of(vpn);
                    n += self.array.invalidate(set, tag(vpn, asid, s.index())) as usize;
                }
            }
        }
        n
    }

    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize {
        // The stored key is the page key.
        self.array.invalidate_where(|k| {
            let hit = which(untag(k).1);
            if hit {
                removed(k);
            }
            hit
        })
    }

    fn flush(&mut self) {
        self.array.flush();
    }

    fn occupancy(&self) -> usize {
        self.array.occupancy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::VirtAddr;
    use crate::assoc::Replacement;
    use crate::config::{TlbFill, TlbKind};
    use crate::tlb::page_key;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// A fully-associative structure of `entries` holding 4K and 2M pages.
    fn fa(entries: u32) -> SetAssociative {
        let cfg = TlbConfig {
            name: "t".into(),
            level: 1,
            kind: TlbKind::Unified,
            entries,
            ways: entries,
            page_sizes: vec![PageSize::Size4K, PageSize::Size2M],
            latency: 1,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::SetAssociative,
            coalesce: None,
        };
        SetAssociative::build(&cfg, 0).unwrap()
    }

    fn page(asid: u16, vaddr: u64, size: PageSize) -> Entry {
        Entry {
            asid,
            size,
            vpn: vaddr >> size.shift(),
            frame: vaddr ^ 0x80_0000_0000,
            pages: 1,
        }
    }

    /// The hand-worked set: asid 1 has 4K pages at 0x1000..=0x5000 and 0x40_0000 and the
    /// 2M page at 0x20_0000; asid 2 has the 4K page at 0x3000.
    fn filled(entries: u32) -> (SetAssociative, Vec<Entry>) {
        let mut t = fa(entries);
        let mut all = Vec::new();
        for p in 1..=5 {
            all.push(page(1, p << 12, PageSize::Size4K));
        }
        all.push(page(1, 0x40_0000, PageSize::Size4K));
        all.push(page(1, 0x20_0000, PageSize::Size2M));
        all.push(page(2, 0x3000, PageSize::Size4K));
        for &e in &all {
            assert_eq!(t.insert(e), None);
        }
        (t, all)
    }

    /// Which of `all` the structure still holds (probing each by its own page).
    fn held(t: &mut SetAssociative, all: &[Entry]) -> Vec<bool> {
        (all.iter())
            .map(|e| {
                let va = e.vpn << e.size.shift();
                (t.lookup(e.asid, va, e.size, &mut MemReads::default())).is_some()
            })
            .collect()
    }

    #[test]
    fn invalidate_page_drops_only_that_page_of_that_space_and_size() {
        let (mut t, all) = filled(16);
        // 0x3000 of asid 1: not asid 2's 0x3000, not the neighbours.
        assert!(t.invalidate_page(1, 0x3abc, PageSize::Size4K));
        assert!(!t.invalidate_page(1, 0x3abc, PageSize::Size4K));
        // A 4K invalidation inside the 2M page does not take the 2M entry.
        assert!(!t.invalidate_page(1, 0x20_1000, PageSize::Size4K));
        let want = [true, true, false, true, true, true, true, true];
        assert_eq!(held(&mut t, &all), want);
        assert!(t.invalidate_page(1, 0x3f_ffff, PageSize::Size2M));
        assert_eq!(t.occupancy(), 6);
    }

    #[test]
    fn invalidate_range_drops_exactly_the_entries_it_overlaps() {
        // [0x2800, 0x4001): 4K pages 2, 3 (from its middle) and 4 (its first byte) of
        // asid 1; asid 2's page 3 stays; the 2M page starts at 0x20_0000. Probed page by
        // page (3 + 1 probes for 32 entries).
        let (mut t, all) = filled(32);
        assert_eq!(t.invalidate_range(1, 0x2800, 0x4001), 3);
        let want = [true, false, false, false, true, true, true, true];
        assert_eq!(held(&mut t, &all), want);
        // [0x5000, 0x40_1000): page 5, the 2M page inside, and the page at 0x40_0000;
        // 1020 4K probes beat 32 entries, so the array is scanned instead.
        let (mut t, all) = filled(32);
        assert_eq!(t.invalidate_range(1, 0x5000, 0x40_1000), 3);
        let want = [true, true, true, true, false, false, false, true];
        assert_eq!(held(&mut t, &all), want);
        // An empty range and one just past the last byte drop nothing.
        let (mut t, _) = filled(32);
        assert_eq!(t.invalidate_range(1, 0x6000, 0x6000), 0);
        assert_eq!(t.invalidate_range(1, 0x6000, 0x20_0000), 0);
        assert_eq!(t.invalidate_range(1, 0x40_1000, 0x60_0000), 0);
        assert_eq!(t.occupancy(), 8);
    }

    /// Page-by-page probing and the scan agree with a brute-force overlap test.
    #[test]
    fn invalidate_range_matches_brute_force_on_both_paths() {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(4);
        for round in 0..300 {
            let mut t = fa(64);
            let mut live: Vec<Entry> = Vec::new();
            for _ in 0..40 {
                let x = r.next_u64();
                let size = [PageSize::Size4K, PageSize::Size2M][(x & 1) as usize];
                let e = page(1 + (x >> 1) as u16 % 2, (x >> 8) % (8 << 20), size);
                if !live
                    .iter()
                    .any(|l| (l.asid, l.vpn, l.size) == (e.asid, e.vpn, e.size))
                {
                    live.push(e);
                }
                t.insert(e);
            }
            assert_eq!(t.occupancy(), live.len());
            let x = r.next_u64();
            // Short ranges take the probes, long ones the scan.
            let len = if round % 2 == 0 {
                x % 0x8000
            } else {
                x % (6 << 20)
            };
            let start = (x >> 24) % (8 << 20);
            let end = start + len;
            let gone = |e: &Entry| {
                let b = e.vpn << e.size.shift();
                e.asid == 1 && b < end && start < b + e.size.bytes()
            };
            let want = live.iter().filter(|e| gone(e)).count();
            assert_eq!(t.invalidate_range(1, start, end), want, "round {round}");
            let still = held(&mut t, &live);
            for (e, h) in live.iter().zip(still) {
                assert_eq!(
                    h,
                    !gone(e),
                    "round {round}: {e:?} in [{start:#x}, {end:#x})"
                );
            }
        }
    }

    #[test]
    fn invalidate_asid_drops_that_space_and_names_each_page() {
        let (mut t, all) = filled(16);
        let mut keys = Vec::new();
        assert_eq!(t.invalidate_spaces(&|a| a == 1, &mut |k| keys.push(k)), 7);
        keys.sort_unstable();
        let mut want: Vec<u64> = (all[..7].iter())
            .map(|e| page_key(1, VirtAddr(e.vpn << e.size.shift()), e.size))
            .collect();
        want.sort_unstable();
        assert_eq!(keys, want);
        let still = [false, false, false, false, false, false, false, true];
        assert_eq!(held(&mut t, &all), still);
        t.flush();
        assert_eq!(t.occupancy(), 0);
    }

    #[test]
    fn insert_returns_the_displaced_entry_whole() {
        let mut t = fa(2);
        let (a, b, c) = (
            page(1, 0x1000, PageSize::Size4K),
            page(3, 0x20_0000, PageSize::Size2M),
            page(1, 0x9000, PageSize::Size4K),
        );
        assert_eq!(t.insert(a), None);
        assert_eq!(t.insert(b), None);
        // LRU: `a` is the oldest.
        assert_eq!(t.insert(c), Some(a));
        assert_eq!(t.insert(page(2, 0x5000, PageSize::Size4K)), Some(b));
    }
}
