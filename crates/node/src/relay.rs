//! The metered relay: many TCP streams multiplexed on one `Relay` gRPC
//! stream, receipts, challenges (`docs/protocol.md` §9.3–§9.5).
//!
//! One task runs the inbound loop (client frames, in order); one task per
//! TCP stream connects, writes client bytes upstream and reads upstream
//! bytes back. Client → upstream bytes are charged before they are written;
//! upstream → client bytes are read, then held until the session's
//! allowance covers them (never sent beyond it).
//!
//! Streams half-close both ways (§9.4): the client's `Close` shuts down the
//! upstream write side; upstream EOF is announced with `Eof`; the stream is
//! freed with `Closed{EOF}` once both directions are done, or with another
//! `Closed` reason on an error (a reset).
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tonic::Status;
use tracing::debug;
use veil_ledger::LedgerApi;
use veil_primitives::field::fr_from_slice;
use veil_primitives::ids::SessionId;
use veil_primitives::receipt::{KIB, SignedReceipt, challenge_message};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::{client_frame, node_frame};

use crate::egress::EgressPolicy;
use crate::metering::{ReceiptError, ServeError, VerifiedReceipt};
use crate::state::{Inner, Metrics, SessionSlot, lock};

type Out = mpsc::Sender<Result<pb::NodeFrame, Status>>;

fn frame(f: node_frame::Frame) -> Result<pb::NodeFrame, Status> {
    Ok(pb::NodeFrame { frame: Some(f) })
}

fn error_frame(
    code: pb::ErrorCode,
    message: impl Into<String>,
    stream_id: u32,
) -> Result<pb::NodeFrame, Status> {
    frame(node_frame::Frame::Error(pb::Error {
        code: code as i32,
        message: message.into(),
        stream_id,
    }))
}

fn closed_frame(
    stream_id: u32,
    reason: pb::CloseReason,
    message: impl Into<String>,
) -> Result<pb::NodeFrame, Status> {
    frame(node_frame::Frame::Closed(pb::Closed {
        stream_id,
        reason: reason as i32,
        message: message.into(),
    }))
}

/// `Eof{stream_id}`: upstream reached end of stream, no more `Data` follows (§9.4).
fn eof_frame(stream_id: u32) -> Result<pb::NodeFrame, Status> {
    frame(node_frame::Frame::Eof(pb::Eof { stream_id }))
}

/// A stream task's end: its id, its generation, and why it ended.
struct StreamEnd {
    id: u32,
    generation: u64,
    reason: pb::CloseReason,
    message: String,
}

/// Client bytes a Relay (all its streams together) may hold back while they
/// wait for the receipt that pays for them (§9.3): an upload that arrives
/// just before the receipt for bytes still in flight to the client waits
/// for it instead of closing the stream. Beyond this the stream is closed
/// `CreditExhausted`. Per Relay, not per stream, so 256 streams cannot make
/// the node hold 256 MiB.
const MAX_PARKED_UPLOAD: usize = 1 << 20;

/// Bytes held back on this Relay (only computed when parking, which is rare).
fn parked_total(streams: &HashMap<u32, StreamEntry>) -> usize {
    streams.values().map(|e| e.parked_bytes).sum()
}

struct StreamEntry {
    generation: u64,
    to_upstream: Option<mpsc::Sender<Vec<u8>>>,
    /// Client data not yet paid for, in order; sent upstream as receipts
    /// arrive ([`drain_parked`]).
    parked: std::collections::VecDeque<Vec<u8>>,
    parked_bytes: usize,
    /// The client's `Close` arrived while data was parked: half-close the
    /// upstream once that data is through, not before.
    close_after_parked: bool,
    abort: tokio::task::AbortHandle,
    /// The meter paying for this stream: the bound session's, or the
    /// stream's own for a voucher-paid stream.
    slot: Arc<SessionSlot>,
}

/// Decrements the open-stream gauge when a stream task ends.
struct StreamGauge<L>(Arc<Inner<L>>);

impl<L> Drop for StreamGauge<L> {
    fn drop(&mut self) {
        self.0.metrics.streams_open.fetch_sub(1, Ordering::Relaxed);
    }
}

fn serve_error_code(e: ServeError) -> (pb::ErrorCode, pb::CloseReason) {
    match e {
        ServeError::Expired => (
            pb::ErrorCode::SessionExpired,
            pb::CloseReason::SessionExpired,
        ),
        ServeError::Closed => (
            pb::ErrorCode::SessionExpired,
            pb::CloseReason::SessionExpired,
        ),
        ServeError::ReceiptRequired { .. } | ServeError::CreditExhausted { .. } => (
            pb::ErrorCode::CreditExhausted,
            pb::CloseReason::CreditExhausted,
        ),
    }
}

fn receipt_error_code(e: ReceiptError) -> pb::ErrorCode {
    match e {
        ReceiptError::Foreign => pb::ErrorCode::ReceiptForeign,
        ReceiptError::Stale { .. } | ReceiptError::Zero => pb::ErrorCode::ReceiptStale,
        ReceiptError::Expired | ReceiptError::Closed => pb::ErrorCode::SessionExpired,
    }
}

/// Runs one `Relay` call until the client ends it, an idle timeout, or a
/// fatal error (returned as the call's status).
pub(crate) async fn run<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    mut inbound: tonic::Streaming<pb::ClientFrame>,
    out: Out,
) -> Result<(), Status> {
    let mut bound: Option<(SessionId, Arc<SessionSlot>)> = None;
    let mut streams: HashMap<u32, StreamEntry> = HashMap::new();
    let mut tasks = JoinSet::new();
    let (end_tx, mut end_rx) = mpsc::channel::<StreamEnd>(64);
    let mut generation = 0u64;
    let idle = inner.config.limits.relay_idle_timeout;

    loop {
        let next = tokio::select! {
            msg = tokio::time::timeout(idle, inbound.message()) => msg,
            Some(end) = end_rx.recv() => {
                if streams.get(&end.id).is_some_and(|e| e.generation == end.generation) {
                    streams.remove(&end.id);
                    let _ = out.send(closed_frame(end.id, end.reason, end.message)).await;
                }
                continue;
            }
        };
        let msg = match next {
            Err(_) if streams.is_empty() => {
                return Err(Status::deadline_exceeded("relay idle"));
            }
            Err(_) => continue,
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Ok(()),
            Ok(Err(status)) => return Err(status),
        };
        let Some(f) = msg.frame else {
            let _ = out
                .send(error_frame(pb::ErrorCode::Malformed, "empty frame", 0))
                .await;
            continue;
        };
        match f {
            client_frame::Frame::Open(open) => {
                let id = open.stream_id;
                // A voucher-paid stream has its own meter (docs/vouchers.md §9);
                // its payment is checked once the upstream connection is up.
                let mut voucher = None;
                let slot = match open.payment {
                    Some(pb::open::Payment::VoucherSpend(v)) => {
                        match crate::vouchers::VoucherPayment::decode(&v) {
                            Ok(payment) => {
                                let slot = crate::vouchers::stream_slot(&inner, payment.amount());
                                voucher = Some(payment);
                                slot
                            }
                            Err(e) => {
                                let _ = out
                                    .send(error_frame(e.error_code(), e.to_string(), id))
                                    .await;
                                continue;
                            }
                        }
                    }
                    Some(pb::open::Payment::SessionId(session_bytes)) => {
                        let Ok(session_id) = SessionId::from_slice(&session_bytes) else {
                            let _ = out
                                .send(error_frame(pb::ErrorCode::Malformed, "session id", id))
                                .await;
                            continue;
                        };
                        match &bound {
                            Some((sid, slot)) if *sid == session_id => slot.clone(),
                            Some(_) => {
                                let _ = out
                                    .send(error_frame(
                                        pb::ErrorCode::SessionMismatch,
                                        "this relay is bound to another session",
                                        id,
                                    ))
                                    .await;
                                continue;
                            }
                            None => match inner.session(&session_id) {
                                // The session id is the public nullifier:
                                // only the session key's signature binds
                                // this Relay to the session (§9.4).
                                Some(slot)
                                    if session_auth_ok(
                                        &inner,
                                        &slot,
                                        &session_id,
                                        &open.session_auth,
                                    ) =>
                                {
                                    bound = Some((session_id, slot.clone()));
                                    slot
                                }
                                Some(_) => {
                                    let _ = out
                                        .send(error_frame(
                                            pb::ErrorCode::SessionAuthFailed,
                                            "session_auth is not the session key's signature of H(RELAY_BIND, session_id, node_id)",
                                            id,
                                        ))
                                        .await;
                                    continue;
                                }
                                None => {
                                    let _ = out
                                        .send(error_frame(
                                            pb::ErrorCode::UnknownSession,
                                            "unknown session",
                                            id,
                                        ))
                                        .await;
                                    continue;
                                }
                            },
                        }
                    }
                    None => {
                        let _ = out
                            .send(error_frame(
                                pb::ErrorCode::Malformed,
                                "open without payment",
                                id,
                            ))
                            .await;
                        continue;
                    }
                };
                if id == 0 {
                    let _ = out
                        .send(closed_frame(
                            id,
                            pb::CloseReason::Refused,
                            "stream id 0 is reserved",
                        ))
                        .await;
                    continue;
                }
                if streams.contains_key(&id) {
                    let _ = out
                        .send(error_frame(
                            pb::ErrorCode::StreamIdInUse,
                            "stream id in use",
                            id,
                        ))
                        .await;
                    continue;
                }
                if streams.len() >= inner.config.limits.max_streams_per_relay {
                    let _ = out
                        .send(closed_frame(
                            id,
                            pb::CloseReason::Refused,
                            "too many streams",
                        ))
                        .await;
                    continue;
                }
                let now = inner.height();
                if lock(&slot.state).observe_height(now) {
                    let _ = out
                        .send(closed_frame(
                            id,
                            pb::CloseReason::SessionExpired,
                            "session expired",
                        ))
                        .await;
                    continue;
                }
                let port = match u16::try_from(open.port) {
                    Ok(p) => p,
                    Err(_) => {
                        let _ = out
                            .send(closed_frame(
                                id,
                                pb::CloseReason::EgressDenied,
                                "port out of range",
                            ))
                            .await;
                        continue;
                    }
                };
                if let Err(e) = inner.config.egress.check_port(port) {
                    let _ = out
                        .send(closed_frame(
                            id,
                            pb::CloseReason::EgressDenied,
                            e.to_string(),
                        ))
                        .await;
                    continue;
                }
                generation += 1;
                let (up_tx, up_rx) = mpsc::channel::<Vec<u8>>(16);
                inner.metrics.streams_open.fetch_add(1, Ordering::Relaxed);
                let gauge = StreamGauge(inner.clone());
                let ctx = StreamCtx {
                    inner: inner.clone(),
                    slot: slot.clone(),
                    voucher,
                    id,
                    host: open.host,
                    port,
                    out: out.clone(),
                };
                let end_tx = end_tx.clone();
                let gen_ = generation;
                let abort = tasks.spawn(async move {
                    let _gauge = gauge;
                    let (reason, message) = ctx.run(up_rx).await;
                    let _ = end_tx
                        .send(StreamEnd {
                            id,
                            generation: gen_,
                            reason,
                            message,
                        })
                        .await;
                });
                streams.insert(
                    id,
                    StreamEntry {
                        generation,
                        to_upstream: Some(up_tx),
                        parked: Default::default(),
                        parked_bytes: 0,
                        close_after_parked: false,
                        abort,
                        slot,
                    },
                );
            }
            client_frame::Frame::Data(data) => {
                let id = data.stream_id;
                if bound.is_none() && streams.is_empty() {
                    let _ = out
                        .send(error_frame(
                            pb::ErrorCode::UnknownStream,
                            "no stream open",
                            id,
                        ))
                        .await;
                    continue;
                }
                let Some(entry) = streams.get_mut(&id) else {
                    // The node may have closed it already: not an error of the client.
                    continue;
                };
                let slot = entry.slot.clone();
                if data.bytes.len() > inner.config.limits.max_frame_bytes {
                    let _ = out
                        .send(error_frame(
                            pb::ErrorCode::FrameTooLarge,
                            "data frame too large",
                            id,
                        ))
                        .await;
                    continue;
                }
                let tx = entry
                    .to_upstream
                    .clone()
                    .filter(|_| !entry.close_after_parked);
                let Some(tx) = tx else {
                    let _ = out
                        .send(error_frame(
                            pb::ErrorCode::UnknownStream,
                            "stream already closed for sending",
                            id,
                        ))
                        .await;
                    continue;
                };
                if !entry.parked.is_empty() {
                    // Keep the stream's byte order: queue behind the parked data.
                    park_or_close(&out, &mut streams, id, data.bytes).await;
                    continue;
                }
                let n = data.bytes.len() as u64;
                let served = lock(&slot.state).serve(n, inner.height());
                match served {
                    Ok(s) => {
                        inner.metrics.bytes_relayed.fetch_add(n, Ordering::Relaxed);
                        if s.credit_low {
                            send_credit_low(&out, &slot).await;
                        }
                        if tx.send(data.bytes).await.is_err() {
                            // Writer ended; its StreamEnd closes the stream.
                            continue;
                        }
                    }
                    // Unpaid yet: the receipt for bytes in flight to the
                    // client may be right behind this frame. Wait for it.
                    Err(ServeError::ReceiptRequired { .. }) => {
                        if park_or_close(&out, &mut streams, id, data.bytes).await {
                            send_credit_low(&out, &slot).await;
                        }
                    }
                    Err(e) => {
                        close_refused(&out, &mut streams, id, e).await;
                    }
                }
            }
            client_frame::Frame::Close(close) => {
                if let Some(entry) = streams.get_mut(&close.stream_id) {
                    if entry.parked.is_empty() {
                        // Dropping the sender half-closes the upstream write side.
                        entry.to_upstream = None;
                    } else {
                        entry.close_after_parked = true;
                    }
                }
            }
            client_frame::Frame::Receipt(r) => {
                let reply = handle_receipt(&inner, bound.as_ref(), &r.signed_receipt).await?;
                let _ = out.send(reply).await;
                drain_parked(&inner, &out, &mut streams).await;
            }
            client_frame::Frame::Challenge(c) => {
                let reply = match fr_from_slice(&c.nonce) {
                    Ok(nonce) => {
                        let sig = inner.node_key.sign(&challenge_message(&nonce));
                        frame(node_frame::Frame::ChallengeResponse(
                            pb::ChallengeResponse {
                                nonce: c.nonce,
                                signature: sig.to_bytes().to_vec(),
                            },
                        ))
                    }
                    Err(e) => {
                        error_frame(pb::ErrorCode::Malformed, format!("challenge nonce: {e}"), 0)
                    }
                };
                let _ = out.send(reply).await;
            }
        }
    }
}

/// Whether `auth` is the session key's signature of
/// `H(RELAY_BIND, session_id, node_id)` (§9.4).
fn session_auth_ok<L>(
    inner: &Inner<L>,
    slot: &SessionSlot,
    session_id: &SessionId,
    auth: &[u8],
) -> bool {
    let Ok(sig) = veil_primitives::eddsa::Signature::from_slice(auth) else {
        return false;
    };
    let m =
        veil_primitives::receipt::relay_bind_message(&session_id.inner(), &inner.node_id.inner());
    slot.session_key.verify(&m, &sig).is_ok()
}

/// Tells the client why its data was refused and closes the stream.
async fn close_refused(out: &Out, streams: &mut HashMap<u32, StreamEntry>, id: u32, e: ServeError) {
    let (code, reason) = serve_error_code(e);
    let _ = out.send(error_frame(code, e.to_string(), id)).await;
    if let Some(entry) = streams.remove(&id) {
        entry.abort.abort();
        let _ = out.send(closed_frame(id, reason, e.to_string())).await;
    }
}

/// Holds `bytes` at the end of stream `id`'s parked data, or closes the
/// stream if the Relay would hold more than [`MAX_PARKED_UPLOAD`].
/// Returns whether the bytes were held.
async fn park_or_close(
    out: &Out,
    streams: &mut HashMap<u32, StreamEntry>,
    id: u32,
    bytes: Vec<u8>,
) -> bool {
    if parked_total(streams) + bytes.len() <= MAX_PARKED_UPLOAD
        && let Some(entry) = streams.get_mut(&id)
    {
        entry.parked_bytes += bytes.len();
        entry.parked.push_back(bytes);
        return true;
    }
    close_unpaid(out, streams, id).await;
    false
}

/// Closes a stream whose client sent more than [`MAX_PARKED_UPLOAD`]
/// beyond what its receipts pay for.
async fn close_unpaid(out: &Out, streams: &mut HashMap<u32, StreamEntry>, id: u32) {
    let msg = "upload beyond the receipted allowance";
    let _ = out
        .send(error_frame(pb::ErrorCode::CreditExhausted, msg, id))
        .await;
    if let Some(entry) = streams.remove(&id) {
        entry.abort.abort();
        let _ = out
            .send(closed_frame(id, pb::CloseReason::CreditExhausted, msg))
            .await;
    }
}

/// Sends parked client data upstream as far as the allowance now reaches
/// (after a receipt); a stream whose parked data can never be paid
/// (escrow exhausted, session closed) is closed.
async fn drain_parked<L: LedgerApi>(
    inner: &Arc<Inner<L>>,
    out: &Out,
    streams: &mut HashMap<u32, StreamEntry>,
) {
    let ids: Vec<u32> = streams
        .iter()
        .filter(|(_, e)| !e.parked.is_empty())
        .map(|(id, _)| *id)
        .collect();
    for id in ids {
        loop {
            let Some(entry) = streams.get_mut(&id) else {
                break;
            };
            let Some(front_len) = entry.parked.front().map(Vec::len) else {
                break;
            };
            let served = lock(&entry.slot.state).serve(front_len as u64, inner.height());
            match served {
                Ok(s) => {
                    let Some(bytes) = entry.parked.pop_front() else {
                        break;
                    };
                    entry.parked_bytes = entry.parked_bytes.saturating_sub(front_len);
                    inner
                        .metrics
                        .bytes_relayed
                        .fetch_add(front_len as u64, Ordering::Relaxed);
                    let (slot, tx) = (entry.slot.clone(), entry.to_upstream.clone());
                    if s.credit_low {
                        send_credit_low(out, &slot).await;
                    }
                    if entry.parked.is_empty() && entry.close_after_parked {
                        entry.to_upstream = None;
                    }
                    if let Some(tx) = tx
                        && tx.send(bytes).await.is_err()
                    {
                        break;
                    }
                }
                Err(ServeError::ReceiptRequired { .. }) => break,
                Err(e) => {
                    close_refused(out, streams, id, e).await;
                    break;
                }
            }
        }
    }
}

async fn send_credit_low(out: &Out, slot: &SessionSlot) {
    let pos = lock(&slot.state).position();
    let _ = out
        .send(frame(node_frame::Frame::CreditLow(pb::CreditLow {
            served_kib: pos.served_kib,
            receipted_kib: pos.receipted_kib,
            limit_kib: pos.limit_kib,
        })))
        .await;
}

/// Checks, persists and applies a receipt (§9.3). Only a storage failure
/// is fatal; every refusal is an `Error` frame and changes nothing.
async fn handle_receipt<L: LedgerApi>(
    inner: &Arc<Inner<L>>,
    bound: Option<&(SessionId, Arc<SessionSlot>)>,
    bytes: &[u8],
) -> Result<Result<pb::NodeFrame, Status>, Status> {
    let refuse = |code: pb::ErrorCode, msg: String| {
        Metrics::inc(&inner.metrics.receipts_rejected);
        Ok(error_frame(code, msg, 0))
    };
    let Some((session_id, slot)) = bound else {
        return refuse(
            pb::ErrorCode::UnknownSession,
            "receipt before any Open on this relay".into(),
        );
    };
    let signed = match SignedReceipt::from_bytes(bytes) {
        Ok(r) => r,
        Err(e) => return refuse(pb::ErrorCode::Malformed, format!("receipt: {e}")),
    };
    let receipt_session = SessionId::from_fr(signed.receipt.session_id);
    if receipt_session != *session_id {
        return refuse(
            pb::ErrorCode::ReceiptForeign,
            ReceiptError::Foreign.to_string(),
        );
    }
    if let Err(e) = signed.verify(&slot.session_key) {
        return refuse(pb::ErrorCode::ReceiptBadSignature, e.to_string());
    }
    let verified = VerifiedReceipt {
        session_id: receipt_session,
        kib: signed.receipt.kib,
        receipt: signed,
    };
    let now = inner.height();
    if let Err(e) = lock(&slot.state).check_receipt(&verified, now) {
        return refuse(receipt_error_code(e), e.to_string());
    }
    // Persist before acknowledging (§9.6).
    let store = inner.store.clone();
    tokio::task::spawn_blocking(move || store.put_receipt_if_higher(&signed))
        .await
        .map_err(|_| Status::internal("receipt persistence task failed"))?
        .map_err(|e| Status::internal(format!("node database: {e}")))?;
    let kib = verified.kib;
    let accepted = lock(&slot.state).accept_receipt(verified, now);
    match accepted {
        Ok(pos) => {
            Metrics::inc(&inner.metrics.receipts_accepted);
            slot.notify.notify_waiters();
            Ok(frame(node_frame::Frame::ReceiptAck(pb::ReceiptAck {
                kib,
                allowance_kib: pos.allowance_bytes / KIB,
            })))
        }
        Err(e) => refuse(receipt_error_code(e), e.to_string()),
    }
}

struct StreamCtx<L> {
    inner: Arc<Inner<L>>,
    slot: Arc<SessionSlot>,
    /// The voucher payment to check once connected (voucher-paid streams).
    voucher: Option<crate::vouchers::VoucherPayment>,
    id: u32,
    host: String,
    port: u16,
    out: Out,
}

/// Resolves `host:port` and picks the first address the policy allows.
async fn resolve(
    policy: &EgressPolicy,
    host: &str,
    port: u16,
) -> Result<SocketAddr, (pb::CloseReason, String)> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| (pb::CloseReason::ConnectFailed, format!("resolve: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err((
            pb::CloseReason::ConnectFailed,
            "name did not resolve".into(),
        ));
    }
    addrs
        .into_iter()
        .find(|a| policy.check_addr(a.ip()).is_ok())
        .ok_or((
            pb::CloseReason::EgressDenied,
            "destination address is in a denied range".into(),
        ))
}

impl<L: LedgerApi> StreamCtx<L> {
    async fn run(mut self, mut from_client: mpsc::Receiver<Vec<u8>>) -> (pb::CloseReason, String) {
        let limits = &self.inner.config.limits;
        let connect = async {
            let addr = resolve(&self.inner.config.egress, &self.host, self.port).await?;
            TcpStream::connect(addr)
                .await
                .map_err(|e| (pb::CloseReason::ConnectFailed, format!("connect: {e}")))
        };
        let tcp = match tokio::time::timeout(limits.connect_timeout, connect).await {
            Ok(Ok(s)) => s,
            Ok(Err((reason, msg))) => return (reason, msg),
            Err(_) => return (pb::CloseReason::ConnectFailed, "connect timed out".into()),
        };
        let _ = tcp.set_nodelay(true);
        if let Some(payment) = self.voucher.take() {
            let paid =
                crate::vouchers::pay_stream(&self.inner, payment, self.id, &self.host, self.port)
                    .await;
            let reply = match paid {
                Ok(accepted) => frame(node_frame::Frame::VoucherAccepted(accepted)),
                Err(e) => {
                    let _ = self
                        .out
                        .send(error_frame(e.error_code(), e.to_string(), self.id))
                        .await;
                    return (pb::CloseReason::VoucherRejected, e.to_string());
                }
            };
            if self.out.send(reply).await.is_err() {
                return (pb::CloseReason::IoError, "client gone".into());
            }
        }
        if self
            .out
            .send(frame(node_frame::Frame::Opened(pb::Opened {
                stream_id: self.id,
            })))
            .await
            .is_err()
        {
            return (pb::CloseReason::IoError, "client gone".into());
        }
        let (mut rd, mut wr) = tcp.into_split();
        let writer = async {
            while let Some(bytes) = from_client.recv().await {
                wr.write_all(&bytes).await?;
            }
            wr.shutdown().await
        };
        let reader = self.pump_upstream(&mut rd);
        tokio::pin!(writer);
        tokio::pin!(reader);
        // Both halves must finish (half-close both ways, §9.4): the writer
        // when the client's Close has been written through as a TCP FIN,
        // the reader at upstream EOF (announced with `Eof`). An error on
        // either ends the stream.
        let mut writer_done = false;
        let mut reader_result = None;
        loop {
            tokio::select! {
                w = &mut writer, if !writer_done => {
                    if let Err(e) = w {
                        return (pb::CloseReason::IoError, format!("upstream write: {e}"));
                    }
                    writer_done = true;
                }
                r = &mut reader, if reader_result.is_none() => {
                    match r {
                        Ok(()) => reader_result = Some(()),
                        Err(end) => return end,
                    }
                    // Upstream is done sending while the client still may
                    // send: tell the client, which half-closes its local
                    // socket (§9.4). After the client's Close, `Closed{EOF}`
                    // below says it all.
                    if !writer_done && self.out.send(eof_frame(self.id)).await.is_err() {
                        return (pb::CloseReason::IoError, "client gone".into());
                    }
                }
            }
            if writer_done && reader_result.is_some() {
                return (pb::CloseReason::Eof, String::new());
            }
        }
    }

    /// Reads upstream bytes and sends them to the client within the allowance.
    async fn pump_upstream(
        &self,
        rd: &mut tokio::net::tcp::OwnedReadHalf,
    ) -> Result<(), (pb::CloseReason, String)> {
        let max = self.inner.config.limits.max_frame_bytes.max(1);
        let mut buf = vec![0u8; max];
        loop {
            let n = rd
                .read(&mut buf)
                .await
                .map_err(|e| (pb::CloseReason::IoError, format!("upstream read: {e}")))?;
            if n == 0 {
                return Ok(());
            }
            let mut off = 0;
            while off < n {
                let notified = self.slot.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let want = (n - off) as u64;
                let (granted, credit_low, refusal) = {
                    let mut st = lock(&self.slot.state);
                    let now = self.inner.height();
                    let g = st.allowance(now).min(want);
                    if g == 0 {
                        let refusal = st.serve(want, now).err();
                        (0, false, refusal)
                    } else {
                        match st.serve(g, now) {
                            Ok(s) => (g, s.credit_low, None),
                            Err(e) => (0, false, Some(e)),
                        }
                    }
                };
                if granted > 0 {
                    let end = off + granted as usize;
                    let chunk = buf.get(off..end).map(<[u8]>::to_vec).unwrap_or_default();
                    off = end;
                    self.inner
                        .metrics
                        .bytes_relayed
                        .fetch_add(granted, Ordering::Relaxed);
                    let data = frame(node_frame::Frame::Data(pb::Data {
                        stream_id: self.id,
                        bytes: chunk,
                    }));
                    if self.out.send(data).await.is_err() {
                        return Err((pb::CloseReason::IoError, "client gone".into()));
                    }
                    if credit_low {
                        send_credit_low(&self.out, &self.slot).await;
                    }
                    continue;
                }
                match refusal {
                    Some(ServeError::ReceiptRequired { .. }) => {
                        send_credit_low(&self.out, &self.slot).await;
                        if tokio::time::timeout(self.inner.config.limits.receipt_wait, notified)
                            .await
                            .is_err()
                        {
                            return Err((
                                pb::CloseReason::CreditExhausted,
                                "no receipt in time".into(),
                            ));
                        }
                    }
                    Some(e) => {
                        let (_, reason) = serve_error_code(e);
                        return Err((reason, e.to_string()));
                    }
                    None => {
                        debug!("allowance raced to zero; waiting");
                        let _ =
                            tokio::time::timeout(self.inner.config.limits.receipt_wait, notified)
                                .await;
                    }
                }
            }
        }
    }
}
