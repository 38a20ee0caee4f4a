// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.28;

/// The value token (EIP-20) monitors stake.
interface IStakeToken {
    function balanceOf(address account) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// What the audits read of, and do to, `VeilLedger`.
interface IAuditedLedger {
    function auditor() external view returns (address);
    function auditedNode(uint256 nodeId)
        external
        view
        returns (address operator, uint64 stake, uint32 capacityMbitS, uint64 retiredAt);
    function currentRoot() external view returns (uint256);
    function EVIDENCE_WINDOW_BLOCKS() external view returns (uint256);
    function slash(uint256 nodeId, uint256 amount, address[] calldata rewarded, uint256 rewardEach) external;
}

/// `AnswerVerifier.verifyProof`: the Groth16 verifier of the `answer`
/// circuit, generated from `params/answer.vk`; public inputs
/// `node_id, monitor, epoch, root` (docs/protocol.md §8.3.14).
interface IAnswerVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[4] calldata input
    ) external view returns (bool);
}

/// @title VeilAudits: monitors, the epoch seed, reports and verdicts on the
/// EVM (docs/market.md §5.1, §6; docs/protocol.md §8.3.13).
/// @notice The rule is `veil_market::audit` step for step: rendezvous
/// assignment by SHA-256 of the epoch's seed, one report per assigned
/// monitor, a quorum, the upper median, a slash in proportion to the
/// shortfall, a quarter to the agreeing monitors, outliers counted against
/// their monitors. What differs from the embedded ledger is the seed: a
/// commit-reveal among monitors mixed with the `prevrandao` of the block
/// that draws it, and verdicts run when anyone calls `judge`, not on the
/// clock's advance.
/// @dev A monitor is its address; its party is the address as a 32-byte
/// word, a node's its node id. Every check runs before the first write.
contract VeilAudits {
    // The rule (`AuditRule::default`, `MonitorRule::default`).
    uint256 public constant PER_NODE = 5;
    uint256 public constant QUORUM = 3;
    uint256 internal constant PPM = 1_000_000;
    uint256 internal constant DELIVERY_PPM = 800_000;
    uint256 internal constant MAX_UNDERDELIVERY_SLASH_PPM = 200_000;
    uint256 internal constant REWARD_PPM = 250_000;
    uint256 internal constant OUTLIER_PPM = 500_000;
    uint256 internal constant OUTLIER_WINDOW = 10;
    uint256 internal constant OUTLIERS_TO_SLASH = 4;
    uint256 internal constant MONITOR_SLASH_PPM = 100_000;
    /// Of a monitor's stake, slashed for each seed secret it committed to
    /// and did not reveal in the window (`veil_evm::audits::WITHHELD_SLASH_PPM`):
    /// a withheld reveal is a choice between two seeds.
    uint256 public constant WITHHELD_SLASH_PPM = 100_000;
    /// Of a node's locked stake, slashed for a challenge it did not answer
    /// in time (`AuditRule::evidence_slash_ppm`); `REWARD_PPM` of it to the
    /// challenging monitor, the rest burnt.
    uint256 public constant EVIDENCE_SLASH_PPM = 1_000_000;
    /// `Challenge.state`.
    uint8 internal constant OPEN = 1;
    uint8 internal constant ANSWERED = 2;
    uint8 internal constant MISSED = 3;
    /// `seedCommits` marks: revealed, and withheld and slashed. A
    /// commitment is any other word.
    bytes32 internal constant REVEALED = bytes32(uint256(1));
    bytes32 internal constant WITHHELD = bytes32(uint256(2));
    /// The assignment hash's domain tag (`veil_market::audit::ASSIGN`).
    bytes internal constant ASSIGN = "veil/market/assign/v1";
    /// The seed hash's domain tag.
    bytes internal constant SEED = "veil/evm/audit-seed/v1";

    IStakeToken public immutable token;
    /// May call `bind`, once; has no other power.
    address public immutable deployer;
    /// Epoch `e` is blocks `[genesis + e·epochBlocks, genesis + (e+1)·epochBlocks)`.
    uint64 public immutable genesis;
    uint64 public immutable epochBlocks;
    /// Reveals of an epoch's seed are taken in its first `revealBlocks` blocks.
    uint64 public immutable revealBlocks;
    IAuditedLedger public ledger;
    /// Verifies a node key's answer to a challenge (the `answer` circuit).
    IAnswerVerifier public immutable answerVerifier;

    /// A monitor, one slot. `recent`: its latest counted reports, one bit
    /// each (1: an outlier), newest in bit 0, `recentLen` of them;
    /// `pending`: reports not judged yet (it is released only at 0).
    struct Monitor {
        uint64 stake;
        uint40 registeredAt;
        uint40 retiredAt; // 0: active
        uint40 releasedAt; // 0: not released
        uint24 pending;
        uint16 recent;
        uint8 recentLen;
        bool registered;
    }

    /// A node's latest verdict.
    struct Verdict {
        uint64 epoch;
        uint8 reports;
        uint64 throughputKbps;
        uint32 rttMs;
        uint32 deliveredPpm;
        uint64 slashed;
    }

    mapping(address => Monitor) public monitors;
    /// The monitors whose stake is not released, in no fixed order
    /// (assignment reads them; a release swaps the last into its place).
    address[] public monitorList;
    /// A listed monitor's index in `monitorList`, plus one (0: unlisted).
    mapping(address => uint256) internal listIndex;
    /// Seed commitments `keccak256(abi.encode(secret, monitor, epoch))`.
    mapping(uint64 => mapping(address => bytes32)) public seedCommits;
    /// XOR of `keccak256(secret)` over the epoch's reveals.
    mapping(uint64 => bytes32) public seedMix;
    /// The epoch's seed (0: not drawn).
    mapping(uint64 => bytes32) public seeds;
    /// The `PER_NODE`-th lowest assignment score of a node in an epoch
    /// (all ones when fewer monitors are eligible; 0: not fixed yet).
    mapping(uint64 => mapping(uint256 => bytes32)) public cutoffs;
    /// Reports of an epoch on a node: `monitor << 96 | kbps << 32 | rttMs`.
    mapping(uint64 => mapping(uint256 => uint256[])) internal reports;
    mapping(uint64 => mapping(uint256 => bool)) public judged;
    mapping(uint256 => Verdict) public verdicts;

    /// A ledger challenge (docs/protocol.md §8.3.14). `root`: the note
    /// tree's current root when it was issued (nobody knew it before); the
    /// node may answer until `deadline` inclusive; `slashed`: what a miss took.
    struct Challenge {
        uint256 root;
        uint40 issuedAt;
        uint40 deadline;
        uint40 answeredAt;
        uint8 state;
        uint64 slashed;
    }

    /// Challenges by epoch, node and challenging monitor.
    mapping(uint64 => mapping(uint256 => mapping(address => Challenge))) public challenges;
    /// A node's challenges neither answered nor slashed: `VeilLedger`
    /// releases no stake while one is (`releaseNode`).
    mapping(uint256 => uint256) public openChallenges;
    /// Σ monitor stakes slashed for outliers: burnt, held here for ever.
    uint64 public burnt;

    event MonitorRegistered(address indexed monitor, uint64 stake);
    event MonitorRetiring(address indexed monitor, uint64 at);
    event MonitorReleased(address indexed monitor, uint64 paid);
    event SeedCommitted(uint64 indexed epoch, address indexed monitor);
    event SeedRevealed(uint64 indexed epoch, address indexed monitor);
    event SeedWithheld(uint64 indexed epoch, address indexed monitor, uint64 slashed, address reporter);
    event SeedFixed(uint64 indexed epoch, bytes32 seed);
    event Reported(
        uint64 indexed epoch, uint256 indexed nodeId, address indexed monitor, uint64 throughputKbps, uint32 rttMs
    );
    event Judged(
        uint64 indexed epoch,
        uint256 indexed nodeId,
        uint8 reports,
        uint64 throughputKbps,
        uint32 rttMs,
        uint32 deliveredPpm,
        uint64 slashed
    );
    event MonitorSlashed(address indexed monitor, uint64 amount);
    event ChallengeIssued(
        uint64 indexed epoch, uint256 indexed nodeId, address indexed monitor, uint256 root, uint64 deadline
    );
    event ChallengeAnswered(uint64 indexed epoch, uint256 indexed nodeId, address indexed monitor);
    event ChallengeMissed(uint64 indexed epoch, uint256 indexed nodeId, address indexed monitor, uint64 slashed);

    error NotDeployer(address caller);
    error AlreadyBound();
    error NotBound();
    error WrongLedger();
    error InvalidArgument(string reason);
    error MonitorExists();
    error NotAMonitor();
    error MonitorRetired();
    error MonitorNotRetired();
    error StakeReleased();
    /// Before `height`, or while reports of it wait for a verdict.
    error StakeLocked(uint256 height, uint24 pending);
    error NotEligible(uint64 epoch);
    error CommitWindow(uint64 epoch);
    error RevealWindow(uint64 epoch);
    error AlreadyCommitted();
    error BadReveal();
    error NotWithheld();
    error SeedUnrevealed(uint64 epoch);
    error SeedNotDrawn(uint64 epoch);
    error SeedAlreadyDrawn(uint64 epoch);
    error ReportNotOpen();
    error UnknownNode();
    error NotAssigned();
    error ReportExists();
    error NotYetJudgeable(uint64 fromEpoch);
    error AlreadyJudged();
    error TokenTransferFailed();
    error InsufficientBalance();
    error ChallengeExists();
    error ChallengeEpoch(uint64 current);
    error NodeRetired();
    error UnknownChallenge();
    error BadChallengeAnswer();
    error ChallengeClosed();
    error ChallengeOpen(uint64 deadline);

    constructor(IStakeToken token_, IAnswerVerifier answerVerifier_, uint64 epochBlocks_, uint64 revealBlocks_) {
        if (address(token_).code.length == 0) revert InvalidArgument("token is not a contract");
        if (address(answerVerifier_).code.length == 0) revert InvalidArgument("answer verifier is not a contract");
        if (epochBlocks_ == 0 || revealBlocks_ == 0 || revealBlocks_ >= epochBlocks_) {
            revert InvalidArgument("0 < revealBlocks < epochBlocks");
        }
        token = token_;
        answerVerifier = answerVerifier_;
        deployer = msg.sender;
        genesis = uint64(block.number);
        epochBlocks = epochBlocks_;
        revealBlocks = revealBlocks_;
    }

    /// Binds the ledger whose nodes are audited, once: a ledger deployed
    /// with this contract as its `auditor`.
    function bind(IAuditedLedger ledger_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (address(ledger) != address(0)) revert AlreadyBound();
        if (address(ledger_).code.length == 0 || ledger_.auditor() != address(this)) revert WrongLedger();
        // A challenge's deadline must fall before a retired node's stake is
        // released (§8.3.12): the answer window is one epoch.
        if (epochBlocks > ledger_.EVIDENCE_WINDOW_BLOCKS()) revert InvalidArgument("epochBlocks > evidence window");
        ledger = ledger_;
    }

    // ------------------------------------------------------------- epochs

    function epochOf(uint256 height) public view returns (uint64) {
        return uint64((height - genesis) / epochBlocks);
    }

    function epochStart(uint64 epoch) public view returns (uint256) {
        return uint256(genesis) + uint256(epoch) * epochBlocks;
    }

    function currentEpoch() public view returns (uint64) {
        return epochOf(block.number);
    }

    // ----------------------------------------------------------- monitors

    /// Stakes `stake` of the sender's value tokens (its allowance to this
    /// contract authorises it); assigned from the next epoch on.
    function registerMonitor(uint256 stake) external {
        if (stake == 0 || stake > type(uint64).max) revert InvalidArgument("a monitor's stake must be positive");
        if (monitors[msg.sender].registered) revert MonitorExists();
        if (token.balanceOf(msg.sender) < stake) revert InsufficientBalance();
        monitors[msg.sender] = Monitor(uint64(stake), uint40(block.number), 0, 0, 0, 0, 0, true);
        monitorList.push(msg.sender);
        listIndex[msg.sender] = monitorList.length;
        emit MonitorRegistered(msg.sender, uint64(stake));
        _pull(stake);
    }

    /// No assignment from the next epoch on (`ExitMonitor` retire).
    function retireMonitor() external {
        Monitor storage m = _monitor(msg.sender);
        if (m.retiredAt != 0) revert MonitorRetired();
        m.retiredAt = uint40(block.number);
        emit MonitorRetiring(msg.sender, uint64(block.number));
    }

    /// Pays the stake still held, from the second epoch after the one the
    /// monitor retired in and once every report it made is judged.
    function releaseMonitor() external {
        Monitor storage m = _monitor(msg.sender);
        if (m.retiredAt == 0) revert MonitorNotRetired();
        if (m.releasedAt != 0) revert StakeReleased();
        uint256 at = epochStart(epochOf(m.retiredAt) + 2);
        if (block.number < at || m.pending != 0) revert StakeLocked(at, m.pending);
        // The last two epochs it could commit for: a withheld secret there
        // is slashed before the stake leaves (`punishWithheld`).
        for (uint64 e = epochOf(m.retiredAt); e <= epochOf(m.retiredAt) + 1; e++) {
            if (uint256(seedCommits[e][msg.sender]) > uint256(WITHHELD)) revert SeedUnrevealed(e);
        }
        uint64 paid = m.stake;
        (m.stake, m.releasedAt) = (0, uint40(block.number));
        _unlist(msg.sender);
        emit MonitorReleased(msg.sender, paid);
        if (!token.transfer(msg.sender, paid)) revert TokenTransferFailed();
    }

    /// Assigned in `epoch`: registered before it began, not retired before.
    function eligible(address monitor, uint64 epoch) public view returns (bool) {
        Monitor storage m = monitors[monitor];
        uint256 start = epochStart(epoch);
        return m.registered && m.registeredAt < start && (m.retiredAt == 0 || m.retiredAt >= start);
    }

    function monitorCount() external view returns (uint256) {
        return monitorList.length;
    }

    /// Takes a released monitor off `monitorList`: it is eligible in no
    /// epoch whose reports are still open (it retired two epochs before),
    /// so assignment no longer pays for it.
    function _unlist(address who) internal {
        uint256 i = listIndex[who] - 1;
        address last = monitorList[monitorList.length - 1];
        monitorList[i] = last;
        listIndex[last] = i + 1;
        monitorList.pop();
        delete listIndex[who];
    }

    // --------------------------------------------------------------- seed

    /// Commits to a secret for `epoch`'s seed, during the epoch before it,
    /// as a monitor eligible in `epoch`.
    function commitSeed(uint64 epoch, bytes32 commitment) external {
        if (currentEpoch() + 1 != epoch) revert CommitWindow(epoch);
        if (!eligible(msg.sender, epoch)) revert NotEligible(epoch);
        if (seedCommits[epoch][msg.sender] != 0 || uint256(commitment) <= uint256(WITHHELD)) revert AlreadyCommitted();
        seedCommits[epoch][msg.sender] = commitment;
        emit SeedCommitted(epoch, msg.sender);
    }

    /// Reveals the committed secret in `epoch`'s first `revealBlocks`.
    function revealSeed(uint64 epoch, bytes32 secret) external {
        uint256 start = epochStart(epoch);
        if (block.number < start || block.number >= start + revealBlocks) revert RevealWindow(epoch);
        bytes32 c = seedCommits[epoch][msg.sender];
        if (c == 0 || c != keccak256(abi.encode(secret, msg.sender, epoch))) revert BadReveal();
        seedCommits[epoch][msg.sender] = REVEALED; // no second reveal
        seedMix[epoch] ^= keccak256(abi.encode(secret));
        emit SeedRevealed(epoch, msg.sender);
    }

    /// Slashes `monitor` `WITHHELD_SLASH_PPM` of its stake for a secret it
    /// committed to for `epoch` and did not reveal in the window: anyone
    /// may report it once the window closed, and is paid `REWARD_PPM` of
    /// the slash; the rest is burnt. Once per commitment; not after the
    /// monitor's stake was released (its release waits for this).
    function punishWithheld(uint64 epoch, address monitor) external {
        if (block.number < epochStart(epoch) + revealBlocks) revert RevealWindow(epoch);
        if (uint256(seedCommits[epoch][monitor]) <= uint256(WITHHELD)) revert NotWithheld();
        Monitor storage m = monitors[monitor];
        if (m.releasedAt != 0) revert StakeReleased();
        uint64 amount = uint64(_mulPpm(m.stake, WITHHELD_SLASH_PPM));
        uint64 reward = uint64(_mulPpm(amount, REWARD_PPM));
        seedCommits[epoch][monitor] = WITHHELD;
        m.stake -= amount;
        burnt += amount - reward;
        emit SeedWithheld(epoch, monitor, amount, msg.sender);
        if (reward != 0 && !token.transfer(msg.sender, reward)) revert TokenTransferFailed();
    }

    /// Draws `epoch`'s seed once its reveal window closed:
    /// `SHA-256(len ‖ SEED ‖ epoch ‖ mix ‖ prevrandao)` of the drawing block.
    function drawSeed(uint64 epoch) public returns (bytes32 seed) {
        if (seeds[epoch] != 0) revert SeedAlreadyDrawn(epoch);
        if (block.number < epochStart(epoch) + revealBlocks) revert SeedNotDrawn(epoch);
        seed = sha256(abi.encodePacked(uint64(SEED.length), SEED, epoch, seedMix[epoch], block.prevrandao));
        seeds[epoch] = seed;
        emit SeedFixed(epoch, seed);
    }

    // --------------------------------------------------------- assignment

    /// The assignment score of `monitor` for `nodeId` (`audit::score`).
    function score(bytes32 seed, uint64 epoch, uint256 nodeId, address monitor) public pure returns (bytes32) {
        return sha256(
            abi.encodePacked(uint64(ASSIGN.length), ASSIGN, seed, epoch, nodeId, uint256(uint160(monitor)))
        );
    }

    /// Fixes the node's cutoff for `epoch` (drawing the seed if due): the
    /// `PER_NODE`-th lowest score among the eligible monitors. Costs one
    /// score per monitor not released; reports then cost one score.
    function fixAssignment(uint64 epoch, uint256 nodeId) public returns (bytes32 cutoff) {
        cutoff = cutoffs[epoch][nodeId];
        if (cutoff != 0) return cutoff;
        bytes32 seed = seeds[epoch];
        if (seed == 0) seed = drawSeed(epoch);
        bytes32[PER_NODE] memory lowest;
        uint256 kept;
        uint256 n = monitorList.length;
        for (uint256 i = 0; i < n; i++) {
            address m = monitorList[i];
            if (uint256(uint160(m)) == nodeId || !eligible(m, epoch)) continue;
            kept = _keepLowest(lowest, kept, score(seed, epoch, nodeId, m));
        }
        cutoff = kept < PER_NODE ? bytes32(type(uint256).max) : lowest[PER_NODE - 1];
        cutoffs[epoch][nodeId] = cutoff;
    }

    /// Inserts `s` into the ascending `lowest[0..kept]`, keeping at most `PER_NODE`.
    function _keepLowest(bytes32[PER_NODE] memory lowest, uint256 kept, bytes32 s) internal pure returns (uint256) {
        if (kept == PER_NODE && s >= lowest[PER_NODE - 1]) return kept;
        uint256 j = kept < PER_NODE ? kept : PER_NODE - 1;
        while (j > 0 && lowest[j - 1] > s) {
            lowest[j] = lowest[j - 1];
            j--;
        }
        lowest[j] = s;
        return kept < PER_NODE ? kept + 1 : kept;
    }

    /// Whether `monitor` audits `nodeId` in `epoch` (the seed drawn).
    function isAssigned(uint64 epoch, uint256 nodeId, address monitor) public view returns (bool) {
        bytes32 cutoff = cutoffs[epoch][nodeId];
        bytes32 seed = seeds[epoch];
        if (seed == 0 || uint256(uint160(monitor)) == nodeId || !eligible(monitor, epoch)) return false;
        if (cutoff == 0) return _rank(seed, epoch, nodeId, monitor) < PER_NODE;
        return score(seed, epoch, nodeId, monitor) <= cutoff;
    }

    /// How many eligible monitors score below `monitor` (view only).
    function _rank(bytes32 seed, uint64 epoch, uint256 nodeId, address monitor) internal view returns (uint256 below) {
        bytes32 mine = score(seed, epoch, nodeId, monitor);
        uint256 n = monitorList.length;
        for (uint256 i = 0; i < n; i++) {
            address m = monitorList[i];
            if (uint256(uint160(m)) == nodeId || !eligible(m, epoch)) continue;
            if (score(seed, epoch, nodeId, m) < mine) below++;
        }
    }

    // ------------------------------------------------------------ reports

    /// An assigned monitor's measurement of `nodeId` in `epoch`, sent in
    /// that epoch or the next, once (`SubmitReport`; the sender signs).
    /// Checks in the embedded ledger's order: a monitor, no report yet,
    /// the window open, the node registered, the monitor assigned.
    function submitReport(uint64 epoch, uint256 nodeId, uint64 throughputKbps, uint32 rttMs) external {
        Monitor storage m = _monitor(msg.sender);
        uint256[] storage rs = reports[epoch][nodeId];
        for (uint256 i = 0; i < rs.length; i++) {
            if (address(uint160(rs[i] >> 96)) == msg.sender) revert ReportExists();
        }
        uint64 now_ = currentEpoch();
        if (epoch > now_ || epoch + 1 < now_) revert ReportNotOpen();
        (address operator,,,) = _ledger().auditedNode(nodeId);
        if (operator == address(0)) revert UnknownNode();
        _checkAssigned(epoch, nodeId);
        rs.push(uint256(uint160(msg.sender)) << 96 | uint256(throughputKbps) << 32 | rttMs);
        m.pending += 1;
        emit Reported(epoch, nodeId, msg.sender, throughputKbps, rttMs);
    }

    /// The reports of `epoch` on `nodeId`, in arrival order.
    function reportsOf(uint64 epoch, uint256 nodeId)
        external
        view
        returns (address[] memory monitor, uint64[] memory throughputKbps, uint32[] memory rttMs)
    {
        uint256[] storage rs = reports[epoch][nodeId];
        uint256 n = rs.length;
        (monitor, throughputKbps, rttMs) = (new address[](n), new uint64[](n), new uint32[](n));
        for (uint256 i = 0; i < n; i++) {
            (monitor[i], throughputKbps[i], rttMs[i]) = _unpack(rs[i]);
        }
    }

    // --------------------------------------------------------- challenges

    /// An assigned monitor challenges `nodeId` in the current `epoch`
    /// (`ChallengeRequest`; the sender signs), once per node and epoch.
    /// Checks in the embedded ledger's order: a monitor, no challenge yet,
    /// the current epoch, the node registered and active, the monitor
    /// assigned. The node's key must answer within one epoch.
    function challenge(uint64 epoch, uint256 nodeId) external {
        _monitor(msg.sender);
        Challenge storage c = challenges[epoch][nodeId][msg.sender];
        if (c.state != 0) revert ChallengeExists();
        uint64 now_ = currentEpoch();
        if (epoch != now_) revert ChallengeEpoch(now_);
        (address operator,,, uint64 retiredAt) = _ledger().auditedNode(nodeId);
        if (operator == address(0)) revert UnknownNode();
        if (retiredAt != 0) revert NodeRetired();
        _checkAssigned(epoch, nodeId);
        uint40 deadline = uint40(block.number + epochBlocks);
        uint256 root = ledger.currentRoot();
        (c.root, c.issuedAt, c.deadline, c.state) = (root, uint40(block.number), deadline, OPEN);
        openChallenges[nodeId] += 1;
        emit ChallengeIssued(epoch, nodeId, msg.sender, root, deadline);
    }

    /// The node key's answer to `monitor`'s challenge of `nodeId` in
    /// `epoch`: a proof that the key of `nodeId` signed
    /// `H(71, nodeId, monitor, epoch, root)`. Anyone may carry it; a second
    /// valid answer changes nothing; none is taken after the deadline.
    function answerChallenge(uint64 epoch, uint256 nodeId, address monitor, uint256[8] calldata proof) external {
        Challenge storage c = challenges[epoch][nodeId][monitor];
        if (c.state == 0) revert UnknownChallenge();
        uint256[4] memory input = [nodeId, uint256(uint160(monitor)), uint256(epoch), c.root];
        if (
            !answerVerifier.verifyProof(
                [proof[0], proof[1]], [[proof[2], proof[3]], [proof[4], proof[5]]], [proof[6], proof[7]], input
            )
        ) revert BadChallengeAnswer();
        if (c.state == ANSWERED) return;
        if (c.state == MISSED || block.number > c.deadline) revert ChallengeClosed();
        (c.state, c.answeredAt) = (ANSWERED, uint40(block.number));
        openChallenges[nodeId] -= 1;
        emit ChallengeAnswered(epoch, nodeId, monitor);
    }

    /// A challenge past its deadline unanswered is evidence: anyone may
    /// close it, which slashes `EVIDENCE_SLASH_PPM` of the node's locked
    /// stake, `REWARD_PPM` of it to the challenging monitor, the rest
    /// burnt (`slash_for_evidence`; the embedded ledger does this on the
    /// clock's advance).
    function slashMissed(uint64 epoch, uint256 nodeId, address monitor) external {
        Challenge storage c = challenges[epoch][nodeId][monitor];
        if (c.state == 0) revert UnknownChallenge();
        if (c.state != OPEN) revert ChallengeClosed();
        if (block.number <= c.deadline) revert ChallengeOpen(uint64(c.deadline));
        (, uint64 stake,,) = _ledger().auditedNode(nodeId);
        uint64 amount = uint64(_mulPpm(stake, EVIDENCE_SLASH_PPM));
        (c.state, c.slashed) = (MISSED, amount);
        openChallenges[nodeId] -= 1;
        emit ChallengeMissed(epoch, nodeId, monitor, amount);
        address[] memory rewarded = new address[](1);
        rewarded[0] = monitor;
        ledger.slash(nodeId, amount, rewarded, _mulPpm(amount, REWARD_PPM));
    }

    /// The sender audits `nodeId` in `epoch` (fixing the cutoff, drawing
    /// the seed if due), as `submitReport` checks it.
    function _checkAssigned(uint64 epoch, uint256 nodeId) internal {
        if (uint256(uint160(msg.sender)) == nodeId || !eligible(msg.sender, epoch)) revert NotAssigned();
        bytes32 cutoff = fixAssignment(epoch, nodeId);
        if (score(seeds[epoch], epoch, nodeId, msg.sender) > cutoff) revert NotAssigned();
    }

    // ----------------------------------------------------------- verdicts

    /// The verdict on `nodeId` for `epoch` (`audit::judge`), once its
    /// report window closed (from epoch + 2); anyone may call it.
    function judge(uint64 epoch, uint256 nodeId) external {
        if (currentEpoch() < epoch + 2) revert NotYetJudgeable(epoch + 2);
        if (judged[epoch][nodeId]) revert AlreadyJudged();
        judged[epoch][nodeId] = true;
        uint256[] storage rs = reports[epoch][nodeId];
        uint256 n = rs.length;
        address[] memory who = new address[](n);
        uint64[] memory kbps = new uint64[](n);
        uint32[] memory rtt = new uint32[](n);
        for (uint256 i = 0; i < n; i++) {
            (who[i], kbps[i], rtt[i]) = _unpack(rs[i]);
            monitors[who[i]].pending -= 1;
        }
        if (n < QUORUM) {
            emit Judged(epoch, nodeId, uint8(n), 0, 0, 0, 0);
            return;
        }
        _conclude(epoch, nodeId, who, kbps, rtt);
    }

    function _conclude(uint64 epoch, uint256 nodeId, address[] memory who, uint64[] memory kbps, uint32[] memory rtt)
        internal
    {
        uint64 medianKbps = uint64(_upperMedian(_widen(kbps)));
        uint32 medianRtt = uint32(_upperMedian(_widenRtt(rtt)));
        (, uint64 stake, uint32 capacity,) = _ledger().auditedNode(nodeId);
        uint32 delivered = _ratioPpm(medianKbps, uint256(capacity) * 1000);
        bool[] memory outlier = _outliers(kbps, medianKbps);
        uint64 slashed;
        if (delivered < DELIVERY_PPM) {
            uint256 share = (DELIVERY_PPM - delivered) * MAX_UNDERDELIVERY_SLASH_PPM / DELIVERY_PPM;
            slashed = uint64(_mulPpm(stake, share));
        }
        verdicts[nodeId] = Verdict(epoch, uint8(who.length), medianKbps, medianRtt, delivered, slashed);
        emit Judged(epoch, nodeId, uint8(who.length), medianKbps, medianRtt, delivered, slashed);
        for (uint256 i = 0; i < who.length; i++) {
            _recordOutlier(who[i], outlier[i]);
        }
        if (slashed != 0) _slashNode(nodeId, slashed, who, outlier);
    }

    /// `split`: a quarter of `amount` shared by the agreeing monitors.
    function _slashNode(uint256 nodeId, uint64 amount, address[] memory who, bool[] memory outlier) internal {
        uint256 agreeing;
        for (uint256 i = 0; i < who.length; i++) {
            if (!outlier[i]) agreeing++;
        }
        address[] memory rewarded = new address[](agreeing);
        uint256 k;
        for (uint256 i = 0; i < who.length; i++) {
            if (!outlier[i]) rewarded[k++] = who[i];
        }
        uint256 reward = _mulPpm(amount, REWARD_PPM);
        uint256 each = agreeing == 0 ? 0 : reward / agreeing;
        ledger.slash(nodeId, amount, rewarded, each);
    }

    /// `OutlierRecord::record`: the last `OUTLIER_WINDOW` counted reports;
    /// the `OUTLIERS_TO_SLASH`-th outlier among them burns
    /// `MONITOR_SLASH_PPM` of the stake and clears the record.
    function _recordOutlier(address who, bool outlier) internal {
        Monitor storage m = monitors[who];
        uint256 recent = ((uint256(m.recent) << 1) | (outlier ? 1 : 0)) & ((1 << OUTLIER_WINDOW) - 1);
        uint256 len = m.recentLen < OUTLIER_WINDOW ? m.recentLen + 1 : OUTLIER_WINDOW;
        uint256 count;
        for (uint256 b = recent; b != 0; b >>= 1) {
            count += b & 1;
        }
        if (count < OUTLIERS_TO_SLASH) {
            (m.recent, m.recentLen) = (uint16(recent), uint8(len));
            return;
        }
        uint64 amount = uint64(_mulPpm(m.stake, MONITOR_SLASH_PPM));
        (m.recent, m.recentLen, m.stake) = (0, 0, m.stake - amount);
        burnt += amount;
        emit MonitorSlashed(who, amount);
    }

    // ------------------------------------------------------------ helpers

    function _outliers(uint64[] memory kbps, uint64 median) internal pure returns (bool[] memory out) {
        uint256 band = uint256(median) * OUTLIER_PPM / PPM;
        out = new bool[](kbps.length);
        for (uint256 i = 0; i < kbps.length; i++) {
            uint256 d = kbps[i] > median ? kbps[i] - median : median - kbps[i];
            out[i] = d > band;
        }
    }

    /// The upper median (the higher middle value of an even count).
    function _upperMedian(uint256[] memory v) internal pure returns (uint256) {
        for (uint256 i = 1; i < v.length; i++) {
            uint256 x = v[i];
            uint256 j = i;
            while (j > 0 && v[j - 1] > x) {
                v[j] = v[j - 1];
                j--;
            }
            v[j] = x;
        }
        return v[v.length / 2];
    }

    function _widen(uint64[] memory a) internal pure returns (uint256[] memory v) {
        v = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            v[i] = a[i];
        }
    }

    function _widenRtt(uint32[] memory a) internal pure returns (uint256[] memory v) {
        v = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; i++) {
            v[i] = a[i];
        }
    }

    /// `⌊value·ppm/10^6⌋` as `audit::mul_ppm`.
    function _mulPpm(uint256 value, uint256 ppm) internal pure returns (uint256) {
        if (ppm > PPM) ppm = PPM;
        return value / PPM * ppm + value % PPM * ppm / PPM;
    }

    function _ratioPpm(uint256 part, uint256 whole) internal pure returns (uint32) {
        if (whole == 0) return uint32(PPM);
        uint256 r = part * PPM / whole;
        return uint32(r < PPM ? r : PPM);
    }

    function _unpack(uint256 r) internal pure returns (address, uint64, uint32) {
        return (address(uint160(r >> 96)), uint64(r >> 32), uint32(r));
    }

    function _monitor(address who) internal view returns (Monitor storage m) {
        m = monitors[who];
        if (!m.registered) revert NotAMonitor();
    }

    function _ledger() internal view returns (IAuditedLedger l) {
        l = ledger;
        if (address(l) == address(0)) revert NotBound();
    }

    function _pull(uint256 value) internal {
        if (!token.transferFrom(msg.sender, address(this), value)) revert TokenTransferFailed();
    }
}
