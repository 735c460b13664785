// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Vm, Assertions, Log} from "./utils/Vm.sol";
import {RollToken} from "../src/RollToken.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {Settlement} from "../src/Settlement.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {Disputes} from "../src/Disputes.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";

/// @dev Drives whole tasks with fuzzed order and timing: posts, joins, commits, forced-error reveals,
/// committee commit/reveal, disputes (dispute, juror commit/reveal, resolve, settleJuror), finalize,
/// settleValidator, claims, stake moves and time. Miners 0..2 are honest (a forced one obeys and reveals, and
/// a contested one disputes), miner 3 cheats (and disputes frivolously at random). Validators 0..2 audit
/// honestly, 3 and 4 collude and vote FAIL on everyone, 5 is lazy and votes PASS on everyone. Jurors 0 and 1
/// re-audit honestly, juror 2 always upholds; they stake as validators between a task's commit and verify
/// deadlines (so they hold no first-committee seat and sit on its juries) and request unstake afterwards.
/// Beacons are recorded only once their round's time has come, as on drand. Ghost variables record what the
/// invariants need.
contract Handler is Assertions {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    uint8 internal constant MINER = 0;
    uint8 internal constant VALIDATOR = 1;
    uint256 internal constant NUM_MINERS = 4;
    uint256 internal constant NUM_VALIDATORS = 6;
    uint256 internal constant CHEATER = 3;
    uint256 internal constant NUM_JURORS = 3;
    uint256 internal constant UPHOLDER = 2; // the juror that always upholds
    // Jury members: the jurors, then the validators (a first-committee member judges every miner it did not FAIL).
    uint256 internal constant NUM_JURY = NUM_JURORS + NUM_VALIDATORS;
    uint256 internal constant JUROR_STAKE = 200e18;
    /// @dev The Fixture's dispute window: a task with a FAILED miner finalizes only after it (nobody disputes here).
    uint64 internal constant DISPUTE_WINDOW = 20;

    RollToken public token;
    StakeManager public stakes;
    TaskBoard public board;
    Settlement public settlement;
    DrandBeacon public beacon;
    Disputes public disputes;
    string internal devnetJson;

    address[] public actors; // miners, then validators, then the proposer, then the jurors
    address public proposer;
    uint256[] public tasks;

    mapping(address => uint256) public ghostCredited;
    mapping(address => uint256) public ghostClaimed;
    uint256 public ghostSlashOverLock;
    uint256 public ghostHonestFailedWithColludersUnderAThird;
    uint256 public ghostHonestSlashed;
    uint256 public ghostFinalized;
    uint256 public ghostCheaterSlashes;
    uint256 public ghostForced;
    uint256 public ghostBurnMismatch;
    uint256 public ghostTreasuryFedByFinalize;
    /// @dev What Disputes must hold: open deposits and unsettled jurors' bonds.
    uint256 public ghostDisputesHeld;
    uint256 public ghostDisputes;
    uint256 public ghostOverturned;
    uint256 public ghostUpheld;
    mapping(uint256 taskId => mapping(address validator => ISettlement.Verdict[])) internal _verdicts;

    constructor(
        RollToken token_,
        StakeManager stakes_,
        TaskBoard board_,
        Settlement settlement_,
        DrandBeacon beacon_,
        Disputes disputes_,
        string memory devnetJson_
    ) {
        token = token_;
        stakes = stakes_;
        board = board_;
        settlement = settlement_;
        beacon = beacon_;
        disputes = disputes_;
        devnetJson = devnetJson_;
        for (uint256 i = 0; i < NUM_MINERS + NUM_VALIDATORS; ++i) {
            actors.push(address(uint160(0x1000 + i)));
        }
        proposer = address(0x2000);
        actors.push(proposer);
        for (uint256 i = 0; i < NUM_JURORS; ++i) {
            actors.push(address(uint160(0x3000 + i)));
        }
    }

    function juror(uint256 i) public view returns (address) {
        return actors[NUM_MINERS + NUM_VALIDATORS + 1 + i];
    }

    /// @dev Jury member k: juror k, then validator k - NUM_JURORS.
    function juryMember(uint256 k) public view returns (address) {
        return k < NUM_JURORS ? juror(k) : validator(k - NUM_JURORS);
    }

    function miner(uint256 i) public view returns (address) {
        return actors[i];
    }

    function validator(uint256 i) public view returns (address) {
        return actors[NUM_MINERS + i];
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function taskCount() external view returns (uint256) {
        return tasks.length;
    }

    function secretOf(uint256 taskId, address who) public pure returns (bytes32) {
        return keccak256(abi.encode("invariant secret", taskId, who));
    }

    function _pickTask(uint256 seed)
        internal
        view
        returns (bool ok, uint256 taskId, ITaskBoard.Task memory t)
    {
        if (tasks.length == 0) {
            return (false, 0, t);
        }
        taskId = tasks[seed % tasks.length];
        t = board.getTask(taskId);
        ok = t.status == ITaskBoard.TaskStatus.OPEN;
    }

    // ---------------------------------------------------------------- actions

    function warp(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 30));
    }

    function _tick() internal {
        vm.warp(block.timestamp + 1);
    }

    function post(uint256 rewardSeed, uint256 shapeSeed) external {
        _tick();
        _post(rewardSeed, shapeSeed);
    }

    /// A whole task in one step: random miners join and commit, random validators commit and reveal at random
    /// times inside their windows, forced miners reveal, contested miners dispute and the jurors rule, then
    /// finalize and settle every member.
    function lifecycle(uint256 seed) external {
        uint256 taskId = _post(seed, seed >> 8);
        if (taskId == 0) return;
        ITaskBoard.Task memory t = board.getTask(taskId);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            if ((seed >> (16 + i)) & 1 == 1) _join(taskId, t, i);
        }
        vm.warp(t.params.joinDeadline + 1);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            if ((seed >> (20 + i)) & 1 == 1) _commit(taskId, t, i);
        }
        uint64 opens = board.roundTime(t.challengeRound);
        vm.warp(opens + (seed >> 24) % (t.params.verdictDeadline - opens + 1));
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            // Honest members always commit when drawn; the others at random.
            if (j < 3 || (seed >> (32 + j)) & 1 == 1) _commitVerdict(taskId, t, j);
        }
        for (uint256 k = 0; k < NUM_JURORS; ++k) {
            _jurorStake(k);
        }
        vm.warp(
            t.params.verdictDeadline + 1 + (seed >> 40) % (t.params.verifyDeadline - t.params.verdictDeadline)
        );
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            _revealForced(taskId, t, i);
        }
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            if (j < 3 || (seed >> (48 + j)) & 1 == 1) _reveal(taskId, t, j);
        }
        _disputePhase(taskId, t, seed);
        vm.warp(
            block.timestamp > t.params.verifyDeadline + DISPUTE_WINDOW
                ? block.timestamp + 1
                : t.params.verifyDeadline + DISPUTE_WINDOW + 1
        );
        _finalize(taskId, t);
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            _settle(taskId, j);
        }
        for (uint256 k = 0; k < NUM_JURORS; ++k) {
            _jurorLeave(k);
        }
    }

    /// @dev Inside the dispute window every contested miner disputes (honest ones, and the cheater when `seed`
    /// says so); each dispute's jurors commit, reveal (the upholder at random) and are settled after resolve.
    function _disputePhase(uint256 taskId, ITaskBoard.Task memory t, uint256 seed) internal {
        vm.warp(t.params.verifyDeadline + 1 + (seed >> 56) % DISPUTE_WINDOW);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            _dispute(taskId, i, (seed >> (60 + i)) & 1 == 1);
        }
        if (disputes.openDisputes(taskId) == 0) return;
        IDisputes.Windows memory w = disputes.windows(taskId);
        uint64 drawn = board.roundTime(w.round);
        vm.warp(drawn > w.disputeDeadline ? drawn : w.disputeDeadline + 1);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            for (uint256 k = 0; k < NUM_JURY; ++k) {
                _commitRuling(taskId, i, k);
            }
        }
        vm.warp(w.commitDeadline + 1);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            for (uint256 k = 0; k < NUM_JURY; ++k) {
                if (k != UPHOLDER || (seed >> (64 + i)) & 1 == 1) _revealRuling(taskId, i, k);
            }
        }
        vm.warp(w.revealDeadline + 1);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            _resolve(taskId, i);
            for (uint256 k = 0; k < NUM_JURY; ++k) {
                _settleJuror(taskId, i, k);
            }
        }
    }

    function _post(uint256 rewardSeed, uint256 shapeSeed) internal returns (uint256 taskId) {
        if (tasks.length >= 6) return 0;
        uint256 reward = bound(rewardSeed, 1e6, 1000e18);
        uint64 t = uint64(block.timestamp);
        uint64 step = uint64(bound(shapeSeed, 2, 6));
        uint64 commitDeadline = t + 2 * step;
        uint64 verdictDeadline =
            board.roundTime(board.roundAt(commitDeadline + board.BEACON_LAG()) + 1) + board.minAuditTime();
        ITaskBoard.TaskParams memory p = ITaskBoard.TaskParams({
            envId: keccak256("chain_sum"),
            difficulty: 1,
            numProblems: 1,
            rolloutsPerProblem: 2,
            maxTokens: 32,
            temperatureMilli: 700,
            baseModelHash: keccak256("model"),
            reward: reward,
            joinDeadline: t + step,
            commitDeadline: commitDeadline,
            verdictDeadline: verdictDeadline + step,
            verifyDeadline: verdictDeadline + step + board.MIN_REVEAL_WINDOW(),
            maxMiners: uint16(bound(shapeSeed >> 8, 4, 8)),
            auditRollouts: 1,
            auditPositions: 0,
            logprobTolNano: 500_000,
            edgeSlackNano: 10_000,
            dtype: 0,
            tokenizerHash: keccak256("tokenizer")
        });
        vm.startPrank(proposer);
        token.approve(address(board), reward);
        taskId = board.postTask(p);
        tasks.push(taskId);
        vm.stopPrank();
    }

    function join(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _join(taskId, t, minerSeed);
    }

    function _join(uint256 taskId, ITaskBoard.Task memory t, uint256 minerSeed) internal {
        address who = miner(minerSeed % NUM_MINERS);
        if (block.timestamp > t.params.joinDeadline || !stakes.isStaked(who, MINER)) return;
        if (settlement.minerState(taskId, who).joined) return;
        if (stakes.freeStake(who, MINER) < settlement.lockAmount(taskId)) return;
        if (settlement.joinedCount(taskId) >= t.params.maxMiners) return;
        vm.prank(who);
        settlement.join(
            taskId, keccak256(abi.encode(who)), keccak256(abi.encode(taskId, who, secretOf(taskId, who)))
        );
    }

    function commit(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _commit(taskId, t, minerSeed);
    }

    function _commit(uint256 taskId, ITaskBoard.Task memory t, uint256 minerSeed) internal {
        address who = miner(minerSeed % NUM_MINERS);
        ISettlement.MinerState memory s = settlement.minerState(taskId, who);
        if (block.timestamp > t.params.commitDeadline || !s.joined || s.committed) return;
        vm.prank(who);
        settlement.commit(taskId, keccak256(abi.encode(taskId, who)), 2);
    }

    /// @dev Whether `who` is forced on the task (the handler plays every miner, so it knows the secrets).
    function _forced(uint256 taskId, ITaskBoard.Task memory t, address who) internal returns (bool) {
        if (!_record(t.seedRound)) return false;
        return settlement.isForced(secretOf(taskId, who), beacon.randomness(t.seedRound));
    }

    function commitVerdict(uint256 taskSeed, uint256 validatorSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _commitVerdict(taskId, t, validatorSeed);
    }

    function _commitVerdict(uint256 taskId, ITaskBoard.Task memory t, uint256 validatorSeed) internal {
        uint256 vi = validatorSeed % NUM_VALIDATORS;
        address who = validator(vi);
        if (block.timestamp <= t.params.commitDeadline || block.timestamp > t.params.verdictDeadline) return;
        if (!_record(t.challengeRound)) return;
        if (settlement.committedCount(taskId) == 0 || !stakes.isStaked(who, VALIDATOR)) return;
        if (settlement.validatorState(taskId, who).commitHash != 0) return;
        uint16 seats = settlement.committeeSeats(taskId, who);
        if (seats == 0 || stakes.freeStake(who, VALIDATOR) < settlement.validatorBond() * seats) return;
        ISettlement.Verdict[] storage list = _verdicts[taskId][who];
        address[] memory miners = settlement.getMiners(taskId);
        for (uint256 i = 0; i < miners.length; ++i) {
            if (!settlement.minerState(taskId, miners[i]).committed) continue;
            bool wrong = miners[i] == miner(CHEATER) || _forced(taskId, t, miners[i]);
            // Honest members fail the cheater and the forced miners; 3 and 4 fail everyone; 5 passes everyone.
            bool pass = vi == 5 || (vi < 3 && !wrong);
            uint64 score = uint64(bound(uint256(keccak256(abi.encode(taskId, miners[i]))), 0, 1e6));
            list.push(
                ISettlement.Verdict({
                    miner: miners[i],
                    vote: pass ? ISettlement.Vote.PASS : ISettlement.Vote.FAIL,
                    score: score,
                    audited: 1,
                    rolloutIndex: 0,
                    position: 1,
                    check: pass ? ISettlement.Check.NONE : ISettlement.Check.LOGPROB
                })
            );
        }
        vm.prank(who);
        settlement.commitVerdict(taskId, keccak256(abi.encode(taskId, who, list, bytes32(vi))));
    }

    function reveal(uint256 taskSeed, uint256 validatorSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _reveal(taskId, t, validatorSeed);
    }

    function _reveal(uint256 taskId, ITaskBoard.Task memory t, uint256 validatorSeed) internal {
        uint256 vi = validatorSeed % NUM_VALIDATORS;
        address who = validator(vi);
        if (block.timestamp <= t.params.verdictDeadline || block.timestamp > t.params.verifyDeadline) return;
        ISettlement.ValidatorState memory s = settlement.validatorState(taskId, who);
        if (s.commitHash == 0 || s.revealed) return;
        vm.prank(who);
        settlement.revealVerdict(taskId, _verdicts[taskId][who], bytes32(vi));
    }

    function revealForced(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _revealForced(taskId, t, minerSeed);
    }

    function _revealForced(uint256 taskId, ITaskBoard.Task memory t, uint256 minerSeed) internal {
        address who = miner(minerSeed % NUM_MINERS);
        if (block.timestamp <= t.params.verdictDeadline || block.timestamp > t.params.verifyDeadline) return;
        ISettlement.MinerState memory s = settlement.minerState(taskId, who);
        if (!s.committed || s.forced || !_forced(taskId, t, who)) return;
        vm.prank(who);
        settlement.revealForcedError(taskId, secretOf(taskId, who));
        ghostForced += 1;
    }

    // ---------------------------------------------------------------- disputes

    /// @dev A miner is wrong (its re-audit fails, honest jurors uphold) when it cheats or is forced.
    function _wrong(uint256 taskId, ITaskBoard.Task memory t, uint256 mi) internal returns (bool) {
        return mi == CHEATER || _forced(taskId, t, miner(mi));
    }

    function disputeStep(uint256 taskSeed, uint256 minerSeed, bool frivolous) external {
        _tick();
        if (tasks.length == 0) return;
        _dispute(tasks[taskSeed % tasks.length], minerSeed % NUM_MINERS, frivolous);
    }

    /// @dev A contested miner disputes when its own re-audit passes (not wrong), a wrong one only when
    /// `frivolous`.
    function _dispute(uint256 taskId, uint256 mi, bool frivolous) internal {
        address who = miner(mi);
        if (!disputes.canDispute(taskId, who)) return;
        if (_wrong(taskId, board.getTask(taskId), mi) && !frivolous) return;
        uint256 deposit = settlement.minerState(taskId, who).locked;
        if (token.balanceOf(who) < deposit) return;
        vm.startPrank(who);
        token.approve(address(disputes), deposit);
        disputes.dispute(taskId);
        vm.stopPrank();
        ghostDisputesHeld += deposit;
        ghostDisputes += 1;
    }

    /// @dev The jurors stake and leave together: the upholder alone would be a corrupt jury, which the protocol
    /// does not claim to survive (SECURITY.md 3.7).
    function jurorsStake() external {
        _tick();
        for (uint256 k = 0; k < NUM_JURORS; ++k) {
            _jurorStake(k);
        }
    }

    function jurorsLeave() external {
        _tick();
        for (uint256 k = 0; k < NUM_JURORS; ++k) {
            _jurorLeave(k);
        }
    }

    function _jurorStake(uint256 k) internal {
        address who = juror(k);
        if (stakes.activeStake(who, VALIDATOR) != 0 || token.balanceOf(who) < JUROR_STAKE) return;
        vm.startPrank(who);
        token.approve(address(stakes), JUROR_STAKE);
        stakes.stake(VALIDATOR, JUROR_STAKE);
        vm.stopPrank();
    }

    function _jurorLeave(uint256 k) internal {
        address who = juror(k);
        uint256 active = stakes.activeStake(who, VALIDATOR);
        if (active == 0) return;
        vm.prank(who);
        stakes.requestUnstake(VALIDATOR, active);
    }

    function commitRulingStep(uint256 taskSeed, uint256 minerSeed, uint256 jurorSeed) external {
        _tick();
        if (tasks.length == 0) return;
        _commitRuling(tasks[taskSeed % tasks.length], minerSeed % NUM_MINERS, jurorSeed % NUM_JURY);
    }

    /// @dev Jurors and honest validators re-audit (the upholder always upholds); the colluders 3 and 4 uphold,
    /// the lazy validator 5 overturns blindly.
    function _ruling(uint256 taskId, uint256 mi, uint256 k) internal returns (bool overturn) {
        if (k == UPHOLDER || k == NUM_JURORS + 3 || k == NUM_JURORS + 4) return false;
        if (k == NUM_JURORS + 5) return true;
        return !_wrong(taskId, board.getTask(taskId), mi);
    }

    function _rulingSalt(uint256 k) internal pure returns (bytes32) {
        return keccak256(abi.encode("juror salt", k));
    }

    function _commitRuling(uint256 taskId, uint256 mi, uint256 k) internal {
        address who = juryMember(k);
        address m = miner(mi);
        if (disputes.disputeOf(taskId, m).ruling != IDisputes.Ruling.OPEN) return;
        IDisputes.Windows memory w = disputes.windows(taskId);
        if (block.timestamp <= w.disputeDeadline || block.timestamp > w.commitDeadline) return;
        if (!_record(w.round) || !stakes.isStaked(who, VALIDATOR)) return;
        if (disputes.jurorOf(taskId, m, who).commitHash != 0) return;
        uint16 seats = disputes.jurorSeats(taskId, m, who);
        uint256 bond = settlement.validatorBond() * seats;
        if (seats == 0 || token.balanceOf(who) < bond) return;
        bytes32 h = disputes.rulingHash(taskId, m, who, _ruling(taskId, mi, k), 700_000, _rulingSalt(k));
        vm.startPrank(who);
        token.approve(address(disputes), bond);
        disputes.commitRuling(taskId, m, h);
        vm.stopPrank();
        ghostDisputesHeld += bond;
    }

    function revealRulingStep(uint256 taskSeed, uint256 minerSeed, uint256 jurorSeed) external {
        _tick();
        if (tasks.length == 0) return;
        _revealRuling(tasks[taskSeed % tasks.length], minerSeed % NUM_MINERS, jurorSeed % NUM_JURY);
    }

    function _revealRuling(uint256 taskId, uint256 mi, uint256 k) internal {
        address who = juryMember(k);
        address m = miner(mi);
        IDisputes.Juror memory j = disputes.jurorOf(taskId, m, who);
        if (j.commitHash == 0 || j.revealed) return;
        IDisputes.Windows memory w = disputes.windows(taskId);
        if (block.timestamp <= w.commitDeadline || block.timestamp > w.revealDeadline) return;
        if (board.taskStatus(taskId) != ITaskBoard.TaskStatus.OPEN) return;
        bool overturn = _ruling(taskId, mi, k);
        vm.prank(who);
        disputes.revealRuling(taskId, m, overturn, 700_000, _rulingSalt(k));
    }

    function resolveStep(uint256 taskSeed, uint256 minerSeed) external {
        _tick();
        if (tasks.length == 0) return;
        _resolve(tasks[taskSeed % tasks.length], minerSeed % NUM_MINERS);
    }

    function _resolve(uint256 taskId, uint256 mi) internal {
        address m = miner(mi);
        IDisputes.Dispute memory d = disputes.disputeOf(taskId, m);
        if (d.ruling != IDisputes.Ruling.OPEN) return;
        if (block.timestamp <= disputes.windows(taskId).revealDeadline) return;
        disputes.resolve(taskId, m);
        ghostDisputesHeld -= d.deposit;
        IDisputes.Ruling r = disputes.disputeOf(taskId, m).ruling;
        if (r == IDisputes.Ruling.OVERTURNED) ghostOverturned += 1;
        if (r == IDisputes.Ruling.UPHELD) ghostUpheld += 1;
    }

    function settleJurorStep(uint256 taskSeed, uint256 minerSeed, uint256 jurorSeed) external {
        _tick();
        if (tasks.length == 0) return;
        _settleJuror(tasks[taskSeed % tasks.length], minerSeed % NUM_MINERS, jurorSeed % NUM_JURY);
    }

    function _settleJuror(uint256 taskId, uint256 mi, uint256 k) internal {
        address who = juryMember(k);
        address m = miner(mi);
        IDisputes.Ruling r = disputes.disputeOf(taskId, m).ruling;
        if (r == IDisputes.Ruling.NONE || r == IDisputes.Ruling.OPEN) return;
        IDisputes.Juror memory j = disputes.jurorOf(taskId, m, who);
        if (j.commitHash == 0 || j.settled) return;
        disputes.settleJuror(taskId, m, who);
        ghostDisputesHeld -= j.bond;
    }

    function finalize(uint256 taskSeed) external {
        _tick();
        (bool ok, uint256 taskId, ITaskBoard.Task memory t) = _pickTask(taskSeed);
        if (ok) _finalize(taskId, t);
    }

    function _claimables() internal view returns (uint256[] memory out) {
        out = new uint256[](actors.length);
        for (uint256 i = 0; i < actors.length; ++i) {
            out[i] = settlement.claimable(actors[i]);
        }
    }

    function _recordCredits(uint256[] memory before) internal {
        for (uint256 i = 0; i < actors.length; ++i) {
            ghostCredited[actors[i]] += settlement.claimable(actors[i]) - before[i];
        }
    }

    function _finalize(uint256 taskId, ITaskBoard.Task memory t) internal {
        if (block.timestamp <= t.params.verifyDeadline + DISPUTE_WINDOW) return;
        if (!_record(t.challengeRound) || disputes.openDisputes(taskId) != 0) return;
        uint256[] memory stakeBefore = new uint256[](NUM_MINERS);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            stakeBefore[i] = stakes.activeStake(miner(i), MINER);
        }
        uint256[] memory before = _claimables();
        uint256 burnedBefore = settlement.burned();
        uint256 treasuryBefore = settlement.treasury();
        settlement.finalize(taskId);
        ghostFinalized += 1;
        _recordCredits(before);
        _checkBurn(taskId, burnedBefore, treasuryBefore);
        (uint256 colluderSeats, uint256 revealedSeats) = _colluderSeats(taskId);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            ISettlement.MinerState memory s = settlement.minerState(taskId, miner(i));
            uint256 stakeAfter = stakes.activeStake(miner(i), MINER);
            if (s.slashed > s.locked || stakeBefore[i] - stakeAfter != s.slashed) ghostSlashOverLock += 1;
            if (i == CHEATER) {
                if (s.slashed != 0) ghostCheaterSlashes += 1;
                continue;
            }
            // A forced miner that never revealed its forced error chose to be FAILED; it is not honest.
            if (s.committed && !s.forced && _forced(taskId, t, miner(i))) continue;
            // A miner that joined and never committed held a slot for nothing: it forfeits the no-show
            // penalty (RedTeam H2), at most the lock (checked above), and is not an honest miner here.
            if (s.joined && !s.committed) continue;
            if (s.slashed != 0) ghostHonestSlashed += 1;
            if (s.outcome == ISettlement.Outcome.FAILED && colluderSeats * 3 < revealedSeats) {
                ghostHonestFailedWithColludersUnderAThird += 1;
            }
        }
    }

    /// @dev finalize burns exactly the caps of NO_QUORUM and UNDECIDED miners, plus the validator pool when the
    /// committee committed and decided no miner, else the pool's part of each undecided miner (floor(P x u / c)
    /// of the pool P, u undecided of c committed: what is left is `ts.validatorPool`); the treasury gains at most
    /// the slashes (SECURITY.md 5: a block must not feed the jackpots).
    function _checkBurn(uint256 taskId, uint256 burnedBefore, uint256 treasuryBefore) internal {
        ISettlement.TaskSettlement memory ts = settlement.taskSettlement(taskId);
        uint256 want = ts.decisiveSeatVotes == 0 && ts.committed != 0 ? ts.validatorPool : 0;
        uint256 undecided;
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            ISettlement.Outcome o = settlement.minerState(taskId, miner(i)).outcome;
            if (o == ISettlement.Outcome.NO_QUORUM || o == ISettlement.Outcome.UNDECIDED) {
                want += ts.cap;
                ++undecided;
            }
        }
        uint256 got = settlement.burned() - burnedBefore;
        if (ts.decisiveSeatVotes != 0 && undecided != 0) {
            uint256 unearned = got >= want ? got - want : type(uint256).max;
            if (
                unearned == type(uint256).max
                    || (ts.validatorPool + unearned) * undecided / ts.committed != unearned
            ) {
                ghostBurnMismatch += 1;
            }
        } else if (got != want) {
            ghostBurnMismatch += 1;
        }
        if (settlement.treasury() > treasuryBefore + ts.slashed) ghostTreasuryFedByFinalize += 1;
    }

    /// @dev Seats of the colluders (3 and 4) among the revealed seats of the task.
    function _colluderSeats(uint256 taskId) internal view returns (uint256 colluders, uint256 revealed) {
        revealed = settlement.taskSettlement(taskId).revealedSeats;
        for (uint256 j = 3; j < 5; ++j) {
            ISettlement.ValidatorState memory s = settlement.validatorState(taskId, validator(j));
            if (s.revealed) colluders += s.seats;
        }
    }

    function settle(uint256 taskSeed, uint256 validatorSeed) external {
        if (tasks.length == 0) return;
        _settle(tasks[taskSeed % tasks.length], validatorSeed % NUM_VALIDATORS);
    }

    function _settle(uint256 taskId, uint256 vi) internal {
        address who = validator(vi);
        ISettlement.ValidatorState memory s = settlement.validatorState(taskId, who);
        if (!settlement.taskSettlement(taskId).finalized || s.commitHash == 0 || s.settled) return;
        uint256[] memory before = _claimables();
        settlement.settleValidator(taskId, who);
        _recordCredits(before);
    }

    /// @dev Used by the test's afterInvariant: resolve every dispute and settle its jurors, then finalize (if due)
    /// and settle every member of task `k`.
    function closeTask(uint256 k) external {
        if (k >= tasks.length) return;
        uint256 taskId = tasks[k];
        ITaskBoard.Task memory t = board.getTask(taskId);
        for (uint256 i = 0; i < NUM_MINERS; ++i) {
            if (t.status == ITaskBoard.TaskStatus.OPEN) _resolve(taskId, i);
            for (uint256 j = 0; j < NUM_JURY; ++j) {
                _settleJuror(taskId, i, j);
            }
        }
        if (t.status == ITaskBoard.TaskStatus.OPEN) _finalize(taskId, t);
        for (uint256 j = 0; j < NUM_VALIDATORS; ++j) {
            _settle(taskId, j);
        }
    }

    function claim(uint256 actorSeed) external {
        _tick();
        address who = actors[actorSeed % actors.length];
        if (settlement.claimable(who) == 0) return;
        vm.prank(who);
        ghostClaimed[who] += settlement.claim();
    }

    function cancel(uint256 taskSeed) external {
        _tick();
        (bool ok, uint256 taskId,) = _pickTask(taskSeed);
        if (!ok) return;
        vm.prank(proposer);
        try board.cancelTask(taskId) {} catch {}
    }

    function stakeMore(uint256 actorSeed, uint256 amount) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        amount = bound(amount, 1, 50e18);
        address who = actors[i];
        if (token.balanceOf(who) < amount) return;
        vm.startPrank(who);
        token.approve(address(stakes), amount);
        stakes.stake(role, amount);
        vm.stopPrank();
    }

    /// Tries to unstake more than is free as often as not: locked stake must never leave.
    function unstake(uint256 actorSeed, uint256 amount) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        address who = actors[i];
        uint256 active = stakes.activeStake(who, role);
        if (active == 0) return;
        vm.prank(who);
        try stakes.requestUnstake(role, bound(amount, 1, active)) {} catch {}
    }

    function withdraw(uint256 actorSeed) external {
        uint256 i = actorSeed % (NUM_MINERS + NUM_VALIDATORS);
        uint8 role = i < NUM_MINERS ? MINER : VALIDATOR;
        address who = actors[i];
        if (stakes.coolingStake(who, role) == 0 || block.timestamp < stakes.cooldownEnd(who, role)) return;
        vm.prank(who);
        stakes.withdraw(role);
    }

    /// @dev Records `round` once its time has come (as drand would publish it); returns whether it is recorded.
    function _record(uint64 round) internal returns (bool) {
        if (beacon.randomness(round) != 0) return true;
        if (block.timestamp < board.roundTime(round) || round > 64) return false;
        string memory base = string.concat(".beacons[", vm.toString(round - 1), "]");
        beacon.recordBeacon(
            round,
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature")),
            vm.parseJsonBytes(devnetJson, string.concat(base, ".signature_point"))
        );
        return true;
    }
}

contract InvariantsTest is Fixture {
    Handler internal handler;
    address[] internal _targets;

    function setUp() public override {
        devnetJson = vm.readFile("contracts/test/fixtures/devnet_beacons.json");
        // Beacon signatures cover the round number only, so the devnet key works with any genesis and
        // period; a 60 s period keeps every round a fuzzed run can reach within the 64 signed rounds.
        genesis = uint64(vm.parseJsonUint(devnetJson, ".genesis_time"));
        period = 60;
        beacon = new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        // Forced errors on one miner-task in two, so runs exercise FORCED outcomes, jackpots and bonds.
        ISettlement.Params memory p = _defaultParams();
        p.forcedErrorOdds = 2;
        _deploy(beacon, p);
        vm.warp(genesis + 1);
        handler = new Handler(token, stakes, board, settlement, beacon, disputes, devnetJson);
        for (uint256 i = 0; i < 4; ++i) {
            _stake(handler.miner(i), MINER, 2000e18);
            _fund(handler.miner(i), 2000e18); // dispute deposits, in tokens
        }
        // Jurors stake 200 RPT each time they serve; tokens for several tasks and their bonds.
        for (uint256 i = 0; i < 3; ++i) {
            _fund(handler.juror(i), 5000e18);
        }
        // Honest validators 0..2 hold 750 RPT; the colluders 3 and 4 hold 400 (32 %), the lazy one 100: the
        // colluders hold more than a third of the revealed seats on about half of the tasks, so their FAILs leave
        // honest miners UNDECIDED, who dispute, and the jurors rule.
        _stake(handler.validator(0), VALIDATOR, 300e18);
        _stake(handler.validator(1), VALIDATOR, 250e18);
        _stake(handler.validator(2), VALIDATOR, 200e18);
        _stake(handler.validator(3), VALIDATOR, 200e18);
        _stake(handler.validator(4), VALIDATOR, 200e18);
        _stake(handler.validator(5), VALIDATOR, 100e18);
        _fund(handler.validator(0), 100e18);
        // Validators sit on the juries of miners they did not FAIL: tokens for their jury bonds.
        for (uint256 i = 0; i < 6; ++i) {
            _fund(handler.validator(i), 1000e18);
        }
        _fund(handler.proposer(), 10_000e18);
        _targets.push(address(handler));
    }

    /// @dev Called by forge after each run; shows how far runs get (forge test -vv). Every run ends with all
    /// tasks finalized and every member settled; then no stake is locked any more and the invariants hold.
    function afterInvariant() public {
        Log.log("finalized during the run", handler.ghostFinalized());
        Log.log("cheater slashes during the run", handler.ghostCheaterSlashes());
        Log.log("forced errors revealed during the run", handler.ghostForced());
        Log.log("disputes during the run", handler.ghostDisputes());
        Log.log("overturned", handler.ghostOverturned());
        Log.log("upheld", handler.ghostUpheld());
        vm.warp(block.timestamp + 1 days);
        for (uint256 k = 0; k < handler.taskCount(); ++k) {
            handler.closeTask(k);
        }
        for (uint256 k = 0; k < handler.taskCount(); ++k) {
            assertTrue(board.taskStatus(handler.tasks(k)) != ITaskBoard.TaskStatus.OPEN, "every task settled");
        }
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            for (uint8 r = 0; r < 3; ++r) {
                assertEq(stakes.lockedStake(handler.actors(i), r), 0, "every lock released or slashed");
            }
        }
        invariant_TokensAreConserved();
        invariant_NothingClaimedTwice();
        invariant_SlashNeverExceedsLockedStake();
        invariant_NoHonestMinerSlashedWhileColludersHoldUnderAThird();
        assertEq(token.balanceOf(address(disputes)), 0, "every dispute resolved and juror settled");
    }

    /// The handler's dispute path is reached: six whole tasks where every miner joins and commits, the colluders
    /// commit and reveal (the lazy member stays away, so they hold about a third of the revealed seats) and the
    /// cheater disputes frivolously. Honest miners the colluders left UNDECIDED dispute and are OVERTURNED, the
    /// cheater's dispute is UPHELD, and every invariant holds afterwards.
    function test_handlerDrivesDisputesThroughEveryRuling() public {
        uint256 on = (0xff << 16) | (3 << 35) | (3 << 51) | (0xf << 60);
        uint256 off = (1 << 37) | (1 << 53);
        for (uint256 s = 1; handler.taskCount() < 6; ++s) {
            handler.lifecycle((uint256(keccak256(abi.encode(s))) | on) & ~off);
        }
        assertGt(handler.ghostDisputes(), 0, "disputes were made");
        assertGt(handler.ghostOverturned(), 0, "a jury overturned");
        assertGt(handler.ghostUpheld(), 0, "a jury upheld");
        afterInvariant();
        invariant_BlockedCapsAreBurnedNotPaidIntoTheTreasury();
    }

    /// @dev Read by forge: fuzz only the handler.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function _sumStakes() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            for (uint8 r = 0; r < 3; ++r) {
                sum += stakes.activeStake(a, r) + stakes.coolingStake(a, r);
            }
        }
    }

    function _sumEscrow() internal view returns (uint256 sum) {
        for (uint256 id = 1; id <= board.taskCount(); ++id) {
            sum += board.escrowOf(id);
        }
    }

    function _sumClaimable() internal view returns (uint256 sum) {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            sum += settlement.claimable(handler.actors(i));
        }
    }

    /// Tokens are conserved: every token is in a wallet, a stake, an escrow, a credit, the treasury, the fee
    /// reserve or the burned total (held by Settlement, movable by nothing), and each contract holds exactly
    /// what its books say.
    function invariant_TokensAreConserved() public view {
        uint256 wallets;
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            wallets += token.balanceOf(handler.actors(i));
        }
        uint256 books =
            _sumClaimable() + settlement.treasury() + settlement.feeReserve() + settlement.burned();
        assertEq(token.balanceOf(address(stakes)), _sumStakes(), "StakeManager holds the stakes");
        assertEq(token.balanceOf(address(board)), _sumEscrow(), "TaskBoard holds the open escrows");
        assertEq(
            token.balanceOf(address(settlement)), books, "Settlement holds credits, treasury, fees and burned"
        );
        // Disputes holds exactly the open deposits and the unsettled jurors' bonds.
        assertEq(token.balanceOf(address(disputes)), handler.ghostDisputesHeld(), "Disputes holds its books");
        assertEq(
            wallets + _sumStakes() + _sumEscrow() + books + token.balanceOf(address(disputes)),
            token.totalSupply(),
            "nothing created or lost"
        );
    }

    /// What a block leaves is burned, to the wei, and never reaches the treasury that pays jackpots.
    function invariant_BlockedCapsAreBurnedNotPaidIntoTheTreasury() public view {
        assertEq(
            handler.ghostBurnMismatch(), 0, "finalize burned other than the blocked caps and unearned fees"
        );
        assertEq(handler.ghostTreasuryFedByFinalize(), 0, "finalize fed the treasury beyond the slashes");
    }

    /// Nothing is claimed twice: what an actor withdrew plus what it still may claim is what it was credited.
    function invariant_NothingClaimedTwice() public view {
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            assertEq(
                handler.ghostClaimed(a) + settlement.claimable(a), handler.ghostCredited(a), "claimed + owed"
            );
        }
    }

    /// slash <= locked: every slash took exactly the recorded amount, never more than the lock, and locked
    /// stake never exceeds active stake.
    function invariant_SlashNeverExceedsLockedStake() public view {
        assertEq(handler.ghostSlashOverLock(), 0, "slash over lock");
        for (uint256 i = 0; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            for (uint8 r = 0; r < 3; ++r) {
                assertLe(stakes.lockedStake(a, r), stakes.activeStake(a, r), "locked <= active");
            }
        }
    }

    /// No honest miner is slashed while the colluders hold under a third of the revealed committee seats (here
    /// honest members always reveal, so that is every task); honest miners are never slashed at all.
    function invariant_NoHonestMinerSlashedWhileColludersHoldUnderAThird() public view {
        assertEq(handler.ghostHonestFailedWithColludersUnderAThird(), 0, "honest failed under a third");
        assertEq(handler.ghostHonestSlashed(), 0, "an honest miner was slashed");
    }
}
