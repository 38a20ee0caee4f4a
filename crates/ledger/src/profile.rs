//! A node's published profile (docs/protocol.md §8.3.9): where it listens,
//! the capacity it claims, and its voucher issuing keys by epoch.
//!
//! The ledger stores a profile as bytes it does not interpret beyond
//! [`MAX_PROFILE_BYTES`] (every backend alike: a contract cannot parse a
//! ristretto key), bound by the node key's signature through
//! [`profile_digest`]. Readers — clients choosing or checking a node, other
//! nodes allowing egress to it — parse it with [`NodeProfile::decode`],
//! which accepts only the canonical encoding.
use std::fmt;

use ark_ff::PrimeField;
use sha2::{Digest, Sha256};
use veil_primitives::Fr;

use crate::limits::MAX_PROFILE_BYTES;

/// The encoding version this build writes and reads.
pub const PROFILE_VERSION: u8 = 1;
/// Domain separation of [`profile_digest`].
const DIGEST_DOMAIN: &[u8] = b"veil.node-profile.v1";
/// Voucher keys a profile lists at most: the current epoch's and the
/// previous one's while its spends are still accepted.
pub const MAX_VOUCHER_KEYS: usize = 2;
/// Longest `host:port` a profile carries (a DNS name is at most 253).
pub const MAX_ENDPOINT_BYTES: usize = 255;
/// Bytes of a published voucher key's proof of well-formedness
/// (docs/vouchers.md §3; opaque here, checked by `veil-vouchers`).
pub const KEY_PROOF_BYTES: usize = 64;

/// Why profile bytes are not a canonical [`NodeProfile`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("node profile: unsupported version {0}")]
    Version(u8),
    #[error("node profile: truncated")]
    Truncated,
    #[error("node profile: {0} trailing bytes")]
    Trailing(usize),
    #[error("node profile: longer than {MAX_PROFILE_BYTES} bytes")]
    TooLong,
    #[error("node profile: endpoint is not an ASCII host:port with a non-zero port")]
    Endpoint,
    #[error("node profile: more than {MAX_VOUCHER_KEYS} voucher keys")]
    TooManyKeys,
    #[error("node profile: voucher key epochs not strictly decreasing")]
    KeyOrder,
}

/// A `host:port` a node listens on: printable ASCII without spaces, a
/// non-empty host, a port in 1..=65535 (IPv6 hosts in brackets).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint(String);

impl Endpoint {
    /// Checks and wraps `s`.
    pub fn parse(s: &str) -> Result<Self, ProfileError> {
        let ok = s.len() <= MAX_ENDPOINT_BYTES
            && s.bytes().all(|b| b.is_ascii_graphic())
            && s.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty()
                    && port.bytes().all(|b| b.is_ascii_digit())
                    && !port.starts_with('0')
                    && port.parse::<u16>().is_ok_and(|p| p != 0)
            });
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ProfileError::Endpoint)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host part (brackets of an IPv6 literal kept).
    pub fn host(&self) -> &str {
        self.0.rsplit_once(':').map_or("", |(h, _)| h)
    }

    /// The port part.
    pub fn port(&self) -> u16 {
        self.0
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.0)
    }
}

/// One epoch's voucher issuing key as published (docs/vouchers.md §3):
/// the compressed ristretto point `W` and its proof of well-formedness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PublishedVoucherKey {
    pub epoch: u64,
    pub public_key: [u8; 32],
    pub proof: [u8; KEY_PROOF_BYTES],
}

/// The parsed profile (§8.3.9).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeProfile {
    /// Where clients and other nodes reach the node; `None`: unlisted.
    pub endpoint: Option<Endpoint>,
    /// The relay capacity the node claims, in Mbit/s (0: not stated).
    pub capacity_mbit_s: u32,
    /// How long spends under the previous voucher epoch's key stay
    /// accepted after the next epoch's key is published, in seconds.
    pub voucher_grace_secs: u64,
    /// The voucher keys in force, newest epoch first.
    pub voucher_keys: Vec<PublishedVoucherKey>,
}

impl NodeProfile {
    /// The canonical encoding (§8.3.9); refuses what [`Self::decode`]
    /// would refuse, so every encoded profile decodes to itself.
    pub fn encode(&self) -> Result<Vec<u8>, ProfileError> {
        self.check_keys()?;
        let endpoint = self.endpoint.as_ref().map_or("", Endpoint::as_str);
        let mut out = vec![PROFILE_VERSION, endpoint.len() as u8];
        out.extend_from_slice(endpoint.as_bytes());
        out.extend_from_slice(&self.capacity_mbit_s.to_be_bytes());
        out.extend_from_slice(&self.voucher_grace_secs.to_be_bytes());
        out.push(self.voucher_keys.len() as u8);
        for k in &self.voucher_keys {
            out.extend_from_slice(&k.epoch.to_be_bytes());
            out.extend_from_slice(&k.public_key);
            out.extend_from_slice(&k.proof);
        }
        if out.len() > MAX_PROFILE_BYTES {
            return Err(ProfileError::TooLong);
        }
        Ok(out)
    }

    /// Parses the canonical encoding; anything else is refused.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProfileError> {
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(ProfileError::TooLong);
        }
        let mut r = Reader(bytes);
        let version = r.u8()?;
        if version != PROFILE_VERSION {
            return Err(ProfileError::Version(version));
        }
        let n = usize::from(r.u8()?);
        let endpoint = match n {
            0 => None,
            _ => {
                let s = std::str::from_utf8(r.take(n)?).map_err(|_| ProfileError::Endpoint)?;
                Some(Endpoint::parse(s)?)
            }
        };
        let capacity_mbit_s = u32::from_be_bytes(r.array()?);
        let voucher_grace_secs = u64::from_be_bytes(r.array()?);
        let count = usize::from(r.u8()?);
        if count > MAX_VOUCHER_KEYS {
            return Err(ProfileError::TooManyKeys);
        }
        let voucher_keys = (0..count)
            .map(|_| {
                Ok(PublishedVoucherKey {
                    epoch: u64::from_be_bytes(r.array()?),
                    public_key: r.array()?,
                    proof: r.array()?,
                })
            })
            .collect::<Result<Vec<_>, ProfileError>>()?;
        if !r.0.is_empty() {
            return Err(ProfileError::Trailing(r.0.len()));
        }
        let profile = Self {
            endpoint,
            capacity_mbit_s,
            voucher_grace_secs,
            voucher_keys,
        };
        profile.check_keys()?;
        Ok(profile)
    }

    /// The published key of `epoch`, if the profile lists it.
    pub fn voucher_key(&self, epoch: u64) -> Option<&PublishedVoucherKey> {
        self.voucher_keys.iter().find(|k| k.epoch == epoch)
    }

    fn check_keys(&self) -> Result<(), ProfileError> {
        if self.voucher_keys.len() > MAX_VOUCHER_KEYS {
            return Err(ProfileError::TooManyKeys);
        }
        if self
            .voucher_keys
            .windows(2)
            .any(|w| w[0].epoch <= w[1].epoch)
        {
            return Err(ProfileError::KeyOrder);
        }
        Ok(())
    }
}

/// The field element the terms message binds a non-empty profile with
/// (§8.3.6): SHA-256 over a domain tag and the bytes, first byte zeroed
/// (so the big-endian integer is below `r`).
pub fn profile_digest(profile: &[u8]) -> Fr {
    let mut h: [u8; 32] = Sha256::new()
        .chain_update(DIGEST_DOMAIN)
        .chain_update(profile)
        .finalize()
        .into();
    h[0] = 0;
    Fr::from_be_bytes_mod_order(&h)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ProfileError> {
        if self.0.len() < n {
            return Err(ProfileError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ProfileError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, ProfileError> {
        Ok(self.array::<1>()?[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(epoch: u64) -> PublishedVoucherKey {
        PublishedVoucherKey {
            epoch,
            public_key: [epoch as u8; 32],
            proof: [7; KEY_PROOF_BYTES],
        }
    }

    fn sample() -> NodeProfile {
        NodeProfile {
            endpoint: Some(Endpoint::parse("node.example:7443").expect("endpoint")),
            capacity_mbit_s: 1000,
            voucher_grace_secs: 86_400,
            voucher_keys: vec![key(2), key(1)],
        }
    }

    #[test]
    fn round_trips_and_the_empty_profile_is_small() {
        let p = sample();
        let bytes = p.encode().expect("encodes");
        assert_eq!(NodeProfile::decode(&bytes), Ok(p));
        let empty = NodeProfile::default().encode().expect("encodes");
        assert_eq!(empty.len(), 15);
        assert_eq!(NodeProfile::decode(&empty), Ok(NodeProfile::default()));
    }

    #[test]
    fn refuses_non_canonical_bytes() {
        let bytes = sample().encode().expect("encodes");
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            NodeProfile::decode(&trailing),
            Err(ProfileError::Trailing(1))
        );
        assert_eq!(
            NodeProfile::decode(&bytes[..bytes.len() - 1]),
            Err(ProfileError::Truncated)
        );
        let mut version = bytes.clone();
        version[0] = 2;
        assert_eq!(NodeProfile::decode(&version), Err(ProfileError::Version(2)));
        assert_eq!(NodeProfile::decode(&[]), Err(ProfileError::Truncated));
        let too_long = vec![1u8; MAX_PROFILE_BYTES + 1];
        assert_eq!(NodeProfile::decode(&too_long), Err(ProfileError::TooLong));
    }

    #[test]
    fn refuses_keys_out_of_order_or_too_many() {
        let mut p = sample();
        p.voucher_keys.reverse();
        assert_eq!(p.encode(), Err(ProfileError::KeyOrder));
        p.voucher_keys = vec![key(3), key(3)];
        assert_eq!(p.encode(), Err(ProfileError::KeyOrder));
        p.voucher_keys = vec![key(3), key(2), key(1)];
        assert_eq!(p.encode(), Err(ProfileError::TooManyKeys));
        // The same refusals on decode, from hand-made bytes.
        let mut bytes = NodeProfile {
            voucher_keys: vec![key(1)],
            ..NodeProfile::default()
        }
        .encode()
        .expect("encodes");
        let one = bytes.split_off(bytes.len() - 104);
        let count = bytes.len() - 1;
        bytes[count] = 2;
        bytes.extend_from_slice(&one);
        bytes.extend_from_slice(&one);
        assert_eq!(NodeProfile::decode(&bytes), Err(ProfileError::KeyOrder));
    }

    #[test]
    fn endpoints_are_host_and_port() {
        for good in ["a:1", "10.0.0.1:7443", "[::1]:443", "node.example:65535"] {
            let e = Endpoint::parse(good).expect(good);
            assert_eq!(format!("{}:{}", e.host(), e.port()), good);
        }
        for bad in [
            "", "a", ":1", "a:", "a:0", "a:65536", "a:01", "a b:1", "a:1x", "é:1",
        ] {
            assert_eq!(Endpoint::parse(bad), Err(ProfileError::Endpoint), "{bad}");
        }
        assert!(Endpoint::parse(&format!("{}:1", "a".repeat(254))).is_err());
    }

    #[test]
    fn the_digest_is_domain_separated_and_below_the_modulus() {
        let d = profile_digest(b"x");
        assert_ne!(d, profile_digest(b"y"));
        let plain: [u8; 32] = Sha256::digest(b"x").into();
        assert_ne!(d, Fr::from_be_bytes_mod_order(&plain));
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_accepts_only_its_encoding(
            bytes in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            if let Ok(p) = NodeProfile::decode(&bytes) {
                prop_assert_eq!(p.encode(), Ok(bytes));
            }
        }

        #[test]
        fn every_valid_profile_round_trips(
            cap in any::<u32>(), grace in any::<u64>(), port in 1u16..,
            epochs in proptest::collection::btree_set(any::<u64>(), 0..=2),
        ) {
            let p = NodeProfile {
                endpoint: Some(Endpoint::parse(&format!("h:{port}")).expect("endpoint")),
                capacity_mbit_s: cap,
                voucher_grace_secs: grace,
                voucher_keys: epochs.iter().rev().map(|e| key(*e)).collect(),
            };
            let bytes = p.encode().expect("encodes");
            prop_assert_eq!(NodeProfile::decode(&bytes), Ok(p));
        }
    }
}
