//! `access` (docs/protocol.md §3) at the constraint level: booleanity of the
//! path bits (A7), no under-constrained witness (A10), every public input
//! bound (A11). Works on the finalised matrices Groth16 uses.

use ark_ff::Field;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use veil_circuits::{
    access::{self, AccessCircuit, AccessPrivate, AccessPublic, NUM_PUBLIC_INPUTS},
    shape::R1csSnapshot,
};
use veil_primitives::{
    Fr,
    ids::{BlockHeight, NodeId, SessionKeyHash},
    keys::{OwnerKey, SpendingKey},
    merkle::{DEPTH, Tree},
    note::{Note, NoteCommitment, Rho},
    value::Value,
};

/// Leaf index of the spent note: bits 0, 1, 3 set, so both directions occur.
const INDEX: u64 = 0b1011;

fn honest() -> (AccessPublic, AccessPrivate) {
    let sk = SpendingKey::from_fr(Fr::from(0xdead_beefu64));
    let rho = Rho::from_fr(Fr::from(4242u64));
    let note = Note::new(Value(10_000), sk.owner_key(), rho);
    let mut tree = Tree::new();
    tree.append_many((0..INDEX).map(|i| NoteCommitment::from_fr(Fr::from(i + 1))))
        .expect("fits");
    tree.append(note.commitment()).expect("fits");
    let private = AccessPrivate {
        path: tree.path(INDEX).expect("leaf"),
        sk,
        value: Value(10_000),
        rho,
        rho_change: Rho::from_fr(Fr::from(777u64)),
    };
    let public = AccessPublic::derive(
        &private,
        Value(2_500),
        NodeId::from_fr(Fr::from(123u64)),
        SessionKeyHash::from_fr(Fr::from(456u64)),
        OwnerKey::from_fr(Fr::from(789u64)),
        BlockHeight(50_000),
    )
    .expect("honest");
    (public, private)
}

fn snapshot() -> R1csSnapshot {
    let (public, private) = honest();
    let snap = R1csSnapshot::synthesize(AccessCircuit::new(&public, &private)).expect("synthesis");
    assert!(snap.is_satisfied());
    snap
}

#[test]
fn a7_path_bit_of_two_breaks_booleanity() {
    let snap = snapshot();
    let by_col = snap.rows_by_column();
    // Witness layout of the spend core: sk, v, ρ, 32 siblings, 32 bits, ρ_c.
    let first_bit = snap.num_instance + 3 + DEPTH;
    for k in 0..DEPTH {
        let col = first_bit + k;
        let bit = (INDEX >> k) & 1;
        assert_eq!(snap.z[col], Fr::from(bit), "column {col} is path bit {k}");
        // The booleanity constraint: the one row that mentions only this bit (and the constant).
        let own: Vec<usize> = by_col[col]
            .iter()
            .copied()
            .filter(|&i| {
                snap.a[i]
                    .iter()
                    .chain(&snap.b[i])
                    .chain(&snap.c[i])
                    .all(|(_, c)| *c == col || *c == 0)
            })
            .collect();
        assert_eq!(
            own.len(),
            1,
            "bit {k} has exactly one booleanity constraint"
        );
        for (value, holds) in [
            (Fr::from(0u64), true),
            (Fr::ONE, true),
            (Fr::from(2u64), false),
            (-Fr::ONE, false),
        ] {
            let mut z = snap.z.clone();
            z[col] = value;
            assert_eq!(snap.row_holds(own[0], &z), holds, "bit {k} = {value}");
        }
        // And the whole system rejects b = 2 with the honest remainder.
        assert!(!snap.survives(&by_col, col, Fr::from(2u64)));
    }
}

#[test]
fn a10_no_witness_survives_a_mutation() {
    let snap = snapshot();
    let witnesses = snap.z.len() - snap.num_instance;
    let survivors = snap.mutation_survivors(Fr::from(0x1_0000_0001u64));
    println!(
        "access: {witnesses} witness variables mutated, {} survivors",
        survivors.len()
    );
    assert!(
        survivors.is_empty(),
        "under-constrained witness columns: {survivors:?}"
    );
}

#[test]
fn a11_every_public_input_is_bound() {
    let (public, private) = honest();
    let inputs = public.to_array();
    // At the matrix level: each instance column is used, and changing it alone breaks a constraint.
    let snap = snapshot();
    assert_eq!(snap.num_instance, 1 + NUM_PUBLIC_INPUTS);
    assert_eq!(&snap.z[1..snap.num_instance], &inputs[..]);
    let by_col = snap.rows_by_column();
    for i in 0..NUM_PUBLIC_INPUTS {
        assert!(
            !snap.survives(&by_col, 1 + i, snap.z[1 + i] + Fr::ONE),
            "public input {i} is not bound"
        );
    }
    // At the circuit level, re-synthesised with the same private witness:
    // every input is now a relation input. root, nf, cm_change and E feed the
    // spend core; node_id, h_S, rk and expiry enter only esc (§3.3), so with
    // esc kept a change of any of them is unsatisfied, and so is a change of
    // esc itself. Both twins agree on each.
    for i in 0..NUM_PUBLIC_INPUTS {
        let mut mutated = inputs;
        mutated[i] += Fr::ONE;
        let cs = ConstraintSystem::<Fr>::new_ref();
        AccessCircuit::from_raw(mutated, private.to_witness())
            .generate_constraints(cs.clone())
            .expect("synthesis");
        let native = access::AccessRelation::check_raw(&mutated, &private.to_witness());
        assert!(
            !cs.is_satisfied().expect("prove mode"),
            "public input {i} changed alone is accepted by the circuit"
        );
        // node_id, h_S, rk, expiry and esc (offsets 4..=8) fail only the esc relation.
        let expected_escrow_error = i >= access::NODE_ID;
        assert_eq!(
            native == Err(access::AccessError::EscrowCommitmentMismatch),
            expected_escrow_error,
            "native twin, public input {i}: {native:?}"
        );
        assert!(native.is_err(), "native twin accepts public input {i}");
    }
    // Named offsets follow §3.1.
    assert_eq!(inputs[access::ROOT], public.root.inner());
    assert_eq!(inputs[access::NULLIFIER], public.nullifier.inner());
    assert_eq!(inputs[access::CM_CHANGE], public.cm_change.inner());
    assert_eq!(inputs[access::ESCROW], Fr::from(2_500u64));
    assert_eq!(inputs[access::NODE_ID], Fr::from(123u64));
    assert_eq!(inputs[access::SESSION_KEY_HASH], Fr::from(456u64));
    assert_eq!(inputs[access::REFUND_OWNER], Fr::from(789u64));
    assert_eq!(inputs[access::EXPIRY], Fr::from(50_000u64));
    assert_eq!(
        inputs[access::ESCROW_COMMITMENT],
        public.escrow_commitment().inner()
    );
    assert_eq!(access::ESCROW_COMMITMENT, NUM_PUBLIC_INPUTS - 1);
}

/// A11 on a real Groth16 proof: the proof of the honest statement verifies
/// with its own nine inputs and with no other. Each escrow term changed
/// (esc kept, or esc recomputed for the new terms: another escrow the proof
/// was not made for) and esc changed alone are all refused.
#[test]
fn a11_a_proof_verifies_only_with_its_own_inputs() {
    use ark_bn254::Bn254;
    use ark_groth16::{Groth16, prepare_verifying_key};
    use rand::SeedableRng;
    use veil_primitives::poseidon::{DomainTag, hash_tagged};

    let (public, private) = honest();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        AccessCircuit::dummy(),
        &mut rng,
    )
    .expect("setup");
    let pvk = prepare_verifying_key(&pk.vk);
    let circuit = AccessCircuit::new(&public, &private);
    let inputs = *circuit.public_inputs();
    let proof = Groth16::<Bn254>::create_random_proof_with_reduction(circuit, &pk, &mut rng)
        .expect("prove");
    let verifies =
        |x: &[Fr]| Groth16::<Bn254>::verify_proof(&pvk, &proof, x).expect("verification runs");
    assert!(verifies(&inputs), "the honest proof verifies");
    for i in 0..NUM_PUBLIC_INPUTS {
        let mut mutated = inputs;
        mutated[i] += Fr::ONE;
        assert!(!verifies(&mutated), "input {i} changed alone");
        if access::ESCROW_TERMS.contains(&i) {
            // The new terms with their own esc: a consistent statement, but
            // not the one proved.
            mutated[access::ESCROW_COMMITMENT] =
                hash_tagged(DomainTag::Escrow, &access::ESCROW_TERMS.map(|j| mutated[j]));
            assert!(!verifies(&mutated), "input {i} changed with its esc");
        }
    }
}

#[test]
fn shape_does_not_depend_on_the_witness() {
    let (public, private) = honest();
    let honest_shape =
        veil_circuits::shape::describe(AccessCircuit::new(&public, &private)).expect("synthesis");
    let dummy_shape = veil_circuits::shape::describe(AccessCircuit::dummy()).expect("synthesis");
    assert_eq!(honest_shape, dummy_shape);
    println!("access shape: {honest_shape}");
}
