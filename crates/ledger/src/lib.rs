//! The veil settlement layer (docs/protocol.md §8, docs/ledger.md).
//!
//! * [`types`]: typed domain values and records;
//! * [`api::LedgerApi`]: the async interface nodes and wallets use, with
//!   [`EmbeddedLedger`] (in-process) and [`RemoteLedger`] (gRPC) behind it.

pub mod api;
pub mod error;
pub mod types;

pub use api::LedgerApi;
pub use error::LedgerError;
