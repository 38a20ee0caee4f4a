//! EdDSA over BabyJubJub with a Poseidon challenge (session keys, node keys).
//!
//! Spec: `docs/protocol.md` §2.6. The verification equation is cofactored,
//! `8·S·G = 8·R + 8·c·A`, and is the exact relation the settlement circuit
//! checks (`veil_circuits::gadgets::eddsa`). Entry points:
//!
//! - [`VerifyingKey::verify`] on decoded, typed values: `A` and `R` were
//!   checked to lie in the prime-order subgroup when they were decoded.
//! - [`Verifier::verify_unchecked`] on an [`UncheckedSignature`] (`R` only
//!   curve-checked): decoding and verification in one, with the verdict of
//!   [`Signature::from_bytes`] then [`VerifyingKey::verify`] but without the
//!   decoder's subgroup check of `R`; a [`PreparedVerifyingKey`] (a table of
//!   `A`) makes `c·A` cheap for a key that verifies many signatures.
//! - [`verify_raw`] on raw affine coordinates and a raw integer `S`: only the
//!   checks the circuit makes (`S < l`, on-curve `A` and `R`, `8·A ≠ O`, the
//!   equation). Every signature accepted by the typed path is accepted here.
//!
//! # The exact equation
//!
//! The typed paths check `S·G = R + c·A` without the cofactor. For `A` in
//! the prime-order subgroup `E[l]` (a [`VerifyingKey`]) and `R` on the curve:
//!
//! `S·G = R + c·A`  ⇔  `R ∈ E[l]` and `8·(S·G − R − c·A) = O`.
//!
//! (⇒) `R = S·G − c·A` is a combination of `G, A ∈ E[l]`, so `R ∈ E[l]`,
//! and the difference is `O`, so is 8 times it. (⇐) With `R ∈ E[l]`,
//! `D = S·G − R − c·A ∈ E[l]` has order dividing `l`; `8·D = O` means it
//! also divides 8. `l` is an odd prime, so `gcd(8, l) = 1` (8 is invertible
//! mod `l`: `D = 8⁻¹·(8·D) = O`). So on the decoded types the exact and
//! the cofactored equation agree, and an exact check that succeeds proves
//! the subgroup membership of `R` the decoder would have checked.

#[cfg(any(test, feature = "testing"))]
use ark_ec::{AffineRepr, CurveGroup};
#[cfg(any(test, feature = "testing"))]
use ark_ff::Zero;
use ark_ff::{BigInt, PrimeField};
use sha2::{Digest, Sha512};
use thiserror::Error;

use crate::{
    babyjubjub::{
        EdwardsAffine, POINT_BYTES, Point, SCALAR_BYTES, Scalar, ScalarField, bigint_from_be,
        check_curve_point,
        mul::{self, Extended, FixedBase},
        raw_point_from_bytes,
    },
    error::EncodingError,
    field::{Fr, fr_to_bytes},
    ids::{AccountId, NodeId, SessionKeyHash},
    poseidon::{DomainTag, hash_tagged},
    secret::Redacted,
};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of a signature encoding: `R ‖ S`.
pub const SIGNATURE_BYTES: usize = POINT_BYTES + SCALAR_BYTES;
/// Length of a signing key seed.
pub const SEED_BYTES: usize = 32;

/// Why a signature does not verify (§2.6).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    /// `S >= l` (malleability, A12/B12).
    #[error("signature scalar S is not below the subgroup order")]
    ScalarOutOfRange,
    /// The public key is not on the curve (A13).
    #[error("public key is not on the curve")]
    KeyNotOnCurve,
    /// The nonce point `R` is not on the curve.
    #[error("nonce point R is not on the curve")]
    NonceNotOnCurve,
    /// `8·A = O`: the key is of small order or the identity (A13).
    #[error("public key has small order")]
    LowOrderKey,
    /// The cofactored equation `8·S·G = 8·R + 8·c·A` does not hold.
    #[error("signature equation does not hold")]
    Equation,
}

/// Why a signature given as an [`UncheckedSignature`] is refused: the error
/// [`Signature::from_bytes`] then [`VerifyingKey::verify`] would give.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureCheckError {
    /// What the typed decoder refuses: `R` outside the prime-order subgroup,
    /// `S ≥ l` (the cheaper checks are made by [`UncheckedSignature::from_bytes`]).
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The equation does not hold.
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// A signing key: the secret scalar `a` and the nonce prefix, derived from a
/// seed. Session keys, node keys and account keys are signing keys. The
/// seed, `a` and the prefix are wiped on drop, and `Debug` prints the
/// public key only (`docs/security.md`, "Secrets in memory").
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct SigningKey {
    seed: [u8; SEED_BYTES],
    a: Scalar,
    prefix: [u8; 64],
    #[zeroize(skip)]
    public: VerifyingKey,
}

impl core::fmt::Debug for SigningKey {
    /// Prints the public key only.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SigningKey")
            .field("public", &self.public)
            .field("secret", &Redacted)
            .finish()
    }
}

/// SHA-512 of `label ‖ parts…`, as 64 bytes.
fn sha512(label: u8, parts: &[&[u8]]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update([label]);
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

impl SigningKey {
    /// Derives the key from 32 seed bytes (§2.6): `a = SHA-512(0x00 ‖ seed)
    /// mod l` and `prefix = SHA-512(0x01 ‖ seed)`, both wide (512-bit) outputs.
    ///
    /// Returns `None` only if `a ≡ 0 mod l` (probability 2^-251).
    pub fn from_seed(seed: [u8; SEED_BYTES]) -> Option<Self> {
        let mut key = Self {
            seed,
            a: Scalar::from_bytes_wide(&Zeroizing::new(sha512(0, &[&seed]))),
            prefix: sha512(1, &[&seed]),
            public: VerifyingKey(Point::generator()),
        };
        key.public = VerifyingKey(Point::mul_generator(&key.a).ok()?);
        Some(key)
    }

    /// A fresh key from a cryptographic RNG.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_BYTES]);
        loop {
            rng.fill_bytes(seed.as_mut());
            if let Some(k) = Self::from_seed(*seed) {
                return k;
            }
        }
    }

    /// The seed this key was derived from (secret).
    pub fn seed(&self) -> &[u8; SEED_BYTES] {
        &self.seed
    }

    /// The public key `A = a·G`.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// Signs `m ∈ F_r` (§2.6): `r = SHA-512(prefix ‖ m) mod l` with `m` as 32
    /// big-endian bytes, `R = r·G`, `c = H(CHALLENGE, R.x, R.y, A.x, A.y, m)`,
    /// `S = r + c·a mod l`.
    pub fn sign(&self, m: &Fr) -> Signature {
        let wide = Zeroizing::new(sha512(2, &[&self.prefix, &fr_to_bytes(m)]));
        let mut nonce = Zeroizing::new(Scalar::from_bytes_wide(&wide));
        // r ≡ 0 has probability 2^-251; stay total and deterministic anyway.
        if nonce.is_zero() {
            *nonce = Scalar::new(ScalarField::from(1u64));
        }
        let r_point = match Point::mul_generator(&nonce) {
            Ok(p) => p,
            // r ≠ 0 and G has prime order l, so r·G is never the identity.
            Err(_) => unreachable!("r·G is the identity for r ≠ 0"),
        };
        let c = challenge(&r_point.to_affine(), &self.public.0.to_affine(), m);
        let s = nonce.inner() + Scalar::reduce(&c.into_bigint()).inner() * self.a.inner();
        Signature {
            r: r_point,
            s: Scalar::new(s),
        }
    }
}

/// A public key `A`: a prime-order subgroup point, not the identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VerifyingKey(pub Point);

impl VerifyingKey {
    /// The point `A`.
    pub fn point(&self) -> Point {
        self.0
    }

    /// Canonical 64-byte encoding (§2.1).
    pub fn to_bytes(&self) -> [u8; POINT_BYTES] {
        self.0.to_bytes()
    }

    /// Decodes and validates a public key (on curve, subgroup, not identity).
    pub fn from_bytes(bytes: &[u8; POINT_BYTES]) -> Result<Self, EncodingError> {
        Point::from_bytes(bytes).map(Self)
    }

    /// The typed node identifier `H(NODE_ID, A.x, A.y)` (§2.2).
    pub fn node_id(&self) -> NodeId {
        NodeId::from_fr(hash_tagged(DomainTag::NodeId, &[self.0.x(), self.0.y()]))
    }

    /// The typed account id `H(ACCOUNT, A.x, A.y)` of an account key `A`
    /// (§1, §8.3): an account is controlled by whoever holds `A`'s secret.
    pub fn account_id(&self) -> AccountId {
        AccountId::from_fr(hash_tagged(DomainTag::Account, &[self.0.x(), self.0.y()]))
    }

    /// The typed session-key commitment `h_S = H(SESSION, A.x, A.y)` (§2.2).
    pub fn session_key_hash(&self) -> SessionKeyHash {
        SessionKeyHash::from_fr(hash_tagged(DomainTag::Session, &[self.0.x(), self.0.y()]))
    }

    /// Verifies `sig` on `m` (§2.6). `A` and `R` are subgroup points by type,
    /// so the exact equation `S·G = R + c·A` is checked, which here agrees
    /// with [`verify_raw`]'s cofactored one (see the module documentation).
    pub fn verify(&self, m: &Fr, sig: &Signature) -> Result<(), SignatureError> {
        self.verify_signature(m, sig)
    }

    /// The key with a fixed-base table of `A` (see [`PreparedVerifyingKey`]).
    pub fn prepare(&self) -> PreparedVerifyingKey {
        PreparedVerifyingKey {
            key: *self,
            table: FixedBase::new(&self.0.to_affine()),
        }
    }

    /// `acc − c·A` by a radix-16 window over `A` (~250 doublings).
    fn sub_mul(&self, acc: Extended, c: &BigInt<4>) -> Extended {
        acc.add(&mul::mul(&Extended::from_affine(&self.0.to_affine()), c).neg())
    }
}

/// A [`VerifyingKey`] with a fixed-base table of `A` (`j·16^i·A`, 48 KiB,
/// built once with one inversion), so that `c·A` costs at most 64 mixed
/// additions instead of ~250 doublings. For a key that verifies many
/// signatures (a session key, §6). Verdicts are those of the key itself.
#[derive(Clone)]
pub struct PreparedVerifyingKey {
    key: VerifyingKey,
    table: FixedBase,
}

impl core::fmt::Debug for PreparedVerifyingKey {
    /// Prints the key, not the table.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PreparedVerifyingKey")
            .field(&self.key)
            .finish()
    }
}

impl From<&VerifyingKey> for PreparedVerifyingKey {
    fn from(key: &VerifyingKey) -> Self {
        key.prepare()
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::VerifyingKey {}
    impl Sealed for super::PreparedVerifyingKey {}
}

/// A key that verifies signatures (§2.6): [`VerifyingKey`] or
/// [`PreparedVerifyingKey`], with the same verdicts.
pub trait Verifier: sealed::Sealed {
    /// The public key `A`.
    fn verifying_key(&self) -> &VerifyingKey;

    /// Verifies a typed signature: the exact equation `S·G = R + c·A`.
    fn verify_signature(&self, m: &Fr, sig: &Signature) -> Result<(), SignatureError>;

    /// Finishes decoding and verifies: `Ok` with the typed [`Signature`]
    /// exactly when [`Signature::from_bytes`] then [`VerifyingKey::verify`]
    /// accept the bytes `sig` was read from, else the error they give.
    /// `R`'s subgroup membership is proven by the exact equation (module
    /// documentation); it is checked separately only on refusal, to name
    /// the error.
    fn verify_unchecked(
        &self,
        m: &Fr,
        sig: &UncheckedSignature,
    ) -> Result<Signature, SignatureCheckError>;
}

impl Verifier for VerifyingKey {
    fn verifying_key(&self) -> &VerifyingKey {
        self
    }

    fn verify_signature(&self, m: &Fr, sig: &Signature) -> Result<(), SignatureError> {
        let (r, s) = (sig.r.to_affine(), sig.s.inner().into_bigint());
        exact_verdict(exact_equation(self, m, &r, &s, |acc, c| {
            self.sub_mul(acc, c)
        }))
    }

    fn verify_unchecked(
        &self,
        m: &Fr,
        sig: &UncheckedSignature,
    ) -> Result<Signature, SignatureCheckError> {
        sig.verify_with(self, m, |acc, c| self.sub_mul(acc, c))
    }
}

impl Verifier for PreparedVerifyingKey {
    fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    fn verify_signature(&self, m: &Fr, sig: &Signature) -> Result<(), SignatureError> {
        let (r, s) = (sig.r.to_affine(), sig.s.inner().into_bigint());
        let sub = |acc, c: &BigInt<4>| self.table.sub_mul_vartime(acc, c);
        exact_verdict(exact_equation(&self.key, m, &r, &s, sub))
    }

    fn verify_unchecked(
        &self,
        m: &Fr,
        sig: &UncheckedSignature,
    ) -> Result<Signature, SignatureCheckError> {
        sig.verify_with(&self.key, m, |acc, c| self.table.sub_mul_vartime(acc, c))
    }
}

/// Whether `S·G − c·A = R` with `c = H(CHALLENGE, R, A, m)` as its integer,
/// given `sub_ca(acc, c) = acc − c·A`. `S·G` from the generator's table
/// (variable time: `S` is public here); compared with `R` projectively, no
/// inversion.
fn exact_equation(
    key: &VerifyingKey,
    m: &Fr,
    r: &EdwardsAffine,
    s: &BigInt<4>,
    sub_ca: impl FnOnce(Extended, &BigInt<4>) -> Extended,
) -> bool {
    let c = challenge(r, &key.0.to_affine(), m).into_bigint();
    let sg = FixedBase::generator().add_mul_vartime(Extended::IDENTITY, s);
    sub_ca(sg, &c).eq_affine(r)
}

fn exact_verdict(holds: bool) -> Result<(), SignatureError> {
    if holds {
        Ok(())
    } else {
        Err(SignatureError::Equation)
    }
}

/// An EdDSA signature `(R, S)` with `R` a subgroup point and `S < l`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// The nonce point `R`.
    pub r: Point,
    /// The response `S`.
    pub s: Scalar,
}

impl Signature {
    /// # Layout
    /// `R.x ‖ R.y ‖ S`, 32 bytes each, big-endian (96 bytes, §2.1).
    pub fn to_bytes(&self) -> [u8; SIGNATURE_BYTES] {
        let mut out = [0u8; SIGNATURE_BYTES];
        out[..POINT_BYTES].copy_from_slice(&self.r.to_bytes());
        out[POINT_BYTES..].copy_from_slice(&self.s.to_bytes());
        out
    }

    /// Decodes 96 bytes: `R` must be a valid subgroup point, `S < l` (B11, B12).
    pub fn from_bytes(bytes: &[u8; SIGNATURE_BYTES]) -> Result<Self, EncodingError> {
        let (r, s) = split_signature(bytes);
        Ok(Self {
            r: Point::from_bytes(&r)?,
            s: Scalar::from_bytes(&s)?,
        })
    }

    /// As [`Signature::from_bytes`], from a slice that must be exactly 96 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, EncodingError> {
        let arr: &[u8; SIGNATURE_BYTES] = bytes.try_into().map_err(|_| EncodingError::Length {
            expected: SIGNATURE_BYTES,
            actual: bytes.len(),
        })?;
        Self::from_bytes(arr)
    }
}

fn split_signature(bytes: &[u8; SIGNATURE_BYTES]) -> ([u8; POINT_BYTES], [u8; SCALAR_BYTES]) {
    let mut r = [0u8; POINT_BYTES];
    let mut s = [0u8; SCALAR_BYTES];
    r.copy_from_slice(&bytes[..POINT_BYTES]);
    s.copy_from_slice(&bytes[POINT_BYTES..]);
    (r, s)
}

/// A signature as the circuit sees it: raw affine `R` (no curve or subgroup
/// check yet) and `S` as an unreduced 256-bit integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawSignature {
    /// The nonce point, unchecked.
    pub r: EdwardsAffine,
    /// The response as an integer, unchecked (may be `>= l`).
    pub s: BigInt<4>,
}

impl RawSignature {
    /// Reads 96 bytes with only the canonical field check on `R`'s coordinates.
    pub fn from_bytes(bytes: &[u8; SIGNATURE_BYTES]) -> Result<Self, EncodingError> {
        let (r, s) = split_signature(bytes);
        Ok(Self {
            r: raw_point_from_bytes(&r)?,
            s: bigint_from_be(&s),
        })
    }
}

impl From<Signature> for RawSignature {
    fn from(sig: Signature) -> Self {
        Self {
            r: sig.r.to_affine(),
            s: sig.s.inner().into_bigint(),
        }
    }
}

/// A signature after the decoder's cheap checks only: canonical
/// coordinates, `R` on the curve and not the identity. `R`'s subgroup
/// membership and `S < l` are left to [`Verifier::verify_unchecked`], which
/// yields the typed [`Signature`] (§2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UncheckedSignature {
    r: EdwardsAffine,
    s: BigInt<4>,
}

impl UncheckedSignature {
    /// Reads 96 bytes `R.x ‖ R.y ‖ S`: refuses what [`Signature::from_bytes`]
    /// refuses before its subgroup check, with the same errors.
    pub fn from_bytes(bytes: &[u8; SIGNATURE_BYTES]) -> Result<Self, EncodingError> {
        let (r, s) = split_signature(bytes);
        let r = raw_point_from_bytes(&r)?;
        check_curve_point(&r)?;
        Ok(Self {
            r,
            s: bigint_from_be(&s),
        })
    }

    /// The typed signature if `S < l` and the exact equation holds (which
    /// proves `R ∈ E[l]`), else [`UncheckedSignature::refusal`].
    fn verify_with(
        &self,
        key: &VerifyingKey,
        m: &Fr,
        sub_ca: impl FnOnce(Extended, &BigInt<4>) -> Extended,
    ) -> Result<Signature, SignatureCheckError> {
        let verified = ScalarField::from_bigint(self.s)
            .filter(|_| exact_equation(key, m, &self.r, &self.s, sub_ca));
        match verified {
            Some(s) => Ok(Signature {
                r: Point::from_verified(self.r),
                s: Scalar::new(s),
            }),
            None => Err(self.refusal()),
        }
    }

    /// The error of decode-then-verify for a signature refused by the exact
    /// check: the decoder's (subgroup, then `S ≥ l`) if it has one, else the
    /// equation (with `R ∈ E[l]` the cofactored equation fails too).
    fn refusal(&self) -> SignatureCheckError {
        if let Err(e) = Point::new(self.r) {
            return e.into();
        }
        if ScalarField::from_bigint(self.s).is_none() {
            return EncodingError::NonCanonicalScalar.into();
        }
        SignatureError::Equation.into()
    }
}

impl From<Signature> for UncheckedSignature {
    fn from(sig: Signature) -> Self {
        Self {
            r: sig.r.to_affine(),
            s: sig.s.inner().into_bigint(),
        }
    }
}

/// The challenge `c = H(CHALLENGE, R.x, R.y, A.x, A.y, m)` (§2.6), used as
/// the 254-bit integer of its canonical representative.
pub fn challenge(r: &EdwardsAffine, a: &EdwardsAffine, m: &Fr) -> Fr {
    hash_tagged(DomainTag::Challenge, &[r.x, r.y, a.x, a.y, *m])
}

/// Verification on raw values, exactly as the circuit does it (§2.6):
/// `S < l`, `A` and `R` on the curve, `8·A ≠ O`, `8·S·G = 8·R + 8·c·A`.
///
/// `S·G` comes from the fixed-base table, `c·A` from a radix-16 window
/// (`c` as its 254-bit integer, unreduced, as in the circuit); the equation
/// is checked as `8·(S·G − R − c·A) = O` in extended coordinates, with no
/// inversion and no allocation.
pub fn verify_raw(a: &EdwardsAffine, m: &Fr, sig: &RawSignature) -> Result<(), SignatureError> {
    if sig.s >= ScalarField::MODULUS {
        return Err(SignatureError::ScalarOutOfRange);
    }
    if !a.is_on_curve() {
        return Err(SignatureError::KeyNotOnCurve);
    }
    if !sig.r.is_on_curve() {
        return Err(SignatureError::NonceNotOnCurve);
    }
    let a_ext = Extended::from_affine(a);
    if a_ext.mul_by_cofactor().is_identity() {
        return Err(SignatureError::LowOrderKey);
    }
    let c = challenge(&sig.r, a, m).into_bigint();
    let diff = mul::mul_generator(&sig.s)
        .sub_affine(&sig.r)
        .add(&mul::mul(&a_ext, &c).neg());
    if diff.mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Equation)
    }
}

/// Test helpers shared with the circuit tests: small-order points and
/// non-canonical scalars. Only in tests and with the `testing` feature.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    use super::*;
    use ark_ff::{Field, One};

    /// The identity `(0, 1)`.
    pub fn identity() -> EdwardsAffine {
        EdwardsAffine::new_unchecked(Fr::zero(), Fr::one())
    }

    /// The point of order 2, `(0, −1)`.
    pub fn order_two() -> EdwardsAffine {
        EdwardsAffine::new_unchecked(Fr::zero(), -Fr::one())
    }

    /// A point of order 8 (generates the torsion subgroup).
    pub fn order_eight() -> EdwardsAffine {
        let d = <ark_ed_on_bn254::EdwardsConfig as ark_ec::twisted_edwards::TECurveConfig>::COEFF_D;
        let mut y = Fr::from(2u64);
        loop {
            let y2 = y.square();
            if let Some(inv) = (Fr::one() - d * y2).inverse()
                && let Some(x) = ((Fr::one() - y2) * inv).sqrt()
            {
                let p = EdwardsAffine::new_unchecked(x, y);
                let t = p.mul_bigint(ScalarField::MODULUS).into_affine();
                if !t.mul_bigint([4u64]).is_zero() {
                    return t;
                }
            }
            y += Fr::one();
        }
    }

    /// An off-curve point.
    pub fn off_curve() -> EdwardsAffine {
        EdwardsAffine::new_unchecked(Fr::from(1u64), Fr::from(2u64))
    }

    /// `S + l` as an integer, if it fits in 256 bits.
    pub fn add_l(s: &BigInt<4>) -> BigInt<4> {
        let mut out = *s;
        let _carry = ark_ff::BigInteger::add_with_carry(&mut out, &ScalarField::MODULUS);
        out
    }
}

/// The straightforward implementation the fast one replaced (ark's
/// double-and-add, affine conversions, ark's subgroup check, allocating
/// reductions), kept as the oracle of the agreement tests: the fast code
/// must produce the same bytes and the same verdicts.
#[cfg(test)]
pub(crate) mod reference {
    use super::*;
    use crate::babyjubjub::{COFACTOR, EdwardsProjective};
    use ark_ec::PrimeGroup;
    use ark_ff::BigInteger;

    /// `(a, A)` from a seed, as before.
    pub fn key(seed: &[u8; SEED_BYTES]) -> (ScalarField, EdwardsAffine) {
        let a = ScalarField::from_be_bytes_mod_order(&sha512(0, &[seed]));
        (a, (EdwardsProjective::generator() * a).into_affine())
    }

    /// The old `Point::new`.
    pub fn point_check(p: &EdwardsAffine) -> Result<(), EncodingError> {
        if !p.is_on_curve() {
            return Err(EncodingError::InvalidPoint("not on the curve"));
        }
        if !p.is_in_correct_subgroup_assuming_on_curve() {
            return Err(EncodingError::InvalidPoint(
                "not in the prime-order subgroup",
            ));
        }
        if p.is_zero() {
            return Err(EncodingError::InvalidPoint("identity"));
        }
        Ok(())
    }

    /// The old `SigningKey::sign`, as encoded bytes.
    pub fn sign(seed: &[u8; SEED_BYTES], m: &Fr) -> [u8; SIGNATURE_BYTES] {
        let (a, a_point) = key(seed);
        let prefix = sha512(1, &[seed]);
        let mut nonce =
            ScalarField::from_be_bytes_mod_order(&sha512(2, &[&prefix, &fr_to_bytes(m)]));
        if nonce.is_zero() {
            nonce = ScalarField::from(1u64);
        }
        let r = (EdwardsProjective::generator() * nonce).into_affine();
        let c = challenge(&r, &a_point, m);
        let c_mod_l = ScalarField::from_le_bytes_mod_order(&c.into_bigint().to_bytes_le());
        let s = nonce + c_mod_l * a;
        let mut out = [0u8; SIGNATURE_BYTES];
        out[..32].copy_from_slice(&fr_to_bytes(&r.x));
        out[32..64].copy_from_slice(&fr_to_bytes(&r.y));
        let sb = s.into_bigint().to_bytes_be();
        out[96 - sb.len()..].copy_from_slice(&sb);
        out
    }

    /// The old `verify_raw`.
    pub fn verify_raw(a: &EdwardsAffine, m: &Fr, sig: &RawSignature) -> Result<(), SignatureError> {
        if sig.s >= ScalarField::MODULUS {
            return Err(SignatureError::ScalarOutOfRange);
        }
        if !a.is_on_curve() {
            return Err(SignatureError::KeyNotOnCurve);
        }
        if !sig.r.is_on_curve() {
            return Err(SignatureError::NonceNotOnCurve);
        }
        if a.mul_bigint([COFACTOR]).is_zero() {
            return Err(SignatureError::LowOrderKey);
        }
        let c = challenge(&sig.r, a, m).into_bigint();
        let lhs = EdwardsProjective::generator().mul_bigint(sig.s);
        let rhs = sig.r.into_group() + a.mul_bigint(c);
        if (lhs - rhs).into_affine().mul_bigint([COFACTOR]).is_zero() {
            Ok(())
        } else {
            Err(SignatureError::Equation)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::babyjubjub::EdwardsProjective;
    use ark_ec::PrimeGroup;
    use ark_ff::BigInteger;
    use proptest::prelude::*;

    /// The seed, `a` (both byte orders come from the helper) and the prefix.
    fn secret_parts(k: &SigningKey) -> [Vec<u8>; 3] {
        let mut a = Vec::new();
        ark_serialize::CanonicalSerialize::serialize_compressed(&k.a.inner(), &mut a)
            .expect("serialize a");
        [k.seed.to_vec(), a, k.prefix.to_vec()]
    }

    #[test]
    fn debug_shows_the_public_key_only() {
        let k = SigningKey::from_seed([0x5c; SEED_BYTES]).expect("key");
        let shown = format!("{k:?}");
        let parts = secret_parts(&k);
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        crate::secret::testing::assert_debug_redacted(&shown, &parts);
        assert!(shown.contains("public"), "{shown}");
    }

    #[test]
    fn zeroize_wipes_seed_scalar_and_prefix() {
        let mut k = SigningKey::from_seed([0x5c; SEED_BYTES]).expect("key");
        let public = k.verifying_key();
        // What drop runs (ZeroizeOnDrop), observed before the memory is freed.
        k.zeroize();
        assert_eq!(k.seed, [0; SEED_BYTES]);
        assert!(k.a.is_zero());
        assert_eq!(k.prefix, [0; 64]);
        assert_eq!(k.verifying_key(), public, "the public key is not secret");
    }
    use rand::SeedableRng;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_seed([n; 32]).expect("non-degenerate test key")
    }

    #[test]
    fn sign_verify_and_wrong_inputs() {
        let k = key(1);
        let m = Fr::from(42u64);
        let sig = k.sign(&m);
        assert_eq!(k.verifying_key().verify(&m, &sig), Ok(()));
        assert_eq!(
            verify_raw(&k.verifying_key().point().to_affine(), &m, &sig.into()),
            Ok(())
        );
        // Wrong message, wrong key.
        assert_eq!(
            k.verifying_key().verify(&Fr::from(43u64), &sig),
            Err(SignatureError::Equation)
        );
        assert_eq!(
            key(2).verifying_key().verify(&m, &sig),
            Err(SignatureError::Equation)
        );
        // Deterministic.
        assert_eq!(k.sign(&m), sig);
    }

    #[test]
    fn s_plus_l_rejected() {
        // A12/B12: S + l satisfies the equation modulo l; only the range check stops it.
        let k = key(3);
        let m = Fr::from(7u64);
        let sig = k.sign(&m);
        let raw = RawSignature {
            r: sig.r.to_affine(),
            s: add_l(&sig.s.inner().into_bigint()),
        };
        let a = k.verifying_key().point().to_affine();
        assert_eq!(
            verify_raw(&a, &m, &raw),
            Err(SignatureError::ScalarOutOfRange)
        );
        let mut bytes = sig.to_bytes();
        bytes[64..].copy_from_slice(&ark_ff::BigInteger::to_bytes_be(&raw.s));
        assert_eq!(
            Signature::from_bytes(&bytes),
            Err(EncodingError::NonCanonicalScalar)
        );
    }

    #[test]
    fn low_order_and_off_curve_keys_rejected() {
        // A13/B12: with A of small order and R = S·G the equation 8SG = 8R + 8cA holds
        // for any message; only the 8·A ≠ O check stops it.
        let m = Fr::from(9u64);
        let s = ScalarField::from(5u64);
        let r = EdwardsProjective::generator()
            .mul_bigint(s.into_bigint())
            .into_affine();
        let raw = RawSignature {
            r,
            s: s.into_bigint(),
        };
        for a in [identity(), order_two(), order_eight()] {
            assert_eq!(verify_raw(&a, &m, &raw), Err(SignatureError::LowOrderKey));
            assert!(Point::new(a).is_err());
        }
        assert_eq!(
            verify_raw(&off_curve(), &m, &raw),
            Err(SignatureError::KeyNotOnCurve)
        );
        let k = key(4);
        let bad_r = RawSignature {
            r: off_curve(),
            s: s.into_bigint(),
        };
        assert_eq!(
            verify_raw(&k.verifying_key().point().to_affine(), &m, &bad_r),
            Err(SignatureError::NonceNotOnCurve)
        );
    }

    #[test]
    fn torsion_in_r_is_tolerated_by_raw_path_only() {
        // A signer who adds a small-order T to R (and hashes R + T into c) gets a
        // signature the cofactored equation accepts; the typed decoder refuses
        // R + T (not in the subgroup). Both behaviours are specified in §2.6.
        let a_secret = ScalarField::from(7u64);
        let nonce = ScalarField::from(5u64);
        let a = EdwardsProjective::generator()
            .mul_bigint(a_secret.into_bigint())
            .into_affine();
        let r_t = (EdwardsProjective::generator().mul_bigint(nonce.into_bigint()) + order_eight())
            .into_affine();
        let m = Fr::from(11u64);
        let c = ScalarField::from_le_bytes_mod_order(
            &challenge(&r_t, &a, &m).into_bigint().to_bytes_le(),
        );
        let raw = RawSignature {
            r: r_t,
            s: (nonce + c * a_secret).into_bigint(),
        };
        assert_eq!(verify_raw(&a, &m, &raw), Ok(()));
        let mut r_bytes = [0u8; 64];
        r_bytes[..32].copy_from_slice(&fr_to_bytes(&r_t.x));
        r_bytes[32..].copy_from_slice(&fr_to_bytes(&r_t.y));
        assert!(Point::from_bytes(&r_bytes).is_err());
        // Without the cofactor the same signature would fail: 8·T = O is what makes it pass.
        let lhs = EdwardsProjective::generator().mul_bigint(raw.s);
        let rhs = r_t.into_group() + a.mul_bigint(challenge(&r_t, &a, &m).into_bigint());
        assert_ne!(lhs, rhs);
    }

    #[test]
    fn encoding_roundtrip_and_lengths() {
        let k = key(6);
        let sig = k.sign(&Fr::from(1u64));
        let bytes = sig.to_bytes();
        assert_eq!(Signature::from_bytes(&bytes), Ok(sig));
        assert_eq!(Signature::from_slice(&bytes), Ok(sig));
        assert!(Signature::from_slice(&bytes[..95]).is_err());
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(Signature::from_slice(&long).is_err());
        assert_eq!(RawSignature::from_bytes(&bytes), Ok(sig.into()));
        let vk = k.verifying_key();
        assert_eq!(VerifyingKey::from_bytes(&vk.to_bytes()), Ok(vk));
    }

    /// Frozen vector (G6): key derivation, nonce derivation and encoding
    /// must not change without a protocol version bump.
    #[test]
    fn frozen_vector() {
        let k = key(1);
        let sig = k.sign(&Fr::from(42u64));
        let got = (
            hex::encode(k.verifying_key().to_bytes()),
            hex::encode(sig.to_bytes()),
        );
        assert_eq!(got.0, FROZEN_PK);
        assert_eq!(got.1, FROZEN_SIG);
    }

    const FROZEN_PK: &str = "29636a9328e9dd19ea75cafbf90f08f582d102da88401e8376145cefa17e9bea\
                             2924cf0b0f53be53f55ea3f966c2265f3070da9b3399229d8cf3badca9288b93";
    const FROZEN_SIG: &str = "002b00a10da04566f462286867bff8f1a593f83b709f521dfc0c0296de0e696e\
                              1de068b59aea8cb30b8fcdb100cb0746dc04c98c641eed3ce903792c2d0f6926\
                              019509773c19a17231b8d6f70e860d92cb008c0413cc972b0fc90fe81638fe5b";

    #[test]
    fn key_hashes_are_domain_separated() {
        let vk = key(8).verifying_key();
        let (n, s, a) = (
            vk.node_id().inner(),
            vk.session_key_hash().inner(),
            vk.account_id().inner(),
        );
        assert!(n != s && a != n && a != s);
        let (x, y) = (vk.point().x(), vk.point().y());
        assert_eq!(a, hash_tagged(DomainTag::Account, &[x, y]));
        assert_eq!(n, hash_tagged(DomainTag::NodeId, &[x, y]));
        assert_eq!(s, hash_tagged(DomainTag::Session, &[x, y]));
    }

    #[test]
    fn generated_keys_differ() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let a = SigningKey::generate(&mut rng);
        let b = SigningKey::generate(&mut rng);
        assert_ne!(a.verifying_key(), b.verifying_key());
    }

    fn seed_of(n: u64) -> [u8; 32] {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&n.to_le_bytes());
        s
    }

    /// Verdicts of the fast and the reference verification on one input.
    fn both(a: &EdwardsAffine, m: &Fr, sig: &RawSignature) -> Result<(), SignatureError> {
        let fast = verify_raw(a, m, sig);
        assert_eq!(
            fast,
            reference::verify_raw(a, m, sig),
            "A {a:?} sig {sig:?}"
        );
        fast
    }

    /// Edge cases: every check of §2.6 hit once, fast and reference agree.
    #[test]
    fn verify_agrees_with_reference_on_edge_cases() {
        use ark_ec::{AffineRepr, CurveGroup};
        let k = key(11);
        let m = Fr::from(5u64);
        let sig: RawSignature = k.sign(&m).into();
        let a = k.verifying_key().point().to_affine();
        let g = EdwardsAffine::generator();
        let mut l_minus_1 = ScalarField::MODULUS;
        ark_ff::BigInteger::sub_with_borrow(&mut l_minus_1, &BigInt::one());
        assert_eq!(both(&a, &m, &sig), Ok(()));
        let cases: Vec<(EdwardsAffine, RawSignature)> = vec![
            (
                a,
                RawSignature {
                    s: add_l(&sig.s),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    s: ScalarField::MODULUS,
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    s: BigInt::new([u64::MAX; 4]),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    s: BigInt::zero(),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    s: l_minus_1,
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    r: identity(),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    r: off_curve(),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    r: order_eight(),
                    ..sig
                },
            ),
            (
                a,
                RawSignature {
                    r: (sig.r + order_two()).into_affine(),
                    ..sig
                },
            ),
            (a, RawSignature { r: g, ..sig }),
            (identity(), sig),
            (order_two(), sig),
            (order_eight(), sig),
            (off_curve(), sig),
            ((a + order_eight()).into_affine(), sig),
            (g, sig),
        ];
        for (a2, s2) in &cases {
            assert!(both(a2, &m, s2).is_err());
        }
        assert!(both(&a, &Fr::from(6u64), &sig).is_err());
    }

    /// The decoders' subgroup check agrees with ark's on every kind of point.
    #[test]
    fn point_check_agrees_with_reference() {
        use ark_ec::{AffineRepr, CurveGroup};
        let g = EdwardsAffine::generator();
        let p = key(12).verifying_key().point().to_affine();
        for q in [
            g,
            p,
            identity(),
            order_two(),
            order_eight(),
            off_curve(),
            (p + order_eight()).into_affine(),
            (p + order_two()).into_affine(),
        ] {
            assert_eq!(
                Point::new(q).map(|_| ()),
                reference::point_check(&q),
                "{q:?}"
            );
        }
    }

    fn bytes_of(r: &EdwardsAffine, s: &BigInt<4>) -> [u8; SIGNATURE_BYTES] {
        let mut out = [0u8; SIGNATURE_BYTES];
        out[..32].copy_from_slice(&fr_to_bytes(&r.x));
        out[32..64].copy_from_slice(&fr_to_bytes(&r.y));
        out[64..].copy_from_slice(&crate::babyjubjub::bigint_to_be(s));
        out
    }

    /// Decode, then verify, as before (ark's subgroup check, the reference
    /// `verify_raw`): the oracle of the one-step paths.
    fn decode_then_verify(
        vk: &VerifyingKey,
        m: &Fr,
        bytes: &[u8; SIGNATURE_BYTES],
    ) -> Result<Signature, SignatureCheckError> {
        let raw = RawSignature::from_bytes(bytes)?;
        reference::point_check(&raw.r)?;
        let sig = Signature::from_bytes(bytes)?;
        reference::verify_raw(&vk.point().to_affine(), m, &raw)?;
        Ok(sig)
    }

    /// The one-step verdict under the plain and the prepared key, checked
    /// equal to [`decode_then_verify`]; the typed paths checked equal too.
    fn one_step(
        vk: &VerifyingKey,
        prepared: &PreparedVerifyingKey,
        m: &Fr,
        bytes: &[u8; SIGNATURE_BYTES],
    ) -> Result<Signature, SignatureCheckError> {
        let want = decode_then_verify(vk, m, bytes);
        let unchecked = UncheckedSignature::from_bytes(bytes);
        for got in [
            unchecked
                .clone()
                .map_err(SignatureCheckError::from)
                .and_then(|u| vk.verify_unchecked(m, &u)),
            unchecked
                .map_err(SignatureCheckError::from)
                .and_then(|u| prepared.verify_unchecked(m, &u)),
        ] {
            assert_eq!(got, want, "bytes {}", hex::encode(bytes));
        }
        if let Ok(sig) = Signature::from_bytes(bytes) {
            let typed = vk.verify(m, &sig);
            assert_eq!(typed, prepared.verify_signature(m, &sig));
            assert_eq!(
                typed,
                reference::verify_raw(&vk.point().to_affine(), m, &sig.into())
            );
        }
        want
    }

    /// `S = nonce + c·a` for a chosen `R` (honest but for `R`).
    fn sign_with_r(k: &SigningKey, nonce: ScalarField, r: &EdwardsAffine, m: &Fr) -> BigInt<4> {
        let a = k.verifying_key().point().to_affine();
        let c = Scalar::reduce(&challenge(r, &a, m).into_bigint()).inner();
        (nonce + c * k.a.inner()).into_bigint()
    }

    /// Every refusal of decode-then-verify, hit by the one-step paths with
    /// the same error: torsion in `R` (re-signed, so the cofactored
    /// equation holds), the identity as `R` with a satisfied exact equation,
    /// `S ≥ l` alone and together with a bad `R`, off-curve and
    /// non-canonical `R`, wrong message, wrong key.
    #[test]
    fn one_step_agrees_with_decode_then_verify_on_edge_cases() {
        use crate::babyjubjub::EdwardsProjective;
        use ark_ec::{AffineRepr, CurveGroup};
        let k = key(13);
        let (vk, m) = (k.verifying_key(), Fr::from(77u64));
        let prepared = vk.prepare();
        let sig = k.sign(&m);
        let good = sig.to_bytes();
        assert_eq!(one_step(&vk, &prepared, &m, &good), Ok(sig));
        let nonce = ScalarField::from(1234u64);
        let r = (EdwardsProjective::generator() * nonce).into_affine();
        let order_four = (order_eight() + order_eight()).into_affine();
        let subgroup = Err(SignatureCheckError::Encoding(EncodingError::InvalidPoint(
            "not in the prime-order subgroup",
        )));
        for t in [order_two(), order_four, order_eight()] {
            let r_t = (r + t).into_affine();
            let s = sign_with_r(&k, nonce, &r_t, &m);
            let raw = RawSignature { r: r_t, s };
            assert_eq!(
                reference::verify_raw(&vk.point().to_affine(), &m, &raw),
                Ok(())
            );
            assert_eq!(one_step(&vk, &prepared, &m, &bytes_of(&r_t, &s)), subgroup);
            assert_eq!(
                one_step(&vk, &prepared, &m, &bytes_of(&r_t, &add_l(&s))),
                subgroup
            );
            assert_eq!(one_step(&vk, &prepared, &m, &bytes_of(&t, &s)), subgroup);
        }
        // R = O with S = c·a: the exact equation holds, the decoder refuses O.
        let s0 = sign_with_r(&k, ScalarField::zero(), &identity(), &m);
        let id = Err(SignatureCheckError::Encoding(EncodingError::InvalidPoint(
            "identity",
        )));
        assert_eq!(
            one_step(&vk, &prepared, &m, &bytes_of(&identity(), &s0)),
            id
        );
        let off = Err(SignatureCheckError::Encoding(EncodingError::InvalidPoint(
            "not on the curve",
        )));
        assert_eq!(
            one_step(&vk, &prepared, &m, &bytes_of(&off_curve(), &s0)),
            off
        );
        let s_sig = sig.s.inner().into_bigint();
        let big = Err(SignatureCheckError::Encoding(
            EncodingError::NonCanonicalScalar,
        ));
        for s in [
            add_l(&s_sig),
            ScalarField::MODULUS,
            BigInt::new([u64::MAX; 4]),
        ] {
            assert_eq!(
                one_step(&vk, &prepared, &m, &bytes_of(&sig.r.to_affine(), &s)),
                big
            );
        }
        let eq = Err(SignatureCheckError::Signature(SignatureError::Equation));
        let mut l_minus_1 = ScalarField::MODULUS;
        ark_ff::BigInteger::sub_with_borrow(&mut l_minus_1, &BigInt::one());
        for s in [BigInt::zero(), l_minus_1] {
            assert_eq!(
                one_step(&vk, &prepared, &m, &bytes_of(&sig.r.to_affine(), &s)),
                eq
            );
        }
        let g = EdwardsAffine::generator();
        assert_eq!(one_step(&vk, &prepared, &m, &bytes_of(&g, &s_sig)), eq);
        assert_eq!(one_step(&vk, &prepared, &Fr::from(78u64), &good), eq);
        let other = key(14).verifying_key();
        assert_eq!(one_step(&other, &other.prepare(), &m, &good), eq);
        // Non-canonical coordinates: y + r does not fit, all-ones is >= r.
        let mut bad = good;
        bad[32..64].copy_from_slice(&[0xff; 32]);
        let nc = Err(SignatureCheckError::Encoding(
            EncodingError::NonCanonicalField,
        ));
        assert_eq!(one_step(&vk, &prepared, &m, &bad), nc);
        bad = good;
        bad[..32].copy_from_slice(&ark_ff::BigInteger::to_bytes_be(&Fr::MODULUS));
        assert_eq!(one_step(&vk, &prepared, &m, &bad), nc);
    }

    #[test]
    fn prepared_key_debug_and_identity() {
        let vk = key(15).verifying_key();
        let p = PreparedVerifyingKey::from(&vk);
        assert_eq!(p.verifying_key(), &vk);
        assert_eq!(format!("{p:?}"), format!("PreparedVerifyingKey({vk:?})"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// Same keys, same signature bytes as the reference implementation.
        #[test]
        fn sign_is_bit_identical_to_reference(seed in proptest::array::uniform32(any::<u8>()), m in proptest::array::uniform32(any::<u8>())) {
            let m = Fr::from_be_bytes_mod_order(&m);
            let (a, a_point) = reference::key(&seed);
            prop_assume!(!a.is_zero());
            let k = SigningKey::from_seed(seed).expect("a ≠ 0");
            prop_assert_eq!(k.verifying_key().point().to_affine(), a_point);
            prop_assert_eq!(k.sign(&m).to_bytes(), reference::sign(&seed, &m));
        }

        /// Valid, tampered and torsion-shifted inputs: same verdict, same error.
        #[test]
        fn verify_agrees_with_reference(n in any::<u64>(), m in any::<u64>(), flip in 0usize..96, t in 0u8..4) {
            use ark_ec::CurveGroup;
            let k = SigningKey::from_seed(seed_of(n)).expect("non-degenerate");
            let m = Fr::from(m);
            let sig = k.sign(&m);
            let a = k.verifying_key().point().to_affine();
            prop_assert_eq!(both(&a, &m, &sig.into()), Ok(()));
            let mut bytes = sig.to_bytes();
            bytes[flip] ^= 1 << (flip % 8);
            if let Ok(raw) = RawSignature::from_bytes(&bytes) {
                both(&a, &m, &raw).ok();
            }
            let torsion = [identity(), order_two(), order_eight(), (order_eight() + order_two()).into_affine()][usize::from(t)];
            let shifted = RawSignature { r: (sig.r.to_affine() + torsion).into_affine(), s: sig.s.inner().into_bigint() };
            both(&a, &m, &shifted).ok();
            both(&(a + torsion).into_affine(), &m, &sig.into()).ok();
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Valid, bit-flipped, torsion-shifted (re-signed) and `S + l`
        /// signatures: the one-step paths give decode-then-verify's verdict.
        #[test]
        fn one_step_agrees_with_decode_then_verify(n in any::<u64>(), m in any::<u64>(), flip in 0usize..SIGNATURE_BYTES * 8, t in 0usize..4, plus_l in any::<bool>()) {
            use ark_ec::CurveGroup;
            let k = SigningKey::from_seed(seed_of(n)).expect("non-degenerate");
            let (vk, m) = (k.verifying_key(), Fr::from(m));
            let prepared = vk.prepare();
            let sig = k.sign(&m);
            prop_assert_eq!(one_step(&vk, &prepared, &m, &sig.to_bytes()), Ok(sig));
            let mut bytes = sig.to_bytes();
            bytes[flip / 8] ^= 1 << (flip % 8);
            one_step(&vk, &prepared, &m, &bytes).ok();
            let torsion = [identity(), order_two(), order_eight(), (order_eight() + order_two()).into_affine()][t];
            let r_t = (sig.r.to_affine() + torsion).into_affine();
            let nonce = Scalar::from_bytes_wide(&sha512(2, &[&k.prefix, &fr_to_bytes(&m)])).inner();
            let s = sign_with_r(&k, nonce, &r_t, &m);
            let s = if plus_l { add_l(&s) } else { s };
            let verdict = one_step(&vk, &prepared, &m, &bytes_of(&r_t, &s));
            prop_assert_eq!(verdict.is_ok(), t == 0 && !plus_l);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        #[test]
        fn random_sign_verify(seed in proptest::array::uniform32(any::<u8>()), m in proptest::array::uniform32(any::<u8>()), flip in 0usize..96) {
            let k = SigningKey::from_seed(seed).expect("non-degenerate");
            let m = Fr::from_be_bytes_mod_order(&m);
            let sig = k.sign(&m);
            prop_assert_eq!(k.verifying_key().verify(&m, &sig), Ok(()));
            // Any single-bit change of the encoding either fails to decode or fails to verify.
            let mut bytes = sig.to_bytes();
            bytes[flip] ^= 1;
            if let Ok(bad) = Signature::from_bytes(&bytes) {
                prop_assert!(k.verifying_key().verify(&m, &bad).is_err());
            }
        }
    }
}
