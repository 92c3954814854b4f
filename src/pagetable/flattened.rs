//! A flattened radix page table (Park, Vougioukas, Sandberg and Black-Schaffer, "Every
//! Walk's a Hit: Making Page Walks Single-Access Cache Hits", ASPLOS 2022; preprint
//! "Page Tables: Keeping them Flat and Hot (Cached)", arXiv 2012.05079): the x86-64 radix
//! tree with chosen pairs of adjacent levels merged into one node. A merged node replaces
//! a 4 KiB table and the 512 tables below it by one 2 MiB table of 2^18 entries indexed by
//! the 18 address bits of both levels, so a walk reads one entry where the radix tree
//! reads two (the paper: "merging two levels of traditional 4 KB page table nodes into a
//! single 2 MB node"). Merging L4+L3 and L2+L1 makes a 4K walk two reads.
//!
//! Owns the nodes (merged and plain), their physical placement and the counters of how
//! often a merge could not be had. In: `map`/`unmap` from the OS model and frames from
//! the buddy allocator; `walk` from the hardware walker. Out: one [`WalkStep`] per entry
//! read, and the translation.
//!
//! **Opportunistic merging.** A merged node needs a free, aligned 2 MiB block; the paper
//! flattens "opportunistically". When the allocator has no free 2 MiB block (fragmented
//! or exhausted memory) the node falls back to an ordinary 4 KiB table of the pair's
//! upper level, whose entries point to ordinary 4 KiB tables of its lower level: that
//! part of the tree is plain radix. The table takes free blocks only; it breaks no 2 MiB
//! reservation of a huge-page policy to flatten. `stats.page_tables.fallbacks` counts the
//! nodes that fell back.
//!
//! **Walk caches.** A merged node's entry resolves both of its levels, so it is the entry
//! of the pair's *lower* level: its [`WalkStep::level`] is that level, and the walker's
//! paging-structure cache of that level (tagged with the address bits above the level,
//! [`PageTable::level_shift`]) caches it; a hit there skips every level down to and
//! including the merged pair, as a radix hit at that level does. The walk cache of a
//! merged pair's *upper* level has nothing to cache (no entry of that level exists in a
//! merged node), so it is probed and never fills, except for regions that fell back to
//! plain tables, where it works as in a radix tree. With the Skylake-like PML4 (level 4),
//! PDPT (3) and PD (2) caches and L4+L3, L2+L1 merged: the PDPT cache holds the merged
//! L4+L3 entries and a hit leaves one read (the merged L2+L1 entry); the PML4 and PD
//! caches stay empty.
//!
//! **Huge pages inside a merged node.** A page whose leaf level is the pair's lower level
//! (4K in L2+L1, 1G in L4+L3) is one entry, as in radix. A page whose leaf level is the
//! pair's *upper* level (2M in a merged L2+L1 node) covers 512 consecutive entries of the
//! 18-bit index; its leaf entry is written into all 512 (each records the page size), so
//! a walk of any address in the page reads exactly one entry, the one its 18 index bits
//! select, and finds the 2M translation there. This keeps the one-read walk for mixed page
//! sizes at the cost of 512 writes per 2M map; the alternative, leaving a region with 2M
//! pages unmerged, would cost a read. (Our reading; the paper's own treatment of large
//! pages could not be consulted here, see `results/radix-vs-hashed/README.md`.)
//!
//! Entries: 0 (not present), a child node (`(node + 1) << 1`), or a leaf
//! (`frame | leaf_level << 1 | 1`; frames are 4 KiB aligned, so bits 0-11 are free).

use super::design::{under_page_table, DesignConfig};
use super::{
    IndexPart, MapOutcome, Mappable, Teachable, Translation, WalkStart, WalkStep, Walkable, NO_NODE,
};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};

/// Index bits of one x86-64 level.
const BITS: u32 = 9;
const MAX_LEVELS: usize = 6;

/// `page_table` settings of `kind = "flattened"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenedConfig {
    /// Radix levels of 9 bits each: 4 (48-bit addresses) or 5 (LA57).
    #[serde(default = "four")]
    pub levels: u32,
    /// The level pairs merged into 2 MiB nodes, each `"Lk+Lj"` with j = k - 1 (levels
    /// numbered from the leaf, 1 = PT); pairs may not overlap.
    #[serde(default = "default_merge")]
    pub merge: Vec<String>,
}

fn four() -> u32 {
    4
}

fn default_merge() -> Vec<String> {
    vec!["L4+L3".into(), "L2+L1".into()]
}

impl Default for FlattenedConfig {
    fn default() -> Self {
        FlattenedConfig {
            levels: four(),
            merge: default_merge(),
        }
    }
}

/// The upper level of pair `s` (`"L4+L3"` -> 4), if it names two adjacent levels.
fn parse_pair(s: &str) -> Option<u32> {
    let (a, b) = s.trim().split_once('+')?;
    let num = |x: &str| x.trim().strip_prefix(['L', 'l'])?.parse::<u32>().ok();
    let (a, b) = (num(a)?, num(b)?);
    (a == b + 1 && b >= 1).then_some(a)
}

impl FlattenedConfig {
    /// Problems as `(key below page_table, message)`.
    pub fn validate(&self, _os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(4..=5).contains(&self.levels) {
            e.push((
                "levels".into(),
                format!(
                    "must be 4 or 5 (x86-64 radix levels of 9 bits), not {}",
                    self.levels
                ),
            ));
            return e;
        }
        let mut used = 0u32;
        for (i, p) in self.merge.iter().enumerate() {
            let key = format!("merge[{i}]");
            match parse_pair(p) {
                None => e.push((
                    key,
                    format!("`{p}` is not a pair of adjacent levels such as \"L2+L1\""),
                )),
                Some(top) if top > self.levels => {
                    e.push((key, format!("`{p}`: the table has {} levels", self.levels)))
                }
                Some(top) => {
                    let bits = 0b11 << (top - 1);
                    if used & bits != 0 {
                        e.push((key, format!("`{p}` overlaps another merged pair")));
                    }
                    used |= bits;
                }
            }
        }
        e
    }

    /// Bit `t` set: levels `t` and `t - 1` are merged (valid configs only).
    pub fn merged_tops(&self) -> u32 {
        self.merge
            .iter()
            .filter_map(|p| parse_pair(p))
            .fold(0, |m, t| m | 1 << t)
    }

    /// Virtual-address bits the table maps.
    pub fn va_bits(&self) -> u32 {
        // Saturating: an out-of-range `levels` is refused, not an overflow.
        BITS.saturating_mul(self.levels).saturating_add(12)
    }
}

impl DesignConfig for FlattenedConfig {
    fn kind(&self) -> &'static str {
        "flattened"
    }
    fn title(&self) -> String {
        format!(
            "flattened ({}-level, {} merged)",
            self.levels,
            self.merge.join(", ")
        )
    }
    fn va_bits(&self) -> u32 {
        FlattenedConfig::va_bits(self)
    }
    /// Its walk caches are checked as a radix table's; it has no `bits_per_level`.
    fn radix_bits(&self) -> Vec<u32> {
        Vec::new()
    }
    fn walk_cache_levels(&self) -> u32 {
        self.levels
    }
    /// 9-bit levels: a leaf at level 1, 2 or 3 maps 4K, 2M or 1G pages.
    fn page_size_problem(&self, _size: PageSize) -> Option<String> {
        None
    }
    fn problems(&self, os: &OsConfig) -> Vec<(String, String)> {
        under_page_table(self.validate(os))
    }
}

/// The conventional x86-64 name of level `level` (1 = leaf).
pub fn level_name(level: usize) -> String {
    match level {
        1 => "PT".into(),
        2 => "PD".into(),
        3 => "PDPT".into(),
        4 => "PML4".into(),
        5 => "PML5".into(),
        l => format!("L{l}"),
    }
}

/// The name of the node covering levels `top` down to `bottom` ("PD+PT" when merged).
pub fn node_name(top: usize, bottom: usize) -> String {
    if top == bottom {
        level_name(top)
    } else {
        format!("{}+{}", level_name(top), level_name(bottom))
    }
}

#[derive(Clone, Copy, Debug)]
struct Node {
    /// First slot in `entries`.
    base: usize,
    paddr: u64,
    /// Highest level the node resolves.
    top: u8,
    /// Levels it resolves: 2 when merged, else 1.
    span: u8,
}

impl Node {
    #[inline(always)]
    fn bottom(&self) -> usize {
        (self.top + 1 - self.span) as usize
    }
    /// Entries: 512, or 2^18 when merged.
    #[inline(always)]
    fn slots(&self) -> usize {
        1 << (BITS * self.span as u32)
    }
    fn bytes(&self) -> u64 {
        8 * self.slots() as u64
    }
}

pub struct Flattened {
    levels: usize,
    /// Bit `t` set: a node whose top level is `t` is merged with level `t - 1` when a
    /// 2 MiB block is free.
    merged_tops: u32,
    nodes: Vec<Node>,
    entries: Vec<u64>,
    table_bytes: u64,
    released: usize,
    /// Nodes allocated as 2 MiB merged nodes.
    merged_nodes: u64,
    /// Nodes that should have been merged but fell back to a 4 KiB table (no free 2 MiB block).
    fallbacks: u64,
}

/// VA shift of the index of level `level` (1 = leaf: 12).
#[inline(always)]
fn shift(level: usize) -> u32 {
    12 + BITS * (level as u32 - 1)
}

#[inline(always)]
fn leaf_entry(frame: u64, level: usize) -> u64 {
    frame | (level as u64) << 1 | 1
}

#[inline(always)]
fn leaf_level(e: u64) -> usize {
    ((e >> 1) & 7) as usize
}

#[inline(always)]
fn child_of(e: u64) -> usize {
    ((e >> 1) - 1) as usize
}

fn size_of_level(level: usize) -> PageSize {
    match level {
        2 => PageSize::Size2M,
        3 => PageSize::Size1G,
        _ => PageSize::Size4K,
    }
}

impl Flattened {
    /// An empty table of `cfg`'s geometry: allocates the root (merged if a 2 MiB block is free).
    pub fn new(cfg: &FlattenedConfig, frames: &mut FrameAllocator) -> Result<Flattened, SimError> {
        Flattened::with(cfg.levels as usize, cfg.merged_tops(), frames)
    }

    fn with(
        levels: usize,
        merged_tops: u32,
        frames: &mut FrameAllocator,
    ) -> Result<Flattened, SimError> {
        if !(2..=MAX_LEVELS).contains(&levels) {
            return Err(SimError(format!(
                "a flattened table has 2 to {MAX_LEVELS} levels, not {levels}"
            )));
        }
        let mut t = Flattened {
            levels,
            merged_tops,
            nodes: Vec::new(),
            entries: Vec::new(),
            table_bytes: 0,
            released: 0,
            merged_nodes: 0,
            fallbacks: 0,
        };
        t.new_node(levels, frames)?;
        Ok(t)
    }

    /// A node whose top level is `top`: merged with the level below when the pair is
    /// configured and a free 2 MiB block exists, else a 4 KiB table of level `top`.
    fn new_node(&mut self, top: usize, frames: &mut FrameAllocator) -> Result<u32, SimError> {
        let mut span = 1;
        let paddr = if self.merged_tops >> top & 1 == 1 {
            match frames.try_alloc_free(PageSize::Size2M) {
                Some(pa) => {
                    span = 2;
                    self.merged_nodes += 1;
                    pa
                }
                None => {
                    self.fallbacks += 1;
                    frames.alloc(PageSize::Size4K)?
                }
            }
        } else {
            frames.alloc(PageSize::Size4K)?
        };
        let node = Node {
            base: self.entries.len(),
            paddr,
            top: top as u8,
            span,
        };
        self.entries.resize(node.base + node.slots(), 0);
        self.table_bytes += node.bytes();
        self.nodes.push(node);
        Ok((self.nodes.len() - 1) as u32)
    }

    /// Index of `vaddr` in node `n`: the bits of all the levels it resolves.
    #[inline(always)]
    fn index(n: &Node, vaddr: u64) -> usize {
        (vaddr >> shift(n.bottom())) as usize & (n.slots() - 1)
    }

    /// Nodes in use (merged or not).
    pub fn tables(&self) -> usize {
        self.nodes.len() - self.released
    }

    /// Merged nodes allocated and fallbacks so far.
    pub fn merge_counts(&self) -> (u64, u64) {
        (self.merged_nodes, self.fallbacks)
    }

    /// The entry that maps `vaddr` (its node and slot) and the entry's value, following
    /// the tree without recording anything; `None` where a node is missing.
    #[inline(always)]
    fn lookup(&self, vaddr: u64) -> (usize, usize, u64) {
        let mut node = 0usize;
        loop {
            let n = &self.nodes[node];
            let idx = Self::index(n, vaddr);
            let e = self.entries[n.base + idx];
            if e == 0 || e & 1 == 1 || n.bottom() == 1 {
                return (node, idx, e);
            }
            node = child_of(e);
        }
    }

    /// Whether node `node` and everything below it map nothing.
    fn subtree_empty(&self, node: usize) -> bool {
        let n = self.nodes[node];
        self.entries[n.base..n.base + n.slots()]
            .iter()
            .all(|&e| e == 0 || (e & 1 == 0 && n.bottom() > 1 && self.subtree_empty(child_of(e))))
    }

    /// Gives the frames of an empty subtree back (arena slots are not reused: a walk
    /// cache may still name the node until the caller flushes it).
    fn release(&mut self, node: usize, frames: &mut FrameAllocator) -> Result<(), SimError> {
        let n = self.nodes[node];
        for i in 0..n.slots() {
            let e = self.entries[n.base + i];
            if e & 1 == 1 || (e != 0 && n.bottom() == 1) {
                return Err(SimError(format!(
                    "internal: releasing a flattened node that still maps a page (level {})",
                    n.top
                )));
            }
            if e != 0 {
                self.entries[n.base + i] = 0;
                self.release(child_of(e), frames)?;
            }
        }
        let size = if n.span == 2 {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        frames.free(n.paddr, size)?;
        self.table_bytes -= n.bytes();
        self.released += 1;
        Ok(())
    }

    /// Writes leaf `leaf` into `slots` of node `n` (one slot, or the 512 of a page whose
    /// leaf level is the node's upper level), releasing empty tables they pointed to.
    fn put_leaf(
        &mut self,
        n: Node,
        slots: std::ops::Range<usize>,
        leaf: u64,
        vaddr: u64,
        size: PageSize,
        frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        let mut freed = false;
        for i in slots.clone() {
            let e = self.entries[n.base + i];
            if e == 0 {
                continue;
            }
            // A huge page may replace a table whose mappings were all removed (a collapse,
            // as khugepaged frees the PTE page); anything else is a bug.
            if e & 1 == 1 || n.bottom() == 1 || !self.subtree_empty(child_of(e)) {
                return Err(SimError(format!(
                    "{vaddr:#x}: the {size} entry is already in use"
                )));
            }
        }
        for i in slots {
            let e = self.entries[n.base + i];
            if e != 0 {
                self.release(child_of(e), frames)?;
                freed = true;
            }
            self.entries[n.base + i] = leaf;
        }
        Ok(MapOutcome {
            evicted: None,
            freed_tables: freed,
        })
    }

    /// The address split for `mmusim explain`: one line per node level of `cfg` (merged
    /// pairs as one 18-bit field) with the index of `va`.
    pub fn split_lines(cfg: &FlattenedConfig, va: u64) -> Vec<String> {
        let tops = cfg.merged_tops();
        let mut out = Vec::new();
        let mut top = cfg.levels as usize;
        while top >= 1 {
            let span = if tops >> top & 1 == 1 { 2 } else { 1 };
            let bottom = top + 1 - span;
            let lo = shift(bottom);
            let hi = shift(top) + BITS - 1;
            let idx = (va >> lo) & ((1u64 << (BITS * span as u32)) - 1);
            let what = if span == 2 {
                format!(
                    "one read in a merged 2 MiB node of {} entries (where no 2 MiB block was free: a 4 KiB {} table, then a 4 KiB {} table)",
                    1u64 << (2 * BITS),
                    level_name(top),
                    level_name(bottom)
                )
            } else {
                "a 4 KiB table of 512 entries".into()
            };
            out.push(format!(
                "{:<9} index  bits [{hi}:{lo}] = {idx:#07x} ({idx}): {what}",
                node_name(top, bottom)
            ));
            top = bottom - 1;
        }
        out
    }
}

impl Mappable for Flattened {
    fn new_space(&self, frames: &mut FrameAllocator) -> Result<Flattened, SimError> {
        Flattened::with(self.levels, self.merged_tops, frames)
    }

    fn release_space(&mut self, frames: &mut FrameAllocator) -> Result<(), SimError> {
        if self.tables() > 0 {
            self.release(0, frames)?;
        }
        Ok(())
    }

    fn translate(&self, _asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        let (_, _, e) = self.lookup(vaddr);
        (e & 1 == 1).then(|| Translation {
            frame: PhysAddr(e & !0xfff),
            size: size_of_level(leaf_level(e)),
        })
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
        let leaf = ((size.shift() - 12) / BITS + 1) as usize;
        if leaf > self.levels.min(3) {
            return Err(SimError(format!(
                "this flattened table has no level that maps {size} pages"
            )));
        }
        let entry = leaf_entry(frame, leaf);
        let mut node = 0usize;
        loop {
            let n = self.nodes[node];
            let idx = Self::index(&n, vaddr);
            if leaf >= n.bottom() {
                // The leaf is in this node: one slot at its lower level, 512 at its upper.
                let per = 1usize << (BITS * (leaf - n.bottom()) as u32);
                let first = idx & !(per - 1);
                return self.put_leaf(n, first..first + per, entry, vaddr, size, frames);
            }
            let e = self.entries[n.base + idx];
            if e & 1 == 1 {
                return Err(SimError(format!(
                    "{vaddr:#x} is already inside a {} page",
                    size_of_level(leaf_level(e))
                )));
            }
            node = if e == 0 {
                let child = self.new_node(n.bottom() - 1, frames)?;
                self.entries[n.base + idx] = (child as u64 + 1) << 1;
                child as usize
            } else {
                child_of(e)
            };
        }
    }

    fn unmap(&mut self, _asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        let (node, idx, e) = self.lookup(vaddr);
        if e & 1 == 0 {
            return None;
        }
        let n = self.nodes[node];
        let per = 1usize << (BITS * (leaf_level(e) - n.bottom()) as u32);
        let first = n.base + (idx & !(per - 1));
        self.entries[first..first + per].fill(0);
        Some(Translation {
            frame: PhysAddr(e & !0xfff),
            size: size_of_level(leaf_level(e)),
        })
    }

    fn mappings(&self, _asid: u16) -> Option<Vec<(VirtAddr, PhysAddr, PageSize)>> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, 0u64)];
        while let Some((node, va)) = stack.pop() {
            let n = self.nodes[node];
            for i in 0..n.slots() {
                let e = self.entries[n.base + i];
                let a = va | (i as u64) << shift(n.bottom());
                if e & 1 == 1 {
                    // A replicated leaf is listed once, at its first slot.
                    let per = 1usize << (BITS * (leaf_level(e) - n.bottom()) as u32);
                    if i % per == 0 {
                        out.push((
                            VirtAddr(a),
                            PhysAddr(e & !0xfff),
                            size_of_level(leaf_level(e)),
                        ));
                    }
                } else if e != 0 {
                    stack.push((child_of(e), a));
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
        let merged: Vec<String> = (1..=self.levels)
            .rev()
            .filter(|t| self.merged_tops >> t & 1 == 1)
            .map(|t| format!("L{t}+L{}", t - 1))
            .collect();
        serde_json::json!({
            "design": "flattened",
            "levels": self.levels,
            "merge": merged,
            "tables": self.tables(),
            "merged_nodes": self.merged_nodes,
            "fallbacks": self.fallbacks,
            "bytes": self.table_bytes,
        })
    }
}

impl Walkable for Flattened {
    fn levels(&self) -> usize {
        self.levels
    }

    fn level_shift(&self, level: usize) -> u32 {
        shift(level.max(1))
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
        // A start names the node; the node knows which levels it resolves.
        let mut node = start.map_or(0, |s| s.node as usize);
        loop {
            let n = &self.nodes[node];
            let idx = Self::index(n, vaddr);
            let e = self.entries[n.base + idx];
            // The entry is the node's lowest level's (what a walk cache of that level holds).
            let level = n.bottom() as u8;
            let pte_addr = PhysAddr(n.paddr + idx as u64 * 8);
            if e == 0 || e & 1 == 1 {
                steps.push(WalkStep {
                    level,
                    pte_addr,
                    next: NO_NODE,
                    group: level,
                });
                return (e != 0).then(|| Translation {
                    frame: PhysAddr(e & !0xfff),
                    size: size_of_level(leaf_level(e)),
                });
            }
            let child = child_of(e) as u32;
            steps.push(WalkStep {
                level,
                pte_addr,
                next: child,
                group: level,
            });
            if level == 1 {
                return None;
            }
            node = child as usize;
        }
    }

    fn has_levels(&self) -> bool {
        true
    }

    #[inline(always)]
    fn leaf_lines(&self, _asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let vaddr = vaddr.0;
        let (node, idx, e) = self.lookup(vaddr);
        if e & 1 == 0 {
            return None;
        }
        let size = size_of_level(leaf_level(e));
        let pte = self.nodes[node].paddr + idx as u64 * 8;
        Some((
            PhysAddr(pte),
            PhysAddr((e & !0xfff) + (vaddr & (size.bytes() - 1))),
        ))
    }
}

impl Teachable for Flattened {
    fn node_paddr(&self, node: u32) -> Option<PhysAddr> {
        self.nodes.get(node as usize).map(|n| PhysAddr(n.paddr))
    }

    fn index_parts(&self, _asid: u16, vaddr: VirtAddr, _size: PageSize) -> Vec<IndexPart> {
        let vaddr = vaddr.0;
        // The nodes a walk of `vaddr` reads now (merged or fallen back), root first.
        let mut out = Vec::new();
        let mut node = 0usize;
        loop {
            let n = self.nodes[node];
            let idx = Self::index(&n, vaddr);
            let e = self.entries[n.base + idx];
            out.push(IndexPart {
                name: format!("{} index", node_name(n.top as usize, n.bottom())),
                how: if n.span == 2 {
                    format!(
                        "VA bits [{}:{}], the entry read in a merged 2 MiB node",
                        shift(n.top as usize) + BITS - 1,
                        shift(n.bottom())
                    )
                } else {
                    format!(
                        "VA bits [{}:{}], the entry read in a 4 KiB table",
                        shift(n.top as usize) + BITS - 1,
                        shift(n.bottom())
                    )
                },
                value: idx as u64,
                of: n.slots() as u64,
                paddr: PhysAddr(n.paddr + idx as u64 * 8),
            });
            if e == 0 || e & 1 == 1 || n.bottom() == 1 {
                return out;
            }
            node = child_of(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrameAlloc;

    #[test]
    fn pairs_parse_and_validate() {
        assert_eq!(parse_pair("L4+L3"), Some(4));
        assert_eq!(parse_pair(" l2 + L1 "), Some(2));
        assert_eq!(parse_pair("L3+L1"), None);
        assert_eq!(parse_pair("L1+L0"), None);
        assert_eq!(parse_pair("L2L1"), None);
        let os = OsConfig::with_memory(1 << 30);
        let bad = |merge: &[&str], levels| {
            FlattenedConfig {
                levels,
                merge: merge.iter().map(|s| s.to_string()).collect(),
            }
            .validate(&os)
        };
        assert!(bad(&["L4+L3", "L2+L1"], 4).is_empty());
        assert!(bad(&["L3+L2"], 4).is_empty());
        assert!(bad(&[], 5).is_empty());
        assert_eq!(bad(&["L4+L3", "L3+L2"], 4)[0].0, "merge[1]");
        assert_eq!(bad(&["L5+L4"], 4)[0].0, "merge[0]");
        assert_eq!(bad(&["x"], 4)[0].0, "merge[0]");
        assert_eq!(bad(&[], 3)[0].0, "levels");
    }

    #[test]
    fn a_2m_page_fills_512_entries_of_a_merged_node_and_unmaps_whole() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 0);
        let mut t = Flattened::new(&FlattenedConfig::default(), &mut f).unwrap();
        let va = 0x4060_0000u64; // 1 GiB + 6 MiB: 2M-aligned
        t.map(
            1,
            VirtAddr(va),
            PageSize::Size2M,
            PhysAddr(0x20_0000),
            &mut f,
        )
        .unwrap();
        let lower = t.nodes[1];
        assert_eq!((lower.top, lower.span), (2, 2));
        let first = Flattened::index(&lower, va);
        assert_eq!(first, 3 * 512);
        let filled: Vec<usize> = (0..1 << 18)
            .filter(|&i| t.entries[lower.base + i] != 0)
            .collect();
        assert_eq!(filled, (first..first + 512).collect::<Vec<_>>());
        // Every 4K page of it translates to the 2M frame; the first one past does not.
        for off in [0, 0x1000, 0x1f_f000 + 0xfff] {
            let tr = t.translate(1, VirtAddr(va + off)).unwrap();
            assert_eq!((tr.frame, tr.size), (PhysAddr(0x20_0000), PageSize::Size2M));
        }
        assert!(t.translate(1, VirtAddr(va + (2 << 20))).is_none());
        assert_eq!(
            t.mappings(1).unwrap(),
            vec![(VirtAddr(va), PhysAddr(0x20_0000), PageSize::Size2M)]
        );
        // A 4K page inside it is refused; unmapping any address inside clears all 512.
        assert!(t
            .map(
                1,
                VirtAddr(va + 0x5000),
                PageSize::Size4K,
                PhysAddr(0x9000),
                &mut f
            )
            .is_err());
        assert_eq!(
            t.unmap(1, VirtAddr(va + 0x7000)).unwrap().size,
            PageSize::Size2M
        );
        assert!((0..1 << 18).all(|i| t.entries[lower.base + i] == 0));
        // Then 4K pages may go there, and a 2M page cannot go over one of them.
        t.map(
            1,
            VirtAddr(va + 0x5000),
            PageSize::Size4K,
            PhysAddr(0x9000),
            &mut f,
        )
        .unwrap();
        assert!(t
            .map(
                1,
                VirtAddr(va),
                PageSize::Size2M,
                PhysAddr(0x20_0000),
                &mut f
            )
            .is_err());
    }

    #[test]
    fn release_space_gives_every_node_back() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Sequential, 0);
        let before = f.bytes_in_use;
        let mut t = Flattened::new(&FlattenedConfig::default(), &mut f).unwrap();
        for va in [0x1000u64, 0x4000_0000, 0x80_0000_0000] {
            t.map(1, VirtAddr(va), PageSize::Size4K, PhysAddr(0x7000), &mut f)
                .unwrap();
        }
        // The merged root covers all 48 bits; each 1 GiB region gets a merged L2+L1 node.
        assert_eq!(t.merge_counts(), (4, 0));
        assert_eq!(t.table_bytes(), 4 * (2 << 20));
        assert_eq!(f.bytes_in_use - before, 4 * (2 << 20));
        for va in [0x1000u64, 0x4000_0000, 0x80_0000_0000] {
            t.unmap(1, VirtAddr(va)).unwrap();
        }
        t.release_space(&mut f).unwrap();
        assert_eq!(
            (t.tables(), t.table_bytes(), f.bytes_in_use),
            (0, 0, before)
        );
    }
}
