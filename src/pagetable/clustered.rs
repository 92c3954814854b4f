//! Clustered hashed page table with open addressing, after Yaniv and Tsafrir, "Hash,
//! Don't Cache (the Page Table)", SIGMETRICS 2016 (clustering itself: Talluri, Hill and
//! Khalidi, "A New Page Table for 64-bit Address Spaces", SOSP 1995).
//!
//! Owns one global table for every address space (`SHARED`), placed in simulated
//! physical memory as one [`PhysArray`] of `entries` entries. An entry holds the PTEs of
//! `cluster` consecutive virtual pages of one size (8 bytes each: `cluster x 8` bytes, one
//! 64-byte line by default), tagged with (asid, page size, vpn / cluster). As in the
//! paper, the tag costs no space of its own: it lives in the PTE bits the frame number and
//! flags leave unused (8 PTEs x 11 spare bits hold a 16-bit asid, 2 size bits and a
//! 42-bit cluster number). Entries are line aligned; a line holds `8 / cluster` of them.
//! (Smaller clusters have fewer spare bits than a tag needs; the model still counts
//! `cluster x 8` bytes an entry, a simplification that favours them slightly.)
//!
//! Footprint: `entries x cluster x 8` bytes (tested exactly), fixed at construction.
//!
//! In: `map`/`unmap` from the OS model, `walk` from the walker. Out: one [`WalkStep`]
//! per cache line read (level 0, `next` = [`NO_NODE`], each its own group).
//!
//! Choices:
//! - **Open addressing, linear probing over cache lines**, not chaining: the paper's point
//!   is that a hashed table beats a radix tree only if a lookup is usually one cache-line
//!   read with no pointer to chase, so collisions move to the *next line* (whose address
//!   is known without reading anything), and clustering makes the line serve 8 pages of
//!   spatial locality. A walk reads the home line `hash(asid, vpn / cluster) mod lines`;
//!   if it holds the tag, the PTE is there (present or not); if not, and the line has a
//!   free entry, the cluster is not in the table; if the line is full, the walk reads the
//!   next line. Each read is its own group: the walker learns it needs the next line
//!   only when the previous one misses (an adjacent-line prefetch would overlap them; not
//!   modelled).
//! - **Deletion by backward shift** (Knuth, TAOCP vol. 3, 6.4, Algorithm R, generalised
//!   to lines): when an entry's last PTE is unmapped the entry leaves and later entries
//!   of the probe run move back, so probe lengths stay exactly those of a table built
//!   from scratch (no tombstones).
//! - **Sizing**: `entries = next_pow2(ceil(frames / (cluster x max_load)))` (or the
//!   `entries` given): memory full of densely mapped pages fills at most `max_load` of the
//!   table. `map` **refuses** (an error, the run stops) a new cluster that would push the
//!   load above `max_load` (default 0.5, where linear probing's successful search averages
//!   1.5 probes (Knuth)), naming `page_table.entries` and `page_table.max_load`: sparse
//!   mappings (one page per cluster) need up to `cluster` times more entries than dense
//!   ones. Resizing would move the table to new frames and rehash; not modelled.
//! - Page sizes share the table, the size folded into tag and hash (clusters of 8 2M pages
//!   for 2M). A walk probes the sizes that hold a mapping (4K alone when none does):
//!   `sequential` 4K, 2M, 1G until a hit; `parallel` the home lines of all of them in one
//!   group, then the runs in lockstep until the round that hits (see
//!   [`super::hashed::probe_sizes`]). Overlapping mappings of different sizes are refused.

use super::hashed::{
    fold, hash, hist_json, pack_key, phys_contains, probe_sizes, probed_sizes, unpack_key,
    HashKind, HugeProbe, HIST, HOST_LIMIT, VPN_BITS,
};
use super::{
    IndexPart, MapOutcome, Mappable, PhysArray, Teachable, Translation, WalkStart, WalkStep,
    Walkable, NO_NODE,
};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use serde::{Deserialize, Serialize};
use std::cell::Cell;

/// Bytes of one PTE.
pub const PTE_BYTES: u64 = 8;
/// Bytes of a cache line (what one probe reads).
const LINE: u64 = 64;

/// Configuration of this design (`[page_table]` with `kind = "clustered"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusteredConfig {
    #[serde(default)]
    pub hash: HashKind,
    #[serde(default)]
    pub huge: HugeProbe,
    /// PTEs per entry (consecutive virtual pages): 1, 2, 4 or 8.
    #[serde(default = "eight")]
    pub cluster: u32,
    /// Most entries in use as a fraction of all; a new cluster beyond it is refused.
    #[serde(default = "half")]
    pub max_load: f64,
    /// Entries (a power of two); default: enough for all of memory, densely mapped, at
    /// `max_load`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
}

fn eight() -> u32 {
    8
}
fn half() -> f64 {
    0.5
}

impl Default for ClusteredConfig {
    fn default() -> Self {
        ClusteredConfig {
            hash: HashKind::default(),
            huge: HugeProbe::default(),
            cluster: 8,
            max_load: 0.5,
            entries: None,
        }
    }
}

impl ClusteredConfig {
    /// Entries of the table for `os` (assumes a valid `cluster` and `max_load`).
    pub fn entries_for(&self, os: &OsConfig) -> u64 {
        let per_line = LINE / (self.cluster as u64 * PTE_BYTES);
        self.entries.unwrap_or_else(|| {
            let frames = os.phys_mem.0 / 4096;
            ((frames as f64 / (self.cluster as f64 * self.max_load)).ceil() as u64)
                .max(per_line)
                .next_power_of_two()
        })
    }

    /// Problems as (key under `page_table.`, message).
    pub fn validate(&self, os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if ![1, 2, 4, 8].contains(&self.cluster) {
            e.push((
                "cluster".into(),
                format!(
                    "must be 1, 2, 4 or 8 PTEs (an entry within one 64-byte line), not {}",
                    self.cluster
                ),
            ));
        }
        if !(self.max_load.is_finite() && (0.05..=0.95).contains(&self.max_load)) {
            e.push((
                "max_load".into(),
                format!("must be from 0.05 to 0.95, not {}", self.max_load),
            ));
        }
        if !e.is_empty() {
            return e;
        }
        let per_line = LINE / (self.cluster as u64 * PTE_BYTES);
        let entries = self.entries_for(os);
        if !entries.is_power_of_two() || entries < per_line || entries > 1 << 32 {
            e.push((
                "entries".into(),
                format!("must be a power of two from {per_line} (one line) to 2^32, not {entries}"),
            ));
            return e;
        }
        let bytes = entries * self.cluster as u64 * PTE_BYTES;
        if bytes > os.phys_mem.0 / 2 {
            e.push((
                "entries".into(),
                format!(
                    "{entries} entries take {} MiB, more than half of os.phys_mem ({})",
                    bytes >> 20,
                    os.phys_mem
                ),
            ));
        }
        // Host side: an 8-byte tag and the PTEs of each entry.
        let host = entries * (8 + self.cluster as u64 * 8);
        if host > HOST_LIMIT {
            e.push((
                "entries".into(),
                format!(
                    "{entries} entries need {} MiB of host memory to simulate; the limit is {} GiB",
                    host >> 20,
                    HOST_LIMIT >> 30
                ),
            ));
        }
        e
    }
}

super::hashed::hashed_design_config!(ClusteredConfig, "clustered", "clustered hashed");

pub struct Clustered {
    hash: HashKind,
    huge: HugeProbe,
    /// PTEs per entry and its log2.
    cluster: u64,
    cluster_shift: u32,
    /// Entries per line.
    per_line: usize,
    /// log2 of the number of lines.
    line_bits: u32,
    max_load: f64,
    /// Most entries in use (`floor(max_load x entries)`).
    limit: u64,
    /// Entry tags ([`pack_key`] of the cluster number; 0: free).
    tags: Vec<u64>,
    /// PTEs, `cluster` per entry: `frame | 1`, or 0 when not present.
    ptes: Vec<u64>,
    table: PhysArray,
    /// Entries in use, and per page size.
    used: u64,
    clusters: [u64; 3],
    /// Pages mapped per size.
    mapped: [u64; 3],
    /// Successful walks by lines read (of the size that hit).
    hit_hist: [Cell<u64>; HIST + 1],
    failed_walks: Cell<u64>,
}

/// What a probe of one line found.
enum Line {
    Found(usize),
    /// The tag is not there and the line has a free entry: the probe ends.
    Absent,
    /// The tag is not there and the line is full: the probe goes on.
    Full,
}

impl Clustered {
    pub fn new(
        cfg: &ClusteredConfig,
        os: &OsConfig,
        frames: &mut FrameAllocator,
    ) -> Result<Clustered, SimError> {
        if let Some((k, m)) = cfg.validate(os).into_iter().next() {
            return Err(SimError(format!("page_table.{k}: {m}")));
        }
        let cluster = cfg.cluster as u64;
        let entries = cfg.entries_for(os);
        let per_line = (LINE / (cluster * PTE_BYTES)) as usize;
        let lines = entries / per_line as u64;
        let table = PhysArray::new(entries * cluster * PTE_BYTES, frames)?;
        Ok(Clustered {
            hash: cfg.hash,
            huge: cfg.huge,
            cluster,
            cluster_shift: cluster.trailing_zeros(),
            per_line,
            line_bits: lines.trailing_zeros(),
            max_load: cfg.max_load,
            limit: (cfg.max_load * entries as f64).floor() as u64,
            tags: vec![0; entries as usize],
            ptes: vec![0; (entries * cluster) as usize],
            table,
            used: 0,
            clusters: [0; 3],
            mapped: [0; 3],
            hit_hist: std::array::from_fn(|_| Cell::new(0)),
            failed_walks: Cell::new(0),
        })
    }

    /// Number of entries.
    pub fn entries(&self) -> u64 {
        self.tags.len() as u64
    }

    fn lines(&self) -> usize {
        1 << self.line_bits
    }

    /// Physical address of line `l`.
    pub fn line_addr(&self, l: usize) -> u64 {
        self.table.addr(l as u64 * LINE)
    }

    /// Whether `paddr` lies inside the table.
    pub fn contains(&self, paddr: u64) -> bool {
        phys_contains(&self.table, paddr)
    }

    /// Home line of a cluster.
    #[inline(always)]
    fn home(&self, asid: u16, size: PageSize, cv: u64) -> usize {
        hash(self.hash, asid, fold(size, cv), self.line_bits) as usize
    }

    fn home_of(&self, tag: u64) -> usize {
        let (asid, size, cv) = unpack_key(tag);
        self.home(asid, size, cv)
    }

    /// (tag, home line, PTE index inside the entry) of `vaddr` as a page of `size`.
    #[inline(always)]
    fn locate(&self, asid: u16, vaddr: u64, size: PageSize) -> (u64, usize, usize) {
        let vpn = vaddr >> size.shift();
        let cv = vpn >> self.cluster_shift;
        let tag = pack_key(asid, size, cv);
        (
            tag,
            self.home(asid, size, cv),
            (vpn & (self.cluster - 1)) as usize,
        )
    }

    #[inline(always)]
    fn scan(&self, line: usize, tag: u64) -> Line {
        let first = line * self.per_line;
        let mut free = false;
        for j in first..first + self.per_line {
            let t = self.tags[j];
            if t == tag {
                return Line::Found(j);
            }
            free |= t == 0;
        }
        if free {
            Line::Absent
        } else {
            Line::Full
        }
    }

    /// The entry of a cluster (host search): its index and the lines a probe reads.
    fn find(&self, tag: u64, home: usize) -> Option<(usize, usize)> {
        let mask = self.lines() - 1;
        let mut line = home;
        for n in 1..=self.lines() {
            match self.scan(line, tag) {
                Line::Found(j) => return Some((j, n)),
                Line::Absent => return None,
                Line::Full => line = (line + 1) & mask,
            }
        }
        None
    }

    /// The mapping of `vaddr` at any size: (size, entry, PTE index).
    fn lookup(&self, asid: u16, vaddr: u64) -> Option<(PageSize, usize, usize)> {
        PageSize::ALL
            .into_iter()
            .filter(|s| self.mapped[s.index()] > 0)
            .find_map(|s| {
                let (tag, home, sub) = self.locate(asid, vaddr, s);
                let (j, _) = self.find(tag, home)?;
                (self.ptes[j * self.cluster as usize + sub] != 0).then_some((s, j, sub))
            })
    }

    /// One size's probe as the walker issues it: the lines from home up to the one that
    /// holds the tag or has a free entry.
    #[inline(always)]
    fn probe(
        &self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let (tag, mut line, sub) = self.locate(asid, vaddr, size);
        let mask = self.lines() - 1;
        for n in 1..=self.lines() {
            steps.push(WalkStep {
                level: 0,
                pte_addr: PhysAddr(self.line_addr(line)),
                next: NO_NODE,
                group: 0,
            });
            match self.scan(line, tag) {
                Line::Found(j) => {
                    let pte = self.ptes[j * self.cluster as usize + sub];
                    if pte == 0 {
                        return None;
                    }
                    let h = &self.hit_hist[n.min(HIST)];
                    h.set(h.get() + 1);
                    return Some(Translation {
                        frame: PhysAddr(pte & !1),
                        size,
                    });
                }
                Line::Absent => return None,
                Line::Full => line = (line + 1) & mask,
            }
        }
        None
    }

    /// Whether mapping `size` at `vaddr` would overlap a page already mapped.
    fn overlaps(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        if self.lookup(asid, vaddr).is_some() {
            return true;
        }
        // Clusters of smaller pages inside the page (an entry leaves with its last PTE,
        // so a cluster present means a page mapped).
        PageSize::ALL[..size.index()]
            .iter()
            .filter(|t| self.mapped[t.index()] > 0)
            .any(|&t| {
                let first = (vaddr >> t.shift()) >> self.cluster_shift;
                let n = (size.bytes() >> t.shift()) >> self.cluster_shift;
                (first..first + n).any(|cv| {
                    self.find(pack_key(asid, t, cv), self.home(asid, t, cv))
                        .is_some()
                })
            })
    }

    /// Remove entry `j` and move later entries of its probe run back (backward shift).
    fn remove_entry(&mut self, j: usize) {
        let c = self.cluster as usize;
        let mask = self.lines() - 1;
        self.tags[j] = 0;
        self.ptes[j * c..(j + 1) * c].fill(0);
        let (mut hole, mut hole_line) = (j, j / self.per_line);
        let mut line = (hole_line + 1) & mask;
        while line != hole_line {
            let first = line * self.per_line;
            // A line with a free entry ends every probe run through it: entries beyond it
            // cannot depend on the hole's line being full (entries in it still can).
            let had_free = self.tags[first..first + self.per_line].contains(&0);
            // An entry here whose probe passed the hole's line moves into the hole.
            let mover = (first..first + self.per_line).find(|&e| {
                self.tags[e] != 0 && {
                    let h = self.home_of(self.tags[e]);
                    (hole_line.wrapping_sub(h) & mask) < (line.wrapping_sub(h) & mask)
                }
            });
            if let Some(e) = mover {
                self.tags[hole] = self.tags[e];
                self.tags[e] = 0;
                self.ptes.copy_within(e * c..(e + 1) * c, hole * c);
                self.ptes[e * c..(e + 1) * c].fill(0);
                hole = e;
                hole_line = line;
            }
            if had_free {
                break;
            }
            line = (line + 1) & mask;
        }
    }

    /// Lines each entry in use is from its home (1 = at home), summed, and as a
    /// histogram (index = lines; the last bucket 64 and more).
    fn probe_lengths(&self) -> (u64, Vec<u64>) {
        let mask = self.lines() - 1;
        let mut hist = vec![0u64; HIST + 1];
        let mut sum = 0;
        for (j, &t) in self.tags.iter().enumerate() {
            if t != 0 {
                let d = ((j / self.per_line).wrapping_sub(self.home_of(t)) & mask) + 1;
                sum += d as u64;
                hist[d.min(HIST)] += 1;
            }
        }
        (sum, hist)
    }

    /// Mean lines a successful search for an entry reads (0 when the table is empty).
    pub fn mean_probe_length(&self) -> f64 {
        if self.used == 0 {
            return 0.0;
        }
        self.probe_lengths().0 as f64 / self.used as f64
    }
}

impl Mappable for Clustered {
    const SHARED: bool = true;

    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        self.lookup(asid, vaddr).map(|(size, j, sub)| Translation {
            frame: PhysAddr(self.ptes[j * self.cluster as usize + sub] & !1),
            size,
        })
    }

    fn map(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        _frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        let (vaddr, frame) = (vaddr.0, frame.0);
        let vaddr = vaddr & !(size.bytes() - 1);
        if (vaddr >> size.shift()) >> VPN_BITS != 0 {
            return Err(SimError(format!(
                "{vaddr:#x} is beyond the 57-bit virtual addresses a clustered table keys"
            )));
        }
        if frame % size.bytes() != 0 {
            return Err(SimError(format!(
                "frame {frame:#x} is not aligned to {size}"
            )));
        }
        if self.overlaps(asid, vaddr, size) {
            return Err(SimError(format!(
                "{vaddr:#x} ({size}) overlaps a page already mapped in address space {asid}"
            )));
        }
        let (tag, home, sub) = self.locate(asid, vaddr, size);
        let c = self.cluster as usize;
        let j = match self.find(tag, home) {
            Some((j, _)) => j,
            None => {
                if self.used + 1 > self.limit {
                    return Err(SimError(format!(
                        "the clustered page table is full: {} of {} entries in use is its max_load ({}); raise page_table.entries or page_table.max_load (sparse mappings use up to {} times the entries of dense ones)",
                        self.used,
                        self.entries(),
                        self.max_load,
                        self.cluster
                    )));
                }
                // The first line from home with a free entry (there is one: load < 1).
                let mask = self.lines() - 1;
                let mut line = home;
                let j = loop {
                    let first = line * self.per_line;
                    if let Some(j) = (first..first + self.per_line).find(|&e| self.tags[e] == 0) {
                        break j;
                    }
                    line = (line + 1) & mask;
                };
                self.tags[j] = tag;
                self.used += 1;
                self.clusters[size.index()] += 1;
                j
            }
        };
        self.ptes[j * c + sub] = frame | 1;
        self.mapped[size.index()] += 1;
        Ok(MapOutcome::default())
    }

    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        let (size, j, sub) = self.lookup(asid, vaddr)?;
        let c = self.cluster as usize;
        let frame = self.ptes[j * c + sub] & !1;
        self.ptes[j * c + sub] = 0;
        self.mapped[size.index()] -= 1;
        if self.ptes[j * c..(j + 1) * c].iter().all(|&p| p == 0) {
            self.remove_entry(j);
            self.used -= 1;
            self.clusters[size.index()] -= 1;
        }
        Some(Translation {
            frame: PhysAddr(frame),
            size,
        })
    }

    fn table_bytes(&self) -> u64 {
        self.table.bytes()
    }

    fn stats(&self) -> serde_json::Value {
        let (sum, hist) = self.probe_lengths();
        let end = hist.iter().rposition(|&c| c > 0).map_or(0, |i| i + 1);
        let pages: u64 = self.mapped.iter().sum();
        serde_json::json!({
            "design": "clustered",
            "hash": self.hash,
            "huge": self.huge,
            "cluster": self.cluster,
            "entries": self.entries(),
            "entries_per_line": self.per_line,
            "lines": self.lines(),
            "entry_bytes": self.cluster * PTE_BYTES,
            "bytes": self.table_bytes(),
            "max_load": self.max_load,
            "entries_used": self.used,
            "entries_by_size": { "4K": self.clusters[0], "2M": self.clusters[1], "1G": self.clusters[2] },
            "pages_mapped": { "4K": self.mapped[0], "2M": self.mapped[1], "1G": self.mapped[2] },
            "load_factor": self.used as f64 / self.entries() as f64,
            // Pages per entry in use: how well clustering packs this workload.
            "pages_per_entry": if self.used == 0 { 0.0 } else { pages as f64 / self.used as f64 },
            // Snapshot: entries by lines a search for them reads (1 = at home).
            "entries_by_probe_length": hist[..end],
            "mean_probe_length": if self.used == 0 { 0.0 } else { sum as f64 / self.used as f64 },
            // Walks since the start (warm-up included): successful ones by lines read.
            "successful_walks_by_lines_read": hist_json(&self.hit_hist),
            "failed_walks": self.failed_walks.get(),
        })
    }
}

impl Walkable for Clustered {
    #[inline]
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        _start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let vaddr = vaddr.0;
        let found = probe_sizes(self.huge, &self.mapped, steps, |s, st| {
            self.probe(asid, vaddr, s, st)
        });
        if found.is_none() {
            self.failed_walks.set(self.failed_walks.get() + 1);
        }
        found
    }

    #[inline(always)]
    fn leaf_lines(&self, asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        let vaddr = vaddr.0;
        let (size, j, sub) = self.lookup(asid, vaddr)?;
        let c = self.cluster as usize;
        let pte = self.table.addr((j * c + sub) as u64 * PTE_BYTES);
        Some((
            PhysAddr(pte),
            PhysAddr((self.ptes[j * c + sub] & !1) + (vaddr & (size.bytes() - 1))),
        ))
    }

    #[inline(always)]
    fn prefetch(&self, asid: u16, vaddr: VirtAddr) -> u64 {
        let vaddr = vaddr.0;
        if let Some(s) = probed_sizes(&self.mapped).next() {
            let (_, home, _) = self.locate(asid, vaddr, s);
            super::prefetch_host(&self.tags[home * self.per_line]);
        }
        0
    }
}

impl Teachable for Clustered {
    fn index_parts(&self, asid: u16, vaddr: VirtAddr, size: PageSize) -> Vec<IndexPart> {
        let vaddr = vaddr.0;
        let (_, home, sub) = self.locate(asid, vaddr, size);
        let cv = (vaddr >> size.shift()) >> self.cluster_shift;
        vec![
            IndexPart {
                name: format!("home line ({size} pages)"),
                how: format!(
                    "{:?} hash of (asid {asid}, cluster VPN/{} = {cv:#x}, size) to {} bits",
                    self.hash, self.cluster, self.line_bits
                ),
                value: home as u64,
                of: self.lines() as u64,
                paddr: PhysAddr(self.line_addr(home)),
            },
            IndexPart {
                name: "PTE in its entry".into(),
                how: format!("VPN mod {}", self.cluster),
                value: sub as u64,
                of: self.cluster,
                paddr: PhysAddr(self.line_addr(home)),
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrameAlloc;
    use crate::pagetable::hashed::testing::{os, property};

    fn cfg(hash: HashKind, huge: HugeProbe, cluster: u32, entries: Option<u64>) -> ClusteredConfig {
        ClusteredConfig {
            hash,
            huge,
            cluster,
            max_load: 0.5,
            entries,
        }
    }

    fn reads(t: &Clustered, asid: u16, va: u64) -> (Option<Translation>, Vec<WalkStep>) {
        let mut steps = Vec::new();
        let r = t.walk(asid, VirtAddr(va), None, &mut steps);
        (r, steps)
    }

    #[test]
    fn config_defaults_and_validation() {
        let c: ClusteredConfig = toml::from_str("").unwrap();
        assert_eq!(c, ClusteredConfig::default());
        assert_eq!((c.cluster, c.max_load, c.entries), (8, 0.5, None));
        assert!(toml::from_str::<ClusteredConfig>("load = 0.5").is_err());
        assert!(c.validate(&os(1 << 30)).is_empty());
        let keys = |c: ClusteredConfig| -> Vec<String> {
            c.validate(&os(1 << 30))
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        };
        assert_eq!(
            keys(ClusteredConfig {
                cluster: 3,
                ..c.clone()
            }),
            ["cluster"]
        );
        assert_eq!(
            keys(ClusteredConfig {
                cluster: 16,
                ..c.clone()
            }),
            ["cluster"]
        );
        assert_eq!(
            keys(ClusteredConfig {
                max_load: 1.0,
                ..c.clone()
            }),
            ["max_load"]
        );
        assert_eq!(
            keys(ClusteredConfig {
                entries: Some(1000),
                ..c.clone()
            }),
            ["entries"]
        );
        // 2^23 entries of 64 bytes: 512 MiB, half of 1 GiB is the most.
        assert!(keys(ClusteredConfig {
            entries: Some(1 << 23),
            ..c.clone()
        })
        .is_empty());
        assert_eq!(
            keys(ClusteredConfig {
                entries: Some(1 << 24),
                ..c.clone()
            }),
            ["entries"]
        );
    }

    #[test]
    fn footprint_is_entries_x_cluster_x_8() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 1);
        let o = os(1 << 30);
        // 262144 frames: / (8 x 0.5) = 65536 entries of 64 bytes; / (2 x 0.5) = 262144
        // entries of 16 bytes (4 a line); explicitly 1024.
        for (c, entries, want_entries, bytes) in [
            (
                cfg(HashKind::Multiplicative, HugeProbe::Parallel, 8, None),
                65536,
                65536,
                65536 * 64,
            ),
            (
                cfg(HashKind::Multiplicative, HugeProbe::Parallel, 2, None),
                262144,
                262144,
                262144 * 16,
            ),
            (
                cfg(HashKind::Weak, HugeProbe::Parallel, 8, Some(1024)),
                1024,
                1024,
                1024 * 64,
            ),
        ] {
            let mut t = Clustered::new(&c, &o, &mut f).unwrap();
            assert_eq!(c.entries_for(&o), entries);
            assert_eq!(t.entries(), want_entries);
            assert_eq!(t.table_bytes(), bytes);
            assert_eq!(t.table_bytes(), t.entries() * c.cluster as u64 * 8);
            for k in 0..100u64 {
                t.map(
                    1,
                    VirtAddr(k << 12),
                    PageSize::Size4K,
                    PhysAddr((k + 1) << 12),
                    &mut f,
                )
                .unwrap();
            }
            assert_eq!(t.table_bytes(), bytes, "fixed, whatever is mapped");
            let s = t.stats();
            assert_eq!(s["bytes"], bytes);
            // 100 consecutive pages: ceil(100 / cluster) entries.
            assert_eq!(s["entries_used"], 100u64.div_ceil(c.cluster as u64));
        }
        let c = ClusteredConfig {
            max_load: 0.3,
            cluster: 1,
            ..ClusteredConfig::default()
        };
        assert_eq!(c.entries_for(&os(4 << 20)), 4096);
    }

    #[test]
    fn a_cluster_is_one_read_and_colliding_clusters_probe_the_next_lines() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 2);
        let mut t = Clustered::new(
            &cfg(HashKind::Weak, HugeProbe::Parallel, 8, Some(1024)),
            &os(1 << 30),
            &mut f,
        )
        .unwrap();
        // Eight consecutive pages: one entry, one line, one read each.
        let base = 0x7000_0000u64; // cluster number 0x7000_0000 >> 15 = 0xe000 -> home 0 ^ 1 = 1
        for k in 0..8u64 {
            t.map(
                1,
                VirtAddr(base + (k << 12)),
                PageSize::Size4K,
                PhysAddr((k + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        assert_eq!(t.used, 1);
        for k in 0..8u64 {
            let (tr, steps) = reads(&t, 1, base + (k << 12) + 5);
            assert_eq!(tr.unwrap().frame.0, (k + 1) << 12);
            assert_eq!(steps.len(), 1);
            assert_eq!(steps[0].pte_addr.0, t.line_addr(1));
        }
        // Clusters 1024 apart (cluster number = va >> 15) share home line 1: the k-th
        // lands k - 1 lines further and costs k reads.
        let coll = |k: u64| base + (k << 25);
        for k in 1..4u64 {
            t.map(
                1,
                VirtAddr(coll(k)),
                PageSize::Size4K,
                PhysAddr((k + 9) << 12),
                &mut f,
            )
            .unwrap();
        }
        for k in 0..4u64 {
            let (tr, steps) = reads(&t, 1, coll(k));
            assert!(tr.is_some());
            assert_eq!(steps.len() as u64, k + 1, "cluster {k}");
            for (n, s) in steps.iter().enumerate() {
                assert_eq!((s.pte_addr.0, s.group), (t.line_addr(1 + n), n as u8));
            }
        }
        // A page of a cluster in the table but not mapped: the probe stops at its line.
        let (tr, steps) = reads(&t, 1, coll(2) + 0x1000);
        assert_eq!((tr, steps.len()), (None, 3));
        // A cluster not in the table: the run (lines 1-4) and the free line 5.
        let (tr, steps) = reads(&t, 1, coll(4));
        assert_eq!((tr, steps.len()), (None, 5));
        // A cluster whose home (line 2) is inside the run goes after it (line 5): 4 reads.
        // Cluster number 0xe003: home 3 ^ 1 = 2.
        let x = base + (3 << 15);
        assert_eq!(t.locate(1, x, PageSize::Size4K).1, 2);
        t.map(
            1,
            VirtAddr(x),
            PageSize::Size4K,
            PhysAddr(0x40_0000),
            &mut f,
        )
        .unwrap();
        assert_eq!(reads(&t, 1, x).1.len(), 4);
        assert_eq!(t.mean_probe_length(), (1 + 2 + 3 + 4 + 4) as f64 / 5.0);
        // Unmapping all of cluster 0 removes its entry; backward shift moves clusters
        // 1-3 and x back by one line.
        for k in 0..8u64 {
            assert!(t.unmap(1, VirtAddr(base + (k << 12))).is_some());
        }
        assert_eq!(t.used, 4);
        for k in 1..4u64 {
            let (tr, steps) = reads(&t, 1, coll(k));
            assert_eq!(tr.unwrap().frame.0, (k + 9) << 12);
            assert_eq!(steps.len() as u64, k);
        }
        assert_eq!(reads(&t, 1, x).1.len(), 3);
        assert_eq!(t.mean_probe_length(), (1 + 2 + 3 + 3) as f64 / 4.0);
        assert_eq!(
            t.stats()["entries_by_probe_length"],
            serde_json::json!([0, 1, 1, 2])
        );
    }

    #[test]
    fn lines_of_several_entries_fill_before_probing_on() {
        // cluster 2: four 16-byte entries per line; clusters 4096 apart share a line.
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 3);
        let mut t = Clustered::new(
            &cfg(HashKind::Weak, HugeProbe::Parallel, 2, Some(4096)),
            &os(1 << 30),
            &mut f,
        )
        .unwrap();
        assert_eq!((t.per_line, t.lines()), (4, 1024));
        let va = |k: u64| (k * 1024 + 6) << 13; // cluster number k*1024 + 6 -> line 7
        for k in 0..6u64 {
            t.map(
                1,
                VirtAddr(va(k)),
                PageSize::Size4K,
                PhysAddr((k + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        let lens: Vec<usize> = (0..6).map(|k| reads(&t, 1, va(k)).1.len()).collect();
        assert_eq!(lens, [1, 1, 1, 1, 2, 2]);
        assert_eq!(reads(&t, 1, va(6)).1.len(), 2, "line 8 has free entries");
        // Removing one from line 7 pulls one back from line 8.
        t.unmap(1, VirtAddr(va(1))).unwrap();
        let lens: Vec<usize> = [0, 2, 3, 4, 5]
            .iter()
            .map(|&k| reads(&t, 1, va(k)).1.len())
            .collect();
        assert_eq!(lens.iter().filter(|&&n| n == 1).count(), 4);
        assert_eq!(lens.iter().filter(|&&n| n == 2).count(), 1);
        assert_eq!(reads(&t, 1, va(1)).0, None);
    }

    #[test]
    fn a_full_table_refuses_new_clusters() {
        let mut f = FrameAllocator::new(1 << 30, FrameAlloc::Shuffled, 4);
        let mut t = Clustered::new(
            &cfg(HashKind::Multiplicative, HugeProbe::Parallel, 8, Some(16)),
            &os(1 << 30),
            &mut f,
        )
        .unwrap();
        for k in 0..8u64 {
            t.map(
                1,
                VirtAddr(k << 15),
                PageSize::Size4K,
                PhysAddr(0x1000),
                &mut f,
            )
            .unwrap();
        }
        let e = t
            .map(
                1,
                VirtAddr(8 << 15),
                PageSize::Size4K,
                PhysAddr(0x1000),
                &mut f,
            )
            .unwrap_err();
        assert!(
            e.0.contains("full") && e.0.contains("page_table.entries"),
            "{e}"
        );
        // Pages of clusters already in the table still map.
        t.map(
            1,
            VirtAddr((3 << 15) + 0x1000),
            PageSize::Size4K,
            PhysAddr(0x2000),
            &mut f,
        )
        .unwrap();
        t.unmap(1, VirtAddr(0)).unwrap();
        t.map(
            1,
            VirtAddr(8 << 15),
            PageSize::Size4K,
            PhysAddr(0x1000),
            &mut f,
        )
        .unwrap();
    }

    #[test]
    fn random_map_unmap_agrees_with_a_hash_map() {
        for (hash, huge, cluster, entries, seed) in [
            (HashKind::Multiplicative, HugeProbe::Parallel, 8, None, 1),
            (HashKind::Weak, HugeProbe::Sequential, 8, Some(8192), 2),
            (HashKind::Weak, HugeProbe::Parallel, 2, Some(8192), 3),
            (
                HashKind::Multiplicative,
                HugeProbe::Sequential,
                1,
                Some(8192),
                4,
            ),
            (HashKind::Weak, HugeProbe::Parallel, 4, Some(16384), 5),
        ] {
            let mut f = FrameAllocator::new(16 << 30, FrameAlloc::Shuffled, seed);
            let mut t =
                Clustered::new(&cfg(hash, huge, cluster, entries), &os(16 << 30), &mut f).unwrap();
            property(&mut t, &mut f, 4000, seed, |t, a| t.contains(a));
            // Every entry in use is found from its home, and the counts add up.
            let pages: u64 = t.mapped.iter().sum();
            assert_eq!(t.stats()["pages_mapped"]["4K"], t.mapped[0]);
            assert!(t.used <= pages && pages <= t.used * cluster as u64);
            assert_eq!(t.clusters.iter().sum::<u64>(), t.used);
            for (j, &tag) in t.tags.iter().enumerate() {
                if tag != 0 {
                    assert_eq!(t.find(tag, t.home_of(tag)).map(|x| x.0), Some(j));
                    assert!(t.ptes[j * cluster as usize..(j + 1) * cluster as usize]
                        .iter()
                        .any(|&p| p != 0));
                }
            }
        }
    }

    #[test]
    fn walk_latency_is_reads_times_dram_without_caches_and_sizes_probe_as_configured() {
        use crate::memory::MemorySystem;
        use crate::walker::Walker;
        const DRAM: u64 = 100;
        for huge in [HugeProbe::Parallel, HugeProbe::Sequential] {
            let mut f = FrameAllocator::new(4 << 30, FrameAlloc::Shuffled, 9);
            let mut t = Clustered::new(
                &cfg(HashKind::Weak, huge, 8, Some(1024)),
                &os(4 << 30),
                &mut f,
            )
            .unwrap();
            let mut m = MemorySystem::dram_only(DRAM as u32);
            let mut w = Walker::new(&[], 0);
            // home4K(va) = ((va >> 15) ^ 1) mod 1024, home2M(va) = ((va >> 24) ^ 1) mod 1024.
            // Three colliding 4K clusters at home 8: the third costs 3 reads.
            let base = 0x10_0000_0000u64 + (9 << 15);
            for k in 0..3u64 {
                let fr = f.alloc(PageSize::Size4K).unwrap();
                t.map(
                    1,
                    VirtAddr(base + (k << 25)),
                    PageSize::Size4K,
                    PhysAddr(fr),
                    &mut f,
                )
                .unwrap();
            }
            let r = w.walk(0, 1, VirtAddr(base + (2 << 25)), &t, &mut m);
            assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (3, 3 * DRAM, 0));
            // B: a 2M page, 2M home 4, 4K home 513. A: a 4K page with B's 4K home (513),
            // its own 2M home (6) empty.
            let b = 0x40_0000_0000u64 + (5 << 24);
            let a = b + (1 << 25);
            let fa = f.alloc(PageSize::Size4K).unwrap();
            let fb = f.alloc(PageSize::Size2M).unwrap();
            t.map(1, VirtAddr(a), PageSize::Size4K, PhysAddr(fa), &mut f)
                .unwrap();
            t.map(1, VirtAddr(b), PageSize::Size2M, PhysAddr(fb), &mut f)
                .unwrap();
            assert_eq!(t.locate(1, b, PageSize::Size2M).1, 4);
            assert_eq!(t.locate(1, b, PageSize::Size4K).1, 513);
            assert_eq!(t.locate(1, a, PageSize::Size4K).1, 513);
            assert_eq!(t.locate(1, a, PageSize::Size2M).1, 6);
            let ra = w.walk(0, 1, VirtAddr(a + 8), &t, &mut m);
            let rb = w.walk(0, 1, VirtAddr(b + 0x1234), &t, &mut m);
            assert_eq!(ra.translation.unwrap().frame.0, fa);
            assert_eq!(rb.translation.unwrap().frame.0, fb);
            // Not mapped, with B's 4K home and B's 2M home.
            let rn = w.walk(0, 1, VirtAddr(b + (1 << 34)), &t, &mut m);
            assert_eq!(rn.translation, None);
            match huge {
                // A: lines 513 (hit) and 6 together. B: 513 (full, no) and 4 (hit)
                // together. Not mapped: 513 and 4, then 514 and 5 (free: both end).
                HugeProbe::Parallel => {
                    assert_eq!((ra.reads, ra.pte_cycles), (2, DRAM));
                    assert_eq!((rb.reads, rb.pte_cycles), (2, DRAM));
                    assert_eq!((rn.reads, rn.pte_cycles), (4, 2 * DRAM));
                }
                // A: 513. B: 513, 514 (free: not 4K), then 4. Not mapped: 513, 514, 4, 5.
                HugeProbe::Sequential => {
                    assert_eq!((ra.reads, ra.pte_cycles), (1, DRAM));
                    assert_eq!((rb.reads, rb.pte_cycles), (3, 3 * DRAM));
                    assert_eq!((rn.reads, rn.pte_cycles), (4, 4 * DRAM));
                }
            }
        }
    }

    #[test]
    fn whole_run_with_the_clustered_design() {
        let sets: Vec<String> = [
            "page_table={kind=\"clustered\"}",
            "workload.accesses=40000",
            // The default workload's 4 GiB heap, unpopulated and cut to fit 1 GiB.
            "workload.event=[]",
            // Every fault counted: the table's mapped pages equal the faults.
            "sim.warmup_accesses=0",
            "workload.generator.footprint=\"512MiB\"",
            "os.phys_mem=\"1GiB\"",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let inputs = crate::run::load_inputs(None, None, &sets).unwrap();
        let report = crate::run::simulate(&inputs, &mut |_, _| {}).unwrap();
        let j = serde_json::to_value(&report).unwrap();
        let stats = &j["stats"];
        // 262144 frames / (8 x 0.5): 65536 entries of 64 bytes.
        assert_eq!(stats["page_table_bytes"], 65536 * 64);
        let pt = &stats["page_tables"][0];
        assert_eq!(pt["design"], "clustered");
        assert_eq!(pt["pages_mapped"]["4K"], stats["total"]["minor_faults"]);
        assert!(stats["total"]["minor_faults"].as_u64().unwrap() > 1000);
    }
}
