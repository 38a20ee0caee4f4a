//! The gRPC service over loopback: RemoteLedger round trips, status codes,
//! message limits (C1), and a RemoteLedger seeing the same errors as the
//! embedded one.

use std::sync::Arc;

use tonic::Code;
use veil_ledger::service::{bind, serve};
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, RemoteLedger};
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

/// A registration signed by the node key and the account key at its next nonce.
async fn registration(
    l: &impl LedgerApi,
    node: &SigningKey,
    account: &SigningKey,
    sizes: Vec<Value>,
    stake: Value,
) -> NodeRegistration {
    let nonce = l
        .account(account.verifying_key().account_id())
        .await
        .unwrap()
        .next_nonce;
    NodeRegistration::signed(node, account, nonce, Value(1), sizes, stake, [3; 32])
}

/// A deposit signed by the account key at its next nonce.
async fn deposit(
    l: &impl LedgerApi,
    account: &SigningKey,
    v: Value,
    addr: Address,
) -> DepositReceipt {
    let nonce = l
        .account(account.verifying_key().account_id())
        .await
        .unwrap()
        .next_nonce;
    l.deposit(DepositRequest::signed(account, nonce, v, addr))
        .await
        .unwrap()
}

async fn start() -> (EmbeddedLedger, String, tokio::sync::oneshot::Sender<()>) {
    let ledger = EmbeddedLedger::in_memory(
        Arc::new(FakeVerifier::default()),
        LedgerConfig::with_dev_faucet(),
    )
    .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_round_trip_and_typed_errors() {
    let (_ledger, url, _stop) = start().await;
    let remote = RemoteLedger::connect(&url).await.unwrap();
    let acct_key = key(1);
    let acct = acct_key.verifying_key().account_id();
    assert_eq!(
        remote.faucet(acct, Value(10_000)).await.unwrap(),
        Value(10_000)
    );
    let key = key(2);
    let node = key.verifying_key().node_id();
    let reg = registration(&remote, &key, &acct_key, vec![Value(100)], Value(1)).await;
    let rec = remote.register_node(reg.clone()).await.unwrap();
    assert_eq!(remote.get_node(node).await.unwrap(), Some(rec));
    let d = deposit(&remote, &acct_key, Value(500), Address::from_fr(fr(4))).await;
    assert_eq!(remote.commitments(0, 10).await.unwrap(), vec![d.commitment]);
    let roots = remote.roots().await.unwrap();
    let token = AccessPublic {
        root: *roots.last().unwrap(),
        nullifier: Nullifier::from_fr(fr(5)),
        cm_change: NoteCommitment::from_fr(fr(6)),
        escrow: Value(100),
        node_id: node,
        session_key_hash: SessionKeyHash::from_fr(fr(7)),
        refund_owner: OwnerKey::from_fr(fr(8)),
        expiry: BlockHeight(5),
    };
    let e = remote
        .open_escrow(token.clone(), FakeVerifier::valid_proof())
        .await
        .unwrap();
    assert_eq!(
        remote.get_escrow(e.session_id).await.unwrap(),
        Some(e.clone())
    );
    // Idempotent retry over the wire; conflicting token refused with the same variant as embedded.
    assert_eq!(
        remote
            .open_escrow(token.clone(), FakeVerifier::valid_proof())
            .await
            .unwrap(),
        e
    );
    let conflicting = AccessPublic {
        cm_change: NoteCommitment::from_fr(fr(9)),
        ..token
    };
    assert_eq!(
        remote
            .open_escrow(conflicting, FakeVerifier::valid_proof())
            .await,
        Err(LedgerError::NullifierSpent)
    );
    assert_eq!(
        remote
            .register_node(registration(&remote, &key, &acct_key, vec![Value(100)], Value(2)).await)
            .await,
        Err(LedgerError::NodeExists)
    );
    // Terms altered after signing: refused over the wire with the same variant.
    assert!(matches!(
        remote
            .register_node(NodeRegistration {
                stake: Value(2),
                ..reg
            })
            .await,
        Err(LedgerError::RegistrationUnauthenticated(_))
    ));
    assert_eq!(
        remote.reclaim(SessionId::from_fr(fr(99))).await,
        Err(LedgerError::UnknownEscrow)
    );
    let s = remote.status().await.unwrap();
    assert_eq!(s.commitment_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_for_malformed_and_conflicting_requests() {
    let (_ledger, url, _stop) = start().await;
    let mut c = LedgerClient::connect(url).await.unwrap();
    // B1: a nullifier >= r is malformed, not reduced.
    let r_plus_1 = {
        let mut b = [0u8; 32];
        b.copy_from_slice(&ark_ff::BigInteger::to_bytes_be(
            &<Fr as ark_ff::PrimeField>::MODULUS,
        ));
        b[31] += 1;
        b.to_vec()
    };
    let err = c
        .reclaim(pb::ReclaimRequest {
            session_id: r_plus_1,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let err = c
        .reclaim(pb::ReclaimRequest {
            session_id: vec![0; 31],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .reclaim(pb::ReclaimRequest {
            session_id: vec![0; 32],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = c
        .open_escrow(pb::OpenEscrowRequest { token: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .faucet(pb::FaucetRequest {
            account: vec![0; 32],
            amount: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let err = c
        .deposit(pb::DepositRequest {
            account: vec![0; 32],
            value: 5,
            addr: vec![0; 32],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "no account signature");
    let err = c
        .deposit(pb::DepositRequest {
            account: vec![0; 32],
            value: 5,
            addr: vec![0; 32],
            account_key: vec![0; 63],
            nonce: 0,
            signature: vec![0; 96],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "malformed account key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c1_oversized_message_is_refused_before_the_handler() {
    let (ledger, url, _stop) = start().await;
    let mut c = LedgerClient::connect(url)
        .await
        .unwrap()
        .max_encoding_message_size(16 << 20);
    let before = ledger.status().await.unwrap();
    let err = c
        .settle(pb::SettleRequest {
            proof: vec![0; 5 << 20],
            ..Default::default()
        })
        .await
        .unwrap_err();
    // tonic's decoder refuses it with OUT_OF_RANGE before allocating the body.
    assert!(
        matches!(err.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{err:?}"
    );
    assert_eq!(ledger.status().await.unwrap(), before);
    // The service still answers.
    c.status(pb::StatusRequest {}).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_verification_queue_is_busy() {
    let engine =
        veil_ledger::Engine::in_memory(Arc::new(FakeVerifier::default()), LedgerConfig::default())
            .unwrap();
    let ledger = EmbeddedLedger::new(engine, 0);
    let token = AccessPublic {
        root: MerkleRoot::from_fr(fr(1)),
        nullifier: Nullifier::from_fr(fr(5)),
        cm_change: NoteCommitment::from_fr(fr(6)),
        escrow: Value(100),
        node_id: NodeId::from_fr(fr(2)),
        session_key_hash: SessionKeyHash::from_fr(fr(7)),
        refund_owner: OwnerKey::from_fr(fr(8)),
        expiry: BlockHeight(5),
    };
    assert_eq!(
        ledger.open_escrow(token, FakeVerifier::valid_proof()).await,
        Err(LedgerError::Busy)
    );
    assert_eq!(
        veil_ledger::service::to_status(LedgerError::Busy).code(),
        Code::ResourceExhausted
    );
}

/// `GetNullifier`: spent by an escrow or by a withdrawal, over the
/// wire; a non-canonical nullifier is refused, not reduced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nullifier_lookup_sees_escrows_and_withdrawals() {
    let (ledger, url, _stop) = start().await;
    let remote = RemoteLedger::connect(&url).await.unwrap();
    let acct_key = key(1);
    let acct = acct_key.verifying_key().account_id();
    remote.faucet(acct, Value(10_000)).await.unwrap();
    let key = key(2);
    let node = key.verifying_key().node_id();
    let reg = registration(&remote, &key, &acct_key, vec![Value(100)], Value(1)).await;
    remote.register_node(reg).await.unwrap();
    deposit(&remote, &acct_key, Value(500), Address::from_fr(fr(4))).await;
    let root = *remote.roots().await.unwrap().last().unwrap();
    let (nf_open, nf_withdraw, nf_fresh) = (
        Nullifier::from_fr(fr(50)),
        Nullifier::from_fr(fr(51)),
        Nullifier::from_fr(fr(52)),
    );
    for nf in [nf_open, nf_withdraw, nf_fresh] {
        assert!(!remote.nullifier_spent(nf).await.unwrap());
    }
    remote
        .open_escrow(
            AccessPublic {
                root,
                nullifier: nf_open,
                cm_change: NoteCommitment::from_fr(fr(6)),
                escrow: Value(100),
                node_id: node,
                session_key_hash: SessionKeyHash::from_fr(fr(7)),
                refund_owner: OwnerKey::from_fr(fr(8)),
                expiry: BlockHeight(5),
            },
            FakeVerifier::valid_proof(),
        )
        .await
        .unwrap();
    remote
        .withdraw(
            WithdrawPublic {
                root,
                nullifier: nf_withdraw,
                cm_change: NoteCommitment::from_fr(fr(10)),
                amount: Value(1),
                recipient: acct,
            },
            FakeVerifier::valid_proof(),
        )
        .await
        .unwrap();
    assert!(remote.nullifier_spent(nf_open).await.unwrap());
    assert!(remote.nullifier_spent(nf_withdraw).await.unwrap());
    assert!(!remote.nullifier_spent(nf_fresh).await.unwrap());
    // The embedded ledger answers the same.
    assert!(ledger.nullifier_spent(nf_withdraw).await.unwrap());
    assert!(!ledger.nullifier_spent(nf_fresh).await.unwrap());

    let mut raw = LedgerClient::connect(url).await.unwrap();
    for bad in [vec![0xff; 32], vec![0; 31], vec![0; 33]] {
        let err = raw
            .get_nullifier(pb::GetNullifierRequest { nullifier: bad })
            .await
            .expect_err("non-canonical nullifier");
        assert_eq!(err.code(), Code::InvalidArgument, "{err}");
    }
}

/// `ListNodes` (§8.3.10): anyone reads the registry in node-id order, page
/// by page; the embedded ledger and the gRPC service give the same pages;
/// a malformed cursor is `INVALID_ARGUMENT` and a page never exceeds the cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_lists_in_pages_alike_on_both_backends() {
    let (ledger, url, _stop) = start().await;
    let remote = RemoteLedger::connect(&url).await.unwrap();
    for seed in 1..=5u8 {
        let account = key(100 + seed);
        ledger
            .faucet(account.verifying_key().account_id(), Value(10))
            .await
            .unwrap();
        let g = registration(&ledger, &key(seed), &account, vec![Value(64)], Value(0)).await;
        ledger.register_node(g).await.unwrap();
    }
    let mut ids: Vec<NodeId> = (1..=5u8)
        .map(|s| key(s).verifying_key().node_id())
        .collect();
    ids.sort_by_key(|id| id.to_bytes());

    let all = ledger.list_nodes(None, 100).await.unwrap();
    let listed: Vec<NodeId> = all.iter().map(|n| n.registration.node_id).collect();
    assert_eq!(listed, ids, "every node once, in id order");
    assert_eq!(remote.list_nodes(None, 100).await.unwrap(), all);

    // Pages of two, following the cursor, on both backends.
    for l in [&ledger as &dyn Lister, &remote as &dyn Lister] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = l.page(cursor, 2).await;
            assert!(page.len() <= 2);
            let Some(last) = page.last() else { break };
            cursor = Some(last.registration.node_id);
            seen.extend(page.iter().map(|n| n.registration.node_id));
        }
        assert_eq!(seen, ids);
    }
    assert!(
        ledger
            .list_nodes(Some(ids[4]), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(ledger.list_nodes(None, 0).await.unwrap().is_empty());

    let mut raw = LedgerClient::connect(url.clone()).await.unwrap();
    let bad = raw
        .list_nodes(pb::ListNodesRequest {
            start_after: vec![0xff; 32],
            limit: 1,
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    let capped = raw
        .list_nodes(pb::ListNodesRequest {
            start_after: Vec::new(),
            limit: u32::MAX,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(capped.nodes.len(), 5);
}

/// One page of `list_nodes`, for either backend behind one type.
trait Lister: Sync {
    fn page(
        &self,
        after: Option<NodeId>,
        limit: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<NodeRecord>> + Send + '_>>;
}

impl<L: LedgerApi + Sync> Lister for L {
    fn page(
        &self,
        after: Option<NodeId>,
        limit: u32,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<NodeRecord>> + Send + '_>> {
        Box::pin(async move { self.list_nodes(after, limit).await.unwrap() })
    }
}
