//! Axis ticks: "nice" steps for linear axes, the data's own values (or 1-2-5 per decade)
//! for log axes, number labels in one format per axis, and thinning so that labels keep
//! a gap between them.

/// A step of 1, 2 or 5 times a power of ten, at least `range / target`.
pub(crate) fn nice_step(range: f64, target: usize) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag)
}

/// A "nice" axis maximum and tick step covering `max` (about five steps).
pub(crate) fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let step = nice_step(max, 5);
    // The tolerance keeps a maximum that is a step multiple up to rounding (0.2 x 1.5)
    // from gaining a whole extra step.
    (((max / step) - 1e-9).ceil() * step, step)
}

/// Tick values `k * step` in `[lo, hi]`, computed by multiplication (no drift).
pub(crate) fn linear_ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            // -0 prints as "-0".
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// Ticks of a log axis over `[lo, hi]` (data units, > 0): the distinct data values when
/// there are few (a sweep over 512..4096 shows 512 1024 2048 4096), otherwise 1, 2 and 5
/// times each power of ten in range.
pub(crate) fn log_ticks(xs: &[f64], lo: f64, hi: f64) -> Vec<f64> {
    let mut d: Vec<f64> = xs
        .iter()
        .copied()
        .filter(|x| x.is_finite() && *x > 0.0)
        .collect();
    d.sort_by(f64::total_cmp);
    d.dedup();
    if (2..=24).contains(&d.len()) {
        return d;
    }
    let mut out = Vec::new();
    for e in lo.log10().floor() as i32..=hi.log10().ceil() as i32 {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(e);
            if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                out.push(v);
            }
        }
    }
    if out.len() < 2 {
        out = vec![lo, hi];
    }
    out
}

/// Labels for evenly spaced ticks: one scale (k, M, G) and one number of decimals for
/// the whole axis, so 0.0M 0.5M 1.0M line up and read alike.
pub(crate) fn step_labels(ticks: &[f64], step: f64) -> Vec<String> {
    let top = ticks.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (scale, suffix) = scale_of(top);
    let decimals = if step > 0.0 {
        (-(step / scale).log10() - 1e-9).ceil().clamp(0.0, 6.0) as usize
    } else {
        0
    };
    ticks
        .iter()
        .map(|&v| {
            if v == 0.0 {
                "0".to_string()
            } else {
                format!("{:.decimals$}{suffix}", v / scale)
            }
        })
        .collect()
}

fn scale_of(top: f64) -> (f64, &'static str) {
    if top >= 1e9 {
        (1e9, "G")
    } else if top >= 1e6 {
        (1e6, "M")
    } else if top >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    }
}

/// A single number, short: integers below a million as they are (4096), larger ones
/// with a suffix (2.5M), others with up to three significant decimals (0.0283).
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let a = v.abs();
    if a >= 1e6 {
        let (scale, suffix) = scale_of(a);
        return format!("{}{suffix}", trim(format!("{:.3}", v / scale)));
    }
    if v == v.round() {
        return format!("{v:.0}");
    }
    let digits = (2 - a.log10().floor() as i32).clamp(0, 8) as usize;
    trim(format!("{v:.digits$}"))
}

fn trim(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Which ticks keep their label: every k-th for the smallest k whose labels keep `gap`
/// pixels between neighbours (`centres` in pixels along the axis, `sizes` the labels'
/// extent along it). The last tick is kept when it fits with the one before it.
pub(crate) fn thin(centres: &[f64], sizes: &[f64], gap: f64) -> Vec<bool> {
    let n = centres.len();
    let fits =
        |i: usize, j: usize| (centres[j] - centres[i]).abs() >= (sizes[i] + sizes[j]) / 2.0 + gap;
    let k = (1..=n.max(1))
        .find(|&k| (k..n).step_by(k).all(|j| fits(j - k, j)))
        .unwrap_or(n.max(1));
    let mut keep: Vec<bool> = (0..n).map(|i| i % k == 0).collect();
    if n > 1 && !keep[n - 1] {
        let prev = (0..n - 1).rev().find(|&i| keep[i]).expect("tick 0 is kept");
        if fits(prev, n - 1) {
            keep[n - 1] = true;
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_covers_the_maximum_with_round_steps() {
        assert_eq!(nice_axis(7.3), (8.0, 2.0));
        assert_eq!(nice_axis(1000.0), (1000.0, 200.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
        assert!((nice_axis(0.2 * 1.5).0 - 0.3).abs() < 1e-12);
        assert_eq!(linear_ticks(0.8, 1.0, 0.05).len(), 5);
    }

    #[test]
    fn log_ticks_are_the_data_values_or_one_two_five() {
        let xs = [512.0, 1024.0, 2048.0, 4096.0, 1024.0];
        assert_eq!(
            log_ticks(&xs, 512.0, 4096.0),
            vec![512.0, 1024.0, 2048.0, 4096.0]
        );
        let many: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            log_ticks(&many, 1.0, 100.0),
            vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
        );
    }

    #[test]
    fn labels_share_a_format() {
        assert_eq!(
            step_labels(&[0.0, 500_000.0, 1_000_000.0], 500_000.0),
            vec!["0", "0.5M", "1.0M"]
        );
        assert_eq!(
            step_labels(&[0.8, 0.85, 0.9], 0.05),
            vec!["0.80", "0.85", "0.90"]
        );
        assert_eq!(step_labels(&[0.0, 20.0, 40.0], 20.0), vec!["0", "20", "40"]);
        assert_eq!(number(4096.0), "4096");
        assert_eq!(number(2_500_000.0), "2.5M");
        assert_eq!(number(0.028329), "0.0283");
        assert_eq!(number(4.59), "4.59");
    }

    #[test]
    fn thinning_keeps_every_kth_label() {
        // Labels 30 px wide every 20 px: every second one fits (40 >= 30 + 6).
        let c: Vec<f64> = (0..7).map(|i| 20.0 * i as f64).collect();
        let keep = thin(&c, &[30.0; 7], 6.0);
        assert_eq!(keep, vec![true, false, true, false, true, false, true]);
        assert_eq!(thin(&c, &[10.0; 7], 6.0), vec![true; 7]);
    }
}
