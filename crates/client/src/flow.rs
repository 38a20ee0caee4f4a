//! One paid session end to end: sync, open (or resume) the session, start
//! its relay and check the node with a first challenge. Shared by
//! `veil connect`, `veil demo` and the end-to-end tests.

use std::collections::HashSet;

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
    let terms = terms_accepting(node, tree).await?;
    start_with_terms(node, terms, prover, wallet, tree, escrow, intent, rng).await
}

/// [`start_session`] once the wallet is synced and the node's `terms` read:
/// opens (or resumes) the session, starts its relay, sends one challenge.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start_with_terms<R: RngCore + CryptoRng>(
    node: &mut NodeConnection,
    terms: NodeTerms,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &LocalTree,
    escrow: u64,
    intent: &str,
    rng: &mut R,
) -> Result<LiveSession, ClientError> {
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

/// The node's terms once they accept `tree`'s root. The node learns new
/// roots by polling the ledger: this waits (bounded, about 10 s) for it;
/// after that the terms are returned as they are and opening a session
/// reports the stale root.
pub async fn terms_accepting(
    node: &mut NodeConnection,
    tree: &LocalTree,
) -> Result<crate::session::NodeTerms, ClientError> {
    let mut terms = node.terms().await?;
    for _ in 0..ROOT_WAIT_TRIES {
        if terms.recent_roots.contains(&tree.root().inner()) {
            break;
        }
        tokio::time::sleep(ROOT_WAIT_STEP).await;
        terms = node.terms().await?;
    }
    Ok(terms)
}

impl LiveSession {
    /// Saves in `wallet` every receipt this session's relay signed that the
    /// wallet does not hold yet (refund candidates, §6), so that a client
    /// killed mid-session still finds its refund at the next sync. Returns
    /// whether anything was saved (the file is rewritten only then). Call
    /// it periodically, or when [`Relay::signed_watch`] changes.
    pub fn checkpoint(&self, wallet: &mut Wallet) -> Result<bool, ClientError> {
        let session_id = self.session.session_id;
        let record = wallet
            .data
            .sessions
            .iter()
            .find(|s| s.nullifier.0 == session_id.inner())
            .ok_or_else(|| {
                ClientError::Input("the wallet holds no record of this session".into())
            })?;
        let saved: HashSet<u64> = record.receipts_kib.iter().copied().collect();
        let new: Vec<u64> = self
            .relay
            .signed_kibs()
            .into_iter()
            .filter(|k| !saved.contains(k))
            .collect();
        if new.is_empty() {
            return Ok(false);
        }
        crate::session::record_receipts(wallet, &session_id, &new, false)?;
        Ok(true)
    }
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
