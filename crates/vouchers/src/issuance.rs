//! Blind issuance (docs/vouchers.md §5).
//!
//! Client typestate: [`Credential::request_issuance`] →
//! ([`IssuanceRequest`], [`AwaitingIssuance`]) → [`AwaitingIssuance::finish_issuance`]
//! → [`Credential`].

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};

use crate::credential::{BlindMac, Credential, attribute_point};
use crate::decode::DecodeError;
use crate::encoding::{Reader, Writer};
use crate::error::{ClientError, IssueError};
use crate::generators::generators;
use crate::keys::{IssuerPublicKey, IssuerSecretKey};
use crate::sigma::{Equation, LinearStatement, SchnorrProof};
use crate::transcript::{ISSUE_LABEL, ISSUE_REQUEST_LABEL, TranscriptExt, new_transcript};
use crate::types::{Balance, Epoch, NodeId, VoucherNullifier};

/// Client → node: "MAC balance `c` on my blinded `K = k·H_k + r·H_r`" (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuanceRequest {
    epoch: Epoch,
    balance: Balance,
    commitment: RistrettoPoint,
    proof: SchnorrProof,
}

/// Node → client: the MAC on the request and the proof that it was made
/// with the published key of `epoch` (§5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuanceResponse(pub(crate) BlindMac);

/// Client state between request and response (holds secrets, wiped on
/// drop; `Debug` shows only public parts).
#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct AwaitingIssuance {
    #[zeroize(skip)]
    node_id: NodeId,
    #[zeroize(skip)]
    issuer: IssuerPublicKey,
    #[zeroize(skip)]
    context: Vec<u8>,
    #[zeroize(skip)]
    balance: Balance,
    nullifier: VoucherNullifier,
    blinding: Scalar,
}

impl core::fmt::Debug for AwaitingIssuance {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingIssuance")
            .field("node_id", &self.node_id)
            .field("epoch", &self.issuer.epoch())
            .field("balance", &self.balance)
            .field("secret", &veil_primitives::secret::Redacted)
            .finish()
    }
}

/// `K = k·H_k + r·H_r`, witnesses `[k, r]`.
fn opening_statement(commitment: RistrettoPoint) -> LinearStatement {
    let g = generators();
    LinearStatement {
        witnesses: 2,
        equations: vec![Equation {
            lhs: commitment,
            terms: vec![(0, g.h_k), (1, g.h_r)],
        }],
    }
}

fn request_transcript(
    node_id: &NodeId,
    issuer: &IssuerPublicKey,
    context: &[u8],
    balance: Balance,
    commitment: &RistrettoPoint,
) -> merlin::Transcript {
    let mut t = new_transcript(
        ISSUE_REQUEST_LABEL,
        node_id,
        &issuer.key_id(),
        issuer.epoch(),
        context,
    );
    t.append_u64(b"balance", balance.kib());
    t.append_point(b"K", commitment);
    t
}

impl Credential {
    /// Starts issuance of `balance` KiB by `node_id` under its published key
    /// `issuer`; `context` is the node's challenge for this exchange.
    pub fn request_issuance<R: RngCore + CryptoRng>(
        issuer: &IssuerPublicKey,
        node_id: NodeId,
        balance: Balance,
        context: &[u8],
        rng: &mut R,
    ) -> (IssuanceRequest, AwaitingIssuance) {
        let g = generators();
        let nullifier = VoucherNullifier::random(rng);
        let blinding = Scalar::random(rng);
        let commitment = nullifier.0 * g.h_k + blinding * g.h_r;
        let mut t = request_transcript(&node_id, issuer, context, balance, &commitment);
        let proof = opening_statement(commitment).prove(&[nullifier.0, blinding], &mut t, rng);
        (
            IssuanceRequest {
                epoch: issuer.epoch(),
                balance,
                commitment,
                proof,
            },
            AwaitingIssuance {
                node_id,
                issuer: *issuer,
                context: context.to_vec(),
                balance,
                nullifier,
                blinding,
            },
        )
    }
}

impl AwaitingIssuance {
    /// The secrets, for the crate's redaction and zeroize tests.
    #[cfg(test)]
    pub(crate) fn nullifier_scalar(&self) -> Scalar {
        self.nullifier.0
    }

    #[cfg(test)]
    pub(crate) fn blinding_scalar(&self) -> &Scalar {
        &self.blinding
    }

    /// Checks the issuer's proof against the published key and returns the
    /// credential.
    pub fn finish_issuance(self, response: &IssuanceResponse) -> Result<Credential, ClientError> {
        let mac = &response.0;
        if mac.epoch != self.issuer.epoch() {
            return Err(ClientError::EpochMismatch {
                expected: self.issuer.epoch(),
                found: mac.epoch,
            });
        }
        let c = attribute_point(&self.balance.to_scalar(), &self.nullifier.0, &self.blinding);
        let mut t = new_transcript(
            ISSUE_LABEL,
            &self.node_id,
            &self.issuer.key_id(),
            self.issuer.epoch(),
            &self.context,
        );
        mac.verify(&self.issuer, &c, &mut t)?;
        Ok(Credential {
            node_id: self.node_id,
            issuer: self.issuer,
            balance: self.balance,
            nullifier: self.nullifier,
            blinding: self.blinding,
            e: mac.e,
            a: mac.a,
        })
    }
}

/// Node side of §5, called by [`crate::Issuer::issue`].
pub(crate) fn issue<R: RngCore + CryptoRng>(
    sk: &IssuerSecretKey,
    node_id: &NodeId,
    request: &IssuanceRequest,
    context: &[u8],
    rng: &mut R,
) -> Result<IssuanceResponse, IssueError> {
    let pk = sk.public_key();
    if request.epoch != pk.epoch() {
        return Err(IssueError::WrongEpoch {
            requested: request.epoch,
            current: pk.epoch(),
        });
    }
    let mut t = request_transcript(node_id, pk, context, request.balance, &request.commitment);
    opening_statement(request.commitment).verify(&request.proof, &mut t)?;
    let g = generators();
    let c = g.g_0 + request.balance.to_scalar() * g.h_c + request.commitment;
    let mut t = new_transcript(ISSUE_LABEL, node_id, &pk.key_id(), pk.epoch(), context);
    Ok(IssuanceResponse(BlindMac::sign(sk, &c, &mut t, rng)))
}

impl IssuanceRequest {
    /// Encoded length of [`IssuanceRequest::to_bytes`].
    pub const ENCODED_LEN: usize = 1 + 8 + 8 + 32 + SchnorrProof::ENCODED_LEN_2;

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The balance the client asks for; the node must check it against what
    /// was paid (§9).
    pub fn balance(&self) -> Balance {
        self.balance
    }

    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 8 | epoch, u64 LE |
    /// | 9 | 8 | balance `c` in KiB, u64 LE |
    /// | 17 | 32 | `K` (compressed, not the identity) |
    /// | 49 | 32 | challenge (canonical scalar) |
    /// | 81 | 2·32 | responses for `k`, `r` (canonical scalars) |
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        w.u64(self.epoch.get())
            .u64(self.balance.kib())
            .point(&self.commitment);
        self.proof.write(&mut w);
        w.finish(Self::ENCODED_LEN)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("IssuanceRequest", bytes, Self::ENCODED_LEN)?;
        let epoch = Epoch::new(r.u64()?);
        let balance = Balance::from_kib(r.u64()?);
        let commitment = r.point("K")?;
        let proof = SchnorrProof::read(&mut r, 2)?;
        r.finish()?;
        Ok(IssuanceRequest {
            epoch,
            balance,
            commitment,
            proof,
        })
    }
}

impl IssuanceResponse {
    /// Encoded length of [`IssuanceResponse::to_bytes`].
    pub const ENCODED_LEN: usize = BlindMac::ENCODED_LEN;

    pub fn epoch(&self) -> Epoch {
        self.0.epoch
    }

    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 8 | epoch of the issuing key, u64 LE |
    /// | 9 | 32 | `A` (compressed, not the identity) |
    /// | 41 | 32 | `e` (canonical scalar) |
    /// | 73 | 32 | DLEQ challenge (canonical scalar) |
    /// | 105 | 32 | DLEQ response (canonical scalar) |
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        BlindMac::from_bytes("IssuanceResponse", bytes).map(IssuanceResponse)
    }
}
