//! One stream's upstream task: connects, takes a voucher payment, writes
//! client bytes upstream and reads upstream bytes back within the
//! allowance (`docs/protocol.md` §9.3–§9.4).
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::sync::mpsc;
use tracing::debug;
use veil_ledger::LedgerApi;
use veil_proto::node::v1 as pb;

use super::Out;
use super::conn::{Grant, Payer, grant, relayed};
use super::event::{Event, serve_error_code};
use crate::egress::EgressPolicy;
use crate::session::Meter;
use crate::state::{Inner, lock};

/// Why a stream ended: the `Closed` reason and message.
pub(super) type End = (pb::CloseReason, String);

fn client_gone() -> End {
    (pb::CloseReason::IoError, "client gone".into())
}

/// Sends an event to the client; `Err` if the client is gone.
pub(super) async fn send(out: &Out, event: Event) -> Result<(), End> {
    out.send(Ok(event.into())).await.map_err(|_| client_gone())
}

pub(super) struct StreamTask<L> {
    pub inner: Arc<Inner<L>>,
    pub stream: u32,
    pub host: String,
    pub port: u16,
    pub payer: Payer,
    pub out: Out,
}

/// Resolves `host:port` and picks the first address the policy allows.
async fn resolve(policy: &EgressPolicy, host: &str, port: u16) -> Result<SocketAddr, End> {
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

impl<L: LedgerApi> StreamTask<L> {
    /// Runs the stream to its end; the reason becomes its `Closed` frame.
    pub async fn run(self, from_client: mpsc::Receiver<Vec<u8>>) -> End {
        match self.serve(from_client).await {
            Ok(()) => (pb::CloseReason::Eof, String::new()),
            Err(end) => end,
        }
    }

    async fn serve(self, from_client: mpsc::Receiver<Vec<u8>>) -> Result<(), End> {
        let tcp = self.connect().await?;
        let _ = tcp.set_nodelay(true);
        let Self {
            inner,
            stream,
            host,
            port,
            payer,
            out,
        } = self;
        let meter = match payer {
            Payer::Session(meter) => meter,
            Payer::Voucher { meter, payment } => {
                // Paid once connected, so a failed connect never costs the client.
                match crate::vouchers::pay_stream(&inner, payment, stream, &host, port).await {
                    Ok(accepted) => send(&out, Event::VoucherAccepted(accepted)).await?,
                    Err(e) => {
                        let _ =
                            send(&out, Event::error(e.error_code(), e.to_string(), stream)).await;
                        return Err((pb::CloseReason::VoucherRejected, e.to_string()));
                    }
                }
                meter
            }
        };
        send(&out, Event::Opened { stream }).await?;
        let pump = Pump {
            inner,
            stream,
            meter,
            out,
        };
        pump.run(tcp, from_client).await
    }

    async fn connect(&self) -> Result<TcpStream, End> {
        let connect = async {
            let addr = resolve(&self.inner.config.egress, &self.host, self.port).await?;
            TcpStream::connect(addr)
                .await
                .map_err(|e| (pb::CloseReason::ConnectFailed, format!("connect: {e}")))
        };
        tokio::time::timeout(self.inner.config.limits.connect_timeout, connect)
            .await
            .unwrap_or_else(|_| Err((pb::CloseReason::ConnectFailed, "connect timed out".into())))
    }
}

/// A connected stream: bytes both ways.
struct Pump<L> {
    inner: Arc<Inner<L>>,
    stream: u32,
    meter: Meter,
    out: Out,
}

impl<L: LedgerApi> Pump<L> {
    async fn run(
        self,
        tcp: TcpStream,
        mut from_client: mpsc::Receiver<Vec<u8>>,
    ) -> Result<(), End> {
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
        let mut reader_done = false;
        while !(writer_done && reader_done) {
            tokio::select! {
                w = &mut writer, if !writer_done => {
                    w.map_err(|e| (pb::CloseReason::IoError, format!("upstream write: {e}")))?;
                    writer_done = true;
                }
                r = &mut reader, if !reader_done => {
                    r?;
                    reader_done = true;
                    // Upstream is done sending while the client still may
                    // send: tell the client, which half-closes its local
                    // socket (§9.4). After the client's Close, `Closed{EOF}`
                    // says it all.
                    if !writer_done {
                        send(&self.out, Event::Eof { stream: self.stream }).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Reads upstream bytes and sends them to the client within the allowance.
    async fn pump_upstream(&self, rd: &mut OwnedReadHalf) -> Result<(), End> {
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
            if let Some(pace) = &self.inner.pace {
                tokio::time::sleep(pace.reserve(n, std::time::Instant::now())).await;
            }
            let mut off = 0;
            while off < n {
                off += self.forward(buf.get(off..n).unwrap_or_default()).await?;
            }
        }
    }

    /// Sends as much of `bytes` as the allowance covers, waiting for a
    /// receipt if none of it is covered; returns how many were sent.
    async fn forward(&self, bytes: &[u8]) -> Result<usize, End> {
        let notified = self.meter.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let wait = self.inner.config.limits.receipt_wait;
        let granted = grant(
            &mut lock(&self.meter.state),
            bytes.len() as u64,
            self.inner.height(),
        );
        match granted {
            Grant::Send { n, credit_low } => {
                relayed(&*self.inner, n);
                let chunk = bytes
                    .get(..n as usize)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                let stream = self.stream;
                send(
                    &self.out,
                    Event::Data {
                        stream,
                        bytes: chunk,
                    },
                )
                .await?;
                if credit_low {
                    self.credit_low().await;
                }
                Ok(n as usize)
            }
            Grant::ReceiptDue => {
                self.credit_low().await;
                match tokio::time::timeout(wait, notified).await {
                    Ok(()) => Ok(0),
                    Err(_) => Err((
                        pb::CloseReason::CreditExhausted,
                        "no receipt in time".into(),
                    )),
                }
            }
            Grant::Refused(e) => Err((serve_error_code(e).1, e.to_string())),
            Grant::Wait => {
                debug!("allowance raced to zero; waiting");
                let _ = tokio::time::timeout(wait, notified).await;
                Ok(0)
            }
        }
    }

    /// Asks for a receipt. A `CreditLow` the client misses is not an
    /// error of the stream (a closed call ends it anyway).
    async fn credit_low(&self) {
        let pos = lock(&self.meter.state).position();
        let _ = send(&self.out, Event::CreditLow(pos)).await;
    }
}
