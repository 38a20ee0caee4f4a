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
pub mod metrics_page;
pub mod node;
pub mod node_conn;
pub mod node_rotate;
pub mod node_status;
pub mod progress;
pub mod setup;
pub mod setup_ceremony;
pub mod voucher;
pub mod wallet;
