//! A node cannot tell a monitor from a client (issue 14; docs/market.md
//! §6.3, docs/security.md M8): the node's whole view of a monitor's audit
//! equals its view of an ordinary client's session fetching the same bytes.
//!
//! A recording gRPC proxy stands where the node's own service stands: it
//! forwards every call to a real node (plaintext, over the embedded
//! ledger with the development keys) and records what the node receives
//! — each RPC with its metadata, the shape of `OpenSession` and of the
//! access token's public terms, and every relay frame — with only the
//! values that are random by construction (nonces, keys, proofs, the
//! nullifier) reduced to their lengths. The client side is what `veil
//! connect` runs: a session from `flow::start_session` behind the SOCKS5
//! front end, and a user fetching through it; the monitor side is
//! `veil_client::monitor::audit`. A monitor sending anything a client does
//! not — extra challenges after the transfer, other terms, another order
//! of frames — fails the comparison.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};
use veil_client::flow::{finish_session, start_session};
use veil_client::monitor::{AuditPlan, audit, spawn_target};
use veil_client::session::NodeConnection;
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;
use veil_client::wallet::Wallet;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover};
use veil_proto::node::v1::{self as pb, client_frame::Frame, node_client::NodeClient};

const ESCROW: u64 = 4096;
/// Body bytes both fetch.
const BYTES: u64 = 1 << 20;

/// What the node receives, with random values reduced to their lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    /// An RPC and its request metadata (sorted).
    Call(&'static str, Vec<(String, String)>),
    /// `OpenSession`: the token's length, the escrow and expiry it asks
    /// for (expiry as blocks past the ledger's height), the session key's
    /// length.
    Open {
        token_len: usize,
        escrow: u64,
        expiry_ahead: u64,
        /// How many roots the ledger took since the token's (0: its latest).
        root_age: Option<usize>,
        key_len: usize,
    },
    Frame(FrameShape),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum FrameShape {
    Open { stream: u32, target: String },
    Data { stream: u32, len: usize },
    Close { stream: u32 },
    Receipt { len: usize },
    Challenge { len: usize },
}

fn frame_shape(f: &pb::ClientFrame) -> Option<FrameShape> {
    Some(match f.frame.as_ref()? {
        Frame::Open(o) => FrameShape::Open {
            stream: o.stream_id,
            target: format!("{:?}", (&o.host, o.port)),
        },
        Frame::Data(d) => FrameShape::Data {
            stream: d.stream_id,
            len: d.bytes.len(),
        },
        Frame::Close(c) => FrameShape::Close {
            stream: c.stream_id,
        },
        Frame::Receipt(r) => FrameShape::Receipt {
            len: r.signed_receipt.len(),
        },
        Frame::Challenge(c) => FrameShape::Challenge { len: c.nonce.len() },
    })
}

/// The node's service, recording what reaches it and forwarding it.
#[derive(Clone)]
struct Recorder {
    upstream: NodeClient<Channel>,
    ledger: EmbeddedLedger,
    log: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn saw(&self, s: Seen) {
        self.log.lock().expect("log").push(s);
    }

    fn call<T>(&self, name: &'static str, r: &Request<T>) {
        let mut meta: Vec<(String, String)> = r
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect();
        meta.sort();
        self.saw(Seen::Call(name, meta));
    }

    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.log.lock().expect("log"))
    }
}

type FrameStream = Pin<Box<dyn Stream<Item = Result<pb::NodeFrame, Status>> + Send>>;

#[tonic::async_trait]
impl pb::node_server::Node for Recorder {
    async fn get_terms(
        &self,
        r: Request<pb::GetTermsRequest>,
    ) -> Result<Response<pb::GetTermsResponse>, Status> {
        self.call("GetTerms", &r);
        self.upstream.clone().get_terms(r.into_inner()).await
    }

    async fn open_session(
        &self,
        r: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        self.call("OpenSession", &r);
        let m = r.get_ref();
        let token = veil_proofs::AccessToken::from_bytes(&m.access_token)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let internal = |e: veil_ledger::LedgerError| Status::internal(e.to_string());
        let height = self.ledger.status().await.map_err(internal)?.height;
        let roots = self.ledger.roots().await.map_err(internal)?;
        self.saw(Seen::Open {
            token_len: m.access_token.len(),
            escrow: token.public.escrow.get(),
            expiry_ahead: token.public.expiry.0.saturating_sub(height.0),
            root_age: roots.iter().rev().position(|r| *r == token.public.root),
            key_len: m.session_public_key.len(),
        });
        self.upstream.clone().open_session(r.into_inner()).await
    }

    type RelayStream = FrameStream;

    async fn relay(
        &self,
        r: Request<Streaming<pb::ClientFrame>>,
    ) -> Result<Response<FrameStream>, Status> {
        self.call("Relay", &r);
        let me = self.clone();
        let frames = r.into_inner().filter_map(Result::ok).map(move |f| {
            if let Some(shape) = frame_shape(&f) {
                me.saw(Seen::Frame(shape));
            }
            f
        });
        let answer = self.upstream.clone().relay(frames).await?;
        Ok(Response::new(Box::pin(answer.into_inner())))
    }

    async fn status(
        &self,
        r: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        self.call("Status", &r);
        self.upstream.clone().status(r.into_inner()).await
    }

    async fn buy_voucher(
        &self,
        r: Request<pb::BuyVoucherRequest>,
    ) -> Result<Response<pb::BuyVoucherResponse>, Status> {
        self.call("BuyVoucher", &r);
        self.upstream.clone().buy_voucher(r.into_inner()).await
    }

    async fn voucher_challenge(
        &self,
        r: Request<pb::VoucherChallengeRequest>,
    ) -> Result<Response<pb::VoucherChallengeResponse>, Status> {
        self.call("VoucherChallenge", &r);
        self.upstream
            .clone()
            .voucher_challenge(r.into_inner())
            .await
    }

    async fn exchange_voucher(
        &self,
        r: Request<pb::ExchangeVoucherRequest>,
    ) -> Result<Response<pb::ExchangeVoucherResponse>, Status> {
        self.call("ExchangeVoucher", &r);
        self.upstream.clone().exchange_voucher(r.into_inner()).await
    }
}

/// A view with consecutive `GetTerms` calls folded into one: a client
/// re-reads the terms until the node knows its wallet's root, as often as
/// the node's ledger poll makes it (timing, not who is asking).
fn folded(view: Vec<Seen>) -> Vec<Seen> {
    let mut out: Vec<Seen> = Vec::new();
    for s in view {
        let repeat = matches!(
            (&s, out.last()),
            (Seen::Call("GetTerms", _), Some(Seen::Call("GetTerms", _)))
        );
        if !repeat {
            out.push(s);
        }
    }
    out
}

async fn funded_wallet(
    ledger: &EmbeddedLedger,
    dir: &std::path::Path,
    name: &str,
    rng: &mut StdRng,
) -> Wallet {
    let sk = veil_primitives::keys::SpendingKey::random(rng);
    let mut w = Wallet::create(&dir.join(name), sk.inner(), [0x42; 32]).expect("wallet");
    veil_client::ops::deposit(ledger, &mut w, ESCROW, true, rng)
        .await
        .expect("deposit");
    w
}

/// Fetches `GET /n` from `target` through the SOCKS5 front end at `proxy`,
/// as a user's program would; returns the bytes received.
async fn fetch_via_socks(proxy: SocketAddr, target: SocketAddr, n: u64) -> usize {
    let mut s = TcpStream::connect(proxy).await.expect("socks");
    s.write_all(&[5, 1, 0]).await.expect("greeting");
    let mut two = [0u8; 2];
    s.read_exact(&mut two).await.expect("method");
    assert_eq!(two, [5, 0]);
    let SocketAddr::V4(t) = target else {
        panic!("an IPv4 target")
    };
    let mut connect = vec![5, 1, 0, 1];
    connect.extend_from_slice(&t.ip().octets());
    connect.extend_from_slice(&t.port().to_be_bytes());
    s.write_all(&connect).await.expect("connect");
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await.expect("reply");
    assert_eq!(reply[1], 0, "SOCKS5 CONNECT refused");
    s.write_all(format!("GET /{n} HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.expect("response");
    body.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sees_a_monitors_audit_as_a_clients_session() {
    let mut rng = StdRng::seed_from_u64(0x11e4);
    let tmp = tempfile::tempdir().expect("tmp");
    let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("params");
    let prover = Prover::from_store(&store, &[CircuitId::Access], None).expect("prover");
    let ledger =
        EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet()).expect("ledger");
    let mut config = veil_node::NodeConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        tmp.path().join("node"),
        Value(1),
        vec![Value(ESCROW)],
    );
    config.transport = veil_node::Transport::InsecurePlaintext;
    config.egress = veil_node::egress::EgressPolicy::parse("127.0.0.1/32").expect("egress");
    let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
    let node = veil_node::spawn(config, ledger.clone(), store, async move {
        let _ = stop_rx.wait_for(|s| *s).await;
    })
    .await
    .expect("node");

    // The recorder in front of the node.
    let upstream = NodeClient::connect(format!("http://{}", node.local_addr))
        .await
        .expect("upstream");
    let recorder = Recorder {
        upstream,
        ledger: ledger.clone(),
        log: Arc::default(),
    };
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let front = listener.local_addr().expect("addr");
    let served = recorder.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(pb::node_server::NodeServer::new(served))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let url = format!("http://{front}");
    let target = spawn_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("target");
    let mut client = funded_wallet(&ledger, tmp.path(), "client.wallet", &mut rng).await;
    let mut monitor = funded_wallet(&ledger, tmp.path(), "monitor.wallet", &mut rng).await;
    recorder.take();

    // A client: `veil connect`'s session behind the SOCKS5 front end.
    let mut conn = NodeConnection::connect_plaintext(&url).await.expect("conn");
    let mut tree = LocalTree::new();
    let live = start_session(
        &ledger,
        &mut conn,
        &prover,
        &mut client,
        &mut tree,
        ESCROW,
        "connect",
        &mut rng,
    )
    .await
    .expect("client session");
    let (_relays_tx, relays_rx) = tokio::sync::watch::channel(Some(live.relay.clone()));
    let (stop_socks, stop_socks_rx) = tokio::sync::watch::channel(false);
    let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let socks_addr = socks.local_addr().expect("addr");
    let proxy = tokio::spawn(veil_client::proxy::serve_socks(
        socks,
        relays_rx,
        stop_socks_rx,
    ));
    let got = fetch_via_socks(socks_addr, target, BYTES).await;
    assert!(got as u64 > BYTES, "the client fetched {got} bytes");
    // The user's program closed its connection; the session ends later
    // (here: once the stream's close reached the node).
    wait_quiet(&recorder).await;
    finish_session(&mut client, &live).expect("finish");
    let _ = stop_socks.send(true);
    let _ = proxy.await;
    drop(live);
    drop(conn);
    wait_quiet(&recorder).await;
    let client_view = folded(recorder.take());

    // A monitor: its audit of the same node, fetching the same bytes.
    let mut conn = NodeConnection::connect_plaintext(&url).await.expect("conn");
    let mut tree = LocalTree::new();
    let plan = AuditPlan {
        target: Target {
            host: Host::Ip(target.ip()),
            port: target.port(),
        },
        bytes: BYTES,
    };
    let seen = audit(
        &ledger,
        &mut conn,
        &prover,
        &mut monitor,
        &mut tree,
        ESCROW,
        1,
        &plan,
        &mut rng,
    )
    .await
    .expect("audit");
    assert_eq!(seen.body_bytes, BYTES);
    assert_eq!(seen.measurement().challenges_ok, 1);
    drop(conn);
    wait_quiet(&recorder).await;
    let monitor_view = folded(recorder.take());

    // The views are whole sessions, and the same.
    for view in [&client_view, &monitor_view] {
        let has = |p: &dyn Fn(&Seen) -> bool| view.iter().any(p);
        assert!(has(&|s| matches!(s, Seen::Open { .. })), "{view:#?}");
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Challenge { .. }))),
            "{view:#?}"
        );
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Receipt { .. }))),
            "{view:#?}"
        );
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Data { .. }))),
            "{view:#?}"
        );
    }
    assert_eq!(client_view, monitor_view);

    let _ = stop.send(true);
    node.join().await.ok();
}

/// Waits until nothing new reached the recorder for a while: the session's
/// last frames (the closing receipt) are in.
async fn wait_quiet(r: &Recorder) {
    let mut last = usize::MAX;
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let n = r.log.lock().expect("log").len();
        if n == last {
            return;
        }
        last = n;
    }
}
