//! Ledger challenges on chain (docs/protocol.md §8.3.14, docs/evm.md §8.6):
//! the `LedgerApi` challenge operations over `VeilAudits`. A monitor's
//! challenge is its transaction; a node key's answer is carried as an
//! `answer` proof (the key signed the challenge's value), which this
//! client makes from the signature with the `answer` proving key; a
//! challenge past its deadline is closed with `slashMissed` by whoever
//! sends it — any monitor's next challenge of the node does first.

use std::sync::Arc;

use rand::rngs::OsRng;
use veil_circuits::answer::{AnswerPrivate, AnswerPublic};
use veil_evm::ProofWords;
use veil_evm::abi::Word;
use veil_evm::audits::{self, ChallengeStatus, ChallengeView, IssuedChallenge};
use veil_evm::escrow;
use veil_evm::solidity::fr_word;
use veil_ledger::challenge::{
    ChallengeAnswer, ChallengeKey, ChallengeRecord, ChallengeRequest, ChallengeState,
};
use veil_ledger::types::{BlockHeight, MerkleRoot, NodeId, Value};
use veil_ledger::{LedgerApi, LedgerError};
use veil_proofs::Prover;

use super::{EvmLedger, abi_err, chain_err, evm_address};

/// This client cannot carry answers: it was opened without the `answer`
/// proving key.
const NO_ANSWER_KEY: &str =
    "this EVM ledger client has no `answer` proving key (a node loads it; docs/evm.md §8.6)";

impl EvmLedger {
    /// Carries challenge answers as `answer` proofs made with `prover`
    /// (which holds the `answer` proving key).
    pub fn with_answer_prover(mut self, prover: Arc<Prover>) -> Self {
        self.answer_prover = Some(prover);
        self
    }

    async fn challenge_view(&self, key: &ChallengeKey) -> Result<ChallengeView, LedgerError> {
        let monitor = evm_address(&key.monitor)?;
        self.view_challenge(key.epoch, fr_word(&key.node_id.inner()), monitor)
            .await
    }

    async fn view_challenge(
        &self,
        epoch: u64,
        node: Word,
        monitor: veil_evm::sandbox::EvmAddress,
    ) -> Result<ChallengeView, LedgerError> {
        let out = self
            .audit_view(&audits::challenge_of(epoch, node, monitor))
            .await?;
        ChallengeView::decode(&out).map_err(abi_err)
    }

    /// The record of `key`, if the contract holds it.
    async fn challenge_record(
        &self,
        key: &ChallengeKey,
    ) -> Result<Option<ChallengeRecord>, LedgerError> {
        let v = self.challenge_view(key).await?;
        let state = match v.status {
            ChallengeStatus::None => return Ok(None),
            ChallengeStatus::Open => ChallengeState::Open,
            ChallengeStatus::Answered { at } => ChallengeState::Answered(BlockHeight(at)),
            ChallengeStatus::Missed { slashed } => ChallengeState::Missed {
                slashed: Value(slashed),
            },
        };
        let root = MerkleRoot::from_bytes(&v.root)
            .map_err(|_| LedgerError::Unavailable("a challenge root out of the field".into()))?;
        Ok(Some(ChallengeRecord {
            key: *key,
            root,
            issued_at: BlockHeight(v.issued_at),
            deadline: BlockHeight(v.deadline),
            nonce: 0,
            state,
        }))
    }

    /// `challenge(epoch, node)` sent by this client's key, the monitor of
    /// the request. A retry of a challenge already recorded answers it.
    pub(super) async fn challenge_on_chain(
        &self,
        r: ChallengeRequest,
    ) -> Result<ChallengeRecord, LedgerError> {
        self.audits()?;
        self.require_sender(
            &r.key.monitor,
            "on chain a challenge is the transaction sender's",
        )?;
        if self.challenge_record(&r.key).await?.is_none() {
            // The contract refuses a stranger as `NotAssigned`; the ledger
            // API says what the embedded ledger says.
            if self.monitor_record(self.chain.address()).await?.is_none() {
                return Err(LedgerError::NotAMonitor);
            }
            // The node's missed challenges are closed first (the chain's
            // clock closes nothing itself): the challengers are paid and
            // the node's stake is what it is before a new deadline runs.
            self.slash_missed_challenges(r.key.node_id).await?;
            // Drawn first, so the simulation runs under the seed it will
            // be assigned by (as a report).
            self.draw_seed_if_due(r.key.epoch).await?;
            let node = fr_word(&r.key.node_id.inner());
            self.audit_send(&audits::challenge(r.key.epoch, node))
                .await?;
        }
        self.challenge_record(&r.key)
            .await?
            .ok_or_else(|| LedgerError::Unavailable("the challenge left no record".into()))
    }

    /// The node key's answer, proved and sent (anyone may carry it). The
    /// signature is checked natively first: one that answers nothing is
    /// refused before proving, as the embedded ledger refuses it.
    pub(super) async fn answer_on_chain(
        &self,
        a: ChallengeAnswer,
    ) -> Result<ChallengeRecord, LedgerError> {
        self.audits()?;
        let record = self
            .challenge_record(&a.key)
            .await?
            .ok_or(LedgerError::UnknownChallenge)?;
        let node = LedgerApi::get_node(self, a.key.node_id)
            .await?
            .ok_or(LedgerError::UnknownNode)?;
        let node_key = node.registration.node_key;
        node_key
            .verify(&record.value(), &a.signature)
            .map_err(|_| LedgerError::BadChallengeAnswer)?;
        match record.state {
            ChallengeState::Answered(_) => return Ok(record),
            ChallengeState::Missed { .. } => return Err(LedgerError::ChallengeClosed),
            ChallengeState::Open => {}
        }
        // Past its deadline a challenge waits for `slashMissed`: an answer
        // would be refused, so none is proved (a node polls every second).
        let now = self.chain.block_number().await.map_err(chain_err)?;
        if now >= record.deadline.0 {
            return Err(LedgerError::ChallengeClosed);
        }
        let proof = self.prove_answer(&record, &node_key, a.signature).await?;
        let monitor = evm_address(&a.key.monitor)?;
        let node_word = fr_word(&a.key.node_id.inner());
        let data = audits::answer_challenge(a.key.epoch, node_word, monitor, &proof);
        self.audit_send(&data).await?;
        self.challenge_record(&a.key)
            .await?
            .ok_or_else(|| LedgerError::Unavailable("the answer left no record".into()))
    }

    async fn prove_answer(
        &self,
        record: &ChallengeRecord,
        node_key: &veil_primitives::eddsa::VerifyingKey,
        signature: veil_primitives::eddsa::Signature,
    ) -> Result<[Word; 8], LedgerError> {
        let prover = self
            .answer_prover
            .clone()
            .ok_or(LedgerError::Unsupported(NO_ANSWER_KEY))?;
        let public = AnswerPublic {
            node_id: record.key.node_id,
            monitor: record.key.monitor,
            epoch: record.key.epoch,
            root: record.root,
        };
        let private = AnswerPrivate::new(node_key, signature);
        let proof =
            tokio::task::spawn_blocking(move || prover.prove_answer(&public, &private, &mut OsRng))
                .await
                .map_err(|e| LedgerError::Unavailable(format!("the answer prover stopped: {e}")))?
                .map_err(|e| LedgerError::Unavailable(format!("proving the answer: {e}")))?;
        Ok(ProofWords::from_proof(&proof).words())
    }

    /// The challenges issued in the current audit epoch and the two before
    /// (an answer window is one epoch, and an open challenge past its
    /// deadline stays open until someone sends `slashMissed`), from the
    /// `ChallengeIssued` events since the first of them began.
    async fn recent_challenges(&self) -> Result<Vec<IssuedChallenge>, LedgerError> {
        let Some(a) = self.auditor else {
            return Ok(Vec::new());
        };
        let epoch = self.current_audit_epoch().await?;
        let from = self.audit_epoch_start(epoch.saturating_sub(2)).await?;
        let to = self.chain.block_number().await.map_err(chain_err)?;
        let events: Vec<_> = self
            .chain
            .logs(a, from, to)
            .await
            .map_err(chain_err)?
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        Ok(audits::challenges_issued(&events))
    }

    /// The node's recent challenges (see [`Self::recent_challenges`]).
    pub(super) async fn challenges_on_chain(
        &self,
        node_id: NodeId,
    ) -> Result<Vec<ChallengeRecord>, LedgerError> {
        let node = fr_word(&node_id.inner());
        let mut out = Vec::new();
        for c in self.recent_challenges().await? {
            if c.node != node {
                continue;
            }
            let key = ChallengeKey {
                node_id,
                epoch: c.epoch,
                monitor: escrow::recipient_account(c.monitor),
            };
            out.extend(self.challenge_record(&key).await?);
        }
        Ok(out)
    }

    /// Closes the recent challenges of `node_id` past their deadline
    /// unanswered (`slashMissed`, which anyone may send: the node is
    /// slashed, its challenger paid). The embedded ledger does this on the
    /// clock's advance. Returns how many it closed.
    pub async fn slash_missed_challenges(&self, node_id: NodeId) -> Result<usize, LedgerError> {
        let node = fr_word(&node_id.inner());
        self.close_missed(|c| c.node == node).await
    }

    /// The keeper's part (`LedgerApi::close_missed_challenges`): closes the
    /// recent challenges this client's key issued that are past their
    /// deadline unanswered. The challenger is paid a quarter of each slash.
    pub(super) async fn close_own_missed(&self) -> Result<usize, LedgerError> {
        let me = self.chain.address();
        self.close_missed(|c| c.monitor == me).await
    }

    /// `slashMissed` for each recent challenge `which` selects that is open
    /// with its deadline behind the latest block (the transaction lands
    /// after it).
    async fn close_missed(
        &self,
        which: impl Fn(&IssuedChallenge) -> bool,
    ) -> Result<usize, LedgerError> {
        let now = self.chain.block_number().await.map_err(chain_err)?;
        let mut closed = 0;
        for c in self.recent_challenges().await?.iter().filter(|c| which(c)) {
            let view = self.view_challenge(c.epoch, c.node, c.monitor).await?;
            if view.status == ChallengeStatus::Open && view.deadline <= now {
                self.audit_send(&audits::slash_missed(c.epoch, c.node, c.monitor))
                    .await?;
                closed += 1;
            }
        }
        Ok(closed)
    }
}
