//! A node with the real proof backend over gRPC on 127.0.0.1: a real access
//! proof opens a session on a Groth16-verifying ledger, bytes are relayed
//! and metered, a re-targeted token is refused after one pairing (B9, C5),
//! and the session settles with a real `settle_8` proof
//! (docs/protocol.md §9).

#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use common::echo_server;
use std::sync::Arc;

use rand::rngs::OsRng;
use veil_circuits::access::AccessPublic;
use veil_ledger::types::{EscrowState, Value};
use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::BlockHeight;
use veil_primitives::note::Rho;
use veil_proofs::{CircuitId, ParamStore, Prover};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::node_frame;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_proofs_open_relay_and_settle() {
    let ledger_config = LedgerConfig {
        challenge_window: 20,
        max_expiry_delta: 100,
        settle_batch_sizes: vec![8],
        dev_faucet: true,
    };
    let verifier = Groth16Verifier::dev(&[8]).unwrap();
    let ledger = EmbeddedLedger::in_memory(Arc::new(verifier), ledger_config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node, stop) =
        common::start_real_node(ledger.clone(), dir.path().into(), Value(1024)).await;

    // A wallet deposits a note; the client builds the tree and proves access.
    let (private, _) = common::deposited_note(&ledger, Value(5_000)).await;
    let session_key = SigningKey::generate(&mut OsRng);
    let h_s = session_key.verifying_key().session_key_hash();
    let height = ledger.status().await.unwrap().height;
    let refund =
        veil_primitives::refund::refund_spending_key(&private.sk, &Rho::random(&mut OsRng))
            .owner_key();
    let public = AccessPublic::derive(
        &private,
        Value(1024),
        node.node_id,
        h_s,
        refund,
        BlockHeight(height.0 + 50),
    )
    .unwrap();
    let prover = Prover::from_store(
        &ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(),
        &[CircuitId::Access],
        None,
    )
    .unwrap();
    let token = prover.prove_access(&public, &private, &mut OsRng).unwrap();

    let mut client = NodeClient::connect(format!("http://{}", node.local_addr))
        .await
        .unwrap();
    let open = |bytes: Vec<u8>| pb::OpenSessionRequest {
        version: 1,
        access_token: bytes,
        session_public_key: session_key.verifying_key().to_bytes().to_vec(),
    };
    // B9: the same proof with a rewritten expiry passes the cheap checks
    // and fails the pairing; nothing reaches the ledger.
    let mut retargeted = token.clone();
    retargeted.public.expiry = BlockHeight(height.0 + 49);
    let err = client
        .open_session(open(retargeted.to_bytes()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
    assert_eq!(node.status().proof_verifications, 1);
    assert!(
        ledger
            .get_escrow(token.session_id())
            .await
            .unwrap()
            .is_none()
    );
    // Non-canonical encoding: refused before any pairing.
    let mut bad = token.to_bytes();
    bad[1..33].fill(0xff);
    assert_eq!(
        client.open_session(open(bad)).await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    assert_eq!(node.status().proof_verifications, 1);

    let opened = client
        .open_session(open(token.to_bytes()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.credit_kib, 1024);
    let sid = token.session_id();

    // Relay 20 KiB each way with receipts.
    let port = echo_server().await;
    let session = common::Session::of(&session_key, &token);
    let mut relay = common::Relay::opened(&node, &session, port).await;
    let payload: Vec<u8> = (0..20 * 1024).map(|i| (i % 253) as u8).collect();
    relay.data(1, payload.clone()).await;
    let mut got = Vec::new();
    while got.len() < payload.len() {
        if let node_frame::Frame::Data(d) = relay.next().await {
            got.extend_from_slice(&d.bytes);
        }
    }
    assert_eq!(got, payload);
    relay.receipt(session.receipt(40)).await;
    assert!(matches!(
        relay.next().await,
        node_frame::Frame::ReceiptAck(pb::ReceiptAck { kib: 40, .. })
    ));

    // Settle with a real settle_8 proof; the ledger verifies it.
    let report = node.settle_now().await.unwrap();
    assert_eq!(
        (report.sessions, report.total_paid, report.batch_size),
        (1, Value(40), 8)
    );
    let escrow = ledger.get_escrow(sid).await.unwrap().unwrap();
    assert!(matches!(escrow.state, EscrowState::Settled { .. }));
    // The client finds its refund note (E − 40, rk, H(REFUND, S)).
    let refund_cm = veil_circuits::settle::refund_commitment(
        Value(1024),
        Value(1),
        40,
        &refund,
        &session_key.verifying_key().point().to_affine(),
    );
    assert!(
        ledger
            .commitments(0, 4096)
            .await
            .unwrap()
            .contains(&refund_cm)
    );
    let _ = stop.send(());
}
