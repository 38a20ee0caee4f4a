//! Shared fixtures: keys from the default store (cached across test
//! processes), honest access and withdraw statements.
#![allow(dead_code)]

use std::sync::OnceLock;

use ark_ff::Field;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_circuits::withdraw::{WithdrawPrivate, WithdrawPublic};
use veil_primitives::Fr;
use veil_primitives::ids::{AccountId, BlockHeight, NodeId, SessionKeyHash};
use veil_primitives::keys::{OwnerKey, SpendingKey};
use veil_primitives::merkle::Tree;
use veil_primitives::note::{Note, NoteCommitment, Rho};
use veil_primitives::value::Value;
use veil_proofs::{CircuitId, ParamStore, Prover, Verifier};

pub const SPEND_CIRCUITS: [CircuitId; 2] = [CircuitId::Access, CircuitId::Withdraw];

pub fn store() -> ParamStore {
    ParamStore::open_default(veil_proofs::KeySet::Dev).expect("default store")
}

pub fn prover() -> &'static Prover {
    static P: OnceLock<Prover> = OnceLock::new();
    P.get_or_init(|| Prover::from_store(&store(), &SPEND_CIRCUITS, None).expect("proving keys"))
}

pub fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::from_store(&store(), &SPEND_CIRCUITS, None).expect("verifying keys"))
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A note of value `v` owned by key `sk`, at position 3 of a small tree.
pub fn spend_private(sk: u64, v: u64) -> AccessPrivate {
    let key = SpendingKey::from_fr(Fr::from(sk) * Fr::from(0x1234_5678_9abc_def1u64) + Fr::ONE);
    let rho = Rho::from_fr(Fr::from(sk ^ v) + Fr::from(99u64));
    let note = Note::new(Value(v), key.owner_key(), rho);
    let mut tree = Tree::new();
    let fill = |i: u64| NoteCommitment::from_fr(Fr::from(i * 7919 + 13));
    tree.append_many((0..3).map(fill)).expect("fits");
    tree.append(note.commitment()).expect("fits");
    tree.append_many((4..6).map(fill)).expect("fits");
    AccessPrivate {
        path: tree.path(3).expect("leaf"),
        sk: key,
        value: Value(v),
        rho,
        rho_change: Rho::from_fr(Fr::from(sk) + Fr::from(5u64)),
    }
}

/// An honest access statement: note (sk, 1000), escrow `e`.
pub fn access_case(sk: u64, e: u64) -> (AccessPublic, AccessPrivate) {
    let private = spend_private(sk, 1_000);
    let public = AccessPublic::derive(
        &private,
        Value(e),
        NodeId::from_fr(Fr::from(77u64)),
        SessionKeyHash::from_fr(Fr::from(88u64)),
        OwnerKey::from_fr(Fr::from(66u64)),
        BlockHeight(1_000 + sk),
    )
    .expect("honest case");
    (public, private)
}

/// An honest withdraw statement: note (sk, 1000), amount `a`.
pub fn withdraw_case(sk: u64, a: u64) -> (WithdrawPublic, WithdrawPrivate) {
    let private = spend_private(sk, 1_000);
    let public = WithdrawPublic::derive(&private, Value(a), AccountId::from_fr(Fr::from(4242u64)))
        .expect("honest case");
    (public, private)
}
