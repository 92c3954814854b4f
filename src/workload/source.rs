//! Where a core's accesses come from: the [`AccessSource`] that
//! [`WorkloadSpec::source`] builds for a generator (a [`Stream`] over one of the address
//! generators of `gen.rs`) and the trace files [`WorkloadSpec::open`] opens (capped by a
//! [`Limit`]).
//!
//! In: a spec that [`WorkloadSpec::validate`] accepted, a core index and (for traces) the
//! workload file's folder. Out: a boxed source; each `fill` appends a batch of [`Access`]
//! values to the caller's buffer without allocating per access.

use super::gen::{self, threshold53, AddrGen, ZipfSampler};
use super::{Access, AccessSource, Generator, OsEvent, WorkloadError, WorkloadSpec};
use crate::addr::AccessKind;
use crate::util::{splitmix64, Bijection};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Salts that separate the RNG streams derived from one seed.
const KIND_SALT: u64 = 0x6b69_6e64_5f73_616c; // "kind_sal"
const LAYOUT_SALT: u64 = 0x6c61_796f_7574_5f73; // "layout_s"

impl WorkloadSpec {
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
        self.open_with(core, dir, None)
    }

    /// [`WorkloadSpec::open`], the trace's bytes read from `decoded` when given (already
    /// decoded: [`crate::trace::predecode`]) instead of from the file.
    pub fn open_with(
        &self,
        core: usize,
        dir: &Path,
        decoded: Option<Box<dyn std::io::Read + Send>>,
    ) -> Result<Box<dyn AccessSource>, WorkloadError> {
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
        let src = match decoded {
            Some(d) => crate::trace::open_decoded(&file, d, &opts)?,
            None => crate::trace::open(&file, &opts)?,
        };
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
