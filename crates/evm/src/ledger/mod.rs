//! Typed calls, errors and events of `VeilLedger`
//! (`contracts/src/ledger/VeilLedger.sol`): deposits into the leaf queue,
//! node registration, and the note tree advanced by proven batches of 64
//! queued leaves (`docs/evm.md` §4); escrows and settlement are in
//! [`crate::escrow`] and [`crate::settle`]. The contract's custom errors carry the
//! names of the embedded ledger's `LedgerError` variants
//! (`veil_ledger::error`) where one exists; [`LedgerRevert::name`] is that
//! name.

use rand::{CryptoRng, RngCore};
use revm::primitives::{U256, keccak256};
use veil_circuits::tree_insert::{self, TreeInsertError, TreeInsertPublic};
use veil_primitives::Fr;
use veil_primitives::merkle::{Frontier, MerkleRoot, ROOT_HISTORY};
use veil_proofs::{CircuitId, Proof, ProofError, Prover, SettleSize};

use crate::abi::{
    AbiError, Arg, Reader, Word, encode_args, encode_call_args, selector, word_address, word_u64,
};
use crate::artifact::Artifact;
use crate::sandbox::EvmAddress;
use crate::solidity::{ProofWords, batch_verifier_contract_name, fr_word, verifier_contract_name};

mod event;
mod revert;

pub use event::{LedgerEvent, NODE_REGISTERED_EVENT, NODE_UPDATED_EVENT, SLASHED_EVENT};
pub use revert::LedgerRevert;

/// The contract's name in `contracts/artifacts/`.
pub const CONTRACT: &str = "VeilLedger";

/// The queue head is checkpointed every this many leaves
/// (`CHECKPOINT_INTERVAL` in the contract; docs/evm.md §3.2).
pub const CHECKPOINT_INTERVAL: u64 = 64;

/// Leaves per `appendBatch`: the `K` of `tree_insert_K` (the checkpoint
/// interval, so that each batch is checked against one checkpoint).
pub const BATCH: usize = CHECKPOINT_INTERVAL as usize;

/// The contracts a ledger calls (the constructor's `Contracts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Contracts {
    /// The ERC-20 value token.
    pub token: EvmAddress,
    /// `PoseidonT3`, for the reclaim note's `ρ`.
    pub poseidon_t3: EvmAddress,
    /// `PoseidonT4`, for `H(NOTE, v, addr)`, `H(ADDR, ..)` and node ids.
    pub poseidon_t4: EvmAddress,
    /// `TreeInsert64Verifier` (`appendBatch`).
    pub tree_insert_verifier: EvmAddress,
    /// `AccessVerifier` (`openEscrow`).
    pub access_verifier: EvmAddress,
    /// `AccessBatchVerifier` (`openEscrows`).
    pub access_batch_verifier: EvmAddress,
    /// `WithdrawVerifier` (`withdraw`).
    pub withdraw_verifier: EvmAddress,
    /// `Settle1Verifier`, `Settle8Verifier`, `Settle64Verifier` (`settle`).
    pub settle_1_verifier: EvmAddress,
    pub settle_8_verifier: EvmAddress,
    pub settle_64_verifier: EvmAddress,
    /// `VeilAudits`, the only caller of `slash` (zero: no audits;
    /// docs/market.md §5.1).
    pub auditor: EvmAddress,
    /// `BandwidthMarket`, whose reserve ratio the ledger's demand moves
    /// (zero: no market; docs/market.md §7.2).
    pub market: EvmAddress,
}

impl Contracts {
    fn words(&self) -> [Word; 12] {
        [
            self.token,
            self.poseidon_t3,
            self.poseidon_t4,
            self.tree_insert_verifier,
            self.access_verifier,
            self.access_batch_verifier,
            self.withdraw_verifier,
            self.settle_1_verifier,
            self.settle_8_verifier,
            self.settle_64_verifier,
            self.auditor,
            self.market,
        ]
        .map(word_address)
    }
}

/// Constructor parameters (docs/protocol.md §8.1; heights are block numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerParams {
    /// The contracts it calls.
    pub contracts: Contracts,
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
    pub fn new(contracts: Contracts, challenge_window: u64, max_expiry_delta: u64) -> Self {
        LedgerParams {
            contracts,
            initial_root: empty_root(),
            root_history: ROOT_HISTORY as u64,
            challenge_window,
            max_expiry_delta,
        }
    }

    /// Creation code ‖ constructor arguments.
    pub fn initcode(&self, artifact: &Artifact) -> Vec<u8> {
        let mut code = artifact.bytecode.clone();
        let contracts = self.contracts.words().map(Arg::Word);
        code.extend_from_slice(&encode_args(
            &[
                &contracts[..],
                &[
                    Arg::Word(self.initial_root),
                    Arg::Word(word_u64(self.root_history)),
                    Arg::Word(word_u64(self.challenge_window)),
                    Arg::Word(word_u64(self.max_expiry_delta)),
                ],
            ]
            .concat(),
        ));
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
/// The operator (staking and payout account) is the sender, who sent
/// [`commit_registration`] of [`registration_commitment`] in an earlier
/// block (docs/evm.md §4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The node key `N` as `[x, y]`.
    pub node_key: [Word; 2],
    /// The node key's EdDSA signature `[R.x, R.y, S]` of the registration
    /// message (docs/protocol.md §8.3.6): emitted, not checked on chain.
    pub node_signature: [Word; 3],
    pub price_per_kib: Word,
    pub escrow_sizes: Vec<Word>,
    pub stake: Word,
    /// SHA-256 of the node's TLS key.
    pub tls_key_hash: Word,
    /// The node profile (§8.3.9): emitted, not parsed on chain; at most
    /// [`MAX_PROFILE_BYTES`].
    pub profile: Vec<u8>,
}

/// Longest node profile the contract takes (`MAX_PROFILE_BYTES`, §8.3.9).
pub const MAX_PROFILE_BYTES: usize = 1024;

/// `registerNode(nodeKey, keyHint, nodeSignature, pricePerKib,
/// escrowSizes, stake, tlsKeyHash, profile)`, with the hint of [`key_hint`].
pub fn register_node(r: &Registration) -> Vec<u8> {
    let hint = key_hint(&r.node_key);
    encode_call_args(
        selector(
            "registerNode(uint256[2],uint256[2],uint256[3],uint256,uint256[],uint256,bytes32,bytes)",
        ),
        &[
            Arg::Word(r.node_key[0]),
            Arg::Word(r.node_key[1]),
            Arg::Word(hint[0]),
            Arg::Word(hint[1]),
            Arg::Word(r.node_signature[0]),
            Arg::Word(r.node_signature[1]),
            Arg::Word(r.node_signature[2]),
            Arg::Word(r.price_per_kib),
            Arg::Words(r.escrow_sizes.clone()),
            Arg::Word(r.stake),
            Arg::Word(r.tls_key_hash),
            Arg::Bytes(r.profile.clone()),
        ],
    )
}

/// `retireNode(nodeId)`: the operator retires its node (§8.3.12).
pub fn retire_node(node_id: Word) -> Vec<u8> {
    encode_call_args(selector("retireNode(uint256)"), &[Arg::Word(node_id)])
}

/// `releaseNode(nodeId)`: the operator takes the stake back after the lock-up.
pub fn release_node(node_id: Word) -> Vec<u8> {
    encode_call_args(selector("releaseNode(uint256)"), &[Arg::Word(node_id)])
}

/// `slash(nodeId, amount, rewarded, rewardEach)`: the auditor's call
/// (docs/market.md §5.1); anyone else is refused.
pub fn slash(node_id: Word, amount: u64, rewarded: &[EvmAddress], reward_each: u64) -> Vec<u8> {
    encode_call_args(
        selector("slash(uint256,uint256,address[],uint256)"),
        &[
            Arg::Word(node_id),
            Arg::Word(word_u64(amount)),
            Arg::Words(rewarded.iter().map(|a| word_address(*a)).collect()),
            Arg::Word(word_u64(reward_each)),
        ],
    )
}

/// A node update as sent to `updateNode` (raw words, see [`deposit`]), by
/// the node's operator (docs/protocol.md §8.3.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeUpdateCall {
    pub node_id: Word,
    /// The node's latest sequence plus one.
    pub sequence: Word,
    pub price_per_kib: Word,
    pub escrow_sizes: Vec<Word>,
    /// SHA-256 of the node's (new) TLS key.
    pub tls_key_hash: Word,
    /// The node profile (§8.3.9), at most [`MAX_PROFILE_BYTES`].
    pub profile: Vec<u8>,
    /// The node key's EdDSA signature `[R.x, R.y, S]` of the update
    /// message: emitted, not checked on chain.
    pub node_signature: [Word; 3],
}

/// `updateNode(nodeId, sequence, pricePerKib, escrowSizes, tlsKeyHash,
/// profile, nodeSignature)`.
pub fn update_node(u: &NodeUpdateCall) -> Vec<u8> {
    let mut args = vec![
        Arg::Word(u.node_id),
        Arg::Word(u.sequence),
        Arg::Word(u.price_per_kib),
        Arg::Words(u.escrow_sizes.clone()),
        Arg::Word(u.tls_key_hash),
        Arg::Bytes(u.profile.clone()),
    ];
    args.extend(u.node_signature.map(Arg::Word));
    encode_call_args(
        selector("updateNode(uint256,uint256,uint256,uint256[],bytes32,bytes,uint256[3])"),
        &args,
    )
}

/// The commitment `keccak256(abi.encode(operator, N.x, N.y))` that
/// `operator` sends before registering `N` (docs/evm.md §4.2).
pub fn registration_commitment(operator: EvmAddress, node_key: &[Word; 2]) -> Word {
    keccak256([word_address(operator), node_key[0], node_key[1]].concat()).0
}

/// `commitRegistration(commitment)`.
pub fn commit_registration(commitment: Word) -> Vec<u8> {
    encode_call_args(
        selector("commitRegistration(bytes32)"),
        &[Arg::Word(commitment)],
    )
}

/// The subgroup hint `Q = (8⁻¹ mod l)·N` of a node key that is a point of
/// the curve with canonical coordinates; `[0, 0]` (which the contract
/// refuses) for words that are not. The contract accepts `N` when `Q` is
/// on the curve and `8·Q = N`, which holds exactly for `N` in the
/// prime-order subgroup (docs/evm.md §4.5).
pub fn key_hint(node_key: &[Word; 2]) -> [Word; 2] {
    use ark_ec::{AffineRepr, CurveGroup};
    use ark_ff::{Field, PrimeField};
    use veil_primitives::babyjubjub::{ScalarField, raw_point_from_bytes};
    let zero = [[0u8; 32]; 2];
    let mut bytes = [0u8; 64];
    bytes[..32].copy_from_slice(&node_key[0]);
    bytes[32..].copy_from_slice(&node_key[1]);
    let Ok(n) = raw_point_from_bytes(&bytes) else {
        return zero;
    };
    let Some(inv8) = ScalarField::from(8u64).inverse() else {
        return zero;
    };
    if !n.is_on_curve() {
        return zero;
    }
    let q = n.mul_bigint(inv8.into_bigint()).into_affine();
    [fr_word(&q.x), fr_word(&q.y)]
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
/// frontier after it. `prover` must hold the `tree_insert_64` key. Zero
/// leaves queued by [`pad_queue`] are given as `Fr::from(0)`, in their
/// places; the root after them is the root of the real leaves alone (0 is
/// the empty leaf).
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

/// `padQueue()`: queues zero leaves (the empty leaf) up to the next
/// multiple of 64, so that the waiting partial batch can be appended
/// (docs/evm.md §4.7). The pads are queued leaves like any other: the next
/// [`prove_next_batch`] is given them as `Fr::from(0)` (the contract's
/// `QueuePadded` event says where and how many).
pub fn pad_queue() -> Vec<u8> {
    selector("padQueue()").to_vec()
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
    /// `hand()` → (epoch, escrowed in it, staked): what the market's hand
    /// reads (docs/market.md §7.2; decode with `market::decode_u128s(_, 3)`).
    pub fn hand() -> Vec<u8> {
        selector("hand()").to_vec()
    }
    /// Σ slashed stake burnt (kept in the contract).
    pub fn burnt() -> Vec<u8> {
        selector("burnt()").to_vec()
    }
    /// `auditedNode(nodeId)`: operator, stake, claimed capacity (Mbit/s).
    pub fn audited_node(node_id: Word) -> Vec<u8> {
        encode_call_args(selector("auditedNode(uint256)"), &[Arg::Word(node_id)])
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
    /// The block + 1 of a registration commitment, 0 if none.
    pub fn registration_commit(commitment: Word) -> Vec<u8> {
        encode_call_args(
            selector("registrationCommits(bytes32)"),
            &[Arg::Word(commitment)],
        )
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
    /// The sequence of the latest update (0: none).
    pub sequence: u64,
}

impl NodeView {
    /// Decodes `(address, uint64, uint64[], uint64, uint64, uint64)`.
    pub fn decode(data: &[u8]) -> Result<Self, AbiError> {
        let r = Reader::new(data);
        Ok(NodeView {
            operator: r.address(0)?,
            price_per_kib: r.u64(1)?,
            escrow_sizes: r.u64_array(2)?,
            stake: r.u64(3)?,
            registered_at: r.u64(4)?,
            sequence: r.u64(5)?,
        })
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
    /// What the ledger calls.
    pub contracts: Contracts,
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

/// The `tree_insert_64` verifier a ledger appends with.
pub fn tree_insert_verifier_name() -> String {
    verifier_contract_name(CircuitId::TreeInsert64)
}

/// One contract a ledger calls, deployed before it from an embedded
/// artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    PoseidonT3,
    PoseidonT4,
    TreeInsertVerifier,
    AccessVerifier,
    AccessBatchVerifier,
    WithdrawVerifier,
    Settle1Verifier,
    Settle8Verifier,
    Settle64Verifier,
}

impl Dependency {
    /// Every dependency, in deployment order.
    pub const ALL: [Dependency; 9] = [
        Dependency::PoseidonT3,
        Dependency::PoseidonT4,
        Dependency::TreeInsertVerifier,
        Dependency::AccessVerifier,
        Dependency::AccessBatchVerifier,
        Dependency::WithdrawVerifier,
        Dependency::Settle1Verifier,
        Dependency::Settle8Verifier,
        Dependency::Settle64Verifier,
    ];

    /// Its artifact; `tree_verifier` names the `tree_insert_64` verifier's
    /// (tests pass another to deploy a wrong key).
    pub fn artifact(self, tree_verifier: &str) -> String {
        match self {
            Dependency::PoseidonT3 => crate::poseidon::contract_name(3),
            Dependency::PoseidonT4 => crate::poseidon::contract_name(4),
            Dependency::TreeInsertVerifier => tree_verifier.to_owned(),
            Dependency::AccessVerifier => verifier_contract_name(CircuitId::Access),
            Dependency::AccessBatchVerifier => batch_verifier_contract_name(CircuitId::Access),
            Dependency::WithdrawVerifier => verifier_contract_name(CircuitId::Withdraw),
            Dependency::Settle1Verifier => {
                verifier_contract_name(CircuitId::Settle(SettleSize::K1))
            }
            Dependency::Settle8Verifier => {
                verifier_contract_name(CircuitId::Settle(SettleSize::K8))
            }
            Dependency::Settle64Verifier => {
                verifier_contract_name(CircuitId::Settle(SettleSize::K64))
            }
        }
    }

    /// The constructor field it fills.
    pub fn slot(self, c: &mut Contracts) -> &mut EvmAddress {
        match self {
            Dependency::PoseidonT3 => &mut c.poseidon_t3,
            Dependency::PoseidonT4 => &mut c.poseidon_t4,
            Dependency::TreeInsertVerifier => &mut c.tree_insert_verifier,
            Dependency::AccessVerifier => &mut c.access_verifier,
            Dependency::AccessBatchVerifier => &mut c.access_batch_verifier,
            Dependency::WithdrawVerifier => &mut c.withdraw_verifier,
            Dependency::Settle1Verifier => &mut c.settle_1_verifier,
            Dependency::Settle8Verifier => &mut c.settle_8_verifier,
            Dependency::Settle64Verifier => &mut c.settle_64_verifier,
        }
    }
}

/// Deploys the [`Dependency`]s and `VeilLedger` over `token` from
/// `deployer` in the sandbox, with [`LedgerParams::new`]. `tree_verifier`:
/// see [`Dependency::artifact`]. (`veil-evm-rpc` deploys the same list
/// over JSON-RPC.)
pub fn deploy(
    sandbox: &mut crate::Sandbox,
    deployer: EvmAddress,
    token: EvmAddress,
    tree_verifier: &str,
    challenge_window: u64,
    max_expiry_delta: u64,
) -> Result<Deployment, DeployError> {
    let base = Contracts {
        token,
        ..Contracts::default()
    };
    deploy_with(
        sandbox,
        deployer,
        base,
        tree_verifier,
        challenge_window,
        max_expiry_delta,
    )
}

/// [`deploy`] over `base`'s token, auditor (`VeilAudits`, or zero) and
/// market (`BandwidthMarket`, or zero);
/// its other fields are filled with the dependencies deployed here.
pub fn deploy_with(
    sandbox: &mut crate::Sandbox,
    deployer: EvmAddress,
    base: Contracts,
    tree_verifier: &str,
    challenge_window: u64,
    max_expiry_delta: u64,
) -> Result<Deployment, DeployError> {
    let mut contracts = base;
    for d in Dependency::ALL {
        let code = Artifact::embedded(&d.artifact(tree_verifier))?.bytecode;
        *d.slot(&mut contracts) = sandbox.deploy(deployer, &code)?.0;
    }
    let params = LedgerParams::new(contracts, challenge_window, max_expiry_delta);
    let initcode = params.initcode(&Artifact::embedded(CONTRACT)?);
    let (ledger, out) = sandbox.deploy(deployer, &initcode)?;
    Ok(Deployment {
        contracts,
        ledger,
        deploy_gas: out.gas_used,
    })
}
