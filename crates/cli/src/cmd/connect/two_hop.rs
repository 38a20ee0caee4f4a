//! `veil connect --hops 2`: a route through an entry and an exit node
//! (`docs/protocol.md` §9.9, `docs/client.md` "Two hops"). The SOCKS5
//! connections go to the exit session's relay; when either hop runs low on
//! credit or stops carrying, a whole new route (two new sessions) replaces
//! the old one.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::rngs::OsRng;
use veil_client::choice::Candidate;
use veil_client::pin::TlsKeyHash;
use veil_client::relay::Relay;
use veil_client::session::NodeConnection;
use veil_client::sync::LocalTree;
use veil_client::two_hop::{ExitNode, Route, RouteEscrows, finish_route, start_route};
use veil_client::wallet::Wallet;
use veil_ledger::LedgerApi;
use veil_primitives::ids::NodeId;
use veil_proofs::{CircuitId, Prover};

use super::super::node_conn::{
    choose_nodes, connect_chosen, connect_node, operator_of, report_chosen,
};
use super::{Args, RETRY_AFTER, SocksProxy};

/// The exit as `--exit`, `--exit-pin` and `--exit-node` name it.
fn exit_node(args: &Args) -> anyhow::Result<ExitNode> {
    let Some(url) = args.exit.clone() else {
        bail!("--hops 2 needs --exit (the exit node's https://HOST:PORT)");
    };
    let pin = match &args.exit_pin {
        Some(p) => Some(p.parse::<TlsKeyHash>().context("--exit-pin")?),
        None => None,
    };
    let node = match &args.exit_node {
        Some(h) => {
            let bytes = hex::decode(h).context("--exit-node is not hex")?;
            Some(NodeId::from_slice(&bytes).context("--exit-node")?)
        }
        None => None,
    };
    Ok(ExitNode { url, pin, node })
}

/// The entry connection and the exit, as `--entry` and `--exit` name
/// them; the one not named is chosen from the ledger's registry, of
/// another operator than the other's (docs/client.md "Choosing nodes").
async fn route_ends<L: LedgerApi>(
    ledger: &L,
    args: &Args,
    escrow: u64,
) -> anyhow::Result<(NodeConnection, ExitNode)> {
    match (&args.node.node, &args.exit) {
        (Some(_), Some(_)) => Ok((connect_node(&args.node, ledger).await?, exit_node(args)?)),
        (None, None) => {
            let hops = choose_nodes(ledger, escrow, &[], 2).await?;
            let entry = connect_chosen(&hops[0], "entry node").await?;
            Ok((entry, chosen_exit(&hops[1])))
        }
        (Some(_), None) => {
            let mut entry = connect_node(&args.node, ledger).await?;
            let entry_operator = operator_of(ledger, entry.terms().await?.node_id).await?;
            let hops = choose_nodes(ledger, escrow, &[entry_operator], 1).await?;
            Ok((entry, chosen_exit(&hops[0])))
        }
        (None, Some(_)) => {
            let exit = exit_node(args)?;
            let Some(id) = exit.node else {
                bail!(
                    "--exit without --entry needs --exit-node: the entry is chosen from another \
                     operator than the exit's"
                );
            };
            let exit_operator = operator_of(ledger, id).await?;
            let hops = choose_nodes(ledger, escrow, &[exit_operator], 1).await?;
            Ok((connect_chosen(&hops[0], "entry node").await?, exit))
        }
    }
}

/// The exit chosen as `chosen`: its pin and sizes read from its record
/// ahead, its token proved in parallel with the entry's (§9.9).
fn chosen_exit(chosen: &Candidate) -> ExitNode {
    report_chosen(chosen, "exit node");
    ExitNode {
        url: chosen.url.clone(),
        pin: None,
        node: Some(chosen.node_id),
    }
}

/// Whether a fifth of either hop's credit is left (as for one hop).
fn low(route: &Route) -> bool {
    [&route.entry, &route.exit]
        .iter()
        .any(|h| h.relay.remaining_kib() < (h.session.credit_kib / 5).max(1))
}

/// Serves SOCKS5 through a two-hop route until Ctrl-C.
pub(super) async fn serve<L: LedgerApi>(ledger: L, args: &Args, escrow: u64) -> anyhow::Result<()> {
    if args.node.insecure_plaintext {
        bail!(
            "--hops 2 runs over TLS only: a plaintext entry would see the inner connection's setup"
        );
    }
    let escrows = RouteEscrows {
        entry: escrow,
        exit: escrow,
    };
    let store = super::super::keys::store()?;
    let prover =
        tokio::task::spawn_blocking(move || Prover::from_store(&store, &[CircuitId::Access], None))
            .await??;
    let mut wallet = Wallet::open(&args.wallet)?;
    let mut tree = LocalTree::new();
    let (mut entry, exit) = route_ends(&ledger, args, escrow).await?;
    let open = |n: u32| {
        if n == 0 {
            args.intent.clone()
        } else {
            format!("{}#{n}", args.intent)
        }
    };
    let mut route = start_route(
        &ledger,
        &mut entry,
        &exit,
        &prover,
        &mut wallet,
        &mut tree,
        escrows,
        &open(0),
        &mut OsRng,
    )
    .await
    .context("opening the two-hop route")?;
    report(&route);
    let proxy = SocksProxy::start(args.socks, route.relay().clone()).await?;
    let (mut n, mut next_attempt) = (0u32, Instant::now());
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        if let Err(e) = route.checkpoint(&mut wallet) {
            eprintln!("could not save receipts in the wallet: {e}");
        }
        let renew = low(&route) || !route.usable();
        if !renew || Instant::now() < next_attempt {
            continue;
        }
        if route.entry.relay.distrusted() || route.exit.relay.distrusted() {
            eprintln!("a node failed a challenge: not paying it further");
            break;
        }
        match start_route(
            &ledger,
            &mut entry,
            &exit,
            &prover,
            &mut wallet,
            &mut tree,
            escrows,
            &open(n + 1),
            &mut OsRng,
        )
        .await
        {
            Ok(next) => {
                n += 1;
                finish_route(&mut wallet, &route)?;
                proxy.switch_to(next.relay().clone());
                route = next;
                eprintln!("credit low: opened a new route");
            }
            Err(e) => {
                eprintln!(
                    "could not open a new route (retrying in {} s): {e}",
                    RETRY_AFTER.as_secs()
                );
                next_attempt = Instant::now() + RETRY_AFTER;
                if !route.usable() {
                    break;
                }
            }
        }
    }
    proxy.signal_stop();
    finish_route(&mut wallet, &route)?;
    proxy.join().await;
    Ok(())
}

fn report(route: &Route) {
    let credit = |r: &Relay, c: u64| format!("credit {c} KiB, {} KiB left", r.remaining_kib());
    eprintln!(
        "two-hop route open: entry {}; exit {} (first challenge RTT through the entry {} µs; exit token proved {})",
        credit(&route.entry.relay, route.entry.session.credit_kib),
        credit(&route.exit.relay, route.exit.session.credit_kib),
        route.exit.first_rtt_us,
        if route.exit_token_ahead {
            "in parallel with the entry's"
        } else {
            "after the entry session opened"
        }
    );
}
