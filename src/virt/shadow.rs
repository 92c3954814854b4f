//! Shadow paging (`virt.mode = "shadow"`, issue 18 item 6): the hypervisor keeps, per
//! guest address space, a shadow table mapping gVA → hPA directly, which the hardware
//! walks one-dimensionally with the native walker and walk caches; the guest's own
//! table (gVA → gPA) is never walked by hardware, only read by the hypervisor in
//! software.
//!
//! The model (KVM's shadow MMU, `arch/x86/kvm/mmu/paging_tmpl.h`, in outline):
//! - A shadow table is a radix table with the guest's levels (4-level when the guest's
//!   design is not radix), its pages allocated from the hypervisor's frame allocator
//!   (host memory), built at the address space's first TLB miss (KVM builds the
//!   shadow root when the guest loads CR3).
//! - A walk that meets a not-present shadow entry raises a #PF that the hypervisor
//!   intercepts: a VM exit ([`ShadowExits::pf_intercept`]). It reads the guest's table
//!   in software. If the guest maps the gVA (a *hidden* fault) it backs the gPA with a
//!   host frame if the host has not yet (a host fault, inside the same exit: KVM faults
//!   the host page in while it handles the intercept, no second exit) and fills the
//!   shadow entry with the smaller of the guest's and the host's page (a shadow entry
//!   cannot map more than either level maps contiguously). Cost: the exit, the
//!   hypervisor's fill (`virt.shadow_fill_cycles`) and the host fault, if any.
//! - If the guest does not map it, the #PF is injected and the guest OS handles it as
//!   natively. Its write of the new entry lands in a guest table the hypervisor has
//!   shadowed, which it keeps write-protected, so the write traps
//!   ([`ShadowExits::pt_write`]): an exit and a shadow update
//!   (`virt.shadow_update_cycles`) that fills the shadow entry from the new guest entry
//!   (backing the gPA if needed). One trapped write per guest fault: the guest's new
//!   lower tables are not shadowed yet, so only the write into the deepest existing
//!   table traps.
//! - Every translation the guest OS removes or replaces (`Effects::invalidate`: munmap,
//!   mprotect, COW, migration, huge-page collapse and split, a hashed design's
//!   eviction) is a guest page-table write: an exit and a shadow update per page, and
//!   the shadow entries under the page go. A flush of the whole address space (a fork
//!   write-protecting every page) drops every entry of the address space's shadow
//!   table, an exit and an update each. New mappings made outside a fault (a
//!   populating mmap) do not trap: they land in tables not yet shadowed or in entries
//!   the hypervisor fills lazily, as hidden faults.
//! - A guest context switch writes CR3, which traps ([`ShadowExits::cr3_write`]): an
//!   exit, charged to the switch (the shadow roots stay cached, as KVM's do).
//!
//! In: shadow misses, guest faults and the guest OS's effects from `sim` (the shadow
//! walk in `sim/shadow.rs`; effects in `sim::shootdown::apply`, the one place they reach
//! the cores). Out: the shadow tables the walker walks, the cycles of each exit and
//! update, and [`ShadowStats`] in the core's [`VirtStats`].

use super::hypervisor::{Hypervisor, VirtStats};
use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::os::Effects;
use crate::pagetable::{Mappable, Radix};
use crate::SimError;
use serde::Serialize;

/// The shadow tables and their costs.
pub struct Shadow {
    /// Index bits per level of every shadow table, top level first.
    bits: Vec<u32>,
    /// The shadow table of address space `asid` at index `asid` (built at its first miss).
    tables: Vec<Option<Radix>>,
    fill_cycles: u64,
    update_cycles: u64,
    /// A fill mapped a huge entry over an emptied table and freed it: walk caches that
    /// hold the table are stale (see [`Hypervisor::shadow_freed_tables`]).
    freed_tables: bool,
}

/// A core's shadow-paging counters. The exits' cycles on the translation path are in
/// [`VirtStats::exit_cycles`], the host faults' in [`VirtStats::host_fault_cycles`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShadowStats {
    /// VM exits by cause, in every context.
    pub exits: ShadowExits,
    /// Hidden faults: shadow misses the guest's table mapped, filled by the hypervisor.
    pub fills: u64,
    /// Trapped guest page-table writes the hypervisor applied to the shadow tables
    /// (after a guest fault, and per page an effect removed), in every context.
    pub updates: u64,
    /// Host faults backing guest-physical pages during fills and updates.
    pub host_faults: u64,
    /// Cycles of the hypervisor's fills and updates on the translation path, besides
    /// their exits and host faults.
    pub work_cycles: u64,
    /// Trapped page-table writes of the guest OS's work outside a translation (events:
    /// munmap, mprotect, migrate; fork), and their cycles (exits and updates), which
    /// are the core's time, not translation.
    pub event_pt_writes: u64,
    pub event_cycles: u64,
    /// Cycles of the CR3-write exits, charged to the context switches.
    pub cr3_cycles: u64,
}

/// Shadow paging's VM exits by cause.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ShadowExits {
    /// A walk met a not-present shadow entry (the #PF intercept).
    pub pf_intercept: u64,
    /// A guest page-table write to a write-protected (shadowed) guest table.
    pub pt_write: u64,
    /// A guest context switch's CR3 write.
    pub cr3_write: u64,
}

impl ShadowStats {
    pub fn add(&mut self, o: &ShadowStats) {
        self.exits.pf_intercept += o.exits.pf_intercept;
        self.exits.pt_write += o.exits.pt_write;
        self.exits.cr3_write += o.exits.cr3_write;
        self.fills += o.fills;
        self.updates += o.updates;
        self.host_faults += o.host_faults;
        self.work_cycles += o.work_cycles;
        self.event_pt_writes += o.event_pt_writes;
        self.event_cycles += o.event_cycles;
        self.cr3_cycles += o.cr3_cycles;
    }

    /// Nothing counted (a nested or native run: the report leaves it out).
    pub fn is_zero(&self) -> bool {
        *self == ShadowStats::default()
    }
}

/// What the hypervisor found at a #PF intercept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intercept {
    /// A hidden fault: the shadow entry is filled; the access walks again.
    Filled { cycles: u64 },
    /// The guest does not map the gVA: the #PF goes to the guest OS.
    Inject { cycles: u64 },
}

impl Shadow {
    /// Shadow tables with `bits` per level (the guest's radix levels; empty: a 4-level
    /// table, or 5-level for a guest of more than 48 virtual-address bits).
    pub fn new(bits: Vec<u32>, guest_va_bits: u32, fill_cycles: u64, update_cycles: u64) -> Shadow {
        let bits = if bits.is_empty() {
            vec![9; if guest_va_bits > 48 { 5 } else { 4 }]
        } else {
            bits
        };
        Shadow {
            bits,
            tables: Vec::new(),
            fill_cycles,
            update_cycles,
            freed_tables: false,
        }
    }
}

impl Hypervisor {
    /// Whether this machine runs shadow paging.
    #[inline(always)]
    pub fn shadow_mode(&self) -> bool {
        self.shadow.is_some()
    }

    /// Address space `asid`'s shadow table, built (its root page in host memory) at
    /// the first call.
    pub fn shadow_table(&mut self, asid: u16) -> Result<&Radix, SimError> {
        let sh = self.shadow.as_mut().expect("a shadow-paging machine");
        let i = asid as usize;
        if sh.tables.len() <= i {
            sh.tables.resize_with(i + 1, || None);
        }
        if sh.tables[i].is_none() {
            sh.tables[i] = Some(Radix::new(&sh.bits, &mut self.os.frames)?);
        }
        Ok(sh.tables[i].as_ref().expect("just built"))
    }

    /// The #PF intercept of a shadow walk that missed at `va` of `asid`: an exit; then
    /// a fill if the guest maps `va` (reading `guest` in software), or an injection.
    pub fn shadow_intercept<PT: Mappable>(
        &mut self,
        guest: &PT,
        asid: u16,
        va: VirtAddr,
        stats: &mut VirtStats,
    ) -> Result<Intercept, SimError> {
        stats.shadow.exits.pf_intercept += 1;
        stats.exit_cycles += self.exit_cycles;
        let mut cycles = self.exit_cycles;
        if guest.translate(asid, va).is_none() {
            return Ok(Intercept::Inject { cycles });
        }
        let fill = self.shadow.as_ref().map_or(0, |s| s.fill_cycles);
        cycles += fill + self.shadow_fill(guest, asid, va, stats)?;
        stats.shadow.fills += 1;
        stats.shadow.work_cycles += fill;
        Ok(Intercept::Filled { cycles })
    }

    /// The guest fault's write of its new entry for `va` traps: an exit and a shadow
    /// update filling the shadow entry from it. Returns the cycles (exit, update, host
    /// fault if any).
    pub fn shadow_guest_write<PT: Mappable>(
        &mut self,
        guest: &PT,
        asid: u16,
        va: VirtAddr,
        stats: &mut VirtStats,
    ) -> Result<u64, SimError> {
        let update = self.shadow.as_ref().map_or(0, |s| s.update_cycles);
        stats.shadow.exits.pt_write += 1;
        stats.shadow.updates += 1;
        stats.exit_cycles += self.exit_cycles;
        stats.shadow.work_cycles += update;
        let host = self.shadow_fill(guest, asid, va, stats)?;
        Ok(self.exit_cycles + update + host)
    }

    /// Fills the shadow entry of `va` from the guest's translation (which must exist),
    /// backing its gPA if the host has not; returns the host fault's cycles (0 if none).
    fn shadow_fill<PT: Mappable>(
        &mut self,
        guest: &PT,
        asid: u16,
        va: VirtAddr,
        stats: &mut VirtStats,
    ) -> Result<u64, SimError> {
        let g = (guest.translate(asid, va)).ok_or_else(|| {
            SimError(format!(
                "{va:#x}: shadow fill of an address the guest does not map"
            ))
        })?;
        let gpa = GuestPhysAddr(g.frame.0 + va.offset(g.size));
        let vm = self.vm_of(asid);
        let (h, host_cycles) = match self.translate(vm, gpa) {
            Some(h) => (h, 0),
            None => {
                let (c, changed) = self.back_gpa(vm, gpa)?;
                if changed {
                    // Refused by the config's validation (host `promote`/`reserve` with
                    // shadow paging): the shadow entries over the old host pages would
                    // have to go too.
                    return Err(SimError(format!(
                        "internal: the host's fault at guest-physical {:#x} changed host translations under shadow paging",
                        gpa.0
                    )));
                }
                stats.shadow.host_faults += 1;
                stats.host_fault_cycles += c;
                let h = (self.translate(vm, gpa)).ok_or_else(|| {
                    SimError(format!(
                        "guest-physical {:#x} not backed after its host fault",
                        gpa.0
                    ))
                })?;
                (h, c)
            }
        };
        let size = g.size.min(h.size);
        let hpa = (h.frame.0 + gpa.offset(h.size)) & !(size.bytes() - 1);
        self.shadow_table(asid)?;
        let sh = self.shadow.as_mut().expect("a shadow-paging machine");
        let table = sh.tables[asid as usize].as_mut().expect("built above");
        let to = (va.align_down(size), PhysAddr(hpa));
        let out = table.map(asid, to.0, size, to.1, &mut self.os.frames)?;
        sh.freed_tables |= out.freed_tables;
        Ok(host_cycles)
    }

    /// The guest OS's effects `fx` of address space `running` reach the shadow tables:
    /// each removed translation is a trapped page-table write (an exit and an update,
    /// its shadow entries dropped); a flush of the address space drops every entry of its
    /// shadow table (an exit and an update per entry; its table pages stay, as a
    /// munmap's do). `translation`: the effects come from a fault
    /// on the translation path (cycles counted as translation) rather than an event.
    /// Returns the cycles; 0 on a machine without shadow paging.
    pub fn shadow_sync(
        &mut self,
        running: u16,
        fx: &Effects,
        stats: &mut VirtStats,
        translation: bool,
    ) -> u64 {
        let Some(sh) = self.shadow.as_mut() else {
            return 0;
        };
        let mut writes = 0u64;
        for e in &fx.invalidate {
            if let Some(Some(t)) = sh.tables.get_mut(e.asid as usize) {
                drop_range(t, e.asid, e.vaddr, e.size);
            }
            writes += 1;
        }
        if fx.flush_space {
            if let Some(Some(t)) = sh.tables.get_mut(running as usize) {
                for (va, _, _) in t.mappings(running).unwrap_or_default() {
                    t.unmap(running, va);
                    writes += 1;
                }
            }
        }
        let (exit, update) = (writes * self.exit_cycles, writes * sh.update_cycles);
        let s = &mut stats.shadow;
        s.exits.pt_write += writes;
        s.updates += writes;
        if translation {
            stats.exit_cycles += exit;
            s.work_cycles += update;
        } else {
            s.event_pt_writes += writes;
            s.event_cycles += exit + update;
        }
        exit + update
    }

    /// Whether a fill since the last call freed a shadow table (a huge entry replacing
    /// a table the guest's collapse emptied): every core's walk caches may point at it,
    /// so the caller flushes the address space from them, as KVM flushes remote TLBs
    /// when it zaps a shadow page.
    pub fn shadow_freed_tables(&mut self) -> bool {
        self.shadow
            .as_mut()
            .is_some_and(|s| std::mem::take(&mut s.freed_tables))
    }

    /// A guest CR3 write (a switch between address spaces) traps: returns its exit's
    /// cycles, for the switch (0 without shadow paging).
    pub fn shadow_cr3_write(&self, stats: &mut VirtStats) -> u64 {
        if self.shadow.is_none() {
            return 0;
        }
        stats.shadow.exits.cr3_write += 1;
        stats.shadow.cr3_cycles += self.exit_cycles;
        self.exit_cycles
    }

    /// Address space `asid` exited: its shadow table's pages go back to the host.
    pub fn shadow_release(&mut self, asid: u16) -> Result<(), SimError> {
        if let Some(sh) = self.shadow.as_mut() {
            if let Some(slot) = sh.tables.get_mut(asid as usize) {
                if let Some(mut t) = slot.take() {
                    // Its entries go first: a table is released empty (the guest's
                    // exit unmapped its pages; the shadow entries over them are the
                    // hypervisor's to drop, no trapped write: the CR3 is gone).
                    for (va, _, _) in t.mappings(asid).unwrap_or_default() {
                        t.unmap(asid, va);
                    }
                    t.release_space(&mut self.os.frames)?;
                }
            }
        }
        Ok(())
    }

    /// Bytes of the shadow tables (`None` without shadow paging).
    pub fn shadow_table_bytes(&self) -> Option<u64> {
        let sh = self.shadow.as_ref()?;
        Some(sh.tables.iter().flatten().map(|t| t.table_bytes()).sum())
    }
}

/// Drops every shadow entry inside the guest page `[va, va + size)`: one entry of the
/// page's size, or the smaller ones a splintered page was shadowed with.
fn drop_range(t: &mut Radix, asid: u16, va: VirtAddr, size: PageSize) {
    let (mut a, end) = (va.0, va.0 + size.bytes());
    while a < end {
        a = match t.unmap(asid, VirtAddr(a)) {
            Some(tr) => (a & !(tr.size.bytes() - 1)) + tr.size.bytes(),
            None => a + PageSize::Size4K.bytes(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::drop_range;
    use crate::addr::{PageSize, PhysAddr, VirtAddr};
    use crate::config::FrameAlloc;
    use crate::os::frames::FrameAllocator;
    use crate::pagetable::{Mappable, Radix};

    /// A guest 2M page backed by 4K host pages is shadowed by 4K entries (the smaller
    /// page); the guest's invalidation of the 2M page must drop every one of them and
    /// nothing outside it. Entries at the 2M page's first, second and last 4K and one
    /// just past its end (page 512): the three go, page 512 stays.
    #[test]
    fn dropping_a_guest_huge_page_drops_every_splintered_shadow_entry_under_it() {
        let mut frames = FrameAllocator::new(64 << 20, FrameAlloc::Sequential, 0);
        let mut t = Radix::new(&[9, 9, 9, 9], &mut frames).unwrap();
        let base = 2u64 << 20; // the guest's 2M page at gVA 2 MiB
        for (i, page) in [0u64, 1, 511, 512].into_iter().enumerate() {
            let va = VirtAddr(base + page * 4096);
            let hpa = PhysAddr((32 << 20) + i as u64 * 4096);
            t.map(1, va, PageSize::Size4K, hpa, &mut frames).unwrap();
        }
        drop_range(&mut t, 1, VirtAddr(base), PageSize::Size2M);
        for page in [0u64, 1, 511] {
            assert_eq!(
                t.translate(1, VirtAddr(base + page * 4096)),
                None,
                "page {page}"
            );
        }
        let kept = t
            .translate(1, VirtAddr(base + 512 * 4096))
            .expect("page 512 stays");
        assert_eq!(kept.frame, PhysAddr((32 << 20) + 3 * 4096));
    }

    /// A shadow entry of the guest page's own size (2M on both sides) goes in one
    /// unmap, and the 4K entry in the next 2M region stays.
    #[test]
    fn dropping_a_huge_page_shadowed_whole_drops_that_one_entry() {
        let mut frames = FrameAllocator::new(64 << 20, FrameAlloc::Sequential, 0);
        let mut t = Radix::new(&[9, 9, 9, 9], &mut frames).unwrap();
        let (base, next) = (VirtAddr(2 << 20), VirtAddr(4 << 20));
        t.map(1, base, PageSize::Size2M, PhysAddr(32 << 20), &mut frames)
            .unwrap();
        t.map(1, next, PageSize::Size4K, PhysAddr(48 << 20), &mut frames)
            .unwrap();
        drop_range(&mut t, 1, base, PageSize::Size2M);
        assert_eq!(t.translate(1, VirtAddr(base.0 + 4096)), None);
        assert!(t.translate(1, next).is_some());
    }
}
