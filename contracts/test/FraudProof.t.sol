// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SettlementBase} from "./utils/SettlementBase.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {IDisputes} from "../src/interfaces/IDisputes.sol";

/// @dev Fraud proofs (PROTOCOL.md 2.10): a committed leaf opened with its Merkle proof that contradicts the task
/// makes its miner FAILED whatever the committee voted; the prover earns a bounty out of the slashed lock.
contract FraudProofTest is SettlementBase {
    event FraudProven(
        uint256 indexed taskId, address indexed miner, address indexed prover, ISettlement.Fraud fraud
    );

    address internal v0;
    address internal prover = address(0xF00D);

    function setUp() public override {
        super.setUp();
        v0 = _validator("validator", 0, 1000e18);
    }

    function _leaf(address miner, uint32 p, uint32 g, uint64 reward)
        internal
        view
        returns (ISettlement.Leaf memory)
    {
        return _rolloutLeaf(taskId, miner, p, g, reward);
    }

    /// @dev Commits a two-leaf tree of `good` and `bad` for `miner`; returns the proof of `bad`.
    function _commitPair(address miner, ISettlement.Leaf memory good, ISettlement.Leaf memory bad)
        internal
        returns (bytes32[] memory proof)
    {
        bytes32 a = disputes.leafHash(good);
        bytes32 b = disputes.leafHash(bad);
        bytes32 root = a < b ? keccak256(abi.encodePacked(a, b)) : keccak256(abi.encodePacked(b, a));
        _join(taskId, miner);
        vm.prank(miner);
        settlement.commit(taskId, root, P * G);
        proof = new bytes32[](1);
        proof[0] = a;
    }

    function test_LeafHash_MatchesTheCommitmentSpec() public view {
        ISettlement.Leaf memory l = _leaf(m[0], 1, 0, 500_000);
        bytes32 want = keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(l.taskId, l.miner, l.p, l.g, l.tokensHash, l.logprobsHash, l.claimedReward)
                )
            )
        );
        assertEq(disputes.leafHash(l), want, "OpenZeppelin StandardMerkleTree leaf");
    }

    function _proveAndSettle(ISettlement.Leaf memory bad, ISettlement.Fraud fraud) internal {
        bytes32[] memory proof = _commitPair(m[0], _leaf(m[0], 0, 0, 1e6), bad);
        _joinAndCommit(taskId, m[1]);
        vm.expectEmit(true, true, true, true, address(disputes));
        emit FraudProven(taskId, m[0], prover, fraud);
        vm.prank(prover);
        disputes.proveFraud(taskId, m[0], bad, proof);
        assertTrue(settlement.minerState(taskId, m[0]).fraud, "proven");
        // The committee passes the miner anyway: the proof outranks the votes.
        ISettlement.Verdict[] memory list = _two(_pass(m[0], 1e6), _pass(m[1], 500_000));
        _run(_one(v0), _lists1(list));
        assertEq(uint256(_outcome(m[0])), uint256(ISettlement.Outcome.FAILED), "failed by proof");
        assertEq(settlement.minerState(taskId, m[0]).slashed, LOCK, "whole lock slashed");
        uint256 bounty = JACKPOT < LOCK / 2 ? JACKPOT : LOCK / 2;
        assertEq(settlement.claimable(prover), bounty, "the prover's bounty");
        // The treasury: the lock less the bounty. The PASS on the proven miner is not penalized: the votes did
        // not fail it, and the leaf the proof opened need not be in any audit sample (RedTeam H14).
        assertEq(settlement.treasury(), LOCK - bounty, "the rest to the treasury");
        assertTrue(!settlement.validatorState(taskId, v0).penalized, "a PASS the votes upheld is no penalty");
        assertEq(stakes.activeStake(v0, VALIDATOR), 1000e18, "bond kept");
        _assertStakeIntact(m[1]);
    }

    function test_ProveFraud_ProblemOutOfRange() public {
        _proveAndSettle(_leaf(m[0], P, 0, 0), ISettlement.Fraud.PROBLEM_OUT_OF_RANGE);
    }

    function test_ProveFraud_RolloutOutOfRange() public {
        _proveAndSettle(_leaf(m[0], 0, G, 0), ISettlement.Fraud.ROLLOUT_OUT_OF_RANGE);
    }

    function test_ProveFraud_RewardAboveOne() public {
        _proveAndSettle(_leaf(m[0], 1, 1, 1e6 + 1), ISettlement.Fraud.REWARD_ABOVE_ONE);
    }

    function test_ProveFraud_WrongMinerOrTask() public {
        ISettlement.Leaf memory other = _leaf(m[2], 1, 1, 0);
        _proveAndSettle(other, ISettlement.Fraud.WRONG_MINER);
    }

    function test_ProveFraud_WrongTask() public {
        ISettlement.Leaf memory l = _leaf(m[0], 1, 1, 0);
        l.taskId = taskId + 1;
        _proveAndSettle(l, ISettlement.Fraud.WRONG_TASK);
    }

    function test_ProveFraud_Reverts() public {
        ISettlement.Leaf memory good = _leaf(m[0], 0, 0, 1e6);
        ISettlement.Leaf memory bad = _leaf(m[0], P, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.MinerNotCommitted.selector, m[0]));
        disputes.proveFraud(taskId, m[0], bad, new bytes32[](0));
        bytes32[] memory proof = _commitPair(m[0], good, bad);
        // A consistent leaf proves nothing.
        bytes32[] memory goodProof = new bytes32[](1);
        goodProof[0] = disputes.leafHash(bad);
        vm.expectRevert(IDisputes.NotFraud.selector);
        disputes.proveFraud(taskId, m[0], good, goodProof);
        // A leaf that is not in the commitment proves nothing either.
        ISettlement.Leaf memory forged = _leaf(m[0], P + 5, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.InvalidLeafProof.selector, m[0]));
        disputes.proveFraud(taskId, m[0], forged, proof);
        disputes.proveFraud(taskId, m[0], bad, proof);
        vm.expectRevert(abi.encodeWithSelector(IDisputes.FraudAlreadyProven.selector, m[0]));
        disputes.proveFraud(taskId, m[0], bad, proof);
    }

    /// Proving one's own fraud to farm the bounty loses at least half the lock.
    function test_ProveFraud_SelfProofDoesNotPay() public {
        bytes32[] memory proof = _commitPair(m[0], _leaf(m[0], 0, 0, 1e6), _leaf(m[0], P, 0, 0));
        vm.prank(m[0]);
        disputes.proveFraud(taskId, m[0], _leaf(m[0], P, 0, 0), proof);
        _toFinalize(taskId);
        settlement.finalize(taskId);
        uint256 lost = MINER_STAKE - stakes.activeStake(m[0], MINER);
        assertEq(lost, LOCK, "lock slashed");
        assertLe(settlement.claimable(m[0]) * 2, lost, "bounty at most half the loss");
    }
}
