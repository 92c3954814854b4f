//! mmusim: a cycle-approximate model of a processor's memory-management unit.
//!
//! Data flow (see `docs/ARCHITECTURE.md`): a workload streams [`workload::Access`]es per
//! core → the engine ([`sim`]) hands the core with the smallest clock its next access →
//! TLB hierarchy ([`tlb`]) → on a miss the page walker ([`walker`]) with its walk caches
//! reads PTEs from the page table ([`pagetable`]) through the caches ([`memory`]) → a
//! not-present entry faults into the OS model ([`os`]) → counters are assembled into a
//! result tree ([`report`]).

pub mod addr;
pub mod analysis;
pub mod assoc;
pub mod compare;
pub mod config;
pub mod explain;
pub mod killpoint;
pub mod loader;
pub mod memory;
pub mod mva;
pub mod os;
pub mod pagetable;
pub mod prefetch;
pub mod progress;
pub mod report;
pub mod run;
pub mod sim;
pub mod stats;
pub mod study;
pub mod svg;
pub mod sweep;
pub mod timeline;
pub mod tlb;
pub mod trace;
pub mod util;
pub mod virt;
pub mod walker;
pub mod workload;

use std::fmt;

/// An error that stops a simulation (out of memory, an inconsistent table, a bad trace).
#[derive(Clone, Debug, PartialEq)]
pub struct SimError(pub String);

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SimError {}
