//! Node start-up: key, database, TLS identity, ledger registration,
//! listener with limits, background tasks (`docs/protocol.md` §9.7, §9.8).
use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;
use tracing::{info, warn};
use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{AccountId, NodeId, NodeRecord};
use veil_primitives::eddsa::SigningKey;
use veil_primitives::progress::{Progress, Silent};
use veil_proto::node::v1::node_server::NodeServer;

use crate::admission::{BanPolicy, Bans};
use crate::backend::{AccessVerifier, SettleProver};
use crate::config::{ConfigError, Limits, NodeConfig, Transport};
use crate::conns::{ConnTable, LimitedConn, accept_loop};
use crate::keys::{KeyFileError, load_or_create_account_key, load_or_create_node_key};
use crate::rpc::NodeService;
use crate::session::SessionTable;
use crate::settle::{SettleError, SettlementReport};
use crate::state::{Inner, LedgerView, Metrics, NodeStatus};
use crate::store::{NodeStore, StoreError};
use crate::tls::{Identity, ServerCert, TlsError};
use crate::voucher_desk::{DeskError, VoucherDesk};
use crate::voucher_keys::UnixSecs;

/// File name of the node database inside the node directory.
pub const NODE_DB_FILE: &str = "node.redb";

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
    Vouchers(#[from] DeskError),
    #[error(transparent)]
    Profile(#[from] veil_ledger::profile::ProfileError),
}

pub use crate::tls::TlsInfo;

impl From<TlsError> for NodeError {
    fn from(e: TlsError) -> Self {
        NodeError::Tls(e.to_string())
    }
}

/// Starts one settlement run (type-erased over the ledger type).
type SettleFn = Box<
    dyn Fn(
            Arc<dyn Progress>,
        ) -> Pin<Box<dyn Future<Output = Result<SettlementReport, SettleError>> + Send>>
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
    /// TLS identity served now (`None` with [`Transport::InsecurePlaintext`]).
    tls: crate::tls::CurrentTls,
    status: Box<dyn Fn() -> NodeStatus + Send + Sync>,
    metrics_text: crate::ops_http::MetricsSource,
    settle: SettleFn,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl NodeHandle {
    /// The TLS identity the node presents to new handshakes now: after a
    /// rotation is promoted (§9.8), the new one. `None` without TLS.
    pub fn tls(&self) -> Option<TlsInfo> {
        self.tls.read().ok().and_then(|t| t.clone())
    }

    /// Current metrics.
    pub fn status(&self) -> NodeStatus {
        (self.status)()
    }

    /// Every metric in Prometheus text format (docs/operations.md).
    pub fn metrics_text(&self) -> String {
        self.metrics_text.metrics_text()
    }

    /// What the operator's endpoint serves ([`crate::ops_http::serve_metrics`]):
    /// the metrics, the status page and its history; it outlives the handle.
    pub fn metrics_source(&self) -> crate::ops_http::MetricsSource {
        self.metrics_text.clone()
    }

    /// Settles every session holding a receipt now (closing them), in
    /// batches of the smallest fitting `K`.
    pub async fn settle_now(&self) -> Result<SettlementReport, SettleError> {
        (self.settle)(Arc::new(Silent)).await
    }

    /// [`Self::settle_now`], reporting each batch's proof to `progress`
    /// ([`crate::settle::SETTLE_STEP`]).
    pub async fn settle_now_with(
        &self,
        progress: Arc<dyn Progress>,
    ) -> Result<SettlementReport, SettleError> {
        (self.settle)(progress).await
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

/// What the node keeps in its directory (`docs/node.md` "Files and restarts").
struct NodeFiles {
    node_key: SigningKey,
    account_key: SigningKey,
    tls: Option<Identity>,
    store: Arc<NodeStore>,
    vouchers: Arc<VoucherDesk>,
}

impl NodeFiles {
    /// Loads (or creates) the keys, TLS identity and database; moves the
    /// voucher tables of a pre-issue-9 `vouchers.redb` into `node.redb`.
    fn open(config: &NodeConfig) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&config.dir)?;
        let node_key = load_or_create_node_key(&config.dir)?;
        let tls = match config.transport {
            Transport::Tls => Some(crate::tls::load_or_create(&config.dir)?),
            Transport::InsecurePlaintext => None,
        };
        let store = Arc::new(NodeStore::open(&config.dir.join(NODE_DB_FILE))?);
        if store.import_legacy_vouchers(&config.dir)? {
            info!("voucher tables moved from vouchers.redb into node.redb");
        }
        let voucher_node_id =
            veil_vouchers::NodeId::new(node_key.verifying_key().node_id().to_bytes());
        let vouchers = Arc::new(VoucherDesk::open(
            &config.dir,
            voucher_node_id,
            store.clone(),
        )?);
        let account_key = load_or_create_account_key(&config.dir)?;
        Ok(Self {
            node_key,
            account_key,
            tls,
            store,
            vouchers,
        })
    }
}

/// Registers the node's configured terms and profile (a no-op for
/// unchanged ones) and returns the account it is paid to.
async fn register<L: LedgerApi>(
    ledger: &L,
    config: &NodeConfig,
    files: &NodeFiles,
    bound: SocketAddr,
) -> Result<NodeRecord, NodeError> {
    let tls_key_hash = files
        .tls
        .as_ref()
        .map(|t| t.info.spki_sha256)
        .unwrap_or([0u8; 32]);
    let keys = crate::voucher_rotate::published_keys(&files.vouchers, UnixSecs::now());
    let profile = crate::register::node_profile(config, bound, config.voucher_grace_secs, keys);
    let terms = crate::register::configured_terms(config, tls_key_hash, &profile)?;
    Ok(
        crate::register::register(ledger, &files.node_key, &files.account_key, config, terms)
            .await?,
    )
}

/// The shared state of a node that has registered and restored its sessions.
fn build_inner<L>(
    config: NodeConfig,
    ledger: L,
    backend: (Arc<dyn AccessVerifier>, Arc<dyn SettleProver>),
    files: NodeFiles,
    view: LedgerView,
    sessions: SessionTable,
    conns: Arc<ConnTable>,
) -> Inner<L> {
    let limits = &config.limits;
    let bans = Bans::new(BanPolicy {
        after_failures: limits.ban_after_failures,
        ban_for: limits.ban_duration,
        max_entries: limits.ban_table_size,
    });
    Inner {
        verify_slots: Arc::new(Semaphore::new(limits.verify_queue.max(1))),
        bans: Mutex::new(bans),
        ledger,
        verifier: backend.0,
        prover: backend.1,
        node_id: files.node_key.verifying_key().node_id(),
        node_key: files.node_key,
        tls: Arc::new(std::sync::RwLock::new(
            files.tls.as_ref().map(|t| t.info.clone()),
        )),
        store: files.store,
        sessions: Mutex::new(sessions),
        opening: Mutex::new(HashSet::new()),
        view,
        metrics: Metrics::default(),
        history: Arc::default(),
        conns,
        settle_lock: tokio::sync::Mutex::new(()),
        vouchers: files.vouchers,
        peers: crate::peers::Peers::default(),
        relays: tokio_util::task::TaskTracker::new(),
        pace: crate::pace::Pace::new(limits.relay_limit_kbps),
        config,
    }
}

/// The background tasks of a running node.
struct Tasks {
    accept: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    poller: JoinHandle<()>,
}

impl Tasks {
    /// Aborts the background tasks and waits until they are gone, then
    /// waits (at most [`SHUTDOWN_GRACE`]) for the relay tasks, whose
    /// connections are closed by now: every holder of the store is dropped.
    async fn stop(self, relays: tokio_util::task::TaskTracker) {
        for t in [self.accept, self.sweeper, self.poller] {
            t.abort();
            let _ = t.await;
        }
        relays.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, relays.wait())
            .await
            .is_err()
        {
            warn!("relay tasks still running after the grace period");
        }
    }
}

/// Accept loop: every connection is accepted at once and admitted or
/// closed by the connection table (C6); a sweeper closes idle unpaid ones.
fn spawn_accept(
    listener: TcpListener,
    conns: &Arc<ConnTable>,
    limits: &Limits,
) -> (JoinHandle<()>, JoinHandle<()>, ConnReceiver) {
    let (conn_tx, conn_rx) = tokio::sync::mpsc::channel(16);
    let accept = tokio::spawn(accept_loop(
        listener,
        conns.clone(),
        limits.handshake_timeout,
        conn_tx,
    ));
    let every = (limits.unpaid_idle_timeout / 4).clamp(
        std::time::Duration::from_millis(10),
        std::time::Duration::from_secs(1),
    );
    let conns = conns.clone();
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            conns.expire_idle();
        }
    });
    (accept, sweeper, conn_rx)
}

type ConnReceiver = tokio::sync::mpsc::Receiver<Result<LimitedConn, std::io::Error>>;

/// Ledger view poller, TLS rotation follower and background settlement.
/// How often the node re-reads the other nodes' endpoints (§9.4).
const PEERS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
/// How often the node looks for ledger challenges to answer (§8.3.14): far
/// inside the answer window of a market epoch.
const CHALLENGES_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

fn spawn_poller<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    cert: Option<Arc<ServerCert>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(inner.config.ledger_poll);
        let mut last_settle = std::time::Instant::now();
        let mut last_peers: Option<std::time::Instant> = None;
        let mut last_challenges: Option<std::time::Instant> = None;
        let mut closed_challenges = std::collections::BTreeSet::new();
        loop {
            tick.tick().await;
            inner.refresh_view().await;
            if last_peers.is_none_or(|t| t.elapsed() >= PEERS_EVERY) {
                last_peers = Some(std::time::Instant::now());
                if inner
                    .peers
                    .refresh(&inner.ledger, inner.node_id)
                    .await
                    .is_err()
                {
                    inner.metrics.ledger_error("list_nodes");
                }
                crate::voucher_rotate::drop_stale_keys(&inner).await;
            }
            if inner.config.answer_challenges
                && last_challenges.is_none_or(|t| t.elapsed() >= CHALLENGES_EVERY)
            {
                last_challenges = Some(std::time::Instant::now());
                crate::answer::answer_open(&inner, &mut closed_challenges).await;
            }
            if let Some(cert) = &cert {
                follow_rotation(&inner, cert).await;
            }
            crate::voucher_rotate::follow(&inner).await;
            if let Some(every) = inner.config.settle_every
                && last_settle.elapsed() >= every
            {
                last_settle = std::time::Instant::now();
                if let Err(e) = inner.settle(true, &Silent).await {
                    inner.metrics.settlements_failed.inc();
                    if matches!(e, SettleError::Ledger(_)) {
                        inner.metrics.ledger_error("settle");
                    }
                    warn!("settlement failed (will retry): {e}");
                }
            }
        }
    })
}

/// A TLS rotation (`docs/node.md` "Rotating the TLS key", §8.3.8): while a
/// staged identity waits in the node directory, reads the node's ledger
/// record; once it names the staged key, promotes it and presents it to
/// every new handshake. Connections already established keep theirs.
async fn follow_rotation<L: LedgerApi>(inner: &Inner<L>, cert: &ServerCert) {
    if !crate::tls::has_staged(&inner.config.dir) {
        return;
    }
    let record = match inner.ledger.get_node(inner.node_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return,
        Err(e) => {
            inner.metrics.ledger_error("get_node");
            warn!("reading the node record for a TLS rotation failed (will retry): {e}");
            return;
        }
    };
    match crate::tls::promote_if_in_force(&inner.config.dir, record.tls_key_hash()) {
        Ok(Some(id)) => match cert.swap(&id) {
            Ok(()) => {
                if let Ok(mut t) = inner.tls.write() {
                    *t = Some(id.info.clone());
                }
                info!(
                tls_spki_sha256 = %hex::encode(id.info.spki_sha256),
                "TLS key rotated: new connections get the new key"
                )
            }
            Err(e) => warn!("serving the rotated TLS key failed: {e}"),
        },
        Ok(None) => {}
        Err(e) => warn!("promoting the staged TLS key failed (will retry): {e}"),
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
    let mut files = NodeFiles::open(&config)?;
    let node_id = files.node_key.verifying_key().node_id();
    // A rotation the ledger applied while the node was down is finished
    // before anything is registered or served.
    if files.tls.is_some()
        && let Some(record) = ledger.get_node(node_id).await?
        && let Some(id) = crate::tls::promote_if_in_force(&config.dir, record.tls_key_hash())?
    {
        files.tls = Some(id);
    }
    // So is a voucher key rotation (docs/vouchers.md §3.2).
    if let Some(record) = ledger.get_node(node_id).await? {
        crate::voucher_rotate::promote_published(&files.vouchers, &record, UnixSecs::now())?;
    }
    // Register (a no-op for unchanged terms), staking from and paid to the
    // account of `account.key` (§8.3).
    // Bound first: the profile publishes the bound address.
    let listener = TcpListener::bind(config.listen).await?;
    let local_addr = listener.local_addr()?;
    let record = register(&ledger, &config, &files, local_addr).await?;
    let account = record.registration.account;
    let view = LedgerView::new(ledger.status().await?, ledger.roots().await?);
    view.retired
        .store(record.is_retired(), std::sync::atomic::Ordering::Release);
    let sessions = crate::session::restore(&files.store)?;

    let limits = config.limits.clone();
    let conns = Arc::new(ConnTable::new(&limits));
    let cert = files
        .tls
        .as_ref()
        .map(|t| ServerCert::new(t).map(Arc::new))
        .transpose()?;
    let backend = (verifier, prover);
    let inner = Arc::new(build_inner(
        config,
        ledger,
        backend,
        files,
        view,
        sessions,
        conns.clone(),
    ));
    let (accept, sweeper, conn_rx) = spawn_accept(listener, &conns, &limits);
    let poller = spawn_poller(inner.clone(), cert.clone());
    let tasks = Tasks {
        accept,
        sweeper,
        poller,
    };
    let server = serve(&inner, cert, conn_rx, shutdown, tasks)?;
    info!(%local_addr, node_id = %node_id, "node serving");
    Ok(handle(inner, local_addr, account, server))
}

/// Serves the gRPC service on the admitted connections until `shutdown`
/// resolves (then at most [`SHUTDOWN_GRACE`] more), then stops the tasks.
/// With TLS, the node completes each handshake itself ([`crate::tls`]),
/// presenting the certificate `cert` holds at that moment.
fn serve<L: LedgerApi, F>(
    inner: &Arc<Inner<L>>,
    cert: Option<Arc<ServerCert>>,
    conn_rx: ConnReceiver,
    shutdown: F,
    tasks: Tasks,
) -> Result<JoinHandle<Result<(), tonic::transport::Error>>, NodeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    Ok(match cert {
        Some(cert) => {
            let acceptor = crate::tls::acceptor(cert)?;
            let timeout = inner.config.limits.handshake_timeout;
            let tls_rx = crate::tls::handshakes(acceptor, conn_rx, timeout);
            serve_on(inner, tls_rx, shutdown, tasks)
        }
        None => serve_on(inner, conn_rx, shutdown, tasks),
    })
}

/// [`serve`] on established connections of type `IO`.
fn serve_on<L: LedgerApi, F, IO>(
    inner: &Arc<Inner<L>>,
    incoming: tokio::sync::mpsc::Receiver<Result<IO, std::io::Error>>,
    shutdown: F,
    tasks: Tasks,
) -> JoinHandle<Result<(), tonic::transport::Error>>
where
    F: Future<Output = ()> + Send + 'static,
    IO: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + tonic::transport::server::Connected
        + Unpin
        + Send
        + 'static,
{
    let limits = &inner.config.limits;
    let svc = NodeServer::new(NodeService {
        inner: inner.clone(),
    })
    .max_decoding_message_size(limits.max_message_bytes)
    .max_encoding_message_size(limits.max_message_bytes);
    let router = tonic::transport::Server::builder()
        .max_concurrent_streams(limits.max_concurrent_streams)
        .timeout(limits.request_timeout)
        .http2_keepalive_interval(Some(std::time::Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)))
        .layer(tower::layer::layer_fn(OversizeStatus))
        .add_service(svc);
    let relays = inner.relays.clone();
    tokio::spawn(async move {
        // Graceful shutdown waits for open connections to finish; a client
        // that keeps an idle HTTP/2 connection would hold it for the whole
        // idle timeout, so draining is bounded by SHUTDOWN_GRACE.
        let (fired_tx, fired_rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            shutdown.await;
            let _ = fired_tx.send(());
        };
        let serve = router.serve_with_incoming_shutdown(ReceiverStream::new(incoming), shutdown);
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
        tasks.stop(relays).await;
        r
    })
}

/// The handle of a serving node.
fn handle<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    local_addr: SocketAddr,
    account: AccountId,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
) -> NodeHandle {
    let status_inner = inner.clone();
    let metrics_inner = inner.clone();
    let sample_inner = inner.clone();
    let metrics_text = crate::ops_http::MetricsSource::new(
        Arc::new(move || metrics_inner.metrics_text()),
        Arc::new(move |at| sample_inner.status().sample(at)),
        inner.history.clone(),
    );
    NodeHandle {
        local_addr,
        node_id: inner.node_id,
        account,
        tls: inner.tls.clone(),
        status: Box::new(move || status_inner.status()),
        metrics_text,
        settle: Box::new(move |progress| {
            let inner = inner.clone();
            Box::pin(async move { inner.settle(false, &*progress).await })
        }),
        server,
    }
}
