//! `veil monitor run --watch` on the EVM ledger (docs/market.md §5.1,
//! §7.1): the monitor daemon, every party its own process — anvil, `veil
//! ledger deploy`, `veil node serve` (the operator key is anvil's second
//! development key), `veil monitor target`, and a monitor wallet acting as
//! the deployer's key (the test token's minter, so `--dev-faucet` works),
//! registered with `veil monitor register`. The daemon polls every second;
//! the test only mines blocks, and the daemon on its own commits to a
//! seed secret for the next epoch, reveals it in that epoch's window,
//! draws the seed once the window closed, audits the node it is assigned
//! through an ordinary paid session, reports and challenges the node on
//! the ledger, which the node process answers with an `answer` proof.
//! SIGTERM stops it cleanly.
//!
//! Needs anvil (`tools/anvil`); skipped loudly without it unless
//! `VEIL_REQUIRE_ANVIL=1`. Needs the `veil` binary (target/debug/veil, or
//! VEIL_BIN). Proving keys: `$VEIL_PARAMS_CACHE`.

#[path = "support/procs.rs"]
mod procs;
use procs::{Children, free_port, key_file, read_until};

#[path = "support/bin.rs"]
mod bin;
use bin::veil_bin;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::Address;
use veil_evm::audits::{self, ChallengeStatus, ChallengeView, SeedCommit};
use veil_evm::ledger::decode_u64;
use veil_evm_rpc::RpcChain;
use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
use veil_evm_rpc::key;

/// anvil's second development account: the node operator's key.
const SECOND_DEV_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ESCROW: u64 = 4096;

/// The chain as the test reads it, and anvil's `anvil_mine`.
struct Chain {
    chain: RpcChain,
    audits: Address,
    rt: tokio::runtime::Runtime,
    /// The daemon's stderr, shown when a wait fails.
    log: PathBuf,
}

impl Chain {
    fn u64(&self, data: Vec<u8>) -> u64 {
        let out = self
            .rt
            .block_on(self.chain.call(self.audits, &data))
            .expect("view");
        decode_u64(&out).expect("u64")
    }

    fn commit(&self, epoch: u64, who: Address) -> SeedCommit {
        let out = self
            .rt
            .block_on(
                self.chain
                    .call(self.audits, &audits::seed_commit(epoch, who)),
            )
            .expect("seedCommits");
        SeedCommit::decode(&out).expect("commit")
    }

    /// Mines until the next transaction lands at `height` or later.
    fn challenge(&self, epoch: u64, node: [u8; 32], monitor: Address) -> ChallengeStatus {
        let out = self
            .rt
            .block_on(
                self.chain
                    .call(self.audits, &audits::challenge_of(epoch, node, monitor)),
            )
            .expect("challenges");
        ChallengeView::decode(&out).expect("challenge").status
    }

    fn mine_to(&self, height: u64) {
        let latest = self.rt.block_on(self.chain.block_number()).expect("height");
        let blocks = height.saturating_sub(latest + 1);
        if blocks > 0 {
            self.rt.block_on(self.chain.mine(blocks)).expect("mine");
        }
    }

    /// Waits (at most `secs`) until `done`.
    fn wait_for(&self, what: &str, secs: u64, done: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(secs);
        while !done() {
            assert!(
                Instant::now() < until,
                "{what}: not within {secs} s; the daemon said: {}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn the_monitor_daemon_takes_its_seed_turns_and_audits_on_the_evm_ledger() {
    let Some(anvil) = Anvil::for_test("veil monitor run --watch on anvil") else {
        return;
    };
    let bin = veil_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let minter = key_file(dir.path(), "deployer.key", FIRST_DEV_KEY);
    let operator = key_file(dir.path(), "operator.key", SECOND_DEV_KEY);
    let path = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
    let veil = |key: &Path| {
        let mut c = Command::new(&bin);
        c.arg("--dev-keys")
            .env("VEIL_EVM_KEY_FILE", key)
            .stdin(Stdio::null());
        c
    };
    let run = |key: &Path, args: &[&str]| {
        let out = veil(key).args(args).output().expect("run veil");
        assert!(
            out.status.success(),
            "veil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deployed: serde_json::Value = serde_json::from_str(&run(
        &minter,
        &[
            "ledger",
            "deploy",
            "--rpc",
            &anvil.url,
            "--key-file",
            &path("deployer.key"),
        ],
    ))
    .expect("deploy JSON");
    let spec = deployed["ledger_spec"].as_str().expect("spec").to_owned();
    let signer =
        key::Signer::from_slice(&alloy::hex::decode(FIRST_DEV_KEY).expect("hex")).expect("key");
    let me = signer.address();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let c = Chain {
        chain: rt
            .block_on(RpcChain::connect(&anvil.url, signer))
            .expect("connect"),
        audits: deployed["audits"]
            .as_str()
            .expect("audits")
            .parse()
            .expect("address"),
        rt,
        log: dir.path().join("daemon.log"),
    };
    let mut kids = Children::default();

    // The node (unstaked: an audit measures it all the same) and the target.
    let mut node = veil(&operator)
        .args(["node", "serve", "--ledger", &spec])
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args([
            "--price-per-kib",
            "1",
            "--escrow-sizes",
            &ESCROW.to_string(),
        ])
        .args(["--egress-allow", "127.0.0.1/32", "--db", &path("node")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn veil node serve");
    let mut node_out = BufReader::new(node.stdout.take().expect("stdout"));
    kids.add(node);
    let (node_id, _) = read_until(&mut node_out, "node id ", "veil node serve");
    std::thread::spawn(move || for _ in node_out.lines() {});
    let target = format!("127.0.0.1:{}", free_port());
    let mut t = veil(&minter)
        .args(["monitor", "target", "--listen", &target])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil monitor target");
    let mut t_err = BufReader::new(t.stderr.take().expect("stderr"));
    kids.add(t);
    read_until(&mut t_err, "measurement target on ", "veil monitor target");

    // The monitor: a wallet with a note for one audit, a stake of 500.
    let wallet = path("monitor.wallet");
    run(&minter, &["wallet", "new", "--wallet", &wallet]);
    run(
        &minter,
        &[
            "wallet",
            "deposit",
            "--wallet",
            &wallet,
            "--ledger",
            &spec,
            "--dev-faucet",
            "10000",
        ],
    );
    run(
        &minter,
        &[
            "monitor",
            "register",
            "--ledger",
            &spec,
            "--wallet",
            &wallet,
            "--dev-faucet",
            "500",
        ],
    );
    let e = c.u64(audits::current_epoch());
    let mut daemon = veil(&minter)
        .args(["monitor", "run", "--watch", "--poll-secs", "1", "--json"])
        .args(["--ledger", &spec, "--wallet", &wallet, "--target", &target])
        .args(["--escrow", &ESCROW.to_string(), "--bytes", "65536"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(path("daemon.log")).expect("log"),
        ))
        .spawn()
        .expect("spawn veil monitor run --watch");
    let mut reports = BufReader::new(daemon.stdout.take().expect("stdout"));
    let di = kids.add(daemon);

    // In epoch e the daemon commits for e + 1; in e + 1's window it
    // reveals; after the window it draws the seed and audits.
    c.wait_for("a commitment for the next epoch", 60, || {
        matches!(c.commit(e + 1, me), SeedCommit::Committed(_))
    });
    let start = c.u64(audits::epoch_start(e + 1));
    let window = c.u64(audits::reveal_blocks());
    c.mine_to(start);
    c.wait_for("the reveal", 30, || {
        c.commit(e + 1, me) == SeedCommit::Revealed
    });
    c.mine_to(start + window);
    let mut line = String::new();
    let log = path("daemon.log");
    let reader = std::thread::spawn(move || {
        reports.read_line(&mut line).expect("a report line");
        line
    });
    c.wait_for("a report", 120, || reader.is_finished());
    let line = reader.join().expect("reader");
    assert!(
        !line.is_empty(),
        "the daemon ended: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let r: serde_json::Value = serde_json::from_str(&line).expect("a JSON report");
    assert_eq!(r["node"].as_str(), Some(node_id.as_str()), "{r}");
    assert_eq!(r["epoch"].as_u64(), Some(e + 1), "{r}");
    assert!(r["throughput_kbps"].as_u64() > Some(0), "{r}");
    // It challenged the node on the ledger; the node process answers
    // with an `answer` proof (docs/evm.md §8.6).
    assert!(r["ledger_challenge_deadline"].as_u64().is_some(), "{r}");
    let node_word: [u8; 32] = hex::decode(node_id.trim_start_matches("0x"))
        .expect("hex node id")
        .try_into()
        .expect("32 bytes");
    c.wait_for("the node's answer on chain", 60, || {
        matches!(
            c.challenge(e + 1, node_word, me),
            ChallengeStatus::Answered { .. }
        )
    });
    let mix =
        c.rt.block_on(c.chain.call(c.audits, &audits::seed_mix(e + 1)))
            .expect("seedMix");
    assert!(
        mix.iter().any(|b| *b != 0),
        "the seed mixed the daemon's secret"
    );
    let status = kids.signal_and_wait(di, libc::SIGTERM, 30);
    assert!(status.success(), "the daemon stops cleanly: {status}");
}
