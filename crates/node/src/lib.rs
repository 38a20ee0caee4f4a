//! The veil node: session service, metered relay, receipts, settlement
//! worker (`docs/protocol.md` §9).
//!
//! * [`metering`]: the sans-IO session state machine (credit, receipts);
//! * [`egress`]: which destinations the relay may reach;
//! * [`store`]: the node database (sessions, highest receipts);
//! * [`backend`]: the proof system as the node sees it;
//! * [`spawn`]: runs a node on a listener and returns a [`NodeHandle`].
#![forbid(unsafe_code)]

pub mod admission;
pub mod backend;
pub mod config;
pub mod egress;
pub mod keys;
pub mod metering;
pub mod proofs_backend;
mod register;
mod relay;
mod server;
mod service;
pub mod settle;
mod state;
pub mod store;
pub mod vouchers;

pub use backend::{AccessToken, AccessVerifier, SettleProver, SettleSlotWitness};
pub use config::{BatchPolicy, Limits, NodeConfig, Transport};
pub use server::{NodeError, NodeHandle, TlsInfo, spawn_with};
pub use service::ACCESS_TOKEN_BYTES;
pub use settle::{SettleError, SettlementReport};
pub use state::NodeStatus;

/// Starts a node with the `veil-proofs` backend: the pinned access
/// verifying key from `params` and `settle_K` proving keys loaded on first
/// settlement. See [`spawn_with`].
pub async fn spawn<L, F>(
    config: NodeConfig,
    ledger: L,
    params: veil_proofs::ParamStore,
    shutdown: F,
) -> Result<NodeHandle, NodeError>
where
    L: veil_ledger::LedgerApi,
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let verifier = proofs_backend::ProofsVerifier::load(&params)
        .map_err(|e| NodeError::Params(e.to_string()))?;
    let prover = proofs_backend::ProofsProver::new(params);
    spawn_with(
        config,
        ledger,
        std::sync::Arc::new(verifier),
        std::sync::Arc::new(prover),
        shutdown,
    )
    .await
}
