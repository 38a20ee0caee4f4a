//! A node on the EVM ledger killed with SIGKILL while its settlement is in
//! flight settles exactly once after a restart (`docs/protocol.md` §9.6,
//! `docs/evm.md` §8).
//!
//! Every party its own process, as in `e2e_connect.rs`: anvil, `veil ledger
//! deploy`, `veil node serve --ledger evm:…` (the operator key is anvil's
//! second, pre-funded, development key), `veil wallet new` + `deposit
//! --dev-faucet` (the deployer's key, the test token's minter), `veil
//! connect` and a page fetched through its SOCKS5 port so the node holds a
//! receipt. Then anvil's automine is turned off, the session is expired
//! (`anvil_mine`), and the node's settlement worker proves the batch and
//! broadcasts its `settle` transaction, which waits in the mempool; the
//! node is SIGKILLed there (its database still says the session is open).
//!
//! - `the_settlement_mined_while_the_node_is_down_is_not_repeated`: the
//!   transaction is mined after the kill. The restarted node must find the
//!   session settled (no second transaction) and mark it so.
//! - `the_settlement_dropped_while_the_node_is_down_is_sent_again`: the
//!   transaction is dropped from the mempool. The restarted node must
//!   prove and settle the session again, once.
//! - `the_settlement_still_pending_when_the_node_is_back_is_applied_once`:
//!   the node is restarted while the transaction still waits in the
//!   mempool, and it is mined later. The restarted node sends nothing while
//!   its account has a transaction pending (`RpcChain::wait_until_idle`),
//!   then finds the session settled: one transaction in all.
//!
//! Both end with: exactly one `Settled` event for the session on the chain,
//! the operator's token balance up by its total exactly once, the restarted
//! node still serving and stopping cleanly with the session stored as
//! settled, and the wallet finding its refund `escrow − total`.
//!
//! Needs anvil (`tools/anvil`); skipped loudly without it unless
//! `VEIL_REQUIRE_ANVIL=1`. Needs the `veil` binary (target/debug/veil, or
//! VEIL_BIN). Proving keys: `$VEIL_PARAMS_CACHE`.

#[path = "support/http.rs"]
mod http;
#[path = "support/procs.rs"]
mod procs;
use procs::{Children, expected_body, free_port, key_file, read_until};

#[path = "support/bin.rs"]
mod bin;
use bin::veil_bin;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use veil_evm::ledger::LedgerEvent;
use veil_evm::token;
use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
use veil_evm_rpc::{EvmLedgerSpec, RpcChain, key};
use veil_node::store::{NodeStore, SessionStatus};

const ESCROW: u64 = 4096;
const DEPOSIT: u64 = 10_000;

/// anvil's second development account (its default mnemonic, public
/// knowledge, pre-funded with 10,000 ETH): the node operator's key.
const SECOND_DEV_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// The two tests each run a node, a client and provers: one at a time on
/// a small machine.
static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn anvil(what: &str) -> Option<Anvil> {
    Anvil::for_test(what)
}

/// The test's view of the world: paths, the binary, the chain.
struct World {
    bin: PathBuf,
    dir: tempfile::TempDir,
    /// The wallet's EVM key (the deployer: the test token's minter).
    wallet_key: PathBuf,
    /// The node operator's EVM key.
    node_key: PathBuf,
    /// The node's listen port, the same at every start: its profile
    /// publishes the bound address (§8.3.9), so a restart on another port
    /// would send an `updateNode` (one more operator transaction).
    node_port: u16,
    spec: String,
    ledger: Address,
    token: Address,
    operator: Address,
    /// Reads and anvil's own methods; never sends (the wallet's `veil`
    /// processes send from the same key).
    chain: RpcChain,
    rt: tokio::runtime::Runtime,
}

impl World {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `veil --dev-keys ARGS` acting as the wallet's EVM key.
    fn wallet_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--dev-keys")
            .args(args)
            .env("VEIL_EVM_KEY_FILE", &self.wallet_key)
            .stdin(Stdio::null());
        c
    }

    /// Runs a short wallet command to completion; panics with its output on failure.
    fn run(&self, args: &[&str]) -> String {
        let out = self.wallet_cmd(args).output().expect("run veil");
        assert!(
            out.status.success(),
            "veil {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn balance(&self, wallet: &str) -> u64 {
        let out = self.run(&[
            "wallet", "balance", "--wallet", wallet, "--ledger", &self.spec,
        ]);
        out.lines()
            .find_map(|l| l.strip_prefix("balance "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no balance in {out:?}"))
    }

    /// `veil node serve` on the evm: ledger with the node directory `node`;
    /// stderr appended to `node.log`. Returns the child and its stdout.
    fn spawn_node(&self) -> (Child, BufReader<ChildStdout>) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.path("node.log"))
            .expect("node log");
        let mut node = Command::new(&self.bin)
            .arg("--dev-keys")
            .args(["node", "serve", "--ledger", &self.spec])
            .args(["--listen", &format!("127.0.0.1:{}", self.node_port)])
            .args([
                "--price-per-kib",
                "1",
                "--escrow-sizes",
                &ESCROW.to_string(),
            ])
            .args(["--receipt-interval-kib", "1024", "--settle-every", "1"])
            // One session: settle it alone at once (R-3 has its own tests).
            .args(["--min-batch-sessions", "1"])
            .args(["--egress-allow", "127.0.0.1/32", "--db", &self.path("node")])
            .env("VEIL_EVM_KEY_FILE", &self.node_key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn veil node serve");
        let out = BufReader::new(node.stdout.take().expect("stdout"));
        (node, out)
    }

    fn node_log(&self) -> String {
        std::fs::read_to_string(self.path("node.log")).unwrap_or_default()
    }

    /// An anvil method (`evm_mine`, `evm_setAutomine`, …).
    fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        let p = self.chain.provider();
        self.rt
            .block_on(p.raw_request(method.into(), params))
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn height(&self) -> u64 {
        self.rt.block_on(self.chain.block_number()).expect("height")
    }

    /// The operator's mined and pending transaction counts.
    fn operator_nonces(&self) -> (u64, u64) {
        let p = self.chain.provider();
        self.rt.block_on(async {
            let latest = p
                .get_transaction_count(self.operator)
                .latest()
                .await
                .expect("nonce");
            let pending = p
                .get_transaction_count(self.operator)
                .pending()
                .await
                .expect("pending nonce");
            (latest, pending)
        })
    }

    fn operator_tokens(&self) -> U256 {
        let out = self
            .rt
            .block_on(
                self.chain
                    .call(self.token, &token::balance_of(self.operator)),
            )
            .expect("balanceOf");
        token::decode_u256(&out).expect("u256")
    }

    /// Every `Settled` event of the ledger: (session ids, total).
    fn settled(&self) -> Vec<(Vec<veil_evm::abi::Word>, u64)> {
        let to = self.height();
        let logs = self
            .rt
            .block_on(self.chain.logs(self.ledger, 0, to))
            .expect("logs");
        logs.iter()
            .filter_map(|(_, e)| match LedgerEvent::decode(e).expect("event") {
                LedgerEvent::Settled {
                    session_ids, total, ..
                } => Some((session_ids, total)),
                _ => None,
            })
            .collect()
    }

    /// The statuses of the sessions in the node's database (the node must
    /// not be running: redb locks its file).
    fn stored_sessions(&self) -> Vec<SessionStatus> {
        let db = self.dir.path().join("node").join(veil_node::NODE_DB_FILE);
        let store = NodeStore::open(&db).expect("open node.redb");
        store
            .sessions()
            .expect("sessions")
            .into_iter()
            .map(|(r, _)| r.status)
            .collect()
    }
}

/// What becomes of the in-flight `settle` transaction while the node is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Mined after the kill: the restarted node must not settle again.
    Mined,
    /// Dropped from the mempool: the restarted node must settle anew.
    Dropped,
    /// Still in the mempool when the node is back (a quick restart on a
    /// slow chain), mined a while later: still one settlement.
    Pending,
}

fn crash_during_settlement(fate: Fate) {
    let what = format!("evm_node_crash ({fate:?})");
    let Some(anvil) = anvil(&what) else {
        return;
    };
    let t0 = Instant::now();
    let bin = veil_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let wallet_key = key_file(dir.path(), "deployer.key", FIRST_DEV_KEY);
    let node_key = key_file(dir.path(), "operator.key", SECOND_DEV_KEY);
    let operator = key::Signer::from_slice(&alloy::hex::decode(SECOND_DEV_KEY).expect("hex"))
        .expect("key")
        .address();

    // Deploy (a wide challenge window: the settlement is never late here).
    let out = Command::new(&bin)
        .args(["ledger", "deploy", "--rpc", &anvil.url, "--key-file"])
        .arg(&wallet_key)
        .args(["--challenge-window", "1000"])
        .output()
        .expect("run veil ledger deploy");
    assert!(
        out.status.success(),
        "deploy: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("deploy JSON");
    let spec = json["ledger_spec"]
        .as_str()
        .expect("ledger_spec")
        .to_owned();
    let token: Address = json["token"]
        .as_str()
        .expect("token")
        .parse()
        .expect("token");
    let ledger = EvmLedgerSpec::parse(&spec).expect("spec").ledger;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let reader =
        key::Signer::from_slice(&alloy::hex::decode(FIRST_DEV_KEY).expect("hex")).expect("key");
    let chain = rt
        .block_on(RpcChain::connect(&anvil.url, reader))
        .expect("connect");
    let w = World {
        bin,
        dir,
        wallet_key,
        node_key,
        node_port: free_port(),
        spec,
        ledger,
        token,
        operator,
        chain,
        rt,
    };
    let mut kids = Children::default();

    // Node: registers (stake 0) from the operator key.
    let (node, mut out) = w.spawn_node();
    let ni = kids.add(node);
    let (node_addr, _) = read_until(&mut out, "listening on ", "veil node serve");
    let (node_id, _) = read_until(&mut out, "node id ", "veil node serve");
    let (pin, _) = read_until(&mut out, "tls spki sha256 ", "veil node serve");
    assert_eq!(pin.len(), 64, "pin {pin:?}");
    assert!(
        w.node_log().contains(&format!("operator {operator}")),
        "the node acts as the operator key: {}",
        w.node_log()
    );
    let node_url = format!("https://{node_addr}");

    // Wallet: fresh key, faucet + deposit (the deployer's EVM key sends).
    let wallet = w.path("alice.wallet");
    w.run(&["wallet", "new", "--wallet", &wallet]);
    w.run(&[
        "wallet",
        "deposit",
        "--wallet",
        &wallet,
        "--ledger",
        &w.spec,
        "--dev-faucet",
        &DEPOSIT.to_string(),
    ]);
    assert_eq!(w.balance(&wallet), DEPOSIT);

    // `veil connect`, pin from the ledger registration; fetch a page so the
    // node holds a receipt; SIGINT saves the receipts.
    let socks = format!("127.0.0.1:{}", free_port());
    let mut connect = w
        .wallet_cmd(&["connect", "--wallet", &wallet, "--ledger", &w.spec])
        .args(["--node", &node_url, "--socks", &socks])
        .args(["--escrow", &ESCROW.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn veil connect");
    let mut err = BufReader::new(connect.stderr.take().expect("stderr"));
    let ci = kids.add(connect);
    read_until(&mut err, "SOCKS5 on ", "veil connect");
    std::thread::spawn(move || for _ in err.lines() {});
    let socks_addr: std::net::SocketAddr = socks.parse().expect("socks addr");
    let dest = w.rt.block_on(http::http_server());
    let n = 200_000;
    let body = w.rt.block_on(http::fetch(socks_addr, dest, n));
    assert!(
        body == expected_body(n),
        "bytes through the SOCKS5 port differ"
    );
    // A hang guard, not a measurement: `veil connect` finishes a session
    // open already in flight (proof, chain, node) before it stops, which on
    // a loaded 2-core CI machine once took longer than 30 s.
    let status = kids.signal_and_wait(ci, libc::SIGINT, 120);
    assert!(status.success(), "veil connect exited with {status}");
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&wallet).expect("wallet file")).expect("wallet json");
    let session = &saved["sessions"][0];
    let receipts: Vec<u64> = session["receipts_kib"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_u64).collect())
        .unwrap_or_default();
    assert!(!receipts.is_empty(), "no receipt saved: {session}");
    let expiry = session["expiry"].as_u64().expect("session expiry");
    assert_eq!(
        w.balance(&wallet),
        DEPOSIT - ESCROW,
        "the escrow left the wallet"
    );
    assert!(w.settled().is_empty(), "settled before expiry");
    let tokens_before = w.operator_tokens();
    let t_open = Instant::now();

    // Automine off, then the session expires: the node's worker proves the
    // batch and broadcasts `settle`, which stays in the mempool.
    w.rpc("evm_setAutomine", serde_json::json!([false]));
    let (mined_before, _) = w.operator_nonces();
    let blocks = expiry.saturating_sub(w.height()) + 1;
    w.rpc("anvil_mine", serde_json::json!([blocks]));
    assert!(w.height() > expiry);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (latest, pending) = w.operator_nonces();
        assert_eq!(latest, mined_before, "mined with automine off");
        if pending > latest {
            break;
        }
        assert!(kids.alive(ni), "the node died: {}", w.node_log());
        assert!(
            Instant::now() < deadline,
            "no settle transaction 300 s after expiry: {}",
            w.node_log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let t_sent = t_open.elapsed();

    // SIGKILL with the transaction in flight: the node never saw a receipt.
    let status = kids.signal_and_wait(ni, libc::SIGKILL, 10);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert_eq!(
        w.stored_sessions(),
        vec![SessionStatus::Open],
        "the killed node had not recorded the settlement"
    );
    match fate {
        Fate::Mined => {
            w.rpc("evm_mine", serde_json::json!([]));
            assert_eq!(
                w.operator_nonces().0,
                mined_before + 1,
                "the settle was mined"
            );
            assert_eq!(w.settled().len(), 1, "the in-flight settle applied");
        }
        Fate::Dropped => {
            w.rpc("anvil_dropAllTransactions", serde_json::json!([]));
            w.rpc("evm_mine", serde_json::json!([]));
            assert_eq!(w.operator_nonces(), (mined_before, mined_before), "dropped");
            assert!(w.settled().is_empty(), "the dropped settle did not apply");
        }
        // Mined after the restart, below.
        Fate::Pending => {}
    }
    if fate != Fate::Pending {
        w.rpc("evm_setAutomine", serde_json::json!([true]));
    }

    // Restart on the same directory and ledger.
    let (node, mut out) = w.spawn_node();
    let ni = kids.add(node);
    let (_, _) = read_until(&mut out, "listening on ", "veil node serve (restart)");
    let (again, _) = read_until(&mut out, "node id ", "veil node serve (restart)");
    assert_eq!(again, node_id, "the same node");
    std::thread::spawn(move || for _ in out.lines() {});
    let t_restart = Instant::now();
    match fate {
        Fate::Pending => {
            // The node is back with its old transaction still pending: give
            // its worker time to act (it must wait, sending nothing), then
            // mine everything.
            std::thread::sleep(Duration::from_secs(10));
            assert!(kids.alive(ni), "the restarted node died: {}", w.node_log());
            let (latest, pending) = w.operator_nonces();
            assert_eq!(
                pending,
                latest + 1,
                "the restarted node sent a transaction while its first settle was pending"
            );
            w.rpc("evm_mine", serde_json::json!([]));
            w.rpc("evm_setAutomine", serde_json::json!([true]));
            std::thread::sleep(Duration::from_secs(8));
        }
        Fate::Mined => {
            // Nothing to send: give the worker (every 1 s) time to look.
            std::thread::sleep(Duration::from_secs(8));
        }
        Fate::Dropped => {
            let deadline = Instant::now() + Duration::from_secs(300);
            while w.settled().is_empty() {
                assert!(kids.alive(ni), "the restarted node died: {}", w.node_log());
                assert!(
                    Instant::now() < deadline,
                    "the restarted node did not settle within 300 s: {}",
                    w.node_log()
                );
                std::thread::sleep(Duration::from_millis(250));
            }
            // Let it record the receipt.
            std::thread::sleep(Duration::from_secs(3));
        }
    }
    assert!(kids.alive(ni), "the restarted node died: {}", w.node_log());
    // A hang guard, not a measurement (as for `veil connect` above): one
    // CI run saw the restarted node take longer than 60 s to stop.
    let status = kids.signal_and_wait_or(ni, libc::SIGINT, 120, || w.node_log());
    assert!(
        status.success(),
        "the restarted node exited with {status}: {}",
        w.node_log()
    );

    // Exactly once, on chain and in the node's own record.
    let settled = w.settled();
    assert_eq!(settled.len(), 1, "one Settled event: {settled:?}");
    let (sessions, total) = &settled[0];
    assert_eq!(sessions.len(), 1, "the one session");
    let mined_after = w.operator_nonces().0;
    assert_eq!(
        mined_after,
        mined_before + 1,
        "the operator sent one settle transaction in all ({fate:?})"
    );
    assert_eq!(
        w.operator_tokens() - tokens_before,
        U256::from(*total),
        "the operator was paid the total once"
    );
    assert_eq!(
        w.stored_sessions(),
        vec![SessionStatus::Settled],
        "the restarted node recorded the session as settled"
    );

    // The wallet finds its refund: escrow − total, for a receipt it signed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let refund = loop {
        let b = w.balance(&wallet);
        if b > DEPOSIT - ESCROW {
            break b - (DEPOSIT - ESCROW);
        }
        assert!(
            Instant::now() < deadline,
            "no refund 120 s after settlement"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(refund + total, ESCROW, "refund and pay make the escrow");
    assert!(
        receipts.iter().any(|kib| refund == ESCROW - kib),
        "refund {refund} matches none of the signed receipts {receipts:?}"
    );
    // Nothing settled twice meanwhile.
    assert_eq!(w.settled().len(), 1);
    eprintln!(
        "evm_node_crash ({fate:?}): {} ms; settle in the mempool {} ms after expiry; \
         restart to end {} ms; paid {total}, refund {refund}",
        t0.elapsed().as_millis(),
        t_sent.as_millis(),
        t_restart.elapsed().as_millis(),
    );
    drop(anvil);
}

#[test]
fn the_settlement_mined_while_the_node_is_down_is_not_repeated() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    crash_during_settlement(Fate::Mined);
}

#[test]
fn the_settlement_dropped_while_the_node_is_down_is_sent_again() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    crash_during_settlement(Fate::Dropped);
}

#[test]
fn the_settlement_still_pending_when_the_node_is_back_is_applied_once() {
    let _g = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    crash_during_settlement(Fate::Pending);
}
