//! Fixed-base MSM for bases that never change (a proving key's queries,
//! `docs/protocol.md` §7.3, issue 12).
//!
//! For each base `P` the table holds `2^(c·j)·P` for `j < m`, enough for
//! the `c`-bit signed windows of a GLV half (below 2^127). A scalar `k`
//! becomes `k1 + λ·k2` ([`crate::glv`]; scalars below 2^64 stay whole),
//! and digit `d_j` of a half adds `±2^(c·j)·P` (or its image `φ`, one
//! multiplication of `x`) to bucket `|d_j|`: every window of every term
//! lands in one set of `2^(c−1)` buckets, reduced once, with no doublings.
//! The buckets are split in ranges, one task per thread, so both cores
//! share the additions and the reduction.

use ark_ec::AffineRepr;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Bucket, Projective};
use ark_ec::{AdditiveGroup, CurveGroup};
use ark_ff::BigInteger;
use rayon::prelude::*;

use crate::BigInt;
use crate::batch::{AffineBuckets, Buckets, XyzzBuckets};
use crate::digits::{MAX_WINDOW, recode, window_count};
use crate::glv::{Glv, Half, big};
use crate::terms::signed;

/// Bit length of the widest half a table serves (GLV halves and whole
/// scalars below 2^64).
const HALF_BITS: usize = 127;

/// Buckets per range task at least (fewer: no batching gain).
const MIN_RANGE: usize = 256;

/// Precomputed shifted copies of a fixed set of bases.
pub struct FixedBases<P: GLVConfig> {
    /// Copy `j` of base `i` at `i·copies + j`.
    table: Vec<Affine<P>>,
    len: usize,
    c: usize,
    copies: usize,
    glv: Glv,
}

/// One half-width term: base index, whether to take `φ(P)`, the half.
type Entry = (usize, bool, Half);

impl<P: GLVConfig> FixedBases<P> {
    /// The window width for about `n` terms: `pippenger`'s cost model with
    /// one bucket reduction, the buckets weighted twice as much (random
    /// full-width terms, 2 vCPU EPYC: c = 13 for 9,537 in G1 and G2; c = 15
    /// ties in G1 and is 7% slower in G2, its buckets outgrow the cache).
    pub fn window_for(n: usize) -> usize {
        let cost = |c: usize| 4 * n * copies(c) + 6 * (1 << (c - 1));
        (8..=MAX_WINDOW).min_by_key(|&c| cost(c)).unwrap_or(12)
    }

    /// Bytes of the table for `n` bases and window `c`.
    pub fn bytes(n: usize, c: usize) -> usize {
        n * copies(c.clamp(2, MAX_WINDOW)) * std::mem::size_of::<Affine<P>>()
    }

    /// The table of `bases` for window `c` (clamped to `2..=15`), or
    /// `None` if `P`'s GLV constants do not fit ([`crate::msm`] then).
    pub fn new(bases: &[Affine<P>], c: usize) -> Option<Self> {
        let glv = Glv::new::<P>()?;
        let c = c.clamp(2, MAX_WINDOW);
        let m = copies(c);
        let chunks: Vec<Vec<Affine<P>>> = bases
            .par_chunks(256)
            .map(|chunk| {
                let mut proj = Vec::with_capacity(chunk.len() * m);
                for p in chunk {
                    let mut q = Projective::from(*p);
                    for j in 0..m {
                        if j > 0 {
                            (0..c).for_each(|_| {
                                q.double_in_place();
                            });
                        }
                        proj.push(q);
                    }
                }
                Projective::normalize_batch(&proj)
            })
            .collect();
        Some(FixedBases {
            table: chunks.concat(),
            len: bases.len(),
            c,
            copies: m,
            glv,
        })
    }

    /// The number of bases.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no bases.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The table's size in bytes.
    pub fn memory(&self) -> usize {
        self.table.len() * std::mem::size_of::<Affine<P>>()
    }

    /// `Σ scalars_i·bases_i` over the first `min(len, scalars.len())`
    /// terms, as [`crate::msm`].
    pub fn msm(&self, scalars: &[BigInt<P>]) -> Projective<P> {
        let entries = self.entries(scalars);
        let mut digits = vec![0i16; entries.len() * self.copies];
        digits
            .par_chunks_mut(self.copies)
            .zip(entries.par_iter())
            .for_each(|(out, (_, _, h))| recode(&big::<P>(h.mag), h.neg, self.c, out));
        let nb = 1usize << (self.c - 1);
        let tasks = rayon::current_num_threads().clamp(1, (nb / MIN_RANGE).max(1));
        let step = nb.div_ceil(tasks);
        (0..tasks)
            .into_par_iter()
            .map(|t| {
                let (lo, hi) = (t * step, ((t + 1) * step).min(nb));
                self.range_sum(&entries, &digits, lo, hi)
            })
            .sum()
    }

    /// The half-width terms of `scalars`, skipping zeros and bases at
    /// infinity.
    fn entries(&self, scalars: &[BigInt<P>]) -> Vec<Entry> {
        let n = self.len.min(scalars.len());
        (0..n)
            .into_par_iter()
            .flat_map_iter(|i| {
                let mut out = [None, None];
                if !self.table[i * self.copies].is_zero()
                    && let Some((mag, neg)) = signed::<P::ScalarField>(&scalars[i])
                {
                    out = self.halves(i, &mag, neg);
                }
                out.into_iter().flatten()
            })
            .collect()
    }

    /// `±mag` as one whole term (below 2^64) or two GLV halves.
    fn halves(&self, i: usize, mag: &BigInt<P>, neg: bool) -> [Option<Entry>; 2] {
        if mag.num_bits() <= 64 {
            let h = Half {
                mag: u128::from(mag.as_ref()[0]),
                neg,
            };
            return [Some((i, false, h)), None];
        }
        let [mut k1, mut k2] = self.glv.split(mag.as_ref());
        k1.neg ^= neg;
        k2.neg ^= neg;
        let keep = |phi, h: Half| (h.mag != 0).then_some((i, phi, h));
        [keep(false, k1), keep(true, k2)]
    }

    /// `Σ d·P` over the digits `d` with `|d| − 1 ∈ [lo, hi)`.
    fn range_sum(&self, entries: &[Entry], digits: &[i16], lo: usize, hi: usize) -> Projective<P> {
        let nb = hi - lo;
        let (weighted, total) = if nb >= MIN_RANGE {
            let buckets = AffineBuckets::new(nb, fixed_batch(nb));
            self.accumulate(buckets, entries, digits, lo, hi)
        } else {
            self.accumulate(XyzzBuckets::new(nb), entries, digits, lo, hi)
        };
        // Bucket b holds weight b + 1 = (b − lo + 1) + lo.
        Projective::from(weighted) + Projective::from(total) * P::ScalarField::from(lo as u64)
    }

    /// Feeds the range's digits to `buckets`.
    fn accumulate(
        &self,
        mut buckets: impl Buckets<P>,
        entries: &[Entry],
        digits: &[i16],
        lo: usize,
        hi: usize,
    ) -> (Bucket<P>, Bucket<P>) {
        for ((i, phi, _), ds) in entries.iter().zip(digits.chunks_exact(self.copies)) {
            let row = &self.table[i * self.copies..][..self.copies];
            for (p, &d) in row.iter().zip(ds) {
                let b = (d.unsigned_abs() as usize).wrapping_sub(1);
                if b < lo || b >= hi {
                    continue;
                }
                let p = if *phi { P::endomorphism_affine(p) } else { *p };
                buckets.add(b - lo, if d < 0 { -p } else { p });
            }
        }
        buckets.finish_sums()
    }
}

/// Batch size for a range of `nb` buckets: a quarter (a half to an eighth
/// measured the same; two ranges per thread instead of one, 10% slower).
fn fixed_batch(nb: usize) -> usize {
    (nb / 4).min(1024)
}

/// Copies per base for window `c`: the windows of a [`HALF_BITS`] half.
fn copies(c: usize) -> usize {
    window_count(HALF_BITS, c)
}
