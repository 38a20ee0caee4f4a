//! Reusable R1CS gadgets, each the twin of a native function in `veil-primitives`.

pub mod poseidon;
pub mod range;
