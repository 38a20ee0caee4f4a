//! `withdraw` (docs/protocol.md §4): native twin and circuit agree, reject the
//! same bad statements (A1, A2, A4, A6), and bind every public input (A10, A11).

use ark_ff::Field;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use proptest::prelude::*;
use veil_circuits::{
    shape::R1csSnapshot,
    spend::{SpendError, SpendWitness},
    withdraw::{
        self, NUM_PUBLIC_INPUTS, WithdrawCircuit, WithdrawPrivate, WithdrawPublic, WithdrawRelation,
    },
};
use veil_primitives::{
    Fr,
    ids::AccountId,
    keys::SpendingKey,
    merkle::{LeafIndex, Tree},
    note::{Note, NoteCommitment, Nullifier, Rho},
    poseidon::{DomainTag, hash_tagged},
    value::Value,
};

fn honest(sk: u64, v: u64, amount: u64, position: u64) -> (WithdrawPublic, WithdrawPrivate) {
    let key = SpendingKey::from_fr(Fr::from(sk) + Fr::from(17u64));
    let rho = Rho::from_fr(Fr::from(sk.wrapping_mul(3)) + Fr::ONE);
    let note = Note::new(Value(v), key.owner_key(), rho);
    let mut tree = Tree::new();
    tree.append_many((0..position).map(|i| NoteCommitment::from_fr(Fr::from(i + 1_000))))
        .expect("fits");
    tree.append(note.commitment()).expect("fits");
    tree.append(NoteCommitment::from_fr(Fr::from(5u64)))
        .expect("fits");
    let private = WithdrawPrivate {
        path: tree.path(position).expect("leaf"),
        sk: key,
        value: Value(v),
        rho,
        rho_change: Rho::from_fr(Fr::from(amount) + Fr::from(2u64)),
    };
    let public = WithdrawPublic::derive(
        &private,
        Value(amount),
        AccountId::from_fr(Fr::from(0xacc0u64)),
    )
    .expect("honest");
    (public, private)
}

fn circuit_ok(public: [Fr; NUM_PUBLIC_INPUTS], w: SpendWitness) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    WithdrawCircuit::from_raw(public, w)
        .generate_constraints(cs.clone())
        .expect("synthesis");
    cs.is_satisfied().expect("prove mode")
}

/// A public statement consistent in the field for any amount (the change wraps).
fn wrapped(w: &SpendWitness, amount: Fr) -> [Fr; NUM_PUBLIC_INPUTS] {
    let pk = hash_tagged(DomainTag::Owner, &[w.sk]);
    let cm = NoteCommitment::from_fr(hash_tagged(
        DomainTag::Note,
        &[w.value, hash_tagged(DomainTag::Addr, &[pk, w.rho])],
    ));
    let addr_c = hash_tagged(DomainTag::Addr, &[pk, w.rho_change]);
    [
        w.path.root_for(&cm).inner(),
        hash_tagged(DomainTag::Nullifier, &[w.sk, w.rho]),
        hash_tagged(DomainTag::Note, &[w.value - amount, addr_c]),
        amount,
        Fr::from(0xacc0u64),
    ]
}

fn both(public: [Fr; NUM_PUBLIC_INPUTS], w: SpendWitness) -> (Result<(), SpendError>, bool) {
    (
        WithdrawRelation::check_raw(&public, &w),
        circuit_ok(public, w),
    )
}

#[test]
fn amount_bounds_a1_a2_a4() {
    let (_, private) = honest(1, 50, 0, 2);
    let w = private.to_witness();
    assert_eq!(
        both(wrapped(&w, Fr::from(50u64)), w.clone()),
        (Ok(()), true)
    );
    assert_eq!(
        both(wrapped(&w, Fr::from(51u64)), w.clone()),
        (Err(SpendError::InsufficientValue), false)
    );
    assert_eq!(
        both(wrapped(&w, -Fr::ONE), w.clone()),
        (Err(SpendError::AmountOutOfRange), false)
    );
    let two_to_64 = Fr::from(u64::MAX) + Fr::ONE;
    assert_eq!(
        both(wrapped(&w, two_to_64), w),
        (Err(SpendError::AmountOutOfRange), false)
    );
}

#[test]
fn wrong_path_nullifier_or_change_is_rejected() {
    let (public, private) = honest(2, 900, 400, 3);
    let mut p = private.clone();
    p.path.index = LeafIndex::new(2).expect("small");
    assert_eq!(
        WithdrawRelation::check(&public, &p),
        Err(SpendError::NotInTree)
    );
    assert!(!circuit_ok(public.to_array(), p.to_witness()));
    let mut q = public;
    q.nullifier = Nullifier::from_fr(Fr::from(1u64));
    assert_eq!(
        WithdrawRelation::check(&q, &private),
        Err(SpendError::WrongNullifier)
    );
    assert!(!circuit_ok(q.to_array(), private.to_witness()));
    let mut q = public;
    q.cm_change = NoteCommitment::from_fr(q.cm_change.inner() + Fr::ONE);
    assert_eq!(
        WithdrawRelation::check(&q, &private),
        Err(SpendError::WrongChange)
    );
    assert!(!circuit_ok(q.to_array(), private.to_witness()));
    // Another key cannot spend the note.
    let mut p = private.clone();
    p.sk = SpendingKey::from_fr(Fr::from(999u64));
    assert!(WithdrawRelation::check(&public, &p).is_err());
    assert!(!circuit_ok(public.to_array(), p.to_witness()));
}

#[test]
fn a10_a11_constraint_level() {
    let (public, private) = honest(3, 10_000, 1, 5);
    let snap =
        R1csSnapshot::synthesize(WithdrawCircuit::new(&public, &private)).expect("synthesis");
    assert!(snap.is_satisfied());
    let survivors = snap.mutation_survivors(Fr::from(0x1_0000_0001u64));
    println!(
        "withdraw: {} witness variables mutated, {} survivors",
        snap.z.len() - snap.num_instance,
        survivors.len()
    );
    assert!(
        survivors.is_empty(),
        "under-constrained witness columns: {survivors:?}"
    );
    assert_eq!(snap.num_instance, 1 + NUM_PUBLIC_INPUTS);
    let by_col = snap.rows_by_column();
    for i in 0..NUM_PUBLIC_INPUTS {
        assert!(
            !snap.survives(&by_col, 1 + i, snap.z[1 + i] + Fr::ONE),
            "public input {i} is not bound"
        );
    }
    assert_eq!(snap.z[1 + withdraw::RECIPIENT], Fr::from(0xacc0u64));
    assert_eq!(snap.z[1 + withdraw::AMOUNT], Fr::from(1u64));
}

#[test]
fn dummy_is_satisfiable_and_has_the_same_shape() {
    let (public, private) = honest(4, 7, 7, 0);
    let dummy = WithdrawCircuit::dummy();
    assert!(circuit_ok(
        *dummy.public_inputs(),
        veil_circuits::spend::dummy_witness()
    ));
    assert_eq!(
        veil_circuits::shape::describe(dummy).expect("synthesis"),
        veil_circuits::shape::describe(WithdrawCircuit::new(&public, &private)).expect("synthesis")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]
    #[test]
    fn honest_withdrawals_agree(sk in any::<u64>(), v in any::<u64>(), frac in 0u64..=100, pos in 0u64..6) {
        let amount = ((u128::from(v) * u128::from(frac)) / 100) as u64;
        let (public, private) = honest(sk, v, amount, pos);
        prop_assert_eq!(WithdrawRelation::check(&public, &private), Ok(()));
        prop_assert!(circuit_ok(public.to_array(), private.to_witness()));
        prop_assert_eq!(public.nullifier, Nullifier::derive(&private.sk, &private.rho));
        prop_assert_eq!(public.to_field_elements().len(), NUM_PUBLIC_INPUTS);
    }
}
