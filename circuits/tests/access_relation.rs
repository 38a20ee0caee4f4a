//! `access` (docs/protocol.md §3): the circuit and its native twin accept the
//! same honest statements and reject the same bad ones (adversarial A1–A9).

use ark_ff::{Field, PrimeField};
use ark_r1cs_std::{GR1CSVar, alloc::AllocVar, fields::fp::FpVar};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use proptest::prelude::*;
use veil_circuits::{
    access::{
        self, AccessCircuit, AccessError, AccessPrivate, AccessPublic, AccessRelation,
        ESCROW_TERMS, NUM_PUBLIC_INPUTS,
    },
    gadgets::note as note_gadget,
    settle::{self, SettleCircuit, SettlePublic, Slot},
    spend::{SpendError, SpendWitness},
};
use veil_primitives::{
    Fr,
    eddsa::SigningKey,
    escrow::{EscrowCommitment, EscrowTerms},
    ids::{BlockHeight, NodeId, SessionId, SessionKeyHash},
    keys::{OwnerKey, SpendingKey},
    merkle::{AuthPath, DEPTH, LeafIndex, Tree, empty_roots},
    note::{Note, NoteCommitment, Nullifier, Rho},
    poseidon::{DomainTag, hash, hash_node, hash_tagged},
    receipt::Receipt,
    value::Value,
};

/// A tree of `others` filler leaves with the note inserted at `position`.
fn tree_with(note_cm: NoteCommitment, position: u64, others: u64) -> (Tree, u64) {
    let mut t = Tree::new();
    let fill = |i: u64| NoteCommitment::from_fr(Fr::from(i * 7919 + 13));
    let position = position.min(others);
    t.append_many((0..position).map(fill)).expect("fits");
    t.append(note_cm).expect("fits");
    t.append_many((position..others).map(fill)).expect("fits");
    (t, position)
}

struct Case {
    public: AccessPublic,
    private: AccessPrivate,
}

fn case(sk: u64, v: u64, e: u64, position: u64, others: u64) -> Case {
    let key = SpendingKey::from_fr(Fr::from(sk) * Fr::from(0x1234_5678_9abc_def1u64) + Fr::ONE);
    let rho = Rho::from_fr(Fr::from(sk ^ v) + Fr::from(99u64));
    let note = Note::new(Value(v), key.owner_key(), rho);
    let (tree, index) = tree_with(note.commitment(), position, others);
    let private = AccessPrivate {
        path: tree.path(index).expect("leaf"),
        sk: key,
        value: Value(v),
        rho,
        rho_change: Rho::from_fr(Fr::from(e) + Fr::from(5u64)),
    };
    let public = AccessPublic::derive(
        &private,
        Value(e),
        NodeId::from_fr(Fr::from(77u64)),
        SessionKeyHash::from_fr(Fr::from(88u64)),
        OwnerKey::from_fr(Fr::from(66u64)),
        BlockHeight(1_000),
    )
    .expect("honest case");
    Case { public, private }
}

fn circuit_ok(c: AccessCircuit) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    c.generate_constraints(cs.clone()).expect("synthesis");
    cs.is_satisfied().expect("prove mode")
}

/// `esc` recomputed over the raw inputs `nf, node_id, E, h_S, rk, expiry`
/// (whatever they are, in range or not): only the other relations can fail.
fn with_esc(mut public: [Fr; NUM_PUBLIC_INPUTS]) -> [Fr; NUM_PUBLIC_INPUTS] {
    public[access::ESCROW_COMMITMENT] =
        hash_tagged(DomainTag::Escrow, &ESCROW_TERMS.map(|i| public[i]));
    public
}

/// Public inputs an attacker would use with a field-level (wrapping) change:
/// everything consistent except the 64-bit ranges.
fn wrapped_public(w: &SpendWitness, amount: Fr) -> [Fr; NUM_PUBLIC_INPUTS] {
    let pk = hash_tagged(DomainTag::Owner, &[w.sk]);
    let addr = hash_tagged(DomainTag::Addr, &[pk, w.rho]);
    let cm = NoteCommitment::from_fr(hash_tagged(DomainTag::Note, &[w.value, addr]));
    let addr_c = hash_tagged(DomainTag::Addr, &[pk, w.rho_change]);
    let change = w.value - amount; // in the field: wraps when amount > value
    with_esc([
        w.path.root_for(&cm).inner(),
        hash_tagged(DomainTag::Nullifier, &[w.sk, w.rho]),
        hash_tagged(DomainTag::Note, &[change, addr_c]),
        amount,
        Fr::from(77u64),
        Fr::from(88u64),
        Fr::from(66u64),
        Fr::from(1_000u64),
        Fr::from(0u64), // esc, set by with_esc
    ])
}

/// A witness for a note of raw field value `value` (possibly `>= 2^64`), in its own tree.
fn raw_witness(value: Fr) -> SpendWitness {
    let sk = Fr::from(11u64);
    let rho = Fr::from(12u64);
    let pk = hash_tagged(DomainTag::Owner, &[sk]);
    let cm = NoteCommitment::from_fr(hash_tagged(
        DomainTag::Note,
        &[value, hash_tagged(DomainTag::Addr, &[pk, rho])],
    ));
    let (tree, index) = tree_with(cm, 1, 3);
    SpendWitness {
        sk,
        value,
        rho,
        path: tree.path(index).expect("leaf"),
        rho_change: Fr::from(13u64),
    }
}

fn both(public: [Fr; NUM_PUBLIC_INPUTS], w: SpendWitness) -> (Result<(), AccessError>, bool) {
    (
        AccessRelation::check_raw(&public, &w),
        circuit_ok(AccessCircuit::from_raw(public, w)),
    )
}

fn two_to_64() -> Fr {
    Fr::from(u64::MAX) + Fr::ONE
}

#[test]
fn honest_statement_is_accepted_by_both() {
    let c = case(1, 1_000, 300, 2, 5);
    assert_eq!(AccessRelation::check(&c.public, &c.private), Ok(()));
    assert!(circuit_ok(AccessCircuit::new(&c.public, &c.private)));
    assert!(circuit_ok(AccessCircuit::dummy()));
    assert_eq!(c.public.to_field_elements().len(), NUM_PUBLIC_INPUTS);
    assert_eq!(
        c.public.to_field_elements()[access::NODE_ID],
        Fr::from(77u64)
    );
    // Input #8 is the escrow commitment of the typed terms (§3.3).
    assert_eq!(
        c.public.to_array()[access::ESCROW_COMMITMENT],
        c.public.escrow_commitment().inner()
    );
    assert_eq!(
        c.public.escrow_terms(),
        EscrowTerms {
            session_id: SessionId::from_fr(c.public.nullifier.inner()),
            node_id: NodeId::from_fr(Fr::from(77u64)),
            escrow: Value(300),
            session_key_hash: SessionKeyHash::from_fr(Fr::from(88u64)),
            refund_owner: OwnerKey::from_fr(Fr::from(66u64)),
            expiry: BlockHeight(1_000),
        }
    );
}

#[test]
fn a1_escrow_minus_one_is_rejected() {
    // E = r − 1 (= −1): the change v − E = v + 1 would be a "valid" small value.
    let w = raw_witness(Fr::from(50u64));
    let public = wrapped_public(&w, -Fr::ONE);
    // The forged change note is a well-formed commitment to v + 1 = 51: only the range checks stop it.
    let pk = hash_tagged(DomainTag::Owner, &[w.sk]);
    let addr_c = hash_tagged(DomainTag::Addr, &[pk, w.rho_change]);
    assert_eq!(
        public[access::CM_CHANGE],
        hash_tagged(DomainTag::Note, &[Fr::from(51u64), addr_c])
    );
    assert_eq!(
        both(public, w),
        (Err(AccessError::Spend(SpendError::AmountOutOfRange)), false)
    );
}

#[test]
fn a1_a4_twin_escrow_equal_to_value_passes_one_more_fails() {
    let w = raw_witness(Fr::from(50u64));
    assert_eq!(
        both(wrapped_public(&w, Fr::from(50u64)), w.clone()),
        (Ok(()), true)
    );
    // E = v + 1: v_c wraps to r − 1 in the field.
    assert_eq!(
        both(wrapped_public(&w, Fr::from(51u64)), w.clone()),
        (
            Err(AccessError::Spend(SpendError::InsufficientValue)),
            false
        )
    );
    // E = u64::MAX from a small note.
    assert_eq!(
        both(wrapped_public(&w, Fr::from(u64::MAX)), w),
        (
            Err(AccessError::Spend(SpendError::InsufficientValue)),
            false
        )
    );
}

#[test]
fn a2_escrow_or_balance_of_two_to_the_64_is_rejected() {
    let w = raw_witness(Fr::from(u64::MAX));
    assert_eq!(
        both(wrapped_public(&w, two_to_64()), w),
        (Err(AccessError::Spend(SpendError::AmountOutOfRange)), false)
    );
    // A note of value 2^64 (committed and in the tree) spending 1.
    let w = raw_witness(two_to_64());
    assert_eq!(
        both(wrapped_public(&w, Fr::ONE), w),
        (Err(AccessError::Spend(SpendError::ValueOutOfRange)), false)
    );
    // Boundary twin: u64::MAX is a valid balance.
    let w = raw_witness(Fr::from(u64::MAX));
    assert_eq!(
        both(wrapped_public(&w, Fr::from(u64::MAX)), w),
        (Ok(()), true)
    );
}

#[test]
fn a3_expiry_must_be_64_bits() {
    let w = raw_witness(Fr::from(50u64));
    let mut public = wrapped_public(&w, Fr::from(1u64));
    // esc is recomputed over the raw expiry: only the range check can refuse it.
    public[access::EXPIRY] = two_to_64() + Fr::from(5u64);
    assert_eq!(
        both(with_esc(public), w.clone()),
        (Err(AccessError::ExpiryOutOfRange), false)
    );
    public[access::EXPIRY] = Fr::from(u64::MAX);
    assert_eq!(both(with_esc(public), w), (Ok(()), true));
}

/// §3.3: `esc` must be the commitment of the statement's own terms. The
/// commitment of any other terms (one term changed, another session, the
/// padding value 0, the terms in another order or without the tag) is
/// refused by the circuit and by `check_raw`, with everything else honest.
#[test]
fn wrong_escrow_commitment_is_refused_by_both() {
    let c = case(2, 1_000, 300, 1, 4);
    let w = c.private.to_witness();
    let honest = c.public.to_array();
    assert_eq!(both(honest, w.clone()), (Ok(()), true));
    let t = c.public.escrow_terms();
    let one = Fr::ONE;
    let terms = t.to_field_elements();
    let mut swapped = terms;
    swapped.swap(3, 4); // h_S and rk exchanged
    let wrong: [(&str, Fr); 10] = [
        (
            "another session",
            EscrowTerms {
                session_id: SessionId::from_fr(t.session_id.inner() + one),
                ..t
            }
            .commitment()
            .inner(),
        ),
        (
            "another node",
            EscrowTerms {
                node_id: NodeId::from_fr(t.node_id.inner() + one),
                ..t
            }
            .commitment()
            .inner(),
        ),
        (
            "another escrow",
            EscrowTerms {
                escrow: Value(301),
                ..t
            }
            .commitment()
            .inner(),
        ),
        (
            "another session key",
            EscrowTerms {
                session_key_hash: SessionKeyHash::from_fr(t.session_key_hash.inner() + one),
                ..t
            }
            .commitment()
            .inner(),
        ),
        (
            "another refund owner",
            EscrowTerms {
                refund_owner: OwnerKey::from_fr(t.refund_owner.inner() + one),
                ..t
            }
            .commitment()
            .inner(),
        ),
        (
            "another expiry",
            EscrowTerms {
                expiry: BlockHeight(1_001),
                ..t
            }
            .commitment()
            .inner(),
        ),
        ("padding (0)", EscrowCommitment::PADDING.inner()),
        ("untagged", hash(&terms)),
        (
            "h_S and rk swapped",
            hash_tagged(DomainTag::Escrow, &swapped),
        ),
        ("honest + 1", honest[access::ESCROW_COMMITMENT] + one),
    ];
    for (what, esc) in wrong {
        assert_ne!(esc, honest[access::ESCROW_COMMITMENT], "{what}");
        let mut public = honest;
        public[access::ESCROW_COMMITMENT] = esc;
        assert_eq!(
            both(public, w.clone()),
            (Err(AccessError::EscrowCommitmentMismatch), false),
            "{what}"
        );
    }
}

/// §3.3: `node_id`, `h_S`, `rk` and `expiry` enter no other relation, so
/// `esc` is what binds them: changing one alone (esc kept) is refused by
/// both; changing it together with its `esc` is another, honest escrow.
#[test]
fn escrow_terms_are_bound_through_esc() {
    let c = case(4, 2_000, 700, 0, 2);
    let w = c.private.to_witness();
    let honest = c.public.to_array();
    for i in [
        access::NODE_ID,
        access::SESSION_KEY_HASH,
        access::REFUND_OWNER,
        access::EXPIRY,
    ] {
        let mut public = honest;
        public[i] += Fr::ONE;
        assert_eq!(
            both(public, w.clone()),
            (Err(AccessError::EscrowCommitmentMismatch), false),
            "input {i} changed, esc kept"
        );
        assert_eq!(
            both(with_esc(public), w.clone()),
            (Ok(()), true),
            "input {i} changed with its esc"
        );
    }
    // nf and E are also spend-relation inputs: the spend core refuses them first.
    for (i, err) in [
        (access::NULLIFIER, SpendError::WrongNullifier),
        (access::ESCROW, SpendError::WrongChange),
    ] {
        let mut public = honest;
        public[i] += Fr::ONE;
        assert_eq!(
            both(with_esc(public), w.clone()),
            (Err(AccessError::Spend(err)), false),
            "input {i}"
        );
    }
}

/// The access proof's input #8 is exactly the `esc` a settle slot of the
/// same escrow exposes (§3.3, §5.1): same terms, same order, `h_S` of the
/// receipt key. A ledger can hand one to the other verifier unchanged.
#[test]
fn access_esc_is_the_settle_slot_esc() {
    let session = SigningKey::from_seed([21; 32]).expect("test key");
    let node_id = SigningKey::from_seed([22; 32])
        .expect("test key")
        .verifying_key()
        .node_id();
    let c = case(6, 5_000, 1_200, 2, 3);
    let public = AccessPublic::derive(
        &c.private,
        Value(1_200),
        node_id,
        session.verifying_key().session_key_hash(),
        OwnerKey::from_fr(Fr::from(31u64)),
        BlockHeight(7_777),
    )
    .expect("honest");
    let access_circuit = AccessCircuit::new(&public, &c.private);
    let esc = access_circuit.public_inputs()[access::ESCROW_COMMITMENT];
    assert!(circuit_ok(access_circuit));
    assert_eq!(esc, public.escrow_commitment().inner());

    let receipt = Receipt {
        session_id: public.nullifier.inner(),
        kib: 100,
    }
    .sign(&session);
    let slot = Slot::new(
        public.escrow_terms(),
        Value(3),
        &session.verifying_key(),
        &receipt,
    );
    assert_eq!(slot.public.escrow_commitment.inner(), esc);
    let settle_public = SettlePublic::for_slots(node_id, Value(3), &[slot]);
    let settle = SettleCircuit::<1>::from_slots(settle_public, &[slot]).expect("1 slot");
    assert_eq!(
        settle.public_inputs()[settle::offsets::escrow_commitment(0)],
        esc
    );
    let cs = ConstraintSystem::<Fr>::new_ref();
    settle.generate_constraints(cs.clone()).expect("synthesis");
    assert!(cs.is_satisfied().expect("prove mode"));
}

#[test]
fn a5_value_decomposition_is_strict() {
    // 64 bits pack to at most 2^64 − 1 < r: the packing never wraps, so a value
    // has one decomposition. The aliased bits of v + r (its low 64 bits) fail.
    assert!(ark_ff::BigInteger::num_bits(&Fr::MODULUS) > 65);
    let v = Fr::from(12_345u64);
    let snap = veil_circuits::shape::R1csSnapshot::synthesize(RangeOnly(v)).expect("synthesis");
    assert!(snap.is_satisfied());
    let mut aliased = snap.z.clone();
    let v_plus_r = {
        let mut b = v.into_bigint();
        let _ = ark_ff::BigInteger::add_with_carry(&mut b, &Fr::MODULUS);
        b
    };
    // Columns: 0 = one, 1 = x, 2..66 = bits.
    for i in 0..64 {
        aliased[2 + i] = Fr::from(u64::from(ark_ff::BigInteger::get_bit(&v_plus_r, i)));
    }
    assert_ne!(aliased, snap.z);
    assert!(!snap.is_satisfied_by(&aliased));
}

struct RangeOnly(Fr);
impl ConstraintSynthesizer<Fr> for RangeOnly {
    fn generate_constraints(
        self,
        cs: ark_relations::gr1cs::ConstraintSystemRef<Fr>,
    ) -> Result<(), ark_relations::gr1cs::SynthesisError> {
        let x = FpVar::new_witness(cs, || Ok(self.0))?;
        veil_circuits::gadgets::range::enforce_u64(&x)
    }
}

#[test]
fn a6_wrong_path_bits_or_position_are_rejected() {
    let c = case(3, 500, 100, 3, 6);
    let good = c.private.path.clone();
    for wrong in [
        good.index.get() ^ 1,
        good.index.get() | (1 << 31),
        good.index.get() + 4,
    ] {
        let mut private = c.private.clone();
        private.path.index = LeafIndex::new(wrong).expect("small");
        assert_eq!(
            AccessRelation::check(&c.public, &private),
            Err(AccessError::Spend(SpendError::NotInTree))
        );
        assert!(!circuit_ok(AccessCircuit::new(&c.public, &private)));
    }
    // A different nullifier for the same note is rejected.
    let mut public = c.public;
    public.nullifier = Nullifier::from_fr(public.nullifier.inner() + Fr::ONE);
    assert_eq!(
        AccessRelation::check(&public, &c.private),
        Err(AccessError::Spend(SpendError::WrongNullifier))
    );
    assert!(!circuit_ok(AccessCircuit::new(&public, &c.private)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Native and circuit agree on random honest statements.
    #[test]
    fn honest_statements_agree(sk in any::<u64>(), v in any::<u64>(), e_frac in 0u64..=100, pos in 0u64..8, others in 0u64..8) {
        let e = ((u128::from(v) * u128::from(e_frac)) / 100) as u64;
        let c = case(sk, v, e, pos, others);
        prop_assert_eq!(AccessRelation::check(&c.public, &c.private), Ok(()));
        prop_assert!(circuit_ok(AccessCircuit::new(&c.public, &c.private)));
    }

    /// A6: the nullifier depends only on (sk, ρ): the same note in different
    /// trees, positions, escrows and change randomness gives one nullifier.
    #[test]
    fn a6_nullifier_is_constant_for_a_note(pos in 0u64..8, others in 0u64..8, e in 0u64..=1_000, rho_c in any::<u64>()) {
        let key = SpendingKey::from_fr(Fr::from(424_242u64));
        let rho = Rho::from_fr(Fr::from(31_337u64));
        let note = Note::new(Value(1_000), key.owner_key(), rho);
        let (tree, index) = tree_with(note.commitment(), pos, others);
        let private = AccessPrivate { path: tree.path(index).expect("leaf"), sk: key.clone(), value: Value(1_000), rho, rho_change: Rho::from_fr(Fr::from(rho_c)) };
        let public = AccessPublic::derive(&private, Value(e), NodeId::from_fr(Fr::ONE), SessionKeyHash::from_fr(Fr::ONE), OwnerKey::from_fr(Fr::ONE), BlockHeight(1)).expect("honest");
        prop_assert_eq!(public.nullifier, Nullifier::derive(&key, &rho));
        let cs = ConstraintSystem::<Fr>::new_ref();
        AccessCircuit::new(&public, &private).generate_constraints(cs.clone()).expect("synthesis");
        prop_assert!(cs.is_satisfied().expect("prove mode"));
        prop_assert_eq!(cs.instance_assignment().expect("assigned")[1 + access::NULLIFIER], Nullifier::derive(&key, &rho).inner());
    }
}

#[test]
fn a8_inner_node_or_empty_leaf_is_not_a_note() {
    let c = case(5, 900, 100, 0, 3);
    let tree_path = &c.private.path;
    // The note's parent node presented as a leaf one level up (siblings shifted):
    // the circuit recomputes cm from the note, and depth is fixed at 32.
    let mut siblings = [Fr::from(0u64); DEPTH];
    siblings[..DEPTH - 1].copy_from_slice(&tree_path.siblings[1..]);
    siblings[DEPTH - 1] = empty_roots()[DEPTH - 1];
    let mut private = c.private.clone();
    private.path = AuthPath {
        siblings,
        index: LeafIndex::new(0).expect("0"),
    };
    assert_eq!(
        AccessRelation::check(&c.public, &private),
        Err(AccessError::Spend(SpendError::NotInTree))
    );
    assert!(!circuit_ok(AccessCircuit::new(&c.public, &private)));
    // An empty position (leaf 0 = Z_0) with the empty tree's siblings does not
    // reach the root either.
    let mut private = c.private.clone();
    private.path = AuthPath::empty();
    assert_eq!(
        AccessRelation::check(&c.public, &private),
        Err(AccessError::Spend(SpendError::NotInTree))
    );
    assert!(!circuit_ok(AccessCircuit::new(&c.public, &private)));
}

#[test]
fn a9_in_circuit_hashes_are_domain_separated() {
    let cs = ConstraintSystem::<Fr>::new_ref();
    let x = FpVar::new_witness(cs.clone(), || Ok(Fr::from(7u64))).expect("alloc");
    let y = FpVar::new_witness(cs.clone(), || Ok(Fr::from(9u64))).expect("alloc");
    let nf = note_gadget::nullifier(&x, &y)
        .expect("synthesis")
        .value()
        .expect("assigned");
    let addr = note_gadget::address(&x, &y)
        .expect("synthesis")
        .value()
        .expect("assigned");
    let cm = note_gadget::commitment(&x, &y)
        .expect("synthesis")
        .value()
        .expect("assigned");
    let node = veil_circuits::gadgets::poseidon::hash_node(&x, &y)
        .expect("synthesis")
        .value()
        .expect("assigned");
    let all = [nf, addr, cm, node];
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            assert_ne!(all[i], all[j], "{i} vs {j}");
        }
    }
    assert_eq!(node, hash_node(&Fr::from(7u64), &Fr::from(9u64)));
    // commitment(x) vs commitment(x, 0): arity is part of the hash.
    assert_ne!(
        hash(&[Fr::from(3u64), Fr::from(7u64)]),
        hash(&[Fr::from(3u64), Fr::from(7u64), Fr::from(0u64)])
    );
    assert!(cs.is_satisfied().expect("prove mode"));
}
