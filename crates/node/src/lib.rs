//! The veil node: session service, metered relay, receipts, settlement
//! worker (`docs/protocol.md` §9).
//!
//! The core, bottom up (no module imports one above it):
//! * [`metering`]: the sans-IO session state machine (credit, receipts);
//! * [`purchase`]: the sans-IO voucher purchase (checks, reservation);
//! * [`admission`], [`egress`]: connection, ban and destination policies;
//! * [`store`]: the node database `node.redb` (sessions, highest
//!   receipts, voucher purchases and nullifiers) with its one schema;
//! * [`history`], [`status_page`]: the sans-IO time series of node-wide
//!   counters and settlement batches, and the operator's HTML page drawn
//!   from it;
//! * [`voucher_desk`]: issuer key, challenges, purchases, spends;
//! * `session`, `conns`: the session table, the connection table;
//! * `state`: the shared state `Inner` of a running node;
//! * `open`, [`settle`], `vouchers`, `relay`: the `OpenSession`
//!   pipeline, the settlement worker, the `BuyVoucher` pipeline and voucher
//!   hooks, the Relay stream (each an `impl` on `Inner`, returning domain
//!   errors, `error`);
//!
//! and the I/O shell: `rpc` (parse, call the core, one error → status
//! mapping) and `server` ([`spawn`]: files, registration, listener, tasks;
//! returns a [`NodeHandle`]) and [`ops_http`] (the operator's local
//! endpoint: `/metrics`, the status page, the sampling task). [`backend`]
//! is the proof system as the node sees it.
#![forbid(unsafe_code)]

pub mod admission;
mod answer;
pub mod backend;
pub mod config;
mod conns;
pub mod egress;
mod error;
pub mod history;
pub mod keys;
pub mod metering;
mod metrics;
mod open;
pub mod ops_http;
pub mod pace;
mod peers;
pub mod proofs_backend;
pub mod purchase;
mod register;
mod relay;
mod retire;
mod rpc;
mod server;
mod session;
pub mod settle;
mod state;
pub mod status_page;
pub mod store;
mod sync;
pub mod tls;
pub mod voucher_desk;
pub mod voucher_keys;
mod voucher_rotate;
mod vouchers;

pub use backend::{AccessToken, AccessVerifier, SettleProver, SettleSlotWitness};
pub use config::{BatchPolicy, Limits, NodeConfig, Transport};
pub use open::ACCESS_TOKEN_BYTES;
pub use register::{RotateError, Rotation, rotate_tls};
pub use retire::{ExitError, exit as exit_node};
pub use server::{NODE_DB_FILE, NodeError, NodeHandle, TlsInfo, spawn_with};
pub use settle::{SettleError, SettlementReport};
pub use state::NodeStatus;
pub use voucher_rotate::{VoucherRotateError, VoucherRotation, rotate_voucher_key};

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
