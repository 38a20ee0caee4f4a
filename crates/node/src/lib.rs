//! The veil node: session service, metered relay, receipts, settlement
//! worker (`docs/protocol.md` §9).
//!
//! * [`metering`]: the sans-IO session state machine (credit, receipts);
//! * [`egress`]: which destinations the relay may reach;
//! * [`store`]: the node database (sessions, highest receipts);
//! * [`backend`]: the proof system as the node sees it;
//! * [`spawn`]: runs a node on a listener and returns a [`NodeHandle`].
#![forbid(unsafe_code)]

pub mod backend;
pub mod config;
pub mod egress;
pub mod keys;
pub mod metering;
mod relay;
mod server;
mod service;
pub mod settle;
mod state;
pub mod store;
pub mod vouchers;

pub use backend::{AccessToken, AccessVerifier, SettleProver, SettleSlotWitness};
pub use config::{Limits, NodeConfig, Transport};
pub use relay::challenge_message;
pub use server::{NodeError, NodeHandle, TlsInfo, spawn_with};
pub use service::{ACCESS_TOKEN_BYTES, WIRE_VERSION};
pub use settle::{SettleError, SettlementReport};
pub use state::NodeStatus;
