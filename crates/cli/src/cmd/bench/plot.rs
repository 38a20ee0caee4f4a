//! `veil bench --plot DIR`: the report drawn as SVG bar charts
//! (`veil_plot::bars`), shown in `docs/benchmarks.md`:
//!
//! - `circuits.svg`: prove time, verify time and constraints per circuit;
//! - `settle.svg`: the settlement's cost per session against the batch
//!   size K: prove time, and EVM gas where measured (K = 64);
//! - `peer.svg` (with `--peer`): veil's `access` against the snarkjs peer
//!   on the same statement.
//!
//! Everything is read from the report `veil bench --json` prints, so the
//! charts show exactly what the JSON says.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value as Json;
use veil_plot::bars::{Bar, BarPanel, svg};
use veil_proofs::SettleSize;

/// Writes the charts of `report` into `dir` (created if missing) and
/// returns their paths.
pub fn write(dir: &Path, report: &Json) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut charts = vec![
        ("circuits.svg", circuits(report)),
        ("settle.svg", settle(report)),
    ];
    if let Some(peer) = peer(report) {
        charts.push(("peer.svg", peer));
    }
    charts
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// One line under each title: what was run.
fn subtitle(report: &Json) -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "veil bench, medians of {} run(s), development keys, {cores} core(s)",
        report["runs"]
    )
}

fn panel(title: &str, y_label: &str, bars: Vec<Bar>) -> BarPanel {
    BarPanel {
        title: title.into(),
        y_label: y_label.into(),
        bars,
    }
}

fn bar(label: impl Into<String>, value: &Json) -> Bar {
    Bar {
        label: label.into(),
        value: value.as_f64(),
    }
}

/// Prove time, verify time and constraints per benchmarked circuit, the
/// smallest circuit first.
fn circuits(report: &Json) -> String {
    let mut rows: Vec<(&String, &Json)> = report["circuits"]
        .as_object()
        .map(|o| o.iter().collect())
        .unwrap_or_default();
    rows.sort_by_key(|(_, c)| c["constraints"].as_u64().unwrap_or(u64::MAX));
    let series = |key: &str| {
        rows.iter()
            .map(|(name, c)| bar(name.as_str(), &c[key]))
            .collect()
    };
    svg(
        "veil: Groth16 circuits",
        &subtitle(report),
        &[
            panel("prove time per proof", "ms", series("prove_ms")),
            panel("verify time per proof", "ms", series("verify_ms")),
            panel("constraints", "constraints", series("constraints")),
        ],
    )
}

/// Cost per session of `settle_K` for each K: prove time (benchmarked
/// sizes) and EVM gas (`evm.settle_64_gas`, measured with `settle_64`).
fn settle(report: &Json) -> String {
    let sizes = [SettleSize::K1, SettleSize::K8, SettleSize::K64];
    let label = |k: SettleSize| format!("K = {}", k.get());
    let prove = sizes
        .iter()
        .map(|k| {
            let name = format!("settle_{}", k.get());
            bar(label(*k), &report["circuits"][name]["prove_ms_per_session"])
        })
        .collect();
    let gas = sizes
        .iter()
        .map(|k| {
            let g = &report["evm"]["settle_64_gas"];
            let measured = g["sessions"].as_u64() == Some(k.get() as u64);
            bar(
                label(*k),
                if measured {
                    &g["per_session"]
                } else {
                    &Json::Null
                },
            )
        })
        .collect();
    svg(
        "veil: settlement cost per session against the batch size K",
        &subtitle(report),
        &[
            panel("prove time per session (settle_K prove / K)", "ms", prove),
            panel(
                "EVM gas per session (settle tx / K; revm, Cancun)",
                "gas",
                gas,
            ),
        ],
    )
}

/// veil's `access` against the peer (`"peer"` of the report), if run.
fn peer(report: &Json) -> Option<String> {
    let p = report.get("peer").filter(|p| p.is_object())?;
    let veil = &report["circuits"]["access"];
    let name = format!(
        "{} {}",
        p["peer"].as_str().unwrap_or("peer"),
        p["circuit"].as_str().unwrap_or("")
    );
    let pair = |key: &str| vec![bar("veil access", &veil[key]), bar(name.trim(), &p[key])];
    Some(svg(
        "veil against the snarkjs peer (same statement, same sitting)",
        &subtitle(report),
        &[
            panel("prove time per proof", "ms", pair("prove_ms")),
            panel("verify time per proof", "ms", pair("verify_ms")),
            panel("constraints", "constraints", pair("constraints")),
        ],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report() -> Json {
        json!({
            "runs": 3,
            "circuits": {
                "settle_8": {"constraints": 57851, "prove_ms": 1628.0, "verify_ms": 1.2, "prove_ms_per_session": 203.5},
                "access": {"constraints": 9913, "prove_ms": 467.0, "verify_ms": 1.3},
            },
            "evm": {"settle_64_gas": {"sessions": 64, "per_session": 28136, "tx": 1800683}},
            "peer": null,
        })
    }

    #[test]
    fn circuits_are_drawn_smallest_first_with_their_values() {
        let svg = circuits(&report());
        assert!(svg.find(">access<") < svg.find(">settle_8<"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 6);
        assert!(svg.contains("57,851") && svg.contains("1,628"));
    }

    #[test]
    fn settle_cost_shows_what_was_measured_and_marks_the_rest() {
        let svg = settle(&report());
        assert!(svg.contains(">204<") && svg.contains(">28,136<"), "{svg}");
        // K = 1 and 64 not proved, K = 1 and 8 not on the EVM.
        assert_eq!(svg.matches(">n/a<").count(), 4);
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
    }

    #[test]
    fn the_peer_chart_only_with_a_peer() {
        let mut r = report();
        assert!(peer(&r).is_none());
        r["peer"] = json!({"peer": "snarkjs-0.7.6", "circuit": "spend32", "prove_ms": 2741.0, "verify_ms": 35.0, "constraints": 9285});
        let svg = peer(&r).expect("a chart");
        assert!(svg.contains("snarkjs-0.7.6 spend32") && svg.contains("2,741"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 6);
    }
}
