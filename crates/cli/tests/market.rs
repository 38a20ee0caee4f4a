//! `veil market simulate` as a user runs it (docs/market.md §4): the JSON
//! issue 14 asks for, the SVG plots, and a bad scenario name refused with
//! nothing written.

use std::process::Command;

use serde_json::Value;

const SCENARIOS: [&str; 5] = [
    "steady-growth",
    "spike-10x",
    "spike-10x-instant",
    "crash",
    "pump-and-dump",
];

fn veil() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veil"))
}

/// With the development keys: an embedded ledger opens its verifier.
fn dev() -> Command {
    let mut c = veil();
    c.arg("--dev-keys");
    c
}

#[test]
fn simulate_reports_every_scenario_with_and_without_the_hand_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = veil()
        .args(["market", "simulate", "--json", "--out"])
        .arg(&plots)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, SCENARIOS);
    for s in scenarios {
        let moves = &s["largest_move"];
        for run in ["with_hand", "without_hand"] {
            let m = moves[run].as_f64().unwrap();
            assert!(m.is_finite() && m > 0.0, "{}: {run} {m}", s["name"]);
        }
        let svg =
            std::fs::read_to_string(plots.join(format!("{}.svg", s["name"].as_str().unwrap())))
                .unwrap();
        assert!(
            svg.starts_with("<svg") && svg.matches("<polyline").count() == 7,
            "3 panels × 2 runs + demand"
        );
    }
    let spike = &scenarios[1]["largest_move"];
    assert!(
        spike["with_hand"].as_f64() < spike["without_hand"].as_f64(),
        "the hand damps the ramped spike"
    );
    let profit = &scenarios[4]["attacker_profit"]["with_hand"];
    assert!(profit.as_str().unwrap().parse::<i128>().is_ok(), "{profit}");
}

#[test]
fn an_unknown_scenario_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let plots = dir.path().join("plots");
    let out = veil()
        .args(["market", "simulate", "--scenario", "moon", "--out"])
        .arg(&plots)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no scenario \"moon\"") && err.contains("spike-10x"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(!plots.exists());
}

/// `veil market buy|sell|show` on an embedded ledger file, as a user runs
/// them: the wallet's account buys with value the development faucet
/// mints, sells half back; every bad input is refused with a clear error
/// and the books do not move.
#[test]
fn a_wallet_buys_and_sells_on_the_ledgers_curve_and_bad_trades_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let (w, w2) = (path("w.json"), path("w2.json"));
    let ledger = format!("embedded:{}", path("ledger.redb"));
    // `veil --dev-keys market VERB --ledger L --wallet W ARGS…`
    let market = |verb: &str, wallet: &str, args: &[&str]| -> Vec<String> {
        let head = ["market", verb, "--ledger", &ledger, "--wallet", wallet];
        head.iter().chain(args).map(|a| a.to_string()).collect()
    };
    let ok = |args: Vec<String>| -> Value {
        let out = dev().args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    for wallet in [&w, &w2] {
        ok(vec![
            "wallet".into(),
            "new".into(),
            "--wallet".into(),
            wallet.clone(),
        ]);
    }
    let show = || ok(market("show", &w, &["--json"]));
    let genesis = show();
    assert_eq!(genesis["tokens"], "0");
    assert_eq!(genesis["reserve"], 1_000_000);

    let bought = ok(market("buy", &w, &["4000", "--dev-faucet", "--json"]));
    let tokens: u128 = bought["receipt"]["tokens"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(tokens > 0);
    assert_eq!(bought["receipt"]["value"], 4000);
    assert_eq!(bought["market"]["reserve"], 1_004_000);
    // Another holder, so that a sale above the wallet's tokens is still
    // within the circulating supply (refused by the ledger, not the quote).
    ok(market("buy", &w2, &["1000", "--dev-faucet"]));
    let held = show();
    assert_eq!(held["tokens"], tokens.to_string());

    let refused = |args: Vec<String>, says: &str| {
        let out = dev().args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(show(), held, "{args:?} changed the market");
    };
    let more = (tokens + 1).to_string();
    refused(market("sell", &w, &[&more]), "insufficient token balance");
    refused(market("sell", &w, &["0"]), "must be positive");
    refused(market("sell", &w, &["1e3"]), "plain decimal digits");
    // (The faucet funds the 10 before the trade is refused.)
    refused(
        market("buy", &w, &["10", "--min-out", "999999999", "--dev-faucet"]),
        "slippage",
    );
    refused(market("buy", &w, &["11"]), "insufficient account balance");
    refused(
        market("buy", &w, &["10", "--slippage-bps", "10001"]),
        "above 10000",
    );

    let half = (tokens / 2).to_string();
    let sold = ok(market("sell", &w, &[&half, "--json"]));
    assert_eq!(sold["receipt"]["tokens"], half);
    // Exactly what the curve, less the fee, quoted for the state `show` printed.
    let num = |v: &Value| -> u128 {
        v.as_str()
            .map_or_else(|| v.as_u64().unwrap().into(), |s| s.parse().unwrap())
    };
    let ratio = held["ratio_ppm"].as_u64().unwrap() as u32;
    let ratio = veil_market::curve::ReserveRatio::from_ppm(ratio).unwrap();
    let (r, s, f) = (
        num(&held["reserve"]),
        num(&held["supply"]),
        num(&held["float"]),
    );
    let curve = veil_market::curve::Curve::from_state(r, s, f, ratio).unwrap();
    let (quote, _fee) = veil_ledger::trade::trade_fee()
        .quote_sell(&curve, tokens / 2)
        .unwrap();
    assert_eq!(
        u128::from(sold["receipt"]["value"].as_u64().unwrap()),
        quote
    );
    assert_eq!(show()["tokens"], (tokens - tokens / 2).to_string());
}
