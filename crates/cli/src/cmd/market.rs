//! `veil market`: the bandwidth market ([docs/market.md](../../../../docs/market.md)).
//!
//! `veil market simulate` replays the demand scenarios of docs/market.md §4
//! through the real curve code (`veil-market`), with and without the
//! invisible hand, and prints the largest per-epoch price move of each;
//! `--out DIR` writes one SVG per scenario (price, supply, reserve ratio).
//! `veil market show|buy|sell` trade on a ledger's curve (`market_trade`).

use std::path::PathBuf;

use anyhow::{Context, bail};
use serde_json::json;
use veil_market::simulate::{self, Outcome, Run, Scenario, Setup, UNIT};

use veil_plot::{self as plot, Panel, Series};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Replay demand scenarios through the curve with and without the
    /// invisible hand; print the largest per-epoch price moves.
    Simulate(SimulateArgs),
    /// The ledger's curve: reserve, supply, ratio, price (and a wallet's tokens).
    Show(super::market_trade::ShowArgs),
    /// Buy tokens on the ledger's curve with the wallet account's value.
    Buy(super::market_trade::TradeArgs),
    /// Sell the wallet account's tokens back to the ledger's curve.
    Sell(super::market_trade::TradeArgs),
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Write `<scenario>.svg` plots (price, supply, reserve ratio) here.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print the results as one JSON object.
    #[arg(long)]
    json: bool,
    /// Only this scenario (default: all of them).
    #[arg(long, value_name = "NAME")]
    scenario: Option<String>,
    /// Include every epoch's state in the JSON.
    #[arg(long, requires = "json")]
    epochs: bool,
}

pub fn run(command: Command) -> anyhow::Result<()> {
    use super::market_trade as t;
    let rt = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    match command {
        Command::Simulate(args) => simulate(args),
        Command::Show(args) => rt()?.block_on(t::show(args)),
        Command::Buy(args) => rt()?.block_on(t::buy_or_sell(args, true)),
        Command::Sell(args) => rt()?.block_on(t::buy_or_sell(args, false)),
    }
}

fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let setup = Setup::default();
    let outcomes = chosen(args.scenario.as_deref())?
        .iter()
        .map(|s| simulate::simulate(s, &setup).with_context(|| format!("scenario {}", s.name)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if let Some(dir) = &args.out {
        write_plots(dir, &outcomes)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&setup, &outcomes, args.epochs))?
        );
    } else {
        print!("{}", table(&outcomes));
        if let Some(dir) = &args.out {
            println!("plots: {}/<scenario>.svg", dir.display());
        }
    }
    Ok(())
}

fn chosen(name: Option<&str>) -> anyhow::Result<Vec<Scenario>> {
    let all = simulate::scenarios();
    let Some(name) = name else { return Ok(all) };
    let names: Vec<&str> = all.iter().map(|s| s.name).collect();
    match all.iter().find(|s| s.name == name) {
        Some(s) => Ok(vec![s.clone()]),
        None => bail!(
            "no scenario {name:?}; the scenarios are {}",
            names.join(", ")
        ),
    }
}

fn to_json(setup: &Setup, outcomes: &[Outcome], epochs: bool) -> serde_json::Value {
    let scenarios: Vec<_> = outcomes
        .iter()
        .map(|o| {
            let mut v = json!({
                "name": o.scenario.name,
                "description": o.scenario.description,
                "largest_move": {"with_hand": o.with_hand.largest_move, "without_hand": o.without_hand.largest_move},
                "largest_move_epoch": {"with_hand": o.with_hand.largest_move_epoch, "without_hand": o.without_hand.largest_move_epoch},
                "attacker_profit": {"with_hand": profit(&o.with_hand), "without_hand": profit(&o.without_hand)},
            });
            if epochs {
                v["epochs"] = json!({"with_hand": o.with_hand.epochs, "without_hand": o.without_hand.epochs});
            }
            v
        })
        .collect();
    json!({"setup": setup, "scenarios": scenarios})
}

/// The attacker's gain in base units, as a decimal string (it passes 2^64).
fn profit(run: &Run) -> Option<String> {
    run.attacker_profit.map(|p| p.to_string())
}

fn table(outcomes: &[Outcome]) -> String {
    let mut out = String::from(
        "largest price move in one epoch\nscenario              with the hand      without          change\n",
    );
    for o in outcomes {
        let (w, wo) = (&o.with_hand, &o.without_hand);
        out += &format!(
            "{:<20}  {:>6.2}% (ep. {:>2})  {:>6.2}% (ep. {:>2})  {:>+6.1}%\n",
            o.scenario.name,
            100.0 * w.largest_move,
            w.largest_move_epoch,
            100.0 * wo.largest_move,
            wo.largest_move_epoch,
            100.0 * (w.largest_move / wo.largest_move - 1.0),
        );
    }
    out
}

fn write_plots(dir: &std::path::Path, outcomes: &[Outcome]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for o in outcomes {
        let path = dir.join(format!("{}.svg", o.scenario.name));
        let svg = plot::svg(o.scenario.name, o.scenario.description, "epoch", &panels(o));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn panels(o: &Outcome) -> Vec<Panel> {
    let panel = |title: &str, y_label: &str, f: fn(&simulate::EpochRecord) -> f64| Panel {
        title: title.into(),
        y_label: y_label.into(),
        series: vec![
            line("with the hand", &o.with_hand, f),
            line("without", &o.without_hand, f),
        ],
    };
    vec![
        panel("spot price", "reserve per token", |e| e.price),
        panel("supply", "tokens", |e| e.supply as f64 / UNIT as f64),
        panel("reserve ratio", "%", |e| f64::from(e.ratio_ppm) / 1e4),
        Panel {
            title: "demand".into(),
            y_label: "% of capacity".into(),
            series: vec![line("demand", &o.with_hand, |e| e.demand_ppm as f64 / 1e4)],
        },
    ]
}

fn line(label: &str, run: &Run, f: fn(&simulate::EpochRecord) -> f64) -> Series {
    Series {
        label: label.into(),
        points: run.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect(),
    }
}
