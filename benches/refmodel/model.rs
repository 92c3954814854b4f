//! A plain exact model of the Skylake-like walk path (issue 21), the reference every
//! walk-path speed figure of mmusim is a ratio against.
//!
//! Owns everything it simulates: a true-LRU L1 DTLB (64 entries, 4 ways, 4K pages) and
//! STLB (1536 entries, 12 ways), the three paging-structure caches of the preset
//! (`configs/skylake.toml`: PML4 2 x 2 ways, PDPT 4 x 4, PD 32 x 4), a 4-level radix page
//! table whose table and data frames sit at shuffled physical frames of a 16 GiB memory
//! (every page of the footprint mapped up front), and the L1D / L2 / L3 caches (32 KiB
//! 8-way, 256 KiB 4-way, 8 MiB 16-way; 64-byte lines) through which every PTE read and,
//! when `data_caches` is on, the data access go, filling each level that missed.
//! In: virtual addresses, one [`Model::access`] each. Out: [`Stats`], whose cycle sums
//! (the preset's latencies: STLB 9, walk caches 1, L1D 4, L2 12, L3 44, DRAM 250, base
//! CPI 1 x 3 instructions, the L1 TLB probe hidden) make the work observable, so the
//! compiler cannot drop it.
//!
//! Written to be obviously right rather than fast: LRU by a timestamp per way, a scan of
//! the set on every lookup, no batching, no SIMD. It is not a copy of mmusim's code.

/// A set-associative array with true LRU: a timestamp per way, the oldest is the victim.
/// `V` is what an entry holds: a frame or a table for TLBs and walk caches, nothing
/// (`()`) for data caches.
pub struct Lru<V> {
    set_mask: u64,
    ways: usize,
    /// Set s is `slots[s * ways..(s + 1) * ways]`.
    slots: Vec<Way<V>>,
    clock: u64,
}

#[derive(Clone, Copy)]
struct Way<V> {
    key: u64,
    value: V,
    /// When the way was last used; 0 = empty.
    stamp: u64,
}

impl<V: Copy + Default + std::fmt::Debug> Lru<V> {
    pub fn new(entries: usize, ways: usize) -> Lru<V> {
        assert!(entries % ways == 0 && (entries / ways).is_power_of_two());
        // No key is u64::MAX (keys are page numbers, line numbers, table prefixes).
        let empty = Way {
            key: u64::MAX,
            value: V::default(),
            stamp: 0,
        };
        Lru {
            set_mask: (entries / ways) as u64 - 1,
            ways,
            slots: vec![empty; entries],
            clock: 0,
        }
    }

    /// Look `key` up in its set (set = key mod sets): `Ok(value)` on a hit, which makes
    /// it the most recent; on a miss `Err(slot)`, the least recently used way (empty
    /// ways have stamp 0, the oldest), for [`Lru::fill`]. One pass over the ways.
    pub fn lookup(&mut self, key: u64) -> Result<V, usize> {
        self.clock += 1;
        let first = (key & self.set_mask) as usize * self.ways;
        let mut victim = first;
        let mut oldest = u64::MAX;
        for (i, way) in self.slots[first..first + self.ways].iter_mut().enumerate() {
            if way.key == key {
                way.stamp = self.clock;
                return Ok(way.value);
            }
            if way.stamp < oldest {
                (victim, oldest) = (first + i, way.stamp);
            }
        }
        Err(victim)
    }

    /// Put `key` in `slot`, the victim a lookup of `key` returned (nothing else may
    /// have touched the set since).
    pub fn fill(&mut self, slot: usize, key: u64, value: V) {
        self.clock += 1;
        self.slots[slot] = Way {
            key,
            value,
            stamp: self.clock,
        };
    }

    /// Insert `key`, which must be absent, in place of its set's least recently used way.
    pub fn insert(&mut self, key: u64, value: V) {
        let slot = self.lookup(key).expect_err("inserted twice");
        self.fill(slot, key, value);
    }

    /// A cache access: true on a hit; a miss fills the line.
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

/// 4-level radix page table: `nodes[n][i]` is 1 + the child node (levels 4-2) or 1 +
/// the data frame (level 1), 0 where nothing is mapped; `frame[n]` is node n's frame.
pub struct PageTable {
    nodes: Vec<[u64; 512]>,
    frame: Vec<u64>,
}

/// Hands out distinct physical frames of a 16 GiB memory in a seeded random order.
struct Frames {
    used: Vec<bool>,
    rng: rand_xoshiro::Xoshiro256PlusPlus,
}

impl Frames {
    fn take(&mut self) -> u64 {
        loop {
            let f = below(
                rand_core::Rng::next_u64(&mut self.rng),
                self.used.len() as u64,
            );
            if !self.used[f as usize] {
                self.used[f as usize] = true;
                return f;
            }
        }
    }
}

/// Index of `va`'s entry in its level-`level` table (level 1 = the PTEs).
fn index(va: u64, level: u32) -> usize {
    ((va >> (3 + 9 * level)) & 511) as usize
}

impl PageTable {
    /// Map every 4K page of `[base, base + bytes)`, tables and data at shuffled frames.
    pub fn map(base: u64, bytes: u64, seed: u64) -> PageTable {
        let mut frames = Frames {
            used: vec![false; (16u64 << 30 >> 12) as usize],
            rng: rand_core::SeedableRng::seed_from_u64(seed),
        };
        let mut pt = PageTable {
            nodes: vec![[0; 512]],
            frame: vec![frames.take()],
        };
        for va in (base..base + bytes).step_by(4096) {
            let mut node = 0;
            for level in (2..=4).rev() {
                let i = index(va, level);
                if pt.nodes[node][i] == 0 {
                    pt.nodes.push([0; 512]);
                    pt.frame.push(frames.take());
                    pt.nodes[node][i] = pt.nodes.len() as u64;
                }
                node = pt.nodes[node][i] as usize - 1;
            }
            pt.nodes[node][index(va, 1)] = frames.take() + 1;
        }
        pt
    }

    /// Frames of the tables, root first (tests/integration/refmodel.rs).
    #[allow(dead_code)]
    pub fn table_frames(&self) -> &[u64] {
        &self.frame
    }

    /// The tables as they are: `nodes` and `frame` (`tuned.rs` builds its own from them).
    #[allow(dead_code)]
    pub fn raw(&self) -> (&[[u64; 512]], &[u64]) {
        (&self.nodes, &self.frame)
    }

    /// The data frame of `va`, by a walk that touches no cache (tests).
    #[allow(dead_code)]
    pub fn translate(&self, va: u64) -> Option<u64> {
        let mut node = 0;
        for level in (1..=4).rev() {
            match self.nodes[node][index(va, level)] {
                0 => return None,
                e if level == 1 => return Some(e - 1),
                e => node = e as usize - 1,
            }
        }
        None
    }
}

/// A uniform integer in `[0, n)` (Lemire's multiply-shift).
pub fn below(x: u64, n: u64) -> u64 {
    ((x as u128 * n as u128) >> 64) as u64
}

/// Latencies of `configs/skylake.toml`, in cycles.
pub const STLB_LATENCY: u64 = 9;
pub const PSC_LATENCY: u64 = 1;
pub const CACHE_LATENCY: [u64; 3] = [4, 12, 44];
pub const DRAM_LATENCY: u64 = 250;
pub const BASE_CYCLES: u64 = 3; // base_cpi 1 x instrs_per_access 3 (uniform-64g.toml)

/// What the model counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub accesses: u64,
    pub l1_misses: u64,
    /// STLB misses: each one walks.
    pub walks: u64,
    /// PTE reads by level, `pte_reads[0]` = level 1 (the PTE), `[3]` = PML4.
    pub pte_reads: [u64; 4],
    /// Walk-cache hits, `[0]` = PD, `[1]` = PDPT, `[2]` = PML4.
    pub psc_hits: [u64; 3],
    /// Reads (PTE and data) served by L1D, L2, L3, DRAM.
    pub served: [u64; 4],
    /// Base cycles plus translation cycles (TLB, walk caches, PTE reads), as mmusim.
    pub cycles: u64,
    /// Latency of the data reads (mmusim does not charge it; summed so it is not dropped).
    pub data_cycles: u64,
}

pub struct Model {
    l1: Lru<u64>,
    stlb: Lru<u64>,
    /// `psc[0]` PD (level 2), `psc[1]` PDPT (level 3), `psc[2]` PML4 (level 4).
    psc: [Lru<u64>; 3],
    caches: [Lru<()>; 3],
    pt: PageTable,
    data_caches: bool,
    pub stats: Stats,
}

impl Model {
    pub fn new(pt: PageTable, data_caches: bool) -> Model {
        Model {
            l1: Lru::new(64, 4),
            stlb: Lru::new(1536, 12),
            psc: [Lru::new(32, 4), Lru::new(4, 4), Lru::new(2, 2)],
            caches: [
                Lru::new(32 << 10 >> 6, 8),
                Lru::new(256 << 10 >> 6, 4),
                Lru::new(8 << 20 >> 6, 16),
            ],
            pt,
            data_caches,
            stats: Stats::default(),
        }
    }

    /// Read the line of `paddr` through L1D, L2, L3 (each level that misses takes the
    /// line); the latency of the level that held it, or DRAM's.
    fn read(&mut self, paddr: u64) -> u64 {
        for (level, cache) in self.caches.iter_mut().enumerate() {
            if cache.access(paddr >> 6) {
                self.stats.served[level] += 1;
                return CACHE_LATENCY[level];
            }
        }
        self.stats.served[3] += 1;
        DRAM_LATENCY
    }

    /// Translate and (with `data_caches`) read the 8-byte word at `va`; its physical
    /// address.
    pub fn access(&mut self, va: u64) -> u64 {
        let vpn = va >> 12;
        self.stats.accesses += 1;
        self.stats.cycles += BASE_CYCLES;
        let frame = match self.l1.lookup(vpn) {
            Ok(f) => f,
            Err(l1_slot) => {
                self.stats.l1_misses += 1;
                self.stats.cycles += STLB_LATENCY;
                // The walk touches neither TLB: the victims found now are still theirs.
                let f = match self.stlb.lookup(vpn) {
                    Ok(f) => f,
                    Err(stlb_slot) => {
                        let f = self.walk(va);
                        self.stlb.fill(stlb_slot, vpn, f);
                        f
                    }
                };
                self.l1.fill(l1_slot, vpn, f);
                f
            }
        };
        let paddr = frame << 12 | (va & 4095);
        if self.data_caches {
            self.stats.data_cycles += self.read(paddr);
        }
        paddr
    }

    /// A page walk: all three walk caches probed (in parallel: one latency), the deepest
    /// hit gives the table to start from; then one PTE read per level left, each filling
    /// the walk cache of its level. Panics on an unmapped page (the footprint is mapped).
    fn walk(&mut self, va: u64) -> u64 {
        self.stats.walks += 1;
        self.stats.cycles += PSC_LATENCY;
        let mut start = None;
        for (i, psc) in self.psc.iter_mut().enumerate() {
            let psc_level = i as u32 + 2;
            if let Ok(n) = psc.lookup(va >> (3 + 9 * psc_level)) {
                self.stats.psc_hits[i] += 1;
                // Deepest first: the first hit skips the most.
                start = start.or(Some((psc_level - 1, n as usize)));
            }
        }
        let (mut level, mut node) = start.unwrap_or((4, 0));
        loop {
            let i = index(va, level);
            let pte_addr = self.pt.frame[node] << 12 | (i as u64) << 3;
            self.stats.cycles += self.read(pte_addr);
            self.stats.pte_reads[level as usize - 1] += 1;
            let next = self.pt.nodes[node][i];
            assert!(next != 0, "{va:#x} is not mapped");
            if level == 1 {
                return next - 1;
            }
            node = next as usize - 1;
            self.psc[level as usize - 2].insert(va >> (3 + 9 * level), node as u64);
            level -= 1;
        }
    }
}
