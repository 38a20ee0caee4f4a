//! A deterministic sample ledger state for gas measurements and tests
//! (`docs/evm.md` §5, §7): 64 deposits of notes whose owners are known (one
//! full batch of the note tree), a node, the access and withdraw
//! statements that spend those notes against the batch's root, and the
//! settle slots of the sessions those access tokens open (each session key
//! signs a receipt).
//!
//! The keys are derived from small integers: NEVER use them for value.

use veil_circuits::access::{AccessPrivate, AccessPublic};
use veil_circuits::settle::Slot;
use veil_circuits::withdraw::WithdrawPublic;
use veil_primitives::Fr;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::ids::{BlockHeight, NodeId, SessionKeyHash};
use veil_primitives::keys::{OwnerKey, SpendingKey};
use veil_primitives::merkle::Tree;
use veil_primitives::note::{Note, Rho};
use veil_primitives::receipt::Receipt;
use veil_primitives::value::Value;

use crate::abi::{Word, word_u64};
use crate::escrow::recipient_account;
use crate::ledger::{BATCH, Registration};
use crate::sandbox::EvmAddress;

/// Every sample note's value.
pub const NOTE_VALUE: u64 = 1_000;
/// The sample node's escrow sizes and price.
pub const SIZES: [u64; 3] = [100, 300, 500];
pub const PRICE: u64 = 3;
/// Every sample token's expiry (a fresh chain starts at height 0).
pub const EXPIRY: u64 = 100;

/// Sample note `i < 64` (leaf `i`) and its owner's key.
pub fn owned(i: usize) -> (SpendingKey, Note) {
    let sk = SpendingKey::from_fr(Fr::from(1_000 + i as u64));
    let rho = Rho::from_fr(Fr::from(500 + i as u64));
    let note = Note::new(Value(NOTE_VALUE), sk.owner_key(), rho);
    (sk, note)
}

/// The `addr` of each of the 64 deposits, in order.
pub fn deposit_addrs() -> Vec<Word> {
    (0..BATCH)
        .map(|i| owned(i).1.address().to_bytes())
        .collect()
}

/// The note tree after the 64 deposits.
pub fn tree() -> Tree {
    let mut t = Tree::new();
    // 64 leaves always fit the depth-32 tree.
    let _ = t.append_many((0..BATCH).map(|i| owned(i).1.commitment()));
    t
}

/// The witness of spending note `i` (its path in [`tree`]).
pub fn spend(tree: &Tree, i: usize) -> Option<AccessPrivate> {
    let (sk, note) = owned(i);
    Some(AccessPrivate {
        path: tree.path(i as u64).ok()?,
        sk,
        value: note.value,
        rho: note.rho,
        rho_change: Rho::from_fr(Fr::from(9_000 + i as u64)),
    })
}

/// The key of sample node `seed`.
pub fn node_key(seed: u8) -> Option<SigningKey> {
    SigningKey::from_seed([seed; 32])
}

/// Its node id.
pub fn node_id(seed: u8) -> Option<Word> {
    Some(node_key(seed)?.verifying_key().node_id().to_bytes())
}

/// Its registration at [`PRICE`] with [`SIZES`], no stake. The node
/// signature is zero: the contract does not check it (readers do, and
/// would not accept this node; docs/evm.md §4.2).
pub fn registration(seed: u8) -> Option<Registration> {
    let b = node_key(seed)?.verifying_key().to_bytes();
    Some(Registration {
        node_key: [b[..32].try_into().ok()?, b[32..].try_into().ok()?],
        node_signature: [[0; 32]; 3],
        price_per_kib: word_u64(PRICE),
        escrow_sizes: SIZES.iter().map(|s| word_u64(*s)).collect(),
        stake: word_u64(0),
        tls_key_hash: [0x5a; 32],
        profile: Vec::new(),
    })
}

/// The session key of the escrow opened from note `i`.
pub fn session_key(i: usize) -> Option<SigningKey> {
    let mut seed = [0x5e; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    SigningKey::from_seed(seed)
}

/// The refund owner of the escrow opened from note `i`.
pub fn refund_owner(i: usize) -> OwnerKey {
    OwnerKey::from_fr(Fr::from(6_000 + i as u64))
}

/// The statement of spending note `i` into an escrow `e` for node `node`
/// (session key [`session_key`] and refund owner [`refund_owner`] derived
/// from `i`, expiry [`EXPIRY`]).
pub fn access_statement(
    private: &AccessPrivate,
    i: usize,
    e: u64,
    node: u8,
) -> Option<AccessPublic> {
    let h_s: SessionKeyHash = session_key(i)?.verifying_key().session_key_hash();
    AccessPublic::derive(
        private,
        Value(e),
        NodeId::from_bytes(&node_id(node)?).ok()?,
        h_s,
        refund_owner(i),
        BlockHeight(EXPIRY),
    )
    .ok()
}

/// The settle slot of the session `st` opened from note `i`, settled with
/// a receipt for `kib` KiB signed by its session key, at the node's
/// [`PRICE`].
pub fn settle_slot(st: &AccessPublic, i: usize, kib: u64) -> Option<Slot> {
    settle_slot_at(st, i, kib, PRICE)
}

/// [`settle_slot`] for an escrow that recorded `price` per KiB (opened
/// after the node updated its price, §8.3.8).
pub fn settle_slot_at(st: &AccessPublic, i: usize, kib: u64, price: u64) -> Option<Slot> {
    let sk = session_key(i)?;
    let receipt = Receipt {
        session_id: st.nullifier.inner(),
        kib,
    }
    .sign(&sk);
    Some(Slot::new(
        st.escrow_terms(),
        Value(price),
        &sk.verifying_key(),
        &receipt,
    ))
}

/// The statement of withdrawing `amount` from a note to `recipient`.
pub fn withdraw_statement(
    private: &AccessPrivate,
    amount: u64,
    recipient: EvmAddress,
) -> Option<WithdrawPublic> {
    WithdrawPublic::derive(private, Value(amount), recipient_account(recipient)).ok()
}
