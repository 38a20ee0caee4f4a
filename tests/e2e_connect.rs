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

#[path = "support/http.rs"]
mod http;
#[path = "support/procs.rs"]
mod procs;
use procs::{Children, expected_body, free_port, read_until};

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStderr, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const ESCROW: u64 = 4096;
const DEPOSIT: u64 = 10_000;

#[path = "support/bin.rs"]
mod bin;
use bin::veil_bin;

/// Runs a short `veil` command to completion; panics with its output on failure.
fn run(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("--dev-keys")
        .args(args)
        .output()
        .expect("run veil");
    assert!(
        out.status.success(),
        "veil {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn balance(bin: &Path, wallet: &str, ledger: &str) -> u64 {
    let out = run(
        bin,
        &["wallet", "balance", "--wallet", wallet, "--ledger", ledger],
    );
    out.lines()
        .find_map(|l| l.strip_prefix("balance "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no balance in {out:?}"))
}

#[test]
fn curl_through_veil_connect_over_pinned_tls() {
    let t0 = Instant::now();
    let bin = veil_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let mut kids = Children::default();

    // Ledger.
    let mut ledger = Command::new(&bin)
        .arg("--dev-keys")
        // 100 blocks/s: the session (1000 blocks) expires ~10 s after it
        // opens, and the node then settles it; a wide challenge window
        // leaves time for the settle_8 proof.
        .args([
            "ledger",
            "serve",
            "--dev-faucet",
            "--listen",
            "127.0.0.1:0",
            "--block-interval",
            "10",
        ])
        .args(["--challenge-window", "100000"])
        .args(["--db", &path("ledger.redb")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn veil ledger serve");
    let mut out = BufReader::new(ledger.stdout.take().expect("stdout"));
    kids.add(ledger);
    let (addr, _) = read_until(&mut out, "listening on ", "veil ledger serve");
    let ledger_url = format!("http://{addr}");

    // Node: TLS by default; prints its address, id and TLS key hash.
    let mut node = Command::new(&bin)
        .arg("--dev-keys")
        .args([
            "node",
            "serve",
            "--ledger",
            &ledger_url,
            "--listen",
            "127.0.0.1:0",
        ])
        .args([
            "--price-per-kib",
            "1",
            "--escrow-sizes",
            &ESCROW.to_string(),
        ])
        .args(["--receipt-interval-kib", "1024", "--settle-every", "1"])
        // One session: settle it alone at once rather than wait for company
        // (the minimum-batch policy, R-3, has its own tests).
        .args(["--min-batch-sessions", "1"])
        .args(["--egress-allow", "127.0.0.1/32", "--db", &path("node")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn veil node serve");
    let mut out: BufReader<ChildStdout> = BufReader::new(node.stdout.take().expect("stdout"));
    kids.add(node);
    let (node_addr, _) = read_until(&mut out, "listening on ", "veil node serve");
    let (pin, _) = read_until(&mut out, "tls spki sha256 ", "veil node serve");
    assert_eq!(pin.len(), 64, "pin {pin:?}");
    let node_url = format!("https://{node_addr}");

    // Wallet: fresh key (no secret on the command line), faucet + deposit.
    let wallet = path("alice.wallet");
    run(&bin, &["wallet", "new", "--wallet", &wallet]);
    run(
        &bin,
        &[
            "wallet",
            "deposit",
            "--wallet",
            &wallet,
            "--ledger",
            &ledger_url,
            "--dev-faucet",
            &DEPOSIT.to_string(),
        ],
    );

    // A wrong explicit pin: refused at the handshake, naming both hashes,
    // before any token is built or sent (the balance is untouched).
    let socks_port = free_port();
    let socks = format!("127.0.0.1:{socks_port}");
    let wrong = "00".repeat(32);
    let refused = Command::new(&bin)
        .arg("--dev-keys")
        .args([
            "connect",
            "--wallet",
            &wallet,
            "--ledger",
            &ledger_url,
            "--node",
            &node_url,
        ])
        .args([
            "--socks",
            &socks,
            "--escrow",
            &ESCROW.to_string(),
            "--node-pin",
            &wrong,
        ])
        .output()
        .expect("run veil connect");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a wrong pin was accepted: {err}");
    assert!(
        err.contains(&pin) && err.contains(&wrong),
        "error names both hashes: {err}"
    );
    assert_eq!(balance(&bin, &wallet, &ledger_url), DEPOSIT);

    // `veil connect`, pin from the ledger registration.
    let mut connect = Command::new(&bin)
        .arg("--dev-keys")
        .args([
            "connect",
            "--wallet",
            &wallet,
            "--ledger",
            &ledger_url,
            "--node",
            &node_url,
        ])
        .args(["--socks", &socks, "--escrow", &ESCROW.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil connect");
    let mut err: BufReader<ChildStderr> = BufReader::new(connect.stderr.take().expect("stderr"));
    let connect_pid = connect.id();
    let ci = kids.add(connect);
    let (_, before) = read_until(&mut err, "SOCKS5 on ", "veil connect");
    let pinned = format!("node TLS key sha256 {pin} (pinned by its ledger registration)");
    assert!(before.contains(&pinned), "no pin line in {before:#?}");
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});

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
    let pid = i32::try_from(connect_pid).expect("pid");
    // SAFETY: signalling our own child process by its id.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = kids.0.get_mut(ci).and_then(|c| c.try_wait().ok().flatten()) {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "veil connect did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "veil connect exited with {status}");
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
    assert_eq!(balance(&bin, &wallet, &ledger_url), DEPOSIT - ESCROW);
    let t_open = Instant::now();

    // After expiry the node settles the session with its highest receipt;
    // the wallet finds the refund `E − kib·price` for one receipt it signed.
    let deadline = Instant::now() + Duration::from_secs(60);
    let refund = loop {
        let b = balance(&bin, &wallet, &ledger_url);
        if b > DEPOSIT - ESCROW {
            break b - (DEPOSIT - ESCROW);
        }
        assert!(
            Instant::now() < deadline,
            "no refund 60 s after the session expired"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
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
