//! Synthetic workloads: where the simulated cores' memory accesses come from.
//!
//! Owns the workload file format ([`WorkloadSpec`], decoded from TOML with
//! serde and checked by [`WorkloadSpec::validate`]), the address generators
//! ([`Generator`]: sequential, strided, uniform, Zipf, hot/cold, pointer chase
//! and explicit page reference strings) and the stream interface the simulator
//! pulls from ([`AccessSource`]).
//!
//! In: a spec (TOML text or an already-decoded value) and a core index.
//! Out: per core, a deterministic stream of [`Access`] values (virtual address,
//! load/store, instructions retired since the previous access), delivered in
//! batches into a caller-owned buffer. This module knows nothing of TLBs, page
//! tables or timing; it never sees a physical address.
//!
//! Determinism: every random choice comes from `Xoshiro256PlusPlus` seeded from
//! `(seed, core)` through SplitMix64, so one spec always produces the same
//! streams, and different cores get independent ones. Layout choices that
//! describe the *data* rather than the *access stream* (which Zipf granule is
//! hot, the pointer-chase list order) depend only on `seed`, so all cores see
//! the same data structure. Load/store decisions use their own RNG stream so that
//! changing `write_fraction` does not change the address sequence.
//!
//! Files: this one holds the stream interface ([`Access`], [`AccessSource`],
//! [`WorkloadError`]); `spec.rs` the file format and its checks; `events.rs` the OS
//! events; `refs.rs` the `refs` list and its string form; `source.rs` the sources built
//! from a spec; `gen.rs` the address generators they wrap.

mod events;
mod gen;
mod refs;
mod source;
mod spec;

pub use events::{EventKind, EventSpec, OsEvent, Prot, MAX_EVENTS};
pub use gen::ZipfSampler;
pub use refs::{RefList, MAX_REFS};
pub use spec::{Generator, WorkloadSpec};

use crate::addr::AccessKind;
use std::fmt;

/// One memory reference issued by a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub vaddr: u64,
    pub kind: AccessKind,
    /// Instructions retired since the previous access, including this one (>= 1).
    pub instrs: u32,
}

/// A failure while producing accesses (e.g. a trace file that cannot be read).
/// The synthetic generators here never fail; the type exists so that file-backed
/// sources can share the trait.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadError {
    pub msg: String,
}

impl fmt::Display for WorkloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for WorkloadError {}

/// A batched source of accesses for one core. Batch-level dynamic dispatch is
/// fine; the per-access path must not allocate.
pub trait AccessSource: Send {
    /// Append up to `max` accesses to `buf` (caller clears it). Appending nothing
    /// means the stream has ended.
    fn fill(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), WorkloadError>;

    /// Moves the OS events met so far (event lines of a text trace) to `out`, each with
    /// its stream position (the number of accesses before it). Called after `fill`.
    fn take_events(&mut self, _out: &mut Vec<(u64, OsEvent)>) {}
}

/// Largest virtual address (exclusive) any generated access may reach: 57-bit
/// (5-level paging) address space.
pub const VA_LIMIT: u64 = 1 << 57;

#[cfg(test)]
mod tests;
