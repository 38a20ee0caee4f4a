//! Field elements as snarkjs spells them: canonical decimal strings.

use ark_ff::PrimeField;
use num_bigint::BigUint;

use crate::error::{InteropError, NumberError};

/// The decimal of the canonical representative of `x`.
pub fn to_decimal<F: PrimeField>(x: &F) -> String {
    let n: BigUint = x.into_bigint().into();
    n.to_string()
}

/// Parses the one canonical spelling of an element of `F`: ASCII digits,
/// no sign, no leading zero, strictly below the modulus. Never reduces.
pub fn from_decimal<F: PrimeField>(s: &str) -> Result<F, NumberError> {
    if s.is_empty() {
        return Err(NumberError::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotDecimal);
    }
    if s.len() > 1 && s.starts_with('0') {
        return Err(NumberError::LeadingZero);
    }
    // More digits than the modulus has cannot be below it.
    if s.len() > F::MODULUS_BIT_SIZE as usize / 3 + 1 {
        return Err(NumberError::NotReduced);
    }
    let n = BigUint::parse_bytes(s.as_bytes(), 10).ok_or(NumberError::NotDecimal)?;
    let big = F::BigInt::try_from(n).map_err(|()| NumberError::NotReduced)?;
    F::from_bigint(big).ok_or(NumberError::NotReduced)
}

/// [`from_decimal`], naming `what` in the error.
pub(crate) fn parse_at<F: PrimeField>(
    s: &str,
    what: impl FnOnce() -> String,
) -> Result<F, InteropError> {
    from_decimal(s).map_err(|reason| InteropError::Number {
        what: what(),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fq, Fr};
    use ark_ff::{BigInteger, Field};

    const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
    const P: &str = "21888242871839275222246405745257275088696311157297823662689037894645226208583";

    #[test]
    fn roundtrip_at_the_edges() {
        for x in [Fr::from(0u64), Fr::from(1u64), -Fr::ONE, Fr::from(u64::MAX)] {
            assert_eq!(from_decimal::<Fr>(&to_decimal(&x)), Ok(x));
        }
        assert_eq!(
            to_decimal(&-Fr::ONE),
            BigUint::parse_bytes(R.as_bytes(), 10)
                .map(|r| (r - 1u32).to_string())
                .unwrap()
        );
        let q_minus_1 = BigUint::from((-Fq::ONE).into_bigint()).to_string();
        assert_eq!(from_decimal::<Fq>(&q_minus_1), Ok(-Fq::ONE));
    }

    #[test]
    fn moduli_and_above_are_refused() {
        assert_eq!(from_decimal::<Fr>(R), Err(NumberError::NotReduced));
        assert_eq!(from_decimal::<Fq>(P), Err(NumberError::NotReduced));
        // r < p: a coordinate may be ≥ r, a scalar may not.
        assert!(from_decimal::<Fq>(R).is_ok());
        let two_256 = BigUint::from(1u8) << 256u32;
        assert_eq!(
            from_decimal::<Fr>(&two_256.to_string()),
            Err(NumberError::NotReduced)
        );
        assert_eq!(
            from_decimal::<Fr>(&"9".repeat(200)),
            Err(NumberError::NotReduced)
        );
        let _ = Fr::MODULUS.to_bytes_le();
    }

    #[test]
    fn non_canonical_spellings_are_refused() {
        assert_eq!(from_decimal::<Fr>(""), Err(NumberError::Empty));
        for s in ["-1", "+1", " 1", "1 ", "0x1", "1e3", "1.0", "١"] {
            assert_eq!(from_decimal::<Fr>(s), Err(NumberError::NotDecimal), "{s:?}");
        }
        assert_eq!(from_decimal::<Fr>("01"), Err(NumberError::LeadingZero));
        assert_eq!(from_decimal::<Fr>("00"), Err(NumberError::LeadingZero));
        assert_eq!(from_decimal::<Fr>("0"), Ok(Fr::from(0u64)));
    }
}
