//! Sync of the ledger's commitment stream into a local tree, discovery of
//! the wallet's notes, change and refunds (`docs/protocol.md` §2.4, §6).
//!
//! The wallet never tells the ledger which commitments it looks for: it
//! downloads every commitment in leaf order and recomputes its own.

use std::collections::HashMap;

use veil_circuits::settle::{refund_commitment, slot_pay};
use veil_ledger::LedgerApi;
use veil_ledger::api::MAX_COMMITMENT_PAGE;
use veil_primitives::field::FR_BYTES;
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
/// Saves the wallet if anything changed.
pub async fn sync<L: LedgerApi>(
    ledger: &L,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
) -> Result<SyncReport, ClientError> {
    let new_leaves = tree.catch_up(ledger).await?;
    let report = scan(wallet, tree, new_leaves);
    wallet.data.synced_leaves = tree.size();
    wallet.save()?;
    Ok(report)
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
