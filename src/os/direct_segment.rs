//! Direct segments (Basu, Gandhi, Chang, Hill and Swift, "Efficient Virtual Memory for
//! Big Memory Servers", ISCA 2013): the OS side.
//!
//! Owns each process's primary region: its physically contiguous backing and its
//! BASE/LIMIT/OFFSET registers ([`Segment`]). In: `os.direct_segment` and a process's
//! table at its start; workload events and forks of a process that has one. Out: the
//! [`Segment`] the engine loads into a core's registers when it runs the process; the
//! events the region refuses, as errors naming the key.
//!
//! How the region is made: the paper's OS reserves the primary region's memory when the
//! process starts (its prototype sets the segment up at startup, before the workload
//! allocates); here [`Os::make_direct_segment`] takes one run of contiguous free frames
//! from the buddy allocator, at the lowest address that has one, right after the
//! process's table is built. Fragmentation (`os.fragmentation`) or memory in use may
//! leave no run long enough: the run is then refused with an error naming
//! `os.direct_segment.len`.
//!
//! The region's pages are also mapped in the page table, at the base page size, to the
//! frames the segment maps them to (va -> va + OFFSET). The hardware never reads those
//! entries for an address inside the segment; they keep every OS view (`translate`,
//! the fork log, `explain`, the test builds' check of each translation) the same as the
//! registers'. Whether the paper's prototype kept such entries was not checked against
//! its text here: a modelling choice, not a citation. Their cost is page-table memory,
//! reported as such.
//!
//! What the region forbids: it is never unmapped, protected, migrated or copied on
//! write (the paper's primary region has uniform read-write rights and is not paged);
//! an event that would do so is refused. An `mmap` over it is the workload allocating
//! its heap in the primary region: the memory there is mapped already, so only the
//! part of the range outside the region is mapped (and populated) as usual.

use super::Os;
use crate::addr::{PhysAddr, VirtAddr};
use crate::config::DirectSegmentConfig;
use crate::pagetable::PageTable;
use crate::workload::{EventKind, OsEvent};
use crate::SimError;

/// A core's direct-segment registers: virtual [base, limit) maps to va + offset
/// (wrapping: the offset may be "negative"). [`Segment::NONE`] matches no address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    pub base: u64,
    pub limit: u64,
    pub offset: u64,
}

impl Segment {
    /// No segment: base = limit, an empty range.
    pub const NONE: Segment = Segment {
        base: 0,
        limit: 0,
        offset: 0,
    };

    /// Whether `va` lies in [base, limit): one subtraction and one compare, as the
    /// paper's two comparators do.
    #[inline(always)]
    pub fn contains(&self, va: u64) -> bool {
        va.wrapping_sub(self.base) < self.limit - self.base
    }

    /// The physical address of `va` (inside the segment).
    #[inline(always)]
    pub fn translate(&self, va: u64) -> u64 {
        va.wrapping_add(self.offset)
    }

    pub fn bytes(&self) -> u64 {
        self.limit - self.base
    }
}

impl Os {
    /// Process `asid`'s primary region at its start: contiguous frames for the whole
    /// region, its pages mapped in `pt` (base page size, to va + offset), and the
    /// registers to load. Refused with the key when no free run is long enough.
    pub fn make_direct_segment<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        cfg: &DirectSegmentConfig,
    ) -> Result<Segment, SimError> {
        let len = cfg.len.0;
        let pa = self.frames.alloc_contiguous(len).ok_or_else(|| {
            let f = self.frames.fragmentation();
            SimError(format!(
                "os.direct_segment.len: no {} of physically contiguous free memory for process {asid}'s direct segment ({} MiB free of {} MiB, {} frames pinned by os.fragmentation); shorten the segment, lower os.fragmentation or raise os.phys_mem",
                cfg.len,
                f.free_bytes >> 20,
                self.frames.total_bytes() >> 20,
                self.pinned_frames
            ))
        })?;
        let seg = Segment {
            base: cfg.start,
            limit: cfg.start + len,
            offset: pa.wrapping_sub(cfg.start),
        };
        let size = self.page_size;
        let mut va = seg.base;
        while va < seg.limit {
            let frame = seg.translate(va);
            // A design that evicts (HTAB) may drop one of these entries later, or now
            // to make room: harmless, the registers translate the region.
            pt.map(asid, VirtAddr(va), size, PhysAddr(frame), &mut self.frames)?;
            self.log_map(asid, va, frame, size);
            self.note_mapped(asid, va, size);
            va += size.bytes();
        }
        self.segments.push((asid, seg));
        Ok(seg)
    }

    /// Process `asid`'s segment, if it has one.
    pub fn direct_segment(&self, asid: u16) -> Option<Segment> {
        (self.segments.iter())
            .find(|(a, _)| *a == asid)
            .map(|&(_, s)| s)
    }

    /// Refuses a workload event that would change `asid`'s primary region (munmap,
    /// mprotect, migrate over it), naming the key; advice and `mmap` go on (an `mmap`
    /// maps only what lies outside the region, see [`Os::outside_segment`]).
    pub(super) fn segment_event(&self, asid: u16, ev: &OsEvent) -> Result<(), SimError> {
        let Some(seg) = self.direct_segment(asid) else {
            return Ok(());
        };
        let overlaps = ev.start < seg.limit && ev.end > seg.base;
        if !overlaps || matches!(ev.kind, EventKind::Madvise | EventKind::Mmap) {
            return Ok(());
        }
        Err(self.segment_refusal(ev.kind.name(), seg))
    }

    /// [start, end) less `asid`'s primary region: the pieces below and above it (empty
    /// ones have start >= end); without a segment, the range itself.
    pub(super) fn outside_segment(&self, asid: u16, start: u64, end: u64) -> [(u64, u64); 2] {
        match self.direct_segment(asid) {
            Some(s) if start < s.limit && end > s.base => [
                (start, s.base.clamp(start, end)),
                (s.limit.clamp(start, end), end),
            ],
            _ => [(start, end), (end, end)],
        }
    }

    /// A fork of a process with a segment: refused (copy-on-write would move pages the
    /// registers still map to the old frames).
    pub(super) fn segment_fork(&self, parent: u16) -> Result<(), SimError> {
        match self.direct_segment(parent) {
            Some(seg) => Err(self.segment_refusal("fork", seg)),
            None => Ok(()),
        }
    }

    fn segment_refusal(&self, what: &str, seg: Segment) -> SimError {
        SimError(format!(
            "os.direct_segment: a {what} event touches the direct segment [{:#x}, {:#x}); its primary region is never unmapped, protected, migrated or copied on write (an mmap over it maps only what lies outside)",
            seg.base, seg.limit
        ))
    }

    /// The segment of `asid` ends with its process.
    pub(super) fn drop_segment(&mut self, asid: u16) {
        self.segments.retain(|(a, _)| *a != asid);
    }
}
