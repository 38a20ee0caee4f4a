//! The Groth16 proof and its one canonical 128-byte encoding.
//!
//! Spec: `docs/protocol.md` §2.1 and §7.2.

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};

use crate::error::ProofError;

/// Length of a compressed BN254 G1 point.
const G1_BYTES: usize = 32;
/// Length of a compressed BN254 G2 point.
const G2_BYTES: usize = 64;

/// A Groth16 proof over BN254 whose points are all on the curve, in the
/// prime-order subgroups, and not the point at infinity.
///
/// Only [`Proof::from_bytes`] and the prover construct one, so holding a
/// `Proof` means these checks have passed. Equality of proofs says nothing
/// about statements: a proof is malleable (re-randomisable), so nothing may
/// key on proof bytes (adversarial B2).
#[derive(Clone, Debug, PartialEq)]
pub struct Proof(pub(crate) ark_groth16::Proof<Bn254>);

impl Eq for Proof {}

impl Proof {
    /// Encoded length: `A` (32) ‖ `B` (64) ‖ `C` (32).
    pub const BYTES: usize = 2 * G1_BYTES + G2_BYTES;

    /// # Layout
    ///
    /// | bytes | content |
    /// |---|---|
    /// | 0..32 | `A`, G1, arkworks compressed (x little-endian, flags in the top bits) |
    /// | 32..96 | `B`, G2, arkworks compressed |
    /// | 96..128 | `C`, G1, arkworks compressed |
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut out = [0u8; Self::BYTES];
        let (a, rest) = out.split_at_mut(G1_BYTES);
        let (b, c) = rest.split_at_mut(G2_BYTES);
        // Serialising a valid affine point into a buffer of exactly its
        // compressed size cannot fail.
        let _ = self.0.a.serialize_compressed(a);
        let _ = self.0.b.serialize_compressed(b);
        let _ = self.0.c.serialize_compressed(c);
        out
    }

    /// Decodes exactly [`Proof::BYTES`] bytes (B3), validating every point
    /// on the curve and in the prime-order subgroup (B4), rejecting the point
    /// at infinity (B5) and any non-canonical encoding (decode → encode must
    /// reproduce the input).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProofError> {
        if bytes.len() != Self::BYTES {
            return Err(ProofError::Length {
                expected: Self::BYTES,
                actual: bytes.len(),
            });
        }
        let (a, rest) = bytes.split_at(G1_BYTES);
        let (b, c) = rest.split_at(G2_BYTES);
        let proof = Proof(ark_groth16::Proof {
            a: point::<G1Affine>(a, "A")?,
            b: point::<G2Affine>(b, "B")?,
            c: point::<G1Affine>(c, "C")?,
        });
        if proof.to_bytes().as_slice() != bytes {
            return Err(ProofError::InvalidPoint {
                point: "A/B/C",
                reason: "non-canonical encoding".into(),
            });
        }
        Ok(proof)
    }

    /// The arkworks proof (for callers that need the raw points).
    pub fn as_ark(&self) -> &ark_groth16::Proof<Bn254> {
        &self.0
    }
}

/// Decodes one compressed point with full validation and rejects infinity.
fn point<P: AffineRepr + CanonicalDeserialize>(
    bytes: &[u8],
    name: &'static str,
) -> Result<P, ProofError> {
    let mut reader = bytes;
    let p = P::deserialize_with_mode(&mut reader, Compress::Yes, Validate::Yes).map_err(|e| {
        ProofError::InvalidPoint {
            point: name,
            reason: e.to_string(),
        }
    })?;
    if !reader.is_empty() {
        return Err(ProofError::InvalidPoint {
            point: name,
            reason: "trailing bytes".into(),
        });
    }
    if p.is_zero() {
        return Err(ProofError::PointAtInfinity(name));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_bn254::{Fq, Fq2, G1Projective, G2Projective};
    use ark_ec::{CurveGroup, PrimeGroup};
    use ark_ff::{Field, UniformRand};
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn random_proof(seed: u64) -> Proof {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        Proof(ark_groth16::Proof {
            a: G1Projective::rand(&mut rng).into_affine(),
            b: G2Projective::rand(&mut rng).into_affine(),
            c: G1Projective::rand(&mut rng).into_affine(),
        })
    }

    fn encode<P: CanonicalSerialize>(p: &P) -> Vec<u8> {
        let mut v = Vec::new();
        p.serialize_compressed(&mut v).unwrap();
        v
    }

    #[test]
    fn roundtrip() {
        let p = random_proof(1);
        let bytes = p.to_bytes();
        assert_eq!(Proof::from_bytes(&bytes), Ok(p));
    }

    #[test]
    fn b3_trailing_and_truncated_bytes_are_rejected() {
        let bytes = random_proof(2).to_bytes();
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            Proof::from_bytes(&long),
            Err(ProofError::Length {
                expected: 128,
                actual: 129
            })
        );
        assert_eq!(
            Proof::from_bytes(&bytes[..127]),
            Err(ProofError::Length {
                expected: 128,
                actual: 127
            })
        );
        assert!(Proof::from_bytes(&[]).is_err());
    }

    #[test]
    fn b5_points_at_infinity_are_rejected() {
        let p = random_proof(3);
        for (i, name) in ["A", "B", "C"].into_iter().enumerate() {
            let mut q = p.0.clone();
            match i {
                0 => q.a = G1Affine::zero(),
                1 => q.b = G2Affine::zero(),
                _ => q.c = G1Affine::zero(),
            }
            let mut bytes = Vec::new();
            q.a.serialize_compressed(&mut bytes).unwrap();
            q.b.serialize_compressed(&mut bytes).unwrap();
            q.c.serialize_compressed(&mut bytes).unwrap();
            assert_eq!(bytes.len(), 128);
            assert_eq!(
                Proof::from_bytes(&bytes),
                Err(ProofError::PointAtInfinity(name))
            );
        }
    }

    /// A point on the G2 curve (the twist) that is not in the prime-order
    /// subgroup: the twist has a large cofactor, so a random curve point is
    /// outside the subgroup with overwhelming probability.
    fn g2_off_subgroup() -> G2Affine {
        let mut x = Fq2::new(Fq::from(1u64), Fq::from(1u64));
        loop {
            if let Some(p) = G2Affine::get_point_from_x_unchecked(x, false)
                && !p.is_in_correct_subgroup_assuming_on_curve()
            {
                return p;
            }
            x += Fq2::ONE;
        }
    }

    #[test]
    fn b4_g2_point_outside_subgroup_is_rejected() {
        let p = random_proof(4);
        let bad_b = g2_off_subgroup();
        assert!(bad_b.is_on_curve());
        let mut bytes = encode(&p.0.a);
        // Unchecked serialisation of the off-subgroup point is still a valid
        // compressed curve encoding.
        bytes.extend(encode(&bad_b));
        bytes.extend(encode(&p.0.c));
        assert!(matches!(
            Proof::from_bytes(&bytes),
            Err(ProofError::InvalidPoint { point: "B", .. })
        ));
    }

    #[test]
    fn b4_off_curve_x_is_rejected() {
        // x with no y on the curve: y² = x³ + 3 has no root for some x.
        let p = random_proof(5);
        let mut x = Fq::from(1u64);
        let off = loop {
            if G1Affine::get_point_from_x_unchecked(x, false).is_none() {
                break x;
            }
            x += Fq::ONE;
        };
        let mut a = Vec::new();
        off.serialize_compressed(&mut a).unwrap();
        let mut bytes = a;
        bytes.extend(encode(&p.0.b));
        bytes.extend(encode(&p.0.c));
        assert!(matches!(
            Proof::from_bytes(&bytes),
            Err(ProofError::InvalidPoint { point: "A", .. })
        ));
        // The generator is fine in that position (control).
        let mut ok = encode(&G1Projective::generator().into_affine());
        ok.extend(encode(&p.0.b));
        ok.extend(encode(&p.0.c));
        assert!(Proof::from_bytes(&ok).is_ok());
        let _ = G2Projective::generator();
    }

    proptest! {
        /// Random bytes never panic, and whatever decodes re-encodes to itself.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Proof::from_bytes(&bytes) {
                let again = p.to_bytes();
                prop_assert_eq!(again.as_slice(), bytes.as_slice());
            }
        }

        /// Flipping any single bit of a valid proof never yields a different
        /// accepted encoding that decodes to the same proof.
        #[test]
        fn bit_flips_change_or_reject(bit in 0usize..1024) {
            let p = random_proof(6);
            let mut bytes = p.to_bytes();
            bytes[bit / 8] ^= 1 << (bit % 8);
            if let Ok(q) = Proof::from_bytes(&bytes) {
                prop_assert_ne!(q, p);
            }
        }
    }
}
