//! R1CS gadgets and circuits of veil, each beside its native twin.
//!
//! Spec: `docs/protocol.md` §3–§5. Circuits and gadgets know nothing of
//! gRPC or storage.

pub mod access;
pub mod answer;
pub mod gadgets;
pub mod settle;
pub mod shape;
pub mod spend;
pub mod tree_insert;
pub mod withdraw;
