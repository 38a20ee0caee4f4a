//! One paid session end to end: sync, open (or resume) the session, start
//! its relay and check the node with a first challenge. Shared by
//! `veil connect`, `veil demo` and the end-to-end tests.

use rand::{CryptoRng, RngCore};
use veil_ledger::LedgerApi;
use veil_proofs::Prover;

use crate::error::ClientError;
use crate::relay::Relay;
use crate::session::{NodeConnection, NodeTerms, OpenedSession, open_session};
use crate::sync::{LocalTree, sync};
use crate::wallet::Wallet;

/// How long to wait for the node to learn the latest root: tries × step.
const ROOT_WAIT_TRIES: u32 = 40;
const ROOT_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(250);

/// A session with its running relay.
pub struct LiveSession {
    pub session: OpenedSession,
    pub relay: Relay,
    pub terms: NodeTerms,
    /// Round trip of the first challenge, microseconds.
    pub first_rtt_us: u128,
}

/// Syncs, opens the session of `intent` (F6: resumes a persisted one),
/// starts its relay and sends one challenge; a node that fails it is
/// refused before any byte is paid for.
#[allow(clippy::too_many_arguments)]
pub async fn start_session<L: LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    node: &mut NodeConnection,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    escrow: u64,
    intent: &str,
    rng: &mut R,
) -> Result<LiveSession, ClientError> {
    sync(ledger, wallet, tree).await?;
    // The node learns new roots by polling the ledger: wait (bounded) until
    // it accepts the root the proof will use.
    let mut terms = node.terms().await?;
    for _ in 0..ROOT_WAIT_TRIES {
        if terms.recent_roots.contains(&tree.root().inner()) {
            break;
        }
        tokio::time::sleep(ROOT_WAIT_STEP).await;
        terms = node.terms().await?;
    }
    let session = open_session(node, &terms, prover, wallet, tree, escrow, intent, rng).await?;
    let relay = Relay::start(node, &session, terms.node_key, terms.max_frame_bytes).await?;
    let rtt = relay.challenge().await?;
    Ok(LiveSession {
        session,
        relay,
        terms,
        first_rtt_us: rtt.as_micros(),
    })
}

/// Closes a session's relay and records every receipt signed (refund
/// candidates) in the wallet.
pub fn finish_session(wallet: &mut Wallet, live: &LiveSession) -> Result<(), ClientError> {
    live.relay.close();
    crate::session::record_receipts(
        wallet,
        &live.session.session_id,
        &live.relay.signed_kibs(),
        true,
    )
}
