//! The prover: holds proving keys, turns statements and witnesses into
//! encoded-ready proofs.
//!
//! Spec: `docs/protocol.md` §7.4.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{CryptoRng, RngCore};
use veil_circuits::access::{AccessCircuit, AccessPrivate, AccessPublic};
use veil_circuits::answer::{AnswerCircuit, AnswerPrivate, AnswerPublic, AnswerRelation};
use veil_circuits::settle::{SettleCircuit, SettlePublic, Slot};
use veil_circuits::tree_insert::{TreeInsertCircuit, TreeInsertPublic};
use veil_circuits::withdraw::{WithdrawCircuit, WithdrawPrivate, WithdrawPublic};

use crate::circuit::{CircuitId, SettleSize};
use crate::error::{ParamsError, ProofError};
use crate::groth16::{ConstraintSynthesizer, ProvingContext, ProvingKey};
use crate::params::{ParamStore, Progress};
use crate::qap::Reduction;
use crate::token::{AccessToken, SettleProof, WithdrawProof};
use veil_primitives::Fr;

/// Holds the proving keys of some circuits. Cheap to clone.
#[derive(Clone)]
pub struct Prover {
    keys: BTreeMap<CircuitId, ProvingContext>,
    warning: Option<&'static str>,
}

impl Prover {
    /// Loads (or, for development keys, generates and caches) the proving
    /// keys of `circuits` from `store`, each proving with the reduction its
    /// record names. Show [`Prover::insecure_warning`] if it is `Some`.
    pub fn from_store(
        store: &ParamStore,
        circuits: &[CircuitId],
        progress: Option<Progress<'_>>,
    ) -> Result<Self, ParamsError> {
        let mut keys = BTreeMap::new();
        for &id in circuits {
            let pk = store.proving_key(id, progress)?;
            let reduction = store.record().get(id)?.reduction;
            let ctx =
                crate::circuits::with_blank(id, ContextFor(pk, reduction)).map_err(|source| {
                    ParamsError::Setup {
                        circuit: id,
                        source,
                    }
                })?;
            keys.insert(id, ctx);
        }
        Ok(Prover {
            keys,
            warning: store.insecure_warning(circuits),
        })
    }

    /// The warning to show if any key this prover holds is a development
    /// key.
    pub fn insecure_warning(&self) -> Option<&'static str> {
        self.warning
    }

    /// The proving context (key and matrices) of `id`, if loaded.
    pub fn context(&self, id: CircuitId) -> Result<&ProvingContext, ProofError> {
        self.keys.get(&id).ok_or(ProofError::MissingKey(id))
    }

    /// The proving key of `id`, if loaded.
    pub fn proving_key(&self, id: CircuitId) -> Result<&Arc<ProvingKey>, ProofError> {
        self.context(id).map(ProvingContext::pk)
    }

    /// Proves an access statement (§3): checks the witness satisfies the
    /// circuit, then returns the token.
    pub fn prove_access<R: RngCore + CryptoRng>(
        &self,
        public: &AccessPublic,
        private: &AccessPrivate,
        rng: &mut R,
    ) -> Result<AccessToken, ProofError> {
        let ctx = self.context(CircuitId::Access)?;
        let circuit = AccessCircuit::new(public, private);
        let proof = ctx.prove(circuit, &public.to_field_elements(), rng)?;
        Ok(AccessToken {
            public: *public,
            proof,
        })
    }

    /// Proves a withdrawal statement (§4).
    pub fn prove_withdraw<R: RngCore + CryptoRng>(
        &self,
        public: &WithdrawPublic,
        private: &WithdrawPrivate,
        rng: &mut R,
    ) -> Result<WithdrawProof, ProofError> {
        let ctx = self.context(CircuitId::Withdraw)?;
        let circuit = WithdrawCircuit::new(public, private);
        let proof = ctx.prove(circuit, &public.to_field_elements(), rng)?;
        Ok(WithdrawProof {
            public: *public,
            proof,
        })
    }

    /// Proves a settlement of exactly `K` slots (pad with
    /// [`Slot::padding`]) for `public` (§5).
    pub fn prove_settle<const K: usize>(
        &self,
        public: &SettlePublic,
        slots: Vec<Slot>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<SettleProof, ProofError> {
        let k = SettleSize::new(K as u64)?;
        let ctx = self.context(CircuitId::Settle(k))?;
        let circuit = SettleCircuit::<K>::from_slots(public.clone(), &slots)
            .map_err(|e| ProofError::StatementMismatch(e.to_string()))?;
        let proof = ctx.prove(circuit, &public.to_field_elements(), rng)?;
        Ok(SettleProof {
            k,
            public: public.clone(),
            proof,
        })
    }
}

impl Prover {
    /// Proves a batched append of 64 leaves (`tree_insert_64`,
    /// `docs/evm.md` §3.2 item 1): checks the statement with the native
    /// twin first, so a false one is refused before proving.
    pub fn prove_tree_insert_64(
        &self,
        public: &TreeInsertPublic,
        siblings: Vec<Fr>,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<crate::Proof, ProofError> {
        let ctx = self.context(CircuitId::TreeInsert64)?;
        let circuit = TreeInsertCircuit::<64>::new(public.clone(), siblings)
            .map_err(|e| ProofError::StatementMismatch(e.to_string()))?;
        ctx.prove(circuit, &public.to_field_elements(), rng)
    }

    /// Proves a node key's answer to a ledger challenge (`answer`,
    /// `docs/protocol.md` §8.3.14): checks it with the native twin first,
    /// so a signature that answers nothing is refused before proving.
    pub fn prove_answer(
        &self,
        public: &AnswerPublic,
        private: &AnswerPrivate,
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Result<crate::Proof, ProofError> {
        AnswerRelation::check(public, private)
            .map_err(|e| ProofError::StatementMismatch(e.to_string()))?;
        let ctx = self.context(CircuitId::Answer)?;
        ctx.prove(
            AnswerCircuit::new(public, private),
            &public.to_field_elements(),
            rng,
        )
    }
}

/// Builds a [`ProvingContext`] from the blank circuit of a [`CircuitId`].
struct ContextFor(Arc<ProvingKey>, Reduction);

impl crate::circuits::BlankVisitor for ContextFor {
    type Output = Result<ProvingContext, ProofError>;
    fn visit<C: ConstraintSynthesizer<Fr> + Clone>(self, _id: CircuitId, blank: C) -> Self::Output {
        ProvingContext::new(self.0, self.1, blank)
    }
    fn unavailable(self, id: CircuitId) -> Self::Output {
        Err(ProofError::MissingKey(id))
    }
}
