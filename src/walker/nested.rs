//! The walker's two-dimensional walk (a virtualized machine, `[virt]`): the guest walk
//! caches shorten the guest dimension, the nested TLB the host dimension, and every
//! reference of [`crate::virt::nested_walk_cached`] is read through the memory system at
//! its host-physical address.
//!
//! In: a guest-virtual address that missed the TLBs, the guest table (gVA → gPA), the
//! VM's host table (gPA → hPA), the memory system. Out: a [`NestedResult`]: probe and
//! read cycles, and the gVA's host-physical page, or which dimension faulted.
//!
//! Timing: the guest walk caches cost what the native walk caches do (the slowest probe,
//! once per walk); each host walk the nested walk attempts probes the host caches (NTLB
//! and host walk caches in parallel: the slowest), plus a hashed host's own walk cache
//! when it reads the host table (each host walk waits for the guest entry before it, so
//! the probes cannot overlap). The walk is a sequence of stages, one per issue group of
//! the guest walk (a radix level; a hashed table's probe of several ways) and one for the
//! final gPA's host walk; a stage costs its slowest chain, each guest step of the group
//! being a chain (its host walk, then its guest read) that runs beside the others, as a
//! parallel-probing design issues them (nested elastic cuckoo, Stojkovic et al., ASPLOS
//! 2022). In a chain every reference depends on the one before, except consecutive
//! reads of one issue group of the host walk (a hashed host's ways), which go out
//! together and cost the slowest. (Host-cache probes, one per host walk, are still
//! counted one after another.)

use super::PscStats;
use super::{Psc, Walker};
use crate::addr::{GuestPhysAddr, VirtAddr};
use crate::config::PscConfig;
use crate::memory::MemorySystem;
use crate::pagetable::{PageTable, Walkable};
use crate::sim::record::{Event, Recorder};
use crate::virt::{
    HostCaches, HostPsc, NestedFault, NestedRef, NestedScratch, NestedTlb, NestedWalk,
};
use serde::Serialize;

/// How a nested walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NestedOutcome {
    /// Both dimensions mapped the address.
    Done(NestedWalk),
    /// The guest table does not map it: a guest page fault.
    GuestFault,
    /// The host table does not map `gpa`: an EPT violation.
    HostFault(GuestPhysAddr),
}

/// What one nested walk did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestedResult {
    /// Guest walk-cache probe + nested-TLB probes.
    pub psc_cycles: u64,
    /// Every reference's read, guest and host.
    pub pte_cycles: u64,
    pub reads: u32,
    pub outcome: NestedOutcome,
}

/// Largest guest or host level counted apart (5-level tables).
pub const MAX_LEVEL: usize = 5;

/// The walker's counters of nested walks.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NestedStats {
    /// Nested walks started (a faulting access walks again after each fault).
    pub walks: u64,
    /// References by `[guest level][host level]`: host level 0 is the guest entry's own
    /// read, guest level 0 the host walk of the final gPA (hashed designs count at 0).
    pub refs: [[u64; MAX_LEVEL + 1]; MAX_LEVEL + 1],
    /// References by dimension (`Dimension as usize`): host reads for guest entries,
    /// guest entries, host reads for the data's gPA.
    pub by_dim: [u64; 3],
    /// Host walks attempted (each probes the nested TLB when there is one) and made
    /// (reading the host table).
    pub host_lookups: u64,
    pub host_walks: u64,
    pub ntlb_hits: u64,
    /// The host walk caches' counters (filled when the stats are gathered).
    pub host_psc: Vec<PscStats>,
}

impl NestedStats {
    pub fn add(&mut self, o: &NestedStats) {
        self.walks += o.walks;
        for (a, b) in self.by_dim.iter_mut().zip(&o.by_dim) {
            *a += b;
        }
        for (a, b) in self.refs.iter_mut().zip(&o.refs) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.host_lookups += o.host_lookups;
        self.host_walks += o.host_walks;
        self.ntlb_hits += o.ntlb_hits;
        if self.host_psc.is_empty() {
            self.host_psc = (o.host_psc.iter())
                .map(|p| PscStats {
                    name: p.name.clone(),
                    level: p.level,
                    ..Default::default()
                })
                .collect();
        }
        for (a, b) in self.host_psc.iter_mut().zip(&o.host_psc) {
            a.lookups += b.lookups;
            a.hits += b.hits;
        }
    }
}

/// The walker's part of a virtualized machine: the host dimension's caches (nested TLB,
/// host walk caches) and the nested walk's buffers.
pub(super) struct NestedParts {
    host: HostCaches,
    /// One parallel probe of the host caches (the slowest of them).
    host_probe_latency: u64,
    scratch: NestedScratch,
    refs: Vec<NestedRef>,
}

impl NestedParts {
    pub(super) fn new(
        ntlb: Option<(usize, u64)>,
        host_psc: &[PscConfig],
        seed: u64,
    ) -> NestedParts {
        let psc = HostPsc::new(host_psc, seed);
        NestedParts {
            host_probe_latency: ntlb.map_or(0, |(_, l)| l).max(psc.probe_latency()),
            host: HostCaches::new(ntlb.map(|(n, _)| NestedTlb::new(n)), psc),
            scratch: NestedScratch::default(),
            refs: Vec::with_capacity(64),
        }
    }
}

impl Walker {
    /// Walk `gva` of guest address space `asid` in VM `vm` for `core`: the guest table
    /// `guest` over the host table `host`. Panics if the walker was built without
    /// [`Walker::enable_nested`]. `rec` hears every walk-cache probe and reference
    /// (`mmusim explain`).
    #[allow(clippy::too_many_arguments)]
    pub fn walk_nested<PT: PageTable, H: Walkable, R: Recorder>(
        &mut self,
        core: usize,
        asid: u16,
        vm: u16,
        gva: VirtAddr,
        guest: &PT,
        host: &H,
        mem: &mut MemorySystem,
        rec: &mut R,
    ) -> NestedResult {
        let (start, guest_probe) = self.probe_pscs::<_, _, true>(asid, gva, guest, rec);
        let parts = self
            .nested
            .as_mut()
            .expect("a walker of a virtualized machine");
        parts.refs.clear();
        let ntlb_hits_before = parts.host.ntlb().map_or(0, |n| n.hits);
        let found = crate::virt::nested_walk_cached(
            guest,
            asid,
            host,
            vm,
            gva,
            start,
            &mut parts.host,
            &mut parts.scratch,
            &mut parts.refs,
        );
        let lookups = parts.host.walk_probes() as u64;
        let hits = parts.host.ntlb().map_or(0, |n| n.hits) - ntlb_hits_before;
        // Every host walk probes the host caches (in parallel); one that reads the host
        // table (no NTLB hit) also probes a hashed host's own walk cache (cuckoo's), as
        // a native walk of that table would.
        let psc_cycles = guest_probe
            + lookups * parts.host_probe_latency
            + (lookups - hits) * host.walk_cache_cycles();
        // Stages follow one another; a stage costs its slowest chain (a hashed guest's
        // ways each wait for their own host walk, side by side); in a chain each
        // reference waits for the one before, except reads of one issue group of one
        // one-dimensional walk (a hashed host's ways), which cost the slowest.
        let mut pte_cycles = 0;
        let (mut stage_max, mut chain_acc, mut slowest) = (0u64, 0u64, 0u64);
        let (mut at, mut prev) = (None, None);
        // Guest entries read (the guest walk caches learn from those only, below).
        let mut read = 0;
        let ns = &mut self.stats.nested;
        for r in &parts.refs {
            let (lat, served_by) = mem.read_from(core, r.hpa, true);
            if R::ON {
                rec.event(Event::NestedRead {
                    r: *r,
                    served_by,
                    cycles: lat,
                });
            }
            if at != Some((r.stage, r.chain)) {
                chain_acc += slowest;
                stage_max = stage_max.max(chain_acc);
                if at.is_some_and(|(s, _)| s != r.stage) {
                    pte_cycles += stage_max;
                    stage_max = 0;
                }
                (chain_acc, slowest, prev) = (0, 0, None);
                at = Some((r.stage, r.chain));
            }
            let key = (r.dim, r.group);
            if prev != Some(key) {
                chain_acc += slowest;
                slowest = 0;
                prev = Some(key);
            }
            slowest = slowest.max(lat as u64);
            let (g, h) = (r.guest_level as usize, r.host_level as usize);
            ns.refs[g.min(MAX_LEVEL)][h.min(MAX_LEVEL)] += 1;
            // By dimension from the reference itself: hashed designs have no levels.
            ns.by_dim[r.dim as usize] += 1;
            read += (r.dim == crate::virt::Dimension::GuestPte) as usize;
        }
        pte_cycles += stage_max.max(chain_acc + slowest);
        // The guest walk caches learn the guest tables the walk read, as natively: only
        // from the guest entries actually read (a walk that ended at an EPT violation has
        // not seen the tables the later ones point to).
        let steps = parts.scratch.guest_steps();
        let steps = &steps[..read.min(steps.len())];
        learn(&mut self.pscs, asid, gva, guest, steps);
        let reads = parts.refs.len() as u32;
        ns.walks += 1;
        ns.host_lookups += lookups;
        ns.ntlb_hits += hits;
        ns.host_walks += lookups - hits;
        self.stats.count_walk(reads, psc_cycles, pte_cycles);
        let outcome = match found {
            Ok(w) => NestedOutcome::Done(w),
            Err(NestedFault::Guest { .. }) => NestedOutcome::GuestFault,
            Err(NestedFault::Host { gpa, .. }) => NestedOutcome::HostFault(gpa),
        };
        if R::ON {
            rec.event(Event::NestedWalkEnd {
                pte_cycles,
                host_probes: lookups,
                host_probe_cycles: lookups * parts.host_probe_latency,
                outcome,
            });
        }
        NestedResult {
            psc_cycles,
            pte_cycles,
            reads,
            outcome,
        }
    }

    /// Drop every nested-TLB and host walk-cache entry of `vm` (its host table changed).
    pub fn flush_vm(&mut self, vm: u16) {
        if let Some(p) = self.nested.as_mut() {
            p.host.flush_vm(vm);
        }
    }

    /// The host walk caches' counters (empty natively).
    pub fn host_psc_stats(&self) -> Vec<PscStats> {
        self.nested
            .as_ref()
            .map_or_else(Vec::new, |p| p.host.psc().stats().to_vec())
    }

    /// Restart the host caches' counters (with the walker's, at the end of warm-up).
    pub(super) fn reset_nested_stats(&mut self) {
        if let Some(p) = self.nested.as_mut() {
            p.host.reset_stats();
        }
    }
}

/// Fill the walk caches `pscs` with the tables a walk of `vaddr` found (`steps`).
#[inline]
pub(super) fn learn<PT: Walkable>(
    pscs: &mut [Psc],
    asid: u16,
    vaddr: VirtAddr,
    pt: &PT,
    steps: &[crate::pagetable::WalkStep],
) {
    for s in steps {
        if s.next == crate::pagetable::NO_NODE {
            continue;
        }
        if let Some(p) = pscs.iter_mut().find(|p| p.level == s.level as usize) {
            let prefix = vaddr.0 >> pt.level_shift(p.level);
            p.insert(prefix, super::psc_key(prefix, asid), s.next as u64);
        }
    }
}
