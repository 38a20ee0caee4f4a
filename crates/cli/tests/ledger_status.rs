//! `veil ledger serve --metrics` started from a config file, and `veil
//! ledger status` reading it (docs/operations.md, "Ledger metrics"): the
//! page is Prometheus text, the summary counts the faucet calls made over
//! gRPC (accepted, and refused by kind), any other path is 404, and a
//! ledger that is gone is a clear error.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

/// `veil --dev-keys` (the INSECURE development keys: a test).
fn veil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_veil"));
    c.arg("--dev-keys");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("run veil")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Kills the child on drop (a failing assertion must not leak a server).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET path` on `authority` (HOST:PORT): (status line, body).
fn get(authority: &str, path: &str) -> (String, String) {
    let mut s = std::net::TcpStream::connect(authority).expect("connect to metrics");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("head and body");
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, body.to_owned())
}

/// `veil ledger faucet` on `ledger` (an account of 32 bytes hex).
fn faucet(ledger: &str, amount: &str) -> Output {
    let account = format!("{:064x}", 7);
    run(veil().args([
        "ledger",
        "faucet",
        "--ledger",
        ledger,
        "--account",
        &account,
        "--amount",
        amount,
    ]))
}

#[test]
fn ledger_status_summarises_the_metrics_of_a_ledger_started_from_a_config_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("ledger.toml");
    std::fs::write(
        &config,
        format!(
            "db = {:?}\nlisten = \"127.0.0.1:0\"\nblock-interval = 0\ndev-faucet = true\nmetrics = \"127.0.0.1:0\"\n",
            dir.path().join("ledger.redb").display().to_string()
        ),
    )
    .expect("write config");
    let mut child = veil()
        .args(["ledger", "serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn veil ledger serve");
    let stdout = child.stdout.take().expect("stdout");
    let guard = Killed(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut next = || lines.next().expect("a line").expect("read a line");
    let grpc = next();
    let grpc = format!(
        "http://{}",
        grpc.strip_prefix("listening on ").expect("listening line")
    );
    let metrics = next();
    let metrics = metrics
        .strip_prefix("metrics on http://")
        .and_then(|m| m.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("metrics line: {metrics:?}"))
        .to_owned();

    // Two mints accepted, one refused (amount 0), all over gRPC.
    for amount in ["600", "400"] {
        let out = faucet(&grpc, amount);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = faucet(&grpc, "0");
    assert!(!out.status.success(), "a zero mint is refused");

    let (status, body) = get(&metrics, "/metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("a Prometheus scrape parser accepts the page");
    assert!(
        scrape
            .samples
            .iter()
            .any(|s| s.metric == "veil_ledger_requests_refused_total"),
        "{body}"
    );
    let (status, _) = get(&metrics, "/nope");
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");

    let out = run(veil().args(["ledger", "status", "--json", "--metrics", &metrics]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(json["ops"]["faucet"]["accepted"], 2, "{json}");
    assert_eq!(json["ops"]["faucet"]["refused"], 1, "{json}");
    assert_eq!(
        json["ops"]["faucet"]["refused_by_kind"]["invalid_argument"], 1,
        "{json}"
    );
    assert_eq!(json["values"]["minted_value"], 1000.0, "{json}");
    assert_eq!(json["values"]["note_tree_leaves"], 0.0, "{json}");
    assert!(json["ops"].get("deposit").is_none(), "never called: {json}");
    assert!(json["store_commits"].as_u64().unwrap_or(0) >= 2, "{json}");

    let url = format!("http://{metrics}/metrics");
    let out = run(veil().args(["ledger", "status", "--metrics", &url]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("minted 1000 base units"), "{summary}");
    assert!(
        summary.contains("requests     accepted 2, refused 1\n"),
        "{summary}"
    );
    assert!(
        summary.contains("faucet               accepted 2, refused 1 (invalid_argument 1)"),
        "{summary}"
    );

    // Nothing listening: a clear error, not a hang.
    drop(guard);
    let out = run(veil().args(["ledger", "status", "--metrics", &metrics]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("ledger's metrics at"),
        "{}",
        text(&out.stderr)
    );
}
