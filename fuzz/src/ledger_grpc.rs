//! Every handler of the ledger's gRPC service (`veil.ledger.v1.Ledger`,
//! docs/protocol.md §8.5, §8.6), called in process through the
//! tonic-generated trait on a real [`LedgerService`] over an embedded
//! in-memory ledger that verifies with the development keys (adversarial
//! C9, structure-aware).
//!
//! An input is a selector byte (which handler, [`RPCS`]) and the request's
//! protobuf bytes. Properties: decoding and the call never panic; a refusal
//! carries a client-fault code ([`super::assert_refusal`]); a refused call
//! leaves the ledger's status (height, commitments, root, minted, pool)
//! and its market (reserve, supply) unchanged; a commitment stream ends.

use std::sync::OnceLock;

use prost::Message;
use tokio_stream::StreamExt;
use tonic::{Request, Status};
use veil_ledger::service::LedgerService;
use veil_ledger::{EmbeddedLedger, LedgerApi, LedgerConfig};
use veil_proto::ledger::v1::{self as pb, ledger_server::Ledger};

/// The handlers, in selector order (`data[0] % RPCS.len()`).
pub const RPCS: &[&str] = &[
    "Deposit",
    "OpenEscrow",
    "Settle",
    "Reclaim",
    "Withdraw",
    "RegisterNode",
    "GetNode",
    "GetEscrow",
    "GetNullifier",
    "GetBalance",
    "GetRoots",
    "StreamCommitments",
    "Status",
    "Faucet",
    "UpdateNode",
    "ListNodes",
    "Trade",
    "GetMarket",
    "ExitNode",
    "RegisterMonitor",
    "SubmitReport",
    "GetMonitor",
    "ChallengeNode",
    "AnswerChallenge",
    "GetChallenges",
    "ExitMonitor",
];

struct World {
    rt: tokio::runtime::Runtime,
    ledger: EmbeddedLedger,
    service: LedgerService,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = LedgerConfig {
            // The faucet mints, so deposits and registrations can be paid.
            dev_faucet: true,
            ..LedgerConfig::default()
        };
        let ledger = match EmbeddedLedger::in_memory_with_dev_params(config) {
            Ok(l) => l,
            Err(e) => panic!("fuzz ledger: {e}"),
        };
        World {
            rt: super::runtime(),
            service: LedgerService::new(ledger.clone()),
            ledger,
        }
    })
}

/// The target: one call of the handler `data[0]` selects.
pub fn ledger_grpc(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let w = world();
    let rpc = RPCS[usize::from(selector) % RPCS.len()];
    w.rt.block_on(async {
        let before = (w.ledger.status().await, w.ledger.market().await);
        let outcome = call(&w.service, rpc, message).await;
        super::trace(rpc, outcome.as_ref());
        let Some(outcome) = outcome else {
            return;
        };
        if let Err(status) = outcome {
            super::assert_refusal(rpc, &status);
            let after = (w.ledger.status().await, w.ledger.market().await);
            assert_eq!(
                (after.0.ok(), after.1.ok()),
                (before.0.ok(), before.1.ok()),
                "{rpc} was refused ({status:?}) but changed the ledger"
            );
        }
    });
}

/// Decodes `message` as the request of `rpc` and calls its handler; `None`
/// when the bytes are not that request.
async fn call(s: &LedgerService, rpc: &str, message: &[u8]) -> Option<Result<(), Status>> {
    macro_rules! unary {
        ($method:ident, $request:ty) => {{
            let request = <$request>::decode(message).ok()?;
            s.$method(Request::new(request)).await.map(drop)
        }};
    }
    Some(match rpc {
        "Deposit" => unary!(deposit, pb::DepositRequest),
        "OpenEscrow" => unary!(open_escrow, pb::OpenEscrowRequest),
        "Settle" => unary!(settle, pb::SettleRequest),
        "Reclaim" => unary!(reclaim, pb::ReclaimRequest),
        "Withdraw" => unary!(withdraw, pb::WithdrawRequest),
        "RegisterNode" => unary!(register_node, pb::RegisterNodeRequest),
        "GetNode" => unary!(get_node, pb::GetNodeRequest),
        "ListNodes" => unary!(list_nodes, pb::ListNodesRequest),
        "GetEscrow" => unary!(get_escrow, pb::GetEscrowRequest),
        "GetNullifier" => unary!(get_nullifier, pb::GetNullifierRequest),
        "GetBalance" => unary!(get_balance, pb::GetBalanceRequest),
        "GetRoots" => unary!(get_roots, pb::GetRootsRequest),
        "StreamCommitments" => {
            let request = pb::StreamCommitmentsRequest::decode(message).ok()?;
            match s.stream_commitments(Request::new(request)).await {
                Ok(stream) => drain(stream.into_inner()).await,
                Err(e) => Err(e),
            }
        }
        "Status" => unary!(status, pb::StatusRequest),
        "Faucet" => unary!(faucet, pb::FaucetRequest),
        "UpdateNode" => unary!(update_node, pb::UpdateNodeRequest),
        "Trade" => unary!(trade, pb::TradeRequest),
        "GetMarket" => unary!(get_market, pb::GetMarketRequest),
        "ExitNode" => unary!(exit_node, pb::ExitNodeRequest),
        "RegisterMonitor" => unary!(register_monitor, pb::RegisterMonitorRequest),
        "SubmitReport" => unary!(submit_report, pb::SubmitReportRequest),
        "GetMonitor" => unary!(get_monitor, pb::GetMonitorRequest),
        "ChallengeNode" => unary!(challenge_node, pb::ChallengeNodeRequest),
        "AnswerChallenge" => unary!(answer_challenge, pb::AnswerChallengeRequest),
        "GetChallenges" => unary!(get_challenges, pb::GetChallengesRequest),
        "ExitMonitor" => unary!(exit_monitor, pb::ExitMonitorRequest),
        other => unreachable!("no handler {other}"),
    })
}

/// Reads a commitment stream to its end; each batch starts where the last
/// ended.
async fn drain(
    mut stream: impl tokio_stream::Stream<Item = Result<pb::CommitmentBatch, Status>> + Unpin,
) -> Result<(), Status> {
    let mut next = None;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if let Some(n) = next {
            assert_eq!(batch.first_index, n, "commitment batches out of order");
        }
        next = Some(batch.first_index + batch.commitments.len() as u64);
    }
    Ok(())
}

/// The committed seeds (`fuzz/corpus/ledger_grpc/seed-<name>`): one
/// well-formed request per handler, made from the other targets' seeds.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let field = |v: u8| {
        let mut b = vec![0u8; 32];
        b[31] = v;
        b
    };
    // The empty canonical node profile (docs/protocol.md §8.3.9).
    const PROFILE_SEED: [u8; 15] = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let messages: Vec<(&str, Vec<u8>)> = vec![
        (
            "Deposit",
            pb::DepositRequest {
                account: field(1),
                value: 100,
                addr: field(2),
                account_key: include_bytes!("../corpus/primitives_decode/seed-key").to_vec(),
                nonce: 0,
                signature: include_bytes!("../corpus/primitives_decode/seed-signature").to_vec(),
            }
            .encode_to_vec(),
        ),
        (
            "OpenEscrow",
            include_bytes!("../corpus/ledger_proto/seed-open").to_vec(),
        ),
        (
            "Settle",
            include_bytes!("../corpus/ledger_proto/seed-settle").to_vec(),
        ),
        (
            "Reclaim",
            pb::ReclaimRequest {
                session_id: field(3),
            }
            .encode_to_vec(),
        ),
        (
            "Withdraw",
            include_bytes!("../corpus/ledger_proto/seed-withdraw").to_vec(),
        ),
        (
            "RegisterNode",
            pb::RegisterNodeRequest {
                node_id: field(4),
                account: field(1),
                price_per_kib: 1,
                escrow_sizes: vec![4096],
                stake: 0,
                tls_key_hash: vec![7; 32],
                node_key: include_bytes!("../corpus/primitives_decode/seed-key").to_vec(),
                signature: include_bytes!("../corpus/primitives_decode/seed-signature").to_vec(),
                account_key: include_bytes!("../corpus/primitives_decode/seed-key").to_vec(),
                account_nonce: 0,
                account_signature: include_bytes!("../corpus/primitives_decode/seed-signature")
                    .to_vec(),
                profile: PROFILE_SEED.to_vec(),
            }
            .encode_to_vec(),
        ),
        (
            "GetNode",
            pb::GetNodeRequest { node_id: field(4) }.encode_to_vec(),
        ),
        (
            "ListNodes",
            pb::ListNodesRequest {
                start_after: field(4),
                limit: 10,
            }
            .encode_to_vec(),
        ),
        (
            "GetEscrow",
            pb::GetEscrowRequest {
                session_id: field(3),
            }
            .encode_to_vec(),
        ),
        (
            "GetNullifier",
            pb::GetNullifierRequest {
                nullifier: field(5),
            }
            .encode_to_vec(),
        ),
        (
            "GetBalance",
            pb::GetBalanceRequest { account: field(1) }.encode_to_vec(),
        ),
        ("GetRoots", Vec::new()),
        (
            "StreamCommitments",
            pb::StreamCommitmentsRequest { from_index: 0 }.encode_to_vec(),
        ),
        ("Status", Vec::new()),
        (
            "Faucet",
            pb::FaucetRequest {
                account: field(1),
                amount: 1000,
            }
            .encode_to_vec(),
        ),
        (
            "UpdateNode",
            pb::UpdateNodeRequest {
                node_id: field(4),
                account: field(1),
                sequence: 1,
                price_per_kib: 2,
                escrow_sizes: vec![4096, 8192],
                tls_key_hash: vec![8; 32],
                node_key: include_bytes!("../corpus/primitives_decode/seed-key").to_vec(),
                signature: include_bytes!("../corpus/primitives_decode/seed-signature").to_vec(),
                account_key: include_bytes!("../corpus/primitives_decode/seed-key").to_vec(),
                account_nonce: 1,
                account_signature: include_bytes!("../corpus/primitives_decode/seed-signature")
                    .to_vec(),
                profile: PROFILE_SEED.to_vec(),
            }
            .encode_to_vec(),
        ),
        ("Trade", trade_seed()),
        ("ExitNode", exit_seed()),
        ("RegisterMonitor", monitor_seed()),
        ("SubmitReport", report_seed()),
        (
            "GetMonitor",
            pb::GetMonitorRequest { account: field(1) }.encode_to_vec(),
        ),
        (
            "GetMarket",
            pb::GetMarketRequest { account: field(1) }.encode_to_vec(),
        ),
        ("ChallengeNode", challenge_seed()),
        ("ExitMonitor", monitor_exit_seed()),
        ("AnswerChallenge", answer_seed()),
        (
            "GetChallenges",
            pb::GetChallengesRequest { node_id: field(1) }.encode_to_vec(),
        ),
    ];
    messages
        .into_iter()
        .map(|(rpc, body)| {
            let selector = RPCS.iter().position(|r| *r == rpc).unwrap_or(0) as u8;
            let mut input = vec![selector];
            input.extend_from_slice(&body);
            (rpc.to_ascii_lowercase(), input)
        })
        .collect()
}

/// A buy signed by a key of its own (its account holds nothing: refused
/// for its balance, after every check before it passed).
fn trade_seed() -> Vec<u8> {
    use veil_ledger::trade::{Order, Tokens, TradeRequest};
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let order = Order::Buy {
        spend: veil_ledger::types::Value(100),
        min_tokens: Tokens(1),
    };
    veil_ledger::convert::trade_to_pb(&TradeRequest::signed(&key, 0, order)).encode_to_vec()
}

/// A retirement signed by a key of its own, for a node nobody registered
/// (refused as unknown, after the signature passed).
fn exit_seed() -> Vec<u8> {
    use veil_ledger::exit::{ExitRequest, ExitStep};
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let node = key.verifying_key().node_id();
    veil_ledger::convert::exit_to_pb(&ExitRequest::signed(&key, 0, node, ExitStep::Retire))
        .encode_to_vec()
}

/// A monitor registration signed by a key of its own (its account holds
/// nothing: refused for its balance, after the signature passed).
fn monitor_seed() -> Vec<u8> {
    use veil_ledger::monitor::MonitorRegistration;
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let m = MonitorRegistration::signed(&key, 0, veil_ledger::types::Value(100));
    veil_ledger::convert::monitor_registration_to_pb(&m).encode_to_vec()
}

/// A report signed by a key of its own, which is no monitor (refused as
/// such, after the signature passed).
fn report_seed() -> Vec<u8> {
    use veil_ledger::monitor::{AuditReport, Measurement};
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let measured = Measurement {
        throughput_kbps: 50_000,
        rtt_ms: 40,
        challenges_ok: 3,
        challenges_failed: 0,
    };
    let node = key.verifying_key().node_id();
    let r = AuditReport::signed(&key, 0, 0, node, measured);
    veil_ledger::convert::report_to_pb(&r).encode_to_vec()
}

/// A challenge signed by a key of its own, which is no monitor (refused as
/// such, after the signature passed).
fn challenge_seed() -> Vec<u8> {
    use veil_ledger::challenge::ChallengeRequest;
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let node = key.verifying_key().node_id();
    let r = ChallengeRequest::signed(&key, 0, 0, node);
    veil_ledger::convert::challenge_request_to_pb(&r).encode_to_vec()
}

/// A well-formed answer to a challenge nobody made (refused as unknown).
fn answer_seed() -> Vec<u8> {
    use veil_ledger::challenge::{ChallengeAnswer, ChallengeKey, ChallengeRecord, ChallengeState};
    use veil_ledger::types::{BlockHeight, MerkleRoot};
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let record = ChallengeRecord {
        key: ChallengeKey {
            node_id: key.verifying_key().node_id(),
            epoch: 0,
            monitor: key.verifying_key().account_id(),
        },
        root: MerkleRoot::empty(),
        issued_at: BlockHeight(0),
        deadline: BlockHeight(100),
        nonce: 0,
        state: ChallengeState::Open,
    };
    veil_ledger::convert::answer_to_pb(&ChallengeAnswer::sign(&key, &record)).encode_to_vec()
}

/// A retirement signed by a key of its own, which is no monitor (refused as
/// such, after the signature passed).
fn monitor_exit_seed() -> Vec<u8> {
    use veil_ledger::exit::ExitStep;
    use veil_ledger::monitor::MonitorExitRequest;
    let Some(key) = veil_primitives::eddsa::SigningKey::from_seed([1; 32]) else {
        return Vec::new();
    };
    let x = MonitorExitRequest::signed(&key, 0, ExitStep::Retire);
    veil_ledger::convert::monitor_exit_to_pb(&x).encode_to_vec()
}
