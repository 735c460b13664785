// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISettlement
/// @notice Joins, commitments, commit-reveal verdicts, finalize and pull payments (PROTOCOL.md 2.5).
interface ISettlement {
    /// @notice A validator's verdict on one miner. `score` is the mean verified reward of the audited
    /// rollouts in fixed point with 6 decimals (1.0 = 1_000_000).
    struct Verdict {
        address miner;
        bool pass;
        uint64 score;
        uint32 audited;
    }

    /// @notice NONE = not finalized yet (or never joined). The rest are set by finalize.
    enum Outcome {
        NONE,
        PASSED,
        FAILED,
        UNAUDITED,
        NO_COMMIT
    }

    /// @notice Fee and slash fractions in basis points.
    struct Params {
        uint16 validatorFeeBps;
        uint16 slashBps;
    }

    /// @notice What the contract knows about one miner in one task.
    struct MinerState {
        bool joined;
        bool committed;
        Outcome outcome;
        uint32 count;
        uint64 score; // verified score (stake-weighted mean of passing verdicts), set by finalize
        bytes32 adapterHash;
        bytes32 root;
        uint256 passStake; // validator stake behind pass verdicts
        uint256 failStake; // validator stake behind fail verdicts
        uint256 paid; // reward credited at finalize
        uint256 slashed; // stake slashed at finalize
    }

    /// @notice What the contract knows about one validator in one task.
    struct ValidatorState {
        bytes32 commitHash;
        bool revealed;
        bool agreed; // every verdict matched the outcome, set by finalize
        uint32 verdicts; // number of verdicts revealed
        uint256 weight; // active stake at commit, lowered to the stake at reveal if that is less
        uint256 paid; // fee credited at finalize
    }

    /// @notice Totals of a finalized task.
    struct TaskSettlement {
        bool finalized;
        uint32 joined;
        uint32 committed;
        uint32 verdictCommits;
        uint32 revealed;
        uint256 escrow;
        uint256 minerPool;
        uint256 validatorPool; // fee share of the escrow plus slashed stake
        uint256 slashed;
        uint256 refund; // credited to the proposer
    }

    /// @notice Task `taskId` is not OPEN on the TaskBoard.
    error TaskNotOpen(uint256 taskId);
    /// @notice The call is allowed from `start` (exclusive) to `end` (inclusive); it is `nowTime`.
    error OutsideWindow(uint64 nowTime, uint64 start, uint64 end);
    /// @notice `who` does not hold the minimum active stake for `role`.
    error NotStaked(address who, uint8 role);
    /// @notice `miner` already joined task `taskId`.
    error AlreadyJoined(uint256 taskId, address miner);
    /// @notice `miner` did not join task `taskId`.
    error NotJoined(uint256 taskId, address miner);
    /// @notice `miner` already committed to task `taskId`.
    error AlreadyCommitted(uint256 taskId, address miner);
    /// @notice The committed count `count` is not P * G = `expected`.
    error WrongCount(uint32 count, uint32 expected);
    /// @notice The Merkle root must not be zero.
    error ZeroRoot();
    /// @notice The verdict hash must not be zero.
    error ZeroVerdictHash();
    /// @notice `validator` already committed a verdict for task `taskId`.
    error VerdictAlreadyCommitted(uint256 taskId, address validator);
    /// @notice `validator` committed no verdict for task `taskId`.
    error NoVerdictCommitted(uint256 taskId, address validator);
    /// @notice `validator` already revealed for task `taskId`.
    error AlreadyRevealed(uint256 taskId, address validator);
    /// @notice The revealed verdicts hash to `got`, not the committed `committed`.
    error VerdictMismatch(bytes32 committed, bytes32 got);
    /// @notice A verdict names `miner`, which did not commit to the task.
    error MinerNotCommitted(address miner);
    /// @notice The verdicts name `miner` more than once.
    error DuplicateVerdict(address miner);
    /// @notice A validator may not judge itself.
    error SelfVerdict(address validator);
    /// @notice The score `score` is above 1.0 (1_000_000).
    error ScoreOutOfRange(uint64 score);
    /// @notice Task `taskId` already has the maximum of `max` miners (keeps finalize within a block).
    error TaskFull(uint256 taskId, uint256 max);
    /// @notice Task `taskId` already has the maximum of `max` verdict commitments.
    error TooManyValidators(uint256 taskId, uint256 max);
    /// @notice Task `taskId` is already finalized.
    error AlreadyFinalized(uint256 taskId);
    /// @notice The challenge beacon round `round` is not recorded on the DrandBeacon yet.
    error ChallengeBeaconMissing(uint64 round);
    /// @notice `who` has nothing to claim.
    error NothingToClaim(address who);
    /// @notice A basis-point parameter `bps` is above 10_000.
    error BpsTooHigh(uint256 bps);
    /// @notice The stake cooldown `cooldown` must outlast the longest task `maxTaskDuration`.
    error CooldownTooShort(uint64 cooldown, uint64 maxTaskDuration);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice The StakeManager, TaskBoard and Settlement must use the same token and beacon.
    error MismatchedWiring();

    /// @notice `miner` joined task `taskId` with policy adapter `adapterHash`.
    event Joined(uint256 indexed taskId, address indexed miner, bytes32 adapterHash);
    /// @notice `miner` committed the Merkle root `root` over `count` rollouts.
    event Committed(uint256 indexed taskId, address indexed miner, bytes32 root, uint32 count);
    /// @notice `validator` committed to its verdicts with `verdictHash`.
    event VerdictCommitted(uint256 indexed taskId, address indexed validator, bytes32 verdictHash);
    /// @notice `validator`, weighing `weight`, revealed its verdict on `miner`.
    event VerdictRevealed(
        uint256 indexed taskId,
        address indexed validator,
        address indexed miner,
        bool pass,
        uint64 score,
        uint32 audited,
        uint256 weight
    );
    /// @notice Finalize decided `outcome` for `miner`, credited `paid` and slashed `slashed`.
    event MinerSettled(
        uint256 indexed taskId,
        address indexed miner,
        Outcome outcome,
        uint64 score,
        uint256 paid,
        uint256 slashed
    );
    /// @notice Finalize credited `paid` to `validator`; `agreed` is whether every verdict matched.
    event ValidatorSettled(uint256 indexed taskId, address indexed validator, bool agreed, uint256 paid);
    /// @notice Task `taskId` was finalized; `refund` went back to `proposer`.
    event TaskFinalized(
        uint256 indexed taskId,
        address indexed proposer,
        uint256 minerPool,
        uint256 validatorPool,
        uint256 refund
    );
    /// @notice `amount` was credited to `who` (claim it with claim()).
    event Credited(address indexed who, uint256 indexed taskId, uint256 amount);
    /// @notice `who` withdrew its credit `amount`.
    event Claimed(address indexed who, uint256 amount);

    /// @notice Joins task `taskId` as a miner that will use adapter `adapterHash`; before the join deadline.
    function join(uint256 taskId, bytes32 adapterHash) external;

    /// @notice Commits the Merkle root `root` of the caller's `count` rollouts; before the commit deadline.
    function commit(uint256 taskId, bytes32 root, uint32 count) external;

    /// @notice Commits `verdictHash = keccak256(abi.encode(taskId, validator, verdicts, salt))`;
    /// after the commit deadline, up to the verdict deadline.
    function commitVerdict(uint256 taskId, bytes32 verdictHash) external;

    /// @notice Reveals the verdicts committed earlier; after the verdict deadline, up to the verify deadline.
    function revealVerdict(uint256 taskId, Verdict[] calldata verdicts, bytes32 salt) external;

    /// @notice Settles task `taskId` after its verify deadline once its challenge beacon is recorded.
    function finalize(uint256 taskId) external;

    /// @notice Withdraws everything credited to the caller.
    /// @return amount The amount paid.
    function claim() external returns (uint256 amount);

    /// @notice Checks a rollout leaf against `miner`'s committed root with OpenZeppelin MerkleProof.
    function verifyLeaf(uint256 taskId, address miner, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool);

    /// @notice The hash a validator commits: keccak256(abi.encode(taskId, validator, verdicts, salt)).
    function verdictHash(uint256 taskId, address validator, Verdict[] calldata verdicts, bytes32 salt)
        external
        pure
        returns (bytes32);

    /// @notice State of `miner` in task `taskId`.
    function minerState(uint256 taskId, address miner) external view returns (MinerState memory);

    /// @notice State of `validator` in task `taskId`.
    function validatorState(uint256 taskId, address validator) external view returns (ValidatorState memory);

    /// @notice The miners that joined task `taskId`, in join order.
    function getMiners(uint256 taskId) external view returns (address[] memory);

    /// @notice The validators that revealed for task `taskId`, in reveal order.
    function getValidators(uint256 taskId) external view returns (address[] memory);

    /// @notice The totals of task `taskId`.
    function taskSettlement(uint256 taskId) external view returns (TaskSettlement memory);

    /// @notice Number of miners that joined task `taskId`.
    function joinedCount(uint256 taskId) external view returns (uint256);

    /// @notice Number of miners that committed to task `taskId`.
    function committedCount(uint256 taskId) external view returns (uint256);

    /// @notice Amount credited to `who` and not yet claimed.
    function claimable(address who) external view returns (uint256);
}
