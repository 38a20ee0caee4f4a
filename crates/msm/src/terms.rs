//! Splitting an MSM's terms by scalar width.

use ark_ec::AffineRepr;
use ark_ec::short_weierstrass::{Affine, SWCurveConfig};
use ark_ff::{BigInteger, PrimeField};
use rayon::prelude::*;

use crate::BigInt;

/// One non-trivial term: the index of its base, whether the base is
/// negated, and the scalar's magnitude `min(s, r − s)` (below `r/2`).
#[derive(Clone, Copy)]
pub(crate) struct Term<B> {
    pub index: usize,
    pub neg: bool,
    pub mag: B,
}

/// A class of terms and the bit length of its largest magnitude.
pub(crate) struct Class<B> {
    pub terms: Vec<Term<B>>,
    pub bits: usize,
}

/// An MSM's terms by width: magnitude 1, below 2^64, and wider.
pub(crate) struct Classes<B> {
    pub units: Vec<Term<B>>,
    pub narrow: Class<B>,
    pub wide: Class<B>,
}

/// The signed form of `s`: `(s mod r, false)` or `(r − (s mod r), true)`,
/// whichever is smaller; `None` for zero.
pub(crate) fn signed<F: PrimeField>(s: &F::BigInt) -> Option<(F::BigInt, bool)> {
    let s = F::from_bigint(*s).unwrap_or_else(|| F::from_le_bytes_mod_order(&s.to_bytes_le()));
    if s.is_zero() {
        return None;
    }
    let b = s.into_bigint();
    if b > F::MODULUS_MINUS_ONE_DIV_TWO {
        Some(((-s).into_bigint(), true))
    } else {
        Some((b, false))
    }
}

/// Keeps the terms with a non-zero scalar on a base other than infinity
/// and sorts them into [`Classes`].
pub(crate) fn classify<P: SWCurveConfig>(
    bases: &[Affine<P>],
    scalars: &[BigInt<P>],
) -> Classes<BigInt<P>> {
    let all: Vec<Term<BigInt<P>>> = bases
        .par_iter()
        .zip(scalars.par_iter())
        .enumerate()
        .filter(|(_, (b, _))| !b.is_zero())
        .filter_map(|(i, (_, s))| {
            let (mag, neg) = signed::<P::ScalarField>(s)?;
            Some(Term { index: i, neg, mag })
        })
        .collect();
    let mut out = Classes {
        units: Vec::new(),
        narrow: Class {
            terms: Vec::new(),
            bits: 0,
        },
        wide: Class {
            terms: Vec::new(),
            bits: 0,
        },
    };
    for t in all {
        let bits = t.mag.num_bits() as usize;
        let class = match bits {
            1 => {
                out.units.push(t);
                continue;
            }
            2..=64 => &mut out.narrow,
            _ => &mut out.wide,
        };
        class.bits = class.bits.max(bits);
        class.terms.push(t);
    }
    out
}
