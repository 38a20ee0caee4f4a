//! Phase 2 of a Groth16 ceremony in snarkjs' `.zkey` format: `zkey new`
//! byte for byte against snarkjs 0.7.6 (a committed fixture made by
//! `snarkjs zkey new`, see `tests/data/README.md`), and strict reading.

use ark_bn254::Fr;
use ark_ff::One;
use veil_interop::ptau::Ptau;
use veil_interop::zkey::Zkey;
use veil_interop::{Constraint, R1cs};

const PTAU: &[u8] = include_bytes!("data/pot4_final.ptau");
const TOY_R1CS: &[u8] = include_bytes!("data/toy.r1cs");
const TOY_ZKEY: &[u8] = include_bytes!("data/toy_0000.zkey");

fn f(x: u64) -> Fr {
    Fr::from(x)
}

/// Public `x`, `y`; private `w1, w2, w3`: `w1·w1 = x`, `(2x + w1)·1 = y`,
/// `5w1·(3 + 7w2) = w3`. Wire 4 is in no A, wire 5 in no A or B (points at
/// infinity in the key).
pub fn toy() -> R1cs {
    let one = Fr::one();
    R1cs {
        num_public: 2,
        num_wires: 6,
        constraints: vec![
            Constraint {
                a: vec![(3, one)],
                b: vec![(3, one)],
                c: vec![(1, one)],
            },
            Constraint {
                a: vec![(1, f(2)), (3, one)],
                b: vec![(0, one)],
                c: vec![(2, one)],
            },
            Constraint {
                a: vec![(3, f(5))],
                b: vec![(0, f(3)), (4, f(7))],
                c: vec![(5, one)],
            },
        ],
    }
}

/// A satisfying assignment of [`toy`] with `w1 = 3`, `w2 = 4`.
pub fn toy_witness() -> Vec<Fr> {
    let (w1, w2) = (f(3), f(4));
    let x = w1 * w1;
    vec![
        Fr::one(),
        x,
        x + x + w1,
        w1,
        w2,
        f(5) * w1 * (f(3) + f(7) * w2),
    ]
}

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
