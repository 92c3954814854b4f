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

use crate::addr::PageSize;
use crate::config::{HugeFallback, HugePolicy, OsConfig};
use crate::pagetable::{Evicted, PageTable};
use crate::SimError;
use frames::FrameAllocator;
use serde::Serialize;
use std::collections::HashMap;

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
    /// Minor faults that mapped a 2M / 1G page (Linux's `thp_fault_alloc`).
    pub huge_faults_2m: u64,
    pub huge_faults_1g: u64,
    /// Huge-page allocations that found no free block of their size.
    pub huge_alloc_failures: u64,
    /// Faults that wanted a huge page (its region was empty) but mapped a smaller page
    /// because memory had no free block of that size (Linux's `thp_fault_fallback`).
    pub huge_fallbacks: u64,
    /// Bytes mapped by this address space's faults (its resident memory).
    pub mapped_bytes: u64,
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
    }
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
        }
    }

    /// The page size and frame for a first touch at `vaddr`.
    fn choose_frame(
        &mut self,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
    ) -> Result<(PageSize, u64), SimError> {
        if self.policy == HugePolicy::Always {
            let mut wanted = false;
            for (i, &s) in self.huge_sizes.iter().enumerate() {
                if wanted && self.fallback == HugeFallback::Base {
                    break;
                }
                if self.occupied[i].contains_key(&(asid, vaddr >> s.shift())) {
                    // Something is mapped in this region already: not a candidate.
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

    /// Records a new mapping in the region counts of every larger huge size.
    fn note_mapped(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        for (i, &s) in self.huge_sizes.iter().enumerate() {
            if s > size {
                *self.occupied[i]
                    .entry((asid, vaddr >> s.shift()))
                    .or_insert(0) += 1;
            }
        }
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
        let (outcome, cycles) = match pt.restore(asid, vaddr, &mut self.frames)? {
            Some(o) => {
                stats.restore_faults += 1;
                (o, self.minor_fault_cycles)
            }
            None => {
                let (size, frame) = self.choose_frame(asid, vaddr, stats)?;
                stats.minor_faults += 1;
                stats.mapped_bytes += size.bytes();
                let base = vaddr & !(size.bytes() - 1);
                let o = pt.map(asid, base, size, frame, &mut self.frames)?;
                self.note_mapped(asid, base, size);
                (o, self.minor_fault_cost(size))
            }
        };
        stats.evictions += outcome.evicted.is_some() as u64;
        stats.fault_cycles += cycles;
        Ok((cycles, outcome.evicted))
    }
}
