//! Schnorr proofs of knowledge for linear relations (docs/vouchers.md §7).
//!
//! A statement is a list of equations `L_i = Σ_j w_{σ(i,j)}·P_ij` over one
//! vector of secret scalars `w`. The proof is `(ch, z)` with
//! `z_j = ρ_j − ch·w_j`; the verifier recomputes `T_i = Σ_j z·P_ij + ch·L_i`,
//! appends them to the transcript and checks the re-derived challenge.
//! Callers must append every public value of the statement to the
//! transcript before proving or verifying.

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{MultiscalarMul, VartimeMultiscalarMul};
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};

use crate::decode::DecodeError;
use crate::encoding::{Reader, Writer};
use crate::error::VerificationError;
use crate::transcript::TranscriptExt;

/// `lhs = Σ terms.0-th witness · terms.1`.
pub(crate) struct Equation {
    pub lhs: RistrettoPoint,
    pub terms: Vec<(usize, RistrettoPoint)>,
}

pub(crate) struct LinearStatement {
    pub witnesses: usize,
    pub equations: Vec<Equation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SchnorrProof {
    pub challenge: Scalar,
    pub responses: Vec<Scalar>,
}

impl SchnorrProof {
    /// Encoded length with two witnesses (issuance request).
    pub(crate) const ENCODED_LEN_2: usize = 32 * 3;
    /// Encoded length with eight witnesses (spend).
    pub(crate) const ENCODED_LEN_8: usize = 32 * 9;

    pub(crate) fn write(&self, w: &mut Writer) {
        w.scalar(&self.challenge);
        for z in &self.responses {
            w.scalar(z);
        }
    }

    pub(crate) fn read(r: &mut Reader<'_>, witnesses: usize) -> Result<Self, DecodeError> {
        let challenge = r.scalar("proof.challenge")?;
        let responses = (0..witnesses)
            .map(|_| r.scalar("proof.response"))
            .collect::<Result<_, _>>()?;
        Ok(SchnorrProof {
            challenge,
            responses,
        })
    }
}

impl LinearStatement {
    pub(crate) fn prove<R: RngCore + CryptoRng>(
        &self,
        witness: &[Scalar],
        transcript: &mut Transcript,
        rng: &mut R,
    ) -> SchnorrProof {
        debug_assert_eq!(witness.len(), self.witnesses);
        let mut builder = transcript.build_rng();
        for w in witness {
            builder = builder.rekey_with_witness_bytes(b"w", w.as_bytes());
        }
        let mut nonce_rng = builder.finalize(rng);
        let nonces: Vec<Scalar> = (0..self.witnesses)
            .map(|_| Scalar::random(&mut nonce_rng))
            .collect();
        for eq in &self.equations {
            let t = RistrettoPoint::multiscalar_mul(
                eq.terms.iter().map(|(j, _)| nonces[*j]),
                eq.terms.iter().map(|(_, p)| *p),
            );
            transcript.append_point(b"T", &t);
        }
        let challenge = transcript.challenge_scalar(b"challenge");
        let responses = nonces
            .iter()
            .zip(witness)
            .map(|(rho, w)| rho - challenge * w)
            .collect();
        SchnorrProof {
            challenge,
            responses,
        }
    }

    pub(crate) fn verify(
        &self,
        proof: &SchnorrProof,
        transcript: &mut Transcript,
    ) -> Result<(), VerificationError> {
        if proof.responses.len() != self.witnesses
            || self
                .equations
                .iter()
                .any(|eq| eq.terms.iter().any(|(j, _)| *j >= self.witnesses))
        {
            return Err(VerificationError::Proof);
        }
        for eq in &self.equations {
            let t = RistrettoPoint::vartime_multiscalar_mul(
                eq.terms
                    .iter()
                    .map(|(j, _)| proof.responses[*j])
                    .chain(core::iter::once(proof.challenge)),
                eq.terms
                    .iter()
                    .map(|(_, p)| *p)
                    .chain(core::iter::once(eq.lhs)),
            );
            transcript.append_point(b"T", &t);
        }
        if transcript.challenge_scalar(b"challenge") == proof.challenge {
            Ok(())
        } else {
            Err(VerificationError::Proof)
        }
    }
}
