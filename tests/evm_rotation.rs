//! A node's updates on the EVM ledger (`docs/protocol.md` §8.3.8,
//! `docs/evm.md` §8.1), every party its own process: `veil node serve
//! --ledger evm:…` registers from the operator's key; stopped, its TLS key
//! is rotated with `veil node rotate-tls` (the contract's `updateNode`,
//! sequence 1); the same command from another key is refused and changes
//! nothing; restarted with a new price, the node serves the rotated key
//! and updates its price (sequence 2). The chain's `NodeUpdated` events
//! are read back.
//!
//! Needs anvil (`tools/anvil`); skipped loudly without it unless
//! `VEIL_REQUIRE_ANVIL=1`. Needs the `veil` binary (target/debug/veil, or
//! VEIL_BIN).

#[path = "support/procs.rs"]
mod procs;
use procs::{Children, key_file, read_until};

#[path = "support/bin.rs"]
mod bin;
use bin::veil_bin;

use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

use veil_evm::ledger::LedgerEvent;
use veil_evm_rpc::anvil::{Anvil, FIRST_DEV_KEY};
use veil_evm_rpc::{EvmLedgerSpec, RpcChain, key};

/// anvil's second development account (public, pre-funded): the operator.
const SECOND_DEV_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// `veil node serve` at `price` on `spec` from `key`, node directory `db`.
fn spawn_node(spec: &str, db: &Path, key: &Path, price: u64) -> (Child, BufReader<ChildStdout>) {
    let log = File::options()
        .create(true)
        .append(true)
        .open(db.with_extension("log"))
        .expect("node log");
    let mut node = Command::new(veil_bin())
        .arg("--dev-keys")
        .args(["node", "serve", "--ledger", spec, "--listen", "127.0.0.1:0"])
        .args([
            "--price-per-kib",
            &price.to_string(),
            "--escrow-sizes",
            "4096",
        ])
        .arg("--db")
        .arg(db)
        .env("VEIL_EVM_KEY_FILE", key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn veil node serve");
    let out = BufReader::new(node.stdout.take().expect("stdout"));
    (node, out)
}

/// `veil node rotate-tls` for the node in `db`, sent from `key`.
fn rotate(spec: &str, db: &Path, key: &Path) -> Output {
    rotate_with("rotate-tls", spec, db, key)
}

/// `veil node <which>` (a rotation) for the node in `db`, sent from `key`.
fn rotate_with(which: &str, spec: &str, db: &Path, key: &Path) -> Output {
    Command::new(veil_bin())
        .args(["node", which, "--ledger", spec, "--db"])
        .arg(db)
        .env("VEIL_EVM_KEY_FILE", key)
        .stdin(Stdio::null())
        .output()
        .expect("run veil node rotate-tls")
}

/// Every `NodeUpdated` of the ledger: (sequence, price, TLS key hash).
fn updates(rt: &tokio::runtime::Runtime, chain: &RpcChain, spec: &str) -> Vec<(u64, u64, String)> {
    let ledger = EvmLedgerSpec::parse(spec).expect("spec").ledger;
    let to = rt.block_on(chain.block_number()).expect("height");
    let logs = rt.block_on(chain.logs(ledger, 0, to)).expect("logs");
    logs.iter()
        .filter_map(|(_, e)| match LedgerEvent::decode(e).expect("event") {
            LedgerEvent::NodeUpdated {
                sequence,
                price_per_kib,
                tls_key_hash,
                ..
            } => Some((sequence, price_per_kib, hex::encode(tls_key_hash))),
            _ => None,
        })
        .collect()
}

#[test]
fn a_node_on_the_ledger_contract_rotates_its_tls_key_and_updates_its_price() {
    let Some(anvil) = Anvil::for_test("evm_rotation") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let deployer = key_file(dir.path(), "deployer.key", FIRST_DEV_KEY);
    let operator = key_file(dir.path(), "operator.key", SECOND_DEV_KEY);
    let out = Command::new(veil_bin())
        .args(["ledger", "deploy", "--rpc", &anvil.url, "--key-file"])
        .arg(&deployer)
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let reader =
        key::Signer::from_slice(&alloy::hex::decode(FIRST_DEV_KEY).expect("hex")).expect("key");
    let chain = rt
        .block_on(RpcChain::connect(&anvil.url, reader))
        .expect("connect");
    let db = dir.path().join("node");
    let mut kids = Children::default();

    // Registered at price 1 with its first TLS key; stopped.
    let (node, mut out) = spawn_node(&spec, &db, &operator, 1);
    let ni = kids.add(node);
    let (first_pin, _) = read_until(&mut out, "tls spki sha256 ", "veil node serve");
    assert!(kids.signal_and_wait(ni, libc::SIGINT, 60).success());
    assert_eq!(updates(&rt, &chain, &spec), vec![]);

    // Someone else's key: refused, nothing on chain.
    let refused = rotate(&spec, &db, &deployer);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("operator"), "{stderr}");
    assert_eq!(updates(&rt, &chain, &spec), vec![]);

    // The operator: the contract's updateNode, sequence 1.
    let rotated = rotate(&spec, &db, &operator);
    let stdout = String::from_utf8_lossy(&rotated.stdout).into_owned();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(stdout.contains("update sequence 1"), "{stdout}");
    let new_pin = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tls spki sha256 "))
        .expect("the new key's hash")
        .to_owned();
    assert_ne!(new_pin, first_pin);
    assert_eq!(updates(&rt, &chain, &spec), vec![(1, 1, new_pin.clone())]);

    // Restarted at price 2: serves the rotated key, updates its price.
    let (node, mut out) = spawn_node(&spec, &db, &operator, 2);
    let ni = kids.add(node);
    let (served, _) = read_until(&mut out, "tls spki sha256 ", "veil node serve");
    assert_eq!(served, new_pin);
    assert_eq!(
        updates(&rt, &chain, &spec),
        vec![(1, 1, new_pin.clone()), (2, 2, new_pin.clone())]
    );
    assert!(kids.signal_and_wait(ni, libc::SIGINT, 60).success());

    // The voucher key rotates the same way: refused from another key,
    // sequence 3 from the operator's, with the price and pin kept.
    let refused = rotate_with("rotate-voucher-key", &spec, &db, &deployer);
    assert!(!refused.status.success());
    assert_eq!(updates(&rt, &chain, &spec).len(), 2);
    let rotated = rotate_with("rotate-voucher-key", &spec, &db, &operator);
    let stdout = String::from_utf8_lossy(&rotated.stdout).into_owned();
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    assert!(stdout.contains("update sequence 3"), "{stdout}");
    assert!(stdout.contains("voucher epoch 1 "), "{stdout}");
    assert_eq!(updates(&rt, &chain, &spec).last(), Some(&(3, 2, new_pin)));
}
