//! The elastic cuckoo table of one page size: its ways (one generation, or two during a
//! gradual resize), bounded random-walk insertion and the rehash steps that move the old
//! generation's entries into the new one.
//!
//! In: keys (asid, cluster) and their PTEs from [`super::Cuckoo`], frames for new
//! generations. Out: where a key lives (generation, way, index), placements, entries left
//! homeless, and the counters `stats` reports.

use super::{CLUSTER, ENTRY_BYTES, MAX_BITS};
use crate::os::frames::FrameAllocator;
use crate::pagetable::hashed::{hash_with_seed, HashKind};
use crate::pagetable::PhysArray;
use crate::SimError;
use rand_core::Rng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// One line: a cluster of 8 PTEs. `key == 0`: empty.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Entry {
    pub(super) key: u64,
    pub(super) present: u8,
    pub(super) frames: [u64; CLUSTER as usize],
}

#[inline(always)]
pub(super) fn pack(asid: u16, cluster: u64) -> u64 {
    1 << 63 | (asid as u64) << 45 | cluster
}

#[inline(always)]
pub(super) fn unpack(key: u64) -> (u16, u64) {
    (((key >> 45) & 0xffff) as u16, key & ((1 << 45) - 1))
}

/// The ways of one table generation.
pub(super) struct Tables {
    pub(super) bits: u32,
    pub(super) ways: Vec<Vec<Entry>>,
    pub(super) phys: Vec<PhysArray>,
}

impl Tables {
    pub(super) fn new(
        d: usize,
        bits: u32,
        frames: &mut FrameAllocator,
    ) -> Result<Tables, SimError> {
        let n = 1u64 << bits;
        let phys = (0..d)
            .map(|_| PhysArray::new(n * ENTRY_BYTES, frames))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Tables {
            bits,
            ways: (0..d).map(|_| vec![Entry::default(); n as usize]).collect(),
            phys,
        })
    }
    pub(super) fn per_way(&self) -> u64 {
        1 << self.bits
    }
    pub(super) fn bytes(&self) -> u64 {
        self.ways.len() as u64 * self.per_way() * ENTRY_BYTES
    }
}

/// Which generation a way's slot is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gen {
    Cur,
    Old,
}

/// One page size's elastic cuckoo table.
pub(super) struct Ecpt {
    /// The table (the new one during a resize).
    pub(super) cur: Tables,
    /// During a resize: the old table and the per-way rehash pointers.
    pub(super) old: Option<(Tables, Vec<u64>)>,
    /// Next way whose pointer a rehash step advances.
    pub(super) rr: usize,
    /// Occupied entries (lines) in both generations, plus any homeless during an insert.
    pub(super) entries: u64,
    /// Pages mapped.
    pub(super) pages: u64,
}

/// What the insertion and rehash routines need besides the table.
pub(super) struct Ctx<'a> {
    pub(super) kind: HashKind,
    pub(super) seeds: &'a [u64],
    pub(super) max_kicks: u32,
    pub(super) rng: &'a mut Xoshiro256PlusPlus,
    pub(super) c: &'a mut Counters,
    /// Keys whose way may have changed (placed, displaced, moved, left homeless): the
    /// cuckoo walk cache entries to check once the operation is over.
    pub(super) touched: &'a mut Vec<u64>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct Counters {
    pub(super) resizes: u64,
    pub(super) moved: u64,
    pub(super) scanned: u64,
    /// Placements (new entries, entries moved by a resize, retries of homeless ones) by
    /// displacements made (last bucket: gave up).
    pub(super) kicks_hist: Vec<u64>,
    pub(super) failures: u64,
    pub(super) retired_bytes: u64,
}

impl Ecpt {
    #[inline(always)]
    pub(super) fn index(kind: HashKind, seed: u64, key: u64, bits: u32) -> u64 {
        let (asid, cluster) = unpack(key);
        hash_with_seed(kind, asid, cluster, bits, seed)
    }

    /// Where `key` lives in way `w`: the generation the rehash pointer names, and the index.
    #[inline(always)]
    pub(super) fn locate(&self, kind: HashKind, seeds: &[u64], key: u64, w: usize) -> (Gen, u64) {
        if let Some((old, ptr)) = &self.old {
            let oi = Ecpt::index(kind, seeds[w], key, old.bits);
            if oi >= ptr[w] {
                return (Gen::Old, oi);
            }
        }
        (Gen::Cur, Ecpt::index(kind, seeds[w], key, self.cur.bits))
    }

    #[inline(always)]
    pub(super) fn tables(&self, g: Gen) -> &Tables {
        match g {
            Gen::Cur => &self.cur,
            Gen::Old => &self.old.as_ref().expect("old table during a resize").0,
        }
    }

    pub(super) fn slot_mut(&mut self, g: Gen, w: usize, i: u64) -> &mut Entry {
        match g {
            Gen::Cur => &mut self.cur.ways[w][i as usize],
            Gen::Old => &mut self.old.as_mut().expect("old table").0.ways[w][i as usize],
        }
    }

    pub(super) fn find(
        &self,
        kind: HashKind,
        seeds: &[u64],
        key: u64,
    ) -> Option<(Gen, usize, u64)> {
        (0..seeds.len()).find_map(|w| {
            let (g, i) = self.locate(kind, seeds, key, w);
            (self.tables(g).ways[w][i as usize].key == key).then_some((g, w, i))
        })
    }

    pub(super) fn capacity(&self) -> u64 {
        self.cur.ways.len() as u64 * self.cur.per_way()
    }

    /// Place `item` by bounded random-walk cuckoo insertion; `prefer` is tried first.
    /// Returns the entry left homeless if it gave up.
    pub(super) fn place(
        &mut self,
        cx: &mut Ctx,
        mut item: Entry,
        prefer: Option<usize>,
    ) -> Result<(), Entry> {
        let d = cx.seeds.len();
        let mut from = None;
        for kick in 0..=cx.max_kicks {
            let first = if kick == 0 { prefer.unwrap_or(0) } else { 0 };
            for k in 0..d {
                let w = (first + k) % d;
                let (g, i) = self.locate(cx.kind, cx.seeds, item.key, w);
                let slot = self.slot_mut(g, w, i);
                if slot.key == 0 {
                    cx.touched.push(item.key);
                    *slot = item;
                    cx.c.kicks_hist[kick as usize] += 1;
                    return Ok(());
                }
            }
            if kick == cx.max_kicks {
                break;
            }
            let w = match (kick, prefer) {
                (0, Some(p)) => p,
                _ => loop {
                    let w = (cx.rng.next_u64() % d as u64) as usize;
                    if Some(w) != from {
                        break w;
                    }
                },
            };
            let (g, i) = self.locate(cx.kind, cx.seeds, item.key, w);
            cx.touched.push(item.key);
            std::mem::swap(self.slot_mut(g, w, i), &mut item);
            cx.touched.push(item.key);
            from = Some(w);
        }
        let last = cx.c.kicks_hist.len() - 1;
        cx.c.kicks_hist[last] += 1;
        cx.c.failures += 1;
        Err(item)
    }

    pub(super) fn start_resize(
        &mut self,
        cx: &mut Ctx,
        frames: &mut FrameAllocator,
    ) -> Result<(), SimError> {
        debug_assert!(self.old.is_none());
        let bits = self.cur.bits + 1;
        if bits > MAX_BITS {
            return Err(SimError(format!(
                "the cuckoo page table cannot grow beyond 2^{MAX_BITS} entries per way"
            )));
        }
        let new = Tables::new(cx.seeds.len(), bits, frames)?;
        let old = std::mem::replace(&mut self.cur, new);
        self.old = Some((old, vec![0; cx.seeds.len()]));
        self.rr = 0;
        cx.c.resizes += 1;
        Ok(())
    }

    /// Move one entry from the old table to the new one (advancing pointers past empty
    /// slots for free); finish the resize when every pointer is at the end. Returns an
    /// entry left homeless, if any.
    pub(super) fn rehash_step(&mut self, cx: &mut Ctx) -> Option<Entry> {
        loop {
            let (old, ptr) = self.old.as_mut()?;
            let d = ptr.len();
            let n = old.per_way();
            let Some(w) = (0..d).map(|k| (self.rr + k) % d).find(|&w| ptr[w] < n) else {
                cx.c.retired_bytes += old.bytes();
                self.old = None;
                return None;
            };
            self.rr = (w + 1) % d;
            let i = ptr[w];
            let e = std::mem::take(&mut old.ways[w][i as usize]);
            ptr[w] += 1;
            cx.c.scanned += 1;
            if e.key != 0 {
                cx.touched.push(e.key);
                cx.c.moved += 1;
                let homeless = self.place(cx, e, Some(w)).err();
                if let Some((old, ptr)) = &self.old {
                    if ptr.iter().all(|&p| p == old.per_way()) {
                        cx.c.retired_bytes += old.bytes();
                        self.old = None;
                    }
                }
                return homeless;
            }
        }
    }
}
