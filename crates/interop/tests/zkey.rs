//! Phase 2 of a Groth16 ceremony in snarkjs' `.zkey` format: `zkey new`
//! byte for byte against snarkjs 0.7.6 (a committed fixture made by
//! `snarkjs zkey new`, see `tests/data/README.md`), and strict reading.

use ark_bn254::Fr;
use ark_ff::One;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;
use veil_interop::{InteropError, NumberError, R1cs, SectionProblem, Witness, qap};
use veil_proofs::groth16::PreparedKey;

mod common;
use common::{PTAU, TOY_R1CS, TOY_ZKEY, TOY_ZKEY_1, split, toy, toy_witness};

#[test]
fn toy_r1cs_fixture_is_current() {
    let r1cs = toy();
    r1cs.check(&toy_witness()).unwrap();
    if std::env::var("VEIL_WRITE_FIXTURES").as_deref() == Ok("1") {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
        std::fs::write(format!("{dir}/toy.r1cs"), r1cs.to_bytes()).unwrap();
    }
    assert_eq!(r1cs.to_bytes(), TOY_R1CS);
}

#[test]
fn zkey_new_is_snarkjs_zkey_new_byte_for_byte() {
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    let r1cs = R1cs::from_bytes(TOY_R1CS).unwrap();
    let zkey = Zkey::new(&r1cs, &ptau).unwrap();
    let ours = zkey.to_bytes();
    if ours != TOY_ZKEY {
        let at = ours.iter().zip(TOY_ZKEY).position(|(a, b)| a != b);
        panic!(
            "differs at {at:?} (lengths {} vs {})",
            ours.len(),
            TOY_ZKEY.len()
        );
    }
    assert_eq!(Zkey::from_bytes(TOY_ZKEY).unwrap(), zkey);
}

fn toy_key() -> (Zkey, R1cs) {
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    let r1cs = toy();
    (Zkey::new(&r1cs, &ptau).unwrap(), r1cs)
}

#[test]
fn proof_with_snarkjs_zkey_verifies_in_veil() {
    let zkey = Zkey::from_bytes(TOY_ZKEY).unwrap();
    let r1cs = toy();
    let pk = zkey.proving_key();
    let w = Witness(toy_witness());
    let mut rng = ChaCha20Rng::from_seed([5; 32]);
    let proof = qap::prove(&pk, &r1cs, &w, &mut rng).unwrap();
    let vk = PreparedKey::new(&pk.vk);
    let statement = w.public_inputs(2).unwrap().to_vec();
    vk.verify(&statement, &proof).unwrap();
    let mut bad = statement.clone();
    bad[1] += Fr::one();
    assert!(vk.verify(&bad, &proof).is_err(), "altered statement");
    // A witness that does not satisfy the circuit is refused before proving.
    let mut wrong = w.clone();
    wrong.0[5] += Fr::one();
    assert!(matches!(
        qap::prove(&pk, &r1cs, &wrong, &mut rng),
        Err(InteropError::Unsatisfied(2))
    ));
    // So is a key for another shape.
    let mut other = toy();
    other.num_wires += 1;
    assert!(
        qap::prove(
            &pk,
            &other,
            &Witness([w.0.clone(), vec![Fr::one()]].concat()),
            &mut rng
        )
        .is_err()
    );
}

#[test]
fn circom_reduction_agrees_with_arkworks_setup() {
    // arkworks' own generator with the circom H query, then proving through
    // the same reduction: the reduction is a QAP on its own.
    use ark_groth16::Groth16;
    use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError};
    #[derive(Clone)]
    struct FromR1cs(R1cs, Option<Vec<Fr>>);
    impl ConstraintSynthesizer<Fr> for FromR1cs {
        fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
            let FromR1cs(r1cs, z) = self;
            let val = |i: usize| {
                z.as_ref()
                    .map(|z| z[i])
                    .ok_or(SynthesisError::AssignmentMissing)
            };
            let mut vars = vec![ark_relations::gr1cs::Variable::One];
            for i in 1..r1cs.num_wires as usize {
                vars.push(if i <= r1cs.num_public as usize {
                    cs.new_input_variable(|| val(i))?
                } else {
                    cs.new_witness_variable(|| val(i))?
                });
            }
            let lc = |l: &veil_interop::r1cs::Lc| {
                l.iter().fold(
                    ark_relations::gr1cs::LinearCombination::zero(),
                    |acc, (w, c)| acc + (*c, vars[*w as usize]),
                )
            };
            for k in &r1cs.constraints {
                cs.enforce_r1cs_constraint(|| lc(&k.a), || lc(&k.b), || lc(&k.c))?;
            }
            Ok(())
        }
    }
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let pk = Groth16::<ark_bn254::Bn254, qap::CircomReduction>::generate_random_parameters_with_reduction(
        FromR1cs(toy(), None),
        &mut rng,
    )
    .unwrap();
    let w = Witness(toy_witness());
    let proof = qap::prove(&pk, &toy(), &w, &mut rng).unwrap();
    PreparedKey::new(&pk.vk)
        .verify(w.public_inputs(2).unwrap(), &proof)
        .unwrap();
}

#[test]
fn veil_zkey_equals_snarkjs_zkey_as_proving_key() {
    let (zkey, _) = toy_key();
    assert_eq!(
        zkey.proving_key(),
        Zkey::from_bytes(TOY_ZKEY).unwrap().proving_key()
    );
}

fn zk(id: u32, f: impl FnOnce(&mut Vec<u8>)) -> Result<Zkey, InteropError> {
    Zkey::from_bytes(&common::edited(b"zkey", TOY_ZKEY, id, f))
}

fn binary(r: Result<Zkey, InteropError>) -> bool {
    matches!(r, Err(InteropError::Binary { .. }))
}

fn section(r: Result<Zkey, InteropError>) -> (u32, SectionProblem) {
    match r {
        Err(InteropError::Section { id, problem, .. }) => (id, problem),
        other => panic!("expected a section error, got {other:?}"),
    }
}

fn point(r: Result<Zkey, InteropError>) -> (String, &'static str) {
    match r {
        Err(InteropError::Point { what, reason }) => (what, reason),
        other => panic!("expected a point error, got {other:?}"),
    }
}

#[test]
fn damaged_zkey_container_is_refused() {
    for cut in 0..TOY_ZKEY.len() {
        assert!(Zkey::from_bytes(&TOY_ZKEY[..cut]).is_err(), "cut at {cut}");
    }
    let mut long = TOY_ZKEY.to_vec();
    long.push(0);
    assert!(Zkey::from_bytes(&long).is_err(), "trailing byte");
    let s = split(TOY_ZKEY);
    assert_eq!(
        s.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [1, 2, 4, 3, 9, 8, 5, 6, 7, 10],
        "snarkjs' section order"
    );
    for id in 1..=10 {
        let without: Vec<_> = s.iter().filter(|(i, _)| *i != id).cloned().collect();
        assert_eq!(
            section(Zkey::from_bytes(&common::join(b"zkey", &without))),
            (id, SectionProblem::Missing),
            "section {id}"
        );
    }
    let mut dup = s.clone();
    dup.push(s[6].clone());
    assert_eq!(
        section(Zkey::from_bytes(&common::join(b"zkey", &dup))),
        (5, SectionProblem::Duplicated)
    );
    let mut unknown = s.clone();
    unknown.push((11, vec![]));
    assert_eq!(
        section(Zkey::from_bytes(&common::join(b"zkey", &unknown))),
        (11, SectionProblem::Unknown)
    );
    // One point too many in A.
    let (id, problem) = section(zk(5, |b| b.extend_from_slice(&[0; 64])));
    assert_eq!(id, 5);
    assert!(matches!(problem, SectionProblem::Length { .. }));
}

#[test]
fn bad_zkey_headers_are_refused() {
    let unsupported = |r: Result<Zkey, InteropError>| match r {
        Err(InteropError::Unsupported { field, .. }) => field,
        other => panic!("expected an unsupported field, got {other:?}"),
    };
    assert_eq!(unsupported(zk(1, |b| b[0] = 2)), "protocol");
    assert_eq!(unsupported(zk(2, |b| b[0] = 48)), "base field");
    assert_eq!(unsupported(zk(2, |b| b[4] ^= 1)), "base field");
    assert_eq!(unsupported(zk(2, |b| b[40] ^= 1)), "prime");
    // Header: nVars at 72, nPublic at 76, domain size at 80.
    assert!(binary(zk(2, |b| b[80] = 7)), "domain not a power of two");
    assert!(
        binary(zk(2, |b| b[76] = 6)),
        "as many public inputs as wires"
    );
    // Points: α·G1 at 84, β·G2 at 212, δ·G1 at 468.
    let (what, why) = point(zk(2, |b| b[84 + 32] ^= 1));
    assert_eq!(
        (what.as_str(), why),
        (".zkey header alpha_g1", "not on the curve")
    );
    let (_, why) = point(zk(2, |b| b[468..532].fill(0)));
    assert_eq!(why, "the point at infinity");
    let q = ark_ff::BigInteger::to_bytes_le(&<ark_bn254::Fq as ark_ff::PrimeField>::MODULUS);
    let r = zk(2, |b| b[212..244].copy_from_slice(&q));
    assert!(matches!(
        r,
        Err(InteropError::Number {
            reason: NumberError::NotReduced,
            ..
        })
    ));
}

#[test]
fn bad_zkey_points_and_coefficients_are_refused() {
    let zkey = Zkey::from_bytes(TOY_ZKEY).unwrap();
    // Unused wires are the point at infinity (wire 5 is in no A, no B).
    assert!(ark_ec::AffineRepr::is_zero(&zkey.a[5]));
    assert!(ark_ec::AffineRepr::is_zero(&zkey.b_g2[5]));
    let (what, why) = point(zk(5, |b| b[64 + 40] ^= 1));
    assert_eq!(
        (what.as_str(), why),
        (".zkey section 5 (A) point 1", "not on the curve")
    );
    let (_, why) = point(zk(9, |b| b[128..192].fill(0)));
    assert_eq!(why, "the point at infinity", "H never is");
    let (_, why) = point(zk(7, |b| b[0] ^= 1));
    assert_eq!(why, "not on the curve");
    // Coefficients: count, then (matrix, row, wire, value·R²) of 44 bytes.
    assert!(binary(zk(4, |b| b[4] = 2)), "matrix 2");
    assert!(binary(zk(4, |b| b[8] = 8)), "row ≥ domain size");
    assert!(binary(zk(4, |b| b[12] = 6)), "wire ≥ wires");
    assert!(binary(zk(4, |b| b[0] += 1)), "count");
    let r = ark_ff::BigInteger::to_bytes_le(&<Fr as ark_ff::PrimeField>::MODULUS);
    assert!(matches!(
        zk(4, |b| b[16..48].copy_from_slice(&r)),
        Err(InteropError::Number { .. })
    ));
    // Contributions: a count with no records behind it.
    assert!(binary(zk(10, |b| b[64] = 1)), "contribution count");
    assert!(binary(zk(10, |b| b.push(0))), "trailing byte in section 10");
}

/// Timings of phase 2 for `access` (2^14) without snarkjs; a benchmark, not
/// a check: `cargo test -p veil-interop --test zkey -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_access_phase2() {
    use std::time::Instant;
    use veil_interop::{export, ptau};
    use veil_proofs::CircuitId;
    fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let v = f();
        eprintln!("{what}: {:.2} s", t.elapsed().as_secs_f64());
        v
    }
    let r1cs = export::circuit_r1cs(CircuitId::Access).unwrap();
    let (statement, w) = export::sample_witness(CircuitId::Access).unwrap();
    let bytes = timed("insecure_prepared_ptau(14)", || {
        ptau::insecure_prepared_ptau(14, [14; 32]).unwrap()
    });
    let p = timed("Ptau::from_bytes 2^14", || {
        Ptau::from_bytes(&bytes).unwrap()
    });
    let mut rng = ChaCha20Rng::from_seed([1; 32]);
    timed("Ptau::check_powers 2^14", || {
        p.check_powers(&mut rng).unwrap()
    });
    let zkey = timed("Zkey::new access", || Zkey::new(&r1cs, &p).unwrap());
    let out = timed("Zkey::to_bytes access", || zkey.to_bytes());
    let back = timed("Zkey::from_bytes access", || {
        Zkey::from_bytes(&out).unwrap()
    });
    assert_eq!(back, zkey);
    let pk = zkey.proving_key();
    let proof = timed("qap::prove access", || {
        qap::prove(&pk, &r1cs, &w, &mut rng).unwrap()
    });
    PreparedKey::new(&pk.vk).verify(&statement, &proof).unwrap();
}

fn check(z: &Zkey) -> Result<(), InteropError> {
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    z.check_against(&toy(), &ptau, &mut ChaCha20Rng::from_seed([4; 32]))
}

fn failed(r: Result<(), InteropError>) -> &'static str {
    match r {
        Err(InteropError::Inconsistent { check, .. }) => check,
        other => panic!("expected an inconsistency, got {other:?}"),
    }
}

#[test]
fn snarkjs_contributed_zkey_matches_the_circuit_and_proves() {
    let initial = Zkey::from_bytes(TOY_ZKEY).unwrap();
    check(&initial).unwrap();
    let z = Zkey::from_bytes(TOY_ZKEY_1).unwrap();
    assert_eq!(z.contributions.len(), 1);
    assert_eq!(z.contributions[0].name.as_deref(), Some("toy contributor"));
    assert_ne!(z.delta_g1, initial.delta_g1);
    check(&z).unwrap();
    // A proof under the contributed key verifies in veil.
    let pk = z.proving_key();
    let w = Witness(toy_witness());
    let proof = qap::prove(&pk, &toy(), &w, &mut ChaCha20Rng::from_seed([2; 32])).unwrap();
    PreparedKey::new(&pk.vk)
        .verify(w.public_inputs(2).unwrap(), &proof)
        .unwrap();
}

/// The initial key rebuilt around a contributed key's checked `A` and `B`
/// is snarkjs' `zkey new` output byte for byte.
#[test]
fn initial_for_a_contributed_key_is_snarkjs_initial_key() {
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    let z = Zkey::from_bytes(TOY_ZKEY_1).unwrap();
    let init = z
        .initial_for(&toy(), &ptau, &mut ChaCha20Rng::from_seed([6; 32]))
        .unwrap();
    assert_eq!(init.to_bytes(), TOY_ZKEY);
}

#[test]
fn zkey_not_matching_the_circuit_is_refused() {
    let z = Zkey::from_bytes(TOY_ZKEY_1).unwrap();
    let keep = "the parts contributions keep equal the circuit's initial key";
    let mut other = z.clone();
    other.ic.swap(0, 1);
    assert_eq!(failed(check(&other)), keep, "IC");
    let mut other = z.clone();
    other.coefficients[0].value += Fr::one();
    assert_eq!(failed(check(&other)), keep, "coefficient");
    let columns = "A, B·G1 and B·G2 are the circuit's";
    let mut other = z.clone();
    other.b_g2.swap(0, 3);
    assert_eq!(failed(check(&other)), columns, "B·G2");
    let mut other = z.clone();
    other.b_g1.swap(0, 3);
    assert_eq!(failed(check(&other)), columns, "B·G1");
    let mut other = z.clone();
    other.a[2] = other.a[3];
    assert_eq!(failed(check(&other)), columns, "A");
    let mut other = z.clone();
    other.a.pop();
    assert_eq!(failed(check(&other)), columns, "A's length");
    // Another circuit: the toy with one coefficient changed.
    let mut r1cs = toy();
    r1cs.constraints[2].a[0].1 = f6();
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    assert!(
        z.check_against(&r1cs, &ptau, &mut ChaCha20Rng::from_seed([4; 32]))
            .is_err()
    );

    let mut other = z.clone();
    other.c.swap(0, 1);
    assert_eq!(
        failed(check(&other)),
        "C (snarkjs' L section) is the circuit's divided by δ"
    );
    let mut other = z.clone();
    other.h[3] = other.h[4];
    assert_eq!(
        failed(check(&other)),
        "H section is the circuit's divided by δ"
    );
    // δ·G2 of the initial key with the contributed δ·G1.
    let mut other = z.clone();
    other.delta_g2 = Zkey::from_bytes(TOY_ZKEY).unwrap().delta_g2;
    assert_eq!(failed(check(&other)), "δ·G1 and δ·G2 share δ");
    // A contributed δ with the record dropped.
    let mut other = z.clone();
    other.contributions.clear();
    assert_eq!(failed(check(&other)), "δ·G1 is the last contribution's");
}

fn f6() -> Fr {
    Fr::from(6u64)
}

#[test]
fn zkey_new_refuses_malformed_systems_and_small_ptau() {
    let ptau = Ptau::from_bytes(PTAU).unwrap();
    let mut r1cs = toy();
    r1cs.constraints[0].a.push((6, Fr::one()));
    assert!(Zkey::new(&r1cs, &ptau).is_err(), "wire beyond the count");
    let mut r1cs = toy();
    r1cs.num_public = 6;
    assert!(Zkey::new(&r1cs, &ptau).is_err(), "all wires public");
    // 16 rows + 2 inputs need 2^5 > 2^4.
    let mut r1cs = toy();
    let row = r1cs.constraints[0].clone();
    r1cs.constraints.resize(16, row);
    assert!(matches!(
        Zkey::new(&r1cs, &ptau),
        Err(InteropError::Unsupported { field: "power", .. })
    ));
    // An unprepared ptau (no sections 12-15).
    let mut unprepared = ptau.clone();
    unprepared.lagrange = None;
    assert!(matches!(
        Zkey::new(&toy(), &unprepared),
        Err(InteropError::Unsupported {
            field: "phase-2 preparation",
            ..
        })
    ));
}
