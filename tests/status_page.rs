//! The operator's status page (docs/operations.md, "Status page") in a real
//! headless Chromium: a node with the real proof backend opens paid
//! sessions with real access proofs, relays bytes, settles two batches with
//! real `settle_8` proofs, and serves its page on the metrics port. The page
//! loads with status 200, no console or page error, no failed request and
//! nothing from another origin under its strict Content-Security-Policy; its
//! charts carry the node's data; nothing on it names a session; the
//! screenshot is a real PNG (copied to `$VEIL_SCREENSHOT_DIR` when set:
//! `VEIL_SCREENSHOT_DIR=docs/img cargo test --workspace --test status_page`
//! makes `docs/img/status-page.png`).
//!
//! Without Chromium the browser part is skipped (loudly, after the HTTP
//! checks) unless `VEIL_REQUIRE_BROWSER=1`.

#[path = "support/browser.rs"]
mod browser;
#[path = "../crates/node/tests/common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::echo_server;
use rand::rngs::OsRng;
use veil_circuits::access::AccessPublic;
use veil_ledger::types::Value;
use veil_ledger::verifier::Groth16Verifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_node::NodeHandle;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::BlockHeight;
use veil_primitives::note::Rho;
use veil_proofs::{CircuitId, ParamStore, Prover};
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::node_frame;

const ESCROW: Value = Value(1024);
/// How often the test's endpoint samples: short, so a run of a few seconds
/// draws many points (the node's default is 10 s).
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

/// A session opened on `node` with a real access proof over a fresh note.
async fn open_session(
    ledger: &EmbeddedLedger,
    node: &NodeHandle,
    prover: &Prover,
) -> common::Session {
    let (private, _) = common::deposited_note(ledger, Value(5_000)).await;
    let key = SigningKey::generate(&mut OsRng);
    let height = ledger.status().await.unwrap().height;
    let refund =
        veil_primitives::refund::refund_spending_key(&private.sk, &Rho::random(&mut OsRng))
            .owner_key();
    let public = AccessPublic::derive(
        &private,
        ESCROW,
        node.node_id,
        key.verifying_key().session_key_hash(),
        refund,
        BlockHeight(height.0 + 50),
    )
    .unwrap();
    let token = prover.prove_access(&public, &private, &mut OsRng).unwrap();
    let mut client = NodeClient::connect(format!("http://{}", node.local_addr))
        .await
        .unwrap();
    client
        .open_session(pb::OpenSessionRequest {
            version: 1,
            access_token: token.to_bytes(),
            session_public_key: key.verifying_key().to_bytes().to_vec(),
        })
        .await
        .unwrap();
    common::Session::of(&key, &token)
}

/// Relays `kib` KiB each way through `session`; with `receipt`, pays for
/// them and waits for the node's acknowledgement.
async fn relay(node: &NodeHandle, session: &common::Session, kib: usize, receipt: bool) {
    let port = echo_server().await;
    let mut relay = common::Relay::opened(node, session, port).await;
    let payload: Vec<u8> = (0..kib * 1024).map(|i| (i % 251) as u8).collect();
    relay.data(1, payload.clone()).await;
    let mut echoed = 0;
    while echoed < payload.len() {
        if let node_frame::Frame::Data(d) = relay.next().await {
            echoed += d.bytes.len();
        }
    }
    if receipt {
        relay.receipt(session.receipt(2 * kib as u64)).await;
        assert!(matches!(
            relay.next().await,
            node_frame::Frame::ReceiptAck(_)
        ));
    }
}

/// Lets the sampler take a point between two steps.
async fn tick() {
    tokio::time::sleep(3 * SAMPLE_EVERY).await;
}

/// `GET path` over HTTP/1.1: (status line, lower-cased headers, body).
fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        body.to_owned(),
    )
}

/// The point count of every `<polyline points="...">` in `html`.
fn polyline_points(html: &str) -> Vec<usize> {
    html.split("<polyline")
        .skip(1)
        .filter_map(|p| p.split("points=\"").nth(1)?.split('"').next())
        .map(|points| points.split_whitespace().count())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_draws_a_running_nodes_charts_in_chromium() {
    let ledger_config = LedgerConfig {
        challenge_window: 20,
        max_expiry_delta: 100,
        settle_batch_sizes: vec![8],
        dev_faucet: true,
    };
    let verifier = Groth16Verifier::dev(&[8]).unwrap();
    let ledger = EmbeddedLedger::in_memory(Arc::new(verifier), ledger_config).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (node, stop) = common::start_real_node(ledger.clone(), dir.path().into(), ESCROW).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ops = listener.local_addr().unwrap();
    let (stop_ops, ops_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(veil_node::ops_http::serve_ops(
        listener,
        node.metrics_source(),
        SAMPLE_EVERY,
        async move {
            let _ = ops_stopped.await;
        },
    ));
    let prover = Prover::from_store(
        &ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(),
        &[CircuitId::Access],
        None,
    )
    .unwrap();

    // Two paid sessions settle in one batch, a third in a second batch; a
    // fourth stays open.
    let mut sessions = Vec::new();
    for kib in [24, 16] {
        let s = open_session(&ledger, &node, &prover).await;
        tick().await;
        relay(&node, &s, kib, true).await;
        tick().await;
        sessions.push(s);
    }
    assert_eq!(node.settle_now().await.unwrap().sessions, 2);
    tick().await;
    for (kib, pay) in [(30, true), (20, false)] {
        let s = open_session(&ledger, &node, &prover).await;
        tick().await;
        relay(&node, &s, kib, pay).await;
        tick().await;
        sessions.push(s);
    }
    assert_eq!(node.settle_now().await.unwrap().sessions, 1);
    tick().await;
    let status = node.status();
    assert_eq!(
        (
            status.sessions_total,
            status.sessions_open,
            status.settled_batches
        ),
        (4, 1, 2)
    );

    // The page as served: headers, charts with data, no session named.
    let (line, headers, html) = tokio::task::spawn_blocking(move || http_get(ops, "/"))
        .await
        .unwrap();
    assert!(line.contains("200"), "{line}");
    assert!(headers.contains("content-type: text/html"), "{headers}");
    assert!(
        headers.contains(
            "content-security-policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        ),
        "{headers}"
    );
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "activity and settlement charts"
    );
    let points = polyline_points(&html);
    // Earnings, sessions open and opened, throughput; then proving time
    // and size per batch (one point per batch).
    assert_eq!(points.len(), 6, "{points:?}");
    assert!(
        points[..4].iter().all(|&n| n >= 10),
        "samples drawn: {points:?}"
    );
    assert_eq!(&points[4..], &[2, 2], "two batches");
    let paid = status.total_paid;
    assert!(
        paid > 0 && html.contains(&format!("<b>{paid}</b>")),
        "earnings card"
    );
    for s in &sessions {
        let id = hex::encode(s.id().to_bytes());
        assert!(
            !html.to_ascii_lowercase().contains(&id[..16]),
            "the page names a session"
        );
    }
    let (status_line, _, same) = tokio::task::spawn_blocking(move || http_get(ops, "/status"))
        .await
        .unwrap();
    assert!(
        status_line.contains("200") && same.contains("<svg"),
        "{status_line}"
    );
    for path in ["/favicon.ico", "/sessions", "/status/x"] {
        let (line, _, _) = tokio::task::spawn_blocking(move || http_get(ops, path))
            .await
            .unwrap();
        assert!(line.contains("404"), "{path}: {line}");
    }

    // The page in Chromium (what precedes runs without it too).
    let Some(browser) = browser::Browser::for_test("status page in Chromium") else {
        let _ = stop_ops.send(());
        server.await.unwrap().unwrap();
        let _ = stop.send(());
        return;
    };
    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("status-page.png");
    let url = format!("http://{ops}/");
    let report = {
        let (url, png) = (url.clone(), png.clone());
        tokio::task::spawn_blocking(move || {
            browser.load(&browser::Load {
                url: &url,
                screenshot: Some(&png),
                ..Default::default()
            })
        })
        .await
        .unwrap()
    };
    assert!(report.ok, "{:#}", report.raw);
    assert_eq!(report.status, Some(200), "{:#}", report.raw);
    assert_eq!(report.title, "veil node status");
    assert!(report.console_errors.is_empty(), "{:#}", report.raw);
    assert!(report.page_errors.is_empty(), "{:#}", report.raw);
    assert!(report.failed_requests.is_empty(), "{:#}", report.raw);
    assert!(!report.responses.is_empty(), "{:#}", report.raw);
    for (u, _) in &report.responses {
        assert!(
            u.starts_with(&format!("http://{ops}/")),
            "response from elsewhere: {u}"
        );
    }
    let bytes = std::fs::read(&png).unwrap();
    eprintln!(
        "page: {} bytes of HTML, {} samples drawn; screenshot: {} bytes",
        html.len(),
        points[0],
        bytes.len()
    );
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "PNG signature");
    assert!(
        bytes.len() > 10 * 1024,
        "screenshot of {} bytes",
        bytes.len()
    );
    if let Some(dir) = std::env::var_os("VEIL_SCREENSHOT_DIR") {
        // A relative directory is taken from the workspace root (cargo runs
        // the test in tests/).
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(&png, dir.join("status-page.png")).unwrap();
        eprintln!("screenshot: {}", dir.join("status-page.png").display());
    }

    let _ = stop_ops.send(());
    server.await.unwrap().unwrap();
    let _ = stop.send(());
}
