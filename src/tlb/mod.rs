//! TLB structures and the multi-level TLB hierarchy of one core.
//!
//! Owns: every TLB structure of a core (built from `tlb[i]` of the config), grouped in
//! levels; lookup across levels; fills after a walk or a lower-level hit; victim-style
//! levels that only take evictions from the level above; per-structure and per-level
//! counters. Entries are tagged with the address-space id and page size.
//!
//! In: `(side, asid, vaddr)` for a lookup; `(translation)` to fill. Out: the level that hit
//! (or none) and the cycles the probes took.
//!
//! Lookup model: all structures of one level that serve the access's side (instruction
//! or data) are probed in parallel for every page size they hold, since the page size is
//! unknown before the translation is found; the level costs the slowest of them. Misses
//! are attributed once the page size is known, to the structure that would have held
//! that size (as hardware counters such as DTLB_LOAD_MISSES count them).

use crate::addr::{PageSize, PageSizeSet};
use crate::assoc::SetAssoc;
use crate::config::{TlbConfig, TlbFill};
use serde::Serialize;

/// Access side: index into per-side tables.
pub const INSTR: usize = 0;
pub const DATA: usize = 1;

const NONE: u16 = u16::MAX;

/// Widest address-space id a TLB tag holds (x86 PCIDs are 12 bits).
pub const ASID_BITS: u32 = 14;

/// Tag of a translation: page number, address-space id and page size packed so that no
/// tag equals the array's empty marker (page numbers stay below 2^45 for 57-bit VAs).
#[inline(always)]
/// The key a TLB entry for the page of `size` holding `vaddr` of `asid` carries.
pub fn page_key(asid: u16, vaddr: u64, size: PageSize) -> u64 {
    tag(vaddr >> size.shift(), asid, size.index())
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

/// Counters of one TLB structure.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TlbStats {
    pub name: String,
    pub level: u32,
    /// Lookups that found the translation here.
    pub hits: u64,
    /// Lookups for a page of a size this structure holds that did not find it here.
    pub misses: u64,
    pub fills: u64,
    pub evictions: u64,
}

/// Counters of one level (all its structures) for one side.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LevelStats {
    pub level: u32,
    pub instruction_hits: u64,
    pub instruction_misses: u64,
    pub data_hits: u64,
    pub data_misses: u64,
    /// Cycles spent probing this level.
    pub cycles: u64,
}

struct Structure {
    sizes: PageSizeSet,
    fill: TlbFill,
    array: SetAssoc,
    stats: TlbStats,
}

struct Level {
    /// `slot[side][size]`: the structure holding pages of that size for that side.
    slot: [[u16; 3]; 2],
    /// Probe cost of the level for each side (slowest structure probed).
    latency: [u32; 2],
    stats: LevelStats,
}

/// Where a lookup found its translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlbHit {
    /// 0-based level index.
    pub level: usize,
    /// Physical address of the page frame.
    pub frame: u64,
    pub size: PageSize,
}

/// The last lookup, if it hit at level 1 and nothing has touched the TLBs since.
/// Repeating that hit leaves every replacement policy's state as it is (the entry is
/// already the most recent of its set for LRU; PLRU bits already point away from it;
/// FIFO and random ignore hits), so the repeat can skip the probe and stay exact.
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
}

/// All TLB levels of one core.
pub struct Tlbs {
    structs: Vec<Structure>,
    levels: Vec<Level>,
    memo: Memo,
    /// Page sizes ever filled into any structure (bit i = size index i). A size never
    /// filled cannot hit, so lookups skip it; the mask is never cleared, which keeps
    /// the skip exact after invalidations.
    filled: u8,
    /// Unit tests turn the shortcut off to check it against the full path.
    #[cfg(test)]
    no_memo: bool,
}

impl Tlbs {
    /// Build from validated configs. `seed` feeds random replacement.
    pub fn new(cfgs: &[TlbConfig], seed: u64) -> Tlbs {
        let nlevels = cfgs.iter().map(|c| c.level as usize).max().unwrap_or(0);
        let mut levels: Vec<Level> = (0..nlevels)
            .map(|l| Level {
                slot: [[NONE; 3]; 2],
                latency: [0; 2],
                stats: LevelStats {
                    level: l as u32 + 1,
                    ..Default::default()
                },
            })
            .collect();
        let mut structs = Vec::with_capacity(cfgs.len());
        for (i, c) in cfgs.iter().enumerate() {
            let sets = (c.entries / c.ways) as usize;
            let lvl = &mut levels[c.level as usize - 1];
            for (side, serves) in [
                (INSTR, c.kind.serves_instructions()),
                (DATA, c.kind.serves_data()),
            ] {
                if serves {
                    for s in &c.page_sizes {
                        lvl.slot[side][s.index()] = i as u16;
                    }
                    lvl.latency[side] = lvl.latency[side].max(c.latency);
                }
            }
            structs.push(Structure {
                sizes: PageSizeSet::of(&c.page_sizes),
                fill: c.fill,
                array: SetAssoc::new(
                    sets,
                    c.ways as usize,
                    c.replacement,
                    seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                ),
                stats: TlbStats {
                    name: c.name.clone(),
                    level: c.level,
                    ..Default::default()
                },
            });
        }
        Tlbs {
            structs,
            levels,
            filled: 0,
            memo: Memo {
                valid: false,
                side: 0,
                asid: 0,
                base: 0,
                mask: 0,
                hit: TlbHit {
                    level: 0,
                    frame: 0,
                    size: PageSize::Size4K,
                },
                structure: 0,
            },
            #[cfg(test)]
            no_memo: false,
        }
    }

    pub fn num_levels(&self) -> usize {
        self.levels.len()
    }

    /// Hits at 0-based level `level`, both sides.
    pub fn level_hits(&self, level: usize) -> u64 {
        let s = &self.levels[level].stats;
        s.instruction_hits + s.data_hits
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
        vaddr: u64,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        let m = &self.memo;
        #[cfg(test)]
        let m = &Memo {
            valid: m.valid && !self.no_memo,
            ..*m
        };
        if m.valid && m.side == side && m.asid == asid && vaddr & m.mask == m.base {
            let (hit, structure) = (m.hit, m.structure);
            let lvl = &mut self.levels[0];
            let lat = lvl.latency[side] as u64;
            *cycles += lat;
            lvl.stats.cycles += lat;
            if side == INSTR {
                lvl.stats.instruction_hits += 1;
            } else {
                lvl.stats.data_hits += 1;
            }
            self.structs[structure as usize].stats.hits += 1;
            return Some(hit);
        }
        self.memo.valid = false;
        for l in 0..self.levels.len() {
            let lvl = &mut self.levels[l];
            let lat = lvl.latency[side] as u64;
            *cycles += lat;
            lvl.stats.cycles += lat;
            for size in 0..3 {
                let s = lvl.slot[side][size];
                if s == NONE || self.filled & (1 << size) == 0 {
                    continue;
                }
                let st = &mut self.structs[s as usize];
                let vpn = vaddr >> PageSize::from_index(size).shift();
                let set = (vpn & st.array.set_mask()) as usize;
                if let Some(frame) = st.array.lookup(set, tag(vpn, asid, size)) {
                    st.stats.hits += 1;
                    if side == INSTR {
                        lvl.stats.instruction_hits += 1;
                    } else {
                        lvl.stats.data_hits += 1;
                    }
                    let hit = TlbHit {
                        level: l,
                        frame,
                        size: PageSize::from_index(size),
                    };
                    if l == 0 {
                        let ps = PageSize::from_index(size);
                        self.memo = Memo {
                            valid: true,
                            side,
                            asid,
                            base: vaddr & !(ps.bytes() - 1),
                            mask: !(ps.bytes() - 1),
                            hit,
                            structure: s,
                        };
                    }
                    return Some(hit);
                }
            }
        }
        None
    }

    /// Finish a translation that hit at level `hit_level` (or `num_levels()` after a
    /// walk): count the misses of the levels above it, move the entry out of a victim
    /// level that hit, and fill the levels above that fill on a miss.
    #[inline(always)]
    pub fn complete(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        frame: u64,
        size: PageSize,
        hit_level: usize,
    ) {
        if hit_level == 0 {
            // A level-1 hit changes nothing more.
            return;
        }
        self.memo.valid = false;
        let si = size.index();
        let vpn = vaddr >> size.shift();
        let t = tag(vpn, asid, si);
        for l in 0..hit_level {
            let lvl = &mut self.levels[l];
            if lvl.slot[side] != [NONE; 3] {
                if side == INSTR {
                    lvl.stats.instruction_misses += 1;
                } else {
                    lvl.stats.data_misses += 1;
                }
            }
            let s = lvl.slot[side][si];
            if s != NONE {
                self.structs[s as usize].stats.misses += 1;
            }
        }
        if hit_level < self.levels.len() {
            let s = self.levels[hit_level].slot[side][si];
            let st = &mut self.structs[s as usize];
            if st.fill == TlbFill::Victim {
                let set = (vpn & st.array.set_mask()) as usize;
                st.array.invalidate(set, t);
            }
        }
        for l in 0..hit_level {
            self.insert(l, side, t, frame, false);
        }
    }

    /// Insert tag `t` at level `l`; cascades the evicted entry into a victim level below.
    fn insert(&mut self, l: usize, side: usize, t: u64, frame: u64, as_victim: bool) {
        let (vpn, _, si) = untag(t);
        let s = self.levels[l].slot[side][si];
        if s == NONE {
            return;
        }
        let st = &mut self.structs[s as usize];
        if (st.fill == TlbFill::Victim) != as_victim {
            return;
        }
        let set = (vpn & st.array.set_mask()) as usize;
        self.filled |= 1 << si;
        st.stats.fills += 1;
        if let Some((et, ef)) = st.array.insert(set, t, frame) {
            st.stats.evictions += 1;
            if l + 1 < self.levels.len() {
                self.insert(l + 1, side, et, ef, true);
            }
        }
    }

    /// Remove the translation of `vaddr` (page of `size`) from every structure.
    pub fn invalidate_page(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        self.memo.valid = false;
        let vpn = vaddr >> size.shift();
        let t = tag(vpn, asid, size.index());
        for st in &mut self.structs {
            if st.sizes.contains(size) {
                let set = (vpn & st.array.set_mask()) as usize;
                st.array.invalidate(set, t);
            }
        }
    }

    /// [`Tlbs::flush_asid`], adding each removed entry's [`page_key`] to `out`.
    pub fn flush_asid_into(
        &mut self,
        asid: u16,
        out: &mut std::collections::HashSet<u64>,
    ) -> usize {
        self.memo.valid = false;
        let mut n = 0;
        for st in &mut self.structs {
            n += st.array.invalidate_where(|t| {
                let hit = untag(t).1 == asid;
                if hit {
                    out.insert(t);
                }
                hit
            });
        }
        n
    }

    /// Remove every entry of address space `asid` (its id is given to another, or its
    /// translations changed); returns how many went.
    pub fn flush_asid(&mut self, asid: u16) -> usize {
        self.memo.valid = false;
        (self.structs.iter_mut())
            .map(|st| st.array.invalidate_where(|t| untag(t).1 == asid))
            .sum()
    }

    /// Remove every entry of every structure.
    pub fn flush_all(&mut self) {
        self.memo.valid = false;
        for st in &mut self.structs {
            st.array.flush();
        }
    }

    pub fn stats(&self) -> Vec<TlbStats> {
        self.structs.iter().map(|s| s.stats.clone()).collect()
    }

    pub fn level_stats(&self) -> Vec<LevelStats> {
        self.levels.iter().map(|l| l.stats.clone()).collect()
    }

    /// Restart the counters (after warm-up); contents stay.
    pub fn reset_stats(&mut self) {
        for s in &mut self.structs {
            s.stats = TlbStats {
                name: std::mem::take(&mut s.stats.name),
                level: s.stats.level,
                ..Default::default()
            };
        }
        for l in &mut self.levels {
            l.stats = LevelStats {
                level: l.stats.level,
                ..Default::default()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assoc::Replacement;
    use crate::config::TlbKind;
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
        }
    }

    /// Translate every page; returns the hit level per reference (None = walk).
    fn drive(t: &mut Tlbs, pages: &[u64]) -> Vec<Option<usize>> {
        pages
            .iter()
            .map(|&p| {
                let va = p << 12;
                let mut c = 0;
                let h = t.lookup(DATA, 1, va, &mut c);
                let lvl = h.map(|h| h.level);
                t.complete(
                    DATA,
                    1,
                    va,
                    p << 12,
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
        assert!(t.lookup(DATA, 0, 0x20_0000, &mut cyc).is_none());
        t.complete(DATA, 0, 0x20_0000, 0x4000_0000, PageSize::Size2M, 1);
        let h = t.lookup(DATA, 0, 0x20_1234, &mut cyc).unwrap();
        assert_eq!(
            (h.level, h.size, h.frame),
            (0, PageSize::Size2M, 0x4000_0000)
        );
        let s = t.stats();
        assert_eq!((s[0].misses, s[1].misses, s[1].hits), (0, 1, 1));
        // The probe cost is paid per level lookup, not per structure.
        assert_eq!(cyc, 6);
        // Instruction side has no structure: its lookups miss at no cost.
        let mut c = 0;
        assert!(t.lookup(INSTR, 0, 0x20_0000, &mut c).is_none());
        assert_eq!(c, 0);
    }

    #[test]
    fn asids_do_not_share_entries() {
        let mut t = Tlbs::new(&[cfg("fa", 1, 8, 8, TlbFill::Miss)], 0);
        let mut c = 0;
        t.complete(DATA, 1, 0x5000, 0x9000, PageSize::Size4K, 1);
        assert!(t.lookup(DATA, 1, 0x5000, &mut c).is_some());
        assert!(t.lookup(DATA, 2, 0x5000, &mut c).is_none());
        t.invalidate_page(1, 0x5fff, PageSize::Size4K);
        assert!(t.lookup(DATA, 1, 0x5000, &mut c).is_none());
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
                with.invalidate_page(asid, va, size);
                without.invalidate_page(asid, va, size);
            }
            let (mut c1, mut c2) = (0, 0);
            let h1 = with.lookup(side, asid, va, &mut c1);
            let h2 = without.lookup(side, asid, va, &mut c2);
            assert_eq!((h1, c1), (h2, c2), "access {i}");
            let lvl = h1.map_or(2, |h| h.level);
            with.complete(side, asid, va, va ^ 0x5000_0000, size, lvl);
            without.complete(side, asid, va, va ^ 0x5000_0000, size, lvl);
        }
        assert_eq!(with.stats(), without.stats());
        assert_eq!(with.level_stats(), without.level_stats());
    }
}
