//! `veil connect` end to end, every party its own process (issue 4,
//! `docs/client.md`): `veil ledger serve`, `veil node serve` (TLS, the
//! default), `veil wallet new` + `deposit`, `veil connect` pinning the node's
//! TLS key from its ledger registration (`docs/protocol.md` §9.8), then a
//! page fetched from a local HTTP server through the SOCKS5 port — by our
//! SOCKS5 client and, when it is on PATH, by the real `curl`. After SIGINT
//! the node settles the expired session and the wallet finds its refund.
//!
//! Needs the `veil` binary (target/debug/veil, or VEIL_BIN); builds it with
//! `cargo build -p veil-cli` if missing. Proving keys: `$VEIL_PARAMS_CACHE`.

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

use std::process::Command;
use std::time::Instant;

const ESCROW: u64 = 4096;
const DEPOSIT: u64 = 10_000;

#[test]
fn curl_through_veil_connect_over_pinned_tls() {
    let t0 = Instant::now();
    let mut stack = Stack::start(Setup {
        escrow: ESCROW,
        deposit: DEPOSIT,
        ..Setup::default()
    });
    let pin = stack.pin.clone();

    // Wallet: fresh key (no secret on the command line), faucet + deposit.
    let wallet = stack.funded_wallet("alice");

    // A wrong explicit pin: refused at the handshake, naming both hashes,
    // before any token is built or sent (the balance is untouched).
    let socks = format!("127.0.0.1:{}", procs::free_port());
    let wrong = "00".repeat(32);
    let refused = stack
        .connect_command(&wallet, &socks)
        .args(["--node-pin", &wrong])
        .output()
        .expect("run veil connect");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a wrong pin was accepted: {err}");
    assert!(
        err.contains(&pin) && err.contains(&wrong),
        "error names both hashes: {err}"
    );
    assert_eq!(stack.balance(&wallet), DEPOSIT);

    // `veil connect`, pin from the ledger registration.
    let (ci, before) = stack.connect(&wallet, &socks);
    let pinned = format!("node TLS key sha256 {pin} (pinned by its ledger registration)");
    assert!(before.contains(&pinned), "no pin line in {before:#?}");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let socks_addr: std::net::SocketAddr = socks.parse().expect("socks addr");
    let dest = rt.block_on(http::http_server());
    let n = 200_000;
    let body = rt.block_on(http::fetch(socks_addr, dest, n));
    assert!(
        body == expected_body(n),
        "bytes through the SOCKS5 port differ"
    );

    // The real curl, when installed.
    if let Ok(out) = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--socks5-hostname", &socks])
        .arg(format!("http://{dest}/50000"))
        .output()
    {
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout == expected_body(50_000), "curl got other bytes");
    } else {
        eprintln!("curl not on PATH: fetched with the built-in SOCKS5 client only");
    }

    // SIGINT: `veil connect` saves the receipts it signed and exits cleanly.
    stack.stop_connect(ci);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wallet).expect("wallet file")).expect("wallet json");
    let receipts: Vec<u64> = saved["sessions"][0]["receipts_kib"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    assert!(
        !receipts.is_empty(),
        "no receipt saved: {}",
        saved["sessions"]
    );

    // The escrow left the wallet (the change note was found).
    assert_eq!(stack.balance(&wallet), DEPOSIT - ESCROW);
    let t_open = Instant::now();

    // After expiry the node settles the session with its highest receipt;
    // the wallet finds the refund `E − kib·price` for one receipt it signed.
    let refund = stack.wait_refund(&wallet, DEPOSIT - ESCROW, 60);
    assert!(
        receipts.iter().any(|kib| refund == ESCROW - kib),
        "refund {refund} matches none of the signed receipts {receipts:?}"
    );
    eprintln!(
        "e2e_connect: {} ms (settlement and refund {} ms of it)",
        t0.elapsed().as_millis(),
        t_open.elapsed().as_millis()
    );
}
