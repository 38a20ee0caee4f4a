//! Node resource limits against a hostile peer (adversarial C2, C3, C6, C8;
//! `docs/protocol.md` §9.7, docs/node.md "Limits and metrics").
mod common;

use std::net::{IpAddr, SocketAddr};
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
/// one trickling the HTTP/2 preface a byte per 200 ms (both from
/// 127.0.0.2) hold both; the handshake timeout closes them, and an honest
/// client is then served. (A newcomer while they are held is admitted by
/// eviction: `c6_full_node_still_serves_another_address`.)
#[tokio::test]
async fn c6_slowloris_connections_lose_their_slot() {
    let timeout = Duration::from_millis(1000);
    let w = World::with(|c| {
        c.limits.max_connections = 2;
        c.limits.handshake_timeout = timeout;
    })
    .await;
    let addr = w.node.local_addr;
    let silent = tcp_from(ATTACKER, addr).await.unwrap();
    let mut trickle = tcp_from(ATTACKER, addr).await.unwrap();
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
    tokio::time::timeout(HANG, closed_by_peer(silent))
        .await
        .expect("silent connection not closed");
    // The trickler's writes eventually fail, or it finishes and is closed.
    if let Ok(Ok(t)) = tokio::time::timeout(HANG, trickle_done).await {
        tokio::time::timeout(HANG, closed_by_peer(t))
            .await
            .expect("trickling connection not closed");
    }
    let terms = tokio::time::timeout(HANG, get_terms(addr))
        .await
        .expect("honest client not served");
    assert!(terms.is_ok(), "{terms:?}");
}

/// The attacker's loopback address (the honest clients use 127.0.0.1).
const ATTACKER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// A TCP connection to `addr` from the local address `src`.
async fn tcp_from(src: IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = tokio::net::TcpSocket::new_v4()?;
    s.bind(SocketAddr::new(src, 0))?;
    s.connect(addr).await
}

/// A tonic client to `addr` from the local address `src`.
async fn client_from(
    src: IpAddr,
    addr: SocketAddr,
) -> Result<pb::node_client::NodeClient<tonic::transport::Channel>, tonic::transport::Error> {
    let ch = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .local_address(Some(src))
        .connect()
        .await?;
    Ok(pb::node_client::NodeClient::new(ch))
}

/// What the attacker's connections became.
#[derive(Default)]
struct Held {
    /// Connections whose Relay was answered (the node admitted them).
    answered: AtomicU64,
    /// Answered connections still open.
    live: AtomicU64,
    /// Connections that ended without an answer.
    refused: AtomicU64,
}

/// One attacker connection from `src`: an HTTP/2 connection holding one
/// Relay stream that never sends a frame, kept until the node closes it.
/// `permit` is released once the node answered or refused it.
async fn hold_relay(
    src: IpAddr,
    addr: SocketAddr,
    held: Arc<Held>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let answered = async {
        let tcp = tcp_from(src, addr).await.ok()?;
        let (client, conn) = h2::client::handshake(tcp).await.ok()?;
        let conn = tokio::spawn(conn);
        let mut client = client.ready().await.ok()?;
        let (resp, body) = client.send_request(relay_request(addr), false).ok()?;
        let resp = resp.await.ok()?;
        Some((client, body, resp, conn))
    };
    let answered = answered.await;
    drop(permit);
    match answered {
        None => {
            held.refused.fetch_add(1, Ordering::SeqCst);
        }
        Some((client, body, resp, conn)) => {
            held.answered.fetch_add(1, Ordering::SeqCst);
            held.live.fetch_add(1, Ordering::SeqCst);
            let _ = conn.await;
            drop((client, body, resp));
            held.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// Opens `n` attacker connections from `src` (at most 256 connecting at
/// once) and waits until each was answered or refused, or [`HANG`] passed.
async fn attack(src: IpAddr, addr: SocketAddr, n: u64) -> Arc<Held> {
    let held = Arc::new(Held::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let deadline = Instant::now() + HANG;
    for _ in 0..n {
        let Ok(Ok(permit)) =
            tokio::time::timeout_at(deadline.into(), gate.clone().acquire_owned()).await
        else {
            break;
        };
        tokio::spawn(hold_relay(src, addr, held.clone(), permit));
    }
    while held.answered.load(Ordering::SeqCst) + held.refused.load(Ordering::SeqCst) < n
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    held
}

/// C6 (issue 8 §4): one address opens 2,000 HTTP/2 connections, each
/// holding a Relay stream. The node admits exactly
/// `max_connections_per_address` of them, and an honest client from
/// another address completes GetTerms, OpenSession and a paid Relay
/// stream meanwhile. (Before per-address limits the attacker held all
/// 1,024 slots and the honest client was never served.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c6_one_address_cannot_take_every_slot() {
    let w = World::with(|c| c.limits = veil_node::config::Limits::default()).await;
    let addr = w.node.local_addr;
    let held = attack(ATTACKER, addr, 2000).await;
    let terms = tokio::time::timeout(HANG, get_terms(addr))
        .await
        .expect("honest client starved by one address");
    assert!(terms.is_ok(), "{terms:?}");
    let per_address = veil_node::config::Limits::default().max_connections_per_address as u64;
    assert_eq!(held.answered.load(Ordering::SeqCst), per_address);
    assert_eq!(held.refused.load(Ordering::SeqCst), 2000 - per_address);
    assert_eq!(held.live.load(Ordering::SeqCst), per_address);
    honest_session_relays(&w).await;
}

/// An honest client (127.0.0.1) opens a session and relays through a paid
/// stream to an echo server.
async fn honest_session_relays(w: &World) {
    let s = w.session().await;
    tokio::time::timeout(HANG, w.open(&s))
        .await
        .expect("OpenSession starved")
        .unwrap();
    let port = echo_server().await;
    let mut r = Relay::start(w).await;
    r.open(&s, 1, port).await;
    assert!(matches!(r.next().await, pb::node_frame::Frame::Opened(_)));
    r.data(1, b"ping".to_vec()).await;
    match r.next().await {
        pb::node_frame::Frame::Data(d) => assert_eq!(d.bytes, b"ping"),
        f => panic!("unexpected {f:?}"),
    }
}

/// C6 fairness: the node is full (32 slots, all held by one address with
/// unpaid Relays). A client from another address is admitted at once in
/// place of the attacker's oldest unpaid connection and completes GetTerms
/// and OpenSession; the attacker never holds more than the cap.
#[tokio::test]
async fn c6_full_node_still_serves_another_address() {
    let w = World::with(|c| c.limits.max_connections = 32).await;
    let addr = w.node.local_addr;
    let held = attack(ATTACKER, addr, 100).await;
    // Every attempt settled: admitted (evicting the attacker's own oldest,
    // sometimes before its Relay was answered) or refused.
    let (answered, refused) = (
        held.answered.load(Ordering::SeqCst),
        held.refused.load(Ordering::SeqCst),
    );
    assert_eq!(answered + refused, 100);
    assert!(answered >= 32, "{answered}");
    live_at_most(&held, 32).await;
    let terms = tokio::time::timeout(HANG, get_terms(addr))
        .await
        .expect("honest client starved on a full node");
    assert!(terms.is_ok(), "{terms:?}");
    honest_session_relays(&w).await;
    live_at_most(&held, 32).await;
}

/// Waits until at most `n` attacker connections are open (an evicted
/// connection's close reaches the attacker a moment after its eviction).
async fn live_at_most(held: &Held, n: u64) {
    let deadline = Instant::now() + HANG;
    while held.live.load(Ordering::SeqCst) > n {
        assert!(Instant::now() < deadline, "attacker holds more than {n}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// C6 idle limit: with `unpaid_idle_timeout` 2 s, a connection holding
/// an unbound Relay and a connection with no stream are both closed (the
/// Relay idle timeout, 120 s, is far away); a connection whose Relay opened
/// a paid stream still relays after several idle limits.
#[tokio::test]
async fn c6_unpaid_connections_are_closed_after_the_idle_limit() {
    let idle = Duration::from_secs(2);
    let w = World::with(|c| c.limits.unpaid_idle_timeout = idle).await;
    let addr = w.node.local_addr;
    let held = Arc::new(Held::default());
    let gate = Arc::new(tokio::sync::Semaphore::new(1));
    let unbound = tokio::spawn(hold_relay(
        ATTACKER,
        addr,
        held.clone(),
        gate.acquire_owned().await.unwrap(),
    ));
    let bare = {
        let tcp = tcp_from(ATTACKER, addr).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(async move {
            let r = conn.await;
            drop(client);
            r
        })
    };
    // The paid connection, from the honest address.
    let s = w.session().await;
    w.open(&s).await.unwrap();
    let port = echo_server().await;
    let mut r = Relay::start(&w).await;
    r.open(&s, 1, port).await;
    assert!(matches!(r.next().await, pb::node_frame::Frame::Opened(_)));

    tokio::time::timeout(HANG, unbound)
        .await
        .expect("connection with an unbound Relay still open")
        .unwrap();
    assert_eq!(held.answered.load(Ordering::SeqCst), 1);
    tokio::time::timeout(HANG, bare)
        .await
        .expect("connection with no stream still open")
        .unwrap()
        .ok();
    // Well past the limit, the paid connection still carries traffic.
    tokio::time::sleep(idle * 3).await;
    r.data(1, b"still here".to_vec()).await;
    match r.next().await {
        pb::node_frame::Frame::Data(d) => assert_eq!(d.bytes, b"still here"),
        f => panic!("unexpected {f:?}"),
    }
}

/// An OpenSession with a truncated token (a failure counted against the
/// caller's address, C4).
async fn bad_open(w: &World, src: IpAddr) -> tonic::Status {
    let mut s = w.session().await;
    s.token.pop();
    let mut c = client_from(src, w.node.local_addr).await.unwrap();
    c.open_session(pb::OpenSessionRequest {
        version: 1,
        access_token: s.token,
        session_public_key: s.key.verifying_key().to_bytes().to_vec(),
    })
    .await
    .unwrap_err()
}

/// C4 bans expire and the table is bounded: after 2 invalid tokens an
/// address is refused PERMISSION_DENIED (nothing opened), the ban ends
/// after `ban_duration` and the same address opens a session; 10 more
/// addresses banned in turn never leave more than `ban_table_size` (4)
/// remembered.
#[tokio::test]
async fn c4_bans_expire_and_the_ban_table_is_bounded() {
    let w = World::with(|c| {
        c.limits.ban_after_failures = 2;
        c.limits.ban_duration = Duration::from_secs(3);
        c.limits.ban_table_size = 4;
    })
    .await;
    let honest: IpAddr = [127, 0, 0, 1].into();
    assert_eq!(bad_open(&w, honest).await.code(), Code::InvalidArgument);
    assert_eq!(bad_open(&w, honest).await.code(), Code::InvalidArgument);
    let s = w.session().await;
    assert_eq!(w.open(&s).await.unwrap_err().code(), Code::PermissionDenied);
    assert_eq!(w.node.status().sessions_open, 0);
    assert_eq!(w.node.status().banned_peers, 1);
    bans_end(&w).await;
    // Once its ban ended the address is served again.
    w.open(&s).await.unwrap();
    assert_eq!(w.node.status().sessions_open, 1);
    for i in 1..=10u8 {
        let src: IpAddr = [127, 0, 1, i].into();
        assert_eq!(bad_open(&w, src).await.code(), Code::InvalidArgument);
        assert_eq!(bad_open(&w, src).await.code(), Code::InvalidArgument);
        assert_eq!(bad_open(&w, src).await.code(), Code::PermissionDenied);
        assert!(w.node.status().banned_peers <= 4);
    }
    bans_end(&w).await;
}

async fn bans_end(w: &World) {
    let deadline = Instant::now() + HANG;
    while w.node.status().banned_peers > 0 {
        assert!(Instant::now() < deadline, "bans never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// C1 on a stream: a Relay frame over `max_message_bytes` ends the Relay
/// with RESOURCE_EXHAUSTED (§9.7), not tonic's OUT_OF_RANGE, and the node
/// keeps serving.
#[tokio::test]
async fn c1_oversize_relay_frame_is_resource_exhausted() {
    let w = World::new().await;
    let mut r = Relay::start(&w).await;
    let limit = veil_node::config::Limits::default().max_message_bytes;
    r.data(1, vec![0u8; limit + 1024]).await;
    let err = tokio::time::timeout(HANG, r.rx.message())
        .await
        .expect("no answer to an oversize frame")
        .unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    let terms = get_terms(w.node.local_addr).await;
    assert!(terms.is_ok(), "{terms:?}");
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
