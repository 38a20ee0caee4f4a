//! Client-side TLS against a real node (`docs/protocol.md` §9.8): the
//! node's key is pinned by its SPKI hash, taken from the ledger registration
//! or given explicitly; anything else is refused before a request is sent.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;
use veil_client::ClientError;
use veil_client::pin::TlsKeyHash;
use veil_client::session::NodeConnection;
use veil_ledger::types::{NodeId, Proof, Value};
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerConfig};
use veil_node::backend::{ProveError, TokenDecodeError};
use veil_node::{
    AccessToken, AccessVerifier, NodeConfig, NodeHandle, SettleProver, SettleSlotWitness, Transport,
};
use veil_primitives::eddsa::SigningKey;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;

/// Counts every access token that reaches the node; accepts none.
#[derive(Default)]
struct CountingVerifier {
    tokens: AtomicU64,
}

impl AccessVerifier for CountingVerifier {
    fn decode(&self, _: &[u8]) -> Result<AccessToken, TokenDecodeError> {
        self.tokens.fetch_add(1, Ordering::SeqCst);
        Err(TokenDecodeError("test verifier accepts nothing".into()))
    }
    fn verify(&self, _: &AccessToken) -> bool {
        false
    }
}

struct NoProver;

impl SettleProver for NoProver {
    fn batch_sizes(&self) -> Vec<u32> {
        vec![8]
    }
    fn prove(
        &self,
        _: NodeId,
        _: u32,
        _: Value,
        _: &[SettleSlotWitness],
    ) -> Result<Proof, ProveError> {
        Err(ProveError("not in this test".into()))
    }
}

fn ledger() -> EmbeddedLedger {
    let config = LedgerConfig {
        challenge_window: 20,
        max_expiry_delta: 100,
        settle_batch_sizes: vec![1, 8],
        dev_faucet: false,
    };
    EmbeddedLedger::in_memory(Arc::new(FakeVerifier::default()), config).expect("ledger")
}

struct Node {
    handle: NodeHandle,
    tokens: Arc<CountingVerifier>,
    _stop: oneshot::Sender<()>,
}

impl Node {
    async fn start(dir: &Path, ledger: EmbeddedLedger, transport: Transport) -> Self {
        let mut config = NodeConfig::new(
            "127.0.0.1:0".parse().expect("addr"),
            dir.to_path_buf(),
            Value(2),
            vec![Value(512)],
        );
        config.transport = transport;
        let tokens = Arc::new(CountingVerifier::default());
        let (tx, rx) = oneshot::channel::<()>();
        let handle =
            veil_node::spawn_with(config, ledger, tokens.clone(), Arc::new(NoProver), async {
                let _ = rx.await;
            })
            .await
            .expect("node starts");
        Node {
            handle,
            tokens,
            _stop: tx,
        }
    }

    fn url(&self) -> String {
        format!("https://{}", self.handle.local_addr)
    }

    fn pin(&self) -> TlsKeyHash {
        TlsKeyHash::from_bytes(self.handle.tls().expect("TLS node").spki_sha256)
    }

    fn tokens(&self) -> u64 {
        self.tokens.tokens.load(Ordering::SeqCst)
    }
}

/// Sends a (garbage) access token: reaches the verifier iff the connection does.
async fn send_token(conn: &mut NodeConnection) {
    let _ = conn
        .grpc()
        .open_session(pb::OpenSessionRequest {
            version: WIRE_VERSION,
            access_token: vec![1; veil_node::ACCESS_TOKEN_BYTES],
            session_public_key: SigningKey::generate(&mut rand::rngs::OsRng)
                .verifying_key()
                .to_bytes()
                .to_vec(),
        })
        .await;
}

#[tokio::test]
async fn pinned_connection_gets_terms_and_carries_tokens() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::Tls).await;
    let mut conn = NodeConnection::connect_pinned(&node.url(), node.pin())
        .await
        .expect("pinned connect");
    let terms = conn.terms().await.expect("terms over TLS");
    assert_eq!(terms.node_id, node.handle.node_id);
    send_token(&mut conn).await;
    assert_eq!(
        node.tokens(),
        1,
        "the token reached the node over pinned TLS"
    );
}

#[tokio::test]
async fn wrong_pin_fails_the_handshake_naming_both_hashes() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::Tls).await;
    let wrong = TlsKeyHash::from_bytes([7; 32]);
    match NodeConnection::connect_pinned(&node.url(), wrong).await {
        Err(ClientError::PinMismatch {
            expected,
            presented,
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(presented, node.pin());
            let msg = ClientError::PinMismatch {
                expected,
                presented,
            }
            .to_string();
            assert!(msg.contains(&wrong.to_string()) && msg.contains(&node.pin().to_string()));
        }
        Err(e) => panic!("expected a pin mismatch, got {e}"),
        Ok(_) => panic!("a wrong pin was accepted"),
    }
    let s = node.handle.status();
    assert_eq!(
        (s.sessions_total, s.tokens_rejected, node.tokens()),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn connect_via_ledger_pins_the_registered_key() {
    let dir = tempfile::tempdir().expect("dir");
    let ledger = ledger();
    let node = Node::start(dir.path(), ledger.clone(), Transport::Tls).await;
    let mut conn = NodeConnection::connect_via_ledger(&node.url(), &ledger)
        .await
        .expect("connect via ledger");
    assert_eq!(
        conn.endpoint().transport(),
        veil_client::transport::NodeTransport::Pinned(node.pin())
    );
    assert_eq!(
        conn.terms().await.expect("terms").node_id,
        node.handle.node_id
    );
    // `http://` in the user's URL still means TLS here.
    let plain_scheme = format!("http://{}", node.handle.local_addr);
    NodeConnection::connect_via_ledger(&plain_scheme, &ledger)
        .await
        .expect("scheme is normalised; the wire is TLS");
    send_token(&mut conn).await;
    assert_eq!(node.tokens(), 1);
}

/// A node presenting another TLS key than the one registered for its node id
/// (here: the same node key, a different TLS key, registered elsewhere — what
/// a MITM holding a stolen node key but not the TLS key would look like) is
/// refused before the caller gets a connection to send a token on.
#[tokio::test]
async fn registration_with_another_tls_key_is_refused_before_any_token() {
    let real_dir = tempfile::tempdir().expect("dir");
    let ledger = ledger();
    let real = Node::start(real_dir.path(), ledger.clone(), Transport::Tls).await;
    let mitm_dir = tempfile::tempdir().expect("dir");
    std::fs::copy(
        real_dir.path().join("node.key"),
        mitm_dir.path().join("node.key"),
    )
    .expect("copy node key");
    let mitm = Node::start(mitm_dir.path(), self::ledger(), Transport::Tls).await;
    assert_eq!(mitm.handle.node_id, real.handle.node_id);
    assert_ne!(mitm.pin(), real.pin());
    match NodeConnection::connect_via_ledger(&mitm.url(), &ledger).await {
        Err(ClientError::RegistrationMismatch { what, .. }) => {
            assert!(what.contains(&mitm.pin().to_string()), "{what}");
            assert!(what.contains(&real.pin().to_string()), "{what}");
        }
        Err(e) => panic!("expected a registration mismatch, got {e}"),
        Ok(_) => panic!("a node presenting an unregistered TLS key was accepted"),
    }
    assert_eq!(mitm.tokens(), 0);
    assert_eq!(mitm.handle.status().sessions_total, 0);
}

#[tokio::test]
async fn unregistered_node_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::Tls).await;
    let other_ledger = ledger();
    match NodeConnection::connect_via_ledger(&node.url(), &other_ledger).await {
        Err(ClientError::NodeNotRegistered { node_id }) => {
            assert_eq!(node_id, hex::encode(node.handle.node_id.to_bytes()));
        }
        Err(e) => panic!("expected not registered, got {e}"),
        Ok(_) => panic!("an unregistered node was accepted"),
    }
}

#[tokio::test]
async fn plaintext_client_cannot_talk_to_a_tls_node() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::Tls).await;
    let url = format!("http://{}", node.handle.local_addr);
    let result = async {
        let mut c = NodeConnection::connect_plaintext(&url).await?;
        c.terms().await
    }
    .await;
    assert!(result.is_err(), "plaintext reached a TLS node");
}

#[tokio::test]
async fn pinned_client_cannot_talk_to_a_plaintext_node() {
    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::InsecurePlaintext).await;
    let url = format!("https://{}", node.handle.local_addr);
    let result = NodeConnection::connect_pinned(&url, TlsKeyHash::from_bytes([1; 32])).await;
    assert!(matches!(result, Err(ClientError::Transport(_))));
}

/// A server presenting the node's certificate (so the pin matches) without
/// its private key fails: the handshake signature is checked against the
/// pinned key, not just the certificate bytes.
#[tokio::test]
async fn certificate_without_its_key_fails_the_handshake_signature() {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    let dir = tempfile::tempdir().expect("dir");
    let node = Node::start(dir.path(), ledger(), Transport::Tls).await;
    let cert = CertificateDer::from(std::fs::read(dir.path().join("tls.crt.der")).expect("cert"));
    let impostor_key = rcgen::KeyPair::generate().expect("key");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(impostor_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let signing = provider
        .key_provider
        .load_private_key(key)
        .expect("signing key");
    // CertifiedKey::new does not check that the key matches the certificate.
    let certified = Arc::new(rustls::sign::CertifiedKey::new(vec![cert], signing));
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(self.0.clone())
        }
    }
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(certified)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        acceptor.accept(tcp).await.map(|_| ())
    });
    let result = NodeConnection::connect_pinned(&format!("https://{addr}"), node.pin()).await;
    assert!(
        matches!(result, Err(ClientError::Transport(_))),
        "an impostor holding only the certificate was accepted"
    );
    assert!(server.await.expect("join").is_err(), "handshake completed");
}
