//! TLS key rotation end to end (issue 17, docs/node.md "Rotating the TLS
//! key", docs/protocol.md §8.3.8, §9.8), every party its own `veil`
//! process over real gRPC on loopback: `veil node rotate-tls` rotates the
//! key of a running node while a session relays through `veil connect`.
//! The session keeps relaying on its established connection and settles;
//! a new `veil connect` after the rotation pins the new key from the
//! ledger; a client pinning the old key is refused at the handshake.
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

use std::time::{Duration, Instant};

use procs::expected_body;
use stack::{Setup, Stack};

const ESCROW: u64 = 4096;
const DEPOSIT: u64 = 10_000;
/// A guard against a hung test only, never a measurement.
const WAIT: Duration = Duration::from_secs(120);

/// Waits until process `name` printed a line containing `needle` on stderr.
fn wait_for_log(stack: &Stack, name: &str, needle: &str) {
    let deadline = Instant::now() + WAIT;
    let p = stack
        .procs
        .iter()
        .find(|p| p.name == name)
        .expect("process");
    while !p.err.all().iter().any(|l| l.contains(needle)) {
        assert!(
            Instant::now() < deadline,
            "{name} did not log {needle:?}: {:#?}",
            p.err.all()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value after `prefix` on a line of `out`.
fn line_value(out: &str, prefix: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in {out:?}"))
        .to_owned()
}

#[test]
fn rotate_the_tls_key_of_a_running_node_while_a_session_relays() {
    let mut stack = Stack::start(Setup {
        escrow: ESCROW,
        deposit: DEPOSIT,
        ..Setup::default()
    });
    let old_pin = stack.pin.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dest = rt.block_on(http::http_server());
    let n = 100_000;

    // A session relays through `veil connect`, pinned from the ledger.
    let alice = stack.funded_wallet("alice");
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let (alice_connect, before) = stack.connect(&alice, &socks);
    let pinned = format!("node TLS key sha256 {old_pin} (pinned by its ledger registration)");
    assert!(before.contains(&pinned), "no pin line in {before:#?}");
    let socks_addr: std::net::SocketAddr = socks.parse().expect("socks addr");
    let body = rt.block_on(http::fetch(socks_addr, dest, n));
    assert!(body == expected_body(n), "bytes before the rotation differ");

    // Rotate while the node runs and the session is open.
    let node_dir = stack.path("node");
    let out = stack.veil(&[
        "node",
        "rotate-tls",
        "--ledger",
        &stack.ledger_url,
        "--db",
        &node_dir,
    ]);
    let new_pin = line_value(&out, "tls spki sha256 ");
    assert_eq!(line_value(&out, "update sequence "), "1");
    assert_eq!(new_pin.len(), 64);
    assert_ne!(new_pin, old_pin, "a rotation changes the key");
    wait_for_log(&stack, "node", "TLS key rotated");

    // The session keeps relaying over the connection it opened under the
    // old key.
    let body = rt.block_on(http::fetch(socks_addr, dest, n));
    assert!(body == expected_body(n), "bytes after the rotation differ");

    // A client holding the old pin is refused at the handshake, naming
    // both keys, before it spends anything.
    let bob = stack.funded_wallet("bob");
    let bob_socks = format!("127.0.0.1:{}", procs::free_port());
    let refused = stack
        .connect_command(&bob, &bob_socks)
        .args(["--node-pin", &old_pin])
        .output()
        .expect("run veil connect");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "the old pin was accepted: {err}");
    assert!(
        err.contains(&old_pin) && err.contains(&new_pin),
        "the refusal names both keys: {err}"
    );
    assert_eq!(stack.balance(&bob), DEPOSIT, "nothing spent");

    // A new connection pinned through the ledger gets the new key.
    let (bob_connect, before) = stack.connect(&bob, &bob_socks);
    let pinned = format!("node TLS key sha256 {new_pin} (pinned by its ledger registration)");
    assert!(before.contains(&pinned), "no new pin line in {before:#?}");
    let bob_addr: std::net::SocketAddr = bob_socks.parse().expect("socks addr");
    let body = rt.block_on(http::fetch(bob_addr, dest, n));
    assert!(body == expected_body(n), "bytes under the new key differ");

    // The session that spanned the rotation settles: its wallet finds the
    // refund of what it did not use.
    stack.stop_connect(alice_connect);
    stack.stop_connect(bob_connect);
    assert_eq!(stack.balance(&alice), DEPOSIT - ESCROW);
    let refund = stack.wait_refund(&alice, DEPOSIT - ESCROW, 120);
    assert!(
        refund > 0 && refund < ESCROW,
        "refund {refund}: the session paid for what it relayed"
    );
}
