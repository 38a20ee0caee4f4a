//! How `veil` reaches a node (`docs/protocol.md` §9.8): the flags shared by
//! `veil connect` and `veil voucher`, and the connection they describe.

use anyhow::Context;
use veil_client::pin::TlsKeyHash;
use veil_client::session::NodeConnection;
use veil_client::transport::NodeTransport;
use veil_ledger::LedgerApi;

use super::wallet::{open_ledger, with_ledger};

/// How `veil` reaches a node (`docs/protocol.md` §9.8): TLS pinned by the
/// ledger registration unless `--node-pin` gives the pin, plaintext only
/// with `--insecure-plaintext`.
#[derive(clap::Args, Clone, Debug)]
pub struct NodeFlags {
    /// The node, `https://HOST:PORT` (`http://` is read the same way: the
    /// transport is decided by the flags below, not by the scheme). In a
    /// two-hop route (`veil connect --hops 2`) this is the entry, also
    /// spelled `--entry`.
    #[arg(long, visible_alias = "entry")]
    pub node: String,
    /// The node's TLS key hash (64 hex digits, as `veil node serve` prints
    /// it) instead of looking it up in the node's ledger registration.
    #[arg(long, value_name = "HEX", conflicts_with = "insecure_plaintext")]
    pub node_pin: Option<String>,
    /// Speak plaintext HTTP/2 to the node: unencrypted and unauthenticated.
    /// Tests and local demos only.
    #[arg(long)]
    pub insecure_plaintext: bool,
}

/// The warning printed whenever a client talks plaintext to a node.
pub const PLAINTEXT_WARNING: &str = "WARNING: --insecure-plaintext: traffic to the node is NOT \
     encrypted or authenticated; anyone on the path can read it, and anyone can impersonate \
     the node. Tests and local demos only.";

/// Connects to the node as `flags` say, looking its TLS pin up on `ledger`
/// unless `--node-pin` gives it.
pub async fn connect_node<L: LedgerApi>(
    flags: &NodeFlags,
    ledger: &L,
) -> anyhow::Result<NodeConnection> {
    if let Some(conn) = connect_without_ledger(flags).await? {
        return Ok(conn);
    }
    let conn = NodeConnection::connect_via_ledger(&flags.node, ledger)
        .await
        .with_context(|| format!("connecting to node {}", flags.node))?;
    report_pin(&conn, "its ledger registration");
    Ok(conn)
}

/// [`connect_node`], opening the ledger at `ledger_spec` only if needed.
pub async fn connect_node_at(
    flags: &NodeFlags,
    ledger_spec: &str,
) -> anyhow::Result<NodeConnection> {
    if let Some(conn) = connect_without_ledger(flags).await? {
        return Ok(conn);
    }
    with_ledger!(open_ledger(ledger_spec).await?, l => connect_node(flags, &l).await)
}

/// Plaintext or explicitly pinned connections; `None` when the pin must
/// come from the ledger.
async fn connect_without_ledger(flags: &NodeFlags) -> anyhow::Result<Option<NodeConnection>> {
    let node = &flags.node;
    if flags.insecure_plaintext {
        eprintln!("{PLAINTEXT_WARNING}");
        let conn = NodeConnection::connect_plaintext(node)
            .await
            .with_context(|| format!("connecting to node {node}"))?;
        return Ok(Some(conn));
    }
    let Some(pin) = &flags.node_pin else {
        return Ok(None);
    };
    let pin: TlsKeyHash = pin.parse().context("--node-pin")?;
    let conn = NodeConnection::connect_pinned(node, pin)
        .await
        .with_context(|| format!("connecting to node {node}"))?;
    report_pin(&conn, "--node-pin");
    Ok(Some(conn))
}

fn report_pin(conn: &NodeConnection, source: &str) {
    if let NodeTransport::Pinned(pin) = conn.endpoint().transport() {
        eprintln!("node TLS key sha256 {pin} (pinned by {source})");
    }
}
