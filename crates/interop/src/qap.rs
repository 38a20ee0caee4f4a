//! snarkjs' R1CS-to-QAP reduction, so veil can prove with a `.zkey`
//! ([`crate::zkey`]) and snarkjs with keys veil makes.
//!
//! Both snarkjs and arkworks' `LibsnarkReduction` interpolate `A·z`, `B·z`,
//! `C·z` over the size-`m` domain, with one extra row per input (wire `i`
//! in row `n + i` of A). They differ in `H`: arkworks stores
//! `τ^i·Z(τ)/δ` and proves with the coefficients of `h = (AB − C)/Z`;
//! snarkjs stores `ℓ'_{2i+1}(τ)/δ`, the odd points of the size-`2m`
//! Lagrange basis, and proves with `(AB − C)` evaluated on the odd coset
//! `ω_{2m}·ω_m^i` (`groth16_prove.js`). Since `AB − C` has degree `< 2m`
//! and vanishes on the even points, `Σ_i (AB − C)(ω_{2m}^{2i+1})·ℓ'_{2i+1}(τ)
//! = (AB − C)(τ) = h(τ)·Z(τ)`.

use ark_bn254::{Bn254, Fr};
use ark_ff::{PrimeField, Zero};
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP, evaluate_constraint};
use ark_groth16::{Groth16, ProvingKey};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystemRef, Matrix, SynthesisError};
use ark_serialize::CanonicalSerialize;
use rand::{CryptoRng, RngCore};
use veil_proofs::{Proof, ProofError};

use crate::error::InteropError;
use crate::r1cs::R1cs;
use crate::wtns::Witness;

/// snarkjs' (and circom's) reduction, for `ark_groth16::Groth16<Bn254,
/// CircomReduction>`.
pub struct CircomReduction;

/// `(AB − C)` on the odd coset of the size-`2m` domain, from its values on
/// the size-`m` domain.
fn odd_coset<F: PrimeField, D: EvaluationDomain<F>>(
    domain: &D,
    mut a: Vec<F>,
    mut b: Vec<F>,
    mut c: Vec<F>,
) -> Result<Vec<F>, SynthesisError> {
    let shift = D::new(2 * domain.size())
        .ok_or(SynthesisError::PolynomialDegreeTooLarge)?
        .element(1);
    for v in [&mut a, &mut b, &mut c] {
        domain.ifft_in_place(v);
        D::distribute_powers_and_mul_by_const(v, shift, F::one());
        domain.fft_in_place(v);
    }
    Ok(a.iter()
        .zip(&b)
        .zip(&c)
        .map(|((a, b), c)| *a * b - c)
        .collect())
}

impl R1CSToQAP for CircomReduction {
    /// As `LibsnarkReduction` (the same A, B, C polynomials).
    #[allow(clippy::type_complexity)]
    fn instance_map_with_evaluation<F: PrimeField, D: EvaluationDomain<F>>(
        cs: ConstraintSystemRef<F>,
        t: &F,
    ) -> Result<(Vec<F>, Vec<F>, Vec<F>, F, usize, usize), SynthesisError> {
        LibsnarkReduction::instance_map_with_evaluation::<F, D>(cs, t)
    }

    fn witness_map_from_matrices<F: PrimeField, D: EvaluationDomain<F>>(
        matrices: &[Matrix<F>],
        num_inputs: usize,
        num_constraints: usize,
        full_assignment: &[F],
    ) -> Result<Vec<F>, SynthesisError> {
        let domain =
            D::new(num_constraints + num_inputs).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let [ma, mb, mc] = matrices else {
            return Err(SynthesisError::Unsatisfiable);
        };
        let m = domain.size();
        let eval = |mat: &Matrix<F>| {
            let mut v = vec![F::zero(); m];
            for (x, row) in v.iter_mut().zip(mat.iter().take(num_constraints)) {
                *x = evaluate_constraint(row, full_assignment);
            }
            v
        };
        let (mut a, b, c) = (eval(ma), eval(mb), eval(mc));
        a[num_constraints..num_constraints + num_inputs]
            .copy_from_slice(&full_assignment[..num_inputs]);
        odd_coset(&domain, a, b, c)
    }

    /// `ℓ'_{2i+1}(t)/δ` for `i ≤ max_power` (arkworks' generator passes
    /// `m − 1`), `ℓ'` the Lagrange basis of the size-`2m` domain:
    /// `ℓ'_j(t) = (t^{2m} − 1)·ω'^j / (2m·(t − ω'^j))`.
    fn h_query_scalars<F: PrimeField, D: EvaluationDomain<F>>(
        max_power: usize,
        t: F,
        _zt: F,
        delta_inverse: F,
    ) -> Result<Vec<F>, SynthesisError> {
        let m = max_power + 1;
        let big = D::new(2 * m).ok_or(SynthesisError::PolynomialDegreeTooLarge)?;
        let n = F::from(big.size() as u64);
        let z = t.pow([big.size() as u64]) - F::one();
        (0..m)
            .map(|i| {
                let w = big.element(2 * i + 1);
                let d = (n * (t - w))
                    .inverse()
                    .ok_or(SynthesisError::DivisionByZero)?;
                Ok(z * w * d * delta_inverse)
            })
            .collect()
    }
}

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
