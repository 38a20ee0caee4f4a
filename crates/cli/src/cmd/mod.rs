//! One module per subcommand.

pub mod bench;
pub mod ceremony;
pub mod connect;
pub mod demo;
pub mod export;
pub mod export_solidity;
pub mod keys;
pub mod ledger;
pub mod ledger_evm;
pub mod ledger_status;
pub mod market;
pub mod market_trade;
pub mod metrics_page;
pub mod monitor;
pub mod node;
pub mod node_conn;
pub mod node_exit;
pub mod node_rotate;
pub mod node_status;
pub mod node_voucher_rotate;
pub mod nodes;
pub mod progress;
pub mod setup;
pub mod setup_ceremony;
pub mod voucher;
pub mod wallet;

/// SIGINT or SIGTERM, the handlers registered when this is called: a
/// signal that arrives after the server printed its banner but before its
/// task first polls the future still stops it cleanly (a lazily
/// registered handler left that window to the default action, death by
/// signal, which a test's supervisor saw as a failed exit).
pub(crate) fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
