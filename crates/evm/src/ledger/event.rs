//! The events of `VeilLedger`: every commitment and every state change,
//! so that clients sync from logs (docs/evm.md §4–§5).

use crate::abi::{AbiError, Reader, Word, event_topic};
use crate::escrow::EscrowTerms;
use crate::sandbox::{Event, EvmAddress};
use crate::settle::SETTLED_EVENT;

/// The signature of `NodeRegistered`.
pub const NODE_REGISTERED_EVENT: &str =
    "NodeRegistered(uint256,address,uint64,uint64[],uint64,bytes32,uint256[2],uint256[3],bytes)";
/// The signature of `NodeUpdated`.
pub const NODE_UPDATED_EVENT: &str =
    "NodeUpdated(uint256,uint64,uint64,uint64[],bytes32,bytes,uint256[3])";

/// The signature of `Slashed`.
pub const SLASHED_EVENT: &str = "Slashed(uint256,uint64,uint64,address[],uint64)";

/// An event of `VeilLedger`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEvent {
    /// `Deposited(account, index, commitment, value)`.
    Deposited {
        account: EvmAddress,
        index: u64,
        commitment: Word,
        value: u64,
    },
    /// `NodeRegistered(nodeId, operator, price, sizes, stake, tls, nodeKey,
    /// nodeSignature, profile)`.
    NodeRegistered {
        node_id: Word,
        operator: EvmAddress,
        price_per_kib: u64,
        escrow_sizes: Vec<u64>,
        stake: u64,
        tls_key_hash: Word,
        node_key: [Word; 2],
        /// `[R.x, R.y, S]`, as sent: the contract does not check it.
        node_signature: [Word; 3],
        /// The node profile (§8.3.9), as sent.
        profile: Vec<u8>,
    },
    /// `NodeUpdated(nodeId, sequence, price, sizes, tls, profile,
    /// nodeSignature)` (§8.3.8).
    NodeUpdated {
        node_id: Word,
        sequence: u64,
        price_per_kib: u64,
        escrow_sizes: Vec<u64>,
        tls_key_hash: Word,
        profile: Vec<u8>,
        /// `[R.x, R.y, S]`, as sent: the contract does not check it.
        node_signature: [Word; 3],
    },
    /// `RegistrationCommitted(operator, commitment)` (`commitRegistration`).
    RegistrationCommitted {
        operator: EvmAddress,
        commitment: Word,
    },
    /// `BatchAppended(start, newRoot, submitter)`.
    BatchAppended {
        start: u64,
        new_root: Word,
        submitter: EvmAddress,
    },
    /// `QueuePadded(start, count)`: `count` zero leaves queued as leaves
    /// `start..start + count` (`padQueue`).
    QueuePadded { start: u64, count: u64 },
    /// `EscrowOpened(sessionId, nodeId, terms, sessionKeyHash, cmChange,
    /// changeIndex)`.
    EscrowOpened {
        session_id: Word,
        terms: EscrowTerms,
        session_key_hash: Word,
        cm_change: Word,
        change_index: u64,
    },
    /// `Settled(nodeId, total, firstIndex, sessionIds, cmRefunds)`: the
    /// refund of `session_ids[i]` is `cm_refunds[i]`, leaf `first_index + i`.
    Settled {
        node_id: Word,
        total: u64,
        first_index: u64,
        session_ids: Vec<Word>,
        cm_refunds: Vec<Word>,
    },
    /// `Reclaimed(sessionId, commitment, index)`.
    Reclaimed {
        session_id: Word,
        commitment: Word,
        index: u64,
    },
    /// `Slashed(nodeId, amount, rewardEach, rewarded, burnt)`: the auditor
    /// took `amount` of the node's stake (docs/market.md §5.1).
    Slashed {
        node_id: Word,
        amount: u64,
        reward_each: u64,
        rewarded: Vec<EvmAddress>,
        burnt: u64,
    },
    /// `NodeRetiring(nodeId, releasableAt)` (§8.3.12).
    NodeRetiring { node_id: Word, releasable_at: u64 },
    /// `NodeReleased(nodeId, paid)`: the stake paid back to the operator.
    NodeReleased { node_id: Word, paid: u64 },
    /// `Withdrawn(nullifier, recipient, amount, cmChange, changeIndex)`.
    Withdrawn {
        nullifier: Word,
        recipient: EvmAddress,
        amount: u64,
        cm_change: Word,
        change_index: u64,
    },
}

impl LedgerEvent {
    /// Decodes an event of the ledger.
    pub fn decode(e: &Event) -> Result<Self, AbiError> {
        let bad = AbiError::Malformed("VeilLedger event");
        let (sig, topics) = e.topics.split_first().ok_or(bad.clone())?;
        let topics = topics.concat();
        let (t, d) = (Reader::new(&topics), Reader::new(&e.data));
        if *sig == event_topic("Deposited(address,uint64,uint256,uint64)") {
            t.expect_words(1)?;
            d.expect_words(3)?;
            Ok(Self::Deposited {
                account: t.address(0)?,
                index: d.u64(0)?,
                commitment: d.word(1)?,
                value: d.u64(2)?,
            })
        } else if *sig == event_topic(NODE_REGISTERED_EVENT) {
            t.expect_words(2)?;
            Ok(Self::NodeRegistered {
                node_id: t.word(0)?,
                operator: t.address(1)?,
                price_per_kib: d.u64(0)?,
                escrow_sizes: d.u64_array(1)?,
                stake: d.u64(2)?,
                tls_key_hash: d.word(3)?,
                node_key: [d.word(4)?, d.word(5)?],
                node_signature: [d.word(6)?, d.word(7)?, d.word(8)?],
                profile: d.bytes(9)?,
            })
        } else if *sig == event_topic(NODE_UPDATED_EVENT) {
            t.expect_words(1)?;
            Ok(Self::NodeUpdated {
                node_id: t.word(0)?,
                sequence: d.u64(0)?,
                price_per_kib: d.u64(1)?,
                escrow_sizes: d.u64_array(2)?,
                tls_key_hash: d.word(3)?,
                profile: d.bytes(4)?,
                node_signature: [d.word(5)?, d.word(6)?, d.word(7)?],
            })
        } else if *sig == event_topic("RegistrationCommitted(address,bytes32)") {
            t.expect_words(1)?;
            d.expect_words(1)?;
            Ok(Self::RegistrationCommitted {
                operator: t.address(0)?,
                commitment: d.word(0)?,
            })
        } else if *sig == event_topic("BatchAppended(uint64,uint256,address)") {
            t.expect_words(1)?;
            d.expect_words(2)?;
            Ok(Self::BatchAppended {
                start: t.u64(0)?,
                new_root: d.word(0)?,
                submitter: d.address(1)?,
            })
        } else if *sig == event_topic(SLASHED_EVENT) {
            t.expect_words(1)?;
            let rewarded = d
                .word_array(2)?
                .iter()
                .map(|w| Reader::new(w).address(0))
                .collect::<Result<_, _>>()?;
            Ok(Self::Slashed {
                node_id: t.word(0)?,
                amount: d.u64(0)?,
                reward_each: d.u64(1)?,
                rewarded,
                burnt: d.u64(3)?,
            })
        } else if *sig == event_topic("NodeRetiring(uint256,uint64)") {
            t.expect_words(1)?;
            d.expect_words(1)?;
            Ok(Self::NodeRetiring {
                node_id: t.word(0)?,
                releasable_at: d.u64(0)?,
            })
        } else if *sig == event_topic("NodeReleased(uint256,uint64)") {
            t.expect_words(1)?;
            d.expect_words(1)?;
            Ok(Self::NodeReleased {
                node_id: t.word(0)?,
                paid: d.u64(0)?,
            })
        } else if *sig == event_topic("QueuePadded(uint64,uint64)") {
            t.expect_words(0)?;
            d.expect_words(2)?;
            Ok(Self::QueuePadded {
                start: d.u64(0)?,
                count: d.u64(1)?,
            })
        } else {
            Self::decode_escrow_event(sig, &t, &d).ok_or(bad)?
        }
    }

    /// The events of escrows, reclaim and withdrawal (docs/evm.md §5);
    /// `None` for another signature.
    fn decode_escrow_event(sig: &Word, t: &Reader, d: &Reader) -> Option<Result<Self, AbiError>> {
        let decoded = if *sig == event_topic(EscrowTerms::OPENED_EVENT) {
            const N: usize = crate::escrow::ESCROW_TERMS_WORDS;
            t.expect_words(2)
                .and_then(|_| d.expect_words(N + 3))
                .and_then(|_| {
                    Ok(Self::EscrowOpened {
                        session_id: t.word(0)?,
                        terms: EscrowTerms::decode_at(d, 0)?,
                        session_key_hash: d.word(N)?,
                        cm_change: d.word(N + 1)?,
                        change_index: d.u64(N + 2)?,
                    })
                })
        } else if *sig == event_topic(SETTLED_EVENT) {
            t.expect_words(1).and_then(|_| {
                let session_ids = d.word_array(2)?;
                let cm_refunds = d.word_array(3)?;
                if session_ids.len() != cm_refunds.len() {
                    return Err(AbiError::Malformed("Settled arrays"));
                }
                Ok(Self::Settled {
                    node_id: t.word(0)?,
                    total: d.u64(0)?,
                    first_index: d.u64(1)?,
                    session_ids,
                    cm_refunds,
                })
            })
        } else if *sig == event_topic("Reclaimed(uint256,uint256,uint64)") {
            t.expect_words(1)
                .and_then(|_| d.expect_words(2))
                .and_then(|_| {
                    Ok(Self::Reclaimed {
                        session_id: t.word(0)?,
                        commitment: d.word(0)?,
                        index: d.u64(1)?,
                    })
                })
        } else if *sig == event_topic("Withdrawn(uint256,address,uint64,uint256,uint64)") {
            t.expect_words(2)
                .and_then(|_| d.expect_words(3))
                .and_then(|_| {
                    Ok(Self::Withdrawn {
                        nullifier: t.word(0)?,
                        recipient: t.address(1)?,
                        amount: d.u64(0)?,
                        cm_change: d.word(1)?,
                        change_index: d.u64(2)?,
                    })
                })
        } else {
            return None;
        };
        Some(decoded)
    }
}
