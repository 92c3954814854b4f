//! The operating system the MMU runs under: physical memory, demand paging and the
//! huge-page policy.
//!
//! Owns physical memory ([`frames::FrameAllocator`], a buddy allocator, optionally
//! pre-fragmented at start) and the fault path. The first touch of a page takes a minor
//! fault: the OS picks the page size (the base size, or with `huge_pages.policy =
//! "always"` the largest listed huge size whose aligned virtual region holds no mapping
//! yet and for which a free physical block exists; otherwise it falls back as
//! configured), allocates and zeroes the frame, and maps it. In: a faulting virtual
//! address and the address space's page table. Out: the fault's cycles (charged to
//! translation by the core) and any translation the table evicted.
//!
//! Why the OS keeps its own count of mappings per huge region: a huge page may only be
//! mapped where nothing of its virtual range is mapped already (Linux's THP fault path
//! takes a huge page only for an empty PMD), and asking that of every page-table design
//! (hashed ones have no PMD) would put an OS question behind the hardware interface.

pub mod buddy;
pub mod frames;
pub mod paging;
pub mod ranges;

use crate::addr::PageSize;
use crate::config::{HugeFallback, HugePolicy, OsConfig};
use crate::pagetable::{Evicted, PageTable};
use crate::SimError;
use frames::FrameAllocator;
use paging::ResidentSet;
use ranges::RangeMap;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Per core (address space) OS counters.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OsStats {
    pub minor_faults: u64,
    /// Faults on pages whose translation the page table had evicted (hashed designs):
    /// the translation is put back, no frame is allocated.
    pub restore_faults: u64,
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
        self.minor_faults += o.minor_faults;
        self.restore_faults += o.restore_faults;
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

/// One address space's mappings: page base -> (frame, size).
type MappingLog = HashMap<u64, (u64, PageSize)>;

/// A 2 MiB region under the `promote` or `reserve` policy.
#[derive(Clone, Default)]
struct Region {
    /// Which of its 512 small pages are mapped.
    pages: [u64; 8],
    mapped: u32,
    /// The reserved 2M frame (`reserve`); the allocator may break it for memory.
    reservation: Option<u64>,
    /// Now one huge page, or given up on (broken reservation): no more bookkeeping.
    done: bool,
}

const SMALL_PER_2M: u64 = 512;

/// Free frames page replacement keeps before a fault (a low watermark, as Linux keeps
/// one): the page plus one table node for each of up to 6 radix levels, and one spare,
/// since table allocations cannot evict pages themselves.
const HEADROOM_FRAMES: u64 = 8;

/// Evicts resident page `v` of address space `asid` to swap: its mapping is removed
/// (from the table and the OS's log), its frame freed, its translation queued for the
/// TLBs. The caller accounts for a write-back.
fn swap_out<PT: PageTable>(
    pt: &mut PT,
    frames: &mut FrameAllocator,
    swapped: &mut HashSet<(u16, u64)>,
    log: &mut Option<HashMap<u16, MappingLog>>,
    invalidations: &mut Vec<Evicted>,
    (asid, v): (u16, paging::Victim),
    stats: &mut OsStats,
) -> Result<(), SimError> {
    let va = v.vpn << 12;
    let tr = pt.unmap(asid, va).ok_or_else(|| {
        SimError(format!(
            "internal: resident page {va:#x} has no translation"
        ))
    })?;
    frames.free(tr.frame, PageSize::Size4K)?;
    swapped.insert((asid, v.vpn));
    if let Some(m) = log.as_mut().and_then(|m| m.get_mut(&asid)) {
        m.remove(&va);
    }
    invalidations.push(Evicted {
        asid,
        vaddr: va,
        size: PageSize::Size4K,
    });
    stats.page_evictions += 1;
    stats.mapped_bytes -= 4096;
    Ok(())
}

pub struct Os {
    pub frames: FrameAllocator,
    page_size: PageSize,
    minor_fault_cycles: u64,
    zero_4k_cycles: u64,
    policy: HugePolicy,
    fallback: HugeFallback,
    /// The huge sizes to try, largest first.
    huge_sizes: Vec<PageSize>,
    /// For each of `huge_sizes`: how many mappings lie in each (asid, aligned region).
    occupied: Vec<HashMap<(u16, u64), u32>>,
    /// Frames pinned at start by `os.fragmentation`.
    pub pinned_frames: u64,
    promote_threshold: u32,
    copy_4k_cycles: u64,
    collapse_cycles: u64,
    promote_in_place_cycles: u64,
    /// 2 MiB regions by (asid, region number), for `promote` and `reserve`.
    regions: HashMap<(u16, u64), Region>,
    /// Translations the last fault removed (collapsed small pages): the caller drops
    /// them from the owning core's TLBs.
    pub invalidations: Vec<Evicted>,
    /// Set when the last fault replaced a table by a huge page: the caller flushes the
    /// walk caches (INVLPG drops every paging-structure-cache entry of the PCID, Intel
    /// SDM vol. 3A, 4.10.4.1).
    pub flush_walk_caches: bool,
    /// Page replacement, when configured.
    paging: Option<Paging>,
    /// Whether every access must be reported to [`Os::on_access`] (replacement on).
    pub track_accesses: bool,
    /// Ranges advised for huge pages, per address space.
    advised: HashMap<u16, RangeMap<()>>,
    /// Ranges `mmap` events mapped, per address space (none: the whole space is
    /// anonymous memory, as before any such event).
    vmas: HashMap<u16, RangeMap<()>>,
    /// Rights `mprotect` events set, per address space (absent: read-write).
    prot: HashMap<u16, RangeMap<crate::workload::Prot>>,
    /// Some range is protected: accesses must be checked (stores only, unless
    /// `guard_loads`).
    guard_prot: bool,
    /// Some range is `PROT_NONE`: loads must be checked too.
    pub guard_loads: bool,
    protection_fault_cycles: u64,
    /// Every 2M page by (asid, base), with which of its 4 KiB pieces were written
    /// (tracked only under `demote`).
    huge: std::collections::BTreeMap<(u16, u64), [u64; 8]>,
    demote: bool,
    split_cycles: u64,
    /// Every mapping per address space (page base -> frame, size), kept only when the
    /// workload forks (a fork must know what to share).
    mappings: Option<HashMap<u16, MappingLog>>,
    /// Pages of each address space that are copy-on-write (base -> size).
    cow: HashMap<u16, HashMap<u64, PageSize>>,
    /// Frames forked children still hold: the number of such holders.
    shared: HashMap<u64, u32>,
    /// Frames of the children's copied page tables.
    child_tables: u64,
    /// Some address space has copy-on-write or protected pages: stores (and with
    /// `guard_loads` loads) go through [`Os::guard_fault`] first.
    pub guard_active: bool,
    /// Set when the last event requires the core's TLBs and walk caches flushed.
    pub flush_tlb: bool,
    /// What the queued invalidations come from.
    pub trigger: Trigger,
    cow_copy_4k_cycles: u64,
}

/// Demand-paging state: each address space's resident set, and the pages in swap.
struct Paging {
    policy: crate::config::ReplacementPolicy,
    seed: u64,
    limit: u64,
    major_fault_cycles: u64,
    writeback_cycles: u64,
    sets: HashMap<u16, ResidentSet>,
    swapped: HashSet<(u16, u64)>,
    /// WS: the window.
    window: u64,
    /// OPT: per address space, the index of its next access and, for each access,
    /// when its page is referenced next (`u32::MAX`: never).
    future: HashMap<u16, (usize, Vec<u32>)>,
}

impl Os {
    pub fn new(cfg: &OsConfig, seed: u64) -> Os {
        let mut frames = FrameAllocator::new(cfg.phys_mem.0, cfg.frame_alloc, seed);
        let pinned_frames = if cfg.fragmentation > 0.0 {
            frames.fragment(cfg.fragmentation, crate::util::splitmix64(seed ^ 0xf4a9))
        } else {
            0
        };
        let mut huge_sizes: Vec<PageSize> = cfg
            .huge_pages
            .sizes
            .iter()
            .copied()
            .filter(|&s| s > cfg.page_size)
            .collect();
        huge_sizes.sort_unstable_by(|a, b| b.cmp(a));
        huge_sizes.dedup();
        Os {
            frames,
            page_size: cfg.page_size,
            minor_fault_cycles: cfg.minor_fault_cycles,
            zero_4k_cycles: cfg.zero_4k_cycles,
            policy: cfg.huge_pages.policy,
            fallback: cfg.huge_pages.fallback,
            occupied: vec![HashMap::new(); huge_sizes.len()],
            huge_sizes,
            pinned_frames,
            promote_threshold: cfg.huge_pages.promote_threshold,
            copy_4k_cycles: cfg.huge_pages.copy_4k_cycles,
            collapse_cycles: cfg.huge_pages.collapse_cycles,
            promote_in_place_cycles: cfg.huge_pages.promote_in_place_cycles,
            regions: HashMap::new(),
            invalidations: Vec::new(),
            flush_walk_caches: false,
            paging: cfg.paging.replacement.map(|policy| Paging {
                policy,
                seed: cfg
                    .paging
                    .seed
                    .unwrap_or_else(|| crate::util::splitmix64(seed ^ 0x9a61)),
                limit: cfg.paging.resident_pages,
                major_fault_cycles: cfg.paging.major_fault_cycles,
                writeback_cycles: cfg.paging.writeback_cycles,
                sets: HashMap::new(),
                swapped: HashSet::new(),
                window: cfg.paging.window,
                future: HashMap::new(),
            }),
            track_accesses: cfg.paging.replacement.is_some() || cfg.huge_pages.demote,
            advised: HashMap::new(),
            vmas: HashMap::new(),
            prot: HashMap::new(),
            guard_prot: false,
            guard_loads: false,
            protection_fault_cycles: cfg.protection_fault_cycles,
            huge: Default::default(),
            demote: cfg.huge_pages.demote,
            split_cycles: cfg.huge_pages.split_cycles,
            mappings: None,
            cow: HashMap::new(),
            shared: HashMap::new(),
            child_tables: 0,
            guard_active: false,
            flush_tlb: false,
            trigger: Trigger::Munmap,
            cow_copy_4k_cycles: cfg.cow_copy_4k_cycles,
        }
    }

    /// Keeps a log of every mapping from now on (the workload has fork events).
    pub fn log_mappings(&mut self) {
        self.mappings.get_or_insert_with(HashMap::new);
    }

    /// Every mapping of `asid` as (page base, frame, size): from the table if it can
    /// list them (radix), else from the OS's log; `None` when neither can.
    fn list_mappings<PT: PageTable>(
        &self,
        pt: &PT,
        asid: u16,
    ) -> Option<Vec<(u64, u64, PageSize)>> {
        pt.mappings(asid).or_else(|| {
            let m = self.mappings.as_ref()?;
            Some(m.get(&asid).map_or_else(Vec::new, |a| {
                a.iter().map(|(&b, &(f, s))| (b, f, s)).collect()
            }))
        })
    }

    /// One holder of `frame` lets go: true if a forked child still had a share in it
    /// (then the frame stays allocated), false if it was not shared.
    fn release_share(&mut self, frame: u64) -> bool {
        match self.shared.get_mut(&frame) {
            Some(n) => {
                *n -= 1;
                if *n == 0 {
                    self.shared.remove(&frame);
                }
                true
            }
            None => false,
        }
    }

    fn log_map(&mut self, asid: u16, base: u64, frame: u64, size: PageSize) {
        if let Some(m) = &mut self.mappings {
            m.entry(asid).or_default().insert(base, (frame, size));
        }
    }

    fn log_unmap(&mut self, asid: u16, base: u64) {
        if let Some(m) = &mut self.mappings {
            if let Some(a) = m.get_mut(&asid) {
                a.remove(&base);
            }
        }
    }

    /// `fork()` of `parent`: the child `child` maps every page of the parent to the same
    /// frame, in `child_pt` (its own table) or, for a design with one table for all,
    /// in `pt`; the pages of both become copy-on-write and each frame gains a holder.
    /// The child inherits advice, mapped ranges and rights. The parent's TLBs and walk
    /// caches are flushed (Linux write-protects the PTEs and flushes at fork).
    #[inline(never)] // Cold: inlined, it bloats the engine's per-access loop (issue 15 guard).
    pub fn fork<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        mut child_pt: Option<&mut PT>,
        parent: u16,
        child: u16,
        stats: &mut OsStats,
    ) -> Result<(), SimError> {
        if self.paging.is_some() {
            return Err(SimError(
                "a fork event with os.paging.replacement: swapping shared pages is not modelled yet".into(),
            ));
        }
        // The table lists its mappings (radix), or the OS kept a log of them (hashed
        // designs, when the workload file announces its forks).
        let maps = self.list_mappings(pt, parent).ok_or_else(|| {
            SimError(
                "a fork line in a trace needs a radix page table (hashed designs can fork only from a workload file's [[event]])".into(),
            )
        })?;
        self.invalidations.clear();
        let mut child_cow = HashMap::new();
        for (base, frame, size) in maps {
            self.cow.entry(parent).or_default().insert(base, size);
            *self.shared.entry(frame).or_insert(0) += 1;
            if !PT::ALIASES {
                // The child holds the frame without a mapping of its own.
                continue;
            }
            child_cow.insert(base, size);
            let target = match child_pt.as_deref_mut() {
                Some(c) => c,
                None => &mut *pt,
            };
            let o = target.map(child, base, size, frame, &mut self.frames)?;
            self.log_map(child, base, frame, size);
            self.note_mapped(child, base, size);
            if let Some(e) = o.evicted {
                // A global hashed table made room for the child's entry.
                self.invalidations.push(e);
                stats.evictions += 1;
            }
        }
        self.cow.insert(child, child_cow);
        if let Some(c) = &child_pt {
            self.child_tables += c.table_bytes().div_ceil(4096);
        }
        // Promotion would move shared pages: neither promotes the regions it has.
        let keys: Vec<(u16, u64)> = (self.regions.keys())
            .filter(|k| k.0 == parent)
            .copied()
            .collect();
        for k in keys {
            let r = self.regions.get_mut(&k).expect("listed");
            r.done = true;
            let copy = Region {
                reservation: None,
                ..r.clone()
            };
            self.regions.insert((child, k.1), copy);
        }
        for m in [&mut self.advised, &mut self.vmas] {
            if let Some(v) = m.get(&parent).cloned() {
                m.insert(child, v);
            }
        }
        if let Some(v) = self.prot.get(&parent).cloned() {
            self.prot.insert(child, v);
        }
        self.guard_active = true;
        self.flush_tlb = true;
        self.trigger = Trigger::Fork;
        stats.fork_calls += 1;
        Ok(())
    }

    /// Before an access by `asid` to `vaddr` while some page is copy-on-write or
    /// protected: a protection fault if an `mprotect` forbade the access (the handler
    /// then opens the page read-write, as a write-tracking handler does), then, for a
    /// store to a copy-on-write page, its copy. Returns the cycles, if it trapped; the
    /// translations it replaced are queued in `invalidations`.
    pub fn guard_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        store: bool,
        stats: &mut OsStats,
    ) -> Result<Option<u64>, SimError> {
        use crate::workload::Prot;
        self.flush_walk_caches = false;
        self.trigger = Trigger::Cow;
        let mut cycles = None;
        if self.guard_prot {
            if let Some(m) = self.prot.get_mut(&asid) {
                let trap = match m.get(vaddr) {
                    Some(Prot::None) => true,
                    Some(Prot::R) => store,
                    _ => false,
                };
                if trap {
                    let page = vaddr & !0xfff;
                    m.remove(page, page + 4096);
                    let c = self.protection_fault_cycles;
                    stats.protection_faults += 1;
                    stats.fault_cycles += c;
                    cycles = Some(c);
                }
            }
        }
        self.invalidations.clear();
        if store && self.demote && self.cow.get(&asid).is_some_and(|c| !c.is_empty()) {
            // A copy needs a frame: make room first if memory is short.
            let c = self.demote_for_memory(pt, asid, stats)?;
            if c > 0 {
                stats.fault_cycles += c;
                cycles = Some(cycles.unwrap_or(0) + c);
            }
        }
        if store {
            if let Some(c) = self.cow_fault(pt, asid, vaddr, stats)? {
                cycles = Some(cycles.unwrap_or(0) + c);
            }
        }
        Ok(cycles)
    }

    /// A store by `asid` to `vaddr`: if its page is copy-on-write and another process
    /// still holds the frame, copy it into a new frame and remap it (the old frame stays
    /// with the others) and queue the old translation for invalidation; if nobody else
    /// holds it any more, make it writable where it is. Returns the cycles.
    fn cow_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<Option<u64>, SimError> {
        let Some(c) = self.cow.get_mut(&asid) else {
            return Ok(None);
        };
        let Some((base, size)) = PageSize::ALL.iter().find_map(|&s| {
            let b = vaddr & !(s.bytes() - 1);
            (c.get(&b) == Some(&s)).then_some((b, s))
        }) else {
            return Ok(None);
        };
        c.remove(&base);
        if pt.translate(asid, base).is_none() {
            // A hashed design evicted the translation: put it back first.
            if let Some(o) = pt.restore(asid, base, &mut self.frames)? {
                if let Some(e) = o.evicted {
                    self.invalidations.push(e);
                    stats.evictions += 1;
                }
            }
        }
        let old = pt
            .translate(asid, base)
            .ok_or_else(|| SimError(format!("internal: shared page {base:#x} is not mapped")))?;
        if !self.shared.contains_key(&old.frame) {
            // The last holder: the page becomes writable in place.
            let cycles = self.minor_fault_cycles;
            stats.cow_reuses += 1;
            stats.fault_cycles += cycles;
            return Ok(Some(cycles));
        }
        pt.unmap(asid, base);
        // The old frame stays with the other holders.
        self.release_share(old.frame);
        let new = match size {
            PageSize::Size4K => self.frames.alloc(size)?,
            _ => self.frames.try_alloc(size).ok_or_else(|| {
                SimError(format!(
                    "copy-on-write of the {size} page at {base:#x} found no free {size} block ({} MiB free in smaller blocks); splitting a shared huge page is not modelled: raise os.phys_mem or lower os.fragmentation",
                    self.frames.free_bytes() >> 20
                ))
            })?,
        };
        self.remap(pt, asid, base, size, new, stats)?;
        let cycles = self.minor_fault_cycles + size.bytes() / 4096 * self.cow_copy_4k_cycles;
        stats.cow_faults += 1;
        stats.cow_copied_bytes += size.bytes();
        stats.fault_cycles += cycles;
        Ok(Some(cycles))
    }

    /// Maps the page of `asid` at `base` (just unmapped) to frame `new` and queues its
    /// old translation, and any the design evicted to make room, for invalidation.
    fn remap<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        base: u64,
        size: PageSize,
        new: u64,
        stats: &mut OsStats,
    ) -> Result<(), SimError> {
        let o = pt.map(asid, base, size, new, &mut self.frames)?;
        self.log_map(asid, base, new, size);
        self.invalidations.push(Evicted {
            asid,
            vaddr: base,
            size,
        });
        if let Some(e) = o.evicted {
            self.invalidations.push(e);
            stats.evictions += 1;
        }
        Ok(())
    }

    /// Pages (frames) more than one process still holds, each counted once, and the
    /// frames of the forked children's page tables (as of their forks).
    pub fn sharing(&self) -> (u64, u64) {
        (self.shared.len() as u64, self.child_tables)
    }

    /// Whether [start, end) lies inside one advised range of `asid`.
    fn advised(&self, asid: u16, start: u64, end: u64) -> bool {
        self.advised
            .get(&asid)
            .is_some_and(|m| m.covering(start, end).is_some())
    }

    /// Whether a huge page may cover [start, end) of `asid`: inside one mapped range,
    /// when `mmap` events gave any (Linux maps a huge page only inside one VMA).
    fn fits_vma(&self, asid: u16, start: u64, end: u64) -> bool {
        self.vmas
            .get(&asid)
            .is_none_or(|m| m.is_empty() || m.covering(start, end).is_some())
    }

    /// Applies a workload's OS event (not `fork` or `exit`, which the engine runs) to
    /// address space `asid`; translations removed are queued in `invalidations` for the
    /// caller. Returns cycles the event took outside any access's translation
    /// (`populate`).
    #[inline(never)] // Cold: inlined, it bloats the engine's per-access loop (issue 15 guard).
    pub fn apply_event<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        ev: crate::workload::OsEvent,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        use crate::workload::{EventKind, Prot};
        self.invalidations.clear();
        self.flush_tlb = false;
        self.trigger = match ev.kind {
            EventKind::Mprotect => Trigger::Mprotect,
            EventKind::Mmap => Trigger::Mmap,
            EventKind::Migrate => Trigger::Migration,
            _ => Trigger::Munmap,
        };
        self.flush_walk_caches = false;
        let mut cycles = 0;
        match ev.kind {
            EventKind::Madvise => {
                self.advised
                    .entry(asid)
                    .or_default()
                    .insert(ev.start, ev.end, ());
                stats.madvise_calls += 1;
            }
            EventKind::Munmap => {
                stats.munmap_calls += 1;
                let c = self.munmap(pt, asid, ev.start, ev.end, stats)?;
                stats.event_cycles += c;
                cycles += c;
                for m in [&mut self.advised, &mut self.vmas] {
                    if let Some(r) = m.get_mut(&asid) {
                        r.remove(ev.start, ev.end);
                    }
                }
            }
            EventKind::Mmap => {
                stats.mmap_calls += 1;
                // MAP_FIXED: what was mapped there goes first.
                let c = self.munmap(pt, asid, ev.start, ev.end, stats)?;
                stats.event_cycles += c;
                cycles += c;
                self.vmas
                    .entry(asid)
                    .or_default()
                    .insert(ev.start, ev.end, ());
                // Regions inside it start afresh (one left in small pages for want of
                // a mapped range may take a huge page now).
                let (s0, e0) = (ev.start, ev.end);
                let fresh: Vec<(u16, u64)> = (self.regions.keys())
                    .filter(|k| k.0 == asid && k.1 << 21 >= s0 && (k.1 + 1) << 21 <= e0)
                    .copied()
                    .collect();
                for k in fresh {
                    if let Some(b) = self.regions.remove(&k).and_then(|r| r.reservation) {
                        if self.frames.is_reserved(b) {
                            self.frames.break_reservation(b);
                        }
                    }
                }
                if ev.populate {
                    cycles += self.populate(pt, asid, ev.start, ev.end, stats)?;
                }
            }
            EventKind::Mprotect => {
                stats.mprotect_calls += 1;
                let m = self.prot.entry(asid).or_default();
                if ev.prot == Prot::Rw {
                    // Raising rights needs no flush: a stale entry with fewer rights
                    // would only take a spurious fault.
                    m.remove(ev.start, ev.end);
                } else {
                    m.insert(ev.start, ev.end, ev.prot);
                    self.guard_prot = true;
                    self.guard_active = true;
                    self.guard_loads |= ev.prot == Prot::None;
                    // Lowering rights: the TLBs hold the old ones; Linux's
                    // change_protection flushes the range.
                    for (base, size) in self.mapped_in(pt, asid, ev.start, ev.end)? {
                        self.invalidations.push(Evicted {
                            asid,
                            vaddr: base,
                            size,
                        });
                    }
                }
            }
            EventKind::Migrate => {
                stats.migrate_calls += 1;
                let c = self.migrate(pt, asid, ev.start, ev.end, stats)?;
                stats.event_cycles += c;
                cycles += c;
            }
            EventKind::Fork | EventKind::Exit => {
                return Err(SimError(format!(
                    "internal: {} goes through the engine",
                    ev.kind.name()
                )))
            }
        }
        Ok(cycles)
    }

    /// The pages of `asid` mapped in [start, end) (a huge page partly inside counts),
    /// as (base, size).
    fn mapped_in<PT: PageTable>(
        &self,
        pt: &PT,
        asid: u16,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, PageSize)>, SimError> {
        if (end - start) / 4096 > 1 << 16 {
            // A long range: what the table lists, not every page of it.
            if let Some(maps) = self.list_mappings(pt, asid) {
                let mut v: Vec<(u64, PageSize)> = maps
                    .into_iter()
                    .filter(|&(b, _, s)| b < end && b + s.bytes() > start)
                    .map(|(b, _, s)| (b, s))
                    .collect();
                v.sort_unstable();
                return Ok(v);
            }
            if (end - start) / 4096 > 1 << 24 {
                return Err(SimError(format!(
                    "an event over {} GiB on a page table that cannot list its mappings: give such events in the workload file ([[event]]), where the OS keeps a log of mappings",
                    (end - start) >> 30
                )));
            }
        }
        let mut v = Vec::new();
        let mut va = start;
        while va < end {
            match pt.translate(asid, va) {
                Some(tr) => {
                    let base = va & !(tr.size.bytes() - 1);
                    v.push((base, tr.size));
                    va = base + tr.size.bytes();
                }
                None => va += 4096,
            }
        }
        Ok(v)
    }

    /// Moves every mapped page of [start, end) to a new frame of its size: copied
    /// (`cow_copy_4k_cycles` per 4 KiB), remapped, the old frame freed, the old
    /// translation queued for invalidation. Pages another process shares stay, and so
    /// does a huge page no free block of its size can take. Returns the cycles.
    fn migrate<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let mut cycles = 0;
        for (base, size) in self.mapped_in(pt, asid, start, end)? {
            let Some(old) = pt.translate(asid, base) else {
                continue;
            };
            if self.shared.contains_key(&old.frame) {
                continue;
            }
            // A page of a live reservation is a piece of a 2M block: break it first,
            // so the page's frame can go alone (the region is not promoted any more).
            let key = (asid, base >> 21);
            if let Some(b) = self.regions.get(&key).and_then(|r| r.reservation) {
                self.frames.break_reservation(b);
                let r = self.regions.get_mut(&key).expect("looked up");
                r.reservation = None;
                r.done = true;
            }
            let Some(new) = self.frames.try_alloc(size) else {
                continue;
            };
            pt.unmap(asid, base);
            self.frames.free(old.frame, size)?;
            // A resident page stays resident (and keeps its recency) in its new frame.
            self.remap(pt, asid, base, size, new, stats)?;
            stats.migrated_pages += 1;
            cycles += size.bytes() / 4096 * self.cow_copy_4k_cycles;
        }
        Ok(cycles)
    }

    /// `MAP_POPULATE`: faults in every page of [start, end) that is not mapped, as
    /// first touches would (huge pages where the policy takes them). Returns the cycles;
    /// they are not any access's translation, so they leave `fault_cycles`.
    fn populate<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let mut cycles = 0;
        // What the MAP_FIXED unmap before queued must survive the faults below.
        let mut evicted = std::mem::take(&mut self.invalidations);
        let mut va = start;
        while va < end {
            if pt.translate(asid, va).is_none() {
                let (c, e) = self.handle_fault(pt, asid, va, stats)?;
                cycles += c;
                evicted.append(&mut self.invalidations);
                evicted.extend(e);
                stats.populated_pages += 1;
            }
            let size = pt.translate(asid, va).map_or(PageSize::Size4K, |t| t.size);
            va = (va & !(size.bytes() - 1)) + size.bytes();
        }
        self.invalidations = evicted;
        stats.fault_cycles -= cycles;
        stats.event_cycles += cycles;
        Ok(cycles)
    }

    /// `exit()` of `asid`: every page unmapped (frames another process still holds
    /// stay) and everything the OS kept for it dropped. The caller frees its tables
    /// and drops its TLB entries (Linux flushes the whole mm at exit), so no
    /// invalidation is queued.
    #[inline(never)] // Cold: inlined, it bloats the engine's per-access loop (issue 15 guard).
    pub fn exit<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        stats: &mut OsStats,
    ) -> Result<(), SimError> {
        if self.list_mappings(pt, asid).is_none() {
            return Err(SimError(
                "an exit line in a trace needs a radix page table (hashed designs can exit only from a workload file's [[event]], where the OS keeps a log of mappings)".into(),
            ));
        }
        self.munmap(pt, asid, 0, crate::workload::VA_LIMIT, stats)?;
        self.invalidations.clear();
        self.cow.remove(&asid);
        self.advised.remove(&asid);
        self.vmas.remove(&asid);
        self.prot.remove(&asid);
        let keys: Vec<(u16, u64)> = (self.regions.keys())
            .filter(|k| k.0 == asid)
            .copied()
            .collect();
        for k in keys {
            if let Some(b) = self.regions.remove(&k).and_then(|r| r.reservation) {
                if self.frames.is_reserved(b) {
                    self.frames.break_reservation(b);
                }
            }
        }
        for o in &mut self.occupied {
            o.retain(|k, _| k.0 != asid);
        }
        if let Some(p) = &mut self.paging {
            p.sets.remove(&asid);
            p.future.remove(&asid);
            p.swapped.retain(|k| k.0 != asid);
        }
        if let Some(m) = &mut self.mappings {
            m.remove(&asid);
        }
        stats.exits += 1;
        Ok(())
    }

    /// Removes every mapping in [start, end): frames freed (a huge page partly inside
    /// goes whole; Linux would split it first), resident-set and swap entries dropped,
    /// region bookkeeping updated, translations queued for invalidation.
    fn munmap<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        if (end - start) / 4096 <= 1 << 16 {
            return self.munmap_pages(pt, asid, start, end, stats);
        }
        // A long range: visit only what is mapped (and swapped) in it, not every page.
        // Each such page as (base, bytes).
        let mut pages: Vec<(u64, u64)> = (self.mapped_in(pt, asid, start, end)?.into_iter())
            .map(|(b, s)| (b, s.bytes()))
            .collect();
        if let Some(p) = &self.paging {
            pages.extend(
                (p.swapped.iter())
                    .filter(|k| k.0 == asid && (k.1 << 12) < end && (k.1 + 1) << 12 > start)
                    .map(|k| (k.1 << 12, 4096)),
            );
        }
        pages.sort_unstable();
        pages.dedup();
        let mut cycles = 0;
        for (b, n) in pages {
            // The part of the page inside the range (a huge page may stick out on
            // either side: it is split and only that part goes).
            let (s, e) = (b.max(start), (b + n).min(end));
            cycles += self.munmap_pages(pt, asid, s, e, stats)?;
        }
        Ok(cycles)
    }

    /// [`Os::munmap`] page by page over [start, end).
    fn munmap_pages<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        start: u64,
        end: u64,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let mut cycles = 0;
        let mut va = start;
        while va < end {
            // A page whose reservation is live must not free its frame alone: break the
            // reservation first so every mapped piece is a frame of its own.
            let key = (asid, va >> 21);
            if let Some(b) = self.regions.get(&key).and_then(|r| r.reservation) {
                self.frames.break_reservation(b);
            }
            if let Some(t) = pt.translate(asid, va) {
                let base = va & !((2 << 20) - 1);
                if t.size == PageSize::Size2M
                    && (base < start || base + (2 << 20) > end)
                    && !self.shared.contains_key(&t.frame)
                {
                    // Partly inside: split it, then unmap only the pieces inside
                    // (a 1G page, or a 2M page another process shares, goes whole).
                    cycles += self.split_huge(pt, asid, base, stats)?;
                }
            }
            let Some(tr) = pt.unmap(asid, va) else {
                if let Some(p) = &mut self.paging {
                    // Swapped out: the swap copy goes.
                    p.swapped.remove(&(asid, va >> 12));
                }
                va += 4096;
                continue;
            };
            let base = va & !(tr.size.bytes() - 1);
            self.log_unmap(asid, base);
            if let Some(c) = self.cow.get_mut(&asid) {
                c.remove(&base);
            }
            // A frame a forked child still holds stays allocated.
            if !self.release_share(tr.frame) {
                self.frames.free(tr.frame, tr.size)?;
            }
            stats.mapped_bytes -= tr.size.bytes() as i64;
            stats.unmapped_pages += 1;
            self.invalidations.push(Evicted {
                asid,
                vaddr: base,
                size: tr.size,
            });
            self.note_unmapped(asid, base, tr.size);
            if let Some(r) = self.regions.get_mut(&(asid, base >> 21)) {
                if tr.size == PageSize::Size4K {
                    let page = (base >> 12) & (SMALL_PER_2M - 1);
                    if r.pages[(page / 64) as usize] >> (page % 64) & 1 == 1 {
                        r.pages[(page / 64) as usize] &= !(1 << (page % 64));
                        r.mapped -= 1;
                    }
                    if r.reservation.take().is_some() {
                        // Its reservation was broken above: no promotion for it.
                        r.done = true;
                    }
                } else {
                    // The huge page is gone: the region starts afresh.
                    self.regions.remove(&(asid, base >> 21));
                }
            }
            if let Some(p) = &mut self.paging {
                if let Some(set) = p.sets.get_mut(&asid) {
                    set.remove(base >> 12);
                }
            }
            va = base + tr.size.bytes();
        }
        Ok(cycles)
    }

    /// Whether page replacement is Belady's OPT (the run must hand over the future).
    pub fn needs_future(&self) -> bool {
        self.paging
            .as_ref()
            .is_some_and(|p| p.policy == crate::config::ReplacementPolicy::Opt)
    }

    /// OPT: the page numbers (4 KiB) address space `asid` will access, in order.
    pub fn set_future(&mut self, asid: u16, vpns: &[u64]) -> Result<(), SimError> {
        let Some(p) = &mut self.paging else {
            return Ok(());
        };
        if vpns.len() >= u32::MAX as usize {
            return Err(SimError(
                "os.paging.replacement = \"opt\" looks ahead over at most 2^32 - 1 accesses per core".into(),
            ));
        }
        let mut upcoming: HashMap<u64, u32> = HashMap::new();
        let mut next = vec![u32::MAX; vpns.len()];
        for (t, &v) in vpns.iter().enumerate().rev() {
            next[t] = upcoming.insert(v, t as u32).unwrap_or(u32::MAX);
        }
        p.future.insert(asid, (0, next));
        Ok(())
    }

    /// Every access, when `track_accesses`: recency, dirty bits, use bits on walks,
    /// OPT's next uses; under WS, pages that fell out of the window leave (their
    /// translations are queued in `invalidations` for the caller).
    #[inline]
    pub fn on_access<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        store: bool,
        walked: bool,
        stats: &mut OsStats,
    ) -> Result<(), SimError> {
        if self.demote && store {
            // Which pieces of a huge page hold data: the others are still zero.
            if let Some(w) = self.huge.get_mut(&(asid, vaddr & !((2 << 20) - 1))) {
                let i = (vaddr >> 12) & (SMALL_PER_2M - 1);
                w[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        let Some(p) = &mut self.paging else {
            return Ok(());
        };
        // Only OPT needs the next use; the other policies skip the lookup.
        let future = if p.policy == crate::config::ReplacementPolicy::Opt {
            p.future.get_mut(&asid)
        } else {
            None
        };
        let next = match future {
            Some((i, next)) => {
                let n = next.get(*i).copied().unwrap_or(u32::MAX);
                *i += 1;
                if n == u32::MAX {
                    u64::MAX
                } else {
                    n as u64
                }
            }
            None => u64::MAX,
        };
        let Some(set) = p.sets.get_mut(&asid) else {
            return Ok(());
        };
        set.touch(vaddr >> 12, store, walked, next);
        if p.policy == crate::config::ReplacementPolicy::Ws {
            self.invalidations.clear();
            self.trigger = Trigger::Eviction;
            while let Some(v) = set.expired(p.window) {
                swap_out(
                    pt,
                    &mut self.frames,
                    &mut p.swapped,
                    &mut self.mappings,
                    &mut self.invalidations,
                    (asid, v),
                    stats,
                )?;
                stats.writebacks += v.dirty as u64;
                // A write-back leaving the working set is done in the background
                // (it stalls no access), unlike one that frees a frame for a fault.
            }
        }
        Ok(())
    }

    /// The page size and frame for a first touch at `vaddr`.
    fn choose_frame(
        &mut self,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(PageSize, u64), SimError> {
        if matches!(self.policy, HugePolicy::Always | HugePolicy::Madvise) {
            let mut wanted = false;
            for (i, &s) in self.huge_sizes.iter().enumerate() {
                if wanted && self.fallback == HugeFallback::Base {
                    break;
                }
                if self.occupied[i].contains_key(&(asid, vaddr >> s.shift())) {
                    // Something is mapped in this region already: not a candidate.
                    continue;
                }
                let base = vaddr & !(s.bytes() - 1);
                if self.policy == HugePolicy::Madvise && !self.advised(asid, base, base + s.bytes())
                    || !self.fits_vma(asid, base, base + s.bytes())
                {
                    continue;
                }
                match self.frames.try_alloc(s) {
                    Some(f) => {
                        match s {
                            PageSize::Size2M => stats.huge_faults_2m += 1,
                            _ => stats.huge_faults_1g += 1,
                        }
                        // A larger size was wanted and failed: this is a fallback too.
                        stats.huge_fallbacks += wanted as u64;
                        return Ok((s, f));
                    }
                    None => stats.huge_alloc_failures += 1,
                }
                wanted = true;
            }
            stats.huge_fallbacks += wanted as u64;
        }
        Ok((self.page_size, self.frames.alloc(self.page_size)?))
    }

    /// Records a new mapping in the region counts of every larger huge size (and a 2M
    /// page among the huge pages).
    fn note_mapped(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        for (i, &s) in self.huge_sizes.iter().enumerate() {
            if s > size {
                *self.occupied[i]
                    .entry((asid, vaddr >> s.shift()))
                    .or_insert(0) += 1;
            }
        }
        if size == PageSize::Size2M {
            self.huge.insert((asid, vaddr), [0; 8]);
        }
    }

    /// Undoes [`Os::note_mapped`] for a mapping removed.
    fn note_unmapped(&mut self, asid: u16, base: u64, size: PageSize) {
        for (i, &s) in self.huge_sizes.iter().enumerate() {
            if s > size {
                let k = (asid, base >> s.shift());
                if let Some(n) = self.occupied[i].get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        self.occupied[i].remove(&k);
                    }
                }
            }
        }
        if size == PageSize::Size2M {
            self.huge.remove(&(asid, base));
        }
    }

    /// Splits the 2M page of `asid` at `base` into 512 4K pages of the same frames
    /// (Linux's split_huge_page): its translation is queued for invalidation and the
    /// walk caches flushed; the region is never promoted again. Returns the cycles.
    fn split_huge<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        base: u64,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let tr = pt
            .unmap(asid, base)
            .filter(|t| t.size == PageSize::Size2M)
            .ok_or_else(|| SimError(format!("internal: no 2M page at {base:#x} to split")))?;
        self.frames.split(tr.frame, PageSize::Size2M)?;
        self.log_unmap(asid, base);
        self.note_unmapped(asid, base, PageSize::Size2M);
        self.invalidations.push(Evicted {
            asid,
            vaddr: base,
            size: PageSize::Size2M,
        });
        let cow = (self.cow.get_mut(&asid)).is_some_and(|c| c.remove(&base).is_some());
        for i in 0..SMALL_PER_2M {
            let (va, f) = (base + i * 4096, tr.frame + i * 4096);
            let o = pt.map(asid, va, PageSize::Size4K, f, &mut self.frames)?;
            if let Some(e) = o.evicted {
                self.invalidations.push(e);
                stats.evictions += 1;
            }
            self.log_map(asid, va, f, PageSize::Size4K);
            self.note_mapped(asid, va, PageSize::Size4K);
            if cow {
                let c = self.cow.entry(asid).or_default();
                c.insert(va, PageSize::Size4K);
            }
        }
        self.regions.insert(
            (asid, base >> 21),
            Region {
                pages: [u64::MAX; 8],
                mapped: SMALL_PER_2M as u32,
                reservation: None,
                done: true,
            },
        );
        self.flush_walk_caches = true;
        stats.splits += 1;
        Ok(self.split_cycles)
    }

    /// Under `demote`, while free memory is below the low watermark: splits the 2M
    /// page of `asid` with the fewest written pieces (not shared with another process)
    /// and frees the pieces never written, which hold only zeros. Returns the cycles.
    fn demote_for_memory<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let ones = |w: &[u64; 8]| w.iter().map(|x| x.count_ones()).sum::<u32>();
        let mut cycles = 0;
        while self.frames.free_bytes() < HEADROOM_FRAMES * 4096 {
            let victim = (self.huge.range((asid, 0)..=(asid, u64::MAX)))
                .filter(|(k, _)| {
                    pt.translate(asid, k.1)
                        .is_some_and(|t| !self.shared.contains_key(&t.frame))
                })
                .min_by_key(|(k, w)| (ones(w), k.1))
                .map(|(k, w)| (k.1, *w));
            let Some((base, written)) = victim.filter(|v| ones(&v.1) < SMALL_PER_2M as u32) else {
                break;
            };
            cycles += self.split_huge(pt, asid, base, stats)?;
            self.trigger = Trigger::Split;
            for i in 0..SMALL_PER_2M {
                if written[(i / 64) as usize] >> (i % 64) & 1 == 1 {
                    continue;
                }
                let va = base + i * 4096;
                let tr = pt.unmap(asid, va).ok_or_else(|| {
                    SimError(format!("internal: split piece {va:#x} is not mapped"))
                })?;
                self.frames.free(tr.frame, PageSize::Size4K)?;
                self.log_unmap(asid, va);
                self.note_unmapped(asid, va, PageSize::Size4K);
                if let Some(c) = self.cow.get_mut(&asid) {
                    c.remove(&va);
                }
                self.invalidations.push(Evicted {
                    asid,
                    vaddr: va,
                    size: PageSize::Size4K,
                });
                stats.mapped_bytes -= 4096;
                stats.demoted_freed_4k += 1;
            }
            if let Some(r) = self.regions.get_mut(&(asid, base >> 21)) {
                r.pages = written;
                r.mapped = ones(&written);
            }
            stats.demotions += 1;
        }
        Ok(cycles)
    }

    /// Cycles of a minor fault that maps a page of `size`.
    pub fn minor_fault_cost(&self, size: PageSize) -> u64 {
        self.minor_fault_cycles + (size.bytes() / 4096 - 1) * self.zero_4k_cycles
    }

    /// Handle a not-present fault at `vaddr`: put back an evicted translation, or map a
    /// new page. Returns the cycles it took and any translation evicted to make room
    /// (which the caller must drop from its TLBs).
    pub fn handle_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(u64, Option<Evicted>), SimError> {
        self.invalidations.clear();
        self.flush_walk_caches = false;
        self.trigger = if self.paging.is_some() {
            Trigger::Eviction
        } else {
            Trigger::TableEviction
        };
        let demoted = if self.demote {
            self.demote_for_memory(pt, asid, stats)?
        } else {
            0
        };
        let (outcome, cycles) = match pt.restore(asid, vaddr, &mut self.frames)? {
            Some(o) => {
                stats.restore_faults += 1;
                (o, self.minor_fault_cycles)
            }
            None if self.paging.is_some() => self.fault_paged(pt, asid, vaddr, stats)?,
            None => {
                stats.minor_faults += 1;
                match self.policy {
                    HugePolicy::Promote | HugePolicy::Reserve => {
                        self.fault_in_region(pt, asid, vaddr, stats)?
                    }
                    HugePolicy::Never | HugePolicy::Always | HugePolicy::Madvise => {
                        let (size, frame) = self.choose_frame(asid, vaddr, stats)?;
                        stats.mapped_bytes += size.bytes() as i64;
                        let base = vaddr & !(size.bytes() - 1);
                        let o = pt.map(asid, base, size, frame, &mut self.frames)?;
                        self.log_map(asid, base, frame, size);
                        self.note_mapped(asid, base, size);
                        (o, self.minor_fault_cost(size))
                    }
                }
            }
        };
        stats.evictions += outcome.evicted.is_some() as u64;
        self.flush_walk_caches |= outcome.freed_tables;
        let cycles = cycles + demoted;
        stats.fault_cycles += cycles;
        Ok((cycles, outcome.evicted))
    }

    /// A first touch under `promote` or `reserve`: map the small page (from the
    /// region's reservation, if any), then collapse or promote the region when due.
    fn fault_in_region<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(crate::pagetable::MapOutcome, u64), SimError> {
        let key = (asid, vaddr >> 21);
        let page = (vaddr >> 12) & (SMALL_PER_2M - 1);
        let reserve = self.policy == HugePolicy::Reserve;
        if !self.regions.contains_key(&key) && !self.fits_vma(asid, key.1 << 21, (key.1 + 1) << 21)
        {
            // Not inside one mapped range: this region stays in small pages.
            self.regions.insert(
                key,
                Region {
                    done: true,
                    ..Region::default()
                },
            );
        }
        if reserve && !self.regions.contains_key(&key) {
            let mut r = Region::default();
            // Reserve only from free memory: breaking another reservation to make one
            // would just move the problem.
            match self.frames.reserve() {
                Some(block) => {
                    r.reservation = Some(block);
                    stats.reservations += 1;
                }
                None => {
                    r.done = true;
                    stats.huge_alloc_failures += 1;
                    stats.huge_fallbacks += 1;
                }
            }
            self.regions.insert(key, r);
        }
        let reserved_block = self.regions.get(&key).and_then(|r| r.reservation);
        let frame = match reserved_block {
            Some(b) if self.frames.is_reserved(b) => {
                // Marked in use before the map: a table allocation inside it may
                // break this very reservation, and must not free this page's frame.
                self.frames.populate(b, page);
                b + page * 4096
            }
            _ => self.frames.alloc(PageSize::Size4K)?,
        };
        let outcome = pt.map(
            asid,
            vaddr & !0xfff,
            PageSize::Size4K,
            frame,
            &mut self.frames,
        )?;
        self.log_map(asid, vaddr & !0xfff, frame, PageSize::Size4K);
        stats.mapped_bytes += 4096;
        let mut cycles = self.minor_fault_cost(PageSize::Size4K);
        let r = self.regions.entry(key).or_default();
        if let Some(b) = r.reservation {
            if !self.frames.is_reserved(b) {
                // Broken for memory (by this fault or an earlier one): its pages stay
                // 4K and the region is never promoted.
                r.reservation = None;
                r.done = true;
            }
        }
        if r.done {
            return Ok((outcome, cycles));
        }
        r.pages[(page / 64) as usize] |= 1 << (page % 64);
        r.mapped += 1;
        let due = if reserve {
            r.mapped as u64 == SMALL_PER_2M
        } else {
            r.mapped >= self.promote_threshold
        };
        if due {
            cycles += self.promote(pt, key, stats)?;
        }
        Ok((outcome, cycles))
    }

    /// Replaces region `key`'s small pages by one 2M page: in place for a reservation,
    /// else into a new 2M frame with the mapped pages copied and their frames freed.
    /// Returns its cycles (0 when no 2M frame could be had: the region stays small).
    fn promote<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        key: (u16, u64),
        stats: &mut OsStats,
    ) -> Result<u64, SimError> {
        let (asid, region) = key;
        let r = self.regions.get(&key).expect("tracked").clone();
        let (huge, in_place) = match r.reservation {
            Some(b) => {
                self.frames.unreserve(b);
                (b, true)
            }
            // A collapse takes free memory only: breaking reservations (which keep
            // their used pages) rarely frees a whole block.
            None => match self.frames.try_alloc_free(PageSize::Size2M) {
                Some(b) => (b, false),
                None => {
                    stats.collapse_failures += 1;
                    return Ok(0);
                }
            },
        };
        let base = region << 21;
        for i in 0..SMALL_PER_2M {
            if r.pages[(i / 64) as usize] >> (i % 64) & 1 == 0 {
                continue;
            }
            let va = base + i * 4096;
            let tr = pt.unmap(asid, va).ok_or_else(|| {
                SimError(format!(
                    "internal: {va:#x} was mapped but the page table has no entry"
                ))
            })?;
            if !in_place {
                self.frames.free(tr.frame, PageSize::Size4K)?;
            }
            self.log_unmap(asid, va);
            self.invalidations.push(Evicted {
                asid,
                vaddr: va,
                size: PageSize::Size4K,
            });
        }
        let o = pt.map(asid, base, PageSize::Size2M, huge, &mut self.frames)?;
        self.log_map(asid, base, huge, PageSize::Size2M);
        // Its pieces that were pages hold data.
        self.huge.insert((asid, base), r.pages);
        if let Some(e) = o.evicted {
            // A hashed design made room by evicting another translation: it must
            // leave the TLBs like any eviction.
            self.invalidations.push(e);
            stats.evictions += 1;
        }
        self.flush_walk_caches = true;
        self.trigger = Trigger::Collapse;
        let copied = if in_place { 0 } else { r.mapped as u64 };
        let entry = self.regions.get_mut(&key).expect("tracked");
        entry.done = true;
        entry.reservation = None;
        stats.promotions += 1;
        stats.huge_faults_2m += 1;
        stats.copied_4k += copied;
        // The huge page now maps the whole region.
        stats.mapped_bytes += ((SMALL_PER_2M - r.mapped as u64) * 4096) as i64;
        let cycles = if in_place {
            self.promote_in_place_cycles
        } else {
            self.collapse_cycles
                + copied * self.copy_4k_cycles
                + (SMALL_PER_2M - copied) * self.zero_4k_cycles
        };
        stats.promotion_cycles += cycles;
        Ok(cycles)
    }

    /// A first touch with page replacement on: make room (the address space's limit,
    /// then a low watermark of free frames), bring the page in (a major fault if it was
    /// evicted) and make it resident.
    fn fault_paged<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(crate::pagetable::MapOutcome, u64), SimError> {
        let p = self.paging.as_mut().expect("paging on");
        let vpn = vaddr >> 12;
        let mut cycles = if p.swapped.remove(&(asid, vpn)) {
            stats.major_faults += 1;
            p.major_fault_cycles
        } else {
            stats.minor_faults += 1;
            self.minor_fault_cycles
        };
        let (policy, seed) = (p.policy, p.seed ^ asid as u64);
        let set = p
            .sets
            .entry(asid)
            .or_insert_with(|| ResidentSet::new(policy, seed));
        loop {
            let over = p.limit > 0 && set.len() as u64 >= p.limit;
            let short = self.frames.free_bytes() < HEADROOM_FRAMES * 4096;
            if !(over || short) {
                break;
            }
            // Nothing left to evict: the allocation below reports the shortage.
            let Some(v) = set.evict() else { break };
            swap_out(
                pt,
                &mut self.frames,
                &mut p.swapped,
                &mut self.mappings,
                &mut self.invalidations,
                (asid, v),
                stats,
            )?;
            if v.dirty {
                stats.writebacks += 1;
                cycles += p.writeback_cycles;
            }
        }
        let frame = self.frames.alloc(PageSize::Size4K)?;
        let outcome = pt.map(asid, vpn << 12, PageSize::Size4K, frame, &mut self.frames)?;
        set.insert(vpn, frame);
        if let Some(m) = &mut self.mappings {
            m.entry(asid)
                .or_default()
                .insert(vpn << 12, (frame, PageSize::Size4K));
        }
        stats.mapped_bytes += 4096;
        Ok((outcome, cycles))
    }
}
