//! The fast path of the common hierarchy: every structure a set-associative LRU array of
//! pages of at most 16 ways (ranked sets, `assoc/ranked.rs`), no victim level, range or
//! coalescing structure, no level probed beside another, no size predictor or recorder,
//! no last-level eviction kept and at most [`MAX_LEVELS`] levels (the `skylake` and
//! `icelake` presets among others; `Tlbs::fast`, decided when the hierarchy is built and
//! cleared by whatever sets one of those up later).
//!
//! In: the lookups past the repeated-hit shortcut and the fills after a level-1 miss,
//! as [`Tlbs::lookup`] and [`Tlbs::complete`] pass them. Out: the same hits, probe
//! cycles, contents and counters as the general path (`mod.rs`, `fill.rs`; tests:
//! `tlb::tests::the_fast_path_equals_the_general_one` and the brute-force hierarchy of
//! `tlb::tests::the_fast_path_equals_per_set_lru_lists`).
//!
//! What it leaves out is what the shape makes constant. A lookup walks a [`Plan`]: per
//! side, the (structure, page size, level) probes in order, listed once for the page
//! sizes filled so far, so no level, slot or size is looked up per access; the page's
//! key and fingerprint are made once per size, not per structure. A fill makes them once
//! for every level. The counters a miss adds are the same for every miss of one shape,
//! so they are kept as totals and spread when read
//! ([`Tlbs::add_fast_structure_counts`], [`Tlbs::add_fast_level_counts`]): a miss
//! of every level counts one per side (each level's cycles follow from its latency), a
//! fill one per (side, size, levels filled) (each level's misses, each structure's
//! misses and fills follow, and its evictions are those fills less the ones that
//! displaced nothing, counted as they happen, rare once the structures are full). A
//! hit, rare past the shortcut, is counted out of line as it happens.

use super::{tag, LevelStats, Memo, Organisation, PageSize, PhysAddr};
use super::{SetAssociative, TlbHit, TlbStats, Tlbs, DATA, INSTR, NONE};
use crate::assoc::ranked::{fingerprint, lanes};

/// The most levels a fast hierarchy has (the configs allow 8).
pub(super) const MAX_LEVELS: usize = 8;

/// One probe of a fast lookup: structure `s`, holding pages of size index `size`, at
/// 0-based level `level`.
#[derive(Clone, Copy, Default)]
struct Probe {
    s: u16,
    size: u8,
    level: u8,
}

/// The fast path's order of probes per side and the counts it keeps as totals.
pub(super) struct Plan {
    /// The `Tlbs::filled` the probes were listed for (`u8::MAX`: none yet).
    pub(super) filled: u8,
    /// Probes per side.
    n: [u8; 2],
    /// Per side, the probes of the sizes filled so far, level by level, each level's
    /// sizes in order (the general probe's order).
    probes: [[Probe; 3 * MAX_LEVELS]; 2],
    /// Per side, the cycles of a lookup that misses every level.
    pub(super) miss_cycles: [u64; 2],
    /// Per side, fast lookups that missed every level, since the counters restarted.
    pub(super) misses: [u64; 2],
    /// Fast fills per side, page size index and number of levels filled (the hit
    /// level), since the counters restarted. 16 levels (a mask, no bounds check).
    pub(super) fills: [[[u64; 16]; 3]; 2],
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            filled: u8::MAX,
            n: [0; 2],
            probes: [[Probe::default(); 3 * MAX_LEVELS]; 2],
            miss_cycles: [0; 2],
            misses: [0; 2],
            fills: [[[0; 16]; 3]; 2],
        }
    }
}

impl Plan {
    /// Restart the counts (after warm-up).
    pub(super) fn reset_counts(&mut self) {
        self.misses = [0; 2];
        self.fills = [[[0; 16]; 3]; 2];
    }
}

/// The structure of a fast hierarchy as the ranked set-associative array it is.
///
/// # Safety
/// The hierarchy is fast (`Tlbs::build` checked every structure).
#[inline(always)]
unsafe fn pages<O: Organisation>(org: &mut O) -> &mut SetAssociative {
    let p = org.pages();
    debug_assert!(p.as_ref().is_some_and(|p| p.is_ranked()));
    // SAFETY: the caller's; and a structure's answer never changes after `build`
    // checked it (the organisations are this module's own: `Organisation` is sealed).
    unsafe { p.unwrap_unchecked() }
}

impl<O: Organisation> Tlbs<O> {
    /// [`Tlbs::lookup`] past the repeated-hit shortcut, on the fast path. Out of line
    /// for the same reason as the general `probe_levels`.
    #[inline(never)]
    pub(super) fn probe_fast(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        cycles: &mut u64,
    ) -> Option<TlbHit> {
        debug_assert!((side == INSTR || side == DATA) && self.fast);
        // The side is 0 or 1: masked, every per-side array below is indexed unchecked.
        let side = side & 1;
        self.forget_memo();
        if self.plan.filled != self.filled {
            self.make_plan();
        }
        let plan = &mut self.plan;
        let n = plan.n[side] as usize;
        debug_assert!(n <= 3 * MAX_LEVELS);
        // SAFETY: `make_plan` lists at most 3 sizes per level of at most `MAX_LEVELS`.
        let probes = unsafe { plan.probes[side].get_unchecked(..n) };
        // The key of the page of the size probed last (`u8::MAX`: none yet).
        let (mut size, mut vpn, mut key) = (u8::MAX, 0, 0);
        let mut fp = lanes::lanes_of(0);
        for p in probes {
            if p.size != size {
                size = p.size;
                vpn = vaddr >> PageSize::from_index(size as usize).shift();
                key = tag(vpn, asid, size as usize);
                fp = lanes::lanes_of(fingerprint(key));
            }
            debug_assert!((p.s as usize) < self.structs.len());
            // SAFETY: the plan lists the levels' slots, indices of `structs`, and the
            // hierarchy is fast.
            let frame = unsafe {
                let st = self.structs.get_unchecked_mut(p.s as usize);
                pages(&mut st.org).lookup_ranks(vpn, key, fp)
            };
            if let Some(frame) = frame {
                let p = *p;
                return Some(self.count_hit(side, asid, vaddr, p, frame, cycles));
            }
        }
        *cycles += plan.miss_cycles[side];
        plan.misses[side] += 1;
        None
    }

    /// List the probes of the sizes filled so far. Rare: at most once per page size.
    #[cold]
    #[inline(never)]
    pub(super) fn make_plan(&mut self) {
        let p = &mut self.plan;
        p.filled = self.filled;
        for side in [INSTR, DATA] {
            let (mut n, mut lat) = (0, 0);
            for (l, lvl) in self.levels.iter().enumerate() {
                lat += lvl.latency[side] as u64;
                let mut sizes = lvl.held[side] & self.filled;
                while sizes != 0 {
                    let size = sizes.trailing_zeros() as u8;
                    sizes &= sizes - 1;
                    let s = lvl.slot[side][size as usize];
                    let level = l as u8;
                    p.probes[side][n] = Probe { s, size, level };
                    n += 1;
                }
            }
            p.n[side] = n as u8;
            p.miss_cycles[side] = lat;
        }
    }

    /// The counts of a fast lookup's hit `frame` at probe `p` (the cycles of every level
    /// to its own, each level's added as it happens), the memo of a level-1 one (a
    /// set-associative structure's repeated hits change nothing); returns the hit. Out
    /// of line: past the shortcut, most lookups miss.
    #[inline(never)]
    fn count_hit(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        p: Probe,
        frame: u64,
        cycles: &mut u64,
    ) -> TlbHit {
        let l = p.level as usize;
        for lvl in &mut self.levels[..=l] {
            let lat = lvl.latency[side] as u64;
            *cycles += lat;
            lvl.stats.cycles += lat;
        }
        let hit = TlbHit {
            level: l,
            frame: PhysAddr(frame),
            size: PageSize::from_index(p.size as usize),
        };
        self.structs[p.s as usize].stats.hits += 1;
        self.levels[l].stats.add_hits(side, 1);
        if l == 0 {
            let lat = self.levels[0].latency[side] as u64;
            self.memo = Memo::of_hit(side, asid, vaddr, hit, p.s, lat);
        }
        hit
    }

    /// [`Tlbs::complete`] after a level-1 miss, on the fast path: each level above the
    /// hit takes the page, whose evictions leave the TLBs (the general `fill_plain`);
    /// its counts are one total ([`Plan`]). Out of line for the same reason as
    /// `complete_miss`.
    #[inline(never)]
    pub(super) fn fill_fast(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        frame: u64,
        size: PageSize,
        hit_level: usize,
    ) {
        debug_assert!((side == INSTR || side == DATA) && self.fast);
        let side = side & 1;
        self.forget_memo();
        let si = size.index();
        let vpn = vaddr >> size.shift();
        let key = tag(vpn, asid, si);
        let fp = fingerprint(key);
        let n = hit_level.min(self.levels.len());
        debug_assert!(n <= MAX_LEVELS);
        self.plan.fills[side][si][n & 15] += 1;
        // Whether some level took the page (its size then counts as filled).
        let mut took = false;
        for lvl in &self.levels[..n] {
            let s = lvl.slot[side][si];
            if s == NONE {
                continue;
            }
            took = true;
            debug_assert!((s as usize) < self.structs.len());
            // SAFETY: a slot is an index of `structs`, and the hierarchy is fast.
            unsafe {
                let st = self.structs.get_unchecked_mut(s as usize);
                if !pages(&mut st.org).insert_ranks(vpn, key, fp, frame) {
                    st.kept += 1;
                }
            }
        }
        self.filled |= (took as u8) << si;
    }

    /// Each total of fills the fast path keeps ([`Plan`]): `f(side, level, size, n)`
    /// for each level that `n` fills of the side and size index passed (the levels
    /// above the hit).
    fn each_fill(&self, mut f: impl FnMut(usize, usize, usize, u64)) {
        for side in [INSTR, DATA] {
            for si in 0..3 {
                for n in 1..=self.levels.len().min(MAX_LEVELS) {
                    let c = self.plan.fills[side][si][n];
                    (0..n).for_each(|l| f(side, l, si, c));
                }
            }
        }
    }

    /// Add the fast path's totals to the structures' counters `st` (copies of the kept
    /// ones, to be read): each fill a miss, a fill and an eviction of the structure
    /// slotted for its side and size, less the fills that displaced nothing.
    pub(super) fn add_fast_structure_counts(&self, st: &mut [TlbStats]) {
        self.each_fill(|side, l, si, c| {
            let s = self.levels[l].slot[side][si];
            if s != NONE {
                let t = &mut st[s as usize];
                t.misses += c;
                t.fills += c;
                t.evictions += c;
            }
        });
        for (t, s) in st.iter_mut().zip(&self.structs) {
            t.evictions -= s.kept;
        }
    }

    /// Add the fast path's totals to the levels' counters `lv` (copies of the kept
    /// ones, to be read): each level's cycles of the lookups that missed them all, and
    /// a miss per fill where the level serves the side (as `fill::count_miss`).
    pub(super) fn add_fast_level_counts(&self, lv: &mut [LevelStats]) {
        for side in [INSTR, DATA] {
            for (lvl, v) in self.levels.iter().zip(lv.iter_mut()) {
                v.cycles += self.plan.misses[side] * lvl.latency[side] as u64;
            }
        }
        self.each_fill(|side, l, _, c| {
            if self.levels[l].held[side] != 0 {
                lv[l].add_misses(side, c);
            }
        });
    }
}
