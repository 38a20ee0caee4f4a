//! The node's proof backend on `veil-proofs`: access tokens decoded with
//! the canonical decoder and verified against the pinned access key;
//! settlement proved with `settle_K`, K ∈ {8, 64} (`docs/protocol.md` §9.2,
//! §9.6).
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use veil_circuits::settle::{SettlePublic, Slot};
use veil_ledger::types::{NodeId, Proof, Value};
use veil_proofs::{CircuitId, ParamStore, ParamsError, Prover, SettleSize, Verifier};

use crate::backend::{
    AccessToken, AccessVerifier, ProveError, SettleProver, SettleSlotWitness, TokenDecodeError,
    batch_price,
};

/// Batch sizes the node settles with: 8 for small batches, 64 for large.
pub const NODE_SETTLE_SIZES: [u32; 2] = [8, 64];

/// Access verification with the pinned access verifying key.
pub struct ProofsVerifier {
    verifier: Verifier,
}

impl ProofsVerifier {
    /// Loads the access verifying key from `store` (checked against its pin, B8).
    pub fn load(store: &ParamStore) -> Result<Self, ParamsError> {
        Ok(Self {
            verifier: Verifier::from_store(store, &[CircuitId::Access], None)?,
        })
    }
}

impl AccessVerifier for ProofsVerifier {
    fn decode(&self, bytes: &[u8]) -> Result<AccessToken, TokenDecodeError> {
        let t = veil_proofs::AccessToken::from_bytes(bytes)
            .map_err(|e| TokenDecodeError(e.to_string()))?;
        Ok(AccessToken {
            statement: t.public,
            proof: Proof(t.proof.to_bytes()),
        })
    }

    fn verify(&self, token: &AccessToken) -> bool {
        let Ok(proof) = veil_proofs::Proof::from_bytes(&token.proof.0) else {
            return false;
        };
        let t = veil_proofs::AccessToken {
            public: token.statement,
            proof,
        };
        // Only Ok(()) is a valid proof (stack.md: never `.is_ok()` on a bool result).
        matches!(self.verifier.verify_access(&t), Ok(()))
    }
}

/// Settlement proving; proving keys are loaded (or generated, development
/// setup) on first use of each `K`, off the async runtime.
/// A prover loaded once per `K` (or the error that prevented it).
type ProverCell = Arc<OnceLock<Result<Prover, String>>>;

pub struct ProofsProver {
    store: ParamStore,
    provers: Mutex<BTreeMap<u32, ProverCell>>,
}

impl ProofsProver {
    pub fn new(store: ParamStore) -> Self {
        Self {
            store,
            provers: Mutex::new(BTreeMap::new()),
        }
    }

    fn prover(&self, k: u32) -> Result<Prover, ProveError> {
        let size = SettleSize::new(u64::from(k)).map_err(|e| ProveError(e.to_string()))?;
        let cell = crate::state::lock(&self.provers)
            .entry(k)
            .or_default()
            .clone();
        cell.get_or_init(|| {
            Prover::from_store(&self.store, &[CircuitId::Settle(size)], None)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(ProveError)
    }
}

impl SettleProver for ProofsProver {
    fn batch_sizes(&self) -> Vec<u32> {
        NODE_SETTLE_SIZES.to_vec()
    }

    fn prove(
        &self,
        node_id: NodeId,
        k: u32,
        total: Value,
        slots: &[SettleSlotWitness],
    ) -> Result<Proof, ProveError> {
        if slots.len() > k as usize {
            return Err(ProveError(format!("{} slots for K = {k}", slots.len())));
        }
        let price = batch_price(slots)?;
        let mut all: Vec<Slot> = slots
            .iter()
            .map(|s| Slot::new(s.escrow.terms(), price, &s.session_key, &s.receipt))
            .collect();
        all.resize(k as usize, Slot::padding());
        let public = SettlePublic::for_slots(node_id, price, &all);
        if public.total != total {
            return Err(ProveError(format!(
                "total mismatch: node {total:?}, circuit {:?}",
                public.total
            )));
        }
        let prover = self.prover(k)?;
        let mut rng = rand::rngs::OsRng;
        let proof = match k {
            8 => prover.prove_settle::<8>(&public, all, &mut rng),
            64 => prover.prove_settle::<64>(&public, all, &mut rng),
            1 => prover.prove_settle::<1>(&public, all, &mut rng),
            other => return Err(ProveError(format!("no settle circuit for K = {other}"))),
        }
        .map_err(|e| ProveError(e.to_string()))?;
        Ok(Proof(proof.proof.to_bytes()))
    }
}
