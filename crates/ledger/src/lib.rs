//! The veil settlement layer (docs/protocol.md §8, docs/ledger.md).
//!
//! Layers, each depending only on those above it:
//! * [`types`], [`trade`], [`exit`], [`error`], [`records`], [`limits`]:
//!   typed domain values (the market's in `trade`, a node's exit in
//!   `exit`), errors, the ledger's records and
//!   size limits;
//! * [`state`]: the state traits; [`machine`]: the state machine over them
//!   (stateless → read-only → execute); [`memory`]: an in-memory state;
//! * [`api::LedgerApi`]: the async interface nodes and wallets use;
//!   [`wire`], [`convert`], [`remote`]: `veil.ledger.v1` constants,
//!   proto ↔ domain, and [`RemoteLedger`] (gRPC client);
//! * feature `server`: [`schema`], [`store`] (redb), [`engine`],
//!   [`EmbeddedLedger`], [`service`] (gRPC server) and its [`metrics`],
//!   [`audit`], [`testing`].

pub mod api;
pub mod challenge;
pub mod convert;
pub mod error;
pub mod exit;
pub mod intern;
pub mod limits;
pub mod machine;
pub mod memory;
pub mod monitor;
pub mod profile;
pub mod records;
pub mod remote;
pub mod state;
pub mod trade;
pub mod types;
pub mod verifier;
pub mod wire;

#[cfg(feature = "server")]
pub mod audit;
#[cfg(feature = "server")]
pub mod embedded;
#[cfg(feature = "server")]
pub mod engine;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod schema;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod testing;

pub use api::LedgerApi;
#[cfg(feature = "server")]
pub use embedded::EmbeddedLedger;
#[cfg(feature = "server")]
pub use engine::Engine;
pub use error::LedgerError;
pub use machine::LedgerConfig;
pub use remote::RemoteLedger;
pub use verifier::Groth16Verifier;
