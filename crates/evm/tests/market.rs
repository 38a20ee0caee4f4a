//! The market contracts in revm (`docs/market.md` §5): `CurveQuoter`
//! against `veil-market` on random states (results and refusals equal to
//! the base unit), and `BandwidthMarket`'s trades — state equal to the
//! Rust curve after each, slippage and access refusals that change nothing,
//! and the gas of buy, exact buy and sell.

mod chain;

use chain::{Chain, artifact};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use revm::primitives::U256;
use veil_evm::market::{self, CurveState, MarketError};
use veil_evm::sandbox::{DEFAULT_GAS_LIMIT, EvmAddress, Outcome, Status};
use veil_evm::token;
use veil_market::fee::TradeFee;
use veil_market::{Amount, Curve, CurveError, ReserveRatio};

const CASES: usize = 1_000;
const UNIT: Amount = 1_000_000_000_000_000_000;
/// Issue 14's ceiling for a trade, all in (receipt `gasUsed`).
const TRADE_GAS_CEILING: u64 = 120_000;
/// Gas (receipt `gasUsed`) of the trades of
/// `trades_move_the_contract_exactly_as_the_rust_curve…`: a buy by a new
/// holder (a zero balance slot written), a buy and a sale by an existing
/// one. Deterministic, so pinned (docs/market.md §5).
const BUY_NEW_HOLDER_GAS: u64 = 110_725;
const BUY_AGAIN_GAS: u64 = 90_032;
const SELL_GAS: u64 = 95_537;
/// The ledger's trading fee (docs/market.md §3.3).
const FEE: TradeFee = TradeFee::DEFAULT;

fn deploy(c: &mut Chain, name: &str, args: &[u8]) -> EvmAddress {
    let code = [artifact(name).bytecode, args.to_vec()].concat();
    let d = c.deployer;
    c.sandbox.deploy(d, &code).expect("deploys").0
}

fn u(v: Amount) -> U256 {
    U256::from(v)
}

/// The quoter's answer: a result, or the custom error it reverted with.
fn quote(c: &mut Chain, quoter: EvmAddress, data: &[u8]) -> (Result<Amount, MarketError>, u64) {
    let out = c
        .sandbox
        .call(c.deployer, quoter, data, DEFAULT_GAS_LIMIT)
        .expect("call runs");
    let gas = out.gas_used;
    match out.status {
        Status::Success => (
            Ok(token::decode_u256(&out.output)
                .expect("uint256")
                .to::<Amount>()),
            gas,
        ),
        _ => (
            Err(MarketError::decode(&out.output).expect("a market error")),
            gas,
        ),
    }
}

/// A Rust refusal as the contracts name it.
fn as_revert(e: CurveError) -> MarketError {
    match e {
        CurveError::TooLarge => MarketError::TooLarge,
        CurveError::ExceedsCirculating {
            amount,
            circulating,
        } => MarketError::ExceedsCirculating {
            amount: u(amount),
            circulating: u(circulating),
        },
        other => panic!("the quoter has no {other:?}"),
    }
}

fn magnitude(rng: &mut StdRng, bits: u32) -> Amount {
    let b = rng.gen_range(1..=bits);
    let top: Amount = 1 << (b - 1);
    top | (rng.r#gen::<Amount>() & (top - 1))
}

fn random_curve(rng: &mut StdRng) -> Curve {
    let ppm = match rng.gen_range(0..8) {
        0 => ReserveRatio::MIN_PPM,
        1 => ReserveRatio::PPM,
        2 => 500_000,
        3 => 250_000,
        _ => rng.gen_range(ReserveRatio::MIN_PPM..=ReserveRatio::PPM),
    };
    let supply = magnitude(rng, 112).max(2);
    let float = rng.gen_range(1..supply);
    Curve::from_state(
        magnitude(rng, 112),
        supply,
        float,
        ReserveRatio::from_ppm(ppm).unwrap(),
    )
    .unwrap()
}

fn state(c: &Curve) -> CurveState {
    CurveState {
        reserve: c.reserve(),
        supply: c.supply(),
        float: c.float(),
        ppm: c.ratio().ppm(),
    }
}

#[test]
fn the_quoter_equals_veil_market_to_the_base_unit() {
    let mut c = Chain::new();
    let quoter = deploy(&mut c, market::QUOTER, &[]);
    let mut rng = StdRng::seed_from_u64(0x0c0f_fee5);
    let mut gas = Vec::new();
    for i in 0..3 * CASES {
        let curve = random_curve(&mut rng);
        let s = state(&curve);
        let (ours, data) = match i % 3 {
            0 => {
                let a = magnitude(&mut rng, (curve.reserve().ilog2() + 21).min(113));
                (curve.quote_buy(a), market::quote_buy(&s, a))
            }
            1 => {
                let a = magnitude(&mut rng, (curve.supply().ilog2() + 4).min(113));
                (curve.quote_buy_exact(a), market::quote_buy_exact(&s, a))
            }
            _ => {
                let a = magnitude(&mut rng, curve.circulating().max(1).ilog2() + 2);
                (curve.quote_sell(a), market::quote_sell(&s, a))
            }
        };
        let (theirs, used) = quote(&mut c, quoter, &data);
        assert_eq!(theirs, ours.map_err(as_revert), "case {i}: {s:?}");
        if theirs.is_ok() {
            gas.push(used);
        }
    }
    gas.sort_unstable();
    eprintln!(
        "quote gas over {} results: median {}, max {}",
        gas.len(),
        gas[gas.len() / 2],
        gas[gas.len() - 1]
    );
}

#[test]
fn the_quoter_refuses_states_the_curve_refuses() {
    let mut c = Chain::new();
    let quoter = deploy(&mut c, market::QUOTER, &[]);
    let ok = CurveState {
        reserve: 100,
        supply: 100,
        float: 50,
        ppm: 500_000,
    };
    let cases = [
        (
            CurveState { ppm: 9_999, ..ok },
            MarketError::ReserveRatio(U256::from(9_999)),
        ),
        (
            CurveState {
                ppm: 1_000_001,
                ..ok
            },
            MarketError::ReserveRatio(U256::from(1_000_001)),
        ),
        (CurveState { reserve: 0, ..ok }, MarketError::Genesis),
        (CurveState { float: 0, ..ok }, MarketError::Genesis),
        (CurveState { float: 101, ..ok }, MarketError::Genesis),
        (
            CurveState {
                supply: 1 << 112,
                float: 1,
                ..ok
            },
            MarketError::Genesis,
        ),
    ];
    for (s, want) in cases {
        assert_eq!(
            quote(&mut c, quoter, &market::quote_buy(&s, 1)).0,
            Err(want.clone()),
            "{s:?}"
        );
    }
}

/// A market on `TestToken` with a float of 100,000 tokens at RR 50%,
/// opened with 10,000 reserve units; `alice` holds 1,000,000 and has
/// approved the market.
struct Market {
    c: Chain,
    market: EvmAddress,
    alice: EvmAddress,
    curve: Curve,
}

impl Market {
    /// A market with the ledger's fee (`veil_ledger::trade::trade_fee`),
    /// not bound to a ledger (the ratio fixed; the hand is
    /// `market_hand.rs`'s).
    fn new() -> Self {
        let mut c = Chain::new();
        let (d, t) = (c.deployer, c.token);
        let ctor = market::market_constructor(t, 100_000 * UNIT, 500_000, FEE.ppm(), 100);
        let market = deploy(&mut c, market::MARKET, &ctor);
        let alice = c.account();
        for who in [d, alice] {
            c.ok(d, t, &token::mint(who, u(1_000_000 * UNIT)));
            c.approve(who, market, U256::MAX);
        }
        c.ok(d, market, &market::open(10_000 * UNIT));
        let curve = Curve::new(10_000 * UNIT, 100_000 * UNIT, ReserveRatio::at(500_000)).unwrap();
        Self {
            c,
            market,
            alice,
            curve,
        }
    }

    fn tx(&mut self, data: &[u8]) -> Outcome {
        let (a, m) = (self.alice, self.market);
        self.c.tx(a, m, data)
    }

    fn get(&mut self, name: &str) -> Amount {
        let m = self.market;
        token::decode_u256(&self.c.view(m, &market::getter(name)))
            .unwrap()
            .to::<Amount>()
    }

    /// The contract's curve state, and alice's two balances.
    fn snapshot(&mut self) -> (Amount, Amount, Amount, Amount, Amount) {
        let (a, m) = (self.alice, self.market);
        let held = token::decode_u256(&self.c.view(m, &token::balance_of(a)))
            .unwrap()
            .to::<Amount>();
        let reserve_tokens = self.c.balance(a).to::<Amount>();
        (
            self.get("reserve"),
            self.get("totalSupply"),
            self.get("float"),
            held,
            reserve_tokens,
        )
    }

    fn assert_matches_rust(&mut self) {
        let (reserve, supply, float, _, _) = self.snapshot();
        assert_eq!(
            (reserve, supply, float),
            (
                self.curve.reserve(),
                self.curve.supply(),
                self.curve.float()
            )
        );
    }

    fn refused(&mut self, data: &[u8], want: MarketError) {
        let before = self.snapshot();
        let out = self.tx(data);
        assert_eq!(out.status, Status::Revert);
        assert_eq!(MarketError::decode(&out.output).unwrap(), want);
        assert_eq!(self.snapshot(), before, "a refused trade changed nothing");
    }

    /// The contract's quote of a buy or sale: (amount, fee).
    fn quote(&mut self, data: &[u8]) -> (Amount, Amount) {
        let m = self.market;
        let w = market::decode_u128s(&self.c.view(m, data), 2).unwrap();
        (w[0], w[1])
    }
}

fn word(out: &Outcome) -> Amount {
    token::decode_u256(&out.output).unwrap().to::<Amount>()
}

#[test]
fn trades_move_the_contract_exactly_as_the_rust_curve_with_its_fee_and_fit_the_gas_ceiling() {
    let mut m = Market::new();
    let want = FEE.quote_buy(&m.curve, 1_000 * UNIT).unwrap();
    assert_eq!(m.quote(&market::quote_buy_now(1_000 * UNIT)), want);
    let out = m.tx(&market::buy(1_000 * UNIT, 0));
    assert_eq!(out.status, Status::Success);
    assert_eq!(
        (word(&out), want.1),
        FEE.buy(&mut m.curve, 1_000 * UNIT, 0).unwrap()
    );
    m.assert_matches_rust();
    let buy_gas = out.gas_used;

    let out = m.tx(&market::buy(500 * UNIT, 0));
    assert_eq!(word(&out), FEE.buy(&mut m.curve, 500 * UNIT, 0).unwrap().0);
    m.assert_matches_rust();
    let buy_again_gas = out.gas_used;

    let held = m.snapshot().3;
    let want = FEE.quote_sell(&m.curve, held / 3).unwrap();
    assert_eq!(m.quote(&market::quote_sell_now(held / 3)), want);
    let out = m.tx(&market::sell(held / 3, 0));
    assert_eq!(word(&out), FEE.sell(&mut m.curve, held / 3, 0).unwrap().0);
    m.assert_matches_rust();
    let sell_gas = out.gas_used;

    let measured = [buy_gas, buy_again_gas, sell_gas];
    assert_eq!(
        measured,
        [BUY_NEW_HOLDER_GAS, BUY_AGAIN_GAS, SELL_GAS],
        "buy by a new holder, buy, sell"
    );
    assert!(measured.iter().all(|gas| *gas <= TRADE_GAS_CEILING));
}

#[test]
fn the_fee_equals_veil_market_for_any_amount() {
    let mut m = Market::new();
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..CASES {
        let amount = magnitude(&mut rng, 128);
        let fee = token::decode_u256(&m.c.view(m.market, &market::fee_of(amount)))
            .unwrap()
            .to::<Amount>();
        assert_eq!(fee, FEE.of(amount), "fee of {amount}");
    }
}

#[test]
fn a_trade_past_its_slippage_limit_is_refused_and_changes_nothing() {
    let mut m = Market::new();
    let (minted, _) = FEE.quote_buy(&m.curve, 1_000 * UNIT).unwrap();
    m.refused(
        &market::buy(1_000 * UNIT, minted + 1),
        MarketError::BelowMinimum {
            got: u(minted),
            min: u(minted + 1),
        },
    );
    m.tx(&market::buy(1_000 * UNIT, minted));
    FEE.buy(&mut m.curve, 1_000 * UNIT, minted).unwrap();
    let (paid, _) = FEE.quote_sell(&m.curve, minted).unwrap();
    m.refused(
        &market::sell(minted, paid + 1),
        MarketError::BelowMinimum {
            got: u(paid),
            min: u(paid + 1),
        },
    );
    m.tx(&market::sell(minted, paid));
    FEE.sell(&mut m.curve, minted, paid).unwrap();
    m.assert_matches_rust();
}

#[test]
fn nobody_sells_more_than_they_hold_and_nothing_trades_for_nothing() {
    let mut m = Market::new();
    let a = m.alice;
    // The float belongs to nobody: whoever sells it holds none of it.
    m.refused(
        &market::sell(1, 0),
        MarketError::InsufficientBalance(a, u(0), u(1)),
    );
    let minted = word(&m.tx(&market::buy(1_000 * UNIT, 0)));
    // Another buyer's tokens circulate, but alice holds only hers.
    let (d, mk) = (m.c.deployer, m.market);
    m.c.ok(d, mk, &market::buy(1_000 * UNIT, 0));
    m.refused(
        &market::sell(minted + 1, 0),
        MarketError::InsufficientBalance(a, u(minted), u(minted + 1)),
    );
    m.refused(&market::buy(0, 0), MarketError::Zero);
    m.refused(&market::sell(0, 0), MarketError::Zero);
    // A spend the fee eats whole mints nothing, as in Rust.
    assert_eq!(FEE.quote_buy(&m.curve, 1), Err(CurveError::Zero));
    m.refused(&market::buy(1, 0), MarketError::Zero);
}

#[test]
fn only_the_deployer_opens_and_only_once_and_nothing_trades_before() {
    let mut c = Chain::new();
    let (d, t) = (c.deployer, c.token);
    let m = deploy(
        &mut c,
        market::MARKET,
        &market::market_constructor(t, 100 * UNIT, 500_000, FEE.ppm(), 100),
    );
    let alice = c.account();
    c.ok(d, t, &token::mint(d, u(10 * UNIT)));
    c.approve(d, m, U256::MAX);
    let revert = |out: Outcome| MarketError::decode(&out.output).unwrap();
    assert_eq!(
        revert(c.tx(alice, m, &market::buy(1_000, 0))),
        MarketError::NotOpen
    );
    assert_eq!(
        revert(c.tx(alice, m, &market::open(1))),
        MarketError::NotDeployer(alice)
    );
    c.ok(d, m, &market::open(10 * UNIT));
    assert_eq!(
        revert(c.tx(d, m, &market::open(1))),
        MarketError::AlreadyOpen
    );
    assert_eq!(c.balance(m), u(10 * UNIT));
}

#[test]
fn the_constructor_refuses_a_bad_curve_fee_or_epoch() {
    let mut c = Chain::new();
    let t = c.token;
    let d = c.deployer;
    for (supply, ppm, fee, epoch) in [
        (0, 500_000, 0, 100),
        (1 << 112, 500_000, 0, 100),
        (100, 9_999, 0, 100),
        (100, 1_000_001, 0, 100),
        (100, 500_000, 1_000_001, 100),
        (100, 500_000, 0, 0),
    ] {
        let code = [
            artifact(market::MARKET).bytecode,
            market::market_constructor(t, supply, ppm, fee, epoch),
        ]
        .concat();
        assert!(
            c.sandbox.deploy(d, &code).is_err(),
            "{supply} at {ppm} ppm, fee {fee}, epoch {epoch}"
        );
    }
}
