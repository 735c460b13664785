// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./Fixture.sol";
import {ISettlement} from "../../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../../src/interfaces/ITaskBoard.sol";

/// @dev Three staked miners, one posted task, and helpers to run a committee over it.
abstract contract SettlementBase is Fixture {
    address[3] internal m;
    uint256 internal taskId;

    function setUp() public virtual override {
        super.setUp();
        for (uint256 i = 0; i < 3; ++i) {
            m[i] = _actor("miner", i);
            _stake(m[i], MINER, MINER_STAKE);
        }
        taskId = _postDefault();
    }

    function _allCommit() internal {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
    }

    function _three(ISettlement.Verdict memory a, ISettlement.Verdict memory b, ISettlement.Verdict memory c)
        internal
        pure
        returns (ISettlement.Verdict[] memory out)
    {
        out = new ISettlement.Verdict[](3);
        out[0] = a;
        out[1] = b;
        out[2] = c;
    }

    function _allPass() internal view returns (ISettlement.Verdict[] memory) {
        return _three(_pass(m[0], 800_000), _pass(m[1], 600_000), _pass(m[2], 400_000));
    }

    function _allFail() internal view returns (ISettlement.Verdict[] memory) {
        return _three(_fail(m[0]), _fail(m[1]), _fail(m[2]));
    }

    function _validator(string memory name, uint256 i, uint256 amount) internal returns (address v) {
        v = _actor(name, i);
        _stake(v, VALIDATOR, amount);
    }

    function _seats(address v) internal view returns (uint16) {
        return settlement.committeeSeats(taskId, v);
    }

    /// @dev Every member of `vals` with a seat commits its list (all must be in the verdict window).
    function _commitAll(address[] memory vals, ISettlement.Verdict[][] memory lists) internal {
        for (uint256 j = 0; j < vals.length; ++j) {
            if (_seats(vals[j]) != 0) _commitVerdict(taskId, vals[j], lists[j]);
        }
    }

    function _revealAll(address[] memory vals, ISettlement.Verdict[][] memory lists) internal {
        for (uint256 j = 0; j < vals.length; ++j) {
            if (settlement.validatorState(taskId, vals[j]).commitHash != bytes32(0)) {
                _reveal(taskId, vals[j], lists[j]);
            }
        }
    }

    function _settleAll(address[] memory vals) internal {
        for (uint256 j = 0; j < vals.length; ++j) {
            if (settlement.validatorState(taskId, vals[j]).commitHash != bytes32(0)) {
                settlement.settleValidator(taskId, vals[j]);
            }
        }
    }

    /// @dev The full round: commit, reveal, finalize, settle every member.
    function _run(address[] memory vals, ISettlement.Verdict[][] memory lists) internal {
        _toVerdictWindow(taskId);
        _commitAll(vals, lists);
        _toRevealWindow(taskId);
        _revealAll(vals, lists);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        _settleAll(vals);
    }

    function _outcome(address miner) internal view returns (ISettlement.Outcome) {
        return settlement.minerState(taskId, miner).outcome;
    }

    function _baseShare() internal view returns (uint256) {
        return settlement.minerCap(taskId) * BASE_BPS / 10_000;
    }

    function _payFor(uint64 score) internal view returns (uint256) {
        uint256 cap = settlement.minerCap(taskId);
        return cap * (uint256(BASE_BPS) * 1e6 + (10_000 - uint256(BASE_BPS)) * score) / (10_000 * 1e6);
    }

    /// @dev The honest miner keeps all its stake, unlocked.
    function _assertStakeIntact(address miner) internal view {
        assertEq(stakes.activeStake(miner, MINER), MINER_STAKE, "honest miner keeps its stake");
        assertEq(stakes.lockedStake(miner, MINER), 0, "and its lock is released");
    }

    function _one(address a) internal pure returns (address[] memory out) {
        out = new address[](1);
        out[0] = a;
    }

    function _pair(address a, address b) internal pure returns (address[] memory out) {
        out = new address[](2);
        out[0] = a;
        out[1] = b;
    }

    function _lists1(ISettlement.Verdict[] memory a)
        internal
        pure
        returns (ISettlement.Verdict[][] memory out)
    {
        out = new ISettlement.Verdict[][](1);
        out[0] = a;
    }

    function _lists2(ISettlement.Verdict[] memory a, ISettlement.Verdict[] memory b)
        internal
        pure
        returns (ISettlement.Verdict[][] memory out)
    {
        out = new ISettlement.Verdict[][](2);
        out[0] = a;
        out[1] = b;
    }

    /// @dev Stakes `amount` on candidate addresses `name`/i until one draws exactly as many seats as `other`
    /// (the challenge beacon is recorded early, so call it after every commit, before the commit deadline).
    function _tieWith(address other, string memory name, uint256 amount) internal returns (address v) {
        _ensureRound(_task(taskId).challengeRound);
        for (uint256 i = 0; i < 200; ++i) {
            v = _validator(name, i, amount);
            uint16 s = _seats(v);
            if (s != 0 && s == _seats(other)) return v;
            vm.prank(v);
            stakes.requestUnstake(VALIDATOR, amount);
        }
        revert("no candidate tied");
    }

    function _expectedTask() internal view returns (ITaskBoard.Task memory) {
        return _task(taskId);
    }
}
