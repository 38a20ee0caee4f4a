//! Constraint review (adversarial G7) of the slot gating of `settle_K`
//! (`docs/protocol.md` §5.4): the cases the agreement tests do not spell
//! out. Findings are tracked in `docs/security.md` ("Review findings").
//!
//! - An enabled slot cannot skip its signature check by carrying the
//!   padding witness (`R = O`, `S = 0`) or a signature on other bytes.
//! - A ledger padding slot (all six values 0) cannot be switched on, even
//!   with a key whose hash is anything: `h_S = 0` has no known preimage.
//! - A disabled slot pays nothing whatever its escrow and price, and a
//!   disabled slot that carries escrow terms proves a digest the ledger never
//!   builds (its padding is all zero), so it cannot stand in for a real one.
//! - `T` must equal the sum exactly: one unit more or less is refused.

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use veil_circuits::settle::{
    SettleCircuit, SettlePublic, Slot, SlotPublic, SlotWitness, ledger_batch_digest,
};
use veil_primitives::{
    Fr,
    eddsa::{RawSignature, SigningKey},
    ids::{NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    receipt::Receipt,
    value::Value,
};

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("non-degenerate test key")
}

fn node() -> NodeId {
    NodeId::from_fr(Fr::from(4242u64))
}

fn real_slot(n: u8, kib: u64, price: u64, escrow: u64) -> Slot {
    let sk = key(n);
    let session_id = SessionId::from_fr(Fr::from(5000 + u64::from(n)));
    let receipt = Receipt {
        session_id: session_id.inner(),
        kib,
    }
    .sign(&sk);
    Slot::new(
        session_id,
        Value(escrow),
        Value(price),
        OwnerKey::from_fr(Fr::from(900 + u64::from(n))),
        &sk.verifying_key(),
        &receipt,
    )
}

fn satisfied<const K: usize>(public: SettlePublic, slots: Vec<Slot>) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    SettleCircuit::<K>::new(public, slots)
        .expect("K slots")
        .generate_constraints(cs.clone())
        .expect("synthesis");
    cs.is_satisfied().expect("satisfiability")
}

#[test]
fn honest_baseline_is_satisfied() {
    let slots = vec![real_slot(1, 10, 3, 100), Slot::padding()];
    assert!(satisfied::<2>(
        SettlePublic::for_slots(node(), &slots),
        slots
    ));
}

#[test]
fn enabled_slot_with_the_padding_signature_fails() {
    let mut slots = vec![real_slot(1, 10, 3, 100), Slot::padding()];
    slots[0].witness.signature = SlotWitness::padding().signature;
    assert!(!satisfied::<2>(
        SettlePublic::for_slots(node(), &slots),
        slots
    ));
}

#[test]
fn enabled_slot_with_a_signature_on_fewer_bytes_fails() {
    // The node holds receipts for 5 and 10 KiB and claims 10 with the
    // signature of 5: the signed message binds kib.
    let mut slots = vec![real_slot(1, 10, 3, 100)];
    let five = Receipt {
        session_id: slots[0].public.session_id.inner(),
        kib: 5,
    }
    .sign(&key(1));
    slots[0].witness.signature = RawSignature::from(five.signature);
    assert!(!satisfied::<1>(
        SettlePublic::for_slots(node(), &slots),
        slots
    ));
}

#[test]
fn a_ledger_padding_slot_cannot_be_enabled() {
    // Enable slot 1 of a batch whose ledger-built slot 1 is all zero, with a
    // genuine receipt under some key on session id 0: h_S = 0 ≠ H(SESSION, A).
    let mut slots = vec![real_slot(1, 10, 3, 100), Slot::padding()];
    let sk = key(9);
    let receipt = Receipt {
        session_id: Fr::from(0u64),
        kib: 1,
    }
    .sign(&sk);
    slots[1].witness = SlotWitness {
        enabled: true,
        kib: 1,
        session_key: sk.verifying_key().point().to_affine(),
        signature: receipt.signature.into(),
    };
    let public = SettlePublic::for_slots(node(), &slots);
    assert_eq!(
        public.batch_digest,
        ledger_batch_digest(&node(), 2, &[slots[0].public]).expect("valid batch"),
        "the statement is the ledger's"
    );
    assert!(!satisfied::<2>(public, slots));
}

#[test]
fn disabled_slot_with_escrow_terms_pays_nothing_and_is_not_the_ledgers_padding() {
    // Only session id, refund and kib are forced to zero when disabled
    // (§5.4); escrow, price, h_S and rk may be anything, but the slot
    // then pays 0 and its digest is not the all-zero padding the ledger
    // appends, so no ledger statement matches it.
    let mut slots = vec![real_slot(1, 10, 3, 100), Slot::padding()];
    slots[1].public = SlotPublic {
        escrow: Value(1_000),
        price: Value(7),
        session_key_hash: SessionKeyHash::from_fr(Fr::from(3u64)),
        refund_owner: OwnerKey::from_fr(Fr::from(4u64)),
        ..SlotPublic::padding()
    };
    let public = SettlePublic::for_slots(node(), &slots);
    assert_eq!(public.total, slots[0].pay(), "the disabled slot pays 0");
    assert!(satisfied::<2>(public, slots.clone()));
    let ledger = ledger_batch_digest(&node(), 2, &[slots[0].public]).expect("valid batch");
    assert_ne!(public.batch_digest, ledger);
    // With one more unit of T it is refused.
    let more = SettlePublic {
        total: Value(public.total.get() + 1),
        ..public
    };
    assert!(!satisfied::<2>(more, slots));
}

#[test]
fn total_must_equal_the_sum_exactly() {
    let slots = vec![real_slot(1, 10, 3, 100), real_slot(2, 50, 3, 100)];
    let public = SettlePublic::for_slots(node(), &slots);
    assert_eq!(public.total, Value(30 + 100), "second slot capped at E");
    for t in [public.total.get() - 1, public.total.get() + 1] {
        let p = SettlePublic {
            total: Value(t),
            ..public
        };
        assert!(!satisfied::<2>(p, slots.clone()), "T = {t} accepted");
    }
}
