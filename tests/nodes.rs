//! `veil nodes` over real gRPC (docs/protocol.md §8.3.9, §8.3.10): a ledger
//! and two `veil node serve` processes on loopback; the listing shows each
//! node once with the endpoint it published, its TLS pin and terms, the
//! same from every page size; a ledger that is not there is a clear error.
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
