//! Grouped bar charts: on one shared axis ([`grouped_bars`], for figures on one scale,
//! such as cycles normalised to a baseline) or one panel per group with its own axis
//! ([`bar_panels`], for absolute figures whose groups differ by orders of magnitude:
//! 1.02 walks on one workload and 1355 on the next both stay visible).
//!
//! Panels rather than bars normalised to a baseline system: the studies' metrics are
//! counts and sizes whose baseline is often zero (shootdowns on one core, evictions of
//! a radix table, walks with huge pages), where a ratio has no value, and the panels keep
//! the units the CSV has. Within a panel, values can still differ by orders of magnitude
//! (a radix table's bytes next to a hashed table's): a panel whose positive values span
//! more than two decades gets a log axis and says so in its title. A finite value is
//! never invisible: bars are at least 3 px tall, so a zero reads as a stub on the axis
//! (its tooltip and the CSV say 0) and an absent value (NaN) as nothing.

use super::axis::{linear_ticks, nice_axis, step_labels};
use super::{colour, number, plot_area, text_width, Anchor, Doc, Legend, Swatch, FONT, TITLE_FONT};
use std::fmt::Write as _;

/// The smallest bar drawn for a finite value (px).
const MIN_BAR: f64 = 3.0;

fn finite_max(values: &[Vec<f64>]) -> f64 {
    values
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

fn legend(series: &[String]) -> Legend {
    Legend {
        entries: (series.iter().enumerate())
            .map(|(i, s)| (colour(i), Swatch::Block, s.clone()))
            .collect(),
    }
}

/// A bar axis: linear from 0, or (panels whose positive values span more than two
/// decades) logarithmic between two powers of ten.
#[derive(Clone, Copy)]
enum Scale {
    Linear { max: f64, step: f64 },
    Log { lo: i32, hi: i32 },
}

impl Scale {
    fn of(values: &[f64], allow_log: bool) -> Scale {
        let pos = || values.iter().copied().filter(|v| v.is_finite() && *v > 0.0);
        let max = pos().fold(0.0, f64::max);
        let min = pos().fold(f64::INFINITY, f64::min);
        if allow_log && max > 0.0 && max / min > 100.0 {
            // The lowest decade strictly below the smallest value, so that it has a bar.
            let lo = (min.log10() - 1e-9).floor() as i32;
            let hi = ((max.log10() - 1e-9).ceil() as i32).max(lo + 1);
            Scale::Log { lo, hi }
        } else {
            let (max, step) = nice_axis(max);
            Scale::Linear { max, step }
        }
    }

    /// The fraction of the axis height at value `v` (0 at the bottom).
    fn frac(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { max, .. } => v / max,
            Scale::Log { lo, hi } if v > 0.0 => (v.log10() - f64::from(lo)) / f64::from(hi - lo),
            Scale::Log { .. } => 0.0,
        }
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        match *self {
            Scale::Linear { max, step } => {
                let t = linear_ticks(0.0, max, step);
                let l = step_labels(&t, step);
                t.into_iter().zip(l).collect()
            }
            Scale::Log { lo, hi } => (lo..=hi)
                .map(|e| {
                    // 1k, 10k, 100k, 1M: a decade's label says its power at a glance.
                    let (scale, suffix) = match e {
                        9.. => (9, "G"),
                        6.. => (6, "M"),
                        3.. => (3, "k"),
                        _ => (0, ""),
                    };
                    let v = 10f64.powi(e);
                    let label = match e >= 0 {
                        true => format!("{}{suffix}", 10u64.pow((e - scale) as u32)),
                        false => number(v),
                    };
                    (v, label)
                })
                .collect(),
        }
    }

    fn tick_width(&self) -> f64 {
        (self.ticks().iter())
            .map(|(_, l)| text_width(l, FONT))
            .fold(0.0, f64::max)
    }

    /// Grid and tick labels (right-aligned at `left - 6`) of one plot area.
    fn draw(&self, doc: &mut Doc, left: f64, top: f64, pw: f64, ph: f64) {
        for (t, l) in self.ticks() {
            let yy = top + ph * (1.0 - self.frac(t));
            doc.line(left, yy, left + pw, yy, "#e4e4e4", "");
            doc.text("tick", left - 6.0, yy + 4.0, Anchor::End, FONT, 0.0, &l);
        }
    }
}

/// The bars of one group, series side by side in `[gx, gx + gw)`.
#[allow(clippy::too_many_arguments)]
fn bars(
    doc: &mut Doc,
    row: &[f64],
    nseries: usize,
    gx: f64,
    gw: f64,
    top: f64,
    ph: f64,
    scale: Scale,
) {
    let bw = gw * 0.8 / nseries.max(1) as f64;
    for si in 0..nseries {
        let v = row.get(si).copied().unwrap_or(f64::NAN);
        if !v.is_finite() {
            continue;
        }
        let hh = (ph * scale.frac(v)).clamp(MIN_BAR, ph);
        let _ = writeln!(
            doc.body,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{hh:.1}" fill="{}"><title>{}</title></rect>"#,
            gx + gw * 0.1 + si as f64 * bw,
            top + ph - hh,
            (bw - 1.0).max(1.0),
            colour(si),
            number(v)
        );
    }
}

/// A grouped bar chart on one axis. `values[g][s]` is series `s` in group `g`; NaN
/// draws no bar.
pub fn grouped_bars(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[String],
    values: &[Vec<f64>],
) -> String {
    let max = finite_max(values);
    let gw = (series.len() as f64 * 9.0 + 14.0).max(48.0);
    let pw = (groups.len() as f64 * gw).max(420.0);
    let gw = pw / groups.len().max(1) as f64;
    let ph = (text_width(y_label, FONT) + 20.0).max(300.0);
    let scale = Scale::of(&[max], false);
    let (top, left) = (48.0, 34.0 + scale.tick_width() + 8.0);
    // Group names level when they fit their group, else slanted.
    let name_w = groups
        .iter()
        .map(|g| text_width(g, FONT))
        .fold(0.0, f64::max);
    let slant = name_w > gw - 6.0;
    let below = if slant {
        14.0 + name_w * 0.5736 + FONT
    } else {
        30.0
    };
    let mut doc = Doc::new();
    scale.draw(&mut doc, left, top, pw, ph);
    for (gi, g) in groups.iter().enumerate() {
        let gx = left + gi as f64 * gw;
        bars(
            &mut doc,
            values.get(gi).map_or(&[][..], |r| r),
            series.len(),
            gx,
            gw,
            top,
            ph,
            scale,
        );
        let cx = gx + gw / 2.0;
        if slant {
            doc.text(
                "tick",
                cx + 4.0,
                top + ph + 14.0,
                Anchor::End,
                FONT,
                -35.0,
                g,
            );
        } else {
            doc.text("tick", cx, top + ph + 18.0, Anchor::Middle, FONT, 0.0, g);
        }
    }
    plot_area(&mut doc, left, top, pw, ph);
    let lg = legend(series);
    let legend_x = left + pw + 20.0;
    let w = (legend_x + lg.width() + 12.0).max(text_width(title, TITLE_FONT) + 24.0);
    let h = (top + ph + below + 10.0).max(top + lg.height() + 12.0);
    lg.draw(&mut doc, legend_x, top);
    doc.text(
        "title",
        w / 2.0,
        28.0,
        Anchor::Middle,
        TITLE_FONT,
        0.0,
        title,
    );
    doc.text(
        "axis-label",
        18.0,
        top + ph / 2.0,
        Anchor::Middle,
        FONT,
        -90.0,
        y_label,
    );
    doc.finish(w, h)
}

/// Small multiples: a panel per group (titled with the group's name, its own y axis
/// from 0), a bar per series, one legend beside the grid. `values[g][s]` as in
/// [`grouped_bars`].
pub fn bar_panels(
    title: &str,
    y_label: &str,
    groups: &[String],
    series: &[String],
    values: &[Vec<f64>],
) -> String {
    let n = groups.len().max(1);
    let cols = match n {
        1..=4 => n,
        5..=9 => 3,
        _ => 4,
    };
    let rows = n.div_ceil(cols);
    let scales: Vec<Scale> = (0..n)
        .map(|g| Scale::of(values.get(g).map_or(&[][..], |r| r), true))
        .collect();
    let tick_w = scales.iter().map(Scale::tick_width).fold(0.0, f64::max);
    let name_w = groups
        .iter()
        .map(|g| text_width(g, FONT))
        .fold(0.0, f64::max);
    let pw = (series.len() as f64 * 14.0 + 20.0)
        .max(170.0)
        .max(name_w + text_width(" (log scale)", FONT) + 8.0);
    let ph = 150.0;
    let (cell_w, cell_h) = (tick_w + 14.0 + pw + 12.0, ph + 40.0);
    let grid_h = rows as f64 * cell_h;
    let (top, left) = (44.0, 30.0);
    let mut doc = Doc::new();
    for (g, name) in groups.iter().enumerate() {
        let cx = left + (g % cols) as f64 * cell_w + tick_w + 14.0;
        let cy = top + (g / cols) as f64 * cell_h + 26.0;
        let name = match scales[g] {
            Scale::Log { .. } => format!("{name} (log scale)"),
            Scale::Linear { .. } => name.clone(),
        };
        doc.text(
            "panel-title",
            cx + pw / 2.0,
            cy - 8.0,
            Anchor::Middle,
            FONT,
            0.0,
            &name,
        );
        scales[g].draw(&mut doc, cx, cy, pw, ph);
        bars(
            &mut doc,
            values.get(g).map_or(&[][..], |r| r),
            series.len(),
            cx,
            pw,
            cy,
            ph,
            scales[g],
        );
        plot_area(&mut doc, cx, cy, pw, ph);
    }
    let lg = legend(series);
    let legend_x = left + cols as f64 * cell_w + 8.0;
    let w = (legend_x + lg.width() + 12.0).max(text_width(title, TITLE_FONT) + 24.0);
    let h = (top + grid_h + 8.0).max(top + 26.0 + lg.height() + 12.0);
    lg.draw(&mut doc, legend_x, top + 26.0);
    doc.text(
        "title",
        w / 2.0,
        26.0,
        Anchor::Middle,
        TITLE_FONT,
        0.0,
        title,
    );
    // A label longer than the grid is tall is left out: the title names the metric.
    if text_width(y_label, FONT) <= grid_h - 10.0 {
        doc.text(
            "axis-label",
            16.0,
            top + grid_h / 2.0,
            Anchor::Middle,
            FONT,
            -90.0,
            y_label,
        );
    }
    doc.finish(w, h)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svg::layout::parse;

    #[test]
    fn chart_has_one_bar_per_finite_value_and_a_legend_entry_per_series() {
        let svg = grouped_bars(
            "t",
            "y",
            &["a".into(), "b".into()],
            &["s1".into(), "s2".into(), "s3".into()],
            &[vec![1.0, 2.0, f64::NAN], vec![3.0, 0.5, 4.0]],
        );
        // 5 bars with tooltips, 3 legend swatches.
        assert_eq!(svg.matches("<title>").count(), 5);
        assert_eq!(svg.matches(r#"width="12" height="12""#).count(), 3);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(parse(&svg).problems().is_empty());
    }

    #[test]
    fn panels_give_each_group_its_own_axis() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let svg = bar_panels(
            "walks",
            "page walks",
            &s(&["ls", "uniform-4G"]),
            &s(&["radix", "htab"]),
            &[vec![1.02, 0.0], vec![1355.0, 1000.0]],
        );
        let l = parse(&svg);
        assert_eq!(l.plot_areas.len(), 2);
        assert!(l.problems().is_empty(), "{:?}", l.problems());
        // The small panel's axis ends at 1.5, the large one's at 1500.
        let ticks: Vec<&str> = (l.texts.iter())
            .filter(|t| t.class == "tick")
            .map(|t| t.text.as_str())
            .collect();
        assert!(
            ticks.contains(&"1.5") && ticks.contains(&"1500"),
            "{ticks:?}"
        );
        // The zero is a bar 3 px tall.
        assert!(svg.contains(r##"height="3.0" fill="#E69F00""##), "{svg}");
    }
}
