// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";

/// @dev Issue 11's jury capture (PROTOCOL.md 2.10, SECURITY.md 4): half the validator stake split into 48 small
/// identities frames an honest miner. The four large honest validators are all drawn to the first committee and
/// PASS; about half of the coalition's identities are drawn and FAIL (no PASS supermajority: contested); the other
/// half is not drawn. A jury that excluded the whole first committee would be the coalition's undrawn identities
/// alone and would uphold the frame. The jury is drawn from all validator stake, so the coalition's share of it is
/// its share of the stake, however it splits: it can block the ruling (UNRESOLVED), never uphold the frame.
contract DisputesSplitCoalitionTest is Fixture {
    uint256 internal constant SPLIT = 48;
    uint256 internal constant HONEST = 4;
    uint64 internal constant GOOD_SCORE = 800_000;

    address[3] internal m;
    address[] internal coalition;
    address[] internal honest;
    uint256 internal taskId;

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 3; ++i) {
            m[i] = _actor("miner", i);
            _stake(m[i], MINER, MINER_STAKE);
            _fund(m[i], LOCK);
            vm.prank(m[i]);
            token.approve(address(disputes), LOCK);
        }
        for (uint256 i = 0; i < SPLIT; ++i) {
            coalition.push(_validator("split coalition", i, 500e18)); // 24,000 RPT in all
        }
        for (uint256 i = 0; i < HONEST; ++i) {
            honest.push(_validator("large honest", i, 6000e18)); // 24,000 RPT in all
        }
        taskId = _postDefault();
    }

    function _validator(string memory name, uint256 i, uint256 stake) internal returns (address v) {
        v = _actor(name, i);
        _stake(v, VALIDATOR, stake);
        _fund(v, 1000e18); // jury bonds, in tokens
        vm.prank(v);
        token.approve(address(disputes), type(uint256).max);
    }

    function _votes(bool frame) internal view returns (ISettlement.Verdict[] memory out) {
        out = new ISettlement.Verdict[](3);
        out[0] = frame ? _fail(m[0]) : _pass(m[0], GOOD_SCORE);
        out[1] = _pass(m[1], 600_000);
        out[2] = _pass(m[2], 400_000);
    }

    function _isCoalition(address v) internal view returns (bool) {
        for (uint256 i = 0; i < SPLIT; ++i) {
            if (coalition[i] == v) return true;
        }
        return false;
    }

    /// @dev Seats on m0's jury of `group`'s members; each commits `overturn` and returns its seats.
    function _juryCommits(address[] storage group, bool overturn) internal returns (uint256 seats) {
        for (uint256 i = 0; i < group.length; ++i) {
            uint16 s = disputes.jurorSeats(taskId, m[0], group[i]);
            if (s == 0) continue;
            seats += s;
            bytes32 salt = keccak256(abi.encode("jury salt", group[i]));
            bytes32 h = disputes.rulingHash(taskId, m[0], group[i], overturn, GOOD_SCORE, salt);
            vm.prank(group[i]);
            disputes.commitRuling(taskId, m[0], h);
        }
    }

    function _juryReveals(address[] storage group, bool overturn) internal {
        for (uint256 i = 0; i < group.length; ++i) {
            if (disputes.jurorOf(taskId, m[0], group[i]).commitHash == bytes32(0)) continue;
            vm.prank(group[i]);
            disputes.revealRuling(
                taskId, m[0], overturn, GOOD_SCORE, keccak256(abi.encode("jury salt", group[i]))
            );
        }
    }

    /// Adversarial: the split coalition frames honest miner m0 and all its identities, drawn or not, uphold on the
    /// jury. They hold about half of its seats, no supermajority: the frame is not upheld, the miner not slashed.
    function test_dispute_splitCoalitionCannotCaptureTheJury() public {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
        _toVerdictWindow(taskId);
        uint256 undrawn;
        for (uint256 i = 0; i < SPLIT; ++i) {
            if (settlement.committeeSeats(taskId, coalition[i]) == 0) ++undrawn;
            else _commitVerdict(taskId, coalition[i], _votes(true));
        }
        assertGt(undrawn, 0, "some of the coalition's identities are undrawn");
        for (uint256 i = 0; i < HONEST; ++i) {
            // Excluding the whole first committee would leave the jury to the coalition's undrawn identities.
            assertGt(settlement.committeeSeats(taskId, honest[i]), 0, "every honest validator is drawn");
            _commitVerdict(taskId, honest[i], _votes(false));
        }
        _toRevealWindow(taskId);
        address[] memory members = settlement.getValidators(taskId);
        for (uint256 i = 0; i < members.length; ++i) {
            _reveal(taskId, members[i], _votes(_isCoalition(members[i])));
        }

        vm.warp(_task(taskId).params.verifyDeadline + 1);
        assertTrue(disputes.canDispute(taskId, m[0]), "the frame leaves m0 contested");
        vm.prank(m[0]);
        disputes.dispute(taskId);

        IDisputes.Windows memory w = disputes.windows(taskId);
        uint64 roundTime = board.roundTime(w.round);
        vm.warp(roundTime > w.disputeDeadline ? roundTime : w.disputeDeadline + 1);
        _ensureRound(w.round);
        uint256 honestSeats = _juryCommits(honest, true);
        uint256 coalitionSeats = _juryCommits(coalition, false);
        assertGt(coalitionSeats, 0, "the coalition sits");
        assertTrue(
            coalitionSeats * 10_000 < uint256(SUPER_BPS) * (honestSeats + coalitionSeats),
            "the coalition holds no jury supermajority"
        );
        vm.warp(w.commitDeadline + 1);
        _juryReveals(honest, true);
        _juryReveals(coalition, false);
        vm.warp(w.revealDeadline + 1);
        disputes.resolve(taskId, m[0]);
        IDisputes.Ruling ruling = disputes.disputeOf(taskId, m[0]).ruling;
        assertTrue(ruling != IDisputes.Ruling.UPHELD, "the frame is not upheld");

        settlement.finalize(taskId);
        ISettlement.MinerState memory ms = settlement.minerState(taskId, m[0]);
        assertTrue(ms.outcome != ISettlement.Outcome.FAILED, "the framed miner is not FAILED");
        assertEq(ms.slashed, 0, "nor slashed");
        assertEq(stakes.activeStake(m[0], MINER), MINER_STAKE, "it keeps its stake");
    }
}
