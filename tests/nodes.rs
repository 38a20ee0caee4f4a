//! `veil nodes` over real gRPC (docs/protocol.md §8.3.9, §8.3.10): a ledger
//! and two `veil node serve` processes on loopback; the listing shows each
//! node once with the endpoint it published, its TLS pin and terms, the
//! same from every page size; a ledger that is not there is a clear error.
//! `veil connect` without `--node` chooses its node from that registry, and
//! refuses a route the registry cannot make (docs/client.md "Choosing
//! nodes").
//!
//! Needs the `veil` binary (target/debug/veil, or VEIL_BIN).

#[path = "support/bin.rs"]
mod bin;
#[path = "support/procs.rs"]
mod procs;
#[path = "support/stack.rs"]
mod stack;

use stack::{Setup, Stack};

#[test]
fn the_registry_lists_every_node_with_its_published_endpoint_and_pin() {
    let mut stack = Stack::start(Setup::default());
    let (exit_url, exit_pin) = stack.start_node("exit");
    let out = stack.veil(&["nodes", "--ledger", &stack.ledger_url, "--json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 2, "{v}");
    for (url, pin) in [(&stack.node_url, &stack.pin), (&exit_url, &exit_pin)] {
        let addr = url.trim_start_matches("https://");
        let n = nodes
            .iter()
            .find(|n| n["endpoint"] == addr)
            .unwrap_or_else(|| panic!("{addr} not listed in {v}"));
        assert_eq!(n["tls_key_sha256"], pin.as_str());
        assert_eq!(n["price_per_kib"], stack.setup.price_per_kib);
        assert_eq!(n["escrow_sizes"][0], stack.setup.escrow);
        assert!(
            n["voucher_epochs"]
                .as_array()
                .is_some_and(|e| !e.is_empty()),
            "{n}"
        );
        assert!(n["profile_error"].is_null());
    }
    let table = stack.veil(&["nodes", "--ledger", &stack.ledger_url]);
    assert!(table.starts_with("2 registered node(s)"), "{table}");

    let gone = stack
        .command()
        .args(["nodes", "--ledger", "http://127.0.0.1:9"])
        .output()
        .expect("run veil");
    assert!(!gone.status.success());
    assert!(String::from_utf8_lossy(&gone.stderr).contains("ledger"));
}

#[test]
fn connect_chooses_its_node_from_the_registry() {
    let mut stack = Stack::start(Setup {
        deposit: Setup::default().escrow,
        ..Setup::default()
    });
    let node_id = {
        let p = stack.procs.iter().find(|p| p.name == "node").expect("node");
        p.out.wait_for("node id ", "veil node serve").0
    };
    let wallet = stack.funded_wallet("alice");
    let sizes = stack.setup.escrow.to_string();
    let connect_with = |escrow: &str, extra: &[&str]| {
        let socks = format!("127.0.0.1:{}", procs::free_port());
        let mut c = stack.command();
        c.args([
            "connect",
            "--wallet",
            &wallet,
            "--ledger",
            &stack.ledger_url,
        ])
        .args(["--socks", &socks, "--escrow", escrow])
        .args(extra);
        c
    };
    let connect = |extra: &[&str]| connect_with(&sizes, extra);

    // Two hops need two operators: one registered node is a clear error,
    // before any note is spent.
    let two = connect(&["--hops", "2"]).output().expect("run veil");
    assert!(!two.status.success());
    let err = String::from_utf8_lossy(&two.stderr);
    assert!(
        err.contains("needs 2 registered node(s) of distinct operators"),
        "{err}"
    );
    assert!(err.contains("from 1 operator(s)"), "{err}");
    // A pin or plaintext names a node: without --node, clap refuses it.
    let pin = connect(&["--node-pin", &stack.pin])
        .output()
        .expect("run veil");
    assert_eq!(
        pin.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&pin.stderr)
    );
    // An escrow size no node offers: nothing to choose.
    let odd = connect_with("4095", &[]).output().expect("run veil");
    assert!(!odd.status.success());
    let err = String::from_utf8_lossy(&odd.stderr);
    assert!(err.contains("accept an escrow of 4095"), "{err}");

    // One hop, no --node: the one node, pinned from its record. The wallet's
    // one note pays it (none was spent above).
    let cmd = connect(&[]);
    let p = stack.spawn("connect", cmd);
    let ci = p.index;
    let (_, before) = p.err.wait_for("SOCKS5 on ", "veil connect");
    let line = format!("chose node {node_id} at {} ", stack.node_url);
    assert!(
        before.iter().any(|l| l.starts_with(&line)),
        "{line} not in {before:#?}"
    );
    assert!(
        before.iter().any(|l| l.starts_with("session open")),
        "{before:#?}"
    );
    stack.stop_connect(ci);
}
