// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SettlementBase} from "./utils/SettlementBase.sol";
import {Log} from "./utils/Vm.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";

/// @dev One test per attack of issue 11's "Why" list, replayed against Settlement v2: each asserts that the
/// attack now fails and that the honest party keeps its stake. Attack 6 (finalize gas at the caps) is in
/// Gas.t.sol (test_attack6_*), where gas is metered.
contract AttacksTest is SettlementBase {
    /// 1. Slot filling: 32 minimum-stake sybils (3,200 RPT) rush the verdict and vote FAIL on every miner;
    /// the honest validator (10,000 RPT) still sits on the committee, no honest miner is slashed, the sybils
    /// forfeit their bonds and are credited nothing, and no slash can reach a voter.
    function test_attack1_slotFilling_sybilsCannotCrowdOutTheCommitteeOrProfit() public {
        _allCommit();
        address[] memory vals = new address[](33);
        ISettlement.Verdict[][] memory lists = new ISettlement.Verdict[][](33);
        vals[0] = _validator("honest", 0, 10_000e18);
        lists[0] = _allPass();
        for (uint256 j = 1; j < 33; ++j) {
            vals[j] = _validator("sybil", j, MIN_VALIDATOR);
            lists[j] = _allFail();
        }
        _toVerdictWindow(taskId);
        // The sybils commit first: there is no first-come cap any more.
        for (uint256 j = 32; j >= 1; --j) {
            if (_seats(vals[j]) != 0) _commitVerdict(taskId, vals[j], lists[j]);
        }
        assertGt(_seats(vals[0]), 0, "the honest validator holds seats");
        _commitVerdict(taskId, vals[0], lists[0]);
        _toRevealWindow(taskId);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);

        uint256 sybilCredit;
        uint256 sybilSeats;
        for (uint256 j = 1; j < 33; ++j) {
            sybilCredit += settlement.claimable(vals[j]);
            sybilSeats += settlement.validatorState(taskId, vals[j]).seats;
        }
        uint256 honestSeats = settlement.validatorState(taskId, vals[0]).seats;
        Log.log("attack1 honest seats", honestSeats);
        Log.log("attack1 sybil seats", sybilSeats);
        assertGt(sybilSeats, 0, "the sybils did sit on the committee");
        assertEq(sybilCredit, 0, "the sybils are credited nothing");
        assertEq(settlement.taskSettlement(taskId).slashed, 0, "no honest miner slashed");
        for (uint256 i = 0; i < 3; ++i) {
            assertTrue(_outcome(m[i]) != ISettlement.Outcome.FAILED, "never failed");
            _assertStakeIntact(m[i]);
        }
        // Whenever the honest seats are a supermajority the miners pass and every sybil forfeits its bond.
        if (honestSeats * 10_000 >= uint256(SUPER_BPS) * (honestSeats + sybilSeats)) {
            for (uint256 j = 1; j < 33; ++j) {
                uint16 s = settlement.validatorState(taskId, vals[j]).seats;
                if (s == 0) continue;
                assertTrue(settlement.validatorState(taskId, vals[j]).penalized, "a FAIL on a PASSED miner");
                assertEq(stakes.activeStake(vals[j], VALIDATOR), MIN_VALIDATOR - BOND * s, "bond forfeited");
            }
            assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.PASSED), "honest miner passed");
            assertGt(settlement.claimable(vals[0]), 0, "the honest validator is paid its fee");
        }
        assertEq(stakes.activeStake(vals[0], VALIDATOR), 10_000e18, "honest validator keeps its stake");
    }

    /// 1b. Over many tasks, the sybils' seats track their stake (linear sortition): splitting 3,200 RPT into
    /// 32 identities draws about as many seats as one identity with 3,200 RPT would.
    function test_attack1_sybilSplittingBuysNoSeatsInExpectation() public {
        address whole = _validator("whole", 0, 3200e18);
        address[] memory parts = new address[](32);
        for (uint256 j = 0; j < 32; ++j) {
            parts[j] = _validator("part", j, 100e18);
        }
        _validator("honest", 0, 10_000e18);
        uint256 wholeSeats;
        uint256 partSeats;
        // 40 tasks (one per beacon round the fixture holds past the current time).
        for (uint256 k = 0; k < 40; ++k) {
            uint256 id = _postDefault();
            _ensureRound(_task(id).challengeRound);
            wholeSeats += settlement.committeeSeats(id, whole);
            for (uint256 j = 0; j < 32; ++j) {
                partSeats += settlement.committeeSeats(id, parts[j]);
            }
        }
        Log.log("40 tasks: seats of one 3,200 RPT identity", wholeSeats);
        Log.log("40 tasks: seats of 32 x 100 RPT identities", partSeats);
        // Each total is a sum of Binomial(64 x 40, s / 16400) lots: mean 499.5, sd at most 20.0.
        assertGe(partSeats, 440, "sybils within 3 sd of the mean");
        assertLe(partSeats, 560, "sybils within 3 sd of the mean");
        assertGe(wholeSeats, 440, "whole within 3 sd of the mean");
        assertLe(wholeSeats, 560, "whole within 3 sd of the mean");
    }

    /// 2. A tie fails: one validator with the same seats as the only honest one votes FAIL on every miner.
    /// A tie is UNDECIDED: nobody is slashed and the locks are released; nobody verified the work, so nothing is
    /// paid (RedTeam H1/H16: junk would be paid too) and the caps are burned, neither refunded nor paid into the
    /// treasury.
    function test_attack2_tieNeverSlashes() public {
        _allCommit();
        address honest = _validator("honest", 0, 1000e18);
        address attacker = _tieWith(honest, "tie", 1000e18);
        _run(_pair(honest, attacker), _lists2(_allPass(), _allFail()));
        assertEq(_seats(honest), _seats(attacker), "a tie of seats");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(uint256(_outcome(m[i])), uint256(ISettlement.Outcome.UNDECIDED), "a tie is undecided");
            assertEq(settlement.minerState(taskId, m[i]).slashed, 0, "never a slash");
            assertEq(settlement.claimable(m[i]), 0, "unverified work is not paid");
            _assertStakeIntact(m[i]);
        }
        assertEq(settlement.taskSettlement(taskId).slashed, 0, "nothing slashed");
        assertEq(settlement.claimable(attacker), 0, "no fee for blocking a decision");
        assertEq(settlement.claimable(proposer), 900e18 - 3 * CAP, "the proposer gains nothing from a block");
        assertEq(stakes.activeStake(honest, VALIDATOR), 1000e18, "honest validator keeps its stake");
        assertEq(stakes.activeStake(attacker, VALIDATOR), 1000e18, "a tie is no penalty either");
    }

    /// 2c. Blocking fed jackpots (SECURITY.md 5): a coalition of half the seats blocked an honest miner
    /// (UNDECIDED: no FAIL supermajority, nothing to dispute), its cap went to the treasury, and the treasury pays
    /// the jackpots of caught forced errors by seats, partly to the coalition. The blocked cap is now burned: the
    /// treasury the coalition can win jackpots from is what it was, the proposer gets nothing back for the block,
    /// and the burned tokens stay in Settlement, where nothing can move them.
    function test_attack2_blockingAnHonestMinerDoesNotRaiseTheTreasuryItsJackpotsComeFrom() public {
        _allCommit();
        address honest = _validator("honest", 0, 1000e18);
        address coalition = _tieWith(honest, "coalition", 1000e18);
        address[] memory vals = _pair(honest, coalition);
        ISettlement.Verdict[][] memory lists =
            _lists2(_allPass(), _three(_fail(m[0]), _pass(m[1], 600_000), _pass(m[2], 400_000)));
        uint256 treasuryBefore = settlement.treasury();
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        // The blocked miner's cap and its part of the validator pool (one of three committed miners).
        uint256 unearned = (REWARD * FEE_BPS / 10_000) / 3;
        vm.expectEmit(true, false, false, true, address(settlement));
        emit ISettlement.Burned(taskId, CAP + unearned);
        settlement.finalize(taskId);
        _settleAll(vals);

        assertEq(
            uint256(_outcome(m[0])), uint256(ISettlement.Outcome.UNDECIDED), "the honest miner is blocked"
        );
        assertEq(uint256(_outcome(m[1])), uint256(ISettlement.Outcome.PASSED), "the others are decided");
        // The fee pool's rounding dust (under a wei per member) is the treasury's; the cap never is.
        assertLe(
            settlement.treasury(), treasuryBefore + vals.length, "the blocked cap does not reach the treasury"
        );
        assertEq(settlement.burned(), CAP + unearned, "it is burned, with the fee nobody earned on it");
        uint256 paid = settlement.claimable(m[1]) + settlement.claimable(m[2]);
        assertEq(settlement.claimable(proposer), 900e18 - CAP - paid, "nor is it refunded");
        uint256 owed = settlement.claimable(proposer) + paid + settlement.claimable(honest)
            + settlement.claimable(coalition) + settlement.claimable(m[0]);
        assertEq(
            token.balanceOf(address(settlement)),
            owed + settlement.treasury() + settlement.feeReserve() + settlement.burned(),
            "Settlement holds credits, treasury, fees and what it burned"
        );
    }

    /// 2b. "Openings not served" is not attributable (a network fault looks the same): UNAVAILABLE votes
    /// never slash, whoever casts them.
    function test_attack2_unavailableIsNeverASlash() public {
        _allCommit();
        address only = _validator("validator", 0, 1000e18);
        ISettlement.Verdict[] memory list = _three(_unavailable(m[0]), _pass(m[1], 1e6), _pass(m[2], 0));
        _run(_one(only), _lists1(list));
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.UNDECIDED), "no decision");
        assertEq(settlement.minerState(taskId, m[0]).slashed, 0, "no slash");
        _assertStakeIntact(m[0]);
        assertEq(settlement.claimable(m[0]), 0, "unverified: nothing paid (RedTeam H1)");
        // A score of 0 still earns the base share; 1.0 earns the whole cap.
        assertEq(settlement.claimable(m[2]), _baseShare(), "score 0 earns the base share");
        assertEq(settlement.claimable(m[1]), settlement.minerCap(taskId), "score 1.0 earns the cap");
    }

    /// 3. Lazy validators are paid: a validator that votes PASS on everything without auditing passes the
    /// forced miner, forfeits its bond and earns nothing; the auditing validator earns its fee and the jackpot.
    function test_attack3_lazyValidatorLosesItsBondOnAForcedError() public {
        // m0 is forced (its secret says so under the seed beacon), m1 honest, m2 a cheater.
        bytes32 forcedSecret = _secretWith(taskId, true);
        _joinWithSecret(taskId, m[0], forcedSecret);
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        address honest = _validator("honest", 0, 3000e18);
        address lazy = _validator("lazy", 0, 1000e18);
        _fundTreasury(1000e18);
        ISettlement.Verdict[] memory audited =
            _three(_failLogprob(m[0], 700_000), _pass(m[1], 600_000), _fail(m[2]));
        ISettlement.Verdict[] memory lazyList = _three(_pass(m[0], 1e6), _pass(m[1], 1e6), _pass(m[2], 1e6));
        address[] memory vals = _pair(honest, lazy);
        ISettlement.Verdict[][] memory lists = _lists2(audited, lazyList);
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        settlement.revealForcedError(taskId, forcedSecret);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);

        uint16 lazySeats = _seats(lazy);
        uint16 honestSeats = _seats(honest);
        assertGt(lazySeats, 0, "the lazy validator sat on the committee");
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.FORCED), "forced");
        assertTrue(settlement.validatorState(taskId, lazy).penalized, "lazy penalized");
        assertEq(settlement.claimable(lazy), 0, "lazy earns nothing");
        assertEq(stakes.activeStake(lazy, VALIDATOR), 1000e18 - BOND * lazySeats, "lazy loses its bond");
        assertEq(stakes.activeStake(honest, VALIDATOR), 3000e18, "honest keeps its stake");
        ISettlement.ValidatorState memory h = settlement.validatorState(taskId, honest);
        assertEq(h.jackpot, JACKPOT * honestSeats / SEATS, "honest wins its seats' share of the jackpot");
        assertGt(h.fee, 0, "and its fee");
        // The forced miner obeyed: its lock is released and it is paid by the FAIL voters' score plus a bonus.
        _assertStakeIntact(m[0]);
        assertEq(
            settlement.minerState(taskId, m[0]).paid, _payFor(700_000) + JACKPOT / SEATS, "forced miner paid"
        );
        // The cheater is not paid above the base share whatever the lazy validator says.
        assertLe(settlement.claimable(m[2]), _baseShare(), "cheater not paid as a pass");
        assertTrue(_outcome(m[2]) != ISettlement.Outcome.PASSED, "cheater not passed");
    }

    /// 4. One stake backed any number of tasks: now a join locks deterrence x cap of free stake, so a second
    /// join on the same stake is refused, locked stake cannot be unstaked, and a slash takes the whole lock.
    function test_attack4_oneStakeBacksOnlyTheTasksItCanCover() public {
        address cheater = _actor("cheater", 0);
        _stake(cheater, MINER, 300e18);
        uint256 second = _postDefault();
        _joinAndCommit(taskId, cheater);
        assertEq(stakes.lockedStake(cheater, MINER), LOCK, "the join locked 2 x cap");
        vm.prank(cheater);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStakeManager.InsufficientFreeStake.selector, cheater, MINER, 300e18 - LOCK, LOCK
            )
        );
        settlement.join(second, bytes32(0), keccak256("c"));
        vm.prank(cheater);
        vm.expectRevert(
            abi.encodeWithSelector(IStakeManager.InsufficientStake.selector, 300e18 - LOCK, 300e18)
        );
        stakes.requestUnstake(MINER, 300e18);

        _joinAndCommit(taskId, m[0]);
        address v = _validator("validator", 0, 1000e18);
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](2);
        list[0] = _fail(cheater);
        list[1] = _pass(m[0], 500_000);
        _run(_one(v), _lists1(list));
        assertEq(
            settlement.minerState(taskId, cheater).slashed, LOCK, "the whole lock, not half of what is left"
        );
        assertEq(stakes.activeStake(cheater, MINER), 300e18 - LOCK, "the rest stays");
        assertEq(settlement.treasury(), LOCK, "to the treasury");
        assertEq(
            settlement.claimable(v),
            settlement.taskSettlement(taskId).validatorPool,
            "voter gets its fee only"
        );
        _assertStakeIntact(m[0]);
    }

    /// 5. The challenge could be known before a commit landed: a commit is refused once the challenge
    /// beacon is recorded, and postTask refuses a verdict window without minAuditTime after the challenge.
    function test_attack5_commitRefusedOnceTheChallengeIsKnown() public {
        _join(taskId, m[0]);
        ITaskBoard.Task memory t = _task(taskId);
        _recordRound(t.challengeRound); // possible on the devnet fixture; impossible before its time on drand
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeKnown.selector, t.challengeRound));
        settlement.commit(taskId, _root(m[0]), P * G);

        ITaskBoard.TaskParams memory p = _params(REWARD);
        uint64 earliest =
            board.roundTime(board.roundAt(p.commitDeadline + board.BEACON_LAG()) + 1) + MIN_AUDIT;
        p.verdictDeadline = earliest - 1;
        token.mint(proposer, REWARD);
        vm.startPrank(proposer);
        token.approve(address(board), REWARD);
        vm.expectRevert(
            abi.encodeWithSelector(ITaskBoard.AuditWindowTooShort.selector, earliest - 1, earliest)
        );
        board.postTask(p);
        p.verdictDeadline = earliest;
        board.postTask(p);
        vm.stopPrank();
        // A slot held without a commitment forfeits the base share of its cap (RedTeam H2), the rest of the
        // lock is released. On drand the refusal cannot happen before the deadline: the challenge round comes
        // BEACON_LAG after it (this fixture records it early).
        _toFinalize(taskId);
        settlement.finalize(taskId);
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.NO_COMMIT), "no commit");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE - _baseShare(), "the no-show penalty only");
        assertEq(stakes.lockedStake(m[0], MINER), 0, "the rest released");
    }

    /// 7. If no validator revealed, the proposer got every gossiped rollout for free. Now NO_QUORUM burns
    /// the committed miners' caps and the fee nobody earned (the proposer pays for them; the miners, unverified,
    /// are paid nothing: RedTeam H16), releases the locks, and the non-revealer forfeits its bond.
    function test_attack7_noQuorumChargesTheProposerForCommittedWork() public {
        _allCommit();
        address silent = _validator("validator", 0, 1000e18);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, silent, _allPass());
        _toFinalize(taskId);
        settlement.finalize(taskId);
        settlement.settleValidator(taskId, silent);
        uint256 escrow = REWARD;
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(uint256(_outcome(m[i])), uint256(ISettlement.Outcome.NO_QUORUM), "no quorum");
            assertEq(settlement.claimable(m[i]), 0, "unverified: nothing paid");
            _assertStakeIntact(m[i]);
        }
        uint256 pool = escrow * FEE_BPS / 10_000;
        assertEq(settlement.claimable(proposer), escrow - pool - 3 * CAP, "the proposer pays for the work");
        assertTrue(settlement.validatorState(taskId, silent).penalized, "the silent member is penalized");
        uint256 bond = BOND * settlement.validatorState(taskId, silent).seats;
        assertEq(settlement.treasury(), bond, "only the forfeited bond to the treasury");
        assertEq(settlement.burned(), 3 * CAP + pool, "the caps and the unearned fee are burned");
    }

    /// 8. Not revealing cost nothing, so one could commit both ways (two identities) and reveal the winner.
    /// Now each unrevealed commitment forfeits its bond, and the revealed side earns no more than honesty.
    function test_attack8_unrevealedVerdictForfeitsTheBond() public {
        _allCommit();
        address honest = _validator("honest", 0, 3000e18);
        address hedgePass = _validator("hedge", 0, 500e18);
        address hedgeFail = _onCommittee("hedgeFail", 500e18);
        address[] memory vals = new address[](3);
        vals[0] = honest;
        vals[1] = hedgePass;
        vals[2] = hedgeFail;
        ISettlement.Verdict[][] memory lists = new ISettlement.Verdict[][](3);
        lists[0] = _allPass();
        lists[1] = _allPass();
        lists[2] = _allFail();
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        // The hedger reveals only the side that agrees with the honest majority.
        _reveal(taskId, honest, lists[0]);
        if (_seats(hedgePass) != 0) _reveal(taskId, hedgePass, lists[1]);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);
        uint16 s = _seats(hedgeFail);
        assertGt(s, 0, "the FAIL hedge sat on the committee");
        assertTrue(settlement.validatorState(taskId, hedgeFail).penalized, "unrevealed: penalized");
        assertEq(stakes.activeStake(hedgeFail, VALIDATOR), 500e18 - BOND * s, "bond forfeited");
        assertEq(settlement.claimable(hedgeFail), 0, "no fee");
        assertEq(stakes.activeStake(honest, VALIDATOR), 3000e18, "honest keeps its stake");
        for (uint256 i = 0; i < 3; ++i) {
            _assertStakeIntact(m[i]);
        }
    }

    /// 9. The deterrence condition (slash >= what cheating earns) was not enforced: a 1,000 RPT task broke it
    /// 18 times over. Now a join locks deterrenceBps x the per-miner cap, or is refused.
    function test_attack9_deterrenceIsEnforcedAtJoin() public {
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.maxMiners = 1;
        uint256 big = _post(p);
        uint256 cap = settlement.minerCap(big);
        assertEq(cap, 900e18, "the whole miner pool");
        assertEq(settlement.lockAmount(big), 2 * cap, "lock = 2 x cap");
        vm.prank(m[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IStakeManager.InsufficientFreeStake.selector, m[0], MINER, MINER_STAKE, 2 * cap
            )
        );
        settlement.join(big, bytes32(0), keccak256("s"));

        address cheater = _actor("cheater", 0);
        _stake(cheater, MINER, 2000e18);
        taskId = big;
        _joinAndCommit(big, cheater);
        address v = _validator("validator", 0, 1000e18);
        ISettlement.Verdict[] memory list = new ISettlement.Verdict[](1);
        list[0] = _fail(cheater);
        _run(_one(v), _lists1(list));
        uint256 slashed = settlement.minerState(big, cheater).slashed;
        assertEq(slashed, 2 * cap, "slashed the lock");
        assertGe(slashed, cap, "slash >= the largest payout cheating could have earned");
        _assertStakeIntact(m[0]);
    }

    // ----------------------------------------------------------------- helpers

    function _failLogprob(address miner, uint64 score) internal pure returns (ISettlement.Verdict memory) {
        return ISettlement.Verdict({
            miner: miner,
            vote: ISettlement.Vote.FAIL,
            score: score,
            audited: 2,
            rolloutIndex: 0,
            position: 3,
            check: ISettlement.Check.LOGPROB
        });
    }

    /// @dev A validator staking `amount` that draws at least one seat (challenge recorded early; call after the
    /// miners' commits and before the commit deadline).
    function _onCommittee(string memory name, uint256 amount) internal returns (address v) {
        _ensureRound(_task(taskId).challengeRound);
        for (uint256 i = 0; i < 100; ++i) {
            v = _validator(name, i, amount);
            if (_seats(v) != 0) return v;
            vm.prank(v);
            stakes.requestUnstake(VALIDATOR, amount);
        }
        revert("nobody drew a seat");
    }

    function _fundTreasury(uint256 amount) internal {
        token.mint(address(this), amount);
        token.approve(address(settlement), amount);
        settlement.fundTreasury(amount);
    }
}
