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
use veil_primitives::ids::NodeId;
use veil_proofs::Prover;

mod ahead;

use crate::error::ClientError;
use crate::flow::{LiveSession, finish_session, start_with_terms, terms_accepting};
use crate::pin::TlsKeyHash;
use crate::relay::Relay;
use crate::session::NodeConnection;
use crate::socks5::{Host, Target};
use crate::sync::{LocalTree, sync};
use crate::transport::{Connected, NodeEndpoint};
use crate::wallet::Wallet;
use veil_shape::PADDED_FLIGHTS;

/// Buffer of the inner pipe, each direction: enough for several relay
/// frames in flight, so the pipe is not what limits throughput.
const PIPE_BYTES: usize = 256 * 1024;

/// The exit of a route as the client names it: the address the entry
/// dials (the exit's listen address), and its node id or TLS pin.
#[derive(Clone, Debug)]
pub struct ExitNode {
    /// `https://HOST:PORT` (or `HOST:PORT`), as for a one-hop node.
    pub url: String,
    /// The exit's TLS key hash; `None`: the registration's in force (of
    /// [`ExitNode::node`], or of the node id the exit reports through the
    /// entry, [`NodeConnection::connect_via_ledger`]).
    pub pin: Option<TlsKeyHash>,
    /// The exit's node id. With it the client reads the exit's ledger
    /// record before the entry session opens and proves the exit's token
    /// while the entry's is proved and its session opens (§9.9 "Proofs in
    /// parallel"); without it, the exit's token is proved once its terms
    /// are read through the entry.
    pub node: Option<NodeId>,
}

/// The size class of the first inner flights (§9.9 "Traffic shape"): each
/// of the first [`PADDED_FLIGHTS`] HTTP/2 flights to the exit is padded to
/// a multiple of it before TLS.
pub const FLIGHT_CLASS: usize = veil_shape::CLASS;

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
    /// Whether the exit's token was proved while the entry session opened
    /// and sent as made (§9.9 "Proofs in parallel").
    pub exit_token_ahead: bool,
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
/// then the exit session over that connection, paid from another note.
/// The exit session opens as soon as the inner TLS is up, whatever the
/// user does next (§9.9).
///
/// With [`ExitNode::node`] both tokens are planned first (two notes), the
/// exit's proved on a blocking thread while the entry's is proved and its
/// session opens; the exit's is saved and sent only if it fits the terms
/// the exit then publishes through the entry, else proved again
/// ([`ahead::ExitAhead`], §9.9).
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
    sync(ledger, wallet, tree).await?;
    let known = match exit.node {
        Some(id) => Some(ahead::KnownExit::read(ledger, id, exit.pin).await?),
        None => None,
    };
    let entry_terms = terms_accepting(entry_conn, tree).await?;
    let exit_intent = exit_intent(intent);
    let pending = match &known {
        Some(k) => ahead::ExitAhead::start(
            k,
            &entry_terms,
            prover,
            wallet,
            tree,
            escrows,
            (intent, &exit_intent),
            rng,
        )?,
        None => None,
    };
    let entry = start_with_terms(
        entry_conn,
        entry_terms,
        prover,
        wallet,
        tree,
        escrows.entry,
        intent,
        rng,
    )
    .await?;
    let exit_part = async {
        let mut exit_conn = match &known {
            Some(k) => k.connect(&entry.relay, &exit.url).await?,
            None => connect_exit(&entry.relay, exit, ledger).await?,
        };
        let terms = terms_accepting(&mut exit_conn, tree).await?;
        if let Some(k) = &known {
            k.check_terms(&terms)?;
        }
        let ahead = match pending {
            Some(p) => p.finish(&terms, wallet, &exit_intent).await?,
            None => false,
        };
        let live = start_with_terms(
            &mut exit_conn,
            terms,
            prover,
            wallet,
            tree,
            escrows.exit,
            &exit_intent,
            rng,
        )
        .await?;
        Ok::<_, ClientError>((live, exit_conn, ahead))
    }
    .await;
    match exit_part {
        Ok((exit, exit_conn, exit_token_ahead)) => Ok(Route {
            entry,
            exit,
            exit_conn,
            exit_token_ahead,
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
    match exit.pin {
        Some(pin) => connect_pinned(entry, &exit.url, pin).await,
        None => {
            let dial = dialer(entry.clone());
            let connect = move |endpoint: NodeEndpoint| {
                let dial = dial.clone();
                async move { endpoint.connect_over(dial, PADDED_FLIGHTS).await }
            };
            NodeConnection::connect_via_ledger_with(&exit.url, ledger, connect).await
        }
    }
}

/// A gRPC connection to `url` through the entry's relay (one relay
/// stream), under TLS pinned to `pin`.
async fn connect_pinned(
    entry: &Relay,
    url: &str,
    pin: TlsKeyHash,
) -> Result<NodeConnection, ClientError> {
    let endpoint = NodeEndpoint::pinned(url, pin)?;
    let Connected { channel, .. } = endpoint
        .connect_over(dialer(entry.clone()), PADDED_FLIGHTS)
        .await?;
    Ok(NodeConnection::from_channel(channel, endpoint))
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
