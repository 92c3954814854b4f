//! What the hashed page-table designs (inverted, htab, clustered, cuckoo) share: the
//! hash functions and their options, the packed key of a virtual page, the probing of
//! several page sizes in one walk, the nesting check for huge pages, and the
//! histograms their statistics report.
//!
//! In: address-space ids, virtual page numbers and page sizes; a design's own per-size
//! probe (for [`probe_sizes`]). Out: hashes, keys, the walk's reads in issue groups,
//! JSON histograms. Pure functions, apart from [`Nesting`], a counter a design owns.
//! Nothing here is specific to one design: a design keeps its own layout (entry sizes,
//! chains, lines, ways) in its own file.

use super::{PhysArray, Translation, WalkStep};
use crate::addr::PageSize;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::collections::HashMap;

/// How a hashed design hashes (asid, vpn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashKind {
    /// Fibonacci (multiplicative) hashing of the mixed key: spreads any key set evenly.
    #[default]
    Multiplicative,
    /// The low bits of the page number xor the asid, as early inverted tables did:
    /// strided or aligned address patterns collide, on purpose.
    Weak,
}

/// How a hashed design finds pages of several sizes: one table per page size, probed
/// together (latency of the slowest) or one after another (4K, then 2M, then 1G).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HugeProbe {
    #[default]
    Parallel,
    Sequential,
}

/// Hash of (asid, vpn) into `bits` bits (at most 63).
#[inline(always)]
pub fn hash(kind: HashKind, asid: u16, vpn: u64, bits: u32) -> u64 {
    debug_assert!(bits < 64);
    let mask = (1u64 << bits) - 1;
    match kind {
        HashKind::Multiplicative => {
            let key = vpn ^ ((asid as u64) << 48) ^ ((asid as u64).wrapping_mul(0x9e37_79b9));
            // Fibonacci hashing: the top bits of key x 2^64/phi.
            (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits.max(1))) & mask
        }
        HashKind::Weak => (vpn ^ asid as u64) & mask,
    }
}

/// A second, independent hash (cuckoo ways, HTAB's secondary group uses the complement).
#[inline(always)]
pub fn hash_with_seed(kind: HashKind, asid: u16, vpn: u64, bits: u32, seed: u64) -> u64 {
    match kind {
        HashKind::Multiplicative => hash(kind, asid, crate::util::splitmix64(vpn ^ seed), bits),
        HashKind::Weak => hash(kind, asid, vpn.rotate_right((seed % 61) as u32 + 1), bits),
    }
}

/// Virtual addresses the hashed designs map (57 bits, as LA57).
pub const VA_BITS: u32 = 57;

/// The highest level a walk cache may name in a config with a hashed design: walks of
/// hashed tables bypass the walker's walk caches, so a config switching from radix
/// (`--set 'page_table={kind="htab"}'`) may keep its walk caches, of any level a radix
/// table has (at most 6).
pub const ANY_WALK_CACHE_LEVEL: u32 = 6;

/// The [`DesignConfig`](super::DesignConfig) of a hashed design: what every hashed
/// design answers alike (a 57-bit key space, every page size in the key, walks that
/// bypass walk caches of any level, its own `validate` under `page_table.`), with its
/// `kind` and the title `explain` prints.
macro_rules! hashed_design_config {
    ($config:ty, $kind:literal, $title:literal) => {
        impl $crate::pagetable::DesignConfig for $config {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn title(&self) -> String {
                $title.into()
            }
            fn va_bits(&self) -> u32 {
                $crate::pagetable::hashed::VA_BITS
            }
            fn radix_bits(&self) -> Vec<u32> {
                Vec::new()
            }
            fn walk_cache_levels(&self) -> u32 {
                $crate::pagetable::hashed::ANY_WALK_CACHE_LEVEL
            }
            /// Every page size: the size is part of the key.
            fn page_size_problem(&self, _size: $crate::addr::PageSize) -> Option<String> {
                None
            }
            fn problems(&self, os: &$crate::config::OsConfig) -> Vec<(String, String)> {
                $crate::pagetable::design::under_page_table(self.validate(os))
            }
        }
    };
}
pub(crate) use hashed_design_config;

/// Largest virtual page number a key holds (57-bit virtual addresses, 4 KiB pages).
pub const VPN_BITS: u32 = VA_BITS - 12;

/// Host memory the tables of one design may take (the simulated structures' own limit is
/// checked by each design's config).
pub const HOST_LIMIT: u64 = 8 << 30;

/// The key a hashed design stores for a virtual page (or a cluster of pages): bit 63
/// valid, bits 61-62 page size, 45-60 asid, 0-44 page number. 0 (never stored) when the
/// page number does not fit, so such a key matches nothing.
#[inline(always)]
pub fn pack_key(asid: u16, size: PageSize, vpn: u64) -> u64 {
    if vpn >> VPN_BITS != 0 {
        return 0;
    }
    1 << 63 | (size.index() as u64) << 61 | (asid as u64) << VPN_BITS | vpn
}

/// (asid, size, page number) of a key made by [`pack_key`].
#[inline(always)]
pub fn unpack_key(key: u64) -> (u16, PageSize, u64) {
    (
        (key >> VPN_BITS) as u16,
        PageSize::from_index(((key >> 61) & 3) as usize),
        key & ((1 << VPN_BITS) - 1),
    )
}

/// The page number given to the hash: the size folded into bits above any page number,
/// so each size has its own hash space (the weak hash, on low bits, ignores it).
#[inline(always)]
pub fn fold(size: PageSize, vpn: u64) -> u64 {
    vpn ^ ((size.index() as u64) << 50)
}

/// The sizes a walk probes: those holding a mapping (`mapped[size index]` pages), 4K
/// first; just 4K when none does (as a radix TLB probes only the sizes in use).
#[inline(always)]
pub fn probed_sizes(mapped: &[u64; 3]) -> impl Iterator<Item = PageSize> + '_ {
    let none = mapped.iter().all(|&n| n == 0);
    PageSize::ALL
        .into_iter()
        .filter(move |s| mapped[s.index()] > 0 || (none && *s == PageSize::Size4K))
}

/// Run a walk's per-size probes in the order `huge` gives them and number the groups.
/// `probe(size, steps)` appends the reads of one size's probe, in order, and returns the
/// translation when its last read found the page. Sequential (or a single size): one read
/// per group, sizes one after another until a hit. Parallel: round r of every probe forms
/// group r; the walk ends after the round that hits, or when every probe has ended.
/// Groups are numbered modulo 256 (consecutive groups always differ, which is what the
/// walker looks at).
///
/// Allocates nothing beyond `steps`' own growth (the walker reuses it, so in a steady
/// state nothing at all): parallel probes are appended one after another past the walk's
/// reads, interleaved from there, and the raw probes removed.
pub fn probe_sizes(
    huge: HugeProbe,
    mapped: &[u64; 3],
    steps: &mut Vec<WalkStep>,
    mut probe: impl FnMut(PageSize, &mut Vec<WalkStep>) -> Option<Translation>,
) -> Option<Translation> {
    let n_sizes = probed_sizes(mapped).count();
    if huge == HugeProbe::Sequential || n_sizes == 1 {
        let mut group = 0u8;
        for s in probed_sizes(mapped) {
            let start = steps.len();
            let found = probe(s, steps);
            for st in &mut steps[start..] {
                st.group = group;
                group = group.wrapping_add(1);
            }
            if found.is_some() {
                return found;
            }
        }
        return None;
    }
    // Several sizes in parallel (only when a run maps several sizes): each probe's reads
    // as a range of `steps` (at most one per page size), then interleaved round by round
    // after them.
    let raw = steps.len();
    let mut probes = [(0usize, 0usize, None::<Translation>); PageSize::ALL.len()];
    for (p, s) in probes.iter_mut().zip(probed_sizes(mapped)) {
        let start = steps.len();
        let found = probe(s, steps);
        *p = (start, steps.len(), found);
    }
    let probes = &probes[..n_sizes];
    let rounds = probes.iter().map(|&(a, b, _)| b - a).max().unwrap_or(0);
    let mut result = None;
    for r in 0..rounds {
        for &(a, b, _) in probes {
            if a + r < b {
                let mut st = steps[a + r];
                st.group = r as u8;
                steps.push(st);
            }
        }
        if let Some(&(_, _, found)) = probes
            .iter()
            .find(|&&(a, b, found)| found.is_some() && b - a == r + 1)
        {
            result = found;
            break;
        }
    }
    let end = probes.last().map_or(raw, |&(_, b, _)| b);
    steps.drain(raw..end);
    result
}

/// Counts, per (asid, size, region), the smaller pages mapped inside each 2M and 1G
/// region, so that a huge page is never mapped over smaller ones (designs whose host
/// search cannot find them cheaply: htab, cuckoo).
#[derive(Default)]
pub struct Nesting {
    inside: HashMap<(u16, u8, u64), u32>,
}

impl Nesting {
    /// Whether a page of `size` at `vaddr` would cover a mapped smaller page.
    pub fn covers_smaller(&self, asid: u16, vaddr: u64, size: PageSize) -> bool {
        size != PageSize::Size4K
            && self
                .inside
                .contains_key(&(asid, size.index() as u8, vaddr >> size.shift()))
    }
    pub fn add(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        for big in PageSize::ALL.iter().filter(|b| b.shift() > size.shift()) {
            *self
                .inside
                .entry((asid, big.index() as u8, vaddr >> big.shift()))
                .or_default() += 1;
        }
    }
    pub fn remove(&mut self, asid: u16, vaddr: u64, size: PageSize) {
        for big in PageSize::ALL.iter().filter(|b| b.shift() > size.shift()) {
            let k = (asid, big.index() as u8, vaddr >> big.shift());
            if let Some(n) = self.inside.get_mut(&k) {
                *n -= 1;
                if *n == 0 {
                    self.inside.remove(&k);
                }
            }
        }
    }
}

/// Buckets of the search-length histograms (the last holds this many and more).
pub const HIST: usize = 64;

/// A histogram as JSON: the buckets up to the last non-empty one.
pub fn hist_json(h: &[Cell<u64>]) -> serde_json::Value {
    let v: Vec<u64> = h.iter().map(Cell::get).collect();
    let end = v.iter().rposition(|&n| n > 0).map_or(0, |i| i + 1);
    serde_json::json!(v[..end])
}

/// Whether `paddr` lies inside the bytes of `a` (block by block: blocks are 2 MiB).
pub fn phys_contains(a: &PhysArray, paddr: u64) -> bool {
    (0..a.bytes().div_ceil(2 << 20)).any(|b| {
        let lo = a.addr(b << 21);
        let len = (a.bytes() - (b << 21)).min(2 << 20);
        (lo..lo + len).contains(&paddr)
    })
}

/// Test support shared by the hashed designs' tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::super::{PageTable, PhysArray, Translation, NO_NODE};
    use crate::addr::{PageSize, PhysAddr, VirtAddr};
    use crate::config::OsConfig;
    use crate::os::frames::FrameAllocator;
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;
    use std::collections::BTreeMap;

    pub(crate) fn os(phys_mem: u64) -> OsConfig {
        OsConfig::with_memory(phys_mem)
    }

    /// Whether `addr` lies inside the bytes a `PhysArray` was asked for (written apart
    /// from [`super::phys_contains`], which the designs use, to check it).
    pub(crate) fn inside(arr: &PhysArray, addr: u64) -> bool {
        let block = 2u64 << 20;
        (0..arr.bytes().div_ceil(block)).any(|k| {
            let base = arr.addr(k * block);
            let len = block.min(arr.bytes() - k * block);
            addr >= base && addr < base + len
        })
    }

    /// Random map/unmap of 4K/2M/1G pages of three address spaces, checked after every
    /// operation against a plain map (`translate`) and, every few operations, for every
    /// page ever touched (`walk`, and every read inside the table). Shared by the
    /// inverted and clustered designs.
    pub(crate) fn property<PT: PageTable>(
        t: &mut PT,
        f: &mut FrameAllocator,
        ops: usize,
        seed: u64,
        inside: impl Fn(&PT, u64) -> bool,
    ) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        // (asid, size, vpn) -> frame
        let mut model: BTreeMap<(u16, PageSize, u64), u64> = BTreeMap::new();
        let mut free: [Vec<u64>; 3] = Default::default();
        let mut touched: Vec<(u16, u64)> = Vec::new();
        let covering = |m: &BTreeMap<(u16, PageSize, u64), u64>, asid: u16, va: u64| {
            PageSize::ALL.into_iter().find_map(|s| {
                m.get(&(asid, s, va >> s.shift()))
                    .map(|&frame| Translation {
                        frame: PhysAddr(frame),
                        size: s,
                    })
            })
        };
        let (mut maps, mut refused, mut unmaps) = (0, 0, 0);
        for op in 0..ops {
            let asid = 1 + (rng.next_u64() % 3) as u16;
            let size = match rng.next_u64() % 100 {
                0..=1 => PageSize::Size1G,
                2..=14 => PageSize::Size2M,
                _ => PageSize::Size4K,
            };
            // 8 GiB of virtual space, with a dense 4 MiB corner so clusters fill up.
            let va = if rng.next_u64() % 2 == 0 {
                rng.next_u64() % (8 << 30)
            } else {
                rng.next_u64() % (4 << 20)
            };
            touched.push((asid, va));
            if rng.next_u64() % 100 < 65 {
                let base = va & !(size.bytes() - 1);
                let frame = match free[size.index()].pop() {
                    Some(fr) => fr,
                    None => match f.alloc(size) {
                        Ok(fr) => fr,
                        Err(_) => continue,
                    },
                };
                let clash = model.iter().any(|(&(a, s, v), _)| {
                    let lo = v << s.shift();
                    a == asid && lo < base + size.bytes() && base < lo + s.bytes()
                });
                let r = t.map(asid, VirtAddr(base), size, PhysAddr(frame), f);
                assert_eq!(
                    r.is_ok(),
                    !clash,
                    "op {op}: map {asid} {base:#x} {size}: {r:?}"
                );
                if clash {
                    refused += 1;
                    free[size.index()].push(frame);
                } else {
                    maps += 1;
                    model.insert((asid, size, base >> size.shift()), frame);
                }
            } else {
                // Half the unmaps aim at a mapped page (any address inside it).
                let (asid, va) = match model
                    .keys()
                    .nth(rng.next_u64() as usize % model.len().max(1))
                {
                    Some(&(a, s, v)) if rng.next_u64() % 2 == 0 => {
                        (a, (v << s.shift()) + rng.next_u64() % s.bytes())
                    }
                    _ => (asid, va),
                };
                let expect = covering(&model, asid, va);
                assert_eq!(
                    t.unmap(asid, VirtAddr(va)),
                    expect,
                    "op {op}: unmap {asid} {va:#x}"
                );
                if let Some(tr) = expect {
                    unmaps += 1;
                    model.remove(&(asid, tr.size, va >> tr.size.shift()));
                    free[tr.size.index()].push(tr.frame.0);
                }
            }
            assert_eq!(
                t.translate(asid, VirtAddr(va)),
                covering(&model, asid, va),
                "op {op}"
            );
            if op % 500 == 499 || op == ops - 1 {
                let mut steps = Vec::new();
                for &(a, v) in &touched {
                    steps.clear();
                    let w = t.walk(a, VirtAddr(v), None, &mut steps);
                    assert_eq!(w, covering(&model, a, v), "op {op}: walk {a} {v:#x}");
                    assert!(!steps.is_empty());
                    for s in &steps {
                        assert!(inside(t, s.pte_addr.0), "read at {:#x}", s.pte_addr.0);
                        assert_eq!((s.level, s.next), (0, NO_NODE));
                    }
                    // Groups number the rounds 0, 1, 2, ... in order.
                    for w in steps.windows(2) {
                        assert!(
                            w[1].group == w[0].group || w[1].group == w[0].group.wrapping_add(1)
                        );
                    }
                    assert_eq!(steps[0].group, 0);
                    if let Some(tr) = w {
                        let (pte, data) = t.leaf_lines(a, VirtAddr(v)).unwrap();
                        assert!(inside(t, pte.0));
                        assert_eq!(data, tr.frame + (v & (tr.size.bytes() - 1)));
                    }
                }
                for (&(a, s, v), &frame) in &model {
                    steps.clear();
                    let w = t.walk(a, VirtAddr(v << s.shift()), None, &mut steps);
                    assert_eq!(
                        w,
                        Some(Translation {
                            frame: PhysAddr(frame),
                            size: s
                        })
                    );
                }
            }
        }
        // The sequence exercised every path.
        assert!(
            maps > ops / 4 && refused > ops / 20 && unmaps > ops / 10,
            "maps {maps}, refused {refused}, unmaps {unmaps}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::PhysAddr;

    #[test]
    fn multiplicative_spreads_strided_keys_weak_does_not() {
        // 4096 pages 512 apart (every 2 MiB): the weak hash puts them in few buckets.
        let buckets = |k: HashKind| {
            let mut seen = std::collections::HashSet::new();
            for i in 0..4096u64 {
                seen.insert(hash(k, 1, i * 512, 12));
            }
            seen.len()
        };
        assert!(buckets(HashKind::Multiplicative) > 2000);
        assert!(buckets(HashKind::Weak) <= 8);
    }

    fn step(pte_addr: u64) -> WalkStep {
        WalkStep {
            level: 0,
            pte_addr: PhysAddr(pte_addr),
            next: super::super::NO_NODE,
            group: 9,
        }
    }

    /// A probe of 4K reading 0x10, 0x11, 0x12 and missing; of 2M reading 0x20, 0x21 and
    /// hitting at the second; of 1G reading 0x30 and missing.
    fn probe(s: PageSize, steps: &mut Vec<WalkStep>) -> Option<Translation> {
        let (base, n, hit) = match s {
            PageSize::Size4K => (0x10, 3, false),
            PageSize::Size2M => (0x20, 2, true),
            PageSize::Size1G => (0x30, 1, false),
        };
        steps.extend((0..n).map(|i| step(base + i)));
        hit.then_some(Translation {
            frame: PhysAddr(0x20_0000),
            size: s,
        })
    }

    fn reads(steps: &[WalkStep]) -> Vec<(u64, u8)> {
        steps.iter().map(|s| (s.pte_addr.0, s.group)).collect()
    }

    #[test]
    fn parallel_probes_interleave_round_by_round_and_stop_after_the_hit() {
        // Worked by hand: round 0 reads the first line of every probe, round 1 the second
        // of those that have one; the 2M probe hits at its second read, ending the walk.
        // A read already in `steps` (an earlier walk's) stays in front.
        let mut steps = vec![step(0x99)];
        let found = probe_sizes(HugeProbe::Parallel, &[5, 1, 2], &mut steps, probe);
        assert_eq!(found.map(|t| t.size), Some(PageSize::Size2M));
        assert_eq!(
            reads(&steps),
            vec![
                (0x99, 9),
                (0x10, 0),
                (0x20, 0),
                (0x30, 0),
                (0x11, 1),
                (0x21, 1)
            ]
        );
        // Without 2M pages nothing hits: every round of every probe, then the end.
        steps.clear();
        let found = probe_sizes(HugeProbe::Parallel, &[5, 0, 2], &mut steps, probe);
        assert_eq!(found, None);
        assert_eq!(
            reads(&steps),
            vec![(0x10, 0), (0x30, 0), (0x11, 1), (0x12, 2)]
        );
    }

    #[test]
    fn sequential_probes_follow_one_another_one_read_per_group() {
        let mut steps = Vec::new();
        let found = probe_sizes(HugeProbe::Sequential, &[5, 1, 2], &mut steps, probe);
        assert_eq!(found.map(|t| t.size), Some(PageSize::Size2M));
        assert_eq!(
            reads(&steps),
            vec![(0x10, 0), (0x11, 1), (0x12, 2), (0x20, 3), (0x21, 4)]
        );
        // Nothing mapped: the 4K probe alone.
        steps.clear();
        assert_eq!(
            probe_sizes(HugeProbe::Parallel, &[0, 0, 0], &mut steps, probe),
            None
        );
        assert_eq!(reads(&steps), vec![(0x10, 0), (0x11, 1), (0x12, 2)]);
    }

    #[test]
    fn parallel_probes_reuse_the_walks_buffer() {
        // Once `steps` has grown to a walk's needs, walks of the same shape leave its
        // capacity (so its allocation) as it is: no buffer per probe, per walk.
        let mut steps = Vec::new();
        probe_sizes(HugeProbe::Parallel, &[1, 0, 1], &mut steps, probe);
        let cap = steps.capacity();
        let ptr = steps.as_ptr();
        for _ in 0..100 {
            steps.clear();
            probe_sizes(HugeProbe::Parallel, &[1, 0, 1], &mut steps, probe);
            assert_eq!((steps.capacity(), steps.as_ptr()), (cap, ptr));
        }
    }

    #[test]
    fn keys_round_trip_and_out_of_range_pages_match_nothing() {
        for (asid, size, vpn) in [
            (0, PageSize::Size4K, 0),
            (0xffff, PageSize::Size1G, (1 << VPN_BITS) - 1),
            (7, PageSize::Size2M, 0x1234),
        ] {
            let k = pack_key(asid, size, vpn);
            assert_eq!(k >> 63, 1);
            assert_eq!(unpack_key(k), (asid, size, vpn));
        }
        assert_eq!(pack_key(1, PageSize::Size4K, 1 << VPN_BITS), 0);
    }

    #[test]
    fn nesting_counts_smaller_pages_inside_each_region() {
        let mut n = Nesting::default();
        n.add(1, 0x4020_1000, PageSize::Size4K);
        assert!(n.covers_smaller(1, 0x4020_0000, PageSize::Size2M));
        assert!(n.covers_smaller(1, 0x4000_0000, PageSize::Size1G));
        assert!(!n.covers_smaller(2, 0x4020_0000, PageSize::Size2M));
        assert!(!n.covers_smaller(1, 0x4040_0000, PageSize::Size2M));
        assert!(!n.covers_smaller(1, 0x4020_1000, PageSize::Size4K));
        n.remove(1, 0x4020_1000, PageSize::Size4K);
        assert!(!n.covers_smaller(1, 0x4000_0000, PageSize::Size1G));
    }
}
