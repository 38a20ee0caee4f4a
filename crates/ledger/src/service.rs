//! The `veil.ledger.v1` gRPC service (docs/protocol.md §8.5): parse →
//! domain call on an [`EmbeddedLedger`] handle → convert back. The service
//! holds handles only; each call is timed and counted in one place
//! (`LedgerService::metered`, docs/operations.md "Ledger metrics").
//! Nothing that links a nullifier to a peer address is
//! logged (adversarial C10): requests are not logged at all.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};
use veil_proto::ledger::v1 as pb;
use veil_proto::ledger::v1::ledger_server::{Ledger, LedgerServer};

use crate::api::LedgerApi;
use crate::convert::*;
use crate::embedded::EmbeddedLedger;
use crate::error::LedgerError;
use crate::metrics::{LedgerMetrics, Rpc};
use crate::monitor::MonitorView;
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
        NullifierSpent | AlreadySettled | NodeExists | DuplicateDeposit | MonitorExists
        | ReportExists | ChallengeExists => Code::AlreadyExists,
        UnknownEscrow | UnknownChallenge => Code::NotFound,
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
        | BadNonce
        | StaleNodeUpdate
        | NodeRetired
        | NodeNotRetired
        | StakeLocked(_)
        | StakeReleased
        | StakeBelowCapacity { .. }
        | NotAMonitor
        | NotAssigned
        | ReportNotOpen
        | ChallengeClosed
        | MonitorRetired
        | MonitorNotRetired
        | ChallengeEpoch(_)
        | InsufficientTokens => Code::FailedPrecondition,
        Market(c) => market_code(c),
        Unsupported(_) => Code::Unimplemented,
        Overflow => Code::OutOfRange,
        Busy => Code::ResourceExhausted,
        RegistrationUnauthenticated(_)
        | SettleUnauthorized(_)
        | AccountUnauthenticated(_)
        | BadChallengeAnswer
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

/// A curve refusal: a bad amount is the caller's argument; a slippage
/// limit or the circulating supply depends on state (§8.6).
fn market_code(e: &veil_market::curve::CurveError) -> Code {
    use veil_market::curve::CurveError::*;
    match e {
        Zero | TooLarge => Code::InvalidArgument,
        BelowMinimum { .. } | AboveMaximum { .. } | ExceedsCirculating { .. } => {
            Code::FailedPrecondition
        }
        ReserveRatio(_) | Genesis => Code::Internal,
    }
}

/// The service: a handle on the ledger and its metrics, nothing else.
#[derive(Clone)]
pub struct LedgerService {
    ledger: EmbeddedLedger,
    metrics: Arc<LedgerMetrics>,
}

impl LedgerService {
    pub fn new(ledger: EmbeddedLedger) -> Self {
        Self::with_metrics(ledger, Arc::new(LedgerMetrics::new()))
    }

    /// A service that counts its calls in `metrics` (docs/operations.md,
    /// "Ledger metrics").
    pub fn with_metrics(ledger: EmbeddedLedger, metrics: Arc<LedgerMetrics>) -> Self {
        Self { ledger, metrics }
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

    /// Runs one call: times it, counts it as accepted or refused by kind,
    /// and maps its error to a status. The one place calls are measured.
    async fn metered<T>(
        &self,
        op: Rpc,
        call: impl Future<Output = Result<T, LedgerError>>,
    ) -> Res<T> {
        let started = Instant::now();
        let out = call.await;
        self.metrics
            .record(op, out.as_ref().map(|_| ()), started.elapsed());
        out.map(Response::new).map_err(to_status)
    }
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl Ledger for LedgerService {
    async fn deposit(&self, req: Request<pb::DepositRequest>) -> Res<pb::DepositResponse> {
        self.metered(Rpc::Deposit, async {
            let d = self
                .ledger
                .deposit(deposit_from_pb(&req.into_inner())?)
                .await?;
            Ok(pb::DepositResponse {
                commitment: d.commitment.to_bytes().to_vec(),
                leaf_index: d.leaf_index,
            })
        })
        .await
    }

    async fn open_escrow(
        &self,
        req: Request<pb::OpenEscrowRequest>,
    ) -> Res<pb::OpenEscrowResponse> {
        self.metered(Rpc::OpenEscrow, async {
            let t = req
                .into_inner()
                .token
                .ok_or(LedgerError::InvalidArgument("missing token"))?;
            let (st, proof) = access_from_pb(&t)?;
            let e = self.ledger.open_escrow(st, proof).await?;
            Ok(pb::OpenEscrowResponse {
                escrow: Some(escrow_to_pb(&e)),
            })
        })
        .await
    }

    async fn settle(&self, req: Request<pb::SettleRequest>) -> Res<pb::SettleResponse> {
        self.metered(Rpc::Settle, async {
            let s = self
                .ledger
                .settle(settle_from_pb(&req.into_inner())?)
                .await?;
            Ok(pb::SettleResponse {
                total: s.total.0,
                first_leaf_index: s.first_leaf_index,
            })
        })
        .await
    }

    async fn reclaim(&self, req: Request<pb::ReclaimRequest>) -> Res<pb::ReclaimResponse> {
        self.metered(Rpc::Reclaim, async {
            let r = self
                .ledger
                .reclaim(session_id(&req.into_inner().session_id)?)
                .await?;
            Ok(pb::ReclaimResponse {
                commitment: r.commitment.to_bytes().to_vec(),
                leaf_index: r.leaf_index,
            })
        })
        .await
    }

    async fn withdraw(&self, req: Request<pb::WithdrawRequest>) -> Res<pb::WithdrawResponse> {
        self.metered(Rpc::Withdraw, async {
            let (st, proof) = withdraw_from_pb(&req.into_inner())?;
            let r = self.ledger.withdraw(st, proof).await?;
            Ok(pb::WithdrawResponse {
                leaf_index: r.leaf_index,
            })
        })
        .await
    }

    async fn register_node(
        &self,
        req: Request<pb::RegisterNodeRequest>,
    ) -> Res<pb::RegisterNodeResponse> {
        self.metered(Rpc::RegisterNode, async {
            let g = registration_from_pb(&req.into_inner())?;
            let n = self.ledger.register_node(g).await?;
            Ok(pb::RegisterNodeResponse {
                node: Some(node_to_pb(&n)),
            })
        })
        .await
    }

    async fn update_node(
        &self,
        req: Request<pb::UpdateNodeRequest>,
    ) -> Res<pb::UpdateNodeResponse> {
        self.metered(Rpc::UpdateNode, async {
            let u = update_from_pb(&req.into_inner())?;
            let n = self.ledger.update_node(u).await?;
            Ok(pb::UpdateNodeResponse {
                node: Some(node_to_pb(&n)),
            })
        })
        .await
    }

    async fn list_nodes(&self, req: Request<pb::ListNodesRequest>) -> Res<pb::ListNodesResponse> {
        self.metered(Rpc::ListNodes, async {
            let r = req.into_inner();
            let start_after = match r.start_after.as_slice() {
                [] => None,
                b => Some(node_id(b)?),
            };
            let nodes = self.ledger.list_nodes(start_after, r.limit).await?;
            Ok(pb::ListNodesResponse {
                nodes: nodes.iter().map(node_to_pb).collect(),
            })
        })
        .await
    }

    async fn get_node(&self, req: Request<pb::GetNodeRequest>) -> Res<pb::GetNodeResponse> {
        self.metered(Rpc::GetNode, async {
            let n = self
                .ledger
                .get_node(node_id(&req.into_inner().node_id)?)
                .await?;
            Ok(pb::GetNodeResponse {
                node: n.as_ref().map(node_to_pb),
            })
        })
        .await
    }

    async fn get_escrow(&self, req: Request<pb::GetEscrowRequest>) -> Res<pb::GetEscrowResponse> {
        self.metered(Rpc::GetEscrow, async {
            let id = session_id(&req.into_inner().session_id)?;
            let e = self.ledger.get_escrow(id).await?;
            Ok(pb::GetEscrowResponse {
                escrow: e.as_ref().map(escrow_to_pb),
            })
        })
        .await
    }

    async fn get_nullifier(
        &self,
        req: Request<pb::GetNullifierRequest>,
    ) -> Res<pb::GetNullifierResponse> {
        self.metered(Rpc::GetNullifier, async {
            let nf = nullifier(&req.into_inner().nullifier)?;
            let spent = self.ledger.nullifier_spent(nf).await?;
            Ok(pb::GetNullifierResponse { spent })
        })
        .await
    }

    async fn get_balance(
        &self,
        req: Request<pb::GetBalanceRequest>,
    ) -> Res<pb::GetBalanceResponse> {
        self.metered(Rpc::GetBalance, async {
            let s = self
                .ledger
                .account(account(&req.into_inner().account)?)
                .await?;
            Ok(pb::GetBalanceResponse {
                balance: s.balance.0,
                next_nonce: s.next_nonce,
            })
        })
        .await
    }

    async fn get_roots(&self, _: Request<pb::GetRootsRequest>) -> Res<pb::GetRootsResponse> {
        self.metered(Rpc::GetRoots, async {
            let roots = self.ledger.roots().await?;
            Ok(pb::GetRootsResponse {
                roots: roots.iter().map(|r| r.to_bytes().to_vec()).collect(),
            })
        })
        .await
    }

    type StreamCommitmentsStream =
        Pin<Box<dyn Stream<Item = Result<pb::CommitmentBatch, Status>> + Send>>;

    /// Streams every commitment from `from_index` up to the count at call
    /// time, in batches; the client then asks again from where it stopped.
    /// Metered as a call when the stream starts (its pages are not).
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
        let stream: Self::StreamCommitmentsStream =
            Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
        self.metered(Rpc::StreamCommitments, async { Ok(stream) })
            .await
    }

    async fn status(&self, _: Request<pb::StatusRequest>) -> Res<pb::StatusResponse> {
        self.metered(Rpc::Status, async {
            let s = self.ledger.status().await?;
            Ok(pb::StatusResponse {
                height: s.height.0,
                commitment_count: s.commitment_count,
                root: s.root.to_bytes().to_vec(),
                schema_version: s.schema_version,
                challenge_window: s.challenge_window,
                max_expiry_delta: s.max_expiry_delta,
                minted: s.minted.0,
                pool: s.pool.0,
                escrowed: s.escrowed.0,
                staked: s.staked.0,
                monitor_staked: s.monitor_staked.0,
                burnt: s.burnt.0,
            })
        })
        .await
    }

    /// §8.3.11: anyone may send it; the account's signature authorises it.
    async fn trade(&self, req: Request<pb::TradeRequest>) -> Res<pb::TradeResponse> {
        self.metered(Rpc::Trade, async {
            let t = trade_from_pb(req.get_ref())?;
            Ok(receipt_to_pb(&self.ledger.trade(t).await?))
        })
        .await
    }

    /// §8.3.12: anyone may send it; the signature of the node's registered
    /// account authorises it.
    async fn exit_node(&self, req: Request<pb::ExitNodeRequest>) -> Res<pb::ExitNodeResponse> {
        self.metered(Rpc::ExitNode, async {
            let x = exit_from_pb(req.get_ref())?;
            let node = self.ledger.exit_node(x).await?;
            Ok(pb::ExitNodeResponse {
                node: Some(node_to_pb(&node)),
            })
        })
        .await
    }

    /// §8.3.13: anyone may send it; the account's signature authorises it.
    async fn register_monitor(
        &self,
        req: Request<pb::RegisterMonitorRequest>,
    ) -> Res<pb::MonitorResponse> {
        self.metered(Rpc::RegisterMonitor, async {
            let m = monitor_registration_from_pb(req.get_ref())?;
            let account = m.account;
            let record = self.ledger.register_monitor(m).await?;
            let view = self.ledger.monitor(account).await?;
            Ok(monitor_view_to_pb(&MonitorView {
                record: Some(record),
                ..view
            }))
        })
        .await
    }

    /// §8.3.13: anyone may send it; the monitor's signature authorises it
    /// and the epoch's assignment decides whether it counts.
    async fn submit_report(
        &self,
        req: Request<pb::SubmitReportRequest>,
    ) -> Res<pb::SubmitReportResponse> {
        self.metered(Rpc::SubmitReport, async {
            let r = report_from_pb(req.get_ref())?;
            let stored = self.ledger.submit_report(r).await?;
            Ok(pb::SubmitReportResponse {
                nonce: stored.nonce,
            })
        })
        .await
    }

    /// §8.3.13: anyone may send it; the monitor's account signature
    /// authorises it.
    async fn exit_monitor(&self, req: Request<pb::ExitMonitorRequest>) -> Res<pb::MonitorResponse> {
        self.metered(Rpc::ExitMonitor, async {
            let x = monitor_exit_from_pb(req.get_ref())?;
            let account = x.account;
            let record = self.ledger.exit_monitor(x).await?;
            let view = self.ledger.monitor(account).await?;
            Ok(monitor_view_to_pb(&MonitorView {
                record: Some(record),
                ..view
            }))
        })
        .await
    }

    /// §8.3.14: anyone may send it; the monitor's signature authorises it
    /// and the epoch's assignment decides whether it may.
    async fn challenge_node(
        &self,
        req: Request<pb::ChallengeNodeRequest>,
    ) -> Res<pb::ChallengeResponse> {
        self.metered(Rpc::ChallengeNode, async {
            let r = challenge_request_from_pb(req.get_ref())?;
            let c = self.ledger.challenge_node(r).await?;
            Ok(pb::ChallengeResponse {
                challenge: Some(challenge_to_pb(&c)),
            })
        })
        .await
    }

    /// §8.3.14: anyone may carry the answer; the node key's signature over
    /// the challenge is what counts.
    async fn answer_challenge(
        &self,
        req: Request<pb::AnswerChallengeRequest>,
    ) -> Res<pb::ChallengeResponse> {
        self.metered(Rpc::AnswerChallenge, async {
            let a = answer_from_pb(req.get_ref())?;
            let c = self.ledger.answer_challenge(a).await?;
            Ok(pb::ChallengeResponse {
                challenge: Some(challenge_to_pb(&c)),
            })
        })
        .await
    }

    /// Public state: anyone.
    async fn get_challenges(
        &self,
        req: Request<pb::GetChallengesRequest>,
    ) -> Res<pb::GetChallengesResponse> {
        self.metered(Rpc::GetChallenges, async {
            let n = node_id(&req.get_ref().node_id)?;
            let cs = self.ledger.challenges(n).await?;
            Ok(pb::GetChallengesResponse {
                challenges: cs.iter().map(challenge_to_pb).collect(),
            })
        })
        .await
    }

    /// Public state: anyone.
    async fn get_monitor(&self, req: Request<pb::GetMonitorRequest>) -> Res<pb::MonitorResponse> {
        self.metered(Rpc::GetMonitor, async {
            let a = account(&req.get_ref().account)?;
            Ok(monitor_view_to_pb(&self.ledger.monitor(a).await?))
        })
        .await
    }

    /// Public state: anyone.
    async fn get_market(&self, req: Request<pb::GetMarketRequest>) -> Res<pb::GetMarketResponse> {
        self.metered(Rpc::GetMarket, async {
            let held = match market_account(req.get_ref())? {
                Some(a) => Some(self.ledger.tokens(a).await?),
                None => None,
            };
            Ok(market_to_pb(&self.ledger.market().await?, held))
        })
        .await
    }

    /// DEVELOPMENT ONLY.
    async fn faucet(&self, req: Request<pb::FaucetRequest>) -> Res<pb::FaucetResponse> {
        self.metered(Rpc::Faucet, async {
            let r = req.into_inner();
            let a = account(&r.account)?;
            let b = self.ledger.faucet(a, crate::types::Value(r.amount)).await?;
            Ok(pb::FaucetResponse { balance: b.0 })
        })
        .await
    }
}

/// Serves the ledger on `listener` until `shutdown` resolves.
pub async fn serve(
    ledger: EmbeddedLedger,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let metrics = Arc::new(LedgerMetrics::new());
    serve_with_metrics(ledger, metrics, listener, shutdown).await
}

/// [`serve`], counting every call in `metrics` (`veil ledger serve
/// --metrics`; docs/operations.md, "Ledger metrics").
pub async fn serve_with_metrics(
    ledger: EmbeddedLedger,
    metrics: Arc<LedgerMetrics>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .concurrency_limit_per_connection(CONCURRENCY_PER_CONNECTION)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .timeout(Duration::from_secs(30))
        .add_routes(LedgerService::with_metrics(ledger, metrics).routes())
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
