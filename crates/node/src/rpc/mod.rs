//! The I/O shell of the node: the `veil.node.v1.Node` gRPC service
//! (`docs/protocol.md` §9.2). Each handler parses its request into domain
//! types ([`convert`]), calls the core, and maps a refusal to a status in
//! one place ([`status`]).
mod convert;
mod status;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use tracing::debug;
use veil_ledger::LedgerApi;
use veil_proto::node::v1 as pb;
use veil_proto::node::v1::WIRE_VERSION;

use crate::conns::PaidRelayStream;
use crate::error::CoreError;
use crate::purchase::PurchaseOrder;
use crate::state::Inner;
use crate::sync::lock;
use convert::{OpenRequest, check_version};

/// The gRPC service; holds only a handle to the node state.
pub struct NodeService<L> {
    pub(crate) inner: Arc<Inner<L>>,
}

impl<L> Clone for NodeService<L> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

fn peer_ip<T>(req: &Request<T>) -> Option<IpAddr> {
    req.remote_addr().map(|a| a.ip())
}

fn refuse<T>(e: impl Into<CoreError>) -> Result<T, Status> {
    Err(Status::from(e.into()))
}

impl<L: LedgerApi> NodeService<L> {
    /// `OpenSession`: bans (C4) count every invalid request and token.
    async fn open(
        &self,
        peer: Option<IpAddr>,
        req: pb::OpenSessionRequest,
    ) -> Result<pb::OpenSessionResponse, CoreError> {
        let inner = &self.inner;
        if inner.is_banned(peer) {
            return Err(CoreError::Banned);
        }
        let req =
            OpenRequest::try_from(req).inspect_err(|_| inner.record_failure(peer, "malformed"))?;
        match inner.open_session(&req.access_token, req.session_key).await {
            // No nullifier next to a peer address in logs (C10).
            Ok((session_id, terms)) => {
                debug!("session opened");
                Ok(convert::opened(session_id, terms))
            }
            Err(e) if e.is_invalid() => {
                inner.record_failure(peer, e.reason());
                debug!("invalid access token");
                Err(e.into())
            }
            Err(e) => {
                inner.metrics.token_refused(e.reason());
                if matches!(e, crate::open::OpenError::Ledger(_)) {
                    inner.metrics.ledger_error("open");
                }
                Err(e.into())
            }
        }
    }

    fn terms(&self) -> pb::GetTermsResponse {
        let inner = &self.inner;
        let roots = lock(&inner.view.roots)
            .iter()
            .rev()
            .map(|r| r.to_bytes().to_vec())
            .collect();
        let max_delta = inner.view.max_expiry_delta.load(Ordering::Acquire);
        let limits = &inner.config.limits;
        let voucher_key = inner.voucher_key();
        pb::GetTermsResponse {
            version: WIRE_VERSION,
            node_id: inner.node_id.to_bytes().to_vec(),
            node_public_key: inner.node_key.verifying_key().to_bytes().to_vec(),
            price_per_kib: inner.config.price_per_kib.0,
            escrow_sizes: inner.config.escrow_sizes.iter().map(|v| v.0).collect(),
            receipt_interval_kib: inner.config.receipt_interval_kib,
            ledger_height: inner.height().0,
            recent_roots: roots,
            max_session_lifetime: inner.config.max_session_lifetime.min(max_delta),
            max_frame_bytes: u32::try_from(limits.max_frame_bytes).unwrap_or(u32::MAX),
            max_streams_per_session: u32::try_from(limits.max_streams_per_relay)
                .unwrap_or(u32::MAX),
            tls_cert_sha256: inner
                .tls
                .read()
                .ok()
                .and_then(|t| t.as_ref().map(|t| t.cert_sha256.to_vec()))
                .unwrap_or_default(),
            voucher_public_key: voucher_key.to_bytes(),
            voucher_key_id: voucher_key.key_id().as_bytes().to_vec(),
            voucher_epoch: voucher_key.epoch().get(),
        }
    }

    fn status(&self) -> pb::StatusResponse {
        let s = self.inner.status();
        let (voucher_purchases, voucher_spends) = self.inner.vouchers.counters();
        pb::StatusResponse {
            version: WIRE_VERSION,
            sessions_open: s.sessions_open,
            sessions_total: s.sessions_total,
            streams_open: s.streams_open,
            bytes_relayed: s.bytes_relayed,
            receipts_accepted: s.receipts_accepted,
            receipts_rejected: s.receipts_rejected,
            settled_batches: s.settled_batches,
            settled_sessions: s.settled_sessions,
            pending_settlement: s.pending_settlement,
            total_paid: s.total_paid,
            tokens_rejected: s.tokens_rejected,
            proof_verifications: s.proof_verifications,
            banned_peers: s.banned_peers,
            voucher_purchases,
            voucher_spends,
        }
    }
}

#[tonic::async_trait]
impl<L: LedgerApi> pb::node_server::Node for NodeService<L> {
    async fn get_terms(
        &self,
        request: Request<pb::GetTermsRequest>,
    ) -> Result<Response<pb::GetTermsResponse>, Status> {
        if let Err(e) = check_version(request.get_ref().version) {
            return refuse(e);
        }
        Ok(Response::new(self.terms()))
    }

    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        let peer = peer_ip(&request);
        match self.open(peer, request.into_inner()).await {
            Ok(r) => Ok(Response::new(r)),
            Err(e) => refuse(e),
        }
    }

    type RelayStream = PaidRelayStream;

    async fn relay(
        &self,
        request: Request<tonic::Streaming<pb::ClientFrame>>,
    ) -> Result<Response<Self::RelayStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let inner = self.inner.clone();
        let peer = request.remote_addr();
        let inbound = request.into_inner();
        self.inner.relays.spawn(async move {
            if let Err(status) = crate::relay::run(inner, inbound, tx.clone()).await
                && tx.send(Err(status)).await.is_err()
            {
                debug!("relay ended; client gone");
            }
        });
        Ok(Response::new(PaidRelayStream::new(
            ReceiverStream::new(rx),
            self.inner.conns.clone(),
            peer,
        )))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        Ok(Response::new(self.status()))
    }

    async fn buy_voucher(
        &self,
        request: Request<pb::BuyVoucherRequest>,
    ) -> Result<Response<pb::BuyVoucherResponse>, Status> {
        let order = match PurchaseOrder::try_from(request.into_inner()) {
            Ok(o) => o,
            Err(e) => return refuse(e),
        };
        match self.inner.buy_voucher(order).await {
            Ok(response) => Ok(Response::new(pb::BuyVoucherResponse {
                version: WIRE_VERSION,
                issuance_response: response.to_bytes(),
            })),
            Err(e) => refuse(e),
        }
    }

    async fn voucher_challenge(
        &self,
        request: Request<pb::VoucherChallengeRequest>,
    ) -> Result<Response<pb::VoucherChallengeResponse>, Status> {
        if let Err(e) = check_version(request.get_ref().version) {
            return refuse(e);
        }
        match self.inner.voucher_challenge() {
            Ok(nonce) => Ok(Response::new(convert::challenge(nonce))),
            Err(e) => refuse(e),
        }
    }

    async fn exchange_voucher(
        &self,
        request: Request<pb::ExchangeVoucherRequest>,
    ) -> Result<Response<pb::ExchangeVoucherResponse>, Status> {
        let request = request.into_inner();
        if let Err(e) = check_version(request.version) {
            return refuse(e);
        }
        let exchange = match crate::vouchers::VoucherExchange::decode(&request) {
            Ok(x) => x,
            Err(e) => return refuse(e),
        };
        match self.inner.exchange_voucher(exchange).await {
            Ok(response) => Ok(Response::new(pb::ExchangeVoucherResponse {
                version: WIRE_VERSION,
                spend_response: response.to_bytes(),
            })),
            Err(e) => refuse(e),
        }
    }
}
