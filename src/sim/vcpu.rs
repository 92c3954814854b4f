//! A virtualized machine's vCPUs under the host (`[virt.host_sched]`,
//! `[virt.shootdown]`): the host scheduler preempting a vCPU at the end of its slice, and
//! guest TLB shootdowns sent as virtual IPIs, timed by [`crate::virt::vipi`].
//!
//! In: a core (vCPU i is core i) whose clock reached its host slice's end; a guest
//! shootdown's targets, pages and work. Out: the preempted core's clock moved to its next
//! slice (counted as preempted cycles, not as translation); the shootdown's IPIs and
//! hypervisor flushes queued on the targets ([`super::shootdown::queue_ipi`], taken at
//! their access boundaries as native IPIs are), the initiator's wait, VM exits by cause.
//!
//! The host's schedule is a fixed round-robin ([`HostRunqueue`]): whether a vCPU runs at
//! a host time is a function of that time, so a target's state at a shootdown needs no
//! other bookkeeping, and the vCPU's own clock skips the same intervals when it reaches
//! them.

use super::core::{Core, Timing};
use super::shootdown::{queue_ipi, PendingIpi};
use super::Simulator;
use crate::pagetable::{Evicted, PageTable};
use crate::virt::vipi::{
    virtual_shootdown, FlushScope, HostRunqueue, Reached, Target, VcpuState, VipiCosts,
    VipiRequest, VipiScheme,
};
use std::sync::Arc;

/// The host's runqueue of core `id`'s physical CPU and the vCPU's position in it, or
/// `None` when the vCPU has its core to itself (never preempted).
pub(super) fn host_runqueue(
    cfg: &crate::config::SystemConfig,
    id: usize,
) -> Option<(HostRunqueue, u32)> {
    let hs = &cfg.virt.as_ref()?.host_sched;
    (hs.threads_per_core > 1).then(|| {
        let rq = HostRunqueue {
            quantum: hs.quantum_cycles,
            switch_cycles: hs.switch_cycles,
            threads: hs.threads_per_core,
        };
        (rq, id as u32 % hs.threads_per_core)
    })
}

/// If core's host slice has ended (or none has begun), the host runs other threads
/// until the vCPU's next slice: its clock moves there.
pub(super) fn host_preempt(core: &mut Core, t: &Timing) {
    let Some((rq, pos)) = core.host_rq else {
        return;
    };
    let now = core.clock(t);
    if now < core.host_slice_end {
        return;
    }
    let resume = rq.resume_at(pos, now);
    if resume > now {
        core.stall_total += resume - now;
        core.virt.preemptions += 1;
        core.virt.preempted_cycles += resume - now;
        // Its VPID was reused by another host thread meanwhile (or there are none).
        if core.flush_on_resume || core.flush_on_exit {
            core.vpid_flush();
        }
    }
    core.host_slice_end = rq.slice_end(pos, resume);
}

/// A host-initiated flush from vCPU `id` (its EPT violation changed the host table; it
/// flushed its own caches already): every other vCPU of the VM drops the VM's cached
/// translations, the running ones kicked out of the guest and waited for, the preempted
/// ones at their next entry ([`crate::virt::vipi::host_flush`]). The initiator's wait
/// is its own time, counted as `host_flush_cycles`. With several VMs, the vCPUs are the
/// cores running the VM; a core running another VM's vCPU drops the VM's translations
/// unseen (KVM flushes a VM's context when it next enters one of its vCPUs there).
pub(super) fn host_flush<PT: PageTable>(sim: &mut Simulator<PT>, id: usize) {
    let Some((_, costs)) = sim.vipi else {
        return;
    };
    let vm = sim.cores[id].vm;
    let scope = scope_of(sim, vm);
    for core in sim.cores.iter_mut().filter(|c| c.id != id && c.vm != vm) {
        core.flush_guest(scope.as_deref());
        core.walker.flush_vm(vm);
    }
    let targets: Vec<usize> = (0..sim.cores.len())
        .filter(|&c| c != id && !sim.cores[c].done && sim.cores[c].vm == vm)
        .collect();
    let now = sim.cores[id].clock(&sim.timing);
    let list = target_states(sim, id, &targets, now);
    let req = VipiRequest {
        scheme: VipiScheme::Broadcast,
        now,
        targets: &list,
        work: 0,
    };
    let out = crate::virt::vipi::host_flush(&costs, &req);
    let none = Arc::new(Vec::new());
    for tc in &out.targets {
        let core = &mut sim.cores[tc.vcpu as usize];
        if tc.reached == Reached::Kicked {
            core.virt.host_kicks += 1;
        }
        let ipi = PendingIpi {
            arrival: tc.at,
            asid: 0,
            pages: none.clone(),
            full: true,
            cycles: tc.cycles,
            vpid: true,
            host: true,
            vm,
            scope: scope.clone(),
        };
        queue_ipi(core, ipi);
    }
    let core = &mut sim.cores[id];
    core.stall_total += out.initiator_wait;
    core.virt.host_flushes += 1;
    core.virt.host_flush_cycles += out.initiator_wait;
}

/// The address spaces of VM `vm` for a flush of its guest entries alone (a machine of
/// several VMs), or `None` (one VM: the flush takes everything).
fn scope_of<PT: PageTable>(sim: &Simulator<PT>, vm: u16) -> Option<Arc<[u16]>> {
    sim.sh.virt.as_deref()?.scope_shared(vm)
}

/// Each target vCPU's state at the initiator's time `now`, and its distance.
fn target_states<PT: PageTable>(
    sim: &Simulator<PT>,
    id: usize,
    targets: &[usize],
    now: u64,
) -> Vec<Target> {
    let t = sim.timing;
    (targets.iter())
        .map(|&c| {
            let tc = &sim.cores[c];
            // A target waiting for its own shootdown takes interrupts from then on.
            let free_at = tc.waiting_since.unwrap_or_else(|| tc.clock(&t));
            // Its state at the initiator's time: a preempted vCPU's own clock has moved
            // on to its next slice already, and would make it look running.
            let state = match tc.host_rq.map(|(rq, pos)| rq.state(pos, now)) {
                Some(VcpuState::Preempted { resume }) => VcpuState::Preempted { resume },
                _ => VcpuState::Running { free_at },
            };
            Target {
                vcpu: c as u16,
                state,
                path_cycles: sim.ipi_latency(id, c) - sim.shoot.ipi_base_cycles,
            }
        })
        .collect()
}

/// A guest shootdown from vCPU `id` (clock `t0`) to the vCPUs `targets`, as virtual IPIs:
/// the initiator flushes locally first (`work`, as the native synchronous protocol
/// does), then sends under `scheme`. Queues each target's IPI or hypervisor flush and
/// returns when the initiator's wait ends.
pub(super) fn send_virtual<PT: PageTable>(
    sim: &mut Simulator<PT>,
    id: usize,
    targets: &[usize],
    (asid, pages, full): (u16, &Arc<Vec<Evicted>>, bool),
    (work, t0): (u64, u64),
    (scheme, costs): (VipiScheme, VipiCosts),
) -> u64 {
    let now = t0 + work;
    let list = target_states(sim, id, targets, now);
    let req = VipiRequest {
        scheme,
        now,
        targets: &list,
        work,
    };
    let out = virtual_shootdown(&costs, &req);
    let (vm, scope) = (sim.cores[id].vm, scope_of(sim, sim.cores[id].vm));
    for tc in &out.targets {
        let core = &mut sim.cores[tc.vcpu as usize];
        match tc.reached {
            Reached::Ipi => {}
            Reached::Kicked => core.virt.vipi_kicks += 1,
            Reached::FlushOnEntry => core.virt.vipi_entry_flushes += 1,
        }
        let ipi = PendingIpi {
            arrival: tc.at,
            asid,
            pages: pages.clone(),
            full,
            cycles: tc.cycles,
            vpid: tc.flush_scope() == FlushScope::Vpid,
            host: false,
            vm,
            scope: scope.clone(),
        };
        queue_ipi(core, ipi);
    }
    let core = &mut sim.cores[id];
    if core.flush_on_exit && out.exits.ipi_send + out.exits.hypercall > 0 {
        core.vpid_flush();
    }
    let v = &mut core.virt;
    v.vipi_shootdowns += 1;
    v.vipi_send_exits += out.exits.ipi_send;
    v.vipi_hypercall_exits += out.exits.hypercall;
    now + out.initiator_wait
}
