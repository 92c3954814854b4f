//! Reference-behaviour analysis of a page reference stream: exact LRU and MIN fault
//! functions for every memory size from one pass each, the fully-associative TLB
//! miss curve that the LRU pass gives for free, working-set and VMIN curves, lifetime
//! curves with their knees, and fixed-memory replacement simulation.
//!
//! In: page numbers, from a list, a workload file (one core's stream) or a trace file,
//! compacted once into a [`PageStream`] (dense ids in first-reference order).
//! Out: [`lru::LruAnalysis`] (stack-distance histogram, F(m)), [`opt::OptAnalysis`]
//! (MIN F(m)), and [`report::Report`], which assembles them for `mmusim analyze` as a
//! table, JSON, CSV and SVG.
//!
//! The analyses only ever see the dense ids: a `HashMap` from page number to id is used
//! while the stream is built and dropped afterwards, so the passes index plain arrays.

pub mod assoc;
pub mod assoc_bounded;
pub mod lifetime;
pub mod lru;
pub mod opt;
pub mod opt_stack;
mod output;
pub mod replace;
pub mod report;
pub mod ws;

use crate::addr::PageSize;
use crate::workload::{Access, AccessSource, WorkloadSpec};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// A page reference stream with pages renamed to dense ids `0..distinct` in order of
/// first reference: `ids[t]` is the page referenced at time `t`, `pages[id]` its
/// original page number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageStream {
    pub ids: Vec<u32>,
    pub pages: Vec<u64>,
}

/// A cheap, well-mixing hasher for page numbers (the finaliser of SplitMix64, Steele,
/// Lea and Flood 2014). The default SipHash costs several times more per lookup, and
/// page numbers are not attacker-chosen keys.
#[derive(Default)]
struct PageHasher(u64);

impl Hasher for PageHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Renames pages to dense ids while a stream is built.
#[derive(Default)]
struct Compactor {
    map: HashMap<u64, u32, BuildHasherDefault<PageHasher>>,
    stream: PageStream,
}

impl Compactor {
    #[inline]
    fn push(&mut self, page: u64) -> Result<(), String> {
        let next = self.stream.pages.len();
        let id = match self.map.get(&page) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(next)
                    .ok()
                    .filter(|&i| i < u32::MAX)
                    .ok_or("more than 2^32 - 1 distinct pages")?;
                self.map.insert(page, id);
                self.stream.pages.push(page);
                id
            }
        };
        self.stream.ids.push(id);
        Ok(())
    }
}

impl PageStream {
    /// Compacts a list of page numbers.
    pub fn from_pages(pages: &[u64]) -> PageStream {
        let mut c = Compactor::default();
        c.stream.ids.reserve(pages.len());
        for &p in pages {
            // Fewer than 2^32 - 1 distinct pages whenever the slice is shorter than that.
            c.push(p).expect("distinct pages fit in u32");
        }
        c.stream
    }

    /// Number of references K.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no references.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of distinct pages.
    pub fn distinct(&self) -> usize {
        self.pages.len()
    }

    /// Every access of `src`, page = virtual address >> `shift`. `what` names the
    /// source in errors.
    pub fn from_source(
        src: &mut dyn AccessSource,
        shift: u32,
        what: &str,
    ) -> Result<PageStream, String> {
        Self::from_source_where(src, shift, what, &mut |_, _| true)
    }

    /// The accesses of `src` that `keep(t, access)` takes (`t`: the access's position
    /// in the whole stream), page = virtual address >> `shift`.
    pub fn from_source_where(
        src: &mut dyn AccessSource,
        shift: u32,
        what: &str,
        keep: &mut dyn FnMut(u64, &Access) -> bool,
    ) -> Result<PageStream, String> {
        let mut c = Compactor::default();
        let mut t = 0u64;
        let mut buf: Vec<Access> = Vec::with_capacity(4096);
        loop {
            buf.clear();
            src.fill(&mut buf, 4096).map_err(|e| named(what, e.msg))?;
            if buf.is_empty() {
                break;
            }
            for a in &buf {
                if keep(t, a) {
                    c.push(a.vaddr >> shift)
                        .map_err(|e| format!("{what}: {e}"))?;
                }
                t += 1;
            }
        }
        c.stream.ids.shrink_to_fit();
        Ok(c.stream)
    }

    /// The stream of core `core` of a workload (`dir`: the workload file's folder, where
    /// relative trace paths start), in pages of `page_size`.
    pub fn from_workload(
        spec: &WorkloadSpec,
        dir: &Path,
        core: usize,
        page_size: PageSize,
        what: &str,
    ) -> Result<PageStream, String> {
        let mut src = spec.open(core, dir).map_err(|e| named(what, e.msg))?;
        PageStream::from_source(&mut *src, page_size.shift(), what)
    }

    /// The stream of a trace file in `format` (`Auto`: detected as `mmusim run --trace`
    /// does; `-` reads standard input), in pages of `page_size`.
    pub fn from_trace(
        path: &str,
        format: crate::trace::TraceFormat,
        core: usize,
        page_size: PageSize,
    ) -> Result<PageStream, String> {
        let (spec, dir) = trace_workload(path, format)?;
        PageStream::from_workload(&spec, &dir, core, page_size, path)
    }
}

/// `msg` prefixed with `what`, unless it already starts with it: a trace's own errors
/// name the file (`analyze --trace F`, `-` being `<stdin>` there).
fn named(what: &str, msg: String) -> String {
    let stdin = what == "-" && msg.starts_with("<stdin>:");
    if stdin || msg.starts_with(&format!("{what}:")) {
        msg
    } else {
        format!("{what}: {msg}")
    }
}

/// Loads and validates a workload file; errors read `file:line: key: message`. Also
/// returns the file's folder (relative trace paths start there).
pub fn load_workload(path: &str) -> Result<(WorkloadSpec, PathBuf), String> {
    let text = crate::loader::read_input(Path::new(path)).map_err(|e| e.to_string())?;
    let spec = decode_workload(path, &text)?;
    let dir = Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok((spec, dir))
}

/// The workload `run --trace PATH` builds for a trace (relative to the current folder).
pub fn trace_workload(
    path: &str,
    format: crate::trace::TraceFormat,
) -> Result<(WorkloadSpec, PathBuf), String> {
    let text = crate::run::trace_workload_text(path, format);
    Ok((
        decode_workload(&format!("--trace {path}"), &text)?,
        PathBuf::new(),
    ))
}

fn decode_workload(file: &str, text: &str) -> Result<WorkloadSpec, String> {
    let (spec, src) =
        crate::loader::load::<WorkloadSpec>(file, text, &[]).map_err(|e| e.to_string())?;
    let errs: Vec<String> = spec
        .validate()
        .into_iter()
        .map(|(p, m)| src.error_at(&p, m).to_string())
        .collect();
    if errs.is_empty() {
        Ok(spec)
    } else {
        Err(errs.join("\n"))
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Random reference strings shared by the analysis tests.
    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// A seeded string of `n` references over `pages` pages; `locality` in [0, 1] is the
    /// chance that a reference repeats one of the last few pages (strong locality when
    /// near 1), otherwise it is uniform.
    pub fn string(seed: u64, n: usize, pages: u64, locality: f64) -> Vec<u64> {
        let mut r = Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut out: Vec<u64> = Vec::with_capacity(n);
        let thresh = (locality * (1u64 << 53) as f64) as u64;
        for _ in 0..n {
            let x = r.next_u64();
            let p = if !out.is_empty() && (x >> 11) < thresh {
                let back = (r.next_u64() % 4) as usize + 1;
                out[out.len().saturating_sub(back)]
            } else {
                r.next_u64() % pages
            };
            out.push(p);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_first_reference_order() {
        let s = PageStream::from_pages(&[70, 3, 70, 1 << 40, 3]);
        assert_eq!(s.ids, vec![0, 1, 0, 2, 1]);
        assert_eq!(s.pages, vec![70, 3, 1 << 40]);
        assert_eq!((s.len(), s.distinct()), (5, 3));
    }

    #[test]
    fn workload_stream_uses_the_page_shift() {
        // refs generator: page i at base + i * 4K; in 2M pages, 512 4K pages share one.
        let spec = WorkloadSpec::from_toml(
            "[generator]\nkind = \"refs\"\nrefs = \"0 1 511 512 0 1024\"\n",
        )
        .unwrap();
        let s4 = PageStream::from_workload(&spec, Path::new(""), 0, PageSize::Size4K, "w").unwrap();
        assert_eq!(s4.ids, vec![0, 1, 2, 3, 0, 4]);
        let s2 = PageStream::from_workload(&spec, Path::new(""), 0, PageSize::Size2M, "w").unwrap();
        assert_eq!(s2.ids, vec![0, 0, 0, 1, 0, 2]);
        assert_eq!(s2.pages[0], spec.base >> 21);
    }

    #[test]
    fn a_missing_trace_is_an_error_naming_it() {
        let auto = crate::trace::TraceFormat::Auto;
        let e =
            PageStream::from_trace("/nonexistent/t.mmt", auto, 0, PageSize::Size4K).unwrap_err();
        assert!(e.contains("/nonexistent/t.mmt"), "{e}");
    }
}
