// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ISettlement
/// @notice Settlement v2 (PROTOCOL.md 2.5-2.9): joins with a stake lock and a forced-error commitment,
/// rollout commitments, a stake-weighted committee drawn by the challenge beacon, commit-reveal verdicts with
/// bonds, forced errors with jackpots, outcomes by quorum and supermajority, fraud proofs, capped miner payments,
/// per-validator settlement and pull payments.
interface ISettlement {
    /// @notice A committee member's vote on one miner.
    enum Vote {
        NONE,
        PASS,
        FAIL,
        UNAVAILABLE // openings could not be obtained: not attributable, never a slash
    }

    /// @notice What a FAIL names, so a dispute can re-audit exactly that.
    enum Check {
        NONE,
        STRUCTURE, // leaf or opening malformed, wrong count, Merkle proof fails
        TOKEN, // a sampled token is outside its inverse-CDF interval
        LOGPROB, // a committed logprob differs beyond the task's tolerance
        REWARD, // the claimed reward differs from the environment's
        MODEL // base model, adapter, dtype or tokenizer differ from the task
    }

    /// @notice A committee member's verdict on one miner. `score` is the mean verified reward of the audited
    /// rollouts in fixed point with 6 decimals (1.0 = 1_000_000); a FAIL names its evidence.
    struct Verdict {
        address miner;
        Vote vote;
        uint64 score;
        uint32 audited;
        uint32 rolloutIndex; // FAIL evidence: leaf index of the failing rollout
        uint32 position; // FAIL evidence: token position (0 when the check is per rollout)
        Check check; // FAIL evidence: which check failed; NONE for PASS and UNAVAILABLE
    }

    /// @notice A rollout leaf's preimage (PROTOCOL.md 6): leaf = keccak256(bytes.concat(keccak256(abi.encode(
    /// taskId, miner, p, g, tokensHash, logprobsHash, claimedReward)))).
    struct Leaf {
        uint256 taskId;
        address miner;
        uint32 p;
        uint32 g;
        bytes32 tokensHash;
        bytes32 logprobsHash;
        uint64 claimedReward;
    }

    /// @notice What a fraud proof showed about a committed leaf (checked on chain, no model needed).
    enum Fraud {
        NONE,
        WRONG_TASK, // the leaf names another task
        WRONG_MINER, // the leaf names another miner
        PROBLEM_OUT_OF_RANGE, // p >= P
        ROLLOUT_OUT_OF_RANGE, // g >= G
        REWARD_ABOVE_ONE // claimedReward > 1_000_000
    }

    /// @notice NONE = not finalized yet (or never joined). The rest are set by finalize.
    enum Outcome {
        NONE,
        PASSED, // supermajority of revealed seats voted PASS: paid on the seat-weighted mode of the PASS scores
        FAILED, // supermajority voted FAIL: the whole lock is slashed to the treasury
        NO_QUORUM, // fewer than the quorum of seats revealed: nothing paid (unverified), lock released, cap burned
        UNDECIDED, // quorum but no supermajority (e.g. a tie): as NO_QUORUM
        FORCED, // proved a forced error: paid if caught (LOGPROB FAILs) or passed, else nothing; lock released
        NO_COMMIT // joined and never committed: nothing paid, min(base share, lock) slashed, rest released
    }

    /// @notice Deploy-time parameters (checked in the constructor).
    struct Params {
        uint16 committeeSeats; // C, 1..64: lots drawn per task
        uint16 quorumBps; // revealed seats needed, as a fraction of C; (0, 10_000]
        uint16 supermajorityBps; // share of revealed seats a side needs; (5_000, 10_000]
        uint16 validatorFeeBps; // validator pool share of the escrow; < 10_000
        uint16 baseShareBps; // part of a miner's cap paid whatever its score; <= 10_000
        uint32 deterrenceBps; // miner lock = cap x deterrenceBps / 10_000; >= 10_000
        uint32 forcedErrorOdds; // F >= 2: a miner-task is forced with probability 1/F
        uint256 validatorBond; // locked per seat at commitVerdict; > 0
        uint256 jackpot; // per caught FORCED miner (at most its cap), split among its FAIL voters by seat
    }

    /// @notice What the contract knows about one miner in one task.
    struct MinerState {
        bool joined;
        bool committed;
        bool forced; // revealed a forced error
        bool fraud; // a fraud proof showed a committed leaf contradicting the task: FAILED whatever the votes
        Outcome outcome;
        uint8 index; // join order, 0-based: the miner's slot in the vote bitmaps
        uint32 count;
        uint64 score; // score paid on, set by finalize
        bytes32 adapterHash;
        bytes32 root;
        bytes32 forcedErrorCommit; // keccak256(abi.encode(taskId, miner, secret))
        uint256 locked; // stake locked at join
        uint256 paid; // reward credited at finalize
        uint256 slashed; // stake slashed at finalize
    }

    /// @notice Seat tallies of one miner, accumulated at reveal.
    struct Tally {
        uint32 passSeats;
        uint32 failSeats;
        uint32 unavailableSeats;
        uint64 passScoreSeats; // sum over PASS votes of seats x score
        uint64 failScoreSeats; // sum over FAIL votes of seats x score
    }

    /// @notice What the contract knows about one committee member in one task.
    struct ValidatorState {
        bytes32 commitHash;
        bool revealed;
        bool settled;
        bool penalized; // bond forfeited, set by settleValidator
        uint16 seats; // committee seats at commitVerdict
        uint32 decisiveVotes; // PASS and FAIL votes on decided miners, set by settleValidator
        uint256 bond; // stake locked at commitVerdict: validatorBond x seats
        uint256 votes; // 2 bits per miner index: the revealed Vote
        uint256 fee; // validator pool share credited by settleValidator
        uint256 jackpot; // jackpot credited by settleValidator
    }

    /// @notice Totals of a task.
    struct TaskSettlement {
        bool finalized;
        uint32 joined;
        uint32 committed;
        uint32 verdictCommits; // committee members that committed
        uint32 revealed; // committee members that revealed
        uint32 revealedSeats; // R
        uint64 decisiveSeatVotes; // PASS and FAIL seats on decided miners, set by finalize: the fee denominator
        uint256 escrow;
        uint256 minerPool;
        uint256 cap; // per-miner payment cap: minerPool / maxMiners
        uint256 lock; // per-miner stake lock: cap x deterrenceBps / 10_000
        uint256 validatorPool; // fee share of the escrow, paid by settleValidator
        uint256 minerPaid;
        uint256 slashed;
        uint256 refund; // credited to the proposer at finalize
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
    /// @notice The forced-error commitment must not be zero.
    error ZeroForcedErrorCommit();
    /// @notice The challenge beacon round `round` is recorded: the audit sample is public, commits are closed.
    error ChallengeKnown(uint64 round);
    /// @notice The verdict hash must not be zero.
    error ZeroVerdictHash();
    /// @notice `validator` holds no seat on the committee of task `taskId`.
    error NotOnCommittee(uint256 taskId, address validator);
    /// @notice `validator` already committed a verdict for task `taskId`.
    error VerdictAlreadyCommitted(uint256 taskId, address validator);
    /// @notice `validator` committed no verdict for task `taskId`.
    error NoVerdictCommitted(uint256 taskId, address validator);
    /// @notice `validator` already revealed for task `taskId`.
    error AlreadyRevealed(uint256 taskId, address validator);
    /// @notice The revealed verdicts hash to `got`, not the committed `committed`.
    error VerdictMismatch(bytes32 committed, bytes32 got);
    /// @notice A reveal must hold one verdict per committed miner: `got` verdicts for `expected` miners.
    error IncompleteVerdicts(uint256 got, uint256 expected);
    /// @notice A verdict names `miner`, which did not commit to the task.
    error MinerNotCommitted(address miner);
    /// @notice The verdicts name `miner` more than once.
    error DuplicateVerdict(address miner);
    /// @notice A verdict's vote is NONE, or a FAIL names no check, or a PASS or UNAVAILABLE names one.
    error InvalidVote(address miner);
    /// @notice A miner of the task may not sit on its committee.
    error SelfVerdict(address validator);
    /// @notice The score `score` is above 1.0 (1_000_000).
    error ScoreOutOfRange(uint64 score);
    /// @notice Task `taskId` already has its maximum of `max` miners.
    error TaskFull(uint256 taskId, uint256 max);
    /// @notice The secret does not open `miner`'s forced-error commitment.
    error ForcedErrorMismatch(address miner);
    /// @notice `miner` was not forced on this task (its secret and the seed beacon say so).
    error NotForced(address miner);
    /// @notice `miner` already revealed its forced error.
    error AlreadyForced(address miner);
    /// @notice The seed beacon round `round` is not recorded on the DrandBeacon yet.
    error SeedBeaconMissing(uint64 round);
    /// @notice Task `taskId` is already finalized.
    error AlreadyFinalized(uint256 taskId);
    /// @notice Task `taskId` is not finalized yet.
    error NotFinalized(uint256 taskId);
    /// @notice `validator` was already settled for task `taskId`.
    error AlreadySettled(uint256 taskId, address validator);
    /// @notice The challenge beacon round `round` is not recorded on the DrandBeacon yet.
    error ChallengeBeaconMissing(uint64 round);
    /// @notice `who` has nothing to claim.
    error NothingToClaim(address who);
    /// @notice The deploy parameter `name` has the invalid value `value`.
    error InvalidParam(string name, uint256 value);
    /// @notice The stake cooldown `cooldown` must outlast the longest task `maxTaskDuration`.
    error CooldownTooShort(uint64 cooldown, uint64 maxTaskDuration);
    /// @notice The zero address is not allowed here.
    error ZeroAddress();
    /// @notice The StakeManager, TaskBoard and Settlement must use the same token and beacon.
    error MismatchedWiring();
    /// @notice Only the Disputes contract may record a fraud proof or a dispute's ruling; `caller` is not it.
    error NotDisputes(address caller);
    /// @notice The Disputes contract is already set to `current` (once, by the deployer).
    error DisputesAlreadySet(address current);
    /// @notice Only the deployer may set the Disputes contract; `caller` is not it.
    error NotDeployer(address caller);
    /// @notice The Disputes contract is not set yet: nothing is finalized without it.
    error DisputesNotSet();

    /// @notice `miner` joined task `taskId` with adapter `adapterHash`, locking `locked` of its stake.
    event Joined(
        uint256 indexed taskId,
        address indexed miner,
        bytes32 adapterHash,
        bytes32 forcedErrorCommit,
        uint256 locked
    );
    /// @notice `miner` committed the Merkle root `root` over `count` rollouts.
    event Committed(uint256 indexed taskId, address indexed miner, bytes32 root, uint32 count);
    /// @notice `validator`, holding `seats` committee seats, committed `verdictHash` and locked `bond`.
    event VerdictCommitted(
        uint256 indexed taskId, address indexed validator, bytes32 verdictHash, uint16 seats, uint256 bond
    );
    /// @notice `validator` (with `seats` seats) revealed `vote` on `miner`, with FAIL evidence.
    event VerdictRevealed(
        uint256 indexed taskId,
        address indexed validator,
        address indexed miner,
        Vote vote,
        uint64 score,
        uint32 audited,
        uint32 rolloutIndex,
        uint32 position,
        Check check,
        uint16 seats
    );
    /// @notice `miner` proved it was forced to commit a wrong commitment on task `taskId`.
    event ForcedErrorRevealed(uint256 indexed taskId, address indexed miner, bytes32 secret);
    /// @notice Finalize decided `outcome` for `miner`, credited `paid` and slashed `slashed`.
    event MinerSettled(
        uint256 indexed taskId,
        address indexed miner,
        Outcome outcome,
        uint64 score,
        uint256 paid,
        uint256 slashed
    );
    /// @notice `validator` was settled: `fee` and `jackpot` credited, `forfeited` of its bond to the treasury.
    event ValidatorSettled(
        uint256 indexed taskId,
        address indexed validator,
        bool penalized,
        uint256 fee,
        uint256 jackpot,
        uint256 forfeited
    );
    /// @notice Task `taskId` was finalized; `refund` went back to `proposer`.
    event TaskFinalized(
        uint256 indexed taskId,
        address indexed proposer,
        uint256 minerPool,
        uint256 validatorPool,
        uint256 refund
    );
    /// @notice The treasury (slashes, forfeited bonds, donations; pays jackpots) changed by `delta` to `balance`.
    event TreasuryChanged(int256 delta, uint256 balance);
    /// @notice Finalizing task `taskId` burned `amount`: its NO_QUORUM and UNDECIDED miners' caps, and its
    /// validator pool when the committee committed yet decided no miner.
    event Burned(uint256 indexed taskId, uint256 amount);
    /// @notice The Disputes contract (fraud proofs and second-committee rulings, PROTOCOL.md 2.10) is `disputes`.
    event DisputesSet(address indexed disputes);
    /// @notice The Disputes contract ruled on `miner`'s dispute: finalize gives it `outcome`, paid on `score`.
    event RulingRecorded(uint256 indexed taskId, address indexed miner, Outcome outcome, uint64 score);
    /// @notice `amount` was credited to `who` (claim it with claim()).
    event Credited(address indexed who, uint256 indexed taskId, uint256 amount);
    /// @notice `who` withdrew its credit `amount`.
    event Claimed(address indexed who, uint256 amount);

    /// @notice Joins task `taskId` as a miner using adapter `adapterHash`, before the join deadline. Locks
    /// `lockAmount(taskId)` of the caller's free miner stake until finalize. `forcedErrorCommit` is
    /// keccak256(abi.encode(taskId, miner, secret)) with a secret the miner keeps until revealForcedError.
    function join(uint256 taskId, bytes32 adapterHash, bytes32 forcedErrorCommit) external;

    /// @notice Commits the Merkle root `root` of the caller's `count` rollouts; up to the commit deadline and
    /// only while the challenge beacon is not recorded.
    function commit(uint256 taskId, bytes32 root, uint32 count) external;

    /// @notice Commits `verdictHash = keccak256(abi.encode(taskId, validator, verdicts, salt))`: committee
    /// members only, once the challenge beacon is recorded, up to the verdict deadline; locks
    /// validatorBond x seats of the caller's free validator stake.
    function commitVerdict(uint256 taskId, bytes32 verdictHash) external;

    /// @notice Reveals the verdicts committed earlier (one per committed miner, in any order); after the
    /// verdict deadline, up to the verify deadline. Adds the caller's seats to each miner's tally.
    function revealVerdict(uint256 taskId, Verdict[] calldata verdicts, bytes32 salt) external;

    /// @notice A forced miner proves it: `secret` opens its join commitment and
    /// uint256(keccak256(abi.encode(secret, seedRandomness))) % forcedErrorOdds == 0. After the verdict
    /// deadline, up to the verify deadline.
    function revealForcedError(uint256 taskId, bytes32 secret) external;

    /// @notice Sets the Disputes contract, the only caller of recordFraud and recordRuling. Deployer only, once.
    function setDisputes(address disputes_) external;

    /// @notice Hook of Disputes.proveFraud: `miner` is FAILED at finalize whatever the votes; `prover` earns
    /// the bounty. Disputes only.
    function recordFraud(uint256 taskId, address miner, address prover) external;

    /// @notice Hook of Disputes.resolve: a second committee overturned `miner`'s FAIL (`outcome` PASSED, paid on
    /// `score`), upheld it (FAILED) or could not rule (UNDECIDED). Disputes only.
    function recordRuling(uint256 taskId, address miner, Outcome outcome, uint64 score) external;

    /// @notice Settles the miners of task `taskId` (O(miners)) after its verify deadline once its challenge
    /// beacon is recorded and Disputes allows it (no dispute open or still possible): outcomes, payments, lock
    /// releases and slashes, the proposer's refund.
    function finalize(uint256 taskId) external;

    /// @notice Settles one committee member of a finalized task (O(miners)); anyone may call it. Releases or
    /// forfeits its bond and credits its fee share and jackpots.
    function settleValidator(uint256 taskId, address validator) external;

    /// @notice Adds `amount` (pulled with transferFrom) to the treasury that pays jackpots.
    function fundTreasury(uint256 amount) external;

    /// @notice Withdraws everything credited to the caller.
    /// @return amount The amount paid.
    function claim() external returns (uint256 amount);

    /// @notice The hash a validator commits: keccak256(abi.encode(taskId, validator, verdicts, salt)).
    function verdictHash(uint256 taskId, address validator, Verdict[] calldata verdicts, bytes32 salt)
        external
        pure
        returns (bytes32);

    /// @notice keccak256(abi.encode(taskId, miner, secret)), what join takes.
    function forcedErrorCommitment(uint256 taskId, address miner, bytes32 secret)
        external
        pure
        returns (bytes32);

    /// @notice Whether `secret` makes a miner forced given the seed beacon randomness `seedRandomness`.
    function isForced(bytes32 secret, bytes32 seedRandomness) external view returns (bool);

    /// @notice Committee seats of `validator` in task `taskId`: the number of i < C with
    /// uint256(keccak256(abi.encode(r, taskId, validator, i))) % T < s, where r is the challenge randomness and
    /// s and T are the validator's and the total validator stake at the commit deadline. Reverts with
    /// ChallengeBeaconMissing before the challenge beacon is recorded.
    function committeeSeats(uint256 taskId, address validator) external view returns (uint16);

    /// @notice The per-miner payment cap of task `taskId`: minerPool / maxMiners.
    function minerCap(uint256 taskId) external view returns (uint256);

    /// @notice The stake a miner locks to join task `taskId`: minerCap x deterrenceBps / 10_000.
    function lockAmount(uint256 taskId) external view returns (uint256);

    /// @notice The Disputes contract (zero until setDisputes).
    function disputes() external view returns (address);

    /// @notice The deploy parameters.
    function params() external view returns (Params memory);

    /// @notice Tokens in the treasury (slashed stake, forfeited bonds, donations), which pays jackpots.
    function treasury() external view returns (uint256);

    /// @notice Validator pools of finalized tasks not yet paid out by settleValidator (plus rounding dust).
    function feeReserve() external view returns (uint256);

    /// @notice Tokens burned so far (blocked miners' caps, validator pools nobody earned). They stay in this
    /// contract and nothing can move them: neither the treasury (which pays jackpots) nor any proposer, so no
    /// one gains from blocking a decision.
    function burned() external view returns (uint256);

    /// @notice State of `miner` in task `taskId`.
    function minerState(uint256 taskId, address miner) external view returns (MinerState memory);

    /// @notice Seat tallies of `miner` in task `taskId`.
    function tallyOf(uint256 taskId, address miner) external view returns (Tally memory);

    /// @notice State of `validator` in task `taskId`.
    function validatorState(uint256 taskId, address validator) external view returns (ValidatorState memory);

    /// @notice The revealed vote of `validator` on `miner` in task `taskId`.
    function voteOf(uint256 taskId, address validator, address miner) external view returns (Vote);

    /// @notice The miners that joined task `taskId`, in join order.
    function getMiners(uint256 taskId) external view returns (address[] memory);

    /// @notice The committee members that committed a verdict for task `taskId`, in commit order.
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
