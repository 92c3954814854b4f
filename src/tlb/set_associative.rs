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
use crate::assoc::SetAssoc;
use crate::config::{TlbConfig, TlbOrganisation};

/// A set-associative TLB structure.
pub struct SetAssociative {
    array: SetAssoc,
    /// Page sizes it holds, so a range invalidation probes only those.
    sizes: PageSizeSet,
}

impl SetAssociative {
    /// The array of `sets` x `ways`, holding pages of `sizes`.
    fn new(cfg: &TlbConfig, seed: u64) -> SetAssociative {
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
    fn set_of(&self, vpn: u64) -> usize {
        (vpn & self.array.set_mask()) as usize
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

impl Organisation for SetAssociative {
    fn build(cfg: &TlbConfig, seed: u64) -> Option<SetAssociative> {
        match cfg.organisation {
            TlbOrganisation::SetAssociative => Some(SetAssociative::new(cfg, seed)),
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
        let vpn = vaddr >> size.shift();
        let set = self.set_of(vpn);
        self.array.lookup(set, tag(vpn, asid, size.index()))
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

    fn invalidate_asid(&mut self, asid: u16, removed: &mut impl FnMut(u64)) -> usize {
        // The stored key is the page key.
        self.array.invalidate_where(|k| {
            let hit = untag(k).1 == asid;
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
