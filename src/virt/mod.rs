//! Virtualized translation (`[virt]`, issue 18): guests whose page tables map
//! guest-virtual to guest-physical addresses, over a host table (EPT/NPT, stage 2)
//! mapping guest-physical to host-physical addresses. The plan and status are in
//! `docs/VIRTUALIZATION.md`.
//!
//! What virt owns, one file each: the two-dimensional walk (`nested.rs`, a pure function
//! over a guest and a host [`crate::pagetable::Walkable`] with the [`HostCache`] hook);
//! what caches the host dimension (`ntlb.rs`, a nested TLB; `host_psc.rs`, host walk
//! caches, combined as [`HostCaches`]); the host table over the host designs (`host.rs`);
//! the hypervisor's OS model (`hypervisor.rs`: guest-physical memory backed on demand,
//! EPT violations, VM-exit counters, host-initiated flushes); shadow paging (`shadow.rs`:
//! per-address-space gVA → hPA tables the native walker walks, and the exits and
//! updates that keep them); the timing of guest shootdowns between vCPUs and of host
//! flushes (`vipi.rs`).
//!
//! In: the `[virt]` config, a guest table and a guest-virtual address (from the walker,
//! `crate::walker::Walker::walk_nested`, and the miss paths `sim/nested.rs`,
//! `sim/shadow.rs`), a shootdown's targets (`sim/vcpu.rs`). Out: the ordered memory
//! references of a nested walk ([`NestedRef`]) and the gVA's host-physical page, or
//! which dimension faulted at which guest-physical address ([`NestedFault`]); the
//! hypervisor's costs as values ([`HostFault`], `vipi::VipiOutcome`).

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
