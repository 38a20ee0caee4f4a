//! Opening a stream paid by a voucher spend (`docs/vouchers.md` §9), and
//! the voucher payer of the SOCKS5 front end ([`crate::proxy::Payer`]).
//!
//! A spend travels in the `Open` of a stream on its own `Relay` call; the
//! stream is then framed and pumped like any other ([`crate::relay`]).
//!
//! # Crash behaviour
//!
//! A spent credential is replaced by its successor only once the node's
//! re-issuance has been checked; a crash between the node recording the
//! spend and the file write loses that credential's remaining balance (the
//! library has no encoding for the pending spend's secrets).

use std::sync::atomic::{AtomicU64, Ordering};

use rand::{CryptoRng, RngCore};
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::Channel;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;
use veil_proto::node::v1::node_client::NodeClient;
use veil_vouchers::context::spend_context;
use veil_vouchers::{Balance, SpendResponse};

use super::error::VoucherError;
use super::store::VoucherWallet;
use super::terms::VoucherTerms;
use crate::relay::{Relay, RelayStream, StreamEvent};
use crate::socks5::{Host, Target};
use crate::transport::NodeEndpoint;

/// Largest payload the client puts in one `Data` frame of a voucher stream.
const FRAME_BYTES: usize = 16 * 1024;

/// One voucher-paid stream to `host:port` on its own Relay call.
#[derive(Debug)]
pub struct VoucherStream {
    stream: RelayStream,
    /// KiB this stream may relay.
    pub amount: Balance,
    /// The wallet's balance at this node after the spend.
    pub remaining: Balance,
}

impl VoucherStream {
    /// Relays bytes between `socket` and the stream until both sides end
    /// ([`RelayStream::pump`]). Returns the bytes sent and received.
    pub async fn pipe<S>(self, socket: S) -> Result<(u64, u64), VoucherError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        Ok(self.stream.pump(socket).await?)
    }

    /// The relay stream, to pump like any other.
    pub fn into_stream(self) -> RelayStream {
        self.stream
    }
}

/// Opens a stream paid by a spend of `amount` KiB (§9): takes a fresh
/// nonce from `VoucherChallenge`, spends the smallest sufficient credential
/// bound to (nonce, `host`, `port`) on a new Relay call, and stores the
/// re-issued credential once its proof checks against the published key.
///
/// For unlinkability pass a `node` on a fresh connection per stream: the
/// node sees nothing else that ties two spends together.
pub async fn open_stream<R: RngCore + CryptoRng>(
    node: &mut NodeClient<Channel>,
    terms: &VoucherTerms,
    wallet: &mut VoucherWallet,
    amount: Balance,
    host: &str,
    port: u16,
    rng: &mut R,
) -> Result<VoucherStream, VoucherError> {
    wallet.check_key(terms)?;
    let index = wallet.pick(terms, amount)?;
    let credential = wallet
        .credentials()
        .get(index)
        .cloned()
        .ok_or_else(|| VoucherError::Relay("credential vanished".into()))?;
    let nonce = challenge_nonce(node).await?;
    let (spend, pending) =
        credential.prepare_spend(amount, &spend_context(&nonce, host, port), rng)?;
    let relay = Relay::start_unbound(node, FRAME_BYTES).await?;
    let target = Target {
        host: Host::Domain(host.to_owned()),
        port,
    };
    let payment = pb::open::Payment::VoucherSpend(pb::VoucherSpend {
        nonce: nonce.to_vec(),
        spend_request: spend.to_bytes(),
    });
    let mut stream = relay.begin_open(&target, payment, Vec::new()).await?;
    drop(relay);
    let mut pending = Some(pending);
    loop {
        match stream.event().await {
            Some(StreamEvent::VoucherAccepted(bytes)) => {
                let Some(pending) = pending.take() else {
                    return Err(VoucherError::Relay("second VoucherAccepted".into()));
                };
                let response = SpendResponse::from_bytes(&bytes)?;
                let next = pending.finish_spend(&response, &terms.key)?;
                wallet.replace(index, Some(next))?;
            }
            Some(StreamEvent::Opened) if pending.is_none() => {
                return Ok(VoucherStream {
                    stream: stream.established(),
                    amount,
                    remaining: wallet.balance(Some(&terms.node_id)),
                });
            }
            Some(StreamEvent::Refused { code, message }) => {
                if matches!(
                    code,
                    pb::ErrorCode::VoucherSpent | pb::ErrorCode::VoucherEpochExpired
                ) {
                    // Spent before (e.g. a crash after a spend), or of an
                    // epoch whose grace period is over (epochs only move
                    // forward, docs/vouchers.md §3.2): worthless.
                    wallet.replace(index, None)?;
                }
                return Err(VoucherError::Refused { code, message });
            }
            Some(StreamEvent::Closed(_, why)) => {
                return Err(VoucherError::Relay(format!(
                    "stream closed before it opened: {why}"
                )));
            }
            Some(_) => {}
            None => return Err(VoucherError::Relay("relay ended".into())),
        }
    }
}

/// A fresh spend nonce from the node (`VoucherChallenge`).
pub(super) async fn challenge_nonce(
    node: &mut NodeClient<Channel>,
) -> Result<[u8; 32], VoucherError> {
    let challenge = node
        .voucher_challenge(pb::VoucherChallengeRequest {
            version: WIRE_VERSION,
        })
        .await?
        .into_inner();
    challenge
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| VoucherError::Terms("challenge nonce must be 32 bytes".into()))
}

/// Pays each connection of the SOCKS5 front end by a spend of
/// `per_connection` KiB, on its own gRPC connection to the node (under its
/// transport policy: pinned TLS, `docs/protocol.md` §9.8): nothing but
/// timing links two spends.
pub struct VoucherPayer {
    node: NodeEndpoint,
    terms: VoucherTerms,
    wallet: std::sync::Arc<tokio::sync::Mutex<VoucherWallet>>,
    per_connection: Balance,
    spends: AtomicU64,
}

impl VoucherPayer {
    /// A payer spending from `wallet` at the node `node`.
    pub fn new(
        node: NodeEndpoint,
        terms: VoucherTerms,
        wallet: std::sync::Arc<tokio::sync::Mutex<VoucherWallet>>,
        per_connection: Balance,
    ) -> Self {
        Self {
            node,
            terms,
            wallet,
            per_connection,
            spends: AtomicU64::new(0),
        }
    }

    /// Spends made so far.
    pub fn spends(&self) -> u64 {
        self.spends.load(Ordering::Relaxed)
    }

    /// Opens a stream to `target` paid by one spend.
    pub async fn open(&self, target: &Target) -> Result<RelayStream, VoucherError> {
        let host = match &target.host {
            Host::Ip(ip) => ip.to_string(),
            Host::Domain(d) => d.clone(),
        };
        let mut node = NodeClient::new(self.node.connect().await?);
        let mut wallet = self.wallet.lock().await;
        let stream = open_stream(
            &mut node,
            &self.terms,
            &mut wallet,
            self.per_connection,
            &host,
            target.port,
            &mut rand::rngs::OsRng,
        )
        .await?;
        self.spends.fetch_add(1, Ordering::Relaxed);
        Ok(stream.into_stream())
    }
}
