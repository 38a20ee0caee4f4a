//! A full assignment of a circuit's wires and circom's `.wtns` binary
//! format (version 2, as `snarkjs wtns` reads and writes it).

use ark_bn254::Fr;
use ark_ff::One;
use ark_relations::gr1cs::ConstraintSynthesizer;

use crate::binfile::{self, Sections, Writer};
use crate::error::InteropError;

const FILE: &str = ".wtns";
const MAGIC: &[u8; 4] = b"wtns";
const VERSION: u32 = 2;
const HEADER: u32 = 1;
const VALUES: u32 = 2;

/// The value of every wire: `[1, public inputs…, private witness…]`
/// (the layout of [`crate::R1cs`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Witness(pub Vec<Fr>);

impl Witness {
    /// Synthesizes `circuit` with its assignment, as veil's prover does,
    /// and checks its public inputs equal `statement`. Does not check
    /// satisfaction: use [`crate::R1cs::check`].
    pub fn from_circuit<C: ConstraintSynthesizer<Fr>>(
        circuit: C,
        statement: &[Fr],
    ) -> Result<Self, InteropError> {
        veil_proofs::groth16::full_assignment(circuit, statement)
            .map(Witness)
            .map_err(InteropError::Proof)
    }

    /// The public inputs: wires `1..=num_public`.
    pub fn public_inputs(&self, num_public: u32) -> Option<&[Fr]> {
        self.0.get(1..=num_public as usize)
    }

    /// The `.wtns` file: header (`n8 = 32`, prime `r`, count), values.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut header = Vec::new();
        binfile::put_field_header(&mut header);
        header.extend_from_slice(&(self.0.len() as u32).to_le_bytes());
        let mut values = Vec::with_capacity(self.0.len() * binfile::FR_BYTES);
        for v in &self.0 {
            binfile::put_fr(&mut values, v);
        }
        let mut w = Writer::new(MAGIC, VERSION, 2);
        w.section(HEADER, &header);
        w.section(VALUES, &values);
        w.finish()
    }

    /// Parses a `.wtns` file over BN254's scalar field: canonical values,
    /// exact section lengths, wire 0 equal to one.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InteropError> {
        let s = Sections::parse(bytes, FILE, MAGIC, VERSION)?;
        s.only(&[HEADER, VALUES])?;
        let mut h = s.unique(HEADER)?;
        h.field_header()?;
        let n = h.u32()?;
        h.finish()?;
        let mut body = s.unique(VALUES)?;
        let values = (0..n as usize)
            .map(|i| body.fr(|| format!("{FILE} wire {i}")))
            .collect::<Result<Vec<_>, _>>()?;
        body.finish()?;
        if values.first() != Some(&Fr::one()) {
            return Err(InteropError::binary(FILE, "wire 0 must be the constant 1"));
        }
        Ok(Witness(values))
    }
}
