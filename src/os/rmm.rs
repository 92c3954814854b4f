//! Redundant Memory Mappings (Karakostas, Gandhi, Ayar, Cristal, Hill, McKinley,
//! Nemirovsky, Swift and Ünsal, "Redundant Memory Mappings for Fast Access to Large
//! Memories", ISCA 2015): the OS side, eager paging and the per-process range table.
//!
//! Owns each process's range table ([`RangeTable`]: the ranges, and the B-tree nodes
//! that hold them in frames of simulated memory), the mappings (VMAs) eager paging
//! allocates whole, and which eagerly allocated pages were ever touched. In: a first
//! fault in a mapping (`Os::fault`), the workload's heap at start
//! ([`Os::rmm_heap`]), unmaps and exits, touches reported by the core's miss path.
//! Out: the pages mapped (4K, every page of the mapping), the range table the core's
//! range walker reads ([`Os::range_walk`]), refusals of the events it does not model,
//! and its figures ([`RmmReport`]).
//!
//! **Eager paging.** The paper's OS allocates a mapping's memory when the program
//! reserves it (mmap/brk). Here it is done at the first fault inside the mapping, as
//! Virtuoso does (`eager_paging_exception_handler.cc`, `allocate_vma_eagerly`): a trace
//! or a generator has no reservation call, only touches, and the first touch is the
//! earliest point the simulated OS learns of the mapping. The fault maps every page of
//! the mapping not mapped yet, taking for each unmapped stretch the largest
//! power-of-two block of the buddy allocator that is no longer than what remains (at
//! most 1 GiB, the allocator's top order), stepping down an order when none is free
//! (the paper: "largest blocks first"; Virtuoso `eager_paging.h`). Each block's pages
//! are mapped as 4K pages at consecutive frames and become one range; a block that
//! continues the previous one both virtually and physically extends it. The buddy
//! allocator hands out a smaller block below the larger one it split (its lower half
//! first), so on unfragmented memory blocks of one stretch do not touch physically and
//! a stretch of N pages gives one range per set bit of N. `os.fragmentation` pins
//! frames in 2 MiB blocks, so fewer large blocks exist and ranges shrink and multiply.
//! The fault costs `minor_fault_cycles` plus `zero_4k_cycles` per further page (the
//! zeroing the demand faults would have spread out is done at once).
//!
//! The mapping of a fault: the `mmap` event's range that holds it, else the workload's
//! heap ([`Os::rmm_heap`]: the generator's [base, base + footprint)), else none: a
//! fault outside every known mapping (a trace's addresses) is demand paged as before
//! and makes no range.
//!
//! **The range table.** A B-tree per process keyed by range base (the paper: a B-tree
//! of (BASE, LIMIT) -> (OFFSET, protection), root in register CR-RT). Node layout (a
//! modelling choice fitted to the paper's "up to 128 range mappings in a 4KB page", a
//! figure from a summary of the paper, not checked against its text): one 4 KiB frame
//! per node, 128 slots of 32 bytes (BASE, LIMIT, OFFSET, protection: 8 bytes each), so
//! two slots per 64-byte line. A leaf slot is a range; an inner slot is the smallest
//! base of a child and the child's frame. The tree is kept packed (leaves full from the
//! left, a bulk-loaded B+-tree) and rebuilt when its ranges change, which happens only
//! at eager faults, unmaps and exits. Node frames come from the frame allocator and are
//! counted as page-table-like memory (`table_bytes`).
//!
//! **A range walk** for `va` reads, in each node from the root down, the lines a binary
//! search over the node's keys reads (lo = 0, hi = n; mid = (lo + hi) / 2; key[mid] <=
//! va: lo = mid + 1, else hi = mid; the candidate slot is lo - 1, which the search
//! read), each line of a node once; it returns the range that covers `va`, if any.
//!
//! **What it refuses** (errors naming `os.rmm`): `mprotect` and `migrate` over a range
//! and a fork of a process with ranges (the range table would have to split ranges by
//! rights or copy-on-write state; not modelled). An `munmap` over ranges trims and
//! splits them (the page invalidations drop every range-TLB entry that covered a page).

use super::{Effects, Os, OsStats};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::pagetable::{MapOutcome, PageTable};
use crate::SimError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Bytes of one range-table slot: BASE, LIMIT, OFFSET and protection, 8 bytes each.
pub const SLOT_BYTES: u64 = 32;
/// Slots of one 4 KiB node: 4096 / 32 = 128 ("up to 128 range mappings in a 4KB page").
pub const NODE_SLOTS: usize = 128;
/// Bytes of a cache line: what one read of the range walker brings in.
const LINE: u64 = 64;
/// Top order of the buddy allocator: 1 GiB blocks.
const TOP_ORDER: u32 = 18;

/// Virtual [base, limit) mapped to physical va + offset (wrapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Range {
    pub base: u64,
    pub limit: u64,
    pub offset: u64,
}

impl Range {
    /// 4 KiB pages it covers.
    pub fn pages(&self) -> u64 {
        (self.limit - self.base) >> 12
    }
}

/// One node of the B-tree: its frame, the key (smallest base) of each used slot, and
/// the index of its first child (inner) or first range (leaf) in the level below.
struct Node {
    frame: u64,
    keys: Vec<u64>,
    first: usize,
}

/// One process's ranges (sorted by base, disjoint) and the B-tree that holds them.
#[derive(Default)]
pub struct RangeTable {
    ranges: Vec<Range>,
    /// `levels[0]` are the leaves, the last level is the root alone (empty: no ranges).
    levels: Vec<Vec<Node>>,
}

impl RangeTable {
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
    }

    /// Levels of the B-tree (0: empty).
    pub fn height(&self) -> usize {
        self.levels.len()
    }

    /// Nodes of the B-tree (each one 4 KiB frame).
    pub fn nodes(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Adds `r` (disjoint from every range), joining the ranges just below and above it
    /// when they continue it virtually and physically (equal offsets, touching).
    fn add(&mut self, mut r: Range) {
        let i = self.ranges.partition_point(|x| x.base < r.base);
        if i < self.ranges.len() {
            let n = self.ranges[i];
            if n.base == r.limit && n.offset == r.offset {
                r.limit = n.limit;
                self.ranges.remove(i);
            }
        }
        if i > 0 {
            let p = &mut self.ranges[i - 1];
            if p.limit == r.base && p.offset == r.offset {
                p.limit = r.limit;
                return;
            }
        }
        self.ranges.insert(i, r);
    }

    /// Removes [start, end) from every range (cutting or splitting those that overlap);
    /// true if any changed.
    fn remove(&mut self, start: u64, end: u64) -> bool {
        let mut changed = false;
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &r in &self.ranges {
            if r.limit <= start || r.base >= end {
                out.push(r);
                continue;
            }
            changed = true;
            if r.base < start {
                out.push(Range { limit: start, ..r });
            }
            if r.limit > end {
                out.push(Range { base: end, ..r });
            }
        }
        self.ranges = out;
        changed
    }

    /// Whether any range overlaps [start, end).
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        let i = self.ranges.partition_point(|x| x.limit <= start);
        self.ranges.get(i).is_some_and(|r| r.base < end)
    }

    /// Lays the ranges out in packed nodes again, taking frames from `old` first and
    /// then from `alloc`; returns the frames no longer used.
    fn rebuild(
        &mut self,
        mut alloc: impl FnMut() -> Result<u64, SimError>,
    ) -> Result<Vec<u64>, SimError> {
        let mut old: Vec<u64> = (self.levels.iter().flatten()).map(|n| n.frame).collect();
        old.reverse();
        self.levels.clear();
        let mut keys: Vec<u64> = self.ranges.iter().map(|r| r.base).collect();
        while !keys.is_empty() {
            let mut level = Vec::with_capacity(keys.len().div_ceil(NODE_SLOTS));
            for (i, chunk) in keys.chunks(NODE_SLOTS).enumerate() {
                let frame = match old.pop() {
                    Some(f) => f,
                    None => alloc()?,
                };
                level.push(Node {
                    frame,
                    keys: chunk.to_vec(),
                    first: i * NODE_SLOTS,
                });
            }
            let done = level.len() == 1;
            keys = level.iter().map(|n| n.keys[0]).collect();
            self.levels.push(level);
            if done {
                break;
            }
        }
        Ok(old)
    }

    /// The range covering `va`, calling `read` with the physical address of each line
    /// the walk reads (root to leaf; within a node, the lines of the slots a binary
    /// search probes, each once). Allocates nothing.
    pub fn walk(&self, va: u64, mut read: impl FnMut(u64)) -> Option<Range> {
        let top = self.levels.len().checked_sub(1)?;
        let mut idx = 0usize;
        for l in (0..=top).rev() {
            let node = &self.levels[l][idx];
            let (mut lo, mut hi) = (0usize, node.keys.len());
            // 64 lines per 4 KiB node: one bit each.
            let mut seen = 0u64;
            while lo < hi {
                let mid = (lo + hi) / 2;
                let line = mid as u64 * SLOT_BYTES / LINE;
                if seen & (1 << line) == 0 {
                    seen |= 1 << line;
                    read(node.frame + line * LINE);
                }
                if node.keys[mid] <= va {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            if lo == 0 {
                return None;
            }
            idx = node.first + lo - 1;
        }
        let r = self.ranges[idx];
        (va < r.limit).then_some(r)
    }
}

/// One eager allocation: its pages and which of them an access ever reached.
struct Eager {
    pages: u64,
    touched: Vec<u64>,
}

/// The OS's RMM state (present when `[os.rmm]` is).
#[derive(Default)]
pub(super) struct Rmm {
    tables: HashMap<u16, RangeTable>,
    heaps: HashMap<u16, (u64, u64)>,
    /// Eager allocations by (address space, first virtual address).
    eager: BTreeMap<(u16, u64), Eager>,
    /// Eager faults and the blocks they took from the buddy allocator.
    faults: u64,
    blocks: u64,
}

/// What RMM's OS side made, at the end of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RmmReport {
    /// Ranges in the range tables now, their mean and largest size in 4 KiB pages.
    pub ranges: u64,
    pub mean_range_pages: f64,
    pub max_range_pages: u64,
    /// Pages the ranges cover.
    pub range_pages: u64,
    /// range_pages as a share of the memory mapped now (set by the run's statistics).
    pub coverage: f64,
    /// First faults in a mapping that allocated it whole, and the buddy blocks taken.
    pub eager_faults: u64,
    pub eager_blocks: u64,
    /// Pages eager paging mapped, and of those the ones no access ever reached (its
    /// memory overhead over demand paging).
    pub eager_pages: u64,
    pub untouched_pages: u64,
    /// B-tree nodes (4 KiB frames each) and their bytes; the deepest tree's levels.
    pub table_nodes: u64,
    pub table_bytes: u64,
    pub table_height: u64,
}

impl Rmm {
    fn report(&self) -> RmmReport {
        let all = || self.tables.values().flat_map(|t| t.ranges.iter());
        let ranges = all().count() as u64;
        let range_pages: u64 = all().map(Range::pages).sum();
        let nodes: u64 = self.tables.values().map(|t| t.nodes() as u64).sum();
        let eager_pages: u64 = self.eager.values().map(|e| e.pages).sum();
        let touched: u64 = (self.eager.values())
            .map(|e| e.touched.iter().map(|w| w.count_ones() as u64).sum::<u64>())
            .sum();
        RmmReport {
            ranges,
            mean_range_pages: if ranges == 0 {
                0.0
            } else {
                range_pages as f64 / ranges as f64
            },
            max_range_pages: all().map(Range::pages).max().unwrap_or(0),
            range_pages,
            coverage: 0.0,
            eager_faults: self.faults,
            eager_blocks: self.blocks,
            eager_pages,
            untouched_pages: eager_pages - touched,
            table_nodes: nodes,
            table_bytes: nodes * 4096,
            table_height: (self.tables.values().map(|t| t.height() as u64))
                .max()
                .unwrap_or(0),
        }
    }
}

impl Os {
    /// Whether eager paging and range tables are on (`[os.rmm]`).
    pub fn rmm_on(&self) -> bool {
        self.rmm.is_some()
    }

    /// The workload's heap of `asid`, [start, end): the mapping a first fault outside
    /// every `mmap` event's range allocates whole.
    pub fn rmm_heap(&mut self, asid: u16, start: u64, end: u64) {
        if let Some(r) = &mut self.rmm {
            if start < end {
                r.heaps.insert(asid, (start, end));
            }
        }
    }

    /// `asid`'s range table (none before its first eager fault).
    pub fn range_table(&self, asid: u16) -> Option<&RangeTable> {
        self.rmm.as_ref()?.tables.get(&asid)
    }

    /// The range walk of `va` in `asid`'s table, `read` called per line read.
    #[inline(always)]
    pub fn range_walk(&self, asid: u16, va: u64, read: impl FnMut(u64)) -> Option<Range> {
        self.range_table(asid)?.walk(va, read)
    }

    /// An access reached page `va` of `asid` (its translation entered a TLB): for the
    /// overhead of eager paging (pages mapped, never touched). No allocation.
    pub fn rmm_touch(&mut self, asid: u16, va: u64) {
        let Some(r) = &mut self.rmm else { return };
        if let Some((&(a, start), e)) = r.eager.range_mut(..=(asid, va)).next_back() {
            let i = (va - start) >> 12;
            if a == asid && i < e.pages {
                e.touched[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
    }

    /// The mapping holding `vaddr` of `asid` that eager paging allocates, if any.
    pub(super) fn eager_mapping(&self, asid: u16, vaddr: u64) -> Option<(u64, u64)> {
        let r = self.rmm.as_ref()?;
        let vma = (self.vma.vmas.get(&asid))
            .and_then(|m| m.iter().find(|&(s, e, _)| s <= vaddr && vaddr < e))
            .map(|(s, e, _)| (s, e));
        vma.or_else(|| (r.heaps.get(&asid).copied()).filter(|&(s, e)| s <= vaddr && vaddr < e))
    }

    /// The first fault in mapping [start, end) of `asid`: every unmapped page of it
    /// mapped at once, each buddy block a range. Returns what the maps did and the
    /// fault's cycles.
    pub(super) fn eager_fault<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        (start, end): (u64, u64),
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(MapOutcome, u64), SimError> {
        let mut table =
            (self.rmm.as_mut().expect("rmm on").tables.remove(&asid)).unwrap_or_default();
        let mut outcome = MapOutcome::default();
        let (mut pages, mut blocks) = (0u64, 0u64);
        let mut va = start;
        while va < end {
            if pt.translate(asid, VirtAddr(va)).is_some() {
                va += 4096;
                continue;
            }
            let stretch_start = va;
            while va < end && pt.translate(asid, VirtAddr(va)).is_none() {
                va += 4096;
            }
            let n = (va - stretch_start) >> 12;
            let mut at = stretch_start;
            let mut left = n;
            while left > 0 {
                let (pa, order) = self.eager_block(left)?;
                let len = 1u64 << order;
                for i in 0..len {
                    let (v, f) = (at + (i << 12), pa + (i << 12));
                    let o = pt.map(
                        asid,
                        VirtAddr(v),
                        PageSize::Size4K,
                        PhysAddr(f),
                        &mut self.frames,
                    )?;
                    fx.evicted(&o, stats);
                    outcome.freed_tables |= o.freed_tables;
                    self.log_map(asid, v, f, PageSize::Size4K);
                    self.note_mapped(asid, v, PageSize::Size4K);
                }
                table.add(Range {
                    base: at,
                    limit: at + (len << 12),
                    offset: pa.wrapping_sub(at),
                });
                at += len << 12;
                left -= len;
                blocks += 1;
            }
            self.rmm.as_mut().expect("rmm on").eager.insert(
                (asid, stretch_start),
                Eager {
                    pages: n,
                    touched: vec![0; n.div_ceil(64) as usize],
                },
            );
            pages += n;
        }
        let freed = table.rebuild(|| self.frames.alloc(PageSize::Size4K))?;
        for f in freed {
            self.frames.free(f, PageSize::Size4K)?;
        }
        let r = self.rmm.as_mut().expect("rmm on");
        r.tables.insert(asid, table);
        r.faults += 1;
        r.blocks += blocks;
        stats.mapped_bytes += (pages << 12) as i64;
        let cycles = self.costs.minor_fault + pages.saturating_sub(1) * self.costs.zero_4k;
        Ok((outcome, cycles))
    }

    /// The largest free block of at most `pages` pages (and 1 GiB), split into 4 KiB
    /// frames so that an unmap can free them one by one: (physical address, order).
    fn eager_block(&mut self, pages: u64) -> Result<(u64, u32), SimError> {
        let mut order = (63 - pages.leading_zeros()).min(TOP_ORDER);
        loop {
            if let Some(pa) = self.frames.alloc_block(order) {
                return Ok((pa, order));
            }
            if order == 0 {
                return Err(SimError(format!(
                    "os.rmm: physical memory exhausted eagerly allocating a mapping ({} MiB free); raise os.phys_mem",
                    self.frames.free_bytes() >> 20
                )));
            }
            order -= 1;
        }
    }

    /// After an unmap of [start, end) of `asid`: its ranges there go (trimmed or
    /// split) and the table is laid out again.
    pub(super) fn rmm_unmapped(&mut self, asid: u16, start: u64, end: u64) -> Result<(), SimError> {
        let Some(r) = &mut self.rmm else {
            return Ok(());
        };
        let Some(mut t) = r.tables.remove(&asid) else {
            return Ok(());
        };
        if t.remove(start, end) {
            for f in t.rebuild(|| self.frames.alloc(PageSize::Size4K))? {
                self.frames.free(f, PageSize::Size4K)?;
            }
        }
        let r = self.rmm.as_mut().expect("rmm on");
        if t.ranges.is_empty() {
            // No range left: no node either (the rebuild freed them all).
            return Ok(());
        }
        r.tables.insert(asid, t);
        Ok(())
    }

    /// Refuses `what` (mprotect, migrate) over [start, end) when it touches a range.
    pub(super) fn rmm_event(
        &self,
        asid: u16,
        what: &str,
        start: u64,
        end: u64,
    ) -> Result<(), SimError> {
        match self.range_table(asid) {
            Some(t) if t.overlaps(start, end) => Err(SimError(format!(
                "os.rmm: a {what} event over [{start:#x}, {end:#x}) touches a range of the range table; splitting ranges by rights or moving their pages is not modelled (munmap is)"
            ))),
            _ => Ok(()),
        }
    }

    /// Refuses a fork of a process with ranges (copy-on-write would leave the ranges
    /// naming frames the child shares).
    pub(super) fn rmm_fork(&self, parent: u16) -> Result<(), SimError> {
        match self.range_table(parent) {
            Some(t) if !t.ranges.is_empty() => Err(SimError(
                "os.rmm: a fork of a process with ranges (eager paging) is not modelled: its copy-on-write pages would break the ranges".into(),
            )),
            _ => Ok(()),
        }
    }

    /// What RMM's OS side made (`None` without `[os.rmm]`).
    pub fn rmm_report(&self) -> Option<RmmReport> {
        self.rmm.as_ref().map(|r| r.report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: u64) -> RangeTable {
        // Ranges of 1 page every 2 pages from 0x1000_0000: base i * 0x2000.
        let mut t = RangeTable::default();
        for i in 0..n {
            let base = 0x1000_0000 + i * 0x2000;
            t.add(Range {
                base,
                limit: base + 0x1000,
                offset: 0,
            });
        }
        let mut next = 0x100_0000u64;
        t.rebuild(|| {
            next += 4096;
            Ok(next)
        })
        .unwrap();
        t
    }

    /// A range that continues the previous one virtually and physically extends it;
    /// one that continues it only virtually does not.
    #[test]
    fn contiguous_blocks_merge_into_one_range() {
        let mut t = RangeTable::default();
        t.add(Range {
            base: 0x10000,
            limit: 0x12000,
            offset: 0x5000,
        });
        t.add(Range {
            base: 0x12000,
            limit: 0x13000,
            offset: 0x5000,
        });
        t.add(Range {
            base: 0x13000,
            limit: 0x14000,
            offset: 0x9000,
        });
        assert_eq!(t.ranges().len(), 2);
        assert_eq!(t.ranges()[0].limit, 0x13000);
        assert_eq!(t.ranges()[0].pages(), 3);
    }

    /// An unmap in the middle of a range splits it in two; at an end it trims it.
    #[test]
    fn unmapping_trims_and_splits_ranges() {
        let mut t = RangeTable::default();
        t.add(Range {
            base: 0x10000,
            limit: 0x20000,
            offset: 7,
        });
        assert!(t.remove(0x14000, 0x16000));
        assert!(t.remove(0x1f000, 0x30000));
        assert!(!t.remove(0x40000, 0x50000));
        let r = t.ranges();
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].base, r[0].limit), (0x10000, 0x14000));
        assert_eq!((r[1].base, r[1].limit, r[1].offset), (0x16000, 0x1f000, 7));
    }

    /// Hand-worked walks. 200 ranges: leaves of 128 and 72 slots, a root of 2 slots
    /// (nodes allocated leaves first: leaf 0 at 0x100_1000, leaf 1 at 0x100_2000, root
    /// at 0x100_3000).
    /// - Range 150 (base 0x1000_0000 + 150 * 0x2000): root n = 2: mid 1 (line 0), key 1
    ///   (range 128's base) <= va, lo = 2: child 1, one line. Leaf 1 holds ranges
    ///   128..200 (n = 72), va's slot is 22: mids 36 (line 18; key > va, hi 36), 18
    ///   (line 9; lo 19), 27 (line 13; hi 27), 23 (line 11; hi 23), 21 (line 10; lo
    ///   22), 22 (line 11, read already; lo 23): lines 18, 9, 13, 11, 10. Six reads.
    /// - Range 0: root mid 1 (key > va: hi 1), mid 0 (line 0 again, not re-read; lo 1):
    ///   one read; leaf 0, n = 128, slot 0: mids 64, 32, 16, 8, 4, 2, 1, 0 on lines 32,
    ///   16, 8, 4, 2, 1, 0 (slots 1 and 0 share line 0): 7 reads. Eight in all.
    /// - An address in the hole after range 150 (its second page) reads the same lines
    ///   as range 150 and finds nothing; one below every range reads the root only.
    #[test]
    fn a_walk_reads_the_lines_a_binary_search_reads() {
        let t = table(200);
        assert_eq!((t.height(), t.nodes()), (2, 3));
        let walk = |va: u64| {
            let mut lines = Vec::new();
            let r = t.walk(va, |pa| lines.push(pa));
            (r, lines)
        };
        let va = 0x1000_0000 + 150 * 0x2000;
        let (r, lines) = walk(va);
        assert_eq!(r.map(|r| r.base), Some(va));
        let leaf1 = 0x100_2000;
        let want: Vec<u64> = [18u64, 9, 13, 11, 10]
            .iter()
            .map(|l| leaf1 + l * 64)
            .collect();
        assert_eq!(lines, [vec![0x100_3000], want.clone()].concat());
        let (r, lines2) = walk(va + 0x1000);
        assert_eq!((r, lines2), (None, lines));
        let (r, lines) = walk(0x1000_0000);
        assert_eq!(r.map(|r| r.base), Some(0x1000_0000));
        let leaf0 = 0x100_1000;
        let want: Vec<u64> = [32u64, 16, 8, 4, 2, 1, 0]
            .iter()
            .map(|l| leaf0 + l * 64)
            .collect();
        assert_eq!(lines, [vec![0x100_3000], want].concat());
        let (r, lines) = walk(0x0fff_f000);
        assert_eq!((r, lines), (None, vec![0x100_3000]));
    }

    /// 128 ranges fit one node (the root is the leaf); 129 need a second leaf and a
    /// root; 128 x 128 + 1 a third level.
    #[test]
    fn node_counts_follow_128_slots_per_node() {
        assert_eq!((table(128).height(), table(128).nodes()), (1, 1));
        assert_eq!((table(129).height(), table(129).nodes()), (2, 3));
        let t = table(128 * 128 + 1);
        // 129 leaves, 2 inner nodes, 1 root.
        assert_eq!((t.height(), t.nodes()), (3, 132));
    }
}
