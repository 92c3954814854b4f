//! The memory hierarchy behind the page walker: what one PTE read costs.
//!
//! Owns the cache levels of `memory.cache[i]` (private per core or shared by all) and the
//! DRAM latency. In: `(core, physical address, is_pte)`. Out: the load-to-use latency of
//! the level that held the line. A miss fills every level on the way (inclusive, no
//! back-invalidation). Data accesses may be sent through the same caches
//! (`memory.data_through_caches`) so that they compete with PTE lines, as they do in
//! hardware; their latency is not charged (the base CPI covers data).
//!
//! Two routes, chosen once per run: where every level is a lean LRU array
//! (`lines.rs`) of one line size, a read visits them with the line number made once and
//! no test of each level's kind; otherwise (other policies, more than 16 ways, mixed
//! line sizes, TLB blocks) it takes the general route, out of line. One level may hold
//! Victima's TLB blocks beside its lines (`blocks.rs`, turned on per run by
//! [`MemorySystem::hold_tlb_blocks`], which also leaves the lean route for good).
//!
//! The per-level hit and miss counters are not counted at each level a read passes: a
//! read counts once, per port, at the depth that served it, and the levels' counters
//! derive from those counts (a level's misses are the reads served below it) whenever
//! they are read or restarted ([`MemorySystem::stats`], the resets), so what the report
//! shows is what counting at every level gives (the test
//! `derived_counters_match_counting_at_every_level`).

mod blocks;
mod lean;
mod lines;
pub use blocks::{tlb_block_key, BlockStats, TLB_BLOCK};
pub use lean::{LeanPort, LEAN_DEPTH};

use crate::addr::PhysAddr;
use crate::assoc::{Replacement, SetAssoc};
use crate::config::MemoryConfig;
use lines::{LineSets, LEAN_WAYS};
use serde::Serialize;

/// Counters of one cache instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CacheStats {
    pub name: String,
    /// Core that owns the instance, or none for a shared one.
    pub core: Option<u32>,
    /// Translation reads: PTE reads of walks and, with a POM-TLB, its set-line reads
    /// ([`MemorySystem::read_translation`]; `tlb_memory` in the report tells them apart).
    pub pte_hits: u64,
    pub pte_misses: u64,
    pub data_hits: u64,
    pub data_misses: u64,
    /// Victima's TLB blocks in this instance (only a level holding them: absent from
    /// the output otherwise, so runs without Victima keep their results).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tlb_blocks: Option<BlockStats>,
}

impl CacheStats {
    /// Adds counts in [`MemorySystem::served_counts`]' order: `[pte_hits, pte_misses,
    /// data_hits, data_misses]`.
    fn add_served(&mut self, [ph, pm, dh, dm]: [u64; 4]) {
        self.pte_hits += ph;
        self.pte_misses += pm;
        self.data_hits += dh;
        self.data_misses += dm;
    }
}

/// A level's sets: lean LRU sets of lines (`lines.rs`) where the level allows, else the
/// shared array (another policy, more than 16 ways, or TLB blocks beside the lines).
enum Array {
    Lean(LineSets),
    Any(SetAssoc),
}

struct Cache {
    array: Array,
    /// What the array was made of (sets, ways, policy, seed): a level that comes to
    /// hold TLB blocks is made again as the shared array (`blocks.rs`).
    made_of: (usize, usize, Replacement, u64),
    line_shift: u32,
    latency: u32,
    stats: CacheStats,
    /// Holds TLB blocks: its ways carry a kind (data, PTE, block) in their values and
    /// its replacement skips a TLB-block victim once (`blocks.rs`).
    blocks: bool,
}

impl Cache {
    /// The array of a level made of (sets, ways, policy, seed): lean LRU sets where
    /// they can serve (`lines.rs`), the shared array where the level holds TLB blocks
    /// or its policy or way count needs it.
    fn array_of((sets, ways, repl, seed): (usize, usize, Replacement, u64), blocks: bool) -> Array {
        match !blocks && repl == Replacement::Lru && ways <= LEAN_WAYS {
            true => Array::Lean(LineSets::new(sets, ways)),
            false => Array::Any(SetAssoc::new(sets, ways, repl, seed)),
        }
    }

    /// The shared array of a level holding TLB blocks (made so by
    /// [`MemorySystem::hold_tlb_blocks`]).
    fn any(&mut self) -> &mut SetAssoc {
        match &mut self.array {
            Array::Any(a) => a,
            Array::Lean(_) => unreachable!("a level holding TLB blocks has the shared array"),
        }
    }

    /// [`Cache::any`], to read.
    fn any_ref(&self) -> &SetAssoc {
        match &self.array {
            Array::Any(a) => a,
            Array::Lean(_) => unreachable!("a level holding TLB blocks has the shared array"),
        }
    }
}

/// One core's way into the memory levels.
struct Port {
    /// The cache instances a read from the core visits, nearest first.
    route: Vec<usize>,
    /// The line its last read left most recent in its private first level (`u64::MAX`
    /// if none). Reading it again is a hit that changes no replacement state, so the
    /// probe can be skipped exactly. Unused when the first level is shared.
    last_line: u64,
    /// PTE reads served by DRAM (data reads are not counted here).
    dram_pte_reads: u64,
    /// Reads served at each depth of the route (its length: DRAM), by kind:
    /// `served[2 * depth + is_pte]`. A read visits the levels above the one that served
    /// it and misses in each, so a level's hits are the reads it served and its misses
    /// those served below it: counted once per read here, not per level visited, and
    /// added to the levels' counters when they are read or restarted
    /// ([`MemorySystem::fold`]).
    served: Vec<u64>,
    /// The levels of the route whose sets [`MemorySystem::prefetch`] prefetches on the
    /// host: those past the first whose sets take more than [`HOST_RESIDENT`] bytes.
    far: Vec<usize>,
}

/// Host bytes of a level's sets up to which they are taken to stay in the host's own
/// caches, so that prefetching them on the host only adds instructions. The walk-heavy
/// run (skylake, 1 GiB uniform; `RUNS`-interleaved medians of 9 rounds, 2 M and 8 M
/// accesses) ran at 0.98 of the speed of prefetching every level past the first when
/// it skipped the L2's (64 KiB of sets), within the noise of its rounds (about 10%),
/// and its L3's (1.3 MiB) are the ones a read waits for. 256 KiB: the L2 of most hosts.
const HOST_RESIDENT: usize = 256 << 10;

/// Every cache instance of the machine plus DRAM.
pub struct MemorySystem {
    caches: Vec<Cache>,
    /// Per core: its route and what its reads remember and count (one bounds check per
    /// read for all three).
    ports: Vec<Port>,
    dram_latency: u32,
    data_through_caches: bool,
    /// The first level is private to each core (`last_line` is kept).
    first_private: bool,
    /// The depth in every route of the level holding TLB blocks (`blocks.rs`), if any.
    block_depth: Option<usize>,
    /// Every level's array is lean (`Array::Lean`), none holds TLB blocks and all have
    /// the same line size: reads take [`MemorySystem::visit_lean`], with no test of the
    /// array's kind per level and the line number made once.
    lean: bool,
    /// The line size's shift of every level, when `lean`.
    line_shift: u32,
    /// Unit tests turn the shortcut off to check it against the full path.
    #[cfg(test)]
    no_memo: bool,
}

impl MemorySystem {
    pub fn new(cfg: &MemoryConfig, cores: usize, seed: u64) -> MemorySystem {
        let mut caches = Vec::new();
        let mut route = vec![Vec::new(); cores];
        for (i, c) in cfg.cache.iter().enumerate() {
            let sets = (c.size.0 / c.line as u64 / c.ways as u64) as usize;
            let mut make = |core: Option<u32>| {
                let made_of = (
                    sets,
                    c.ways as usize,
                    c.replacement,
                    seed ^ ((i as u64) << 32) ^ core.map_or(0xffff, u64::from),
                );
                caches.push(Cache {
                    array: Cache::array_of(made_of, false),
                    made_of,
                    line_shift: c.line.trailing_zeros(),
                    latency: c.latency,
                    stats: CacheStats {
                        name: c.name.clone(),
                        core,
                        ..Default::default()
                    },
                    blocks: false,
                });
                caches.len() - 1
            };
            if c.shared {
                let idx = make(None);
                for r in route.iter_mut() {
                    r.push(idx);
                }
            } else {
                for (core, r) in route.iter_mut().enumerate() {
                    r.push(make(Some(core as u32)));
                }
            }
        }
        let line_shift = caches.first().map_or(0, |c| c.line_shift);
        let lean = (caches.iter())
            .all(|c| matches!(c.array, Array::Lean(_)) && c.line_shift == line_shift);
        let host_far = |ci: &&usize| match &caches[**ci].array {
            Array::Lean(l) => l.host_bytes() > HOST_RESIDENT,
            Array::Any(_) => true,
        };
        let ports = (route.into_iter())
            .map(|route| Port {
                served: vec![0; 2 * (route.len() + 1)],
                far: route.iter().skip(1).filter(host_far).copied().collect(),
                route,
                last_line: u64::MAX,
                dram_pte_reads: 0,
            })
            .collect();
        MemorySystem {
            caches,
            ports,
            dram_latency: cfg.dram_latency,
            data_through_caches: cfg.data_through_caches,
            first_private: cfg.cache.first().is_some_and(|c| !c.shared),
            block_depth: None,
            lean,
            line_shift,
            #[cfg(test)]
            no_memo: false,
        }
    }

    /// Read the line holding `paddr` for `core`; returns the latency of the level that
    /// served it (a cache level's latency, or DRAM's).
    #[inline(always)]
    pub fn read(&mut self, core: usize, paddr: PhysAddr, is_pte: bool) -> u32 {
        self.read_from(core, paddr, is_pte).0
    }

    /// As [`MemorySystem::read`], also naming the level that served the read: its index
    /// in the core's route (nearest first; the route's length means DRAM, see
    /// [`MemorySystem::level_names`]). Inlined, so callers that drop the index pay nothing.
    #[inline(always)]
    pub fn read_from(&mut self, core: usize, paddr: PhysAddr, is_pte: bool) -> (u32, usize) {
        self.read_line(core, paddr, is_pte, is_pte)
    }

    /// A read of translation data that is not a PTE (a POM-TLB's set line): counted in
    /// the caches as a PTE read (`pte_*`: translation reads), not in
    /// [`MemorySystem::dram_pte_reads`] (PTE reads of walks only). Returns what
    /// [`MemorySystem::read_from`] does.
    #[inline(always)]
    pub fn read_translation(&mut self, core: usize, paddr: PhysAddr) -> (u32, usize) {
        self.read_line(core, paddr, true, false)
    }

    /// [`MemorySystem::read_from`], counting a read DRAM serves in `dram_pte_reads`
    /// only if `count_dram`.
    #[inline(always)]
    fn read_line(
        &mut self,
        core: usize,
        paddr: PhysAddr,
        is_pte: bool,
        count_dram: bool,
    ) -> (u32, usize) {
        // Only the common shape is inlined at each read: the general one is a call.
        match self.lean {
            true => self.read_in::<true>(core, paddr, is_pte, count_dram),
            false => self.read_general(core, paddr, is_pte, count_dram),
        }
    }

    /// [`MemorySystem::read_line`] where some level is not lean (another policy, more
    /// ways, TLB blocks): out of line, so that the lean reads stay small.
    #[inline(never)]
    fn read_general(
        &mut self,
        core: usize,
        paddr: PhysAddr,
        is_pte: bool,
        count_dram: bool,
    ) -> (u32, usize) {
        self.read_in::<false>(core, paddr, is_pte, count_dram)
    }

    /// [`MemorySystem::read_line`]; `LEAN`: every level is lean (`self.lean`).
    #[inline(always)]
    fn read_in<const LEAN: bool>(
        &mut self,
        core: usize,
        paddr: PhysAddr,
        is_pte: bool,
        count_dram: bool,
    ) -> (u32, usize) {
        debug_assert_eq!(LEAN, self.lean);
        let paddr = paddr.0;
        let kind = is_pte as usize;
        let port = &mut self.ports[core];
        let Some(&first) = port.route.first() else {
            port.dram_pte_reads += count_dram as u64;
            return (self.dram_latency, 0);
        };
        debug_assert!(first < self.caches.len());
        debug_assert_eq!(port.served.len(), 2 * (port.route.len() + 1));
        // SAFETY: routes hold indexes of caches (see `visit`).
        let c0 = unsafe { self.caches.get_unchecked_mut(first) };
        let line0 = paddr >> if LEAN { self.line_shift } else { c0.line_shift };
        let repeat = line0 == port.last_line;
        #[cfg(test)]
        let repeat = repeat && !self.no_memo;
        if repeat {
            // SAFETY: `served` has two counts per depth, DRAM's included (`new`).
            unsafe { *port.served.get_unchecked_mut(kind) += 1 };
            return (c0.latency, 0);
        }
        if self.first_private {
            port.last_line = line0;
        }
        let route = &port.route;
        let dram = self.dram_latency;
        // Whether a level holds TLB blocks is asked once per read, not once per level.
        let (latency, depth) = match (LEAN, self.block_depth) {
            (true, _) => Self::visit_lean(&mut self.caches, route, line0, dram),
            (false, None) => Self::visit::<false>(&mut self.caches, route, paddr, is_pte, dram),
            (false, Some(_)) => Self::visit::<true>(&mut self.caches, route, paddr, is_pte, dram),
        };
        // SAFETY: `depth` is at most the route's length (`visit*`), and `served` has
        // two counts per depth up to it (`new`).
        unsafe { *port.served.get_unchecked_mut(2 * depth + kind) += 1 };
        if depth == route.len() {
            port.dram_pte_reads += count_dram as u64;
        }
        (latency, depth)
    }

    /// The levels of `route` in turn until one holds `line`: its latency and depth, or
    /// DRAM's latency `dram` and the route's length if none does. Every level is lean
    /// and has the same line size (`self.lean`).
    #[inline(always)]
    fn visit_lean(caches: &mut [Cache], route: &[usize], line: u64, dram: u32) -> (u32, usize) {
        for (depth, &ci) in route.iter().enumerate() {
            debug_assert!(ci < caches.len());
            // SAFETY: as in `visit`.
            let c = unsafe { caches.get_unchecked_mut(ci) };
            let Array::Lean(l) = &mut c.array else {
                debug_assert!(false, "visit_lean on a level that is not lean");
                // SAFETY: `lean` is set only when every array is lean (`new`), and
                // cleared when one is made again (`hold_tlb_blocks`).
                unsafe { std::hint::unreachable_unchecked() }
            };
            // Each level that misses takes the line as the read passes (see `visit`).
            if l.access(line) {
                return (c.latency, depth);
            }
        }
        (dram, route.len())
    }

    /// The levels of `route` in turn until one holds `paddr`'s line: its latency and
    /// depth, or DRAM's latency `dram` and the route's length if none does. `BLOCKS`:
    /// some level may hold TLB blocks.
    #[inline(always)]
    fn visit<const BLOCKS: bool>(
        caches: &mut [Cache],
        route: &[usize],
        paddr: u64,
        is_pte: bool,
        dram: u32,
    ) -> (u32, usize) {
        // Each level that misses takes the line as the read passes (inclusive fill; the
        // levels are independent arrays, so filling on the way equals filling after).
        for (depth, &ci) in route.iter().enumerate() {
            debug_assert!(ci < caches.len());
            // SAFETY: `MemorySystem::new` builds every route of indexes of caches it has
            // just pushed, and nothing removes a cache or changes a route afterwards.
            // Unchecked: a read visits up to three levels per PTE and data read, and
            // the check was a compare and branch each (issue 21's walk path).
            let c = unsafe { caches.get_unchecked_mut(ci) };
            let line = paddr >> c.line_shift;
            let hit = match &mut c.array {
                Array::Lean(l) => l.access(line),
                Array::Any(_) if BLOCKS && c.blocks => c.access_beside_blocks(line, is_pte),
                Array::Any(a) => a.access((line & a.set_mask()) as usize, line),
            };
            if hit {
                return (c.latency, depth);
            }
        }
        (dram, route.len())
    }

    /// Each level instance's hits and misses of each kind that the ports' `served`
    /// counts hold, by cache index: `[pte_hits, pte_misses, data_hits, data_misses]`.
    fn served_counts(&self) -> Vec<[u64; 4]> {
        let mut n = vec![[0u64; 4]; self.caches.len()];
        for p in &self.ports {
            for kind in 0..2 {
                // Reads served below the depth (DRAM included) missed at it.
                let mut below = 0;
                for (depth, &ci) in p.route.iter().enumerate().rev() {
                    below += p.served[2 * (depth + 1) + kind];
                    let at = if kind == 1 { 0 } else { 2 };
                    n[ci][at] += p.served[2 * depth + kind];
                    n[ci][at + 1] += below;
                }
            }
        }
        n
    }

    /// Moves the ports' `served` counts into the levels' counters (before they restart).
    fn fold(&mut self) {
        let served = self.served_counts();
        for (c, n) in self.caches.iter_mut().zip(served) {
            c.stats.add_served(n);
        }
        for p in &mut self.ports {
            p.served.fill(0);
        }
    }

    /// Names of the levels a read from `core` visits, nearest first, then `"DRAM"`, and
    /// the line size of each cache level (DRAM: that of the last cache, or 64).
    pub fn level_names(&self, core: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self.ports[core]
            .route
            .iter()
            .map(|&ci| {
                let c = &self.caches[ci];
                (c.stats.name.clone(), 1u64 << c.line_shift)
            })
            .collect();
        let line = v.last().map_or(64, |l| l.1);
        v.push(("DRAM".into(), line));
        v
    }

    /// Hint that `core` will soon read the PTE at `pte` and then, if data goes through
    /// the caches, `data`: prefetch, on the host, the state of the sets those reads
    /// will probe in the levels too large to stay in the host's caches (`Port::far`;
    /// every level past the first where some level is not lean). Changes nothing the
    /// simulation can see.
    #[inline(always)]
    pub fn prefetch(&self, core: usize, pte: PhysAddr, data: PhysAddr) {
        let Some(port) = self.ports.get(core) else {
            return;
        };
        if !self.lean {
            return self.prefetch_general(port, pte, data);
        }
        for &ci in &port.far {
            debug_assert!(ci < self.caches.len());
            // SAFETY: `far` holds indexes of caches, as routes do (see `visit`).
            let c = unsafe { self.caches.get_unchecked(ci) };
            let Array::Lean(l) = &c.array else {
                debug_assert!(false, "a lean read on a level that is not lean");
                // SAFETY: as in `visit_lean`.
                unsafe { std::hint::unreachable_unchecked() }
            };
            l.prefetch(pte.0 >> self.line_shift);
            if self.data_through_caches {
                l.prefetch(data.0 >> self.line_shift);
            }
        }
    }

    /// [`MemorySystem::prefetch`] where some level is not lean: the sets of every level
    /// beyond the first.
    #[inline(never)]
    fn prefetch_general(&self, port: &Port, pte: PhysAddr, data: PhysAddr) {
        for &ci in port.route.iter().skip(1) {
            let c = &self.caches[ci];
            let (a, b) = (pte.0 >> c.line_shift, data.0 >> c.line_shift);
            match &c.array {
                Array::Lean(l) => {
                    l.prefetch(a);
                    if self.data_through_caches {
                        l.prefetch(b);
                    }
                }
                Array::Any(x) => {
                    x.prefetch((a & x.set_mask()) as usize);
                    if self.data_through_caches {
                        x.prefetch((b & x.set_mask()) as usize);
                    }
                }
            }
        }
    }

    /// Whether data accesses go through the caches.
    pub fn data_through_caches(&self) -> bool {
        self.data_through_caches
    }

    /// One core, no caches: every read costs `dram_latency` (for exact walk-cost tests).
    #[cfg(test)]
    pub(crate) fn dram_only(dram_latency: u32) -> MemorySystem {
        MemorySystem::new(
            &MemoryConfig {
                dram_latency,
                data_through_caches: false,
                cache: vec![],
            },
            1,
            0,
        )
    }

    /// A data access: goes through the caches only when configured to.
    #[inline(always)]
    pub fn data_access(&mut self, core: usize, paddr: PhysAddr) {
        self.data_access_at(core, || paddr)
    }

    /// [`MemorySystem::data_access`] of the address `paddr` makes, made only when data
    /// goes through the caches (the address is not computed on runs without).
    #[inline(always)]
    pub fn data_access_at(&mut self, core: usize, paddr: impl FnOnce() -> PhysAddr) {
        if self.data_through_caches {
            self.read(core, paddr(), false);
        }
    }

    pub fn stats(&self) -> Vec<CacheStats> {
        let served = self.served_counts();
        (self.caches.iter().zip(served))
            .map(|(c, n)| {
                let mut s = c.stats_now();
                s.add_served(n);
                s
            })
            .collect()
    }

    pub fn dram_pte_reads(&self, core: usize) -> u64 {
        self.ports[core].dram_pte_reads
    }

    /// Restart the counters of every shared instance.
    pub fn reset_shared_stats(&mut self) {
        self.fold();
        for c in &mut self.caches {
            if c.stats.core.is_none() {
                c.stats = CacheStats {
                    name: std::mem::take(&mut c.stats.name),
                    core: None,
                    tlb_blocks: c.stats.tlb_blocks.as_ref().map(|_| BlockStats::default()),
                    ..Default::default()
                };
            }
        }
    }

    /// Restart the counters of the instances `core` uses privately (shared ones too
    /// when `shared`).
    pub fn reset_stats(&mut self, core: usize, shared: bool) {
        self.fold();
        let port = &mut self.ports[core];
        port.dram_pte_reads = 0;
        for &ci in &port.route {
            let c = &mut self.caches[ci];
            if c.stats.core.is_some() || shared {
                c.stats = CacheStats {
                    name: std::mem::take(&mut c.stats.name),
                    core: c.stats.core,
                    tlb_blocks: c.stats.tlb_blocks.as_ref().map(|_| BlockStats::default()),
                    ..Default::default()
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::ByteSize;
    use crate::assoc::Replacement;
    use crate::config::CacheConfig;

    fn two_levels() -> MemoryConfig {
        let c = |name: &str, size, ways, latency, shared| CacheConfig {
            name: name.into(),
            size: ByteSize(size),
            ways,
            line: 64,
            latency,
            replacement: Replacement::Lru,
            shared,
        };
        MemoryConfig {
            dram_latency: 200,
            data_through_caches: true,
            cache: vec![c("l1", 4 * 64, 2, 4, false), c("l3", 64 * 64, 4, 40, true)],
        }
    }

    #[test]
    fn latency_is_that_of_the_level_that_holds_the_line() {
        let mut m = MemorySystem::new(&two_levels(), 2, 0);
        assert_eq!(m.read(0, PhysAddr(0x1000), true), 200);
        assert_eq!(m.read(0, PhysAddr(0x1008), true), 4); // same line
        assert_eq!(m.read(1, PhysAddr(0x1000), true), 40); // other core: private L1 cold, shared L3 warm
        assert_eq!(m.read(1, PhysAddr(0x1000), true), 4);
        // Three more lines mapping to L1 set 0 (2 sets of 2 ways) push 0x1000 out of core 0's L1.
        for a in [0x2000, 0x3000, 0x4000] {
            m.read(0, PhysAddr(a), false);
        }
        assert_eq!(m.read(0, PhysAddr(0x1000), true), 40);
        let s = m.stats();
        assert_eq!(
            (s[0].pte_hits, s[0].pte_misses, s[0].data_misses),
            (1, 2, 3)
        );
        // Four reads went to DRAM, but only the first was a PTE read.
        assert_eq!(m.dram_pte_reads(0), 1);
    }

    #[test]
    fn repeated_line_shortcut_is_exact() {
        use rand_core::{Rng, SeedableRng};
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(4);
        for repl in [
            Replacement::Lru,
            Replacement::Plru,
            Replacement::Fifo,
            Replacement::Random,
        ] {
            let mut cfg = two_levels();
            cfg.cache.truncate(1);
            cfg.cache[0].replacement = repl;
            let mut m = MemorySystem::new(&cfg, 1, 0);
            // The same cache built directly, probed without the shortcut.
            // Seed of core 0's private level 0 built from seed 0.
            let seed = 0;
            let mut a = SetAssoc::new(2, 2, repl, seed);
            for i in 0..5000 {
                let line = r.next_u64() % 9;
                for _ in 0..1 + r.next_u64() % 3 {
                    let lat = m.read(0, PhysAddr(line * 64 + 8), i % 2 == 0);
                    let set = (line & 1) as usize;
                    let hit = a.lookup(set, line).is_some();
                    if !hit {
                        a.insert(set, line, 0);
                    }
                    assert_eq!(lat, if hit { 4 } else { 200 }, "{repl:?} access {i}");
                }
            }
        }
    }

    #[test]
    fn line_shortcut_matches_the_full_path_with_cores_and_shared_levels() {
        use rand_core::{Rng, SeedableRng};
        for first_shared in [false, true] {
            let mut cfg = two_levels();
            cfg.cache[0].shared = first_shared;
            cfg.cache[0].replacement = Replacement::Plru;
            let mut with = MemorySystem::new(&cfg, 3, 1);
            let mut without = MemorySystem::new(&cfg, 3, 1);
            without.no_memo = true;
            let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(8);
            let (mut core, mut addr) = (0usize, 0u64);
            for i in 0..30000 {
                let x = r.next_u64();
                if x % 3 == 0 {
                    core = (x >> 8) as usize % 3;
                    addr = ((x >> 16) % 24) * 64 + (x >> 50) % 64;
                }
                let pte = x % 5 == 0;
                assert_eq!(
                    with.read(core, PhysAddr(addr), pte),
                    without.read(core, PhysAddr(addr), pte),
                    "shared {first_shared} access {i}"
                );
            }
            assert_eq!(with.stats(), without.stats());
        }
    }

    /// The counters derived from where each read was served equal those of a model that
    /// counts a hit or miss at every level it visits (per instance LRU lists, reads
    /// filling every level they miss), on three levels (two private, one shared) and
    /// three cores, through restarts of private and shared counters at random points.
    #[test]
    fn derived_counters_match_counting_at_every_level() {
        derived_counters_against_the_model(three_levels(), true);
    }

    /// The same on the general route: the private L2 of 32 ways (more than a lean set
    /// holds), still true LRU, so the model is unchanged.
    #[test]
    fn derived_counters_match_counting_at_every_level_on_the_general_route() {
        let mut cfg = three_levels();
        cfg.cache[1].ways = 32;
        cfg.cache[1].size = ByteSize(32 * 64);
        derived_counters_against_the_model(cfg, false);
    }

    /// `two_levels` with a private L2 of 8 lines between them.
    fn three_levels() -> MemoryConfig {
        let mut cfg = two_levels();
        cfg.cache.insert(1, cfg.cache[0].clone());
        cfg.cache[1].name = "l2".into();
        cfg.cache[1].size = ByteSize(8 * 64);
        cfg
    }

    fn derived_counters_against_the_model(cfg: MemoryConfig, lean: bool) {
        use rand_core::{Rng, SeedableRng};
        let cores = 3;
        let mut m = MemorySystem::new(&cfg, cores, 0);
        assert_eq!(m.lean, lean);
        // The model: instances 0..3 core 0's l1 and l2, 3 more per core... built the
        // way `new` numbers them (level by level, private ones per core).
        let geo: Vec<(usize, usize)> = (cfg.cache.iter())
            .map(|c| ((c.size.0 / 64 / c.ways as u64) as usize, c.ways as usize))
            .collect();
        let mut lists: Vec<Vec<Vec<u64>>> = Vec::new();
        let mut owner: Vec<(usize, Option<usize>)> = Vec::new(); // (level, core)
        let mut route = vec![Vec::new(); cores];
        for (lv, c) in cfg.cache.iter().enumerate() {
            let who: Vec<Option<usize>> = match c.shared {
                true => vec![None],
                false => (0..cores).map(Some).collect(),
            };
            for w in who {
                lists.push(vec![Vec::new(); geo[lv].0]);
                owner.push((lv, w));
                for (k, r) in route.iter_mut().enumerate() {
                    if w.is_none_or(|w| w == k) {
                        r.push(lists.len() - 1);
                    }
                }
            }
        }
        let mut counts = vec![[0u64; 4]; lists.len()];
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(21);
        for i in 0..60_000 {
            let x = r.next_u64();
            if x % 997 == 0 {
                let (core, shared) = ((x >> 10) as usize % cores, x & (1 << 20) != 0);
                m.reset_stats(core, shared);
                for &ci in &route[core] {
                    if owner[ci].1.is_some() || shared {
                        counts[ci] = [0; 4];
                    }
                }
                continue;
            }
            if x % 1499 == 0 {
                m.reset_shared_stats();
                for (ci, o) in owner.iter().enumerate() {
                    if o.1.is_none() {
                        counts[ci] = [0; 4];
                    }
                }
                continue;
            }
            let core = (x >> 8) as usize % cores;
            let line = (x >> 16) % 200;
            let pte = (x >> 40) % 3 == 0;
            let mut expect = cfg.dram_latency;
            for (depth, &ci) in route[core].iter().enumerate() {
                let (sets, ways) = geo[owner[ci].0];
                let l = &mut lists[ci][(line % sets as u64) as usize];
                let hit = lines::lru_read(l, line, ways);
                counts[ci][2 * !pte as usize + !hit as usize] += 1;
                if hit {
                    expect = cfg.cache[depth].latency;
                    break;
                }
            }
            assert_eq!(m.read(core, PhysAddr(line * 64), pte), expect, "read {i}");
            if i % 5000 == 0 || i == 59_999 {
                let got: Vec<[u64; 4]> = (m.stats().iter())
                    .map(|s| [s.pte_hits, s.pte_misses, s.data_hits, s.data_misses])
                    .collect();
                assert_eq!(got, counts, "after read {i}");
            }
        }
    }
}
