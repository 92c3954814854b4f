//! A radix page table of configurable depth and index widths (x86-64: 4 levels of 9 bits,
//! LA57: 5). A leaf at level 1 maps a 4K page; a leaf at a higher level maps the whole
//! range below it (2M at level 2, 1G at level 3 on x86-64).
//!
//! Tables live in one arena (`entries`); each table also has a physical address taken from
//! the frame allocator the first time a mapping needs it, so PTE reads have real cache
//! lines. An entry is 0 (not present), a child table (`(node + 1) << 1`), or a leaf
//! (`frame | 1`: frames are page aligned, so bit 0 is free).
//!
//! With ASAP (`page_table.asap`, [`super::asap`]) the level-1 and level-2 tables are
//! placed in per-window contiguous regions at the slot their virtual address computes,
//! and [`Walkable::asap_predicted`] tells the walker which reads hardware prefetched.

use super::asap::AsapRegions;
use super::design::DesignConfig;
use super::{MapOutcome, Mappable, Teachable, Translation, WalkStart, WalkStep, Walkable, NO_NODE};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};

/// Configuration of this design (`[page_table]` with `kind = "radix"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadixConfig {
    pub levels: u32,
    /// Index bits per level, top level first; default 9 for every level.
    #[serde(default)]
    pub bits_per_level: Option<Vec<u32>>,
    /// ASAP (Margaritov et al., MICRO 2019): the level-1 and level-2 tables in sorted
    /// contiguous regions, prefetched in parallel with the walk. Off by default (and
    /// then not written out, so configs without it serialize as before).
    #[serde(default, skip_serializing_if = "is_false")]
    pub asap: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl RadixConfig {
    /// Index bits per level, top level first.
    pub fn bits(&self) -> Vec<u32> {
        self.bits_per_level
            .clone()
            // At most 7 (one more than allowed, so a bad `levels` still shows as too
            // many): `levels = 4294967295` must be refused, not allocate 16 GiB first (a
            // hang found by issue 17's randomized test).
            .unwrap_or_else(|| vec![9; self.levels.min(7) as usize])
    }
}

/// The virtual-address bits a table of `bits` per level covers (12 + their sum),
/// saturating: out-of-range widths are refused, not wrapped past the check.
fn covered_bits(bits: &[u32]) -> u32 {
    bits.iter().fold(12u32, |a, &b| a.saturating_add(b))
}

impl DesignConfig for RadixConfig {
    fn kind(&self) -> &'static str {
        "radix"
    }
    fn title(&self) -> String {
        let asap = if self.asap { ", ASAP" } else { "" };
        format!("radix ({}-level{asap})", self.levels)
    }
    /// The levels cover 12 + sum(bits).
    fn va_bits(&self) -> u32 {
        covered_bits(&self.bits())
    }
    fn radix_bits(&self) -> Vec<u32> {
        self.bits()
    }
    fn walk_cache_levels(&self) -> u32 {
        self.levels
    }
    fn page_size_problem(&self, size: PageSize) -> Option<String> {
        let bits = self.bits();
        leaf_level_for(&bits, size).is_none().then(|| {
            format!("no level of this radix table maps {size} pages (bits per level {bits:?})")
        })
    }
    fn problems(&self, os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let (levels, bits) = (self.levels, self.bits());
        if !(2..=6).contains(&levels) {
            e.push((
                "page_table.levels".into(),
                format!("must be 2 to 6, not {levels}"),
            ));
        } else if bits.len() != levels as usize {
            e.push((
                "page_table.bits_per_level".into(),
                format!("lists {} levels but levels = {levels}", bits.len()),
            ));
        } else {
            if self.bits_per_level.is_some() {
                for (i, b) in bits.iter().enumerate() {
                    if !(1..=9).contains(b) {
                        e.push((
                            format!("page_table.bits_per_level[{i}]"),
                            format!("must be 1 to 9 (a table must fit one 4 KiB frame), not {b}"),
                        ));
                    }
                }
            }
            let total = covered_bits(&bits);
            if total > 57 {
                e.push((
                    "page_table".into(),
                    format!("covers {total} virtual-address bits; at most 57 are supported"),
                ));
            }
            if os.page_size != PageSize::Size4K {
                if let Some(m) = self.page_size_problem(os.page_size) {
                    e.push(("os.page_size".into(), m));
                }
            }
        }
        e
    }
}

/// One entry of a radix table, decoded ([`Radix::read_entry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// Not present: the walk faults.
    Absent,
    /// Maps a page.
    Leaf(Translation),
    /// Points to this table (a node of the arena) one level down.
    Table(u32),
}

/// The table a raw entry that is neither absent (0) nor a leaf points to: its node
/// in the arena (entries hold `(node + 1) << 1`).
#[inline(always)]
pub(crate) fn raw_table(e: u64) -> u32 {
    ((e >> 1) - 1) as u32
}

/// A power of two (levels are masked with `MAX_LEVELS - 1` on the walk path).
const MAX_LEVELS: usize = 8;

/// Arena slots per table: every table gets 512 whatever its index width (at most 9 bits,
/// validated), so table `n`'s entries start at `n * 512` with no lookup on the way.
const SLOTS: usize = 512;

mod view;
pub(crate) use view::RadixView;

pub struct Radix {
    levels: usize,
    /// `shift[l]`: lowest VA bit of the index of level `l` (1-based).
    shift: [u32; MAX_LEVELS],
    mask: [u64; MAX_LEVELS],
    /// `size[l]`: the page a leaf at level `l` maps (the walk reads it per leaf).
    size: [PageSize; MAX_LEVELS],
    entries: Vec<u64>,
    /// Physical address of each table.
    paddr: Vec<u64>,
    table_bytes: u64,
    /// Tables given back by [`Radix::release`].
    released: usize,
    /// ASAP's regions (`page_table.asap`), if on.
    asap: Option<Box<AsapRegions>>,
    /// The host prefetch's last way down to a level-2 table ([`Walkable::prefetch`]):
    /// the address bits above that table's index and the table, or [`NO_UPPER`].
    /// Consecutive accesses mostly share it, so the prefetch reads one upper entry
    /// instead of every one. Only a hint: a stale one steers host prefetches wrong,
    /// nothing else (a released table is never reused, and releasing forgets it).
    upper: std::cell::Cell<(u64, u32)>,
}

/// No remembered way down ([`Radix::upper`]): no address has every bit set.
const NO_UPPER: (u64, u32) = (u64::MAX, 0);

impl Radix {
    /// `bits`: index bits per level, top level first. Allocates the root table.
    pub fn new(bits: &[u32], frames: &mut FrameAllocator) -> Result<Radix, SimError> {
        Radix::with_asap(bits, false, frames)
    }

    /// [`Radix::new`], with ASAP's placement of the two deepest levels if `asap`.
    pub fn with_asap(
        bits: &[u32],
        asap: bool,
        frames: &mut FrameAllocator,
    ) -> Result<Radix, SimError> {
        let levels = bits.len();
        let mut shift = [0; MAX_LEVELS];
        let mut mask = [0; MAX_LEVELS];
        let mut s = 12;
        for (i, b) in bits.iter().rev().enumerate() {
            shift[i + 1] = s;
            mask[i + 1] = (1u64 << b) - 1;
            s += b;
        }
        let size = shift.map(|s| match s {
            21 => PageSize::Size2M,
            30 => PageSize::Size1G,
            _ => PageSize::Size4K,
        });
        let mut r = Radix {
            levels,
            shift,
            mask,
            size,
            entries: Vec::new(),
            paddr: Vec::new(),
            table_bytes: 0,
            released: 0,
            asap: asap.then(Default::default),
            upper: std::cell::Cell::new(NO_UPPER),
        };
        r.new_node(levels, 0, frames)?;
        Ok(r)
    }

    /// A new table of `level` on the path of `vaddr`: in its ASAP region's slot when
    /// ASAP places that level, else a 4 KiB frame from the allocator.
    fn new_node(
        &mut self,
        level: usize,
        vaddr: u64,
        frames: &mut FrameAllocator,
    ) -> Result<u32, SimError> {
        let n = self.mask[level] + 1;
        let slot = self.asap_slot(vaddr, level);
        let placed = match (self.asap.as_deref_mut(), slot) {
            (Some(a), Some((window, idx))) => a.place(level as u8, window, idx, frames),
            _ => None,
        };
        let paddr = match placed {
            Some(p) => p,
            None => frames.alloc(PageSize::Size4K)?,
        };
        self.paddr.push(paddr);
        self.entries.resize(self.entries.len() + SLOTS, 0);
        self.table_bytes += n * 8;
        Ok((self.paddr.len() - 1) as u32)
    }

    /// Where ASAP puts the level-`level` table covering `vaddr`: (window, slot), the
    /// slot being the parent level's index (`vaddr >> shift[level + 1]`, masked) and
    /// the window the address bits above it. Only levels 1 and 2 below the root.
    #[inline(always)]
    fn asap_slot(&self, vaddr: u64, level: usize) -> Option<(u64, u64)> {
        if !(1..=2).contains(&level) || level >= self.levels {
            return None;
        }
        let (shift, mask) = (self.shift[level + 1], self.mask[level + 1]);
        Some((
            vaddr >> (shift + mask.count_ones()),
            (vaddr >> shift) & mask,
        ))
    }

    /// The physical address of the level-`level` table covering `vaddr` as ASAP's
    /// hardware computes it (region base + offset), if its window has a region.
    pub fn asap_node_addr(&self, vaddr: VirtAddr, level: usize) -> Option<PhysAddr> {
        let (window, idx) = self.asap_slot(vaddr.0, level)?;
        let a = self.asap.as_deref()?;
        a.predict(level as u8, window, idx).map(PhysAddr)
    }

    #[inline(always)]
    fn index(&self, vaddr: u64, level: usize) -> usize {
        // `MAX_LEVELS` is 8: the mask keeps the level in range without a bounds check.
        let l = level & (MAX_LEVELS - 1);
        ((vaddr >> self.shift[l]) & self.mask[l]) as usize
    }

    /// Entry `vaddr` selects in table `node` at `level`, as a walk reads it: the
    /// entry's physical address and what it holds. The walker's straight walk
    /// (`walker/straight.rs`) reads a plain radix table through this, one level at a
    /// time, instead of collecting [`Walkable::walk`]'s steps.
    #[inline(always)]
    pub(crate) fn read_entry(&self, node: usize, level: usize, vaddr: u64) -> (PhysAddr, Entry) {
        let (pte_addr, e) = self.read_raw(node, level, vaddr);
        let entry = if e == 0 {
            Entry::Absent
        } else if let Some(t) = self.raw_leaf(e, level) {
            Entry::Leaf(t)
        } else {
            Entry::Table(raw_table(e))
        };
        (pte_addr, entry)
    }

    /// [`Radix::read_entry`] undecoded: the entry's physical address and its bits, for
    /// the straight walk, which tests them in the order its branches want (a leaf
    /// first, [`Radix::raw_leaf`]; then 0 for absent; else a table, [`raw_table`])
    /// instead of matching an [`Entry`] built and taken apart again.
    #[inline(always)]
    pub(crate) fn read_raw(&self, node: usize, level: usize, vaddr: u64) -> (PhysAddr, u64) {
        let idx = self.index(vaddr, level);
        let e = self.entries[node * SLOTS + idx];
        (PhysAddr(self.paddr[node] + idx as u64 * 8), e)
    }

    /// The page a raw entry of `level` maps, if it is a leaf (bit 0 set).
    #[inline(always)]
    pub(crate) fn raw_leaf(&self, e: u64, level: usize) -> Option<Translation> {
        (e & 1 == 1).then(|| Translation {
            frame: PhysAddr(e & !1),
            size: self.size_of_level(level),
        })
    }

    /// The table itself if the walker may read it straight ([`Radix::read_entry`]):
    /// without ASAP, whose walks time prefetched reads apart.
    #[inline(always)]
    pub(crate) fn straight(&self) -> Option<&Radix> {
        self.asap.is_none().then_some(self)
    }

    #[inline(always)]
    fn size_of_level(&self, level: usize) -> PageSize {
        self.size[level & (MAX_LEVELS - 1)]
    }

    fn leaf_level(&self, size: PageSize) -> Option<usize> {
        (1..=self.levels).find(|&l| self.shift[l] == size.shift())
    }

    /// Number of table pages in use.
    pub fn tables(&self) -> usize {
        self.paddr.len() - self.released
    }

    /// Whether table `node` (at `level`) and every table below it map nothing.
    fn subtree_empty(&self, node: usize, level: usize) -> bool {
        self.entries[node * SLOTS..(node + 1) * SLOTS]
            .iter()
            .all(|&e| {
                e == 0
                    || (e & 1 == 0
                        && level > 1
                        && self.subtree_empty(((e >> 1) - 1) as usize, level - 1))
            })
    }

    /// Gives the frames of an empty subtree back. Its arena slots are not reused (a
    /// walk cache may still name the node until the caller flushes it; its entries
    /// stay zero, so such a walk finds nothing rather than a wrong frame).
    fn release(
        &mut self,
        node: usize,
        level: usize,
        frames: &mut FrameAllocator,
    ) -> Result<(), SimError> {
        self.upper.set(NO_UPPER);
        for i in 0..SLOTS {
            let e = self.entries[node * SLOTS + i];
            if e & 1 == 1 || (e != 0 && level == 1) {
                return Err(SimError(format!(
                    "internal: releasing a table that still maps a page (level {level})"
                )));
            }
            if e != 0 {
                self.entries[node * SLOTS + i] = 0;
                self.release(((e >> 1) - 1) as usize, level - 1, frames)?;
            }
        }
        match self.asap.as_deref_mut() {
            // A region's slot stays the node's: the region goes back as a whole.
            Some(a) if a.owns(self.paddr[node]) => a.node_released(),
            _ => frames.free(self.paddr[node], PageSize::Size4K)?,
        }
        self.table_bytes -= (self.mask[level] + 1) * 8;
        self.released += 1;
        Ok(())
    }
}

impl Mappable for Radix {
    fn new_space(&self, frames: &mut FrameAllocator) -> Result<Radix, SimError> {
        let bits: Vec<u32> = (1..=self.levels)
            .rev()
            .map(|l| self.mask[l].count_ones())
            .collect();
        Radix::with_asap(&bits, self.asap.is_some(), frames)
    }

    fn release_space(&mut self, frames: &mut FrameAllocator) -> Result<(), SimError> {
        if self.tables() > 0 {
            self.release(0, self.levels, frames)?;
        }
        if let Some(a) = self.asap.as_deref_mut() {
            a.release_all(frames)?;
        }
        Ok(())
    }

    fn translate(&self, _asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        // `walk` without its steps: test builds check every TLB hit against this, and
        // the check must not allocate (the allocation test counts test builds).
        let (mut level, mut node) = (self.levels, 0);
        loop {
            let e = self.entries[node * SLOTS + self.index(vaddr, level)];
            if e == 0 || e & 1 == 1 {
                return (e != 0).then(|| Translation {
                    frame: PhysAddr(e & !1),
                    size: self.size_of_level(level),
                });
            }
            if level == 1 {
                return None;
            }
            level -= 1;
            node = ((e >> 1) - 1) as usize;
        }
    }

    fn map(
        &mut self,
        _asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        let (vaddr, frame) = (vaddr.0, frame.0);
        let leaf = self.leaf_level(size).ok_or_else(|| {
            SimError(format!(
                "this radix table has no level that maps {size} pages"
            ))
        })?;
        let mut node = 0u32;
        let mut level = self.levels;
        while level > leaf {
            let slot = node as usize * SLOTS + self.index(vaddr, level);
            let e = self.entries[slot];
            if e & 1 == 1 {
                return Err(SimError(format!(
                    "{vaddr:#x} is already inside a {} page",
                    self.size_of_level(level)
                )));
            }
            node = if e == 0 {
                let child = self.new_node(level - 1, vaddr, frames)?;
                self.entries[slot] = (child as u64 + 1) << 1;
                child
            } else {
                ((e >> 1) - 1) as u32
            };
            level -= 1;
        }
        let slot = node as usize * SLOTS + self.index(vaddr, level);
        let e = self.entries[slot];
        if e != 0 {
            // A huge page may replace a table whose mappings were all removed (a
            // collapse, as khugepaged frees the PTE page); anything else is a bug.
            let child = ((e >> 1) - 1) as usize;
            if e & 1 == 1 || level == 1 || !self.subtree_empty(child, level - 1) {
                return Err(SimError(format!(
                    "{vaddr:#x}: the {size} entry is already in use"
                )));
            }
            self.release(child, level - 1, frames)?;
            self.entries[slot] = frame | 1;
            return Ok(MapOutcome {
                evicted: None,
                freed_tables: true,
            });
        }
        self.entries[slot] = frame | 1;
        Ok(MapOutcome::default())
    }

    fn unmap(&mut self, _asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        let mut node = 0usize;
        let mut level = self.levels;
        loop {
            let slot = node * SLOTS + self.index(vaddr, level);
            let e = self.entries[slot];
            if e == 0 {
                return None;
            }
            if e & 1 == 1 {
                self.entries[slot] = 0;
                return Some(Translation {
                    frame: PhysAddr(e & !1),
                    size: self.size_of_level(level),
                });
            }
            if level == 1 {
                return None;
            }
            node = ((e >> 1) - 1) as usize;
            level -= 1;
        }
    }

    fn mappings(&self, _asid: u16) -> Option<Vec<(VirtAddr, PhysAddr, PageSize)>> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, self.levels, 0u64)];
        while let Some((node, level, va)) = stack.pop() {
            for i in 0..=self.mask[level] as usize {
                let e = self.entries[node * SLOTS + i];
                let a = va | (i as u64) << self.shift[level];
                if e & 1 == 1 {
                    out.push((VirtAddr(a), PhysAddr(e & !1), self.size_of_level(level)));
                } else if e != 0 {
                    stack.push((((e >> 1) - 1) as usize, level - 1, a));
                }
            }
        }
        out.sort_unstable();
        Some(out)
    }

    fn table_bytes(&self) -> u64 {
        self.table_bytes
    }

    fn stats(&self) -> serde_json::Value {
        let mut s = serde_json::json!({ "design": "radix", "levels": self.levels, "tables": self.paddr.len(), "bytes": self.table_bytes });
        if let Some(a) = self.asap.as_deref() {
            s["asap"] = a.stats();
        }
        s
    }
}

impl Walkable for Radix {
    fn levels(&self) -> usize {
        self.levels
    }

    #[inline(always)]
    fn level_shift(&self, level: usize) -> u32 {
        self.shift[level & (MAX_LEVELS - 1)]
    }

    #[inline(always)]
    fn walk(
        &self,
        _asid: u16,
        vaddr: VirtAddr,
        start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let vaddr = vaddr.0;
        let (mut level, mut node) = match start {
            Some(s) => (s.level as usize, s.node as usize),
            None => (self.levels, 0),
        };
        loop {
            let (pte_addr, entry) = self.read_entry(node, level, vaddr);
            let next = match entry {
                Entry::Table(child) => child,
                _ => NO_NODE,
            };
            steps.push(WalkStep {
                level: level as u8,
                pte_addr,
                next,
                group: level as u8,
            });
            match entry {
                Entry::Absent => return None,
                Entry::Leaf(t) => return Some(t),
                // A table pointer at the leaf level cannot be built by `map`.
                Entry::Table(_) if level == 1 => return None,
                Entry::Table(child) => {
                    level -= 1;
                    node = child as usize;
                }
            }
        }
    }

    fn has_levels(&self) -> bool {
        true
    }

    #[inline(always)]
    fn as_radix(&self) -> Option<&Radix> {
        self.straight()
    }

    /// Hardware computed `step`'s address from the range registers and the prefetch
    /// matches the entry the walk reads: the step's table is the one in the region slot
    /// of `vaddr` (the walk, still run, is what verifies it).
    #[inline(always)]
    fn asap_predicted(&self, _asid: u16, vaddr: VirtAddr, step: &WalkStep) -> bool {
        let level = step.level as usize;
        self.asap_node_addr(vaddr, level)
            .is_some_and(|node| step.pte_addr.0 == node.0 + self.index(vaddr.0, level) as u64 * 8)
    }

    #[inline(always)]
    fn leaf_lines(&self, _asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let vaddr = vaddr.0;
        let mut node = 0usize;
        let mut level = self.levels;
        loop {
            let idx = self.index(vaddr, level);
            let e = *self.entries.get(node * SLOTS + idx)?;
            if e == 0 {
                return None;
            }
            if e & 1 == 1 {
                let pte = self.paddr.get(node)? + idx as u64 * 8;
                let offset = vaddr & ((1u64 << self.shift[level]) - 1);
                return Some((PhysAddr(pte), PhysAddr((e & !1) + offset)));
            }
            if level == 1 {
                return None;
            }
            node = ((e >> 1) - 1) as usize;
            level -= 1;
        }
    }

    #[inline(always)]
    fn leaf_lines_hinted(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        hint: u64,
    ) -> Option<(PhysAddr, PhysAddr)> {
        // The hint is the leaf table + 1 (0: none found then).
        if hint == 0 {
            return self.leaf_lines(asid, vaddr);
        }
        self.view().leaf_lines_hinted(vaddr.0, hint)
    }

    #[inline(always)]
    fn prefetch(&self, _asid: u16, vaddr: VirtAddr) -> u64 {
        let mut upper = self.upper.get();
        let hint = self.view().prefetch_leaf(vaddr.0, &mut upper);
        self.upper.set(upper);
        hint
    }
}

impl Teachable for Radix {
    fn node_paddr(&self, node: u32) -> Option<PhysAddr> {
        self.paddr.get(node as usize).copied().map(PhysAddr)
    }
}

/// The radix level (1 = leaf PTE level) whose entries map pages of `size`, if any.
pub fn leaf_level_for(bits: &[u32], size: PageSize) -> Option<usize> {
    let mut shift = 12;
    for (i, b) in bits.iter().rev().enumerate() {
        if shift == size.shift() {
            return Some(i + 1);
        }
        shift += b;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrameAlloc;

    fn alloc() -> FrameAllocator {
        FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 3)
    }

    #[test]
    fn cold_walks_read_one_entry_per_level_down_to_the_leaf() {
        let mut f = alloc();
        for (bits, size, reads) in [
            (vec![9, 9, 9, 9], PageSize::Size4K, 4),
            (vec![9, 9, 9, 9, 9], PageSize::Size4K, 5),
            (vec![9, 9, 9, 9], PageSize::Size2M, 3),
            (vec![9, 9, 9, 9], PageSize::Size1G, 2),
            (vec![9, 9, 9, 9, 9], PageSize::Size2M, 4),
        ] {
            let mut t = Radix::new(&bits, &mut f).unwrap();
            let va = 0x7f12_3456_7000u64;
            let frame = f.alloc(size).unwrap();
            t.map(1, VirtAddr(va), size, PhysAddr(frame), &mut f)
                .unwrap();
            let mut steps = Vec::new();
            let tr = t.walk(1, VirtAddr(va + 8), None, &mut steps).unwrap();
            assert_eq!(
                tr,
                Translation {
                    frame: PhysAddr(frame),
                    size
                }
            );
            assert_eq!(steps.len(), reads, "{bits:?} {size}");
            // Levels read go from the root down, each PTE inside its table's frame.
            for (k, s) in steps.iter().enumerate() {
                assert_eq!(s.level as usize, bits.len() - k);
                assert_eq!(s.pte_addr.0 % 8, 0);
            }
            // Starting below the root skips exactly the levels above.
            let top = steps[0];
            let mut again = Vec::new();
            let start = WalkStart {
                level: top.level - 1,
                node: top.next,
            };
            assert_eq!(t.walk(1, VirtAddr(va), Some(start), &mut again), Some(tr));
            assert_eq!(again, steps[1..]);
        }
    }

    #[test]
    fn map_translate_unmap_round_trip_and_table_bytes() {
        let mut f = alloc();
        let mut t = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        assert_eq!(t.table_bytes(), 4096);
        // Two pages share every table; one 512 GiB away needs its own PDPT, PD and PT:
        // root + 2 x (PDPT, PD, PT).
        let pages = [0x1000u64, 0x2000, 0x80_0000_0000];
        for (i, &va) in pages.iter().enumerate() {
            t.map(
                1,
                VirtAddr(va),
                PageSize::Size4K,
                PhysAddr((i as u64 + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        assert_eq!(t.tables(), 1 + 3 + 3);
        assert_eq!(t.table_bytes(), 7 * 4096);
        assert_eq!(
            t.translate(1, VirtAddr(0x2fff)).unwrap().frame,
            PhysAddr(2 << 12)
        );
        assert!(t.translate(1, VirtAddr(0x3000)).is_none());
        assert!(t
            .map(
                1,
                VirtAddr(0x1000),
                PageSize::Size4K,
                PhysAddr(0x9000),
                &mut f
            )
            .is_err());
        assert_eq!(
            t.unmap(1, VirtAddr(0x1000)).unwrap().frame,
            PhysAddr(1 << 12)
        );
        assert!(t.translate(1, VirtAddr(0x1000)).is_none());
        // A not-present walk still reports the reads it made.
        let mut steps = Vec::new();
        assert!(t
            .walk(1, VirtAddr(0x8000_0000_0000 - 4096), None, &mut steps)
            .is_none());
        assert_eq!(steps.len(), 1);
    }

    #[test]
    fn a_huge_page_replaces_only_an_empty_table_and_frees_it() {
        let mut f = alloc();
        let mut t = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        for i in 0..3u64 {
            t.map(
                1,
                VirtAddr(0x20_0000 + (i << 12)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        // root, PDPT, PD, PT.
        assert_eq!((t.tables(), t.table_bytes()), (4, 4 * 4096));
        let in_use = f.bytes_in_use;
        // A page is still mapped below the PD entry: no huge page there.
        t.unmap(1, VirtAddr(0x20_0000)).unwrap();
        t.unmap(1, VirtAddr(0x20_1000)).unwrap();
        assert!(t
            .map(
                1,
                VirtAddr(0x20_0000),
                PageSize::Size2M,
                PhysAddr(2 << 21),
                &mut f
            )
            .is_err());
        t.unmap(1, VirtAddr(0x20_2000)).unwrap();
        t.map(
            1,
            VirtAddr(0x20_0000),
            PageSize::Size2M,
            PhysAddr(2 << 21),
            &mut f,
        )
        .unwrap();
        assert_eq!((t.tables(), t.table_bytes()), (3, 3 * 4096));
        assert_eq!(f.bytes_in_use, in_use - 4096, "the PT page went back");
        let tr = t.translate(1, VirtAddr(0x2f_ffff)).unwrap();
        assert_eq!((tr.frame, tr.size), (PhysAddr(2 << 21), PageSize::Size2M));
        // A 4K page cannot go inside it.
        assert!(t
            .map(
                1,
                VirtAddr(0x20_1000),
                PageSize::Size4K,
                PhysAddr(0x5000),
                &mut f
            )
            .is_err());
    }

    /// ASAP's placement, derived by hand. A sequential allocator hands out the lowest
    /// free block: the root takes frame 0x0 (splitting the first 2 MiB block), so the
    /// first 2 MiB region is the block at 0x20_0000, the next at 0x40_0000, and so on;
    /// 4 KiB tables come from the split first block (0x1000, 0x2000, ...). Mapping
    /// v1 = 1 GiB + 5 x 2 MiB + 0x3000 builds the PDPT (0x1000), the PL2 (PD) node of the
    /// 512 GiB window 0 in slot (v1 >> 30) & 511 = 1 of the region at 0x20_0000, and the
    /// PL1 (PT) node of the 1 GiB window 1 in slot (v1 >> 21) & 511 = 5 of the region at
    /// 0x40_0000: node 0x40_5000, its PTE 3 (v1 >> 12 & 511) at 0x40_5018.
    #[test]
    fn asap_places_the_two_deepest_levels_at_their_computed_slots() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Sequential, 0);
        let mut t = Radix::with_asap(&[9, 9, 9, 9], true, &mut f).unwrap();
        let gib = 1u64 << 30;
        let v1 = gib + 5 * (2 << 20) + 0x3000;
        // Same 1 GiB window, slot 511: the PL1 region's last node.
        let v2 = gib + 511 * (2 << 20);
        // 512 GiB + 3 GiB + 7 x 2 MiB + 0x1000: PML4 slot 1 (a new PDPT, 0x2000), a new
        // PL2 region (0x60_0000, slot 3) and a new PL1 region for 1 GiB window 515
        // (0x80_0000, slot 7): node 0x80_7000, PTE 1 at 0x80_7008.
        let v3 = (512 + 3) * gib + 7 * (2 << 20) + 0x1000;
        for (i, v) in [v1, v2, v3].into_iter().enumerate() {
            let frame = PhysAddr(0x1_0000_0000 + ((i as u64) << 12));
            t.map(1, VirtAddr(v), PageSize::Size4K, frame, &mut f)
                .unwrap();
        }
        let node = |v: u64, l: usize| t.asap_node_addr(VirtAddr(v), l).map(|p| p.0);
        assert_eq!(node(v1, 2), Some(0x20_1000));
        assert_eq!(node(v1, 1), Some(0x40_5000));
        assert_eq!(node(v2, 1), Some(0x40_0000 + 511 * 4096));
        assert_eq!(node(v3, 2), Some(0x60_3000));
        assert_eq!(node(v3, 1), Some(0x80_7000));
        // No prediction for the upper levels or for windows without a region.
        assert_eq!(node(v1, 3), None);
        assert_eq!(node(2 * gib, 1), None);
        // The walk reads exactly there, and says the two deepest reads were predicted.
        let mut steps = Vec::new();
        t.walk(1, VirtAddr(v1), None, &mut steps).unwrap();
        let addrs: Vec<u64> = steps.iter().map(|s| s.pte_addr.0).collect();
        // Root entry 0, PDPT (0x1000) entry 1, PD entry 5, PT entry 3.
        assert_eq!(addrs, [0x0, 0x1008, 0x20_1028, 0x40_5018]);
        let predicted: Vec<bool> = (steps.iter())
            .map(|s| t.asap_predicted(1, VirtAddr(v1), s))
            .collect();
        assert_eq!(predicted, [false, false, true, true]);
        let mut steps = Vec::new();
        t.walk(1, VirtAddr(v3), None, &mut steps).unwrap();
        assert_eq!(steps[3].pte_addr.0, 0x80_7008);
        // Regions: 2 PL2 + 2 PL1 of 2 MiB; tables in them: 2 PL2 (v1 and v2 share one)
        // and 3 PL1 (v1 and v2 are in different 2 MiB ranges).
        let a = &t.stats()["asap"];
        assert_eq!(a["region_bytes"], 4 * (2 << 20));
        assert_eq!(a["unused_region_bytes"], 4 * (2 << 20) - 5 * 4096);
        assert_eq!(a["fallback_nodes"], 0);
        // Without ASAP the same table predicts nothing.
        let plain = Radix::new(&[9, 9, 9, 9], &mut f).unwrap();
        assert_eq!(plain.asap_node_addr(VirtAddr(v1), 1), None);
        assert!(plain.stats().get("asap").is_none());
    }

    #[test]
    fn asap_region_nodes_stay_reserved_until_the_space_goes() {
        let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Sequential, 0);
        let before = f.bytes_in_use;
        let mut t = Radix::with_asap(&[9, 9, 9, 9], true, &mut f).unwrap();
        t.map(
            1,
            VirtAddr(0x20_0000),
            PageSize::Size4K,
            PhysAddr(0x9000_0000),
            &mut f,
        )
        .unwrap();
        // Root + PDPT (4 KiB each) + two 2 MiB regions.
        assert_eq!(f.bytes_in_use - before, 2 * 4096 + 2 * (2 << 20));
        let pt_node = t.asap_node_addr(VirtAddr(0x20_0000), 1).unwrap();
        // Collapse to a 2M page: the PT node is released but its region slot is kept.
        t.unmap(1, VirtAddr(0x20_0000)).unwrap();
        let out = t
            .map(
                1,
                VirtAddr(0x20_0000),
                PageSize::Size2M,
                PhysAddr(0x8000_0000),
                &mut f,
            )
            .unwrap();
        assert!(out.freed_tables);
        assert_eq!(f.bytes_in_use - before, 2 * 4096 + 2 * (2 << 20));
        // Split back to 4K pages: the new PT node takes the same slot.
        t.unmap(1, VirtAddr(0x20_0000)).unwrap();
        t.map(
            1,
            VirtAddr(0x20_1000),
            PageSize::Size4K,
            PhysAddr(0x9000_1000),
            &mut f,
        )
        .unwrap();
        let mut steps = Vec::new();
        t.walk(1, VirtAddr(0x20_1000), None, &mut steps).unwrap();
        assert_eq!(steps[3].pte_addr.0, pt_node.0 + 8);
        // The address space goes: everything back.
        t.unmap(1, VirtAddr(0x20_1000)).unwrap();
        t.release_space(&mut f).unwrap();
        assert_eq!(f.bytes_in_use, before);
    }

    #[test]
    fn asap_falls_back_to_plain_tables_in_fragmented_memory() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 0);
        // Every 2 MiB block holds a pinned frame: no region anywhere.
        f.fragment(1.0, 5);
        let mut t = Radix::with_asap(&[9, 9, 9, 9], true, &mut f).unwrap();
        let frame = f.alloc(PageSize::Size4K).unwrap();
        t.map(
            1,
            VirtAddr(0x4000_3000),
            PageSize::Size4K,
            PhysAddr(frame),
            &mut f,
        )
        .unwrap();
        assert_eq!(t.asap_node_addr(VirtAddr(0x4000_3000), 1), None);
        let mut steps = Vec::new();
        t.walk(1, VirtAddr(0x4000_3000), None, &mut steps).unwrap();
        assert!(steps
            .iter()
            .all(|s| !t.asap_predicted(1, VirtAddr(0x4000_3000), s)));
        // The PD and the PT fell back; no region held.
        let a = &t.stats()["asap"];
        assert_eq!(
            (a["fallback_nodes"].as_u64(), a["region_bytes"].as_u64()),
            (Some(2), Some(0))
        );
    }

    #[test]
    fn leaf_levels_of_x86_tables() {
        let b = [9, 9, 9, 9];
        assert_eq!(leaf_level_for(&b, PageSize::Size4K), Some(1));
        assert_eq!(leaf_level_for(&b, PageSize::Size2M), Some(2));
        assert_eq!(leaf_level_for(&b, PageSize::Size1G), Some(3));
        assert_eq!(leaf_level_for(&[9, 9, 8, 9], PageSize::Size1G), None);
    }
    /// The host prefetch's hint (the leaf table, its way down remembered between
    /// calls) against full walks: over addresses in runs within and jumps between
    /// regions of 4K pages, 2M pages and holes, in 4- and 5-level tables, the hint is
    /// nonzero exactly where the walk passes a level-1 table, and the lines it leads
    /// to are those of a walk from the root.
    #[test]
    fn prefetch_hints_name_the_leaf_table_of_a_full_walk() {
        let mut f = alloc();
        for bits in [vec![9, 9, 9, 9], vec![9, 9, 9, 9, 9]] {
            let mut t = Radix::new(&bits, &mut f).unwrap();
            // Regions 2 MiB apart under three level-3 entries and two level-4 ones.
            let region = |i: u64| (i % 2) << 39 | (i % 3) << 30 | (i / 6) << 21;
            for i in 0..24u64 {
                if i % 4 == 1 {
                    let fr = PhysAddr(f.alloc(PageSize::Size2M).unwrap());
                    t.map(1, VirtAddr(region(i)), PageSize::Size2M, fr, &mut f)
                        .unwrap();
                } else if i % 4 != 3 {
                    for p in (0..512).step_by(3) {
                        let fr = PhysAddr(f.alloc(PageSize::Size4K).unwrap());
                        let va = VirtAddr(region(i) + p * 4096);
                        t.map(1, va, PageSize::Size4K, fr, &mut f).unwrap();
                    }
                }
            }
            let mut x: u64 = 0x0dd_b1a5_e5ba_d5ee;
            let mut i = 0;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Runs of ten in one region, then a jump (24 regions, some never mapped).
                i = if x % 10 == 0 { x >> 40 } else { i };
                let va = VirtAddr(region(i % 30) + (x >> 8) % (1 << 21));
                let hint = t.prefetch(1, va);
                let mut steps = Vec::new();
                t.walk(1, va, None, &mut steps);
                let leaf_table = steps.iter().any(|s| s.level == 2 && s.next != NO_NODE);
                assert_eq!(hint != 0, leaf_table, "{bits:?} {va:#x}");
                assert_eq!(
                    t.leaf_lines_hinted(1, va, hint),
                    t.leaf_lines(1, va),
                    "{bits:?} {va:#x}"
                );
            }
        }
    }
}
