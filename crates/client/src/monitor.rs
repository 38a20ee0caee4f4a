//! An audit as an ordinary session (docs/market.md §7.1, §6.3): a monitor
//! opens a normal paid session with the node it is assigned — the same
//! access token, terms, relay, receipts and challenges as any client, so
//! the node's view of it is a client's — fetches a stated number of bytes
//! from a measurement target through it, times the transfer and the
//! session's bandwidth challenge, and turns them into the [`Measurement`]
//! it signs into a report (`SubmitReport`, docs/protocol.md §8.3.13).
//!
//! The target is any server answering `GET /N` with `N` bytes of the
//! pattern `i mod 65536 mod 251` ([`serve_target`]): the monitor checks
//! every byte, so a node cannot answer faster with other bytes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::{CryptoRng, RngCore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use veil_ledger::LedgerApi;
use veil_ledger::challenge::{ChallengeRecord, ChallengeRequest};
use veil_ledger::monitor::{
    AuditReport, Measurement, MonitorRecord, MonitorRegistration, StoredReport,
};
use veil_ledger::types::{NodeId, Value};
use veil_primitives::eddsa::SigningKey;
use veil_proofs::Prover;

use crate::error::ClientError;
use crate::flow::{finish_session, start_session};
use crate::relay::Relay;
use crate::session::NodeConnection;
use crate::socks5::Target;
use crate::sync::LocalTree;
use crate::wallet::Wallet;

/// What one audit fetches. Its only bandwidth challenge is the one every
/// session sends when it starts (`flow::start_session`), whose round trip
/// is the reported RTT: a monitor sends nothing a client would not.
#[derive(Clone, Debug)]
pub struct AuditPlan {
    pub target: Target,
    /// Body bytes fetched through the node.
    pub bytes: u64,
}

/// How long a transfer may take before the node is reported as delivering
/// nothing: a node that stalls is measured, not waited for.
pub const TRANSFER_DEADLINE: Duration = Duration::from_secs(120);

/// What was observed, before it becomes a report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub body_bytes: u64,
    pub transfer: Duration,
    pub rtts: Vec<Duration>,
    pub challenges_failed: u32,
}

impl Observed {
    /// The report's values: throughput over the transfer (kbit/s, rounded
    /// down), the upper median challenge round trip (ms, rounded up), the
    /// challenges answered and failed.
    pub fn measurement(&self) -> Measurement {
        let micros = self.transfer.as_micros().max(1);
        let kbps = u128::from(self.body_bytes) * 8 * 1_000 / micros;
        let mut rtts: Vec<u128> = self.rtts.iter().map(Duration::as_micros).collect();
        rtts.sort_unstable();
        let rtt_us = rtts.get(rtts.len() / 2).copied().unwrap_or(0);
        Measurement {
            throughput_kbps: u64::try_from(kbps).unwrap_or(u64::MAX),
            rtt_ms: u32::try_from(rtt_us.div_ceil(1_000)).unwrap_or(u32::MAX),
            challenges_ok: u32::try_from(self.rtts.len()).unwrap_or(u32::MAX),
            challenges_failed: self.challenges_failed,
        }
    }
}

/// One audit of the node at `node`: an ordinary session of `escrow` paid
/// from `wallet` (the intent `audit:EPOCH:NODE`, so a retry resumes it,
/// F6), `plan` run over it, the session closed and its receipts recorded.
/// A node that fails the session's challenge is observed as such (nothing
/// delivered, one challenge failed): the client's code path refuses it
/// there, before any byte is paid for.
#[allow(clippy::too_many_arguments)]
pub async fn audit<L: LedgerApi, R: RngCore + CryptoRng>(
    ledger: &L,
    node: &mut NodeConnection,
    prover: &Prover,
    wallet: &mut Wallet,
    tree: &mut LocalTree,
    escrow: u64,
    epoch: u64,
    plan: &AuditPlan,
    rng: &mut R,
) -> Result<Observed, ClientError> {
    let node_id = node.terms().await?.node_id;
    let intent = format!("audit:{epoch}:{node_id}");
    let live = match start_session(ledger, node, prover, wallet, tree, escrow, &intent, rng).await {
        Ok(live) => live,
        Err(ClientError::ChallengeFailed) => {
            return Ok(Observed {
                challenges_failed: 1,
                ..Observed::default()
            });
        }
        Err(e) => return Err(e),
    };
    let observed = observe(&live.relay, plan).await.map(|mut o| {
        o.rtts = vec![Duration::from_micros(
            u64::try_from(live.first_rtt_us).unwrap_or(u64::MAX),
        )];
        o
    });
    finish_session(wallet, &live)?;
    observed
}

/// Signs `measured` as the monitor of `key`'s report on `node` for
/// `epoch`, at the account's next nonce, and submits it (on a ledger that
/// authenticates its sender, as the sender, unsigned).
pub async fn report<L: LedgerApi>(
    ledger: &L,
    key: &SigningKey,
    epoch: u64,
    node: NodeId,
    measured: Measurement,
) -> Result<StoredReport, ClientError> {
    if let Some(me) = ledger.acting_account() {
        let r = AuditReport::from_sender(me, epoch, node, measured);
        return Ok(ledger.submit_report(r).await?);
    }
    let nonce = ledger
        .account(key.verifying_key().account_id())
        .await?
        .next_nonce;
    let r = AuditReport::signed(key, nonce, epoch, node, measured);
    Ok(ledger.submit_report(r).await?)
}

/// Registers the monitor of `key` with `stake` (docs/protocol.md
/// §8.3.13): on a chain the sender is the monitor; elsewhere its account
/// key signs at the account's next nonce.
pub async fn register<L: LedgerApi>(
    ledger: &L,
    key: &SigningKey,
    stake: Value,
) -> Result<MonitorRecord, ClientError> {
    let registration = match ledger.acting_account() {
        Some(me) => MonitorRegistration::from_sender(me, stake),
        None => {
            let nonce = ledger
                .account(key.verifying_key().account_id())
                .await?
                .next_nonce;
            MonitorRegistration::signed(key, nonce, stake)
        }
    };
    Ok(ledger.register_monitor(registration).await?)
}

/// Challenges `node` on the ledger for `epoch` as the monitor of `key`
/// (docs/protocol.md §8.3.14), at the account's next nonce (on a chain:
/// as the sender, and the EVM ledger answers `Unsupported`): the node must
/// answer with its key within the answer window or lose its stake.
pub async fn challenge<L: LedgerApi>(
    ledger: &L,
    key: &SigningKey,
    epoch: u64,
    node: NodeId,
) -> Result<ChallengeRecord, ClientError> {
    let r = match ledger.acting_account() {
        Some(me) => ChallengeRequest::from_sender(me, epoch, node),
        None => {
            let nonce = ledger
                .account(key.verifying_key().account_id())
                .await?
                .next_nonce;
            ChallengeRequest::signed(key, nonce, epoch, node)
        }
    };
    Ok(ledger.challenge_node(r).await?)
}

/// Runs `plan` over an open session's relay: the transfer, timed. What
/// the node is to blame for is counted as nothing delivered (it is what
/// the report is for): a transfer that stalls past [`TRANSFER_DEADLINE`],
/// and one that fails or returns other bytes while the target, asked
/// directly, serves ([`probe`]). A failure the node is not to blame for is
/// an error, and nothing is reported: the target down, or a destination
/// the node's egress policy refuses (its published rule, the same for
/// every client).
pub async fn observe(relay: &Relay, plan: &AuditPlan) -> Result<Observed, ClientError> {
    let t = Instant::now();
    let fetched =
        tokio::time::timeout(TRANSFER_DEADLINE, fetch(relay, &plan.target, plan.bytes)).await;
    let body_bytes = match fetched {
        Ok(Ok(n)) => n,
        Err(_) => 0, // stalled: nothing delivered within the deadline
        Ok(Err(e @ ClientError::EgressDenied(_))) => return Err(e),
        Ok(Err(e)) => match probe(&plan.target).await {
            Ok(()) => 0, // the target serves: the node failed the transfer
            Err(_) => return Err(e),
        },
    };
    Ok(Observed {
        body_bytes,
        transfer: t.elapsed(),
        ..Observed::default()
    })
}

/// How long [`probe`] waits for the target.
const PROBE_DEADLINE: Duration = Duration::from_secs(10);

/// Asks the target directly, not through any node, for `GET /1` and
/// checks the byte: whether a failed transfer is the target's fault. The
/// target learns the monitor's address (it is usually the monitor's own).
pub async fn probe(target: &Target) -> Result<(), ClientError> {
    let io = |e: std::io::Error| ClientError::Protocol(format!("target {target}: {e}"));
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(target.to_string())
            .await
            .map_err(io)?;
        s.write_all(format!("GET /1 HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())
            .await
            .map_err(io)?;
        let mut reply = Vec::new();
        (&mut s)
            .take(MAX_HEADER_BYTES + 2)
            .read_to_end(&mut reply)
            .await
            .map_err(io)?;
        check_body(&reply, 1).map(|_| ())
    };
    tokio::time::timeout(PROBE_DEADLINE, ask)
        .await
        .map_err(|_| ClientError::Protocol(format!("target {target}: no answer")))?
}

/// `GET /n` from `target` through the relay; checks the status line, the
/// length and every byte of the body; returns the body length.
async fn fetch(relay: &Relay, target: &Target, n: u64) -> Result<u64, ClientError> {
    let stream = relay.open_stream(target).await?;
    let (mut local, remote) = tokio::io::duplex(256 * 1024);
    let pump = tokio::spawn(stream.pump(remote));
    local
        .write_all(format!("GET /{n} HTTP/1.0\r\nHost: {target}\r\n\r\n").as_bytes())
        .await
        .map_err(|e| ClientError::Protocol(format!("audit request: {e}")))?;
    // At most the body and a header's worth: the node cannot make the
    // monitor hold more than it asked for.
    let cap = n.saturating_add(MAX_HEADER_BYTES);
    let mut reply = Vec::new();
    (&mut local)
        .take(cap.saturating_add(1))
        .read_to_end(&mut reply)
        .await
        .map_err(|e| ClientError::Protocol(format!("audit transfer: {e}")))?;
    drop(local);
    // The node frees the stream after our side closes; one that does not
    // is not waited for.
    let _ = tokio::time::timeout(Duration::from_secs(10), pump).await;
    if reply.len() as u64 > cap {
        return Err(ClientError::Protocol(format!(
            "audit target: more than {n} body bytes and a header"
        )));
    }
    check_body(&reply, n)
}

/// Room for the target's status line and headers.
const MAX_HEADER_BYTES: u64 = 8 * 1024;

fn check_body(reply: &[u8], n: u64) -> Result<u64, ClientError> {
    let bad = |m: &str| ClientError::Protocol(format!("audit target: {m}"));
    let at = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header"))?;
    let head = String::from_utf8_lossy(reply.get(..at).unwrap_or_default());
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(bad("not 200 OK"));
    }
    let body = reply.get(at + 4..).unwrap_or_default();
    if body.len() as u64 != n {
        return Err(bad(&format!("{} body bytes, asked {n}", body.len())));
    }
    if !body.iter().enumerate().all(|(i, b)| *b == pattern(i)) {
        return Err(bad("body bytes differ from the pattern"));
    }
    Ok(n)
}

/// Byte `i` of every body the target serves.
pub fn pattern(i: usize) -> u8 {
    ((i % 65_536) % 251) as u8
}

/// Largest body [`serve_target`] sends.
pub const MAX_TARGET_BYTES: usize = 256 << 20;

/// A measurement target on `listener`: `GET /N` answers `N` bytes (at most
/// [`MAX_TARGET_BYTES`]) of the pattern, then closes. Runs until dropped.
pub async fn serve_target(listener: TcpListener) {
    while let Ok((s, _)) = listener.accept().await {
        tokio::spawn(answer(s));
    }
}

async fn answer(mut s: tokio::net::TcpStream) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
    let line = String::from_utf8_lossy(&req);
    let n: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.trim_start_matches('/').parse().ok())
        .unwrap_or(1024)
        .min(MAX_TARGET_BYTES);
    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {n}\r\nConnection: close\r\n\r\n");
    if s.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let chunk: Vec<u8> = (0..65_536).map(pattern).collect();
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        if s.write_all(chunk.get(..k).unwrap_or_default())
            .await
            .is_err()
        {
            return;
        }
        left -= k;
    }
    let _ = s.shutdown().await;
}

/// Binds a target on `addr` and serves it in the background; returns its
/// address.
pub async fn spawn_target(addr: SocketAddr) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind(addr).await?;
    let bound = l.local_addr()?;
    tokio::spawn(serve_target(l));
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throughput_and_rtt_are_computed_and_rounded_against_the_node() {
        let o = Observed {
            body_bytes: 1_000_000,
            transfer: Duration::from_millis(800),
            rtts: vec![
                Duration::from_micros(4_100),
                Duration::from_micros(900),
                Duration::from_micros(2_000),
            ],
            challenges_failed: 1,
        };
        let m = o.measurement();
        // 8,000,000 bits in 0.8 s = 10,000 kbit/s; RTT median 2.0 ms.
        assert_eq!(m.throughput_kbps, 10_000);
        assert_eq!(m.rtt_ms, 2);
        assert_eq!((m.challenges_ok, m.challenges_failed), (3, 1));
        // Rounding: 1 byte in 3 µs is 2,666.67 kbit/s → 2,666.
        let tiny = Observed {
            body_bytes: 1,
            transfer: Duration::from_micros(3),
            ..Observed::default()
        };
        assert_eq!(tiny.measurement().throughput_kbps, 2_666);
        assert_eq!(tiny.measurement().rtt_ms, 0);
    }

    #[test]
    fn a_body_is_accepted_only_whole_and_exact() {
        let body: Vec<u8> = (0..70_000).map(pattern).collect();
        let mut reply = b"HTTP/1.0 200 OK\r\nContent-Length: 70000\r\n\r\n".to_vec();
        reply.extend_from_slice(&body);
        assert_eq!(check_body(&reply, 70_000).ok(), Some(70_000));
        assert!(check_body(&reply, 70_001).is_err(), "short");
        let mut altered = reply.clone();
        if let Some(b) = altered.last_mut() {
            *b ^= 1;
        }
        assert!(check_body(&altered, 70_000).is_err(), "altered");
        let not_ok = [b"HTTP/1.0 404 Not Found\r\n\r\n".as_slice(), &body].concat();
        assert!(check_body(&not_ok, 70_000).is_err(), "status");
        assert!(check_body(&body, 70_000).is_err(), "no header");
    }

    #[tokio::test]
    async fn the_target_serves_the_pattern() {
        let addr = spawn_target(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("target");
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /100000 HTTP/1.0\r\n\r\n")
            .await
            .expect("write");
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.expect("read");
        assert_eq!(check_body(&reply, 100_000).ok(), Some(100_000));
    }
}
