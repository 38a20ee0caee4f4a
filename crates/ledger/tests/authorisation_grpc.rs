//! Who may do what, over real gRPC on loopback (docs/protocol.md §8.3,
//! docs/security.md "Authorisation matrix"): every debit or binding of an
//! account carries the account key's signature at its next nonce; only the
//! node settles its sessions; the faucet exists only on a development
//! ledger. Each refusal is checked to change nothing.

use std::sync::Arc;

use tonic::Code;
use veil_ledger::convert::{deposit_to_pb, registration_to_pb, settle_to_pb, update_to_pb};
use veil_ledger::service::{bind, serve};
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, RemoteLedger, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;
use veil_proto::ledger::v1 as pb;
use veil_proto::ledger::v1::ledger_client::LedgerClient;

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).unwrap()
}

const E: Value = Value(1_000);

/// A refund note of `refund` for escrow `e`, blinded by a stand-in session key.
fn full_refund(refund: Value, e: &Escrow) -> NoteCommitment {
    let s = key(77).verifying_key().point().to_affine();
    veil_primitives::refund::refund_note(refund, e.refund_owner, &s).commitment()
}

struct Fx {
    ledger: EmbeddedLedger,
    remote: RemoteLedger,
    raw: LedgerClient<tonic::transport::Channel>,
    node_key: SigningKey,
    node_account_key: SigningKey,
    wallet_key: SigningKey,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(config: LedgerConfig) -> (EmbeddedLedger, String, tokio::sync::oneshot::Sender<()>) {
    let ledger = EmbeddedLedger::in_memory(Arc::new(FakeVerifier::default()), config).unwrap();
    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let l = ledger.clone();
    tokio::spawn(async move {
        serve(l, listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (ledger, format!("http://{addr}"), stop)
}

/// A development ledger with a registered node (its account funded and
/// paid into) and a funded wallet account.
async fn fixture() -> Fx {
    let (ledger, url, stop) = start(LedgerConfig::with_dev_faucet()).await;
    let remote = RemoteLedger::connect(&url).await.unwrap();
    let raw = LedgerClient::connect(url).await.unwrap();
    let (node_key, node_account_key, wallet_key) = (key(1), key(2), key(3));
    let node_account = node_account_key.verifying_key().account_id();
    remote.faucet(node_account, Value(1_000)).await.unwrap();
    let g = testing::registration(
        ledger.engine(),
        &node_key,
        &node_account_key,
        Value(2),
        vec![E],
        Value(100),
        [0; 32],
    )
    .unwrap();
    remote.register_node(g).await.unwrap();
    remote
        .faucet(wallet_key.verifying_key().account_id(), Value(100_000))
        .await
        .unwrap();
    Fx {
        ledger,
        remote,
        raw,
        node_key,
        node_account_key,
        wallet_key,
        _stop: stop,
    }
}

/// Everything a refused request must leave as it was.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: LedgerStatus,
    accounts: Vec<AccountState>,
    nodes: Vec<Option<NodeRecord>>,
}

impl Fx {
    async fn snapshot(&self, accounts: &[AccountId], nodes: &[NodeId]) -> Snapshot {
        let mut a = Vec::new();
        for id in accounts {
            a.push(self.remote.account(*id).await.unwrap());
        }
        let mut n = Vec::new();
        for id in nodes {
            n.push(self.remote.get_node(*id).await.unwrap());
        }
        Snapshot {
            status: self.remote.status().await.unwrap(),
            accounts: a,
            nodes: n,
        }
    }
    fn node_account(&self) -> AccountId {
        self.node_account_key.verifying_key().account_id()
    }
    fn wallet(&self) -> AccountId {
        self.wallet_key.verifying_key().account_id()
    }
    async fn nonce(&self, a: AccountId) -> u64 {
        self.remote.account(a).await.unwrap().next_nonce
    }
    /// A raw deposit request over the wire; returns the gRPC status code.
    async fn raw_deposit(&self, r: pb::DepositRequest) -> Code {
        match self.raw.clone().deposit(r).await {
            Ok(_) => Code::Ok,
            Err(s) => s.code(),
        }
    }
}

/// Issue 8, attack 3: anyone could move a node's earnings into a note of
/// their own. A deposit from an account now needs that account's key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodes_earnings_cannot_be_deposited_by_anyone_else() {
    let fx = fixture().await;
    let victim = fx.node_account();
    let attacker_key = key(66);
    let attacker = attacker_key.verifying_key().account_id();
    let watched = [victim, attacker, fx.wallet()];
    let before = fx.snapshot(&watched, &[]).await;
    let addr = Address::from_fr(fr(4242));
    let nonce = fx.nonce(victim).await;
    // Missing signature (what the old protocol accepted).
    let unsigned = pb::DepositRequest {
        account: victim.to_bytes().to_vec(),
        value: 500,
        addr: addr.to_bytes().to_vec(),
        ..Default::default()
    };
    assert_eq!(fx.raw_deposit(unsigned).await, Code::PermissionDenied);
    // The attacker's key and signature naming the victim's account.
    let mut wrong = DepositRequest::signed(&attacker_key, nonce, Value(500), addr);
    wrong.account = victim;
    assert!(matches!(
        fx.remote.deposit(wrong).await,
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // The victim's public key with the attacker's signature.
    let mut forged = deposit_to_pb(&DepositRequest::signed(
        &fx.node_account_key,
        nonce,
        Value(500),
        addr,
    ));
    forged.signature = deposit_to_pb(&DepositRequest::signed(
        &attacker_key,
        nonce,
        Value(500),
        addr,
    ))
    .signature;
    assert_eq!(fx.raw_deposit(forged).await, Code::PermissionDenied);
    // Cross-account: the wallet's valid signature presented for the victim's account.
    let mut cross = DepositRequest::signed(
        &fx.wallet_key,
        fx.nonce(fx.wallet()).await,
        Value(500),
        addr,
    );
    cross.account = victim;
    assert!(matches!(
        fx.remote.deposit(cross).await,
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // A signed deposit altered in flight (value raised, address swapped).
    let signed = deposit_to_pb(&DepositRequest::signed(
        &fx.wallet_key,
        fx.nonce(fx.wallet()).await,
        Value(5),
        addr,
    ));
    assert_eq!(
        fx.raw_deposit(pb::DepositRequest {
            value: 6,
            ..signed.clone()
        })
        .await,
        Code::PermissionDenied
    );
    assert_eq!(
        fx.raw_deposit(pb::DepositRequest {
            addr: fr_bytes(4243),
            ..signed.clone()
        })
        .await,
        Code::PermissionDenied
    );
    assert_eq!(fx.snapshot(&watched, &[]).await, before, "nothing changed");
    // The victim's own deposit works.
    let own = DepositRequest::signed(&fx.node_account_key, nonce, Value(500), addr);
    fx.remote.deposit(own).await.unwrap();
    assert_eq!(
        fx.remote.balance(victim).await.unwrap(),
        Value(before.accounts[0].balance.0 - 500)
    );
}

fn fr_bytes(v: u64) -> Vec<u8> {
    Address::from_fr(fr(v)).to_bytes().to_vec()
}

/// §8.3: a replayed deposit (its nonce consumed) is answered with the
/// original receipt if identical, refused otherwise; no second debit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_deposits_debit_once() {
    let fx = fixture().await;
    let w = fx.wallet();
    let nonce = fx.nonce(w).await;
    let d = DepositRequest::signed(&fx.wallet_key, nonce, Value(10), Address::from_fr(fr(1)));
    let r = fx.remote.deposit(d.clone()).await.unwrap();
    let before = fx.snapshot(&[w], &[]).await;
    assert_eq!(before.accounts[0].next_nonce, nonce + 1);
    // The identical request again (a retry): the original result, nothing new.
    assert_eq!(fx.remote.deposit(d).await.unwrap(), r);
    // The old nonce under other fields: refused.
    let replay = DepositRequest::signed(&fx.wallet_key, nonce, Value(10), Address::from_fr(fr(2)));
    assert_eq!(fx.remote.deposit(replay).await, Err(LedgerError::BadNonce));
    assert_eq!(
        fx.raw
            .clone()
            .deposit(deposit_to_pb(&DepositRequest::signed(
                &fx.wallet_key,
                nonce + 1,
                Value(10),
                Address::from_fr(fr(1))
            )))
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists,
        "the same commitment under a fresh nonce is not a retry"
    );
    assert_eq!(fx.snapshot(&[w], &[]).await, before);
}

/// §8.3, §8.3.6 over gRPC: a registration stakes from its account only
/// with that account's signature at its next nonce.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_needs_the_staking_accounts_signature() {
    let fx = fixture().await;
    let victim = fx.wallet();
    let attacker_key = key(77);
    let new_node = key(78);
    let nid = new_node.verifying_key().node_id();
    let watched = [victim, attacker_key.verifying_key().account_id()];
    let before = fx.snapshot(&watched, &[nid]).await;
    let nonce = fx.nonce(victim).await;
    let good = NodeRegistration::signed(
        &new_node,
        &fx.wallet_key,
        nonce,
        Value(1),
        vec![E],
        Value(50),
        [1; 32],
    );
    let code = |g: pb::RegisterNodeRequest| {
        let mut c = fx.raw.clone();
        async move { c.register_node(g).await.unwrap_err().code() }
    };
    // Missing account signature.
    let mut missing = registration_to_pb(&good);
    missing.account_key.clear();
    missing.account_signature.clear();
    assert_eq!(code(missing).await, Code::PermissionDenied);
    // The attacker's account authorisation on the victim's account.
    let by_attacker = NodeRegistration::signed(
        &new_node,
        &attacker_key,
        0,
        Value(1),
        vec![E],
        Value(50),
        [1; 32],
    );
    assert!(matches!(
        fx.remote
            .register_node(NodeRegistration {
                account_auth: by_attacker.account_auth,
                ..good.clone()
            })
            .await,
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // Cross-account: the attacker's full registration naming the victim's account.
    let mut cross = registration_to_pb(&by_attacker);
    cross.account = victim.to_bytes().to_vec();
    assert_eq!(code(cross).await, Code::PermissionDenied);
    assert_eq!(
        fx.snapshot(&watched, &[nid]).await,
        before,
        "nothing changed"
    );
    // Replayed: the victim's nonce is consumed by a deposit first.
    fx.remote
        .deposit(DepositRequest::signed(
            &fx.wallet_key,
            nonce,
            Value(1),
            Address::from_fr(fr(9)),
        ))
        .await
        .unwrap();
    let before = fx.snapshot(&watched, &[nid]).await;
    assert_eq!(
        fx.remote.register_node(good).await,
        Err(LedgerError::BadNonce)
    );
    assert_eq!(
        fx.snapshot(&watched, &[nid]).await,
        before,
        "nothing changed"
    );
}

/// Issue 8, attack 1, at the ledger's gRPC edge (with a fake proof
/// verifier; `tests/settle_authorisation.rs` plays it with real proofs and
/// a real node): a settlement without the node's signature over the exact
/// statement is PERMISSION_DENIED and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_needs_the_nodes_signature_over_the_wire() {
    let fx = fixture().await;
    let other = key(90);
    let g = testing::registration(
        fx.ledger.engine(),
        &other,
        &fx.node_account_key,
        Value(1),
        vec![E],
        Value(0),
        [0; 32],
    )
    .unwrap();
    fx.remote.register_node(g).await.unwrap();
    let node = fx.node_key.verifying_key().node_id();
    testing::deposit(
        fx.ledger.engine(),
        &fx.wallet_key,
        Value(10_000),
        Address::from_fr(fr(1)),
    )
    .unwrap();
    let root = *fx.remote.roots().await.unwrap().last().unwrap();
    let token = AccessPublic {
        root,
        nullifier: Nullifier::from_fr(fr(500)),
        cm_change: NoteCommitment::from_fr(fr(501)),
        escrow: E,
        node_id: node,
        session_key_hash: SessionKeyHash::from_fr(fr(502)),
        refund_owner: OwnerKey::from_fr(fr(503)),
        expiry: BlockHeight(10),
    };
    let e = fx
        .remote
        .open_escrow(token, FakeVerifier::valid_proof())
        .await
        .unwrap();
    let mut good = SettleRequest {
        node_id: node,
        k: 1,
        session_ids: vec![e.session_id],
        total: Value(300),
        cm_refunds: vec![full_refund(Value(700), &e)],
        proof: FakeVerifier::valid_proof(),
        authorisation: None,
    };
    testing::authorise_settle(fx.ledger.engine(), &fx.node_key, &mut good).unwrap();
    let watched = [fx.node_account()];
    let before = fx.snapshot(&watched, &[node]).await;
    let code = |r: pb::SettleRequest| {
        let mut c = fx.raw.clone();
        async move { c.settle(r).await.unwrap_err().code() }
    };
    // Missing signature: the client's self-settlement with T = 0.
    let mut own = settle_to_pb(&SettleRequest {
        total: Value(0),
        cm_refunds: vec![full_refund(E, &e)],
        ..good.clone()
    });
    own.node_signature.clear();
    assert_eq!(code(own).await, Code::PermissionDenied);
    // Garbage: 96 bytes that are not a signature, and a valid signature over something else.
    let mut garbage = settle_to_pb(&good);
    garbage.node_signature = vec![0xff; 96];
    assert_eq!(code(garbage).await, Code::InvalidArgument);
    let mut wrong_msg = settle_to_pb(&good);
    wrong_msg.node_signature = fx.node_key.sign(&fr(1)).to_bytes().to_vec();
    assert_eq!(code(wrong_msg).await, Code::PermissionDenied);
    // Another registered node's signature over this very statement.
    let mut by_other = good.clone();
    testing::authorise_settle(fx.ledger.engine(), &other, &mut by_other).unwrap();
    assert_eq!(
        fx.remote.settle(by_other).await,
        Err(LedgerError::SettleUnauthorized(
            "signature by the registered node key does not verify"
        ))
    );
    // The node's signature with T changed in flight.
    assert_eq!(
        code(settle_to_pb(&SettleRequest {
            total: Value(0),
            ..good.clone()
        }))
        .await,
        Code::PermissionDenied
    );
    assert_eq!(
        fx.snapshot(&watched, &[node]).await,
        before,
        "nothing changed"
    );
    // The node's own request pays.
    fx.remote.settle(good).await.unwrap();
    assert_eq!(
        fx.remote.balance(fx.node_account()).await.unwrap(),
        Value(before.accounts[0].balance.0 + 300)
    );
}

/// §8.3.7: a ledger without `--dev-faucet` refuses `Faucet`
/// (PERMISSION_DENIED) and mints nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faucet_is_refused_without_the_development_flag() {
    let (_ledger, url, _stop) = start(LedgerConfig::default()).await;
    let remote = RemoteLedger::connect(&url).await.unwrap();
    let mut raw = LedgerClient::connect(url).await.unwrap();
    let a = key(5).verifying_key().account_id();
    let before = remote.status().await.unwrap();
    assert_eq!(
        remote.faucet(a, Value(10)).await,
        Err(LedgerError::FaucetDisabled)
    );
    let err = raw
        .faucet(pb::FaucetRequest {
            account: a.to_bytes().to_vec(),
            amount: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(remote.balance(a).await.unwrap(), Value(0));
    assert_eq!(remote.status().await.unwrap(), before);
}

/// §8.3.8 over the wire: only the holder of the node key and of the node's
/// account key updates the node; the wire codes of every refusal; the
/// record read back by `GetNode` carries the update (the pin in force), a
/// replay of an earlier update is refused, and a malformed request is
/// `INVALID_ARGUMENT`. Each refusal changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_updates_need_the_node_key_and_its_accounts_key() {
    let fx = fixture().await;
    let nid = fx.node_key.verifying_key().node_id();
    let watched = [fx.node_account(), fx.wallet()];
    let record = fx.remote.get_node(nid).await.unwrap().unwrap();
    let signed = |node: &SigningKey, account: &SigningKey, nonce, rec: &NodeRecord, tls| {
        NodeUpdate::signed(node, account, nonce, rec, Value(3), vec![E], [tls; 32])
    };
    let nonce = fx.nonce(fx.node_account()).await;
    let good = signed(&fx.node_key, &fx.node_account_key, nonce, &record, 5);
    let code = |u: pb::UpdateNodeRequest| {
        let mut c = fx.raw.clone();
        async move { c.update_node(u).await.unwrap_err().code() }
    };
    let before = fx.snapshot(&watched, &[nid]).await;
    // Another key's signature; another key claiming the node id.
    let mut forged = update_to_pb(&good);
    forged.signature = key(9).sign(&good.message()).to_bytes().to_vec();
    assert_eq!(code(forged).await, Code::PermissionDenied);
    let mut thief = update_to_pb(&good);
    thief.node_key = key(9).verifying_key().to_bytes().to_vec();
    assert_eq!(code(thief).await, Code::PermissionDenied);
    // Without the account's signature, or with the wallet's.
    let mut missing = update_to_pb(&good);
    missing.account_key.clear();
    missing.account_signature.clear();
    assert_eq!(code(missing).await, Code::PermissionDenied);
    let by_wallet = signed(&fx.node_key, &fx.wallet_key, 0, &record, 5);
    assert!(matches!(
        fx.remote
            .update_node(NodeUpdate {
                account_auth: by_wallet.account_auth,
                ..good.clone()
            })
            .await,
        Err(LedgerError::AccountUnauthenticated(_))
    ));
    // An unregistered node, a stale sequence, invalid terms, a malformed field.
    let stranger = signed(&key(9), &fx.node_account_key, nonce, &record, 5);
    assert_eq!(
        fx.remote.update_node(stranger).await,
        Err(LedgerError::UnknownNode)
    );
    let mut ahead = record.clone();
    ahead.update = Some(AppliedUpdate {
        update: good.clone(),
        applied_at: BlockHeight(0),
    });
    let skipped = signed(&fx.node_key, &fx.node_account_key, nonce, &ahead, 5);
    assert_eq!(skipped.sequence, 2);
    assert_eq!(
        fx.remote.update_node(skipped).await,
        Err(LedgerError::StaleNodeUpdate)
    );
    let free = NodeUpdate::signed(
        &fx.node_key,
        &fx.node_account_key,
        nonce,
        &record,
        Value(0),
        vec![E],
        [5; 32],
    );
    assert!(matches!(
        fx.remote.update_node(free).await,
        Err(LedgerError::InvalidArgument(_))
    ));
    let mut short = update_to_pb(&good);
    short.tls_key_hash.pop();
    assert_eq!(code(short).await, Code::InvalidArgument);
    assert_eq!(
        fx.snapshot(&watched, &[nid]).await,
        before,
        "nothing changed"
    );

    // The node's own update applies; GetNode reads it back whole.
    let applied = fx.remote.update_node(good.clone()).await.unwrap();
    assert_eq!(applied.tls_key_hash(), [5; 32]);
    assert_eq!(applied.price_per_kib(), Value(3));
    assert_eq!(applied.sequence(), 1);
    assert_eq!(
        fx.remote.get_node(nid).await.unwrap(),
        Some(applied.clone())
    );
    assert_eq!(
        fx.ledger.get_node(nid).await.unwrap(),
        Some(applied.clone())
    );
    // A retry answers the record; after a second update, the first is a replay.
    assert_eq!(
        fx.remote.update_node(good.clone()).await,
        Ok(applied.clone())
    );
    let nonce = fx.nonce(fx.node_account()).await;
    let second = signed(&fx.node_key, &fx.node_account_key, nonce, &applied, 6);
    fx.remote.update_node(second).await.unwrap();
    let before = fx.snapshot(&watched, &[nid]).await;
    assert_eq!(code(update_to_pb(&good)).await, Code::FailedPrecondition);
    assert_eq!(
        fx.remote.update_node(good).await,
        Err(LedgerError::StaleNodeUpdate)
    );
    assert_eq!(
        fx.snapshot(&watched, &[nid]).await,
        before,
        "nothing changed"
    );
}

/// §8.3.12: only the node's registered account key retires it or takes
/// its stake back; over the wire, each refusal has its status code and
/// changes nothing, and the stake stays locked until the lock-up ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exit_needs_the_nodes_account_key() {
    use veil_ledger::convert::exit_to_pb;
    use veil_ledger::exit::{ExitRequest, ExitStep};
    let fx = fixture().await;
    let nid = fx.node_key.verifying_key().node_id();
    let watched = [fx.node_account(), fx.wallet()];
    let code = |x: pb::ExitNodeRequest| {
        let mut c = fx.raw.clone();
        async move { c.exit_node(x).await.unwrap_err().code() }
    };
    let nonce = fx.nonce(fx.node_account()).await;
    let retire = ExitRequest::signed(&fx.node_account_key, nonce, nid, ExitStep::Retire);
    let before = fx.snapshot(&watched, &[nid]).await;
    // The wallet's key naming the node's account; the node key; unsigned.
    let mut forged = ExitRequest::signed(&fx.wallet_key, nonce, nid, ExitStep::Retire);
    forged.account = fx.node_account();
    assert_eq!(code(exit_to_pb(&forged)).await, Code::PermissionDenied);
    let mut by_node = ExitRequest::signed(&fx.node_key, nonce, nid, ExitStep::Retire);
    by_node.account = fx.node_account();
    assert_eq!(code(exit_to_pb(&by_node)).await, Code::PermissionDenied);
    let mut bare = exit_to_pb(&retire);
    bare.account_key.clear();
    bare.signature.clear();
    assert_eq!(code(bare).await, Code::PermissionDenied);
    // The wallet's own valid signature for a node that is not its own.
    let theirs = ExitRequest::signed(&fx.wallet_key, 0, nid, ExitStep::Retire);
    assert_eq!(code(exit_to_pb(&theirs)).await, Code::PermissionDenied);
    // Malformed: no step, a short node id.
    let mut no_step = exit_to_pb(&retire);
    no_step.step = 0;
    assert_eq!(code(no_step).await, Code::InvalidArgument);
    let mut short = exit_to_pb(&retire);
    short.node_id.pop();
    assert_eq!(code(short).await, Code::InvalidArgument);
    // Out of order: a release first.
    let early = ExitRequest::signed(&fx.node_account_key, nonce, nid, ExitStep::Release);
    assert_eq!(
        fx.remote.exit_node(early).await,
        Err(LedgerError::NodeNotRetired)
    );
    assert_eq!(
        fx.snapshot(&watched, &[nid]).await,
        before,
        "nothing changed"
    );

    // The account retires its node; the stake is locked, with the height.
    let retired = fx.remote.exit_node(retire).await.unwrap();
    assert!(retired.is_retired());
    let release = ExitRequest::signed(&fx.node_account_key, nonce + 1, nid, ExitStep::Release);
    let cfg = LedgerConfig::default();
    let at = BlockHeight(cfg.max_expiry_delta + cfg.challenge_window + 1 + 200);
    assert_eq!(
        fx.remote.exit_node(release.clone()).await,
        Err(LedgerError::StakeLocked(at))
    );
    assert_eq!(code(exit_to_pb(&release)).await, Code::FailedPrecondition);
    fx.ledger.advance(at.0).await.unwrap();
    let balance = fx.remote.account(fx.node_account()).await.unwrap().balance;
    let released = fx.remote.exit_node(release).await.unwrap();
    assert_eq!(
        fx.remote.account(fx.node_account()).await.unwrap().balance,
        Value(balance.0 + 100),
        "the stake is back"
    );
    assert_eq!(fx.remote.get_node(nid).await.unwrap(), Some(released));
}
