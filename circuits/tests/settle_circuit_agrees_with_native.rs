//! `settle_K` (`docs/protocol.md` §5): the circuit is satisfied exactly when
//! the native statement check passes, on honest batches and on the
//! adversarial inputs A12–A17.

use std::collections::HashMap;

use ark_ec::{CurveGroup, PrimeGroup};
use ark_ff::{AdditiveGroup, Field, PrimeField};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use veil_circuits::{
    settle::{
        SettleCircuit, SettleError, SettlePublic, SettleStatement, Slot, SlotPublic, SlotWitness,
        offsets, public_inputs, refund_commitment, slot_pay,
    },
    shape::R1csSnapshot,
};
use veil_primitives::{
    Fr,
    babyjubjub::{EdwardsAffine, EdwardsProjective, ScalarField},
    eddsa::{RawSignature, SignatureError, SigningKey, testing},
    escrow::{EscrowCommitment, EscrowTerms},
    ids::{BlockHeight, NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    note::{Address, NoteCommitment},
    poseidon::{DomainTag, hash_tagged},
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

/// The terms of session `n`'s escrow of `escrow` to `node_id`, with session key `key(n)`.
fn terms_for(node_id: NodeId, n: u8, escrow: u64) -> EscrowTerms {
    EscrowTerms {
        session_id: SessionId::from_fr(Fr::from(1000 + u64::from(n))),
        node_id,
        escrow: Value(escrow),
        session_key_hash: key(n).verifying_key().session_key_hash(),
        refund_owner: OwnerKey::from_fr(Fr::from(77 + u64::from(n))),
        expiry: BlockHeight(50_000 + u64::from(n)),
    }
}

/// A slot of `terms` settled at `price` with a receipt for `kib` signed by `signer`.
fn slot_of(terms: EscrowTerms, signer: &SigningKey, kib: u64, price: u64) -> Slot {
    let receipt = Receipt {
        session_id: terms.session_id.inner(),
        kib,
    }
    .sign(signer);
    Slot::new(terms, Value(price), &signer.verifying_key(), &receipt)
}

/// A real slot of [`node`] for session `n` with `kib` KiB at `price`, escrow `escrow`.
fn real_slot(n: u8, kib: u64, price: u64, escrow: u64) -> Slot {
    slot_of(terms_for(node(), n, escrow), &key(n), kib, price)
}

fn pad<const K: usize>(mut slots: Vec<Slot>) -> Vec<Slot> {
    slots.resize(K, Slot::padding());
    slots
}

fn witnesses(slots: &[Slot]) -> Vec<SlotWitness> {
    slots.iter().map(|s| s.witness).collect()
}

/// Synthesizes and reports satisfaction.
fn circuit_ok<const K: usize>(c: SettleCircuit<K>) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    c.generate_constraints(cs.clone()).expect("synthesis");
    cs.is_satisfied().expect("satisfiability")
}

/// Asserts native and circuit agree; returns the native verdict.
fn check<const K: usize>(public: SettlePublic, slots: Vec<SlotWitness>) -> Result<(), SettleError> {
    let native = SettleStatement {
        public: public.clone(),
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

/// Honest statement for `slots` at `price` (publics and total recomputed).
fn honest<const K: usize>(price: u64, slots: Vec<Slot>) -> Result<(), SettleError> {
    let slots = pad::<K>(slots);
    check::<K>(
        SettlePublic::for_slots(node(), Value(price), &slots),
        witnesses(&slots),
    )
}

#[test]
fn honest_batches_settle() {
    assert_eq!(honest::<1>(3, vec![real_slot(1, 100, 3, 1_000)]), Ok(()));
    assert_eq!(honest::<1>(3, vec![]), Ok(()));
    let slots: Vec<Slot> = (1..=5)
        .map(|n| real_slot(n, 10 * u64::from(n), 2, 50))
        .collect();
    assert_eq!(honest::<8>(2, slots.clone()), Ok(()));
    let padded = pad::<8>(slots);
    let public = SettlePublic::for_slots(node(), Value(2), &padded);
    // pays: 20, 40, 50 (capped), 50, 50.
    assert_eq!(public.total, Value(210));
    // Layout (§5.1): node_id, T, price, esc_0..esc_7, cm_refund_0..cm_refund_7.
    let inputs = public.to_field_elements();
    assert_eq!(inputs.len(), public_inputs(8));
    assert_eq!(public_inputs(8), 19);
    assert_eq!(inputs[offsets::NODE_ID], node().inner());
    assert_eq!(inputs[offsets::TOTAL], Fr::from(210u64));
    assert_eq!(inputs[offsets::PRICE], Fr::from(2u64));
    for (i, s) in padded.iter().enumerate() {
        assert_eq!(
            inputs[offsets::escrow_commitment(i)],
            s.public.escrow_commitment.inner()
        );
        assert_eq!(inputs[offsets::cm_refund(8, i)], s.public.cm_refund.inner());
        if i < 5 {
            assert_eq!(
                s.public.escrow_commitment,
                s.witness.terms.commitment(),
                "a real slot's esc is its terms' commitment"
            );
        } else {
            assert_eq!(s.public, SlotPublic::padding());
        }
    }
    let circuit = SettleCircuit::<8>::from_slots(public, &padded).expect("8 slots");
    assert_eq!(circuit.public_inputs(), inputs);
}

#[test]
fn dummy_is_satisfiable_and_rejects_wrong_slot_count() {
    assert!(circuit_ok(SettleCircuit::<1>::dummy()));
    assert!(circuit_ok(SettleCircuit::<8>::dummy()));
    let public = SettlePublic::for_slots(node(), Value(1), &[]);
    assert_eq!(
        SettleCircuit::<2>::new(public, vec![SlotWitness::padding()]),
        Err(SettleError::SlotCount {
            expected: 2,
            actual: 1
        })
    );
    // Public slots and witnesses must both number K, and match natively.
    let two = SettlePublic::for_slots(node(), Value(1), &[Slot::padding(); 2]);
    assert!(matches!(
        SettleCircuit::<2>::new(two.clone(), vec![SlotWitness::padding()]),
        Err(SettleError::SlotCount { expected: 2, .. })
    ));
    assert!(matches!(
        SettleCircuit::<1>::new(two.clone(), vec![SlotWitness::padding()]),
        Err(SettleError::SlotCount { expected: 1, .. })
    ));
    assert_eq!(
        SettleStatement {
            public: two,
            slots: vec![SlotWitness::padding()],
        }
        .check(),
        Err(SettleError::SlotCount {
            expected: 2,
            actual: 1
        })
    );
}

#[test]
fn wrong_public_inputs_fail() {
    let slots = pad::<1>(vec![real_slot(2, 10, 1, 100)]);
    let w = witnesses(&slots);
    let good = SettlePublic::for_slots(node(), Value(1), &slots);
    assert_eq!(check::<1>(good.clone(), w.clone()), Ok(()));
    let mut more = good.clone();
    more.total = Value(good.total.get() + 1);
    assert!(matches!(
        check::<1>(more, w.clone()),
        Err(SettleError::TotalMismatch { .. })
    ));
    // Another node: the escrow commitment hashes the statement's node_id.
    let mut other_node = good.clone();
    other_node.node_id = NodeId::from_fr(Fr::from(5u64));
    assert_eq!(
        check::<1>(other_node, w.clone()),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    let mut other_esc = good.clone();
    other_esc.slots[0].escrow_commitment =
        EscrowCommitment::from_fr(good.slots[0].escrow_commitment.inner() + Fr::ONE);
    assert_eq!(
        check::<1>(other_esc, w.clone()),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    let mut other_refund = good.clone();
    other_refund.slots[0].cm_refund =
        NoteCommitment::from_fr(good.slots[0].cm_refund.inner() + Fr::ONE);
    assert_eq!(
        check::<1>(other_refund, w.clone()),
        Err(SettleError::RefundMismatch { slot: 0 })
    );
}

/// The price is a public input: the same receipts and refund notes at
/// another price are refused (the refund `E − kib·price` no longer matches),
/// whether or not `T` is recomputed for the new price.
#[test]
fn changed_price_fails() {
    let slots = pad::<2>(vec![real_slot(2, 10, 3, 100), real_slot(3, 7, 3, 1_000)]);
    let w = witnesses(&slots);
    let good = SettlePublic::for_slots(node(), Value(3), &slots);
    assert_eq!(good.total, Value(30 + 21));
    assert_eq!(check::<2>(good.clone(), w.clone()), Ok(()));
    for price in [2u64, 4, 0, u64::MAX] {
        let mut p = good.clone();
        p.price = Value(price);
        assert_eq!(
            check::<2>(p.clone(), w.clone()),
            Err(SettleError::RefundMismatch { slot: 0 }),
            "price {price}, T kept"
        );
        p.total = slots
            .iter()
            .map(|s| s.pay(Value(price)))
            .fold(Value::ZERO, |a, b| a.checked_add(b).expect("small"));
        assert_eq!(
            check::<2>(p, w.clone()),
            Err(SettleError::RefundMismatch { slot: 0 }),
            "price {price}, T recomputed"
        );
    }
}

/// Returns the linear form `L` with `L(z) = 0` of row `i` when one side of
/// the product is a constant (`A·k = C` or `k·B = C`), as `column → coefficient`.
fn linear_form(snap: &R1csSnapshot, i: usize) -> Option<HashMap<usize, Fr>> {
    let constant = |row: &[(Fr, usize)]| -> Option<Fr> {
        row.iter()
            .all(|(_, c)| *c == 0)
            .then(|| row.iter().map(|(v, _)| *v).sum())
    };
    let (k, other) = match (constant(&snap.b[i]), constant(&snap.a[i])) {
        (Some(k), _) => (k, &snap.a[i]),
        (None, Some(k)) => (k, &snap.b[i]),
        (None, None) => return None,
    };
    let mut form = HashMap::<usize, Fr>::new();
    for (v, c) in other {
        *form.entry(*c).or_default() += k * v;
    }
    for (v, c) in &snap.c[i] {
        *form.entry(*c).or_default() -= v;
    }
    form.retain(|_, v| *v != Fr::ZERO);
    Some(form)
}

/// Whether column `col` is forced to {0, 1} by a row that mentions only it
/// (and the constant one), as the booleanity constraint of a bit does.
fn is_boolean_column(snap: &R1csSnapshot, by_col: &[Vec<usize>], col: usize) -> bool {
    by_col[col].iter().any(|&i| {
        let only_col = snap.a[i]
            .iter()
            .chain(&snap.b[i])
            .chain(&snap.c[i])
            .all(|(_, c)| *c == col || *c == 0);
        let holds = |x: Fr| {
            let mut z = snap.z.clone();
            z[col] = x;
            snap.row_holds(i, &z)
        };
        only_col && holds(Fr::ZERO) && holds(Fr::ONE) && !holds(Fr::from(2u64)) && !holds(-Fr::ONE)
    })
}

/// `price < 2^64` is enforced in the circuit (§5.4): without it a price
/// of `−1/kib` would make `kib·price = −1`, pass the 128-bit comparison as
/// "cheaper than E", and pay `−1` (a refund of `E + 1`). The statement
/// types cannot carry such a price, so the check is shown on the finalised
/// matrices: one linear row equates the price input to `Σ 2^i b_i` over 64
/// boolean witness columns (so every satisfying assignment has
/// `price ≤ 2^64 − 1`), and the honest assignment with `price + 2^64` fails.
#[test]
fn price_of_64_bits_or_more_is_refused_in_circuit() {
    let slots = pad::<1>(vec![real_slot(30, 10, 3, 1_000)]);
    let public = SettlePublic::for_slots(node(), Value(3), &slots);
    let snap =
        R1csSnapshot::synthesize(SettleCircuit::<1>::from_slots(public, &slots).expect("1 slot"))
            .expect("synthesis");
    assert!(snap.is_satisfied());
    let price_col = 1 + offsets::PRICE;
    assert_eq!(snap.z[price_col], Fr::from(3u64));
    let by_col = snap.rows_by_column();
    let two_64 = Fr::from(u64::MAX) + Fr::ONE;
    for wrapped in [two_64, two_64 + Fr::from(3u64), -Fr::ONE] {
        assert!(
            !snap.survives(&by_col, price_col, wrapped),
            "price {wrapped} accepted with the honest witness"
        );
    }
    let decompositions: Vec<usize> = by_col[price_col]
        .iter()
        .copied()
        .filter(|&i| {
            let Some(form) = linear_form(&snap, i) else {
                return false;
            };
            let Some(p) = form.get(&price_col).copied() else {
                return false;
            };
            // price = Σ w_j z_j with w_j = −L_j / L_price.
            let p_inv = -p.inverse().expect("nonzero");
            let mut weights: Vec<Fr> = Vec::new();
            for (&col, &coeff) in &form {
                if col == price_col {
                    continue;
                }
                if col < snap.num_instance || !is_boolean_column(&snap, &by_col, col) {
                    return false;
                }
                weights.push(coeff * p_inv);
            }
            let mut expected: Vec<Fr> = (0..64).map(|e| Fr::from(2u64).pow([e])).collect();
            weights.sort();
            expected.sort();
            weights == expected
        })
        .collect();
    assert_eq!(
        decompositions.len(),
        1,
        "the price input has exactly one 64-bit decomposition row"
    );
}

#[test]
fn a_wrapped_price_cannot_claim_the_whole_escrow() {
    // The attack the price range check stops: 10 KiB at price 3 pays 30 of
    // 1,000; a price of 2^64 + 3 makes kib·price ≥ E (and still < 2^128,
    // so the comparison alone would accept it): pay = E, refund 0. The
    // statement is consistent (T = E, the refund note of 0) but for the
    // price's range.
    let honest = real_slot(31, 10, 3, 1_000);
    let greedy = real_slot(31, 10, u64::MAX, 1_000); // refund 0, same escrow
    assert_eq!(greedy.pay(Value(u64::MAX)), Value(1_000));
    let slots = pad::<1>(vec![greedy]);
    let public = SettlePublic::for_slots(node(), Value(u64::MAX), &slots);
    assert_eq!(public.total, Value(1_000));
    // At a 64-bit price the statement holds (the control)…
    let c = SettleCircuit::<1>::from_slots(public.clone(), &slots).expect("1 slot");
    assert!(circuit_ok(c));
    // …and at 2^64 + 3 only the range check can refuse it.
    let wrapped = Fr::from(u64::MAX) + Fr::from(4u64);
    let c = SettleCircuit::<1>::from_slots(public, &slots)
        .expect("1 slot")
        .with_raw_price(wrapped);
    assert!(!circuit_ok(c), "a price of 2^64 + 3 accepted");
    assert_eq!(honest.pay(Value(3)), Value(30));
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
            honest::<1>(1, vec![slot]),
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
    let with_key = |a: EdwardsAffine| {
        let mut slot = real_slot(3, 1_000_000, 1, 500);
        let terms = EscrowTerms {
            session_key_hash: SessionKeyHash::from_fr(hash_tagged(DomainTag::Session, &[a.x, a.y])),
            ..slot.witness.terms
        };
        slot.witness.terms = terms;
        slot.witness.session_key = a;
        slot.witness.signature = RawSignature {
            r,
            s: s.into_bigint(),
        };
        slot.public = SlotPublic {
            escrow_commitment: terms.commitment(),
            cm_refund: refund_commitment(
                terms.escrow,
                Value(1),
                1_000_000,
                &terms.refund_owner,
                &a,
            ),
        };
        slot
    };
    for a in [
        testing::identity(),
        testing::order_two(),
        testing::order_eight(),
    ] {
        assert_eq!(
            honest::<1>(1, vec![with_key(a)]),
            Err(SettleError::Signature {
                slot: 0,
                source: SignatureError::LowOrderKey
            })
        );
    }
    // Twin: the same construction with a genuine key and signature settles.
    let good = real_slot(3, 1_000_000, 1, 500);
    assert_eq!(honest::<1>(1, vec![good]), Ok(()));
    let mut slot = real_slot(3, 10, 1, 500);
    slot.witness.session_key = testing::off_curve();
    assert_eq!(
        honest::<1>(1, vec![slot]),
        Err(SettleError::MalformedWitness { slot: 0 })
    );
}

#[test]
fn receipt_signed_by_another_key_fails() {
    // A14: the node signs the receipt with its own key; esc commits to h_S of the client's.
    let client = key(4);
    let node_key = key(200);
    let mut slot = real_slot(4, 10, 1, 100);
    let forged = Receipt {
        session_id: slot.witness.terms.session_id.inner(),
        kib: 90,
    }
    .sign(&node_key);
    slot.witness.kib = 90;
    slot.witness.signature = forged.signature.into();
    slot.public.cm_refund = refund_commitment(
        Value(100),
        Value(1),
        90,
        &slot.witness.terms.refund_owner,
        &slot.witness.session_key,
    );
    // With the client's key as A: the signature fails.
    assert_eq!(
        honest::<1>(1, vec![slot]),
        Err(SettleError::Signature {
            slot: 0,
            source: SignatureError::Equation
        })
    );
    // With the node's key as A (and its refund note): H(SESSION, A) is not
    // the h_S the escrow committed to, so the terms no longer open esc,
    // even when the witness terms claim the node's h_S.
    let a = node_key.verifying_key().point().to_affine();
    slot.witness.session_key = a;
    slot.public.cm_refund = refund_commitment(
        Value(100),
        Value(1),
        90,
        &slot.witness.terms.refund_owner,
        &a,
    );
    assert_eq!(
        honest::<1>(1, vec![slot]),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    slot.witness.terms.session_key_hash = node_key.verifying_key().session_key_hash();
    assert_eq!(
        honest::<1>(1, vec![slot]),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    assert_eq!(
        slot.public.escrow_commitment,
        terms_for(node(), 4, 100).commitment()
    );
    assert_eq!(
        terms_for(node(), 4, 100).session_key_hash,
        client.verifying_key().session_key_hash()
    );
}

/// A slot whose escrow was opened to another node (its esc hashes that
/// node's id) cannot be settled by this node, even with a genuine receipt
/// and refund note: both twins refuse it. The other node settles it.
#[test]
fn escrow_of_another_node_fails() {
    let other = key(201).verifying_key().node_id();
    assert_ne!(other, node());
    let theirs = slot_of(terms_for(other, 16, 100), &key(16), 10, 2);
    let ours = real_slot(17, 10, 2, 100);
    // Settled by this node, alone or beside one of its own escrows.
    let slots = vec![theirs];
    assert_eq!(
        check::<1>(
            SettlePublic::for_slots(node(), Value(2), &slots),
            witnesses(&slots)
        ),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    let slots = vec![ours, theirs];
    assert_eq!(
        check::<2>(
            SettlePublic::for_slots(node(), Value(2), &slots),
            witnesses(&slots)
        ),
        Err(SettleError::EscrowMismatch { slot: 1 })
    );
    // The witness claiming this node in its terms does not help: esc is the other node's.
    let mut relabelled = theirs;
    relabelled.witness.terms.node_id = node();
    let slots = vec![relabelled];
    assert_eq!(
        check::<1>(
            SettlePublic::for_slots(node(), Value(2), &slots),
            witnesses(&slots)
        ),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    // The other node settles it.
    let slots = vec![theirs];
    assert_eq!(
        check::<1>(
            SettlePublic::for_slots(other, Value(2), &slots),
            witnesses(&slots)
        ),
        Ok(())
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
        &slot.witness.terms.refund_owner,
        &slot.witness.session_key,
    );
    assert!(matches!(
        honest::<1>(2, vec![slot]),
        Err(SettleError::Signature { slot: 0, .. })
    ));
    let mut slot = real_slot(5, 10, 2, 100);
    // The node under-reports the refund (claims the full escrow as refund-less).
    slot.public.cm_refund = refund_note(
        Value(0),
        slot.witness.terms.refund_owner,
        &slot.witness.session_key,
    )
    .commitment();
    assert_eq!(
        honest::<1>(2, vec![slot]),
        Err(SettleError::RefundMismatch { slot: 0 })
    );
}

/// The terms of a slot are private but bound by its public `esc`: a slot
/// claiming a larger escrow, another session, refund owner or expiry than
/// the escrow it names is refused, even with a matching receipt and refund note.
#[test]
fn slot_terms_other_than_the_escrows_fail() {
    let base = real_slot(18, 10, 2, 100);
    let t = base.witness.terms;
    let variants = [
        EscrowTerms {
            escrow: Value(1_000),
            ..t
        },
        EscrowTerms {
            session_id: SessionId::from_fr(t.session_id.inner() + Fr::ONE),
            ..t
        },
        EscrowTerms {
            refund_owner: OwnerKey::from_fr(t.refund_owner.inner() + Fr::ONE),
            ..t
        },
        EscrowTerms {
            expiry: BlockHeight(t.expiry.0 + 1),
            ..t
        },
    ];
    for terms in variants {
        // An honest slot of those terms (its own receipt and refund) …
        let mut slot = slot_of(terms, &key(18), 10, 2);
        assert_eq!(honest::<1>(2, vec![slot]), Ok(()), "{terms:?}");
        // … presented against the escrow actually opened.
        slot.public.escrow_commitment = base.public.escrow_commitment;
        assert_eq!(
            honest::<1>(2, vec![slot]),
            Err(SettleError::EscrowMismatch { slot: 0 }),
            "{terms:?}"
        );
    }
}

/// The refund note must be `(E − pay, rk, H(REFUND, A))` with the slot's
/// own `rk` and session key `A` (§5.4): native and circuit refuse the same
/// wrong blindings, and the old public formula `H(NOTE, E − pay, rk)`.
#[test]
fn refund_note_is_blinded_by_the_session_key_and_owned_by_rk() {
    let base = real_slot(15, 10, 2, 100);
    let (rk, a) = (base.witness.terms.refund_owner, base.witness.session_key);
    let refund = Value(80);
    assert_eq!(
        base.public.cm_refund,
        refund_note(refund, rk, &a).commitment()
    );
    let other_a = key(99).verifying_key().point().to_affine();
    let other_rk = OwnerKey::from_fr(rk.inner() + Fr::from(1u64));
    let sid = base.witness.terms.session_id;
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
                    &veil_primitives::note::Rho::from_fr(
                        base.witness.terms.session_key_hash.inner(),
                    ),
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
            honest::<1>(2, vec![slot]),
            Err(SettleError::RefundMismatch { slot: 0 }),
            "{what}"
        );
    }
    // Another rk in the slot's terms, with the refund note re-blinded for
    // it: the escrow fixed rk, so the terms no longer open its esc.
    let mut slot = base;
    slot.witness.terms.refund_owner = other_rk;
    slot.public.cm_refund = refund_note(refund, other_rk, &a).commitment();
    assert_eq!(
        honest::<1>(2, vec![slot]),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    // An escrow opened with rk' settles with the note for rk'.
    slot.public.escrow_commitment = slot.witness.terms.commitment();
    assert_eq!(honest::<1>(2, vec![slot]), Ok(()));
    assert_ne!(
        refund_rho(&a).inner(),
        base.witness.terms.session_key_hash.inner()
    );
}

#[test]
fn pay_is_capped_and_never_wraps() {
    // A16 / E5: kib·price ≥ 2^64 and kib > E/price both pay exactly E.
    let big = real_slot(6, u64::MAX, u64::MAX, 12_345);
    assert_eq!(big.pay(Value(u64::MAX)), Value(12_345));
    assert_eq!(honest::<1>(u64::MAX, vec![big]), Ok(()));
    let over = real_slot(7, 1_000, 7, 6_999);
    assert_eq!(over.pay(Value(7)), Value(6_999));
    assert_eq!(honest::<1>(7, vec![over]), Ok(()));
    assert_eq!(slot_pay(3, Value(7), Value(6_999)), Value(21));
    // Refund of a capped session is a zero-value note.
    assert_eq!(
        over.public.cm_refund,
        refund_note(
            Value::ZERO,
            over.witness.terms.refund_owner,
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
    let public = SettlePublic::for_slots(node(), Value(1), &slots);
    assert_eq!(
        SettleStatement {
            public: public.clone(),
            slots: witnesses(&slots),
        }
        .check(),
        Err(SettleError::TotalOverflow)
    );
    // T = 2^64 exactly (as a field element): only the range check refuses it.
    let two_64 = Fr::from(half) + Fr::from(half);
    let c = SettleCircuit::<2>::from_slots(public.clone(), &slots).expect("2 slots");
    assert!(!circuit_ok(c.with_raw_total(two_64)));
    // T = 2^64 mod 2^64 = 0: the sum equality refuses it.
    let mut wrapped = public;
    wrapped.total = Value(0);
    assert!(check::<2>(wrapped, witnesses(&slots)).is_err());
}

#[test]
fn padding_slots_must_be_empty() {
    // A17: a disabled slot with bytes, a refund, or an escrow commitment
    // (any value, or a real escrow's).
    let node_id = node();
    let real_esc = real_slot(19, 10, 1, 100).public.escrow_commitment;
    let cases: [(&str, Box<dyn Fn(&mut Slot)>); 4] = [
        ("kib", Box::new(|s| s.witness.kib = 5)),
        (
            "refund",
            Box::new(|s| s.public.cm_refund = NoteCommitment::from_fr(Fr::from(9u64))),
        ),
        (
            "esc",
            Box::new(|s| s.public.escrow_commitment = EscrowCommitment::from_fr(Fr::from(9u64))),
        ),
        (
            "a real escrow's esc",
            Box::new(move |s| s.public.escrow_commitment = real_esc),
        ),
    ];
    for (what, tamper) in cases {
        let mut slots = pad::<2>(vec![real_slot(10, 10, 1, 100)]);
        tamper(&mut slots[1]);
        let public = SettlePublic::for_slots(node_id, Value(1), &slots);
        assert_eq!(
            check::<2>(public, witnesses(&slots)),
            Err(SettleError::PaddingNotEmpty { slot: 1 }),
            "{what}"
        );
    }
    // A real slot switched off (to drop its refund) is refused too.
    let mut slots = vec![real_slot(11, 10, 1, 100)];
    slots[0].witness.enabled = false;
    let public = SettlePublic::for_slots(node_id, Value(1), &slots);
    assert_eq!(
        check::<1>(public, witnesses(&slots)),
        Err(SettleError::PaddingNotEmpty { slot: 0 })
    );
}

#[test]
fn slots_are_bound_to_positions_and_duplicates_never_match_the_ledger() {
    // A15: the ledger refuses a batch naming one escrow twice…
    let a = real_slot(12, 10, 1, 100);
    let b = real_slot(13, 20, 1, 100);
    let node_id = node();
    let price = Value(1);
    let ledger = |k: usize, total: u64, real: &[SlotPublic]| {
        SettlePublic::for_ledger(node_id, k, Value(total), price, real)
    };
    assert_eq!(
        ledger(2, 20, &[a.public, a.public]),
        Err(SettleError::DuplicateSession { slot: 1 })
    );
    // (the same esc with another cm_refund is the same escrow)
    let other_refund = SlotPublic {
        cm_refund: b.public.cm_refund,
        ..a.public
    };
    assert_eq!(
        ledger(2, 20, &[a.public, other_refund]),
        Err(SettleError::DuplicateSession { slot: 1 })
    );
    assert_eq!(
        ledger(1, 30, &[a.public, b.public]),
        Err(SettleError::SlotCount {
            expected: 1,
            actual: 2
        })
    );
    assert_eq!(
        ledger(2, 0, &[]),
        Err(SettleError::SlotCount {
            expected: 2,
            actual: 0
        })
    );
    assert_eq!(
        ledger(2, 0, &[SlotPublic::padding()]),
        Err(SettleError::ZeroSession { slot: 0 })
    );
    assert_eq!(
        ledger(2, 10, &[a.public, SlotPublic::padding()]),
        Err(SettleError::ZeroSession { slot: 1 })
    );
    // …so a duplicated batch, which the circuit alone accepts, is a
    // statement the ledger never builds.
    let dup = SettlePublic::for_slots(node_id, price, &[a, a]);
    assert_eq!(check::<2>(dup.clone(), vec![a.witness, a.witness]), Ok(()));
    let single = ledger(2, 10, &[a.public]).expect("valid batch");
    assert_ne!(dup, single);
    assert_eq!(
        single,
        SettlePublic::for_slots(node_id, price, &[a, Slot::padding()])
    );
    assert_eq!(
        check::<2>(single, vec![a.witness, SlotWitness::padding()]),
        Ok(())
    );
    // Each slot's esc and cm_refund are its own inputs: swapping the two
    // witnesses against fixed publics is refused at the first slot.
    let public = ledger(2, 30, &[a.public, b.public]).expect("valid batch");
    assert_eq!(public, SettlePublic::for_slots(node_id, price, &[a, b]));
    assert_eq!(
        check::<2>(public.clone(), vec![a.witness, b.witness]),
        Ok(())
    );
    assert_eq!(
        check::<2>(public.clone(), vec![b.witness, a.witness]),
        Err(SettleError::EscrowMismatch { slot: 0 })
    );
    // Swapping only the refund commitments is refused too.
    let mut swapped = public.clone();
    swapped.slots[0].cm_refund = b.public.cm_refund;
    swapped.slots[1].cm_refund = a.public.cm_refund;
    assert_eq!(
        check::<2>(swapped, vec![a.witness, b.witness]),
        Err(SettleError::RefundMismatch { slot: 0 })
    );
    // The ledger's order is the statement: [b, a] is another statement.
    let reversed = ledger(2, 30, &[b.public, a.public]).expect("valid batch");
    assert_ne!(public, reversed);
    assert_eq!(check::<2>(reversed, vec![b.witness, a.witness]), Ok(()));
    // The signed digest (native) binds order, K, node and price.
    let digest = public.digest();
    assert_ne!(
        digest,
        ledger(2, 30, &[b.public, a.public])
            .expect("valid")
            .digest()
    );
    assert_ne!(
        ledger(1, 10, &[a.public]).expect("valid").digest(),
        ledger(2, 10, &[a.public]).expect("valid").digest()
    );
    assert_ne!(
        digest,
        SettlePublic {
            node_id: NodeId::from_fr(Fr::from(5u64)),
            ..public.clone()
        }
        .digest()
    );
    assert_ne!(
        digest,
        SettlePublic {
            price: Value(2),
            ..public.clone()
        }
        .digest()
    );
}

/// The esc of slot `i` placed at position `j`: refused at `j`, whether `j`
/// holds another real slot (the witness there is another escrow's) or
/// padding (a disabled slot must have esc = 0).
#[test]
fn escrow_commitment_moved_to_another_slot_fails() {
    let slots = pad::<8>(
        (1..=3)
            .map(|n| real_slot(40 + n, 5 * u64::from(n), 2, 100))
            .collect(),
    );
    let w = witnesses(&slots);
    let good = SettlePublic::for_slots(node(), Value(2), &slots);
    assert_eq!(check::<8>(good.clone(), w.clone()), Ok(()));
    for (from, to) in [(0, 2), (2, 0), (1, 0)] {
        let mut p = good.clone();
        p.slots[to].escrow_commitment = good.slots[from].escrow_commitment;
        assert_eq!(
            check::<8>(p, w.clone()),
            Err(SettleError::EscrowMismatch { slot: to }),
            "esc {from} at {to}"
        );
    }
    for (from, to) in [(0, 3), (2, 7)] {
        let mut p = good.clone();
        p.slots[to].escrow_commitment = good.slots[from].escrow_commitment;
        assert_eq!(
            check::<8>(p, w.clone()),
            Err(SettleError::PaddingNotEmpty { slot: to }),
            "esc {from} at padding {to}"
        );
    }
    // Moved with its cm_refund (the whole public slot) and witness kept in place.
    let mut p = good.clone();
    p.slots[2] = good.slots[0];
    assert_eq!(
        check::<8>(p, w),
        Err(SettleError::EscrowMismatch { slot: 2 })
    );
}

#[test]
fn refund_discovery_matches_the_settled_commitment() {
    // §6: the client recomputes the refund note for each receipt it signed.
    let slot = real_slot(14, 33, 3, 500);
    let (rk, a) = (slot.witness.terms.refund_owner, slot.witness.session_key);
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
        reclaim_note(Value(500), rk, &slot.witness.terms.session_id).commitment()
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
        #![proptest_config(ProptestConfig::with_cases(18))]
        /// Random terms, honest or with one tampering: native and circuit agree,
        /// and exactly the true statements hold.
        #[test]
        fn random_terms_agree(kib in value(), price in value(), escrow in value(), tamper in 0u8..6) {
            let mut slot = real_slot(20, kib, price, escrow);
            let mut public = SettlePublic::for_slots(node(), Value(price), &[slot]);
            prop_assert_eq!(public.total, slot_pay(kib, Value(price), Value(escrow)));
            // Whether the tampered statement is still true.
            let mut holds = tamper == 0;
            match tamper {
                1 => slot.witness.kib = kib.wrapping_add(1),
                2 => {
                    slot.public.cm_refund =
                        NoteCommitment::from_fr(slot.public.cm_refund.inner() + Fr::from(1u64));
                    public = SettlePublic::for_slots(node(), Value(price), &[slot]);
                }
                3 => public.total = Value(public.total.get().wrapping_add(1)),
                4 => {
                    public.slots[0].escrow_commitment = EscrowCommitment::from_fr(
                        slot.public.escrow_commitment.inner() + Fr::from(1u64),
                    );
                }
                5 => {
                    // Another price: the statement only sees it through the
                    // pay, so it holds exactly when the pay is unchanged
                    // (no bytes, or capped at E under both prices).
                    let other = price.wrapping_add(1);
                    public.price = Value(other);
                    holds = slot_pay(kib, Value(other), Value(escrow))
                        == slot_pay(kib, Value(price), Value(escrow));
                }
                _ => {}
            }
            let verdict = check::<1>(public, vec![slot.witness]);
            prop_assert_eq!(verdict.is_ok(), holds, "{:?}", verdict);
        }
    }
}
