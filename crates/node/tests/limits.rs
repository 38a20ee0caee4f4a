//! Node resource limits against a hostile peer (adversarial C2, C3, C6, C8;
//! `docs/protocol.md` §9.7, docs/node.md "Limits and metrics").
mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use veil_node::{AccessToken, AccessVerifier};
use veil_proto::node::v1 as pb;

/// Upper bound on any single wait in this file; no assertion depends on it
/// except "did not hang".
const HANG: Duration = Duration::from_secs(10);

async fn get_terms(addr: SocketAddr) -> Result<pb::GetTermsResponse, tonic::Status> {
    let mut c = pb::node_client::NodeClient::connect(format!("http://{addr}"))
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    c.get_terms(pb::GetTermsRequest { version: 1 })
        .await
        .map(|r| r.into_inner())
}

/// A Relay request for a raw `h2` client: gRPC headers, body left open.
fn relay_request(addr: SocketAddr) -> http::Request<()> {
    http::Request::post(format!("http://{addr}/veil.node.v1.Node/Relay"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .unwrap()
}

/// C2: 1,000 concurrent Relay calls on one HTTP/2 connection. The node
/// advertises `max_concurrent_streams` in its SETTINGS, exactly that many
/// streams are accepted (answered with response headers) while the rest
/// wait, and a GetTerms on a second connection is served meanwhile.
#[tokio::test]
async fn c2_concurrent_streams_capped_per_connection() {
    let w = World::new().await;
    let addr = w.node.local_addr;
    let limit = veil_node::config::Limits::default().max_concurrent_streams;

    // The SETTINGS frame, read by a raw h2 client once a stream is answered.
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let raw_conn = tokio::spawn(conn);
    let mut client = client.ready().await.unwrap();
    let (resp, _body) = client.send_request(relay_request(addr), false).unwrap();
    let resp = tokio::time::timeout(HANG, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), http::StatusCode::OK);
    assert_eq!(client.current_max_send_streams(), limit as usize);
    drop((client, resp));
    raw_conn.abort();

    // 1,000 Relay calls on one tonic Channel (one HTTP/2 connection).
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let answered = Arc::new(AtomicU64::new(0));
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let mut c = pb::node_client::NodeClient::new(channel.clone());
        let answered = answered.clone();
        calls.push(tokio::spawn(async move {
            let (tx, rx) = mpsc::channel::<pb::ClientFrame>(1);
            let r = c.relay(ReceiverStream::new(rx)).await;
            if r.is_ok() {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            // Keep the stream open: the request body never ends.
            let _keep = (tx, r);
            std::future::pending::<()>().await;
        }));
    }
    let deadline = Instant::now() + HANG;
    while answered.load(Ordering::SeqCst) < u64::from(limit) {
        assert!(Instant::now() < deadline, "streams never opened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The node still serves a second connection while 1,000 are pending.
    let terms = tokio::time::timeout(HANG, get_terms(addr)).await.unwrap();
    assert!(terms.is_ok(), "{terms:?}");
    // Give a lifted cap every chance to show: still exactly `limit` answered.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(answered.load(Ordering::SeqCst), u64::from(limit));
    for c in calls {
        c.abort();
    }
}

/// The `h2` crate in Cargo.lock carries the Rapid Reset fix (RUSTSEC-2024-0003
/// / CVE-2023-44487 fixed in 0.4.4, 0.3.24 for the 0.3 line).
#[test]
fn c3_h2_in_lockfile_has_rapid_reset_fix() {
    let lock =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock")).unwrap();
    let mut versions = Vec::new();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l.trim() == "name = \"h2\""
            && let Some(v) = lines.next()
        {
            let v = v
                .trim()
                .trim_start_matches("version = \"")
                .trim_end_matches('"');
            let parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap()).collect();
            versions.push((parts[0], parts[1], parts[2]));
        }
    }
    assert!(!versions.is_empty(), "h2 not found in Cargo.lock");
    for v in versions {
        let fixed = match (v.0, v.1) {
            (0, 4) => v.2 >= 4,
            (0, 3) => v.2 >= 24,
            (0, m) => m > 4,
            _ => true,
        };
        assert!(fixed, "h2 {v:?} predates the Rapid Reset fix");
    }
}

/// C3: HTTP/2 Rapid Reset. 5,000 HEADERS each followed at once by
/// RST_STREAM on one raw connection: the node either closes that
/// connection or keeps going, a fresh connection is served, and no relay
/// state is left behind.
#[tokio::test]
async fn c3_rapid_reset_leaves_node_serving() {
    let w = World::new().await;
    let addr = w.node.local_addr;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let raw_conn = tokio::spawn(conn);
    let mut client = Some(client);
    let mut reset = 0u32;
    for _ in 0..5000 {
        let Some(c) = client.take() else { break };
        let mut c = match tokio::time::timeout(HANG, c.ready()).await {
            Ok(Ok(c)) => c,
            Ok(Err(_)) => break, // GOAWAY / connection error
            Err(_) => panic!("h2 client stuck"),
        };
        match c.send_request(relay_request(addr), false) {
            Ok((resp, mut body)) => {
                body.send_reset(h2::Reason::CANCEL);
                drop(resp);
                reset += 1;
            }
            Err(_) => break,
        }
        client = Some(c);
    }
    assert!(reset > 0);
    eprintln!(
        "rapid reset: {reset} streams reset, connection open: {}",
        client.is_some()
    );
    // Either way, a fresh connection is served.
    let terms = tokio::time::timeout(HANG, get_terms(addr)).await.unwrap();
    assert!(terms.is_ok(), "{terms:?}");
    drop(client);
    let _ = tokio::time::timeout(HANG, raw_conn).await;
    let deadline = Instant::now() + HANG;
    loop {
        let s = w.node.status();
        if s.streams_open == 0 && s.sessions_open == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "relay state left: {s:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Reads until the peer closes (EOF or error).
async fn closed_by_peer(mut s: TcpStream) {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// C6: slowloris. With two connection slots, one peer sending nothing and
/// one trickling the HTTP/2 preface a byte per 200 ms hold both; the
/// handshake timeout closes them and an honest client is served within the
/// timeout plus a margin.
#[tokio::test]
async fn c6_slowloris_connections_lose_their_slot() {
    let timeout = Duration::from_millis(1000);
    let w = World::with(|c| {
        c.limits.max_connections = 2;
        c.limits.handshake_timeout = timeout;
    })
    .await;
    let addr = w.node.local_addr;
    let silent = TcpStream::connect(addr).await.unwrap();
    let mut trickle = TcpStream::connect(addr).await.unwrap();
    let (trickle_tx, trickle_done) = oneshot::channel();
    tokio::spawn(async move {
        for b in b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = trickle_tx.send(trickle);
    });
    let start = Instant::now();
    let terms = tokio::time::timeout(timeout + Duration::from_secs(5), get_terms(addr))
        .await
        .expect("honest client starved by slowloris connections");
    assert!(terms.is_ok(), "{terms:?}");
    // Both slots were really held until the timeout.
    assert!(start.elapsed() >= timeout / 2, "{:?}", start.elapsed());
    tokio::time::timeout(HANG, closed_by_peer(silent))
        .await
        .expect("silent connection not closed");
    // The trickler's writes eventually fail, or it finishes and is closed.
    if let Ok(Ok(t)) = tokio::time::timeout(HANG, trickle_done).await {
        tokio::time::timeout(HANG, closed_by_peer(t))
            .await
            .expect("trickling connection not closed");
    }
}

/// A verifier whose verifications block until the test opens the gate
/// (a stand-in for pairing cost that no timing can race).
#[derive(Default)]
struct GatedVerifier {
    inner: TestVerifier,
    started: AtomicU64,
    finished: AtomicU64,
    open: Mutex<bool>,
    cv: Condvar,
}

impl GatedVerifier {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

impl AccessVerifier for GatedVerifier {
    fn decode(&self, b: &[u8]) -> Result<AccessToken, veil_node::backend::TokenDecodeError> {
        self.inner.decode(b)
    }

    fn verify(&self, token: &AccessToken) -> bool {
        self.started.fetch_add(1, Ordering::SeqCst);
        let guard = self.open.lock().unwrap();
        // Bounded so a failing test cannot hang the runtime's shutdown.
        let _ = self
            .cv
            .wait_timeout_while(guard, HANG, |open| !*open)
            .unwrap();
        self.finished.fetch_add(1, Ordering::SeqCst);
        self.inner.verify(token)
    }
}

async fn gated_world(verifier: Arc<GatedVerifier>) -> World {
    let ledger = ledger();
    let dir = tempfile::tempdir().unwrap();
    let config = node_config(dir.path().to_path_buf());
    fund_pool(&ledger, 500_000).await;
    let (tx, rx) = oneshot::channel::<()>();
    let node = veil_node::spawn_with(
        config,
        ledger.clone(),
        verifier,
        Arc::new(TestProver),
        async {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    World {
        ledger,
        verifier: Arc::new(TestVerifier::default()),
        account: node.account,
        node,
        shutdown: Some(tx),
        dir,
    }
}

/// C8 (and C4's queue): 100 parallel OpenSession calls with tokens needing
/// a real verification. `verify_queue` of them verify (blocking, off the
/// runtime), the rest get RESOURCE_EXHAUSTED, and 20 GetTerms calls all
/// complete while not one verification has finished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c8_verifications_do_not_starve_get_terms() {
    let gate = Arc::new(GatedVerifier::default());
    let w = gated_world(gate.clone()).await;
    let queue = veil_node::config::Limits::default().verify_queue as u64;
    let w = Arc::new(w);
    let mut opens = Vec::new();
    for _ in 0..100 {
        let s = w.session().await;
        let w = w.clone();
        opens.push(tokio::spawn(async move { w.open(&s).await }));
    }
    let deadline = Instant::now() + HANG;
    while gate.started.load(Ordering::SeqCst) < queue {
        assert!(Instant::now() < deadline, "verifications never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut terms = Vec::new();
    for _ in 0..20 {
        let addr = w.node.local_addr;
        terms.push(tokio::spawn(async move { get_terms(addr).await }));
    }
    for t in terms {
        let r = tokio::time::timeout(HANG, t)
            .await
            .expect("GetTerms starved by verifications")
            .unwrap();
        assert!(r.is_ok(), "{r:?}");
    }
    assert_eq!(gate.finished.load(Ordering::SeqCst), 0);
    assert!(gate.started.load(Ordering::SeqCst) <= queue);
    // The calls beyond the queue are all answered before any verification ends.
    let deadline = Instant::now() + HANG;
    while (opens.iter().filter(|o| o.is_finished()).count() as u64) < 100 - queue {
        assert!(Instant::now() < deadline, "over-queue calls not refused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gate.finished.load(Ordering::SeqCst), 0);
    gate.release();
    let (mut ok, mut exhausted) = (0u64, 0u64);
    for o in opens {
        match tokio::time::timeout(HANG, o).await.unwrap().unwrap() {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::ResourceExhausted => exhausted += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert_eq!(ok, queue);
    assert_eq!(exhausted, 100 - queue);
    assert_eq!(gate.finished.load(Ordering::SeqCst), queue);
    assert_eq!(w.node.status().sessions_open, queue);
}

/// C6 with TLS (the default transport): a connection that never sends a
/// ClientHello is closed within the handshake timeout plus a margin.
#[tokio::test]
async fn c6_silent_tls_connection_closed() {
    let timeout = Duration::from_millis(500);
    let w = World::with(|c| {
        c.transport = veil_node::Transport::Tls;
        c.limits.handshake_timeout = timeout;
    })
    .await;
    let silent = TcpStream::connect(w.node.local_addr).await.unwrap();
    tokio::time::timeout(timeout + Duration::from_secs(3), closed_by_peer(silent))
        .await
        .expect("silent TLS connection still open");
}
