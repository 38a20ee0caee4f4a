//! Pinned circuit shapes and constraint-level analysis.
//!
//! Spec: `docs/protocol.md` §3.4, §4 (adversarial A18). A circuit's shape is
//! its constraint count, variable counts and a SHA-256 over its R1CS matrices
//! as Groth16 sees them (optimisation goal "constraints", finalised). The
//! tests below pin the shapes of `access` and `withdraw`: any change of the
//! constraint system fails CI until the pinned values (and the verifying
//! keys) are regenerated on purpose (`VEIL_UPDATE_SHAPES=1` prints them).
//!
//! [`R1csSnapshot`] evaluates the matrices on an explicit assignment, so
//! tests can perturb single variables (A7, A10, A11) without re-synthesising.

use ark_ff::{BigInteger, PrimeField};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, R1CS_PREDICATE_LABEL, SynthesisError,
};
use sha2::{Digest, Sha256};
use veil_primitives::Fr;

/// The shape of a circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShapeDescription {
    /// Number of R1CS constraints.
    pub constraints: usize,
    /// Number of public inputs (without the constant one).
    pub public_inputs: usize,
    /// Number of witness variables.
    pub witnesses: usize,
    /// SHA-256 over the matrices (see [`matrix_hash`]).
    pub matrix_hash: [u8; 32],
}

impl ShapeDescription {
    /// The matrix hash as hex.
    pub fn matrix_hash_hex(&self) -> String {
        hex::encode(self.matrix_hash)
    }
}

impl core::fmt::Display for ShapeDescription {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "constraints = {}, public inputs = {}, witnesses = {}, matrix hash = {}",
            self.constraints,
            self.public_inputs,
            self.witnesses,
            self.matrix_hash_hex()
        )
    }
}

/// Synthesises `circuit` as Groth16 does (goal "constraints", finalised) and describes it.
pub fn describe<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
) -> Result<ShapeDescription, SynthesisError> {
    let snap = R1csSnapshot::synthesize(circuit)?;
    Ok(ShapeDescription {
        constraints: snap.num_constraints(),
        public_inputs: snap.num_instance - 1,
        witnesses: snap.z.len() - snap.num_instance,
        matrix_hash: matrix_hash(&snap.a, &snap.b, &snap.c),
    })
}

/// A sparse matrix row: `(coefficient, column)` pairs.
pub type Row = Vec<(Fr, usize)>;

/// SHA-256 over `A`, `B`, `C` in order: a domain label, each matrix's row
/// count, and for each row its length then every `(coefficient as 32
/// big-endian bytes, column as 8 big-endian bytes)` in order.
pub fn matrix_hash(a: &[Row], b: &[Row], c: &[Row]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"veil/r1cs-shape/v1");
    for m in [a, b, c] {
        h.update((m.len() as u64).to_be_bytes());
        for row in m {
            h.update((row.len() as u64).to_be_bytes());
            for (coeff, col) in row {
                let bytes = coeff.into_bigint().to_bytes_be();
                h.update(&bytes);
                h.update((*col as u64).to_be_bytes());
            }
        }
    }
    h.finalize().into()
}

/// A finalised R1CS and one full assignment `z = (1, public…, witness…)`.
#[derive(Clone, Debug)]
pub struct R1csSnapshot {
    /// Matrix `A`.
    pub a: Vec<Row>,
    /// Matrix `B`.
    pub b: Vec<Row>,
    /// Matrix `C`.
    pub c: Vec<Row>,
    /// The assignment, indexed by column.
    pub z: Vec<Fr>,
    /// Number of instance columns, including the constant one at column 0.
    pub num_instance: usize,
}

/// A witness variable whose perturbation leaves every constraint satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Survivor {
    /// Its column in `z`.
    pub column: usize,
}

impl R1csSnapshot {
    /// Synthesises `circuit` in prove mode, goal "constraints", and finalises.
    pub fn synthesize<C: ConstraintSynthesizer<Fr>>(circuit: C) -> Result<Self, SynthesisError> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        circuit.generate_constraints(cs.clone())?;
        cs.finalize();
        let mut matrices = cs.to_matrices()?;
        let mut r1cs = matrices
            .remove(R1CS_PREDICATE_LABEL)
            .ok_or(SynthesisError::PredicateNotFound)?;
        if r1cs.len() != 3 {
            return Err(SynthesisError::Unsatisfiable);
        }
        let c = r1cs.pop().unwrap_or_default();
        let b = r1cs.pop().unwrap_or_default();
        let a = r1cs.pop().unwrap_or_default();
        let mut z = cs.instance_assignment()?;
        let num_instance = z.len();
        z.extend(cs.witness_assignment()?);
        Ok(Self {
            a,
            b,
            c,
            z,
            num_instance,
        })
    }

    /// Number of constraints.
    pub fn num_constraints(&self) -> usize {
        self.a.len()
    }

    fn eval(row: &Row, z: &[Fr]) -> Fr {
        row.iter()
            .map(|(c, i)| *c * z.get(*i).copied().unwrap_or_default())
            .sum()
    }

    /// Whether constraint `i` holds on `z`.
    pub fn row_holds(&self, i: usize, z: &[Fr]) -> bool {
        match (self.a.get(i), self.b.get(i), self.c.get(i)) {
            (Some(a), Some(b), Some(c)) => Self::eval(a, z) * Self::eval(b, z) == Self::eval(c, z),
            _ => false,
        }
    }

    /// Whether every constraint holds on `z`.
    pub fn is_satisfied_by(&self, z: &[Fr]) -> bool {
        (0..self.num_constraints()).all(|i| self.row_holds(i, z))
    }

    /// Whether every constraint holds on the synthesised assignment.
    pub fn is_satisfied(&self) -> bool {
        self.is_satisfied_by(&self.z)
    }

    /// For each column, the constraints that mention it.
    pub fn rows_by_column(&self) -> Vec<Vec<usize>> {
        let mut by_col = vec![Vec::new(); self.z.len()];
        for (i, ((a, b), c)) in self.a.iter().zip(&self.b).zip(&self.c).enumerate() {
            for (_, col) in a.iter().chain(b).chain(c) {
                if let Some(rows) = by_col.get_mut(*col)
                    && rows.last() != Some(&i)
                {
                    rows.push(i);
                }
            }
        }
        by_col
    }

    /// Whether `z` with `column` replaced by `value` still satisfies every
    /// constraint (only the constraints that mention `column` can change).
    pub fn survives(&self, by_col: &[Vec<usize>], column: usize, value: Fr) -> bool {
        let mut z = self.z.clone();
        let Some(slot) = z.get_mut(column) else {
            return false;
        };
        *slot = value;
        by_col
            .get(column)
            .is_none_or(|rows| rows.iter().all(|&i| self.row_holds(i, &z)))
    }

    /// A10: perturbs every witness column by `+delta` and `+1` on a
    /// satisfied assignment and returns those that leave it satisfied.
    pub fn mutation_survivors(&self, delta: Fr) -> Vec<Survivor> {
        let by_col = self.rows_by_column();
        (self.num_instance..self.z.len())
            .filter(|&col| {
                let v = self.z[col];
                self.survives(&by_col, col, v + delta)
                    || self.survives(&by_col, col, v + Fr::from(1u64))
            })
            .map(|column| Survivor { column })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{access::AccessCircuit, withdraw::WithdrawCircuit};

    /// Pinned shape of `access` (§3.4). Regenerate with `VEIL_UPDATE_SHAPES=1`.
    const ACCESS_CONSTRAINTS: usize = 9913;
    const ACCESS_MATRIX_HASH: &str =
        "ab2a950f832178b26da93d500bf786d7b2310451fc62effa3b4f7ae34d559c0c";
    /// Pinned shape of `withdraw` (§4).
    const WITHDRAW_CONSTRAINTS: usize = 9470;
    const WITHDRAW_MATRIX_HASH: &str =
        "5e641ea4f2423a935371765aeec25d3960f1b857c9858094d979d57865d30630";

    fn check_pinned(name: &str, got: ShapeDescription, constraints: usize, hash: &str) {
        check_pinned_or_print(
            name,
            got,
            constraints,
            hash,
            std::env::var_os("VEIL_UPDATE_SHAPES").is_some(),
        )
    }

    fn check_pinned_or_print(
        name: &str,
        got: ShapeDescription,
        constraints: usize,
        hash: &str,
        update: bool,
    ) {
        println!("{name}: {got}");
        if update {
            println!(
                "const {}_CONSTRAINTS: usize = {};",
                name.to_uppercase(),
                got.constraints
            );
            println!(
                "const {}_MATRIX_HASH: &str = \"{}\";",
                name.to_uppercase(),
                got.matrix_hash_hex()
            );
            return;
        }
        assert!(
            got.constraints == constraints && got.matrix_hash_hex() == hash,
            "circuit `{name}` drifted from its pinned shape (A18): got {got}, pinned constraints = {constraints}, \
             matrix hash = {hash}. If the change is intended, run \
             `VEIL_UPDATE_SHAPES=1 cargo test -p veil-circuits shape -- --nocapture`, update the constants \
             in circuits/src/shape.rs and regenerate the verifying keys."
        );
    }

    #[test]
    fn access_shape_is_pinned() {
        let d = describe(AccessCircuit::dummy()).expect("synthesis");
        assert_eq!(d.public_inputs, crate::access::NUM_PUBLIC_INPUTS);
        assert!(
            d.constraints <= 10_000,
            "access exceeds its 10,000-constraint budget: {d}"
        );
        check_pinned("access", d, ACCESS_CONSTRAINTS, ACCESS_MATRIX_HASH);
    }

    #[test]
    fn withdraw_shape_is_pinned() {
        let d = describe(WithdrawCircuit::dummy()).expect("synthesis");
        assert_eq!(d.public_inputs, crate::withdraw::NUM_PUBLIC_INPUTS);
        check_pinned("withdraw", d, WITHDRAW_CONSTRAINTS, WITHDRAW_MATRIX_HASH);
    }

    #[test]
    #[should_panic(expected = "drifted from its pinned shape")]
    fn drift_is_never_silent() {
        let d = describe(WithdrawCircuit::dummy()).expect("synthesis");
        check_pinned_or_print(
            "withdraw",
            d,
            WITHDRAW_CONSTRAINTS + 1,
            WITHDRAW_MATRIX_HASH,
            false,
        );
    }

    #[test]
    fn matrix_hash_sees_every_entry() {
        let a = vec![vec![(Fr::from(1u64), 1)]];
        let b = vec![vec![(Fr::from(1u64), 0)]];
        let c = vec![vec![(Fr::from(1u64), 2)]];
        let base = matrix_hash(&a, &b, &c);
        assert_ne!(base, matrix_hash(&a, &b, &[vec![(Fr::from(2u64), 2)]]));
        assert_ne!(base, matrix_hash(&a, &b, &[vec![(Fr::from(1u64), 3)]]));
        assert_ne!(base, matrix_hash(&b, &a, &c));
        assert_ne!(
            base,
            matrix_hash(&a, &b, &[vec![(Fr::from(1u64), 2)], vec![]])
        );
    }
}
