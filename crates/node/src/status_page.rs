//! The operator's status page (docs/operations.md, "Status page"): one
//! server-rendered HTML document with inline SVG charts ([`veil_plot`]) of
//! the node's [`History`](crate::history::History): earnings, sessions,
//! throughput, settlement batches and their proving time.
//!
//! Sans-IO: [`render`] turns samples and batch records into HTML. The page
//! loads nothing else (no script, no stylesheet, no image, no font), so it
//! works offline under [`CONTENT_SECURITY_POLICY`]. Its inputs carry
//! node-wide totals only, so nothing on it names a session, a nullifier or
//! a peer (docs/protocol.md §9.2, C10).

use std::fmt::Write;
use std::time::Duration;

use veil_plot::{Panel, Series, Style, escape, svg_styled, utc_tick};

use crate::history::{BatchRecord, Sample, thin, throughput};

/// The page's policy: nothing but its own inline styles (and the empty
/// `data:` icon that keeps the browser from asking for `/favicon.ico`).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Points drawn per line at most (a day of samples thins to this).
pub const MAX_POINTS: usize = 720;
/// Batches listed in the table (the chart draws every batch kept).
const TABLE_ROWS: usize = 10;
/// The browser reloads the page this often, in seconds.
const REFRESH_SECONDS: u32 = 30;

/// What one page shows.
pub struct PageInput<'a> {
    /// The samples, oldest first, the last taken now
    /// ([`History::samples_until`](crate::history::History::samples_until)).
    pub samples: &'a [Sample],
    /// The settlement batches kept, oldest first.
    pub batches: &'a [BatchRecord],
    /// How often samples are taken.
    pub sample_every: Duration,
}

/// The page's HTML.
pub fn render(input: &PageInput<'_>) -> String {
    let samples = thin(input.samples, MAX_POINTS);
    let mut body = String::new();
    header(&mut body, input);
    cards(&mut body, input);
    chart_section(&mut body, &activity_chart(&samples));
    chart_section(&mut body, &settlement(input.batches));
    section(
        &mut body,
        "Audit score",
        "<p class=\"note\">Not shown: audits are not wired into the node yet \
         (docs/market.md §6–§7). This is where the score will go.</p>",
    );
    let _ = write!(
        body,
        "<footer>Prometheus metrics: <a href=\"/metrics\">/metrics</a>. \
         This page reloads every {REFRESH_SECONDS} s.</footer>"
    );
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<link rel="icon" href="data:,">
<title>veil node status</title>
<style>{STYLE}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"#
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:0;background:#f4f5f7;color:#222}\
main{max-width:920px;margin:0 auto;padding:16px 20px}\
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:0 0 8px}\
.sub,.note,footer{color:#555;font-size:13px}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:10px;margin:14px 0}\
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 12px}\
.card b{display:block;font-size:20px;margin-top:4px}.card span{font-size:12px;color:#555}\
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}\
svg{width:100%;height:auto;display:block}\
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 12px;text-align:right;border-bottom:1px solid #eee}";

fn header(out: &mut String, input: &PageInput<'_>) {
    let first = input.samples.first().map_or(0.0, |s| s.at.0);
    let now = input.samples.last().map_or(0.0, |s| s.at.0);
    let _ = write!(
        out,
        "<h1>veil node status</h1>\n<p class=\"sub\">At {} · {} samples since {}, one every {} s · node-wide totals since the node started</p>\n",
        escape(&utc_tick(now, 0.0)),
        input.samples.len(),
        escape(&utc_tick(first, now - first)),
        input.sample_every.as_secs_f64(),
    );
}

fn cards(out: &mut String, input: &PageInput<'_>) {
    let last = input.samples.last().copied().unwrap_or_default();
    let proved: Duration = input.batches.iter().map(|b| b.prove_time).sum();
    let mean_prove = match input.batches.len() {
        0 => "–".to_owned(),
        n => format!("{:.2} s", proved.as_secs_f64() / n as f64),
    };
    let cards = [
        ("earnings (base units)", last.earnings.to_string()),
        ("sessions open", last.sessions_open.to_string()),
        ("sessions opened", last.sessions_total.to_string()),
        ("relayed", bytes(last.bytes_relayed)),
        ("batches shown", input.batches.len().to_string()),
        ("mean proving time", mean_prove),
    ];
    out.push_str("<div class=\"cards\">");
    for (label, value) in cards {
        let _ = write!(
            out,
            "<div class=\"card\"><span>{}</span><b>{}</b></div>",
            escape(label),
            escape(&value)
        );
    }
    out.push_str("</div>\n");
}

fn section(out: &mut String, title: &str, inner: &str) {
    let _ = writeln!(
        out,
        "<section><h2>{}</h2>\n{inner}</section>",
        escape(title)
    );
}

/// A section headed by its chart's own title.
fn chart_section(out: &mut String, chart: &str) {
    let _ = writeln!(out, "<section>\n{chart}</section>");
}

/// Earnings, sessions and throughput on one time axis.
fn activity_chart(samples: &[Sample]) -> String {
    let line = |label: &str, f: fn(&Sample) -> f64| Series {
        label: label.into(),
        points: samples.iter().map(|s| (s.at.0, f(s))).collect(),
    };
    let rates = throughput(samples);
    let panels = [
        Panel {
            title: "Earnings".into(),
            y_label: "base units".into(),
            series: vec![line("paid to the node", |s| s.earnings as f64)],
        },
        Panel {
            title: "Sessions".into(),
            y_label: "sessions".into(),
            series: vec![
                line("open", |s| s.sessions_open as f64),
                line("opened since start", |s| s.sessions_total as f64),
            ],
        },
        Panel {
            title: "Throughput".into(),
            y_label: "KiB/s".into(),
            series: vec![Series {
                label: "relayed, both directions".into(),
                points: rates
                    .iter()
                    .map(|r| (r.at.0, r.bytes_per_second / 1024.0))
                    .collect(),
            }],
        },
    ];
    let style = Style {
        inline: true,
        time_axis: true,
        markers: false,
    };
    svg_styled(
        "Activity",
        "node-wide, since the node started",
        "time (UTC)",
        &panels,
        style,
    )
}

/// The batches' proving time and size, and a table of the latest.
fn settlement(batches: &[BatchRecord]) -> String {
    if batches.is_empty() {
        return "<h2>Settlement batches</h2><p class=\"note\">No settlement batch yet.</p>"
            .to_owned();
    }
    let points = |f: fn(&BatchRecord) -> f64| -> Vec<(f64, f64)> {
        batches.iter().map(|b| (b.at.0, f(b))).collect()
    };
    let panels = [
        Panel {
            title: "Proving time per batch".into(),
            y_label: "seconds".into(),
            series: vec![Series {
                label: "settle proof".into(),
                points: points(|b| b.prove_time.as_secs_f64()),
            }],
        },
        Panel {
            title: "Sessions per batch".into(),
            y_label: "sessions".into(),
            series: vec![Series {
                label: "settled".into(),
                points: points(|b| f64::from(b.sessions)),
            }],
        },
    ];
    let style = Style {
        inline: true,
        time_axis: true,
        markers: true,
    };
    let mut out = svg_styled(
        "Settlement batches",
        "each accepted by the ledger",
        "time (UTC)",
        &panels,
        style,
    );
    out.push_str(
        "<table><thead><tr><th>settled at</th><th>sessions</th><th>proving time</th><th>paid</th></tr></thead><tbody>",
    );
    for b in batches.iter().rev().take(TABLE_ROWS) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{:.2} s</td><td>{}</td></tr>",
            escape(&utc_tick(b.at.0, 0.0)),
            b.sessions,
            b.prove_time.as_secs_f64(),
            b.paid
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

/// `n` bytes in B, KiB, MiB or GiB.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, UnixTime};

    const T0: f64 = 1_796_532_330.0;

    fn sample(t: f64, k: u64) -> Sample {
        Sample {
            at: UnixTime(T0 + t),
            earnings: 40 * k,
            sessions_open: k % 3,
            sessions_total: k,
            bytes_relayed: 20_480 * k,
        }
    }

    fn page(samples: &[Sample], batches: &[BatchRecord]) -> String {
        render(&PageInput {
            samples,
            batches,
            sample_every: Duration::from_secs(10),
        })
    }

    /// Every element opened is closed, in order (void elements aside):
    /// enough to catch a broken template.
    fn assert_balanced(html: &str) {
        const VOID: [&str; 5] = ["meta", "link", "rect", "circle", "polyline"];
        let mut open: Vec<String> = Vec::new();
        for tag in html
            .split('<')
            .skip(1)
            .map(|t| t.split('>').next().unwrap_or(""))
        {
            if tag.starts_with('!') || tag.ends_with('/') {
                continue;
            }
            let name = tag
                .trim_start_matches('/')
                .split([' ', '\n'])
                .next()
                .unwrap_or("");
            if VOID.contains(&name) {
                continue;
            }
            if tag.starts_with('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "unbalanced </{name}>");
            } else {
                open.push(name.to_owned());
            }
        }
        assert!(open.is_empty(), "unclosed {open:?}");
    }

    #[test]
    fn a_page_with_data_draws_every_chart_and_is_well_formed() {
        let samples: Vec<Sample> = (0..20).map(|k| sample(10.0 * k as f64, k)).collect();
        let batches = [BatchRecord {
            at: UnixTime(T0 + 95.0),
            sessions: 3,
            prove_time: Duration::from_millis(1500),
            paid: 120,
        }];
        let html = page(&samples, &batches);
        assert!(html.starts_with("<!doctype html>"));
        assert_balanced(&html);
        assert_eq!(html.matches("<svg").count(), 2, "activity and settlement");
        assert!(!html.contains("xmlns"), "inline SVG");
        // Earnings, open, opened, throughput, proving time, batch size.
        assert_eq!(html.matches("<polyline").count(), 6);
        assert_eq!(
            html.matches("<circle").count(),
            2,
            "one dot per batch panel"
        );
        assert!(html.contains("<td>1.50 s</td>") && html.contains("<b>760</b>"));
        assert!(html.contains("380.0 KiB"), "relayed total");
        assert!(!html.contains("NaN") && !html.contains("inf"));
        // Loads nothing: no script, no external URL, only the data: icon.
        assert!(
            !html.contains("<script") && !html.contains("http://") && !html.contains("https://")
        );
        assert!(!html.contains("src="));
    }

    #[test]
    fn a_fresh_node_draws_its_one_sample_and_says_no_batch_yet() {
        let html = page(&History::default().samples_until(sample(0.0, 0)), &[]);
        assert_balanced(&html);
        assert!(html.contains("No settlement batch yet"));
        assert_eq!(html.matches("<svg").count(), 1);
        // Earnings and sessions draw their one point; throughput has none.
        assert!(html.contains("no data yet"));
        let empty = page(&[], &[]);
        assert_balanced(&empty);
        assert!(!empty.contains("NaN"));
    }

    #[test]
    fn text_is_escaped() {
        let mut out = String::new();
        section(&mut out, "<b>&\"", "");
        assert!(out.contains("&lt;b&gt;&amp;&quot;") && !out.contains("<b>"));
    }

    #[test]
    fn nothing_on_the_page_looks_like_an_identifier() {
        // Inputs are node-wide numbers only; a session id, nullifier or key
        // (32 bytes) would show as a 64-digit hex run, an address as a
        // dotted quad. The longest number here has 19 digits.
        let samples: Vec<Sample> = (0..5)
            .map(|k| sample(k as f64, 100_000_000_000_000 + k))
            .collect();
        let html = page(&samples, &[]);
        let longest_hex = html
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(longest_hex < 32, "a {longest_hex}-digit hex run");
        assert!(!html.contains("127.0.0.1"));
    }

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(5 << 30), "5.0 GiB");
    }
}
