//! Sync of the ledger's commitment stream into a local tree, discovery of
//! the wallet's notes, change and refunds (`docs/protocol.md` §2.4, §6),
//! including refunds of sessions whose receipts were lost (full scan).
//!
//! The wallet never tells the ledger which commitments it looks for: it
//! downloads every commitment in leaf order and recomputes its own.

use std::collections::HashMap;

use veil_circuits::settle::{refund_commitment, slot_pay};
use veil_ledger::LedgerApi;
use veil_ledger::api::MAX_COMMITMENT_PAGE;
use veil_primitives::field::{FR_BYTES, fr_to_bytes};
use veil_primitives::merkle::{AuthPath, MerkleRoot, Tree};
use veil_primitives::note::{Address, NoteCommitment};
use veil_primitives::value::Value;

use crate::error::ClientError;
use crate::wallet::{NoteOrigin, NoteRecord, NoteStatus, SessionStatus, Wallet};

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

/// Most refund values [`find_refund_by_scan`] tries for one session: about
/// 2 s of Poseidon on one core of the reference machine (`docs/client.md`).
pub const MAX_SCAN_CANDIDATES: u64 = 1 << 21;

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
        let mut added = 0;
        loop {
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
/// refund `H(NOTE, E − min(kib·price, E), addr_r)` is recomputed for every
/// receipt the wallet signed and for "no receipt" (which is also the full
/// reclaim `H(NOTE, E, addr_r)`), and a match becomes a refund note.
/// A session past its expiry whose refund is still missing (its receipts
/// were never saved: the client died mid-session) is then searched over
/// every refund value (§6, [`recover_refunds`]). Saves the wallet.
///
/// The ledger is asked only for commitments and its height: nothing that
/// names a session.
pub async fn sync<L: LedgerApi>(
    ledger: &L,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
) -> Result<SyncReport, ClientError> {
    let new_leaves = tree.catch_up(ledger).await?;
    let height = ledger.status().await?.height.0;
    let mut report = scan(wallet, tree, new_leaves);
    blocking(|| recover_refunds(wallet, tree, height, &mut report));
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
        p => (escrow.get() / p).saturating_add(1 + u64::from(escrow.get() % p != 0)),
    }
}

/// The refund values of `(E, price)`, largest first, each once:
/// `E, E − price, …, E mod price, 0`.
struct RefundValues {
    next: Option<u64>,
    step: u64,
}

impl Iterator for RefundValues {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let v = self.next?;
        self.next = (v != 0 && self.step != 0).then(|| v.saturating_sub(self.step));
        Some(v)
    }
}

/// Looks for the refund note of an escrow `(E, price)` with refund address
/// `addr_r` in `tree` by trying every refund value a settlement can produce
/// (`refund_candidates` Poseidon hashes). Returns `(value, leaf)`, or
/// `Ok(None)` if no such note is in the tree; refuses an escrow with more
/// than `limit` candidates (returning the count).
pub fn find_refund_by_scan(
    escrow: Value,
    price: Value,
    addr_r: &Address,
    tree: &LocalTree,
    limit: u64,
) -> Result<Option<(u64, u64)>, u64> {
    let candidates = refund_candidates(escrow, price);
    if candidates > limit {
        return Err(candidates);
    }
    let values = RefundValues {
        next: Some(escrow.get()),
        step: price.get(),
    };
    for v in values {
        let cm = NoteCommitment::from_value_and_address(Value(v), addr_r);
        if let Some(leaf) = tree.find(&cm) {
            return Ok(Some((v, leaf)));
        }
    }
    Ok(None)
}

/// The recovery step of [`sync`] (§6): for each `Open` or `Closed` session
/// whose expiry is below the ledger `height` (no receipt counts any more,
/// E10) and whose refund [`scan`] did not find, try every refund value
/// ([`find_refund_by_scan`]). Sessions still usable are left to [`scan`]:
/// their receipts are in the wallet once the relay checkpoints or ends.
/// A scan is repeated only when the tree has grown since the last one.
pub fn recover_refunds(wallet: &mut Wallet, tree: &mut LocalTree, height: u64, report: &mut SyncReport) {
    let owner = wallet.spending_key().owner_key();
    let mut refunds = Vec::new();
    for s in wallet.data.sessions.iter_mut() {
        if !matches!(s.status, SessionStatus::Open | SessionStatus::Closed) || s.expiry >= height {
            continue;
        }
        let key = s.nullifier.0;
        if tree.scanned.get(&fr_to_bytes(&key)) == Some(&tree.size()) {
            continue; // nothing new since the last scan
        }
        let addr_r = Address::derive(&owner, &s.refund_rho());
        match find_refund_by_scan(
            Value(s.escrow),
            Value(s.price_per_kib),
            &addr_r,
            tree,
            MAX_SCAN_CANDIDATES,
        ) {
            Ok(Some((value, leaf))) => {
                s.status = SessionStatus::Finished;
                refunds.push(NoteRecord {
                    value,
                    rho: s.refund_rho,
                    origin: NoteOrigin::Refund,
                    status: NoteStatus::Unspent,
                    leaf: Some(leaf),
                });
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
    wallet.data.notes.extend(refunds);
}

/// The matching step of [`sync`], without I/O.
pub fn scan(wallet: &mut Wallet, tree: &LocalTree, new_leaves: u64) -> SyncReport {
    let owner = wallet.spending_key().owner_key();
    let mut report = SyncReport {
        new_leaves,
        leaves: tree.size(),
        ..SyncReport::default()
    };
    for note in wallet.data.notes.iter_mut() {
        if note.leaf.is_some() {
            continue;
        }
        let cm = NoteRecord::commitment_for(&owner, note.value, &note.rho());
        if let Some(i) = tree.find(&cm) {
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
        let addr_r = Address::derive(&owner, &s.refund_rho());
        let candidates = std::iter::once(0).chain(s.receipts_kib.iter().copied());
        for kib in candidates {
            let cm = refund_commitment(Value(s.escrow), Value(s.price_per_kib), kib, &addr_r);
            if let Some(i) = tree.find(&cm) {
                let pay = slot_pay(kib, Value(s.price_per_kib), Value(s.escrow));
                let value = s.escrow.saturating_sub(pay.get());
                s.status = SessionStatus::Finished;
                refunds.push(NoteRecord {
                    value,
                    rho: s.refund_rho,
                    origin: NoteOrigin::Refund,
                    status: NoteStatus::Unspent,
                    leaf: Some(i),
                });
                report.refunds_found.push(value);
                break;
            }
        }
    }
    wallet.data.notes.extend(refunds);
    report
}
