//! The ledger's own records beside the domain types (docs/ledger.md
//! "Storage schema"): what the state machine reads and writes. Their byte
//! encodings are in `schema` (feature `server`).

use crate::types::{AccountId, NodeId, NoteCommitment, SessionId, Value};

/// What consumed a nullifier. Every nullifier has exactly one such record
/// (the audit checks it against the escrow and withdrawal tables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NullifierUse {
    /// Spent by `open_escrow`; the escrow is keyed by the same bytes.
    Escrow,
    /// Spent by `withdraw`.
    Withdrawal {
        recipient: AccountId,
        amount: Value,
        cm_change: NoteCommitment,
        leaf_index: u64,
    },
}

/// A deposit record: who paid, how much, with which account nonce, where
/// the leaf is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepositRecord {
    pub account: AccountId,
    pub value: Value,
    pub leaf_index: u64,
    /// The account nonce the deposit was signed with (identifies a retry).
    pub nonce: u64,
}

/// A settled batch: enough to answer a retry of the identical request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementRecord {
    pub node_id: NodeId,
    pub total: Value,
    pub first_leaf_index: u64,
    pub session_ids: Vec<SessionId>,
}

/// The turnstile counters (docs/protocol.md §8.4): `minted + R0 =
/// Σ accounts + pool + escrowed + staked + monitor_staked + reserve +
/// burnt`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub minted: u64,
    pub pool: u64,
    pub escrowed: u64,
    /// Nodes' stakes not yet released, less slashes.
    pub staked: u64,
    /// Monitors' stakes, less slashes (§8.3.13).
    pub monitor_staked: u64,
    /// Value destroyed by slashes (§8.3.13).
    pub burnt: u64,
}
