//! The line chart: series as lines, staircases or points on shared axes, linear or log
//! x, numbered markers (knees, optima) explained in the legend beside the plot.

use super::axis::{linear_ticks, log_ticks, nice_axis, nice_step, number, step_labels, thin};
use super::layout::Rect;
use super::{colour, esc, plot_area, text_width, Anchor, Doc, Legend, Swatch, FONT, TITLE_FONT};
use std::fmt::Write as _;

/// One series of a [`LineChart`]: points in x order (NaN y values break the line).
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
    /// Markers only, no joining line: for values that exist only at their points (the
    /// mean memory of a window size: no window gives the sizes between).
    pub points_only: bool,
}

/// A labelled point drawn over the lines (e.g. the knee of a lifetime curve): a ring
/// with a number on the plot, the label in the legend.
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
    /// Logarithmic x axis; points with x <= 0 are left out.
    pub log_x: bool,
    /// Cap the y axis (points above it are clipped at the frame); `None` fits the data.
    pub y_max: Option<f64>,
    /// Start the y axis at this value instead of 0 (when every value is >= it).
    pub y_min: Option<f64>,
}

/// Dash patterns of line series after the first (the first is solid).
const DASHES: [&str; 5] = ["7 4", "2 3", "10 3 2 3", "5 2", "1 2"];

/// A point marker of shape `k` (circle, square, triangle, diamond; later ones smaller,
/// so that one drawn over an earlier one leaves its rim visible).
pub(crate) fn shape(k: usize, x: f64, y: f64, colour: &str) -> String {
    let r = (5.5 - k as f64).max(3.0);
    match k % 4 {
        0 => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{colour}"/>"#),
        1 => format!(
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{colour}"/>"#,
            x - r * 0.8,
            y - r * 0.8,
            r * 1.6,
            r * 1.6
        ),
        2 => format!(
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{colour}"/>"#,
            y - r,
            x + r,
            y + r * 0.8,
            x - r,
            y + r * 0.8
        ),
        _ => format!(
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{colour}"/>"#,
            y - r,
            x + r,
            y + r,
            x - r
        ),
    }
}

impl LineChart {
    fn usable(&self, x: f64, y: f64) -> bool {
        x.is_finite() && y.is_finite() && (!self.log_x || x > 0.0)
    }

    /// Renders the chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let pw = 600.0;
        let ph = (text_width(&self.y_label, FONT) + 20.0).max(360.0);
        let tx = |x: f64| if self.log_x { x.log10() } else { x };
        let pts: Vec<(f64, f64)> = (self.series.iter())
            .flat_map(|s| s.points.iter().copied())
            .chain(self.markers.iter().map(|m| (m.x, m.y)))
            .filter(|&(x, y)| self.usable(x, y))
            .collect();
        let (mut x0, mut x1) = pts
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(tx(p.0)), b.max(tx(p.0)))
            });
        if !x0.is_finite() {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 <= x0 {
            (x0, x1) = (x0 - 0.5, x1 + 0.5);
        }
        // The y axis: from 0 (or y_min) to a nice maximum.
        let data_max = pts.iter().map(|p| p.1).fold(0.0, f64::max);
        let top_value = self.y_max.unwrap_or(data_max);
        let (ymin, ymax, ystep) = match self.y_min {
            Some(lo) if lo < top_value => {
                let step = nice_step(top_value - lo, 5);
                let a = (lo / step + 1e-9).floor() * step;
                (
                    a,
                    ((top_value / step) - 1e-9).ceil().max(a / step + 1.0) * step,
                    step,
                )
            }
            _ => {
                let (m, s) = nice_axis(top_value);
                (0.0, m, s)
            }
        };
        let yticks = linear_ticks(ymin, ymax, ystep);
        let ylabels = step_labels(&yticks, ystep);
        let ytick_w = ylabels
            .iter()
            .map(|l| text_width(l, FONT))
            .fold(0.0, f64::max);
        let left = 34.0 + ytick_w + 8.0;
        let top = 48.0;
        // Margins of 2% (x) and 3% (y) of the range inside the frame, so that no curve
        // runs along it (a fault curve at its maximum, a staircase ending at the last m).
        let (xa, xb) = (x0 - 0.02 * (x1 - x0), x1 + 0.02 * (x1 - x0));
        let (ya, yb) = (ymin - 0.03 * (ymax - ymin), ymax + 0.03 * (ymax - ymin));
        let px = |x: f64| left + pw * (tx(x) - xa) / (xb - xa);
        let py = |y: f64| top + ph * (1.0 - (y.clamp(ya, yb) - ya) / (yb - ya));
        // The x axis: the data's values or 1-2-5 on a log axis, nice steps otherwise.
        let (xticks, xlabels): (Vec<f64>, Vec<String>) = if self.log_x {
            let xs: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let t = log_ticks(&xs, 10f64.powf(x0), 10f64.powf(x1));
            let l = t.iter().map(|&v| number(v)).collect();
            (t, l)
        } else {
            let step = nice_step(x1 - x0, 6);
            let t = linear_ticks(x0, x1, step);
            let l = step_labels(&t, step);
            (t, l)
        };
        let xw: Vec<f64> = xlabels.iter().map(|l| text_width(l, FONT)).collect();
        let xc: Vec<f64> = xticks.iter().map(|&v| px(v)).collect();
        let keep = thin(&xc, &xw, 8.0);

        let mut doc = Doc::new();
        for (t, l) in yticks.iter().zip(&ylabels) {
            let yy = py(*t);
            doc.line(left, yy, left + pw, yy, "#e4e4e4", "");
            doc.text("tick", left - 6.0, yy + 4.0, Anchor::End, FONT, 0.0, l);
        }
        for (i, &xx) in xc.iter().enumerate() {
            if keep[i] {
                doc.line(xx, top, xx, top + ph, "#eeeeee", "");
                doc.line(xx, top + ph, xx, top + ph + 5.0, "#333333", "");
                doc.text(
                    "tick",
                    xx,
                    top + ph + 18.0,
                    Anchor::Middle,
                    FONT,
                    0.0,
                    &xlabels[i],
                );
            }
        }
        plot_area(&mut doc, left, top, pw, ph);
        let mut legend = Legend {
            entries: Vec::new(),
        };
        self.draw_series(&mut doc, &mut legend, &px, &py);
        let area = Rect {
            x0: left,
            y0: top,
            x1: left + pw,
            y1: top + ph,
        };
        self.draw_markers(&mut doc, &mut legend, area, &px, &py);

        let legend_x = left + pw + 20.0;
        let mut w = if legend.entries.is_empty() {
            left + pw + xw.last().map_or(0.0, |w| w / 2.0) + 16.0
        } else {
            legend_x + legend.width() + 12.0
        };
        w = w.max(text_width(&self.title, TITLE_FONT) + 24.0);
        let h = (top + ph + 58.0).max(top + legend.height() + 12.0);
        legend.draw(&mut doc, legend_x, top);
        doc.text(
            "title",
            w / 2.0,
            28.0,
            Anchor::Middle,
            TITLE_FONT,
            0.0,
            &self.title,
        );
        doc.text(
            "axis-label",
            left + pw / 2.0,
            top + ph + 44.0,
            Anchor::Middle,
            FONT,
            0.0,
            &self.x_label,
        );
        doc.text(
            "axis-label",
            18.0,
            top + ph / 2.0,
            Anchor::Middle,
            FONT,
            -90.0,
            &self.y_label,
        );
        doc.finish(w, h)
    }

    /// Lines first (earlier ones wider and solid, later ones thinner and dashed), then
    /// point series (a shape each), each with its legend entry.
    fn draw_series(
        &self,
        doc: &mut Doc,
        legend: &mut Legend,
        px: &dyn Fn(f64) -> f64,
        py: &dyn Fn(f64) -> f64,
    ) {
        let lines = self.series.iter().filter(|s| !s.points_only).count();
        let (mut j, mut k) = (0, 0);
        for (si, s) in self.series.iter().enumerate() {
            let c = colour(si);
            if s.points_only {
                let _ = writeln!(doc.body, r#"<g class="series" data-colour="{c}">"#);
                for &(x, y) in s.points.iter().filter(|p| self.usable(p.0, p.1)) {
                    doc.body.push_str(&shape(k, px(x), py(y), c));
                    let _ = writeln!(
                        doc.body,
                        "<title>{}: ({}, {})</title>",
                        esc(&s.name),
                        number(x),
                        number(y)
                    );
                }
                doc.body.push_str("</g>\n");
                let swatch = if s.points.iter().any(|p| self.usable(p.0, p.1)) {
                    Swatch::Shape(k)
                } else {
                    Swatch::None
                };
                legend.entries.push((c, swatch, s.name.clone()));
                k += 1;
                continue;
            }
            let width = 2.0 + 0.8 * (lines - 1 - j).min(3) as f64;
            let dash = if j == 0 && !s.dashed {
                ""
            } else {
                DASHES[j.saturating_sub(1) % DASHES.len()]
            };
            j += 1;
            let mut d = String::new();
            let mut pen_down = false;
            for &(x, y) in &s.points {
                if !self.usable(x, y) {
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
                let da = if dash.is_empty() {
                    String::new()
                } else {
                    format!(r#" stroke-dasharray="{dash}""#)
                };
                let _ = writeln!(
                    doc.body,
                    r#"<path d="{d}" fill="none" stroke="{c}" stroke-width="{width:.1}"{da}/>"#
                );
            }
            if s.dots {
                for &(x, y) in s.points.iter().filter(|p| self.usable(p.0, p.1)) {
                    let _ = writeln!(
                        doc.body,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{c}"><title>{}: ({}, {})</title></circle>"#,
                        px(x),
                        py(y),
                        esc(&s.name),
                        number(x),
                        number(y)
                    );
                }
            }
            // A series with nothing drawn (all off scale) is named without a swatch.
            let swatch = if d.is_empty() {
                Swatch::None
            } else {
                Swatch::Line(width, dash, s.dots)
            };
            legend.entries.push((c, swatch, s.name.clone()));
        }
    }

    /// Rings at the markers (those a few pixels apart share one), each numbered beside
    /// it where the number fits inside the plot clear of the others; the labels go in
    /// the legend.
    fn draw_markers(
        &self,
        doc: &mut Doc,
        legend: &mut Legend,
        area: Rect,
        px: &dyn Fn(f64) -> f64,
        py: &dyn Fn(f64) -> f64,
    ) {
        let mut rings: Vec<(f64, f64, Vec<usize>)> = Vec::new();
        let mut n = 0;
        for m in &self.markers {
            if !self.usable(m.x, m.y) {
                continue;
            }
            n += 1;
            let (x, y) = (px(m.x), py(m.y));
            match rings
                .iter_mut()
                .find(|r| (r.0 - x).abs() < 6.0 && (r.1 - y).abs() < 6.0)
            {
                Some(r) => r.2.push(n),
                None => rings.push((x, y, vec![n])),
            }
            legend
                .entries
                .push(("#000000", Swatch::None, format!("{n}: {}", m.label)));
        }
        let mut placed: Vec<Rect> = Vec::new();
        for (x, y, ns) in &rings {
            let _ = writeln!(
                doc.body,
                r##"<circle cx="{x:.1}" cy="{y:.1}" r="7" fill="none" stroke="#000" stroke-width="2"/>"##
            );
            let text = ns
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(",");
            let w = text_width(&text, FONT);
            let boxed = |lx: f64, ly: f64| Rect {
                x0: lx,
                y0: ly - 0.8 * FONT,
                x1: lx + w,
                y1: ly + 0.25 * FONT,
            };
            let candidates = [
                (x + 10.0, y - 9.0),
                (x - 10.0 - w, y - 9.0),
                (x + 10.0, y + 19.0),
                (x - 10.0 - w, y + 19.0),
                (x - w / 2.0, y - 12.0),
                (x - w / 2.0, y + 23.0),
            ];
            let inside = |b: &Rect| b.inside(&area, -1.0);
            let (lx, ly) = candidates
                .iter()
                .copied()
                .find(|&(lx, ly)| {
                    let b = boxed(lx, ly);
                    inside(&b) && !placed.iter().any(|p| p.overlaps(&b))
                })
                .or_else(|| {
                    candidates
                        .iter()
                        .copied()
                        .find(|&(lx, ly)| inside(&boxed(lx, ly)))
                })
                .unwrap_or(candidates[0]);
            placed.push(boxed(lx, ly));
            doc.text("marker-label", lx, ly, Anchor::Start, FONT, 0.0, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                Series {
                    name: "WS".into(),
                    points: vec![(1.5, 3.0), (2.5, 2.0)],
                    points_only: true,
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
        // 2 dots, 2 WS points, 1 marker ring, and the legend's dot and WS swatch.
        assert_eq!(svg.matches("<circle").count(), 7);
        assert!(svg.contains(">1: knee<") && svg.contains("stroke-dasharray"));
        let l = super::super::layout::parse(&svg);
        assert!(l.problems().is_empty(), "{:?}", l.problems());
        assert_eq!(l.series_colours.len(), 3);
    }

    #[test]
    fn log_axis_ticks_at_the_data_values_and_leaves_out_non_positive_x() {
        let chart = LineChart {
            log_x: true,
            series: vec![Series {
                name: "s".into(),
                points: vec![
                    (0.0, 1.0),
                    (512.0, 2.0),
                    (1024.0, 3.0),
                    (2048.0, 3.0),
                    (4096.0, 3.0),
                ],
                dots: true,
                ..Series::default()
            }],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        // Four dots and the legend's.
        assert_eq!(svg.matches("<circle").count(), 5);
        let ticks: Vec<String> = (super::super::layout::parse(&svg).texts)
            .into_iter()
            .filter(|t| t.class == "tick" && t.rect.y0 > 410.0)
            .map(|t| t.text)
            .collect();
        assert_eq!(ticks, vec!["512", "1024", "2048", "4096"]);
    }

    #[test]
    fn coinciding_markers_share_a_ring_and_labels_go_to_the_legend() {
        let m = |l: &str| Marker {
            x: 5.0,
            y: 200.0,
            label: l.into(),
        };
        let chart = LineChart {
            series: vec![Series {
                name: "LRU".into(),
                points: vec![(1.0, 1.0), (5.0, 200.0)],
                ..Series::default()
            }],
            markers: vec![m("LRU knee"), m("MIN knee")],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert!(svg.contains(">1,2</text>") && svg.contains(">2: MIN knee<"));
        assert!(super::super::layout::parse(&svg).problems().is_empty());
    }
}
