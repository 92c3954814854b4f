//! Plots as SVG text: line charts ([`LineChart`]: lines, staircases, points, numbered
//! markers, linear or log x), grouped bar charts ([`grouped_bars`] on one axis,
//! [`bar_panels`] with a panel per group) and heatmaps ([`heatmap`]).
//!
//! In: names, values and titles (metric and key names made readable by [`labels`]).
//! Out: an SVG document as a `String`, byte-identical for the same input (fixed float
//! formats, no timestamps).
//!
//! Drawn here rather than with `plotters`: what makes these charts readable is layout
//! this code decides and checks itself: log ticks at the data's values, labels thinned
//! until they keep a gap, legends beside the plot with the canvas grown to fit, numbered
//! markers explained in the legend. plotters places its legend inside the plot area,
//! puts log ticks at powers of ten and (without its font stack, which we would not build)
//! cannot measure text either; it would add a dependency and still need all of this.
//!
//! Layout rules every chart keeps, and [`layout::Layout::problems`] checks on the
//! finished SVG: every text inside the canvas; no two texts overlap (text widths are
//! estimated from character classes by [`text_width`], on the wide side); the legend
//! beside the plot areas, never over them. Series are told apart by more than colour: a
//! line series drawn later is thinner and dashed, so one drawn earlier shows at its
//! edges and through the gaps where they coincide (equal fault curves); point series get
//! a marker shape each, later ones smaller so they sit inside earlier ones.

pub mod axis;
mod bars;
mod heatmap;
pub mod labels;
pub mod layout;
mod line;

pub use axis::number;
pub use bars::{bar_panels, grouped_bars};
pub use heatmap::heatmap;
pub use line::{LineChart, Marker, Series};

use std::fmt::Write as _;

/// Colours for series: the colour-blind-safe palette of Okabe and Ito (2008) without its
/// black (kept for markers and text), then Paul Tol's (2021) wine, olive, teal, indigo,
/// purple, green and rose for charts with more series.
pub const COLOURS: [&str; 14] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#882255", "#999933",
    "#F0E442", "#44AA99", "#332288", "#AA4499", "#117733", "#CC6677",
];

/// The colour of series `i`.
pub fn colour(i: usize) -> &'static str {
    COLOURS[i % COLOURS.len()]
}

/// Font sizes (px).
pub(crate) const FONT: f64 = 12.0;
pub(crate) const TITLE_FONT: f64 = 15.0;

/// Estimated width in px of `s` set in a sans-serif face at `size` px: per character
/// class, rounded up from DejaVu Sans (the widest common sans), so layout errs wide.
pub fn text_width(s: &str, size: f64) -> f64 {
    let em: f64 = s
        .chars()
        .map(|c| match c {
            'i' | 'j' | 'l' | '.' | ',' | ':' | ';' | '\'' | '|' | '!' | ' ' => 0.34,
            'f' | 't' | 'r' | '(' | ')' | '[' | ']' | '-' | '/' => 0.42,
            'm' | 'w' | 'M' | 'W' | '%' | '@' => 0.92,
            'A'..='Z' => 0.72,
            '0'..='9' => 0.64,
            c if c.is_ascii() => 0.62,
            _ => 0.8,
        })
        .sum();
    em * size
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Text anchoring.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// An SVG document being written: elements one per line, texts tagged with a class
/// (`title`, `tick`, `axis-label`, `legend`, `marker-label`, `panel-title`, `cell`) that
/// [`layout`] reads back.
pub(crate) struct Doc {
    pub body: String,
}

impl Doc {
    pub fn new() -> Doc {
        Doc {
            body: String::new(),
        }
    }

    /// A text; `rotate` in degrees about its anchor point (0: none).
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        &mut self,
        class: &str,
        x: f64,
        y: f64,
        anchor: Anchor,
        size: f64,
        rotate: f64,
        s: &str,
    ) {
        let a = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let t = if rotate != 0.0 {
            format!(r#" transform="rotate({rotate} {x:.1} {y:.1})""#)
        } else {
            String::new()
        };
        let _ = writeln!(
            self.body,
            r#"<text class="{class}" x="{x:.1}" y="{y:.1}" text-anchor="{a}" font-size="{size}"{t}>{}</text>"#,
            esc(s)
        );
    }

    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, extra: &str) {
        let _ = writeln!(
            self.body,
            r#"<line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}" stroke="{stroke}"{extra}/>"#
        );
    }

    /// The finished document, `w` x `h` px on white.
    pub fn finish(self, w: f64, h: f64) -> String {
        let (w, h) = (w.ceil(), h.ceil());
        let mut o = String::new();
        let _ = writeln!(
            o,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{FONT}">"#
        );
        let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
        o.push_str(&self.body);
        o.push_str("</svg>\n");
        o
    }
}

/// What a legend entry shows beside its name.
pub(crate) enum Swatch {
    /// A line sample: width, dash pattern ("" for solid), with a dot.
    Line(f64, &'static str, bool),
    /// A marker shape (index into the point shapes).
    Shape(usize),
    /// A filled square (bars).
    Block,
    /// No swatch (a note, such as a numbered marker's explanation).
    None,
}

/// A legend: entries of (colour, swatch, text), a box drawn at (x, y).
pub(crate) struct Legend {
    pub entries: Vec<(&'static str, Swatch, String)>,
}

pub(crate) const LEGEND_ROW: f64 = 18.0;

impl Legend {
    pub fn width(&self) -> f64 {
        let w = (self.entries.iter())
            .map(|e| {
                text_width(&e.2, FONT)
                    + if matches!(e.1, Swatch::None) {
                        0.0
                    } else {
                        32.0
                    }
            })
            .fold(0.0, f64::max);
        w + 16.0
    }

    pub fn height(&self) -> f64 {
        self.entries.len() as f64 * LEGEND_ROW + 10.0
    }

    /// Draws the legend with its top-left corner at (x, y).
    pub fn draw(&self, doc: &mut Doc, x: f64, y: f64) {
        if self.entries.is_empty() {
            return;
        }
        let _ = writeln!(
            doc.body,
            r##"<rect class="legend-box" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="white" stroke="#bbb"/>"##,
            self.width(),
            self.height()
        );
        for (i, (colour, swatch, name)) in self.entries.iter().enumerate() {
            let cy = y + 5.0 + LEGEND_ROW * (i as f64 + 0.5);
            let sx = x + 8.0;
            let _ = write!(
                doc.body,
                r#"<g class="legend-entry" data-colour="{colour}">"#
            );
            match swatch {
                Swatch::Line(w, dash, dot) => {
                    let d = if dash.is_empty() {
                        String::new()
                    } else {
                        format!(r#" stroke-dasharray="{dash}""#)
                    };
                    let _ = write!(
                        doc.body,
                        r#"<line x1="{sx:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{colour}" stroke-width="{}"{d}/>"#,
                        sx + 24.0,
                        w.min(3.5)
                    );
                    if *dot {
                        let _ = write!(
                            doc.body,
                            r#"<circle cx="{:.1}" cy="{cy:.1}" r="3" fill="{colour}"/>"#,
                            sx + 12.0
                        );
                    }
                }
                Swatch::Shape(k) => doc.body.push_str(&line::shape(*k, sx + 12.0, cy, colour)),
                Swatch::Block => {
                    let _ = write!(
                        doc.body,
                        r#"<rect x="{:.1}" y="{:.1}" width="12" height="12" fill="{colour}"/>"#,
                        sx + 6.0,
                        cy - 6.0
                    );
                }
                Swatch::None => {}
            }
            doc.body.push_str("</g>\n");
            let tx = if matches!(swatch, Swatch::None) {
                sx
            } else {
                sx + 32.0
            };
            doc.text("legend", tx, cy + 4.0, Anchor::Start, FONT, 0.0, name);
        }
    }
}

/// Writes the plot-area frame (class `plot-area`, read back by [`layout`]).
pub(crate) fn plot_area(doc: &mut Doc, x: f64, y: f64, w: f64, h: f64) {
    let _ = writeln!(
        doc.body,
        r##"<rect class="plot-area" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" fill="none" stroke="#333"/>"##
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_widths_grow_with_length() {
        assert_eq!(esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
        assert!(text_width("4096", 12.0) > text_width("512", 12.0));
        // Wide enough for DejaVu Sans digits (0.636 em).
        assert!(text_width("0000", 12.0) >= 4.0 * 0.636 * 12.0);
    }
}
