//! The OS model's counters: per core ([`OsStats`], with the shootdown counters
//! [`ShootdownStats`] and what started each shootdown, [`Trigger`]), and physical memory
//! at the end of a run ([`PhysReport`]). Plain values that add up; the report prints them.

use serde::Serialize;

/// Per core (address space) OS counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsStats {
    /// First touches of 4K pages with `os.utopia`: placed in a RestSeg way, or in the
    /// FlexSeg because their set was full; RestSeg ways freed (munmap, exit).
    pub restseg_pages: u64,
    pub flexseg_pages: u64,
    pub restseg_freed: u64,
    pub minor_faults: u64,
    /// Faults on pages whose translation the page table had evicted (hashed designs):
    /// the translation is put back, no frame is allocated.
    pub restore_faults: u64,
    /// Faults at addresses the table mapped (among `minor_faults`): walks through a
    /// walk-cache entry another core's change had made stale, before its shootdown
    /// arrived. Nothing is mapped; the core's walk caches are flushed.
    pub spurious_faults: u64,
    /// Translations the page table evicted to make room.
    pub evictions: u64,
    pub fault_cycles: u64,
    /// 2M / 1G pages mapped: at a fault (Linux's `thp_fault_alloc`) or, for 2M, by a
    /// promotion.
    pub huge_faults_2m: u64,
    pub huge_faults_1g: u64,
    /// Huge-page allocations that found no free block of their size.
    pub huge_alloc_failures: u64,
    /// Faults that wanted a huge page (its region was empty) but mapped a smaller page
    /// because memory had no free block of that size (Linux's `thp_fault_fallback`).
    pub huge_fallbacks: u64,
    /// Bytes this address space's faults mapped, less what was evicted: its resident
    /// memory (a level, kept across the warm-up reset).
    /// Signed: threads of one address space on several cores may unmap on one core
    /// what another mapped, so only the sum over cores is the resident memory.
    pub mapped_bytes: i64,
    /// 2 MiB regions collapsed (`promote`) or promoted in place (`reserve`).
    pub promotions: u64,
    /// Collapse attempts that found no free 2M block (the region stays in small pages
    /// and the next first touch in it tries again).
    pub collapse_failures: u64,
    /// Small pages copied into huge pages at collapses.
    pub copied_4k: u64,
    /// Cycles of collapses and promotions (part of `fault_cycles`).
    pub promotion_cycles: u64,
    /// 2M reservations made (`reserve`; the allocator counts those it broke).
    pub reservations: u64,
    /// Faults on pages the OS had evicted: brought back from swap.
    pub major_faults: u64,
    /// Pages the replacement policy evicted, and the dirty ones written back.
    pub page_evictions: u64,
    pub writebacks: u64,
    /// Workload events applied, and pages (of any size) their unmaps removed.
    pub munmap_calls: u64,
    pub madvise_calls: u64,
    pub unmapped_pages: u64,
    /// Forks, the copy-on-write faults of the parent and the bytes they copied.
    pub fork_calls: u64,
    pub cow_faults: u64,
    pub cow_copied_bytes: u64,
    /// Stores to a copy-on-write page nobody else held any more: made writable in
    /// place, nothing copied (Linux's reuse in `do_wp_page`).
    pub cow_reuses: u64,
    pub mmap_calls: u64,
    /// Pages `mmap` with `populate` mapped at once.
    pub populated_pages: u64,
    pub mprotect_calls: u64,
    /// Accesses an `mprotect` forbade (each trapped once, then its page was opened).
    pub protection_faults: u64,
    pub exits: u64,
    /// `migrate` events, and the pages they moved.
    pub migrate_calls: u64,
    pub migrated_pages: u64,
    /// Cycles of event work outside any access's translation (`mmap` with `populate`,
    /// huge pages split by a partial unmap).
    pub event_cycles: u64,
    /// 2M pages split into 4K pages (by partial unmaps and demotions), the demotions
    /// under memory pressure among them, and the never-written pieces those freed.
    pub splits: u64,
    pub demotions: u64,
    pub demoted_freed_4k: u64,
    /// Context switches on this core, their cycles (not translation), the address-space
    /// ids taken from another process (its entries flushed), and whole TLB flushes at
    /// switches without address-space ids.
    pub context_switches: u64,
    pub switch_cycles: u64,
    pub asid_flushes: u64,
    pub switch_flushes: u64,
    pub shootdown: ShootdownStats,
}

impl OsStats {
    /// Adds another core's counters (machine totals).
    pub fn add(&mut self, o: &OsStats) {
        self.restseg_pages += o.restseg_pages;
        self.flexseg_pages += o.flexseg_pages;
        self.restseg_freed += o.restseg_freed;
        self.minor_faults += o.minor_faults;
        self.restore_faults += o.restore_faults;
        self.spurious_faults += o.spurious_faults;
        self.evictions += o.evictions;
        self.fault_cycles += o.fault_cycles;
        self.huge_faults_2m += o.huge_faults_2m;
        self.huge_faults_1g += o.huge_faults_1g;
        self.huge_alloc_failures += o.huge_alloc_failures;
        self.huge_fallbacks += o.huge_fallbacks;
        self.mapped_bytes += o.mapped_bytes;
        self.promotions += o.promotions;
        self.collapse_failures += o.collapse_failures;
        self.copied_4k += o.copied_4k;
        self.promotion_cycles += o.promotion_cycles;
        self.reservations += o.reservations;
        self.major_faults += o.major_faults;
        self.page_evictions += o.page_evictions;
        self.writebacks += o.writebacks;
        self.munmap_calls += o.munmap_calls;
        self.madvise_calls += o.madvise_calls;
        self.unmapped_pages += o.unmapped_pages;
        self.fork_calls += o.fork_calls;
        self.cow_faults += o.cow_faults;
        self.cow_copied_bytes += o.cow_copied_bytes;
        self.cow_reuses += o.cow_reuses;
        self.mmap_calls += o.mmap_calls;
        self.populated_pages += o.populated_pages;
        self.mprotect_calls += o.mprotect_calls;
        self.protection_faults += o.protection_faults;
        self.exits += o.exits;
        self.migrate_calls += o.migrate_calls;
        self.migrated_pages += o.migrated_pages;
        self.event_cycles += o.event_cycles;
        self.splits += o.splits;
        self.demotions += o.demotions;
        self.demoted_freed_4k += o.demoted_freed_4k;
        self.context_switches += o.context_switches;
        self.switch_cycles += o.switch_cycles;
        self.asid_flushes += o.asid_flushes;
        self.switch_flushes += o.switch_flushes;
        self.shootdown.add(&o.shootdown);
    }
}

/// What made the OS change translations: a shootdown is attributed to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    #[default]
    Munmap,
    Mprotect,
    /// An `mmap` over mapped pages (`MAP_FIXED` replaces them).
    Mmap,
    /// Page replacement evicting a page (or a working set letting one go).
    Eviction,
    /// A copy-on-write fault remapping a page.
    Cow,
    /// A `migrate` event moving pages to new frames.
    Migration,
    /// `promote` / `reserve` replacing small pages by a huge page.
    Collapse,
    /// A huge page split into small pages (partial unmap, demotion).
    Split,
    /// A fork write-protecting the parent's pages.
    Fork,
    /// A hashed page table evicting another translation to make room.
    TableEviction,
}

impl Trigger {
    pub const ALL: [Trigger; 10] = [
        Trigger::Munmap,
        Trigger::Mprotect,
        Trigger::Mmap,
        Trigger::Eviction,
        Trigger::Cow,
        Trigger::Migration,
        Trigger::Collapse,
        Trigger::Split,
        Trigger::Fork,
        Trigger::TableEviction,
    ];
}

/// Shootdown counters of one core: as initiator, and as target.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ShootdownStats {
    /// Shootdowns this core started (changes other cores may cache), by trigger in the
    /// order of [`Trigger::ALL`].
    pub by_trigger: [u64; 10],
    /// IPIs it sent (one per target, however delivered), and the most targets of one.
    /// Each core's counts restart at its own warm-up end, so with a warm-up an IPI may
    /// be counted as sent and not as received, or the other way round.
    pub ipis_sent: u64,
    pub max_targets: u64,
    /// Cycles it waited (local flush, sends, acknowledgements).
    pub initiator_cycles: u64,
    /// IPIs it took as a target, and their cycles (interrupt and invalidation).
    pub ipis_received: u64,
    pub remote_cycles: u64,
    /// Invalidations by page and flushes of a whole address space (initiator and
    /// target), and the TLB entries those flushes took beyond the pages changed.
    pub page_invalidations: u64,
    pub full_flushes: u64,
    pub entries_flushed: u64,
    /// Misses on pages whose entries a full flush took although they had not changed:
    /// what flushing instead of invalidating page by page costs later.
    pub flush_misses: u64,
    /// Hits on a translation already changed whose invalidation had not reached this
    /// core yet (real windows in hardware).
    pub stale_hits: u64,
    /// Flushes of an address space's entries at a switch back to it, for changes made
    /// while this core ran another process (Linux's tlb_gen check).
    pub deferred_flushes: u64,
}

impl ShootdownStats {
    pub fn add(&mut self, o: &ShootdownStats) {
        for (a, b) in self.by_trigger.iter_mut().zip(o.by_trigger) {
            *a += b;
        }
        self.ipis_sent += o.ipis_sent;
        self.max_targets = self.max_targets.max(o.max_targets);
        self.initiator_cycles += o.initiator_cycles;
        self.ipis_received += o.ipis_received;
        self.remote_cycles += o.remote_cycles;
        self.page_invalidations += o.page_invalidations;
        self.full_flushes += o.full_flushes;
        self.entries_flushed += o.entries_flushed;
        self.flush_misses += o.flush_misses;
        self.stale_hits += o.stale_hits;
        self.deferred_flushes += o.deferred_flushes;
    }

    /// Shootdowns started, all triggers.
    pub fn shootdowns(&self) -> u64 {
        self.by_trigger.iter().sum()
    }
}

/// Physical memory at the end of the run.
#[derive(Clone, Debug, Serialize)]
pub struct PhysReport {
    pub total_bytes: u64,
    pub free_bytes: u64,
    /// Frames pinned at start by `os.fragmentation`.
    pub pinned_frames: u64,
    /// `reserve`: reservations the allocator broke to find memory.
    pub reservations_broken: u64,
    /// Pages still shared copy-on-write after forks, and the frames of the children's
    /// page-table copies.
    pub cow_shared_pages: u64,
    pub child_table_frames: u64,
    /// 2 MiB and 1 GiB pages the free blocks could still provide.
    pub free_2m_blocks: u64,
    pub free_1g_blocks: u64,
    /// Gorman's unusable-free-space index for a 2M and a 1G allocation.
    pub unusable_2m: f64,
    pub unusable_1g: f64,
    /// Bytes at the top of physical memory reserved at boot for TLB entries held in
    /// memory (POM-TLB) and for Utopia's RestSeg and its tag array, outside
    /// `total_bytes` (the OS's); absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub reserved_bytes: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PhysReport {
    /// Several memories as one (the guest memories of a machine's VMs): counts added,
    /// the unusable-free-space indices recomputed from the sums (the free space that
    /// cannot serve a 2M or a 1G page, over all free space), so that total - free is
    /// the memory in use of them all.
    pub fn sum(reports: &[PhysReport]) -> PhysReport {
        let add = |f: fn(&PhysReport) -> u64| reports.iter().map(f).sum::<u64>();
        let free = add(|r| r.free_bytes);
        let (b2m, b1g) = (add(|r| r.free_2m_blocks), add(|r| r.free_1g_blocks));
        let unusable = |usable: u64| match free {
            0 => 0.0,
            f => (f - usable) as f64 / f as f64,
        };
        PhysReport {
            total_bytes: add(|r| r.total_bytes),
            free_bytes: free,
            pinned_frames: add(|r| r.pinned_frames),
            reservations_broken: add(|r| r.reservations_broken),
            cow_shared_pages: add(|r| r.cow_shared_pages),
            child_table_frames: add(|r| r.child_table_frames),
            free_2m_blocks: b2m,
            free_1g_blocks: b1g,
            unusable_2m: unusable(b2m << 21),
            unusable_1g: unusable(b1g << 30),
            reserved_bytes: add(|r| r.reserved_bytes),
        }
    }
}
