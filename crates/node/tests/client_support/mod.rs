//! The veil client library against the test node: a client `Relay` paying
//! for a harness [`Session`], a SOCKS5 front end on it, small upstreams.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use veil_client::flow::LiveSession;
use veil_client::proxy::serve_socks;
use veil_client::relay::Relay;
use veil_client::session::{NodeConnection, OpenedSession};
use veil_client::socks5::{self, Host, Target};
use veil_ledger::types::SessionId;

use crate::common::{ESCROW, PRICE, Session, World};

/// Opens `s` on the node and starts the client library's relay for it.
pub async fn live_session(w: &World, s: &Session) -> LiveSession {
    let mut conn = NodeConnection::connect_plaintext(&format!("http://{}", w.node.local_addr))
        .await
        .expect("connect");
    let terms = conn.terms().await.expect("terms");
    let opened = w.open(s).await.expect("open session");
    let session = OpenedSession {
        session_id: SessionId::from(s.statement.nullifier),
        session_key: s.key.clone(),
        credit_kib: opened.credit_kib,
        receipt_interval_kib: opened.receipt_interval_kib,
        expiry: opened.expiry_height,
        escrow: ESCROW,
        price_per_kib: PRICE,
        token_bytes: s.token.len(),
        resumed: false,
        prove_ms: 0,
    };
    let relay = Relay::start(&mut conn, &session, terms.node_key, terms.max_frame_bytes)
        .await
        .expect("relay");
    let rtt = relay.challenge().await.expect("challenge");
    LiveSession {
        session,
        relay,
        terms,
        first_rtt_us: rtt.as_micros(),
    }
}

/// A SOCKS5 proxy on 127.0.0.1 serving through `relay`; keep the guard alive.
pub struct Socks {
    pub addr: SocketAddr,
    _relays: watch::Sender<Option<Relay>>,
    _stop: watch::Sender<bool>,
}

pub async fn socks(relay: &Relay) -> Socks {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (relays, relays_rx) = watch::channel(Some(relay.clone()));
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(serve_socks(listener, relays_rx, stop_rx));
    Socks {
        addr,
        _relays: relays,
        _stop: stop,
    }
}

/// A SOCKS5 client connected through `proxy` to 127.0.0.1:`port`.
pub async fn socks_connect(proxy: &Socks, port: u16) -> TcpStream {
    let mut s = TcpStream::connect(proxy.addr).await.unwrap();
    let target = Target {
        host: Host::Ip(Ipv4Addr::LOCALHOST.into()),
        port,
    };
    let reply = socks5::client_connect(&mut s, &target).await.unwrap();
    assert_eq!(
        reply,
        socks5::Reply::Succeeded as u8,
        "SOCKS CONNECT refused"
    );
    s
}

/// Waits (at most 5 s) until the node has no open stream.
pub async fn wait_streams_freed(w: &World) {
    let t0 = std::time::Instant::now();
    while w.node.status().streams_open != 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the node kept the stream open: {:?}",
            w.node.status()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most 5 s) until the node acknowledged the highest receipt the
/// relay's policy issued (signed, sent and stored: lower ones it covers may
/// go unacknowledged, §9.3).
pub async fn wait_receipts_acked(relay: &Relay) {
    use std::sync::atomic::Ordering;
    let stats = relay.stats();
    let t0 = std::time::Instant::now();
    while stats.highest_acked_kib.load(Ordering::Acquire)
        < stats.highest_issued_kib.load(Ordering::Acquire)
    {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "receipts not acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
