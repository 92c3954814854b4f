//! The prefetch buffer (issue 20): translations that TLB prefetching fetched, probed
//! beside the last TLB level after it misses. A hit moves the translation into the TLBs
//! (it leaves the buffer), as Virtuoso's PQ does (CMU-SAFARI/Virtuoso@8188baf,
//! `translation_components/tlb.cc`, the `PREFETCH` block option cleared on the first
//! demand hit) and as Kandiraju and Sivasubramaniam's buffer does (ISCA 2002).
//!
//! Owns the entries, each with the clock its walk completes at (`ready_at`: an entry is
//! in flight until then, and a demand lookup that finds it earlier waits the rest: a late
//! prefetch) and its origin (a prefetch walk, or a free PTE at distance d of a walked
//! leaf). Lives inside [`super::Tlbs`] so every invalidation of the hierarchy reaches it
//! (`invalidate.rs`). In: prefetched translations ([`PrefetchBuffer::insert`]), demand
//! probes; out: a hit, or the entry an insertion displaced (unused: a wasted prefetch).
//!
//! Replacement is any of the arrays' policies (`prefetch.buffer_replacement`); as a hit
//! removes its entry, LRU and FIFO differ only when a prefetch of a page already waiting
//! refreshes it (LRU) or not (FIFO).

use crate::addr::PageSize;
use crate::assoc::{Policy, Replacement, ReplacementPolicy};

/// A prefetched translation waiting in the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefetched {
    pub asid: u16,
    pub size: PageSize,
    /// Page number in units of `size`.
    pub vpn: u64,
    /// Physical address of the frame.
    pub frame: u64,
    /// The clock at which its walk completes (the entry can be used from then on).
    pub ready_at: u64,
    /// 0: fetched by a prefetch walk; d (-7..=7, not 0): a free PTE d slots from the
    /// walked one in its leaf line.
    pub origin: i8,
    /// Inserted before the statistics last restarted (the warm-up's end): a hit on it
    /// is a hit, but not one of the prefetches counted since.
    pub before_restart: bool,
}

const EMPTY: Prefetched = Prefetched {
    asid: 0,
    size: PageSize::Size4K,
    vpn: 0,
    frame: 0,
    ready_at: 0,
    origin: 0,
    before_restart: false,
};

/// The buffer: `sets` x `ways` entries, indexed by the page number at the entry's size.
pub struct PrefetchBuffer {
    ways: usize,
    mask: u64,
    slots: Vec<Prefetched>,
    valid: Vec<bool>,
    policy: Policy,
    /// Page sizes ever inserted (bit i = size index i): probes skip the others.
    sizes: u8,
}

impl PrefetchBuffer {
    /// `entries` in `ways`-way sets (validated: a power-of-two number of sets).
    pub fn new(entries: u32, ways: u32, replacement: Replacement, seed: u64) -> PrefetchBuffer {
        let ways = ways as usize;
        let sets = entries as usize / ways;
        PrefetchBuffer {
            ways,
            mask: sets as u64 - 1,
            slots: vec![EMPTY; sets * ways],
            valid: vec![false; sets * ways],
            policy: Policy::new(replacement, sets, ways, seed),
            sizes: 0,
        }
    }

    #[inline(always)]
    fn set_of(&self, vpn: u64) -> usize {
        // Sizes share the sets; their page numbers index them alike (as a TLB
        // shared by 4K and 2M pages does).
        (vpn & self.mask) as usize
    }

    #[inline(always)]
    fn find(&self, asid: u16, vaddr: u64, size: PageSize) -> Option<(usize, usize)> {
        let vpn = vaddr >> size.shift();
        let set = self.set_of(vpn);
        let base = set * self.ways;
        (0..self.ways)
            .find(|&w| {
                let e = &self.slots[base + w];
                self.valid[base + w] && e.vpn == vpn && e.asid == asid && e.size == size
            })
            .map(|w| (set, w))
    }

    /// The entry translating `vaddr` of `asid`, if any: it leaves the buffer (the caller
    /// moves it into the TLBs, or waits for it if it is still in flight).
    pub fn take(&mut self, asid: u16, vaddr: u64) -> Option<Prefetched> {
        for size in PageSize::ALL {
            if self.sizes & (1 << size.index()) == 0 {
                continue;
            }
            if let Some((set, w)) = self.find(asid, vaddr, size) {
                self.valid[set * self.ways + w] = false;
                return Some(self.slots[set * self.ways + w]);
            }
        }
        None
    }

    /// Whether an entry translates `vaddr` of `asid` (no replacement update).
    pub fn holds(&self, asid: u16, vaddr: u64) -> bool {
        PageSize::ALL
            .iter()
            .any(|&s| self.sizes & (1 << s.index()) != 0 && self.find(asid, vaddr, s).is_some())
    }

    /// Insert `e`; returns the entry it displaced, if a valid one. A page already
    /// waiting keeps its (earlier) entry: the policy sees a hit (a refresh under LRU).
    pub fn insert(&mut self, e: Prefetched) -> Option<Prefetched> {
        self.sizes |= 1 << e.size.index();
        if let Some((set, w)) = self.find(e.asid, e.vpn << e.size.shift(), e.size) {
            self.policy.on_hit(set, w);
            return None;
        }
        let set = self.set_of(e.vpn);
        let base = set * self.ways;
        let (w, old) = match (0..self.ways).find(|&w| !self.valid[base + w]) {
            Some(w) => (w, None),
            None => {
                let w = self.policy.victim(set);
                (w, Some(self.slots[base + w]))
            }
        };
        self.slots[base + w] = e;
        self.valid[base + w] = true;
        self.policy.on_fill(set, w);
        old
    }

    /// Drop every entry `gone` accepts; returns how many went.
    pub fn invalidate_where(&mut self, mut gone: impl FnMut(&Prefetched) -> bool) -> usize {
        let mut n = 0;
        for (e, v) in self.slots.iter().zip(self.valid.iter_mut()) {
            if *v && gone(e) {
                *v = false;
                n += 1;
            }
        }
        n
    }

    /// Drop every entry of `asid` covering a byte of `[start, end)`.
    pub fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        self.invalidate_where(|e| {
            let base = e.vpn << e.size.shift();
            e.asid == asid && base < end && start < base + e.size.bytes()
        })
    }

    /// The statistics restart (the warm-up ended): the entries held now were counted
    /// before it.
    pub fn mark_before_restart(&mut self) {
        for e in &mut self.slots {
            e.before_restart = true;
        }
    }

    /// Entries held now (in flight or ready).
    pub fn occupancy(&self) -> usize {
        self.valid.iter().filter(|&&v| v).count()
    }
}

impl<O: super::Organisation> super::Tlbs<O> {
    /// Give the hierarchy a prefetch buffer (TLB prefetching is on).
    pub fn set_prefetch_buffer(&mut self, b: PrefetchBuffer) {
        self.prefetched = Some(Box::new(b));
    }

    /// The prefetch buffer, if prefetching is on.
    #[inline(always)]
    pub fn prefetch_buffer(&mut self) -> Option<&mut PrefetchBuffer> {
        self.prefetched.as_deref_mut()
    }

    /// Whether a TLB level or the prefetch buffer already translates `vaddr` of `asid`
    /// (no replacement state changes): a prefetch of it would be wasted.
    pub fn translates(&self, asid: u16, vaddr: u64) -> bool {
        self.prefetched
            .as_ref()
            .is_some_and(|b| b.holds(asid, vaddr))
            || self.structs.iter().any(|st| {
                PageSize::ALL
                    .iter()
                    .any(|&size| st.sizes.contains(size) && st.org.holds(asid, vaddr, size))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(vpn: u64, ready_at: u64) -> Prefetched {
        Prefetched {
            asid: 1,
            size: PageSize::Size4K,
            vpn,
            frame: vpn << 12,
            ready_at,
            origin: 0,
            before_restart: false,
        }
    }

    /// A 4-entry, 2-way buffer (2 sets, by the page number's low bit): the third page of
    /// a set displaces the first under FIFO and LRU alike; a hit takes the entry out.
    #[test]
    fn a_full_set_displaces_its_oldest_and_a_hit_leaves() {
        for r in [Replacement::Fifo, Replacement::Lru] {
            let mut b = PrefetchBuffer::new(4, 2, r, 1);
            assert_eq!(b.insert(e(0, 5)), None);
            assert_eq!(b.insert(e(2, 6)), None);
            assert_eq!(b.insert(e(1, 7)), None, "the other set");
            assert_eq!(b.insert(e(4, 8)), Some(e(0, 5)));
            assert!(!b.holds(1, 0) && b.holds(1, 2 << 12) && b.holds(1, 4 << 12));
            assert_eq!(b.take(1, (2 << 12) + 5), Some(e(2, 6)));
            assert_eq!(b.take(1, 2 << 12), None, "taken once");
            assert_eq!(b.take(2, 4 << 12), None, "another address space");
            assert_eq!(b.occupancy(), 2);
        }
    }

    /// A repeated prefetch of a waiting page refreshes it under LRU (the other one is
    /// displaced next) but not under FIFO; the earlier entry stays either way.
    #[test]
    fn a_refresh_is_a_use_under_lru_only() {
        for (r, displaced) in [(Replacement::Lru, 2), (Replacement::Fifo, 0)] {
            let mut b = PrefetchBuffer::new(2, 2, r, 1);
            b.insert(e(0, 1));
            b.insert(e(2, 2));
            assert_eq!(b.insert(e(0, 99)), None);
            assert_eq!(b.insert(e(4, 3)).map(|x| x.vpn), Some(displaced), "{r:?}");
        }
        let mut b = PrefetchBuffer::new(2, 2, Replacement::Lru, 1);
        b.insert(e(0, 1));
        b.insert(e(0, 99));
        assert_eq!(b.take(1, 0).map(|x| x.ready_at), Some(1));
    }

    /// A 2M entry answers every address of its page; a range invalidation removes the
    /// entries it overlaps only.
    #[test]
    fn huge_entries_and_range_invalidation() {
        let mut b = PrefetchBuffer::new(8, 2, Replacement::Lru, 1);
        let huge = Prefetched {
            size: PageSize::Size2M,
            vpn: 3,
            frame: 0x4000_0000,
            ..e(0, 0)
        };
        b.insert(huge);
        b.insert(e(5, 0));
        assert!(b.holds(1, (3 << 21) + 0x1234));
        assert_eq!(b.invalidate_range(1, 3 << 21, (3 << 21) + 4096), 1);
        assert!(!b.holds(1, 3 << 21) && b.holds(1, 5 << 12));
        assert_eq!(b.invalidate_range(1, 6 << 12, 7 << 12), 0);
    }
}
