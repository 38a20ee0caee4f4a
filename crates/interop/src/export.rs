//! veil's circuits in these formats: each circuit's R1CS, and a witness and
//! a proof of its deterministic sample statement ([`veil_proofs::samples`]).

use ark_bn254::Fr;
use rand::{CryptoRng, RngCore};
use veil_circuits::access::AccessCircuit;
use veil_circuits::answer::AnswerCircuit;
use veil_circuits::settle::SettleCircuit;
use veil_circuits::tree_insert::TreeInsertCircuit;
use veil_circuits::withdraw::WithdrawCircuit;
use veil_proofs::circuits::{BlankVisitor, with_blank};
use veil_proofs::groth16::{ConstraintSynthesizer, ProvingContext};
use veil_proofs::{CircuitId, Proof, ProofError, samples};

use crate::error::InteropError;
use crate::r1cs::R1cs;
use crate::wtns::Witness;

/// The seed of every exported sample statement.
pub const SAMPLE_SEED: u64 = 1;

/// The constraint system veil's setup and prover use for `id`.
pub fn circuit_r1cs(id: CircuitId) -> Result<R1cs, InteropError> {
    struct Blank;
    impl BlankVisitor for Blank {
        type Output = Result<R1cs, InteropError>;
        fn visit<C: ConstraintSynthesizer<Fr> + Clone>(
            self,
            _: CircuitId,
            blank: C,
        ) -> Self::Output {
            R1cs::from_circuit(blank)
        }
        fn unavailable(self, id: CircuitId) -> Self::Output {
            Err(ProofError::MissingKey(id).into())
        }
    }
    with_blank(id, Blank)
}

/// Receives a sample circuit with its witness and its statement.
trait SampleVisitor {
    type Output;
    fn visit<C: ConstraintSynthesizer<Fr>>(self, circuit: C, statement: Vec<Fr>) -> Self::Output;
}

fn no_sample(id: CircuitId) -> InteropError {
    ProofError::Synthesis(format!("no sample statement for {id}")).into()
}

fn settle_sample<const K: usize, V: SampleVisitor>(
    id: CircuitId,
    v: V,
) -> Result<V::Output, InteropError> {
    let (public, slots) = samples::settle(K, SAMPLE_SEED).ok_or_else(|| no_sample(id))?;
    let circuit = SettleCircuit::<K>::from_slots(public.clone(), &slots)
        .map_err(|e| ProofError::StatementMismatch(e.to_string()))?;
    Ok(v.visit(circuit, public.to_field_elements()))
}

/// Calls `v` with the sample statement of `id`: an access with escrow 300,
/// a withdrawal of 250 (both from a 1,000-unit note), or a full settlement
/// batch of `K` sessions.
fn with_sample<V: SampleVisitor>(id: CircuitId, v: V) -> Result<V::Output, InteropError> {
    match id {
        CircuitId::Access => {
            let (public, private) =
                samples::access(SAMPLE_SEED, 300).ok_or_else(|| no_sample(id))?;
            Ok(v.visit(
                AccessCircuit::new(&public, &private),
                public.to_field_elements(),
            ))
        }
        CircuitId::Withdraw => {
            let (public, private) =
                samples::withdraw(SAMPLE_SEED, 250).ok_or_else(|| no_sample(id))?;
            Ok(v.visit(
                WithdrawCircuit::new(&public, &private),
                public.to_field_elements(),
            ))
        }
        CircuitId::Settle(k) => match k.get() {
            1 => settle_sample::<1, V>(id, v),
            8 => settle_sample::<8, V>(id, v),
            64 => settle_sample::<64, V>(id, v),
            _ => Err(no_sample(id)),
        },
        CircuitId::TreeInsert64 => {
            let (public, siblings) =
                samples::tree_insert_64(SAMPLE_SEED).ok_or_else(|| no_sample(id))?;
            let statement = public.to_field_elements();
            let circuit = TreeInsertCircuit::<64>::new(public, siblings)
                .map_err(|e| ProofError::StatementMismatch(e.to_string()))?;
            Ok(v.visit(circuit, statement))
        }
        CircuitId::Answer => {
            let (public, private) = samples::answer(SAMPLE_SEED).ok_or_else(|| no_sample(id))?;
            Ok(v.visit(
                AnswerCircuit::new(&public, &private),
                public.to_field_elements(),
            ))
        }
    }
}

/// The sample statement of `id` and its full witness, checked against
/// [`circuit_r1cs`] (so what is exported satisfies what is exported).
pub fn sample_witness(id: CircuitId) -> Result<(Vec<Fr>, Witness), InteropError> {
    struct Assign;
    impl SampleVisitor for Assign {
        type Output = Result<(Vec<Fr>, Witness), InteropError>;
        fn visit<C: ConstraintSynthesizer<Fr>>(
            self,
            circuit: C,
            statement: Vec<Fr>,
        ) -> Self::Output {
            let w = Witness::from_circuit(circuit, &statement)?;
            Ok((statement, w))
        }
    }
    let (statement, witness) = with_sample(id, Assign)??;
    circuit_r1cs(id)?.check(&witness.0)?;
    Ok((statement, witness))
}

/// A proof of the sample statement of `id` with `ctx` (its key and the
/// reduction the key was made for), with the statement.
pub fn sample_proof<R: RngCore + CryptoRng>(
    id: CircuitId,
    ctx: &ProvingContext,
    rng: &mut R,
) -> Result<(Vec<Fr>, Proof), InteropError> {
    struct Prove<'a, R> {
        ctx: &'a ProvingContext,
        rng: &'a mut R,
    }
    impl<R: RngCore + CryptoRng> SampleVisitor for Prove<'_, R> {
        type Output = Result<(Vec<Fr>, Proof), InteropError>;
        fn visit<C: ConstraintSynthesizer<Fr>>(
            self,
            circuit: C,
            statement: Vec<Fr>,
        ) -> Self::Output {
            let proof = self.ctx.prove(circuit, &statement, self.rng)?;
            Ok((statement, proof))
        }
    }
    with_sample(id, Prove { ctx, rng })?
}
