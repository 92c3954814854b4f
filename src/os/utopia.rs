//! Utopia's restrictive segment (Kanellopoulos et al., "Utopia: Using Virtual Memory
//! Nonuniformly to Reduce Address Translation Overheads", MICRO 2023): the OS side.
//!
//! Owns the 4K RestSeg ([`RestSeg`]): a physically contiguous region taken at boot
//! (below any POM-TLB's region at the top of physical memory; the buddy allocator never
//! sees it) whose frames form `sets` sets of `ways` frames, and its tag array: one
//! 64-byte line per set, also in reserved physical memory right above the RestSeg.
//! In: `os.utopia`; first-touch faults of 4K pages (`choose_frame`), munmap and exit
//! (the frames they free), migrate and fork events. Out: the frame a fault places a
//! page in; for the core's RestSeg walk (`sim/core.rs`), [`RestSeg::lookup`]: the tag
//! line's physical address and the page's frame if its set holds it.
//!
//! Placement (first touch, as the artifact's allocator does for its 4K RestSeg): the
//! set is the VPN's low log2(sets) bits (the artifact's `hash="mask"`); the page takes
//! the lowest free way of that set, else it goes to the FlexSeg, the buddy allocator,
//! as without Utopia. No migration between segments (the artifact's promotion after
//! repeated walks, `heuristic_primary=3`, is not modelled).
//!
//! A RestSeg page is mapped in the radix table too, to the same frame: the hardware
//! never walks for it (the tag array answers), but every OS view (`translate`, munmap,
//! mprotect, the test builds' check of each TLB hit, `explain`) stays the same as the
//! tag array's. Its cost is page-table memory, reported as such.
//!
//! Events: munmap and exit free the way (the tag is cleared; the page's TLB entries go
//! as for any unmapped page); mprotect and madvise work as for any page (rights live in
//! the VMAs, checked before translation). Refused, naming `os.utopia`: a migrate over a
//! RestSeg page (it would leave its set while its tag stays) and a fork of a process
//! holding RestSeg pages (copy-on-write would copy them to FlexSeg frames).

use super::Os;
use crate::config::{UtopiaConfig, UTOPIA_TAG_LINE};
use crate::pagetable::PageTable;
use crate::workload::{EventKind, OsEvent};
use crate::SimError;

/// An empty way's tag.
const EMPTY: u64 = u64::MAX;

/// The RestSeg and its tag array.
#[derive(Clone, Debug)]
pub struct RestSeg {
    /// Physical address of set 0's way 0; set s, way w is at base + (s x ways + w) x 4 KiB.
    base: u64,
    /// Physical address of set 0's tag line; set s's at tag_base + s x 64.
    tag_base: u64,
    /// Sets minus one (a power of two): the set of a VPN is `vpn & mask`.
    mask: u64,
    ways: u64,
    /// Tags by set then way: (asid << 48) | vpn, [`EMPTY`] for a free way. The
    /// hardware's tag is fewer bits (the VPN's bits above the set index, and the
    /// address space); the whole key compares equal exactly when those do.
    tags: Vec<u64>,
    /// Ways in use now, the most at any time, and placements that found their set full.
    pub occupied: u64,
    pub peak: u64,
    /// RestSeg pages each address space holds (index asid), for the fork refusal.
    per_asid: Vec<u64>,
}

impl RestSeg {
    /// The RestSeg of `cfg` with its frames from `base` and its tag array right above.
    pub fn new(cfg: &UtopiaConfig, base: u64) -> RestSeg {
        let sets = cfg.sets();
        RestSeg {
            base,
            tag_base: base + cfg.size.0,
            mask: sets - 1,
            ways: cfg.ways as u64,
            tags: vec![EMPTY; (sets * cfg.ways as u64) as usize],
            occupied: 0,
            peak: 0,
            per_asid: Vec::new(),
        }
    }

    fn key(asid: u16, vpn: u64) -> u64 {
        (asid as u64) << 48 | vpn
    }

    /// The RestSeg walk's view: the physical address of the tag line of `vpn`'s set,
    /// and the frame of (`asid`, `vpn`) if one of its ways holds it. Allocates nothing.
    #[inline]
    pub fn lookup(&self, asid: u16, vpn: u64) -> (u64, Option<u64>) {
        let set = vpn & self.mask;
        let line = self.tag_base + set * UTOPIA_TAG_LINE;
        let first = (set * self.ways) as usize;
        let key = Self::key(asid, vpn);
        let way = (self.tags[first..first + self.ways as usize].iter()).position(|&t| t == key);
        (line, way.map(|w| self.frame(first + w)))
    }

    fn frame(&self, slot: usize) -> u64 {
        self.base + slot as u64 * 4096
    }

    /// Places (`asid`, `vpn`) in the lowest free way of its set: its frame, or `None`
    /// when the set is full.
    pub fn place(&mut self, asid: u16, vpn: u64) -> Option<u64> {
        let first = ((vpn & self.mask) * self.ways) as usize;
        let w = (self.tags[first..first + self.ways as usize].iter()).position(|&t| t == EMPTY)?;
        self.tags[first + w] = Self::key(asid, vpn);
        self.occupied += 1;
        self.peak = self.peak.max(self.occupied);
        let a = asid as usize;
        if self.per_asid.len() <= a {
            self.per_asid.resize(a + 1, 0);
        }
        self.per_asid[a] += 1;
        Some(self.frame(first + w))
    }

    /// Whether frame `pa` is one of the RestSeg's.
    pub fn holds(&self, pa: u64) -> bool {
        pa.wrapping_sub(self.base) < self.tags.len() as u64 * 4096
    }

    /// Frees the way of frame `pa` (a RestSeg frame): its tag is cleared.
    pub fn free(&mut self, pa: u64) {
        let slot = ((pa - self.base) / 4096) as usize;
        let asid = (self.tags[slot] >> 48) as usize;
        debug_assert_ne!(self.tags[slot], EMPTY, "freeing a free RestSeg way {pa:#x}");
        self.tags[slot] = EMPTY;
        self.occupied -= 1;
        self.per_asid[asid] -= 1;
    }

    /// Ways of the RestSeg.
    pub fn capacity(&self) -> u64 {
        self.tags.len() as u64
    }

    /// RestSeg pages `asid` holds.
    pub fn pages_of(&self, asid: u16) -> u64 {
        self.per_asid.get(asid as usize).copied().unwrap_or(0)
    }
}

impl Os {
    /// The RestSeg, if `os.utopia` is set.
    pub fn restseg(&self) -> Option<&RestSeg> {
        self.utopia.as_ref()
    }

    /// A first touch of a 4K page at `vaddr`: a free way of its set, counted in
    /// `stats` (`None`: the set is full, the page goes to the FlexSeg).
    pub(super) fn restseg_place(
        &mut self,
        asid: u16,
        vaddr: u64,
        stats: &mut super::OsStats,
    ) -> Option<u64> {
        let r = self.utopia.as_mut()?;
        let f = r.place(asid, vaddr >> 12);
        match f {
            Some(_) => stats.restseg_pages += 1,
            None => stats.flexseg_pages += 1,
        }
        f
    }

    /// Frees frame `pa` if it is a RestSeg frame (true), else leaves it to the buddy
    /// allocator (false).
    pub(super) fn restseg_free(&mut self, pa: u64, stats: &mut super::OsStats) -> bool {
        match self.utopia.as_mut() {
            Some(r) if r.holds(pa) => {
                r.free(pa);
                stats.restseg_freed += 1;
                true
            }
            _ => false,
        }
    }

    /// Refuses a migrate over a RestSeg page of `asid`, naming the key.
    pub(super) fn restseg_event<PT: PageTable>(
        &self,
        pt: &PT,
        asid: u16,
        ev: &OsEvent,
    ) -> Result<(), SimError> {
        let Some(r) = &self.utopia else {
            return Ok(());
        };
        if ev.kind != EventKind::Migrate || r.pages_of(asid) == 0 {
            return Ok(());
        }
        for (base, _) in self.mapped_in(pt, asid, ev.start, ev.end)? {
            let held = pt.translate(asid, crate::addr::VirtAddr(base));
            if held.is_some_and(|t| r.holds(t.frame.0)) {
                return Err(SimError(format!(
                    "os.utopia: a migrate event moves page {base:#x}, which lives in the RestSeg: a RestSeg page stays in the way of its set (migration out of the RestSeg is not modelled)"
                )));
            }
        }
        Ok(())
    }

    /// Refuses a fork of a process holding RestSeg pages, naming the key.
    pub(super) fn restseg_fork(&self, parent: u16) -> Result<(), SimError> {
        match &self.utopia {
            Some(r) if r.pages_of(parent) > 0 => Err(SimError(format!(
                "os.utopia: a fork of process {parent}, which holds {} RestSeg pages: copy-on-write of RestSeg pages is not modelled",
                r.pages_of(parent)
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ByteSize;

    fn seg() -> RestSeg {
        // 8 sets of 2 ways: 64 KiB of frames from 1 MiB, tag lines from 1 MiB + 64 KiB.
        let cfg = UtopiaConfig {
            size: ByteSize(64 << 10),
            ways: 2,
        };
        RestSeg::new(&cfg, 1 << 20)
    }

    /// VPNs 3, 11 and 19 share set 3 (their low 3 bits): the first two take ways 0 and
    /// 1, frames base + (3 x 2 + 0) x 4K and base + (3 x 2 + 1) x 4K; the third finds
    /// the set full. Every lookup reads tag line 0x110000 + 3 x 64 = 0x1100c0.
    #[test]
    fn a_set_fills_then_refuses_and_a_freed_way_is_reused() {
        let mut r = seg();
        assert_eq!(r.place(1, 3), Some(0x100000 + 6 * 4096));
        assert_eq!(r.place(1, 11), Some(0x100000 + 7 * 4096));
        assert_eq!(r.place(1, 19), None);
        assert_eq!(r.lookup(1, 11), (0x1100c0, Some(0x107000)));
        assert_eq!(r.lookup(2, 11), (0x1100c0, None), "another address space");
        assert_eq!(r.lookup(1, 19), (0x1100c0, None));
        assert_eq!((r.occupied, r.peak, r.pages_of(1)), (2, 2, 2));
        r.free(0x106000);
        assert_eq!(r.lookup(1, 3).1, None);
        assert_eq!(r.place(1, 19), Some(0x106000));
        assert!(r.holds(0x10f000) && !r.holds(0x110000) && !r.holds(0xff000));
    }
}
