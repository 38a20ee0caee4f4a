//! The sequencer (`docs/evm.md` §8.4): on chain a queued leaf enters the
//! note tree only when its batch of 64 is appended with a `tree_insert_64`
//! proof. Anyone may do it; a wallet that wants its deposit spendable now,
//! or a node that wants its clients' refunds found, runs this: it pads a
//! partial batch with zero leaves (`padQueue`) and appends every waiting
//! batch.

use std::sync::Arc;

use rand::rngs::OsRng;
use tokio::sync::Mutex;
use veil_evm::ledger::{self as contract, LedgerRevert};
use veil_ledger::LedgerError;
use veil_ledger::types::NoteCommitment;
use veil_primitives::Fr;
use veil_primitives::merkle::Frontier;
use veil_proofs::Prover;

use super::EvmLedger;
use super::error::{from_rpc, revert_of};

/// Appends waiting leaves; clones of one [`EvmLedger`] (and handles of
/// other keys) may share it, so that they never prove the same batch twice.
pub struct Sequencer {
    prover: Arc<Prover>,
    /// The tree as last appended (its leaves are those under the root).
    frontier: Mutex<Frontier>,
}

impl Sequencer {
    /// A sequencer proving with `prover`, which must hold the
    /// `tree_insert_64` key.
    pub fn new(prover: Arc<Prover>) -> Self {
        Sequencer {
            prover,
            frontier: Mutex::new(Frontier::new()),
        }
    }

    /// Pads and appends until every queued leaf is under the root; returns
    /// the number of batches this call appended. A batch appended by
    /// someone else meanwhile (`WrongBatchStart`) is skipped, not an error.
    pub async fn append_waiting(&self, ledger: &EvmLedger) -> Result<u64, LedgerError> {
        let mut frontier = self.frontier.lock().await;
        let mut appended = 0;
        loop {
            let (tree_size, leaves) = {
                let index = ledger.synced().await?;
                (index.tree_size(), index.leaves().to_vec())
            };
            let count = leaves.len() as u64;
            if count == tree_size {
                return Ok(appended);
            }
            if !count.is_multiple_of(contract::CHECKPOINT_INTERVAL) {
                match ledger.transact(&contract::pad_queue()).await {
                    Ok(_) => {}
                    Err(e) if revert_of(&e) == Some(LedgerRevert::NothingToPad) => {}
                    Err(e) => return Err(from_rpc(e)),
                }
                continue;
            }
            catch_up(&mut frontier, &leaves[..tree_size as usize])?;
            let queued = to_fr(&leaves[tree_size as usize..])?;
            let (prover, tree) = (self.prover.clone(), frontier.clone());
            let (batch, after) = tokio::task::spawn_blocking(move || {
                contract::prove_next_batch(&prover, &tree, &queued, &mut OsRng)
            })
            .await
            .map_err(|e| LedgerError::Unavailable(format!("prover task: {e}")))?
            .map_err(|e| LedgerError::Unavailable(format!("proving the next batch: {e}")))?;
            match ledger.transact(&batch.calldata()).await {
                Ok(_) => {
                    *frontier = after;
                    appended += 1;
                }
                Err(e) if matches!(revert_of(&e), Some(LedgerRevert::WrongBatchStart { .. })) => {}
                Err(e) => return Err(from_rpc(e)),
            }
        }
    }
}

/// Brings `frontier` to `leaves` (the leaves under the contract's root).
fn catch_up(frontier: &mut Frontier, leaves: &[[u8; 32]]) -> Result<(), LedgerError> {
    let have = frontier.size() as usize;
    if have > leaves.len() {
        // The chain went back (a reorg): start again.
        *frontier = Frontier::new();
    }
    for cm in to_fr(&leaves[frontier.size() as usize..])? {
        frontier
            .append(NoteCommitment::from_fr(cm))
            .map_err(|_| LedgerError::InvalidArgument("commitment tree is full"))?;
    }
    Ok(())
}

fn to_fr(words: &[[u8; 32]]) -> Result<Vec<Fr>, LedgerError> {
    words
        .iter()
        .map(|w| {
            NoteCommitment::from_bytes(w)
                .map(|c| c.inner())
                .map_err(|_| LedgerError::Corrupted("a queued leaf ≥ r".into()))
        })
        .collect()
}
