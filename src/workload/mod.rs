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

mod gen;

pub use gen::ZipfSampler;

use crate::addr::{AccessKind, ByteSize, PageSize};
use crate::util::{splitmix64, Bijection};
use gen::{threshold53, AddrGen};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// Upper bound on the expanded length of a `refs` string; a typo such as
/// `(1 2)x1000000000000` must produce an error, not exhaust memory. Longer
/// streams are made by setting `accesses`, which repeats the list.
pub const MAX_REFS: usize = 1 << 24;

fn default_name() -> String {
    "workload".to_string()
}
fn default_one() -> u32 {
    1
}
fn default_base() -> u64 {
    0x10_0000_0000
}
fn default_64() -> u64 {
    64
}
fn default_4096() -> u64 {
    4096
}
fn default_true() -> bool {
    true
}
fn default_page_size() -> PageSize {
    PageSize::Size4K
}

/// The workload file (TOML); unknown keys are refused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSpec {
    #[serde(default = "default_name")]
    pub name: String,
    /// Accesses per core. 0 (or omitted) means "natural length", which only
    /// `refs` has (one pass over the list); every other generator requires it.
    #[serde(default)]
    pub accesses: u64,
    /// Share of accesses that are stores (the rest are loads), in `[0, 1]`.
    #[serde(default)]
    pub write_fraction: f64,
    #[serde(default = "default_one")]
    pub instrs_per_access: u32,
    #[serde(default)]
    pub seed: u64,
    /// Virtual base address of the footprint; must be 1 GiB aligned so that no
    /// generator accidentally straddles a large-page boundary at its start.
    #[serde(default = "default_base")]
    pub base: u64,
    pub generator: Generator,
    /// OS events in the streams (`[[event]]`), each after a number of accesses.
    #[serde(default, rename = "event", skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventSpec>,
}

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

/// How addresses are generated; the TOML table `[generator]` with `kind = "..."`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Generator {
    /// `base, base+stride, …`, restarting at `base` when the offset reaches the
    /// footprint.
    Sequential {
        footprint: ByteSize,
        #[serde(default = "default_64")]
        stride: u64,
    },
    /// Like `Sequential`, but the stride must be given (e.g. 4096 = one access
    /// per page).
    Strided { footprint: ByteSize, stride: u64 },
    /// Uniformly random 8-byte-aligned address in `[base, base+footprint)`.
    Uniform { footprint: ByteSize },
    /// Granule of rank `r` (1..=n, n = footprint/granule) drawn with
    /// `P ∝ r^-exponent`; ranks are scattered over the footprint by a seeded
    /// bijection, and the offset inside the granule is uniform (8-aligned).
    Zipf {
        footprint: ByteSize,
        exponent: f64,
        #[serde(default = "default_4096")]
        granule: u64,
    },
    /// The first `hot_fraction` of the footprint receives `hot_access_fraction`
    /// of the accesses; uniform inside each region.
    HotCold {
        footprint: ByteSize,
        hot_fraction: f64,
        hot_access_fraction: f64,
    },
    /// Visits each of the `footprint/node_size` nodes exactly once per lap in a
    /// fixed seeded pseudo-random order, then repeats the same lap.
    PointerChase {
        footprint: ByteSize,
        #[serde(default = "default_64")]
        node_size: u64,
    },
    /// Accesses read from trace files (see `crate::trace` for the formats): `path` for
    /// one trace that every core reads from its start, or `paths` with one trace per
    /// core. Relative paths are relative to the workload file. `accesses` (if not 0)
    /// caps what each core reads; `write_fraction`, `instrs_per_access`, `seed` and
    /// `base` do not apply.
    Trace {
        #[serde(default)]
        path: Option<String>,
        #[serde(default)]
        paths: Vec<String>,
        #[serde(default)]
        format: crate::trace::TraceFormat,
        /// Instruction fetches go through the instruction-side TLBs (else they are
        /// only counted).
        #[serde(default = "default_true")]
        fetches: bool,
    },
    /// Explicit page reference string: access `i` touches page `refs[i]`, i.e.
    /// `base + refs[i] * page_size`. Repeats if `accesses` exceeds its length.
    Refs {
        refs: RefList,
        #[serde(default = "default_page_size")]
        page_size: PageSize,
    },
}

impl Generator {
    /// The generator's footprint in bytes (for `refs`: up to the end of the
    /// highest page referenced; `None` if that does not fit in 64 bits).
    pub fn footprint(&self) -> Option<u64> {
        match self {
            Generator::Sequential { footprint, .. }
            | Generator::Strided { footprint, .. }
            | Generator::Uniform { footprint }
            | Generator::Zipf { footprint, .. }
            | Generator::HotCold { footprint, .. }
            | Generator::PointerChase { footprint, .. } => Some(footprint.0),
            Generator::Refs { refs, page_size } => refs.0.iter().max().map_or(Some(0), |&m| {
                m.checked_add(1)?.checked_mul(page_size.bytes())
            }),
            // Unknown until the trace is read; the simulator checks every address.
            Generator::Trace { .. } => None,
        }
    }
}

/// A page reference string.
///
/// Deserializes from an array of integers (`[1, 2, 3]`) or from a string of
/// decimal page numbers separated by whitespace and/or commas, with a
/// run-length shorthand: `"(1 2 3)x20 4 5x3"` repeats the parenthesised group
/// 20 times and `5` three times. Groups nest. Serializes as the expanded array.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RefList(pub Vec<u64>);

impl RefList {
    /// Parses the string form (see the type's documentation).
    pub fn parse(s: &str) -> Result<RefList, String> {
        let mut p = RefParser {
            s: s.as_bytes(),
            i: 0,
        };
        let mut out = Vec::new();
        p.list(&mut out, 0)?;
        Ok(RefList(out))
    }
}

/// Recursive-descent parser for the `refs` string form:
/// `list := item*`, `item := (number | "(" list ")") ["x" count]`.
struct RefParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl RefParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip(&mut self, commas: bool) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() || (commas && c == b',') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn number(&mut self) -> Result<u64, String> {
        let start = self.i;
        let mut v: u64 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .ok_or_else(|| format!("number at position {start} does not fit in 64 bits"))?;
            self.i += 1;
        }
        if self.i == start {
            return Err(format!("expected a number at position {start}"));
        }
        Ok(v)
    }

    /// Parses items until end of input (depth 0) or the matching `)`.
    fn list(&mut self, out: &mut Vec<u64>, depth: usize) -> Result<(), String> {
        loop {
            self.skip(true);
            let start = out.len();
            match self.peek() {
                None if depth == 0 => return Ok(()),
                None => return Err("unclosed `(`".to_string()),
                Some(b')') if depth > 0 => {
                    self.i += 1;
                    return Ok(());
                }
                Some(b')') => return Err(format!("unmatched `)` at position {}", self.i)),
                Some(b'(') => {
                    if depth >= 32 {
                        return Err("groups nested more than 32 deep".to_string());
                    }
                    self.i += 1;
                    self.list(out, depth + 1)?;
                }
                Some(c) if c.is_ascii_digit() => {
                    let v = self.number()?;
                    out.push(v);
                }
                Some(c) => {
                    return Err(format!(
                        "unexpected `{}` at position {} (expected page numbers, `(…)xN` groups, spaces or commas)",
                        c as char, self.i
                    ))
                }
            }
            // Optional repetition suffix, `x` or `*`, spaces allowed around it.
            let save = self.i;
            self.skip(false);
            if matches!(self.peek(), Some(b'x' | b'X' | b'*')) {
                self.i += 1;
                self.skip(false);
                let count = self.number()?;
                let len = out.len() - start;
                let total = usize::try_from(count)
                    .ok()
                    .and_then(|c| c.checked_mul(len))
                    .and_then(|t| t.checked_add(start))
                    .filter(|&t| t <= MAX_REFS)
                    .ok_or_else(|| {
                        format!("repetition at position {save} expands beyond {MAX_REFS} references (use `accesses` to repeat the whole list)")
                    })?;
                if count == 0 {
                    out.truncate(start);
                } else {
                    for _ in 1..count {
                        out.extend_from_within(start..start + len);
                    }
                }
                debug_assert_eq!(out.len(), total);
            } else {
                self.i = save;
            }
            if out.len() > MAX_REFS {
                return Err(format!("more than {MAX_REFS} references"));
            }
        }
    }
}

impl Serialize for RefList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RefList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RefList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array of page numbers or a string such as \"(1 2 3)x10 4 5\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RefList, E> {
                RefList::parse(v).map_err(E::custom)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<RefList, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(MAX_REFS));
                while let Some(v) = a.next_element::<u64>()? {
                    if out.len() >= MAX_REFS {
                        return Err(serde::de::Error::custom(format!(
                            "more than {MAX_REFS} references"
                        )));
                    }
                    out.push(v);
                }
                Ok(RefList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// Salts that separate the RNG streams derived from one seed.
const KIND_SALT: u64 = 0x6b69_6e64_5f73_616c; // "kind_sal"
const LAYOUT_SALT: u64 = 0x6c61_796f_7574_5f73; // "layout_s"

impl WorkloadSpec {
    /// Decodes a spec from TOML text. The error is serde/toml's message; the
    /// project's config loader adds file and line context.
    pub fn from_toml(text: &str) -> Result<WorkloadSpec, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Number of accesses each core's stream delivers.
    pub fn accesses_per_core(&self) -> u64 {
        match &self.generator {
            Generator::Refs { refs, .. } if self.accesses == 0 => refs.0.len() as u64,
            Generator::Refs { refs, .. } if refs.0.is_empty() => 0,
            _ => self.accesses,
        }
    }

    /// Semantic checks; each error is (dotted key path, message). Pure, and never
    /// panics: an empty result means [`WorkloadSpec::source`] will behave as
    /// documented.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut errs: Vec<(String, String)> = Vec::new();
        let mut err = |k: &str, m: String| errs.push((k.to_string(), m));

        let is_refs = matches!(self.generator, Generator::Refs { .. });
        let is_trace = matches!(self.generator, Generator::Trace { .. });
        if self.accesses == 0 && !is_refs && !is_trace {
            err(
                "accesses",
                "must be at least 1 (only the `refs` generator has a natural length)".into(),
            );
        }
        if !(0.0..=1.0).contains(&self.write_fraction) {
            err(
                "write_fraction",
                format!("must be between 0 and 1, got {}", self.write_fraction),
            );
        }
        if self.instrs_per_access == 0 || self.instrs_per_access > 1_000_000 {
            err("instrs_per_access", "must be from 1 to 1000000".into());
        }
        for (i, e) in self.events.iter().enumerate() {
            let k = |f: &str| format!("event[{i}].{f}");
            if let Some(p) = e.every {
                let n = self.accesses_per_core();
                if p == 0 {
                    err(&k("every"), "must be at least 1 access".into());
                } else if n == 0 {
                    err(
                        &k("every"),
                        "repeats to the end of the stream, so it needs `accesses`".into(),
                    );
                } else if n.saturating_sub(e.at) / p > MAX_EVENTS {
                    err(
                        &k("every"),
                        format!(
                            "{} repeats; at most {MAX_EVENTS} events (make the period longer)",
                            n.saturating_sub(e.at) / p
                        ),
                    );
                }
            }
            // Keys that belong to one kind only.
            for (key, given, kind) in [
                ("prot", e.prot.is_some(), EventKind::Mprotect),
                ("populate", e.populate.is_some(), EventKind::Mmap),
                (
                    "child_accesses",
                    e.child_accesses.is_some(),
                    EventKind::Fork,
                ),
            ] {
                if given && e.kind != kind {
                    err(
                        &k(key),
                        format!("belongs to kind = \"{}\" only", kind.name()),
                    );
                }
            }
            if e.kind == EventKind::Mprotect && e.prot.is_none() {
                err(
                    &k("prot"),
                    "an mprotect needs the new rights: \"none\", \"r\" or \"rw\"".into(),
                );
            }
            if e.child_accesses.is_some_and(|n| n > 0)
                && matches!(self.generator, Generator::Trace { .. })
            {
                err(
                    &k("child_accesses"),
                    "a forked child's stream comes from a generator; a trace has no stream for it"
                        .into(),
                );
            }
            if matches!(e.kind, EventKind::Fork | EventKind::Exit) {
                if e.addr.is_some() || e.offset.is_some() || e.len.is_some() {
                    err(
                        &format!("event[{i}]"),
                        format!("{} takes no range (addr, offset, len)", e.kind.name()),
                    );
                }
                continue;
            }
            match (e.addr, e.offset) {
                (Some(_), Some(_)) | (None, None) => err(
                    &format!("event[{i}]"),
                    "give the range's start as exactly one of `addr` and `offset`".into(),
                ),
                _ => {}
            }
            let start = e
                .addr
                .unwrap_or_else(|| self.base.saturating_add(e.offset.map_or(0, |o| o.0)));
            match e.len {
                None => err(&k("len"), "a range needs its length".into()),
                Some(l) if l.0 == 0 => err(&k("len"), "must be at least 1 byte".into()),
                Some(l) if start.checked_add(l.0).is_none_or(|end| end > VA_LIMIT) => err(
                    &k("len"),
                    format!(
                        "the range {start:#x} + {} leaves the 57-bit address space",
                        l.0
                    ),
                ),
                _ => {}
            }
        }
        let base_ok = if self.base % (1 << 30) != 0 {
            err(
                "base",
                format!(
                    "must be aligned to 1 GiB (0x40000000), got {:#x}",
                    self.base
                ),
            );
            false
        } else if self.base >= VA_LIMIT {
            err(
                "base",
                format!(
                    "{:#x} is outside the 57-bit virtual address space (< {VA_LIMIT:#x})",
                    self.base
                ),
            );
            false
        } else {
            true
        };

        let fp_err = |fp: u64| -> Option<String> {
            if fp < 4096 || fp % 4096 != 0 {
                Some(format!(
                    "must be at least one page (4096 bytes) and a multiple of 4096 bytes, got {fp}"
                ))
            } else {
                None
            }
        };
        let fraction_ok = |x: f64| (0.0..=1.0).contains(&x);

        let mut fp_valid = false;
        match &self.generator {
            Generator::Sequential { footprint, stride }
            | Generator::Strided { footprint, stride } => {
                fp_valid = check_fp(&mut err, fp_err(footprint.0));
                if *stride == 0 || *stride > footprint.0 {
                    err(
                        "generator.stride",
                        format!(
                            "must be between 1 and the footprint ({} bytes), got {stride}",
                            footprint.0
                        ),
                    );
                }
            }
            Generator::Uniform { footprint } => {
                fp_valid = check_fp(&mut err, fp_err(footprint.0));
            }
            Generator::Zipf {
                footprint,
                exponent,
                granule,
            } => {
                fp_valid = check_fp(&mut err, fp_err(footprint.0));
                if !(exponent.is_finite() && *exponent > 0.0) {
                    err(
                        "generator.exponent",
                        format!("must be a finite number greater than 0, got {exponent}"),
                    );
                }
                if !granule.is_power_of_two() || *granule < 8 || *granule > footprint.0 {
                    err(
                        "generator.granule",
                        format!(
                            "must be a power of two, at least 8 and at most the footprint ({} bytes), got {granule}",
                            footprint.0
                        ),
                    );
                }
            }
            Generator::HotCold {
                footprint,
                hot_fraction,
                hot_access_fraction,
            } => {
                fp_valid = check_fp(&mut err, fp_err(footprint.0));
                if !(*hot_fraction > 0.0 && *hot_fraction < 1.0) {
                    err(
                        "generator.hot_fraction",
                        format!("must be strictly between 0 and 1, got {hot_fraction}"),
                    );
                }
                if !fraction_ok(*hot_access_fraction) {
                    err(
                        "generator.hot_access_fraction",
                        format!("must be between 0 and 1, got {hot_access_fraction}"),
                    );
                }
            }
            Generator::PointerChase {
                footprint,
                node_size,
            } => {
                fp_valid = check_fp(&mut err, fp_err(footprint.0));
                if *node_size < 8 || footprint.0 % node_size != 0 {
                    err(
                        "generator.node_size",
                        format!(
                            "must be at least 8 and divide the footprint ({} bytes), got {node_size}",
                            footprint.0
                        ),
                    );
                }
            }
            Generator::Refs { refs, .. } => {
                if refs.0.is_empty() {
                    err("generator.refs", "must list at least one page".into());
                }
            }
            Generator::Trace { path, paths, .. } => match (path, paths.is_empty()) {
                (Some(_), false) => err(
                    "generator.paths",
                    "give either `path` (one trace for all cores) or `paths` (one per core), not both".into(),
                ),
                (None, true) => err(
                    "generator",
                    "a trace workload needs `path` or `paths`".into(),
                ),
                _ => {}
            },
        }

        // The footprint must fit above `base` inside the 57-bit address space.
        if base_ok {
            let key = if is_refs {
                "generator.refs"
            } else {
                "generator.footprint"
            };
            let check = (fp_valid || is_refs) && !is_trace;
            if check {
                let end = self
                    .generator
                    .footprint()
                    .and_then(|fp| self.base.checked_add(fp));
                if end.is_none_or(|e| e > VA_LIMIT) {
                    err(
                        key,
                        format!(
                            "base ({:#x}) + footprint exceeds the 57-bit virtual address space ({VA_LIMIT:#x})",
                            self.base
                        ),
                    );
                }
            }
        }
        errs
    }

    /// The access stream for core `core`. Each core draws from an independent
    /// RNG stream derived from `(seed, core)`; the result is deterministic.
    ///
    /// Expects a spec that [`WorkloadSpec::validate`] accepted. On an invalid
    /// spec it still neither panics nor hangs (degenerate values are clamped),
    /// but the stream is unspecified.
    pub fn source(&self, core: usize) -> Box<dyn AccessSource> {
        let core_seed =
            splitmix64(splitmix64(self.seed) ^ (core as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let layout_seed = splitmix64(self.seed ^ LAYOUT_SALT);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(core_seed);
        let common = Common {
            remaining: self.accesses_per_core(),
            instrs: self.instrs_per_access.max(1),
            store_thresh: threshold53(self.write_fraction),
            kind_rng: Xoshiro256PlusPlus::seed_from_u64(core_seed ^ KIND_SALT),
        };
        let base = self.base;
        match &self.generator {
            Generator::Sequential { footprint, stride }
            | Generator::Strided { footprint, stride } => Box::new(Stream {
                common,
                gen: gen::Sequential {
                    base,
                    off: 0,
                    stride: *stride,
                    footprint: footprint.0,
                },
            }),
            Generator::Uniform { footprint } => Box::new(Stream {
                common,
                gen: gen::Uniform {
                    base,
                    words: footprint.0 / 8,
                    rng,
                },
            }),
            Generator::Zipf {
                footprint,
                exponent,
                granule,
            } => {
                let g = (*granule).max(1);
                let n = (footprint.0 / g).max(1);
                Box::new(Stream {
                    common,
                    gen: gen::Zipf {
                        base,
                        granule: g,
                        granule_words: g / 8,
                        sampler: ZipfSampler::new(n, *exponent),
                        perm: Bijection::new(n, layout_seed),
                        rng,
                    },
                })
            }
            Generator::HotCold {
                footprint,
                hot_fraction,
                hot_access_fraction,
            } => {
                // Region boundary on an 8-byte word, each region at least one word.
                let words = footprint.0 / 8;
                let hot_words = ((words as f64 * hot_fraction) as u64)
                    .min(words.saturating_sub(1))
                    .max(1);
                Box::new(Stream {
                    common,
                    gen: gen::HotCold {
                        base,
                        hot_words,
                        cold_words: words.saturating_sub(hot_words).max(1),
                        hot_thresh: threshold53(*hot_access_fraction),
                        rng,
                    },
                })
            }
            Generator::PointerChase {
                footprint,
                node_size,
            } => {
                let n = footprint.0.checked_div(*node_size).unwrap_or(0).max(1);
                // All cores walk the same list (layout seed) but start at
                // different, per-core random points of the lap.
                let start = gen::below(rng.next_u64(), n);
                Box::new(Stream {
                    common,
                    gen: gen::PointerChase {
                        base,
                        node_size: *node_size,
                        n,
                        i: start,
                        perm: Bijection::new(n, layout_seed),
                    },
                })
            }
            Generator::Refs { refs, page_size } => Box::new(Stream {
                common,
                gen: gen::Refs {
                    base,
                    shift: page_size.shift(),
                    refs: Arc::from(refs.0.as_slice()),
                    i: 0,
                },
            }),
            Generator::Trace { .. } => Box::new(Unopened),
        }
    }

    /// The access stream for core `core`, opening trace files (relative paths against
    /// `dir`, the workload file's folder). Generators never fail here; traces fail when
    /// a file cannot be opened or its format not recognised.
    pub fn open(&self, core: usize, dir: &Path) -> Result<Box<dyn AccessSource>, WorkloadError> {
        let Generator::Trace {
            path,
            paths,
            format,
            fetches,
        } = &self.generator
        else {
            return Ok(self.source(core));
        };
        let name = match (path, paths.get(core)) {
            (Some(p), _) => p,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(WorkloadError {
                    msg: format!("no trace for core {core}: `paths` lists {}", paths.len()),
                })
            }
        };
        let file = if name == "-" || Path::new(name).is_absolute() {
            PathBuf::from(name)
        } else {
            dir.join(name)
        };
        let opts = crate::trace::TraceOptions {
            format: *format,
            fetches: *fetches,
            ..Default::default()
        };
        let src = crate::trace::open(&file, &opts)?;
        Ok(if self.accesses > 0 {
            Box::new(Limit {
                inner: src,
                left: self.accesses,
            })
        } else {
            src
        })
    }
}

/// What `source` gives for a trace workload: trace files are opened by `open`.
struct Unopened;

impl AccessSource for Unopened {
    fn fill(&mut self, _buf: &mut Vec<Access>, _max: usize) -> Result<(), WorkloadError> {
        Err(WorkloadError {
            msg: "trace workloads are opened with WorkloadSpec::open".into(),
        })
    }
}

/// At most `left` more accesses of `inner`.
struct Limit {
    inner: Box<dyn AccessSource>,
    left: u64,
}

impl AccessSource for Limit {
    fn fill(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), WorkloadError> {
        if self.left == 0 {
            return Ok(());
        }
        let before = buf.len();
        self.inner
            .fill(buf, max.min(self.left.min(usize::MAX as u64) as usize))?;
        self.left -= (buf.len() - before) as u64;
        Ok(())
    }

    fn take_events(&mut self, out: &mut Vec<(u64, OsEvent)>) {
        self.inner.take_events(out);
    }
}

/// Records a footprint error, if any; returns whether the footprint is valid.
fn check_fp(err: &mut impl FnMut(&str, String), e: Option<String>) -> bool {
    match e {
        Some(m) => {
            err("generator.footprint", m);
            false
        }
        None => true,
    }
}

/// State shared by every generator's stream: how many accesses remain, and how
/// loads and stores are chosen.
struct Common {
    remaining: u64,
    instrs: u32,
    /// Store iff `(kind_rng.next_u64() >> 11) < store_thresh`.
    store_thresh: u64,
    kind_rng: Xoshiro256PlusPlus,
}

/// An [`AccessSource`] wrapping one generator. Generic rather than boxed so that
/// the batch loop inlines the generator: the only dynamic call is `fill`.
struct Stream<G> {
    common: Common,
    gen: G,
}

impl<G: AddrGen> AccessSource for Stream<G> {
    fn fill(&mut self, buf: &mut Vec<Access>, max: usize) -> Result<(), WorkloadError> {
        let c = &mut self.common;
        let n = (max as u64).min(c.remaining) as usize;
        c.remaining -= n as u64;
        let instrs = c.instrs;
        let gen = &mut self.gen;
        // `extend` over a `Range` map is a trusted-length iterator: one capacity
        // check per batch instead of one per access. The all-load / all-store
        // cases skip the kind RNG entirely.
        match c.store_thresh {
            0 => buf.extend((0..n).map(|_| Access {
                vaddr: gen.next_addr(),
                kind: AccessKind::Load,
                instrs,
            })),
            t if t >= 1 << 53 => buf.extend((0..n).map(|_| Access {
                vaddr: gen.next_addr(),
                kind: AccessKind::Store,
                instrs,
            })),
            t => {
                let rng = &mut c.kind_rng;
                buf.extend((0..n).map(|_| {
                    let vaddr = gen.next_addr();
                    let kind = if (rng.next_u64() >> 11) < t {
                        AccessKind::Store
                    } else {
                        AccessKind::Load
                    };
                    Access {
                        vaddr,
                        kind,
                        instrs,
                    }
                }))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
