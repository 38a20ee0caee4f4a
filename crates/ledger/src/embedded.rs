//! [`EmbeddedLedger`]: the in-process [`LedgerApi`]. Every call runs on the
//! blocking pool; proof-carrying calls first take a permit of a bounded
//! verification queue and fail fast with [`LedgerError::Busy`] when it is
//! full (adversarial C4/C8).

use std::path::Path;
use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::api::LedgerApi;
use crate::challenge::{ChallengeAnswer, ChallengeRecord, ChallengeRequest};
use crate::engine::Engine;
use crate::error::LedgerError;
use crate::exit::ExitRequest;
use crate::machine::LedgerConfig;
use crate::monitor::{
    AuditReport, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView, StoredReport,
};
use crate::trade::{MarketState, Tokens, TradeReceipt, TradeRequest};
use crate::types::*;
use crate::verifier::{Groth16Verifier, ProofVerifier};

/// Default bound of in-flight proof verifications (running + queued).
pub const DEFAULT_VERIFY_QUEUE: usize = 64;

/// An in-process ledger handle (cheap to clone).
#[derive(Clone)]
pub struct EmbeddedLedger {
    engine: Arc<Engine>,
    verify_slots: Arc<Semaphore>,
}

impl EmbeddedLedger {
    pub fn new(engine: Engine, verify_queue: usize) -> Self {
        Self {
            engine: Arc::new(engine),
            verify_slots: Arc::new(Semaphore::new(verify_queue)),
        }
    }

    /// Opens (or creates) a durable ledger at `path`.
    pub fn open(
        path: &Path,
        verifier: Arc<dyn ProofVerifier>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        Ok(Self::new(
            Engine::open(path, verifier, config)?,
            DEFAULT_VERIFY_QUEUE,
        ))
    }

    /// Opens (or creates) a durable ledger at `path` that verifies proofs
    /// with Groth16 over the pinned INSECURE development keys
    /// ([`Groth16Verifier::dev`]): the default for `veil ledger serve`, the
    /// demo and tests of nodes and wallets.
    pub fn open_with_dev_params(path: &Path, config: LedgerConfig) -> Result<Self, LedgerError> {
        let verifier = dev_verifier(&config)?;
        Self::open(path, verifier, config)
    }

    /// A fresh in-memory ledger verifying with the development keys.
    pub fn in_memory_with_dev_params(config: LedgerConfig) -> Result<Self, LedgerError> {
        let verifier = dev_verifier(&config)?;
        Self::in_memory(verifier, config)
    }

    /// A fresh in-memory ledger.
    pub fn in_memory(
        verifier: Arc<dyn ProofVerifier>,
        config: LedgerConfig,
    ) -> Result<Self, LedgerError> {
        Ok(Self::new(
            Engine::in_memory(verifier, config)?,
            DEFAULT_VERIFY_QUEUE,
        ))
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Advances the logical clock by `blocks`.
    pub async fn advance(&self, blocks: u64) -> Result<BlockHeight, LedgerError> {
        self.blocking(move |e| e.advance(blocks)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || f(&engine))
            .await
            .map_err(|e| LedgerError::Storage(format!("ledger task failed: {e}")))?
    }

    /// Like [`Self::blocking`], holding a verification permit; a full queue is `Busy`.
    async fn verifying<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Engine) -> Result<T, LedgerError> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let permit = self
            .verify_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| LedgerError::Busy)?;
        let out = self.blocking(f).await;
        drop(permit);
        out
    }
}

impl LedgerApi for EmbeddedLedger {
    async fn deposit(&self, request: DepositRequest) -> Result<DepositReceipt, LedgerError> {
        self.blocking(move |e| e.deposit(request)).await
    }
    async fn open_escrow(&self, token: AccessPublic, proof: Proof) -> Result<Escrow, LedgerError> {
        self.verifying(move |e| e.open_escrow(token, &proof)).await
    }
    async fn settle(&self, request: SettleRequest) -> Result<SettleReceipt, LedgerError> {
        self.verifying(move |e| e.settle(request)).await
    }
    async fn reclaim(&self, session_id: SessionId) -> Result<ReclaimReceipt, LedgerError> {
        self.blocking(move |e| e.reclaim(session_id)).await
    }
    async fn withdraw(
        &self,
        statement: WithdrawPublic,
        proof: Proof,
    ) -> Result<WithdrawReceipt, LedgerError> {
        self.verifying(move |e| e.withdraw(statement, &proof)).await
    }
    async fn register_node(
        &self,
        registration: NodeRegistration,
    ) -> Result<NodeRecord, LedgerError> {
        self.blocking(move |e| e.register_node(registration)).await
    }
    async fn update_node(&self, update: NodeUpdate) -> Result<NodeRecord, LedgerError> {
        self.blocking(move |e| e.update_node(update)).await
    }
    async fn faucet(&self, account: AccountId, amount: Value) -> Result<Value, LedgerError> {
        self.blocking(move |e| e.faucet(account, amount)).await
    }
    async fn exit_node(&self, request: ExitRequest) -> Result<NodeRecord, LedgerError> {
        self.blocking(move |e| e.exit_node(request)).await
    }
    async fn register_monitor(
        &self,
        registration: MonitorRegistration,
    ) -> Result<MonitorRecord, LedgerError> {
        self.blocking(move |e| e.register_monitor(registration))
            .await
    }
    async fn submit_report(&self, report: AuditReport) -> Result<StoredReport, LedgerError> {
        self.blocking(move |e| e.submit_report(report)).await
    }
    async fn monitor(&self, account: AccountId) -> Result<MonitorView, LedgerError> {
        self.blocking(move |e| e.monitor(&account)).await
    }
    async fn exit_monitor(
        &self,
        request: MonitorExitRequest,
    ) -> Result<MonitorRecord, LedgerError> {
        self.blocking(move |e| e.exit_monitor(request)).await
    }
    async fn challenge_node(
        &self,
        request: ChallengeRequest,
    ) -> Result<ChallengeRecord, LedgerError> {
        self.blocking(move |e| e.challenge_node(request)).await
    }
    async fn answer_challenge(
        &self,
        answer: ChallengeAnswer,
    ) -> Result<ChallengeRecord, LedgerError> {
        self.blocking(move |e| e.answer_challenge(answer)).await
    }
    async fn challenges(&self, node_id: NodeId) -> Result<Vec<ChallengeRecord>, LedgerError> {
        self.blocking(move |e| e.challenges(&node_id)).await
    }

    async fn trade(&self, request: TradeRequest) -> Result<TradeReceipt, LedgerError> {
        self.blocking(move |e| e.trade(request)).await
    }
    async fn market(&self) -> Result<MarketState, LedgerError> {
        self.blocking(|e| e.market()).await
    }
    async fn tokens(&self, account: AccountId) -> Result<Tokens, LedgerError> {
        self.blocking(move |e| e.tokens(&account)).await
    }
    async fn get_node(&self, node_id: NodeId) -> Result<Option<NodeRecord>, LedgerError> {
        self.blocking(move |e| e.get_node(&node_id)).await
    }
    async fn list_nodes(
        &self,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        self.blocking(move |e| e.list_nodes(start_after, limit))
            .await
    }
    async fn get_escrow(&self, session_id: SessionId) -> Result<Option<Escrow>, LedgerError> {
        self.blocking(move |e| e.get_escrow(&session_id)).await
    }
    async fn balance(&self, account: AccountId) -> Result<Value, LedgerError> {
        self.blocking(move |e| e.balance(&account)).await
    }
    async fn account(&self, account: AccountId) -> Result<AccountState, LedgerError> {
        self.blocking(move |e| e.account(&account)).await
    }
    async fn nullifier_spent(&self, nullifier: Nullifier) -> Result<bool, LedgerError> {
        self.blocking(move |e| e.nullifier_spent(&nullifier)).await
    }
    async fn roots(&self) -> Result<Vec<MerkleRoot>, LedgerError> {
        self.blocking(|e| e.roots()).await
    }
    async fn commitments(
        &self,
        from_index: u64,
        limit: u32,
    ) -> Result<Vec<NoteCommitment>, LedgerError> {
        self.blocking(move |e| e.commitments(from_index, limit))
            .await
    }
    async fn status(&self) -> Result<LedgerStatus, LedgerError> {
        self.blocking(|e| e.status()).await
    }
}

fn dev_verifier(config: &LedgerConfig) -> Result<Arc<dyn ProofVerifier>, LedgerError> {
    Groth16Verifier::dev(&config.settle_batch_sizes)
        .map(|v| Arc::new(v) as Arc<dyn ProofVerifier>)
        .map_err(|e| LedgerError::VerifyingKeys(e.to_string()))
}
