//! Proofs in parallel (`docs/protocol.md` §9.9): when the client knows the
//! exit's node id, it reads the exit's ledger record before the entry
//! session opens and proves the exit's token on a blocking thread while
//! the entry's token is proved and the entry session, its relay and the
//! inner TLS come up. Nothing of the exit token leaves the client (nor is
//! it saved) until the exit's own terms, read through the entry, accept it;
//! a token they do not accept is dropped and the exit's token proved again.

use rand::rngs::StdRng;
use rand::{CryptoRng, RngCore, SeedableRng};
use tokio::task::JoinHandle;
use veil_ledger::LedgerApi;
use veil_ledger::types::NodeRecord;
use veil_primitives::eddsa::VerifyingKey;
use veil_primitives::ids::NodeId;
use veil_proofs::Prover;

use super::{RouteEscrows, connect_pinned};
use crate::error::ClientError;
use crate::pin::TlsKeyHash;
use crate::relay::Relay;
use crate::session::{
    NodeConnection, NodeTerms, ProvedToken, TokenTarget, pending_token, plan_token,
};
use crate::sync::LocalTree;
use crate::wallet::Wallet;

/// Blocks by which the exit token's expiry stays below the entry's
/// longest one: the exit's view of the ledger may lag the entry's.
const EXPIRY_MARGIN: u64 = 8;

/// The exit as its ledger record names it: what the token needs before
/// the exit is reachable (node id, escrow sizes) and the pin its
/// connection through the entry is held to.
pub(super) struct KnownExit {
    id: NodeId,
    node_key: VerifyingKey,
    sizes: Vec<u64>,
    pin: TlsKeyHash,
}

impl KnownExit {
    /// Reads the record of node `id`; an explicit `pin` must be the one in
    /// force there (§9.8).
    pub(super) async fn read<L: LedgerApi>(
        ledger: &L,
        id: NodeId,
        pin: Option<TlsKeyHash>,
    ) -> Result<Self, ClientError> {
        let node_id = hex::encode(id.to_bytes());
        let record = ledger
            .get_node(id)
            .await?
            .ok_or_else(|| ClientError::NodeNotRegistered {
                node_id: node_id.clone(),
            })?;
        Self::of_record(&record, pin).map_err(|what| ClientError::RegistrationMismatch {
            node_id,
            what: what.into(),
        })
    }

    fn of_record(record: &NodeRecord, pin: Option<TlsKeyHash>) -> Result<Self, &'static str> {
        let in_force = TlsKeyHash::in_force(record);
        if pin.is_some_and(|p| p != in_force) {
            return Err("the given TLS pin is not the key its ledger record pins");
        }
        Ok(Self {
            id: record.registration.node_id,
            node_key: record.registration.node_key,
            sizes: record.escrow_sizes().iter().map(|v| v.0).collect(),
            pin: in_force,
        })
    }

    /// The gRPC connection to the exit through `entry`, pinned to the
    /// record's key: one relay stream, no probe connection.
    pub(super) async fn connect(
        &self,
        entry: &Relay,
        url: &str,
    ) -> Result<NodeConnection, ClientError> {
        connect_pinned(entry, url, self.pin).await
    }

    /// The terms the exit publishes must be the registered node's.
    pub(super) fn check_terms(&self, terms: &NodeTerms) -> Result<(), ClientError> {
        if terms.node_id != self.id || terms.node_key != self.node_key {
            return Err(ClientError::RegistrationMismatch {
                node_id: hex::encode(self.id.to_bytes()),
                what: "the pinned exit reports another node".into(),
            });
        }
        Ok(())
    }
}

/// The longest expiry the entry's terms allow, less [`EXPIRY_MARGIN`]
/// (at most half the lifetime): the exit token's expiry. The exit's own
/// terms are not readable before the entry session is up; its token is
/// checked against them before it is sent ([`ProvedToken::fits`]).
fn ahead_expiry(entry: &NodeTerms) -> u64 {
    let lifetime = entry.max_session_lifetime.max(1);
    entry
        .ledger_height
        .saturating_add(lifetime - EXPIRY_MARGIN.min(lifetime / 2))
}

/// The exit token being proved on a blocking thread.
pub(super) struct ExitAhead {
    proof: JoinHandle<Result<ProvedToken, ClientError>>,
}

impl ExitAhead {
    /// Plans both tokens (two notes: the exit's never the one the entry's
    /// spends), starts the exit's proof on a blocking thread, then proves
    /// and saves the entry's here (its session then re-sends it, F6).
    /// `None`: the exit intent already has a saved token (F6 resumes it).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start<R: RngCore + CryptoRng>(
        exit: &KnownExit,
        entry_terms: &NodeTerms,
        prover: &Prover,
        wallet: &mut Wallet,
        tree: &LocalTree,
        escrows: RouteEscrows,
        (intent, exit_intent): (&str, &str),
        rng: &mut R,
    ) -> Result<Option<Self>, ClientError> {
        if pending_token(wallet, exit_intent).is_some() {
            return Ok(None);
        }
        if !exit.sizes.contains(&escrows.exit) {
            return Err(ClientError::Input(format!(
                "escrow {} is not one of the exit's sizes {:?}",
                escrows.exit, exit.sizes
            )));
        }
        let entry = match pending_token(wallet, intent) {
            Some(_) => None,
            None => {
                let target = TokenTarget::for_terms(entry_terms, tree, escrows.entry)?;
                Some(plan_token(wallet, tree, &target, None, rng)?)
            }
        };
        let target = TokenTarget {
            node_id: exit.id,
            escrow: escrows.exit,
            expiry: ahead_expiry(entry_terms),
        };
        let exclude = entry.as_ref().map(|p| p.note_index());
        let planned = plan_token(wallet, tree, &target, exclude, rng)?;
        let mut thread_rng =
            StdRng::from_rng(&mut *rng).map_err(|e| ClientError::Input(e.to_string()))?;
        let prover_copy = prover.clone();
        let proof =
            tokio::task::spawn_blocking(move || planned.prove(&prover_copy, &mut thread_rng));
        if let Some(planned) = entry {
            planned
                .prove(prover, rng)?
                .persist(wallet, intent, entry_terms.price_per_kib)?;
        }
        Ok(Some(Self { proof }))
    }

    /// Waits for the exit's proof and saves it under `exit_intent` if the
    /// exit's `terms` accept it; otherwise drops it (it never left the
    /// client; its note stays unspent) and the exit session proves anew.
    /// Returns whether it was saved.
    pub(super) async fn finish(
        self,
        terms: &NodeTerms,
        wallet: &mut Wallet,
        exit_intent: &str,
    ) -> Result<bool, ClientError> {
        let proved = self
            .proof
            .await
            .map_err(|e| ClientError::Input(format!("the exit's proof task failed: {e}")))??;
        if !proved.fits(terms) {
            tracing::info!(
                "the exit token made ahead does not fit the exit's terms: proving again"
            );
            return Ok(false);
        }
        proved.persist(wallet, exit_intent, terms.price_per_kib)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(height: u64, lifetime: u64) -> NodeTerms {
        let key = veil_primitives::eddsa::SigningKey::from_seed([1; 32]).expect("key");
        let node_key = key.verifying_key();
        NodeTerms {
            node_id: node_key.node_id(),
            node_key,
            price_per_kib: 1,
            escrow_sizes: vec![64],
            receipt_interval_kib: 8,
            ledger_height: height,
            recent_roots: vec![],
            max_session_lifetime: lifetime,
            max_frame_bytes: 1024,
            max_streams: 1,
            voucher_key: None,
        }
    }

    /// The exit token's expiry is within the entry's window, below its
    /// maximum by the margin (at most half the lifetime), never at or
    /// below the height.
    #[test]
    fn the_ahead_expiry_is_inside_the_window_and_below_its_top() {
        assert_eq!(ahead_expiry(&terms(100, 1000)), 100 + 1000 - EXPIRY_MARGIN);
        assert_eq!(ahead_expiry(&terms(100, 10)), 100 + 10 - 5);
        assert_eq!(ahead_expiry(&terms(100, 1)), 101);
        assert_eq!(ahead_expiry(&terms(100, 0)), 101);
        assert_eq!(ahead_expiry(&terms(u64::MAX - 1, 1000)), u64::MAX);
    }
}
