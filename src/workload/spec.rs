//! The workload file: [`WorkloadSpec`] and its [`Generator`] table, decoded from TOML
//! by serde (unknown keys refused), and the semantic checks of
//! [`WorkloadSpec::validate`].
//!
//! In: TOML text or an already-decoded value. Out: the spec, and a list of (dotted key,
//! message) errors; an empty list means the sources of `source.rs` behave as documented.

use super::{EventKind, EventSpec, RefList, MAX_EVENTS, VA_LIMIT};
use crate::addr::{ByteSize, PageSize};
use serde::{Deserialize, Serialize};

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
            self.validate_event(i, e, &mut err);
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

        let fp_valid = self.validate_generator(&mut err);

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

    /// The checks of `[[event]]` number `i` (see [`WorkloadSpec::validate`]).
    fn validate_event(&self, i: usize, e: &EventSpec, mut err: impl FnMut(&str, String)) {
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
            return;
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

    /// The checks of the `[generator]` table (see [`WorkloadSpec::validate`]); returns
    /// whether its footprint is valid.
    fn validate_generator(&self, mut err: impl FnMut(&str, String)) -> bool {
        let fp_err = |fp: u64| -> Option<String> {
            if fp < 4096 || fp % 4096 != 0 {
                Some(format!(
                    "must be at least one page (4096 bytes) and a multiple of 4096 bytes, got {fp}{}",
                    ByteSize(fp).decimal_hint()
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
        fp_valid
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
