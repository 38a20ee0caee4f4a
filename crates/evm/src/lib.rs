//! Settlement on an EVM chain: Groth16 verifiers in Solidity written from
//! veil's pinned verifying keys, Poseidon contracts written from veil's
//! hash parameters, their compiled artifacts, and an in-process revm
//! sandbox to run them.
//!
//! Knows nothing of gRPC or storage. See `docs/evm.md`; of the ledger
//! contract stages 1 to 4 exist (deposits, node registration, the note
//! tree advanced by proven batches of 64 leaves: [`ledger`], with the test
//! token [`token`]; escrows, reclaim and withdrawal: [`escrow`];
//! settlement: [`settle`]; issue 10).

pub mod abi;
pub mod artifact;
pub mod audits;
pub mod escrow;
pub mod generated;
pub mod ledger;
pub mod market;
pub mod measure;
pub mod poseidon;
pub mod sample;
pub mod sandbox;
pub mod settle;
pub mod solidity;
pub mod token;
pub mod verifiers;

pub use abi::Word;
pub use artifact::Artifact;
pub use sandbox::{Event, Outcome, Sandbox, Status};
pub use solidity::{GenerateError, ProofWords, groth16_verifier, verifier_contract_name};
