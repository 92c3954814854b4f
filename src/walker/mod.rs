//! The hardware page walker of one core and its paging-structure caches (PSCs).
//!
//! Owns the walk caches (`walker.psc[i]`, one per radix level at most) and walk counters.
//! In: a virtual address that missed every TLB level, the address space's page table and
//! the memory system. Out: a [`WalkResult`] with the cycles spent probing walk caches and
//! reading PTEs, the number of PTE reads, and the translation (or a fault).
//!
//! Timing: the walk caches are probed in parallel once per walk, costing the slowest
//! configured one; the deepest hit tells the walker which table to start from, so a hit
//! at level L skips the reads of levels top..L. Each PTE read then costs the latency of the
//! memory level that holds its line. Walk latency = walk-cache probe + PTE reads, nothing
//! hidden (Virtuoso once left the walk-cache latency out of its walk total). A design with
//! a walk cache of its own ([`Walkable::walk_cache_cycles`](crate::pagetable::Walkable::walk_cache_cycles), the cuckoo walk cache) has
//! that latency added to the walk-cache cycles of every walk.
//!
//! ASAP (`page_table.asap`; Margaritov, Ustiugov, Bugnion and Grot, "Prefetched Address
//! Translation", MICRO 2019): the OS places the PL2 and PL1 tables where hardware can
//! compute their addresses (`pagetable/asap.rs`), so on a walk those reads are issued at
//! the walk's start, in parallel with the first read, while the walk still runs and
//! verifies them ("only correctly-predicted entries are consumed", the paper's
//! abstract). The walk's steps the table confirms as predicted
//! ([`Walkable::asap_predicted`]) are timed as issued at t = 0 of the PTE reads (after
//! the walk-cache probe: conservative, the paper may overlap the probe too): with
//! done_0 = 0 and read i's latency lat_i (the memory level serving it),
//!   predicted:     done_i = max(done_{i-1}, lat_i)  (its line was requested at 0 and
//!                  is consumed once the previous level has confirmed the pointer),
//!   not predicted: done_i = done_{i-1} + lat_i,
//! and the walk's PTE cycles are done_n. Each read goes through the memory system once,
//! in walk order, as without ASAP (no double counting; a prefetch to a slot the walk
//! never reaches, as for a walk that faults above it, is not modelled). Walk-cache hits
//! skip upper levels as ever; ASAP only covers PL2 and PL1, so a walk starting at PL2
//! costs max(lat_2, lat_1) instead of lat_2 + lat_1. `asap.cycles_saved` is, per walk,
//! the serial latency minus this one.

use crate::addr::VirtAddr;
use crate::assoc::SetAssoc;
use crate::config::PscConfig;
use crate::memory::MemorySystem;
use crate::pagetable::{PageTable, Translation, WalkStart, WalkStep, Walkable};
use crate::sim::record::{Event, NoRecord, Recorder};
use crate::stats::Histogram;
use crate::tlb::ASID_BITS;
use serde::Serialize;

mod fused;
mod nested;
pub use fused::{WalkView, FUSED_PSCS};
mod straight;
pub use nested::{NestedOutcome, NestedResult, NestedStats};

/// Counters of one walk cache.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PscStats {
    pub name: String,
    pub level: u32,
    pub lookups: u64,
    pub hits: u64,
}

/// Counters of the walker.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WalkerStats {
    /// Walks started (a faulting access walks twice: before and after the fault).
    pub walks: u64,
    pub pte_reads: u64,
    pub psc_cycles: u64,
    pub pte_cycles: u64,
    pub psc: Vec<PscStats>,
    /// Latency of each walk (walk-cache probe + PTE reads).
    pub latency: Histogram,
    /// Walks by the number of page-table reads they made (the last bucket holds 64 and
    /// more): the chain or probe length distribution of hashed designs.
    pub reads_hist: Vec<u64>,
    /// Nested walks (a virtualized machine): references by dimension and level.
    pub nested: NestedStats,
    /// ASAP's counters (`Some` when `page_table.asap` is on).
    pub asap: Option<AsapStats>,
}

impl WalkerStats {
    /// Counts a finished walk: its reads, its walk-cache probe and PTE-read cycles, its
    /// latency and its place in the reads histogram (every walk path, one rule).
    #[inline(always)]
    pub(crate) fn count_walk(&mut self, reads: u32, psc_cycles: u64, pte_cycles: u64) {
        self.pte_reads += reads as u64;
        self.psc_cycles += psc_cycles;
        self.pte_cycles += pte_cycles;
        self.latency.record(psc_cycles + pte_cycles);
        // After the histogram's test: the compiler then does not pair this count with
        // the one beside it into a vector add (six host instructions where two do).
        self.walks += 1;
        self.reads_hist[(reads as usize).min(64)] += 1;
    }
}

/// ASAP's counters of one walker.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AsapStats {
    /// PTE reads issued at the walk's start (prefetched and confirmed by the walk).
    pub predicted_reads: u64,
    /// Serial PTE-read latency minus the latency with ASAP, summed over walks.
    pub cycles_saved: u64,
}

impl AsapStats {
    pub fn add(&mut self, o: &AsapStats) {
        self.predicted_reads += o.predicted_reads;
        self.cycles_saved += o.cycles_saved;
    }
}

/// What one walk did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkResult {
    pub psc_cycles: u64,
    pub pte_cycles: u64,
    pub reads: u32,
    pub translation: Option<Translation>,
}

pub(super) struct Psc {
    level: usize,
    array: SetAssoc,
    /// The key of this walk cache's last lookup if it hit, and its value, while nothing
    /// has changed the array since ([`NO_MEMO`] otherwise). Looking that key up again
    /// is then a hit that changes no replacement state under any policy (LRU: it is
    /// the most recent of its set; PLRU: the tree already points away from it; FIFO
    /// and random: hits change nothing), so the search can be skipped exactly. Most
    /// walks probe the upper walk caches for the same entry as the walk before.
    memo: u64,
    memo_val: u64,
}

/// No remembered hit ([`Psc::memo`]): no walk-cache key has every bit set.
const NO_MEMO: u64 = u64::MAX;

impl Psc {
    /// Look `key` (of table prefix `prefix`) up, remembering a hit.
    #[inline(always)]
    fn lookup(&mut self, prefix: u64, key: u64) -> Option<u64> {
        #[cfg(test)]
        let memo = self.memo == key && !NO_PSC_MEMO.with(|m| m.get());
        #[cfg(not(test))]
        let memo = self.memo == key;
        if memo {
            return Some(self.memo_val);
        }
        let set = (prefix & self.array.set_mask()) as usize;
        let hit = self.array.lookup(set, key);
        self.memo = if hit.is_some() { key } else { NO_MEMO };
        self.memo_val = hit.unwrap_or(0);
        hit
    }

    /// Insert (or refresh) `key` of table prefix `prefix`, pointing to `node`.
    #[inline(always)]
    fn insert(&mut self, prefix: u64, key: u64, node: u64) {
        self.memo = NO_MEMO;
        let set = (prefix & self.array.set_mask()) as usize;
        self.array.insert(set, key, node);
    }
}

#[cfg(test)]
thread_local! {
    /// Tests turn the walk caches' remembered hit off to check it against the search.
    static NO_PSC_MEMO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

pub struct Walker {
    pscs: Vec<Psc>,
    /// `psc_at[level]`: the index in `pscs` of the walk cache of radix level `level`
    /// (the first one, as [`nested::learn`] finds it), [`NO_PSC`] if none: the straight
    /// walk fills the walk caches as it reads without searching for them.
    psc_at: [usize; 8],
    probe_latency: u64,
    steps: Vec<WalkStep>,
    /// The nested walk's parts, on a virtualized machine.
    nested: Option<nested::NestedParts>,
    pub stats: WalkerStats,
}

/// No walk cache at this level (`Walker::psc_at`).
const NO_PSC: usize = usize::MAX;

#[inline(always)]
fn psc_key(prefix: u64, asid: u16) -> u64 {
    (prefix << ASID_BITS) | asid as u64
}

impl Walker {
    pub fn new(cfgs: &[PscConfig], seed: u64) -> Walker {
        // Deepest level first: the first hit found is the one that skips the most.
        let mut order: Vec<usize> = (0..cfgs.len()).collect();
        order.sort_by_key(|&i| cfgs[i].level);
        let pscs: Vec<Psc> = order
            .iter()
            .map(|&i| Psc {
                memo: NO_MEMO,
                memo_val: 0,
                level: cfgs[i].level as usize,
                array: SetAssoc::new(
                    (cfgs[i].entries / cfgs[i].ways) as usize,
                    cfgs[i].ways as usize,
                    cfgs[i].replacement,
                    seed ^ (0x5bd1_e995 * (i as u64 + 1)),
                ),
            })
            .collect();
        let psc_stats = order
            .iter()
            .map(|&i| PscStats {
                name: cfgs[i].name.clone(),
                level: cfgs[i].level,
                ..Default::default()
            })
            .collect();
        let mut psc_at = [NO_PSC; 8];
        for (i, p) in pscs.iter().enumerate().rev() {
            // Levels past the array hold no radix table the straight walk reads.
            if let Some(slot) = psc_at.get_mut(p.level) {
                *slot = i;
            }
        }
        Walker {
            pscs,
            psc_at,
            probe_latency: cfgs.iter().map(|c| c.latency as u64).max().unwrap_or(0),
            steps: Vec::with_capacity(64),
            nested: None,
            stats: WalkerStats {
                psc: psc_stats,
                reads_hist: vec![0; 65],
                ..Default::default()
            },
        }
    }

    /// Make the walker one of a virtualized machine (a nested TLB of `ntlb` = (entries,
    /// latency), if any,
    /// and host walk caches `host_psc`; `seed` seeds their replacement), if any:
    /// [`Walker::walk_nested`] needs it.
    pub fn enable_nested(&mut self, ntlb: Option<(usize, u64)>, host_psc: &[PscConfig], seed: u64) {
        self.nested = Some(nested::NestedParts::new(ntlb, host_psc, seed));
    }

    /// Time walks with ASAP's prefetched reads (`page_table.asap`) and count them.
    pub fn enable_asap(&mut self) {
        self.stats.asap = Some(AsapStats::default());
    }

    /// Walk `vaddr` of address space `asid` for `core`.
    #[inline]
    pub fn walk<PT: PageTable>(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        mem: &mut MemorySystem,
    ) -> WalkResult {
        self.walk_recorded(core, asid, vaddr, pt, mem, &mut NoRecord)
    }

    /// [`Walker::walk`], telling `rec` each walk-cache probe and page-table read (with the
    /// memory level that served it). With [`NoRecord`] this is `walk` itself.
    #[inline(always)]
    pub fn walk_recorded<PT: PageTable, R: Recorder>(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        mem: &mut MemorySystem,
        rec: &mut R,
    ) -> WalkResult {
        // A plain radix table, nobody listening: the straight walk, which gives the
        // same result without collecting the walk's steps (`straight.rs`).
        if !R::ON {
            if let Some(radix) = pt.as_radix() {
                return self.walk_straight(core, asid, vaddr, radix, mem);
            }
        }
        self.walk_general(core, asid, vaddr, pt, mem, rec)
    }

    /// The general demand walk (any design, recorded or not), out of line: the
    /// straight walk is inlined where walks are made, this is not.
    #[inline(never)]
    fn walk_general<PT: PageTable, R: Recorder>(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        mem: &mut MemorySystem,
        rec: &mut R,
    ) -> WalkResult {
        self.walk_as::<PT, R, true>(core, asid, vaddr, pt, mem, rec, &mut |_| {})
    }

    /// A prefetch walk (TLB prefetching, `crate::sim::prefetch`): the same walk-cache
    /// probe, reads and walk-cache fills as a demand walk, but not one of the walker's
    /// walks: its counters, the walk-cache hit counts and the memory system's
    /// `dram_pte_reads` (the demand walks' own) do not take it. Its reads go through the
    /// caches as translation reads (they fill and evict lines: the pollution the
    /// prefetcher causes); `served(depth)` is told the level that served each.
    pub fn prefetch_walk<PT: PageTable>(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        mem: &mut MemorySystem,
        served: &mut impl FnMut(usize),
    ) -> WalkResult {
        self.walk_as::<PT, NoRecord, false>(core, asid, vaddr, pt, mem, &mut NoRecord, served)
    }

    /// The walk of a demand miss (`DEMAND`, counted) or of a prefetch (not counted).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn walk_as<PT: PageTable, R: Recorder, const DEMAND: bool>(
        &mut self,
        core: usize,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        mem: &mut MemorySystem,
        rec: &mut R,
        served: &mut impl FnMut(usize),
    ) -> WalkResult {
        let (start, probe_latency) = self.probe_pscs::<PT, R, DEMAND>(asid, vaddr, pt, rec);
        self.steps.clear();
        let translation = pt.walk(asid, vaddr, start, &mut self.steps);
        // Reads of one group go out together and cost the slowest; groups are sequential.
        let mut pte_cycles = 0;
        let mut group = None;
        let mut slowest = 0;
        // ASAP: the same sum without prefetching (`serial`), and the reads predicted.
        let asap = self.stats.asap.is_some();
        let (mut serial, mut serial_slowest, mut predicted) = (0, 0, 0);
        for s in &self.steps {
            let (lat, served_by) = if DEMAND {
                mem.read_from(core, s.pte_addr, true)
            } else {
                mem.read_translation(core, s.pte_addr)
            };
            served(served_by);
            if R::ON {
                rec.event(Event::PteRead {
                    step: *s,
                    served_by,
                    cycles: lat,
                });
            }
            let lat = lat as u64;
            if group != Some(s.group) {
                pte_cycles += slowest;
                slowest = 0;
                serial += serial_slowest;
                serial_slowest = 0;
                group = Some(s.group);
            }
            if asap && pt.asap_predicted(asid, vaddr, s) {
                // Issued at 0, done at lat: it adds only what is left after the walk
                // reached it (done_i = max(done_{i-1}, lat_i)).
                slowest = slowest.max(lat.saturating_sub(pte_cycles));
                predicted += 1;
            } else {
                slowest = slowest.max(lat);
            }
            serial_slowest = serial_slowest.max(lat);
        }
        pte_cycles += slowest;
        if let Some(a) = self.stats.asap.as_mut().filter(|_| DEMAND) {
            // The demand walks' own, as the walker's other counters (prefetch walks
            // are counted by the prefetcher).
            a.predicted_reads += predicted;
            a.cycles_saved += serial + serial_slowest - pte_cycles;
        }
        // Remember the tables this walk found, for the next walk.
        nested::learn(&mut self.pscs, asid, vaddr, pt, &self.steps);
        let reads = self.steps.len() as u32;
        if !DEMAND {
            return WalkResult {
                psc_cycles: probe_latency,
                pte_cycles,
                reads,
                translation,
            };
        }
        self.stats.count_walk(reads, probe_latency, pte_cycles);
        if R::ON {
            rec.event(Event::WalkEnd {
                pte_cycles,
                translation,
            });
        }
        WalkResult {
            psc_cycles: probe_latency,
            pte_cycles,
            reads,
            translation,
        }
    }

    /// Probe the walk caches (in parallel) for `vaddr` of `asid`: the deepest hit's
    /// table to start from, and the probe's cycles (with a design's own walk cache).
    #[inline(always)]
    fn probe_pscs<PT: Walkable, R: Recorder, const DEMAND: bool>(
        &mut self,
        asid: u16,
        vaddr: VirtAddr,
        pt: &PT,
        rec: &mut R,
    ) -> (Option<WalkStart>, u64) {
        let mut start = None;
        // Walk caches hold radix tables; other designs have none to skip.
        let pscs: &mut [Psc] = if pt.has_levels() {
            &mut self.pscs
        } else {
            &mut []
        };
        // A design's own walk cache (cuckoo's CWC) is probed once per walk as well.
        let probe_latency = if pscs.is_empty() {
            0
        } else {
            self.probe_latency
        } + pt.walk_cache_cycles();
        // Each walk cache beside its counters (one per walk cache), without an index.
        let both = pscs.iter_mut().zip(self.stats.psc.iter_mut());
        for (i, (p, st)) in both.enumerate() {
            let prefix = vaddr.0 >> pt.level_shift(p.level);
            st.lookups += DEMAND as u64;
            if let Some(node) = p.lookup(prefix, psc_key(prefix, asid)) {
                st.hits += DEMAND as u64;
                if R::ON {
                    rec.event(Event::WalkCache {
                        psc: i,
                        level: p.level as u8,
                        hit: true,
                    });
                }
                if start.is_none() {
                    start = Some(WalkStart {
                        level: p.level as u8 - 1,
                        node: node as u32,
                    });
                }
            } else if R::ON {
                rec.event(Event::WalkCache {
                    psc: i,
                    level: p.level as u8,
                    hit: false,
                });
            }
        }
        if R::ON {
            rec.event(Event::WalkStart {
                start,
                probe_cycles: probe_latency,
            });
        }
        (start, probe_latency)
    }

    /// Name and radix level of each walk cache, in the order [`Event::WalkCache`]
    /// numbers them (deepest level first).
    pub fn psc_names(&self) -> Vec<(String, u32)> {
        self.stats
            .psc
            .iter()
            .map(|p| (p.name.clone(), p.level))
            .collect()
    }

    /// Drop every walk-cache entry (as a full TLB flush does on x86).
    pub fn flush(&mut self) {
        for p in &mut self.pscs {
            p.memo = NO_MEMO;
            p.array.flush();
        }
    }

    /// Drop the walk-cache entries of address space `asid` (x86 tags them with the
    /// PCID, like the TLB's).
    pub fn flush_asid(&mut self, asid: u16) {
        self.flush_spaces(&|a| a == asid);
    }

    /// Drop the walk-cache entries of the address spaces `which` accepts (a VM's), in
    /// one pass over each cache.
    pub fn flush_spaces(&mut self, which: &impl Fn(u16) -> bool) {
        let mask = (1u64 << ASID_BITS) - 1;
        for p in &mut self.pscs {
            p.memo = NO_MEMO;
            p.array.invalidate_where(|k| which((k & mask) as u16));
        }
    }

    pub fn reset_stats(&mut self) {
        self.reset_nested_stats();
        // The walk caches' counters restart in place: the fused walk's view points at
        // them (`fused.rs`), and keeps its pointers across the warm-up's restart.
        let mut psc = std::mem::take(&mut self.stats.psc);
        for p in &mut psc {
            (p.lookups, p.hits) = (0, 0);
        }
        self.stats = WalkerStats {
            psc,
            reads_hist: vec![0; 65],
            asap: self.stats.asap.map(|_| AsapStats::default()),
            ..Default::default()
        };
    }
}
