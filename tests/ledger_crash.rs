//! Crash safety of the ledger process (adversarial D2, D3; docs/reliability.md).
//!
//! Runs `veil ledger serve` as a separate process with the TEST-ONLY fake
//! verifier, drives concurrent deposits, opens, settles and reclaims over
//! gRPC, SIGKILLs it at a random moment, restarts it, and checks that the
//! audit passes (turnstile, tree, nullifier ⇔ escrow) and that every
//! acknowledged operation is present. `CYCLES` runs in CI; the ignored
//! variant runs 1,000.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{LedgerApi, LedgerError, RemoteLedger};
use veil_primitives::Fr;

const CYCLES: u32 = 50;

#[path = "support/bin.rs"]
mod bin;
use bin::veil_bin;

fn spawn(bin: &Path, db: &Path) -> (Child, String) {
    let mut child = Command::new(bin)
        .arg("--dev-keys")
        .args([
            "ledger",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--block-interval",
            "2",
            "--challenge-window",
            "3",
        ])
        .arg("--db")
        .arg(db)
        .arg("--insecure-fake-verifier")
        .arg("--dev-faucet")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn veil ledger serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read address");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected output {line:?}"));
    (child, format!("http://{addr}"))
}

/// Operations the server acknowledged, to be found after the restart.
#[derive(Default)]
struct Acked {
    deposits: Vec<DepositReceipt>,
    opens: Vec<Escrow>,
    settled: Vec<SessionId>,
    reclaimed: Vec<SessionId>,
}

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

fn node_key() -> veil_primitives::eddsa::SigningKey {
    veil_primitives::eddsa::SigningKey::from_seed([7; 32]).expect("node key")
}

fn account_key(i: u64) -> veil_primitives::eddsa::SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&i.to_be_bytes());
    veil_primitives::eddsa::SigningKey::from_seed(seed).expect("account key")
}

fn node_id() -> NodeId {
    node_key().verifying_key().node_id()
}
const E: Value = Value(100);

async fn load(remote: RemoteLedger, worker: u64, cycle: u64, acked: Arc<Mutex<Acked>>) {
    let key = account_key(1000 + worker);
    let acct = key.verifying_key().account_id();
    let node_id = node_id();
    let mut i = 0u64;
    loop {
        i += 1;
        let tag = (cycle << 32) | (worker << 24) | i;
        if remote.faucet(acct, Value(1_000)).await.is_err() {
            return;
        }
        // The account's next nonce, read again each time: a deposit that
        // committed without its answer (a kill) consumed one.
        let Ok(account) = remote.account(acct).await else {
            return;
        };
        let deposit = DepositRequest::signed(
            &key,
            account.next_nonce,
            Value(500),
            Address::from_fr(fr(tag)),
        );
        match remote.deposit(deposit).await {
            Ok(d) => acked.lock().unwrap().deposits.push(d),
            Err(_) => return,
        }
        let Ok(roots) = remote.roots().await else {
            return;
        };
        let Ok(status) = remote.status().await else {
            return;
        };
        let Some(root) = roots.last().copied() else {
            return;
        };
        let token = AccessPublic {
            root,
            nullifier: Nullifier::from_fr(fr(tag)),
            cm_change: NoteCommitment::from_fr(fr(tag + 1)),
            escrow: E,
            node_id,
            session_key_hash: SessionKeyHash::from_fr(fr(3)),
            refund_owner: OwnerKey::from_fr(fr(4)),
            // Odd opens (the first of each worker) are settled at once: a
            // wide window (40 blocks, 80 ms) so settles happen in most
            // cycles. Even ones expire soon (8 ms) and are reclaimed later.
            expiry: BlockHeight(status.height.0 + if i % 2 == 1 { 40 } else { 4 }),
        };
        let e = match remote.open_escrow(token, FakeVerifier::valid_proof()).await {
            Ok(e) => {
                acked.lock().unwrap().opens.push(e.clone());
                e
            }
            // The clock (2 ms blocks) may pass a short expiry between
            // `status` and the open: not a crash, keep going.
            Err(LedgerError::ExpiryOutOfRange { .. }) => continue,
            Err(_) => return,
        };
        if i % 2 == 1 {
            // Authorised by the node key over the statement (§8.3.3).
            let statement = SettleBatch {
                node_id,
                k: 1,
                total: Value(40),
                price: e.price_per_kib,
                slots: vec![SettleBatch::slot(&e, NoteCommitment::from_fr(fr(tag + 2)))],
            };
            let req = SettleRequest::signed(&node_key(), &statement, FakeVerifier::valid_proof())
                .expect("a valid batch");
            match remote.settle(req).await {
                Ok(_) => acked.lock().unwrap().settled.push(e.session_id),
                Err(LedgerError::SettleWindowClosed) => {}
                Err(_) => return,
            }
        }
        // Reclaim an older escrow whose window has passed.
        let old = acked
            .lock()
            .unwrap()
            .opens
            .iter()
            .rev()
            .nth(3)
            .map(|e| e.session_id);
        if let Some(id) = old {
            match remote.reclaim(id).await {
                Ok(_) => acked.lock().unwrap().reclaimed.push(id),
                Err(LedgerError::NotYetReclaimable(_) | LedgerError::EscrowNotOpen) => {}
                Err(_) => return,
            }
        }
    }
}

fn check(db: &Path, acked: &Acked) {
    let store = veil_ledger::store::Store::open(db).expect("ledger reopens after SIGKILL");
    let report = veil_ledger::audit::audit(&store).expect("audit runs");
    assert!(report.ok(), "audit after crash: {:?}", report.violations);
    use veil_ledger::state::StateRead;
    let r = store.read().expect("snapshot");
    for d in &acked.deposits {
        let leaf = r.commitments(d.leaf_index, 1).expect("read leaf");
        assert_eq!(leaf, vec![d.commitment], "acknowledged deposit lost");
    }
    for e in &acked.opens {
        assert!(
            r.escrow(&e.session_id).expect("read").is_some(),
            "acknowledged escrow lost"
        );
    }
    for id in &acked.settled {
        let e = r.escrow(id).expect("read").expect("settled escrow exists");
        assert!(
            matches!(e.state, EscrowState::Settled { .. }),
            "acknowledged settlement lost"
        );
    }
    for id in &acked.reclaimed {
        let e = r
            .escrow(id)
            .expect("read")
            .expect("reclaimed escrow exists");
        assert!(
            matches!(e.state, EscrowState::Reclaimed { .. }),
            "acknowledged reclaim lost"
        );
    }
}

fn run(cycles: u32) {
    let bin = veil_bin();
    let dir = tempfile_dir();
    let db = dir.join("ledger.redb");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = rand::thread_rng();
    let acked = Arc::new(Mutex::new(Acked::default()));
    // Set up the node once.
    {
        let (mut child, url) = spawn(&bin, &db);
        rt.block_on(async {
            let remote = RemoteLedger::connect(&url).await.expect("connect");
            let key = account_key(999);
            remote
                .faucet(key.verifying_key().account_id(), Value(10))
                .await
                .expect("faucet");
            remote
                .register_node(NodeRegistration::signed(
                    &node_key(),
                    &key,
                    0,
                    Value(1),
                    vec![E],
                    Value(10),
                    [0; 32],
                ))
                .await
                .expect("register");
        });
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
    for cycle in 0..cycles {
        let (mut child, url) = spawn(&bin, &db);
        let kill_after = Duration::from_millis(rng.gen_range(10..120));
        rt.block_on(async {
            let remote = RemoteLedger::connect(&url).await.expect("connect");
            let tasks: Vec<_> = (0..4)
                .map(|w| tokio::spawn(load(remote.clone(), w, u64::from(cycle), acked.clone())))
                .collect();
            tokio::time::sleep(kill_after).await;
            child.kill().expect("SIGKILL");
            child.wait().expect("wait");
            for t in tasks {
                let _ = t.await;
            }
        });
        check(&db, &acked.lock().unwrap());
    }
    let a = acked.lock().unwrap();
    eprintln!(
        "{cycles} kill/restart cycles: {} deposits, {} opens, {} settles, {} reclaims acknowledged and found",
        a.deposits.len(),
        a.opens.len(),
        a.settled.len(),
        a.reclaimed.len()
    );
    assert!(
        !a.opens.is_empty() && !a.deposits.is_empty(),
        "the load made no progress"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "veil-ledger-crash-{}-{}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn ledger_survives_sigkill_cycles() {
    run(CYCLES);
}

/// Slow (several minutes): 1,000 kill/restart cycles. Result in docs/reliability.md.
#[test]
#[ignore]
fn ledger_survives_1000_sigkill_cycles() {
    run(1000);
}
