//! The local SOCKS5 front end (`docs/client.md`): each accepted CONNECT
//! becomes one relay stream ([`crate::relay`]), paid by the [`Payer`]: the
//! current session's receipts, or a voucher spend per connection.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::relay::{Relay, RelayStream};
use crate::socks5::{self, Reply, Target};
use crate::vouchers::VoucherPayer;

/// Who pays for the connections of the front end.
#[derive(Clone)]
pub enum Payer {
    /// A session's relay: each connection is a stream on the relay current
    /// when it is accepted (`relays` is updated when a new session replaces
    /// one that runs low on credit), paid by its receipts.
    Session(watch::Receiver<Option<Relay>>),
    /// One voucher spend per connection, each on its own relay.
    Voucher(Arc<VoucherPayer>),
}

impl Payer {
    /// What pays the connection accepted now.
    fn for_connection(&self) -> ConnectionPayer {
        match self {
            Payer::Session(relays) => ConnectionPayer::Session(relays.borrow().clone()),
            Payer::Voucher(v) => ConnectionPayer::Voucher(v.clone()),
        }
    }
}

/// The payer of one accepted connection.
enum ConnectionPayer {
    Session(Option<Relay>),
    Voucher(Arc<VoucherPayer>),
}

impl ConnectionPayer {
    /// Opens a stream to `target`; on refusal, the reply due and why.
    async fn open(self, target: &Target) -> Result<RelayStream, (Reply, String)> {
        match self {
            ConnectionPayer::Session(relay) => {
                let Some(relay) = relay.filter(Relay::usable) else {
                    return Err((Reply::GeneralFailure, "no usable session".into()));
                };
                relay
                    .open_stream(target)
                    .await
                    .map_err(|e| (Reply::HostUnreachable, e.to_string()))
            }
            ConnectionPayer::Voucher(v) => v
                .open(target)
                .await
                .map_err(|e| (Reply::GeneralFailure, e.to_string())),
        }
    }
}

/// Serves SOCKS5 on `listener`, every connection paid by `payer`, until
/// `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    payer: Payer,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, _) = accepted?;
                tokio::spawn(handle(sock, payer.for_connection()));
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return Ok(()); }
            }
        }
    }
}

/// [`serve`] paid by the current session relay ([`Payer::Session`]); kept
/// for callers outside this crate (the node's tests).
pub async fn serve_socks(
    listener: TcpListener,
    relays: watch::Receiver<Option<Relay>>,
    shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    serve(listener, Payer::Session(relays), shutdown).await
}

async fn handle(mut sock: TcpStream, payer: ConnectionPayer) {
    let Ok(target) = socks5::accept(&mut sock).await else {
        return;
    };
    match payer.open(&target).await {
        Ok(stream) => {
            if socks5::send_reply(&mut sock, Reply::Succeeded)
                .await
                .is_ok()
            {
                let _ = stream.pump(sock).await;
            }
        }
        Err((reply, e)) => {
            tracing::debug!("stream refused: {e}");
            let _ = socks5::send_reply(&mut sock, reply).await;
        }
    }
}
