// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ITaskBoard} from "./interfaces/ITaskBoard.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {IDrandBeacon} from "./interfaces/IDrandBeacon.sol";

/// @title TaskBoard
/// @notice Proposers post tasks here and escrow their rewards; the contract fixes the drand seed and
/// challenge rounds from the deadlines so every node derives the same problems and audits (PROTOCOL.md 2.3).
contract TaskBoard is ITaskBoard, Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    IERC20 internal immutable _token;
    IDrandBeacon internal immutable _beacon;
    uint64 public immutable maxTaskDuration;
    uint64 public immutable minAuditTime;
    /// @notice Most miners one task may allow; bounds finalize (O(miners)) and the bitmap of a reveal.
    uint16 public constant MAX_MINERS = 128;
    /// @notice Most new tokens per completion: the most any node accepts from the network (verifier
    /// MAX_SEQUENCE_TOKENS), so the chain takes no task that nobody can run.
    uint32 public constant MAX_TOKENS = 16_384;
    uint32 internal constant NANO = 1e9;
    /// @notice Seconds between a deadline and the earliest time its beacon round may be published: one 12 s
    /// block slot. A block stamped at a deadline can be sealed up to a slot later (builders' timing games), so a
    /// round published within that slot could be known to whoever seals the deadline's block (RedTeam H6,
    /// H11, H12). The seed round is the first round after joinDeadline + BEACON_LAG, the challenge round the
    /// first after commitDeadline + BEACON_LAG.
    uint64 public constant BEACON_LAG = 12;
    /// @notice Smallest reveal window (verifyDeadline - verdictDeadline): one block slot, so a reveal that misses
    /// the first block of the window still lands (RedTeam H7).
    uint64 public constant MIN_REVEAL_WINDOW = 12;
    /// @notice Logprob tolerance bounds (PROTOCOL.md 9.1): above the worst honest fp32 deviation measured
    /// (6.84e-5 nats), at most half the forced error's 0.01-nat shift, so a forced error is always caught
    /// (RedTeam H8).
    uint32 public constant MIN_LOGPROB_TOL_NANO = 70_000;
    uint32 public constant MAX_LOGPROB_TOL_NANO = 5_000_000;
    /// @notice Smallest CDF edge slack: twice the worst honest edge movement measured (2.7e-6 in 1,000 honest
    /// rollouts, PROTOCOL.md 9.2), so a proposer cannot post a slack that fails honest miners (RedTeam H8).
    uint32 public constant MIN_EDGE_SLACK_NANO = 5400;
    address public settlement;

    uint256 public taskCount;
    mapping(uint256 taskId => Task) internal _tasks;
    mapping(uint256 taskId => uint256) public escrowOf;

    modifier onlySettlement() {
        if (msg.sender != settlement || settlement == address(0)) revert NotSettlement(msg.sender);
        _;
    }

    /// @param token_ The ERC20 of rewards.
    /// @param beacon_ The DrandBeacon whose genesis and period define round numbers.
    /// @param maxTaskDuration_ Upper bound on verifyDeadline - post time; the stake cooldown must exceed it.
    /// @param minAuditTime_ Seconds the verdict window must stay open after the challenge round's time.
    /// @param owner_ The deployer, who sets the Settlement address once.
    constructor(
        IERC20 token_,
        IDrandBeacon beacon_,
        uint64 maxTaskDuration_,
        uint64 minAuditTime_,
        address owner_
    ) Ownable(owner_) {
        if (address(token_) == address(0) || address(beacon_) == address(0)) {
            revert ZeroAddress();
        }
        if (maxTaskDuration_ == 0) revert ZeroDuration();
        _token = token_;
        _beacon = beacon_;
        maxTaskDuration = maxTaskDuration_;
        minAuditTime = minAuditTime_;
    }

    /// @notice Sets the Settlement contract (the only one that may release escrow). Owner only, once.
    function setSettlement(address settlement_) external onlyOwner {
        if (settlement != address(0)) revert SettlementAlreadySet(settlement);
        if (settlement_ == address(0)) revert ZeroAddress();
        settlement = settlement_;
        emit SettlementSet(settlement_);
    }

    /// @inheritdoc ITaskBoard
    function postTask(TaskParams calldata p) external nonReentrant returns (uint256 taskId) {
        if (settlement == address(0)) revert SettlementNotSet();
        _checkParams(p);
        uint64 seedRound = roundAt(p.joinDeadline + BEACON_LAG) + 1;
        uint64 challengeRound = roundAt(p.commitDeadline + BEACON_LAG) + 1;

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.params = p;
        t.proposer = msg.sender;
        t.postedAt = uint64(block.timestamp);
        t.seedRound = seedRound;
        t.challengeRound = challengeRound;
        t.status = TaskStatus.OPEN;
        escrowOf[taskId] = p.reward;
        emit TaskPosted(taskId, msg.sender, p.envId, p.reward, seedRound, challengeRound);

        _token.safeTransferFrom(msg.sender, address(this), p.reward);
    }

    /// @inheritdoc ITaskBoard
    function cancelTask(uint256 taskId) external nonReentrant {
        Task storage t = _openTask(taskId);
        if (msg.sender != t.proposer) revert NotProposer(msg.sender, t.proposer);
        uint256 joined = ISettlement(settlement).joinedCount(taskId);
        // Joined miners locked stake for this task; finalize (which releases the locks) settles it instead.
        if (joined != 0) revert TaskHasJoins(joined, t.params.commitDeadline);

        uint256 refund = escrowOf[taskId];
        t.status = TaskStatus.CANCELLED;
        escrowOf[taskId] = 0;
        emit TaskCancelled(taskId, t.proposer, refund);
        _token.safeTransfer(t.proposer, refund);
    }

    /// @inheritdoc ITaskBoard
    function releaseEscrow(uint256 taskId) external onlySettlement nonReentrant returns (uint256 amount) {
        Task storage t = _openTask(taskId);
        amount = escrowOf[taskId];
        t.status = TaskStatus.FINALIZED;
        escrowOf[taskId] = 0;
        emit EscrowReleased(taskId, amount);
        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ITaskBoard
    function getTask(uint256 taskId) external view returns (Task memory) {
        if (_tasks[taskId].status == TaskStatus.NONE) revert UnknownTask(taskId);
        return _tasks[taskId];
    }

    /// @inheritdoc ITaskBoard
    function taskStatus(uint256 taskId) external view returns (TaskStatus) {
        return _tasks[taskId].status;
    }

    /// @inheritdoc ITaskBoard
    function roundAt(uint64 time) public view returns (uint64) {
        uint64 genesis = _beacon.genesis();
        if (time < genesis) revert BeforeBeaconGenesis(time, genesis);
        return (time - genesis) / _beacon.period() + 1;
    }

    /// @inheritdoc ITaskBoard
    function roundTime(uint64 round) public view returns (uint64) {
        return _beacon.genesis() + (round - 1) * _beacon.period();
    }

    /// @inheritdoc ITaskBoard
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ITaskBoard
    function beacon() external view returns (address) {
        return address(_beacon);
    }

    function _checkParams(TaskParams calldata p) internal view {
        if (p.numProblems == 0 || p.rolloutsPerProblem == 0 || p.maxTokens == 0 || p.maxTokens > MAX_TOKENS) {
            revert InvalidTaskSize(p.numProblems, p.rolloutsPerProblem, p.maxTokens);
        }
        // Settlement compares the committed count (uint32) with P * G, so the product must fit.
        if (uint256(p.numProblems) * p.rolloutsPerProblem > type(uint32).max) {
            revert InvalidTaskSize(p.numProblems, p.rolloutsPerProblem, p.maxTokens);
        }
        if (p.temperatureMilli == 0) revert ZeroTemperature();
        if (p.reward == 0) revert ZeroReward();
        if (
            p.joinDeadline >= p.commitDeadline || p.commitDeadline >= p.verdictDeadline
                || p.verdictDeadline >= p.verifyDeadline
        ) {
            revert DeadlinesNotIncreasing(
                p.joinDeadline, p.commitDeadline, p.verdictDeadline, p.verifyDeadline
            );
        }
        if (p.joinDeadline <= block.timestamp) {
            revert JoinDeadlineNotInFuture(p.joinDeadline, uint64(block.timestamp));
        }
        if (p.verifyDeadline - block.timestamp > maxTaskDuration) {
            revert TaskTooLong(p.verifyDeadline - block.timestamp, maxTaskDuration);
        }
        if (p.maxMiners == 0 || p.maxMiners > MAX_MINERS) revert InvalidMaxMiners(p.maxMiners, MAX_MINERS);
        if (
            p.auditRollouts == 0 || p.auditRollouts > p.numProblems * p.rolloutsPerProblem
                || p.auditPositions > p.maxTokens || p.logprobTolNano < MIN_LOGPROB_TOL_NANO
                || p.logprobTolNano > MAX_LOGPROB_TOL_NANO || p.edgeSlackNano < MIN_EDGE_SLACK_NANO
                || p.edgeSlackNano >= NANO || p.dtype > 1
        ) {
            revert InvalidAuditParams(
                p.auditRollouts, p.auditPositions, p.logprobTolNano, p.edgeSlackNano, p.dtype
            );
        }
        // The chain cannot check the hash against a tokenizer (it knows no models), only that the task names one.
        if (p.tokenizerHash == bytes32(0)) revert ZeroTokenizerHash();
        // The committee learns what to audit only when the challenge round is out; the verdict window must
        // leave it minAuditTime after that, whatever a node's settings say.
        uint64 earliest = roundTime(roundAt(p.commitDeadline + BEACON_LAG) + 1) + minAuditTime;
        if (p.verdictDeadline < earliest) revert AuditWindowTooShort(p.verdictDeadline, earliest);
        if (p.verifyDeadline - p.verdictDeadline < MIN_REVEAL_WINDOW) {
            revert RevealWindowTooShort(p.verifyDeadline - p.verdictDeadline, MIN_REVEAL_WINDOW);
        }
    }

    function _openTask(uint256 taskId) internal view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.status == TaskStatus.NONE) revert UnknownTask(taskId);
        if (t.status != TaskStatus.OPEN) revert TaskNotOpen(taskId, t.status);
    }
}
