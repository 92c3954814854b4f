//! The fills after a level-1 miss: each level above the one that answered takes the
//! translation, and what a level evicts cascades into the victim levels below it.
//!
//! In: the miss's side, address space, address, frame, page size and the level that
//! answered (the levels' count for a walk). Out: the structures' contents and their
//! miss, fill and eviction counters; a last-level eviction kept for Victima when asked
//! (`invalidate.rs`), a recorded reference when a structure is recorded (`record.rs`).
//! A hierarchy with nothing that needs the general cascade takes one pass
//! ([`Tlbs::fill_plain`]).

use super::{Entry, Level, Organisation, PageSize, TlbFill, Tlbs, DATA, INSTR, NONE};

impl<O: Organisation> Tlbs<O> {
    /// [`Tlbs::complete`] after a level-1 miss. Kept out of line: inlined, the fills
    /// crowd the registers of the caller's loop, whose level-1 hits then pay for spills.
    #[inline(never)]
    pub(super) fn complete_miss(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        frame: u64,
        size: PageSize,
        hit_level: usize,
    ) {
        self.forget_memo();
        if self.plain {
            return self.fill_plain(side, asid, vaddr, frame, size, hit_level);
        }
        self.learn_size(vaddr, size);
        let si = size.index();
        for l in 0..hit_level {
            let lvl = &mut self.levels[l];
            count_miss(lvl, side);
            let s = lvl.slot[side][si];
            if s != NONE {
                self.structs[s as usize].stats.misses += 1;
            }
        }
        if hit_level < self.levels.len() {
            let s = self.levels[hit_level].slot[side][si];
            let st = &mut self.structs[s as usize];
            if st.fill == TlbFill::Victim {
                st.org.invalidate_page(asid, vaddr, size);
            }
        }
        let e = page_entry(asid, vaddr, frame, size);
        debug_assert!(
            (self.run).is_none_or(|r| e.vpn.wrapping_sub(r.vpn) < r.pages),
            "{:?} {e:?}",
            self.run
        );
        // A hit in a level probed beside the one above fills the levels above that one.
        let beside = hit_level < self.levels.len() && self.levels[hit_level].beside;
        for l in 0..hit_level {
            if !(beside && l + 1 == hit_level) {
                self.insert(l, side, e, false);
            }
        }
        if self.record.is_some() {
            self.record_below(side, asid, vaddr, size, hit_level);
        }
        self.run = None;
        self.range = None;
    }

    /// [`Tlbs::complete_miss`] of a `plain` hierarchy, in one pass: each level above the
    /// hit counts its miss and takes the page, and what it evicts leaves the TLBs (the
    /// general path would offer it to the level below, which, being no victim level,
    /// refuses it). The same counts and contents as the general path, with less to
    /// decide per level (`tlb::tests::the_plain_fill_equals_the_general_one`).
    #[inline(always)]
    fn fill_plain(
        &mut self,
        side: usize,
        asid: u16,
        vaddr: u64,
        frame: u64,
        size: PageSize,
        hit_level: usize,
    ) {
        debug_assert!(side == INSTR || side == DATA);
        // The side is 0 or 1: masked, the per-side arrays are indexed unchecked.
        let side = side & 1;
        let si = size.index();
        let e = page_entry(asid, vaddr, frame, size);
        let last = self.levels.len() - 1;
        for l in 0..hit_level {
            let lvl = &mut self.levels[l];
            count_miss(lvl, side);
            let s = lvl.slot[side][si];
            if s == NONE {
                continue;
            }
            let st = &mut self.structs[s as usize];
            st.stats.misses += 1;
            st.stats.fills += 1;
            self.filled |= 1 << si;
            // The displaced entry itself is wanted only when Victima keeps last-level
            // evictions; otherwise whether there was one.
            let evicts = match l == last && self.dropped.evictions {
                true => st
                    .org
                    .insert(e)
                    .map(|ev| self.dropped.evicted = Some(ev))
                    .is_some(),
                false => st.org.insert_evicts(e),
            };
            st.stats.evictions += evicts as u64;
        }
    }

    /// Insert `e` at level `l`; cascades the evicted entry into victim levels below. A
    /// loop, not a recursion, so that it inlines and the entry stays in registers.
    #[inline(always)]
    fn insert(&mut self, l: usize, side: usize, e: Entry, as_victim: bool) {
        let (mut l, mut e, mut as_victim) = (l, e, as_victim);
        loop {
            let si = e.size.index();
            let s = self.levels[l].slot[side][si];
            if s == NONE {
                return;
            }
            let st = &mut self.structs[s as usize];
            if (st.fill == TlbFill::Victim) != as_victim {
                return;
            }
            // A range structure takes only the range the miss path found (if any).
            let ins = match (st.ranged, self.range) {
                (false, _) => e,
                (true, Some(r)) => r,
                (true, None) => return,
            };
            self.filled |= 1 << si;
            st.stats.fills += 1;
            // A fill (not a victim) of a coalescing structure takes the run, if the miss
            // path set one (read from memory only then: the common path stays as it was).
            let ins = match self.run {
                Some(run) if st.coalescing && !as_victim => run,
                _ => ins,
            };
            match st.org.insert(ins) {
                Some(evicted) => {
                    st.stats.evictions += 1;
                    if l + 1 >= self.levels.len() {
                        // Leaves the TLBs (Victima may keep it, a recency stack
                        // records it: `invalidate.rs`), recorded only when asked.
                        if self.dropped.evictions {
                            self.dropped.evicted = Some(evicted);
                        }
                        return;
                    }
                    (l, e, as_victim) = (l + 1, evicted, true);
                }
                None => return,
            }
        }
    }
}

/// A level's miss on `side`, counted where the level serves that side.
#[inline(always)]
pub(super) fn count_miss(lvl: &mut Level, side: usize) {
    if lvl.held[side] != 0 {
        lvl.stats.add_misses(side, 1);
    }
}

/// The entry of one page of `size` at `vaddr`.
#[inline(always)]
fn page_entry(asid: u16, vaddr: u64, frame: u64, size: PageSize) -> Entry {
    Entry {
        asid,
        size,
        vpn: vaddr >> size.shift(),
        frame,
        pages: 1,
    }
}
