//! Virtualized translation (issue 18): guests whose page tables map guest-virtual to
//! guest-physical addresses, over a host table (EPT/NPT, stage 2) mapping guest-physical
//! to host-physical addresses.
//!
//! What virt will own: the two-dimensional walk (`nested.rs`, here now, with its
//! [`HostCache`] hook, a nested TLB, `ntlb.rs`, and host walk caches, `host_psc.rs`,
//! combined with the NTLB as [`HostCaches`]), then the `[virt]`
//! config section (VMs, vCPUs, host table design), the hypervisor's OS model (backing
//! guest-physical memory with host frames on demand, EPT violations, VM exits by cause),
//! the caches of the 2D walk that are not plain TLBs (nested TLB, VM-tagged walk caches),
//! shadow paging (`shadow.rs`: per-address-space gVA → hPA tables the native walker
//! walks, and the hypervisor's exits and updates that keep them) and virtual IPIs. The plan is `docs/VIRTUALIZATION.md`.
//!
//! In: a guest table and a host table, each any [`crate::pagetable::Walkable`] design,
//! and a guest-virtual address. Out: the ordered memory references of the nested walk
//! ([`NestedRef`]: dimension, guest and host level, host-physical address), and either
//! the gVA's host-physical page (the smaller of the guest's and the host's page) or which
//! dimension faulted at which guest-physical address ([`NestedFault`]).
//!
//! Nothing here is wired into the engine, walker or config yet: the walk is a pure
//! function over two tables, with the caller's scratch buffers, so that the walker can
//! call it per access without allocating.

pub mod host;
pub mod host_psc;
pub mod hypervisor;
pub mod nested;
pub mod ntlb;
pub mod shadow;
pub mod vipi;

pub use host::HostTable;
pub use host_psc::{HostCaches, HostPsc};
pub use hypervisor::{HostFault, Hypervisor, VirtStats, VM};
pub use nested::{
    nested_walk, nested_walk_cached, Dimension, GuestTranslation, HostCache, HostLookup,
    NestedFault, NestedRef, NestedScratch, NestedWalk, NoHostCache,
};
pub use ntlb::NestedTlb;
pub use shadow::{Intercept, ShadowStats};

#[cfg(test)]
mod host_psc_tests;
#[cfg(test)]
mod ntlb_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vipi_tests;
