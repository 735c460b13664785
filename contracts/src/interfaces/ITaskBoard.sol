// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ITaskBoard
/// @notice Task posting with escrowed rewards and timestamp-derived drand rounds (PROTOCOL.md 2.3).
interface ITaskBoard {
    /// @notice What a proposer fixes when posting a task. Deadlines are absolute unix seconds.
    struct TaskParams {
        bytes32 envId; // keccak256 of the environment name, e.g. "basic_arithmetic"
        uint32 difficulty;
        uint32 numProblems; // P
        uint32 rolloutsPerProblem; // G
        uint32 maxTokens;
        uint32 temperatureMilli; // T * 1000
        bytes32 baseModelHash;
        uint256 reward;
        uint64 joinDeadline;
        uint64 commitDeadline;
        uint64 verdictDeadline; // end of verdict commits
        uint64 verifyDeadline; // end of verdict reveals
    }

    /// @notice NONE = unknown task id, OPEN = escrow held, CANCELLED = refunded, FINALIZED = settled.
    enum TaskStatus {
        NONE,
        OPEN,
        CANCELLED,
        FINALIZED
    }

    /// @notice A posted task as stored.
    struct Task {
        TaskParams params;
        address proposer;
        uint64 postedAt;
        uint64 seedRound;
        uint64 challengeRound;
        TaskStatus status;
    }

    /// @notice No task has id `taskId`.
    error UnknownTask(uint256 taskId);
    /// @notice Task `taskId` is in `status` but the call needs it OPEN.
    error TaskNotOpen(uint256 taskId, TaskStatus status);
    /// @notice Deadlines must be strictly increasing: join < commit < verdict < verify.
    error DeadlinesNotIncreasing(
        uint64 joinDeadline, uint64 commitDeadline, uint64 verdictDeadline, uint64 verifyDeadline
    );
    /// @notice The join deadline `joinDeadline` is not after the current time `nowTime`.
    error JoinDeadlineNotInFuture(uint64 joinDeadline, uint64 nowTime);
    /// @notice The task would stay open `duration` seconds, more than `maxDuration`.
    error TaskTooLong(uint256 duration, uint256 maxDuration);
    /// @notice P, G and maxTokens must be positive and P * G must fit in uint32.
    error InvalidTaskSize(uint32 numProblems, uint32 rolloutsPerProblem, uint32 maxTokens);
    /// @notice The temperature must be positive (the verifiable sampler divides by it).
    error ZeroTemperature();
    /// @notice The reward must be positive.
    error ZeroReward();
    /// @notice `time` lies before the beacon genesis `genesis`, so it has no drand round.
    error BeforeBeaconGenesis(uint64 time, uint64 genesis);
    /// @notice Only the proposer `proposer` may do this, not `caller`.
    error NotProposer(address caller, address proposer);
    /// @notice `committed` miners committed to the task, so it cannot be cancelled.
    error TaskHasCommits(uint256 committed);
    /// @notice `joined` miners joined and the commit deadline `commitDeadline` has not passed yet.
    error TaskHasJoins(uint256 joined, uint64 commitDeadline);
    /// @notice Only the Settlement contract may call this; `caller` is not it.
    error NotSettlement(address caller);
    /// @notice The Settlement address can be set once only; it is `current`.
    error SettlementAlreadySet(address current);
    /// @notice The Settlement address is not set yet.
    error SettlementNotSet();
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice The maximum task duration must be positive.
    error ZeroDuration();

    /// @notice Task `taskId` was posted by `proposer`, escrowing `reward`; the drand rounds are fixed.
    event TaskPosted(
        uint256 indexed taskId,
        address indexed proposer,
        bytes32 indexed envId,
        uint256 reward,
        uint64 seedRound,
        uint64 challengeRound
    );
    /// @notice Task `taskId` was cancelled and `refund` returned to its proposer.
    event TaskCancelled(uint256 indexed taskId, address indexed proposer, uint256 refund);
    /// @notice The escrow `amount` of task `taskId` moved to Settlement, which finalized it.
    event EscrowReleased(uint256 indexed taskId, uint256 amount);
    /// @notice The Settlement contract was set to `settlement`.
    event SettlementSet(address indexed settlement);

    /// @notice Posts a task and escrows `p.reward` from the caller (approve first).
    /// @return taskId The new task id (ids start at 1).
    function postTask(TaskParams calldata p) external returns (uint256 taskId);

    /// @notice Cancels an open task nobody committed to (nobody joined, or the commit deadline passed)
    /// and refunds the escrow to the proposer. Proposer only.
    function cancelTask(uint256 taskId) external;

    /// @notice Marks the task FINALIZED and sends its escrow to Settlement. Settlement only, once.
    /// @return amount The escrow released.
    function releaseEscrow(uint256 taskId) external returns (uint256 amount);

    /// @notice The full stored task; reverts with UnknownTask for an id never posted.
    function getTask(uint256 taskId) external view returns (Task memory);

    /// @notice Status of `taskId` (NONE for unknown ids).
    function taskStatus(uint256 taskId) external view returns (TaskStatus);

    /// @notice Number of tasks posted; ids run from 1 to taskCount.
    function taskCount() external view returns (uint256);

    /// @notice Escrow currently held for `taskId`.
    function escrowOf(uint256 taskId) external view returns (uint256);

    /// @notice The drand round whose beacon is produced at or before `time`:
    /// (time - genesis) / period + 1.
    function roundAt(uint64 time) external view returns (uint64);

    /// @notice The ERC20 token of rewards.
    function token() external view returns (address);

    /// @notice The drand beacon whose genesis and period define the rounds.
    function beacon() external view returns (address);

    /// @notice Upper bound on verifyDeadline - post time.
    function maxTaskDuration() external view returns (uint64);

    /// @notice The Settlement contract.
    function settlement() external view returns (address);
}
