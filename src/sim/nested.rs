//! A virtualized machine's TLB miss (`[virt]`): nested walks until one completes. A
//! guest fault goes to the guest OS exactly as a native fault goes to the OS (its
//! effects through [`super::shootdown::apply`]); an EPT violation exits to the
//! hypervisor, which backs the guest-physical page; after either, the access walks
//! again, as hardware replays it. Every walk and every fault is counted.
//!
//! In: the core, the gVA, the guest table, the shared machine (with its
//! [`Hypervisor`](crate::virt::Hypervisor)). Out: the gVA → hPA translation the TLBs
//! take (the smaller of the guest's and the host's page) and the walk-cache, read and
//! fault cycles, as the native path returns them.

use super::core::{Core, Timing};
use super::record::{Event, Recorder};
use super::shootdown::apply_fault;
use super::Shared;
use crate::addr::VirtAddr;
use crate::pagetable::{PageTable, Translation};
use crate::walker::NestedOutcome;
use crate::SimError;

/// Most walks one access may need: a guest fault, then an EPT violation for each guest
/// table page (5 levels, new ones after the guest fault too) and the data page.
const MAX_WALKS: usize = 32;

/// The nested-walk miss path; returns the translation and its walk-cache, read and
/// fault cycles (the fault's: guest faults, VM exits and host faults).
#[inline(never)]
pub(super) fn walk_virt<PT: PageTable, R: Recorder>(
    core: &mut Core,
    va: VirtAddr,
    pt: &mut PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
) -> Result<(Translation, u64, u64, u64), SimError> {
    let (mut psc, mut pte, mut fault) = (0, 0, 0);
    for _ in 0..MAX_WALKS {
        let hv = (sh.virt.as_deref_mut()).expect("a virtualized machine");
        let (walker, mem) = (&mut core.walker, &mut sh.mem);
        let vm = core.vm;
        let r = walker.walk_nested(core.id, core.asid, vm, va, pt, hv.table(vm), mem, rec);
        psc += r.psc_cycles;
        pte += r.pte_cycles;
        match r.outcome {
            NestedOutcome::Done(w) => {
                core.virt.nested_fills += 1;
                if w.host.size < w.guest.size {
                    core.virt.splintered_fills += 1;
                }
                return Ok((w.page, psc, pte, fault));
            }
            NestedOutcome::GuestFault => {
                let os = &mut sh.os[super::vm_index(core.vm)];
                let evicted = os.handle_fault(pt, core.asid, va, &mut core.os_stats, &mut sh.fx)?;
                if R::ON {
                    let cycles = sh.fx.cycles;
                    rec.event(Event::Fault { cycles, evicted });
                }
                let mut c = apply_fault(core, &mut sh.fx, &mut sh.mail, sh.virt.as_deref_mut());
                // The handler zeroed what it mapped and wrote its tables: the host backs
                // those pages now, inside the guest's fault.
                let hv = (sh.virt.as_deref_mut()).expect("a virtualized machine");
                let exits_before = core.virt.exits.ept_violation;
                let (h, flush) =
                    hv.back_guest_fault(&*pt, core.asid, va, &mut core.virt, |gpa, f| {
                        if R::ON {
                            rec.event(Event::HostFault {
                                gpa,
                                exit_cycles: f.exit_cycles,
                                host_cycles: f.host_cycles,
                            });
                        }
                    })?;
                if flush {
                    host_flush_local(core, hv, &mut sh.mail);
                }
                let exits = core.virt.exits.ept_violation - exits_before;
                if core.flush_on_exit && exits > 0 {
                    // No VPIDs: each exit flushes; one flush covers them all (the guest
                    // runs no access in between), each is counted.
                    core.vpid_flush();
                    core.virt.vpid_flushes += exits - 1;
                }
                c += h;
                super::overflow::check(core, t, c)?;
                fault += c;
            }
            NestedOutcome::HostFault(gpa) => {
                let f = hv.ept_violation(vm, gpa, &mut core.virt)?;
                if R::ON {
                    rec.event(Event::HostFault {
                        gpa,
                        exit_cycles: f.exit_cycles,
                        host_cycles: f.host_cycles,
                    });
                }
                if f.flush {
                    host_flush_local(core, hv, &mut sh.mail);
                } else if f.spurious {
                    core.walker.flush_vm(vm);
                }
                if core.flush_on_exit {
                    // No VPIDs: the exit and the entry flush the guest's entries.
                    core.vpid_flush();
                }
                let c = f.cycles();
                super::overflow::check(core, t, c)?;
                fault += c;
            }
        }
    }
    Err(SimError(format!(
        "{va:#x}: still not mapped after {MAX_WALKS} nested walks and their faults"
    )))
}

/// The hypervisor's work at a guest OS event (backing a populating mmap or a fork's
/// tables, a host migration): `cycles`, counted as the event's, and `flush`, whether a
/// host translation changed (the VM's cached translations go: [`host_flush_local`]).
/// `exited`: the work took a VM exit, which without VPIDs flushes the guest's entries.
/// Returns the cycles for the caller to charge.
pub(super) fn host_event_work(
    core: &mut Core,
    hv: &mut crate::virt::Hypervisor,
    mail: &mut super::shootdown::Mail,
    (cycles, flush): (u64, bool),
    exited: bool,
) -> u64 {
    if flush {
        host_flush_local(core, hv, mail);
    }
    if core.flush_on_exit && exited {
        core.vpid_flush();
    }
    core.os_stats.event_cycles = core.os_stats.event_cycles.saturating_add(cycles);
    cycles
}

/// The host table changed under cached translations: `core` drops the VM's now (its
/// TLBs, guest walk caches, nested TLB and host walk caches); the other vCPUs when the
/// engine delivers the flush, after this access.
pub(super) fn host_flush_local(
    core: &mut Core,
    hv: &mut crate::virt::Hypervisor,
    mail: &mut super::shootdown::Mail,
) {
    core.flush_guest(hv.scope(core.vm));
    core.walker.flush_vm(core.vm);
    hv.flush_pending = true;
    mail.pending = true;
}
