//! Processes, threads and address-space ids on the cores: round-robin scheduling,
//! context switches, PCID reuse, and the system calls the engine runs (fork, exit).
//!
//! Owns the processes (each an address space with its workload stream; threads of one
//! process share its address space) and each core's run queue. Scheduling: each core
//! runs its processes round-robin, `os.sched.quantum_cycles` at a time (0: each to its
//! end), paying `switch_cycles` per switch. TLB and walk-cache entries carry the
//! address-space id; a core has `asids_per_core` ids to give (Linux's 6 PCIDs) and a
//! switch to a process holding none takes the next round-robin, flushing its previous
//! owner's entries; with 0 every switch flushes everything. The running process's stream
//! state lives in its [`Core`] (so the per-access path is the same as with one process)
//! and is exchanged with its [`Process`] at a switch.

use super::core::Core;
use super::shootdown::{apply, take_ipi, Mail};
use super::Simulator;
use crate::pagetable::PageTable;
use crate::virt::Hypervisor;
use crate::workload::{Access, AccessSource, EventKind, OsEvent};
use crate::SimError;
use serde::Serialize;
use std::collections::VecDeque;

/// A forked child's stream: (process index, accesses) -> source.
pub type Spawner = Box<dyn FnMut(usize, u64) -> Result<Box<dyn AccessSource>, SimError>>;

/// A process: an address space and the stream it runs. While it runs, its stream
/// state (source, batch, events) is in its core and this holds placeholders.
pub(super) struct Process {
    pub(super) asid: u16,
    /// Its virtual machine (1 natively).
    pub(super) vm: u16,
    pub(super) core: usize,
    parent: Option<usize>,
    source: Box<dyn AccessSource>,
    buf: Vec<Access>,
    pos: usize,
    pub(super) os_events: VecDeque<(u64, OsEvent)>,
    stream_ended: bool,
    /// Accesses of its stream done, as of its last switch out.
    position: u64,
    pub(super) state: ProcState,
    /// Its direct-segment registers (`os.direct_segment`; none for forked children),
    /// loaded into the core that runs it.
    pub(super) segment: crate::os::direct_segment::Segment,
}

impl Process {
    pub(super) fn new(
        (asid, vm): (u16, u16),
        core: usize,
        parent: Option<usize>,
        source: Box<dyn AccessSource>,
        state: ProcState,
    ) -> Process {
        Process {
            asid,
            vm,
            core,
            parent,
            source,
            buf: Vec::new(),
            pos: 0,
            os_events: Default::default(),
            stream_ended: false,
            position: 0,
            state,
            segment: crate::os::direct_segment::Segment::NONE,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProcState {
    /// Still has accesses to run.
    Ready,
    /// Its stream ended (its memory stays mapped).
    Done,
    /// It exited (an `exit` event): its memory and tables are gone.
    Exited,
}

/// One process at the end of a run.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessStats {
    /// Its address-space id (TLB tag); process i has id i + 1.
    pub asid: u16,
    pub core: usize,
    /// The process that forked it.
    pub parent: Option<usize>,
    /// Accesses of its stream it ran (warm-up included).
    pub accesses: u64,
    pub state: ProcState,
}

/// A stream that has ended: what a process not running holds in place of its state.
pub(super) struct Ended;

impl AccessSource for Ended {
    fn fill(
        &mut self,
        _: &mut Vec<Access>,
        _: usize,
    ) -> Result<(), crate::workload::WorkloadError> {
        Ok(())
    }
}

/// Scheduling parameters fixed for a run.
#[derive(Clone, Copy)]
pub(super) struct Sched {
    pub(super) quantum: u64,
    pub(super) switch_cycles: u64,
    pub(super) asids_per_core: usize,
}

impl<PT: PageTable> Simulator<PT> {
    /// Switches each core's first process in (once, before the first access).
    pub(super) fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        for id in 0..self.cores.len() {
            let first = self.cores[id].queue[0];
            let core = &mut self.cores[id];
            switch_in(core, &mut self.procs[first], first);
            self.sh.mail.load(id, core.asid);
            if let Some(hv) = self.sh.virt.as_deref() {
                take_vpid(core, hv, &mut self.sh.mail);
            }
            if self.sched.asids_per_core > 0 {
                take_asid(core, &self.sched, &mut self.sh.mail, None);
            }
            // A vCPU whose host slice comes later starts when it does (and its guest
            // quantum with it).
            super::vcpu::host_preempt(core, &self.timing);
            if core.queue.len() > 1 && self.sched.quantum > 0 {
                core.slice_end = core.clock(&self.timing) + self.sched.quantum;
            }
        }
    }

    /// The next ready process of core `id` after the running one, round-robin, takes
    /// over (the running one goes on if it is the only one ready); none: the core is done.
    pub(super) fn schedule(&mut self, id: usize) {
        let core = &self.cores[id];
        let cur = core.queue.iter().position(|&p| p == core.proc).unwrap_or(0);
        let len = core.queue.len();
        let next = (1..=len)
            .map(|k| core.queue[(cur + k) % len])
            .find(|&p| self.procs[p].state == ProcState::Ready);
        let ready = (core.queue.iter())
            .filter(|&&p| self.procs[p].state == ProcState::Ready)
            .count();
        let t = self.timing;
        let core = &mut self.cores[id];
        let mail = &mut self.sh.mail;
        match next {
            None => {
                core.done = true;
                mail.idle[id] = true;
                // An idle core takes the IPIs still on their way as they come.
                while let Some(ipi) = core.ipis.pop_front() {
                    take_ipi(core, &ipi);
                }
                core.next_ipi = u64::MAX;
            }
            Some(n) if n == core.proc => {}
            Some(n) => {
                // Walks in flight finish before the kernel switches.
                core.drain_walks(&t);
                let (r, prev, prev_vm) = (core.proc, core.asid, core.vm);
                switch_out(core, &mut self.procs[r]);
                switch_in(core, &mut self.procs[n], n);
                match self.sh.virt.as_deref() {
                    Some(hv) if core.vm != prev_vm => vm_switch(core, hv, mail),
                    _ => {
                        core.stall_total += self.sched.switch_cycles;
                        core.os_stats.context_switches += 1;
                        core.os_stats.switch_cycles += self.sched.switch_cycles;
                        // The guest's CR3 write traps under shadow paging: an exit.
                        if let Some(hv) = self.sh.virt.as_deref().filter(|_| core.asid != prev) {
                            core.stall_total += hv.shadow_cr3_write(&mut core.virt);
                        }
                    }
                }
                // Threads of one process share the loaded address space: no new id,
                // no flush (Linux does not switch the mm between them).
                if core.asid != prev {
                    take_asid(core, &self.sched, mail, self.sh.virt.as_deref());
                }
                mail.load(id, core.asid);
                let d = &mut mail.deferred[id];
                if let Some(i) = d.iter().position(|&a| a == core.asid) {
                    // Its translations changed while this core ran another process.
                    d.swap_remove(i);
                    core.tlbs.flush_asid(core.asid);
                    core.walker.flush_asid(core.asid);
                    core.os_stats.shootdown.deferred_flushes += 1;
                }
            }
        }
        core.slice_end = if ready > 1 && self.sched.quantum > 0 {
            core.clock(&t) + self.sched.quantum
        } else {
            u64::MAX
        };
    }

    /// Runs the fork or exit at the front of core `id`'s events.
    pub(super) fn syscall(&mut self, id: usize) -> Result<(), SimError> {
        let core = &mut self.cores[id];
        core.syscall = false;
        let Some((_, ev)) = core.os_events.pop_front() else {
            return Ok(());
        };
        match ev.kind {
            EventKind::Fork => self.fork(id, ev.child_accesses)?,
            EventKind::Exit => self.exit(id)?,
            _ => {
                return Err(SimError(format!(
                    "internal: {} is not a system call of the engine",
                    ev.kind.name()
                )))
            }
        }
        let core = &mut self.cores[id];
        core.os_event_at =
            (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
        Ok(())
    }

    /// `fork()` on core `id`: a child address space sharing the running process's pages
    /// copy-on-write, running a stream of `child_accesses` on the same core (none: it
    /// only holds its pages).
    fn fork(&mut self, id: usize, child_accesses: u64) -> Result<(), SimError> {
        let ci = self.procs.len();
        if self.next_asid as u32 > crate::config::MAX_PROCESSES {
            return Err(SimError(format!(
                "core {id}: a fork would make address space {}: at most {} fit the 14-bit address-space ids",
                self.next_asid,
                crate::config::MAX_PROCESSES
            )));
        }
        let child = self.next_asid;
        self.next_asid += 1;
        if child_accesses > 0 && !PT::ALIASES {
            return Err(SimError(format!(
                "core {id}: a forked child cannot run on this page table: it maps each frame once, so the child cannot share the parent's (use a radix or hashed design, or fork without child_accesses)"
            )));
        }
        let core = &mut self.cores[id];
        let (asid, vm) = (core.asid, core.vm);
        let (os, fx) = (&mut self.sh.os[super::vm_index(vm)], &mut self.sh.fx);
        if PT::SHARED {
            os.fork(
                &mut self.spaces[super::vm_index(vm)],
                None,
                (asid, child),
                &mut core.os_stats,
                fx,
            )?;
        } else {
            let space = Self::space_index(vm, asid);
            let mut c = self.spaces[space].new_space(&mut os.frames)?;
            let parent = &mut self.spaces[space];
            os.fork(parent, Some(&mut c), (asid, child), &mut core.os_stats, fx)?;
            self.spaces.push(c);
        }
        // Evictions of a global table, and the parent's flush on every core that runs
        // one of its threads (Linux write-protects the parent's PTEs and flushes its mm).
        let os = self.sh.fx.cycles;
        // The OS's fork cycles are counted where it counts them; a shadow-paging
        // hypervisor's work on the flush is the core's time.
        let mut hv = self.sh.virt.as_deref_mut();
        if let Some(hv) = hv.as_deref_mut() {
            // The child lives in its parent's VM.
            hv.assign(child, vm);
        }
        core.stall_total += apply(core, &mut self.sh.fx, &mut self.sh.mail, hv) - os;
        let nested = (self.sh.virt.as_deref_mut()).filter(|hv| !hv.shadow_mode());
        if let Some(hv) = nested.filter(|_| !PT::SHARED) {
            // The guest kernel wrote the child's tables: the host backs them now, not at
            // the child's first walks. (A table shared by all address spaces took the
            // child's entries in pages the model cannot list: backed at first walk.)
            let pt = &self.spaces[Self::space_index(vm, child)];
            let work = hv.back_forked_tables(pt, child, &mut core.virt)?;
            let mail = &mut self.sh.mail;
            core.stall_total += super::nested::host_event_work(core, hv, mail, work, work.0 > 0);
        }
        let runs = child_accesses > 0;
        let source: Box<dyn AccessSource> = if runs {
            let spawn = self.spawn.as_mut().ok_or_else(|| {
                SimError(
                    "internal: a fork gives its child accesses but the run has no spawner".into(),
                )
            })?;
            spawn(ci, child_accesses)?
        } else {
            Box::new(Ended)
        };
        // A child without accesses only holds its pages.
        let state = if runs {
            ProcState::Ready
        } else {
            ProcState::Done
        };
        let parent = Some(core.proc);
        (self.procs).push(Process::new((child, vm), id, parent, source, state));
        if runs {
            core.queue.push(ci);
            if self.sched.quantum > 0 && core.slice_end == u64::MAX {
                core.slice_end = core.clock(&self.timing) + self.sched.quantum;
            }
        }
        Ok(())
    }

    /// `exit_group()` on core `id`: every thread of the running process ends here, its
    /// memory and (unless shared by all) its tables are freed, and its entries leave
    /// every core.
    fn exit(&mut self, id: usize) -> Result<(), SimError> {
        let core = &mut self.cores[id];
        let (asid, vm) = (core.asid, core.vm);
        let space = Self::space_index(vm, asid);
        let (os, fx) = (&mut self.sh.os[super::vm_index(vm)], &mut self.sh.fx);
        os.exit(&mut self.spaces[space], asid, &mut core.os_stats, fx)?;
        apply(core, fx, &mut self.sh.mail, self.sh.virt.as_deref_mut());
        if let Some(hv) = self.sh.virt.as_deref_mut() {
            hv.shadow_release(asid)?;
            hv.release(asid);
        }
        if !PT::SHARED {
            self.spaces[space].release_space(&mut os.frames)?;
        }
        for (i, p) in self.procs.iter_mut().enumerate() {
            if p.asid != asid || p.state == ProcState::Exited {
                continue;
            }
            p.state = ProcState::Exited;
            let c = &mut self.cores[p.core];
            if c.proc == i && self.started {
                // Running: its core stops it at once.
                c.stream_ended = true;
                c.os_events.clear();
                c.buf.clear();
                c.pos = 0;
                c.source = Box::new(Ended);
            } else {
                p.stream_ended = true;
                p.os_events.clear();
                p.buf.clear();
                p.pos = 0;
                p.source = Box::new(Ended);
            }
        }
        // No thread is left to take an IPI: the entries go from every core that may
        // hold them (Linux's flush at exit_mmap reaches lazy cores).
        for c in &mut self.cores {
            c.tlbs.flush_asid(asid);
            c.walker.flush_asid(asid);
        }
        let mail = &mut self.sh.mail;
        mail.outgoing.retain(|o| o.asid != asid);
        mail.pending = !mail.outgoing.is_empty();
        Ok(())
    }

    /// Every process at this point: where it runs, how far its stream got, its state.
    pub fn process_stats(&self) -> Vec<ProcessStats> {
        (self.procs.iter().enumerate())
            .map(|(i, p)| {
                let c = &self.cores[p.core];
                let accesses = if self.started && c.proc == i {
                    c.stream_base.wrapping_add(c.counters.accesses)
                } else {
                    p.position
                };
                ProcessStats {
                    asid: p.asid,
                    core: p.core,
                    parent: p.parent,
                    accesses,
                    state: p.state,
                }
            })
            .collect()
    }
}

/// Moves process `p`'s stream state into `core` (the core's goes to `p`: the
/// placeholders a running process holds) and makes it the running one.
fn switch_in(core: &mut Core, p: &mut Process, index: usize) {
    exchange(core, p);
    core.proc = index;
    core.asid = p.asid;
    core.vm = p.vm;
    core.segment = p.segment;
    core.stream_base = p.position.wrapping_sub(core.counters.accesses);
    core.os_event_at =
        (core.os_events.front()).map_or(u64::MAX, |e| e.0.wrapping_sub(core.stream_base));
}

/// Gives the running process's stream state back to `p`.
fn switch_out(core: &mut Core, p: &mut Process) {
    p.position = core.stream_base.wrapping_add(core.counters.accesses);
    exchange(core, p);
}

fn exchange(core: &mut Core, p: &mut Process) {
    std::mem::swap(&mut core.source, &mut p.source);
    std::mem::swap(&mut core.buf, &mut p.buf);
    std::mem::swap(&mut core.pos, &mut p.pos);
    std::mem::swap(&mut core.os_events, &mut p.os_events);
    std::mem::swap(&mut core.stream_ended, &mut p.stream_ended);
}

/// The running process gets an address-space id on this core: the one it holds, or
/// the next round-robin, whose previous owner's TLB and walk-cache entries are flushed
/// (Linux's choose_new_asid, arch/x86/mm/tlb.c); without ids, everything is flushed.
/// Each VM's guest kernel gives its own ids on its vCPU (VM v's `asids_per_core` slots);
/// without ids, the guest's CR3 write flushes its own VPID's entries (`hv`'s scope of
/// the VM, everything on a one-VM or native machine).
fn take_asid(core: &mut Core, sched: &Sched, mail: &mut Mail, hv: Option<&Hypervisor>) {
    let asid = core.asid;
    let n = sched.asids_per_core;
    if n == 0 {
        core.flush_guest(hv.and_then(|hv| hv.scope(core.vm)));
        core.os_stats.switch_flushes += 1;
        return;
    }
    let v = super::vm_index(core.vm);
    let slots = &mut core.asid_slots[v * n..(v + 1) * n];
    if slots.contains(&asid) {
        return;
    }
    let next = &mut core.next_slot[v];
    let victim = std::mem::replace(&mut slots[*next], asid);
    *next = (*next + 1) % n;
    if victim != 0 {
        core.tlbs.flush_asid(victim);
        core.walker.flush_asid(victim);
        core.os_stats.asid_flushes += 1;
        mail.hold(core.id, victim, false);
    }
    mail.hold(core.id, asid, true);
}

/// Several VMs share `core`: the host switches from another VM's vCPU to the running
/// process's VM's (a VM exit on the outgoing vCPU and the host's context switch, in
/// place of a guest context switch), and the incoming VM needs a VPID on the core.
fn vm_switch(core: &mut Core, hv: &Hypervisor, mail: &mut Mail) {
    let c = hv.exit_cycles().saturating_add(hv.host_switch_cycles());
    core.stall_total += c;
    core.virt.vm_switches += 1;
    core.virt.vm_switch_cycles += c;
    core.vm_switches_in[super::vm_index(core.vm)] += 1;
    if core.flush_on_exit {
        // No VPIDs: the exit flushed the guest's entries.
        core.vpid_flush();
    }
    take_vpid(core, hv, mail);
}

/// The running VM keeps the VPID it holds on `core`, or takes the next round-robin:
/// the previous holder's TLB and guest walk-cache entries go (every address space of
/// that VM, and with them its guest's address-space ids on this core), as KVM flushes
/// a VPID it reassigns. A machine with a VPID per VM (the default) never flushes.
fn take_vpid(core: &mut Core, hv: &Hypervisor, mail: &mut Mail) {
    let vm = core.vm;
    let n = core.vpid_slots.len();
    if n == 0 || core.vpid_slots.contains(&vm) || hv.vms() <= n {
        return;
    }
    let victim = std::mem::replace(&mut core.vpid_slots[core.next_vpid], vm);
    core.next_vpid = (core.next_vpid + 1) % n;
    if victim == 0 {
        return;
    }
    core.flush_guest(hv.scope(victim));
    core.virt.vpid_flushes += 1;
    let k = core.asid_slots.len() / hv.vms();
    let v = super::vm_index(victim);
    for slot in &mut core.asid_slots[v * k..(v + 1) * k] {
        let a = std::mem::replace(slot, 0);
        if a != 0 {
            mail.hold(core.id, a, false);
        }
    }
}
