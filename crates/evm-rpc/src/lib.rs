//! The ledger contract on a real EVM chain (`docs/evm.md` §6): secp256k1
//! key files, transactions and calls over JSON-RPC with alloy (signed
//! locally, broadcast again unchanged if dropped: a retry can never apply
//! twice), the deployment of the ledger and its dependencies, and an anvil
//! process for end-to-end tests.
//!
//! The contract's calldata, errors and events are `veil_evm`'s: this crate
//! only moves them over the wire, so the same bytes run in the in-process
//! sandbox and on a chain.

pub mod anvil;
pub mod chain;
pub mod deploy;
pub mod key;
pub mod ledger;
pub mod open;

pub use chain::{Receipt, RpcChain, RpcError};
pub use deploy::{RpcDeployment, deploy_ledger};
pub use ledger::{EvmLedger, EvmLedgerSpec, Sequencer};
pub use open::{OpenBatch, open_batch};
