//! The veil settlement layer (docs/protocol.md §8, docs/ledger.md).
//!
//! * [`types`]: typed domain values and records;
//! * [`machine`]: the state machine (stateless → read-only → execute);
//! * [`schema`], [`store`]: the redb tables and the durable store;
//! * [`api::LedgerApi`]: the async interface nodes and wallets use, with
//!   [`EmbeddedLedger`] (in-process) and [`RemoteLedger`] (gRPC) behind it.

pub mod api;
pub mod audit;
pub mod convert;
pub mod embedded;
pub mod engine;
pub mod error;
pub mod machine;
pub mod remote;
pub mod schema;
pub mod service;
pub mod store;
pub mod testing;
pub mod types;
pub mod verifier;

pub use api::LedgerApi;
pub use embedded::EmbeddedLedger;
pub use engine::Engine;
pub use error::LedgerError;
pub use machine::LedgerConfig;
pub use remote::RemoteLedger;
pub use verifier::Groth16Verifier;
