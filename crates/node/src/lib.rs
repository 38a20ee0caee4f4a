//! The veil node: session service, relay, metering, receipts, settlement
//! worker (`docs/protocol.md` §9).
#![forbid(unsafe_code)]

pub mod egress;
pub mod metering;
