//! Proof that a published epoch key is well formed (docs/vouchers.md §3.1).
//!
//! A Schnorr proof of knowledge of `x` with `W = x·G_w`, bound to the node
//! id and the epoch (through the key id) on the transcript
//! `b"veil.voucher.key.v1"`. The node publishes it beside `W` in its ledger
//! profile; a client checks it before it trusts a key, so that a published
//! key is one whose secret the node holds (not a point copied from another
//! node or made up without a discrete log).

use core::fmt;

use curve25519_dalek::ristretto::{CompressedRistretto, RistrettoPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimeMultiscalarMul};
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};

use crate::decode::DecodeError;
use crate::error::VerificationError;
use crate::generators::generators;
use crate::keys::{IssuerPublicKey, IssuerSecretKey};
use crate::transcript::{KEY_PROOF_LABEL, TranscriptExt, new_transcript};
use crate::types::{Epoch, NodeId};

/// `(R, z)` with `R = r·G_w`, `c` the transcript challenge, `z = r + c·x`;
/// it verifies when `z·G_w = R + c·W` (§3.1).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyProof {
    commitment: RistrettoPoint,
    response: Scalar,
}

impl KeyProof {
    /// Encoded length: compressed `R` ‖ canonical `z`, no version byte (the
    /// ledger profile that carries it is versioned).
    pub const ENCODED_LEN: usize = 64;

    pub fn to_bytes(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..32].copy_from_slice(self.commitment.compress().as_bytes());
        out[32..].copy_from_slice(self.response.as_bytes());
        out
    }

    /// Canonical decoding: `R` a canonical non-identity ristretto point, `z`
    /// a canonical scalar, exactly 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        const MESSAGE: &str = "KeyProof";
        let bytes: &[u8; Self::ENCODED_LEN] =
            bytes.try_into().map_err(|_| DecodeError::Length {
                message: MESSAGE,
                expected: Self::ENCODED_LEN,
                found: bytes.len(),
            })?;
        let (r, z) = bytes.split_at(32);
        let commitment = CompressedRistretto::from_slice(r)
            .ok()
            .and_then(|c| c.decompress())
            .ok_or(DecodeError::NonCanonicalPoint {
                message: MESSAGE,
                field: "R",
            })?;
        if commitment.is_identity() {
            return Err(DecodeError::IdentityPoint {
                message: MESSAGE,
                field: "R",
            });
        }
        let mut z_bytes = [0u8; 32];
        z_bytes.copy_from_slice(z);
        let response = Option::from(Scalar::from_canonical_bytes(z_bytes)).ok_or(
            DecodeError::NonCanonicalScalar {
                message: MESSAGE,
                field: "z",
            },
        )?;
        Ok(KeyProof {
            commitment,
            response,
        })
    }
}

impl fmt::Debug for KeyProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyProof")
            .field("R", self.commitment.compress().as_bytes())
            .field("z", self.response.as_bytes())
            .finish()
    }
}

/// The transcript of §3.1 up to the challenge: label, node id, key id,
/// epoch, empty context, `W`, `R`.
fn challenge(node_id: &NodeId, key: &IssuerPublicKey, commitment: &RistrettoPoint) -> Scalar {
    let mut t: Transcript =
        new_transcript(KEY_PROOF_LABEL, node_id, &key.key_id(), key.epoch(), &[]);
    t.append_point(b"W", key.w());
    t.append_point(b"R", commitment);
    t.challenge_scalar(b"challenge")
}

/// No external randomness: the nonce of [`IssuerSecretKey::published_proof`]
/// is then a function of the transcript keyed by the witness (Merlin's
/// transcript RNG), as in deterministic signatures.
struct NoExternalEntropy;

impl RngCore for NoExternalEntropy {
    fn next_u32(&mut self) -> u32 {
        0
    }
    fn next_u64(&mut self) -> u64 {
        0
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}

// The nonce's secrecy comes from the witness rekeying, not from this source.
impl CryptoRng for NoExternalEntropy {}

impl IssuerSecretKey {
    /// The proof a node publishes for this key (§3.1): deterministic (its
    /// nonce is derived from `x` and the statement), so the same key always
    /// publishes the same bytes and an unchanged profile stays unchanged
    /// across restarts.
    pub fn published_proof(&self, node_id: &NodeId) -> KeyProof {
        self.prove_well_formed(node_id, &mut NoExternalEntropy)
    }

    /// Proves that this epoch's published key is well formed, for `node_id`
    /// (§3.1), with nonce randomness from `rng` mixed in.
    pub fn prove_well_formed<R: RngCore + CryptoRng>(
        &self,
        node_id: &NodeId,
        rng: &mut R,
    ) -> KeyProof {
        let key = self.public_key();
        let mut nonce_rng =
            new_transcript(KEY_PROOF_LABEL, node_id, &key.key_id(), key.epoch(), &[])
                .build_rng()
                .rekey_with_witness_bytes(b"x", self.x().as_bytes())
                .finalize(rng);
        let mut r = Scalar::ZERO;
        while r == Scalar::ZERO {
            r = Scalar::random(&mut nonce_rng);
        }
        let commitment = r * generators().g_w;
        let response = r + challenge(node_id, key, &commitment) * self.x();
        zeroize::Zeroize::zeroize(&mut r);
        KeyProof {
            commitment,
            response,
        }
    }
}

impl IssuerPublicKey {
    /// Checks `proof` for this key, this key's epoch and `node_id` (§3.1).
    pub fn verify_well_formed(
        &self,
        node_id: &NodeId,
        proof: &KeyProof,
    ) -> Result<(), VerificationError> {
        let c = challenge(node_id, self, &proof.commitment);
        // z·G_w − c·W − R = 0
        let check = RistrettoPoint::vartime_multiscalar_mul(
            [proof.response, -c, -Scalar::ONE],
            [generators().g_w, *self.w(), proof.commitment],
        );
        if check.is_identity() {
            Ok(())
        } else {
            Err(VerificationError::Proof)
        }
    }
}

/// Why a key published in a node's ledger profile is refused (§3.1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishedKeyError {
    /// `W` or the proof does not decode canonically.
    #[error("published voucher key: {0}")]
    Decode(#[from] DecodeError),
    /// The proof of well-formedness does not verify for this node and epoch.
    #[error("published voucher key: proof of well-formedness rejected")]
    Proof(#[from] VerificationError),
}

impl IssuerPublicKey {
    /// The key a node's profile publishes for `epoch` as `(W, proof)`,
    /// accepted only with a proof of well-formedness for `node_id` (§3.1):
    /// the one check clients and nodes apply to published keys.
    pub fn verify_published(
        node_id: &NodeId,
        epoch: Epoch,
        w: &[u8; 32],
        proof: &[u8],
    ) -> Result<Self, PublishedKeyError> {
        let key = Self::from_published(epoch, w)?;
        key.verify_well_formed(node_id, &KeyProof::from_bytes(proof)?)?;
        Ok(key)
    }
}
