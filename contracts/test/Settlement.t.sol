// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SettlementBase} from "./utils/SettlementBase.sol";
import {Settlement} from "../src/Settlement.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {RollToken} from "../src/RollToken.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @dev Every Settlement function, each of its custom errors reached by a caller breaking exactly that rule,
/// and fuzzed outcomes and payments against the rules of PROTOCOL.md 2.5-2.9.
contract SettlementTest is SettlementBase {
    address internal v0;

    function setUp() public override {
        super.setUp();
        // The only validator: it holds every seat.
        v0 = _validator("validator", 0, 1000e18);
    }

    function _settleOne(ISettlement.Verdict[] memory list) internal {
        _run(_one(v0), _lists1(list));
    }

    // ------------------------------------------------------------- constructor

    function test_Constructor_SetsParameters() public view {
        ISettlement.Params memory p = settlement.params();
        assertEq(p.committeeSeats, SEATS, "seats");
        assertEq(p.quorumBps, QUORUM_BPS, "quorum");
        assertEq(p.supermajorityBps, SUPER_BPS, "supermajority");
        assertEq(p.validatorFeeBps, FEE_BPS, "fee");
        assertEq(p.baseShareBps, BASE_BPS, "base");
        assertEq(p.deterrenceBps, DETER_BPS, "deterrence");
        assertEq(p.forcedErrorOdds, ODDS, "odds");
        assertEq(p.validatorBond, BOND, "bond");
        assertEq(p.jackpot, JACKPOT, "jackpot");
        assertEq(address(settlement.stakes()), address(stakes), "stakes");
        assertEq(settlement.token(), address(token), "token");
    }

    function _expectBadParam(ISettlement.Params memory p, string memory name, uint256 value) internal {
        vm.expectRevert(abi.encodeWithSelector(ISettlement.InvalidParam.selector, name, value));
        new Settlement(token, stakes, board, beacon, p);
    }

    function test_Constructor_ChecksEveryParameter() public {
        ISettlement.Params memory p = _defaultParams();
        p.committeeSeats = 0;
        _expectBadParam(p, "committeeSeats", 0);
        p.committeeSeats = 65;
        _expectBadParam(p, "committeeSeats", 65);
        p = _defaultParams();
        p.quorumBps = 0;
        _expectBadParam(p, "quorumBps", 0);
        p.quorumBps = 10_001;
        _expectBadParam(p, "quorumBps", 10_001);
        p = _defaultParams();
        p.supermajorityBps = 5000; // a tie would decide
        _expectBadParam(p, "supermajorityBps", 5000);
        p.supermajorityBps = 10_001;
        _expectBadParam(p, "supermajorityBps", 10_001);
        p = _defaultParams();
        p.validatorFeeBps = 10_000;
        _expectBadParam(p, "validatorFeeBps", 10_000);
        p = _defaultParams();
        p.baseShareBps = 10_001;
        _expectBadParam(p, "baseShareBps", 10_001);
        p = _defaultParams();
        p.deterrenceBps = 9999; // below the payout it must cover
        _expectBadParam(p, "deterrenceBps", 9999);
        p = _defaultParams();
        p.forcedErrorOdds = 1;
        _expectBadParam(p, "forcedErrorOdds", 1);
        p = _defaultParams();
        p.validatorBond = 0;
        _expectBadParam(p, "validatorBond", 0);
    }

    function test_Constructor_RevertsOnBadWiring() public {
        ISettlement.Params memory ok = _defaultParams();
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        new Settlement(IERC20(address(0)), stakes, board, beacon, ok);
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        new Settlement(token, IStakeManager(address(0)), board, beacon, ok);
        RollToken other = new RollToken(address(this));
        vm.expectRevert(ISettlement.MismatchedWiring.selector);
        new Settlement(other, stakes, board, beacon, ok);
        DrandBeacon otherBeacon =
            new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        vm.expectRevert(ISettlement.MismatchedWiring.selector);
        new Settlement(token, stakes, board, otherBeacon, ok);
        StakeManager short =
            new StakeManager(token, MAX_TASK, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        vm.expectRevert(abi.encodeWithSelector(ISettlement.CooldownTooShort.selector, MAX_TASK, MAX_TASK));
        new Settlement(token, short, board, beacon, ok);
    }

    // -------------------------------------------------------------------- join

    function test_Join_LocksTheDeterrenceAndRecordsTheMiner() public {
        _join(taskId, m[0]);
        ISettlement.MinerState memory s = settlement.minerState(taskId, m[0]);
        assertTrue(s.joined && !s.committed, "joined only");
        assertEq(s.index, 0, "first index");
        assertEq(s.locked, LOCK, "lock recorded");
        assertEq(stakes.lockedStake(m[0], MINER), LOCK, "lock taken");
        assertEq(settlement.minerCap(taskId), CAP, "cap");
        assertEq(settlement.lockAmount(taskId), LOCK, "lock view");
        assertEq(s.forcedErrorCommit, keccak256(abi.encode(taskId, m[0], _secret(taskId, m[0]))), "commit");
        assertEq(
            settlement.forcedErrorCommitment(taskId, m[0], _secret(taskId, m[0])), s.forcedErrorCommit, "view"
        );
        _join(taskId, m[1]);
        assertEq(settlement.minerState(taskId, m[1]).index, 1, "second index");
        assertEq(settlement.getMiners(taskId).length, 2, "listed");
        assertEq(settlement.joinedCount(taskId), 2, "count");
    }

    function test_Join_Reverts() public {
        address poor = _actor("poor", 0);
        _stake(poor, MINER, MIN_MINER - 1);
        vm.prank(poor);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, poor, MINER));
        settlement.join(taskId, bytes32(0), keccak256("c"));
        vm.prank(m[0]);
        vm.expectRevert(ISettlement.ZeroForcedErrorCommit.selector);
        settlement.join(taskId, bytes32(0), bytes32(0));
        _join(taskId, m[0]);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyJoined.selector, taskId, m[0]));
        settlement.join(taskId, bytes32(0), keccak256("c"));
    }

    function test_Join_RevertsWhenFullOrLate() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxMiners = 2;
        uint256 small = _post(p);
        for (uint256 i = 0; i < 3; ++i) {
            _stake(m[i], MINER, 1000e18); // the lock of a 2-miner task is 900 RPT
        }
        _join(small, m[0]);
        _join(small, m[1]);
        vm.prank(m[2]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskFull.selector, small, 2));
        settlement.join(small, bytes32(0), keccak256("c"));
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.joinDeadline + 1);
        vm.prank(m[2]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.joinDeadline + 1,
                t.postedAt,
                t.params.joinDeadline
            )
        );
        settlement.join(taskId, bytes32(0), keccak256("c"));
    }

    // ------------------------------------------------------------------ commit

    function test_Commit_Reverts() public {
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotJoined.selector, taskId, m[0]));
        settlement.commit(taskId, _root(m[0]), P * G);
        _join(taskId, m[0]);
        vm.startPrank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WrongCount.selector, P * G + 1, P * G));
        settlement.commit(taskId, _root(m[0]), P * G + 1);
        vm.expectRevert(ISettlement.ZeroRoot.selector);
        settlement.commit(taskId, bytes32(0), P * G);
        settlement.commit(taskId, _root(m[0]), P * G);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyCommitted.selector, taskId, m[0]));
        settlement.commit(taskId, _root(m[0]), P * G);
        vm.stopPrank();
        assertEq(settlement.committedCount(taskId), 1, "count");
    }

    // ---------------------------------------------------------- commitVerdict

    function test_CommitVerdict_LocksABondPerSeat() public {
        _allCommit();
        _toVerdictWindow(taskId);
        assertEq(_seats(v0), SEATS, "the only validator holds every seat");
        _commitVerdict(taskId, v0, _allPass());
        ISettlement.ValidatorState memory s = settlement.validatorState(taskId, v0);
        assertEq(s.seats, SEATS, "seats recorded");
        assertEq(s.bond, BOND * SEATS, "bond");
        assertEq(stakes.lockedStake(v0, VALIDATOR), BOND * SEATS, "locked");
        assertEq(settlement.getValidators(taskId)[0], v0, "listed");
    }

    function test_CommitVerdict_Reverts() public {
        _joinAndCommit(taskId, m[0]);
        ITaskBoard.Task memory t = _task(taskId);
        // Before the challenge beacon the committee is unknown.
        vm.warp(t.params.commitDeadline + 1);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeBeaconMissing.selector, t.challengeRound));
        settlement.commitVerdict(taskId, keccak256("h"));
        _toVerdictWindow(taskId);
        vm.prank(v0);
        vm.expectRevert(ISettlement.ZeroVerdictHash.selector);
        settlement.commitVerdict(taskId, bytes32(0));
        // A miner of the task may not sit on its committee.
        _stake(m[0], VALIDATOR, 1000e18);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SelfVerdict.selector, m[0]));
        settlement.commitVerdict(taskId, keccak256("h"));
        // Staked after the commit deadline: no stake at the draw, no seat.
        address late = _validator("late", 0, 1000e18);
        vm.prank(late);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotOnCommittee.selector, taskId, late));
        settlement.commitVerdict(taskId, keccak256("h"));
        address unstaked = _actor("nobody", 0);
        vm.prank(unstaked);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, unstaked, VALIDATOR));
        settlement.commitVerdict(taskId, keccak256("h"));
        vm.prank(v0);
        settlement.commitVerdict(taskId, keccak256("h"));
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.VerdictAlreadyCommitted.selector, taskId, v0));
        settlement.commitVerdict(taskId, keccak256("h"));
    }

    function test_CommitVerdict_RevertsWithoutCommitsOrFreeStake() public {
        _join(taskId, m[0]);
        _toVerdictWindow(taskId);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MinerNotCommitted.selector, address(0)));
        settlement.commitVerdict(taskId, keccak256("h"));

        uint256 second = _postDefault();
        _joinAndCommit(second, m[1]);
        vm.prank(v0);
        stakes.requestUnstake(VALIDATOR, 1000e18);
        // The only validator left holds every seat but cannot bond them all.
        address w = _validator("small", 0, MIN_VALIDATOR);
        _toVerdictWindow(second);
        vm.prank(w);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStakeManager.InsufficientFreeStake.selector, w, VALIDATOR, MIN_VALIDATOR, BOND * SEATS
            )
        );
        settlement.commitVerdict(second, keccak256("h"));
    }

    // ------------------------------------------------------------- reveal

    function test_RevealVerdict_TalliesSeats() public {
        _allCommit();
        ISettlement.Verdict[] memory list = _three(_pass(m[0], 700_000), _fail(m[1]), _unavailable(m[2]));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v0, list);
        _toRevealWindow(taskId);
        _reveal(taskId, v0, list);
        ISettlement.Tally memory t0 = settlement.tallyOf(taskId, m[0]);
        assertEq(t0.passSeats, SEATS, "pass seats");
        assertEq(t0.passScoreSeats, uint64(SEATS) * 700_000, "score seats");
        assertEq(settlement.tallyOf(taskId, m[1]).failSeats, SEATS, "fail seats");
        assertEq(settlement.tallyOf(taskId, m[2]).unavailableSeats, SEATS, "unavailable seats");
        assertEq(settlement.taskSettlement(taskId).revealedSeats, SEATS, "R");
        assertEq(uint256(settlement.voteOf(taskId, v0, m[1])), uint256(ISettlement.Vote.FAIL), "vote view");
        assertEq(uint256(settlement.voteOf(taskId, v0, _actor("x", 0))), 0, "no vote on a stranger");
        assertEq(
            settlement.verdictHash(taskId, v0, list, _salt(v0)),
            keccak256(abi.encode(taskId, v0, list, _salt(v0))),
            "hash view"
        );
    }

    function _commitAndOpenReveal(ISettlement.Verdict[] memory list) internal {
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v0, list);
        _toRevealWindow(taskId);
    }

    function test_RevealVerdict_RevertsOnMalformedLists() public {
        _allCommit();
        ISettlement.Verdict[] memory bad = _three(_pass(m[0], 1), _pass(m[0], 1), _pass(m[2], 1));
        _commitAndOpenReveal(bad);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.DuplicateVerdict.selector, m[0]));
        settlement.revealVerdict(taskId, bad, _salt(v0));
    }

    function test_RevealVerdict_RevertsOnIncompleteLists() public {
        _allCommit();
        ISettlement.Verdict[] memory shortList = _two(_pass(m[0], 1), _pass(m[1], 1));
        _commitAndOpenReveal(shortList);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.IncompleteVerdicts.selector, 2, 3));
        settlement.revealVerdict(taskId, shortList, _salt(v0));
    }

    function test_RevealVerdict_RevertsOnAStranger() public {
        _allCommit();
        address stranger = _actor("stranger", 0);
        ISettlement.Verdict[] memory list = _three(_pass(m[0], 1), _pass(m[1], 1), _pass(stranger, 1));
        _commitAndOpenReveal(list);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MinerNotCommitted.selector, stranger));
        settlement.revealVerdict(taskId, list, _salt(v0));
    }

    function test_RevealVerdict_RevertsOnBadVotesAndScores() public {
        _allCommit();
        ISettlement.Verdict memory failWithoutCheck = _fail(m[2]);
        failWithoutCheck.check = ISettlement.Check.NONE;
        ISettlement.Verdict[] memory list = _three(_pass(m[0], 1), _pass(m[1], 1), failWithoutCheck);
        _commitAndOpenReveal(list);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.InvalidVote.selector, m[2]));
        settlement.revealVerdict(taskId, list, _salt(v0));
    }

    function test_RevealVerdict_RevertsOnScoreAboveOne() public {
        _allCommit();
        ISettlement.Verdict[] memory list = _three(_pass(m[0], 1e6 + 1), _pass(m[1], 1), _pass(m[2], 1));
        _commitAndOpenReveal(list);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ScoreOutOfRange.selector, 1e6 + 1));
        settlement.revealVerdict(taskId, list, _salt(v0));
    }

    function test_RevealVerdict_RevertsOnMismatchAndRepeat() public {
        _allCommit();
        ISettlement.Verdict[] memory list = _allPass();
        _commitAndOpenReveal(list);
        address other = _actor("other", 0);
        vm.prank(other);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NoVerdictCommitted.selector, taskId, other));
        settlement.revealVerdict(taskId, list, _salt(other));
        bytes32 committed = settlement.validatorState(taskId, v0).commitHash;
        bytes32 got = keccak256(abi.encode(taskId, v0, list, bytes32("wrong")));
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.VerdictMismatch.selector, committed, got));
        settlement.revealVerdict(taskId, list, bytes32("wrong"));
        _reveal(taskId, v0, list);
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyRevealed.selector, taskId, v0));
        settlement.revealVerdict(taskId, list, _salt(v0));
    }

    // -------------------------------------------------------- forced errors

    function test_RevealForcedError_Reverts() public {
        _joinAndCommit(taskId, m[0]);
        _toRevealWindow(taskId);
        vm.prank(m[1]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MinerNotCommitted.selector, m[1]));
        settlement.revealForcedError(taskId, bytes32(0));
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ForcedErrorMismatch.selector, m[0]));
        settlement.revealForcedError(taskId, bytes32("wrong"));
        uint64 seedRound = _task(taskId).seedRound;
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SeedBeaconMissing.selector, seedRound));
        settlement.revealForcedError(taskId, _secret(taskId, m[0]));
    }

    function test_RevealForcedError_RefusesAMinerThatWasNotForced() public {
        bytes32 secret = _secretWith(taskId, false);
        _joinWithSecret(taskId, m[0], secret);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotForced.selector, m[0]));
        settlement.revealForcedError(taskId, secret);
    }

    function test_RevealForcedError_OnceAndInTheRevealWindowOnly() public {
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret);
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verdictDeadline);
        vm.prank(m[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.verdictDeadline,
                t.params.verdictDeadline,
                t.params.verifyDeadline
            )
        );
        settlement.revealForcedError(taskId, secret);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        assertTrue(settlement.minerState(taskId, m[0]).forced, "forced");
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyForced.selector, m[0]));
        settlement.revealForcedError(taskId, secret);
    }

    // ------------------------------------------------------- finalize, settle

    function test_Finalize_PaysByScoreAndSettlesValidators() public {
        _allCommit();
        _settleOne(_three(_pass(m[0], 1e6), _pass(m[1], 500_000), _fail(m[2])));
        assertEq(settlement.claimable(m[0]), CAP, "score 1.0: the cap");
        assertEq(settlement.claimable(m[1]), _payFor(500_000), "score 0.5");
        assertEq(uint256(_outcome(m[2])), uint256(ISettlement.Outcome.FAILED), "failed");
        assertEq(settlement.minerState(taskId, m[2]).slashed, LOCK, "lock slashed");
        assertEq(stakes.activeStake(m[2], MINER), MINER_STAKE - LOCK, "stake reduced by the lock");
        uint256 pool = REWARD * FEE_BPS / 10_000;
        assertEq(settlement.claimable(v0), pool, "the only member earns the whole pool");
        assertEq(stakes.lockedStake(v0, VALIDATOR), 0, "bond released");
        uint256 refund = 900e18 - CAP - _payFor(500_000);
        assertEq(settlement.claimable(proposer), refund, "refund");
        assertEq(settlement.treasury(), LOCK, "slash to the treasury");
        assertEq(
            token.balanceOf(address(settlement)),
            settlement.claimable(m[0]) + settlement.claimable(m[1]) + settlement.claimable(v0)
                + settlement.claimable(proposer) + settlement.treasury() + settlement.feeReserve()
                + settlement.burned(),
            "every token accounted for"
        );
    }

    function test_Finalize_Reverts() public {
        _allCommit();
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verifyDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.verifyDeadline,
                t.params.verifyDeadline,
                type(uint64).max
            )
        );
        settlement.finalize(taskId);
        vm.warp(t.params.verifyDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeBeaconMissing.selector, t.challengeRound));
        settlement.finalize(taskId);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotFinalized.selector, taskId));
        settlement.settleValidator(taskId, v0);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyFinalized.selector, taskId));
        settlement.finalize(taskId);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NoVerdictCommitted.selector, taskId, v0));
        settlement.settleValidator(taskId, v0);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskNotOpen.selector, taskId));
        settlement.commit(taskId, _root(m[0]), P * G);
    }

    function test_SettleValidator_OnceAndClaim() public {
        _allCommit();
        _settleOne(_allPass());
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadySettled.selector, taskId, v0));
        settlement.settleValidator(taskId, v0);
        uint256 owed = settlement.claimable(v0);
        vm.prank(v0);
        assertEq(settlement.claim(), owed, "claimed");
        assertEq(token.balanceOf(v0), owed, "paid");
        vm.prank(v0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NothingToClaim.selector, v0));
        settlement.claim();
    }

    function test_VerifyLeaf_ChecksTheCommittedRoot() public {
        bytes32 a = keccak256("leaf a");
        bytes32 b = keccak256("leaf b");
        bytes32 root = a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
        _join(taskId, m[0]);
        vm.prank(m[0]);
        settlement.commit(taskId, root, P * G);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = b;
        assertTrue(disputes.verifyLeaf(taskId, m[0], proof, a), "included");
        assertTrue(!disputes.verifyLeaf(taskId, m[0], proof, keccak256("other")), "not included");
        assertTrue(!disputes.verifyLeaf(taskId, m[1], proof, a), "no commitment");
    }

    // -------------------------------------------------------------------- fuzz

    /// Outcomes follow the tally rule for any two-member committee and any votes: a FAIL needs a quorum and a
    /// supermajority of revealed seats, a tie or a missing quorum never slashes, and tokens are conserved.
    function testFuzz_Outcome_FollowsTheSeatRule(uint8 vote0, uint8 vote1, bool reveal1, uint64 score)
        public
    {
        score = uint64(bound(score, 0, 1e6));
        ISettlement.Vote a = ISettlement.Vote(bound(vote0, 1, 3));
        ISettlement.Vote b = ISettlement.Vote(bound(vote1, 1, 3));
        address v1 = _validator("second", 0, 700e18);
        _joinAndCommit(taskId, m[0]);
        ISettlement.Verdict[] memory l0 = new ISettlement.Verdict[](1);
        ISettlement.Verdict[] memory l1 = new ISettlement.Verdict[](1);
        l0[0] = _as(a, m[0], score);
        l1[0] = _as(b, m[0], score);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v0, l0);
        _commitVerdict(taskId, v1, l1);
        _toRevealWindow(taskId);
        _reveal(taskId, v0, l0);
        if (reveal1) _reveal(taskId, v1, l1);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, v0);
        settlement.settleValidator(taskId, v1);

        ISettlement.Tally memory t = settlement.tallyOf(taskId, m[0]);
        uint256 r = settlement.taskSettlement(taskId).revealedSeats;
        ISettlement.Outcome want;
        if (r * 10_000 < uint256(QUORUM_BPS) * SEATS) want = ISettlement.Outcome.NO_QUORUM;
        else if (uint256(t.failSeats) * 10_000 >= uint256(SUPER_BPS) * r) want = ISettlement.Outcome.FAILED;
        else if (uint256(t.passSeats) * 10_000 >= uint256(SUPER_BPS) * r) want = ISettlement.Outcome.PASSED;
        else want = ISettlement.Outcome.UNDECIDED;
        assertEq(uint256(_outcome(m[0])), uint256(want), "outcome follows the rule");
        if (want != ISettlement.Outcome.FAILED) _assertStakeIntact(m[0]);
        if (t.failSeats * 2 <= r) {
            assertTrue(want != ISettlement.Outcome.FAILED, "never a slash without a majority");
        }
        assertLe(settlement.minerState(taskId, m[0]).paid, CAP, "paid at most the cap");
        assertEq(
            token.balanceOf(address(settlement)),
            settlement.claimable(m[0]) + settlement.claimable(v0) + settlement.claimable(v1)
                + settlement.claimable(proposer) + settlement.treasury() + settlement.feeReserve()
                + settlement.burned(),
            "conservation"
        );
    }

    /// The payment formula: base share plus the score share, never above the cap, for any score.
    function testFuzz_Payment_IsBaseShareAndScoreShareUpToTheCap(uint64 score) public {
        score = uint64(bound(score, 0, 1e6));
        _joinAndCommit(taskId, m[0]);
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](1);
        list[0] = _pass(m[0], score);
        _settleOne(list);
        uint256 paid = settlement.claimable(m[0]);
        assertEq(paid, _payFor(score), "formula");
        assertGe(paid, CAP * BASE_BPS / 10_000, "at least the base share");
        assertLe(paid, CAP, "at most the cap");
        assertEq(settlement.claimable(proposer), 900e18 - paid, "the rest refunds the proposer");
    }

    function _as(ISettlement.Vote vote, address miner, uint64 score)
        internal
        pure
        returns (ISettlement.Verdict memory)
    {
        if (vote == ISettlement.Vote.PASS) return _pass(miner, score);
        if (vote == ISettlement.Vote.FAIL) return _fail(miner);
        return _unavailable(miner);
    }

    /// The PASSED score is the seat-weighted mode of the PASS scores, whatever the reveal order: a score
    /// overtaken by another and then joined by a third member takes the mode back (RedTeam H15).
    function test_Finalize_PassedScoreIsTheSeatWeightedMode() public {
        _allCommit();
        address x = _validator("modeX", 0, 2000e18);
        address y = _validator("modeY", 0, 3000e18);
        address z = _validator("modeZ", 0, 2000e18);
        ISettlement.Verdict[] memory low = _three(_pass(m[0], 200_000), _pass(m[1], 0), _pass(m[2], 0));
        ISettlement.Verdict[] memory high = _three(_pass(m[0], 500_000), _pass(m[1], 0), _pass(m[2], 0));
        address[] memory vals = new address[](3);
        (vals[0], vals[1], vals[2]) = (x, y, z);
        ISettlement.Verdict[][] memory lists = new ISettlement.Verdict[][](3);
        (lists[0], lists[1], lists[2]) = (low, high, low);
        _run(vals, lists);
        uint256 sx = _seats(x);
        uint256 sy = _seats(y);
        uint256 sz = _seats(z);
        uint64 want = sx + sz > sy ? 200_000 : 500_000;
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.PASSED), "passed");
        assertEq(settlement.minerState(taskId, m[0]).score, want, "the mode, not the mean");
        assertEq(settlement.claimable(m[0]), _payFor(want), "paid on the mode");
    }

    /// A caught forced miner is paid on the mode of the LOGPROB FAIL scores: a smaller FAIL voter scoring it
    /// 1.0 cannot raise its pay (the forced-miner twin of RedTeam H15).
    function test_Finalize_CaughtForcedScoreIsTheFailMode() public {
        bytes32 secret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], secret);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address honest = _validator("failModeHonest", 0, 6000e18);
        address inflater = _validator("failModeInflater", 0, 3000e18);
        ISettlement.Verdict memory fair = _fail(m[0]);
        fair.check = ISettlement.Check.LOGPROB;
        fair.score = 400_000;
        ISettlement.Verdict memory high = _fail(m[0]);
        high.check = ISettlement.Check.LOGPROB;
        high.score = 1_000_000;
        ISettlement.Verdict[][] memory lists = _lists2(
            _three(fair, _pass(m[1], 600_000), _pass(m[2], 400_000)),
            _three(high, _pass(m[1], 600_000), _pass(m[2], 400_000))
        );
        address[] memory vals = _pair(honest, inflater);
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, secret);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        uint256 hs = _seats(honest);
        uint256 is_ = _seats(inflater);
        uint64 want = hs >= is_ ? 400_000 : 1_000_000;
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.FORCED), "forced");
        assertEq(settlement.minerState(taskId, m[0]).score, want, "the FAIL mode, not the mean");
    }
}
