//! `settle_K` (`docs/protocol.md` §5): the circuit is satisfied exactly when
//! the native statement check passes, on honest batches and on the
//! adversarial inputs A12–A17.

use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::PrimeField;
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use veil_circuits::settle::{
    PUBLIC_INPUTS, SettleCircuit, SettleError, SettlePublic, SettleStatement, Slot, SlotPublic,
    ledger_batch_digest, refund_commitment, settle_batch_digest, slot_pay,
};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsProjective, ScalarField},
    eddsa::{RawSignature, SignatureError, SigningKey, testing},
    ids::{NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    note::{Address, NoteCommitment},
    receipt::Receipt,
    refund::{reclaim_note, refund_note, refund_rho},
    value::Value,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("non-degenerate test key")
}

fn node() -> NodeId {
    key(200).verifying_key().node_id()
}

/// A real slot for session `n` with `kib` KiB at `price`, escrow `escrow`.
fn real_slot(n: u8, kib: u64, price: u64, escrow: u64) -> Slot {
    let sk = key(n);
    let session_id = SessionId::from_fr(Fr::from(1000 + u64::from(n)));
    let receipt = Receipt {
        session_id: session_id.inner(),
        kib,
    }
    .sign(&sk);
    Slot::new(
        session_id,
        Value(escrow),
        Value(price),
        OwnerKey::from_fr(Fr::from(77 + u64::from(n))),
        &sk.verifying_key(),
        &receipt,
    )
}

fn pad<const K: usize>(mut slots: Vec<Slot>) -> Vec<Slot> {
    slots.resize(K, Slot::padding());
    slots
}

/// Synthesizes and reports satisfaction.
fn circuit_ok<const K: usize>(c: SettleCircuit<K>) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    c.generate_constraints(cs.clone()).expect("synthesis");
    cs.is_satisfied().expect("satisfiability")
}

/// Asserts native and circuit agree; returns the native verdict.
fn check<const K: usize>(public: SettlePublic, slots: Vec<Slot>) -> Result<(), SettleError> {
    let native = SettleStatement {
        public,
        slots: slots.clone(),
    }
    .check();
    let circuit = circuit_ok(SettleCircuit::<K>::new(public, slots).expect("K slots"));
    assert_eq!(
        native.is_ok(),
        circuit,
        "native {native:?} vs circuit {circuit}"
    );
    native
}

/// Honest statement for `slots` (digest and total recomputed).
fn honest<const K: usize>(slots: Vec<Slot>) -> Result<(), SettleError> {
    let slots = pad::<K>(slots);
    check::<K>(SettlePublic::for_slots(node(), &slots), slots)
}

#[test]
fn honest_batches_settle() {
    assert_eq!(honest::<1>(vec![real_slot(1, 100, 3, 1_000)]), Ok(()));
    assert_eq!(honest::<1>(vec![]), Ok(()));
    let slots: Vec<Slot> = (1..=5)
        .map(|n| real_slot(n, 10 * u64::from(n), 2, 50))
        .collect();
    assert_eq!(honest::<8>(slots.clone()), Ok(()));
    let public = SettlePublic::for_slots(node(), &pad::<8>(slots));
    // pays: 20, 40, 50 (capped), 50, 50.
    assert_eq!(public.total, Value(210));
    assert_eq!(public.to_field_elements().len(), PUBLIC_INPUTS);
}

#[test]
fn dummy_is_satisfiable_and_rejects_wrong_slot_count() {
    assert!(circuit_ok(SettleCircuit::<1>::dummy()));
    assert!(circuit_ok(SettleCircuit::<8>::dummy()));
    let public = SettlePublic::for_slots(node(), &[]);
    assert_eq!(
        SettleCircuit::<2>::new(public, vec![Slot::padding()]),
        Err(SettleError::SlotCount {
            expected: 2,
            actual: 1
        })
    );
}

#[test]
fn wrong_public_inputs_fail() {
    let slots = pad::<1>(vec![real_slot(2, 10, 1, 100)]);
    let good = SettlePublic::for_slots(node(), &slots);
    let mut more = good;
    more.total = Value(good.total.get() + 1);
    assert!(matches!(
        check::<1>(more, slots.clone()),
        Err(SettleError::TotalMismatch { .. })
    ));
    let mut other_node = good;
    other_node.node_id = NodeId::from_fr(Fr::from(5u64));
    assert_eq!(
        check::<1>(other_node, slots.clone()),
        Err(SettleError::DigestMismatch)
    );
    let mut other_digest = good;
    other_digest.batch_digest += Fr::from(1u64);
    assert_eq!(
        check::<1>(other_digest, slots),
        Err(SettleError::DigestMismatch)
    );
}

#[test]
fn s_plus_l_fails() {
    // A12: S + l must still fit in the 251 witness bits for the test to probe S < l.
    for n in 10u8..80 {
        let mut slot = real_slot(n, 5, 1, 100);
        let bumped = testing::add_l(&slot.witness.signature.s);
        if ark_ff::BigInteger::num_bits(&bumped) > 251 {
            continue;
        }
        slot.witness.signature.s = bumped;
        assert_eq!(
            honest::<1>(vec![slot]),
            Err(SettleError::MalformedWitness { slot: 0 })
        );
        return;
    }
    panic!("no S with S + l < 2^251");
}

#[test]
fn small_order_and_off_curve_session_keys_fail() {
    // A13: an escrow whose h_S commits to a small-order key; R = S·G then
    // satisfies the cofactored equation for any kib. Only 8·A ≠ O stops it.
    let s = ScalarField::from(4321u64);
    let r = EdwardsProjective::generator()
        .mul_bigint(s.into_bigint())
        .into_affine();
    for a in [
        testing::identity(),
        testing::order_two(),
        testing::order_eight(),
    ] {
        let mut slot = real_slot(3, 1_000_000, 1, 500);
        slot.witness.session_key = a;
        slot.witness.signature = RawSignature {
            r,
            s: s.into_bigint(),
        };
        slot.public.session_key_hash =
            SessionKeyHash::from_fr(veil_primitives::poseidon::hash_tagged(
                veil_primitives::poseidon::DomainTag::Session,
                &[a.x, a.y],
            ));
        assert_eq!(
            honest::<1>(vec![slot]),
            Err(SettleError::Signature {
                slot: 0,
                source: SignatureError::LowOrderKey
            })
        );
    }
    let mut slot = real_slot(3, 10, 1, 500);
    slot.witness.session_key = testing::off_curve();
    assert_eq!(
        honest::<1>(vec![slot]),
        Err(SettleError::MalformedWitness { slot: 0 })
    );
}

#[test]
fn receipt_signed_by_another_key_fails() {
    // A14: the node signs the receipt with its own key; h_S commits to the client's.
    let client = key(4);
    let node_key = key(200);
    let mut slot = real_slot(4, 10, 1, 100);
    let forged = Receipt {
        session_id: slot.public.session_id.inner(),
        kib: 90,
    }
    .sign(&node_key);
    slot.witness.kib = 90;
    slot.witness.signature = forged.signature.into();
    slot.public.cm_refund = refund_commitment(
        Value(100),
        Value(1),
        90,
        &slot.public.refund_owner,
        &slot.witness.session_key,
    );
    // With the client's key as A: the signature fails.
    assert_eq!(
        honest::<1>(vec![slot]),
        Err(SettleError::Signature {
            slot: 0,
            source: SignatureError::Equation
        })
    );
    // With the node's key as A: it no longer hashes to h_S.
    slot.witness.session_key = node_key.verifying_key().point().to_affine();
    assert_eq!(
        honest::<1>(vec![slot]),
        Err(SettleError::SessionKeyMismatch { slot: 0 })
    );
    assert_eq!(
        slot.public.session_key_hash,
        client.verifying_key().session_key_hash()
    );
}

#[test]
fn tampered_kib_and_refund_fail() {
    let mut slot = real_slot(5, 10, 2, 100);
    slot.witness.kib = 40; // more than the client signed
    slot.public.cm_refund = refund_commitment(
        Value(100),
        Value(2),
        40,
        &slot.public.refund_owner,
        &slot.witness.session_key,
    );
    assert!(matches!(
        honest::<1>(vec![slot]),
        Err(SettleError::Signature { slot: 0, .. })
    ));
    let mut slot = real_slot(5, 10, 2, 100);
    // The node under-reports the refund (claims the full escrow as refund-less).
    slot.public.cm_refund = refund_note(
        Value(0),
        slot.public.refund_owner,
        &slot.witness.session_key,
    )
    .commitment();
    assert_eq!(
        honest::<1>(vec![slot]),
        Err(SettleError::RefundMismatch { slot: 0 })
    );
}

/// The refund note must be `(E − pay, rk, H(REFUND, A))` with the slot's
/// own `rk` and session key `A` (§5.4): native and circuit refuse the same
/// wrong blindings, and the old public formula `H(NOTE, E − pay, rk)`.
#[test]
fn refund_note_is_blinded_by_the_session_key_and_owned_by_rk() {
    let base = real_slot(15, 10, 2, 100);
    let (rk, a) = (base.public.refund_owner, base.witness.session_key);
    let refund = Value(80);
    assert_eq!(
        base.public.cm_refund,
        refund_note(refund, rk, &a).commitment()
    );
    let other_a = key(99).verifying_key().point().to_affine();
    let other_rk = OwnerKey::from_fr(rk.inner() + Fr::from(1u64));
    let sid = base.public.session_id;
    let wrong: [(&str, NoteCommitment); 6] = [
        (
            "another session key",
            refund_note(refund, rk, &other_a).commitment(),
        ),
        (
            "another owner",
            refund_note(refund, other_rk, &a).commitment(),
        ),
        ("another value", refund_note(Value(81), rk, &a).commitment()),
        (
            "unblinded (old formula)",
            NoteCommitment::from_value_and_address(refund, &Address::from_fr(rk.inner())),
        ),
        (
            "ρ = h_S instead of H(REFUND, A)",
            NoteCommitment::from_value_and_address(
                refund,
                &Address::derive(
                    &rk,
                    &veil_primitives::note::Rho::from_fr(base.public.session_key_hash.inner()),
                ),
            ),
        ),
        (
            "the reclaim note",
            reclaim_note(refund, rk, &sid).commitment(),
        ),
    ];
    for (what, cm) in wrong {
        let mut slot = base;
        slot.public.cm_refund = cm;
        assert_eq!(
            honest::<1>(vec![slot]),
            Err(SettleError::RefundMismatch { slot: 0 }),
            "{what}"
        );
    }
    // A wrong rk in the slot (the ledger's record) with the honest refund note:
    // the note no longer matches the slot's owner.
    let mut slot = base;
    slot.public.refund_owner = other_rk;
    assert_eq!(
        honest::<1>(vec![slot]),
        Err(SettleError::RefundMismatch { slot: 0 })
    );
    // Re-blinded for the new rk, it settles (rk is the slot's to choose).
    slot.public.cm_refund = refund_note(refund, other_rk, &a).commitment();
    assert_eq!(honest::<1>(vec![slot]), Ok(()));
    assert_ne!(refund_rho(&a).inner(), base.public.session_key_hash.inner());
}

#[test]
fn pay_is_capped_and_never_wraps() {
    // A16 / E5: kib·price ≥ 2^64 and kib > E/price both pay exactly E.
    let big = real_slot(6, u64::MAX, u64::MAX, 12_345);
    assert_eq!(big.pay(), Value(12_345));
    assert_eq!(honest::<1>(vec![big]), Ok(()));
    let over = real_slot(7, 1_000, 7, 6_999);
    assert_eq!(over.pay(), Value(6_999));
    assert_eq!(honest::<1>(vec![over]), Ok(()));
    assert_eq!(slot_pay(3, Value(7), Value(6_999)), Value(21));
    // Refund of a capped session is a zero-value note.
    assert_eq!(
        over.public.cm_refund,
        refund_note(
            Value::ZERO,
            over.public.refund_owner,
            &over.witness.session_key
        )
        .commitment()
    );
}

#[test]
fn total_above_64_bits_fails() {
    // A16: two fully paid escrows of 2^63 sum to 2^64.
    let half = 1u64 << 63;
    let slots = vec![real_slot(8, half, 1, half), real_slot(9, half, 1, half)];
    let public = SettlePublic::for_slots(node(), &slots);
    assert_eq!(
        SettleStatement {
            public,
            slots: slots.clone()
        }
        .check(),
        Err(SettleError::TotalOverflow)
    );
    // T = 2^64 exactly (as a field element): only the range check refuses it.
    let two_64 = Fr::from(half) + Fr::from(half);
    let c = SettleCircuit::<2>::new(public, slots.clone()).expect("2 slots");
    assert!(!circuit_ok(c.with_raw_total(two_64)));
    // T = 2^64 mod 2^64 = 0: the sum equality refuses it.
    let mut wrapped = public;
    wrapped.total = Value(0);
    assert!(check::<2>(wrapped, slots).is_err());
}

#[test]
fn padding_slots_must_be_empty() {
    // A17: a disabled slot with bytes, a refund, or a session.
    let node_id = node();
    let cases: [fn(&mut Slot); 3] = [
        |s| s.witness.kib = 5,
        |s| s.public.cm_refund = NoteCommitment::from_fr(Fr::from(9u64)),
        |s| s.public.session_id = SessionId::from_fr(Fr::from(9u64)),
    ];
    for tamper in cases {
        let mut slots = pad::<2>(vec![real_slot(10, 10, 1, 100)]);
        tamper(&mut slots[1]);
        let public = SettlePublic::for_slots(node_id, &slots);
        assert_eq!(
            check::<2>(public, slots),
            Err(SettleError::PaddingNotEmpty { slot: 1 })
        );
    }
    // A real slot switched off (to drop its refund) is refused too.
    let mut slots = vec![real_slot(11, 10, 1, 100)];
    slots[0].witness.enabled = false;
    let public = SettlePublic::for_slots(node_id, &slots);
    assert_eq!(
        check::<1>(public, slots),
        Err(SettleError::PaddingNotEmpty { slot: 0 })
    );
}

#[test]
fn slots_are_bound_to_positions_and_duplicates_never_match_the_ledger() {
    // A15: the ledger refuses a batch naming one session twice…
    let a = real_slot(12, 10, 1, 100);
    let b = real_slot(13, 20, 1, 100);
    let node_id = node();
    assert_eq!(
        ledger_batch_digest(&node_id, 2, &[a.public, a.public]),
        Err(SettleError::DuplicateSession { slot: 1 })
    );
    assert_eq!(
        ledger_batch_digest(&node_id, 1, &[a.public, b.public]),
        Err(SettleError::SlotCount {
            expected: 1,
            actual: 2
        })
    );
    assert_eq!(
        ledger_batch_digest(&node_id, 2, &[]),
        Err(SettleError::SlotCount {
            expected: 2,
            actual: 0
        })
    );
    assert_eq!(
        ledger_batch_digest(&node_id, 2, &[SlotPublic::padding()]),
        Err(SettleError::ZeroSession { slot: 0 })
    );
    // …so a duplicated batch proves a digest the ledger never builds.
    let ledger = ledger_batch_digest(&node_id, 2, &[a.public]).expect("valid batch");
    let dup = SettlePublic::for_slots(node_id, &[a, a]);
    assert_eq!(check::<2>(dup, vec![a, a]), Ok(()));
    assert_ne!(dup.batch_digest, ledger);
    assert_eq!(
        ledger,
        settle_batch_digest(&node_id, &[a.public, SlotPublic::padding()])
    );
    // Swapping two slots changes the digest: each slot is bound to its position.
    let public = SettlePublic::for_slots(node_id, &[a, b]);
    assert_eq!(check::<2>(public, vec![a, b]), Ok(()));
    assert_eq!(
        check::<2>(public, vec![b, a]),
        Err(SettleError::DigestMismatch)
    );
    // The digest also binds K.
    assert_ne!(
        settle_batch_digest(&node_id, &[a.public]),
        settle_batch_digest(&node_id, &[a.public, SlotPublic::padding()])
    );
}

#[test]
fn refund_discovery_matches_the_settled_commitment() {
    // §6: the client recomputes the refund note for each receipt it signed.
    let slot = real_slot(14, 33, 3, 500);
    let (rk, a) = (slot.public.refund_owner, slot.witness.session_key);
    let candidates: Vec<NoteCommitment> = (0..=40)
        .map(|kib| refund_commitment(Value(500), Value(3), kib, &rk, &a))
        .collect();
    assert_eq!(
        candidates.iter().position(|c| *c == slot.public.cm_refund),
        Some(33)
    );
    assert_eq!(
        refund_commitment(Value(500), Value(3), 0, &rk, &a),
        refund_note(Value(500), rk, &a).commitment()
    );
    // A zero-KiB refund is not the reclaim of the same escrow (§8.3.4).
    assert_ne!(
        refund_commitment(Value(500), Value(3), 0, &rk, &a),
        reclaim_note(Value(500), rk, &slot.public.session_id).commitment()
    );
}

mod property {
    use super::*;
    use proptest::prelude::*;

    /// u64 values biased towards the edges (0, small, near 2^64).
    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            1u64..1_000,
            any::<u64>(),
            (u64::MAX - 1_000)..=u64::MAX
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Random terms, honest or with one tampering: native and circuit agree,
        /// and exactly the honest statements hold.
        #[test]
        fn random_terms_agree(kib in value(), price in value(), escrow in value(), tamper in 0u8..4) {
            let mut slot = real_slot(20, kib, price, escrow);
            let mut public = SettlePublic::for_slots(node(), &[slot]);
            prop_assert_eq!(public.total, slot_pay(kib, Value(price), Value(escrow)));
            match tamper {
                1 => slot.witness.kib = kib.wrapping_add(1),
                2 => {
                    slot.public.cm_refund =
                        NoteCommitment::from_fr(slot.public.cm_refund.inner() + Fr::from(1u64));
                    public = SettlePublic::for_slots(node(), &[slot]);
                }
                3 => public.total = Value(public.total.get().wrapping_add(1)),
                _ => {}
            }
            let verdict = check::<1>(public, vec![slot]);
            prop_assert_eq!(verdict.is_ok(), tamper == 0, "{:?}", verdict);
        }
    }
}
