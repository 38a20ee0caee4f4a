//! The veil client: wallet, commitment sync, access tokens, SOCKS5 front end.
//!
//! Spec: `docs/protocol.md` (client side of §3–§6); how to run it:
//! `docs/client.md`.

pub mod amount;
pub mod fsutil;
pub mod socks5;
pub mod wallet;
