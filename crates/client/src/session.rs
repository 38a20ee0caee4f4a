//! The session client: node terms, access token, `OpenSession`
//! (`docs/protocol.md` §3, §9.1–§9.2).
//!
//! The token is built and persisted in the wallet (status `Pending`)
//! before `OpenSession` is called; re-running the same intent after a
//! timeout or crash sends the SAME token again (F6), so one intent spends
//! at most one nullifier.

use rand::{CryptoRng, RngCore};
use tonic::transport::Channel;
use veil_circuits::access::AccessPublic;
use veil_ledger::LedgerApi;
use veil_primitives::Fr;
use veil_primitives::eddsa::{SigningKey, VerifyingKey};
use veil_primitives::field::fr_from_slice;
use veil_primitives::ids::{BlockHeight, NodeId, SessionId};
use veil_primitives::note::Rho;
use veil_primitives::refund::refund_spending_key;
use veil_primitives::value::Value;
use veil_proofs::Prover;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::node_client::NodeClient;
use veil_vouchers::IssuerPublicKey;

use crate::error::ClientError;
use veil_proto::node::v1::WIRE_VERSION;

use crate::ops::record_spend;
use crate::pin::TlsKeyHash;
use crate::sync::LocalTree;
use crate::transport::{Connected, NodeEndpoint};
use crate::wallet::{HexFr, HexSeed, SessionRecord, SessionStatus, Wallet};

/// A node's terms, decoded and checked (§9.1).
#[derive(Clone, Debug)]
pub struct NodeTerms {
    pub node_id: NodeId,
    /// The node's key; `node_id = H(NODE_ID, N)` is checked on decode.
    pub node_key: VerifyingKey,
    pub price_per_kib: u64,
    pub escrow_sizes: Vec<u64>,
    pub receipt_interval_kib: u64,
    pub ledger_height: u64,
    /// Newest first.
    pub recent_roots: Vec<Fr>,
    pub max_session_lifetime: u64,
    pub max_frame_bytes: usize,
    pub max_streams: u32,
    /// The node's voucher issuer key, if it sells vouchers; its published
    /// key id and epoch are checked to be the key's own (`docs/vouchers.md`).
    pub voucher_key: Option<IssuerPublicKey>,
}

impl NodeTerms {
    fn from_proto(r: pb::GetTermsResponse) -> Result<Self, ClientError> {
        let bad = |what: &str| ClientError::Protocol(format!("terms: {what}"));
        if r.version != WIRE_VERSION {
            return Err(bad("unsupported version"));
        }
        let key_bytes: &[u8; 64] = r
            .node_public_key
            .as_slice()
            .try_into()
            .map_err(|_| bad("node key length"))?;
        let node_key = VerifyingKey::from_bytes(key_bytes).map_err(|_| bad("node key"))?;
        let id = fr_from_slice(&r.node_id).map_err(|_| bad("node id"))?;
        if id != node_key.node_id().inner() {
            return Err(bad("node id is not H(NODE_ID, node key)"));
        }
        let recent_roots = r
            .recent_roots
            .iter()
            .map(|b| fr_from_slice(b))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("root"))?;
        if r.price_per_kib == 0 || r.receipt_interval_kib == 0 || r.max_frame_bytes == 0 {
            return Err(bad("zero price, interval or frame size"));
        }
        let voucher_key = voucher_key(&r).map_err(bad)?;
        Ok(NodeTerms {
            node_id: NodeId::from_fr(id),
            node_key,
            price_per_kib: r.price_per_kib,
            escrow_sizes: r.escrow_sizes,
            receipt_interval_kib: r.receipt_interval_kib,
            ledger_height: r.ledger_height,
            recent_roots,
            max_session_lifetime: r.max_session_lifetime,
            max_frame_bytes: usize::try_from(r.max_frame_bytes).unwrap_or(usize::MAX),
            max_streams: r.max_streams_per_session,
            voucher_key,
        })
    }
}

/// The voucher fields of `GetTerms`: none, or a key that decodes and whose
/// published key id and epoch are its own.
fn voucher_key(r: &pb::GetTermsResponse) -> Result<Option<IssuerPublicKey>, &'static str> {
    if r.voucher_public_key.is_empty() {
        return Ok(None);
    }
    let key = IssuerPublicKey::from_bytes(&r.voucher_public_key).map_err(|_| "voucher key")?;
    if key.key_id().as_bytes().as_slice() != r.voucher_key_id.as_slice() {
        return Err("voucher key id does not match the key");
    }
    if key.epoch().get() != r.voucher_epoch {
        return Err("voucher epoch does not match the key");
    }
    Ok(Some(key))
}

/// A gRPC connection to a node, with the transport policy it was opened
/// under (`docs/protocol.md` §9.8).
#[derive(Clone)]
pub struct NodeConnection {
    pub(crate) client: NodeClient<Channel>,
    endpoint: NodeEndpoint,
}

impl NodeConnection {
    /// Connects under `endpoint`'s policy (pinned TLS or explicit plaintext).
    pub async fn connect(endpoint: NodeEndpoint) -> Result<Self, ClientError> {
        let channel = endpoint.connect().await?;
        Ok(Self {
            client: NodeClient::new(channel),
            endpoint,
        })
    }

    /// TLS to `url`, accepting only a server key whose SPKI hash is `pin`
    /// (`--node-pin`, or the ledger registration's `tls_key_hash`). A
    /// mismatch fails the handshake ([`ClientError::PinMismatch`]) before any
    /// request is sent.
    pub async fn connect_pinned(url: &str, pin: TlsKeyHash) -> Result<Self, ClientError> {
        Self::connect(NodeEndpoint::pinned(url, pin)?).await
    }

    /// Connects over plaintext HTTP/2 (development; `--insecure-plaintext`).
    pub async fn connect_plaintext(url: &str) -> Result<Self, ClientError> {
        Self::connect(NodeEndpoint::insecure_plaintext(url)?).await
    }

    /// TLS to `url`, pinned to the key the node registered with `ledger`
    /// (§9.8). Two steps:
    ///
    /// 1. A TLS connection that records the server's key hash without
    ///    judging it (handshake signatures are still verified, so the hash
    ///    is of a key the server holds) carries one `GetTerms` request —
    ///    public, nothing of the wallet — to learn the node id and key.
    /// 2. The ledger's registration for that node id must name the same
    ///    node key and, as `tls_key_hash`, the key hash recorded in step 1.
    ///    The registration is signed by the node key, so the TLS key is the
    ///    one its owner chose. Then a fresh connection strictly pinned to
    ///    the registered hash is opened, its terms must name the same node,
    ///    and only that connection is returned: tokens, relay traffic and
    ///    voucher purchases never use the step 1 connection.
    ///
    /// What a man in the middle of step 1 can do: nothing unnoticed unless
    /// it holds the TLS key of some registered node, and then the client
    /// talks to that registered node (it learns which from the node id it
    /// reports). The ledger does not bind URLs to nodes; to insist on one
    /// node, pin it explicitly ([`Self::connect_pinned`]).
    pub async fn connect_via_ledger<L: LedgerApi>(
        url: &str,
        ledger: &L,
    ) -> Result<Self, ClientError> {
        Self::connect_via_ledger_with(url, ledger, |e| async move { e.connect_recording().await })
            .await
    }

    /// [`Self::connect_via_ledger`], each of its two connections opened by
    /// `connect` (a two-hop route opens them through the entry,
    /// [`crate::two_hop`]).
    pub(crate) async fn connect_via_ledger_with<L, C, F>(
        url: &str,
        ledger: &L,
        connect: C,
    ) -> Result<Self, ClientError>
    where
        L: LedgerApi,
        C: Fn(NodeEndpoint) -> F,
        F: std::future::Future<Output = Result<Connected, ClientError>>,
    {
        let first = connect(NodeEndpoint::capture_only(url)?).await?;
        let presented = first
            .presented
            .ok_or_else(|| ClientError::Tls("no certificate recorded".into()))?;
        let claimed = {
            let mut probe = NodeClient::new(first.channel);
            let r = probe
                .get_terms(pb::GetTermsRequest {
                    version: WIRE_VERSION,
                })
                .await?;
            NodeTerms::from_proto(r.into_inner())?
        };
        let id_hex = hex::encode(claimed.node_id.to_bytes());
        let record = ledger.get_node(claimed.node_id).await?.ok_or_else(|| {
            ClientError::NodeNotRegistered {
                node_id: id_hex.clone(),
            }
        })?;
        if record.is_retired() {
            return Err(ClientError::NodeRetired { node_id: id_hex });
        }
        let registered = registered_pin(&claimed, presented, &record)?;
        let endpoint = NodeEndpoint::pinned(url, registered)?;
        let connected = connect(endpoint.clone()).await?;
        let mut pinned = Self::from_channel(connected.channel, endpoint);
        if pinned.terms().await?.node_id != claimed.node_id {
            return Err(ClientError::RegistrationMismatch {
                node_id: id_hex,
                what: "the pinned connection reports another node id".into(),
            });
        }
        Ok(pinned)
    }

    /// A connection over `channel`, opened under `endpoint`'s policy by the
    /// caller (e.g. through a two-hop route's entry, [`crate::two_hop`]).
    pub(crate) fn from_channel(channel: Channel, endpoint: NodeEndpoint) -> Self {
        Self {
            client: NodeClient::new(channel),
            endpoint,
        }
    }

    /// The endpoint (address and transport policy) this connection uses;
    /// fresh connections to the same node reuse it.
    pub fn endpoint(&self) -> &NodeEndpoint {
        &self.endpoint
    }

    /// The raw gRPC client (same connection).
    pub fn grpc(&mut self) -> &mut NodeClient<Channel> {
        &mut self.client
    }

    /// The node's terms.
    pub async fn terms(&mut self) -> Result<NodeTerms, ClientError> {
        let r = self
            .client
            .get_terms(pb::GetTermsRequest {
                version: WIRE_VERSION,
            })
            .await?;
        NodeTerms::from_proto(r.into_inner())
    }
}

/// Step 2 of [`NodeConnection::connect_via_ledger`]: the registration of
/// the node id the node claims must name the node key it presented and, as
/// `tls_key_hash`, the TLS key hash it presented. Returns the pin (§9.8).
fn registered_pin(
    claimed: &NodeTerms,
    presented: TlsKeyHash,
    record: &veil_ledger::types::NodeRecord,
) -> Result<TlsKeyHash, ClientError> {
    let registration = &record.registration;
    let node_id = hex::encode(claimed.node_id.to_bytes());
    if registration.node_id != claimed.node_id || registration.node_key != claimed.node_key {
        return Err(ClientError::RegistrationMismatch {
            node_id,
            what: "the node key it presents is not the registered one".into(),
        });
    }
    let registered = TlsKeyHash::in_force(record);
    if registered != presented {
        return Err(ClientError::RegistrationMismatch {
            node_id,
            what: format!(
                "it presented TLS key {presented}, but its registration pins {registered}"
            ),
        });
    }
    Ok(registered)
}

/// An open session: what the relay needs to pay for it.
pub struct OpenedSession {
    pub session_id: SessionId,
    pub session_key: SigningKey,
    pub credit_kib: u64,
    pub receipt_interval_kib: u64,
    pub expiry: u64,
    pub escrow: u64,
    pub price_per_kib: u64,
    /// Size of the encoded access token sent (for reports).
    pub token_bytes: usize,
    /// Whether this call re-sent a persisted token (F6) instead of proving.
    pub resumed: bool,
    /// Time spent proving, in milliseconds (0 when resumed).
    pub prove_ms: u128,
}

/// Opens (or resumes) the session of `intent` with the node.
///
/// A `Pending` record for `intent` is re-sent as is (F6). Otherwise a note
/// holding at least `escrow` is spent: fresh session key S, fresh refund
/// address, expiry `ledger_height + max_session_lifetime`, access proof
/// against the local tree's root (which must be one the node accepts).
#[allow(clippy::too_many_arguments)]
pub async fn open_session<R: RngCore + CryptoRng>(
    node: &mut NodeConnection,
    terms: &NodeTerms,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &LocalTree,
    escrow: u64,
    intent: &str,
    rng: &mut R,
) -> Result<OpenedSession, ClientError> {
    let (index, resumed, prove_ms) = match pending_token(wallet, intent) {
        Some(i) => (i, true, 0),
        None => {
            let t0 = std::time::Instant::now();
            let i = build_and_persist(terms, prover, wallet, tree, escrow, intent, rng)?;
            (i, false, t0.elapsed().as_millis())
        }
    };
    let record = wallet
        .data
        .sessions
        .get(index)
        .cloned()
        .ok_or_else(|| ClientError::Tree("session record vanished".into()))?;
    let token = hex::decode(&record.token)
        .map_err(|_| ClientError::Input("wallet: token is not hex".into()))?;
    let session_key = record
        .session_key()
        .ok_or_else(|| ClientError::Input("wallet: session seed".into()))?;
    let resp = node
        .client
        .open_session(pb::OpenSessionRequest {
            version: WIRE_VERSION,
            access_token: token.clone(),
            session_public_key: session_key.verifying_key().to_bytes().to_vec(),
        })
        .await?
        .into_inner();
    let sid =
        fr_from_slice(&resp.session_id).map_err(|_| ClientError::Protocol("session id".into()))?;
    if sid != record.nullifier.0 {
        return Err(ClientError::Protocol(
            "session id is not the token's nullifier".into(),
        ));
    }
    if let Some(s) = wallet.data.sessions.get_mut(index) {
        s.status = SessionStatus::Open;
    }
    wallet.save()?;
    Ok(OpenedSession {
        session_id: SessionId::from_fr(sid),
        session_key,
        credit_kib: resp.credit_kib,
        receipt_interval_kib: resp.receipt_interval_kib.max(1),
        expiry: resp.expiry_height,
        escrow: record.escrow,
        price_per_kib: record.price_per_kib,
        token_bytes: token.len(),
        resumed,
        prove_ms,
    })
}

/// Builds the access token and saves it with every secret it depends on,
/// the spent note marked `Spent` and the change note `Pending` (write-ahead).
fn build_and_persist<R: RngCore + CryptoRng>(
    terms: &NodeTerms,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &LocalTree,
    escrow: u64,
    intent: &str,
    rng: &mut R,
) -> Result<usize, ClientError> {
    let target = TokenTarget::for_terms(terms, tree, escrow)?;
    let planned = plan_token(wallet, tree, &target, None, rng)?;
    planned
        .prove(prover, rng)?
        .persist(wallet, intent, terms.price_per_kib)
}

/// The index of the `Pending` session record of `intent`, if any: its
/// token is re-sent as is (F6).
pub(crate) fn pending_token(wallet: &Wallet, intent: &str) -> Option<usize> {
    wallet
        .data
        .sessions
        .iter()
        .position(|s| s.intent == intent && s.status == SessionStatus::Pending)
}

/// What an access token is made for: the node it pays, its escrow and its
/// expiry height.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenTarget {
    pub node_id: NodeId,
    pub escrow: u64,
    pub expiry: u64,
}

impl TokenTarget {
    /// The target the node's `terms` ask for: one of its escrow sizes, the
    /// longest expiry it accepts; the local tree's root must be one it
    /// accepts.
    pub(crate) fn for_terms(
        terms: &NodeTerms,
        tree: &LocalTree,
        escrow: u64,
    ) -> Result<Self, ClientError> {
        if !terms.escrow_sizes.contains(&escrow) {
            return Err(ClientError::Input(format!(
                "escrow {escrow} is not one of the node's sizes {:?}",
                terms.escrow_sizes
            )));
        }
        if !terms.recent_roots.contains(&tree.root().inner()) {
            return Err(ClientError::Protocol(
                "the local tree's root is not one the node accepts: sync again".into(),
            ));
        }
        let expiry = terms
            .ledger_height
            .checked_add(terms.max_session_lifetime.max(1))
            .ok_or_else(|| ClientError::Protocol("ledger height overflows".into()))?;
        Ok(Self {
            node_id: terms.node_id,
            escrow,
            expiry,
        })
    }
}

/// A token's spend, keys and public statement, chosen but not proved yet.
pub(crate) struct PlannedToken {
    spend: crate::ops::Spend,
    session_key: SigningKey,
    refund_rho: Rho,
    public: AccessPublic,
}

/// Chooses the note (never the one at `exclude`: a note planned for
/// another token not saved yet), a fresh session key S and a fresh refund
/// address (§6: `rk` links no two sessions), and derives the statement.
pub(crate) fn plan_token<R: RngCore + CryptoRng>(
    wallet: &Wallet,
    tree: &LocalTree,
    target: &TokenTarget,
    exclude: Option<usize>,
    rng: &mut R,
) -> Result<PlannedToken, ClientError> {
    let spend = crate::ops::plan_spend_excluding(wallet, tree, target.escrow, exclude, rng)?;
    let session_key = SigningKey::generate(rng);
    let h_s = session_key.verifying_key().session_key_hash();
    let refund_rho = Rho::random(rng);
    let refund_owner = refund_spending_key(&wallet.spending_key(), &refund_rho).owner_key();
    let public = AccessPublic::derive(
        &spend.private,
        Value(target.escrow),
        target.node_id,
        h_s,
        refund_owner,
        BlockHeight(target.expiry),
    )
    .map_err(|e| ClientError::Input(e.to_string()))?;
    Ok(PlannedToken {
        spend,
        session_key,
        refund_rho,
        public,
    })
}

impl PlannedToken {
    /// The wallet index of the note this token spends.
    pub(crate) fn note_index(&self) -> usize {
        self.spend.note_index
    }

    /// Makes the access proof (CPU only: the wallet is not touched).
    pub(crate) fn prove<R: RngCore + CryptoRng>(
        self,
        prover: &Prover,
        rng: &mut R,
    ) -> Result<ProvedToken, ClientError> {
        let token = prover.prove_access(&self.public, &self.spend.private, rng)?;
        Ok(ProvedToken {
            token: token.to_bytes(),
            planned: self,
        })
    }
}

/// Whether a node publishing `terms` accepts a token for `p` now (§9.2):
/// its node, one of its sizes, a root it lists, an expiry in
/// `(height, height + max_session_lifetime]`.
fn accepts(terms: &NodeTerms, p: &AccessPublic) -> bool {
    let height = terms.ledger_height;
    let max = height.saturating_add(terms.max_session_lifetime.max(1));
    p.node_id == terms.node_id
        && terms.escrow_sizes.contains(&p.escrow.0)
        && terms.recent_roots.contains(&p.root.inner())
        && p.expiry.0 > height
        && p.expiry.0 <= max
}

/// A proved token not saved yet: nothing of it has left the client.
pub(crate) struct ProvedToken {
    planned: PlannedToken,
    token: Vec<u8>,
}

impl ProvedToken {
    /// Whether the node whose terms are `terms` accepts this token now: its
    /// node, one of its sizes, a root it accepts and an expiry within
    /// `(height, height + max_session_lifetime]` (the node's checks, §9.2).
    pub(crate) fn fits(&self, terms: &NodeTerms) -> bool {
        accepts(terms, &self.planned.public)
    }

    /// Saves the token under `intent` with every secret it depends on, the
    /// spent note marked `Spent` and the change note `Pending`, in one
    /// atomic save (write-ahead: before the token is sent). Returns the
    /// session record's index.
    pub(crate) fn persist(
        self,
        wallet: &mut Wallet,
        intent: &str,
        price_per_kib: u64,
    ) -> Result<usize, ClientError> {
        let Self { planned, token } = self;
        let public = &planned.public;
        wallet.data.sessions.push(SessionRecord {
            intent: intent.to_owned(),
            node_id: HexFr(public.node_id.inner()),
            escrow: public.escrow.0,
            price_per_kib,
            expiry: public.expiry.0,
            spent_rho: HexFr(planned.spend.private.rho.inner()),
            nullifier: HexFr(public.nullifier.inner()),
            change_rho: HexFr(planned.spend.private.rho_change.inner()),
            refund_rho: HexFr(planned.refund_rho.inner()),
            session_seed: HexSeed(*planned.session_key.seed()),
            token: hex::encode(token),
            receipts_kib: Vec::new(),
            status: SessionStatus::Pending,
        });
        record_spend(wallet, &planned.spend)?;
        Ok(wallet.data.sessions.len() - 1)
    }
}

/// Records the cumulative KiB values signed for `session_id` (refund
/// candidates, §6) and marks the session closed.
pub fn record_receipts(
    wallet: &mut Wallet,
    session_id: &SessionId,
    kibs: &[u64],
    closed: bool,
) -> Result<(), ClientError> {
    if let Some(s) = wallet
        .data
        .sessions
        .iter_mut()
        .find(|s| s.nullifier.0 == session_id.inner())
    {
        for k in kibs {
            if !s.receipts_kib.contains(k) {
                s.receipts_kib.push(*k);
            }
        }
        if closed && s.status == SessionStatus::Open {
            s.status = SessionStatus::Closed;
        }
    }
    wallet.save()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use veil_ledger::types::NodeRegistration;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_seed([seed; 32]).expect("key")
    }

    fn terms_of(k: &SigningKey) -> NodeTerms {
        let node_key = k.verifying_key();
        NodeTerms {
            node_id: node_key.node_id(),
            node_key,
            price_per_kib: 1,
            escrow_sizes: vec![64],
            receipt_interval_kib: 8,
            ledger_height: 0,
            recent_roots: vec![],
            max_session_lifetime: 10,
            max_frame_bytes: 1024,
            max_streams: 1,
            voucher_key: None,
        }
    }

    /// `GetTerms` as a node selling vouchers under `issuer` publishes it.
    fn published(k: &SigningKey, issuer: &IssuerPublicKey) -> pb::GetTermsResponse {
        pb::GetTermsResponse {
            version: WIRE_VERSION,
            node_id: k.verifying_key().node_id().to_bytes().to_vec(),
            node_public_key: k.verifying_key().to_bytes().to_vec(),
            price_per_kib: 2,
            receipt_interval_kib: 8,
            max_frame_bytes: 1024,
            voucher_public_key: issuer.to_bytes(),
            voucher_key_id: issuer.key_id().as_bytes().to_vec(),
            voucher_epoch: issuer.epoch().get(),
            ..Default::default()
        }
    }

    #[test]
    fn voucher_terms_must_name_their_own_key_id_and_epoch() {
        let secret = veil_vouchers::IssuerSecretKey::generate(
            veil_vouchers::Epoch::new(0),
            &mut rand::thread_rng(),
        );
        let issuer = *secret.public_key();
        let good = published(&key(5), &issuer);
        let t = NodeTerms::from_proto(good.clone()).unwrap();
        assert_eq!(t.voucher_key, Some(issuer));
        let mut none = good.clone();
        none.voucher_public_key.clear();
        assert_eq!(NodeTerms::from_proto(none).unwrap().voucher_key, None);
        let mut bad = good.clone();
        bad.voucher_key_id[0] ^= 1;
        assert!(NodeTerms::from_proto(bad).is_err());
        let mut bad = good.clone();
        bad.voucher_epoch = 1;
        assert!(NodeTerms::from_proto(bad).is_err());
        let mut bad = good.clone();
        bad.voucher_public_key[3] ^= 1;
        assert!(NodeTerms::from_proto(bad).is_err());
        let mut bad = good;
        bad.node_id.pop();
        assert!(NodeTerms::from_proto(bad).is_err());
    }

    fn registration(k: &SigningKey, tls: [u8; 32]) -> veil_ledger::types::NodeRecord {
        let g = NodeRegistration::signed(k, &key(3), 0, Value(1), vec![Value(64)], Value(0), tls);
        veil_ledger::types::NodeRecord::registered(g, veil_ledger::types::BlockHeight(0))
    }

    /// After a rotation (§8.3.8) the record pins the new key only: the
    /// old key, still valid for its handshake, is refused.
    #[test]
    fn after_a_rotation_the_old_key_is_refused_and_the_new_one_pinned() {
        let k = key(1);
        let mut record = registration(&k, [9; 32]);
        let update = veil_ledger::types::NodeUpdate::signed(
            &k,
            &key(3),
            1,
            &record,
            Value(1),
            vec![Value(64)],
            [10; 32],
        );
        record.update = Some(veil_ledger::types::AppliedUpdate {
            update,
            applied_at: veil_ledger::types::BlockHeight(5),
        });
        let old = registered_pin(&terms_of(&k), TlsKeyHash::from_bytes([9; 32]), &record);
        assert!(matches!(old, Err(ClientError::RegistrationMismatch { .. })));
        let new = TlsKeyHash::from_bytes([10; 32]);
        assert_eq!(registered_pin(&terms_of(&k), new, &record).ok(), Some(new));
        assert_eq!(TlsKeyHash::in_force(&record), new);
    }

    /// A token made before the node's terms were read (a two-hop exit's,
    /// §9.9) is sent only if every term the node checks accepts it.
    #[test]
    fn a_token_fits_only_terms_that_accept_each_of_its_fields() {
        use veil_primitives::Fr;
        let k = key(1);
        let mut terms = terms_of(&k);
        terms.ledger_height = 100;
        terms.recent_roots = vec![Fr::from(7u64)];
        let f = |x: u64| Fr::from(x);
        let public = AccessPublic {
            root: veil_primitives::merkle::MerkleRoot::from_fr(f(7)),
            nullifier: veil_primitives::note::Nullifier::from_fr(f(1)),
            cm_change: veil_primitives::note::NoteCommitment::from_fr(f(2)),
            escrow: Value(64),
            node_id: terms.node_id,
            session_key_hash: veil_primitives::ids::SessionKeyHash::from_fr(f(3)),
            refund_owner: veil_primitives::keys::OwnerKey::from_fr(f(4)),
            expiry: BlockHeight(105),
        };
        assert!(accepts(&terms, &public));
        let top = BlockHeight(100 + terms.max_session_lifetime);
        assert!(accepts(
            &terms,
            &AccessPublic {
                expiry: top,
                ..public.clone()
            }
        ));
        for (what, bad) in [
            (
                "another node",
                AccessPublic {
                    node_id: terms_of(&key(2)).node_id,
                    ..public.clone()
                },
            ),
            (
                "another size",
                AccessPublic {
                    escrow: Value(65),
                    ..public.clone()
                },
            ),
            (
                "an unknown root",
                AccessPublic {
                    root: veil_primitives::merkle::MerkleRoot::from_fr(f(8)),
                    ..public.clone()
                },
            ),
            (
                "expired",
                AccessPublic {
                    expiry: BlockHeight(100),
                    ..public.clone()
                },
            ),
            (
                "too far",
                AccessPublic {
                    expiry: BlockHeight(top.0 + 1),
                    ..public.clone()
                },
            ),
        ] {
            assert!(!accepts(&terms, &bad), "{what} accepted");
        }
    }

    #[test]
    fn matching_registration_gives_its_pin() {
        let k = key(1);
        let pin = TlsKeyHash::from_bytes([9; 32]);
        let got = registered_pin(&terms_of(&k), pin, &registration(&k, [9; 32]));
        assert_eq!(got.ok(), Some(pin));
    }

    #[test]
    fn registration_of_another_key_is_refused() {
        let (k, other) = (key(1), key(2));
        let r = registered_pin(
            &terms_of(&k),
            TlsKeyHash::from_bytes([9; 32]),
            &registration(&other, [9; 32]),
        );
        assert!(matches!(r, Err(ClientError::RegistrationMismatch { .. })));
    }

    #[test]
    fn registration_pinning_another_tls_key_is_refused() {
        let k = key(1);
        let r = registered_pin(
            &terms_of(&k),
            TlsKeyHash::from_bytes([9; 32]),
            &registration(&k, [8; 32]),
        );
        match r {
            Err(ClientError::RegistrationMismatch { what, .. }) => {
                assert!(what.contains(&"09".repeat(32)) && what.contains(&"08".repeat(32)));
            }
            other => panic!("expected a mismatch, got {other:?}"),
        }
    }

    #[test]
    fn plaintext_registration_pins_nothing() {
        let k = key(1);
        let r = registered_pin(
            &terms_of(&k),
            TlsKeyHash::from_bytes([9; 32]),
            &registration(&k, [0; 32]),
        );
        assert!(r.is_err());
    }
}
