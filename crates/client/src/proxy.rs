//! The local SOCKS5 proxy: each accepted CONNECT becomes one stream on the
//! current session's relay (`docs/client.md`).

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::relay::Relay;
use crate::socks5::{self, Reply};

/// Serves SOCKS5 on `listener` until `shutdown` turns true. Each connection
/// uses the relay current at the time it is accepted (`relays` is updated
/// when a new session replaces one that runs low on credit).
pub async fn serve_socks(
    listener: TcpListener,
    relays: watch::Receiver<Option<Relay>>,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, _) = accepted?;
                let relay = relays.borrow().clone();
                tokio::spawn(handle(sock, relay));
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() { return Ok(()); }
            }
        }
    }
}

async fn handle(mut sock: TcpStream, relay: Option<Relay>) {
    let Ok(target) = socks5::accept(&mut sock).await else {
        return;
    };
    let Some(relay) = relay.filter(Relay::usable) else {
        let _ = socks5::send_reply(&mut sock, Reply::GeneralFailure).await;
        return;
    };
    match relay.open_stream(&target).await {
        Ok(stream) => {
            if socks5::send_reply(&mut sock, Reply::Succeeded)
                .await
                .is_ok()
            {
                let _ = stream.pump(sock).await;
            }
        }
        Err(e) => {
            tracing::debug!("stream refused: {e}");
            let _ = socks5::send_reply(&mut sock, Reply::HostUnreachable).await;
        }
    }
}
