//! TLB structures and the multi-level TLB hierarchy of one core.
//!
//! Owns: every TLB structure of a core (built from `tlb[i]` of the config), grouped in
//! levels; lookup across levels; fills after a walk or a lower-level hit; victim-style
//! levels that only take evictions from the level above; per-structure and per-level
//! counters. Entries are tagged with the address-space id and page size.
//!
//! In: `(side, asid, vaddr)` for a lookup; `(translation)` to fill; pages, ranges and
//! address spaces to invalidate. Out: the level that hit (or none) and the cycles the
//! probes took; counters.
//!
//! Lookup model: all structures of one level that serve the access's side (instruction
//! or data) are probed in parallel for every page size they hold, since the page size is
//! unknown before the translation is found; the level costs the slowest of them. Misses
//! are attributed once the page size is known, to the structure that would have held
//! that size (as hardware counters such as DTLB_LOAD_MISSES count them).
//!
//! Organisations: how one structure stores and finds entries is an [`Organisation`]
//! (`tlb[i].organisation` in the config): set-associative ([`SetAssociative`], one file
//! beside this one) is the first, coalesced ([`Coalesced`], CoLT) the second, range
//! ([`RangeTlb`], RMM's range TLB) the third. The
//! hierarchy ([`Tlbs`]) owns levels, sides, page-size slots, fill roles, counters and
//! the repeated-hit shortcut, and asks the organisation only what depends on the
//! storage. It is generic over the organisation: [`Tlbs`] with the default
//! [`AnyOrganisation`] (`any.rs`) serves any mix, matching each structure's variant per
//! probe (a perfectly predicted branch); a run
//! whose structures all share one organisation may instantiate `Tlbs<ThatOne>` and pay
//! no match at all. No `dyn` call anywhere.
//!
//! The interface is shaped for what comes next: an [`Entry`] covers `pages` contiguous
//! pages (range and coalesced TLBs); a probe may report the memory reads it made
//! ([`MemReads`]: entries held in the data caches or DRAM, as Victima does) for the
//! caller to price; invalidation is by page, by range and by address space.

mod any;
mod coalesced;
mod fill;
mod fused;
mod invalidate;
mod mem_reads;
mod plain;
mod pom;
mod prefetch_buffer;
mod range;
mod record;
mod set_associative;
pub mod size_predict;
mod stats;

/// The seal of [`Organisation`]: each organisation's file implements it beside the
/// trait; nothing outside this module can.
mod sealed {
    pub trait Sealed {}
}
pub use any::AnyOrganisation;
pub use coalesced::{run_around, Coalesced, CoalescedStats};
pub use fused::{Missed, TlbView, FUSED_LEVELS};
pub use invalidate::Dropped;
pub use mem_reads::MemReads;
pub use pom::Pom;
pub use prefetch_buffer::{PrefetchBuffer, Prefetched};
pub use range::RangeTlb;
pub use record::TlbRecord;
pub use set_associative::{set_of_key, SetAssociative};
pub use stats::{LevelStats, TlbStats};

use crate::addr::{PageSize, PageSizeSet, PhysAddr, VirtAddr};
use crate::config::{TlbConfig, TlbFill};

/// Access side: index into per-side tables.
pub const INSTR: usize = 0;
pub const DATA: usize = 1;

const NONE: u16 = u16::MAX;

/// Widest address-space id a TLB tag holds (x86 PCIDs are 12 bits).
pub const ASID_BITS: u32 = 14;

/// The key a TLB entry for the page of `size` holding `vaddr` of `asid` carries: page
/// number, address-space id and page size packed so that no key equals the array's empty
/// marker (page numbers stay below 2^45 for 57-bit VAs).
#[inline(always)]
pub fn page_key(asid: u16, vaddr: VirtAddr, size: PageSize) -> u64 {
    tag(vaddr.0 >> size.shift(), asid, size.index())
}

#[inline(always)]
fn tag(vpn: u64, asid: u16, size: usize) -> u64 {
    (vpn << 16) | ((asid as u64) << 2) | size as u64
}

#[inline(always)]
fn untag(t: u64) -> (u64, u16, usize) {
    (
        t >> 16,
        ((t >> 2) & ((1 << ASID_BITS) - 1)) as u16,
        (t & 3) as usize,
    )
}

/// One translation as a TLB structure holds it: `pages` contiguous pages of `size` from
/// page number `vpn` (in units of `size`) of `asid`, mapped to contiguous frames from
/// physical address `frame`. A page entry has `pages = 1`; range and coalesced
/// organisations hold more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub asid: u16,
    pub size: PageSize,
    pub vpn: u64,
    pub frame: u64,
    pub pages: u64,
}

/// How one TLB structure stores and finds its entries. The hierarchy ([`Tlbs`]) calls it
/// per page size it slots the structure for; sizes, sides, levels, fill roles and the
/// common counters (hits, misses, fills, evictions) stay in the hierarchy.
///
/// Implementations are chosen once per run (generics or [`AnyOrganisation`]): methods
/// take `impl FnMut` arguments, so the trait is not meant for `dyn`. Sealed: the fast
/// path (`plain.rs`) relies on [`Organisation::pages`] answering as it did when the
/// hierarchy was built, which only this module's implementations promise.
pub trait Organisation: Sized + sealed::Sealed {
    /// The structure `cfg` describes (validated), or `None` if `cfg` names another
    /// organisation. `seed` feeds random replacement.
    fn build(cfg: &TlbConfig, seed: u64) -> Option<Self>;

    /// The frame (physical address) of the page of `size` holding `vaddr` of `asid`, if an
    /// entry covers it; updates replacement state on a hit. A probe that reads memory
    /// records each read in `reads` (the level's latency is charged by the hierarchy).
    fn lookup(
        &mut self,
        asid: u16,
        vaddr: u64,
        size: PageSize,
        reads: &mut MemReads,
    ) -> Option<u64>;

    /// Whether an entry translates the page of `size` holding `vaddr` of `asid`, without
    /// touching replacement state or memory (TLB prefetching skips pages the TLBs
    /// hold). An organisation that cannot tell cheaply answers false: the prefetch then
    /// goes ahead and may be wasted.
    #[inline(always)]
    fn holds(&self, _asid: u16, _vaddr: u64, _size: PageSize) -> bool {
        false
    }

    /// Whether repeating the last hit, with nothing else touching the structure in
    /// between, changes no state and reads no memory: the hierarchy then answers repeats
    /// of a level-1 hit without probing.
    #[inline(always)]
    fn repeats_hit_silently(&self) -> bool {
        true
    }

    /// Whether a probe may push memory reads to [`MemReads`] (a POM-TLB's set line):
    /// the core prices them only in runs where some structure says so.
    #[inline(always)]
    fn reads_memory(&self) -> bool {
        false
    }

    /// Bytes of simulated physical memory the entries occupy (0: held in SRAM). The
    /// machine reserves them at boot and gives the structure its address
    /// ([`Organisation::place`]).
    #[inline(always)]
    fn memory_bytes(&self) -> u64 {
        0
    }

    /// The entries start at physical address `base` (called once, when the machine is
    /// built, for a structure with [`Organisation::memory_bytes`] above 0).
    #[inline(always)]
    fn place(&mut self, _base: u64) {}

    /// The most pages one entry covers when it is filled after a walk: above 1, the
    /// hierarchy fills this structure with the run of pages the miss path found around
    /// the walked page ([`Tlbs::complete_run`]), others with the page alone.
    #[inline(always)]
    fn pages_per_entry(&self) -> u64 {
        1
    }

    /// Whether the structure holds ranges filled only from a range walk
    /// ([`Tlbs::set_range`]): after a walk without a range, it takes nothing.
    #[inline(always)]
    fn holds_ranges(&self) -> bool {
        false
    }

    /// The structure as the set-associative array of pages it is, if it is one (not an
    /// organisation that keeps one inside, such as the POM-TLB): the hierarchy's fast
    /// path (`plain.rs`) probes and fills it directly.
    #[inline(always)]
    fn pages(&mut self) -> Option<&mut SetAssociative> {
        None
    }

    /// Install `e` (or refresh it); returns the valid entry it displaced, if any (the
    /// hierarchy passes it to a victim level below).
    fn insert(&mut self, e: Entry) -> Option<Entry>;

    /// [`Organisation::insert`] for a caller that needs only whether a valid entry was
    /// displaced (an organisation may then skip rebuilding the displaced entry).
    #[inline(always)]
    fn insert_evicts(&mut self, e: Entry) -> bool {
        self.insert(e).is_some()
    }

    /// Remove the translation of the page of `size` holding `vaddr` of `asid`; true if
    /// an entry went. An entry of many pages that covers it goes (or shrinks) too.
    fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) -> bool;

    /// Remove every entry of `asid` that covers any byte of `[start, end)`; returns how
    /// many went.
    fn invalidate_range(&mut self, asid: u16, start: u64, end: u64) -> usize;

    /// Remove every entry of the address spaces `which` accepts (one, or one VM's),
    /// calling `removed` with the [`page_key`] of each removed entry's first page;
    /// returns how many went.
    fn invalidate_spaces(
        &mut self,
        which: &impl Fn(u16) -> bool,
        removed: &mut impl FnMut(u64),
    ) -> usize;

    /// Remove every entry.
    fn flush(&mut self);

    /// Valid entries held now.
    fn occupancy(&self) -> usize;

    /// Add the counters only this organisation keeps to `s` (the common ones are the
    /// hierarchy's).
    #[inline(always)]
    fn stats(&self, _s: &mut TlbStats) {}

    /// Restart the organisation's own counters (after warm-up); contents stay.
    #[inline(always)]
    fn reset_stats(&mut self) {}
}

struct Structure<O> {
    sizes: PageSizeSet,
    fill: TlbFill,
    /// Filled after a walk with the run around the page, not the page alone.
    coalescing: bool,
    /// Filled only with ranges ([`Tlbs::set_range`]).
    ranged: bool,
    org: O,
    stats: TlbStats,
    /// Fills of the fast path that displaced no valid entry, since the counters
    /// restarted (its evictions are its fills less these: `plain.rs`).
    kept: u64,
}

struct Level {
    /// `slot[side][size]`: the structure holding pages of that size for that side.
    slot: [[u16; 3]; 2],
    /// `held[side]`: bit `size` set where `slot[side][size]` is a structure, so that a
    /// lookup visits only those sizes.
    held: [u8; 2],
    /// Probe cost of the level for each side (slowest structure probed).
    latency: [u32; 2],
    /// Every structure of the level holds ranges: it is probed beside the level above
    /// (a range TLB beside the last-level TLB), so a hit here fills the levels above
    /// that one, not that one.
    beside: bool,
    stats: LevelStats,
}

/// Where a lookup found its translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbHit {
    /// 0-based level index.
    pub level: usize,
    /// Physical address of the page frame.
    pub frame: PhysAddr,
    pub size: PageSize,
}

/// The last lookup, if it hit at level 1 in a structure whose repeated hits change
/// nothing ([`Organisation::repeats_hit_silently`]) and nothing has touched the TLBs
/// since: the repeat can skip the probe and stay exact.
#[derive(Clone, Copy)]
struct Memo {
    valid: bool,
    side: usize,
    asid: u16,
    /// Page base of the hit and the mask that extracts it.
    base: u64,
    mask: u64,
    hit: TlbHit,
    structure: u16,
    /// Level-1 probe cost for `side`.
    lat: u64,
    /// Repeats answered since the memo was made, not yet added to the counters (the
    /// repeat path stays a few instructions; [`Tlbs::forget_memo`] and every reader of
    /// the counters account for them).
    repeats: u64,
}

impl Memo {
    /// The memo of a level-1 `hit` in structure `s` of a lookup of `vaddr` by `side`
    /// and `asid` that cost `lat`.
    #[inline(always)]
    fn of_hit(side: usize, asid: u16, vaddr: u64, hit: TlbHit, s: u16, lat: u64) -> Memo {
        let mask = !(hit.size.bytes() - 1);
        Memo {
            valid: true,
            side,
            asid,
            base: vaddr & mask,
            mask,
            hit,
            structure: s,
            lat,
            repeats: 0,
        }
    }
}

/// All TLB levels of one core, each structure organised as an `O`.
pub struct Tlbs<O = AnyOrganisation> {
    structs: Vec<Structure<O>>,
    levels: Vec<Level>,
    memo: Memo,
    /// Page sizes ever filled into any structure (bit i = size index i). A size never
    /// filled cannot hit, so lookups skip it; the mask is never cleared, which keeps
    /// the skip exact after invalidations.
    filled: u8,
    /// Memory reads of the probes since [`Tlbs::take_memory_reads`] last emptied it
    /// (none for organisations held in SRAM, such as set-associative).
    reads: MemReads,
    /// Entries may be smaller than the page they translate (a virtualized machine's
    /// guest huge page held as the host's smaller pages): invalidating a huge page then
    /// removes every entry inside it.
    splinters: bool,
    /// The most pages any structure's entry covers (1: no structure coalesces).
    coalesce: u64,
    /// The run around the page just walked ([`Tlbs::set_run`]), for the coalescing
    /// structures the next [`Tlbs::complete`] fills; `None`: they take the page.
    run: Option<Entry>,
    /// Invalidations and last-level evictions, kept for Victima (`invalidate.rs`).
    dropped: invalidate::DropLog,
    /// Some structure holds ranges ([`Organisation::holds_ranges`]).
    ranges: bool,
    /// The range covering the page just walked ([`Tlbs::set_range`]), for the range
    /// structures the next [`Tlbs::complete`] fills; `None`: they take nothing.
    range: Option<Entry>,
    /// Level 1 probed by predicted page size, in sequence (`size_predict.rs`).
    predict: Option<Box<size_predict::Predictor>>,
    /// TLB prefetching's buffer beside the last level (`prefetch_buffer.rs`), here so
    /// that every invalidation reaches it.
    prefetched: Option<Box<PrefetchBuffer>>,
    /// The reference stream of one structure below level 1, when asked (`record.rs`).
    record: Option<Box<TlbRecord>>,
    /// No structure is a victim level, holds ranges or coalesces, no level is probed
    /// beside another, and nothing predicts or records: a miss's fill is then
    /// [`Tlbs::fill_plain`]. Cleared by whatever sets one of those up later.
    plain: bool,
    /// `plain`, every structure is a set-associative array of pages
    /// ([`Organisation::pages`]) with LRU kept as ranks (at most 16 ways) and no
    /// last-level eviction is kept: lookups and fills
    /// take the fast path (`plain.rs`). Cleared with `plain` and by
    /// [`Tlbs::keep_evictions`].
    fast: bool,
    /// The fast path's order of probes and the counts it keeps as totals (`plain.rs`).
    plan: plain::Plan,
    /// Unit tests turn the shortcut off to check it against the full path.
    #[cfg(test)]
    no_memo: bool,
}

impl Tlbs {
    /// Build from validated configs, any organisation per structure. `seed` feeds random
    /// replacement.
    pub fn new(cfgs: &[TlbConfig], seed: u64) -> Tlbs {
        Self::build(cfgs, seed).expect("every organisation builds from its own config")
    }
}

impl<O: Organisation> Tlbs<O> {
    /// Build from validated configs, or `None` if a structure is not organised as `O`.
    pub fn build(cfgs: &[TlbConfig], seed: u64) -> Option<Tlbs<O>> {
        let nlevels = cfgs.iter().map(|c| c.level as usize).max().unwrap_or(0);
        let mut levels: Vec<Level> = (0..nlevels)
            .map(|l| Level {
                slot: [[NONE; 3]; 2],
                held: [0; 2],
                latency: [0; 2],
                beside: false,
                stats: LevelStats {
                    level: l as u32 + 1,
                    ..Default::default()
                },
            })
            .collect();
        let mut structs = Vec::with_capacity(cfgs.len());
        for (i, c) in cfgs.iter().enumerate() {
            let lvl = &mut levels[c.level as usize - 1];
            for (side, serves) in [
                (INSTR, c.kind.serves_instructions()),
                (DATA, c.kind.serves_data()),
            ] {
                if serves {
                    for s in &c.page_sizes {
                        lvl.slot[side][s.index()] = i as u16;
                        lvl.held[side] |= 1 << s.index();
                    }
                    lvl.latency[side] = lvl.latency[side].max(c.latency);
                }
            }
            let org = O::build(c, seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15))?;
            structs.push(Structure {
                sizes: PageSizeSet::of(&c.page_sizes),
                fill: c.fill,
                coalescing: org.pages_per_entry() > 1,
                ranged: org.holds_ranges(),
                org,
                stats: TlbStats {
                    name: c.name.clone(),
                    level: c.level,
                    ..Default::default()
                },
                kept: 0,
            });
        }
        for (l, lvl) in levels.iter_mut().enumerate() {
            let mut at = (structs.iter())
                .zip(cfgs)
                .filter(|(_, c)| c.level as usize == l + 1);
            lvl.beside = l > 0 && at.all(|(s, _)| s.ranged);
        }
        let ranges = structs.iter().any(|s| s.ranged);
        let coalesce = (structs.iter().map(|s| s.org.pages_per_entry()))
            .max()
            .unwrap_or(1);
        // A probe that reads memory reads it whether or not its structure holds pages of
        // that size yet (hardware cannot know): with such a structure every size is
        // probed from the start (the skip stays exact: an empty size cannot hit).
        let filled = match structs.iter().any(|s| s.org.reads_memory()) {
            true => 0b111,
            false => 0,
        };
        let plain = coalesce == 1
            && !ranges
            && (structs.iter()).all(|s| s.fill != TlbFill::Victim)
            && !levels.iter().any(|l| l.beside);
        let fast = plain
            && levels.len() <= plain::MAX_LEVELS
            && (structs.iter_mut()).all(|s| s.org.pages().is_some_and(|p| p.is_ranked()));
        Some(Tlbs {
            plain,
            fast,
            plan: Default::default(),
            coalesce,
            run: None,
            dropped: Default::default(),
            ranges,
            range: None,
            predict: None,
            prefetched: None,
            record: None,
            structs,
            levels,
            filled,
            splinters: false,
            reads: MemReads::default(),
            memo: Memo {
                valid: false,
                side: 0,
                asid: 0,
                base: 0,
                mask: 0,
                hit: TlbHit {
                    level: 0,
                    frame: PhysAddr(0),
                    size: PageSize::Size4K,
                },
                structure: 0,
                lat: 0,
                repeats: 0,
            },
            #[cfg(test)]
            no_memo: false,
        })
    }

    /// The most pages one entry of any structure covers: above 1, the miss path
    /// computes the run around each walked page ([`run_around`]) and fills with
    /// [`Tlbs::complete_run`]; 1 costs nothing.
    #[inline(always)]
    pub fn coalesce(&self) -> u64 {
        self.coalesce
    }

    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// Whether some structure's probes read memory ([`Organisation::reads_memory`]):
    /// the core then prices [`Tlbs::take_memory_reads`] after each lookup.
    pub fn reads_memory(&self) -> bool {
        self.structs.iter().any(|s| s.org.reads_memory())
    }

    /// Bytes of physical memory the structures keep their entries in.
    pub fn memory_bytes(&self) -> u64 {
        self.structs.iter().map(|s| s.org.memory_bytes()).sum()
    }

    /// Lay the structures that keep entries in memory out from physical address
    /// `base`, one after another in config order ([`Tlbs::memory_bytes`] in all).
    pub fn place(&mut self, base: u64) {
        let mut at = base;
        for s in &mut self.structs {
            let n = s.org.memory_bytes();
            if n > 0 {
                s.org.place(at);
                at += n;
            }
        }
    }

    /// Hits at 0-based level `level`, both sides.
    pub fn level_hits(&self, level: usize) -> u64 {
        let s = &self.levels[level].stats;
        s.instruction_hits + s.data_hits + if level == 0 { self.pending(None) } else { 0 }
    }

    /// Names of the structures of 0-based level `level` that serve `side`.
    pub fn structure_names(&self, level: usize, side: usize) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for &s in &self.levels[level].slot[side] {
            if s != NONE {
                let name = &self.structs[s as usize].stats.name;
                if !v.contains(name) {
                    v.push(name.clone());
                }
            }
        }
        v
    }

    /// Probe cost of level `level` for `side` (0 if no structure serves it).
    pub fn level_latency(&self, level: usize, side: usize) -> u32 {
        self.levels[level].latency[side]
    }

    /// Probe the levels in order until one holds the translation of `vaddr`.
    /// Adds the probe cycles to `cycles`. Does not fill; call [`Tlbs::complete`] next.
    #[inline(always)]
    pub fn lookup(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: VirtAddr,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        if let Some((hit, lat)) = self.repeat(side, asid, vaddr) {
            *cycles += lat;
            return Some(hit);
        }
        if self.fast {
            return self.probe_fast(side, asid, vaddr.0, cycles);
        }
        self.probe_levels(side, asid, vaddr.0, cycles)
    }

    /// The lookup of a page the last lookup hit at level 1, when nothing has touched
    /// the TLBs since (the shortcut [`Tlbs::lookup`] takes first): the hit and its probe
    /// cycles, counted as a lookup; `None` otherwise, with nothing changed.
    #[inline(always)]
    pub fn repeat(&mut self, side: usize, asid: u16, vaddr: VirtAddr) -> Option<(TlbHit, u64)> {
        let m = &self.memo;
        #[cfg(test)]
        let m = &Memo {
            valid: m.valid && !self.no_memo,
            ..*m
        };
        if m.valid && m.side == side && m.asid == asid && vaddr.0 & m.mask == m.base {
            let r = (m.hit, m.lat);
            self.memo.repeats += 1;
            return Some(r);
        }
        None
    }

    /// [`Tlbs::lookup`] past the repeated-hit shortcut. Out of line: the caller's loop,
    /// whose accesses mostly take the shortcut, keeps its registers for itself.
    #[inline(never)]
    fn probe_levels(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        debug_assert!(side == INSTR || side == DATA);
        // The side is 0 or 1: masked, every per-side array below is indexed unchecked.
        let side = side & 1;
        self.forget_memo();
        // Level 1 by predicted page size, when steered (`size_predict.rs`).
        if let Some(h) = self.lookup_predicted(side, asid, vaddr, cycles) {
            return Some(h);
        }
        let first = self.predict.is_some() as usize;
        for (l, lvl) in self.levels.iter_mut().enumerate().skip(first) {
            let lat = lvl.latency[side] as u64;
            *cycles += lat;
            lvl.stats.cycles += lat;
            // The sizes this level holds for the side and some structure ever took.
            let mut sizes = lvl.held[side] & self.filled;
            while sizes != 0 {
                let size = sizes.trailing_zeros() as usize;
                sizes &= sizes - 1;
                let s = lvl.slot[side][size];
                let st = &mut self.structs[s as usize];
                let ps = PageSize::from_index(size);
                if let Some(frame) = st.org.lookup(asid, vaddr, ps, &mut self.reads) {
                    st.stats.hits += 1;
                    lvl.stats.add_hits(side, 1);
                    let hit = TlbHit {
                        level: l,
                        frame: PhysAddr(frame),
                        size: ps,
                    };
                    if l == 0 && st.org.repeats_hit_silently() {
                        self.memo = Memo::of_hit(side, asid, vaddr, hit, s, lat);
                    }
                    return Some(hit);
                }
            }
        }
        None
    }

    /// Drop the memo, adding the repeats it answered to the counters.
    #[inline(always)]
    fn forget_memo(&mut self) {
        let m = &mut self.memo;
        if m.repeats > 0 {
            let (side, r) = (m.side, m.repeats);
            m.repeats = 0;
            let st = &mut self.levels[0].stats;
            st.cycles += r * m.lat;
            st.add_hits(side, r);
            self.structs[m.structure as usize].stats.hits += r;
        }
        self.memo.valid = false;
    }

    /// Repeats answered by the memo and not yet counted, if the memo is of structure
    /// `s` (`None`: of any structure).
    fn pending(&self, s: Option<usize>) -> u64 {
        let m = &self.memo;
        if s.is_none_or(|s| s == m.structure as usize) {
            m.repeats
        } else {
            0
        }
    }

    /// The memory reads the probes made since the last call (for the caller to price),
    /// leaving none. Always empty for organisations held in SRAM.
    pub fn take_memory_reads(&mut self) -> MemReads {
        std::mem::take(&mut self.reads)
    }

    /// Finish a translation that hit at level `hit_level` (or `num_levels()` after a
    /// walk): count the misses of the levels above it, move the entry out of a victim
    /// level that hit, and fill the levels above that fill on a miss.
    #[inline(always)]
    pub fn complete(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: VirtAddr,
        frame: PhysAddr,
        size: PageSize,
        hit_level: usize,
    ) {
        if hit_level == 0 {
            // A level-1 hit changes nothing more.
            return;
        }
        if self.fast {
            return self.fill_fast(side, asid, vaddr.0, frame.0, size, hit_level);
        }
        self.complete_miss(side, asid, vaddr.0, frame.0, size, hit_level);
    }

    /// The run of contiguous pages around the page just walked ([`run_around`]): the
    /// coalescing structures take it at the next [`Tlbs::complete`] (the same access's),
    /// the others the page. Set by the miss path only when [`Tlbs::coalesce`] is above 1,
    /// so the common path carries nothing more.
    pub fn set_run(&mut self, run: Entry) {
        self.run = Some(run);
    }

    /// [`Tlbs::set_run`] then [`Tlbs::complete`] of the run's page at `vaddr`.
    pub fn complete_run(
        &mut self,
        side: usize,
        vaddr: VirtAddr,
        frame: PhysAddr,
        hit_level: usize,
        run: Entry,
    ) {
        self.set_run(run);
        self.complete(side, run.asid, vaddr, frame, run.size, hit_level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assoc::{Replacement, SetAssoc};
    use crate::config::{TlbKind, TlbOrganisation};
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    fn cfg(name: &str, level: u32, entries: u32, ways: u32, fill: TlbFill) -> TlbConfig {
        TlbConfig {
            name: name.into(),
            level,
            kind: TlbKind::Unified,
            entries,
            ways,
            page_sizes: vec![PageSize::Size4K],
            latency: level * 3,
            replacement: Replacement::Lru,
            fill,
            organisation: TlbOrganisation::SetAssociative,
            coalesce: None,
        }
    }

    /// Translate every page; returns the hit level per reference (None = walk).
    fn drive(t: &mut Tlbs, pages: &[u64]) -> Vec<Option<usize>> {
        pages
            .iter()
            .map(|&p| {
                let va = p << 12;
                let mut c = 0;
                let h = t.lookup(DATA, 1, VirtAddr(va), &mut c);
                let lvl = h.map(|h| h.level);
                t.complete(
                    DATA,
                    1,
                    VirtAddr(va),
                    PhysAddr(p << 12),
                    PageSize::Size4K,
                    lvl.unwrap_or(t.num_levels()),
                );
                lvl
            })
            .collect()
    }

    fn pages(seed: u64, n: usize, range: u64) -> Vec<u64> {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n).map(|_| r.next_u64() % range).collect()
    }

    #[test]
    fn one_set_tlb_behaves_fully_associative() {
        // Reference: a 16-entry fully-associative LRU list.
        let refs = pages(1, 20000, 40);
        let mut t = Tlbs::new(&[cfg("fa", 1, 16, 16, TlbFill::Miss)], 0);
        let got = drive(&mut t, &refs);
        let mut list: Vec<u64> = Vec::new();
        for (i, &p) in refs.iter().enumerate() {
            let hit = if let Some(k) = list.iter().position(|&x| x == p) {
                list.remove(k);
                true
            } else {
                if list.len() == 16 {
                    list.remove(0);
                }
                false
            };
            list.push(p);
            assert_eq!(got[i].is_some(), hit, "ref {i}");
        }
    }

    #[test]
    fn victim_level_holds_exactly_the_l1_evictions() {
        // L1: 2-entry FA; L2: 4-entry FA victim. Together they act as a 6-entry
        // exclusive hierarchy: a page is found in L1 or L2 iff it is among the 6 most
        // recently used distinct pages (LRU L1 evicts its LRU entry into an LRU L2).
        let refs = pages(2, 20000, 9);
        let mut t = Tlbs::new(
            &[
                cfg("l1", 1, 2, 2, TlbFill::Miss),
                cfg("l2", 2, 4, 4, TlbFill::Victim),
            ],
            0,
        );
        let got = drive(&mut t, &refs);
        let mut list: Vec<u64> = Vec::new();
        for (i, &p) in refs.iter().enumerate() {
            let pos = list.iter().rev().position(|&x| x == p); // 0 = most recent
            let expect = match pos {
                Some(d) if d < 2 => Some(0),
                Some(d) if d < 6 => Some(1),
                _ => None,
            };
            assert_eq!(got[i], expect, "ref {i}");
            if let Some(k) = list.iter().position(|&x| x == p) {
                list.remove(k);
            }
            list.push(p);
        }
        let s = t.stats();
        assert_eq!(
            s[1].hits,
            got.iter().filter(|h| **h == Some(1)).count() as u64
        );
    }

    #[test]
    fn misses_are_charged_to_the_structure_of_the_right_size() {
        let mut c4 = cfg("d4k", 1, 4, 4, TlbFill::Miss);
        c4.kind = TlbKind::Data;
        let mut c2 = cfg("d2m", 1, 4, 4, TlbFill::Miss);
        c2.kind = TlbKind::Data;
        c2.page_sizes = vec![PageSize::Size2M];
        let mut t = Tlbs::new(&[c4, c2], 0);
        let mut cyc = 0;
        assert!(t.lookup(DATA, 0, VirtAddr(0x20_0000), &mut cyc).is_none());
        t.complete(
            DATA,
            0,
            VirtAddr(0x20_0000),
            PhysAddr(0x4000_0000),
            PageSize::Size2M,
            1,
        );
        let h = t.lookup(DATA, 0, VirtAddr(0x20_1234), &mut cyc).unwrap();
        assert_eq!(
            (h.level, h.size, h.frame),
            (0, PageSize::Size2M, PhysAddr(0x4000_0000))
        );
        let s = t.stats();
        assert_eq!((s[0].misses, s[1].misses, s[1].hits), (0, 1, 1));
        // The probe cost is paid per level lookup, not per structure.
        assert_eq!(cyc, 6);
        // Instruction side has no structure: its lookups miss at no cost.
        let mut c = 0;
        assert!(t.lookup(INSTR, 0, VirtAddr(0x20_0000), &mut c).is_none());
        assert_eq!(c, 0);
    }

    #[test]
    fn asids_do_not_share_entries() {
        let mut t = Tlbs::new(&[cfg("fa", 1, 8, 8, TlbFill::Miss)], 0);
        let mut c = 0;
        t.complete(
            DATA,
            1,
            VirtAddr(0x5000),
            PhysAddr(0x9000),
            PageSize::Size4K,
            1,
        );
        assert!(t.lookup(DATA, 1, VirtAddr(0x5000), &mut c).is_some());
        assert!(t.lookup(DATA, 2, VirtAddr(0x5000), &mut c).is_none());
        t.invalidate_page(1, VirtAddr(0x5fff), PageSize::Size4K);
        assert!(t.lookup(DATA, 1, VirtAddr(0x5000), &mut c).is_none());
    }

    #[test]
    fn repeated_hits_shortcut_is_exact_for_every_policy() {
        // Runs of repeats (where the shortcut fires) mixed with conflicts, compared with the
        // bare array driven without any shortcut.
        let mut r = Xoshiro256PlusPlus::seed_from_u64(9);
        let mut refs = Vec::new();
        for _ in 0..3000 {
            let p = r.next_u64() % 24;
            for _ in 0..1 + r.next_u64() % 4 {
                refs.push(p);
            }
        }
        for repl in [
            Replacement::Lru,
            Replacement::Plru,
            Replacement::Fifo,
            Replacement::Random,
        ] {
            let mut c = cfg("t", 1, 16, 4, TlbFill::Miss);
            c.replacement = repl;
            let mut t = Tlbs::new(&[c], 5);
            let got = drive(&mut t, &refs);
            // Structure 0 of a hierarchy built with seed 5.
            let seed = 5;
            let mut a = SetAssoc::new(4, 4, repl, seed);
            for (i, &p) in refs.iter().enumerate() {
                let set = (p & 3) as usize;
                let key = tag(p, 1, 0);
                let hit = a.lookup(set, key).is_some();
                if !hit {
                    a.insert(set, key, p << 12);
                }
                assert_eq!(got[i].is_some(), hit, "{repl:?} ref {i}");
            }
        }
    }

    #[test]
    fn shortcut_matches_the_full_path_on_mixed_traffic() {
        // Both sides, three address spaces, three page sizes, a victim level and
        // invalidations: with and without the shortcut, every result and counter agrees.
        let mut l1d = cfg("l1d", 1, 8, 4, TlbFill::Miss);
        l1d.kind = TlbKind::Data;
        let mut l1d2m = cfg("l1d2m", 1, 4, 4, TlbFill::Miss);
        l1d2m.kind = TlbKind::Data;
        l1d2m.page_sizes = vec![PageSize::Size2M, PageSize::Size1G];
        l1d2m.replacement = Replacement::Plru;
        let mut l1i = cfg("l1i", 1, 4, 2, TlbFill::Miss);
        l1i.kind = TlbKind::Instruction;
        l1i.replacement = Replacement::Random;
        let mut l2 = cfg("l2", 2, 16, 4, TlbFill::Victim);
        l2.page_sizes = vec![PageSize::Size4K, PageSize::Size2M, PageSize::Size1G];
        l2.replacement = Replacement::Fifo;
        let cfgs = [l1d, l1d2m, l1i, l2];
        let mut with = Tlbs::new(&cfgs, 3);
        let mut without = Tlbs::new(&cfgs, 3);
        without.no_memo = true;
        let mut r = Xoshiro256PlusPlus::seed_from_u64(12);
        let (mut side, mut asid, mut va) = (DATA, 1u16, 0u64);
        for i in 0..40000 {
            let x = r.next_u64();
            // Mostly repeat the last access (where the shortcut fires), sometimes move.
            if x % 3 == 0 {
                side = if x % 7 == 0 { INSTR } else { DATA };
                asid = 1 + (x >> 8) as u16 % 3;
                va = ((x >> 16) % 40) << 12;
                if (x >> 40) % 5 == 0 {
                    va = ((x >> 16) % 6) << 21;
                }
            }
            let size = if va >= 1 << 21 && va % (1 << 21) == 0 {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            };
            if x % 997 == 0 {
                with.invalidate_page(asid, VirtAddr(va), size);
                without.invalidate_page(asid, VirtAddr(va), size);
            }
            let (mut c1, mut c2) = (0, 0);
            let h1 = with.lookup(side, asid, VirtAddr(va), &mut c1);
            let h2 = without.lookup(side, asid, VirtAddr(va), &mut c2);
            assert_eq!((h1, c1), (h2, c2), "access {i}");
            let lvl = h1.map_or(2, |h| h.level);
            with.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
            without.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
        }
        assert_eq!(with.stats(), without.stats());
        assert_eq!(with.level_stats(), without.level_stats());
    }

    /// The mixed hierarchy of the shortcut test: both sides, three page sizes, every
    /// replacement policy, a victim level.
    fn mixed_cfgs() -> Vec<TlbConfig> {
        let mut l1d = cfg("l1d", 1, 8, 4, TlbFill::Miss);
        l1d.kind = TlbKind::Data;
        let mut l1d2m = cfg("l1d2m", 1, 4, 4, TlbFill::Miss);
        l1d2m.kind = TlbKind::Data;
        l1d2m.page_sizes = vec![PageSize::Size2M, PageSize::Size1G];
        l1d2m.replacement = Replacement::Plru;
        let mut l1i = cfg("l1i", 1, 4, 2, TlbFill::Miss);
        l1i.kind = TlbKind::Instruction;
        l1i.replacement = Replacement::Random;
        let mut l2 = cfg("l2", 2, 16, 4, TlbFill::Victim);
        l2.page_sizes = vec![PageSize::Size4K, PageSize::Size2M, PageSize::Size1G];
        l2.replacement = Replacement::Fifo;
        vec![l1d, l1d2m, l1i, l2]
    }

    /// One access of mixed traffic (mostly repeats): side, asid, address, page size.
    fn mixed_access(
        r: &mut Xoshiro256PlusPlus,
        last: (usize, u16, u64),
    ) -> (usize, u16, u64, PageSize) {
        let x = r.next_u64();
        let (mut side, mut asid, mut va) = last;
        if x % 3 == 0 {
            side = if x % 7 == 0 { INSTR } else { DATA };
            asid = 1 + (x >> 8) as u16 % 3;
            va = ((x >> 16) % 40) << 12;
            if (x >> 40) % 5 == 0 {
                va = ((x >> 16) % 6) << 21;
            }
        }
        let size = if va >= 1 << 21 && va % (1 << 21) == 0 {
            PageSize::Size2M
        } else {
            PageSize::Size4K
        };
        (side, asid, va, size)
    }

    /// A hierarchy with no victim level fills through `fill_plain`; forced through the
    /// general path instead, it gives the same lookups, counters, contents and
    /// last-level evictions, access for access (mixed sides, sizes, address spaces,
    /// policies, a level-2 structure holding every size, invalidations).
    #[test]
    fn the_plain_fill_equals_the_general_one() {
        let mut cfgs = mixed_cfgs();
        cfgs[3].fill = TlbFill::Miss;
        let mut plain = Tlbs::new(&cfgs, 3);
        let mut general = Tlbs::new(&cfgs, 3);
        assert!(plain.plain);
        general.plain = false;
        plain.keep_evictions();
        general.keep_evictions();
        let mut r = Xoshiro256PlusPlus::seed_from_u64(8);
        let mut last = (DATA, 1, 0);
        let mut evicted = 0;
        for i in 0..30000 {
            let (side, asid, va, size) = mixed_access(&mut r, last);
            last = (side, asid, va);
            if i % 331 == 0 {
                plain.invalidate_page(asid, VirtAddr(va), size);
                general.invalidate_page(asid, VirtAddr(va), size);
            }
            let (mut c1, mut c2) = (0, 0);
            let h1 = plain.lookup(side, asid, VirtAddr(va), &mut c1);
            let h2 = general.lookup(side, asid, VirtAddr(va), &mut c2);
            assert_eq!((h1, c1), (h2, c2), "access {i}");
            let lvl = h1.map_or(2, |h| h.level);
            for t in [&mut plain, &mut general] {
                t.complete(
                    side,
                    asid,
                    VirtAddr(va),
                    PhysAddr(va ^ 0x7000_0000),
                    size,
                    lvl,
                );
            }
            let e = plain.take_evicted();
            assert_eq!(e, general.take_evicted(), "access {i}");
            evicted += e.is_some() as u32;
        }
        assert!(evicted > 100, "the last level evicted {evicted} entries");
        assert_eq!(plain.stats(), general.stats());
        assert_eq!(plain.level_stats(), general.level_stats());
        assert_eq!(plain.occupancy(), general.occupancy());
    }

    /// The hierarchy generic over one organisation gives what the enum-dispatched one
    /// gives, access for access.
    #[test]
    fn a_hierarchy_of_one_organisation_equals_the_dispatched_one() {
        let cfgs = mixed_cfgs();
        let mut any = Tlbs::new(&cfgs, 3);
        let mut one = Tlbs::<SetAssociative>::build(&cfgs, 3).unwrap();
        let mut r = Xoshiro256PlusPlus::seed_from_u64(8);
        let mut last = (DATA, 1, 0);
        for i in 0..30000 {
            let (side, asid, va, size) = mixed_access(&mut r, last);
            last = (side, asid, va);
            if i % 1009 == 0 {
                assert_eq!(
                    any.invalidate_range(asid, va, va + 0x3000),
                    one.invalidate_range(asid, va, va + 0x3000)
                );
            }
            let (mut c1, mut c2) = (0, 0);
            let h1 = any.lookup(side, asid, VirtAddr(va), &mut c1);
            assert_eq!(
                (h1, c1),
                (one.lookup(side, asid, VirtAddr(va), &mut c2), c2),
                "access {i}"
            );
            let lvl = h1.map_or(2, |h| h.level);
            any.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
            one.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
        }
        assert_eq!(any.stats(), one.stats());
        assert_eq!(any.level_stats(), one.level_stats());
        assert_eq!(any.occupancy(), one.occupancy());
        assert!(any.take_memory_reads().is_empty());
    }

    /// Repeats counted lazily are in every counter read at any time, and a reset
    /// discards the ones before it: with and without the shortcut the readings agree.
    #[test]
    fn counters_read_mid_run_include_the_pending_repeats() {
        let cfgs = mixed_cfgs();
        let mut with = Tlbs::new(&cfgs, 3);
        let mut without = Tlbs::new(&cfgs, 3);
        without.no_memo = true;
        let mut r = Xoshiro256PlusPlus::seed_from_u64(5);
        let mut last = (DATA, 1, 0);
        for i in 0..20000 {
            let (side, asid, va, size) = mixed_access(&mut r, last);
            last = (side, asid, va);
            let (mut c1, mut c2) = (0, 0);
            let h1 = with.lookup(side, asid, VirtAddr(va), &mut c1);
            assert_eq!(
                (h1, c1),
                (without.lookup(side, asid, VirtAddr(va), &mut c2), c2),
                "access {i}"
            );
            let lvl = h1.map_or(2, |h| h.level);
            with.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
            without.complete(
                side,
                asid,
                VirtAddr(va),
                PhysAddr(va ^ 0x5000_0000),
                size,
                lvl,
            );
            if i % 97 == 0 {
                assert_eq!(with.level_hits(0), without.level_hits(0), "access {i}");
                assert_eq!(with.stats(), without.stats(), "access {i}");
                assert_eq!(with.level_stats(), without.level_stats(), "access {i}");
            }
            if i == 7001 {
                with.reset_stats();
                without.reset_stats();
            }
        }
        assert_eq!(with.stats(), without.stats());
        assert_eq!(with.level_stats(), without.level_stats());
    }

    /// Page, range and address-space invalidations reach every level. Filling pages
    /// 1..=6 of asid 1 and then page 3 of asid 2 into a 4-entry L1 (LRU) leaves L1 with
    /// 4, 5, 6 of asid 1 and 3 of asid 2; its evictions, 1, 2 and 3 of asid 1, sit in the
    /// victim L2.
    #[test]
    fn invalidations_reach_every_level() {
        let fill = || {
            let mut t = Tlbs::new(
                &[
                    cfg("l1", 1, 4, 4, TlbFill::Miss),
                    cfg("l2", 2, 8, 8, TlbFill::Victim),
                ],
                0,
            );
            for (asid, p) in [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 3)] {
                t.complete(
                    DATA,
                    asid,
                    VirtAddr(p << 12),
                    PhysAddr(p << 12),
                    PageSize::Size4K,
                    2,
                );
            }
            t
        };
        // Where each of (asid, page) is found: level index or None.
        let probe = |t: &mut Tlbs| -> Vec<Option<usize>> {
            [(1, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (2, 3)]
                .iter()
                .map(|&(a, p)| {
                    t.lookup(DATA, a, VirtAddr(p << 12), &mut 0)
                        .map(|h| h.level)
                })
                .collect()
        };
        let mut t = fill();
        assert_eq!(t.occupancy(), vec![4, 3]);
        let all = vec![
            Some(1),
            Some(1),
            Some(1),
            Some(0),
            Some(0),
            Some(0),
            Some(0),
        ];
        assert_eq!(probe(&mut t), all);
        // A page: asid 1's page 3 (in L2) goes, asid 2's page 3 (in L1) stays.
        t.invalidate_page(1, VirtAddr(0x3000), PageSize::Size4K);
        let mut want = all.clone();
        want[2] = None;
        assert_eq!(probe(&mut t), want);
        // A range [0x1800, 0x5000): pages 1 (from its middle), 2, 3 in L2 and 4 in L1
        // of asid 1; page 5 starts at the end and stays, and so does asid 2's page 3.
        let mut t = fill();
        assert_eq!(t.invalidate_range(1, 0x1800, 0x5000), 4);
        let want = vec![None, None, None, None, Some(0), Some(0), Some(0)];
        assert_eq!(probe(&mut t), want);
        // An address space: everything of asid 1, in both levels; asid 2 stays.
        let mut t = fill();
        let mut keys = std::collections::HashSet::new();
        assert_eq!(t.flush_asid_into(1, &mut keys), 6);
        let want: std::collections::HashSet<u64> = (1..=6)
            .map(|p| page_key(1, VirtAddr(p << 12), PageSize::Size4K))
            .collect();
        assert_eq!(keys, want);
        let mut want = vec![None; 6];
        want.push(Some(0));
        assert_eq!(probe(&mut t), want);
        t.flush_all();
        assert_eq!(t.occupancy(), vec![0, 0]);
    }

    /// The fast path (`plain.rs`) against the general probe and both general fills
    /// (`fill_plain`, and the cascade of `complete_miss`), access for access: lookups,
    /// cycles, counters and contents, on mixed sides, sizes, address spaces and
    /// invalidations of every kind; the counters also read mid-run, restarted as after
    /// warm-up, and read after the fast path is left (its totals stay counted).
    #[test]
    fn the_fast_path_equals_the_general_one() {
        let mut cfgs = mixed_cfgs();
        cfgs[3].fill = TlbFill::Miss;
        // The fast path serves LRU kept as ranks; another policy anywhere leaves it.
        assert!(!Tlbs::new(&cfgs, 3).fast);
        for c in &mut cfgs {
            c.replacement = Replacement::Lru;
        }
        let mut fast = Tlbs::new(&cfgs, 3);
        let mut plain = Tlbs::new(&cfgs, 3);
        let mut general = Tlbs::new(&cfgs, 3);
        assert!(fast.fast && fast.plain);
        plain.fast = false;
        (general.fast, general.plain) = (false, false);
        let mut r = Xoshiro256PlusPlus::seed_from_u64(21);
        let mut last = (DATA, 1, 0);
        for i in 0..40000 {
            let (side, asid, va, size) = mixed_access(&mut r, last);
            last = (side, asid, va);
            for t in [&mut fast, &mut plain, &mut general] {
                match i % 1500 {
                    7 => t.invalidate_page(asid, VirtAddr(va), size),
                    500 => assert!(t.invalidate_range(asid, 0, va + 0x4000) <= 40),
                    1000 => assert!(t.flush_asid_into(asid, &mut Default::default()) <= 40),
                    1499 => t.flush_all(),
                    _ => {}
                }
            }
            let mut c = [0; 3];
            let h0 = fast.lookup(side, asid, VirtAddr(va), &mut c[0]);
            let h1 = plain.lookup(side, asid, VirtAddr(va), &mut c[1]);
            let h2 = general.lookup(side, asid, VirtAddr(va), &mut c[2]);
            assert_eq!((h0, c[0]), (h1, c[1]), "access {i}");
            assert_eq!((h0, c[0]), (h2, c[2]), "access {i}");
            let lvl = h0.map_or(2, |h| h.level);
            for t in [&mut fast, &mut plain, &mut general] {
                let frame = PhysAddr(va ^ 0x6000_0000);
                t.complete(side, asid, VirtAddr(va), frame, size, lvl);
            }
            if i % 4999 == 0 || i == 39999 {
                for other in [&plain, &general] {
                    assert_eq!(fast.stats(), other.stats(), "access {i}");
                    assert_eq!(fast.level_stats(), other.level_stats(), "access {i}");
                    assert_eq!(fast.occupancy(), other.occupancy());
                }
            }
            if i == 20000 {
                for t in [&mut fast, &mut plain, &mut general] {
                    t.reset_stats();
                }
            }
            if i == 30000 {
                // Keeping evictions leaves the fast path (it keeps none).
                assert!(fast.fast);
                fast.keep_evictions();
                assert!(!fast.fast && fast.plain);
            }
        }
    }

    /// A fast hierarchy (split level-1 data TLBs for 4K and 2M pages and a level-1
    /// instruction TLB, a unified level 2 of both sizes, all LRU) against a brute-force
    /// model written from the definitions: per structure and set a list of keys, most
    /// recent last; a lookup tries level 1's structure for the page's size, then level
    /// 2's; the levels above the hit take the page, evicting their set's least recent
    /// key when full. Hit levels, frames, cycles, every counter (read mid-run, and
    /// restarted as after warm-up) and the occupancy agree.
    #[test]
    fn the_fast_path_equals_per_set_lru_lists() {
        // The counts of `t` against the model's.
        fn counted(t: &Tlbs, counts: &[[u64; 4]; 4], levels: &[[u64; 5]; 2]) {
            let got: Vec<[u64; 4]> = (t.stats().iter())
                .map(|s| [s.hits, s.misses, s.fills, s.evictions])
                .collect();
            assert_eq!(got, counts);
            let got: Vec<[u64; 5]> = (t.level_stats().iter())
                .map(|s| {
                    let (ih, im) = (s.instruction_hits, s.instruction_misses);
                    [ih, im, s.data_hits, s.data_misses, s.cycles]
                })
                .collect();
            assert_eq!(got, levels);
        }
        let mut d4 = cfg("d4k", 1, 16, 4, TlbFill::Miss);
        d4.kind = TlbKind::Data;
        let mut d2 = cfg("d2m", 1, 4, 2, TlbFill::Miss);
        d2.kind = TlbKind::Data;
        d2.page_sizes = vec![PageSize::Size2M];
        let mut i4 = cfg("i4k", 1, 8, 8, TlbFill::Miss);
        i4.kind = TlbKind::Instruction;
        i4.latency = 2;
        let mut l2 = cfg("l2", 2, 64, 8, TlbFill::Miss);
        l2.page_sizes = vec![PageSize::Size4K, PageSize::Size2M];
        let cfgs = [d4, d2, i4, l2];
        let mut t = Tlbs::new(&cfgs, 1);
        assert!(t.fast);
        // Structure per (level, side, size index); each a list per set, most recent last.
        let at = |l: usize, side: usize, si: usize| match (l, side, si) {
            (0, DATA, 0) => 0,
            (0, DATA, _) => 1,
            (0, _, _) => 2,
            _ => 3,
        };
        let mut sets: Vec<Vec<Vec<u64>>> = (cfgs.iter())
            .map(|c| vec![Vec::new(); (c.entries / c.ways) as usize])
            .collect();
        // hits, misses, fills, evictions per structure; per level [ihits, imisses,
        // dhits, dmisses, cycles].
        let mut counts = [[0u64; 4]; 4];
        let mut levels = [[0u64; 5]; 2];
        let lat = |l: usize, side: usize| match (l, side) {
            (0, INSTR) => 2,
            (0, _) => 3,
            _ => 6,
        };
        let mut r = Xoshiro256PlusPlus::seed_from_u64(17);
        for i in 0..60000 {
            let x = r.next_u64();
            let side = if x % 5 == 0 { INSTR } else { DATA };
            let asid = 1 + (x >> 3) as u16 % 2;
            // 4K pages below 2M, 2M pages above it (instructions: 4K only).
            let (va, size) = match side == DATA && (x >> 8) % 4 == 0 {
                true => (
                    ((1 + (x >> 16) % 12) << 21) | ((x >> 40) % 4096),
                    PageSize::Size2M,
                ),
                false => (
                    (((x >> 16) % 120) << 12) | ((x >> 40) % 4096),
                    PageSize::Size4K,
                ),
            };
            let vpn = va >> size.shift();
            let key = tag(vpn, asid, size.index());
            let mut want = None;
            let mut cycles = 0;
            for (l, level) in levels.iter_mut().enumerate() {
                cycles += lat(l, side);
                level[4] += lat(l, side);
                let s = at(l, side, size.index());
                let n = sets[s].len();
                let set = &mut sets[s][vpn as usize % n];
                if let Some(p) = set.iter().position(|&k| k == key) {
                    set.remove(p);
                    set.push(key);
                    counts[s][0] += 1;
                    level[2 * side] += 1;
                    want = Some(l);
                    break;
                }
            }
            let mut got_cycles = 0;
            let h = t.lookup(side, asid, VirtAddr(va), &mut got_cycles);
            let base = va & !(size.bytes() - 1);
            assert_eq!(h.map(|h| h.level), want, "access {i}");
            if let Some(h) = h {
                assert_eq!((h.frame, h.size), (PhysAddr(base ^ 1 << 40), size));
            }
            assert_eq!(got_cycles, cycles, "access {i}");
            let hit_level = want.unwrap_or(2);
            for (l, level) in levels.iter_mut().enumerate().take(hit_level) {
                let s = at(l, side, size.index());
                counts[s][1] += 1;
                counts[s][2] += 1;
                level[2 * side + 1] += 1;
                let ways = cfgs[s].ways as usize;
                let n = sets[s].len();
                let set = &mut sets[s][vpn as usize % n];
                if set.len() == ways {
                    set.remove(0);
                    counts[s][3] += 1;
                }
                set.push(key);
            }
            let frame = PhysAddr(base ^ 1 << 40);
            t.complete(side, asid, VirtAddr(va), frame, size, hit_level);
            if i % 9999 == 0 {
                counted(&t, &counts, &levels);
            }
            if i == 30000 {
                // Restarted as after warm-up: every count from 0, the contents kept.
                t.reset_stats();
                (counts, levels) = Default::default();
            }
        }
        counted(&t, &counts, &levels);
        let held: Vec<usize> = sets.iter().map(|s| s.iter().map(Vec::len).sum()).collect();
        assert_eq!(t.occupancy(), held);
        assert!(
            counts.iter().all(|c| c[3] > 100),
            "every structure evicts: {counts:?}"
        );
    }

    #[test]
    fn memory_reads_keep_their_order_and_are_taken_once() {
        let mut r = MemReads::default();
        assert!(r.is_empty());
        for a in 0..MemReads::CAPACITY as u64 {
            r.push(a * 64);
        }
        let want: Vec<u64> = (0..MemReads::CAPACITY as u64).map(|a| a * 64).collect();
        assert_eq!(r.as_slice(), &want[..]);
        let mut t = Tlbs::new(&[cfg("l1", 1, 4, 4, TlbFill::Miss)], 0);
        t.reads = r;
        assert_eq!(t.take_memory_reads(), r);
        assert!(t.take_memory_reads().is_empty());
    }
}
