//! Shared by the end-to-end tests: a local HTTP destination and a SOCKS5
//! fetch that reads exactly Content-Length bytes. Included with `#[path]`.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use veil_client::socks5::{self, Host, Target};

/// `GET /N` answers N bytes.
pub async fn http_server() -> SocketAddr {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let Some(n) = requested_size(&mut s).await else {
                    return;
                };
                let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\n\r\n");
                let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&body).await;
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// Reads one request head from `s`; the size `N` of its `GET /N` (0 if the
/// path is no number), `None` if the peer left first.
pub async fn requested_size(s: &mut TcpStream) -> Option<usize> {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    Some(
        String::from_utf8_lossy(&req)
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.trim_start_matches('/').parse().ok())
            .unwrap_or(0),
    )
}

/// Fetches `GET /n` through SOCKS5 and reads exactly Content-Length bytes.
pub async fn fetch(socks: SocketAddr, dest: SocketAddr, n: usize) -> Vec<u8> {
    let mut s = TcpStream::connect(socks).await.unwrap();
    let target = Target {
        host: Host::Ip(dest.ip()),
        port: dest.port(),
    };
    assert_eq!(socks5::client_connect(&mut s, &target).await.unwrap(), 0);
    s.write_all(format!("GET /{n} HTTP/1.0\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut resp = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        if let Some(p) = resp.windows(4).position(|w| w == b"\r\n\r\n") {
            if resp.len() >= p + 4 + n {
                return resp[p + 4..].to_vec();
            }
        }
        let k = s.read(&mut buf).await.unwrap();
        assert!(k > 0, "truncated response");
        resp.extend_from_slice(&buf[..k]);
    }
}
