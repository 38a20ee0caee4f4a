//! Adversarial row E9 (mass closing): `N` sessions of one node all expire at
//! the same height; half are settled in batches of up to `K = 64`, the
//! other half are reclaimed once the challenge window has passed
//! (`docs/protocol.md` §8.3.3, §8.3.4). Every valid settle and reclaim is
//! processed exactly once, the turnstile and the audit hold (§8.4), and the
//! sustained rates are printed.
//!
//! The ledger is the embedded one over a durable redb file (fsync per group
//! commit, §8.2) with [`FakeVerifier`], so the rates measure the state
//! machine and storage, not Groth16 (see `throughput.rs` for that).
//!
//! CI runs `N = 1,000`; the capacity run (docs/benchmarks.md) is
//!
//! `cargo test -p veil-ledger --test capacity -- --ignored --nocapture`

use std::sync::Arc;
use std::time::{Duration, Instant};

use veil_ledger::audit::audit;
use veil_ledger::types::*;
use veil_ledger::verifier::FakeVerifier;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig, LedgerError, testing};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;

/// Escrow size of every session.
const E: Value = Value(1_000);
/// What the node claims of each settled session (the rest is refunded).
const PAY: u64 = 300;
/// Largest settle batch (§8.1).
const K: usize = 64;
/// Concurrent submitters of opens, settle batches and reclaims.
const TASKS: usize = 8;
/// Blocks from the start to the common expiry.
const LIFETIME: u64 = 10;

fn fr(v: u64) -> Fr {
    Fr::from(v)
}

/// `VEIL_E9_SESSIONS`, else `default`.
fn sessions(default: usize) -> usize {
    std::env::var("VEIL_E9_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(ops: usize, d: Duration) -> f64 {
    ops as f64 / d.as_secs_f64().max(1e-9)
}

fn node_key() -> SigningKey {
    SigningKey::from_seed([77; 32]).unwrap()
}

struct Fx {
    _dir: tempfile::TempDir,
    ledger: EmbeddedLedger,
    node: NodeId,
    node_account: AccountId,
    expiry: BlockHeight,
    window: u64,
}

async fn fixture(n: usize) -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let config = LedgerConfig::with_dev_faucet();
    let window = config.challenge_window;
    let ledger = EmbeddedLedger::open(
        &dir.path().join("ledger.redb"),
        Arc::new(FakeVerifier::default()),
        config,
    )
    .unwrap();
    let key = node_key();
    let node = key.verifying_key().node_id();
    let node_account_key = SigningKey::from_seed([78; 32]).unwrap();
    let node_account = node_account_key.verifying_key().account_id();
    let wallet_key = SigningKey::from_seed([79; 32]).unwrap();
    let wallet = wallet_key.verifying_key().account_id();
    ledger.faucet(node_account, Value(500)).await.unwrap();
    let g = testing::registration(
        ledger.engine(),
        &key,
        &node_account_key,
        Value(2),
        vec![E],
        Value(500),
        [9; 32],
    )
    .unwrap();
    ledger.register_node(g).await.unwrap();
    let pool = Value(E.0 * n as u64);
    ledger.faucet(wallet, pool).await.unwrap();
    testing::deposit(ledger.engine(), &wallet_key, pool, Address::from_fr(fr(1))).unwrap();
    let expiry = BlockHeight(ledger.status().await.unwrap().height.0 + LIFETIME);
    Fx {
        _dir: dir,
        ledger,
        node,
        node_account,
        expiry,
        window,
    }
}

impl Fx {
    fn settle_req(&self, ids: &[SessionId]) -> SettleRequest {
        Fx::settle_for(&self.ledger, self.node, ids)
    }

    async fn height(&self) -> u64 {
        self.ledger.status().await.unwrap().height.0
    }

    async fn advance_to(&self, h: u64) {
        let now = self.height().await;
        assert!(h >= now);
        self.ledger.advance(h - now).await.unwrap();
    }

    /// Opens sessions `0..n` from `TASKS` tasks; returns their ids in order.
    async fn open_all(&self, n: usize) -> Vec<SessionId> {
        let fx = Arc::new(self.clone_handle());
        let mut set = tokio::task::JoinSet::new();
        for t in 0..TASKS {
            let fx = fx.clone();
            set.spawn(async move {
                let mut out = Vec::new();
                for i in (t..n).step_by(TASKS) {
                    // At most TASKS − 1 appends race this root: well inside
                    // the 128-root history (§8.1).
                    let root = fx.ledger.status().await.unwrap().root;
                    let e = fx
                        .ledger
                        .open_escrow(fx.token(i as u64, root), FakeVerifier::valid_proof())
                        .await
                        .unwrap();
                    assert_eq!(e.expiry, fx.expiry);
                    out.push((i, e.session_id));
                }
                out
            });
        }
        let mut ids = vec![None; n];
        while let Some(r) = set.join_next().await {
            for (i, id) in r.unwrap() {
                ids[i] = Some(id);
            }
        }
        ids.into_iter().map(|id| id.unwrap()).collect()
    }

    fn clone_handle(&self) -> Handle {
        Handle {
            ledger: self.ledger.clone(),
            node: self.node,
            expiry: self.expiry,
        }
    }
}

/// The `Send + 'static` part of [`Fx`] that tasks share.
struct Handle {
    ledger: EmbeddedLedger,
    node: NodeId,
    expiry: BlockHeight,
}

impl Handle {
    fn token(&self, i: u64, root: MerkleRoot) -> AccessPublic {
        Fx::token_for(self.node, self.expiry, i, root)
    }
    fn settle_req(&self, ids: &[SessionId]) -> SettleRequest {
        Fx::settle_for(&self.ledger, self.node, ids)
    }
}

impl Fx {
    fn token_for(node: NodeId, expiry: BlockHeight, i: u64, root: MerkleRoot) -> AccessPublic {
        AccessPublic {
            root,
            nullifier: Nullifier::from_fr(fr(1_000_000 + i)),
            cm_change: NoteCommitment::from_fr(fr(2_000_000 + i)),
            escrow: E,
            node_id: node,
            session_key_hash: SessionKeyHash::from_fr(fr(3_000_000 + i)),
            refund_owner: OwnerKey::from_fr(fr(4_000_000 + i)),
            expiry,
        }
    }
    /// A batch authorised by the node key over the ledger's records (§8.3.3).
    fn settle_for(ledger: &EmbeddedLedger, node: NodeId, ids: &[SessionId]) -> SettleRequest {
        let mut r = SettleRequest {
            node_id: node,
            k: K as u32,
            cm_refunds: ids
                .iter()
                .map(|id| NoteCommitment::from_fr(id.inner() + fr(5_000_000)))
                .collect(),
            session_ids: ids.to_vec(),
            total: Value(PAY * ids.len() as u64),
            proof: FakeVerifier::valid_proof(),
            authorisation: None,
        };
        testing::authorise_settle(ledger.engine(), &node_key(), &mut r).unwrap();
        r
    }
}

/// Settles `batches` from `TASKS` tasks; returns the receipts in batch order.
async fn settle_all(h: &Arc<Handle>, batches: &[Vec<SessionId>]) -> Vec<SettleReceipt> {
    let batches = Arc::new(batches.to_vec());
    let mut set = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let (h, batches) = (h.clone(), batches.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            for b in (t..batches.len()).step_by(TASKS) {
                let r = h.ledger.settle(h.settle_req(&batches[b])).await.unwrap();
                out.push((b, r));
            }
            out
        });
    }
    let mut rs = vec![None; batches.len()];
    while let Some(r) = set.join_next().await {
        for (b, rec) in r.unwrap() {
            rs[b] = Some(rec);
        }
    }
    rs.into_iter().map(|r| r.unwrap()).collect()
}

/// Reclaims `ids` from `TASKS` tasks, task `t` taking every `TASKS`-th id
/// starting at `t + shift`; returns the receipts in id order.
async fn reclaim_all(h: &Arc<Handle>, ids: &[SessionId], shift: usize) -> Vec<ReclaimReceipt> {
    let ids = Arc::new(ids.to_vec());
    let mut set = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let (h, ids) = (h.clone(), ids.clone());
        set.spawn(async move {
            let mut out = Vec::new();
            for i in ((t + shift) % TASKS..ids.len()).step_by(TASKS) {
                out.push((i, h.ledger.reclaim(ids[i]).await.unwrap()));
            }
            out
        });
    }
    let mut rs = vec![None; ids.len()];
    while let Some(r) = set.join_next().await {
        for (i, rec) in r.unwrap() {
            rs[i] = Some(rec);
        }
    }
    rs.into_iter().map(|r| r.unwrap()).collect()
}

async fn mass_closing(n: usize) {
    assert!(n >= 4 * K, "at least {} sessions", 4 * K);
    let fx = fixture(n).await;
    let h = Arc::new(fx.clone_handle());
    let minted = fx.ledger.status().await.unwrap().minted;
    let node_before = fx.ledger.balance(fx.node_account).await.unwrap();

    let t = Instant::now();
    let ids = fx.open_all(n).await;
    let open_time = t.elapsed();
    let pool_open = fx.ledger.status().await.unwrap().pool;
    assert_eq!(pool_open, Value(0), "every deposited unit is escrowed");

    // (a) Settle the first half: one quarter before expiry, one quarter
    // after expiry inside the challenge window (§8.3.3), the last block of
    // which is `expiry + window`.
    let (settled, reclaimed) = ids.split_at(n / 2);
    let (before, during) = settled.split_at(settled.len() / 2);
    let chunks = |s: &[SessionId]| s.chunks(K).map(<[_]>::to_vec).collect::<Vec<_>>();
    let (before, during) = (chunks(before), chunks(during));
    assert!(fx.height().await < fx.expiry.0);
    let t = Instant::now();
    let mut receipts = settle_all(&h, &before).await;
    let mut settle_time = t.elapsed();
    fx.advance_to(fx.expiry.0 + fx.window).await;
    let t = Instant::now();
    receipts.extend(settle_all(&h, &during).await);
    settle_time += t.elapsed();
    let batches: Vec<_> = before.iter().chain(&during).cloned().collect();

    // Reclaim is not yet possible on the last block of the window (§8.3.4).
    assert!(matches!(
        fx.ledger.reclaim(reclaimed[0]).await,
        Err(LedgerError::NotYetReclaimable(_))
    ));

    // (b) One block later: settle is closed, reclaim open; the other half is
    // reclaimed concurrently.
    fx.ledger.advance(1).await.unwrap();
    assert_eq!(
        fx.ledger.settle(fx.settle_req(&reclaimed[..1])).await,
        Err(LedgerError::SettleWindowClosed)
    );
    let t = Instant::now();
    let reclaims = reclaim_all(&h, reclaimed, 0).await;
    let reclaim_time = t.elapsed();

    // Exactly once: every retry, by another task, returns the original
    // result and moves nothing.
    let status = fx.ledger.status().await.unwrap();
    let node_after = fx.ledger.balance(fx.node_account).await.unwrap();
    assert_eq!(reclaim_all(&h, reclaimed, 1).await, reclaims);
    assert_eq!(settle_all(&h, &batches).await, receipts);
    for id in settled.iter().take(K) {
        assert_eq!(
            fx.ledger.reclaim(*id).await,
            Err(LedgerError::EscrowNotOpen)
        );
    }
    assert_eq!(fx.ledger.status().await.unwrap(), status);
    assert_eq!(
        fx.ledger.balance(fx.node_account).await.unwrap(),
        node_after
    );

    // Every escrow processed, in the expected state.
    for id in settled {
        let e = fx.ledger.get_escrow(*id).await.unwrap().unwrap();
        assert!(matches!(e.state, EscrowState::Settled { .. }), "{e:?}");
    }
    let mut leaves = std::collections::HashSet::new();
    for (id, r) in reclaimed.iter().zip(&reclaims) {
        let e = fx.ledger.get_escrow(*id).await.unwrap().unwrap();
        assert_eq!(
            e.state,
            EscrowState::Reclaimed {
                leaf_index: r.leaf_index
            }
        );
        assert_eq!(
            r.commitment,
            veil_primitives::refund::reclaim_note(E, e.refund_owner, &e.session_id).commitment()
        );
        assert!(leaves.insert(r.leaf_index), "one refund leaf per reclaim");
    }

    // Sums (§8.4): the node got PAY per settled session, the pool got the
    // rest of each settled escrow and every reclaimed escrow in full.
    let s = settled.len() as u64;
    let r = reclaimed.len() as u64;
    assert_eq!(node_after, Value(node_before.0 + PAY * s));
    assert_eq!(status.pool, Value((E.0 - PAY) * s + E.0 * r));
    assert_eq!(status.minted, minted);
    let report = audit(fx.ledger.engine().store()).unwrap();
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(report.open_escrows, 0);
    assert_eq!(report.escrows, n as u64);

    println!(
        "E9 mass closing, N = {n}, {TASKS} tasks, durable redb: \
         open {:.0} ops/s ({:.2} s); settle {:.0} sessions/s in {} batches of <= {K} \
         ({:.1} batches/s, {:.2} s); reclaim {:.0} ops/s ({:.2} s)",
        rate(n, open_time),
        open_time.as_secs_f64(),
        rate(settled.len(), settle_time),
        batches.len(),
        rate(batches.len(), settle_time),
        settle_time.as_secs_f64(),
        rate(reclaimed.len(), reclaim_time),
        reclaim_time.as_secs_f64(),
    );
}

/// E9 at CI size (`N = 1,000`, or `VEIL_E9_SESSIONS`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn e9_mass_closing_every_settle_and_reclaim_processed_once() {
    mass_closing(sessions(1_000)).await;
}

/// E9 at full size (`N = 10,000`, or `VEIL_E9_SESSIONS`): the capacity run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "capacity run: 10,000 sessions, minutes on a shared machine"]
async fn e9_mass_closing_10000_sessions_capacity() {
    mass_closing(sessions(10_000)).await;
}
