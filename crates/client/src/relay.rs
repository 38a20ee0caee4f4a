//! The metered relay on the client side (`docs/protocol.md` §9.3–§9.5):
//! one gRPC `Relay` stream per session, many TCP streams multiplexed on it,
//! cumulative receipts signed as bytes arrive, and proof-of-bandwidth
//! challenges.
//!
//! Payment rule: the client counts payload bytes in both directions and
//! signs a receipt for `⌈bytes / 1024⌉` KiB every eighth of a receipt interval
//! (and when the node reports low credit), never above the session's
//! credit. It signs only for bytes it has itself sent or received. A node
//! that fails a challenge (bad signature, wrong nonce, or no answer within
//! [`CHALLENGE_TIMEOUT`]) is not paid again: no further receipt is signed
//! and the relay is closed.
//!
//! Streams half-close both ways (§9.4): local EOF sends `Close`; the node's
//! `Eof` (upstream finished) shuts down the local socket's write side; the
//! node's `Closed` frees the stream. Every signed KiB value is kept for the
//! wallet (`signed_kibs`, `signed_watch`): refund candidates (§6).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ark_ff::UniformRand;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_stream::wrappers::ReceiverStream;
use veil_primitives::Fr;
use veil_primitives::eddsa::{Signature, SigningKey, VerifyingKey};
use veil_primitives::field::{fr_from_slice, fr_to_bytes};
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::{KIB, Receipt, challenge_message};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::{client_frame, node_frame};

use crate::error::ClientError;
use crate::session::{NodeConnection, OpenedSession};
use crate::socks5::{Host, Target};

/// A challenge must be answered within this time.
pub const CHALLENGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes per KiB.
/// Receipts per receipt interval: signing well before the node's limit
/// keeps parallel streams from stalling on a receipt in flight.
const RECEIPT_STEPS_PER_INTERVAL: u64 = 8;
/// Depth of the per-stream inbound queue.
const STREAM_QUEUE: usize = 64;

/// Counters of one relay, shared with the caller.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub bytes_sent: AtomicU64,
    pub bytes_received: AtomicU64,
    pub receipts_sent: AtomicU64,
    pub receipts_acked: AtomicU64,
    pub highest_receipt_kib: AtomicU64,
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

enum StreamEvent {
    Opened,
    Data(Vec<u8>),
    /// Upstream finished sending; the stream stays open for our bytes (§9.4).
    Eof,
    Closed(String),
}

/// A challenge in flight: when it was sent, and who waits for the verdict.
type PendingChallenge = (Instant, oneshot::Sender<bool>);

struct Shared {
    session_id: SessionId,
    session_key: SigningKey,
    node_key: VerifyingKey,
    /// `sig_S(H(RELAY_BIND, session_id, node_id))`, sent with each Open (§9.4).
    session_auth: Vec<u8>,
    credit_kib: u64,
    interval_kib: u64,
    max_frame: usize,
    out: mpsc::Sender<pb::ClientFrame>,
    streams: Mutex<HashMap<u32, mpsc::Sender<StreamEvent>>>,
    next_stream: AtomicU32,
    /// Every KiB value signed, in order (refund candidates).
    signed: Mutex<Vec<u64>>,
    /// The highest KiB value signed so far (0: none), for checkpoints.
    signed_watch: watch::Sender<u64>,
    challenges: Mutex<HashMap<[u8; 32], PendingChallenge>>,
    distrusted: AtomicBool,
    closed: AtomicBool,
    stats: Arc<RelayStats>,
}

/// A running relay for one session. Cheap to clone.
#[derive(Clone)]
pub struct Relay {
    shared: Arc<Shared>,
}

impl Relay {
    /// Starts the `Relay` stream of `session` on `node`.
    pub async fn start(
        node: &mut NodeConnection,
        session: &OpenedSession,
        node_key: VerifyingKey,
        max_frame_bytes: usize,
    ) -> Result<Relay, ClientError> {
        let (tx, rx) = mpsc::channel(256);
        let inbound = node
            .client
            .relay(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let bind = veil_primitives::receipt::relay_bind_message(
            &session.session_id.inner(),
            &node_key.node_id().inner(),
        );
        let shared = Arc::new(Shared {
            session_id: session.session_id,
            session_key: session.session_key.clone(),
            session_auth: session.session_key.sign(&bind).to_bytes().to_vec(),
            node_key,
            credit_kib: session.credit_kib,
            interval_kib: session.receipt_interval_kib.max(1),
            max_frame: max_frame_bytes.clamp(1, 1 << 20),
            out: tx,
            streams: Mutex::new(HashMap::new()),
            next_stream: AtomicU32::new(1),
            signed: Mutex::new(Vec::new()),
            signed_watch: watch::Sender::new(0),
            challenges: Mutex::new(HashMap::new()),
            distrusted: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            stats: Arc::new(RelayStats::default()),
        });
        tokio::spawn(read_loop(shared.clone(), inbound));
        Ok(Relay { shared })
    }

    /// The session this relay pays for.
    pub fn session_id(&self) -> SessionId {
        self.shared.session_id
    }

    /// Counters.
    pub fn stats(&self) -> Arc<RelayStats> {
        self.shared.stats.clone()
    }

    /// Every cumulative KiB value signed so far.
    pub fn signed_kibs(&self) -> Vec<u64> {
        lock(&self.shared.signed).clone()
    }

    /// The highest cumulative KiB signed so far (0 before the first
    /// receipt); changes each time a receipt is signed. A wallet owner
    /// waits on it to checkpoint receipts (`LiveSession::checkpoint`), so a
    /// client killed mid-session still finds its refund (§6).
    pub fn signed_watch(&self) -> watch::Receiver<u64> {
        self.shared.signed_watch.subscribe()
    }

    /// KiB of credit not yet used (by the client's own count).
    pub fn remaining_kib(&self) -> u64 {
        self.shared
            .credit_kib
            .saturating_sub(self.shared.stats.bytes().div_ceil(KIB))
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
    /// returns the round trip. A failure marks the node distrusted.
    pub async fn challenge(&self) -> Result<Duration, ClientError> {
        let nonce = Fr::rand(&mut rand::thread_rng());
        let key = fr_to_bytes(&nonce);
        let (done_tx, done_rx) = oneshot::channel();
        lock(&self.shared.challenges).insert(key, (Instant::now(), done_tx));
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
            lock(&self.shared.challenges).remove(&key);
            self.shared
                .stats
                .challenges_failed
                .fetch_add(1, Ordering::Relaxed);
            self.shared.distrusted.store(true, Ordering::Release);
            return Err(ClientError::Protocol(
                "node failed a bandwidth challenge".into(),
            ));
        }
        Ok(t0.elapsed())
    }

    /// Opens a TCP stream to `target` through the node.
    pub async fn open_stream(&self, target: &Target) -> Result<RelayStream, ClientError> {
        if !self.usable() {
            return Err(ClientError::Protocol(
                "relay closed or node distrusted".into(),
            ));
        }
        let id = self.shared.next_stream.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel(STREAM_QUEUE);
        lock(&self.shared.streams).insert(id, tx);
        let host = match &target.host {
            Host::Domain(d) => d.clone(),
            Host::Ip(ip) => ip.to_string(),
        };
        self.send(client_frame::Frame::Open(pb::Open {
            payment: Some(pb::open::Payment::SessionId(
                self.shared.session_id.to_bytes().to_vec(),
            )),
            stream_id: id,
            host,
            port: u32::from(target.port),
            session_auth: self.shared.session_auth.clone(),
        }))
        .await?;
        match rx.recv().await {
            Some(StreamEvent::Opened) => {
                self.shared
                    .stats
                    .streams_opened
                    .fetch_add(1, Ordering::Relaxed);
                Ok(RelayStream {
                    relay: self.clone(),
                    id,
                    rx,
                })
            }
            Some(StreamEvent::Closed(why)) => {
                lock(&self.shared.streams).remove(&id);
                Err(ClientError::Protocol(format!(
                    "node refused the stream: {why}"
                )))
            }
            Some(StreamEvent::Data(_) | StreamEvent::Eof) | None => {
                lock(&self.shared.streams).remove(&id);
                Err(ClientError::Protocol(
                    "relay ended while opening a stream".into(),
                ))
            }
        }
    }

    async fn send(&self, frame: client_frame::Frame) -> Result<(), ClientError> {
        self.shared
            .out
            .send(pb::ClientFrame { frame: Some(frame) })
            .await
            .map_err(|_| ClientError::Protocol("relay stream closed".into()))
    }

    /// Counts `n` payload bytes and signs a receipt when due.
    async fn account(&self, n: usize, sent: bool) {
        let stats = &self.shared.stats;
        let c = if sent {
            &stats.bytes_sent
        } else {
            &stats.bytes_received
        };
        c.fetch_add(n as u64, Ordering::Relaxed);
        self.maybe_receipt(false).await;
    }

    /// Signs a receipt for `⌈bytes/1024⌉` KiB (capped by the credit) if it
    /// is due: at least an eighth of an interval beyond the last one, or `force`d
    /// by a low-credit notice. Never for a distrusted node.
    async fn maybe_receipt(&self, force: bool) {
        let s = &self.shared;
        if s.distrusted.load(Ordering::Acquire) {
            return;
        }
        let kib = s.stats.bytes().div_ceil(KIB).min(s.credit_kib);
        let last = s.stats.highest_receipt_kib.load(Ordering::Acquire);
        let step = (s.interval_kib / RECEIPT_STEPS_PER_INTERVAL).max(1);
        if kib == 0 || kib <= last || (!force && kib < last + step && kib < s.credit_kib) {
            return;
        }
        if s.stats
            .highest_receipt_kib
            .compare_exchange(last, kib, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return; // another task signed concurrently
        }
        let signed = Receipt {
            session_id: s.session_id.inner(),
            kib,
        }
        .sign(&s.session_key);
        lock(&s.signed).push(kib);
        s.signed_watch.send_replace(kib);
        s.stats.receipts_sent.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .send(client_frame::Frame::Receipt(pb::Receipt {
                signed_receipt: signed.to_bytes().to_vec(),
            }))
            .await;
    }

    /// Ends the relay: no more frames are sent.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        lock(&self.shared.streams).clear();
    }
}

/// One TCP stream multiplexed on a relay.
pub struct RelayStream {
    relay: Relay,
    id: u32,
    rx: mpsc::Receiver<StreamEvent>,
}

impl RelayStream {
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
        let (mut rd, mut wr) = tokio::io::split(local);
        let relay = self.relay.clone();
        let id = self.id;
        let max = relay.shared.max_frame;
        let upload = async move {
            let mut buf = vec![0u8; max];
            let mut total = 0u64;
            loop {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = buf.get(..n).map(<[u8]>::to_vec).unwrap_or_default();
                if relay
                    .send(client_frame::Frame::Data(pb::Data {
                        stream_id: id,
                        bytes: chunk,
                    }))
                    .await
                    .is_err()
                {
                    break;
                }
                total += n as u64;
                relay.account(n, true).await;
            }
            let _ = relay
                .send(client_frame::Frame::Close(pb::Close { stream_id: id }))
                .await;
            total
        };
        let relay2 = self.relay.clone();
        let download = async move {
            let mut total = 0u64;
            let mut local_shut = false;
            while let Some(ev) = self.rx.recv().await {
                match ev {
                    StreamEvent::Data(d) => {
                        if wr.write_all(&d).await.is_err() {
                            break;
                        }
                        total += d.len() as u64;
                        relay2.account(d.len(), false).await;
                    }
                    StreamEvent::Eof => {
                        // Half-close: the local peer reads EOF and may
                        // still send; `Closed` ends the stream.
                        if !local_shut {
                            local_shut = true;
                            let _ = wr.shutdown().await;
                        }
                    }
                    StreamEvent::Closed(why) => {
                        tracing::debug!(stream = id, "stream closed by the node: {why}");
                        if std::env::var_os("VEIL_DEMO_DEBUG").is_some() {
                            eprintln!("   [debug] stream {id} closed: {why}");
                        }
                        break;
                    }
                    StreamEvent::Opened => {}
                }
            }
            if !local_shut {
                let _ = wr.shutdown().await;
            }
            lock(&relay2.shared.streams).remove(&id);
            total
        };
        let up = tokio::spawn(upload);
        let down = download.await;
        // The node freed the stream (after our Close, or on an error): stop
        // reading from the local side.
        up.abort();
        let sent = up.await.unwrap_or(0);
        Ok((sent, down))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn read_loop(shared: Arc<Shared>, mut inbound: tonic::Streaming<pb::NodeFrame>) {
    let relay = Relay {
        shared: shared.clone(),
    };
    loop {
        let frame = match inbound.message().await {
            Ok(Some(f)) => f,
            Ok(None) | Err(_) => break,
        };
        let Some(frame) = frame.frame else { continue };
        match frame {
            node_frame::Frame::Opened(o) => {
                deliver(&shared, o.stream_id, StreamEvent::Opened).await
            }
            node_frame::Frame::Data(d) => {
                deliver(&shared, d.stream_id, StreamEvent::Data(d.bytes)).await
            }
            node_frame::Frame::Eof(e) => deliver(&shared, e.stream_id, StreamEvent::Eof).await,
            node_frame::Frame::Closed(c) => {
                let why = format!("{:?} {}", c.reason(), c.message);
                deliver(&shared, c.stream_id, StreamEvent::Closed(why)).await;
            }
            node_frame::Frame::ReceiptAck(_) => {
                shared.stats.receipts_acked.fetch_add(1, Ordering::Relaxed);
            }
            node_frame::Frame::CreditLow(_) => relay.maybe_receipt(true).await,
            node_frame::Frame::ChallengeResponse(r) => {
                let Ok(key) = <[u8; 32]>::try_from(r.nonce.as_slice()) else {
                    continue;
                };
                let Some((t0, done)) = lock(&shared.challenges).remove(&key) else {
                    continue;
                };
                let ok = fr_from_slice(&r.nonce).ok().is_some_and(|nonce| {
                    Signature::from_slice(&r.signature).is_ok_and(|sig| {
                        shared
                            .node_key
                            .verify(&challenge_message(&nonce), &sig)
                            .is_ok()
                    })
                });
                if ok {
                    let us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                    shared.stats.rtt_us_total.fetch_add(us, Ordering::Relaxed);
                    shared.stats.challenges_ok.fetch_add(1, Ordering::Relaxed);
                }
                let _ = done.send(ok);
            }
            node_frame::Frame::Error(e) => {
                shared.stats.errors.fetch_add(1, Ordering::Relaxed);
                if e.stream_id != 0 {
                    let why = format!("{:?}: {}", e.code(), e.message);
                    deliver(&shared, e.stream_id, StreamEvent::Closed(why)).await;
                }
            }
            // Voucher frames belong to voucher-paid relays (`crate::vouchers`).
            _ => {}
        }
    }
    shared.closed.store(true, Ordering::Release);
    // Dropping the senders ends every stream.
    lock(&shared.streams).clear();
}

async fn deliver(shared: &Shared, id: u32, ev: StreamEvent) {
    let tx = lock(&shared.streams).get(&id).cloned();
    if let Some(tx) = tx {
        let _ = tx.send(ev).await;
    }
}
