//! The market in the ledger (docs/protocol.md §8.3.11): trades move value
//! and tokens exactly as `veil_market::curve` quotes them, only the
//! account's key may trade for it, every refusal changes nothing, a retry
//! returns its receipt, the books balance (audit), the state survives a
//! reopen, and the gRPC ledger answers exactly like the embedded one.

use std::sync::Arc;

use proptest::prelude::*;
use veil_ledger::audit::audit;
use veil_ledger::machine::apply_trade;
use veil_ledger::memory::MemState;
use veil_ledger::state::{StateRead, StateWrite};
use veil_ledger::trade::*;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, Engine, LedgerApi, LedgerConfig, LedgerError, RemoteLedger};
use veil_market::curve::CurveError;
use veil_primitives::eddsa::SigningKey;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

fn buy(spend: u64, min_tokens: u128) -> Order {
    Order::Buy {
        spend: Value(spend),
        min_tokens: Tokens(min_tokens),
    }
}

fn sell(tokens: u128, min_value: u64) -> Order {
    Order::Sell {
        tokens: Tokens(tokens),
        min_value: Value(min_value),
    }
}

fn engine() -> Engine {
    Engine::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("ledger")
}

/// Everything a trade could change, for the accounts given.
fn books(e: &Engine, accounts: &[AccountId]) -> (MarketState, Vec<(AccountState, Tokens)>) {
    let held = accounts
        .iter()
        .map(|a| (e.account(a).expect("read"), e.tokens(a).expect("read")))
        .collect();
    (e.market().expect("read"), held)
}

fn trade(e: &Engine, k: &SigningKey, order: Order) -> Result<TradeReceipt, LedgerError> {
    let nonce = e.account(&k.verifying_key().account_id())?.next_nonce;
    e.trade(TradeRequest::signed(k, nonce, order))
}

#[test]
fn a_buy_and_a_sale_move_exactly_what_the_curve_quotes() {
    let e = engine();
    let (alice, a) = (key(1), key(1).verifying_key().account_id());
    e.faucet(a, Value(10_000)).expect("faucet");
    let m0 = e.market().expect("market");
    assert_eq!(m0.reserve, GENESIS_RESERVE);
    assert_eq!((m0.supply, m0.float), (GENESIS_FLOAT, GENESIS_FLOAT));

    // The fee (0.5%, docs/market.md §3.3) is taken from the spend and
    // stays in the reserve: the reserve gains the whole spend.
    let curve0 = m0.curve().expect("curve");
    let (quote, fee) = trade_fee().quote_buy(&curve0, 1_000).expect("quote");
    assert_eq!(fee, 5);
    assert_eq!(quote, curve0.quote_buy(995).expect("net"));
    assert!(matches!(
        trade(&e, &alice, buy(1_000, quote + 1)),
        Err(LedgerError::Market(CurveError::BelowMinimum { .. }))
    ));
    let r = trade(&e, &alice, buy(1_000, quote)).expect("buy");
    assert_eq!(
        (r.tokens, r.value, r.nonce),
        (Tokens(quote), Value(1_000), 0)
    );
    assert_eq!(e.tokens(&a).expect("read"), Tokens(quote));
    assert_eq!(e.account(&a).expect("read").balance, Value(9_000));
    let m1 = e.market().expect("market");
    assert_eq!(m1.reserve, Value(GENESIS_RESERVE.get() + 1_000));
    assert_eq!(m1.supply, Tokens(GENESIS_FLOAT.get() + quote));

    let half = quote / 2;
    let curve1 = m1.curve().expect("curve");
    let (pays, fee) = trade_fee().quote_sell(&curve1, half).expect("quote");
    let proceeds = curve1.quote_sell(half).expect("gross");
    assert_eq!((pays + fee, fee), (proceeds, trade_fee().of(proceeds)));
    let r = trade(&e, &alice, sell(half, pays as u64)).expect("sell");
    assert_eq!(
        (r.tokens, r.value, r.nonce),
        (Tokens(half), Value(pays as u64), 1)
    );
    assert_eq!(
        e.account(&a).expect("read").balance,
        Value(9_000 + pays as u64)
    );
    assert_eq!(e.tokens(&a).expect("read"), Tokens(quote - half));
    let m2 = e.market().expect("market");
    assert_eq!(
        m2.reserve.get(),
        m1.reserve.get() - pays as u64,
        "the fee stays"
    );

    // Selling the rest returns no more than was paid (rounding favours
    // the reserve), and the books balance.
    trade(&e, &alice, sell(quote - half, 0)).expect("sell the rest");
    assert!(e.account(&a).expect("read").balance <= Value(10_000));
    assert_eq!(e.market().expect("market").supply, GENESIS_FLOAT);
    let report = audit(e.store()).expect("audit");
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(report.tokens, 0);
}

#[test]
fn refused_trades_change_nothing() {
    let e = engine();
    let (alice, a) = (key(1), key(1).verifying_key().account_id());
    let (mallory, m) = (key(2), key(2).verifying_key().account_id());
    e.faucet(a, Value(5_000)).expect("faucet");
    e.faucet(m, Value(5_000)).expect("faucet");
    let held = trade(&e, &alice, buy(1_000, 0)).expect("buy").tokens.get();
    let before = books(&e, &[a, m]);
    let quote = |spend| {
        e.market()
            .unwrap()
            .curve()
            .unwrap()
            .quote_buy(spend)
            .unwrap()
    };

    let signed = |k: &SigningKey, nonce, order| TradeRequest::signed(k, nonce, order);
    // Mallory signs a sale of Alice's tokens, naming Alice's account.
    let mut forged = signed(&mallory, 1, sell(held, 0));
    forged.account = a;
    // Alice's signature over one order, presented with another.
    let mut altered = signed(&alice, 1, sell(1, 0));
    altered.order = sell(held, 0);
    let mut unsigned = signed(&alice, 1, sell(1, 0));
    unsigned.auth = None;
    let cases: Vec<(&str, TradeRequest, fn(&LedgerError) -> bool)> = vec![
        ("zero buy", signed(&alice, 1, buy(0, 0)), |e| {
            *e == LedgerError::Market(CurveError::Zero)
        }),
        ("zero sale", signed(&alice, 1, sell(0, 0)), |e| {
            *e == LedgerError::Market(CurveError::Zero)
        }),
        ("overdraft", signed(&alice, 1, buy(4_001, 0)), |e| {
            *e == LedgerError::InsufficientBalance
        }),
        (
            "more than held",
            signed(&alice, 1, sell(held + 1, 0)),
            |e| *e == LedgerError::InsufficientTokens,
        ),
        (
            "slippage",
            signed(&alice, 1, buy(100, quote(100) + 1)),
            |e| matches!(e, LedgerError::Market(CurveError::BelowMinimum { .. })),
        ),
        ("sale slippage", signed(&alice, 1, sell(held, 2_000)), |e| {
            matches!(e, LedgerError::Market(CurveError::BelowMinimum { .. }))
        }),
        ("replayed nonce", signed(&alice, 0, buy(1, 0)), |e| {
            *e == LedgerError::BadNonce
        }),
        ("future nonce", signed(&alice, 2, buy(1, 0)), |e| {
            *e == LedgerError::BadNonce
        }),
        ("forged account", forged, |e| {
            matches!(e, LedgerError::AccountUnauthenticated(_))
        }),
        ("altered order", altered, |e| {
            matches!(e, LedgerError::AccountUnauthenticated(_))
        }),
        ("unsigned", unsigned, |e| {
            matches!(e, LedgerError::AccountUnauthenticated(_))
        }),
        ("too large", signed(&alice, 1, sell(1 << 112, 0)), |e| {
            *e == LedgerError::Market(CurveError::TooLarge)
        }),
    ];
    for (what, request, expected) in cases {
        let err = e.trade(request).expect_err(what);
        assert!(expected(&err), "{what}: {err:?}");
        assert_eq!(books(&e, &[a, m]), before, "{what} changed the books");
    }
    assert!(audit(e.store()).expect("audit").ok());
}

#[test]
fn a_retry_returns_its_receipt_and_trades_once() {
    let e = engine();
    let (alice, a) = (key(1), key(1).verifying_key().account_id());
    e.faucet(a, Value(5_000)).expect("faucet");
    let request = TradeRequest::signed(&alice, 0, buy(700, 0));
    let first = e.trade(request.clone()).expect("buy");
    let after = books(&e, &[a]);
    assert_eq!(e.trade(request).expect("retry"), first);
    assert_eq!(books(&e, &[a]), after, "a retry traded again");
    // The same nonce with another order is a replay, not a retry.
    let other = TradeRequest::signed(&alice, 0, buy(701, 0));
    assert_eq!(e.trade(other), Err(LedgerError::BadNonce));
    assert_eq!(books(&e, &[a]), after);
}

#[test]
fn the_market_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let open = || {
        Engine::open(
            &path,
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        )
        .expect("open")
    };
    let (alice, a) = (key(1), key(1).verifying_key().account_id());
    let before = {
        let e = open();
        e.faucet(a, Value(3_000)).expect("faucet");
        trade(&e, &alice, buy(2_000, 0)).expect("buy");
        trade(&e, &alice, sell(1_000, 0)).expect("sell");
        books(&e, &[a])
    };
    let e = open();
    assert_eq!(books(&e, &[a]), before);
    assert!(audit(e.store()).expect("audit").ok());
}

/// The audit catches tokens that appear without the curve minting them,
/// and value that leaves the reserve without an account receiving it.
#[test]
fn the_audit_sees_tokens_and_reserve_out_of_balance() {
    let e = engine();
    let a = key(1).verifying_key().account_id();
    e.store()
        .write(|w| w.set_tokens(&a, Tokens(5)))
        .expect("write");
    let report = audit(e.store()).expect("audit");
    assert!(
        report.violations.iter().any(|v| v.contains("token supply")),
        "{:?}",
        report.violations
    );

    let e = engine();
    e.store()
        .write(|w| {
            let c = veil_market::curve::Curve::from_state(
                u128::from(GENESIS_RESERVE.get()) - 1,
                GENESIS_FLOAT.get(),
                GENESIS_FLOAT.get(),
                veil_market::curve::ReserveRatio::from_ppm(GENESIS_RATIO_PPM).expect("ratio"),
            )
            .expect("curve");
            w.set_curve(&c)
        })
        .expect("write");
    let report = audit(e.store()).expect("audit");
    assert!(
        report.violations.iter().any(|v| v.contains("turnstile")),
        "{:?}",
        report.violations
    );
}

async fn served() -> (EmbeddedLedger, RemoteLedger, String) {
    veil_ledger::testing::served_in_memory()
        .await
        .expect("served ledger")
}

/// The same script of trades, good and refused, on an embedded ledger and
/// through gRPC to another: every receipt, every error (with its values)
/// and the final market are equal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_answers_exactly_like_the_embedded_ledger() {
    let local = EmbeddedLedger::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .expect("ledger");
    let (_served, remote, _) = served().await;
    let local_run = script(&local).await;
    let remote_run = script(&remote).await;
    assert_eq!(local_run, remote_run);
    let (trades, _) = &local_run;
    assert!(trades.iter().any(|r| r.is_err()) && trades.iter().any(|r| r.is_ok()));
    assert_eq!(
        local.market().await.expect("market"),
        remote.market().await.expect("market")
    );
}

type Run = (Vec<Result<TradeReceipt, LedgerError>>, Vec<Tokens>);

async fn script(l: &impl LedgerApi) -> Run {
    let (alice, a) = (key(1), key(1).verifying_key().account_id());
    let (bob, b) = (key(2), key(2).verifying_key().account_id());
    l.faucet(a, Value(9_000)).await.expect("faucet");
    l.faucet(b, Value(9_000)).await.expect("faucet");
    let mut out = Vec::new();
    for (k, order) in [
        (&alice, buy(3_000, 0)),
        (&bob, buy(2_000, u128::MAX)),
        (&bob, buy(2_000, 1)),
        (&alice, sell(1_000_000, 0)),
        (&bob, sell(u128::from(u64::MAX), 0)),
        (&alice, sell(10, u64::MAX)),
        (&bob, buy(0, 0)),
        (&alice, buy(6_001, 0)),
    ] {
        let account = k.verifying_key().account_id();
        let nonce = l.account(account).await.expect("account").next_nonce;
        out.push(l.trade(TradeRequest::signed(k, nonce, order)).await);
    }
    let mut forged = TradeRequest::signed(&bob, 0, sell(1, 0));
    forged.account = a;
    out.push(l.trade(forged).await);
    let mut held = Vec::new();
    for acct in [a, b] {
        held.push(l.tokens(acct).await.expect("tokens"));
    }
    (out, held)
}

/// Malformed trades get INVALID_ARGUMENT before anything runs; a missing
/// signature PERMISSION_DENIED; slippage FAILED_PRECONDITION.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_status_codes_for_bad_trades() {
    use tonic::Code;
    use veil_ledger::convert::trade_to_pb;
    use veil_proto::ledger::v1 as pb;
    let (ledger, _remote, url) = served().await;
    let alice = key(1);
    let a = alice.verifying_key().account_id();
    ledger.faucet(a, Value(1_000)).await.expect("faucet");
    let mut client = pb::ledger_client::LedgerClient::connect(url)
        .await
        .expect("client");
    let good = trade_to_pb(&TradeRequest::signed(&alice, 0, buy(10, 0)));
    let mut short = good.clone();
    if let Some(pb::trade_request::Order::Buy(b)) = &mut short.order {
        b.min_tokens.pop();
    }
    let mut no_order = good.clone();
    no_order.order = None;
    let mut unsigned = good.clone();
    unsigned.signature.clear();
    unsigned.account_key.clear();
    let slippage = trade_to_pb(&TradeRequest::signed(&alice, 0, buy(10, u128::MAX)));
    for (what, req, code) in [
        ("short token field", short, Code::InvalidArgument),
        ("no order", no_order, Code::InvalidArgument),
        ("unsigned", unsigned, Code::PermissionDenied),
        ("slippage", slippage, Code::FailedPrecondition),
    ] {
        let status = client.trade(req).await.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {status:?}");
    }
    assert_eq!(ledger.tokens(a).await.expect("tokens"), Tokens::ZERO);
    assert_eq!(ledger.account(a).await.expect("account").next_nonce, 0);
    let bad_account = pb::GetMarketRequest {
        account: vec![0xff; 32],
    };
    assert_eq!(
        client
            .get_market(bad_account)
            .await
            .expect_err("non-canonical")
            .code(),
        Code::InvalidArgument
    );
    client.trade(good).await.expect("the good one");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any sequence of trades by three accounts: value is conserved
    /// (Σ balances + reserve), the supply is the float plus Σ tokens, and
    /// each refusal leaves the state as it was.
    #[test]
    fn any_trades_keep_the_books(ops in proptest::collection::vec((0usize..3, any::<bool>(), 1u64..5_000, 0u8..4), 1..40)) {
        let keys = [key(1), key(2), key(3)];
        let ids: Vec<AccountId> = keys.iter().map(|k| k.verifying_key().account_id()).collect();
        let mut s = MemState::new().expect("genesis");
        for id in &ids {
            s.set_account(id, Value(10_000)).expect("fund");
        }
        let total = 30_000 + GENESIS_RESERVE.get();
        for (who, is_buy, amount, limit) in ops {
            let held = s.tokens(&ids[who]).expect("read").get();
            let order = match is_buy {
                true => buy(amount, u128::from(limit) * 1_000_000),
                false => sell(held.saturating_mul(u128::from(amount)) / 4_000, u64::from(limit) * 100),
            };
            let nonce = s.account_nonce(&ids[who]).expect("read");
            let before = s.clone();
            if apply_trade(&mut s, &TradeRequest::signed(&keys[who], nonce, order)).is_err() {
                prop_assert_eq!(&s, &before);
            }
            let balances: u64 = ids.iter().map(|a| s.account(a).expect("read").get()).sum();
            let curve = s.curve().expect("read");
            prop_assert_eq!(u128::from(balances) + curve.reserve(), u128::from(total));
            let tokens: u128 = ids.iter().map(|a| s.tokens(a).expect("read").get()).sum();
            prop_assert_eq!(curve.float() + tokens, curve.supply());
        }
    }
}

/// A ledger with a node staking `stake` and a wallet with 100,000 in the
/// pool; `open(i)` opens escrow `i` of 1,000 for the node.
struct Demanded {
    engine: Engine,
    node: NodeId,
}

impl Demanded {
    const E: Value = Value(1_000);

    fn new(stake: u64) -> Self {
        use veil_ledger::testing;
        let engine = engine();
        let (node_key, account_key, wallet_key) = (key(77), key(78), key(79));
        let account = account_key.verifying_key().account_id();
        engine.faucet(account, Value(stake)).expect("faucet");
        let g = testing::registration(
            &engine,
            &node_key,
            &account_key,
            Value(2),
            vec![Self::E],
            Value(stake),
            [9; 32],
        );
        engine
            .register_node(g.expect("registration"))
            .expect("register");
        engine
            .faucet(wallet_key.verifying_key().account_id(), Value(100_000))
            .expect("faucet");
        let addr = Address::from_fr(veil_primitives::Fr::from(1u64));
        testing::deposit(&engine, &wallet_key, Value(100_000), addr).expect("deposit");
        let node = node_key.verifying_key().node_id();
        Self { engine, node }
    }

    fn open(&self, i: u64) {
        use veil_primitives::Fr;
        let roots = self.engine.roots().expect("roots");
        let height = self.engine.status().expect("status").height.0;
        let token = AccessPublic {
            root: *roots.last().expect("a root"),
            nullifier: Nullifier::from_fr(Fr::from(10_000 + i)),
            cm_change: NoteCommitment::from_fr(Fr::from(20_000 + i)),
            escrow: Self::E,
            node_id: self.node,
            session_key_hash: SessionKeyHash::from_fr(Fr::from(30_000 + i)),
            refund_owner: OwnerKey::from_fr(Fr::from(40_000 + i)),
            expiry: BlockHeight(height + 10),
        };
        self.engine
            .open_escrow(token, &FakeVerifier::valid_proof())
            .expect("open");
    }

    fn ratio(&self) -> u32 {
        self.engine.market().expect("market").ratio_ppm
    }

    fn price(&self) -> f64 {
        self.engine
            .market()
            .expect("market")
            .curve()
            .expect("curve")
            .price()
            .as_f64()
    }
}

/// The hand in the ledger (§8.3.11): an epoch whose escrows reach the
/// staked value raises the reserve ratio one bounded step at the
/// boundary, an epoch without demand lowers it, nothing moves within an
/// epoch, the price holds across each change, a long idle stretch walks
/// down to the rule's minimum and stops, and the books stay balanced.
#[test]
fn the_reserve_ratio_follows_the_ledgers_demand_one_step_per_epoch() {
    let rule = hand_rule();
    let step = rule.max_step_ppm;
    let d = Demanded::new(2_000);
    let r0 = d.ratio();
    assert_eq!(r0, GENESIS_RATIO_PPM);
    d.open(1);
    d.open(2); // 2,000 escrowed against 2,000 staked: saturated demand.
    d.engine.advance(MARKET_EPOCH_BLOCKS - 1).expect("advance");
    assert_eq!(d.ratio(), r0, "no step inside an epoch");
    let p0 = d.price();
    d.engine.advance(1).expect("advance");
    assert_eq!(d.ratio(), r0 + step, "saturated demand: one step up");
    assert!(
        (d.price() / p0 - 1.0).abs() < 1e-9,
        "the price holds: {p0} → {}",
        d.price()
    );

    // An epoch without escrows: one step down.
    d.engine.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    assert_eq!(d.ratio(), r0);
    // Half the staked value escrowed: the target is the middle of the range.
    d.open(3);
    d.engine.advance(MARKET_EPOCH_BLOCKS).expect("advance");
    let target = rule
        .target(veil_market::hand::Demand::from_ppm(500_000))
        .ppm();
    assert_eq!(d.ratio(), r0 + step.min(target - r0));

    // A long idle stretch: down to the minimum, and no further.
    d.engine
        .advance(1_000 * MARKET_EPOCH_BLOCKS)
        .expect("advance");
    assert_eq!(d.ratio(), rule.min.ppm());
    let report = audit(d.engine.store()).expect("audit");
    assert!(report.ok(), "{:?}", report.violations);
}

/// `GetMarket` publishes what the hand's next step reads (§8.3.11): the
/// epoch's escrows, the staked value and the step's height; the ratio the
/// ledger sets there is the one anyone computes from them.
#[test]
fn the_published_hand_state_predicts_the_next_ratio() {
    let d = Demanded::new(4_000);
    d.engine.advance(30).expect("advance");
    d.open(1);
    let m = d.engine.market().expect("market");
    assert_eq!(m.hand.epoch_escrowed, Demanded::E);
    assert_eq!(m.hand.staked, Value(4_000));
    assert_eq!(m.hand.next_step_at, BlockHeight(MARKET_EPOCH_BLOCKS));
    assert_eq!(m.hand.demand().ppm(), 250_000);
    let current = veil_market::curve::ReserveRatio::from_ppm(m.ratio_ppm).expect("ratio");
    let predicted = m.hand.next_ratio(current).ppm();
    assert_ne!(predicted, m.ratio_ppm, "a quarter of the stake moves it");
    d.engine.advance(MARKET_EPOCH_BLOCKS - 31).expect("advance");
    assert_eq!(d.ratio(), m.ratio_ppm, "not before the step's height");
    d.engine.advance(1).expect("advance");
    assert_eq!(d.ratio(), predicted);
    let after = d.engine.market().expect("market").hand;
    assert_eq!(after.epoch_escrowed, Value::ZERO, "a new epoch");
    assert_eq!(after.next_step_at, BlockHeight(2 * MARKET_EPOCH_BLOCKS));
}
