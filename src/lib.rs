//! mmusim: a cycle-approximate model of a processor's memory-management unit.
//!
//! See `docs/ARCHITECTURE.md` for the data flow and the module map.

pub mod addr;
pub mod workload;
