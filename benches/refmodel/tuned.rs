//! The same model as `model.rs`, written as fast as we know how: the floor of the
//! walk path's work (issue 21 item 1). Same structures and geometries (L1 DTLB 16 x 4,
//! STLB 128 x 12, walk caches PML4 1 x 2, PDPT 1 x 4, PD 8 x 4, L1D 64 x 8, L2 1024 x 4,
//! L3 8192 x 16), the same true LRU, the same walk (all three walk caches probed, the
//! deepest hit starts it, each level read fills its walk cache), the same PTE and data
//! reads through L1D / L2 / L3 with fills, on the same page table's frames; the same
//! [`Stats`] out (`refmodel check` compares the two models access stream for access
//! stream). In: virtual addresses, one [`Tuned::access`] each. Out: [`Tuned::stats`].
//!
//! What differs is only how: a set keeps a tag per way (the key without its set bits:
//! 16 bits for L3, 32 for the rest) and a recency rank per way (0 the most recent; empty
//! ways rank after every valid one, so the least recent way is the victim whether or not
//! the set is full), all in one host cache line for every set of at most 8 ways and for
//! L3's 16 (the STLB's values sit on a second line, read only on a hit or fill); the
//! ways are compared all at once (SSE2 on x86-64, a plain loop elsewhere), the rank
//! update is one byte-vector compare and subtract (none on a hit of the most recent
//! way); a probe that misses hands its victim to the fill, so the set is searched once;
//! geometries are constants and the sets sit inside the model (no pointer to load; no
//! bounds checks: set indexes are masked by the constant set count); a page-table entry holds its child's frame beside its index, so a level costs one
//! host load; cycles are derived at the end from how many reads each level served.

use crate::model::{self, PageTable, Stats, BASE_CYCLES, PSC_LATENCY, STLB_LATENCY};

/// A tag: the key shifted past its set bits. `EMPTY` is no key's tag.
pub trait Tag: Copy + Eq + std::fmt::Debug {
    const EMPTY: Self;
    fn of(key: u64) -> Self;
    /// The tag as a 32-bit lane value (`u16`'s zero-extended).
    fn bits(self) -> u32;
}

impl Tag for u16 {
    const EMPTY: u16 = u16::MAX;
    #[inline(always)]
    fn of(key: u64) -> u16 {
        debug_assert!(key < u16::MAX as u64, "tag {key:#x} does not fit 16 bits");
        key as u16
    }
    #[inline(always)]
    fn bits(self) -> u32 {
        self as u32
    }
}

impl Tag for u32 {
    const EMPTY: u32 = u32::MAX;
    #[inline(always)]
    fn of(key: u64) -> u32 {
        debug_assert!(key < u32::MAX as u64, "tag {key:#x} does not fit 32 bits");
        key as u32
    }
    #[inline(always)]
    fn bits(self) -> u32 {
        self
    }
}

/// One set of `W` ways (W <= 16): tags, ranks (16 bytes whatever `W`, so the update is
/// one vector; lanes from `W` on are [`PAD`] and never move), values.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Set<T, V, const W: usize> {
    tags: [T; W],
    ranks: [u8; 16],
    vals: [V; W],
}

/// The rank of the lanes past a set's ways: above every rank, and positive as a signed
/// byte (the vector compares are signed).
const PAD: u8 = 127;

/// The ways of `tags` equal to `t`, one bit each.
#[inline(always)]
fn matches<T: Tag, const W: usize>(tags: &[T; W], t: T) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is x86-64's baseline; each load reads 16 bytes inside `tags`
        // (the branches are on constants: only whole vectors of the array are read).
        unsafe {
            let p = tags.as_ptr() as *const __m128i;
            if size_of::<T>() == 2 && W == 16 {
                let v = _mm_set1_epi16(t.bits() as i16);
                let a = _mm_cmpeq_epi16(_mm_loadu_si128(p), v);
                let b = _mm_cmpeq_epi16(_mm_loadu_si128(p.add(1)), v);
                return _mm_movemask_epi8(_mm_packs_epi16(a, b)) as u32;
            }
            if size_of::<T>() == 4 && W % 4 == 0 {
                let v = _mm_set1_epi32(t.bits() as i32);
                let mut m = 0;
                for i in 0..W / 4 {
                    let e = _mm_cmpeq_epi32(_mm_loadu_si128(p.add(i)), v);
                    m |= (_mm_movemask_ps(_mm_castsi128_ps(e)) as u32) << (4 * i);
                }
                return m;
            }
        }
    }
    let mut m = 0;
    for (i, &x) in tags.iter().enumerate() {
        m |= ((x == t) as u32) << i;
    }
    m
}

impl<T: Tag, V: Copy + Default, const W: usize> Set<T, V, W> {
    fn empty() -> Self {
        let mut ranks = [PAD; 16];
        for (i, r) in ranks.iter_mut().take(W).enumerate() {
            *r = i as u8;
        }
        Set {
            tags: [T::EMPTY; W],
            ranks,
            vals: [V::default(); W],
        }
    }

    /// The least recently used way (the one of rank W - 1).
    #[inline(always)]
    fn victim(&self) -> usize {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is x86-64's baseline; `ranks` is 16 bytes.
            unsafe {
                let v = _mm_loadu_si128(self.ranks.as_ptr() as *const __m128i);
                let e = _mm_cmpeq_epi8(v, _mm_set1_epi8(W as i8 - 1));
                return (_mm_movemask_epi8(e) as u32).trailing_zeros() as usize;
            }
        }
        #[allow(unreachable_code)]
        {
            let mut m = 0u32;
            for (i, &r) in self.ranks.iter().enumerate() {
                m |= ((r == W as u8 - 1) as u32) << i;
            }
            debug_assert!(m.count_ones() == 1);
            m.trailing_zeros() as usize
        }
    }

    /// Make the victim way `w` (rank W - 1) the most recent: every other way ages by
    /// one. The same as [`Set::touch`] of it, without its tests.
    #[inline(always)]
    fn refill(&mut self, w: usize) {
        debug_assert!(w < W && self.ranks[w] == W as u8 - 1);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: as in `touch`.
            unsafe {
                let p = self.ranks.as_mut_ptr() as *mut __m128i;
                let v = _mm_loadu_si128(p);
                let last = _mm_set1_epi8(W as i8 - 1);
                let aged = _mm_sub_epi8(v, _mm_cmpgt_epi8(last, v));
                _mm_storeu_si128(p, _mm_andnot_si128(_mm_cmpeq_epi8(v, last), aged));
                return;
            }
        }
        #[allow(unreachable_code)]
        self.touch(w)
    }

    /// Make way `w` the most recent: the ways more recent than it age by one. (Unused
    /// rank lanes hold `PAD`, above every rank: they never age.)
    #[inline(always)]
    fn touch(&mut self, w: usize) {
        debug_assert!(w < W);
        // SAFETY: w < W <= 16 (a way found by a compare of the W tags, or the victim).
        let r = unsafe { *self.ranks.get_unchecked(w) };
        if r == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::*;
            // SAFETY: SSE2 is x86-64's baseline; `ranks` is 16 bytes. Ranks are below
            // 16 and PAD is 127, so the signed byte compare is the unsigned one.
            unsafe {
                let p = self.ranks.as_mut_ptr() as *mut __m128i;
                let v = _mm_loadu_si128(p);
                let r = _mm_set1_epi8(r as i8);
                // Ranks below r take one more (subtract the all-ones of the compare);
                // the one equal to r, way w's (ranks of valid ways are distinct), 0.
                let aged = _mm_sub_epi8(v, _mm_cmpgt_epi8(r, v));
                _mm_storeu_si128(p, _mm_andnot_si128(_mm_cmpeq_epi8(v, r), aged));
                return;
            }
        }
        #[allow(unreachable_code)]
        {
            for x in self.ranks.iter_mut() {
                *x += (*x < r) as u8;
            }
            // SAFETY: as above.
            unsafe { *self.ranks.get_unchecked_mut(w) = 0 };
        }
    }
}

/// Where a probe that missed will put the key: its set and victim way.
#[derive(Clone, Copy)]
pub struct Slot {
    set: usize,
    way: usize,
}

/// A set-associative true-LRU array of `S` sets (a power of two) of `W` ways; key k
/// lives in set k mod S with tag k / S.
pub struct Assoc<T, V, const W: usize, const S: usize> {
    sets: [Set<T, V, W>; S],
}

impl<T: Tag, V: Copy + Default, const W: usize, const S: usize> Assoc<T, V, W, S> {
    const SHIFT: u32 = S.trailing_zeros();

    pub fn new() -> Self {
        assert!(S.is_power_of_two() && (1..=16).contains(&W));
        Assoc {
            sets: [Set::empty(); S],
        }
    }

    /// `Ok(value)` on a hit, which makes it the most recent; on a miss the victim's
    /// [`Slot`] for [`Assoc::fill`].
    #[inline(always)]
    pub fn lookup(&mut self, key: u64) -> Result<V, Slot> {
        let s = key as usize & (S - 1);
        let set = &mut self.sets[s];
        let m = matches(&set.tags, T::of(key >> Self::SHIFT));
        if m != 0 {
            let w = m.trailing_zeros() as usize;
            set.touch(w);
            // SAFETY: w < W, a bit of the W-bit match mask.
            Ok(unsafe { *set.vals.get_unchecked(w) })
        } else {
            Err(Slot {
                set: s,
                way: set.victim(),
            })
        }
    }

    /// Put `key` in `slot`, which a lookup of `key` returned with nothing in the set
    /// touched since.
    #[inline(always)]
    pub fn fill(&mut self, slot: Slot, key: u64, value: V) {
        debug_assert!(slot.set < S && slot.way < W);
        let set = &mut self.sets[slot.set & (S - 1)];
        // SAFETY: slot.way < W: the victim of this set.
        unsafe {
            *set.tags.get_unchecked_mut(slot.way) = T::of(key >> Self::SHIFT);
            *set.vals.get_unchecked_mut(slot.way) = value;
        }
        set.refill(slot.way);
    }

    /// A cache access: true on a hit; a miss fills the line.
    #[inline(always)]
    pub fn access(&mut self, key: u64) -> bool {
        match self.lookup(key) {
            Ok(_) => true,
            Err(slot) => {
                self.fill(slot, key, V::default());
                false
            }
        }
    }
}

/// The plain model's page table, one node per table: an entry of levels 4-2 is its
/// child's frame << 32 | the child's node, of level 1 the data frame; so a walk reads
/// one host word per level. The root is node 0.
struct Tables {
    nodes: Vec<[u64; 512]>,
    root: u64,
}

impl Tables {
    fn of(pt: &PageTable) -> Tables {
        let (nodes, frames) = pt.raw();
        let conv = |level: u32, e: u64| -> u64 {
            match e {
                0 => u64::MAX, // unmapped: never read (every page of the footprint is mapped)
                e if level == 1 => e - 1,
                e => frames[e as usize - 1] << 32 | (e - 1),
            }
        };
        // A node's level: the root is 4, a child one less than its parent.
        let mut level = vec![0u32; nodes.len()];
        level[0] = 4;
        let mut out = vec![[u64::MAX; 512]; nodes.len()];
        for n in 0..nodes.len() {
            for i in 0..512 {
                let e = nodes[n][i];
                if e != 0 && level[n] > 1 {
                    level[e as usize - 1] = level[n] - 1;
                }
                out[n][i] = conv(level[n], e);
            }
        }
        Tables {
            nodes: out,
            root: frames[0] << 32,
        }
    }
}

/// The L1 DTLB, STLB, walk caches and data caches, as `Model`'s, and the counts the
/// [`Stats`] are made from.
pub struct Tuned {
    l1: Assoc<u32, u32, 4, 16>,
    stlb: Assoc<u32, u32, 12, 128>,
    pml4: Assoc<u32, u64, 2, 1>,
    pdpt: Assoc<u32, u64, 4, 1>,
    pd: Assoc<u32, u64, 4, 8>,
    l1d: Assoc<u32, (), 8, 64>,
    l2: Assoc<u32, (), 4, 1024>,
    l3: Assoc<u16, (), 16, 8192>,
    tables: Tables,
    data_caches: bool,
    n: Counts,
}

/// What is counted per access; the rest of [`Stats`] follows from it.
#[derive(Default, Clone)]
struct Counts {
    accesses: u64,
    l1_misses: u64,
    walks: u64,
    pte_reads: [u64; 4],
    psc_hits: [u64; 3],
    /// Reads served by L1D, L2, L3, DRAM: PTE reads, data reads.
    pte_served: [u64; 4],
    data_served: [u64; 4],
}

/// `model.rs`'s latencies (`configs/skylake.toml`) by the level that served a read
/// (DRAM last), for the cycles derived at the end.
const CACHE_LATENCY: [u64; 4] = [
    model::CACHE_LATENCY[0],
    model::CACHE_LATENCY[1],
    model::CACHE_LATENCY[2],
    model::DRAM_LATENCY,
];

impl Tuned {
    pub fn new(pt: &PageTable, data_caches: bool) -> Tuned {
        Tuned {
            l1: Assoc::new(),
            stlb: Assoc::new(),
            pml4: Assoc::new(),
            pdpt: Assoc::new(),
            pd: Assoc::new(),
            l1d: Assoc::new(),
            l2: Assoc::new(),
            l3: Assoc::new(),
            tables: Tables::of(pt),
            data_caches,
            n: Counts::default(),
        }
    }

    pub fn reset_stats(&mut self) {
        self.n = Counts::default();
    }

    /// The plain model's [`Stats`] of the accesses since the last reset.
    pub fn stats(&self) -> Stats {
        let n = &self.n;
        let lat = |s: &[u64; 4]| (0..4).map(|l| s[l] * CACHE_LATENCY[l]).sum::<u64>();
        Stats {
            accesses: n.accesses,
            l1_misses: n.l1_misses,
            walks: n.walks,
            pte_reads: n.pte_reads,
            psc_hits: n.psc_hits,
            served: std::array::from_fn(|l| n.pte_served[l] + n.data_served[l]),
            cycles: BASE_CYCLES * n.accesses
                + STLB_LATENCY * n.l1_misses
                + PSC_LATENCY * n.walks
                + lat(&n.pte_served),
            data_cycles: lat(&n.data_served),
        }
    }

    /// The level that served the line: 0-2 L1D-L3, 3 DRAM; each level that missed
    /// took the line.
    #[inline(always)]
    fn read(&mut self, line: u64) -> usize {
        if self.l1d.access(line) {
            0
        } else if self.l2.access(line) {
            1
        } else if self.l3.access(line) {
            2
        } else {
            3
        }
    }

    /// Translate and (with data caches) read the word at `va`; its physical address.
    #[inline(always)]
    pub fn access(&mut self, va: u64) -> u64 {
        self.n.accesses += 1;
        let vpn = va >> 12;
        let frame = match self.l1.lookup(vpn) {
            Ok(f) => f,
            Err(slot) => self.l1_miss(va, slot),
        };
        let paddr = (frame as u64) << 12 | (va & 4095);
        if self.data_caches {
            let l = self.read(paddr >> 6);
            self.n.data_served[l & 3] += 1;
        }
        paddr
    }

    /// STLB, then a walk; fills the STLB and the L1 DTLB at the victims their probes
    /// found (the walk touches neither TLB).
    #[inline(always)]
    fn l1_miss(&mut self, va: u64, l1_slot: Slot) -> u32 {
        let vpn = va >> 12;
        self.n.l1_misses += 1;
        let f = match self.stlb.lookup(vpn) {
            Ok(f) => f,
            Err(slot) => {
                let f = self.walk(va);
                self.stlb.fill(slot, vpn, f);
                f
            }
        };
        self.l1.fill(l1_slot, vpn, f);
        f
    }

    /// Read the entry of `va` in the level-`level` table `t` (frame << 32 | node).
    #[inline(always)]
    fn step(&mut self, va: u64, level: u32, t: u64) -> u64 {
        let i = ((va >> (3 + 9 * level)) & 511) as usize;
        let l = self.read((t >> 32) << 6 | (i as u64) >> 3);
        self.n.pte_served[l & 3] += 1;
        self.n.pte_reads[(level as usize - 1) & 3] += 1;
        let node = (t & 0xFFFF_FFFF) as usize;
        debug_assert!(node < self.tables.nodes.len());
        // SAFETY: node is the root (0) or an index an entry of the table holds.
        let e = unsafe { self.tables.nodes.get_unchecked(node)[i] };
        debug_assert!(e != u64::MAX, "{va:#x} is not mapped");
        e
    }

    /// A walk: the three walk caches probed, the deepest hit starts it; each level read
    /// above the PTE fills its walk cache at the victim its probe found. The frame.
    #[inline(always)]
    fn walk(&mut self, va: u64) -> u32 {
        self.n.walks += 1;
        let pml4 = self.pml4.lookup(va >> 39);
        let pdpt = self.pdpt.lookup(va >> 30);
        let pd = self.pd.lookup(va >> 21);
        self.n.psc_hits[0] += pd.is_ok() as u64;
        self.n.psc_hits[1] += pdpt.is_ok() as u64;
        self.n.psc_hits[2] += pml4.is_ok() as u64;
        let t1 = match pd {
            Ok(t) => t,
            Err(pd_slot) => {
                let t2 = match pdpt {
                    Ok(t) => t,
                    Err(slot) => {
                        let t3 = match pml4 {
                            Ok(t) => t,
                            Err(slot) => {
                                let t = self.step(va, 4, self.tables.root);
                                self.pml4.fill(slot, va >> 39, t);
                                t
                            }
                        };
                        let t = self.step(va, 3, t3);
                        self.pdpt.fill(slot, va >> 30, t);
                        t
                    }
                };
                let t = self.step(va, 2, t2);
                self.pd.fill(pd_slot, va >> 21, t);
                t
            }
        };
        self.step(va, 1, t1) as u32
    }
}
