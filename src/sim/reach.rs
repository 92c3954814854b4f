//! The reach designs' work on the translation path, beside `core::step` (issue 19): an
//! access a direct segment translates, pricing the memory reads of TLB probes (a
//! POM-TLB's set lines), the run a coalescing TLB fills (CoLT), the range walk that
//! fills a range TLB (RMM) and Utopia's RestSeg walk after a last-level TLB miss. In: the core, its page table and the shared memory
//! system and OS; out: cycles, the core's counters, the run or range handed to `Tlbs`
//! and the RestSeg's translation. Each runs only in runs that have its design
//! (a per-run flag or a `Tlbs` query in `step`), so others pay one predicted branch.

use super::core::{full_translation, Core, Timing, TLB_READ_LEVELS};
use super::record::{Event, Recorder};
use super::Shared;
use crate::addr::VirtAddr;
use crate::pagetable::{PageTable, Translation};

/// An access inside the running process's direct segment (Basu et al., ISCA 2013):
/// the physical address is va + OFFSET, with no TLB lookup, no walk and no fill. The
/// paper checks BASE <= va < LIMIT in parallel with the L1 TLB lookup (its hardware
/// section, 4; the section number is recalled, not checked against the text here), so
/// the check adds no latency to it: it costs what the L1 TLB's probe costs on this
/// side, counted as TLB time and hidden by the pipeline exactly as an L1 TLB hit is
/// (`sim.l1_tlb_overlapped`). Its result is ready
/// with the probe's, and the probe's own result is not used (nor counted: the TLBs see
/// no lookup, so their hit and miss counts hold only the accesses paging translates).
#[inline(always)]
pub(super) fn segment_access<PT: PageTable, R: Recorder>(
    core: &mut Core,
    va: VirtAddr,
    side: usize,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
    rec: &mut R,
) {
    let cycles = core.tlbs.level_latency(0, side) as u64;
    let hidden = if t.l1_overlapped { cycles } else { 0 };
    if R::ON {
        let s = core.segment;
        rec.event(Event::DirectSegment {
            base: s.base,
            limit: s.limit,
            offset: s.offset,
            cycles,
            hidden,
        });
    }
    core.stall(cycles - hidden);
    let pa = core.segment.translate(va.0);
    // The table maps the region's pages to the same frames (`os/direct_segment.rs`):
    // checked on every access in test builds, unless a design evicted the entry.
    debug_assert!(
        full_translation(pt, sh, core.asid, va)
            .is_none_or(|tr| tr.frame.0 + va.offset(tr.size) == pa),
        "direct segment and page table disagree at {va:#x}"
    );
    sh.mem.data_access(core.id, crate::addr::PhysAddr(pa));
    let c = &mut core.counters;
    c.direct_segment_hits += 1;
    c.direct_segment_cycles += cycles;
    c.translation.tlb += cycles;
    c.translation.total += cycles;
}

/// Price the memory reads the TLB lookup just made (a POM-TLB's set lines) through the
/// core's caches and DRAM, as the walker prices PTE reads: the caches count them as
/// translation reads (`pte_*`, as Virtuoso issues them, `PAGE_TABLE_DATA`), DRAM's
/// `dram_pte_reads` does not (it stays per walk). The structures of a level are probed
/// in parallel (one level reads memory: the config refuses more), so the lookup waits
/// for the slowest read. Returns those cycles, which the caller adds to the TLB's.
#[inline(never)]
pub(super) fn price_tlb_reads<R: Recorder>(
    core: &mut Core,
    mem: &mut crate::memory::MemorySystem,
    rec: &mut R,
) -> u64 {
    let reads = core.tlbs.take_memory_reads();
    core.counters.tlb_memory_lookups += !reads.is_empty() as u64;
    let mut slowest = 0u64;
    for &a in reads.as_slice() {
        let (lat, depth) = mem.read_translation(core.id, crate::addr::PhysAddr(a));
        if R::ON {
            rec.event(Event::TlbRead {
                paddr: a,
                served_by: depth,
                cycles: lat,
            });
        }
        core.counters.tlb_memory_reads[depth.min(TLB_READ_LEVELS - 1)] += 1;
        slowest = slowest.max(lat as u64);
    }
    core.counters.tlb_memory_cycles += slowest;
    slowest
}

/// The run around walked page `va` (translation `tr`) that a coalescing TLB holds in one
/// entry (CoLT, MICRO 2012): the neighbours inside its aligned group of
/// `Tlbs::coalesce()` pages (within one PTE cache line) mapped now, at the same page
/// size, to frames contiguous with its own, with the same `mprotect` rights. Read from
/// the table as the TLB would see it (`full_translation`: composed with the host's on a
/// virtualized machine). Only runs when a structure coalesces; allocates nothing.
#[inline(never)]
pub(super) fn coalesce_run<PT: PageTable>(
    core: &Core,
    pt: &PT,
    sh: &Shared,
    va: VirtAddr,
    tr: Translation,
) -> crate::tlb::Entry {
    let asid = core.asid;
    let os = &sh.os[super::vm_index(core.vm)];
    let rights = os.rights(asid, va.0);
    let vpn = va.0 >> tr.size.shift();
    let n = core.tlbs.coalesce();
    crate::tlb::run_around(asid, vpn, tr.frame.0, tr.size, n, |v| {
        let t = full_translation(pt, sh, asid, VirtAddr(v))?;
        (os.rights(asid, v) == rights).then_some((t.frame.0, t.size))
    })
}

/// The range walk after the page walk of `va` (Redundant Memory Mappings, Karakostas et
/// al., ISCA 2015): the range table's B-tree is searched "in the background" of the
/// page walk, so its node reads go through the caches (they evict and are counted as
/// page-table reads there) but their latency is counted apart
/// (`counters.range_walk_cycles`) and delays nothing. A range covering `va` is handed
/// to the range TLB's fill. Virtuoso charges such walks nothing at all either, but
/// reads one slot per key compared (`mmu_range.cc`); here a line per distinct line.
#[inline(never)]
pub(super) fn range_walk<PT: PageTable>(core: &mut Core, pt: &PT, sh: &mut Shared, va: VirtAddr) {
    let os = &sh.os[super::vm_index(core.vm)];
    let (id, mem) = (core.id, &mut sh.mem);
    let (mut reads, mut cycles) = (0u64, 0u64);
    let found = os.range_walk(core.asid, va.0, |pa| {
        reads += 1;
        // Not counted in `walks.dram_pte_reads`, which is the page walks' own.
        cycles += mem.read_translation(id, crate::addr::PhysAddr(pa)).0 as u64;
    });
    let c = &mut core.counters;
    c.range_walks += 1;
    c.range_walk_reads += reads;
    c.range_walk_cycles += cycles;
    if let Some(r) = found {
        c.range_walk_hits += 1;
        // The table and the page table agree on every page of a range (`os/rmm.rs`).
        debug_assert_eq!(
            full_translation(pt, sh, core.asid, va).map(|t| t.frame.0),
            Some((va.0 & !0xfff).wrapping_add(r.offset)),
            "range table and page table disagree at {va:#x}"
        );
        core.tlbs.set_range(crate::tlb::Entry {
            asid: core.asid,
            size: crate::addr::PageSize::Size4K,
            vpn: r.base >> 12,
            frame: r.base.wrapping_add(r.offset),
            pages: r.pages(),
        });
    }
}

/// Utopia's RestSeg walk (Kanellopoulos et al., MICRO 2023) after the last TLB level
/// missed: it reads the tag line of the VPN's set (the set index is the VPN's low bits)
/// through the core's caches and DRAM, as PTE reads go (L1D first, counted in the
/// caches' `pte_*`), and compares the set's tags. A hit is the translation, with no
/// radix walk and no walker; the TLB levels are filled as after a walk (returned as a
/// hit one level past the last). A miss costs the read, then the radix walk follows:
/// the serial order of the MICRO 2023 artifact (Victima repository,
/// `sniper/config/virtual_memory_configs/common_translation.cfg`, `serial_l2tlb=true`;
/// Virtuoso, later, probes beside the L2 TLB). The read's cycles are TLB time
/// (`translation.tlb`, counted in `restseg_cycles`). No on-chip tag cache: the artifact's
/// 2 KiB `tagcache` is not modelled (the L1D plays its part).
#[inline(never)]
pub(super) fn restseg_walk<R: Recorder>(
    core: &mut Core,
    va: VirtAddr,
    sh: &mut Shared,
    tlb_cycles: &mut u64,
    rec: &mut R,
) -> Option<crate::tlb::TlbHit> {
    let r = sh.os[0].restseg()?;
    let (line, frame) = r.lookup(core.asid, va.0 >> 12);
    let (lat, depth) = sh
        .mem
        .read_translation(core.id, crate::addr::PhysAddr(line));
    if R::ON {
        rec.event(Event::RestSegRead {
            paddr: line,
            served_by: depth,
            cycles: lat,
            frame,
        });
    }
    let c = &mut core.counters;
    c.restseg_walks += 1;
    c.restseg_hits += frame.is_some() as u64;
    c.restseg_reads[depth.min(TLB_READ_LEVELS - 1)] += 1;
    c.restseg_cycles += lat as u64;
    *tlb_cycles += lat as u64;
    frame.map(|f| crate::tlb::TlbHit {
        level: core.tlbs.num_levels(),
        frame: crate::addr::PhysAddr(f),
        size: crate::addr::PageSize::Size4K,
    })
}

/// After a page walk of `va` (translation `tr`): the run of pages a coalescing TLB
/// takes with this access's fill, and the range walk behind the page walk (RMM; a range
/// found fills the range TLB with the same fill). Each only when a structure needs it.
#[inline(always)]
pub(super) fn after_walk<PT: PageTable>(
    core: &mut Core,
    pt: &PT,
    sh: &mut Shared,
    va: VirtAddr,
    tr: Translation,
) {
    if core.tlbs.coalesce() > 1 {
        let run = coalesce_run(core, pt, sh, va, tr);
        core.tlbs.set_run(run);
    }
    if core.tlbs.has_ranges() {
        range_walk(core, pt, sh, va);
    }
}

/// After the TLBs' fill: an entry the fill pushed out of the last TLB level may go to
/// the L2 (Victima), TLB prefetching trains and fetches (`prefetch.rs`), and eager paging learns the page was touched (every translation
/// enters the TLBs by a walk or a lower level's hit, so the pages reached here are
/// exactly the pages touched). Each behind its run flag.
#[inline(always)]
pub(super) fn after_fill<PT: PageTable>(
    core: &mut Core,
    pt: &PT,
    sh: &mut Shared,
    t: &Timing,
    (va, side, hit_level): (VirtAddr, usize, usize),
) {
    if t.victima {
        super::victima::after_fill(core, pt, sh);
    }
    if t.prefetch {
        super::prefetch::after_access(core, pt, sh, t, (va, side, hit_level));
    }
    if t.eager && hit_level > 0 {
        sh.os[super::vm_index(core.vm)].rmm_touch(core.asid, va.0);
    }
}
