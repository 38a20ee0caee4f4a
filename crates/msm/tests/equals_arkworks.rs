//! `veil_msm::msm` equals arkworks' `msm_bigint` on BN254 G1 and G2: random
//! mixes of scalar widths and bases, and the edge cases (empty input, zero
//! scalars, 1 and r − 1, repeated bases, a base and its negation, points
//! at infinity, window and batch boundaries).

use ark_bn254::Fr;
use ark_ec::short_weierstrass::{Affine, Projective, SWCurveConfig};
use ark_ec::{CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{BigInteger, Field, PrimeField, UniformRand};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use veil_msm::BigInt;

type G1 = ark_bn254::g1::Config;
type G2 = ark_bn254::g2::Config;

/// A scalar of a random kind: zero, ±1, small, ±u64, 2^64 neighbours,
/// or full width.
fn scalar(rng: &mut ChaCha20Rng) -> Fr {
    match rng.gen_range(0..10) {
        0 => Fr::from(0u64),
        1 => Fr::from(1u64),
        2 => -Fr::from(1u64),
        3 => Fr::from(rng.gen_range(2u64..300)),
        4 => -Fr::from(rng.gen_range(2u64..70_000)),
        5 => Fr::from(rng.r#gen::<u64>()),
        6 => -Fr::from(rng.r#gen::<u64>()),
        7 => Fr::from(u64::MAX) + Fr::from(rng.gen_range(0u64..3)),
        _ => Fr::rand(rng),
    }
}

/// `n` terms from `seed`: mostly random bases, some repeated, negated or
/// at infinity.
fn terms<P: SWCurveConfig<ScalarField = Fr>>(
    seed: u64,
    n: usize,
) -> (Vec<Affine<P>>, Vec<BigInt<P>>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let g = Projective::<P>::generator();
    let mut bases: Vec<Affine<P>> = Vec::with_capacity(n);
    for i in 0..n {
        let b = match rng.gen_range(0..12) {
            0 if i > 0 => bases[rng.gen_range(0..i)],
            1 if i > 0 => -bases[rng.gen_range(0..i)],
            2 => Affine::identity(),
            _ => (g * Fr::rand(&mut rng)).into_affine(),
        };
        bases.push(b);
    }
    let scalars = (0..n).map(|_| scalar(&mut rng).into_bigint()).collect();
    (bases, scalars)
}

/// Asserts that every window width gives arkworks' result.
fn check<P>(bases: &[Affine<P>], scalars: &[BigInt<P>], windows: &[usize])
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let want = <Projective<P> as VariableBaseMSM>::msm_bigint(bases, scalars);
    assert_eq!(veil_msm::msm(bases, scalars), want, "default window");
    for &c in windows {
        assert_eq!(
            veil_msm::msm_with_window(bases, scalars, Some(c)),
            want,
            "c = {c}"
        );
    }
}

fn random_mix<P>(seed: u64, n: usize, c: usize)
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let (bases, scalars) = terms::<P>(seed, n);
    check(&bases, &scalars, &[c]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_mixes_equal_arkworks_in_g1(seed: u64, n in 0usize..700, c in 2usize..=15) {
        random_mix::<G1>(seed, n, c);
    }

    #[test]
    fn random_mixes_equal_arkworks_in_g2(seed: u64, n in 0usize..400, c in 2usize..=15) {
        random_mix::<G2>(seed, n, c);
    }
}

fn edge_cases<P>()
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let g = Projective::<P>::generator().into_affine();
    let h = (Projective::<P>::generator() * Fr::from(7u64)).into_affine();
    let big = |f: Fr| f.into_bigint();
    let r_minus_1 = big(-Fr::from(1u64));
    let wide = big(Fr::from(3u64).pow([100u64]));
    check::<P>(&[], &[], &[2, 12]);
    check(&[g, h], &[big(Fr::from(0u64)); 2], &[2, 12]);
    check(&[g], &[big(Fr::from(1u64))], &[2, 12]);
    check(&[g, h], &[r_minus_1, r_minus_1], &[2, 12]);
    check(&[Affine::identity(), g], &[wide, wide], &[2, 12]);
    check(
        &[g, -g, h, -h],
        &[wide, wide, r_minus_1, big(Fr::from(1u64))],
        &[2, 9, 12],
    );
    // Scalars as large as the limbs hold (not reduced below r).
    let mut unreduced = Fr::MODULUS;
    unreduced.add_with_carry(&big(Fr::from(5u64)));
    check(&[g, h], &[unreduced, Fr::MODULUS], &[2, 12]);
    // Truncation to the shorter input.
    check(&[g, h, g], &[wide, wide], &[12]);
}

#[test]
fn edge_cases_equal_arkworks_in_g1() {
    edge_cases::<G1>();
}

#[test]
fn edge_cases_equal_arkworks_in_g2() {
    edge_cases::<G2>();
}

/// One base and one scalar `n` times: every window's digit hits the same
/// bucket `n` times (doubling, then the collision queue, then overflow).
fn repeated<P>(n: usize)
where
    P: SWCurveConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let g = (Projective::<P>::generator() * Fr::from(11u64)).into_affine();
    let s = (Fr::from(5u64).pow([90u64])).into_bigint();
    check(&vec![g; n], &vec![s; n], &[9, 12]);
    let alternating: Vec<_> = (0..n).map(|i| if i % 2 == 0 { g } else { -g }).collect();
    check(&alternating, &vec![s; n], &[9, 12]);
}

#[test]
fn repeated_bases_equal_arkworks() {
    repeated::<G1>(1_500);
    repeated::<G2>(700);
}

/// Full-width scalars around batch sizes (`2^(c−1)/6`) and bucket counts,
/// and sizes where the default window takes affine buckets.
#[test]
fn sizes_around_batch_and_window_boundaries_equal_arkworks() {
    for n in [41, 42, 43, 85, 86, 255, 256, 257, 341, 342] {
        let (bases, scalars) = wide_terms::<G1>(n as u64, n);
        check(&bases, &scalars, &[9, 10, 11]);
    }
    for n in [3_000, 5_000] {
        let (bases, scalars) = wide_terms::<G1>(n as u64, n);
        check(&bases, &scalars, &[]);
        let (bases, scalars) = wide_terms::<G2>(n as u64, n);
        check(&bases, &scalars, &[]);
    }
}

/// `n` distinct random bases with full-width random scalars.
fn wide_terms<P: SWCurveConfig<ScalarField = Fr>>(
    seed: u64,
    n: usize,
) -> (Vec<Affine<P>>, Vec<BigInt<P>>) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let g = Projective::<P>::generator();
    let points: Vec<_> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
    let scalars = (0..n).map(|_| Fr::rand(&mut rng).into_bigint()).collect();
    (Projective::normalize_batch(&points), scalars)
}

#[test]
fn the_narrow_and_unit_classes_are_nonempty_in_the_mix() {
    // Guards `scalar` above: the mixes exercise all three classes.
    let (_, scalars) = terms::<G1>(1, 200);
    let widths: Vec<u32> = scalars.iter().map(|s| s.num_bits()).collect();
    assert!(widths.contains(&1));
    assert!(widths.iter().any(|&b| (2..=64).contains(&b)));
    assert!(widths.iter().any(|&b| b > 64));
}
