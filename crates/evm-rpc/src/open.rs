//! A node's batch of escrow opens (`docs/evm.md` §5.2, §6): each token is
//! first simulated alone, so that a token opened meanwhile (a client's
//! retry, a front-runner who sent it alone) or listed twice is dropped
//! instead of reverting the whole batch.

use alloy::primitives::Address;
use veil_evm::abi::Word;
use veil_evm::escrow::{self, AccessWords};
use veil_evm::ledger::LedgerRevert;

use crate::chain::{Receipt, RpcChain, RpcError};

/// What [`open_batch`] did.
#[derive(Debug, Clone)]
pub struct OpenBatch {
    /// The transaction that opened the survivors (none if none survived).
    pub receipt: Option<Receipt>,
    /// The nullifiers (session ids) opened, in order.
    pub opened: Vec<Word>,
    /// The tokens dropped and why (a second copy of a nullifier in the
    /// list is `NullifierSpent`).
    pub refused: Vec<(Word, LedgerRevert)>,
}

/// Opens `tokens` for `node_id` at `ledger`: simulates each alone
/// (`eth_call` of `openEscrow`), drops the refused ones and sends the rest
/// in one `openEscrows` (one token: `openEscrow`). Any failure other than
/// the ledger refusing a token is an error, and nothing is sent. A
/// transaction of the sender still pending is waited for first
/// ([`RpcChain::wait_until_idle`]).
pub async fn open_batch(
    chain: &RpcChain,
    ledger: Address,
    node_id: Word,
    tokens: &[AccessWords],
) -> Result<OpenBatch, RpcError> {
    chain.wait_until_idle().await?;
    let mut kept: Vec<AccessWords> = Vec::with_capacity(tokens.len());
    let mut refused = Vec::new();
    for t in tokens {
        if kept.iter().any(|k| k.nullifier() == t.nullifier()) {
            refused.push((t.nullifier(), LedgerRevert::NullifierSpent));
            continue;
        }
        match chain.call(ledger, &escrow::open_escrow(node_id, t)).await {
            Ok(_) => kept.push(*t),
            Err(RpcError::Reverted { data }) => match LedgerRevert::decode(&data) {
                Ok(why) => refused.push((t.nullifier(), why)),
                Err(_) => return Err(RpcError::Reverted { data }),
            },
            Err(e) => return Err(e),
        }
    }
    let receipt = match kept.as_slice() {
        [] => None,
        [one] => Some(
            chain
                .send(ledger, &escrow::open_escrow(node_id, one))
                .await?,
        ),
        many => Some(
            chain
                .send(ledger, &escrow::open_escrows(node_id, many))
                .await?,
        ),
    };
    Ok(OpenBatch {
        receipt,
        opened: kept.iter().map(AccessWords::nullifier).collect(),
        refused,
    })
}
