//! The relay state machine without I/O: every rule of §9.3–§9.4 it owns,
//! accepted and refused.
use std::collections::HashMap;

use veil_primitives::eddsa::SigningKey;
use veil_primitives::field::fr_from_u64;
use veil_primitives::ids::NodeId;
use veil_primitives::receipt::{Receipt, SignedReceipt, UncheckedReceipt, challenge_message};
use veil_proto::node::v1::client_frame;
use veil_vouchers::Credential;
use veil_vouchers::NodeId as VoucherNodeId;
use veil_vouchers::context::{purchase_context, spend_context};

use super::*;
use crate::metering::SessionTerms;
use crate::relay::command::OpenStream;
use crate::relay::receipts::{self, ReceiptCheck, Waiting};
use crate::voucher_desk::VoucherDesk;

const INTERVAL_KIB: u64 = 1;

struct TestHost {
    height: BlockHeight,
    sessions: HashMap<SessionId, Arc<SessionSlot>>,
    node_key: SigningKey,
    metrics: Metrics,
    max_streams: usize,
}

impl Host for TestHost {
    fn height(&self) -> BlockHeight {
        self.height
    }
    fn session(&self, id: &SessionId) -> Option<Arc<SessionSlot>> {
        self.sessions.get(id).cloned()
    }
    fn node_id(&self) -> NodeId {
        self.node_key.verifying_key().node_id()
    }
    fn sign_challenge(&self, nonce: &Fr) -> Signature {
        self.node_key.sign(&challenge_message(nonce))
    }
    fn voucher_meter(&self, amount: Balance) -> Arc<SessionSlot> {
        slot(
            &self.node_key,
            SessionId::from_fr(fr_from_u64(0)),
            amount.kib(),
            amount.kib(),
            u64::MAX,
        )
    }
    fn check_port(&self, _host: &str, port: u16) -> Result<(), String> {
        match port {
            25 => Err("port 25 is denied".into()),
            _ => Ok(()),
        }
    }
    fn max_streams(&self) -> usize {
        self.max_streams
    }
    fn max_frame_bytes(&self) -> usize {
        MAX_PARKED_UPLOAD
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

fn slot(
    key: &SigningKey,
    id: SessionId,
    credit: u64,
    interval: u64,
    expiry: u64,
) -> Arc<SessionSlot> {
    let terms = SessionTerms {
        session_id: id,
        credit_kib: credit,
        interval_kib: interval,
        expiry: BlockHeight(expiry),
    };
    Arc::new(SessionSlot::new(key.verifying_key(), terms))
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_seed([n; 32]).expect("seed")
}

fn sid(n: u64) -> SessionId {
    SessionId::from_fr(fr_from_u64(n))
}

/// A node with sessions 1 and 2 (keys 1 and 2), 100 KiB each.
fn host() -> TestHost {
    let sessions = [1u8, 2]
        .into_iter()
        .map(|n| {
            (
                sid(n.into()),
                slot(&key(n), sid(n.into()), 100, INTERVAL_KIB, 50),
            )
        })
        .collect();
    TestHost {
        height: BlockHeight(10),
        sessions,
        node_key: key(9),
        metrics: Metrics::default(),
        max_streams: 4,
    }
}

fn auth(host: &TestHost, n: u64) -> Signature {
    let m = relay_bind_message(&sid(n).inner(), &host.node_id().inner());
    key(n as u8).sign(&m)
}

fn open_as(host: &TestHost, stream: u32, session: u64, port: u32) -> RelayCommand {
    RelayCommand::Open(OpenStream {
        stream,
        payment: Payment::Session {
            id: sid(session),
            auth: Some(auth(host, session)),
        },
        host: "example.org".into(),
        port,
    })
}

fn open(host: &TestHost, stream: u32) -> RelayCommand {
    open_as(host, stream, 1, 443)
}

fn data(stream: u32, n: usize) -> RelayCommand {
    RelayCommand::Data {
        stream,
        bytes: vec![7; n],
    }
}

fn receipt(session: u64, kib: u64, signer: u8) -> RelayCommand {
    let r = Receipt {
        session_id: sid(session).inner(),
        kib,
    };
    RelayCommand::Receipt(Box::new(unchecked(r.sign(&key(signer)))))
}

/// A connection bound to session 1 with stream 1 open.
fn bound(host: &TestHost) -> Conn {
    let mut conn = Conn::default();
    let actions = conn.apply(open(host, 1), host);
    assert!(matches!(actions.as_slice(), [Action::Connect(c)] if c.stream == 1));
    conn
}

fn only_error(actions: &[Action]) -> (pb::ErrorCode, u32) {
    match actions {
        [Action::Send(Event::Error(r))] => (r.code, r.stream),
        other => panic!("expected one Error, got {other:?}"),
    }
}

fn only_closed(actions: &[Action]) -> (u32, pb::CloseReason) {
    match actions {
        [Action::Send(Event::Closed { stream, reason, .. })] => (*stream, *reason),
        other => panic!("expected one Closed, got {other:?}"),
    }
}

fn written(actions: &[Action]) -> usize {
    actions
        .iter()
        .map(|a| match a {
            Action::Write { bytes, .. } => bytes.len(),
            _ => 0,
        })
        .sum()
}

fn served(host: &TestHost, n: u64) -> u64 {
    lock(&host.sessions[&sid(n)].state).served_bytes()
}

/// Runs the receipt handed over at the end of `actions` through the
/// worker's steps (check, accept, store: a no-op here) and back into the
/// machine, as the shell does; returns the machine's actions in order
/// (what `Applied` releases, then the `Stored` acknowledgement).
fn store(conn: &mut Conn, host: &TestHost, mut actions: Vec<Action>) -> Vec<Action> {
    let Some(Action::Check(c)) = actions.pop() else {
        panic!("expected Check, got {actions:?}");
    };
    let applied = receipts::check(c, host.height).and_then(|p| receipts::accept(p, host.height));
    match applied {
        Ok(a) => {
            let mut actions = conn.receipt_applied(host);
            actions.extend(conn.receipt_stored(a.kib, a.allowance_kib));
            actions
        }
        Err(refusal) => conn.receipt_refused(refusal, host),
    }
}

#[test]
fn open_binds_and_connects() {
    let h = host();
    let mut conn = Conn::default();
    let actions = conn.apply(open(&h, 3), &h);
    let [Action::Connect(c)] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    assert_eq!((c.stream, c.port, c.host.as_str()), (3, 443, "example.org"));
    assert!(matches!(&c.payer, Payer::Session(m) if Arc::ptr_eq(&m.0, &h.sessions[&sid(1)])));
    assert!(conn.has_streams());
    // Bound: a second Open needs no valid auth, another session is refused.
    let mut again = open(&h, 4);
    if let RelayCommand::Open(o) = &mut again {
        o.payment = Payment::Session {
            id: sid(1),
            auth: None,
        };
    }
    assert!(matches!(
        conn.apply(again, &h).as_slice(),
        [Action::Connect(_)]
    ));
    let other = conn.apply(open_as(&h, 5, 2, 443), &h);
    assert_eq!(only_error(&other), (pb::ErrorCode::SessionMismatch, 5));
}

#[test]
fn open_without_the_session_keys_signature_does_not_bind() {
    let h = host();
    let mut conn = Conn::default();
    // Session 1's id, signed by session 2's key.
    let mut forged = open(&h, 1);
    if let RelayCommand::Open(o) = &mut forged {
        o.payment = Payment::Session {
            id: sid(1),
            auth: Some(auth(&h, 2)),
        };
    }
    assert_eq!(
        only_error(&conn.apply(forged, &h)),
        (pb::ErrorCode::SessionAuthFailed, 1)
    );
    let unknown = conn.apply(open_as(&h, 1, 3, 443), &h);
    assert_eq!(only_error(&unknown), (pb::ErrorCode::UnknownSession, 1));
    assert!(!conn.has_streams());
    // Still unbound: a receipt has no session, and the other session may bind.
    let r = conn.apply(receipt(1, 1, 1), &h);
    assert_eq!(only_error(&r), (pb::ErrorCode::UnknownSession, 0));
    assert!(matches!(
        conn.apply(open_as(&h, 1, 2, 443), &h).as_slice(),
        [Action::Connect(_)]
    ));
}

#[test]
fn open_refusals_leave_no_stream() {
    let mut h = host();
    h.max_streams = 1;
    let mut conn = Conn::default();
    assert_eq!(
        only_closed(&conn.apply(open(&h, 0), &h)),
        (0, pb::CloseReason::Refused)
    );
    let high = conn.apply(open_as(&h, 1, 1, 70_000), &h);
    assert_eq!(only_closed(&high), (1, pb::CloseReason::EgressDenied));
    let denied = conn.apply(open_as(&h, 1, 1, 25), &h);
    assert_eq!(only_closed(&denied), (1, pb::CloseReason::EgressDenied));
    assert!(!conn.has_streams());
    assert!(matches!(
        conn.apply(open(&h, 1), &h).as_slice(),
        [Action::Connect(_)]
    ));
    let full = conn.apply(open(&h, 2), &h);
    assert_eq!(only_closed(&full), (2, pb::CloseReason::Refused));
}

#[test]
fn open_after_expiry_is_refused() {
    let mut h = host();
    h.height = BlockHeight(51);
    let mut conn = Conn::default();
    let actions = conn.apply(open(&h, 1), &h);
    assert_eq!(only_closed(&actions), (1, pb::CloseReason::SessionExpired));
    assert!(!conn.has_streams());
}

#[test]
fn stream_id_reuse_only_after_the_stream_ended() {
    let h = host();
    let mut conn = bound(&h);
    assert_eq!(
        only_error(&conn.apply(open(&h, 1), &h)),
        (pb::ErrorCode::StreamIdInUse, 1)
    );
    let end = |generation| StreamEnd {
        stream: 1,
        generation,
        reason: pb::CloseReason::Eof,
        message: String::new(),
    };
    let ended = conn.stream_ended(end(1));
    assert!(matches!(
        ended.as_slice(),
        [
            Action::Release { stream: 1 },
            Action::Send(Event::Closed { stream: 1, .. })
        ]
    ));
    let actions = conn.apply(open(&h, 1), &h);
    assert!(matches!(actions.as_slice(), [Action::Connect(c)] if c.generation == 2));
    // The first stream's end, seen late, does not close the second.
    assert!(conn.stream_ended(end(1)).is_empty());
    assert!(conn.has_streams());
}

#[test]
fn data_before_any_open_and_for_unknown_streams() {
    let h = host();
    let mut conn = Conn::default();
    assert_eq!(
        only_error(&conn.apply(data(1, 10), &h)),
        (pb::ErrorCode::UnknownStream, 1)
    );
    let mut conn = bound(&h);
    // A stream the node may have closed already: ignored, nothing charged.
    assert!(conn.apply(data(2, 10), &h).is_empty());
    assert_eq!(served(&h, 1), 0);
}

#[test]
fn paid_data_is_charged_then_written() {
    let h = host();
    let mut conn = bound(&h);
    let actions = conn.apply(data(1, 300), &h);
    assert!(
        matches!(actions.as_slice(), [Action::Write { stream: 1, bytes }] if bytes.len() == 300)
    );
    assert_eq!(served(&h, 1), 300);
    assert_eq!(h.metrics.bytes_relayed.get(), 300);
    let big = conn.apply(data(1, MAX_PARKED_UPLOAD + 1), &h);
    assert_eq!(only_error(&big), (pb::ErrorCode::FrameTooLarge, 1));
    assert_eq!(served(&h, 1), 300);
}

#[test]
fn unpaid_data_parks_until_a_receipt_pays_for_it() {
    let h = host();
    let mut conn = bound(&h);
    assert_eq!(written(&conn.apply(data(1, 1024), &h)), 1024);
    let parked = conn.apply(data(1, 100), &h);
    assert!(
        matches!(parked.as_slice(), [Action::Send(Event::CreditLow(_))]),
        "{parked:?}"
    );
    // Behind parked data, more data parks too (byte order), without CreditLow.
    assert!(conn.apply(data(1, 50), &h).is_empty());
    assert_eq!(served(&h, 1), 1024);
    let checked = conn.apply(receipt(1, 1, 1), &h);
    let actions = store(&mut conn, &h, checked);
    assert!(
        matches!(
            actions.last(),
            Some(Action::Send(Event::ReceiptAck { kib: 1, .. }))
        ),
        "{actions:?}"
    );
    let writes: Vec<usize> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Write { bytes, .. } => Some(bytes.len()),
            _ => None,
        })
        .collect();
    assert_eq!(writes, [100, 50]);
    assert_eq!(served(&h, 1), 1174);
    assert_eq!(h.metrics.receipts_accepted.get(), 1);
}

#[test]
fn parking_is_limited_per_relay() {
    let h = host();
    let mut conn = bound(&h);
    assert!(matches!(
        conn.apply(open(&h, 2), &h).as_slice(),
        [Action::Connect(_)]
    ));
    conn.apply(data(1, 1024), &h);
    conn.apply(data(1, MAX_PARKED_UPLOAD - 10), &h);
    // Stream 2 would push the Relay past the limit: it is closed.
    let actions = conn.apply(data(2, 11), &h);
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Send(Event::Error(Refusal {
                    code: pb::ErrorCode::CreditExhausted,
                    stream: 2,
                    ..
                })),
                Action::Release { stream: 2 },
                Action::Send(Event::Closed {
                    stream: 2,
                    reason: pb::CloseReason::CreditExhausted,
                    ..
                }),
            ]
        ),
        "{actions:?}"
    );
    // Stream 1 keeps its parked data; exactly up to the limit still parks.
    assert!(matches!(
        conn.apply(open(&h, 2), &h).as_slice(),
        [Action::Connect(_)]
    ));
    assert!(conn.apply(data(1, 10), &h).is_empty());
    let over = conn.apply(data(1, 1), &h);
    assert!(matches!(
        over.last(),
        Some(Action::Send(Event::Closed { stream: 1, .. }))
    ));
    assert_eq!(served(&h, 1), 1024);
}

#[test]
fn close_waits_for_parked_data() {
    let h = host();
    let mut conn = bound(&h);
    conn.apply(data(1, 1024), &h);
    conn.apply(data(1, 100), &h);
    assert!(conn.apply(RelayCommand::Close { stream: 1 }, &h).is_empty());
    let late = conn.apply(data(1, 5), &h);
    assert_eq!(only_error(&late), (pb::ErrorCode::UnknownStream, 1));
    let checked = conn.apply(receipt(1, 1, 1), &h);
    let actions = store(&mut conn, &h, checked);
    assert!(
        matches!(
            &actions[actions.len() - 3..],
            [
                Action::Write { stream: 1, .. },
                Action::Shutdown { stream: 1 },
                Action::Send(Event::ReceiptAck { kib: 1, .. }),
            ]
        ),
        "{actions:?}"
    );
    assert_eq!(served(&h, 1), 1124);
}

#[test]
fn close_without_parked_data_shuts_down_once() {
    let h = host();
    let mut conn = bound(&h);
    let actions = conn.apply(RelayCommand::Close { stream: 1 }, &h);
    assert!(matches!(
        actions.as_slice(),
        [Action::Shutdown { stream: 1 }]
    ));
    assert!(conn.apply(RelayCommand::Close { stream: 1 }, &h).is_empty());
    assert!(conn.apply(RelayCommand::Close { stream: 9 }, &h).is_empty());
    assert_eq!(
        only_error(&conn.apply(data(1, 5), &h)),
        (pb::ErrorCode::UnknownStream, 1)
    );
}

#[test]
fn refused_receipts_change_nothing() {
    let h = host();
    let mut conn = bound(&h);
    let cases = [
        (receipt(2, 1, 2), pb::ErrorCode::ReceiptForeign),
        (receipt(1, 1, 2), pb::ErrorCode::ReceiptBadSignature),
        (receipt(1, 0, 1), pb::ErrorCode::ReceiptStale),
    ];
    for (n, (cmd, code)) in cases.into_iter().enumerate() {
        let actions = conn.apply(cmd, &h);
        let actions = match actions.last() {
            Some(Action::Check(_)) => store(&mut conn, &h, actions),
            _ => actions,
        };
        assert_eq!(only_error(&actions), (code, 0));
        assert_eq!(h.metrics.receipts_refused_total(), n as u64 + 1);
    }
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 0);
    let checked = conn.apply(receipt(1, 2, 1), &h);
    store(&mut conn, &h, checked);
    let replay = conn.apply(receipt(1, 2, 1), &h);
    let replay = store(&mut conn, &h, replay);
    assert_eq!(only_error(&replay), (pb::ErrorCode::ReceiptStale, 0));
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 2);
}

#[test]
fn an_undecodable_receipt_is_a_refused_receipt() {
    let h = host();
    let frame = pb::ClientFrame {
        frame: Some(client_frame::Frame::Receipt(pb::Receipt {
            signed_receipt: vec![1, 2, 3],
        })),
    };
    let parse = || RelayCommand::try_from(frame.clone()).expect_err("3 bytes");
    // Before any Open the Relay has no session: that is said first.
    let mut conn = Conn::default();
    assert_eq!(
        only_error(&conn.refuse(parse(), &h)),
        (pb::ErrorCode::UnknownSession, 0)
    );
    let mut conn = bound(&h);
    assert_eq!(
        only_error(&conn.refuse(parse(), &h)),
        (pb::ErrorCode::Malformed, 0)
    );
    assert_eq!(h.metrics.receipts_refused_total(), 2);
}

#[test]
fn refused_data_closes_the_stream() {
    let mut h = host();
    let mut conn = bound(&h);
    h.height = BlockHeight(51);
    let actions = conn.apply(data(1, 10), &h);
    assert!(
        matches!(
            actions.as_slice(),
            [
                Action::Send(Event::Error(Refusal {
                    code: pb::ErrorCode::SessionExpired,
                    stream: 1,
                    ..
                })),
                Action::Release { stream: 1 },
                Action::Send(Event::Closed {
                    stream: 1,
                    reason: pb::CloseReason::SessionExpired,
                    ..
                }),
            ]
        ),
        "{actions:?}"
    );
    assert!(!conn.has_streams());
}

#[test]
fn challenge_is_answered_with_the_node_key() {
    let h = host();
    let mut conn = Conn::default();
    let raw = fr_from_u64(42);
    let frame = pb::ClientFrame {
        frame: Some(client_frame::Frame::Challenge(pb::Challenge {
            nonce: veil_primitives::field::fr_to_bytes(&raw).to_vec(),
        })),
    };
    let cmd = RelayCommand::try_from(frame).expect("nonce");
    let actions = conn.apply(cmd, &h);
    let [Action::Send(Event::ChallengeResponse { signature, .. })] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let sig = Signature::from_slice(signature).expect("signature");
    assert!(
        h.node_key
            .verifying_key()
            .verify(&challenge_message(&raw), &sig)
            .is_ok()
    );
    let bad = pb::ClientFrame {
        frame: Some(client_frame::Frame::Challenge(pb::Challenge {
            nonce: vec![0xff; 32],
        })),
    };
    let e = RelayCommand::try_from(bad).expect_err("non-canonical");
    assert_eq!(
        only_error(&conn.refuse(e, &h)),
        (pb::ErrorCode::Malformed, 0)
    );
}

#[test]
fn frames_that_do_not_decode() {
    let empty = RelayCommand::try_from(pb::ClientFrame { frame: None }).expect_err("empty");
    assert_eq!(
        (empty.code(), empty.stream()),
        (pb::ErrorCode::Malformed, 0)
    );
    let open = |payment| pb::ClientFrame {
        frame: Some(client_frame::Frame::Open(pb::Open {
            payment,
            stream_id: 7,
            host: "h".into(),
            port: 1,
            session_auth: vec![],
        })),
    };
    let none = RelayCommand::try_from(open(None)).expect_err("no payment");
    assert_eq!((none.code(), none.stream()), (pb::ErrorCode::Malformed, 7));
    let short = RelayCommand::try_from(open(Some(pb::open::Payment::SessionId(vec![1; 3]))));
    let short = short.expect_err("short session id");
    assert_eq!(
        (short.code(), short.stream()),
        (pb::ErrorCode::Malformed, 7)
    );
    let junk = pb::VoucherSpend {
        nonce: vec![1; 32],
        spend_request: vec![1; 5],
    };
    let voucher = RelayCommand::try_from(open(Some(pb::open::Payment::VoucherSpend(junk))));
    assert_eq!(voucher.expect_err("junk spend").stream(), 7);
}

/// A decodable voucher spend of `kib` KiB (the machine never checks it;
/// the stream task does, once connected).
fn voucher_payment(kib: u64) -> VoucherPayment {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = VoucherNodeId::new([9; 32]);
    let store = std::sync::Arc::new(
        crate::store::NodeStore::open(&dir.path().join("node.redb")).expect("store"),
    );
    let desk = VoucherDesk::open(dir.path(), node, store).expect("desk");
    let sid = SessionId::from_fr(fr_from_u64(4));
    let session = sid.to_bytes();
    let mut rng = rand::thread_rng();
    let amount = Balance::from_kib(100);
    let (req, awaiting) = Credential::request_issuance(
        &desk.current_key(),
        node,
        amount,
        &purchase_context(&session),
        &mut rng,
    );
    let receipt = Receipt {
        session_id: sid.inner(),
        kib: amount.kib(),
    }
    .sign(&SigningKey::from_seed([3; 32]).expect("key"));
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(req.to_bytes()).into();
    let resp = desk
        .purchase(&sid, amount, &req, digest, &receipt)
        .expect("purchase");
    let cred = awaiting.finish_issuance(&resp).expect("credential");
    let nonce = desk.issue_challenge().expect("nonce");
    let ctx = spend_context(&nonce, "example.org", 443);
    let (spend, _) = cred
        .prepare_spend(Balance::from_kib(kib), &ctx, &mut rng)
        .expect("spend");
    let v = pb::VoucherSpend {
        nonce: nonce.to_vec(),
        spend_request: spend.to_bytes(),
    };
    VoucherPayment::decode(&v).expect("decodes")
}

#[test]
fn a_voucher_paid_stream_has_its_own_meter_and_binds_nothing() {
    let h = host();
    let mut conn = Conn::default();
    let cmd = RelayCommand::Open(OpenStream {
        stream: 1,
        payment: Payment::Voucher(voucher_payment(2)),
        host: "example.org".into(),
        port: 443,
    });
    let actions = conn.apply(cmd, &h);
    let [Action::Connect(c)] = actions.as_slice() else {
        panic!("{actions:?}")
    };
    let Payer::Voucher { meter, .. } = &c.payer else {
        panic!("{:?}", c.payer)
    };
    let meter = meter.clone();
    // Two KiB, no receipts: then the stream is refused, not parked.
    assert_eq!(written(&conn.apply(data(1, 2048), &h)), 2048);
    let refused = conn.apply(data(1, 1), &h);
    assert!(
        matches!(
            refused.last(),
            Some(Action::Send(Event::Closed {
                stream: 1,
                reason: pb::CloseReason::CreditExhausted,
                ..
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(lock(&meter.state).served_bytes(), 2048);
    assert_eq!(served(&h, 1), 0);
    // No session was bound: receipts have nowhere to go, sessions may bind.
    assert_eq!(
        only_error(&conn.apply(receipt(1, 1, 1), &h)),
        (pb::ErrorCode::UnknownSession, 0)
    );
    assert!(matches!(
        conn.apply(open(&h, 2), &h).as_slice(),
        [Action::Connect(_)]
    ));
}

#[test]
fn grant_never_goes_beyond_the_allowance() {
    let h = host();
    let meter = &h.sessions[&sid(1)];
    let mut st = lock(&meter.state);
    assert_eq!(
        grant(&mut st, 1000, h.height),
        Grant::Send {
            n: 1000,
            credit_low: true
        }
    );
    assert_eq!(
        grant(&mut st, 1000, h.height),
        Grant::Send {
            n: 24,
            credit_low: false
        }
    );
    assert_eq!(grant(&mut st, 1000, h.height), Grant::ReceiptDue);
    assert_eq!(st.served_bytes(), 1024);
    assert!(matches!(
        grant(&mut st, 1, BlockHeight(51)),
        Grant::Refused(ServeError::Expired)
    ));
}

/// A receipt of session 1 for `kib`, signed by key `signer`, as the loop
/// hands it to the worker.
fn check_of(h: &TestHost, kib: u64, signer: u8) -> ReceiptCheck {
    let signed = Receipt {
        session_id: sid(1).inner(),
        kib,
    }
    .sign(&key(signer));
    let meter = Meter(h.sessions[&sid(1)].clone());
    ReceiptCheck {
        meter,
        unchecked: unchecked(signed),
    }
}

/// A signed receipt as the relay loop parses it.
fn unchecked(signed: SignedReceipt) -> UncheckedReceipt {
    UncheckedReceipt::from_bytes(&signed.to_bytes()).expect("canonical")
}

fn kib_of(c: Option<ReceiptCheck>) -> Option<u64> {
    c.map(|c| c.unchecked.receipt.kib)
}

#[test]
fn the_worker_checks_the_highest_waiting_receipt_and_the_rest_are_superseded() {
    let h = host();
    let mut w = Waiting::default();
    for kib in [3, 7, 5] {
        w.push(check_of(&h, kib, 1));
    }
    let top = w.take_highest().expect("three wait");
    let accepted = receipts::check(top, h.height)
        .and_then(|p| receipts::accept(p, h.height))
        .expect("valid");
    assert_eq!((accepted.kib, accepted.allowance_kib), (7, 8));
    w.push(check_of(&h, 9, 1));
    w.supersede(accepted.kib);
    // 3 and 5 are covered by 7: only 9 is left to check.
    assert_eq!(kib_of(w.take_highest()), Some(9));
    assert_eq!(kib_of(w.take_highest()), None);
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 7);
}

#[test]
fn the_store_writes_the_highest_applied_receipt_and_skips_the_overtaken() {
    let to_store = |kib: u64| receipts::ToStore {
        signed: Receipt {
            session_id: sid(1).inner(),
            kib,
        }
        .sign(&key(1)),
        kib,
        allowance_kib: kib + 1,
    };
    let mut u = receipts::Unstored::default();
    assert!(u.take().is_none());
    // 3 applied while another was being stored, then 8: 3 is covered.
    u.offer(to_store(3));
    u.offer(to_store(8));
    // A lower one offered late (it cannot be applied after 8, but the
    // slot does not rely on it) does not replace the higher.
    u.offer(to_store(5));
    let next = u.take().expect("one to store");
    assert_eq!(
        (next.kib, next.allowance_kib, next.signed.receipt.kib),
        (8, 9, 8)
    );
    assert!(
        u.take().is_none(),
        "each applied receipt is stored at most once"
    );
    assert!(!u.is_closed());
    u.offer(to_store(9));
    u.close();
    // Closing does not drop what is left: the last receipt is still stored.
    assert_eq!(u.take().map(|r| r.kib), Some(9));
    assert!(u.is_closed());
}

#[test]
fn a_refused_highest_receipt_lets_the_next_be_checked() {
    let h = host();
    let mut w = Waiting::default();
    w.push(check_of(&h, 4, 1));
    w.push(check_of(&h, 9, 2));
    let forged = receipts::check(w.take_highest().expect("waits"), h.height);
    assert_eq!(
        forged.map(|_| ()).map_err(|r| r.code),
        Err(pb::ErrorCode::ReceiptBadSignature)
    );
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 0);
    let next = w.take_highest().expect("the lower one still waits");
    let accepted = receipts::check(next, h.height).and_then(|p| receipts::accept(p, h.height));
    assert_eq!(accepted.map(|a| a.kib), Ok(4));
}

#[test]
fn a_receipt_checked_twice_is_accepted_once() {
    // The same receipt waiting twice (a replay sent before the first was
    // checked): the second passes `check` (nothing accepted yet) but not
    // `accept`, and changes nothing.
    let h = host();
    let first = receipts::check(check_of(&h, 5, 1), h.height).expect("valid");
    let second = receipts::check(check_of(&h, 5, 1), h.height).expect("valid too");
    assert!(receipts::accept(first, h.height).is_ok());
    assert_eq!(
        receipts::accept(second, h.height)
            .map(|a| a.kib)
            .map_err(|r| r.code),
        Err(pb::ErrorCode::ReceiptStale)
    );
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 5);
}

#[test]
fn waiting_receipts_are_capped_by_dropping_the_lowest() {
    let h = host();
    let mut w = Waiting::default();
    let n = receipts::MAX_WAITING as u64 + 3;
    for kib in 1..=n {
        w.push(check_of(&h, kib, 1));
    }
    let mut taken = Vec::new();
    while let Some(kib) = kib_of(w.take_highest()) {
        taken.push(kib);
    }
    let expected: Vec<u64> = (4..=n).rev().collect();
    assert_eq!(taken, expected);
}

#[test]
fn a_closed_queue_still_yields_what_waits() {
    let h = host();
    let mut w = Waiting::default();
    w.push(check_of(&h, 2, 1));
    w.close();
    assert!(w.is_closed());
    assert_eq!(kib_of(w.take_highest()), Some(2));
    assert_eq!(kib_of(w.take_highest()), None);
}

#[test]
fn a_receipt_with_s_not_below_l_is_malformed_and_changes_nothing() {
    // `S + l` passes the relay loop's cheap decoding (`S` is range-checked
    // by verification) and is refused by the worker's check, as the full
    // decoder would: MALFORMED, not a bad signature.
    let h = host();
    let mut conn = bound(&h);
    let good = Receipt {
        session_id: sid(1).inner(),
        kib: 3,
    }
    .sign(&key(1));
    let mut bytes = good.to_bytes();
    let l =
        veil_primitives::babyjubjub::bigint_to_be(&veil_primitives::babyjubjub::subgroup_order());
    let s_start = bytes.len() - 32;
    let mut carry = 0u16;
    for i in (0..32).rev() {
        let sum = u16::from(bytes[s_start + i]) + u16::from(l[i]) + carry;
        bytes[s_start + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    let cmd = RelayCommand::Receipt(Box::new(
        UncheckedReceipt::from_bytes(&bytes).expect("cheap checks pass"),
    ));
    let actions = conn.apply(cmd, &h);
    let refused = store(&mut conn, &h, actions);
    assert_eq!(only_error(&refused), (pb::ErrorCode::Malformed, 0));
    assert_eq!(lock(&h.sessions[&sid(1)].state).position().receipted_kib, 0);
    // The genuine receipt is still accepted.
    let ok = conn.apply(RelayCommand::Receipt(Box::new(unchecked(good))), &h);
    assert!(matches!(
        store(&mut conn, &h, ok).last(),
        Some(Action::Send(Event::ReceiptAck { kib: 3, .. }))
    ));
}
