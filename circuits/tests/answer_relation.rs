//! `answer` (docs/protocol.md §8.3.14): the native twin and the circuit
//! agree on honest answers and reject the same bad ones — another key,
//! another challenge (each public input), a forged or malleated signature,
//! a small-order key.

use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::PrimeField;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use proptest::prelude::*;
use veil_circuits::answer::{
    AnswerCircuit, AnswerError, AnswerPrivate, AnswerPublic, AnswerRelation, NUM_PUBLIC_INPUTS,
};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsProjective, ScalarField},
    challenge::challenge_value,
    eddsa::{RawSignature, SigningKey, testing},
    ids::AccountId,
    merkle::MerkleRoot,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("non-degenerate test key")
}

fn statement(node: &SigningKey, monitor: u64, epoch: u64, root: u64) -> AnswerPublic {
    AnswerPublic {
        node_id: node.verifying_key().node_id(),
        monitor: AccountId::from_fr(Fr::from(monitor)),
        epoch,
        root: MerkleRoot::from_fr(Fr::from(root)),
    }
}

fn honest(seed: u8, epoch: u64) -> (AnswerPublic, AnswerPrivate) {
    let node = key(seed);
    let public = statement(&node, 0xabcd, epoch, 99);
    let private = AnswerPrivate::new(&node.verifying_key(), node.sign(&public.value()));
    (public, private)
}

/// Whether the circuit is satisfied on raw inputs (and its size).
fn circuit_accepts(public: [Fr; NUM_PUBLIC_INPUTS], w: AnswerPrivate) -> (bool, usize) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    AnswerCircuit::from_raw(public, w)
        .generate_constraints(cs.clone())
        .expect("synthesis");
    (cs.is_satisfied().expect("evaluable"), cs.num_constraints())
}

/// Native and circuit verdicts, asserted equal; returns the native one.
fn agree(public: [Fr; NUM_PUBLIC_INPUTS], w: AnswerPrivate) -> Result<(), AnswerError> {
    let native = AnswerRelation::check_raw(&public, &w);
    let (circuit, _) = circuit_accepts(public, w);
    assert_eq!(
        native.is_ok(),
        circuit,
        "native {native:?} vs circuit {circuit}"
    );
    native
}

#[test]
fn an_honest_answer_satisfies_both_and_its_size_is_reported() {
    let (public, private) = honest(1, 3);
    assert_eq!(AnswerRelation::check(&public, &private), Ok(()));
    let (ok, n) = circuit_accepts(public.to_array(), private);
    assert!(ok);
    println!("answer circuit constraints: {n}");
    assert!(n < 7_000, "the answer circuit grew to {n} constraints");
    // The value signed is the ledgers' own challenge value.
    assert_eq!(
        public.value(),
        challenge_value(&public.node_id, &public.monitor, public.epoch, &public.root)
    );
    let dummy = AnswerCircuit::dummy();
    let cs = ConstraintSystem::<Fr>::new_ref();
    dummy.generate_constraints(cs.clone()).expect("synthesis");
    assert!(cs.is_satisfied().expect("evaluable"));
    assert_eq!(cs.num_constraints(), n, "the dummy has the honest shape");
}

#[test]
fn every_public_input_is_bound() {
    let (public, private) = honest(2, 5);
    let base = public.to_array();
    assert_eq!(agree(base, private), Ok(()));
    for i in 0..NUM_PUBLIC_INPUTS {
        let mut changed = base;
        changed[i] += Fr::from(1u64);
        assert!(agree(changed, private).is_err(), "input {i} unbound");
    }
}

#[test]
fn another_keys_signature_or_another_key_is_refused() {
    let (public, private) = honest(3, 1);
    // A valid signature by another key over the same value, with that key.
    let other = key(4);
    let forged = AnswerPrivate::new(&other.verifying_key(), other.sign(&public.value()));
    assert_eq!(
        agree(public.to_array(), forged),
        Err(AnswerError::NotTheNodeKey)
    );
    // The node's key with the other key's signature.
    let mixed = AnswerPrivate {
        node_key: private.node_key,
        signature: forged.signature,
    };
    assert!(matches!(
        agree(public.to_array(), mixed),
        Err(AnswerError::Signature(_))
    ));
    // The node's signature over another challenge (a relay nonce's message).
    let stale = AnswerPrivate::new(&key(3).verifying_key(), key(3).sign(&Fr::from(71u64)));
    assert!(matches!(
        agree(public.to_array(), stale),
        Err(AnswerError::Signature(_))
    ));
}

#[test]
fn a_malleated_scalar_is_refused() {
    // A12: S + l, where it still fits the gadget's 251 bits.
    for seed in 10u8..80 {
        let (public, private) = honest(seed, 2);
        let bumped = AnswerPrivate {
            signature: RawSignature {
                r: private.signature.r,
                s: testing::add_l(&private.signature.s),
            },
            ..private
        };
        if ark_ff::BigInteger::num_bits(&bumped.signature.s) as usize
            > veil_circuits::gadgets::eddsa::SCALAR_BITS
        {
            continue;
        }
        assert_eq!(agree(public.to_array(), private), Ok(()));
        assert!(agree(public.to_array(), bumped).is_err());
        return;
    }
    panic!("no seed gave S + l < 2^251");
}

#[test]
fn a_small_order_key_answers_nothing() {
    // A13: a small-order A with R = S·G satisfies the cofactored equation
    // for every message; a node id made from it must still be refused.
    let s = ScalarField::from(1234u64);
    let r = EdwardsProjective::generator()
        .mul_bigint(s.into_bigint())
        .into_affine();
    let signature = RawSignature {
        r,
        s: s.into_bigint(),
    };
    for a in [
        testing::identity(),
        testing::order_two(),
        testing::order_eight(),
    ] {
        let node_id = veil_primitives::poseidon::hash_tagged(
            veil_primitives::poseidon::DomainTag::NodeId,
            &[a.x, a.y],
        );
        let public = [node_id, Fr::from(1u64), Fr::from(1u64), Fr::from(1u64)];
        let w = AnswerPrivate {
            node_key: a,
            signature,
        };
        assert!(matches!(agree(public, w), Err(AnswerError::Signature(_))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    #[test]
    fn random_answers_agree(seed in 1u8..=250, monitor in any::<u64>(), epoch in any::<u64>(), root in any::<u64>(), tamper in 0usize..5) {
        let node = key(seed);
        let public = statement(&node, monitor, epoch, root);
        let private = AnswerPrivate::new(&node.verifying_key(), node.sign(&public.value()));
        let mut inputs = public.to_array();
        if tamper < NUM_PUBLIC_INPUTS {
            inputs[tamper] += Fr::from(1u64);
        }
        let verdict = agree(inputs, private);
        prop_assert_eq!(verdict.is_ok(), tamper >= NUM_PUBLIC_INPUTS);
    }
}
