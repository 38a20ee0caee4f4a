//! Unlinkable prepaid credit at one node: keyed-verification anonymous
//! credentials on ristretto255, Bulletproofs range proofs, Merlin transcripts.
//!
//! The construction, its equations and its limits are specified in
//! `docs/vouchers.md`; each module cites the section it implements.
//!
//! Client: [`Credential::request_issuance`] → [`AwaitingIssuance::finish_issuance`]
//! → [`Credential::prepare_spend`] → [`PendingSpend::finish_spend`] → … .
//! Node: [`Issuer::issue`], [`Issuer::verify_spend`], [`Issuer::exchange`],
//! with a [`NullifierStore`].
//!
//! ```
//! use veil_vouchers::*;
//! let mut rng = rand::thread_rng();
//! let node = NodeId::new([1; 32]);
//! let issuer = Issuer::new(node, IssuerSecretKey::generate(Epoch::new(0), &mut rng),
//!                          MemoryNullifierStore::new());
//! let balance = balance_for_escrow(10_000, 10)?; // 1000 KiB
//! let (req, awaiting) = Credential::request_issuance(issuer.current_key(), node,
//!                                                    balance, b"purchase", &mut rng);
//! let cred = awaiting.finish_issuance(&issuer.issue(&req, b"purchase")?)?;
//! let (spend, pending) = cred.prepare_spend(Balance::from_kib(300), b"conn-1", &mut rng)?;
//! let (verified, resp) = issuer.verify_spend(&spend, b"conn-1")?;
//! assert_eq!(verified.amount, Balance::from_kib(300));
//! let cred = pending.finish_spend(&resp, issuer.current_key())?;
//! assert_eq!(cred.balance(), Balance::from_kib(700));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_debug_implementations)]

mod bench;
pub mod context;
mod credential;
mod decode;
mod encoding;
mod error;
mod generators;
mod issuance;
mod issuer;
mod key_proof;
mod keys;
mod nullifier;
mod purchase;
mod sigma;
mod spend;
mod transcript;
mod types;

#[cfg(test)]
mod tests;

pub use bench::{BenchSummary, bench_summary};
pub use credential::Credential;
pub use decode::DecodeError;
pub use encoding::VERSION;
pub use error::{ClientError, IssueError, KeyError, SpendError, VerificationError};
pub use issuance::{AwaitingIssuance, IssuanceRequest, IssuanceResponse};
pub use issuer::{Issuer, VerifiedSpend};
pub use key_proof::{KeyProof, PublishedKeyError};
pub use keys::{IssuerPublicKey, IssuerSecretKey};
pub use nullifier::{MemoryNullifierStore, NullifierStore, NullifierStoreError};
pub use purchase::{PurchaseError, balance_for_escrow};
pub use spend::{PendingSpend, SpendRequest, SpendResponse};
pub use types::{Balance, Epoch, KeyId, NodeId, VoucherNullifier};
