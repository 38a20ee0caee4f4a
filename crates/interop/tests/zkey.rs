//! Phase 2 of a Groth16 ceremony in snarkjs' `.zkey` format: `zkey new`
//! byte for byte against snarkjs 0.7.6 (a committed fixture made by
//! `snarkjs zkey new`, see `tests/data/README.md`), and strict reading.

use ark_bn254::Fr;
use ark_ff::One;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;
use veil_interop::{InteropError, R1cs, Witness, qap};
use veil_proofs::groth16::PreparedKey;

mod common;
use common::{PTAU, TOY_R1CS, TOY_ZKEY, toy, toy_witness};

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
