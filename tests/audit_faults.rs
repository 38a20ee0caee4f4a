//! Whom an audit blames (docs/market.md §7.1, `veil_client::monitor::observe`):
//! a node that breaks the transfer while the target serves is observed
//! delivering nothing — reported, not skipped; a target that is down, or a
//! destination the node's published egress policy refuses, is not the
//! node's fault, and nothing is reported. A real node on loopback behind
//! the recording proxy of `support/inproc_node.rs`, which plays the
//! breaking node.

use std::net::{Ipv4Addr, SocketAddr};

use rand::SeedableRng;
use rand::rngs::StdRng;
use veil_client::error::ClientError;
use veil_client::monitor::{AuditPlan, Observed, audit, probe, spawn_target};
use veil_client::session::NodeConnection;
use veil_client::socks5::{Host, Target};
use veil_client::sync::LocalTree;

#[path = "support/inproc_node.rs"]
mod inproc;
use inproc::{ESCROW, InProc, funded_wallet};

/// Bytes each audit asks for.
const BYTES: u64 = 1 << 20;

fn plan(target: SocketAddr) -> AuditPlan {
    AuditPlan {
        target: Target {
            host: Host::Ip(target.ip()),
            port: target.port(),
        },
        bytes: BYTES,
    }
}

/// One audit of the node behind `env`'s proxy, fetching from `target`.
async fn audit_once(env: &InProc, target: SocketAddr, seed: u64) -> Result<Observed, ClientError> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut wallet =
        funded_wallet(&env.ledger, env.tmp.path(), &format!("m{seed}"), &mut rng).await;
    let mut conn = NodeConnection::connect_plaintext(&env.url)
        .await
        .expect("conn");
    let mut tree = LocalTree::new();
    audit(
        &env.ledger,
        &mut conn,
        &env.prover,
        &mut wallet,
        &mut tree,
        ESCROW,
        1,
        &plan(target),
        &mut rng,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_breaks_the_transfer_is_observed_delivering_nothing() {
    let env = InProc::start(Some("127.0.0.1/32")).await;
    let target = spawn_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("target");
    // The honest node first: the whole body.
    let honest = audit_once(&env, target, 1).await.expect("audit");
    assert_eq!(honest.body_bytes, BYTES);
    assert!(honest.measurement().throughput_kbps > 0);
    // The node ends the relay after two of its data frames.
    env.recorder.cut_relays_after(2);
    let broken = audit_once(&env, target, 2)
        .await
        .expect("observed, not an error");
    assert_eq!(broken.body_bytes, 0);
    let m = broken.measurement();
    assert_eq!(m.throughput_kbps, 0, "{m:?}");
    // The session's challenge was answered (the cut came later).
    assert_eq!((m.challenges_ok, m.challenges_failed), (1, 0));
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_is_down_is_not_blamed_on_the_node() {
    let env = InProc::start(Some("127.0.0.1/32")).await;
    // A port nothing listens on.
    let gone = {
        let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        l.local_addr().expect("addr")
    };
    assert!(probe(&plan(gone).target).await.is_err());
    let r = audit_once(&env, gone, 3).await;
    assert!(r.is_err(), "reported a node for a dead target: {r:?}");
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_the_node_refuses_by_policy_is_not_reported() {
    // The default egress policy refuses loopback destinations.
    let env = InProc::start(None).await;
    let target = spawn_target(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .expect("target");
    assert!(probe(&plan(target).target).await.is_ok());
    match audit_once(&env, target, 4).await {
        Err(ClientError::EgressDenied(t)) => assert_eq!(t, target.to_string()),
        other => panic!("expected the node's egress refusal, got {other:?}"),
    }
    env.stop().await;
}
