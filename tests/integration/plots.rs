//! Every chart kind mmusim writes, made by the code that writes it (a small sweep, a
//! small study, analyze, mva, a timeline), rendered to PNG with resvg (no fonts, so text
//! is not drawn) and checked for what a reader needs:
//! - every series has visible marks: pixels of its legend colour inside a plot area
//!   (in every panel, for the study's panels, so a small value next to a large one
//!   still shows);
//! - nothing is drawn outside the canvas (the SVG is rendered into a larger image);
//! - from the chart's layout (its text elements' positions, anchors and estimated
//!   widths, its legend and plot-area boxes: `svg::layout`): texts inside the canvas and
//!   not overlapping, the legend beside the plot areas;
//! - a log axis over 512..4096 has its ticks at 512, 1024, 2048 and 4096.

use super::analysis::mmusim;
use mmusim::analysis::report::{analyze, Input, Options};
use mmusim::svg::layout::{parse, Layout, Rect};
use mmusim::timeline::Timeline;
use resvg::{tiny_skia, usvg};
use std::path::Path;

/// Pixels of room around the canvas, where nothing may be drawn.
const MARGIN: u32 = 16;

fn render(svg: &str) -> tiny_skia::Pixmap {
    let tree = usvg::Tree::from_str(svg, &usvg::Options::default()).expect("valid SVG");
    let size = tree.size().to_int_size();
    let mut pm =
        tiny_skia::Pixmap::new(size.width() + 2 * MARGIN, size.height() + 2 * MARGIN).unwrap();
    let shift = tiny_skia::Transform::from_translate(MARGIN as f32, MARGIN as f32);
    resvg::render(&tree, shift, &mut pm.as_mut());
    pm
}

fn rgb(hex: &str) -> [u8; 3] {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).expect("a #rrggbb colour");
    [(v >> 16) as u8, (v >> 8) as u8, v as u8]
}

/// Opaque pixels within 16 of `c` in every channel, inside `r` less 1.5 px of its frame.
fn marks(pm: &tiny_skia::Pixmap, r: &Rect, c: [u8; 3]) -> usize {
    let m = MARGIN as f64;
    let (x0, x1) = ((r.x0 + m + 1.5) as usize, (r.x1 + m - 1.5) as usize);
    let (y0, y1) = ((r.y0 + m + 1.5) as usize, (r.y1 + m - 1.5) as usize);
    let (w, px) = (pm.width() as usize, pm.pixels());
    (y0..y1)
        .flat_map(|y| px[y * w + x0..y * w + x1].iter())
        .filter(|p| {
            p.alpha() == 255
                && p.red().abs_diff(c[0]) <= 16
                && p.green().abs_diff(c[1]) <= 16
                && p.blue().abs_diff(c[2]) <= 16
        })
        .count()
}

/// What is wrong with the chart `name`; `per_panel`: every series must show in every
/// plot area (bar panels), not just in one.
fn problems(name: &str, svg: &str, per_panel: bool) -> Vec<String> {
    let l: Layout = parse(svg);
    let mut out: Vec<String> = l
        .problems()
        .into_iter()
        .map(|p| format!("{name}: {p}"))
        .collect();
    if l.plot_areas.is_empty() {
        out.push(format!("{name}: no plot area"));
    }
    let pm = render(svg);
    let png = pm.encode_png().expect("PNG");
    if let Ok(dir) = std::env::var("MMUSIM_PLOT_PNG") {
        std::fs::write(Path::new(&dir).join(format!("{name}.png")), &png).unwrap();
    }
    let (w, h) = (l.width as usize, l.height as usize);
    let (m, iw) = (MARGIN as usize, pm.width() as usize);
    let outside = (pm.pixels().iter().enumerate())
        .filter(|(i, p)| {
            let (x, y) = (i % iw, i / iw);
            p.alpha() > 0 && (x < m || y < m || x >= m + w || y >= m + h)
        })
        .count();
    if outside > 0 {
        out.push(format!("{name}: {outside} pixels drawn outside the canvas"));
    }
    for (i, c) in l.series_colours.iter().enumerate() {
        let seen: Vec<usize> = l.plot_areas.iter().map(|r| marks(&pm, r, rgb(c))).collect();
        let ok = if per_panel {
            seen.iter().all(|&n| n >= 1)
        } else {
            seen.iter().sum::<usize>() >= 2
        };
        if !ok {
            out.push(format!(
                "{name}: series {i} ({c}) has no visible marks: {seen:?} pixels per plot area"
            ));
        }
    }
    out
}

fn assert_readable(charts: &[(String, String, bool)]) {
    let all: Vec<String> = (charts.iter())
        .flat_map(|(n, svg, per_panel)| problems(n, svg, *per_panel))
        .collect();
    assert!(all.is_empty(), "{}", all.join("\n"));
}

fn svgs_in(dir: &Path, prefix: &str) -> Vec<(String, String, bool)> {
    let mut v: Vec<(String, String, bool)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .map(|p| {
            let name = format!("{prefix}-{}", p.file_stem().unwrap().to_string_lossy());
            (name, std::fs::read_to_string(&p).unwrap(), false)
        })
        .collect();
    v.sort();
    v
}

/// The x tick labels of a line chart: ticks below its plot area.
fn x_ticks(svg: &str) -> Vec<String> {
    let l = parse(svg);
    let bottom = l.plot_areas[0].y1;
    (l.texts.into_iter())
        .filter(|t| t.class == "tick" && t.rect.y0 > bottom)
        .map(|t| t.text)
        .collect()
}

#[test]
fn the_outside_check_sees_a_mark_off_the_canvas() {
    let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50" viewBox="0 0 50 50"><rect width="50" height="50" fill="white"/><circle cx="52" cy="25" r="4" fill="#0072B2"/><rect class="plot-area" x="5.0" y="5.0" width="40.0" height="40.0" fill="none"/></svg>"##;
    let p = problems("off", svg, false);
    assert!(p.iter().any(|p| p.contains("outside the canvas")), "{p:?}");
}

#[test]
fn analyze_charts_show_every_curve_even_when_they_coincide() {
    let dir = tempfile::tempdir().unwrap();
    let mut charts = Vec::new();
    // The exam's string (curves apart, knees together) with the replacement policies;
    // and eight distinct pages, where LRU, MIN, WS and VMIN all fault 8 times: the
    // curves lie on one another, and LRU, drawn first, must still show.
    let exam: Vec<u64> = (0..2)
        .flat_map(|_| {
            std::iter::repeat_n(1u64, 100).chain((0..80).flat_map(|_| [1u64, 2, 3, 4, 5]))
        })
        .collect();
    for (tag, refs, frames) in [
        ("exam", exam, vec![1, 2, 3, 4, 5]),
        ("distinct", (1..=8).collect(), vec![]),
    ] {
        let opts = Options {
            frames,
            ..Options::default()
        };
        let r = analyze(&Input::Refs(refs), &opts).unwrap();
        assert_eq!(r.fault_svg(), r.fault_svg(), "deterministic");
        let d = dir.path().join(tag);
        std::fs::create_dir_all(&d).unwrap();
        r.write(&d).unwrap();
        charts.extend(svgs_in(&d, tag));
    }
    assert_eq!(
        charts.len(),
        5,
        "{:?}",
        charts.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    // WS and VMIN are points: two of the four series have no line.
    let fc = &charts
        .iter()
        .find(|c| c.0 == "distinct-fault-curves")
        .unwrap()
        .1;
    assert_eq!(fc.matches("<path").count(), 2, "{fc}");
    assert_readable(&charts);
}

#[test]
fn mva_and_timeline_charts_are_readable() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model =
        mmusim::mva::config::load_model(&root.join("configs/mva/exam-thrashing.toml"), &[], None)
            .unwrap();
    let a = mmusim::mva::analyse(&model).unwrap();
    let mut charts = vec![
        ("mva-throughput".to_string(), a.throughput_svg(), false),
        (
            "mva-lifetime".to_string(),
            a.lifetime_svg(&model).unwrap(),
            false,
        ),
    ];
    // Two cores, five windows of 1000 accesses each.
    let points: Vec<Vec<mmusim::sim::TimelinePoint>> = (0..2u64)
        .map(|c| {
            (1..=5u64)
                .map(|i| mmusim::sim::TimelinePoint {
                    accesses: 1000 * i,
                    l1_hits: 900 * i - 50 * c * i,
                    l2_hits: 50 * i,
                    tlb_hits: 950 * i - 50 * c * i,
                    walks: 50 * i + 50 * c * i,
                    resident_bytes: (4096 * 100 * i * (c + 1)),
                    ..Default::default()
                })
                .collect()
        })
        .collect();
    let t = Timeline::from_points(1000, true, &points);
    charts.push((
        "timeline".into(),
        t.to_svg("TLB hit rate, w on s, windows of 1000"),
        false,
    ));
    charts.push((
        "memory".into(),
        t.memory_svg("Resident memory, w on s"),
        false,
    ));
    assert_readable(&charts);
}

#[test]
fn sweep_and_study_charts_are_readable_and_log_ticks_are_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("seq.toml"), "name = \"seq\"\naccesses = 3000\nseed = 1\n[generator]\nkind = \"sequential\"\nfootprint = \"64KiB\"\nstride = 4096\n").unwrap();
    std::fs::write(p.join("uni.toml"), "name = \"uni\"\naccesses = 3000\nseed = 2\n[generator]\nkind = \"uniform\"\nfootprint = \"64MiB\"\n").unwrap();
    let workloads = "[[workload]]\nname = \"seq\"\nfile = \"seq.toml\"\n[[workload]]\nname = \"uni\"\nfile = \"uni.toml\"\n";
    std::fs::write(
        p.join("sweep.toml"),
        format!(
            "name = \"tiny\"\nsystem = \"skylake\"\n{workloads}[[axis]]\nkey = \"tlb[0].entries\"\nvalues = [512, 1024, 2048, 4096]\n[[axis]]\nkey = \"os.huge_pages.policy\"\nvalues = [\"never\", \"always\"]\n\
             [[plot]]\nkind = \"line\"\nx = \"tlb[0].entries\"\nseries = \"os.huge_pages.policy\"\nlog_x = true\nfile = \"line.svg\"\n\
             [[plot]]\nkind = \"heatmap\"\nx = \"os.huge_pages.policy\"\ny = \"tlb[0].entries\"\nfile = \"heat.svg\"\n\
             [[plot]]\nkind = \"bars\"\nx = \"os.huge_pages.policy\"\nmetric = \"walks\"\nwhere = [\"tlb[0].entries=512\"]\nfile = \"bars.svg\"\n"
        ),
    )
    .unwrap();
    let out = p.join("out");
    let (code, _, err) = mmusim(&[
        "sweep",
        "run",
        p.join("sweep.toml").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--report",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut charts = svgs_in(&out, "sweep");
    assert_eq!(
        charts.len(),
        4,
        "{:?}",
        charts.iter().map(|c| &c.0).collect::<Vec<_>>()
    );
    let line = std::fs::read_to_string(out.join("line.svg")).unwrap();
    assert_eq!(x_ticks(&line), ["512", "1024", "2048", "4096"]);
    // Keys and values as a reader says them, not as TOML writes them.
    assert!(
        line.contains(">huge pages: always<") && !line.contains("&quot;"),
        "{line}"
    );

    std::fs::write(
        p.join("study.toml"),
        format!("name = \"tiny study\"\nmetrics = [\"walks\", \"page_table_bytes\"]\n[[system]]\nname = \"radix\"\nfile = \"skylake\"\n[[system]]\nname = \"htab\"\nfile = \"skylake-htab\"\n{workloads}"),
    )
    .unwrap();
    let sout = p.join("study");
    std::fs::create_dir_all(&sout).unwrap();
    mmusim::study::run_study(&p.join("study.toml"), Some(&sout), &|_, _| {}).unwrap();
    // Walks differ by orders of magnitude between the workloads: each panel must show
    // both systems' bars.
    let study: Vec<(String, String, bool)> = (svgs_in(&sout, "study").into_iter())
        .map(|(n, s, _)| (n, s, true))
        .collect();
    assert_eq!(study.len(), 2);
    charts.extend(study);
    assert_readable(&charts);
}
