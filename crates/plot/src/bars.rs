//! Bar charts as standalone SVG: stacked panels, each with labelled bars
//! from zero and the value written above each bar (`veil bench --plot`,
//! `docs/benchmarks.md`). A bar without a value reads "n/a", so a chart
//! says what was not measured instead of hiding it.

use std::fmt::Write;

use super::{COLOURS, escape, header, standalone_root, tick};

/// One bar: its label under the axis and its value, if measured.
pub struct Bar {
    pub label: String,
    pub value: Option<f64>,
}

/// One panel: a title, its y axis label, its bars.
pub struct BarPanel {
    pub title: String,
    pub y_label: String,
    pub bars: Vec<Bar>,
}

const WIDTH: f64 = 760.0;
const PANEL: f64 = 170.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 62.0;
/// Room under a panel for the bar labels, and above the next for its title.
const GAP: f64 = 56.0;

/// The SVG of `panels` under `title` and a one-line `subtitle`.
pub fn svg(title: &str, subtitle: &str, panels: &[BarPanel]) -> String {
    let height = TOP + panels.len() as f64 * (PANEL + GAP) + 10.0;
    let mut out = header(&standalone_root(height), title, subtitle);
    for (i, panel) in panels.iter().enumerate() {
        draw_panel(&mut out, panel, TOP + i as f64 * (PANEL + GAP));
    }
    out.push_str("</svg>\n");
    out
}

/// The top of the y axis: a round number (1, 2, 2.5 or 5 times a power of
/// ten) at least 10 % above the largest finite value, so its label fits
/// (1 when there is none).
fn y_max(bars: &[Bar]) -> f64 {
    let max = bars
        .iter()
        .filter_map(|b| b.value)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if max <= 0.0 {
        return 1.0;
    }
    let want = max * 1.1;
    let unit = 10f64.powf(want.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * unit)
        .find(|top| *top >= want)
        .unwrap_or(10.0 * unit)
}

fn draw_panel(out: &mut String, panel: &BarPanel, top: f64) {
    let plot_w = WIDTH - LEFT - RIGHT;
    let ymax = y_max(&panel.bars);
    let _ = writeln!(
        out,
        r##"<text x="{LEFT}" y="{}" font-weight="bold">{}</text>
<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="#999"/>
<text x="{}" y="{}" text-anchor="middle" transform="rotate(-90 {} {})">{}</text>
<text x="{}" y="{}" text-anchor="end">0</text>
<text x="{}" y="{}" text-anchor="end">{}</text>"##,
        top - 6.0,
        escape(&panel.title),
        LEFT - 52.0,
        top + PANEL / 2.0,
        LEFT - 52.0,
        top + PANEL / 2.0,
        escape(&panel.y_label),
        LEFT - 4.0,
        top + PANEL,
        LEFT - 4.0,
        top + 10.0,
        tick(ymax),
    );
    let n = panel.bars.len().max(1) as f64;
    let slot = plot_w / n;
    let width = (slot * 0.6).min(90.0);
    for (k, bar) in panel.bars.iter().enumerate() {
        let centre = LEFT + slot * (k as f64 + 0.5);
        let _ = writeln!(
            out,
            r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            top + PANEL + 14.0,
            escape(&bar.label)
        );
        let Some(v) = bar.value.filter(|v| v.is_finite() && *v >= 0.0) else {
            let _ = writeln!(
                out,
                r##"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" fill="#888">n/a</text>"##,
                top + PANEL - 4.0
            );
            continue;
        };
        let h = v / ymax * PANEL;
        let _ = writeln!(
            out,
            r#"<rect class="bar" x="{:.1}" y="{:.1}" width="{width:.1}" height="{h:.1}" fill="{}"/>
<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            centre - width / 2.0,
            top + PANEL - h,
            COLOURS[k % COLOURS.len()],
            top + PANEL - h - 4.0,
            value_label(v),
        );
    }
}

/// A bar's value: thousands grouped, one decimal below 100.
fn value_label(v: f64) -> String {
    if v < 100.0 {
        return format!("{v:.1}");
    }
    let digits = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: Option<f64>) -> Bar {
        Bar {
            label: label.into(),
            value,
        }
    }

    #[test]
    fn a_bar_chart_is_well_formed_with_one_rect_per_measured_bar() {
        let panel = BarPanel {
            title: "prove <ms>".into(),
            y_label: "ms".into(),
            bars: vec![
                bar("access", Some(467.0)),
                bar("settle_64", Some(12_880.4)),
                bar("missing", None),
            ],
        };
        let svg = svg("a & b", "sub", &[panel]);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains("12,880") && svg.contains("467") && svg.contains("n/a"));
        assert!(svg.contains("prove &lt;ms&gt;") && svg.contains("a &amp; b"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn the_tallest_bar_fits_and_empty_panels_still_draw() {
        let panel = BarPanel {
            title: "t".into(),
            y_label: "y".into(),
            bars: vec![bar("x", Some(10.0)), bar("nan", Some(f64::NAN))],
        };
        let one = svg("t", "", &[panel]);
        // The axis ends at 20: 10 / 20 of the 170-pixel panel.
        assert!(one.contains(r#"height="85.0""#), "{one}");
        let empty = BarPanel {
            title: "e".into(),
            y_label: "y".into(),
            bars: vec![],
        };
        let svg = svg("t", "", &[empty]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 0);
    }

    #[test]
    fn the_axis_ends_at_a_round_number_above_the_data() {
        let top = |v: f64| y_max(&[bar("a", Some(v)), bar("b", None)]);
        assert_eq!(top(215.1), 250.0);
        assert_eq!(top(230.0), 500.0);
        assert_eq!(top(9.0), 10.0);
        assert_eq!(top(0.9), 1.0);
        assert_eq!(top(461_891.0), 1_000_000.0);
        assert_eq!(top(28_136.0), 50_000.0);
        assert_eq!(y_max(&[]), 1.0);
    }

    #[test]
    fn values_read_with_grouped_thousands() {
        assert_eq!(value_label(1.234), "1.2");
        assert_eq!(value_label(467.0), "467");
        assert_eq!(value_label(28_136.0), "28,136");
        assert_eq!(value_label(1_800_683.0), "1,800,683");
    }
}
