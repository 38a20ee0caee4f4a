//! The node's metrics (docs/operations.md, "Metrics"): one Prometheus
//! registry, read by the `Status` RPC ([`crate::NodeStatus`]) and served as
//! Prometheus text by `veil node serve --metrics`.
//!
//! Privacy (docs/protocol.md §9.2, C10): no label carries a session id, a
//! nullifier, a key, an amount of one session or a peer address. Labels
//! are refusal reasons and ledger operations, fixed small sets named in
//! code; counts and sums are node-wide.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use veil_ops::{counter_sum, register};

/// Latency buckets (seconds) for a Groth16 verification: 1 ms to 2.5 s.
const VERIFY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 2.5];
/// Buckets (seconds) for proving a settlement: 0.1 s to 10 min.
const PROVE_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0];

/// Every metric of one node.
pub(crate) struct Metrics {
    registry: Registry,
    pub sessions_total: IntCounter,
    pub streams_open: IntGauge,
    pub bytes_relayed: IntCounter,
    pub receipts_accepted: IntCounter,
    receipts_refused: IntCounterVec,
    pub proof_verifications: IntCounter,
    tokens_refused: IntCounterVec,
    pub verify_seconds: Histogram,
    pub settled_batches: IntCounter,
    pub settled_sessions: IntCounter,
    /// Base units paid to the node by settlements.
    pub total_paid: IntCounter,
    pub settlements_failed: IntCounter,
    pub challenges_answered: IntCounter,
    pub prove_seconds: Histogram,
    ledger_errors: IntCounterVec,
    /// Set from the node's state at each scrape.
    pub sessions_open: IntGauge,
    pub pending_settlement: IntGauge,
    pub banned_peers: IntGauge,
    pub verify_queue: IntGauge,
}

/// A metric's name and help, prefixed `veil_node_`.
fn opts(name: &str, help: &str) -> Opts {
    Opts::new(format!("veil_node_{name}"), help)
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |n, h| register(&registry, IntCounter::with_opts(opts(n, h)));
        let gauge = |n, h| register(&registry, IntGauge::with_opts(opts(n, h)));
        let by = |n, h, label| register(&registry, IntCounterVec::new(opts(n, h), &[label]));
        let histogram = |n: &str, h: &str, buckets: &[f64]| {
            let o = HistogramOpts::new(format!("veil_node_{n}"), h).buckets(buckets.to_vec());
            register(&registry, Histogram::with_opts(o))
        };
        Self {
            sessions_total: counter("sessions_opened_total", "Sessions opened."),
            streams_open: gauge("streams_open", "TCP streams relayed now."),
            bytes_relayed: counter(
                "relayed_bytes_total",
                "Payload bytes relayed, both directions.",
            ),
            receipts_accepted: counter("receipts_accepted_total", "Receipts verified and applied."),
            receipts_refused: by(
                "receipts_refused_total",
                "Receipts refused, by reason.",
                "reason",
            ),
            proof_verifications: counter(
                "token_verifications_total",
                "Access proofs verified (Groth16 run).",
            ),
            tokens_refused: by(
                "tokens_refused_total",
                "Access tokens refused, by reason.",
                "reason",
            ),
            verify_seconds: histogram(
                "token_verify_seconds",
                "Access proof verification time.",
                VERIFY_BUCKETS,
            ),
            settled_batches: counter(
                "settled_batches_total",
                "Settlement batches accepted by the ledger.",
            ),
            settled_sessions: counter("settled_sessions_total", "Sessions settled."),
            total_paid: counter(
                "earnings_total",
                "Base units paid to the node by settlements.",
            ),
            settlements_failed: counter(
                "settlements_failed_total",
                "Settlement runs that failed (retried).",
            ),
            challenges_answered: counter(
                "ledger_challenges_answered_total",
                "Ledger challenges of this node answered (protocol §8.3.14).",
            ),
            prove_seconds: histogram(
                "settle_prove_seconds",
                "Time to prove one settlement batch.",
                PROVE_BUCKETS,
            ),
            ledger_errors: by(
                "ledger_errors_total",
                "Ledger calls that failed, by operation.",
                "op",
            ),
            sessions_open: gauge("sessions_open", "Sessions not closed."),
            pending_settlement: gauge(
                "sessions_pending_settlement",
                "Sessions holding a receipt not settled yet.",
            ),
            banned_peers: gauge("banned_peers", "Addresses banned now for invalid tokens."),
            verify_queue: gauge(
                "verify_queue_depth",
                "Access proofs being verified or waiting.",
            ),
            registry,
        }
    }

    /// A receipt refused for `reason` (a protocol error code's name).
    pub fn receipt_refused(&self, reason: &str) {
        self.receipts_refused.with_label_values(&[reason]).inc();
    }

    /// An access token refused for `reason`.
    pub fn token_refused(&self, reason: &str) {
        self.tokens_refused.with_label_values(&[reason]).inc();
    }

    /// A ledger call `op` that failed.
    pub fn ledger_error(&self, op: &str) {
        self.ledger_errors.with_label_values(&[op]).inc();
    }

    /// Receipts refused, every reason together.
    pub fn receipts_refused_total(&self) -> u64 {
        counter_sum(&self.receipts_refused)
    }

    /// Tokens refused, every reason together.
    pub fn tokens_refused_total(&self) -> u64 {
        counter_sum(&self.tokens_refused)
    }

    /// The registry in Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only on a metric that breaks the
        // format, which the fixed names here cannot.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_registered_once_and_labelled_only_by_reason_or_op() {
        let m = Metrics::new();
        m.receipt_refused("receipt_bad_signature");
        m.receipt_refused("receipt_bad_signature");
        m.receipt_refused("receipt_stale");
        m.token_refused("invalid_proof");
        m.ledger_error("status");
        m.bytes_relayed.inc_by(4096);
        m.verify_seconds.observe(0.004);
        assert_eq!(m.receipts_refused_total(), 3);
        assert_eq!(m.tokens_refused_total(), 1);
        let text = m.encode();
        assert!(
            text.contains("veil_node_relayed_bytes_total 4096"),
            "{text}"
        );
        assert!(
            text.contains("veil_node_receipts_refused_total{reason=\"receipt_bad_signature\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("veil_node_token_verify_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let labels = line.split_once('{').map(|(_, rest)| rest).unwrap_or("");
            assert!(
                labels.is_empty()
                    || labels.starts_with("reason=")
                    || labels.starts_with("op=")
                    || labels.starts_with("le="),
                "unexpected label in {line}"
            );
        }
    }
}
