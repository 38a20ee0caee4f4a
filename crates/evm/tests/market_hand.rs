//! The invisible hand on the EVM (docs/market.md §7.2): `BandwidthMarket`
//! bound to `VeilLedger` steps its reserve ratio from the ledger's demand
//! exactly as `veil_ledger::trade::step_hand` does — escrows opened with
//! real access proofs, epochs crossed one at a time and many at once, the
//! step taken by a trade, by anyone's `sync` or by the ledger's next
//! escrow — and only the deployer binds it, once, to a ledger naming it.
//! The hand's pure parts equal `veil_market`'s on random inputs.

mod chain;
mod escrow;

use chain::LedgerChain;
use escrow::{Fx, NODE, node_id, tokens};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use revm::primitives::U256;
use veil_evm::market::{self, MarketError};
use veil_evm::sandbox::{EvmAddress, Status};
use veil_evm::{escrow as calls, ledger};
use veil_ledger::trade::{HandState, genesis_curve, step_hand, trade_fee};
use veil_ledger::types::{BlockHeight, Value};
use veil_market::{Curve, Demand, HandRule, ReserveRatio};

/// A short market epoch, so that escrows fit before the sample tokens'
/// expiry (height 100).
const EPOCH: u64 = 10;
const STAKE: u64 = 500;

struct Hand {
    fx: Fx,
    market: EvmAddress,
    /// The curve as the embedded rule moves it.
    rust: Curve,
}

impl Hand {
    fn new() -> Self {
        let (l, market) = LedgerChain::with_market(EPOCH);
        let mut fx = Fx::on(l, STAKE);
        let mut h = Self {
            market,
            rust: genesis_curve().unwrap(),
            fx: {
                fx.l.c.sandbox.set_block_number(3);
                fx
            },
        };
        h.assert_equal("genesis");
        h
    }

    fn view(&mut self, data: &[u8], n: usize) -> Vec<u128> {
        let m = self.market;
        market::decode_u128s(&self.fx.l.c.view(m, data), n).unwrap()
    }

    /// (supply, float, ratio) as stored, and as `current()` has them.
    fn stored(&mut self) -> [u128; 3] {
        let get = |h: &mut Self, name: &str| h.view(&market::getter(name), 1)[0];
        [
            get(self, "totalSupply"),
            get(self, "float"),
            get(self, "ratioPpm"),
        ]
    }

    fn current(&mut self) -> [u128; 3] {
        self.view(&market::current(), 3).try_into().unwrap()
    }

    fn rust_state(&self) -> [u128; 3] {
        [
            self.rust.supply(),
            self.rust.float(),
            self.rust.ratio().ppm().into(),
        ]
    }

    fn assert_equal(&mut self, when: &str) {
        assert_eq!(self.stored(), self.rust_state(), "stored, {when}");
        let reserve = self.view(&market::getter("reserve"), 1)[0];
        assert_eq!(reserve, self.rust.reserve(), "reserve, {when}");
    }

    /// The ledger's `hand()`: (epoch, escrowed in it, staked).
    fn ledger_hand(&mut self) -> [u128; 3] {
        let out = self.fx.l.view(&ledger::view::hand());
        market::decode_u128s(&out, 3).unwrap().try_into().unwrap()
    }

    fn at(&mut self, height: u64) {
        self.fx.l.c.sandbox.set_block_number(height);
    }

    /// Opens the sample tokens `range` (300 each) at the node.
    fn open(&mut self, range: std::ops::Range<usize>) {
        let relayer = self.fx.relayer;
        for (_, words) in &tokens(8)[range] {
            self.fx
                .ok(relayer, &calls::open_escrow(node_id(NODE), words));
        }
    }

    /// The embedded rule's steps over `crossed` boundaries after an epoch
    /// with `escrowed` opened.
    fn step(&mut self, escrowed: u64, crossed: u64) {
        let hand = HandState::at(BlockHeight(0), Value(escrowed), Value(2 * STAKE));
        step_hand(&mut self.rust, hand, crossed);
    }
}

#[test]
fn the_ratio_follows_the_ledgers_demand_as_the_embedded_rule_steps_it() {
    let mut h = Hand::new();
    // Epoch 0: three escrows of 300 over 1,000 staked (90% demand).
    h.open(0..3);
    assert_eq!(h.ledger_hand(), [0, 900, 1_000]);
    h.assert_equal("nothing steps within an epoch");

    // Epoch 1: anyone's sync takes the step; `current()` foretold it.
    h.at(EPOCH + 2);
    let foretold = h.current();
    h.step(900, 1);
    assert_eq!(foretold, h.rust_state(), "current() before the step");
    let stranger = h.fx.recipient;
    let m = h.market;
    h.fx.l.c.ok(stranger, m, &market::sync());
    h.assert_equal("after a sync by anyone");
    assert_eq!(
        h.rust.ratio().ppm(),
        525_000,
        "one step toward the 75% target"
    );
    h.fx.l.c.ok(stranger, m, &market::sync());
    h.assert_equal("a second sync in the epoch changes nothing");

    // Epoch 1 has two escrows; the ledger's first one resets its count.
    h.open(3..5);
    assert_eq!(h.ledger_hand(), [1, 600, 1_000]);

    // Seven boundaries at once (epoch 8): a trade takes them first.
    h.at(8 * EPOCH + 1);
    h.step(600, 7);
    assert_eq!(h.current(), h.rust_state(), "current() over seven epochs");
    let alice = h.fx.alice;
    h.fx.l.c.approve(alice, m, U256::MAX);
    let out = h.fx.l.c.ok(alice, m, &market::buy(1_000, 0));
    let (minted, _) = trade_fee().buy(&mut h.rust, 1_000, 0).unwrap();
    assert_eq!(U256::from_be_slice(&out.output), U256::from(minted));
    h.assert_equal("a trade after seven epochs");
    assert_eq!(
        h.rust.ratio().ppm(),
        400_000,
        "up toward 60%, then six idle steps down"
    );

    // Epoch 9: the ledger's next escrow makes the market step first (the
    // epoch-1 demand was read already: this step has none).
    h.at(9 * EPOCH + 1);
    h.open(5..6);
    h.step(0, 1);
    h.assert_equal("the ledger's escrow synced the market");
    assert_eq!(h.rust.ratio().ppm(), 375_000);
    assert_eq!(h.view(&market::getter("syncedEpoch"), 1)[0], 9);
    assert_eq!(h.ledger_hand(), [9, 300, 1_000]);
}

#[test]
fn only_the_deployer_binds_once_after_opening_a_ledger_that_names_the_market() {
    let (mut l, m) = LedgerChain::with_market(EPOCH);
    let (d, t, stranger) = (l.c.deployer, l.c.token, l.c.account());
    let ledger_addr = l.ledger;
    let revert = |out: veil_evm::sandbox::Outcome| {
        assert_eq!(out.status, Status::Revert);
        MarketError::decode(&out.output).unwrap()
    };
    assert_eq!(
        revert(l.c.tx(stranger, m, &market::bind(ledger_addr))),
        MarketError::NotDeployer(stranger)
    );
    assert_eq!(
        revert(l.c.tx(d, m, &market::bind(ledger_addr))),
        MarketError::AlreadyBound
    );
    // Another market, not named by the ledger: refused; unopened: refused.
    let ctor = market::market_constructor(t, 1_000, 500_000, 0, EPOCH);
    let code = [chain::artifact(market::MARKET).bytecode, ctor].concat();
    let other = l.c.sandbox.deploy(d, &code).unwrap().0;
    assert_eq!(
        revert(l.c.tx(d, other, &market::bind(ledger_addr))),
        MarketError::NotOpen
    );
    l.c.mint(d, 1_000);
    l.c.approve(d, other, U256::MAX);
    l.c.ok(d, other, &market::open(1_000));
    assert_eq!(
        revert(l.c.tx(d, other, &market::bind(ledger_addr))),
        MarketError::WrongLedger
    );
    assert_eq!(
        revert(l.c.tx(d, other, &market::bind(t))),
        MarketError::WrongLedger,
        "a contract that is no ledger"
    );
    let unbound = market::decode_u128s(&l.c.view(other, &market::getter("ledger")), 1);
    assert_eq!(unbound.unwrap(), vec![0]);
}

#[test]
fn the_hands_rule_equals_veil_market_on_random_inputs() {
    let (mut l, m) = LedgerChain::with_market(EPOCH);
    let mut rng = StdRng::seed_from_u64(14);
    let rule = HandRule::default();
    let word =
        |l: &mut LedgerChain, data: &[u8]| market::decode_u128s(&l.c.view(m, data), 1).unwrap()[0];
    for _ in 0..500 {
        let ppm = rng.gen_range(10_000..=1_000_000u32);
        let demand = match rng.gen_range(0..3) {
            0 => rng.gen_range(0..2_000_000u64),
            1 => rng.r#gen::<u64>(),
            _ => 0,
        };
        let want = rule.next(
            ReserveRatio::from_ppm(ppm).unwrap(),
            Demand::from_ppm(demand),
        );
        assert_eq!(
            word(&mut l, &market::next_ratio(ppm, demand)),
            u128::from(want.ppm())
        );

        let (escrowed, staked) = (
            rng.r#gen::<u64>() >> rng.gen_range(0..64),
            rng.r#gen::<u64>() >> rng.gen_range(0..64),
        );
        let hand = HandState::at(BlockHeight(0), Value(escrowed), Value(staked));
        assert_eq!(
            word(&mut l, &market::demand_ppm(escrowed, staked)),
            u128::from(hand.demand().ppm()),
            "demand of {escrowed} over {staked}"
        );
    }
    for _ in 0..500 {
        let supply: u128 = rng.gen_range(2..=veil_market::MAX_AMOUNT);
        let float = rng.gen_range(1..supply);
        let ppm = rng.gen_range(10_000..=1_000_000u32);
        let next = rng.gen_range(10_000..=1_000_000u32);
        let mut c =
            Curve::from_state(1_000, supply, float, ReserveRatio::from_ppm(ppm).unwrap()).unwrap();
        c.set_ratio(ReserveRatio::from_ppm(next).unwrap());
        let got = market::decode_u128s(
            &l.c.view(m, &market::set_ratio(supply, float, ppm, next)),
            3,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![c.supply(), c.float(), c.ratio().ppm().into()],
            "set_ratio({supply}, {float}, {ppm} → {next})"
        );
    }
}

/// Gas (receipt `gasUsed`) on a bound market and its ledger: a buy and a
/// sale with no step due, a buy that takes one step, an escrow that opens
/// the next epoch (and syncs the market) and one within it. Deterministic,
/// so pinned (docs/market.md §7.2).
const BOUND_BUY_GAS: u64 = 81_012;
const BOUND_SELL_GAS: u64 = 89_719;
const STEPPING_BUY_GAS: u64 = 96_656;
const SYNCING_OPEN_GAS: u64 = 373_884;
const OPEN_GAS: u64 = 334_670;

#[test]
fn trades_and_opens_on_a_bound_market_cost_what_is_pinned() {
    let mut h = Hand::new();
    let (alice, m) = (h.fx.alice, h.market);
    h.fx.l.c.approve(alice, m, U256::MAX);
    h.fx.l.c.ok(alice, m, &market::buy(1_000, 0));
    let buy = h.fx.l.c.ok(alice, m, &market::buy(1_000, 0)).gas_used;
    let sell = h.fx.l.c.ok(alice, m, &market::sell(1_000, 0)).gas_used;
    h.at(EPOCH + 1);
    let stepping = h.fx.l.c.ok(alice, m, &market::buy(1_000, 0)).gas_used;
    h.at(2 * EPOCH + 1);
    let relayer = h.fx.relayer;
    let tokens = tokens(8);
    let syncing =
        h.fx.ok(relayer, &calls::open_escrow(node_id(NODE), &tokens[0].1))
            .gas_used;
    let open =
        h.fx.ok(relayer, &calls::open_escrow(node_id(NODE), &tokens[1].1))
            .gas_used;
    let got = [buy, sell, stepping, syncing, open];
    eprintln!("bound market gas: buy, sell, stepping buy, syncing open, open {got:?}");
    assert_eq!(
        got,
        [
            BOUND_BUY_GAS,
            BOUND_SELL_GAS,
            STEPPING_BUY_GAS,
            SYNCING_OPEN_GAS,
            OPEN_GAS
        ]
    );
    assert!(buy.max(sell).max(stepping) <= 120_000, "issue 14's ceiling");
}
