//! The layout of a finished chart, read back from its SVG: the canvas, the plot areas,
//! the legend box, every text's box (from its position, anchor, size, rotation and
//! [`super::text_width`]) and the series' colours from the legend. For tests and checks:
//! [`Layout::problems`] lists texts outside the canvas, texts that overlap and a legend
//! over a plot area.

use super::text_width;

/// An axis-aligned box.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    /// Whether the two boxes share area (touching edges do not count).
    pub fn overlaps(&self, o: &Rect) -> bool {
        self.x0 < o.x1 && o.x0 < self.x1 && self.y0 < o.y1 && o.y0 < self.y1
    }

    /// Whether `self` lies within `o`, up to `slack` px.
    pub fn inside(&self, o: &Rect, slack: f64) -> bool {
        self.x0 >= o.x0 - slack
            && self.y0 >= o.y0 - slack
            && self.x1 <= o.x1 + slack
            && self.y1 <= o.y1 + slack
    }
}

/// One text element.
#[derive(Clone, Debug)]
pub struct TextBox {
    /// Its class: `title`, `tick`, `axis-label`, `legend`, `marker-label`, `panel-title`,
    /// `cell`.
    pub class: String,
    pub text: String,
    pub rect: Rect,
}

/// What [`parse`] finds.
#[derive(Clone, Debug)]
pub struct Layout {
    pub width: f64,
    pub height: f64,
    pub plot_areas: Vec<Rect>,
    pub legend: Option<Rect>,
    pub texts: Vec<TextBox>,
    /// The colour of each legend entry with a swatch, in order.
    pub series_colours: Vec<String>,
}

fn attr<'a>(el: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(" {name}=\"");
    let i = el.find(&key)? + key.len();
    let j = el[i..].find('"')?;
    Some(&el[i..i + j])
}

fn num(el: &str, name: &str) -> f64 {
    attr(el, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// Reads the layout of an SVG this module wrote.
pub fn parse(svg: &str) -> Layout {
    let head = &svg[..svg.find('>').unwrap_or(0)];
    let mut l = Layout {
        width: num(head, "width"),
        height: num(head, "height"),
        plot_areas: Vec::new(),
        legend: None,
        texts: Vec::new(),
        series_colours: Vec::new(),
    };
    let rect_of = |el: &str| {
        let (x, y) = (num(el, "x"), num(el, "y"));
        Rect {
            x0: x,
            y0: y,
            x1: x + num(el, "width"),
            y1: y + num(el, "height"),
        }
    };
    for (i, _) in svg.match_indices('<') {
        let rest = &svg[i..];
        let el = &rest[..rest.find('>').map_or(rest.len(), |j| j + 1)];
        if el.starts_with("<rect class=\"plot-area\"") {
            l.plot_areas.push(rect_of(el));
        } else if el.starts_with("<rect class=\"legend-box\"") {
            l.legend = Some(rect_of(el));
        } else if el.starts_with("<g class=\"legend-entry\"") {
            let has_swatch = !rest[el.len()..].starts_with("</g>");
            if has_swatch {
                l.series_colours
                    .push(attr(el, "data-colour").unwrap_or("").to_string());
            }
        } else if el.starts_with("<text") {
            let body = &rest[el.len()..];
            let text = unescape(&body[..body.find("</text>").unwrap_or(0)]);
            let size = attr(el, "font-size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(super::FONT);
            let (x, y) = (num(el, "x"), num(el, "y"));
            let w = text_width(&text, size);
            let x0 = match attr(el, "text-anchor") {
                Some("middle") => x - w / 2.0,
                Some("end") => x - w,
                _ => x,
            };
            // Ascent and descent of a sans face: 0.8 and 0.25 em around the baseline.
            let corners = [
                (x0, y - 0.8 * size),
                (x0 + w, y - 0.8 * size),
                (x0, y + 0.25 * size),
                (x0 + w, y + 0.25 * size),
            ];
            let angle = attr(el, "transform")
                .and_then(|t| t.strip_prefix("rotate("))
                .and_then(|t| t.split_whitespace().next())
                .and_then(|a| a.parse::<f64>().ok())
                .unwrap_or(0.0)
                .to_radians();
            let (s, c) = angle.sin_cos();
            let pts: Vec<(f64, f64)> = corners
                .iter()
                .map(|&(px, py)| {
                    let (dx, dy) = (px - x, py - y);
                    (x + dx * c - dy * s, y + dx * s + dy * c)
                })
                .collect();
            let fold = |f: fn(f64, f64) -> f64, init: f64, pick: fn(&(f64, f64)) -> f64| {
                pts.iter().map(pick).fold(init, f)
            };
            l.texts.push(TextBox {
                class: attr(el, "class").unwrap_or("").to_string(),
                text,
                rect: Rect {
                    x0: fold(f64::min, f64::INFINITY, |p| p.0),
                    y0: fold(f64::min, f64::INFINITY, |p| p.1),
                    x1: fold(f64::max, f64::NEG_INFINITY, |p| p.0),
                    y1: fold(f64::max, f64::NEG_INFINITY, |p| p.1),
                },
            });
        }
    }
    l
}

impl Layout {
    /// Everything wrong with the layout: a text outside the canvas, two texts that
    /// overlap (rotated ones by their bounding boxes, which is stricter), a legend box
    /// over a plot area or outside the canvas.
    pub fn problems(&self) -> Vec<String> {
        let canvas = Rect {
            x0: 0.0,
            y0: 0.0,
            x1: self.width,
            y1: self.height,
        };
        let mut out = Vec::new();
        for t in &self.texts {
            if !t.rect.inside(&canvas, 0.0) {
                out.push(format!(
                    "{} `{}` leaves the canvas: {:?}",
                    t.class, t.text, t.rect
                ));
            }
        }
        for (i, a) in self.texts.iter().enumerate() {
            for b in &self.texts[i + 1..] {
                if a.rect.overlaps(&b.rect) {
                    out.push(format!(
                        "{} `{}` overlaps {} `{}`",
                        a.class, a.text, b.class, b.text
                    ));
                }
            }
        }
        if let Some(lg) = &self.legend {
            if !lg.inside(&canvas, 0.0) {
                out.push(format!("the legend leaves the canvas: {lg:?}"));
            }
            for p in &self.plot_areas {
                if lg.overlaps(p) {
                    out.push(format!("the legend {lg:?} is over the plot area {p:?}"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_texts_with_anchor_and_rotation() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">
<text class="tick" x="100.0" y="50.0" text-anchor="end" font-size="10">ab</text>
<text class="tick" x="10.0" y="50.0" text-anchor="start" font-size="10" transform="rotate(-90 10.0 50.0)">ab</text>
<rect class="legend-box" x="150.0" y="0.0" width="40.0" height="20.0" fill="white"/>
<g class="legend-entry" data-colour="#0072B2"><line/></g>
<rect class="plot-area" x="0.0" y="0.0" width="160.0" height="90.0"/>
</svg>"##;
        let l = parse(svg);
        assert_eq!((l.width, l.height), (200.0, 100.0));
        let w = text_width("ab", 10.0);
        let r = l.texts[0].rect;
        assert!((r.x0 - (100.0 - w)).abs() < 1e-9 && r.x1 == 100.0 && r.y0 == 42.0);
        // Rotated -90 degrees about its anchor: it runs upwards from (10, 50).
        let v = l.texts[1].rect;
        assert!(
            (v.y0 - (50.0 - w)).abs() < 1e-9 && (v.y1 - 50.0).abs() < 1e-9,
            "{v:?}"
        );
        assert_eq!(l.series_colours, vec!["#0072B2"]);
        let p = l.problems();
        assert!(p.iter().any(|p| p.contains("legend")), "{p:?}");
    }
}
