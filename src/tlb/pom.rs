//! The POM-TLB organisation (Ryoo, Gulur, Song and John, "Rethinking TLB Designs in
//! Virtualized Environments: A Very Large Part-of-Memory TLB", ISCA 2017): a large
//! set-associative TLB whose entries live in DRAM, at real physical addresses, so the
//! data caches hold its lines as they hold data; a probe reads its set's line.
//!
//! Owns the structure's tags, frames and LRU state (a [`SetAssociative`] array: the
//! contents behave as any set-associative TLB's) and where its entries sit in physical
//! memory (`base`, given once when the machine is built: [`Organisation::place`]). In:
//! page probes `(asid, vaddr, size)`, page entries. Out: the frame on a hit, the
//! displaced entry on an insert, and for every probe the physical address of the line
//! of its set, pushed to [`MemReads`] for the core to price through the caches and DRAM.
//!
//! Layout: entries are [`POM_ENTRY_BYTES`] = 16 bytes (the paper: VPN, PPN, valid and
//! attribute bits, ASID and VM ID), the `ways` entries of a set side by side, so with
//! the paper's 4 ways one set is one 64-byte line (its 64-byte burst) and set `s` is the
//! line at `base + s x 64`. Fewer ways pack several sets in a line; more would spill a
//! set over lines, which the config refuses (`tlb[i].ways`).
//!
//! Not modelled: the paper's cache-bypass predictor (every probe goes through the
//! caches, as Virtuoso's and the Victima artifact's POM-TLB do) and its page-size
//! predictor (the hierarchy probes a level's size partitions in one go, 4K first, and
//! the core charges the slowest read: see `docs/REACH.md`).
//!
//! Every probe reads memory, so a repeated hit is not silent: the hierarchy's repeat
//! shortcut never answers for it (it sits below level 1 anyway).

use super::{Entry, MemReads, Organisation, SetAssociative};
use crate::addr::PageSize;
use crate::config::{TlbConfig, TlbOrganisation, POM_ENTRY_BYTES};

/// A POM-TLB structure (one size partition: the 4K and the 2M partitions are two
/// structures of one level).
pub struct Pom {
    entries: SetAssociative,
    /// Bytes one set takes in memory (`ways` x 16).
    set_bytes: u64,
    /// Bytes of the whole structure (`entries` x 16).
    bytes: u64,
    /// Physical address of set 0.
    base: u64,
}

impl Pom {
    /// The physical address of the set `vaddr`'s page of `size` maps to: what a probe
    /// reads.
    #[inline(always)]
    pub fn set_address(&self, vaddr: u64, size: PageSize) -> u64 {
        let set = self.entries.set_of(vaddr >> size.shift()) as u64;
        self.base + set * self.set_bytes
    }
}

impl super::sealed::Sealed for Pom {}

impl Organisation for Pom {
    fn build(cfg: &TlbConfig, seed: u64) -> Option<Pom> {
        if cfg.organisation != TlbOrganisation::Pom {
            return None;
        }
        Some(Pom {
            entries: SetAssociative::new(cfg, seed),
            set_bytes: cfg.ways as u64 * POM_ENTRY_BYTES,
            bytes: cfg.organisation.memory_bytes(cfg),
            base: 0,
        })
    }

    // Out of line, as the coalesced organisation's: the common loop stays small.
    #[inline(never)]
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        reads: &mut MemReads,
    ) -> Option<u64> {
        reads.push(self.set_address(vaddr, size));
        self.entries.lookup(asid, vaddr, size, reads)
    }

    fn holds(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        self.entries.holds(asid, vaddr, size)
    }

    fn repeats_hit_silently(&self) -> bool {
        false
    }

    fn reads_memory(&self) -> bool {
        true
    }

    fn memory_bytes(&self) -> u64 {
        self.bytes
    }

    fn place(&mut self, base: u64) {
        self.base = base;
    }

    fn insert(&mut self, e: Entry) -> Option<Entry> {
        self.entries.insert(e)
    }

    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        self.entries.invalidate_page(asid, vaddr, size)
    }

    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize {
        self.entries.invalidate_range(asid, start, end)
    }

    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize {
        self.entries.invalidate_spaces(which, removed)
    }

    fn flush(&mut self) {
        self.entries.flush()
    }

    fn occupancy(&self) -> usize {
        self.entries.occupancy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assoc::Replacement;
    use crate::config::{TlbFill, TlbKind};

    fn pom(entries: u32, ways: u32, sizes: &[PageSize]) -> Pom {
        let cfg = TlbConfig {
            name: "pom".into(),
            level: 3,
            kind: TlbKind::Unified,
            entries,
            ways,
            page_sizes: sizes.to_vec(),
            latency: 0,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::Pom,
            coalesce: None,
        };
        Pom::build(&cfg, 0).unwrap()
    }

    fn page(asid: u16, vpn: u64, size: PageSize) -> Entry {
        Entry {
            asid,
            size,
            vpn,
            frame: (vpn + 0x100) << size.shift(),
            pages: 1,
        }
    }

    /// A probe reads the one line of its set: 1024 entries of 4 ways are 256 sets of
    /// 64 bytes; page 0x12345 is in set 0x12345 mod 256 = 0x45, so at base + 0x45 x 64
    /// = base + 0x1140, hit or miss.
    #[test]
    fn a_probe_reads_exactly_its_sets_line() {
        let mut t = pom(1024, 4, &[PageSize::Size4K]);
        assert_eq!(t.memory_bytes(), 1024 * 16);
        t.place(0x3_0000_0000);
        let mut r = MemReads::default();
        assert_eq!(t.lookup(1, 0x1234_5678, PageSize::Size4K, &mut r), None);
        assert_eq!(r.as_slice(), &[0x3_0000_1140]);
        t.insert(page(1, 0x12345, PageSize::Size4K));
        let mut r = MemReads::default();
        let f = t.lookup(1, 0x1234_5678, PageSize::Size4K, &mut r);
        assert_eq!(f, Some((0x12345 + 0x100) << 12));
        assert_eq!(r.as_slice(), &[0x3_0000_1140]);
        // A 2M page of a 2M partition: page number 0x91 (va 0x1220_0000 >> 21), set
        // 0x91, line base + 0x91 x 64 = base + 0x2440.
        let mut t = pom(1024, 4, &[PageSize::Size2M]);
        t.place(0x1000);
        let mut r = MemReads::default();
        t.lookup(1, 0x1220_0000, PageSize::Size2M, &mut r);
        assert_eq!(r.as_slice(), &[0x1000 + 0x2440]);
        // Two ways: sets of 32 bytes, two to a line; 512 sets: set 0x12345 mod 512 =
        // 0x145 at base + 0x145 x 32 = base + 0x28a0.
        let mut t = pom(1024, 2, &[PageSize::Size4K]);
        let mut r = MemReads::default();
        t.lookup(1, 0x1234_5678, PageSize::Size4K, &mut r);
        assert_eq!(r.as_slice(), &[0x28a0]);
    }

    /// In a hierarchy: an L1 above a 4K and a 2M partition of 65,536 entries each
    /// (16,384 sets of 64 bytes, 1 MiB each) placed from 0x4_0000_0000, the 4K one
    /// first, the 2M one at + 1 MiB. Page 0x12_3456 (va 0x1_2345_6000) is in 4K set
    /// 0x12_3456 mod 16,384 = 0x3456 (line + 0x3456 x 64 = + 0xd_1580) and 2M page
    /// 0x91a (va >> 21) in set 0x91a (line 1 MiB + 0x91a x 64 = 1 MiB + 0x2_4680). A miss reads both lines (both partitions are
    /// probed, even the 2M one that was never filled); after the fill, a hit in the 4K
    /// partition reads only its own; an L1 hit reads nothing.
    #[test]
    fn a_hierarchy_probe_reads_each_partitions_set_line() {
        use crate::addr::{PhysAddr, VirtAddr};
        use crate::tlb::{Tlbs, DATA};
        let mut l1 = TlbConfig {
            name: "l1".into(),
            level: 1,
            kind: TlbKind::Data,
            entries: 1,
            ways: 1,
            page_sizes: vec![PageSize::Size4K],
            latency: 1,
            replacement: Replacement::Lru,
            fill: TlbFill::Miss,
            organisation: TlbOrganisation::SetAssociative,
            coalesce: None,
        };
        let mut p4 = l1.clone();
        (p4.name, p4.level, p4.kind, p4.entries, p4.ways) =
            ("p4".into(), 2, TlbKind::Unified, 65536, 4);
        p4.organisation = TlbOrganisation::Pom;
        let mut p2 = p4.clone();
        (p2.name, p2.page_sizes) = ("p2".into(), vec![PageSize::Size2M]);
        l1.latency = 1;
        let mut t = Tlbs::new(&[l1, p4, p2], 0);
        assert!(t.reads_memory());
        assert_eq!(t.memory_bytes(), 2 << 20);
        let base = 0x4_0000_0000u64;
        t.place(base);
        let va = VirtAddr(0x1_2345_6000);
        let (line4k, line2m) = (base + 0xd_1580, base + (1 << 20) + 0x2_4680);
        assert!(t.lookup(DATA, 1, va, &mut 0).is_none());
        assert_eq!(t.take_memory_reads().as_slice(), &[line4k, line2m]);
        t.complete(DATA, 1, va, PhysAddr(0x7000), PageSize::Size4K, 2);
        // Another page takes the one-entry L1; page 0x12_3456 then hits at level 2.
        let other = VirtAddr(0x9000);
        t.lookup(DATA, 1, other, &mut 0);
        t.complete(DATA, 1, other, PhysAddr(0x8000), PageSize::Size4K, 2);
        t.take_memory_reads();
        let h = t.lookup(DATA, 1, va, &mut 0).unwrap();
        assert_eq!((h.level, h.frame), (1, PhysAddr(0x7000)));
        assert_eq!(t.take_memory_reads().as_slice(), &[line4k]);
        t.complete(DATA, 1, va, h.frame, h.size, 1);
        assert!(t.lookup(DATA, 1, va, &mut 0).is_some());
        assert!(t.take_memory_reads().is_empty());
    }

    /// Four ways with LRU inside the set: five pages of one set (page numbers 3 + 256k
    /// in 256 sets) leave the four most recent; touching the first before the fifth
    /// comes makes the second the victim.
    #[test]
    fn a_set_holds_its_ways_with_lru() {
        let mut t = pom(1024, 4, &[PageSize::Size4K]);
        let p = |k: u64| 3 + 256 * k;
        for k in 0..4 {
            assert_eq!(t.insert(page(1, p(k), PageSize::Size4K)), None);
        }
        let mut r = MemReads::default();
        assert!(t.lookup(1, p(0) << 12, PageSize::Size4K, &mut r).is_some());
        let ev = t.insert(page(1, p(4), PageSize::Size4K));
        assert_eq!(ev, Some(page(1, p(1), PageSize::Size4K)));
        assert_eq!(t.occupancy(), 4);
        // Invalidation as the trait says: page, range, address space.
        assert!(t.invalidate_page(1, p(0) << 12, PageSize::Size4K));
        assert_eq!(t.invalidate_range(1, p(2) << 12, (p(3) << 12) + 1), 2);
        assert_eq!(t.invalidate_spaces(&|a| a == 1, &mut |_| {}), 1);
        assert_eq!(t.occupancy(), 0);
        assert!(!t.repeats_hit_silently() && t.reads_memory());
    }
}
