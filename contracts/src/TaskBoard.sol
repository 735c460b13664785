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
    /// @param owner_ The deployer, who sets the Settlement address once.
    constructor(IERC20 token_, IDrandBeacon beacon_, uint64 maxTaskDuration_, address owner_)
        Ownable(owner_)
    {
        if (address(token_) == address(0) || address(beacon_) == address(0)) {
            revert ZeroAddress();
        }
        if (maxTaskDuration_ == 0) revert ZeroDuration();
        _token = token_;
        _beacon = beacon_;
        maxTaskDuration = maxTaskDuration_;
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
        uint64 seedRound = roundAt(p.joinDeadline) + 1;
        uint64 challengeRound = roundAt(p.commitDeadline) + 1;

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
        ISettlement s = ISettlement(settlement);
        uint256 committed = s.committedCount(taskId);
        if (committed != 0) revert TaskHasCommits(committed);
        uint256 joined = s.joinedCount(taskId);
        // Joined miners may be generating right now; only once their commit window closed empty is the
        // task known to be abandoned.
        if (joined != 0 && block.timestamp <= t.params.commitDeadline) {
            revert TaskHasJoins(joined, t.params.commitDeadline);
        }

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
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ITaskBoard
    function beacon() external view returns (address) {
        return address(_beacon);
    }

    function _checkParams(TaskParams calldata p) internal view {
        if (p.numProblems == 0 || p.rolloutsPerProblem == 0 || p.maxTokens == 0) {
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
    }

    function _openTask(uint256 taskId) internal view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.status == TaskStatus.NONE) revert UnknownTask(taskId);
        if (t.status != TaskStatus.OPEN) revert TaskNotOpen(taskId, t.status);
    }
}
