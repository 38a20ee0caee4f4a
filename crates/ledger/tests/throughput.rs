//! Throughput of `open_escrow` over gRPC with REAL access tokens, durable
//! (redb file, fsync per group commit). Slow: run in release with
//!
//! `cargo test --release -p veil-ledger --test throughput -- --ignored --nocapture`
//!
//! Result in docs/benchmarks.md ("Ledger"). Tokens are proved once
//! (~0.3 s each) and cached in the temp directory.
//!
//! Every token is proved against the same root `R_0` (the tree after the
//! deterministic deposits), and the ledger keeps the last 128 roots with one
//! root per append, so one ledger accepts at most 127 of them: the run uses
//! `LEDGERS` fresh durable ledgers of identical state back to back, 127 opens
//! each, and reports over all opens.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_ledger::service::{bind, serve};
use veil_ledger::types::*;
use veil_ledger::verifier::{BatchingVerifier, Groth16Verifier, ProofVerifier};
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, RemoteLedger, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::keys::SpendingKey;
use veil_primitives::merkle::Tree;
use veil_primitives::note::{Note, Rho};
use veil_proofs::{AccessToken, CircuitId, ParamStore, Prover};

const LEDGERS: usize = 4;
const PER_LEDGER: usize = 127;
const CONCURRENCY: usize = 16;
const E: Value = Value(1_000);

/// Accumulates the time spent verifying.
struct Timed {
    inner: Box<dyn ProofVerifier>,
    nanos: AtomicU64,
}

impl ProofVerifier for Timed {
    fn verify_access(&self, s: &AccessPublic, p: &Proof) -> bool {
        let t = Instant::now();
        let ok = self.inner.verify_access(s, p);
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        ok
    }
    fn verify_withdraw(&self, s: &WithdrawPublic, p: &Proof) -> bool {
        self.inner.verify_withdraw(s, p)
    }
    fn verify_settle(&self, s: &SettleBatch, p: &Proof) -> bool {
        self.inner.verify_settle(s, p)
    }
}

/// `VEIL_BENCH_BATCH=1`: verify access tokens with [`BatchingVerifier`].
fn batching() -> bool {
    std::env::var_os("VEIL_BENCH_BATCH").is_some_and(|v| v == "1")
}

fn note(i: u64) -> (SpendingKey, Rho, Note) {
    let sk = SpendingKey::from_fr(Fr::from(i + 1) * Fr::from(0x9e37_79b9_7f4a_7c15u64));
    let rho = Rho::from_fr(Fr::from(i + 1) * Fr::from(0x7f4a_7c15u64) + Fr::from(3u64));
    let n = Note::new(Value(2_000), sk.owner_key(), rho);
    (sk, rho, n)
}

fn node_key() -> SigningKey {
    SigningKey::from_seed([42; 32]).unwrap()
}

fn tokens(n: usize) -> (MerkleRoot, Vec<AccessToken>) {
    let mut tree = Tree::new();
    tree.append_many((0..n as u64).map(|i| note(i).2.commitment()))
        .unwrap();
    let root = tree.root();
    let cache = std::env::temp_dir().join(format!("veil-ledger-bench-tokens-v1-{n}.bin"));
    if let Ok(bytes) = std::fs::read(&cache) {
        let parsed: Result<Vec<_>, _> = bytes
            .chunks(AccessToken::BYTES)
            .map(AccessToken::from_bytes)
            .collect();
        if let Ok(t) = parsed
            && t.len() == n
            && t.iter().all(|t| t.public.root == root)
        {
            eprintln!("using {n} cached tokens from {}", cache.display());
            return (root, t);
        }
    }
    let prover = Prover::from_store(
        &ParamStore::open_default(veil_proofs::KeySet::Dev).unwrap(),
        &[CircuitId::Access],
        None,
    )
    .unwrap();
    let node = node_key().verifying_key().node_id();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let start = Instant::now();
    let mut out = Vec::with_capacity(n);
    let mut bytes = Vec::with_capacity(n * AccessToken::BYTES);
    for i in 0..n as u64 {
        let (sk, rho, _) = note(i);
        let private = AccessPrivate {
            path: tree.path(i).unwrap(),
            sk,
            value: Value(2_000),
            rho,
            rho_change: Rho::from_fr(Fr::from(i + 11)),
        };
        let public = AccessPublic::derive(
            &private,
            E,
            node,
            SessionKeyHash::from_fr(Fr::from(i + 7)),
            OwnerKey::from_fr(Fr::from(i + 9)),
            BlockHeight(5_000),
        )
        .unwrap();
        let t = prover.prove_access(&public, &private, &mut rng).unwrap();
        bytes.extend_from_slice(&t.to_bytes());
        out.push(t);
    }
    eprintln!(
        "proved {n} access tokens in {:.1} s ({:.0} ms each)",
        start.elapsed().as_secs_f64(),
        start.elapsed().as_secs_f64() * 1e3 / n as f64
    );
    let _ = std::fs::write(&cache, &bytes);
    (root, out)
}

fn statement(t: &AccessToken) -> (AccessPublic, Proof) {
    let p = &t.public;
    (
        AccessPublic {
            root: p.root,
            nullifier: p.nullifier,
            cm_change: p.cm_change,
            escrow: p.escrow,
            node_id: p.node_id,
            session_key_hash: p.session_key_hash,
            refund_owner: p.refund_owner,
            expiry: p.expiry,
        },
        Proof(t.proof.to_bytes()),
    )
}

/// One durable ledger with all `n` notes deposited, served on loopback;
/// opens `batch` over `CONCURRENCY` clients. Returns (wall, latencies, verify time).
async fn run_one(
    n: usize,
    root: MerkleRoot,
    batch: Vec<AccessToken>,
) -> (Duration, Vec<Duration>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let g = Groth16Verifier::dev(&[1, 8, 64]).unwrap();
    let inner: Box<dyn ProofVerifier> = if batching() {
        Box::new(BatchingVerifier::new(g, 64).unwrap())
    } else {
        Box::new(g)
    };
    let verifier = Arc::new(Timed {
        inner,
        nanos: AtomicU64::new(0),
    });
    let ledger = EmbeddedLedger::open(
        &dir.path().join("ledger.redb"),
        verifier.clone(),
        LedgerConfig::with_dev_faucet(),
    )
    .unwrap();
    let wallet_key = SigningKey::from_seed([1; 32]).unwrap();
    let node_acct_key = SigningKey::from_seed([2; 32]).unwrap();
    let wallet = wallet_key.verifying_key().account_id();
    let node_acct = node_acct_key.verifying_key().account_id();
    ledger
        .faucet(wallet, Value(2_000 * n as u64))
        .await
        .unwrap();
    ledger.faucet(node_acct, Value(10)).await.unwrap();
    let g = testing::registration(
        ledger.engine(),
        &node_key(),
        &node_acct_key,
        Value(1),
        vec![E],
        Value(10),
        [0; 32],
    )
    .unwrap();
    ledger.register_node(g).await.unwrap();
    for i in 0..n as u64 {
        testing::deposit(
            ledger.engine(),
            &wallet_key,
            Value(2_000),
            note(i).2.address(),
        )
        .unwrap();
    }
    assert_eq!(ledger.status().await.unwrap().root, root);

    let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(ledger.clone(), listener, async {
        let _ = stopped.await;
    }));
    let remote = RemoteLedger::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let queue = Arc::new(Mutex::new(
        batch.iter().map(statement).collect::<VecDeque<_>>(),
    ));
    let start = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (remote, queue) = (remote.clone(), queue.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let next = queue.lock().unwrap().pop_front();
                    let Some((st, proof)) = next else { break };
                    let t = Instant::now();
                    remote.open_escrow(st, proof).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut lat = Vec::new();
    for c in clients {
        lat.extend(c.await.unwrap());
    }
    let wall = start.elapsed();
    let _ = stop.send(());
    let _ = server.await;
    let verify = Duration::from_nanos(verifier.nanos.load(Ordering::Relaxed));
    (wall, lat, verify)
}

#[test]
#[ignore = "slow: proves ~500 tokens on first run; run in release"]
fn open_escrow_throughput_over_grpc_with_real_tokens() {
    let n = LEDGERS * PER_LEDGER;
    let (root, all) = tokens(n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut wall, mut lat, mut verify) = (Duration::ZERO, Vec::new(), Duration::ZERO);
    for chunk in all.chunks(PER_LEDGER) {
        let (w, l, v) = rt.block_on(run_one(n, root, chunk.to_vec()));
        eprintln!(
            "  ledger: {} opens in {:.3} s = {:.0} ops/s",
            l.len(),
            w.as_secs_f64(),
            l.len() as f64 / w.as_secs_f64()
        );
        wall += w;
        lat.extend(l);
        verify += v;
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    eprintln!(
        "open_escrow over gRPC, real tokens, durable, batching {}: {} opens, {:.0} ops/s, p50 {:.1} ms, p99 {:.1} ms, \
         verification {:.2} ms/op = {:.0}% of {cores} cores' wall time",
        batching(),
        lat.len(),
        lat.len() as f64 / wall.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        verify.as_secs_f64() * 1e3 / lat.len() as f64,
        100.0 * verify.as_secs_f64() / (wall.as_secs_f64() * cores as f64),
    );
}
