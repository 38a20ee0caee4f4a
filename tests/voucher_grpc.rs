//! Vouchers end to end over real gRPC on 127.0.0.1 (`docs/vouchers.md` §9):
//! purchase with an escrow session, voucher-paid streams, balances, replay,
//! binding to nonce and node, concurrent double spends, and what the node
//! sees of a spend.
//!
//! The ledger is embedded with its fake proof verifier and the node decodes
//! access tokens without a pairing: the Groth16 side is tested elsewhere,
//! and this keeps every test well under a second of proving.

#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use common::echo_server;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::transport::Channel;
use veil_client::vouchers::{self as cv, PaidSession, VoucherError, VoucherTerms, VoucherWallet};
use veil_ledger::types::{
    AccessPublic, Address, BlockHeight, MerkleRoot, NodeId, NoteCommitment, Nullifier, OwnerKey,
    Proof, SessionKeyHash, Value,
};
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_node::backend::{ProveError, TokenDecodeError};
use veil_node::egress::EgressPolicy;
use veil_node::{
    AccessToken, AccessVerifier, NodeConfig, NodeHandle, SettleProver, SettleSlotWitness, Transport,
};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::field::fr_from_bytes;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::{client_frame, node_frame};
use veil_vouchers::context::spend_context;
use veil_vouchers::{Balance, Credential, SpendRequest};

const PRICE: u64 = 2;
const ESCROW: u64 = 512; // 256 KiB of credit
const CREDIT_KIB: u64 = ESCROW / PRICE;

// ------------------------------------------------------------------ harness

/// Decodes the veil-proofs token layout (no pairing) and accepts the
/// ledger's fake valid proof.
struct TestVerifier;

fn field<T>(
    b: &[u8],
    at: usize,
    f: impl Fn(&[u8]) -> Result<T, veil_primitives::EncodingError>,
) -> Result<T, TokenDecodeError> {
    f(b.get(at..at + 32).unwrap_or(&[])).map_err(|e| TokenDecodeError(e.to_string()))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl AccessVerifier for TestVerifier {
    fn decode(&self, b: &[u8]) -> Result<AccessToken, TokenDecodeError> {
        if b.len() != 337 || b[0] != 1 {
            return Err(TokenDecodeError("layout".into()));
        }
        let statement = AccessPublic {
            root: field(b, 1, MerkleRoot::from_slice)?,
            nullifier: field(b, 33, Nullifier::from_slice)?,
            cm_change: field(b, 65, NoteCommitment::from_slice)?,
            escrow: Value(u64_at(b, 97)),
            node_id: field(b, 105, NodeId::from_slice)?,
            session_key_hash: field(b, 137, SessionKeyHash::from_slice)?,
            refund_owner: field(b, 169, OwnerKey::from_slice)?,
            expiry: BlockHeight(u64_at(b, 201)),
        };
        let proof = Proof::from_slice(&b[209..]).map_err(|e| TokenDecodeError(e.to_string()))?;
        Ok(AccessToken { statement, proof })
    }

    fn verify(&self, token: &AccessToken) -> bool {
        token.proof.0[0] == FakeVerifier::VALID
    }
}

struct TestProver;

impl SettleProver for TestProver {
    fn batch_sizes(&self) -> Vec<u32> {
        vec![1, 8]
    }
    fn prove(
        &self,
        _: NodeId,
        _: u32,
        _: Value,
        _: &[SettleSlotWitness],
    ) -> Result<Proof, ProveError> {
        Ok(FakeVerifier::valid_proof())
    }
}

fn encode_token(st: &AccessPublic, proof: &Proof) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend_from_slice(&st.root.to_bytes());
    out.extend_from_slice(&st.nullifier.to_bytes());
    out.extend_from_slice(&st.cm_change.to_bytes());
    out.extend_from_slice(&st.escrow.0.to_be_bytes());
    out.extend_from_slice(&st.node_id.to_bytes());
    out.extend_from_slice(&st.session_key_hash.to_bytes());
    out.extend_from_slice(&st.refund_owner.to_bytes());
    out.extend_from_slice(&st.expiry.0.to_be_bytes());
    out.extend_from_slice(&proof.0);
    out
}

fn random_fr() -> veil_primitives::Fr {
    loop {
        if let Ok(x) = fr_from_bytes(&rand::random()) {
            return x;
        }
    }
}

struct Node {
    handle: NodeHandle,
    _shutdown: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Node {
    /// Shuts the node down, waits until it has stopped and returns its
    /// directory.
    async fn stop(self) -> tempfile::TempDir {
        let Node {
            handle,
            _shutdown,
            _dir,
        } = self;
        drop(_shutdown);
        handle.join().await.unwrap();
        _dir
    }
}

struct World {
    ledger: EmbeddedLedger,
    node: Node,
    echo_port: u16,
    wallet_dir: tempfile::TempDir,
}

/// A session opened with an access token: its key and id.
struct Session {
    key: SigningKey,
    id: [u8; 32],
}

impl Session {
    /// `sig_S(H(RELAY_BIND, session_id, node_id))`: binds a Relay (§9.4).
    fn auth(&self, node: &Node) -> Vec<u8> {
        let sid = veil_primitives::field::fr_from_slice(&self.id).unwrap();
        let m = veil_primitives::receipt::relay_bind_message(&sid, &node.handle.node_id.inner());
        self.key.sign(&m).to_bytes().to_vec()
    }
}

async fn start_node(ledger: EmbeddedLedger) -> Node {
    start_node_in(ledger, tempfile::tempdir().unwrap()).await
}

/// Starts a node on `dir` (its keys and database, if any, are kept).
async fn start_node_in(ledger: EmbeddedLedger, dir: tempfile::TempDir) -> Node {
    let mut c = NodeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        PathBuf::from(dir.path()),
        Value(PRICE),
        vec![Value(ESCROW)],
    );
    c.receipt_interval_kib = 16;
    c.max_session_lifetime = 100;
    c.transport = Transport::InsecurePlaintext;
    c.egress = EgressPolicy::parse("127.0.0.1/32").unwrap();
    c.ledger_poll = Duration::from_millis(20);
    let (tx, rx) = oneshot::channel::<()>();
    let handle = veil_node::spawn_with(
        c,
        ledger,
        Arc::new(TestVerifier),
        Arc::new(TestProver),
        async {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    Node {
        handle,
        _shutdown: tx,
        _dir: dir,
    }
}

impl World {
    async fn new() -> Self {
        let config = LedgerConfig {
            challenge_window: 20,
            max_expiry_delta: 100,
            settle_batch_sizes: vec![1, 8],
            dev_faucet: true,
        };
        let ledger = EmbeddedLedger::in_memory(Arc::new(FakeVerifier::default()), config).unwrap();
        let depositor_key = SigningKey::generate(&mut OsRng);
        ledger
            .faucet(depositor_key.verifying_key().account_id(), Value(1_000_000))
            .await
            .unwrap();
        veil_ledger::testing::deposit(
            ledger.engine(),
            &depositor_key,
            Value(500_000),
            Address::from_fr(random_fr()),
        )
        .unwrap();
        let node = start_node(ledger.clone()).await;
        Self {
            ledger,
            node,
            echo_port: echo_server().await,
            wallet_dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh gRPC connection (one per voucher stream: nothing links them).
    async fn client_of(node: &Node) -> NodeClient<Channel> {
        NodeClient::connect(format!("http://{}", node.handle.local_addr))
            .await
            .unwrap()
    }

    async fn client(&self) -> NodeClient<Channel> {
        Self::client_of(&self.node).await
    }

    async fn open_session(&self, node: &Node) -> Session {
        let key = SigningKey::generate(&mut OsRng);
        let roots = self.ledger.roots().await.unwrap();
        let height = self.ledger.status().await.unwrap().height;
        let statement = AccessPublic {
            root: *roots.last().unwrap(),
            nullifier: Nullifier::from_fr(random_fr()),
            cm_change: NoteCommitment::from_fr(random_fr()),
            escrow: Value(ESCROW),
            node_id: node.handle.node_id,
            session_key_hash: key.verifying_key().session_key_hash(),
            refund_owner: OwnerKey::from_fr(random_fr()),
            expiry: BlockHeight(height.0 + 50),
        };
        let token = encode_token(&statement, &FakeVerifier::valid_proof());
        let resp = Self::client_of(node)
            .await
            .open_session(pb::OpenSessionRequest {
                version: 1,
                access_token: token,
                session_public_key: key.verifying_key().to_bytes().to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(resp.credit_kib, CREDIT_KIB);
        Session {
            key,
            id: resp.session_id.as_slice().try_into().unwrap(),
        }
    }

    async fn terms_of(node: &Node) -> VoucherTerms {
        let url = format!("http://{}", node.handle.local_addr);
        let mut conn = veil_client::session::NodeConnection::connect_plaintext(&url)
            .await
            .unwrap();
        VoucherTerms::fetch(&mut conn).await.unwrap()
    }

    /// Opens a session and buys a voucher for its whole credit.
    async fn buy_at(&self, node: &Node) -> Credential {
        let session = self.open_session(node).await;
        let terms = Self::terms_of(node).await;
        cv::buy(
            &mut Self::client_of(node).await,
            &terms,
            PaidSession {
                session_id: session.id,
                session_key: &session.key,
                credit_kib: CREDIT_KIB,
            },
            &mut OsRng,
        )
        .await
        .unwrap()
    }

    async fn buy(&self) -> Credential {
        self.buy_at(&self.node).await
    }

    fn wallet(&self, name: &str) -> VoucherWallet {
        VoucherWallet::open(&self.wallet_dir.path().join(name)).unwrap()
    }
}

/// What a raw voucher-paid open got back.
#[derive(Debug)]
enum Outcome {
    Accepted(pb::VoucherAccepted),
    Refused(pb::ErrorCode, String),
}

async fn challenge(node: &mut NodeClient<Channel>) -> [u8; 32] {
    node.voucher_challenge(pb::VoucherChallengeRequest { version: 1 })
        .await
        .unwrap()
        .into_inner()
        .nonce
        .try_into()
        .unwrap()
}

/// Sends one voucher-paid `Open` on a fresh Relay and returns the node's answer.
async fn raw_open(
    node: &mut NodeClient<Channel>,
    nonce: [u8; 32],
    spend: &SpendRequest,
    port: u16,
) -> Outcome {
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::ClientFrame {
        frame: Some(client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::VoucherSpend(pb::VoucherSpend {
                nonce: nonce.to_vec(),
                spend_request: spend.to_bytes(),
            })),
            stream_id: 1,
            host: "127.0.0.1".into(),
            port: u32::from(port),
            session_auth: Vec::new(),
        })),
    })
    .await
    .unwrap();
    let mut rx = node
        .relay(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), rx.message())
            .await
            .expect("answer in time")
            .expect("relay ok")
            .expect("relay open");
        match msg.frame {
            Some(node_frame::Frame::VoucherAccepted(a)) => return Outcome::Accepted(a),
            Some(node_frame::Frame::Error(e)) => {
                return Outcome::Refused(pb::ErrorCode::try_from(e.code).unwrap(), e.message);
            }
            _ => {}
        }
    }
}

fn spend_for(cred: &Credential, nonce: &[u8; 32], kib: u64, port: u16) -> SpendRequest {
    cred.prepare_spend(
        Balance::from_kib(kib),
        &spend_context(nonce, "127.0.0.1", port),
        &mut OsRng,
    )
    .unwrap()
    .0
}

fn refused_with(outcome: Outcome, code: pb::ErrorCode) {
    match outcome {
        Outcome::Refused(c, m) => assert_eq!(c, code, "{m}"),
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

/// Echoes `payload` through a voucher stream; returns what came back.
async fn echo_via(stream: cv::VoucherStream, payload: Vec<u8>) -> Vec<u8> {
    let (mut app, proxy_side) = tokio::io::duplex(64 * 1024);
    let pipe = tokio::spawn(stream.pipe(proxy_side));
    app.write_all(&payload).await.unwrap();
    let mut got = vec![0u8; payload.len()];
    let n = tokio::time::timeout(Duration::from_secs(10), app.read_exact(&mut got)).await;
    drop(app);
    let _ = pipe.await;
    n.expect("echo in time").map(|_| got).unwrap_or_default()
}

// -------------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buy_then_spend_several_connections_balance_drops_by_exactly_the_spends() {
    let w = World::new().await;
    let mut wallet = w.wallet("alice.json");
    let terms = World::terms_of(&w.node).await;
    assert_eq!(terms.key.key_id().as_bytes().len(), 32);
    wallet.add(w.buy().await).unwrap();
    assert_eq!(wallet.balance(None), Balance::from_kib(CREDIT_KIB));

    let spends = [8u64, 16, 4, 32];
    let mut expected = CREDIT_KIB;
    for (i, kib) in spends.into_iter().enumerate() {
        let stream = cv::open_stream(
            &mut w.client().await,
            &terms,
            &mut wallet,
            Balance::from_kib(kib),
            "127.0.0.1",
            w.echo_port,
            &mut OsRng,
        )
        .await
        .unwrap();
        expected -= kib;
        assert_eq!(stream.remaining, Balance::from_kib(expected));
        let payload: Vec<u8> = (0..1500).map(|j| (i * 31 + j) as u8).collect();
        assert_eq!(echo_via(stream, payload.clone()).await, payload);
    }
    // Persisted: a fresh load sees the same balance.
    assert_eq!(
        w.wallet("alice.json").balance(Some(&terms.node_id)),
        Balance::from_kib(CREDIT_KIB - spends.iter().sum::<u64>())
    );
    let status = w
        .client()
        .await
        .status(pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (status.voucher_purchases, status.voucher_spends),
        (1, spends.len() as u64)
    );
    // The purchase's full-credit receipt pays the node the whole escrow.
    let report = w.node.handle.settle_now().await.unwrap();
    assert_eq!(report.total_paid, Value(ESCROW));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voucher_stream_is_metered_to_the_spent_amount() {
    let w = World::new().await;
    let mut wallet = w.wallet("w.json");
    let terms = World::terms_of(&w.node).await;
    wallet.add(w.buy().await).unwrap();
    let stream = cv::open_stream(
        &mut w.client().await,
        &terms,
        &mut wallet,
        Balance::from_kib(2),
        "127.0.0.1",
        w.echo_port,
        &mut OsRng,
    )
    .await
    .unwrap();
    // 2 KiB both directions: 1 KiB out and back fits, 8 KiB does not.
    let (mut app, proxy_side) = tokio::io::duplex(64 * 1024);
    let pipe = tokio::spawn(stream.pipe(proxy_side));
    app.write_all(&[7u8; 1024]).await.unwrap();
    let mut got = vec![0u8; 1024];
    app.read_exact(&mut got).await.unwrap();
    app.write_all(&[8u8; 8 * 1024]).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), app.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the node closes an exhausted stream");
    assert!(
        rest.is_empty(),
        "nothing beyond the spent amount is relayed"
    );
    let (_, received) = pipe.await.unwrap().unwrap();
    assert_eq!(received, 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purchase_is_checked_and_once_per_session() {
    let w = World::new().await;
    let terms = World::terms_of(&w.node).await;
    let mut node = w.client().await;
    let s = w.open_session(&w.node).await;
    let buyer = node.clone();
    let buy = |sid: [u8; 32], key: &SigningKey, credit: u64| {
        let mut node = buyer.clone();
        let terms = terms.clone();
        let key = key.clone();
        async move {
            cv::buy(
                &mut node,
                &terms,
                PaidSession {
                    session_id: sid,
                    session_key: &key,
                    credit_kib: credit,
                },
                &mut OsRng,
            )
            .await
        }
    };
    let code = |r: Result<Credential, VoucherError>| match r {
        Err(VoucherError::Rpc(s)) => s.code(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    // Unknown session.
    assert_eq!(code(buy([9; 32], &s.key, CREDIT_KIB).await), Code::NotFound);
    // Not the session's key: the purchase authorisation fails.
    let thief = SigningKey::generate(&mut OsRng);
    assert_eq!(
        code(buy(s.id, &thief, CREDIT_KIB).await),
        Code::Unauthenticated
    );
    // Less than the full credit.
    assert_eq!(
        code(buy(s.id, &s.key, CREDIT_KIB - 1).await),
        Code::InvalidArgument
    );
    // The session is still unused after those refusals: it can buy once.
    assert!(buy(s.id, &s.key, CREDIT_KIB).await.is_ok());
    assert_eq!(
        code(buy(s.id, &s.key, CREDIT_KIB).await),
        Code::FailedPrecondition
    );
    // A session that relayed (holds a receipt) cannot buy a voucher.
    let used = w.open_session(&w.node).await;
    let (tx, rx) = mpsc::channel(4);
    let receipt = veil_primitives::receipt::Receipt {
        session_id: veil_primitives::field::fr_from_slice(&used.id).unwrap(),
        kib: 1,
    }
    .sign(&used.key);
    for f in [
        client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::SessionId(used.id.to_vec())),
            stream_id: 1,
            host: "127.0.0.1".into(),
            port: u32::from(w.echo_port),
            session_auth: used.auth(&w.node),
        }),
        client_frame::Frame::Data(pb::Data {
            stream_id: 1,
            bytes: vec![1; 512],
        }),
        client_frame::Frame::Receipt(pb::Receipt {
            signed_receipt: receipt.to_bytes().to_vec(),
        }),
    ] {
        tx.send(pb::ClientFrame { frame: Some(f) }).await.unwrap();
    }
    let mut relay = node
        .relay(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    loop {
        let f = relay.message().await.unwrap().unwrap().frame.unwrap();
        if matches!(f, node_frame::Frame::ReceiptAck(_)) {
            break;
        }
    }
    assert_eq!(
        code(buy(used.id, &used.key, CREDIT_KIB).await),
        Code::FailedPrecondition
    );
    // And a session that sold a voucher serves nothing more.
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::ClientFrame {
        frame: Some(client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::SessionId(s.id.to_vec())),
            stream_id: 1,
            host: "127.0.0.1".into(),
            port: u32::from(w.echo_port),
            session_auth: s.auth(&w.node),
        })),
    })
    .await
    .unwrap();
    tx.send(pb::ClientFrame {
        frame: Some(client_frame::Frame::Data(pb::Data {
            stream_id: 1,
            bytes: vec![1; 16],
        })),
    })
    .await
    .unwrap();
    let mut relay = node
        .relay(ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    loop {
        match relay.message().await.unwrap().unwrap().frame.unwrap() {
            node_frame::Frame::Error(e) => {
                assert_eq!(
                    e.code,
                    pb::ErrorCode::CreditExhausted as i32,
                    "{}",
                    e.message
                );
                break;
            }
            node_frame::Frame::Data(_) => panic!("a sold session relayed data"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_spend_is_rejected() {
    let w = World::new().await;
    let cred = w.buy().await;
    let mut node = w.client().await;
    let nonce = challenge(&mut node).await;
    let spend = spend_for(&cred, &nonce, 4, w.echo_port);
    assert!(matches!(
        raw_open(&mut w.client().await, nonce, &spend, w.echo_port).await,
        Outcome::Accepted(a) if a.amount_kib == 4
    ));
    // The same frame again: its nonce is used up.
    refused_with(
        raw_open(&mut w.client().await, nonce, &spend, w.echo_port).await,
        pb::ErrorCode::VoucherChallengeUnknown,
    );
    // The same credential with a fresh nonce: same nullifier, already spent.
    let nonce = challenge(&mut node).await;
    let again = spend_for(&cred, &nonce, 4, w.echo_port);
    assert_eq!(again.nullifier(), spend.nullifier());
    refused_with(
        raw_open(&mut w.client().await, nonce, &again, w.echo_port).await,
        pb::ErrorCode::VoucherSpent,
    );
    // Through the client: the stale credential is refused and dropped.
    let mut wallet = w.wallet("stale.json");
    wallet.add(cred).unwrap();
    let terms = World::terms_of(&w.node).await;
    let err = cv::open_stream(
        &mut w.client().await,
        &terms,
        &mut wallet,
        Balance::from_kib(1),
        "127.0.0.1",
        w.echo_port,
        &mut OsRng,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        err,
        VoucherError::Refused {
            code: pb::ErrorCode::VoucherSpent,
            ..
        }
    ));
    assert_eq!(wallet.balance(None), Balance::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spend_bound_to_another_nonce_target_or_node_is_rejected() {
    let w = World::new().await;
    let cred = w.buy().await;
    let mut node = w.client().await;
    // Made for nonce A, presented with (issued) nonce B.
    let a = challenge(&mut node).await;
    let b = challenge(&mut node).await;
    refused_with(
        raw_open(
            &mut node,
            b,
            &spend_for(&cred, &a, 1, w.echo_port),
            w.echo_port,
        )
        .await,
        pb::ErrorCode::VoucherInvalid,
    );
    // Made for another port than the one opened.
    let c = challenge(&mut node).await;
    refused_with(
        raw_open(
            &mut node,
            c,
            &spend_for(&cred, &c, 1, w.echo_port.wrapping_add(1)),
            w.echo_port,
        )
        .await,
        pb::ErrorCode::VoucherInvalid,
    );
    // A nonce the node never issued.
    refused_with(
        raw_open(
            &mut node,
            [1; 32],
            &spend_for(&cred, &[1; 32], 1, w.echo_port),
            w.echo_port,
        )
        .await,
        pb::ErrorCode::VoucherChallengeUnknown,
    );
    // Spent at another node, with that node's own fresh nonce.
    let other = start_node(w.ledger.clone()).await;
    let mut other_client = World::client_of(&other).await;
    let n = challenge(&mut other_client).await;
    refused_with(
        raw_open(
            &mut other_client,
            n,
            &spend_for(&cred, &n, 1, w.echo_port),
            w.echo_port,
        )
        .await,
        pb::ErrorCode::VoucherInvalid,
    );
    // None of these refusals spent the credential.
    let n = challenge(&mut node).await;
    assert!(matches!(
        raw_open(
            &mut node,
            n,
            &spend_for(&cred, &n, 1, w.echo_port),
            w.echo_port
        )
        .await,
        Outcome::Accepted(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_double_spend_of_one_credential_has_exactly_one_success() {
    let w = World::new().await;
    let cred = w.buy().await;
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let mut node = w.client().await;
        let nonce = challenge(&mut node).await;
        let spend = spend_for(&cred, &nonce, 3, w.echo_port);
        let port = w.echo_port;
        tasks.push(tokio::spawn(async move {
            raw_open(&mut node, nonce, &spend, port).await
        }));
    }
    let mut accepted = 0;
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Accepted(_) => accepted += 1,
            Outcome::Refused(code, m) => assert_eq!(code, pb::ErrorCode::VoucherSpent, "{m}"),
        }
    }
    assert_eq!(accepted, 1);
}

/// The node's view of a spend is `(epoch, amount)` plus fresh-looking
/// values: two spends from one credential chain and two spends from two
/// unrelated credentials look alike: same header, same length, and no
/// 32-byte value repeats between the two spends of either pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_view_of_a_chain_and_of_two_credentials_is_the_same() {
    let w = World::new().await;
    let terms = World::terms_of(&w.node).await;
    let spend_recording = |wallet_name: &'static str| {
        let w = &w;
        let terms = terms.clone();
        async move {
            let mut wallet = w.wallet(wallet_name);
            wallet.add(w.buy().await).unwrap();
            let cred = wallet.credentials()[0].clone();
            let mut node = w.client().await;
            let nonce = challenge(&mut node).await;
            let (spend, pending) = cred
                .prepare_spend(
                    Balance::from_kib(5),
                    &spend_context(&nonce, "127.0.0.1", w.echo_port),
                    &mut OsRng,
                )
                .unwrap();
            let Outcome::Accepted(a) = raw_open(&mut node, nonce, &spend, w.echo_port).await else {
                panic!("honest spend refused");
            };
            let resp = veil_vouchers::SpendResponse::from_bytes(&a.spend_response).unwrap();
            (spend, pending.finish_spend(&resp, &terms.key).unwrap())
        }
    };
    // One chain: spend, then spend the re-issued credential.
    let (first, next) = spend_recording("chain.json").await;
    let mut node = w.client().await;
    let nonce = challenge(&mut node).await;
    let second = spend_for(&next, &nonce, 5, w.echo_port);
    assert!(matches!(
        raw_open(&mut node, nonce, &second, w.echo_port).await,
        Outcome::Accepted(_)
    ));
    // Two credentials: one spend each.
    let (x, _) = spend_recording("x.json").await;
    let (y, _) = spend_recording("y.json").await;

    let header = |s: &SpendRequest| s.to_bytes()[..17].to_vec();
    let chunks = |s: &SpendRequest| -> Vec<[u8; 32]> {
        s.to_bytes()[17..]
            .chunks_exact(32)
            .map(|c| c.try_into().unwrap())
            .collect()
    };
    let shared = |a: &SpendRequest, b: &SpendRequest| {
        let cb = chunks(b);
        chunks(a).iter().filter(|c| cb.contains(c)).count()
    };
    for (a, b) in [(&first, &second), (&x, &y)] {
        assert_eq!(header(a), header(b), "epoch and amount are all that repeat");
        assert_eq!(a.to_bytes().len(), b.to_bytes().len());
        assert_ne!(a.nullifier(), b.nullifier());
        assert_eq!(shared(a, b), 0);
    }
    assert_eq!(shared(&first, &second), shared(&x, &y));
}

/// `veil connect --voucher` front end: every SOCKS5 CONNECT is paid by its
/// own spend, and the wallet pays exactly one spend per connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socks_front_end_pays_each_connection_with_one_spend() {
    use veil_client::socks5::{self, Host, Target};
    let w = World::new().await;
    let terms = World::terms_of(&w.node).await;
    let mut wallet = w.wallet("socks.json");
    wallet.add(w.buy().await).unwrap();
    let wallet = Arc::new(tokio::sync::Mutex::new(wallet));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let socks = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let node = veil_client::transport::NodeEndpoint::insecure_plaintext(&format!(
        "http://{}",
        w.node.handle.local_addr
    ))
    .unwrap();
    let payer = Arc::new(cv::VoucherPayer::new(
        node,
        terms.clone(),
        wallet.clone(),
        Balance::from_kib(8),
    ));
    let proxy = tokio::spawn(veil_client::proxy::serve(
        listener,
        veil_client::proxy::Payer::Voucher(payer.clone()),
        stop_rx,
    ));
    for i in 0..3u8 {
        let mut s = tokio::net::TcpStream::connect(socks).await.unwrap();
        let target = Target {
            host: Host::Ip("127.0.0.1".parse().unwrap()),
            port: w.echo_port,
        };
        assert_eq!(socks5::client_connect(&mut s, &target).await.unwrap(), 0);
        s.write_all(&[i; 100]).await.unwrap();
        let mut got = [0u8; 100];
        s.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [i; 100]);
    }
    let _ = stop_tx.send(true);
    proxy.await.unwrap().unwrap();
    assert_eq!(payer.spends(), 3);
    assert_eq!(
        wallet.lock().await.balance(Some(&terms.node_id)),
        Balance::from_kib(CREDIT_KIB - 3 * 8)
    );
}

/// Issue 9's migration, whole node: a node directory holding a pre-issue-9
/// `vouchers.redb` (the voucher tables, same names and encodings) starts,
/// moves the tables into `node.redb` once, and a credential spent before
/// the upgrade stays spent over gRPC (no double spend across an upgrade).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_on_a_legacy_voucher_database_keeps_its_spends() {
    use veil_node::store::{LEGACY_VOUCHER_DB_FILE, MIGRATED_VOUCHER_DB_FILE};
    let w = World::new().await;
    let cred = w.buy().await;
    let nonce = challenge(&mut w.client().await).await;
    let spend = spend_for(&cred, &nonce, 4, w.echo_port);
    assert!(matches!(
        raw_open(&mut w.client().await, nonce, &spend, w.echo_port).await,
        Outcome::Accepted(a) if a.amount_kib == 4
    ));
    let World {
        ledger,
        node,
        echo_port,
        wallet_dir: _wallet_dir,
    } = w;
    let node_id = node.handle.node_id;
    let dir = node.stop().await;
    let legacy = dir.path().join(LEGACY_VOUCHER_DB_FILE);
    std::fs::rename(dir.path().join(veil_node::NODE_DB_FILE), &legacy).unwrap();

    let node = start_node_in(ledger, dir).await;
    assert_eq!(node.handle.node_id, node_id, "same keys, same node");
    let dir = node._dir.path();
    assert!(!legacy.exists(), "the legacy file was imported");
    assert!(dir.join(MIGRATED_VOUCHER_DB_FILE).exists());
    let mut client = World::client_of(&node).await;
    let nonce = challenge(&mut client).await;
    let again = spend_for(&cred, &nonce, 4, echo_port);
    assert_eq!(again.nullifier(), spend.nullifier());
    refused_with(
        raw_open(&mut World::client_of(&node).await, nonce, &again, echo_port).await,
        pb::ErrorCode::VoucherSpent,
    );
}
