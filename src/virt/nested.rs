//! The two-dimensional (nested) walk: a guest walk whose every entry sits at a
//! guest-physical address the host table must translate, then a host walk of the final
//! guest-physical address.
//!
//! Built on [`Walkable::walk`] of both tables, not a copy of any design's logic: the
//! guest's walk gives the gPA of each entry it reads, in order (it reads its own table
//! functionally, so its steps do not depend on where the host put the pages); each of
//! those gPAs is walked in the host table, whose steps are the host reads at the host
//! table's own physical addresses, and the guest read happens at the hPA that host walk
//! produced. A cold walk of `g` guest reads and `h` host reads per host walk makes
//! `g (h + 1) + h = (g + 1)(h + 1) - 1` references: 24 for 4-level guest and host.
//!
//! What caches the host dimension is a [`HostCache`] (a generic parameter of
//! [`nested_walk_cached`], no `dyn`): probed before each host walk with the VM and the
//! gPA; it answers a host translation with no host reads (a nested TLB hit), a host
//! table to start the host walk in (a host walk-cache hit: the levels above it are not
//! read), or nothing (the walk starts at the host root); each host walk made then fills
//! the cache with its steps and translation. [`nested_walk`] is the uncached walk
//! ([`NoHostCache`]). Nested TLB and host walk caches plug in through the same hook
//! (`ntlb.rs`, `host_psc.rs`), so the loop exists once.
//!
//! Addresses: guest-physical ones are [`GuestPhysAddr`] at this interface (the faults'
//! gPAs, the guest's frame, the cache's key), host-physical ones [`PhysAddr`]. The
//! [`Walkable`] tables keep their native types (`VirtAddr` in, `PhysAddr` out) so every
//! design works in either dimension unchanged; the conversions happen here, at the
//! boundary: a guest table's `PhysAddr` outputs are gPAs, and a host table's `VirtAddr`
//! input is a gPA.
//!
//! No timing here: the walker (`crate::walker::Walker::walk_nested`) prices the
//! references. The caller's [`NestedScratch`] and `refs` are reused, so a walk allocates
//! nothing once they have grown.

use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::pagetable::{Translation, WalkStart, WalkStep, Walkable};

/// What one probe of a [`HostCache`] found for a gPA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostLookup {
    /// The host translation of the page holding the gPA (its hPA frame base and host
    /// page size): no host reads (a nested TLB hit).
    Translation(Translation),
    /// A host table to start the host walk in (a host walk-cache hit at level
    /// `start.level + 1`): the walk reads only the levels from `start.level` down.
    Start(WalkStart),
    /// Nothing: the host walk starts at the host root.
    Miss,
}

/// What caches the host dimension (gPA → hPA) for the nested walk: a nested TLB, host
/// walk caches, or both. Generic methods, no `dyn`: the host table's type is known at
/// each call, so a cache reads its level shifts (`Walkable::level_shift`) from it.
///
/// Per nested walk: `begin_walk` once, then per host walk (each guest entry's gPA, then
/// the final gPA) one `lookup`; unless it returned [`HostLookup::Translation`], the host
/// table is walked (from the returned start, or the root) and `fill` sees the steps of
/// that walk (from its start: the tables it found are the steps with `next != NO_NODE`)
/// and its translation (`None`: the walk ended at a not-present entry, an EPT
/// violation).
pub trait HostCache {
    /// A nested walk starts (a cache counting host walks per nested walk resets here).
    #[inline(always)]
    fn begin_walk(&mut self) {}
    fn lookup<H: Walkable + ?Sized>(&mut self, vm: u16, gpa: GuestPhysAddr, host: &H)
        -> HostLookup;
    fn fill<H: Walkable + ?Sized>(
        &mut self,
        vm: u16,
        gpa: GuestPhysAddr,
        host: &H,
        walked: &[WalkStep],
        found: Option<Translation>,
    );
}

/// No host caching: every host walk reads the host table from its root.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostCache;

impl HostCache for NoHostCache {
    #[inline(always)]
    fn lookup<H: Walkable + ?Sized>(
        &mut self,
        _vm: u16,
        _gpa: GuestPhysAddr,
        _host: &H,
    ) -> HostLookup {
        HostLookup::Miss
    }
    #[inline(always)]
    fn fill<H: Walkable + ?Sized>(
        &mut self,
        _vm: u16,
        _gpa: GuestPhysAddr,
        _host: &H,
        _walked: &[WalkStep],
        _found: Option<Translation>,
    ) {
    }
}

/// A guest's translation as the nested walk sees it: a guest-physical frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestTranslation {
    pub frame: GuestPhysAddr,
    pub size: PageSize,
}

/// Which part of the 2D walk a memory reference belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dimension {
    /// A host-table read of the host walk translating a guest entry's gPA.
    HostForGuestPte,
    /// The guest entry read itself, at the hPA its host walk produced.
    GuestPte,
    /// A host-table read of the host walk of the final gPA (the data's).
    HostForData,
}

/// One memory reference of a nested walk (one cache line read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestedRef {
    pub dim: Dimension,
    /// Guest level the reference serves: the guest entry's level (its host walk's reads
    /// carry it too); 0 for the host walk of the final gPA. Hashed guest designs: 0.
    pub guest_level: u8,
    /// Host level read; 0 for a guest entry read. Hashed host designs: 0.
    pub host_level: u8,
    /// Host-physical address read.
    pub hpa: PhysAddr,
    /// Issue group within its own one-dimensional walk ([`WalkStep::group`]).
    pub group: u8,
    /// The guest step the reference serves, as the walk's stage and the chain within
    /// it: a stage is one issue group of the guest walk (a radix level; a hashed
    /// table's parallel probe of several ways), whose steps are chains that run side by
    /// side (each its host walk, then its guest read); the final gPA's host walk is a
    /// stage of its own. Stages follow one another.
    pub stage: u8,
    pub chain: u8,
}

/// How a nested walk that did not complete ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NestedFault {
    /// The guest table does not map the gVA: a guest page fault, the guest OS's to
    /// handle. `pte_gpa`: gPA of the last guest entry read (the not-present one for a
    /// radix table); its read is among the references.
    Guest { pte_gpa: Option<GuestPhysAddr> },
    /// The host table does not map `gpa`: an EPT violation (a VM exit to the
    /// hypervisor). `guest_level`: level of the guest entry being fetched, 0 when it was
    /// the final gPA. The host reads up to the not-present entry are among the
    /// references; the guest reads after it are not made.
    Host { gpa: GuestPhysAddr, guest_level: u8 },
}

/// What a completed nested walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestedWalk {
    /// The guest's translation: gPA frame and guest page size.
    pub guest: GuestTranslation,
    /// The host's translation of the final gPA: hPA frame and host page size.
    pub host: Translation,
    /// gVA to hPA as one TLB entry: the page of the smaller of the two sizes holding the
    /// gVA, at its host-physical base.
    pub page: Translation,
}

impl NestedWalk {
    /// Host-physical address of `gva` (which must be the walked address).
    pub fn hpa(&self, gva: VirtAddr) -> PhysAddr {
        PhysAddr(self.page.frame.0 + (gva.0 & (self.page.size.bytes() - 1)))
    }
}

/// The one-dimensional walks' step buffers, owned by the caller and reused.
#[derive(Debug, Default)]
pub struct NestedScratch {
    guest: Vec<WalkStep>,
    host: Vec<WalkStep>,
}

impl NestedScratch {
    /// The guest walk's steps of the last nested walk (gPAs of the guest entries read,
    /// the tables they name): what the guest walk caches learn from it.
    pub fn guest_steps(&self) -> &[WalkStep] {
        &self.guest
    }
}

/// The nested walk of `gva` in address space `guest_asid` of `guest` (gVA → gPA), over
/// the host table `host` of VM `vm` (gPA → hPA; `vm` is the host table's address space).
/// The guest walk starts at `guest_start` (a guest walk-cache hit, whose table is named
/// by guest node) or at the root; host walks start at the host root. References are
/// appended to `refs` in issue order (the caller clears it). No host caching: see
/// [`nested_walk_cached`].
#[allow(clippy::too_many_arguments)]
pub fn nested_walk<G: Walkable + ?Sized, H: Walkable + ?Sized>(
    guest: &G,
    guest_asid: u16,
    host: &H,
    vm: u16,
    gva: VirtAddr,
    guest_start: Option<WalkStart>,
    scratch: &mut NestedScratch,
    refs: &mut Vec<NestedRef>,
) -> Result<NestedWalk, NestedFault> {
    nested_walk_cached(
        guest,
        guest_asid,
        host,
        vm,
        gva,
        guest_start,
        &mut NoHostCache,
        scratch,
        refs,
    )
}

/// [`nested_walk`] with `cache` probed before each host walk (each guest entry's gPA,
/// then the final gPA): a full hit makes no host reads, a start hit walks the host table
/// from that table, a miss from the root; every host walk made then fills `cache` with
/// its steps and translation (see [`HostCache`]; what a not-present end fills is the
/// cache's choice: [`super::NestedTlb`] nothing, [`super::HostPsc`] the tables found).
#[allow(clippy::too_many_arguments)]
pub fn nested_walk_cached<G: Walkable + ?Sized, H: Walkable + ?Sized, C: HostCache>(
    guest: &G,
    guest_asid: u16,
    host: &H,
    vm: u16,
    gva: VirtAddr,
    guest_start: Option<WalkStart>,
    cache: &mut C,
    scratch: &mut NestedScratch,
    refs: &mut Vec<NestedRef>,
) -> Result<NestedWalk, NestedFault> {
    let NestedScratch {
        guest: gsteps,
        host: hsteps,
    } = scratch;
    cache.begin_walk();
    gsteps.clear();
    // The guest table is a native `Walkable`: the `PhysAddr`s it gives (entry
    // addresses, frame) are guest-physical, typed as such from here on.
    let gt = guest
        .walk(guest_asid, gva, guest_start, gsteps)
        .map(|t| GuestTranslation {
            frame: GuestPhysAddr(t.frame.0),
            size: t.size,
        });
    // Consecutive guest steps of one group and level are one stage's parallel chains.
    let (mut stage, mut chain) = (0u8, 0u8);
    let mut last = None;
    for s in gsteps.iter() {
        if last == Some((s.group, s.level)) {
            chain = chain.saturating_add(1);
        } else {
            stage = stage.wrapping_add(u8::from(last.is_some()));
            chain = 0;
            last = Some((s.group, s.level));
        }
        let (_, pte_hpa) = host_walk(
            host,
            vm,
            GuestPhysAddr(s.pte_addr.0),
            cache,
            (Dimension::HostForGuestPte, s.level),
            (stage, chain),
            hsteps,
            refs,
        )
        .map_err(|gpa| NestedFault::Host {
            gpa,
            guest_level: s.level,
        })?;
        refs.push(NestedRef {
            dim: Dimension::GuestPte,
            guest_level: s.level,
            host_level: 0,
            hpa: pte_hpa,
            group: s.group,
            stage,
            chain,
        });
    }
    let Some(gt) = gt else {
        return Err(NestedFault::Guest {
            pte_gpa: gsteps.last().map(|s| GuestPhysAddr(s.pte_addr.0)),
        });
    };
    let gpa = gt.frame + gva.offset(gt.size);
    let data_stage = stage.wrapping_add(u8::from(last.is_some()));
    let (ht, hpa) = host_walk(
        host,
        vm,
        gpa,
        cache,
        (Dimension::HostForData, 0),
        (data_stage, 0),
        hsteps,
        refs,
    )
    .map_err(|gpa| NestedFault::Host {
        gpa,
        guest_level: 0,
    })?;
    let size = gt.size.min(ht.size);
    Ok(NestedWalk {
        guest: gt,
        host: ht,
        page: Translation {
            frame: PhysAddr(hpa.0 & !(size.bytes() - 1)),
            size,
        },
    })
}

/// One host walk of `gpa` (or a `cache` hit: no reads, or a walk from a cached table), its reads appended to `refs` as
/// `dim` of `guest_level`. Returns the host translation and the hPA of `gpa`, or `gpa`
/// if not present.
#[allow(clippy::too_many_arguments)]
fn host_walk<H: Walkable + ?Sized, C: HostCache>(
    host: &H,
    vm: u16,
    gpa: GuestPhysAddr,
    cache: &mut C,
    (dim, guest_level): (Dimension, u8),
    (stage, chain): (u8, u8),
    hsteps: &mut Vec<WalkStep>,
    refs: &mut Vec<NestedRef>,
) -> Result<(Translation, PhysAddr), GuestPhysAddr> {
    let start = match cache.lookup(vm, gpa, host) {
        HostLookup::Translation(t) => return Ok((t, t.frame + gpa.offset(t.size))),
        HostLookup::Start(s) => Some(s),
        HostLookup::Miss => None,
    };
    hsteps.clear();
    // The host table is a native `Walkable` too: its input "virtual" address is the gPA.
    let t = host.walk(vm, VirtAddr(gpa.0), start, hsteps);
    refs.extend(hsteps.iter().map(|h| NestedRef {
        dim,
        guest_level,
        host_level: h.level,
        hpa: h.pte_addr,
        group: h.group,
        stage,
        chain,
    }));
    cache.fill(vm, gpa, host, hsteps, t);
    let t = t.ok_or(gpa)?;
    Ok((t, t.frame + gpa.offset(t.size)))
}
