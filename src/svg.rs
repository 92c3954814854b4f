//! Plots as SVG text: a grouped bar chart (groups along x, one bar per series), a
//! line chart (x/y series, optional log-scale x, labelled markers such as a knee) and
//! a heatmap (a value per cell of two categorical axes, printed in the cell).
//!
//! In: names, values and titles. Out: an SVG document as a `String`.
//! Written by hand, not with a plotting crate: studies and analyses need two simple
//! chart types, and a few hundred lines keep the build lean (plotters would add a font
//! stack and its build time on 2-core CI machines).

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
    // The tolerance keeps a maximum that is a step multiple up to rounding (0.2 x 1.5)
    // from gaining a whole extra step.
    (((max / step) - 1e-9).ceil() * step, step)
}

/// The document's opening tag and its white background, `w` x `h` pixels.
fn open(w: f64, h: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    o
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

/// The colour of `t` in 0..=1 on a sequential scale, light to dark (stops of
/// matplotlib's viridis, reversed so that small is light: van der Walt and Smith 2015).
fn sequential(t: f64) -> String {
    const STOPS: [(f64, f64, f64); 5] = [
        (253.0, 231.0, 37.0),
        (94.0, 201.0, 98.0),
        (33.0, 145.0, 140.0),
        (59.0, 82.0, 139.0),
        (68.0, 1.0, 84.0),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(a.0, b.0),
        mix(a.1, b.1),
        mix(a.2, b.2)
    )
}

/// A heatmap: `values[r][c]` in the cell of row `rows[r]` (drawn bottom up) and column
/// `cols[c]`, coloured from the smallest finite value (light) to the largest (dark)
/// and printed in the cell; NaN cells are grey and say "n/a".
pub fn heatmap(
    title: &str,
    x_label: &str,
    y_label: &str,
    cols: &[String],
    rows: &[String],
    values: &[Vec<f64>],
) -> String {
    let (left, right, top, bottom) = (110.0, 40.0, 50.0, 70.0);
    let cw = (720.0 / cols.len().max(1) as f64).clamp(40.0, 110.0);
    let ch = (400.0 / rows.len().max(1) as f64).clamp(24.0, 60.0);
    let (pw, ph) = (cw * cols.len() as f64, ch * rows.len() as f64);
    let (w, h) = (left + pw + right, top + ph + bottom);
    let finite = || values.iter().flatten().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let mut o = open(w, h);
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
        w / 2.0,
        esc(title)
    );
    for (r, row) in values.iter().enumerate().take(rows.len()) {
        let y = top + ph - ch * (r + 1) as f64;
        for (c, &v) in row.iter().enumerate().take(cols.len()) {
            let x = left + cw * c as f64;
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            let (fill, ink, text) = if v.is_finite() {
                let fill = sequential(t);
                // Four significant digits: neighbouring cells often differ in the third.
                let text = if v != 0.0 && v.abs() < 1e4 {
                    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
                    let s = format!("{v:.digits$}");
                    if s.contains('.') {
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        s
                    }
                } else {
                    label(v)
                };
                (fill, if t > 0.55 { "white" } else { "black" }, text)
            } else {
                ("#cccccc".to_string(), "black", "n/a".to_string())
            };
            let _ = writeln!(
                o,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="white"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="{ink}">{}</text>"#,
                x + cw / 2.0,
                y + ch / 2.0 + 4.0,
                esc(&text)
            );
        }
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y + ch / 2.0 + 4.0,
            esc(&rows[r])
        );
    }
    for (c, col) in cols.iter().enumerate() {
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + cw * (c as f64 + 0.5),
            top + ph + 18.0,
            esc(col)
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        left + pw / 2.0,
        top + ph + 45.0,
        esc(x_label)
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(20,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        top + ph / 2.0,
        esc(y_label)
    );
    o.push_str("</svg>\n");
    o
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
    let mut o = open(w, h);
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

/// One line of a [`LineChart`]: points in x order (NaN y values break the line).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    /// Dashed stroke (for bounds and reference curves).
    pub dashed: bool,
    /// Draw a dot at every point (for short curves read point by point).
    pub dots: bool,
    /// Draw as a staircase (the value holds until the next x), as fault curves over
    /// integer memory sizes are.
    pub step: bool,
}

/// A labelled point drawn over the lines (e.g. the knee of a lifetime curve).
#[derive(Debug, Clone)]
pub struct Marker {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// A line chart: several series on shared axes.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    /// Logarithmic x axis (base 10); points with x <= 0 are left out.
    pub log_x: bool,
    /// Cap the y axis (points above it are clipped at the frame); `None` fits the data.
    pub y_max: Option<f64>,
    /// Start the y axis at this value instead of 0 (when every value is >= it).
    pub y_min: Option<f64>,
}

impl LineChart {
    /// Renders the chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let (w, h) = (960.0, 540.0);
        let (left, right, top, bottom) = (90.0, 260.0, 50.0, 70.0);
        let pw = w - left - right;
        let ph = h - top - bottom;
        let tx = |x: f64| if self.log_x { x.log10() } else { x };
        let pts = || {
            self.series
                .iter()
                .flat_map(|s| s.points.iter())
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && (!self.log_x || *x > 0.0))
        };
        let mut xs: Vec<f64> = pts().map(|(x, _)| tx(x)).collect();
        xs.extend(
            self.markers
                .iter()
                .filter(|m| m.x.is_finite() && (!self.log_x || m.x > 0.0))
                .map(|m| tx(m.x)),
        );
        let (mut x0, mut x1) = xs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
                (a.min(x), b.max(x))
            });
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let data_max = pts()
            .map(|(_, y)| y)
            .chain(self.markers.iter().map(|m| m.y).filter(|y| y.is_finite()))
            .fold(0.0, f64::max);
        let (ymax, step) = nice_axis(self.y_max.unwrap_or(data_max));
        let ymin = self.y_min.unwrap_or(0.0).min(ymax - step);
        let px = |x: f64| left + pw * (tx(x) - x0) / (x1 - x0);
        let py = |y: f64| top + ph * (1.0 - ((y.min(ymax) - ymin) / (ymax - ymin)).max(0.0));
        let mut o = open(w, h);
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="16">{}</text>"#,
            left + pw / 2.0,
            esc(&self.title)
        );
        // Horizontal grid and y labels.
        let mut t = (ymin / step).ceil() * step;
        while t <= ymax + step * 1e-9 {
            let yy = py(t);
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
        // Vertical grid and x labels: decades on a log axis, nice steps otherwise.
        let ticks: Vec<f64> = if self.log_x {
            (x0.floor() as i32..=x1.ceil() as i32)
                .map(|e| 10f64.powi(e))
                .filter(|v| (x0 - 1e-9..=x1 + 1e-9).contains(&v.log10()))
                .collect()
        } else {
            let (_, xstep) = nice_axis(x1 - x0);
            let mut v = (x0 / xstep).ceil() * xstep;
            let mut out = Vec::new();
            while v <= x1 + xstep * 1e-9 {
                out.push(v);
                v += xstep;
            }
            out
        };
        for v in ticks {
            let xx = px(v);
            let _ = writeln!(
                o,
                r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#eee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                top + ph,
                top + ph + 18.0,
                label(v)
            );
        }
        let _ = writeln!(
            o,
            r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            o,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            left + pw / 2.0,
            h - 20.0,
            esc(&self.x_label)
        );
        let _ = writeln!(
            o,
            r#"<text transform="translate(22,{:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + ph / 2.0,
            esc(&self.y_label)
        );
        // Lines.
        for (si, s) in self.series.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            let dash = if s.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let mut d = String::new();
            let mut pen_down = false;
            for &(x, y) in &s.points {
                if !(x.is_finite() && y.is_finite()) || (self.log_x && x <= 0.0) {
                    pen_down = false;
                    continue;
                }
                let (xx, yy) = (px(x), py(y));
                if pen_down && s.step {
                    let _ = write!(d, "H{xx:.1}V{yy:.1}");
                } else {
                    let _ = write!(d, "{}{xx:.1},{yy:.1}", if pen_down { "L" } else { "M" });
                }
                pen_down = true;
            }
            if !d.is_empty() {
                let _ = writeln!(
                    o,
                    r#"<path d="{d}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#
                );
            }
            if s.dots {
                for &(x, y) in &s.points {
                    if x.is_finite() && y.is_finite() && (!self.log_x || x > 0.0) {
                        let _ = writeln!(
                            o,
                            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"><title>{}: ({}, {})</title></circle>"#,
                            px(x),
                            py(y),
                            esc(&s.name),
                            label(x),
                            label(y)
                        );
                    }
                }
            }
            let ly = top + 10.0 + si as f64 * 20.0;
            let _ = writeln!(
                o,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"{dash}/><text x="{:.1}" y="{:.1}">{}</text>"#,
                left + pw + 12.0,
                ly + 6.0,
                left + pw + 36.0,
                ly + 6.0,
                left + pw + 42.0,
                ly + 10.0,
                esc(&s.name)
            );
        }
        // Marker labels: to the left of points near the right edge, and moved down
        // when they would overprint an earlier label (knees often coincide).
        let mut placed: Vec<(f64, f64, f64)> = Vec::new(); // (x, y, width)
        for m in &self.markers {
            if !(m.x.is_finite() && m.y.is_finite()) || (self.log_x && m.x <= 0.0) {
                continue;
            }
            let (xx, yy) = (px(m.x), py(m.y));
            let width = 6.5 * m.label.chars().count() as f64;
            let mut lx = xx + 9.0;
            if lx + width > left + pw {
                lx = xx - 9.0 - width;
            }
            let mut ly = yy - 9.0;
            while placed
                .iter()
                .any(|&(px0, py0, w0)| (ly - py0).abs() < 14.0 && lx < px0 + w0 && px0 < lx + width)
            {
                ly += 15.0;
            }
            placed.push((lx, ly, width));
            let _ = writeln!(
                o,
                r##"<circle cx="{xx:.1}" cy="{yy:.1}" r="6" fill="none" stroke="#000" stroke-width="2"/><text x="{lx:.1}" y="{ly:.1}">{}</text>"##,
                esc(&m.label)
            );
        }
        o.push_str("</svg>\n");
        o
    }
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
    }

    #[test]
    fn heatmap_has_a_cell_per_value_light_for_the_least_and_dark_for_the_most() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let svg = heatmap(
            "t",
            "x",
            "y",
            &s(&["a", "b", "c"]),
            &s(&["r0", "r1"]),
            &[vec![1.0, 2.0, 3.0], vec![4.0, f64::NAN, 0.5]],
        );
        let cells: Vec<&str> = svg.lines().filter(|l| l.starts_with("<rect x=")).collect();
        assert_eq!(cells.len(), 6);
        // Row 0 is drawn at the bottom; the largest value (4) darkest, 0.5 lightest.
        let fill = |v: &str| {
            let l = cells
                .iter()
                .find(|l| l.contains(&format!(">{v}</text>")))
                .unwrap_or_else(|| panic!("{v}"));
            l.split("fill=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        };
        assert_eq!(fill("4"), "#440154");
        assert_eq!(fill("0.5"), "#fde725");
        assert_eq!(fill("n/a"), "#cccccc");
        assert_ne!(fill("2"), fill("3"));
        assert_eq!(sequential(0.5), "#21918c");
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

    #[test]
    fn line_chart_draws_one_path_per_series_and_skips_bad_points() {
        let chart = LineChart {
            title: "faults".into(),
            x_label: "m".into(),
            y_label: "F".into(),
            series: vec![
                Series {
                    name: "LRU".into(),
                    points: vec![(1.0, 10.0), (2.0, 5.0), (3.0, f64::NAN), (4.0, 1.0)],
                    step: true,
                    ..Series::default()
                },
                Series {
                    name: "bound".into(),
                    points: vec![(1.0, 2.0), (4.0, 8.0)],
                    dashed: true,
                    dots: true,
                    ..Series::default()
                },
            ],
            markers: vec![Marker {
                x: 2.0,
                y: 5.0,
                label: "knee".into(),
            }],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert_eq!(svg.matches("<path").count(), 2);
        // The NaN point breaks the first line into two pieces (two M commands).
        let first = svg.split("<path d=\"").nth(1).unwrap();
        assert_eq!(first.split('"').next().unwrap().matches('M').count(), 2);
        assert_eq!(svg.matches("<circle").count(), 3); // 2 dots + 1 marker
        assert!(svg.contains(">knee<") && svg.contains("stroke-dasharray"));
    }

    #[test]
    fn log_axis_leaves_out_non_positive_x() {
        let chart = LineChart {
            log_x: true,
            series: vec![Series {
                name: "s".into(),
                points: vec![(0.0, 1.0), (10.0, 2.0), (1000.0, 3.0)],
                dots: true,
                ..Series::default()
            }],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">10<") && svg.contains(">100<") && svg.contains(">1000<"));
    }
}
