//! Line charts as standalone SVG: stacked panels sharing one x axis, each
//! with a few labelled series. No dependencies, no scripts, readable in any
//! browser and in the docs.

pub mod bars;

use std::fmt::Write;

/// One line: a label and its points (x, y).
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

/// One panel: a title, its y axis label, its lines.
pub struct Panel {
    pub title: String,
    pub y_label: String,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 760.0;
const PANEL: f64 = 190.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 62.0;
const GAP: f64 = 40.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The SVG of `panels` under `title` and a one-line `subtitle`, x axis
/// labelled `x_label`.
pub fn svg(title: &str, subtitle: &str, x_label: &str, panels: &[Panel]) -> String {
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 20.0;
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{}</text>
<text x="{LEFT}" y="34" fill="#444">{}</text>
"##,
        escape(title),
        escape(subtitle)
    );
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP);
        draw_panel(&mut out, panel, top, x_label);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, top: f64, x_label: &str) {
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1, y0, y1) = bounds(all);
    let plot_w = WIDTH - LEFT - RIGHT;
    let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * plot_w;
    let sy = |y: f64| top + PANEL - (y - y0) / (y1 - y0) * PANEL;
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>
<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>
<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>
<text x="{}" y="{}" text-anchor="middle">{}</text>"##,
        top - 6.0,
        escape(&panel.title),
        LEFT - 52.0,
        top + PANEL / 2.0,
        LEFT - 52.0,
        top + PANEL / 2.0,
        escape(&panel.y_label),
        LEFT + plot_w / 2.0,
        top + PANEL + 28.0,
        escape(x_label),
    );
    for (v, anchor) in [(y0, top + PANEL), (y1, top + 10.0)] {
        let _ = writeln!(out, r#"<text x="{}" y="{anchor}" text-anchor="end">{}</text>"#, LEFT - 4.0, tick(v));
    }
    for (v, anchor) in [(x0, "start"), (x1, "end")] {
        let _ = writeln!(out, r#"<text x="{}" y="{}" text-anchor="{anchor}">{}</text>"#, sx(v), top + PANEL + 13.0, tick(v));
    }
    for (k, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let path: Vec<String> = series.points.iter().map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y))).collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{}"/>
<text x="{}" y="{}" fill="{colour}">{}</text>"#,
            path.join(" "),
            LEFT + 8.0 + 200.0 * k as f64,
            top + 14.0,
            escape(&series.label),
        );
    }
}

/// The data's extent, widened so flat lines and single points still draw.
fn bounds<'a>(points: impl Iterator<Item = &'a (f64, f64)>) -> (f64, f64, f64, f64) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if x0 > x1 {
        return (0.0, 1.0, 0.0, 1.0);
    }
    let pad = ((y1 - y0) * 0.05).max(y1.abs() * 1e-3).max(1e-12);
    (x0, if x1 > x0 { x1 } else { x0 + 1.0 }, y0 - pad, y1 + pad)
}

fn tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e5 {
        return format!("{v:.0}");
    }
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-2) { format!("{v:.2e}") } else { format!("{v:.3}") }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_well_formed_svg_with_every_series() {
        let panel = Panel {
            title: "price <p>".into(),
            y_label: "reserve/token".into(),
            series: vec![
                Series { label: "with".into(), points: vec![(0.0, 1.0), (1.0, 2.0)] },
                Series { label: "flat".into(), points: vec![(0.0, 3.0), (1.0, 3.0)] },
            ],
        };
        let svg = svg("t & u", "sub", "epoch", &[panel]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("price &lt;p&gt;") && svg.contains("t &amp; u"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn empty_and_flat_data_still_draw() {
        let empty = Panel { title: "e".into(), y_label: "y".into(), series: vec![] };
        let one = Panel {
            title: "o".into(),
            y_label: "y".into(),
            series: vec![Series { label: "a".into(), points: vec![(2.0, 5.0)] }],
        };
        let svg = svg("t", "", "x", &[empty, one]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
