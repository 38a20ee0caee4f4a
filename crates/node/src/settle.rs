//! The settlement worker: batches sessions with their highest receipts,
//! proves `settle_K` off the runtime, submits to the ledger, retries
//! idempotently (`docs/protocol.md` §9.6).
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use tracing::{info, warn};
use veil_circuits::settle::{refund_commitment, slot_pay};
use veil_ledger::LedgerApi;
use veil_ledger::LedgerError;
use veil_ledger::types::{EscrowState, SessionId, SettleBatch, SettleRequest, Value};

use veil_primitives::eddsa::VerifyingKey;
use veil_primitives::ids::BlockHeight;
use veil_primitives::progress::{Progress, Step};
use veil_primitives::receipt::SignedReceipt;

use crate::backend::{ProveError, SettleSlotWitness, batch_price};
use crate::history::{BatchRecord, UnixTime};
use crate::metering::SessionState;
use crate::state::Inner;
use crate::store::SessionStatus;
use crate::sync::lock;

/// Progress step of a settlement run: sessions proved and settled of
/// those ready when the run began (one event per batch proof).
pub const SETTLE_STEP: &str = "settle: sessions proved";

/// What one settlement run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SettlementReport {
    /// Sessions settled.
    pub sessions: usize,
    /// Total paid to the node.
    pub total_paid: Value,
    /// Batch size `K` of the (last) circuit used; 0 if nothing was settled.
    pub batch_size: u32,
    /// Time spent proving, milliseconds.
    pub prove_ms: u64,
}

/// Why a settlement run failed. Nothing is lost: unsettled sessions stay
/// in the node database and are retried.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error(transparent)]
    Prove(#[from] ProveError),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("node database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("no settlement circuit size is available")]
    NoBatchSize,
    #[error("background task failed")]
    Task,
}

/// Picks `K` for `n` pending sessions: the smallest size that fits them
/// all, else the largest (and the rest waits for the next batch).
pub fn choose_k(sizes: &[u32], n: usize) -> Option<u32> {
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    sorted
        .iter()
        .copied()
        .find(|k| *k as usize >= n)
        .or(sorted.last().copied())
}

/// A session ready to settle: expiry, id, highest receipt, session key.
type Candidate = (BlockHeight, SessionId, SignedReceipt, VerifyingKey);

/// What one pass over the session table found.
struct Pending {
    /// Ready to settle, most urgent (earliest expiry) first.
    candidates: Vec<Candidate>,
    /// Can no longer be settled (window closed, or unused and expired).
    abandoned: Vec<SessionId>,
}

/// One proved batch, ready to submit.
struct Batch {
    k: u32,
    total: Value,
    slots: Vec<SettleSlotWitness>,
}

impl<L: LedgerApi> Inner<L> {
    /// Runs settlement. With `finished_only` (the periodic worker), only
    /// sessions that can serve no more (expired or exhausted) are settled,
    /// under the minimum-batch policy (R-3, `BatchPolicy`); otherwise
    /// (`settle_now`) every session holding a receipt is (and is closed),
    /// whatever the batch size.
    /// Each batch is reported to `progress` ([`SETTLE_STEP`]) before and
    /// after its proof.
    pub(crate) async fn settle(
        self: &Arc<Self>,
        finished_only: bool,
        progress: &dyn Progress,
    ) -> Result<SettlementReport, SettleError> {
        let _guard = self.settle_lock.lock().await;
        let mut report = SettlementReport::default();
        let mut ready: Option<u64> = None;
        loop {
            let height = self.height();
            let window = self.view.challenge_window.load(Ordering::Acquire);
            let Pending {
                mut candidates,
                abandoned,
            } = self.pending(height, window, finished_only);
            if !abandoned.is_empty() {
                let gone: Vec<_> = abandoned
                    .iter()
                    .map(|id| (*id, SessionStatus::Abandoned))
                    .collect();
                self.forget(&gone)?;
            }
            if candidates.is_empty() {
                return Ok(report);
            }
            // the periodic worker waits for company unless a deadline nears
            // (`BatchPolicy`); `settle_now` is the operator's override.
            let earliest_deadline = candidates[0].0.0.saturating_add(window);
            if finished_only
                && !self.config.batch_policy.settle_now(
                    candidates.len(),
                    earliest_deadline,
                    height.0,
                )
            {
                return Ok(report);
            }
            let total = *ready.get_or_insert((report.sessions + candidates.len()) as u64);
            let k = choose_k(&self.prover.batch_sizes(), candidates.len())
                .ok_or(SettleError::NoBatchSize)?;
            candidates.truncate(k as usize);
            progress.report(Step::new(SETTLE_STEP, report.sessions as u64, total));
            let Some(batch) = self.build_batch(k, candidates).await? else {
                continue; // choose again among the sessions still open
            };
            if let Some(done) = self
                .prove_and_submit(batch, height, window, &mut report)
                .await?
            {
                self.record_settled(done, &mut report)?;
                progress.report(Step::new(SETTLE_STEP, report.sessions as u64, total));
            }
        }
    }

    /// Observes `height` on every session and sorts them into candidates
    /// and abandoned ones.
    fn pending(&self, height: BlockHeight, window: u64, finished_only: bool) -> Pending {
        let mut candidates = Vec::new();
        let mut abandoned = Vec::new();
        for (id, slot) in lock(&self.sessions).iter() {
            let mut st = lock(&slot.state);
            st.observe_height(height);
            let finished = matches!(&*st, SessionState::Exhausted(_) | SessionState::Closed(_));
            let expiry = st.terms().expiry;
            let deadline = expiry.0.saturating_add(window);
            match st.highest() {
                None if finished && height.0 > expiry.0 => abandoned.push(*id),
                None => {}
                Some(_) if height.0 > deadline => abandoned.push(*id),
                Some((_, r)) if finished || !finished_only => {
                    candidates.push((expiry, *id, *r, slot.session_key));
                }
                Some(_) => {}
            }
        }
        candidates.sort_by_key(|c| c.0);
        Pending {
            candidates,
            abandoned,
        }
    }

    /// Builds the batch's slots from the ledger's own escrow records. A
    /// session whose escrow is no longer open is forgotten; then `None`
    /// (the caller chooses again).
    async fn build_batch(
        &self,
        k: u32,
        candidates: Vec<Candidate>,
    ) -> Result<Option<Batch>, SettleError> {
        let mut slots = Vec::with_capacity(candidates.len());
        let mut gone = Vec::new();
        for (_, id, receipt, key) in candidates {
            let Some(escrow) = self.ledger.get_escrow(id).await? else {
                gone.push((id, SessionStatus::Abandoned));
                continue;
            };
            match escrow.state {
                EscrowState::Open => {}
                EscrowState::Settled { .. } => {
                    gone.push((id, SessionStatus::Settled));
                    continue;
                }
                EscrowState::Reclaimed { .. } => {
                    gone.push((id, SessionStatus::Abandoned));
                    continue;
                }
            }
            let kib = receipt.receipt.kib;
            let (price, e) = (escrow.price_per_kib, escrow.escrow);
            // The refund note, blinded by the session key only client and node know (§5.4).
            let cm_refund = refund_commitment(
                e,
                price,
                kib,
                &escrow.refund_owner,
                &key.point().to_affine(),
            );
            slots.push(SettleSlotWitness {
                escrow,
                receipt,
                session_key: key,
                cm_refund,
            });
        }
        self.forget(&gone)?;
        if slots.is_empty() || !gone.is_empty() {
            return Ok(None);
        }
        let slots = one_price(slots);
        let total = slots.iter().fold(0u64, |t, s| {
            let pay = slot_pay(
                s.receipt.receipt.kib,
                s.escrow.price_per_kib,
                s.escrow.escrow,
            );
            t.saturating_add(pay.0)
        });
        Ok(Some(Batch {
            k,
            total: Value(total),
            slots,
        }))
    }

    /// Proves the batch off the runtime, authorises it with the node key
    /// and submits it. Returns the settled sessions and the ledger's total,
    /// or `None` after reconciling a refusal as already settled or closed.
    async fn prove_and_submit(
        &self,
        batch: Batch,
        height: BlockHeight,
        window: u64,
        report: &mut SettlementReport,
    ) -> Result<Option<(Vec<SessionId>, u32, Value)>, SettleError> {
        let Batch { k, total, slots } = batch;
        let node_id = self.node_id;
        let prover = self.prover.clone();
        let started = Instant::now();
        let (slots, proof) = tokio::task::spawn_blocking(move || {
            let proof = prover.prove(node_id, k, total, &slots);
            (slots, proof)
        })
        .await
        .map_err(|_| SettleError::Task)?;
        let proof = proof?;
        let prove_time = started.elapsed();
        self.metrics.prove_seconds.observe(prove_time.as_secs_f64());
        report.prove_ms += started.elapsed().as_millis() as u64;
        let session_ids: Vec<SessionId> = slots.iter().map(|s| s.escrow.session_id).collect();
        // Only the node may settle its sessions: authorise the exact
        // statement with the node key (§8.3.3).
        let statement = SettleBatch {
            node_id,
            k,
            total,
            price: batch_price(&slots)?,
            slots: slots
                .iter()
                .map(|s| SettleBatch::slot(&s.escrow, s.cm_refund))
                .collect(),
        };
        let request = SettleRequest::signed(&self.node_key, &statement, proof)?;
        match self.ledger.settle(request).await {
            Ok(receipt) => {
                info!(
                    sessions = session_ids.len(),
                    total = receipt.total.0,
                    k,
                    "batch settled"
                );
                lock(&self.history).record_batch(BatchRecord {
                    at: UnixTime::from_system(SystemTime::now()),
                    sessions: u32::try_from(session_ids.len()).unwrap_or(u32::MAX),
                    prove_time,
                    paid: receipt.total.0,
                });
                Ok(Some((session_ids, k, receipt.total)))
            }
            Err(
                LedgerError::AlreadySettled
                | LedgerError::EscrowNotOpen
                | LedgerError::SettleWindowClosed,
            ) => {
                self.reconcile(&session_ids, height, window).await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// A replay (e.g. after a crash) or a raced state change: re-reads each
    /// escrow and forgets what is settled or closed; the rest is retried.
    async fn reconcile(
        &self,
        session_ids: &[SessionId],
        height: BlockHeight,
        window: u64,
    ) -> Result<(), SettleError> {
        warn!("settlement refused as already settled or closed; reconciling");
        let mut changed = Vec::new();
        for id in session_ids {
            match self.ledger.get_escrow(*id).await? {
                Some(e) if matches!(e.state, EscrowState::Settled { .. }) => {
                    changed.push((*id, SessionStatus::Settled));
                }
                Some(e)
                    if e.state == EscrowState::Open
                        && height.0 <= e.expiry.0.saturating_add(window) => {}
                _ => changed.push((*id, SessionStatus::Abandoned)),
            }
        }
        if changed.is_empty() {
            return Err(SettleError::Ledger(LedgerError::AlreadySettled));
        }
        self.forget(&changed)
    }

    /// Counts a settled batch and forgets its sessions.
    fn record_settled(
        &self,
        (session_ids, k, total): (Vec<SessionId>, u32, Value),
        report: &mut SettlementReport,
    ) -> Result<(), SettleError> {
        let done: Vec<_> = session_ids
            .iter()
            .map(|id| (*id, SessionStatus::Settled))
            .collect();
        self.forget(&done)?;
        let m = &self.metrics;
        m.settled_batches.inc();
        m.settled_sessions.inc_by(session_ids.len() as u64);
        m.total_paid.inc_by(total.0);
        report.sessions += session_ids.len();
        report.total_paid = Value(report.total_paid.0.saturating_add(total.0));
        report.batch_size = k;
        Ok(())
    }

    /// Marks sessions settled/abandoned in the store and drops them from memory.
    fn forget(&self, ids: &[(SessionId, SessionStatus)]) -> Result<(), SettleError> {
        for status in [SessionStatus::Settled, SessionStatus::Abandoned] {
            let these: Vec<SessionId> = ids
                .iter()
                .filter(|(_, s)| *s == status)
                .map(|(id, _)| *id)
                .collect();
            if !these.is_empty() {
                self.store.set_status(&these, status)?;
            }
        }
        let mut sessions = lock(&self.sessions);
        for (id, _) in ids {
            sessions.remove(id);
        }
        Ok(())
    }
}

/// The slots of one batch share one price (§8.3.3): escrows opened before a
/// price update (§8.3.8) record the old one. The earliest slot's price
/// wins; the others stay open for a later batch.
fn one_price(mut slots: Vec<SettleSlotWitness>) -> Vec<SettleSlotWitness> {
    let price = slots.first().map(|s| s.escrow.price_per_kib);
    slots.retain(|s| Some(s.escrow.price_per_kib) == price);
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_choice() {
        assert_eq!(choose_k(&[64, 8], 1), Some(8));
        assert_eq!(choose_k(&[8, 64], 8), Some(8));
        assert_eq!(choose_k(&[8, 64], 9), Some(64));
        assert_eq!(choose_k(&[8, 64], 100), Some(64));
        assert_eq!(choose_k(&[], 1), None);
    }

    fn slot(price: u64, n: u64) -> SettleSlotWitness {
        use veil_ledger::types::{Escrow, NodeId, NoteCommitment, OwnerKey, SessionKeyHash};
        use veil_primitives::eddsa::SigningKey;
        use veil_primitives::field::Fr;
        use veil_primitives::receipt::Receipt;
        let key = SigningKey::from_seed([n as u8; 32]).expect("a fixed seed");
        let session_id = SessionId::from_fr(Fr::from(n));
        SettleSlotWitness {
            escrow: Escrow {
                session_id,
                node_id: NodeId::from_fr(Fr::from(1u64)),
                escrow: Value(300),
                price_per_kib: Value(price),
                session_key_hash: SessionKeyHash::from_fr(Fr::from(n)),
                refund_owner: OwnerKey::from_fr(Fr::from(n)),
                expiry: BlockHeight(100),
                cm_change: NoteCommitment::from_fr(Fr::from(n)),
                opened_at: BlockHeight(1),
                state: EscrowState::Open,
            },
            receipt: Receipt {
                session_id: session_id.inner(),
                kib: n,
            }
            .sign(&key),
            session_key: key.verifying_key(),
            cm_refund: NoteCommitment::from_fr(Fr::from(n)),
        }
    }

    #[test]
    fn a_batch_keeps_the_earliest_slots_price_and_leaves_the_rest_open() {
        let slots = vec![slot(3, 1), slot(5, 2), slot(3, 3), slot(5, 4)];
        let kept = one_price(slots);
        let ids: Vec<u64> = kept.iter().map(|s| s.receipt.receipt.kib).collect();
        assert_eq!(ids, [1, 3]);
        assert_eq!(batch_price(&kept).ok(), Some(Value(3)));
        assert!(batch_price(&[slot(3, 1), slot(5, 2)]).is_err());
        assert!(one_price(Vec::new()).is_empty());
    }
}
