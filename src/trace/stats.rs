//! A trace's summary: how many records, accesses and translations (page-granular
//! accesses, a page-crossing access counting two) and of which kind, how many distinct
//! pages at each page size, and how soon 4K pages are reused.
//!
//! In: any readable trace (through the same readers as the simulator). Out:
//! [`TraceStats`] (serializable, and a readable table via `Display`). Exact counts;
//! distinct pages are kept in hash sets, so memory grows with the footprint (fine for
//! a statistics tool, unlike the readers themselves).

use super::{open_trace, TraceError, TraceOptions, Wording};
use crate::addr::AccessKind;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;

/// How soon 4K pages are touched again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReuseSummary {
    /// Accesses to a 4K page never touched before.
    pub first_touches: u64,
    /// Accesses to the same 4K page as the access just before.
    pub same_page_as_previous: u64,
    /// Reuse distance histogram: entry `i` counts accesses whose 4K page was last
    /// touched `d` accesses earlier with `2^i <= d < 2^(i+1)` (so entry 0 is `d = 1`,
    /// the same page as the previous access). First touches are not included.
    /// Trailing empty buckets are omitted.
    pub distance_log2: Vec<u64>,
}

/// Counts over a whole trace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TraceStats {
    /// Records of the trace that describe accesses: lines of lackey and text traces
    /// (instruction fetches included, also when they are left out), 64-byte ChampSim
    /// records, `.mmt` records, the page numbers of a `.refs` string.
    pub records: u64,
    /// The memory accesses those records make, before page-crossing ones are split: a
    /// lackey `M` is a load and a store, a ChampSim record its fetch and operands.
    pub accesses: u64,
    /// Page-granular accesses, as `run` simulates them (its `accesses`): an access that
    /// crosses a page is two translations. The kinds below and the footprint and reuse
    /// figures count these.
    pub translations: u64,
    /// What the format's records and accesses are, for the table's labels.
    #[serde(skip)]
    pub wording: Wording,
    /// Sum of the accesses' `instrs`.
    pub instructions: u64,
    pub loads: u64,
    pub stores: u64,
    pub fetches: u64,
    /// Distinct pages touched, by page size.
    pub pages_4k: u64,
    pub pages_2m: u64,
    pub pages_1g: u64,
    pub reuse: ReuseSummary,
}

/// Reads the whole trace at `path` and summarises it.
pub fn stats(path: &Path, opts: &TraceOptions) -> Result<TraceStats, TraceError> {
    let mut src = open_trace(path, opts)?;
    let mut s = TraceStats::default();
    // Index (access number) of each 4K page's latest access.
    let mut last: HashMap<u64, u64> = HashMap::new();
    let mut p2m: HashSet<u64> = HashSet::new();
    let mut p1g: HashSet<u64> = HashSet::new();
    let mut hist = [0u64; 64];
    let mut prev_page = None;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        src.next_batch(&mut buf, 4096)?;
        if buf.is_empty() {
            break;
        }
        for a in &buf {
            let i = s.translations;
            s.translations += 1;
            s.instructions += a.instrs as u64;
            match a.kind {
                AccessKind::Load => s.loads += 1,
                AccessKind::Store => s.stores += 1,
                AccessKind::Fetch => s.fetches += 1,
            }
            let page = a.vaddr >> 12;
            if prev_page == Some(page) {
                s.reuse.same_page_as_previous += 1;
            }
            prev_page = Some(page);
            match last.insert(page, i) {
                None => {
                    s.reuse.first_touches += 1;
                    p2m.insert(a.vaddr >> 21);
                    p1g.insert(a.vaddr >> 30);
                }
                Some(j) => hist[(i - j).ilog2() as usize] += 1,
            }
        }
    }
    let tally = src.tally();
    s.records = tally.records;
    s.accesses = s.translations - tally.crossings;
    s.wording = src.wording();
    s.pages_4k = last.len() as u64;
    s.pages_2m = p2m.len() as u64;
    s.pages_1g = p1g.len() as u64;
    let used = hist.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
    s.reuse.distance_log2 = hist[..used].to_vec();
    Ok(s)
}

/// `part` as a percentage of `whole` (0 when `whole` is 0).
fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

impl fmt::Display for TraceStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.translations;
        writeln!(
            f,
            "records       {:>14}  trace records ({})",
            self.records, self.wording.records
        )?;
        writeln!(
            f,
            "accesses      {:>14}  memory accesses they make ({})",
            self.accesses, self.wording.accesses
        )?;
        let crossing = self.translations - self.accesses;
        writeln!(
            f,
            "translations  {n:>14}  page-granular accesses, as run simulates them ({})",
            match crossing {
                0 => "none crosses a page".to_string(),
                1 => "1 access crosses a page and translates two".to_string(),
                c => format!("{c} accesses cross a page and translate two"),
            }
        )?;
        writeln!(
            f,
            "  loads       {:>14}  {:6.2}%",
            self.loads,
            pct(self.loads, n)
        )?;
        writeln!(
            f,
            "  stores      {:>14}  {:6.2}%",
            self.stores,
            pct(self.stores, n)
        )?;
        writeln!(
            f,
            "  fetches     {:>14}  {:6.2}%",
            self.fetches,
            pct(self.fetches, n)
        )?;
        writeln!(f, "instructions  {:>14}", self.instructions)?;
        writeln!(
            f,
            "pages         {:>14} x 4K ({} MiB)  {} x 2M  {} x 1G",
            self.pages_4k,
            self.pages_4k * 4 / 1024,
            self.pages_2m,
            self.pages_1g
        )?;
        let r = &self.reuse;
        writeln!(
            f,
            "first touches {:>14}  {:6.2}%",
            r.first_touches,
            pct(r.first_touches, n)
        )?;
        writeln!(
            f,
            "same 4K page as the previous access {:6.2}%",
            pct(r.same_page_as_previous, n)
        )?;
        if !r.distance_log2.is_empty() {
            writeln!(
                f,
                "4K-page reuse distance (accesses since the page's last access):"
            )?;
            writeln!(
                f,
                "  {:>24} {:>14} {:>8} {:>8}",
                "distance", "accesses", "%", "cum %"
            )?;
            let mut cum = 0;
            for (i, &c) in r.distance_log2.iter().enumerate() {
                cum += c;
                let lo = 1u64 << i;
                let range = if i == 0 {
                    "1".to_string()
                } else {
                    format!("{lo}-{}", (lo << 1) - 1)
                };
                writeln!(
                    f,
                    "  {range:>24} {c:>14} {:>8.2} {:>8.2}",
                    pct(c, n),
                    pct(cum, n)
                )?;
            }
            writeln!(
                f,
                "  {:>24} {:>14} {:>8.2} {:>8.2}",
                "first touch",
                r.first_touches,
                pct(r.first_touches, n),
                pct(cum + r.first_touches, n)
            )?;
        }
        Ok(())
    }
}
