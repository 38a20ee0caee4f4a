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
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use veil_primitives::eddsa::VerifyingKey;
use veil_primitives::ids::{BlockHeight, SessionId};
use veil_primitives::receipt::SignedReceipt;
use veil_primitives::value::Value;

const SESSIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sessions_v1");
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("receipts_v1");

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

/// The node database.
pub struct NodeStore {
    db: Database,
}

impl NodeStore {
    /// Opens (or creates) the database at `path`. A corrupted file is an
    /// error, never silently re-initialised.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(SESSIONS)?;
        txn.open_table(RECEIPTS)?;
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
        let key = veil_primitives::field::fr_to_bytes(&receipt.receipt.session_id);
        let txn = self.db.begin_write()?;
        let stored = {
            let mut t = txn.open_table(RECEIPTS)?;
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
            higher
        };
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
}
