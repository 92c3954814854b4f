//! Mappings and protections: the workload's `madvise`, `mmap` (`MAP_FIXED`,
//! `populate`), `munmap`, `mprotect` and `migrate` events, and `exit`.
//!
//! Owns the ranges advised for huge pages, the ranges `mmap` mapped and the rights
//! `mprotect` set, per address space. In: an event and the address space's table. Out:
//! the event's cycles and the translations it removed, in [`Effects`].

use super::ranges::RangeMap;
use super::{Effects, Os, OsStats, Trigger};
use crate::addr::{PageSize, VirtAddr};
use crate::pagetable::PageTable;
use crate::workload::{EventKind, OsEvent, Prot};
use crate::SimError;
use std::collections::HashMap;

/// Advice, mapped ranges and rights per address space.
#[derive(Default)]
pub(super) struct Vmas {
    /// Ranges advised for huge pages.
    advised: HashMap<u16, RangeMap<()>>,
    /// Ranges `mmap` events mapped (none: the whole space is anonymous memory, as
    /// before any such event).
    pub(super) vmas: HashMap<u16, RangeMap<()>>,
    /// Rights `mprotect` events set (absent: read-write).
    prot: HashMap<u16, RangeMap<Prot>>,
    /// Some range is protected: stores must be checked.
    guard_prot: bool,
    /// Some range is `PROT_NONE`: loads must be checked too.
    pub(super) guard_loads: bool,
}

impl Vmas {
    /// Whether [start, end) lies inside one advised range of `asid`.
    pub(super) fn advised(&self, asid: u16, start: u64, end: u64) -> bool {
        self.advised
            .get(&asid)
            .is_some_and(|m| m.covering(start, end).is_some())
    }

    /// Whether a huge page may cover [start, end) of `asid`: inside one mapped range,
    /// when `mmap` events gave any (Linux maps a huge page only inside one VMA).
    pub(super) fn fits_vma(&self, asid: u16, start: u64, end: u64) -> bool {
        self.vmas
            .get(&asid)
            .is_none_or(|m| m.is_empty() || m.covering(start, end).is_some())
    }

    /// Whether an access `mprotect` forbade traps; if so the page is opened read-write
    /// (as a write-tracking handler does), so it traps once.
    pub(super) fn protection_trap(&mut self, asid: u16, vaddr: u64, store: bool) -> bool {
        if !self.guard_prot {
            return false;
        }
        let Some(m) = self.prot.get_mut(&asid) else {
            return false;
        };
        let trap = match m.get(vaddr) {
            Some(Prot::None) => true,
            Some(Prot::R) => store,
            _ => false,
        };
        if trap {
            let page = vaddr & !0xfff;
            m.remove(page, page + 4096);
        }
        trap
    }

    /// A forked child inherits advice, mapped ranges and rights.
    pub(super) fn fork(&mut self, parent: u16, child: u16) {
        for m in [&mut self.advised, &mut self.vmas] {
            if let Some(v) = m.get(&parent).cloned() {
                m.insert(child, v);
            }
        }
        if let Some(v) = self.prot.get(&parent).cloned() {
            self.prot.insert(child, v);
        }
    }
}

impl Os {
    /// The rights of the page of `vaddr` of `asid` as its PTE would carry them (read-write
    /// unless `mprotect` set others): a coalescing TLB joins only pages of equal rights.
    pub fn rights(&self, asid: u16, vaddr: u64) -> Prot {
        if !self.vma.guard_prot {
            return Prot::Rw;
        }
        let m = self.vma.prot.get(&asid);
        m.and_then(|m| m.get(vaddr)).unwrap_or_default()
    }

    /// Applies a workload's OS event (not `fork` or `exit`, which the engine runs) to
    /// address space `asid`. Fills `fx` with the cycles the event took outside any
    /// access's translation (`populate`, splits, migration) and the translations it
    /// removed.
    pub fn apply_event<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        ev: OsEvent,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        if !self.segments.is_empty() {
            self.segment_event(asid, &ev)?;
        }
        if self.rmm.is_some() && matches!(ev.kind, EventKind::Mprotect | EventKind::Migrate) {
            self.rmm_event(asid, ev.kind.name(), ev.start, ev.end)?;
        }
        self.restseg_event(pt, asid, &ev)?;
        fx.trigger = match ev.kind {
            EventKind::Mprotect => Trigger::Mprotect,
            EventKind::Mmap => Trigger::Mmap,
            EventKind::Migrate => Trigger::Migration,
            _ => Trigger::Munmap,
        };
        match ev.kind {
            EventKind::Madvise => {
                let m = self.vma.advised.entry(asid).or_default();
                m.insert(ev.start, ev.end, ());
                stats.madvise_calls += 1;
            }
            EventKind::Munmap => {
                stats.munmap_calls += 1;
                let c = self.munmap(pt, asid, ev.start, ev.end, stats, fx)?;
                stats.event_cycles = stats.event_cycles.saturating_add(c);
                fx.cycles = fx.cycles.saturating_add(c);
                for m in [&mut self.vma.advised, &mut self.vma.vmas] {
                    if let Some(r) = m.get_mut(&asid) {
                        r.remove(ev.start, ev.end);
                    }
                }
            }
            EventKind::Mmap => {
                stats.mmap_calls += 1;
                if self.segments.is_empty() {
                    self.mmap(pt, asid, (ev.start, ev.end), ev.populate, stats, fx)?;
                } else {
                    // A direct segment's primary region is backed and mapped already:
                    // only the range outside it is mapped here.
                    for (start, end) in self.outside_segment(asid, ev.start, ev.end) {
                        if start < end {
                            self.mmap(pt, asid, (start, end), ev.populate, stats, fx)?;
                        }
                    }
                }
            }
            EventKind::Mprotect => {
                stats.mprotect_calls += 1;
                let m = self.vma.prot.entry(asid).or_default();
                if ev.prot == Prot::Rw {
                    // Raising rights needs no flush: a stale entry with fewer rights
                    // would only take a spurious fault.
                    m.remove(ev.start, ev.end);
                } else {
                    m.insert(ev.start, ev.end, ev.prot);
                    self.vma.guard_prot = true;
                    self.vma.guard_loads |= ev.prot == Prot::None;
                    self.guard_active = true;
                    // Lowering rights: the TLBs hold the old ones; Linux's
                    // change_protection flushes the range.
                    for (base, size) in self.mapped_in(pt, asid, ev.start, ev.end)? {
                        fx.invalidate(asid, base, size);
                    }
                }
            }
            EventKind::Migrate => {
                stats.migrate_calls += 1;
                let c = self.migrate(pt, asid, ev.start, ev.end, stats, fx)?;
                stats.event_cycles = stats.event_cycles.saturating_add(c);
                fx.cycles = fx.cycles.saturating_add(c);
            }
            EventKind::Fork | EventKind::Exit | EventKind::HostMigrate => {
                return Err(SimError(format!(
                    "internal: {} goes through the engine",
                    ev.kind.name()
                )))
            }
        }
        Ok(())
    }

    /// `mmap` of [start, end) (`MAP_FIXED`, populated when `populate`).
    fn mmap<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        (start, end): (u64, u64),
        populate: bool,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        // MAP_FIXED: what was mapped there goes first.
        let c = self.munmap(pt, asid, start, end, stats, fx)?;
        stats.event_cycles = stats.event_cycles.saturating_add(c);
        fx.cycles = fx.cycles.saturating_add(c);
        let m = self.vma.vmas.entry(asid).or_default();
        m.insert(start, end, ());
        // Regions inside it start afresh (one left in small pages for want of a mapped
        // range may take a huge page now).
        for b in self.huge.forget_inside(asid, start, end) {
            if self.frames.is_reserved(b) {
                self.frames.break_reservation(b);
            }
        }
        if populate {
            let c = self.populate(pt, asid, start, end, stats, fx)?;
            fx.cycles = fx.cycles.saturating_add(c);
        }
        Ok(())
    }

    /// The pages of `asid` mapped in [start, end) (a huge page partly inside counts),
    /// as (base, size).
    pub(super) fn mapped_in<PT: PageTable>(
        &self,
        pt: &PT,
        asid: u16,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, PageSize)>, SimError> {
        if (end - start) / 4096 > 1 << 16 {
            // A long range: what the table lists, not every page of it.
            if let Some(maps) = self.list_mappings(pt, asid) {
                let mut v: Vec<(u64, PageSize)> = maps
                    .into_iter()
                    .filter(|&(b, _, s)| b < end && b + s.bytes() > start)
                    .map(|(b, _, s)| (b, s))
                    .collect();
                v.sort_unstable();
                return Ok(v);
            }
            if (end - start) / 4096 > 1 << 24 {
                return Err(SimError(format!(
                    "an event over {} GiB on a page table that cannot list its mappings: give such events in the workload file ([[event]]), where the OS keeps a log of mappings",
                    (end - start) >> 30
                )));
            }
        }
        let mut v = Vec::new();
        let mut va = start;
        while va < end {
            match pt.translate(asid, VirtAddr(va)) {
                Some(tr) => {
                    let base = va & !(tr.size.bytes() - 1);
                    v.push((base, tr.size));
                    va = base + tr.size.bytes();
                }
                None => va += 4096,
            }
        }
        Ok(v)
    }

    /// `MAP_POPULATE`: faults in every page of [start, end) that is not mapped, as
    /// first touches would (huge pages where the policy takes them). Returns the cycles;
    /// they are not any access's translation, so they leave `fault_cycles`.
    fn populate<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let mut cycles = 0u64;
        let mut va = start;
        while va < end {
            if pt.translate(asid, VirtAddr(va)).is_none() {
                cycles = cycles.saturating_add(self.fault(pt, asid, va, stats, fx)?.0);
                stats.populated_pages += 1;
            }
            let size = pt
                .translate(asid, VirtAddr(va))
                .map_or(PageSize::Size4K, |t| t.size);
            va = (va & !(size.bytes() - 1)) + size.bytes();
        }
        stats.fault_cycles -= cycles;
        stats.event_cycles = stats.event_cycles.saturating_add(cycles);
        Ok(cycles)
    }

    /// `exit()` of `asid`: every page unmapped (frames another process still holds
    /// stay) and everything the OS kept for it dropped. The engine frees its tables and
    /// drops its TLB entries on every core (Linux flushes the whole mm at exit), so no
    /// invalidation is left in `fx`.
    pub fn exit<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        if self.list_mappings(pt, asid).is_none() {
            return Err(SimError(
                "an exit line in a trace needs a radix page table (hashed designs can exit only from a workload file's [[event]], where the OS keeps a log of mappings)".into(),
            ));
        }
        self.munmap(pt, asid, 0, crate::workload::VA_LIMIT, stats, fx)?;
        fx.clear();
        // The segment's frames went with its pages (order-0 blocks each).
        self.drop_segment(asid);
        self.share.cow.remove(&asid);
        self.vma.advised.remove(&asid);
        self.vma.vmas.remove(&asid);
        self.vma.prot.remove(&asid);
        for b in self.huge.exit(asid) {
            if self.frames.is_reserved(b) {
                self.frames.break_reservation(b);
            }
        }
        if let Some(p) = &mut self.paging {
            p.exit(asid);
        }
        if let Some(m) = &mut self.share.mappings {
            m.remove(&asid);
        }
        stats.exits += 1;
        Ok(())
    }

    /// Removes every mapping in [start, end): frames freed (a huge page partly inside
    /// is split and only its pieces inside go), resident-set and swap entries dropped,
    /// region bookkeeping updated, translations queued for invalidation.
    pub(super) fn munmap<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        if self.rmm.is_some() {
            // Ranges over the unmapped pages go; the page invalidations drop the
            // range-TLB entries that covered them.
            self.rmm_unmapped(asid, start, end)?;
        }
        if (end - start) / 4096 <= 1 << 16 {
            return self.munmap_pages(pt, asid, start, end, stats, fx);
        }
        // A long range: visit only what is mapped (and swapped) in it, not every page.
        // Each such page as (base, bytes).
        let mut pages: Vec<(u64, u64)> = (self.mapped_in(pt, asid, start, end)?.into_iter())
            .map(|(b, s)| (b, s.bytes()))
            .collect();
        if let Some(p) = &self.paging {
            pages.extend(p.swapped_in(asid, start, end).map(|b| (b, 4096)));
        }
        pages.sort_unstable();
        pages.dedup();
        let mut cycles = 0u64;
        for (b, n) in pages {
            // The part of the page inside the range (a huge page may stick out on
            // either side: it is split and only that part goes).
            let (s, e) = (b.max(start), (b + n).min(end));
            cycles = cycles.saturating_add(self.munmap_pages(pt, asid, s, e, stats, fx)?);
        }
        Ok(cycles)
    }

    /// [`Os::munmap`] page by page over [start, end).
    fn munmap_pages<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let mut cycles = 0u64;
        let mut va = start;
        while va < end {
            // A page whose reservation is live must not free its frame alone: break the
            // reservation first so every mapped piece is a frame of its own.
            let key = (asid, va >> 21);
            if let Some(b) = self.huge.regions.get(&key).and_then(|r| r.reservation) {
                self.frames.break_reservation(b);
            }
            if let Some(t) = pt.translate(asid, VirtAddr(va)) {
                let base = va & !((2 << 20) - 1);
                if t.size == PageSize::Size2M
                    && (base < start || base + (2 << 20) > end)
                    && !self.share.shared.contains_key(&t.frame.0)
                {
                    // Partly inside: split it, then unmap only the pieces inside
                    // (a 1G page, or a 2M page another process shares, goes whole).
                    cycles = cycles.saturating_add(self.split_huge(pt, asid, base, stats, fx)?);
                }
            }
            let Some(tr) = pt.unmap(asid, VirtAddr(va)) else {
                if let Some(p) = &mut self.paging {
                    // Swapped out: the swap copy goes.
                    p.drop_swapped(asid, va >> 12);
                }
                va += 4096;
                continue;
            };
            let base = va & !(tr.size.bytes() - 1);
            self.log_unmap(asid, base);
            if let Some(c) = self.share.cow.get_mut(&asid) {
                c.remove(&base);
            }
            // A frame a forked child still holds stays allocated.
            if !self.release_share(tr.frame.0) && !self.restseg_free(tr.frame.0, stats) {
                self.frames.free(tr.frame.0, tr.size)?;
            }
            stats.mapped_bytes -= tr.size.bytes() as i64;
            stats.unmapped_pages += 1;
            fx.invalidate(asid, base, tr.size);
            self.note_unmapped(asid, base, tr.size);
            self.huge.unmapped(asid, base, tr.size);
            if let Some(p) = &mut self.paging {
                p.unmapped(asid, base >> 12);
            }
            va = base + tr.size.bytes();
        }
        Ok(cycles)
    }
}
