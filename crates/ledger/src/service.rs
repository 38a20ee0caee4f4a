//! The `veil.ledger.v1` gRPC service (docs/protocol.md §8.5): parse →
//! domain call on an [`EmbeddedLedger`] handle → convert back. The service
//! holds handles only. Nothing that links a nullifier to a peer address is
//! logged (adversarial C10): requests are not logged at all.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use veil_proto::ledger::v1 as pb;
use veil_proto::ledger::v1::ledger_server::{Ledger, LedgerServer};

use crate::api::LedgerApi;
use crate::convert::*;
use crate::embedded::EmbeddedLedger;
use crate::error::LedgerError;
use crate::wire::{
    ERROR_ARGS_KEY, ERROR_KIND_KEY, ErrorKind, MAX_DECODING_MESSAGE_SIZE, MAX_ENCODING_MESSAGE_SIZE,
};

/// Concurrent in-flight requests per connection.
pub const CONCURRENCY_PER_CONNECTION: usize = 256;
/// HTTP/2 streams per connection (adversarial C2).
pub const MAX_CONCURRENT_STREAMS: u32 = 256;
/// Commitments per streamed batch.
pub const STREAM_BATCH: u32 = 1024;

/// The gRPC status of an error (docs/protocol.md §8.6).
pub fn to_status(e: LedgerError) -> Status {
    use LedgerError::*;
    let code = match &e {
        Encoding { .. } | InvalidArgument(_) | DuplicateSession | InvalidProof => {
            Code::InvalidArgument
        }
        NullifierSpent | AlreadySettled | NodeExists | DuplicateDeposit => Code::AlreadyExists,
        UnknownEscrow => Code::NotFound,
        UnknownRoot(_)
        | UnknownNode
        | EscrowSizeNotAccepted(_)
        | ExpiryOutOfRange { .. }
        | InsufficientBalance
        | PoolUnderflow
        | EscrowNotOpen
        | WrongNode
        | SettleWindowClosed
        | NotYetReclaimable(_)
        | TotalExceedsEscrow
        | BadNonce => Code::FailedPrecondition,
        Overflow => Code::OutOfRange,
        Busy => Code::ResourceExhausted,
        RegistrationUnauthenticated(_)
        | SettleUnauthorized(_)
        | AccountUnauthenticated(_)
        | FaucetDisabled => Code::PermissionDenied,
        Storage(_) | Poisoned | Corrupted(_) | VerifyingKeys(_) => Code::Internal,
        Unavailable(_) => Code::Unavailable,
        Remote { code, .. } => Code::from_i32(*code),
    };
    let mut status = Status::new(code, e.to_string());
    if let Ok(v) = ErrorKind::of(&e).name().parse() {
        status.metadata_mut().insert(ERROR_KIND_KEY, v);
    }
    if let Some(Ok(v)) = ErrorKind::args(&e).map(|a| a.parse()) {
        status.metadata_mut().insert(ERROR_ARGS_KEY, v);
    }
    status
}

/// The service: a handle on the ledger, nothing else.
#[derive(Clone)]
pub struct LedgerService {
    ledger: EmbeddedLedger,
}

impl LedgerService {
    pub fn new(ledger: EmbeddedLedger) -> Self {
        Self { ledger }
    }

    /// The tonic service with explicit message limits (adversarial C1).
    pub fn into_server(self) -> LedgerServer<Self> {
        LedgerServer::new(self)
            .max_decoding_message_size(MAX_DECODING_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_ENCODING_MESSAGE_SIZE)
    }

    /// The one place routes are assembled.
    pub fn routes(self) -> tonic::service::Routes {
        tonic::service::Routes::new(self.into_server())
    }
}

type Res<T> = Result<Response<T>, Status>;

fn ok<T>(x: T) -> Res<T> {
    Ok(Response::new(x))
}

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn deposit(&self, req: Request<pb::DepositRequest>) -> Res<pb::DepositResponse> {
        let r = deposit_from_pb(&req.into_inner()).map_err(to_status)?;
        let d = self.ledger.deposit(r).await.map_err(to_status)?;
        ok(pb::DepositResponse {
            commitment: d.commitment.to_bytes().to_vec(),
            leaf_index: d.leaf_index,
        })
    }

    async fn open_escrow(
        &self,
        req: Request<pb::OpenEscrowRequest>,
    ) -> Res<pb::OpenEscrowResponse> {
        let t = req
            .into_inner()
            .token
            .ok_or_else(|| Status::invalid_argument("missing token"))?;
        let (st, proof) = access_from_pb(&t).map_err(to_status)?;
        let e = self
            .ledger
            .open_escrow(st, proof)
            .await
            .map_err(to_status)?;
        ok(pb::OpenEscrowResponse {
            escrow: Some(escrow_to_pb(&e)),
        })
    }

    async fn settle(&self, req: Request<pb::SettleRequest>) -> Res<pb::SettleResponse> {
        let r = settle_from_pb(&req.into_inner()).map_err(to_status)?;
        let s = self.ledger.settle(r).await.map_err(to_status)?;
        ok(pb::SettleResponse {
            total: s.total.0,
            first_leaf_index: s.first_leaf_index,
        })
    }

    async fn reclaim(&self, req: Request<pb::ReclaimRequest>) -> Res<pb::ReclaimResponse> {
        let id = session_id(&req.into_inner().session_id).map_err(to_status)?;
        let r = self.ledger.reclaim(id).await.map_err(to_status)?;
        ok(pb::ReclaimResponse {
            commitment: r.commitment.to_bytes().to_vec(),
            leaf_index: r.leaf_index,
        })
    }

    async fn withdraw(&self, req: Request<pb::WithdrawRequest>) -> Res<pb::WithdrawResponse> {
        let (st, proof) = withdraw_from_pb(&req.into_inner()).map_err(to_status)?;
        let r = self.ledger.withdraw(st, proof).await.map_err(to_status)?;
        ok(pb::WithdrawResponse {
            leaf_index: r.leaf_index,
        })
    }

    async fn register_node(
        &self,
        req: Request<pb::RegisterNodeRequest>,
    ) -> Res<pb::RegisterNodeResponse> {
        let g = registration_from_pb(&req.into_inner()).map_err(to_status)?;
        let n = self.ledger.register_node(g).await.map_err(to_status)?;
        ok(pb::RegisterNodeResponse {
            node: Some(node_to_pb(&n)),
        })
    }

    async fn get_node(&self, req: Request<pb::GetNodeRequest>) -> Res<pb::GetNodeResponse> {
        let id = node_id(&req.into_inner().node_id).map_err(to_status)?;
        let n = self.ledger.get_node(id).await.map_err(to_status)?;
        ok(pb::GetNodeResponse {
            node: n.as_ref().map(node_to_pb),
        })
    }

    async fn get_escrow(&self, req: Request<pb::GetEscrowRequest>) -> Res<pb::GetEscrowResponse> {
        let id = session_id(&req.into_inner().session_id).map_err(to_status)?;
        let e = self.ledger.get_escrow(id).await.map_err(to_status)?;
        ok(pb::GetEscrowResponse {
            escrow: e.as_ref().map(escrow_to_pb),
        })
    }

    async fn get_nullifier(
        &self,
        req: Request<pb::GetNullifierRequest>,
    ) -> Res<pb::GetNullifierResponse> {
        let nf = nullifier(&req.into_inner().nullifier).map_err(to_status)?;
        let spent = self.ledger.nullifier_spent(nf).await.map_err(to_status)?;
        ok(pb::GetNullifierResponse { spent })
    }

    async fn get_balance(
        &self,
        req: Request<pb::GetBalanceRequest>,
    ) -> Res<pb::GetBalanceResponse> {
        let a = account(&req.into_inner().account).map_err(to_status)?;
        let s = self.ledger.account(a).await.map_err(to_status)?;
        ok(pb::GetBalanceResponse {
            balance: s.balance.0,
            next_nonce: s.next_nonce,
        })
    }

    async fn get_roots(&self, _: Request<pb::GetRootsRequest>) -> Res<pb::GetRootsResponse> {
        let roots = self.ledger.roots().await.map_err(to_status)?;
        ok(pb::GetRootsResponse {
            roots: roots.iter().map(|r| r.to_bytes().to_vec()).collect(),
        })
    }

    type StreamCommitmentsStream =
        Pin<Box<dyn Stream<Item = Result<pb::CommitmentBatch, Status>> + Send>>;

    /// Streams every commitment from `from_index` up to the count at call
    /// time, in batches; the client then asks again from where it stopped.
    async fn stream_commitments(
        &self,
        req: Request<pb::StreamCommitmentsRequest>,
    ) -> Res<Self::StreamCommitmentsStream> {
        let mut next = req.into_inner().from_index;
        let ledger = self.ledger.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let page = match ledger.commitments(next, STREAM_BATCH).await {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(to_status(e))).await;
                        return;
                    }
                };
                if page.is_empty() {
                    return;
                }
                let n = page.len() as u64;
                let batch = pb::CommitmentBatch {
                    first_index: next,
                    commitments: page.iter().map(|c| c.to_bytes().to_vec()).collect(),
                };
                if tx.send(Ok(batch)).await.is_err() {
                    return;
                }
                next += n;
            }
        });
        ok(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx)))
    }

    async fn status(&self, _: Request<pb::StatusRequest>) -> Res<pb::StatusResponse> {
        let s = self.ledger.status().await.map_err(to_status)?;
        ok(pb::StatusResponse {
            height: s.height.0,
            commitment_count: s.commitment_count,
            root: s.root.to_bytes().to_vec(),
            schema_version: s.schema_version,
            challenge_window: s.challenge_window,
            max_expiry_delta: s.max_expiry_delta,
            minted: s.minted.0,
            pool: s.pool.0,
        })
    }

    /// DEVELOPMENT ONLY.
    async fn faucet(&self, req: Request<pb::FaucetRequest>) -> Res<pb::FaucetResponse> {
        let r = req.into_inner();
        let a = account(&r.account).map_err(to_status)?;
        let b = self
            .ledger
            .faucet(a, crate::types::Value(r.amount))
            .await
            .map_err(to_status)?;
        ok(pb::FaucetResponse { balance: b.0 })
    }
}

/// Serves the ledger on `listener` until `shutdown` resolves.
pub async fn serve(
    ledger: EmbeddedLedger,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .timeout(Duration::from_secs(30))
        .add_routes(LedgerService::new(ledger).routes())
        .serve_with_incoming_shutdown(
            tokio_stream::wrappers::TcpListenerStream::new(listener),
            shutdown,
        )
        .await
}

/// Binds `addr` (port 0 allowed) and returns the listener and its address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(tokio::net::TcpListener, SocketAddr)> {
    let l = tokio::net::TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
