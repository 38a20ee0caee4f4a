//! Half-close of relayed TCP streams, both ways (`docs/protocol.md` §9.4),
//! node and client library over real gRPC on 127.0.0.1: upstream EOF
//! reaches the SOCKS client as EOF; the SOCKS client's half-close reaches
//! the upstream as EOF while the reply still flows back; a stream is freed
//! only when both directions are done.
mod client_support;
mod common;

use std::time::Duration;

use client_support::*;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::{client_frame, node_frame};

/// Fails a test that would otherwise hang.
const GUARD: Duration = Duration::from_secs(10);

/// An HTTP/1.0-style server: reads the request head, writes `body`, closes.
async fn http10_server(body: Vec<u8>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut b).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let _ = s.write_all(&body).await;
                // Dropping `s` closes the connection: the only end-of-body marker.
            });
        }
    });
    port
}

/// A server that reads the request to EOF, then answers with its length and closes.
async fn count_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut req = Vec::new();
                if s.read_to_end(&mut req).await.is_ok() {
                    let _ = s
                        .write_all(format!("got {} bytes", req.len()).as_bytes())
                        .await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn upstream_eof_reaches_the_socks_client() {
    let w = World::new().await;
    let s = w.session().await;
    let live = live_session(&w, &s).await;
    let proxy = socks(&live.relay).await;
    let body: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let port = http10_server(body.clone()).await;

    let mut sock = socks_connect(&proxy, port).await;
    sock.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    // Like curl with HTTP/1.0: never half-closes, reads until EOF.
    let mut got = Vec::new();
    tokio::time::timeout(GUARD, sock.read_to_end(&mut got))
        .await
        .expect("the SOCKS client never saw EOF after the upstream closed")
        .unwrap();
    assert_eq!(got, body);
    // Our side closes too: both directions done, the node frees the stream.
    drop(sock);
    wait_streams_freed(&w).await;
}

#[tokio::test]
async fn socks_half_close_reaches_upstream_and_the_reply_returns() {
    let w = World::new().await;
    let s = w.session().await;
    let live = live_session(&w, &s).await;
    let proxy = socks(&live.relay).await;
    let port = count_server().await;

    let mut sock = socks_connect(&proxy, port).await;
    sock.write_all(&[7u8; 5000]).await.unwrap();
    sock.shutdown().await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(GUARD, sock.read_to_end(&mut reply))
        .await
        .expect("the upstream never saw our half-close, or its reply was lost")
        .unwrap();
    assert_eq!(reply, b"got 5000 bytes");
    wait_streams_freed(&w).await;
}

/// Frame level: upstream EOF → `Eof`, the stream stays open and writable
/// towards the upstream until the client's `Close`, then `Closed{EOF}`.
#[tokio::test]
async fn node_sends_eof_and_frees_the_stream_only_after_close() {
    let w = World::new().await;
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let (seen_tx, seen_rx) = oneshot::channel::<Vec<u8>>();
    tokio::spawn(async move {
        let (mut sock, _) = l.accept().await.unwrap();
        sock.write_all(b"hello").await.unwrap();
        let (mut rd, mut wr) = sock.split();
        wr.shutdown().await.unwrap(); // FIN: upstream is done sending
        let mut seen = Vec::new();
        rd.read_to_end(&mut seen).await.unwrap();
        let _ = seen_tx.send(seen);
    });

    let mut relay = Relay::start(&w).await;
    relay.open(&s, 1, port).await;
    assert!(matches!(
        relay.next().await,
        node_frame::Frame::Opened(pb::Opened { stream_id: 1 })
    ));
    let mut got = Vec::new();
    loop {
        match relay.next().await {
            node_frame::Frame::Data(d) => got.extend_from_slice(&d.bytes),
            node_frame::Frame::Eof(e) => {
                assert_eq!(e.stream_id, 1);
                break;
            }
            other => panic!("expected data then Eof, got {other:?}"),
        }
    }
    assert_eq!(got, b"hello");
    // Not freed: the client has not closed its direction.
    let early = tokio::time::timeout(Duration::from_millis(300), relay.next()).await;
    assert!(
        early.is_err(),
        "stream ended before the client's Close: {early:?}"
    );
    assert_eq!(w.node.status().streams_open, 1);
    // Still writable towards the upstream after its EOF.
    relay.data(1, b"after eof".to_vec()).await;
    relay
        .send(client_frame::Frame::Close(pb::Close { stream_id: 1 }))
        .await;
    match relay.next().await {
        node_frame::Frame::Closed(c) => {
            assert_eq!((c.stream_id, c.reason), (1, pb::CloseReason::Eof as i32))
        }
        other => panic!("expected Closed{{EOF}}, got {other:?}"),
    }
    let seen = tokio::time::timeout(GUARD, seen_rx).await.unwrap().unwrap();
    assert_eq!(seen, b"after eof", "upstream saw the bytes, then EOF");
    wait_streams_freed(&w).await;
}
