// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// The calls the ledger makes to its value token (EIP-20).
interface IERC20 {
    function balanceOf(address account) external view returns (uint256);
    function allowance(address owner, address spender) external view returns (uint256);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// The calls the ledger makes to pay out of its balance (EIP-20).
interface IERC20Transfer {
    function transfer(address to, uint256 value) external returns (bool);
}

/// `PoseidonT3.hash`: circomlib's Poseidon of 2 inputs (docs/evm.md §2).
interface IPoseidonT3 {
    function hash(uint256[2] calldata x) external pure returns (uint256);
}

/// `PoseidonT4.hash`: circomlib's Poseidon of 3 inputs (docs/evm.md §2).
interface IPoseidonT4 {
    function hash(uint256[3] calldata x) external pure returns (uint256);
}

/// `AccessVerifier` / `WithdrawVerifier`: generated Groth16 verifiers with 9
/// and 5 public inputs (docs/evm.md §1).
interface IAccessVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[9] calldata input
    ) external view returns (bool);
}

interface IWithdrawVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[5] calldata input
    ) external view returns (bool);
}

/// `VeilAudits.openChallenges`: a node's ledger challenges neither answered
/// nor slashed yet (docs/evm.md §8.6).
interface IOpenChallenges {
    function openChallenges(uint256 nodeId) external view returns (uint256);
}

/// `AccessBatchVerifier.verifyBatch`: n access proofs under one pairing
/// product with Fiat–Shamir weights (docs/evm.md §1.5).
interface IAccessBatchVerifier {
    function verifyBatch(uint256[8][] calldata proofs, uint256[9][] calldata inputs) external view returns (bool);
}

// `Settle{1,8,64}Verifier.verifyProof` (docs/evm.md §1, §7): `2K + 3`
// public inputs `node_id, T, price, esc_0..esc_{K−1}, cm_0..cm_{K−1}`.
// Called with a low-level `staticcall` (one code path for the three
// sizes), so no interface declares them.

/// `TreeInsert64Verifier.verifyProof`: the Groth16 verifier of
/// `tree_insert_64`, generated from `params/tree_insert_64.vk` (docs/evm.md §1).
interface ITreeInsert64Verifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[67] calldata input
    ) external view returns (bool);
}

/// `BandwidthMarket`, whose reserve ratio this ledger's demand moves
/// (docs/market.md §7.2).
interface IHandMarket {
    function epochBlocks() external view returns (uint256);
    function sync() external;
}

/// @title VeilLedger, stages 1 to 4: deposits into the leaf queue, node
/// registration and update, the note tree advanced by proven batches of 64 queued
/// leaves, escrows opened one at a time or in batches, settlement,
/// reclaim and withdrawal (docs/evm.md §4–§5, §7; docs/protocol.md §8.3).
/// @notice The rules and error names are those of the embedded ledger
/// (`veil_ledger::machine`, `LedgerError`). An account is an EVM address:
/// `msg.sender` authorises its own debits, and the token allowance it gave
/// this contract plays the part of the account signature of §8.3.
/// An escrow ends by `settle` (its node) or `reclaim` (anyone, after the
/// challenge window).
contract VeilLedger {
    /// The BN254 scalar field (docs/protocol.md §2).
    uint256 internal constant R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// BabyJubJub in ark-ed-on-bn254's a = 1 form (§2.6):
    /// `x² + y² = 1 + d·x²·y²` over F_r, `d = 168696/168700`.
    uint256 internal constant CURVE_D =
        9706598848417545097372247223557719406784115219466060233080913168975159366771;
    /// Domain tags (§2.2).
    uint256 internal constant TAG_ADDR = 2;
    uint256 internal constant TAG_NOTE = 3;
    uint256 internal constant TAG_NODE_ID = 11;
    uint256 internal constant TAG_RECLAIM = 15;
    /// Values are u64 base units (§2.5).
    uint256 internal constant MAX_VALUE = type(uint64).max;
    /// A node accepts at most this many escrow sizes (§8.3.6).
    uint256 internal constant MAX_ESCROW_SIZES = 16;
    /// Longest node profile, in bytes (§8.3.9; `MAX_PROFILE_BYTES`).
    uint256 internal constant MAX_PROFILE_BYTES = 1024;
    /// The profile encoding's version byte (§8.3.9; `PROFILE_VERSION`).
    uint256 internal constant PROFILE_VERSION = 1;
    /// Stake per Mbit/s of claimed capacity (§8.3.6; `STAKE_PER_MBIT_S`).
    uint256 public constant STAKE_PER_MBIT_S = 100;
    /// Leaves of the depth-32 tree (§2.4).
    uint256 internal constant TREE_CAPACITY = 1 << 32;
    /// The queue head is checkpointed every this many leaves: the batch of a
    /// `tree_insert_64` append (docs/evm.md §3.2).
    uint256 public constant CHECKPOINT_INTERVAL = 64;
    /// Most access tokens `openEscrows` takes at once (the batch verifier's
    /// `MAX_BATCH`).
    uint256 public constant MAX_OPEN_BATCH = 64;
    /// Most sessions one `settle` takes (the largest `settle_K`; the
    /// embedded ledger's `MAX_BATCH`).
    uint256 public constant MAX_SETTLE_BATCH = 64;

    /// A nullifier's spend word (`nullifiers`): 0 unspent; `WITHDRAWN` for a
    /// withdrawal; for an escrow `termsHash(terms) | status`, the status in
    /// the low two bits (docs/evm.md §5.1).
    uint256 internal constant STATUS_MASK = 3;
    uint256 internal constant OPEN = 1;
    uint256 internal constant SETTLED = 2;
    uint256 internal constant RECLAIMED = 3;
    uint256 internal constant WITHDRAWN = 4;

    IERC20 public immutable token;
    IPoseidonT3 public immutable poseidonT3;
    IPoseidonT4 public immutable poseidonT4;
    /// The verifier of `tree_insert_64` proofs (`appendBatch`).
    ITreeInsert64Verifier public immutable treeInsertVerifier;
    /// The verifiers of access proofs, one (`openEscrow`) and batched
    /// (`openEscrows`), and of withdraw proofs.
    IAccessVerifier public immutable accessVerifier;
    IAccessBatchVerifier public immutable accessBatchVerifier;
    IWithdrawVerifier public immutable withdrawVerifier;
    /// The verifiers of `settle_1`, `settle_8` and `settle_64` proofs.
    address public immutable settle1Verifier;
    address public immutable settle8Verifier;
    address public immutable settle64Verifier;
    /// How many recent roots `isKnownRoot` accepts: the current one and the
    /// roots before the last `rootHistorySize − 1` batches (the embedded
    /// ledger's `ROOT_HISTORY`, given by the deployer; §2.4).
    uint64 public immutable rootHistorySize;
    /// Blocks a retired node's stake stays locked after its last session
    /// could settle, for evidence and audits (§8.3.12; `EVIDENCE_WINDOW_BLOCKS`).
    uint256 public constant EVIDENCE_WINDOW_BLOCKS = 200;
    /// Blocks after an escrow's expiry during which its node may settle (§8.1).
    uint64 public immutable challengeWindow;
    /// Largest `expiry − block.number` an access token may ask for (§8.1).
    uint64 public immutable maxExpiryDelta;
    /// The audit contract (`VeilAudits`, docs/market.md §5.1), the only
    /// caller of `slash`; address 0: a ledger without audits.
    address public immutable auditor;
    /// The market whose reserve ratio this ledger's demand moves
    /// (docs/market.md §7.2); address 0: a ledger without a market.
    IHandMarket public immutable market;
    /// The market's epoch in blocks, read from it at deployment.
    uint256 internal immutable marketEpochBlocks;

    /// Keccak chain over the queued leaves: `q ← keccak256(q ‖ cm)`, from 0.
    bytes32 public queueHead;
    /// Leaves queued so far; the next leaf's index.
    uint64 public leafCount;
    /// Value in the shielded pool (the turnstile of §8.4).
    uint64 public pool;
    /// Σ stakes of registered nodes.
    uint64 public staked;
    /// Leaves in the tree (under `currentRoot`): a multiple of 64, at most
    /// `leafCount`. The next batch starts here.
    uint64 public treeSize;
    /// Σ E of open escrows (the turnstile of §8.4).
    uint64 public escrowed;
    /// The hand's inputs (docs/market.md §7.2), beside `escrowed` in one
    /// slot: the market epoch of the last escrow or stake change, and the
    /// value escrowed in that epoch.
    uint64 public handEpoch;
    uint64 public handEscrowed;
    /// The root of the note tree over the first `treeSize` queued leaves.
    uint256 public currentRoot;
    /// `checkpoints[k]`: the queue head after `64·k` leaves (k ≥ 1).
    mapping(uint256 => bytes32) public checkpoints;
    /// Leaf index + 1 of each deposited commitment (0: never deposited).
    mapping(uint256 => uint64) public depositIndexPlusOne;
    /// The block + 1 of each registration commitment
    /// `keccak256(abi.encode(operator, N.x, N.y))` (0: none), the first half
    /// of a registration: `registerNode` reveals `N` only in a later block,
    /// so nobody can copy a pending registration's key and register it
    /// first (docs/evm.md §4.2).
    mapping(bytes32 => uint256) public registrationCommits;
    /// For each root the tree has had: 1 + the number of batches appended
    /// when it was last current (1 for the initial root; 0: never a root).
    mapping(uint256 => uint64) public rootEpochPlusOne;
    /// The spend word of each nullifier (see `STATUS_MASK`). A session id
    /// is its token's nullifier (§3.1), so this is also the escrow table.
    mapping(uint256 => uint256) public nullifiers;

    /// The contracts a ledger calls.
    struct Contracts {
        IERC20 token;
        IPoseidonT3 poseidonT3;
        IPoseidonT4 poseidonT4;
        ITreeInsert64Verifier treeInsertVerifier;
        IAccessVerifier accessVerifier;
        IAccessBatchVerifier accessBatchVerifier;
        IWithdrawVerifier withdrawVerifier;
        address settle1Verifier;
        address settle8Verifier;
        address settle64Verifier;
        address auditor;
        IHandMarket market;
    }

    /// An access token (§3.1) as `openEscrow(s)` take it: its public inputs
    /// but the node id (given once per call), `esc` last, and its proof as
    /// `[a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x, c.y]`.
    struct AccessToken {
        uint256 root;
        uint256 nullifier;
        uint256 cmChange;
        uint256 escrow;
        uint256 sessionKeyHash;
        uint256 refundOwner;
        uint256 expiry;
        /// `esc = H(ESCROW, nf, node_id, E, h_S, rk, expiry)`: the access
        /// proof binds it to the other inputs, so it is stored unhashed.
        uint256 esc;
        uint256[8] proof;
    }

    /// What `settle` and `reclaim` need of an escrow (§8.3.2): the node,
    /// `E`, the refund owner `rk` (the reclaim note), the expiry, the
    /// escrow commitment `esc` (a settle proof's slot input; it binds `h_S`
    /// and every other term) and the node's price when it was opened
    /// (§8.3.8: a later update does not change it). The ledger stores only
    /// their hash in the nullifier's spend word; `EscrowOpened` publishes
    /// them, and `settle` and `reclaim` are given them back.
    struct EscrowTerms {
        uint256 nodeId;
        uint256 escrow;
        uint256 refundOwner;
        uint256 expiry;
        uint256 esc;
        uint256 pricePerKib;
    }

    /// One session of a `settle` call: the escrow (its id and terms, as
    /// `EscrowOpened` published them) and its refund commitment.
    struct SettleSession {
        uint256 sessionId;
        EscrowTerms terms;
        uint256 cmRefund;
    }

    /// A registered node (§8.3.6) with the terms of its latest update
    /// (§8.3.8; `sequence` 0: none). Its key, TLS key hash, profile and
    /// signatures are in `NodeRegistered` and `NodeUpdated` only.
    struct Node {
        address operator;
        uint64 pricePerKib;
        /// The capacity its profile claims (§8.3.9; 0: none), which its
        /// stake backs and audits judge it against.
        uint32 capacityMbitS;
        uint64 stake;
        uint64 registeredAt;
        uint64 sequence;
        /// The block it retired in (0: active; §8.3.12).
        uint64 retiredAt;
        uint64[] escrowSizes;
        /// The block its stake was released in (0: not released).
        uint64 releasedAt;
    }

    mapping(uint256 => Node) internal nodes;
    /// Σ slashed stake not paid to monitors: burnt, held here for ever
    /// (the turnstile's `burnt`, §8.4).
    uint64 public burnt;

    /// `value` moved from `account` into the pool as leaf `index`,
    /// `commitment = H(NOTE, value, addr)`.
    event Deposited(address indexed account, uint64 index, uint256 commitment, uint64 value);
    /// The batch of 64 queued leaves starting at `start` was appended: the
    /// tree's root is now `newRoot` (the leaves are in `Deposited` events).
    event BatchAppended(uint64 indexed start, uint256 newRoot, address submitter);
    /// `count` zero leaves (the empty leaf) were queued from index `start`,
    /// up to the next multiple of 64 (`padQueue`, docs/evm.md §4.7).
    event QueuePadded(uint64 start, uint64 count);
    /// Escrow `sessionId` (the token's nullifier) was opened for `nodeId`
    /// with `terms` and session key commitment `sessionKeyHash` (inside
    /// `terms.esc`; published so that anyone can recompute `esc`); the
    /// change note `cmChange` is leaf `changeIndex`.
    event EscrowOpened(
        uint256 indexed sessionId,
        uint256 indexed nodeId,
        EscrowTerms terms,
        uint256 sessionKeyHash,
        uint256 cmChange,
        uint64 changeIndex
    );
    /// `nodeId` settled `sessionIds` (§8.3.3): `total` paid to its
    /// operator; the refund note `cmRefunds[i]` of session `i` is leaf
    /// `firstIndex + i`.
    event Settled(
        uint256 indexed nodeId, uint64 total, uint64 firstIndex, uint256[] sessionIds, uint256[] cmRefunds
    );
    /// Escrow `sessionId` was reclaimed: all of its value is back in the
    /// pool as the reclaim note `commitment`, leaf `index` (§8.3.4).
    event Reclaimed(uint256 indexed sessionId, uint256 commitment, uint64 index);
    /// `amount` left the pool for `recipient` by spending `nullifier`; the
    /// change note `cmChange` is leaf `changeIndex` (§8.3.5).
    event Withdrawn(
        uint256 indexed nullifier, address indexed recipient, uint64 amount, uint256 cmChange, uint64 changeIndex
    );
    /// `operator` committed to registering a node key (`registerNode`).
    event RegistrationCommitted(address indexed operator, bytes32 commitment);
    /// A node registered; `operator` staked, settles and is paid.
    /// `nodeSignature` (`R.x, R.y, S`) is the node key's EdDSA signature of
    /// the registration message (docs/protocol.md §8.3.6), which binds the
    /// `profile` (§8.3.9) too, carried for readers, who verify it: the
    /// contract does not (docs/evm.md §4.2).
    event NodeRegistered(
        uint256 indexed nodeId,
        address indexed operator,
        uint64 pricePerKib,
        uint64[] escrowSizes,
        uint64 stake,
        bytes32 tlsKeyHash,
        uint256[2] nodeKey,
        uint256[3] nodeSignature,
        bytes profile
    );
    /// The node's operator updated its terms (§8.3.8): the `sequence`-th
    /// update. `nodeSignature` is the node key's signature of the update
    /// message over these fields and the operator's account, carried for
    /// readers as in `NodeRegistered`.
    event NodeUpdated(
        uint256 indexed nodeId,
        uint64 sequence,
        uint64 pricePerKib,
        uint64[] escrowSizes,
        bytes32 tlsKeyHash,
        bytes profile,
        uint256[3] nodeSignature
    );

    /// A malformed field: a field element ≥ r, a value over u64, a node key
    /// off the curve, outside the prime-order subgroup or the identity.
    error Encoding(string field);
    /// `registerNode` without a commitment of the sender to the node key
    /// mined in an earlier block (`commitRegistration`).
    error RegistrationUnauthenticated(string reason);
    error InvalidArgument(string reason);
    /// The account did not authorise the debit: its allowance to this
    /// contract is below the amount.
    error AccountUnauthenticated(string reason);
    error InsufficientBalance();
    error DuplicateDeposit();
    error NodeExists();
    error Overflow();
    /// The token's `transferFrom` failed or returned false (chain only).
    error TokenTransferFailed();
    /// `appendBatch`: the batch does not start at `treeSize` (already
    /// appended, or a later one first). Chain only.
    error WrongBatchStart(uint64 expected, uint256 given);
    /// `appendBatch`: fewer than 64 leaves are queued from `start`. Chain only.
    error BatchNotFull(uint64 queued, uint256 needed);
    /// `appendBatch`: the 64 leaves given are not the queued ones, in order.
    /// Chain only.
    error QueueMismatch();
    /// `padQueue`: the queue holds a multiple of 64 leaves (no partial
    /// batch waits). Chain only.
    error NothingToPad();
    /// A verifier refused the proof.
    error InvalidProof();
    error NullifierSpent();
    /// The token's root is not among the last `window` roots (§2.4).
    error UnknownRoot(uint256 window);
    error UnknownNode();
    error EscrowSizeNotAccepted(uint64 escrow);
    /// `expiry` is not in `(height, height + maxDelta]` (§8.3.2).
    error ExpiryOutOfRange(uint256 expiry, uint256 height, uint64 maxDelta);
    /// The pool holds less than the operation takes (turnstile, §8.4).
    error PoolUnderflow();
    error UnknownEscrow();
    error EscrowNotOpen();
    /// `reclaim` before `height` (after `expiry + challengeWindow`).
    error NotYetReclaimable(uint256 height);
    /// `reclaim`: the terms given are not the escrow's. Chain only (the
    /// embedded ledger reads its own record).
    error EscrowTermsMismatch();
    /// `settle` not sent by the node's registered operator.
    error SettleUnauthorized(string reason);
    /// `settle`: a session is an escrow of another node.
    error WrongNode();
    /// `settle`: a session listed twice.
    error DuplicateSession();
    /// `settle`: a session already settled.
    error AlreadySettled();
    /// `settle` after `expiry + challengeWindow` of a session.
    error SettleWindowClosed();
    /// `settle`: `T > Σ E`.
    error TotalExceedsEscrow();
    /// `updateNode`: the sequence is not the node's latest plus one (a
    /// replay, or one skipped).
    error StaleNodeUpdate();
    /// The stake is below `STAKE_PER_MBIT_S` per claimed Mbit/s (§8.3.6).
    error StakeBelowCapacity(uint64 stake, uint64 needed);
    /// `slash` by anyone but the auditor.
    error SlashUnauthorized();
    /// An escrow, update or second retirement of a retired node (§8.3.12).
    error NodeRetired();
    /// `releaseNode` of a node that has not retired.
    error NodeNotRetired();
    /// `releaseNode` before `height`.
    error StakeLocked(uint64 height);
    error StakeReleased();

    /// The node's operator retired it (§8.3.12): no escrow opens with it
    /// from now on; its stake is releasable from `releasableAt`.
    event NodeRetiring(uint256 indexed nodeId, uint64 releasableAt);
    /// The operator took back `paid`, the stake audits left.
    event NodeReleased(uint256 indexed nodeId, uint64 paid);
    /// `slash` of more than the node's stake, or rewards above the slash.
    error SlashTooLarge();

    /// `auditor` took `amount` of the node's stake (docs/market.md §5.1):
    /// `rewardEach` to each of `rewarded`, the rest burnt.
    event Slashed(uint256 indexed nodeId, uint64 amount, uint64 rewardEach, address[] rewarded, uint64 burnt);

    /// `initialRoot` is the root of the empty tree and `rootHistorySize_`
    /// the root window, both computed by the deployer from the ledger's own
    /// definitions (`Frontier::new().root()`, `ROOT_HISTORY`; docs/evm.md §4.6).
    constructor(
        Contracts memory c,
        uint256 initialRoot,
        uint64 rootHistorySize_,
        uint64 challengeWindow_,
        uint64 maxExpiryDelta_
    ) {
        if (address(c.token).code.length == 0) revert InvalidArgument("token is not a contract");
        if (address(c.poseidonT3).code.length == 0 || address(c.poseidonT4).code.length == 0) {
            revert InvalidArgument("poseidon is not a contract");
        }
        if (
            address(c.treeInsertVerifier).code.length == 0 || address(c.accessVerifier).code.length == 0
                || address(c.accessBatchVerifier).code.length == 0 || address(c.withdrawVerifier).code.length == 0
                || c.settle1Verifier.code.length == 0 || c.settle8Verifier.code.length == 0
                || c.settle64Verifier.code.length == 0
        ) revert InvalidArgument("verifier is not a contract");
        if (initialRoot >= R) revert Encoding("initial_root");
        if (rootHistorySize_ == 0) revert InvalidArgument("the root history holds at least one root");
        token = c.token;
        poseidonT3 = c.poseidonT3;
        poseidonT4 = c.poseidonT4;
        treeInsertVerifier = c.treeInsertVerifier;
        accessVerifier = c.accessVerifier;
        accessBatchVerifier = c.accessBatchVerifier;
        withdrawVerifier = c.withdrawVerifier;
        settle1Verifier = c.settle1Verifier;
        settle8Verifier = c.settle8Verifier;
        settle64Verifier = c.settle64Verifier;
        rootHistorySize = rootHistorySize_;
        challengeWindow = challengeWindow_;
        maxExpiryDelta = maxExpiryDelta_;
        auditor = c.auditor;
        market = c.market;
        if (address(c.market) != address(0)) {
            if (address(c.market).code.length == 0) revert InvalidArgument("market is not a contract");
            uint256 blocks = c.market.epochBlocks();
            marketEpochBlocks = blocks;
            handEpoch = uint64(block.number / blocks);
        }
        currentRoot = initialRoot;
        rootEpochPlusOne[initialRoot] = 1;
    }

    // ------------------------------------------------------------ deposit

    /// §8.3.1: moves `value` from `msg.sender` into the pool and queues
    /// `cm = H(NOTE, value, addr)`. Returns the leaf index.
    function deposit(uint256 addr, uint256 value) external returns (uint64 index) {
        if (addr >= R) revert Encoding("addr");
        if (value > MAX_VALUE) revert Encoding("value");
        if (value == 0) revert InvalidArgument("deposit value must be positive");
        _checkAllowance(value);
        uint256 cm = poseidonT4.hash([TAG_NOTE, value, addr]);
        if (depositIndexPlusOne[cm] != 0) revert DuplicateDeposit();
        if (token.balanceOf(msg.sender) < value) revert InsufficientBalance();
        uint256 newPool = uint256(pool) + value;
        if (newPool > MAX_VALUE) revert Overflow();
        pool = uint64(newPool);
        index = _queue(cm);
        depositIndexPlusOne[cm] = index + 1;
        _pull(value);
        emit Deposited(msg.sender, index, cm, uint64(value));
    }

    /// Appends `cm` to the leaf queue; returns its index.
    function _queue(uint256 cm) internal returns (uint64 index) {
        index = leafCount;
        if (index >= TREE_CAPACITY) revert InvalidArgument("commitment tree is full");
        bytes32 head = keccak256(abi.encodePacked(queueHead, cm));
        queueHead = head;
        uint64 count = index + 1;
        leafCount = count;
        if (count % CHECKPOINT_INTERVAL == 0) checkpoints[count / CHECKPOINT_INTERVAL] = head;
    }

    // ------------------------------------------------------- tree append

    /// Pads the leaf queue with zero leaves (the empty leaf, docs/protocol.md
    /// §2.4) up to the next multiple of 64, so that the waiting partial batch
    /// can be appended at once (docs/evm.md §4.7). Anyone may call. Returns
    /// the number of zero leaves queued.
    /// @dev The chain goes on as `_queue` would over `count` leaves 0, and
    /// the checkpoint of the batch it completes is written. It never passes
    /// `TREE_CAPACITY`: the queue never holds more (`_queue`, `_queueAll`)
    /// and the capacity is a multiple of 64.
    function padQueue() external returns (uint64 count) {
        uint256 start = leafCount;
        uint256 n = CHECKPOINT_INTERVAL - start % CHECKPOINT_INTERVAL;
        if (n == CHECKPOINT_INTERVAL) revert NothingToPad();
        bytes32 head = queueHead;
        assembly ("memory-safe") {
            mstore(0x20, 0)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                mstore(0x00, head)
                head := keccak256(0x00, 0x40)
            }
        }
        uint256 end = start + n;
        queueHead = head;
        leafCount = uint64(end);
        checkpoints[end / CHECKPOINT_INTERVAL] = head;
        count = uint64(n);
        emit QueuePadded(uint64(start), count);
    }

    /// Appends the next 64 queued leaves to the note tree (docs/evm.md
    /// §3.2 item 1, §4.6). Anyone may call: the queue binds the leaves and
    /// the `tree_insert_64` proof binds `newRoot` to them at `start` under
    /// the current root, public inputs `(currentRoot, newRoot, start,
    /// leaves[0..64])`.
    function appendBatch(
        uint256 start,
        uint256 newRoot,
        uint256[64] calldata leaves,
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c
    ) external {
        uint64 size = _checkBatch(start, leaves);
        if (!treeInsertVerifier.verifyProof(a, b, c, _treeInsertInputs(newRoot, start, leaves))) {
            revert InvalidProof();
        }
        uint64 newSize = size + uint64(CHECKPOINT_INTERVAL);
        treeSize = newSize;
        currentRoot = newRoot;
        rootEpochPlusOne[newRoot] = newSize / uint64(CHECKPOINT_INTERVAL) + 1;
        emit BatchAppended(size, newRoot, msg.sender);
    }

    /// The batch at `start` is the next one, full, and `leaves` are its
    /// queued leaves in order. Returns the tree's size.
    function _checkBatch(uint256 start, uint256[64] calldata leaves) internal view returns (uint64 size) {
        size = treeSize;
        if (start != size) revert WrongBatchStart(size, start);
        uint64 queued = leafCount;
        if (queued < start + CHECKPOINT_INTERVAL) revert BatchNotFull(queued - size, CHECKPOINT_INTERVAL);
        uint256 batch = start / CHECKPOINT_INTERVAL;
        if (_chain(batch == 0 ? bytes32(0) : checkpoints[batch], leaves) != checkpoints[batch + 1]) {
            revert QueueMismatch();
        }
    }

    /// Whether `root` is the current root or one of the `rootHistorySize −
    /// 1` before it (§2.4; one root per batch here, one per operation in
    /// the embedded ledger: docs/evm.md §4.3).
    function isKnownRoot(uint256 root) external view returns (bool) {
        return _isKnownRoot(root);
    }

    function _isKnownRoot(uint256 root) internal view returns (bool) {
        uint256 plusOne = rootEpochPlusOne[root];
        return plusOne != 0 && uint256(treeSize) / CHECKPOINT_INTERVAL + 1 - plusOne < rootHistorySize;
    }

    /// The queue's keccak chain continued from `head` over `leaves`.
    function _chain(bytes32 head, uint256[64] calldata leaves) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            h := head
            for { let i := 0 } lt(i, 64) { i := add(i, 1) } {
                mstore(0x00, h)
                mstore(0x20, calldataload(add(leaves, shl(5, i))))
                h := keccak256(0x00, 0x40)
            }
        }
    }

    /// The public inputs of `tree_insert_64`, in the circuit's order
    /// (`veil_circuits::tree_insert`): the current (old) root, the new
    /// root, start, the leaves.
    function _treeInsertInputs(uint256 newRoot, uint256 start, uint256[64] calldata leaves)
        internal
        view
        returns (uint256[67] memory input)
    {
        (input[0], input[1], input[2]) = (currentRoot, newRoot, start);
        for (uint256 i = 0; i < 64; i++) {
            input[i + 3] = leaves[i];
        }
    }

    // ------------------------------------------------------------ escrows

    /// §8.3.2: opens the escrow of one access token for `nodeId`. Anyone
    /// may send it (the node does; the client never sends from an address
    /// of its own): the proof binds the token to `nodeId` and its terms.
    function openEscrow(uint256 nodeId, AccessToken calldata t) external {
        _open(nodeId, t);
        uint256[8] calldata p = t.proof;
        if (
            !accessVerifier.verifyProof(
                [p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], _accessInputs(nodeId, t)
            )
        ) revert InvalidProof();
    }

    /// §8.3.2 for 1..=64 tokens of one node, all or nothing: each token is
    /// checked and recorded in order (a nullifier twice in the batch is
    /// `NullifierSpent` at its second use), then every proof is checked
    /// in one pairing product (`AccessBatchVerifier`, docs/evm.md §1.5).
    /// The first refused token's error is the batch's.
    function openEscrows(uint256 nodeId, AccessToken[] calldata tokens) external {
        uint256 n = tokens.length;
        if (n == 0 || n > MAX_OPEN_BATCH) revert InvalidArgument("an open batch holds 1..=64 tokens");
        uint256[8][] memory proofs = new uint256[8][](n);
        uint256[9][] memory inputs = new uint256[9][](n);
        for (uint256 i = 0; i < n; i++) {
            _open(nodeId, tokens[i]);
            proofs[i] = tokens[i].proof;
            inputs[i] = _accessInputs(nodeId, tokens[i]);
        }
        if (!accessBatchVerifier.verifyBatch(proofs, inputs)) revert InvalidProof();
    }

    /// The checks of §8.3.2 in the embedded ledger's order (`check_open`),
    /// then its writes: the nullifier's spend word, pool → escrow, the
    /// change note queued. The caller verifies the proof afterwards and
    /// reverts everything if it fails.
    function _open(uint256 nodeId, AccessToken calldata t) internal {
        _checkAccessEncoding(nodeId, t);
        if (t.escrow == 0) revert InvalidArgument("escrow must be positive");
        if (nullifiers[t.nullifier] != 0) revert NullifierSpent();
        if (!_isKnownRoot(t.root)) revert UnknownRoot(rootHistorySize);
        Node storage n = nodes[nodeId];
        if (n.operator == address(0)) revert UnknownNode();
        if (n.retiredAt != 0) revert NodeRetired();
        if (!_accepts(n.escrowSizes, t.escrow)) revert EscrowSizeNotAccepted(uint64(t.escrow));
        if (t.expiry <= block.number || t.expiry > block.number + maxExpiryDelta) {
            revert ExpiryOutOfRange(t.expiry, block.number, maxExpiryDelta);
        }
        _poolToEscrow(uint64(t.escrow));
        _countEscrow(uint64(t.escrow));
        EscrowTerms memory terms = EscrowTerms(nodeId, t.escrow, t.refundOwner, t.expiry, t.esc, n.pricePerKib);
        nullifiers[t.nullifier] = _termsHash(terms) | OPEN;
        uint64 changeIndex = _queue(t.cmChange);
        emit EscrowOpened(t.nullifier, nodeId, terms, t.sessionKeyHash, t.cmChange, changeIndex);
    }

    /// The wire decoding of an access token (§8.5, `access_from_pb`): field
    /// elements below r, `E` and `expiry` u64, in the decoder's order.
    function _checkAccessEncoding(uint256 nodeId, AccessToken calldata t) internal pure {
        if (t.root >= R) revert Encoding("root");
        if (t.nullifier >= R) revert Encoding("nullifier");
        if (t.cmChange >= R) revert Encoding("cm_change");
        if (t.escrow > MAX_VALUE) revert Encoding("escrow");
        if (nodeId >= R) revert Encoding("node_id");
        if (t.sessionKeyHash >= R) revert Encoding("session_key_hash");
        if (t.refundOwner >= R) revert Encoding("refund_owner");
        if (t.expiry > MAX_VALUE) revert Encoding("expiry");
        if (t.esc >= R) revert Encoding("escrow_commitment");
    }

    /// Whether `escrow` is one of the node's sizes.
    function _accepts(uint64[] storage sizes, uint256 escrow) internal view returns (bool) {
        uint256 n = sizes.length;
        for (uint256 i = 0; i < n; i++) {
            if (sizes[i] == escrow) return true;
        }
        return false;
    }

    /// Moves `e` from the pool to the escrowed total (§8.4).
    function _poolToEscrow(uint64 e) internal {
        if (pool < e) revert PoolUnderflow();
        uint256 newEscrowed = uint256(escrowed) + e;
        if (newEscrowed > MAX_VALUE) revert Overflow();
        pool -= e;
        escrowed = uint64(newEscrowed);
    }

    // ------------------------------------------------------------ the hand

    /// What the market's hand reads (`BandwidthMarket.current`): the epoch
    /// of the last escrow or stake change, the value escrowed in it, and
    /// the value staked by nodes.
    function hand() external view returns (uint64, uint64, uint64) {
        return (handEpoch, handEscrowed, staked);
    }

    /// Before the demand or the stake changes in a new market epoch, the
    /// market steps for the epochs that ended (it reads `hand()`); the new
    /// epoch's demand starts at zero (`veil_ledger::machine::hand`).
    function _tick() internal {
        if (address(market) == address(0)) return;
        uint64 e = uint64(block.number / marketEpochBlocks);
        if (e == handEpoch) return;
        market.sync();
        (handEpoch, handEscrowed) = (e, 0);
    }

    /// Counts an opened escrow in the epoch's demand (`hand::count_escrow`).
    function _countEscrow(uint64 e) internal {
        _tick();
        uint256 sum = uint256(handEscrowed) + e;
        if (sum > MAX_VALUE) revert Overflow();
        handEscrowed = uint64(sum);
    }

    /// The access statement's public inputs in the circuit's order (§3.1):
    /// root, nf, cm_change, E, node_id, h_S, rk, expiry, esc.
    function _accessInputs(uint256 nodeId, AccessToken calldata t) internal pure returns (uint256[9] memory) {
        return [t.root, t.nullifier, t.cmChange, t.escrow, nodeId, t.sessionKeyHash, t.refundOwner, t.expiry, t.esc];
    }

    /// The hash of an escrow's terms in its spend word: keccak256 of their
    /// ABI encoding with the two status bits cleared.
    function _termsHash(EscrowTerms memory terms) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(terms))) & ~STATUS_MASK;
    }

    // ------------------------------------------------------------- settle

    /// `verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[2K+3])` of
    /// the `settle_K` verifiers.
    bytes4 internal constant SETTLE1_VERIFY = bytes4(keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[5])"));
    bytes4 internal constant SETTLE8_VERIFY = bytes4(keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[19])"));
    bytes4 internal constant SETTLE64_VERIFY =
        bytes4(keccak256("verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[131])"));
    /// Offset of the first public input in a verifier call built by
    /// `_settleCall`: the bytes' length word, the selector, the 8 proof words.
    uint256 internal constant SETTLE_INPUTS_AT = 0x20 + 4 + 0x100;

    /// §8.3.3: the node's operator settles `sessions` (1..=k of them, `k`
    /// ∈ {1, 8, 64}), each an open escrow of `nodeId` given with its terms
    /// (as `EscrowOpened` published them) and its refund commitment, with a
    /// `settle_k` proof (`[a.x, a.y, b.x.c1, b.x.c0, b.y.c1, b.y.c0, c.x,
    /// c.y]`) over `[nodeId, total, price, esc_0..esc_{n−1}, 0.., cm_0..
    /// cm_{n−1}, 0..]` (`price` the one price its escrows recorded when
    /// they were opened, `batch_price` of §8.3.8; padding slots
    /// zero). Pays `total` to the operator, returns `Σ E − total` to the
    /// pool, queues the n refund notes (leaves `firstIndex..firstIndex+n`)
    /// and marks the sessions Settled. The checks are the embedded ledger's
    /// (`check_settle`), in its order; a settled session is refused
    /// (`AlreadySettled`), a retry included (docs/evm.md §7).
    function settle(
        uint256 nodeId,
        uint256 k,
        uint256 total,
        SettleSession[] calldata sessions,
        uint256[8] calldata proof
    ) external returns (uint64 firstIndex) {
        _checkSettleRequest(nodeId, k, total, sessions);
        Node storage nd = nodes[nodeId];
        address operator = nd.operator;
        if (operator == address(0)) revert UnknownNode();
        bytes memory vcall = _settleCall(k, proof, nodeId, total, sessions[0].terms.pricePerKib);
        (uint256[] memory cms, uint256 sum) = _settleSessions(nodeId, k, total, operator, sessions, vcall);
        uint256 newPool = uint256(pool) + (sum - total);
        if (newPool > MAX_VALUE) revert Overflow();
        _verifySettle(k, vcall);
        (pool, escrowed) = (uint64(newPool), escrowed - uint64(sum));
        firstIndex = _queueAll(cms);
        if (total != 0) _pay(operator, total);
        _emitSettled(nodeId, total, firstIndex, sessions, cms);
    }

    /// The stateless checks of a settle request in the embedded ledger's
    /// order (the wire decoding `settle_from_pb`, then
    /// `check_settle_stateless`): the batch's length, the encodings (every
    /// session id before any refund commitment), `k`, `1 ≤ n ≤ k`, no
    /// session twice. Duplicates are found with transient storage (one
    /// mark per session id, cleared by `_settleSessions`).
    function _checkSettleRequest(uint256 nodeId, uint256 k, uint256 total, SettleSession[] calldata sessions)
        internal
    {
        uint256 n = sessions.length;
        if (n > MAX_SETTLE_BATCH) revert InvalidArgument("batch too large");
        if (nodeId >= R) revert Encoding("node_id");
        if (total > MAX_VALUE) revert Encoding("total");
        bool badRefund;
        bool duplicate;
        for (uint256 i = 0; i < n; i++) {
            uint256 sid = sessions[i].sessionId;
            if (sid >= R) revert Encoding("session_id");
            if (sessions[i].cmRefund >= R) badRefund = true;
            assembly ("memory-safe") {
                if tload(sid) { duplicate := 1 }
                tstore(sid, 1)
            }
        }
        if (badRefund) revert Encoding("cm_refund");
        if (k != 1 && k != 8 && k != 64) revert InvalidArgument("unsupported batch size k");
        if (n == 0 || n > k) revert InvalidArgument("batch must hold 1..=k sessions");
        if (duplicate) revert DuplicateSession();
    }

    /// The verifier call of a `settle_k` proof, its slot inputs still zero:
    /// selector ‖ proof ‖ `[nodeId, total, price, 0 × 2k]`.
    function _settleCall(uint256 k, uint256[8] calldata proof, uint256 nodeId, uint256 total, uint256 price)
        internal
        pure
        returns (bytes memory vcall)
    {
        vcall = new bytes(4 + 0x20 * (8 + 3 + 2 * k));
        bytes4 sel = k == 1 ? SETTLE1_VERIFY : k == 8 ? SETTLE8_VERIFY : SETTLE64_VERIFY;
        assembly ("memory-safe") {
            mstore(add(vcall, 0x20), sel)
            calldatacopy(add(vcall, 0x24), proof, 0x100)
            let at := add(vcall, SETTLE_INPUTS_AT)
            mstore(at, nodeId)
            mstore(add(at, 0x20), total)
            mstore(add(at, 0x40), price)
        }
    }

    /// The escrow lookups (`settle_slots`: `UnknownEscrow`,
    /// `EscrowTermsMismatch` (chain only), `WrongNode`) of every session,
    /// then one price recorded by every escrow (`batch_price`:
    /// `InvalidArgument`), then the sender (`SettleUnauthorized`), then the
    /// first session's
    /// state error (`AlreadySettled`, `EscrowNotOpen`,
    /// `SettleWindowClosed`), then `T ≤ Σ E`, as `check_settle` orders
    /// them. Writes each spend word Settled and the slot inputs into
    /// `vcall` as it goes (a refusal reverts them). Returns the refund
    /// commitments and `Σ E`.
    function _settleSessions(
        uint256 nodeId,
        uint256 k,
        uint256 total,
        address operator,
        SettleSession[] calldata sessions,
        bytes memory vcall
    ) internal returns (uint256[] memory cms, uint256 sum) {
        cms = new uint256[](sessions.length);
        uint256 stateError;
        uint256 at = _slotInputsAt(vcall);
        for (uint256 i = 0; i < sessions.length; i++) {
            SettleSession calldata s = sessions[i];
            uint256 status = _lookUp(nodeId, s);
            if (stateError & 3 == 0) {
                if (status == SETTLED) stateError |= 1;
                else if (status == RECLAIMED) stateError |= 2;
                else if (block.number > s.terms.expiry + challengeWindow) stateError |= 3;
            }
            if (s.terms.pricePerKib != sessions[0].terms.pricePerKib) stateError |= 4;
            sum += s.terms.escrow;
            cms[i] = s.cmRefund;
            _putSlot(at + 0x20 * i, k, s.terms.esc, s.cmRefund);
        }
        if (stateError & 4 != 0) revert InvalidArgument("escrows of one batch record different prices");
        if (msg.sender != operator) revert SettleUnauthorized("sender is not the node's operator");
        stateError &= 3;
        if (stateError == 1) revert AlreadySettled();
        if (stateError == 2) revert EscrowNotOpen();
        if (stateError == 3) revert SettleWindowClosed();
        if (total > sum) revert TotalExceedsEscrow();
    }

    /// Where `_settleSessions` writes `esc_0` in `vcall`.
    function _slotInputsAt(bytes memory vcall) internal pure returns (uint256 at) {
        assembly ("memory-safe") {
            at := add(vcall, add(SETTLE_INPUTS_AT, 0x60))
        }
    }

    /// Writes slot `i`'s `esc` at `p` and its `cm_refund` `k` words later.
    function _putSlot(uint256 p, uint256 k, uint256 esc, uint256 cm) internal pure {
        assembly ("memory-safe") {
            mstore(p, esc)
            mstore(add(p, shl(5, k)), cm)
        }
    }

    /// Session `s`'s escrow: its spend word is an escrow's
    /// (`UnknownEscrow`), of these terms (`EscrowTermsMismatch`), at
    /// `nodeId` (`WrongNode`). Writes it Settled (reverted with the call if
    /// anything is refused later) and clears the session's duplicate mark.
    /// Returns the status it had.
    function _lookUp(uint256 nodeId, SettleSession calldata s) internal returns (uint256 status) {
        uint256 sid = s.sessionId;
        uint256 word = nullifiers[sid];
        status = word & STATUS_MASK;
        if (status == 0) revert UnknownEscrow();
        if (word & ~STATUS_MASK != _termsHashCalldata(s.terms)) revert EscrowTermsMismatch();
        if (s.terms.nodeId != nodeId) revert WrongNode();
        nullifiers[sid] = (word & ~STATUS_MASK) | SETTLED;
        assembly ("memory-safe") {
            tstore(sid, 0)
        }
    }

    /// `_termsHash` of terms in calldata, hashed in place (no copy kept).
    function _termsHashCalldata(EscrowTerms calldata t) internal pure returns (uint256 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            calldatacopy(m, t, 0xc0)
            h := and(keccak256(m, 0xc0), not(STATUS_MASK))
        }
    }

    /// Runs the `settle_k` verifier on `vcall`; anything but ABI `true` (a
    /// refusal, a revert, out of gas: docs/evm.md §1.2) is `InvalidProof`.
    function _verifySettle(uint256 k, bytes memory vcall) internal view {
        address v = k == 1 ? settle1Verifier : k == 8 ? settle8Verifier : settle64Verifier;
        bool ok;
        assembly ("memory-safe") {
            let success := staticcall(gas(), v, add(vcall, 0x20), mload(vcall), 0x00, 0x20)
            ok := and(success, and(eq(returndatasize(), 0x20), eq(mload(0x00), 1)))
        }
        if (!ok) revert InvalidProof();
    }

    /// Queues `cms` in order (the chain, the count and the checkpoints as
    /// `_queue` writes them, the two counters once); returns the first
    /// index.
    function _queueAll(uint256[] memory cms) internal returns (uint64 first) {
        first = leafCount;
        uint256 count = first;
        uint256 n = cms.length;
        if (count + n > TREE_CAPACITY) revert InvalidArgument("commitment tree is full");
        bytes32 head = queueHead;
        for (uint256 i = 0; i < n; i++) {
            uint256 cm = cms[i];
            assembly ("memory-safe") {
                mstore(0x00, head)
                mstore(0x20, cm)
                head := keccak256(0x00, 0x40)
            }
            count++;
            if (count % CHECKPOINT_INTERVAL == 0) checkpoints[count / CHECKPOINT_INTERVAL] = head;
        }
        queueHead = head;
        leafCount = uint64(count);
    }

    /// `Settled` with the sessions' ids.
    function _emitSettled(
        uint256 nodeId,
        uint256 total,
        uint64 firstIndex,
        SettleSession[] calldata sessions,
        uint256[] memory cms
    ) internal {
        uint256 n = sessions.length;
        uint256[] memory ids = new uint256[](n);
        for (uint256 i = 0; i < n; i++) {
            ids[i] = sessions[i].sessionId;
        }
        emit Settled(nodeId, uint64(total), firstIndex, ids, cms);
    }

    // ------------------------------------------------------------ reclaim

    /// §8.3.4: after `expiry + challengeWindow`, returns all of `E` to the
    /// pool as the reclaim note `(E, rk, H(RECLAIM, sessionId))`. Anyone may
    /// call; `terms` are the escrow's, as `EscrowOpened` published them.
    function reclaim(uint256 sessionId, EscrowTerms calldata terms) external returns (uint64 index) {
        if (sessionId >= R) revert Encoding("session_id");
        uint256 word = nullifiers[sessionId];
        uint256 status = word & STATUS_MASK;
        if (status == 0) revert UnknownEscrow();
        if (word & ~STATUS_MASK != _termsHash(terms)) revert EscrowTermsMismatch();
        if (status != OPEN) revert EscrowNotOpen();
        uint256 deadline = terms.expiry + challengeWindow;
        if (block.number <= deadline) revert NotYetReclaimable(deadline + 1);
        uint64 e = uint64(terms.escrow);
        uint256 newPool = uint256(pool) + e;
        if (newPool > MAX_VALUE) revert Overflow();
        (pool, escrowed) = (uint64(newPool), escrowed - e);
        uint256 cm = _reclaimCommitment(sessionId, e, terms.refundOwner);
        nullifiers[sessionId] = (word & ~STATUS_MASK) | RECLAIMED;
        index = _queue(cm);
        emit Reclaimed(sessionId, cm, index);
    }

    /// `H(NOTE, E, H(ADDR, rk, H(RECLAIM, sessionId)))` (§2.3,
    /// `Escrow::reclaim_commitment`).
    function _reclaimCommitment(uint256 sessionId, uint64 e, uint256 rk) internal view returns (uint256) {
        uint256 rho = poseidonT3.hash([TAG_RECLAIM, sessionId]);
        uint256 addr = poseidonT4.hash([TAG_ADDR, rk, rho]);
        return poseidonT4.hash([TAG_NOTE, uint256(e), addr]);
    }

    // ----------------------------------------------------------- withdraw

    /// §8.3.5: pays `amount` from the pool to `recipient` by spending a note
    /// (`withdraw` circuit, inputs `root, nf, cm_change, amount,
    /// recipient`; the recipient is the address as a field element, bound
    /// by the proof). Anyone may send it; no relayer fee.
    function withdraw(
        uint256 root,
        uint256 nullifier,
        uint256 cmChange,
        uint256 amount,
        address recipient,
        uint256[8] calldata p
    ) external returns (uint64 changeIndex) {
        _checkWithdraw(root, nullifier, cmChange, amount, recipient);
        uint256[5] memory input = [root, nullifier, cmChange, amount, uint256(uint160(recipient))];
        if (!withdrawVerifier.verifyProof([p[0], p[1]], [[p[2], p[3]], [p[4], p[5]]], [p[6], p[7]], input)) {
            revert InvalidProof();
        }
        pool -= uint64(amount);
        nullifiers[nullifier] = WITHDRAWN;
        changeIndex = _queue(cmChange);
        _pay(recipient, amount);
        emit Withdrawn(nullifier, recipient, uint64(amount), cmChange, changeIndex);
    }

    /// The checks of §8.3.5 in the embedded ledger's order (the wire
    /// decoding, then `check_withdraw`).
    function _checkWithdraw(uint256 root, uint256 nullifier, uint256 cmChange, uint256 amount, address recipient)
        internal
        view
    {
        if (root >= R) revert Encoding("root");
        if (nullifier >= R) revert Encoding("nullifier");
        if (cmChange >= R) revert Encoding("cm_change");
        if (amount > MAX_VALUE) revert Encoding("amount");
        if (recipient == address(0)) revert InvalidArgument("recipient is the zero address");
        if (amount == 0) revert InvalidArgument("withdraw amount must be positive");
        if (nullifiers[nullifier] != 0) revert NullifierSpent();
        if (!_isKnownRoot(root)) revert UnknownRoot(rootHistorySize);
        if (pool < amount) revert PoolUnderflow();
    }

    // ------------------------------------------------------- registration

    /// §8.3.6: registers the node whose key is `N = nodeKey` (`[x, y]`),
    /// `nodeId = H(NODE_ID, N.x, N.y)`, with `msg.sender` as its operator
    /// (staking, settling and payout account); pulls `stake`.
    /// @dev Not checked here, unlike the embedded ledger: the node key's
    /// EdDSA signature over the registration message (docs/evm.md §4.3).
    /// The first half of a registration (docs/evm.md §4.2): records the
    /// block (+ 1) of `commitment = keccak256(abi.encode(msg.sender, N.x, N.y))`.
    /// Committing again keeps the first block.
    function commitRegistration(bytes32 commitment) external {
        if (registrationCommits[commitment] != 0) return;
        registrationCommits[commitment] = block.number + 1;
        emit RegistrationCommitted(msg.sender, commitment);
    }

    /// Registers the node key `N` (§8.3.6), staked from and paid to the
    /// sender, who committed to `N` in an earlier block. `keyHint` is
    /// `Q = (8⁻¹ mod l)·N`: `N` is in the prime-order subgroup exactly when
    /// such a `Q` exists on the curve (`8·E` is that subgroup), which three
    /// doublings check where `l·N = O` takes ≈ 300k gas. `profile` (at most
    /// `MAX_PROFILE_BYTES`, §8.3.9) is only emitted.
    function registerNode(
        uint256[2] calldata nodeKey,
        uint256[2] calldata keyHint,
        uint256[3] calldata nodeSignature,
        uint256 pricePerKib,
        uint256[] calldata escrowSizes,
        uint256 stake,
        bytes32 tlsKeyHash,
        bytes calldata profile
    ) external returns (uint256 nodeId) {
        uint64[] memory sizes = _checkTerms(nodeKey, keyHint, pricePerKib, escrowSizes, stake, profile);
        _checkCommitted(nodeKey);
        _checkAllowance(stake);
        nodeId = poseidonT4.hash([TAG_NODE_ID, nodeKey[0], nodeKey[1]]);
        _record(nodeId, uint64(pricePerKib), sizes, uint64(stake), _capacity(profile));
        _pull(stake);
        _emitRegistered(nodeId, sizes, tlsKeyHash, nodeKey, nodeSignature, profile);
    }

    /// `NodeRegistered` from the record just written (a function of its
    /// own: the registration's arguments fill the stack).
    function _emitRegistered(
        uint256 nodeId,
        uint64[] memory sizes,
        bytes32 tlsKeyHash,
        uint256[2] calldata nodeKey,
        uint256[3] calldata nodeSignature,
        bytes calldata profile
    ) internal {
        Node storage n = nodes[nodeId];
        emit NodeRegistered(
            nodeId, msg.sender, n.pricePerKib, sizes, n.stake, tlsKeyHash, nodeKey, nodeSignature, profile
        );
    }

    /// §8.3.8: the node's operator replaces its price, escrow sizes, TLS
    /// key hash and profile; operator and stake stay. `sequence` must be
    /// the node's latest plus one (1 for the first update). Escrows opened
    /// before keep the price they recorded (`EscrowTerms.pricePerKib`).
    /// The checks are the embedded ledger's (`check_update`) in its order:
    /// the encodings and the terms as at registration, then the node, its
    /// operator (the sender, where the embedded ledger checks the
    /// account's signature) and the sequence. `nodeSignature` is the node
    /// key's signature of the update message, emitted for readers and not
    /// checked here, as at registration (docs/evm.md §4.2).
    function updateNode(
        uint256 nodeId,
        uint256 sequence,
        uint256 pricePerKib,
        uint256[] calldata escrowSizes,
        bytes32 tlsKeyHash,
        bytes calldata profile,
        uint256[3] calldata nodeSignature
    ) external {
        uint64[] memory sizes = _checkUpdateTerms(nodeId, sequence, pricePerKib, escrowSizes);
        _checkProfileLength(profile);
        Node storage n = nodes[nodeId];
        address operator = n.operator;
        if (operator == address(0)) revert UnknownNode();
        if (operator != msg.sender) revert AccountUnauthenticated("sender is not the node's operator");
        if (n.retiredAt != 0) revert NodeRetired();
        if (sequence != uint256(n.sequence) + 1) revert StaleNodeUpdate();
        uint32 capacity = _checkCapacity(profile, n.stake);
        (n.pricePerKib, n.capacityMbitS, n.sequence) = (uint64(pricePerKib), capacity, uint64(sequence));
        n.escrowSizes = sizes;
        emit NodeUpdated(nodeId, uint64(sequence), uint64(pricePerKib), sizes, tlsKeyHash, profile, nodeSignature);
    }

    /// An update's fields in the wire decoding's order (node id, then the
    /// size count as `update_from_pb`), then the terms' rules.
    function _checkUpdateTerms(uint256 nodeId, uint256 sequence, uint256 pricePerKib, uint256[] calldata escrowSizes)
        internal
        pure
        returns (uint64[] memory sizes)
    {
        if (nodeId >= R) revert Encoding("node_id");
        if (sequence > MAX_VALUE) revert Encoding("sequence");
        if (escrowSizes.length > MAX_ESCROW_SIZES) revert InvalidArgument("a node accepts 1..=16 escrow sizes");
        if (pricePerKib > MAX_VALUE) revert Encoding("price_per_kib");
        sizes = _sizeValues(escrowSizes);
        _checkTermRules(pricePerKib, sizes);
    }

    /// A node profile is at most `MAX_PROFILE_BYTES` (§8.3.9).
    function _checkProfileLength(bytes calldata profile) internal pure {
        if (profile.length > MAX_PROFILE_BYTES) revert InvalidArgument("node profile longer than 1024 bytes");
    }

    /// `stake` backs the capacity the profile claims (§8.3.6, §8.3.8;
    /// `check_stake_backs`); returns that capacity.
    function _checkCapacity(bytes calldata profile, uint256 stake) internal pure returns (uint32 capacity) {
        capacity = _capacity(profile);
        uint256 needed = uint256(capacity) * STAKE_PER_MBIT_S;
        if (stake < needed) revert StakeBelowCapacity(uint64(stake), uint64(needed));
    }

    /// The capacity field of a profile (§8.3.9: version, endpoint length,
    /// endpoint, capacity as u32 big-endian, …): the one field the contract
    /// reads. A profile too short for it, or of another version, claims 0
    /// (readers parse the rest, as the embedded ledger's `claimed_mbit_s`).
    function _capacity(bytes calldata profile) internal pure returns (uint32) {
        if (profile.length < 2 || uint8(profile[0]) != PROFILE_VERSION) return 0;
        uint256 at = 2 + uint256(uint8(profile[1]));
        if (profile.length < at + 4) return 0;
        return uint32(bytes4(profile[at:at + 4]));
    }

    /// The sender committed to `nodeKey` in an earlier block.
    function _checkCommitted(uint256[2] calldata nodeKey) internal view {
        uint256 atPlusOne = registrationCommits[keccak256(abi.encode(msg.sender, nodeKey[0], nodeKey[1]))];
        if (atPlusOne == 0) revert RegistrationUnauthenticated("no registration commitment by the sender");
        if (atPlusOne > block.number) revert RegistrationUnauthenticated("registration commitment not yet in an earlier block");
    }

    /// The stateful checks and writes of a registration (§8.3.6).
    function _record(uint256 nodeId, uint64 pricePerKib, uint64[] memory sizes, uint64 stake, uint32 capacity)
        internal
    {
        Node storage n = nodes[nodeId];
        if (n.operator != address(0)) revert NodeExists();
        if (token.balanceOf(msg.sender) < stake) revert InsufficientBalance();
        _tick();
        uint256 newStaked = uint256(staked) + stake;
        if (newStaked > MAX_VALUE) revert Overflow();
        staked = uint64(newStaked);
        (n.operator, n.pricePerKib, n.capacityMbitS) = (msg.sender, pricePerKib, capacity);
        (n.stake, n.registeredAt) = (stake, uint64(block.number));
        n.escrowSizes = sizes;
    }

    /// The registration's terms, in the embedded ledger's order: the size
    /// count, the encodings (§8.5), then the stateless rules of §8.3.6:
    /// the terms, the profile's length, the stake backing its capacity.
    function _checkTerms(
        uint256[2] calldata nodeKey,
        uint256[2] calldata keyHint,
        uint256 pricePerKib,
        uint256[] calldata escrowSizes,
        uint256 stake,
        bytes calldata profile
    ) internal pure returns (uint64[] memory sizes) {
        uint256 n = escrowSizes.length;
        if (n > MAX_ESCROW_SIZES) revert InvalidArgument("a node accepts 1..=16 escrow sizes");
        if (!_isSubgroupPoint(nodeKey[0], nodeKey[1], keyHint[0], keyHint[1])) revert Encoding("node_key");
        if (pricePerKib > MAX_VALUE) revert Encoding("price_per_kib");
        if (stake > MAX_VALUE) revert Encoding("stake");
        sizes = _sizeValues(escrowSizes);
        _checkTermRules(pricePerKib, sizes);
        _checkProfileLength(profile);
        _checkCapacity(profile, stake);
    }

    /// The escrow sizes as values (each at most u64).
    function _sizeValues(uint256[] calldata escrowSizes) internal pure returns (uint64[] memory sizes) {
        uint256 n = escrowSizes.length;
        sizes = new uint64[](n);
        for (uint256 i = 0; i < n; i++) {
            if (escrowSizes[i] > MAX_VALUE) revert Encoding("escrow_sizes");
            sizes[i] = uint64(escrowSizes[i]);
        }
    }

    /// The terms a node may offer, at registration and at every update
    /// (`check_terms`, §8.3.6): a positive price and 1..=16 distinct
    /// positive escrow sizes.
    function _checkTermRules(uint256 pricePerKib, uint64[] memory sizes) internal pure {
        uint256 n = sizes.length;
        if (pricePerKib == 0) revert InvalidArgument("price must be positive");
        if (n == 0) revert InvalidArgument("a node accepts 1..=16 escrow sizes");
        for (uint256 i = 0; i < n; i++) {
            if (sizes[i] == 0) revert InvalidArgument("escrow sizes must be positive and distinct");
            for (uint256 j = 0; j < i; j++) {
                if (sizes[i] == sizes[j]) revert InvalidArgument("escrow sizes must be positive and distinct");
            }
        }
    }

    /// The terms in force of a registered node (operator 0: not
    /// registered) and the sequence of its latest update (0: none).
    function node(uint256 nodeId)
        external
        view
        returns (
            address operator,
            uint64 pricePerKib,
            uint64[] memory escrowSizes,
            uint64 stake,
            uint64 registeredAt,
            uint64 sequence
        )
    {
        Node storage n = nodes[nodeId];
        return (n.operator, n.pricePerKib, n.escrowSizes, n.stake, n.registeredAt, n.sequence);
    }

    /// What audits read of a node (docs/market.md §5.1): its operator (0:
    /// not registered), locked stake, claimed capacity and the height it
    /// retired at (0: active; a retired node is not challenged).
    function auditedNode(uint256 nodeId)
        external
        view
        returns (address operator, uint64 stake, uint32 capacityMbitS, uint64 retiredAt)
    {
        Node storage n = nodes[nodeId];
        return (n.operator, n.stake, n.capacityMbitS, n.retiredAt);
    }

    // --------------------------------------------------------------- exit

    /// §8.3.12: the operator retires its node; escrows opened before
    /// settle or are reclaimed as before.
    function retireNode(uint256 nodeId) external {
        Node storage n = _operated(nodeId);
        if (n.retiredAt != 0) revert NodeRetired();
        n.retiredAt = uint64(block.number);
        emit NodeRetiring(nodeId, _releasableAt(n));
    }

    /// §8.3.12: after the lock-up the operator takes back the stake audits
    /// left: every escrow opened before retiring expired by `retiredAt +
    /// maxExpiryDelta`, settles by `+ challengeWindow`, and evidence has
    /// `EVIDENCE_WINDOW_BLOCKS` more after that height (`NodeExit::releasable_at`).
    function releaseNode(uint256 nodeId) external {
        Node storage n = _operated(nodeId);
        if (n.retiredAt == 0) revert NodeNotRetired();
        if (n.releasedAt != 0) revert StakeReleased();
        uint64 at = _releasableAt(n);
        if (block.number < at) revert StakeLocked(at);
        // A challenge missed and not slashed yet keeps the stake: whoever
        // sends `slashMissed` unlocks it (every deadline has passed by `at`).
        if (auditor != address(0) && IOpenChallenges(auditor).openChallenges(nodeId) != 0) {
            revert StakeLocked(uint64(block.number + 1));
        }
        uint64 paid = n.stake;
        _tick();
        (n.stake, n.releasedAt) = (0, uint64(block.number));
        staked -= paid;
        emit NodeReleased(nodeId, paid);
        _pay(msg.sender, paid);
    }

    /// The node, sent by its operator.
    function _operated(uint256 nodeId) internal view returns (Node storage n) {
        n = nodes[nodeId];
        if (n.operator == address(0)) revert UnknownNode();
        if (n.operator != msg.sender) revert AccountUnauthenticated("sender is not the node's operator");
    }

    function _releasableAt(Node storage n) internal view returns (uint64) {
        return uint64(n.retiredAt + maxExpiryDelta + challengeWindow + 1 + EVIDENCE_WINDOW_BLOCKS);
    }

    // ------------------------------------------------------------ slashing

    /// The auditor's verdict moves stake (docs/market.md §5.1): `amount`
    /// leaves the node's stake, `rewardEach` is paid to each of `rewarded`
    /// and the rest is burnt. Only `auditor` may call it; it is trusted for
    /// the amounts as the embedded ledger trusts its own verdicts.
    function slash(uint256 nodeId, uint256 amount, address[] calldata rewarded, uint256 rewardEach) external {
        if (msg.sender != auditor || auditor == address(0)) revert SlashUnauthorized();
        Node storage n = nodes[nodeId];
        if (n.operator == address(0)) revert UnknownNode();
        uint256 paid = rewardEach * rewarded.length;
        if (amount > n.stake || paid > amount) revert SlashTooLarge();
        uint64 burntNow = uint64(amount - paid);
        _tick();
        n.stake -= uint64(amount);
        staked -= uint64(amount);
        burnt += burntNow;
        emit Slashed(nodeId, uint64(amount), uint64(rewardEach), rewarded, burntNow);
        for (uint256 i = 0; i < rewarded.length; i++) {
            _pay(rewarded[i], rewardEach);
        }
    }

    // ------------------------------------------------------------- tokens

    /// The account's authorisation of a debit of `value` (§8.3): its
    /// allowance to this contract. Checked before any state is read, as
    /// the embedded ledger checks the account signature.
    function _checkAllowance(uint256 value) internal view {
        if (token.allowance(msg.sender, address(this)) < value) {
            revert AccountUnauthenticated("token allowance below the amount");
        }
    }

    /// Pulls `value` from `msg.sender`; a token that reverts or returns
    /// false fails the whole call.
    function _pull(uint256 value) internal {
        (bool ok, bytes memory ret) =
            address(token).call(abi.encodeCall(IERC20.transferFrom, (msg.sender, address(this), value)));
        if (!ok || (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed();
        }
    }

    /// Pays `value` to `to` from the ledger's balance; a token that
    /// reverts or returns false fails the whole call.
    function _pay(address to, uint256 value) internal {
        (bool ok, bytes memory ret) = address(token).call(abi.encodeCall(IERC20Transfer.transfer, (to, value)));
        if (!ok || (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1))) {
            revert TokenTransferFailed();
        }
    }

    // ---------------------------------------------------------- BabyJubJub

    /// Whether `(x, y)` is a point of BabyJubJub's prime-order subgroup
    /// other than the identity (the node key decoding of §2.1), shown by
    /// the hint `(hx, hy)`: canonical coordinates of both, both on the
    /// curve, `8·(hx, hy) = (x, y)` and `(x, y) ≠ O`. The curve's group is
    /// `Z/8 × Z/l`, so `8·E` is exactly the prime-order subgroup. Doubling
    /// (`dbl-2008-hwcd`, a = 1, complete on this curve) in projective
    /// `(X : Y : Z)`; the result is compared without an inversion.
    function _isSubgroupPoint(uint256 x, uint256 y, uint256 hx, uint256 hy) internal pure returns (bool) {
        if (x == 0 && y == 1) return false;
        if (!_onCurve(x, y) || !_onCurve(hx, hy)) return false;
        uint256 X = hx;
        uint256 Y = hy;
        uint256 Z = 1;
        for (uint256 i = 0; i < 3; i++) {
            uint256 a = mulmod(X, X, R);
            uint256 b = mulmod(Y, Y, R);
            uint256 s = addmod(X, Y, R);
            uint256 e = addmod(mulmod(s, s, R), R - addmod(a, b, R), R);
            uint256 g = addmod(a, b, R);
            uint256 h = addmod(a, R - b, R);
            uint256 f = addmod(g, R - mulmod(2, mulmod(Z, Z, R), R), R);
            (X, Y, Z) = (mulmod(e, f, R), mulmod(g, h, R), mulmod(f, g, R));
        }
        return mulmod(x, Z, R) == X && mulmod(y, Z, R) == Y;
    }

    /// Canonical coordinates on the curve `x² + y² = 1 + d·x²·y²`.
    function _onCurve(uint256 x, uint256 y) internal pure returns (bool) {
        if (x >= R || y >= R) return false;
        uint256 xx = mulmod(x, x, R);
        uint256 yy = mulmod(y, y, R);
        return addmod(xx, yy, R) == addmod(1, mulmod(CURVE_D, mulmod(xx, yy, R), R), R);
    }
}
