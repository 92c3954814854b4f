//! Step-by-step recording of one translation, for the teaching view (`mmusim explain`).
//!
//! The translation path (`sim::step`, the walker, the memory system) is generic over a
//! [`Recorder`]. Runs use [`NoRecord`], whose `ON` is `false`: every recording site is
//! guarded by `if R::ON`, a constant, so the compiler removes the sites and whatever
//! they would compute; the run's code is the code it was without them (checked with
//! callgrind instruction counts, see docs/PERFORMANCE.md). `mmusim explain` passes a
//! `Vec<Event>` and gets, in order, what the same code did: TLB probes, walker wait,
//! walk-cache probes, each page-table read with the memory level that served it, the
//! end of each walk, and any page fault.

use crate::pagetable::{Evicted, Translation, WalkStart, WalkStep};

/// One thing a translation did, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The TLB lookup: the 0-based level that held the translation (`None`: every level
    /// missed), the probe cycles of every level probed, and the part of them the
    /// pipeline hides (the L1 probe when `sim.l1_tlb_overlapped`).
    Tlb {
        hit_level: Option<usize>,
        cycles: u64,
        hidden: u64,
    },
    /// The address fell inside the running process's direct segment (`os.direct_segment`):
    /// translated by its registers as va + `offset`, beside the L1 TLB probe, in
    /// `cycles` (of which `hidden` the pipeline hides); no TLB lookup, no walk.
    DirectSegment {
        base: u64,
        limit: u64,
        offset: u64,
        cycles: u64,
        hidden: u64,
    },
    /// A TLB probe's memory read (a POM-TLB's set line at `paddr`), served by memory
    /// level `served_by` (as [`Event::PteRead`]) in `cycles`. Recorded as the lookup's
    /// reads are priced, just before its [`Event::Tlb`] (whose cycles include the
    /// slowest of them).
    TlbRead {
        paddr: u64,
        served_by: usize,
        cycles: u32,
    },
    /// Victima's probe of the L2 for the page's TLB block after the last-level TLB
    /// missed (`[victima]`): `Some(cycles)` when a block held the page (the walk is
    /// aborted), `None` when none did (the walk that follows ran beside it).
    VictimaProbe { hit_cycles: Option<u64> },
    /// SpecTLB's prediction settled after the walk (`[spectlb]`): `outcome` is the
    /// counter it went to (`correct`, `mispredicted`, `faulted`, `walk_first`, or
    /// `no entry`), `frame` the predicted page, `cycles` what SpecTLB added (its latency
    /// when correct, which replaces the walk's cycles; the squash when mispredicted).
    SpecTlb {
        outcome: &'static str,
        frame: Option<u64>,
        cycles: u64,
    },
    /// The prefetch buffer's probe beside the last TLB level after it missed
    /// (`[prefetch]`): `Some(late)` when it held the page (no walk; `late` cycles of
    /// its prefetch walk were still to run), `None` when it did not.
    PrefetchBuffer { late: Option<u64> },
    /// A RestSeg walk (`os.utopia`) after the last TLB level missed: the tag line of the
    /// VPN's set at `paddr`, served by memory level `served_by` in `cycles`, and the
    /// page's frame if a tag matched. Recorded just before that lookup's [`Event::Tlb`].
    RestSegRead {
        paddr: u64,
        served_by: usize,
        cycles: u32,
        frame: Option<u64>,
    },
    /// Cycles waited for a free walker.
    Wait { cycles: u64 },
    /// One paging-structure cache probe: the cache's index in the walker (deepest level
    /// first), its radix level, and whether it held the prefix.
    WalkCache { psc: usize, level: u8, hit: bool },
    /// A walk starts: below the deepest walk-cache hit (`Some`) or at the root, after a
    /// walk-cache probe of `probe_cycles` (the design's own walk cache included).
    WalkStart {
        start: Option<WalkStart>,
        probe_cycles: u64,
    },
    /// One page-table read, served by memory level `served_by` (an index into the core's
    /// cache route, nearest first; one past the last cache is DRAM) in `cycles`.
    PteRead {
        step: WalkStep,
        served_by: usize,
        cycles: u32,
    },
    /// A walk ended: its PTE cycles as charged (reads of one group cost the slowest)
    /// and the translation found, or `None` for a not-present entry.
    WalkEnd {
        pte_cycles: u64,
        translation: Option<Translation>,
    },
    /// A page fault handled by the OS in `cycles`; the table may have evicted another
    /// translation to make room.
    Fault {
        cycles: u64,
        evicted: Option<Evicted>,
    },
    /// One memory reference of a nested walk (a virtualized machine), served by memory
    /// level `served_by` in `cycles`.
    NestedRead {
        r: crate::virt::NestedRef,
        served_by: usize,
        cycles: u32,
    },
    /// A nested walk ended: its reads as charged, its host-cache probes (one per host walk
    /// attempted) and their cycles, and how it ended.
    NestedWalkEnd {
        pte_cycles: u64,
        host_probes: u64,
        host_probe_cycles: u64,
        outcome: crate::walker::NestedOutcome,
    },
    /// An EPT violation: the VM exit's round trip and the host's fault backing `gpa`.
    HostFault {
        gpa: crate::addr::GuestPhysAddr,
        exit_cycles: u64,
        host_cycles: u64,
    },
}

/// Receives the [`Event`]s of a translation. Recording sites are written
/// `if R::ON { rec.event(..) }`, so a recorder with `ON = false` costs nothing.
pub trait Recorder {
    /// Whether events are wanted at all.
    const ON: bool;
    fn event(&mut self, e: Event);
}

/// The recorder of normal runs: records nothing, compiled away.
pub struct NoRecord;

impl Recorder for NoRecord {
    const ON: bool = false;
    #[inline(always)]
    fn event(&mut self, _e: Event) {}
}

impl Recorder for Vec<Event> {
    const ON: bool = true;
    fn event(&mut self, e: Event) {
        self.push(e);
    }
}
