//! Node configuration and limits (`docs/protocol.md` §9.7).
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use veil_primitives::value::Value;

use crate::egress::EgressPolicy;

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
        }
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
        let mut c = base;
        c.max_session_lifetime = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroLifetime));
    }
}
