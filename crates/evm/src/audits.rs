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

/// Constructor arguments: the stake token, the `answer` circuit's
/// verifier, the epoch length and the reveal window, in blocks.
pub fn constructor(
    token: EvmAddress,
    answer_verifier: EvmAddress,
    epoch_blocks: u64,
    reveal_blocks: u64,
) -> Vec<u8> {
    encode_args(&[
        Arg::Word(word_address(token)),
        Arg::Word(word_address(answer_verifier)),
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

/// Of a monitor's stake, slashed for a seed secret it committed to and
/// withheld (`VeilAudits.WITHHELD_SLASH_PPM`); the reporter is paid
/// `AuditRule::reward_ppm` of it, the rest is burnt.
pub const WITHHELD_SLASH_PPM: u64 = 100_000;

/// `punishWithheld(epoch, monitor)`: anyone, once `epoch`'s reveal window
/// closed, for a commitment `monitor` did not reveal.
pub fn punish_withheld(epoch: u64, monitor: EvmAddress) -> Vec<u8> {
    call(
        "punishWithheld(uint64,address)",
        &[word_u64(epoch), word_address(monitor)],
    )
}

/// `WITHHELD_SLASH_PPM()`.
pub fn withheld_slash_ppm() -> Vec<u8> {
    call("WITHHELD_SLASH_PPM()", &[])
}

/// What `seedCommits` holds for a monitor and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedCommit {
    None,
    /// Committed, not revealed (yet: withheld once the window closed).
    Committed(Word),
    Revealed,
    /// Withheld, and slashed for it.
    Withheld,
}

impl SeedCommit {
    /// Decodes the `seedCommits` word: 0, 1 and 2 are marks.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        r.expect_words(1)?;
        let w = r.word(0)?;
        let mark = w[..31].iter().all(|b| *b == 0);
        Ok(match (mark, w[31]) {
            (true, 0) => Self::None,
            (true, 1) => Self::Revealed,
            (true, 2) => Self::Withheld,
            _ => Self::Committed(w),
        })
    }
}

/// `seedCommits(epoch, monitor)`: [`SeedCommit`].
pub fn seed_commit(epoch: u64, monitor: EvmAddress) -> Vec<u8> {
    call(
        "seedCommits(uint64,address)",
        &[word_u64(epoch), word_address(monitor)],
    )
}

/// `seedMix(epoch)`: the XOR of the revealed secrets' hashes.
pub fn seed_mix(epoch: u64) -> Vec<u8> {
    call("seedMix(uint64)", &[word_u64(epoch)])
}

/// `eligible(monitor, epoch)`: assigned in `epoch` (and may commit for it).
pub fn eligible(monitor: EvmAddress, epoch: u64) -> Vec<u8> {
    call(
        "eligible(address,uint64)",
        &[word_address(monitor), word_u64(epoch)],
    )
}

/// `monitorCount()`: monitors registered and not released.
pub fn monitor_count() -> Vec<u8> {
    call("monitorCount()", &[])
}

/// `monitorList(i)`: the `i`-th monitor not released (in no fixed order).
pub fn monitor_at(i: u64) -> Vec<u8> {
    call("monitorList(uint256)", &[word_u64(i)])
}

/// `revealBlocks()`.
pub fn reveal_blocks() -> Vec<u8> {
    call("revealBlocks()", &[])
}

/// What a revealed secret adds to the mix: `keccak256(abi.encode(secret))`.
pub fn mix_of(secret: Word) -> Word {
    keccak256(secret).0
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

/// `epochOf(height)`: the audits' epoch of a block.
pub fn epoch_of(height: u64) -> Vec<u8> {
    call("epochOf(uint256)", &[word_u64(height)])
}

pub fn epoch_start(epoch: u64) -> Vec<u8> {
    call("epochStart(uint64)", &[word_u64(epoch)])
}

/// `judged(epoch, nodeId)`: whether the verdict ran.
pub fn judged(epoch: u64, node_id: Word) -> Vec<u8> {
    call("judged(uint64,uint256)", &[word_u64(epoch), node_id])
}

/// `reportsOf(epoch, nodeId)`: the monitors, throughputs and RTTs.
pub fn reports_of(epoch: u64, node_id: Word) -> Vec<u8> {
    call("reportsOf(uint64,uint256)", &[word_u64(epoch), node_id])
}

/// Of a node's locked stake, slashed for a missed challenge
/// (`VeilAudits.EVIDENCE_SLASH_PPM`, `AuditRule::evidence_slash_ppm`).
pub fn evidence_slash_ppm() -> Vec<u8> {
    call("EVIDENCE_SLASH_PPM()", &[])
}

/// `challenge(epoch, nodeId)`: the sender, a monitor assigned to the node
/// in the current `epoch`, challenges it (docs/protocol.md §8.3.14).
pub fn challenge(epoch: u64, node_id: Word) -> Vec<u8> {
    call("challenge(uint64,uint256)", &[word_u64(epoch), node_id])
}

/// `answerChallenge(epoch, nodeId, monitor, proof)`: anyone carries the
/// node key's answer, as an `answer` proof (`ProofWords::words`).
pub fn answer_challenge(
    epoch: u64,
    node_id: Word,
    monitor: EvmAddress,
    proof: &[Word; 8],
) -> Vec<u8> {
    let mut args = vec![
        Arg::Word(word_u64(epoch)),
        Arg::Word(node_id),
        Arg::Word(word_address(monitor)),
    ];
    args.extend(proof.iter().map(|w| Arg::Word(*w)));
    encode_call_args(
        selector("answerChallenge(uint64,uint256,address,uint256[8])"),
        &args,
    )
}

/// `slashMissed(epoch, nodeId, monitor)`: anyone, once the challenge's
/// deadline passed unanswered.
pub fn slash_missed(epoch: u64, node_id: Word, monitor: EvmAddress) -> Vec<u8> {
    call(
        "slashMissed(uint64,uint256,address)",
        &[word_u64(epoch), node_id, word_address(monitor)],
    )
}

/// `openChallenges(nodeId)`: challenges neither answered nor slashed.
pub fn open_challenges(node_id: Word) -> Vec<u8> {
    call("openChallenges(uint256)", &[node_id])
}

/// `challenges(epoch, nodeId, monitor)`: [`ChallengeView`].
pub fn challenge_of(epoch: u64, node_id: Word, monitor: EvmAddress) -> Vec<u8> {
    call(
        "challenges(uint64,uint256,address)",
        &[word_u64(epoch), node_id, word_address(monitor)],
    )
}

/// Where a challenge on the contract stands (`Challenge.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    /// No such challenge.
    None,
    Open,
    Answered {
        at: u64,
    },
    Missed {
        slashed: u64,
    },
}

/// A challenge as `challenges(uint64,uint256,address)` returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeView {
    /// The note tree's root when it was issued.
    pub root: Word,
    pub issued_at: u64,
    /// The last height an answer is taken at.
    pub deadline: u64,
    pub status: ChallengeStatus,
}

impl ChallengeView {
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        r.expect_words(6)?;
        let status = match r.u64(4)? {
            0 => ChallengeStatus::None,
            1 => ChallengeStatus::Open,
            2 => ChallengeStatus::Answered { at: r.u64(3)? },
            3 => ChallengeStatus::Missed { slashed: r.u64(5)? },
            _ => return Err(AbiError::Malformed("challenge state")),
        };
        Ok(Self {
            root: r.word(0)?,
            issued_at: r.u64(1)?,
            deadline: r.u64(2)?,
            status,
        })
    }
}

/// The indexed fields of a `ChallengeIssued` event: who challenged which
/// node in which audit epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedChallenge {
    pub epoch: u64,
    pub node: Word,
    pub monitor: EvmAddress,
}

/// The `ChallengeIssued(epoch, nodeId, monitor, ..)` events among
/// `events`, in order, each once. An event whose indexed words are not
/// canonical (an epoch over 64 bits, an address over 20 bytes) is not one
/// `VeilAudits` emits and is skipped.
pub fn challenges_issued(events: &[crate::sandbox::Event]) -> Vec<IssuedChallenge> {
    let sig = crate::abi::event_topic("ChallengeIssued(uint64,uint256,address,uint256,uint64)");
    let mut out: Vec<IssuedChallenge> = events
        .iter()
        .filter(|e| e.topics.len() == 4 && e.topics[0] == sig)
        .filter_map(|e| {
            Some(IssuedChallenge {
                epoch: topic_u64(&e.topics[1])?,
                node: e.topics[2],
                monitor: topic_address(&e.topics[3])?,
            })
        })
        .collect();
    out.dedup();
    out
}

/// The node of a `ChallengeMissed(epoch, nodeId, monitor, slashed)` event,
/// if `e` is one.
pub fn challenge_missed(e: &crate::sandbox::Event) -> Option<Word> {
    let sig = crate::abi::event_topic("ChallengeMissed(uint64,uint256,address,uint64)");
    (e.topics.len() == 4 && e.topics[0] == sig).then(|| e.topics[2])
}

/// An indexed `uint64`: the upper 24 bytes zero.
fn topic_u64(t: &Word) -> Option<u64> {
    let (high, low) = t.split_at(24);
    high.iter()
        .all(|b| *b == 0)
        .then(|| u64::from_be_bytes(low.try_into().unwrap_or_default()))
}

/// An indexed `address`: the upper 12 bytes zero.
fn topic_address(t: &Word) -> Option<EvmAddress> {
    let (high, low) = t.split_at(12);
    high.iter()
        .all(|b| *b == 0)
        .then(|| EvmAddress::from_slice(low))
}

/// The monitors whose `SeedCommitted(epoch, monitor)` event for `epoch`
/// is among `events` (other events and epochs are skipped), each once.
pub fn seed_committers(events: &[crate::sandbox::Event], epoch: u64) -> Vec<EvmAddress> {
    let sig = crate::abi::event_topic("SeedCommitted(uint64,address)");
    let mut out: Vec<EvmAddress> = events
        .iter()
        .filter(|e| e.topics.len() == 3 && e.topics[0] == sig && e.topics[1] == word_u64(epoch))
        .filter_map(|e| topic_address(&e.topics[2]))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The reports `reportsOf` returns: `(monitor, kbps, rtt_ms)` each.
pub fn decode_reports(data: &[u8]) -> Result<Vec<(EvmAddress, u64, u64)>, AbiError> {
    let r = Reader::new(data);
    let monitors = r.word_array(0)?;
    let kbps = r.u64_array(1)?;
    let rtt = r.u64_array(2)?;
    if kbps.len() != monitors.len() || rtt.len() != monitors.len() {
        return Err(AbiError::Malformed("reportsOf arrays of unequal length"));
    }
    monitors
        .iter()
        .zip(kbps.into_iter().zip(rtt))
        .map(|(m, (k, t))| {
            if m[..12].iter().any(|b| *b != 0) {
                return Err(AbiError::Malformed("address"));
            }
            Ok((EvmAddress::from_slice(&m[12..]), k, t))
        })
        .collect()
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
    /// 0: active.
    pub retired_at: u64,
    /// 0: not released.
    pub released_at: u64,
    pub pending: u64,
    pub recent: u64,
    pub recent_len: u64,
    pub registered: bool,
}

impl MonitorView {
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        r.expect_words(8)?;
        Ok(Self {
            stake: r.u64(0)?,
            registered_at: r.u64(1)?,
            retired_at: r.u64(2)?,
            released_at: r.u64(3)?,
            pending: r.u64(4)?,
            recent: r.u64(5)?,
            recent_len: r.u64(6)?,
            registered: r.u64(7)? != 0,
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
    NotWithheld,
    SeedUnrevealed(u64),
    SeedNotDrawn(u64),
    SeedAlreadyDrawn(u64),
    ReportNotOpen,
    UnknownNode,
    NotAssigned,
    ReportExists,
    NotYetJudgeable(u64),
    AlreadyJudged,
    TokenTransferFailed,
    InsufficientBalance,
    ChallengeExists,
    ChallengeEpoch(u64),
    NodeRetired,
    UnknownChallenge,
    BadChallengeAnswer,
    ChallengeClosed,
    ChallengeOpen(u64),
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

const UNIT_ERRORS: [(&str, AuditRevert); 23] = [
    ("ChallengeExists()", AuditRevert::ChallengeExists),
    ("NodeRetired()", AuditRevert::NodeRetired),
    ("UnknownChallenge()", AuditRevert::UnknownChallenge),
    ("BadChallengeAnswer()", AuditRevert::BadChallengeAnswer),
    ("ChallengeClosed()", AuditRevert::ChallengeClosed),
    ("NotWithheld()", AuditRevert::NotWithheld),
    ("InsufficientBalance()", AuditRevert::InsufficientBalance),
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

const EPOCH_ERRORS: [(&str, EpochError); 9] = [
    ("ChallengeEpoch(uint64)", AuditRevert::ChallengeEpoch),
    ("ChallengeOpen(uint64)", AuditRevert::ChallengeOpen),
    ("SeedUnrevealed(uint64)", AuditRevert::SeedUnrevealed),
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn revert(signature: &str, args: &[Word]) -> Vec<u8> {
        call(signature, args)
    }

    #[test]
    fn every_error_decodes_to_its_variant_and_nothing_else_does() {
        let w = |v: u64| word_u64(v);
        for (sig, v) in &UNIT_ERRORS {
            assert_eq!(AuditRevert::decode(&revert(sig, &[])).as_ref(), Ok(v));
            // Trailing words are refused, not ignored.
            assert!(AuditRevert::decode(&revert(sig, &[w(1)])).is_err(), "{sig}");
        }
        for (sig, f) in &EPOCH_ERRORS {
            assert_eq!(AuditRevert::decode(&revert(sig, &[w(7)])), Ok(f(7)));
            assert!(AuditRevert::decode(&revert(sig, &[])).is_err(), "{sig}");
        }
        assert_eq!(
            AuditRevert::decode(&revert("StakeLocked(uint256,uint24)", &[w(300), w(2)])),
            Ok(AuditRevert::StakeLocked {
                height: 300,
                pending: 2
            })
        );
        assert!(AuditRevert::decode(&revert("Nope()", &[])).is_err());
        assert!(AuditRevert::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let sels: Vec<[u8; 4]> = UNIT_ERRORS
            .iter()
            .map(|(s, _)| selector(s))
            .chain(EPOCH_ERRORS.iter().map(|(s, _)| selector(s)))
            .chain([
                selector("InvalidArgument(string)"),
                selector("StakeLocked(uint256,uint24)"),
            ])
            .collect();
        for _ in 0..20_000 {
            let len = rng.gen_range(0..300);
            let mut data: Vec<u8> = (0..len).map(|_| rng.r#gen()).collect();
            if data.len() >= 4 && rng.gen_bool(0.5) {
                data[..4].copy_from_slice(&sels[rng.gen_range(0..sels.len())]);
            }
            let _ = AuditRevert::decode(&data);
            let _ = MonitorView::decode(&data);
            let _ = VerdictView::decode(&data);
            let _ = decode_reports(&data);
            let _ = ChallengeView::decode(&data);
        }
    }

    /// The event readers take canonical indexed words only, and none
    /// indexes past the topics an event has.
    #[test]
    fn event_readers_check_their_topics() {
        let issued =
            crate::abi::event_topic("ChallengeIssued(uint64,uint256,address,uint256,uint64)");
        let missed = crate::abi::event_topic("ChallengeMissed(uint64,uint256,address,uint64)");
        let monitor = EvmAddress::repeat_byte(9);
        let mut addr = [0u8; 32];
        addr[12..].copy_from_slice(monitor.as_slice());
        let event = |topics: Vec<Word>| crate::sandbox::Event {
            address: EvmAddress::ZERO,
            topics,
            data: Vec::new(),
        };
        let ok = event(vec![issued, word_u64(4), [5; 32], addr]);
        let want = IssuedChallenge {
            epoch: 4,
            node: [5; 32],
            monitor,
        };
        assert_eq!(challenges_issued(&[ok.clone(), ok.clone()]), vec![want]);
        let mut wide_epoch = word_u64(4);
        wide_epoch[0] = 1;
        let mut wide_addr = addr;
        wide_addr[0] = 1;
        for bad in [
            event(vec![issued, wide_epoch, [5; 32], addr]),
            event(vec![issued, word_u64(4), [5; 32], wide_addr]),
            event(vec![issued, word_u64(4), [5; 32]]),
            event(vec![missed, word_u64(4), [5; 32], addr]),
        ] {
            assert!(challenges_issued(&[bad]).is_empty());
        }
        assert_eq!(
            challenge_missed(&event(vec![missed, word_u64(4), [5; 32], addr])),
            Some([5; 32])
        );
        for short in 0..4 {
            let topics = [missed, word_u64(4), [5; 32], addr][..short].to_vec();
            assert_eq!(challenge_missed(&event(topics)), None);
        }
        assert_eq!(challenge_missed(&ok), None);
        let committed = crate::abi::event_topic("SeedCommitted(uint64,address)");
        let seeds = [
            event(vec![committed, word_u64(4), addr]),
            event(vec![committed, word_u64(4), wide_addr]),
        ];
        assert_eq!(seed_committers(&seeds, 4), vec![monitor]);
    }
}
