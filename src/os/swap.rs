//! Demand paging with page replacement: each address space's resident set (its
//! policy's bookkeeping in [`super::paging`]), the pages in swap, major faults and
//! write-backs, the working set's expiry, OPT's view of the future.
//!
//! In: first touches from the fault path, every access (recency, dirty and use bits).
//! Out: cycles (major faults, write-backs that free a frame), and in [`Effects`] the
//! translations of the pages evicted or expired.

use super::fork::Sharing;
use super::frames::FrameAllocator;
use super::huge::HEADROOM_FRAMES;
use super::paging::{ResidentSet, Victim};
use super::{Effects, Os, OsStats, Trigger};
use crate::addr::{PageSize, PhysAddr, VirtAddr};
use crate::config::{OsConfig, ReplacementPolicy};
use crate::pagetable::{MapOutcome, PageTable};
use crate::SimError;
use std::collections::{HashMap, HashSet};

/// Demand-paging state: each address space's resident set, and the pages in swap.
pub(super) struct Paging {
    policy: ReplacementPolicy,
    seed: u64,
    limit: u64,
    major_fault_cycles: u64,
    writeback_cycles: u64,
    sets: HashMap<u16, ResidentSet>,
    swapped: HashSet<(u16, u64)>,
    /// WS: the window.
    window: u64,
    /// OPT: per address space, the index of its next access and, for each access,
    /// when its page is referenced next (`u32::MAX`: never).
    future: HashMap<u16, (usize, Vec<u32>)>,
}

impl Paging {
    /// The paging state `cfg` asks for (`None`: no replacement).
    pub(super) fn new(cfg: &OsConfig, seed: u64) -> Option<Paging> {
        let pg = &cfg.paging;
        pg.replacement.map(|policy| Paging {
            policy,
            seed: pg
                .seed
                .unwrap_or_else(|| crate::util::splitmix64(seed ^ 0x9a61)),
            limit: pg.resident_pages,
            major_fault_cycles: pg.major_fault_cycles,
            writeback_cycles: pg.writeback_cycles,
            sets: HashMap::new(),
            swapped: HashSet::new(),
            window: pg.window,
            future: HashMap::new(),
        })
    }

    /// `asid` exited: its resident set, future and swap go.
    pub(super) fn exit(&mut self, asid: u16) {
        self.sets.remove(&asid);
        self.future.remove(&asid);
        self.swapped.retain(|k| k.0 != asid);
    }

    /// Bases of the pages of `asid` in swap inside [start, end).
    pub(super) fn swapped_in(
        &self,
        asid: u16,
        start: u64,
        end: u64,
    ) -> impl Iterator<Item = u64> + '_ {
        (self.swapped.iter())
            .filter(move |k| k.0 == asid && (k.1 << 12) < end && (k.1 + 1) << 12 > start)
            .map(|k| k.1 << 12)
    }

    /// Page `vpn` of `asid` was unmapped while in swap: its swap copy goes.
    pub(super) fn drop_swapped(&mut self, asid: u16, vpn: u64) {
        self.swapped.remove(&(asid, vpn));
    }

    /// Page `vpn` of `asid` was unmapped while resident: it leaves the resident set.
    pub(super) fn unmapped(&mut self, asid: u16, vpn: u64) {
        if let Some(set) = self.sets.get_mut(&asid) {
            set.remove(vpn);
        }
    }
}

/// Evicts resident page `v` of address space `asid` to swap: its mapping is removed
/// (from the table and the OS's log), its frame freed, its translation queued for the
/// TLBs. The caller accounts for a write-back.
fn swap_out<PT: PageTable>(
    pt: &mut PT,
    (frames, swapped, share): (&mut FrameAllocator, &mut HashSet<(u16, u64)>, &mut Sharing),
    (asid, v): (u16, Victim),
    stats: &mut OsStats,
    fx: &mut Effects,
) -> Result<(), SimError> {
    let va = v.vpn << 12;
    let tr = pt.unmap(asid, VirtAddr(va)).ok_or_else(|| {
        SimError(format!(
            "internal: resident page {va:#x} has no translation"
        ))
    })?;
    frames.free(tr.frame.0, PageSize::Size4K)?;
    if swapped.len() * 2 >= swapped.capacity() {
        // Twice the room it needs: pages leave and come back all the time, and the
        // table's deleted slots must not make it grow (allocate) at a random access.
        swapped.reserve(swapped.len().max(64));
    }
    swapped.insert((asid, v.vpn));
    if let Some(m) = share.mappings.as_mut().and_then(|m| m.get_mut(&asid)) {
        m.remove(&va);
    }
    fx.invalidate(asid, va, PageSize::Size4K);
    stats.page_evictions += 1;
    stats.mapped_bytes -= 4096;
    Ok(())
}

impl Os {
    /// Whether page replacement is Belady's OPT (the run must hand over the future).
    pub fn needs_future(&self) -> bool {
        (self.paging.as_ref()).is_some_and(|p| p.policy == ReplacementPolicy::Opt)
    }

    /// OPT: the page numbers (4 KiB) address space `asid` will access, in order.
    pub fn set_future(&mut self, asid: u16, vpns: &[u64]) -> Result<(), SimError> {
        let Some(p) = &mut self.paging else {
            return Ok(());
        };
        if vpns.len() >= u32::MAX as usize {
            return Err(SimError(
                "os.paging.replacement = \"opt\" looks ahead over at most 2^32 - 1 accesses per core".into(),
            ));
        }
        let mut upcoming: HashMap<u64, u32> = HashMap::new();
        let mut next = vec![u32::MAX; vpns.len()];
        for (t, &v) in vpns.iter().enumerate().rev() {
            next[t] = upcoming.insert(v, t as u32).unwrap_or(u32::MAX);
        }
        p.future.insert(asid, (0, next));
        Ok(())
    }

    /// Every access, when [`Os::tracks_accesses`]: recency, dirty bits, use bits on
    /// walks, OPT's next uses, the written pieces of 2M pages under `demote`; under WS,
    /// pages that fell out of the window leave (their translations in `fx`).
    #[inline]
    pub fn on_access<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        (asid, vaddr): (u16, VirtAddr),
        (store, walked): (bool, bool),
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(), SimError> {
        debug_assert!(fx.is_clear(), "effects of an earlier call not applied");
        let vaddr = vaddr.0;
        if self.huge.demote && store {
            // Which pieces of a huge page hold data: the others are still zero.
            self.huge.mark_written(asid, vaddr);
        }
        let Some(p) = &mut self.paging else {
            return Ok(());
        };
        // Only OPT needs the next use; the other policies skip the lookup.
        let future = if p.policy == ReplacementPolicy::Opt {
            p.future.get_mut(&asid)
        } else {
            None
        };
        let next = match future {
            Some((i, next)) => {
                let n = next.get(*i).copied().unwrap_or(u32::MAX);
                *i += 1;
                if n == u32::MAX {
                    u64::MAX
                } else {
                    n as u64
                }
            }
            None => u64::MAX,
        };
        let Some(set) = p.sets.get_mut(&asid) else {
            return Ok(());
        };
        set.touch(vaddr >> 12, store, walked, next);
        if p.policy == ReplacementPolicy::Ws {
            fx.trigger = Trigger::Eviction;
            while let Some(v) = set.expired(p.window) {
                let state = (&mut self.frames, &mut p.swapped, &mut self.share);
                swap_out(pt, state, (asid, v), stats, fx)?;
                stats.writebacks += v.dirty as u64;
                // A write-back leaving the working set is done in the background
                // (it stalls no access), unlike one that frees a frame for a fault.
            }
        }
        Ok(())
    }

    /// A first touch with page replacement on: make room (the address space's limit,
    /// then a low watermark of free frames), bring the page in (a major fault if it was
    /// evicted) and make it resident.
    pub(super) fn fault_paged<PT: PageTable>(
        &mut self,
        pt: &mut PT,
        asid: u16,
        vaddr: u64,
        stats: &mut OsStats,
        fx: &mut Effects,
    ) -> Result<(MapOutcome, u64), SimError> {
        let p = self.paging.as_mut().expect("paging on");
        let vpn = vaddr >> 12;
        let mut cycles = if p.swapped.remove(&(asid, vpn)) {
            stats.major_faults += 1;
            p.major_fault_cycles
        } else {
            stats.minor_faults += 1;
            self.costs.minor_fault
        };
        let (policy, seed) = (p.policy, p.seed ^ asid as u64);
        let set = p
            .sets
            .entry(asid)
            .or_insert_with(|| ResidentSet::new(policy, seed));
        loop {
            let over = p.limit > 0 && set.len() as u64 >= p.limit;
            let short = self.frames.free_bytes() < HEADROOM_FRAMES * 4096;
            if !(over || short) {
                break;
            }
            // Nothing left to evict: the allocation below reports the shortage.
            let Some(v) = set.evict() else { break };
            let state = (&mut self.frames, &mut p.swapped, &mut self.share);
            swap_out(pt, state, (asid, v), stats, fx)?;
            if v.dirty {
                stats.writebacks += 1;
                cycles = cycles.saturating_add(p.writeback_cycles);
            }
        }
        let frame = self.frames.alloc(PageSize::Size4K)?;
        let outcome = pt.map(
            asid,
            VirtAddr(vpn << 12),
            PageSize::Size4K,
            PhysAddr(frame),
            &mut self.frames,
        )?;
        set.insert(vpn, frame);
        self.log_map(asid, vpn << 12, frame, PageSize::Size4K);
        stats.mapped_bytes += 4096;
        Ok((outcome, cycles))
    }
}
