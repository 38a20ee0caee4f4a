//! The BN254 scalar field and its one canonical byte encoding.
//!
//! Spec: `docs/protocol.md` §2.1 (Encodings). A field element travels as 32
//! bytes, big-endian, and must be `< r`. Decoding never reduces modulo `r`:
//! a value `x + r` that fits in 32 bytes is an error, not `x` (adversarial B1).

use ark_ff::{BigInteger, PrimeField};

use crate::error::EncodingError;

/// The BN254 scalar field `F_r`, over which every veil circuit is defined.
pub type Fr = ark_bn254::Fr;

/// Length of a canonical field element encoding.
pub const FR_BYTES: usize = 32;

/// Encodes `x` as 32 big-endian bytes.
pub fn fr_to_bytes(x: &Fr) -> [u8; FR_BYTES] {
    let v = x.into_bigint().to_bytes_be();
    let mut out = [0u8; FR_BYTES];
    out[FR_BYTES - v.len()..].copy_from_slice(&v);
    out
}

/// Decodes 32 big-endian bytes into a field element, rejecting any value `>= r`.
pub fn fr_from_bytes(bytes: &[u8; FR_BYTES]) -> Result<Fr, EncodingError> {
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = FR_BYTES - 8 * (i + 1);
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[start..start + 8]);
        *limb = u64::from_be_bytes(w);
    }
    Fr::from_bigint(ark_ff::BigInt::new(limbs)).ok_or(EncodingError::NonCanonicalField)
}

/// Decodes a field element from a slice that must be exactly 32 bytes.
pub fn fr_from_slice(bytes: &[u8]) -> Result<Fr, EncodingError> {
    let arr: &[u8; FR_BYTES] = bytes.try_into().map_err(|_| EncodingError::Length {
        expected: FR_BYTES,
        actual: bytes.len(),
    })?;
    fr_from_bytes(arr)
}

/// Parses a field element from a decimal string, rejecting values `>= r`
/// and anything that is not plain ASCII digits.
pub fn fr_from_decimal(s: &str) -> Result<Fr, EncodingError> {
    if s.is_empty() || s.len() > 78 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(EncodingError::NotDecimal);
    }
    // Horner over u64 limbs with overflow detection against 2^256.
    let mut limbs = [0u64; 4];
    for b in s.bytes() {
        let mut carry = u128::from(b - b'0');
        for limb in limbs.iter_mut() {
            let t = u128::from(*limb) * 10 + carry;
            *limb = t as u64;
            carry = t >> 64;
        }
        if carry != 0 {
            return Err(EncodingError::NonCanonicalField);
        }
    }
    Fr::from_bigint(ark_ff::BigInt::new(limbs)).ok_or(EncodingError::NonCanonicalField)
}

/// Parses a field element from hex (optional `0x`, at most 64 digits, even length), `< r`.
pub fn fr_from_hex(s: &str) -> Result<Fr, EncodingError> {
    let s = s.strip_prefix("0x").unwrap_or(s);
    if s.is_empty() || s.len() > 64 || s.len() % 2 != 0 {
        return Err(EncodingError::NotHex);
    }
    let raw = hex::decode(s).map_err(|_| EncodingError::NotHex)?;
    let mut bytes = [0u8; FR_BYTES];
    bytes[FR_BYTES - raw.len()..].copy_from_slice(&raw);
    fr_from_bytes(&bytes)
}

/// Field element from a u64 (always canonical).
pub fn fr_from_u64(v: u64) -> Fr {
    Fr::from(v)
}

/// The field element as a u64, if it is one (`< 2^64`).
pub fn fr_to_u64(x: &Fr) -> Option<u64> {
    let b = x.into_bigint();
    if b.0[1] == 0 && b.0[2] == 0 && b.0[3] == 0 {
        Some(b.0[0])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ff::{Field, Zero};
    use proptest::prelude::*;

    /// r, the BN254 scalar field modulus, big-endian.
    fn modulus_be() -> [u8; 32] {
        let v = Fr::MODULUS.to_bytes_be();
        let mut out = [0u8; 32];
        out.copy_from_slice(&v);
        out
    }

    #[test]
    fn rejects_modulus_and_above() {
        let r = modulus_be();
        assert_eq!(fr_from_bytes(&r), Err(EncodingError::NonCanonicalField));
        assert_eq!(
            fr_from_bytes(&[0xff; 32]),
            Err(EncodingError::NonCanonicalField)
        );
        // r - 1 is the largest canonical value.
        let mut r1 = r;
        r1[31] -= 1;
        assert_eq!(fr_from_bytes(&r1), Ok(-Fr::ONE));
    }

    #[test]
    fn x_plus_r_is_not_reduced() {
        // B1: 5 + r fits in 32 bytes and must not decode to 5.
        let five_plus_r = Fr::MODULUS.to_bytes_be();
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&five_plus_r);
        bytes[31] += 5;
        assert!(fr_from_bytes(&bytes).is_err());
    }

    #[test]
    fn slice_length_is_exact() {
        assert!(fr_from_slice(&[0u8; 31]).is_err());
        assert!(fr_from_slice(&[0u8; 33]).is_err());
        assert_eq!(fr_from_slice(&[0u8; 32]), Ok(Fr::zero()));
    }

    #[test]
    fn text_parsers_reject_bad_input() {
        for bad in [
            "",
            "-1",
            " 5",
            "1e3",
            "0x10",
            "１２３",
            "21888242871839275222246405745257275088548364400416034343698204186575808495617",
        ] {
            assert!(fr_from_decimal(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            fr_from_decimal(
                "21888242871839275222246405745257275088548364400416034343698204186575808495616"
            ),
            Ok(-Fr::ONE)
        );
        for bad in ["", "0x", "abc", "zz", "0x123", &"00".repeat(33)] {
            assert!(fr_from_hex(bad).is_err(), "{bad:?}");
        }
        assert_eq!(fr_from_hex("0x10"), Ok(Fr::from(16u64)));
    }

    proptest! {
        #[test]
        fn roundtrip(bytes in proptest::array::uniform32(any::<u8>())) {
            match fr_from_bytes(&bytes) {
                Ok(x) => prop_assert_eq!(fr_to_bytes(&x), bytes),
                Err(_) => prop_assert!(bytes >= modulus_be()),
            }
        }

        #[test]
        fn u64_roundtrip(v in any::<u64>()) {
            prop_assert_eq!(fr_to_u64(&fr_from_u64(v)), Some(v));
            prop_assert_eq!(fr_from_decimal(&v.to_string()), Ok(Fr::from(v)));
        }
    }
}
