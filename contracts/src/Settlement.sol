// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {ITaskBoard} from "./interfaces/ITaskBoard.sol";
import {IDrandBeacon} from "./interfaces/IDrandBeacon.sol";
import {IDisputes} from "./interfaces/IDisputes.sol";

/// @title Settlement
/// @notice Settlement v2 (PROTOCOL.md 2.5-2.9). Miners lock stake sized to the task's per-miner cap when they
/// join; a committee drawn by the challenge beacon in proportion to validator stake votes by commit-reveal
/// with a bond per seat; a miner FAILS only on a supermajority of a quorum of seats (a tie never slashes);
/// forced errors catch validators that do not audit; slashes and forfeited bonds go to a treasury that pays
/// jackpots, never to the voters that caused them; blocked miners' caps are burned. finalize is O(miners);
/// each committee member is settled by settleValidator, O(miners); everything is paid by pull. Fraud proofs and
/// the second committee's rulings on disputed FAILs live in Disputes (PROTOCOL.md 2.10), which reports them
/// through two narrow hooks.
contract Settlement is ISettlement, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint8 internal constant MINER = 0;
    uint8 internal constant VALIDATOR = 1;
    uint256 internal constant BPS = 10_000;
    /// @notice Scores are fixed point with 6 decimals; 1.0 is the largest.
    uint64 public constant MAX_SCORE = 1_000_000;
    /// @notice Largest committee (lots drawn per task).
    uint16 public constant MAX_COMMITTEE_SEATS = 64;

    IERC20 internal immutable _token;
    IStakeManager public immutable stakes;
    ITaskBoard public immutable board;
    IDrandBeacon public immutable beacon;
    address internal immutable _deployer;
    /// @inheritdoc ISettlement
    address public disputes;

    uint16 public immutable committeeSeatCount;
    uint16 public immutable quorumBps;
    uint16 public immutable supermajorityBps;
    uint16 public immutable validatorFeeBps;
    uint16 public immutable baseShareBps;
    uint32 public immutable deterrenceBps;
    uint32 public immutable forcedErrorOdds;
    uint256 public immutable validatorBond;
    uint256 public immutable jackpot;

    /// @notice Tokens in the treasury: slashed stake, forfeited bonds and donations; pays jackpots.
    uint256 public treasury;
    /// @notice Validator pools of finalized tasks not yet paid out by settleValidator (plus rounding dust).
    uint256 public feeReserve;
    /// @inheritdoc ISettlement
    uint256 public burned;

    mapping(address who => uint256) public claimable;
    mapping(uint256 taskId => TaskSettlement) internal _settlements;
    mapping(uint256 taskId => address[]) internal _miners;
    mapping(uint256 taskId => address[]) internal _validators;
    mapping(uint256 taskId => mapping(address miner => MinerState)) internal _minerStates;
    mapping(uint256 taskId => mapping(address miner => Tally)) internal _tallies;
    mapping(uint256 taskId => mapping(address validator => ValidatorState)) internal _validatorStates;
    mapping(uint256 taskId => mapping(address miner => address)) internal _fraudProvers;

    /// @dev A second committee's ruling on a disputed FAIL (PROTOCOL.md 2.10): PASSED (overturned, paid on
    /// `score`), FAILED (upheld) or UNDECIDED (no ruling); NONE when there was no dispute.
    struct Ruling {
        Outcome outcome;
        uint64 score;
    }

    mapping(uint256 taskId => mapping(address miner => Ruling)) internal _rulings;

    /// @dev Per-miner audit detail beyond the Tally (internal, so the Tally ABI stays as it was): the FAIL seats
    /// naming LOGPROB, the only symptom of an obeyed forced error, and the seat-weighted mode of their scores
    /// (what a caught forced miner is paid on); the seat-weighted mode of the PASS scores (the score a PASSED
    /// miner is paid on). A minority cannot move either (RedTeam H15).
    struct Audit {
        uint32 logprobFailSeats;
        uint32 modeSeats;
        uint64 modeScore;
        uint32 failModeSeats;
        uint64 failModeScore;
    }

    mapping(uint256 taskId => mapping(address miner => Audit)) internal _audits;
    mapping(uint256 taskId => mapping(address miner => mapping(uint64 score => uint256))) internal
        _scoreSeats;
    mapping(uint256 taskId => mapping(address miner => mapping(uint64 score => uint256))) internal
        _failScoreSeats;
    /// @dev What the validator pool of a finalized task has not yet paid or forfeited, and how many committed
    /// members are settled: the last one's settlement sends the rounding dust to the treasury (RedTeam H9).
    mapping(uint256 taskId => uint256) internal _feeLeft;
    mapping(uint256 taskId => uint256) internal _membersSettled;

    /// @param token_ The ERC20 of stake and rewards; must be the StakeManager's and the TaskBoard's.
    /// @param stakes_ The StakeManager (this contract must be its settlement).
    /// @param board_ The TaskBoard (this contract must be its settlement).
    /// @param beacon_ The DrandBeacon; must be the TaskBoard's.
    /// @param params_ The deploy parameters (PROTOCOL.md 2.5), each checked here.
    constructor(
        IERC20 token_,
        IStakeManager stakes_,
        ITaskBoard board_,
        IDrandBeacon beacon_,
        Params memory params_
    ) {
        if (
            address(token_) == address(0) || address(stakes_) == address(0) || address(board_) == address(0)
                || address(beacon_) == address(0)
        ) revert ZeroAddress();
        _checkParams(params_);
        if (
            stakes_.token() != address(token_) || board_.token() != address(token_)
                || board_.beacon() != address(beacon_)
        ) revert MismatchedWiring();
        // Locked stake must not be able to leave (as cooling stake) while a task that locked it is open.
        if (stakes_.cooldown() <= board_.maxTaskDuration()) {
            revert CooldownTooShort(stakes_.cooldown(), board_.maxTaskDuration());
        }
        _token = token_;
        _deployer = msg.sender;
        stakes = stakes_;
        board = board_;
        beacon = beacon_;
        committeeSeatCount = params_.committeeSeats;
        quorumBps = params_.quorumBps;
        supermajorityBps = params_.supermajorityBps;
        validatorFeeBps = params_.validatorFeeBps;
        baseShareBps = params_.baseShareBps;
        deterrenceBps = params_.deterrenceBps;
        forcedErrorOdds = params_.forcedErrorOdds;
        validatorBond = params_.validatorBond;
        jackpot = params_.jackpot;
    }

    // ------------------------------------------------------------------ miners

    /// @inheritdoc ISettlement
    function join(uint256 taskId, bytes32 adapterHash, bytes32 forcedErrorCommit) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.postedAt, t.params.joinDeadline, true);
        if (!stakes.isStaked(msg.sender, MINER)) revert NotStaked(msg.sender, MINER);
        if (forcedErrorCommit == bytes32(0)) revert ZeroForcedErrorCommit();
        MinerState storage m = _minerStates[taskId][msg.sender];
        if (m.joined) revert AlreadyJoined(taskId, msg.sender);
        address[] storage miners = _miners[taskId];
        if (miners.length >= t.params.maxMiners) revert TaskFull(taskId, t.params.maxMiners);

        uint256 amount = _lockAmount(t.params.reward, t.params.maxMiners);
        m.joined = true;
        // maxMiners <= 128, so the index fits in uint8 and in a 256-bit vote bitmap at 2 bits each.
        // forge-lint: disable-next-line(unsafe-typecast)
        m.index = uint8(miners.length);
        m.adapterHash = adapterHash;
        m.forcedErrorCommit = forcedErrorCommit;
        m.locked = amount;
        miners.push(msg.sender);
        _settlements[taskId].joined += 1;
        emit Joined(taskId, msg.sender, adapterHash, forcedErrorCommit, amount);
        // Reverts with InsufficientFreeStake when stake already backs other tasks.
        if (amount != 0) stakes.lock(msg.sender, MINER, amount);
    }

    /// @inheritdoc ISettlement
    function commit(uint256 taskId, bytes32 root, uint32 count) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.postedAt, t.params.commitDeadline, true);
        // Once the challenge is public a late committer could shape its rollouts around the audit sample.
        if (beacon.randomness(t.challengeRound) != bytes32(0)) revert ChallengeKnown(t.challengeRound);
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

    /// @inheritdoc ISettlement
    function revealForcedError(uint256 taskId, bytes32 secret) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.params.verdictDeadline, t.params.verifyDeadline, false);
        MinerState storage m = _minerStates[taskId][msg.sender];
        if (!m.committed) revert MinerNotCommitted(msg.sender);
        if (m.forced) revert AlreadyForced(msg.sender);
        if (forcedErrorCommitment(taskId, msg.sender, secret) != m.forcedErrorCommit) {
            revert ForcedErrorMismatch(msg.sender);
        }
        bytes32 seed = beacon.randomness(t.seedRound);
        if (seed == bytes32(0)) revert SeedBeaconMissing(t.seedRound);
        if (!isForced(secret, seed)) revert NotForced(msg.sender);
        m.forced = true;
        emit ForcedErrorRevealed(taskId, msg.sender, secret);
    }

    /// @inheritdoc ISettlement
    function setDisputes(address disputes_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (disputes != address(0)) revert DisputesAlreadySet(disputes);
        if (disputes_ == address(0)) revert ZeroAddress();
        disputes = disputes_;
        emit DisputesSet(disputes_);
    }

    /// @inheritdoc ISettlement
    function recordFraud(uint256 taskId, address miner, address prover) external {
        _onlyDisputes();
        _minerStates[taskId][miner].fraud = true;
        _fraudProvers[taskId][miner] = prover;
    }

    /// @inheritdoc ISettlement
    function recordRuling(uint256 taskId, address miner, Outcome outcome, uint64 score) external {
        _onlyDisputes();
        _rulings[taskId][miner] = Ruling(outcome, score);
        emit RulingRecorded(taskId, miner, outcome, score);
    }

    // -------------------------------------------------------------- validators

    /// @inheritdoc ISettlement
    function commitVerdict(uint256 taskId, bytes32 verdictHash_) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        _checkWindow(t.params.commitDeadline, t.params.verdictDeadline, false);
        if (verdictHash_ == bytes32(0)) revert ZeroVerdictHash();
        ValidatorState storage v = _validatorStates[taskId][msg.sender];
        if (v.commitHash != bytes32(0)) revert VerdictAlreadyCommitted(taskId, msg.sender);
        if (_minerStates[taskId][msg.sender].joined) revert SelfVerdict(msg.sender);
        TaskSettlement storage ts = _settlements[taskId];
        if (ts.committed == 0) revert MinerNotCommitted(address(0));
        if (!stakes.isStaked(msg.sender, VALIDATOR)) revert NotStaked(msg.sender, VALIDATOR);
        uint16 seats = _seats(taskId, t, msg.sender);
        if (seats == 0) revert NotOnCommittee(taskId, msg.sender);

        uint256 bond = validatorBond * seats;
        v.commitHash = verdictHash_;
        v.seats = seats;
        v.bond = bond;
        _validators[taskId].push(msg.sender);
        ts.verdictCommits += 1;
        emit VerdictCommitted(taskId, msg.sender, verdictHash_, seats, bond);
        // Reverts with InsufficientFreeStake: a seat is only taken with its bond at risk.
        stakes.lock(msg.sender, VALIDATOR, bond);
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
        TaskSettlement storage ts = _settlements[taskId];
        // One verdict per committed miner: R (revealed seats) then means the same for every miner.
        if (verdicts.length != ts.committed) revert IncompleteVerdicts(verdicts.length, ts.committed);

        uint16 seats = v.seats;
        uint256 bitmap;
        for (uint256 i = 0; i < verdicts.length; ++i) {
            bitmap = _recordVerdict(taskId, verdicts[i], seats, bitmap);
        }
        v.revealed = true;
        v.votes = bitmap;
        ts.revealed += 1;
        ts.revealedSeats += seats;
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
        // A FAILED miner may still dispute, or a second committee is still ruling (PROTOCOL.md 2.10).
        if (disputes == address(0)) revert DisputesNotSet();
        IDisputes(disputes).checkFinalizable(taskId);

        // Effects: every outcome, payment and slash is decided before any token moves.
        uint256 escrow = board.escrowOf(taskId);
        uint256 validatorPool = Math.mulDiv(escrow, validatorFeeBps, BPS);
        uint256 minerPool = escrow - validatorPool;
        ts.finalized = true;
        ts.escrow = escrow;
        ts.minerPool = minerPool;
        ts.cap = minerPool / t.params.maxMiners;
        ts.lock = Math.mulDiv(ts.cap, deterrenceBps, BPS);
        ts.validatorPool = validatorPool;
        (uint256 undecided, uint256 undecidedMiners) = _decideMiners(taskId, ts, t.params.maxMiners);
        validatorPool = ts.validatorPool; // less the obedience bonuses it paid

        // What an undecided miner was not paid, and a fee nobody earned, are burned: back to the proposer, a
        // proposer would gain from blocking a decision (bribing a third of the committee, or its absence); to the
        // treasury, the blocking seats would win part of it back as jackpots (SECURITY.md 5).
        uint256 refund = minerPool - ts.minerPaid - undecided;
        uint256 toBurn = undecided;
        if (ts.decisiveSeatVotes != 0) {
            // The pool's part for each undecided miner is burned too: a block then costs the blocking seats
            // their fee on that miner, more than the audit it saved whenever auditing pays (SECURITY.md 3.7).
            uint256 unearned = Math.mulDiv(validatorPool, undecidedMiners, ts.committed);
            validatorPool -= unearned;
            ts.validatorPool = validatorPool;
            toBurn += unearned;
            feeReserve += validatorPool;
            _feeLeft[taskId] = validatorPool;
        } else if (ts.committed == 0) {
            refund += validatorPool; // nothing was committed, so there was nothing to audit or to block
        } else {
            toBurn += validatorPool;
        }
        if (toBurn != 0) {
            burned += toBurn;
            emit Burned(taskId, toBurn);
        }
        ts.refund = refund;
        _credit(t.proposer, taskId, refund);
        emit TaskFinalized(taskId, t.proposer, minerPool, validatorPool, refund);

        // Interactions: pull the escrow in, then release or slash each lock; all callees are fixed at deploy.
        uint256 released = board.releaseEscrow(taskId);
        assert(released == escrow);
        _settleLocks(taskId);
    }

    /// @inheritdoc ISettlement
    function settleValidator(uint256 taskId, address validator) external nonReentrant {
        TaskSettlement storage ts = _settlements[taskId];
        if (!ts.finalized) revert NotFinalized(taskId);
        ValidatorState storage v = _validatorStates[taskId][validator];
        if (v.commitHash == bytes32(0)) revert NoVerdictCommitted(taskId, validator);
        if (v.settled) revert AlreadySettled(taskId, validator);

        (bool penalized, uint32 decided, uint256 forcedFails) =
            v.revealed ? _judge(taskId, ts, v) : (true, 0, 0);
        uint256 share = ts.decisiveSeatVotes == 0
            ? 0
            : Math.mulDiv(ts.validatorPool, uint256(v.seats) * decided, ts.decisiveSeatVotes);
        feeReserve -= share;
        uint256 dust = _feeLeft[taskId] - share;
        _feeLeft[taskId] = dust;
        // The last committed member settled: what rounding left of the pool goes to the treasury.
        if (++_membersSettled[taskId] == ts.verdictCommits && dust != 0) {
            _feeLeft[taskId] = 0;
            feeReserve -= dust;
            _treasuryIn(dust);
        }
        v.settled = true;
        v.penalized = penalized;
        v.decisiveVotes = decided;
        uint256 forfeited;
        if (penalized) {
            // The bond and the share a penalized member would have earned go to the treasury: no member
            // and no proposer gains from another's penalty.
            forfeited = v.bond;
            _treasuryIn(forfeited + share);
        } else {
            v.fee = share;
            _credit(validator, taskId, share);
            // The jackpot of a caught forced error is split by seats: C seats share one jackpot, so it is bounded
            // per forced miner whatever the committee's size.
            uint256 won = _jackpotOf(ts.cap) * v.seats * forcedFails / committeeSeatCount;
            if (won > treasury) won = treasury;
            if (won != 0) {
                v.jackpot = won;
                _treasuryOut(won);
                _credit(validator, taskId, won);
            }
        }
        emit ValidatorSettled(taskId, validator, penalized, v.fee, v.jackpot, forfeited);

        if (penalized) {
            if (forfeited != 0) stakes.slash(validator, VALIDATOR, forfeited, address(this));
        } else if (v.bond != 0) {
            stakes.unlock(validator, VALIDATOR, v.bond);
        }
    }

    /// @inheritdoc ISettlement
    function fundTreasury(uint256 amount) external nonReentrant {
        _treasuryIn(amount);
        _token.safeTransferFrom(msg.sender, address(this), amount);
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
    function verdictHash(uint256 taskId, address validator, Verdict[] calldata verdicts, bytes32 salt)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(taskId, validator, verdicts, salt));
    }

    /// @inheritdoc ISettlement
    function forcedErrorCommitment(uint256 taskId, address miner, bytes32 secret)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(taskId, miner, secret));
    }

    /// @inheritdoc ISettlement
    function isForced(bytes32 secret, bytes32 seedRandomness) public view returns (bool) {
        return uint256(keccak256(abi.encode(secret, seedRandomness))) % forcedErrorOdds == 0;
    }

    /// @inheritdoc ISettlement
    function committeeSeats(uint256 taskId, address validator) external view returns (uint16) {
        return _seats(taskId, board.getTask(taskId), validator);
    }

    /// @inheritdoc ISettlement
    function minerCap(uint256 taskId) public view returns (uint256) {
        ITaskBoard.Task memory t = board.getTask(taskId);
        return _cap(t.params.reward, t.params.maxMiners);
    }

    /// @inheritdoc ISettlement
    function lockAmount(uint256 taskId) external view returns (uint256) {
        ITaskBoard.Task memory t = board.getTask(taskId);
        return _lockAmount(t.params.reward, t.params.maxMiners);
    }

    /// @inheritdoc ISettlement
    function params() external view returns (Params memory) {
        return Params({
            committeeSeats: committeeSeatCount,
            quorumBps: quorumBps,
            supermajorityBps: supermajorityBps,
            validatorFeeBps: validatorFeeBps,
            baseShareBps: baseShareBps,
            deterrenceBps: deterrenceBps,
            forcedErrorOdds: forcedErrorOdds,
            validatorBond: validatorBond,
            jackpot: jackpot
        });
    }

    /// @inheritdoc ISettlement
    function minerState(uint256 taskId, address miner) external view returns (MinerState memory) {
        return _minerStates[taskId][miner];
    }

    /// @inheritdoc ISettlement
    function tallyOf(uint256 taskId, address miner) external view returns (Tally memory) {
        return _tallies[taskId][miner];
    }

    /// @inheritdoc ISettlement
    function validatorState(uint256 taskId, address validator) external view returns (ValidatorState memory) {
        return _validatorStates[taskId][validator];
    }

    /// @inheritdoc ISettlement
    function voteOf(uint256 taskId, address validator, address miner) external view returns (Vote) {
        MinerState storage m = _minerStates[taskId][miner];
        if (!m.committed) return Vote.NONE;
        return _voteAt(_validatorStates[taskId][validator].votes, m.index);
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

    function _checkParams(Params memory p) internal pure {
        if (p.committeeSeats == 0 || p.committeeSeats > MAX_COMMITTEE_SEATS) {
            revert InvalidParam("committeeSeats", p.committeeSeats);
        }
        if (p.quorumBps == 0 || p.quorumBps > BPS) revert InvalidParam("quorumBps", p.quorumBps);
        // Above one half, PASS and FAIL cannot both reach it, and a tie reaches neither.
        if (p.supermajorityBps <= BPS / 2 || p.supermajorityBps > BPS) {
            revert InvalidParam("supermajorityBps", p.supermajorityBps);
        }
        if (p.validatorFeeBps >= BPS) revert InvalidParam("validatorFeeBps", p.validatorFeeBps);
        if (p.baseShareBps > BPS) revert InvalidParam("baseShareBps", p.baseShareBps);
        // PROTOCOL.md 9.5: the stake at risk must be at least what cheating can earn.
        if (p.deterrenceBps < BPS) revert InvalidParam("deterrenceBps", p.deterrenceBps);
        if (p.forcedErrorOdds < 2) revert InvalidParam("forcedErrorOdds", p.forcedErrorOdds);
        if (p.validatorBond == 0) revert InvalidParam("validatorBond", p.validatorBond);
    }

    function _onlyDisputes() internal view {
        if (msg.sender != disputes) revert NotDisputes(msg.sender);
    }

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

    function _cap(uint256 reward, uint16 maxMiners) internal view returns (uint256) {
        return (reward - Math.mulDiv(reward, validatorFeeBps, BPS)) / maxMiners;
    }

    /// @dev mulDiv throughout the payment arithmetic: no reward TaskBoard accepts can make finalize revert
    /// (RedTeam H10).
    function _lockAmount(uint256 reward, uint16 maxMiners) internal view returns (uint256) {
        return Math.mulDiv(_cap(reward, maxMiners), deterrenceBps, BPS);
    }

    /// @dev Seats are independent lots, each won with probability s/T: expected seats C x s/T are linear in
    /// stake, so splitting a stake among sybils leaves the expectation unchanged. Stakes are read at the
    /// commit deadline, before the challenge randomness exists, so no one can grind stake against it.
    function _seats(uint256 taskId, ITaskBoard.Task memory t, address validator)
        internal
        view
        returns (uint16 seats)
    {
        bytes32 r = beacon.randomness(t.challengeRound);
        if (r == bytes32(0)) revert ChallengeBeaconMissing(t.challengeRound);
        uint48 asOf = uint48(t.params.commitDeadline);
        uint256 s = stakes.validatorStakeAt(validator, asOf);
        if (s == 0) return 0;
        uint256 total = stakes.totalValidatorStakeAt(asOf);
        for (uint256 i = 0; i < committeeSeatCount; ++i) {
            if (uint256(keccak256(abi.encode(r, taskId, validator, i))) % total < s) ++seats;
        }
    }

    function _recordVerdict(uint256 taskId, Verdict calldata verdict, uint16 seats, uint256 bitmap)
        internal
        returns (uint256)
    {
        address miner = verdict.miner;
        MinerState storage m = _minerStates[taskId][miner];
        if (!m.committed) revert MinerNotCommitted(miner);
        if (verdict.score > MAX_SCORE) revert ScoreOutOfRange(verdict.score);
        Vote vote = verdict.vote;
        bool fail = vote == Vote.FAIL;
        if (vote == Vote.NONE || fail != (verdict.check != Check.NONE)) revert InvalidVote(miner);
        uint256 shift = uint256(m.index) * 2;
        if ((bitmap >> shift) & 3 != 0) revert DuplicateVerdict(miner);
        bitmap |= uint256(uint8(vote)) << shift;

        Tally storage tally = _tallies[taskId][miner];
        if (vote == Vote.PASS) {
            tally.passSeats += seats;
            tally.passScoreSeats += uint64(seats) * verdict.score;
            _countScore(taskId, miner, verdict.score, seats);
        } else if (fail) {
            tally.failSeats += seats;
            tally.failScoreSeats += uint64(seats) * verdict.score;
            if (verdict.check == Check.LOGPROB) _countFailScore(taskId, miner, verdict.score, seats);
        } else {
            tally.unavailableSeats += seats;
        }
        _emitVerdict(taskId, verdict, seats);
        return bitmap;
    }

    /// @dev Seat-weighted mode of the PASS scores; a tie keeps the score that reached the count first. The
    /// mode's count lives in the Audit slot (one write when members agree, the common case); other scores'
    /// counts in _scoreSeats, where a demoted mode leaves its count.
    function _countScore(uint256 taskId, address miner, uint64 score, uint16 seats) internal {
        Audit storage a = _audits[taskId][miner];
        uint32 modeSeats = a.modeSeats;
        if (modeSeats == 0 || score == a.modeScore) {
            a.modeScore = score;
            a.modeSeats = modeSeats + seats;
            return;
        }
        uint256 count = _scoreSeats[taskId][miner][score] + seats;
        if (count > modeSeats) {
            _scoreSeats[taskId][miner][a.modeScore] = modeSeats;
            a.modeScore = score;
            // count <= the committee's seats (<= 64 x members), far below 2^32.
            // forge-lint: disable-next-line(unsafe-typecast)
            a.modeSeats = uint32(count);
        } else {
            _scoreSeats[taskId][miner][score] = count;
        }
    }

    /// @dev The same mode over the scores of the FAIL votes naming LOGPROB, with their seat count.
    function _countFailScore(uint256 taskId, address miner, uint64 score, uint16 seats) internal {
        Audit storage a = _audits[taskId][miner];
        a.logprobFailSeats += seats;
        uint32 modeSeats = a.failModeSeats;
        if (modeSeats == 0 || score == a.failModeScore) {
            a.failModeScore = score;
            a.failModeSeats = modeSeats + seats;
            return;
        }
        uint256 count = _failScoreSeats[taskId][miner][score] + seats;
        if (count > modeSeats) {
            _failScoreSeats[taskId][miner][a.failModeScore] = modeSeats;
            a.failModeScore = score;
            // count <= the committee's seats (<= 64 x members), far below 2^32.
            // forge-lint: disable-next-line(unsafe-typecast)
            a.failModeSeats = uint32(count);
        } else {
            _failScoreSeats[taskId][miner][score] = count;
        }
    }

    function _emitVerdict(uint256 taskId, Verdict calldata verdict, uint16 seats) internal {
        emit VerdictRevealed(
            taskId,
            msg.sender,
            verdict.miner,
            verdict.vote,
            verdict.score,
            verdict.audited,
            verdict.rolloutIndex,
            verdict.position,
            verdict.check,
            seats
        );
    }

    function _voteAt(uint256 bitmap, uint8 index) internal pure returns (Vote) {
        return Vote(uint8((bitmap >> (uint256(index) * 2)) & 3));
    }

    /// @dev The outcome of a committed miner from the seat tallies; R = revealed seats of the committee.
    function _outcome(uint256 taskId, address miner, MinerState storage m, Tally memory tally, uint256 r)
        internal
        view
        returns (Outcome)
    {
        // A proven contradiction needs no vote; it outranks a forced error (whose leaves stay well formed).
        if (m.fraud) return Outcome.FAILED;
        if (m.forced) return Outcome.FORCED;
        // A jury's ruling on a contested miner (FAILED, or UNDECIDED with a FAIL vote) replaces the votes' outcome:
        // PASSED, FAILED or UNDECIDED (PROTOCOL.md 2.10).
        Outcome ruled = _rulings[taskId][miner].outcome;
        if (ruled != Outcome.NONE) return ruled;
        if (!_hasQuorum(r)) return Outcome.NO_QUORUM;
        if (_votedFail(tally, r)) return Outcome.FAILED;
        if (_votedPass(tally, r)) return Outcome.PASSED;
        return Outcome.UNDECIDED;
    }

    function _hasQuorum(uint256 r) internal view returns (bool) {
        return r * BPS >= uint256(quorumBps) * committeeSeatCount;
    }

    /// @dev A forced error is caught when a quorum revealed and the FAIL votes naming LOGPROB (the forced
    /// error's only symptom: its tokens are honest) hold more seats than any coalition below the supermajority's
    /// complement could alone. Only then are its PASS voters penalized, its FAIL voters paid the jackpot and
    /// its miner the obedience bonus: a friend under a third cannot catch it (H4), FAILs on broken openings (STRUCTURE) cannot
    /// frame honest PASS voters (H13), and a committee without a quorum pays no jackpot (H5).
    function _forcedCaught(uint256 taskId, address miner, uint256 r) internal view returns (bool) {
        return _hasQuorum(r)
            && uint256(_audits[taskId][miner].logprobFailSeats) * BPS > (BPS - supermajorityBps) * r;
    }

    /// @dev Whether the revealed votes alone make a FAIL supermajority (a fraud proof fails a miner without
    /// one; a PASS voter is penalized only when the votes failed it, H14).
    function _votedFail(Tally memory tally, uint256 r) internal view returns (bool) {
        return _hasQuorum(r) && uint256(tally.failSeats) * BPS >= uint256(supermajorityBps) * r;
    }

    function _votedPass(Tally memory tally, uint256 r) internal view returns (bool) {
        return _hasQuorum(r) && uint256(tally.passSeats) * BPS >= uint256(supermajorityBps) * r;
    }

    /// @dev The jackpot per caught forced miner: at most the task's per-miner cap, so a tiny task cannot pay
    /// out of the treasury more than a real one would (H5).
    function _jackpotOf(uint256 cap) internal view returns (uint256) {
        return cap < jackpot ? cap : jackpot;
    }

    /// @dev Running totals of finalize's miner loop.
    struct Totals {
        uint256 paid;
        uint256 slashed;
        uint256 undecided; // the caps of NO_QUORUM and UNDECIDED miners (paid nothing: nobody verified them)
        uint256 undecidedMiners; // how many
        uint256 feeSeats; // PASS and FAIL seats on decided miners
        uint256 bounties; // fraud-proof bounties paid out of slashed locks
        uint256 noShow; // what a NO_COMMIT miner forfeits
        uint256 bonus; // obedience bonus per caught forced miner
        uint256 bonuses; // obedience bonuses paid out of the validator pool
    }

    /// @dev Sets every joined miner's outcome, score, payment and slash, and the fee denominator (PASS and FAIL
    /// seats on decided miners); O(miners), no external calls. Returns the undecided miners' caps and count.
    function _decideMiners(uint256 taskId, TaskSettlement storage ts, uint16 maxMiners)
        internal
        returns (uint256, uint256)
    {
        address[] storage miners = _miners[taskId];
        Totals memory sum;
        sum.noShow = _noShowPenalty(ts.cap);
        // Paid out of the task's own validator pool, never more than its per-slot part, so obeying always pays
        // more than ignoring, whatever the treasury holds (H17), and no task can pay more than it escrowed (H5).
        uint256 perSlot = ts.validatorPool / maxMiners;
        uint256 bonus = _jackpotOf(ts.cap) / committeeSeatCount;
        sum.bonus = bonus < perSlot ? bonus : perSlot;
        for (uint256 i = 0; i < miners.length; ++i) {
            _decideMiner(taskId, miners[i], ts.revealedSeats, ts.cap, sum);
        }
        ts.validatorPool -= sum.bonuses;
        ts.minerPaid = sum.paid;
        ts.slashed = sum.slashed;
        ts.decisiveSeatVotes = uint64(sum.feeSeats);
        if (sum.slashed != 0) _treasuryIn(sum.slashed - sum.bounties);
        return (sum.undecided, sum.undecidedMiners);
    }

    function _decideMiner(uint256 taskId, address miner, uint256 r, uint256 cap, Totals memory sum) internal {
        MinerState storage m = _minerStates[taskId][miner];
        if (!m.committed) {
            m.outcome = Outcome.NO_COMMIT;
            // A slot held without a commitment kept an honest miner out (TaskFull): it costs the base share
            // (H2).
            uint256 penalty = sum.noShow < m.locked ? sum.noShow : m.locked;
            m.slashed = penalty;
            sum.slashed += penalty;
        } else {
            Tally memory tally = _tallies[taskId][miner];
            Outcome outcome = _outcome(taskId, miner, m, tally, r);
            m.outcome = outcome;
            if (_decided(outcome)) sum.feeSeats += uint256(tally.passSeats) + tally.failSeats;
            if (outcome == Outcome.FAILED) {
                m.slashed = m.locked;
                sum.slashed += m.locked;
                if (m.fraud) sum.bounties += _payProver(taskId, miner, m.locked);
            } else {
                (bool payable_, uint64 score) = _scoreOf(taskId, miner, outcome, tally, r);
                uint256 paid = payable_
                    ? Math.mulDiv(
                        cap, baseShareBps * uint256(MAX_SCORE) + (BPS - baseShareBps) * score, BPS * MAX_SCORE
                    )
                    : 0;
                m.score = score;
                m.paid = paid;
                sum.paid += paid;
                if (!_decided(outcome)) {
                    sum.undecided += cap;
                    ++sum.undecidedMiners;
                }
                _credit(miner, taskId, paid);
                if (outcome == Outcome.FORCED && _forcedCaught(taskId, miner, r)) {
                    _payObedience(taskId, miner, m, sum);
                }
            }
        }
        emit MinerSettled(taskId, miner, m.outcome, m.score, m.paid, m.slashed);
    }

    /// @dev The prover of a fraud is paid min(jackpot, lock / 2) out of the slashed lock: proving one's own
    /// fraud always loses at least half the lock, so the bounty cannot be farmed.
    function _payProver(uint256 taskId, address miner, uint256 locked) internal returns (uint256 bounty) {
        bounty = locked / 2 < jackpot ? locked / 2 : jackpot;
        _credit(_fraudProvers[taskId][miner], taskId, bounty);
    }

    /// @dev PASSED, FAILED and FORCED are decisions; the committee earns fees only for votes on those.
    function _decided(Outcome outcome) internal pure returns (bool) {
        return outcome == Outcome.PASSED || outcome == Outcome.FAILED || outcome == Outcome.FORCED;
    }

    /// @dev A forced miner whose wrong commitment the committee caught earns min(jackpot, cap) / C, at most the
    /// validator pool's per-slot part, out of the task's validator pool on top of its pay, so obeying the forced
    /// error is strictly better than ignoring it, whatever the treasury holds.
    function _payObedience(uint256 taskId, address miner, MinerState storage m, Totals memory sum) internal {
        uint256 bonus = sum.bonus;
        if (bonus == 0) return;
        sum.bonuses += bonus;
        m.paid += bonus;
        _credit(miner, taskId, bonus);
    }

    /// @dev Whether a miner is paid, and its score. PASSED: the seat-weighted mode of the PASS scores (H15).
    /// FORCED and caught: the mode of the LOGPROB FAIL votes' scores (its tokens are honest; the committee
    /// scored them); FORCED, not caught, passed by a supermajority: the PASS mode (it did the work, H4); any other
    /// FORCED miner (junk, H3) is paid nothing. NO_QUORUM and UNDECIDED: nothing, since nobody verified the
    /// work (H1, H16); their caps are burned, neither refunded to the proposer nor paid into the treasury.
    function _scoreOf(uint256 taskId, address miner, Outcome outcome, Tally memory tally, uint256 r)
        internal
        view
        returns (bool, uint64)
    {
        Audit storage a = _audits[taskId][miner];
        if (outcome == Outcome.PASSED) {
            Ruling storage ruling = _rulings[taskId][miner];
            return (true, ruling.outcome == Outcome.PASSED ? ruling.score : a.modeScore);
        }
        if (outcome == Outcome.FORCED) {
            if (_forcedCaught(taskId, miner, r)) return (true, a.failModeScore);
            if (_votedPass(tally, r)) return (true, a.modeScore);
        }
        return (false, 0);
    }

    /// @dev What a NO_COMMIT miner forfeits of its lock: the base share of its cap.
    function _noShowPenalty(uint256 cap) internal view returns (uint256) {
        return Math.mulDiv(cap, baseShareBps, BPS);
    }

    /// @dev Releases every lock, or slashes it to this contract (the treasury) for a FAILED miner.
    function _settleLocks(uint256 taskId) internal {
        address[] storage miners = _miners[taskId];
        for (uint256 i = 0; i < miners.length; ++i) {
            MinerState storage m = _minerStates[taskId][miners[i]];
            if (m.locked == 0) continue;
            if (m.slashed != 0) stakes.slash(miners[i], MINER, m.slashed, address(this));
            if (m.locked > m.slashed) stakes.unlock(miners[i], MINER, m.locked - m.slashed);
        }
    }

    /// @dev A revealed member is penalized for a PASS on a miner the votes or a jury FAILED (not one only a fraud
    /// proof failed: no audit sample shows that leaf, H14) or on a caught FORCED one, or a FAIL on a PASSED miner.
    /// Returns that, its PASS and FAIL votes on decided miners (its fee weight per seat) and its FAIL votes on
    /// caught FORCED miners (jackpots).
    function _judge(uint256 taskId, TaskSettlement storage ts, ValidatorState storage v)
        internal
        view
        returns (bool penalized, uint32 decided, uint256 forcedFails)
    {
        address[] storage miners = _miners[taskId];
        uint256 votes = v.votes;
        uint256 r = ts.revealedSeats;
        for (uint256 i = 0; i < miners.length; ++i) {
            MinerState storage m = _minerStates[taskId][miners[i]];
            Vote vote = _voteAt(votes, m.index);
            if (vote == Vote.NONE || vote == Vote.UNAVAILABLE) continue;
            Outcome outcome = m.outcome;
            if (!_decided(outcome)) continue;
            ++decided;
            (bool wrong, bool jackpotVote) = _judgeVote(taskId, miners[i], outcome, vote == Vote.PASS, r);
            if (wrong) penalized = true;
            if (jackpotVote) ++forcedFails;
        }
    }

    /// @dev One vote on a decided miner: whether it is penalized, and whether it is a FAIL on a caught forced
    /// error (a jackpot share).
    function _judgeVote(uint256 taskId, address miner, Outcome outcome, bool pass, uint256 r)
        internal
        view
        returns (bool wrong, bool jackpotVote)
    {
        bool caught = outcome == Outcome.FORCED && _forcedCaught(taskId, miner, r);
        if (pass) {
            // A jury that upheld the named evidence shows the PASS wrong as the votes would (not a fraud proof,
            // which may show an unsampled leaf: H14).
            wrong = caught
                || (outcome == Outcome.FAILED
                    && (_votedFail(_tallies[taskId][miner], r)
                        || (_rulings[taskId][miner].outcome == Outcome.FAILED
                            && !_minerStates[taskId][miner].fraud)));
        } else {
            // A FAIL on a forced miner that was not caught is neither paid nor penalized: when lazy members
            // hold the PASS supermajority, the auditors' FAILs are right and must not cost them their bonds.
            jackpotVote = caught;
            wrong = outcome == Outcome.PASSED;
        }
    }

    function _treasuryIn(uint256 amount) internal {
        treasury += amount;
        emit TreasuryChanged(SafeCast.toInt256(amount), treasury);
    }

    function _treasuryOut(uint256 amount) internal {
        treasury -= amount;
        emit TreasuryChanged(-SafeCast.toInt256(amount), treasury);
    }

    function _credit(address who, uint256 taskId, uint256 amount) internal {
        if (amount == 0) return;
        claimable[who] += amount;
        emit Credited(who, taskId, amount);
    }
}
