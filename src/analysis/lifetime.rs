//! Lifetime curves and their knees (Belady and Kuehner 1969; Denning and Kahn 1975).
//!
//! In: K and a fault curve given as points (memory, faults): memory m for fixed-space
//! policies (LRU, MIN), mean memory m(T) for variable-space ones (WS, VMIN).
//! Out: the lifetime curve L(x) = K / F(x), the mean number of references between faults,
//! its knee, and an SVG of several lifetime curves with their knees marked.
//!
//! The knee is the point of maximum L(x)/x: where a ray from the origin touches the curve
//! (Denning 1980, "Working sets past and present"). It minimises F(x) * x, so it is the
//! memory size at which a program's space-time per fault is best; the knee criterion for
//! load control sets each partition there.

use crate::svg::{LineChart, Marker, Series};

/// The lifetime curve of K references: (x, K / F) for each point, in the given order.
/// Points with zero faults (infinite lifetime) are left out.
pub fn lifetime(k: u64, points: &[(f64, u64)]) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|&&(_, f)| f > 0)
        .map(|&(x, f)| (x, k as f64 / f as f64))
        .collect()
}

/// The knee: the point of maximum L(x)/x, the smallest x among equal ratios. Points with
/// x <= 0 or a non-finite value are skipped; `None` if nothing is left.
pub fn knee(curve: &[(f64, f64)]) -> Option<(f64, f64)> {
    let mut best: Option<(f64, f64, f64)> = None;
    for &(x, l) in curve {
        if !(x > 0.0 && x.is_finite() && l.is_finite()) {
            continue;
        }
        let r = l / x;
        best = match best {
            Some((bx, bl, br)) if br > r || (br == r && bx <= x) => Some((bx, bl, br)),
            _ => Some((x, l, r)),
        };
    }
    best.map(|(x, l, _)| (x, l))
}

/// A named lifetime curve and whether its policy is fixed-space (see [`lifetime_svg`]).
pub type NamedCurve<'a> = (&'a str, Vec<(f64, f64)>, bool);

/// An SVG of lifetime curves (against memory) with the knee of each marked when
/// `mark_knees` is set. A curve is `(name, points, fixed_space)`: a fixed-space policy's
/// (LRU, MIN) is a staircase over whole frames; a variable-space one's (WS, VMIN) is
/// points only, since its mean memory takes just the values its windows give.
pub fn lifetime_svg(title: &str, curves: &[NamedCurve], mark_knees: bool) -> String {
    let mut chart = LineChart {
        title: title.to_string(),
        x_label: "memory (pages)".into(),
        y_label: "lifetime L = references per fault".into(),
        ..LineChart::default()
    };
    for (name, pts, fixed_space) in curves {
        let mut points = pts.clone();
        // Sorted by memory so the line does not double back (WS means arrive by T).
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.series.push(Series {
            name: name.to_string(),
            points,
            step: *fixed_space,
            points_only: !*fixed_space,
            ..Series::default()
        });
        if mark_knees {
            if let Some((x, l)) = knee(pts) {
                chart.markers.push(Marker {
                    x,
                    y: l,
                    label: format!("{name} knee ({x:.2}, {l:.2})"),
                });
            }
        }
    }
    chart.to_svg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetime_is_references_per_fault_and_skips_zero_faults() {
        let l = lifetime(1000, &[(1.0, 500), (2.0, 8), (3.0, 0)]);
        assert_eq!(l, vec![(1.0, 2.0), (2.0, 125.0)]);
    }

    #[test]
    fn knee_skips_zero_memory_and_prefers_the_smaller_x_on_ties() {
        assert_eq!(knee(&[]), None);
        assert_eq!(knee(&[(0.0, 5.0)]), None);
        // (4, 200) and (2, 100) both have L/x = 50; (0, 9) would be infinite.
        assert_eq!(
            knee(&[(4.0, 200.0), (0.0, 9.0), (2.0, 100.0), (1.0, 10.0)]),
            Some((2.0, 100.0))
        );
    }
}
