//! The metered relay: many TCP streams multiplexed on one `Relay` gRPC
//! stream, receipts, challenges (`docs/protocol.md` §9.3–§9.5).
//!
//! * [`command`]: client frames decoded once into [`command::RelayCommand`]s;
//! * [`conn`]: the per-connection state machine (no I/O): streams, the
//!   session binding, who pays, parked uploads; it returns
//!   [`conn::Action`]s;
//! * [`receipts`]: receipts checked off the relay loop, highest first
//!   (sans-IO), and [`worker`], the task that does it;
//! * [`event`]: node → client events, turned into frames in one place;
//! * [`upstream`]: one task per TCP stream (connect, voucher payment,
//!   bytes both ways);
//! * this module: the I/O shell that pumps frames through the machine and
//!   carries out its actions.
//!
//! Client → upstream bytes are charged before they are written; upstream →
//! client bytes are read, then held until the session's allowance covers
//! them (never sent beyond it). Streams half-close both ways (§9.4): the
//! client's `Close` shuts down the upstream write side; upstream EOF is
//! announced with `Eof`; the stream is freed with `Closed{EOF}` once both
//! directions are done, or with another `Closed` reason on an error.
mod command;
mod conn;
mod event;
mod receipts;
mod upstream;
mod worker;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};
use tonic::Status;
use veil_ledger::LedgerApi;
use veil_ledger::types::NodeId;
use veil_primitives::eddsa::Signature;
use veil_primitives::field::Fr;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::challenge_message;
use veil_proto::node::v1 as pb;
use veil_vouchers::Balance;

use command::RelayCommand;
use conn::{Action, Conn, Connect, Host, StreamEnd};
use upstream::StreamTask;
use worker::{Checked, ReceiptWorker};

use crate::state::{Inner, Metrics, SessionSlot};

type Out = mpsc::Sender<Result<pb::NodeFrame, Status>>;

impl<L> Host for Inner<L> {
    fn height(&self) -> BlockHeight {
        Inner::height(self)
    }
    fn session(&self, id: &SessionId) -> Option<Arc<SessionSlot>> {
        Inner::session(self, id)
    }
    fn node_id(&self) -> NodeId {
        self.node_id
    }
    fn sign_challenge(&self, nonce: &Fr) -> Signature {
        self.node_key.sign(&challenge_message(nonce))
    }
    fn voucher_meter(&self, amount: Balance) -> Arc<SessionSlot> {
        crate::vouchers::stream_slot(self, amount)
    }
    fn check_port(&self, host: &str, port: u16) -> Result<(), String> {
        if self.peers.allows(host, port) {
            return Ok(()); // a registered node's endpoint (§9.4)
        }
        self.config
            .egress
            .check_port(port)
            .map_err(|e| e.to_string())
    }
    fn max_streams(&self) -> usize {
        self.config.limits.max_streams_per_relay
    }
    fn max_frame_bytes(&self) -> usize {
        self.config.limits.max_frame_bytes
    }
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}

/// Runs one `Relay` call until the client ends it, an idle timeout, or a
/// fatal error (returned as the call's status).
pub(crate) async fn run<L: LedgerApi>(
    inner: Arc<Inner<L>>,
    inbound: tonic::Streaming<pb::ClientFrame>,
    out: Out,
) -> Result<(), Status> {
    let (end_tx, end_rx) = mpsc::channel::<StreamEnd>(64);
    let (checked_tx, checked_rx) = mpsc::unbounded_channel();
    let mut shell = Shell {
        inner,
        out,
        end_tx,
        tasks: JoinSet::new(),
        upstream: HashMap::new(),
        checked_tx,
        worker: None,
    };
    let result = shell.pump(inbound, end_rx, checked_rx).await;
    if let Some(worker) = shell.worker.take() {
        worker.stop().await;
    }
    result
}

impl<L: LedgerApi> Shell<L> {
    /// The relay loop: client frames, stream ends and the receipt worker's
    /// reports, each through the machine, whose actions are carried out.
    async fn pump(
        &mut self,
        mut inbound: tonic::Streaming<pb::ClientFrame>,
        mut end_rx: mpsc::Receiver<StreamEnd>,
        mut checked_rx: mpsc::UnboundedReceiver<Checked>,
    ) -> Result<(), Status> {
        let mut conn = Conn::default();
        let idle = self.inner.config.limits.relay_idle_timeout;
        loop {
            let actions = tokio::select! {
                msg = tokio::time::timeout(idle, inbound.message()) => match msg {
                    Err(_) if !conn.has_streams() => {
                        return Err(Status::deadline_exceeded("relay idle"));
                    }
                    Err(_) => continue,
                    Ok(Ok(Some(frame))) => match RelayCommand::try_from(frame) {
                        Ok(cmd) => conn.apply(cmd, &*self.inner),
                        Err(e) => conn.refuse(e, &*self.inner),
                    },
                    Ok(Ok(None)) => return Ok(()),
                    Ok(Err(status)) => return Err(status),
                },
                Some(end) = end_rx.recv() => conn.stream_ended(end),
                Some(checked) = checked_rx.recv() => match checked {
                    Checked::Applied => conn.receipt_applied(&*self.inner),
                    Checked::Stored { kib, allowance_kib } => conn.receipt_stored(kib, allowance_kib),
                    Checked::Refused(r) => conn.receipt_refused(r, &*self.inner),
                    Checked::Failed(status) => return Err(status),
                },
            };
            self.execute(actions).await;
        }
    }
}

/// A running stream's upstream side, as the shell holds it.
struct Upstream {
    /// Client bytes to write upstream; dropped to half-close (§9.4).
    to_upstream: Option<mpsc::Sender<Vec<u8>>>,
    abort: AbortHandle,
}

/// The I/O half of one `Relay` call.
struct Shell<L> {
    inner: Arc<Inner<L>>,
    out: Out,
    end_tx: mpsc::Sender<StreamEnd>,
    tasks: JoinSet<()>,
    upstream: HashMap<u32, Upstream>,
    /// Where the receipt worker reports.
    checked_tx: mpsc::UnboundedSender<Checked>,
    /// Started on the first receipt for the Relay's session.
    worker: Option<ReceiptWorker>,
}

impl<L: LedgerApi> Shell<L> {
    /// Carries out the machine's actions in order.
    async fn execute(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send(event) => {
                    let _ = self.out.send(Ok(event.into())).await;
                }
                Action::Connect(c) => self.connect(c),
                Action::Write { stream, bytes } => {
                    let tx = self
                        .upstream
                        .get(&stream)
                        .and_then(|u| u.to_upstream.clone());
                    // A failed send: the writer ended, and its StreamEnd
                    // closes the stream.
                    if let Some(tx) = tx {
                        let _ = tx.send(bytes).await;
                    }
                }
                Action::Shutdown { stream } => {
                    if let Some(u) = self.upstream.get_mut(&stream) {
                        u.to_upstream = None;
                    }
                }
                Action::Release { stream } => {
                    if let Some(u) = self.upstream.remove(&stream) {
                        u.abort.abort();
                    }
                }
                Action::Check(c) => {
                    let inner = &self.inner;
                    let report = &self.checked_tx;
                    self.worker
                        .get_or_insert_with(|| ReceiptWorker::start(inner.clone(), report.clone()))
                        .push(c);
                }
            }
        }
    }

    /// Starts a stream's upstream task.
    fn connect(&mut self, c: Connect) {
        let Connect {
            stream,
            generation,
            host,
            port,
            payer,
        } = c;
        let (up_tx, up_rx) = mpsc::channel::<Vec<u8>>(16);
        self.inner.metrics.streams_open.inc();
        let gauge = StreamGauge(self.inner.clone());
        let task = StreamTask {
            inner: self.inner.clone(),
            stream,
            host,
            port,
            payer,
            out: self.out.clone(),
        };
        let end_tx = self.end_tx.clone();
        let abort = self.tasks.spawn(async move {
            let _gauge = gauge;
            let (reason, message) = task.run(up_rx).await;
            let end = StreamEnd {
                stream,
                generation,
                reason,
                message,
            };
            let _ = end_tx.send(end).await;
        });
        let upstream = Upstream {
            to_upstream: Some(up_tx),
            abort,
        };
        self.upstream.insert(stream, upstream);
    }
}

/// Decrements the open-stream gauge when a stream task ends.
struct StreamGauge<L>(Arc<Inner<L>>);

impl<L> Drop for StreamGauge<L> {
    fn drop(&mut self) {
        self.0.metrics.streams_open.dec();
    }
}
