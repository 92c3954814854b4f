//! The OS model, `[os]`: physical memory and how frames are handed out, fault costs,
//! transparent huge pages (`[os.huge_pages]`), demand paging under memory pressure
//! (`[os.paging]`) and processes, threads and their scheduling (`[os.sched]`).
//!
//! In: the decoded table, plus what its checks need from other sections: `sim.cores`
//! (processes x threads must fill the cores) and the page-table design (which huge page
//! sizes it can map), both passed in by [`super::SystemConfig::validate`]. Out:
//! [`OsConfig`] for `crate::os` and the page tables, and its problems as
//! `(key.path, message)` under `os.<key>`.

use crate::addr::{ByteSize, PageSize};
use crate::pagetable::PageTableConfig;
use serde::{Deserialize, Serialize};

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
    /// A direct segment per process (`[os.direct_segment]`, see `direct_segment.rs`):
    /// absent = none, and left out of the serialization (hashes unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_segment: Option<super::DirectSegmentConfig>,
    /// Redundant Memory Mappings (`[os.rmm]`, see `rmm.rs`): eager paging, range tables
    /// and a range TLB. Absent = none, left out of the serialization (hashes unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rmm: Option<super::RmmConfig>,
    /// A Utopia RestSeg (`[os.utopia]`, see `utopia.rs`): absent = none, and left out
    /// of the serialization (hashes unchanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utopia: Option<super::UtopiaConfig>,
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
    #[serde(default = "super::one")]
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
            direct_segment: None,
            rmm: None,
            utopia: None,
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
    #[serde(default = "super::one")]
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

fn size4k() -> PageSize {
    PageSize::Size4K
}

impl OsConfig {
    /// Every problem of `[os]`, for a machine of `cores` cores (`sim.cores`) whose page
    /// table is `page_table`.
    pub fn validate(&self, cores: u32, page_table: &PageTableConfig) -> Vec<(String, String)> {
        let mut e = self.first_problems();
        e.extend(self.main_problems(cores, page_table));
        e.extend(self.last_problems());
        e
    }

    // `SystemConfig::validate` reports this section's problems in three parts (first,
    // main, last) between other sections', in the order it always has: keeping that
    // order is all the split is for.

    /// The first part: the minor-fault cost.
    pub(super) fn first_problems(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if self.minor_fault_cycles > 1 << 40 {
            e.push((
                "os.minor_fault_cycles".into(),
                format!(
                    "{} cycles is beyond any real fault (at most 2^40)",
                    self.minor_fault_cycles
                ),
            ));
        }
        e
    }

    /// The main part: memory, huge pages, paging, and the tasks the cores run.
    pub(super) fn main_problems(
        &self,
        cores: u32,
        page_table: &PageTableConfig,
    ) -> Vec<(String, String)> {
        let mut e = self.memory_problems();
        e.extend(self.huge_page_problems(page_table));
        e.extend(self.paging_problems());
        e.extend(self.task_problems(cores));
        e
    }

    /// The last part: address-space ids, switch and protection-fault costs, and the
    /// memory 1G base pages need.
    pub(super) fn last_problems(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let sc = &self.sched;
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
            ("os.protection_fault_cycles", self.protection_fault_cycles),
        ] {
            if v > 1 << 40 {
                e.push((
                    key.into(),
                    format!("{v} cycles is beyond any real system (at most 2^40)"),
                ));
            }
        }
        if self.page_size == PageSize::Size1G && self.phys_mem.0 < (2 << 30) {
            e.push((
                "os.phys_mem".into(),
                "1G pages need at least 2 GiB of physical memory".into(),
            ));
        }
        e
    }

    /// Physical memory, its pre-fragmentation, and the copy and zeroing costs.
    fn memory_problems(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let o = self;
        if o.phys_mem.0 < (4 << 20) || o.phys_mem.0 % (2 << 20) != 0 || o.phys_mem.0 > (1 << 46) {
            e.push((
                "os.phys_mem".into(),
                format!(
                    "must be a multiple of 2 MiB from 4 MiB to 64 TiB, not {}",
                    o.phys_mem.describe()
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
        e
    }

    /// `[os.huge_pages]`, against the base page size, physical memory and the sizes
    /// the page-table design can map.
    fn huge_page_problems(&self, page_table: &PageTableConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let o = self;
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
            } else if let Some(m) = page_table.design().page_size_problem(hs) {
                e.push((key, m));
            } else if hs.bytes() > o.phys_mem.0 {
                e.push((
                    key,
                    format!("{hs} pages do not fit in os.phys_mem = {}", o.phys_mem),
                ));
            }
        }
        e
    }

    /// `[os.paging]`: a replacement policy only where pages are 4K, and its parameters.
    fn paging_problems(&self) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let o = self;
        let h = &o.huge_pages;
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
        e
    }

    /// `[os.sched]`'s processes and threads: enough tasks for the `cores` cores, not
    /// more than address-space ids and the model allow.
    fn task_problems(&self, cores: u32) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let o = self;
        let sc = &o.sched;
        if sc.threads == 0 || sc.threads > 1024 {
            e.push((
                "os.sched.threads".into(),
                format!("must be 1 to 1024, not {}", sc.threads),
            ));
        } else if sc.processes > MAX_PROCESSES / 2
            || (sc.processes > 0 && sc.processes * sc.threads < cores)
        {
            e.push((
                "os.sched.processes".into(),
                format!(
                    "must be 0 (enough for every core) or up to {}, with processes x threads ({}) at least sim.cores ({}), not {}",
                    MAX_PROCESSES / 2,
                    sc.threads,
                    cores,
                    sc.processes
                ),
            ));
        } else if o.processes(cores) as u64 * sc.threads as u64 > 1 << 16 {
            e.push((
                "os.sched.threads".into(),
                "more than 65536 tasks (processes x threads)".into(),
            ));
        }
        e
    }
}
