//! The node over real gRPC on 127.0.0.1: sessions, relay, receipts (E1,
//! E3, E4, E5, E10), limits (C1, C4, C5, C7), egress, restart, challenges.
mod common;

use std::time::Duration;

use common::*;
use tonic::Code;
use veil_ledger::LedgerApi;
use veil_ledger::types::{BlockHeight, EscrowState, MerkleRoot, Value};
use veil_primitives::eddsa::{Signature, VerifyingKey};
use veil_primitives::field::fr_from_u64;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::{client_frame, node_frame};

fn expect_error(f: node_frame::Frame, code: pb::ErrorCode) {
    match f {
        node_frame::Frame::Error(e) => assert_eq!(e.code, code as i32, "{}", e.message),
        other => panic!("expected error {code:?}, got {other:?}"),
    }
}

fn expect_ack(f: node_frame::Frame, kib: u64) {
    match f {
        node_frame::Frame::ReceiptAck(a) => assert_eq!(a.kib, kib),
        other => panic!("expected ack {kib}, got {other:?}"),
    }
}

/// Reads frames until the ack for `kib` and `n` bytes of data have come,
/// in either order; returns the data.
async fn data_and_ack(relay: &mut Relay, kib: u64, n: usize) -> Vec<u8> {
    let mut data = Vec::new();
    let mut acked = false;
    while !acked || data.len() < n {
        match relay.next().await {
            node_frame::Frame::ReceiptAck(a) if !acked => {
                assert_eq!(a.kib, kib);
                acked = true;
            }
            node_frame::Frame::Data(d) => data.extend_from_slice(&d.bytes),
            other => panic!("{other:?}"),
        }
    }
    data
}

/// Echoes `total` bytes through one stream, paying receipts as it goes.
async fn echo_through(
    relay: &mut Relay,
    s: &Session,
    stream: u32,
    total: usize,
    receipts: bool,
) -> Vec<u8> {
    let payload: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
    let mut got = Vec::new();
    let mut sent = 0usize;
    let mut last_receipt = 0;
    for chunk in payload.chunks(8 * 1024) {
        sent += chunk.len();
        relay.data(stream, chunk.to_vec()).await;
        while got.len() < sent {
            match relay.next().await {
                node_frame::Frame::Data(d) => {
                    assert_eq!(d.stream_id, stream);
                    got.extend_from_slice(&d.bytes);
                }
                node_frame::Frame::ReceiptAck(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        let kib = ((sent + got.len()) as u64).div_ceil(1024);
        if receipts && kib > last_receipt {
            relay.receipt(s.receipt(kib)).await;
            last_receipt = kib;
        }
    }
    assert_eq!(got, payload, "bytes in = bytes out");
    got
}

#[tokio::test]
async fn relay_round_trips_bytes_and_settles() {
    let w = World::new().await;
    let s = w.session().await;
    let opened = w.open(&s).await.unwrap();
    assert_eq!(opened.credit_kib, ESCROW / PRICE);
    assert_eq!(opened.session_id, s.id().to_bytes().to_vec());
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    assert!(matches!(
        relay.next().await,
        node_frame::Frame::Opened(pb::Opened { stream_id: 1 })
    ));
    // 64 KiB each way = 128 KiB, beyond several receipt intervals.
    echo_through(&mut relay, &s, 1, 64 * 1024, true).await;
    // Two streams multiplexed on one relay.
    relay.open(&s, 2, port).await;
    loop {
        match relay.next().await {
            node_frame::Frame::ReceiptAck(_) => {}
            f => {
                assert!(
                    matches!(f, node_frame::Frame::Opened(pb::Opened { stream_id: 2 })),
                    "{f:?}"
                );
                break;
            }
        }
    }
    relay.data(2, b"second".to_vec()).await;
    // Receipts are acknowledged off the relay loop: late acks may come first.
    loop {
        match relay.next().await {
            node_frame::Frame::ReceiptAck(_) => {}
            node_frame::Frame::Data(d) => {
                assert_eq!((d.stream_id, d.bytes.as_slice()), (2, &b"second"[..]));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    // Half-close: the echo server closes, the node reports EOF.
    relay
        .send(client_frame::Frame::Close(pb::Close { stream_id: 2 }))
        .await;
    loop {
        match relay.next().await {
            node_frame::Frame::Closed(c) => {
                assert_eq!((c.stream_id, c.reason), (2, pb::CloseReason::Eof as i32));
                break;
            }
            node_frame::Frame::ReceiptAck(_) => {}
            other => panic!("{other:?}"),
        }
    }
    let status = w.node.status();
    assert!(status.bytes_relayed >= 128 * 1024);
    assert!(status.receipts_accepted >= 8);

    let report = w.node.settle_now().await.unwrap();
    assert_eq!(report.sessions, 1);
    assert_eq!(report.batch_size, 8);
    let escrow = w.ledger.get_escrow(s.id()).await.unwrap().unwrap();
    assert!(matches!(escrow.state, EscrowState::Settled { .. }));
    assert_eq!(w.node.status().settled_sessions, 1);
}

#[tokio::test]
async fn serves_one_interval_without_receipt_then_waits() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    // Client → upstream: 16 KiB is the whole interval; the echo cannot come back.
    relay.data(1, vec![1u8; 16 * 1024]).await;
    let r = tokio::time::timeout(Duration::from_millis(500), relay.next()).await;
    assert!(
        r.is_err(),
        "node served beyond one interval without a receipt: {r:?}"
    );
    // A receipt releases the held bytes (acknowledged once stored, which
    // may be after the bytes it released, §9.3).
    relay.receipt(s.receipt(16)).await;
    assert_eq!(
        data_and_ack(&mut relay, 16, 16 * 1024).await.len(),
        16 * 1024
    );
    // Sending beyond the allowance is held, not refused: the receipt that
    // pays for it may be in flight right behind it (§9.3).
    relay.data(1, vec![2u8; 1024]).await;
    let r = tokio::time::timeout(Duration::from_millis(300), relay.next()).await;
    assert!(r.is_err(), "held bytes were served before a receipt: {r:?}");
    relay.receipt(s.receipt(33)).await;
    let echoed = data_and_ack(&mut relay, 33, 1024).await;
    assert_eq!(echoed, vec![2u8; 1024], "held bytes go through, in order");
    // A client that keeps sending unpaid bytes has the stream closed once
    // the node holds 1 MiB for it.
    for _ in 0..40 {
        relay.data(1, vec![3u8; 32 * 1024]).await;
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut saw_error = false;
        loop {
            match relay.next().await {
                node_frame::Frame::Error(e) => {
                    assert_eq!(e.code, pb::ErrorCode::CreditExhausted as i32);
                    saw_error = true;
                }
                node_frame::Frame::Closed(c) => {
                    assert_eq!(c.reason, pb::CloseReason::CreditExhausted as i32);
                    return saw_error;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("the stream is closed");
    assert!(closed, "the client is told why");
    assert!(
        w.node.status().bytes_relayed <= (33 + 16) * 1024,
        "never beyond one interval past the last receipt"
    );
}

#[tokio::test]
async fn receipts_e1_e3_e4() {
    let w = World::new().await;
    let s = w.session().await;
    let other = w.session().await;
    w.open(&s).await.unwrap();
    w.open(&other).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    relay.receipt(s.receipt(20)).await;
    expect_ack(relay.next().await, 20);
    // E1/E4: stale and equal receipts refused; the highest stays.
    relay.receipt(s.receipt(10)).await;
    expect_error(relay.next().await, pb::ErrorCode::ReceiptStale);
    relay.receipt(s.receipt(20)).await;
    expect_error(relay.next().await, pb::ErrorCode::ReceiptStale);
    // E3: another session's receipt, and a receipt signed by another key.
    relay.receipt(other.receipt(30)).await;
    expect_error(relay.next().await, pb::ErrorCode::ReceiptForeign);
    let forged = veil_primitives::receipt::Receipt {
        session_id: s.id().inner(),
        kib: 40,
    }
    .sign(&other.key);
    relay.receipt(forged.to_bytes().to_vec()).await;
    expect_error(relay.next().await, pb::ErrorCode::ReceiptBadSignature);
    relay.receipt(vec![1u8; 10]).await;
    expect_error(relay.next().await, pb::ErrorCode::Malformed);
    relay.receipt(s.receipt(25)).await;
    expect_ack(relay.next().await, 25);
    assert_eq!(w.node.status().receipts_rejected, 5);

    // Settlement uses the highest receipt: 25 KiB · price.
    let node_account = w.account;
    let before = w.ledger.balance(node_account).await.unwrap();
    let report = w.node.settle_now().await.unwrap();
    assert_eq!(report.total_paid, Value(25 * PRICE));
    let after = w.ledger.balance(node_account).await.unwrap();
    assert_eq!(after.0 - before.0, 25 * PRICE);
}

#[tokio::test]
async fn never_beyond_escrow_e5() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    // The client pre-signs far beyond the escrow (E5).
    relay.receipt(s.receipt(10_000)).await;
    expect_ack(relay.next().await, 10_000);
    let credit = ESCROW / PRICE * 1024; // bytes
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut refused = false;
    'outer: loop {
        relay.data(1, vec![0u8; 8 * 1024]).await;
        sent += 8 * 1024;
        loop {
            match relay.next().await {
                node_frame::Frame::Data(d) => {
                    received += d.bytes.len() as u64;
                    if received >= sent {
                        break;
                    }
                }
                node_frame::Frame::Error(e) => {
                    assert_eq!(e.code, pb::ErrorCode::CreditExhausted as i32);
                    refused = true;
                }
                node_frame::Frame::Closed(c) => {
                    assert_eq!(c.reason, pb::CloseReason::CreditExhausted as i32);
                    break 'outer;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(sent <= credit, "node kept serving beyond the escrow");
    }
    assert!(refused);
    assert_eq!(
        sent - 8 * 1024 + received,
        credit,
        "the whole escrow was served"
    );
    assert!(
        w.node.status().bytes_relayed <= credit,
        "served beyond the escrow"
    );
    let report = w.node.settle_now().await.unwrap();
    assert_eq!(report.total_paid, Value(ESCROW), "payout capped at E");
}

/// A receipt sent right before the client ends the Relay call is still
/// checked and stored: the receipt worker drains its queue before the call
/// ends (§9.3), and the node settles it.
#[tokio::test]
async fn a_receipt_sent_as_the_call_ends_is_stored() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let relay = Relay::opened(&w.node, &s, port).await;
    relay.receipt(s.receipt(9)).await;
    // End the client's side of the call and read until the node ends its
    // own: by then the receipt worker has stopped.
    let Relay { tx, mut rx, .. } = relay;
    drop(tx);
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = rx.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the node ended the call");
    let report = w.node.settle_now().await.unwrap();
    assert_eq!((report.sessions, report.total_paid), (1, Value(9 * PRICE)));
}

#[tokio::test]
async fn after_expiry_e10() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    relay.receipt(s.receipt(4)).await;
    expect_ack(relay.next().await, 4);
    w.ledger.advance(60).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    relay.receipt(s.receipt(8)).await;
    expect_error(relay.next().await, pb::ErrorCode::SessionExpired);
    relay.open(&s, 2, port).await;
    match relay.next().await {
        node_frame::Frame::Closed(c) => {
            assert_eq!(c.reason, pb::CloseReason::SessionExpired as i32)
        }
        other => panic!("{other:?}"),
    }
    // Still inside the challenge window: settles with the receipt from before expiry.
    let report = w.node.settle_now().await.unwrap();
    assert_eq!(report.total_paid, Value(4 * PRICE));
}

#[tokio::test]
async fn oversize_message_c1() {
    let w = World::new().await;
    let mut c = w.client().await;
    let err = c
        .open_session(pb::OpenSessionRequest {
            version: 1,
            access_token: vec![0u8; 5 * 1024 * 1024],
            session_public_key: vec![],
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    // The node stays responsive.
    c.get_terms(pb::GetTermsRequest { version: 1 })
        .await
        .unwrap();
}

#[tokio::test]
async fn invalid_tokens_c4_c5() {
    let w = World::new().await;
    // Unknown root: no pairing.
    let s = w
        .session_with(|st| st.root = MerkleRoot::from_fr(fr_from_u64(12345)))
        .await;
    assert_eq!(
        w.open(&s).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // Token for another node.
    let s = w
        .session_with(|st| st.node_id = veil_ledger::types::NodeId::from_fr(fr_from_u64(9)))
        .await;
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::InvalidArgument);
    // Expiry too far / in the past.
    let s = w.session_with(|st| st.expiry = BlockHeight(10_000)).await;
    assert_eq!(
        w.open(&s).await.unwrap_err().code(),
        Code::FailedPrecondition
    );
    // Escrow size not offered.
    let s = w.session_with(|st| st.escrow = Value(ESCROW + 1)).await;
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::InvalidArgument);
    // Session key not matching h_S.
    let mut s = w.session().await;
    s.key = veil_primitives::eddsa::SigningKey::generate(&mut rand::rngs::OsRng);
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::InvalidArgument);
    // Truncated token.
    let mut s = w.session().await;
    s.token.pop();
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::InvalidArgument);
    // Spent nullifier: open once, then replay: no second pairing. The same
    // token with the same session key is an idempotent retry (F6: same
    // answer, nothing opened twice).
    let s = w.session().await;
    let first = w.open(&s).await.unwrap();
    assert_eq!(
        w.verifier.calls.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(w.open(&s).await.unwrap(), first);
    assert_eq!(w.node.status().sessions_open, 1);
    assert_eq!(
        w.verifier.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cheap checks must reject before any pairing (C5)"
    );
    assert_eq!(w.node.status().proof_verifications, 1);
    // Invalid proof: one pairing, refused.
    let mut s = w.session().await;
    let last = s.token.len() - 128;
    s.token[last] = 0;
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::Unauthenticated);
    assert_eq!(w.node.status().proof_verifications, 2);
    // Ban after N = 5 invalid tokens from this address (C4): wrong node,
    // escrow size, session key, truncation, bad proof. Now even a valid
    // token is refused, without any work.
    let s2 = w.session().await;
    assert_eq!(
        w.open(&s2).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    assert_eq!(w.node.status().proof_verifications, 2);
    assert_eq!(w.node.status().banned_peers, 1);
}

#[tokio::test]
async fn same_token_twice_concurrently_c7() {
    let w = World::new().await;
    let s = w.session().await;
    let (a, b) = tokio::join!(w.open(&s), w.open(&s));
    // One session however the two race: while the first is in flight the
    // second is refused (`AlreadyExists`); once it has committed, the second
    // is a retry and gets the first's own response (idempotent open).
    let oks: Vec<_> = [&a, &b]
        .into_iter()
        .filter_map(|r| r.as_ref().ok())
        .collect();
    assert!(!oks.is_empty(), "{a:?} {b:?}");
    assert!(
        oks.windows(2).all(|p| p[0] == p[1]),
        "two sessions: {a:?} {b:?}"
    );
    for r in [&a, &b] {
        if let Err(e) = r {
            assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
        }
    }
    assert_eq!(w.node.status().sessions_total, 1);
    assert_eq!(w.node.status().sessions_open, 1);
}

#[tokio::test]
async fn egress_policy_denies() {
    // No 127.0.0.1 allowance: loopback is denied by default.
    let w = World::with(|c| c.egress = veil_node::egress::EgressPolicy::new()).await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    match relay.next().await {
        node_frame::Frame::Closed(c) => assert_eq!(c.reason, pb::CloseReason::EgressDenied as i32),
        other => panic!("{other:?}"),
    }
    // A name resolving to loopback is denied like the literal.
    relay
        .send(client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::SessionId(s.id().to_bytes().to_vec())),
            stream_id: 2,
            host: "localhost".into(),
            port: u32::from(port),
            // The Relay is bound already: no second proof needed.
            session_auth: Vec::new(),
        }))
        .await;
    match relay.next().await {
        node_frame::Frame::Closed(c) => assert_eq!(c.reason, pb::CloseReason::EgressDenied as i32),
        other => panic!("{other:?}"),
    }
    // Port policy.
    let w = World::with(|c| {
        c.egress = veil_node::egress::EgressPolicy::parse("127.0.0.1/32,443").unwrap()
    })
    .await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    match relay.next().await {
        node_frame::Frame::Closed(c) => assert_eq!(c.reason, pb::CloseReason::EgressDenied as i32),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn restart_keeps_receipts() {
    let ledger = ledger();
    fund_pool(&ledger, 500_000).await;
    let dir = tempfile::tempdir().unwrap();
    let verifier = std::sync::Arc::new(TestVerifier::default());
    let (node, stop) = start_node(
        node_config(dir.path().to_path_buf()),
        ledger.clone(),
        verifier.clone(),
    )
    .await;
    let node_id = node.node_id;
    let account = node.account;
    let w = World {
        ledger: ledger.clone(),
        verifier: verifier.clone(),
        node,
        shutdown: None,
        dir,
        account,
    };
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    relay.receipt(s.receipt(12)).await;
    expect_ack(relay.next().await, 12);
    drop(relay);
    let _ = stop.send(());
    w.node.join().await.unwrap();

    let (node, _stop) = start_node(
        node_config(w.dir.path().to_path_buf()),
        ledger.clone(),
        verifier,
    )
    .await;
    assert_eq!(node.node_id, node_id, "node key persisted");
    assert_eq!(node.status().pending_settlement, 1);
    let report = node.settle_now().await.unwrap();
    assert_eq!(report.total_paid, Value(12 * PRICE));
}

#[tokio::test]
async fn challenge_answered_with_node_signature() {
    let w = World::new().await;
    let mut c = w.client().await;
    let terms = c
        .get_terms(pb::GetTermsRequest { version: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(terms.node_id, w.node.node_id.to_bytes().to_vec());
    assert_eq!(terms.price_per_kib, PRICE);
    assert!(!terms.recent_roots.is_empty());
    let key: [u8; 64] = terms.node_public_key.clone().try_into().unwrap();
    let key = VerifyingKey::from_bytes(&key).unwrap();
    let relay = Relay::start(&w).await;
    let mut relay = relay;
    let nonce = fr_from_u64(424242);
    relay
        .send(client_frame::Frame::Challenge(pb::Challenge {
            nonce: veil_primitives::field::fr_to_bytes(&nonce).to_vec(),
        }))
        .await;
    match relay.next().await {
        node_frame::Frame::ChallengeResponse(r) => {
            let sig = Signature::from_slice(&r.signature).unwrap();
            key.verify(&veil_primitives::receipt::challenge_message(&nonce), &sig)
                .unwrap();
            assert!(
                key.verify(
                    &veil_primitives::receipt::challenge_message(&fr_from_u64(1)),
                    &sig
                )
                .is_err()
            );
        }
        other => panic!("{other:?}"),
    }
    // A non-canonical nonce is refused.
    relay
        .send(client_frame::Frame::Challenge(pb::Challenge {
            nonce: vec![0xff; 32],
        }))
        .await;
    expect_error(relay.next().await, pb::ErrorCode::Malformed);
}

#[tokio::test]
async fn tls_identity_is_registered_and_served() {
    let w = World::with(|c| c.transport = veil_node::Transport::Tls).await;
    let tls = w.node.tls().unwrap();
    let record = w.ledger.get_node(w.node.node_id).await.unwrap().unwrap();
    assert_eq!(record.registration.tls_key_hash, tls.spki_sha256);
    let ca = tonic::transport::Certificate::from_pem(tls.cert_pem.clone());
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", w.node.local_addr))
        .unwrap()
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(ca)
                .domain_name("veil-node"),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut c = veil_proto::node::v1::node_client::NodeClient::new(channel);
    let terms = c
        .get_terms(pb::GetTermsRequest { version: 1 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(terms.tls_cert_sha256, tls.cert_sha256.to_vec());
    // Plaintext to a TLS node fails.
    assert!(w.client_plain_fails().await);
}

#[tokio::test]
async fn after_a_tls_rotation_new_connections_get_the_new_certificate_and_terms_name_it() {
    let w = World::with(|c| c.transport = veil_node::Transport::Tls).await;
    let old = w.node.tls().unwrap();
    let rotated = veil_node::rotate_tls(&w.ledger, w.dir.path())
        .await
        .unwrap();
    assert_ne!(rotated.tls.cert_sha256, old.cert_sha256);
    // The node promotes the staged key at a poll of its ledger record.
    let mut terms = None;
    for _ in 0..100 {
        if let Ok(t) = w.terms_over_tls(&rotated.tls.cert_pem).await {
            terms = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let terms = terms.expect("the rotated certificate is served");
    assert_eq!(terms.tls_cert_sha256, rotated.tls.cert_sha256.to_vec());
    assert!(
        w.terms_over_tls(&old.cert_pem).await.is_err(),
        "the old certificate is no longer presented to new connections"
    );
    // The handle follows the rotation: it reports what the node presents.
    assert_eq!(
        w.node.tls().map(|t| t.cert_sha256),
        Some(rotated.tls.cert_sha256)
    );
    assert_eq!(
        w.node.tls().map(|t| t.spki_sha256),
        Some(rotated.tls.spki_sha256)
    );
}

impl World {
    /// `GetTerms` over TLS, trusting only the certificate `cert_pem`.
    async fn terms_over_tls(&self, cert_pem: &str) -> Result<pb::GetTermsResponse, String> {
        let ca = tonic::transport::Certificate::from_pem(cert_pem);
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(ca)
            .domain_name("veil-node");
        let channel =
            tonic::transport::Endpoint::from_shared(format!("https://{}", self.node.local_addr))
                .map_err(|e| e.to_string())?
                .tls_config(tls)
                .map_err(|e| e.to_string())?
                .connect()
                .await
                .map_err(|e| e.to_string())?;
        let mut c = veil_proto::node::v1::node_client::NodeClient::new(channel);
        c.get_terms(pb::GetTermsRequest { version: 1 })
            .await
            .map(|r| r.into_inner())
            .map_err(|e| e.to_string())
    }

    async fn client_plain_fails(&self) -> bool {
        match veil_proto::node::v1::node_client::NodeClient::connect(format!(
            "http://{}",
            self.node.local_addr
        ))
        .await
        {
            Err(_) => true,
            Ok(mut c) => c
                .get_terms(pb::GetTermsRequest { version: 1 })
                .await
                .is_err(),
        }
    }
}

/// Downloads `total` bytes through a session; returns (seconds, receipts, receipt CPU seconds).
async fn download(interval_kib: u64, total: usize) -> (f64, u64, f64) {
    const BIG: u64 = 1 << 40;
    let w = World::with(|c| {
        c.escrow_sizes = vec![Value(BIG)];
        c.price_per_kib = Value(1);
        c.receipt_interval_kib = interval_kib;
    })
    .await;
    fund_pool(&w.ledger, 2 * BIG).await;
    let s = w.session_with(|st| st.escrow = Value(BIG)).await;
    w.open(&s).await.unwrap();
    let port = source_server(total).await;
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    relay.next().await;
    let started = std::time::Instant::now();
    let mut got = 0u64;
    let mut receipted = 0u64;
    let mut receipts = 0;
    let mut sign_time = Duration::ZERO;
    while got < total as u64 {
        match relay.next().await {
            node_frame::Frame::Data(d) => got += d.bytes.len() as u64,
            node_frame::Frame::ReceiptAck(_) => {}
            other => panic!("{other:?}"),
        }
        let kib = got.div_ceil(1024);
        if kib >= receipted + interval_kib / 2 {
            let t = std::time::Instant::now();
            let r = s.receipt(kib);
            // The node's check costs one verification of the same size.
            let signed = veil_primitives::receipt::SignedReceipt::from_bytes(&r).unwrap();
            signed.verify(&s.key.verifying_key()).unwrap();
            sign_time += t.elapsed();
            relay.receipt(r).await;
            receipted = kib;
            receipts += 1;
        }
    }
    (
        started.elapsed().as_secs_f64(),
        receipts,
        sign_time.as_secs_f64(),
    )
}

/// Benchmark, not a test (docs/benchmarks.md "Node relay"):
/// `cargo test -p veil-node --release --test grpc -- --ignored --nocapture relay_throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: several seconds of loopback traffic"]
async fn relay_throughput() {
    let total = 512 * 1024 * 1024;
    let (t_unmetered, _, _) = download(1 << 30, total).await;
    let gbit = |t: f64| total as f64 * 8.0 / t / 1e9;
    println!("unmetered {:.2} Gbit/s", gbit(t_unmetered));
    for interval in [1024, 4096, 8192, 16384] {
        let (t_metered, receipts, receipt_cpu) = download(interval, total).await;
        println!(
            "metered ({interval} KiB interval) {:.2} Gbit/s ({:.0}% of unmetered); {receipts} receipts, client sign + node-equivalent verify {:.1} ms = {:.2}% of wall time",
            gbit(t_metered),
            100.0 * t_unmetered / t_metered,
            receipt_cpu * 1e3,
            100.0 * receipt_cpu / t_metered,
        );
    }
}

#[tokio::test]
async fn idle_relay_is_ended_c6() {
    let w = World::with(|c| c.limits.relay_idle_timeout = Duration::from_millis(200)).await;
    let mut relay = Relay::start(&w).await;
    // Send nothing: the node ends the call instead of holding the slot.
    let end = tokio::time::timeout(Duration::from_secs(5), relay.rx.message())
        .await
        .expect("relay ended in time");
    assert_eq!(end.unwrap_err().code(), Code::DeadlineExceeded);
}

/// The session id is the public nullifier: naming it does not bind a Relay
/// to the session. Only `sig_S(H(RELAY_BIND, session_id, node_id))` does
/// (§9.4); a missing, foreign-key, other-node or garbage signature is
/// refused and the session's credit is untouched.
#[tokio::test]
async fn relay_binding_needs_the_session_keys_signature() {
    let w = World::new().await;
    let s = w.session().await;
    let other = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let other_node = veil_ledger::types::NodeId::from_fr(veil_primitives::field::fr_from_u64(7));
    let forged = [
        Vec::new(),
        other.auth(w.node.node_id),
        s.auth(other_node),
        vec![0u8; 96],
        s.auth(w.node.node_id)[..95].to_vec(),
    ];
    for (i, auth) in forged.into_iter().enumerate() {
        let mut relay = Relay::start(&w).await;
        relay
            .send(client_frame::Frame::Open(pb::Open {
                payment: Some(pb::open::Payment::SessionId(s.id().to_bytes().to_vec())),
                stream_id: 1,
                host: "127.0.0.1".into(),
                port: u32::from(port),
                session_auth: auth,
            }))
            .await;
        match relay.next().await {
            node_frame::Frame::Error(e) => {
                assert_eq!(e.code, pb::ErrorCode::SessionAuthFailed as i32, "case {i}")
            }
            other => panic!("case {i}: expected SessionAuthFailed, got {other:?}"),
        }
        // Not bound: a receipt on this Relay has no session.
        relay.receipt(s.receipt(1)).await;
        expect_error(relay.next().await, pb::ErrorCode::UnknownSession);
    }
    assert_eq!(w.node.status().streams_open, 0);
    assert_eq!(w.node.status().bytes_relayed, 0);
    // The holder of the session key binds and is served.
    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    assert!(matches!(relay.next().await, node_frame::Frame::Opened(_)));
    echo_through(&mut relay, &s, 1, 4096, true).await;
}

/// Held (unpaid) uploads are bounded per Relay, not per stream (§9.3):
/// two streams together cannot make the node hold more than 1 MiB.
#[tokio::test]
async fn held_uploads_are_capped_per_relay() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut relay = Relay::start(&w).await;
    for id in [1, 2] {
        relay.open(&s, id, port).await;
        assert!(matches!(relay.next().await, node_frame::Frame::Opened(_)));
    }
    // The whole unreceipted interval (16 KiB) goes to stream 1's echo.
    relay.data(1, vec![1u8; 16 * 1024]).await;
    // 640 KiB held on stream 1, then 640 KiB more on stream 2: together
    // past 1 MiB, so stream 2 is closed and stream 1 is not.
    for id in [1, 2] {
        for _ in 0..20 {
            relay.data(id, vec![2u8; 32 * 1024]).await;
        }
    }
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match relay.next().await {
                node_frame::Frame::Closed(c) => return c,
                _ => continue,
            }
        }
    })
    .await
    .expect("a stream is closed");
    assert_eq!(
        closed.stream_id, 2,
        "the stream that crossed the Relay's cap"
    );
    assert_eq!(closed.reason, pb::CloseReason::CreditExhausted as i32);
    assert!(
        w.node.status().bytes_relayed <= 32 * 1024,
        "nothing held was served"
    );
}

/// §8.3.12: once the node's account retires it, the first token costs one
/// verification and the ledger's refusal; from then on the cheap checks
/// refuse (FAILED_PRECONDITION, no pairing, no ban), and a restart knows
/// it from the record.
#[tokio::test]
async fn a_retired_node_refuses_new_sessions_before_verifying() {
    use std::sync::atomic::Ordering::SeqCst;
    use veil_ledger::exit::{ExitRequest, ExitStep};
    let mut w = World::new().await;
    let account_key = veil_node::keys::load_or_create_account_key(w.dir.path()).unwrap();
    let nonce = w.ledger.account(w.account).await.unwrap().next_nonce;
    let node_id = w.node.node_id;
    let retire = ExitRequest::signed(&account_key, nonce, node_id, ExitStep::Retire);
    w.ledger.exit_node(retire).await.unwrap();
    let first = w.session().await;
    let e = w.open(&first).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("retired"), "{}", e.message());
    assert_eq!(w.verifier.calls.load(SeqCst), 1, "the ledger refused it");
    for _ in 0..6 {
        let next = w.session().await;
        let e = w.open(&next).await.unwrap_err();
        assert_eq!(e.code(), Code::FailedPrecondition);
        assert!(e.message().contains("retired"), "{}", e.message());
    }
    assert_eq!(
        w.verifier.calls.load(SeqCst),
        1,
        "no pairing after the first"
    );
    assert_eq!(w.node.status().banned_peers, 0, "a refusal, not a ban");
    assert_eq!(w.node.status().sessions_open, 0);

    // Restarted, the node knows from its record: not even one pairing.
    let _ = w.shutdown.take().map(|stop| stop.send(()));
    w.node.join().await.unwrap();
    let verifier = std::sync::Arc::new(TestVerifier::default());
    let (node, _stop) = start_node(
        node_config(w.dir.path().to_path_buf()),
        w.ledger.clone(),
        verifier.clone(),
    )
    .await;
    let again = World {
        ledger: w.ledger.clone(),
        verifier,
        node,
        shutdown: None,
        dir: w.dir,
        account: w.account,
    };
    let s = again.session().await;
    let e = again.open(&s).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert_eq!(again.verifier.calls.load(SeqCst), 0);
}
