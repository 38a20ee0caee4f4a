//! The operator's metrics endpoint (docs/operations.md, "Metrics") over
//! real HTTP on loopback: a node that opened a session, relayed bytes,
//! accepted one receipt and refused a forged one and a token for another
//! node serves Prometheus text that a scrape parser accepts, with those
//! counts, and with nothing that names the session.

mod common;

use std::io::{Read, Write};

use common::*;
use veil_primitives::field::fr_from_u64;
use veil_proto::node::v1::node_frame;

/// `GET path` over HTTP/1.1 on loopback: (status line, headers, body).
fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    (
        status.to_owned(),
        headers.to_ascii_lowercase(),
        body.to_owned(),
    )
}

/// The value of the sample `name` whose labels are `labels`.
fn sample(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scrape_parser_accepts_the_metrics_and_they_count_what_happened() {
    let w = World::new().await;
    // Refused: a token for another node.
    let other = w
        .session_with(|st| st.node_id = veil_ledger::types::NodeId::from_fr(fr_from_u64(9)))
        .await;
    assert!(w.open(&other).await.is_err());
    // A session relays 4 KiB; one valid receipt, one forged.
    let s = w.session().await;
    w.open(&s).await.expect("opens");
    let port = echo_server().await;
    let mut relay = Relay::opened(&w.node, &s, port).await;
    relay.data(1, vec![7; 4096]).await;
    let mut echoed = 0;
    while echoed < 4096 {
        if let node_frame::Frame::Data(d) = relay.next().await {
            echoed += d.bytes.len();
        }
    }
    relay.receipt(s.receipt(8)).await;
    let forger = Session {
        key: veil_primitives::eddsa::SigningKey::generate(&mut rand::rngs::OsRng),
        statement: s.statement,
        token: Vec::new(),
    };
    relay.receipt(forger.receipt(9)).await;
    let (mut acked, mut refused) = (false, false);
    while !(acked && refused) {
        match relay.next().await {
            node_frame::Frame::ReceiptAck(_) => acked = true,
            node_frame::Frame::Error(_) => refused = true,
            _ => {}
        }
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(veil_node::ops_http::serve_metrics(
        listener,
        w.node.metrics_source(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let (status, headers, body) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
        .await
        .expect("get");
    assert!(status.contains("200"), "{status}");
    assert!(
        headers.contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("the scrape parser accepts the body");
    let v = |name: &str, labels: &[(&str, &str)]| sample(&scrape, name, labels);
    assert_eq!(v("veil_node_sessions_opened_total", &[]), Some(1.0));
    assert_eq!(v("veil_node_sessions_open", &[]), Some(1.0));
    assert_eq!(v("veil_node_receipts_accepted_total", &[]), Some(1.0));
    assert_eq!(
        v(
            "veil_node_receipts_refused_total",
            &[("reason", "receipt_bad_signature")]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "veil_node_tokens_refused_total",
            &[("reason", "other_node")]
        ),
        Some(1.0)
    );
    assert_eq!(v("veil_node_token_verifications_total", &[]), Some(1.0));
    assert!(v("veil_node_relayed_bytes_total", &[]).is_some_and(|b| b >= 8192.0));
    assert_eq!(v("veil_node_streams_open", &[]), Some(1.0));
    // Nothing in the page names the session (its id is the public nullifier).
    let id = hex::encode(s.id().to_bytes());
    assert!(!body.contains(&id) && !body.to_ascii_lowercase().contains(&id[..16]));
    for sample in &scrape.samples {
        for (k, _) in sample.labels.iter() {
            assert!(
                matches!(k.as_str(), "reason" | "op" | "le" | "quantile"),
                "label {k}"
            );
        }
    }
    // Only /metrics is served.
    let (status, _, _) = tokio::task::spawn_blocking(move || http_get(addr, "/sessions"))
        .await
        .expect("get");
    assert!(status.contains("404"), "{status}");
    let _ = stop_tx.send(());
    server.await.expect("joins").expect("serves until stopped");
}
