//! The relay framing on the client side (`docs/protocol.md` §9.3–§9.5):
//! one gRPC `Relay` stream, many TCP streams multiplexed on it. Every
//! stream, however paid, is framed here.
//!
//! Who pays is fixed when the relay starts:
//! - a **session** relay ([`Relay::start`]) binds each `Open` to its session
//!   and pays with cumulative receipts, as its sans-IO
//!   [`ReceiptPolicy`] decides from the bytes counted and the node's
//!   `CreditLow`. The data path only asks the policy; the relay's signer
//!   task signs (≈ 60 µs, inline: a hop to the blocking pool cost more
//!   round-trip time than it saved) while the read task keeps moving
//!   bytes, and when several receipts fall due during one signature it
//!   signs only the highest (receipts are cumulative, §6). It also sends proof-of-bandwidth
//!   challenges. A node that
//!   fails one (bad signature, wrong nonce, or no answer within
//!   [`CHALLENGE_TIMEOUT`]) is not paid again and the relay is not used;
//! - a **voucher** relay (`crate::vouchers::spend`) carries streams paid by a
//!   spend in their `Open` (docs/vouchers.md §9); it signs nothing.
//!
//! Streams half-close both ways (§9.4): local EOF sends `Close`; the node's
//! `Eof` (upstream finished) shuts down the local socket's write side; the
//! node's `Closed` frees the stream. Every signed KiB value is kept for the
//! wallet (`signed_kibs`, `signed_watch`): refund candidates (§6).
//!
//! Ownership: the read task owns the stream table and the challenges in
//! flight (handles register with it over a control channel, drained before
//! each inbound frame); the receipt policy owns the payment state, behind a
//! mutex of the session payer that is never held across an await; the
//! signer task owns the session key's use.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use ark_ff::UniformRand;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use veil_primitives::Fr;
use veil_primitives::eddsa::{Signature, SigningKey, VerifyingKey};
use veil_primitives::field::{fr_from_slice, fr_to_bytes};
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::{Receipt, SignedReceipt, challenge_message, relay_bind_message};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::{client_frame, node_frame};

use crate::error::ClientError;
use crate::receipt_policy::{PaymentTerms, ReceiptDue, ReceiptPolicy, StopReason};
use crate::session::{NodeConnection, OpenedSession};
use crate::socks5::{Host, Target};

/// A challenge must be answered within this time.
pub const CHALLENGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Depth of the per-stream inbound queue.
const STREAM_QUEUE: usize = 64;
/// Depth of the outbound frame queue.
const OUT_QUEUE: usize = 256;

/// Counters of one relay, shared with the caller (figures only: what is
/// paid is decided by the receipt policy).
#[derive(Debug, Default)]
pub struct RelayStats {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub receipts_sent: AtomicU64,
    pub receipts_acked: AtomicU64,
    /// The highest KiB value the receipt policy issued (signed or about to be).
    pub highest_issued_kib: AtomicU64,
    /// The highest KiB value signed and sent.
    pub highest_receipt_kib: AtomicU64,
    /// The highest KiB value the node acknowledged (stored, §9.3). The node
    /// may skip acknowledging a receipt a higher one supersedes.
    pub highest_acked_kib: AtomicU64,
    pub challenges_ok: AtomicU64,
    pub challenges_failed: AtomicU64,
    /// Sum and count of challenge round trips, microseconds.
    pub rtt_us_total: AtomicU64,
    pub streams_opened: AtomicU64,
    pub errors: AtomicU64,
}

impl RelayStats {
    /// Payload bytes, both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_sent.load(Ordering::Relaxed) + self.bytes_received.load(Ordering::Relaxed)
    }

    /// Mean challenge round trip.
    pub fn mean_rtt(&self) -> Option<Duration> {
        let n = self.challenges_ok.load(Ordering::Relaxed);
        (n > 0).then(|| Duration::from_micros(self.rtt_us_total.load(Ordering::Relaxed) / n))
    }
}

/// What the node told one stream.
#[derive(Debug)]
pub(crate) enum StreamEvent {
    Opened,
    /// The voucher spend paying this stream was accepted: the node's
    /// `SpendResponse` (the re-issued credential).
    VoucherAccepted(Vec<u8>),
    Data(Vec<u8>),
    /// Upstream finished sending; the stream stays open for our bytes (§9.4).
    Eof,
    /// The node closed the stream: why, and its text.
    Closed(pb::CloseReason, String),
    /// The node refused the stream's `Open` or payment (an `Error` frame).
    Refused {
        code: pb::ErrorCode,
        message: String,
    },
}

/// A challenge in flight: when it was sent, and who waits for the verdict.
type PendingChallenge = (Instant, oneshot::Sender<bool>);

/// Registrations with the read task, which owns the tables.
enum Control {
    Stream(u32, mpsc::Sender<StreamEvent>),
    EndStream(u32),
    Challenge([u8; 32], PendingChallenge),
    EndChallenge([u8; 32]),
    Close,
}

/// The session paying a relay by receipts.
struct SessionPayer {
    session_id: SessionId,
    session_key: Arc<SigningKey>,
    /// `sig_S(H(RELAY_BIND, session_id, node_id))`, sent with each Open (§9.4).
    session_auth: Vec<u8>,
    credit_kib: u64,
    policy: Mutex<ReceiptPolicy>,
    /// The KiB value of the latest receipt issued by the policy (0: none),
    /// for the signer task ([`sign_receipts`]).
    issued: watch::Sender<u64>,
    /// Every KiB value signed, in order (refund candidates), published for
    /// readers that must not wait.
    signed: watch::Sender<Vec<u64>>,
    /// The highest KiB value signed so far (0: none), for checkpoints.
    highest: watch::Sender<u64>,
}

impl SessionPayer {
    /// Runs `f` on the receipt policy and hands the receipt it issues, if
    /// any, to the signer. Never waits.
    fn decide(
        &self,
        closed: bool,
        stats: &RelayStats,
        f: impl FnOnce(&mut ReceiptPolicy) -> Option<ReceiptDue>,
    ) {
        let due = {
            let mut policy = self.policy.lock().unwrap_or_else(PoisonError::into_inner);
            if closed {
                policy.stop(StopReason::Closed);
            }
            f(&mut policy)
        };
        if let Some(due) = due {
            stats
                .highest_issued_kib
                .fetch_max(due.kib, Ordering::AcqRel);
            self.issued.send_replace(due.kib);
        }
    }

    /// Signs and records the highest receipt issued if the signer has not
    /// signed it yet (at close: nothing issued is left unsigned).
    fn sign_pending(&self, stats: &RelayStats) -> Option<pb::ClientFrame> {
        let issued = *self.issued.borrow();
        if issued <= *self.highest.borrow() {
            return None;
        }
        let receipt = Receipt {
            session_id: self.session_id.inner(),
            kib: issued,
        };
        self.record(&receipt.sign(&self.session_key), stats)
    }

    /// Records a signed receipt before it is sent (a receipt the node may
    /// hold is always a refund candidate) and frames it — unless paying
    /// stopped while it was being signed (the relay closed, the node was
    /// distrusted): then it is dropped unsent. Under the policy's lock, so
    /// that after [`Relay::close`] returns, [`Relay::signed_kibs`] lists
    /// every receipt that may still reach the node.
    fn record(&self, signed: &SignedReceipt, stats: &RelayStats) -> Option<pb::ClientFrame> {
        let policy = self.policy.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*policy, ReceiptPolicy::Stopped(_)) {
            return None;
        }
        let kib = signed.receipt.kib;
        self.signed.send_modify(|v| v.push(kib));
        self.highest.send_replace(kib);
        stats.highest_receipt_kib.store(kib, Ordering::Release);
        stats.receipts_sent.fetch_add(1, Ordering::Relaxed);
        Some(frame(client_frame::Frame::Receipt(pb::Receipt {
            signed_receipt: signed.to_bytes().to_vec(),
        })))
    }
}

/// What the read task and the handles share.
struct Shared {
    /// `None`: a voucher relay (streams paid in their `Open`).
    payer: Option<SessionPayer>,
    /// The node's key, to check challenge answers (session relays).
    node_key: Option<VerifyingKey>,
    max_frame: usize,
    next_stream: AtomicU32,
    distrusted: AtomicBool,
    closed: AtomicBool,
    stats: Arc<RelayStats>,
}

impl Shared {
    /// Whether receipts may still be signed: the node is trusted and the relay open.
    fn payable(&self) -> bool {
        !self.distrusted.load(Ordering::Acquire) && !self.closed.load(Ordering::Acquire)
    }

    /// Counts `n` payload bytes — sent when handed to the relay, received
    /// when the read task takes them off the call for a stream of ours —
    /// and has the receipt the policy finds due signed (without waiting).
    /// Counting received bytes there, not once the local socket took them,
    /// keeps the stream queues and the local buffer out of the receipt
    /// feedback loop (docs/benchmarks.md "Metered relay").
    fn account(&self, n: usize, sent: bool) {
        let c = if sent {
            &self.stats.bytes_sent
        } else {
            &self.stats.bytes_received
        };
        c.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(payer) = &self.payer {
            let closed = self.closed.load(Ordering::Acquire);
            payer.decide(closed, &self.stats, |policy| policy.on_bytes(n as u64));
        }
    }
}

/// A running relay. Cheap to clone; the gRPC call ends when every clone
/// (and every stream) is dropped.
#[derive(Clone)]
pub struct Relay {
    shared: Arc<Shared>,
    out: mpsc::Sender<pb::ClientFrame>,
    control: mpsc::UnboundedSender<Control>,
}

fn frame(f: client_frame::Frame) -> pb::ClientFrame {
    pb::ClientFrame { frame: Some(f) }
}

impl Relay {
    /// Starts the `Relay` stream of `session` on `node`, paid by receipts.
    pub async fn start(
        node: &mut NodeConnection,
        session: &OpenedSession,
        node_key: VerifyingKey,
        max_frame_bytes: usize,
    ) -> Result<Relay, ClientError> {
        let bind = relay_bind_message(&session.session_id.inner(), &node_key.node_id().inner());
        let terms = PaymentTerms {
            session_id: session.session_id,
            credit_kib: session.credit_kib,
            interval_kib: session.receipt_interval_kib,
        };
        let payer = SessionPayer {
            session_id: session.session_id,
            session_key: Arc::new(session.session_key.clone()),
            session_auth: session.session_key.sign(&bind).to_bytes().to_vec(),
            credit_kib: session.credit_kib,
            policy: Mutex::new(ReceiptPolicy::new(terms)),
            issued: watch::Sender::new(0),
            signed: watch::Sender::new(Vec::new()),
            highest: watch::Sender::new(0),
        };
        Self::launch(
            &mut node.client,
            Some(payer),
            Some(node_key),
            max_frame_bytes,
        )
        .await
    }

    /// Starts a `Relay` stream whose streams are paid by voucher spends in
    /// their `Open` (`crate::vouchers::spend`).
    pub(crate) async fn start_unbound(
        node: &mut NodeClient<Channel>,
        max_frame_bytes: usize,
    ) -> Result<Relay, ClientError> {
        Self::launch(node, None, None, max_frame_bytes).await
    }

    async fn launch(
        node: &mut NodeClient<Channel>,
        payer: Option<SessionPayer>,
        node_key: Option<VerifyingKey>,
        max_frame_bytes: usize,
    ) -> Result<Relay, ClientError> {
        let (out, rx) = mpsc::channel(OUT_QUEUE);
        let inbound = node.relay(ReceiverStream::new(rx)).await?.into_inner();
        let (control, control_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            payer,
            node_key,
            max_frame: max_frame_bytes.clamp(1, 1 << 20),
            next_stream: AtomicU32::new(1),
            distrusted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stats: Arc::new(RelayStats::default()),
        });
        if let Some(payer) = &shared.payer {
            let issued = payer.issued.subscribe();
            tokio::spawn(sign_receipts(
                Arc::downgrade(&shared),
                out.downgrade(),
                issued,
            ));
        }
        let reader = Reader {
            shared: shared.clone(),
            streams: HashMap::new(),
            challenges: HashMap::new(),
        };
        tokio::spawn(reader.run(control_rx, inbound));
        Ok(Relay {
            shared,
            out,
            control,
        })
    }

    /// The session this relay pays for (`None`: a voucher relay).
    pub fn session_id(&self) -> Option<SessionId> {
        self.shared.payer.as_ref().map(|p| p.session_id)
    }

    /// Counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.shared.stats.clone()
    }

    /// Every cumulative KiB value signed so far.
    pub fn signed_kibs(&self) -> Vec<u64> {
        self.shared
            .payer
            .as_ref()
            .map(|p| p.signed.borrow().clone())
            .unwrap_or_default()
    }

    /// The highest cumulative KiB signed so far (0 before the first
    /// receipt); changes each time a receipt is signed. A wallet owner
    /// waits on it to checkpoint receipts (`LiveSession::checkpoint`), so a
    /// client killed mid-session still finds its refund (§6).
    pub fn signed_watch(&self) -> watch::Receiver<u64> {
        match &self.shared.payer {
            Some(p) => p.highest.subscribe(),
            None => watch::Sender::new(0).subscribe(),
        }
    }

    /// KiB of credit not yet used (by the client's own count; 0 for a
    /// voucher relay).
    pub fn remaining_kib(&self) -> u64 {
        self.shared.payer.as_ref().map_or(0, |p| {
            p.credit_kib.saturating_sub(
                self.shared
                    .stats
                    .bytes()
                    .div_ceil(veil_primitives::receipt::KIB),
            )
        })
    }

    /// False once the node failed a challenge or the stream ended.
    pub fn usable(&self) -> bool {
        !self.shared.distrusted.load(Ordering::Acquire)
            && !self.shared.closed.load(Ordering::Acquire)
    }

    /// Whether the node failed a challenge.
    pub fn distrusted(&self) -> bool {
        self.shared.distrusted.load(Ordering::Acquire)
    }

    /// Sends a random challenge and waits for the node's signed answer;
    /// returns the round trip. A failure marks the node distrusted: no
    /// receipt is signed for it again.
    pub async fn challenge(&self) -> Result<Duration, ClientError> {
        let nonce = Fr::rand(&mut rand::thread_rng());
        let key = fr_to_bytes(&nonce);
        let (done_tx, done_rx) = oneshot::channel();
        self.register(Control::Challenge(key, (Instant::now(), done_tx)))?;
        let t0 = Instant::now();
        self.send(client_frame::Frame::Challenge(pb::Challenge {
            nonce: key.to_vec(),
        }))
        .await?;
        let ok = matches!(
            tokio::time::timeout(CHALLENGE_TIMEOUT, done_rx).await,
            Ok(Ok(true))
        );
        if !ok {
            let _ = self.control.send(Control::EndChallenge(key));
            self.shared
                .stats
                .challenges_failed
                .fetch_add(1, Ordering::Relaxed);
            self.shared.distrusted.store(true, Ordering::Release);
            if let Some(p) = &self.shared.payer {
                p.decide(false, &self.shared.stats, |policy| {
                    policy.stop(StopReason::Distrusted);
                    None
                });
            }
            return Err(ClientError::ChallengeFailed);
        }
        Ok(t0.elapsed())
    }

    /// Opens a TCP stream to `target` through the node, paid by the
    /// session's receipts.
    pub async fn open_stream(&self, target: &Target) -> Result<RelayStream, ClientError> {
        let (session_id, auth) = match &self.shared.payer {
            Some(p) => (p.session_id, p.session_auth.clone()),
            None => {
                return Err(ClientError::Protocol(
                    "a voucher relay opens streams with a spend".into(),
                ));
            }
        };
        let payment = pb::open::Payment::SessionId(session_id.to_bytes().to_vec());
        let mut stream = self.begin_open(target, payment, auth).await?;
        match stream.event().await {
            Some(StreamEvent::Opened) => Ok(stream.established()),
            Some(StreamEvent::Closed(pb::CloseReason::EgressDenied, _)) => {
                Err(ClientError::EgressDenied(target.to_string()))
            }
            Some(StreamEvent::Closed(_, why)) => Err(ClientError::Protocol(format!(
                "node refused the stream: {why}"
            ))),
            Some(StreamEvent::Refused { code, message }) => Err(ClientError::Protocol(format!(
                "node refused the stream: {code:?}: {message}"
            ))),
            _ => Err(ClientError::Protocol(
                "relay ended while opening a stream".into(),
            )),
        }
    }

    /// Sends the `Open` of a new stream to `target` paid by `payment`; the
    /// caller reads the node's answer with [`RelayStream::event`].
    pub(crate) async fn begin_open(
        &self,
        target: &Target,
        payment: pb::open::Payment,
        session_auth: Vec<u8>,
    ) -> Result<RelayStream, ClientError> {
        if !self.usable() {
            return Err(ClientError::Protocol(
                "relay closed or node distrusted".into(),
            ));
        }
        let id = self.shared.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(STREAM_QUEUE);
        self.register(Control::Stream(id, tx))?;
        let stream = RelayStream {
            relay: self.clone(),
            id,
            rx,
        };
        let host = match &target.host {
            Host::Domain(d) => d.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        self.send(client_frame::Frame::Open(pb::Open {
            payment: Some(payment),
            stream_id: id,
            host,
            port: u32::from(target.port),
            session_auth,
        }))
        .await?;
        Ok(stream)
    }

    fn register(&self, c: Control) -> Result<(), ClientError> {
        self.control
            .send(c)
            .map_err(|_| ClientError::Protocol("relay ended".into()))
    }

    async fn send(&self, f: client_frame::Frame) -> Result<(), ClientError> {
        self.out
            .send(frame(f))
            .await
            .map_err(|_| ClientError::Protocol("relay stream closed".into()))
    }

    /// Ends the relay: no stream is opened and no receipt signed or sent
    /// any more. First a last receipt is issued for every byte counted
    /// ([`ReceiptPolicy::on_close`]) and the receipt issued last, if the
    /// signer has not signed it yet, is signed and recorded here (it pays
    /// for bytes already moved); the signer's copy is then dropped
    /// ([`SessionPayer::record`]).
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        if let Some(p) = &self.shared.payer {
            // Pay what was moved since the last step, sign what is issued
            // and not signed yet, then stop.
            p.decide(false, &self.shared.stats, ReceiptPolicy::on_close);
            let last = p.sign_pending(&self.shared.stats);
            p.decide(true, &self.shared.stats, |_| None);
            if let Some(frame) = last {
                let _ = self.out.try_send(frame);
            }
        }
        let _ = self.control.send(Control::Close);
    }
}

/// One TCP stream multiplexed on a relay.
pub struct RelayStream {
    relay: Relay,
    id: u32,
    rx: mpsc::Receiver<StreamEvent>,
}

impl std::fmt::Debug for RelayStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayStream").field("id", &self.id).finish()
    }
}

impl Drop for RelayStream {
    fn drop(&mut self) {
        let _ = self.relay.control.send(Control::EndStream(self.id));
    }
}

impl RelayStream {
    /// The node's next word on this stream (`None`: the relay ended).
    pub(crate) async fn event(&mut self) -> Option<StreamEvent> {
        self.rx.recv().await
    }

    /// The node opened the stream.
    pub(crate) fn established(self) -> RelayStream {
        self.relay
            .shared
            .stats
            .streams_opened
            .fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Copies bytes both ways between `local` and the node until both sides
    /// are done, half-closing each direction on its own (§9.4): local EOF
    /// sends `Close` (the node shuts down the upstream write side), the
    /// node's `Eof` shuts down the write side of `local`. Ends at the
    /// node's `Closed` (both directions done, or a reset). Returns (bytes
    /// sent, bytes received).
    pub async fn pump<S>(mut self, local: S) -> Result<(u64, u64), ClientError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(local);
        let up = tokio::spawn(upload(self.relay.clone(), self.id, rd));
        let down = self.download(wr).await;
        // The node freed the stream (after our Close, or on an error): stop
        // reading from the local side.
        up.abort();
        let sent = up.await.unwrap_or(0);
        Ok((sent, down))
    }

    async fn download<W: AsyncWrite + Unpin>(&mut self, mut wr: W) -> u64 {
        let mut total = 0u64;
        let mut local_shut = false;
        while let Some(ev) = self.rx.recv().await {
            match ev {
                StreamEvent::Data(d) => {
                    if wr.write_all(&d).await.is_err() {
                        break;
                    }
                    total += d.len() as u64;
                }
                StreamEvent::Eof => {
                    // Half-close: the local peer reads EOF and may still
                    // send; `Closed` ends the stream.
                    if !local_shut {
                        local_shut = true;
                        let _ = wr.shutdown().await;
                    }
                }
                StreamEvent::Closed(_, why) => {
                    self.log_closed(&why);
                    break;
                }
                StreamEvent::Refused { code, message } => {
                    self.log_closed(&format!("{code:?}: {message}"));
                    break;
                }
                StreamEvent::Opened | StreamEvent::VoucherAccepted(_) => {}
            }
        }
        if !local_shut {
            let _ = wr.shutdown().await;
        }
        total
    }

    fn log_closed(&self, why: &str) {
        let id = self.id;
        tracing::debug!(stream = id, "stream closed by the node: {why}");
        if std::env::var_os("VEIL_DEMO_DEBUG").is_some() {
            eprintln!("   [debug] stream {id} closed: {why}");
        }
    }
}

/// Local → node: `Data` frames of at most the relay's frame size, then
/// `Close` at local EOF. Returns the bytes sent.
async fn upload<R: AsyncRead + Unpin>(relay: Relay, id: u32, mut rd: R) -> u64 {
    let mut buf = vec![0u8; relay.shared.max_frame];
    let mut total = 0u64;
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
        let data = client_frame::Frame::Data(pb::Data {
            stream_id: id,
            bytes: chunk,
        });
        if relay.send(data).await.is_err() {
            break;
        }
        total += n as u64;
        relay.shared.account(n, true);
    }
    let _ = relay
        .send(client_frame::Frame::Close(pb::Close { stream_id: id }))
        .await;
    total
}

/// The read task: owns the stream table and the challenges in flight.
struct Reader {
    shared: Arc<Shared>,
    streams: HashMap<u32, mpsc::Sender<StreamEvent>>,
    challenges: HashMap<[u8; 32], PendingChallenge>,
}

impl Reader {
    async fn run(
        mut self,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut inbound: tonic::Streaming<pb::NodeFrame>,
    ) {
        loop {
            // Registrations first: a stream is registered before its Open
            // is sent, so before the node can answer it.
            tokio::select! {
                biased;
                Some(c) = control.recv() => self.apply(c),
                msg = inbound.message() => match msg {
                    Ok(Some(pb::NodeFrame { frame: Some(f) })) => self.on_frame(f).await,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                },
            }
        }
        self.shared.closed.store(true, Ordering::Release);
        // Dropping the senders ends every stream.
    }

    fn apply(&mut self, c: Control) {
        match c {
            Control::Stream(id, tx) => {
                self.streams.insert(id, tx);
            }
            Control::EndStream(id) => {
                self.streams.remove(&id);
            }
            Control::Challenge(key, pending) => {
                self.challenges.insert(key, pending);
            }
            Control::EndChallenge(key) => {
                self.challenges.remove(&key);
            }
            Control::Close => self.streams.clear(),
        }
    }

    async fn on_frame(&mut self, f: node_frame::Frame) {
        match f {
            node_frame::Frame::Opened(o) => self.deliver(o.stream_id, StreamEvent::Opened).await,
            node_frame::Frame::Data(d) => {
                // Only bytes for a stream of ours count (a node cannot
                // make the client pay for frames it invents).
                if self.streams.contains_key(&d.stream_id) {
                    self.shared.account(d.bytes.len(), false);
                }
                self.deliver(d.stream_id, StreamEvent::Data(d.bytes)).await
            }
            node_frame::Frame::Eof(e) => self.deliver(e.stream_id, StreamEvent::Eof).await,
            node_frame::Frame::Closed(c) => {
                let why = format!("{:?} {}", c.reason(), c.message);
                let ev = StreamEvent::Closed(c.reason(), why);
                self.deliver(c.stream_id, ev).await;
            }
            node_frame::Frame::VoucherAccepted(a) => {
                let ev = StreamEvent::VoucherAccepted(a.spend_response);
                self.deliver(a.stream_id, ev).await;
            }
            node_frame::Frame::ReceiptAck(a) => {
                let stats = &self.shared.stats;
                stats.receipts_acked.fetch_add(1, Ordering::Relaxed);
                stats.highest_acked_kib.fetch_max(a.kib, Ordering::AcqRel);
            }
            node_frame::Frame::CreditLow(c) => self.on_credit_low(c.receipted_kib),
            node_frame::Frame::ChallengeResponse(r) => self.on_answer(&r),
            node_frame::Frame::Error(e) => {
                self.shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                if e.stream_id != 0 {
                    let code = e.code();
                    let ev = StreamEvent::Refused {
                        code,
                        message: e.message,
                    };
                    self.deliver(e.stream_id, ev).await;
                }
            }
        }
    }

    /// The node is short of receipts: pay what was counted (§9.3).
    fn on_credit_low(&self, receipted_kib: u64) {
        if let Some(payer) = &self.shared.payer {
            let closed = self.shared.closed.load(Ordering::Acquire);
            payer.decide(closed, &self.shared.stats, |policy| {
                policy.on_credit_low(receipted_kib)
            });
        }
    }

    /// Checks a challenge answer: the node's signature on the nonce (§9.5).
    fn on_answer(&mut self, r: &pb::ChallengeResponse) {
        let Ok(key) = <[u8; 32]>::try_from(r.nonce.as_slice()) else {
            return;
        };
        let Some((t0, done)) = self.challenges.remove(&key) else {
            return;
        };
        let ok = self.shared.node_key.as_ref().is_some_and(|node_key| {
            fr_from_slice(&r.nonce).ok().is_some_and(|nonce| {
                Signature::from_slice(&r.signature)
                    .is_ok_and(|sig| node_key.verify(&challenge_message(&nonce), &sig).is_ok())
            })
        });
        if ok {
            let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
            let stats = &self.shared.stats;
            stats.rtt_us_total.fetch_add(us, Ordering::Relaxed);
            stats.challenges_ok.fetch_add(1, Ordering::Relaxed);
        }
        let _ = done.send(ok);
    }

    async fn deliver(&mut self, id: u32, ev: StreamEvent) {
        let Some(tx) = self.streams.get(&id) else {
            return;
        };
        if tx.send(ev).await.is_err() {
            self.streams.remove(&id);
        }
    }
}

/// The relay's signer: signs the receipt the policy issued last and sends
/// it. One signature is ≈ 60 µs (docs/benchmarks.md), under tokio's budget
/// between awaits, so it runs on the task: the blocking pool's two thread
/// hand-offs lengthened every receipt's round trip; receipts issued while one is signed are
/// coalesced into the highest (the watch keeps only the latest value, and
/// they are cumulative, §6). Nothing is signed or sent once the node is
/// distrusted or the relay closed ([`SessionPayer::record`]). Holds the
/// relay weakly, and ends with it.
async fn sign_receipts(
    shared: Weak<Shared>,
    out: mpsc::WeakSender<pb::ClientFrame>,
    mut issued: watch::Receiver<u64>,
) {
    while issued.changed().await.is_ok() {
        let kib = *issued.borrow_and_update();
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(payer) = &shared.payer else { return };
        if !shared.payable() {
            continue;
        }
        let receipt = Receipt {
            session_id: payer.session_id.inner(),
            kib,
        };
        let signed = receipt.sign(&payer.session_key);
        // The relay may have closed, or a challenge failed, meanwhile.
        let Some(frame) = payer.record(&signed, &shared.stats) else {
            continue;
        };
        drop(shared);
        let Some(out) = out.upgrade() else { return };
        if out.send(frame).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::receipt::KIB;

    fn payer(interval_kib: u64) -> SessionPayer {
        let session_id = SessionId::from_fr(Fr::from(7u64));
        let key = SigningKey::from_seed([3u8; 32]).expect("seed");
        let terms = PaymentTerms {
            session_id,
            credit_kib: 1_000,
            interval_kib,
        };
        SessionPayer {
            session_id,
            session_key: Arc::new(key),
            session_auth: Vec::new(),
            credit_kib: 1_000,
            policy: Mutex::new(ReceiptPolicy::new(terms)),
            issued: watch::Sender::new(0),
            signed: watch::Sender::new(Vec::new()),
            highest: watch::Sender::new(0),
        }
    }

    fn signed(p: &SessionPayer, kib: u64) -> SignedReceipt {
        Receipt {
            session_id: p.session_id.inner(),
            kib,
        }
        .sign(&p.session_key)
    }

    #[test]
    fn the_signer_sees_only_the_latest_receipt_issued() {
        let p = payer(64);
        let stats = RelayStats::default();
        let mut issued = p.issued.subscribe();
        p.decide(false, &stats, |pol| pol.on_bytes(8 * KIB));
        p.decide(false, &stats, |pol| pol.on_bytes(8 * KIB));
        // Two issued while the signer was busy: it wakes once, for 16.
        assert!(issued.has_changed().expect("open"));
        assert_eq!(*issued.borrow_and_update(), 16);
        assert_eq!(stats.highest_issued_kib.load(Ordering::Acquire), 16);
        assert!(p.signed.borrow().is_empty(), "issued is not signed");
    }

    #[tokio::test]
    async fn only_bytes_for_a_stream_of_ours_are_counted() {
        let shared = Arc::new(Shared {
            payer: Some(payer(64)),
            node_key: None,
            max_frame: 1 << 20,
            next_stream: AtomicU32::new(2),
            distrusted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stats: Arc::new(RelayStats::default()),
        });
        let (tx, mut rx) = mpsc::channel(4);
        let mut reader = Reader {
            shared: shared.clone(),
            streams: HashMap::from([(1, tx)]),
            challenges: HashMap::new(),
        };
        let data = |stream_id, n| {
            node_frame::Frame::Data(pb::Data {
                stream_id,
                bytes: vec![0; n],
            })
        };
        reader.on_frame(data(1, 17 * 1024)).await;
        reader.on_frame(data(7, 64 * 1024)).await;
        assert!(matches!(rx.recv().await, Some(StreamEvent::Data(d)) if d.len() == 17 * 1024));
        let stats = &shared.stats;
        assert_eq!(stats.bytes_received.load(Ordering::Relaxed), 17 * 1024);
        // Counted on arrival: 17 KiB is past one step (16 KiB) of a 64 KiB interval.
        assert_eq!(stats.highest_issued_kib.load(Ordering::Acquire), 17);
    }

    #[test]
    fn close_signs_what_was_issued_and_nothing_after() {
        let p = payer(64);
        let stats = RelayStats::default();
        p.decide(false, &stats, |pol| pol.on_bytes(16 * KIB));
        assert!(p.record(&signed(&p, 16), &stats).is_some());
        // The next receipt is issued, then the relay closes while it is signed.
        p.decide(false, &stats, |pol| pol.on_bytes(16 * KIB));
        // Close signs what was issued and not signed (32), then stops.
        assert!(p.sign_pending(&stats).is_some());
        p.decide(true, &stats, |_| None);
        assert!(p.sign_pending(&stats).is_none());
        assert!(p.record(&signed(&p, 48), &stats).is_none());
        assert_eq!(
            *p.signed.borrow(),
            vec![16, 32],
            "all that may reach the node"
        );
        assert_eq!(*p.highest.borrow(), 32);
        assert_eq!(stats.receipts_sent.load(Ordering::Relaxed), 2);
        // Nothing more is issued either.
        p.decide(false, &stats, |pol| pol.on_bytes(64 * KIB));
        assert_eq!(stats.highest_issued_kib.load(Ordering::Acquire), 32);
    }
}
