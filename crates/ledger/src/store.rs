//! The redb store: opening (refusing corrupt or foreign files), snapshot
//! reads and one durable write transaction per batch of operations.

use std::path::Path;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::{Histogram, HistogramOpts};
use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, WriteTransaction,
};
use veil_market::curve::Curve;
use veil_primitives::merkle::{Frontier, RootHistory};

use crate::challenge::{ChallengeKey, ChallengeRecord};
use crate::error::LedgerError;
use crate::machine;
use crate::monitor::{AuditSeeds, MonitorRecord, StoredReport};
use crate::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use crate::schema::*;
use crate::state::{StateRead, StateWrite};
use crate::trade::{Tokens, TradeReceipt};
use crate::types::{
    AccountId, BlockHeight, Escrow, NodeId, NodeRecord, NoteCommitment, Nullifier, SessionId, Value,
};

// redb errors: `Corrupted` stays corruption, anything else is storage.
impl From<redb::Error> for LedgerError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Corrupted(m) => LedgerError::Corrupted(m),
            other => LedgerError::Storage(other.to_string()),
        }
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self {
                LedgerError::from(redb::Error::from(e))
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

/// Buckets (seconds) of one durable commit (fsync): 0.1 ms to 2.5 s.
const COMMIT_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5,
];

/// The store's durable commits, timed where [`Store::write`] commits, and
/// registered by the ledger's metrics (`crate::metrics`).
/// Process-wide: a process runs one ledger (two in one test process share it).
pub(crate) static COMMIT_SECONDS: LazyLock<Histogram> = LazyLock::new(|| {
    let o = HistogramOpts::new(
        "veil_ledger_store_commit_seconds",
        "Time of one durable store commit (a group of operations).",
    )
    .buckets(COMMIT_BUCKETS.to_vec());
    #[allow(clippy::expect_used)]
    Histogram::with_opts(o).expect("a valid constant metric")
});

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
            let mut w = WriteState { tx: &tx };
            w.put_meta(META_SCHEMA_VERSION, &encode_u32(SCHEMA_VERSION))?;
            machine::genesis(&mut w)?;
            for t in [NULLIFIERS, DEPOSITS, ESCROWS, NODES, SETTLEMENTS] {
                tx.open_table(t)?;
            }
            tx.open_table(COMMITMENTS)?;
            tx.open_table(ACCOUNTS)?;
            tx.open_table(NONCES)?;
            tx.open_table(TOKENS)?;
            tx.open_table(TRADES)?;
            tx.open_table(MONITORS)?;
            tx.open_table(REPORTS)?;
            tx.open_table(CHALLENGES)?;
            tx.open_table(CHALLENGES_DUE)?;
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
        r.curve()?;
        r.epoch_escrowed()?;
        r.audit_seeds()?;
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
        f: impl FnOnce(&mut WriteState<'_>) -> Result<R, LedgerError>,
    ) -> Result<R, LedgerError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(LedgerError::Poisoned);
        }
        let result = (|| {
            let tx = self.db.begin_write()?;
            let out = f(&mut WriteState { tx: &tx })?;
            let started = std::time::Instant::now();
            tx.commit()?;
            COMMIT_SECONDS.observe(started.elapsed().as_secs_f64());
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

macro_rules! impl_state_read {
    ($t:ty) => {
        impl $t {
            /// A raw `meta` record.
            pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, LedgerError> {
                let t = self.tx.open_table(META)?;
                Ok(t.get(key)?.map(|g| g.value().to_vec()))
            }

            fn meta_record(&self, key: &str, what: &str) -> Result<Vec<u8>, LedgerError> {
                self.meta(key)?
                    .ok_or_else(|| LedgerError::Corrupted(format!("missing {what}")))
            }
        }

        impl StateRead for $t {
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
            fn height(&self) -> Result<BlockHeight, LedgerError> {
                let b = self.meta_record(META_HEIGHT, "height")?;
                Ok(BlockHeight(decode_u64(&b, "height")?))
            }
            fn totals(&self) -> Result<Totals, LedgerError> {
                Totals::decode(&self.meta_record(META_TOTALS, "totals")?)
            }
            fn frontier(&self) -> Result<Frontier, LedgerError> {
                Frontier::from_bytes(&self.meta_record(META_FRONTIER, "frontier")?)
                    .map_err(|_| LedgerError::Corrupted("malformed frontier record".into()))
            }
            fn roots(&self) -> Result<RootHistory, LedgerError> {
                RootHistory::from_bytes(&self.meta_record(META_ROOTS, "root history")?)
                    .map_err(|_| LedgerError::Corrupted("malformed roots record".into()))
            }
            fn curve(&self) -> Result<Curve, LedgerError> {
                decode_curve(&self.meta_record(META_CURVE, "curve")?)
            }
            fn epoch_escrowed(&self) -> Result<u64, LedgerError> {
                let b = self.meta_record(META_EPOCH_ESCROWED, "epoch demand")?;
                decode_u64(&b, "epoch demand")
            }
            fn monitor(&self, a: &AccountId) -> Result<Option<MonitorRecord>, LedgerError> {
                let t = self.tx.open_table(MONITORS)?;
                t.get(FieldKey::from(a).bytes())?
                    .map(|g| decode_monitor(g.value()))
                    .transpose()
            }
            fn monitors(&self) -> Result<Vec<MonitorRecord>, LedgerError> {
                let t = self.tx.open_table(MONITORS)?;
                t.iter()?
                    .map(|item| decode_monitor(item?.1.value()))
                    .collect()
            }
            fn report(
                &self,
                epoch: u64,
                node: &NodeId,
                monitor: &AccountId,
            ) -> Result<Option<StoredReport>, LedgerError> {
                let t = self.tx.open_table(REPORTS)?;
                let key = (
                    epoch,
                    FieldKey::from(node).bytes(),
                    FieldKey::from(monitor).bytes(),
                );
                t.get(key)?.map(|g| decode_report(g.value())).transpose()
            }
            fn reports(
                &self,
                epoch: u64,
            ) -> Result<Vec<(NodeId, AccountId, StoredReport)>, LedgerError> {
                let t = self.tx.open_table(REPORTS)?;
                let corrupt = |_| LedgerError::Corrupted("report key".into());
                let mut out = Vec::new();
                for item in
                    t.range((epoch, [0u8; 32], [0u8; 32])..=(epoch, [0xff; 32], [0xff; 32]))?
                {
                    let (k, v) = item?;
                    let (_, n, m) = k.value();
                    out.push((
                        NodeId::from_bytes(&n).map_err(corrupt)?,
                        AccountId::from_bytes(&m).map_err(corrupt)?,
                        decode_report(v.value())?,
                    ));
                }
                Ok(out)
            }
            fn audit_seeds(&self) -> Result<AuditSeeds, LedgerError> {
                decode_seeds(&self.meta_record(META_AUDIT_SEEDS, "audit seeds")?)
            }
            fn challenge(&self, k: &ChallengeKey) -> Result<Option<ChallengeRecord>, LedgerError> {
                let t = self.tx.open_table(CHALLENGES)?;
                t.get(challenge_key(k))?
                    .map(|g| decode_challenge(*k, g.value()))
                    .transpose()
            }
            fn challenges_of(
                &self,
                node: &NodeId,
                from_epoch: u64,
            ) -> Result<Vec<ChallengeRecord>, LedgerError> {
                let t = self.tx.open_table(CHALLENGES)?;
                let n = FieldKey::from(node).bytes();
                let mut out = Vec::new();
                for item in t.range((n, from_epoch, [0u8; 32])..=(n, u64::MAX, [0xff; 32]))? {
                    let (k, v) = item?;
                    out.push(decode_challenge(challenge_key_from(k.value())?, v.value())?);
                }
                Ok(out)
            }
            fn challenges_due(
                &self,
                before: BlockHeight,
            ) -> Result<Vec<ChallengeKey>, LedgerError> {
                let t = self.tx.open_table(CHALLENGES_DUE)?;
                let mut out = Vec::new();
                for item in t.range(..(before.0, [0u8; 32], 0, [0u8; 32]))? {
                    let (_, n, e, m) = item?.0.value();
                    out.push(challenge_key_from((n, e, m))?);
                }
                Ok(out)
            }
            fn tokens(&self, a: &AccountId) -> Result<Tokens, LedgerError> {
                let t = self.tx.open_table(TOKENS)?;
                Ok(Tokens(
                    t.get(FieldKey::from(a).bytes())?
                        .map(|g| g.value())
                        .unwrap_or(0),
                ))
            }
            fn trade(
                &self,
                a: &AccountId,
                nonce: u64,
            ) -> Result<Option<TradeReceipt>, LedgerError> {
                let t = self.tx.open_table(TRADES)?;
                t.get((FieldKey::from(a).bytes(), nonce))?
                    .map(|g| decode_trade(g.value()))
                    .transpose()
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

impl ReadState {
    /// Up to `limit` node records after `start_after`, in key order
    /// (`LedgerApi::list_nodes`, §8.3.10).
    pub fn nodes_after(
        &self,
        start_after: Option<&NodeId>,
        limit: usize,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        use std::ops::Bound;
        let t = self.tx.open_table(NODES)?;
        let from = start_after.map(|id| FieldKey::from(id).bytes());
        let lower = from.as_ref().map_or(Bound::Unbounded, Bound::Excluded);
        t.range::<&[u8; 32]>((lower, Bound::Unbounded))?
            .take(limit)
            .map(|entry| decode_node(entry?.1.value()))
            .collect()
    }
}
impl_state_read!(WriteState<'_>);

impl WriteState<'_> {
    fn put_meta(&mut self, key: &str, v: &[u8]) -> Result<(), LedgerError> {
        self.tx.open_table(META)?.insert(key, v)?;
        Ok(())
    }
    fn put_field_keyed(
        &mut self,
        table: TableDefinition<[u8; 32], &[u8]>,
        key: FieldKey,
        v: &[u8],
    ) -> Result<(), LedgerError> {
        self.tx.open_table(table)?.insert(key.bytes(), v)?;
        Ok(())
    }
}

impl StateWrite for WriteState<'_> {
    fn set_height(&mut self, h: BlockHeight) -> Result<(), LedgerError> {
        self.put_meta(META_HEIGHT, &encode_u64(h.0))
    }
    fn set_totals(&mut self, t: &Totals) -> Result<(), LedgerError> {
        self.put_meta(META_TOTALS, &t.encode())
    }
    fn set_frontier(&mut self, f: &Frontier) -> Result<(), LedgerError> {
        self.put_meta(META_FRONTIER, &f.to_bytes())
    }
    fn set_roots(&mut self, r: &RootHistory) -> Result<(), LedgerError> {
        self.put_meta(META_ROOTS, &r.to_bytes())
    }
    fn put_commitment(&mut self, index: u64, cm: &NoteCommitment) -> Result<(), LedgerError> {
        self.tx
            .open_table(COMMITMENTS)?
            .insert(index, cm.to_bytes())?;
        Ok(())
    }
    fn put_nullifier(&mut self, nf: &Nullifier, u: &NullifierUse) -> Result<(), LedgerError> {
        self.put_field_keyed(NULLIFIERS, FieldKey::from(nf), &u.encode())
    }
    fn put_escrow(&mut self, e: &Escrow) -> Result<(), LedgerError> {
        self.put_field_keyed(ESCROWS, FieldKey::from(&e.session_id), &encode_escrow(e))
    }
    fn put_node(&mut self, n: &NodeRecord) -> Result<(), LedgerError> {
        let key = FieldKey::from(&n.registration.node_id);
        self.put_field_keyed(NODES, key, &encode_node(n))
    }
    fn set_account(&mut self, a: &AccountId, v: Value) -> Result<(), LedgerError> {
        self.tx
            .open_table(ACCOUNTS)?
            .insert(FieldKey::from(a).bytes(), v.0)?;
        Ok(())
    }
    fn set_account_nonce(&mut self, a: &AccountId, next: u64) -> Result<(), LedgerError> {
        self.tx
            .open_table(NONCES)?
            .insert(FieldKey::from(a).bytes(), next)?;
        Ok(())
    }
    fn put_deposit(&mut self, cm: &NoteCommitment, d: &DepositRecord) -> Result<(), LedgerError> {
        self.put_field_keyed(DEPOSITS, FieldKey::from(cm), &d.encode())
    }
    fn put_settlement(
        &mut self,
        batch: &SessionId,
        s: &SettlementRecord,
    ) -> Result<(), LedgerError> {
        self.put_field_keyed(SETTLEMENTS, FieldKey::from(batch), &s.encode())
    }
    fn set_curve(&mut self, c: &Curve) -> Result<(), LedgerError> {
        self.put_meta(META_CURVE, &encode_curve(c))
    }
    fn set_epoch_escrowed(&mut self, v: u64) -> Result<(), LedgerError> {
        self.put_meta(META_EPOCH_ESCROWED, &encode_u64(v))
    }
    fn set_tokens(&mut self, a: &AccountId, t: Tokens) -> Result<(), LedgerError> {
        self.tx
            .open_table(TOKENS)?
            .insert(FieldKey::from(a).bytes(), t.0)?;
        Ok(())
    }
    fn put_monitor(&mut self, m: &MonitorRecord) -> Result<(), LedgerError> {
        self.put_field_keyed(MONITORS, FieldKey::from(&m.account), &encode_monitor(m))
    }
    fn put_report(
        &mut self,
        epoch: u64,
        node: &NodeId,
        monitor: &AccountId,
        r: &StoredReport,
    ) -> Result<(), LedgerError> {
        let key = (
            epoch,
            FieldKey::from(node).bytes(),
            FieldKey::from(monitor).bytes(),
        );
        self.tx
            .open_table(REPORTS)?
            .insert(key, encode_report(r).as_slice())?;
        Ok(())
    }
    fn set_audit_seeds(&mut self, s: &AuditSeeds) -> Result<(), LedgerError> {
        self.put_meta(META_AUDIT_SEEDS, &encode_seeds(s))
    }
    fn put_challenge(&mut self, c: &ChallengeRecord) -> Result<(), LedgerError> {
        let (n, e, m) = challenge_key(&c.key);
        let mut due = self.tx.open_table(CHALLENGES_DUE)?;
        if c.is_open() {
            due.insert((c.deadline.0, n, e, m), ())?;
        } else {
            due.remove((c.deadline.0, n, e, m))?;
        }
        drop(due);
        self.tx
            .open_table(CHALLENGES)?
            .insert((n, e, m), encode_challenge(c).as_slice())?;
        Ok(())
    }
    fn put_trade(&mut self, a: &AccountId, t: &TradeReceipt) -> Result<(), LedgerError> {
        self.tx.open_table(TRADES)?.insert(
            (FieldKey::from(a).bytes(), t.nonce),
            encode_trade(t).as_slice(),
        )?;
        Ok(())
    }
}

/// The rows of a table (redb keeps each table's length: O(1); metrics).
pub(crate) fn table_len<K, V>(
    r: &ReadState,
    def: redb::TableDefinition<K, V>,
) -> Result<u64, LedgerError>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    Ok(r.tx.open_table(def)?.len()?)
}

/// Iterates a whole table (audit and the metrics' open escrows).
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
