//! Constraint review (adversarial G7) of the slot gating of `settle_K`
//! (`docs/protocol.md` §5.4): the cases the agreement tests do not spell
//! out. Findings are tracked in `docs/security.md` ("Review findings").
//!
//! - An enabled slot cannot skip its signature check by carrying the
//!   padding witness (`R = O`, `S = 0`) or a signature on other bytes.
//! - A ledger padding slot (`esc = 0`, `cm_refund = 0`) cannot be switched
//!   on: an enabled slot needs `esc = H(ESCROW, …)`, and 0 is no escrow's
//!   commitment, whatever terms, key and receipt the prover brings (even
//!   those of a real escrow of the batch).
//! - A disabled slot pays nothing whatever its private terms, and its
//!   public `esc` must be 0: it cannot name a real escrow (and so close it
//!   without a refund note), only stand where the ledger put padding.
//! - `T` must equal the sum exactly: one unit more or less is refused.

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use veil_circuits::settle::{
    SettleCircuit, SettleError, SettlePublic, SettleStatement, Slot, SlotPublic, SlotWitness,
};
use veil_primitives::{
    Fr,
    eddsa::{RawSignature, SigningKey},
    escrow::{EscrowCommitment, EscrowTerms},
    ids::{BlockHeight, NodeId, SessionId, SessionKeyHash},
    keys::OwnerKey,
    receipt::Receipt,
    value::Value,
};

const PRICE: Value = Value(3);

fn key(seed: u8) -> SigningKey {
    SigningKey::from_seed([seed; 32]).expect("non-degenerate test key")
}

fn node() -> NodeId {
    NodeId::from_fr(Fr::from(4242u64))
}

fn terms(n: u8, escrow: u64) -> EscrowTerms {
    EscrowTerms {
        session_id: SessionId::from_fr(Fr::from(5000 + u64::from(n))),
        node_id: node(),
        escrow: Value(escrow),
        session_key_hash: key(n).verifying_key().session_key_hash(),
        refund_owner: OwnerKey::from_fr(Fr::from(900 + u64::from(n))),
        expiry: BlockHeight(70_000),
    }
}

/// A real slot of session `n` at [`PRICE`].
fn real_slot(n: u8, kib: u64, escrow: u64) -> Slot {
    let sk = key(n);
    let t = terms(n, escrow);
    let receipt = Receipt {
        session_id: t.session_id.inner(),
        kib,
    }
    .sign(&sk);
    Slot::new(t, PRICE, &sk.verifying_key(), &receipt)
}

fn satisfied<const K: usize>(public: SettlePublic, slots: &[Slot]) -> bool {
    let cs = ConstraintSystem::<Fr>::new_ref();
    SettleCircuit::<K>::from_slots(public, slots)
        .expect("K slots")
        .generate_constraints(cs.clone())
        .expect("synthesis");
    cs.is_satisfied().expect("satisfiability")
}

fn native(public: &SettlePublic, slots: &[Slot]) -> Result<(), SettleError> {
    SettleStatement {
        public: public.clone(),
        slots: slots.iter().map(|s| s.witness).collect(),
    }
    .check()
}

#[test]
fn honest_baseline_is_satisfied() {
    let slots = vec![real_slot(1, 10, 100), Slot::padding()];
    assert!(satisfied::<2>(
        SettlePublic::for_slots(node(), PRICE, &slots),
        &slots
    ));
}

#[test]
fn enabled_slot_with_the_padding_signature_fails() {
    let mut slots = vec![real_slot(1, 10, 100), Slot::padding()];
    slots[0].witness.signature = SlotWitness::padding().signature;
    assert!(!satisfied::<2>(
        SettlePublic::for_slots(node(), PRICE, &slots),
        &slots
    ));
}

#[test]
fn enabled_slot_with_a_signature_on_fewer_bytes_fails() {
    // The node holds receipts for 5 and 10 KiB and claims 10 with the
    // signature of 5: the signed message binds kib.
    let mut slots = vec![real_slot(1, 10, 100)];
    let five = Receipt {
        session_id: slots[0].witness.terms.session_id.inner(),
        kib: 5,
    }
    .sign(&key(1));
    slots[0].witness.signature = RawSignature::from(five.signature);
    assert!(!satisfied::<1>(
        SettlePublic::for_slots(node(), PRICE, &slots),
        &slots
    ));
}

#[test]
fn a_ledger_padding_slot_cannot_be_enabled() {
    // The ledger built a one-escrow batch padded to 2: slot 1 is esc = 0,
    // cm_refund = 0. The node enables slot 1 with a genuine receipt under
    // a key of its choice, on terms of its choice: an enabled slot needs
    // esc = H(ESCROW, …) ≠ 0.
    let first = real_slot(1, 10, 100);
    let zero_terms = EscrowTerms {
        session_id: SessionId::from_fr(Fr::from(0u64)),
        node_id: NodeId::from_fr(Fr::from(0u64)),
        escrow: Value(1_000),
        session_key_hash: SessionKeyHash::from_fr(Fr::from(0u64)),
        refund_owner: OwnerKey::from_fr(Fr::from(0u64)),
        expiry: BlockHeight(0),
    };
    let attempts: [(&str, EscrowTerms, SigningKey); 3] = [
        ("zero terms but E", zero_terms, key(9)),
        ("the node's own terms", terms(9, 1_000), key(9)),
        // The batch's real escrow a second time, in the padding slot.
        ("slot 0's escrow again", first.witness.terms, key(1)),
    ];
    for (what, t, signer) in attempts {
        let receipt = Receipt {
            session_id: t.session_id.inner(),
            kib: 1,
        }
        .sign(&signer);
        let enabled = Slot::new(t, PRICE, &signer.verifying_key(), &receipt);
        // The node keeps the ledger's public slot 1 (zero) and brings the
        // enabled witness; T counts its pay.
        let slots = vec![
            first,
            Slot {
                public: SlotPublic::padding(),
                witness: enabled.witness,
            },
        ];
        let public = SettlePublic::for_slots(node(), PRICE, &slots);
        assert_eq!(
            public,
            SettlePublic::for_ledger(node(), 2, public.total, PRICE, &[first.public])
                .expect("valid batch"),
            "{what}: the statement is the ledger's"
        );
        assert!(public.total.get() > first.pay(PRICE).get(), "{what}");
        assert!(!satisfied::<2>(public.clone(), &slots), "{what}");
        assert_eq!(
            native(&public, &slots),
            Err(SettleError::EscrowMismatch { slot: 1 }),
            "{what}"
        );
    }
}

#[test]
fn disabled_slot_with_escrow_terms_pays_nothing_and_cannot_name_an_escrow() {
    // Only esc, refund and kib are forced to zero when disabled (§5.4);
    // the private terms, key and signature may be anything (here a real
    // escrow's), and the slot then pays 0 and stands only where the
    // ledger put padding.
    let first = real_slot(1, 10, 100);
    let second = real_slot(2, 20, 100);
    let disabled = SlotWitness {
        enabled: false,
        kib: 0,
        ..second.witness
    };
    let mut slots = vec![
        first,
        Slot {
            public: SlotPublic::padding(),
            witness: disabled,
        },
    ];
    let public = SettlePublic::for_slots(node(), PRICE, &slots);
    assert_eq!(public.total, first.pay(PRICE), "the disabled slot pays 0");
    assert_eq!(
        public,
        SettlePublic::for_ledger(node(), 2, public.total, PRICE, &[first.public])
            .expect("valid batch")
    );
    assert!(satisfied::<2>(public.clone(), &slots));
    assert_eq!(native(&public, &slots), Ok(()));
    // With one more unit of T it is refused.
    let more = SettlePublic {
        total: Value(public.total.get() + 1),
        ..public.clone()
    };
    assert!(!satisfied::<2>(more, &slots));
    // Naming the real escrow it carries (to close it with no refund note:
    // cm_refund = 0 and no pay) is refused: a disabled slot's esc is 0.
    slots[1].public.escrow_commitment = second.public.escrow_commitment;
    let named = SettlePublic::for_slots(node(), PRICE, &slots);
    assert_eq!(
        named,
        SettlePublic::for_ledger(
            node(),
            2,
            named.total,
            PRICE,
            &[first.public, slots[1].public]
        )
        .expect("the ledger would accept this list"),
    );
    assert!(!satisfied::<2>(named.clone(), &slots));
    assert_eq!(
        native(&named, &slots),
        Err(SettleError::PaddingNotEmpty { slot: 1 })
    );
    // Any other nonzero esc likewise.
    slots[1].public.escrow_commitment = EscrowCommitment::from_fr(Fr::from(1u64));
    assert!(!satisfied::<2>(
        SettlePublic::for_slots(node(), PRICE, &slots),
        &slots
    ));
}

#[test]
fn total_must_equal_the_sum_exactly() {
    let slots = vec![real_slot(1, 10, 100), real_slot(2, 50, 100)];
    let public = SettlePublic::for_slots(node(), PRICE, &slots);
    assert_eq!(public.total, Value(30 + 100), "second slot capped at E");
    assert!(satisfied::<2>(public.clone(), &slots));
    for t in [public.total.get() - 1, public.total.get() + 1] {
        let p = SettlePublic {
            total: Value(t),
            ..public.clone()
        };
        assert!(!satisfied::<2>(p, &slots), "T = {t} accepted");
    }
}
