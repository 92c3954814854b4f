//! Host walk caches for the nested walk (Intel's PML4/PDPT/PDE caches for EPT; the
//! "nested" walk caches of Bhargava et al., ASPLOS 2008), and [`HostCaches`], the host
//! dimension's caches as one [`HostCache`]: an optional nested TLB probed in parallel
//! with the host walk caches.
//!
//! [`HostPsc`] owns one `assoc::SetAssoc` per configured host level (a
//! [`PscConfig`]: entries, ways, replacement, latency, as the guest's walk caches). The
//! cache of level L holds, per VM and gPA prefix above that level's shift
//! (`gpa >> level_shift(L)`, the host table's own), the host table the level-L entry
//! points to; a hit starts the host walk in that table at level L - 1, so it removes the
//! `top - L + 1` reads of levels top..L of that host walk. Probed as the walker probes
//! the guest's (`src/walker/mod.rs`): every cache once per host walk, the deepest hit
//! wins; filled from the walk's steps whose `next != NO_NODE` (the tables it found),
//! including a walk that ends at a not-present entry (an EPT violation): its tables
//! above that entry are present and stay valid when the hypervisor maps the page below
//! them, so the retried walk starts under them. Not-present entries and leaves are never
//! held. Radix host tables only (`Walkable::has_levels`); for others nothing is probed.
//!
//! In: the VM, the gPA, the host table (its level shifts) and, for fills, the host walk's
//! steps. Out: a [`WalkStart`] or nothing; per-cache lookup and hit counters
//! ([`PscStats`]); the number of host walks attempted in the last nested walk
//! ([`HostCaches::walk_probes`]), each one parallel probe for the walker to charge.
//! No allocation after construction. Host-side invalidation: `flush_vm`, `flush`.

use super::nested::{HostCache, HostLookup};
use super::ntlb::NestedTlb;
use crate::addr::GuestPhysAddr;
use crate::assoc::SetAssoc;
use crate::config::PscConfig;
use crate::pagetable::{Translation, WalkStart, WalkStep, Walkable, NO_NODE};
use crate::walker::PscStats;

/// Bits of a key holding the VM (a whole `u16`); the gPA prefix sits above them.
const VM_BITS: u32 = 16;

#[inline(always)]
fn key(prefix: u64, vm: u16) -> u64 {
    (prefix << VM_BITS) | vm as u64
}

struct Level {
    level: u8,
    array: SetAssoc,
}

/// Host walk caches: one set-associative cache per configured host level, VM-tagged.
pub struct HostPsc {
    /// Deepest level first: the first hit is the one that skips the most.
    levels: Vec<Level>,
    /// Counters, in the order of `levels`.
    stats: Vec<PscStats>,
    probe_latency: u64,
}

impl HostPsc {
    /// Caches as `cfgs` describe them (levels 2 and up, one cache per level, `entries`
    /// a power-of-two multiple of `ways`: what `WalkerConfig::validate` checks for the
    /// guest's; asserted here). `seed` seeds random replacement.
    pub fn new(cfgs: &[PscConfig], seed: u64) -> HostPsc {
        let mut order: Vec<usize> = (0..cfgs.len()).collect();
        order.sort_by_key(|&i| cfgs[i].level);
        for (n, &i) in order.iter().enumerate() {
            let c = &cfgs[i];
            assert!(
                (2..=5).contains(&c.level),
                "host walk cache level {}",
                c.level
            );
            assert!(
                n == 0 || cfgs[order[n - 1]].level != c.level,
                "two host walk caches of level {}",
                c.level
            );
            assert!(
                c.ways > 0 && c.entries % c.ways == 0 && (c.entries / c.ways).is_power_of_two(),
                "host walk cache geometry {} / {}",
                c.entries,
                c.ways
            );
        }
        HostPsc {
            levels: order
                .iter()
                .map(|&i| Level {
                    level: cfgs[i].level as u8,
                    array: SetAssoc::new(
                        (cfgs[i].entries / cfgs[i].ways) as usize,
                        cfgs[i].ways as usize,
                        cfgs[i].replacement,
                        // Not the walker's seeds: host and guest caches draw apart.
                        seed ^ (0x2545_f491 * (i as u64 + 1)),
                    ),
                })
                .collect(),
            stats: order
                .iter()
                .map(|&i| PscStats {
                    name: cfgs[i].name.clone(),
                    level: cfgs[i].level,
                    ..Default::default()
                })
                .collect(),
            probe_latency: cfgs.iter().map(|c| c.latency as u64).max().unwrap_or(0),
        }
    }

    /// Latency of one probe: the slowest cache (they are probed in parallel); 0 if none.
    pub fn probe_latency(&self) -> u64 {
        self.probe_latency
    }

    /// Per cache (deepest level first): name, level, lookups, hits.
    pub fn stats(&self) -> &[PscStats] {
        &self.stats
    }

    pub fn reset_stats(&mut self) {
        for s in &mut self.stats {
            (s.lookups, s.hits) = (0, 0);
        }
    }

    /// Entries held by `vm` in the cache of host level `level` (0 if none configured).
    pub fn occupancy(&self, level: u8, vm: u16) -> usize {
        let mask = (1u64 << VM_BITS) - 1;
        self.levels
            .iter()
            .filter(|l| l.level == level)
            .map(|l| {
                l.array
                    .iter()
                    .filter(|(k, _)| k & mask == vm as u64)
                    .count()
            })
            .sum()
    }

    /// Probe every cache whose level the host table has for `gpa` of `vm`: counts a
    /// lookup in each, a hit in each that holds it; the deepest hit's table, if any.
    #[inline]
    pub fn lookup<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        host: &H,
    ) -> Option<WalkStart> {
        if !host.has_levels() {
            return None;
        }
        let top = host.levels();
        let mut start = None;
        for (l, st) in self.levels.iter_mut().zip(&mut self.stats) {
            if l.level as usize > top {
                continue;
            }
            let prefix = gpa.0 >> host.level_shift(l.level as usize);
            let set = (prefix & l.array.set_mask()) as usize;
            st.lookups += 1;
            if let Some(node) = l.array.lookup(set, key(prefix, vm)) {
                st.hits += 1;
                start = start.or(Some(WalkStart {
                    level: l.level - 1,
                    node: node as u32,
                }));
            }
        }
        start
    }

    /// Learn the tables a host walk of `gpa` found: each step of a configured level
    /// whose entry points to a table.
    #[inline]
    pub fn fill<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        host: &H,
        walked: &[WalkStep],
    ) {
        if !host.has_levels() {
            return;
        }
        for s in walked {
            if s.next == NO_NODE {
                continue;
            }
            if let Some(l) = self.levels.iter_mut().find(|l| l.level == s.level) {
                let prefix = gpa.0 >> host.level_shift(s.level as usize);
                let set = (prefix & l.array.set_mask()) as usize;
                l.array.insert(set, key(prefix, vm), s.next as u64);
            }
        }
    }

    /// Drop every entry of `vm` (a host-side invalidation: the hypervisor changed or
    /// freed one of its host tables).
    pub fn flush_vm(&mut self, vm: u16) {
        let mask = (1u64 << VM_BITS) - 1;
        for l in &mut self.levels {
            l.array.invalidate_where(|k| k & mask == vm as u64);
        }
    }

    pub fn flush(&mut self) {
        for l in &mut self.levels {
            l.array.flush();
        }
    }
}

/// The host dimension's caches as one [`HostCache`]: an optional nested TLB and the host
/// walk caches, probed in parallel once per host walk. An NTLB hit wins (no host reads);
/// otherwise the deepest walk-cache hit gives the start. Every probe counts in every
/// structure (parallel lookups), whatever wins.
pub struct HostCaches {
    ntlb: Option<NestedTlb>,
    psc: HostPsc,
    /// Probes (host walks attempted) since the last `begin_walk`.
    walk_probes: u32,
    /// Probes in all.
    lookups: u64,
}

impl HostCaches {
    pub fn new(ntlb: Option<NestedTlb>, psc: HostPsc) -> HostCaches {
        HostCaches {
            ntlb,
            psc,
            walk_probes: 0,
            lookups: 0,
        }
    }

    /// Host walks attempted (one parallel probe of the NTLB and every walk cache each)
    /// in the last nested walk: a nested walk resets it when it starts, so the walker
    /// reads it after each walk and charges that many probe latencies.
    pub fn walk_probes(&self) -> u32 {
        self.walk_probes
    }

    /// Probes since construction (or `reset_stats`).
    pub fn lookups(&self) -> u64 {
        self.lookups
    }

    pub fn ntlb(&self) -> Option<&NestedTlb> {
        self.ntlb.as_ref()
    }

    pub fn psc(&self) -> &HostPsc {
        &self.psc
    }

    /// Drop every entry of `vm` in the NTLB and the walk caches.
    pub fn flush_vm(&mut self, vm: u16) {
        if let Some(n) = &mut self.ntlb {
            n.flush_vm(vm);
        }
        self.psc.flush_vm(vm);
    }

    pub fn reset_stats(&mut self) {
        if let Some(n) = &mut self.ntlb {
            (n.hits, n.misses) = (0, 0);
        }
        self.psc.reset_stats();
        self.lookups = 0;
    }
}

impl HostCache for HostCaches {
    #[inline(always)]
    fn begin_walk(&mut self) {
        self.walk_probes = 0;
    }

    #[inline]
    fn lookup<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        host: &H,
    ) -> HostLookup {
        self.walk_probes += 1;
        self.lookups += 1;
        // Both probed (counters and replacement state of each move), then the NTLB wins.
        let full = self.ntlb.as_mut().and_then(|n| n.lookup(vm, gpa));
        let start = self.psc.lookup(vm, gpa, host);
        match (full, start) {
            (Some(t), _) => HostLookup::Translation(t),
            (None, Some(s)) => HostLookup::Start(s),
            (None, None) => HostLookup::Miss,
        }
    }

    #[inline]
    fn fill<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        host: &H,
        walked: &[WalkStep],
        found: Option<Translation>,
    ) {
        if let (Some(n), Some(t)) = (&mut self.ntlb, found) {
            n.fill(vm, gpa, t);
        }
        self.psc.fill(vm, gpa, host, walked);
    }
}
