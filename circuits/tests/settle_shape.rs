//! Pinned shapes of `settle_1` and `settle_8` (`docs/protocol.md` §5.5,
//! adversarial A18), constraint accounting, and the mutation test (A10).
//!
//! Regenerate the pinned values on purpose with `VEIL_UPDATE_SHAPES=1`
//! (and regenerate the verifying keys with them).

use veil_circuits::{
    settle::{SettleCircuit, SettlePublic, Slot, public_inputs},
    shape::{R1csSnapshot, ShapeDescription, describe},
};
use veil_primitives::{
    Fr,
    eddsa::SigningKey,
    escrow::EscrowTerms,
    ids::{BlockHeight, NodeId, SessionId},
    keys::OwnerKey,
    receipt::Receipt,
    value::Value,
};

const SETTLE_1_CONSTRAINTS: usize = 7346;
const SETTLE_1_MATRIX_HASH: &str =
    "0f05b9336eeb1b7605c0803cae96f989f2ef5392bab17f1a9b88d92ad84ed932";
const SETTLE_8_CONSTRAINTS: usize = 57851;
const SETTLE_8_MATRIX_HASH: &str =
    "14cecb18aea0756681fb53560c82b314fa6f02d97a6a45e021e240d7e1de044b";
/// Constraints of `settle_64` (computed by the ignored test below).
const SETTLE_64_CONSTRAINTS: usize = 461_891;

fn check_pinned(name: &str, k: usize, got: ShapeDescription, constraints: usize, hash: &str) {
    println!("{name}: {got}");
    // node_id, T, price, then esc_i and cm_refund_i per slot.
    assert_eq!(got.public_inputs, public_inputs(k), "{name}: public inputs");
    assert_eq!(got.public_inputs, 2 * k + 3, "{name}: public inputs");
    if std::env::var_os("VEIL_UPDATE_SHAPES").is_some() {
        println!(
            "const {}_CONSTRAINTS: usize = {};",
            name.to_uppercase(),
            got.constraints
        );
        println!(
            "const {}_MATRIX_HASH: &str = \"{}\";",
            name.to_uppercase(),
            got.matrix_hash_hex()
        );
        return;
    }
    assert_eq!(
        got.constraints, constraints,
        "{name}: constraint count drifted"
    );
    assert_eq!(got.matrix_hash_hex(), hash, "{name}: matrices drifted");
}

const PRICE: Value = Value(3);

fn node() -> NodeId {
    NodeId::from_fr(Fr::from(42u64))
}

fn real_slot(n: u8) -> Slot {
    let sk = SigningKey::from_seed([n; 32]).expect("test key");
    let terms = EscrowTerms {
        session_id: SessionId::from_fr(Fr::from(500 + u64::from(n))),
        node_id: node(),
        escrow: Value(10_000),
        session_key_hash: sk.verifying_key().session_key_hash(),
        refund_owner: OwnerKey::from_fr(Fr::from(u64::from(n) + 1)),
        expiry: BlockHeight(1_000 + u64::from(n)),
    };
    let receipt = Receipt {
        session_id: terms.session_id.inner(),
        kib: 64 * u64::from(n),
    }
    .sign(&sk);
    Slot::new(terms, PRICE, &sk.verifying_key(), &receipt)
}

fn real<const K: usize>(n_real: usize) -> SettleCircuit<K> {
    let mut slots: Vec<Slot> = (1..=n_real).map(|n| real_slot(n as u8)).collect();
    slots.resize(K, Slot::padding());
    let public = SettlePublic::for_slots(node(), PRICE, &slots);
    SettleCircuit::<K>::from_slots(public, &slots).expect("K slots")
}

#[test]
fn settle_1_shape_is_pinned_and_witness_independent() {
    let dummy = describe(SettleCircuit::<1>::dummy()).expect("synthesis");
    let honest = describe(real::<1>(1)).expect("synthesis");
    assert_eq!(dummy, honest, "setup shape must equal proving shape");
    check_pinned(
        "settle_1",
        1,
        dummy,
        SETTLE_1_CONSTRAINTS,
        SETTLE_1_MATRIX_HASH,
    );
}

#[test]
fn settle_8_shape_is_pinned_and_per_slot_cost_reported() {
    let dummy = describe(SettleCircuit::<8>::dummy()).expect("synthesis");
    assert_eq!(dummy, describe(real::<8>(3)).expect("synthesis"));
    check_pinned(
        "settle_8",
        8,
        dummy,
        SETTLE_8_CONSTRAINTS,
        SETTLE_8_MATRIX_HASH,
    );
    let one = describe(SettleCircuit::<1>::dummy()).expect("synthesis");
    let per_slot = (dummy.constraints - one.constraints) / 7;
    println!(
        "settle: {per_slot} constraints per slot, {} fixed",
        one.constraints - per_slot
    );
    assert!(per_slot <= 8_000, "per-slot cost grew to {per_slot}");
}

#[test]
#[ignore = "synthesises 64 slots (~462k constraints, ~5 s); run with --ignored"]
fn settle_64_constraint_count() {
    let d = describe(SettleCircuit::<64>::dummy()).expect("synthesis");
    println!("settle_64: {d}");
    assert_eq!(d.public_inputs, public_inputs(64));
    if std::env::var_os("VEIL_UPDATE_SHAPES").is_none() {
        assert_eq!(d.constraints, SETTLE_64_CONSTRAINTS);
    }
}

#[test]
fn every_witness_variable_is_constrained() {
    // A10: perturb each witness variable of a satisfied settle_2 (one real
    // slot, one padding slot); none may leave the system satisfied.
    let snap = R1csSnapshot::synthesize(real::<2>(1)).expect("synthesis");
    assert!(snap.is_satisfied());
    let survivors = snap.mutation_survivors(Fr::from(0x1_0000_0001u64));
    assert!(
        survivors.is_empty(),
        "unconstrained witness columns: {survivors:?}"
    );
}
