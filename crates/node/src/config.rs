//! Node configuration and limits (`docs/protocol.md` §9.7).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use veil_primitives::value::Value;

use crate::egress::EgressPolicy;
use veil_ledger::profile::Endpoint;

/// Resource limits (adversarial C1, C2, C4, C6).
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest gRPC message decoded (C1). Relay data frames are at most
    /// `max_frame_bytes`, tokens 337 bytes.
    pub max_message_bytes: usize,
    /// Largest relay data payload per frame.
    pub max_frame_bytes: usize,
    /// HTTP/2 concurrent streams per connection (C2).
    pub max_concurrent_streams: u32,
    /// Concurrent TCP connections to the node (C6). When all are held, a
    /// newcomer takes the place of the oldest unpaid connection of the
    /// largest holder (`crate::admission::Connections::accept`).
    pub max_connections: usize,
    /// Concurrent TCP connections from one address (an IPv4 address or an
    /// IPv6 /64); more are closed at accept (C6).
    pub max_connections_per_address: usize,
    /// A connection on which no Relay has opened a paid stream (§9.4) for
    /// this long — from accept, or since its last paid Relay ended — is
    /// closed, so unpaid connections cannot sit on slots (C6).
    pub unpaid_idle_timeout: Duration,
    /// Unary request timeout (C6).
    pub request_timeout: Duration,
    /// A connection must deliver its TLS handshake and the 24-byte HTTP/2
    /// preface within this time of being accepted, or it is closed and its
    /// connection slot freed (slowloris, C6).
    pub handshake_timeout: Duration,
    /// A Relay with no open stream and no client frame for this long is ended (C6).
    pub relay_idle_timeout: Duration,
    /// How long the node holds upstream bytes waiting for a receipt.
    pub receipt_wait: Duration,
    /// Upstream DNS + TCP connect timeout.
    pub connect_timeout: Duration,
    /// Concurrent TCP streams per Relay.
    pub max_streams_per_relay: usize,
    /// Groth16 verifications running or queued at once; beyond it
    /// OpenSession answers RESOURCE_EXHAUSTED (C4, C8).
    pub verify_queue: usize,
    /// Invalid tokens from one peer address before it is banned (C4);
    /// failures leak away at this many per `ban_duration`.
    pub ban_after_failures: u32,
    /// How long a ban lasts (C4).
    pub ban_duration: Duration,
    /// Addresses whose failures and bans are remembered at once (C4).
    pub ban_table_size: usize,
    /// The most the node relays toward its clients, all sessions together,
    /// in kbit/s; 0: no cap (`crate::pace`). A cap below the capacity the
    /// profile claims is under-delivery that audits slash.
    pub relay_limit_kbps: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            max_frame_bytes: 32 * 1024,
            max_concurrent_streams: 64,
            max_connections: 1024,
            max_connections_per_address: 64,
            unpaid_idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            relay_idle_timeout: Duration::from_secs(120),
            receipt_wait: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_streams_per_relay: 256,
            verify_queue: 32,
            ban_after_failures: 16,
            ban_duration: Duration::from_secs(600),
            ban_table_size: 4096,
            relay_limit_kbps: 0,
        }
    }
}

/// The minimum-batch policy of the settlement worker (security review R-3,
/// `docs/protocol.md` §5.1, §9.6).
///
/// The session ids of a batch are public, so a batch hides each session's
/// pay only among its *real* sessions: one real session reveals its pay
/// through `T`. The worker therefore waits until `min_sessions` sessions
/// are ready (can serve no more). Waiting is bounded by the ledger: a
/// session not settled by its deadline `expiry + challenge_window` is lost
/// to the node (the client reclaims all of `E`), so a session whose
/// deadline is within `deadline_margin` heights is settled anyway, in a
/// batch as small as it must be. The margin must cover the worker period
/// plus proving and submission, in heights. With the ledger's defaults
/// (20-block window, 1 s blocks, 30 s worker period) it equals the window:
/// a session past expiry is settled at the next run, and the minimum holds
/// back sessions that finish before expiry (exhausted escrows); a longer
/// window lets expired sessions wait for company too.
/// [`crate::NodeHandle::settle_now`] is the operator's explicit override
/// and ignores the minimum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Fewest real sessions per batch (≥ 1; default 2).
    pub min_sessions: usize,
    /// Heights before a session's settlement deadline from which it is
    /// settled whatever the batch size (default 20).
    pub deadline_margin: u64,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            min_sessions: 2,
            deadline_margin: 20,
        }
    }
}

impl BatchPolicy {
    /// Whether the worker settles now, at ledger `height`, with `ready`
    /// sessions that can serve no more, the most urgent of which must be
    /// settled by `earliest_deadline` (`expiry + challenge_window`).
    pub fn settle_now(&self, ready: usize, earliest_deadline: u64, height: u64) -> bool {
        ready > 0
            && (ready >= self.min_sessions
                || height.saturating_add(self.deadline_margin) >= earliest_deadline)
    }
}

/// Transport security of the node's gRPC endpoint (§9.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TLS with a self-signed certificate generated at first start and kept
    /// in the node directory (key 0600). Clients pin its SPKI hash, which
    /// the node registers with the ledger.
    Tls,
    /// Plaintext HTTP/2. Only for tests and `--insecure-plaintext`.
    InsecurePlaintext,
}

/// Everything a node needs to run.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Address to listen on (`127.0.0.1:0` picks a port).
    pub listen: SocketAddr,
    /// The `host:port` published in the node's profile (§8.3.9) for
    /// clients and other nodes; `None`: the bound address, unless it is
    /// unspecified (`0.0.0.0`), in which case none is published.
    pub advertise: Option<Endpoint>,
    /// The relay capacity the node claims in its profile, in Mbit/s
    /// (0: not stated).
    pub capacity_mbit_s: u32,
    /// How long spends under the previous voucher epoch's key stay
    /// accepted after a rotation, in seconds; published in the profile
    /// (`docs/vouchers.md` §3.2). Default 24 h.
    pub voucher_grace_secs: u64,
    /// Directory holding the node key, the account key (`account.key`: the
    /// account that stakes and receives payouts, §8.3), TLS key and
    /// certificate, and `node.redb`.
    pub dir: PathBuf,
    /// Price per KiB in base units (> 0).
    pub price_per_kib: Value,
    /// Accepted escrow sizes (non-empty, non-zero, each ≥ price).
    pub escrow_sizes: Vec<Value>,
    /// Receipt interval in KiB (> 0).
    pub receipt_interval_kib: u64,
    /// Longest session lifetime (ledger heights) the node accepts.
    pub max_session_lifetime: u64,
    /// Stake posted at registration.
    pub stake: Value,
    /// Egress policy of the relay.
    pub egress: EgressPolicy,
    /// TLS or plaintext.
    pub transport: Transport,
    /// Resource limits.
    pub limits: Limits,
    /// How often the ledger height and roots are refreshed.
    pub ledger_poll: Duration,
    /// How often the settlement worker looks for settleable sessions
    /// (`None`: only on [`crate::NodeHandle::settle_now`]).
    pub settle_every: Option<Duration>,
    /// Minimum real sessions per batch of that worker.
    pub batch_policy: BatchPolicy,
    /// Whether the node answers the ledger's challenges of it (§8.3.14).
    /// Always, in production: an unanswered challenge slashes the stake.
    /// `false` only shows what happens to a node that does not (the
    /// demo's `silent-node` scenario, tests).
    pub answer_challenges: bool,
}

/// Configuration errors.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("price per KiB must be positive")]
    ZeroPrice,
    #[error("at least one escrow size is required")]
    NoEscrowSizes,
    #[error("escrow size {0} is below the price of one KiB")]
    EscrowTooSmall(u64),
    #[error("receipt interval must be positive")]
    ZeroInterval,
    #[error("maximum session lifetime must be positive")]
    ZeroLifetime,
    #[error("the minimum batch must hold at least one session")]
    ZeroMinBatch,
}

impl NodeConfig {
    /// A configuration with default limits, plaintext transport and no
    /// background settlement; fill in what differs.
    pub fn new(
        listen: SocketAddr,
        dir: PathBuf,
        price_per_kib: Value,
        escrow_sizes: Vec<Value>,
    ) -> Self {
        Self {
            listen,
            advertise: None,
            capacity_mbit_s: 0,
            voucher_grace_secs: crate::voucher_keys::DEFAULT_GRACE_SECS,
            dir,
            price_per_kib,
            escrow_sizes,
            receipt_interval_kib: 8192,
            max_session_lifetime: 1000,
            stake: Value(0),
            egress: EgressPolicy::new(),
            transport: Transport::Tls,
            limits: Limits::default(),
            ledger_poll: Duration::from_millis(250),
            settle_every: None,
            batch_policy: BatchPolicy::default(),
            answer_challenges: true,
        }
    }

    /// Checks the economic parameters.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.price_per_kib.0 == 0 {
            return Err(ConfigError::ZeroPrice);
        }
        if self.escrow_sizes.is_empty() {
            return Err(ConfigError::NoEscrowSizes);
        }
        if let Some(e) = self
            .escrow_sizes
            .iter()
            .find(|e| e.0 < self.price_per_kib.0)
        {
            return Err(ConfigError::EscrowTooSmall(e.0));
        }
        if self.receipt_interval_kib == 0 {
            return Err(ConfigError::ZeroInterval);
        }
        if self.max_session_lifetime == 0 {
            return Err(ConfigError::ZeroLifetime);
        }
        if self.batch_policy.min_sessions == 0 {
            return Err(ConfigError::ZeroMinBatch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects_bad_economics() {
        let base = NodeConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            "/tmp".into(),
            Value(2),
            vec![Value(100)],
        );
        assert_eq!(base.validate(), Ok(()));
        let mut c = base.clone();
        c.price_per_kib = Value(0);
        assert_eq!(c.validate(), Err(ConfigError::ZeroPrice));
        let mut c = base.clone();
        c.escrow_sizes.clear();
        assert_eq!(c.validate(), Err(ConfigError::NoEscrowSizes));
        let mut c = base.clone();
        c.escrow_sizes.push(Value(1));
        assert_eq!(c.validate(), Err(ConfigError::EscrowTooSmall(1)));
        let mut c = base.clone();
        c.receipt_interval_kib = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroInterval));
        let mut c = base.clone();
        c.max_session_lifetime = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroLifetime));
        let mut c = base;
        c.batch_policy.min_sessions = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroMinBatch));
    }

    #[test]
    fn r3_a_lone_session_waits_for_company_until_its_deadline_nears() {
        let p = BatchPolicy {
            min_sessions: 2,
            deadline_margin: 5,
        };
        // Nothing ready: nothing to do, even at the deadline.
        assert!(!p.settle_now(0, 100, 100));
        // One session, deadline far: it waits (its pay would be T).
        assert!(!p.settle_now(1, 100, 50));
        assert!(!p.settle_now(1, 100, 94));
        // Within the margin of its deadline: settled alone rather than lost.
        assert!(p.settle_now(1, 100, 95));
        assert!(p.settle_now(1, 100, 100));
        // Past the deadline is the ledger's refusal, not the policy's.
        assert!(p.settle_now(1, 100, 101));
        // Enough company: settled at once.
        assert!(p.settle_now(2, 100, 0));
        assert!(p.settle_now(9, 100, 0));
        // No overflow near the top of the height range.
        assert!(!p.settle_now(1, u64::MAX, 0));
        assert!(p.settle_now(1, u64::MAX, u64::MAX));
    }

    #[test]
    fn r3_defaults_and_a_minimum_of_one() {
        assert_eq!(
            BatchPolicy::default(),
            BatchPolicy {
                min_sessions: 2,
                deadline_margin: 20
            }
        );
        let one = BatchPolicy {
            min_sessions: 1,
            deadline_margin: 0,
        };
        assert!(one.settle_now(1, 1_000, 0));
        assert!(!one.settle_now(0, 1_000, 0));
    }
}
