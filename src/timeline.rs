//! The TLB hit rate of a run over time (`mmusim run --timeline W`).
//!
//! In: each core's cumulative counters at the end of every window of `W` accesses
//! (recorded by the engine, [`crate::sim::TimelinePoint`]; the window count starts after
//! warm-up, like every other statistic). Out: one row per core and window, as
//! `timeline.csv` and as `timeline.svg` (the level-1 and the overall TLB hit rate
//! against the access number, one pair of lines per core). The windows of a core sum to
//! that core's totals in `result.json`.

use crate::sim::TimelinePoint;
use crate::svg::{LineChart, Series};
use std::fmt::Write as _;

/// One window of one core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    pub core: usize,
    /// 0-based window number.
    pub window: u64,
    /// Number (0-based, counted after warm-up) of the window's first access.
    pub first_access: u64,
    pub accesses: u64,
    pub l1_hits: u64,
    /// Hits at TLB level 2; `None` when the TLBs have one level.
    pub l2_hits: Option<u64>,
    /// Hits at any TLB level.
    pub tlb_hits: u64,
    pub walks: u64,
    pub translation_cycles: u64,
    pub cycles: u64,
    /// Page faults (minor and major) in the window.
    pub faults: u64,
    /// Resident memory of the core's address space at the window's end.
    pub resident_bytes: u64,
}

impl Window {
    /// L1 hits per access.
    pub fn l1_hit_rate(&self) -> f64 {
        ratio(self.l1_hits, self.accesses)
    }
    /// Level-2 hits per level-1 miss (the local hit rate of the second level); `None`
    /// without a second level or without level-1 misses.
    pub fn l2_hit_rate(&self) -> Option<f64> {
        let misses = self.accesses - self.l1_hits;
        self.l2_hits
            .filter(|_| misses > 0)
            .map(|h| ratio(h, misses))
    }
    /// Accesses that found their translation in some TLB level, per access.
    pub fn tlb_hit_rate(&self) -> f64 {
        ratio(self.tlb_hits, self.accesses)
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The most windows a core records: past it, its windows become twice as wide (the
/// run says so), so a timeline's memory and `timeline.csv` stay bounded (72 bytes a
/// point: 4.7 MB a core) whatever the window asked for.
pub const MAX_WINDOWS: usize = 1 << 16;

/// The most points a series of `timeline.svg` or `memory.svg` draws: beyond it,
/// consecutive windows are drawn merged (their counts summed), so a plot stays a few
/// hundred kilobytes.
pub const MAX_PLOTTED: usize = 2000;

/// Every window of every core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeline {
    /// Accesses per window.
    pub window: u64,
    /// The window asked for: smaller than `window` when there were more than
    /// [`MAX_WINDOWS`] windows.
    pub asked: u64,
    pub rows: Vec<Window>,
}

impl Timeline {
    /// Windows from each core's cumulative points (`points[core]`, in order). `has_l2`:
    /// whether the TLBs have a second level.
    pub fn from_points(window: u64, has_l2: bool, points: &[Vec<TimelinePoint>]) -> Timeline {
        let mut rows = Vec::new();
        for (core, pts) in points.iter().enumerate() {
            let mut prev = TimelinePoint::default();
            for (i, p) in pts.iter().enumerate() {
                rows.push(Window {
                    core,
                    window: i as u64,
                    first_access: prev.accesses,
                    accesses: p.accesses - prev.accesses,
                    l1_hits: p.l1_hits - prev.l1_hits,
                    l2_hits: has_l2.then(|| p.l2_hits - prev.l2_hits),
                    tlb_hits: p.tlb_hits - prev.tlb_hits,
                    walks: p.walks - prev.walks,
                    translation_cycles: p.translation_cycles - prev.translation_cycles,
                    cycles: p.cycles - prev.cycles,
                    faults: p.faults - prev.faults,
                    resident_bytes: p.resident_bytes,
                });
                prev = *p;
            }
        }
        Timeline {
            window,
            asked: window,
            rows,
        }
    }

    /// One row per core and window. The columns after `cycles` give the counts behind
    /// the rates and the overall hit rate; an undefined rate is left empty.
    pub fn to_csv(&self) -> String {
        let mut s = String::from(
            "core,window,first_access,accesses,l1_hit_rate,l2_hit_rate,walks,translation_cycles,cycles,tlb_hit_rate,l1_hits,l2_hits,tlb_hits,faults,resident_bytes\n",
        );
        for r in &self.rows {
            let _ = writeln!(
                s,
                "{},{},{},{},{:.6},{},{},{},{},{:.6},{},{},{},{},{}",
                r.core,
                r.window,
                r.first_access,
                r.accesses,
                r.l1_hit_rate(),
                r.l2_hit_rate().map_or(String::new(), |x| format!("{x:.6}")),
                r.walks,
                r.translation_cycles,
                r.cycles,
                r.tlb_hit_rate(),
                r.l1_hits,
                r.l2_hits.map_or(String::new(), |x| x.to_string()),
                r.tlb_hits,
                r.faults,
                r.resident_bytes,
            );
        }
        s
    }

    /// The level-1 and overall TLB hit rate of each window against the access number
    /// (a step: the rate holds over its window), one pair of lines per core.
    pub fn to_svg(&self, title: &str) -> String {
        let cores = self.rows.iter().map(|r| r.core + 1).max().unwrap_or(0);
        let mut series = Vec::new();
        let mut width = self.window;
        for c in 0..cores {
            let (merged, k) = self.plotted(c);
            width = width.max(self.window * k);
            let rows: Vec<&Window> = merged.iter().collect();
            let line = |f: &dyn Fn(&Window) -> f64| {
                let mut pts: Vec<(f64, f64)> =
                    rows.iter().map(|r| (r.first_access as f64, f(r))).collect();
                // The last window's rate holds to its end.
                if let Some(r) = rows.last() {
                    pts.push(((r.first_access + r.accesses) as f64, f(r)));
                }
                pts
            };
            let who = if cores > 1 {
                format!("core {c}: ")
            } else {
                String::new()
            };
            series.push(Series {
                name: format!("{who}L1 TLB"),
                points: line(&|r| r.l1_hit_rate()),
                step: true,
                ..Default::default()
            });
            series.push(Series {
                name: format!("{who}all TLB levels"),
                points: line(&|r| r.tlb_hit_rate()),
                step: true,
                dashed: true,
                ..Default::default()
            });
        }
        LineChart {
            title: title.to_string(),
            x_label: format!("access (windows of {width})"),
            y_label: "TLB hit rate".into(),
            series,
            y_max: Some(1.0),
            ..Default::default()
        }
        .to_svg()
    }
}

impl Timeline {
    /// Core `core`'s windows as plotted: every `k` consecutive windows merged into one
    /// (counts summed, the resident memory of the last), `k` the smallest that leaves
    /// at most [`MAX_PLOTTED`]; and `k`.
    fn plotted(&self, core: usize) -> (Vec<Window>, u64) {
        let rows: Vec<&Window> = self.rows.iter().filter(|r| r.core == core).collect();
        let k = rows.len().div_ceil(MAX_PLOTTED).max(1);
        let merged = rows
            .chunks(k)
            .map(|g| {
                let mut m = g[0].clone();
                for w in &g[1..] {
                    m.accesses += w.accesses;
                    m.l1_hits += w.l1_hits;
                    m.l2_hits = m.l2_hits.zip(w.l2_hits).map(|(a, b)| a + b);
                    m.tlb_hits += w.tlb_hits;
                    m.walks += w.walks;
                    m.translation_cycles += w.translation_cycles;
                    m.cycles += w.cycles;
                    m.faults += w.faults;
                    m.resident_bytes = w.resident_bytes;
                }
                m
            })
            .collect();
        (merged, k as u64)
    }

    /// Resident memory (MiB) of each core's address space at the end of each window,
    /// against the access number: memory in use over time.
    pub fn memory_svg(&self, title: &str) -> String {
        let cores = self.rows.iter().map(|r| r.core + 1).max().unwrap_or(0);
        let series = (0..cores)
            .map(|c| {
                let mut points = vec![(0.0, 0.0)];
                points.extend(self.plotted(c).0.iter().map(|r| {
                    (
                        (r.first_access + r.accesses) as f64,
                        r.resident_bytes as f64 / (1u64 << 20) as f64,
                    )
                }));
                Series {
                    name: if cores > 1 {
                        format!("core {c}")
                    } else {
                        "resident memory".into()
                    },
                    points,
                    ..Default::default()
                }
            })
            .collect();
        LineChart {
            title: title.to_string(),
            x_label: format!("access (windows of {})", self.window),
            y_label: "resident memory (MiB)".into(),
            series,
            ..Default::default()
        }
        .to_svg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(accesses: u64, l1: u64, l2: u64, walks: u64) -> TimelinePoint {
        TimelinePoint {
            accesses,
            l1_hits: l1,
            l2_hits: l2,
            tlb_hits: l1 + l2,
            walks,
            translation_cycles: 10 * walks,
            cycles: accesses + 10 * walks,
            faults: walks,
            resident_bytes: 4096 * walks,
        }
    }

    /// 4,001 windows plot as 1,334 merged ones of 3 (the last of 2): counts summed, so
    /// a merged rate is the rate of its accesses; resident memory is the last window's.
    #[test]
    fn plots_merge_consecutive_windows_beyond_the_maximum() {
        // Window i (1-based): 10 accesses, i % 2 L1 hits, i walks.
        let mut pts = Vec::new();
        let (mut l1, mut walks) = (0, 0);
        for i in 1..=4001u64 {
            l1 += i % 2;
            walks += i;
            pts.push(pt(10 * i, l1, 0, walks));
        }
        let t = Timeline::from_points(10, true, &[pts]);
        let (m, k) = t.plotted(0);
        assert_eq!((m.len(), k), (1334, 3));
        // Windows 1, 2, 3: 30 accesses, 2 L1 hits, 6 walks, resident of window 3.
        assert_eq!(
            (m[0].first_access, m[0].accesses, m[0].l1_hits, m[0].walks),
            (0, 30, 2, 6)
        );
        assert_eq!(m[0].resident_bytes, 4096 * 6);
        // The last: windows 4000 and 4001.
        let last = m.last().unwrap();
        assert_eq!(
            (last.first_access, last.accesses, last.walks),
            (39990, 20, 8001)
        );
        // Few windows: drawn as they are.
        let few = Timeline::from_points(10, true, &[vec![pt(10, 1, 0, 1)]]);
        assert_eq!(few.plotted(0), (few.rows.clone(), 1));
    }

    #[test]
    fn windows_are_differences_of_cumulative_points() {
        // Window 0: 4 accesses, 3 L1 hits, 1 L2 hit; window 1 (partial): 2 accesses,
        // no L1 hit, 1 L2 hit, 1 walk.
        let t = Timeline::from_points(4, true, &[vec![pt(4, 3, 1, 0), pt(6, 3, 2, 1)]]);
        assert_eq!(t.rows.len(), 2);
        let w = &t.rows[1];
        assert_eq!(
            (w.first_access, w.accesses, w.l1_hits, w.l2_hits, w.walks),
            (4, 2, 0, Some(1), 1)
        );
        assert_eq!(w.l2_hit_rate(), Some(0.5));
        assert_eq!(t.rows[0].l2_hit_rate(), Some(1.0));
        let csv = t.to_csv();
        assert_eq!(
            csv.lines().nth(2).unwrap(),
            "0,1,4,2,0.000000,0.500000,1,10,12,0.500000,0,1,1,1,4096"
        );
        // No second level: its columns stay empty.
        let one = Timeline::from_points(4, false, &[vec![pt(4, 4, 0, 0)]]);
        assert_eq!(
            one.to_csv().lines().nth(1).unwrap(),
            "0,0,0,4,1.000000,,0,0,4,1.000000,4,,4,0,0"
        );
        assert!(one.to_svg("t").starts_with("<svg"));
        // The origin, then two windows ending at 4 and 6 accesses: a line of 3 points.
        let svg = t.memory_svg("m");
        let d = svg
            .split("<path d=\"")
            .map(|x| &x[..x.find('"').unwrap_or(0)])
            .find(|d| d.starts_with('M') && d.contains('L'))
            .expect("the series line");
        assert_eq!(d.matches('L').count(), 2, "{d}");
    }
}
