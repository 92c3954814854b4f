//! Page-table designs behind one interface.
//!
//! Owns the in-memory structure that maps virtual pages to frames, with every table at a
//! real physical address so that a walk's PTE reads have real cache-line addresses.
//! In: `map`/`unmap`/`restore` from the OS model; `walk` from the hardware walker; the
//! teaching view's questions from `explain`. Out: the PTE reads a real walker issues (as
//! [`WalkStep`]s, each with the physical address it reads) and how the walk ended.
//!
//! A design is a table type implementing the three views of [`PageTable`], one per
//! client: [`Walkable`] (the walker's timed walk), [`Mappable`] (the OS's functional map
//! and lifecycle) and [`Teachable`] (`explain`). The simulator is generic over it, so the
//! design is chosen once per run ([`with_design`], in `design.rs`, the one place that
//! knows every design and its config) and the walk path is monomorphic.
//!
//! Files: `radix.rs` (with `asap.rs`, ASAP's regions for its two deepest levels); the hashed designs `inverted.rs`, `htab.rs`, `clustered.rs` and
//! `cuckoo/` (a folder: its elastic tables and its walk cache apart), and what they
//! share in `hashed.rs` (hashes, keys, multi-size probing); `design.rs` (the designs'
//! configs and the dispatch); this file (the traits and the types they speak).

pub mod asap;
pub mod clustered;
pub mod cuckoo;
pub mod design;
pub mod flattened;
pub mod hashed;
pub mod htab;
pub mod inverted;
pub mod radix;

pub use clustered::Clustered;
pub use cuckoo::Cuckoo;
pub use design::{with_design, DesignConfig, DesignVisitor, PageTableConfig};
pub use htab::Htab;
pub use inverted::Inverted;
pub use radix::Radix;

use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::os::frames::FrameAllocator;
use crate::SimError;

/// A mapping a design dropped to make room (PowerPC's hashed table does when both of a
/// page's groups are full). The page stays in memory; its translation must leave the
/// TLBs, and touching it again faults and [`Mappable::restore`]s it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evicted {
    /// Address space the dropped translation belongs to (a global table holds all).
    pub asid: u16,
    pub vaddr: VirtAddr,
    pub size: PageSize,
}

/// What a `map` or `restore` did besides mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MapOutcome {
    pub evicted: Option<Evicted>,
    /// The map replaced an emptied table by a huge page and freed the table: walk
    /// caches that name it must be flushed.
    pub freed_tables: bool,
}

/// A table placed in physical memory: a run of bytes backed by 2 MiB blocks from the
/// frame allocator. A real kernel allocates hash tables physically contiguous; blocks are
/// enough here because every simulated cache indexes sets with bits below 2 MiB, so the
/// cache behaviour of table reads is the same.
#[derive(Clone, Debug)]
pub struct PhysArray {
    blocks: Vec<u64>,
    bytes: u64,
}

impl PhysArray {
    /// Reserve `bytes` (rounded up to 2 MiB blocks).
    pub fn new(bytes: u64, frames: &mut FrameAllocator) -> Result<PhysArray, SimError> {
        let n = bytes.div_ceil(2 << 20).max(1);
        let blocks = (0..n)
            .map(|_| frames.alloc(PageSize::Size2M))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PhysArray { blocks, bytes })
    }
    /// Physical address of byte `offset` of the table.
    #[inline(always)]
    pub fn addr(&self, offset: u64) -> u64 {
        self.blocks[(offset >> 21) as usize] + (offset & ((2 << 20) - 1))
    }
    /// Bytes asked for.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A resolved translation: the frame's physical address and the page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub frame: PhysAddr,
    pub size: PageSize,
}

/// No table below this step (a leaf or a not-present entry).
pub const NO_NODE: u32 = u32::MAX;

/// One page-table read of a walk (one cache line).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// Table level read (radix: 1 = leaf PTE level, up to the root's level; hashed
    /// designs: 0).
    pub level: u8,
    /// Physical address of the entry read.
    pub pte_addr: PhysAddr,
    /// The table this entry points to, for walk caches; `NO_NODE` if none.
    pub next: u32,
    /// Reads of one group are issued together and cost the slowest of them; groups
    /// follow one another. Consecutive steps with equal `group` form a group (radix: each
    /// read its own group; cuckoo: all ways of a probe in one).
    pub group: u8,
}

/// One index a hashed design computes from a virtual address, for the teaching view
/// (`mmusim explain`): which bucket, group, line or slot the walk reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexPart {
    /// What the number selects ("HAT anchor", "primary group", "way 1 slot").
    pub name: String,
    /// How it is computed, in words.
    pub how: String,
    pub value: u64,
    /// How many there are (the index is below this).
    pub of: u64,
    /// Physical address of what it selects.
    pub paddr: PhysAddr,
}

/// Where a walk may start: at the root, or below a walk-cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStart {
    pub level: u8,
    pub node: u32,
}

/// A page-table design: the three views of one table its clients use, each a trait of
/// its own. Every method names the address space (`asid`): a design may keep one table
/// per address space (radix) or one for all of them (inverted and hashed tables, which
/// set [`Mappable::SHARED`]). Implemented for every type that has all three views; code
/// generic over the design asks for `PT: PageTable`.
pub trait PageTable: Walkable + Mappable + Teachable {}

impl<T: Walkable + Mappable + Teachable> PageTable for T {}

/// What the hardware walker needs of a table: the timed walk and what shortens or speeds
/// it (levels for the walk caches, a design's own walk cache, host prefetching).
pub trait Walkable {
    /// Levels of the design (the root's level; a walk from the root reads at most this many
    /// entries for a 4K page in a radix tree).
    /// Designs without levels (hashed tables) keep the default, 0.
    fn levels(&self) -> usize {
        0
    }
    /// Shift of the virtual-address bits that index the table at `level`: the entry at
    /// `level` is selected by `vaddr >> level_shift(level)` (masked); it also names the
    /// prefix a walk cache of that level tags its entries with.
    /// Only radix designs, whose walks walk caches can shorten, use it.
    fn level_shift(&self, _level: usize) -> u32 {
        0
    }
    /// Whether the walker's paging-structure caches apply (radix designs only).
    fn has_levels(&self) -> bool {
        false
    }
    /// The table as a plain radix table (no ASAP) the walker may read straight, level
    /// by level (`walker/straight.rs`), instead of collecting [`Walkable::walk`]'s
    /// steps; `None` (the default) for every other design.
    #[inline(always)]
    fn as_radix(&self) -> Option<&Radix> {
        None
    }
    /// Whether ASAP's hardware (`page_table.asap`) prefetched `step` of the walk of
    /// `vaddr` at the walk's start: its address is computable from range registers and
    /// the entry read is the predicted one. Designs without ASAP keep the default.
    #[inline(always)]
    fn asap_predicted(&self, _asid: u16, _vaddr: VirtAddr, _step: &WalkStep) -> bool {
        false
    }
    /// The reads a hardware walk of `vaddr` issues, appended to `steps` (cleared by the
    /// caller), starting at `start` or at the root. Returns the translation, or `None`
    /// when the walk ends at a not-present entry (a page fault).
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation>;
    /// Cycles of a design's own walk cache (the cuckoo walk cache), charged once per walk
    /// on top of the reads and counted with the walker's walk-cache cycles; 0 if none.
    fn walk_cache_cycles(&self) -> u64 {
        0
    }
    /// Hint that `vaddr` will soon be walked: bring the host memory holding its entries
    /// closer. Changes nothing the simulation can see; a speed measure only (a large
    /// footprint's tables do not fit the host's caches). Returns a hint for
    /// [`Walkable::leaf_lines_hinted`] a few accesses later (0: none).
    #[inline(always)]
    fn prefetch(&self, _asid: u16, _vaddr: VirtAddr) -> u64 {
        0
    }
    /// Physical addresses of the leaf entry a walk of `vaddr` reads last and of the data
    /// itself, if `vaddr` is mapped. No timing and no state change: used to prefetch the
    /// simulated cache sets those lines will probe.
    #[inline(always)]
    fn leaf_lines(&self, _asid: u16, _vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        None
    }
    /// [`Walkable::leaf_lines`] given what [`Walkable::prefetch`] returned for `vaddr`
    /// (radix: the leaf table, so the upper levels are not followed twice). A stale hint
    /// (the table changed since) may give wrong lines, never a failure: they only steer
    /// host prefetches.
    #[inline(always)]
    fn leaf_lines_hinted(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        _hint: u64,
    ) -> Option<(PhysAddr, PhysAddr)> {
        self.leaf_lines(asid, vaddr)
    }
}

/// What the OS model needs of a table: the functional map (map, unmap, restore,
/// translate, list), one table per address space or one for all, and what it costs.
///
/// Virtual addresses cross this interface as [`VirtAddr`], frames as [`PhysAddr`]:
///
/// ```
/// use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
/// use mmusim::config::FrameAlloc;
/// use mmusim::os::frames::FrameAllocator;
/// use mmusim::pagetable::{Mappable, Radix};
///
/// let mut frames = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 1);
/// let mut t = Radix::new(&[9, 9, 9, 9], &mut frames).unwrap();
/// let (page, frame) = (VirtAddr(0x7000), PhysAddr(0x4_2000));
/// t.map(1, page, PageSize::Size4K, frame, &mut frames).unwrap();
/// assert_eq!(t.translate(1, page + 0x123).unwrap().frame, frame);
/// ```
///
/// so a frame passed where a page is meant does not compile:
///
/// ```compile_fail
/// use mmusim::addr::{PageSize, PhysAddr, VirtAddr};
/// use mmusim::config::FrameAlloc;
/// use mmusim::os::frames::FrameAllocator;
/// use mmusim::pagetable::{Mappable, Radix};
///
/// let mut frames = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 1);
/// let mut t = Radix::new(&[9, 9, 9, 9], &mut frames).unwrap();
/// let (page, frame) = (VirtAddr(0x7000), PhysAddr(0x4_2000));
/// // Page and frame swapped: expected `VirtAddr`, found `PhysAddr`.
/// t.map(1, frame, PageSize::Size4K, page, &mut frames).unwrap();
/// ```
pub trait Mappable {
    /// One instance serves every address space (the simulator then builds one table
    /// for all cores instead of one per core).
    const SHARED: bool = false;
    /// One frame may be mapped at several pages (of one or several address spaces).
    /// An inverted table keeps one entry per frame, so it cannot: a forked child then
    /// holds its frames without mapping them (and cannot run).
    const ALIASES: bool = true;
    /// The mapping of `vaddr`, if present (no timing: the OS's and the tests' view).
    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation>;
    /// Map the page of `size` holding `vaddr` to `frame`, allocating tables as needed.
    fn map(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError>;
    /// Remove the mapping of `vaddr`; returns what it was.
    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation>;
    /// Put back a mapping the design evicted earlier (its frame is still the page's), if
    /// `vaddr` is such a page: `Some` when it did. Designs that never evict: `None`.
    fn restore(
        &mut self,
        _asid: u16,
        _vaddr: VirtAddr,
        _frames: &mut FrameAllocator,
    ) -> Result<Option<MapOutcome>, SimError> {
        Ok(None)
    }
    /// Every mapping of `asid` as (page base, frame, size), for designs that can list
    /// them cheaply (radix); `None` otherwise.
    fn mappings(&self, _asid: u16) -> Option<Vec<(VirtAddr, PhysAddr, PageSize)>> {
        None
    }
    /// A new, empty table of the same geometry for another address space (a forked
    /// child's), for designs with one table per address space. Designs with one table
    /// for all ([`Mappable::SHARED`]) are never asked.
    fn new_space(&self, _frames: &mut FrameAllocator) -> Result<Self, SimError>
    where
        Self: Sized,
    {
        Err(SimError(
            "internal: a shared page table makes no table per address space".into(),
        ))
    }
    /// Gives every frame of the table back (its address space exited; its mappings are
    /// gone already). Designs with one table for all keep theirs.
    fn release_space(&mut self, _frames: &mut FrameAllocator) -> Result<(), SimError> {
        Ok(())
    }
    /// Bytes of physical memory the tables occupy.
    fn table_bytes(&self) -> u64;
    /// Design-specific counters (load factor, chain lengths, evictions, rehash work...),
    /// reported under `stats.page_tables`.
    fn stats(&self) -> serde_json::Value {
        serde_json::Value::Null
    }
}

/// The teaching view (`mmusim explain`): how an address selects entries, and where the
/// tables a walk step names sit. Never on a simulation path.
pub trait Teachable {
    /// How `vaddr`, as a page of `size`, selects entries: the hash indices of a hashed
    /// design. Radix tables index by address bits, which the caller shows from the
    /// config; they return none.
    fn index_parts(&self, _asid: u16, _vaddr: VirtAddr, _size: PageSize) -> Vec<IndexPart> {
        Vec::new()
    }
    /// Physical address of radix table `node` (what a walk step's `next` or a walk-cache
    /// entry points to); `None` for designs without levels.
    fn node_paddr(&self, _node: u32) -> Option<PhysAddr> {
        None
    }
}

/// Ask the host CPU to fetch the cache line holding `p` (no effect on other targets).
#[inline(always)]
pub(crate) fn prefetch_host<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
