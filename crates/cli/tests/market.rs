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
/// `veil --dev-keys market VERB --ledger L --wallet W ARGS…` for one
/// wallet, with the environment a chain needs (`VEIL_EVM_KEY_FILE`).
struct Trader {
    ledger: String,
    wallet: String,
    env: Vec<(String, String)>,
}

impl Trader {
    fn run(&self, args: &[String]) -> std::process::Output {
        let mut c = dev();
        c.args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    fn market(&self, verb: &str, args: &[&str]) -> Vec<String> {
        let head = [
            "market",
            verb,
            "--ledger",
            &self.ledger,
            "--wallet",
            &self.wallet,
        ];
        head.iter().chain(args).map(|a| a.to_string()).collect()
    }

    fn ok(&self, verb: &str, args: &[&str]) -> Value {
        let args = self.market(verb, args);
        let out = self.run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn show(&self) -> Value {
        self.ok("show", &["--json"])
    }

    /// Refused with a message containing `says`, the market as `before`.
    fn refused(&self, verb: &str, args: &[&str], says: &str, before: &Value) {
        let args = self.market(verb, args);
        let out = self.run(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{args:?}: {err}"
        );
        assert_eq!(&self.show(), before, "{args:?} changed the market");
    }

    fn new_wallet(&self) {
        let args = ["wallet", "new", "--wallet", &self.wallet].map(String::from);
        assert!(self.run(&args).status.success());
    }
}

fn num(v: &Value) -> u128 {
    v.as_str()
        .map_or_else(|| v.as_u64().unwrap().into(), |s| s.parse().unwrap())
}

/// Sells half of `tokens` and checks it paid exactly the quote, less the
/// fee, of the state `held` printed.
fn sell_half_at_the_quote(t: &Trader, held: &Value, tokens: u128) {
    let half = (tokens / 2).to_string();
    let sold = t.ok("sell", &[&half, "--json"]);
    assert_eq!(sold["receipt"]["tokens"], half);
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
    assert_eq!(t.show()["tokens"], (tokens - tokens / 2).to_string());
}

/// A buy of 4,000 on the genesis curve; returns the tokens bought.
fn buy_on_the_genesis_curve(t: &Trader) -> u128 {
    let genesis = t.show();
    assert_eq!(genesis["tokens"], "0");
    assert_eq!(genesis["reserve"], 1_000_000);
    let bought = t.ok("buy", &["4000", "--dev-faucet", "--json"]);
    let tokens = num(&bought["receipt"]["tokens"]);
    assert!(tokens > 0);
    assert_eq!(bought["receipt"]["value"], 4000);
    assert_eq!(bought["market"]["reserve"], 1_004_000);
    tokens
}

#[test]
fn a_wallet_buys_and_sells_on_the_ledgers_curve_and_bad_trades_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let ledger = format!("embedded:{}", path("ledger.redb"));
    let trader = |wallet: &str| Trader {
        ledger: ledger.clone(),
        wallet: path(wallet),
        env: Vec::new(),
    };
    let (t, t2) = (trader("w.json"), trader("w2.json"));
    t.new_wallet();
    t2.new_wallet();
    let tokens = buy_on_the_genesis_curve(&t);
    // Another holder, so that a sale above the wallet's tokens is still
    // within the circulating supply (refused by the ledger, not the quote).
    t2.ok("buy", &["1000", "--dev-faucet"]);
    let held = t.show();
    assert_eq!(held["tokens"], tokens.to_string());

    let more = (tokens + 1).to_string();
    t.refused("sell", &[&more], "insufficient token balance", &held);
    t.refused("sell", &["0"], "must be positive", &held);
    t.refused("sell", &["1e3"], "plain decimal digits", &held);
    // (The faucet funds the 10 before the trade is refused.)
    let args = ["10", "--min-out", "999999999", "--dev-faucet"];
    t.refused("buy", &args, "slippage", &held);
    t.refused("buy", &["11"], "insufficient account balance", &held);
    let args = ["10", "--slippage-bps", "10001"];
    t.refused("buy", &args, "above 10000", &held);
    sell_half_at_the_quote(&t, &held, tokens);
}

/// The same wallet path on the EVM ledger (docs/market.md §7.2): `veil
/// ledger deploy` on anvil, then the deployer's key (`VEIL_EVM_KEY_FILE`,
/// the development token's minter, so `--dev-faucet` mints) trades
/// through `BandwidthMarket`: the genesis curve, a buy, refusals that
/// change nothing, a sale at the quote. Skipped (loudly) without anvil
/// unless `VEIL_REQUIRE_ANVIL=1`.
#[test]
fn a_wallet_trades_on_the_evm_ledgers_market_as_on_the_embedded_one() {
    use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
    let Some(anvil) = Anvil::for_test("veil market on anvil") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("deployer.key");
    std::fs::write(&key, format!("{FIRST_DEV_KEY}\n")).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = veil()
        .args(["ledger", "deploy", "--rpc", &anvil.url, "--key-file"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = Trader {
        ledger: d["ledger_spec"].as_str().unwrap().to_owned(),
        wallet: dir.path().join("w.json").to_str().unwrap().to_owned(),
        env: vec![("VEIL_EVM_KEY_FILE".into(), key.to_str().unwrap().to_owned())],
    };
    t.new_wallet();
    let tokens = buy_on_the_genesis_curve(&t);
    let held = t.show();
    assert_eq!(held["tokens"], tokens.to_string());
    // The only holder: a sale above its tokens is refused by the quote.
    let more = (tokens + 1).to_string();
    t.refused("sell", &[&more], "exceeds the circulating supply", &held);
    let args = ["10", "--min-out", "999999999", "--dev-faucet"];
    t.refused("buy", &args, "slippage", &held);
    t.refused("buy", &["11"], "insufficient account balance", &held);
    sell_half_at_the_quote(&t, &held, tokens);
}
