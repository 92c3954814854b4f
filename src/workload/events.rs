//! OS events in a workload's streams: the `[[event]]` entries of the workload file
//! ([`EventSpec`]: munmap, madvise, fork, mmap, mprotect, exit, migrate, host_migrate)
//! and the page-aligned ranges the engine applies ([`OsEvent`]).
//!
//! In: the decoded [`EventSpec`]s of a [`WorkloadSpec`] (checked by
//! [`WorkloadSpec::validate`]). Out: per core, the events in stream order, each with the
//! number of accesses before it ([`WorkloadSpec::events_for`]).

use super::WorkloadSpec;
use serde::{Deserialize, Serialize};

/// An OS event at a point of a core's stream: `[[event]]` in the workload file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    /// Applied after this many accesses of the stream (0: before the first).
    pub at: u64,
    pub kind: EventKind,
    /// Start of the range: `addr` (a virtual address) or `offset` (from `base`); not
    /// for `fork`.
    #[serde(default)]
    pub addr: Option<u64>,
    #[serde(default)]
    pub offset: Option<crate::addr::ByteSize>,
    #[serde(default)]
    pub len: Option<crate::addr::ByteSize>,
    /// Only this stream's process (default: every stream's). Stream i is process i's
    /// (core i's when there is one process per core); `process` is another name for it.
    #[serde(default, alias = "process")]
    pub core: Option<u32>,
    /// `mprotect`: what the range allows from then on.
    #[serde(default)]
    pub prot: Option<Prot>,
    /// `mmap`: map every page of the range at once (`MAP_POPULATE`) rather than at
    /// first touch.
    #[serde(default)]
    pub populate: Option<bool>,
    /// `fork`: accesses the child runs, from a stream of its own of the same generator
    /// (0 or omitted: the child only holds its pages).
    #[serde(default)]
    pub child_accesses: Option<u64>,
    /// Repeat every this many accesses after `at`, to the end of the stream (a rate
    /// of OS activity for generators; needs `accesses`).
    #[serde(default)]
    pub every: Option<u64>,
}

/// Most events a workload may expand to (`every` with a short period on a long run).
pub const MAX_EVENTS: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Remove every mapping in the range (frames freed, translations invalidated).
    Munmap,
    /// `madvise(MADV_HUGEPAGE)`: the range may take huge pages under
    /// `os.huge_pages.policy = "madvise"`.
    Madvise,
    /// `fork()`: a child process shares every page copy-on-write; the first store of
    /// either to a page still shared copies it. The child runs on the parent's core.
    Fork,
    /// `mmap()` of an anonymous range (`MAP_FIXED`: what was mapped there goes first):
    /// huge pages then fit only inside mapped ranges, and `populate` maps it at once.
    Mmap,
    /// `mprotect()`: the range allows only `prot` from then on; lowering rights drops
    /// the range's translations from the TLBs.
    Mprotect,
    /// `exit()`: the process ends here; its pages, tables and TLB entries go.
    Exit,
    /// Page migration (NUMA balancing, compaction): every mapped page of the range
    /// moves to a new frame (copied, remapped, its old translation invalidated).
    Migrate,
    /// A virtualized machine's host migrates the host pages backing the range's guest
    /// pages (host NUMA balancing or compaction of guest memory): the guest's mappings
    /// stay, the host table's change, and every vCPU of the VM drops its cached
    /// translations (a host-initiated flush).
    #[serde(rename = "host_migrate")]
    HostMigrate,
}

impl EventKind {
    /// The kind as the workload file and the trace name it.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Munmap => "munmap",
            EventKind::Madvise => "madvise",
            EventKind::Fork => "fork",
            EventKind::Mmap => "mmap",
            EventKind::Mprotect => "mprotect",
            EventKind::Exit => "exit",
            EventKind::Migrate => "migrate",
            EventKind::HostMigrate => "host_migrate",
        }
    }
}

/// Access rights of an `mprotect` event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Prot {
    /// `PROT_NONE`: every access traps.
    None,
    /// `PROT_READ`: stores trap.
    R,
    /// `PROT_READ | PROT_WRITE`.
    #[default]
    Rw,
}

/// An event as the engine applies it: a page-aligned range of one address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OsEvent {
    pub kind: EventKind,
    pub start: u64,
    pub end: u64,
    /// `mprotect`: the new rights.
    pub prot: Prot,
    /// `mmap`: populate the range now.
    pub populate: bool,
    /// `fork`: accesses of the child's stream.
    pub child_accesses: u64,
}

impl OsEvent {
    /// An event of `kind` over [start, end), other fields at their defaults.
    pub fn new(kind: EventKind, start: u64, end: u64) -> OsEvent {
        OsEvent {
            kind,
            start,
            end,
            prot: Prot::Rw,
            populate: false,
            child_accesses: 0,
        }
    }
}

impl WorkloadSpec {
    /// Core `core`'s events as (accesses before it, event), in stream order.
    pub fn events_for(&self, core: usize) -> Vec<(u64, OsEvent)> {
        let mut v: Vec<(u64, OsEvent)> = self
            .events
            .iter()
            .filter(|e| e.core.is_none_or(|c| c as usize == core))
            .flat_map(|e| {
                let start = e
                    .addr
                    .unwrap_or_else(|| self.base + e.offset.map_or(0, |o| o.0));
                let ev = OsEvent {
                    prot: e.prot.unwrap_or_default(),
                    populate: e.populate.unwrap_or(false),
                    child_accesses: e.child_accesses.unwrap_or(0),
                    ..OsEvent::new(
                        e.kind,
                        start & !0xfff,
                        (start + e.len.map_or(0, |l| l.0)).div_ceil(4096) * 4096,
                    )
                };
                let n = self.accesses_per_core();
                let at: Vec<u64> = match e.every {
                    Some(p) if p > 0 && e.at < n => (e.at..n).step_by(p as usize).collect(),
                    _ => vec![e.at],
                };
                at.into_iter().map(move |a| (a, ev))
            })
            .collect();
        // Stable: events at the same point keep the file's order.
        v.sort_by_key(|e| e.0);
        v
    }
}
