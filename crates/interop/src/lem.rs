//! Curve points as snarkjs stores them in `.ptau` and `.zkey` files
//! ("LEM"): affine, uncompressed, each base-field coordinate as 32
//! little-endian bytes of its Montgomery form `x·2^256 mod q` (which is
//! arkworks' internal representation of `Fq`); a G2 coordinate is
//! `c0, c1`; the point at infinity is all zeros.

use ark_bn254::{Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInt, BigInteger, PrimeField, Zero};

use crate::binfile::Reader;
use crate::error::{InteropError, NumberError};

/// Bytes of a G1 point.
pub(crate) const G1_BYTES: usize = 64;
/// Bytes of a G2 point.
pub(crate) const G2_BYTES: usize = 128;

pub(crate) fn put_fq(out: &mut Vec<u8>, x: &Fq) {
    out.extend_from_slice(&x.0.to_bytes_le());
}

pub(crate) fn put_g1(out: &mut Vec<u8>, p: &G1Affine) {
    let (x, y) = p.xy().unwrap_or((Fq::zero(), Fq::zero()));
    put_fq(out, &x);
    put_fq(out, &y);
}

pub(crate) fn put_g2(out: &mut Vec<u8>, p: &G2Affine) {
    let (x, y) = p.xy().unwrap_or((Fq2::zero(), Fq2::zero()));
    for c in [x.c0, x.c1, y.c0, y.c1] {
        put_fq(out, &c);
    }
}

/// A Montgomery-form coordinate, refused unless below `q`.
fn fq(r: &mut Reader<'_>, what: &dyn Fn() -> String) -> Result<Fq, InteropError> {
    let b = r.take(32)?;
    let mut limbs = [0u64; 4];
    for (limb, chunk) in limbs.iter_mut().zip(b.chunks_exact(8)) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        *limb = u64::from_le_bytes(w);
    }
    let v = BigInt(limbs);
    if v >= Fq::MODULUS {
        return Err(InteropError::Number {
            what: what(),
            reason: NumberError::NotReduced,
        });
    }
    Ok(Fq::new_unchecked(v))
}

fn bad(what: &dyn Fn() -> String, reason: &'static str) -> InteropError {
    InteropError::Point {
        what: what(),
        reason,
    }
}

/// A G1 point, possibly the point at infinity; on the curve (G1 has
/// cofactor 1, so in the group).
pub(crate) fn g1_or_zero(
    r: &mut Reader<'_>,
    what: &dyn Fn() -> String,
) -> Result<G1Affine, InteropError> {
    let (x, y) = (fq(r, what)?, fq(r, what)?);
    if x.is_zero() && y.is_zero() {
        return Ok(G1Affine::zero());
    }
    let p = G1Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(bad(what, "not on the curve"));
    }
    Ok(p)
}

/// A G2 point, possibly the point at infinity; on the twist and in the
/// prime-order subgroup.
pub(crate) fn g2_or_zero(
    r: &mut Reader<'_>,
    what: &dyn Fn() -> String,
) -> Result<G2Affine, InteropError> {
    let x = Fq2::new(fq(r, what)?, fq(r, what)?);
    let y = Fq2::new(fq(r, what)?, fq(r, what)?);
    if x.is_zero() && y.is_zero() {
        return Ok(G2Affine::zero());
    }
    let p = G2Affine::new_unchecked(x, y);
    if !p.is_on_curve() {
        return Err(bad(what, "not on the curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(bad(what, "not in the prime-order subgroup"));
    }
    Ok(p)
}

/// A G1 point other than the point at infinity.
pub(crate) fn g1(r: &mut Reader<'_>, what: &dyn Fn() -> String) -> Result<G1Affine, InteropError> {
    let p = g1_or_zero(r, what)?;
    if p.is_zero() {
        return Err(bad(what, "the point at infinity"));
    }
    Ok(p)
}

/// A G2 point other than the point at infinity.
pub(crate) fn g2(r: &mut Reader<'_>, what: &dyn Fn() -> String) -> Result<G2Affine, InteropError> {
    let p = g2_or_zero(r, what)?;
    if p.is_zero() {
        return Err(bad(what, "the point at infinity"));
    }
    Ok(p)
}

/// `n` points other than infinity, decoded in parallel (every point of a
/// `.ptau` is checked, G2 subgroup membership included), named
/// `"{what} point {i}"`.
fn vec_of<P: Send>(
    r: &mut Reader<'_>,
    n: usize,
    size: usize,
    what: &str,
    one: fn(&mut Reader<'_>, &dyn Fn() -> String) -> Result<P, InteropError>,
) -> Result<Vec<P>, InteropError> {
    use rayon::prelude::*;
    let bytes = r.take(
        n.checked_mul(size)
            .ok_or_else(|| InteropError::binary("points", "too many"))?,
    )?;
    bytes
        .par_chunks_exact(size)
        .enumerate()
        .map(|(i, b)| {
            one(&mut Reader::new(b, "points"), &|| {
                format!("{what} point {i}")
            })
        })
        .collect()
}

/// `n` G1 points other than infinity, named `"{what} point {i}"`.
pub(crate) fn g1_vec(
    r: &mut Reader<'_>,
    n: usize,
    what: &str,
) -> Result<Vec<G1Affine>, InteropError> {
    vec_of(r, n, G1_BYTES, what, g1)
}

/// `n` G2 points other than infinity, named `"{what} point {i}"`.
pub(crate) fn g2_vec(
    r: &mut Reader<'_>,
    n: usize,
    what: &str,
) -> Result<Vec<G2Affine>, InteropError> {
    vec_of(r, n, G2_BYTES, what, g2)
}
