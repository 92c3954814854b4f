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
//! gPA; a hit gives the host translation with no host reads (a nested TLB hit), a miss
//! walks the host table and fills the cache. [`nested_walk`] is the uncached walk
//! ([`NoHostCache`]). Later host walk caches plug in through the same hook, so the loop
//! exists once.
//!
//! Addresses: guest-physical ones are [`GuestPhysAddr`] at this interface (the faults'
//! gPAs, the guest's frame, the cache's key), host-physical ones [`PhysAddr`]. The
//! [`Walkable`] tables keep their native types (`VirtAddr` in, `PhysAddr` out) so every
//! design works in either dimension unchanged; the conversions happen here, at the
//! boundary: a guest table's `PhysAddr` outputs are gPAs, and a host table's `VirtAddr`
//! input is a gPA.
//!
//! Not wired into the walker yet (`docs/VIRTUALIZATION.md` has the plan): no timing. The
//! caller's [`NestedScratch`] and `refs` are reused, so a walk allocates nothing once
//! they have grown.

use crate::addr::{GuestPhysAddr, PageSize, PhysAddr, VirtAddr};
use crate::pagetable::{Translation, WalkStart, WalkStep, Walkable};

/// What caches host translations (gPA → hPA) for the nested walk: a nested TLB, later
/// host walk caches. `lookup` before each host walk: `Some` is the host translation of
/// the page holding `gpa` (its hPA frame base and host page size), taken with no host
/// reads; `None` makes the walk read the host table and then `fill` with what it found.
pub trait HostCache {
    fn lookup(&mut self, vm: u16, gpa: GuestPhysAddr) -> Option<Translation>;
    fn fill(&mut self, vm: u16, gpa: GuestPhysAddr, host: Translation);
}

/// No host caching: every host walk reads the host table.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHostCache;

impl HostCache for NoHostCache {
    #[inline(always)]
    fn lookup(&mut self, _vm: u16, _gpa: GuestPhysAddr) -> Option<Translation> {
        None
    }
    #[inline(always)]
    fn fill(&mut self, _vm: u16, _gpa: GuestPhysAddr, _host: Translation) {}
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
/// then the final gPA): a hit makes no host reads, a miss walks the host table and fills
/// `cache`. A host walk that ends not present fills nothing.
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
    gsteps.clear();
    // The guest table is a native `Walkable`: the `PhysAddr`s it gives (entry
    // addresses, frame) are guest-physical, typed as such from here on.
    let gt = guest
        .walk(guest_asid, gva, guest_start, gsteps)
        .map(|t| GuestTranslation {
            frame: GuestPhysAddr(t.frame.0),
            size: t.size,
        });
    for s in gsteps.iter() {
        let (_, pte_hpa) = host_walk(
            host,
            vm,
            GuestPhysAddr(s.pte_addr.0),
            cache,
            Dimension::HostForGuestPte,
            s.level,
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
        });
    }
    let Some(gt) = gt else {
        return Err(NestedFault::Guest {
            pte_gpa: gsteps.last().map(|s| GuestPhysAddr(s.pte_addr.0)),
        });
    };
    let gpa = gt.frame + gva.offset(gt.size);
    let (ht, hpa) = host_walk(
        host,
        vm,
        gpa,
        cache,
        Dimension::HostForData,
        0,
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

/// One host walk of `gpa` (or a `cache` hit, no reads), its reads appended to `refs` as
/// `dim` of `guest_level`. Returns the host translation and the hPA of `gpa`, or `gpa`
/// if not present.
#[allow(clippy::too_many_arguments)]
fn host_walk<H: Walkable + ?Sized, C: HostCache>(
    host: &H,
    vm: u16,
    gpa: GuestPhysAddr,
    cache: &mut C,
    dim: Dimension,
    guest_level: u8,
    hsteps: &mut Vec<WalkStep>,
    refs: &mut Vec<NestedRef>,
) -> Result<(Translation, PhysAddr), GuestPhysAddr> {
    if let Some(t) = cache.lookup(vm, gpa) {
        return Ok((t, t.frame + gpa.offset(t.size)));
    }
    hsteps.clear();
    // The host table is a native `Walkable` too: its input "virtual" address is the gPA.
    let t = host.walk(vm, VirtAddr(gpa.0), None, hsteps);
    refs.extend(hsteps.iter().map(|h| NestedRef {
        dim,
        guest_level,
        host_level: h.level,
        hpa: h.pte_addr,
        group: h.group,
    }));
    let t = t.ok_or(gpa)?;
    cache.fill(vm, gpa, t);
    Ok((t, t.frame + gpa.offset(t.size)))
}
