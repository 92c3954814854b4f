//! The huge-page policy: which page size a first touch maps (`never`, `always`,
//! `madvise`, with their fallback), 2 MiB regions promoted in place from a reservation
//! (`reserve`) or collapsed by copying (`promote`), splits of 2M pages (partial unmaps,
//! demotion), and demotion of the least-written 2M pages when memory runs short.
//!
//! Owns the per-region bookkeeping: how many mappings lie in each aligned region of each
//! huge size, the 2 MiB regions under promotion, and which pieces of each 2M page were
//! written. In: first touches from the fault path, mappings made and removed by the other
//! paths. Out: cycles, and in [`Effects`] the small pages a collapse replaced, the 2M
//! page a split replaced, and walk-cache flushes.

use super::{Effects, Os, OsStats, Trigger};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::{HugeFallback, HugePolicy, OsConfig};
use crate::pagetable::{MapOutcome, PageTable};
use crate::SimError;
use bitvec::BitArr;
use std::collections::HashMap;

/// 4 KiB pages in a 2 MiB region.
pub(super) const SMALL_PER_2M: u64 = 512;

/// One bit per 4 KiB page of a 2 MiB region (page i: bit i).
type PageBits = BitArr!(for 512, in u64);

/// Free frames the OS keeps before a fault (a low watermark, as Linux keeps one): the
/// page plus one table node for each of up to 6 radix levels, and one spare, since
/// table allocations cannot evict pages themselves.
pub(super) const HEADROOM_FRAMES: u64 = 8;

/// A 2 MiB region under the `promote` or `reserve` policy.
#[derive(Clone, Default)]
pub(super) struct Region {
    /// Which of its 512 small pages are mapped.
    pages: PageBits,
    mapped: u32,
    /// The reserved 2M frame (`reserve`); the allocator may break it for memory.
    pub(super) reservation: Option<u64>,
    /// Now one huge page, or given up on (broken reservation): no more bookkeeping.
    pub(super) done: bool,
}

/// The huge-page policy's configuration and bookkeeping.
pub(super) struct HugePages {
    pub(super) policy: HugePolicy,
    fallback: HugeFallback,
    /// The huge sizes to try, largest first.
    sizes: Vec<PageSize>,
    /// For each of `sizes`: how many mappings lie in each (asid, aligned region).
    occupied: Vec<HashMap<(u16, u64), u32>>,
    promote_threshold: u32,
    /// 2 MiB regions by (asid, region number), for `promote` and `reserve`.
    pub(super) regions: HashMap<(u16, u64), Region>,
    /// Every 2M page by (asid, base), with which of its 4 KiB pieces were written
    /// (tracked only under `demote`).
    written: std::collections::BTreeMap<(u16, u64), PageBits>,
    pub(super) demote: bool,
}

impl HugePages {
    pub(super) fn new(cfg: &OsConfig) -> HugePages {
        let mut sizes: Vec<PageSize> = (cfg.huge_pages.sizes.iter().copied())
            .filter(|&s| s > cfg.page_size)
            .collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        sizes.dedup();
        HugePages {
            policy: cfg.huge_pages.policy,
            fallback: cfg.huge_pages.fallback,
            occupied: vec![HashMap::new(); sizes.len()],
            sizes,
            promote_threshold: cfg.huge_pages.promote_threshold,
            regions: HashMap::new(),
            written: Default::default(),
            demote: cfg.huge_pages.demote,
        }
    }

    /// A forked child's regions: copies of the parent's, neither promoted any more
    /// (promotion would move shared pages).
    pub(super) fn fork(&mut self, parent: u16, child: u16) {
        let keys: Vec<(u16, u64)> = (self.regions.keys())
            .filter(|k| k.0 == parent)
            .copied()
            .collect();
        for k in keys {
            let r = self.regions.get_mut(&k).expect("listed");
            r.done = true;
            let copy = Region {
                reservation: None,
                ..r.clone()
            };
            self.regions.insert((child, k.1), copy);
        }
    }

    /// A store to `vaddr`: under `demote`, the piece of its 2M page holds data now.
    #[inline]
    pub(super) fn mark_written(&mut self, asid: u16, vaddr: u64) {
        if let Some(w) = self.written.get_mut(&(asid, vaddr & !((2 << 20) - 1))) {
            w.set(((vaddr >> 12) & (SMALL_PER_2M - 1)) as usize, true);
        }
    }

    /// The 4K page at `base` was unmapped: its region forgets it (and a live
    /// reservation, broken by the caller, ends the region's promotion); a huge page
    /// unmapped lets its region start afresh.
    pub(super) fn unmapped(&mut self, asid: u16, base: u64, size: PageSize) {
        let Some(r) = self.regions.get_mut(&(asid, base >> 21)) else {
            return;
        };
        if size == PageSize::Size4K {
            let page = (base >> 12) & (SMALL_PER_2M - 1);
            if r.pages.replace(page as usize, false) {
                r.mapped -= 1;
            }
            if r.reservation.take().is_some() {
                // Its reservation was broken: no promotion for it.
                r.done = true;
            }
        } else {
            self.regions.remove(&(asid, base >> 21));
        }
    }

    /// Everything kept for `asid` goes (it exited); returns the reservations it held.
    pub(super) fn exit(&mut self, asid: u16) -> Vec<u64> {
        let keys: Vec<(u16, u64)> = (self.regions.keys())
            .filter(|k| k.0 == asid)
            .copied()
            .collect();
        let held = (keys.iter())
            .filter_map(|k| self.regions.remove(k).and_then(|r| r.reservation))
            .collect();
        for o in &mut self.occupied {
            o.retain(|k, _| k.0 != asid);
        }
        held
    }

    /// Regions of `asid` wholly inside [start, end) start afresh (an `mmap` there may
    /// take a huge page now); returns the reservations they held.
    pub(super) fn forget_inside(&mut self, asid: u16, start: u64, end: u64) -> Vec<u64> {
        let fresh: Vec<(u16, u64)> = (self.regions.keys())
            .filter(|k| k.0 == asid && k.1 << 21 >= start && (k.1 + 1) << 21 <= end)
            .copied()
            .collect();
        (fresh.iter())
            .filter_map(|k| self.regions.remove(k).and_then(|r| r.reservation))
            .collect()
    }
}

impl Os {
    /// The reserved 2M frame of the 2 MiB region of `asid` holding `vaddr`, while that
    /// reservation is live (`reserve`: not broken, not promoted): its small pages are
    /// mapped at this base plus their offset, which SpecTLB predicts (`sim/spec.rs`).
    pub fn reservation_of(&self, asid: u16, vaddr: u64) -> Option<u64> {
        let b = self.huge.regions.get(&(asid, vaddr >> 21))?.reservation?;
        self.frames.is_reserved(b).then_some(b)
    }

    /// The page size and frame for a first touch at `vaddr`.
    pub(super) fn choose_frame(
        &mut self,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(PageSize, u64), SimError> {
        let h = &self.huge;
        if matches!(h.policy, HugePolicy::Always | HugePolicy::Madvise) {
            let mut wanted = false;
            for (i, &s) in h.sizes.iter().enumerate() {
                if wanted && h.fallback == HugeFallback::Base {
                    break;
                }
                if h.occupied[i].contains_key(&(asid, vaddr >> s.shift())) {
                    // Something is mapped in this region already: not a candidate.
                    continue;
                }
                let base = vaddr & !(s.bytes() - 1);
                let (start, end) = (base, base + s.bytes());
                if h.policy == HugePolicy::Madvise && !self.vma.advised(asid, start, end)
                    || !self.vma.fits_vma(asid, start, end)
                {
                    continue;
                }
                match self.frames.try_alloc(s) {
                    Some(f) => {
                        match s {
                            PageSize::Size2M => stats.huge_faults_2m += 1,
                            _ => stats.huge_faults_1g += 1,
                        }
                        // A larger size was wanted and failed: this is a fallback too.
                        stats.huge_fallbacks += wanted as u64;
                        return Ok((s, f));
                    }
                    None => stats.huge_alloc_failures += 1,
                }
                wanted = true;
            }
            stats.huge_fallbacks += wanted as u64;
        }
        if self.utopia.is_some() {
            // A 4K page goes to its RestSeg set if a way is free (`utopia.rs`).
            if let Some(f) = self.restseg_place(asid, vaddr, stats) {
                return Ok((PageSize::Size4K, f));
            }
        }
        Ok((self.page_size, self.frames.alloc(self.page_size)?))
    }

    /// Records a new mapping in the region counts of every larger huge size (and a 2M
    /// page among the huge pages).
    pub(super) fn note_mapped(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        let h = &mut self.huge;
        for (i, &s) in h.sizes.iter().enumerate() {
            if s > size {
                *h.occupied[i].entry((asid, vaddr >> s.shift())).or_insert(0) += 1;
            }
        }
        if size == PageSize::Size2M {
            h.written.insert((asid, vaddr), PageBits::ZERO);
        }
    }

    /// Undoes [`Os::note_mapped`] for a mapping removed.
    pub(super) fn note_unmapped(&mut self, asid: u16, base: u64, size: PageSize) {
        let h = &mut self.huge;
        for (i, &s) in h.sizes.iter().enumerate() {
            if s > size {
                let k = (asid, base >> s.shift());
                if let Some(n) = h.occupied[i].get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        h.occupied[i].remove(&k);
                    }
                }
            }
        }
        if size == PageSize::Size2M {
            h.written.remove(&(asid, base));
        }
    }

    /// Splits the 2M page of `asid` at `base` into 512 4K pages of the same frames
    /// (Linux's split_huge_page): its translation is queued for invalidation and the
    /// walk caches flushed (no table is freed: the new one comes in); the region is
    /// never promoted again. Returns the cycles.
    pub(super) fn split_huge<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        base: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let tr = pt
            .unmap(asid, VirtAddr(base))
            .filter(|t| t.size == PageSize::Size2M)
            .ok_or_else(|| SimError(format!("internal: no 2M page at {base:#x} to split")))?;
        self.frames.split(tr.frame.0, PageSize::Size2M)?;
        self.log_unmap(asid, base);
        self.note_unmapped(asid, base, PageSize::Size2M);
        fx.invalidate(asid, base, PageSize::Size2M);
        let cow = (self.share.cow.get_mut(&asid)).is_some_and(|c| c.remove(&base).is_some());
        for i in 0..SMALL_PER_2M {
            let (va, f) = (base + i * 4096, tr.frame.0 + i * 4096);
            let o = pt.map(
                asid,
                VirtAddr(va),
                PageSize::Size4K,
                PhysAddr(f),
                &mut self.frames,
            )?;
            fx.evicted(&o, stats);
            self.log_map(asid, va, f, PageSize::Size4K);
            self.note_mapped(asid, va, PageSize::Size4K);
            if cow {
                let c = self.share.cow.entry(asid).or_default();
                c.insert(va, PageSize::Size4K);
            }
        }
        self.huge.regions.insert(
            (asid, base >> 21),
            Region {
                pages: !PageBits::ZERO,
                mapped: SMALL_PER_2M as u32,
                reservation: None,
                done: true,
            },
        );
        fx.flush_walk_caches = true;
        stats.splits += 1;
        Ok(self.costs.split)
    }

    /// Under `demote`, while free memory is below the low watermark: splits the 2M
    /// page of `asid` with the fewest written pieces (not shared with another process)
    /// and frees the pieces never written, which hold only zeros. Returns the cycles.
    pub(super) fn demote_for_memory<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let mut cycles = 0u64;
        while self.frames.free_bytes() < HEADROOM_FRAMES * 4096 {
            let shared = &self.share.shared;
            let victim = (self.huge.written.range((asid, 0)..=(asid, u64::MAX)))
                .filter(|(k, _)| {
                    pt.translate(asid, VirtAddr(k.1))
                        .is_some_and(|t| !shared.contains_key(&t.frame.0))
                })
                .min_by_key(|(k, w)| (w.count_ones(), k.1))
                .map(|(k, w)| (k.1, *w));
            let Some((base, written)) = victim.filter(|v| v.1.count_ones() < SMALL_PER_2M as usize)
            else {
                break;
            };
            cycles = cycles.saturating_add(self.split_huge(pt, asid, base, stats, fx)?);
            fx.trigger = Trigger::Split;
            for i in 0..SMALL_PER_2M {
                if written[i as usize] {
                    continue;
                }
                let va = base + i * 4096;
                let tr = pt.unmap(asid, VirtAddr(va)).ok_or_else(|| {
                    SimError(format!("internal: split piece {va:#x} is not mapped"))
                })?;
                self.frames.free(tr.frame.0, PageSize::Size4K)?;
                self.log_unmap(asid, va);
                self.note_unmapped(asid, va, PageSize::Size4K);
                if let Some(c) = self.share.cow.get_mut(&asid) {
                    c.remove(&va);
                }
                fx.invalidate(asid, va, PageSize::Size4K);
                stats.mapped_bytes -= 4096;
                stats.demoted_freed_4k += 1;
            }
            if let Some(r) = self.huge.regions.get_mut(&(asid, base >> 21)) {
                r.pages = written;
                r.mapped = written.count_ones() as u32;
            }
            stats.demotions += 1;
        }
        Ok(cycles)
    }

    /// A first touch under `promote` or `reserve`: map the small page (from the
    /// region's reservation, if any), then collapse or promote the region when due.
    pub(super) fn fault_in_region<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(MapOutcome, u64), SimError> {
        let key = (asid, vaddr >> 21);
        let page = (vaddr >> 12) & (SMALL_PER_2M - 1);
        let reserve = self.huge.policy == HugePolicy::Reserve;
        if !self.huge.regions.contains_key(&key)
            && !self.vma.fits_vma(asid, key.1 << 21, (key.1 + 1) << 21)
        {
            // Not inside one mapped range: this region stays in small pages.
            let r = Region {
                done: true,
                ..Region::default()
            };
            self.huge.regions.insert(key, r);
        }
        if reserve && !self.huge.regions.contains_key(&key) {
            let mut r = Region::default();
            // Reserve only from free memory: breaking another reservation to make one
            // would just move the problem.
            match self.frames.reserve() {
                Some(block) => {
                    r.reservation = Some(block);
                    stats.reservations += 1;
                }
                None => {
                    r.done = true;
                    stats.huge_alloc_failures += 1;
                    stats.huge_fallbacks += 1;
                }
            }
            self.huge.regions.insert(key, r);
        }
        let reserved_block = self.huge.regions.get(&key).and_then(|r| r.reservation);
        let frame = match reserved_block {
            Some(b) if self.frames.is_reserved(b) => {
                // Marked in use before the map: a table allocation inside it may
                // break this very reservation, and must not free this page's frame.
                self.frames.populate(b, page);
                b + page * 4096
            }
            _ => self.frames.alloc(PageSize::Size4K)?,
        };
        let base = vaddr & !0xfff;
        let outcome = pt.map(
            asid,
            VirtAddr(base),
            PageSize::Size4K,
            PhysAddr(frame),
            &mut self.frames,
        )?;
        self.log_map(asid, base, frame, PageSize::Size4K);
        stats.mapped_bytes += 4096;
        let mut cycles = self.minor_fault_cost(PageSize::Size4K);
        let r = self.huge.regions.entry(key).or_default();
        if let Some(b) = r.reservation {
            if !self.frames.is_reserved(b) {
                // Broken for memory (by this fault or an earlier one): its pages stay
                // 4K and the region is never promoted.
                r.reservation = None;
                r.done = true;
            }
        }
        if r.done {
            return Ok((outcome, cycles));
        }
        r.pages.set(page as usize, true);
        r.mapped += 1;
        let due = if reserve {
            r.mapped as u64 == SMALL_PER_2M
        } else {
            r.mapped >= self.huge.promote_threshold
        };
        if due {
            cycles = cycles.saturating_add(self.promote(pt, key, stats, fx)?);
        }
        Ok((outcome, cycles))
    }

    /// Replaces region `key`'s small pages by one 2M page: in place for a reservation,
    /// else into a new 2M frame with the mapped pages copied and their frames freed.
    /// Returns its cycles (0 when no 2M frame could be had: the region stays small).
    fn promote<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        key: (u16, u64),
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let (asid, region) = key;
        let r = self.huge.regions.get(&key).expect("tracked").clone();
        let (huge, in_place) = match r.reservation {
            Some(b) => {
                self.frames.unreserve(b);
                (b, true)
            }
            // A collapse takes free memory only: breaking reservations (which keep
            // their used pages) rarely frees a whole block.
            None => match self.frames.try_alloc_free(PageSize::Size2M) {
                Some(b) => (b, false),
                None => {
                    stats.collapse_failures += 1;
                    return Ok(0);
                }
            },
        };
        let base = region << 21;
        for i in 0..SMALL_PER_2M {
            if !r.pages[i as usize] {
                continue;
            }
            let va = base + i * 4096;
            let tr = pt.unmap(asid, VirtAddr(va)).ok_or_else(|| {
                SimError(format!(
                    "internal: {va:#x} was mapped but the page table has no entry"
                ))
            })?;
            if !in_place {
                self.frames.free(tr.frame.0, PageSize::Size4K)?;
            }
            self.log_unmap(asid, va);
            fx.invalidate(asid, va, PageSize::Size4K);
        }
        let o = pt.map(
            asid,
            VirtAddr(base),
            PageSize::Size2M,
            PhysAddr(huge),
            &mut self.frames,
        )?;
        self.log_map(asid, base, huge, PageSize::Size2M);
        // Its pieces that were pages hold data.
        self.huge.written.insert((asid, base), r.pages);
        // A hashed design made room by evicting another translation: it must leave
        // the TLBs like any eviction.
        fx.evicted(&o, stats);
        // The 2M page replaced the emptied leaf table.
        fx.table_replaced();
        fx.trigger = Trigger::Collapse;
        let copied = if in_place { 0 } else { r.mapped as u64 };
        let entry = self.huge.regions.get_mut(&key).expect("tracked");
        entry.done = true;
        entry.reservation = None;
        stats.promotions += 1;
        stats.huge_faults_2m += 1;
        stats.copied_4k += copied;
        // The huge page now maps the whole region.
        stats.mapped_bytes += ((SMALL_PER_2M - r.mapped as u64) * 4096) as i64;
        let c = &self.costs;
        let cycles = if in_place {
            c.promote_in_place
        } else {
            c.collapse + copied * c.copy_4k + (SMALL_PER_2M - copied) * c.zero_4k
        };
        stats.promotion_cycles = stats.promotion_cycles.saturating_add(cycles);
        Ok(cycles)
    }
}
