//! `utopia` of a core's report: what Utopia's RestSeg (`os.utopia`, `os/utopia.rs`)
//! placed and translated. Absent from the JSON of a run without one.
//!
//! In: a core's counters and OS counters, the RestSeg's occupancy at the end, the
//! names of the core's memory levels. Out: [`UtopiaReport`].

use crate::os::OsStats;
use crate::sim::{CoreCounters, TLB_READ_LEVELS};
use serde::Serialize;

/// The RestSeg's occupancy at the end of the run (machine-wide: one RestSeg).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Occupancy {
    pub ways: u64,
    pub occupied: u64,
    pub peak: u64,
}

/// What the RestSeg did for one core (or the machine, summed).
#[derive(Clone, Debug, Serialize)]
pub struct UtopiaReport {
    /// First touches of 4K pages this core's faults placed in a RestSeg way, and in the
    /// FlexSeg because their set was full (huge pages are FlexSeg and not counted).
    pub restseg_pages: u64,
    pub flexseg_pages: u64,
    /// RestSeg ways freed (munmap, exit).
    pub restseg_freed: u64,
    /// RestSeg walks (one per miss of the last TLB level), those that found the page
    /// (radix walks avoided) and their share.
    pub restseg_walks: u64,
    pub restseg_hits: u64,
    pub hit_rate: f64,
    /// Tag-line reads (one per RestSeg walk) by the level that served them, nearest
    /// first, DRAM last.
    pub tag_reads: Vec<super::tlb_memory::ServedBy>,
    /// Their cycles: part of `translation_cycles.tlb`.
    pub cycles: u64,
    /// Ways of the RestSeg, ways in use at the end and the most at once (machine-wide).
    pub ways: u64,
    pub occupied: u64,
    pub peak_occupied: u64,
    /// occupied / ways.
    pub occupancy: f64,
}

/// Adds core `b`'s RestSeg counters to `a` (machine totals).
pub fn add(a: &mut CoreCounters, b: &CoreCounters) {
    a.restseg_walks += b.restseg_walks;
    a.restseg_hits += b.restseg_hits;
    for (x, y) in a.restseg_reads.iter_mut().zip(b.restseg_reads) {
        *x += y;
    }
    a.restseg_cycles += b.restseg_cycles;
}

/// The tag reads' cycles of report `r` (0 without a RestSeg): TLB time.
pub fn cycles(r: &super::CoreReport) -> u64 {
    r.utopia.as_ref().map_or(0, |u| u.cycles)
}

impl UtopiaReport {
    pub fn new(k: &CoreCounters, os: &OsStats, levels: &[String], o: Occupancy) -> UtopiaReport {
        let n = levels.len().min(TLB_READ_LEVELS);
        UtopiaReport {
            restseg_pages: os.restseg_pages,
            flexseg_pages: os.flexseg_pages,
            restseg_freed: os.restseg_freed,
            restseg_walks: k.restseg_walks,
            restseg_hits: k.restseg_hits,
            hit_rate: super::ratio(k.restseg_hits, k.restseg_walks),
            tag_reads: (0..n)
                .map(|i| super::tlb_memory::ServedBy {
                    level: levels[i].clone(),
                    reads: k.restseg_reads[i],
                })
                .collect(),
            cycles: k.restseg_cycles,
            ways: o.ways,
            occupied: o.occupied,
            peak_occupied: o.peak,
            occupancy: super::ratio(o.occupied, o.ways),
        }
    }
}
