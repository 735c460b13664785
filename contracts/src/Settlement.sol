// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {ITaskBoard} from "./interfaces/ITaskBoard.sol";
import {IDrandBeacon} from "./interfaces/IDrandBeacon.sol";

/// @title Settlement
/// @notice Records miners' joins and rollout commitments, validators' commit-reveal verdicts, and settles a
/// task by stake-weighted majority: passing miners are paid pro rata to verified score, failing miners are
/// slashed, validators who agreed with every outcome share the fee; everything is paid by pull
/// (PROTOCOL.md 2.5). Finalize gas is O(miners x revealing validators), independent of rollouts.
contract Settlement is ISettlement, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint8 internal constant MINER = 0;
    uint8 internal constant VALIDATOR = 1;
    uint256 internal constant BPS = 10_000;
    /// @notice Scores are fixed point with 6 decimals; 1.0 is the largest.
    uint64 public constant MAX_SCORE = 1_000_000;
    /// @notice Caps that keep finalize (O(miners x validators)) well inside a 30M-gas block.
    uint256 public constant MAX_MINERS_PER_TASK = 128;
    uint256 public constant MAX_VALIDATORS_PER_TASK = 32;

    uint8 internal constant VOTE_NONE = 0;
    uint8 internal constant VOTE_PASS = 1;
    uint8 internal constant VOTE_FAIL = 2;

    IERC20 internal immutable _token;
    IStakeManager public immutable stakes;
    ITaskBoard public immutable board;
    IDrandBeacon public immutable beacon;
    uint16 public immutable validatorFeeBps;
    uint16 public immutable slashBps;

    mapping(address who => uint256) public claimable;
    mapping(uint256 taskId => TaskSettlement) internal _settlements;
    mapping(uint256 taskId => address[]) internal _miners;
    mapping(uint256 taskId => address[]) internal _validators;
    mapping(uint256 taskId => mapping(address miner => MinerState)) internal _minerStates;
    mapping(uint256 taskId => mapping(address validator => ValidatorState)) internal _validatorStates;
    /// @dev Sum over passing verdicts of validator weight x score, for the stake-weighted mean score.
    mapping(uint256 taskId => mapping(address miner => uint256)) internal _passScoreWeight;
    mapping(uint256 taskId => mapping(address validator => mapping(address miner => uint8))) internal _votes;

    /// @param token_ The ERC20 of stake and rewards; must be the StakeManager's and the TaskBoard's.
    /// @param stakes_ The StakeManager (this contract must be its settlement).
    /// @param board_ The TaskBoard (this contract must be its settlement).
    /// @param beacon_ The DrandBeacon; must be the TaskBoard's.
    /// @param params Validator fee and slash fraction in basis points.
    constructor(
        IERC20 token_,
        IStakeManager stakes_,
        ITaskBoard board_,
        IDrandBeacon beacon_,
        Params memory params
    ) {
        if (
            address(token_) == address(0) || address(stakes_) == address(0) || address(board_) == address(0)
                || address(beacon_) == address(0)
        ) revert ZeroAddress();
        if (params.validatorFeeBps > BPS) revert BpsTooHigh(params.validatorFeeBps);
        if (params.slashBps > BPS) revert BpsTooHigh(params.slashBps);
        if (
            stakes_.token() != address(token_) || board_.token() != address(token_)
                || board_.beacon() != address(beacon_)
        ) revert MismatchedWiring();
        // A miner's stake must not be able to leave while a task it joined is still open.
        if (stakes_.cooldown() <= board_.maxTaskDuration()) {
            revert CooldownTooShort(stakes_.cooldown(), board_.maxTaskDuration());
        }
        _token = token_;
        stakes = stakes_;
        board = board_;
        beacon = beacon_;
        validatorFeeBps = params.validatorFeeBps;
        slashBps = params.slashBps;
    }

    // ------------------------------------------------------------------ miners

    /// @inheritdoc ISettlement
    function join(uint256 taskId, bytes32 adapterHash) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.postedAt, t.params.joinDeadline, true);
        if (!stakes.isStaked(msg.sender, MINER)) revert NotStaked(msg.sender, MINER);
        MinerState storage m = _minerStates[taskId][msg.sender];
        if (m.joined) revert AlreadyJoined(taskId, msg.sender);
        address[] storage miners = _miners[taskId];
        if (miners.length >= MAX_MINERS_PER_TASK) revert TaskFull(taskId, MAX_MINERS_PER_TASK);

        m.joined = true;
        m.adapterHash = adapterHash;
        miners.push(msg.sender);
        _settlements[taskId].joined += 1;
        emit Joined(taskId, msg.sender, adapterHash);
    }

    /// @inheritdoc ISettlement
    function commit(uint256 taskId, bytes32 root, uint32 count) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.postedAt, t.params.commitDeadline, true);
        MinerState storage m = _minerStates[taskId][msg.sender];
        if (!m.joined) revert NotJoined(taskId, msg.sender);
        if (m.committed) revert AlreadyCommitted(taskId, msg.sender);
        // P * G fits in uint32: TaskBoard checks it at post.
        uint32 expected = t.params.numProblems * t.params.rolloutsPerProblem;
        if (count != expected) revert WrongCount(count, expected);
        if (root == bytes32(0)) revert ZeroRoot();

        m.committed = true;
        m.root = root;
        m.count = count;
        _settlements[taskId].committed += 1;
        emit Committed(taskId, msg.sender, root, count);
    }

    // -------------------------------------------------------------- validators

    /// @inheritdoc ISettlement
    function commitVerdict(uint256 taskId, bytes32 verdictHash_) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.params.commitDeadline, t.params.verdictDeadline, false);
        if (!stakes.isStaked(msg.sender, VALIDATOR)) revert NotStaked(msg.sender, VALIDATOR);
        if (verdictHash_ == bytes32(0)) revert ZeroVerdictHash();
        ValidatorState storage v = _validatorStates[taskId][msg.sender];
        if (v.commitHash != bytes32(0)) revert VerdictAlreadyCommitted(taskId, msg.sender);
        TaskSettlement storage ts = _settlements[taskId];
        if (ts.verdictCommits >= MAX_VALIDATORS_PER_TASK) {
            revert TooManyValidators(taskId, MAX_VALIDATORS_PER_TASK);
        }

        v.commitHash = verdictHash_;
        // The weight is locked here, before any reveal is public; see revealVerdict.
        v.weight = stakes.activeStake(msg.sender, VALIDATOR);
        ts.verdictCommits += 1;
        emit VerdictCommitted(taskId, msg.sender, verdictHash_);
    }

    /// @inheritdoc ISettlement
    function revealVerdict(uint256 taskId, Verdict[] calldata verdicts, bytes32 salt) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.params.verdictDeadline, t.params.verifyDeadline, false);
        ValidatorState storage v = _validatorStates[taskId][msg.sender];
        if (v.commitHash == bytes32(0)) revert NoVerdictCommitted(taskId, msg.sender);
        if (v.revealed) revert AlreadyRevealed(taskId, msg.sender);
        bytes32 got = verdictHash(taskId, msg.sender, verdicts, salt);
        if (got != v.commitHash) revert VerdictMismatch(v.commitHash, got);
        // Weight = min(stake at commit, stake at reveal): a validator that sees the first reveals cannot top
        // up its stake to swing a miner's majority, and one that unstaked in between counts for less.
        if (!stakes.isStaked(msg.sender, VALIDATOR)) revert NotStaked(msg.sender, VALIDATOR);
        uint256 active = stakes.activeStake(msg.sender, VALIDATOR);
        uint256 weight = active < v.weight ? active : v.weight;

        v.revealed = true;
        v.weight = weight;
        v.verdicts = uint32(verdicts.length);
        _validators[taskId].push(msg.sender);
        _settlements[taskId].revealed += 1;
        for (uint256 i = 0; i < verdicts.length; ++i) {
            _recordVerdict(taskId, verdicts[i], weight);
        }
    }

    // ---------------------------------------------------------------- finalize

    /// @inheritdoc ISettlement
    function finalize(uint256 taskId) external nonReentrant {
        // Checks.
        ITaskBoard.Task memory t = board.getTask(taskId);
        TaskSettlement storage ts = _settlements[taskId];
        if (ts.finalized) revert AlreadyFinalized(taskId);
        if (t.status != ITaskBoard.TaskStatus.OPEN) revert TaskNotOpen(taskId);
        if (block.timestamp <= t.params.verifyDeadline) {
            revert OutsideWindow(uint64(block.timestamp), t.params.verifyDeadline, type(uint64).max);
        }
        if (beacon.randomness(t.challengeRound) == bytes32(0)) {
            revert ChallengeBeaconMissing(t.challengeRound);
        }

        // Effects: every outcome, slash amount and credit is decided before any token moves.
        uint256 escrow = board.escrowOf(taskId);
        uint256 validatorPool = escrow * validatorFeeBps / BPS;
        uint256 minerPool = escrow - validatorPool;
        (uint256 scoreSum, uint256 slashedTotal) = _decideMiners(taskId);
        uint256 paidMiners = _payMiners(taskId, minerPool, scoreSum);
        validatorPool += slashedTotal;
        uint256 paidValidators = _payValidators(taskId, validatorPool);
        uint256 refund = escrow + slashedTotal - paidMiners - paidValidators;

        ts.finalized = true;
        ts.escrow = escrow;
        ts.minerPool = minerPool;
        ts.validatorPool = validatorPool;
        ts.slashed = slashedTotal;
        ts.refund = refund;
        _credit(t.proposer, taskId, refund);
        emit TaskFinalized(taskId, t.proposer, minerPool, validatorPool, refund);

        // Interactions: pull the escrow and the slashed stake in; both callees are fixed at deploy.
        uint256 released = board.releaseEscrow(taskId);
        assert(released == escrow);
        _collectSlashes(taskId);
    }

    /// @inheritdoc ISettlement
    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        claimable[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc ISettlement
    function verifyLeaf(uint256 taskId, address miner, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool)
    {
        MinerState storage m = _minerStates[taskId][miner];
        if (!m.committed) return false;
        return MerkleProof.verifyCalldata(proof, m.root, leaf);
    }

    /// @inheritdoc ISettlement
    function verdictHash(uint256 taskId, address validator, Verdict[] calldata verdicts, bytes32 salt)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(taskId, validator, verdicts, salt));
    }

    /// @inheritdoc ISettlement
    function minerState(uint256 taskId, address miner) external view returns (MinerState memory) {
        return _minerStates[taskId][miner];
    }

    /// @inheritdoc ISettlement
    function validatorState(uint256 taskId, address validator) external view returns (ValidatorState memory) {
        return _validatorStates[taskId][validator];
    }

    /// @inheritdoc ISettlement
    function getMiners(uint256 taskId) external view returns (address[] memory) {
        return _miners[taskId];
    }

    /// @inheritdoc ISettlement
    function getValidators(uint256 taskId) external view returns (address[] memory) {
        return _validators[taskId];
    }

    /// @inheritdoc ISettlement
    function taskSettlement(uint256 taskId) external view returns (TaskSettlement memory) {
        return _settlements[taskId];
    }

    /// @inheritdoc ISettlement
    function joinedCount(uint256 taskId) external view returns (uint256) {
        return _settlements[taskId].joined;
    }

    /// @inheritdoc ISettlement
    function committedCount(uint256 taskId) external view returns (uint256) {
        return _settlements[taskId].committed;
    }

    /// @notice The ERC20 of stake and rewards.
    function token() external view returns (address) {
        return address(_token);
    }

    // ---------------------------------------------------------------- internal

    function _openTask(uint256 taskId) internal view returns (ITaskBoard.Task memory t) {
        t = board.getTask(taskId);
        if (t.status != ITaskBoard.TaskStatus.OPEN) revert TaskNotOpen(taskId);
    }

    /// @dev Windows are (start, end]; a join or commit window starts at the post time, inclusive.
    function _checkWindow(uint64 start, uint64 end, bool startInclusive) internal view {
        uint64 nowTime = uint64(block.timestamp);
        bool afterStart = startInclusive ? nowTime >= start : nowTime > start;
        if (!afterStart || nowTime > end) revert OutsideWindow(nowTime, start, end);
    }

    function _recordVerdict(uint256 taskId, Verdict calldata verdict, uint256 weight) internal {
        address miner = verdict.miner;
        if (miner == msg.sender) revert SelfVerdict(msg.sender);
        MinerState storage m = _minerStates[taskId][miner];
        if (!m.committed) revert MinerNotCommitted(miner);
        if (verdict.score > MAX_SCORE) revert ScoreOutOfRange(verdict.score);
        mapping(address => uint8) storage votes = _votes[taskId][msg.sender];
        if (votes[miner] != VOTE_NONE) revert DuplicateVerdict(miner);

        if (verdict.pass) {
            votes[miner] = VOTE_PASS;
            m.passStake += weight;
            _passScoreWeight[taskId][miner] += weight * verdict.score;
        } else {
            votes[miner] = VOTE_FAIL;
            m.failStake += weight;
        }
        emit VerdictRevealed(taskId, msg.sender, miner, verdict.pass, verdict.score, verdict.audited, weight);
    }

    /// @dev Sets every joined miner's outcome; returns the sum of passed scores and of slash amounts.
    function _decideMiners(uint256 taskId) internal returns (uint256 scoreSum, uint256 slashedTotal) {
        address[] storage miners = _miners[taskId];
        for (uint256 i = 0; i < miners.length; ++i) {
            address miner = miners[i];
            MinerState storage m = _minerStates[taskId][miner];
            if (!m.committed) {
                m.outcome = Outcome.NO_COMMIT;
            } else if (m.passStake == 0 && m.failStake == 0) {
                m.outcome = Outcome.UNAUDITED;
            } else if (m.passStake > m.failStake) {
                m.outcome = Outcome.PASSED;
                // A weighted mean of scores <= MAX_SCORE is <= MAX_SCORE, so it fits in uint64.
                uint64 score = uint64(_passScoreWeight[taskId][miner] / m.passStake);
                m.score = score;
                scoreSum += score;
            } else {
                m.outcome = Outcome.FAILED;
                uint256 stake = stakes.activeStake(miner, MINER) + stakes.coolingStake(miner, MINER);
                uint256 amount = stake * slashBps / BPS;
                m.slashed = amount;
                slashedTotal += amount;
            }
        }
    }

    /// @dev Credits passed miners minerPool x score / scoreSum; emits the outcome of every miner.
    function _payMiners(uint256 taskId, uint256 minerPool, uint256 scoreSum) internal returns (uint256 paid) {
        address[] storage miners = _miners[taskId];
        for (uint256 i = 0; i < miners.length; ++i) {
            address miner = miners[i];
            MinerState storage m = _minerStates[taskId][miner];
            if (m.outcome == Outcome.PASSED && scoreSum != 0) {
                uint256 amount = minerPool * m.score / scoreSum;
                m.paid = amount;
                paid += amount;
                _credit(miner, taskId, amount);
            }
            emit MinerSettled(taskId, miner, m.outcome, m.score, m.paid, m.slashed);
        }
    }

    /// @dev A validator agrees when every verdict it revealed matches the miner's outcome. Agreeing
    /// validators split the pool pro rata to their number of verdicts, so an empty reveal earns nothing.
    function _payValidators(uint256 taskId, uint256 pool) internal returns (uint256 paid) {
        address[] storage validators = _validators[taskId];
        address[] storage miners = _miners[taskId];
        uint256 agreedVerdicts;
        for (uint256 j = 0; j < validators.length; ++j) {
            ValidatorState storage v = _validatorStates[taskId][validators[j]];
            bool agreed = _agrees(taskId, validators[j], miners);
            v.agreed = agreed;
            if (agreed) agreedVerdicts += v.verdicts;
        }
        for (uint256 j = 0; j < validators.length; ++j) {
            address validator = validators[j];
            ValidatorState storage v = _validatorStates[taskId][validator];
            if (v.agreed && agreedVerdicts != 0) {
                uint256 amount = pool * v.verdicts / agreedVerdicts;
                v.paid = amount;
                paid += amount;
                _credit(validator, taskId, amount);
            }
            emit ValidatorSettled(taskId, validator, v.agreed, v.paid);
        }
    }

    function _agrees(uint256 taskId, address validator, address[] storage miners)
        internal
        view
        returns (bool)
    {
        mapping(address => uint8) storage votes = _votes[taskId][validator];
        for (uint256 i = 0; i < miners.length; ++i) {
            MinerState storage m = _minerStates[taskId][miners[i]];
            if (!m.committed) continue;
            uint8 vote = votes[miners[i]];
            if (vote == VOTE_PASS && m.outcome != Outcome.PASSED) return false;
            if (vote == VOTE_FAIL && m.outcome != Outcome.FAILED) return false;
        }
        return true;
    }

    function _collectSlashes(uint256 taskId) internal {
        address[] storage miners = _miners[taskId];
        for (uint256 i = 0; i < miners.length; ++i) {
            MinerState storage m = _minerStates[taskId][miners[i]];
            if (m.slashed != 0) {
                uint256 got = stakes.slash(miners[i], MINER, m.slashed, address(this));
                // The amount is a fraction of the stake read in this transaction, so it is always available.
                assert(got == m.slashed);
            }
        }
    }

    function _credit(address who, uint256 taskId, uint256 amount) internal {
        if (amount == 0) return;
        claimable[who] += amount;
        emit Credited(who, taskId, amount);
    }
}
