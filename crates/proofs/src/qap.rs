//! The two R1CS-to-QAP reductions a veil proving key can be made for
//! (`docs/protocol.md` §7.3): arkworks' own ([`Reduction::Libsnark`], the
//! development keys) and snarkjs' ([`Reduction::Circom`], keys from a
//! `.zkey` ceremony). A key proves correctly only with the reduction it was
//! made for, so the setup record names it and the prover follows the record.
//!
//! Both interpolate `A·z`, `B·z`, `C·z` over the size-`m` domain, with one
//! extra row per input (wire `i` in row `n + i` of A). They differ in `H`:
//! arkworks stores `τ^i·Z(τ)/δ` and proves with the coefficients of
//! `h = (AB − C)/Z`; snarkjs stores `ℓ'_{2i+1}(τ)/δ`, the odd points of the
//! size-`2m` Lagrange basis, and proves with `(AB − C)` evaluated on the odd
//! coset `ω_{2m}·ω_m^i` (`groth16_prove.js`). Since `AB − C` has degree
//! `< 2m` and vanishes on the even points, `Σ_i (AB − C)(ω_{2m}^{2i+1})·
//! ℓ'_{2i+1}(τ) = (AB − C)(τ) = h(τ)·Z(τ)`.

use ark_ff::PrimeField;
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP, evaluate_constraint};
use ark_poly::EvaluationDomain;
use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
use ark_relations::utils::matrix::Matrix;
use serde::{Deserialize, Serialize};

/// Which reduction a proving key was made for (recorded per circuit in
/// `params/setup.json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reduction {
    /// arkworks' `LibsnarkReduction`: keys from `ark-groth16`'s setup.
    #[default]
    Libsnark,
    /// snarkjs' and circom's: keys from a `.zkey` (a phase-2 ceremony).
    Circom,
}

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
