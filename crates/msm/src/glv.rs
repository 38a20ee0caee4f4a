//! GLV decomposition on fixed-width integers: `k ≡ k1 + λ·k2 (mod r)` with
//! `|k1|, |k2| < 2^127`, so a full-width term `k·P` becomes two half-width
//! terms `k1·P + k2·φ(P)`, where `φ(x, y) = (β·x, y) = λ·P` is arkworks'
//! `GLVConfig::endomorphism_affine` (issue 12).
//!
//! With `N` the lattice basis of `GLVConfig::SCALAR_DECOMP_COEFFS` (rows
//! `(n11, n12)`, `(n21, n22)`, each `≡ 0` under `a + λ·b`),
//! `β1 ≈ k·n22/r`, `β2 ≈ −k·n12/r` (Babai rounding, as arkworks does
//! through `num-bigint`) and `(k1, k2) = (k, 0) − β1·row1 − β2·row2`. Any
//! integers `β` keep `k1 + λ·k2 ≡ k`; here `β = ⌊(k·g + 2^(W−1))/2^W⌋`
//! with `g = ⌊n·2^W/r⌋` precomputed (`W` the scalar's limb width), within
//! `3/4` of the exact quotient, so `|k_i| ≤ 3/4·(|n_1i| + |n_2i|)`, which
//! [`Glv::new`] checks is below `2^127`: the halves are computed modulo
//! `2^128` and read as `i128`.

use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::Affine;
use ark_ff::{AdditiveGroup, Field, PrimeField};
use rayon::prelude::*;

use crate::BigInt;
use crate::terms::{Class, Term};

/// Precomputed constants of one curve's decomposition.
pub(crate) struct Glv {
    /// Rows of the lattice basis, signed.
    n: [[i128; 2]; 2],
    /// `|g|` for `β1` and `β2` (little-endian limbs) and whether `β` is
    /// negative for a positive `k`.
    g: [([u64; 4], bool); 2],
}

/// One signed half of a decomposed scalar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Half {
    pub mag: u128,
    pub neg: bool,
}

impl Glv {
    /// The constants of `P`, or `None` if its scalar field or lattice does
    /// not fit this fixed-width method (then callers use plain windows).
    pub(crate) fn new<P: GLVConfig>() -> Option<Self> {
        let r = <P::ScalarField as PrimeField>::MODULUS;
        // k·|g|/2^W is within k/2^W ≤ 1/4 of k·|n|/r: needs r < 2^(W−2).
        if r.as_ref().last().is_none_or(|&top| top >> 62 != 0) {
            return None;
        }
        let signed = |(pos, b): (bool, BigInt<P>)| -> Option<i128> {
            let l = b.as_ref();
            if l.iter().skip(2).any(|&x| x != 0) {
                return None;
            }
            let v = i128::try_from(u128::from(l[0]) | (u128::from(*l.get(1)?) << 64)).ok()?;
            Some(if pos { v } else { -v })
        };
        let c = P::SCALAR_DECOMP_COEFFS;
        let n = [
            [signed(c[0])?, signed(c[1])?],
            [signed(c[2])?, signed(c[3])?],
        ];
        // Rows must be lattice vectors: a + λ·b ≡ 0.
        let lambda = P::LAMBDA;
        for [a, b] in n {
            let v = P::ScalarField::from(a) + lambda * P::ScalarField::from(b);
            if v != P::ScalarField::ZERO {
                return None;
            }
        }
        // |k_i| ≤ 3/4·(|n_1i| + |n_2i|) < 2^127.
        for (a, b) in n[0].iter().zip(&n[1]) {
            let s = a.unsigned_abs().checked_add(b.unsigned_abs())?;
            if s - s / 4 >= 1 << 127 {
                return None;
            }
        }
        let g = [
            (quotient(n[1][1].unsigned_abs(), r.as_ref())?, n[1][1] < 0),
            (quotient(n[0][1].unsigned_abs(), r.as_ref())?, n[0][1] > 0),
        ];
        let glv = Glv { n, g };
        glv.self_test::<P>().then_some(glv)
    }

    /// Decomposes a reduced scalar `k < r` (limbs, little-endian).
    pub(crate) fn split(&self, k: &[u64]) -> [Half; 2] {
        let b1 = beta(k, &self.g[0]);
        let b2 = beta(k, &self.g[1]);
        let lo = u128::from(k[0]) | (u128::from(k.get(1).copied().unwrap_or(0)) << 64);
        let [[n11, n12], [n21, n22]] = self.n;
        let k1 = (lo as i128)
            .wrapping_sub(b1.wrapping_mul(n11))
            .wrapping_sub(b2.wrapping_mul(n21));
        let k2 = b1
            .wrapping_mul(n12)
            .wrapping_add(b2.wrapping_mul(n22))
            .wrapping_neg();
        let half = |v: i128| Half {
            mag: v.unsigned_abs(),
            neg: v < 0,
        };
        [half(k1), half(k2)]
    }

    /// Checks `k1 + λ·k2 = k` on the extreme scalars.
    fn self_test<P: GLVConfig>(&self) -> bool {
        let f = |h: Half| {
            let v = P::ScalarField::from(h.mag);
            if h.neg { -v } else { v }
        };
        let one = P::ScalarField::ONE;
        let half_r: P::ScalarField =
            P::ScalarField::from_bigint(P::ScalarField::MODULUS_MINUS_ONE_DIV_TWO).unwrap_or(one);
        [
            P::ScalarField::from(0u64),
            one,
            -one,
            half_r,
            half_r + one,
            P::LAMBDA,
            -P::LAMBDA,
        ]
        .iter()
        .all(|k| {
            let [k1, k2] = self.split(k.into_bigint().as_ref());
            f(k1) + P::LAMBDA * f(k2) == *k
        })
    }
}

/// `±⌊(k·|g| + 2^(W−1)) / 2^W⌋` as an `i128` (`W = 64·k.len()`).
fn beta(k: &[u64], (g, neg): &([u64; 4], bool)) -> i128 {
    let w = k.len();
    let mut prod = [0u64; 16];
    for (i, &a) in k.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &b) in g.iter().enumerate() {
            let t = u128::from(a) * u128::from(b) + u128::from(prod[i + j]) + carry;
            prod[i + j] = t as u64;
            carry = t >> 64;
        }
        prod[i + 4] = carry as u64;
    }
    // Round: add 2^(W−1).
    let mut carry = 1u64 << 63;
    for limb in prod.iter_mut().skip(w - 1) {
        let (s, c) = limb.overflowing_add(carry);
        *limb = s;
        carry = u64::from(c);
        if carry == 0 {
            break;
        }
    }
    let v = (u128::from(prod[w]) | (u128::from(prod[w + 1]) << 64)) as i128;
    if *neg { v.wrapping_neg() } else { v }
}

/// `⌊a·2^W / r⌋` for `r` of `W = 64·r.len()` bits or fewer, if it fits four
/// limbs (binary long division; once per MSM).
fn quotient(a: u128, r: &[u64]) -> Option<[u64; 4]> {
    let w = r.len();
    if !(2..=6).contains(&w) {
        return None;
    }
    // The numerator a·2^W, little-endian limbs.
    let mut num = vec![0u64; w + 2];
    num[w] = a as u64;
    num[w + 1] = (a >> 64) as u64;
    let mut rem = vec![0u64; w + 1];
    let mut q = vec![0u64; w + 2];
    for bit in (0..64 * (w + 2)).rev() {
        shl1(&mut rem, (num[bit / 64] >> (bit % 64)) & 1);
        if !less(&rem, r) {
            sub(&mut rem, r);
            q[bit / 64] |= 1 << (bit % 64);
        }
    }
    if q.iter().skip(4).any(|&x| x != 0) {
        return None;
    }
    Some([q[0], q[1], q[2], q[3]])
}

/// `v = 2v + bit`.
fn shl1(v: &mut [u64], bit: u64) {
    let mut carry = bit;
    for l in v.iter_mut() {
        let next = *l >> 63;
        *l = (*l << 1) | carry;
        carry = next;
    }
}

/// `v < r` (`v` one limb longer than `r`).
fn less(v: &[u64], r: &[u64]) -> bool {
    if v.iter().skip(r.len()).any(|&x| x != 0) {
        return false;
    }
    for (a, b) in v.iter().zip(r).rev() {
        if a != b {
            return a < b;
        }
    }
    false
}

/// `v −= r` (`v ≥ r`).
fn sub(v: &mut [u64], r: &[u64]) {
    let mut borrow = 0u64;
    for (i, l) in v.iter_mut().enumerate() {
        let b = r.get(i).copied().unwrap_or(0);
        let (s1, c1) = l.overflowing_sub(b);
        let (s2, c2) = s1.overflowing_sub(borrow);
        *l = s2;
        borrow = u64::from(c1 || c2);
    }
}

/// The wide class's terms split in halves: for the `j`-th term `±k·P`,
/// bases `2j` (`P`) and `2j + 1` (`φ(P)`) of the returned bases, and the
/// non-zero halves as terms on them.
pub(crate) fn split_terms<P: GLVConfig>(
    glv: &Glv,
    bases: &[Affine<P>],
    wide: &Class<BigInt<P>>,
) -> (Vec<Affine<P>>, Class<BigInt<P>>) {
    let pairs: Vec<([Affine<P>; 2], [Half; 2])> = wide
        .terms
        .par_iter()
        .map(|t| {
            let p = bases[t.index];
            let mut h = glv.split(t.mag.as_ref());
            for x in &mut h {
                x.neg ^= t.neg;
            }
            ([p, P::endomorphism_affine(&p)], h)
        })
        .collect();
    let mut terms = Vec::with_capacity(2 * pairs.len());
    let mut bits = 0;
    for (j, (_, halves)) in pairs.iter().enumerate() {
        for (i, h) in halves.iter().enumerate() {
            if h.mag != 0 {
                bits = bits.max(128 - h.mag.leading_zeros() as usize);
                terms.push(Term {
                    index: 2 * j + i,
                    neg: h.neg,
                    mag: big::<P>(h.mag),
                });
            }
        }
    }
    let bases = pairs.into_iter().flat_map(|(b, _)| b).collect();
    (bases, Class { terms, bits })
}

/// `v` as the scalar field's integer type (at least two limbs).
pub(crate) fn big<P: GLVConfig>(v: u128) -> BigInt<P> {
    let mut b = BigInt::<P>::from(v as u64);
    if let Some(l) = b.as_mut().get_mut(1) {
        *l = (v >> 64) as u64;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::short_weierstrass::Projective;
    use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
    use ark_ff::UniformRand;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    type Fr = ark_bn254::Fr;

    fn value(h: Half) -> Fr {
        let v = Fr::from(h.mag);
        if h.neg { -v } else { v }
    }

    /// `k1 + λ·k2 = k` and both halves below 2^127, on random scalars and
    /// on scalars built from halves at the bound.
    fn decomposes<P: GLVConfig<ScalarField = Fr>>() {
        let glv = Glv::new::<P>().expect("BN254 fits");
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let edge = |rng: &mut ChaCha20Rng| {
            let top = |rng: &mut ChaCha20Rng| {
                let m: u128 = (1 << 127) - 1 - rng.r#gen::<u128>() % (1 << 100);
                if rng.r#gen() {
                    -Fr::from(m)
                } else {
                    Fr::from(m)
                }
            };
            top(rng) + P::LAMBDA * top(rng)
        };
        for i in 0..20_000 {
            let k = if i % 2 == 0 {
                Fr::rand(&mut rng)
            } else {
                edge(&mut rng)
            };
            let [k1, k2] = glv.split(k.into_bigint().as_ref());
            assert!(k1.mag < 1 << 127 && k2.mag < 1 << 127);
            assert_eq!(value(k1) + P::LAMBDA * value(k2), k);
        }
    }

    /// `φ(P) = λ·P`: the endomorphism matches the eigenvalue.
    fn endomorphism_is_lambda<P: GLVConfig<ScalarField = Fr>>() {
        let p = (Projective::<P>::generator() * Fr::from(12345u64)).into_affine();
        assert_eq!(P::endomorphism_affine(&p), (p * P::LAMBDA).into_affine());
        assert!(P::endomorphism_affine(&Affine::<P>::identity()).is_zero());
    }

    #[test]
    fn decomposition_is_exact_and_half_width() {
        decomposes::<ark_bn254::g1::Config>();
        decomposes::<ark_bn254::g2::Config>();
    }

    #[test]
    fn the_endomorphism_multiplies_by_lambda() {
        endomorphism_is_lambda::<ark_bn254::g1::Config>();
        endomorphism_is_lambda::<ark_bn254::g2::Config>();
    }
}
