//! A real node on loopback (plaintext, over the embedded ledger with the
//! development keys) behind a recording gRPC proxy that stands where the
//! node's own service stands (`tests/node_view.rs`, `tests/audit_faults.rs`):
//! it forwards every call and records what the node receives — each RPC
//! with its metadata, the shape of `OpenSession` and of the access token's
//! public terms, and every relay frame — with only the values that are
//! random by construction reduced to their lengths.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use tokio::net::TcpListener;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::Channel;
use tonic::{Request, Response, Status, Streaming};
use veil_client::wallet::Wallet;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover};
use veil_proto::node::v1::{self as pb, client_frame::Frame, node_client::NodeClient};

/// A node, the proxy in front of it, and the prover clients use.
pub struct InProc {
    pub tmp: tempfile::TempDir,
    pub ledger: EmbeddedLedger,
    pub prover: Prover,
    pub recorder: Recorder,
    /// The proxy's URL: where clients reach "the node".
    pub url: String,
    node: veil_node::NodeHandle,
    stop: tokio::sync::watch::Sender<bool>,
}

impl InProc {
    /// A node whose egress allows `egress` (e.g. `127.0.0.1/32`; `None`:
    /// the default policy, which refuses loopback), behind the proxy.
    pub async fn start(egress: Option<&str>) -> Self {
        let tmp = tempfile::tempdir().expect("tmp");
        let store = ParamStore::open_default(veil_proofs::KeySet::Dev).expect("params");
        let prover = Prover::from_store(&store, &[CircuitId::Access], None).expect("prover");
        let ledger = EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::with_dev_faucet())
            .expect("ledger");
        let mut config = veil_node::NodeConfig::new(
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tmp.path().join("node"),
            Value(1),
            vec![Value(ESCROW)],
        );
        config.transport = veil_node::Transport::InsecurePlaintext;
        if let Some(rule) = egress {
            config.egress = veil_node::egress::EgressPolicy::parse(rule).expect("egress");
        }
        let (stop, mut stop_rx) = tokio::sync::watch::channel(false);
        let node = veil_node::spawn(config, ledger.clone(), store, async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        })
        .await
        .expect("node");
        let upstream = NodeClient::connect(format!("http://{}", node.local_addr))
            .await
            .expect("upstream");
        let recorder = Recorder {
            upstream,
            ledger: ledger.clone(),
            log: Arc::default(),
            cut_after: Arc::default(),
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
        Self {
            tmp,
            ledger,
            prover,
            recorder,
            url: format!("http://{front}"),
            node,
            stop,
        }
    }

    /// Stops the node.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        self.node.join().await.ok();
    }
}

/// The escrow of every session here.
pub const ESCROW: u64 = 4096;

/// What the node receives, with random values reduced to their lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
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
pub enum FrameShape {
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

/// The node's service, recording what reaches it and forwarding it; after
/// [`Recorder::cut_relays_after`], a node that ends every new relay after
/// that many of its `Data` frames (one that breaks transfers).
#[derive(Clone)]
pub struct Recorder {
    upstream: NodeClient<Channel>,
    ledger: EmbeddedLedger,
    log: Arc<Mutex<Vec<Seen>>>,
    /// Data frames a relay passes before it is cut; 0: never cut.
    cut_after: Arc<std::sync::atomic::AtomicUsize>,
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

    /// From now on every relay ends after `n` (> 0) data frames.
    pub fn cut_relays_after(&self, n: usize) {
        self.cut_after.store(n, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn take(&self) -> Vec<Seen> {
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
        let answer = self.upstream.clone().relay(frames).await?.into_inner();
        let limit = self.cut_after.load(std::sync::atomic::Ordering::SeqCst);
        if limit == 0 {
            return Ok(Response::new(Box::pin(answer)));
        }
        let mut data = 0usize;
        let cut = answer.take_while(move |f| {
            if let Ok(pb::NodeFrame {
                frame: Some(pb::node_frame::Frame::Data(_)),
            }) = f
            {
                data += 1;
            }
            data <= limit
        });
        Ok(Response::new(Box::pin(cut)))
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

/// A wallet holding one note of [`ESCROW`].
pub async fn funded_wallet(
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

/// Waits until nothing new reached the recorder for a while: the session's
/// last frames (the closing receipt) are in.
pub async fn wait_quiet(r: &Recorder) {
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
