//! A ledger, a node and `veil connect`, each its own `veil` process
//! (docs/client.md, "Browsing through a node"), for the end-to-end tests
//! that drive the binary. Every line each process prints is kept: a test
//! waits for the lines it needs (`listening on …`, `SOCKS5 on …`) and the
//! log-privacy test searches all of them. Pipes are drained by threads, so
//! a chatty process never blocks on a full pipe.
//!
//! Included with `#[path]`; the including test also includes `procs.rs`
//! and `bin.rs` as `mod procs` and `mod bin`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bin::veil_bin;
use crate::procs::{Children, free_port};

/// How long a process may take to print a line a test waits for (key
/// loading and proving in a debug build on a busy machine); only a guard
/// against a hung test, never a measurement.
const LINE_WAIT: Duration = Duration::from_secs(300);

/// The lines one pipe of a child printed so far, and whether it closed.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<(Vec<String>, bool)>>);

impl Lines {
    /// Drains `r` on a thread, line by line (lossy UTF-8).
    fn drain<R: Read + Send + 'static>(r: R) -> Self {
        let lines = Lines::default();
        let sink = lines.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(r);
            let mut buf = Vec::new();
            while matches!(r.read_until(b'\n', &mut buf), Ok(n) if n > 0) {
                let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                sink.0.lock().expect("lines lock").0.push(line);
                buf.clear();
            }
            sink.0.lock().expect("lines lock").1 = true;
        });
        lines
    }

    /// Every line printed so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("lines lock").0.clone()
    }

    /// Waits for a line starting with `prefix`; returns the rest of it and
    /// the lines before it. Panics with what was printed if the pipe closes
    /// (or [`LINE_WAIT`] passes) first.
    pub fn wait_for(&self, prefix: &str, what: &str) -> (String, Vec<String>) {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let (seen, closed) = self.0.lock().expect("lines lock").clone();
            if let Some(i) = seen.iter().position(|l| l.starts_with(prefix)) {
                return (seen[i][prefix.len()..].to_owned(), seen[..i].to_vec());
            }
            assert!(
                !closed && Instant::now() < deadline,
                "{what} did not print {prefix:?}; it printed {seen:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A child process: its index in [`Children`] and what it prints.
pub struct Proc {
    pub name: String,
    pub index: usize,
    pub out: Lines,
    pub err: Lines,
}

/// The settings of a run.
#[derive(Clone)]
pub struct Setup {
    /// The node's only escrow size (base units) and the wallet's deposit.
    pub escrow: u64,
    pub deposit: u64,
    pub price_per_kib: u64,
    pub receipt_interval_kib: u64,
    /// Ledger block interval: a session lives 1000 blocks (the node's
    /// default `max_session_lifetime`), then the node settles it.
    pub block_interval_ms: u64,
    /// `--log-format json` on every process.
    pub json_logs: bool,
    /// `RUST_LOG` of every process (else each command's default).
    pub rust_log: Option<String>,
    /// Serve the node's Prometheus metrics (`--metrics`).
    pub metrics: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            escrow: 4096,
            deposit: 10_000,
            price_per_kib: 1,
            receipt_interval_kib: 1024,
            // 100 blocks/s: a session expires ~10 s after it opens.
            block_interval_ms: 10,
            json_logs: false,
            rust_log: None,
            metrics: false,
        }
    }
}

/// A running ledger and node (and whatever a test adds), killed on drop.
pub struct Stack {
    // Children first: killed before the directory they use is removed.
    pub kids: Children,
    pub procs: Vec<Proc>,
    /// Short commands run to completion: `(name, output)`.
    pub runs: Mutex<Vec<(String, Output)>>,
    pub setup: Setup,
    pub bin: PathBuf,
    pub ledger_url: String,
    /// `https://ADDR` of the node (TLS, pinned from the ledger).
    pub node_url: String,
    /// The node's TLS key hash, as it prints it.
    pub pin: String,
    pub metrics: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Starts `veil ledger serve` and `veil node serve` (TLS) on loopback.
    pub fn start(setup: Setup) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Stack {
            kids: Children::default(),
            procs: Vec::new(),
            runs: Mutex::new(Vec::new()),
            bin: veil_bin(),
            ledger_url: String::new(),
            node_url: String::new(),
            pin: String::new(),
            metrics: setup
                .metrics
                .then(|| SocketAddr::from(([127, 0, 0, 1], free_port()))),
            setup,
            dir,
        };
        let db = s.path("ledger.redb");
        let block = s.setup.block_interval_ms.to_string();
        // A wide challenge window leaves time for the settle_8 proof.
        let mut ledger = s.command();
        ledger
            .args(["ledger", "serve", "--dev-faucet", "--listen", "127.0.0.1:0"])
            .args(["--block-interval", &block, "--challenge-window", "100000"])
            .args(["--db", &db]);
        let p = s.spawn("ledger", ledger);
        let (addr, _) = p.out.wait_for("listening on ", "veil ledger serve");
        s.ledger_url = format!("http://{addr}");

        let (url, pin) = s.start_node("node");
        s.node_url = url;
        s.pin = pin;
        s
    }

    /// Starts one more `veil node serve` (TLS, the setup's terms, its
    /// store in the run's directory under `name`) as child `name`; returns
    /// its `https://ADDR` and TLS key hash. A second node is the exit of
    /// the two-hop tests (tests/two_hop.rs).
    pub fn start_node(&mut self, name: &str) -> (String, String) {
        let s = self;
        let mut node = s.command();
        node.args([
            "node",
            "serve",
            "--ledger",
            &s.ledger_url,
            "--listen",
            "127.0.0.1:0",
        ])
        .args(["--price-per-kib", &s.setup.price_per_kib.to_string()])
        .args(["--escrow-sizes", &s.setup.escrow.to_string()])
        .args([
            "--receipt-interval-kib",
            &s.setup.receipt_interval_kib.to_string(),
        ])
        .args(["--settle-every", "1"])
        // One session: settle it alone at once rather than wait for
        // company (the minimum-batch policy, R-3, has its own tests).
        .args(["--min-batch-sessions", "1"])
        .args(["--egress-allow", "127.0.0.1/32", "--db", &s.path(name)]);
        // Metrics (one port) are the first node's.
        if let Some(m) = s.metrics.filter(|_| name == "node") {
            node.args(["--metrics", &m.to_string()]);
        }
        let p = s.spawn(name, node);
        let (addr, _) = p.out.wait_for("listening on ", "veil node serve");
        let (pin, _) = p.out.wait_for("tls spki sha256 ", "veil node serve");
        assert_eq!(pin.len(), 64, "pin {pin:?}");
        (format!("https://{addr}"), pin)
    }

    /// A path in the run's directory.
    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `veil --dev-keys [--log-format json]`, with the run's `RUST_LOG`.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--dev-keys");
        if self.setup.json_logs {
            c.args(["--log-format", "json"]);
        }
        match &self.setup.rust_log {
            Some(f) => c.env("RUST_LOG", f),
            None => c.env_remove("RUST_LOG"),
        };
        c
    }

    /// Spawns `cmd` as child `name`, its output kept line by line.
    pub fn spawn(&mut self, name: &str, mut cmd: Command) -> &Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn veil ({name}): {e}"));
        let out = Lines::drain(child.stdout.take().expect("stdout"));
        let err = Lines::drain(child.stderr.take().expect("stderr"));
        let index = self.kids.add(child);
        self.procs.push(Proc {
            name: name.to_owned(),
            index,
            out,
            err,
        });
        self.procs.last().expect("just pushed")
    }

    /// Runs a short `veil` command to completion; panics with its output
    /// on failure, else returns its stdout.
    pub fn veil(&self, args: &[&str]) -> String {
        let out = self.command().args(args).output().expect("run veil");
        assert!(
            out.status.success(),
            "veil {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        self.runs
            .lock()
            .expect("runs lock")
            .push((args.first().copied().unwrap_or_default().to_owned(), out));
        stdout
    }

    /// A fresh wallet (no secret on the command line) with the setup's
    /// deposit from the development faucet; returns its path.
    pub fn funded_wallet(&self, name: &str) -> String {
        let wallet = self.path(&format!("{name}.wallet"));
        self.veil(&["wallet", "new", "--wallet", &wallet]);
        let deposit = self.setup.deposit.to_string();
        self.veil(&[
            "wallet",
            "deposit",
            "--wallet",
            &wallet,
            "--ledger",
            &self.ledger_url,
            "--dev-faucet",
            &deposit,
        ]);
        wallet
    }

    /// The wallet's balance after `veil wallet balance` (which syncs).
    pub fn balance(&self, wallet: &str) -> u64 {
        let out = self.veil(&[
            "wallet",
            "balance",
            "--wallet",
            wallet,
            "--ledger",
            &self.ledger_url,
        ]);
        out.lines()
            .find_map(|l| l.strip_prefix("balance "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no balance in {out:?}"))
    }

    /// Waits (at most `secs`, syncing the wallet every half second) until
    /// the balance rises above `before`: the node settled and the wallet
    /// found its refund. Returns the refund.
    pub fn wait_refund(&self, wallet: &str, before: u64, secs: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let b = self.balance(wallet);
            if b > before {
                return b - before;
            }
            assert!(Instant::now() < deadline, "no refund within {secs} s");
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `veil connect` for `wallet` with the setup's escrow, SOCKS5 on
    /// `socks`, pinning the node from its ledger registration (add
    /// `--node-pin` to pin explicitly).
    pub fn connect_command(&self, wallet: &str, socks: &str) -> Command {
        let mut c = self.command();
        c.args(["connect", "--wallet", wallet, "--ledger", &self.ledger_url])
            .args(["--node", &self.node_url, "--socks", socks])
            .args(["--escrow", &self.setup.escrow.to_string()]);
        c
    }

    /// Starts `veil connect` and waits until it serves SOCKS5 (its session
    /// is open then); returns the process and the lines printed before.
    pub fn connect(&mut self, wallet: &str, socks: &str) -> (usize, Vec<String>) {
        let cmd = self.connect_command(wallet, socks);
        let p = self.spawn("connect", cmd);
        let index = p.index;
        let (_, before) = p.err.wait_for("SOCKS5 on ", "veil connect");
        (index, before)
    }

    /// SIGINT to `veil connect` (it signs a last receipt for every byte it
    /// counted, saves its receipts and exits); panics unless it exits 0.
    pub fn stop_connect(&mut self, index: usize) {
        let status = self.kids.signal_and_wait(index, libc::SIGINT, 30);
        assert!(status.success(), "veil connect exited with {status}");
    }

    /// `veil node status --json` from the node's metrics: the values by
    /// name without the `veil_node_` prefix (`relayed_bytes_total`, …).
    pub fn node_status(&self) -> serde_json::Value {
        let m = self.metrics.expect("started with metrics").to_string();
        let out = self.veil(&["node", "status", "--metrics", &m, "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status JSON ({e}): {out}"))
    }

    /// One node-wide value of [`Stack::node_status`] (0 if absent).
    pub fn node_value(status: &serde_json::Value, name: &str) -> u64 {
        status["values"][name].as_f64().unwrap_or(0.0) as u64
    }

    /// Polls the node's metrics until `done` holds (at most `secs`).
    pub fn wait_node(
        &self,
        what: &str,
        secs: u64,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.node_status();
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "{what} within {secs} s; node status {s}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Every line every process printed, as `(process, line)`: the
    /// children's stdout and stderr, and the short commands' output.
    pub fn all_lines(&self) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        for p in &self.procs {
            for l in p.out.all().into_iter().chain(p.err.all()) {
                lines.push((p.name.clone(), l));
            }
        }
        for (name, out) in self.runs.lock().expect("runs lock").iter() {
            for b in [&out.stdout, &out.stderr] {
                for l in String::from_utf8_lossy(b).lines() {
                    lines.push((format!("veil {name}"), l.to_owned()));
                }
            }
        }
        lines
    }

    /// The stderr lines of every process and command (where logs go), as
    /// `(process, line)`.
    pub fn stderr_lines(&self) -> Vec<(String, String)> {
        let mut lines: Vec<(String, String)> = self
            .procs
            .iter()
            .flat_map(|p| p.err.all().into_iter().map(|l| (p.name.clone(), l)))
            .collect();
        for (name, out) in self.runs.lock().expect("runs lock").iter() {
            for l in String::from_utf8_lossy(&out.stderr).lines() {
                lines.push((format!("veil {name}"), l.to_owned()));
            }
        }
        lines
    }
}
