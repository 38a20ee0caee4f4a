//! A node cannot tell a monitor from a client (issue 14; docs/market.md
//! §6.3, docs/security.md M8): the node's whole view of a monitor's audit
//! equals its view of an ordinary client's session fetching the same bytes.
//!
//! A recording gRPC proxy stands where the node's own service stands
//! (`support/inproc_node.rs`): it records what the node receives — each
//! RPC with its metadata, the shape of `OpenSession` and of the access
//! token's public terms, and every relay frame — with only the values
//! that are random by construction (nonces, keys, proofs, the nullifier)
//! reduced to their lengths. The client side is what `veil
//! connect` runs: a session from `flow::start_session` behind the SOCKS5
//! front end, and a user fetching through it; the monitor side is
//! `veil_client::monitor::audit`. A monitor sending anything a client does
//! not — extra challenges after the transfer, other terms, another order
//! of frames — fails the comparison.

use std::net::{Ipv4Addr, SocketAddr};

use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use veil_client::flow::{finish_session, start_session};
use veil_client::monitor::{AuditPlan, audit, spawn_target};
use veil_client::session::NodeConnection;
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;

#[path = "support/inproc_node.rs"]
mod inproc;
use inproc::{ESCROW, FrameShape, InProc, Seen, funded_wallet, wait_quiet};

/// Body bytes both fetch.
const BYTES: u64 = 1 << 20;

/// A view with consecutive `GetTerms` calls folded into one: a client
/// re-reads the terms until the node knows its wallet's root, as often as
/// the node's ledger poll makes it (timing, not who is asking).
fn folded(view: Vec<Seen>) -> Vec<Seen> {
    let mut out: Vec<Seen> = Vec::new();
    for s in view {
        let repeat = matches!(
            (&s, out.last()),
            (Seen::Call("GetTerms", _), Some(Seen::Call("GetTerms", _)))
        );
        if !repeat {
            out.push(s);
        }
    }
    out
}

/// Fetches `GET /n` from `target` through the SOCKS5 front end at `proxy`,
/// as a user's program would; returns the bytes received.
async fn fetch_via_socks(proxy: SocketAddr, target: SocketAddr, n: u64) -> usize {
    let mut s = TcpStream::connect(proxy).await.expect("socks");
    s.write_all(&[5, 1, 0]).await.expect("greeting");
    let mut two = [0u8; 2];
    s.read_exact(&mut two).await.expect("method");
    assert_eq!(two, [5, 0]);
    let SocketAddr::V4(t) = target else {
        panic!("an IPv4 target")
    };
    let mut connect = vec![5, 1, 0, 1];
    connect.extend_from_slice(&t.ip().octets());
    connect.extend_from_slice(&t.port().to_be_bytes());
    s.write_all(&connect).await.expect("connect");
    let mut reply = [0u8; 10];
    s.read_exact(&mut reply).await.expect("reply");
    assert_eq!(reply[1], 0, "SOCKS5 CONNECT refused");
    s.write_all(format!("GET /{n} HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .expect("request");
    let mut body = Vec::new();
    s.read_to_end(&mut body).await.expect("response");
    body.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_sees_a_monitors_audit_as_a_clients_session() {
    let mut rng = StdRng::seed_from_u64(0x11e4);
    let env = InProc::start(Some("127.0.0.1/32")).await;
    let (ledger, prover, recorder, url) = (&env.ledger, &env.prover, &env.recorder, &env.url);
    let target = spawn_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("target");
    let mut client = funded_wallet(ledger, env.tmp.path(), "client.wallet", &mut rng).await;
    let mut monitor = funded_wallet(ledger, env.tmp.path(), "monitor.wallet", &mut rng).await;
    recorder.take();

    // A client: `veil connect`'s session behind the SOCKS5 front end.
    let mut conn = NodeConnection::connect_plaintext(url).await.expect("conn");
    let mut tree = LocalTree::new();
    let live = start_session(
        ledger,
        &mut conn,
        prover,
        &mut client,
        &mut tree,
        ESCROW,
        "connect",
        &mut rng,
    )
    .await
    .expect("client session");
    let (_relays_tx, relays_rx) = tokio::sync::watch::channel(Some(live.relay.clone()));
    let (stop_socks, stop_socks_rx) = tokio::sync::watch::channel(false);
    let socks = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let socks_addr = socks.local_addr().expect("addr");
    let proxy = tokio::spawn(veil_client::proxy::serve_socks(
        socks,
        relays_rx,
        stop_socks_rx,
    ));
    let got = fetch_via_socks(socks_addr, target, BYTES).await;
    assert!(got as u64 > BYTES, "the client fetched {got} bytes");
    // The user's program closed its connection; the session ends later
    // (here: once the stream's close reached the node).
    wait_quiet(recorder).await;
    finish_session(&mut client, &live).expect("finish");
    let _ = stop_socks.send(true);
    let _ = proxy.await;
    drop(live);
    drop(conn);
    wait_quiet(recorder).await;
    let client_view = folded(recorder.take());

    // A monitor: its audit of the same node, fetching the same bytes.
    let mut conn = NodeConnection::connect_plaintext(url).await.expect("conn");
    let mut tree = LocalTree::new();
    let plan = AuditPlan {
        target: Target {
            host: Host::Ip(target.ip()),
            port: target.port(),
        },
        bytes: BYTES,
    };
    let seen = audit(
        ledger,
        &mut conn,
        prover,
        &mut monitor,
        &mut tree,
        ESCROW,
        1,
        &plan,
        &mut rng,
    )
    .await
    .expect("audit");
    assert_eq!(seen.body_bytes, BYTES);
    assert_eq!(seen.measurement().challenges_ok, 1);
    drop(conn);
    wait_quiet(recorder).await;
    let monitor_view = folded(recorder.take());

    // The views are whole sessions, and the same.
    for view in [&client_view, &monitor_view] {
        let has = |p: &dyn Fn(&Seen) -> bool| view.iter().any(p);
        assert!(has(&|s| matches!(s, Seen::Open { .. })), "{view:#?}");
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Challenge { .. }))),
            "{view:#?}"
        );
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Receipt { .. }))),
            "{view:#?}"
        );
        assert!(
            has(&|s| matches!(s, Seen::Frame(FrameShape::Data { .. }))),
            "{view:#?}"
        );
    }
    assert_eq!(client_view, monitor_view);

    env.stop().await;
}
