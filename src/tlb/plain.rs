//! The fast path of the common hierarchy: every structure a set-associative LRU array of
//! pages of at most 16 ways (ranked sets, `assoc/ranked.rs`), no victim level, range or
//! coalescing structure, no level probed beside another, no size predictor or recorder,
//! and no last-level eviction kept (the `skylake` and `icelake` presets among others;
//! `Tlbs::fast`, decided when the hierarchy is built and cleared by whatever sets one of
//! those up later).
//!
//! In: the lookups past the repeated-hit shortcut and the fills after a level-1 miss,
//! as [`Tlbs::lookup`] and [`Tlbs::complete`] pass them. Out: the same hits, probe
//! cycles, contents and counters as the general path (`mod.rs`, `fill.rs`; tests:
//! `tlb::tests::the_fast_path_equals_the_general_one` and the brute-force hierarchy of
//! `tlb::tests::the_fast_path_equals_per_set_lru_lists`). What it leaves out is what
//! the shape makes constant: no predictor to ask, no memory reads, no organisation or
//! set layout to dispatch on (the code of the others stays out of these functions and
//! their registers), no entry built for a fill (the page's key is made once for every
//! level) and no eviction to hand on. A hit, rare past the shortcut, is counted out of
//! line.

use super::{fill::count_miss, tag, Memo, Organisation, PageSize, PhysAddr, TlbHit, Tlbs, NONE};
use super::{SetAssociative, DATA, INSTR};

/// The structure `org` of a fast hierarchy as the set-associative array it is.
#[inline(always)]
fn pages<O: Organisation>(org: &mut O) -> &mut SetAssociative {
    org.pages()
        .expect("a fast hierarchy holds set-associative structures only")
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
        debug_assert!(side == INSTR || side == DATA);
        // The side is 0 or 1: masked, every per-side array below is indexed unchecked.
        let side = side & 1;
        self.forget_memo();
        let filled = self.filled;
        // The probe cycles so far, added to `cycles` once.
        let mut spent = 0;
        for (l, lvl) in self.levels.iter_mut().enumerate() {
            let lat = lvl.latency[side] as u64;
            spent += lat;
            lvl.stats.cycles += lat;
            // The sizes this level holds for the side and some structure ever took.
            let mut sizes = lvl.held[side] & filled;
            while sizes != 0 {
                let size = sizes.trailing_zeros() as usize;
                sizes &= sizes - 1;
                let s = lvl.slot[side][size];
                let ps = PageSize::from_index(size);
                let org = &mut self.structs[s as usize].org;
                if let Some(frame) = pages(org).lookup_ranks(asid, vaddr, ps) {
                    let hit = TlbHit {
                        level: l,
                        frame: PhysAddr(frame),
                        size: ps,
                    };
                    *cycles += spent;
                    self.count_hit(side, asid, vaddr, hit, s, lat);
                    return Some(hit);
                }
            }
        }
        *cycles += spent;
        None
    }

    /// The counts of a fast lookup's `hit` in structure `s`, and the memo of a level-1
    /// one (a set-associative structure's repeated hits change nothing). Out of line:
    /// past the shortcut, most lookups miss.
    #[inline(never)]
    fn count_hit(&mut self, side: usize, asid: u16, vaddr: u64, hit: TlbHit, s: u16, lat: u64) {
        self.structs[s as usize].stats.hits += 1;
        self.levels[hit.level].stats.add_hits(side, 1);
        if hit.level == 0 {
            self.memo = Memo::of_hit(side, asid, vaddr, hit, s, lat);
        }
    }

    /// [`Tlbs::complete`] after a level-1 miss, on the fast path: each level above the
    /// hit counts its miss and takes the page, whose evictions leave the TLBs (the
    /// general `fill_plain`, with the page's key made once). Out of line for the same
    /// reason as `complete_miss`.
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
        debug_assert!(side == INSTR || side == DATA);
        let side = side & 1;
        self.forget_memo();
        let si = size.index();
        let vpn = vaddr >> size.shift();
        let key = tag(vpn, asid, si);
        // Whether some level took the page (its size then counts as filled).
        let mut took = false;
        let n = hit_level.min(self.levels.len());
        for lvl in &mut self.levels[..n] {
            count_miss(lvl, side);
            let s = lvl.slot[side][si];
            if s == NONE {
                continue;
            }
            let st = &mut self.structs[s as usize];
            st.stats.misses += 1;
            st.stats.fills += 1;
            took = true;
            let evicts = pages(&mut st.org).insert_ranks(vpn, key, frame);
            st.stats.evictions += evicts as u64;
        }
        self.filled |= (took as u8) << si;
    }
}
