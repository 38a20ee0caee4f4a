//! `update_node` (docs/protocol.md §8.3.8) against the engine with a fake
//! verifier: who may update a node (the holder of its key `N` and of its
//! registered account's key), what a replayed or out-of-order update gets,
//! the terms an update may set (the registration's rules), and that a
//! price update changes new escrows only. Every refusal checks that
//! nothing changed.

use std::sync::Arc;

use veil_ledger::audit::audit;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{Engine, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

const E: Value = Value(1_000);
const E2: Value = Value(5_000);
const STAKE: Value = Value(300);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("seed")
}

struct Fx {
    engine: Arc<Engine>,
    node_key: SigningKey,
    node: NodeId,
    account_key: SigningKey,
    account: AccountId,
    /// A second registered node, with its own account.
    other_key: SigningKey,
    other_account_key: SigningKey,
}

fn register(engine: &Engine, node_key: &SigningKey, account_key: &SigningKey, tls: u8) {
    let account = account_key.verifying_key().account_id();
    engine.faucet(account, Value(1_000)).expect("faucet");
    let g = testing::registration(
        engine,
        node_key,
        account_key,
        Value(2),
        vec![E, E2],
        STAKE,
        [tls; 32],
    )
    .expect("registration");
    engine.register_node(g).expect("register");
}

fn fixture() -> Fx {
    let engine = Arc::new(
        Engine::in_memory(
            Arc::new(FakeVerifier::default()),
            LedgerConfig::with_dev_faucet(),
        )
        .expect("engine"),
    );
    let (node_key, account_key) = (key(11), key(12));
    let (other_key, other_account_key) = (key(21), key(22));
    register(&engine, &node_key, &account_key, 1);
    register(&engine, &other_key, &other_account_key, 2);
    Fx {
        node: node_key.verifying_key().node_id(),
        account: account_key.verifying_key().account_id(),
        engine,
        node_key,
        account_key,
        other_key,
        other_account_key,
    }
}

/// Everything an update could touch.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    status: LedgerStatus,
    nodes: Vec<Option<NodeRecord>>,
    accounts: Vec<AccountState>,
}

impl Fx {
    fn snapshot(&self) -> Snapshot {
        let nodes = [self.node, self.other_key.verifying_key().node_id()];
        let accounts = [
            self.account,
            self.other_account_key.verifying_key().account_id(),
        ];
        Snapshot {
            status: self.engine.status().expect("status"),
            nodes: nodes
                .iter()
                .map(|n| self.engine.get_node(n).expect("node"))
                .collect(),
            accounts: accounts
                .iter()
                .map(|a| self.engine.account(a).expect("account"))
                .collect(),
        }
    }

    fn record(&self) -> NodeRecord {
        self.engine
            .get_node(&self.node)
            .expect("read")
            .expect("registered")
    }

    /// A valid update of this node to `price`, `sizes`, `tls`.
    fn update(&self, price: u64, sizes: Vec<Value>, tls: u8) -> NodeUpdate {
        testing::update(
            &self.engine,
            &self.node_key,
            &self.account_key,
            Value(price),
            sizes,
            [tls; 32],
        )
        .expect("update")
    }

    /// `u` is refused as `want` says, and nothing changed.
    fn refused(&self, u: NodeUpdate, want: impl Fn(&LedgerError) -> bool) {
        let before = self.snapshot();
        let e = self.engine.update_node(u).expect_err("refused");
        assert!(want(&e), "unexpected {e:?}");
        assert_eq!(self.snapshot(), before, "a refused update changed state");
    }

    fn audit_ok(&self) {
        let r = audit(self.engine.store()).expect("audit");
        assert!(r.ok(), "{:?}", r.violations);
    }
}

#[test]
fn an_update_replaces_the_terms_keeps_account_and_stake_and_retries_idempotently() {
    let fx = fixture();
    let before = fx.record();
    let nonce = fx.engine.account(&fx.account).expect("acct").next_nonce;
    let balance = fx.engine.balance(&fx.account).expect("balance");
    let u = fx.update(3, vec![E2], 9);
    assert_eq!(u.sequence, 1);
    let rec = fx.engine.update_node(u.clone()).expect("applied");
    assert_eq!(rec.tls_key_hash(), [9; 32]);
    assert_eq!(rec.price_per_kib(), Value(3));
    assert_eq!(rec.escrow_sizes(), &[E2]);
    assert_eq!(rec.sequence(), 1);
    assert_eq!(
        rec.registration, before.registration,
        "registration kept as signed"
    );
    assert_eq!(rec.registration.stake, STAKE);
    assert_eq!(fx.record(), rec, "stored");
    let after = fx.engine.account(&fx.account).expect("acct");
    assert_eq!(after.next_nonce, nonce + 1, "the account nonce is consumed");
    assert_eq!(after.balance, balance, "no value moves");
    // A retry of the applied update (§8.2) answers the record and changes nothing.
    let snap = fx.snapshot();
    assert_eq!(fx.engine.update_node(u), Ok(rec.clone()));
    assert_eq!(fx.snapshot(), snap);
    // A second update follows with sequence 2.
    let u2 = fx.update(4, vec![E, E2], 10);
    assert_eq!(u2.sequence, 2);
    let rec2 = fx.engine.update_node(u2).expect("second");
    assert_eq!((rec2.sequence(), rec2.tls_key_hash()), (2, [10; 32]));
    fx.audit_ok();
}

#[test]
fn a_replayed_or_out_of_order_update_is_refused() {
    let fx = fixture();
    let first = fx.update(3, vec![E], 9);
    fx.engine.update_node(first.clone()).expect("first");
    let second = fx.update(2, vec![E], 10);
    fx.engine.update_node(second).expect("second");
    // The first update again, after the second: a replay (it would roll
    // the TLS key back to one the node has given up).
    fx.refused(first.clone(), |e| *e == LedgerError::StaleNodeUpdate);
    // The same terms re-signed with sequence 1 and the account's next nonce.
    let rec = fx.record();
    let nonce = fx.engine.account(&fx.account).expect("acct").next_nonce;
    let stale = |sequence: u64| {
        let mut r = rec.clone();
        r.update = r.update.map(|mut a| {
            a.update.sequence = sequence.saturating_sub(1);
            a
        });
        if sequence == 1 {
            r.update = None;
        }
        NodeUpdate::signed(
            &fx.node_key,
            &fx.account_key,
            nonce,
            &r,
            Value(3),
            vec![E],
            [9; 32],
        )
    };
    assert_eq!(stale(1).sequence, 1);
    fx.refused(stale(1), |e| *e == LedgerError::StaleNodeUpdate);
    // The current sequence again (not the applied update), and one skipped ahead.
    fx.refused(stale(2), |e| *e == LedgerError::StaleNodeUpdate);
    fx.refused(stale(4), |e| *e == LedgerError::StaleNodeUpdate);
    // The right sequence with a used account nonce: bad_nonce.
    let ok_seq = fx.update(3, vec![E], 11);
    let used_nonce = NodeUpdate::signed(
        &fx.node_key,
        &fx.account_key,
        nonce - 1,
        &fx.record(),
        Value(3),
        vec![E],
        [11; 32],
    );
    fx.refused(used_nonce, |e| *e == LedgerError::BadNonce);
    fx.engine.update_node(ok_seq).expect("the next one applies");
    fx.audit_ok();
}

#[test]
fn only_the_node_key_updates_its_node() {
    let fx = fixture();
    let good = fx.update(3, vec![E], 9);
    let unauth = |e: &LedgerError| matches!(e, LedgerError::RegistrationUnauthenticated(_));
    // Every signed term altered after signing.
    fx.refused(
        NodeUpdate {
            tls_key_hash: [66; 32],
            ..good.clone()
        },
        unauth,
    );
    fx.refused(
        NodeUpdate {
            price_per_kib: Value(1),
            ..good.clone()
        },
        unauth,
    );
    fx.refused(
        NodeUpdate {
            escrow_sizes: vec![E2],
            ..good.clone()
        },
        unauth,
    );
    fx.refused(
        NodeUpdate {
            sequence: 2,
            ..good.clone()
        },
        unauth,
    );
    // A signature by another key over the right message.
    fx.refused(
        NodeUpdate {
            signature: fx.other_key.sign(&good.message()),
            ..good.clone()
        },
        unauth,
    );
    // Another (registered) node's key claiming this node id, signing itself.
    let other = NodeUpdate {
        node_key: fx.other_key.verifying_key(),
        signature: fx.other_key.sign(&good.message()),
        ..good.clone()
    };
    fx.refused(other, unauth);
    // The other node updating itself with this node's account: its own
    // key is valid, but the account is not its registered one.
    let stolen = NodeUpdate::signed(
        &fx.other_key,
        &fx.account_key,
        fx.engine.account(&fx.account).expect("acct").next_nonce,
        &fx.record(),
        Value(3),
        vec![E],
        [9; 32],
    );
    fx.refused(stolen, |e| {
        matches!(e, LedgerError::AccountUnauthenticated(_))
    });
    fx.engine
        .update_node(good)
        .expect("the node's own update applies");
}

#[test]
fn only_the_nodes_account_key_authorises_an_update() {
    let fx = fixture();
    let good = fx.update(3, vec![E], 9);
    let unauth = |e: &LedgerError| matches!(e, LedgerError::AccountUnauthenticated(_));
    fx.refused(
        NodeUpdate {
            account_auth: None,
            ..good.clone()
        },
        unauth,
    );
    // Another account's key signing for this node's account.
    let intruder = AccountAuth::sign(
        &fx.other_account_key,
        AccountOp::UpdateNode,
        0,
        good.message(),
    );
    fx.refused(
        NodeUpdate {
            account_auth: Some(intruder),
            ..good.clone()
        },
        unauth,
    );
    // The account's signature for another operation over the same digest.
    let Some(auth) = good.account_auth else {
        panic!("signed")
    };
    let wrong_op = AccountAuth::sign(
        &fx.account_key,
        AccountOp::RegisterNode,
        auth.nonce,
        good.message(),
    );
    fx.refused(
        NodeUpdate {
            account_auth: Some(wrong_op),
            ..good.clone()
        },
        unauth,
    );
    // An update naming another account (signed by the node key and that
    // account's key): not the node's registered account.
    let other_account = fx.other_account_key.verifying_key().account_id();
    let mut rec = fx.record();
    rec.registration.account = other_account;
    let rebound = NodeUpdate::signed(
        &fx.node_key,
        &fx.other_account_key,
        fx.engine.account(&other_account).expect("acct").next_nonce,
        &rec,
        Value(3),
        vec![E],
        [9; 32],
    );
    fx.refused(rebound, unauth);
    fx.engine.update_node(good).expect("applies");
}

#[test]
fn an_update_of_an_unknown_node_is_refused() {
    let fx = fixture();
    let stranger = key(31);
    let mut rec = fx.record();
    rec.registration.node_id = stranger.verifying_key().node_id();
    let u = NodeUpdate::signed(
        &stranger,
        &fx.account_key,
        fx.engine.account(&fx.account).expect("acct").next_nonce,
        &rec,
        Value(3),
        vec![E],
        [9; 32],
    );
    fx.refused(u, |e| *e == LedgerError::UnknownNode);
}

#[test]
fn an_update_offers_only_terms_a_registration_may_offer() {
    let fx = fixture();
    let invalid = |e: &LedgerError| matches!(e, LedgerError::InvalidArgument(_));
    let too_many: Vec<Value> = (1..=17).map(Value).collect();
    for (price, sizes) in [
        (0, vec![E]),
        (3, vec![]),
        (3, vec![Value(0)]),
        (3, vec![E, E]),
        (3, too_many),
    ] {
        fx.refused(fx.update(price, sizes, 9), invalid);
    }
    let sixteen: Vec<Value> = (1..=16).map(Value).collect();
    fx.engine
        .update_node(fx.update(1, sixteen, 9))
        .expect("sixteen sizes are allowed");
}

/// A price update applies to escrows opened after it; a session already
/// open settles at the price it opened with, and a batch cannot mix them.
#[test]
fn open_escrows_keep_their_price_across_an_update() {
    let fx = fixture();
    let wallet_key = key(41);
    let wallet = wallet_key.verifying_key().account_id();
    fx.engine.faucet(wallet, Value(100_000)).expect("faucet");
    testing::deposit(
        &fx.engine,
        &wallet_key,
        Value(50_000),
        Address::from_fr(Fr::from(1u64)),
    )
    .expect("deposit");
    let token = |nf: u64| AccessPublic {
        root: *fx.engine.roots().expect("roots").last().expect("a root"),
        nullifier: Nullifier::from_fr(Fr::from(10_000 + nf)),
        cm_change: NoteCommitment::from_fr(Fr::from(20_000 + nf)),
        escrow: E,
        node_id: fx.node,
        session_key_hash: SessionKeyHash::from_fr(Fr::from(30_000 + nf)),
        refund_owner: OwnerKey::from_fr(Fr::from(40_000 + nf)),
        expiry: BlockHeight(10),
    };
    let open = |nf| {
        fx.engine
            .open_escrow(token(nf), &FakeVerifier::valid_proof())
            .expect("open")
    };
    let old = open(1);
    assert_eq!(old.price_per_kib, Value(2));
    fx.engine
        .update_node(fx.update(7, vec![E], 9))
        .expect("update");
    let new = open(2);
    assert_eq!(
        new.price_per_kib,
        Value(7),
        "new escrows record the new price"
    );
    let settle = |ids: Vec<SessionId>| {
        let mut r = SettleRequest {
            node_id: fx.node,
            k: 8,
            cm_refunds: (0..ids.len() as u64)
                .map(|i| NoteCommitment::from_fr(Fr::from(50_000 + i)))
                .collect(),
            session_ids: ids,
            total: Value(10),
            proof: FakeVerifier::valid_proof(),
            authorisation: None,
        };
        testing::authorise_settle(&fx.engine, &fx.node_key, &mut r).expect("sign");
        r
    };
    // Mixed prices in one batch: refused (signed with either price).
    let mut mixed = settle(vec![old.session_id, new.session_id]);
    mixed.authorisation = Some(
        fx.node_key.sign(
            &SettleBatch {
                node_id: fx.node,
                k: 8,
                total: Value(10),
                price: Value(2),
                slots: vec![
                    SettleBatch::slot(&old, mixed.cm_refunds[0]),
                    SettleBatch::slot(&new, mixed.cm_refunds[1]),
                ],
            }
            .auth_message()
            .expect("message"),
        ),
    );
    let snap = fx.snapshot();
    assert!(matches!(
        fx.engine.settle(mixed),
        Err(LedgerError::InvalidArgument(_))
    ));
    assert_eq!(fx.snapshot(), snap);
    // The old session alone settles under its own price (the statement
    // the node signs with price 2; signed with 7 it would be refused).
    let mut at_new_price = settle(vec![old.session_id]);
    let cm_refund = at_new_price.cm_refunds[0];
    let statement = |price| SettleBatch {
        node_id: fx.node,
        k: 8,
        total: Value(10),
        price,
        slots: vec![SettleBatch::slot(&old, cm_refund)],
    };
    at_new_price.authorisation = Some(
        fx.node_key
            .sign(&statement(Value(7)).auth_message().expect("message")),
    );
    let snap = fx.snapshot();
    assert!(matches!(
        fx.engine.settle(at_new_price),
        Err(LedgerError::SettleUnauthorized(_))
    ));
    assert_eq!(fx.snapshot(), snap);
    let mut good = settle(vec![old.session_id]);
    good.authorisation = Some(
        fx.node_key
            .sign(&statement(Value(2)).auth_message().expect("message")),
    );
    fx.engine.settle(good).expect("settles at the old price");
    fx.engine
        .settle(settle(vec![new.session_id]))
        .expect("the new session settles at the new price");
    fx.audit_ok();
}
