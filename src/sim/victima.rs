//! Victima (Kanellopoulos, Nam, Bostanci, Bera, Sadrosadati, Kumar, Bartolini and
//! Mutlu, MICRO 2023): TLB blocks in the L2 cache, probed after a last-level TLB miss.
//!
//! Owns the miss path's side of the design: the probe of the L2 for the missing page's
//! block (each page size), the insertions after a walk and after a last-level TLB
//! eviction (with its background walk), the PTW-cost predictor, and applying the TLBs'
//! invalidations to the blocks. The blocks themselves live in the cache level
//! (`crate::memory`, `blocks.rs`). In: the core's TLBs (their invalidations and
//! evictions, `crate::tlb::Dropped`), the page table, the memory system. Out: a
//! translation and its cycles when a block held it, insertions into the L2, and the
//! counters of [`VictimaCounters`]. Called only when `[victima]` is on (a per-run flag
//! in `Timing`); native machines only (`[virt]` is refused by the config).
//!
//! Timing of a block hit: the paper probes the L2 in parallel with the page walk that
//! starts at the L2 TLB miss, and a hit aborts the walk (section 5, Fig. 17; read
//! through a summary). The artifact charges an L2 TLB miss served by a block the L1 TLB
//! latency plus the L2's data access time (`CMU-SAFARI/Victima@bdcbda5:sniper/common/
//! core/memory_subsystem/parametric_dram_directory_msi/memory_manager.cc` lines 238,
//! 1106-1126). Here the probes of the TLB levels (L1 and STLB) are charged as for any
//! miss, and the block's read costs the L2 level's latency, counted as PTE time
//! (`translation_cycles.pte`: the block holds PTEs): L1 + STLB + L2 data, one STLB probe
//! more than the artifact, which does not charge the L2 TLB probe the miss needed. No
//! walker is taken (the aborted walk frees its walker at once); a miss adds nothing (the
//! probe ran beside the walk).

use super::core::Core;
use super::Shared;
use crate::addr::{PageSize, VirtAddr};
use crate::config::{VictimaConfig, VictimaPredictor};
use crate::memory::tlb_block_key;
use crate::pagetable::{PageTable, Translation, WalkStep};
use crate::tlb::{Dropped, Entry};
use serde::Serialize;

/// Pages in a TLB block: a 64-byte PTE line of 8-byte PTEs (the paper's Fig. 13; the
/// artifact's `evict_addr >> (page_size - 3)`, `…/tlb.cc` lines 497-498).
pub const BLOCK_PAGES: u64 = 8;

/// Predictor counters kept per core: a direct-mapped table indexed by a hash of the
/// page. The paper keeps them in unused bits of each page's PTE, so every page has its
/// own and every core sees them; here pages whose hash collides share a counter pair,
/// and each core counts its own walks (an approximation; 64 Ki entries of one byte).
const PREDICTOR_ENTRIES: usize = 1 << 16;
/// Saturation of the walk-frequency (3-bit) and DRAM-access (4-bit) counters: the
/// artifact's decision tree normalises them by 8 and 16 (`CMU-SAFARI/Victima@bdcbda5:
/// ptw_cp/predict.py` lines 13-21).
const FREQ_MAX: u8 = 7;
const COST_MAX: u8 = 15;

/// A core's Victima counters (reset with the core's at the end of warm-up).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VictimaCounters {
    /// Last-level TLB misses that probed the L2 for a block.
    pub probes: u64,
    /// Probes a block answered: walks avoided.
    pub block_hits: u64,
    /// Their cycles (the L2's latency each; in `translation_cycles.pte`).
    pub block_hit_cycles: u64,
    /// Probes that found the block but the page not present in it (the walk went on).
    pub not_present_in_block: u64,
    /// Blocks inserted after a walk, and after a last-level TLB eviction.
    pub inserted_on_miss: u64,
    pub inserted_on_eviction: u64,
    /// Insertions the PTW-cost predictor declined (page predicted cheap to walk).
    pub predicted_cheap: u64,
    /// Background walks for evicted entries, and their PTE reads (through the caches,
    /// off the critical path: no cycles charged).
    pub background_walks: u64,
    pub background_reads: u64,
}

impl VictimaCounters {
    pub fn merge(&mut self, o: &VictimaCounters) {
        self.probes += o.probes;
        self.block_hits += o.block_hits;
        self.block_hit_cycles += o.block_hit_cycles;
        self.not_present_in_block += o.not_present_in_block;
        self.inserted_on_miss += o.inserted_on_miss;
        self.inserted_on_eviction += o.inserted_on_eviction;
        self.predicted_cheap += o.predicted_cheap;
        self.background_walks += o.background_walks;
        self.background_reads += o.background_reads;
    }
}

/// A core's Victima state.
pub(super) struct State {
    insert_on_miss: bool,
    insert_on_eviction: bool,
    always: bool,
    /// Per hashed page: walks (3-bit) and DRAM accesses (4-bit), empty with `always`.
    freq: Vec<u8>,
    cost: Vec<u8>,
    /// Buffers reused across calls (no allocation per access).
    steps: Vec<WalkStep>,
    dropped: Vec<Dropped>,
}

impl State {
    pub(super) fn new(cfg: &VictimaConfig) -> State {
        let always = cfg.predictor == VictimaPredictor::Always;
        let n = if always { 0 } else { PREDICTOR_ENTRIES };
        State {
            insert_on_miss: cfg.insert_on_miss,
            insert_on_eviction: cfg.insert_on_eviction,
            always,
            freq: vec![0; n],
            cost: vec![0; n],
            steps: Vec::new(),
            dropped: Vec::new(),
        }
    }

    fn slot(asid: u16, size: PageSize, vpn: u64) -> usize {
        let k = vpn ^ (asid as u64) << 48 ^ (size.index() as u64) << 62;
        (crate::util::splitmix64(k) as usize) & (PREDICTOR_ENTRIES - 1)
    }

    /// A walk of the page happened, `dram` of its PTE reads served by DRAM.
    fn count_walk(&mut self, asid: u16, size: PageSize, vpn: u64, dram: u64) {
        if self.always {
            return;
        }
        let i = Self::slot(asid, size, vpn);
        self.freq[i] = (self.freq[i] + 1).min(FREQ_MAX);
        self.cost[i] = (self.cost[i] as u64 + dram).min(COST_MAX as u64) as u8;
    }

    /// Whether the page is predicted costly to walk. The PTW-cost predictor of the
    /// paper (section 5) compares two per-page counters, the walks of the page and the
    /// DRAM accesses they made; the rule here is the artifact's reference comparator
    /// (`ptw_cp/predict.py` lines 13-21): DRAM accesses >= 1 and walks >= 2, or both
    /// exactly 1. The paper's own box (walks in [1, 12] x cost in [1, 7] per a summary)
    /// disagrees with its 3-bit frequency counter; not checked against the PDF.
    fn costly(&self, asid: u16, size: PageSize, vpn: u64) -> bool {
        if self.always {
            return true;
        }
        let i = Self::slot(asid, size, vpn);
        let (walks, dram) = (self.freq[i], self.cost[i]);
        (dram >= 1 && walks >= 2) || (dram == 1 && walks == 1)
    }
}

/// Apply the TLBs' invalidations since the last call to the core's blocks: a block goes
/// when any of its pages' translations left the TLBs (the paper invalidates TLB blocks
/// with TLB shootdowns). Runs before every probe and insertion and at each access's
/// start, so no invalidated block is found or competes for a way for long.
#[inline]
pub(super) fn drain(core: &mut Core, sh: &mut Shared) {
    let Some(st) = core.victima.as_deref_mut() else {
        return;
    };
    core.tlbs.take_dropped(&mut st.dropped);
    for d in st.dropped.iter() {
        match *d {
            Dropped::Range { asid, start, end } if end > start => {
                for size in PageSize::ALL {
                    let span = size.shift() + 3;
                    let (g0, g1) = (start >> span, (end - 1) >> span);
                    if g1 - g0 > 1 << 14 {
                        // Wider than any L2 here: drop the address space's blocks.
                        sh.mem.drop_blocks_of(core.id, Some(asid));
                        break;
                    }
                    for g in g0..=g1 {
                        sh.mem
                            .drop_block(core.id, tlb_block_key(asid, size.index(), g << 3));
                    }
                }
            }
            Dropped::Range { .. } => {}
            Dropped::Space(a) => sh.mem.drop_blocks_of(core.id, Some(a)),
            Dropped::All => sh.mem.drop_blocks_of(core.id, None),
        }
    }
}

/// After a last-level TLB miss: look for the page's block in the L2, for every page
/// size. A block that holds the page present gives the translation (read from the page
/// table, which the block mirrors: every change to a present page invalidates it) and
/// the L2's latency.
#[inline(never)]
pub(super) fn probe<PT: PageTable>(
    core: &mut Core,
    va: VirtAddr,
    pt: &PT,
    sh: &mut Shared,
) -> Option<(Translation, u64)> {
    drain(core, sh);
    core.counters.victima.probes += 1;
    for size in PageSize::ALL {
        let vpn = va.0 >> size.shift();
        let Some(present) = sh
            .mem
            .peek_block(core.id, tlb_block_key(core.asid, size.index(), vpn))
        else {
            continue;
        };
        if present >> (vpn % BLOCK_PAGES) & 1 == 0 {
            // The PTE the block holds was not present when it was made: a walk (and a
            // fault) will find the page.
            core.counters.victima.not_present_in_block += 1;
            continue;
        }
        let tr = pt.translate(core.asid, va);
        debug_assert_eq!(
            tr.map(|t| t.size),
            Some(size),
            "stale TLB block for {va:#x} on core {}",
            core.id
        );
        let tr = tr.filter(|t| t.size == size)?;
        let cycles = sh.mem.block_latency(core.id) as u64;
        let c = &mut core.counters.victima;
        c.block_hits += 1;
        c.block_hit_cycles += cycles;
        return Some((tr, cycles));
    }
    None
}

/// Which of the 8 pages of `vpn`'s block are mapped at `size` now.
fn present_mask<PT: PageTable>(pt: &PT, asid: u16, size: PageSize, vpn: u64) -> u8 {
    let first = vpn & !(BLOCK_PAGES - 1);
    (0..BLOCK_PAGES).fold(0u8, |m, i| {
        let v = VirtAddr((first + i) << size.shift());
        let here = pt.translate(asid, v).is_some_and(|t| t.size == size);
        m | (here as u8) << i
    })
}

/// After the walk of a last-level TLB miss (`dram`: its PTE reads DRAM served): count it
/// for the predictor, refresh the page's block if the L2 holds it, else insert it if
/// the page is predicted costly (the paper, Fig. 14a: the block holding the fetched leaf PTEs
/// becomes a TLB block; here the block is a new way beside the PTE line, as in the
/// artifact, `…/tlb.cc` lines 258-277).
#[inline(never)]
pub(super) fn after_walk<PT: PageTable>(
    core: &mut Core,
    va: VirtAddr,
    tr: Translation,
    pt: &PT,
    sh: &mut Shared,
    dram: u64,
) {
    let vpn = va.0 >> tr.size.shift();
    let Some(st) = core.victima.as_deref_mut() else {
        return;
    };
    st.count_walk(core.asid, tr.size, vpn, dram);
    let (on_miss, costly) = (st.insert_on_miss, st.costly(core.asid, tr.size, vpn));
    drain(core, sh);
    let key = tlb_block_key(core.asid, tr.size.index(), vpn);
    if sh.mem.holds_block(core.id, key) {
        // Found without the page (made before its fault): the walk read the line
        // again, so the block takes it (a refresh, not an insertion).
        let present = present_mask(pt, core.asid, tr.size, vpn);
        sh.mem.refresh_block(core.id, key, present);
        return;
    }
    if !on_miss {
        return;
    }
    if !costly {
        core.counters.victima.predicted_cheap += 1;
        return;
    }
    let present = present_mask(pt, core.asid, tr.size, vpn);
    if sh.mem.insert_block(core.id, key, present) {
        core.counters.victima.inserted_on_miss += 1;
    }
}

/// After a TLB fill: an entry the fill evicted from the last TLB level gets its block
/// into the L2 if predicted costly and not there already, after a background walk whose
/// reads go through the caches (the paper, Fig. 14b; the artifact inserts on every
/// last-level eviction, `…/tlb.cc` lines 494-541). The walk starts at the root (no walk
/// cache is consulted or taught) and charges the core nothing: it is off the critical
/// path, and only its reads' effect on the caches is modelled.
#[inline]
pub(super) fn after_fill<PT: PageTable>(core: &mut Core, pt: &PT, sh: &mut Shared) {
    let Some(e) = core.tlbs.take_evicted() else {
        return;
    };
    evicted(core, e, pt, sh);
}

#[inline(never)]
fn evicted<PT: PageTable>(core: &mut Core, e: Entry, pt: &PT, sh: &mut Shared) {
    let Some(st) = core.victima.as_deref_mut() else {
        return;
    };
    if !st.insert_on_eviction {
        return;
    }
    if !st.costly(e.asid, e.size, e.vpn) {
        core.counters.victima.predicted_cheap += 1;
        return;
    }
    drain(core, sh);
    let key = tlb_block_key(e.asid, e.size.index(), e.vpn);
    if sh.mem.holds_block(core.id, key) {
        return;
    }
    let Some(st) = core.victima.as_deref_mut() else {
        return;
    };
    st.steps.clear();
    let va = VirtAddr(e.vpn << e.size.shift());
    if pt.walk(e.asid, va, None, &mut st.steps).is_none() {
        return;
    }
    for s in &st.steps {
        sh.mem.read(core.id, s.pte_addr, true);
    }
    let c = &mut core.counters.victima;
    c.background_walks += 1;
    c.background_reads += st.steps.len() as u64;
    let present = present_mask(pt, e.asid, e.size, e.vpn);
    if sh.mem.insert_block(core.id, key, present) {
        core.counters.victima.inserted_on_eviction += 1;
    }
}

/// Blocks the core's L2 holds now, by page size (4K, 2M, 1G); the report's reach is
/// blocks x [`BLOCK_PAGES`] x page size.
pub(super) fn blocks_held(sh: &Shared, core: usize) -> [u64; 3] {
    sh.mem.blocks_held_by_size(core)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptw_cp() -> State {
        State::new(&VictimaConfig {
            predictor: VictimaPredictor::PtwCp,
            ..Default::default()
        })
    }

    /// The artifact's comparator (`ptw_cp/predict.py`): costly iff DRAM accesses >= 1
    /// and walks >= 2, or both exactly 1. Worked: an unwalked page (0, 0) is cheap; one
    /// walk with one DRAM read (1, 1) costly; one walk with none (1, 0) cheap; one walk
    /// with two DRAM reads (1, 2) cheap (neither arm); a second walk without DRAM makes
    /// it (2, 2): costly. Counters saturate at 7 walks and 15 DRAM accesses.
    #[test]
    fn ptw_cost_predictor_follows_the_artifact_rule() {
        let s4 = PageSize::Size4K;
        let mut st = ptw_cp();
        assert!(!st.costly(1, s4, 10));
        st.count_walk(1, s4, 10, 1);
        assert!(st.costly(1, s4, 10));
        st.count_walk(1, s4, 20, 0);
        assert!(!st.costly(1, s4, 20));
        st.count_walk(1, s4, 30, 2);
        assert!(!st.costly(1, s4, 30));
        st.count_walk(1, s4, 30, 0);
        assert!(st.costly(1, s4, 30));
        for _ in 0..20 {
            st.count_walk(1, s4, 40, 3);
        }
        let i = State::slot(1, s4, 40);
        assert_eq!((st.freq[i], st.cost[i]), (FREQ_MAX, COST_MAX));
        // `always` predicts costly without counting.
        let mut a = State::new(&VictimaConfig {
            predictor: VictimaPredictor::Always,
            ..Default::default()
        });
        a.count_walk(1, s4, 10, 0);
        assert!(a.costly(1, s4, 10));
        assert!(a.freq.is_empty());
    }
}
