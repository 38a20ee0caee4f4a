//! The toy circuit shared by the phase-2 tests, and its fixtures.
#![allow(dead_code)]

use ark_bn254::Fr;
use ark_ff::One;
use veil_interop::{Constraint, R1cs};

pub const PTAU: &[u8] = include_bytes!("../data/pot4_final.ptau");
pub const TOY_R1CS: &[u8] = include_bytes!("../data/toy.r1cs");
pub const TOY_ZKEY: &[u8] = include_bytes!("../data/toy_0000.zkey");
pub const TOY_ZKEY_1: &[u8] = include_bytes!("../data/toy_0001.zkey");
pub const TOY_ZKEY_2: &[u8] = include_bytes!("../data/toy_0002.zkey");

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

/// The sections of an iden3 container, in file order.
pub fn split(bytes: &[u8]) -> Vec<(u32, Vec<u8>)> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
    let n = u32_at(8) as usize;
    let mut at = 12;
    let mut out = Vec::new();
    for _ in 0..n {
        let id = u32_at(at);
        let len = u64::from_le_bytes(bytes[at + 4..at + 12].try_into().unwrap()) as usize;
        out.push((id, bytes[at + 12..at + 12 + len].to_vec()));
        at += 12 + len;
    }
    assert_eq!(at, bytes.len());
    out
}

/// An iden3 container of `magic`, version 1, from its sections.
pub fn join(magic: &[u8; 4], sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = magic.to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    for (id, body) in sections {
        out.extend_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// `bytes` (an iden3 container of `magic`) with section `id` edited by `f`.
pub fn edited(magic: &[u8; 4], bytes: &[u8], id: u32, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut s = split(bytes);
    let body = &mut s.iter_mut().find(|(i, _)| *i == id).unwrap().1;
    f(body);
    join(magic, &s)
}

/// Runs snarkjs ([`veil_interop::tool::run`]): whether it exited 0, and
/// its stdout and stderr.
pub fn snarkjs(cli: &std::path::Path, dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = veil_interop::tool::run(cli, dir, args).expect("run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
