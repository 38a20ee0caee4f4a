//! `veil market simulate` as a user runs it (docs/market.md §4): the JSON
//! issue 14 asks for, the SVG plots, and a bad scenario name refused with
//! nothing written.

use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 5] = ["steady-growth", "spike-10x", "spike-10x-instant", "crash", "pump-and-dump"];

fn veil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veil"))
}

#[test]
fn simulate_reports_every_scenario_with_and_without_the_hand_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = veil().args(["market", "simulate", "--json", "--out"]).arg(&plots).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, SCENARIOS);
    for s in scenarios {
        let moves = &s["largest_move"];
        for run in ["with_hand", "without_hand"] {
            let m = moves[run].as_f64().unwrap();
            assert!(m.is_finite() && m > 0.0, "{}: {run} {m}", s["name"]);
        }
        let svg = std::fs::read_to_string(plots.join(format!("{}.svg", s["name"].as_str().unwrap()))).unwrap();
        assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() == 7, "3 panels × 2 runs + demand");
    }
    let spike = &scenarios[1]["largest_move"];
    assert!(spike["with_hand"].as_f64() < spike["without_hand"].as_f64(), "the hand damps the ramped spike");
    let profit = &scenarios[4]["attacker_profit"]["with_hand"];
    assert!(profit.as_str().unwrap().parse::<i128>().is_ok(), "{profit}");
}

#[test]
fn an_unknown_scenario_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = veil().args(["market", "simulate", "--scenario", "moon", "--out"]).arg(&plots).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scenario \"moon\"") && err.contains("spike-10x"), "{err}");
    assert!(out.stdout.is_empty());
    assert!(!plots.exists());
}
