//! The veil client: wallet, commitment sync, access tokens, the session
//! client with its metered relay, and the SOCKS5 front end.
//!
//! Spec: `docs/protocol.md` (client side of §3–§9); how to run it:
//! `docs/client.md`.

pub mod amount;
pub mod choice;
pub mod error;
pub mod flow;
pub mod fsutil;
pub mod market;
pub mod monitor;
pub mod ops;
pub mod pin;
pub mod proxy;
pub mod receipt_policy;
pub mod relay;
pub mod session;
pub mod socks5;
pub mod sync;
pub mod transport;
pub mod two_hop;
pub mod vouchers;
pub mod wallet;

pub use error::ClientError;
