//! Page-table designs behind one interface.
//!
//! Owns the in-memory structure that maps virtual pages to frames, with every table at a
//! real physical address so that a walk's PTE reads have real cache-line addresses.
//! In: `map`/`unmap` from the OS model; `walk` from the hardware walker. Out: the PTE
//! reads a real walker issues (as [`WalkStep`]s, each with the physical address it
//! reads) and how the walk ended.
//!
//! Designs implement [`PageTable`]; the simulator is generic over it, so the design is
//! chosen once per run and the walk path is monomorphic.

pub mod radix;

pub use radix::Radix;

use crate::addr::PageSize;
use crate::os::frames::FrameAllocator;
use crate::SimError;

/// A resolved translation: the frame's physical address and the page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    pub frame: u64,
    pub size: PageSize,
}

/// No table below this step (a leaf or a not-present entry).
pub const NO_NODE: u32 = u32::MAX;

/// One PTE read of a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStep {
    /// Table level read (radix: 1 = leaf PTE level, up to the root's level).
    pub level: u8,
    /// Physical address of the entry read.
    pub pte_addr: u64,
    /// The table this entry points to, for walk caches; `NO_NODE` if none.
    pub next: u32,
}

/// Where a walk may start: at the root, or below a walk-cache hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkStart {
    pub level: u8,
    pub node: u32,
}

/// A page-table design.
pub trait PageTable {
    /// Levels of the design (the root's level; a walk from the root reads at most this many
    /// entries for a 4K page in a radix tree).
    fn levels(&self) -> usize;
    /// Shift of the virtual-address bits that index the table at `level`: the entry at
    /// `level` is selected by `vaddr >> level_shift(level)` (masked); it also names the
    /// prefix a walk cache of that level tags its entries with.
    fn level_shift(&self, level: usize) -> u32;
    /// The mapping of `vaddr`, if present (no timing: the OS's and the tests' view).
    fn translate(&self, vaddr: u64) -> Option<Translation>;
    /// Map the page of `size` holding `vaddr` to `frame`, allocating tables as needed.
    fn map(
        &mut self,
        vaddr: u64,
        size: PageSize,
        frame: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), SimError>;
    /// Remove the mapping of `vaddr`; returns what it was.
    fn unmap(&mut self, vaddr: u64) -> Option<Translation>;
    /// The reads a hardware walk of `vaddr` issues, appended to `steps` (cleared by the
    /// caller), starting at `start` or at the root. Returns the translation, or `None`
    /// when the walk ends at a not-present entry (a page fault).
    fn walk(
        &self,
        vaddr: u64,
        start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation>;
    /// Bytes of physical memory the tables occupy.
    fn table_bytes(&self) -> u64;
    /// Hint that `vaddr` will soon be walked: bring the host memory holding its entries
    /// closer. Changes nothing the simulation can see; a speed measure only (a large
    /// footprint's tables do not fit the host's caches).
    #[inline(always)]
    fn prefetch(&self, _vaddr: u64) {}
    /// Physical addresses of the leaf entry a walk of `vaddr` reads last and of the data
    /// itself, if `vaddr` is mapped. No timing and no state change: used to prefetch the
    /// simulated cache sets those lines will probe.
    #[inline(always)]
    fn leaf_lines(&self, _vaddr: u64) -> Option<(u64, u64)> {
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
