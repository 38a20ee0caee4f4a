//! Typed `settle` of `VeilLedger` (`docs/evm.md` §7; `docs/protocol.md`
//! §5, §8.3.3): the node's operator settles 1..=K open escrows of its node
//! with a `settle_K` proof over `[node_id, T, price, esc_0..esc_{K−1},
//! cm_refund_0..cm_refund_{K−1}]`. The contract never hashes Poseidon for
//! it: `esc` is each escrow's, stored (in its terms' keccak) when the
//! access proof opened it, and given back here with the other terms.

use veil_circuits::settle::{SettlePublic, SlotPublic};
use veil_proofs::Proof;

use crate::abi::{Arg, Word, encode_call_args, selector, word_u64};
use crate::escrow::{ESCROW_TERMS, EscrowTerms};
use crate::solidity::{ProofWords, fr_word};

/// The batch sizes with a `settle_K` verifier (§8.1).
pub const BATCH_SIZES: [u64; 3] = [1, 8, 64];

/// Most sessions one `settle` takes (`MAX_SETTLE_BATCH`).
pub const MAX_SETTLE_BATCH: usize = 64;

/// The signature of the event a settlement emits.
pub const SETTLED_EVENT: &str = "Settled(uint256,uint64,uint64,uint256[],uint256[])";

/// One session of a settlement as `settle` takes it
/// (`VeilLedger.SettleSession`): the escrow's id and terms, as
/// `EscrowOpened` published them, and its refund commitment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettleSession {
    pub session_id: Word,
    pub terms: EscrowTerms,
    pub cm_refund: Word,
}

impl SettleSession {
    fn words(&self) -> Vec<Word> {
        std::iter::once(self.session_id)
            .chain(self.terms.words())
            .chain(std::iter::once(self.cm_refund))
            .collect()
    }
}

/// A `settle` call as words. The fields are raw so that tests can send
/// what [`SettleCall::new`] would not build (another `K`, `T ≥ 2^64`, a
/// tampered refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettleCall {
    pub node_id: Word,
    /// `K`, the `settle_K` circuit of the proof.
    pub k: Word,
    /// `T`, paid to the node's operator.
    pub total: Word,
    /// The real sessions, in slot order.
    pub sessions: Vec<SettleSession>,
    pub proof: ProofWords,
}

/// A settlement statement that does not match the escrows given for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleCallError {
    /// `K` has no verifier.
    #[error("no settle_K verifier for K = {0}")]
    BatchSize(usize),
    /// Not `1 ≤ n ≤ K` escrows.
    #[error("{given} escrows for a batch of {k}")]
    SessionCount { given: usize, k: usize },
    /// Slot `slot`'s escrow commitment is not the given escrow's `esc`.
    #[error("slot {slot}: the statement's escrow commitment is not the escrow's")]
    EscrowMismatch { slot: usize },
    /// A slot after the real ones is not padding (zero `esc` and refund).
    #[error("slot {slot}: expected a padding slot")]
    NotPadding { slot: usize },
}

impl SettleCall {
    /// The call settling `escrows` (`(session id, terms)` in slot order,
    /// the terms as `EscrowOpened` published them) with `proof` of
    /// `public`, a statement built by [`SettlePublic::for_ledger`]: its
    /// first `n` slots are the escrows', the rest padding.
    pub fn new(
        public: &SettlePublic,
        escrows: &[(Word, EscrowTerms)],
        proof: &Proof,
    ) -> Result<Self, SettleCallError> {
        let k = public.slots.len();
        if !BATCH_SIZES.contains(&(k as u64)) {
            return Err(SettleCallError::BatchSize(k));
        }
        if escrows.is_empty() || escrows.len() > k {
            return Err(SettleCallError::SessionCount {
                given: escrows.len(),
                k,
            });
        }
        let mut sessions = Vec::with_capacity(escrows.len());
        for (slot, s) in public.slots.iter().enumerate() {
            match escrows.get(slot) {
                Some((session_id, terms)) => {
                    if fr_word(&s.escrow_commitment.inner()) != terms.esc {
                        return Err(SettleCallError::EscrowMismatch { slot });
                    }
                    sessions.push(SettleSession {
                        session_id: *session_id,
                        terms: *terms,
                        cm_refund: fr_word(&s.cm_refund.inner()),
                    });
                }
                None if *s == SlotPublic::padding() => {}
                None => return Err(SettleCallError::NotPadding { slot }),
            }
        }
        Ok(SettleCall {
            node_id: fr_word(&public.node_id.inner()),
            k: word_u64(k as u64),
            total: word_u64(public.total.get()),
            sessions,
            proof: ProofWords::from_proof(proof),
        })
    }

    /// The `settle` calldata.
    pub fn calldata(&self) -> Vec<u8> {
        let rows = self.sessions.iter().map(SettleSession::words).collect();
        let mut args = vec![
            Arg::Word(self.node_id),
            Arg::Word(self.k),
            Arg::Word(self.total),
            Arg::Rows(rows),
        ];
        args.extend(self.proof.words().into_iter().map(Arg::Word));
        encode_call_args(
            selector(&format!(
                "settle(uint256,uint256,uint256,(uint256,{ESCROW_TERMS},uint256)[],uint256[8])"
            )),
            &args,
        )
    }
}
