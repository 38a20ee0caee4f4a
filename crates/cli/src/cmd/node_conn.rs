//! How `veil` reaches a node (`docs/protocol.md` §9.8): the flags shared by
//! `veil connect` and `veil voucher`, and the connection they describe.

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use veil_client::choice::{self, Candidate};
use veil_client::pin::TlsKeyHash;
use veil_client::session::NodeConnection;
use veil_client::transport::NodeTransport;
use veil_ledger::LedgerApi;
use veil_ledger::types::{AccountId, NodeId, Value};

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
    /// `veil connect` without it chooses from the ledger's registry
    /// (docs/client.md "Choosing nodes").
    #[arg(long, visible_alias = "entry")]
    pub node: Option<String>,
    /// The node's TLS key hash (64 hex digits, as `veil node serve` prints
    /// it) instead of looking it up in the node's ledger registration.
    #[arg(
        long,
        value_name = "HEX",
        conflicts_with = "insecure_plaintext",
        requires = "node"
    )]
    pub node_pin: Option<String>,
    /// Speak plaintext HTTP/2 to the node: unencrypted and unauthenticated.
    /// Tests and local demos only.
    #[arg(long, requires = "node")]
    pub insecure_plaintext: bool,
}

impl NodeFlags {
    /// The node `--node` names; an error where it is required.
    pub fn url(&self) -> anyhow::Result<&str> {
        self.node
            .as_deref()
            .context("--node is required: the node's https://HOST:PORT")
    }
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
    let url = flags.url()?;
    let conn = NodeConnection::connect_via_ledger(url, ledger)
        .await
        .with_context(|| format!("connecting to node {url}"))?;
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
    let node = flags.url()?;
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

/// `hops` nodes chosen from `ledger`'s registry for sessions of `escrow`,
/// none operated by an account in `exclude` ([`veil_client::choice`]).
pub async fn choose_nodes<L: LedgerApi>(
    ledger: &L,
    escrow: u64,
    exclude: &[AccountId],
    hops: usize,
) -> anyhow::Result<Vec<Candidate>> {
    let records = ledger
        .all_nodes()
        .await
        .context("reading the ledger's node registry")?;
    Ok(choice::choose(
        &records,
        Value(escrow),
        exclude,
        hops,
        &mut OsRng,
    )?)
}

/// Connects to `chosen`, pinned to the TLS key its ledger record holds, and
/// checks that the node there reports `chosen`'s id.
pub async fn connect_chosen(chosen: &Candidate, role: &str) -> anyhow::Result<NodeConnection> {
    let mut conn = NodeConnection::connect_pinned(&chosen.url, chosen.pin)
        .await
        .with_context(|| format!("connecting to node {} at {}", chosen.node_id, chosen.url))?;
    let reported = conn.terms().await?.node_id;
    if reported != chosen.node_id {
        bail!(
            "the node at {} reports id {reported}, not {} whose TLS key it holds",
            chosen.url,
            chosen.node_id
        );
    }
    report_chosen(chosen, role);
    Ok(conn)
}

/// Prints which node the client chose for `role`.
pub fn report_chosen(chosen: &Candidate, role: &str) {
    eprintln!(
        "chose {role} {} at {} from the ledger's registry (stake {})",
        chosen.node_id, chosen.url, chosen.stake.0
    );
}

/// The operator account of the registered node `id`.
pub async fn operator_of<L: LedgerApi>(ledger: &L, id: NodeId) -> anyhow::Result<AccountId> {
    let record = ledger
        .get_node(id)
        .await?
        .with_context(|| format!("node {id} is not registered on the ledger"))?;
    Ok(record.registration.account)
}
