// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Fixture} from "./utils/Fixture.sol";
import {Settlement} from "../src/Settlement.sol";
import {StakeManager} from "../src/StakeManager.sol";
import {TaskBoard} from "../src/TaskBoard.sol";
import {RollToken} from "../src/RollToken.sol";
import {DrandBeacon} from "../src/DrandBeacon.sol";
import {ISettlement} from "../src/interfaces/ISettlement.sol";
import {ITaskBoard} from "../src/interfaces/ITaskBoard.sol";
import {IStakeManager} from "../src/interfaces/IStakeManager.sol";
import {IDrandBeacon} from "../src/interfaces/IDrandBeacon.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

contract SettlementTest is Fixture {
    event Joined(uint256 indexed taskId, address indexed miner, bytes32 adapterHash);
    event Committed(uint256 indexed taskId, address indexed miner, bytes32 root, uint32 count);
    event VerdictCommitted(uint256 indexed taskId, address indexed validator, bytes32 verdictHash);
    event VerdictRevealed(
        uint256 indexed taskId,
        address indexed validator,
        address indexed miner,
        bool pass,
        uint64 score,
        uint32 audited,
        uint256 weight
    );
    event MinerSettled(
        uint256 indexed taskId,
        address indexed miner,
        ISettlement.Outcome outcome,
        uint64 score,
        uint256 paid,
        uint256 slashed
    );
    event TaskFinalized(
        uint256 indexed taskId,
        address indexed proposer,
        uint256 minerPool,
        uint256 validatorPool,
        uint256 refund
    );
    event Claimed(address indexed who, uint256 amount);

    address[3] internal m;
    address[3] internal v;
    uint256 internal taskId;

    function setUp() public override {
        super.setUp();
        for (uint256 i = 0; i < 3; ++i) {
            m[i] = _actor("miner", i);
            v[i] = _actor("validator", i);
            _stake(m[i], MINER, MIN_MINER);
        }
        // Validator weights 200 / 150 / 100.
        _stake(v[0], VALIDATOR, 200e18);
        _stake(v[1], VALIDATOR, 150e18);
        _stake(v[2], VALIDATOR, 100e18);
        taskId = _postDefault();
    }

    // ----------------------------------------------------------------- helpers

    function _state(address miner) internal view returns (ISettlement.MinerState memory) {
        return settlement.minerState(taskId, miner);
    }

    function _vstate(address validator) internal view returns (ISettlement.ValidatorState memory) {
        return settlement.validatorState(taskId, validator);
    }

    function _allCommit() internal {
        for (uint256 i = 0; i < 3; ++i) {
            _joinAndCommit(taskId, m[i]);
        }
    }

    function _verdicts3(bool p0, uint64 s0, bool p1, uint64 s1, bool p2, uint64 s2)
        internal
        view
        returns (ISettlement.Verdict[] memory a)
    {
        a = new ISettlement.Verdict[](3);
        a[0] = _verdict(m[0], p0, s0);
        a[1] = _verdict(m[1], p1, s1);
        a[2] = _verdict(m[2], p2, s2);
    }

    /// @dev Commits and reveals the three validators' verdict lists, then finalizes.
    function _settle(
        ISettlement.Verdict[] memory a0,
        ISettlement.Verdict[] memory a1,
        ISettlement.Verdict[] memory a2
    ) internal {
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a0);
        _commitVerdict(taskId, v[1], a1);
        _commitVerdict(taskId, v[2], a2);
        _toRevealWindow(taskId);
        _reveal(taskId, v[0], a0);
        _reveal(taskId, v[1], a1);
        _reveal(taskId, v[2], a2);
        _toFinalize(taskId);
        settlement.finalize(taskId);
    }

    function _sumClaimable() internal view returns (uint256 sum) {
        sum = settlement.claimable(proposer);
        for (uint256 i = 0; i < 3; ++i) {
            sum += settlement.claimable(m[i]) + settlement.claimable(v[i]);
        }
    }

    // ------------------------------------------------------------- constructor

    function test_Constructor_SetsParameters() public view {
        assertEq(address(settlement.stakes()), address(stakes), "stakes");
        assertEq(address(settlement.board()), address(board), "board");
        assertEq(address(settlement.beacon()), address(beacon), "beacon");
        assertEq(settlement.token(), address(token), "token");
        assertEq(settlement.validatorFeeBps(), FEE_BPS, "fee");
        assertEq(settlement.slashBps(), SLASH_BPS, "slash");
    }

    function test_Constructor_RevertsOnBadWiring() public {
        ISettlement.Params memory ok = ISettlement.Params({validatorFeeBps: FEE_BPS, slashBps: SLASH_BPS});
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        new Settlement(IERC20(address(0)), stakes, board, beacon, ok);
        vm.expectRevert(ISettlement.ZeroAddress.selector);
        new Settlement(token, IStakeManager(address(0)), board, beacon, ok);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.BpsTooHigh.selector, 10_001));
        new Settlement(
            token, stakes, board, beacon, ISettlement.Params({validatorFeeBps: 10_001, slashBps: 0})
        );
        vm.expectRevert(abi.encodeWithSelector(ISettlement.BpsTooHigh.selector, 10_001));
        new Settlement(
            token, stakes, board, beacon, ISettlement.Params({validatorFeeBps: 0, slashBps: 10_001})
        );
        RollToken other = new RollToken(address(this));
        vm.expectRevert(ISettlement.MismatchedWiring.selector);
        new Settlement(other, stakes, board, beacon, ok);
        DrandBeacon otherBeacon =
            new DrandBeacon(vm.parseJsonBytes(devnetJson, ".public_key_eip2537"), genesis, period);
        vm.expectRevert(ISettlement.MismatchedWiring.selector);
        new Settlement(token, stakes, board, otherBeacon, ok);
    }

    function test_Constructor_RevertsWhenCooldownDoesNotOutlastTasks() public {
        StakeManager short =
            new StakeManager(token, MAX_TASK, [MIN_MINER, MIN_VALIDATOR, MIN_EVALUATOR], address(this));
        vm.expectRevert(abi.encodeWithSelector(ISettlement.CooldownTooShort.selector, MAX_TASK, MAX_TASK));
        new Settlement(token, short, board, beacon, ISettlement.Params({validatorFeeBps: 0, slashBps: 0}));
    }

    // -------------------------------------------------------------------- join

    function test_Join_RecordsTheMinerAndAdapter() public {
        vm.expectEmit(true, true, false, true, address(settlement));
        emit Joined(taskId, m[0], keccak256("adapter"));
        vm.prank(m[0]);
        settlement.join(taskId, keccak256("adapter"));
        ISettlement.MinerState memory s = _state(m[0]);
        assertTrue(s.joined && !s.committed, "joined only");
        assertEq(s.adapterHash, keccak256("adapter"), "adapter");
        assertEq(settlement.joinedCount(taskId), 1, "count");
        address[] memory miners = settlement.getMiners(taskId);
        assertEq(miners.length, 1, "one miner");
        assertEq(miners[0], m[0], "listed");
    }

    function test_Join_RevertsWhenNotStaked() public {
        address poor = _actor("poor", 0);
        _stake(poor, MINER, MIN_MINER - 1);
        vm.prank(poor);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, poor, MINER));
        settlement.join(taskId, bytes32(0));
        // Validator stake does not make a miner.
        vm.prank(v[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, v[0], MINER));
        settlement.join(taskId, bytes32(0));
    }

    /// Adversarial: a miner that waits for the seed beacon (after the join deadline) cannot join.
    function test_Join_RevertsAfterTheJoinDeadline() public {
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.joinDeadline + 1);
        vm.prank(m[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.joinDeadline + 1,
                t.postedAt,
                t.params.joinDeadline
            )
        );
        settlement.join(taskId, bytes32(0));
    }

    function test_Join_RevertsTwice() public {
        vm.startPrank(m[0]);
        settlement.join(taskId, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyJoined.selector, taskId, m[0]));
        settlement.join(taskId, keccak256("another adapter"));
        vm.stopPrank();
        assertEq(_state(m[0]).adapterHash, bytes32(0), "first adapter kept");
    }

    function test_Join_RevertsOnCancelledAndUnknownTasks() public {
        vm.prank(proposer);
        board.cancelTask(taskId);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskNotOpen.selector, taskId));
        settlement.join(taskId, bytes32(0));
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 42));
        settlement.join(42, bytes32(0));
    }

    function test_Join_RevertsWhenTheTaskIsFull() public {
        uint256 max = settlement.MAX_MINERS_PER_TASK();
        for (uint256 i = 0; i < max; ++i) {
            address a = _actor("crowd", i);
            _stake(a, MINER, MIN_MINER);
            vm.prank(a);
            settlement.join(taskId, bytes32(0));
        }
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskFull.selector, taskId, max));
        settlement.join(taskId, bytes32(0));
        assertEq(settlement.joinedCount(taskId), max, "full");
    }

    function testFuzz_Join_OnlyUpToTheJoinDeadline(uint256 offset) public {
        ITaskBoard.Task memory t = _task(taskId);
        offset = bound(offset, 0, 60);
        uint256 when = t.postedAt + offset;
        vm.warp(when);
        vm.prank(m[0]);
        if (when > t.params.joinDeadline) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISettlement.OutsideWindow.selector, when, t.postedAt, t.params.joinDeadline
                )
            );
        }
        settlement.join(taskId, bytes32(0));
        assertTrue(_state(m[0]).joined == (when <= t.params.joinDeadline), "joined iff in window");
    }

    // ------------------------------------------------------------------ commit

    function test_Commit_RecordsTheRoot() public {
        vm.prank(m[0]);
        settlement.join(taskId, bytes32(0));
        vm.warp(_task(taskId).params.commitDeadline);
        vm.expectEmit(true, true, false, true, address(settlement));
        emit Committed(taskId, m[0], _root(m[0]), P * G);
        vm.prank(m[0]);
        settlement.commit(taskId, _root(m[0]), P * G);
        ISettlement.MinerState memory s = _state(m[0]);
        assertTrue(s.committed, "committed");
        assertEq(s.root, _root(m[0]), "root");
        assertEq(s.count, P * G, "count");
        assertEq(settlement.committedCount(taskId), 1, "committed count");
    }

    function test_Commit_RevertsWithoutJoin() public {
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotJoined.selector, taskId, m[0]));
        settlement.commit(taskId, _root(m[0]), P * G);
    }

    function test_Commit_RevertsTwice() public {
        _joinAndCommit(taskId, m[0]);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyCommitted.selector, taskId, m[0]));
        settlement.commit(taskId, keccak256("other"), P * G);
        assertEq(_state(m[0]).root, _root(m[0]), "first root kept");
    }

    function test_Commit_RevertsOnWrongCountAndZeroRoot() public {
        vm.startPrank(m[0]);
        settlement.join(taskId, bytes32(0));
        vm.expectRevert(abi.encodeWithSelector(ISettlement.WrongCount.selector, P * G - 1, P * G));
        settlement.commit(taskId, _root(m[0]), P * G - 1);
        vm.expectRevert(ISettlement.ZeroRoot.selector);
        settlement.commit(taskId, bytes32(0), P * G);
        vm.stopPrank();
    }

    /// Adversarial: a miner that waits for the challenge beacon (after the commit deadline) cannot commit.
    function test_Commit_RevertsAfterTheCommitDeadline() public {
        vm.prank(m[0]);
        settlement.join(taskId, bytes32(0));
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.commitDeadline + 1);
        vm.prank(m[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.commitDeadline + 1,
                t.postedAt,
                t.params.commitDeadline
            )
        );
        settlement.commit(taskId, _root(m[0]), P * G);
    }

    // ----------------------------------------------------------- commitVerdict

    function test_CommitVerdict_RecordsTheHash() public {
        _allCommit();
        _toVerdictWindow(taskId);
        vm.expectEmit(true, true, false, true, address(settlement));
        emit VerdictCommitted(taskId, v[0], keccak256("h"));
        vm.prank(v[0]);
        settlement.commitVerdict(taskId, keccak256("h"));
        assertEq(_vstate(v[0]).commitHash, keccak256("h"), "hash");
        assertEq(settlement.taskSettlement(taskId).verdictCommits, 1, "counted");
    }

    function test_CommitVerdict_RevertsOutsideItsWindow() public {
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.commitDeadline);
        vm.prank(v[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.commitDeadline,
                t.params.commitDeadline,
                t.params.verdictDeadline
            )
        );
        settlement.commitVerdict(taskId, keccak256("h"));
        vm.warp(t.params.verdictDeadline + 1);
        vm.prank(v[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.verdictDeadline + 1,
                t.params.commitDeadline,
                t.params.verdictDeadline
            )
        );
        settlement.commitVerdict(taskId, keccak256("h"));
    }

    function test_CommitVerdict_RevertsWhenNotStakedZeroOrTwice() public {
        _toVerdictWindow(taskId);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, m[0], VALIDATOR));
        settlement.commitVerdict(taskId, keccak256("h"));
        vm.startPrank(v[0]);
        vm.expectRevert(ISettlement.ZeroVerdictHash.selector);
        settlement.commitVerdict(taskId, bytes32(0));
        settlement.commitVerdict(taskId, keccak256("h"));
        vm.expectRevert(abi.encodeWithSelector(ISettlement.VerdictAlreadyCommitted.selector, taskId, v[0]));
        settlement.commitVerdict(taskId, keccak256("h2"));
        vm.stopPrank();
    }

    function test_CommitVerdict_RevertsWhenTooManyValidators() public {
        _toVerdictWindow(taskId);
        uint256 max = settlement.MAX_VALIDATORS_PER_TASK();
        for (uint256 i = 0; i < max; ++i) {
            address a = _actor("crowdv", i);
            _stake(a, VALIDATOR, MIN_VALIDATOR);
            vm.prank(a);
            settlement.commitVerdict(taskId, keccak256("h"));
        }
        vm.prank(v[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TooManyValidators.selector, taskId, max));
        settlement.commitVerdict(taskId, keccak256("h"));
    }

    function test_CommitVerdict_RevertsOnCancelledTask() public {
        vm.warp(_task(taskId).params.commitDeadline + 1);
        vm.prank(proposer);
        board.cancelTask(taskId);
        vm.prank(v[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskNotOpen.selector, taskId));
        settlement.commitVerdict(taskId, keccak256("h"));
    }

    // ----------------------------------------------------------- revealVerdict

    function test_VerdictHash_MatchesTheSpec() public view {
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 7));
        assertEq(
            settlement.verdictHash(taskId, v[0], a, bytes32("s")),
            keccak256(abi.encode(taskId, v[0], a, bytes32("s"))),
            "abi.encode(taskId, validator, verdicts, salt)"
        );
    }

    function test_RevealVerdict_TalliesStakeWeightedVotes() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _two(_verdict(m[0], true, 800_000), _verdict(m[1], false, 0));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        _toRevealWindow(taskId);
        vm.expectEmit(true, true, true, true, address(settlement));
        emit VerdictRevealed(taskId, v[0], m[0], true, 800_000, 2, 200e18);
        _reveal(taskId, v[0], a);
        assertEq(_state(m[0]).passStake, 200e18, "pass stake");
        assertEq(_state(m[1]).failStake, 200e18, "fail stake");
        ISettlement.ValidatorState memory s = _vstate(v[0]);
        assertTrue(s.revealed, "revealed");
        assertEq(s.weight, 200e18, "weight");
        assertEq(s.verdicts, 2, "verdicts");
        assertEq(settlement.getValidators(taskId)[0], v[0], "listed");
    }

    function test_RevealVerdict_RevertsOutsideItsWindow() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verdictDeadline);
        vm.prank(v[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.verdictDeadline,
                t.params.verdictDeadline,
                t.params.verifyDeadline
            )
        );
        settlement.revealVerdict(taskId, a, _salt(v[0]));
        vm.warp(t.params.verifyDeadline + 1);
        vm.prank(v[0]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.OutsideWindow.selector,
                t.params.verifyDeadline + 1,
                t.params.verdictDeadline,
                t.params.verifyDeadline
            )
        );
        settlement.revealVerdict(taskId, a, _salt(v[0]));
    }

    function test_RevealVerdict_RevertsWithoutCommitmentAndTwice() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        _toRevealWindow(taskId);
        vm.prank(v[1]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NoVerdictCommitted.selector, taskId, v[1]));
        settlement.revealVerdict(taskId, a, _salt(v[1]));
        _reveal(taskId, v[0], a);
        vm.prank(v[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyRevealed.selector, taskId, v[0]));
        settlement.revealVerdict(taskId, a, _salt(v[0]));
        assertEq(_state(m[0]).passStake, 200e18, "counted once");
    }

    /// Adversarial: a validator that changes its mind after seeing others' reveals is rejected.
    function test_RevealVerdict_RevertsWhenTheVerdictChanged() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        _toRevealWindow(taskId);
        ISettlement.Verdict[] memory changed = _one(_verdict(m[0], false, 1));
        bytes32 committed = settlement.validatorState(taskId, v[0]).commitHash;
        bytes32 got = keccak256(abi.encode(taskId, v[0], changed, _salt(v[0])));
        vm.prank(v[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.VerdictMismatch.selector, committed, got));
        settlement.revealVerdict(taskId, changed, _salt(v[0]));
    }

    /// Adversarial: a lazy validator copies another's commitment and later its revealed verdicts; the
    /// hash names the validator, so the copy cannot be revealed.
    function test_RevealVerdict_CopiedCommitmentIsUseless() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _verdicts3(true, 1e6, true, 1e6, true, 1e6);
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        bytes32 copied = settlement.validatorState(taskId, v[0]).commitHash;
        vm.prank(v[1]);
        settlement.commitVerdict(taskId, copied);
        _toRevealWindow(taskId);
        _reveal(taskId, v[0], a);
        vm.prank(v[1]);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISettlement.VerdictMismatch.selector,
                copied,
                keccak256(abi.encode(taskId, v[1], a, _salt(v[0])))
            )
        );
        settlement.revealVerdict(taskId, a, _salt(v[0]));
    }

    function _expectRevealRevert(ISettlement.Verdict[] memory a, bytes memory err) internal {
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        _toRevealWindow(taskId);
        vm.prank(v[0]);
        vm.expectRevert(err);
        settlement.revealVerdict(taskId, a, _salt(v[0]));
    }

    function test_RevealVerdict_RevertsOnUncommittedMiner() public {
        _joinAndCommit(taskId, m[0]);
        vm.prank(m[1]);
        settlement.join(taskId, bytes32(0));
        _expectRevealRevert(
            _one(_verdict(m[1], true, 1)),
            abi.encodeWithSelector(ISettlement.MinerNotCommitted.selector, m[1])
        );
    }

    function test_RevealVerdict_RevertsOnDuplicateMiner() public {
        _allCommit();
        _expectRevealRevert(
            _two(_verdict(m[0], true, 1), _verdict(m[0], false, 0)),
            abi.encodeWithSelector(ISettlement.DuplicateVerdict.selector, m[0])
        );
    }

    function test_RevealVerdict_RevertsOnScoreAboveOne() public {
        _allCommit();
        _expectRevealRevert(
            _one(_verdict(m[0], true, 1_000_001)),
            abi.encodeWithSelector(ISettlement.ScoreOutOfRange.selector, 1_000_001)
        );
    }

    /// Adversarial: a miner that also stakes as validator cannot vote on itself.
    function test_RevealVerdict_RevertsOnSelfVerdict() public {
        _stake(m[0], VALIDATOR, MIN_VALIDATOR);
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1e6));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, m[0], a);
        _toRevealWindow(taskId);
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.SelfVerdict.selector, m[0]));
        settlement.revealVerdict(taskId, a, _salt(m[0]));
    }

    function test_RevealVerdict_RevertsWhenTheValidatorUnstakedSinceCommitting() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[2], a);
        vm.prank(v[2]);
        stakes.requestUnstake(VALIDATOR, 1);
        _toRevealWindow(taskId);
        vm.prank(v[2]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NotStaked.selector, v[2], VALIDATOR));
        settlement.revealVerdict(taskId, a, _salt(v[2]));
    }

    /// Verdict commitments are accepted exactly in (commitDeadline, verdictDeadline] and reveals exactly in
    /// (verdictDeadline, verifyDeadline].
    function testFuzz_VerdictWindows(uint256 commitAt, uint256 revealAt) public {
        _allCommit();
        ITaskBoard.Task memory t = _task(taskId);
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        bytes32 h = keccak256(abi.encode(taskId, v[0], a, _salt(v[0])));
        commitAt = bound(commitAt, t.params.joinDeadline + 1, t.params.verifyDeadline + 5);
        vm.warp(commitAt);
        bool commitOk = commitAt > t.params.commitDeadline && commitAt <= t.params.verdictDeadline;
        if (!commitOk) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISettlement.OutsideWindow.selector,
                    commitAt,
                    t.params.commitDeadline,
                    t.params.verdictDeadline
                )
            );
        }
        vm.prank(v[0]);
        settlement.commitVerdict(taskId, h);
        if (!commitOk) return;

        revealAt = bound(revealAt, commitAt, t.params.verifyDeadline + 5);
        vm.warp(revealAt);
        bool revealOk = revealAt > t.params.verdictDeadline && revealAt <= t.params.verifyDeadline;
        if (!revealOk) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    ISettlement.OutsideWindow.selector,
                    revealAt,
                    t.params.verdictDeadline,
                    t.params.verifyDeadline
                )
            );
        }
        _reveal(taskId, v[0], a);
        assertTrue(_vstate(v[0]).revealed == revealOk, "revealed iff inside the window");
    }

    /// Adversarial: a bribed validator watches the honest reveals, then tops up its stake before revealing
    /// to outweigh them; its weight stays at what it had staked when it committed.
    function test_RevealVerdict_TopUpAfterCommitDoesNotAddWeight() public {
        _allCommit();
        ISettlement.Verdict[] memory honest = _one(_verdict(m[1], false, 0));
        ISettlement.Verdict[] memory bribed = _one(_verdict(m[1], true, 1e6));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], honest);
        _commitVerdict(taskId, v[2], bribed);
        _toRevealWindow(taskId);
        _reveal(taskId, v[0], honest);
        _stake(v[2], VALIDATOR, 1000e18);
        _reveal(taskId, v[2], bribed);
        assertEq(_vstate(v[2]).weight, 100e18, "weight capped at the commit-time stake");
        assertEq(_state(m[1]).passStake, 100e18, "bribed pass counts 100");
        _toFinalize(taskId);
        settlement.finalize(taskId);
        assertEq(uint256(_state(m[1]).outcome), uint256(ISettlement.Outcome.FAILED), "honest majority holds");
    }

    function test_RevealVerdict_WeightDropsWithStakeUnstakedSinceCommit() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1));
        _toVerdictWindow(taskId);
        _commitVerdict(taskId, v[0], a);
        vm.prank(v[0]);
        stakes.requestUnstake(VALIDATOR, 50e18);
        _toRevealWindow(taskId);
        _reveal(taskId, v[0], a);
        assertEq(_vstate(v[0]).weight, 150e18, "weight is the lower stake at reveal");
    }

    // ---------------------------------------------------------------- finalize

    function test_Finalize_PaysPassedMinersProRataAndAgreeingValidators() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _verdicts3(true, 1_000_000, true, 500_000, true, 0);
        uint256 before = token.balanceOf(address(settlement));
        _settle(a, a, a);

        uint256 minerPool = REWARD * (10_000 - FEE_BPS) / 10_000;
        uint256 validatorPool = REWARD - minerPool;
        assertEq(settlement.claimable(m[0]), minerPool * 2 / 3, "score 1.0 of 1.5");
        assertEq(settlement.claimable(m[1]), minerPool / 3, "score 0.5 of 1.5");
        assertEq(settlement.claimable(m[2]), 0, "score 0 earns nothing");
        assertEq(uint256(_state(m[2]).outcome), uint256(ISettlement.Outcome.PASSED), "but passes");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(settlement.claimable(v[i]), validatorPool / 3, "equal verdict counts, equal shares");
            assertTrue(_vstate(v[i]).agreed, "agreed");
            assertEq(_state(m[i]).slashed, 0, "nobody slashed");
        }
        assertEq(_sumClaimable(), REWARD, "escrow fully credited, dust to the proposer");
        assertEq(token.balanceOf(address(settlement)) - before, REWARD, "escrow pulled in");
        assertEq(board.escrowOf(taskId), 0, "board emptied");
        ISettlement.TaskSettlement memory ts = settlement.taskSettlement(taskId);
        assertTrue(ts.finalized, "finalized");
        assertEq(ts.refund, settlement.claimable(proposer), "refund recorded");
        assertEq(uint256(board.taskStatus(taskId)), uint256(ITaskBoard.TaskStatus.FINALIZED), "board status");
    }

    /// Adversarial: one cheating miner is failed by the stake majority and slashed; the dissenting
    /// validator loses its fee share; the honest miners are untouched.
    function test_Finalize_SlashesAFailedMinerAndSkipsDissentingValidators() public {
        _allCommit();
        ISettlement.Verdict[] memory honest = _verdicts3(true, 1e6, false, 0, true, 1e6);
        ISettlement.Verdict[] memory bribed = _verdicts3(true, 1e6, true, 1e6, true, 1e6);
        _settle(honest, honest, bribed);

        uint256 slashed = MIN_MINER * SLASH_BPS / 10_000;
        assertEq(uint256(_state(m[1]).outcome), uint256(ISettlement.Outcome.FAILED), "cheater failed");
        assertEq(_state(m[1]).slashed, slashed, "slashed half");
        assertEq(stakes.activeStake(m[1], MINER), MIN_MINER - slashed, "stake reduced");
        assertEq(settlement.claimable(m[1]), 0, "cheater not paid");
        uint256 minerPool = REWARD * (10_000 - FEE_BPS) / 10_000;
        assertEq(settlement.claimable(m[0]), minerPool / 2, "honest miner half");
        assertEq(settlement.claimable(m[2]), minerPool / 2, "honest miner half");
        assertEq(stakes.activeStake(m[0], MINER), MIN_MINER, "honest stake intact");
        uint256 validatorPool = REWARD - minerPool + slashed;
        assertEq(settlement.claimable(v[0]), validatorPool / 2, "agreeing validator");
        assertEq(settlement.claimable(v[1]), validatorPool / 2, "agreeing validator");
        assertEq(settlement.claimable(v[2]), 0, "dissenting validator gets nothing");
        assertTrue(!_vstate(v[2]).agreed, "marked");
        assertEq(_sumClaimable(), REWARD + slashed, "escrow + slash credited");
    }

    function test_Finalize_HeavierStakeWinsAndTiesFail() public {
        _allCommit();
        // m0: 200 pass vs 150 + 100 fail -> FAILED. m1: 200 + 100 pass vs 150 fail -> PASSED.
        // m2: v0 alone passes with 200 vs v1 + v2 ... set so that 150 + ... tie is tested below.
        _settle(
            _verdicts3(true, 1e6, true, 1e6, false, 0),
            _verdicts3(false, 0, false, 0, false, 0),
            _two(_verdict(m[0], false, 0), _verdict(m[1], true, 1e6))
        );
        assertEq(
            uint256(_state(m[0]).outcome), uint256(ISettlement.Outcome.FAILED), "250 fail beats 200 pass"
        );
        assertEq(
            uint256(_state(m[1]).outcome), uint256(ISettlement.Outcome.PASSED), "300 pass beats 150 fail"
        );
        assertEq(uint256(_state(m[2]).outcome), uint256(ISettlement.Outcome.FAILED), "only fails");
    }

    function test_Finalize_TieFails() public {
        _stake(v[2], VALIDATOR, 50e18); // v1 and v2 both weigh 150
        _allCommit();
        _settle(new ISettlement.Verdict[](0), _one(_verdict(m[0], true, 1e6)), _one(_verdict(m[0], false, 0)));
        assertEq(uint256(_state(m[0]).outcome), uint256(ISettlement.Outcome.FAILED), "tie fails");
    }

    function test_Finalize_VerifiedScoreIsTheStakeWeightedMean() public {
        _allCommit();
        _settle(
            _one(_verdict(m[0], true, 1_000_000)),
            _one(_verdict(m[0], true, 200_000)),
            _one(_verdict(m[0], false, 999))
        );
        // (200 * 1.0 + 150 * 0.2) / 350 = 0.657142; the fail verdict's score is ignored.
        assertEq(_state(m[0]).score, 657_142, "weighted mean of passing verdicts");
        assertEq(_state(m[0]).passStake, 350e18, "pass stake");
        assertEq(_state(m[0]).failStake, 100e18, "fail stake");
    }

    function test_Finalize_UnauditedAndNoCommitAreNeitherPaidNorSlashed() public {
        _joinAndCommit(taskId, m[0]);
        _joinAndCommit(taskId, m[1]);
        vm.prank(m[2]);
        settlement.join(taskId, bytes32(0));
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1e6));
        _settle(a, a, a);
        assertEq(uint256(_state(m[1]).outcome), uint256(ISettlement.Outcome.UNAUDITED), "unaudited");
        assertEq(uint256(_state(m[2]).outcome), uint256(ISettlement.Outcome.NO_COMMIT), "no commit");
        for (uint256 i = 1; i < 3; ++i) {
            assertEq(settlement.claimable(m[i]), 0, "not paid");
            assertEq(stakes.activeStake(m[i], MINER), MIN_MINER, "not slashed");
        }
        assertEq(
            settlement.claimable(m[0]),
            REWARD * (10_000 - FEE_BPS) / 10_000,
            "the audited miner takes the pool"
        );
    }

    function test_Finalize_WithoutRevealsRefundsTheProposer() public {
        _allCommit();
        _toFinalize(taskId);
        vm.expectEmit(true, true, false, true, address(settlement));
        emit TaskFinalized(taskId, proposer, REWARD * 9 / 10, REWARD / 10, REWARD);
        settlement.finalize(taskId);
        assertEq(settlement.claimable(proposer), REWARD, "full refund");
        for (uint256 i = 0; i < 3; ++i) {
            assertEq(uint256(_state(m[i]).outcome), uint256(ISettlement.Outcome.UNAUDITED), "unaudited");
        }
    }

    function test_Finalize_ValidatorsSharePoolProRataToVerdicts() public {
        _allCommit();
        _settle(
            _verdicts3(true, 1e6, true, 1e6, true, 1e6),
            _one(_verdict(m[0], true, 1e6)),
            new ISettlement.Verdict[](0)
        );
        uint256 validatorPool = REWARD * FEE_BPS / 10_000;
        assertEq(settlement.claimable(v[0]), validatorPool * 3 / 4, "3 of 4 verdicts");
        assertEq(settlement.claimable(v[1]), validatorPool / 4, "1 of 4 verdicts");
        // Adversarial: a free rider that reveals an empty list earns nothing although it "agrees".
        assertEq(settlement.claimable(v[2]), 0, "empty reveal earns nothing");
    }

    /// Adversarial: a cheater that requests unstake right after committing is still slashed from its
    /// cooling stake, because the cooldown outlasts the task.
    function test_Finalize_SlashesCoolingStakeOfAnEscapingCheater() public {
        _allCommit();
        vm.prank(m[1]);
        stakes.requestUnstake(MINER, MIN_MINER);
        ISettlement.Verdict[] memory a = _verdicts3(true, 1e6, false, 0, true, 1e6);
        _settle(a, a, a);
        assertEq(stakes.coolingStake(m[1], MINER), MIN_MINER / 2, "half of the cooling stake slashed");
        vm.warp(block.timestamp + COOLDOWN);
        vm.prank(m[1]);
        assertEq(stakes.withdraw(MINER), MIN_MINER / 2, "only the rest leaves");
    }

    function test_Finalize_RevertsBeforeTheVerifyDeadline() public {
        ITaskBoard.Task memory t = _task(taskId);
        _recordRound(t.challengeRound);
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
    }

    function test_Finalize_RevertsUntilTheChallengeBeaconIsRecorded() public {
        ITaskBoard.Task memory t = _task(taskId);
        vm.warp(t.params.verifyDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeBeaconMissing.selector, t.challengeRound));
        settlement.finalize(taskId);
        // A neighbouring round does not count.
        _recordRound(t.challengeRound + 1);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeBeaconMissing.selector, t.challengeRound));
        settlement.finalize(taskId);
        _recordRound(t.challengeRound);
        settlement.finalize(taskId);
        assertTrue(settlement.taskSettlement(taskId).finalized, "finalized once recorded");
    }

    function test_Finalize_RevertsTwiceAndOnCancelledOrUnknownTasks() public {
        _toFinalize(taskId);
        settlement.finalize(taskId);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.AlreadyFinalized.selector, taskId));
        settlement.finalize(taskId);
        assertEq(settlement.claimable(proposer), REWARD, "refunded once");

        uint256 other = _postDefault();
        vm.prank(proposer);
        board.cancelTask(other);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.TaskNotOpen.selector, other));
        settlement.finalize(other);
        vm.expectRevert(abi.encodeWithSelector(ITaskBoard.UnknownTask.selector, 99));
        settlement.finalize(99);
    }

    /// Every credit split adds up to escrow + slashed stake, and passed miners get exactly their share.
    function testFuzz_Finalize_ConservesTokens(uint64 s0, uint64 s1, uint64 s2, uint8 fails, uint256 reward)
        public
    {
        reward = bound(reward, 1, 1e27);
        uint256 id = _post(_params(reward));
        taskId = id;
        s0 = uint64(bound(s0, 0, 1e6));
        s1 = uint64(bound(s1, 0, 1e6));
        s2 = uint64(bound(s2, 0, 1e6));
        _allCommit();
        ISettlement.Verdict[] memory a =
            _verdicts3(fails & 1 == 0, s0, fails & 2 == 0, s1, fails & 4 == 0, s2);
        _settle(a, a, a);
        ISettlement.TaskSettlement memory ts = settlement.taskSettlement(id);
        // The setUp task is still open, so every credit comes from this task.
        assertEq(_sumClaimable(), reward + ts.slashed, "credited == escrow + slashed");
        uint256 sum;
        uint64[3] memory scores = [s0, s1, s2];
        for (uint256 i = 0; i < 3; ++i) {
            if ((fails >> i) & 1 == 0) sum += scores[i];
        }
        for (uint256 i = 0; i < 3; ++i) {
            bool passed = (fails >> i) & 1 == 0;
            uint256 want = passed && sum != 0 ? ts.minerPool * scores[i] / sum : 0;
            assertEq(settlement.claimable(m[i]), want, "pro rata share");
            assertEq(_state(m[i]).slashed, passed ? 0 : MIN_MINER * SLASH_BPS / 10_000, "slash iff failed");
        }
    }

    // ------------------------------------------------------------------- claim

    function test_Claim_PaysOnceThenReverts() public {
        _allCommit();
        ISettlement.Verdict[] memory a = _verdicts3(true, 1e6, true, 1e6, true, 1e6);
        _settle(a, a, a);
        uint256 owed = settlement.claimable(m[0]);
        vm.expectEmit(true, false, false, true, address(settlement));
        emit Claimed(m[0], owed);
        vm.prank(m[0]);
        assertEq(settlement.claim(), owed, "returned");
        assertEq(token.balanceOf(m[0]), owed, "paid");
        assertEq(settlement.claimable(m[0]), 0, "cleared");
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NothingToClaim.selector, m[0]));
        settlement.claim();
        assertEq(token.balanceOf(m[0]), owed, "not paid twice");
    }

    function test_Claim_RevertsWithNothingCredited() public {
        vm.prank(m[0]);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.NothingToClaim.selector, m[0]));
        settlement.claim();
    }

    // -------------------------------------------------------------- verifyLeaf

    /// The leaves and tree of four rollouts of miner 0x111 in task 1, built by verifier/commitments.py
    /// (OZ standard tree), verify on chain.
    function test_VerifyLeaf_AcceptsTheOpenZeppelinStandardTreeOfThePythonSide() public {
        address miner = address(0x111);
        _stake(miner, MINER, MIN_MINER);
        vm.prank(miner);
        settlement.join(1, bytes32(0));
        bytes32 root = 0xc80757dff9ca6cf47e75d7ae640d588793c4b772523b7869932ec69494545c73;
        vm.prank(miner);
        settlement.commit(1, root, 4);

        bytes32 leaf0 = keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        uint256(1),
                        miner,
                        uint32(0),
                        uint32(0),
                        bytes32(uint256(1)),
                        bytes32(uint256(100)),
                        uint64(0)
                    )
                )
            )
        );
        assertEq(leaf0, 0x6bb46b0a475d51fa1c8116f1daa620253f9c24e64988cb93c875c766ec360447, "leaf encoding");
        bytes32[] memory proof = new bytes32[](2);
        proof[0] = 0xf97a88ee73f7059f9873151d07b04fbb064c65dba8a244c56dbec373f1ed933a;
        proof[1] = 0x7bec832f1419c2493f40f4ed34f0362aaff89db98063c7b5729dc1349a521894;
        assertTrue(settlement.verifyLeaf(1, miner, proof, leaf0), "valid proof");
        // Adversarial: a rollout with a different claimed reward is not in the tree.
        bytes32 forged = keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        uint256(1),
                        miner,
                        uint32(0),
                        uint32(0),
                        bytes32(uint256(1)),
                        bytes32(uint256(100)),
                        uint64(1e6)
                    )
                )
            )
        );
        assertTrue(!settlement.verifyLeaf(1, miner, proof, forged), "forged leaf rejected");
        assertTrue(!settlement.verifyLeaf(1, m[0], proof, leaf0), "other miner's root");
    }

    // ---------------------------------------------------- real quicknet beacon

    /// finalize accepts the challenge beacon of drand's mainnet quicknet chain (rounds 2 and 3).
    function test_Finalize_WithTheRealQuicknetBeacon() public {
        string memory q = vm.readFile("contracts/test/fixtures/drand_quicknet.json");
        string memory e = vm.readFile("contracts/test/fixtures/drand_quicknet_eip2537.json");
        uint64 qGenesis = uint64(vm.parseJsonUint(q, ".chains.quicknet.genesis_time"));
        DrandBeacon quicknet = new DrandBeacon(vm.parseJsonBytes(e, ".public_keys.quicknet"), qGenesis, 3);
        _deploy(quicknet);
        _stake(m[0], MINER, MIN_MINER);
        _stake(v[0], VALIDATOR, MIN_VALIDATOR);

        // Post before genesis-era round 2 so the challenge round is 3: commitDeadline in round 2.
        vm.warp(qGenesis - 10);
        ITaskBoard.TaskParams memory p = _params(REWARD);
        p.joinDeadline = qGenesis;
        p.commitDeadline = qGenesis + 3;
        p.verdictDeadline = qGenesis + 10;
        p.verifyDeadline = qGenesis + 20;
        uint256 id = _post(p);
        assertEq(_task(id).challengeRound, 3, "challenge round 3");
        assertEq(_task(id).seedRound, 2, "seed round 2");
        _joinAndCommit(id, m[0]);
        ISettlement.Verdict[] memory a = _one(_verdict(m[0], true, 1e6));
        vm.warp(p.commitDeadline + 1);
        _commitVerdict(id, v[0], a);
        vm.warp(p.verdictDeadline + 1);
        _reveal(id, v[0], a);
        vm.warp(p.verifyDeadline + 1);
        vm.expectRevert(abi.encodeWithSelector(ISettlement.ChallengeBeaconMissing.selector, 3));
        settlement.finalize(id);

        quicknet.recordBeacon(
            3,
            vm.parseJsonBytes(q, ".chains.quicknet.beacons[1].signature"),
            vm.parseJsonBytes(e, ".signature_points.quicknet_3")
        );
        assertEq(
            quicknet.randomness(3),
            bytes32(vm.parseJsonBytes(q, ".chains.quicknet.beacons[1].randomness")),
            "published randomness"
        );
        settlement.finalize(id);
        assertEq(settlement.claimable(m[0]), REWARD * 9 / 10, "paid");
        assertEq(settlement.claimable(v[0]), REWARD / 10, "fee");
    }
}
