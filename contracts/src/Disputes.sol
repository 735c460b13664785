// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IDisputes} from "./interfaces/IDisputes.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {IStakeManager} from "./interfaces/IStakeManager.sol";
import {ITaskBoard} from "./interfaces/ITaskBoard.sol";
import {IDrandBeacon} from "./interfaces/IDrandBeacon.sol";

/// @dev The wiring Settlement exposes as public immutables; Disputes takes it from there so it cannot differ.
interface ISettlementWiring {
    function token() external view returns (address);
    function stakes() external view returns (IStakeManager);
    function board() external view returns (ITaskBoard);
    function beacon() external view returns (IDrandBeacon);
}

/// @title Disputes
/// @notice PROTOCOL.md 2.10. Fraud proofs settle on chain what a committed leaf shows by itself; model checks go
/// to a second committee: a miner the FAIL votes (each naming rolloutIndex, position and check) FAILED, or left
/// UNDECIDED with a quorum, disputes with a deposit of one task lock; 2C lots drawn by the first beacon round after
/// the dispute deadline, weighted by validator stake at the verify deadline among all validators but the task's
/// miners, re-audit exactly the named evidence and rule by commit-reveal with a bond per seat. UPHELD: the miner
/// is FAILED, the deposit joins the slash and Settlement takes the first committee's PASS voters' bonds.
/// OVERTURNED: the miner is PASSED (Settlement then takes the first committee's FAIL voters' bonds) and its
/// deposit comes back less the jurors' fee. Without a quorum or a supermajority the miner is UNDECIDED (never
/// slashed, not paid) and the whole deposit comes back. Deposits, bonds and fees are plain tokens held here;
/// everything forfeited goes to Settlement's treasury. Settlement.finalize waits only for tasks with a
/// contestable miner (checkFinalizable).
contract Disputes is IDisputes, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint8 internal constant VALIDATOR = 1;
    uint256 internal constant BPS = 10_000;
    uint64 internal constant MAX_SCORE = 1_000_000;

    ISettlement public immutable settlement;
    IERC20 internal immutable _token;
    IStakeManager public immutable stakes;
    ITaskBoard public immutable board;
    IDrandBeacon public immutable beacon;

    uint64 public immutable disputeWindow;
    uint64 public immutable commitWindow;
    uint64 public immutable revealWindow;
    uint16 public immutable jurorFeeBps;
    /// @inheritdoc IDisputes
    uint16 public immutable jurySeats;
    uint16 internal immutable _firstSeats;
    uint16 internal immutable _quorumBps;
    uint16 internal immutable _supermajorityBps;
    uint256 internal immutable _bondPerSeat;

    mapping(uint256 taskId => mapping(address miner => Dispute)) internal _disputes;
    mapping(uint256 taskId => mapping(address miner => mapping(address juror => Juror))) internal _jurors;
    mapping(uint256 taskId => mapping(address miner => address[])) internal _jurorLists;
    mapping(uint256 taskId => mapping(address miner => mapping(uint64 score => uint256))) internal
        _scoreSeats;
    mapping(uint256 taskId => uint256) internal _open;

    /// @param settlement_ The Settlement (its setDisputes must name this contract); token, StakeManager, TaskBoard
    /// and beacon are read from it.
    /// @param params_ The deploy parameters (PROTOCOL.md 2.10), each checked here.
    constructor(ISettlement settlement_, Params memory params_) {
        if (address(settlement_) == address(0)) revert ZeroAddress();
        ISettlementWiring w = ISettlementWiring(address(settlement_));
        settlement = settlement_;
        _token = IERC20(w.token());
        stakes = w.stakes();
        board = w.board();
        beacon = w.beacon();
        if (board.beacon() != address(beacon) || stakes.token() != address(_token)) {
            revert MismatchedWiring();
        }
        if (params_.disputeWindow == 0) revert InvalidParam("disputeWindow", 0);
        // The jury's round comes at most BEACON_LAG plus one period after the dispute deadline; the audit needs its
        // time after it.
        uint256 minCommit = uint256(beacon.period()) + board.BEACON_LAG() + board.minAuditTime();
        if (params_.commitWindow < minCommit) revert InvalidParam("commitWindow", params_.commitWindow);
        if (params_.revealWindow < board.MIN_REVEAL_WINDOW()) {
            revert InvalidParam("revealWindow", params_.revealWindow);
        }
        if (params_.jurorFeeBps > BPS) revert InvalidParam("jurorFeeBps", params_.jurorFeeBps);
        disputeWindow = params_.disputeWindow;
        commitWindow = params_.commitWindow;
        revealWindow = params_.revealWindow;
        jurorFeeBps = params_.jurorFeeBps;
        ISettlement.Params memory p = settlement_.params();
        _firstSeats = p.committeeSeats;
        jurySeats = 2 * p.committeeSeats;
        _quorumBps = p.quorumBps;
        _supermajorityBps = p.supermajorityBps;
        _bondPerSeat = p.validatorBond;
    }

    // ------------------------------------------------------------ fraud proofs

    /// @inheritdoc IDisputes
    function proveFraud(
        uint256 taskId,
        address miner,
        ISettlement.Leaf calldata leaf,
        bytes32[] calldata proof
    ) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        ISettlement.MinerState memory m = settlement.minerState(taskId, miner);
        if (!m.committed) revert MinerNotCommitted(miner);
        if (m.fraud) revert FraudAlreadyProven(miner);
        if (!MerkleProof.verifyCalldata(proof, m.root, leafHash(leaf))) revert InvalidLeafProof(miner);
        ISettlement.Fraud fraud = _contradiction(taskId, miner, t.params, leaf);
        if (fraud == ISettlement.Fraud.NONE) revert NotFraud();
        emit FraudProven(taskId, miner, msg.sender, fraud);
        settlement.recordFraud(taskId, miner, msg.sender);
    }

    // ---------------------------------------------------------------- disputes

    /// @inheritdoc IDisputes
    function dispute(uint256 taskId) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        Windows memory w = _windows(t);
        _checkWindow(t.params.verifyDeadline, w.disputeDeadline);
        Dispute storage d = _disputes[taskId][msg.sender];
        if (d.ruling != Ruling.NONE) revert AlreadyDisputed(msg.sender);
        ISettlement.MinerState memory m = settlement.minerState(taskId, msg.sender);
        if (!m.committed) revert MinerNotCommitted(msg.sender);
        if (m.fraud) revert NoModelEvidence(msg.sender);
        if (m.forced || !_contested(taskId, msg.sender, _revealedSeats(taskId))) {
            revert NotFailed(msg.sender);
        }

        d.ruling = Ruling.OPEN;
        d.deposit = m.locked;
        _open[taskId] += 1;
        emit Disputed(taskId, msg.sender, m.locked, w.round);
        if (m.locked != 0) _token.safeTransferFrom(msg.sender, address(this), m.locked);
    }

    /// @inheritdoc IDisputes
    function commitRuling(uint256 taskId, address miner, bytes32 rulingHash_) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        Windows memory w = _windows(t);
        _checkWindow(w.disputeDeadline, w.commitDeadline);
        if (_disputes[taskId][miner].ruling != Ruling.OPEN) revert NoDispute(miner);
        if (rulingHash_ == bytes32(0)) revert ZeroRulingHash();
        Juror storage j = _jurors[taskId][miner][msg.sender];
        if (j.commitHash != bytes32(0)) revert RulingAlreadyCommitted(msg.sender);
        if (!stakes.isStaked(msg.sender, VALIDATOR)) revert JurorNotStaked(msg.sender);
        uint16 seats = _seatsOf(taskId, w, miner, msg.sender);
        if (seats == 0) revert NotOnJury(taskId, miner, msg.sender);

        uint256 bond = _bondPerSeat * seats;
        j.commitHash = rulingHash_;
        j.seats = seats;
        j.bond = bond;
        _jurorLists[taskId][miner].push(msg.sender);
        _disputes[taskId][miner].jurors += 1;
        emit RulingCommitted(taskId, miner, msg.sender, rulingHash_, seats, bond);
        _token.safeTransferFrom(msg.sender, address(this), bond);
    }

    /// @inheritdoc IDisputes
    function revealRuling(uint256 taskId, address miner, bool overturn, uint64 score, bytes32 salt) external {
        ITaskBoard.Task memory t = _openTask(taskId);
        Windows memory w = _windows(t);
        _checkWindow(w.commitDeadline, w.revealDeadline);
        Juror storage j = _jurors[taskId][miner][msg.sender];
        if (j.commitHash == bytes32(0)) revert NoRulingCommitted(msg.sender);
        if (j.revealed) revert RulingAlreadyRevealed(msg.sender);
        bytes32 got = rulingHash(taskId, miner, msg.sender, overturn, score, salt);
        if (got != j.commitHash) revert RulingMismatch(j.commitHash, got);
        if (score > MAX_SCORE) revert ScoreOutOfRange(score);

        uint16 seats = j.seats;
        j.revealed = true;
        j.overturn = overturn;
        j.score = score;
        Dispute storage d = _disputes[taskId][miner];
        d.revealedSeats += seats;
        if (overturn) {
            d.overturnSeats += seats;
            _countScore(taskId, miner, d, score, seats);
        } else {
            d.upholdSeats += seats;
        }
        emit RulingRevealed(taskId, miner, msg.sender, overturn, score, seats);
    }

    /// @inheritdoc IDisputes
    function resolve(uint256 taskId, address miner) external nonReentrant {
        ITaskBoard.Task memory t = _openTask(taskId);
        Windows memory w = _windows(t);
        if (block.timestamp <= w.revealDeadline) {
            revert OutsideWindow(uint64(block.timestamp), w.revealDeadline, type(uint64).max);
        }
        Dispute storage d = _disputes[taskId][miner];
        if (d.ruling == Ruling.NONE) revert NoDispute(miner);
        if (d.ruling != Ruling.OPEN) revert AlreadyResolved(miner);

        // A fraud proof that landed meanwhile shows on chain that the miner cheated: the FAIL stands.
        Ruling ruling = settlement.minerState(taskId, miner).fraud ? Ruling.UPHELD : _rule(d);
        uint256 winningSeats =
            ruling == Ruling.OVERTURNED ? d.overturnSeats : ruling == Ruling.UPHELD ? d.upholdSeats : 0;
        uint256 deposit = d.deposit;
        // The winning seats share the fee whichever way they ruled, so the fee cannot bias the ruling.
        uint256 fee = winningSeats == 0 ? 0 : Math.mulDiv(deposit, jurorFeeBps, BPS);
        uint256 perSeat = winningSeats == 0 ? 0 : fee / winningSeats;
        // UPHELD: the deposit less the fee joins the slash; otherwise it comes back less the fee (all of it when
        // no committee ruled). The fee's rounding dust goes to the treasury.
        uint256 returned = ruling == Ruling.UPHELD ? 0 : deposit - fee;
        uint256 toTreasury = deposit - perSeat * winningSeats - returned;
        d.ruling = ruling;
        d.feePerSeat = perSeat;
        _open[taskId] -= 1;
        emit DisputeResolved(taskId, miner, ruling, d.modeScore, returned, toTreasury);

        // Every ruling is recorded: UPHELD must FAIL a miner the votes only left UNDECIDED (PROTOCOL.md 2.10).
        if (ruling == Ruling.OVERTURNED) {
            settlement.recordRuling(taskId, miner, ISettlement.Outcome.PASSED, d.modeScore);
        } else {
            settlement.recordRuling(
                taskId,
                miner,
                ruling == Ruling.UPHELD ? ISettlement.Outcome.FAILED : ISettlement.Outcome.UNDECIDED,
                0
            );
        }
        if (returned != 0) _token.safeTransfer(miner, returned);
        _toTreasury(toTreasury);
    }

    /// @inheritdoc IDisputes
    function settleJuror(uint256 taskId, address miner, address juror) external nonReentrant {
        Dispute storage d = _disputes[taskId][miner];
        Ruling ruling = d.ruling;
        if (ruling == Ruling.NONE) revert NoDispute(miner);
        if (ruling == Ruling.OPEN) revert NotResolved(miner);
        Juror storage j = _jurors[taskId][miner][juror];
        if (j.commitHash == bytes32(0)) revert NoRulingCommitted(juror);
        if (j.settled) revert JurorAlreadySettled(juror);

        bool ruled = ruling == Ruling.UPHELD || ruling == Ruling.OVERTURNED;
        bool winner = ruled && j.revealed && j.overturn == (ruling == Ruling.OVERTURNED);
        // A juror that never revealed, or ruled against the committee's ruling, loses its bond.
        bool penalized = !j.revealed || (ruled && !winner);
        uint256 paid = penalized ? 0 : j.bond + (winner ? d.feePerSeat * j.seats : 0);
        uint256 forfeited = penalized ? j.bond : 0;
        j.settled = true;
        j.penalized = penalized;
        emit JurorSettled(taskId, miner, juror, penalized, paid, forfeited);
        if (paid != 0) _token.safeTransfer(juror, paid);
        _toTreasury(forfeited);
    }

    // ------------------------------------------------------------------- views

    /// @inheritdoc IDisputes
    function checkFinalizable(uint256 taskId) external view {
        uint256 open = _open[taskId];
        if (open != 0) revert DisputeOpen(taskId, open);
        ITaskBoard.Task memory t = board.getTask(taskId);
        uint64 deadline = t.params.verifyDeadline + disputeWindow;
        if (block.timestamp > deadline) return;
        // Only a task with a contestable miner (FAIL votes and no PASS supermajority) that may still dispute waits:
        // every other task finalizes right after its verify deadline (PROTOCOL.md 2.10, latency).
        address[] memory miners = settlement.getMiners(taskId);
        uint256 r = _revealedSeats(taskId);
        for (uint256 i = 0; i < miners.length; ++i) {
            if (_disputable(taskId, miners[i], r)) revert DisputeWindowOpen(taskId, deadline);
        }
    }

    /// @inheritdoc IDisputes
    function canDispute(uint256 taskId, address miner) external view returns (bool) {
        ITaskBoard.Task memory t = board.getTask(taskId);
        if (t.status != ITaskBoard.TaskStatus.OPEN) return false;
        uint64 deadline = t.params.verifyDeadline + disputeWindow;
        if (block.timestamp <= t.params.verifyDeadline || block.timestamp > deadline) return false;
        return _disputable(taskId, miner, _revealedSeats(taskId));
    }

    /// @inheritdoc IDisputes
    function jurorSeats(uint256 taskId, address miner, address juror) external view returns (uint16) {
        return _seatsOf(taskId, _windows(board.getTask(taskId)), miner, juror);
    }

    /// @inheritdoc IDisputes
    function rulingHash(
        uint256 taskId,
        address miner,
        address juror,
        bool overturn,
        uint64 score,
        bytes32 salt
    ) public pure returns (bytes32) {
        return keccak256(abi.encode(taskId, miner, juror, overturn, score, salt));
    }

    /// @inheritdoc IDisputes
    function leafHash(ISettlement.Leaf calldata leaf) public pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        leaf.taskId,
                        leaf.miner,
                        leaf.p,
                        leaf.g,
                        leaf.tokensHash,
                        leaf.logprobsHash,
                        leaf.claimedReward
                    )
                )
            )
        );
    }

    /// @inheritdoc IDisputes
    function verifyLeaf(uint256 taskId, address miner, bytes32[] calldata proof, bytes32 leaf)
        external
        view
        returns (bool)
    {
        ISettlement.MinerState memory m = settlement.minerState(taskId, miner);
        if (!m.committed) return false;
        return MerkleProof.verifyCalldata(proof, m.root, leaf);
    }

    /// @inheritdoc IDisputes
    function windows(uint256 taskId) external view returns (Windows memory) {
        return _windows(board.getTask(taskId));
    }

    /// @inheritdoc IDisputes
    function disputeOf(uint256 taskId, address miner) external view returns (Dispute memory) {
        return _disputes[taskId][miner];
    }

    /// @inheritdoc IDisputes
    function jurorOf(uint256 taskId, address miner, address juror) external view returns (Juror memory) {
        return _jurors[taskId][miner][juror];
    }

    /// @inheritdoc IDisputes
    function getJurors(uint256 taskId, address miner) external view returns (address[] memory) {
        return _jurorLists[taskId][miner];
    }

    /// @inheritdoc IDisputes
    function openDisputes(uint256 taskId) external view returns (uint256) {
        return _open[taskId];
    }

    /// @inheritdoc IDisputes
    function params() external view returns (Params memory) {
        return Params({
            disputeWindow: disputeWindow,
            commitWindow: commitWindow,
            revealWindow: revealWindow,
            jurorFeeBps: jurorFeeBps
        });
    }

    /// @notice The ERC20 of deposits and bonds (Settlement's).
    function token() external view returns (address) {
        return address(_token);
    }

    // ---------------------------------------------------------------- internal

    function _openTask(uint256 taskId) internal view returns (ITaskBoard.Task memory t) {
        t = board.getTask(taskId);
        if (t.status != ITaskBoard.TaskStatus.OPEN) revert TaskNotOpen(taskId);
    }

    /// @dev Windows are (start, end].
    function _checkWindow(uint64 start, uint64 end) internal view {
        uint64 nowTime = uint64(block.timestamp);
        if (nowTime <= start || nowTime > end) revert OutsideWindow(nowTime, start, end);
    }

    /// @dev One round per task draws every jury: it comes after the last dispute, and the stakes it weighs are
    /// those at the verify deadline, before any dispute and before its randomness exists, so no one can grind
    /// stake against it. It is the first round after disputeDeadline + BEACON_LAG, as TaskBoard's seed and
    /// challenge rounds are: a dispute in a block stamped disputeDeadline but sealed late (up to a slot) must not
    /// be able to see its jury and dispute only when the draw favours it (RedTeam H18).
    function _windows(ITaskBoard.Task memory t) internal view returns (Windows memory w) {
        w.verifyDeadline = t.params.verifyDeadline;
        w.disputeDeadline = t.params.verifyDeadline + disputeWindow;
        w.round = board.roundAt(w.disputeDeadline + board.BEACON_LAG()) + 1;
        w.commitDeadline = w.disputeDeadline + commitWindow;
        w.revealDeadline = w.commitDeadline + revealWindow;
    }

    function _revealedSeats(uint256 taskId) internal view returns (uint256) {
        return settlement.taskSettlement(taskId).revealedSeats;
    }

    /// @dev Contested by the votes (PROTOCOL.md 2.10): a quorum of the C seats revealed, some FAIL vote names
    /// evidence, and PASS does not hold the supermajority, i.e. Settlement's FAILED or an UNDECIDED with a FAIL. A
    /// coalition between a third and two thirds of the seats that FAILs an honest miner leaves it UNDECIDED; were
    /// that not disputable, the FAILs would cost nothing and save the audit (SECURITY.md 3.7).
    function _contested(uint256 taskId, address miner, uint256 r) internal view returns (bool) {
        ISettlement.Tally memory tally = settlement.tallyOf(taskId, miner);
        return r * BPS >= uint256(_quorumBps) * _firstSeats && tally.failSeats != 0
            && uint256(tally.passSeats) * BPS < uint256(_supermajorityBps) * r;
    }

    /// @dev Not yet disputed, contested by the votes (the cheap tally read first), not forced, no fraud proof.
    function _disputable(uint256 taskId, address miner, uint256 r) internal view returns (bool) {
        if (_disputes[taskId][miner].ruling != Ruling.NONE) return false;
        if (!_contested(taskId, miner, r)) return false;
        ISettlement.MinerState memory m = settlement.minerState(taskId, miner);
        return !m.fraud && !m.forced;
    }

    /// @dev 2C independent lots per dispute, each won with probability s/T (sybil-neutral, as the first
    /// committee); the miner's own dispute and committee are domain-separated by the round and the miner address.
    function _seatsOf(uint256 taskId, Windows memory w, address miner, address juror)
        internal
        view
        returns (uint16 seats)
    {
        bytes32 r = beacon.randomness(w.round);
        if (r == bytes32(0)) revert DisputeBeaconMissing(w.round);
        // Nobody judges a task it mined. Every validator, first-committee member or not, FAIL or PASS voter, sits
        // by its stake: any exclusion by vote hands the jury to the side that did not vote that way (a shield of
        // PASS voters, or a framing coalition's undrawn sybils; SECURITY.md 3.7), so a coalition's share of the
        // jury is its share of the stake, however it splits or votes.
        if (settlement.minerState(taskId, juror).joined) return 0;
        uint48 asOf = uint48(w.verifyDeadline);
        uint256 s = stakes.validatorStakeAt(juror, asOf);
        if (s == 0) return 0;
        uint256 total = stakes.totalValidatorStakeAt(asOf);
        for (uint256 i = 0; i < jurySeats; ++i) {
            if (uint256(keccak256(abi.encode(r, taskId, miner, juror, i))) % total < s) ++seats;
        }
    }

    /// @dev Quorum of the 2C seats, then a supermajority of the revealed seats; anything else is no ruling.
    function _rule(Dispute storage d) internal view returns (Ruling) {
        uint256 revealed = d.revealedSeats;
        if (revealed * BPS < uint256(_quorumBps) * jurySeats) return Ruling.UNRESOLVED;
        if (uint256(d.overturnSeats) * BPS >= uint256(_supermajorityBps) * revealed) {
            return Ruling.OVERTURNED;
        }
        if (uint256(d.upholdSeats) * BPS >= uint256(_supermajorityBps) * revealed) return Ruling.UPHELD;
        return Ruling.UNRESOLVED;
    }

    /// @dev Seat-weighted mode of the overturn votes' scores (what an OVERTURNED miner is paid on); a tie keeps
    /// the score that reached the count first, so a minority cannot move it (as Settlement's PASS mode).
    function _countScore(uint256 taskId, address miner, Dispute storage d, uint64 score, uint16 seats)
        internal
    {
        uint256 count = _scoreSeats[taskId][miner][score] + seats;
        _scoreSeats[taskId][miner][score] = count;
        if (count > d.modeSeats) {
            d.modeScore = score;
            // count <= 2C x jurors, far below 2^32.
            // forge-lint: disable-next-line(unsafe-typecast)
            d.modeSeats = uint32(count);
        }
    }

    function _contradiction(
        uint256 taskId,
        address miner,
        ITaskBoard.TaskParams memory p,
        ISettlement.Leaf calldata leaf
    ) internal pure returns (ISettlement.Fraud) {
        if (leaf.taskId != taskId) return ISettlement.Fraud.WRONG_TASK;
        if (leaf.miner != miner) return ISettlement.Fraud.WRONG_MINER;
        if (leaf.p >= p.numProblems) return ISettlement.Fraud.PROBLEM_OUT_OF_RANGE;
        if (leaf.g >= p.rolloutsPerProblem) return ISettlement.Fraud.ROLLOUT_OUT_OF_RANGE;
        if (leaf.claimedReward > MAX_SCORE) return ISettlement.Fraud.REWARD_ABOVE_ONE;
        return ISettlement.Fraud.NONE;
    }

    /// @dev Forfeits and the treasury's part of a deposit go to Settlement's treasury (which pays jackpots), never
    /// to the jurors or parties whose votes caused them.
    function _toTreasury(uint256 amount) internal {
        if (amount == 0) return;
        _token.forceApprove(address(settlement), amount);
        settlement.fundTreasury(amount);
    }
}
