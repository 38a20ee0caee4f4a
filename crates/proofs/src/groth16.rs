//! Groth16 over BN254, generic over any `ConstraintSynthesizer<Fr>`:
//! deterministic development setup, proving with a satisfiability check,
//! verification that accepts only `Ok(true)`, and batch verification.
//!
//! Spec: `docs/protocol.md` §7.3–§7.5.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective};
use ark_ec::pairing::{Pairing, PairingOutput};
use ark_ec::{AffineRepr, CurveGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand, Zero};
use ark_groth16::r1cs_to_qap::{LibsnarkReduction, R1CSToQAP};
use ark_groth16::{Groth16, PreparedVerifyingKey, VerifyingKey};
use ark_poly::GeneralEvaluationDomain;
use ark_relations::gr1cs::{
    ConstraintSystem, ConstraintSystemRef, OptimizationGoal, R1CS_PREDICATE_LABEL, SynthesisMode,
};
use ark_relations::utils::matrix::Matrix;
use ark_snark::SNARK;
use rand::{CryptoRng, Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use crate::assemble::{KeyTables, MsmTimes, assemble, assemble_with};
use crate::error::{ProofError, VerifyError};
use crate::proof::Proof;
use crate::qap::{CircomReduction, Reduction};

/// The circuit trait every function here is generic over (re-exported).
pub use ark_relations::gr1cs::ConstraintSynthesizer;

/// A Groth16 proving key over BN254.
pub type ProvingKey = ark_groth16::ProvingKey<Bn254>;

/// The public label from which every development seed is derived.
pub const DEV_SEED_LABEL: &str = "veil dev setup v1 — INSECURE";

/// Printed (and logged) wherever development keys are made or used.
pub const INSECURE_WARNING: &str = "INSECURE development setup: these Groth16 keys come from a public seed; \
     anyone can forge proofs with them. Never use them with real value.";

/// `SHA-256(DEV_SEED_LABEL ‖ circuit name)`: the public seed of the
/// development setup of one circuit (`docs/protocol.md` §7.3).
pub fn dev_seed(circuit_name: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DEV_SEED_LABEL.as_bytes());
    h.update(circuit_name.as_bytes());
    h.finalize().into()
}

/// The size of a circuit's constraint system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitShape {
    /// R1CS constraints.
    pub constraints: usize,
    /// Public inputs, not counting the constant one.
    pub public_inputs: usize,
    /// Private witness variables.
    pub witnesses: usize,
}

/// Synthesizes `circuit` in setup mode and counts its constraints.
pub fn circuit_shape<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<CircuitShape, ProofError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Setup);
    circuit
        .generate_constraints(cs.clone())
        .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    cs.finalize();
    Ok(CircuitShape {
        constraints: cs.num_constraints(),
        public_inputs: cs.num_instance_variables().saturating_sub(1),
        witnesses: cs.num_witness_variables(),
    })
}

/// Runs the circuit-specific Groth16 setup from the public development seed
/// of `circuit_name`. Deterministic: the same circuit and name always give
/// the same keys. INSECURE by construction (the toxic waste is public);
/// logs [`INSECURE_WARNING`].
pub fn dev_setup<C: ConstraintSynthesizer<Fr>>(
    circuit_name: &str,
    circuit: C,
) -> Result<ProvingKey, ProofError> {
    tracing::warn!(circuit = circuit_name, "{INSECURE_WARNING}");
    let mut rng = ChaCha20Rng::from_seed(dev_seed(circuit_name));
    let (pk, _vk) = Groth16::<Bn254>::circuit_specific_setup(circuit, &mut rng)
        .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    Ok(pk)
}

/// Where the prover's time went (see `docs/benchmarks.md`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProveProfile {
    /// Witness generation: constraint synthesis, LC inlining and the
    /// satisfiability check.
    pub synthesis: Duration,
    /// The R1CS → QAP witness map (the FFTs).
    pub witness_map: Duration,
    /// Witness map + multi-scalar multiplications (the proof itself).
    pub proving: Duration,
    /// Each of the five MSMs.
    pub msm: MsmTimes,
}

/// Synthesizes `circuit` with its witness, checks it is satisfied and that
/// its public inputs equal `statement`, and returns the constraint system.
fn synthesize<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    statement: &[Fr],
) -> Result<ConstraintSystemRef<Fr>, ProofError> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit
        .generate_constraints(cs.clone())
        .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    cs.finalize();
    // arkworks only `debug_assert`s satisfaction: check it here, so an
    // unsatisfied witness is an error rather than a garbage proof.
    let satisfied = cs
        .is_satisfied()
        .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    if !satisfied {
        let which = cs
            .which_is_unsatisfied()
            .ok()
            .flatten()
            .unwrap_or_else(|| "unknown".into());
        return Err(ProofError::Unsatisfied(which));
    }
    let instance = cs
        .instance_assignment()
        .map_err(|e| ProofError::Synthesis(e.to_string()))?;
    if instance.get(1..) != Some(statement) {
        return Err(ProofError::StatementMismatch(format!(
            "the circuit allocates {} public inputs that differ from the {} of the statement",
            instance.len().saturating_sub(1),
            statement.len()
        )));
    }
    Ok(cs)
}

/// Proves `circuit` under `pk`, for the public inputs `statement` (in the
/// circuit's allocation order). Fails without a proof if the witness does
/// not satisfy the circuit or the statement differs from the circuit's
/// public inputs. Uses arkworks' reduction: for keys made by arkworks
/// (development keys); a key from a ceremony proves through
/// [`ProvingContext`] with [`Reduction::Circom`].
pub fn prove<C: ConstraintSynthesizer<Fr>, R: RngCore + CryptoRng>(
    pk: &ProvingKey,
    circuit: C,
    statement: &[Fr],
    rng: &mut R,
) -> Result<Proof, ProofError> {
    prove_profiled(pk, circuit, statement, rng).map(|(p, _)| p)
}

/// [`prove`], timing synthesis, the witness map (FFTs) and each MSM
/// separately ([`crate::assemble`]: the same proof for the same
/// randomness).
pub fn prove_profiled<C: ConstraintSynthesizer<Fr>, R: RngCore + CryptoRng>(
    pk: &ProvingKey,
    circuit: C,
    statement: &[Fr],
    rng: &mut R,
) -> Result<(Proof, ProveProfile), ProofError> {
    let expected = pk.vk.gamma_abc_g1.len().saturating_sub(1);
    if statement.len() != expected {
        return Err(ProofError::StatementMismatch(format!(
            "the proving key expects {expected} public inputs, the statement has {}",
            statement.len()
        )));
    }
    let t0 = Instant::now();
    let cs = synthesize(circuit, statement)?;
    let synthesis = t0.elapsed();

    let backend = |e: ark_relations::gr1cs::SynthesisError| ProofError::Synthesis(e.to_string());
    let matrices = cs.to_matrices().map_err(backend)?;
    let matrices = matrices
        .get(R1CS_PREDICATE_LABEL)
        .ok_or_else(|| ProofError::Synthesis("no R1CS predicate".into()))?;
    let num_inputs = cs.num_instance_variables();
    let num_constraints = cs.num_constraints();
    let full_assignment = [
        cs.instance_assignment().map_err(backend)?,
        cs.witness_assignment().map_err(backend)?,
    ]
    .concat();
    if pk.a_query.len() != full_assignment.len() {
        return Err(ProofError::StatementMismatch(format!(
            "the proving key is for a circuit with {} variables, this one has {}",
            pk.a_query.len(),
            full_assignment.len()
        )));
    }

    let shape = (matrices.as_slice(), num_inputs, num_constraints);
    let timed = create::<LibsnarkReduction, R>(pk, None, shape, &full_assignment, rng);
    with_profile(timed.map_err(backend)?, synthesis)
}

/// The constraint matrices, input count and constraint count a proof is
/// made for.
type Shape<'a> = (&'a [Matrix<Fr>], usize, usize);

/// What [`create`] measured besides the proof: the witness map, the
/// whole proof, and the MSMs.
type Timed = (Duration, Duration, MsmTimes, ark_groth16::Proof<Bn254>);

/// The proof of the full assignment `z` with reduction `Q`: the witness
/// map, then [`assemble`] (the proof ark-groth16 makes for the same
/// `r, s`, with faster MSMs), the witness map and each MSM timed.
fn create<Q: R1CSToQAP, R: RngCore + CryptoRng>(
    pk: &ProvingKey,
    tables: Option<&KeyTables>,
    (matrices, num_inputs, num_constraints): Shape<'_>,
    z: &[Fr],
    rng: &mut R,
) -> Result<Timed, ark_relations::gr1cs::SynthesisError> {
    let t = Instant::now();
    let (r, s) = (Fr::rand(rng), Fr::rand(rng));
    let h = Q::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
        matrices,
        num_inputs,
        num_constraints,
        z,
    )?;
    let witness_map = t.elapsed();
    let mut msm = MsmTimes::default();
    let proof = match tables {
        Some(t) => assemble_with(pk, t, (r, s), &h, z, num_inputs, &mut msm),
        None => assemble(pk, (r, s), &h, z, num_inputs, &mut msm),
    };
    Ok((witness_map, t.elapsed(), msm, proof))
}

/// veil's proof and the profile of [`create`]'s output.
fn with_profile(
    (witness_map, proving, msm, proof): Timed,
    synthesis: Duration,
) -> Result<(Proof, ProveProfile), ProofError> {
    let proof = Proof::from_ark(proof)
        .ok_or_else(|| ProofError::Synthesis("prover produced a point at infinity".into()))?;
    Ok((
        proof,
        ProveProfile {
            synthesis,
            witness_map,
            proving,
            msm,
        },
    ))
}

/// Synthesizes `circuit` with its assignment (prove mode, no matrices) and
/// returns every wire, `[1, public inputs…, private witness…]`, refusing a
/// circuit whose public inputs differ from `statement` (§7.4). Satisfaction
/// is not checked here: the prover checks it against its matrices.
pub fn full_assignment<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
    statement: &[Fr],
) -> Result<Vec<Fr>, ProofError> {
    let err = |e: ark_relations::gr1cs::SynthesisError| ProofError::Synthesis(e.to_string());
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: false,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone()).map_err(err)?;
    let instance = cs.instance_assignment().map_err(err)?;
    if instance.get(1..) != Some(statement) {
        return Err(ProofError::StatementMismatch(format!(
            "the circuit allocates {} public inputs that differ from the {} of the statement",
            instance.len().saturating_sub(1),
            statement.len()
        )));
    }
    Ok([instance, cs.witness_assignment().map_err(err)?].concat())
}

/// A proving key together with its circuit's constraint matrices, built
/// once. Proving then synthesizes only the witness (no matrix construction,
/// no LC inlining), checks every constraint against the cached matrices, and
/// runs the witness map and MSMs: about a third less work per proof than
/// [`prove`] (`docs/benchmarks.md`). The first proof also builds the key's
/// fixed-base tables ([`KeyTables`], within [`table_budget`]), kept for
/// the following proofs.
#[derive(Clone)]
pub struct ProvingContext {
    pk: Arc<ProvingKey>,
    reduction: Reduction,
    matrices: Arc<Vec<Matrix<Fr>>>,
    num_inputs: usize,
    num_constraints: usize,
    tables: Arc<OnceLock<KeyTables>>,
    table_budget: usize,
}

/// The default memory budget of a proving key's fixed-base tables: none.
/// Building them costs the first proof 0.8–1.5 s and 42 MB (access) to
/// 4–6 s and 198 MB (settle_8), more than a short-lived prover gains (one
/// access proof per `veil connect` session); a long-running prover sets
/// `VEIL_PROVER_TABLE_MB` (256 covers access and settle_8), or calls
/// [`ProvingContext::tables`] ahead of its first proof (`docs/benchmarks.md`,
/// "GLV and fixed-base tables").
pub const DEFAULT_TABLE_BUDGET: usize = 0;

/// A budget that holds the access and settle_8 keys' tables.
pub const LARGE_TABLE_BUDGET: usize = 256 << 20;

/// The fixed-base table budget in bytes: `VEIL_PROVER_TABLE_MB` (in MiB, 0
/// for none) if set and valid, else [`DEFAULT_TABLE_BUDGET`].
pub fn table_budget() -> usize {
    std::env::var("VEIL_PROVER_TABLE_MB")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .map_or(DEFAULT_TABLE_BUDGET, |mb| mb.saturating_mul(1 << 20))
}

impl ProvingContext {
    /// Synthesizes `blank` (any instance of the circuit `pk` was made for)
    /// in setup mode and keeps its matrices; proofs use `reduction`, the
    /// one `pk` was made for.
    pub fn new<C: ConstraintSynthesizer<Fr>>(
        pk: Arc<ProvingKey>,
        reduction: Reduction,
        blank: C,
    ) -> Result<Self, ProofError> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        let err = |e: ark_relations::gr1cs::SynthesisError| ProofError::Synthesis(e.to_string());
        blank.generate_constraints(cs.clone()).map_err(err)?;
        cs.finalize();
        let mut all = cs.to_matrices().map_err(err)?;
        let matrices = all
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or_else(|| ProofError::Synthesis("no R1CS predicate".into()))?;
        if matrices.len() != 3 {
            return Err(ProofError::Synthesis("R1CS needs three matrices".into()));
        }
        let num_inputs = cs.num_instance_variables();
        let num_vars = num_inputs + cs.num_witness_variables();
        if pk.a_query.len() != num_vars || pk.vk.gamma_abc_g1.len() != num_inputs {
            return Err(ProofError::StatementMismatch(format!(
                "the proving key is for a circuit with {} variables and {} inputs, this one has {num_vars} and {num_inputs}",
                pk.a_query.len(),
                pk.vk.gamma_abc_g1.len()
            )));
        }
        Ok(ProvingContext {
            pk,
            reduction,
            matrices: Arc::new(matrices),
            num_inputs,
            num_constraints: cs.num_constraints(),
            tables: Arc::new(OnceLock::new()),
            table_budget: table_budget(),
        })
    }

    /// This context with a fixed-base table budget of `bytes` (0: no
    /// tables) instead of [`table_budget`]; tables not yet built.
    pub fn with_table_budget(mut self, bytes: usize) -> Self {
        self.tables = Arc::new(OnceLock::new());
        self.table_budget = bytes;
        self
    }

    /// The key's fixed-base tables, built on first use.
    pub fn tables(&self) -> &KeyTables {
        self.tables
            .get_or_init(|| KeyTables::new(&self.pk, self.table_budget))
    }

    /// The proving key.
    pub fn pk(&self) -> &Arc<ProvingKey> {
        &self.pk
    }

    /// The reduction the key was made for.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// Proves `circuit` for `statement`, as [`prove`] does.
    pub fn prove<C: ConstraintSynthesizer<Fr>, R: RngCore + CryptoRng>(
        &self,
        circuit: C,
        statement: &[Fr],
        rng: &mut R,
    ) -> Result<Proof, ProofError> {
        self.prove_profiled(circuit, statement, rng).map(|(p, _)| p)
    }

    /// [`ProvingContext::prove`] with a per-phase timing.
    pub fn prove_profiled<C: ConstraintSynthesizer<Fr>, R: RngCore + CryptoRng>(
        &self,
        circuit: C,
        statement: &[Fr],
        rng: &mut R,
    ) -> Result<(Proof, ProveProfile), ProofError> {
        let err = |e: ark_relations::gr1cs::SynthesisError| ProofError::Synthesis(e.to_string());
        let t0 = Instant::now();
        let full = full_assignment(circuit, statement)?;
        if full.len() != self.pk.a_query.len() {
            return Err(ProofError::StatementMismatch(format!(
                "the witness has {} variables, the proving key {}",
                full.len(),
                self.pk.a_query.len()
            )));
        }
        self.check_satisfied(&full)?;
        let synthesis = t0.elapsed();

        let shape = (
            self.matrices.as_slice(),
            self.num_inputs,
            self.num_constraints,
        );
        let (pk, tables) = (&self.pk, Some(self.tables()));
        let timed = match self.reduction {
            Reduction::Libsnark => create::<LibsnarkReduction, R>(pk, tables, shape, &full, rng),
            Reduction::Circom => create::<CircomReduction, R>(pk, tables, shape, &full, rng),
        };
        with_profile(timed.map_err(err)?, synthesis)
    }

    /// Checks `⟨A_i, z⟩ · ⟨B_i, z⟩ = ⟨C_i, z⟩` for every constraint `i`.
    fn check_satisfied(&self, z: &[Fr]) -> Result<(), ProofError> {
        let eval = |row: &[(Fr, usize)]| -> Result<Fr, ProofError> {
            row.iter().try_fold(Fr::zero(), |acc, (coeff, col)| {
                z.get(*col).map(|v| acc + *coeff * v).ok_or_else(|| {
                    ProofError::Synthesis(format!("matrix column {col} out of range"))
                })
            })
        };
        let (a, b, c) = match self.matrices.as_slice() {
            [a, b, c] => (a, b, c),
            _ => return Err(ProofError::Synthesis("R1CS needs three matrices".into())),
        };
        for (i, ((ra, rb), rc)) in a.iter().zip(b).zip(c).enumerate() {
            if eval(ra)? * eval(rb)? != eval(rc)? {
                return Err(ProofError::Unsatisfied(format!("constraint {i}")));
            }
        }
        Ok(())
    }
}

/// A prepared verifying key, with the number of public inputs it expects.
#[derive(Clone, Debug)]
pub struct PreparedKey {
    pvk: PreparedVerifyingKey<Bn254>,
}

impl PreparedKey {
    /// Prepares `vk` (one pairing, done once).
    pub fn new(vk: &VerifyingKey<Bn254>) -> Self {
        PreparedKey {
            pvk: ark_groth16::prepare_verifying_key(vk),
        }
    }

    /// The number of public inputs of the circuit.
    pub fn public_inputs(&self) -> usize {
        self.pvk.vk.gamma_abc_g1.len().saturating_sub(1)
    }

    /// The verifying key.
    pub fn vk(&self) -> &VerifyingKey<Bn254> {
        &self.pvk.vk
    }

    fn check_count(&self, n: usize) -> Result<(), VerifyError> {
        // arkworks zips inputs with the key's bases and would silently
        // truncate a longer statement (B6): the count must match exactly.
        let expected = self.public_inputs();
        if n != expected {
            return Err(VerifyError::PublicInputCount {
                expected,
                actual: n,
            });
        }
        Ok(())
    }

    /// Verifies one proof. `Ok(())` only when arkworks returns `Ok(true)`
    /// (B7); a wrong number of public inputs is an error (B6).
    pub fn verify(&self, statement: &[Fr], proof: &Proof) -> Result<(), VerifyError> {
        self.check_count(statement.len())?;
        match Groth16::<Bn254>::verify_with_processed_vk(&self.pvk, statement, &proof.0) {
            Ok(true) => Ok(()),
            Ok(false) => Err(VerifyError::InvalidProof),
            Err(e) => Err(VerifyError::Backend(e.to_string())),
        }
    }

    /// Verifies many proofs of this circuit at once by a random linear
    /// combination (small-exponent batching, `docs/protocol.md` §7.5).
    ///
    /// With independent uniform 128-bit `ρ_i` from `rng`, checks one
    /// multi-pairing
    ///
    /// `Π e(ρ_i·A_i, B_i) · e(−Σρ_i·L_i, γ) · e(−Σρ_i·C_i, δ) = e(α, β)^{Σρ_i}`
    ///
    /// where `L_i = IC_0 + Σ_j x_ij·IC_j`. If any proof is invalid the check
    /// fails except with probability about `2^-128`. `Ok(())` iff every
    /// proof verifies individually (up to that probability).
    pub fn batch_verify<R: RngCore + CryptoRng>(
        &self,
        items: &[(&[Fr], &Proof)],
        rng: &mut R,
    ) -> Result<(), VerifyError> {
        for (statement, _) in items {
            self.check_count(statement.len())?;
        }
        if items.is_empty() {
            return Ok(());
        }
        let n_pub = self.public_inputs();
        let rho: Vec<Fr> = items
            .iter()
            .map(|_| {
                loop {
                    let r = Fr::from(rng.r#gen::<u128>());
                    if !r.is_zero() {
                        break r;
                    }
                }
            })
            .collect();

        // Σρ_i·L_i = (Σρ_i)·IC_0 + Σ_j (Σ_i ρ_i·x_ij)·IC_j: one small MSM.
        let mut input_scalars = vec![Fr::zero(); n_pub + 1];
        for ((statement, _), r) in items.iter().zip(&rho) {
            input_scalars[0] += r;
            for (acc, x) in input_scalars[1..].iter_mut().zip(statement.iter()) {
                *acc += *r * x;
            }
        }
        let rho_sum = input_scalars[0];
        let l_acc = G1Projective::msm(&self.pvk.vk.gamma_abc_g1, &input_scalars)
            .map_err(|_| VerifyError::Backend("input MSM length mismatch".into()))?;
        let c_points: Vec<G1Affine> = items.iter().map(|(_, p)| p.0.c).collect();
        let c_acc = G1Projective::msm(&c_points, &rho)
            .map_err(|_| VerifyError::Backend("C MSM length mismatch".into()))?;
        let scaled_a: Vec<G1Projective> = items
            .iter()
            .zip(&rho)
            .map(|((_, p), r)| p.0.a.mul_bigint(r.into_bigint()))
            .collect();

        let mut g1: Vec<<Bn254 as Pairing>::G1Prepared> = G1Projective::normalize_batch(&scaled_a)
            .into_iter()
            .map(Into::into)
            .collect();
        let mut g2: Vec<<Bn254 as Pairing>::G2Prepared> =
            items.iter().map(|(_, p)| p.0.b.into()).collect();
        g1.push(l_acc.into_affine().into());
        g2.push(self.pvk.gamma_g2_neg_pc.clone());
        g1.push(c_acc.into_affine().into());
        g2.push(self.pvk.delta_g2_neg_pc.clone());

        let ml = Bn254::multi_miller_loop(g1, g2);
        let lhs = Bn254::final_exponentiation(ml)
            .ok_or_else(|| VerifyError::Backend("final exponentiation failed".into()))?;
        let rhs = PairingOutput::<Bn254>(self.pvk.alpha_g1_beta_g2) * rho_sum;
        if lhs == rhs {
            Ok(())
        } else {
            Err(VerifyError::InvalidBatch(items.len()))
        }
    }
}

impl Proof {
    /// Wraps an arkworks proof, refusing any point at infinity.
    pub(crate) fn from_ark(p: ark_groth16::Proof<Bn254>) -> Option<Self> {
        if p.a.is_zero() || p.b.is_zero() || p.c.is_zero() {
            return None;
        }
        Some(Proof(p))
    }

    /// A re-randomised proof of the same statement (Groth16 malleability,
    /// `Groth16::rerandomize_proof`). Exposed so tests and callers can
    /// check that nothing keys on proof bytes (B2).
    pub fn rerandomize<R: RngCore + CryptoRng>(
        &self,
        vk: &VerifyingKey<Bn254>,
        rng: &mut R,
    ) -> Option<Proof> {
        Proof::from_ark(Groth16::<Bn254>::rerandomize_proof(vk, &self.0, rng))
    }
}

#[cfg(test)]
pub(crate) mod toy {
    //! A small circuit for testing the generic layer: public `(x, y, z)`,
    //! private `w`, with `w·w = x`, `w·y = z`, and a chain of squarings
    //! to give the QAP some size.
    use super::*;
    use ark_relations::gr1cs::{LinearCombination, SynthesisError, Variable};
    use ark_relations::lc;

    #[derive(Clone, Copy)]
    pub struct Toy {
        pub w: Option<Fr>,
        pub x: Option<Fr>,
        pub y: Option<Fr>,
        pub z: Option<Fr>,
    }

    impl Toy {
        pub fn honest(w: u64, y: u64) -> Self {
            let (w, y) = (Fr::from(w), Fr::from(y));
            Toy {
                w: Some(w),
                x: Some(w * w),
                y: Some(y),
                z: Some(w * y),
            }
        }
        pub fn blank() -> Self {
            Toy {
                w: None,
                x: None,
                y: None,
                z: None,
            }
        }
        pub fn statement(&self) -> Vec<Fr> {
            vec![self.x.unwrap(), self.y.unwrap(), self.z.unwrap()]
        }
    }

    impl ConstraintSynthesizer<Fr> for Toy {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let miss = || SynthesisError::AssignmentMissing;
            let x = cs.new_input_variable(|| self.x.ok_or(miss()))?;
            let y = cs.new_input_variable(|| self.y.ok_or(miss()))?;
            let z = cs.new_input_variable(|| self.z.ok_or(miss()))?;
            let w = cs.new_witness_variable(|| self.w.ok_or(miss()))?;
            cs.enforce_r1cs_constraint(|| lc![w], || lc![w], || lc![x])?;
            cs.enforce_r1cs_constraint(|| lc![w], || lc![y], || lc![z])?;
            let mut acc: Variable = w;
            let mut val = self.w;
            for _ in 0..30 {
                val = val.map(|v| v * v);
                let next = cs.new_witness_variable(|| val.ok_or(miss()))?;
                cs.enforce_r1cs_constraint(|| lc![acc], || lc![acc], || lc![next])?;
                acc = next;
            }
            let _ = LinearCombination::<Fr>::new();
            Ok(())
        }
    }

    /// A smaller circuit (one input, one constraint).
    #[derive(Clone, Copy)]
    pub struct Small;

    impl ConstraintSynthesizer<Fr> for Small {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let x = cs.new_input_variable(|| Ok(Fr::from(4u64)))?;
            let w = cs.new_witness_variable(|| Ok(Fr::from(2u64)))?;
            cs.enforce_r1cs_constraint(|| lc![w], || lc![w], || lc![x])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::toy::Toy;
    use super::*;
    use std::sync::OnceLock;

    fn keys() -> &'static (ProvingKey, PreparedKey) {
        static KEYS: OnceLock<(ProvingKey, PreparedKey)> = OnceLock::new();
        KEYS.get_or_init(|| {
            let pk = dev_setup("toy", Toy::blank()).unwrap();
            let pvk = PreparedKey::new(&pk.vk);
            (pk, pvk)
        })
    }

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    /// ark-groth16's proof of the real `access` circuit for the randomness
    /// `rng(seed)` gives the prover: what [`ProvingContext::prove`] must
    /// reproduce bit for bit (issue 12: `assemble` over `veil_msm`).
    fn arkworks_access_proof(ctx: &ProvingContext, z: &[Fr], seed: u64) -> Proof {
        let mut rng = rng(seed);
        let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
        let (m, n_in, n_c) = (ctx.matrices.as_slice(), ctx.num_inputs, ctx.num_constraints);
        let ark = match ctx.reduction {
            Reduction::Libsnark => {
                Groth16::<Bn254, LibsnarkReduction>::create_proof_with_reduction_and_matrices(
                    &ctx.pk, r, s, m, n_in, n_c, z,
                )
            }
            Reduction::Circom => {
                Groth16::<Bn254, CircomReduction>::create_proof_with_reduction_and_matrices(
                    &ctx.pk, r, s, m, n_in, n_c, z,
                )
            }
        };
        Proof::from_ark(ark.unwrap()).unwrap()
    }

    #[test]
    fn access_proofs_equal_arkworks_on_the_real_circuit() {
        use crate::{CircuitId, KeySet, ParamStore, Prover};
        use veil_circuits::access::AccessCircuit;
        let store = ParamStore::open_default(KeySet::Dev).unwrap();
        let prover = Prover::from_store(&store, &[CircuitId::Access], None).unwrap();
        let ctx = prover.context(CircuitId::Access).unwrap();
        let pvk = PreparedKey::new(&ctx.pk.vk);
        for seed in [1u64, 2, 3] {
            let (public, private) = crate::samples::access(seed, 100 * seed).unwrap();
            let statement = public.to_field_elements();
            let circuit = || AccessCircuit::new(&public, &private);
            let ours = ctx.prove(circuit(), &statement, &mut rng(seed)).unwrap();
            let z = full_assignment(circuit(), &statement).unwrap();
            let ark = arkworks_access_proof(ctx, &z, seed);
            assert_eq!(ours.to_bytes(), ark.to_bytes(), "seed {seed}");
            pvk.verify(&statement, &ours).unwrap();
        }
    }

    /// Fixed-base tables change nothing but speed: the same access proof
    /// with no tables, with only the G2 query's, and with all, each within
    /// its budget (issue 12).
    #[test]
    fn access_proofs_are_the_same_for_any_table_budget() {
        use crate::{CircuitId, KeySet, ParamStore, Prover};
        use veil_circuits::access::AccessCircuit;
        let store = ParamStore::open_default(KeySet::Dev).unwrap();
        let prover = Prover::from_store(&store, &[CircuitId::Access], None).unwrap();
        let ctx = prover.context(CircuitId::Access).unwrap();
        let n2 = ctx.pk.b_g2_query.len() - 1;
        type G2 = ark_bn254::g2::Config;
        let g2_only =
            veil_msm::FixedBases::<G2>::bytes(n2, veil_msm::FixedBases::<G2>::window_for(n2));
        let (public, private) = crate::samples::access(4, 400).unwrap();
        let statement = public.to_field_elements();
        let mut proofs = Vec::new();
        for budget in [DEFAULT_TABLE_BUDGET, g2_only, LARGE_TABLE_BUDGET] {
            let ctx = ctx.clone().with_table_budget(budget);
            let circuit = AccessCircuit::new(&public, &private);
            proofs.push(
                ctx.prove(circuit, &statement, &mut rng(4))
                    .unwrap()
                    .to_bytes(),
            );
            let memory = ctx.tables().memory();
            assert!(memory <= budget, "{memory} > {budget}");
            assert_eq!(memory == 0, budget == 0);
        }
        assert_eq!(proofs[0], proofs[1]);
        assert_eq!(proofs[0], proofs[2]);
    }

    fn proof_for(t: Toy, seed: u64) -> Proof {
        prove(&keys().0, t, &t.statement(), &mut rng(seed)).unwrap()
    }

    #[test]
    fn dev_seed_is_public_and_per_circuit() {
        let mut h = Sha256::new();
        h.update("veil dev setup v1 — INSECURE".as_bytes());
        h.update(b"access");
        let expected: [u8; 32] = h.finalize().into();
        assert_eq!(dev_seed("access"), expected);
        assert_ne!(dev_seed("access"), dev_seed("withdraw"));
    }

    /// The plain and the profiled paths both assemble the proof
    /// (`crate::assemble`, on `veil-msm`): same randomness, same bytes, and
    /// the profile's counts are consistent. Against ark-groth16 itself:
    /// `assemble_equals_arkworks_for_any_randomness` and
    /// `access_proofs_equal_arkworks_on_the_real_circuit`.
    #[test]
    fn the_plain_and_profiled_provers_give_the_same_proof() {
        let (pk, pvk) = keys();
        for (seed, t) in [
            (1, Toy::honest(3, 5)),
            (2, Toy::honest(0, 7)),
            (3, Toy::honest(u64::MAX, 1)),
        ] {
            let plain = prove(pk, t, &t.statement(), &mut rng(seed)).unwrap();
            let (profiled, p) = prove_profiled(pk, t, &t.statement(), &mut rng(seed)).unwrap();
            assert_eq!(plain, profiled, "seed {seed}");
            pvk.verify(&t.statement(), &profiled).unwrap();
            assert_eq!(p.msm.a_g1.terms, pk.a_query.len() - 1);
            assert_eq!(p.msm.b_g2.terms, pk.b_g2_query.len() - 1);
            assert_eq!(p.msm.l_g1.terms, pk.l_query.len());
            assert!(p.msm.h_g1.terms <= pk.h_query.len());
            for m in [p.msm.a_g1, p.msm.b_g1, p.msm.b_g2, p.msm.h_g1, p.msm.l_g1] {
                assert!(m.wide <= m.nonzero && m.nonzero <= m.terms, "{m:?}");
            }
            assert!(p.msm.total() <= p.proving && p.witness_map <= p.proving);
        }
    }

    /// [`assemble`] against ark-groth16 directly, including the randomness
    /// arkworks special-cases (`r = 0` skips its B in G1).
    #[test]
    fn assemble_equals_arkworks_for_any_randomness() {
        let pk = &keys().0;
        let t = Toy::honest(11, 13);
        let cs = synthesize(t, &t.statement()).unwrap();
        let m = cs.to_matrices().unwrap();
        let matrices = m.get(R1CS_PREDICATE_LABEL).unwrap();
        let (n_in, n_c) = (cs.num_instance_variables(), cs.num_constraints());
        let z = [
            cs.instance_assignment().unwrap(),
            cs.witness_assignment().unwrap(),
        ]
        .concat();
        let h = LibsnarkReduction::witness_map_from_matrices::<Fr, GeneralEvaluationDomain<Fr>>(
            matrices, n_in, n_c, &z,
        )
        .unwrap();
        let mut rng = rng(9);
        let (zero, one) = (Fr::zero(), Fr::from(1u64));
        for (r, s) in [
            (zero, zero),
            (zero, one),
            (one, zero),
            (Fr::rand(&mut rng), Fr::rand(&mut rng)),
        ] {
            let ark = Groth16::<Bn254>::create_proof_with_reduction_and_matrices(
                pk, r, s, matrices, n_in, n_c, &z,
            )
            .unwrap();
            let ours = assemble(pk, (r, s), &h, &z, n_in, &mut MsmTimes::default());
            assert_eq!(ours, ark, "r = {r}, s = {s}");
        }
    }

    #[test]
    fn dev_setup_is_deterministic() {
        let again = dev_setup("toy", Toy::blank()).unwrap();
        assert_eq!(again.vk, keys().0.vk);
        let other = dev_setup("toy2", Toy::blank()).unwrap();
        assert_ne!(other.vk, keys().0.vk);
    }

    #[test]
    fn shape_counts_constraints() {
        let shape = circuit_shape(Toy::blank()).unwrap();
        assert_eq!(shape.constraints, 32);
        assert_eq!(shape.public_inputs, 3);
        assert_eq!(shape.witnesses, 31);
    }

    #[test]
    fn honest_proof_verifies() {
        let t = Toy::honest(3, 5);
        let p = proof_for(t, 1);
        assert_eq!(keys().1.verify(&t.statement(), &p), Ok(()));
        let bytes = p.to_bytes();
        assert_eq!(
            keys()
                .1
                .verify(&t.statement(), &Proof::from_bytes(&bytes).unwrap()),
            Ok(())
        );
    }

    #[test]
    fn b7_well_formed_wrong_proof_is_rejected() {
        // A valid proof of another statement is well formed (decodes) but
        // must not verify: guards against `verify(..).is_ok()` misuse.
        let good = Toy::honest(3, 5);
        let other = Toy::honest(4, 5);
        let p = proof_for(other, 2);
        let decoded = Proof::from_bytes(&p.to_bytes()).unwrap();
        assert_eq!(
            keys().1.verify(&good.statement(), &decoded),
            Err(VerifyError::InvalidProof)
        );
    }

    #[test]
    fn a11_each_public_input_is_bound() {
        let t = Toy::honest(3, 5);
        let p = proof_for(t, 3);
        for i in 0..3 {
            let mut s = t.statement();
            s[i] += Fr::from(1u64);
            assert_eq!(
                keys().1.verify(&s, &p),
                Err(VerifyError::InvalidProof),
                "input {i}"
            );
        }
    }

    #[test]
    fn b6_wrong_number_of_public_inputs() {
        let t = Toy::honest(3, 5);
        let p = proof_for(t, 4);
        let mut long = t.statement();
        long.push(Fr::zero());
        assert_eq!(
            keys().1.verify(&long, &p),
            Err(VerifyError::PublicInputCount {
                expected: 3,
                actual: 4
            })
        );
        let short = &t.statement()[..2];
        assert_eq!(
            keys().1.verify(short, &p),
            Err(VerifyError::PublicInputCount {
                expected: 3,
                actual: 2
            })
        );
        assert!(matches!(
            keys().1.batch_verify(&[(short, &p)], &mut rng(0)),
            Err(VerifyError::PublicInputCount { .. })
        ));
    }

    #[test]
    fn unsatisfied_witness_gives_no_proof() {
        let mut t = Toy::honest(3, 5);
        t.z = Some(Fr::from(16u64));
        let r = prove(&keys().0, t, &t.statement(), &mut rng(5));
        assert!(matches!(r, Err(ProofError::Unsatisfied(_))), "{r:?}");
    }

    #[test]
    fn statement_must_match_circuit_inputs() {
        let t = Toy::honest(3, 5);
        let mut s = t.statement();
        s[2] += Fr::from(1u64);
        let r = prove(&keys().0, t, &s, &mut rng(6));
        assert!(matches!(r, Err(ProofError::StatementMismatch(_))), "{r:?}");
        let r = prove(&keys().0, t, &s[..2], &mut rng(6));
        assert!(matches!(r, Err(ProofError::StatementMismatch(_))), "{r:?}");
    }

    #[test]
    fn missing_witness_is_a_synthesis_error() {
        let mut t = Toy::honest(3, 5);
        t.w = None;
        let r = prove(&keys().0, t, &Toy::honest(3, 5).statement(), &mut rng(7));
        assert!(matches!(r, Err(ProofError::Synthesis(_))), "{r:?}");
    }

    fn context() -> ProvingContext {
        ProvingContext::new(
            Arc::new(keys().0.clone()),
            Reduction::Libsnark,
            Toy::blank(),
        )
        .unwrap()
    }

    #[test]
    fn context_proofs_verify_and_check_satisfaction() {
        let ctx = context();
        let t = Toy::honest(6, 2);
        let p = ctx.prove(t, &t.statement(), &mut rng(20)).unwrap();
        assert_eq!(keys().1.verify(&t.statement(), &p), Ok(()));
        let (p, prof) = ctx.prove_profiled(t, &t.statement(), &mut rng(21)).unwrap();
        assert_eq!(keys().1.verify(&t.statement(), &p), Ok(()));
        assert!(prof.witness_map > Duration::ZERO);
        // The cached-matrix satisfiability check catches a bad witness that
        // synthesis alone (no matrices) cannot see.
        let mut bad = t;
        bad.z = Some(Fr::from(13u64));
        assert!(matches!(
            ctx.prove(bad, &bad.statement(), &mut rng(22)),
            Err(ProofError::Unsatisfied(_))
        ));
        let mut s = t.statement();
        s[0] += Fr::from(1u64);
        assert!(matches!(
            ctx.prove(t, &s, &mut rng(23)),
            Err(ProofError::StatementMismatch(_))
        ));
    }

    #[test]
    fn context_refuses_a_key_of_another_circuit() {
        let other = dev_setup("other", super::toy::Small).unwrap();
        assert!(matches!(
            ProvingContext::new(Arc::new(other), Reduction::Libsnark, Toy::blank()),
            Err(ProofError::StatementMismatch(_))
        ));
    }

    #[test]
    fn profiled_prove_verifies_and_reports_phases() {
        let t = Toy::honest(7, 9);
        let (p, prof) = prove_profiled(&keys().0, t, &t.statement(), &mut rng(8)).unwrap();
        assert_eq!(keys().1.verify(&t.statement(), &p), Ok(()));
        assert!(prof.proving >= prof.witness_map);
        assert!(prof.witness_map > Duration::ZERO);
    }

    #[test]
    fn b2_rerandomised_proof_verifies_with_different_bytes() {
        let t = Toy::honest(3, 5);
        let p = proof_for(t, 9);
        let q = p.rerandomize(keys().1.vk(), &mut rng(10)).unwrap();
        assert_ne!(p.to_bytes(), q.to_bytes());
        assert_eq!(keys().1.verify(&t.statement(), &q), Ok(()));
    }

    fn batch(n: usize) -> Vec<(Vec<Fr>, Proof)> {
        (0..n)
            .map(|i| {
                let t = Toy::honest(i as u64 + 2, 3 * i as u64 + 1);
                (t.statement(), proof_for(t, 100 + i as u64))
            })
            .collect()
    }

    fn refs(b: &[(Vec<Fr>, Proof)]) -> Vec<(&[Fr], &Proof)> {
        b.iter().map(|(s, p)| (s.as_slice(), p)).collect()
    }

    #[test]
    fn batch_of_64_good_proofs_passes_and_one_bad_is_caught() {
        let good = batch(64);
        assert_eq!(keys().1.batch_verify(&refs(&good), &mut rng(11)), Ok(()));
        for bad_index in [0, 17, 63] {
            let mut b = good.clone();
            // A valid proof of a different statement: well formed, wrong.
            b[bad_index].0[2] += Fr::from(1u64);
            assert_eq!(
                keys().1.batch_verify(&refs(&b), &mut rng(12)),
                Err(VerifyError::InvalidBatch(64)),
                "bad proof at {bad_index}"
            );
        }
        // Swapping two proofs makes both wrong.
        let mut b = good.clone();
        let p0 = b[0].1.clone();
        b[0].1 = b[1].1.clone();
        b[1].1 = p0;
        assert!(keys().1.batch_verify(&refs(&b), &mut rng(13)).is_err());
        assert_eq!(keys().1.batch_verify(&[], &mut rng(14)), Ok(()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(16))]
        /// The batch verdict equals the conjunction of individual verdicts.
        #[test]
        fn batch_equals_individual(mask in proptest::prelude::any::<u8>(), seed in proptest::prelude::any::<u64>()) {
            let mut b = batch(8);
            for (i, item) in b.iter_mut().enumerate() {
                if mask & (1 << i) != 0 {
                    item.0[1] += Fr::from(1u64);
                }
            }
            let individual = b.iter().all(|(s, p)| keys().1.verify(s, p).is_ok());
            let batched = keys().1.batch_verify(&refs(&b), &mut rng(seed)).is_ok();
            proptest::prop_assert_eq!(individual, batched);
            proptest::prop_assert_eq!(individual, mask == 0);
        }
    }
}
