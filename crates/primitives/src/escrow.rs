//! The escrow commitment `esc` (`docs/protocol.md` §3.3, §5.1): one field
//! element that binds every term of an escrow.
//!
//! `esc = H(ESCROW, session_id, node_id, E, h_S, rk, expiry)`. The access
//! proof computes it from its own public inputs and exposes it; the settle
//! proof recomputes it per slot from private terms and exposes it again. A
//! ledger that cannot afford Poseidon (a contract) stores `esc` from the
//! access proof and hands it back to the settle verifier: it never hashes.
//! A ledger that can (the embedded one) recomputes it from its record.

use crate::{
    field::Fr,
    ids::{BlockHeight, NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

crate::ids::fr_newtype!(
    /// `esc = H(ESCROW, session_id, node_id, E, h_S, rk, expiry)` (§3.3):
    /// access input #8 and a settle slot's public input (§5.1).
    EscrowCommitment
);

impl EscrowCommitment {
    /// The commitment of a padding slot of `settle_K` (§5.1): `0`, which no
    /// escrow has (it would be a Poseidon preimage of 0).
    pub const PADDING: Self = Self::from_fr(<Fr as ark_ff::AdditiveGroup>::ZERO);
}

/// The terms an escrow commits to (§3.3): everything the access proof
/// binds except the spend itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EscrowTerms {
    /// The session id: the access nullifier `nf`.
    pub session_id: SessionId,
    /// The node paid.
    pub node_id: NodeId,
    /// `E`, the escrowed amount.
    pub escrow: Value,
    /// `h_S`, the session-key commitment.
    pub session_key_hash: SessionKeyHash,
    /// `rk`, the owner key of the session's refund notes.
    pub refund_owner: OwnerKey,
    /// Last settlement height.
    pub expiry: BlockHeight,
}

impl EscrowTerms {
    /// The hash inputs after the tag, in the order of §3.3 (the circuits
    /// hash the same vector).
    pub fn to_field_elements(&self) -> [Fr; 6] {
        [
            self.session_id.inner(),
            self.node_id.inner(),
            self.escrow.to_fr(),
            self.session_key_hash.inner(),
            self.refund_owner.inner(),
            self.expiry.to_fr(),
        ]
    }

    /// `esc = H(ESCROW, session_id, node_id, E, h_S, rk, expiry)`.
    pub fn commitment(&self) -> EscrowCommitment {
        EscrowCommitment::from_fr(hash_tagged(DomainTag::Escrow, &self.to_field_elements()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms() -> EscrowTerms {
        EscrowTerms {
            session_id: SessionId::from_fr(Fr::from(7u64)),
            node_id: NodeId::from_fr(Fr::from(11u64)),
            escrow: Value(1000),
            session_key_hash: SessionKeyHash::from_fr(Fr::from(13u64)),
            refund_owner: OwnerKey::from_fr(Fr::from(17u64)),
            expiry: BlockHeight(99),
        }
    }

    #[test]
    fn every_term_changes_the_commitment() {
        let base = terms();
        let one = Fr::from(1u64);
        let variants = [
            EscrowTerms {
                session_id: SessionId::from_fr(base.session_id.inner() + one),
                ..base
            },
            EscrowTerms {
                node_id: NodeId::from_fr(base.node_id.inner() + one),
                ..base
            },
            EscrowTerms {
                escrow: Value(1001),
                ..base
            },
            EscrowTerms {
                session_key_hash: SessionKeyHash::from_fr(base.session_key_hash.inner() + one),
                ..base
            },
            EscrowTerms {
                refund_owner: OwnerKey::from_fr(base.refund_owner.inner() + one),
                ..base
            },
            EscrowTerms {
                expiry: BlockHeight(100),
                ..base
            },
        ];
        for v in variants {
            assert_ne!(v.commitment(), base.commitment(), "{v:?}");
        }
    }

    #[test]
    fn commitment_is_the_tagged_hash_and_never_padding() {
        let t = terms();
        let mut inputs = vec![Fr::from(DomainTag::Escrow as u64)];
        inputs.extend(t.to_field_elements());
        assert_eq!(t.commitment().inner(), crate::poseidon::hash(&inputs));
        assert_ne!(t.commitment(), EscrowCommitment::PADDING);
        assert_eq!(EscrowCommitment::PADDING.inner(), Fr::from(0u64));
    }
}
