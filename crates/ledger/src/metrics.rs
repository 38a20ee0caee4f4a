//! The ledger's metrics (docs/operations.md, "Ledger metrics"): one
//! Prometheus registry per served ledger, filled by the gRPC service
//! ([`crate::service`]) in one place, where it maps each call's result,
//! and by the store's counts read at each scrape. `veil ledger serve
//! --metrics ADDR` serves it as Prometheus text.
//!
//! Privacy (docs/protocol.md §9.2, C10): the only labels are the
//! operation (`op`, [`Rpc`]), the refusal's kind (`kind`, the wire name of
//! [`ErrorKind`]) and the histogram bucket (`le`): fixed sets named in
//! code. No label carries an account, a nullifier, a session id, a node id
//! or a peer address; counts and sums are ledger-wide.

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use veil_ops::register;

use crate::error::LedgerError;
use crate::schema::{ESCROWS, NODES, NULLIFIERS, SETTLEMENTS, decode_escrow};
use crate::state::StateRead;
use crate::store::{COMMIT_SECONDS, ReadState, Store, scan, table_len};
use crate::types::EscrowState;
use crate::wire::ErrorKind;

/// Latency buckets (seconds) of one request: 0.25 ms (a read) to 10 s (a
/// settlement's pairings behind a full verification queue).
const REQUEST_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A `veil.ledger.v1` call, named as its `op` label (docs/protocol.md
/// §8.5; the method's name in snake case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rpc {
    Deposit,
    OpenEscrow,
    Settle,
    Reclaim,
    Withdraw,
    RegisterNode,
    UpdateNode,
    Faucet,
    GetNode,
    ListNodes,
    GetEscrow,
    GetNullifier,
    GetBalance,
    GetRoots,
    StreamCommitments,
    Status,
    Trade,
    GetMarket,
    ExitNode,
    RegisterMonitor,
    SubmitReport,
    GetMonitor,
    ChallengeNode,
    AnswerChallenge,
    GetChallenges,
    ExitMonitor,
}

impl Rpc {
    /// Every call, in the order of the service.
    pub const ALL: [Rpc; 26] = [
        Rpc::Deposit,
        Rpc::OpenEscrow,
        Rpc::Settle,
        Rpc::Reclaim,
        Rpc::Withdraw,
        Rpc::RegisterNode,
        Rpc::UpdateNode,
        Rpc::Faucet,
        Rpc::GetNode,
        Rpc::ListNodes,
        Rpc::GetEscrow,
        Rpc::GetNullifier,
        Rpc::GetBalance,
        Rpc::GetRoots,
        Rpc::StreamCommitments,
        Rpc::Status,
        Rpc::Trade,
        Rpc::GetMarket,
        Rpc::ExitNode,
        Rpc::RegisterMonitor,
        Rpc::SubmitReport,
        Rpc::GetMonitor,
        Rpc::ChallengeNode,
        Rpc::AnswerChallenge,
        Rpc::GetChallenges,
        Rpc::ExitMonitor,
    ];

    /// Its `op` label.
    pub fn name(self) -> &'static str {
        match self {
            Rpc::Deposit => "deposit",
            Rpc::OpenEscrow => "open_escrow",
            Rpc::Settle => "settle",
            Rpc::Reclaim => "reclaim",
            Rpc::Withdraw => "withdraw",
            Rpc::RegisterNode => "register_node",
            Rpc::UpdateNode => "update_node",
            Rpc::Faucet => "faucet",
            Rpc::GetNode => "get_node",
            Rpc::ListNodes => "list_nodes",
            Rpc::GetEscrow => "get_escrow",
            Rpc::GetNullifier => "get_nullifier",
            Rpc::GetBalance => "get_balance",
            Rpc::GetRoots => "get_roots",
            Rpc::StreamCommitments => "stream_commitments",
            Rpc::Status => "status",
            Rpc::Trade => "trade",
            Rpc::GetMarket => "get_market",
            Rpc::ExitNode => "exit_node",
            Rpc::RegisterMonitor => "register_monitor",
            Rpc::SubmitReport => "submit_report",
            Rpc::GetMonitor => "get_monitor",
            Rpc::ChallengeNode => "challenge_node",
            Rpc::AnswerChallenge => "answer_challenge",
            Rpc::GetChallenges => "get_challenges",
            Rpc::ExitMonitor => "exit_monitor",
        }
    }
}

/// What the store holds, counted at a scrape (each count is O(1) but
/// `escrows_open`, a scan of the escrow table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub height: u64,
    /// Leaves of the note commitment tree.
    pub leaves: u64,
    pub nullifiers_spent: u64,
    pub escrows_open: u64,
    pub settled_batches: u64,
    pub nodes: u64,
    /// The turnstile (docs/protocol.md §8.4), base units.
    pub minted: u64,
    pub pool: u64,
    pub escrowed: u64,
    pub staked: u64,
    pub poisoned: bool,
}

impl StoreCounts {
    /// Counts a consistent snapshot of `store`.
    pub fn read(store: &Store) -> Result<Self, LedgerError> {
        let r = store.read()?;
        let totals = r.totals()?;
        Ok(Self {
            height: r.height()?.0,
            leaves: r.frontier()?.size(),
            nullifiers_spent: table_len(&r, NULLIFIERS)?,
            escrows_open: escrows_open(&r)?,
            settled_batches: table_len(&r, SETTLEMENTS)?,
            nodes: table_len(&r, NODES)?,
            minted: totals.minted,
            pool: totals.pool,
            escrowed: totals.escrowed,
            staked: totals.staked,
            poisoned: store.is_poisoned(),
        })
    }
}

fn escrows_open(r: &ReadState) -> Result<u64, LedgerError> {
    let mut open = 0;
    scan(r, ESCROWS, |_, bytes| {
        if decode_escrow(bytes)?.state == EscrowState::Open {
            open += 1;
        }
        Ok(())
    })?;
    Ok(open)
}

/// Every metric of one served ledger.
pub struct LedgerMetrics {
    registry: Registry,
    accepted: IntCounterVec,
    refused: IntCounterVec,
    seconds: HistogramVec,
    read_errors: IntCounter,
    height: IntGauge,
    leaves: IntGauge,
    nullifiers: IntGauge,
    escrows_open: IntGauge,
    settled_batches: IntGauge,
    nodes: IntGauge,
    minted: IntGauge,
    pool: IntGauge,
    escrowed: IntGauge,
    staked: IntGauge,
    poisoned: IntGauge,
}

/// A metric's name and help, prefixed `veil_ledger_`.
fn opts(name: &str, help: &str) -> Opts {
    Opts::new(format!("veil_ledger_{name}"), help)
}

impl LedgerMetrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |n, h| register(&registry, IntGauge::with_opts(opts(n, h)));
        let by =
            |n, h, labels: &[&str]| register(&registry, IntCounterVec::new(opts(n, h), labels));
        let o = HistogramOpts::new(
            "veil_ledger_request_seconds",
            "Time to answer a call, by op.",
        )
        .buckets(REQUEST_BUCKETS.to_vec());
        let m = Self {
            accepted: by(
                "requests_accepted_total",
                "Calls answered without error, by op.",
                &["op"],
            ),
            refused: by(
                "requests_refused_total",
                "Calls answered with an error, by op and error kind (docs/protocol.md §8.6).",
                &["op", "kind"],
            ),
            seconds: register(&registry, HistogramVec::new(o, &["op"])),
            read_errors: register(
                &registry,
                IntCounter::with_opts(opts(
                    "metrics_read_errors_total",
                    "Scrapes that could not read the store (gauges kept their last value).",
                )),
            ),
            height: gauge("height", "Block height of the logical clock."),
            leaves: gauge("note_tree_leaves", "Leaves of the note commitment tree."),
            nullifiers: gauge(
                "nullifiers_spent",
                "Nullifiers spent (escrows and withdrawals).",
            ),
            escrows_open: gauge("escrows_open", "Escrows neither settled nor reclaimed."),
            settled_batches: gauge("settled_batches", "Settlement batches applied."),
            nodes: gauge("registered_nodes", "Nodes registered."),
            minted: gauge(
                "minted_value",
                "Base units minted (the turnstile's left side).",
            ),
            pool: gauge("pool_value", "Base units inside the shielded pool."),
            escrowed: gauge("escrowed_value", "Base units held in open escrows."),
            staked: gauge("staked_value", "Base units staked by nodes."),
            poisoned: gauge(
                "store_poisoned",
                "1 once a failed commit made the store refuse writes (restart required).",
            ),
            registry,
        };
        // Every op shows from the first scrape, at zero.
        for op in Rpc::ALL {
            m.accepted.with_label_values(&[op.name()]);
            m.seconds.with_label_values(&[op.name()]);
        }
        register(&m.registry, Ok(COMMIT_SECONDS.clone()));
        m
    }

    /// One answered call: accepted, or refused with `error`'s kind.
    pub fn record(&self, op: Rpc, outcome: Result<(), &LedgerError>, elapsed: Duration) {
        match outcome {
            Ok(()) => self.accepted.with_label_values(&[op.name()]).inc(),
            Err(e) => self
                .refused
                .with_label_values(&[op.name(), ErrorKind::of(e).name()])
                .inc(),
        }
        self.seconds
            .with_label_values(&[op.name()])
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the gauges from the store's counts.
    pub fn set_counts(&self, c: &StoreCounts) {
        let set = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.height, c.height);
        set(&self.leaves, c.leaves);
        set(&self.nullifiers, c.nullifiers_spent);
        set(&self.escrows_open, c.escrows_open);
        set(&self.settled_batches, c.settled_batches);
        set(&self.nodes, c.nodes);
        set(&self.minted, c.minted);
        set(&self.pool, c.pool);
        set(&self.escrowed, c.escrowed);
        set(&self.staked, c.staked);
        self.poisoned.set(i64::from(c.poisoned));
    }

    /// Reads `store`'s counts into the gauges, then renders the registry
    /// in Prometheus text format (version 0.0.4). A store that cannot be
    /// read counts in `metrics_read_errors_total`; the page is still served.
    pub fn render(&self, store: &Store) -> String {
        match StoreCounts::read(store) {
            Ok(c) => self.set_counts(&c),
            Err(_) => self.read_errors.inc(),
        }
        self.encode()
    }

    /// The registry in Prometheus text format, as it stands.
    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        // Encoding into memory fails only on a metric that breaks the
        // format, which the fixed names here cannot.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Default for LedgerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Label names of every sample line: `op`, `kind` and `le` only.
    fn label_names(line: &str) -> Vec<String> {
        let Some((_, rest)) = line.split_once('{') else {
            return Vec::new();
        };
        let inner = rest.split_once('}').map_or(rest, |(l, _)| l);
        inner
            .split(',')
            .filter_map(|kv| kv.split_once('=').map(|(k, _)| k.to_owned()))
            .collect()
    }

    #[test]
    fn every_metric_is_registered_once_and_labelled_only_by_op_or_kind() {
        let m = LedgerMetrics::new();
        // Two registries in one process share the commit histogram.
        let _other = LedgerMetrics::new();
        let ms = Duration::from_millis(3);
        m.record(Rpc::Deposit, Ok(()), ms);
        m.record(Rpc::OpenEscrow, Ok(()), ms);
        m.record(Rpc::OpenEscrow, Err(&LedgerError::NullifierSpent), ms);
        m.record(Rpc::OpenEscrow, Err(&LedgerError::NullifierSpent), ms);
        m.record(
            Rpc::Settle,
            Err(&LedgerError::Storage("disk gone at /x".into())),
            ms,
        );
        m.set_counts(&StoreCounts {
            leaves: 7,
            escrows_open: 2,
            pool: u64::MAX,
            poisoned: true,
            ..StoreCounts::default()
        });
        let text = m.encode();
        for want in [
            "veil_ledger_requests_accepted_total{op=\"deposit\"} 1",
            "veil_ledger_requests_accepted_total{op=\"withdraw\"} 0",
            "veil_ledger_requests_refused_total{kind=\"nullifier_spent\",op=\"open_escrow\"} 2",
            "veil_ledger_requests_refused_total{kind=\"storage\",op=\"settle\"} 1",
            "veil_ledger_request_seconds_bucket{op=\"open_escrow\",le=\"0.005\"} 3",
            "veil_ledger_request_seconds_count{op=\"status\"} 0",
            "veil_ledger_note_tree_leaves 7",
            "veil_ledger_escrows_open 2",
            // Saturated at i64::MAX (encoded as a float).
            "veil_ledger_pool_value 9223372036854776000",
            "veil_ledger_store_poisoned 1",
            "# TYPE veil_ledger_store_commit_seconds histogram",
        ] {
            assert!(text.contains(want), "{want} missing from\n{text}");
        }
        assert!(!text.contains("/x"), "an error's text is never a label");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            for name in label_names(line) {
                assert!(
                    matches!(name.as_str(), "op" | "kind" | "le"),
                    "unexpected label {name} in {line}"
                );
            }
        }
    }

    #[test]
    fn op_names_are_distinct_snake_case() {
        let names: std::collections::BTreeSet<&str> = Rpc::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), Rpc::ALL.len());
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
    }

    #[test]
    fn counts_come_from_the_store() {
        let store = Store::in_memory().expect("store");
        let c = StoreCounts::read(&store).expect("counts");
        assert_eq!(c, StoreCounts::default());
        let m = LedgerMetrics::new();
        assert!(m.render(&store).contains("veil_ledger_escrows_open 0"));
    }
}
