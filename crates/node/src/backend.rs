//! The proof system as the node sees it: a cheap token decoder, an
//! expensive access verifier, and a settlement prover
//! (`docs/protocol.md` §9.2, §9.6).
//!
//! The node is generic over these so that its service logic (check order,
//! queue bounds, failure counting) is tested without minutes of proving;
//! [`crate::proofs_backend`] implements them with `veil-proofs`.
use veil_ledger::types::{AccessPublic, Escrow, NodeId, NoteCommitment, Proof, Value};
use veil_primitives::eddsa::VerifyingKey;
use veil_primitives::receipt::SignedReceipt;

/// A decoded access token: the access statement (public inputs) and proof.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessToken {
    pub statement: AccessPublic,
    pub proof: Proof,
}

/// Why a token does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed access token: {0}")]
pub struct TokenDecodeError(pub String);

/// Access-token decoding and verification.
pub trait AccessVerifier: Send + Sync + 'static {
    /// Decodes the versioned token encoding with every canonical check
    /// (exact length, field elements `< r`, valid proof points). Cheap: no
    /// pairing.
    fn decode(&self, bytes: &[u8]) -> Result<AccessToken, TokenDecodeError>;

    /// Verifies the Groth16 proof against the statement: `true` only on a
    /// valid proof. Blocking (milliseconds); the node calls it on the
    /// blocking pool behind a bounded queue.
    fn verify(&self, token: &AccessToken) -> bool;
}

/// One slot of a settlement batch, with the witness the circuit needs.
#[derive(Clone, Debug)]
pub struct SettleSlotWitness {
    /// The ledger's escrow record.
    pub escrow: Escrow,
    /// The highest receipt the node holds for it.
    pub receipt: SignedReceipt,
    /// The session key the receipt is signed with (`H(SESSION, S) = h_S`).
    pub session_key: VerifyingKey,
    /// The refund note `(E − pay, rk, H(REFUND, S))` (§5.4), computed by the node.
    pub cm_refund: NoteCommitment,
}

/// The price every escrow of a batch records, by the ledger's one rule
/// (`veil_ledger::machine::batch_price`, §8.3.3); a batch mixing prices is
/// refused.
pub fn batch_price(slots: &[SettleSlotWitness]) -> Result<Value, ProveError> {
    let escrows: Vec<_> = slots.iter().map(|s| s.escrow.clone()).collect();
    veil_ledger::machine::batch_price(&escrows).map_err(|e| ProveError(e.to_string()))
}

/// Why proving failed.
#[derive(Debug, thiserror::Error)]
#[error("settlement proving failed: {0}")]
pub struct ProveError(pub String);

/// Settlement proving (`settle_K`).
pub trait SettleProver: Send + Sync + 'static {
    /// The batch sizes `K` this prover has keys for, ascending.
    fn batch_sizes(&self) -> Vec<u32>;

    /// Proves a batch of `slots.len() <= k` slots (the rest padded) paying
    /// `total` to `node_id`. Blocking (seconds).
    fn prove(
        &self,
        node_id: NodeId,
        k: u32,
        total: Value,
        slots: &[SettleSlotWitness],
    ) -> Result<Proof, ProveError>;
}
