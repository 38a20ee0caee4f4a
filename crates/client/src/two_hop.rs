//! Two-hop routes (`docs/protocol.md` §9.9): the client's own TLS
//! connection to an exit node, pinned to the exit's registered key, carried
//! inside one relay stream of a session at an entry node.
//!
//! The entry learns the client's address and that one stream goes to the
//! exit's listen address; the exit learns the entry's address and the
//! destinations. Each hop is its own anonymous session, opened with its own
//! access token from its own note and paid by its own receipts under its
//! own session key (§9.3): nothing in the protocol changes, the entry
//! treats the exit as one more destination and the exit treats the entry
//! as one more client.
//!
//! The inner connection is a byte pipe: a [`tokio::io::duplex`] whose far
//! end is pumped by the entry relay's [`RelayStream::pump`], and whose near
//! end carries the client's TLS and gRPC to the exit
//! ([`NodeEndpoint::connect_over`]).

use std::net::IpAddr;

use rand::{CryptoRng, RngCore};
use tokio::io::DuplexStream;
use veil_ledger::LedgerApi;
use veil_proofs::Prover;

use crate::error::ClientError;
use crate::flow::{LiveSession, finish_session, start_session};
use crate::pin::TlsKeyHash;
use crate::relay::Relay;
use crate::session::NodeConnection;
use crate::socks5::{Host, Target};
use crate::sync::LocalTree;
use crate::transport::{Connected, NodeEndpoint};
use crate::wallet::Wallet;

/// Buffer of the inner pipe, each direction: enough for several relay
/// frames in flight, so the pipe is not what limits throughput.
const PIPE_BYTES: usize = 256 * 1024;

/// The exit of a route as the client names it: the address the entry
/// dials (the exit's listen address) and how its TLS key is pinned.
#[derive(Clone, Debug)]
pub struct ExitNode {
    /// `https://HOST:PORT` (or `HOST:PORT`), as for a one-hop node.
    pub url: String,
    /// The exit's TLS key hash; `None`: read from its ledger registration
    /// ([`NodeConnection::connect_via_ledger`], both of its connections
    /// through the entry).
    pub pin: Option<TlsKeyHash>,
}

/// Escrows of the two sessions of a route, base units (each one of its
/// node's sizes).
#[derive(Clone, Copy, Debug)]
pub struct RouteEscrows {
    pub entry: u64,
    pub exit: u64,
}

/// A running two-hop route: the entry session whose relay carries the
/// inner connection, and the exit session whose relay carries the user's
/// streams (SOCKS5 connections go to [`Route::relay`]).
pub struct Route {
    pub entry: LiveSession,
    pub exit: LiveSession,
    /// The gRPC connection to the exit, through the entry.
    pub exit_conn: NodeConnection,
}

impl Route {
    /// The relay user streams go to: the exit session's.
    pub fn relay(&self) -> &Relay {
        &self.exit.relay
    }

    /// Whether both hops still carry and are still trusted.
    pub fn usable(&self) -> bool {
        self.entry.relay.usable() && self.exit.relay.usable()
    }

    /// Saves the receipts signed at either hop that the wallet does not hold
    /// yet ([`LiveSession::checkpoint`]).
    pub fn checkpoint(&self, wallet: &mut Wallet) -> Result<bool, ClientError> {
        let exit = self.exit.checkpoint(wallet)?;
        Ok(self.entry.checkpoint(wallet)? || exit)
    }
}

/// The wallet intent of a route's exit session, derived from the route's
/// intent (the entry session uses the route's intent itself): re-running a
/// route after a failure re-sends both persisted tokens (F6).
pub fn exit_intent(intent: &str) -> String {
    format!("{intent}/exit")
}

/// Opens a route: the entry session on `entry` (pinned TLS, `OpenSession`,
/// `Relay`, a first challenge), the inner connection to `exit` through it,
/// then the exit session over that connection, paid from another note
/// (the entry's is spent by then). The exit session opens as soon as the
/// inner TLS is up, whatever the user does next (§9.9).
///
/// On failure after the entry session opened, the entry's relay is closed
/// and its receipts recorded before the error is returned.
#[allow(clippy::too_many_arguments)]
pub async fn start_route<L: LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    entry_conn: &mut NodeConnection,
    exit: &ExitNode,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    escrows: RouteEscrows,
    intent: &str,
    rng: &mut R,
) -> Result<Route, ClientError> {
    let entry = start_session(
        ledger,
        entry_conn,
        prover,
        wallet,
        tree,
        escrows.entry,
        intent,
        rng,
    )
    .await?;
    let exit_part = async {
        let mut exit_conn = connect_exit(&entry.relay, exit, ledger).await?;
        let exit_intent = exit_intent(intent);
        let live = start_session(
            ledger,
            &mut exit_conn,
            prover,
            wallet,
            tree,
            escrows.exit,
            &exit_intent,
            rng,
        )
        .await?;
        Ok::<_, ClientError>((live, exit_conn))
    }
    .await;
    match exit_part {
        Ok((exit, exit_conn)) => Ok(Route {
            entry,
            exit,
            exit_conn,
        }),
        Err(e) => {
            finish_session(wallet, &entry)?;
            Err(e)
        }
    }
}

/// Closes both hops (exit first: its last receipt still travels through
/// the entry) and records every receipt signed at each in the wallet.
pub fn finish_route(wallet: &mut Wallet, route: &Route) -> Result<(), ClientError> {
    finish_session(wallet, &route.exit)?;
    finish_session(wallet, &route.entry)
}

/// A gRPC connection to `exit` through the entry's relay: each connection
/// (the ledger lookup's probe and the pinned one, or the pinned one alone)
/// is one relay stream to the exit's listen address, under TLS pinned as
/// [`ExitNode::pin`] says.
pub async fn connect_exit<L: LedgerApi>(
    entry: &Relay,
    exit: &ExitNode,
    ledger: &L,
) -> Result<NodeConnection, ClientError> {
    let dial = dialer(entry.clone());
    let connect = move |endpoint: NodeEndpoint| {
        let dial = dial.clone();
        async move { endpoint.connect_over(dial).await }
    };
    match exit.pin {
        Some(pin) => {
            let endpoint = NodeEndpoint::pinned(&exit.url, pin)?;
            let Connected { channel, .. } = connect(endpoint.clone()).await?;
            Ok(NodeConnection::from_channel(channel, endpoint))
        }
        None => NodeConnection::connect_via_ledger_with(&exit.url, ledger, connect).await,
    }
}

/// Dials `host:port` by opening a stream to it on `entry`'s relay; returns
/// the near end of a pipe whose far end the relay stream pumps.
fn dialer(
    entry: Relay,
) -> impl Fn(
    String,
    u16,
) -> std::pin::Pin<
    Box<dyn std::future::Future<Output = std::io::Result<DuplexStream>> + Send>,
> + Clone
+ Send
+ Sync
+ 'static {
    move |host: String, port: u16| {
        let entry = entry.clone();
        Box::pin(async move {
            let target = Target {
                host: host.parse::<IpAddr>().map_or(Host::Domain(host), Host::Ip),
                port,
            };
            let stream = entry
                .open_stream(&target)
                .await
                .map_err(std::io::Error::other)?;
            let (near, far) = tokio::io::duplex(PIPE_BYTES);
            tokio::spawn(async move {
                if let Err(e) = stream.pump(far).await {
                    tracing::debug!("inner connection ended: {e}");
                }
            });
            Ok(near)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_intent_is_the_routes_own_and_distinct() {
        assert_eq!(exit_intent("connect"), "connect/exit");
        assert_ne!(exit_intent("a"), exit_intent("b"));
        assert_ne!(exit_intent("a"), "a");
    }
}
