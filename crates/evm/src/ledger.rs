//! Typed calls, errors and events of `VeilLedger`
//! (`contracts/src/ledger/VeilLedger.sol`), stage 1: deposits into the
//! leaf queue and node registration (`docs/evm.md` §4). The contract's
//! custom errors carry the names of the embedded ledger's `LedgerError`
//! variants (`veil_ledger::error`); [`LedgerRevert::name`] is that name.

use revm::primitives::{U256, keccak256};

use crate::abi::{
    AbiError, Arg, Reader, Word, encode_args, encode_call_args, event_topic, selector,
    split_revert, word_address, word_u64,
};
use crate::artifact::Artifact;
use crate::sandbox::{Event, EvmAddress};

/// The contract's name in `contracts/artifacts/`.
pub const CONTRACT: &str = "VeilLedger";

/// The queue head is checkpointed every this many leaves
/// (`CHECKPOINT_INTERVAL` in the contract; docs/evm.md §3.2).
pub const CHECKPOINT_INTERVAL: u64 = 64;

/// Constructor parameters (docs/protocol.md §8.1; heights are block numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerParams {
    /// The ERC-20 value token.
    pub token: EvmAddress,
    /// A deployed `PoseidonT4`.
    pub poseidon_t4: EvmAddress,
    /// Blocks after expiry during which a node may still settle.
    pub challenge_window: u64,
    /// Largest `expiry − height` an access token may ask for.
    pub max_expiry_delta: u64,
}

impl LedgerParams {
    /// Creation code ‖ constructor arguments.
    pub fn initcode(&self, artifact: &Artifact) -> Vec<u8> {
        let mut code = artifact.bytecode.clone();
        code.extend_from_slice(&encode_args(&[
            Arg::Word(word_address(self.token)),
            Arg::Word(word_address(self.poseidon_t4)),
            Arg::Word(word_u64(self.challenge_window)),
            Arg::Word(word_u64(self.max_expiry_delta)),
        ]));
        code
    }
}

/// `deposit(addr, value)` with raw words, so that tests can send what a
/// typed caller cannot (`addr ≥ r`, `value ≥ 2^64`).
pub fn deposit(addr: Word, value: Word) -> Vec<u8> {
    encode_call_args(
        selector("deposit(uint256,uint256)"),
        &[Arg::Word(addr), Arg::Word(value)],
    )
}

/// A registration as sent to `registerNode` (raw words, see [`deposit`]).
/// The operator (staking and payout account) is the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The node key `N` as `[x, y]`.
    pub node_key: [Word; 2],
    pub price_per_kib: Word,
    pub escrow_sizes: Vec<Word>,
    pub stake: Word,
    /// SHA-256 of the node's TLS key.
    pub tls_key_hash: Word,
}

/// `registerNode(nodeKey, pricePerKib, escrowSizes, stake, tlsKeyHash)`.
pub fn register_node(r: &Registration) -> Vec<u8> {
    encode_call_args(
        selector("registerNode(uint256[2],uint256,uint256[],uint256,bytes32)"),
        &[
            Arg::Word(r.node_key[0]),
            Arg::Word(r.node_key[1]),
            Arg::Word(r.price_per_kib),
            Arg::Words(r.escrow_sizes.clone()),
            Arg::Word(r.stake),
            Arg::Word(r.tls_key_hash),
        ],
    )
}

/// Calldata of the public getters.
pub mod view {
    use super::*;

    pub fn queue_head() -> Vec<u8> {
        selector("queueHead()").to_vec()
    }
    pub fn leaf_count() -> Vec<u8> {
        selector("leafCount()").to_vec()
    }
    pub fn pool() -> Vec<u8> {
        selector("pool()").to_vec()
    }
    pub fn staked() -> Vec<u8> {
        selector("staked()").to_vec()
    }
    /// The queue head after `64·k` leaves (0 until written).
    pub fn checkpoint(k: u64) -> Vec<u8> {
        encode_call_args(selector("checkpoints(uint256)"), &[Arg::Word(word_u64(k))])
    }
    /// Leaf index + 1 of a deposited commitment, 0 if never deposited.
    pub fn deposit_index_plus_one(cm: Word) -> Vec<u8> {
        encode_call_args(selector("depositIndexPlusOne(uint256)"), &[Arg::Word(cm)])
    }
    pub fn node(node_id: Word) -> Vec<u8> {
        encode_call_args(selector("node(uint256)"), &[Arg::Word(node_id)])
    }
}

/// The queue's keccak chain, one step: `keccak256(head ‖ cm)` (the
/// contract's `_queue`). The head of an empty queue is zero.
pub fn queue_step(head: &Word, cm: &Word) -> Word {
    let mut buf = [0u8; 64];
    buf[..32].copy_from_slice(head);
    buf[32..].copy_from_slice(cm);
    keccak256(buf).0
}

/// The queue head after `leaves`, from the empty queue.
pub fn queue_head(leaves: &[Word]) -> Word {
    leaves.iter().fold([0u8; 32], |h, cm| queue_step(&h, cm))
}

/// A registered node as `node(nodeId)` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Zero if the node is not registered.
    pub operator: EvmAddress,
    pub price_per_kib: u64,
    pub escrow_sizes: Vec<u64>,
    pub stake: u64,
    pub registered_at: u64,
}

impl NodeView {
    /// Decodes `(address, uint64, uint64[], uint64, uint64)`.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        Ok(NodeView {
            operator: r.address(0)?,
            price_per_kib: r.u64(1)?,
            escrow_sizes: r.u64_array(2)?,
            stake: r.u64(3)?,
            registered_at: r.u64(4)?,
        })
    }
}

/// A custom error of `VeilLedger`. Every variant but the last is named
/// like the embedded ledger's `LedgerError` variant for the same refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerRevert {
    /// A malformed field, named as in the embedded ledger's wire decoding.
    Encoding(String),
    InvalidArgument(String),
    /// The token allowance does not cover the debit.
    AccountUnauthenticated(String),
    InsufficientBalance,
    DuplicateDeposit,
    NodeExists,
    Overflow,
    /// The token's `transferFrom` failed (chain only: no embedded twin).
    TokenTransferFailed,
}

impl LedgerRevert {
    /// Decodes revert data; another selector or malformed arguments are an
    /// error.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let (sel, r) = split_revert(data)?;
        let with_text = |name: &str| selector(&format!("{name}(string)")) == sel;
        let plain = |name: &str| selector(&format!("{name}()")) == sel;
        let unit = |v: Self| r.expect_words(0).map(|_| v);
        if with_text("Encoding") {
            Ok(Self::Encoding(r.string(0)?))
        } else if with_text("InvalidArgument") {
            Ok(Self::InvalidArgument(r.string(0)?))
        } else if with_text("AccountUnauthenticated") {
            Ok(Self::AccountUnauthenticated(r.string(0)?))
        } else if plain("InsufficientBalance") {
            unit(Self::InsufficientBalance)
        } else if plain("DuplicateDeposit") {
            unit(Self::DuplicateDeposit)
        } else if plain("NodeExists") {
            unit(Self::NodeExists)
        } else if plain("Overflow") {
            unit(Self::Overflow)
        } else if plain("TokenTransferFailed") {
            unit(Self::TokenTransferFailed)
        } else {
            Err(AbiError::Malformed("VeilLedger error selector"))
        }
    }

    /// The error's name: the `LedgerError` variant it stands for.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Encoding(_) => "Encoding",
            Self::InvalidArgument(_) => "InvalidArgument",
            Self::AccountUnauthenticated(_) => "AccountUnauthenticated",
            Self::InsufficientBalance => "InsufficientBalance",
            Self::DuplicateDeposit => "DuplicateDeposit",
            Self::NodeExists => "NodeExists",
            Self::Overflow => "Overflow",
            Self::TokenTransferFailed => "TokenTransferFailed",
        }
    }
}

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
    /// `NodeRegistered(nodeId, operator, price, sizes, stake, tls, nodeKey)`.
    NodeRegistered {
        node_id: Word,
        operator: EvmAddress,
        price_per_kib: u64,
        escrow_sizes: Vec<u64>,
        stake: u64,
        tls_key_hash: Word,
        node_key: [Word; 2],
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
        } else if *sig
            == event_topic(
                "NodeRegistered(uint256,address,uint64,uint64[],uint64,bytes32,uint256[2])",
            )
        {
            t.expect_words(2)?;
            Ok(Self::NodeRegistered {
                node_id: t.word(0)?,
                operator: t.address(1)?,
                price_per_kib: d.u64(0)?,
                escrow_sizes: d.u64_array(1)?,
                stake: d.u64(2)?,
                tls_key_hash: d.word(3)?,
                node_key: [d.word(4)?, d.word(5)?],
            })
        } else {
            Err(bad)
        }
    }
}

/// A `uint256` return value.
pub fn decode_word(data: &[u8]) -> Result<Word, AbiError> {
    let r = Reader::new(data);
    r.expect_words(1)?;
    r.word(0)
}

/// A `uint64` return value.
pub fn decode_u64(data: &[u8]) -> Result<u64, AbiError> {
    let r = Reader::new(data);
    r.expect_words(1)?;
    r.u64(0)
}

/// `v` as a word.
pub fn word_u256(v: U256) -> Word {
    v.to_be_bytes()
}
