//! Connection slots (C6, `docs/protocol.md` §9.7): the table shared by the
//! accept loop, the connections and the Relay handler, the connection type
//! that holds a slot, and the Relay response stream that marks a
//! connection paid.
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{debug, warn};
use veil_proto::node::v1 as pb;

use crate::admission::{Admission, ConnId, ConnPolicy, Connections, Refusal};
use crate::config::Limits;
use crate::sync::lock;

/// Length of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_LEN: usize = 24;

/// The connection slots shared by the accept loop, the connections and the
/// Relay handler: the [`Connections`] policy (C6) and a way to close each
/// connection it evicts or expires.
pub(crate) struct ConnTable {
    state: Mutex<(Connections, HashMap<ConnId, oneshot::Sender<()>>)>,
}

impl ConnTable {
    pub(crate) fn new(limits: &Limits) -> Self {
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
    pub(crate) fn accept(
        &self,
        peer: SocketAddr,
    ) -> Result<(ConnId, oneshot::Receiver<()>), Refusal> {
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
    pub(crate) fn expire_idle(&self) {
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
pub(crate) struct LimitedConn {
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

/// Accepts connections and hands those the table admits to the server.
pub(crate) async fn accept_loop(
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
