//! The operating system the MMU runs under: physical memory, demand paging, the
//! huge-page policy, mappings and protections, fork and copy-on-write, migration.
//!
//! Owns physical memory ([`frames::FrameAllocator`], a buddy allocator, optionally
//! pre-fragmented at start) and every path that changes a mapping. In: a faulting
//! virtual address, an access (when replacement or demotion needs to see them), a
//! workload event or a fork/exit, each with the address space's page table. Out: an
//! [`Effects`] value the engine applies in one place: the cycles the call took, the
//! translations that must leave the TLBs, whether walk caches must be flushed and tables
//! were freed, and what triggered it (a shootdown is attributed to it). The OS keeps no
//! result for the engine to collect later.
//!
//! One file per responsibility, each an `impl Os` block with the state it owns:
//! `huge` (page size at a first touch, promotion, reservations, splits, demotion),
//! `vma` (madvise, mmap, munmap, mprotect, exit), `fork` (the mapping log, copy-on-write,
//! shared frames), `migrate`, `swap` (page replacement: resident sets and swap, with the
//! policies' bookkeeping in `paging`), `frames`/`buddy` (physical memory), `stats`,
//! `direct_segment` (a process's primary region and its segment registers), `rmm` (eager
//! paging and the range tables of Redundant Memory Mappings).
//!
//! Why the OS keeps its own count of mappings per huge region: a huge page may only be
//! mapped where nothing of its virtual range is mapped already (Linux's THP fault path
//! takes a huge page only for an empty PMD), and asking that of every page-table design
//! (hashed ones have no PMD) would put an OS question behind the hardware interface.

pub mod buddy;
pub mod direct_segment;
mod fork;
pub mod frames;
mod huge;
mod migrate;
pub mod paging;
pub mod ranges;
pub mod rmm;
mod stats;
mod swap;
pub mod utopia;
mod vma;

pub use stats::{OsStats, PhysReport, ShootdownStats, Trigger};

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::{HugePolicy, OsConfig};
use crate::pagetable::{Evicted, MapOutcome, PageTable};
use crate::SimError;
use frames::FrameAllocator;

/// What an OS call changed that the cores must see. The engine owns one, hands it to
/// each call empty, applies it in one place (`sim::shootdown`) and clears it, so nothing
/// an earlier call set can leak into a later one. Its buffer is reused: no allocation
/// per call once it has grown.
#[derive(Debug, Default)]
pub struct Effects {
    /// Cycles the call took: translation for a fault, the core's time for an event.
    pub cycles: u64,
    /// Translations removed or replaced: they must leave every TLB that may hold them.
    pub invalidate: Vec<Evicted>,
    /// The calling core's walk caches must be flushed: a huge page replaced a table or
    /// was split (INVLPG drops every paging-structure-cache entry of the PCID, Intel SDM
    /// vol. 3A, 4.10.4.1).
    pub flush_walk_caches: bool,
    /// Page tables were freed: cores that keep the address space loaded lazily must be
    /// told too (Linux's `freed_tables` in the mmu_gather).
    pub tables_freed: bool,
    /// Every TLB and walk-cache entry of the address space goes, on every core that runs
    /// it (a fork write-protects all its pages).
    pub flush_space: bool,
    /// What the invalidations come from.
    pub trigger: Trigger,
}

impl Effects {
    /// Nothing to apply.
    pub fn is_clear(&self) -> bool {
        self.cycles == 0
            && self.invalidate.is_empty()
            && !self.flush_walk_caches
            && !self.tables_freed
            && !self.flush_space
    }

    /// Back to empty, keeping the buffer.
    pub fn clear(&mut self) {
        self.cycles = 0;
        self.invalidate.clear();
        self.flush_walk_caches = false;
        self.tables_freed = false;
        self.flush_space = false;
        self.trigger = Trigger::default();
    }

    /// A huge page replaced a table, which was freed.
    fn table_replaced(&mut self) {
        self.flush_walk_caches = true;
        self.tables_freed = true;
    }

    fn invalidate(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        self.invalidate.push(Evicted {
            asid,
            vaddr: VirtAddr(vaddr),
            size,
        });
    }

    /// A translation the design evicted to make room (counted as an eviction).
    fn evicted(&mut self, o: &MapOutcome, stats: &mut OsStats) {
        if let Some(e) = o.evicted {
            self.invalidate.push(e);
            stats.evictions += 1;
        }
    }
}

/// Cycles of the OS's work, from the config (cited in the presets).
#[derive(Clone, Copy)]
struct Costs {
    minor_fault: u64,
    zero_4k: u64,
    copy_4k: u64,
    collapse: u64,
    promote_in_place: u64,
    split: u64,
    protection_fault: u64,
    cow_copy_4k: u64,
}

pub struct Os {
    pub frames: FrameAllocator,
    /// Frames pinned at start by `os.fragmentation`.
    pinned_frames: u64,
    page_size: PageSize,
    costs: Costs,
    huge: huge::HugePages,
    vma: vma::Vmas,
    share: fork::Sharing,
    /// Page replacement, when configured.
    paging: Option<swap::Paging>,
    /// Whether every access must be reported to [`Os::on_access`] (replacement or
    /// demotion on).
    track_accesses: bool,
    /// Some address space has copy-on-write or protected pages: stores (and loads, when
    /// a range is `PROT_NONE`) go through [`Os::guard_fault`] first.
    guard_active: bool,
    /// Each process's direct segment, by address space (`os.direct_segment`).
    segments: Vec<(u16, direct_segment::Segment)>,
    /// Eager paging and range tables (`[os.rmm]`; `None`: demand paging only).
    rmm: Option<Box<rmm::Rmm>>,
    /// Bytes at the top of physical memory kept from the allocator ([`Os::with_reserved`]).
    reserved: u64,
    /// Utopia's RestSeg and tag array (`os.utopia`), below the reserved top.
    utopia: Option<utopia::RestSeg>,
}

impl Os {
    pub fn new(cfg: &OsConfig, seed: u64) -> Os {
        Os::with_reserved(cfg, seed, 0)
    }

    /// As [`Os::new`], the top `reserved` bytes of physical memory (whole frames, taken
    /// at boot for TLB structures held in memory: a POM-TLB) never given out: the
    /// frame allocator manages only what lies below them.
    /// A RestSeg (`os.utopia`) and its tag array take the memory right below them, and
    /// count in the reserved bytes.
    pub fn with_reserved(cfg: &OsConfig, seed: u64, reserved: u64) -> Os {
        let restseg = cfg.utopia.as_ref().map_or(0, |u| u.reserved_bytes());
        let reserved = reserved + restseg;
        let managed = (cfg.phys_mem.0 & !0xfff).saturating_sub(reserved);
        let mut frames = FrameAllocator::new(managed, cfg.frame_alloc, seed);
        let pinned_frames = if cfg.fragmentation > 0.0 {
            frames.fragment(cfg.fragmentation, crate::util::splitmix64(seed ^ 0xf4a9))
        } else {
            0
        };
        let h = &cfg.huge_pages;
        Os {
            frames,
            pinned_frames,
            page_size: cfg.page_size,
            costs: Costs {
                minor_fault: cfg.minor_fault_cycles,
                zero_4k: cfg.zero_4k_cycles,
                copy_4k: h.copy_4k_cycles,
                collapse: h.collapse_cycles,
                promote_in_place: h.promote_in_place_cycles,
                split: h.split_cycles,
                protection_fault: cfg.protection_fault_cycles,
                cow_copy_4k: cfg.cow_copy_4k_cycles,
            },
            huge: huge::HugePages::new(cfg),
            vma: vma::Vmas::default(),
            share: fork::Sharing::default(),
            paging: swap::Paging::new(cfg, seed),
            track_accesses: cfg.paging.replacement.is_some() || h.demote,
            guard_active: false,
            segments: Vec::new(),
            rmm: (cfg.rmm.as_ref())
                .filter(|r| r.eager_paging)
                .map(|_| Box::default()),
            reserved,
            utopia: (cfg.utopia.as_ref()).map(|u| utopia::RestSeg::new(u, managed)),
        }
    }

    /// Whether some access must go through [`Os::guard_fault`] before it translates:
    /// stores, and loads too when [`Os::guards_loads`].
    #[inline(always)]
    pub fn guarding(&self) -> bool {
        self.guard_active
    }

    /// Whether loads are guarded as well (some range is `PROT_NONE`).
    #[inline(always)]
    pub fn guards_loads(&self) -> bool {
        self.vma.guard_loads
    }

    /// Whether every access must be reported to [`Os::on_access`].
    #[inline(always)]
    pub fn tracks_accesses(&self) -> bool {
        self.track_accesses
    }

    /// Cycles of a minor fault that maps a page of `size`.
    pub fn minor_fault_cost(&self, size: PageSize) -> u64 {
        self.costs.minor_fault + (size.bytes() / 4096 - 1) * self.costs.zero_4k
    }

    /// Physical memory now: free blocks by size, fragmentation, sharing.
    pub fn phys_report(&self) -> PhysReport {
        let f = self.frames.fragmentation();
        // Pages of order `o` the free blocks could still provide.
        let at = |o: usize| {
            f.free_blocks[o..]
                .iter()
                .enumerate()
                .map(|(i, &n)| n << i)
                .sum::<u64>()
        };
        let (cow_shared_pages, child_table_frames) = self.sharing();
        PhysReport {
            total_bytes: self.frames.total_bytes(),
            free_bytes: f.free_bytes,
            pinned_frames: self.pinned_frames,
            reservations_broken: self.frames.reservations_broken,
            cow_shared_pages,
            child_table_frames,
            free_2m_blocks: at(9),
            free_1g_blocks: at(18),
            unusable_2m: f.unusable[9],
            unusable_1g: f.unusable[18],
            reserved_bytes: self.reserved,
        }
    }

    /// Handle a not-present fault at `vaddr`: put back an evicted translation, or map a
    /// new page. Fills `fx` (the cycles, translations removed: a design's eviction last)
    /// and returns the translation the design evicted to make room, if any (the
    /// teaching view shows it).
    pub fn handle_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: VirtAddr,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<Option<Evicted>, SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        let vaddr = vaddr.0;
        fx.trigger = if self.paging.is_some() {
            Trigger::Eviction
        } else {
            Trigger::TableEviction
        };
        if pt.translate(asid, VirtAddr(vaddr)).is_some() {
            self.spurious_fault(stats, fx);
            return Ok(None);
        }
        let (cycles, evicted) = self.fault(pt, asid, vaddr, stats, fx)?;
        fx.cycles = fx.cycles.saturating_add(cycles);
        Ok(evicted)
    }

    /// A not-present fault at an address the table maps: the walk went through a walk
    /// cache entry for a table another thread's change had freed (a collapse or an
    /// in-place promotion replaced the leaf table by a 2M page; the shootdown that drops
    /// the entry is still on its way to this core). The handler finds the entry present
    /// and returns, as Linux does for a fault another thread resolved (still counted in
    /// `min_flt`); the fault itself drops this core's walk-cache entries for the address
    /// (Intel SDM vol. 3A, 4.10.4.1), here its whole walk caches, so the replayed walk
    /// reads the table as it is. Nothing is mapped, so nothing leaves the TLBs.
    fn spurious_fault(&mut self, stats: &mut OsStats, fx: &mut Effects) {
        let cycles = self.costs.minor_fault;
        stats.minor_faults += 1;
        stats.spurious_faults += 1;
        stats.fault_cycles = stats.fault_cycles.saturating_add(cycles);
        fx.cycles = fx.cycles.saturating_add(cycles);
        fx.flush_walk_caches = true;
    }

    /// The fault path shared by [`Os::handle_fault`] and `populate`: returns the cycles
    /// and the design's eviction (also queued in `fx`).
    fn fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(u64, Option<Evicted>), SimError> {
        let demoted = if self.huge.demote {
            self.demote_for_memory(pt, asid, stats, fx)?
        } else {
            0
        };
        let (outcome, cycles) = match pt.restore(asid, VirtAddr(vaddr), &mut self.frames)? {
            Some(o) => {
                stats.restore_faults += 1;
                (o, self.costs.minor_fault)
            }
            None if self.paging.is_some() => self.fault_paged(pt, asid, vaddr, stats, fx)?,
            // Eager paging: the first fault in a mapping maps all of it (`rmm.rs`).
            None if self.rmm.is_some() && self.eager_mapping(asid, vaddr).is_some() => {
                stats.minor_faults += 1;
                let vma = self.eager_mapping(asid, vaddr).expect("checked");
                self.eager_fault(pt, asid, vma, stats, fx)?
            }
            None => {
                stats.minor_faults += 1;
                match self.huge.policy {
                    HugePolicy::Promote | HugePolicy::Reserve => {
                        self.fault_in_region(pt, asid, vaddr, stats, fx)?
                    }
                    HugePolicy::Never | HugePolicy::Always | HugePolicy::Madvise => {
                        let (size, frame) = self.choose_frame(asid, vaddr, stats)?;
                        stats.mapped_bytes += size.bytes() as i64;
                        let base = vaddr & !(size.bytes() - 1);
                        let o = pt.map(
                            asid,
                            VirtAddr(base),
                            size,
                            PhysAddr(frame),
                            &mut self.frames,
                        )?;
                        self.log_map(asid, base, frame, size);
                        self.note_mapped(asid, base, size);
                        (o, self.minor_fault_cost(size))
                    }
                }
            }
        };
        if let Some(e) = outcome.evicted {
            fx.invalidate.push(e);
            stats.evictions += 1;
        }
        if outcome.freed_tables {
            fx.table_replaced();
        }
        let cycles = cycles + demoted;
        stats.fault_cycles = stats.fault_cycles.saturating_add(cycles);
        Ok((cycles, outcome.evicted))
    }
}

#[cfg(test)]
mod tests;
