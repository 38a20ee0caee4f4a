//! Typed calls, errors and events of `VeilLedger`
//! (`contracts/src/ledger/VeilLedger.sol`): deposits into the leaf queue,
//! node registration, and the note tree advanced by proven batches of 64
//! queued leaves (`docs/evm.md` §4). The contract's custom errors carry the
//! names of the embedded ledger's `LedgerError` variants
//! (`veil_ledger::error`) where one exists; [`LedgerRevert::name`] is that
//! name.

use rand::{CryptoRng, RngCore};
use revm::primitives::{U256, keccak256};
use veil_circuits::tree_insert::{self, TreeInsertError, TreeInsertPublic};
use veil_primitives::Fr;
use veil_primitives::merkle::{Frontier, MerkleRoot, ROOT_HISTORY};
use veil_proofs::{Proof, ProofError, Prover};

use crate::abi::{
    AbiError, Arg, Reader, Word, encode_args, encode_call_args, event_topic, selector,
    split_revert, word_address, word_u64,
};
use crate::artifact::Artifact;
use crate::sandbox::{Event, EvmAddress};
use crate::solidity::{ProofWords, fr_word};

/// The contract's name in `contracts/artifacts/`.
pub const CONTRACT: &str = "VeilLedger";

/// The queue head is checkpointed every this many leaves
/// (`CHECKPOINT_INTERVAL` in the contract; docs/evm.md §3.2).
pub const CHECKPOINT_INTERVAL: u64 = 64;

/// Leaves per `appendBatch`: the `K` of `tree_insert_K` (the checkpoint
/// interval, so that each batch is checked against one checkpoint).
pub const BATCH: usize = CHECKPOINT_INTERVAL as usize;

/// Constructor parameters (docs/protocol.md §8.1; heights are block numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerParams {
    /// The ERC-20 value token.
    pub token: EvmAddress,
    /// A deployed `PoseidonT4`.
    pub poseidon_t4: EvmAddress,
    /// A deployed `TreeInsert64Verifier`.
    pub tree_insert_verifier: EvmAddress,
    /// The root of the empty tree ([`LedgerParams::new`]: the ledger's
    /// own `Frontier::new().root()`).
    pub initial_root: Word,
    /// Roots `isKnownRoot` accepts ([`LedgerParams::new`]: `ROOT_HISTORY`).
    pub root_history: u64,
    /// Blocks after expiry during which a node may still settle.
    pub challenge_window: u64,
    /// Largest `expiry − height` an access token may ask for.
    pub max_expiry_delta: u64,
}

impl LedgerParams {
    /// The parameters of a ledger over these contracts, with the empty
    /// tree's root and the root window taken from the embedded ledger's
    /// definitions (`veil_primitives::merkle`, §2.4).
    pub fn new(
        token: EvmAddress,
        poseidon_t4: EvmAddress,
        tree_insert_verifier: EvmAddress,
        challenge_window: u64,
        max_expiry_delta: u64,
    ) -> Self {
        LedgerParams {
            token,
            poseidon_t4,
            tree_insert_verifier,
            initial_root: empty_root(),
            root_history: ROOT_HISTORY as u64,
            challenge_window,
            max_expiry_delta,
        }
    }

    /// Creation code ‖ constructor arguments.
    pub fn initcode(&self, artifact: &Artifact) -> Vec<u8> {
        let mut code = artifact.bytecode.clone();
        code.extend_from_slice(&encode_args(&[
            Arg::Word(word_address(self.token)),
            Arg::Word(word_address(self.poseidon_t4)),
            Arg::Word(word_address(self.tree_insert_verifier)),
            Arg::Word(self.initial_root),
            Arg::Word(word_u64(self.root_history)),
            Arg::Word(word_u64(self.challenge_window)),
            Arg::Word(word_u64(self.max_expiry_delta)),
        ]));
        code
    }
}

/// The root of the empty note tree, as the embedded ledger computes it.
pub fn empty_root() -> Word {
    fr_word(&Frontier::new().root().inner())
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

/// One batched append ready to send: the `tree_insert_64` statement and
/// its proof (docs/evm.md §4.6).
#[derive(Clone, Debug)]
pub struct BatchAppend {
    /// Old root, new root, start and the 64 leaves.
    pub public: TreeInsertPublic,
    /// The Groth16 proof of `tree_insert_64`.
    pub proof: Proof,
}

/// Why the next batch could not be proved.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Fewer than 64 leaves are queued beyond the tree.
    #[error("{queued} leaves queued beyond the tree, a batch needs {BATCH}")]
    NotFull {
        /// Leaves queued and not yet in the tree.
        queued: usize,
    },
    /// The statement does not hold (the frontier is not at a batch
    /// boundary, or the tree is full).
    #[error(transparent)]
    Statement(#[from] TreeInsertError),
    /// Proving failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
}

/// Proves the next batch: appends `queued[..64]` (the leaves queued after
/// the tree's, in queue order) to `tree` (the ledger's own `Frontier` of
/// the leaves already in the contract's tree), returning the call and the
/// frontier after it. `prover` must hold the `tree_insert_64` key.
pub fn prove_next_batch(
    prover: &Prover,
    tree: &Frontier,
    queued: &[Fr],
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<(BatchAppend, Frontier), BatchError> {
    let leaves = queued.get(..BATCH).ok_or(BatchError::NotFull {
        queued: queued.len(),
    })?;
    let (public, siblings, after) = tree_insert::prepare(tree, leaves)?;
    let proof = prover.prove_tree_insert_64(&public, siblings, rng)?;
    Ok((BatchAppend { public, proof }, after))
}

impl BatchAppend {
    /// The `appendBatch` calldata of this batch.
    pub fn calldata(&self) -> Vec<u8> {
        let leaves: Vec<Word> = self.public.leaves.iter().map(fr_word).collect();
        append_batch(
            word_u64(self.public.start),
            fr_word(&self.public.new_root.inner()),
            &leaves,
            &ProofWords::from_proof(&self.proof),
        )
    }
}

/// `appendBatch(start, newRoot, leaves[64], a, b, c)` with raw words, so
/// that tests can send what [`BatchAppend::calldata`] would not. `leaves`
/// must hold exactly 64 words for a well-formed call.
pub fn append_batch(start: Word, new_root: Word, leaves: &[Word], proof: &ProofWords) -> Vec<u8> {
    let args: Vec<Arg> = [start, new_root]
        .into_iter()
        .chain(leaves.iter().copied())
        .chain(proof.words())
        .map(Arg::Word)
        .collect();
    encode_call_args(
        selector("appendBatch(uint256,uint256,uint256[64],uint256[2],uint256[2][2],uint256[2])"),
        &args,
    )
}

/// Calldata of the public getters.
pub mod view {
    use super::*;

    pub fn tree_size() -> Vec<u8> {
        selector("treeSize()").to_vec()
    }
    pub fn current_root() -> Vec<u8> {
        selector("currentRoot()").to_vec()
    }
    pub fn root_history_size() -> Vec<u8> {
        selector("rootHistorySize()").to_vec()
    }
    /// Whether `root` is within the root window (a `bool`).
    pub fn is_known_root(root: Word) -> Vec<u8> {
        encode_call_args(selector("isKnownRoot(uint256)"), &[Arg::Word(root)])
    }

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
    /// `appendBatch` not at the tree's size (chain only).
    WrongBatchStart {
        expected: u64,
        given: Word,
    },
    /// Fewer than 64 leaves queued from the tree's size (chain only).
    BatchNotFull {
        queued: u64,
        needed: u64,
    },
    /// The leaves are not the queued ones (chain only).
    QueueMismatch,
    /// The verifier refused the proof.
    InvalidProof,
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
        } else if sel == selector("WrongBatchStart(uint64,uint256)") {
            r.expect_words(2)?;
            Ok(Self::WrongBatchStart {
                expected: r.u64(0)?,
                given: r.word(1)?,
            })
        } else if sel == selector("BatchNotFull(uint64,uint256)") {
            r.expect_words(2)?;
            Ok(Self::BatchNotFull {
                queued: r.u64(0)?,
                needed: r.u64(1)?,
            })
        } else if plain("QueueMismatch") {
            unit(Self::QueueMismatch)
        } else if plain("InvalidProof") {
            unit(Self::InvalidProof)
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
            Self::WrongBatchStart { .. } => "WrongBatchStart",
            Self::BatchNotFull { .. } => "BatchNotFull",
            Self::QueueMismatch => "QueueMismatch",
            Self::InvalidProof => "InvalidProof",
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
    /// `BatchAppended(start, newRoot, submitter)`.
    BatchAppended {
        start: u64,
        new_root: Word,
        submitter: EvmAddress,
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
        } else if *sig == event_topic("BatchAppended(uint64,uint256,address)") {
            t.expect_words(1)?;
            d.expect_words(2)?;
            Ok(Self::BatchAppended {
                start: t.u64(0)?,
                new_root: d.word(0)?,
                submitter: d.address(1)?,
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

/// A root as a word (the contract's `uint256`).
pub fn root_word(root: &MerkleRoot) -> Word {
    fr_word(&root.inner())
}

/// `v` as a word.
pub fn word_u256(v: U256) -> Word {
    v.to_be_bytes()
}

/// The ledger's contracts as [`deploy`] put them on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployment {
    /// `PoseidonT4`, for `H(NOTE, v, addr)` and node ids.
    pub poseidon: EvmAddress,
    /// The `tree_insert_64` verifier the ledger appends with.
    pub verifier: EvmAddress,
    /// `VeilLedger`.
    pub ledger: EvmAddress,
    /// Gas of the ledger's own deployment.
    pub deploy_gas: u64,
}

/// A deployment failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A contract is not in this build.
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
    /// The chain refused a deployment.
    #[error(transparent)]
    Sandbox(#[from] crate::sandbox::SandboxError),
}

/// Deploys `PoseidonT4`, the embedded verifier contract `verifier` (the
/// `tree_insert_64` one: [`crate::verifier_contract_name`]) and
/// `VeilLedger` over `token` from `deployer`, with [`LedgerParams::new`].
pub fn deploy(
    sandbox: &mut crate::Sandbox,
    deployer: EvmAddress,
    token: EvmAddress,
    verifier: &str,
    challenge_window: u64,
    max_expiry_delta: u64,
) -> Result<Deployment, DeployError> {
    let poseidon_art = Artifact::embedded(&crate::poseidon::contract_name(4))?;
    let (poseidon, _) = sandbox.deploy(deployer, &poseidon_art.bytecode)?;
    let (verifier, _) = sandbox.deploy(deployer, &Artifact::embedded(verifier)?.bytecode)?;
    let params = LedgerParams::new(
        token,
        poseidon,
        verifier,
        challenge_window,
        max_expiry_delta,
    );
    let initcode = params.initcode(&Artifact::embedded(CONTRACT)?);
    let (ledger, out) = sandbox.deploy(deployer, &initcode)?;
    Ok(Deployment {
        poseidon,
        verifier,
        ledger,
        deploy_gas: out.gas_used,
    })
}
