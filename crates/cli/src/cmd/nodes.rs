//! `veil nodes`: the registered nodes, read from the ledger's public
//! registry (`ListNodes`, docs/protocol.md §8.3.10) with each node's terms
//! in force and its published profile (§8.3.9).
use anyhow::Context;
use serde_json::{Value as Json, json};
use veil_ledger::LedgerApi;
use veil_ledger::types::NodeRecord;

use super::wallet::{open_ledger, with_ledger};

/// `veil nodes` flags.
#[derive(clap::Args)]
pub struct Args {
    /// Ledger: `http://HOST:PORT`, `embedded:PATH` or `evm:URL#ADDRESS[@BLOCK]`.
    #[arg(long)]
    ledger: String,
    /// Print JSON (one object with a `nodes` array) instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let nodes = rt.block_on(async {
        let ledger = open_ledger(&args.ledger).await?;
        with_ledger!(ledger, l => l.all_nodes().await.context("listing the ledger's nodes"))
    })?;
    let listed: Vec<Json> = nodes.iter().map(describe).collect();
    if args.json {
        println!("{}", json!({ "nodes": listed }));
        return Ok(());
    }
    println!("{} registered node(s)", listed.len());
    for n in &listed {
        println!(
            "{}{}  endpoint {}  price {}/KiB  sizes {}  stake {}  capacity {} Mbit/s  voucher epochs {}  audit {}{}",
            n["node_id"].as_str().unwrap_or(""),
            match n["retired_at"].as_u64() {
                Some(h) => format!("  RETIRED at height {h}"),
                None => String::new(),
            },
            n["endpoint"].as_str().unwrap_or("-"),
            n["price_per_kib"],
            n["escrow_sizes"],
            n["stake"],
            n["capacity_mbit_s"],
            n["voucher_epochs"],
            audit_line(&n["audit"]),
            challenges_line(&n["ledger_challenges"], &n["slashed_total"]),
        );
    }
    Ok(())
}

/// One node as listed: its terms in force and what its profile publishes;
/// a profile that does not parse is shown as such (clients skip the node).
fn describe(n: &NodeRecord) -> Json {
    let profile = n.profile();
    let p = profile.as_ref().ok().and_then(Option::as_ref);
    json!({
        "node_id": n.registration.node_id.to_string(),
        "price_per_kib": n.price_per_kib().0,
        "escrow_sizes": n.escrow_sizes().iter().map(|v| v.0).collect::<Vec<_>>(),
        "stake": n.locked_stake().0,
        "retired_at": n.exit.map(|x| x.retired.at.0),
        "stake_released": n.exit.is_some_and(|x| x.released.is_some()),
        "tls_key_sha256": hex::encode(n.tls_key_hash()),
        "sequence": n.sequence(),
        "endpoint": p.and_then(|p| p.endpoint.as_ref()).map(|e| e.to_string()),
        "capacity_mbit_s": p.map_or(0, |p| p.capacity_mbit_s),
        "voucher_epochs": p.map_or(Vec::new(), |p| p.voucher_keys.iter().map(|k| k.epoch).collect()),
        "profile_error": profile.err().map(|e| e.to_string()),
        "audit": audit(n),
        "ledger_challenges": {
            "open": n.audit.open_challenges,
            "missed": n.audit.missed_challenges,
        },
        "slashed_total": n.audit.slashed.get(),
    })
}

/// The latest verdict of the node's audits (docs/protocol.md §8.3.13), or
/// `null` before a quorum of monitors reported.
fn audit(n: &NodeRecord) -> Json {
    match n.audit.last {
        None => Json::Null,
        Some(last) => json!({
            "epoch": last.epoch,
            "reports": last.reports,
            "throughput_kbps": last.throughput_kbps,
            "rtt_ms": last.rtt_ms,
            "delivered_ppm": last.delivered_ppm,
            "slashed": last.slashed.get(),
            "slashed_total": n.audit.slashed.get(),
        }),
    }
}

/// The node's ledger challenges (docs/protocol.md §8.3.14), when it has
/// had any open or missed, and everything slashed.
fn challenges_line(c: &Json, slashed: &Json) -> String {
    let (open, missed) = (
        c["open"].as_u64().unwrap_or(0),
        c["missed"].as_u64().unwrap_or(0),
    );
    if open == 0 && missed == 0 {
        return String::new();
    }
    format!("  ledger challenges open {open} missed {missed} (slashed {slashed} in all)")
}

fn audit_line(a: &Json) -> String {
    if a.is_null() {
        return "none yet".into();
    }
    format!(
        "epoch {}: {} kbit/s ({}% of claimed), rtt {} ms, {} slashed in all",
        a["epoch"],
        a["throughput_kbps"],
        a["delivered_ppm"].as_u64().unwrap_or(0) / 10_000,
        a["rtt_ms"],
        a["slashed_total"],
    )
}
