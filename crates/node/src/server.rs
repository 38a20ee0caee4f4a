//! Node start-up: key, database, TLS identity, ledger registration,
//! listener with limits, background tasks (`docs/protocol.md` §9.7, §9.8).
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, info, warn};
use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{AccountId, NodeId};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_server::NodeServer;

use crate::admission::{Admission, BanPolicy, Bans, ConnId, ConnPolicy, Connections, Refusal};
use crate::backend::{AccessVerifier, SettleProver};
use crate::config::{ConfigError, Limits, NodeConfig, Transport};
use crate::keys::{
    KeyFileError, load_or_create_account_key, load_or_create_node_key, read_secret, write_secret,
};
use crate::metering::SessionState;
use crate::service::{NodeService, terms_of};
use crate::settle::{SettleError, SettlementReport};
use crate::state::{Inner, LedgerView, Metrics, NodeStatus, SessionSlot, lock};
use crate::store::{NodeStore, SessionStatus, StoreError};

/// Errors starting a node.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("proof parameters: {0}")]
    Params(String),
    #[error("vouchers: {0}")]
    Vouchers(#[from] crate::vouchers::DeskError),
}

/// The node's TLS identity, as a client pins it (§9.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsInfo {
    /// Self-signed certificate, PEM.
    pub cert_pem: String,
    /// SHA-256 of the certificate (DER).
    pub cert_sha256: [u8; 32],
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (DER): the key hash
    /// registered with the ledger (`NodeRegistration::tls_key_hash`).
    pub spki_sha256: [u8; 32],
}

/// Starts one settlement run (type-erased over the ledger type).
type SettleFn = Box<
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<SettlementReport, SettleError>> + Send>>
        + Send
        + Sync,
>;

/// A running node.
pub struct NodeHandle {
    /// Where the node listens.
    pub local_addr: SocketAddr,
    /// The node's identifier.
    pub node_id: NodeId,
    /// The account the node stakes from and is paid to: `H(ACCOUNT, A)` of
    /// its `account.key` (§8.3).
    pub account: AccountId,
    /// TLS identity (`None` with [`Transport::InsecurePlaintext`]).
    pub tls: Option<TlsInfo>,
    status: Box<dyn Fn() -> NodeStatus + Send + Sync>,
    settle: SettleFn,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl NodeHandle {
    /// Current metrics.
    pub fn status(&self) -> NodeStatus {
        (self.status)()
    }

    /// Settles every session holding a receipt now (closing them), in
    /// batches of the smallest fitting `K`.
    pub async fn settle_now(&self) -> Result<SettlementReport, SettleError> {
        (self.settle)().await
    }

    /// Waits until the server stops (after the shutdown future resolves).
    pub async fn join(self) -> Result<(), NodeError> {
        match self.server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(NodeError::Io(std::io::Error::other(e.to_string()))),
            Err(e) => Err(NodeError::Io(std::io::Error::other(e.to_string()))),
        }
    }
}

/// How long a shutting-down node waits for open connections to drain.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

const TLS_KEY_FILE: &str = "tls.key";
const TLS_CERT_FILE: &str = "tls.crt";
const TLS_CERT_DER_FILE: &str = "tls.crt.der";

/// Loads the TLS identity from `dir`, generating a self-signed one at first start.
fn load_or_create_tls(dir: &Path) -> Result<(TlsInfo, String), NodeError> {
    let key_path = dir.join(TLS_KEY_FILE);
    let tls = |e: &dyn std::fmt::Display| NodeError::Tls(e.to_string());
    if !key_path.exists() {
        let ck = rcgen::generate_simple_self_signed(vec![
            "veil-node".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(|e| tls(&e))?;
        write_secret(&key_path, ck.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(dir.join(TLS_CERT_FILE), ck.cert.pem())?;
        std::fs::write(dir.join(TLS_CERT_DER_FILE), ck.cert.der().as_ref())?;
    }
    let key_pem = String::from_utf8(read_secret(&key_path)?).map_err(|e| tls(&e))?;
    let cert_pem = std::fs::read_to_string(dir.join(TLS_CERT_FILE))?;
    let cert_der = std::fs::read(dir.join(TLS_CERT_DER_FILE))?;
    let key = rcgen::KeyPair::from_pem(&key_pem).map_err(|e| tls(&e))?;
    let info = TlsInfo {
        cert_pem,
        cert_sha256: Sha256::digest(&cert_der).into(),
        spki_sha256: Sha256::digest(rcgen::PublicKeyData::subject_public_key_info(&key)).into(),
    };
    Ok((info, key_pem))
}

/// Length of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;

/// The connection slots shared by the accept loop, the connections and the
/// Relay handler: the [`Connections`] policy (C6) and a way to close each
/// connection it evicts or expires.
pub(crate) struct ConnTable {
    state: Mutex<(Connections, HashMap<ConnId, oneshot::Sender<()>>)>,
}

impl ConnTable {
    fn new(limits: &Limits) -> Self {
        let policy = ConnPolicy {
            max_connections: limits.max_connections,
            max_per_address: limits.max_connections_per_address,
            unpaid_idle: limits.unpaid_idle_timeout,
        };
        Self {
            state: Mutex::new((Connections::new(policy), HashMap::new())),
        }
    }

    /// Decides on a connection from `peer`; on admission returns its id and
    /// the receiver that closes it.
    fn accept(&self, peer: SocketAddr) -> Result<(ConnId, oneshot::Receiver<()>), Refusal> {
        let mut st = lock(&self.state);
        let (id, evicted) = match st.0.accept(peer, Instant::now()) {
            Admission::Admitted(id) => (id, None),
            Admission::AdmittedEvicting { id, evicted } => (id, Some(evicted)),
            Admission::Refused(r) => return Err(r),
        };
        if let Some(kill) = evicted.and_then(|e| st.1.remove(&e)) {
            let _ = kill.send(());
        }
        let (tx, rx) = oneshot::channel();
        st.1.insert(id, tx);
        Ok((id, rx))
    }

    /// Closes every connection unpaid for longer than the idle limit.
    fn expire_idle(&self) {
        let mut st = lock(&self.state);
        for id in st.0.expire_idle(Instant::now()) {
            if let Some(kill) = st.1.remove(&id) {
                let _ = kill.send(());
            }
        }
    }

    fn closed(&self, id: ConnId) {
        let mut st = lock(&self.state);
        st.0.closed(id);
        st.1.remove(&id);
    }

    /// A Relay on `peer`'s connection opened a paid stream.
    pub(crate) fn relay_paid(&self, peer: SocketAddr) -> Option<ConnId> {
        lock(&self.state).0.relay_paid(peer)
    }

    /// A Relay counted by [`Self::relay_paid`] ended.
    pub(crate) fn paid_relay_ended(&self, id: ConnId) {
        lock(&self.state).0.paid_relay_ended(id, Instant::now());
    }
}

/// A Relay's response stream that tells the [`ConnTable`] when the Relay
/// carries paid traffic: from its first `Opened` frame (a stream paid by a
/// session bound with `RELAY_BIND`, or by a voucher, §9.4) until it ends.
pub struct PaidRelayStream {
    frames: ReceiverStream<Result<pb::NodeFrame, tonic::Status>>,
    table: Arc<ConnTable>,
    peer: Option<SocketAddr>,
    paid: Option<ConnId>,
}

impl PaidRelayStream {
    pub(crate) fn new(
        frames: ReceiverStream<Result<pb::NodeFrame, tonic::Status>>,
        table: Arc<ConnTable>,
        peer: Option<SocketAddr>,
    ) -> Self {
        Self {
            frames,
            table,
            peer,
            paid: None,
        }
    }
}

impl tokio_stream::Stream for PaidRelayStream {
    type Item = Result<pb::NodeFrame, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let r = Pin::new(&mut self.frames).poll_next(cx);
        if let Poll::Ready(Some(Ok(pb::NodeFrame {
            frame: Some(pb::node_frame::Frame::Opened(_)),
        }))) = &r
            && self.paid.is_none()
            && let Some(peer) = self.peer.take()
        {
            self.paid = self.table.relay_paid(peer);
        }
        r
    }
}

impl Drop for PaidRelayStream {
    fn drop(&mut self) {
        if let Some(id) = self.paid {
            self.table.paid_relay_ended(id);
        }
    }
}

/// A connection holding one slot of the connection limit (C6).
///
/// Until the peer has sent [`PREFACE_LEN`] bytes, reads fail with
/// `TimedOut` once [`crate::config::Limits::handshake_timeout`] has passed
/// since accept: a peer that sends nothing, or trickles the preface, loses
/// its slot instead of holding it forever (slowloris, C6). Reads fail with
/// `ConnectionAborted` once the [`ConnTable`] evicts or expires it.
struct LimitedConn {
    io: TcpStream,
    table: Arc<ConnTable>,
    id: ConnId,
    /// Fires when the table closes this connection; `None` once fired.
    kill: Option<oneshot::Receiver<()>>,
    /// The table closed it: every read and write fails.
    aborted: bool,
    /// Handshake deadline; `None` once the preface length has arrived.
    handshake: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Bytes read so far while the deadline is armed.
    read: usize,
}

fn reclaimed_error() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::ConnectionAborted,
        "connection slot reclaimed",
    )
}

impl LimitedConn {
    /// Whether the table has closed this connection (registers `cx`).
    fn reclaimed(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(kill) = self.kill.as_mut()
            && let Poll::Ready(r) = Pin::new(kill).poll(cx)
        {
            self.kill = None;
            self.aborted = r.is_ok();
        }
        self.aborted
    }
}

impl Drop for LimitedConn {
    fn drop(&mut self) {
        self.table.closed(self.id);
    }
}

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;
    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

impl AsyncRead for LimitedConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.reclaimed(cx) {
            return Poll::Ready(Err(reclaimed_error()));
        }
        if let Some(deadline) = this.handshake.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "HTTP/2 handshake timeout",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if this.handshake.is_some() && matches!(r, Poll::Ready(Ok(()))) {
            this.read = this
                .read
                .saturating_add(buf.filled().len().saturating_sub(before));
            if this.read >= PREFACE_LEN {
                this.handshake = None;
            }
        }
        r
    }
}

impl AsyncWrite for LimitedConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.reclaimed(cx) {
            return Poll::Ready(Err(reclaimed_error()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Rewrites tonic's `OUT_OF_RANGE` for an over-size message into
/// `RESOURCE_EXHAUSTED` (C1, §9.7), in the response headers of a unary call
/// and in the trailers of a stream (a Relay frame over the limit ends the
/// call from inside the handler). The node itself never answers
/// `OUT_OF_RANGE`.
#[derive(Clone)]
struct OversizeStatus<S>(S);

/// Rewrites `grpc-status: OUT_OF_RANGE` in `headers`.
fn rewrite_out_of_range(headers: &mut http::HeaderMap) {
    let out_of_range = (tonic::Code::OutOfRange as i32).to_string();
    if headers
        .get("grpc-status")
        .is_some_and(|v| v.as_bytes() == out_of_range.as_bytes())
    {
        headers.insert(
            "grpc-status",
            http::HeaderValue::from(tonic::Code::ResourceExhausted as i32),
        );
    }
}

/// A response body whose trailers pass through [`rewrite_out_of_range`].
struct OversizeBody<B>(B);

impl<B: http_body::Body + Unpin> http_body::Body for OversizeBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let r = Pin::new(&mut self.0).poll_frame(cx);
        if let Poll::Ready(Some(Ok(mut f))) = r {
            if let Some(t) = f.trailers_mut() {
                rewrite_out_of_range(t);
            }
            return Poll::Ready(Some(Ok(f)));
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.size_hint()
    }
}

impl<S, B, R> tower::Service<http::Request<B>> for OversizeStatus<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>> + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<OversizeBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let fut = self.0.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            rewrite_out_of_range(resp.headers_mut());
            Ok(resp.map(OversizeBody))
        })
    }
}

/// Accepts connections and hands those the table admits to the server.
async fn accept_loop(
    listener: TcpListener,
    table: Arc<ConnTable>,
    handshake_timeout: std::time::Duration,
    conn_tx: tokio::sync::mpsc::Sender<Result<LimitedConn, std::io::Error>>,
) {
    loop {
        let (io, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                warn!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let (id, kill) = match table.accept(peer) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                debug!(?refusal, "connection refused");
                continue;
            }
        };
        let _ = io.set_nodelay(true);
        let conn = LimitedConn {
            io,
            table: table.clone(),
            id,
            kill: Some(kill),
            aborted: false,
            handshake: Some(Box::pin(tokio::time::sleep(handshake_timeout))),
            read: 0,
        };
        if conn_tx.send(Ok(conn)).await.is_err() {
            return;
        }
    }
}

/// Starts a node: loads (or creates) its key, database and TLS identity,
/// registers it with the ledger, restores its sessions and serves until
/// `shutdown` resolves.
pub async fn spawn_with<L, F>(
    config: NodeConfig,
    ledger: L,
    verifier: Arc<dyn AccessVerifier>,
    prover: Arc<dyn SettleProver>,
    shutdown: F,
) -> Result<NodeHandle, NodeError>
where
    L: LedgerApi,
    F: Future<Output = ()> + Send + 'static,
{
    config.validate()?;
    std::fs::create_dir_all(&config.dir)?;
    let node_key = load_or_create_node_key(&config.dir)?;
    let node_id = node_key.verifying_key().node_id();
    let tls = match config.transport {
        Transport::Tls => Some(load_or_create_tls(&config.dir)?),
        Transport::InsecurePlaintext => None,
    };
    let store = Arc::new(NodeStore::open(&config.dir.join("node.redb"))?);
    let vouchers = Arc::new(crate::vouchers::VoucherDesk::open(
        &config.dir,
        veil_vouchers::NodeId::new(node_id.to_bytes()),
    )?);

    // Register (a no-op for unchanged terms), staking from and paid to the
    // account of `account.key` (§8.3).
    let account_key = load_or_create_account_key(&config.dir)?;
    let tls_key_hash = tls
        .as_ref()
        .map(|(t, _)| t.spki_sha256)
        .unwrap_or([0u8; 32]);
    let account =
        crate::register::register(&ledger, &node_key, &account_key, &config, tls_key_hash)
            .await?
            .registration
            .account;
    let status = ledger.status().await?;
    let roots = ledger.roots().await?;

    // Restore open sessions with their highest receipts. Bytes served
    // before the restart are not persisted: the node assumes the receipt
    // covered them (at most one interval is forgiven per restart).
    let mut sessions = HashMap::new();
    for (record, receipt) in store.sessions()? {
        if record.status != SessionStatus::Open {
            continue;
        }
        let terms = terms_of(&record);
        let highest = receipt.map(|r| (r.receipt.kib, r));
        let served = highest
            .as_ref()
            .map_or(0, |(k, _)| k.saturating_mul(veil_primitives::receipt::KIB));
        let slot = SessionSlot {
            session_key: record.session_key,
            state: Mutex::new(SessionState::restore(terms, served, highest)),
            notify: tokio::sync::Notify::new(),
        };
        sessions.insert(record.session_id, Arc::new(slot));
    }

    let listener = TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let limits = config.limits.clone();
    let conns = Arc::new(ConnTable::new(&limits));
    let inner = Arc::new(Inner {
        verify_slots: Arc::new(Semaphore::new(limits.verify_queue.max(1))),
        ledger,
        verifier,
        prover,
        node_key,
        node_id,
        tls_cert_sha256: tls.as_ref().map(|(t, _)| t.cert_sha256),
        store,
        sessions: Mutex::new(sessions),
        opening: Mutex::new(HashSet::new()),
        view: LedgerView {
            height: AtomicU64::new(status.height.0),
            max_expiry_delta: AtomicU64::new(status.max_expiry_delta),
            challenge_window: AtomicU64::new(status.challenge_window),
            roots: Mutex::new(roots),
        },
        metrics: Metrics::default(),
        bans: Mutex::new(Bans::new(BanPolicy {
            after_failures: limits.ban_after_failures,
            ban_for: limits.ban_duration,
            max_entries: limits.ban_table_size,
        })),
        conns: conns.clone(),
        settle_lock: tokio::sync::Mutex::new(()),
        vouchers,
        config,
    });

    // Accept loop: every connection is accepted at once and admitted or
    // closed by the connection table (C6); a sweeper closes idle unpaid ones.
    let (conn_tx, conn_rx) = tokio::sync::mpsc::channel::<Result<LimitedConn, std::io::Error>>(16);
    let accept = tokio::spawn(accept_loop(
        listener,
        conns.clone(),
        limits.handshake_timeout,
        conn_tx,
    ));
    let sweeper = {
        let conns = conns.clone();
        let every = (limits.unpaid_idle_timeout / 4).clamp(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_secs(1),
        );
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                conns.expire_idle();
            }
        })
    };

    // Ledger view poller and background settlement.
    let poller = {
        let inner = inner.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(inner.config.ledger_poll);
            let mut last_settle = std::time::Instant::now();
            loop {
                tick.tick().await;
                if let Ok(s) = inner.ledger.status().await {
                    inner.view.height.store(s.height.0, Ordering::Release);
                    inner
                        .view
                        .max_expiry_delta
                        .store(s.max_expiry_delta, Ordering::Release);
                    inner
                        .view
                        .challenge_window
                        .store(s.challenge_window, Ordering::Release);
                }
                if let Ok(r) = inner.ledger.roots().await {
                    *crate::state::lock(&inner.view.roots) = r;
                }
                if let Some(every) = inner.config.settle_every
                    && last_settle.elapsed() >= every
                {
                    last_settle = std::time::Instant::now();
                    if let Err(e) = inner.settle(true).await {
                        warn!("settlement failed (will retry): {e}");
                    }
                }
            }
        })
    };

    let svc = NodeServer::new(NodeService {
        inner: inner.clone(),
    })
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);
    let mut builder = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .timeout(limits.request_timeout)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)));
    if let Some((_, key_pem)) = &tls {
        let cert_pem = tls
            .as_ref()
            .map(|(t, _)| t.cert_pem.clone())
            .unwrap_or_default();
        let identity = tonic::transport::Identity::from_pem(cert_pem, key_pem);
        builder = builder
            .tls_config(
                tonic::transport::ServerTlsConfig::new()
                    .identity(identity)
                    .timeout(limits.handshake_timeout),
            )
            .map_err(|e| NodeError::Tls(e.to_string()))?;
    }
    let router = builder
        .layer(tower::layer::layer_fn(OversizeStatus))
        .add_service(svc);
    let server = tokio::spawn(async move {
        // Graceful shutdown waits for open connections to finish; a client
        // that keeps an idle HTTP/2 connection would hold it for the whole
        // idle timeout, so draining is bounded by SHUTDOWN_GRACE.
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = fired_tx.send(());
        };
        let serve = router.serve_with_incoming_shutdown(ReceiverStream::new(conn_rx), shutdown);
        tokio::pin!(serve);
        let grace = async move {
            match fired_rx.await {
                Ok(()) => tokio::time::sleep(SHUTDOWN_GRACE).await,
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let r = tokio::select! {
            r = &mut serve => r,
            () = grace => {
                info!("shutdown grace period over; closing remaining connections");
                Ok(())
            }
        };
        accept.abort();
        sweeper.abort();
        poller.abort();
        r
    });
    info!(%local_addr, node_id = %node_id, "node serving");

    let status_inner = inner.clone();
    let settle_inner = inner;
    Ok(NodeHandle {
        local_addr,
        node_id,
        account,
        tls: tls.map(|(t, _)| t),
        status: Box::new(move || status_inner.status()),
        settle: Box::new(move || {
            let inner = settle_inner.clone();
            Box::pin(async move { inner.settle(false).await })
        }),
        server,
    })
}
