//! The timing of a guest TLB shootdown between virtual CPUs (issue 18, item 7): how long
//! the initiating vCPU waits, what each target vCPU pays and when, and which VM exits the
//! shootdown causes, under five delivery schemes ([`VipiScheme`]).
//!
//! Owns the model only, as a pure function ([`virtual_shootdown`]) over the costs
//! ([`VipiCosts`]) and the targets' host-scheduling state at the shootdown
//! ([`VcpuState`]: running on its core, or preempted until the host runs it again), plus
//! the round-robin host runqueue that gives that state ([`HostRunqueue`]). In: the
//! scheme, the initiator's clock, the target vCPUs with their states, and the guest
//! handler's invalidation work (computed by the caller as natively: pages x INVLPG, or a
//! flush of the address space above the ceiling). Out: a [`VipiOutcome`] value: the
//! initiator's wait, VM exits by cause, and per target one [`TargetCost`] (what reaches
//! it, when, its cycles, what it flushes, and when the initiator saw its acknowledgement,
//! if it waited for it). Nothing is applied here: the engine (`src/sim/shootdown.rs`)
//! will charge the costs and apply the flushes, as it does for native IPIs.
//!
//! The native protocol (`src/sim/shootdown.rs`) is kept where it still holds: IPIs are
//! sent one after the other in the targets' order, a running target takes its interrupt at
//! `max(arrival, its next access boundary)`, and the initiator waits for the last
//! acknowledgement (and for its own last send). What virtualization changes:
//!
//! - `Exit`: each guest write of the interrupt command register (ICR) is a VM exit, and
//!   there is one write per target, not one per shootdown: the guest is taken to use
//!   x2APIC physical destination mode without shorthand (Linux's `x2apic_phys`
//!   `send_IPI_mask` writes the ICR once per destination CPU), the only mode IPI
//!   virtualization virtualizes, so that `Exit` and `Ipiv` differ by the exit alone. A
//!   guest whose one write names several targets (x2APIC cluster mode: one per cluster of
//!   16; the "all but self" shorthand when the mask is every other vCPU) exits once per
//!   write: `PvIpi`'s timing (one exit, then a post per target) is that case's timing too,
//!   with the ICR's decoding in `hypercall_cycles`. The hypervisor posts the interrupt:
//!   a running target gets it after the posted-interrupt notification (no exit on the
//!   target); a preempted one finds it pending when the host runs it again. The
//!   initiator waits for every acknowledgement, the preempted targets' included.
//! - `Ipiv`: IPI virtualization: the CPU posts the interrupt itself, no exit on the sender;
//!   delivery and waiting as `Exit`.
//! - `PvIpi`: KVM's paravirtual send-IPI (`KVM_HC_SEND_IPI`, what a Linux guest on KVM
//!   uses when the hypervisor offers it): one hypercall exit for every target of the
//!   shootdown, the hypervisor posting each; delivery and waiting as `Exit`. (One
//!   hypercall names up to 128 consecutive APIC ids: a VM of more vCPUs may need more,
//!   which is not modelled.)
//! - `PvFlush`: KVM's paravirtual TLB flush (`kvm_flush_tlb_multi`): the initiator reads
//!   each target's steal-time `preempted` flag; a preempted target gets no IPI but a
//!   `KVM_VCPU_FLUSH_TLB` mark, and KVM flushes its guest TLB when it next enters
//!   (`record_steal_time`), so the initiator does not wait for it. Running targets get
//!   IPIs, sent in any of the three ways above ([`IpiSend`]).
//! - `Broadcast`: a flush hypercall (Hyper-V's `HvFlushVirtualAddressSpace` as KVM
//!   implements it): one VM exit on the sender; the hypervisor sets a flush request on each
//!   named vCPU, kicks the running ones out of the guest with a host IPI and waits until
//!   they have exited (`KVM_REQUEST_WAIT`); each flushes its guest TLB before it re-enters.
//!   A preempted one flushes when it next enters; no one waits for it.
//!
//! A flush the hypervisor does at VM entry is of the vCPU's whole guest TLB context
//! ([`FlushScope::Vpid`]: every guest address space on that vCPU, INVVPID single-context),
//! not only the shootdown's pages: a cheaper shootdown buys more misses afterwards.
//!
//! Posted interrupts (APICv) are assumed: an interrupt to a running vCPU never exits it.
//! Not modelled: a running target preempted by the host between the shootdown and the
//! IPI's arrival (the state is taken once, at `now`), a preempted one resumed on another
//! core (its `path_cycles` stay), pause-loop exits of the waiting initiator and directed
//! yield.

/// Costs of the virtual-IPI paths, in host cycles. The defaults are PLACEHOLDERS (round
/// numbers of the right order, not measurements) until cited figures replace them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VipiCosts {
    /// A VM exit: from the trapping guest instruction to the hypervisor's handler.
    pub exit_cycles: u64,
    /// A VM entry: from the end of the hypervisor's handler back to the guest.
    pub entry_cycles: u64,
    /// The hypervisor's emulation of one ICR write (`Exit`): decode the destination,
    /// post the interrupt, send the notification. Between the exit and the entry.
    pub icr_cycles: u64,
    /// One guest ICR write under IPI virtualization (no exit): the CPU's own posting.
    pub ipiv_send_cycles: u64,
    /// From posting an interrupt to a running vCPU to its guest interrupt entry: the
    /// physical notification IPI and its recognition in non-root mode.
    pub posted_latency_cycles: u64,
    /// The guest's interrupt entry and exit on a target (the handler's fixed part; its
    /// invalidations are the request's `work`).
    pub interrupt_cycles: u64,
    /// An acknowledgement's way back to the waiter: the target's write of the line the
    /// waiter polls (Linux's call-function data, or KVM's request-wait ack).
    pub ack_cycles: u64,
    /// `PvFlush`: the initiator's check of one target's steal-time `preempted` flag
    /// (and, for a preempted one, the compare-exchange that marks it).
    pub pv_check_cycles: u64,
    /// The hypervisor's fixed work in a hypercall that names a set of vCPUs (`PvIpi`'s
    /// send-IPI, `Broadcast`'s flush): decode the set, between the exit and the first
    /// vCPU's turn.
    pub hypercall_cycles: u64,
    /// The hypervisor's work per vCPU named in such a hypercall: post its interrupt
    /// (`PvIpi`), or set its flush request and kick it if it runs (`Broadcast`).
    pub per_vcpu_cycles: u64,
    /// `Broadcast`: from sending a kick to the running target's VM exit starting (a host
    /// IPI).
    pub kick_latency_cycles: u64,
    /// A flush of a vCPU's guest TLB context at VM entry (the deferred flush of
    /// `PvFlush` and `Broadcast`).
    pub entry_flush_cycles: u64,
}

impl Default for VipiCosts {
    /// PLACEHOLDERS, not measurements: another lane gathers cited figures.
    fn default() -> Self {
        VipiCosts {
            exit_cycles: 700,
            entry_cycles: 500,
            icr_cycles: 300,
            ipiv_send_cycles: 50,
            posted_latency_cycles: 500,
            interrupt_cycles: 600,
            ack_cycles: 100,
            pv_check_cycles: 30,
            hypercall_cycles: 300,
            per_vcpu_cycles: 50,
            kick_latency_cycles: 500,
            entry_flush_cycles: 500,
        }
    }
}

/// How a guest shootdown reaches the other vCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VipiScheme {
    /// Each ICR write exits; posted-interrupt delivery; wait for every target.
    Exit,
    /// IPI virtualization: ICR writes do not exit; otherwise as `Exit`.
    Ipiv,
    /// One send-IPI hypercall for all targets; otherwise as `Exit`.
    PvIpi,
    /// KVM's paravirtual flush: preempted targets are marked and flushed at their next
    /// entry, not waited for; running ones get IPIs, sent as `send` says.
    PvFlush { send: IpiSend },
    /// A flush hypercall: one exit; running targets kicked and waited for, preempted
    /// ones flushed at their next entry.
    Broadcast,
}

/// How the guest sends IPIs: the first three schemes, and `PvFlush`'s IPIs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiSend {
    /// One ICR write, one VM exit, per target.
    Exit,
    /// One ICR write per target, no exit (IPI virtualization).
    Ipiv,
    /// One send-IPI hypercall (one exit) for all targets.
    PvIpi,
}

/// A target vCPU's host-scheduling state at the shootdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VcpuState {
    /// On its core: it takes an interrupt at its first access boundary at or after the
    /// interrupt's arrival; `free_at` is that boundary's lower bound (its core's clock,
    /// or when it began waiting for its own shootdown), as natively.
    Running { free_at: u64 },
    /// Not on a core (the host runs another thread there); the host runs it again, and it
    /// executes guest code, from `resume` on. A `resume` at or before the shootdown's
    /// `now` counts as running with `free_at = resume`.
    Preempted { resume: u64 },
}

/// One target of a shootdown: its vCPU index in the VM (passed through), its state, and
/// its distance from the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub vcpu: u16,
    pub state: VcpuState,
    /// The topology's latency between the initiator's core and this target's core beyond
    /// the base latencies of [`VipiCosts`] (hops and a socket crossing: natively
    /// `ipi_latency(a, b) - ipi_base_cycles`; 0 on neighbouring cores). Added to the
    /// interrupt's or kick's way there (when it travels to a running target) and to the
    /// acknowledgement's way back.
    pub path_cycles: u64,
}

/// A guest shootdown to time.
#[derive(Clone, Copy, Debug)]
pub struct VipiRequest<'a> {
    pub scheme: VipiScheme,
    /// The initiator's clock when it starts sending (after its local flush, which the
    /// caller charges as natively). The initiator's wait counts from here.
    pub now: u64,
    /// The vCPUs to flush, the initiator excluded, in sending order.
    pub targets: &'a [Target],
    /// The guest handler's invalidation cycles on each IPI target (pages x INVLPG, or a
    /// flush of the address space).
    pub work: u64,
}

/// How the shootdown reached a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reached {
    /// A guest IPI: its handler ran (interrupt entry and exit plus `work`) and it
    /// invalidated what the request names.
    Ipi,
    /// `Broadcast`, running target: kicked out of the guest by the hypervisor (a VM exit
    /// on the target), its guest TLB flushed before it re-entered.
    Kicked,
    /// `PvFlush` or `Broadcast`, preempted target: a deferred flush, applied when the host
    /// runs it again; nobody waited for it.
    FlushOnEntry,
}

/// What a target's flush removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlushScope {
    /// What the shootdown names (its pages, or its address space above the ceiling).
    Request,
    /// Every guest translation the vCPU holds, of every guest address space (its VPID's
    /// entries), and its guest walk-cache entries.
    Vpid,
}

/// One target's share of a shootdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetCost {
    pub vcpu: u16,
    pub reached: Reached,
    /// Host time at which the target starts paying (handler entry, its kicked exit, or
    /// its next VM entry); the flush takes effect by `at + cycles`.
    pub at: u64,
    /// Cycles charged to the target.
    pub cycles: u64,
    /// When the waiter (the initiator, or the hypervisor for `Broadcast`) saw its
    /// acknowledgement; `None` when nobody waits for it.
    pub ack: Option<u64>,
}

impl TargetCost {
    /// What the target's flush removes: a guest handler's INVLPGs or address-space flush
    /// for an IPI, the vCPU's whole guest TLB context for a flush the hypervisor does.
    pub fn flush_scope(&self) -> FlushScope {
        match self.reached {
            Reached::Ipi => FlushScope::Request,
            Reached::Kicked | Reached::FlushOnEntry => FlushScope::Vpid,
        }
    }
}

/// VM exits a shootdown caused, by cause.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmExits {
    /// Exits of the initiator to send IPIs: ICR writes (`Exit`) or send-IPI hypercalls
    /// (`PvIpi`), also as `PvFlush`'s sends.
    pub ipi_send: u64,
    /// Flush hypercalls on the initiator (`Broadcast`).
    pub hypercall: u64,
    /// Running targets kicked out of the guest by the hypervisor (`Broadcast`).
    pub kick: u64,
}

/// The timing of one guest shootdown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VipiOutcome {
    /// Cycles the initiator is stalled, from the request's `now`.
    pub initiator_wait: u64,
    pub exits: VmExits,
    /// One per target, in the request's order.
    pub targets: Vec<TargetCost>,
}

/// Times a guest shootdown under `req.scheme` with `costs`. A pure function: the caller
/// charges `initiator_wait` to the initiator, each target's `cycles` to it at `at`, and
/// applies each flush ([`TargetCost::flush_scope`]); see the module doc for the schemes.
pub fn virtual_shootdown(costs: &VipiCosts, req: &VipiRequest) -> VipiOutcome {
    match req.scheme {
        VipiScheme::Exit => by_ipis(costs, req, IpiSend::Exit, false),
        VipiScheme::Ipiv => by_ipis(costs, req, IpiSend::Ipiv, false),
        VipiScheme::PvIpi => by_ipis(costs, req, IpiSend::PvIpi, false),
        VipiScheme::PvFlush { send } => by_ipis(costs, req, send, true),
        VipiScheme::Broadcast => by_hypercall(costs, req),
    }
}

/// A target's state at `now`: preempted only if it resumes after `now`.
fn preempted_until(state: VcpuState, now: u64) -> Option<u64> {
    match state {
        VcpuState::Preempted { resume } if resume > now => Some(resume),
        _ => None,
    }
}

/// The earliest time a target can take an interrupt or a kick that reaches it while it
/// runs: its access boundary when running, its `resume` when it was preempted (and has
/// resumed by then).
fn free_at(state: VcpuState) -> u64 {
    match state {
        VcpuState::Running { free_at } => free_at,
        VcpuState::Preempted { resume } => resume,
    }
}

/// `Exit`, `Ipiv`, `PvIpi` and `PvFlush`: guest IPIs, sent as `send` says, in the
/// targets' order. With `pv`, the initiator first checks every target's preempted flag
/// and sends IPIs only to the running ones; the preempted ones get a flush at their next
/// entry.
fn by_ipis(costs: &VipiCosts, req: &VipiRequest, send: IpiSend, pv: bool) -> VipiOutcome {
    let now = req.now;
    let mut exits = VmExits::default();
    let mut targets = Vec::with_capacity(req.targets.len());
    let skipped = |tg: &Target| pv && preempted_until(tg.state, now).is_some();
    // `t`: the sender's clock (the hypervisor's, inside an exit). The PV check loop runs
    // before any IPI (kvm_flush_tlb_multi, then the native send).
    let mut t = now;
    if pv {
        t += req.targets.len() as u64 * costs.pv_check_cycles;
    }
    // One send-IPI hypercall for all IPI targets (none when there is none).
    let hypercall = send == IpiSend::PvIpi && req.targets.iter().any(|tg| !skipped(tg));
    if hypercall {
        exits.ipi_send += 1;
        t += costs.exit_cycles + costs.hypercall_cycles;
    }
    let handler = costs.interrupt_cycles + req.work;
    let mut done = t;
    for tg in req.targets {
        let resume = preempted_until(tg.state, now);
        if skipped(tg) {
            targets.push(TargetCost {
                vcpu: tg.vcpu,
                reached: Reached::FlushOnEntry,
                at: resume.expect("skipped targets are preempted"),
                cycles: costs.entry_flush_cycles,
                ack: None,
            });
            continue;
        }
        // `posted`: the interrupt is in the target's posted-interrupt descriptor.
        let posted = match send {
            IpiSend::Exit => {
                exits.ipi_send += 1;
                let posted = t + costs.exit_cycles + costs.icr_cycles;
                t = posted + costs.entry_cycles;
                posted
            }
            IpiSend::Ipiv => {
                t += costs.ipiv_send_cycles;
                t
            }
            IpiSend::PvIpi => {
                t += costs.per_vcpu_cycles;
                t
            }
        };
        // Still preempted when posted: no notification; it finds the interrupt at its
        // VM entry. Otherwise the notification travels and it takes it at its boundary.
        let begin = match resume {
            Some(r) if r > posted => r,
            _ => (posted + costs.posted_latency_cycles + tg.path_cycles).max(free_at(tg.state)),
        };
        let ack = begin + handler + costs.ack_cycles + tg.path_cycles;
        done = done.max(ack);
        targets.push(TargetCost {
            vcpu: tg.vcpu,
            reached: Reached::Ipi,
            at: begin,
            cycles: handler,
            ack: Some(ack),
        });
    }
    if hypercall {
        t += costs.entry_cycles;
    }
    VipiOutcome {
        initiator_wait: done.max(t) - now,
        exits,
        targets,
    }
}

/// `Broadcast`: one hypercall; the hypervisor walks the named vCPUs, kicking the running
/// ones and waiting for their exits, then re-enters the initiator.
fn by_hypercall(costs: &VipiCosts, req: &VipiRequest) -> VipiOutcome {
    let now = req.now;
    let mut exits = VmExits {
        hypercall: 1,
        ..VmExits::default()
    };
    let mut targets = Vec::with_capacity(req.targets.len());
    let mut t = now + costs.exit_cycles + costs.hypercall_cycles;
    let mut done = t;
    for tg in req.targets {
        t += costs.per_vcpu_cycles;
        if let Some(resume) = preempted_until(tg.state, now) {
            targets.push(TargetCost {
                vcpu: tg.vcpu,
                reached: Reached::FlushOnEntry,
                at: resume,
                cycles: costs.entry_flush_cycles,
                ack: None,
            });
            continue;
        }
        // The kick is a host interrupt: it exits the guest at the target's boundary.
        let begin = (t + costs.kick_latency_cycles + tg.path_cycles).max(free_at(tg.state));
        exits.kick += 1;
        // The hypervisor's wait ends once the target has exited; it flushes and
        // re-enters on its own time.
        let ack = begin + costs.exit_cycles + costs.ack_cycles + tg.path_cycles;
        done = done.max(ack);
        targets.push(TargetCost {
            vcpu: tg.vcpu,
            reached: Reached::Kicked,
            at: begin,
            cycles: costs.exit_cycles + costs.entry_flush_cycles + costs.entry_cycles,
            ack: Some(ack),
        });
    }
    VipiOutcome {
        initiator_wait: done.max(t) + costs.entry_cycles - now,
        exits,
        targets,
    }
}

/// A flush the hypervisor starts itself, from inside a VM exit on the initiating vCPU
/// (a host-side change of the VM's host table: a host THP collapse, KVM's
/// `kvm_flush_remote_tlbs`): `Broadcast` without the guest's hypercall exit and decode
/// and without the initiator's re-entry (the exit it runs in is charged by its cause).
/// Running targets are kicked and waited for; preempted ones flush when they next enter.
pub fn host_flush(costs: &VipiCosts, req: &VipiRequest) -> VipiOutcome {
    let inside = VipiCosts {
        exit_cycles: 0,
        hypercall_cycles: 0,
        entry_cycles: 0,
        ..*costs
    };
    let mut out = by_hypercall(&inside, req);
    out.exits.hypercall = 0;
    // The kicked targets' own exits and entries are theirs, at full cost.
    for (t, tg) in out.targets.iter_mut().zip(req.targets) {
        if t.reached == Reached::Kicked {
            t.cycles = costs.exit_cycles + costs.entry_flush_cycles + costs.entry_cycles;
            let ack = t.at + costs.exit_cycles + costs.ack_cycles + tg.path_cycles;
            t.ack = Some(ack);
        }
    }
    let done = (out.targets.iter())
        .filter_map(|t| t.ack)
        .max()
        .unwrap_or(req.now);
    let sent = req.now + req.targets.len() as u64 * costs.per_vcpu_cycles;
    out.initiator_wait = done.max(sent) - req.now;
    out
}

/// A physical core's round-robin host runqueue: `threads` threads (vCPUs or others), each
/// running `quantum` cycles in turn, in position order, with `switch_cycles` between two
/// slices; position 0 starts its first slice at host time 0. So position `p`'s slices are
/// `[k P + p (q + s), k P + p (q + s) + q)` for k = 0, 1, … with period `P = n (q + s)`.
/// A thread alone on its core is never preempted (Linux does not preempt the only
/// runnable task), whatever the quantum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRunqueue {
    pub quantum: u64,
    pub switch_cycles: u64,
    pub threads: u32,
}

impl HostRunqueue {
    /// When the thread at `position` runs guest code again, seen at host time `now`:
    /// `now` itself if it is inside one of its slices, else the start of its next slice.
    pub fn resume_at(&self, position: u32, now: u64) -> u64 {
        assert!(position < self.threads, "position outside the runqueue");
        if self.threads == 1 {
            return now;
        }
        assert!(self.quantum > 0, "a shared core needs a quantum");
        let slot = self.quantum + self.switch_cycles;
        let period = self.threads as u64 * slot;
        let offset = position as u64 * slot;
        // Slices before `offset` belong to round -1, which does not exist: the first
        // slice of `position` starts at `offset`.
        if now < offset {
            return offset;
        }
        let round_start = (now - offset) / period * period + offset;
        if now < round_start + self.quantum {
            now
        } else {
            round_start + period
        }
    }

    /// The state of the thread at `position` at host time `now`, for a shootdown target:
    /// running (taking interrupts from `now`) or preempted until [`Self::resume_at`].
    pub fn state(&self, position: u32, now: u64) -> VcpuState {
        let resume = self.resume_at(position, now);
        if resume == now {
            VcpuState::Running { free_at: now }
        } else {
            VcpuState::Preempted { resume }
        }
    }
}

/// The scheme and costs `[virt.shootdown]` configures.
pub fn from_config(c: &crate::config::VirtShootdownConfig) -> (VipiScheme, VipiCosts) {
    use crate::config::{IpiSendConfig, VipiSchemeConfig};
    let send = match c.pv_flush_send {
        IpiSendConfig::Exit => IpiSend::Exit,
        IpiSendConfig::Ipiv => IpiSend::Ipiv,
        IpiSendConfig::PvIpi => IpiSend::PvIpi,
    };
    let scheme = match c.scheme {
        VipiSchemeConfig::Exit => VipiScheme::Exit,
        VipiSchemeConfig::Ipiv => VipiScheme::Ipiv,
        VipiSchemeConfig::PvIpi => VipiScheme::PvIpi,
        VipiSchemeConfig::PvFlush => VipiScheme::PvFlush { send },
        VipiSchemeConfig::Broadcast => VipiScheme::Broadcast,
    };
    let costs = VipiCosts {
        exit_cycles: c.exit_cycles,
        entry_cycles: c.entry_cycles,
        icr_cycles: c.icr_cycles,
        ipiv_send_cycles: c.ipiv_send_cycles,
        posted_latency_cycles: c.posted_latency_cycles,
        interrupt_cycles: c.interrupt_cycles,
        ack_cycles: c.ack_cycles,
        pv_check_cycles: c.pv_check_cycles,
        hypercall_cycles: c.hypercall_cycles,
        per_vcpu_cycles: c.per_vcpu_cycles,
        kick_latency_cycles: c.kick_latency_cycles,
        entry_flush_cycles: c.entry_flush_cycles,
    };
    (scheme, costs)
}

impl HostRunqueue {
    /// The end of the slice of the thread at `position` that contains `at`, which must
    /// be inside one of its slices (`resume_at(position, at) == at`); `u64::MAX` for a
    /// thread alone on its core.
    pub fn slice_end(&self, position: u32, at: u64) -> u64 {
        if self.threads == 1 {
            return u64::MAX;
        }
        let period = self.threads as u64 * (self.quantum + self.switch_cycles);
        let offset = position as u64 * (self.quantum + self.switch_cycles);
        debug_assert!(at >= offset && (at - offset) % period < self.quantum);
        at - (at - offset) % period + self.quantum
    }
}
