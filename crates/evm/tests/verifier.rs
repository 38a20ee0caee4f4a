//! The generated Groth16 verifiers, deployed from their committed artifacts
//! into revm, against real proofs of the pinned keys: accepted exactly when
//! `veil_proofs` accepts natively, and refused for every trap of
//! `docs/evm.md` ("Traps"). Node is not needed: the artifacts are committed.

mod common;

use ark_bn254::{Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup, PrimeGroup};
use ark_ff::One;
use common::*;
use veil_evm::abi::{Word, decode_bool};
use veil_evm::sandbox::Status;
use veil_evm::solidity::ProofWords;
use veil_proofs::{CircuitId, SettleSize};

/// `verifyProof` gas of a valid proof, per circuit: (tx gas, execution gas).
/// Deterministic (same code, same calldata, same spec; the proofs come from
/// a seeded RNG, and calldata gas depends on their zero bytes): a change here
/// is a change of the contract or of its calldata, to be explained in
/// docs/evm.md ("Gas").
const GAS: [(CircuitId, u64, u64); 6] = [
    (CircuitId::Access, 270_038, 242_118),
    (CircuitId::Withdraw, 242_806, 215_806),
    (CircuitId::Settle(SettleSize::K1), 242_794, 215_806),
    (CircuitId::Settle(SettleSize::K8), 342_006, 307_898),
    (CircuitId::TreeInsert64, 660_438, 623_642),
    (CircuitId::Answer, 235_415, 209_311),
];

fn with_ark(
    case: &Case,
    f: impl FnOnce(&mut ark_groth16::Proof<ark_bn254::Bn254>),
) -> ark_groth16::Proof<ark_bn254::Bn254> {
    let mut p = case.proof.as_ark().clone();
    f(&mut p);
    p
}

#[test]
fn real_proofs_are_accepted_on_chain_and_natively() {
    for id in PROVED {
        let case = case(id);
        assert!(case.native_ok(&case.proof, &case.statement), "{id} native");
        let mut chain = chain(id);
        assert!(
            chain.accepts(&case.words(), &case.input_words()),
            "{id} on chain"
        );
    }
}

#[test]
fn verify_proof_gas_is_exact() {
    let mut measured = Vec::new();
    for (id, _, _) in GAS {
        let case = case(id);
        let mut chain = chain(id);
        let out = chain.verify(&case.words(), &case.input_words());
        assert!(returned_true(&out), "{id}");
        eprintln!(
            "{id}: verifyProof tx gas {}, intrinsic {}, execution {}; deploy gas {}, runtime {} B",
            out.gas_used,
            out.intrinsic_gas,
            out.execution_gas(),
            chain.deploy.gas_used,
            artifact(id).deployed_bytecode.len()
        );
        measured.push((id, out.gas_used, out.execution_gas()));
        // What `veil bench` reports is this same measurement.
        let bench =
            veil_evm::measure::verify_gas(id, &case.proof, &case.statement).expect("measure");
        assert_eq!(
            (bench.tx, bench.execution),
            (out.gas_used, out.execution_gas())
        );
    }
    assert_eq!(measured, GAS);
}

#[test]
fn measuring_a_refused_proof_is_an_error_not_a_number() {
    let case = case(CircuitId::Withdraw);
    let mut statement = case.statement.clone();
    statement[0] += Fr::one();
    assert!(matches!(
        veil_evm::measure::verify_gas(CircuitId::Withdraw, &case.proof, &statement),
        Err(veil_evm::measure::MeasureError::Unexpected { .. })
    ));
}

#[test]
fn every_changed_public_input_is_refused() {
    for id in PROVED {
        let case = case(id);
        let mut chain = chain(id);
        for i in 0..case.statement.len() {
            let mut statement = case.statement.clone();
            statement[i] += Fr::one();
            let words: Vec<Word> = statement.iter().map(veil_evm::solidity::fr_word).collect();
            assert!(
                !case.native_ok(&case.proof, &statement),
                "{id} input {i} native"
            );
            assert!(
                chain.refuses(&case.words(), &words),
                "{id} input {i} on chain"
            );
        }
    }
}

#[test]
fn tampered_proof_points_are_refused() {
    let g1 = G1Affine::generator();
    let g2 = G2Affine::generator();
    for id in PROVED {
        let case = case(id);
        let mut chain = chain(id);
        let tampered = [
            ("A", with_ark(&case, |p| p.a = (p.a + g1).into_affine())),
            ("B", with_ark(&case, |p| p.b = (p.b + g2).into_affine())),
            ("C", with_ark(&case, |p| p.c = (p.c + g1).into_affine())),
            // A caller that negates A itself (the other convention): the
            // contract negates it again.
            ("-A", with_ark(&case, |p| p.a = -p.a)),
        ];
        for (what, ark) in tampered {
            let native = veil_proof(&ark).expect("valid points");
            assert!(
                !case.native_ok(&native, &case.statement),
                "{id} {what} native"
            );
            let words = ProofWords::from_ark(&ark);
            assert!(
                chain.refuses(&words, &case.input_words()),
                "{id} {what} on chain"
            );
        }
    }
}

#[test]
fn non_canonical_public_inputs_are_refused() {
    for id in PROVED {
        let case = case(id);
        let mut chain = chain(id);
        for i in 0..case.statement.len() {
            // input + r is the same scalar mod r: the precompile alone would
            // accept it (trap 3), a malleable nullifier or amount.
            for shifted in [u256(&case.input_words()[i]) + r(), r()] {
                let mut input = case.input_words();
                input[i] = word(shifted);
                assert!(chain.refuses(&case.words(), &input), "{id} input {i}");
            }
        }
    }
}

#[test]
fn non_canonical_coordinates_are_refused() {
    for id in PROVED {
        let case = case(id);
        let mut chain = chain(id);
        let words = case.words();
        for k in 0..8 {
            let mut all = words.words();
            all[k] = word(u256(&all[k]) + p());
            let shifted = ProofWords {
                a: [all[0], all[1]],
                b: [[all[2], all[3]], [all[4], all[5]]],
                c: [all[6], all[7]],
            };
            assert!(
                chain.refuses(&shifted, &case.input_words()),
                "{id} word {k}"
            );
        }
    }
}

#[test]
fn points_at_infinity_are_refused() {
    let case = case(CircuitId::Access);
    let mut chain = chain(CircuitId::Access);
    let zero = [[0u8; 32]; 2];
    let w = case.words();
    for (what, words) in [
        ("A", ProofWords { a: zero, ..w }),
        (
            "B",
            ProofWords {
                b: [zero, zero],
                ..w
            },
        ),
        ("C", ProofWords { c: zero, ..w }),
    ] {
        assert!(chain.refuses(&words, &case.input_words()), "{what}");
    }
    // Natively, no proof with a point at infinity decodes (B5).
    let inf = with_ark(&case, |p| p.c = G1Projective::default().into_affine());
    assert!(veil_proof(&inf).is_err());
    let inf = with_ark(&case, |p| p.b = G2Projective::default().into_affine());
    assert!(veil_proof(&inf).is_err());
}

#[test]
fn arkworks_g2_order_for_b_is_refused() {
    for id in PROVED {
        let case = case(id);
        let mut chain = chain(id);
        let mut w = case.words();
        // [x.c0, x.c1], [y.c0, y.c1]: the natural arkworks order (trap 1).
        for row in &mut w.b {
            row.swap(0, 1);
        }
        assert!(chain.refuses(&w, &case.input_words()), "{id}");
        // One coordinate pair swapped only.
        let mut w = case.words();
        w.b[0].swap(0, 1);
        assert!(chain.refuses(&w, &case.input_words()), "{id} x only");
    }
}

/// A `settle_k` statement's inputs `[node, T, price, esc.., cm..]` in the
/// shape of `settle_to`: the same slots, padded with zero slots (or cut).
fn reshape_settle(input: &[Word], k: usize, to: usize) -> Vec<Word> {
    let zero = [0u8; 32];
    let slots = |from: usize| (0..to).map(move |i| if i < k { input[from + i] } else { zero });
    let mut v = input[..3].to_vec();
    v.extend(slots(3));
    v.extend(slots(3 + k));
    v
}

#[test]
fn a_proof_for_another_key_is_refused() {
    // A settle_1 statement padded with zero slots is a well-formed
    // settle_8 statement (and the first slot of a settle_8 one a settle_1
    // statement): each proof, sent to the other's verifier with its
    // statement in that shape, is refused.
    let s1 = case(CircuitId::Settle(SettleSize::K1));
    let s8 = case(CircuitId::Settle(SettleSize::K8));
    let mut c1 = chain(s1.circuit);
    let mut c8 = chain(s8.circuit);
    assert!(c8.refuses(&s1.words(), &reshape_settle(&s1.input_words(), 1, 8)));
    assert!(c1.refuses(&s8.words(), &reshape_settle(&s8.input_words(), 8, 1)));
    assert!(c1.refuses(&s8.words(), &s1.input_words()));
}

#[test]
fn too_little_gas_never_returns_true() {
    // Trap 5: a precompile that runs out of gas fails, and verifyProof
    // returns false with the 1/64 of gas left: a valid proof reads as
    // invalid. A caller that moves value must `require(verifyProof(..))`.
    let case = case(CircuitId::Access);
    let mut chain = chain(CircuitId::Access);
    let full = chain.verify(&case.words(), &case.input_words());
    assert!(returned_true(&full));
    let mut silent_false = 0;
    for short in [1, 100, 1_000, 10_000, 50_000, 150_000] {
        let out = chain.verify_with_gas(&case.words(), &case.input_words(), full.gas_used - short);
        assert!(!returned_true(&out), "{short} short");
        if out.status == Status::Success && decode_bool(&out.output) == Ok(false) {
            silent_false += 1;
        }
    }
    assert!(
        silent_false > 0,
        "out of gas never read as false: the trap moved"
    );
}

#[test]
fn settle_64_verifier_refuses_foreign_and_garbage_proofs() {
    // Proving settle_64 takes minutes (see the ignored test below); its
    // verifier is checked against proofs it must refuse, and its source
    // against its key in tests/generated.rs.
    let id = CircuitId::Settle(SettleSize::K64);
    let mut chain = chain(id);
    eprintln!("{id}: deploy gas {}", chain.deploy.gas_used);
    let s1 = case(CircuitId::Settle(SettleSize::K1));
    let as_64 = reshape_settle(&s1.input_words(), 1, 64);
    assert!(chain.refuses(&s1.words(), &as_64));
    let g1 = G1Projective::generator();
    let g2 = G2Projective::generator();
    let garbage = ark_groth16::Proof {
        a: (g1 * Fr::from(3u64)).into_affine(),
        b: (g2 * Fr::from(5u64)).into_affine(),
        c: (g1 * Fr::from(7u64)).into_affine(),
    };
    assert!(chain.refuses(&ProofWords::from_ark(&garbage), &as_64));
}

#[test]
#[ignore = "proves settle_64 (482k constraints, ~180 MB proving key): minutes"]
fn settle_64_real_proof_is_accepted() {
    let id = CircuitId::Settle(SettleSize::K64);
    let case = prove(id);
    assert!(case.native_ok(&case.proof, &case.statement));
    let mut chain = chain(id);
    let out = chain.verify(&case.words(), &case.input_words());
    assert!(returned_true(&out));
    eprintln!(
        "{id}: verifyProof tx gas {}, execution {}",
        out.gas_used,
        out.execution_gas()
    );
    let mut statement = case.statement.clone();
    statement[2] += Fr::one();
    let words: Vec<Word> = statement.iter().map(veil_evm::solidity::fr_word).collect();
    assert!(chain.refuses(&case.words(), &words));
}
