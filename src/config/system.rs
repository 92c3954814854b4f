//! The typed system configuration: every component of the simulated machine is chosen
//! and sized here.
//!
//! In: a TOML table (decoded by `crate::loader::load`, which refuses unknown keys and applies
//! `--set` overrides first). Out: a [`SystemConfig`] whose [`SystemConfig::validate`]
//! pass returns every geometric or semantic problem as `(key.path, message)`; the loader
//! turns each into `file:line: key.path: message`.
//!
//! The component tree mirrors this config tree: `tlb[i]` is one TLB structure, `walker.psc[i]`
//! one paging-structure cache, `memory.cache[i]` one cache level, and the stats tree uses the
//! same names.

use crate::addr::{ByteSize, PageSize};
use crate::assoc::Replacement;
use serde::{Deserialize, Serialize};

/// The whole machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemConfig {
    /// A label for reports.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sim: SimConfig,
    /// TLB structures; `level` groups them (1 = L1, 2 = L2 STLB, ...).
    #[serde(default)]
    pub tlb: Vec<TlbConfig>,
    #[serde(default)]
    pub walker: WalkerConfig,
    pub page_table: PageTableConfig,
    pub memory: MemoryConfig,
    pub os: OsConfig,
    #[serde(default)]
    pub topology: TopologyConfig,
    #[serde(default)]
    pub shootdown: ShootdownConfig,
}

/// How the cores are linked (the graph IPIs travel): see `crate::sim::topology`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologyConfig {
    #[serde(default)]
    pub kind: TopologyKind,
    /// `mesh`: cores per row (0: the smallest w with w x w >= cores).
    #[serde(default)]
    pub width: u32,
    /// `edges`: the links, as pairs of core ids.
    #[serde(default)]
    pub edges: Vec<[u32; 2]>,
    /// `edges`: each core's socket (default: all in socket 0).
    #[serde(default)]
    pub sockets: Vec<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TopologyKind {
    /// Every pair of cores one hop apart.
    #[default]
    Full,
    Ring,
    Mesh,
    /// Two sockets, each a ring of half the cores (the first ceil(n/2) in socket 0),
    /// linked between core 0 and core ceil(n/2).
    TwoSocket,
    Edges,
}

/// TLB shootdowns through inter-processor interrupts: what a change of a translation
/// that other cores may cache costs (see `crate::sim`'s module docs for the protocol).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShootdownConfig {
    /// Cycles from sending an IPI to its arrival, before the hops of its path.
    #[serde(default)]
    pub ipi_base_cycles: u64,
    /// Further cycles per hop of the topology, and for crossing sockets.
    #[serde(default)]
    pub hop_cycles: u64,
    #[serde(default)]
    pub cross_socket_cycles: u64,
    /// `unicast`: one interrupt-command write per target, one after the other
    /// (`send_cycles` each); `broadcast`: one write reaches every target.
    #[serde(default)]
    pub delivery: Delivery,
    #[serde(default)]
    pub send_cycles: u64,
    /// A target's interrupt entry and exit.
    #[serde(default)]
    pub interrupt_cycles: u64,
    /// One page's invalidation (INVLPG), and a flush of an address space's entries.
    #[serde(default)]
    pub invlpg_cycles: u64,
    #[serde(default)]
    pub full_flush_cycles: u64,
    /// Pages one shootdown invalidates one by one; more, and it flushes the address
    /// space's entries instead (Linux's tlb_single_page_flush_ceiling, 33).
    #[serde(default = "ceiling")]
    pub flush_ceiling: u32,
    /// Gather the pages one OS operation removes (one munmap, one fault's evictions)
    /// into one shootdown, as Linux's mmu_gather does; false: one per page.
    #[serde(default = "yes")]
    pub gather: bool,
    #[serde(default)]
    pub scheme: ShootdownScheme,
}

fn ceiling() -> u32 {
    33
}

impl Default for ShootdownConfig {
    fn default() -> Self {
        ShootdownConfig {
            ipi_base_cycles: 0,
            hop_cycles: 0,
            cross_socket_cycles: 0,
            delivery: Delivery::Unicast,
            send_cycles: 0,
            interrupt_cycles: 0,
            invlpg_cycles: 0,
            full_flush_cycles: 0,
            flush_ceiling: 33,
            gather: true,
            scheme: ShootdownScheme::Sync,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Unicast,
    Broadcast,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShootdownScheme {
    /// Linux's: flush locally, send the IPIs, wait for every target to flush and
    /// acknowledge.
    #[default]
    Sync,
    /// Amit et al. 2020 ("Don't shoot down TLB shootdowns!", EuroSys): the initiator
    /// flushes while the IPIs travel (concurrent flushing), and each target
    /// acknowledges on interrupt entry, before its flush (early acknowledgement).
    EarlyAck,
}

/// Cores and timing model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimConfig {
    /// Number of cores; each runs one workload stream in its own address space.
    #[serde(default = "one")]
    pub cores: u32,
    /// Cycles per instruction outside address translation.
    #[serde(default = "one_f")]
    pub base_cpi: f64,
    /// Seed for every random choice of the machine (replacement, frame shuffling).
    #[serde(default = "one_u64")]
    pub seed: u64,
    /// Accesses per core after which its statistics restart (caches and TLBs stay warm);
    /// shared caches restart when the last core is past warm-up.
    #[serde(default)]
    pub warmup_accesses: u64,
    /// Whether the L1 TLB probe is hidden by the pipeline (true on current cores: the L1
    /// DTLB is looked up in parallel with the L1D tag check). Hidden on hits and misses
    /// alike: on a miss only the levels after L1 and the walk are stalled for.
    #[serde(default = "yes")]
    pub l1_tlb_overlapped: bool,
    /// Instructions a core may run past an outstanding page walk before it stalls on it.
    /// 0 = blocking: the core waits for every walk (in-order approximation).
    #[serde(default)]
    pub overlap_window: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            cores: 1,
            base_cpi: 1.0,
            seed: 1,
            warmup_accesses: 0,
            l1_tlb_overlapped: true,
            overlap_window: 0,
        }
    }
}

/// Which accesses a TLB structure serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlbKind {
    Instruction,
    Data,
    Unified,
}

impl TlbKind {
    pub fn serves_instructions(self) -> bool {
        !matches!(self, TlbKind::Data)
    }
    pub fn serves_data(self) -> bool {
        !matches!(self, TlbKind::Instruction)
    }
}

/// When a TLB level is filled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TlbFill {
    /// Filled with every translation that missed in it (inclusive-style).
    #[default]
    Miss,
    /// Filled only with entries evicted from the level above; a hit moves the entry up
    /// (exclusive victim TLB).
    Victim,
}

/// One TLB structure.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlbConfig {
    pub name: String,
    pub level: u32,
    pub kind: TlbKind,
    pub entries: u32,
    /// Ways per set; `ways = entries` is fully associative.
    pub ways: u32,
    pub page_sizes: Vec<PageSize>,
    /// Hit latency in cycles (a miss costs the same: the lookup completes either way).
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
    #[serde(default)]
    pub fill: TlbFill,
    /// How the structure stores and finds its entries. Left out of the serialized config
    /// when it is the default, so configs written before the key existed keep their
    /// hash (results and sweep ids derive from it).
    #[serde(default, skip_serializing_if = "TlbOrganisation::is_default")]
    pub organisation: TlbOrganisation,
}

/// How a TLB structure is organised: the config side of `tlb::Organisation` (each
/// variant names the file of `src/tlb/` that implements it and carries that
/// organisation's own parameters, if it has any beyond the common `entries`, `ways`,
/// `replacement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TlbOrganisation {
    /// `entries / ways` sets of `ways` ways, one page per entry (`tlb/set_associative.rs`).
    #[default]
    SetAssociative,
}

impl TlbOrganisation {
    pub fn is_default(&self) -> bool {
        *self == TlbOrganisation::default()
    }

    /// Problems with the organisation's parameters of structure `t` (at key `path`).
    fn validate(&self, t: &TlbConfig, path: &str, errs: &mut Vec<(String, String)>) {
        match self {
            TlbOrganisation::SetAssociative => {
                check_geometry(errs, path, t.entries as u64, t.ways, t.replacement)
            }
        }
    }
}

/// The hardware page walker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkerConfig {
    /// Walks a core may have in flight; a walk beyond that waits for the earliest to end.
    #[serde(default = "one")]
    pub max_concurrent_walks: u32,
    /// Paging-structure caches, at most one per page-table level.
    #[serde(default)]
    pub psc: Vec<PscConfig>,
}

impl Default for WalkerConfig {
    fn default() -> Self {
        WalkerConfig {
            max_concurrent_walks: 1,
            psc: Vec::new(),
        }
    }
}

/// A paging-structure cache for the entries of one radix level (5 = PML5, 4 = PML4,
/// 3 = PDPT, 2 = PD). A hit at level L supplies the table of level L-1, so the walk
/// skips the PTE reads of every level from the top down to L.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PscConfig {
    pub name: String,
    pub level: u32,
    pub entries: u32,
    pub ways: u32,
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
}

/// The page-table design: one variant per design, each with its own config type, all
/// in `pagetable::design` (the one place that knows the designs).
pub use crate::pagetable::PageTableConfig;

/// The memory hierarchy that PTE reads (and optionally data accesses) go through.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryConfig {
    /// Load-to-use latency of a read that misses every cache level.
    pub dram_latency: u32,
    /// Whether data accesses also go through (and pollute) the caches PTE reads use.
    #[serde(default)]
    pub data_through_caches: bool,
    /// Cache levels, nearest first.
    #[serde(default)]
    pub cache: Vec<CacheConfig>,
}

/// One cache level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConfig {
    pub name: String,
    pub size: ByteSize,
    pub ways: u32,
    #[serde(default = "line64")]
    pub line: u32,
    /// Load-to-use latency of a hit at this level.
    pub latency: u32,
    #[serde(default)]
    pub replacement: Replacement,
    /// One instance shared by all cores (else one per core).
    #[serde(default)]
    pub shared: bool,
}

/// How physical frames are handed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FrameAlloc {
    Sequential,
    /// A seeded pseudo-random permutation of the frames (memory as a long-running
    /// system leaves it: neighbouring pages land in unrelated frames).
    #[default]
    Shuffled,
}

/// The OS model: physical memory (a buddy allocator), demand paging and the huge-page
/// policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsConfig {
    pub phys_mem: ByteSize,
    #[serde(default)]
    pub frame_alloc: FrameAlloc,
    /// Base page size: what a first touch maps when no huge page is taken.
    #[serde(default = "size4k")]
    pub page_size: PageSize,
    /// Cycles the OS spends on a minor fault (first touch: allocate, zero 4 KiB, map).
    #[serde(default)]
    pub minor_fault_cycles: u64,
    /// Cycles to zero each further 4 KiB of a page larger than 4 KiB (a 2M page costs
    /// `minor_fault_cycles + 511 x zero_4k_cycles`).
    #[serde(default)]
    pub zero_4k_cycles: u64,
    /// Share of the 2 MiB blocks of physical memory that hold one pinned 4 KiB frame
    /// from the start (seeded), as a long-running system's memory would: 0 to 1.
    #[serde(default)]
    pub fragmentation: f64,
    #[serde(default)]
    pub huge_pages: HugePagesConfig,
    #[serde(default)]
    pub paging: PagingConfig,
    /// Cycles to copy 4 KiB at a copy-on-write fault (after a fork), on top of
    /// `minor_fault_cycles` for the trap.
    #[serde(default)]
    pub cow_copy_4k_cycles: u64,
    /// Cycles of a protection fault: an access an `mprotect` event forbade traps, the
    /// handler lifts the page's protection (as a write-tracking handler does) and the
    /// access goes on.
    #[serde(default)]
    pub protection_fault_cycles: u64,
    #[serde(default)]
    pub sched: SchedConfig,
}

/// Processes and their scheduling: which address spaces share the cores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedConfig {
    /// Processes at start, each with its own address space and workload stream
    /// (stream i for process i); process i runs on core i mod `sim.cores`. 0 = one per
    /// core. At least `sim.cores`.
    #[serde(default)]
    pub processes: u32,
    /// Cycles a process runs before the next ready process of its core takes over; 0 =
    /// each runs its stream to the end first.
    #[serde(default)]
    pub quantum_cycles: u64,
    /// Cycles of a context switch (scheduler, register state, page-table base),
    /// besides its TLB effects.
    #[serde(default)]
    pub switch_cycles: u64,
    /// Threads of each process at start: thread t of process p is task p x threads + t,
    /// runs stream p x threads + t on core (p x threads + t) mod cores, and shares its
    /// process's address space. Threads of one process on several cores are what makes
    /// TLB shootdowns.
    #[serde(default = "one")]
    pub threads: u32,
    /// Address-space ids each core's TLBs tag entries with: a switch to a process
    /// holding none takes the next one round-robin and flushes what its previous owner
    /// left. Linux keeps 6 per CPU (TLB_NR_DYN_ASIDS, arch/x86/include/asm/tlbflush.h).
    /// 0 = no PCIDs: every switch flushes the TLBs and walk caches.
    #[serde(default = "six")]
    pub asids_per_core: u32,
}

fn six() -> u32 {
    6
}

impl Default for SchedConfig {
    fn default() -> Self {
        SchedConfig {
            processes: 0,
            quantum_cycles: 0,
            switch_cycles: 0,
            threads: 1,
            asids_per_core: 6,
        }
    }
}

/// Demand paging under memory pressure: which resident page to evict when an address
/// space reaches its limit or physical memory runs out, and what swapping costs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagingConfig {
    /// No policy (the default): nothing is ever evicted and running out of memory is
    /// an error.
    #[serde(default)]
    pub replacement: Option<ReplacementPolicy>,
    /// Resident 4 KiB pages each address space may hold (a cgroup-like limit; the
    /// "partition" of the textbook's fixed-space policies); 0 = only physical memory
    /// limits it.
    #[serde(default)]
    pub resident_pages: u64,
    /// Cycles of a major fault: bringing an evicted page back from swap (an NVMe read
    /// is about 80-200 us).
    #[serde(default)]
    pub major_fault_cycles: u64,
    /// Cycles to write a dirty victim to swap before its frame is reused.
    #[serde(default)]
    pub writeback_cycles: u64,
    /// Seed of the Random policy (default: derived from `sim.seed`).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The working-set window T of `ws`, in the address space's own accesses.
    #[serde(default)]
    pub window: u64,
}

/// Victim selection of the OS's page replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplacementPolicy {
    Fifo,
    /// Exact LRU: every access updates recency.
    Lru,
    /// Second chance, with the use bit set by the page walker (x86's accessed bit).
    Clock,
    /// A uniformly chosen resident page (seeded).
    Random,
    /// Belady's MIN: the resident page referenced again farthest in the future (the
    /// workload is read once ahead of the run to know it).
    Opt,
    /// Working set (Denning 1968): after each access, pages not referenced in the last
    /// `window` accesses of their address space leave; a variable-space policy.
    Ws,
}

/// Most processes a run may have, forked children included: TLB tags hold a 14-bit
/// address-space id (`tlb::ASID_BITS`), 0 unused.
pub const MAX_PROCESSES: u32 = (1 << 14) - 1;

impl OsConfig {
    /// Processes at start (`sched.processes`, 0 meaning one per core, or as many as
    /// the threads need to fill the cores).
    pub fn processes(&self, cores: u32) -> u32 {
        if self.sched.processes == 0 {
            cores.div_ceil(self.sched.threads.max(1))
        } else {
            self.sched.processes
        }
    }

    /// Tasks (threads of all processes) at start: one workload stream each.
    pub fn tasks(&self, cores: u32) -> u32 {
        self.processes(cores) * self.sched.threads.max(1)
    }

    /// `phys_mem` bytes, shuffled frames, 4K pages, free faults, no huge pages.
    pub fn with_memory(phys_mem: u64) -> OsConfig {
        OsConfig {
            phys_mem: ByteSize(phys_mem),
            frame_alloc: FrameAlloc::Shuffled,
            page_size: PageSize::Size4K,
            minor_fault_cycles: 0,
            zero_4k_cycles: 0,
            fragmentation: 0.0,
            huge_pages: HugePagesConfig::default(),
            paging: PagingConfig::default(),
            cow_copy_4k_cycles: 0,
            protection_fault_cycles: 0,
            sched: SchedConfig::default(),
        }
    }
}

/// Transparent huge pages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HugePagesConfig {
    #[serde(default)]
    pub policy: HugePolicy,
    /// Huge sizes the policy may map, tried largest first.
    #[serde(default = "sizes_2m")]
    pub sizes: Vec<PageSize>,
    /// When a huge page cannot be allocated: try the next smaller listed size
    /// (`smaller`) or go straight to the base page size (`base`).
    #[serde(default)]
    pub fallback: HugeFallback,
    /// `promote`: collapse a 2 MiB region into a huge page at the fault that maps its
    /// n-th small page. Linux's khugepaged collapses a region with at most
    /// `max_ptes_none` = 511 empty PTEs by default (Documentation/admin-guide/mm/
    /// transhuge.rst), i.e. from 1 mapped page on: the default here.
    #[serde(default = "one")]
    pub promote_threshold: u32,
    /// Cycles to copy one 4 KiB page into the huge page at a collapse.
    #[serde(default)]
    pub copy_4k_cycles: u64,
    /// Fixed cycles of a `promote` collapse (isolate the region, lock, rewrite the PMD,
    /// flush), besides its copies and zeroing.
    #[serde(default)]
    pub collapse_cycles: u64,
    /// Fixed cycles of a `reserve` promotion in place (no copy: the PTEs are replaced
    /// by one PMD and the region flushed).
    #[serde(default)]
    pub promote_in_place_cycles: u64,
    /// Demote under memory pressure: when free memory falls below a low watermark at
    /// a fault, split the 2M page with the fewest written 4 KiB pieces into 4K pages
    /// and free the pieces never written (zero-filled: Linux 6.12's shrinker of
    /// underused THPs frees those), until memory is back above it. Tracks stores to
    /// huge pages (a per-store hook, off by default).
    #[serde(default)]
    pub demote: bool,
    /// Cycles of splitting a 2M page into 512 PTEs (at a demotion or a partial unmap).
    #[serde(default)]
    pub split_cycles: u64,
}

impl Default for HugePagesConfig {
    fn default() -> Self {
        HugePagesConfig {
            policy: HugePolicy::Never,
            sizes: sizes_2m(),
            fallback: HugeFallback::Smaller,
            promote_threshold: 1,
            copy_4k_cycles: 0,
            collapse_cycles: 0,
            promote_in_place_cycles: 0,
            demote: false,
            split_cycles: 0,
        }
    }
}

fn sizes_2m() -> Vec<PageSize> {
    vec![PageSize::Size2M]
}

/// When a first touch maps a huge page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HugePolicy {
    /// Every page at the base size.
    #[default]
    Never,
    /// On a first touch, the largest listed size whose aligned virtual region holds no
    /// mapping yet and for which a free physical block exists (Linux THP `always`).
    Always,
    /// `always`, but only for regions wholly inside ranges the workload advised with
    /// `madvise` events (Linux THP `madvise`).
    Madvise,
    /// Small pages first; a 2 MiB region is collapsed into a huge page (a new 2M frame,
    /// its mapped pages copied, the small frames freed) once `promote_threshold` of its
    /// pages are mapped (khugepaged, done at the fault rather than by a background scan).
    Promote,
    /// Reservation-based (Navarro et al., OSDI 2002; FreeBSD; Virtuoso's ReserveTHP):
    /// the first touch of a 2 MiB region reserves a 2M frame and maps its small pages
    /// in place; the region is promoted, without a copy, when all 512 are mapped. When
    /// memory runs short the oldest reservation is broken and its unused frames freed.
    Reserve,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HugeFallback {
    #[default]
    Smaller,
    Base,
}

fn one() -> u32 {
    1
}
fn one_u64() -> u64 {
    1
}
fn one_f() -> f64 {
    1.0
}
fn yes() -> bool {
    true
}
fn line64() -> u32 {
    64
}
fn size4k() -> PageSize {
    PageSize::Size4K
}

/// Most entries, ways or cores anything may be configured with; larger numbers are
/// surely typos and would make the simulator allocate gigabytes.
const MAX_ENTRIES: u32 = 1 << 24;

/// Host memory the simulated structures may take (the machines this runs on have 24 GiB).
const HOST_MEMORY_LIMIT: u64 = 8 << 30;

/// Check a set-associative geometry; returns problems keyed by the field at fault.
fn check_geometry(
    errs: &mut Vec<(String, String)>,
    path: &str,
    entries: u64,
    ways: u32,
    repl: Replacement,
) {
    if entries == 0 {
        errs.push((format!("{path}.entries"), "must be at least 1".into()));
        return;
    }
    if entries > MAX_ENTRIES as u64 {
        errs.push((
            format!("{path}.entries"),
            format!("{entries} is more than the supported {MAX_ENTRIES}"),
        ));
        return;
    }
    if ways == 0 {
        errs.push((format!("{path}.ways"), "must be at least 1".into()));
        return;
    }
    if entries % ways as u64 != 0 {
        errs.push((
            format!("{path}.ways"),
            format!("entries ({entries}) are not divisible by ways ({ways})"),
        ));
        return;
    }
    let sets = entries / ways as u64;
    if !sets.is_power_of_two() {
        errs.push((
            format!("{path}.ways"),
            format!("entries / ways = {sets} sets, which is not a power of two"),
        ));
    }
    if repl == Replacement::Plru && (!ways.is_power_of_two() || ways > 64) {
        errs.push((
            format!("{path}.replacement"),
            format!("tree PLRU needs a power-of-two number of ways up to 64, not {ways}"),
        ));
    }
}

impl SystemConfig {
    /// Every semantic problem, as `(key.path, message)`; empty when the config is usable.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = Vec::new();
        let s = &self.sim;
        if s.cores == 0 || s.cores > 1024 {
            e.push((
                "sim.cores".into(),
                format!("must be 1 to 1024, not {}", s.cores),
            ));
        }
        if !(s.base_cpi.is_finite() && s.base_cpi >= 0.001 && s.base_cpi <= 1000.0) {
            e.push((
                "sim.base_cpi".into(),
                format!("must be from 0.001 to 1000, not {}", s.base_cpi),
            ));
        }
        if self.tlb.is_empty() {
            e.push(("tlb".into(), "at least one TLB structure is needed".into()));
        }
        if self.os.minor_fault_cycles > 1 << 40 {
            e.push((
                "os.minor_fault_cycles".into(),
                format!(
                    "{} cycles is beyond any real fault (at most 2^40)",
                    self.os.minor_fault_cycles
                ),
            ));
        }

        // TLBs: levels contiguous from 1, names unique, at most one structure per
        // (level, side, page size) so a translation has exactly one home per level.
        let mut names = std::collections::HashSet::new();
        let max_level = self.tlb.iter().map(|t| t.level).max().unwrap_or(0);
        for (i, t) in self.tlb.iter().enumerate() {
            let p = format!("tlb[{i}]");
            if !names.insert(t.name.as_str()) {
                e.push((format!("{p}.name"), format!("`{}` is used twice", t.name)));
            }
            if t.level == 0 || t.level > 8 {
                e.push((format!("{p}.level"), "must be 1 to 8".into()));
            }
            t.organisation.validate(t, &p, &mut e);
            if t.page_sizes.is_empty() {
                e.push((
                    format!("{p}.page_sizes"),
                    "must name at least one page size".into(),
                ));
            }
            for (j, ps) in t.page_sizes.iter().enumerate() {
                if t.page_sizes[..j].contains(ps) {
                    e.push((
                        format!("{p}.page_sizes[{j}]"),
                        format!("{ps} is listed twice"),
                    ));
                }
            }
            if t.fill == TlbFill::Victim && t.level == 1 {
                e.push((
                    format!("{p}.fill"),
                    "a level-1 TLB has no level above to take victims from".into(),
                ));
            }
            for (k, u) in self.tlb[..i].iter().enumerate() {
                let both_sides = (t.kind.serves_data() && u.kind.serves_data())
                    || (t.kind.serves_instructions() && u.kind.serves_instructions());
                if u.level == t.level && both_sides {
                    if let Some(ps) = t.page_sizes.iter().find(|ps| u.page_sizes.contains(ps)) {
                        e.push((
                            format!("{p}.page_sizes"),
                            format!(
                                "{ps} pages of this level and side are already held by tlb[{k}] (`{}`)",
                                u.name
                            ),
                        ));
                    }
                }
            }
        }
        for lvl in 1..=max_level {
            if !self.tlb.iter().any(|t| t.level == lvl) {
                e.push((
                    "tlb".into(),
                    format!("levels must be numbered 1, 2, ... without gaps; no structure has level {lvl}"),
                ));
            }
        }

        // Page table: the design checks its own keys (and the base page size it maps).
        e.extend(self.page_table.validate(&self.os));
        let levels = &self.page_table.design().walk_cache_levels();

        // Walk caches.
        for (i, c) in self.walker.psc.iter().enumerate() {
            let p = format!("walker.psc[{i}]");
            check_geometry(&mut e, &p, c.entries as u64, c.ways, c.replacement);
            if c.level < 2 || c.level > *levels {
                e.push((
                    format!("{p}.level"),
                    format!(
                        "must be 2 to {levels} (the non-leaf levels of the page table), not {}",
                        c.level
                    ),
                ));
            }
            if self.walker.psc[..i].iter().any(|d| d.level == c.level) {
                e.push((
                    format!("{p}.level"),
                    format!("level {} has two walk caches", c.level),
                ));
            }
        }
        if self.walker.max_concurrent_walks == 0 || self.walker.max_concurrent_walks > 64 {
            e.push((
                "walker.max_concurrent_walks".into(),
                "must be 1 to 64".into(),
            ));
        }

        // Caches.
        for (i, c) in self.memory.cache.iter().enumerate() {
            let p = format!("memory.cache[{i}]");
            if !c.line.is_power_of_two() || c.line < 8 || c.line > 4096 {
                e.push((
                    format!("{p}.line"),
                    format!(
                        "must be a power of two from 8 to 4096 bytes, not {}",
                        c.line
                    ),
                ));
                continue;
            }
            if c.size.0 % c.line as u64 != 0 {
                e.push((
                    format!("{p}.size"),
                    format!("{} is not a multiple of the {}-byte line", c.size, c.line),
                ));
                continue;
            }
            check_geometry(&mut e, &p, c.size.0 / c.line as u64, c.ways, c.replacement);
            if i > 0 && self.memory.cache[i - 1].shared && !c.shared {
                e.push((
                    format!("{p}.shared"),
                    "a private level cannot sit behind a shared one".into(),
                ));
            }
        }

        // Host memory: private structures are built once per core.
        let cores = s.cores.clamp(1, 1024) as u64;
        let tlb_entries: u64 = self.tlb.iter().map(|t| t.entries as u64).sum();
        let psc_entries: u64 = self.walker.psc.iter().map(|p| p.entries as u64).sum();
        let (mut private_lines, mut shared_lines) = (0u64, 0u64);
        for c in &self.memory.cache {
            let lines = c.size.0 / c.line.max(1) as u64;
            if c.shared {
                shared_lines += lines;
            } else {
                private_lines += lines;
            }
        }
        // Key, value and replacement state: 24 bytes per entry.
        let bytes = 24 * ((tlb_entries + psc_entries + private_lines) * cores + shared_lines);
        if bytes > HOST_MEMORY_LIMIT {
            e.push((
                "sim.cores".into(),
                format!(
                    "{cores} cores of these TLBs, walk caches and caches need {} GiB of host memory to simulate; the limit is {} GiB",
                    bytes >> 30,
                    HOST_MEMORY_LIMIT >> 30
                ),
            ));
        }

        // OS.
        let o = &self.os;
        if o.phys_mem.0 < (4 << 20) || o.phys_mem.0 % (2 << 20) != 0 || o.phys_mem.0 > (1 << 46) {
            e.push((
                "os.phys_mem".into(),
                format!(
                    "must be a multiple of 2 MiB from 4 MiB to 64 TiB, not {}",
                    o.phys_mem
                ),
            ));
        }
        if !(o.fragmentation.is_finite() && (0.0..=1.0).contains(&o.fragmentation)) {
            e.push((
                "os.fragmentation".into(),
                format!("must be from 0 to 1, not {}", o.fragmentation),
            ));
        }
        if o.fragmentation > 0.0 && o.phys_mem.0 > 1 << 40 {
            // Pinning visits every 2 MiB block and records each pinned frame.
            e.push((
                "os.fragmentation".into(),
                format!(
                    "pre-fragmentation is supported up to 1 TiB of memory, not {}",
                    o.phys_mem
                ),
            ));
        }
        if o.cow_copy_4k_cycles > 1 << 30 {
            e.push((
                "os.cow_copy_4k_cycles".into(),
                format!(
                    "{} cycles to copy 4 KiB is beyond any real machine (at most 2^30)",
                    o.cow_copy_4k_cycles
                ),
            ));
        }
        if o.zero_4k_cycles > 1 << 30 {
            e.push((
                "os.zero_4k_cycles".into(),
                format!(
                    "{} cycles to zero 4 KiB is beyond any real machine (at most 2^30)",
                    o.zero_4k_cycles
                ),
            ));
        }
        let h = &o.huge_pages;
        if matches!(h.policy, HugePolicy::Promote | HugePolicy::Reserve) {
            if h.sizes != [PageSize::Size2M] {
                e.push((
                    "os.huge_pages.sizes".into(),
                    format!(
                        "policy {:?} works on 2 MiB regions: sizes must be [\"2M\"]",
                        h.policy
                    )
                    .to_lowercase(),
                ));
            }
            if o.page_size != PageSize::Size4K {
                e.push((
                    "os.page_size".into(),
                    "promotion and reservation build 2M pages from 4K ones: page_size must be 4K"
                        .into(),
                ));
            }
        }
        if !(1..=512).contains(&h.promote_threshold) {
            e.push((
                "os.huge_pages.promote_threshold".into(),
                format!(
                    "must be 1 to 512 (pages of a 2 MiB region), not {}",
                    h.promote_threshold
                ),
            ));
        }
        for (key, v, max) in [
            ("copy_4k_cycles", h.copy_4k_cycles, 1u64 << 30),
            ("collapse_cycles", h.collapse_cycles, 1 << 40),
            (
                "promote_in_place_cycles",
                h.promote_in_place_cycles,
                1 << 40,
            ),
            ("split_cycles", h.split_cycles, 1 << 40),
        ] {
            if v > max {
                e.push((
                    format!("os.huge_pages.{key}"),
                    format!("{v} cycles is beyond any real machine (at most {max})"),
                ));
            }
        }
        if h.policy != HugePolicy::Never && h.sizes.is_empty() {
            e.push((
                "os.huge_pages.sizes".into(),
                format!("policy {:?} needs at least one huge page size", h.policy).to_lowercase(),
            ));
        }
        // The sizes matter only to a policy that maps huge pages (with `never`, the
        // default list may name the base size itself).
        let checked: &[PageSize] = if h.policy == HugePolicy::Never {
            &[]
        } else {
            &h.sizes
        };
        for (j, &hs) in checked.iter().enumerate() {
            let key = format!("os.huge_pages.sizes[{j}]");
            if h.sizes[..j].contains(&hs) {
                e.push((key, format!("{hs} is listed twice")));
            } else if hs <= o.page_size {
                e.push((
                    key,
                    format!(
                        "{hs} is not larger than the base page size os.page_size = {}",
                        o.page_size
                    ),
                ));
            } else if let Some(m) = self.page_table.design().page_size_problem(hs) {
                e.push((key, m));
            } else if hs.bytes() > o.phys_mem.0 {
                e.push((
                    key,
                    format!("{hs} pages do not fit in os.phys_mem = {}", o.phys_mem),
                ));
            }
        }
        let pg = &o.paging;
        match pg.replacement {
            Some(_) if h.policy != HugePolicy::Never || o.page_size != PageSize::Size4K => {
                e.push((
                    "os.paging.replacement".into(),
                    "page replacement evicts 4K pages: it needs os.page_size = \"4K\" and os.huge_pages.policy = \"never\" (huge pages are not swapped in this model)".into(),
                ));
            }
            None if pg.resident_pages > 0 => {
                e.push((
                    "os.paging.resident_pages".into(),
                    "a resident limit needs a replacement policy (os.paging.replacement)".into(),
                ));
            }
            _ => {}
        }
        match (pg.replacement, pg.window) {
            (Some(ReplacementPolicy::Ws), 0) => e.push((
                "os.paging.window".into(),
                "the ws policy needs a window of at least 1 access".into(),
            )),
            (Some(ReplacementPolicy::Ws), _) | (_, 0) => {}
            _ => e.push((
                "os.paging.window".into(),
                "a window belongs to replacement = \"ws\" only".into(),
            )),
        }
        if pg.resident_pages > 1 << 34 {
            e.push((
                "os.paging.resident_pages".into(),
                format!("{} pages is beyond 64 TiB", pg.resident_pages),
            ));
        }
        for (key, v) in [
            ("major_fault_cycles", pg.major_fault_cycles),
            ("writeback_cycles", pg.writeback_cycles),
        ] {
            if v > 1 << 40 {
                e.push((
                    format!("os.paging.{key}"),
                    format!("{v} cycles is beyond any real device (at most 2^40)"),
                ));
            }
        }
        let sc = &o.sched;
        if sc.threads == 0 || sc.threads > 1024 {
            e.push((
                "os.sched.threads".into(),
                format!("must be 1 to 1024, not {}", sc.threads),
            ));
        } else if sc.processes > MAX_PROCESSES / 2
            || (sc.processes > 0 && sc.processes * sc.threads < s.cores)
        {
            e.push((
                "os.sched.processes".into(),
                format!(
                    "must be 0 (enough for every core) or up to {}, with processes x threads ({}) at least sim.cores ({}), not {}",
                    MAX_PROCESSES / 2,
                    sc.threads,
                    s.cores,
                    sc.processes
                ),
            ));
        } else if o.processes(s.cores) as u64 * sc.threads as u64 > 1 << 16 {
            e.push((
                "os.sched.threads".into(),
                "more than 65536 tasks (processes x threads)".into(),
            ));
        }
        let sd = &self.shootdown;
        for (key, v) in [
            ("ipi_base_cycles", sd.ipi_base_cycles),
            ("hop_cycles", sd.hop_cycles),
            ("cross_socket_cycles", sd.cross_socket_cycles),
            ("send_cycles", sd.send_cycles),
            ("interrupt_cycles", sd.interrupt_cycles),
            ("invlpg_cycles", sd.invlpg_cycles),
            ("full_flush_cycles", sd.full_flush_cycles),
        ] {
            if v > 1 << 32 {
                e.push((
                    format!("shootdown.{key}"),
                    format!("{v} cycles is beyond any real machine (at most 2^32)"),
                ));
            }
        }
        if let Err((k, m)) =
            crate::sim::topology::Topology::new(&self.topology, s.cores.clamp(1, 1024) as usize)
        {
            e.push((k, m));
        }
        if sc.asids_per_core > 4096 {
            e.push((
                "os.sched.asids_per_core".into(),
                format!(
                    "x86 PCIDs are 12 bits: at most 4096, not {}",
                    sc.asids_per_core
                ),
            ));
        }
        for (key, v) in [
            ("os.sched.switch_cycles", sc.switch_cycles),
            ("os.protection_fault_cycles", o.protection_fault_cycles),
        ] {
            if v > 1 << 40 {
                e.push((
                    key.into(),
                    format!("{v} cycles is beyond any real system (at most 2^40)"),
                ));
            }
        }
        if o.page_size == PageSize::Size1G && o.phys_mem.0 < (2 << 30) {
            e.push((
                "os.phys_mem".into(),
                "1G pages need at least 2 GiB of physical memory".into(),
            ));
        }
        e
    }
}
