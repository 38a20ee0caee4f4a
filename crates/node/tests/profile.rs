//! The node's published profile (docs/protocol.md §8.3.9) across restarts:
//! a node registers its bound address and claimed capacity; a restart
//! that publishes the same facts sends nothing; one with a new endpoint or
//! capacity updates the record (§8.3.8) under the node's own signatures.
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use common::*;
use veil_ledger::profile::{Endpoint, NodeProfile};
use veil_ledger::types::NodeRecord;
use veil_ledger::{EmbeddedLedger, LedgerApi};
use veil_node::NodeConfig;

/// Runs a node of `dir` with `tweak` on `ledger` until it has registered,
/// stops it, and returns where it listened and its record.
async fn run_once(
    ledger: &EmbeddedLedger,
    dir: &Path,
    tweak: impl FnOnce(&mut NodeConfig),
) -> (SocketAddr, NodeRecord) {
    let mut config = node_config(dir.to_path_buf());
    // The stake backs the largest claim of these tests (900 Mbit/s at 100
    // per Mbit/s, §8.3.6), taken from the node's own account.
    config.stake = veil_ledger::types::Value(90_000);
    let account = veil_node::keys::load_or_create_account_key(dir)
        .expect("account key")
        .verifying_key()
        .account_id();
    ledger.faucet(account, config.stake).await.expect("faucet");
    tweak(&mut config);
    let verifier = Arc::new(TestVerifier::default());
    let (node, stop) = start_node(config, ledger.clone(), verifier).await;
    let (addr, id) = (node.local_addr, node.node_id);
    stop.send(()).expect("node running");
    node.join().await.expect("clean stop");
    let record = ledger
        .get_node(id)
        .await
        .expect("read")
        .expect("registered");
    (addr, record)
}

fn profile(record: &NodeRecord) -> NodeProfile {
    record.profile().expect("canonical").expect("published")
}

#[tokio::test]
async fn the_profile_follows_the_node_and_a_same_restart_sends_nothing() {
    let ledger = ledger();
    let dir = tempfile::tempdir().expect("tempdir");

    let (addr, first) = run_once(&ledger, dir.path(), |c| c.capacity_mbit_s = 300).await;
    let p = profile(&first);
    assert_eq!(
        p.endpoint,
        Some(Endpoint::parse(&addr.to_string()).expect("addr"))
    );
    assert_eq!(p.capacity_mbit_s, 300);
    assert_eq!(first.sequence(), 0, "registered, not updated");

    // The same address and capacity again: no update.
    let (_, same) = run_once(&ledger, dir.path(), |c| {
        c.listen = addr;
        c.capacity_mbit_s = 300;
    })
    .await;
    assert_eq!(same, first, "a restart with the same facts sends nothing");

    // A new public endpoint and capacity: one update, signed by the node.
    let (_, moved) = run_once(&ledger, dir.path(), |c| {
        c.advertise = Some(Endpoint::parse("node.example:443").expect("endpoint"));
        c.capacity_mbit_s = 900;
    })
    .await;
    assert_eq!(moved.sequence(), 1);
    let p = profile(&moved);
    assert_eq!(
        p.endpoint.as_ref().map(Endpoint::as_str),
        Some("node.example:443")
    );
    assert_eq!(p.capacity_mbit_s, 900);
    let update = moved.update.expect("updated").update;
    update
        .authenticate()
        .expect("the node and its account signed it");
    assert_eq!(
        moved.registration, first.registration,
        "the registration is kept"
    );
}

#[tokio::test]
async fn an_unspecified_listen_address_publishes_no_endpoint() {
    let ledger = ledger();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, record) = run_once(&ledger, dir.path(), |c| {
        c.listen = "0.0.0.0:0".parse().expect("addr");
    })
    .await;
    assert_eq!(profile(&record).endpoint, None);
}

/// §9.4: a node whose egress allows only port 443 (and the loopback range,
/// as a test needs) still reaches another registered node's published
/// endpoint — the two-hop entry's path to an exit — while every other
/// port of the same address stays denied.
#[tokio::test]
async fn a_registered_peers_endpoint_is_reachable_past_the_port_list() {
    use veil_proto::node::v1::node_frame;
    let ledger = ledger();
    fund_pool(&ledger, 500_000).await;
    // The peer: another registered node, listed at its bound address.
    let peer_dir = tempfile::tempdir().expect("tempdir");
    let verifier = Arc::new(TestVerifier::default());
    let (peer, _peer_stop) = start_node(
        node_config(peer_dir.path().to_path_buf()),
        ledger.clone(),
        verifier,
    )
    .await;
    // The entry, started after the peer registered: its first poll lists it.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = node_config(dir.path().to_path_buf());
    config.egress = veil_node::egress::EgressPolicy::parse("127.0.0.1/32,443").expect("policy");
    let verifier = Arc::new(TestVerifier::default());
    let (node, shutdown) = start_node(config, ledger.clone(), verifier.clone()).await;
    let account = node.account;
    let w = World {
        ledger,
        verifier,
        node,
        shutdown: Some(shutdown),
        dir,
        account,
    };
    let s = w.session().await;
    w.open(&s).await.expect("session");
    let other_port = echo_server().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut relay = Relay::start(&w).await;
    // Stream 1: the peer's endpoint (retried until the entry's first
    // ledger poll has listed it; a guard against a hang, not a timing).
    let mut id = 1;
    loop {
        relay.open(&s, id, peer.local_addr.port()).await;
        match relay.next().await {
            node_frame::Frame::Opened(_) => break,
            node_frame::Frame::Closed(c) => {
                assert_eq!(
                    c.reason,
                    veil_proto::node::v1::CloseReason::EgressDenied as i32
                );
                assert!(std::time::Instant::now() < deadline, "peer never listed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                id += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    // Another port of the same address: still the port list's to deny.
    relay.open(&s, id + 1, other_port).await;
    loop {
        match relay.next().await {
            // The peer's HTTP/2 preface on the stream that opened.
            node_frame::Frame::Data(d) if d.stream_id == id => continue,
            node_frame::Frame::Closed(c) => {
                assert_eq!(c.stream_id, id + 1);
                assert_eq!(
                    c.reason,
                    veil_proto::node::v1::CloseReason::EgressDenied as i32
                );
                break;
            }
            other => panic!("{other:?}"),
        }
    }
}

/// §8.3.12: a retired node restarts with other facts (a new endpoint and
/// capacity) and sends no update — the ledger would refuse it — so it
/// still starts, to settle the sessions it has.
#[tokio::test]
async fn a_retired_node_restarts_without_updating_its_record() {
    use veil_ledger::exit::{ExitRequest, ExitStep};
    let ledger = ledger();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, first) = run_once(&ledger, dir.path(), |c| c.capacity_mbit_s = 300).await;
    let account_key = veil_node::keys::load_or_create_account_key(dir.path()).expect("key");
    let nonce = ledger
        .account(first.registration.account)
        .await
        .expect("account")
        .next_nonce;
    let retire = ExitRequest::signed(
        &account_key,
        nonce,
        first.registration.node_id,
        ExitStep::Retire,
    );
    let retired = ledger.exit_node(retire).await.expect("retire");
    let (_, after) = run_once(&ledger, dir.path(), |c| {
        c.advertise = Some(Endpoint::parse("node.example:443").expect("endpoint"));
        c.capacity_mbit_s = 900;
    })
    .await;
    assert_eq!(after, retired, "nothing sent for a retired node");
}
