//! Errors of the ledger: one typed variant per rejected check
//! (docs/protocol.md §8.6 maps each to a gRPC status code).

use thiserror::Error;
use veil_primitives::EncodingError;

use veil_primitives::ids::BlockHeight;
use veil_primitives::value::Value;

/// Why a ledger operation was refused or failed. A refused operation has
/// changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    /// A malformed request field (non-canonical field element, wrong length…).
    #[error("malformed {field}: {source}")]
    Encoding {
        field: &'static str,
        source: EncodingError,
    },
    /// A well-formed but invalid argument (stateless check).
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    #[error("unknown root: not among the last {0} roots")]
    UnknownRoot(usize),
    #[error("nullifier already spent")]
    NullifierSpent,
    #[error("node is not registered")]
    UnknownNode,
    #[error("node is already registered with different terms")]
    NodeExists,
    #[error("escrow size {0:?} is not accepted by the node")]
    EscrowSizeNotAccepted(Value),
    #[error(
        "expiry {expiry:?} out of range at height {height:?} (must be > height and <= height + {max_delta})"
    )]
    ExpiryOutOfRange {
        expiry: BlockHeight,
        height: BlockHeight,
        max_delta: u64,
    },
    #[error("proof does not verify")]
    InvalidProof,
    #[error("insufficient account balance")]
    InsufficientBalance,
    /// The operation would take more out of the pool than is in it (turnstile).
    #[error("turnstile: shielded pool value would become negative")]
    PoolUnderflow,
    #[error("value overflow")]
    Overflow,
    #[error("unknown escrow")]
    UnknownEscrow,
    #[error("escrow is not open")]
    EscrowNotOpen,
    #[error("session already settled")]
    AlreadySettled,
    #[error("escrow belongs to another node")]
    WrongNode,
    #[error("session appears twice in the batch")]
    DuplicateSession,
    #[error("settlement window closed for this escrow")]
    SettleWindowClosed,
    #[error("escrow cannot be reclaimed before height {0:?}")]
    NotYetReclaimable(BlockHeight),
    #[error("settled total exceeds the batch's escrowed value")]
    TotalExceedsEscrow,
    #[error("commitment already deposited with a different account")]
    DuplicateDeposit,
    /// A registration whose node key does not derive its node id, or whose
    /// signature by that key does not verify (§8.3.6).
    #[error("registration not authenticated: {0}")]
    RegistrationUnauthenticated(&'static str),
    /// A settlement without a valid authorisation by the node's registered
    /// key over its exact statement (§8.3.3): only the node settles.
    #[error("settlement not authorised by the node: {0}")]
    SettleUnauthorized(&'static str),
    /// A debit or binding of an account without a valid signature by the
    /// account's key, or signed for another account (§8.3).
    #[error("account not authenticated: {0}")]
    AccountUnauthenticated(&'static str),
    /// The account nonce is not the account's next nonce and the request is
    /// not a retry of the operation applied with it (§8.3: replay, or out
    /// of order); read the nonce again (`GetBalance`).
    #[error("account nonce is not the account's next nonce (replayed or out of order)")]
    BadNonce,
    /// A node update whose sequence number is not the record's next
    /// (§8.3.8): an earlier signed update replayed, or one out of order.
    /// Read the record again (`GetNode`).
    #[error("node update sequence is not the record's next (replayed or out of order)")]
    StaleNodeUpdate,
    /// An escrow, an update or a second retirement for a node its account
    /// retired (§8.3.12).
    #[error("node is retired")]
    NodeRetired,
    /// A stake release for a node that was never retired (§8.3.12).
    #[error("node is not retired: retire it before releasing its stake")]
    NodeNotRetired,
    /// A stake release before the lock-up ends (§8.3.12): sessions may
    /// still settle, or evidence still land, until the given height.
    #[error("stake locked until height {}", .0.0)]
    StakeLocked(BlockHeight),
    /// A second release of a stake already released (§8.3.12).
    #[error("stake already released")]
    StakeReleased,
    /// A registration or update claiming more capacity than its stake
    /// backs (`monitor::STAKE_PER_MBIT_S` per Mbit/s, §8.3.6, §8.3.8).
    #[error("stake {} does not back the claimed capacity: it needs {}", .stake.get(), .needed.get())]
    StakeBelowCapacity { stake: Value, needed: Value },
    /// A second monitor registration of an account (§8.3.13).
    #[error("the account is already a monitor")]
    MonitorExists,
    /// A report signed by an account that is not a monitor (§8.3.13).
    #[error("not a monitor: register with a stake first")]
    NotAMonitor,
    /// A second retirement of a monitor (§8.3.13).
    #[error("the monitor is retired")]
    MonitorRetired,
    /// A monitor's release before its retirement (§8.3.13).
    #[error("the monitor is not retired: retire it before releasing its stake")]
    MonitorNotRetired,
    /// A report by a monitor the epoch's assignment did not give the node
    /// (§8.3.13), or one registered after the epoch began.
    #[error("the monitor is not assigned to this node in this epoch")]
    NotAssigned,
    /// A report for an epoch whose window is not open: reports on epoch `e`
    /// are taken while the clock is in `e` or `e + 1` (§8.3.13).
    #[error("reports for this epoch are not open (the current epoch and the one before are)")]
    ReportNotOpen,
    /// A second, different report by one monitor on one node in one epoch.
    #[error("the monitor already reported on this node in this epoch")]
    ReportExists,
    /// A second, different challenge by one monitor of one node in one
    /// epoch (§8.3.14).
    #[error("the monitor already challenged this node in this epoch")]
    ChallengeExists,
    /// A challenge naming an epoch other than the current one, given
    /// (§8.3.14).
    #[error("challenges name the current epoch, {0}")]
    ChallengeEpoch(u64),
    /// An answer to a challenge the ledger does not hold (§8.3.14).
    #[error("no such challenge")]
    UnknownChallenge,
    /// An answer after the challenge's deadline, or to one already missed
    /// (§8.3.14).
    #[error("the challenge is closed: its deadline passed")]
    ChallengeClosed,
    /// An answer whose signature is not the node key's over the
    /// challenge's value (§8.3.14): only the node can answer.
    #[error("the answer is not the node key's signature over the challenge")]
    BadChallengeAnswer,

    /// A trade the bonding curve refuses (§8.3.11): zero, too large, past
    /// its slippage limit, or more than the circulating supply.
    #[error("market: {0}")]
    Market(veil_market::curve::CurveError),
    /// A sale of more tokens than the account holds (§8.3.11).
    #[error("insufficient token balance")]
    InsufficientTokens,
    /// An operation this ledger backend does not offer (yet); the text
    /// says which and where it is documented.
    #[error("not supported by this ledger: {0}")]
    Unsupported(&'static str),
    /// `Faucet` on a ledger started without `--dev-faucet` (§8.3.7).
    #[error("faucet disabled: this ledger was not started with --dev-faucet")]
    FaucetDisabled,
    /// The proof verification queue is full; retry later.
    #[error("verification queue full")]
    Busy,
    /// The store failed. After a failed commit the handle is poisoned and
    /// refuses every further write (fail closed, adversarial D4).
    #[error("storage error: {0}")]
    Storage(String),
    #[error("ledger store is poisoned after an earlier storage failure; restart required")]
    Poisoned,
    /// The database is corrupted or not a veil ledger (adversarial D8).
    #[error("corrupted ledger database: {0}")]
    Corrupted(String),
    /// The verifying keys could not be loaded (setup, never per request).
    #[error("verifying keys unavailable: {0}")]
    VerifyingKeys(String),
    /// A remote ledger could not be reached, or answered outside the protocol.
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
    /// A remote ledger returned an error status that maps to no variant above.
    #[error("remote ledger error ({code}): {message}")]
    Remote { code: i32, message: String },
}

/// Why the production verifier could not be set up.
#[derive(Debug, Error)]
pub enum VerifierSetupError {
    /// A configured settlement batch size has no `settle_K` circuit.
    #[error("no settle circuit for batch size {0} (sizes with keys: 1, 8, 64)")]
    NoCircuit(u32),
    /// Loading or checking a verifying key failed.
    #[error(transparent)]
    Params(#[from] veil_proofs::ParamsError),
}
