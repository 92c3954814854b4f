//! LRU sets of at most 16 ways kept as recency ranks: the layout of every LRU array
//! that small (every TLB, walk cache and data cache of the shipped presets but Zen 4's
//! fully associative L1 TLBs and 24-way L2 TLB).
//!
//! Each set has a 32-byte [`Meta`] beside its keys and values: per way, one byte of a
//! hash of its key (the fingerprint) and its recency rank (0 the most recent, `ways - 1`
//! the least; empty ways rank after every valid one). A search compares the 16
//! fingerprints at once and reads only the keys whose fingerprint matches (almost
//! always none or the one sought), whatever the way count, so no operation dispatches
//! on the way count. A hit raises the ranks below its own by one and takes rank 0; a
//! fill takes the way of rank `ways - 1` (an empty one while the set has one) and raises
//! every other: one vector compare and add each, and no key or value ever moves. The
//! recency-ordered layout (`ordered.rs`, sets of more ways) moves the keys and values
//! of every way more recent than a hit's on each hit.
//!
//! It is the same LRU: the valid keys of a set ordered by rank are the recency-ordered
//! layout's set, so every hit, miss, eviction and value agrees (the tests drive the
//! layouts side by side); [`SetAssoc::iter`] and [`SetAssoc::invalidate_where`] visit a
//! set's ways in rank order, as that layout stores them.
//!
//! The array's count of valid ways is not kept (only the other layouts read it).
//!
//! In: a set index, a key (and a value); the TLB fast path's `lookup_ranks` and
//! `insert_ranks` take a number whose low bits are the set (masked here), the key and
//! its fingerprint. Out: hits, values, the evicted entry.

use super::{ReplacementPolicy, SetAssoc, INVALID};

/// The most ways a ranked set holds: one byte per way in a 16-byte vector.
pub(super) const RANKED_WAYS: usize = 16;

/// One set's fingerprints and ranks; lanes past the way count are unused (the masks
/// of every search leave them out).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(super) struct Meta {
    fp: [u8; 16],
    rank: [u8; 16],
}

impl Meta {
    /// An empty set: every way empty, ranked in way order.
    pub(super) fn empty() -> Meta {
        Meta {
            fp: [0; 16],
            rank: std::array::from_fn(|i| i as u8),
        }
    }
}

/// The fingerprint of a key: the top byte of a multiplicative hash, which depends on
/// every bit of the key (the low bits of cache and TLB keys are the set index or the
/// address-space id and page size, the same in most keys of a set).
#[inline(always)]
pub(crate) fn fingerprint(key: u64) -> u8 {
    (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

/// [`fingerprint`] of `key` and the same in every lane ([`lanes::lanes_of`]), from one
/// hash (a probe's key: the byte for a fill, the lanes for the search), the lanes
/// spread from the hash's top byte without a second multiply.
#[inline(always)]
pub(crate) fn fingerprint_lanes(key: u64) -> (u8, lanes::Lanes) {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((h >> 56) as u8, lanes::top_byte_lanes(h))
}

/// Byte-lane operations on a set's 16 fingerprints or ranks.
#[cfg(target_arch = "x86_64")]
pub(crate) mod lanes {
    use std::arch::x86_64::*;

    // SAFETY (every function): SSE2 is part of every x86-64 target; the loads and
    // stores touch exactly the 16 bytes of the array they are given, unaligned.

    /// `b` in every lane: the byte spread over 64 bits by a multiply, then over 128
    /// (three host instructions, where `_mm_set1_epi8` takes four on SSE2).
    #[inline(always)]
    fn splat(b: u8) -> __m128i {
        unsafe { _mm_set1_epi64x((b as u64).wrapping_mul(0x0101_0101_0101_0101) as i64) }
    }

    /// A byte in every lane, made once for several compares ([`eq_lanes`]).
    pub(crate) type Lanes = __m128i;

    /// `b` in every lane, as [`Lanes`].
    #[inline(always)]
    pub(crate) fn lanes_of(b: u8) -> Lanes {
        splat(b)
    }

    /// The top byte of `h` in every lane: the bytes of `h` doubled (its top one in
    /// lanes 14 and 15), the top 16-bit word spread over the high half, then the top
    /// 32-bit one over all four (four host instructions, no multiply).
    #[inline(always)]
    pub(crate) fn top_byte_lanes(h: u64) -> Lanes {
        unsafe {
            let x = _mm_cvtsi64_si128(h as i64);
            let x = _mm_unpacklo_epi8(x, x);
            _mm_shuffle_epi32::<0xFF>(_mm_shufflehi_epi16::<0xFF>(x))
        }
    }

    /// Bit `i` set where lane `i` of `v` is `b`.
    #[inline(always)]
    pub(crate) fn eq(v: &[u8; 16], b: u8) -> u32 {
        eq_lanes(v, splat(b))
    }

    /// [`eq`] of a byte already in every lane of `b`.
    #[inline(always)]
    pub(crate) fn eq_lanes(v: &[u8; 16], b: Lanes) -> u32 {
        unsafe {
            let x = _mm_loadu_si128(v.as_ptr() as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi8(x, b)) as u32
        }
    }

    /// Lanes below `r` raised by one, lanes equal to `r` set to 0: the way of rank `r`
    /// becomes the most recent (ranks, and the lean sets' unused lanes, are below 128,
    /// so the signed compare is exact).
    #[inline(always)]
    pub(crate) fn promote(v: &mut [u8; 16], r: u8) {
        unsafe {
            let p = v.as_mut_ptr() as *mut __m128i;
            let x = _mm_loadu_si128(p);
            let rr = splat(r);
            // A lane below r compares as all ones (-1): subtracting it adds one.
            let raised = _mm_sub_epi8(x, _mm_cmplt_epi8(x, rr));
            _mm_storeu_si128(p, _mm_andnot_si128(_mm_cmpeq_epi8(x, rr), raised));
        }
    }

    /// [`age`] of the last rank already in every byte of `last`.
    #[inline(always)]
    pub(crate) fn age_at(v: &mut [u8; 16], last: &[u8; 16]) -> u32 {
        age_lanes(v, unsafe {
            _mm_loadu_si128(last.as_ptr() as *const __m128i)
        })
    }

    #[inline(always)]
    fn age_lanes(v: &mut [u8; 16], last: Lanes) -> u32 {
        unsafe {
            let p = v.as_mut_ptr() as *mut __m128i;
            let x = _mm_loadu_si128(p);
            let at = _mm_cmpeq_epi8(x, last);
            let raised = _mm_sub_epi8(x, _mm_set1_epi8(-1));
            _mm_storeu_si128(p, _mm_andnot_si128(at, raised));
            _mm_movemask_epi8(at) as u32
        }
    }

    /// Lanes below the last rank (in every byte of `last`) raised by one, lanes equal
    /// to it set to 0: the least recent way becomes the most recent. Lanes above it
    /// (the unused ones of a set, kept above every rank) never change. Returns the
    /// lanes that held the last rank.
    #[inline(always)]
    pub(crate) fn age_below(v: &mut [u8; 16], last: &[u8; 16]) -> u32 {
        unsafe {
            let p = v.as_mut_ptr() as *mut __m128i;
            let x = _mm_loadu_si128(p);
            let l = _mm_loadu_si128(last.as_ptr() as *const __m128i);
            let at = _mm_cmpeq_epi8(x, l);
            // Ranks and the unused lanes' mark are below 128: the signed compare is
            // the unsigned one.
            let raised = _mm_sub_epi8(x, _mm_cmplt_epi8(x, l));
            _mm_storeu_si128(p, _mm_andnot_si128(at, raised));
            _mm_movemask_epi8(at) as u32
        }
    }

    /// Lanes above `r` lowered by one, lanes equal to `r` set to `last`: the way of
    /// rank `r` becomes the least recent.
    #[inline(always)]
    pub(crate) fn demote(v: &mut [u8; 16], r: u8, last: u8) {
        unsafe {
            let p = v.as_mut_ptr() as *mut __m128i;
            let x = _mm_loadu_si128(p);
            let rr = _mm_set1_epi8(r as i8);
            let lowered = _mm_add_epi8(x, _mm_cmpgt_epi8(x, rr));
            let at = _mm_cmpeq_epi8(x, rr);
            let out = _mm_or_si128(
                _mm_andnot_si128(at, lowered),
                _mm_and_si128(at, _mm_set1_epi8(last as i8)),
            );
            _mm_storeu_si128(p, out);
        }
    }
}

/// [`lanes`] lane by lane, for other hosts.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) mod lanes {
    pub(crate) type Lanes = u8;
    #[inline(always)]
    pub(crate) fn lanes_of(b: u8) -> Lanes {
        b
    }
    #[inline(always)]
    pub(crate) fn top_byte_lanes(h: u64) -> Lanes {
        (h >> 56) as u8
    }
    #[inline(always)]
    pub(crate) fn eq(v: &[u8; 16], b: u8) -> u32 {
        (v.iter().enumerate()).fold(0, |m, (i, &x)| m | (((x == b) as u32) << i))
    }
    #[inline(always)]
    pub(crate) fn eq_lanes(v: &[u8; 16], b: Lanes) -> u32 {
        eq(v, b)
    }
    #[inline(always)]
    pub(crate) fn age_at(v: &mut [u8; 16], last: &[u8; 16]) -> u32 {
        age(v, last[0] as u64)
    }
    #[inline(always)]
    pub(crate) fn promote(v: &mut [u8; 16], r: u8) {
        for x in v.iter_mut() {
            *x = if *x == r { 0 } else { *x + (*x < r) as u8 };
        }
    }
    #[inline(always)]
    pub(crate) fn age(v: &mut [u8; 16], last_lanes: u64) -> u32 {
        let last = last_lanes as u8;
        let m = eq(v, last);
        for x in v.iter_mut() {
            *x = if *x == last { 0 } else { x.wrapping_add(1) };
        }
        m
    }
    #[inline(always)]
    pub(crate) fn age_below(v: &mut [u8; 16], last: &[u8; 16]) -> u32 {
        let m = eq(v, last[0]);
        promote(v, last[0]);
        m
    }
    #[inline(always)]
    pub(crate) fn demote(v: &mut [u8; 16], r: u8, last: u8) {
        for x in v.iter_mut() {
            *x = if *x == r { last } else { *x - (*x > r) as u8 };
        }
    }
}

/// The way of a set (its `meta`, its keys from `base`) holding `key` (of fingerprint
/// `fp`, in every lane); `way_mask` has a bit per way.
#[inline(always)]
fn find_way(
    m: &Meta,
    keys: &[u64],
    base: usize,
    way_mask: u32,
    key: u64,
    fp: lanes::Lanes,
) -> Option<usize> {
    let mut hits = lanes::eq_lanes(&m.fp, fp) & way_mask;
    while hits != 0 {
        let w = hits.trailing_zeros() as usize;
        debug_assert!(base + w < keys.len());
        // SAFETY: callers pass the first way of a set that indexes `meta` (one entry per
        // set), and `w < ways` (the way mask): `base + w` is inside the set.
        if unsafe { *keys.get_unchecked(base + w) } == key {
            return Some(w);
        }
        hits &= hits - 1;
    }
    None
}

/// Way `w` (below the way count) of the set of `m` becomes the most recent.
#[inline(always)]
fn promote_way(m: &mut Meta, w: usize) {
    debug_assert!(w < RANKED_WAYS);
    // SAFETY: `w` is a way of the set (at most 16 lanes).
    let r = unsafe { *m.rank.get_unchecked(w) };
    // A hit on the most recent way (a line or page used again at once, common)
    // changes no rank.
    if r != 0 {
        lanes::promote(&mut m.rank, r);
    }
}

/// The least recent way of the set of `m` takes fingerprint `fp` and becomes the most
/// recent; returns the way (below the way count: `last`, the last rank in every byte,
/// and `way_mask` are the array's).
#[inline(always)]
fn age_way(m: &mut Meta, last: &[u8; 16], way_mask: u32, fp: u8) -> usize {
    let at = lanes::age_at(&mut m.rank, last) & way_mask;
    debug_assert_eq!(at.count_ones(), 1);
    // SAFETY: the ranks of a set's ways are a permutation of 0..ways, so exactly one
    // way ranks last: `at` is not 0 (so its lowest bit is found with no test for 0),
    // and `w < ways <= 16`.
    unsafe {
        let w = std::num::NonZeroU32::new_unchecked(at).trailing_zeros() as usize;
        *m.fp.get_unchecked_mut(w) = fp;
        w
    }
}

/// A ranked array's sets as raw parts: what a probe and a fill need, copied out once, so
/// that an engine holding them across many accesses (`sim/fused.rs`, through the TLBs'
/// and walk caches' views) loads no field of the array per access. The one
/// implementation of a ranked probe and fill: [`SetAssoc::lookup_ranks`] and
/// [`SetAssoc::insert_ranks`] go through it.
///
/// Valid while the array is neither moved, dropped nor remade, and used only while
/// nothing else borrows it.
#[derive(Clone, Copy)]
pub(crate) struct RankedView {
    meta: *mut Meta,
    keys: *mut u64,
    vals: *mut u64,
    mask: u64,
    ways: usize,
    way_mask: u32,
    last: [u8; 16],
    absent: *mut (usize, u64),
}

/// The set a [`RankedView::probe_slot`] missed in, for [`RankedView::fill_slot`]: its
/// `Meta` and the index of its first key and value.
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    meta: *mut Meta,
    base: usize,
}

impl RankedView {
    /// Search the set of `x` (its bits under the set mask, `set`) for `key` of
    /// fingerprint `fp` (in every lane): on a hit its value, the way made the most
    /// recent; on a miss the set's `Meta`, with nothing changed.
    ///
    /// # Safety
    /// The view is valid (see [`RankedView`]).
    #[inline(always)]
    unsafe fn search(&self, set: usize, key: u64, fp: lanes::Lanes) -> Result<u64, *mut Meta> {
        // SAFETY: `set <= mask = sets - 1`, and a ranked array has a `Meta` per set and
        // `ways` keys and values per set; `w` is a way of the set (the way mask).
        unsafe {
            let meta = self.meta.add(set);
            let m = &mut *meta;
            let mut hits = lanes::eq_lanes(&m.fp, fp) & self.way_mask;
            if hits != 0 {
                let base = set * self.ways;
                while hits != 0 {
                    let w = hits.trailing_zeros() as usize;
                    if *self.keys.add(base + w) == key {
                        promote_way(m, w);
                        return Ok(*self.vals.add(base + w));
                    }
                    hits &= hits - 1;
                }
            }
            Err(meta)
        }
    }

    /// Probe the set of `x` (its bits under the set mask) for `key` of fingerprint `fp`
    /// (in every lane): on a hit its value, the way made the most recent; on a miss the
    /// set, for [`RankedView::fill`], with nothing changed (not even the array's
    /// remembered absent key: the caller that fills after the miss knows it).
    ///
    /// # Safety
    /// The view is valid (see [`RankedView`]).
    #[inline(always)]
    pub(crate) unsafe fn probe(&self, x: u64, key: u64, fp: lanes::Lanes) -> Result<u64, usize> {
        let set = (x & self.mask) as usize;
        // SAFETY: the caller's.
        unsafe { self.search(set, key, fp).map_err(|_| set) }
    }

    /// [`RankedView::probe`] whose miss gives the set as a [`Slot`], for
    /// [`RankedView::fill_slot`] (which then finds its keys with no multiply).
    ///
    /// # Safety
    /// As [`RankedView::probe`].
    #[inline(always)]
    pub(crate) unsafe fn probe_slot(
        &self,
        x: u64,
        key: u64,
        fp: lanes::Lanes,
    ) -> Result<u64, Slot> {
        let set = (x & self.mask) as usize;
        // SAFETY: the caller's.
        unsafe { self.search(set, key, fp) }.map_err(|meta| Slot {
            meta,
            base: set * self.ways,
        })
    }

    /// `key` (of fingerprint `fp`), absent from `set`, takes the set's least recent way
    /// (an empty one while the set has one) with value `val`, and becomes the most
    /// recent; whether a valid entry was displaced.
    ///
    /// # Safety
    /// The view is valid, `set` is one of its sets (as [`RankedView::probe`] returns),
    /// and `key` is absent from it.
    #[inline(always)]
    pub(crate) unsafe fn fill(&self, set: usize, key: u64, fp: u8, val: u64) -> bool {
        // SAFETY: the caller's; `set` is a set of the array.
        unsafe {
            let slot = Slot {
                meta: self.meta.add(set),
                base: set * self.ways,
            };
            // The key the array remembered as absent may be this one.
            (*self.absent).1 = INVALID;
            self.fill_slot(slot, key, fp, val)
        }
    }

    /// [`RankedView::fill`] of the set a [`RankedView::probe_slot`] missed in, leaving
    /// the array's remembered absent key as it is: for a caller that knows it is not
    /// this key in this set (the fused path's TLB fill: between accesses a TLB's
    /// remembered key is none, every general lookup that misses a TLB filling it in
    /// the same access; checked here in debug builds).
    ///
    /// # Safety
    /// The view is valid, `slot` is its probe's, and `key` is absent from its set.
    #[inline(always)]
    pub(crate) unsafe fn fill_slot(&self, slot: Slot, key: u64, fp: u8, val: u64) -> bool {
        // SAFETY: the caller's; `age_way` gives a way below the way count.
        unsafe {
            debug_assert!({
                let set = slot.meta.offset_from(self.meta) as usize;
                *self.absent != (set, key) && set * self.ways == slot.base
            });
            let w = age_way(&mut *slot.meta, &self.last, self.way_mask, fp);
            debug_assert!(w < self.ways);
            *self.vals.add(slot.base + w) = val;
            let old = std::mem::replace(&mut *self.keys.add(slot.base + w), key);
            old != INVALID
        }
    }
}

impl<P: ReplacementPolicy> SetAssoc<P> {
    /// The way of `set` holding `key` (of fingerprint `fp`).
    #[inline(always)]
    fn find_ranked(&self, set: usize, key: u64, fp: u8) -> Option<usize> {
        // `set` indexes `meta` (checked), as `find_way` requires.
        let (m, fp) = (&self.meta[set], lanes::lanes_of(fp));
        find_way(m, &self.keys, set * self.ways, self.way_mask, key, fp)
    }

    /// Way `w` of `set` becomes the most recent.
    #[inline(always)]
    fn touch(&mut self, set: usize, w: usize) {
        debug_assert!(w < self.ways);
        promote_way(&mut self.meta[set], w);
    }

    /// The least recent way of `set` (an empty one while the set has one) takes `key`
    /// and becomes the most recent; returns the way and the key it held.
    #[inline(always)]
    fn fill_ranked(&mut self, set: usize, key: u64, fp: u8) -> (usize, u64) {
        let w = age_way(&mut self.meta[set], &self.last, self.way_mask, fp);
        debug_assert!(w < self.ways);
        // SAFETY: `w < ways`, and `set` indexed `meta` (checked), so `set * ways + w`
        // is inside `keys`.
        let old =
            unsafe { std::mem::replace(self.keys.get_unchecked_mut(set * self.ways + w), key) };
        self.absent.1 = INVALID;
        (w, old)
    }

    /// [`SetAssoc::lookup`] of an array [`SetAssoc::is_ranked`] says keeps ranks, for a
    /// caller that asked once for the whole run (the code of the other layouts stays
    /// out of the caller), in the set of `x` (its bits under [`SetAssoc::set_mask`]),
    /// for `key` of fingerprint `fp` ([`fingerprint`], in every lane: [`lanes::lanes_of`]):
    /// a caller probing several arrays for one key makes the key and its fingerprint once.
    ///
    /// # Safety
    /// The array keeps ranks: another has no ranks to index.
    #[inline(always)]
    pub(crate) unsafe fn lookup_ranks(
        &mut self,
        x: u64,
        key: u64,
        fp: lanes::Lanes,
    ) -> Option<u64> {
        debug_assert!(self.ranked);
        // SAFETY: the caller's (a ranked array); the view is of `self`, borrowed.
        match unsafe { self.ranked_view_unchecked().probe(x, key, fp) } {
            Ok(val) => Some(val),
            Err(set) => {
                self.absent = (set, key);
                None
            }
        }
    }

    /// [`SetAssoc::insert`] of an array that keeps ranks, as [`SetAssoc::lookup_ranks`],
    /// for a caller that needs only whether a valid entry was displaced.
    ///
    /// # Safety
    /// As [`SetAssoc::lookup_ranks`].
    #[inline(always)]
    pub(crate) unsafe fn insert_ranks(&mut self, x: u64, key: u64, fp: u8, val: u64) -> bool {
        let set = (x & self.mask) as usize;
        debug_assert!(self.ranked && set < self.meta.len());
        // A key the last lookup missed is known to be absent (nearly always: a fill
        // follows its lookup's miss).
        if self.absent != (set, key) && self.refresh_ranked(set, key, fp, val) {
            return false;
        }
        // SAFETY: as in `lookup_ranks`; `key` is absent from its set.
        unsafe { self.ranked_view_unchecked().fill(set, key, fp, val) }
    }

    /// This array as a [`RankedView`], if it keeps ranks.
    pub(crate) fn ranked_view(&mut self) -> Option<RankedView> {
        // SAFETY: checked just now.
        self.ranked.then(|| unsafe { self.ranked_view_unchecked() })
    }

    /// [`SetAssoc::ranked_view`] of an array known to keep ranks.
    ///
    /// # Safety
    /// The array keeps ranks.
    #[inline(always)]
    unsafe fn ranked_view_unchecked(&mut self) -> RankedView {
        debug_assert!(self.ranked);
        RankedView {
            meta: self.meta.as_mut_ptr(),
            keys: self.keys.as_mut_ptr(),
            vals: self.vals.as_mut_ptr(),
            mask: self.mask,
            ways: self.ways,
            way_mask: self.way_mask,
            last: self.last,
            absent: &mut self.absent,
        }
    }

    /// The way of `set` holding `key` (of fingerprint `fp`), if any, takes `val` and
    /// becomes the most recent; whether there was one. Out of line: rare (the fast
    /// path's fills follow a lookup's miss), and its compares stay out of the caller.
    #[cold]
    #[inline(never)]
    fn refresh_ranked(&mut self, set: usize, key: u64, fp: u8, val: u64) -> bool {
        let Some(w) = self.find_ranked(set, key, fp) else {
            return false;
        };
        self.vals[set * self.ways + w] = val;
        self.touch(set, w);
        true
    }

    /// [`SetAssoc::lookup`] of a ranked array.
    #[inline(always)]
    pub(super) fn lookup_ranked(&mut self, set: usize, key: u64) -> Option<u64> {
        let Some(w) = self.find_ranked(set, key, fingerprint(key)) else {
            self.absent = (set, key);
            return None;
        };
        self.touch(set, w);
        debug_assert!(set * self.ways + w < self.vals.len());
        // SAFETY: `find_ranked` found way `w < ways` of `set`, an index of `meta`.
        Some(unsafe { *self.vals.get_unchecked(set * self.ways + w) })
    }

    /// [`SetAssoc::access`] of a ranked array (values untouched).
    #[inline(always)]
    pub(super) fn access_ranked(&mut self, set: usize, key: u64) -> bool {
        let fp = fingerprint(key);
        if let Some(w) = self.find_ranked(set, key, fp) {
            self.touch(set, w);
            return true;
        }
        self.fill_ranked(set, key, fp);
        false
    }

    /// [`SetAssoc::insert`] of a ranked array.
    #[inline(always)]
    pub(super) fn insert_ranked(&mut self, set: usize, key: u64, val: u64) -> Option<(u64, u64)> {
        let fp = fingerprint(key);
        // A key the last lookup missed is known to be absent.
        let hit = match self.absent == (set, key) {
            true => None,
            false => self.find_ranked(set, key, fp),
        };
        if let Some(w) = hit {
            self.vals[set * self.ways + w] = val;
            self.touch(set, w);
            return None;
        }
        let (w, old) = self.fill_ranked(set, key, fp);
        debug_assert!(set * self.ways + w < self.vals.len());
        // SAFETY: `fill_ranked` filled way `w < ways` of `set`, an index of `meta`.
        let v = std::mem::replace(
            unsafe { self.vals.get_unchecked_mut(set * self.ways + w) },
            val,
        );
        (old != INVALID).then_some((old, v))
    }

    /// [`SetAssoc::fill_skipping`] of a ranked array: a spared victim becomes the most
    /// recent, and the new least recent goes.
    pub(super) fn fill_skipping_ranked(
        &mut self,
        set: usize,
        key: u64,
        val: u64,
        spare: impl Fn(u64) -> Option<u64>,
    ) -> (bool, Option<(u64, u64)>) {
        let fp = fingerprint(key);
        if let Some(w) = self.find_ranked(set, key, fp) {
            self.touch(set, w);
            return (true, None);
        }
        let base = set * self.ways;
        let last = (self.ways - 1) as u8;
        let v = (lanes::eq(&self.meta[set].rank, last) & self.way_mask).trailing_zeros() as usize;
        if self.keys[base + v] != INVALID {
            if let Some(nv) = spare(self.vals[base + v]) {
                self.vals[base + v] = nv;
                self.touch(set, v);
            }
        }
        let (w, old) = self.fill_ranked(set, key, fp);
        let v = std::mem::replace(&mut self.vals[base + w], val);
        (false, (old != INVALID).then_some((old, v)))
    }

    /// [`SetAssoc::probe`] of a ranked array.
    #[inline(always)]
    pub(super) fn probe_ranked(&self, set: usize, key: u64) -> Option<u64> {
        let w = self.find_ranked(set, key, fingerprint(key))?;
        Some(self.vals[set * self.ways + w])
    }

    /// [`SetAssoc::invalidate`] of a ranked array: the way empties and ranks last.
    pub(super) fn invalidate_ranked(&mut self, set: usize, key: u64) -> bool {
        let Some(w) = self.find_ranked(set, key, fingerprint(key)) else {
            return false;
        };
        self.keys[set * self.ways + w] = INVALID;
        let m = &mut self.meta[set];
        let r = m.rank[w];
        lanes::demote(&mut m.rank, r, (self.ways - 1) as u8);
        true
    }

    /// The way of rank `r` in `set`.
    pub(super) fn way_of_rank(&self, set: usize, r: usize) -> usize {
        let rank = &self.meta[set].rank[..self.ways];
        (rank.iter().position(|&x| x as usize == r)).expect("the ranks of a set are a permutation")
    }

    /// [`SetAssoc::invalidate_where`] of a ranked array: each set's valid keys visited
    /// in recency order; the kept ones keep their order, and the emptied ways rank
    /// after them.
    pub(super) fn invalidate_where_ranked(&mut self, mut pred: impl FnMut(u64) -> bool) -> usize {
        let mut n = 0;
        for set in 0..self.sets {
            let base = set * self.ways;
            let order: [u8; RANKED_WAYS] = std::array::from_fn(|r| {
                if r < self.ways {
                    self.way_of_rank(set, r) as u8
                } else {
                    0
                }
            });
            let mut kept = [false; RANKED_WAYS];
            for &w in &order[..self.ways] {
                let k = self.keys[base + w as usize];
                if k == INVALID {
                    continue;
                }
                if pred(k) {
                    self.keys[base + w as usize] = INVALID;
                    n += 1;
                } else {
                    kept[w as usize] = true;
                }
            }
            // New ranks: the kept ways in their order, then the others in theirs.
            let mut next = 0;
            for keep in [true, false] {
                for &w in &order[..self.ways] {
                    if kept[w as usize] == keep {
                        self.meta[set].rank[w as usize] = next;
                        next += 1;
                    }
                }
            }
        }
        n
    }
}
