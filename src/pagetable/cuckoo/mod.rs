//! Elastic cuckoo page table (Skarlatos, Kokolis, Xu, Torrellas, "Elastic Cuckoo Page
//! Tables: Rethinking Virtual Memory Translation for Parallelism", ASPLOS 2020): d-ary
//! cuckoo hashing whose d probes a walker issues in parallel, resized gradually.
//!
//! Owns one elastic cuckoo table (ECPT) per page size, each of `ways` arrays ("ways" or
//! "nests") placed in simulated physical memory ([`PhysArray`], one per way), the
//! rehashing state of a resize in progress, a seeded RNG for the random-walk insertion,
//! and its counters. In: `map`/`unmap` from the OS model; `walk` from the hardware walker.
//! Out: a walk's cache-line reads ([`WalkStep`]s at their physical addresses, `level` 0,
//! grouped by what is issued together) and the translation, or `None`. Nothing is ever
//! evicted (`restore` is never needed).
//!
//! Design choices:
//! - **Entries are clustered**, as in the paper: one entry is a 64-byte cache line holding
//!   the PTEs of 8 consecutive pages of one size (key: asid and page index / 8). Occupancy
//!   counts entries (lines), not PTEs. A walk reads, in each way, the line its key hashes
//!   to; the step's `pte_addr` is the PTE's own 8 bytes inside that line.
//! - **Hashing**: way `w` uses `hash_with_seed(kind, asid, page index / 8, bits, seed_w)`
//!   with a per-way seed; the table after a resize has one more index bit (its own hash).
//! - **Insertion** (random walk, bounded): if any of the d candidate slots is free, the
//!   entry goes there (first free way); otherwise it displaces the occupant of a random
//!   way (not the way the entry was itself just displaced from), which is reinserted the
//!   same way, at most `max_kicks` times. A failure starts a resize (or advances the one in
//!   progress) until the homeless entry fits.
//! - **Elastic resize**: when an insert leaves occupancy (entries / (d x entries per way))
//!   above `resize_threshold`, new ways of twice the size are allocated. Each way `w` has
//!   a rehash pointer `P_w`; every later insert first moves `rehash_per_insert` entries
//!   (round-robin over the ways, advancing `P_w` past empty slots for free) from the old
//!   table into the new one. Invariant (the paper's): an entry of way `w` is in the new
//!   table iff its old-table index in way `w` is below `P_w`. Lookups, insertions and
//!   displacements all choose the table of each way by that rule, so a lookup still reads
//!   exactly one line per way, d reads in all, during a resize too (per way either the old
//!   or the new table, as the pointer says). When every pointer reaches the end, the old
//!   ways are dropped (their simulated frames are not returned: the frame allocator has
//!   no free; `retired_bytes` counts them).
//! - **Page sizes**: one ECPT per size (the 4K one at construction, the others on their
//!   first mapping). Only sizes holding at least one page are probed (if no size is in
//!   use, the 4K ways are read). `huge = "parallel"`: all ways of all such sizes in one
//!   group (d reads per size); `"sequential"`: 4K, then 2M, then 1G, one group each,
//!   stopping at the hit.
//! - **Cuckoo walk cache (CWC)**, optional (`walk_cache_entries > 0`; off by default). A
//!   simplified form of the paper's cuckoo walk tables (CWTs) and their cache: the paper's
//!   CWT entry covers a whole region (e.g. 2 MiB) and records, per section, whether the
//!   size has entries there and in which way; here one CWC entry covers one *cluster* (the
//!   unit the ECPT stores: 8 pages, 32 KiB of 4K pages), tagged (asid, page size, cluster),
//!   and holds the way of its line or "no line in this size". There is no CWT in memory:
//!   a CWC miss is followed by the normal d-way probe of that size, whose outcome fills
//!   the CWC (no extra memory read, which favours the CWC slightly; the smaller reach per
//!   entry disfavours it). Per probed size a walk then reads 1 line (hit), none (hit
//!   saying there is no line: the size is skipped) or d lines (miss). The CWC is
//!   set-associative with LRU and probed once per walk (all sizes together), costing
//!   `walk_cache_latency` cycles, reported through [`Walkable::walk_cache_cycles`] and
//!   counted with the walker's walk-cache cycles. Entries are kept exact: after each map
//!   or unmap, every key whose line was placed, displaced, moved by the elastic rehash,
//!   left homeless or freed is checked, and a cached entry that no longer names the way
//!   holding it (or says "none" when there now is a line) is invalidated (counted as
//!   `walk_cache.invalidations`); a line moved to the same way in the new generation keeps
//!   its entry, as the rehash pointer already selects the generation. Walks assert (debug
//!   builds) that a hit never names a wrong way. The CWC is keyed by asid and is not
//!   flushed with the TLBs.
//! - Walks bypass the radix walk caches (PSCs) as every hashed design does.
//!
//! Footprint: sum over the page sizes in use of `ways x entries per way x 64` bytes, plus
//! the old table's during a resize.
//!
//! Defaults: `ways = 3` (the paper's evaluated configuration); `initial_entries = 4096`
//! per way, `resize_threshold = 0.6`, `rehash_per_insert = 2` and `max_kicks = 32` are
//! this model's assumptions, not values taken from the paper.
//!
//! Files: this one (the config, the tables of every page size together, the three
//! views); `ecpt.rs` (one page size's elastic table: ways, insertion, gradual resize);
//! `cwc.rs` (the cuckoo walk cache).

mod cwc;
mod ecpt;

use super::hashed::{HashKind, HugeProbe, Nesting, VA_BITS};
use super::{
    IndexPart, MapOutcome, Mappable, Teachable, Translation, WalkStart, WalkStep, Walkable, NO_NODE,
};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::assoc::{Replacement, SetAssoc};
use crate::config::OsConfig;
use crate::os::frames::FrameAllocator;
use crate::SimError;
use cwc::{cwc_key, cwc_set, Cwc, CWC_ABSENT};
use ecpt::{pack, unpack, Counters, Ctx, Ecpt, Entry, Gen, Tables};
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};

/// Bytes per entry: one cache line.
pub const ENTRY_BYTES: u64 = 64;
/// Pages per (clustered) entry.
pub const CLUSTER: u64 = 8;
const CLUSTER_SHIFT: u32 = 3;
const DEFAULT_SEED: u64 = 0x4543_5054_5345_4544; // "ECPTSEED"
const MAX_BITS: u32 = 40;

fn three() -> u32 {
    3
}
fn initial() -> u64 {
    4096
}
fn threshold() -> f64 {
    0.6
}
fn two() -> u32 {
    2
}
fn kicks() -> u32 {
    32
}
fn four() -> u32 {
    4
}
fn one() -> u32 {
    1
}

/// Largest cuckoo walk cache accepted (a CWC is a small structure next to the walker).
const MAX_CWC_ENTRIES: u32 = 1 << 16;

/// Configuration of this design (`[page_table]` with `kind = "cuckoo"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CuckooConfig {
    #[serde(default)]
    pub hash: HashKind,
    #[serde(default)]
    pub huge: HugeProbe,
    /// d: ways (hash functions), each probed in parallel.
    #[serde(default = "three")]
    pub ways: u32,
    /// Entries per way before the first resize (a power of two).
    #[serde(default = "initial")]
    pub initial_entries: u64,
    /// Occupancy above which an insert starts a resize.
    #[serde(default = "threshold")]
    pub resize_threshold: f64,
    /// Entries moved from the old table per insert during a resize.
    #[serde(default = "two")]
    pub rehash_per_insert: u32,
    /// Displacements before an insert gives up (and resizes).
    #[serde(default = "kicks")]
    pub max_kicks: u32,
    /// Seed of the hash functions' seeds and of the random walk; default a fixed constant.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Cuckoo walk cache entries (one per (asid, page size, cluster)); 0: no CWC.
    #[serde(default)]
    pub walk_cache_entries: u32,
    /// Ways of the cuckoo walk cache (LRU); `walk_cache_entries / walk_cache_ways` sets,
    /// a power of two.
    #[serde(default = "four")]
    pub walk_cache_ways: u32,
    /// Cycles of a cuckoo walk cache probe, charged once per walk when the CWC is on.
    #[serde(default = "one")]
    pub walk_cache_latency: u32,
}

impl Default for CuckooConfig {
    fn default() -> Self {
        CuckooConfig {
            hash: HashKind::default(),
            huge: HugeProbe::default(),
            ways: three(),
            initial_entries: initial(),
            resize_threshold: threshold(),
            rehash_per_insert: two(),
            max_kicks: kicks(),
            seed: None,
            walk_cache_entries: 0,
            walk_cache_ways: four(),
            walk_cache_latency: one(),
        }
    }
}

impl CuckooConfig {
    /// Problems as (key under `page_table.`, message).
    pub fn validate(&self, os: &OsConfig) -> Vec<(String, String)> {
        let mut e = Vec::new();
        if !(2..=8).contains(&self.ways) {
            e.push(("ways".into(), format!("must be 2 to 8, not {}", self.ways)));
        }
        let n = self.initial_entries;
        if !n.is_power_of_two() || !(2..=1 << 30).contains(&n) {
            e.push((
                "initial_entries".into(),
                format!("must be a power of two from 2 to 2^30, not {n}"),
            ));
        } else if self.ways <= 8 && n * ENTRY_BYTES * self.ways as u64 > os.phys_mem.0 / 4 {
            e.push((
                "initial_entries".into(),
                format!(
                    "{} ways of {n} entries leave too little of os.phys_mem for pages",
                    self.ways
                ),
            ));
        }
        let t = self.resize_threshold;
        if !(t > 0.0 && t < 1.0) {
            e.push((
                "resize_threshold".into(),
                format!("must be between 0 and 1 (exclusive), not {t}"),
            ));
        }
        if self.rehash_per_insert == 0 {
            e.push(("rehash_per_insert".into(), "must be at least 1".into()));
        }
        if !(1..=10_000).contains(&self.max_kicks) {
            e.push((
                "max_kicks".into(),
                format!("must be 1 to 10000, not {}", self.max_kicks),
            ));
        }
        let (n, w) = (self.walk_cache_entries, self.walk_cache_ways);
        if n > MAX_CWC_ENTRIES {
            e.push((
                "walk_cache_entries".into(),
                format!("{n} is more than the supported {MAX_CWC_ENTRIES}"),
            ));
        } else if n > 0 {
            if w == 0 {
                e.push(("walk_cache_ways".into(), "must be at least 1".into()));
            } else if n % w != 0 {
                e.push((
                    "walk_cache_ways".into(),
                    format!("walk_cache_entries ({n}) are not divisible by ways ({w})"),
                ));
            } else if !(n / w).is_power_of_two() {
                e.push((
                    "walk_cache_ways".into(),
                    format!(
                        "walk_cache_entries / walk_cache_ways = {} sets, which is not a power \
                         of two",
                        n / w
                    ),
                ));
            }
        }
        if self.walk_cache_latency > 1000 {
            e.push((
                "walk_cache_latency".into(),
                format!("must be at most 1000, not {}", self.walk_cache_latency),
            ));
        }
        e
    }
}

crate::pagetable::hashed::hashed_design_config!(CuckooConfig, "cuckoo", "elastic cuckoo");

pub struct Cuckoo {
    kind: HashKind,
    huge: HugeProbe,
    seeds: Vec<u64>,
    seed: u64,
    initial_bits: u32,
    threshold: f64,
    per_insert: u32,
    max_kicks: u32,
    rng: Xoshiro256PlusPlus,
    ecpt: [Option<Ecpt>; 3],
    nesting: Nesting,
    c: Counters,
    walks: Cell<u64>,
    walk_reads: Cell<u64>,
    cwc: Option<Cwc>,
    /// Keys a `map`/`unmap` may have moved or removed (see [`Ctx::touched`]).
    touched: Vec<u64>,
}

#[inline(always)]
fn key_of(asid: u16, vaddr: u64, size: PageSize) -> Option<(u64, usize)> {
    if vaddr >> VA_BITS != 0 {
        return None;
    }
    let vpn = vaddr >> size.shift();
    Some((
        pack(asid, vpn >> CLUSTER_SHIFT),
        (vpn & (CLUSTER - 1)) as usize,
    ))
}

impl Cuckoo {
    pub fn new(
        cfg: &CuckooConfig,
        os: &OsConfig,
        frames: &mut FrameAllocator,
    ) -> Result<Cuckoo, SimError> {
        if let Some((k, m)) = cfg.validate(os).into_iter().next() {
            return Err(SimError(format!("page_table.{k}: {m}")));
        }
        let seed = cfg.seed.unwrap_or(DEFAULT_SEED);
        let mut t = Cuckoo {
            kind: cfg.hash,
            huge: cfg.huge,
            seeds: (0..cfg.ways as u64)
                .map(|w| crate::util::splitmix64(seed.wrapping_add(w)))
                .collect(),
            seed,
            initial_bits: cfg.initial_entries.trailing_zeros(),
            threshold: cfg.resize_threshold,
            per_insert: cfg.rehash_per_insert,
            max_kicks: cfg.max_kicks,
            rng: Xoshiro256PlusPlus::seed_from_u64(crate::util::splitmix64(seed ^ 0x6b69_636b)),
            ecpt: [None, None, None],
            nesting: Nesting::default(),
            c: Counters {
                kicks_hist: vec![0; cfg.max_kicks as usize + 2],
                ..Default::default()
            },
            walks: Cell::new(0),
            walk_reads: Cell::new(0),
            cwc: (cfg.walk_cache_entries > 0).then(|| Cwc {
                array: RefCell::new(SetAssoc::new(
                    (cfg.walk_cache_entries / cfg.walk_cache_ways) as usize,
                    cfg.walk_cache_ways as usize,
                    Replacement::Lru,
                    0,
                )),
                latency: cfg.walk_cache_latency as u64,
                lookups: Cell::new(0),
                hits: Cell::new(0),
                absent_hits: Cell::new(0),
                invalidations: 0,
            }),
            touched: Vec::new(),
        };
        t.ecpt[0] = Some(t.new_ecpt(frames)?);
        Ok(t)
    }

    fn new_ecpt(&self, frames: &mut FrameAllocator) -> Result<Ecpt, SimError> {
        Ok(Ecpt {
            cur: Tables::new(self.seeds.len(), self.initial_bits, frames)?,
            old: None,
            rr: 0,
            entries: 0,
            pages: 0,
        })
    }

    fn lookup(&self, asid: u16, vaddr: u64, size: PageSize) -> Option<u64> {
        let (key, sub) = key_of(asid, vaddr, size)?;
        let e = self.ecpt[size.index()].as_ref()?;
        let (g, w, i) = e.find(self.kind, &self.seeds, key)?;
        let entry = &e.tables(g).ways[w][i as usize];
        (entry.present >> sub & 1 == 1).then_some(entry.frames[sub])
    }

    /// Keep the cuckoo walk cache exact after an operation on the `size` table: drop each
    /// cached entry of a touched key that no longer names the way holding the key's line
    /// (or says there is none when there is one).
    fn sync_cwc(&mut self, size: PageSize) {
        let Some(cwc) = &mut self.cwc else {
            self.touched.clear();
            return;
        };
        let e = self.ecpt[size.index()].as_ref();
        let a = cwc.array.get_mut();
        for key in self.touched.drain(..) {
            let ck = cwc_key(key, size);
            let set = cwc_set(ck, a.set_mask());
            let Some(cached) = a.probe(set, ck) else {
                continue;
            };
            let now = e
                .and_then(|e| e.find(self.kind, &self.seeds, key))
                .map_or(CWC_ABSENT, |(_, w, _)| w as u64);
            if cached != now {
                a.invalidate(set, ck);
                cwc.invalidations += 1;
            }
        }
    }

    /// Every cached CWC entry names the way that holds its line, or correctly says
    /// there is none (for tests).
    #[cfg(test)]
    fn check_cwc(&self) {
        let Some(cwc) = &self.cwc else { return };
        for (ck, way) in cwc.array.borrow().iter() {
            let size = PageSize::ALL[(ck >> 61 & 3) as usize];
            let key = ck & !(3 << 61);
            let now = self.ecpt[size.index()]
                .as_ref()
                .and_then(|e| e.find(self.kind, &self.seeds, key))
                .map_or(CWC_ABSENT, |(_, w, _)| w as u64);
            assert_eq!(way, now, "stale CWC entry for {:?} {size}", unpack(key));
        }
    }

    /// Insert a new line for `key` (the cluster has none yet) holding PTE `sub`.
    fn insert(
        &mut self,
        size: PageSize,
        key: u64,
        sub: usize,
        frame: u64,
        frames: &mut FrameAllocator,
    ) -> Result<(), SimError> {
        let mut cx = Ctx {
            kind: self.kind,
            seeds: &self.seeds,
            max_kicks: self.max_kicks,
            rng: &mut self.rng,
            c: &mut self.c,
            touched: &mut self.touched,
        };
        let e = self.ecpt[size.index()].as_mut().expect("created by map");
        // First the resize's share of moves, then the insert.
        let mut homeless = Vec::new();
        if e.old.is_some() {
            for _ in 0..self.per_insert {
                homeless.extend(e.rehash_step(&mut cx));
            }
        }
        let mut item = Entry {
            key,
            ..Default::default()
        };
        item.present = 1 << sub;
        item.frames[sub] = frame;
        e.entries += 1;
        if let Err(h) = e.place(&mut cx, item, None) {
            homeless.push(h);
        }
        // No room: grow (or keep growing) until every homeless entry is placed.
        while let Some(h) = homeless.pop() {
            if e.old.is_none() {
                if e.entries * 16 < e.capacity() {
                    return Err(SimError(format!(
                        "cuckoo insertion failed with the {size} table {:.1}% full: the hash \
                         functions collide (hash = \"weak\"?); growing would not help",
                        100.0 * e.entries as f64 / e.capacity() as f64
                    )));
                }
                e.start_resize(&mut cx, frames)?;
            }
            homeless.extend(e.rehash_step(&mut cx));
            if let Err(h) = e.place(&mut cx, h, None) {
                homeless.push(h);
            }
        }
        if e.old.is_none() && e.entries as f64 > self.threshold * e.capacity() as f64 {
            e.start_resize(&mut cx, frames)?;
        }
        Ok(())
    }

    /// Sizes a walk probes, in 4K, 2M, 1G order.
    fn probed_sizes(&self) -> impl Iterator<Item = PageSize> + '_ {
        let none = self.ecpt.iter().flatten().all(|e| e.pages == 0);
        PageSize::ALL.into_iter().filter(move |s| {
            self.ecpt[s.index()]
                .as_ref()
                .is_some_and(|e| e.pages > 0 || (none && *s == PageSize::Size4K))
        })
    }

    /// Whether a resize of the `size` table is in progress.
    pub fn resizing(&self, size: PageSize) -> bool {
        self.ecpt[size.index()]
            .as_ref()
            .is_some_and(|e| e.old.is_some())
    }

    /// Entries moved by resizes so far.
    pub fn entries_moved(&self) -> u64 {
        self.c.moved
    }

    /// Resizes started so far.
    pub fn resizes(&self) -> u64 {
        self.c.resizes
    }

    /// Occupied entries (lines) of the `size` table.
    pub fn entries(&self, size: PageSize) -> u64 {
        self.ecpt[size.index()].as_ref().map_or(0, |e| e.entries)
    }

    /// The physical arrays of the live tables (for tests).
    #[cfg(test)]
    fn live_phys(&self) -> Vec<&super::PhysArray> {
        let mut v = Vec::new();
        for e in self.ecpt.iter().flatten() {
            v.extend(e.cur.phys.iter());
            if let Some((old, _)) = &e.old {
                v.extend(old.phys.iter());
            }
        }
        v
    }
}

impl Mappable for Cuckoo {
    const SHARED: bool = true;

    fn translate(&self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        PageSize::ALL.into_iter().find_map(|size| {
            let frame = PhysAddr(self.lookup(asid, vaddr.0, size)?);
            Some(Translation { frame, size })
        })
    }

    fn map(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        size: PageSize,
        frame: PhysAddr,
        frames: &mut FrameAllocator,
    ) -> Result<MapOutcome, SimError> {
        let (vaddr, frame) = (vaddr.0, frame.0);
        let Some((key, sub)) = key_of(asid, vaddr, size) else {
            return Err(SimError(format!(
                "{vaddr:#x} is beyond the {VA_BITS}-bit virtual addresses the cuckoo table maps"
            )));
        };
        if self.lookup(asid, vaddr, size).is_some() {
            return Err(SimError(format!(
                "{vaddr:#x}: the {size} page is already mapped"
            )));
        }
        if let Some(big) = PageSize::ALL
            .into_iter()
            .find(|b| b.shift() > size.shift() && self.lookup(asid, vaddr, *b).is_some())
        {
            return Err(SimError(format!(
                "{vaddr:#x} is already inside a {big} page"
            )));
        }
        if self.nesting.covers_smaller(asid, vaddr, size) {
            return Err(SimError(format!(
                "{vaddr:#x}: the {size} page would cover smaller mapped pages"
            )));
        }
        if self.ecpt[size.index()].is_none() {
            self.ecpt[size.index()] = Some(self.new_ecpt(frames)?);
        }
        self.nesting.add(asid, vaddr, size);
        let e = self.ecpt[size.index()].as_mut().expect("created above");
        e.pages += 1;
        // The cluster's line exists: set the PTE in place.
        if let Some((g, w, i)) = e.find(self.kind, &self.seeds, key) {
            let entry = e.slot_mut(g, w, i);
            entry.present |= 1 << sub;
            entry.frames[sub] = frame;
            return Ok(MapOutcome::default());
        }
        let r = self.insert(size, key, sub, frame, frames);
        self.sync_cwc(size);
        r.map(|()| MapOutcome::default())
    }

    fn unmap(&mut self, asid: u16, vaddr: VirtAddr) -> Option<Translation> {
        let vaddr = vaddr.0;
        for size in PageSize::ALL {
            let (key, sub) = key_of(asid, vaddr, size)?;
            let Some(e) = self.ecpt[size.index()].as_mut() else {
                continue;
            };
            let Some((g, w, i)) = e.find(self.kind, &self.seeds, key) else {
                continue;
            };
            let entry = e.slot_mut(g, w, i);
            if entry.present >> sub & 1 == 0 {
                continue;
            }
            entry.present &= !(1 << sub);
            let frame = entry.frames[sub];
            if entry.present == 0 {
                *entry = Entry::default();
                e.entries -= 1;
                self.touched.push(key);
                self.sync_cwc(size);
            }
            let e = self.ecpt[size.index()].as_mut().expect("found above");
            e.pages -= 1;
            self.nesting.remove(asid, vaddr, size);
            let frame = PhysAddr(frame);
            return Some(Translation { frame, size });
        }
        None
    }

    fn table_bytes(&self) -> u64 {
        self.ecpt
            .iter()
            .flatten()
            .map(|e| e.cur.bytes() + e.old.as_ref().map_or(0, |(o, _)| o.bytes()))
            .sum()
    }

    fn stats(&self) -> serde_json::Value {
        let tables: Vec<serde_json::Value> = PageSize::ALL
            .into_iter()
            .filter_map(|s| {
                let e = self.ecpt[s.index()].as_ref()?;
                Some(serde_json::json!({
                    "page_size": s,
                    "entries_per_way": e.cur.per_way(),
                    "entries": e.entries,
                    "pages": e.pages,
                    "occupancy": e.entries as f64 / e.capacity() as f64,
                    "resizing": e.old.is_some(),
                    "old_entries_per_way": e.old.as_ref().map(|(o, _)| o.per_way()),
                    "rehash_pointers": e.old.as_ref().map(|(_, p)| p.clone()),
                }))
            })
            .collect();
        let walks = self.walks.get();
        let mut v = serde_json::json!({
            "design": "cuckoo",
            "ways": self.seeds.len(),
            "tables": tables,
            "resizes": self.c.resizes,
            "entries_moved": self.c.moved,
            "slots_scanned": self.c.scanned,
            "insert_failures": self.c.failures,
            "kicks_hist": self.c.kicks_hist,
            "walks": walks,
            "probe_reads_per_walk": if walks == 0 { 0.0 } else { self.walk_reads.get() as f64 / walks as f64 },
            "seed": self.seed,
            "bytes": self.table_bytes(),
            "retired_bytes": self.c.retired_bytes,
        });
        if let Some(c) = &self.cwc {
            let a = c.array.borrow();
            let (lookups, hits) = (c.lookups.get(), c.hits.get());
            v["walk_cache"] = serde_json::json!({
                "entries": a.sets() * a.ways(),
                "ways": a.ways(),
                "latency": c.latency,
                "lookups": lookups,
                "hits": hits,
                "absent_hits": c.absent_hits.get(),
                "hit_rate": if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
                "invalidations": c.invalidations,
            });
        }
        v
    }
}

impl Walkable for Cuckoo {
    fn walk(
        &self,
        asid: u16,
        vaddr: VirtAddr,
        _start: Option<WalkStart>,
        steps: &mut Vec<WalkStep>,
    ) -> Option<Translation> {
        let vaddr = vaddr.0;
        let before = steps.len();
        let mut result = None;
        for (n, size) in self.probed_sizes().enumerate() {
            let group = match self.huge {
                HugeProbe::Parallel => 0,
                HugeProbe::Sequential => n as u8,
            };
            let e = self.ecpt[size.index()]
                .as_ref()
                .expect("probed sizes exist");
            // An address beyond the mappable range reads the ways of key 0's cluster
            // and finds nothing there.
            let (key, sub) = key_of(asid, vaddr, size).unwrap_or((u64::MAX, 0));
            let probe = if key == u64::MAX { pack(asid, 0) } else { key };
            // The cuckoo walk cache names the one way to read, or says there is no line.
            let cwc = self.cwc.as_ref().filter(|_| key != u64::MAX);
            let hint = cwc.and_then(|c| c.lookup(key, size));
            let ways = match hint {
                Some(CWC_ABSENT) => {
                    debug_assert!(e.find(self.kind, &self.seeds, key).is_none());
                    0..0
                }
                Some(w) => w as usize..w as usize + 1,
                None => 0..self.seeds.len(),
            };
            let mut found = CWC_ABSENT;
            for w in ways {
                let (g, i) = e.locate(self.kind, &self.seeds, probe, w);
                let t = e.tables(g);
                steps.push(WalkStep {
                    level: 0,
                    pte_addr: PhysAddr(t.phys[w].addr(i * ENTRY_BYTES) + sub as u64 * 8),
                    next: NO_NODE,
                    group,
                });
                let entry = &t.ways[w][i as usize];
                if entry.key == key {
                    found = w as u64;
                    if result.is_none() && entry.present >> sub & 1 == 1 {
                        result = Some(Translation {
                            frame: PhysAddr(entry.frames[sub]),
                            size,
                        });
                    }
                }
            }
            match (cwc, hint) {
                (Some(c), None) => c.fill(key, size, found),
                (Some(_), Some(w)) => debug_assert_eq!(w, found, "a CWC hit names a wrong way"),
                _ => {}
            }
            if result.is_some() && self.huge == HugeProbe::Sequential {
                break;
            }
        }
        self.walks.set(self.walks.get() + 1);
        self.walk_reads
            .set(self.walk_reads.get() + (steps.len() - before) as u64);
        result
    }

    fn walk_cache_cycles(&self) -> u64 {
        self.cwc.as_ref().map_or(0, |c| c.latency)
    }

    fn leaf_lines(&self, asid: u16, vaddr: VirtAddr) -> Option<(PhysAddr, PhysAddr)> {
        PageSize::ALL.into_iter().find_map(|size| {
            let (key, sub) = key_of(asid, vaddr.0, size)?;
            let e = self.ecpt[size.index()].as_ref()?;
            let (g, w, i) = e.find(self.kind, &self.seeds, key)?;
            let t = e.tables(g);
            let entry = &t.ways[w][i as usize];
            (entry.present >> sub & 1 == 1).then(|| {
                (
                    PhysAddr(t.phys[w].addr(i * ENTRY_BYTES) + sub as u64 * 8),
                    PhysAddr(entry.frames[sub]) + vaddr.offset(size),
                )
            })
        })
    }
}

impl Teachable for Cuckoo {
    fn index_parts(&self, asid: u16, vaddr: VirtAddr, size: PageSize) -> Vec<IndexPart> {
        let vaddr = vaddr.0;
        let (Some((key, sub)), Some(e)) = (key_of(asid, vaddr, size), &self.ecpt[size.index()])
        else {
            return Vec::new();
        };
        (0..self.seeds.len())
            .map(|w| {
                let (g, i) = e.locate(self.kind, &self.seeds, key, w);
                let t = e.tables(g);
                IndexPart {
                    name: format!("way {w} slot ({size} pages)"),
                    how: format!(
                        "{:?} hash of (asid {asid}, cluster VPN/8 = {:#x}) with way {w}'s seed to {} bits{}",
                        self.kind,
                        unpack(key).1,
                        t.bits,
                        if g == Gen::Old {
                            " (old table: not yet moved by the resize)"
                        } else {
                            ""
                        }
                    ),
                    value: i,
                    of: t.per_way(),
                    paddr: PhysAddr(t.phys[w].addr(i * ENTRY_BYTES) + sub as u64 * 8),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FrameAlloc;
    use crate::memory::MemorySystem;
    use crate::pagetable::hashed::testing::{inside, os};
    use crate::walker::Walker;
    use rand_core::Rng;
    use std::collections::BTreeMap;

    fn small(per_way: u64, threshold: f64, per_insert: u32) -> (Cuckoo, FrameAllocator) {
        let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 5);
        let cfg = CuckooConfig {
            initial_entries: per_way,
            resize_threshold: threshold,
            rehash_per_insert: per_insert,
            ..Default::default()
        };
        let t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
        (t, f)
    }

    fn walk(t: &Cuckoo, asid: u16, va: u64) -> (Option<Translation>, Vec<WalkStep>) {
        let mut steps = Vec::new();
        let r = t.walk(asid, VirtAddr(va), None, &mut steps);
        (r, steps)
    }

    /// Cluster `i`'s first page: clusters 8 pages apart, so each insert is a new entry.
    fn page(i: u64) -> u64 {
        (i * CLUSTER) << 12
    }

    #[test]
    fn a_walk_is_one_group_of_d_reads_and_clusters_share_a_line() {
        let (mut t, mut f) = small(64, 0.6, 2);
        // Empty table: the 4K ways are still read.
        let (r, steps) = walk(&t, 1, 0x1000);
        assert_eq!((r, steps.len()), (None, 3));
        for i in 0..8u64 {
            t.map(
                1,
                VirtAddr(0x10_0000 + (i << 12)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
        }
        // 8 consecutive pages: one entry.
        assert_eq!(t.entries(PageSize::Size4K), 1);
        let (r, steps) = walk(&t, 1, 0x10_3abc);
        assert_eq!(r.unwrap().frame.0, 4 << 12);
        assert_eq!(steps.len(), 3);
        assert!(steps.iter().all(|s| s.group == 0 && s.level == 0));
        // Same line as its neighbour, one PTE further.
        let (_, next) = walk(&t, 1, 0x10_4000);
        for (a, b) in steps.iter().zip(&next) {
            assert_eq!(a.pte_addr + 8, b.pte_addr);
        }
        // Another asid does not see it.
        assert_eq!(walk(&t, 2, 0x10_3abc).0, None);
        assert_eq!(t.unmap(1, VirtAddr(0x10_3000)).unwrap().frame.0, 4 << 12);
        assert_eq!(walk(&t, 1, 0x10_3000).0, None);
        assert_eq!(t.entries(PageSize::Size4K), 1);
        for i in [0u64, 1, 2, 4, 5, 6, 7] {
            t.unmap(1, VirtAddr(0x10_0000 + (i << 12))).unwrap();
        }
        assert_eq!(t.entries(PageSize::Size4K), 0);
    }

    #[test]
    fn resize_starts_at_the_threshold_and_moves_every_old_entry() {
        // 3 ways x 64 = 192 entries; threshold 0.5: the 97th entry starts a resize.
        let (mut t, mut f) = small(64, 0.5, 1 << 20);
        for i in 0..96 {
            t.map(
                1,
                VirtAddr(page(i)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
            assert_eq!(t.resizes(), 0, "entry {i}");
        }
        assert_eq!(t.table_bytes(), 3 * 64 * 64);
        t.map(
            1,
            VirtAddr(page(96)),
            PageSize::Size4K,
            PhysAddr(97 << 12),
            &mut f,
        )
        .unwrap();
        assert_eq!(t.resizes(), 1);
        assert!(t.resizing(PageSize::Size4K));
        // Both generations live: old 3 x 64 lines, new 3 x 128.
        assert_eq!(t.table_bytes(), 3 * 64 * 64 + 3 * 128 * 64);
        // Still exactly d reads, one group.
        for i in 0..97 {
            let (r, steps) = walk(&t, 1, page(i));
            assert_eq!(r.unwrap().frame.0, (i + 1) << 12);
            assert_eq!(steps.len(), 3);
            assert!(steps.iter().all(|s| s.group == 0));
        }
        // The next insert moves first (all of it, here), then inserts into the new table.
        t.map(
            1,
            VirtAddr(page(97)),
            PageSize::Size4K,
            PhysAddr(98 << 12),
            &mut f,
        )
        .unwrap();
        assert!(!t.resizing(PageSize::Size4K));
        assert_eq!(t.entries_moved(), 97);
        assert_eq!(t.table_bytes(), 3 * 128 * 64);
        assert_eq!(t.stats()["retired_bytes"], 3 * 64 * 64);
        for i in 0..98 {
            assert_eq!(
                t.translate(1, VirtAddr(page(i))).unwrap().frame.0,
                (i + 1) << 12
            );
        }
    }

    #[test]
    fn gradual_resize_reads_the_generation_the_pointer_names() {
        let (mut t, mut f) = small(64, 0.5, 1);
        let mut i = 0;
        while t.resizes() == 0 {
            t.map(
                1,
                VirtAddr(page(i)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
            i += 1;
        }
        let mut saw_old = false;
        let mut saw_new = false;
        // With one move per insert the new table reaches the threshold about when the
        // resize ends, and the next resize starts at once: stop at the end of the first.
        while t.resizes() == 1 && t.resizing(PageSize::Size4K) {
            t.map(
                1,
                VirtAddr(page(i)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
            i += 1;
            let e = t.ecpt[0].as_ref().unwrap();
            let Some((old, _)) = &e.old else { break };
            for j in 0..i {
                let (r, steps) = walk(&t, 1, page(j));
                assert_eq!(r.unwrap().frame.0, (j + 1) << 12);
                assert_eq!(steps.len(), 3);
                for (w, s) in steps.iter().enumerate() {
                    let in_old = inside(&old.phys[w], s.pte_addr.0);
                    let in_new = inside(&e.cur.phys[w], s.pte_addr.0);
                    assert!(in_old != in_new);
                    saw_old |= in_old;
                    saw_new |= in_new;
                }
            }
        }
        assert!(saw_old && saw_new);
        // Every entry in the old table at the start, or put there since, was moved once.
        assert!(t.entries_moved() >= 97);
        for j in 0..i {
            assert_eq!(
                t.translate(1, VirtAddr(page(j))).unwrap().frame.0,
                (j + 1) << 12
            );
        }
    }

    #[test]
    fn footprint_matches_ways_times_entries_times_64() {
        let (mut t, mut f) = small(256, 0.6, 2);
        assert_eq!(t.table_bytes(), 3 * 256 * 64);
        t.map(
            1,
            VirtAddr(0x4000_0000),
            PageSize::Size1G,
            PhysAddr(1 << 30),
            &mut f,
        )
        .unwrap();
        t.map(
            1,
            VirtAddr(0x20_0000),
            PageSize::Size2M,
            PhysAddr(2 << 20),
            &mut f,
        )
        .unwrap();
        // One ECPT per size in use.
        assert_eq!(t.table_bytes(), 3 * (3 * 256 * 64));
        assert_eq!(t.stats()["bytes"], 3 * 3 * 256 * 64);
        // Defaults: 3 ways x 4096 lines.
        let t = Cuckoo::new(&CuckooConfig::default(), &os(4 << 30), &mut f).unwrap();
        assert_eq!(t.table_bytes(), 3 * 4096 * 64);
    }

    #[test]
    fn huge_pages_parallel_and_sequential() {
        for huge in [HugeProbe::Parallel, HugeProbe::Sequential] {
            let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 5);
            let cfg = CuckooConfig {
                huge,
                initial_entries: 64,
                ..Default::default()
            };
            let mut t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
            t.map(
                1,
                VirtAddr(0x1000),
                PageSize::Size4K,
                PhysAddr(0x9000),
                &mut f,
            )
            .unwrap();
            t.map(
                1,
                VirtAddr(0x4000_0000),
                PageSize::Size1G,
                PhysAddr(1 << 30),
                &mut f,
            )
            .unwrap();
            assert!(t
                .map(
                    1,
                    VirtAddr(0x4020_0000),
                    PageSize::Size2M,
                    PhysAddr(0),
                    &mut f
                )
                .is_err());
            assert!(t
                .map(1, VirtAddr(0), PageSize::Size1G, PhysAddr(0), &mut f)
                .is_err());
            let (r, steps) = walk(&t, 1, 0x4000_1234);
            assert_eq!(r.unwrap().size, PageSize::Size1G);
            assert_eq!(steps.len(), 6);
            let groups: Vec<u8> = steps.iter().map(|s| s.group).collect();
            match huge {
                HugeProbe::Parallel => assert_eq!(groups, vec![0; 6]),
                HugeProbe::Sequential => assert_eq!(groups, vec![0, 0, 0, 1, 1, 1]),
            }
            let (r, steps) = walk(&t, 1, 0x1000);
            assert_eq!(r.unwrap().frame.0, 0x9000);
            assert_eq!(steps.len(), if huge == HugeProbe::Parallel { 6 } else { 3 });
        }
    }

    #[test]
    fn random_operations_agree_with_a_hashmap_across_resizes() {
        // The last two with a small cuckoo walk cache (16 entries: it evicts all along).
        for (huge, seed, cwc) in [
            (HugeProbe::Parallel, 4, 0),
            (HugeProbe::Sequential, 5, 0),
            (HugeProbe::Parallel, 6, 16),
            (HugeProbe::Sequential, 7, 16),
        ] {
            let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 3);
            let cfg = CuckooConfig {
                huge,
                initial_entries: 16,
                resize_threshold: 0.6,
                rehash_per_insert: 1,
                max_kicks: 16,
                seed: Some(seed),
                walk_cache_entries: cwc,
                walk_cache_ways: 2,
                ..Default::default()
            };
            let mut t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
            let mut model: BTreeMap<(u16, PageSize, u64), u64> = BTreeMap::new();
            let overlaps =
                |m: &BTreeMap<(u16, PageSize, u64), u64>, a: u16, va: u64, s: PageSize| {
                    m.keys().any(|&(b, s2, v)| {
                        let lo = v << s2.shift();
                        b == a && lo < va + s.bytes() && va < lo + s2.bytes()
                    })
                };
            let mut steps = Vec::new();
            for op in 0..6000 {
                let asid = 1 + (rng.next_u64() % 3) as u16;
                let size = match rng.next_u64() % 10 {
                    0 => PageSize::Size1G,
                    1 | 2 => PageSize::Size2M,
                    _ => PageSize::Size4K,
                };
                let va = (rng.next_u64() % (16 << 30)) & !(size.bytes() - 1);
                if rng.next_u64() % 3 < 2 {
                    let frame = (rng.next_u64() % (1 << 30)) << 12;
                    let r = t.map(asid, VirtAddr(va), size, PhysAddr(frame), &mut f);
                    if overlaps(&model, asid, va, size) {
                        assert!(r.is_err(), "op {op}: overlapping map accepted");
                    } else {
                        assert_eq!(r.unwrap().evicted, None);
                        model.insert((asid, size, va >> size.shift()), frame);
                    }
                } else {
                    let got = t.unmap(asid, VirtAddr(va));
                    let k = PageSize::ALL
                        .into_iter()
                        .map(|s| (asid, s, va >> s.shift()))
                        .find(|k| model.contains_key(k));
                    assert_eq!(got.map(|t| t.frame.0), k.map(|k| model[&k]), "op {op}");
                    if let Some(k) = k {
                        model.remove(&k);
                    }
                }
                t.check_cwc();
                let live = t.live_phys();
                for _ in 0..4 {
                    let probe = if rng.next_u64() % 2 == 0 && !model.is_empty() {
                        let n = (rng.next_u64() % model.len() as u64) as usize;
                        let &(a, s, v) = model.keys().nth(n).unwrap();
                        (a, (v << s.shift()) + rng.next_u64() % s.bytes())
                    } else {
                        (1 + (rng.next_u64() % 3) as u16, rng.next_u64() % (16 << 30))
                    };
                    let want = PageSize::ALL.into_iter().find_map(|s| {
                        model
                            .get(&(probe.0, s, probe.1 >> s.shift()))
                            .map(|&frame| Translation {
                                frame: PhysAddr(frame),
                                size: s,
                            })
                    });
                    assert_eq!(t.translate(probe.0, VirtAddr(probe.1)), want, "op {op}");
                    steps.clear();
                    // Twice: the second walk may hit in the CWC filled by the first (its
                    // hits are checked against the way that holds the line inside `walk`).
                    for _ in 0..2 {
                        steps.clear();
                        let got = t.walk(probe.0, VirtAddr(probe.1), None, &mut steps);
                        assert_eq!(got, want, "op {op}");
                        if want.is_some() {
                            assert!(got.is_some(), "op {op}: a mapped page walked to None");
                        }
                    }
                    if cwc == 0 {
                        assert!(!steps.is_empty() && steps.len() % 3 == 0);
                    } else {
                        assert!(steps.len() <= 9);
                    }
                    for s in &steps {
                        assert!(live.iter().any(|p| inside(p, s.pte_addr.0)), "op {op}");
                    }
                }
            }
            assert!(t.resizes() >= 3, "{} resizes", t.resizes());
            if cwc > 0 {
                let st = &t.stats()["walk_cache"];
                assert!(st["hits"].as_u64().unwrap() > 1000, "{st}");
                assert!(st["absent_hits"].as_u64().unwrap() > 0, "{st}");
                assert!(st["invalidations"].as_u64().unwrap() > 20, "{st}");
            } else {
                assert!(t.stats().get("walk_cache").is_none());
            }
            // Nothing lost: every mapping of the model is there, and nothing else.
            for (&(a, s, v), &frame) in &model {
                assert_eq!(
                    t.translate(a, VirtAddr(v << s.shift())),
                    Some(Translation {
                        frame: PhysAddr(frame),
                        size: s
                    })
                );
            }
            let pages: u64 = t.ecpt.iter().flatten().map(|e| e.pages).sum();
            assert_eq!(pages as usize, model.len());
        }
    }

    #[test]
    fn a_degenerate_hash_is_an_error_not_endless_growth() {
        // The weak hash of small page numbers puts every cluster in the same slot of
        // every way: after d entries nothing fits, at a tiny occupancy.
        let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 5);
        let cfg = CuckooConfig {
            hash: HashKind::Weak,
            initial_entries: 64,
            ..Default::default()
        };
        let mut t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
        let r = (0..64).try_for_each(|i| {
            t.map(1, VirtAddr(page(i)), PageSize::Size4K, PhysAddr(0), &mut f)
                .map(|_| ())
        });
        assert!(r.unwrap_err().0.contains("collide"));
    }

    #[test]
    fn walk_latency_is_one_dram_latency_for_d_parallel_reads() {
        const DRAM: u64 = 100;
        let mut m = MemorySystem::dram_only(DRAM as u32);
        let mut w = Walker::new(&[], 0);
        let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 5);
        for huge in [HugeProbe::Parallel, HugeProbe::Sequential] {
            let cfg = CuckooConfig {
                huge,
                initial_entries: 64,
                ..Default::default()
            };
            let mut t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
            t.map(
                1,
                VirtAddr(0x1000),
                PageSize::Size4K,
                PhysAddr(0x9000),
                &mut f,
            )
            .unwrap();
            let r = w.walk(0, 1, VirtAddr(0x1000), &t, &mut m);
            assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (3, DRAM, 0));
            t.map(
                1,
                VirtAddr(0x4000_0000),
                PageSize::Size1G,
                PhysAddr(1 << 30),
                &mut f,
            )
            .unwrap();
            let r = w.walk(0, 1, VirtAddr(0x4000_0000), &t, &mut m);
            let groups = if huge == HugeProbe::Parallel { 1 } else { 2 };
            assert_eq!((r.reads, r.pte_cycles), (6, groups * DRAM));
            assert_eq!(r.translation.unwrap().frame.0, 1 << 30);
        }
    }

    fn with_cwc(per_way: u64, entries: u32, ways: u32, latency: u32) -> (Cuckoo, FrameAllocator) {
        let mut f = FrameAllocator::new(64 << 30, FrameAlloc::Shuffled, 5);
        let cfg = CuckooConfig {
            initial_entries: per_way,
            resize_threshold: 0.5,
            rehash_per_insert: 4,
            walk_cache_entries: entries,
            walk_cache_ways: ways,
            walk_cache_latency: latency,
            ..Default::default()
        };
        let t = Cuckoo::new(&cfg, &os(64 << 30), &mut f).unwrap();
        (t, f)
    }

    fn no_cache_memory(dram: u64) -> MemorySystem {
        MemorySystem::dram_only(dram as u32)
    }

    fn way_of(t: &Cuckoo, asid: u16, va: u64, size: PageSize) -> Option<usize> {
        let (key, _) = key_of(asid, va, size).unwrap();
        let e = t.ecpt[size.index()].as_ref()?;
        e.find(t.kind, &t.seeds, key).map(|(_, w, _)| w)
    }

    fn cwc_stat(t: &Cuckoo, k: &str) -> u64 {
        t.stats()["walk_cache"][k].as_u64().unwrap()
    }

    #[test]
    fn a_cwc_hit_reads_the_one_way_that_holds_the_cluster() {
        let (mut t, mut f) = with_cwc(64, 64, 4, 2);
        t.map(
            1,
            VirtAddr(0x1000),
            PageSize::Size4K,
            PhysAddr(0x9000),
            &mut f,
        )
        .unwrap();
        t.map(
            1,
            VirtAddr(0x2000),
            PageSize::Size4K,
            PhysAddr(0xa000),
            &mut f,
        )
        .unwrap();
        // First walk: a CWC miss, the d ways in one group.
        let (r, first) = walk(&t, 1, 0x1000);
        assert_eq!(r.unwrap().frame.0, 0x9000);
        assert_eq!(first.len(), 3);
        assert!(first.iter().all(|s| s.group == 0));
        // Another page of the cluster: exactly the line of the way holding it.
        let (r, second) = walk(&t, 1, 0x2000);
        assert_eq!(r.unwrap().frame.0, 0xa000);
        assert_eq!(second.len(), 1);
        let w = way_of(&t, 1, 0x2000, PageSize::Size4K).unwrap();
        assert_eq!(second[0].pte_addr, first[w].pte_addr + 8);
        assert_eq!((cwc_stat(&t, "lookups"), cwc_stat(&t, "hits")), (2, 1));
        assert_eq!(t.walk_cache_cycles(), 2);
        // Another address space has its own entries.
        assert_eq!(walk(&t, 2, 0x2000).1.len(), 3);

        // A cluster without a line: d reads, then none (the CWC knows there is none).
        let (r, steps) = walk(&t, 1, 0x10_0000);
        assert_eq!((r, steps.len()), (None, 3));
        let (r, steps) = walk(&t, 1, 0x10_0000);
        assert_eq!((r, steps.len()), (None, 0));
        // Mapping it invalidates that knowledge: the next walk reads the d ways again.
        t.map(
            1,
            VirtAddr(0x10_0000),
            PageSize::Size4K,
            PhysAddr(0xb000),
            &mut f,
        )
        .unwrap();
        assert_eq!(cwc_stat(&t, "invalidations"), 1);
        let (r, steps) = walk(&t, 1, 0x10_0000);
        assert_eq!((r.unwrap().frame.0, steps.len()), (0xb000, 3));
        assert_eq!(walk(&t, 1, 0x10_0000).1.len(), 1);
        // Freeing its line invalidates again; the walk faults after d reads.
        t.unmap(1, VirtAddr(0x10_0000)).unwrap();
        assert_eq!(cwc_stat(&t, "invalidations"), 2);
        assert_eq!(walk(&t, 1, 0x10_0000).1.len(), 3);
        // Unmapping one page of a cluster keeps its line: the entry stays.
        t.unmap(1, VirtAddr(0x1000)).unwrap();
        assert_eq!(cwc_stat(&t, "invalidations"), 2);
        let (r, steps) = walk(&t, 1, 0x1000);
        assert_eq!((r, steps.len()), (None, 1));
        assert_eq!(steps[0].pte_addr.0, second[0].pte_addr.0 - 8);

        // Two sizes in use: the 2M table is known to have no line for this cluster, so a
        // hit reads one line in all instead of d per size.
        t.map(
            1,
            VirtAddr(0x4000_0000),
            PageSize::Size2M,
            PhysAddr(2 << 20),
            &mut f,
        )
        .unwrap();
        assert_eq!(walk(&t, 1, 0x2000).1.len(), 1 + 3);
        let (r, steps) = walk(&t, 1, 0x2000);
        assert_eq!((r.unwrap().frame.0, steps.len()), (0xa000, 1));
        t.check_cwc();
    }

    #[test]
    fn a_cwc_hit_costs_one_dram_read_and_the_cwc_latency() {
        const DRAM: u64 = 100;
        const CWC: u32 = 2;
        let mut m = no_cache_memory(DRAM);
        let mut w = Walker::new(&[], 0);
        let (mut t, mut f) = with_cwc(64, 64, 4, CWC);
        t.map(
            1,
            VirtAddr(0x1000),
            PageSize::Size4K,
            PhysAddr(0x9000),
            &mut f,
        )
        .unwrap();
        t.map(
            1,
            VirtAddr(0x2000),
            PageSize::Size4K,
            PhysAddr(0xa000),
            &mut f,
        )
        .unwrap();
        let r = w.walk(0, 1, VirtAddr(0x1000), &t, &mut m);
        assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (3, DRAM, CWC as u64));
        let r = w.walk(0, 1, VirtAddr(0x2000), &t, &mut m);
        assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (1, DRAM, CWC as u64));
        assert_eq!(r.translation.unwrap().frame.0, 0xa000);
        // Known absent: no read at all, only the CWC probe.
        w.walk(0, 1, VirtAddr(0x10_0000), &t, &mut m);
        let r = w.walk(0, 1, VirtAddr(0x10_0000), &t, &mut m);
        assert_eq!(
            (r.reads, r.pte_cycles, r.psc_cycles, r.translation),
            (0, 0, CWC as u64, None)
        );
        assert_eq!(w.stats.psc_cycles, 4 * CWC as u64);
        assert_eq!(w.stats.pte_cycles, 3 * DRAM);
    }

    #[test]
    fn without_a_cwc_every_walk_reads_the_d_ways() {
        const DRAM: u64 = 100;
        let mut m = no_cache_memory(DRAM);
        let mut w = Walker::new(&[], 0);
        let (mut t, mut f) = with_cwc(64, 0, 4, 2);
        assert!(t.cwc.is_none());
        assert_eq!(t.walk_cache_cycles(), 0);
        t.map(
            1,
            VirtAddr(0x1000),
            PageSize::Size4K,
            PhysAddr(0x9000),
            &mut f,
        )
        .unwrap();
        t.map(
            1,
            VirtAddr(0x2000),
            PageSize::Size4K,
            PhysAddr(0xa000),
            &mut f,
        )
        .unwrap();
        let (_, first) = walk(&t, 1, 0x1000);
        for va in [0x1000, 0x2000, 0x1000, 0x2000] {
            let (r, steps) = walk(&t, 1, va);
            assert!(r.is_some());
            assert_eq!(steps.len(), 3);
            let off = (va - 0x1000) >> 12 << 3;
            assert!(steps
                .iter()
                .zip(&first)
                .all(|(s, f)| s.pte_addr == f.pte_addr + off));
            let r = w.walk(0, 1, VirtAddr(va), &t, &mut m);
            assert_eq!((r.reads, r.pte_cycles, r.psc_cycles), (3, DRAM, 0));
        }
        assert_eq!(walk(&t, 1, 0x10_0000).1.len(), 3);
        assert_eq!(walk(&t, 1, 0x10_0000).1.len(), 3);
        assert!(t.stats().get("walk_cache").is_none());
    }

    #[test]
    fn cwc_entries_stay_exact_across_displacements_and_resizes() {
        // A small table (3 x 64 lines, threshold 0.5, four moves per insert) that displaces
        // and resizes often; a CWC large enough to hold every cluster.
        let (mut t, mut f) = with_cwc(64, 2048, 8, 1);
        let mut i = 0;
        let mut seen_resizing = false;
        while t.resizes() < 2 || t.resizing(PageSize::Size4K) {
            assert!(i < 1000, "no end to resizing");
            t.map(
                1,
                VirtAddr(page(i)),
                PageSize::Size4K,
                PhysAddr((i + 1) << 12),
                &mut f,
            )
            .unwrap();
            i += 1;
            seen_resizing |= t.resizing(PageSize::Size4K);
            t.check_cwc();
            // Walk every page twice: the first walk may miss (the entry was invalidated
            // by a move), the second hits and reads the one way that holds the line.
            for j in 0..i {
                let (r, steps) = walk(&t, 1, page(j));
                assert_eq!(r.unwrap().frame.0, (j + 1) << 12);
                assert!(steps.len() == 1 || steps.len() == 3);
                let (r, steps) = walk(&t, 1, page(j));
                assert_eq!(r.unwrap().frame.0, (j + 1) << 12, "page {j} after {i} maps");
                assert_eq!(steps.len(), 1);
            }
        }
        assert!(seen_resizing);
        // Displacements happened, and moved entries were invalidated (never misdirected:
        // the walk asserts every hit against the way that holds the line).
        assert!(t.c.kicks_hist[1..].iter().sum::<u64>() > 0);
        assert!(t.entries_moved() > 0);
        assert!(cwc_stat(&t, "invalidations") > 0);
        // Unmap half: freed lines invalidate their entries; the rest still hit.
        for j in (0..i).step_by(2) {
            t.unmap(1, VirtAddr(page(j))).unwrap();
        }
        t.check_cwc();
        for j in 0..i {
            let (r, steps) = walk(&t, 1, page(j));
            if j % 2 == 0 {
                assert_eq!(r, None);
                assert!(steps.len() == 3 || steps.is_empty());
            } else {
                assert_eq!((r.unwrap().frame.0, steps.len()), ((j + 1) << 12, 1));
            }
        }
    }

    #[test]
    fn cwc_geometry_is_validated() {
        let o = os(64 << 30);
        let bad = |entries, ways| {
            CuckooConfig {
                walk_cache_entries: entries,
                walk_cache_ways: ways,
                ..Default::default()
            }
            .validate(&o)
            .into_iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
        };
        assert!(bad(0, 0).is_empty());
        assert!(bad(16, 4).is_empty());
        assert!(bad(16, 16).is_empty());
        assert_eq!(bad(12, 4), vec!["walk_cache_ways"]);
        assert_eq!(bad(16, 3), vec!["walk_cache_ways"]);
        assert_eq!(bad(16, 0), vec!["walk_cache_ways"]);
        assert_eq!(bad(1 << 20, 4), vec!["walk_cache_entries"]);
        let cfg = CuckooConfig {
            walk_cache_entries: 16,
            walk_cache_latency: 5000,
            ..Default::default()
        };
        assert_eq!(cfg.validate(&o)[0].0, "walk_cache_latency");
    }
}
