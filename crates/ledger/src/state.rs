//! The state the machine reads and writes (docs/ledger.md "Layers"): two
//! traits over typed records, implemented by the redb store (`store`,
//! feature `server`) and by [`crate::memory::MemState`]. The machine sees
//! nothing else of storage.

use veil_primitives::merkle::{Frontier, RootHistory};

use veil_market::curve::Curve;

use crate::challenge::{ChallengeKey, ChallengeRecord};
use crate::error::LedgerError;
use crate::monitor::{AuditSeeds, MonitorRecord, StoredReport};
use crate::records::{DepositRecord, NullifierUse, SettlementRecord, Totals};
use crate::trade::{Tokens, TradeReceipt};
use crate::types::{
    AccountId, BlockHeight, Escrow, NodeId, NodeRecord, NoteCommitment, Nullifier, SessionId, Value,
};

/// Read access to ledger state, the same over a snapshot and inside a write.
pub trait StateRead {
    fn nullifier(&self, nf: &Nullifier) -> Result<Option<NullifierUse>, LedgerError>;
    fn escrow(&self, id: &SessionId) -> Result<Option<Escrow>, LedgerError>;
    fn node(&self, id: &NodeId) -> Result<Option<NodeRecord>, LedgerError>;
    /// The account's balance (zero if it never held anything).
    fn account(&self, a: &AccountId) -> Result<Value, LedgerError>;
    /// The nonce the account's next signed operation must carry (§8.3).
    fn account_nonce(&self, a: &AccountId) -> Result<u64, LedgerError>;
    fn deposit(&self, cm: &NoteCommitment) -> Result<Option<DepositRecord>, LedgerError>;
    fn settlement(&self, batch: &SessionId) -> Result<Option<SettlementRecord>, LedgerError>;
    /// Leaves `from..from + limit` that exist, in order.
    fn commitments(&self, from: u64, limit: u64) -> Result<Vec<NoteCommitment>, LedgerError>;
    fn height(&self) -> Result<BlockHeight, LedgerError>;
    fn totals(&self) -> Result<Totals, LedgerError>;
    fn frontier(&self) -> Result<Frontier, LedgerError>;
    fn roots(&self) -> Result<RootHistory, LedgerError>;
    /// The bonding curve (§8.3.11), written at genesis.
    fn curve(&self) -> Result<Curve, LedgerError>;
    /// The account's token balance (zero if it never held any).
    fn tokens(&self, a: &AccountId) -> Result<Tokens, LedgerError>;
    /// The trade the account applied with `nonce`, if any (a retry's answer).
    fn trade(&self, a: &AccountId, nonce: u64) -> Result<Option<TradeReceipt>, LedgerError>;
    /// Value escrowed so far in the current market epoch (its demand).
    fn epoch_escrowed(&self) -> Result<u64, LedgerError>;
    fn monitor(&self, a: &AccountId) -> Result<Option<MonitorRecord>, LedgerError>;
    /// Every monitor, in account order.
    fn monitors(&self) -> Result<Vec<MonitorRecord>, LedgerError>;
    fn report(
        &self,
        epoch: u64,
        node: &NodeId,
        monitor: &AccountId,
    ) -> Result<Option<StoredReport>, LedgerError>;
    /// Every report of `epoch`, in (node, monitor) order.
    fn reports(&self, epoch: u64) -> Result<Vec<(NodeId, AccountId, StoredReport)>, LedgerError>;
    /// The current and previous epochs' seeds (§8.3.13).
    fn audit_seeds(&self) -> Result<AuditSeeds, LedgerError>;
    fn challenge(&self, k: &ChallengeKey) -> Result<Option<ChallengeRecord>, LedgerError>;
    /// The node's challenges of epochs `from_epoch..`, in (epoch, monitor)
    /// order (§8.3.14).
    fn challenges_of(
        &self,
        node: &NodeId,
        from_epoch: u64,
    ) -> Result<Vec<ChallengeRecord>, LedgerError>;
    /// The open challenges whose deadline is below `before`, by deadline.
    fn challenges_due(&self, before: BlockHeight) -> Result<Vec<ChallengeKey>, LedgerError>;
}

/// Writes, all inside one atomic unit (a redb write transaction). The
/// machine performs every check before its first write.
pub trait StateWrite: StateRead {
    fn set_height(&mut self, h: BlockHeight) -> Result<(), LedgerError>;
    fn set_totals(&mut self, t: &Totals) -> Result<(), LedgerError>;
    fn set_frontier(&mut self, f: &Frontier) -> Result<(), LedgerError>;
    fn set_roots(&mut self, r: &RootHistory) -> Result<(), LedgerError>;
    /// Stores leaf `index` (the tree itself is the frontier).
    fn put_commitment(&mut self, index: u64, cm: &NoteCommitment) -> Result<(), LedgerError>;
    fn put_nullifier(&mut self, nf: &Nullifier, u: &NullifierUse) -> Result<(), LedgerError>;
    fn put_escrow(&mut self, e: &Escrow) -> Result<(), LedgerError>;
    fn put_node(&mut self, n: &NodeRecord) -> Result<(), LedgerError>;
    fn set_account(&mut self, a: &AccountId, v: Value) -> Result<(), LedgerError>;
    fn set_account_nonce(&mut self, a: &AccountId, next: u64) -> Result<(), LedgerError>;
    fn put_deposit(&mut self, cm: &NoteCommitment, d: &DepositRecord) -> Result<(), LedgerError>;
    fn put_settlement(
        &mut self,
        batch: &SessionId,
        s: &SettlementRecord,
    ) -> Result<(), LedgerError>;
    fn set_curve(&mut self, c: &Curve) -> Result<(), LedgerError>;
    fn set_tokens(&mut self, a: &AccountId, t: Tokens) -> Result<(), LedgerError>;
    fn put_trade(&mut self, a: &AccountId, t: &TradeReceipt) -> Result<(), LedgerError>;
    fn set_epoch_escrowed(&mut self, v: u64) -> Result<(), LedgerError>;
    fn put_monitor(&mut self, m: &MonitorRecord) -> Result<(), LedgerError>;
    fn put_report(
        &mut self,
        epoch: u64,
        node: &NodeId,
        monitor: &AccountId,
        r: &StoredReport,
    ) -> Result<(), LedgerError>;
    fn set_audit_seeds(&mut self, s: &AuditSeeds) -> Result<(), LedgerError>;
    /// Stores the challenge and keeps the by-deadline index of open ones
    /// ([`StateRead::challenges_due`]) in step with its state.
    fn put_challenge(&mut self, c: &ChallengeRecord) -> Result<(), LedgerError>;
}
