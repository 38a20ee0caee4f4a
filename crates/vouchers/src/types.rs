//! Domain value types (docs/vouchers.md §3, §4).

use core::fmt;

use curve25519_dalek::scalar::Scalar;
use rand_core::{CryptoRng, RngCore};

use crate::decode::DecodeError;

/// A voucher balance or spend amount, in KiB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Balance(u64);

impl Balance {
    pub const ZERO: Balance = Balance(0);

    pub const fn from_kib(kib: u64) -> Self {
        Balance(kib)
    }

    pub const fn kib(self) -> u64 {
        self.0
    }

    pub fn checked_sub(self, rhs: Balance) -> Option<Balance> {
        self.0.checked_sub(rhs.0).map(Balance)
    }

    pub(crate) fn to_scalar(self) -> Scalar {
        Scalar::from(self.0)
    }
}

impl fmt::Display for Balance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A key epoch (§3). Credentials carry the epoch of the key that issued them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(u64);

impl Epoch {
    pub const fn new(epoch: u64) -> Self {
        Epoch(epoch)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The epoch before this one, if any.
    pub fn previous(self) -> Option<Epoch> {
        self.0.checked_sub(1).map(Epoch)
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// `SHA-256("veil.voucher.keyid.v1" ‖ epoch ‖ W)`: names one epoch key (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub(crate) [u8; 32]);

impl KeyId {
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The node's identity as bound into every transcript (§7); the node
/// integration decides how it is derived (e.g. a hash of the node's
/// registry entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId([u8; 32]);

impl NodeId {
    pub const fn new(bytes: [u8; 32]) -> Self {
        NodeId(bytes)
    }

    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The one-time serial `k` of a credential, revealed when it is spent (§6).
///
/// Decoded canonically, so one nullifier has exactly one encoding.
/// Secret until spent: a [`Credential`](crate::Credential) holding it wipes
/// it on drop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, zeroize::Zeroize)]
pub struct VoucherNullifier(pub(crate) Scalar);

impl VoucherNullifier {
    pub(crate) fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        VoucherNullifier(Scalar::random(rng))
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// Parses a canonical scalar encoding.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, DecodeError> {
        Option::<Scalar>::from(Scalar::from_canonical_bytes(bytes))
            .map(VoucherNullifier)
            .ok_or(DecodeError::NonCanonicalScalar {
                message: "VoucherNullifier",
                field: "k",
            })
    }
}
