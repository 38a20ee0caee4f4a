//! Deterministic sample statements with valid witnesses, for benchmarks,
//! examples and tests. The keys and notes are derived from small integers:
//! never use them for value.

use ark_ff::Field;
use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_circuits::answer::{AnswerPrivate, AnswerPublic};
use veil_circuits::settle::{SettlePublic, Slot};
use veil_circuits::withdraw::{WithdrawPrivate, WithdrawPublic};
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::escrow::EscrowTerms;
use veil_primitives::ids::{AccountId, BlockHeight, NodeId, SessionId, SessionKeyHash};
use veil_primitives::keys::{OwnerKey, SpendingKey};
use veil_primitives::merkle::{MerkleRoot, Tree};
use veil_primitives::note::{Note, NoteCommitment, Rho};
use veil_primitives::receipt::Receipt;
use veil_primitives::value::Value;

/// A note of value `v` owned by a key derived from `seed`, at leaf 3 of a
/// six-leaf tree, with its spend witness.
pub fn spend_private(seed: u64, v: u64) -> Option<AccessPrivate> {
    let key = SpendingKey::from_fr(Fr::from(seed) * Fr::from(0x1234_5678_9abc_def1u64) + Fr::ONE);
    let rho = Rho::from_fr(Fr::from(seed ^ v) + Fr::from(99u64));
    let note = Note::new(Value(v), key.owner_key(), rho);
    let mut tree = Tree::new();
    let fill = |i: u64| NoteCommitment::from_fr(Fr::from(i * 7919 + 13));
    tree.append_many((0..3).map(fill)).ok()?;
    tree.append(note.commitment()).ok()?;
    tree.append_many((4..6).map(fill)).ok()?;
    Some(AccessPrivate {
        path: tree.path(3).ok()?,
        sk: key,
        value: Value(v),
        rho,
        rho_change: Rho::from_fr(Fr::from(seed) + Fr::from(5u64)),
    })
}

/// An honest access statement: a 1,000-unit note, escrow `e ≤ 1000`.
pub fn access(seed: u64, e: u64) -> Option<(AccessPublic, AccessPrivate)> {
    let private = spend_private(seed, 1_000)?;
    let public = AccessPublic::derive(
        &private,
        Value(e),
        NodeId::from_fr(Fr::from(77u64)),
        SessionKeyHash::from_fr(Fr::from(88u64)),
        OwnerKey::from_fr(Fr::from(66u64)),
        BlockHeight(1_000 + seed),
    )
    .ok()?;
    Some((public, private))
}

/// An honest withdrawal of `a ≤ 1000` from a 1,000-unit note.
pub fn withdraw(seed: u64, a: u64) -> Option<(WithdrawPublic, WithdrawPrivate)> {
    let private = spend_private(seed, 1_000)?;
    let public =
        WithdrawPublic::derive(&private, Value(a), AccountId::from_fr(Fr::from(4242u64))).ok()?;
    Some((public, private))
}

/// The node price of [`settle`]'s batches.
pub const SETTLE_PRICE: Value = Value(3);

/// An honest settlement batch of `k` real sessions (no padding) of one node,
/// each with a receipt signed by its session key.
pub fn settle(k: usize, seed: u64) -> Option<(SettlePublic, Vec<Slot>)> {
    let key = |i: u64| {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        s[8..16].copy_from_slice(&i.to_le_bytes());
        SigningKey::from_seed(s)
    };
    let node = key(u64::MAX)?.verifying_key().node_id();
    let mut slots = Vec::with_capacity(k);
    for i in 0..k as u64 {
        let sk = key(i)?;
        let session_id =
            SessionId::from_fr(Fr::from(seed) * Fr::from(1u64 << 32) + Fr::from(1_000 + i));
        let receipt = Receipt {
            session_id: session_id.inner(),
            kib: 100 + 10 * i,
        }
        .sign(&sk);
        let terms = EscrowTerms {
            session_id,
            node_id: node,
            escrow: Value(10_000),
            session_key_hash: sk.verifying_key().session_key_hash(),
            refund_owner: OwnerKey::from_fr(Fr::from(77 + i)),
            expiry: BlockHeight(1_000 + i),
        };
        slots.push(Slot::new(
            terms,
            SETTLE_PRICE,
            &sk.verifying_key(),
            &receipt,
        ));
    }
    Some((SettlePublic::for_slots(node, SETTLE_PRICE, &slots), slots))
}

/// An honest `tree_insert_64` statement and its siblings: 64 leaves
/// derived from `seed` appended after `64 · (seed mod 4)` earlier ones.
pub fn tree_insert_64(
    seed: u64,
) -> Option<(veil_circuits::tree_insert::TreeInsertPublic, Vec<Fr>)> {
    let mut frontier = veil_primitives::merkle::Frontier::new();
    for i in 0..64 * (seed % 4) {
        frontier
            .append(NoteCommitment::from_fr(Fr::from(i * 31 + seed)))
            .ok()?;
    }
    let leaves: Vec<Fr> = (0..64u64)
        .map(|i| Fr::from(seed) * Fr::from(1_000_003u64) + Fr::from(i + 1))
        .collect();
    let (public, siblings, _) = veil_circuits::tree_insert::prepare(&frontier, &leaves).ok()?;
    Some((public, siblings))
}

/// An honest challenge answer: a node key derived from `seed` signs the
/// challenge of epoch `seed` by account 4242 on a fixed root.
pub fn answer(seed: u64) -> Option<(AnswerPublic, AnswerPrivate)> {
    let mut key_seed = [0x5a; 32];
    key_seed[..8].copy_from_slice(&seed.to_le_bytes());
    let node = SigningKey::from_seed(key_seed)?;
    let vk = node.verifying_key();
    let public = AnswerPublic {
        node_id: vk.node_id(),
        monitor: AccountId::from_fr(Fr::from(4242u64)),
        epoch: seed,
        root: MerkleRoot::from_fr(Fr::from(seed) + Fr::from(31_337u64)),
    };
    let private = AnswerPrivate::new(&vk, node.sign(&public.value()));
    Some((public, private))
}
