//! Demand scenarios replayed through the real curve, with and without the
//! invisible hand ([`docs/market.md` §4](../../../docs/market.md)).
//!
//! The model, per epoch: clients buy the tokens the epoch's demand needs
//! (`demand × capacity`, minted exactly); nodes sell half of the tokens they
//! hold (what earlier epochs paid them); trades interleave in slices. At the
//! epoch's end the hand moves the reserve ratio from the epoch's demand.
//! An attacker, where the scenario has one, buys at one epoch and sells all
//! at a later one.

use serde::Serialize;

use crate::curve::{Amount, Curve, CurveError, ReserveRatio};
use crate::hand::{Demand, HandRule};

/// One whole token or reserve unit: 18 decimals.
pub const UNIT: Amount = 1_000_000_000_000_000_000;

/// A demand path and, optionally, an attacker.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// Demand per epoch, in ppm of the staked capacity.
    pub demand_ppm: Vec<u64>,
    pub attack: Option<PumpAndDump>,
}

/// Buy `deposit` at the start of `buy_epoch`, sell everything at the start
/// of `sell_epoch`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PumpAndDump {
    pub buy_epoch: usize,
    pub sell_epoch: usize,
    #[serde(serialize_with = "decimal")]
    pub deposit: Amount,
}

/// The market the scenarios run on.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Setup {
    #[serde(serialize_with = "decimal")]
    pub genesis_reserve: Amount,
    #[serde(serialize_with = "decimal")]
    pub genesis_supply: Amount,
    /// Tokens that buy the whole staked capacity for one epoch.
    #[serde(serialize_with = "decimal")]
    pub capacity_tokens: Amount,
    /// Trades per epoch on each side.
    pub slices: u32,
    pub rule: HandRule,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            genesis_reserve: 10_000 * UNIT,
            genesis_supply: 100_000 * UNIT,
            capacity_tokens: 10_000 * UNIT,
            slices: 8,
            rule: HandRule::default(),
        }
    }
}

/// The state at the end of one epoch.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub demand_ppm: u64,
    pub price: f64,
    #[serde(serialize_with = "decimal")]
    pub supply: Amount,
    #[serde(serialize_with = "decimal")]
    pub reserve: Amount,
    pub ratio_ppm: u32,
}

/// One run of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub epochs: Vec<EpochRecord>,
    /// The largest `|p_e / p_(e−1) − 1|` over the epochs, end to end.
    pub largest_move: f64,
    pub largest_move_epoch: usize,
    /// The attacker's reserve back less its deposit (negative: a loss).
    #[serde(serialize_with = "decimal_opt")]
    pub attacker_profit: Option<i128>,
}

/// A scenario with and without the hand.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    pub with_hand: Run,
    pub without_hand: Run,
}

/// Base-unit amounts go to JSON as decimal strings: they pass 2^64, which
/// JSON numbers (and most readers) do not hold exactly.
fn decimal<S: serde::Serializer>(v: &Amount, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn decimal_opt<S: serde::Serializer>(v: &Option<i128>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// The five scenarios of `docs/market.md` §4, 60 epochs each.
pub fn scenarios() -> Vec<Scenario> {
    let epochs = 60;
    let path = |f: &dyn Fn(usize) -> u64| (0..epochs).map(f).collect::<Vec<_>>();
    vec![
        Scenario {
            name: "steady-growth",
            description: "demand grows from 10% to 70% of capacity",
            demand_ppm: path(&|e| 100_000 + 600_000 * e as u64 / (epochs as u64 - 1)),
            attack: None,
        },
        Scenario {
            name: "spike-10x",
            description: "demand 10% of capacity, rising to 10× over 3 epochs at epoch 20, held 10 epochs, then back",
            demand_ppm: path(&|e| match e {
                20 => 250_000,
                21 => 500_000,
                22..=31 => 1_000_000,
                _ => 100_000,
            }),
            attack: None,
        },
        Scenario {
            name: "spike-10x-instant",
            description: "as spike-10x, but the 10× arrives in one epoch: the hand reacts one epoch late",
            demand_ppm: path(&|e| {
                if (20..32).contains(&e) {
                    1_000_000
                } else {
                    100_000
                }
            }),
            attack: None,
        },
        Scenario {
            name: "crash",
            description: "demand 60% of capacity, falling to 6% at epoch 20",
            demand_ppm: path(&|e| if e < 20 { 600_000 } else { 60_000 }),
            attack: None,
        },
        Scenario {
            name: "pump-and-dump",
            description: "demand 20%; an attacker buys with 50% of the reserve at epoch 20 and sells all at epoch 23",
            demand_ppm: path(&|_| 200_000),
            attack: Some(PumpAndDump {
                buy_epoch: 20,
                sell_epoch: 23,
                deposit: 5_000 * UNIT,
            }),
        },
    ]
}

/// Runs `scenario` with the hand and with the ratio held where the hand
/// would start.
pub fn simulate(scenario: &Scenario, setup: &Setup) -> Result<Outcome, CurveError> {
    Ok(Outcome {
        scenario: scenario.clone(),
        with_hand: run(scenario, setup, true)?,
        without_hand: run(scenario, setup, false)?,
    })
}

/// The scenario's market: curve, node holdings, attacker holdings.
struct Market {
    curve: Curve,
    nodes: Amount,
    attacker: Amount,
    attacker_paid: Amount,
    attacker_back: Amount,
}

fn run(scenario: &Scenario, setup: &Setup, hand: bool) -> Result<Run, CurveError> {
    let first = Demand::from_ppm(scenario.demand_ppm.first().copied().unwrap_or(0));
    let ratio = setup.rule.target(first);
    let curve = Curve::new(setup.genesis_reserve, setup.genesis_supply, ratio)?;
    let mut market = Market {
        curve,
        nodes: 0,
        attacker: 0,
        attacker_paid: 0,
        attacker_back: 0,
    };
    let mut epochs = Vec::with_capacity(scenario.demand_ppm.len());
    for (epoch, &demand) in scenario.demand_ppm.iter().enumerate() {
        if let Some(attack) = scenario.attack {
            market.attack(&attack, epoch)?;
        }
        market.trade(demand, setup)?;
        if hand {
            let next = setup
                .rule
                .next(market.curve.ratio(), Demand::from_ppm(demand));
            market.curve.set_ratio(next);
        }
        epochs.push(market.record(epoch, demand));
    }
    let (largest_move, largest_move_epoch) = largest_move(&epochs);
    let attacker_profit = scenario
        .attack
        .map(|_| market.attacker_back as i128 - market.attacker_paid as i128);
    Ok(Run {
        epochs,
        largest_move,
        largest_move_epoch,
        attacker_profit,
    })
}

impl Market {
    fn attack(&mut self, attack: &PumpAndDump, epoch: usize) -> Result<(), CurveError> {
        if epoch == attack.buy_epoch {
            self.attacker += self.curve.buy(attack.deposit, 0)?;
            self.attacker_paid += attack.deposit;
        }
        if epoch == attack.sell_epoch && self.attacker > 0 {
            self.attacker_back += self.curve.sell(self.attacker, 0)?;
            self.attacker = 0;
        }
        Ok(())
    }

    /// Clients buy the epoch's tokens and nodes sell half their holdings,
    /// interleaved in `slices`; what clients bought is paid to the nodes.
    fn trade(&mut self, demand_ppm: u64, setup: &Setup) -> Result<(), CurveError> {
        let needed =
            setup.capacity_tokens * Amount::from(demand_ppm) / Amount::from(ReserveRatio::PPM);
        let slices = Amount::from(setup.slices.max(1));
        let selling = self.nodes / 2;
        for _ in 0..slices {
            let buy = needed / slices;
            if buy > 0 {
                self.curve.buy_exact(buy, Amount::MAX)?;
            }
            let sell = (selling / slices).min(self.curve.circulating());
            if sell > 0 {
                self.curve.sell(sell, 0)?;
                self.nodes -= sell;
            }
            self.nodes += buy;
        }
        Ok(())
    }

    fn record(&self, epoch: usize, demand_ppm: u64) -> EpochRecord {
        EpochRecord {
            epoch,
            demand_ppm,
            price: self.curve.price().as_f64(),
            supply: self.curve.supply(),
            reserve: self.curve.reserve(),
            ratio_ppm: self.curve.ratio().ppm(),
        }
    }
}

fn largest_move(epochs: &[EpochRecord]) -> (f64, usize) {
    epochs
        .windows(2)
        .map(|w| ((w[1].price / w[0].price - 1.0).abs(), w[1].epoch))
        .fold(
            (0.0, 0),
            |best, this| if this.0 > best.0 { this } else { best },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str) -> Outcome {
        let scenario = scenarios().into_iter().find(|s| s.name == name).unwrap();
        simulate(&scenario, &Setup::default()).unwrap()
    }

    #[test]
    fn the_hand_damps_the_largest_move_of_a_ramped_spike() {
        let o = outcome("spike-10x");
        assert!(
            o.with_hand.largest_move < o.without_hand.largest_move,
            "{} vs {}",
            o.with_hand.largest_move,
            o.without_hand.largest_move
        );
    }

    #[test]
    fn without_the_hand_the_ratio_never_moves() {
        let o = outcome("crash");
        let first = o.without_hand.epochs[0].ratio_ppm;
        assert!(o.without_hand.epochs.iter().all(|e| e.ratio_ppm == first));
        assert!(o.with_hand.epochs.iter().any(|e| e.ratio_ppm != first));
    }

    #[test]
    fn amounts_past_2_pow_64_serialise_as_decimal_strings() {
        let o = outcome("pump-and-dump");
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(
            json["scenario"]["attack"]["deposit"],
            "5000000000000000000000"
        );
        assert!(json["with_hand"]["epochs"][0]["supply"].is_string());
        assert!(json["with_hand"]["attacker_profit"].is_string());
    }

    #[test]
    fn every_scenario_runs_and_the_pump_and_dump_reports_its_profit() {
        for scenario in scenarios() {
            let o = simulate(&scenario, &Setup::default()).unwrap();
            assert_eq!(o.with_hand.epochs.len(), scenario.demand_ppm.len());
            assert_eq!(
                o.with_hand.attacker_profit.is_some(),
                scenario.attack.is_some()
            );
        }
    }
}
