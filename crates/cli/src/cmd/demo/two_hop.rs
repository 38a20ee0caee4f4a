//! The demo's two-hop round (`docs/protocol.md` §9.9): bob reaches the
//! destination through the demo node as entry and a second node as exit,
//! each paid by its own session from its own note. What each node saw is
//! read from what it recorded: its store's files.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use rand::rngs::OsRng;
use tokio::net::TcpListener;
use tokio::sync::watch;
use veil_client::proxy::{Payer, serve};
use veil_client::session::NodeConnection;
use veil_client::two_hop::{ExitNode, RouteEscrows, finish_route, start_route};
use veil_ledger::LedgerApi;

use super::{Client, Stage, fetch_via_socks};

/// Bytes fetched through the route.
const FETCH: u64 = 1024 * 1024;

/// What the round fetched and what each node recorded of the other side.
pub(super) struct TwoHopDemo {
    pub bytes_fetched: u64,
    /// The entry's store holds the destination's address or a window of
    /// the payload.
    pub entry_saw_destination: bool,
    /// The exit's store holds the id of the client's entry session (the
    /// only value the client shares with the entry; the exit records no
    /// peer address).
    pub exit_saw_client: bool,
    /// Sessions the entry (the demo node) settles for the route: one.
    pub entry_sessions: usize,
}

impl TwoHopDemo {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "bytes_fetched": self.bytes_fetched,
            "entry_saw_destination": self.entry_saw_destination,
            "exit_saw_client": self.exit_saw_client,
        })
    }
}

/// Bob deposits two escrows (one note each), opens a route through the
/// demo node (`entry_dir`) and the exit at `exit_addr` (`exit_dir`), and
/// fetches [`FETCH`] bytes through it.
pub(super) async fn round<L: LedgerApi>(
    stage: &mut Stage<'_, L>,
    bob: &mut Client,
    payer: &L,
    exit_addr: SocketAddr,
    dirs: (&Path, &Path),
) -> anyhow::Result<TwoHopDemo> {
    for _ in 0..2 {
        veil_client::ops::deposit(payer, &mut bob.wallet, stage.escrow, true, &mut OsRng).await?;
    }
    let mut entry = NodeConnection::connect_via_ledger(&stage.node_url, stage.ledger).await?;
    let exit = ExitNode {
        url: format!("https://{exit_addr}"),
        pin: None,
        node: None,
    };
    let escrows = RouteEscrows {
        entry: stage.escrow,
        exit: stage.escrow,
    };
    let route = start_route(
        stage.ledger,
        &mut entry,
        &exit,
        stage.prover,
        &mut bob.wallet,
        &mut bob.tree,
        escrows,
        "two-hop",
        &mut OsRng,
    )
    .await
    .context("opening the two-hop route")?;
    let (relay_tx, relay_rx) = watch::channel(Some(route.relay().clone()));
    let socks = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let socks_addr = socks.local_addr()?;
    tokio::spawn(serve(
        socks,
        Payer::Session(relay_rx),
        stage.stop_rx.clone(),
    ));
    let fetched = fetch_via_socks(socks_addr, stage.dest, FETCH).await;
    drop(relay_tx);
    finish_route(&mut bob.wallet, &route)?;
    let fetched = fetched?;
    let entry_sid = route.entry.session.session_id.to_bytes();
    let out = TwoHopDemo {
        bytes_fetched: fetched,
        entry_saw_destination: store_holds(dirs.0, &destination_marks(stage.dest))?,
        exit_saw_client: store_holds(
            dirs.1,
            &[entry_sid.to_vec(), hex::encode(entry_sid).into_bytes()],
        )?,
        entry_sessions: 1,
    };
    say!(
        stage.json,
        "== bob fetches {} KiB through two hops: the entry's store names the destination: {}; the exit's store names bob's entry session: {}",
        fetched / 1024,
        out.entry_saw_destination,
        out.exit_saw_client
    );
    Ok(out)
}

/// What names the destination: its address and a window of its body
/// (`GET /n` answers the bytes `i mod 251`).
fn destination_marks(dest: SocketAddr) -> Vec<Vec<u8>> {
    let window: Vec<u8> = (30_000u32..30_064).map(|i| (i % 251) as u8).collect();
    vec![dest.to_string().into_bytes(), window]
}

/// Whether any file under `dir` holds any of `marks`.
fn store_holds(dir: &Path, marks: &[Vec<u8>]) -> anyhow::Result<bool> {
    for e in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let p = e?.path();
        let found = if p.is_dir() {
            store_holds(&p, marks)?
        } else {
            let bytes = std::fs::read(&p)?;
            marks
                .iter()
                .any(|m| !m.is_empty() && bytes.windows(m.len()).any(|w| w == m.as_slice()))
        };
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}
