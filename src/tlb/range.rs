//! The range TLB organisation (Redundant Memory Mappings: Karakostas, Gandhi, Ayar,
//! Cristal, Hill, McKinley, Nemirovsky, Swift and Ünsal, ISCA 2015): fully associative
//! entries that each translate a range, any number of contiguous 4 KiB pages mapped to
//! contiguous frames (BASE, LIMIT, OFFSET).
//!
//! Owns the entries and their LRU order. In: page probes `(asid, vaddr, 4K)`, ranges to
//! install (the range walker's result, handed over by the hierarchy as its range run:
//! [`super::Tlbs::set_range`]), invalidations. Out: the frame of the probed page on a
//! hit (base frame + the page's distance from BASE: the paper's VA + OFFSET, one adder
//! and two comparators per entry), the entry an insert displaced.
//!
//! The hierarchy fills this structure only with ranges (never with the walked page
//! alone: [`Organisation::holds_ranges`]), and a hit fills the levels above it with the
//! 4K page entry, as the paper's range TLB "creates a 4 KB TLB entry" on a hit.
//! Invalidating any page of a range drops the whole entry (the range walker refills it
//! from the table, which the OS has trimmed). The paper's MRU pointer (checked first to
//! save energy) changes no result and is not modelled. Replacement is true LRU over the
//! entries (Virtuoso's RLB evicts at random but never the MRU entry, `rangelb.cc`; LRU
//! is the deterministic choice here).

use super::{tag, Entry, MemReads, Organisation, Tlbs};
use crate::addr::PageSize;
use crate::config::{TlbConfig, TlbOrganisation};

/// A fully associative range TLB.
pub struct RangeTlb {
    /// Valid entries, most recently used last (at most `cap`).
    entries: Vec<Entry>,
    cap: usize,
}

impl RangeTlb {
    /// The index of the entry of `asid` covering page `vpn` (4K units).
    #[inline(always)]
    fn find(&self, asid: u16, vpn: u64) -> Option<usize> {
        (self.entries.iter()).position(|e| e.asid == asid && vpn.wrapping_sub(e.vpn) < e.pages)
    }

    /// Remove the entries `drop` accepts, calling `removed` for each; how many went.
    fn remove_where(
        &mut self,
        drop: impl Fn(&Entry) -> bool,
        removed: &mut impl FnMut(&Entry),
    ) -> usize {
        let before = self.entries.len();
        self.entries.retain(|e| {
            let d = drop(e);
            if d {
                removed(e);
            }
            !d
        });
        before - self.entries.len()
    }
}

impl super::sealed::Sealed for RangeTlb {}

impl Organisation for RangeTlb {
    fn build(cfg: &TlbConfig, _seed: u64) -> Option<RangeTlb> {
        if cfg.organisation != TlbOrganisation::Range {
            return None;
        }
        Some(RangeTlb {
            entries: Vec::with_capacity(cfg.entries as usize),
            cap: cfg.entries as usize,
        })
    }

    #[inline(always)]
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        _reads: &mut MemReads,
    ) -> Option<u64> {
        if size != PageSize::Size4K {
            return None;
        }
        let vpn = vaddr >> 12;
        let i = self.find(asid, vpn)?;
        let e = self.entries[i];
        // Most recently used last: a rotate within the small array, no allocation.
        self.entries[i..].rotate_left(1);
        Some(e.frame + ((vpn - e.vpn) << 12))
    }

    /// A hit moves its entry in the LRU order.
    fn repeats_hit_silently(&self) -> bool {
        false
    }

    fn holds_ranges(&self) -> bool {
        true
    }

    fn insert(&mut self, e: Entry) -> Option<Entry> {
        debug_assert_eq!(e.size, PageSize::Size4K);
        // The range (or any stale overlap of it) leaves first: one entry per page.
        let end = e.vpn + e.pages;
        self.entries
            .retain(|x| x.asid != e.asid || x.vpn >= end || x.vpn + x.pages <= e.vpn);
        let evicted = (self.entries.len() >= self.cap).then(|| self.entries.remove(0));
        self.entries.push(e);
        evicted
    }

    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        let (first, n) = (
            vaddr >> 12 & !((size.bytes() >> 12) - 1),
            size.bytes() >> 12,
        );
        self.remove_where(
            |e| e.asid == asid && e.vpn < first + n && first < e.vpn + e.pages,
            &mut |_| {},
        ) > 0
    }

    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        self.remove_where(
            |e| e.asid == asid && (e.vpn << 12) < end && start < (e.vpn + e.pages) << 12,
            &mut |_| {},
        )
    }

    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize {
        self.remove_where(|e| which(e.asid), &mut |e| removed(tag(e.vpn, e.asid, 0)))
    }

    fn flush(&mut self) {
        self.entries.clear();
    }

    fn occupancy(&self) -> usize {
        self.entries.len()
    }
}

/// The hierarchy's side of range structures (kept here with the organisation).
impl<O: Organisation> Tlbs<O> {
    /// Hits of the structures that hold ranges (RMM's range TLB).
    pub fn range_hits(&self) -> u64 {
        (self.structs.iter().filter(|s| s.ranged))
            .map(|s| s.stats.hits)
            .sum()
    }

    /// Whether some structure holds ranges: the miss path then walks the range table
    /// after each page walk and hands the range it finds to [`Tlbs::set_range`].
    #[inline(always)]
    pub fn has_ranges(&self) -> bool {
        self.ranges
    }

    /// The range (pages of 4K from `vpn`, frames from `frame`) around the page just
    /// walked: the range structures take it at the next [`Tlbs::complete`] (the same
    /// access's); without one they take nothing. Independent of [`Tlbs::set_run`], so a
    /// coalescing TLB and a range TLB coexist.
    pub fn set_range(&mut self, range: Entry) {
        self.range = Some(range);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{TlbConfig, TlbFill, TlbKind};
    use crate::tlb::DATA;

    fn rtlb(n: u32) -> RangeTlb {
        let cfg = TlbConfig {
            name: "r".into(),
            level: 2,
            kind: TlbKind::Unified,
            entries: n,
            ways: n,
            page_sizes: vec![PageSize::Size4K],
            latency: 0,
            replacement: Default::default(),
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::Range,
            coalesce: None,
        };
        RangeTlb::build(&cfg, 0).unwrap()
    }

    fn range(asid: u16, vpn: u64, pages: u64, frame: u64) -> Entry {
        Entry {
            asid,
            size: PageSize::Size4K,
            vpn,
            frame,
            pages,
        }
    }

    /// The hierarchy with a range TLB beside its last level (L1, L2 set-associative, the
    /// range TLB at level 3, latency 0). A walk of page 5 without a range fills L1 and
    /// L2 and not the range TLB; a walk of page 100 with range [100, 164) fills all
    /// three; page 130 then misses L1 and L2 and hits the range TLB at frame base + 30
    /// pages, costing L1 + L2 latency (1 + 2, the range TLB adds 0), and is filled into
    /// L1 only (L2 fills stay 2); its repeat hits L1.
    #[test]
    fn a_range_hit_fills_the_levels_above_the_one_it_sits_beside() {
        let mk = |name: &str, level, latency, org| TlbConfig {
            name: name.into(),
            level,
            kind: TlbKind::Unified,
            entries: 4,
            ways: 4,
            page_sizes: vec![PageSize::Size4K],
            latency,
            replacement: Default::default(),
            fill: TlbFill::Miss,
            organisation: org,
            coalesce: None,
        };
        let cfgs = [
            mk("l1", 1, 1, TlbOrganisation::SetAssociative),
            mk("l2", 2, 2, TlbOrganisation::SetAssociative),
            mk("r", 3, 0, TlbOrganisation::Range),
        ];
        let mut t = Tlbs::new(&cfgs, 0);
        assert!(t.has_ranges());
        let va = |p: u64| crate::addr::VirtAddr(p << 12);
        let pa = |f: u64| crate::addr::PhysAddr(f << 12);
        let size = PageSize::Size4K;
        t.complete(DATA, 1, va(5), pa(9), size, 3);
        t.set_range(range(1, 100, 64, 0x40_0000));
        t.complete(DATA, 1, va(100), pa(0x400), size, 3);
        let fills = |t: &Tlbs| t.stats().iter().map(|s| s.fills).collect::<Vec<_>>();
        assert_eq!(fills(&t), [2, 2, 1]);
        let mut cycles = 0;
        let h = t.lookup(DATA, 1, va(130), &mut cycles).unwrap();
        assert_eq!((h.level, h.frame.0, cycles), (2, 0x40_0000 + 30 * 4096, 3));
        t.complete(DATA, 1, va(130), h.frame, size, h.level);
        assert_eq!(fills(&t), [3, 2, 1]);
        assert_eq!(t.range_hits(), 1);
        let h = t.lookup(DATA, 1, va(130), &mut cycles).unwrap();
        assert_eq!(h.level, 0);
    }

    /// Every page of a range hits at base frame + its distance; the page past it and
    /// another address space miss.
    #[test]
    fn a_range_translates_every_page_it_covers() {
        let mut t = rtlb(4);
        let mut r = MemReads::default();
        t.insert(range(1, 0x100, 1000, 0x8000_0000));
        let at = |t: &mut RangeTlb, asid, vpn: u64| {
            t.lookup(asid, vpn << 12 | 0x123, PageSize::Size4K, &mut r.clone())
        };
        assert_eq!(at(&mut t, 1, 0x100), Some(0x8000_0000));
        assert_eq!(at(&mut t, 1, 0x100 + 999), Some(0x8000_0000 + 999 * 4096));
        assert_eq!(at(&mut t, 1, 0x100 + 1000), None);
        assert_eq!(at(&mut t, 1, 0xff), None);
        assert_eq!(at(&mut t, 2, 0x100), None);
        assert_eq!(t.lookup(1, 0x100 << 12, PageSize::Size2M, &mut r), None);
    }

    /// LRU over the entries: with 2 entries, A, B, a hit on A, then C evicts B.
    #[test]
    fn the_least_recently_used_range_goes() {
        let mut t = rtlb(2);
        let mut r = MemReads::default();
        assert_eq!(t.insert(range(1, 0, 10, 0)), None);
        assert_eq!(t.insert(range(1, 100, 10, 0)), None);
        assert!(t.lookup(1, 5 << 12, PageSize::Size4K, &mut r).is_some());
        assert_eq!(t.insert(range(1, 200, 10, 0)), Some(range(1, 100, 10, 0)));
        assert_eq!(t.occupancy(), 2);
    }

    /// Invalidating one page inside a range drops the whole entry; a page outside every
    /// range drops nothing; a range invalidation drops the ranges it overlaps.
    #[test]
    fn invalidating_a_page_drops_its_whole_range() {
        let mut t = rtlb(4);
        t.insert(range(1, 0, 512, 0));
        t.insert(range(1, 1000, 8, 0));
        assert!(!t.invalidate_page(1, 600 << 12, PageSize::Size4K));
        assert!(t.invalidate_page(1, 300 << 12, PageSize::Size4K));
        assert_eq!(t.occupancy(), 1);
        assert_eq!(t.invalidate_range(1, 1007 << 12, 2000 << 12), 1);
        assert_eq!(t.occupancy(), 0);
    }
}
