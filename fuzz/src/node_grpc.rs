//! Every handler of the node's gRPC service (`veil.node.v1.Node`,
//! docs/protocol.md §9.2), on a real node over loopback plaintext gRPC: an
//! embedded in-memory ledger and the node's production proof backend with
//! the development keys (adversarial C9, structure-aware). The node's
//! service type is private to `veil-node`, so the calls go through its
//! gRPC server, as a client's would. Egress is denied everywhere: no input
//! makes the node connect anywhere.
//!
//! [`node_grpc`]: a selector byte (which unary handler, [`RPCS`]) and the
//! request's protobuf bytes. [`node_relay`]: a `Relay` call fed the frames
//! of the input ([`frames`]), then closed. Properties: nothing panics (in
//! any thread: the drivers fail on a panic hook); a refusal carries a
//! client-fault code ([`super::assert_refusal`]); a refused call leaves
//! the node's sessions, streams and earnings unchanged; a relay ends once
//! the client closes its side.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use prost::Message;
use tonic::transport::Channel;
use tonic::{Request, Status};
use veil_ledger::{EmbeddedLedger, LedgerConfig};
use veil_node::egress::{Cidr, EgressPolicy};
use veil_node::proofs_backend::{ProofsProver, ProofsVerifier};
use veil_node::{NodeConfig, NodeHandle, NodeStatus, Transport};
use veil_primitives::value::Value;
use veil_proofs::{KeySet, ParamStore};
use veil_proto::node::v1::{self as pb, WIRE_VERSION, client_frame, node_client::NodeClient};

/// The unary handlers, in selector order (`data[0] % RPCS.len()`).
pub const RPCS: &[&str] = &[
    "GetTerms",
    "OpenSession",
    "Status",
    "BuyVoucher",
    "VoucherChallenge",
    "ExchangeVoucher",
];

/// At most this many frames of one input are sent on a relay.
pub const MAX_FRAMES: usize = 32;

/// A relay that has not ended this long after its client closed is hung.
const RELAY_END: Duration = Duration::from_secs(30);

struct World {
    rt: tokio::runtime::Runtime,
    node: NodeHandle,
    client: NodeClient<Channel>,
    // The node's directory, kept for the life of the process.
    _dir: tempfile::TempDir,
}

/// One case at a time on the shared node: the harness runs the unary and
/// the relay targets on parallel test threads, and a relay open during a
/// refused unary call would look like a change the call made.
fn one_case() -> MutexGuard<'static, ()> {
    static CASE: Mutex<()> = Mutex::new(());
    CASE.lock().unwrap_or_else(|e| e.into_inner())
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| match start() {
        Ok(w) => w,
        Err(e) => panic!("fuzz node: {e}"),
    })
}

fn start() -> Result<World, String> {
    let rt = super::runtime();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ledger = EmbeddedLedger::in_memory_with_dev_params(LedgerConfig::default())
        .map_err(|e| e.to_string())?;
    let store = ParamStore::open_default(KeySet::Dev).map_err(|e| e.to_string())?;
    let verifier = ProofsVerifier::load(&store).map_err(|e| e.to_string())?;
    let config = config(dir.path().to_path_buf())?;
    let (node, client) = rt.block_on(async {
        let node = veil_node::spawn_with(
            config,
            ledger,
            Arc::new(verifier),
            Arc::new(ProofsProver::new(store)),
            std::future::pending(),
        )
        .await
        .map_err(|e| e.to_string())?;
        let client = NodeClient::connect(format!("http://{}", node.local_addr))
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((node, client))
    })?;
    Ok(World {
        rt,
        node,
        client,
        _dir: dir,
    })
}

/// A plaintext node on loopback that bans nobody (every input comes from
/// one address), keeps its one unpaid client connection, and reaches no
/// destination.
fn config(dir: std::path::PathBuf) -> Result<NodeConfig, String> {
    let listen = (Ipv4Addr::LOCALHOST, 0).into();
    let mut c = NodeConfig::new(listen, dir, Value(1), vec![Value(4096)]);
    c.transport = Transport::InsecurePlaintext;
    let v4 = Cidr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).ok_or("cidr")?;
    let v6 = Cidr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0).ok_or("cidr")?;
    c.egress = EgressPolicy::new().deny_range(v4).deny_range(v6);
    c.limits.ban_after_failures = u32::MAX;
    c.limits.max_connections_per_address = c.limits.max_connections;
    c.limits.relay_idle_timeout = Duration::from_secs(5);
    // The one client connection is never paid: the node would close it
    // after the unpaid-idle timeout (C6, tested in crates/node/tests/limits.rs)
    // and fail the call in flight, which is not the handler's fault.
    c.limits.unpaid_idle_timeout = Duration::from_secs(24 * 3600);
    Ok(c)
}

/// What a refused call must leave as it was.
fn state(s: NodeStatus) -> [u64; 6] {
    [
        s.sessions_open,
        s.sessions_total,
        s.streams_open,
        s.bytes_relayed,
        s.pending_settlement,
        s.total_paid,
    ]
}

/// The unary target: one call of the handler `data[0]` selects.
pub fn node_grpc(data: &[u8]) {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let _one = one_case();
    let w = world();
    let rpc = RPCS[usize::from(selector) % RPCS.len()];
    let before = state(w.node.status());
    let outcome = w.rt.block_on(call(w.client.clone(), rpc, message));
    super::trace(rpc, outcome.as_ref());
    let Some(outcome) = outcome else {
        return;
    };
    if let Err(status) = outcome {
        super::assert_refusal(rpc, &status);
        assert_eq!(
            state(w.node.status()),
            before,
            "{rpc} was refused ({status:?}) but changed the node"
        );
    }
}

/// Decodes `message` as the request of `rpc` and sends it; `None` when the
/// bytes are not that request.
async fn call(mut c: NodeClient<Channel>, rpc: &str, message: &[u8]) -> Option<Result<(), Status>> {
    macro_rules! unary {
        ($method:ident, $request:ty) => {{
            let request = <$request>::decode(message).ok()?;
            c.$method(Request::new(request)).await.map(drop)
        }};
    }
    Some(match rpc {
        "GetTerms" => unary!(get_terms, pb::GetTermsRequest),
        "OpenSession" => unary!(open_session, pb::OpenSessionRequest),
        "Status" => unary!(status, pb::StatusRequest),
        "BuyVoucher" => unary!(buy_voucher, pb::BuyVoucherRequest),
        "VoucherChallenge" => unary!(voucher_challenge, pb::VoucherChallengeRequest),
        "ExchangeVoucher" => unary!(exchange_voucher, pb::ExchangeVoucherRequest),
        other => unreachable!("no handler {other}"),
    })
}

/// The frames of a relay input: each a big-endian `u16` length and that
/// many bytes of a `ClientFrame` (a short tail is taken whole); bytes that
/// are not a frame are skipped.
pub fn frames(mut data: &[u8]) -> Vec<pb::ClientFrame> {
    let mut out = Vec::new();
    while let [hi, lo, rest @ ..] = data {
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let (frame, tail) = rest.split_at(len.min(rest.len()));
        data = tail;
        if let Ok(f) = pb::ClientFrame::decode(frame) {
            out.push(f);
        }
        if out.len() == MAX_FRAMES {
            break;
        }
    }
    out
}

/// The relay target: one `Relay` call fed the input's frames, then closed;
/// every answer is read until the call ends.
pub fn node_relay(data: &[u8]) {
    let _one = one_case();
    let w = world();
    let frames = frames(data);
    let sent = frames.len();
    let before = state(w.node.status());
    let ended = w.rt.block_on(async {
        let mut c = w.client.clone();
        let outbound = tokio_stream::iter(frames);
        tokio::time::timeout(RELAY_END, async move {
            let mut inbound = c.relay(Request::new(outbound)).await?.into_inner();
            while inbound.message().await?.is_some() {}
            Ok::<(), Status>(())
        })
        .await
    });
    if let Ok(outcome) = &ended {
        super::trace(&format!("Relay({sent} frames)"), Some(outcome));
    }
    match ended {
        Err(_) => panic!("a relay did not end after its client closed"),
        Ok(Err(status)) => super::assert_refusal("Relay", &status),
        Ok(Ok(())) => {}
    }
    // No input opens a session (tokens are only valid with a proof), so a
    // relay can neither open a stream nor move bytes or money.
    assert_eq!(state(w.node.status()), before, "a relay changed the node");
}

/// The committed seeds of `node_grpc` and `node_relay`: one well-formed
/// request per unary handler, and relays of each frame kind, made from the
/// other targets' seeds.
pub fn seeds() -> (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>) {
    let token = include_bytes!("../corpus/proofs_decode/seed-access").to_vec();
    let key = include_bytes!("../corpus/primitives_decode/seed-key").to_vec();
    let receipt = include_bytes!("../corpus/primitives_decode/seed-receipt").to_vec();
    let signature = include_bytes!("../corpus/primitives_decode/seed-signature").to_vec();
    let session_id = include_bytes!("../corpus/primitives_decode/seed-field").to_vec();
    let unary: Vec<(&str, Vec<u8>)> = vec![
        (
            "GetTerms",
            pb::GetTermsRequest {
                version: WIRE_VERSION,
            }
            .encode_to_vec(),
        ),
        (
            "OpenSession",
            pb::OpenSessionRequest {
                version: WIRE_VERSION,
                access_token: token,
                session_public_key: key,
            }
            .encode_to_vec(),
        ),
        ("Status", Vec::new()),
        (
            "BuyVoucher",
            pb::BuyVoucherRequest {
                version: WIRE_VERSION,
                session_id: session_id.clone(),
                issuance_request: include_bytes!("../corpus/vouchers_decode/seed-issuance-request")
                    .to_vec(),
                full_receipt: receipt.clone(),
                authorization: signature.clone(),
            }
            .encode_to_vec(),
        ),
        (
            "VoucherChallenge",
            pb::VoucherChallengeRequest {
                version: WIRE_VERSION,
            }
            .encode_to_vec(),
        ),
        (
            "ExchangeVoucher",
            pb::ExchangeVoucherRequest {
                version: WIRE_VERSION,
                nonce: session_id.clone(),
                spend_request: include_bytes!("../corpus/vouchers_decode/seed-spend-request")
                    .to_vec(),
            }
            .encode_to_vec(),
        ),
    ];
    let unary = unary
        .into_iter()
        .map(|(rpc, body)| {
            let selector = RPCS.iter().position(|r| *r == rpc).unwrap_or(0) as u8;
            let mut input = vec![selector];
            input.extend_from_slice(&body);
            (rpc.to_ascii_lowercase(), input)
        })
        .collect();
    let open = client_frame::Frame::Open(pb::Open {
        payment: Some(pb::open::Payment::SessionId(session_id)),
        stream_id: 1,
        host: "127.0.0.1".into(),
        port: 80,
        session_auth: signature,
    });
    let data = client_frame::Frame::Data(pb::Data {
        stream_id: 1,
        bytes: b"GET / HTTP/1.0\r\n\r\n".to_vec(),
    });
    let receipt = client_frame::Frame::Receipt(pb::Receipt {
        signed_receipt: receipt,
    });
    let close = client_frame::Frame::Close(pb::Close { stream_id: 1 });
    let challenge = client_frame::Frame::Challenge(pb::Challenge {
        nonce: include_bytes!("../corpus/primitives_decode/seed-field").to_vec(),
    });
    let relay = |frames: Vec<client_frame::Frame>| {
        let mut input = Vec::new();
        for f in frames {
            let bytes = pb::ClientFrame { frame: Some(f) }.encode_to_vec();
            let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
            input.extend_from_slice(&len.to_be_bytes());
            input.extend_from_slice(&bytes);
        }
        input
    };
    let spend = client_frame::Frame::Open(pb::Open {
        payment: Some(pb::open::Payment::VoucherSpend(pb::VoucherSpend {
            nonce: include_bytes!("../corpus/primitives_decode/seed-field").to_vec(),
            spend_request: include_bytes!("../corpus/vouchers_decode/seed-spend-request").to_vec(),
        })),
        stream_id: 2,
        host: "example.com".into(),
        port: 443,
        session_auth: Vec::new(),
    });
    let relays = vec![
        (
            "session".to_owned(),
            relay(vec![open, data, receipt, close]),
        ),
        ("challenge".to_owned(), relay(vec![challenge])),
        ("voucher".to_owned(), relay(vec![spend])),
    ];
    (unary, relays)
}
