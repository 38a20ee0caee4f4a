//! Reusable R1CS gadgets, each the twin of a native function in `veil-primitives`.

pub mod eddsa;
pub mod merkle;
pub mod note;
pub mod poseidon;
pub mod range;
