//! Spend with blind re-issuance (docs/vouchers.md §6, §7).
//!
//! Client typestate: [`Credential::prepare_spend`] → ([`SpendRequest`],
//! [`PendingSpend`]) → [`PendingSpend::finish_spend`] → [`Credential`].

use bulletproofs::RangeProof;
use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};

use crate::credential::{BlindMac, Credential, attribute_point};
use crate::decode::DecodeError;
use crate::encoding::{Reader, Writer, decompress};
use crate::error::{ClientError, VerificationError};
use crate::generators::{RANGE_BITS, generators};
use crate::keys::{IssuerPublicKey, IssuerSecretKey};
use crate::sigma::{Equation, LinearStatement, SchnorrProof};
use crate::transcript::{REISSUE_LABEL, SPEND_LABEL, TranscriptExt, new_transcript};
use crate::types::{Balance, Epoch, NodeId, VoucherNullifier};

/// Size of a 64-bit single-value Bulletproofs range proof: `32·(9 + 2·log2 64)`.
pub(crate) const RANGE_PROOF_LEN: usize = 672;

/// Client → node: spend `amount` from a credential of `epoch` (§6).
#[derive(Clone, Debug)]
pub struct SpendRequest {
    pub(crate) public: SpendPublic,
    pub(crate) proof: SchnorrProof,
    pub(crate) range_proof: RangeProof,
}

/// The public values of the spend statement (§6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SpendPublic {
    pub epoch: Epoch,
    pub amount: Balance,
    pub nullifier: VoucherNullifier,
    /// `A' = (r_1 r_2)·A`.
    pub a_prime: RistrettoPoint,
    /// `D = r_2·C`.
    pub d: RistrettoPoint,
    /// `V = (c − s)·B + γ·B̃`.
    pub v: RistrettoPoint,
    /// `K' = (c − s)·H_c + k'·H_k + r'·H_r`.
    pub k_next: RistrettoPoint,
}

/// Node → client: the MAC on `G_0 + K'` under the node's current key, with
/// its proof (§6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendResponse(pub(crate) BlindMac);

/// Client state between spend request and response: the openings of `K'`
/// (secret, wiped on drop; `Debug` shows only the remaining balance).
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct PendingSpend {
    #[zeroize(skip)]
    node_id: NodeId,
    #[zeroize(skip)]
    context: Vec<u8>,
    #[zeroize(skip)]
    spent: VoucherNullifier,
    #[zeroize(skip)]
    remaining: Balance,
    nullifier: VoucherNullifier,
    blinding: Scalar,
}

impl core::fmt::Debug for PendingSpend {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingSpend")
            .field("node_id", &self.node_id)
            .field("remaining", &self.remaining)
            .field("secret", &veil_primitives::secret::Redacted)
            .finish()
    }
}

// Witness indices of π_Σ (§6).
const W_E: usize = 0;
const W_R1: usize = 1;
const W_R3: usize = 2;
const W_C: usize = 3;
const W_R: usize = 4;
const W_GAMMA: usize = 5;
const W_K_NEXT: usize = 6;
const W_R_NEXT: usize = 7;
const WITNESSES: usize = 8;

/// Equations (1)–(4) of §6.
fn spend_statement(req: &SpendPublic, b_bar: RistrettoPoint) -> LinearStatement {
    let g = generators();
    let s = req.amount.to_scalar();
    LinearStatement {
        witnesses: WITNESSES,
        equations: vec![
            // (1) B̄ = r_1·D − e·A'
            Equation {
                lhs: b_bar,
                terms: vec![(W_R1, req.d), (W_E, -req.a_prime)],
            },
            // (2) G_0 + k·H_k = r_3·D − c·H_c − r·H_r
            Equation {
                lhs: g.g_0 + req.nullifier.0 * g.h_k,
                terms: vec![(W_R3, req.d), (W_C, -g.h_c), (W_R, -g.h_r)],
            },
            // (3) V + s·B = c·B + γ·B̃
            Equation {
                lhs: req.v + s * g.pedersen.B,
                terms: vec![(W_C, g.pedersen.B), (W_GAMMA, g.pedersen.B_blinding)],
            },
            // (4) K' + s·H_c = c·H_c + k'·H_k + r'·H_r
            Equation {
                lhs: req.k_next + s * g.h_c,
                terms: vec![(W_C, g.h_c), (W_K_NEXT, g.h_k), (W_R_NEXT, g.h_r)],
            },
        ],
    }
}

/// The spend transcript up to the range proof (§7).
fn spend_transcript(
    label: &'static [u8],
    node_id: &NodeId,
    key: &IssuerPublicKey,
    context: &[u8],
    req: &SpendPublic,
    b_bar: &RistrettoPoint,
) -> Transcript {
    let mut t = new_transcript(label, node_id, &key.key_id(), key.epoch(), context);
    t.append_u64(b"amount", req.amount.kib());
    t.append_scalar(b"nullifier", &req.nullifier.0);
    t.append_point(b"A'", &req.a_prime);
    t.append_point(b"D", &req.d);
    t.append_point(b"B-bar", b_bar);
    t.append_point(b"V", &req.v);
    t.append_point(b"K'", &req.k_next);
    t
}

fn reissue_transcript(
    node_id: &NodeId,
    key: &IssuerPublicKey,
    context: &[u8],
    spent: &VoucherNullifier,
) -> Transcript {
    let mut t = new_transcript(REISSUE_LABEL, node_id, &key.key_id(), key.epoch(), context);
    t.append_scalar(b"spent-nullifier", &spent.0);
    t
}

fn random_nonzero<R: RngCore + CryptoRng>(rng: &mut R) -> Scalar {
    loop {
        let s = Scalar::random(rng);
        if s != Scalar::ZERO {
            return s;
        }
    }
}

/// How a (possibly dishonest, in tests) prover builds a spend.
pub(crate) struct ProverOptions {
    pub label: &'static [u8],
    pub range_bits: usize,
    pub overspend: Overspend,
}

/// What the prover does when `amount > balance`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overspend {
    /// Honest: refuse.
    Refuse,
    /// Cheat: commit `V` to `c − s mod ℓ` (consistent with π_Σ) and attach
    /// a range proof of the wrapped `u64` value, which opens another `V`.
    #[cfg(test)]
    RangeProofOfWrapped,
    /// Cheat: commit `V` to the wrapped `u64` value (a valid range proof),
    /// so `V` does not open to `c − s` and π_Σ cannot hold.
    #[cfg(test)]
    CommitWrapped,
}

impl ProverOptions {
    pub(crate) const HONEST: ProverOptions = ProverOptions {
        label: SPEND_LABEL,
        range_bits: RANGE_BITS,
        overspend: Overspend::Refuse,
    };
}

impl Credential {
    /// Builds a spend of `amount` KiB for the connection whose node-chosen
    /// context is `context` (§6).
    pub fn prepare_spend<R: RngCore + CryptoRng>(
        &self,
        amount: Balance,
        context: &[u8],
        rng: &mut R,
    ) -> Result<(SpendRequest, PendingSpend), ClientError> {
        self.prepare_spend_with(amount, context, &ProverOptions::HONEST, rng)
    }

    pub(crate) fn prepare_spend_with<R: RngCore + CryptoRng>(
        &self,
        amount: Balance,
        context: &[u8],
        opts: &ProverOptions,
        rng: &mut R,
    ) -> Result<(SpendRequest, PendingSpend), ClientError> {
        let g = generators();
        let remaining = match (self.balance.checked_sub(amount), opts.overspend) {
            (Some(rest), _) => rest,
            (None, Overspend::Refuse) => {
                return Err(ClientError::InsufficientBalance {
                    balance: self.balance,
                    amount,
                });
            }
            #[cfg(test)]
            (None, _) => Balance::from_kib(self.balance.kib().wrapping_sub(amount.kib())),
        };
        let c = self.balance.to_scalar();
        let c_next = c - amount.to_scalar();

        let r1 = random_nonzero(rng);
        let r2 = random_nonzero(rng);
        let r3 = r2.invert();
        let d = r2 * self.attribute_point();
        let a_prime = (r1 * r2) * self.a;
        let b_bar = r1 * d - self.e * a_prime;

        let gamma = Scalar::random(rng);
        let committed = match opts.overspend {
            #[cfg(test)]
            Overspend::CommitWrapped => remaining.to_scalar(),
            _ => c_next,
        };
        let v = g.pedersen.commit(committed, gamma);

        let nullifier = VoucherNullifier::random(rng);
        let blinding = Scalar::random(rng);
        let k_next = c_next * g.h_c + nullifier.0 * g.h_k + blinding * g.h_r;

        let public = SpendPublic {
            epoch: self.issuer.epoch(),
            amount,
            nullifier: self.nullifier,
            a_prime,
            d,
            v,
            k_next,
        };
        let mut t = spend_transcript(
            opts.label,
            &self.node_id,
            &self.issuer,
            context,
            &public,
            &b_bar,
        );
        let (range_proof, _) = RangeProof::prove_single_with_rng(
            &g.bulletproofs,
            &g.pedersen,
            &mut t,
            remaining.kib(),
            &gamma,
            opts.range_bits,
            rng,
        )
        // Only fails for a bit size above the generators' capacity (64).
        .map_err(|_| VerificationError::RangeProof)?;
        let witness = [
            self.e,
            r1,
            r3,
            c,
            self.blinding,
            gamma,
            nullifier.0,
            blinding,
        ];
        let proof = spend_statement(&public, b_bar).prove(&witness, &mut t, rng);
        Ok((
            SpendRequest {
                public,
                proof,
                range_proof,
            },
            PendingSpend {
                node_id: self.node_id,
                context: context.to_vec(),
                spent: self.nullifier,
                remaining,
                nullifier,
                blinding,
            },
        ))
    }
}

/// Node side of §6: keyed verification of the MAC, range proof and π_Σ.
pub(crate) fn verify_request<R: RngCore + CryptoRng>(
    sk: &IssuerSecretKey,
    node_id: &NodeId,
    request: &SpendRequest,
    context: &[u8],
    rng: &mut R,
) -> Result<(), VerificationError> {
    let req = &request.public;
    for (field, p) in [
        ("A'", &req.a_prime),
        ("D", &req.d),
        ("V", &req.v),
        ("K'", &req.k_next),
    ] {
        if p.is_identity() {
            return Err(VerificationError::IdentityPoint { field });
        }
    }
    let g = generators();
    let b_bar = sk.x() * req.a_prime;
    let mut t = spend_transcript(SPEND_LABEL, node_id, sk.public_key(), context, req, &b_bar);
    request
        .range_proof
        .verify_single_with_rng(
            &g.bulletproofs,
            &g.pedersen,
            &mut t,
            &req.v.compress(),
            RANGE_BITS,
            rng,
        )
        .map_err(|_| VerificationError::RangeProof)?;
    spend_statement(req, b_bar).verify(&request.proof, &mut t)
}

/// Node side of §6: MAC `G_0 + K'` under the current key.
pub(crate) fn reissue<R: RngCore + CryptoRng>(
    current: &IssuerSecretKey,
    node_id: &NodeId,
    req: &SpendRequest,
    context: &[u8],
    rng: &mut R,
) -> SpendResponse {
    let c = generators().g_0 + req.public.k_next;
    let mut t = reissue_transcript(
        node_id,
        current.public_key(),
        context,
        &req.public.nullifier,
    );
    SpendResponse(BlindMac::sign(current, &c, &mut t, rng))
}

impl PendingSpend {
    /// The secrets, for the crate's redaction and zeroize tests.
    #[cfg(test)]
    pub(crate) fn nullifier_scalar(&self) -> Scalar {
        self.nullifier.0
    }

    #[cfg(test)]
    pub(crate) fn blinding_scalar(&self) -> &Scalar {
        &self.blinding
    }

    /// The balance the next credential will carry.
    pub fn remaining(&self) -> Balance {
        self.remaining
    }

    /// Checks the node's proof of correct re-issuance against `current`, the
    /// node's published key for the response's epoch, and returns the new
    /// credential.
    pub fn finish_spend(
        self,
        response: &SpendResponse,
        current: &IssuerPublicKey,
    ) -> Result<Credential, ClientError> {
        let mac = &response.0;
        if mac.epoch != current.epoch() {
            return Err(ClientError::EpochMismatch {
                expected: current.epoch(),
                found: mac.epoch,
            });
        }
        let c = attribute_point(
            &self.remaining.to_scalar(),
            &self.nullifier.0,
            &self.blinding,
        );
        let mut t = reissue_transcript(&self.node_id, current, &self.context, &self.spent);
        mac.verify(current, &c, &mut t)?;
        Ok(Credential {
            node_id: self.node_id,
            issuer: *current,
            balance: self.remaining,
            nullifier: self.nullifier,
            blinding: self.blinding,
            e: mac.e,
            a: mac.a,
        })
    }
}

impl SpendRequest {
    /// Encoded length of [`SpendRequest::to_bytes`].
    pub const ENCODED_LEN: usize =
        1 + 8 + 8 + 32 + 4 * 32 + SchnorrProof::ENCODED_LEN_8 + RANGE_PROOF_LEN;

    /// Epoch of the credential being spent.
    pub fn epoch(&self) -> Epoch {
        self.public.epoch
    }

    pub fn amount(&self) -> Balance {
        self.public.amount
    }

    pub fn nullifier(&self) -> VoucherNullifier {
        self.public.nullifier
    }

    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 8 | epoch of the spent credential, u64 LE |
    /// | 9 | 8 | amount `s` in KiB, u64 LE |
    /// | 17 | 32 | nullifier `k` (canonical scalar) |
    /// | 49 | 32 | `A'` |
    /// | 81 | 32 | `D` |
    /// | 113 | 32 | `V` |
    /// | 145 | 32 | `K'` |
    /// | 177 | 32 | π_Σ challenge |
    /// | 209 | 8·32 | π_Σ responses `e, r_1, r_3, c, r, γ, k', r'` |
    /// | 465 | 672 | Bulletproofs range proof, `n = 64`, in its own layout |
    ///
    /// Points are compressed ristretto, not the identity; scalars canonical.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        let p = &self.public;
        w.u64(p.epoch.get())
            .u64(p.amount.kib())
            .scalar(&p.nullifier.0)
            .point(&p.a_prime)
            .point(&p.d)
            .point(&p.v)
            .point(&p.k_next);
        self.proof.write(&mut w);
        w.bytes(&self.range_proof.to_bytes());
        w.finish(Self::ENCODED_LEN)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("SpendRequest", bytes, Self::ENCODED_LEN)?;
        let epoch = Epoch::new(r.u64()?);
        let amount = Balance::from_kib(r.u64()?);
        let nullifier = VoucherNullifier(r.scalar("k")?);
        let a_prime = r.point("A'")?;
        let d = r.point("D")?;
        let v = r.point("V")?;
        let k_next = r.point("K'")?;
        let proof = SchnorrProof::read(&mut r, WITNESSES)?;
        let range_proof = decode_range_proof(r.message(), r.take(RANGE_PROOF_LEN)?)?;
        r.finish()?;
        Ok(SpendRequest {
            public: SpendPublic {
                epoch,
                amount,
                nullifier,
                a_prime,
                d,
                v,
                k_next,
            },
            proof,
            range_proof,
        })
    }
}

/// A 64-bit range proof in canonical form: scalars canonical (checked by
/// `RangeProof::from_bytes`), every point field decompresses, and the
/// proof re-encodes to the same bytes.
fn decode_range_proof(message: &'static str, bytes: &[u8]) -> Result<RangeProof, DecodeError> {
    let err = DecodeError::RangeProof { message };
    let proof = RangeProof::from_bytes(bytes).map_err(|_| err.clone())?;
    // Chunks 0..4 are A, S, T_1, T_2; 4..7 scalars; then L_i, R_i; then a, b.
    let chunks = bytes.len() / 32;
    for (i, chunk) in bytes.chunks_exact(32).enumerate() {
        let is_point = i < 4 || (7..chunks - 2).contains(&i);
        if is_point {
            let mut p = [0u8; 32];
            p.copy_from_slice(chunk);
            if decompress(&p).is_none() {
                return Err(err);
            }
        }
    }
    if proof.to_bytes() != bytes {
        return Err(err);
    }
    Ok(proof)
}

impl SpendResponse {
    /// Encoded length of [`SpendResponse::to_bytes`].
    pub const ENCODED_LEN: usize = BlindMac::ENCODED_LEN;

    /// Epoch of the key that issued the new credential.
    pub fn epoch(&self) -> Epoch {
        self.0.epoch
    }

    /// # Layout
    ///
    /// Same as [`crate::IssuanceResponse::to_bytes`]: version `0x01`, epoch
    /// (u64 LE), `A`, `e`, DLEQ challenge, DLEQ response; 137 bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        BlindMac::from_bytes("SpendResponse", bytes).map(SpendResponse)
    }
}
