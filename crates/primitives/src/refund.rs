//! A session's refund key and its two possible refund notes: the settlement
//! refund and the reclaim (`docs/protocol.md` §2.3, §5.4, §6, §8.3.4).
//!
//! Every derivation is defined here once and used by the settle circuit's
//! native twin, the node, the ledger and the client:
//!
//! - refund spending key `sk_r = H(REFUND_KEY, sk, ρ_r)`, fresh per session
//!   (`ρ_r` uniform), with owner key `rk = H(OWNER, sk_r)`: access token
//!   input #6, public in the escrow record. Sessions are unlinkable: `rk`
//!   reveals nothing of `sk`.
//! - settlement refund note `(E − pay, rk, ρ_ref)`, `ρ_ref = H(REFUND, S.x, S.y)`
//!   for the session key `S`. Only the client and the node know `S` (the
//!   public sees `h_S = H(SESSION, S.x, S.y)`), so nobody else can
//!   recompute `cm_refund` and read the session's pay from it.
//! - reclaim note `(E, rk, ρ_rc)`, `ρ_rc = H(RECLAIM, session_id)`: public,
//!   which hides nothing that matters (a reclaim returns all of `E`), and
//!   distinct from the refund note of a zero-KiB settlement.

use crate::{
    babyjubjub::EdwardsAffine,
    ids::SessionId,
    keys::{OwnerKey, SpendingKey},
    note::{Note, Rho},
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

/// `sk_r = H(REFUND_KEY, sk, ρ_r)`: the spending key of a session's refund
/// and reclaim notes (and of the change of spending them).
pub fn refund_spending_key(sk: &SpendingKey, rho_r: &Rho) -> SpendingKey {
    SpendingKey::from_fr(hash_tagged(
        DomainTag::RefundKey,
        &[sk.inner(), rho_r.inner()],
    ))
}

/// `ρ_ref = H(REFUND, S.x, S.y)` for the session key `S` (raw coordinates:
/// the settle circuit's twin computes it on its witness as is).
pub fn refund_rho(session_key: &EdwardsAffine) -> Rho {
    Rho::from_fr(hash_tagged(
        DomainTag::Refund,
        &[session_key.x, session_key.y],
    ))
}

/// `ρ_rc = H(RECLAIM, session_id)`.
pub fn reclaim_rho(session_id: &SessionId) -> Rho {
    Rho::from_fr(hash_tagged(DomainTag::Reclaim, &[session_id.inner()]))
}

/// The refund note a settlement appends: `(refund, rk, H(REFUND, S))`.
pub fn refund_note(refund: Value, refund_owner: OwnerKey, session_key: &EdwardsAffine) -> Note {
    Note::new(refund, refund_owner, refund_rho(session_key))
}

/// The note a reclaim appends: `(E, rk, H(RECLAIM, session_id))`.
pub fn reclaim_note(escrow: Value, refund_owner: OwnerKey, session_id: &SessionId) -> Note {
    Note::new(escrow, refund_owner, reclaim_rho(session_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fr, eddsa::SigningKey, note::Address};

    fn key(n: u8) -> EdwardsAffine {
        let sk = SigningKey::from_seed([n; 32]).expect("test seed");
        sk.verifying_key().point().to_affine()
    }

    #[test]
    fn definitions_match_the_spec() {
        let sk = SpendingKey::from_fr(Fr::from(3u64));
        let rho_r = Rho::from_fr(Fr::from(5u64));
        let sk_r = refund_spending_key(&sk, &rho_r);
        assert_eq!(
            sk_r.inner(),
            hash_tagged(DomainTag::RefundKey, &[Fr::from(3u64), Fr::from(5u64)])
        );
        let rk = sk_r.owner_key();
        let s = key(7);
        let note = refund_note(Value(40), rk, &s);
        let rho = hash_tagged(DomainTag::Refund, &[s.x, s.y]);
        let addr = hash_tagged(DomainTag::Addr, &[rk.inner(), rho]);
        assert_eq!(note.address(), Address::from_fr(addr));
        assert_eq!(
            note.commitment().inner(),
            hash_tagged(DomainTag::Note, &[Fr::from(40u64), addr])
        );
        let sid = SessionId::from_fr(Fr::from(9u64));
        assert_eq!(
            reclaim_rho(&sid).inner(),
            hash_tagged(DomainTag::Reclaim, &[Fr::from(9u64)])
        );
        assert_eq!(reclaim_note(Value(40), rk, &sid).owner, rk);
    }

    #[test]
    fn refund_keys_are_per_session_and_not_the_wallet_key() {
        let sk = SpendingKey::from_fr(Fr::from(3u64));
        let a = refund_spending_key(&sk, &Rho::from_fr(Fr::from(1u64)));
        let b = refund_spending_key(&sk, &Rho::from_fr(Fr::from(2u64)));
        assert_ne!(a.owner_key(), b.owner_key());
        assert_ne!(a.owner_key(), sk.owner_key());
        // Another tag over the same inputs is another value.
        assert_ne!(
            a.inner(),
            hash_tagged(DomainTag::Nullifier, &[Fr::from(3u64), Fr::from(1u64)])
        );
    }

    #[test]
    fn the_refund_depends_on_the_session_key_and_differs_from_the_reclaim() {
        let rk = OwnerKey::from_fr(Fr::from(11u64));
        let (s, t) = (key(7), key(8));
        assert_ne!(
            refund_note(Value(5), rk, &s).commitment(),
            refund_note(Value(5), rk, &t).commitment()
        );
        // ρ_ref is not h_S (tags differ), so h_S does not give the address away.
        assert_ne!(
            refund_rho(&s).inner(),
            hash_tagged(DomainTag::Session, &[s.x, s.y])
        );
        // A reclaim of E never equals a zero-KiB refund of E.
        let sid = SessionId::from_fr(Fr::from(9u64));
        assert_ne!(
            reclaim_note(Value(5), rk, &sid).commitment(),
            refund_note(Value(5), rk, &s).commitment()
        );
    }
}
