//! The verifier: holds prepared verifying keys (loaded by pinned hash) and
//! checks tokens and proofs. Cheap to clone (an `Arc`), so a node can hand
//! it to its blocking verification pool.
//!
//! Spec: `docs/protocol.md` §7.4–§7.5.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{CryptoRng, RngCore};
use veil_primitives::Fr;

use veil_circuits::answer::AnswerPublic;
use veil_circuits::settle::SettlePublic;

use crate::circuit::{CircuitId, SettleSize};
use crate::error::{ParamsError, VerifyError};
use crate::groth16::PreparedKey;
use crate::params::{ParamStore, Progress};
use crate::proof::Proof;
use crate::token::{AccessToken, SettleProof, WithdrawProof};

/// Prepared verifying keys of some circuits.
#[derive(Clone, Debug)]
pub struct Verifier {
    keys: Arc<BTreeMap<CircuitId, PreparedKey>>,
}

impl Verifier {
    /// Loads the verifying keys of `circuits` from `store`, each checked
    /// against its pinned hash (B8).
    pub fn from_store(
        store: &ParamStore,
        circuits: &[CircuitId],
        progress: Option<Progress<'_>>,
    ) -> Result<Self, ParamsError> {
        let mut keys = BTreeMap::new();
        for &id in circuits {
            let vk = store.verifying_key(id, progress)?;
            keys.insert(id, PreparedKey::new(&vk));
        }
        Ok(Verifier {
            keys: Arc::new(keys),
        })
    }

    /// The prepared key of `id`.
    pub fn key(&self, id: CircuitId) -> Result<&PreparedKey, VerifyError> {
        self.keys.get(&id).ok_or(VerifyError::NoKey(id))
    }

    /// Verifies an access token against the access key only (B8). Does not
    /// check the root, nullifier, node id or expiry against any state: that
    /// is the caller's job, and cheaper, so do it first (C4, C5).
    pub fn verify_access(&self, token: &AccessToken) -> Result<(), VerifyError> {
        self.key(CircuitId::Access)?
            .verify(&token.public.to_field_elements(), &token.proof)
    }

    /// Verifies a withdrawal proof.
    pub fn verify_withdraw(&self, w: &WithdrawProof) -> Result<(), VerifyError> {
        self.key(CircuitId::Withdraw)?
            .verify(&w.public.to_field_elements(), &w.proof)
    }

    /// Verifies a challenge answer's proof for the challenge `public`.
    pub fn verify_answer(&self, public: &AnswerPublic, proof: &Proof) -> Result<(), VerifyError> {
        self.key(CircuitId::Answer)?
            .verify(&public.to_field_elements(), proof)
    }

    /// Verifies a settlement proof of batch size `k` for `public`, which
    /// the ledger built from its own records (§5).
    pub fn verify_settle(
        &self,
        k: SettleSize,
        public: &SettlePublic,
        proof: &Proof,
    ) -> Result<(), VerifyError> {
        self.key(CircuitId::Settle(k))?
            .verify(&public.to_field_elements(), proof)
    }

    /// [`Verifier::verify_settle`] on a decoded [`SettleProof`].
    pub fn verify_settle_proof(&self, p: &SettleProof) -> Result<(), VerifyError> {
        self.verify_settle(p.k, &p.public, &p.proof)
    }

    /// Verifies many access tokens with one multi-pairing (§7.5). On
    /// `Err(InvalidBatch)`, verify individually to find the culprits.
    pub fn batch_verify_access<R: RngCore + CryptoRng>(
        &self,
        tokens: &[AccessToken],
        rng: &mut R,
    ) -> Result<(), VerifyError> {
        let key = self.key(CircuitId::Access)?;
        let statements: Vec<Vec<Fr>> = tokens
            .iter()
            .map(|t| t.public.to_field_elements())
            .collect();
        let items: Vec<_> = statements
            .iter()
            .zip(tokens)
            .map(|(s, t)| (s.as_slice(), &t.proof))
            .collect();
        key.batch_verify(&items, rng)
    }
}
