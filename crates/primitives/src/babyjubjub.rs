//! BabyJubJub (`ark-ed-on-bn254`, twisted Edwards `x² + y² = 1 + d·x²·y²`
//! over `F_r`), its prime-order subgroup points and scalars.
//!
//! Spec: `docs/protocol.md` §2.1 (encodings) and §2.6 (EdDSA). The group has
//! order `8·l`; [`Point`] holds only points of the order-`l` subgroup other
//! than the identity, so a value of that type never needs re-checking.
//! Coordinates are BN254 scalar field elements ([`Fr`]), which is what lets a
//! BN254 circuit verify signatures natively.

use ark_ec::AffineRepr;
use ark_ff::{PrimeField, Zero};

pub(crate) mod mul;

use crate::{
    error::EncodingError,
    field::{FR_BYTES, Fr, fr_from_bytes, fr_to_bytes},
};

/// An affine BabyJubJub point with no validation (raw coordinates).
pub type EdwardsAffine = ark_ed_on_bn254::EdwardsAffine;
/// A projective BabyJubJub point.
pub type EdwardsProjective = ark_ed_on_bn254::EdwardsProjective;
/// The scalar field of the prime-order subgroup, of order `l`.
pub type ScalarField = ark_ed_on_bn254::Fr;

/// Length of a canonical point encoding (`x ‖ y`).
pub const POINT_BYTES: usize = 2 * FR_BYTES;
/// Length of a canonical scalar encoding.
pub const SCALAR_BYTES: usize = 32;
/// The cofactor of the curve (`#E = 8·l`).
pub const COFACTOR: u64 = 8;

/// A point of the prime-order subgroup, not the identity.
///
/// Constructed only through [`Point::new`] or [`Point::from_bytes`], which
/// check that the point is on the curve, in the order-`l` subgroup and not
/// the identity (§2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Point(EdwardsAffine);

impl Point {
    /// The generator `G` of the prime-order subgroup (ark's generator, §2.6).
    pub fn generator() -> Self {
        Self(EdwardsAffine::generator())
    }

    /// Validates an affine point: on the curve, in the prime-order subgroup, not the identity.
    pub fn new(p: EdwardsAffine) -> Result<Self, EncodingError> {
        check_curve_point(&p)?;
        if !mul::mul(&mul::Extended::from_affine(&p), &ScalarField::MODULUS).is_identity() {
            return Err(EncodingError::InvalidPoint(
                "not in the prime-order subgroup",
            ));
        }
        Ok(Self(p))
    }

    /// Wraps a point the caller has proven to be in the prime-order
    /// subgroup and not the identity (the exact EdDSA equation does, §2.6).
    pub(crate) fn from_verified(p: EdwardsAffine) -> Self {
        Self(p)
    }

    /// Validates a point given by its affine coordinates.
    pub fn from_coordinates(x: Fr, y: Fr) -> Result<Self, EncodingError> {
        Self::new(EdwardsAffine::new_unchecked(x, y))
    }

    /// `s·G` for a non-zero scalar (the identity is not a [`Point`]).
    ///
    /// Fixed-base table ([`mul::mul_generator`]); `s·G` lies in the
    /// prime-order subgroup by construction, so only the identity (`s = 0`)
    /// is refused.
    pub fn mul_generator(s: &Scalar) -> Result<Self, EncodingError> {
        let p = mul::mul_generator(&s.0.into_bigint());
        if p.is_identity() {
            return Err(EncodingError::InvalidPoint("identity"));
        }
        Ok(Self(p.to_affine()))
    }

    /// The affine x coordinate.
    pub fn x(&self) -> Fr {
        self.0.x
    }

    /// The affine y coordinate.
    pub fn y(&self) -> Fr {
        self.0.y
    }

    /// The underlying affine point.
    pub fn to_affine(&self) -> EdwardsAffine {
        self.0
    }

    /// Canonical encoding: `x ‖ y`, each 32 bytes big-endian (§2.1).
    pub fn to_bytes(&self) -> [u8; POINT_BYTES] {
        let mut out = [0u8; POINT_BYTES];
        out[..FR_BYTES].copy_from_slice(&fr_to_bytes(&self.0.x));
        out[FR_BYTES..].copy_from_slice(&fr_to_bytes(&self.0.y));
        out
    }

    /// Decodes `x ‖ y`, rejecting coordinates `>= r` (never reduced, B11),
    /// off-curve points, points outside the prime-order subgroup and the identity.
    pub fn from_bytes(bytes: &[u8; POINT_BYTES]) -> Result<Self, EncodingError> {
        let (xb, yb) = split_point(bytes);
        Self::from_coordinates(fr_from_bytes(&xb)?, fr_from_bytes(&yb)?)
    }

    /// As [`Point::from_bytes`], from a slice that must be exactly 64 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EncodingError> {
        let arr: &[u8; POINT_BYTES] = bytes.try_into().map_err(|_| EncodingError::Length {
            expected: POINT_BYTES,
            actual: bytes.len(),
        })?;
        Self::from_bytes(arr)
    }
}

fn split_point(bytes: &[u8; POINT_BYTES]) -> ([u8; FR_BYTES], [u8; FR_BYTES]) {
    let mut x = [0u8; FR_BYTES];
    let mut y = [0u8; FR_BYTES];
    x.copy_from_slice(&bytes[..FR_BYTES]);
    y.copy_from_slice(&bytes[FR_BYTES..]);
    (x, y)
}

/// The checks of [`Point::new`] but the subgroup one: on the curve, not the
/// identity (the identity is in the subgroup, so the order of the checks
/// does not change which error a point gets).
pub(crate) fn check_curve_point(p: &EdwardsAffine) -> Result<(), EncodingError> {
    if !p.is_on_curve() {
        return Err(EncodingError::InvalidPoint("not on the curve"));
    }
    if p.is_zero() {
        return Err(EncodingError::InvalidPoint("identity"));
    }
    Ok(())
}

/// Decodes `x ‖ y` into raw affine coordinates with only the canonical field
/// check (`< r`): no curve or subgroup check. For the raw verification path
/// that mirrors the circuit (§2.6) and for tests.
pub fn raw_point_from_bytes(bytes: &[u8; POINT_BYTES]) -> Result<EdwardsAffine, EncodingError> {
    let (xb, yb) = split_point(bytes);
    Ok(EdwardsAffine::new_unchecked(
        fr_from_bytes(&xb)?,
        fr_from_bytes(&yb)?,
    ))
}

/// A scalar modulo `l`, the order of the prime-order subgroup.
#[derive(Clone, Copy, PartialEq, Eq, Hash, zeroize::Zeroize)]
pub struct Scalar(ScalarField);

impl core::fmt::Debug for Scalar {
    /// Scalars are often secret (signing keys, nonces): never printed.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Scalar(..)")
    }
}

impl Scalar {
    /// Wraps a scalar field element.
    pub fn new(s: ScalarField) -> Self {
        Self(s)
    }

    /// The scalar field element.
    pub fn inner(&self) -> ScalarField {
        self.0
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// Wide reduction of 64 bytes (read big-endian) modulo `l`: used only
    /// to derive secrets from SHA-512 output (§2.6), never to decode input.
    pub fn from_bytes_wide(bytes: &[u8; 64]) -> Self {
        // Horner over the eight big-endian 64-bit words: Σ w_i·2^(64·(7−i)) mod l.
        let radix = ScalarField::from(u128::from(u64::MAX) + 1);
        let acc = bytes.chunks_exact(8).fold(ScalarField::zero(), |acc, w| {
            let mut word = [0u8; 8];
            word.copy_from_slice(w);
            acc * radix + ScalarField::from(u64::from_be_bytes(word))
        });
        Self(acc)
    }

    /// An integer `< 2^256` reduced modulo `l` (the EdDSA challenge `c`, §2.6).
    pub fn reduce(n: &ark_ff::BigInt<4>) -> Self {
        let radix = ScalarField::from(u128::from(u64::MAX) + 1);
        Self(n.0.iter().rev().fold(ScalarField::zero(), |acc, &w| {
            acc * radix + ScalarField::from(w)
        }))
    }

    /// Canonical encoding: 32 bytes big-endian.
    pub fn to_bytes(&self) -> [u8; SCALAR_BYTES] {
        bigint_to_be(&self.0.into_bigint())
    }

    /// Decodes 32 bytes big-endian, rejecting any value `>= l` (A12, B12).
    pub fn from_bytes(bytes: &[u8; SCALAR_BYTES]) -> Result<Self, EncodingError> {
        let big = bigint_from_be(bytes);
        ScalarField::from_bigint(big)
            .map(Self)
            .ok_or(EncodingError::NonCanonicalScalar)
    }
}

/// A 256-bit unsigned integer from 32 big-endian bytes (no reduction).
pub fn bigint_from_be(bytes: &[u8; 32]) -> ark_ff::BigInt<4> {
    let mut limbs = [0u64; 4];
    for (i, limb) in limbs.iter_mut().enumerate() {
        let start = 32 - 8 * (i + 1);
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[start..start + 8]);
        *limb = u64::from_be_bytes(w);
    }
    ark_ff::BigInt::new(limbs)
}

/// 32 big-endian bytes of a 256-bit unsigned integer.
pub fn bigint_to_be(n: &ark_ff::BigInt<4>) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, limb) in n.0.iter().enumerate() {
        let start = 32 - 8 * (i + 1);
        out[start..start + 8].copy_from_slice(&limb.to_be_bytes());
    }
    out
}

/// `l`, the order of the prime-order subgroup, as an integer.
pub fn subgroup_order() -> ark_ff::BigInt<4> {
    ScalarField::MODULUS
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::CurveGroup;
    use ark_ff::{BigInteger, Field, One};
    use proptest::prelude::*;

    use crate::eddsa::testing::{order_eight, order_two};

    #[test]
    fn generator_roundtrip() {
        let g = Point::generator();
        assert_eq!(Point::from_bytes(&g.to_bytes()), Ok(g));
    }

    #[test]
    fn rejects_identity_low_order_off_curve() {
        let id = EdwardsAffine::new_unchecked(Fr::zero(), Fr::one());
        assert_eq!(Point::new(id), Err(EncodingError::InvalidPoint("identity")));
        assert!(Point::new(order_two()).is_err());
        assert!(Point::new(order_eight()).is_err());
        let off = EdwardsAffine::new_unchecked(Fr::from(1u64), Fr::from(2u64));
        assert_eq!(
            Point::new(off),
            Err(EncodingError::InvalidPoint("not on the curve"))
        );
        // G + torsion: on the curve, outside the subgroup.
        let mixed = (Point::generator().to_affine() + order_eight()).into_affine();
        assert!(mixed.is_on_curve());
        assert_eq!(
            Point::new(mixed),
            Err(EncodingError::InvalidPoint(
                "not in the prime-order subgroup"
            ))
        );
    }

    #[test]
    fn rejects_non_canonical_coordinates() {
        // B11: y + r (fits in 32 bytes) is not reduced.
        let g = Point::generator();
        let mut bytes = g.to_bytes();
        let r = Fr::MODULUS.to_bytes_be();
        // y' = y + r computed over 256-bit integers (y < r, y + r < 2^256).
        let mut carry = 0u16;
        for i in (0..32).rev() {
            let s = u16::from(bytes[32 + i]) + u16::from(r[i]) + carry;
            bytes[32 + i] = s as u8;
            carry = s >> 8;
        }
        assert_eq!(carry, 0);
        assert_eq!(
            Point::from_bytes(&bytes),
            Err(EncodingError::NonCanonicalField)
        );
        assert!(Point::from_slice(&g.to_bytes()[..63]).is_err());
        let mut long = g.to_bytes().to_vec();
        long.push(0);
        assert!(Point::from_slice(&long).is_err());
    }

    #[test]
    fn scalar_rejects_l_and_above() {
        let l = ScalarField::MODULUS.to_bytes_be();
        let mut l_bytes = [0u8; 32];
        l_bytes.copy_from_slice(&l);
        assert_eq!(
            Scalar::from_bytes(&l_bytes),
            Err(EncodingError::NonCanonicalScalar)
        );
        let mut l_minus_1 = l_bytes;
        l_minus_1[31] -= 1;
        assert_eq!(
            Scalar::from_bytes(&l_minus_1).map(|s| s.inner()),
            Ok(-ScalarField::ONE)
        );
        assert!(Scalar::from_bytes(&[0xff; 32]).is_err());
    }

    #[test]
    fn debug_hides_scalar() {
        let s = Scalar::new(ScalarField::from(12345u64));
        assert_eq!(format!("{s:?}"), "Scalar(..)");
    }

    proptest! {
        #[test]
        fn point_roundtrip(seed in any::<u64>()) {
            let s = Scalar::new(ScalarField::from(seed) + ScalarField::ONE);
            let p = Point::mul_generator(&s).expect("non-zero scalar");
            prop_assert_eq!(Point::from_bytes(&p.to_bytes()), Ok(p));
        }

        #[test]
        fn scalar_roundtrip(bytes in proptest::array::uniform32(any::<u8>())) {
            match Scalar::from_bytes(&bytes) {
                Ok(s) => prop_assert_eq!(s.to_bytes(), bytes),
                Err(_) => prop_assert!(bigint_from_be(&bytes) >= ScalarField::MODULUS),
            }
        }
    }
}
