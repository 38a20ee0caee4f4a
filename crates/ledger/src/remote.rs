//! [`RemoteLedger`]: the [`LedgerApi`] over gRPC (`veil.ledger.v1`).
//! Error statuses come back as the same [`LedgerError`] variants the
//! embedded ledger returns (by the `veil-ledger-error` metadata).

use tonic::transport::{Channel, Endpoint};
use veil_proto::ledger::v1 as pb;
use veil_proto::ledger::v1::ledger_client::LedgerClient;

use crate::api::LedgerApi;
use crate::challenge::{ChallengeAnswer, ChallengeRecord, ChallengeRequest};
use crate::convert::*;
use crate::error::LedgerError;
use crate::exit::ExitRequest;
use crate::monitor::{
    AuditReport, MonitorExitRequest, MonitorRecord, MonitorRegistration, MonitorView, StoredReport,
};
use crate::trade::{MarketState, Tokens, TradeReceipt, TradeRequest};
use crate::types::*;
use crate::wire::{
    ERROR_ARGS_KEY, ERROR_KIND_KEY, ErrorKind, MAX_DECODING_MESSAGE_SIZE, MAX_ENCODING_MESSAGE_SIZE,
};

/// A gRPC ledger client (cheap to clone: one multiplexed channel).
#[derive(Clone)]
pub struct RemoteLedger {
    client: LedgerClient<Channel>,
}

impl RemoteLedger {
    /// Connects to `url` (e.g. `http://127.0.0.1:7000`).
    pub async fn connect(url: &str) -> Result<Self, LedgerError> {
        let ep = Endpoint::from_shared(url.to_string())
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        let ch = ep
            .connect()
            .await
            .map_err(|e| LedgerError::Unavailable(e.to_string()))?;
        Ok(Self::new(ch))
    }

    pub fn new(channel: Channel) -> Self {
        let client = LedgerClient::new(channel)
            .max_decoding_message_size(MAX_ENCODING_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_DECODING_MESSAGE_SIZE);
        Self { client }
    }

    fn c(&self) -> LedgerClient<Channel> {
        self.client.clone()
    }
}

/// Maps a status back to the variant the server sent (by its [`ErrorKind`]).
pub fn from_status(s: tonic::Status) -> LedgerError {
    let kind = s
        .metadata()
        .get(ERROR_KIND_KEY)
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorKind::from_name);
    let args = s
        .metadata()
        .get(ERROR_ARGS_KEY)
        .and_then(|v| v.to_str().ok());
    match (kind.and_then(|k| k.rebuild(args)), s.code()) {
        (Some(e), _) => e,
        (None, tonic::Code::Unavailable) => LedgerError::Unavailable(s.message().to_string()),
        (None, tonic::Code::ResourceExhausted) => LedgerError::Busy,
        (None, code) => LedgerError::Remote {
            code: code as i32,
            message: s.message().to_string(),
        },
    }
}

fn missing(what: &'static str) -> LedgerError {
    LedgerError::Remote {
        code: tonic::Code::Internal as i32,
        message: format!("response without {what}"),
    }
}

/// The monitor record a `MonitorResponse` of `rpc` must carry.
fn answered_monitor(
    r: Result<tonic::Response<pb::MonitorResponse>, tonic::Status>,
    rpc: &str,
) -> Result<MonitorRecord, LedgerError> {
    monitor_view_from_pb(&r.map_err(from_status)?.into_inner())?
        .record
        .ok_or_else(|| LedgerError::Unavailable(format!("{rpc} answered without the monitor")))
}

impl LedgerApi for RemoteLedger {
    async fn deposit(&self, request: DepositRequest) -> Result<DepositReceipt, LedgerError> {
        let r = self
            .c()
            .deposit(deposit_to_pb(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(DepositReceipt {
            commitment: commitment("commitment", &r.commitment)?,
            leaf_index: r.leaf_index,
        })
    }

    async fn open_escrow(&self, token: AccessPublic, proof: Proof) -> Result<Escrow, LedgerError> {
        let r = self
            .c()
            .open_escrow(pb::OpenEscrowRequest {
                token: Some(access_to_pb(&token, &proof)),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        escrow_from_pb(&r.escrow.ok_or_else(|| missing("escrow"))?)
    }

    async fn settle(&self, request: SettleRequest) -> Result<SettleReceipt, LedgerError> {
        let r = self
            .c()
            .settle(settle_to_pb(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(SettleReceipt {
            total: Value(r.total),
            first_leaf_index: r.first_leaf_index,
        })
    }

    async fn reclaim(&self, session_id: SessionId) -> Result<ReclaimReceipt, LedgerError> {
        let r = self
            .c()
            .reclaim(pb::ReclaimRequest {
                session_id: session_id.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(ReclaimReceipt {
            commitment: commitment("commitment", &r.commitment)?,
            leaf_index: r.leaf_index,
        })
    }

    async fn withdraw(
        &self,
        statement: WithdrawPublic,
        proof: Proof,
    ) -> Result<WithdrawReceipt, LedgerError> {
        let r = self
            .c()
            .withdraw(withdraw_to_pb(&statement, &proof))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(WithdrawReceipt {
            leaf_index: r.leaf_index,
        })
    }

    async fn register_node(
        &self,
        registration: NodeRegistration,
    ) -> Result<NodeRecord, LedgerError> {
        let r = self
            .c()
            .register_node(registration_to_pb(&registration))
            .await
            .map_err(from_status)?
            .into_inner();
        node_from_pb(&r.node.ok_or_else(|| missing("node"))?)
    }

    async fn update_node(&self, update: NodeUpdate) -> Result<NodeRecord, LedgerError> {
        let r = self
            .c()
            .update_node(update_to_pb(&update))
            .await
            .map_err(from_status)?
            .into_inner();
        node_from_pb(&r.node.ok_or_else(|| missing("node"))?)
    }

    async fn faucet(&self, account: AccountId, amount: Value) -> Result<Value, LedgerError> {
        let r = self
            .c()
            .faucet(pb::FaucetRequest {
                account: account.to_bytes().to_vec(),
                amount: amount.0,
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(Value(r.balance))
    }

    async fn exit_node(&self, request: ExitRequest) -> Result<NodeRecord, LedgerError> {
        let r = self
            .c()
            .exit_node(exit_to_pb(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        let node = r.node.as_ref().ok_or(LedgerError::Unavailable(
            "ExitNode answered without the node".into(),
        ))?;
        node_from_pb(node)
    }

    async fn register_monitor(
        &self,
        registration: MonitorRegistration,
    ) -> Result<MonitorRecord, LedgerError> {
        let r = self
            .c()
            .register_monitor(monitor_registration_to_pb(&registration))
            .await;
        answered_monitor(r, "RegisterMonitor")
    }

    async fn submit_report(&self, report: AuditReport) -> Result<StoredReport, LedgerError> {
        let r = self
            .c()
            .submit_report(report_to_pb(&report))
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(StoredReport {
            measured: report.measured,
            nonce: r.nonce,
        })
    }

    async fn monitor(&self, account: AccountId) -> Result<MonitorView, LedgerError> {
        let r = self
            .c()
            .get_monitor(pb::GetMonitorRequest {
                account: account.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        monitor_view_from_pb(&r)
    }

    async fn exit_monitor(
        &self,
        request: MonitorExitRequest,
    ) -> Result<MonitorRecord, LedgerError> {
        let r = self.c().exit_monitor(monitor_exit_to_pb(&request)).await;
        answered_monitor(r, "ExitMonitor")
    }

    async fn challenge_node(
        &self,
        request: ChallengeRequest,
    ) -> Result<ChallengeRecord, LedgerError> {
        let r = self
            .c()
            .challenge_node(challenge_request_to_pb(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        challenge_response_from_pb(&r)
    }

    async fn answer_challenge(
        &self,
        answer: ChallengeAnswer,
    ) -> Result<ChallengeRecord, LedgerError> {
        let r = self
            .c()
            .answer_challenge(answer_to_pb(&answer))
            .await
            .map_err(from_status)?
            .into_inner();
        challenge_response_from_pb(&r)
    }

    async fn challenges(&self, node_id: NodeId) -> Result<Vec<ChallengeRecord>, LedgerError> {
        let r = self
            .c()
            .get_challenges(pb::GetChallengesRequest {
                node_id: node_id.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        r.challenges.iter().map(challenge_from_pb).collect()
    }

    async fn trade(&self, request: TradeRequest) -> Result<TradeReceipt, LedgerError> {
        let r = self
            .c()
            .trade(trade_to_pb(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        receipt_from_pb(request.order, &r)
    }

    async fn market(&self) -> Result<MarketState, LedgerError> {
        let r = self
            .c()
            .get_market(pb::GetMarketRequest { account: vec![] })
            .await
            .map_err(from_status)?
            .into_inner();
        market_from_pb(&r)
    }

    async fn tokens(&self, account: AccountId) -> Result<Tokens, LedgerError> {
        let r = self
            .c()
            .get_market(pb::GetMarketRequest {
                account: account.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        crate::convert::tokens("tokens", &r.tokens)
    }

    async fn get_node(&self, node_id: NodeId) -> Result<Option<NodeRecord>, LedgerError> {
        let r = self
            .c()
            .get_node(pb::GetNodeRequest {
                node_id: node_id.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        r.node.as_ref().map(node_from_pb).transpose()
    }

    async fn list_nodes(
        &self,
        start_after: Option<NodeId>,
        limit: u32,
    ) -> Result<Vec<NodeRecord>, LedgerError> {
        let limit = limit.min(crate::api::MAX_NODE_PAGE);
        let r = self
            .c()
            .list_nodes(pb::ListNodesRequest {
                start_after: start_after.map_or_else(Vec::new, |id| id.to_bytes().to_vec()),
                limit,
            })
            .await
            .map_err(from_status)?
            .into_inner();
        if r.nodes.len() > limit as usize {
            return Err(LedgerError::Unavailable(
                "node page longer than asked".into(),
            ));
        }
        r.nodes.iter().map(node_from_pb).collect()
    }

    async fn get_escrow(&self, session_id: SessionId) -> Result<Option<Escrow>, LedgerError> {
        let r = self
            .c()
            .get_escrow(pb::GetEscrowRequest {
                session_id: session_id.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        r.escrow.as_ref().map(escrow_from_pb).transpose()
    }

    async fn nullifier_spent(&self, nullifier: Nullifier) -> Result<bool, LedgerError> {
        let r = self
            .c()
            .get_nullifier(pb::GetNullifierRequest {
                nullifier: nullifier.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(r.spent)
    }

    async fn balance(&self, account: AccountId) -> Result<Value, LedgerError> {
        Ok(LedgerApi::account(self, account).await?.balance)
    }

    async fn account(&self, account: AccountId) -> Result<AccountState, LedgerError> {
        let r = self
            .c()
            .get_balance(pb::GetBalanceRequest {
                account: account.to_bytes().to_vec(),
            })
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(AccountState {
            balance: Value(r.balance),
            next_nonce: r.next_nonce,
        })
    }

    async fn roots(&self) -> Result<Vec<MerkleRoot>, LedgerError> {
        let r = self
            .c()
            .get_roots(pb::GetRootsRequest {})
            .await
            .map_err(from_status)?
            .into_inner();
        r.roots
            .iter()
            .map(|b| {
                MerkleRoot::from_slice(b).map_err(|source| LedgerError::Encoding {
                    field: "root",
                    source,
                })
            })
            .collect()
    }

    async fn commitments(
        &self,
        from_index: u64,
        limit: u32,
    ) -> Result<Vec<NoteCommitment>, LedgerError> {
        let limit = limit.min(crate::api::MAX_COMMITMENT_PAGE) as usize;
        let mut stream = self
            .c()
            .stream_commitments(pb::StreamCommitmentsRequest { from_index })
            .await
            .map_err(from_status)?
            .into_inner();
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(batch) = stream.message().await.map_err(from_status)? else {
                break;
            };
            if batch.first_index != from_index + out.len() as u64 {
                return Err(LedgerError::Unavailable(
                    "commitment stream out of order".into(),
                ));
            }
            for c in &batch.commitments {
                if out.len() == limit {
                    break;
                }
                out.push(commitment("commitment", c)?);
            }
        }
        Ok(out)
    }

    async fn status(&self) -> Result<LedgerStatus, LedgerError> {
        let r = self
            .c()
            .status(pb::StatusRequest {})
            .await
            .map_err(from_status)?
            .into_inner();
        Ok(LedgerStatus {
            height: BlockHeight(r.height),
            commitment_count: r.commitment_count,
            root: MerkleRoot::from_slice(&r.root).map_err(|source| LedgerError::Encoding {
                field: "root",
                source,
            })?,
            schema_version: r.schema_version,
            challenge_window: r.challenge_window,
            max_expiry_delta: r.max_expiry_delta,
            minted: Value(r.minted),
            pool: Value(r.pool),
            escrowed: Value(r.escrowed),
            staked: Value(r.staked),
            monitor_staked: Value(r.monitor_staked),
            burnt: Value(r.burnt),
        })
    }
}
