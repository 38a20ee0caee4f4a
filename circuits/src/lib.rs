//! R1CS gadgets and circuits of veil, each beside its native twin.
//!
//! Spec: `docs/protocol.md` §4–§6. Circuits and gadgets know nothing of
//! gRPC or storage.

pub mod gadgets;
