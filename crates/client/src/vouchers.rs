//! The client's voucher wallet: buying a voucher with an escrow session,
//! paying connections by voucher spends, and storing credentials
//! (`docs/vouchers.md` §9 "Purchase and use").
//!
//! # File
//!
//! Credentials live next to the wallet file, in `<wallet>.vouchers.json`
//! (mode 0600, every write atomic, see [`crate::fsutil`]):
//!
//! ```text
//! { "version": 1,
//!   "vouchers": [ { "credential": "<418 hex>" } ... ] }
//! ```
//!
//! Each credential is veil-vouchers `Credential::to_bytes` (209 bytes:
//! node id, epoch, issuer key, balance and the secrets). Whoever holds the
//! file can spend the balance.
//!
//! # Crash behaviour
//!
//! A spent credential is replaced by its successor only once the node's
//! re-issuance has been checked; a crash between the node recording the
//! spend and the file write loses that credential's remaining balance (the
//! library has no encoding for the pending spend's secrets).

use std::path::{Path, PathBuf};

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use veil_primitives::eddsa::SigningKey;
use veil_primitives::field::{fr_from_slice, fr_to_bytes};
use veil_primitives::receipt::Receipt;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;
use veil_proto::node::v1::node_client::NodeClient;
use veil_proto::node::v1::{client_frame, node_frame};
use veil_vouchers::context::{purchase_context, purchase_message, spend_context};
use veil_vouchers::{
    Balance, ClientError, Credential, DecodeError, IssuanceResponse, IssuerPublicKey, NodeId,
    SpendResponse,
};

use crate::fsutil::{self, FsError};
use crate::session::{NodeConnection, NodeTerms};

/// Current voucher file format version.
pub const VOUCHER_FILE_VERSION: u32 = 1;
/// No valid voucher file is larger (bounds the read of a hostile file).
pub const MAX_VOUCHER_FILE_BYTES: u64 = 16 << 20;
/// Stream id of the single stream a voucher-paid Relay carries.
const STREAM_ID: u32 = 1;
/// Largest payload the client puts in one `Data` frame.
const FRAME_BYTES: usize = 16 * 1024;

/// A voucher operation failed.
#[derive(Debug, Error)]
pub enum VoucherError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("voucher file is malformed: {0}")]
    Format(String),
    #[error(
        "unsupported voucher file version {0} (this build reads version {VOUCHER_FILE_VERSION})"
    )]
    Version(u32),
    /// The node's terms do not carry a usable voucher key.
    #[error("node voucher terms: {0}")]
    Terms(String),
    /// The node presented another key for an epoch the wallet already knows:
    /// it may be trying to tag this client. Do not use it.
    #[error(
        "node presents a different voucher key for epoch {epoch} than before (possible tagging)"
    )]
    KeyChanged { epoch: u64 },
    #[error("malformed message from the node: {0}")]
    Decode(#[from] DecodeError),
    /// The node's issuance or re-issuance proof failed, or the balance is short.
    #[error(transparent)]
    Credential(#[from] ClientError),
    #[error("no voucher for this node holds {needed} KiB (largest: {largest} KiB)")]
    InsufficientBalance { needed: Balance, largest: Balance },
    #[error("node refused: {0}")]
    Rpc(#[from] tonic::Status),
    /// The node refused the voucher-paid open.
    #[error("node refused the voucher spend ({code:?}): {message}")]
    Refused {
        code: pb::ErrorCode,
        message: String,
    },
    #[error("relay ended before the stream opened: {0}")]
    Relay(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Opening the paying session failed (sync, token, ledger, node).
    #[error(transparent)]
    Session(#[from] crate::error::ClientError),
}

// --------------------------------------------------------------------- terms

/// A node's voucher terms, as published by `GetTerms` and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherTerms {
    pub node_id: NodeId,
    pub key: IssuerPublicKey,
    pub price_per_kib: u64,
}

impl VoucherTerms {
    /// The voucher view of a node's checked terms (§9.1); refused if the
    /// node does not sell vouchers.
    pub fn from_node_terms(t: &NodeTerms) -> Result<Self, VoucherError> {
        let key = t
            .voucher_key
            .ok_or_else(|| VoucherError::Terms("this node does not sell vouchers".into()))?;
        Ok(Self {
            node_id: NodeId::new(fr_to_bytes(&t.node_id.inner())),
            key,
            price_per_kib: t.price_per_kib,
        })
    }

    /// Fetches and checks the node's voucher terms.
    pub async fn fetch(node: &mut NodeConnection) -> Result<Self, VoucherError> {
        Self::from_node_terms(&node.terms().await?)
    }
}

// -------------------------------------------------------------------- wallet

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredVoucher {
    credential: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VoucherFile {
    version: u32,
    #[serde(default)]
    vouchers: Vec<StoredVoucher>,
}

/// The voucher file of a wallet: `<wallet>.vouchers.json`.
pub fn voucher_path(wallet: &Path) -> PathBuf {
    let mut name = wallet
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".vouchers.json");
    wallet.with_file_name(name)
}

/// The credentials of one wallet. Every mutation is saved atomically.
#[derive(Debug)]
pub struct VoucherWallet {
    path: PathBuf,
    credentials: Vec<Credential>,
}

impl VoucherWallet {
    /// Opens the voucher file of the wallet at `wallet` (empty if absent).
    pub fn open(wallet: &Path) -> Result<Self, VoucherError> {
        let path = voucher_path(wallet);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(Self {
                path,
                credentials: Vec::new(),
            });
        }
        let bytes = fsutil::read_secret_file(&path, MAX_VOUCHER_FILE_BYTES)?;
        let credentials = Self::decode(&bytes)?;
        Ok(Self { path, credentials })
    }

    fn decode(bytes: &[u8]) -> Result<Vec<Credential>, VoucherError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly =
            serde_json::from_slice(bytes).map_err(|e| VoucherError::Format(e.to_string()))?;
        if v.version != VOUCHER_FILE_VERSION {
            return Err(VoucherError::Version(v.version));
        }
        let file: VoucherFile =
            serde_json::from_slice(bytes).map_err(|e| VoucherError::Format(e.to_string()))?;
        file.vouchers
            .iter()
            .map(|v| {
                let raw = hex::decode(&v.credential)
                    .map_err(|e| VoucherError::Format(format!("credential hex: {e}")))?;
                Ok(Credential::from_bytes(&raw)?)
            })
            .collect()
    }

    fn encode(&self) -> Vec<u8> {
        let file = VoucherFile {
            version: VOUCHER_FILE_VERSION,
            vouchers: self
                .credentials
                .iter()
                .map(|c| StoredVoucher {
                    credential: hex::encode(c.to_bytes()),
                })
                .collect(),
        };
        let mut v = serde_json::to_vec_pretty(&file).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Atomically rewrites the voucher file (mode 0600).
    pub fn save(&self) -> Result<(), VoucherError> {
        fsutil::write_atomic(&self.path, &self.encode())?;
        Ok(())
    }

    /// The voucher file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every stored credential.
    pub fn credentials(&self) -> &[Credential] {
        &self.credentials
    }

    /// Total balance, at one node or at all.
    pub fn balance(&self, node: Option<&NodeId>) -> Balance {
        Balance::from_kib(
            self.credentials
                .iter()
                .filter(|c| node.is_none_or(|n| c.node_id() == n))
                .map(|c| c.balance().kib())
                .fold(0u64, u64::saturating_add),
        )
    }

    /// Refuses a node key that differs from one this wallet already holds
    /// credentials under for the same node and epoch (a per-client key
    /// would let the node tag this client's spends, `docs/vouchers.md` §10).
    pub fn check_key(&self, terms: &VoucherTerms) -> Result<(), VoucherError> {
        let changed = self.credentials.iter().any(|c| {
            c.node_id() == &terms.node_id
                && c.epoch() == terms.key.epoch()
                && c.issuer_key() != &terms.key
        });
        if changed {
            return Err(VoucherError::KeyChanged {
                epoch: terms.key.epoch().get(),
            });
        }
        Ok(())
    }

    /// Adds a credential and saves.
    pub fn add(&mut self, credential: Credential) -> Result<(), VoucherError> {
        self.credentials.push(credential);
        self.save()
    }

    /// The index of the smallest credential at `node`, under `key`, that
    /// covers `amount` (keeps big balances for big spends).
    fn pick(&self, terms: &VoucherTerms, amount: Balance) -> Result<usize, VoucherError> {
        let usable =
            |c: &&Credential| c.node_id() == &terms.node_id && c.issuer_key() == &terms.key;
        self.credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| usable(c) && c.balance() >= amount)
            .min_by_key(|(_, c)| c.balance())
            .map(|(i, _)| i)
            .ok_or_else(|| VoucherError::InsufficientBalance {
                needed: amount,
                largest: self
                    .credentials
                    .iter()
                    .filter(usable)
                    .map(Credential::balance)
                    .max()
                    .unwrap_or(Balance::ZERO),
            })
    }

    /// Replaces credential `index` by its successor (or drops it) and saves.
    fn replace(&mut self, index: usize, next: Option<Credential>) -> Result<(), VoucherError> {
        if index < self.credentials.len() {
            match next {
                Some(c) if c.balance() > Balance::ZERO => self.credentials[index] = c,
                _ => {
                    self.credentials.remove(index);
                }
            }
        }
        self.save()
    }
}

// ------------------------------------------------------------------ purchase

/// The escrow session paying for a voucher: opened by the client like any
/// session, unused (no stream, no receipt).
#[derive(Debug)]
pub struct PaidSession<'a> {
    /// The session id (the access token's nullifier, 32 bytes).
    pub session_id: [u8; 32],
    /// The session key S.
    pub session_key: &'a SigningKey,
    /// The session's credit, `⌊E / price⌋` KiB.
    pub credit_kib: u64,
}

/// Buys a voucher for the session's full credit (§9): signs the
/// full-credit receipt (the node may claim the whole escrow at once),
/// sends a blind issuance request authorised by the session key, and checks
/// the node's proof against the published key. The caller stores the
/// result ([`VoucherWallet::add`]).
pub async fn buy<R: RngCore + CryptoRng>(
    node: &mut NodeClient<Channel>,
    terms: &VoucherTerms,
    session: PaidSession<'_>,
    rng: &mut R,
) -> Result<Credential, VoucherError> {
    let sid = session.session_id;
    let (request, awaiting) = Credential::request_issuance(
        &terms.key,
        terms.node_id,
        Balance::from_kib(session.credit_kib),
        &purchase_context(&sid),
        rng,
    );
    let request_bytes = request.to_bytes();
    let session_fr = fr_from_slice(&sid).map_err(|e| VoucherError::Terms(e.to_string()))?;
    let receipt = Receipt {
        session_id: session_fr,
        kib: session.credit_kib,
    }
    .sign(session.session_key);
    let authorization = session
        .session_key
        .sign(&purchase_message(&sid, &request_bytes));
    let resp = node
        .buy_voucher(pb::BuyVoucherRequest {
            version: WIRE_VERSION,
            session_id: sid.to_vec(),
            full_receipt: receipt.to_bytes().to_vec(),
            issuance_request: request_bytes,
            authorization: authorization.to_bytes().to_vec(),
        })
        .await?
        .into_inner();
    let response = IssuanceResponse::from_bytes(&resp.issuance_response)?;
    Ok(awaiting.finish_issuance(&response)?)
}

/// Wallet intent of the escrow session that pays for a voucher (a retry
/// after a crash resumes the same token, F6).
pub const PURCHASE_INTENT: &str = "voucher-purchase";

/// What [`buy_with_escrow`] did.
#[derive(Debug)]
pub struct Purchase {
    pub terms: VoucherTerms,
    /// KiB bought (the session's credit).
    pub balance: Balance,
    /// Whether the session was resumed from a persisted token (F6).
    pub resumed: bool,
    /// Time spent proving the access token, milliseconds.
    pub prove_ms: u128,
}

/// Buys a voucher end to end (§9): syncs the wallet, opens an escrow
/// session of `escrow` with the node (an ordinary anonymous session), buys
/// a voucher for its full credit, stores the credential in the voucher file
/// and records the full-credit receipt in the wallet (refund discovery).
///
/// The node learns that this voucher was bought by that session; the
/// session itself is unlinkable to the wallet, and the voucher's later
/// spends are unlinkable to the purchase.
#[allow(clippy::too_many_arguments)]
pub async fn buy_with_escrow<L: veil_ledger::LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    node: &mut crate::session::NodeConnection,
    prover: &veil_proofs::Prover,
    wallet: &mut crate::wallet::Wallet,
    vouchers: &mut VoucherWallet,
    tree: &mut crate::sync::LocalTree,
    escrow: u64,
    rng: &mut R,
) -> Result<Purchase, VoucherError> {
    crate::sync::sync(ledger, wallet, tree).await?;
    let node_terms = node.terms().await?;
    let terms = VoucherTerms::from_node_terms(&node_terms)?;
    vouchers.check_key(&terms)?;
    let session = crate::session::open_session(
        node,
        &node_terms,
        prover,
        wallet,
        tree,
        escrow,
        PURCHASE_INTENT,
        rng,
    )
    .await?;
    let credential = buy(
        &mut node.client,
        &terms,
        PaidSession {
            session_id: session.session_id.to_bytes(),
            session_key: &session.session_key,
            credit_kib: session.credit_kib,
        },
        rng,
    )
    .await?;
    let balance = credential.balance();
    vouchers.add(credential)?;
    crate::session::record_receipts(wallet, &session.session_id, &[session.credit_kib], true)?;
    Ok(Purchase {
        terms,
        balance,
        resumed: session.resumed,
        prove_ms: session.prove_ms,
    })
}

// --------------------------------------------------------------------- spend

/// One voucher-paid stream to `host:port` on its own Relay call.
#[derive(Debug)]
pub struct VoucherStream {
    tx: mpsc::Sender<pb::ClientFrame>,
    rx: tonic::Streaming<pb::NodeFrame>,
    /// KiB this stream may relay.
    pub amount: Balance,
    /// The wallet's balance at this node after the spend.
    pub remaining: Balance,
}

fn client_frame(f: client_frame::Frame) -> pb::ClientFrame {
    pb::ClientFrame { frame: Some(f) }
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
    let credential = wallet.credentials[index].clone();
    let challenge = node
        .voucher_challenge(pb::VoucherChallengeRequest {
            version: WIRE_VERSION,
        })
        .await?
        .into_inner();
    let nonce: [u8; 32] = challenge
        .nonce
        .as_slice()
        .try_into()
        .map_err(|_| VoucherError::Terms("challenge nonce must be 32 bytes".into()))?;
    let (spend, pending) =
        credential.prepare_spend(amount, &spend_context(&nonce, host, port), rng)?;
    let (tx, rx) = mpsc::channel(64);
    tx.send(client_frame(client_frame::Frame::Open(pb::Open {
        payment: Some(pb::open::Payment::VoucherSpend(pb::VoucherSpend {
            nonce: nonce.to_vec(),
            spend_request: spend.to_bytes(),
        })),
        stream_id: STREAM_ID,
        host: host.to_owned(),
        port: u32::from(port),
        session_auth: Vec::new(),
    })))
    .await
    .map_err(|_| VoucherError::Relay("request stream closed".into()))?;
    let mut rx = node.relay(ReceiverStream::new(rx)).await?.into_inner();
    let mut pending = Some(pending);
    let mut paid = false;
    loop {
        let Some(msg) = rx.message().await? else {
            return Err(VoucherError::Relay("relay ended".into()));
        };
        match msg.frame {
            Some(node_frame::Frame::VoucherAccepted(a)) if a.stream_id == STREAM_ID => {
                let Some(pending) = pending.take() else {
                    return Err(VoucherError::Relay("second VoucherAccepted".into()));
                };
                let response = SpendResponse::from_bytes(&a.spend_response)?;
                let next = pending.finish_spend(&response, &terms.key)?;
                wallet.replace(index, Some(next))?;
                paid = true;
            }
            Some(node_frame::Frame::Opened(o)) if o.stream_id == STREAM_ID && paid => {
                return Ok(VoucherStream {
                    tx,
                    rx,
                    amount,
                    remaining: wallet.balance(Some(&terms.node_id)),
                });
            }
            Some(node_frame::Frame::Error(e)) => {
                let code = pb::ErrorCode::try_from(e.code).unwrap_or(pb::ErrorCode::Unspecified);
                if code == pb::ErrorCode::VoucherSpent {
                    // Spent before (e.g. a crash after a spend): worthless.
                    wallet.replace(index, None)?;
                }
                return Err(VoucherError::Refused {
                    code,
                    message: e.message,
                });
            }
            Some(node_frame::Frame::Closed(c)) => {
                return Err(VoucherError::Relay(format!(
                    "stream closed before it opened: {}",
                    c.message
                )));
            }
            _ => {}
        }
    }
}

impl VoucherStream {
    /// Relays bytes between `socket` and the stream until both sides end.
    /// Returns the bytes sent and received.
    pub async fn pipe<S>(mut self, socket: S) -> Result<(u64, u64), VoucherError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut rd, mut wr) = tokio::io::split(socket);
        let tx = self.tx.clone();
        let upload = async move {
            let mut buf = vec![0u8; FRAME_BYTES];
            let mut sent = 0u64;
            loop {
                let n = rd.read(&mut buf).await?;
                let frame = if n == 0 {
                    client_frame::Frame::Close(pb::Close {
                        stream_id: STREAM_ID,
                    })
                } else {
                    client_frame::Frame::Data(pb::Data {
                        stream_id: STREAM_ID,
                        bytes: buf.get(..n).unwrap_or_default().to_vec(),
                    })
                };
                if tx.send(client_frame(frame)).await.is_err() {
                    return Ok::<u64, std::io::Error>(sent);
                }
                if n == 0 {
                    return Ok(sent);
                }
                sent += n as u64;
            }
        };
        let download = async {
            let mut received = 0u64;
            let mut write_closed = false;
            while let Some(msg) = self.rx.message().await? {
                match msg.frame {
                    Some(node_frame::Frame::Data(d)) if d.stream_id == STREAM_ID => {
                        wr.write_all(&d.bytes).await?;
                        received += d.bytes.len() as u64;
                    }
                    // Upstream finished sending (§9.4): half-close the local
                    // socket so an EOF-waiting client ends; keep uploading.
                    Some(node_frame::Frame::Eof(e))
                        if e.stream_id == STREAM_ID && !write_closed =>
                    {
                        wr.shutdown().await?;
                        write_closed = true;
                    }
                    Some(node_frame::Frame::Closed(c)) if c.stream_id == STREAM_ID => break,
                    _ => {}
                }
            }
            if !write_closed {
                wr.shutdown().await?;
            }
            Ok::<u64, VoucherError>(received)
        };
        let upload = tokio::spawn(upload);
        let received = download.await;
        // The stream is over: stop reading from the socket.
        upload.abort();
        let sent = upload.await.ok().and_then(Result::ok).unwrap_or(0);
        drop(self.tx);
        Ok((sent, received?))
    }
}

// --------------------------------------------------------------------- SOCKS

/// Serves SOCKS5 on `listener`, paying every CONNECT by a spend of
/// `per_connection` KiB on its own gRPC connection to the node at `url`
/// over **plaintext** (tests and local demos; prefer [`serve_socks_to`]).
pub async fn serve_socks(
    listener: tokio::net::TcpListener,
    url: String,
    terms: VoucherTerms,
    wallet: std::sync::Arc<tokio::sync::Mutex<VoucherWallet>>,
    per_connection: Balance,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<u64> {
    let node = crate::transport::NodeEndpoint::insecure_plaintext(&url)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    serve_socks_to(listener, node, terms, wallet, per_connection, shutdown).await
}

/// Serves SOCKS5 on `listener`, paying every CONNECT by a spend of
/// `per_connection` KiB on its own gRPC connection to `node` (under its
/// transport policy: pinned TLS, `docs/protocol.md` §9.8), until `shutdown`
/// turns true. Returns the spends made.
pub async fn serve_socks_to(
    listener: tokio::net::TcpListener,
    node: crate::transport::NodeEndpoint,
    terms: VoucherTerms,
    wallet: std::sync::Arc<tokio::sync::Mutex<VoucherWallet>>,
    per_connection: Balance,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<u64> {
    let spends = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (sock, _) = accepted?;
                let (node, terms, wallet, spends) =
                    (node.clone(), terms.clone(), wallet.clone(), spends.clone());
                tokio::spawn(async move {
                    if let Err(e) = handle_socks(sock, &node, &terms, &wallet, per_connection, &spends).await {
                        tracing::debug!("voucher connection: {e}");
                    }
                });
            }
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return Ok(spends.load(std::sync::atomic::Ordering::Relaxed));
                }
            }
        }
    }
}

async fn handle_socks(
    mut sock: tokio::net::TcpStream,
    node: &crate::transport::NodeEndpoint,
    terms: &VoucherTerms,
    wallet: &tokio::sync::Mutex<VoucherWallet>,
    amount: Balance,
    spends: &std::sync::atomic::AtomicU64,
) -> Result<(), VoucherError> {
    use crate::socks5::{self, Host, Reply};
    let target = match socks5::accept(&mut sock).await {
        Ok(t) => t,
        Err(e) => return Err(VoucherError::Relay(format!("socks: {e}"))),
    };
    let host = match &target.host {
        Host::Ip(ip) => ip.to_string(),
        Host::Domain(d) => d.clone(),
    };
    let opened = async {
        // A fresh connection per stream (same pin): nothing but timing
        // links two spends.
        let mut node = NodeClient::new(node.connect().await?);
        let mut w = wallet.lock().await;
        open_stream(
            &mut node,
            terms,
            &mut w,
            amount,
            &host,
            target.port,
            &mut rand::rngs::OsRng,
        )
        .await
    };
    match opened.await {
        Ok(stream) => {
            spends.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            socks5::send_reply(&mut sock, Reply::Succeeded).await?;
            stream.pipe(sock).await.map(|_| ())
        }
        Err(e) => {
            let _ = socks5::send_reply(&mut sock, Reply::GeneralFailure).await;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_vouchers::{Epoch, Issuer, IssuerSecretKey, MemoryNullifierStore};

    const NODE: NodeId = NodeId::new([3; 32]);

    fn issuer() -> Issuer {
        Issuer::new(
            NODE,
            IssuerSecretKey::generate(Epoch::new(0), &mut rand::thread_rng()),
            MemoryNullifierStore::new(),
        )
    }

    fn credential(issuer: &Issuer, kib: u64) -> Credential {
        let (req, awaiting) = Credential::request_issuance(
            issuer.current_key(),
            NODE,
            Balance::from_kib(kib),
            b"test",
            &mut rand::thread_rng(),
        );
        awaiting
            .finish_issuance(&issuer.issue(&req, b"test").unwrap())
            .unwrap()
    }

    fn terms(issuer: &Issuer) -> VoucherTerms {
        VoucherTerms {
            node_id: NODE,
            key: *issuer.current_key(),
            price_per_kib: 1,
        }
    }

    #[test]
    fn file_round_trips_with_mode_0600() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let issuer = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        assert_eq!(w.balance(None), Balance::ZERO);
        w.add(credential(&issuer, 10)).unwrap();
        w.add(credential(&issuer, 32)).unwrap();
        let meta = std::fs::metadata(voucher_path(&wallet)).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let again = VoucherWallet::open(&wallet).unwrap();
        assert_eq!(again.credentials(), w.credentials());
        assert_eq!(again.balance(Some(&NODE)), Balance::from_kib(42));
        assert_eq!(again.balance(Some(&NodeId::new([4; 32]))), Balance::ZERO);
    }

    proptest::proptest! {
        /// A hostile voucher file never panics the loader.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
            let _ = VoucherWallet::decode(&bytes);
        }
    }

    #[test]
    fn malformed_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let path = voucher_path(&wallet);
        let cases: [&[u8]; 4] = [
            b"{\"version\":2,\"vouchers\":[]}",
            b"{\"version\":1,\"vouchers\":[{\"credential\":\"00\"}]}",
            b"{\"version\":1,\"vouchers\":[],\"extra\":1}",
            b"not json",
        ];
        for bytes in cases {
            fsutil::write_atomic(&path, bytes).unwrap();
            assert!(VoucherWallet::open(&wallet).is_err());
        }
    }

    #[test]
    fn pick_takes_the_smallest_sufficient_credential_of_this_key() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let b = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 100)).unwrap();
        w.add(credential(&a, 20)).unwrap();
        w.add(credential(&b, 5)).unwrap();
        assert_eq!(w.pick(&terms(&a), Balance::from_kib(10)).unwrap(), 1);
        assert_eq!(w.pick(&terms(&a), Balance::from_kib(50)).unwrap(), 0);
        assert!(matches!(
            w.pick(&terms(&a), Balance::from_kib(101)),
            Err(VoucherError::InsufficientBalance { largest, .. }) if largest == Balance::from_kib(100)
        ));
        // The credential under b's key is not usable with a's terms.
        assert!(
            w.pick(&terms(&a), Balance::from_kib(5))
                .is_ok_and(|i| i != 2)
        );
    }

    #[test]
    fn a_second_key_for_a_known_epoch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 10)).unwrap();
        assert!(w.check_key(&terms(&a)).is_ok());
        // Same node id, same epoch, another key: a tagging attempt.
        let other = issuer();
        assert!(matches!(
            w.check_key(&terms(&other)),
            Err(VoucherError::KeyChanged { epoch: 0 })
        ));
    }

    #[test]
    fn replace_drops_empty_and_spent_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let wallet = dir.path().join("w.json");
        let a = issuer();
        let mut w = VoucherWallet::open(&wallet).unwrap();
        w.add(credential(&a, 10)).unwrap();
        w.add(credential(&a, 20)).unwrap();
        w.replace(0, Some(credential(&a, 0))).unwrap();
        assert_eq!(w.credentials().len(), 1);
        w.replace(0, None).unwrap();
        assert!(
            VoucherWallet::open(&wallet)
                .unwrap()
                .credentials()
                .is_empty()
        );
    }
}
