//! Sync of the ledger's commitment stream into a local tree, discovery of
//! the wallet's notes, change and refunds (`docs/protocol.md` §2.4, §6),
//! including refunds of sessions whose receipts were lost (full scan).
//!
//! The wallet never tells the ledger which commitments it looks for: it
//! downloads every commitment in leaf order and recomputes its own.

use std::collections::HashMap;

use veil_circuits::settle::slot_refund;
use veil_ledger::LedgerApi;
use veil_ledger::api::MAX_COMMITMENT_PAGE;
use veil_primitives::field::{FR_BYTES, fr_to_bytes};
use veil_primitives::keys::SpendingKey;
use veil_primitives::merkle::{AuthPath, MerkleRoot, Tree};
use veil_primitives::note::{Address, NoteCommitment, Rho};
use veil_primitives::progress::{Progress, Silent, Step};
use veil_primitives::refund::{reclaim_note, refund_note, refund_rho};
use veil_primitives::value::Value;

use crate::error::ClientError;
use crate::wallet::{
    HexFr, NoteOrigin, NoteRecord, NoteStatus, SessionRecord, SessionStatus, Wallet,
};

/// The client's copy of the note commitment tree, with an index from
/// commitment to leaf.
#[derive(Default)]
pub struct LocalTree {
    tree: Tree,
    index: HashMap<[u8; FR_BYTES], u64>,
    /// Tree size at the last fruitless refund scan, per session id.
    scanned: HashMap<[u8; FR_BYTES], u64>,
}

/// What one sync found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// Commitments downloaded in this sync.
    pub new_leaves: u64,
    /// Total leaves in the local tree.
    pub leaves: u64,
    /// Notes that became spendable (deposits, change).
    pub notes_found: usize,
    /// Refund notes found (settled or reclaimed sessions), with their values.
    pub refunds_found: Vec<u64>,
    /// How many of `refunds_found` were recovered by the full scan (§6):
    /// sessions whose signed receipts were never saved.
    pub refunds_recovered_by_scan: usize,
    /// Sessions past expiry whose refund is still missing and whose escrow
    /// is too large to scan (more than [`MAX_SCAN_CANDIDATES`] values).
    pub scans_refused: Vec<ScanRefused>,
}

/// Most refund values [`sync`] tries for one session (262,144): about 8.5 s
/// on the shared 2-core reference machine under load (measured 32.5 µs per
/// value on two threads at load average 4, `docs/client.md`). It covers
/// every escrow of the demo node (at most 132,097 values, 5.2 s).
pub const MAX_SCAN_CANDIDATES: u64 = 1 << 18;

/// A refund the full scan did not attempt: `E / price` is too large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRefused {
    /// The session's intent label in the wallet.
    pub intent: String,
    /// Distinct refund values the scan would have to try.
    pub candidates: u64,
}

impl std::fmt::Display for ScanRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session {:?}: refund not found among the saved receipts, and a full scan \
             would try {} values (limit {MAX_SCAN_CANDIDATES}); checkpoint receipts \
             while relaying (LiveSession::checkpoint)",
            self.intent, self.candidates
        )
    }
}

impl LocalTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// The current root.
    pub fn root(&self) -> MerkleRoot {
        self.tree.root()
    }

    /// The leaf index of `cm`, if present (the first occurrence).
    pub fn find(&self, cm: &NoteCommitment) -> Option<u64> {
        self.index.get(&cm.to_bytes()).copied()
    }

    /// Authentication path of leaf `i` against [`Self::root`].
    pub fn path(&self, i: u64) -> Result<AuthPath, ClientError> {
        self.tree
            .path(i)
            .map_err(|e| ClientError::Tree(e.to_string()))
    }

    /// Appends one commitment.
    pub fn append(&mut self, cm: NoteCommitment) -> Result<u64, ClientError> {
        let i = self
            .tree
            .append(cm)
            .map_err(|e| ClientError::Tree(e.to_string()))?
            .get();
        self.index.entry(cm.to_bytes()).or_insert(i);
        Ok(i)
    }

    /// Downloads every commitment the tree lacks.
    pub async fn catch_up<L: LedgerApi>(&mut self, ledger: &L) -> Result<u64, ClientError> {
        self.catch_up_with(ledger, 0, &Silent).await
    }

    /// [`Self::catch_up`], reporting each page to `progress` as step
    /// [`SYNC_STEP`] against the ledger's `commitment_count` (if known,
    /// else 0).
    pub async fn catch_up_with<L: LedgerApi>(
        &mut self,
        ledger: &L,
        commitment_count: u64,
        progress: &dyn Progress,
    ) -> Result<u64, ClientError> {
        let start = self.size();
        let total = commitment_count.saturating_sub(start);
        let mut added = 0;
        loop {
            progress.report(Step::new(SYNC_STEP, added, total));
            let page = ledger.commitments(self.size(), MAX_COMMITMENT_PAGE).await?;
            if page.is_empty() {
                return Ok(added);
            }
            for cm in page {
                self.append(cm)?;
                added += 1;
            }
        }
    }
}

/// Syncs `tree` with the ledger and updates the wallet's notes and sessions:
/// pending notes found in the tree become spendable; for each session, the
/// refund note `(E − min(kib·price, E), rk, H(REFUND, S))` is recomputed for
/// every receipt the wallet signed and for "no receipt", and the reclaim
/// note `(E, rk, H(RECLAIM, session_id))` (§6, §8.3.4); a match becomes a
/// note owned by the session's refund key. A session past its expiry whose
/// refund is still missing (its receipts were never saved: the client died
/// mid-session) is then searched over every refund value
/// (§6, [`recover_refunds`]). Saves the wallet.
///
/// The ledger is asked only for commitments and its height: nothing that
/// names a session.
pub async fn sync<L: LedgerApi>(
    ledger: &L,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
) -> Result<SyncReport, ClientError> {
    sync_with(ledger, wallet, tree, &Silent).await
}

/// Progress step of the commitment download ([`LocalTree::catch_up_with`]).
pub const SYNC_STEP: &str = "sync: commitments";
/// Progress step of the refund search ([`recover_refunds_with`]), one unit
/// per session searched.
pub const SCAN_STEP: &str = "sync: refund search";

/// [`sync`], reporting the commitment download ([`SYNC_STEP`]) and the
/// refund search ([`SCAN_STEP`]) to `progress`. The ledger's status (the
/// total to download, the height) is read before the download, so the
/// tree then holds every commitment the ledger had at that height.
pub async fn sync_with<L: LedgerApi>(
    ledger: &L,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    progress: &dyn Progress,
) -> Result<SyncReport, ClientError> {
    let status = ledger.status().await?;
    let new_leaves = tree
        .catch_up_with(ledger, status.commitment_count, progress)
        .await?;
    let height = status.height.0;
    let mut report = scan(wallet, tree, new_leaves);
    blocking(|| {
        recover_refunds_with(
            wallet,
            tree,
            height,
            MAX_SCAN_CANDIDATES,
            &mut report,
            progress,
        )
    });
    wallet.data.synced_leaves = tree.size();
    wallet.save()?;
    Ok(report)
}

/// Runs CPU-bound `f` without stalling other tasks of a multi-threaded
/// runtime (inline on a current-thread runtime, where that is impossible).
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Number of distinct refund values `E − min(k·price, E)`, `k = 0, 1, …` (§6):
/// `k = 0..=⌊E/price⌋` give `E − k·price`, any larger `k` gives 0.
pub fn refund_candidates(escrow: Value, price: Value) -> u64 {
    match price.get() {
        0 => 1,
        p => (escrow.get() / p).saturating_add(1 + u64::from(!escrow.get().is_multiple_of(p))),
    }
}

/// The `i`-th refund value of `(E, price)`, `i < refund_candidates`:
/// `E − i·price` while non-negative, then 0 (largest first, each once).
fn refund_value(escrow: u64, price: u64, i: u64) -> u64 {
    escrow.saturating_sub(i.saturating_mul(price))
}

/// Looks for the refund note of an escrow `(E, price)` at the refund
/// address `addr = H(ADDR, rk, H(REFUND, S))` (§6) in `tree` by trying every
/// refund value a settlement can produce
/// ([`refund_candidates`] Poseidon hashes, spread over the available
/// cores). Returns `(value, leaf)`, or `Ok(None)` if no such note is in the
/// tree; refuses, without hashing, an escrow with more than `limit`
/// candidates (`Err(candidates)`).
pub fn find_refund_by_scan(
    escrow: Value,
    price: Value,
    addr: &Address,
    tree: &LocalTree,
    limit: u64,
) -> Result<Option<(u64, u64)>, u64> {
    let candidates = refund_candidates(escrow, price);
    if candidates > limit {
        return Err(candidates);
    }
    let (e, p) = (escrow.get(), price.get());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let threads = threads.clamp(1, 16).min(candidates.div_ceil(4096).max(1));
    let found = std::sync::atomic::AtomicBool::new(false);
    let try_range = |from: u64, to: u64| {
        for i in from..to {
            if found.load(std::sync::atomic::Ordering::Relaxed) {
                return None;
            }
            let v = refund_value(e, p, i);
            if let Some(leaf) = tree.find(&NoteCommitment::from_value_and_address(Value(v), addr)) {
                found.store(true, std::sync::atomic::Ordering::Relaxed);
                return Some((v, leaf));
            }
        }
        None
    };
    let chunk = candidates.div_ceil(threads);
    let hit = std::thread::scope(|scope| {
        let workers: Vec<_> = (1..threads)
            .map(|t| {
                let from = t * chunk;
                let to = candidates.min(from.saturating_add(chunk));
                scope.spawn(move || try_range(from, to))
            })
            .collect();
        let mine = try_range(0, chunk.min(candidates));
        workers
            .into_iter()
            .filter_map(|w| w.join().ok().flatten())
            .fold(mine, |a, b| a.or(Some(b)))
    });
    Ok(hit)
}

/// The recovery step of [`sync`] (§6): for each `Open` or `Closed` session
/// whose expiry is below the ledger `height` (no receipt counts any more,
/// E10) and whose refund [`scan`] did not find, try every refund value
/// ([`find_refund_by_scan`]). Sessions still usable are left to [`scan`]:
/// their receipts are in the wallet once the relay checkpoints or ends.
/// A scan is repeated only when the tree has grown since the last one; an
/// escrow with more than `limit` candidates is reported in
/// `report.scans_refused` instead ([`sync`] uses [`MAX_SCAN_CANDIDATES`];
/// a caller may pass a larger `limit` on request).
pub fn recover_refunds(
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    height: u64,
    limit: u64,
    report: &mut SyncReport,
) {
    recover_refunds_with(wallet, tree, height, limit, report, &Silent);
}

/// Whether [`recover_refunds`] searches session `s` at `height`: open or
/// closed, and past its expiry.
fn searchable(s: &SessionRecord, height: u64) -> bool {
    matches!(s.status, SessionStatus::Open | SessionStatus::Closed) && s.expiry < height
}

/// [`recover_refunds`], reporting each session searched to `progress`
/// ([`SCAN_STEP`]).
pub fn recover_refunds_with(
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    height: u64,
    limit: u64,
    report: &mut SyncReport,
    progress: &dyn Progress,
) {
    let sk = wallet.spending_key();
    let mut refunds = Vec::new();
    let total = wallet
        .data
        .sessions
        .iter()
        .filter(|s| searchable(s, height))
        .count() as u64;
    let mut done = 0;
    for s in wallet.data.sessions.iter_mut() {
        if !searchable(s, height) {
            continue;
        }
        progress.report(Step::new(SCAN_STEP, done, total));
        done += 1;
        let key = s.nullifier.0;
        if tree.scanned.get(&fr_to_bytes(&key)) == Some(&tree.size()) {
            continue; // nothing new since the last scan
        }
        let Some(session_key) = s.session_key() else {
            continue; // no S, no refund address: only the reclaim is findable
        };
        let rho = refund_rho(&session_key.verifying_key().point().to_affine());
        let addr = Address::derive(&s.refund_key(&sk).owner_key(), &rho);
        match find_refund_by_scan(Value(s.escrow), Value(s.price_per_kib), &addr, tree, limit) {
            Ok(Some((value, leaf))) => {
                s.status = SessionStatus::Finished;
                refunds.push(refund_record(s, value, &rho, leaf));
                report.refunds_found.push(value);
                report.refunds_recovered_by_scan += 1;
            }
            Ok(None) => {
                tree.scanned.insert(fr_to_bytes(&key), tree.size());
            }
            Err(candidates) => report.scans_refused.push(ScanRefused {
                intent: s.intent.clone(),
                candidates,
            }),
        }
    }
    if total > 0 {
        progress.report(Step::new(SCAN_STEP, done, total));
    }
    wallet.data.notes.extend(refunds);
}

/// The note record of a session's refund or reclaim: owned by the
/// session's refund key (§6).
fn refund_record(s: &SessionRecord, value: u64, rho: &Rho, leaf: u64) -> NoteRecord {
    NoteRecord {
        value,
        rho: HexFr(rho.inner()),
        origin: NoteOrigin::Refund,
        status: NoteStatus::Unspent,
        leaf: Some(leaf),
        refund_key_rho: Some(s.refund_rho),
    }
}

/// Session `s`'s reclaim note, or its refund note for "no receipt" or one
/// of the receipts the wallet saved (§6), if `tree` holds it.
fn find_known_refund(s: &SessionRecord, sk: &SpendingKey, tree: &LocalTree) -> Option<NoteRecord> {
    let rk = s.refund_key(sk).owner_key();
    let reclaim = reclaim_note(Value(s.escrow), rk, &s.session_id());
    if let Some(leaf) = tree.find(&reclaim.commitment()) {
        return Some(refund_record(s, s.escrow, &reclaim.rho, leaf));
    }
    let point = s.session_key()?.verifying_key().point().to_affine();
    let (price, escrow) = (Value(s.price_per_kib), Value(s.escrow));
    std::iter::once(0)
        .chain(s.receipts_kib.iter().copied())
        .find_map(|kib| {
            let note = refund_note(slot_refund(kib, price, escrow), rk, &point);
            let leaf = tree.find(&note.commitment())?;
            Some(refund_record(s, note.value.get(), &note.rho, leaf))
        })
}

/// The matching step of [`sync`], without I/O.
pub fn scan(wallet: &mut Wallet, tree: &LocalTree, new_leaves: u64) -> SyncReport {
    let sk = wallet.spending_key();
    let mut report = SyncReport {
        new_leaves,
        leaves: tree.size(),
        ..SyncReport::default()
    };
    for note in wallet.data.notes.iter_mut() {
        if note.leaf.is_some() {
            continue;
        }
        if let Some(i) = tree.find(&note.commitment(&sk)) {
            note.leaf = Some(i);
            if note.status == NoteStatus::Pending {
                note.status = NoteStatus::Unspent;
                report.notes_found += 1;
            }
        }
    }
    let mut refunds = Vec::new();
    for s in wallet.data.sessions.iter_mut() {
        if !matches!(s.status, SessionStatus::Open | SessionStatus::Closed) {
            continue;
        }
        if let Some(note) = find_known_refund(s, &sk, tree) {
            s.status = SessionStatus::Finished;
            report.refunds_found.push(note.value);
            refunds.push(note);
        }
    }
    wallet.data.notes.extend(refunds);
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_circuits::settle::{refund_commitment, slot_pay};
    use veil_primitives::Fr;
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::refund::refund_spending_key;

    fn addr(x: u64) -> Address {
        Address::from_fr(Fr::from(x))
    }

    #[test]
    fn refund_values_are_every_settlement_outcome_once() {
        for (e, p) in [
            (512u64, 2u64),
            (511, 2),
            (10, 3),
            (7, 7),
            (5, 9),
            (0, 4),
            (1, 1),
        ] {
            let n = refund_candidates(Value(e), Value(p));
            let values: Vec<u64> = (0..n).map(|i| refund_value(e, p, i)).collect();
            let mut dedup = values.clone();
            dedup.dedup();
            assert_eq!(dedup, values, "each value once");
            // Every receipt a node could settle with (even above the escrow)
            // yields one of them.
            for k in 0..=(e / p + 3) {
                let refund = e - slot_pay(k, Value(p), Value(e)).get();
                assert!(values.contains(&refund), "E={e} p={p} k={k}");
            }
        }
        assert_eq!(refund_candidates(Value(u64::MAX), Value(1)), u64::MAX);
    }

    #[test]
    fn scan_finds_the_settled_refund_and_nothing_else() {
        let (e, p, k) = (10_000u64, 3u64, 1234u64);
        let mut tree = LocalTree::new();
        for i in 0..5 {
            tree.append(NoteCommitment::from_fr(Fr::from(1000 + i)))
                .unwrap();
        }
        let cm =
            NoteCommitment::from_value_and_address(slot_refund(k, Value(p), Value(e)), &addr(7));
        let leaf = tree.append(cm).unwrap();
        assert_eq!(
            find_refund_by_scan(Value(e), Value(p), &addr(7), &tree, MAX_SCAN_CANDIDATES),
            Ok(Some((e - k * p, leaf)))
        );
        // Another refund address, another price or escrow: not ours.
        assert_eq!(
            find_refund_by_scan(Value(e), Value(p), &addr(8), &tree, MAX_SCAN_CANDIDATES),
            Ok(None)
        );
        assert_eq!(
            find_refund_by_scan(Value(e), Value(7), &addr(7), &tree, MAX_SCAN_CANDIDATES),
            Ok(None)
        );
        assert_eq!(
            find_refund_by_scan(Value(e - 1), Value(p), &addr(7), &tree, MAX_SCAN_CANDIDATES),
            Ok(None)
        );
        // Too many candidates: refused with the count, nothing hashed.
        assert_eq!(
            find_refund_by_scan(Value(e), Value(p), &addr(7), &tree, 3334),
            Err(3335)
        );
        assert_eq!(
            find_refund_by_scan(Value(e), Value(p), &addr(7), &tree, 3335),
            Ok(Some((e - k * p, leaf)))
        );
    }

    fn wallet_with_open_session(dir: &std::path::Path, escrow: u64, price: u64) -> Wallet {
        use crate::wallet::{HexFr, SessionRecord};
        let mut w = Wallet::create(&dir.join("w"), Fr::from(11u64), [1u8; 32]).unwrap();
        w.data.sessions.push(SessionRecord {
            intent: "lost".into(),
            node_id: HexFr(Fr::from(2u64)),
            escrow,
            price_per_kib: price,
            expiry: 10,
            spent_rho: HexFr(Fr::from(3u64)),
            nullifier: HexFr(Fr::from(4u64)),
            change_rho: HexFr(Fr::from(5u64)),
            refund_rho: HexFr(Fr::from(6u64)),
            session_seed: crate::wallet::HexSeed([3u8; 32]),
            token: String::new(),
            receipts_kib: Vec::new(),
            status: SessionStatus::Open,
        });
        w
    }

    /// `cm_refund` as the node computes it for the wallet's session and `kib`.
    fn node_refund(wallet: &Wallet, kib: u64) -> NoteCommitment {
        let s = &wallet.data.sessions[0];
        let rk = s.refund_key(&wallet.spending_key()).owner_key();
        let point = s.session_key().unwrap().verifying_key().point().to_affine();
        refund_commitment(Value(s.escrow), Value(s.price_per_kib), kib, &rk, &point)
    }

    /// The found note is owned by the session's refund key, and `scan`
    /// recognises it as spendable (its commitment under that key is the leaf).
    fn assert_owned_by_refund_key(wallet: &Wallet, tree: &LocalTree) {
        let note = wallet.data.notes.last().unwrap();
        let sk = wallet.spending_key();
        let s = &wallet.data.sessions[0];
        assert_eq!(note.refund_key_rho, Some(s.refund_rho));
        assert_eq!(
            note.spending_key(&sk).owner_key(),
            s.refund_key(&sk).owner_key()
        );
        assert_eq!(tree.find(&note.commitment(&sk)), note.leaf);
    }

    #[test]
    fn scan_finds_refunds_by_receipt_and_reclaims_and_nothing_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let (e, p) = (1000u64, 4u64);
        // A refund for a saved receipt.
        let mut wallet = wallet_with_open_session(dir.path(), e, p);
        wallet.data.sessions[0].receipts_kib = vec![10, 20];
        let mut tree = LocalTree::new();
        let leaf = tree.append(node_refund(&wallet, 20)).unwrap();
        assert_eq!(scan(&mut wallet, &tree, 1).refunds_found, vec![e - 80]);
        assert_eq!(wallet.data.notes.last().unwrap().leaf, Some(leaf));
        assert_owned_by_refund_key(&wallet, &tree);

        // A reclaim: (E, rk, H(RECLAIM, sid)).
        let dir = tempfile::tempdir().unwrap();
        let mut wallet = wallet_with_open_session(dir.path(), e, p);
        let s = &wallet.data.sessions[0];
        let rk = s.refund_key(&wallet.spending_key()).owner_key();
        let reclaim = reclaim_note(Value(e), rk, &s.session_id()).commitment();
        let mut tree = LocalTree::new();
        tree.append(reclaim).unwrap();
        assert_eq!(scan(&mut wallet, &tree, 1).refunds_found, vec![e]);
        assert_owned_by_refund_key(&wallet, &tree);

        // The old formula H(NOTE, E − pay, H(ADDR, pk, ρ_r)), another session
        // key, another refund key: not ours.
        let dir = tempfile::tempdir().unwrap();
        let mut wallet = wallet_with_open_session(dir.path(), e, p);
        let s = wallet.data.sessions[0].clone();
        let sk = wallet.spending_key();
        let old = Address::derive(&sk.owner_key(), &s.refund_rho());
        let other_s = SigningKey::from_seed([4u8; 32]).unwrap().verifying_key();
        let other_rk = refund_spending_key(&sk, &Rho::from_fr(Fr::from(7u64))).owner_key();
        let rk = s.refund_key(&sk).owner_key();
        let point = s.session_key().unwrap().verifying_key().point().to_affine();
        let mut tree = LocalTree::new();
        for cm in [
            NoteCommitment::from_value_and_address(Value(e), &old),
            refund_commitment(Value(e), Value(p), 0, &rk, &other_s.point().to_affine()),
            refund_commitment(Value(e), Value(p), 0, &other_rk, &point),
        ] {
            tree.append(cm).unwrap();
        }
        assert_eq!(
            scan(&mut wallet, &tree, 3),
            SyncReport {
                new_leaves: 3,
                leaves: 3,
                ..SyncReport::default()
            }
        );
        assert_eq!(wallet.data.sessions[0].status, SessionStatus::Open);
    }

    #[test]
    fn recovery_waits_for_expiry_and_respects_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (e, p, k) = (1000u64, 4u64, 77u64);
        let mut wallet = wallet_with_open_session(dir.path(), e, p);
        let mut tree = LocalTree::new();
        let cm = node_refund(&wallet, k);
        let leaf = tree.append(cm).unwrap();

        // Height ≤ expiry: the session may still be relaying; no scan.
        let mut report = SyncReport::default();
        recover_refunds(&mut wallet, &mut tree, 10, MAX_SCAN_CANDIDATES, &mut report);
        assert_eq!(report, SyncReport::default());
        // Past expiry, but more candidates (251) than allowed: reported, not scanned.
        recover_refunds(&mut wallet, &mut tree, 11, 250, &mut report);
        assert!(report.refunds_found.is_empty());
        assert_eq!(
            report.scans_refused,
            vec![ScanRefused {
                intent: "lost".into(),
                candidates: 251
            }]
        );
        assert!(report.scans_refused[0].to_string().contains("checkpoint"));
        // Within the limit: found, the session finished, the note spendable.
        let mut report = SyncReport::default();
        recover_refunds(&mut wallet, &mut tree, 11, 251, &mut report);
        assert_eq!(report.refunds_found, vec![e - k * p]);
        assert_eq!(report.refunds_recovered_by_scan, 1);
        assert_eq!(wallet.data.sessions[0].status, SessionStatus::Finished);
        let note = wallet.data.notes.last().unwrap();
        assert_eq!(
            (note.value, note.leaf, note.status),
            (e - k * p, Some(leaf), NoteStatus::Unspent)
        );
        assert_owned_by_refund_key(&wallet, &tree);
        // Finished sessions are not scanned again.
        let mut report = SyncReport::default();
        recover_refunds(&mut wallet, &mut tree, 12, 251, &mut report);
        assert_eq!(report, SyncReport::default());
    }

    /// Records every progress event.
    #[derive(Default)]
    struct Recorded(std::sync::Mutex<Vec<(String, u64, u64)>>);

    impl Progress for Recorded {
        fn report(&self, s: Step<'_>) {
            self.0
                .lock()
                .unwrap()
                .push((s.name.to_owned(), s.done, s.total));
        }
    }

    #[test]
    fn the_refund_search_reports_each_expired_session_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let mut wallet = wallet_with_open_session(dir.path(), 1000, 4);
        let mut tree = LocalTree::new();
        tree.append(node_refund(&wallet, 3)).unwrap();
        let seen = Recorded::default();
        let mut report = SyncReport::default();
        // Not expired (height ≤ expiry 10): nothing searched, nothing reported.
        recover_refunds_with(&mut wallet, &mut tree, 10, 1 << 10, &mut report, &seen);
        assert!(seen.0.lock().unwrap().is_empty());
        recover_refunds_with(&mut wallet, &mut tree, 11, 1 << 10, &mut report, &seen);
        assert_eq!(report.refunds_recovered_by_scan, 1);
        assert_eq!(
            *seen.0.lock().unwrap(),
            vec![(SCAN_STEP.to_owned(), 0, 1), (SCAN_STEP.to_owned(), 1, 1)]
        );
    }

    /// Cost of the full scan (docs/client.md): the demo's largest escrow
    /// (`--mib-per-session 64`: E = 132,096 at price 1) and an escrow of
    /// 1,048,576 KiB. Run: `cargo test -p veil-client --lib scan_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing measurement"]
    fn scan_cost() {
        let tree = LocalTree::new();
        for e in [132_096u64, 1 << 20] {
            let t0 = std::time::Instant::now();
            let r = find_refund_by_scan(Value(e), Value(1), &addr(7), &tree, u64::MAX);
            let dt = t0.elapsed();
            assert_eq!(r, Ok(None));
            println!(
                "E = {e} at price 1: {} candidates in {:.2} s ({:.2} µs each)",
                e + 1,
                dt.as_secs_f64(),
                dt.as_secs_f64() * 1e6 / (e + 1) as f64
            );
        }
    }
}
