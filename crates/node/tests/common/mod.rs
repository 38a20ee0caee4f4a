//! Test harness: an in-memory ledger with a fake proof verifier, a node on
//! 127.0.0.1:0, token building in the veil-proofs layout, a relay client.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::rngs::OsRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use veil_ledger::types::{
    AccessPublic, AccountId, Address, BlockHeight, MerkleRoot, NodeId, NoteCommitment, Nullifier,
    OwnerKey, Proof, SessionId, SessionKeyHash, Value,
};
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_node::egress::EgressPolicy;
use veil_node::{
    AccessToken, AccessVerifier, NodeConfig, NodeHandle, SettleProver, SettleSlotWitness, Transport,
};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::field::fr_from_bytes;
use veil_primitives::receipt::Receipt;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::{client_frame, node_frame};

pub const PRICE: u64 = 2;
pub const ESCROW: u64 = 512; // 256 KiB of credit
pub const INTERVAL_KIB: u64 = 16;

/// Decodes the veil-proofs token layout without checking proof points, and
/// "verifies" with the ledger's fake rule (first proof byte 0xA5). Counts
/// verifications (C5).
#[derive(Default)]
pub struct TestVerifier {
    pub calls: AtomicU64,
}

fn field<T>(
    b: &[u8],
    at: usize,
    f: impl Fn(&[u8]) -> Result<T, veil_primitives::EncodingError>,
) -> Result<T, veil_node::backend::TokenDecodeError> {
    f(b.get(at..at + 32).unwrap_or(&[]))
        .map_err(|e| veil_node::backend::TokenDecodeError(e.to_string()))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

impl AccessVerifier for TestVerifier {
    fn decode(&self, b: &[u8]) -> Result<AccessToken, veil_node::backend::TokenDecodeError> {
        if b.len() != 337 || b[0] != 1 {
            return Err(veil_node::backend::TokenDecodeError("layout".into()));
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
        let proof = Proof::from_slice(&b[209..])
            .map_err(|e| veil_node::backend::TokenDecodeError(e.to_string()))?;
        Ok(AccessToken { statement, proof })
    }

    fn verify(&self, token: &AccessToken) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        token.proof.0[0] == FakeVerifier::VALID
    }
}

/// Returns the fake "valid" proof the ledger's FakeVerifier accepts.
pub struct TestProver;

impl SettleProver for TestProver {
    fn batch_sizes(&self) -> Vec<u32> {
        vec![8, 64]
    }
    fn prove(
        &self,
        _: NodeId,
        _: u32,
        _: Value,
        _: &[SettleSlotWitness],
    ) -> Result<Proof, veil_node::backend::ProveError> {
        Ok(FakeVerifier::valid_proof())
    }
}

pub fn encode_token(st: &AccessPublic, proof: &Proof) -> Vec<u8> {
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
        let b: [u8; 32] = rand::random();
        if let Ok(x) = fr_from_bytes(&b) {
            return x;
        }
    }
}

pub struct World {
    pub ledger: EmbeddedLedger,
    pub verifier: Arc<TestVerifier>,
    pub node: NodeHandle,
    pub shutdown: Option<oneshot::Sender<()>>,
    pub dir: tempfile::TempDir,
    pub account: AccountId,
}

pub struct Session {
    pub key: SigningKey,
    pub statement: AccessPublic,
    pub token: Vec<u8>,
}

pub fn ledger() -> EmbeddedLedger {
    let config = LedgerConfig {
        challenge_window: 20,
        max_expiry_delta: 100,
        settle_batch_sizes: vec![1, 8, 64],
        dev_faucet: true,
    };
    EmbeddedLedger::in_memory(Arc::new(FakeVerifier::default()), config).unwrap()
}

/// Deposits `value` into the pool from a fresh, faucet-funded account,
/// signed by its account key (§8.3).
pub async fn fund_pool(ledger: &EmbeddedLedger, value: u64) {
    let key = SigningKey::generate(&mut OsRng);
    ledger
        .faucet(key.verifying_key().account_id(), Value(value))
        .await
        .unwrap();
    veil_ledger::testing::deposit(
        ledger.engine(),
        &key,
        Value(value),
        Address::from_fr(random_fr()),
    )
    .unwrap();
}

pub fn node_config(dir: PathBuf) -> NodeConfig {
    let mut c = NodeConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir,
        Value(PRICE),
        vec![Value(ESCROW)],
    );
    c.receipt_interval_kib = INTERVAL_KIB;
    c.max_session_lifetime = 100;
    c.transport = Transport::InsecurePlaintext;
    c.egress = EgressPolicy::parse("127.0.0.1/32").unwrap();
    c.ledger_poll = Duration::from_millis(20);
    c.limits.ban_after_failures = 5;
    // Every test client connects from 127.0.0.1: one address.
    c.limits.max_connections_per_address = c.limits.max_connections;
    c.limits.receipt_wait = Duration::from_secs(2);
    c
}

pub async fn start_node(
    config: NodeConfig,
    ledger: EmbeddedLedger,
    verifier: Arc<TestVerifier>,
) -> (NodeHandle, oneshot::Sender<()>) {
    let (tx, rx) = oneshot::channel::<()>();
    let node = veil_node::spawn_with(config, ledger, verifier, Arc::new(TestProver), async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    (node, tx)
}

/// A node with the real proof backend (the development keys) on `ledger`:
/// plaintext on 127.0.0.1, loopback egress, `escrow` sessions at 1 per
/// KiB with a receipt every 64 KiB.
pub async fn start_real_node<L: LedgerApi>(
    ledger: L,
    dir: PathBuf,
    escrow: Value,
) -> (NodeHandle, oneshot::Sender<()>) {
    let mut config = NodeConfig::new("127.0.0.1:0".parse().unwrap(), dir, Value(1), vec![escrow]);
    config.receipt_interval_kib = 64;
    config.transport = Transport::InsecurePlaintext;
    config.egress = EgressPolicy::parse("127.0.0.1/32").unwrap();
    config.max_session_lifetime = 100;
    let (stop, stopped) = oneshot::channel::<()>();
    let params = veil_proofs::ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap();
    let node = veil_node::spawn(config, ledger, params, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    (node, stop)
}

/// A note of `value` deposited from a fresh, faucet-funded account (signed
/// by its account key, §8.3), with its path in the ledger's tree: what a
/// client spends; and that account.
pub async fn deposited_note<L: LedgerApi>(
    ledger: &L,
    value: Value,
) -> (veil_circuits::spend::SpendPrivate, AccountId) {
    use veil_primitives::keys::SpendingKey;
    use veil_primitives::note::Rho;
    let account_key = SigningKey::generate(&mut OsRng);
    let account = account_key.verifying_key().account_id();
    ledger
        .faucet(account, Value(2 * value.get()))
        .await
        .unwrap();
    let sk = SpendingKey::random(&mut OsRng);
    let rho = Rho::random(&mut OsRng);
    let addr = Address::derive(&sk.owner_key(), &rho);
    let nonce = ledger.account(account).await.unwrap().next_nonce;
    let request = veil_ledger::types::DepositRequest::signed(&account_key, nonce, value, addr);
    let dep = ledger.deposit(request).await.unwrap();
    let mut tree = veil_primitives::merkle::Tree::new();
    for cm in ledger.commitments(0, 4096).await.unwrap() {
        tree.append(cm).unwrap();
    }
    let note = veil_circuits::spend::SpendPrivate {
        sk,
        value,
        rho,
        path: tree.path(dep.leaf_index).unwrap(),
        rho_change: Rho::random(&mut OsRng),
    };
    (note, account)
}

impl World {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        let ledger = ledger();
        let dir = tempfile::tempdir().unwrap();
        let mut config = node_config(dir.path().to_path_buf());
        tweak(&mut config);
        // Fund the pool so escrows can be opened (turnstile).
        fund_pool(&ledger, 500_000).await;
        let verifier = Arc::new(TestVerifier::default());
        let (node, shutdown) = start_node(config, ledger.clone(), verifier.clone()).await;
        let account = node.account;
        Self {
            ledger,
            verifier,
            node,
            shutdown: Some(shutdown),
            dir,
            account,
        }
    }

    pub async fn client(&self) -> NodeClient<Channel> {
        NodeClient::connect(format!("http://{}", self.node.local_addr))
            .await
            .unwrap()
    }

    pub async fn session(&self) -> Session {
        self.session_with(|_| {}).await
    }

    pub async fn session_with(&self, tweak: impl FnOnce(&mut AccessPublic)) -> Session {
        let key = SigningKey::generate(&mut OsRng);
        let roots = self.ledger.roots().await.unwrap();
        let height = self.ledger.status().await.unwrap().height;
        let mut statement = AccessPublic {
            root: *roots.last().unwrap(),
            nullifier: Nullifier::from_fr(random_fr()),
            cm_change: NoteCommitment::from_fr(random_fr()),
            escrow: Value(ESCROW),
            node_id: self.node.node_id,
            session_key_hash: key.verifying_key().session_key_hash(),
            refund_owner: OwnerKey::from_fr(random_fr()),
            expiry: BlockHeight(height.0 + 50),
        };
        tweak(&mut statement);
        let token = encode_token(&statement, &FakeVerifier::valid_proof());
        Session {
            key,
            statement,
            token,
        }
    }

    pub async fn open(&self, s: &Session) -> Result<pb::OpenSessionResponse, tonic::Status> {
        let mut c = self.client().await;
        c.open_session(pb::OpenSessionRequest {
            version: 1,
            access_token: s.token.clone(),
            session_public_key: s.key.verifying_key().to_bytes().to_vec(),
        })
        .await
        .map(|r| r.into_inner())
    }
}

impl Session {
    /// The session of a real access token, keyed by `key`.
    pub fn of(key: &SigningKey, token: &veil_proofs::AccessToken) -> Self {
        Self {
            key: key.clone(),
            statement: token.public,
            token: token.to_bytes(),
        }
    }

    pub fn id(&self) -> SessionId {
        SessionId::from(self.statement.nullifier)
    }

    /// `sig_S(H(RELAY_BIND, session_id, node_id))` (§9.4).
    pub fn auth(&self, node_id: veil_ledger::types::NodeId) -> Vec<u8> {
        let m = veil_primitives::receipt::relay_bind_message(&self.id().inner(), &node_id.inner());
        self.key.sign(&m).to_bytes().to_vec()
    }

    pub fn receipt(&self, kib: u64) -> Vec<u8> {
        Receipt {
            session_id: self.id().inner(),
            kib,
        }
        .sign(&self.key)
        .to_bytes()
        .to_vec()
    }
}

/// A client end of one Relay call.
pub struct Relay {
    pub tx: mpsc::Sender<pb::ClientFrame>,
    pub rx: tonic::Streaming<pb::NodeFrame>,
    /// The node's id, for the session's Relay binding signature (§9.4).
    pub node_id: veil_ledger::types::NodeId,
}

impl Relay {
    pub async fn start(world: &World) -> Self {
        Self::connect(world.node.local_addr, world.node.node_id).await
    }

    /// A Relay call to `node` with stream 1 opened to 127.0.0.1:`port`
    /// under `session` (asserts `Opened`).
    pub async fn opened(node: &NodeHandle, session: &Session, port: u16) -> Self {
        let mut relay = Self::connect(node.local_addr, node.node_id).await;
        relay.open(session, 1, port).await;
        assert!(matches!(relay.next().await, node_frame::Frame::Opened(_)));
        relay
    }

    /// A Relay call to the node `node_id` listening (plaintext) on `addr`.
    pub async fn connect(addr: std::net::SocketAddr, node_id: veil_ledger::types::NodeId) -> Self {
        let mut c = NodeClient::connect(format!("http://{addr}")).await.unwrap();
        let (tx, rx) = mpsc::channel(64);
        let resp = c.relay(ReceiverStream::new(rx)).await.unwrap();
        Self {
            tx,
            rx: resp.into_inner(),
            node_id,
        }
    }

    pub async fn send(&self, f: client_frame::Frame) {
        self.tx
            .send(pb::ClientFrame { frame: Some(f) })
            .await
            .unwrap();
    }

    pub async fn open(&self, session: &Session, stream_id: u32, port: u16) {
        self.send(client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::SessionId(
                session.id().to_bytes().to_vec(),
            )),
            stream_id,
            host: "127.0.0.1".into(),
            port: u32::from(port),
            session_auth: session.auth(self.node_id),
        }))
        .await;
    }

    pub async fn data(&self, stream_id: u32, bytes: Vec<u8>) {
        self.send(client_frame::Frame::Data(pb::Data { stream_id, bytes }))
            .await;
    }

    pub async fn receipt(&self, bytes: Vec<u8>) {
        self.send(client_frame::Frame::Receipt(pb::Receipt {
            signed_receipt: bytes,
        }))
        .await;
    }

    /// Next frame, skipping `CreditLow` hints.
    pub async fn next(&mut self) -> node_frame::Frame {
        next_frame(&mut self.rx).await
    }
}

/// Next frame of a relay stream, skipping `CreditLow` hints; panics after
/// 10 s without one, or if the stream ends or fails.
pub async fn next_frame(rx: &mut tonic::Streaming<pb::NodeFrame>) -> node_frame::Frame {
    loop {
        let f = tokio::time::timeout(Duration::from_secs(10), rx.message())
            .await
            .expect("frame in time")
            .expect("relay ok")
            .expect("relay open")
            .frame
            .expect("non-empty frame");
        if !matches!(f, node_frame::Frame::CreditLow(_)) {
            return f;
        }
    }
}

/// An echo server on 127.0.0.1; returns its port.
pub async fn echo_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

/// A loopback server that sends `per_conn` bytes to each connection, then
/// closes (the relay benchmarks' source).
pub async fn source_server(per_conn: usize) -> u16 {
    use tokio::io::AsyncWriteExt;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let buf = vec![0x5au8; 256 * 1024];
                let mut left = per_conn;
                while left > 0 {
                    let n = left.min(buf.len());
                    if s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    port
}
