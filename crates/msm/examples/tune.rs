//! Window tuning on a shared machine: wall and CPU time (from
//! `/proc/self/stat`) of arkworks' and veil's MSM on random full-width
//! scalars. `cargo run --release -p veil-msm --example tune -- g2 9537 9,10,11,12`

use std::time::Instant;

use ark_bn254::Fr;
use ark_ec::scalar_mul::glv::GLVConfig;
use ark_ec::short_weierstrass::{Affine, Projective};
use ark_ec::{CurveGroup, PrimeGroup, VariableBaseMSM};
use ark_ff::{PrimeField, UniformRand};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// utime + stime of this process, in seconds.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 (utime, stime) are the 12th and 13th after ')'.
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn run<P>(n: usize, windows: &[usize], reps: usize)
where
    P: GLVConfig<ScalarField = Fr>,
    Projective<P>: VariableBaseMSM<MulBase = Affine<P>, ScalarField = Fr>,
{
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let base = Projective::<P>::generator() * Fr::rand(&mut rng);
    // Cheap distinct bases: successive sums (the MSM does not care).
    let mut acc = base;
    let points: Vec<_> = (0..n)
        .map(|_| {
            acc += base;
            acc
        })
        .collect();
    let bases = Projective::normalize_batch(&points);
    let scalars: Vec<_> = (0..n).map(|_| Fr::rand(&mut rng).into_bigint()).collect();
    let time = |name: String, f: &dyn Fn() -> Projective<P>| {
        let (t, c) = (Instant::now(), cpu());
        for _ in 0..reps {
            let _ = std::hint::black_box(f());
        }
        let (wall, cpu_s) = (t.elapsed().as_secs_f64(), cpu() - c);
        println!(
            "{name:>10} n={n}: wall {:.1} ms, cpu {:.1} ms per call",
            wall * 1e3 / reps as f64,
            cpu_s * 1e3 / reps as f64
        );
    };
    time("arkworks".into(), &|| {
        Projective::<P>::msm_bigint(&bases, &scalars)
    });
    time("veil".into(), &|| veil_msm::msm(&bases, &scalars));
    time("veil-glv".into(), &|| veil_msm::msm_glv(&bases, &scalars));
    let fixed_windows = if windows.is_empty() {
        vec![veil_msm::FixedBases::<P>::window_for(n)]
    } else {
        windows.to_vec()
    };
    for &c in &fixed_windows {
        let t = Instant::now();
        let Some(table) = veil_msm::FixedBases::new(&bases, c) else {
            continue;
        };
        println!(
            "table c={c}: {:.1} MB, built in {:.0} ms",
            table.memory() as f64 / 1e6,
            t.elapsed().as_secs_f64() * 1e3
        );
        time(format!("fixed c={c}"), &|| table.msm(&scalars));
    }
    for &c in windows {
        time(format!("veil c={c}"), &|| {
            veil_msm::msm_with_window(&bases, &scalars, Some(c))
        });
        time(format!("glv c={c}"), &|| {
            veil_msm::msm_glv_with_window(&bases, &scalars, Some(c))
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(9_537);
    let windows: Vec<usize> = args.get(3).map_or(vec![], |s| {
        s.split(',').filter_map(|w| w.parse().ok()).collect()
    });
    match args.get(1).map(String::as_str) {
        Some("g1") => run::<ark_bn254::g1::Config>(n, &windows, 10),
        _ => run::<ark_bn254::g2::Config>(n, &windows, 5),
    }
}
