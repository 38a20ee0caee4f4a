//! The node's own database (redb, `node.redb` in the node directory):
//! sessions it opened and the highest receipt of each
//! (`docs/protocol.md` §9.6).
//!
//! A receipt is persisted (durably committed) before the node acknowledges
//! it, and only if it is higher than the one stored: a restart never loses
//! an acknowledged receipt and never goes back to a lower one.
//!
//! # Layout
//! * `sessions`: `session_id (32)` → `version (1) ‖ escrow (8) ‖ price (8)
//!   ‖ expiry (8) ‖ interval_kib (8) ‖ session_key (64) ‖ status (1)`,
//!   integers big-endian; status 0 = open, 1 = settled, 2 = abandoned.
//! * `receipts`: `session_id (32)` → signed receipt (137 bytes, §6).
//! * `voucher_nullifiers_v1`: `epoch (8, BE) ‖ k (32)` → empty: spent
//!   voucher nullifiers (`docs/vouchers.md` §9.3);
//! * `voucher_purchases_v1`: `session_id (32)` → `version (1) ‖
//!   SHA-256(issuance request) (32) ‖ issuance response (137)`
//!   (`docs/vouchers.md` §9.2), written in the same transaction as the
//!   session's full-credit receipt ([`NodeStore::record_purchase`]).
//!
//! Nodes before issue 9 kept the two voucher tables in a separate
//! `vouchers.redb`; [`NodeStore::import_legacy_vouchers`] moves them into
//! this database once, at start.
use std::path::{Path, PathBuf};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use veil_primitives::eddsa::VerifyingKey;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::SignedReceipt;
use veil_primitives::value::Value;
use veil_vouchers::{
    Epoch, IssuanceResponse, NullifierStore, NullifierStoreError, VoucherNullifier,
};

const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions_v1");
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts_v1");

const NULLIFIERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("voucher_nullifiers_v1");
const PURCHASES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("voucher_purchases_v1");
const PURCHASE_VERSION: u8 = 1;
const PURCHASE_BYTES: usize = 1 + 32 + IssuanceResponse::ENCODED_LEN;

/// File name of the voucher database of nodes before issue 9.
pub const LEGACY_VOUCHER_DB_FILE: &str = "vouchers.redb";
/// What [`NodeStore::import_legacy_vouchers`] renames the legacy file to.
pub const MIGRATED_VOUCHER_DB_FILE: &str = "vouchers.redb.migrated";

const RECORD_VERSION: u8 = 1;
const RECORD_BYTES: usize = 1 + 8 + 8 + 8 + 8 + 64 + 1;

/// Errors of the node database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("node database: {0}")]
    Db(#[from] redb::Error),
    /// A stored record does not decode: the file is corrupted or foreign.
    #[error("corrupted node database record: {0}")]
    Corrupted(&'static str),
    /// The legacy `vouchers.redb` and `node.redb` disagree on a purchase.
    #[error("legacy vouchers.redb conflicts with node.redb on the purchase of one session")]
    MigrationConflict,
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(redb::Error::from(e))
            }
        }
    )*};
}
from_redb!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError
);

/// Settlement status of a stored session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionStatus {
    /// Opened, not yet settled.
    Open,
    /// Settled on the ledger.
    Settled,
    /// Can no longer be settled (window closed, reclaimed); kept for audit.
    Abandoned,
}

/// A session as the node stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: SessionId,
    pub escrow: Value,
    pub price_per_kib: Value,
    pub expiry: BlockHeight,
    pub interval_kib: u64,
    pub session_key: VerifyingKey,
    pub status: SessionStatus,
}

impl SessionRecord {
    fn encode(&self) -> [u8; RECORD_BYTES] {
        let mut out = [0u8; RECORD_BYTES];
        out[0] = RECORD_VERSION;
        out[1..9].copy_from_slice(&self.escrow.0.to_be_bytes());
        out[9..17].copy_from_slice(&self.price_per_kib.0.to_be_bytes());
        out[17..25].copy_from_slice(&self.expiry.0.to_be_bytes());
        out[25..33].copy_from_slice(&self.interval_kib.to_be_bytes());
        out[33..97].copy_from_slice(&self.session_key.to_bytes());
        out[97] = match self.status {
            SessionStatus::Open => 0,
            SessionStatus::Settled => 1,
            SessionStatus::Abandoned => 2,
        };
        out
    }

    fn decode(session_id: SessionId, bytes: &[u8]) -> Result<Self, StoreError> {
        let b: &[u8; RECORD_BYTES] = bytes
            .try_into()
            .map_err(|_| StoreError::Corrupted("session record length"))?;
        if b[0] != RECORD_VERSION {
            return Err(StoreError::Corrupted("session record version"));
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let mut key = [0u8; 64];
        key.copy_from_slice(&b[33..97]);
        let session_key =
            VerifyingKey::from_bytes(&key).map_err(|_| StoreError::Corrupted("session key"))?;
        let status = match b[97] {
            0 => SessionStatus::Open,
            1 => SessionStatus::Settled,
            2 => SessionStatus::Abandoned,
            _ => return Err(StoreError::Corrupted("session status")),
        };
        Ok(Self {
            session_id,
            escrow: Value(u64_at(1)),
            price_per_kib: Value(u64_at(9)),
            expiry: BlockHeight(u64_at(17)),
            interval_kib: u64_at(25),
            session_key,
            status,
        })
    }
}

/// A voucher bought by one session (`docs/vouchers.md` §9.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// SHA-256 of the issuance request that was answered.
    pub request_digest: [u8; 32],
    /// The answer, returned again on a retry of the same request.
    pub response: IssuanceResponse,
}

impl PurchaseRecord {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PURCHASE_BYTES);
        out.push(PURCHASE_VERSION);
        out.extend_from_slice(&self.request_digest);
        out.extend_from_slice(&self.response.to_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        if bytes.len() != PURCHASE_BYTES || bytes.first() != Some(&PURCHASE_VERSION) {
            return Err(StoreError::Corrupted("purchase record layout"));
        }
        let mut request_digest = [0u8; 32];
        request_digest.copy_from_slice(bytes.get(1..33).unwrap_or_default());
        let response = IssuanceResponse::from_bytes(bytes.get(33..).unwrap_or_default())
            .map_err(|_| StoreError::Corrupted("purchase record response"))?;
        Ok(Self {
            request_digest,
            response,
        })
    }
}

fn nullifier_key(epoch: Epoch, nullifier: &VoucherNullifier) -> [u8; 40] {
    let mut key = [0u8; 40];
    key[..8].copy_from_slice(&epoch.get().to_be_bytes());
    key[8..].copy_from_slice(&nullifier.to_bytes());
    key
}

/// Stores `receipt` in `receipts` if higher than the stored one.
fn put_receipt_in(
    t: &mut redb::Table<'_, &[u8], &[u8]>,
    receipt: &SignedReceipt,
) -> Result<bool, StoreError> {
    let key = veil_primitives::field::fr_to_bytes(&receipt.receipt.session_id);
    let higher = match t.get(key.as_slice())? {
        Some(v) => {
            let old = SignedReceipt::from_bytes(v.value())
                .map_err(|_| StoreError::Corrupted("receipt"))?;
            receipt.receipt.kib > old.receipt.kib
        }
        None => true,
    };
    if higher {
        t.insert(key.as_slice(), receipt.to_bytes().as_slice())?;
    }
    Ok(higher)
}

/// The node database.
pub struct NodeStore {
    db: Database,
}

impl std::fmt::Debug for NodeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeStore").finish_non_exhaustive()
    }
}

impl NodeStore {
    /// Opens (or creates) the database at `path`. A corrupted file is an
    /// error, never silently re-initialised.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(SESSIONS)?;
        txn.open_table(RECEIPTS)?;
        txn.open_table(NULLIFIERS)?;
        txn.open_table(PURCHASES)?;
        txn.commit()?;
        Ok(Self { db })
    }

    /// Records a newly opened session (or overwrites its status).
    pub fn put_session(&self, record: &SessionRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(SESSIONS)?;
            t.insert(
                record.session_id.to_bytes().as_slice(),
                record.encode().as_slice(),
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Sets the status of the given sessions in one transaction.
    pub fn set_status(&self, ids: &[SessionId], status: SessionStatus) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(SESSIONS)?;
            for id in ids {
                let key = id.to_bytes();
                let current = match t.get(key.as_slice())? {
                    Some(v) => SessionRecord::decode(*id, v.value())?,
                    None => continue,
                };
                let updated = SessionRecord { status, ..current };
                t.insert(key.as_slice(), updated.encode().as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Stores `receipt` if it is higher than the stored one; returns whether
    /// it was stored. Durable once this returns.
    pub fn put_receipt_if_higher(&self, receipt: &SignedReceipt) -> Result<bool, StoreError> {
        let txn = self.db.begin_write()?;
        let stored = put_receipt_in(&mut txn.open_table(RECEIPTS)?, receipt)?;
        if stored {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(stored)
    }

    /// The stored record of one session, if the node ever installed it.
    pub fn session(&self, id: &SessionId) -> Result<Option<SessionRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(SESSIONS)?;
        match t.get(id.to_bytes().as_slice())? {
            Some(v) => Ok(Some(SessionRecord::decode(*id, v.value())?)),
            None => Ok(None),
        }
    }

    /// The highest stored receipt of a session.
    pub fn receipt(&self, id: &SessionId) -> Result<Option<SignedReceipt>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(RECEIPTS)?;
        match t.get(id.to_bytes().as_slice())? {
            Some(v) => Ok(Some(
                SignedReceipt::from_bytes(v.value())
                    .map_err(|_| StoreError::Corrupted("receipt"))?,
            )),
            None => Ok(None),
        }
    }

    /// Every stored session with its highest receipt.
    pub fn sessions(&self) -> Result<Vec<(SessionRecord, Option<SignedReceipt>)>, StoreError> {
        let txn = self.db.begin_read()?;
        let sessions = txn.open_table(SESSIONS)?;
        let receipts = txn.open_table(RECEIPTS)?;
        let mut out = Vec::new();
        for item in sessions.iter()? {
            let (k, v) = item?;
            let id = SessionId::from_slice(k.value())
                .map_err(|_| StoreError::Corrupted("session id"))?;
            let record = SessionRecord::decode(id, v.value())?;
            let receipt = match receipts.get(k.value())? {
                Some(r) => Some(
                    SignedReceipt::from_bytes(r.value())
                        .map_err(|_| StoreError::Corrupted("receipt"))?,
                ),
                None => None,
            };
            out.push((record, receipt));
        }
        Ok(out)
    }
}

/// Voucher tables (`docs/vouchers.md` §9).
impl NodeStore {
    /// Whether `(epoch, nullifier)` is recorded as spent.
    pub fn nullifier_spent(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(NULLIFIERS)?;
        Ok(t.get(nullifier_key(epoch, nullifier).as_slice())?.is_some())
    }

    /// Records `(epoch, nullifier)` as spent; returns whether it was fresh.
    /// One write transaction: redb serialises writers, so of concurrent
    /// inserts of one nullifier exactly one commits.
    pub fn spend_nullifier(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<bool, StoreError> {
        let key = nullifier_key(epoch, nullifier);
        let txn = self.db.begin_write()?;
        let fresh = {
            let mut t = txn.open_table(NULLIFIERS)?;
            let fresh = t.get(key.as_slice())?.is_none();
            if fresh {
                t.insert(key.as_slice(), [].as_slice())?;
            }
            fresh
        };
        if fresh {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(fresh)
    }

    /// The purchase recorded for `session_id`, if any.
    pub fn purchase(&self, session_id: &SessionId) -> Result<Option<PurchaseRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = txn.open_table(PURCHASES)?;
        t.get(session_id.to_bytes().as_slice())?
            .map(|v| PurchaseRecord::decode(v.value()))
            .transpose()
    }

    /// Records the purchase of `session_id` together with the full-credit
    /// `receipt` that paid for it, in ONE write transaction: both are
    /// stored or neither. If a purchase is already recorded, nothing is
    /// written and the recorded one is returned (at most one per session,
    /// also under concurrent requests).
    pub fn record_purchase(
        &self,
        session_id: &SessionId,
        record: &PurchaseRecord,
        receipt: &SignedReceipt,
    ) -> Result<PurchaseRecord, StoreError> {
        let key = session_id.to_bytes();
        let txn = self.db.begin_write()?;
        let existing = {
            let mut purchases = txn.open_table(PURCHASES)?;
            let existing = purchases
                .get(key.as_slice())?
                .map(|v| PurchaseRecord::decode(v.value()))
                .transpose()?;
            if existing.is_none() {
                purchases.insert(key.as_slice(), record.encode().as_slice())?;
                // An error here drops `txn` uncommitted: no purchase either.
                put_receipt_in(&mut txn.open_table(RECEIPTS)?, receipt)?;
            }
            existing
        };
        match existing {
            Some(existing) => {
                txn.abort()?;
                Ok(existing)
            }
            None => {
                txn.commit()?;
                Ok(record.clone())
            }
        }
    }

    /// Moves the voucher tables of a pre-issue-9 `vouchers.redb` in `dir`
    /// into this database (one transaction), then renames the file to
    /// [`MIGRATED_VOUCHER_DB_FILE`]. Returns whether a file was imported.
    /// Idempotent: a crash before the rename imports the same rows again.
    /// A purchase recorded differently in both files is refused.
    pub fn import_legacy_vouchers(&self, dir: &Path) -> Result<bool, StoreError> {
        let legacy_path = dir.join(LEGACY_VOUCHER_DB_FILE);
        if !legacy_path.exists() {
            return Ok(false);
        }
        let legacy = Database::open(&legacy_path)?;
        let read = legacy.begin_read()?;
        let txn = self.db.begin_write()?;
        {
            copy_nullifiers(&read, &mut txn.open_table(NULLIFIERS)?)?;
            copy_purchases(&read, &mut txn.open_table(PURCHASES)?)?;
        }
        txn.commit()?;
        drop(read);
        drop(legacy);
        let migrated: PathBuf = dir.join(MIGRATED_VOUCHER_DB_FILE);
        std::fs::rename(&legacy_path, migrated)?;
        Ok(true)
    }
}

fn copy_nullifiers(
    from: &redb::ReadTransaction,
    to: &mut redb::Table<'_, &[u8], &[u8]>,
) -> Result<(), StoreError> {
    let t = match from.open_table(NULLIFIERS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for item in t.iter()? {
        let (k, _) = item?;
        if k.value().len() != 40 {
            return Err(StoreError::Corrupted("legacy voucher nullifier"));
        }
        to.insert(k.value(), [].as_slice())?;
    }
    Ok(())
}

fn copy_purchases(
    from: &redb::ReadTransaction,
    to: &mut redb::Table<'_, &[u8], &[u8]>,
) -> Result<(), StoreError> {
    let t = match from.open_table(PURCHASES) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for item in t.iter()? {
        let (k, v) = item?;
        SessionId::from_slice(k.value()).map_err(|_| StoreError::Corrupted("legacy session id"))?;
        let record = PurchaseRecord::decode(v.value())?;
        let existing = to
            .get(k.value())?
            .map(|e| PurchaseRecord::decode(e.value()))
            .transpose()?;
        match existing {
            Some(e) if e != record => return Err(StoreError::MigrationConflict),
            Some(_) => {}
            None => {
                to.insert(k.value(), record.encode().as_slice())?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
impl NodeStore {
    /// Writes raw bytes as the stored receipt of `id` (corruption tests).
    pub(crate) fn put_raw_receipt(&self, id: &SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(RECEIPTS)?
            .insert(id.to_bytes().as_slice(), bytes)?;
        txn.commit()?;
        Ok(())
    }
}

/// The spent-nullifier set of the voucher issuer, in the node database.
#[derive(Debug, Clone)]
pub struct NodeNullifiers(pub std::sync::Arc<NodeStore>);

impl NullifierStore for NodeNullifiers {
    fn insert_if_absent(
        &self,
        epoch: Epoch,
        nullifier: &VoucherNullifier,
    ) -> Result<(), NullifierStoreError> {
        match self.0.spend_nullifier(epoch, nullifier) {
            Ok(true) => Ok(()),
            Ok(false) => Err(NullifierStoreError::AlreadySpent),
            Err(e) => Err(NullifierStoreError::Backend(Box::new(e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_primitives::eddsa::SigningKey;
    use veil_primitives::receipt::Receipt;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32]).unwrap()
    }

    fn record(sk: &SigningKey, id: SessionId) -> SessionRecord {
        SessionRecord {
            session_id: id,
            escrow: Value(1000),
            price_per_kib: Value(2),
            expiry: BlockHeight(99),
            interval_kib: 64,
            session_key: sk.verifying_key(),
            status: SessionStatus::Open,
        }
    }

    #[test]
    fn receipts_survive_reopen_and_never_go_down() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        let sk = key(3);
        let id = SessionId::from_fr(veil_primitives::field::fr_from_u64(42));
        let r = |kib| {
            Receipt {
                session_id: id.inner(),
                kib,
            }
            .sign(&sk)
        };
        {
            let store = NodeStore::open(&path).unwrap();
            store.put_session(&record(&sk, id)).unwrap();
            assert!(store.put_receipt_if_higher(&r(10)).unwrap());
            assert!(store.put_receipt_if_higher(&r(20)).unwrap());
            assert!(!store.put_receipt_if_higher(&r(15)).unwrap());
            assert!(!store.put_receipt_if_higher(&r(20)).unwrap());
        }
        let store = NodeStore::open(&path).unwrap();
        assert_eq!(store.receipt(&id).unwrap().map(|r| r.receipt.kib), Some(20));
        let all = store.sessions().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, record(&sk, id));
        store.set_status(&[id], SessionStatus::Settled).unwrap();
        assert_eq!(
            store.sessions().unwrap()[0].0.status,
            SessionStatus::Settled
        );
    }

    #[test]
    fn corrupted_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        std::fs::write(&path, b"definitely not a redb file, just some bytes here").unwrap();
        assert!(NodeStore::open(&path).is_err());
    }

    #[test]
    fn corrupted_purchase_record_is_an_error() {
        assert!(PurchaseRecord::decode(&[1, 2, 3]).is_err());
        let mut bytes = vec![0u8; PURCHASE_BYTES];
        assert!(PurchaseRecord::decode(&bytes).is_err());
        bytes[0] = PURCHASE_VERSION;
        assert!(PurchaseRecord::decode(&bytes).is_err());
    }

    proptest::proptest! {
        /// Stored purchase records never panic the decoder; only the exact
        /// length can decode.
        #[test]
        fn purchase_decoder_never_panics(
            record in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            if PurchaseRecord::decode(&record).is_ok() {
                proptest::prop_assert_eq!(record.len(), PURCHASE_BYTES);
            }
        }
    }
}
