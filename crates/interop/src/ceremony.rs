//! Keys from a phase-2 ceremony: what `veil setup --from-ceremony`
//! installs and `veil setup --verify` re-checks (`docs/ceremony.md`).
//!
//! A ceremony directory holds the prepared phase-1 file
//! ([`PTAU_FILE`]) and, per circuit, the final phase-2 key
//! (`<circuit>.zkey`, [`zkey_file`]); the final key carries every
//! contribution's record, so it is the transcript. A key is used only if
//! its transcript verifies against veil's own R1CS of the circuit over that
//! phase-1 file ([`Reference`]) and meets the [`Policy`]; the setup record
//! then pins the transcript's hash and every contribution hash
//! ([`CeremonyRecord`]), and the prover uses snarkjs' reduction
//! ([`Reduction::Circom`]).

use std::time::Instant;

use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use veil_proofs::CircuitId;
use veil_proofs::params::{BeaconRecord, CeremonyRecord, ContributionRecord, KeyOrigin, SetupKeys};
use veil_proofs::qap::Reduction;

use crate::error::InteropError;
use crate::export;
use crate::phase2::{Transcript, VerifiedContribution, verify_from_initial};
use crate::ptau::Ptau;
use crate::r1cs::R1cs;
use crate::zkey::Zkey;

/// The prepared phase-1 file's name in a ceremony directory.
pub const PTAU_FILE: &str = "phase1.ptau";

/// The final key's name in a ceremony directory: `<circuit>.zkey`.
pub fn zkey_file(id: CircuitId) -> String {
    format!("{}.zkey", id.name())
}

/// What a transcript must hold before its key is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Contributions before the final beacon (each from a secret of its
    /// own; one honest contributor suffices).
    pub min_contributions: usize,
    /// The last contribution must be a beacon (a public random value no
    /// contributor could know in advance).
    pub final_beacon: bool,
}

impl Policy {
    /// The project's rule for the keys it commits: at least three
    /// contributions, then a beacon.
    pub const PROJECT: Policy = Policy {
        min_contributions: 3,
        final_beacon: true,
    };

    /// Checks `t` against the policy.
    pub fn check(&self, t: &Transcript) -> Result<(), InteropError> {
        let ends_with_beacon = t.contributions.last().is_some_and(|c| c.beacon.is_some());
        if self.final_beacon && !ends_with_beacon {
            return Err(InteropError::Policy(
                "the last contribution is not a beacon".into(),
            ));
        }
        let secret = t
            .contributions
            .iter()
            .filter(|c| c.beacon.is_none())
            .count();
        if secret < self.min_contributions {
            return Err(InteropError::Policy(format!(
                "{secret} contribution(s) before the beacon, at least {} required",
                self.min_contributions
            )));
        }
        Ok(())
    }
}

/// What a circuit's transcripts are checked against: veil's own R1CS of
/// the circuit and the phase-1 file — never anything read from the
/// ceremony directory.
pub struct Reference<'p> {
    circuit: CircuitId,
    r1cs: R1cs,
    ptau: &'p Ptau,
    ptau_sha256: String,
}

impl<'p> Reference<'p> {
    /// The reference of `id` over `ptau`, whose file hashes to
    /// `ptau_sha256` (hex). Check the ptau's powers first
    /// ([`Ptau::check_powers`]).
    pub fn new(id: CircuitId, ptau: &'p Ptau, ptau_sha256: String) -> Result<Self, InteropError> {
        Ok(Reference {
            circuit: id,
            r1cs: export::circuit_r1cs(id)?,
            ptau,
            ptau_sha256,
        })
    }

    /// The circuit.
    pub fn circuit(&self) -> CircuitId {
        self.circuit
    }

    /// The circuit's initial key (`snarkjs zkey new`), where a ceremony
    /// starts. Slow: it computes every point.
    pub fn initial(&self) -> Result<Zkey, InteropError> {
        Zkey::new(&self.r1cs, self.ptau)
    }

    /// Verifies the final key `zkey_bytes` (the whole transcript: every
    /// contribution, the final δ, and the key against the circuit's
    /// initial key, [`Zkey::initial_for`]), checks `policy`, and returns
    /// the keys with the record that pins them. Nothing is written: the
    /// caller compares the record with a pin or writes it.
    pub fn keys(&self, zkey_bytes: &[u8], policy: &Policy) -> Result<SetupKeys, InteropError> {
        let t = Instant::now();
        let zkey = Zkey::from_bytes(zkey_bytes)?;
        let initial = zkey.initial_for(&self.r1cs, self.ptau, &mut OsRng)?;
        let transcript = verify_from_initial(&zkey, &initial)?;
        policy.check(&transcript)?;
        let origin = KeyOrigin::Ceremony(CeremonyRecord {
            transcript_sha256: hex::encode(Sha256::digest(zkey_bytes)),
            transcript_bytes: zkey_bytes.len() as u64,
            ptau_sha256: self.ptau_sha256.clone(),
            circuit_hash: hex::encode(transcript.circuit_hash),
            contributions: transcript.contributions.iter().map(record).collect(),
        });
        let keys = SetupKeys::new(
            self.circuit,
            zkey.proving_key(),
            origin,
            Reduction::Circom,
            self.r1cs.constraints.len(),
            t.elapsed(),
        )?;
        Ok(keys)
    }
}

fn record(c: &VerifiedContribution) -> ContributionRecord {
    ContributionRecord {
        hash: c.hash.to_hex(),
        name: c.name.clone(),
        beacon: c.beacon.as_ref().map(|b| BeaconRecord {
            hash: hex::encode(&b.hash),
            iterations_exp: b.iterations_exp,
        }),
    }
}
