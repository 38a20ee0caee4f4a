//! Proving with a key in snarkjs' form straight from a `.r1cs` and a
//! `.wtns` (the interop tests' path); the reduction itself is
//! [`veil_proofs::qap::CircomReduction`], which veil's prover uses for
//! ceremony keys.

use ark_bn254::{Bn254, Fr};
use ark_ff::Zero;
use ark_groth16::{Groth16, ProvingKey};
use ark_relations::gr1cs::Matrix;
use ark_serialize::CanonicalSerialize;
use rand::{CryptoRng, RngCore};
pub use veil_proofs::qap::CircomReduction;
use veil_proofs::{Proof, ProofError};

use crate::error::InteropError;
use crate::r1cs::R1cs;
use crate::wtns::Witness;

/// arkworks' matrices of `r1cs` (rows of `(coefficient, wire)`).
fn matrices(r1cs: &R1cs) -> [Matrix<Fr>; 3] {
    let rows = |pick: fn(&crate::Constraint) -> &crate::r1cs::Lc| -> Matrix<Fr> {
        r1cs.constraints
            .iter()
            .map(|k| pick(k).iter().map(|(w, c)| (*c, *w as usize)).collect())
            .collect()
    };
    [rows(|k| &k.a), rows(|k| &k.b), rows(|k| &k.c)]
}

/// A Groth16 proof that `witness` satisfies `r1cs`, under a proving key in
/// snarkjs' form ([`crate::zkey::Zkey::proving_key`]). Refuses a witness
/// that does not satisfy `r1cs` and a key of another shape.
pub fn prove<R: RngCore + CryptoRng>(
    pk: &ProvingKey<Bn254>,
    r1cs: &R1cs,
    witness: &Witness,
    rng: &mut R,
) -> Result<Proof, InteropError> {
    r1cs.check(&witness.0)?;
    let (inputs, wires) = (r1cs.num_public as usize + 1, r1cs.num_wires as usize);
    let shape_ok = pk.vk.gamma_abc_g1.len() == inputs
        && pk.a_query.len() == wires
        && pk.l_query.len() == wires - inputs;
    if !shape_ok {
        return Err(ProofError::Synthesis("the proving key is for another circuit".into()).into());
    }
    let (r, s) = (nonzero(rng), nonzero(rng));
    let proof = Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
        pk,
        r,
        s,
        &matrices(r1cs),
        inputs,
        r1cs.constraints.len(),
        &witness.0,
    )
    .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    let mut bytes = Vec::with_capacity(Proof::BYTES);
    let ser = |e: ark_serialize::SerializationError| ProofError::Synthesis(e.to_string());
    proof.a.serialize_compressed(&mut bytes).map_err(ser)?;
    proof.b.serialize_compressed(&mut bytes).map_err(ser)?;
    proof.c.serialize_compressed(&mut bytes).map_err(ser)?;
    Ok(Proof::from_bytes(&bytes)?)
}

fn nonzero<R: RngCore>(rng: &mut R) -> Fr {
    loop {
        let x: Fr = ark_ff::UniformRand::rand(rng);
        if !x.is_zero() {
            return x;
        }
    }
}
