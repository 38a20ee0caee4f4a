//! The last step of a Groth16 proof: the five multi-scalar
//! multiplications over the proving key and their combination into
//! `(A, B, C)`, each MSM timed (issue 12: measure where the prover's time
//! goes before replacing any part of it).
//!
//! [`assemble`] computes exactly what ark-groth16 0.6's
//! `create_proof_with_assignment` computes, the same group elements, so
//! the same `(r, s)` gives the same proof bytes
//! (`assemble_equals_arkworks` below). Each MSM is [`veil_msm::msm`]
//! (signed windows, batch-affine buckets: `docs/benchmarks.md`
//! "Batch-affine MSM (issue 12)"), which equals arkworks' `msm_bigint`.
//!
//! With `z = [1, x…, w…]` the full assignment and `h` the witness map's
//! output (`docs/protocol.md` §7.3):
//!
//! - `A = α + Σ z_i·A_i + r·δ` (G1, [`MsmTimes::a_g1`]);
//! - `B = β + Σ z_i·B_i + s·δ` in G2 ([`MsmTimes::b_g2`]) and in G1
//!   ([`MsmTimes::b_g1`], only for `C`);
//! - `C = s·A + r·B₁ − r·s·δ + Σ h_i·H_i` ([`MsmTimes::h_g1`])
//!   `+ Σ w_i·L_i` ([`MsmTimes::l_g1`]).

use std::time::{Duration, Instant};

use ark_bn254::{Bn254, Fr, G1Projective, G2Projective};
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInteger, BigInteger256, PrimeField};
use veil_msm::FixedBases;

/// The proving key (`crate::groth16::ProvingKey`, named here from arkworks
/// so that this module does not import the one that calls it).
type ProvingKey = ark_groth16::ProvingKey<Bn254>;

/// Time and size of each of a proof's five MSMs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsmTimes {
    /// `Σ z_i·A_i` in G1.
    pub a_g1: MsmRun,
    /// `Σ z_i·B_i` in G1.
    pub b_g1: MsmRun,
    /// `Σ z_i·B_i` in G2.
    pub b_g2: MsmRun,
    /// `Σ h_i·H_i` in G1 (the quotient polynomial).
    pub h_g1: MsmRun,
    /// `Σ w_i·L_i` in G1 (the private witness).
    pub l_g1: MsmRun,
}

impl MsmTimes {
    /// The five MSMs' total time.
    pub fn total(&self) -> Duration {
        [self.a_g1, self.b_g1, self.b_g2, self.h_g1, self.l_g1]
            .iter()
            .map(|m| m.time)
            .sum()
    }
}

/// One MSM: its time, its length, and how many of its terms do work (a
/// scalar other than 0 on a base other than the identity) and how many of
/// those are full width. arkworks 0.6 sorts the scalars by size: a scalar
/// `s` or `−s` below 2^64 takes a cheap path, only the rest (`wide`) go
/// through the full bucket method.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsmRun {
    pub time: Duration,
    /// Terms (bases) in the MSM.
    pub terms: usize,
    /// Terms with a non-zero scalar and a base other than the identity.
    pub nonzero: usize,
    /// Of those, terms whose scalar `s` and `−s` are both ≥ 2^64.
    pub wide: usize,
}

/// `Σ scalars_i·bases_i` (through `table` if given, which must hold
/// `bases`), timed and counted.
fn msm<P>(
    bases: &[Affine<P>],
    table: Option<&FixedBases<P>>,
    scalars: &[BigInteger256],
    out: &mut MsmRun,
) -> Projective<P>
where
    P: GLVConfig,
    P::ScalarField: PrimeField<BigInt = BigInteger256>,
{
    let wide = |s: &BigInteger256| {
        let mut neg = P::ScalarField::MODULUS;
        neg.sub_with_borrow(s);
        s.num_bits() > 64 && neg.num_bits() > 64
    };
    let (mut nonzero, mut wide_terms) = (0, 0);
    for (b, s) in bases.iter().zip(scalars) {
        if !s.is_zero() && !b.is_zero() {
            nonzero += 1;
            wide_terms += usize::from(wide(s));
        }
    }
    let t = Instant::now();
    let acc = match table {
        // A table built from other bases (a caller's mistake) is not used.
        Some(t) if t.len() == bases.len() => t.msm(scalars),
        _ => veil_msm::msm_glv(bases, scalars),
    };
    *out = MsmRun {
        time: t.elapsed(),
        terms: bases.len().min(scalars.len()),
        nonzero,
        wide: wide_terms,
    };
    acc
}

/// The proof `(A, B, C)` for the full assignment `z` (`z[0] = 1`, then
/// `num_inputs − 1` public inputs, then the witness) and the witness map
/// `h`, with randomness `(r, s)`; every MSM timed into `times`.
pub fn assemble(
    pk: &ProvingKey,
    rs: (Fr, Fr),
    h: &[Fr],
    z: &[Fr],
    num_inputs: usize,
    times: &mut MsmTimes,
) -> ark_groth16::Proof<Bn254> {
    assemble_with(pk, &KeyTables::default(), rs, h, z, num_inputs, times)
}

/// [`assemble`] with fixed-base tables for some of `pk`'s queries
/// (`tables` must have been built from `pk`): the same proof.
pub fn assemble_with(
    pk: &ProvingKey,
    tables: &KeyTables,
    (r, s): (Fr, Fr),
    h: &[Fr],
    z: &[Fr],
    num_inputs: usize,
    times: &mut MsmTimes,
) -> ark_groth16::Proof<Bn254> {
    let t = tables;
    let big = |v: &[Fr]| v.iter().map(|x| x.into_bigint()).collect::<Vec<_>>();
    let h_acc: G1Projective = msm(&pk.h_query, t.h.as_ref(), &big(h), &mut times.h_g1);
    let assignment = big(z.get(1..).unwrap_or_default());
    let aux = assignment
        .get(num_inputs.saturating_sub(1)..)
        .unwrap_or_default();
    let l_acc: G1Projective = msm(&pk.l_query, t.l.as_ref(), aux, &mut times.l_g1);

    // Each query's first base is the constant wire's, added as arkworks does.
    let coeff = |query_0: G1Projective, acc: G1Projective| query_0 + acc;
    let a_acc: G1Projective = msm(&pk.a_query[1..], t.a.as_ref(), &assignment, &mut times.a_g1);
    let g_a = coeff(pk.delta_g1 * r + pk.a_query[0], a_acc) + pk.vk.alpha_g1;
    let b1_acc: G1Projective = msm(
        &pk.b_g1_query[1..],
        t.b_g1.as_ref(),
        &assignment,
        &mut times.b_g1,
    );
    let g1_b = coeff(pk.delta_g1 * s + pk.b_g1_query[0], b1_acc) + pk.beta_g1;
    let b2_acc: G2Projective = msm(
        &pk.b_g2_query[1..],
        t.b_g2.as_ref(),
        &assignment,
        &mut times.b_g2,
    );
    let g2_b = pk.vk.delta_g2 * s + pk.b_g2_query[0] + b2_acc + pk.vk.beta_g2;

    let mut g_c = g_a * s;
    g_c += g1_b * r;
    g_c -= pk.delta_g1 * (r * s);
    g_c += l_acc;
    g_c += h_acc;
    ark_groth16::Proof {
        a: g_a.into_affine(),
        b: g2_b.into_affine(),
        c: g_c.into_affine(),
    }
}

type G1 = ark_bn254::g1::Config;
type G2 = ark_bn254::g2::Config;

/// A query without its first base (the constant wire's).
fn tail<T>(query: &[T]) -> &[T] {
    query.get(1..).unwrap_or_default()
}

/// Fixed-base tables ([`veil_msm::FixedBases`]) for a proving key's
/// queries, each present if it fitted the memory budget; an absent one
/// runs the variable-base MSM (`docs/protocol.md` §7.3, issue 12).
#[derive(Default)]
pub struct KeyTables {
    a: Option<FixedBases<G1>>,
    b_g1: Option<FixedBases<G1>>,
    b_g2: Option<FixedBases<G2>>,
    h: Option<FixedBases<G1>>,
    l: Option<FixedBases<G1>>,
}

impl KeyTables {
    /// Tables for `pk`'s queries within `budget` bytes, the G2 query first
    /// (the largest gain per byte), then the G1 queries by size.
    pub fn new(pk: &ProvingKey, budget: usize) -> Self {
        let mut left = budget;
        let mut take = |n: usize, bytes: fn(usize, usize) -> usize| {
            let c = FixedBases::<G1>::window_for(n);
            let need = bytes(n, c);
            (n > 0 && need <= left).then(|| {
                left -= need;
                c
            })
        };
        let g1 = FixedBases::<G1>::bytes;
        let b2 = take(tail(&pk.b_g2_query).len(), FixedBases::<G2>::bytes);
        let h = take(pk.h_query.len(), g1);
        let a = take(tail(&pk.a_query).len(), g1);
        let l = take(pk.l_query.len(), g1);
        let b1 = take(tail(&pk.b_g1_query).len(), g1);
        let build =
            |bases: &[Affine<G1>], c: Option<usize>| c.and_then(|c| FixedBases::new(bases, c));
        KeyTables {
            b_g2: b2.and_then(|c| FixedBases::new(tail(&pk.b_g2_query), c)),
            h: build(&pk.h_query, h),
            a: build(tail(&pk.a_query), a),
            l: build(&pk.l_query, l),
            b_g1: build(tail(&pk.b_g1_query), b1),
        }
    }

    /// The tables' size in bytes.
    pub fn memory(&self) -> usize {
        let g1 = [&self.a, &self.b_g1, &self.h, &self.l];
        let g1: usize = g1
            .iter()
            .filter_map(|t| t.as_ref())
            .map(|t| t.memory())
            .sum();
        g1 + self.b_g2.as_ref().map_or(0, |t| t.memory())
    }
}
