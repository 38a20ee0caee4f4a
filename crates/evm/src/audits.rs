//! Typed calls, views and errors of `VeilAudits`
//! (`contracts/src/market/VeilAudits.sol`, `docs/market.md` §5.1):
//! monitors with stake, the epoch seed from a commit-reveal mixed with
//! `prevrandao`, rendezvous assignment, reports and verdicts that slash
//! through `VeilLedger.slash`.

use revm::primitives::{U256, keccak256};
use veil_market::audit::Party;

use crate::abi::{
    AbiError, Arg, Reader, Word, encode_args, encode_call_args, selector, split_revert,
    word_address, word_u64,
};
use crate::sandbox::EvmAddress;

/// The contract's name in `contracts/artifacts/`.
pub const CONTRACT: &str = "VeilAudits";

fn call(signature: &str, args: &[Word]) -> Vec<u8> {
    let args: Vec<Arg> = args.iter().map(|w| Arg::Word(*w)).collect();
    encode_call_args(selector(signature), &args)
}

/// Constructor arguments: the stake token, the epoch length and the
/// reveal window, in blocks.
pub fn constructor(token: EvmAddress, epoch_blocks: u64, reveal_blocks: u64) -> Vec<u8> {
    encode_args(&[
        Arg::Word(word_address(token)),
        Arg::Word(word_u64(epoch_blocks)),
        Arg::Word(word_u64(reveal_blocks)),
    ])
}

/// A monitor's party in the assignment: its address as a word.
pub fn monitor_party(monitor: EvmAddress) -> Party {
    Party(word_address(monitor))
}

/// A node's party: its node id as a word.
pub fn node_party(node_id: Word) -> Party {
    Party(node_id)
}

/// The seed commitment `keccak256(abi.encode(secret, monitor, epoch))`.
pub fn seed_commitment(secret: Word, monitor: EvmAddress, epoch: u64) -> Word {
    let data = encode_args(&[
        Arg::Word(secret),
        Arg::Word(word_address(monitor)),
        Arg::Word(word_u64(epoch)),
    ]);
    keccak256(data).0
}

pub fn bind(ledger: EvmAddress) -> Vec<u8> {
    call("bind(address)", &[word_address(ledger)])
}

pub fn register_monitor(stake: u64) -> Vec<u8> {
    call("registerMonitor(uint256)", &[word_u64(stake)])
}

pub fn retire_monitor() -> Vec<u8> {
    call("retireMonitor()", &[])
}

pub fn release_monitor() -> Vec<u8> {
    call("releaseMonitor()", &[])
}

pub fn commit_seed(epoch: u64, commitment: Word) -> Vec<u8> {
    call("commitSeed(uint64,bytes32)", &[word_u64(epoch), commitment])
}

pub fn reveal_seed(epoch: u64, secret: Word) -> Vec<u8> {
    call("revealSeed(uint64,bytes32)", &[word_u64(epoch), secret])
}

pub fn draw_seed(epoch: u64) -> Vec<u8> {
    call("drawSeed(uint64)", &[word_u64(epoch)])
}

pub fn fix_assignment(epoch: u64, node_id: Word) -> Vec<u8> {
    call("fixAssignment(uint64,uint256)", &[word_u64(epoch), node_id])
}

pub fn submit_report(epoch: u64, node_id: Word, throughput_kbps: u64, rtt_ms: u32) -> Vec<u8> {
    call(
        "submitReport(uint64,uint256,uint64,uint32)",
        &[
            word_u64(epoch),
            node_id,
            word_u64(throughput_kbps),
            word_u64(rtt_ms.into()),
        ],
    )
}

pub fn judge(epoch: u64, node_id: Word) -> Vec<u8> {
    call("judge(uint64,uint256)", &[word_u64(epoch), node_id])
}

/// `seeds(epoch)`: the drawn seed (zero: not drawn).
pub fn seed_of(epoch: u64) -> Vec<u8> {
    call("seeds(uint64)", &[word_u64(epoch)])
}

pub fn is_assigned(epoch: u64, node_id: Word, monitor: EvmAddress) -> Vec<u8> {
    call(
        "isAssigned(uint64,uint256,address)",
        &[word_u64(epoch), node_id, word_address(monitor)],
    )
}

pub fn current_epoch() -> Vec<u8> {
    call("currentEpoch()", &[])
}

pub fn epoch_start(epoch: u64) -> Vec<u8> {
    call("epochStart(uint64)", &[word_u64(epoch)])
}

/// `burnt()`: monitor stake slashed for outliers.
pub fn burnt() -> Vec<u8> {
    call("burnt()", &[])
}

pub fn monitor(who: EvmAddress) -> Vec<u8> {
    call("monitors(address)", &[word_address(who)])
}

pub fn verdict(node_id: Word) -> Vec<u8> {
    call("verdicts(uint256)", &[node_id])
}

/// A monitor's record as `monitors(address)` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorView {
    pub stake: u64,
    pub registered_at: u64,
    pub retired_at: u64,
    pub pending: u64,
    pub recent: u64,
    pub recent_len: u64,
    pub registered: bool,
    pub released: bool,
}

impl MonitorView {
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        r.expect_words(8)?;
        let flag = |i| r.u64(i).map(|v| v != 0);
        Ok(Self {
            stake: r.u64(0)?,
            registered_at: r.u64(1)?,
            retired_at: r.u64(2)?,
            pending: r.u64(3)?,
            recent: r.u64(4)?,
            recent_len: r.u64(5)?,
            registered: flag(6)?,
            released: flag(7)?,
        })
    }
}

/// A node's latest verdict as `verdicts(uint256)` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerdictView {
    pub epoch: u64,
    pub reports: u64,
    pub throughput_kbps: u64,
    pub rtt_ms: u64,
    pub delivered_ppm: u64,
    pub slashed: u64,
}

impl VerdictView {
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        r.expect_words(6)?;
        Ok(Self {
            epoch: r.u64(0)?,
            reports: r.u64(1)?,
            throughput_kbps: r.u64(2)?,
            rtt_ms: r.u64(3)?,
            delivered_ppm: r.u64(4)?,
            slashed: r.u64(5)?,
        })
    }
}

/// A custom error of `VeilAudits`, named like the embedded ledger's
/// `LedgerError` variant for the same refusal where one exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditRevert {
    NotDeployer(EvmAddress),
    AlreadyBound,
    NotBound,
    WrongLedger,
    InvalidArgument(String),
    MonitorExists,
    NotAMonitor,
    MonitorRetired,
    MonitorNotRetired,
    StakeReleased,
    StakeLocked { height: u64, pending: u64 },
    NotEligible(u64),
    CommitWindow(u64),
    RevealWindow(u64),
    AlreadyCommitted,
    BadReveal,
    SeedNotDrawn(u64),
    SeedAlreadyDrawn(u64),
    ReportNotOpen,
    UnknownNode,
    NotAssigned,
    ReportExists,
    NotYetJudgeable(u64),
    AlreadyJudged,
    TokenTransferFailed,
}

impl AuditRevert {
    /// Decodes revert data; another selector or shape is an error.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let (sel, r) = split_revert(data)?;
        let is = |sig: &str| selector(sig) == sel;
        let unit = |v: Self| r.expect_words(0).map(|_| v);
        let epoch = |f: fn(u64) -> Self| r.expect_words(1).and_then(|_| r.u64(0)).map(f);
        if let Some(v) = UNIT_ERRORS.iter().find(|(sig, _)| is(sig)).map(|(_, v)| v) {
            return unit(v.clone());
        }
        if let Some(f) = EPOCH_ERRORS
            .iter()
            .find(|(sig, _)| is(sig))
            .map(|(_, f)| *f)
        {
            return epoch(f);
        }
        if is("NotDeployer(address)") {
            r.expect_words(1)?;
            Ok(Self::NotDeployer(r.address(0)?))
        } else if is("InvalidArgument(string)") {
            Ok(Self::InvalidArgument(r.string(0)?))
        } else if is("StakeLocked(uint256,uint24)") {
            r.expect_words(2)?;
            Ok(Self::StakeLocked {
                height: r.u64(0)?,
                pending: r.u64(1)?,
            })
        } else {
            Err(AbiError::Malformed("VeilAudits error selector"))
        }
    }
}

const UNIT_ERRORS: [(&str, AuditRevert); 16] = [
    ("TokenTransferFailed()", AuditRevert::TokenTransferFailed),
    ("AlreadyBound()", AuditRevert::AlreadyBound),
    ("NotBound()", AuditRevert::NotBound),
    ("WrongLedger()", AuditRevert::WrongLedger),
    ("MonitorExists()", AuditRevert::MonitorExists),
    ("NotAMonitor()", AuditRevert::NotAMonitor),
    ("MonitorRetired()", AuditRevert::MonitorRetired),
    ("MonitorNotRetired()", AuditRevert::MonitorNotRetired),
    ("StakeReleased()", AuditRevert::StakeReleased),
    ("AlreadyCommitted()", AuditRevert::AlreadyCommitted),
    ("BadReveal()", AuditRevert::BadReveal),
    ("ReportNotOpen()", AuditRevert::ReportNotOpen),
    ("UnknownNode()", AuditRevert::UnknownNode),
    ("NotAssigned()", AuditRevert::NotAssigned),
    ("ReportExists()", AuditRevert::ReportExists),
    ("AlreadyJudged()", AuditRevert::AlreadyJudged),
];

type EpochError = fn(u64) -> AuditRevert;

const EPOCH_ERRORS: [(&str, EpochError); 6] = [
    ("SeedAlreadyDrawn(uint64)", AuditRevert::SeedAlreadyDrawn),
    ("NotEligible(uint64)", AuditRevert::NotEligible),
    ("CommitWindow(uint64)", AuditRevert::CommitWindow),
    ("RevealWindow(uint64)", AuditRevert::RevealWindow),
    ("SeedNotDrawn(uint64)", AuditRevert::SeedNotDrawn),
    ("NotYetJudgeable(uint64)", AuditRevert::NotYetJudgeable),
];

/// A word as a `U256`.
pub fn as_u256(w: &Word) -> U256 {
    U256::from_be_bytes(*w)
}
