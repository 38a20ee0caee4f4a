//! The pin of a node's TLS key (`docs/protocol.md` §9.8): the hash a
//! client checks, as the node registered it with the ledger.

use std::fmt;
use std::str::FromStr;

/// `SHA-256(SubjectPublicKeyInfo DER)` of a node's TLS key: the pin a client
/// checks, as registered in `NodeRegistration::tls_key_hash` or updated by
/// `NodeUpdate::tls_key_hash` (§9.8, §8.3.8; [`TlsKeyHash::in_force`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TlsKeyHash([u8; 32]);

impl TlsKeyHash {
    /// Wraps a hash (e.g. `NodeRegistration::tls_key_hash`).
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 hash bytes.
    pub const fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// The pin a node's ledger record holds now (§9.8, §8.3.8): the TLS key
    /// hash of its latest update, else of its registration. A client that
    /// pins through the ledger reads it at every connection, so it follows
    /// a rotation, and a key the node rotated away from no longer matches.
    pub fn in_force(record: &veil_ledger::types::NodeRecord) -> Self {
        Self(record.tls_key_hash())
    }
}

impl fmt::Display for TlsKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for TlsKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TlsKeyHash({self})")
    }
}

/// A pin that is not exactly 64 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a TLS key pin is exactly 64 hex digits")]
pub struct PinParseError;

impl FromStr for TlsKeyHash {
    type Err = PinParseError;

    /// Exactly 64 hex digits (as `veil node serve` prints them).
    fn from_str(s: &str) -> Result<Self, PinParseError> {
        let bad = || PinParseError;
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let v = hex::decode(s).map_err(|_| bad())?;
        let bytes: [u8; 32] = v.try_into().map_err(|_| bad())?;
        Ok(Self(bytes))
    }
}
