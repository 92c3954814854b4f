//! The machine: cores, processes, the shared memory system and the OS, and the engine
//! that runs them in global time order.
//!
//! In: one [`AccessSource`] per task at start (process i runs on core i mod cores;
//! forked children get theirs from a [`Spawner`]), OS events per process. Out: a
//! [`RunStats`] tree (per core and total) for the report, and the timeline.
//!
//! One file per job:
//! - `engine`: global time order, the run loop, the bookkeeping at batch, warm-up,
//!   window and event boundaries;
//! - `core`: a core and one access's translation path (TLBs -> walker -> OS), the hot
//!   path;
//! - `sched`: processes, threads, address-space ids (PCIDs), context switches, fork and
//!   exit;
//! - `nested`, `shadow`: a virtualized machine's TLB miss, by nested paging or by
//!   shadow paging;
//! - `shootdown`: the one place an OS call's effects reach the cores, and the IPI
//!   shootdown protocol over the cores' `topology`;
//! - `stats`: what a run counted, gathered from the components;
//! - `seen`: the translations each core has used, which makes a miss compulsory;
//! - `record`: the `Recorder` the translation path reports its steps to (`explain`);
//! - `nested`: a virtualized machine's TLB-miss path (nested walks, guest faults, EPT
//!   violations), and `vcpu`: its vCPUs under the host scheduler and guest shootdowns as
//!   virtual IPIs.
//!
//! Core timing: clock = instructions x base CPI + stall cycles. Translation latency of an
//! access = TLB probes + walk-cache probe + PTE reads + wait for a free walker + fault
//! handling; every part is counted where it happens (TLB levels, walker, OS) and the core
//! also measures the whole from timestamps, so the two can be checked against each other.
//! What the core stalls for: everything but the L1 TLB probe when the pipeline hides it
//! (`sim.l1_tlb_overlapped`, hits and misses alike); with `sim.overlap_window = W > 0` a
//! walk runs in the background until the core has executed W more instructions, and walks
//! beyond `walker.max_concurrent_walks` wait for a free walker.

mod core;
mod engine;
mod fused;
mod miss;
mod nested;
mod overflow;
pub mod prefetch;
mod reach;
pub mod record;
mod sched;
mod seen;
mod shadow;
mod shootdown;
pub mod spec;
mod stats;
mod timing;
pub mod topology;
mod vcpu;
pub mod victima;

pub use self::core::{CoreCounters, TranslationCycles, TLB_READ_LEVELS};
pub use sched::{ProcState, ProcessStats, Spawner};
pub use stats::{CoreStats, RunStats, TimelinePoint};

use self::core::{step, Core, Timing};
use crate::config::SystemConfig;
use crate::memory::MemorySystem;
use crate::os::{Effects, Os};
use crate::pagetable::{PageTable, Radix};
use crate::tlb::DATA;
use crate::workload::{Access, AccessSource, OsEvent};
use crate::SimError;
use record::Recorder;
use sched::{Process, Sched};
use shootdown::Mail;

/// Accesses fetched from a source at a time.
pub const BATCH: usize = 4096;

/// What every core reaches on its translation path: the memory system, the OS with the
/// effects buffer its calls fill, and the mail that carries those effects to the cores.
struct Shared {
    mem: MemorySystem,
    /// The OS: natively one; on a virtualized machine each VM's guest OS (VM v at
    /// v - 1), each over its own guest-physical memory.
    os: Vec<Os>,
    fx: Effects,
    mail: Mail,
    /// The hypervisor of a virtualized machine (`[virt]`): `os` is then the guests'.
    virt: Option<Box<crate::virt::Hypervisor>>,
}

/// Index in [`Shared::os`] of VM `vm`'s OS (1 natively).
#[inline(always)]
fn vm_index(vm: u16) -> usize {
    vm as usize - 1
}

/// A warm-up whose length is still being counted when the run starts: see
/// [`Simulator::set_late_warmup`].
pub trait LateWarmup: Send + Sync {
    /// Where a core whose count is `at` (not past the warm-up) stops next, waiting until
    /// that is known; never beyond the warm-up's end.
    fn after(&self, at: u64) -> WarmupStop;
}

/// The answer of [`LateWarmup::after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarmupStop {
    /// The warm-up ends here.
    Now,
    /// Not before this count: ask again there.
    At(u64),
    /// Never (the count failed: the run's caller reports that instead of the run).
    Never,
}

/// A machine built from a config, generic over the page-table design.
pub struct Simulator<PT: PageTable = Radix> {
    cores: Vec<Core>,
    /// Per core, the fused path's views of its structures (`fused.rs`), kept across
    /// the engine's turns and checked at each stop; `None` until made, or while the
    /// run is not in the fused shape.
    fused: Vec<Option<fused::Views>>,
    procs: Vec<Process>,
    /// One table per process, or one for all when the design is global (one per VM on
    /// a machine of several: each VM's guest-physical memory is its own).
    spaces: Vec<PT>,
    sh: Shared,
    timing: Timing,
    sched: Sched,
    accesses_done: u64,
    /// Cores past warm-up.
    warm_cores: usize,
    /// Accesses per timeline window; 0 when no timeline is recorded.
    timeline_window: u64,
    /// Each core has switched its first process in.
    started: bool,
    spawn: Option<Spawner>,
    topology: topology::Topology,
    shoot: crate::config::ShootdownConfig,
    /// The address-space id the next forked child takes.
    next_asid: u16,
    threads: usize,
    /// How guest shootdowns reach other vCPUs (a virtualized machine).
    vipi: Option<(crate::virt::vipi::VipiScheme, crate::virt::vipi::VipiCosts)>,
    /// A warm-up still being counted ([`Simulator::set_late_warmup`]).
    late: Option<std::sync::Arc<dyn LateWarmup>>,
    /// Checked at batch boundaries: once set, the run ends with what it has.
    stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// The run ended at the stop flag, before its streams did.
    interrupted: bool,
}

impl Simulator<Radix> {
    /// Build a machine with radix page tables; `sources[i]` feeds core i.
    pub fn new_radix(
        cfg: &SystemConfig,
        sources: Vec<Box<dyn AccessSource>>,
    ) -> Result<Self, SimError> {
        let bits = cfg.page_table.radix_bits();
        Simulator::build(cfg, sources, |frames| Radix::new(&bits, frames))
    }
}

impl<PT: PageTable> Simulator<PT> {
    /// Build a machine; `make_pt` creates one address space's table; `sources[i]`
    /// feeds process i (one per core unless `os.sched.processes` says otherwise).
    pub fn build(
        cfg: &SystemConfig,
        sources: Vec<Box<dyn AccessSource>>,
        mut make_pt: impl FnMut(&mut crate::os::frames::FrameAllocator) -> Result<PT, SimError>,
    ) -> Result<Self, SimError> {
        let n = cfg.sim.cores as usize;
        let n_procs = cfg.os.processes(cfg.sim.cores) as usize;
        let threads = cfg.os.sched.threads.max(1) as usize;
        let n_tasks = n_procs * threads;
        if sources.len() != n_tasks {
            return Err(SimError(format!(
                "{} workload streams for {n_tasks} tasks ({n_procs} processes of {threads} threads)",
                sources.len()
            )));
        }
        let topology = topology::Topology::new(&cfg.topology, n)
            .map_err(|(k, m)| SimError(format!("{k}: {m}")))?;
        let seed = cfg.sim.seed;
        let (oses, spaces, vm_of_proc) = guests(cfg, n_procs, &mut make_pt)?;
        let procs: Vec<Process> = (sources.into_iter().enumerate())
            .map(|(i, source)| {
                let asid = (i / threads) as u16 + 1;
                let vm = vm_of_proc(i / threads);
                Process::new((asid, vm), i % n, None, source, sched::ProcState::Ready)
            })
            .collect();
        // TLB entries held in memory: each core's at its own place in the region at the
        // top of physical memory that the OS was built without (`guests`).
        let reserved = crate::config::tlb_memory_bytes(&cfg.tlb, cfg.sim.cores);
        let region = (cfg.os.phys_mem.0 & !0xfff) - reserved;
        let cores: Vec<Core> = (0..n)
            .map(|i| {
                let s = crate::util::splitmix64(seed.wrapping_add(i as u64));
                let mut c = Core::new(cfg, i, (n, n_tasks), s);
                let per_core = c.tlbs.memory_bytes();
                c.tlbs.place(region + i as u64 * per_core);
                c
            })
            .collect();
        let tlb_reads_memory = cores.iter().any(|c| c.tlbs.reads_memory());
        let mut sim = Simulator {
            fused: vec![None; cores.len()],
            cores,
            sh: Shared {
                mem: MemorySystem::new(&cfg.memory, n, crate::util::splitmix64(seed ^ 0x3e3)),
                os: oses,
                fx: Effects::default(),
                mail: Mail::new(n, &cfg.shootdown),
                virt: match &cfg.virt {
                    Some(v) => {
                        let mut hv = crate::virt::Hypervisor::new(
                            v,
                            crate::util::splitmix64(seed ^ 0x4e57),
                        )?;
                        for p in procs.iter().step_by(threads) {
                            hv.assign(p.asid, p.vm);
                        }
                        if v.mode == crate::config::VirtMode::Shadow {
                            let pt = &cfg.page_table;
                            hv.enable_shadow(v, pt.radix_bits(), pt.va_bits());
                        }
                        Some(Box::new(hv))
                    }
                    None => None,
                },
            },
            procs,
            spaces,
            timing: Timing {
                cpi_milli: (cfg.sim.base_cpi * 1000.0).round() as u64,
                l1_overlapped: cfg.sim.l1_tlb_overlapped,
                window: cfg.sim.overlap_window as u64,
                cycle_limit: overflow::limit(n),
                va_limit: 1u64
                    .checked_shl(cfg.page_table.va_bits())
                    .unwrap_or(u64::MAX),
                direct_segment: cfg.os.direct_segment.is_some(),
                eager: cfg.os.rmm.as_ref().is_some_and(|r| r.eager_paging),
                tlb_reads_memory,
                victima: cfg.victima.as_ref().is_some_and(|v| v.enable),
                utopia: cfg.os.utopia.is_some(),
                spectlb: cfg.spectlb.as_ref().is_some_and(|s| s.enable),
                prefetch: cfg.prefetch.is_some(),
                after_fill: cfg.prefetch.is_some()
                    || cfg.victima.as_ref().is_some_and(|v| v.enable)
                    || cfg.os.rmm.as_ref().is_some_and(|r| r.eager_paging),
            },
            sched: Sched {
                quantum: cfg.os.sched.quantum_cycles,
                switch_cycles: cfg.os.sched.switch_cycles,
                asids_per_core: cfg.os.sched.asids_per_core as usize,
            },
            accesses_done: 0,
            warm_cores: 0,
            timeline_window: 0,
            started: false,
            spawn: None,
            topology,
            shoot: cfg.shootdown.clone(),
            next_asid: n_procs as u16 + 1,
            threads,
            vipi: (cfg.virt.as_ref()).map(|v| crate::virt::vipi::from_config(&v.shootdown)),
            late: None,
            stop: None,
            interrupted: false,
        };
        if let Some(ds) = &cfg.os.direct_segment {
            sim.make_direct_segments(ds)?;
        }
        if let Some(v) = cfg.victima.as_ref().filter(|v| v.enable) {
            // Validated: the level exists and is private.
            sim.sh.mem.hold_tlb_blocks(&v.level).ok_or_else(|| {
                SimError(format!("victima.level: no cache level \"{}\"", v.level))
            })?;
        }
        // The guest kernel zeroed each address space's first table when it made it:
        // the host has backed it (a walk of any address reads it).
        if let Some(hv) = (sim.sh.virt.as_deref_mut()).filter(|hv| !hv.shadow_mode()) {
            for (i, pt) in sim.spaces.iter().enumerate() {
                // A global table's: that of its VM's first process.
                let asid = match PT::SHARED {
                    true => (sim.procs.iter().step_by(threads))
                        .find(|p| vm_index(p.vm) == i)
                        .map_or(1, |p| p.asid),
                    false => i as u16 + 1,
                };
                let mut build = crate::virt::VirtStats::default();
                hv.back_guest_fault(pt, asid, crate::addr::VirtAddr(0), &mut build, |_, _| {})?;
            }
        }
        Ok(sim)
    }

    /// Each process's primary region at its start (`os.direct_segment`; native only),
    /// in process order: its registers go to every thread of the process.
    fn make_direct_segments(
        &mut self,
        ds: &crate::config::DirectSegmentConfig,
    ) -> Result<(), SimError> {
        for i in (0..self.procs.len()).step_by(self.threads) {
            let (asid, vm) = (self.procs[i].asid, self.procs[i].vm);
            let pt = &mut self.spaces[Self::space_index(vm, asid)];
            let seg = self.sh.os[vm_index(vm)].make_direct_segment(pt, asid, ds)?;
            for p in self.procs.iter_mut().filter(|p| p.asid == asid) {
                p.segment = seg;
            }
        }
        Ok(())
    }

    /// Index in `spaces` of the table of address space `asid` of VM `vm` (1 natively).
    #[inline(always)]
    fn space_index(vm: u16, asid: u16) -> usize {
        if PT::SHARED {
            vm_index(vm)
        } else {
            asid as usize - 1
        }
    }

    /// Where forked children's streams come from (needed only by forks that give the
    /// child accesses to run).
    pub fn set_spawner(&mut self, spawn: Spawner) {
        self.spawn = Some(spawn);
    }

    /// OPT page replacement: process `proc`'s whole stream of 4 KiB page numbers, read
    /// ahead of the run.
    pub fn set_future(&mut self, proc: usize, vpns: &[u64]) -> Result<(), SimError> {
        if self.threads > 1 {
            return Err(SimError(
                "os.paging.replacement = \"opt\" looks ahead over one stream per address space: it needs os.sched.threads = 1".into(),
            ));
        }
        let p = &self.procs[proc];
        self.sh.os[vm_index(p.vm)].set_future(p.asid, vpns)
    }

    /// Process `proc`'s OS events (stream position, event), in order; before the run.
    pub fn set_events(&mut self, proc: usize, events: Vec<(u64, OsEvent)>) {
        assert!(!self.started, "events are set before the run");
        if !events.is_empty() && !self.spaces.is_empty() && self.spaces[0].mappings(1).is_none() {
            // Forks, exits and long unmaps must know what is mapped; a design that
            // cannot list its mappings (hashed) has the OS keep a log of them.
            for os in &mut self.sh.os {
                os.log_mappings();
            }
        }
        self.procs[proc].os_events = events.into();
    }

    /// The workload's heap, [start, end) of every process at start: the mapping eager
    /// paging (`os.rmm`) allocates whole at its first fault, where no `mmap` event
    /// gave one. Nothing without `os.rmm`.
    pub fn set_heap(&mut self, start: u64, end: u64) {
        for p in self.procs.iter().step_by(self.threads) {
            self.sh.os[vm_index(p.vm)].rmm_heap(p.asid, start, end);
        }
    }

    /// Number of processes (forked children included).
    pub fn processes(&self) -> usize {
        self.procs.len()
    }

    /// Whether the OS needs [`Simulator::set_future`] before the run.
    pub fn needs_future(&self) -> bool {
        self.sh.os.iter().any(|os| os.needs_future())
    }

    /// Record each core's counters every `window` accesses (after warm-up) during
    /// [`Simulator::run`]; read them with [`Simulator::timeline`]. Call before `run`;
    /// `window` must be at least 1. Costs nothing per access: the window end shares the
    /// warm-up's compare.
    pub fn set_timeline(&mut self, window: u64) {
        assert!(window > 0, "a timeline window holds at least one access");
        self.timeline_window = window;
        for c in &mut self.cores {
            c.timeline_window = window;
            if c.warm {
                c.event_at = c.counters.accesses + window;
            }
        }
    }

    /// A warm-up still being counted when the run starts (a compressed trace's automatic
    /// warm-up, `trace::predecode`): the cores stop at what is known of it so far and
    /// ask again there, until their count reaches it. The same accesses end the warm-up
    /// as when it is known at the start. Call before [`Simulator::set_timeline`].
    pub fn set_late_warmup(&mut self, late: std::sync::Arc<dyn LateWarmup>) {
        for c in &mut self.cores {
            match late.after(c.counters.accesses) {
                WarmupStop::Now | WarmupStop::Never => {}
                WarmupStop::At(at) => {
                    c.warm = false;
                    c.event_at = at;
                }
            }
        }
        self.late = Some(late);
    }

    /// A flag that, once set (Ctrl-C), ends [`Simulator::run`] at the next batch
    /// boundary with the statistics so far. Checked once per batch of [`BATCH`]
    /// accesses of a core, never per access.
    pub fn set_stop(&mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) {
        self.stop = Some(flag);
    }

    /// Whether the run ended at the stop flag rather than at the end of its streams.
    pub fn interrupted(&self) -> bool {
        self.interrupted
    }

    /// Records the reference stream of TLB structure `tlb` (below level 1) of core 0 from
    /// now on, for the one-pass geometry sweep (`tlb/record.rs`).
    pub fn record_tlb(&mut self, tlb: usize) -> Result<(), SimError> {
        (self.cores[0].tlbs).record_structure(tlb).map_err(SimError)
    }

    /// What [`Simulator::record_tlb`] recorded, leaving nothing recorded.
    pub fn take_tlb_record(&mut self) -> Option<crate::tlb::TlbRecord> {
        self.cores[0].tlbs.take_record()
    }

    /// Accesses simulated so far (all cores).
    pub fn accesses_done(&self) -> u64 {
        self.accesses_done
    }

    /// Translate one access `a` on core `core` outside [`Simulator::run`], telling `rec`
    /// every step (the teaching view, `mmusim explain`). The same code as a run's
    /// accesses, with the same effects on every structure; warm-up and timeline
    /// bookkeeping are left out.
    pub fn access_recorded<R: Recorder>(
        &mut self,
        core: usize,
        a: Access,
        rec: &mut R,
    ) -> Result<(), SimError> {
        if core >= self.cores.len() {
            return Err(SimError(format!(
                "core {core}: the machine has {} cores",
                self.cores.len()
            )));
        }
        self.start();
        let t = self.timing;
        let c = &mut self.cores[core];
        for e in self.sh.mail.inboxes[core].drain(..) {
            c.tlbs.invalidate_page(e.asid, e.vaddr, e.size);
        }
        let pt = &mut self.spaces[Self::space_index(c.vm, c.asid)];
        self.accesses_done += 1;
        step::<_, _, false>(c, a, pt, &mut self.sh, &t, rec)
    }

    /// Address-space id of the process core `core` runs (a page table's key for it).
    pub fn asid(&self, core: usize) -> u16 {
        if self.started {
            self.cores[core].asid
        } else {
            self.procs[self.cores[core].queue[0]].asid
        }
    }

    /// Names of the TLB structures of 0-based level `level` that serve data accesses.
    pub fn tlb_names(&self, core: usize, level: usize) -> Vec<String> {
        self.cores[core].tlbs.structure_names(level, DATA)
    }

    /// Probe cycles of each TLB level for data accesses, level 1 first.
    pub fn tlb_latencies(&self, core: usize) -> Vec<u64> {
        let tl = &self.cores[core].tlbs;
        (0..tl.num_levels())
            .map(|l| tl.level_latency(l, DATA) as u64)
            .collect()
    }

    /// Name and level of each walk cache of `core`, as [`record::Event::WalkCache`]
    /// numbers them.
    pub fn walk_cache_names(&self, core: usize) -> Vec<(String, u32)> {
        self.cores[core].walker.psc_names()
    }

    /// Name and line size of each memory level of `core`, nearest first, DRAM last (as
    /// [`record::Event::PteRead`] numbers them).
    pub fn memory_levels(&self, core: usize) -> Vec<(String, u64)> {
        self.sh.mem.level_names(core)
    }

    /// The host translation of guest-physical `gpa` in the VM of address space `asid` on
    /// a virtualized machine (`None` natively, or when the host has not backed it).
    pub fn host_translation(
        &self,
        asid: u16,
        gpa: crate::addr::GuestPhysAddr,
    ) -> Option<crate::pagetable::Translation> {
        let hv = self.sh.virt.as_deref()?;
        hv.translate(hv.vm_of(asid), gpa)
    }

    /// The page table of the address space core `core` runs (for tests and tools).
    pub fn page_table(&self, core: usize) -> &PT {
        let vm = match self.started {
            true => self.cores[core].vm,
            false => self.procs[self.cores[core].queue[0]].vm,
        };
        &self.spaces[Self::space_index(vm, self.asid(core))]
    }
}

/// Each VM's guest OS (natively, the one OS) and the address spaces' tables in its
/// memory (a global design's one per VM), and the VM of each process: process i of
/// `n_procs` runs in VM `i * vms / n_procs + 1` (consecutive blocks).
#[allow(clippy::type_complexity)]
fn guests<PT: PageTable>(
    cfg: &SystemConfig,
    n_procs: usize,
    make_pt: &mut impl FnMut(&mut crate::os::frames::FrameAllocator) -> Result<PT, SimError>,
) -> Result<(Vec<Os>, Vec<PT>, impl Fn(usize) -> u16), SimError> {
    let seed = cfg.sim.seed;
    let vms = cfg.virt.as_ref().map_or(1, |v| v.vms.max(1)) as usize;
    // VM 1's (the native OS's) seed is the one a one-VM machine always had.
    let mut oses: Vec<Os> = (0..vms)
        .map(|v| {
            let s = crate::util::splitmix64(seed ^ 0x05 ^ ((v as u64) << 40));
            // The top of physical memory holds the POM-TLBs' entries (none: 0); a
            // virtualized machine has none (refused by the config).
            Os::with_reserved(
                &cfg.os,
                s,
                crate::config::tlb_memory_bytes(&cfg.tlb, cfg.sim.cores),
            )
        })
        .collect();
    let vm_of_proc = move |i: usize| (i * vms / n_procs) as u16 + 1;
    let mut spaces = Vec::new();
    if PT::SHARED {
        for os in oses.iter_mut() {
            spaces.push(make_pt(&mut os.frames)?);
        }
    } else {
        for i in 0..n_procs {
            spaces.push(make_pt(&mut oses[vm_index(vm_of_proc(i))].frames)?);
        }
    }
    Ok((oses, spaces, vm_of_proc))
}
