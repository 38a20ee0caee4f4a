//! The redb store: opening (refusing corrupt or foreign files), snapshot
//! reads and one durable write transaction per batch of operations.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};
use veil_primitives::merkle::{Frontier, RootHistory};

use crate::error::LedgerError;
use crate::schema::*;
use crate::types::{
    AccountId, BlockHeight, Escrow, NodeId, NodeRecord, NoteCommitment, Nullifier, SessionId, Value,
};

/// A ledger database. Writes are serialised by the caller (one writer).
pub struct Store {
    db: Database,
    poisoned: AtomicBool,
}

impl Store {
    /// Opens an existing ledger, or creates one if `path` does not exist.
    /// An existing file that is not a complete veil ledger of this schema
    /// version is refused with [`LedgerError::Corrupted`]; it is never
    /// re-initialised (adversarial D8).
    pub fn open_or_create(path: &Path) -> Result<Self, LedgerError> {
        if path.exists() {
            Self::open(path)
        } else {
            let db = Database::create(path)?;
            Self::init(db)
        }
    }

    /// Opens an existing ledger; refuses anything else (D8).
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let db = Database::open(path).map_err(|e| {
            LedgerError::Corrupted(format!(
                "{}: not a readable ledger database: {e}",
                path.display()
            ))
        })?;
        let store = Self {
            db,
            poisoned: AtomicBool::new(false),
        };
        store.check_schema()?;
        Ok(store)
    }

    /// A fresh ledger in memory (tests, the embedded demo).
    pub fn in_memory() -> Result<Self, LedgerError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db)
    }

    /// A fresh ledger over a caller-supplied redb backend (fault injection
    /// in tests: adversarial D4; other storage in embedders). The backend
    /// must be empty.
    pub fn create_with_backend(backend: impl redb::StorageBackend) -> Result<Self, LedgerError> {
        let db = Database::builder().create_with_backend(backend)?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self, LedgerError> {
        let store = Self {
            db,
            poisoned: AtomicBool::new(false),
        };
        let tx = store.db.begin_write()?;
        {
            let w = WriteState { tx: &tx };
            let mut meta = tx.open_table(META)?;
            meta.insert(META_SCHEMA_VERSION, encode_u32(SCHEMA_VERSION).as_slice())?;
            drop(meta);
            let frontier = Frontier::default();
            let mut roots = RootHistory::default();
            roots.push(frontier.root());
            w.set_height(BlockHeight(0))?;
            w.set_totals(&Totals::default())?;
            w.set_frontier(&frontier)?;
            w.set_roots(&roots)?;
            for t in [NULLIFIERS, DEPOSITS, ESCROWS, NODES, SETTLEMENTS] {
                tx.open_table(t)?;
            }
            tx.open_table(COMMITMENTS)?;
            tx.open_table(ACCOUNTS)?;
            tx.open_table(NONCES)?;
        }
        tx.commit()?;
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), LedgerError> {
        let r = self.read()?;
        let version = r
            .meta(META_SCHEMA_VERSION)
            .map_err(|e| {
                LedgerError::Corrupted(format!("no schema version record ({e}): not a veil ledger"))
            })?
            .ok_or_else(|| {
                LedgerError::Corrupted(
                    "no schema version record: not a veil ledger (refusing to initialise over it)"
                        .into(),
                )
            })?;
        let v = decode_u32(&version, "schema version")?;
        if v != SCHEMA_VERSION {
            return Err(LedgerError::Corrupted(format!(
                "schema version {v}, this build reads {SCHEMA_VERSION}"
            )));
        }
        // Every singleton must decode.
        r.height()?;
        r.totals()?;
        r.frontier()?;
        r.roots()?;
        Ok(())
    }

    /// A consistent snapshot (adversarial D12).
    pub fn read(&self) -> Result<ReadState, LedgerError> {
        Ok(ReadState {
            tx: self.db.begin_read()?,
        })
    }

    /// Runs `f` in one write transaction and commits it durably. If the
    /// commit fails the store is poisoned: every later write is refused
    /// (fail closed, adversarial D4). `f` decides per operation; a failed
    /// operation must not have written anything.
    pub fn write<R>(
        &self,
        f: impl FnOnce(&WriteState<'_>) -> Result<R, LedgerError>,
    ) -> Result<R, LedgerError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(LedgerError::Poisoned);
        }
        let result = (|| {
            let tx = self.db.begin_write()?;
            let out = f(&WriteState { tx: &tx })?;
            tx.commit()?;
            Ok(out)
        })();
        if let Err(LedgerError::Storage(_) | LedgerError::Corrupted(_)) = &result {
            self.poisoned.store(true, Ordering::SeqCst);
        }
        result
    }

    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::SeqCst)
    }
}

/// Read access to ledger state, the same over a snapshot and inside a write.
pub trait StateRead {
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError>;
    fn nullifier(&self, nf: &Nullifier) -> Result<Option<NullifierUse>, LedgerError>;
    fn escrow(&self, id: &SessionId) -> Result<Option<Escrow>, LedgerError>;
    fn node(&self, id: &NodeId) -> Result<Option<NodeRecord>, LedgerError>;
    fn account(&self, a: &AccountId) -> Result<Value, LedgerError>;
    /// The nonce the account's next signed operation must carry (§8.3).
    fn account_nonce(&self, a: &AccountId) -> Result<u64, LedgerError>;
    fn deposit(&self, cm: &NoteCommitment) -> Result<Option<DepositRecord>, LedgerError>;
    fn settlement(&self, batch: &SessionId) -> Result<Option<SettlementRecord>, LedgerError>;
    fn commitments(&self, from: u64, limit: u64) -> Result<Vec<NoteCommitment>, LedgerError>;

    fn height(&self) -> Result<BlockHeight, LedgerError> {
        let b = self
            .meta(META_HEIGHT)?
            .ok_or_else(|| LedgerError::Corrupted("missing height".into()))?;
        Ok(BlockHeight(decode_u64(&b, "height")?))
    }
    fn totals(&self) -> Result<Totals, LedgerError> {
        let b = self
            .meta(META_TOTALS)?
            .ok_or_else(|| LedgerError::Corrupted("missing totals".into()))?;
        Totals::decode(&b)
    }
    fn frontier(&self) -> Result<Frontier, LedgerError> {
        let b = self
            .meta(META_FRONTIER)?
            .ok_or_else(|| LedgerError::Corrupted("missing frontier".into()))?;
        Frontier::from_bytes(&b)
            .map_err(|_| LedgerError::Corrupted("malformed frontier record".into()))
    }
    fn roots(&self) -> Result<RootHistory, LedgerError> {
        let b = self
            .meta(META_ROOTS)?
            .ok_or_else(|| LedgerError::Corrupted("missing root history".into()))?;
        RootHistory::from_bytes(&b)
            .map_err(|_| LedgerError::Corrupted("malformed roots record".into()))
    }
}

macro_rules! impl_state_read {
    ($t:ty) => {
        impl StateRead for $t {
            fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
                let t = self.tx.open_table(META)?;
                Ok(t.get(key)?.map(|g| g.value().to_vec()))
            }
            fn nullifier(&self, nf: &Nullifier) -> Result<Option<NullifierUse>, LedgerError> {
                let t = self.tx.open_table(NULLIFIERS)?;
                t.get(FieldKey::from(nf).bytes())?
                    .map(|g| NullifierUse::decode(g.value()))
                    .transpose()
            }
            fn escrow(&self, id: &SessionId) -> Result<Option<Escrow>, LedgerError> {
                let t = self.tx.open_table(ESCROWS)?;
                t.get(FieldKey::from(id).bytes())?
                    .map(|g| decode_escrow(g.value()))
                    .transpose()
            }
            fn node(&self, id: &NodeId) -> Result<Option<NodeRecord>, LedgerError> {
                let t = self.tx.open_table(NODES)?;
                t.get(FieldKey::from(id).bytes())?
                    .map(|g| decode_node(g.value()))
                    .transpose()
            }
            fn account(&self, a: &AccountId) -> Result<Value, LedgerError> {
                let t = self.tx.open_table(ACCOUNTS)?;
                Ok(Value(
                    t.get(FieldKey::from(a).bytes())?
                        .map(|g| g.value())
                        .unwrap_or(0),
                ))
            }
            fn account_nonce(&self, a: &AccountId) -> Result<u64, LedgerError> {
                let t = self.tx.open_table(NONCES)?;
                Ok(t.get(FieldKey::from(a).bytes())?
                    .map(|g| g.value())
                    .unwrap_or(0))
            }
            fn deposit(&self, cm: &NoteCommitment) -> Result<Option<DepositRecord>, LedgerError> {
                let t = self.tx.open_table(DEPOSITS)?;
                t.get(FieldKey::from(cm).bytes())?
                    .map(|g| DepositRecord::decode(g.value()))
                    .transpose()
            }
            fn settlement(
                &self,
                batch: &SessionId,
            ) -> Result<Option<SettlementRecord>, LedgerError> {
                let t = self.tx.open_table(SETTLEMENTS)?;
                t.get(FieldKey::from(batch).bytes())?
                    .map(|g| SettlementRecord::decode(g.value()))
                    .transpose()
            }
            fn commitments(
                &self,
                from: u64,
                limit: u64,
            ) -> Result<Vec<NoteCommitment>, LedgerError> {
                let t = self.tx.open_table(COMMITMENTS)?;
                let mut out = Vec::new();
                for item in t.range(from..from.saturating_add(limit))? {
                    let (_, v) = item?;
                    out.push(NoteCommitment::from_bytes(&v.value()).map_err(|_| {
                        LedgerError::Corrupted("non-canonical commitment in the tree".into())
                    })?);
                }
                Ok(out)
            }
        }
    };
}

/// A read snapshot.
pub struct ReadState {
    tx: ReadTransaction,
}

/// Writes inside one transaction.
pub struct WriteState<'a> {
    tx: &'a WriteTransaction,
}

impl_state_read!(ReadState);
impl_state_read!(WriteState<'_>);

impl WriteState<'_> {
    fn put_meta(&self, key: &str, v: &[u8]) -> Result<(), LedgerError> {
        self.tx.open_table(META)?.insert(key, v)?;
        Ok(())
    }
    pub fn set_height(&self, h: BlockHeight) -> Result<(), LedgerError> {
        self.put_meta(META_HEIGHT, &encode_u64(h.0))
    }
    pub fn set_totals(&self, t: &Totals) -> Result<(), LedgerError> {
        self.put_meta(META_TOTALS, &t.encode())
    }
    pub fn set_frontier(&self, f: &Frontier) -> Result<(), LedgerError> {
        self.put_meta(META_FRONTIER, &f.to_bytes())
    }
    pub fn set_roots(&self, r: &RootHistory) -> Result<(), LedgerError> {
        self.put_meta(META_ROOTS, &r.to_bytes())
    }
    pub fn put_nullifier(&self, nf: &Nullifier, u: &NullifierUse) -> Result<(), LedgerError> {
        self.tx
            .open_table(NULLIFIERS)?
            .insert(FieldKey::from(nf).bytes(), u.encode().as_slice())?;
        Ok(())
    }
    pub fn put_escrow(&self, e: &Escrow) -> Result<(), LedgerError> {
        self.tx.open_table(ESCROWS)?.insert(
            FieldKey::from(&e.session_id).bytes(),
            encode_escrow(e).as_slice(),
        )?;
        Ok(())
    }
    pub fn put_node(&self, n: &NodeRecord) -> Result<(), LedgerError> {
        self.tx.open_table(NODES)?.insert(
            FieldKey::from(&n.registration.node_id).bytes(),
            encode_node(n).as_slice(),
        )?;
        Ok(())
    }
    pub fn set_account(&self, a: &AccountId, v: Value) -> Result<(), LedgerError> {
        self.tx
            .open_table(ACCOUNTS)?
            .insert(FieldKey::from(a).bytes(), v.0)?;
        Ok(())
    }
    /// Consumes `nonce`, which the caller checked is the account's next (§8.3).
    pub fn bump_account_nonce(&self, a: &AccountId, nonce: u64) -> Result<(), LedgerError> {
        let next = nonce.checked_add(1).ok_or(LedgerError::Overflow)?;
        self.tx
            .open_table(NONCES)?
            .insert(FieldKey::from(a).bytes(), next)?;
        Ok(())
    }
    pub fn put_deposit(&self, cm: &NoteCommitment, d: &DepositRecord) -> Result<(), LedgerError> {
        self.tx
            .open_table(DEPOSITS)?
            .insert(FieldKey::from(cm).bytes(), d.encode().as_slice())?;
        Ok(())
    }
    pub fn put_settlement(
        &self,
        batch: &SessionId,
        s: &SettlementRecord,
    ) -> Result<(), LedgerError> {
        self.tx
            .open_table(SETTLEMENTS)?
            .insert(FieldKey::from(batch).bytes(), s.encode().as_slice())?;
        Ok(())
    }
    /// Appends commitments to the tree, the leaf table and the root history.
    /// Returns the index of the first.
    pub fn append(&self, cms: &[NoteCommitment]) -> Result<u64, LedgerError> {
        let mut f = self.frontier()?;
        let mut roots = self.roots()?;
        let first = f.size();
        let mut leaves = self.tx.open_table(COMMITMENTS)?;
        for cm in cms {
            let i = f
                .append(*cm)
                .map_err(|_| LedgerError::InvalidArgument("commitment tree is full"))?;
            leaves.insert(i.get(), cm.to_bytes())?;
        }
        drop(leaves);
        roots.push(f.root());
        self.set_frontier(&f)?;
        self.set_roots(&roots)?;
        Ok(first)
    }
}

/// Iterates a whole table (audit only).
pub(crate) fn scan<K, V>(
    r: &ReadState,
    def: redb::TableDefinition<K, V>,
    mut f: impl FnMut(K::SelfType<'_>, V::SelfType<'_>) -> Result<(), LedgerError>,
) -> Result<(), LedgerError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let t = r.tx.open_table(def)?;
    for item in t.iter()? {
        let (k, v) = item?;
        f(k.value(), v.value())?;
    }
    Ok(())
}
