//! The hypervisor's OS model: it owns host-physical memory and each VM's host table, and
//! backs guest-physical memory with host frames on demand.
//!
//! It is the same OS model as the guest's ([`Os`]: a buddy allocator, optionally
//! pre-fragmented, the huge-page policy, fault costs), run over the host table with the
//! VM as its address space and guest-physical addresses as the "virtual" ones: a first
//! touch of a guest-physical page (an EPT violation) maps it at the host's page size
//! (host THP), exactly as a native first touch maps a virtual page.
//!
//! On a shadow-paging machine it also keeps the shadow tables (`shadow.rs`, its own
//! `impl Hypervisor` block), backing gPAs with the same host fault but no EPT exit.
//!
//! The host backs a guest-physical page when the guest first touches it: at a guest
//! fault, the pages its handler wrote or zeroed ([`Hypervisor::back_guest_fault`]); at a
//! populating `mmap`, the range and the tables the guest wrote on the way
//! ([`Hypervisor::back_guest_range`]); at a fork, the child's tables
//! ([`Hypervisor::back_forked_tables`]); otherwise at the walk that reaches it (an EPT
//! violation the walker reports). Backing tables where the guest writes them matters
//! beyond the exits: the host allocates its frames in that order, and which host frames
//! its own tables get decides their cache sets (docs/VIRTUALIZATION.md, "Known
//! approximations").
//!
//! In: an EPT violation (VM, gPA) from the walker. Out: what it cost ([`HostFault`]: the
//! VM exit round trip and the host fault), counted by cause in the core's
//! [`VirtStats`]. A host fault that changed existing host translations (a host THP
//! collapse under `promote` or `reserve`) asks for a host-initiated flush
//! ([`HostFault::flush`]): the engine drops the VM's cached translations on every vCPU.

use super::host::HostTable;
use super::shadow::{Shadow, ShadowStats};
use crate::addr::{GuestPhysAddr, VirtAddr};
use crate::config::VirtConfig;
use crate::os::{Effects, Os, OsStats};
use crate::pagetable::{Mappable, Translation};
use crate::SimError;
use serde::Serialize;

/// A core's counters of the hypervisor's work and of the guest's translations it
/// shapes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VirtStats {
    /// VM exits on the translation path, by cause (EPT violations; shadow paging's in
    /// `shadow`). Exits elsewhere are counted apart: a populating event's in
    /// `event_ept_violations`, virtual IPIs' in `vipi_*`, host kicks in `host_kicks`.
    pub exits: ExitCounts,
    /// Cycles of the exits' round trips (`virt.exit_cycles` each).
    pub exit_cycles: u64,
    /// Cycles of the host's fault handling (allocating, zeroing and mapping host
    /// frames), besides the exits.
    pub host_fault_cycles: u64,
    /// EPT violations of the guest OS's own work outside any access's translation: a
    /// populating `mmap` zeroes each page it maps, which touches it (an exit and a host
    /// fault each, at the event), and their cycles (exits and host faults).
    pub event_ept_violations: u64,
    pub event_cycles: u64,
    /// Times the host preempted this vCPU, and the cycles it spent preempted (its clock
    /// runs on: they are part of its cycles, not of any access's translation).
    pub preemptions: u64,
    pub preempted_cycles: u64,
    /// Guest shootdowns this vCPU started, their VM exits by cause (its ICR writes or
    /// send-IPI hypercalls; flush hypercalls), and, on this vCPU as a target, the kicks
    /// out of the guest it took and the flushes applied at its next entry.
    pub vipi_shootdowns: u64,
    pub vipi_send_exits: u64,
    pub vipi_hypercall_exits: u64,
    pub vipi_kicks: u64,
    pub vipi_entry_flushes: u64,
    /// EPT violations (among `exits.ept_violation`) on a gPA the host had mapped: the
    /// walk used host caches a host change had made stale, before the flush came.
    pub spurious_ept_violations: u64,
    /// Flushes of this vCPU's guest TLB entries and walk caches for want of a VPID: at
    /// every VM exit with `virt.vpids = 0`, at a resume after preemption when its
    /// core's host threads outnumber the VPIDs, at a VM switch to a VM whose VPID on
    /// this core was given to another (several VMs).
    pub vpid_flushes: u64,
    /// Several VMs: this core's switches between vCPUs of different VMs (a VM exit and
    /// the host's switch each, `virt.exit_cycles + virt.host_sched.switch_cycles`, in
    /// place of the guest's context switch), and their cycles (core time, not
    /// translation). Left out of one-VM runs' reports.
    #[serde(skip_serializing_if = "is_zero")]
    pub vm_switches: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub vm_switch_cycles: u64,
    /// Host pages the host migrated under this vCPU's `host_migrate` events (their
    /// exits and copies are in `event_cycles`; the flush they cause in `host_flushes`).
    /// Left out of reports without any.
    #[serde(skip_serializing_if = "is_zero")]
    pub host_migrations: u64,
    /// Host-initiated flushes this vCPU's EPT violations started (one per access whose
    /// host faults changed host translations, however many did) (a host THP collapse
    /// changed the VM's host table), and the cycles it waited for the other vCPUs.
    pub host_flushes: u64,
    pub host_flush_cycles: u64,
    /// Host-initiated flushes this vCPU took from the others' faults, their cycles
    /// (its exit, flush and entry when kicked; the flush at entry when preempted), and
    /// the kicks among them (each a VM exit).
    pub host_flushes_taken: u64,
    pub host_flush_remote_cycles: u64,
    pub host_kicks: u64,
    /// TLB fills of a gVA → hPA translation whose host page is smaller than the guest's
    /// (a guest huge page splintered into host pages: the TLB holds the smaller one).
    pub splintered_fills: u64,
    /// TLB fills after a nested walk (every TLB-missing access that completed).
    pub nested_fills: u64,
    /// Shadow paging's exits, fills and updates (left out of nested runs' reports).
    #[serde(skip_serializing_if = "ShadowStats::is_zero")]
    pub shadow: ShadowStats,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// VM exits by cause.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExitCounts {
    /// The host table did not map a guest-physical address (a first touch).
    pub ept_violation: u64,
}

impl VirtStats {
    pub fn add(&mut self, o: &VirtStats) {
        self.exits.ept_violation += o.exits.ept_violation;
        self.exit_cycles += o.exit_cycles;
        self.host_fault_cycles += o.host_fault_cycles;
        self.event_ept_violations += o.event_ept_violations;
        self.event_cycles += o.event_cycles;
        self.preemptions += o.preemptions;
        self.preempted_cycles += o.preempted_cycles;
        self.vipi_shootdowns += o.vipi_shootdowns;
        self.vipi_send_exits += o.vipi_send_exits;
        self.vipi_hypercall_exits += o.vipi_hypercall_exits;
        self.vipi_kicks += o.vipi_kicks;
        self.vipi_entry_flushes += o.vipi_entry_flushes;
        self.spurious_ept_violations += o.spurious_ept_violations;
        self.vpid_flushes += o.vpid_flushes;
        self.vm_switches += o.vm_switches;
        self.vm_switch_cycles += o.vm_switch_cycles;
        self.host_migrations += o.host_migrations;
        self.host_flushes += o.host_flushes;
        self.host_flushes_taken += o.host_flushes_taken;
        self.host_flush_remote_cycles += o.host_flush_remote_cycles;
        self.host_kicks += o.host_kicks;
        self.host_flush_cycles += o.host_flush_cycles;
        self.splintered_fills += o.splintered_fills;
        self.nested_fills += o.nested_fills;
        self.shadow.add(&o.shadow);
    }
}

/// What backing guest-physical pages took: cycles, whether a host translation changed
/// (a host-initiated flush is due), EPT violations.
#[derive(Clone, Copy, Default)]
struct Backed {
    cycles: u64,
    flush: bool,
    violations: u64,
}

impl Backed {
    fn add(&mut self, o: Backed) {
        self.cycles = self.cycles.saturating_add(o.cycles);
        self.flush |= o.flush;
        self.violations += o.violations;
    }

    /// Counted as an event's work in `stats`: the cycles, and whether a flush is due.
    fn as_event(self, stats: &mut VirtStats) -> (u64, bool) {
        stats.event_ept_violations += self.violations;
        stats.event_cycles = stats.event_cycles.saturating_add(self.cycles);
        (self.cycles, self.flush)
    }
}

/// What handling an EPT violation cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostFault {
    pub exit_cycles: u64,
    pub host_cycles: u64,
    /// The fault changed existing host translations: the VM's cached ones must go on
    /// every vCPU (a host-initiated flush).
    pub flush: bool,
    /// The host table mapped the gPA already: the walk went through stale host caches.
    pub spurious: bool,
}

impl HostFault {
    pub fn cycles(&self) -> u64 {
        self.exit_cycles + self.host_cycles
    }
}

/// The hypervisor of a machine with one or more VMs (ids 1 to `virt.vms`).
pub struct Hypervisor {
    /// The host's OS over host-physical memory; VM v is its address space v.
    pub os: Os,
    /// Host table of VM i + 1.
    tables: Vec<HostTable>,
    /// The VM of each guest address space (by address-space id; 0: none yet), and each
    /// VM's live address spaces, sorted (VM i + 1's at i; an exited one leaves), shared
    /// with the flushes of one VM's translations queued on other cores.
    vm_of: Vec<u16>,
    asids: Vec<std::sync::Arc<[u16]>>,
    fx: Effects,
    pub(super) exit_cycles: u64,
    host_switch_cycles: u64,
    /// The shadow tables, on a shadow-paging machine (`virt.mode = "shadow"`).
    pub(super) shadow: Option<Shadow>,
    /// The host OS's counters (its minor faults are the VM's host faults).
    pub host_stats: OsStats,
    /// A host-initiated flush waits for the engine to reach the other vCPUs.
    pub flush_pending: bool,
    /// The guest walk's steps, reused by [`Hypervisor::back_guest_fault`].
    steps: Vec<crate::pagetable::WalkStep>,
}

/// The first VM (the only one of a one-VM machine).
pub const VM: u16 = 1;

impl Hypervisor {
    pub fn new(cfg: &VirtConfig, seed: u64) -> Result<Hypervisor, SimError> {
        let mut os = Os::new(&cfg.host, seed);
        let vms = cfg.vms.max(1) as usize;
        let mut tables = Vec::with_capacity(vms);
        for _ in 0..vms {
            tables.push(HostTable::new(&cfg.host_table, &cfg.host, &mut os.frames)?);
        }
        Ok(Hypervisor {
            os,
            tables,
            vm_of: Vec::new(),
            asids: vec![std::sync::Arc::from([]); vms],
            fx: Effects::default(),
            exit_cycles: cfg.exit_cycles,
            host_switch_cycles: cfg.host_sched.switch_cycles,
            shadow: None,
            host_stats: OsStats::default(),
            flush_pending: false,
            steps: Vec::with_capacity(16),
        })
    }

    /// Cycles of a VM exit's round trip, and of the host's switch between two vCPUs.
    pub fn exit_cycles(&self) -> u64 {
        self.exit_cycles
    }
    pub fn host_switch_cycles(&self) -> u64 {
        self.host_switch_cycles
    }

    /// Virtual machines.
    pub fn vms(&self) -> usize {
        self.tables.len()
    }

    /// Guest address space `asid` belongs to VM `vm` (at its creation: a process at the
    /// start, a forked child).
    pub fn assign(&mut self, asid: u16, vm: u16) {
        let i = asid as usize;
        if self.vm_of.len() <= i {
            self.vm_of.resize(i + 1, 0);
        }
        self.vm_of[i] = vm;
        let list = &mut self.asids[vm as usize - 1];
        let mut v = list.to_vec();
        if let Err(at) = v.binary_search(&asid) {
            v.insert(at, asid);
        }
        *list = v.into();
    }

    /// Guest address space `asid` exited: its VM's flushes no longer visit it.
    pub fn release(&mut self, asid: u16) {
        let vm = self.vm_of(asid);
        let list = &mut self.asids[vm as usize - 1];
        *list = (list.iter().copied()).filter(|&a| a != asid).collect();
    }

    /// The VM of guest address space `asid`. Every address space is assigned when it
    /// is made (a process at the start, a forked child at its fork); an unassigned one
    /// answers VM 1, which a machine of several VMs must never ask for.
    #[inline]
    pub fn vm_of(&self, asid: u16) -> u16 {
        match self.vm_of.get(asid as usize) {
            Some(&v) if v != 0 => v,
            _ => {
                debug_assert!(self.tables.len() == 1, "address space {asid} has no VM");
                VM
            }
        }
    }

    /// The address spaces of VM `vm`, for a flush of that VM's guest translations
    /// alone on a core several VMs share; `None` on a one-VM machine, where such a
    /// flush takes everything the core caches.
    pub fn scope(&self, vm: u16) -> Option<&[u16]> {
        (self.tables.len() > 1).then(|| &*self.asids[vm as usize - 1])
    }

    /// [`Hypervisor::scope`], shared (for a flush queued on another core; no copy).
    pub fn scope_shared(&self, vm: u16) -> Option<std::sync::Arc<[u16]>> {
        (self.tables.len() > 1).then(|| self.asids[vm as usize - 1].clone())
    }

    /// VM `vm`'s host table.
    #[inline(always)]
    pub fn table(&self, vm: u16) -> &HostTable {
        &self.tables[vm as usize - 1]
    }

    /// The host translation of `gpa` in VM `vm`, if mapped (no timing).
    pub fn translate(&self, vm: u16, gpa: GuestPhysAddr) -> Option<Translation> {
        self.table(vm).translate(vm, VirtAddr(gpa.0))
    }

    /// Shadow paging (`virt.mode = "shadow"`) with shadow tables of `bits` per level
    /// (the guest's radix levels; empty for a non-radix guest of `guest_va_bits`).
    pub fn enable_shadow(&mut self, cfg: &VirtConfig, bits: Vec<u32>, guest_va_bits: u32) {
        self.shadow = Some(Shadow::new(
            bits,
            guest_va_bits,
            cfg.shadow_fill_cycles,
            cfg.shadow_update_cycles,
        ));
    }

    /// An EPT violation at `gpa` of VM `vm`: exit to the hypervisor, which backs the
    /// guest-physical page with host memory (at the host's page size), and re-enter.
    pub fn ept_violation(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        stats: &mut VirtStats,
    ) -> Result<HostFault, SimError> {
        if self.translate(vm, gpa).is_some() {
            // The host table maps it: the walk read a table a host change had replaced,
            // through this vCPU's host caches before the host-initiated flush reached it
            // (KVM finds the entry present and re-enters: a spurious fault). The exit
            // is paid; the walker drops its stale host caches and walks again.
            stats.exits.ept_violation += 1;
            stats.spurious_ept_violations += 1;
            stats.exit_cycles += self.exit_cycles;
            return Ok(HostFault {
                exit_cycles: self.exit_cycles,
                host_cycles: 0,
                flush: false,
                spurious: true,
            });
        }
        let (host_cycles, flush) = self.back_gpa(vm, gpa)?;
        let f = HostFault {
            exit_cycles: self.exit_cycles,
            host_cycles,
            flush,
            spurious: false,
        };
        stats.exits.ept_violation += 1;
        stats.exit_cycles += f.exit_cycles;
        stats.host_fault_cycles += f.host_cycles;
        Ok(f)
    }

    /// The host's fault backing `gpa` of VM `vm` (no exit counted): its cycles, and
    /// whether it changed translations the host had (a host THP collapse replaced small
    /// host pages): then every cached host translation of the VM may be stale, and as
    /// KVM's `kvm_flush_remote_tlbs` (INVEPT single-context) every vCPU of the VM drops
    /// its guest-physical and combined mappings (the model cannot map a gPA back to the
    /// gVAs cached over it).
    pub(super) fn back_gpa(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
    ) -> Result<(u64, bool), SimError> {
        let table = &mut self.tables[vm as usize - 1];
        self.fx.clear();
        (self.os)
            .handle_fault(
                table,
                vm,
                VirtAddr(gpa.0),
                &mut self.host_stats,
                &mut self.fx,
            )
            // The host's OS speaks of `os.*`; here that is the hypervisor's section.
            .map_err(|e| SimError(e.0.replace("os.phys_mem", "virt.host.phys_mem")))?;
        let flush =
            !self.fx.invalidate.is_empty() || self.fx.flush_walk_caches || self.fx.flush_space;
        let c = (self.fx.cycles, flush);
        self.fx.clear();
        Ok(c)
    }

    /// The guest's fault handler mapped `va`: it zeroed the new page and wrote the entries
    /// of the tables on the way (zeroing any it created), so every guest-physical page it
    /// touched that the host has not backed yet is backed now, inside the guest's fault:
    /// an EPT violation each (an exit and a host fault, counted as the walker's are), a
    /// guest huge page over smaller host pages one host page at a time. Returns the
    /// cycles and whether a host fault changed existing host translations (a
    /// host-initiated flush is then due). `rec` hears each violation.
    pub fn back_guest_fault<PT: crate::pagetable::PageTable>(
        &mut self,
        guest: &PT,
        asid: u16,
        va: VirtAddr,
        stats: &mut VirtStats,
        mut on_fault: impl FnMut(GuestPhysAddr, &HostFault),
    ) -> Result<(u64, bool), SimError> {
        let mut steps = std::mem::take(&mut self.steps);
        steps.clear();
        let g = guest.walk(asid, va, None, &mut steps);
        let data = g.map(|g| (g.frame.0, g.frame.0 + g.size.bytes()));
        let vm = self.vm_of(asid);
        let r = self.back_tables_then(vm, &steps, data, stats, &mut on_fault);
        self.steps = steps;
        r.map(|b| (b.cycles, b.flush))
    }

    /// The guest OS mapped `[start, end)` of address space `asid` and zeroed its pages
    /// (a populating `mmap`), writing the entries of the tables on the way (those it
    /// built and those it only added entries to): every guest-physical page of those
    /// tables and of the pages under the range that the host has not backed yet is
    /// backed now, an exit and a host fault each, counted as the event's work (where a
    /// real guest's writes would fault, not at the first walk that reads them). Returns
    /// the cycles, and whether a host fault changed existing host translations (a
    /// host-initiated flush is then due, as after [`Hypervisor::ept_violation`]).
    pub fn back_guest_range<PT: crate::pagetable::PageTable>(
        &mut self,
        guest: &PT,
        asid: u16,
        (start, end): (u64, u64),
        stats: &mut VirtStats,
    ) -> Result<(u64, bool), SimError> {
        let vm = self.vm_of(asid);
        let (mut done, mut scratch) = (Backed::default(), VirtStats::default());
        let mut va = start;
        while va < end {
            let (g, b) = self.back_walk(vm, guest, asid, VirtAddr(va), true, &mut scratch)?;
            done.add(b);
            va = match g {
                Some(g) => (va & !(g.size.bytes() - 1)) + g.size.bytes(),
                None => (va | 0xfff) + 1,
            };
        }
        Ok(done.as_event(stats))
    }

    /// A fork made address space `asid`'s own tables (`guest`, a design with a table per
    /// address space) and wrote an entry for every page it shares with its parent: the
    /// host backs each table page of the child's walks (its root first, then the tables
    /// under each of its mappings, as the design lists them; one that cannot list them:
    /// the root's walk only), an exit and a host fault each, counted as the event's work.
    /// The data pages are the parent's, backed already. Returns the cycles and whether a
    /// host translation changed.
    pub fn back_forked_tables<PT: crate::pagetable::PageTable>(
        &mut self,
        guest: &PT,
        asid: u16,
        stats: &mut VirtStats,
    ) -> Result<(u64, bool), SimError> {
        let maps = guest.mappings(asid).unwrap_or_default();
        let vm = self.vm_of(asid);
        let (mut done, mut scratch) = (Backed::default(), VirtStats::default());
        for va in std::iter::once(VirtAddr(0)).chain(maps.iter().map(|m| m.0)) {
            let (_, b) = self.back_walk(vm, guest, asid, va, false, &mut scratch)?;
            done.add(b);
        }
        Ok(done.as_event(stats))
    }

    /// Walks `va` of `asid` in `guest` and backs the page of each table the walk read;
    /// with `data`, only if the guest maps `va`, and then the rest of its page from `va`
    /// too. Returns the guest's translation and what the backing took.
    fn back_walk<PT: crate::pagetable::PageTable>(
        &mut self,
        vm: u16,
        guest: &PT,
        asid: u16,
        va: VirtAddr,
        data: bool,
        stats: &mut VirtStats,
    ) -> Result<(Option<Translation>, Backed), SimError> {
        let mut steps = std::mem::take(&mut self.steps);
        steps.clear();
        let g = guest.walk(asid, va, None, &mut steps);
        let r = match (data, g) {
            (true, None) => Ok(Backed::default()),
            (true, Some(g)) => {
                let size = g.size.bytes();
                let span = (g.frame.0 + (va.0 & (size - 1)), g.frame.0 + size);
                self.back_tables_then(vm, &steps, Some(span), stats, &mut |_, _| {})
            }
            (false, _) => self.back_tables_then(vm, &steps, None, stats, &mut |_, _| {}),
        };
        self.steps = steps;
        Ok((g, r?))
    }

    /// Backs the page of each guest table a walk read (`steps`, top down: the guest
    /// writes the entries in that order), then guest-physical `data`.
    fn back_tables_then(
        &mut self,
        vm: u16,
        steps: &[crate::pagetable::WalkStep],
        data: Option<(u64, u64)>,
        stats: &mut VirtStats,
        on_fault: &mut impl FnMut(GuestPhysAddr, &HostFault),
    ) -> Result<Backed, SimError> {
        let mut done = Backed::default();
        let tables =
            (steps.iter()).map(|st| (st.pte_addr.0 & !0xfff, (st.pte_addr.0 & !0xfff) + 0x1000));
        for span in tables.chain(data) {
            done.add(self.back_span(vm, span, stats, on_fault)?);
        }
        Ok(done)
    }

    /// Backs every host page of guest-physical `[from, to)` the host has not backed yet,
    /// an EPT violation each (counted in `stats`, told to `on_fault`).
    fn back_span(
        &mut self,
        vm: u16,
        (from, to): (u64, u64),
        stats: &mut VirtStats,
        on_fault: &mut impl FnMut(GuestPhysAddr, &HostFault),
    ) -> Result<Backed, SimError> {
        let mut done = Backed::default();
        let mut gpa = from;
        while gpa < to {
            let h = match self.translate(vm, GuestPhysAddr(gpa)) {
                Some(h) => h,
                None => {
                    let f = self.ept_violation(vm, GuestPhysAddr(gpa), stats)?;
                    on_fault(GuestPhysAddr(gpa), &f);
                    done.add(Backed {
                        cycles: f.cycles(),
                        flush: f.flush,
                        violations: 1,
                    });
                    (self.translate(vm, GuestPhysAddr(gpa))).ok_or_else(|| {
                        SimError(format!(
                            "guest-physical {gpa:#x} not backed after its host fault"
                        ))
                    })?
                }
            };
            gpa = (gpa & !(h.size.bytes() - 1)) + h.size.bytes();
        }
        Ok(done)
    }

    /// The host migrates the host pages backing the guest pages of `[start, end)` of
    /// address space `asid` (host NUMA balancing or compaction of guest memory, run in
    /// the vCPU thread: an exit, then the host OS's page migration over the pages'
    /// guest-physical ranges, copying each host page at `cow_copy_4k_cycles` per 4 KiB
    /// of `[virt.host]`). Returns the cycles (exit and migration) and whether a host
    /// translation changed (then a host-initiated flush of the VM is due, as after a
    /// host collapse). Counted as the event's work.
    pub fn migrate_guest_range<PT: Mappable>(
        &mut self,
        guest: &PT,
        asid: u16,
        (start, end): (u64, u64),
        stats: &mut VirtStats,
    ) -> Result<(u64, bool), SimError> {
        let vm = self.vm_of(asid);
        let before = self.host_stats.migrated_pages;
        let mut cycles = self.exit_cycles;
        let mut flush = false;
        let mut va = start;
        while va < end {
            let Some(g) = guest.translate(asid, VirtAddr(va)) else {
                va = (va | 0xfff) + 1;
                continue;
            };
            let size = g.size.bytes();
            let gpa = g.frame.0 + (va & (size - 1));
            let gpa_end = g.frame.0 + size.min(end - (va & !(size - 1)));
            let ev = crate::workload::OsEvent::new(
                crate::workload::EventKind::Migrate,
                gpa & !0xfff,
                (gpa_end + 0xfff) & !0xfff,
            );
            let table = &mut self.tables[vm as usize - 1];
            self.fx.clear();
            (self.os).apply_event(table, vm, ev, &mut self.host_stats, &mut self.fx)?;
            flush |= !self.fx.invalidate.is_empty();
            cycles = cycles.saturating_add(self.fx.cycles);
            self.fx.clear();
            va = (va & !(size - 1)) + size;
        }
        stats.host_migrations += self.host_stats.migrated_pages - before;
        stats.event_cycles = stats.event_cycles.saturating_add(cycles);
        Ok((cycles, flush))
    }

    /// Bytes of the host tables.
    pub fn table_bytes(&self) -> u64 {
        self.tables.iter().map(|t| t.table_bytes()).sum()
    }

    /// Each host table's design-specific counters.
    pub fn table_stats(&self) -> Vec<serde_json::Value> {
        self.tables.iter().map(|t| t.stats()).collect()
    }
}
