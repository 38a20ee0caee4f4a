//! Issuer keys per epoch (docs/vouchers.md §3).

use core::fmt;

use curve25519_dalek::ristretto::RistrettoPoint;
use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use veil_primitives::secret::{Redacted, Zeroizing};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::decode::DecodeError;
use crate::encoding::{Reader, Writer};
use crate::generators::generators;
use crate::types::{Epoch, KeyId};

/// The node's secret MAC key `x` for one epoch: wiped on drop, never in
/// `Debug` (`docs/security.md`, "Secrets in memory"); it leaves the process
/// only through [`IssuerSecretKey::to_bytes`], for the node's key file.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct IssuerSecretKey {
    x: Scalar,
    #[zeroize(skip)]
    public: IssuerPublicKey,
}

/// The published key `W = x·G_w` of one epoch, with its [`KeyId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IssuerPublicKey {
    epoch: Epoch,
    w: RistrettoPoint,
    key_id: KeyId,
}

impl IssuerSecretKey {
    /// Encoded length of [`IssuerSecretKey::to_bytes`].
    pub const ENCODED_LEN: usize = 1 + 8 + 32;

    pub fn generate<R: RngCore + CryptoRng>(epoch: Epoch, rng: &mut R) -> Self {
        loop {
            let x = Scalar::random(rng);
            if x != Scalar::ZERO {
                return Self::from_scalar(epoch, x);
            }
        }
    }

    fn from_scalar(epoch: Epoch, x: Scalar) -> Self {
        let w = x * generators().g_w;
        IssuerSecretKey {
            x,
            public: IssuerPublicKey::new(epoch, w),
        }
    }

    pub fn public_key(&self) -> &IssuerPublicKey {
        &self.public
    }

    pub fn epoch(&self) -> Epoch {
        self.public.epoch
    }

    pub(crate) fn x(&self) -> &Scalar {
        &self.x
    }

    /// Secret encoding for the node's key storage.
    ///
    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 8 | epoch, u64 LE |
    /// | 9 | 32 | `x`, canonical non-zero scalar |
    /// The copy is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        w.u64(self.epoch().get()).scalar(&self.x);
        Zeroizing::new(w.finish(Self::ENCODED_LEN))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("IssuerSecretKey", bytes, Self::ENCODED_LEN)?;
        let epoch = Epoch::new(r.u64()?);
        let x = Zeroizing::new(r.scalar("x")?);
        r.finish()?;
        if *x == Scalar::ZERO {
            return Err(DecodeError::NonCanonicalScalar {
                message: "IssuerSecretKey",
                field: "x",
            });
        }
        Ok(Self::from_scalar(epoch, *x))
    }
}

impl fmt::Debug for IssuerSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerSecretKey")
            .field("public", &self.public)
            .field("x", &Redacted)
            .finish()
    }
}

impl IssuerPublicKey {
    /// Encoded length of [`IssuerPublicKey::to_bytes`].
    pub const ENCODED_LEN: usize = 1 + 8 + 32;

    fn new(epoch: Epoch, w: RistrettoPoint) -> Self {
        let mut h = Sha256::new();
        h.update(b"veil.voucher.keyid.v1");
        h.update(epoch.get().to_le_bytes());
        h.update(w.compress().as_bytes());
        IssuerPublicKey {
            epoch,
            w,
            key_id: KeyId(h.finalize().into()),
        }
    }

    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    pub(crate) fn w(&self) -> &RistrettoPoint {
        &self.w
    }

    /// The key as published (for the node registry).
    ///
    /// # Layout
    ///
    /// | offset | length | field |
    /// | --- | --- | --- |
    /// | 0 | 1 | version `0x01` |
    /// | 1 | 8 | epoch, u64 LE |
    /// | 9 | 32 | `W`, compressed ristretto, not the identity |
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new(Self::ENCODED_LEN);
        w.u64(self.epoch.get()).point(&self.w);
        w.finish(Self::ENCODED_LEN)
    }

    /// The compressed `W` alone, as a ledger profile lists it beside the
    /// epoch (§3.1).
    pub fn w_bytes(&self) -> [u8; 32] {
        self.w.compress().to_bytes()
    }

    /// The key from a ledger profile's `(epoch, W)`: `W` must be a
    /// canonical, non-identity ristretto point (§3.1).
    pub fn from_published(epoch: Epoch, w: &[u8; 32]) -> Result<Self, DecodeError> {
        let mut bytes = Vec::with_capacity(Self::ENCODED_LEN);
        bytes.push(crate::encoding::VERSION);
        bytes.extend_from_slice(&epoch.get().to_le_bytes());
        bytes.extend_from_slice(w);
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new("IssuerPublicKey", bytes, Self::ENCODED_LEN)?;
        let epoch = Epoch::new(r.u64()?);
        let w = r.point("W")?;
        r.finish()?;
        Ok(Self::new(epoch, w))
    }
}
