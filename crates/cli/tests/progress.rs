//! Progress of long operations and `veil bench --plot`
//! (`docs/operations.md`, "Progress"; `docs/benchmarks.md`): with stderr
//! not a terminal a long command prints a few plain progress lines; with
//! `--json` it prints one JSON document on stdout and no progress at all;
//! `--plot DIR` writes well-formed SVG charts holding the report's numbers.
//! The quickest bench (`--circuits settle_1`) is the long-ish operation.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// Benchmarks use every core: one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

/// `veil --dev-keys bench --circuits settle_1 ARGS…`, stdout and stderr
/// captured (so neither is a terminal).
fn bench(args: &[&str]) -> Output {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    let out = Command::new(env!("CARGO_BIN_EXE_veil"))
        .args(["--dev-keys", "bench", "--circuits", "settle_1"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run veil");
    assert!(out.status.success(), "{}", text(&out.stderr));
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Lines of `stderr` that are progress lines of the proving step.
fn proving_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("settle_1: proving"))
        .collect()
}

/// Whether `svg` is one `<svg>` element whose tags all nest and close (a
/// small check, enough for the charts' flat markup: no comments, no CDATA,
/// no `>` inside attribute values).
fn well_formed(svg: &str) -> Result<(), String> {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg.trim();
    if !rest.starts_with("<svg") {
        return Err("does not start with <svg".into());
    }
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').ok_or("unclosed tag")? + start;
        let tag = &rest[start + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(o) if o == name.trim() => {}
                o => return Err(format!("</{name}> closes {o:?}")),
            }
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().ok_or("empty tag")?;
            open.push(name);
        }
        rest = &rest[end + 1..];
        if open.is_empty() && !rest.trim().is_empty() {
            return Err("content after </svg>".into());
        }
    }
    if open.is_empty() {
        Ok(())
    } else {
        Err(format!("unclosed {open:?}"))
    }
}

/// The charts `--plot` wrote in `dir`, checked well-formed and holding
/// bars; returns (circuits.svg, settle.svg).
fn charts(dir: &Path) -> (String, String) {
    let read = |name: &str| {
        let svg = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        well_formed(&svg).unwrap_or_else(|e| panic!("{name}: {e}\n{svg}"));
        assert!(svg.contains(r#"class="bar""#), "{name} has no bar:\n{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{name}");
        svg
    };
    assert!(!dir.join("peer.svg").exists(), "no peer was run");
    (read("circuits.svg"), read("settle.svg"))
}

/// `1234567` as the charts write it: `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn without_a_terminal_progress_is_a_few_plain_lines_and_plots_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plots = dir.path().join("plots");
    let out = bench(&["--runs", "2", "--plot", plots.to_str().expect("utf-8")]);
    let stderr = text(&out.stderr);
    // Start, each quarter crossed, end: never one line per event, and no
    // terminal control sequences.
    assert_eq!(
        proving_lines(&stderr),
        [
            "settle_1: proving: 0/2 (0%)",
            "settle_1: proving: 1/2 (50%)",
            "settle_1: proving: 2/2 (100%)"
        ],
        "{stderr}"
    );
    assert!(stderr.contains("settle_1: development setup…"), "{stderr}");
    assert!(stderr.contains("evm gas (revm)…"), "{stderr}");
    assert!(
        !stderr.contains("\u{1b}[?25l") && !stderr.contains('\r'),
        "{stderr:?}"
    );
    assert!(stderr.contains(&format!("wrote {}", plots.join("circuits.svg").display())));

    let (circuits, settle) = charts(&plots);
    // settle_1 constraints, drawn as a bar with its value.
    assert!(
        circuits.contains(">settle_1<") && circuits.contains(">7,346<"),
        "{circuits}"
    );
    // Prove time per session for K = 1 measured; K = 8, 64 and the EVM
    // settle gas (measured only with settle_64) marked as not measured.
    assert_eq!(settle.matches(r#"class="bar""#).count(), 1, "{settle}");
    assert_eq!(settle.matches(">n/a<").count(), 5, "{settle}");
}

#[test]
fn with_json_stdout_is_one_document_and_there_is_no_progress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = bench(&[
        "--json",
        "--runs",
        "1",
        "--plot",
        dir.path().to_str().expect("utf-8"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.trim_end().lines().count(), 1, "{stdout}");
    let report: Value = serde_json::from_str(&stdout).expect("stdout is one JSON document");
    let stderr = text(&out.stderr);
    assert!(proving_lines(&stderr).is_empty(), "{stderr}");
    for progress in ["…", "%)", "wrote "] {
        assert!(!stderr.contains(progress), "{progress:?} in {stderr}");
    }
    // The charts draw the report's own numbers.
    let (circuits, _) = charts(dir.path());
    let constraints = report["circuits"]["settle_1"]["constraints"]
        .as_u64()
        .expect("constraints");
    assert!(
        circuits.contains(&format!(">{}<", grouped(constraints))),
        "{circuits}"
    );
}

#[test]
fn the_svg_check_refuses_broken_markup() {
    assert!(well_formed(r#"<svg a="1"><rect/><text>x</text></svg>"#).is_ok());
    for bad in [
        "<svg><text>x</svg>",
        "<svg><rect/>",
        "<svg></svg><svg></svg>",
        "<g></g>",
        "<svg><text>x</rect></svg>",
    ] {
        assert!(well_formed(bad).is_err(), "{bad}");
    }
}
