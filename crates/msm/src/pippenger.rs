//! The bucket method over signed windows, windows in parallel.

use ark_ec::short_weierstrass::{Affine, Bucket, Projective, SWCurveConfig};
use ark_ff::AdditiveGroup;
use rayon::prelude::*;

use crate::BigInt;
use crate::batch::{AffineBuckets, Buckets, XyzzBuckets};
use crate::digits::{MAX_WINDOW, recode, window_count};
use crate::terms::{Class, Term};

/// Cost of a bucket in the final running sums against a term's affine
/// addition, both doubled, in the window model below. Measured on BN254
/// (2 vCPU EPYC, `examples/tune.rs`): c = 11 is fastest for 9,537 full-width
/// terms in G1 and G2, c = 10 and 11 tie at 6,434, 11 and 12 at 16,384.
const BUCKET_COST: usize = 3;

/// Batched affine additions need this many buckets per window (the batch
/// is a sixth of them: fewer collisions, and the inversion shared by
/// enough additions); below, buckets are XYZZ.
const MIN_AFFINE_BUCKETS: usize = 256;

/// The window width minimising `windows · (2n + BUCKET_COST · 2^(c−1))`
/// for `n` terms of up to `bits` bits.
fn window(n: usize, bits: usize) -> usize {
    let cost = |c: usize| window_count(bits, c) * (2 * n + BUCKET_COST * (1 << (c - 1)));
    (2..=MAX_WINDOW)
        .min_by_key(|&c| cost(c))
        .unwrap_or(MAX_WINDOW)
}

/// Batch size for `nb` affine buckets (a third and a sixth of the buckets
/// measured the same; a twelfth was 5–10% slower).
fn batch_size(nb: usize) -> usize {
    (nb / 6).min(640)
}

/// `Σ ±mag·base` over `class`, with window width `c` if given.
pub(crate) fn sum<P: SWCurveConfig>(
    bases: &[Affine<P>],
    class: &Class<BigInt<P>>,
    c: Option<usize>,
) -> Projective<P> {
    let n = class.terms.len();
    if n == 0 {
        return Projective::ZERO;
    }
    let c = c
        .unwrap_or_else(|| window(n, class.bits))
        .clamp(2, MAX_WINDOW);
    let windows = window_count(class.bits, c);
    let mut digits = vec![0i16; n * windows];
    digits
        .par_chunks_mut(windows)
        .zip(class.terms.par_iter())
        .for_each(|(out, t)| recode(&t.mag, t.neg, c, out));
    let nb = 1 << (c - 1);
    let sums: Vec<Bucket<P>> = (0..windows)
        .into_par_iter()
        .map(|w| {
            let column = Column {
                bases,
                terms: &class.terms,
                digits: &digits,
                w,
                windows,
            };
            if nb >= MIN_AFFINE_BUCKETS {
                column.accumulate(AffineBuckets::new(nb, batch_size(nb)))
            } else {
                column.accumulate(XyzzBuckets::new(nb))
            }
        })
        .collect();
    let mut total = Projective::ZERO;
    for s in sums.iter().rev() {
        for _ in 0..c {
            total.double_in_place();
        }
        total += s;
    }
    total
}

/// Window `w` of every term: digits are stored term by term, `windows`
/// per term.
struct Column<'a, P: SWCurveConfig> {
    bases: &'a [Affine<P>],
    terms: &'a [Term<BigInt<P>>],
    digits: &'a [i16],
    w: usize,
    windows: usize,
}

impl<P: SWCurveConfig> Column<'_, P> {
    /// The window's sum `Σ d·P` through `buckets`.
    fn accumulate(&self, mut buckets: impl Buckets<P>) -> Bucket<P> {
        let digits = self.digits.chunks_exact(self.windows);
        for (t, d) in self.terms.iter().zip(digits) {
            let d = d[self.w];
            let p = self.bases[t.index];
            match d {
                0 => {}
                1.. => buckets.add(d as usize - 1, p),
                _ => buckets.add(d.unsigned_abs() as usize - 1, -p),
            }
        }
        buckets.finish()
    }
}

/// `Σ ±base` over terms of magnitude 1, in parallel chunks.
pub(crate) fn sum_units<P: SWCurveConfig>(
    bases: &[Affine<P>],
    units: &[Term<BigInt<P>>],
) -> Projective<P> {
    let chunk = units.len().div_ceil(rayon::current_num_threads()).max(1);
    units
        .par_chunks(chunk)
        .map(|ts| {
            let mut acc = Bucket::ZERO;
            for t in ts {
                let p = bases[t.index];
                acc += if t.neg { -p } else { p };
            }
            Projective::from(acc)
        })
        .sum()
}
