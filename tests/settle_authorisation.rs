//! Issue 8, attack 1, end to end over real gRPC on loopback: a client knows
//! every slot input of its own session and holds the session key, so it can
//! sign `H(RECEIPT, sid, 0)` and prove `settle_1` with `T = 0` and the full
//! refund. The ledger must refuse it (only the node may settle, §8.3.3), as
//! it refuses a request signed by another registered node, a garbage
//! signature and a node-signed request with `T` changed; each refusal
//! changes nothing, and the node's own settlement still pays.

#[path = "../crates/node/tests/common/mod.rs"]
mod common;
#[path = "support/grpc_ledger.rs"]
mod grpc_ledger;

use common::echo_server;

use rand::rngs::OsRng;
use veil_circuits::access::AccessPublic;
use veil_circuits::settle::{SettlePublic, Slot};
use veil_ledger::types::*;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, RemoteLedger};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::note::Rho;
use veil_primitives::receipt::Receipt;
use veil_proofs::{CircuitId, ParamStore, Prover, SettleSize};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::node_frame;

const E: Value = Value(1024);

/// The ledger served over gRPC (Groth16 over the pinned development keys).
async fn ledger_over_grpc() -> (RemoteLedger, tokio::sync::oneshot::Sender<()>) {
    let ledger =
        EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet()).unwrap();
    grpc_ledger::serve_over_grpc(ledger).await
}

/// What every refusal must leave unchanged.
async fn snapshot(
    l: &RemoteLedger,
    sid: SessionId,
    accounts: &[AccountId],
) -> (LedgerStatus, Option<Escrow>, Vec<AccountState>) {
    let mut a = Vec::new();
    for id in accounts {
        a.push(l.account(*id).await.unwrap());
    }
    (
        l.status().await.unwrap(),
        l.get_escrow(sid).await.unwrap(),
        a,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_node_settles_its_sessions() {
    let (ledger, _stop_ledger) = ledger_over_grpc().await;
    let dir = tempfile::tempdir().unwrap();
    let (node, stop) = common::start_real_node(ledger.clone(), dir.path().into(), E).await;

    // A wallet deposits a note; the client builds the tree and proves access.
    let (private, account) = common::deposited_note(&ledger, Value(5_000)).await;
    let session_key = SigningKey::generate(&mut OsRng);
    let refund =
        veil_primitives::refund::refund_spending_key(&private.sk, &Rho::random(&mut OsRng))
            .owner_key();
    let height = ledger.status().await.unwrap().height;
    let public = AccessPublic::derive(
        &private,
        E,
        node.node_id,
        session_key.verifying_key().session_key_hash(),
        refund,
        BlockHeight(height.0 + 50),
    )
    .unwrap();
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap();
    let prover = Prover::from_store(
        &store,
        &[CircuitId::Access, CircuitId::Settle(SettleSize::K1)],
        None,
    )
    .unwrap();
    let token = prover.prove_access(&public, &private, &mut OsRng).unwrap();
    let mut client = NodeClient::connect(format!("http://{}", node.local_addr))
        .await
        .unwrap();
    client
        .open_session(pb::OpenSessionRequest {
            version: 1,
            access_token: token.to_bytes(),
            session_public_key: session_key.verifying_key().to_bytes().to_vec(),
        })
        .await
        .unwrap();
    let sid = token.session_id();

    // The client uses the session and pays the node a receipt for 40 KiB.
    let port = echo_server().await;
    let session = common::Session::of(&session_key, &token);
    let mut relay = common::Relay::opened(&node, &session, port).await;
    relay.receipt(session.receipt(40)).await;
    assert!(matches!(
        relay.next().await,
        node_frame::Frame::ReceiptAck(pb::ReceiptAck { kib: 40, .. })
    ));

    // The attack: the session key signs H(RECEIPT, sid, 0); settle_1 with
    // T = 0 and the full refund, a proof the ledger's pairing would accept.
    let escrow = ledger.get_escrow(sid).await.unwrap().unwrap();
    let zero = Receipt {
        session_id: sid.inner(),
        kib: 0,
    }
    .sign(&session_key);
    let slot = Slot::new(
        escrow.terms(),
        escrow.price_per_kib,
        &session_key.verifying_key(),
        &zero,
    );
    let slots = vec![slot];
    let settle_public = SettlePublic::for_slots(node.node_id, escrow.price_per_kib, &slots);
    assert_eq!(settle_public.total, Value(0));
    let proof = prover
        .prove_settle::<1>(&settle_public, slots.clone(), &mut OsRng)
        .unwrap();
    let statement = SettleBatch {
        node_id: node.node_id,
        k: 1,
        total: Value(0),
        price: escrow.price_per_kib,
        slots: vec![SettleBatch::slot(&escrow, slots[0].public.cm_refund)],
    };
    let unsigned = SettleRequest {
        authorisation: None,
        ..SettleRequest::signed(&session_key, &statement, Proof(proof.proof.to_bytes())).unwrap()
    };
    let watched = [node.account, account];
    let before = snapshot(&ledger, sid, &watched).await;
    assert_eq!(before.1.as_ref().map(|e| e.state), Some(EscrowState::Open));
    let refused = |r: SettleRequest| {
        let l = ledger.clone();
        async move {
            assert!(
                matches!(l.settle(r).await, Err(LedgerError::SettleUnauthorized(_))),
                "refused as not authorised by the node"
            );
        }
    };
    // 1. No signature: the attack as the old protocol accepted it.
    refused(unsigned.clone()).await;
    // 2. Signed by the client's session key (the only key it holds).
    refused(SettleRequest::signed(&session_key, &statement, unsigned.proof.clone()).unwrap()).await;
    // 3. Signed by another registered node (its own node and account keys).
    let (other, other_account) = (
        SigningKey::generate(&mut OsRng),
        SigningKey::generate(&mut OsRng),
    );
    ledger
        .register_node(NodeRegistration::signed(
            &other,
            &other_account,
            0,
            Value(1),
            vec![E],
            Value(0),
            [0; 32],
        ))
        .await
        .unwrap();
    refused(SettleRequest::signed(&other, &statement, unsigned.proof.clone()).unwrap()).await;
    // 4. Garbage: the node's key signing something else.
    let node_key = veil_node::keys::load_or_create_node_key(dir.path()).unwrap();
    refused(SettleRequest {
        authorisation: Some(node_key.sign(&veil_primitives::Fr::from(7u64))),
        ..unsigned.clone()
    })
    .await;
    // 5. The node's signature over T = 40, with T changed to 0 in flight.
    let paid = SettleBatch {
        total: Value(40),
        ..statement.clone()
    };
    let signed_by_node = SettleRequest::signed(&node_key, &paid, unsigned.proof.clone()).unwrap();
    refused(SettleRequest {
        total: Value(0),
        ..signed_by_node
    })
    .await;
    // (The old behaviour, for the record: with the node's signature the
    // client's T = 0 proof verifies — only the authorisation stops it.)
    let after = snapshot(&ledger, sid, &watched).await;
    assert_eq!(
        after.0.commitment_count, before.0.commitment_count,
        "nothing appended"
    );
    assert_eq!(after.1, before.1, "escrow still open");
    assert_eq!(after.2, before.2, "no account moved");

    // The node's own settlement still pays.
    let report = node.settle_now().await.unwrap();
    assert_eq!((report.sessions, report.total_paid), (1, Value(40)));
    assert!(matches!(
        ledger.get_escrow(sid).await.unwrap().unwrap().state,
        EscrowState::Settled { .. }
    ));
    assert_eq!(
        ledger.balance(node.account).await.unwrap(),
        Value(before.2[0].balance.0 + 40)
    );
    let _ = stop.send(());
}
