//! Shared statistics helpers: a latency histogram with exact percentiles.
//!
//! Counters themselves live with the component that counts them (each owns a plain
//! `Default + Clone + Serialize` struct); the simulator assembles them into one tree.

use serde::Serialize;

/// Exact histogram of small integer latencies (one bucket per cycle up to `LIMIT - 1`,
/// then one overflow bucket). Allocated once per core, so recording never allocates.
///
/// A sample costs its bucket and the sum (it is recorded on every page walk): the
/// count is the buckets' sum and the maximum the last bucket in use, found when a
/// report asks; only a sample past the last bucket keeps its value (`over_max`).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// A fixed-size array: a recorded value's bucket is clamped to `LIMIT`, so its
    /// index needs no bounds check.
    buckets: Box<[u64; LIMIT + 1]>,
    sum: u64,
    /// The largest sample of the overflow bucket (0 while it is empty).
    over_max: u64,
}

const LIMIT: usize = 16384;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            // Made on the heap: the array itself would be built on the stack first.
            buckets: (vec![0; LIMIT + 1].into_boxed_slice().try_into()).expect("LIMIT + 1 buckets"),
            sum: 0,
            over_max: 0,
        }
    }
}

/// What a histogram reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub count: u64,
    /// Sum of all samples.
    pub total: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Histogram {
    #[inline(always)]
    pub fn record(&mut self, v: u64) {
        self.sum += v;
        if v < LIMIT as u64 {
            self.buckets[v as usize] += 1;
        } else {
            self.record_over(v);
        }
    }

    /// A sample past the last bucket (out of line: latencies that long are rare).
    #[cold]
    #[inline(never)]
    fn record_over(&mut self, v: u64) {
        self.buckets[LIMIT] += 1;
        self.over_max = self.over_max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The largest sample (0 if none).
    pub fn max(&self) -> u64 {
        match self.buckets[LIMIT] {
            0 => self.buckets.iter().rposition(|&n| n > 0).unwrap_or(0) as u64,
            _ => self.over_max,
        }
    }

    /// Smallest value v such that at least `q` of the samples are <= v (nearest-rank).
    /// Values past the last bucket report the maximum seen.
    pub fn percentile(&self, q: f64) -> u64 {
        let count = self.count();
        if count == 0 {
            return 0;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for (v, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return if v == LIMIT { self.over_max } else { v as u64 };
            }
        }
        self.over_max
    }

    pub fn merge(&mut self, o: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(o.buckets.iter()) {
            *a += b;
        }
        self.sum += o.sum;
        self.over_max = self.over_max.max(o.over_max);
    }

    pub fn summary(&self) -> Summary {
        let count = self.count();
        Summary {
            count,
            total: self.sum,
            mean: if count == 0 {
                0.0
            } else {
                self.sum as f64 / count as f64
            },
            p50: self.percentile(0.50),
            p90: self.percentile(0.90),
            p99: self.percentile(0.99),
            max: self.max(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut h = Histogram::default();
        for v in 1..=100 {
            h.record(v);
        }
        let s = h.summary();
        assert_eq!((s.p50, s.p90, s.p99, s.max), (50, 90, 99, 100));
        assert!((s.mean - 50.5).abs() < 1e-12);
        assert_eq!((s.count, s.total), (100, 5050));
        h.record(1 << 40);
        h.record(LIMIT as u64 + 3);
        assert_eq!(h.percentile(1.0), 1 << 40);
        let s = h.summary();
        assert_eq!((s.count, s.max), (102, 1 << 40));
        // Merged, the same as recorded into one.
        let mut m = Histogram::default();
        m.merge(&h);
        m.merge(&h);
        assert_eq!(
            (m.count(), m.max(), m.summary().total),
            (204, 1 << 40, 2 * s.total)
        );
        assert_eq!(Histogram::default().summary(), Summary::default());
    }
}
