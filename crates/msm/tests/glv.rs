//! `veil_msm::msm_glv` (GLV halves, issue 12) and `FixedBases::msm`
//! (precomputed tables) equal arkworks' `msm_bigint` on BN254 G1 and G2:
//! random mixes of widths and bases, the edge cases, and scalars whose
//! halves sit at the decomposition's bound.

use ark_bn254::Fr;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::{CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{BigInteger, Field, PrimeField, UniformRand};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use veil_msm::{BigInt, FixedBases};

type G1 = ark_bn254::g1::Config;
type G2 = ark_bn254::g2::Config;

/// A scalar of a random kind, including `a + λ·b` with `|a|, |b|` near
/// 2^127 (halves at the bound).
fn scalar<P: GLVConfig<ScalarField = Fr>>(rng: &mut ChaCha20Rng) -> Fr {
    let top = |rng: &mut ChaCha20Rng| {
        let m: u128 = (1 << 127) - 1 - rng.r#gen::<u128>() % (1 << 90);
        if rng.r#gen() {
            -Fr::from(m)
        } else {
            Fr::from(m)
        }
    };
    match rng.gen_range(0..11) {
        0 => Fr::from(0u64),
        1 => Fr::from(1u64),
        2 => -Fr::from(1u64),
        3 => Fr::from(rng.gen_range(2u64..300)),
        4 => -Fr::from(rng.r#gen::<u64>()),
        5 => Fr::from(u64::MAX) + Fr::from(rng.gen_range(0u64..3)),
        6 => top(rng) + P::LAMBDA * top(rng),
        7 => P::LAMBDA * Fr::from(rng.gen_range(1u64..4)),
        _ => Fr::rand(rng),
    }
}

/// `n` terms: mostly random bases, some repeated, negated or at infinity.
fn terms<P: GLVConfig<ScalarField = Fr>>(seed: u64, n: usize) -> (Vec<Affine<P>>, Vec<BigInt<P>>) {
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
    let scalars = (0..n)
        .map(|_| scalar::<P>(&mut rng).into_bigint())
        .collect();
    (bases, scalars)
}

fn check<P>(bases: &[Affine<P>], scalars: &[BigInt<P>], windows: &[usize])
where
    P: GLVConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let want = <Projective<P> as VariableBaseMSM>::msm_bigint(bases, scalars);
    assert_eq!(veil_msm::msm_glv(bases, scalars), want, "default window");
    let fixed = |c| FixedBases::new(bases, c).expect("BN254 has GLV");
    let c = FixedBases::<P>::window_for(bases.len());
    assert_eq!(fixed(c).msm(scalars), want, "fixed, default window");
    for &c in windows {
        let got = veil_msm::msm_glv_with_window(bases, scalars, Some(c));
        assert_eq!(got, want, "c = {c}");
        assert_eq!(fixed(c).msm(scalars), want, "fixed, c = {c}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_mixes_equal_arkworks_in_g1(seed: u64, n in 0usize..700, c in 2usize..=15) {
        let (b, s) = terms::<G1>(seed, n);
        check(&b, &s, &[c]);
    }

    #[test]
    fn random_mixes_equal_arkworks_in_g2(seed: u64, n in 0usize..400, c in 2usize..=15) {
        let (b, s) = terms::<G2>(seed, n);
        check(&b, &s, &[c]);
    }
}

fn edge_cases<P>()
where
    P: GLVConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let g = Projective::<P>::generator().into_affine();
    let h = (Projective::<P>::generator() * Fr::from(7u64)).into_affine();
    let big = |f: Fr| f.into_bigint();
    let r_minus_1 = big(-Fr::from(1u64));
    let wide = big(Fr::from(3u64).pow([100u64]));
    let lambda = big(P::LAMBDA);
    check::<P>(&[], &[], &[2, 12]);
    check(&[g, h], &[big(Fr::from(0u64)); 2], &[2, 12]);
    check(&[g], &[big(Fr::from(1u64))], &[2, 12]);
    check(&[g, h], &[r_minus_1, r_minus_1], &[2, 12]);
    check(&[Affine::identity(), g], &[wide, wide], &[2, 12]);
    check(
        &[g, -g, h, -h],
        &[wide, wide, r_minus_1, lambda],
        &[2, 9, 12],
    );
    check(
        &[g, h, g],
        &[lambda, big(-P::LAMBDA), big(P::LAMBDA + Fr::from(1u64))],
        &[2, 12],
    );
    let mut unreduced = Fr::MODULUS;
    unreduced.add_with_carry(&big(Fr::from(5u64)));
    check(&[g, h], &[unreduced, Fr::MODULUS], &[2, 12]);
    check(&[g, h, g], &[wide, wide], &[12]);
    // One base, one wide scalar, many times: bucket collisions.
    let n = 600;
    check(&vec![h; n], &vec![wide; n], &[9, 12]);
    let alternating: Vec<_> = (0..n).map(|i| if i % 2 == 0 { h } else { -h }).collect();
    check(&alternating, &vec![wide; n], &[9, 12]);
}

#[test]
fn edge_cases_equal_arkworks_in_g1() {
    edge_cases::<G1>();
}

#[test]
fn edge_cases_equal_arkworks_in_g2() {
    edge_cases::<G2>();
}

/// Full-width scalars at sizes around batch and window boundaries.
#[test]
fn sizes_around_batch_and_window_boundaries_equal_arkworks() {
    for n in [21, 22, 41, 42, 43, 128, 129, 171, 172, 3_000] {
        let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
        let g = Projective::<G1>::generator();
        let pts: Vec<_> = (0..n).map(|_| g * Fr::rand(&mut rng)).collect();
        let s: Vec<_> = (0..n).map(|_| Fr::rand(&mut rng).into_bigint()).collect();
        check(&Projective::normalize_batch(&pts), &s, &[9, 10, 11]);
    }
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let g = Projective::<G2>::generator();
    let pts: Vec<_> = (0..2_500).map(|_| g * Fr::rand(&mut rng)).collect();
    let s: Vec<_> = (0..2_500)
        .map(|_| Fr::rand(&mut rng).into_bigint())
        .collect();
    check(&Projective::normalize_batch(&pts), &s, &[]);
}

/// A table serves any prefix of its bases, and ignores extra scalars.
#[test]
fn fixed_tables_truncate_like_arkworks() {
    let (bases, scalars) = terms::<G1>(3, 300);
    let table = FixedBases::new(&bases, 13).expect("BN254 has GLV");
    for (nb, ns) in [(300, 120), (300, 300), (120, 300)] {
        let want = Projective::<G1>::msm_bigint(&bases[..nb], &scalars[..ns]);
        let t = if nb == 300 {
            &table
        } else {
            &FixedBases::new(&bases[..nb], 13).expect("GLV")
        };
        assert_eq!(t.msm(&scalars[..ns]), want, "{nb} bases, {ns} scalars");
    }
    assert_eq!(table.len(), 300);
    assert_eq!(table.memory(), FixedBases::<G1>::bytes(300, 13));
}
