//! The heatmap: a value per cell of two categorical axes, coloured on a sequential scale
//! and printed in the cell.

use super::axis::number;
use super::{plot_area, text_width, Anchor, Doc, FONT, TITLE_FONT};
use std::fmt::Write as _;

/// The colour of `t` in 0..=1 on a sequential scale, light to dark (stops of
/// matplotlib's viridis, reversed so that small is light: van der Walt and Smith 2015).
pub(crate) fn sequential(t: f64) -> String {
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

/// A cell's text: four significant digits (neighbouring cells often differ in the
/// third), "n/a" for NaN.
fn cell_text(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    if v != 0.0 && v.abs() < 1e4 {
        let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            return s.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        return s;
    }
    number(v)
}

/// A heatmap: `values[r][c]` in the cell of row `rows[r]` (drawn bottom up) and column
/// `cols[c]`, coloured from the smallest finite value (light) to the largest (dark)
/// and printed in the cell; NaN cells are grey and say "n/a". Column names that do not
/// fit their cell are slanted.
pub fn heatmap(
    title: &str,
    x_label: &str,
    y_label: &str,
    cols: &[String],
    rows: &[String],
    values: &[Vec<f64>],
) -> String {
    let texts: Vec<Vec<String>> = values
        .iter()
        .map(|r| r.iter().map(|&v| cell_text(v)).collect())
        .collect();
    let widest_cell = texts
        .iter()
        .flatten()
        .map(|t| text_width(t, FONT))
        .fold(0.0, f64::max);
    let cw = (720.0 / cols.len().max(1) as f64)
        .clamp(40.0, 110.0)
        .max(widest_cell + 10.0);
    let ch = (400.0 / rows.len().max(1) as f64).clamp(24.0, 60.0);
    let (pw, ph) = (cw * cols.len() as f64, ch * rows.len() as f64);
    let row_w = rows.iter().map(|r| text_width(r, FONT)).fold(0.0, f64::max);
    let col_w = cols.iter().map(|c| text_width(c, FONT)).fold(0.0, f64::max);
    let slant = col_w > cw - 6.0;
    let (left, top) = (34.0 + row_w + 8.0, 48.0);
    let below = if slant {
        14.0 + col_w * 0.5736 + FONT
    } else {
        24.0
    };
    let w = (left + pw + 20.0)
        .max(text_width(title, TITLE_FONT) + 24.0)
        .max(left + pw / 2.0 + text_width(x_label, FONT) / 2.0 + 12.0);
    let h = top + ph + below + 28.0;
    let finite = || values.iter().flatten().copied().filter(|v| v.is_finite());
    let lo = finite().fold(f64::INFINITY, f64::min);
    let hi = finite().fold(f64::NEG_INFINITY, f64::max);
    let mut doc = Doc::new();
    for (r, row) in values.iter().enumerate().take(rows.len()) {
        let y = top + ph - ch * (r + 1) as f64;
        for (c, &v) in row.iter().enumerate().take(cols.len()) {
            let x = left + cw * c as f64;
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 0.5 };
            let (fill, ink) = if v.is_finite() {
                (sequential(t), if t > 0.55 { "white" } else { "black" })
            } else {
                ("#cccccc".to_string(), "black")
            };
            let _ = writeln!(
                doc.body,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{cw:.1}" height="{ch:.1}" fill="{fill}" stroke="white"/>"#
            );
            let _ = write!(doc.body, r#"<g fill="{ink}">"#);
            doc.text(
                "cell",
                x + cw / 2.0,
                y + ch / 2.0 + 4.0,
                Anchor::Middle,
                FONT,
                0.0,
                &texts[r][c],
            );
            doc.body.pop();
            doc.body.push_str("</g>\n");
        }
        doc.text(
            "tick",
            left - 6.0,
            y + ch / 2.0 + 4.0,
            Anchor::End,
            FONT,
            0.0,
            &rows[r],
        );
    }
    plot_area(&mut doc, left, top, pw, ph);
    for (c, col) in cols.iter().enumerate() {
        let cx = left + cw * (c as f64 + 0.5);
        if slant {
            doc.text(
                "tick",
                cx + 4.0,
                top + ph + 14.0,
                Anchor::End,
                FONT,
                -35.0,
                col,
            );
        } else {
            doc.text("tick", cx, top + ph + 18.0, Anchor::Middle, FONT, 0.0, col);
        }
    }
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
        left + pw / 2.0,
        top + ph + below + 14.0,
        Anchor::Middle,
        FONT,
        0.0,
        x_label,
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let lines: Vec<&str> = svg.lines().collect();
        let fill = |v: &str| {
            let i = lines
                .iter()
                .position(|l| l.contains(&format!(">{v}</text>")))
                .unwrap_or_else(|| panic!("{v}"));
            let l = lines[i - 1];
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
        assert!(super::super::layout::parse(&svg).problems().is_empty());
    }
}
