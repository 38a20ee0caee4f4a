//! Line charts as SVG: stacked panels sharing one x axis, each with a few
//! labelled series. No dependencies, no scripts, readable in any browser and
//! in the docs. [`svg`] writes a standalone file (`veil market simulate
//! --plot`); [`svg_styled`] can also write a chart to embed in an HTML page
//! (the node's status page, docs/operations.md "Status page"), with a time
//! axis and point markers.

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

/// How a chart is drawn; the default is a standalone SVG file with a
/// numeric x axis and bare lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// For inline use in an HTML page: no XML namespace declaration (the
    /// HTML parser puts `<svg>` in the SVG namespace itself), no fixed
    /// size, a `viewBox` so the chart scales to its container.
    pub inline: bool,
    /// The x values are Unix seconds: ticks read as UTC times.
    pub time_axis: bool,
    /// A dot on every point, so that a series of one point still shows.
    pub markers: bool,
}

const WIDTH: f64 = 760.0;
const PANEL: f64 = 190.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 62.0;
const GAP: f64 = 40.0;
const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// The standalone SVG of `panels` under `title` and a one-line `subtitle`,
/// x axis labelled `x_label`.
pub fn svg(title: &str, subtitle: &str, x_label: &str, panels: &[Panel]) -> String {
    svg_styled(title, subtitle, x_label, panels, Style::default())
}

/// [`svg`] drawn in `style`.
pub fn svg_styled(
    title: &str,
    subtitle: &str,
    x_label: &str,
    panels: &[Panel],
    style: Style,
) -> String {
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 20.0;
    let root = if style.inline {
        format!(r#"<svg viewBox="0 0 {WIDTH} {height}" role="img""#)
    } else {
        standalone_root(height)
    };
    let mut out = header(&root, title, subtitle);
    for (i, panel) in panels.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP);
        draw_panel(&mut out, panel, top, x_label, style);
    }
    out.push_str("</svg>\n");
    out
}

fn draw_panel(out: &mut String, panel: &Panel, top: f64, x_label: &str, style: Style) {
    let all = panel.series.iter().flat_map(|s| s.points.iter());
    let (x0, x1, y0, y1) = bounds(all.clone());
    let empty = all.filter(|(x, y)| x.is_finite() && y.is_finite()).count() == 0;
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
    if empty {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#777">no data yet</text>"##,
            LEFT + plot_w / 2.0,
            top + PANEL / 2.0
        );
        return;
    }
    for (v, anchor) in [(y0, top + PANEL), (y1, top + 10.0)] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{anchor}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            tick(v)
        );
    }
    let x_tick = |v: f64| {
        if style.time_axis {
            utc_tick(v, x1 - x0)
        } else {
            tick(v)
        }
    };
    for (v, anchor) in [(x0, "start"), (x1, "end")] {
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}" text-anchor="{anchor}">{}</text>"#,
            sx(v),
            top + PANEL + 13.0,
            x_tick(v)
        );
    }
    for (k, series) in panel.series.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite());
        let path: Vec<String> = points
            .clone()
            .map(|(x, y)| format!("{:.1},{:.1}", sx(*x), sy(*y)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{}"/>
<text x="{}" y="{}" fill="{colour}" text-anchor="end">{}</text>"#,
            path.join(" "),
            // The legend sits above the frame, right-aligned, clear of the data.
            WIDTH - RIGHT - 200.0 * k as f64,
            top - 6.0,
            escape(&series.label),
        );
        if style.markers {
            for (x, y) in points {
                let _ = writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                    sx(*x),
                    sy(*y)
                );
            }
        }
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
    // Data that is never negative (counts, prices) keeps a floor of zero.
    let floor = if y0 >= 0.0 {
        (y0 - pad).max(0.0)
    } else {
        y0 - pad
    };
    (x0, if x1 > x0 { x1 } else { x0 + 1.0 }, floor, y1 + pad)
}

fn tick(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e5 {
        return format!("{v:.0}");
    }
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-2) {
        return format!("{v:.2e}");
    }
    let fixed = format!("{v:.3}");
    fixed.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Unix seconds `t` as a UTC time: `HH:MM:SS UTC`, or `MM-DD HH:MM` when
/// the axis spans `span` seconds of two days or more.
pub fn utc_tick(t: f64, span: f64) -> String {
    let secs = t.max(0.0) as u64;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if span < 2.0 * 86_400.0 {
        return format!("{h:02}:{m:02}:{s:02} UTC");
    }
    let (month, day) = month_day(days);
    format!("{month:02}-{day:02} {h:02}:{m:02}")
}

/// The month and day of `days` since 1970-01-01 (H. Hinnant's
/// `civil_from_days`, proleptic Gregorian).
fn month_day(days: u64) -> (u64, u64) {
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (month, day)
}

/// The opening of a chart: `root` (an `<svg` tag left open), the title
/// (also as `<title>`) and the subtitle, left-aligned with the panels.
fn header(root: &str, title: &str, subtitle: &str) -> String {
    format!(
        r##"{root} font-family="sans-serif" font-size="11">
<title>{t}</title>
<rect width="100%" height="100%" fill="white"/>
<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{t}</text>
<text x="{LEFT}" y="34" fill="#444">{}</text>
"##,
        escape(subtitle),
        t = escape(title),
    )
}

/// A standalone `<svg` root of `height` (for files, not inline HTML).
fn standalone_root(height: f64) -> String {
    format!(r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}""#)
}

/// `s` escaped for XML and HTML text and for attribute values in quotes.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
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
                Series {
                    label: "with".into(),
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                },
                Series {
                    label: "flat".into(),
                    points: vec![(0.0, 3.0), (1.0, 3.0)],
                },
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
        let empty = Panel {
            title: "e".into(),
            y_label: "y".into(),
            series: vec![],
        };
        let one = Panel {
            title: "o".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "a".into(),
                points: vec![(2.0, 5.0)],
            }],
        };
        let svg = svg("t", "", "x", &[empty, one]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains("no data yet"));
    }

    #[test]
    fn an_inline_chart_has_no_namespace_and_scales() {
        let panel = Panel {
            title: "p".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "one".into(),
                points: vec![(1_796_000_000.0, 5.0)],
            }],
        };
        let style = Style {
            inline: true,
            time_axis: true,
            markers: true,
        };
        let svg = svg_styled("t", "", "time", &[panel], style);
        assert!(svg.starts_with("<svg viewBox=") && !svg.contains("xmlns"));
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "a single point shows as a dot"
        );
        assert!(svg.contains(" UTC<"), "{svg}");
        let standalone = svg_styled("t", "", "x", &[], Style::default());
        assert!(standalone.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(!standalone.contains("<circle"));
    }

    #[test]
    fn time_ticks_read_as_utc() {
        // 2026-12-06 04:45:30 UTC.
        let t = 1_796_532_330.0;
        assert_eq!(utc_tick(t, 60.0), "04:45:30 UTC");
        assert_eq!(utc_tick(t, 3.0 * 86_400.0), "12-06 04:45");
        assert_eq!(month_day(0), (1, 1));
        assert_eq!(month_day(59), (3, 1), "1970 is not a leap year");
    }

    #[test]
    fn ticks_are_short_and_counts_keep_a_zero_floor() {
        assert_eq!(
            (tick(4.2), tick(630.62), tick(-0.25), tick(3.0)),
            ("4.2".into(), "630.62".into(), "-0.25".into(), "3".into())
        );
        assert_eq!(tick(123_456.0), "1.23e5");
        let (_, _, y0, y1) = bounds([(0.0, 0.0), (1.0, 10.0)].iter());
        assert_eq!(y0, 0.0, "no negative axis under counts");
        assert!(y1 > 10.0);
        let (_, _, y0, _) = bounds([(0.0, -1.0), (1.0, 1.0)].iter());
        assert!(y0 < -1.0);
    }

    #[test]
    fn escape_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
