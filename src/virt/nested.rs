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
//! Not wired into the walker yet (`docs/VIRTUALIZATION.md` has the plan): no walk caches,
//! no nested TLB, no timing. The caller's [`NestedScratch`] and `refs` are reused, so a
//! walk allocates nothing once they have grown.

use crate::addr::{PhysAddr, VirtAddr};
use crate::pagetable::{Translation, WalkStart, WalkStep, Walkable};

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
    Guest { pte_gpa: Option<PhysAddr> },
    /// The host table does not map `gpa`: an EPT violation (a VM exit to the
    /// hypervisor). `guest_level`: level of the guest entry being fetched, 0 when it was
    /// the final gPA. The host reads up to the not-present entry are among the
    /// references; the guest reads after it are not made.
    Host { gpa: PhysAddr, guest_level: u8 },
}

/// What a completed nested walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NestedWalk {
    /// The guest's translation: gPA frame and guest page size.
    pub guest: Translation,
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

/// The nested walk of `gva` in address space `guest_asid` of `guest` (gVA → gPA), over
/// the host table `host` of VM `vm` (gPA → hPA; `vm` is the host table's address space).
/// The guest walk starts at `guest_start` (a guest walk-cache hit, whose table is named
/// by guest node) or at the root; host walks start at the host root. References are
/// appended to `refs` in issue order (the caller clears it).
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
    let NestedScratch {
        guest: gsteps,
        host: hsteps,
    } = scratch;
    gsteps.clear();
    let gt = guest.walk(guest_asid, gva, guest_start, gsteps);
    for s in gsteps.iter() {
        let (_, pte_hpa) = host_walk(
            host,
            vm,
            s.pte_addr,
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
            pte_gpa: gsteps.last().map(|s| s.pte_addr),
        });
    };
    let gpa = PhysAddr(gt.frame.0 + (gva.0 & (gt.size.bytes() - 1)));
    let (ht, hpa) =
        host_walk(host, vm, gpa, Dimension::HostForData, 0, hsteps, refs).map_err(|gpa| {
            NestedFault::Host {
                gpa,
                guest_level: 0,
            }
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

/// One host walk of `gpa`, its reads appended to `refs` as `dim` of `guest_level`.
/// Returns the host translation and the hPA of `gpa`, or `gpa` if not present.
fn host_walk<H: Walkable + ?Sized>(
    host: &H,
    vm: u16,
    gpa: PhysAddr,
    dim: Dimension,
    guest_level: u8,
    hsteps: &mut Vec<WalkStep>,
    refs: &mut Vec<NestedRef>,
) -> Result<(Translation, PhysAddr), PhysAddr> {
    hsteps.clear();
    let t = host.walk(vm, VirtAddr(gpa.0), None, hsteps);
    refs.extend(hsteps.iter().map(|h| NestedRef {
        dim,
        guest_level,
        host_level: h.level,
        hpa: h.pte_addr,
        group: h.group,
    }));
    let t = t.ok_or(gpa)?;
    Ok((t, PhysAddr(t.frame.0 + (gpa.0 & (t.size.bytes() - 1)))))
}
