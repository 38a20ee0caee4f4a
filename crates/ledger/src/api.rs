//! The client-side view of a ledger, shared by nodes, wallets and the demo.
//!
//! Two implementations: `EmbeddedLedger` (feature `server`: in-process redb; blocking
//! work in `spawn_blocking`) and [`crate::RemoteLedger`] (tonic client of
//! `veil.ledger.v1`). Both give the same answers and the same
//! [`LedgerError`] variants for the same request (docs/protocol.md §8).

use std::future::Future;

use crate::challenge::{ChallengeAnswer, ChallengeRecord, ChallengeRequest};
use crate::error::LedgerError;
use crate::exit::ExitRequest;
use crate::monitor::{
    AuditReport, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView, StoredReport,
};
use crate::trade::{MarketState, Tokens, TradeReceipt, TradeRequest};
use crate::types::{
    AccessPublic, AccountId, AccountState, DepositReceipt, DepositRequest, Escrow, LedgerStatus,
    MerkleRoot, NodeId, NodeRecord, NodeRegistration, NodeUpdate, NoteCommitment, Nullifier, Proof,
    ReclaimReceipt, SessionId, SettleReceipt, SettleRequest, Value, WithdrawPublic,
    WithdrawReceipt,
};

/// Largest page [`LedgerApi::commitments`] returns.
pub const MAX_COMMITMENT_PAGE: u32 = 4096;

/// Most node records one [`LedgerApi::list_nodes`] page returns.
pub const MAX_NODE_PAGE: u32 = 256;

/// Every ledger operation, asynchronously. Each mutating call is atomic
/// and durable once it returns `Ok`, and idempotent on retry (§8.2).
pub trait LedgerApi: Clone + Send + Sync + 'static {
    /// The account this handle acts as when the ledger authenticates the
    /// caller itself: on an EVM chain the transaction's sender
    /// (`docs/evm.md` §8). `None` (the embedded and gRPC ledgers): every
    /// debit carries its account's own signature (§8.3), whoever sends it.
    fn acting_account(&self) -> Option<AccountId> {
        None
    }

    /// §8.3.1: move `value` from `account` into the pool as
    /// `H(NOTE, value, addr)`, authorised by the account key (§8.3).
    fn deposit(
        &self,
        request: DepositRequest,
    ) -> impl Future<Output = Result<DepositReceipt, LedgerError>> + Send;

    /// §8.3.2: spend a note into an escrow for a node. A retry of the same
    /// token returns the existing escrow.
    fn open_escrow(
        &self,
        token: AccessPublic,
        proof: Proof,
    ) -> impl Future<Output = Result<Escrow, LedgerError>> + Send;

    /// §8.3.3: settle a batch of the node's open escrows. All or nothing.
    fn settle(
        &self,
        request: SettleRequest,
    ) -> impl Future<Output = Result<SettleReceipt, LedgerError>> + Send;

    /// §8.3.11: buy or sell tokens on the bonding curve, authorised by the
    /// account key (§8.3). A retry (the same order with the same nonce)
    /// returns the original receipt.
    fn trade(
        &self,
        request: TradeRequest,
    ) -> impl Future<Output = Result<TradeReceipt, LedgerError>> + Send;

    /// §8.3.11: the curve's public state.
    fn market(&self) -> impl Future<Output = Result<MarketState, LedgerError>> + Send;

    /// §8.3.11: an account's token balance (zero if it never held any).
    fn tokens(
        &self,
        account: AccountId,
    ) -> impl Future<Output = Result<Tokens, LedgerError>> + Send;

    /// §8.3.4: refund an unsettled escrow in full after expiry + challenge window.
    fn reclaim(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<ReclaimReceipt, LedgerError>> + Send;

    /// §8.3.5: spend a note to a public account.
    fn withdraw(
        &self,
        statement: WithdrawPublic,
        proof: Proof,
    ) -> impl Future<Output = Result<WithdrawReceipt, LedgerError>> + Send;

    /// §8.3.6: register a node (stake taken from its account; signed by
    /// the node key and the account key).
    fn register_node(
        &self,
        registration: NodeRegistration,
    ) -> impl Future<Output = Result<NodeRecord, LedgerError>> + Send;

    /// §8.3.8: update a registered node's TLS key hash, price and escrow
    /// sizes (signed by the node key and the node's account key, with the
    /// record's next sequence number). Returns the updated record.
    fn update_node(
        &self,
        update: NodeUpdate,
    ) -> impl Future<Output = Result<NodeRecord, LedgerError>> + Send;

    /// §8.3.12: one exit step of a node, signed by its registered account
    /// key: retire it (no new escrows), then, after the lock-up, release
    /// its stake to the account. Returns the record with its exit.
    fn exit_node(
        &self,
        request: ExitRequest,
    ) -> impl Future<Output = Result<NodeRecord, LedgerError>> + Send;

    /// §8.3.13: stakes value from an account to audit nodes, signed by the
    /// account key. Returns the monitor's record.
    fn register_monitor(
        &self,
        registration: MonitorRegistration,
    ) -> impl Future<Output = Result<MonitorRecord, LedgerError>> + Send;

    /// §8.3.13: an assigned monitor's report on a node for an epoch, signed
    /// by the monitor's account key. Returns the stored report.
    fn submit_report(
        &self,
        report: AuditReport,
    ) -> impl Future<Output = Result<StoredReport, LedgerError>> + Send;

    /// §8.3.13: one exit step of a monitor, signed by its account key:
    /// retire it (no assignment from the next epoch on), then, once its
    /// last assigned epoch is judged, release its stake to the account.
    fn exit_monitor(
        &self,
        request: MonitorExitRequest,
    ) -> impl Future<Output = Result<MonitorRecord, LedgerError>> + Send;

    /// §8.3.13: a monitor's record and the nodes assigned to it in the
    /// current epoch. Public: anyone may read it.
    fn monitor(
        &self,
        account: AccountId,
    ) -> impl Future<Output = Result<MonitorView, LedgerError>> + Send;

    /// §8.3.14: a monitor assigned to the node this epoch challenges it,
    /// signed by the monitor's account key. Returns the open challenge.
    fn challenge_node(
        &self,
        request: ChallengeRequest,
    ) -> impl Future<Output = Result<ChallengeRecord, LedgerError>> + Send;

    /// §8.3.14: the node key's answer to a challenge (anyone may carry it).
    /// Returns the answered challenge.
    fn answer_challenge(
        &self,
        answer: ChallengeAnswer,
    ) -> impl Future<Output = Result<ChallengeRecord, LedgerError>> + Send;

    /// Fixes the current epoch's audit seed if it is due and nobody has
    /// (a monitor calls it before asking for its assignment). The embedded
    /// and gRPC ledgers draw seeds on the clock's advance: nothing to do.
    /// On an EVM chain the seed depends on the drawing block
    /// (`docs/market.md` §5.1), so it is a transaction of its own.
    fn draw_audit_seed(&self) -> impl Future<Output = Result<(), LedgerError>> + Send {
        async { Ok(()) }
    }

    /// A monitor's part in the audit seeds: on an EVM chain
    /// (`docs/market.md` §5.1) it reveals the secret it committed for the
    /// current epoch while the reveal window is open, and commits to one
    /// for the next epoch. The embedded and gRPC ledgers draw seeds from
    /// the ledger's own randomness: nothing to do.
    fn take_seed_turn(&self) -> impl Future<Output = Result<(), LedgerError>> + Send {
        async { Ok(()) }
    }

    /// Closes the challenges this handle's account issued whose deadline
    /// passed unanswered, and returns how many (§8.3.14). The embedded and
    /// gRPC ledgers close missed challenges on the clock's advance: nothing
    /// to do. On an EVM chain the clock closes nothing: `slashMissed` is a
    /// transaction anyone may send (`docs/evm.md` §8.6) and the challenger,
    /// paid a quarter of the slash, sends its own (`veil monitor run`).
    fn close_missed_challenges(&self) -> impl Future<Output = Result<usize, LedgerError>> + Send {
        async { Ok(0) }
    }

    /// §8.3.14: the node's challenges of the current and the previous
    /// epoch, open or not. Public: anyone may read them.
    fn challenges(
        &self,
        node_id: NodeId,
    ) -> impl Future<Output = Result<Vec<ChallengeRecord>, LedgerError>> + Send;

    /// DEVELOPMENT ONLY (§8.3.7): mint `amount` into `account`. Returns the
    /// new balance. Refused (`FaucetDisabled`) unless the ledger runs with
    /// the development faucet.
    fn faucet(
        &self,
        account: AccountId,
        amount: Value,
    ) -> impl Future<Output = Result<Value, LedgerError>> + Send;

    fn get_node(
        &self,
        node_id: NodeId,
    ) -> impl Future<Output = Result<Option<NodeRecord>, LedgerError>> + Send;

    /// Registered nodes in node-id order (the id's canonical bytes) after
    /// `start_after` (`None`: from the first), at most
    /// `min(limit, MAX_NODE_PAGE)`; empty past the last (§8.3.10). The
    /// registry is public: anyone may read it.
    fn list_nodes(
        &self,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NodeRecord>, LedgerError>> + Send;

    /// The whole registry: every page of [`Self::list_nodes`], in node-id
    /// order (§8.3.10).
    fn all_nodes(&self) -> impl Future<Output = Result<Vec<NodeRecord>, LedgerError>> + Send {
        async move {
            let mut out: Vec<NodeRecord> = Vec::new();
            loop {
                let cursor = out.last().map(|n| n.registration.node_id);
                let page = self.list_nodes(cursor, MAX_NODE_PAGE).await?;
                if page.is_empty() {
                    return Ok(out);
                }
                out.extend(page);
            }
        }
    }

    fn get_escrow(
        &self,
        session_id: SessionId,
    ) -> impl Future<Output = Result<Option<Escrow>, LedgerError>> + Send;

    fn balance(
        &self,
        account: AccountId,
    ) -> impl Future<Output = Result<Value, LedgerError>> + Send;

    /// Balance and the nonce the account's next signed operation must
    /// carry (§8.3; `GetBalance` on the wire).
    fn account(
        &self,
        account: AccountId,
    ) -> impl Future<Output = Result<AccountState, LedgerError>> + Send;

    /// Whether `nullifier` is spent, by an escrow or a withdrawal
    /// (`docs/protocol.md` §8.2). The nullifier set is public ledger state;
    /// a node asks this before paying for a pairing (C5).
    fn nullifier_spent(
        &self,
        nullifier: Nullifier,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// The recent roots (at most 128), oldest first. Any of them is accepted.
    fn roots(&self) -> impl Future<Output = Result<Vec<MerkleRoot>, LedgerError>> + Send;

    /// Commitments `from_index ..` in leaf order, at most
    /// `min(limit, MAX_COMMITMENT_PAGE)`; empty once caught up.
    fn commitments(
        &self,
        from_index: u64,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<NoteCommitment>, LedgerError>> + Send;

    fn status(&self) -> impl Future<Output = Result<LedgerStatus, LedgerError>> + Send;
}
