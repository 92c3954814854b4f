//! Where the OS's changes reach the cores: the one place that applies an OS call's
//! [`Effects`] ([`apply`]), and the TLB shootdown protocol over the cores' topology.
//!
//! Owns the mail between cores: inboxes for other address spaces' evictions, which
//! address space each core has loaded and whether it idles (lazy TLB mode), flushes
//! deferred to a switch back (Linux's tlb_gen), the shootdowns the running core has
//! started, and each core's IPIs on their way. In: effects from the translation path,
//! events and system calls. Out: invalidations and flushes on the cores' TLBs and walk
//! caches, and the stalls of initiators and targets.
//!
//! A change of the running address space's translations leaves the local TLB at once
//! and, when the access that made it ends, becomes IPIs to the other cores that have the
//! address space loaded (see `deliver_shootdowns`). Each target takes its IPI at its
//! first access boundary at or after arrival; hits on changed translations before that
//! are counted as stale.

use super::core::Core;
use super::Simulator;
use crate::addr::VirtAddr;
use crate::config::{Delivery, ShootdownScheme};
use crate::os::{Effects, Trigger};
use crate::pagetable::{Evicted, PageTable};
use crate::virt::Hypervisor;
use bitvec::vec::BitVec;
use std::collections::HashSet;
use std::sync::Arc;

/// Where removed translations go. Another address space's (a hashed table's
/// eviction) reach the other cores through their inboxes, drained before their next
/// access. The running address space's own become a shootdown (`outgoing`), which the
/// engine delivers to the cores that run it as soon as the access that made it ends.
pub(super) struct Mail {
    pub(super) inboxes: Vec<Vec<Evicted>>,
    /// Per core: the address space it has loaded (0: none yet), and whether it is idle
    /// (then lazily: its last address space stays loaded, as Linux's lazy TLB mode).
    loaded: Vec<u16>,
    pub(super) idle: Vec<bool>,
    /// Per address space (by id): the cores that have it loaded (Linux's mm_cpumask on
    /// x86: set at a switch to it, cleared at a switch away, kept while lazy), and the
    /// cores whose address-space ids (PCIDs) still hold its entries.
    loaded_on: Vec<BitVec>,
    held_on: Vec<BitVec>,
    /// Per core: address spaces whose translations changed while it ran another
    /// process; their entries are flushed when it switches back (Linux's tlb_gen).
    pub(super) deferred: Vec<Vec<u16>>,
    pub(super) outgoing: Vec<Outgoing>,
    /// `outgoing` is not empty: the running core stops after its access.
    pub(super) pending: bool,
    ceiling: usize,
    gather: bool,
}

impl Mail {
    pub(super) fn new(n: usize, cfg: &crate::config::ShootdownConfig) -> Mail {
        Mail {
            inboxes: vec![Vec::new(); n],
            loaded: vec![0; n],
            idle: vec![false; n],
            loaded_on: Vec::new(),
            held_on: Vec::new(),
            deferred: vec![Vec::new(); n],
            outgoing: Vec::new(),
            pending: false,
            ceiling: cfg.flush_ceiling as usize,
            gather: cfg.gather,
        }
    }
}

impl Mail {
    /// More than one core: changes of an address space must reach the others.
    #[inline(always)]
    pub(super) fn several_cores(&self) -> bool {
        self.loaded.len() > 1
    }

    /// The bit set of address space `asid` in `sets`, grown on first use.
    fn set_of(sets: &mut Vec<BitVec>, asid: u16, cores: usize) -> &mut BitVec {
        let i = asid as usize;
        if sets.len() <= i {
            sets.resize(i + 1, BitVec::repeat(false, cores));
        }
        &mut sets[i]
    }

    /// Core `core` switches to address space `asid`.
    pub(super) fn load(&mut self, core: usize, asid: u16) {
        let n = self.loaded.len();
        let prev = std::mem::replace(&mut self.loaded[core], asid);
        if prev != 0 {
            Mail::set_of(&mut self.loaded_on, prev, n).set(core, false);
        }
        Mail::set_of(&mut self.loaded_on, asid, n).set(core, true);
    }

    /// Core `core`'s address-space ids now hold `asid`'s entries (`true`) or no longer do.
    pub(super) fn hold(&mut self, core: usize, asid: u16, held: bool) {
        let n = self.loaded.len();
        Mail::set_of(&mut self.held_on, asid, n).set(core, held);
    }
}

/// A change of the running address space's translations, for the cores that run it.
pub(super) struct Outgoing {
    pub(super) asid: u16,
    pages: Vec<Evicted>,
    /// More pages than the flush ceiling: a flush of the address space instead.
    full: bool,
    trigger: Trigger,
    /// Page tables were freed: lazy cores must be told too.
    tables_freed: bool,
}

/// A shootdown IPI on its way to (or waiting at) a target core.
pub(super) struct PendingIpi {
    pub(super) arrival: u64,
    pub(super) asid: u16,
    pub(super) pages: Arc<Vec<Evicted>>,
    pub(super) full: bool,
    /// Interrupt entry and exit plus the invalidations.
    pub(super) cycles: u64,
    /// A flush the hypervisor does of the vCPU's whole guest TLB context (a virtual
    /// shootdown's kick or flush at entry): every entry and guest walk-cache entry goes.
    pub(super) vpid: bool,
    /// A host-initiated flush: the VM's guest-physical mappings (nested TLB, host walk
    /// caches) go too.
    pub(super) host: bool,
    /// The VM of a hypervisor's flush (`vpid` or `host`), and the address spaces whose
    /// guest entries it takes (that VM's, on a machine of several; `None`: all).
    pub(super) vm: u16,
    pub(super) scope: Option<Arc<[u16]>>,
}

/// Applies what an OS call on `core` changed, and clears `fx` for the next call:
/// translations leave the TLBs (the running address space's at once, on this core, and
/// as a shootdown to the others; another address space's through the inboxes), walk
/// caches are flushed when tables changed, and a fork's flush of the whole address space
/// goes to every core that runs it. On a shadow-paging machine (`hv`), the guest's
/// changes first reach the hypervisor's shadow tables: each is a trapped guest
/// page-table write (`Hypervisor::shadow_sync`), counted as the core's time, as an
/// event's work is. Returns the call's cycles (the hypervisor's included), for the
/// caller to charge (translation for a fault, the core's time for an event); a fault's
/// caller uses [`apply_fault`]. Out of line: the hit path calls it only when the OS is
/// involved.
#[inline(never)]
pub(super) fn apply(
    core: &mut Core,
    fx: &mut Effects,
    mail: &mut Mail,
    hv: Option<&mut Hypervisor>,
) -> u64 {
    let Some(hv) = hv else {
        return apply_effects(core, fx, mail, None);
    };
    let shadow = hv.shadow_sync(core.asid, fx, &mut core.virt, false);
    apply_effects(core, fx, mail, hv.scope(core.vm)).saturating_add(shadow)
}

/// [`apply`] for the effects of a fault on the translation path: the hypervisor's
/// shadow work is counted as translation (the fault's cycles).
#[inline(never)]
pub(super) fn apply_fault(
    core: &mut Core,
    fx: &mut Effects,
    mail: &mut Mail,
    hv: Option<&mut Hypervisor>,
) -> u64 {
    let Some(hv) = hv else {
        return apply_effects(core, fx, mail, None);
    };
    let shadow = hv.shadow_sync(core.asid, fx, &mut core.virt, true);
    apply_effects(core, fx, mail, hv.scope(core.vm)).saturating_add(shadow)
}

/// [`apply`] without the hypervisor: the effects of the hypervisor's own changes (a
/// freed shadow table's flush), which are not the guest's page-table writes.
///
/// `scope`: the running VM's address spaces on a machine of several VMs, whose guest
/// walk caches alone a guest's flush of its walk caches reaches (VPID-tagged, as
/// INVLPG and INVPCID in one VM leave another's); `None`: every entry.
pub(super) fn apply_effects(
    core: &mut Core,
    fx: &mut Effects,
    mail: &mut Mail,
    scope: Option<&[u16]>,
) -> u64 {
    let cycles = fx.cycles;
    if !fx.invalidate.is_empty() {
        route(core, fx, mail);
    }
    if fx.flush_walk_caches {
        match scope {
            None => core.walker.flush(),
            Some(asids) => core
                .walker
                .flush_spaces(&|a| asids.binary_search(&a).is_ok()),
        }
    }
    if fx.flush_space {
        let asid = core.asid;
        core.tlbs.flush_asid(asid);
        core.walker.flush_asid(asid);
        if mail.several_cores() {
            mail.outgoing.push(Outgoing {
                asid,
                pages: Vec::new(),
                full: true,
                trigger: fx.trigger,
                tables_freed: fx.tables_freed,
            });
            mail.pending = true;
        }
    }
    fx.clear();
    cycles
}

/// Drops the translations in `fx`. The running address space's leave this core's TLBs
/// now (one by one, or its whole entries above the flush ceiling) and, on a machine of
/// several cores, become a shootdown the engine delivers once this access ends. Another
/// address space's (a hashed table's evictions) leave this core's TLBs now and the other
/// busy cores' before their next access. Allocates only for a shootdown's message.
fn route(core: &mut Core, fx: &Effects, mail: &mut Mail) {
    let asid = core.asid;
    let mut own = 0;
    for e in &fx.invalidate {
        if e.asid == asid {
            own += 1;
            continue;
        }
        core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        for (c, inbox) in mail.inboxes.iter_mut().enumerate() {
            if c != core.id && !mail.idle[c] {
                inbox.push(*e);
            }
        }
    }
    if own == 0 {
        return;
    }
    let mine = || fx.invalidate.iter().filter(move |e| e.asid == asid);
    let full = mail.gather && own > mail.ceiling;
    if full {
        core.tlbs.flush_asid_into(asid, &mut core.flushed);
        forget_changed(&mut core.flushed, mine());
        core.walker.flush_asid(asid);
    } else {
        for e in mine() {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
    }
    if mail.several_cores() {
        let shootdown = |pages| Outgoing {
            asid,
            pages,
            full,
            trigger: fx.trigger,
            tables_freed: fx.tables_freed,
        };
        if mail.gather {
            mail.outgoing.push(shootdown(mine().copied().collect()));
        } else {
            mail.outgoing.extend(mine().map(|e| shootdown(vec![*e])));
        }
        mail.pending = true;
    }
}

impl<PT: PageTable> Simulator<PT> {
    /// IPI latency from core `a` to core `b` along the topology.
    pub(super) fn ipi_latency(&self, a: usize, b: usize) -> u64 {
        let sd = &self.shoot;
        sd.ipi_base_cycles
            + self.topology.hops(a, b) as u64 * sd.hop_cycles
            + if self.topology.cross_socket(a, b) {
                sd.cross_socket_cycles
            } else {
                0
            }
    }

    /// The cores a shootdown of `og` from core `id` interrupts: the other cores running
    /// the address space (and idle ones that still have it loaded, when page tables
    /// were freed). Cores holding its entries while running another process flush them
    /// when they switch back.
    fn targets(&mut self, id: usize, og: &Outgoing) -> Vec<usize> {
        let mail = &mut self.sh.mail;
        let i = og.asid as usize;
        let empty = BitVec::new();
        let loaded = mail.loaded_on.get(i).unwrap_or(&empty);
        let targets = (loaded.iter_ones())
            .filter(|&c| c != id && (!mail.idle[c] || og.tables_freed))
            .collect();
        if let Some(held) = mail.held_on.get(i) {
            for c in held.iter_ones() {
                if c != id && !loaded[c] && !mail.deferred[c].contains(&og.asid) {
                    mail.deferred[c].push(og.asid);
                }
            }
        }
        targets
    }

    /// The native protocol's timing of a shootdown from core `id` (clock `t0`, the
    /// invalidations `work` cycles on each target) to `targets`: IPIs queued on the
    /// targets; returns when the initiator's wait ends.
    fn send_native(
        &mut self,
        id: usize,
        targets: &[usize],
        (asid, pages, full): (u16, &Arc<Vec<Evicted>>, bool),
        work: u64,
        t0: u64,
    ) -> u64 {
        let t = self.timing;
        let sd = &self.shoot;
        let handler = sd.interrupt_cycles + work;
        let (send_start, ack_after) = match sd.scheme {
            ShootdownScheme::Sync => (t0 + work, handler),
            // Acknowledged on interrupt entry (half of entry and exit).
            ShootdownScheme::EarlyAck => (t0, sd.interrupt_cycles / 2),
        };
        let (delivery, send) = (sd.delivery, sd.send_cycles);
        let mut done = send_start;
        let mut last_send = send_start;
        for (k, &c) in targets.iter().enumerate() {
            let sent = match delivery {
                Delivery::Unicast => send_start + (k as u64 + 1) * send,
                Delivery::Broadcast => send_start + send,
            };
            last_send = last_send.max(sent);
            let arrival = sent + self.ipi_latency(id, c);
            let tc = &self.cores[c];
            // A target waiting for its own shootdown takes the IPI on arrival.
            let free_at = match tc.waiting_since {
                Some(w) => w,
                None => tc.clock(&t),
            };
            let begin = arrival.max(free_at);
            done = done.max(begin + ack_after + self.ipi_latency(c, id));
            let ipi = PendingIpi {
                arrival,
                asid,
                pages: pages.clone(),
                full,
                cycles: handler,
                vpid: false,
                host: false,
                vm: 0,
                scope: None,
            };
            queue_ipi(&mut self.cores[c], ipi);
        }
        done = done.max(last_send);
        if self.shoot.scheme == ShootdownScheme::EarlyAck {
            // The local flush runs while the IPIs travel.
            done = done.max(last_send + work);
        }
        done
    }

    /// Delivers the shootdowns core `id` started during its last access. The initiator
    /// flushed locally already; it sends one IPI per target (or one broadcast) and waits
    /// for every acknowledgement. A target takes the IPI at its first access boundary
    /// at or after arrival; the initiator's wait counts each from arrival (or the
    /// target's clock, if later), so it may be short by at most one of the target's
    /// accesses.
    pub(super) fn deliver_shootdowns(&mut self, id: usize) -> Result<(), crate::SimError> {
        self.sh.mail.pending = false;
        if let Some(hv) = self.sh.virt.as_deref_mut() {
            if std::mem::take(&mut hv.flush_pending) {
                super::vcpu::host_flush(self, id);
            }
        }
        let out = std::mem::take(&mut self.sh.mail.outgoing);
        let t = self.timing;
        for og in out {
            let targets = self.targets(id, &og);
            if targets.is_empty() {
                continue;
            }
            let sd = &self.shoot;
            let work = if og.full {
                sd.full_flush_cycles
            } else {
                og.pages.len() as u64 * sd.invlpg_cycles
            };
            let t0 = self.cores[id].clock(&t);
            let pages = Arc::new(og.pages);
            let sent = (og.asid, &pages, og.full);
            let done = match self.vipi {
                Some(v) => super::vcpu::send_virtual(self, id, &targets, sent, (work, t0), v),
                None => self.send_native(id, &targets, sent, work, t0),
            };
            let core = &mut self.cores[id];
            core.walker.flush_asid(og.asid);
            let wait = done - t0;
            core.stall_total += wait;
            core.waiting_since.get_or_insert(t0);
            let s = &mut core.os_stats.shootdown;
            s.by_trigger[og.trigger as usize] += 1;
            s.ipis_sent += targets.len() as u64;
            s.max_targets = s.max_targets.max(targets.len() as u64);
            s.initiator_cycles += wait;
            if og.full {
                s.full_flushes += 1;
            } else {
                s.page_invalidations += pages.len() as u64;
            }
        }
        // Per shootdown, not per access: the initiator's wait and the IPIs idle cores
        // took are counted exactly.
        for c in &self.cores {
            super::overflow::check(c, &t, 0)?;
        }
        Ok(())
    }
}

/// An IPI on its way to `core`, in arrival order; an idle core (nothing runs there any
/// more) takes it at once.
pub(super) fn queue_ipi(core: &mut Core, ipi: PendingIpi) {
    if core.done {
        take_ipi(core, &ipi);
        return;
    }
    let at = core.ipis.partition_point(|i| i.arrival <= ipi.arrival);
    core.ipis.insert(at, ipi);
    core.next_ipi = core.ipis[0].arrival;
}

/// Takes the shootdown IPIs that have arrived by this core's clock: each stalls it for
/// interrupt entry and exit plus its invalidations (by page, or the address space's
/// entries above the ceiling; INVLPG also drops the address space's walk-cache entries,
/// Intel SDM vol. 3A, 4.10.4.1).
pub(super) fn take_ipis(core: &mut Core, t: &super::core::Timing) {
    while let Some(ipi) = core.ipis.front() {
        if ipi.arrival > core.clock(t) {
            break;
        }
        let ipi = core.ipis.pop_front().expect("looked at");
        take_ipi(core, &ipi);
    }
    core.next_ipi = core.ipis.front().map_or(u64::MAX, |i| i.arrival);
}

pub(super) fn take_ipi(core: &mut Core, ipi: &PendingIpi) {
    if ipi.host {
        // A host-initiated flush is the hypervisor's, not a guest shootdown: counted
        // apart (its cycles are the vCPU's time, like a shootdown's).
        core.flush_guest(ipi.scope.as_deref());
        core.walker.flush_vm(ipi.vm);
        core.virt.host_flushes_taken += 1;
        core.virt.host_flush_remote_cycles += ipi.cycles;
        core.stall_total += ipi.cycles;
        return;
    }
    if ipi.vpid {
        core.flush_guest(ipi.scope.as_deref());
    }
    let s = &mut core.os_stats.shootdown;
    if ipi.vpid {
        s.full_flushes += 1;
    } else if ipi.full {
        s.entries_flushed += core.tlbs.flush_asid_into(ipi.asid, &mut core.flushed) as u64;
        s.full_flushes += 1;
        forget_changed(&mut core.flushed, ipi.pages.iter());
    } else {
        for e in ipi.pages.iter() {
            core.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        s.page_invalidations += ipi.pages.len() as u64;
    }
    core.walker.flush_asid(ipi.asid);
    s.remote_cycles += ipi.cycles;
    s.ipis_received += 1;
    core.stall_total += ipi.cycles;
}

/// The pages a shootdown changed are not the flush's to answer for.
fn forget_changed<'a>(flushed: &mut HashSet<u64>, pages: impl Iterator<Item = &'a Evicted>) {
    for e in pages {
        flushed.remove(&crate::tlb::page_key(e.asid, e.vaddr, e.size));
    }
}

/// Whether a shootdown on its way to this core names the page of `va` in the running
/// address space (a hit on it may be stale: the table changed, the IPI has not come).
pub(super) fn pending_covers(core: &Core, va: VirtAddr) -> bool {
    // A hypervisor's flush of the whole guest context covers every page of its VM.
    core.ipis.iter().any(|i| {
        i.vpid && i.vm == core.vm
            || i.asid == core.asid
                && (i.full || i.pages.iter().any(|e| e.vaddr == va.align_down(e.size)))
    })
}
