//! A node leaving the network end to end (docs/protocol.md §8.3.12), every
//! party its own `veil` process over real gRPC on loopback: `veil node
//! retire` while a client's session is open; the session still settles
//! and the client gets its refund; a new `veil connect` is refused before
//! it proves or spends anything; `veil nodes` shows the node retired;
//! `veil node release-stake` is refused until the lock-up ends, naming
//! the height. (The release itself, after the lock-up, is in
//! `crates/ledger/tests/node_exit.rs` and `authorisation_grpc.rs`: this
//! ledger's challenge window puts it 100,000 blocks away.)
//!
//! Needs the `veil` binary (target/debug/veil, or VEIL_BIN).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/http.rs"]
mod http;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use procs::expected_body;
use stack::{Setup, Stack};

/// A guard against a hung test only, never a measurement.
const REFUND_WAIT_SECS: u64 = 120;

#[test]
fn a_retired_node_settles_its_open_session_takes_no_new_one_and_keeps_its_stake_locked() {
    let mut stack = Stack::start(Setup::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dest = rt.block_on(http::http_server());

    // Alice's session relays, then the node's account retires the node.
    let alice = stack.funded_wallet("alice");
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let (alice_connect, _) = stack.connect(&alice, &socks);
    let socks_addr: std::net::SocketAddr = socks.parse().expect("socks addr");
    let n = 50_000;
    assert!(rt.block_on(http::fetch(socks_addr, dest, n)) == expected_body(n));
    let node_dir = stack.path("node");
    let ledger_url = stack.ledger_url.clone();
    let exit_args = |step| ["node", step, "--ledger", &ledger_url, "--db", &node_dir];
    let out = stack.veil(&exit_args("retire"));
    let locked = out
        .lines()
        .find_map(|l| l.strip_prefix("stake "))
        .and_then(|l| l.split_once(" locked until height "))
        .map(|(_, h)| h.trim().to_owned())
        .unwrap_or_else(|| panic!("no lock-up line in {out:?}"));
    let locked: u64 = locked.parse().expect("height");
    assert!(
        locked > 100_000,
        "the lock-up outlasts the challenge window: {locked}"
    );

    // The open session still relays, ends and settles: alice's refund
    // arrives.
    assert!(rt.block_on(http::fetch(socks_addr, dest, n)) == expected_body(n));
    let before = stack.balance(&alice);
    stack.stop_connect(alice_connect);
    let refund = stack.wait_refund(&alice, before, REFUND_WAIT_SECS);
    assert!(refund > 0 && refund < stack.setup.escrow, "refund {refund}");

    // Bob's connect is refused before anything is proved or spent.
    let bob = stack.funded_wallet("bob");
    let bob_socks = format!("127.0.0.1:{}", procs::free_port());
    let refused = stack
        .connect_command(&bob, &bob_socks)
        .output()
        .expect("run veil connect");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success(),
        "a retired node took a session: {err}"
    );
    assert!(err.contains("is retired"), "the refusal says why: {err}");
    assert_eq!(stack.balance(&bob), stack.setup.deposit, "nothing spent");

    // The registry shows it; the stake stays locked, with the height.
    let listed = stack.veil(&["nodes", "--ledger", &stack.ledger_url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(listed.trim()).expect("json");
    let node = &v["nodes"][0];
    assert!(node["retired_at"].is_u64(), "{v}");
    assert_eq!(node["stake_released"], false);
    let early = stack
        .command()
        .args(exit_args("release-stake"))
        .output()
        .expect("run veil node release-stake");
    let err = String::from_utf8_lossy(&early.stderr);
    assert!(!early.status.success(), "released early: {err}");
    assert!(
        err.contains(&format!("stake locked until height {locked}")),
        "names the height: {err}"
    );
    let again = stack
        .command()
        .args(exit_args("retire"))
        .output()
        .expect("run veil node retire");
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("node is retired"));
}
