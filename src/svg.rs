//! Plots as SVG text: a grouped bar chart (groups along x, one bar per series).
//!
//! In: group names, series names, values `[group][series]`, titles. Out: an SVG document.
//! Written by hand, not with a plotting crate: studies need one simple chart type, and
//! a few dozen lines keep the build lean.

use std::fmt::Write as _;

/// Colours for series (colour-blind-safe palette of Okabe and Ito, 2008).
const COLOURS: [&str; 8] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
];

/// A "nice" axis maximum and tick step covering `max` (1, 2 or 5 times a power of ten).
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 0.2);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.3}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.3}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A grouped bar chart. `values[g][s]` is series `s` in group `g`; NaN draws no bar.
pub fn grouped_bars(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[String],
    values: &[Vec<f64>],
) -> String {
    let (w, h) = (960.0, 480.0);
    let (left, right, top, bottom) = (80.0, 200.0, 50.0, 90.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let max = values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let (ymax, step) = nice_axis(max);
    let y = |v: f64| top + ph * (1.0 - v / ymax);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
        left + pw / 2.0,
        esc(title)
    );
    // Grid and y axis.
    let mut t = 0.0;
    while t <= ymax + step * 1e-9 {
        let yy = y(t);
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            label(t)
        );
        t += step;
    }
    let _ = writeln!(
        o,
        r#"<text transform="translate(20,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + ph / 2.0,
        esc(y_label)
    );
    // Bars.
    let gw = pw / groups.len().max(1) as f64;
    let bw = gw * 0.8 / series.len().max(1) as f64;
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + gi as f64 * gw + gw * 0.1;
        for (si, _) in series.iter().enumerate() {
            let v = values
                .get(gi)
                .and_then(|r| r.get(si))
                .copied()
                .unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let x = gx + si as f64 * bw;
            let _ = writeln!(
                o,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"#,
                y(v),
                (bw - 1.0).max(1.0),
                (top + ph - y(v)).max(0.0),
                COLOURS[si % COLOURS.len()],
                label(v)
            );
        }
        let _ = writeln!(
            o,
            r#"<text transform="translate({:.1},{:.1}) rotate(30)" text-anchor="start">{}</text>"#,
            gx + gw * 0.4,
            top + ph + 14.0,
            esc(g)
        );
    }
    let _ = writeln!(
        o,
        r##"<line x1="{left}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        top + ph,
        left + pw,
        top + ph
    );
    // Legend.
    for (si, s) in series.iter().enumerate() {
        let ly = top + 10.0 + si as f64 * 20.0;
        let _ = writeln!(
            o,
            r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            left + pw + 16.0,
            ly,
            COLOURS[si % COLOURS.len()],
            left + pw + 34.0,
            ly + 10.0,
            esc(s)
        );
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_covers_the_maximum_with_round_steps() {
        assert_eq!(nice_axis(7.3), (8.0, 2.0));
        assert_eq!(nice_axis(1000.0), (1000.0, 200.0));
        assert_eq!(nice_axis(0.0), (1.0, 0.2));
    }

    #[test]
    fn chart_has_one_bar_per_finite_value_and_a_legend_entry_per_series() {
        let svg = grouped_bars(
            "t",
            "y",
            &["a".into(), "b".into()],
            &["s1".into(), "s2".into(), "s3".into()],
            &[vec![1.0, 2.0, f64::NAN], vec![3.0, 0.5, 4.0]],
        );
        // 5 bars with tooltips, 3 legend swatches (rect with width 12 and no title).
        assert_eq!(svg.matches("<title>").count(), 5);
        assert_eq!(svg.matches(r#"width="12" height="12""#).count(), 3);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }
}
