//! A circuit's rank-1 constraint system, as arkworks builds it for the
//! Groth16 setup, and circom's `.r1cs` binary format (iden3 `r1csfile`,
//! version 1).
//!
//! Wire layout (circom's): wire 0 is the constant one, wires
//! `1..=num_public` the public inputs in veil's statement order, then the
//! private witness in arkworks' allocation order. This is exactly arkworks'
//! column order (instance variables, then witness variables), so a row of
//! arkworks' matrices is a circom linear combination unchanged.

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, OptimizationGoal, R1CS_PREDICATE_LABEL, SynthesisMode,
};
use veil_proofs::ProofError;

use crate::binfile::{self, Reader, Sections, Writer};
use crate::error::InteropError;

const FILE: &str = ".r1cs";
const MAGIC: &[u8; 4] = b"r1cs";
const VERSION: u32 = 1;
const HEADER: u32 = 1;
const CONSTRAINTS: u32 = 2;
const WIRE2LABEL: u32 = 3;

/// `Σ coeff·wire`, sorted by wire, no wire twice, no zero coefficient.
pub type Lc = Vec<(u32, Fr)>;

/// One constraint `⟨a, z⟩ · ⟨b, z⟩ = ⟨c, z⟩`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    /// Left factor.
    pub a: Lc,
    /// Right factor.
    pub b: Lc,
    /// Product.
    pub c: Lc,
}

/// A rank-1 constraint system over the BN254 scalar field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct R1cs {
    /// Public inputs, not counting the constant one.
    pub num_public: u32,
    /// All wires, counting the constant one.
    pub num_wires: u32,
    /// The constraints, in arkworks' order.
    pub constraints: Vec<Constraint>,
}

fn synthesis(e: ark_relations::gr1cs::SynthesisError) -> InteropError {
    InteropError::Proof(ProofError::Synthesis(e.to_string()))
}

fn too_big(what: &str) -> InteropError {
    InteropError::Proof(ProofError::Synthesis(format!(
        "too many {what} for the .r1cs format"
    )))
}

/// Sorts by wire, merges repeated wires, drops zero coefficients.
fn canonical(row: &[(Fr, usize)]) -> Result<Lc, InteropError> {
    let mut lc = row
        .iter()
        .map(|(c, w)| {
            u32::try_from(*w)
                .map(|w| (w, *c))
                .map_err(|_| too_big("wires"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    lc.sort_by_key(|(w, _)| *w);
    let mut out: Lc = Vec::with_capacity(lc.len());
    for (w, c) in lc {
        match out.last_mut() {
            Some((lw, lc)) if *lw == w => *lc += c,
            _ => out.push((w, c)),
        }
    }
    out.retain(|(_, c)| !c.is_zero());
    Ok(out)
}

fn eval(lc: &Lc, z: &[Fr]) -> Option<Fr> {
    lc.iter().try_fold(Fr::zero(), |acc, (w, c)| {
        z.get(*w as usize).map(|v| acc + *c * v)
    })
}

impl R1cs {
    /// The constraint system of `blank`, synthesized exactly as veil's
    /// Groth16 setup does (setup mode, constraint-minimising inlining).
    pub fn from_circuit<C: ConstraintSynthesizer<Fr>>(blank: C) -> Result<Self, InteropError> {
        let cs = ConstraintSystem::<Fr>::new_ref();
        cs.set_optimization_goal(OptimizationGoal::Constraints);
        cs.set_mode(SynthesisMode::Setup);
        blank.generate_constraints(cs.clone()).map_err(synthesis)?;
        cs.finalize();
        let mut all = cs.to_matrices().map_err(synthesis)?;
        if all.len() != 1 {
            return Err(InteropError::Proof(ProofError::Synthesis(
                "the circuit has non-R1CS predicates".into(),
            )));
        }
        let m = all.remove(R1CS_PREDICATE_LABEL).ok_or_else(|| {
            InteropError::Proof(ProofError::Synthesis("no R1CS predicate".into()))
        })?;
        let [a, b, c] = <[_; 3]>::try_from(m).map_err(|_| {
            InteropError::Proof(ProofError::Synthesis("R1CS needs three matrices".into()))
        })?;
        let constraints = a
            .iter()
            .zip(&b)
            .zip(&c)
            .map(|((a, b), c)| {
                Ok(Constraint {
                    a: canonical(a)?,
                    b: canonical(b)?,
                    c: canonical(c)?,
                })
            })
            .collect::<Result<Vec<_>, InteropError>>()?;
        let num_inputs = cs.num_instance_variables();
        let num_wires = num_inputs + cs.num_witness_variables();
        Ok(R1cs {
            num_public: u32::try_from(num_inputs.saturating_sub(1))
                .map_err(|_| too_big("inputs"))?,
            num_wires: u32::try_from(num_wires).map_err(|_| too_big("wires"))?,
            constraints,
        })
    }

    /// `Ok` iff `z` has one value per wire, `z[0] = 1`, and every
    /// constraint holds; else the index of the first failing constraint.
    pub fn check(&self, z: &[Fr]) -> Result<(), InteropError> {
        if z.len() != self.num_wires as usize || z.first() != Some(&Fr::one()) {
            return Err(InteropError::WitnessShape {
                expected: self.num_wires as usize,
                actual: z.len(),
            });
        }
        for (i, k) in self.constraints.iter().enumerate() {
            let ok = match (eval(&k.a, z), eval(&k.b, z), eval(&k.c, z)) {
                (Some(a), Some(b), Some(c)) => a * b == c,
                _ => false,
            };
            if !ok {
                return Err(InteropError::Unsatisfied(i));
            }
        }
        Ok(())
    }

    /// The `.r1cs` file: header (`n8 = 32`, prime `r`, wires, 0 public
    /// outputs, `num_public` public inputs, 0 private inputs, labels =
    /// wires, constraints), constraints, and the identity wire→label map.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Vec::new();
        binfile::put_field_header(&mut header);
        for n in [self.num_wires, 0, self.num_public, 0] {
            header.extend_from_slice(&n.to_le_bytes());
        }
        header.extend_from_slice(&u64::from(self.num_wires).to_le_bytes());
        header.extend_from_slice(&(self.constraints.len() as u32).to_le_bytes());

        let mut body = Vec::new();
        for k in &self.constraints {
            for lc in [&k.a, &k.b, &k.c] {
                body.extend_from_slice(&(lc.len() as u32).to_le_bytes());
                for (w, c) in lc {
                    body.extend_from_slice(&w.to_le_bytes());
                    binfile::put_fr(&mut body, c);
                }
            }
        }
        let map: Vec<u8> = (0..u64::from(self.num_wires))
            .flat_map(u64::to_le_bytes)
            .collect();

        let mut w = Writer::new(MAGIC, VERSION, 3);
        w.section(HEADER, &header);
        w.section(CONSTRAINTS, &body);
        w.section(WIRE2LABEL, &map);
        w.finish()
    }

    /// Parses a `.r1cs` file over BN254's scalar field: public outputs and
    /// public inputs both count as public (circom's order), wire ids below
    /// the wire count, coefficients canonical, linear combinations sorted
    /// without repeated wires or zero coefficients, sections of exact
    /// length. Custom-gate sections (PLONK) are refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InteropError> {
        let s = Sections::parse(bytes, FILE, MAGIC, VERSION)?;
        s.only(&[HEADER, CONSTRAINTS, WIRE2LABEL])?;
        let mut h = s.unique(HEADER)?;
        h.field_header()?;
        let num_wires = h.u32()?;
        let outputs = h.u32()?;
        let inputs = h.u32()?;
        let _private_inputs = h.u32()?;
        let labels = h.u64()?;
        let n = h.u32()?;
        h.finish()?;
        let num_public = outputs
            .checked_add(inputs)
            .filter(|p| *p < num_wires)
            .ok_or_else(|| InteropError::binary(FILE, "more public signals than wires"))?;

        let mut body = s.unique(CONSTRAINTS)?;
        let mut constraints = Vec::new();
        for i in 0..n as usize {
            let mut lc =
                |part: &str| read_lc(&mut body, num_wires, &format!("constraint {i}.{part}"));
            let (a, b, c) = (lc("a")?, lc("b")?, lc("c")?);
            constraints.push(Constraint { a, b, c });
        }
        body.finish()?;

        let mut map = s.unique(WIRE2LABEL)?;
        for i in 0..u64::from(num_wires) {
            let label = map.u64()?;
            if (i == 0 && label != 0) || label >= labels {
                return Err(InteropError::binary(
                    FILE,
                    format!("wire {i} has label {label}"),
                ));
            }
        }
        map.finish()?;
        Ok(R1cs {
            num_public,
            num_wires,
            constraints,
        })
    }
}

fn read_lc(r: &mut Reader<'_>, num_wires: u32, what: &str) -> Result<Lc, InteropError> {
    let terms = r.u32()?;
    let mut lc: Lc = Vec::new();
    for _ in 0..terms {
        let w = r.u32()?;
        let c = r.fr(|| format!("{FILE} {what}"))?;
        if w >= num_wires {
            return Err(InteropError::binary(
                FILE,
                format!("{what}: wire {w} out of range"),
            ));
        }
        if lc.last().is_some_and(|(last, _)| *last >= w) || c.is_zero() {
            return Err(InteropError::binary(
                FILE,
                format!("{what}: not canonical (unsorted, repeated wire or zero)"),
            ));
        }
        lc.push((w, c));
    }
    Ok(lc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Witness;
    use crate::export::{circuit_r1cs, sample_witness};
    use ark_relations::gr1cs::{ConstraintSystemRef, SynthesisError};
    use ark_relations::lc;
    use veil_proofs::CircuitId;
    use veil_proofs::params::SetupRecord;

    /// Public `x`, `y`; private `w` with `w·w = x` and `(w + 2x)·1 = y`
    /// (a repeated wire in one row, merged on export).
    #[derive(Clone, Copy)]
    struct Toy(Option<u64>);

    impl ConstraintSynthesizer<Fr> for Toy {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let w = self.0.map(Fr::from);
            let miss = || SynthesisError::AssignmentMissing;
            let x = cs.new_input_variable(|| w.map(|w| w * w).ok_or(miss()))?;
            let y = cs.new_input_variable(|| w.map(|w| w + w * w + w * w).ok_or(miss()))?;
            let wv = cs.new_witness_variable(|| w.ok_or(miss()))?;
            cs.enforce_r1cs_constraint(|| lc![wv], || lc![wv], || lc![x])?;
            cs.enforce_r1cs_constraint(
                || lc![wv] + x + x,
                || lc![ark_relations::gr1cs::Variable::One],
                || lc![y],
            )
        }
    }

    fn toy() -> (R1cs, Witness) {
        let r1cs = R1cs::from_circuit(Toy(None)).unwrap();
        let w = Witness::from_circuit(Toy(Some(3)), &[Fr::from(9u64), Fr::from(21u64)]).unwrap();
        (r1cs, w)
    }

    #[test]
    fn toy_layout_and_satisfaction() {
        let (r1cs, w) = toy();
        assert_eq!(
            (r1cs.num_public, r1cs.num_wires, r1cs.constraints.len()),
            (2, 4, 2)
        );
        assert_eq!(w.0, [1u64, 9, 21, 3].map(Fr::from).to_vec());
        assert_eq!(
            r1cs.constraints[1].a,
            vec![(1, Fr::from(2u64)), (3, Fr::one())]
        );
        r1cs.check(&w.0).unwrap();
        let mut bad = w.0.clone();
        bad[3] = Fr::from(4u64);
        assert!(matches!(
            r1cs.check(&bad),
            Err(InteropError::Unsatisfied(0))
        ));
        assert!(matches!(
            r1cs.check(&w.0[..3]),
            Err(InteropError::WitnessShape {
                expected: 4,
                actual: 3
            })
        ));
        let mut not_one = w.0.clone();
        not_one[0] = Fr::from(2u64);
        assert!(matches!(
            r1cs.check(&not_one),
            Err(InteropError::WitnessShape { .. })
        ));
    }

    #[test]
    fn r1cs_bytes_follow_the_iden3_layout_and_roundtrip() {
        let (r1cs, _) = toy();
        let bytes = r1cs.to_bytes();
        assert_eq!(&bytes[..12], b"r1cs\x01\x00\x00\x00\x03\x00\x00\x00");
        // Header section: id 1, 64 bytes = n8 + prime + 4·u32 + u64 + u32.
        assert_eq!(&bytes[12..24], &[1, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&bytes[24..28], &[32, 0, 0, 0]);
        // r, little-endian (circom's `010000f093f5e143…`).
        assert_eq!(&bytes[28..32], &[0x01, 0x00, 0x00, 0xf0]);
        assert_eq!(
            &bytes[60..84],
            &[
                4, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0
            ]
        );
        assert_eq!(&bytes[84..88], &[2, 0, 0, 0]);
        assert_eq!(R1cs::from_bytes(&bytes).unwrap(), r1cs);
    }

    #[test]
    fn r1cs_damaged_files_are_refused() {
        let (r1cs, _) = toy();
        let bytes = r1cs.to_bytes();
        for cut in 0..bytes.len() {
            assert!(
                R1cs::from_bytes(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(R1cs::from_bytes(&long).is_err());
        let edit = |at: usize, v: &[u8]| {
            let mut b = bytes.clone();
            b[at..at + v.len()].copy_from_slice(v);
            R1cs::from_bytes(&b)
        };
        assert!(edit(0, b"wtns").is_err(), "magic");
        assert!(edit(4, &[2]).is_err(), "version");
        assert!(edit(24, &[48]).is_err(), "n8");
        assert!(edit(28, &[0x02]).is_err(), "prime");
        // First constraint, A: 1 term at offset 88 + 12 (section header).
        let a0 = 100;
        assert_eq!(&bytes[a0..a0 + 8], &[1, 0, 0, 0, 3, 0, 0, 0]);
        assert!(edit(a0 + 4, &[4]).is_err(), "wire out of range");
        assert!(edit(a0 + 8, &[0; 32]).is_err(), "zero coefficient");
        let mut r = ark_ff::PrimeField::into_bigint(-Fr::one());
        r.0[0] += 1;
        assert!(
            matches!(
                edit(a0 + 8, &ark_ff::BigInteger::to_bytes_le(&r)),
                Err(InteropError::Number { .. })
            ),
            "coefficient = r"
        );
    }

    #[test]
    fn wtns_roundtrip_and_refusals() {
        let (_, w) = toy();
        let bytes = w.to_bytes();
        assert_eq!(&bytes[..12], b"wtns\x02\x00\x00\x00\x02\x00\x00\x00");
        assert_eq!(Witness::from_bytes(&bytes).unwrap(), w);
        for cut in 0..bytes.len() {
            assert!(
                Witness::from_bytes(&bytes[..cut]).is_err(),
                "truncated at {cut}"
            );
        }
        let mut b = bytes.clone();
        b[4] = 1;
        assert!(Witness::from_bytes(&b).is_err(), "version 1");
        // Wire 0 sits after the header section (12 + 12 + 40) and the
        // values section header (12).
        let w0 = 76;
        let mut b = bytes.clone();
        b[w0] = 2;
        assert!(Witness::from_bytes(&b).is_err(), "wire 0 must be one");
        let mut b = bytes.clone();
        b[w0 + 31] = 0xff;
        assert!(
            matches!(Witness::from_bytes(&b), Err(InteropError::Number { .. })),
            "value ≥ r"
        );
        assert!(
            Witness::from_circuit(Toy(Some(3)), &[Fr::from(9u64)]).is_err(),
            "statement"
        );
    }

    #[test]
    fn veil_circuits_export_with_their_setup_shape() {
        let record = SetupRecord::committed(veil_proofs::KeySet::Dev).unwrap();
        for id in [
            CircuitId::Access,
            CircuitId::Withdraw,
            "settle_1".parse().unwrap(),
        ] {
            let r1cs = circuit_r1cs(id).unwrap();
            let pin = record.get(id).unwrap();
            assert_eq!(r1cs.constraints.len(), pin.constraints, "{id}");
            assert_eq!(r1cs.num_public as usize, pin.public_inputs, "{id}");
            let (statement, w) = sample_witness(id).unwrap();
            assert_eq!(
                w.public_inputs(r1cs.num_public),
                Some(statement.as_slice()),
                "{id}"
            );
            assert_eq!(R1cs::from_bytes(&r1cs.to_bytes()).unwrap(), r1cs, "{id}");
        }
    }
}
