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
        uint16 maxMiners; // 1..128; the per-miner payment cap is minerPool / maxMiners
        uint32 auditRollouts; // m: rollouts each committee member audits per miner, 1..P*G
        uint32 auditPositions; // k: token positions checked per audited rollout, 0 = every position
        uint64 logprobTolNano; // |delta logprob| tolerance in 1e-9 nats, MIN_LOGPROB_TOL_NANO..MAX_LOGPROB_TOL_NANO
        uint64 edgeSlackNano; // inverse-CDF interval slack in 1e-9, MIN_EDGE_SLACK_NANO..1e9 - 1
        uint8 dtype; // 0 = fp32, 1 = bf16
        bytes32 tokenizerHash; // the base model tokenizer's hash (PROTOCOL.md 5), never zero
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
    /// @notice P and G must be positive, maxTokens in 1..MAX_TOKENS, and P * G must fit in uint32.
    error InvalidTaskSize(uint32 numProblems, uint32 rolloutsPerProblem, uint32 maxTokens);
    /// @notice `maxMiners` must be between 1 and `max`.
    error InvalidMaxMiners(uint16 maxMiners, uint256 max);
    /// @notice The audit parameters are out of range: 1 <= auditRollouts <= P*G, auditPositions <= maxTokens,
    /// MIN_LOGPROB_TOL_NANO <= logprobTolNano <= MAX_LOGPROB_TOL_NANO, MIN_EDGE_SLACK_NANO <= edgeSlackNano < 1e9,
    /// dtype <= 1.
    error InvalidAuditParams(
        uint32 auditRollouts, uint32 auditPositions, uint64 logprobTolNano, uint64 edgeSlackNano, uint8 dtype
    );
    /// @notice The task names no tokenizer (tokenizerHash = 0): nothing would show that its prompts, rewards and
    /// EOS are the same on every node, so miners and validators refuse it and its reward would only be locked.
    error ZeroTokenizerHash();
    /// @notice The verdict deadline `verdictDeadline` leaves no audit time: it must be at least `earliest`, the
    /// challenge round's time plus the minimum audit time.
    error AuditWindowTooShort(uint64 verdictDeadline, uint64 earliest);
    /// @notice verifyDeadline - verdictDeadline is below MIN_REVEAL_WINDOW.
    error RevealWindowTooShort(uint64 window, uint64 minimum);
    /// @notice The temperature must be positive (the verifiable sampler divides by it).
    error ZeroTemperature();
    /// @notice The reward must be positive.
    error ZeroReward();
    /// @notice `time` lies before the beacon genesis `genesis`, so it has no drand round.
    error BeforeBeaconGenesis(uint64 time, uint64 genesis);
    /// @notice Only the proposer `proposer` may do this, not `caller`.
    error NotProposer(address caller, address proposer);
    /// @notice `joined` miners joined (and locked stake), so the task settles through finalize, not cancel.
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

    /// @notice Posts a task and escrows `p.reward` from the caller (approve first). Checks every parameter,
    /// and that verdictDeadline >= roundTime(challengeRound) + minAuditTime, where challengeRound =
    /// roundAt(commitDeadline + BEACON_LAG) + 1, so the committee has at least minAuditTime after the challenge
    /// exists; verifyDeadline - verdictDeadline >= MIN_REVEAL_WINDOW; logprobTolNano within
    /// [MIN_LOGPROB_TOL_NANO, MAX_LOGPROB_TOL_NANO]; edgeSlackNano >= MIN_EDGE_SLACK_NANO; tokenizerHash != 0.
    /// @return taskId The new task id (ids start at 1).
    function postTask(TaskParams calldata p) external returns (uint256 taskId);

    /// @notice Cancels an open task nobody joined and refunds the escrow to the proposer. Proposer only. A task
    /// with joins settles through Settlement.finalize, which releases the miners' locks and refunds the rest.
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

    /// @notice Unix time of drand round `round`: genesis + (round - 1) * period.
    function roundTime(uint64 round) external view returns (uint64);

    /// @notice Seconds the verdict window must stay open after the challenge round's time.
    function minAuditTime() external view returns (uint64);

    /// @notice Seconds from a join or commit deadline before its beacon round may be published.
    function BEACON_LAG() external view returns (uint64);

    /// @notice Smallest verifyDeadline - verdictDeadline (the reveal window), in seconds.
    function MIN_REVEAL_WINDOW() external view returns (uint64);

    /// @notice Smallest logprobTolNano postTask accepts (above the worst honest fp32 deviation, PROTOCOL.md 9.1).
    function MIN_LOGPROB_TOL_NANO() external view returns (uint32);

    /// @notice Largest logprobTolNano postTask accepts (half the forced error's logprob shift).
    function MAX_LOGPROB_TOL_NANO() external view returns (uint32);

    /// @notice Smallest edgeSlackNano postTask accepts (twice the worst honest edge movement, PROTOCOL.md 9.2).
    function MIN_EDGE_SLACK_NANO() external view returns (uint32);

    /// @notice Most miners a task may allow (maxMiners <= this).
    function MAX_MINERS() external view returns (uint16);

    /// @notice Most new tokens per completion a task may ask for (maxTokens <= this).
    function MAX_TOKENS() external view returns (uint32);

    /// @notice Upper bound on verifyDeadline - post time.
    function maxTaskDuration() external view returns (uint64);

    /// @notice The Settlement contract.
    function settlement() external view returns (address);
}
