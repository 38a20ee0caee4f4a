//! The credential and its keyed-verification MAC (docs/vouchers.md §4, §5).

use core::fmt;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use merlin::Transcript;
use rand_core::{CryptoRng, RngCore};

use veil_primitives::secret::{Redacted, Zeroizing};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::decode::DecodeError;
use crate::encoding::{Reader, Writer};
use crate::error::VerificationError;
use crate::generators::generators;
use crate::keys::{IssuerPublicKey, IssuerSecretKey};
use crate::sigma::{Equation, LinearStatement, SchnorrProof};
use crate::transcript::TranscriptExt;
use crate::types::{Balance, Epoch, NodeId, VoucherNullifier};

/// `C(c, k, r) = G_0 + c·H_c + k·H_k + r·H_r` (§4).
pub(crate) fn attribute_point(balance: &Scalar, k: &Scalar, r: &Scalar) -> RistrettoPoint {
    let g = generators();
    g.g_0 + balance * g.h_c + k * g.h_k + r * g.h_r
}

/// A voucher held by a client: a MAC `A = (x+e)^{-1}·C(c, k, r)` on
/// balance `c`, nullifier `k` and blinding `r` under one epoch key (§4).
///
/// Secret: whoever holds the bytes can spend the balance. `k`, `r`, `e`
/// and `A` are wiped on drop and never in `Debug` (`docs/security.md`,
/// "Secrets in memory"); [`Credential::to_bytes`] is for the wallet file.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Credential {
    #[zeroize(skip)]
    pub(crate) node_id: NodeId,
    #[zeroize(skip)]
    pub(crate) issuer: IssuerPublicKey,
    #[zeroize(skip)]
    pub(crate) balance: Balance,
    pub(crate) nullifier: VoucherNullifier,
    pub(crate) blinding: Scalar,
    pub(crate) e: Scalar,
    pub(crate) a: RistrettoPoint,
}

impl Credential {
    /// Encoded length of [`Credential::to_bytes`].
    pub const ENCODED_LEN: usize = 1 + 32 + 8 + 32 + 8 + 3 * 32 + 32;

    pub fn balance(&self) -> Balance {
        self.balance
    }

    pub fn epoch(&self) -> Epoch {
        self.issuer.epoch()
    }

    pub fn node_id(&self) -> &NodeId {
        &self.node_id
    }

    pub fn issuer_key(&self) -> &IssuerPublicKey {
        &self.issuer
    }

    /// The nullifier this credential reveals when spent.
    pub fn nullifier(&self) -> VoucherNullifier {
        self.nullifier
    }

    pub(crate) fn attribute_point(&self) -> RistrettoPoint {
        attribute_point(&self.balance.to_scalar(), &self.nullifier.0, &self.blinding)
    }

    /// Secret encoding for wallet storage.
    ///
    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 32 | node id |
    /// | 33 | 8 | epoch, u64 LE |
    /// | 41 | 32 | issuer key `W` (compressed, not the identity) |
    /// | 73 | 8 | balance `c` in KiB, u64 LE |
    /// | 81 | 32 | nullifier `k` (canonical scalar) |
    /// | 113 | 32 | blinding `r` (canonical scalar) |
    /// | 145 | 32 | `e` (canonical scalar) |
    /// | 177 | 32 | `A` (compressed, not the identity) |
    /// The copy is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        w.bytes(self.node_id.as_bytes())
            .u64(self.issuer.epoch().get())
            .point(self.issuer.w())
            .u64(self.balance.kib())
            .scalar(&self.nullifier.0)
            .scalar(&self.blinding)
            .scalar(&self.e)
            .point(&self.a);
        Zeroizing::new(w.finish(Self::ENCODED_LEN))
    }

    /// Parses [`Credential::to_bytes`]. The MAC itself can only be checked by
    /// the issuer (keyed verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("Credential", bytes, Self::ENCODED_LEN)?;
        let node_id = NodeId::new(r.array32()?);
        let epoch = r.u64()?;
        let mut key = [0u8; IssuerPublicKey::ENCODED_LEN];
        key[0] = crate::encoding::VERSION;
        key[1..9].copy_from_slice(&epoch.to_le_bytes());
        key[9..].copy_from_slice(&r.array32()?);
        let issuer = IssuerPublicKey::from_bytes(&key)?;
        let balance = Balance::from_kib(r.u64()?);
        let nullifier = VoucherNullifier(r.scalar("k")?);
        let blinding = r.scalar("r")?;
        let e = r.scalar("e")?;
        let a = r.point("A")?;
        r.finish()?;
        Ok(Credential {
            node_id,
            issuer,
            balance,
            nullifier,
            blinding,
            e,
            a,
        })
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("node_id", &self.node_id)
            .field("epoch", &self.issuer.epoch())
            .field("balance", &self.balance)
            .field("secret", &Redacted)
            .finish()
    }
}

impl IssuerSecretKey {
    /// Keyed verification of a credential in the clear: `x·A = C − e·A`
    /// (§4). A node never sees credentials in the clear; this is for tests
    /// and audits of a wallet.
    pub fn verify_credential(&self, credential: &Credential) -> bool {
        credential.issuer == *self.public_key()
            && !credential.a.is_identity()
            && self.x() * credential.a == credential.attribute_point() - credential.e * credential.a
    }
}

/// A MAC on a (possibly blinded) attribute point with the issuer's proof that
/// it was made with the published key (§5): sent as the issuance response
/// and the spend response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BlindMac {
    pub epoch: Epoch,
    pub a: RistrettoPoint,
    pub e: Scalar,
    pub proof: SchnorrProof,
}

/// DLEQ: `W = x·G_w` and `C − e·A = x·A`.
fn dleq_statement(
    w: RistrettoPoint,
    c: RistrettoPoint,
    a: RistrettoPoint,
    e: Scalar,
) -> LinearStatement {
    LinearStatement {
        witnesses: 1,
        equations: vec![
            Equation {
                lhs: w,
                terms: vec![(0, generators().g_w)],
            },
            Equation {
                lhs: c - e * a,
                terms: vec![(0, a)],
            },
        ],
    }
}

fn append_mac(t: &mut Transcript, c: &RistrettoPoint, a: &RistrettoPoint, e: &Scalar) {
    t.append_point(b"C", c);
    t.append_point(b"A", a);
    t.append_scalar(b"e", e);
}

impl BlindMac {
    pub(crate) const ENCODED_LEN: usize = 1 + 8 + 32 + 32 + 2 * 32;

    /// Issuer: `A = (x+e)^{-1}·C` and the DLEQ proof, on `transcript`.
    pub(crate) fn sign<R: RngCore + CryptoRng>(
        sk: &IssuerSecretKey,
        c: &RistrettoPoint,
        transcript: &mut Transcript,
        rng: &mut R,
    ) -> Self {
        let (e, a) = loop {
            let e = Scalar::random(rng);
            let denominator = sk.x() + e;
            if denominator != Scalar::ZERO {
                break (e, denominator.invert() * c);
            }
        };
        append_mac(transcript, c, &a, &e);
        let proof = dleq_statement(*sk.public_key().w(), *c, a, e).prove(
            core::slice::from_ref(sk.x()),
            transcript,
            rng,
        );
        BlindMac {
            epoch: sk.epoch(),
            a,
            e,
            proof,
        }
    }

    /// Client: checks the DLEQ proof against the published key.
    pub(crate) fn verify(
        &self,
        pk: &IssuerPublicKey,
        c: &RistrettoPoint,
        transcript: &mut Transcript,
    ) -> Result<(), VerificationError> {
        if self.a.is_identity() {
            return Err(VerificationError::IdentityPoint { field: "A" });
        }
        append_mac(transcript, c, &self.a, &self.e);
        dleq_statement(*pk.w(), *c, self.a, self.e).verify(&self.proof, transcript)
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        w.u64(self.epoch.get()).point(&self.a).scalar(&self.e);
        self.proof.write(&mut w);
        w.finish(Self::ENCODED_LEN)
    }

    pub(crate) fn from_bytes(message: &'static str, bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(message, bytes, Self::ENCODED_LEN)?;
        let epoch = Epoch::new(r.u64()?);
        let a = r.point("A")?;
        let e = r.scalar("e")?;
        let proof = SchnorrProof::read(&mut r, 1)?;
        r.finish()?;
        Ok(BlindMac { epoch, a, e, proof })
    }
}
