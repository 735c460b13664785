// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";

/// @dev Model-check disputes (PROTOCOL.md 2.10): a miner the votes FAILED, or left UNDECIDED with a FAIL, disputes
/// with a deposit; a second committee of 2C lots, drawn after the dispute deadline from all validator stake at the
/// verify deadline but the task's miners', re-audits the named evidence and rules by commit-reveal with bonds; the
/// losing side is slashed. For every check of the path, a cheater breaking exactly that rule is caught.
///
/// The world: a coalition of two validators holding 40,000 of 44,000 RPT of validator stake at the commit deadline
/// (about 58 of the 64 first-committee seats: a FAIL supermajority on its own), and 40 small honest validators
/// (100 RPT each). Where a test needs a jury the coalition cannot own, honest stake arrives after the commit
/// deadline (`_honestStakeArrives`): the committee was drawn by the stake at the commit deadline, the jury by the
/// stake at the verify deadline, so the coalition that owned the first draw holds a minority of the second.
contract DisputesTest is Fixture {
    uint256 internal constant HONEST = 40;
    uint256 internal constant LATE = 8;
    uint64 internal constant GOOD_SCORE = 800_000;

    address[3] internal m;
    address[2] internal coalition;
    address[] internal honest;
    address internal big; // a large honest validator, when the world has one (it PASSes a framed miner, then judges)
    address[] internal late; // honest stake that arrived after the commit deadline (jury only)
    bool internal coalitionJudges; // the coalition's members with jury seats commit and reveal rulings
    bool internal coalitionDissents; // and rule the other way than the honest jurors
    uint256 internal taskId;

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 3; ++i) {
            m[i] = _actor("miner", i);
            _stake(m[i], MINER, MINER_STAKE);
            _fund(m[i], LOCK); // the deposit, in tokens
            vm.prank(m[i]);
            token.approve(address(disputes), LOCK);
        }
        for (uint256 i = 0; i < 2; ++i) {
            coalition[i] = _actor("coalition", i);
            _stake(coalition[i], VALIDATOR, 20_000e18);
            _fund(coalition[i], 1000e18); // jury bonds, when it judges a miner it did not accuse
            vm.prank(coalition[i]);
            token.approve(address(disputes), type(uint256).max);
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            address v = _actor("honest", i);
            _stake(v, VALIDATOR, 100e18);
            _fund(v, 1000e18); // jury bonds, in tokens
            vm.prank(v);
            token.approve(address(disputes), type(uint256).max);
            honest.push(v);
        }
        taskId = _postDefault();
    }

    // ------------------------------------------------------------------ helpers

    function _list(bool failM0, bool failM2) internal view returns (ISettlement.Verdict[] memory out) {
        out = new ISettlement.Verdict[](3);
        out[0] = failM0 ? _fail(m[0]) : _pass(m[0], GOOD_SCORE);
        out[1] = _pass(m[1], 600_000);
        out[2] = failM2 ? _fail(m[2]) : _pass(m[2], 400_000);
    }

    /// @dev Every miner commits; the drawn members vote: the coalition fails m0 (and m2 when asked), honest
    /// members fail m0 only when `m0Cheats`. Ends in the verify window's last second.
    function _firstCommittee(bool m0Cheats, bool coalitionFailsM2) internal {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
        _toVerdictWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            assertGt(settlement.committeeSeats(taskId, coalition[i]), 0, "the coalition sits");
            _commitVerdict(taskId, coalition[i], _list(true, coalitionFailsM2));
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            if (settlement.committeeSeats(taskId, honest[i]) != 0) {
                _commitVerdict(taskId, honest[i], _list(m0Cheats, false));
            }
        }
        _toRevealWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _reveal(taskId, coalition[i], _list(true, coalitionFailsM2));
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            if (settlement.validatorState(taskId, honest[i]).commitHash != bytes32(0)) {
                _reveal(taskId, honest[i], _list(m0Cheats, false));
            }
        }
        assertGe(
            uint256(settlement.tallyOf(taskId, m[0]).failSeats) * 10_000,
            uint256(SUPER_BPS) * settlement.taskSettlement(taskId).revealedSeats,
            "m0 has a FAIL supermajority"
        );
    }

    function _windows() internal view returns (IDisputes.Windows memory) {
        return disputes.windows(taskId);
    }

    function _dispute(address miner) internal {
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        vm.prank(miner);
        disputes.dispute(taskId);
    }

    /// @dev To the jury's commit window with the dispute round recorded.
    function _toJuryCommit() internal {
        IDisputes.Windows memory w = _windows();
        uint64 roundTime = board.roundTime(w.round);
        vm.warp(roundTime > w.disputeDeadline ? roundTime : w.disputeDeadline + 1);
        _ensureRound(w.round);
    }

    function _jurySalt(address juror) internal pure returns (bytes32) {
        return keccak256(abi.encode("jury salt", juror));
    }

    function _commitRuling(address miner, address juror, bool overturn, uint64 score) internal {
        bytes32 h = disputes.rulingHash(taskId, miner, juror, overturn, score, _jurySalt(juror));
        vm.prank(juror);
        disputes.commitRuling(taskId, miner, h);
    }

    function _revealRuling(address miner, address juror, bool overturn, uint64 score) internal {
        vm.prank(juror);
        disputes.revealRuling(taskId, miner, overturn, score, _jurySalt(juror));
    }

    /// @dev The honest validators (the big one included) with jury seats on `miner`'s dispute.
    function _jury(address miner) internal view returns (address[] memory out) {
        uint256 n;
        address[] memory tmp = new address[](HONEST + LATE + 3);
        for (uint256 i = 0; i < HONEST; ++i) {
            if (disputes.jurorSeats(taskId, miner, honest[i]) != 0) tmp[n++] = honest[i];
        }
        if (big != address(0) && disputes.jurorSeats(taskId, miner, big) != 0) tmp[n++] = big;
        for (uint256 i = 0; i < late.length; ++i) {
            if (disputes.jurorSeats(taskId, miner, late[i]) != 0) tmp[n++] = late[i];
        }
        for (uint256 i = 0; coalitionJudges && i < 2; ++i) {
            if (disputes.jurorSeats(taskId, miner, coalition[i]) != 0) tmp[n++] = coalition[i];
        }
        out = new address[](n);
        for (uint256 i = 0; i < n; ++i) {
            out[i] = tmp[i];
        }
    }

    /// @dev Every juror commits `overturn`; jurors at `skipReveal` do not reveal, the one at `dissent` (and the
    /// coalition when it dissents) rules the other way. Then resolves.
    function _juryRules(address miner, bool overturn, uint256 skipReveal, uint256 dissent)
        internal
        returns (address[] memory jury)
    {
        _toJuryCommit();
        jury = _jury(miner);
        for (uint256 i = 0; i < jury.length; ++i) {
            _commitRuling(miner, jury[i], _rulingOf(jury[i], i == dissent, overturn), GOOD_SCORE);
        }
        vm.warp(_windows().commitDeadline + 1);
        for (uint256 i = 0; i < jury.length; ++i) {
            if (i == skipReveal) continue;
            _revealRuling(miner, jury[i], _rulingOf(jury[i], i == dissent, overturn), GOOD_SCORE);
        }
        vm.warp(_windows().revealDeadline + 1);
        disputes.resolve(taskId, miner);
    }

    function _isCoalition(address v) internal view returns (bool) {
        return v == coalition[0] || v == coalition[1];
    }

    function _rulingOf(address juror, bool dissent, bool overturn) internal view returns (bool) {
        return (dissent || (coalitionDissents && _isCoalition(juror))) ? !overturn : overturn;
    }

    /// @dev Eight honest validators stake 50,000 RPT each after the commit deadline and before the verify
    /// deadline: they hold no first-committee seat and about 90 % of the jury's lots.
    function _honestStakeArrives() internal {
        assertLe(block.timestamp, _task(taskId).params.verifyDeadline, "before the jury's stake is read");
        for (uint256 i = 0; i < LATE; ++i) {
            address v = _actor("late honest", i);
            _stake(v, VALIDATOR, 50_000e18);
            _fund(v, 1000e18);
            vm.prank(v);
            token.approve(address(disputes), type(uint256).max);
            late.push(v);
        }
    }

    function _payFor(uint64 score) internal pure returns (uint256) {
        return CAP * (uint256(BASE_BPS) * 1e6 + (10_000 - uint256(BASE_BPS)) * score) / (10_000 * 1e6);
    }

    function _fee() internal pure returns (uint256) {
        return LOCK * JUROR_FEE_BPS / 10_000;
    }

    function _settleFirstCommittee() internal {
        address[] memory members = settlement.getValidators(taskId);
        for (uint256 i = 0; i < members.length; ++i) {
            settlement.settleValidator(taskId, members[i]);
        }
    }

    function _settleJury(address miner, address[] memory jury) internal {
        for (uint256 i = 0; i < jury.length; ++i) {
            disputes.settleJuror(taskId, miner, jury[i]);
        }
    }

    // --------------------------------------------------- the two main outcomes

    /// Adversarial: a coalition holding the first committee's FAIL supermajority fails an honest miner, and sits on
    /// the jury with its stake share (a minority by the verify deadline) to uphold its own FAIL. The miner's
    /// self-audit passes, it disputes; the jury re-audits the named evidence and overturns. The miner is PASSED and
    /// paid, keeps its stake and gets its deposit back less the jury's fee; every FAIL voter of the first committee
    /// forfeits its bond; the coalition's jurors forfeit theirs; the honest jurors are paid.
    function test_dispute_corruptFirstCommitteeSupermajorityIsOverturned() public {
        _firstCommittee(false, false);
        _honestStakeArrives();
        coalitionJudges = true;
        coalitionDissents = true;
        uint256 walletBefore = token.balanceOf(m[0]);
        _dispute(m[0]);
        assertEq(token.balanceOf(m[0]), walletBefore - LOCK, "deposit paid in");
        address[] memory jury = _juryRules(m[0], true, type(uint256).max, type(uint256).max);
        assertGt(jury.length, 0, "a jury sat");
        IDisputes.Dispute memory d = disputes.disputeOf(taskId, m[0]);
        assertEq(uint256(d.ruling), uint256(IDisputes.Ruling.OVERTURNED), "overturned");
        assertGe(uint256(d.revealedSeats) * 10_000, uint256(QUORUM_BPS) * 2 * SEATS, "jury quorum of 2C lots");
        assertEq(token.balanceOf(m[0]), walletBefore - _fee(), "deposit back less the jury's fee");

        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.PASSED), "the framed miner is PASSED");
        assertEq(ms.paid, _payFor(GOOD_SCORE), "paid on the jury's score");
        assertEq(ms.slashed, 0, "nothing slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "stake intact");
        assertEq(stakes.lockedStake(m[0], MINER), 0, "lock released");

        uint256 treasuryBefore = settlement.treasury();
        uint256 forfeited;
        for (uint256 i = 0; i < 2; ++i) {
            uint256 bond = settlement.validatorState(taskId, coalition[i]).bond;
            uint256 stakeBefore = stakes.activeStake(coalition[i], VALIDATOR);
            settlement.settleValidator(taskId, coalition[i]);
            ISettlement.ValidatorState memory vs = settlement.validatorState(taskId, coalition[i]);
            assertTrue(vs.penalized, "FAIL voter on the overturned miner penalized");
            assertEq(vs.fee, 0, "no fee");
            assertEq(stakes.activeStake(coalition[i], VALIDATOR), stakeBefore - bond, "bond forfeited");
            forfeited += bond;
        }
        assertGe(settlement.treasury(), treasuryBefore + forfeited, "the bonds went to the treasury");
        _settleFirstCommitteeRest();

        uint256 perSeat = d.feePerSeat;
        assertGt(perSeat, 0, "jurors earn a fee");
        uint256 coalitionJurors;
        for (uint256 i = 0; i < jury.length; ++i) {
            IDisputes.Juror memory j = disputes.jurorOf(taskId, m[0], jury[i]);
            uint256 before = token.balanceOf(jury[i]);
            disputes.settleJuror(taskId, m[0], jury[i]);
            if (_isCoalition(jury[i])) {
                ++coalitionJurors;
                assertEq(
                    token.balanceOf(jury[i]), before, "an accuser that upheld its own FAIL loses its bond"
                );
            } else {
                assertEq(token.balanceOf(jury[i]), before + j.bond + perSeat * j.seats, "bond back plus fee");
            }
        }
        assertGt(coalitionJurors, 0, "the accusers sat on the jury by their stake");
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    function _settleFirstCommitteeRest() internal {
        address[] memory members = settlement.getValidators(taskId);
        for (uint256 i = 0; i < members.length; ++i) {
            if (members[i] == coalition[0] || members[i] == coalition[1]) continue;
            if (settlement.validatorState(taskId, members[i]).settled) continue;
            settlement.settleValidator(taskId, members[i]);
            assertTrue(!settlement.validatorState(taskId, members[i]).penalized, "honest PASS voters kept");
        }
    }

    /// Adversarial: a miner that truly cheated (every member fails it) disputes anyway. The jury upholds: the
    /// deposit less the jury's fee joins the slash in the treasury, the whole lock is slashed.
    function test_dispute_frivolousDisputeByCheaterLosesItsDepositAndTheSlashStands() public {
        _firstCommittee(true, false);
        coalitionJudges = true; // its accusers judge too, and uphold with the honest jurors
        _dispute(m[0]);
        uint256 treasuryBefore = settlement.treasury();
        address[] memory jury = _juryRules(m[0], false, type(uint256).max, type(uint256).max);
        IDisputes.Dispute memory d = disputes.disputeOf(taskId, m[0]);
        assertEq(uint256(d.ruling), uint256(IDisputes.Ruling.UPHELD), "upheld");
        uint256 fees = d.feePerSeat * d.upholdSeats;
        assertEq(settlement.treasury(), treasuryBefore + LOCK - fees, "deposit less the fee to the treasury");

        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.FAILED), "still FAILED");
        assertEq(ms.slashed, LOCK, "whole lock slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE - LOCK, "stake slashed");
        assertEq(token.balanceOf(m[0]), 0, "deposit gone");
        _settleFirstCommittee();
        for (uint256 i = 0; i < 2; ++i) {
            assertTrue(!settlement.validatorState(taskId, coalition[i]).penalized, "right FAIL voters kept");
        }
        _settleJury(m[0], jury);
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    // ----------------------------------------- a coalition that only blocks (UNDECIDED)

    /// @dev A second honest validator as large as the coalition: the coalition then draws about half of the
    /// first committee's seats, enough to block a PASS supermajority, never enough for a FAIL one.
    function _halfCoalitionWorld() internal {
        big = _actor("big honest", 0);
        _stake(big, VALIDATOR, 40_000e18);
        _fund(big, 1000e18); // jury bonds: a PASS voter may sit on the jury
        vm.prank(big);
        token.approve(address(disputes), type(uint256).max);
    }

    /// @dev Every miner commits; the coalition FAILs m0 (naming TOKEN evidence) without auditing it, the honest
    /// members PASS m0 unless `m0Cheats`; everybody passes m1 and m2. m0 ends UNDECIDED by the votes.
    function _blockedCommittee(bool m0Cheats) internal {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
        _toVerdictWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _commitVerdict(taskId, coalition[i], _list(!m0Cheats, false));
        }
        _commitVerdict(taskId, big, _list(m0Cheats, false));
        for (uint256 i = 0; i < HONEST; ++i) {
            if (settlement.committeeSeats(taskId, honest[i]) != 0) {
                _commitVerdict(taskId, honest[i], _list(m0Cheats, false));
            }
        }
        _toRevealWindow(taskId);
        address[] memory members = settlement.getValidators(taskId);
        for (uint256 i = 0; i < members.length; ++i) {
            bool framer = members[i] == coalition[0] || members[i] == coalition[1];
            _reveal(taskId, members[i], _list(framer ? !m0Cheats : m0Cheats, false));
        }
        uint256 r = settlement.taskSettlement(taskId).revealedSeats;
        ISettlement.Tally memory t = settlement.tallyOf(taskId, m[0]);
        assertGe(r * 10_000, uint256(QUORUM_BPS) * SEATS, "quorum");
        assertGt(t.failSeats, 0, "FAIL evidence on m0");
        assertTrue(uint256(t.failSeats) * 10_000 < uint256(SUPER_BPS) * r, "no FAIL supermajority");
        assertTrue(uint256(t.passSeats) * 10_000 < uint256(SUPER_BPS) * r, "no PASS supermajority: blocked");
    }

    /// @dev Tokens a validator holds in the system: active stake plus what it may claim.
    function _worth(address v) internal view returns (uint256) {
        return stakes.activeStake(v, VALIDATOR) + settlement.claimable(v);
    }

    /// Adversarial (issue 11, the last row of the economics table that gained): a coalition holding about half
    /// of the first committee's seats FAILs an honest miner without auditing it. That is no FAIL supermajority,
    /// only a block (UNDECIDED), which before cost the coalition nothing and saved it the audit. Now the
    /// blocked miner disputes; the jury, where the coalition sits with its (by then minority) stake and upholds,
    /// overturns; the miner is PASSED, paid and keeps its stake; each framer forfeits its bond and its whole fee on
    /// the task, so the coalition ends with less than it started with and less than its honest twin (the big
    /// honest validator, same stake, who audits) earns.
    function test_dispute_coalitionFramesHonestMinerAndLosesMoney() public {
        _halfCoalitionWorld();
        uint256 coalitionBefore = _worth(coalition[0]) + _worth(coalition[1]);
        uint256 bigBefore = _worth(big);
        _blockedCommittee(false);
        _honestStakeArrives();
        coalitionJudges = true;
        coalitionDissents = true;

        // finalize waits for the dispute window: a FAIL vote was revealed against a miner left UNDECIDED.
        IDisputes.Windows memory w = _windows();
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IDisputes.DisputeWindowOpen.selector, taskId, w.disputeDeadline)
        );
        settlement.finalize(taskId);
        assertTrue(disputes.canDispute(taskId, m[0]), "the blocked miner may dispute");
        assertTrue(!disputes.canDispute(taskId, m[1]), "a PASSED miner may not");
        uint256 walletBefore = token.balanceOf(m[0]);
        _dispute(m[0]);
        address[] memory jury = _juryRules(m[0], true, type(uint256).max, type(uint256).max);
        assertGt(jury.length, 0, "a jury sat");
        assertEq(
            uint256(disputes.disputeOf(taskId, m[0]).ruling),
            uint256(IDisputes.Ruling.OVERTURNED),
            "overturned"
        );

        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.PASSED), "the framed miner is PASSED");
        assertEq(ms.paid, _payFor(GOOD_SCORE), "and paid on the jury's score");
        assertEq(ms.slashed, 0, "nothing slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "the honest miner keeps its stake");
        assertEq(token.balanceOf(m[0]), walletBefore - _fee(), "deposit back less the jury's fee");

        uint256 forfeited;
        for (uint256 i = 0; i < 2; ++i) {
            forfeited += settlement.validatorState(taskId, coalition[i]).bond;
            settlement.settleValidator(taskId, coalition[i]);
            ISettlement.ValidatorState memory vs = settlement.validatorState(taskId, coalition[i]);
            assertTrue(vs.penalized, "a framer is penalized");
            assertEq(vs.fee, 0, "and earns no fee on the task");
        }
        assertGt(forfeited, 0, "the framers had bonds at risk");
        uint256 coalitionAfter = _worth(coalition[0]) + _worth(coalition[1]);
        assertEq(coalitionAfter, coalitionBefore - forfeited, "the coalition loses its bonds");
        settlement.settleValidator(taskId, big);
        assertTrue(!settlement.validatorState(taskId, big).penalized, "the honest twin is kept");
        assertGt(_worth(big), bigBefore, "and paid: framing earns less than auditing");
        _settleFirstCommitteeRest();
        _settleJury(m[0], jury);
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// @dev The validator pool less the burned part of one undecided miner of three: what a member's fee is a
    /// part of.
    function _poolWithoutOneMiner() internal pure returns (uint256) {
        uint256 pool = REWARD * FEE_BPS / 10_000;
        return pool - pool / 3;
    }

    /// Adversarial (issue 11): the same frame by a coalition that still holds about half of the stake when the
    /// jury is drawn. It sits on the jury and upholds; the honest jurors overturn; neither side holds the
    /// supermajority: UNRESOLVED. The honest miner keeps its whole stake and its whole deposit (unpaid: nobody
    /// verified it), and the block costs the coalition its fee on that miner: the validator pool's part for an
    /// undecided miner is burned, not shared among the votes on the others, so a framer earns the decided miners'
    /// part only (more than the audit it skipped whenever auditing pays: SECURITY.md 3.7).
    function test_dispute_frameByHalfTheStakeIsUnresolvedAndCostsTheFramersTheirFee() public {
        _halfCoalitionWorld();
        _blockedCommittee(false);
        uint256 walletBefore = token.balanceOf(m[0]);
        _dispute(m[0]);
        coalitionJudges = true;
        coalitionDissents = true;
        address[] memory jury = _juryRules(m[0], true, type(uint256).max, type(uint256).max);
        assertEq(
            uint256(disputes.disputeOf(taskId, m[0]).ruling),
            uint256(IDisputes.Ruling.UNRESOLVED),
            "no ruling"
        );
        assertEq(token.balanceOf(m[0]), walletBefore, "whole deposit back");
        uint256 burnedBefore = settlement.burned();
        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.UNDECIDED), "UNDECIDED");
        assertEq(ms.slashed, 0, "never slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "the honest miner keeps its stake");
        ISettlement.TaskSettlement memory ts = settlement.taskSettlement(taskId);
        assertEq(ts.validatorPool, _poolWithoutOneMiner(), "the undecided miner's part of the pool");
        assertEq(
            settlement.burned(),
            burnedBefore + CAP + (REWARD * FEE_BPS / 10_000) / 3,
            "is burned with its cap"
        );
        uint256 r = ts.revealedSeats;
        for (uint256 i = 0; i < 2; ++i) {
            settlement.settleValidator(taskId, coalition[i]);
            ISettlement.ValidatorState memory vs = settlement.validatorState(taskId, coalition[i]);
            assertTrue(!vs.penalized, "no ruling, no penalty");
            assertEq(vs.fee, _poolWithoutOneMiner() * vs.seats / r, "a framer earns the decided miners' part");
            assertGt((REWARD * FEE_BPS / 10_000) * vs.seats / r, vs.fee, "less than had it audited");
        }
        _settleFirstCommitteeRest();
        _settleJury(m[0], jury);
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// Adversarial (issue 11, the shield): a coalition with about half of the stake PASSes its own cheating miner
    /// against the honest FAIL votes (a block), the cheater disputes, and the coalition sits on the jury to
    /// overturn. The honest accusers sit too (a jury that excluded them was the coalition's: the cheater PASSED
    /// and paid, the honest FAIL voters' bonds taken). Neither side holds the supermajority: UNRESOLVED. The
    /// cheater is not paid, the honest FAIL voters keep their bonds, and the shield costs the coalition its fee on
    /// the cheater.
    function test_dispute_shieldByHalfTheStakeCannotOverturn() public {
        _halfCoalitionWorld();
        _blockedCommittee(true);
        _dispute(m[0]);
        _toJuryCommit();
        assertGt(disputes.jurorSeats(taskId, m[0], big), 0, "the accuser sits on the jury");
        coalitionJudges = true;
        coalitionDissents = true;
        address[] memory jury = _juryRules(m[0], false, type(uint256).max, type(uint256).max);
        IDisputes.Ruling ruling = disputes.disputeOf(taskId, m[0]).ruling;
        assertEq(uint256(ruling), uint256(IDisputes.Ruling.UNRESOLVED), "the shield cannot overturn");
        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.UNDECIDED), "UNDECIDED");
        assertEq(ms.paid, 0, "the cheater is not paid");
        settlement.settleValidator(taskId, big);
        assertTrue(!settlement.validatorState(taskId, big).penalized, "the honest FAIL voter keeps its bond");
        uint256 r = settlement.taskSettlement(taskId).revealedSeats;
        for (uint256 i = 0; i < 2; ++i) {
            settlement.settleValidator(taskId, coalition[i]);
            ISettlement.ValidatorState memory vs = settlement.validatorState(taskId, coalition[i]);
            assertEq(vs.fee, _poolWithoutOneMiner() * vs.seats / r, "the shield costs its fee on the cheater");
        }
        _settleFirstCommitteeRest();
        _settleJury(m[0], jury);
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// Adversarial (issue 11, the shield): the same shield by a coalition that holds a minority of the stake when
    /// the jury is drawn. The jury upholds: the cheater is FAILED, its lock slashed and its deposit taken; each
    /// shielding PASS voter forfeits its first-committee bond (a PASS on a miner a jury FAILED is as wrong as one
    /// on a miner the votes FAILED) and its jury bond; the honest FAIL voter is kept.
    function test_dispute_shieldByAMinorityIsUpheldAndCostsTheShieldItsBonds() public {
        _halfCoalitionWorld();
        _blockedCommittee(true);
        _honestStakeArrives();
        _dispute(m[0]);
        coalitionJudges = true;
        coalitionDissents = true;
        address[] memory jury = _juryRules(m[0], false, type(uint256).max, type(uint256).max);
        assertEq(uint256(disputes.disputeOf(taskId, m[0]).ruling), uint256(IDisputes.Ruling.UPHELD), "upheld");
        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.FAILED), "FAILED by the ruling");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE - LOCK, "the cheater's lock is slashed");
        assertEq(token.balanceOf(m[0]), 0, "and its deposit taken");
        for (uint256 i = 0; i < 2; ++i) {
            uint256 bond = settlement.validatorState(taskId, coalition[i]).bond;
            uint256 stakeBefore = stakes.activeStake(coalition[i], VALIDATOR);
            settlement.settleValidator(taskId, coalition[i]);
            assertTrue(
                settlement.validatorState(taskId, coalition[i]).penalized, "a shielding PASS is penalized"
            );
            assertEq(stakes.activeStake(coalition[i], VALIDATOR), stakeBefore - bond, "its bond forfeited");
        }
        settlement.settleValidator(taskId, big);
        assertTrue(!settlement.validatorState(taskId, big).penalized, "the honest FAIL voter is kept");
        uint256 shieldJurors;
        for (uint256 i = 0; i < jury.length; ++i) {
            uint256 before = token.balanceOf(jury[i]);
            disputes.settleJuror(taskId, m[0], jury[i]);
            if (!_isCoalition(jury[i])) continue;
            ++shieldJurors;
            assertEq(token.balanceOf(jury[i]), before, "a shielding juror loses its bond");
        }
        assertGt(shieldJurors, 0, "the shield sat on the jury");
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// Adversarial: a cheating miner left UNDECIDED (its honest FAIL voters blocked by validators that PASS it
    /// blindly) disputes to turn the block into a pass. Accusers and blind PASS voters sit on the jury by their
    /// stake, and re-auditing the named evidence they uphold: the miner is FAILED, its whole lock is slashed and
    /// its deposit less the jury's fee goes to the treasury; the blind PASS voters forfeit their bonds.
    function test_dispute_upheldOnAnUndecidedMinerFailsIt() public {
        _halfCoalitionWorld();
        _blockedCommittee(true);
        _dispute(m[0]);
        coalitionJudges = true;
        _toJuryCommit();
        assertGt(disputes.jurorSeats(taskId, m[0], big), 0, "the accuser sits");
        uint256 treasuryBefore = settlement.treasury();
        address[] memory jury = _juryRules(m[0], false, type(uint256).max, type(uint256).max);
        IDisputes.Dispute memory d = disputes.disputeOf(taskId, m[0]);
        assertEq(uint256(d.ruling), uint256(IDisputes.Ruling.UPHELD), "upheld");
        assertEq(
            settlement.treasury(), treasuryBefore + LOCK - d.feePerSeat * d.upholdSeats, "deposit to treasury"
        );
        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.FAILED), "FAILED by the ruling");
        assertEq(ms.slashed, LOCK, "whole lock slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE - LOCK, "stake slashed");
        settlement.settleValidator(taskId, big);
        assertTrue(!settlement.validatorState(taskId, big).penalized, "its right FAIL voter is kept");
        settlement.settleValidator(taskId, coalition[0]);
        assertTrue(settlement.validatorState(taskId, coalition[0]).penalized, "a blind PASS costs the bond");
        _settleJury(m[0], jury);
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// A miner left UNDECIDED without any FAIL vote (UNAVAILABLE votes, e.g. a network fault) has no evidence
    /// to dispute, and a PASSED miner with a lone FAIL has nothing to dispute: neither may dispute, and neither
    /// delays finalize.
    function test_dispute_noFailEvidenceOrAPassSupermajorityIsNotDisputable() public {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
        ISettlement.Verdict[] memory coalitionVotes = _list(false, false);
        coalitionVotes[0] = _unavailable(m[0]);
        ISettlement.Verdict[] memory honestVotes = _list(false, true);
        _toVerdictWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _commitVerdict(taskId, coalition[i], coalitionVotes);
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            if (settlement.committeeSeats(taskId, honest[i]) != 0) {
                _commitVerdict(taskId, honest[i], honestVotes);
            }
        }
        _toRevealWindow(taskId);
        address[] memory members = settlement.getValidators(taskId);
        for (uint256 i = 0; i < members.length; ++i) {
            bool framer = members[i] == coalition[0] || members[i] == coalition[1];
            _reveal(taskId, members[i], framer ? coalitionVotes : honestVotes);
        }
        assertGt(settlement.tallyOf(taskId, m[2]).failSeats, 0, "a minority FAILed m2");
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        for (uint256 i = 0; i < 3; ++i) {
            assertTrue(!disputes.canDispute(taskId, m[i]), "nothing to dispute");
        }
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NotFailed.selector, m[0]));
        disputes.dispute(taskId);
        settlement.finalize(taskId);
        assertEq(
            uint256(settlement.minerState(taskId, m[0]).outcome),
            uint256(ISettlement.Outcome.UNDECIDED),
            "UNAVAILABLE: undecided"
        );
        assertEq(
            uint256(settlement.minerState(taskId, m[2]).outcome),
            uint256(ISettlement.Outcome.PASSED),
            "passed"
        );
    }

    // ------------------------------------------------------------ refusals

    /// Adversarial: disputing before the verify deadline, after the dispute deadline, as a PASSED miner, twice,
    /// and resolving early are each refused.
    function test_dispute_refusedOutsideTheWindowForAPassedMinerAndTwice() public {
        _firstCommittee(false, true);
        uint64 verifyDeadline = _task(taskId).params.verifyDeadline;
        IDisputes.Windows memory w = _windows();
        vm.warp(verifyDeadline);
        vm.prank(m[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDisputes.OutsideWindow.selector, verifyDeadline, verifyDeadline, w.disputeDeadline
            )
        );
        disputes.dispute(taskId);

        vm.warp(verifyDeadline + 1);
        assertTrue(disputes.canDispute(taskId, m[0]), "m0 may dispute");
        assertTrue(!disputes.canDispute(taskId, m[1]), "m1 may not");
        vm.prank(m[1]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NotFailed.selector, m[1]));
        disputes.dispute(taskId);
        address stranger = _actor("stranger", 0);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.MinerNotCommitted.selector, stranger));
        disputes.dispute(taskId);

        vm.prank(m[0]);
        disputes.dispute(taskId);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.AlreadyDisputed.selector, m[0]));
        disputes.dispute(taskId);

        vm.warp(w.disputeDeadline + 1);
        vm.prank(m[2]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDisputes.OutsideWindow.selector, w.disputeDeadline + 1, verifyDeadline, w.disputeDeadline
            )
        );
        disputes.dispute(taskId);

        vm.warp(w.revealDeadline);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDisputes.OutsideWindow.selector, w.revealDeadline, w.revealDeadline, type(uint64).max
            )
        );
        disputes.resolve(taskId, m[0]);
        vm.warp(w.revealDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NoDispute.selector, m[2]));
        disputes.resolve(taskId, m[2]);
    }

    /// Adversarial: a miner failed by a fraud proof (chain-checked evidence, nothing for a model check to
    /// re-audit) cannot dispute.
    function test_dispute_refusedWithoutModelEvidence() public {
        ISettlement.Leaf memory good = _leaf(m[0], 0, 0, 1e6);
        ISettlement.Leaf memory bad = _leaf(m[0], P, 0, 0);
        bytes32 a = disputes.leafHash(good);
        bytes32 b = disputes.leafHash(bad);
        _join(taskId, m[0]);
        vm.prank(m[0]);
        settlement.commit(
            taskId, a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a)), P * G
        );
        _joinAndCommit(taskId, m[1]);
        _joinAndCommit(taskId, m[2]);
        bytes32[] memory proof = new bytes32[](1);
        proof[0] = a;
        disputes.proveFraud(taskId, m[0], bad, proof);
        // The coalition also fails m0; that does not turn the chain's evidence into a model check.
        _toVerdictWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _commitVerdict(taskId, coalition[i], _list(true, false));
        }
        _toRevealWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _reveal(taskId, coalition[i], _list(true, false));
        }
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        assertTrue(!disputes.canDispute(taskId, m[0]), "no model evidence");
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NoModelEvidence.selector, m[0]));
        disputes.dispute(taskId);
    }

    function _leaf(address miner, uint32 p, uint32 g, uint64 reward)
        internal
        view
        returns (ISettlement.Leaf memory)
    {
        return _rolloutLeaf(taskId, miner, p, g, reward);
    }

    // ---------------------------------------------------------------- the jury

    /// Adversarial: the task's miners cannot sit on the jury; every validator else sits by its stake, the miner's
    /// accusers and the committee's PASS voters alike (an exclusion by vote hands the jury to the other side); a
    /// juror cannot commit before the dispute round is recorded (its seats are unknown), nor reveal something else
    /// than it committed.
    function test_dispute_onlyTheTasksMinersAreOffTheJury() public {
        _firstCommittee(false, false);
        _dispute(m[0]);
        IDisputes.Windows memory w = _windows();
        vm.warp(w.disputeDeadline + 1);
        assertTrue(_ensureNotRecorded(w.round), "round not yet recorded");
        vm.prank(honest[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.DisputeBeaconMissing.selector, w.round));
        disputes.commitRuling(taskId, m[0], keccak256("early"));

        _toJuryCommit();
        for (uint256 i = 0; i < 2; ++i) {
            assertGt(disputes.jurorSeats(taskId, m[0], coalition[i]), 0, "an accuser sits by its stake");
        }
        uint256 honestSeats;
        for (uint256 i = 0; i < HONEST; ++i) {
            honestSeats += disputes.jurorSeats(taskId, m[0], honest[i]);
        }
        assertGt(honestSeats, 0, "and so do the others, PASS voters or not drawn");
        // A miner of the task with validator stake is no juror either.
        _stake(m[1], VALIDATOR, 100e18);
        assertEq(disputes.jurorSeats(taskId, m[0], m[1]), 0, "no seat for the task's miners");

        address[] memory jury = _jury(m[0]);
        assertGt(jury.length, 1, "jurors exist");
        _commitRuling(m[0], jury[0], true, GOOD_SCORE);
        vm.prank(jury[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.RulingAlreadyCommitted.selector, jury[0]));
        disputes.commitRuling(taskId, m[0], keccak256("again"));
        vm.warp(w.commitDeadline + 1);
        vm.prank(jury[1]);
        vm.expectRevert(
            abi.encodeWithSelector(
                IDisputes.OutsideWindow.selector, w.commitDeadline + 1, w.disputeDeadline, w.commitDeadline
            )
        );
        disputes.commitRuling(taskId, m[0], keccak256("late"));
        bytes32 committed = disputes.jurorOf(taskId, m[0], jury[0]).commitHash;
        bytes32 other = disputes.rulingHash(taskId, m[0], jury[0], false, GOOD_SCORE, _jurySalt(jury[0]));
        vm.prank(jury[0]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.RulingMismatch.selector, committed, other));
        disputes.revealRuling(taskId, m[0], false, GOOD_SCORE, _jurySalt(jury[0]));
        vm.prank(jury[1]);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NoRulingCommitted.selector, jury[1]));
        disputes.revealRuling(taskId, m[0], true, GOOD_SCORE, _jurySalt(jury[1]));
        vm.expectRevert(abi.encodeWithSelector(IDisputes.NotResolved.selector, m[0]));
        disputes.settleJuror(taskId, m[0], jury[0]);
    }

    function _ensureNotRecorded(uint64 round) internal view returns (bool) {
        return beacon.randomness(round) == bytes32(0);
    }

    /// Adversarial: a juror that commits and never reveals (to see the others first, or to stall) forfeits its
    /// bond to the treasury; one that rules against the jury's supermajority forfeits its bond too; the others
    /// are paid.
    function test_dispute_jurorThatDoesNotRevealOrRulesAgainstTheJuryForfeitsItsBond() public {
        _firstCommittee(false, false);
        _honestStakeArrives();
        _dispute(m[0]);
        address[] memory jury = _juryRules(m[0], true, 0, 1);
        assertEq(
            uint256(disputes.disputeOf(taskId, m[0]).ruling), uint256(IDisputes.Ruling.OVERTURNED), "ruled"
        );
        for (uint256 i = 0; i < 2; ++i) {
            IDisputes.Juror memory j = disputes.jurorOf(taskId, m[0], jury[i]);
            uint256 wallet = token.balanceOf(jury[i]);
            uint256 treasuryBefore = settlement.treasury();
            disputes.settleJuror(taskId, m[0], jury[i]);
            assertTrue(disputes.jurorOf(taskId, m[0], jury[i]).penalized, "penalized");
            assertEq(token.balanceOf(jury[i]), wallet, "nothing back");
            assertEq(settlement.treasury(), treasuryBefore + j.bond, "its bond to the treasury");
        }
        vm.expectRevert(abi.encodeWithSelector(IDisputes.JurorAlreadySettled.selector, jury[0]));
        disputes.settleJuror(taskId, m[0], jury[0]);
        for (uint256 i = 2; i < jury.length; ++i) {
            disputes.settleJuror(taskId, m[0], jury[i]);
            assertTrue(!disputes.jurorOf(taskId, m[0], jury[i]).penalized, "the others are kept");
        }
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    /// Adversarial: the jury does not show up (or is bribed to stay away). No quorum is no ruling: the miner is
    /// UNDECIDED, neither slashed nor paid, and its whole deposit comes back; the first committee's FAIL voters
    /// are neither paid nor penalized for that miner. A default never slashes a party nobody ruled against.
    function test_dispute_noJuryQuorumLeavesTheMinerUndecidedNeverSlashed() public {
        _firstCommittee(false, false);
        uint256 walletBefore = token.balanceOf(m[0]);
        _dispute(m[0]);
        _toJuryCommit();
        address[] memory jury = _jury(m[0]);
        // One juror alone: far below the quorum of the 2C lots.
        _commitRuling(m[0], jury[0], true, GOOD_SCORE);
        vm.warp(_windows().commitDeadline + 1);
        _revealRuling(m[0], jury[0], true, GOOD_SCORE);
        vm.warp(_windows().revealDeadline + 1);
        disputes.resolve(taskId, m[0]);
        assertEq(
            uint256(disputes.disputeOf(taskId, m[0]).ruling),
            uint256(IDisputes.Ruling.UNRESOLVED),
            "no ruling"
        );
        assertEq(token.balanceOf(m[0]), walletBefore, "whole deposit back");
        vm.expectRevert(abi.encodeWithSelector(IDisputes.AlreadyResolved.selector, m[0]));
        disputes.resolve(taskId, m[0]);

        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertEq(uint256(ms.outcome), uint256(ISettlement.Outcome.UNDECIDED), "UNDECIDED");
        assertEq(ms.slashed, 0, "never slashed by default");
        assertEq(ms.paid, 0, "not paid: nobody verified it");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "stake intact");
        settlement.settleValidator(taskId, coalition[0]);
        assertTrue(!settlement.validatorState(taskId, coalition[0]).penalized, "no ruling, no penalty");
        // The lone juror revealed: its bond comes back, without a fee (nobody ruled).
        uint256 bond = disputes.jurorOf(taskId, m[0], jury[0]).bond;
        uint256 before = token.balanceOf(jury[0]);
        disputes.settleJuror(taskId, m[0], jury[0]);
        assertEq(token.balanceOf(jury[0]), before + bond, "bond back, no fee");
        assertEq(token.balanceOf(address(disputes)), 0, "Disputes keeps nothing");
    }

    // --------------------------------------------------------------- finalize

    /// Adversarial: finalize before the dispute window closes (with a FAILED miner that may still dispute) or
    /// before an open dispute is resolved is refused: the failed miner's lock cannot be slashed under it.
    function test_dispute_finalizeBeforeResolutionIsRefused() public {
        _firstCommittee(false, false);
        IDisputes.Windows memory w = _windows();
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        vm.expectRevert(
            abi.encodeWithSelector(IDisputes.DisputeWindowOpen.selector, taskId, w.disputeDeadline)
        );
        settlement.finalize(taskId);
        vm.prank(m[0]);
        disputes.dispute(taskId);
        vm.warp(w.disputeDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.DisputeOpen.selector, taskId, 1));
        settlement.finalize(taskId);
        vm.warp(w.revealDeadline + 1);
        _ensureRound(w.round);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.DisputeOpen.selector, taskId, 1));
        settlement.finalize(taskId);
        disputes.resolve(taskId, m[0]);
        settlement.finalize(taskId);
        assertTrue(settlement.taskSettlement(taskId).finalized, "finalized once resolved");
    }

    /// A task where nobody FAILED finalizes right after its verify deadline: the dispute window costs no latency
    /// when there is nothing to dispute. A FAILED miner that does not dispute is finalized after the window.
    function test_dispute_noFailNoLatency() public {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
        _toVerdictWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _commitVerdict(taskId, coalition[i], _list(false, false));
        }
        _toRevealWindow(taskId);
        for (uint256 i = 0; i < 2; ++i) {
            _reveal(taskId, coalition[i], _list(false, false));
        }
        vm.warp(_task(taskId).params.verifyDeadline + 1);
        settlement.finalize(taskId);
        assertEq(
            uint256(settlement.minerState(taskId, m[0]).outcome), uint256(ISettlement.Outcome.PASSED), "ok"
        );
    }

    // ------------------------------------------------------------------ hooks

    /// Adversarial: only Disputes may record a fraud or a ruling, and only the deployer may set Disputes, once.
    function test_dispute_hooksAreDisputesOnly() public {
        address stranger = _actor("stranger", 1);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotDisputes.selector, stranger));
        settlement.recordRuling(taskId, m[0], ISettlement.Outcome.PASSED, 1e6);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotDisputes.selector, stranger));
        settlement.recordFraud(taskId, m[0], stranger);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotDeployer.selector, stranger));
        settlement.setDisputes(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.DisputesAlreadySet.selector, address(disputes)));
        settlement.setDisputes(stranger);
    }
}
