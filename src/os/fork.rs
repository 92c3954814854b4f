//! fork, copy-on-write and shared frames, and the log of mappings that lets a design
//! which cannot list its mappings (hashed tables) fork, exit and unmap long ranges.
//!
//! Owns which pages are copy-on-write per address space, how many forked holders each
//! shared frame has, and the mapping log. In: a fork from the engine, a store or a
//! forbidden access (`guard_fault`) from the translation path. Out: the copies' cycles
//! and the replaced translations, in [`Effects`].

use super::{Effects, Os, OsStats, Trigger};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::pagetable::PageTable;
use crate::SimError;
use std::collections::HashMap;

/// One address space's mappings: page base -> (frame, size).
type MappingLog = HashMap<u64, (u64, PageSize)>;

/// What forks share.
#[derive(Default)]
pub(super) struct Sharing {
    /// Every mapping per address space (page base -> frame, size), kept only when the
    /// workload has events that must know what is mapped.
    pub(super) mappings: Option<HashMap<u16, MappingLog>>,
    /// Pages of each address space that are copy-on-write (base -> size).
    pub(super) cow: HashMap<u16, HashMap<u64, PageSize>>,
    /// Frames forked children still hold: the number of such holders.
    pub(super) shared: HashMap<u64, u32>,
    /// Frames of the children's copied page tables.
    child_tables: u64,
}

impl Os {
    /// Keeps a log of every mapping from now on (the workload has fork events).
    pub fn log_mappings(&mut self) {
        self.share.mappings.get_or_insert_with(HashMap::new);
    }

    /// Every mapping of `asid` as (page base, frame, size): from the table if it can
    /// list them (radix), else from the OS's log; `None` when neither can.
    pub(super) fn list_mappings<PT: PageTable>(
        &self,
        pt: &PT,
        asid: u16,
    ) -> Option<Vec<(u64, u64, PageSize)>> {
        let typed = pt.mappings(asid);
        let listed = typed.map(|m| m.into_iter().map(|(b, f, s)| (b.0, f.0, s)).collect());
        listed.or_else(|| {
            let m = self.share.mappings.as_ref()?;
            let mut v: Vec<_> = m.get(&asid).map_or_else(Vec::new, |a| {
                a.iter().map(|(&b, &(f, s))| (b, f, s)).collect()
            });
            // In address order: the map's own order changes from process to process
            // (its hasher is seeded at random), and a design that places entries by
            // insertion order (cuckoo's kicks) must see the same order in every run.
            v.sort_unstable_by_key(|m| m.0);
            Some(v)
        })
    }

    /// One holder of `frame` lets go: true if a forked child still had a share in it
    /// (then the frame stays allocated), false if it was not shared.
    pub(super) fn release_share(&mut self, frame: u64) -> bool {
        match self.share.shared.get_mut(&frame) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.share.shared.remove(&frame);
                }
                true
            }
            None => false,
        }
    }

    pub(super) fn log_map(&mut self, asid: u16, base: u64, frame: u64, size: PageSize) {
        if let Some(m) = &mut self.share.mappings {
            m.entry(asid).or_default().insert(base, (frame, size));
        }
    }

    pub(super) fn log_unmap(&mut self, asid: u16, base: u64) {
        if let Some(m) = &mut self.share.mappings {
            if let Some(a) = m.get_mut(&asid) {
                a.remove(&base);
            }
        }
    }

    /// Pages (frames) more than one process still holds, each counted once, and the
    /// frames of the forked children's page tables (as of their forks).
    pub fn sharing(&self) -> (u64, u64) {
        (self.share.shared.len() as u64, self.share.child_tables)
    }

    /// `fork()` of `parent`: the child `child` maps every page of the parent to the same
    /// frame, in `child_pt` (its own table) or, for a design with one table for all,
    /// in `pt`; the pages of both become copy-on-write and each frame gains a holder.
    /// The child inherits advice, mapped ranges and rights. The parent's TLB and walk
    /// cache entries go on every core that runs it (`fx.flush_space`: Linux
    /// write-protects the PTEs and flushes the mm at fork).
    pub fn fork<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        mut child_pt: Option<&mut PT>,
        (parent, child): (u16, u16),
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        self.segment_fork(parent)?;
        self.rmm_fork(parent)?;
        self.restseg_fork(parent)?;
        if self.paging.is_some() {
            return Err(SimError(
                "a fork event with os.paging.replacement: swapping shared pages is not modelled yet".into(),
            ));
        }
        // The table lists its mappings (radix), or the OS kept a log of them (hashed
        // designs, when the workload file announces its forks).
        let maps = self.list_mappings(pt, parent).ok_or_else(|| {
            SimError(
                "a fork line in a trace needs a radix page table (hashed designs can fork only from a workload file's [[event]])".into(),
            )
        })?;
        fx.trigger = Trigger::Fork;
        let mut child_cow = HashMap::new();
        for (base, frame, size) in maps {
            self.share.cow.entry(parent).or_default().insert(base, size);
            *self.share.shared.entry(frame).or_insert(0) += 1;
            if !PT::ALIASES {
                // The child holds the frame without a mapping of its own.
                continue;
            }
            child_cow.insert(base, size);
            let target = match child_pt.as_deref_mut() {
                Some(c) => c,
                None => &mut *pt,
            };
            let o = target.map(
                child,
                VirtAddr(base),
                size,
                PhysAddr(frame),
                &mut self.frames,
            )?;
            self.log_map(child, base, frame, size);
            self.note_mapped(child, base, size);
            // A global hashed table made room for the child's entry.
            fx.evicted(&o, stats);
        }
        self.share.cow.insert(child, child_cow);
        if let Some(c) = &child_pt {
            self.share.child_tables += c.table_bytes().div_ceil(4096);
        }
        self.huge.fork(parent, child);
        self.vma.fork(parent, child);
        self.guard_active = true;
        fx.flush_space = true;
        stats.fork_calls += 1;
        Ok(())
    }

    /// Before an access by `asid` to `vaddr` while some page is copy-on-write or
    /// protected: a protection fault if an `mprotect` forbade the access (the handler
    /// then opens the page read-write, as a write-tracking handler does), then, for a
    /// store to a copy-on-write page, its copy. Fills `fx` with the cycles (0 if it did
    /// not trap) and the translations it replaced.
    pub fn guard_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: VirtAddr,
        store: bool,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        let vaddr = vaddr.0;
        fx.trigger = Trigger::Cow;
        if self.vma.protection_trap(asid, vaddr, store) {
            let c = self.costs.protection_fault;
            stats.protection_faults += 1;
            stats.fault_cycles = stats.fault_cycles.saturating_add(c);
            fx.cycles = fx.cycles.saturating_add(c);
        }
        let cow = self.share.cow.get(&asid).is_some_and(|c| !c.is_empty());
        if store && self.huge.demote && cow {
            // A copy needs a frame: make room first if memory is short.
            let c = self.demote_for_memory(pt, asid, stats, fx)?;
            stats.fault_cycles = stats.fault_cycles.saturating_add(c);
            fx.cycles = fx.cycles.saturating_add(c);
        }
        if store {
            fx.cycles = fx
                .cycles
                .saturating_add(self.cow_fault(pt, asid, vaddr, stats, fx)?);
        }
        Ok(())
    }

    /// A store by `asid` to `vaddr`: if its page is copy-on-write and another process
    /// still holds the frame, copy it into a new frame and remap it (the old frame stays
    /// with the others) and queue the old translation for invalidation; if nobody else
    /// holds it any more, make it writable where it is. Returns the cycles.
    fn cow_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<u64, SimError> {
        let Some(c) = self.share.cow.get_mut(&asid) else {
            return Ok(0);
        };
        let Some((base, size)) = PageSize::ALL.iter().find_map(|&s| {
            let b = vaddr & !(s.bytes() - 1);
            (c.get(&b) == Some(&s)).then_some((b, s))
        }) else {
            return Ok(0);
        };
        c.remove(&base);
        if pt.translate(asid, VirtAddr(base)).is_none() {
            // A hashed design evicted the translation: put it back first.
            if let Some(o) = pt.restore(asid, VirtAddr(base), &mut self.frames)? {
                fx.evicted(&o, stats);
            }
        }
        let old = pt
            .translate(asid, VirtAddr(base))
            .ok_or_else(|| SimError(format!("internal: shared page {base:#x} is not mapped")))?;
        if !self.share.shared.contains_key(&old.frame.0) {
            // The last holder: the page becomes writable in place.
            let cycles = self.costs.minor_fault;
            stats.cow_reuses += 1;
            stats.fault_cycles = stats.fault_cycles.saturating_add(cycles);
            return Ok(cycles);
        }
        pt.unmap(asid, VirtAddr(base));
        // The old frame stays with the other holders.
        self.release_share(old.frame.0);
        let new = match size {
            PageSize::Size4K => self.frames.alloc(size)?,
            _ => self.frames.try_alloc(size).ok_or_else(|| {
                SimError(format!(
                    "copy-on-write of the {size} page at {base:#x} found no free {size} block ({} MiB free in smaller blocks); splitting a shared huge page is not modelled: raise os.phys_mem or lower os.fragmentation",
                    self.frames.free_bytes() >> 20
                ))
            })?,
        };
        self.remap(pt, asid, (base, size), new, stats, fx)?;
        let cycles = self.costs.minor_fault + size.bytes() / 4096 * self.costs.cow_copy_4k;
        stats.cow_faults += 1;
        stats.cow_copied_bytes += size.bytes();
        stats.fault_cycles = stats.fault_cycles.saturating_add(cycles);
        Ok(cycles)
    }

    /// Maps the page of `asid` at `base` (just unmapped) to frame `new` and queues its
    /// old translation, and any the design evicted to make room, for invalidation.
    pub(super) fn remap<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        (base, size): (u64, PageSize),
        new: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        let o = pt.map(asid, VirtAddr(base), size, PhysAddr(new), &mut self.frames)?;
        self.log_map(asid, base, new, size);
        fx.invalidate(asid, base, size);
        fx.evicted(&o, stats);
        Ok(())
    }
}
